//! A deposit on a call: greeting, beep, recording, store. The call's part around the sans-IO
//! [`Deposit`] flow: it plays what the flow asks through the call's media session, taps the
//! recording into the spool entry made before the call was answered, and stores the message
//! with a [`Job`] (finish the WAV, then deposit and count for the lamp, or, for a Voice Mail
//! Preview, hand the message to the preview queue), so nothing here waits for a disk or an
//! engine. The spool entry is removed only after the store has committed the message: audio
//! is never lost to an error.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{debug, error, info, warn};

use super::names::{self, RecordedNames};
use super::transfer::{refer_target, PendingTransfer, TransferResult};
use super::{mailbox_address, CallContext, CallRequest, DepositTarget, Event, Io, Mwi, Transition};
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::deposit::{Command, Deposit, DepositLimits, EndReason, Input, Prompt};
use crate::flows::directory::DirectorySettings;
use crate::gateway::jobs::{Job, JobResult};
use crate::gateway::spool::{SpoolEntry, SpoolMeta};
use crate::gateway::Shared;
use crate::media::recorder::Recorder;
use crate::media::session::{MediaEvent, Session};
use crate::sip::endpoint::CallId;
use crate::store::{GreetingKind, MailboxId, MessageKind, NewMessage};
use crate::telemetry;

mod delivery;

use delivery::Delivery;
pub(crate) use delivery::Previews;

/// Who called, as the message and its spool entry record it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub number: Option<String>,
    pub name: Option<String>,
    pub sip_call_id: String,
}

/// What a deposit needs from storage before it starts.
#[derive(Debug)]
pub(crate) struct Prepared {
    received: SystemTime,
    greeting: Arc<[i16]>,
    mailbox_full: bool,
    /// The call's spool entry and its (empty) WAV, made before the call is answered so that
    /// the media path never creates a file: neither the recording nor a missed-call notice
    /// waits for the disk (or for the spool directory's lock) once media flows.
    spool: (SpoolEntry, Recorder),
}

impl Prepared {
    /// The call went away before it was answered: its spool entry goes (nothing to deliver).
    pub fn discard(self) -> Job {
        let (entry, recorder) = self.spool;
        Job::new(move || {
            drop(recorder);
            entry.remove();
            JobResult::Done
        })
    }
}

/// Prepares the deposit of a message for `mailbox`: the greeting, the quota, and the spool
/// entry with its (empty) WAV. `JobResult::Prepared(None)` (logged) when the spool entry
/// cannot be made: nothing could be recorded, not even a missed-call notice kept safe.
/// `unique` makes the spool id (from the core's or the call's seeded generator). `busy`: the
/// call was diverted because the user was busy (their busy greeting plays, if recorded).
pub(crate) fn prepare(
    shared: &Arc<Shared>,
    mailbox: &MailboxEntry,
    limits: &DepositLimits,
    caller: &Caller,
    busy: bool,
    unique: u64,
) -> Job {
    let received = SystemTime::now();
    let meta = spool_meta(caller, mailbox, received, limits.min_message, unique);
    let (shared, mailbox) = (shared.clone(), mailbox.clone());
    Job::new(move || JobResult::Prepared(prepare_now(&shared, &mailbox, &meta, received, busy)))
}

fn prepare_now(
    shared: &Shared,
    mailbox: &MailboxEntry,
    meta: &(String, SpoolMeta),
    received: SystemTime,
    busy: bool,
) -> Option<Box<Prepared>> {
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
    Some(Box::new(Prepared {
        received,
        greeting: greeting(shared, mailbox, busy),
        mailbox_full: mailbox_full(shared, mailbox),
        spool: (entry, recorder),
    }))
}

/// The recording once the flow stopped it: finished (truncate, fsync) or discarded by the
/// store job, never on the media path.
#[derive(Debug)]
pub(crate) enum Closing {
    Keep {
        recorder: Recorder,
        keep_samples: Option<u64>,
    },
    Discard(Recorder),
}

/// What a job on the recording under review (the caller's options) came to.
#[derive(Debug)]
pub(crate) enum Reviewed {
    /// The recording made readable (flushed, its header up to date) and its audio to play
    /// back; the recorder keeps going into the message.
    Listened { closing: Closing, audio: Arc<[i16]> },
    /// The recording discarded for a re-record: its file, empty and ready to record again.
    Fresh(Option<Recorder>),
}

