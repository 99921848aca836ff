//! A deposit call: greeting, beep, recording. The call's task prepares it (greeting, quota,
//! spool entry, on the blocking pool) and hands it to a media worker
//! ([`super::media_worker`]), which ticks it every 20 ms while a prompt plays and every 60 ms
//! otherwise: paced prompt out, one `recvmmsg` in,
//! the reorder buffer, DTMF, the recorder and the sans-IO [`Deposit`] flow, all on the
//! worker's thread. What may block (finishing and storing the message, SIP) goes to the
//! runtime; the worker polls its result on a later tick.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn, Instrument, Span};

use super::call::{mailbox_address, send_mwi, CallSetup, CallSignal};
use super::media_worker::{self, MediaCall, Next};
use super::spool::{SpoolEntry, SpoolMeta};
use super::CoreCmd;
use crate::dialplan::MailboxEntry;
use crate::flows::deposit::{Command, Deposit, DepositLimits, EndReason, Input, Prompt};
use crate::media::recorder::Recorder;
use crate::media::session::{MediaEvent, Session};
use crate::media::udp_batch::{self, Batch};
use crate::store::{GreetingKind, MailboxId, MessageKind, NewMessage};
use crate::telemetry;

/// Prepares the deposit of a message for `mailbox` on the blocking pool: the greeting, the
/// quota, and the spool entry with its (empty) WAV. `None` (logged) when the spool entry
/// cannot be made: nothing could be recorded, not even a missed-call notice kept safe.
pub(super) async fn prepare(
    s: &CallSetup,
    mailbox: &MailboxEntry,
    limits: &DepositLimits,
) -> Option<Prepared> {
    let received = SystemTime::now();
    let meta = spool_meta(s, mailbox, received, limits.min_message.as_millis() as u64);
    let shared = s.shared.clone();
    let mailbox = mailbox.clone();
    let prepared =
        tokio::task::spawn_blocking(move || prepare_blocking(&shared, &mailbox, &meta, received))
            .await;
    match prepared {
        Ok(p) => p,
        Err(e) => {
            error!(error = %e, "deposit preparation failed");
            None
        }
    }
}

/// Runs the deposit of a message for `mailbox` to its end, on a media worker.
pub(super) async fn run(
    s: CallSetup,
    mailbox: &MailboxEntry,
    limits: DepositLimits,
    prepared: Prepared,
    media: Session,
) {
    let (done_tx, done_rx) = oneshot::channel();
    let call = DepositCall::new(s, mailbox.clone(), limits, prepared, media, done_tx);
    if media_worker::spawn(Box::new(call)).is_err() {
        error!("no media worker: call dropped");
        return;
    }
    if done_rx.await.is_err() {
        error!("the media worker lost the call");
    }
}

/// What a deposit needs from storage before it starts.
pub(super) struct Prepared {
    received: SystemTime,
    greeting: Arc<[i16]>,
    mailbox_full: bool,
    /// The call's spool entry and its (empty) WAV, made here so that the worker never
    /// creates a file: neither the recording nor a missed-call notice waits for the disk
    /// (or for the spool directory's lock) once media flows.
    spool: (SpoolEntry, Recorder),
}

impl Prepared {
    /// The call went away before it was answered: its spool entry goes (nothing to deliver).
    pub(super) async fn discard(self) {
        let (entry, recorder) = self.spool;
        let _ = tokio::task::spawn_blocking(move || {
            drop(recorder);
            entry.remove();
        })
        .await;
    }
}

fn prepare_blocking(
    shared: &super::Shared,
    mailbox: &MailboxEntry,
    meta: &(String, SpoolMeta),
    received: SystemTime,
) -> Option<Prepared> {
    let entry = match shared.spool.create(&meta.0, &meta.1) {
        Ok(entry) => entry,
        Err(e) => {
            error!(error = %e, spool = %shared.spool.dir().display(), "cannot create the spool entry: refusing the call");
            return None;
        }
    };
    let recorder = match Recorder::create(&entry.wav) {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "cannot create the recording file: refusing the call");
            entry.remove();
            return None;
        }
    };
    Some(Prepared {
        received,
        greeting: greeting(shared, mailbox),
        mailbox_full: mailbox_full(shared, mailbox),
        spool: (entry, recorder),
    })
}

/// The recording once the flow stopped it: finished (truncate, fsync) or discarded on the
/// blocking pool together with the store, never on the worker.
enum Closing {
    Keep {
        recorder: Recorder,
        keep_samples: Option<u64>,
    },
    Discard(Recorder),
}

