//! Subscriber access on a call: the call's part around the sans-IO `flows::subscriber`. It
//! renders what the flow asks to say (prompts, counts, envelopes, message audio) into the
//! call's media session, feeds it DTMF, records greetings through the session, and runs the
//! store and PIN operations as [`Job`]s. It also keeps the per-mailbox cap on concurrent
//! sessions ([`MailboxSessions`]) and the audit trail of log-ons.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use jiff::tz::TimeZone;
use tracing::{debug, error, info, warn};

use super::names::{self, RecordedNames};
use super::transfer::{PendingTransfer, TransferResult};
use super::{mailbox_address, CallContext, CallRequest, Event, Io, Mwi, Transition};
use crate::audio::SAMPLE_RATE;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::directory::DirectorySettings;
use crate::flows::subscriber::{
    Command, Folder, Input, MessageRef, PinCheck, Say, Subscriber, SubscriberLimits,
};
use crate::gateway::jobs::{Job, JobResult};
use crate::media::recorder::Recorder;
use crate::media::session::MediaEvent;
use crate::media::speech;
use crate::media::voices::Voice;
use crate::sip::endpoint::CallId;
use crate::store::pin::{LogOn, PinChange, PinSetter};
use crate::store::{Forwarded, MailboxId, MessageKind};

mod outgoing;
use outgoing::{sent, with_comment, write_wav};

/// Messages loaded for listening: what the flow sees, and their audio.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    refs: Vec<MessageRef>,
    audio: Vec<Arc<[i16]>>,
}

/// What a subscriber-access job came to: the flow's input, the messages it loaded, and a
/// lamp to set (another mailbox's, after a forward or a reply).
#[derive(Debug)]
pub(crate) struct SubscriberResult {
    input: Input,
    loaded: Option<Loaded>,
    mwi: Option<Mwi>,
}

/// Runs `work` off the media path; its answer reaches the flow as an input.
fn job(work: impl FnOnce() -> (Input, Option<Loaded>) + Send + 'static) -> Job {
    Job::new(move || {
        let (input, loaded) = work();
        JobResult::Subscriber(Box::new(SubscriberResult {
            input,
            loaded,
            mwi: None,
        }))
    })
}

/// The subscriber-access part of a call.
#[derive(Debug)]
pub(crate) struct SubscriberFlow {
    plan: Arc<DialPlan>,
    pilot_uri: String,
    flow: Subscriber,
    mailbox: Option<MailboxEntry>,
    loaded: Loaded,
    /// The greeting being recorded (the session writes it), and how many this call made.
    recording: Option<PathBuf>,
    recordings: u32,
    out: Vec<Command>,
    /// A call-back in progress, and its second leg once bridged.
    transfer: Option<PendingTransfer>,
    bridged: Option<(CallId, SocketAddr)>,
    /// This call's place among the mailbox's sessions: held while the flow lives, however
    /// the call ends.
    mailbox_session: Option<MailboxSession>,
    started: Instant,
    /// The PIN was accepted: the user's `Language` applies (before, the plan's).
    signed_in: bool,
    /// Recorded names the directory's lists say (a forward's recipient found by name).
    names: RecordedNames,
}

