//! An auto-attendant call: the call's part around the sans-IO `flows::attendant`. It renders
//! the menus into the call's media session, feeds the flow DTMF, carries out transfers (REFER
//! through the core, a bridged leg when REFER is refused) and hands the caller to a deposit
//! on the same call (same media session) when a mailbox is chosen. Dial by name asks it
//! which users have a recorded name, and plays those recordings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::{info, warn};

use super::transfer::{PendingTransfer, TransferResult};
use super::{CallContext, CallRequest, Event, Io, Transition};
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::attendant::{Attendant, AttendantLimits, Command, Input, Say};
use crate::flows::directory::{self, DirectorySettings};
use crate::gateway::jobs::{Job, JobResult};
use crate::gateway::Shared;
use crate::media::session::MediaEvent;
use crate::media::speech::{self, Language};
use crate::sip::endpoint::CallId;
use crate::store::{GreetingKind, MailboxId};

/// Where the caller goes when the attendant's part ends.
#[derive(Debug)]
enum Outcome {
    /// Transferred, hung up or said goodbye: nothing more to do.
    Over,
    /// The caller chose (or a failed transfer fell back to) leaving a message here.
    Deposit(MailboxEntry),
    /// The target answered a second leg we placed: relay media.
    Bridged(CallId, SocketAddr),
}

/// The auto-attendant part of a call.
#[derive(Debug)]
pub(crate) struct AttendantFlow {
    plan: Arc<DialPlan>,
    pilot_uri: String,
    flow: Attendant,
    out: Vec<Command>,
    transfer: Option<PendingTransfer>,
    outcome: Outcome,
    started: Instant,
    /// The attendant's `Language` (its own, else the plan's).
    language: Language,
    /// Recorded names the directory's lists say, by mailbox `Id`, as loaded by a job.
    names: HashMap<String, Arc<[i16]>>,
}

impl AttendantFlow {
    /// Attendant `index` of `plan`, answered at `now` through `pilot_uri`; `None` when the
    /// plan (reloaded since) no longer has it.
    pub fn start(
        io: &mut Io<'_>,
        now: Instant,
        plan: Arc<DialPlan>,
        index: usize,
        pilot_uri: String,
    ) -> Option<Self> {
        let attendant = plan.auto_attendants.get(index)?;
        let period = attendant.schedule.period(SystemTime::now());
        info!(attendant = %attendant.name, ?period, "auto attendant answered");
        let limits = AttendantLimits {
            input_failures: plan.input_failures_before_disconnect,
            ..AttendantLimits::default()
        };
        let flow = Attendant::new(
            attendant,
            period,
            plan.operator_extension.as_deref(),
            limits,
        )
        .with_directory(
            directory::listings(&plan),
            DirectorySettings::for_plan(&plan, limits.digit_timeout),
        );
        let language = attendant.language.language;
        let mut a = AttendantFlow {
            language,
            flow,
            plan,
            pilot_uri,
            out: Vec::new(),
            transfer: None,
            outcome: Outcome::Over,
            started: now,
            names: HashMap::new(),
        };
        a.flow.handle(now, Input::Answered, &mut a.out);
        a.execute(io, now);
        Some(a)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        PendingTransfer::earliest(self.flow.poll_timeout(), self.transfer.as_ref())
    }

    /// Feeds one event to the flow and carries out what it asks.
    pub fn handle(&mut self, io: &mut Io<'_>, now: Instant, event: Event) -> Transition {
        match event {
            Event::Media(MediaEvent::Digit(d)) => {
                self.flow.handle(now, Input::Dtmf(d), &mut self.out)
            }
            Event::Media(MediaEvent::PlaybackDone) => {
                self.flow.handle(now, Input::PlaybackDone, &mut self.out)
            }
            Event::Job(JobResult::RecordedNames(found)) => {
                let recorded = found.iter().map(|(_, name)| name.is_some()).collect();
                self.names
                    .extend(found.into_iter().filter_map(|(id, name)| Some((id, name?))));
                self.flow
                    .handle(now, Input::RecordedNames(recorded), &mut self.out);
            }
            Event::Media(_) | Event::Job(_) => {}
            Event::CallerGone => self.flow.handle(now, Input::CallerHungUp, &mut self.out),
            news @ (Event::Transfer(_) | Event::Bridge(_)) => {
                let codec = io.media.codec();
                let result =
                    PendingTransfer::news(&mut self.transfer, now, codec, news, io.requests);
                self.settle(io, now, result);
            }
            Event::Tick => {
                if let Some(t) = self.transfer.take_if(|t| t.expired(now)) {
                    let has_mailbox = self.plan.mailbox_for_target(&t.target).is_some();
                    self.flow
                        .handle(now, Input::TransferFailed { has_mailbox }, &mut self.out);
                }
                self.flow.handle(now, Input::Tick, &mut self.out);
            }
        }
        self.execute(io, now);
        if !self.flow.is_done() {
            return Transition::Stay;
        }
        info!(
            seconds = self.started.elapsed().as_secs_f32(),
            "auto attendant finished"
        );
        match std::mem::replace(&mut self.outcome, Outcome::Over) {
            Outcome::Over => Transition::Done,
            Outcome::Deposit(mailbox) => Transition::Deposit {
                mailbox,
                limits: crate::gateway::call::deposit_limits(&self.plan),
                plan: self.plan.clone(),
                called: self.pilot_uri.clone(),
            },
            Outcome::Bridged(leg, remote) => Transition::Bridge { leg, remote },
        }
    }