/// The deposit's storage side: the recording's file before and after the session records
/// into it, and the spool entry it belongs to.
struct Recording {
    /// The recording's file until the flow starts recording.
    idle: Option<Recorder>,
    /// The spool entry of the recording (metadata + WAV).
    spool: Option<SpoolEntry>,
    closing: Option<Closing>,
    /// Samples recorded when the recording stopped.
    samples: u64,
    /// Why the recording could not be written, once it could not: the message says so.
    write_error: Option<String>,
    greeting: Arc<[i16]>,
}

/// One deposit call as a media worker holds it.
struct DepositCall {
    s: CallSetup,
    mailbox: MailboxEntry,
    received: SystemTime,
    media: Session,
    recording: Recording,
    /// One packet at the call's ptime, with room for the SRTP authentication tag.
    tx_buf: Box<[u8]>,
    flow: Deposit,
    out: Vec<Command>,
    store_done: Option<oneshot::Receiver<bool>>,
    caller_gone: bool,
    /// Ticks served; the socket is read every [`RECEIVE_EVERY`].
    ticks: u32,
    runtime: Handle,
    /// The call's span (Call-ID), entered on the worker thread.
    span: Span,
    started: Instant,
    /// Told when the call ends, which ends its task.
    done: Option<oneshot::Sender<()>>,
}

impl DepositCall {
    fn new(
        s: CallSetup,
        mailbox: MailboxEntry,
        limits: DepositLimits,
        prepared: Prepared,
        media: Session,
        done: oneshot::Sender<()>,
    ) -> Self {
        let received = prepared.received;
        let started = Instant::now();
        udp_batch::configure(s.socket.as_raw_fd(), 0);
        let mut flow = Deposit::new(limits);
        if prepared.mailbox_full {
            flow.set_mailbox_full();
        }
        let (spool, idle) = prepared.spool;
        let recording = Recording {
            idle: Some(idle),
            spool: Some(spool),
            closing: None,
            samples: 0,
            write_error: None,
            greeting: prepared.greeting,
        };
        let tx_buf = vec![0; media.packet_room()].into_boxed_slice();
        let mut call = DepositCall {
            s,
            mailbox,
            received,
            media,
            recording,
            tx_buf,
            flow,
            out: Vec::new(),
            store_done: None,
            caller_gone: false,
            // Calls read their sockets on different ticks, spreading the reads.
            ticks: rand::thread_rng().gen_range(0..RECEIVE_EVERY),
            runtime: Handle::current(),
            span: Span::current(),
            started,
            done: Some(done),
        };
        call.flow.handle(started, Input::Answered, &mut call.out);
        call
    }
}

impl MediaCall for DepositCall {
    fn tick(&mut self, now: Instant, rx: &mut Batch) -> Next {
        // Moved out and back rather than cloned: a clone is an atomic increment per call
        // every tick.
        let span = std::mem::replace(&mut self.span, Span::none());
        let next = span.in_scope(|| self.step(now, rx));
        self.span = span;
        next
    }
}

impl DepositCall {
    fn step(&mut self, now: Instant, rx: &mut Batch) -> Next {
        self.ticks = self.ticks.wrapping_add(1);
        let was_playing = self.media.is_playing();
        if !was_playing {
            // Let the pacer pass the frames skipped while silent, so a prompt started now
            // does not go out as a burst catching up on them.
            self.send(now);
        }
        self.poll_signals(now, rx);
        self.poll_store(now);
        self.execute(now);
        if !self.flow.is_done() {
            let was_playing = self.media.is_playing();
            self.send(now);
            // Sending first: the prompt's timing does not wait for the recording's writes.
            // While silent the call is ticked only every RECEIVE_EVERY frames.
            if !was_playing || self.ticks % RECEIVE_EVERY == 0 {
                self.receive(rx, now);
            }
            self.media_events(now);
            self.flow.handle(now, Input::Tick, &mut self.out);
            self.execute(now);
        }
        if self.flow.is_done() {
            self.report();
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
            return Next::Done;
        }
        if self.media.is_playing() {
            Next::Frames(1)
        } else {
            Next::Frames(RECEIVE_EVERY as u8)
        }
    }
}

/// Frames between reads of a call's socket. Reading every third frame (60 ms, three packets
/// per `recvmmsg`) costs a third of the system calls of reading every frame; arrival times
/// come from kernel timestamps, so jitter figures are unaffected, and a digit or a hang-up is
/// acted on at most 40 ms later. A call that is not playing a prompt is ticked only then.
const RECEIVE_EVERY: u32 = 3;

