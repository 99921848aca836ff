//! One call's task: it answers, then runs the call's flow (deposit, subscriber access, auto
//! attendant) and tells the core when the call is over. A deposit's media runs on a media
//! worker (`deposit_call.rs`); interactive calls keep their own timer (`interactive.rs`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{CoreCmd, Notify, Shared};
use crate::dialplan::MailboxEntry;
use crate::flows::deposit::DepositLimits;
use crate::media::g711::G711;
use crate::media::session::{Session, SessionParams};
use crate::sip::endpoint::CallId;

/// What the core tells a call.
#[derive(Debug)]
pub(super) enum CallSignal {
    Acked,
    Cancelled,
    Hangup,
    RemoteMedia(SocketAddr),
    /// News of a transfer (REFER) this call asked for.
    Transfer(TransferUpdate),
    /// News of the second leg of a bridged transfer.
    Bridge(BridgeUpdate),
}

/// How the second leg of a bridged transfer is doing.
#[derive(Debug)]
pub(super) enum BridgeUpdate {
    /// The target answered: relay media between the caller and `remote` through `socket`.
    Answered {
        leg: crate::sip::endpoint::CallId,
        socket: UdpSocket,
        remote: SocketAddr,
    },
    /// The target refused (status) or never answered (`None`).
    Failed(Option<u16>),
    /// The target hung up.
    Ended,
}

/// How a REFER is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TransferUpdate {
    /// The peer accepted the REFER (202); NOTIFYs follow.
    Accepted,
    /// The peer refused the REFER with this status, or never answered (`None`).
    Refused(Option<u16>),
    /// A NOTIFY: the status of the transfer's INVITE.
    Progress(u16),
}

/// The call flow to run once the call is up.
#[derive(Debug, Clone)]
pub(super) enum FlowSetup {
    /// Leave a message for this mailbox.
    Deposit {
        mailbox: MailboxEntry,
        limits: DepositLimits,
    },
    /// Subscriber access through a pilot of this plan; `known` is the caller's own mailbox
    /// when caller ID identifies one.
    Subscriber {
        plan: Box<crate::dialplan::DialPlan>,
        known: Option<MailboxEntry>,
        pilot_uri: String,
    },
    /// Auto attendant `index` of `plan`, reached through `pilot_uri`.
    Attendant {
        plan: Box<crate::dialplan::DialPlan>,
        index: usize,
        pilot_uri: String,
    },
}

pub(super) struct CallSetup {
    pub call: CallId,
    pub sip_call_id: String,
    /// The SIP peer the INVITE came from (the audit trail of log-ons names it).
    pub peer: SocketAddr,
    pub socket: UdpSocket,
    pub codec: G711,
    pub payload_type: u8,
    /// Packet time of the prompts we send (ms; the offer's `a=ptime`/`a=maxptime`, else 20).
    pub ptime_ms: u32,
    pub telephone_event: Option<u8>,
    pub remote_media: SocketAddr,
    pub answer_sdp: Vec<u8>,
    /// SDES keys when the call uses SRTP (VoIPSecurity Secured, Lync's default).
    pub srtp: Option<crate::sdp::SrtpKeys>,
    /// What the call is for.
    pub flow: FlowSetup,
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    pub answer_delay: Duration,
    pub silence_threshold_dbfs: f32,
    pub shared: Arc<Shared>,
    pub beep: Arc<[i16]>,
    pub commands: mpsc::Sender<CoreCmd>,
    pub signals: mpsc::Receiver<CallSignal>,
}

impl CallSetup {
    /// The media session of the call's negotiated stream, its packet clock starting at `now`.
    pub fn new_session(&self, now: Instant) -> Session {
        self.session_to(now, self.remote_media, true)
    }

    /// A session for the plain-RTP second leg of a bridged transfer, in the call's codec.
    pub fn leg_session(&self, now: Instant, remote: SocketAddr) -> Session {
        self.session_to(now, remote, false)
    }

    fn session_to(&self, now: Instant, remote: SocketAddr, srtp: bool) -> Session {
        let mut rng = rand::thread_rng();
        Session::new(
            now,
            SessionParams {
                codec: self.codec,
                payload_type: self.payload_type,
                telephone_event: self.telephone_event,
                ptime_ms: self.ptime_ms,
                remote,
                srtp: self
                    .srtp
                    .as_ref()
                    .filter(|_| srtp)
                    .map(|k| (k.inbound(), k.outbound())),
                silence_threshold_dbfs: self.silence_threshold_dbfs,
                ssrc: rng.gen(),
                sequence: rng.gen(),
                timestamp: rng.gen(),
            },
        )
    }
}

/// How long to wait for the ACK after answering before giving up locally (the endpoint's
/// Timer H ends the dialog at 64·T1 anyway).
const ACK_WAIT: Duration = Duration::from_secs(40);

