//! An auto-attendant call: the call's part around the sans-IO `flows::attendant`. It renders
//! the menus into the call's media session, feeds the flow DTMF, carries out transfers (REFER
//! through the core, a bridged leg when REFER is refused) and hands the caller to a deposit
//! on the same call (same media session) when a mailbox is chosen. Dial by name asks it
//! which users have a recorded name, and plays those recordings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::{info, warn};

use super::names::{self, RecordedNames};
use super::transfer::{PendingTransfer, TransferResult};
use super::{CallRequest, Event, Io, Transition};
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::attendant::{Attendant, AttendantLimits, Command, Input, Say};
use crate::flows::directory::{self, DirectorySettings};
use crate::gateway::jobs::JobResult;
use crate::media::session::MediaEvent;
use crate::media::speech::{self, Language};
use crate::sip::endpoint::CallId;

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
    /// Recorded names the directory's lists say.
    names: RecordedNames,
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
            plan.directory.clone(),
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
            names: RecordedNames::default(),
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
                let recorded = self.names.keep(found);
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
                let voice = io.cx.shared.prompts.voice(self.language);
                io.media
                    .play(self.names.render(&voice, &directory_says(says)));
            }
            Command::StopPlayback => io.media.stop_playback(),
            Command::LookupExtension(digits) => {
                let found = self.plan.mailboxes.iter().any(|m| m.extension == digits);
                info!(extension = %digits, found, "dial by extension");
                self.flow
                    .handle(now, Input::Extension(found), &mut self.out);
            }
            Command::FindRecordedNames(ids) => io.jobs.push(names::find(&io.cx.shared, ids)),
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

/// What the attendant says, in the directory's terms (digits as their prompts).
fn directory_says(says: Vec<Say>) -> Vec<directory::Say> {
    let mut out = Vec::with_capacity(says.len());
    for say in says {
        match say {
            Say::Prompt(p) => out.push(directory::Say::Prompt(p)),
            Say::Digits(d) => {
                out.extend(speech::digits(&d).into_iter().map(directory::Say::Prompt))
            }
            Say::RecordedName(id) => out.push(directory::Say::RecordedName(id)),
        }
    }
    out
}