impl DepositCall {
    /// What the core said since the last tick.
    fn poll_signals(&mut self, now: Instant, rx: &mut Batch) {
        while !self.caller_gone {
            match self.s.signals.try_recv() {
                Ok(CallSignal::RemoteMedia(addr)) => {
                    self.s.remote_media = addr;
                    self.media.set_remote(now, addr);
                }
                Ok(CallSignal::Acked | CallSignal::Transfer(_) | CallSignal::Bridge(_)) => {}
                Err(mpsc::error::TryRecvError::Empty) => break,
                Ok(CallSignal::Hangup | CallSignal::Cancelled)
                | Err(mpsc::error::TryRecvError::Disconnected) => {
                    // The caller's last words are still in the socket: they belong to the
                    // recording.
                    self.receive(rx, now);
                    self.caller_gone = true;
                    self.flow.handle(now, Input::CallerHungUp, &mut self.out);
                }
            }
        }
    }

    /// Whether the store finished with the message.
    fn poll_store(&mut self, now: Instant) {
        let Some(rx) = self.store_done.as_mut() else {
            return;
        };
        let ok = match rx.try_recv() {
            Ok(ok) => ok,
            Err(oneshot::error::TryRecvError::Empty) => return,
            Err(oneshot::error::TryRecvError::Closed) => false,
        };
        self.store_done = None;
        self.flow.handle(now, Input::Stored { ok }, &mut self.out);
    }

    fn send(&mut self, now: Instant) {
        while let Some(t) = self.media.poll_transmit(now, &mut self.tx_buf) {
            // A full send buffer drops this packet rather than delay every later one.
            if let Err(e) = self.s.socket.send_to(&self.tx_buf[..t.len], t.destination) {
                debug!(error = %e, "RTP send failed");
            }
        }
    }

    /// Drains the packets that arrived since the last tick (they waited in the socket buffer).
    fn receive(&mut self, rx: &mut Batch, now: Instant) {
        let fd = self.s.socket.as_raw_fd();
        let (clock, wall) = (Instant::now(), SystemTime::now());
        rx.drain(fd, |rx, i| {
            let from = rx.source(i);
            let arrival = rx.arrival(i, clock, wall);
            self.media.handle_datagram(arrival, from, rx.datagram(i));
            self.media_events(now);
        });
    }

    /// Hands what the media reported to the flow.
    fn media_events(&mut self, now: Instant) {
        while let Some(event) = self.media.poll_event() {
            let input = match event {
                MediaEvent::Digit(digit) => {
                    debug!(%digit, "DTMF");
                    Input::Dtmf(digit)
                }
                MediaEvent::Audio { silent, recorded } => Input::Audio { silent, recorded },
                MediaEvent::PlaybackDone => Input::PlaybackDone,
                MediaEvent::RecordFailed => {
                    // Disk full or failing: stop recording, keep what was written, tell the
                    // caller.
                    let why = self.media.record_error().unwrap_or("write failed");
                    error!(error = %why, "recording write failed");
                    self.recording.write_error = Some(why.to_owned());
                    Input::RecordFailed
                }
            };
            self.flow.handle(now, input, &mut self.out);
        }
    }