impl SubscriberFlow {
    /// Subscriber access through a pilot of `plan`, answered at `now`; `known` is the caller's
    /// own mailbox when caller ID identified one.
    pub fn start(
        io: &mut Io<'_>,
        now: Instant,
        plan: Arc<DialPlan>,
        known: Option<MailboxEntry>,
        pilot_uri: String,
    ) -> Self {
        let limits = SubscriberLimits {
            input_failures: plan.input_failures_before_disconnect,
            min_pin_length: plan.pin_policy.min_length as u32,
            ..SubscriberLimits::default()
        };
        let flow = Subscriber::new(limits, known.as_ref().map(|m| m.id.clone())).with_directory(
            plan.directory.clone(),
            DirectorySettings::for_plan(&plan, limits.digit_timeout),
        );
        let mut s = SubscriberFlow {
            flow,
            plan,
            pilot_uri,
            mailbox: known,
            loaded: Loaded::default(),
            recording: None,
            recordings: 0,
            out: Vec::new(),
            transfer: None,
            bridged: None,
            mailbox_session: None,
            started: now,
            signed_in: false,
            names: RecordedNames::default(),
        };
        s.flow.handle(now, Input::Answered, &mut s.out);
        s.execute(io, now);
        s
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
            Event::Media(MediaEvent::RecordFailed) => {
                warn!(error = ?io.media.record_error(), "greeting recording failed")
            }
            Event::Media(MediaEvent::Audio { .. } | MediaEvent::FaxTone) => {}
            Event::CallerGone => self.flow.handle(now, Input::CallerHungUp, &mut self.out),
            Event::Job(JobResult::Subscriber(r)) => {
                if let Some(l) = r.loaded {
                    self.loaded = l;
                }
                // The right PIN (a change may still be due): the user's language from now on.
                if matches!(r.input, Input::Pin(PinCheck::Ok | PinCheck::MustChange(_))) {
                    self.signed_in = true;
                }
                if let Some(mwi) = r.mwi {
                    io.requests.push(CallRequest::Mwi(mwi));
                }
                self.flow.handle(now, r.input, &mut self.out);
            }
            Event::Job(JobResult::Counted(Some(mwi))) => io.requests.push(CallRequest::Mwi(mwi)),
            Event::Job(JobResult::RecordedNames(found)) => {
                let recorded = self.names.keep(found);
                self.flow
                    .handle(now, Input::RecordedNames(recorded), &mut self.out);
            }
            Event::Job(_) => {}
            news @ (Event::Transfer(_) | Event::Bridge(_)) => {
                let codec = io.media.codec();
                let result =
                    PendingTransfer::news(&mut self.transfer, now, codec, news, io.requests);
                self.settle(now, result);
            }
            Event::Tick => {
                if self.transfer.take_if(|t| t.expired(now)).is_some() {
                    self.flow.handle(now, Input::TransferFailed, &mut self.out);
                }
                self.flow.handle(now, Input::Tick, &mut self.out);
            }
        }
        self.execute(io, now);
        if !self.flow.is_done() {
            return Transition::Stay;
        }
        self.finish(io);
        match self.bridged {
            Some((leg, remote)) => Transition::Bridge { leg, remote },
            None => Transition::Done,
        }
    }

    /// The flow is over: a greeting left unfinished is not kept, the mailbox's place is
    /// freed, and the log says so.
    fn finish(&mut self, io: &mut Io<'_>) {
        if let (Some(r), Some(path)) = (io.media.take_recorder(), self.recording.take()) {
            io.jobs.push(Job::new(move || {
                let _ = r.finish(None);
                let _ = std::fs::remove_file(path);
                JobResult::Done
            }));
        }
        // Free the mailbox's place before saying so: the log line means the next call may
        // have it.
        self.mailbox_session = None;
        info!(mailbox = ?self.flow.mailbox(), seconds = self.started.elapsed().as_secs_f32(), "subscriber access ended");
    }

    /// Tells the flow how a call-back went, once known.
    fn settle(&mut self, now: Instant, result: Option<TransferResult>) {
        let Some(result) = result else { return };
        self.transfer = None;
        let input = match result {
            TransferResult::Done => Input::Transferred,
            TransferResult::Bridged { leg, remote } => {
                self.bridged = Some((leg, remote));
                Input::Transferred
            }
            TransferResult::Failed => Input::TransferFailed,
        };
        self.flow.handle(now, input, &mut self.out);
    }

    fn execute(&mut self, io: &mut Io<'_>, now: Instant) {
        // Commands answered at once feed the flow new commands: run until none are left.
        while !self.out.is_empty() {
            for cmd in std::mem::take(&mut self.out) {
                self.command(io, now, cmd);
            }
        }
    }

    fn command(&mut self, io: &mut Io<'_>, now: Instant, cmd: Command) {
        let cx = io.cx;
        let store = cx.shared.store.clone();
        let mailbox_id = self
            .mailbox
            .as_ref()
            .and_then(|m| MailboxId::new(&m.id).ok());
        match cmd {
            Command::Play(says) => {
                // The user's time zone: the mailbox's (its own, else its plan's).
                let zone = self
                    .mailbox
                    .as_ref()
                    .map_or(&self.plan.time_zone, |m| &m.time_zone);
                // The signed-in user's language; before log-on, the plan's.
                let language = match (&self.mailbox, self.signed_in) {
                    (Some(m), true) => m.language.language,
                    _ => self.plan.default_language.language,
                };
                let voice = cx.shared.prompts.voice(language);
                for say in says {
                    if let Some(audio) = render(cx, &voice, &self.loaded, &self.names, &say, zone)
                    {
                        io.media.play(audio);
                    }
                }
            }
            Command::StopPlayback => io.media.stop_playback(),
            Command::LookupExtension(digits) => {
                let found = self
                    .plan
                    .mailboxes
                    .iter()
                    .find(|m| m.extension == digits)
                    .cloned();
                let id = found.as_ref().map(|m| m.id.clone());
                self.mailbox = found;
                self.flow.handle(now, Input::Extension(id), &mut self.out);
            }
            Command::OpenSession { mailbox: id } => {
                self.mailbox_session = open_session(cx, &id);
                let open = self.mailbox_session.is_some();
                self.flow.handle(now, Input::Session(open), &mut self.out);
            }
            Command::VerifyPin { mailbox: id, pin } => {
                let policy = self.plan.pin_policy.clone();
                let source = cx.peer;
                io.jobs.push(job(move || {
                    let Some(mb) = mailbox_id else {
                        return (Input::Pin(PinCheck::Wrong), None);
                    };
                    // The store makes the check and the count one step (across gateway nodes
                    // on IMAP): parallel calls cannot lose a count or verify past the limit.
                    let check = match store.log_on(&mb, &pin.0, &policy) {
                        Ok(LogOn::Accepted) => must_change(&*store, &mb, &policy).map_or_else(
                            || audit_log_on(&id, source, LogOn::Accepted, policy.max_failed_attempts),
                            |why| {
                                info!(mailbox = %id, %source, reason = ?why, "log-on accepted; the user must choose a new PIN");
                                PinCheck::MustChange(why)
                            },
                        ),
                        Ok(outcome) => {
                            audit_log_on(&id, source, outcome, policy.max_failed_attempts)
                        }
                        Err(e) => {
                            warn!(mailbox = %id, %source, error = %e, "PIN state unusable: log-on refused");
                            PinCheck::Wrong
                        }
                    };
                    (Input::Pin(check), None)
                }));
            }
            Command::LoadCounts => io.jobs.push(job(move || {
                let counts = mailbox_id
                    .and_then(|id| store.counts(&id).ok())
                    .unwrap_or_default();
                (
                    Input::Counts {
                        new: counts.new,
                        saved: counts.old,
                    },
                    None,
                )
            })),
            Command::LoadMessages(folder) => io.jobs.push(job(move || {
                let loaded = mailbox_id
                    .map(|id| load_messages(&*store, &id, folder))
                    .unwrap_or_default();
                (Input::Messages(loaded.refs.clone()), Some(loaded))
            })),
            Command::SetSeen { id, seen } => io.jobs.push(job(move || {
                let ok = mailbox_id.is_some_and(|mb| store.set_seen(&mb, &id, seen).is_ok());
                (Input::StoreDone(ok), None)
            })),
            Command::Delete { id } => io.jobs.push(set_deleted(store, mailbox_id, id, true)),
            Command::Undelete { id } => io.jobs.push(set_deleted(store, mailbox_id, id, false)),
            Command::Purge { ids } => io.jobs.push(Job::new(move || {
                let Some(mb) = mailbox_id else {
                    return JobResult::Done;
                };
                for id in ids {
                    // Left marked deleted on an error: out of counts, and nothing is lost.
                    if let Err(e) = store.purge(&mb, &id) {
                        warn!(mailbox = %mb, message = %id, error = %e, "deleted message not purged");
                    }
                }
                JobResult::Done
            })),
            Command::LoadDeleted(ids) => io.jobs.push(job(move || {
                let loaded = mailbox_id
                    .map(|mb| load(&*store, &mb, ids))
                    .unwrap_or_default();
                (Input::Messages(loaded.refs.clone()), Some(loaded))
            })),
            Command::StartRecording => {
                // Unique among this process's calls and recordings (a file a crash left with
                // the same name is only ever truncated).
                self.recordings += 1;
                let path = cx
                    .shared
                    .spool
                    .dir()
                    .join(format!("greeting-{}-{}.wav", cx.id.0, self.recordings));
                match Recorder::create(&path) {
                    Ok(r) => {
                        io.media.record_to(r);
                        self.recording = Some(path);
                    }
                    Err(e) => warn!(error = %e, "cannot record greeting"),
                }
            }
            Command::SaveGreeting(kind) => {
                let rec = io.media.stop_recording().zip(self.recording.take());
                io.jobs.push(job(move || {
                    let Some((r, path)) = rec else {
                        return (Input::StoreDone(false), None);
                    };
                    let ok = r.finish(None).is_ok()
                        && mailbox_id
                            .is_some_and(|mb| store.save_greeting(&mb, kind, &path).is_ok());
                    let _ = std::fs::remove_file(&path);
                    (Input::StoreDone(ok), None)
                }));
            }
            Command::SetPin(pin) => {
                let extension = self
                    .mailbox
                    .as_ref()
                    .map(|m| m.extension.clone())
                    .unwrap_or_default();
                let policy = self.plan.pin_policy.clone();
                io.jobs.push(job(move || {
                    let Some(mb) = mailbox_id else {
                        return (Input::PinSet(false), None);
                    };
                    let result = store.set_pin(&mb, &pin.0, &extension, &policy, PinSetter::User);
                    if let Err(e) = &result {
                        info!(error = %e, "new PIN not set");
                    }
                    (Input::PinSet(result.is_ok()), None)
                }));
            }
            Command::UpdateMwi => {
                let target = self.mailbox.as_ref().and_then(|m| m.notify_target.clone());
                if let (Some(m), Some(id), Some(target)) =
                    (self.mailbox.clone(), mailbox_id, target)
                {
                    io.jobs.push(Job::new(move || {
                        let mwi = store.counts(&id).ok().map(|counts| Mwi {
                            target,
                            account: mailbox_address(&m),
                            counts,
                        });
                        JobResult::Counted(mwi)
                    }));
                }
            }
            Command::DeleteGreeting(kind) => io.jobs.push(job(move || {
                let ok = mailbox_id.is_some_and(|mb| store.delete_greeting(&mb, kind).is_ok());
                (Input::StoreDone(ok), None)
            })),
            Command::LookupRecipient(extension) => {
                let to = self
                    .plan
                    .mailboxes
                    .iter()
                    .find(|m| m.extension == extension)
                    .map(|m| m.id.clone());
                self.flow.handle(now, Input::Recipient(to), &mut self.out);
            }
            Command::LookupSender(caller) => {
                let plan = std::slice::from_ref(&self.plan);
                let to = crate::dialplan::resolve_in(plan, &caller).map(|r| r.mailbox.id.clone());
                self.flow.handle(now, Input::Recipient(to), &mut self.out);
            }
            Command::Forward { index, to, comment } => {
                let comment = comment
                    .then(|| io.media.stop_recording().zip(self.recording.take()))
                    .flatten();
                let original = self.loaded.audio.get(index).cloned();
                let source = self.loaded.refs.get(index).cloned();
                let outgoing = outgoing::outgoing(cx, &self.plan, self.mailbox.as_ref(), &to);
                self.recordings += 1;
                let wav = cx
                    .shared
                    .spool
                    .dir()
                    .join(format!("forward-{}-{}.wav", cx.id.0, self.recordings));
                io.jobs.push(Job::new(move || {
                    let (Some(mut out), Some(original), Some(source)) = (outgoing, original, source)
                    else {
                        return sent(Err("the message or the recipient is gone".into()));
                    };
                    let Some(samples) = with_comment(comment, &original) else {
                        return sent(Err("the comment cannot be read back".into()));
                    };
                    out.msg.forwarded = Some(Forwarded {
                        by: out.from_address.clone(),
                        caller: source.caller,
                        received: source.received,
                    });
                    let written = write_wav(&wav, &samples);
                    let result = written.and_then(|()| out.deliver(&*store, &wav, samples.len()));
                    let _ = std::fs::remove_file(&wav);
                    sent(result)
                }));
            }
            Command::Reply { to } => {
                let rec = io.media.stop_recording().zip(self.recording.take());
                let outgoing = outgoing::outgoing(cx, &self.plan, self.mailbox.as_ref(), &to);
                io.jobs.push(Job::new(move || {
                    let (Some((r, path)), Some(out)) = (rec, outgoing) else {
                        return sent(Err("no recording, or the recipient is gone".into()));
                    };
                    let result = r
                        .finish(None)
                        .map_err(|e| e.to_string())
                        .and_then(|info| {
                            let samples = usize::try_from(info.samples).unwrap_or(usize::MAX);
                            out.deliver(&*store, &path, samples)
                        });
                    let _ = std::fs::remove_file(&path);
                    sent(result)
                }));
            }
            // A number the dialing rules refuse is not dialled (`place` logs why).
            Command::CallBack { number } => {
                match PendingTransfer::place(now, &self.plan, number, &self.pilot_uri, io.requests)
                {
                    Ok(t) => self.transfer = Some(t),
                    Err(_) => self.flow.handle(now, Input::CallBackRefused, &mut self.out),
                }
            }
            Command::FindRecordedNames(ids) => io.jobs.push(names::find(&cx.shared, ids)),
            // Bridged, the user talks to the caller through us: the flow's goodbye must not
            // hang up the call.
            Command::HangUp if self.bridged.is_some() => {}
            Command::HangUp => io.requests.push(CallRequest::HangUp),
        }
    }
}