    fn execute(&mut self, io: &mut Io<'_>, now: Instant) {
        // A lookup answers at once and may ask for more: drain until nothing is left.
        while !self.out.is_empty() {
            for cmd in std::mem::take(&mut self.out) {
                self.command(io, now, cmd);
            }
        }
    }

    fn command(&mut self, io: &mut Io<'_>, now: Instant, cmd: Command) {
        match cmd {
            Command::Play(says) => {
                if let Some(audio) = render(io.cx, self.language, &self.names, &says) {
                    io.media.play(audio);
                }
            }
            Command::StopPlayback => io.media.stop_playback(),
            Command::LookupExtension(digits) => {
                let found = self.plan.mailboxes.iter().any(|m| m.extension == digits);
                info!(extension = %digits, found, "dial by extension");
                self.flow
                    .handle(now, Input::Extension(found), &mut self.out);
            }
            // Off the media path (the store may be a mail server); the answer comes back as
            // a job result, and the recordings stay for the list to play.
            Command::FindRecordedNames(ids) => {
                let shared = io.cx.shared.clone();
                io.jobs.push(Job::new(move || {
                    let found = ids
                        .into_iter()
                        .map(|id| {
                            let name = recorded_name(&shared, &id);
                            (id, name)
                        })
                        .collect();
                    JobResult::RecordedNames(found)
                }));
            }
            Command::Transfer { target } => {
                match PendingTransfer::place(now, &self.plan, target, &self.pilot_uri, io.requests)
                {
                    Ok(t) => self.transfer = Some(t),
                    Err(_) => self.flow.handle(now, Input::TransferRefused, &mut self.out),
                }
            }
            Command::Deposit { target } => match self.plan.mailbox_for_target(&target) {
                Some(m) => self.outcome = Outcome::Deposit(m.clone()),
                // `umgw check` refuses such plans; a reload race could still get here.
                None => warn!(%target, "attendant target is no longer a mailbox"),
            },
            Command::HangUp => io.requests.push(CallRequest::HangUp),
        }
    }

    /// Acts on the outcome of a transfer, if there is one yet.
    fn settle(&mut self, io: &mut Io<'_>, now: Instant, result: Option<TransferResult>) {
        let Some(result) = result else { return };
        let Some(t) = self.transfer.take() else {
            return;
        };
        match result {
            TransferResult::Done => {
                self.flow.handle(now, Input::Transferred, &mut self.out);
                // RFC 5589 §6: the transferor ends its dialog once told of success.
                io.requests.push(CallRequest::HangUp);
            }
            TransferResult::Bridged { leg, remote } => {
                self.flow.handle(now, Input::Transferred, &mut self.out);
                self.outcome = Outcome::Bridged(leg, remote);
            }
            TransferResult::Failed => {
                let has_mailbox = self.plan.mailbox_for_target(&t.target).is_some();
                self.flow
                    .handle(now, Input::TransferFailed { has_mailbox }, &mut self.out);
            }
        }
    }
}

/// Audio for what the flow says, in `language`; missing prompts are logged and skipped. A
/// recorded name that cannot be read is skipped too (the directory only offers those the
/// store has).
fn render(
    cx: &CallContext,
    language: Language,
    names_recorded: &HashMap<String, Arc<[i16]>>,
    says: &[Say],
) -> Option<Arc<[i16]>> {
    let prompts = cx.shared.prompts.voice(language);
    let mut audio: Vec<i16> = Vec::new();
    let mut names = Vec::new();
    // Prompts are joined by speech::render; a recording goes between two runs of them.
    let flush = |names: &mut Vec<String>, audio: &mut Vec<i16>| {
        names.retain(|n| {
            let ok = prompts.get(n).is_some();
            if !ok {
                warn!(prompt = %n, "prompt missing: skipped");
            }
            ok
        });
        if let Ok(run) = speech::render(&prompts, names) {
            append(audio, &run);
        }
        names.clear();
    };
    for say in says {
        match say {
            Say::Prompt(p) => names.push(p.clone()),
            Say::Digits(d) => names.extend(speech::digits(d)),
            Say::RecordedName(id) => {
                flush(&mut names, &mut audio);
                if let Some(name) = names_recorded.get(id) {
                    append(&mut audio, name);
                }
            }
        }
    }
    flush(&mut names, &mut audio);
    Some(Arc::from(audio))
}

/// The recorded name (`GreetingKind::Name`) of mailbox `id`, if it has a usable one. Blocking
/// (the store): run it in a job.
pub(crate) fn recorded_name(shared: &Shared, id: &str) -> Option<Arc<[i16]>> {
    let mailbox = MailboxId::new(id).ok()?;
    let path = shared.store.greeting(&mailbox, GreetingKind::Name).ok()??;
    match crate::media::prompts::load(&path) {
        Ok(samples) if !samples.is_empty() => Some(Arc::from(samples)),
        Ok(_) => None,
        Err(e) => {
            warn!(error = %e, mailbox = %id, "recorded name unusable; spelled instead");
            None
        }
    }
}

/// `more` after `audio`, with the gap speech::render leaves between prompts.
fn append(audio: &mut Vec<i16>, more: &[i16]) {
    if more.is_empty() {
        return;
    }
    if !audio.is_empty() {
        audio.resize(audio.len() + speech::GAP, 0);
    }
    audio.extend_from_slice(more);
}