    fn execute(&mut self, now: Instant) {
        // Commands can produce inputs (a prompt that cannot play finishes at once), so loop.
        while !self.out.is_empty() {
            let cmds = std::mem::take(&mut self.out);
            for cmd in &cmds {
                self.command(*cmd, now);
            }
            // Reuse the allocation when nothing new came in.
            if self.out.is_empty() {
                self.out = cmds;
                self.out.clear();
            }
        }
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Play(prompt) => {
                let prompts = &self.s.shared.prompts;
                let audio = match prompt {
                    Prompt::Greeting => Some(self.recording.greeting.clone()),
                    Prompt::Beep => Some(self.s.beep.clone()),
                    Prompt::Saved => prompts.get("vm-saved"),
                    Prompt::NotSaved => prompts.get("vm-not-saved"),
                    Prompt::Goodbye => prompts.get("vm-goodbye"),
                    Prompt::MailboxFull => prompts.get("vm-mailbox-full"),
                };
                // A missing prompt finishes at once (the session says so).
                self.media
                    .play(audio.unwrap_or_else(|| Arc::from(Vec::new())));
                self.media_events(now);
            }
            Command::StopPlayback => self.media.stop_playback(),
            Command::StartRecording => match self.recording.idle.take() {
                Some(r) => self.media.record_to(r),
                None => {
                    error!("cannot start recording: no spool entry");
                    self.flow.handle(now, Input::RecordFailed, &mut self.out);
                }
            },
            Command::StopRecording { keep_samples } => {
                // Packets still waiting for a gap belong to the recording (the session
                // writes them first).
                let recorder = self.media.stop_recording();
                self.media_events(now);
                if let Some(recorder) = recorder {
                    self.recording.samples = recorder.samples();
                    self.recording.closing = Some(Closing::Keep {
                        recorder,
                        keep_samples,
                    });
                }
            }
            Command::DiscardRecording => {
                // Too short to keep: the audio goes, the spool entry stays until the
                // missed-call notice that replaces it is stored.
                if let Some(recorder) = self.media.take_recorder() {
                    self.recording.closing = Some(Closing::Discard(recorder));
                }
            }
            Command::Store(kind) => self.store_done = Some(self.spawn_store(kind)),
            Command::HangUp => self.to_core(CoreCmd::HangUp(self.s.call)),
        }
    }

    /// Sends a command to the core without blocking the worker.
    fn to_core(&self, cmd: CoreCmd) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.s.commands.try_send(cmd) {
            let commands = self.s.commands.clone();
            self.runtime.spawn(async move {
                let _ = commands.send(cmd).await;
            });
        }
    }

    /// Finishes the recording and deposits the message on the blocking pool, then sends the
    /// MWI NOTIFY. The spool entry is removed only after the store has committed the message:
    /// audio is never lost to an error.
    fn spawn_store(&mut self, kind: MessageKind) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let recording = &mut self.recording;
        let entry = recording.spool.take();
        // A recording never started (missed call) still has its empty file.
        let closing = recording
            .closing
            .take()
            .or_else(|| recording.idle.take().map(Closing::Discard));
        let audio = match kind {
            MessageKind::VoiceMail => entry.as_ref().map(|e| e.wav.clone()),
            MessageKind::MissedCall => None,
        };
        let recorded_samples = recording.samples;
        let address = mailbox_address(&self.mailbox);
        let msg = NewMessage {
            kind,
            caller: self.s.caller.clone(),
            caller_name: self.s.caller_name.clone(),
            mailbox_address: address.clone(),
            mailbox_name: self.mailbox.display_name.clone(),
            received: self.received,
            duration: Duration::ZERO,
            call_id: self.s.sip_call_id.clone(),
            audio: audio.clone(),
            delivery_id: entry.as_ref().map(|e| e.id.clone()),
            recovered: false,
            media_stats: Some(self.media.stats().to_string()),
            cut_short: recording.write_error.take(),
        };
        let shared = self.s.shared.clone();
        let store = self.s.shared.store.clone();
        let mailbox_id = self.mailbox.id.clone();
        let notify_target = self.mailbox.notify_target.clone();
        let lamp = notify_target.is_some();
        let commands = self.s.commands.clone();
        let span = self.span.clone();
        let task = async move {
            let started = Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                let samples = close_recording(closing).unwrap_or(recorded_samples);
                let msg = NewMessage {
                    duration: Duration::from_millis(samples / 8),
                    ..msg
                };
                let id = MailboxId::new(&mailbox_id)?;
                let stored = store.deposit(&id, &msg)?;
                metrics::histogram!(telemetry::STORE_LATENCY)
                    .record(started.elapsed().as_secs_f64());
                let kind_label = match kind {
                    MessageKind::VoiceMail => "voicemail",
                    MessageKind::MissedCall => "missed_call",
                };
                metrics::counter!(telemetry::DEPOSITS, "kind" => kind_label).increment(1);
                // Counting lists the mailbox: only worth it when a lamp is told.
                let counts = lamp.then(|| store.counts(&id));
                Ok::<_, crate::store::StoreError>((stored, msg.duration, counts))
            })
            .await;
            let ok = match result {
                Ok(Ok((stored, duration, counts))) => {
                    info!(id = %stored, ?kind, seconds = duration.as_secs_f32(), "message deposited");
                    if let Some(entry) = &entry {
                        entry.remove();
                    }
                    match (counts, &notify_target) {
                        (Some(Ok(counts)), Some(target)) => {
                            send_mwi(&shared, &commands, target, &address, counts).await
                        }
                        (Some(Err(e)), _) => warn!(error = %e, "cannot count messages for MWI"),
                        _ => {}
                    }
                    true
                }
                Ok(Err(e)) => keep_for_retry(entry.as_ref(), &e, audio.as_deref()),
                Err(e) => {
                    error!(error = %e, spool = ?audio, "deposit task failed; recording kept in spool");
                    false
                }
            };
            let _ = tx.send(ok);
        };
        self.runtime.spawn(task.instrument(span));
        rx
    }

    /// The end of the call: its figures in the log and the metrics.
    fn report(&self) {
        let media = &self.media;
        let stats = media.stats();
        let outcome = match (self.flow.kind(), self.flow.end_reason()) {
            (_, Some(EndReason::StorageError)) => "failed",
            (_, Some(EndReason::MailboxFull)) => "mailbox_full",
            (Some(MessageKind::VoiceMail), _) => "voicemail",
            (Some(MessageKind::MissedCall), _) => "missed_call",
            (None, _) => "failed",
        };
        metrics::counter!(telemetry::CALLS_TOTAL, "outcome" => outcome).increment(1);
        metrics::counter!(telemetry::RTP_RECEIVED).increment(media.packets_in());
        metrics::counter!(telemetry::RTP_SENT).increment(media.packets_out());
        metrics::counter!(telemetry::RTP_LOST).increment(stats.lost);
        metrics::counter!(telemetry::RTP_FOREIGN).increment(stats.foreign);
        metrics::histogram!(telemetry::RTP_JITTER).record(stats.jitter_ms);
        info!(
            reason = ?self.flow.end_reason(),
            kind = ?self.flow.kind(),
            media = %stats,
            packets_in = media.packets_in(),
            packets_out = media.packets_out(),
            skipped_slots = media.skipped_slots(),
            srtp_failures = media.srtp_failures(),
            seconds = self.started.elapsed().as_secs_f32(),
            "call ended"
        );
    }
}

