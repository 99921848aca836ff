//! An auto-attendant call: the media loop around `flows::attendant`. It renders the menus,
//! feeds the flow DTMF, and carries out transfers (REFER through the core) and hand-overs to
//! the deposit flow.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use super::call::{CallSetup, CallSignal, TransferUpdate};
use super::interactive::{Heard, Interactive};
use super::CoreCmd;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::attendant::{Attendant, AttendantLimits, Command, Input, Say};
use crate::media::speech;

/// How long a transfer the peer accepted may take before it counts as failed (the target's
/// phone rings out in about 30 s on Lync and most PBXs).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// What became of the call when the attendant's part ended.
pub(super) enum Outcome {
    /// Transferred, hung up or said goodbye: nothing more to do.
    Over,
    /// The caller chose (or a failed transfer fell back to) leaving a message here.
    Deposit(MailboxEntry),
}

/// Runs attendant `index` of `plan` on an answered call for `pilot_uri`.
pub(super) async fn run(
    s: &mut CallSetup,
    plan: &DialPlan,
    index: usize,
    pilot_uri: &str,
) -> Outcome {
    let Some(attendant) = plan.auto_attendants.get(index) else {
        return Outcome::Over;
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
    let started = Instant::now();
    let mut media = Interactive::new(s, started);
    let mut out = Vec::new();
    // The transfer in progress: its target and when it counts as failed.
    let mut transfer: Option<(String, Instant)> = None;
    let mut outcome = Outcome::Over;

    flow.handle(started, Input::Answered, &mut out);
    loop {
        for cmd in std::mem::take(&mut out) {
            match cmd {
                Command::Play(says) => {
                    if let Some(audio) = render(s, &says) {
                        media.player.enqueue(audio);
                    }
                }
                Command::StopPlayback => media.player.clear(),
                Command::LookupExtension(digits) => {
                    let found = plan.mailboxes.iter().any(|m| m.extension == digits);
                    info!(extension = %digits, found, "dial by extension");
                    flow.handle(Instant::now(), Input::Extension(found), &mut out);
                }
                Command::Transfer { target } => {
                    let refer_to = refer_target(plan, &target, pilot_uri);
                    info!(%target, %refer_to, "transferring the caller (REFER)");
                    let cmd = CoreCmd::Transfer {
                        call: s.call,
                        refer_to,
                        referred_by: pilot_uri.to_owned(),
                    };
                    let _ = s.commands.send(cmd).await;
                    transfer = Some((target, Instant::now() + TRANSFER_TIMEOUT));
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
        if flow.is_done() {
            break;
        }
        let flow_deadline = match (flow.poll_timeout(), &transfer) {
            (Some(a), Some((_, b))) => Some(a.min(*b)),
            (a, t) => a.or(t.as_ref().map(|(_, b)| *b)),
        };
        let next = media.next_wakeup(flow_deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                let now = Instant::now();
                if media.send_due(s, now).await {
                    flow.handle(now, Input::PlaybackDone, &mut out);
                }
                if let Some((target, deadline)) = &transfer {
                    if now >= *deadline {
                        warn!(%target, "transfer not completed in time");
                        let has_mailbox = plan.mailbox_for_target(target).is_some();
                        transfer = None;
                        flow.handle(now, Input::TransferFailed { has_mailbox }, &mut out);
                    }
                }
                flow.handle(now, Input::Tick, &mut out);
            }
            r = s.socket.recv_from(&mut media.rx_buf) => {
                let Ok((n, from)) = r else { continue };
                if let Heard::Digit(d) = media.heard(s, n, from) {
                    flow.handle(Instant::now(), Input::Dtmf(d), &mut out);
                }
            }
            sig = s.signals.recv() => match sig {
                Some(CallSignal::RemoteMedia(addr)) => s.remote_media = addr,
                Some(CallSignal::Acked) => {}
                Some(CallSignal::Transfer(update)) => {
                    let Some((target, _)) = &transfer else { continue };
                    match update {
                        TransferUpdate::Accepted | TransferUpdate::Progress(100..=199) => {}
                        TransferUpdate::Progress(200..=299) => {
                            info!(%target, "transfer completed");
                            transfer = None;
                            flow.handle(Instant::now(), Input::Transferred, &mut out);
                            // RFC 5589 §6: the transferor ends its dialog once told of success.
                            let _ = s.commands.send(CoreCmd::HangUp(s.call)).await;
                        }
                        TransferUpdate::Progress(code) | TransferUpdate::Refused(Some(code)) => {
                            let has_mailbox = plan.mailbox_for_target(target).is_some();
                            info!(%target, code, has_mailbox, "transfer failed");
                            transfer = None;
                            flow.handle(Instant::now(), Input::TransferFailed { has_mailbox }, &mut out);
                        }
                        TransferUpdate::Refused(None) => {
                            let has_mailbox = plan.mailbox_for_target(target).is_some();
                            info!(%target, has_mailbox, "transfer failed: REFER not answered");
                            transfer = None;
                            flow.handle(Instant::now(), Input::TransferFailed { has_mailbox }, &mut out);
                        }
                    }
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
    outcome
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

/// The URI a transfer to `target` goes to: a mailbox's SIP address (Lync users), else its
/// number or the number itself at the plan's domain (or the pilot's host), `user=phone`.
fn refer_target(plan: &DialPlan, target: &str, pilot_uri: &str) -> String {
    let host = plan
        .domain
        .clone()
        .unwrap_or_else(|| uri_host(pilot_uri).to_owned());
    if let Some(m) = plan.mailbox_for_target(target) {
        if let Some(sip) = &m.sip_address {
            return sip.clone();
        }
        let number = m.e164.as_deref().unwrap_or(&m.extension);
        return format!("sip:{number}@{host};user=phone");
    }
    let lower = target.to_ascii_lowercase();
    if ["sip:", "sips:", "tel:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return target.to_owned();
    }
    let number: String = target
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    format!("sip:{number}@{host};user=phone")
}

/// `host[:port]` of a `sip:user@host;params` URI (empty if there is none).
fn uri_host(uri: &str) -> &str {
    let after_user = uri
        .rsplit_once('@')
        .map_or_else(|| uri.split_once(':').map_or(uri, |(_, r)| r), |(_, r)| r);
    after_user
        .split([';', '>', '?'])
        .next()
        .unwrap_or(after_user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_targets() {
        let text = "Name = \"c\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n[[Mailbox]]\nId = \"bob\"\nExtension = \"1002\"\nE164 = \"+14255551002\"\n[[Mailbox]]\nId = \"carol\"\nExtension = \"1003\"\n";
        let plan = crate::dialplan::load_str(std::path::Path::new("p.toml"), text).unwrap();
        let pilot = "sip:5000@pbx.example.net:5060;user=phone";
        assert_eq!(refer_target(&plan, "1001", pilot), "sip:alice@contoso.com");
        assert_eq!(
            refer_target(&plan, "bob", pilot),
            "sip:+14255551002@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "1003", pilot),
            "sip:1003@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "+1 425 555 0199", pilot),
            "sip:+14255550199@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "sip:desk@elsewhere.net", pilot),
            "sip:desk@elsewhere.net"
        );
        assert_eq!(uri_host("sip:host.only"), "host.only");
    }
}