/// What storing the message came to.
#[derive(Debug)]
pub(crate) struct StoreOutcome {
    /// Safe to promise the caller: committed, or kept in the spool for the retry.
    ok: bool,
    /// The lamp to update with the mailbox's new counts.
    mwi: Option<Mwi>,
}

/// The deposit's part of a call.
#[derive(Debug)]
pub(crate) struct DepositFlow {
    mailbox: MailboxEntry,
    plan: std::sync::Arc<DialPlan>,
    /// The URI the caller called (a transfer's host when the plan names no domain).
    called: String,
    /// A transfer from the greeting (`0` the operator, `9` a user found by name; a fax to
    /// the fax server), and its bridged leg if it came to that.
    transfer: Option<PendingTransfer>,
    bridged: Option<(CallId, std::net::SocketAddr)>,
    received: SystemTime,
    flow: Deposit,
    out: Vec<Command>,
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
    /// A job has the stopped recording (playing it back, or re-recording): the commands that
    /// need it wait here until it comes back.
    review_job: bool,
    held: Vec<Command>,
    /// The caller still wants to hear the recording once its job is back (no key since).
    listen_wanted: bool,
    /// Until when the caller's audio is listened to for a fax's calling tone (the plan's
    /// FaxDetectionWindow from the answer).
    fax_until: Option<Instant>,
    /// Dial by name from the greeting: the recorded names its lists say, and the mailbox
    /// the caller goes on to leave a message in when the user found could not be reached.
    names: RecordedNames,
    redirect: Option<MailboxEntry>,
}