/// Finishes (or discards) the stopped recording: its length in samples, if it was kept.
fn close_recording(closing: Option<Closing>) -> Option<u64> {
    match closing? {
        Closing::Keep {
            recorder,
            keep_samples,
        } => match recorder.finish(keep_samples) {
            Ok(info) => Some(info.samples),
            Err(e) => {
                error!(error = %e, "cannot finish recording");
                None
            }
        },
        // Nothing to make durable: the audio is emptied here and the file goes (for reuse)
        // with the spool entry.
        Closing::Discard(recorder) => {
            let path = recorder.path().to_owned();
            drop(recorder);
            if let Err(e) = super::spool::empty(&path) {
                warn!(error = %e, path = %path.display(), "cannot empty a discarded recording");
            }
            None
        }
    }
}

/// The mailbox's away greeting while it is on, else its own greeting, else the default built
/// from shipped prompts: "Alice Anders [her recorded name] is not available. After the tone..."
/// or, without a recorded name, "The person at extension 1 0 0 1 is not available...".
fn greeting(shared: &super::Shared, mailbox: &MailboxEntry) -> Arc<[i16]> {
    let load = |kind: GreetingKind| -> Option<Vec<i16>> {
        let id = MailboxId::new(&mailbox.id).ok()?;
        let path = shared.store.greeting(&id, kind).ok()??;
        match crate::media::prompts::load(&path) {
            Ok(samples) if !samples.is_empty() => Some(samples),
            Ok(_) => None,
            Err(e) => {
                warn!(error = %e, ?kind, "mailbox recording unusable; not used");
                None
            }
        }
    };
    if let Some(greeting) = load(GreetingKind::Away).or_else(|| load(GreetingKind::Personal)) {
        return Arc::from(greeting);
    }
    load(GreetingKind::Name)
        .and_then(|name| super::named_greeting(&shared.prompts, &name))
        .unwrap_or_else(|| super::default_greeting(&shared.prompts, &mailbox.extension))
}

/// Whether the mailbox is over `store.max_messages` / `store.max_bytes`. A store that cannot
/// say (down) is taken as not full: the recording waits in the spool rather than being refused.
fn mailbox_full(shared: &super::Shared, mailbox: &MailboxEntry) -> bool {
    let quota = shared.quota;
    if quota == crate::store::Quota::default() {
        return false;
    }
    match MailboxId::new(&mailbox.id).and_then(|id| shared.store.usage(&id)) {
        Ok(u) if quota.is_full(u) => {
            info!(
                messages = u.messages,
                bytes = u.bytes,
                "mailbox full: nothing recorded"
            );
            true
        }
        Ok(_) => false,
        Err(e) => {
            warn!(error = %e, "cannot check the mailbox quota; recording anyway");
            false
        }
    }
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