/// Marks message `id` deleted (pending until the call ends) or restores it.
fn set_deleted(
    store: Arc<dyn crate::store::Mailbox>,
    mailbox: Option<MailboxId>,
    id: String,
    deleted: bool,
) -> Job {
    job(move || {
        let ok = mailbox.is_some_and(|mb| store.set_deleted(&mb, &id, deleted).is_ok());
        (Input::StoreDone(ok), None)
    })
}

/// Takes one of the sessions of mailbox `id` for this call, or says why not.
fn open_session(cx: &CallContext, id: &str) -> Option<MailboxSession> {
    let sessions = &cx.shared.subscriber_sessions;
    let session = sessions.open(id);
    match &session {
        Some(_) => debug!(mailbox = %id, "subscriber-access session opened"),
        None => warn!(
            mailbox = %id, source = %cx.peer, limit = sessions.max,
            "subscriber access refused: the mailbox has its maximum of sessions"
        ),
    }
    session
}

/// Subscriber-access calls in progress per mailbox, capped (`subscriber.max_sessions_per_mailbox`)
/// so that parallel calls cannot multiply the PIN guesses one caller makes. Per gateway process.
#[derive(Debug)]
pub(crate) struct MailboxSessions {
    max: u32,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl MailboxSessions {
    pub(crate) fn new(max: u32) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// One more session on `mailbox`, or `None` when it has `max` already. The session ends
    /// when the returned value is dropped.
    fn open(&self, mailbox: &str) -> Option<MailboxSession> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(mailbox.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(MailboxSession {
            open: self.open.clone(),
            mailbox: mailbox.to_owned(),
        })
    }
}

/// One call's session on a mailbox; dropping it frees the place.
#[derive(Debug)]
struct MailboxSession {
    open: Arc<Mutex<HashMap<String, u32>>>,
    mailbox: String,
}

impl Drop for MailboxSession {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.mailbox) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.mailbox);
            }
        }
    }
}

