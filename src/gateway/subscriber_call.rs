//! Subscriber access on a call: the media loop around `flows::subscriber`. It renders what the
//! flow asks to say (prompts, counts, envelopes, message audio), feeds it DTMF, records the
//! greeting, and runs the store and PIN operations on the blocking pool. It also keeps the
//! per-mailbox cap on concurrent sessions ([`MailboxSessions`]) and the audit trail of log-ons.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use rand::Rng;
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use super::call::{mailbox_address, send_mwi, CallSetup, CallSignal};
use super::interactive::{refer_target, BridgeLeg, Interactive, PendingTransfer, TransferResult};
use super::CoreCmd;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::subscriber::{
    Command, Folder, Input, MessageRef, PinCheck, Say, Subscriber, SubscriberLimits,
};
use crate::media::recorder::Recorder;
use crate::media::session::{MediaEvent, Session};
use crate::media::speech;
use crate::store::pin::{LogOn, PinStore};
use crate::store::{MailboxId, MessageKind};

/// Messages loaded for listening: what the flow sees, and their audio.
#[derive(Default)]
struct Loaded {
    refs: Vec<MessageRef>,
    audio: Vec<Arc<[i16]>>,
}

pub(super) async fn run(
    s: &mut CallSetup,
    plan: &DialPlan,
    known: Option<MailboxEntry>,
    pilot_uri: &str,
) {
    let limits = SubscriberLimits {
        input_failures: plan.input_failures_before_disconnect,
        min_pin_length: plan.pin_policy.min_length as u32,
        ..SubscriberLimits::default()
    };
    let mut flow = Subscriber::new(limits, known.as_ref().map(|m| m.id.clone()));
    let mut mailbox = known;
    let mut loaded = Loaded::default();
    let started = Instant::now();
    let mut media = match Interactive::new(s, s.new_session(started)) {
        Ok(media) => media,
        Err(e) => {
            error!(error = %e, "cannot set up the call's media");
            return;
        }
    };
    // The greeting being recorded (the session writes it).
    let mut recording: Option<PathBuf> = None;
    let mut pending: Option<oneshot::Receiver<(Input, Option<Loaded>)>> = None;
    let mut out = Vec::new();
    // A call-back in progress, and its second leg once bridged.
    let mut transfer: Option<PendingTransfer> = None;
    let mut bridged: Option<BridgeLeg> = None;
    // This call's place among the mailbox's sessions: held until `run` returns, however the
    // call ends (a panic or an aborted task drops it too).
    let mut mailbox_session: Option<MailboxSession> = None;

    flow.handle(Instant::now(), Input::Answered, &mut out);
    loop {
        // Commands answered at once feed the flow new commands: run until none are left.
        while !out.is_empty() {
            for cmd in std::mem::take(&mut out) {
                // Bridged, the user talks to the caller through us: the flow's goodbye must
                // not hang up the call.
                if cmd == Command::HangUp && bridged.is_some() {
                    continue;
                }
                if let Command::CallBack { number } = cmd {
                    let refer_to = refer_target(plan, &number, pilot_uri);
                    transfer = Some(PendingTransfer::start(s, number, refer_to, pilot_uri).await);
                    continue;
                }
                if let Command::OpenSession { mailbox: id } = &cmd {
                    mailbox_session = open_session(s, id);
                    flow.handle(
                        Instant::now(),
                        Input::Session(mailbox_session.is_some()),
                        &mut out,
                    );
                    continue;
                }
                execute(
                    s,
                    plan,
                    &mut mailbox,
                    &loaded,
                    &mut media.media,
                    &mut recording,
                    &mut pending,
                    cmd,
                )
                .await;
            }
        }
        if flow.is_done() {
            break;
        }
        let deadline = match (flow.poll_timeout(), &transfer) {
            (Some(a), Some(t)) => Some(a.min(t.deadline())),
            (a, t) => a.or(t.as_ref().map(PendingTransfer::deadline)),
        };
        let next = media.next_wakeup(deadline);
        let wait_pending = async {
            match pending.as_mut() {
                Some(rx) => rx.await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                let now = Instant::now();
                media.send_due(now).await;
                heard(&mut media, &mut flow, &mut out);
                if transfer.take_if(|t| t.expired(now)).is_some() {
                    flow.handle(now, Input::TransferFailed, &mut out);
                }
                flow.handle(now, Input::Tick, &mut out);
            }
            () = media.receive() => heard(&mut media, &mut flow, &mut out),
            sig = s.signals.recv() => match sig {
                Some(CallSignal::RemoteMedia(addr)) => media.remote_moved(s, addr),
                Some(CallSignal::Acked) => {}
                Some(CallSignal::Transfer(update)) => {
                    let result = match transfer.as_mut() {
                        Some(t) => t.update(s, update).await,
                        None => None,
                    };
                    settle(&mut transfer, result, &mut flow, &mut bridged, &mut out);
                }
                Some(CallSignal::Bridge(update)) => {
                    let result = transfer.as_mut().and_then(|t| t.bridge(update));
                    settle(&mut transfer, result, &mut flow, &mut bridged, &mut out);
                }
                Some(CallSignal::Hangup | CallSignal::Cancelled) | None => {
                    flow.handle(Instant::now(), Input::CallerHungUp, &mut out);
                }
            },
            result = wait_pending => {
                pending = None;
                if let Some((input, new_loaded)) = result {
                    if let Some(l) = new_loaded {
                        loaded = l;
                    }
                    flow.handle(Instant::now(), input, &mut out);
                }
            }
        }
    }
    // A greeting left unfinished (the caller hung up while recording) is not kept.
    if let (Some(r), Some(path)) = (media.media.take_recorder(), recording.take()) {
        let _ = r.finish(None);
        let _ = std::fs::remove_file(path);
    }
    if let Some(leg) = bridged {
        super::interactive::relay(s, media, leg).await;
    }
    // Free the mailbox's place before saying so: the log line means the next call may have it.
    drop(mailbox_session);
    info!(mailbox = ?flow.mailbox(), seconds = started.elapsed().as_secs_f32(), "subscriber access ended");
}

