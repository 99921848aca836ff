//! One call's shell: its RTP socket, the 20 ms prompt clock, the recorder, and the deposit flow.
//! It executes the flow's commands and feeds it media events; storage runs on the blocking pool.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::spool::{self, SpoolEntry, SpoolMeta};
use super::{CoreCmd, Notify, Shared};
use crate::dialplan::MailboxEntry;
use crate::flows::deposit::{Command, Deposit, DepositLimits, EndReason, Input, Prompt};
use crate::media::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::media::g711::G711;
use crate::media::jitter::JitterBuffer;
use crate::media::pacer::{RtpSender, PACKET_LEN};
use crate::media::player::Player;
use crate::media::recorder::Recorder;
use crate::media::rtp;
use crate::media::srtp::SrtpContext;
use crate::media::stats::{JitterEstimator, MediaStats};
use crate::media::udp_batch::{self, Batch};
use crate::media::vad::SilenceDetector;
use crate::media::{FRAME, FRAME_SAMPLES, SAMPLE_RATE};
use crate::sip::endpoint::CallId;
use crate::store::{GreetingKind, MailboxId, MessageKind, NewMessage};
use crate::telemetry;

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
    pub socket: UdpSocket,
    pub codec: G711,
    pub payload_type: u8,
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

/// How long to wait for the ACK after answering before giving up locally (the endpoint's
/// Timer H ends the dialog at 64·T1 anyway).
const ACK_WAIT: Duration = Duration::from_secs(40);