/// Why the user who just logged on to `mailbox` must choose a new PIN first, if they must
/// (PINLifetime passed, or an administrator set it). A PIN state that cannot be read asks
/// for nothing more: the log-on itself was checked.
fn must_change(
    store: &dyn crate::store::Mailbox,
    mailbox: &MailboxId,
    policy: &crate::store::pin::PinPolicy,
) -> Option<PinChange> {
    match store.pin_state(mailbox, policy) {
        Ok(pins) => pins.change_required(SystemTime::now(), policy),
        Err(e) => {
            warn!(%mailbox, error = %e, "PIN state unreadable after log-on: no PIN change asked");
            None
        }
    }
}

/// Logs a log-on attempt for the audit trail (the call's span adds the Call-ID; never the PIN)
/// and tells the flow what it came to.
fn audit_log_on(mailbox: &str, source: SocketAddr, outcome: LogOn, max: u32) -> PinCheck {
    match outcome {
        LogOn::Accepted => {
            info!(%mailbox, %source, "log-on accepted");
            PinCheck::Ok
        }
        LogOn::Refused { failed_attempts } => {
            warn!(%mailbox, %source, failed_attempts, max, "log-on failed: wrong PIN");
            PinCheck::Wrong
        }
        LogOn::LockedOut { failed_attempts } => {
            warn!(%mailbox, %source, failed_attempts, max, "log-on failed: wrong PIN");
            error!(%mailbox, %source, failed_attempts, "mailbox locked after failed log-ons");
            PinCheck::Locked
        }
        LogOn::Locked { failed_attempts } => {
            warn!(
                %mailbox, %source, failed_attempts,
                "log-on refused: the mailbox is locked (PIN not checked)"
            );
            PinCheck::Locked
        }
    }
}