impl DepositFlow {
    /// The deposit, answered at `now`: the greeting starts.
    pub fn start(io: &mut Io<'_>, now: Instant, prepared: Prepared, target: DepositTarget) -> Self {
        let DepositTarget {
            mailbox,
            limits,
            plan,
            called,
        } = target;
        let mut flow = Deposit::new(limits);
        if prepared.mailbox_full {
            flow.set_mailbox_full();
        }
        if plan.operator_extension.is_some() {
            flow.set_operator();
        }
        if plan.fax_server_uri.is_some() {
            flow.set_fax_server();
        }
        flow.set_directory(
            plan.directory.clone(),
            DirectorySettings::for_plan(&plan, limits.digit_timeout),
        );
        let window = plan.fax_detection_window;
        let fax_until = (!window.is_zero()).then(|| {
            io.media.listen_for_fax(true);
            now + window
        });
        let (spool, idle) = prepared.spool;
        let mut d = DepositFlow {
            mailbox,
            plan,
            called,
            transfer: None,
            bridged: None,
            received: prepared.received,
            flow,
            out: Vec::new(),
            idle: Some(idle),
            spool: Some(spool),
            closing: None,
            samples: 0,
            write_error: None,
            greeting: prepared.greeting,
            review_job: false,
            held: Vec::new(),
            listen_wanted: false,
            fax_until,
            names: RecordedNames::default(),
            redirect: None,
        };
        d.flow.handle(now, Input::Answered, &mut d.out);
        d.execute(io, now);
        d
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let flow = match (self.flow.poll_timeout(), self.fax_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        PendingTransfer::earliest(flow, self.transfer.as_ref())
    }

    /// Feeds one event to the flow and carries out what it asks.
    pub fn handle(&mut self, io: &mut Io<'_>, now: Instant, event: Event) -> Transition {
        if self.fax_until.is_some_and(|until| now >= until) {
            io.media.listen_for_fax(false);
            self.fax_until = None;
        }
        let input = match event {
            Event::Media(MediaEvent::Digit(digit)) => {
                debug!(%digit, "DTMF");
                Some(Input::Dtmf(digit))
            }
            Event::Media(MediaEvent::Audio { silent, recorded }) => {
                Some(Input::Audio { silent, recorded })
            }
            Event::Media(MediaEvent::PlaybackDone) => Some(Input::PlaybackDone),
            Event::Media(MediaEvent::FaxTone) => {
                info!("fax calling tone (CNG) heard");
                self.fax_until = None;
                Some(Input::FaxTone)
            }
            Event::Media(MediaEvent::RecordFailed) => {
                // Disk full or failing: stop recording, keep what was written, tell the caller.
                let why = io.media.record_error().unwrap_or("write failed");
                error!(error = %why, "recording write failed");
                self.write_error = Some(why.to_owned());
                Some(Input::RecordFailed)
            }
            Event::CallerGone => Some(Input::CallerHungUp),
            Event::Job(JobResult::Stored(outcome)) => {
                if let Some(mwi) = outcome.mwi {
                    io.requests.push(CallRequest::Mwi(mwi));
                }
                Some(Input::Stored { ok: outcome.ok })
            }
            Event::Tick => {
                if self.transfer.take_if(|t| t.expired(now)).is_some() {
                    self.flow.handle(now, Input::TransferFailed, &mut self.out);
                }
                Some(Input::Tick)
            }
            news @ (Event::Transfer(_) | Event::Bridge(_)) => {
                let codec = io.media.codec();
                let result =
                    PendingTransfer::news(&mut self.transfer, now, codec, news, io.requests);
                self.settle(io, result)
            }
            Event::Job(JobResult::Review(reviewed)) => {
                self.reviewed(io, *reviewed);
                None
            }
            Event::Job(JobResult::RecordedNames(found)) => {
                Some(Input::RecordedNames(self.names.keep(found)))
            }
            Event::Job(_) => None,
        };
        if let Some(input) = input {
            self.flow.handle(now, input, &mut self.out);
            self.execute(io, now);
        }
        if !self.flow.is_done() {
            return Transition::Stay;
        }
        match self.flow.end_reason() {
            // No message: the spool entry made for it goes.
            Some(EndReason::SignIn) => {
                io.jobs.extend(self.discard());
                Transition::SignIn {
                    mailbox: self.mailbox.clone(),
                    plan: self.plan.clone(),
                    called: self.called.clone(),
                }
            }
            // No message (a fax left its missed-call notice, whose store took the entry).
            Some(EndReason::Transferred | EndReason::Fax | EndReason::Redirected) => {
                io.jobs.extend(self.discard());
                match (self.bridged, self.redirect.take()) {
                    (Some((leg, remote)), _) => Transition::Bridge { leg, remote },
                    (None, Some(mailbox)) => Transition::Deposit {
                        mailbox,
                        limits: super::deposit_limits(&self.plan),
                        plan: self.plan.clone(),
                        called: self.called.clone(),
                    },
                    (None, None) => Transition::Done,
                }
            }
            _ => Transition::Done,
        }
    }

    /// What a transfer's outcome means for the flow, once known.
    fn settle(&mut self, io: &mut Io<'_>, result: Option<TransferResult>) -> Option<Input> {
        let result = result?;
        self.transfer = None;
        Some(match result {
            TransferResult::Done => {
                // RFC 5589 §6: the transferor ends its dialog once told of success.
                io.requests.push(CallRequest::HangUp);
                Input::Transferred
            }
            TransferResult::Bridged { leg, remote } => {
                self.bridged = Some((leg, remote));
                Input::Transferred
            }
            TransferResult::Failed => Input::TransferFailed,
        })
    }

    /// A review job is back with the recording: play it (if still wanted), or keep the fresh
    /// file for the re-record; then what waited for it.
    fn reviewed(&mut self, io: &mut Io<'_>, reviewed: Reviewed) {
        self.review_job = false;
        match reviewed {
            Reviewed::Listened { closing, audio } => {
                self.closing = Some(closing);
                if std::mem::take(&mut self.listen_wanted) {
                    io.media.play(audio);
                }
            }
            Reviewed::Fresh(recorder) => {
                self.idle = recorder;
                self.samples = 0;
                self.write_error = None;
            }
        }
        self.out.append(&mut self.held);
    }

    /// Plays the stopped recording back: a job flushes it and reads it.
    fn listen(&mut self, io: &mut Io<'_>) {
        let Some(closing) = self.closing.take() else {
            io.media.play(Arc::from(Vec::new()));
            return;
        };
        self.review_job = true;
        self.listen_wanted = true;
        io.jobs.push(Job::new(move || {
            let mut closing = closing;
            let audio = match &mut closing {
                Closing::Keep { recorder, .. } => recorder
                    .flush()
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        crate::media::prompts::load(recorder.path()).map_err(|e| e.to_string())
                    })
                    .unwrap_or_else(|e| {
                        warn!(error = %e, "cannot play the recording back");
                        Vec::new()
                    }),
                Closing::Discard(_) => Vec::new(),
            };
            JobResult::Review(Box::new(Reviewed::Listened {
                closing,
                audio: Arc::from(audio),
            }))
        }));
    }

    /// Discards the stopped recording for a re-record: a job empties its file and opens it
    /// again.
    fn rerecord(&mut self, io: &mut Io<'_>) {
        let closing = self.closing.take();
        self.review_job = true;
        io.jobs.push(Job::new(move || {
            let path = match closing {
                Some(Closing::Keep { recorder, .. } | Closing::Discard(recorder)) => {
                    let path = recorder.path().to_owned();
                    drop(recorder);
                    path
                }
                None => return JobResult::Review(Box::new(Reviewed::Fresh(None))),
            };
            let fresh = Recorder::create(&path)
                .inspect_err(|e| error!(error = %e, "cannot record again"))
                .ok();
            JobResult::Review(Box::new(Reviewed::Fresh(fresh)))
        }));
    }

    /// The spool entry of a deposit that ends without a message, emptied and removed.
    fn discard(&mut self) -> Option<Job> {
        let entry = self.spool.take()?;
        // A fax's recording was stopped (discarded) before its transfer: it goes too.
        let recorder = self.idle.take().or_else(|| match self.closing.take()? {
            Closing::Keep { recorder, .. } | Closing::Discard(recorder) => Some(recorder),
        });
        Some(Job::new(move || {
            drop(recorder);
            entry.remove();
            JobResult::Done
        }))
    }

    fn execute(&mut self, io: &mut Io<'_>, now: Instant) {
        // Commands can produce inputs (a prompt that cannot play finishes at once), so loop.
        while !self.out.is_empty() {
            for cmd in std::mem::take(&mut self.out) {
                self.command(io, cmd, now);
            }
        }
    }

    fn command(&mut self, io: &mut Io<'_>, cmd: Command, now: Instant) {
        let needs_recording = matches!(
            cmd,
            Command::Play(Prompt::Recording)
                | Command::Rerecord
                | Command::Store(_)
                | Command::StartRecording
        );
        if self.review_job && needs_recording {
            self.held.push(cmd);
            return;
        }
        match cmd {
            Command::Play(Prompt::Recording) => self.listen(io),
            Command::Rerecord => self.rerecord(io),
            Command::Play(prompt) => {
                // The called mailbox's language (its own, else its plan's).
                let prompts = io.cx.shared.prompts.voice(self.mailbox.language.language);
                let audio = match prompt {
                    Prompt::Greeting => Some(self.greeting.clone()),
                    Prompt::Beep => Some(io.cx.beep.clone()),
                    Prompt::Saved => prompts.get("vm-saved"),
                    Prompt::NotSaved => prompts.get("vm-not-saved"),
                    Prompt::Goodbye => prompts.get("vm-goodbye"),
                    Prompt::MailboxFull => prompts.get("vm-mailbox-full"),
                    Prompt::ReviewOptions => prompts.get("vm-review-options"),
                    Prompt::Urgent(true) => prompts.get("vm-marked-urgent"),
                    Prompt::Urgent(false) => prompts.get("vm-urgent-removed"),
                    Prompt::Private(true) => prompts.get("vm-marked-private"),
                    Prompt::Private(false) => prompts.get("vm-private-removed"),
                    Prompt::Invalid => prompts.get("sa-invalid"),
                    // Played by `listen`, above.
                    Prompt::Recording => None,
                };
                // A missing prompt finishes at once (the session says so).
                io.media
                    .play(audio.unwrap_or_else(|| Arc::from(Vec::new())));
            }
            Command::StopPlayback => {
                self.listen_wanted = false;
                io.media.stop_playback();
            }
            Command::Say(says) => {
                let voice = io.cx.shared.prompts.voice(self.mailbox.language.language);
                io.media.play(self.names.render(&voice, &says));
            }
            Command::FindRecordedNames(ids) => io.jobs.push(names::find(&io.cx.shared, ids)),
            Command::TransferToUser { mailbox } => {
                match PendingTransfer::place(now, &self.plan, mailbox, &self.called, io.requests) {
                    Ok(t) => self.transfer = Some(t),
                    Err(_) => self.flow.handle(now, Input::TransferFailed, &mut self.out),
                }
            }
            Command::DepositFor { mailbox } => match self.plan.mailbox_for_target(&mailbox) {
                Some(m) => self.redirect = Some(m.clone()),
                // A reload took the user away meanwhile: the call ends.
                None => warn!(%mailbox, "the user found by name is no longer a mailbox"),
            },
            Command::StartRecording => match self.idle.take() {
                Some(r) => io.media.record_to(r),
                None => {
                    error!("cannot start recording: no spool entry");
                    self.flow.handle(now, Input::RecordFailed, &mut self.out);
                }
            },
            Command::StopRecording { keep_samples } => {
                // Packets still waiting for a gap belong to the recording (the session writes
                // them first); the frames they make are reported to a flow that has stopped.
                if let Some(recorder) = io.media.stop_recording() {
                    self.samples = recorder.samples();
                    self.closing = Some(Closing::Keep {
                        recorder,
                        keep_samples,
                    });
                }
            }
            Command::DiscardRecording => {
                // Too short to keep: the audio goes, the spool entry stays until the
                // missed-call notice that replaces it is stored.
                if let Some(recorder) = io.media.take_recorder() {
                    self.closing = Some(Closing::Discard(recorder));
                }
            }
            Command::Store(kind) => io.jobs.push(self.store(io.cx, io.media, kind)),
            // The flow is over; `handle` turns it into subscriber access on this call.
            Command::SignIn => {}
            Command::TransferToFax => {
                let Some(fax) = self.plan.fax_server_uri.clone() else {
                    self.flow.handle(now, Input::TransferFailed, &mut self.out);
                    return;
                };
                self.transfer = Some(PendingTransfer::start(
                    now,
                    "fax server".to_owned(),
                    fax,
                    &self.called,
                    io.requests,
                ));
            }
            Command::TransferToOperator => {
                let Some(operator) = self.plan.operator_extension.clone() else {
                    self.flow.handle(now, Input::TransferFailed, &mut self.out);
                    return;
                };
                let refer_to = refer_target(&self.plan, &operator, &self.called);
                self.transfer = Some(PendingTransfer::start(
                    now,
                    operator,
                    refer_to,
                    &self.called,
                    io.requests,
                ));
            }
            Command::HangUp => io.requests.push(CallRequest::HangUp),
        }
    }

    /// Finishes the recording and deposits the message, off the media path; then the lamp.
    /// The spool entry is removed only after the store has committed the message: audio is
    /// never lost to an error.
    fn store(&mut self, cx: &CallContext, media: &Session, kind: MessageKind) -> Job {
        let entry = self.spool.take();
        // A recording never started (missed call) still has its empty file.
        let closing = self
            .closing
            .take()
            .or_else(|| self.idle.take().map(Closing::Discard));
        let audio = match kind {
            MessageKind::VoiceMail => entry.as_ref().map(|e| e.wav.clone()),
            MessageKind::MissedCall => None,
        };
        let recorded_samples = self.samples;
        let address = mailbox_address(&self.mailbox);
        let msg = NewMessage {
            kind,
            caller: cx.caller.clone(),
            caller_name: cx.caller_name.clone(),
            mailbox_address: address.clone(),
            mailbox_name: self.mailbox.display_name.clone(),
            received: self.received,
            duration: Duration::ZERO,
            call_id: cx.sip_call_id.clone(),
            audio: audio.clone(),
            delivery_id: entry.as_ref().map(|e| e.id.clone()),
            recovered: false,
            media_stats: Some(media.stats().to_string()),
            cut_short: self.write_error.take(),
            preview: None,
            forwarded: None,
            marks: self.flow.marks(),
        };
        let previews = cx
            .shared
            .previews
            .clone()
            .filter(|_| self.mailbox.voice_mail_preview && kind == MessageKind::VoiceMail);
        let mwi = cx.shared.mwi.clone();
        // The preview's deadline counts from here.
        let hung_up = Instant::now();
        let delivery = Delivery {
            store: cx.shared.store.clone(),
            mailbox_id: self.mailbox.id.clone(),
            address,
            notify_target: self.mailbox.notify_target.clone(),
            email: cx
                .shared
                .email
                .clone()
                .zip(self.mailbox.notify_email.clone()),
            entry,
            msg,
        };
        Job::new(move || {
            let samples = close_recording(closing).unwrap_or(recorded_samples);
            let mut delivery = delivery;
            delivery.msg.duration = Duration::from_millis(samples / 8);
            let wav = delivery.msg.audio.clone().filter(|_| samples > 0);
            JobResult::Stored(match (previews, mwi, wav) {
                (Some(previews), Some(mwi), Some(wav)) => {
                    delivery.queue(&previews, hung_up, wav, mwi)
                }
                _ => delivery.deliver(None),
            })
        })
    }

    /// The end of the call: its figures in the log and the metrics.
    pub fn report(&self, media: &Session, started: Instant) {
        let stats = media.stats();
        let outcome = match (self.flow.kind(), self.flow.end_reason()) {
            (_, Some(EndReason::SignIn)) => "signed_in",
            (_, Some(EndReason::Transferred | EndReason::Redirected)) => "transferred",
            (_, Some(EndReason::Fax)) => "fax",
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
        // Prometheus base unit: seconds.
        metrics::histogram!(telemetry::RTP_JITTER).record(stats.jitter_ms / 1000.0);
        info!(
            reason = ?self.flow.end_reason(),
            kind = ?self.flow.kind(),
            media = %stats,
            packets_in = media.packets_in(),
            packets_out = media.packets_out(),
            skipped_slots = media.skipped_slots(),
            srtp_failures = media.srtp_failures(),
            ice_checks = ?media.ice_checks(),
            seconds = started.elapsed().as_secs_f32(),
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
            if let Err(e) = crate::gateway::spool::empty(&path) {
                warn!(error = %e, path = %path.display(), "cannot empty a discarded recording");
            }
            None
        }
    }
}