pub(super) async fn run(mut s: CallSetup) {
    let call = s.call;
    if answer(&mut s).await {
        match s.flow.clone() {
            FlowSetup::Deposit { mailbox, limits } => deposit(&mut s, &mailbox, limits).await,
            FlowSetup::Subscriber {
                plan,
                known,
                pilot_uri,
            } => super::subscriber_call::run(&mut s, &plan, known, &pilot_uri).await,
            FlowSetup::Attendant {
                plan,
                index,
                pilot_uri,
            } => {
                use super::attendant_call::Outcome;
                let (outcome, media) =
                    super::attendant_call::run(&mut s, &plan, index, &pilot_uri).await;
                match outcome {
                    Outcome::Deposit(mailbox) => {
                        info!(mailbox = %mailbox.id, "auto attendant hands the caller to voice mail");
                        deposit(&mut s, &mailbox, deposit_limits(&plan)).await;
                    }
                    Outcome::Bridged(leg) => super::interactive::relay(&mut s, media, leg).await,
                    Outcome::Over => {}
                }
            }
        }
    }
    let _ = s.commands.send(CoreCmd::Finished(call)).await;
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

/// Media state of the deposit.
struct Media {
    sender: RtpSender,
    player: Player,
    recorder: Option<Recorder>,
    /// The spool entry of the recording (metadata + WAV), once recording started.
    spool: Option<SpoolEntry>,
    recorded_samples: u64,
    dtmf: DtmfReceiver,
    vad: SilenceDetector,
    greeting: Arc<[i16]>,
    packets_in: u64,
    /// (inbound, outbound) SRTP contexts.
    srtp: Option<(SrtpContext, SrtpContext)>,
    srtp_failures: u64,
    /// Puts the caller's packets back in order before they reach DTMF and the recorder.
    reorder: JitterBuffer,
    /// RFC 3550 §6.4.1 interarrival jitter of the caller's audio.
    jitter: JitterEstimator,
    clock_origin: Instant,
}

impl Media {
    fn stats(&self) -> MediaStats {
        MediaStats::from_parts(self.reorder.counts(), &self.jitter)
    }
}

async fn deposit(s: &mut CallSetup, mailbox: &MailboxEntry, limits: DepositLimits) {
    let started = Instant::now();
    let ctx = DepositCtx {
        mailbox,
        limits,
        received: SystemTime::now(),
    };
    let (ssrc, seq, ts) = {
        let mut rng = rand::thread_rng();
        (rng.gen(), rng.gen(), rng.gen())
    };
    // The shared clock paces the prompt and collects received packets once per 20 ms; the
    // sender's slots start on a tick, so each tick serves exactly one.
    let mut tick = super::media_clock::subscribe();
    let first_slot = *tick.borrow() + FRAME;
    let mut media = Media {
        sender: RtpSender::new(first_slot, s.codec, ssrc, seq, ts),
        player: Player::new(),
        recorder: None,
        spool: None,
        recorded_samples: 0,
        dtmf: DtmfReceiver::new(),
        vad: SilenceDetector::new(s.silence_threshold_dbfs),
        greeting: greeting(s, mailbox).await,
        packets_in: 0,
        srtp: s.srtp.as_ref().map(|k| (k.inbound(), k.outbound())),
        srtp_failures: 0,
        reorder: JitterBuffer::default(),
        jitter: JitterEstimator::default(),
        clock_origin: started,
    };
    let mut flow = Deposit::new(limits);
    let mut out = Vec::new();
    let mut store_done: Option<oneshot::Receiver<bool>> = None;
    // Room for the SRTP authentication tag after the RTP packet.
    let mut tx_buf = [0u8; PACKET_LEN + 16];
    // Received packets wait in the socket until the tick, then come in one recvmmsg.
    let mut rx = Batch::new(RX_BATCH, 1500);
    udp_batch::configure(s.socket.as_raw_fd(), 0);
    let mut caller_gone = false;

    if mailbox_full(s, mailbox).await {
        flow.set_mailbox_full();
    }
    flow.handle(Instant::now(), Input::Answered, &mut out);
    execute(s, &mut media, &mut flow, &mut out, &mut store_done, &ctx).await;

    while !flow.is_done() {
        let store_wait = async {
            match store_done.as_mut() {
                Some(rx) => rx.await.unwrap_or(false),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = tick.changed() => {
                if changed.is_err() {
                    error!("media clock stopped");
                    break;
                }
                let now = *tick.borrow_and_update();
                let was_playing = media.player.is_playing();
                while let Some(mut n) = media.sender.poll_transmit(now, &mut media.player, &mut tx_buf) {
                    if let Some((_, outbound)) = media.srtp.as_mut() {
                        match outbound.protect(&mut tx_buf, n) {
                            Ok(len) => n = len,
                            Err(e) => {
                                error!(error = ?e, "SRTP protect failed");
                                continue;
                            }
                        }
                    }
                    // A full send buffer drops this packet rather than delay every later one.
                    if let Err(e) = s.socket.try_send_to(&tx_buf[..n], s.remote_media) {
                        debug!(error = %e, "RTP send failed");
                    }
                }
                // Sending first: the prompt's timing does not wait for the recording's writes.
                receive(s, &mut media, &mut flow, &mut rx, &mut out);
                if was_playing && !media.player.is_playing() {
                    flow.handle(now, Input::PlaybackDone, &mut out);
                }
                flow.handle(now, Input::Tick, &mut out);
            }
            sig = s.signals.recv(), if !caller_gone => match sig {
                Some(CallSignal::RemoteMedia(addr)) => s.remote_media = addr,
                Some(CallSignal::Acked | CallSignal::Transfer(_) | CallSignal::Bridge(_)) => {}
                Some(CallSignal::Hangup | CallSignal::Cancelled) | None => {
                    caller_gone = true;
                    flow.handle(Instant::now(), Input::CallerHungUp, &mut out);
                }
            },
            ok = store_wait => {
                store_done = None;
                flow.handle(Instant::now(), Input::Stored { ok }, &mut out);
            }
        }
        execute(s, &mut media, &mut flow, &mut out, &mut store_done, &ctx).await;
    }
    let stats = media.stats();
    let outcome = match (flow.kind(), flow.end_reason()) {
        (_, Some(EndReason::StorageError)) => "failed",
        (_, Some(EndReason::MailboxFull)) => "mailbox_full",
        (Some(MessageKind::VoiceMail), _) => "voicemail",
        (Some(MessageKind::MissedCall), _) => "missed_call",
        (None, _) => "failed",
    };
    metrics::counter!(telemetry::CALLS_TOTAL, "outcome" => outcome).increment(1);
    metrics::counter!(telemetry::RTP_RECEIVED).increment(media.packets_in);
    metrics::counter!(telemetry::RTP_SENT).increment(media.sender.packets_sent());
    metrics::counter!(telemetry::RTP_LOST).increment(stats.lost);
    metrics::histogram!(telemetry::RTP_JITTER).record(stats.jitter_ms);
    info!(
        reason = ?flow.end_reason(),
        kind = ?flow.kind(),
        media = %stats,
        packets_in = media.packets_in,
        packets_out = media.sender.packets_sent(),
        skipped_slots = media.sender.skipped_slots(),
        srtp_failures = media.srtp_failures,
        seconds = started.elapsed().as_secs_f32(),
        "call ended"
    );
}

/// Datagrams read per recvmmsg: one tick normally brings one packet per call.
const RX_BATCH: usize = 4;

/// Drains the packets that arrived since the last tick (they waited in the socket buffer).
fn receive(
    s: &CallSetup,
    media: &mut Media,
    flow: &mut Deposit,
    rx: &mut Batch,
    out: &mut Vec<Command>,
) {
    let fd = s.socket.as_raw_fd();
    let (now, wall) = (Instant::now(), SystemTime::now());
    loop {
        let n = rx.recv(fd);
        for i in 0..n {
            let from = rx.source(i);
            let arrival = rx.arrival(i, now, wall);
            let bytes = rx.datagram(i);
            let mut len = bytes.len();
            if let Some((inbound, _)) = media.srtp.as_mut() {
                match inbound.unprotect(bytes) {
                    Ok(l) => len = l,
                    Err(_) => {
                        // Forged, replayed or garbled: dropped, counted at call end.
                        media.srtp_failures += 1;
                        continue;
                    }
                }
            }
            on_packet(s, media, flow, &bytes[..len], from, arrival, out);
        }
        if n < rx.capacity() {
            break;
        }
    }
}

fn on_packet(
    s: &CallSetup,
    media: &mut Media,
    flow: &mut Deposit,
    bytes: &[u8],
    from: SocketAddr,
    arrival: Instant,
    out: &mut Vec<Command>,
) {
    // Only the peer's media address may feed the recording (its port may differ: symmetric
    // RTP is not assumed).
    if from.ip() != s.remote_media.ip() {
        return;
    }
    let Ok(pkt) = rtp::parse(bytes) else { return };
    media.packets_in += 1;
    let now = Instant::now();
    if pkt.payload_type == s.payload_type {
        let arrival = arrival
            .saturating_duration_since(media.clock_origin)
            .as_secs_f64()
            * f64::from(SAMPLE_RATE);
        media.jitter.on_packet(arrival, pkt.timestamp);
    }
    // Every payload type goes through the reorder buffer: RFC 4733 events and comfort noise
    // share the audio's sequence space.
    media.reorder.push(&pkt);
    release(s, media, flow, now, out);
}

/// Feeds the packets the reorder buffer releases to DTMF detection, the recorder and the flow.
fn release(
    s: &CallSetup,
    media: &mut Media,
    flow: &mut Deposit,
    now: Instant,
    out: &mut Vec<Command>,
) {
    while let Some(pkt) = media.reorder.pop() {
        if Some(pkt.payload_type) == s.telephone_event {
            if let Ok(ev) = TelephoneEvent::parse(pkt.payload) {
                if let Some(digit) = media.dtmf.handle(pkt.ssrc, pkt.timestamp, &ev) {
                    debug!(%digit, "DTMF");
                    flow.handle(now, Input::Dtmf(digit), out);
                }
            }
            continue;
        }
        if pkt.payload_type != s.payload_type {
            continue;
        }
        let Some(recorder) = media.recorder.as_mut() else {
            continue;
        };
        if let Err(e) = recorder.push(s.codec, &pkt) {
            // Disk full or failing: stop recording, keep what was written, tell the caller.
            error!(error = %e, "recording write failed");
            flow.handle(now, Input::RecordFailed, out);
            return;
        }
        // Once a second the header is brought up to date, so a crash loses at most a second.
        if recorder.packets() % 50 == 0 {
            if let Err(e) = recorder.flush() {
                error!(error = %e, "recording flush failed");
                flow.handle(now, Input::RecordFailed, out);
                return;
            }
        }
        media.recorded_samples = recorder.samples();
        let mut frame = [0i16; FRAME_SAMPLES];
        let n = pkt.payload.len().min(FRAME_SAMPLES);
        s.codec.decode(&pkt.payload[..n], &mut frame[..n]);
        let silent = media.vad.is_silent(&frame[..n]);
        flow.handle(
            now,
            Input::Audio {
                silent,
                recorded: media.recorded_samples,
            },
            out,
        );
    }
}

/// The mailbox's away greeting while it is on, else its own greeting, else the default built
/// from shipped prompts: "Alice Anders [her recorded name] is not available. After the tone..."
/// or, without a recorded name, "The person at extension 1 0 0 1 is not available...".
async fn greeting(s: &CallSetup, mailbox: &MailboxEntry) -> Arc<[i16]> {
    let store = s.shared.store.clone();
    let id = mailbox.id.clone();
    let found = tokio::task::spawn_blocking(move || {
        let id = MailboxId::new(&id).ok()?;
        let load = |kind: GreetingKind| -> Option<Vec<i16>> {
            let path = store.greeting(&id, kind).ok()??;
            match crate::media::prompts::load(&path) {
                Ok(samples) if !samples.is_empty() => Some(samples),
                Ok(_) => None,
                Err(e) => {
                    warn!(error = %e, ?kind, "mailbox recording unusable; not used");
                    None
                }
            }
        };
        match load(GreetingKind::Away).or_else(|| load(GreetingKind::Personal)) {
            Some(greeting) => Some(Ok(greeting)),
            None => load(GreetingKind::Name).map(Err),
        }
    })
    .await
    .ok()
    .flatten();
    match found {
        Some(Ok(greeting)) => Arc::from(greeting),
        Some(Err(name)) => super::named_greeting(&s.shared.prompts, &name)
            .unwrap_or_else(|| super::default_greeting(&s.shared.prompts, &mailbox.extension)),
        None => super::default_greeting(&s.shared.prompts, &mailbox.extension),
    }
}

/// Whether the mailbox is over `store.max_messages` / `store.max_bytes`. A store that cannot
/// say (down) is taken as not full: the recording waits in the spool rather than being refused.
async fn mailbox_full(s: &CallSetup, mailbox: &MailboxEntry) -> bool {
    let quota = s.shared.quota;
    if quota == crate::store::Quota::default() {
        return false;
    }
    let store = s.shared.store.clone();
    let id = mailbox.id.clone();
    let usage =
        tokio::task::spawn_blocking(move || MailboxId::new(&id).and_then(|id| store.usage(&id)))
            .await;
    match usage {
        Ok(Ok(u)) if quota.is_full(u) => {
            info!(
                messages = u.messages,
                bytes = u.bytes,
                "mailbox full: nothing recorded"
            );
            true
        }
        Ok(Ok(_)) => false,
        Ok(Err(e)) => {
            warn!(error = %e, "cannot check the mailbox quota; recording anyway");
            false
        }
        Err(_) => false,
    }
}

/// What the deposit's commands need besides the call: whose mailbox, its limits, and when the
/// call came in.
struct DepositCtx<'a> {
    mailbox: &'a MailboxEntry,
    limits: DepositLimits,
    received: SystemTime,
}

async fn execute(
    s: &mut CallSetup,
    media: &mut Media,
    flow: &mut Deposit,
    out: &mut Vec<Command>,
    store_done: &mut Option<oneshot::Receiver<bool>>,
    ctx: &DepositCtx<'_>,
) {
    let (mailbox, limits, received) = (ctx.mailbox, ctx.limits, ctx.received);
    // Commands can produce inputs (a prompt that cannot play finishes at once), so loop.
    while !out.is_empty() {
        let cmds: Vec<Command> = std::mem::take(out);
        for cmd in cmds {
            match cmd {
                Command::Play(prompt) => {
                    let audio = match prompt {
                        Prompt::Greeting => Some(media.greeting.clone()),
                        Prompt::Beep => Some(s.beep.clone()),
                        Prompt::Saved => s.shared.prompts.get("vm-saved"),
                        Prompt::NotSaved => s.shared.prompts.get("vm-not-saved"),
                        Prompt::Goodbye => s.shared.prompts.get("vm-goodbye"),
                        Prompt::MailboxFull => s.shared.prompts.get("vm-mailbox-full"),
                    };
                    match audio.filter(|a| !a.is_empty()) {
                        Some(a) => media.player.enqueue(a),
                        None => flow.handle(Instant::now(), Input::PlaybackDone, out),
                    }
                }
                Command::StopPlayback => media.player.clear(),
                Command::StartRecording => {
                    let (id, meta) =
                        spool_meta(s, mailbox, received, limits.min_message.as_millis() as u64);
                    match spool::create(&s.shared.spool_dir, &id, &meta)
                        .map_err(|e| e.to_string())
                        .and_then(|entry| {
                            Recorder::create(&entry.wav)
                                .map(|r| (entry, r))
                                .map_err(|e| e.to_string())
                        }) {
                        Ok((entry, r)) => {
                            media.recorder = Some(r);
                            media.spool = Some(entry);
                        }
                        Err(e) => {
                            error!(error = %e, "cannot start recording");
                            flow.handle(Instant::now(), Input::RecordFailed, out);
                        }
                    }
                }
                Command::StopRecording { keep_samples } => {
                    // Packets still waiting for a gap belong to the recording.
                    media.reorder.flush();
                    release(s, media, flow, Instant::now(), out);
                    if let Some(r) = media.recorder.take() {
                        match r.finish(keep_samples) {
                            Ok(info) => media.recorded_samples = info.samples,
                            Err(e) => error!(error = %e, "cannot finish recording"),
                        }
                    }
                }
                Command::DiscardRecording => {
                    // Too short to keep: the audio goes, the spool entry stays until the
                    // missed-call notice that replaces it is stored.
                    if let Some(r) = media.recorder.take() {
                        let _ = r.finish(None);
                    }
                    if let Some(entry) = &media.spool {
                        let _ = std::fs::remove_file(&entry.wav);
                    }
                }
                Command::Store(kind) => {
                    *store_done = Some(spawn_store(s, mailbox, media, kind, received));
                }
                Command::HangUp => {
                    let _ = s.commands.send(CoreCmd::HangUp(s.call)).await;
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

/// A fresh spool id and the metadata of this call's message.
fn spool_meta(
    s: &CallSetup,
    mailbox: &MailboxEntry,
    received: SystemTime,
    min_message_ms: u64,
) -> (String, SpoolMeta) {
    let id = format!("{}-{:016x}", mailbox.id, rand::thread_rng().gen::<u64>());
    let meta = SpoolMeta {
        mailbox_id: mailbox.id.clone(),
        mailbox_address: mailbox_address(mailbox),
        mailbox_name: mailbox.display_name.clone(),
        caller: s.caller.clone(),
        caller_name: s.caller_name.clone(),
        call_id: s.sip_call_id.clone(),
        received_unix_ms: received
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        min_message_ms,
        notify_target: mailbox.notify_target.clone(),
    };
    (id, meta)
}

/// Deposits the message on the blocking pool, then sends the MWI NOTIFY. The spool file is
/// removed only after the store has committed the message: audio is never lost to an error.
fn spawn_store(
    s: &CallSetup,
    mailbox: &MailboxEntry,
    media: &mut Media,
    kind: MessageKind,
    received: SystemTime,
) -> oneshot::Receiver<bool> {
    let (tx, rx) = oneshot::channel();
    let entry = media.spool.take();
    // A missed call before the tone has no spool entry; should the store be down, one is made
    // (metadata only: it can only become a missed-call notice) so the notice is not lost.
    let unspooled = entry.is_none().then(|| {
        (
            s.shared.spool_dir.clone(),
            spool_meta(s, mailbox, received, 0),
        )
    });
    let audio = match kind {
        MessageKind::VoiceMail => entry.as_ref().map(|e| e.wav.clone()),
        MessageKind::MissedCall => None,
    };
    let duration = Duration::from_millis(media.recorded_samples / 8);
    let address = mailbox_address(mailbox);
    let msg = NewMessage {
        kind,
        caller: s.caller.clone(),
        caller_name: s.caller_name.clone(),
        mailbox_address: address.clone(),
        mailbox_name: mailbox.display_name.clone(),
        received,
        duration,
        call_id: s.sip_call_id.clone(),
        audio: audio.clone(),
        delivery_id: entry.as_ref().map(|e| e.id.clone()),
        recovered: false,
        media_stats: Some(media.stats().to_string()),
    };
    let shared = s.shared.clone();
    let store = s.shared.store.clone();
    let mailbox_id = mailbox.id.clone();
    let notify_target = mailbox.notify_target.clone();
    let commands = s.commands.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let id = MailboxId::new(&mailbox_id)?;
            let stored = store.deposit(&id, &msg)?;
            metrics::histogram!(telemetry::STORE_LATENCY).record(started.elapsed().as_secs_f64());
            let kind_label = match kind {
                MessageKind::VoiceMail => "voicemail",
                MessageKind::MissedCall => "missed_call",
            };
            metrics::counter!(telemetry::DEPOSITS, "kind" => kind_label).increment(1);
            let counts = store.counts(&id);
            Ok::<_, crate::store::StoreError>((stored, counts))
        })
        .await;
        let ok = match result {
            Ok(Ok((stored, counts))) => {
                info!(id = %stored, ?kind, seconds = duration.as_secs_f32(), "message deposited");
                if let Some(entry) = &entry {
                    entry.remove();
                }
                match (counts, notify_target) {
                    (Ok(counts), Some(target)) => {
                        send_mwi(&shared, &commands, &target, &address, counts).await
                    }
                    (Err(e), _) => warn!(error = %e, "cannot count messages for MWI"),
                    _ => {}
                }
                true
            }
            Ok(Err(e)) => {
                let made = unspooled.and_then(|(dir, (id, meta))| {
                    spool::create(&dir, &id, &meta)
                        .map_err(|e| error!(error = %e, "cannot spool the missed-call notice"))
                        .ok()
                });
                keep_for_retry(entry.as_ref().or(made.as_ref()), &e, audio.as_deref())
            }
            Err(e) => {
                error!(error = %e, spool = ?audio, "deposit task failed; recording kept in spool");
                false
            }
        };
        let _ = tx.send(ok);
    });
    rx
}

/// After a failed deposit: the spool entry stays, marked for the background retry
/// (`spool::Retry`). True when the message is safe to promise to the caller ("saved").
fn keep_for_retry(
    entry: Option<&SpoolEntry>,
    e: &crate::store::StoreError,
    audio: Option<&std::path::Path>,
) -> bool {
    let marked = entry.map(|en| en.mark_pending(false));
    match marked {
        Some(Ok(())) => {
            warn!(error = %e, spool = ?audio, "deposit failed; recording kept in spool, delivered when the store is back");
            true
        }
        Some(Err(me)) => {
            error!(error = %e, mark_error = %me, spool = ?audio, "deposit failed; recording kept in spool for the next start");
            false
        }
        None => {
            error!(error = %e, "deposit failed; nothing spooled to retry");
            false
        }
    }
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