/// Takes one of the sessions of mailbox `id` for this call, or says why not.
fn open_session(s: &CallSetup, id: &str) -> Option<MailboxSession> {
    let sessions = &s.shared.subscriber_sessions;
    let session = sessions.open(id);
    match &session {
        Some(_) => debug!(mailbox = %id, "subscriber-access session opened"),
        None => warn!(
            mailbox = %id, source = %s.peer, limit = sessions.max,
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

/// Hands what the media reported to the flow: digits and the end of prompts.
fn heard(media: &mut Interactive, flow: &mut Subscriber, out: &mut Vec<Command>) {
    while let Some(event) = media.poll_event() {
        match event {
            MediaEvent::Digit(d) => flow.handle(Instant::now(), Input::Dtmf(d), out),
            MediaEvent::PlaybackDone => flow.handle(Instant::now(), Input::PlaybackDone, out),
            MediaEvent::RecordFailed => {
                warn!(error = ?media.media.record_error(), "greeting recording failed")
            }
            MediaEvent::Audio { .. } => {}
        }
    }
}

/// Tells the flow how a call-back went, once known.
fn settle(
    transfer: &mut Option<PendingTransfer>,
    result: Option<TransferResult>,
    flow: &mut Subscriber,
    bridged: &mut Option<BridgeLeg>,
    out: &mut Vec<Command>,
) {
    let Some(result) = result else { return };
    *transfer = None;
    let input = match result {
        TransferResult::Done => Input::Transferred,
        TransferResult::Bridged(leg) => {
            *bridged = Some(leg);
            Input::Transferred
        }
        TransferResult::Failed => Input::TransferFailed,
    };
    flow.handle(Instant::now(), input, out);
}

/// Runs `job` on the blocking pool; its answer reaches the flow as an input.
fn spawn_job(
    pending: &mut Option<oneshot::Receiver<(Input, Option<Loaded>)>>,
    job: impl FnOnce() -> (Input, Option<Loaded>) + Send + 'static,
) {
    let (tx, rx) = oneshot::channel();
    // The blocking pool does not inherit the task's span: carry it, so the job's log lines
    // name the call (Call-ID) like the rest.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _in_call = span.enter();
        let _ = tx.send(job());
    });
    *pending = Some(rx);
}

#[allow(clippy::too_many_arguments)] // the call's pieces, passed rather than bundled twice
async fn execute(
    s: &mut CallSetup,
    plan: &DialPlan,
    mailbox: &mut Option<MailboxEntry>,
    loaded: &Loaded,
    media: &mut Session,
    recording: &mut Option<PathBuf>,
    pending: &mut Option<oneshot::Receiver<(Input, Option<Loaded>)>>,
    cmd: Command,
) {
    let store = s.shared.store.clone();
    let mailbox_id = mailbox.as_ref().and_then(|m| MailboxId::new(&m.id).ok());
    let mailbox_dir = mailbox.as_ref().map(|m| s.shared.mailboxes_dir.join(&m.id));
    match cmd {
        Command::Play(says) => {
            for say in says {
                if let Some(audio) = render(s, loaded, &say) {
                    media.play(audio);
                }
            }
        }
        Command::StopPlayback => media.stop_playback(),
        Command::LookupExtension(digits) => {
            let found = plan
                .mailboxes
                .iter()
                .find(|m| m.extension == digits)
                .cloned();
            let id = found.as_ref().map(|m| m.id.clone());
            *mailbox = found;
            spawn_job(pending, move || (Input::Extension(id), None));
        }
        Command::VerifyPin { mailbox: id, pin } => {
            let policy = plan.pin_policy.clone();
            let source = s.peer;
            spawn_job(pending, move || {
                let Some(dir) = mailbox_dir else {
                    return (Input::Pin(PinCheck::Wrong), None);
                };
                // Check and count under the mailbox's lock: parallel calls (and `umgw
                // mailbox` beside the gateway) cannot lose a count or verify past the limit.
                let check = match PinStore::update(&dir, |p| Ok(p.log_on(&pin.0, &policy))) {
                    Ok(outcome) => audit_log_on(&id, source, outcome, policy.max_failed_attempts),
                    Err(e) => {
                        warn!(mailbox = %id, %source, error = %e, "PIN state unusable: log-on refused");
                        PinCheck::Wrong
                    }
                };
                (Input::Pin(check), None)
            });
        }
        Command::LoadCounts => spawn_job(pending, move || {
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
        }),
        Command::LoadMessages(folder) => spawn_job(pending, move || {
            let loaded = mailbox_id
                .map(|id| load_messages(&*store, &id, folder))
                .unwrap_or_default();
            (Input::Messages(loaded.refs.clone()), Some(loaded))
        }),
        Command::SetSeen { id, seen } => spawn_job(pending, move || {
            let ok = mailbox_id.is_some_and(|mb| store.set_seen(&mb, &id, seen).is_ok());
            (Input::StoreDone(ok), None)
        }),
        Command::Delete { id } => spawn_job(pending, move || {
            let ok = mailbox_id.is_some_and(|mb| store.delete(&mb, &id).is_ok());
            (Input::StoreDone(ok), None)
        }),
        Command::StartRecording => {
            let path = s.shared.spool.dir().join(format!(
                "greeting-{:016x}.wav",
                rand::thread_rng().gen::<u64>()
            ));
            match Recorder::create(&path) {
                Ok(r) => {
                    media.record_to(r);
                    *recording = Some(path);
                }
                Err(e) => warn!(error = %e, "cannot record greeting"),
            }
        }
        Command::SaveGreeting(kind) => {
            let rec = media.stop_recording().zip(recording.take());
            spawn_job(pending, move || {
                let Some((r, path)) = rec else {
                    return (Input::StoreDone(false), None);
                };
                let ok = r.finish(None).is_ok()
                    && mailbox_id.is_some_and(|mb| store.save_greeting(&mb, kind, &path).is_ok());
                let _ = std::fs::remove_file(&path);
                (Input::StoreDone(ok), None)
            });
        }
        Command::SetPin(pin) => {
            let extension = mailbox
                .as_ref()
                .map(|m| m.extension.clone())
                .unwrap_or_default();
            let policy = plan.pin_policy.clone();
            spawn_job(pending, move || {
                let Some(dir) = mailbox_dir else {
                    return (Input::PinSet(false), None);
                };
                let result = PinStore::update(&dir, |p| p.set(&pin.0, &extension, &policy));
                if let Err(e) = &result {
                    info!(error = %e, "new PIN not set");
                }
                (Input::PinSet(result.is_ok()), None)
            });
        }
        Command::UpdateMwi => {
            if let (Some(m), Some(id)) = (mailbox.clone(), mailbox_id) {
                if let Some(target) = m.notify_target.clone() {
                    let (shared, commands) = (s.shared.clone(), s.commands.clone());
                    tokio::spawn(async move {
                        let st = shared.store.clone();
                        let counts = tokio::task::spawn_blocking(move || st.counts(&id)).await;
                        if let Ok(Ok(counts)) = counts {
                            send_mwi(&shared, &commands, &target, &mailbox_address(&m), counts)
                                .await;
                        }
                    });
                }
            }
        }
        Command::DeleteGreeting(kind) => spawn_job(pending, move || {
            let ok = mailbox_id.is_some_and(|mb| store.delete_greeting(&mb, kind).is_ok());
            (Input::StoreDone(ok), None)
        }),
        // Handled by the loop, which owns the transfer and the session.
        Command::CallBack { .. } | Command::OpenSession { .. } => {}
        Command::HangUp => {
            let _ = s.commands.send(CoreCmd::HangUp(s.call)).await;
        }
    }
}

/// Audio for one thing the flow says.
fn render(s: &CallSetup, loaded: &Loaded, say: &Say) -> Option<Arc<[i16]>> {
    let prompts = &s.shared.prompts;
    let names = match say {
        Say::Prompt(name) => return prompts.get(name),
        Say::Beep => return Some(s.beep.clone()),
        Say::Audio(i) => return loaded.audio.get(*i).cloned(),
        Say::Number(n) => speech::number(u64::from(*n)),
        Say::Counts { new, saved } => {
            let word = |n: u32| if n == 1 { "w-message" } else { "w-messages" };
            let mut names = vec!["w-you-have".to_owned()];
            names.extend(speech::number(u64::from(*new)));
            names.extend([
                "w-new".to_owned(),
                word(*new).to_owned(),
                "w-and".to_owned(),
            ]);
            names.extend(speech::number(u64::from(*saved)));
            names.extend(["w-saved".to_owned(), word(*saved).to_owned()]);
            names
        }
        Say::Envelope(i) => {
            let m = loaded.refs.get(*i)?;
            speech::envelope(
                m.caller.as_deref(),
                m.received,
                m.duration,
                SystemTime::now(),
                0,
            )
        }
    };
    match speech::render(prompts, &names) {
        Ok(a) => Some(a),
        Err(missing) => {
            warn!(%missing, "prompt missing");
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
    let mut loaded = Loaded::default();
    for m in list {
        let Ok(raw) = store.read(id, &m.id) else {
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
        loaded.refs.push(MessageRef {
            id: m.id.clone(),
            caller: parsed.caller.clone(),
            received: parsed.received,
            duration: parsed.duration,
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