/// Audio for one thing the flow says in `voice`; dates and times are told in `zone`.
fn render(
    cx: &CallContext,
    voice: &Voice<'_>,
    loaded: &Loaded,
    recorded_names: &RecordedNames,
    say: &Say,
    zone: &TimeZone,
) -> Option<Arc<[i16]>> {
    let speaker = voice.speaker();
    let names = match say {
        Say::Prompt(name) => return voice.get(name),
        Say::Directory(says) => return Some(recorded_names.render(voice, says)),
        Say::Beep => return Some(cx.beep.clone()),
        Say::Audio { index, from } => {
            // Always some audio, if empty (skipped past the end): the flow hears the end.
            let audio = loaded
                .audio
                .get(*index)
                .cloned()
                .unwrap_or_else(|| Arc::from([]));
            let start = usize::try_from(from.as_millis() * u128::from(SAMPLE_RATE) / 1000)
                .unwrap_or(usize::MAX);
            return Some(match start {
                0 => audio,
                n => Arc::from(audio.get(n..).unwrap_or_default()),
            });
        }
        Say::Number(n) => speaker.number(u64::from(*n)),
        Say::Counts { new, saved } => speaker.counts(*new, *saved),
        Say::Envelope(i) => {
            let m = loaded.refs.get(*i)?;
            speaker.envelope(
                m.caller.as_deref(),
                m.received,
                m.duration,
                SystemTime::now(),
                zone,
            )
        }
    };
    match speech::render(voice, &names) {
        Ok(a) => Some(a),
        Err(missing) => {
            warn!(%missing, language = %voice.language(), "prompt missing");
            None
        }
    }
}