pub(super) async fn run(mut s: CallSetup) {
    let (call, commands) = (s.call, s.commands.clone());
    match s.flow.clone() {
        FlowSetup::Deposit { mailbox, limits } => {
            // The spool entry first: a call that cannot be recorded (disk full) is refused
            // with 503 before it is answered, so the call server can try elsewhere, rather
            // than answered into "not saved" with its missed-call notice lost.
            match super::deposit_call::prepare(&s, &mailbox, &limits).await {
                Some(prepared) => {
                    if answer(&mut s).await {
                        let media = s.new_session(Instant::now());
                        super::deposit_call::run(s, &mailbox, limits, prepared, media).await;
                    } else {
                        prepared.discard().await;
                    }
                }
                None => {
                    let _ = commands.send(CoreCmd::Refuse(call, 503)).await;
                }
            }
        }
        FlowSetup::Subscriber {
            plan,
            known,
            pilot_uri,
        } => {
            if answer(&mut s).await {
                super::subscriber_call::run(&mut s, &plan, known, &pilot_uri).await;
            }
        }
        FlowSetup::Attendant {
            plan,
            index,
            pilot_uri,
        } => {
            if answer(&mut s).await {
                attendant(s, &plan, index, &pilot_uri).await;
            }
        }
    }
    let _ = commands.send(CoreCmd::Finished(call)).await;
}

/// An answered auto-attendant call, and where the caller goes from it.
async fn attendant(mut s: CallSetup, plan: &crate::dialplan::DialPlan, index: usize, pilot: &str) {
    use super::attendant_call::Outcome;
    match super::attendant_call::run(&mut s, plan, index, pilot).await {
        Some((Outcome::Deposit(mailbox), media)) => {
            info!(mailbox = %mailbox.id, "auto attendant hands the caller to voice mail");
            // The worker reads the socket from here on (the reactor lets it go); the session,
            // with its SRTP state and packet clock, goes on.
            let media = media.into_session();
            let limits = deposit_limits(plan);
            match super::deposit_call::prepare(&s, &mailbox, &limits).await {
                Some(prepared) => {
                    super::deposit_call::run(s, &mailbox, limits, prepared, media).await
                }
                None => {
                    // Answered already: nothing can be recorded; the caller is let go.
                    let _ = s.commands.send(CoreCmd::HangUp(s.call)).await;
                }
            }
        }
        Some((Outcome::Bridged(leg), media)) => super::interactive::relay(&mut s, media, leg).await,
        Some((Outcome::Over, _)) | None => {}
    }
}

/// The deposit limits a plan sets.
pub(super) fn deposit_limits(plan: &crate::dialplan::DialPlan) -> DepositLimits {
    DepositLimits {
        max_recording: plan.max_recording_duration,
        idle_timeout: plan.recording_idle_timeout,
        min_message: plan.minimum_message_duration,
        max_call: plan.max_call_duration,
    }
}

/// Rings (if configured), answers and waits for the ACK. False if the caller went away.
async fn answer(s: &mut CallSetup) -> bool {
    if !s.answer_delay.is_zero() {
        let _ = s.commands.send(CoreCmd::Ringing(s.call)).await;
        let ring = tokio::time::sleep(s.answer_delay);
        tokio::pin!(ring);
        loop {
            tokio::select! {
                _ = &mut ring => break,
                sig = s.signals.recv() => match sig {
                    Some(CallSignal::RemoteMedia(_)) => {}
                    Some(CallSignal::Cancelled | CallSignal::Hangup) | None => {
                        info!("caller cancelled before answer");
                        return false;
                    }
                    Some(CallSignal::Acked | CallSignal::Transfer(_) | CallSignal::Bridge(_)) => {}
                }
            }
        }
    }
    let _ = s
        .commands
        .send(CoreCmd::Answer(s.call, s.answer_sdp.clone()))
        .await;
    let wait = tokio::time::sleep(ACK_WAIT);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            _ = &mut wait => {
                warn!("no ACK: call abandoned");
                return false;
            }
            sig = s.signals.recv() => match sig {
                Some(CallSignal::Acked) => return true,
                Some(CallSignal::RemoteMedia(addr)) => s.remote_media = addr,
                Some(CallSignal::Transfer(_) | CallSignal::Bridge(_)) => {}
                Some(CallSignal::Cancelled | CallSignal::Hangup) | None => {
                    info!("caller left before ACK");
                    return false;
                }
            }
        }
    }
}

/// The address a mailbox is known by in messages and MWI.
pub(super) fn mailbox_address(m: &MailboxEntry) -> String {
    m.sip_address
        .clone()
        .or_else(|| m.e164.clone())
        .unwrap_or_else(|| m.extension.clone())
}

pub(super) async fn send_mwi(
    shared: &Shared,
    commands: &mpsc::Sender<CoreCmd>,
    target: &str,
    account: &str,
    counts: crate::store::Counts,
) {
    let dest = match shared.locator.locate(target).await {
        Ok(targets) => targets.into_iter().next(),
        Err(e) => {
            warn!(%target, error = %e, "cannot locate MWI target");
            None
        }
    };
    let Some(dest) = dest else { return };
    let body = crate::mwi::message_summary_body(account, counts);
    let _ = commands
        .send(CoreCmd::Notify(Notify {
            target_uri: target.to_owned(),
            dest: dest.addr,
            transport: dest.transport,
            account: account.to_owned(),
            body,
        }))
        .await;
}
