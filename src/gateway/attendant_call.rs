//! An auto-attendant call: the media loop around `flows::attendant`. It renders the menus,
//! feeds the flow DTMF, and carries out transfers (REFER through the core) and hand-overs to
//! the deposit flow.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::{error, info, warn};

use super::call::{CallSetup, CallSignal};
use super::interactive::{refer_target, BridgeLeg, Interactive, PendingTransfer, TransferResult};
use super::CoreCmd;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::attendant::{Attendant, AttendantLimits, Command, Input, Say};
use crate::media::session::MediaEvent;
use crate::media::speech;

/// What became of the call when the attendant's part ended.
pub(super) enum Outcome {
    /// Transferred, hung up or said goodbye: nothing more to do.
    Over,
    /// The caller chose (or a failed transfer fell back to) leaving a message here.
    Deposit(MailboxEntry),
    /// The target answered a second leg we placed: relay media (the caller's media with it).
    Bridged(BridgeLeg),
}

/// Runs attendant `index` of `plan` on an answered call for `pilot_uri`; returns what became
/// of the call and its media (which a bridged transfer goes on using), or `None` when the
/// call's media could not be set up.
pub(super) async fn run(
    s: &mut CallSetup,
    plan: &DialPlan,
    index: usize,
    pilot_uri: &str,
) -> Option<(Outcome, Interactive)> {
    let started = Instant::now();
    let mut media = Interactive::new(s, s.new_session(started))
        .map_err(|e| error!(error = %e, "cannot set up the call's media"))
        .ok()?;
    let Some(attendant) = plan.auto_attendants.get(index) else {
        return Some((Outcome::Over, media));
    };
    let period = attendant.schedule.period(SystemTime::now());
    info!(attendant = %attendant.name, ?period, "auto attendant answered");
    let limits = AttendantLimits {
        input_failures: plan.input_failures_before_disconnect,
        ..AttendantLimits::default()
    };
    let mut flow = Attendant::new(
        attendant,
        period,
        plan.operator_extension.as_deref(),
        limits,
    );
    let mut out = Vec::new();
    let mut transfer: Option<PendingTransfer> = None;
    let mut outcome = Outcome::Over;

    flow.handle(started, Input::Answered, &mut out);
    loop {
        // A lookup answers at once and may ask for more: drain until nothing is left.
        while !out.is_empty() {
            for cmd in std::mem::take(&mut out) {
                match cmd {
                    Command::Play(says) => {
                        if let Some(audio) = render(s, &says) {
                            media.media.play(audio);
                        }
                    }
                    Command::StopPlayback => media.media.stop_playback(),
                    Command::LookupExtension(digits) => {
                        let found = plan.mailboxes.iter().any(|m| m.extension == digits);
                        info!(extension = %digits, found, "dial by extension");
                        flow.handle(Instant::now(), Input::Extension(found), &mut out);
                    }
                    Command::Transfer { target } => {
                        let refer_to = refer_target(plan, &target, pilot_uri);
                        transfer =
                            Some(PendingTransfer::start(s, target, refer_to, pilot_uri).await);
                    }
                    Command::Deposit { target } => match plan.mailbox_for_target(&target) {
                        Some(m) => outcome = Outcome::Deposit(m.clone()),
                        // `umgw check` refuses such plans; a reload race could still get here.
                        None => warn!(%target, "attendant target is no longer a mailbox"),
                    },
                    Command::HangUp => {
                        let _ = s.commands.send(CoreCmd::HangUp(s.call)).await;
                    }
                }
            }
        }
        if flow.is_done() {
            break;
        }
        let flow_deadline = match (flow.poll_timeout(), &transfer) {
            (Some(a), Some(t)) => Some(a.min(t.deadline())),
            (a, t) => a.or(t.as_ref().map(PendingTransfer::deadline)),
        };
        let next = media.next_wakeup(flow_deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                let now = Instant::now();
                media.send_due(now).await;
                heard(&mut media, &mut flow, &mut out);
                if let Some(t) = transfer.take_if(|t| t.expired(now)) {
                    let has_mailbox = plan.mailbox_for_target(&t.target).is_some();
                    flow.handle(now, Input::TransferFailed { has_mailbox }, &mut out);
                }
                flow.handle(now, Input::Tick, &mut out);
            }
            () = media.receive() => heard(&mut media, &mut flow, &mut out),
            sig = s.signals.recv() => match sig {
                Some(CallSignal::RemoteMedia(addr)) => media.remote_moved(s, addr),
                Some(CallSignal::Acked) => {}
                Some(CallSignal::Transfer(update)) => {
                    let Some(t) = transfer.as_mut() else { continue };
                    let result = t.update(s, update).await;
                    settle(s, plan, &mut transfer, result, &mut flow, &mut outcome, &mut out).await;
                }
                Some(CallSignal::Bridge(update)) => {
                    let Some(t) = transfer.as_mut() else { continue };
                    let result = t.bridge(update);
                    settle(s, plan, &mut transfer, result, &mut flow, &mut outcome, &mut out).await;
                }
                Some(CallSignal::Hangup | CallSignal::Cancelled) | None => {
                    flow.handle(Instant::now(), Input::CallerHungUp, &mut out);
                }
            },
        }
    }
    info!(
        seconds = started.elapsed().as_secs_f32(),
        "auto attendant finished"
    );
    Some((outcome, media))
}

/// Hands what the media reported to the flow: digits and the end of prompts.
fn heard(media: &mut Interactive, flow: &mut Attendant, out: &mut Vec<Command>) {
    while let Some(event) = media.poll_event() {
        match event {
            MediaEvent::Digit(d) => flow.handle(Instant::now(), Input::Dtmf(d), out),
            MediaEvent::PlaybackDone => flow.handle(Instant::now(), Input::PlaybackDone, out),
            MediaEvent::Audio { .. } | MediaEvent::RecordFailed => {}
        }
    }
}

/// Acts on the outcome of a transfer, if there is one yet.
async fn settle(
    s: &CallSetup,
    plan: &DialPlan,
    transfer: &mut Option<PendingTransfer>,
    result: Option<TransferResult>,
    flow: &mut Attendant,
    outcome: &mut Outcome,
    out: &mut Vec<Command>,
) {
    let Some(result) = result else { return };
    let Some(t) = transfer.take() else { return };
    let now = Instant::now();
    match result {
        TransferResult::Done => {
            flow.handle(now, Input::Transferred, out);
            // RFC 5589 §6: the transferor ends its dialog once told of success.
            let _ = s.commands.send(CoreCmd::HangUp(s.call)).await;
        }
        TransferResult::Bridged(leg) => {
            flow.handle(now, Input::Transferred, out);
            *outcome = Outcome::Bridged(leg);
        }
        TransferResult::Failed => {
            let has_mailbox = plan.mailbox_for_target(&t.target).is_some();
            flow.handle(now, Input::TransferFailed { has_mailbox }, out);
        }
    }
}

/// Audio for what the flow says; missing prompts are logged and skipped.
fn render(s: &CallSetup, says: &[Say]) -> Option<Arc<[i16]>> {
    let mut names = Vec::new();
    for say in says {
        match say {
            Say::Prompt(p) => names.push(p.clone()),
            Say::Digits(d) => names.extend(speech::digits(d)),
        }
    }
    let prompts = &s.shared.prompts;
    names.retain(|n| {
        let ok = prompts.get(n).is_some();
        if !ok {
            warn!(prompt = %n, "prompt missing: skipped");
        }
        ok
    });
    speech::render(prompts, &names).ok()
}
