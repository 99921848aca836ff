//! An auto-attendant call: the call's part around the sans-IO `flows::attendant`. It renders
//! the menus into the call's media session, feeds the flow DTMF, carries out transfers (REFER
//! through the core, a bridged leg when REFER is refused) and hands the caller to a deposit
//! on the same call (same media session) when a mailbox is chosen.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::{info, warn};

use super::transfer::{refer_target, PendingTransfer, TransferResult};
use super::{CallContext, CallRequest, Event, Io, Transition};
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::attendant::{Attendant, AttendantLimits, Command, Input, Say};
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
                if let Some(audio) = render(io.cx, self.language, &says) {
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
            Command::Transfer { target } => {
                let refer_to = refer_target(&self.plan, &target, &self.pilot_uri);
                self.transfer = Some(PendingTransfer::start(
                    now,
                    target,
                    refer_to,
                    &self.pilot_uri,
                    io.requests,
                ));
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

/// Audio for what the flow says; missing prompts are logged and skipped.
fn render(cx: &CallContext, language: Language, says: &[Say]) -> Option<Arc<[i16]>> {
    let mut names = Vec::new();
    for say in says {
        match say {
            Say::Prompt(p) => names.push(p.clone()),
            Say::Digits(d) => names.extend(speech::digits(d)),
        }
    }
    let prompts = cx.shared.prompts.voice(language);
    names.retain(|n| {
        let ok = prompts.get(n).is_some();
        if !ok {
            warn!(prompt = %n, "prompt missing: skipped");
        }
        ok
    });
    speech::render(&prompts, &names).ok()
}