/// The voice mails of one folder, oldest first, with their audio decoded.
fn load_messages(store: &dyn crate::store::Mailbox, id: &MailboxId, folder: Folder) -> Loaded {
    let Ok(mut list) = store.list(id) else {
        return Loaded::default();
    };
    list.retain(|m| m.kind == MessageKind::VoiceMail && m.seen == (folder == Folder::Saved));
    list.sort_by_key(|m| m.received);
    load(store, id, list.into_iter().map(|m| m.id))
}

/// Messages `ids` of mailbox `id`, in that order, with their audio decoded; those that
/// cannot be read are left out.
fn load(
    store: &dyn crate::store::Mailbox,
    id: &MailboxId,
    ids: impl IntoIterator<Item = String>,
) -> Loaded {
    let mut loaded = Loaded::default();
    for message in ids {
        let Ok(raw) = store.read(id, &message) else {
            continue;
        };
        let Ok(parsed) = crate::store::message::parse(&raw) else {
            continue;
        };
        let audio: Vec<i16> = parsed
            .audio_wav
            .as_deref()
            .and_then(crate::store::audio::wav_samples)
            .unwrap_or_default();
        // The audio's own length: positions in it (skips, pauses) are counted against it.
        let duration = match audio.len() {
            0 => parsed.duration,
            n => Duration::from_millis(n as u64 * 1000 / u64::from(SAMPLE_RATE)),
        };
        loaded.refs.push(MessageRef {
            id: message,
            caller: parsed.caller.clone(),
            received: parsed.received,
            duration,
        });
        loaded.audio.push(Arc::from(audio));
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_capped_per_mailbox_and_freed_on_drop() {
        let sessions = MailboxSessions::new(2);
        let a1 = sessions.open("alice").expect("first");
        let a2 = sessions.open("alice").expect("second");
        assert!(sessions.open("alice").is_none(), "third refused");
        // Another mailbox has its own places.
        let b1 = sessions.open("bob").expect("bob's first");
        drop(a1);
        let a3 = sessions
            .open("alice")
            .expect("a place freed by the end of a call");
        assert!(sessions.open("alice").is_none());
        drop((a2, a3, b1));
        assert!(
            sessions.open.lock().unwrap().is_empty(),
            "no entry left for mailboxes without calls"
        );
    }

    #[test]
    fn a_panicking_call_frees_its_session() {
        let sessions = MailboxSessions::new(1);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _session = sessions.open("alice").expect("free");
            panic!("call task failed");
        }));
        assert!(result.is_err());
        assert!(sessions.open("alice").is_some());
    }
}