/// The mailbox's away greeting while it is on, else (`busy`: the call was diverted because the
/// user was busy) its busy greeting, else its own greeting, else the default built from
/// shipped prompts: "Alice Anders [her recorded name] is not available. After the tone..."
/// or, without a recorded name, "The person at extension 1 0 0 1 is not available...".
fn greeting(shared: &Shared, mailbox: &MailboxEntry, busy: bool) -> Arc<[i16]> {
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
    let busy_greeting = || busy.then(|| load(GreetingKind::Busy)).flatten();
    if let Some(greeting) = load(GreetingKind::Away)
        .or_else(busy_greeting)
        .or_else(|| load(GreetingKind::Personal))
    {
        return Arc::from(greeting);
    }
    let voice = shared.prompts.voice(mailbox.language.language);
    load(GreetingKind::Name)
        .and_then(|name| crate::gateway::named_greeting(&voice, &name))
        .unwrap_or_else(|| crate::gateway::default_greeting(&voice, &mailbox.extension))
}

/// Whether the mailbox is over `store.max_messages` / `store.max_bytes`. A store that cannot
/// say (down) is taken as not full: the recording waits in the spool rather than being refused.
fn mailbox_full(shared: &Shared, mailbox: &MailboxEntry) -> bool {
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
    caller: &Caller,
    mailbox: &MailboxEntry,
    received: SystemTime,
    min_message: Duration,
    unique: u64,
) -> (String, SpoolMeta) {
    let id = format!("{}-{unique:016x}", mailbox.id);
    let meta = SpoolMeta {
        mailbox_id: mailbox.id.clone(),
        mailbox_address: mailbox_address(mailbox),
        mailbox_name: mailbox.display_name.clone(),
        caller: caller.number.clone(),
        caller_name: caller.name.clone(),
        call_id: caller.sip_call_id.clone(),
        received_unix_ms: received
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        min_message_ms: min_message.as_millis() as u64,
        notify_target: mailbox.notify_target.clone(),
        notify_email: mailbox.notify_email.clone(),
    };
    (id, meta)
}
