//! Subscriber access on a call: the media loop around `flows::subscriber`. It renders what the
//! flow asks to say (prompts, counts, envelopes, message audio), feeds it DTMF, records the
//! greeting, and runs the store and PIN operations on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rand::Rng;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::call::{mailbox_address, send_mwi, CallSetup, CallSignal};
use super::interactive::{
    refer_target, BridgeLeg, Heard, Interactive, PendingTransfer, TransferResult,
};
use super::CoreCmd;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::subscriber::{
    Command, Folder, Input, MessageRef, PinCheck, Say, Subscriber, SubscriberLimits,
};
use crate::media::player::Player;
use crate::media::recorder::Recorder;
use crate::media::speech;
use crate::store::pin::PinStore;
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
    let mut media = match Interactive::new(s, started) {
        Ok(media) => media,
        Err(e) => {
            error!(error = %e, "cannot set up the call's media");
            return;
        }
    };
    let mut recorder: Option<(Recorder, PathBuf)> = None;
    let mut pending: Option<oneshot::Receiver<(Input, Option<Loaded>)>> = None;
    let mut out = Vec::new();
    // A call-back in progress, and its second leg once bridged.
    let mut transfer: Option<PendingTransfer> = None;
    let mut bridged: Option<BridgeLeg> = None;

    flow.handle(Instant::now(), Input::Answered, &mut out);
    loop {
        for cmd in std::mem::take(&mut out) {
            // Bridged, the user talks to the caller through us: the flow's goodbye must not
            // hang up the call.
            if cmd == Command::HangUp && bridged.is_some() {
                continue;
            }
            if let Command::CallBack { number } = cmd {
                let refer_to = refer_target(plan, &number, pilot_uri);
                transfer = Some(PendingTransfer::start(s, number, refer_to, pilot_uri).await);
                continue;
            }
            execute(
                s,
                plan,
                &mut mailbox,
                &loaded,
                &mut media.player,
                &mut recorder,
                &mut pending,
                cmd,
            )
            .await;
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
                if media.send_due(s, now).await {
                    flow.handle(now, Input::PlaybackDone, &mut out);
                }
                if transfer.take_if(|t| t.expired(now)).is_some() {
                    flow.handle(now, Input::TransferFailed, &mut out);
                }
                flow.handle(now, Input::Tick, &mut out);
            }
            r = media.socket.recv_from(&mut media.rx_buf) => {
                let Ok((n, from)) = r else { continue };
                match media.heard(s, n, from, Instant::now()) {
                    Heard::Digit(digit) => flow.handle(Instant::now(), Input::Dtmf(digit), &mut out),
                    Heard::Audio(pkt) if flow.is_recording() => {
                        if let Some((r, _)) = recorder.as_mut() {
                            let _ = r.push(s.codec, &pkt);
                        }
                    }
                    _ => {}
                }
            }
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
    if let Some((r, path)) = recorder.take() {
        let _ = r.finish(None);
        let _ = std::fs::remove_file(path);
    }
    if let Some(leg) = bridged {
        super::interactive::relay(s, media, leg).await;
    }
    info!(mailbox = ?flow.mailbox(), seconds = started.elapsed().as_secs_f32(), "subscriber access ended");
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
    tokio::task::spawn_blocking(move || {
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
    player: &mut Player,
    recorder: &mut Option<(Recorder, PathBuf)>,
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
                    player.enqueue(audio);
                }
            }
        }
        Command::StopPlayback => player.clear(),
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
        Command::VerifyPin { mailbox: _, pin } => {
            let policy = plan.pin_policy.clone();
            spawn_job(pending, move || {
                let Some(dir) = mailbox_dir else {
                    return (Input::Pin(PinCheck::Wrong), None);
                };
                let mut pins = match PinStore::load(&dir) {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(error = %e, "PIN state unreadable");
                        return (Input::Pin(PinCheck::Wrong), None);
                    }
                };
                if pins.locked {
                    return (Input::Pin(PinCheck::Locked), None);
                }
                let check = if pins.hash.is_some() && pins.verify(&pin.0) {
                    pins.record_success();
                    PinCheck::Ok
                } else {
                    pins.record_failure(&policy);
                    if pins.locked {
                        warn!(dir = %dir.display(), "mailbox locked after failed log-ons");
                        PinCheck::Locked
                    } else {
                        PinCheck::Wrong
                    }
                };
                if let Err(e) = pins.save(&dir) {
                    warn!(error = %e, "cannot save PIN state");
                }
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
                Ok(r) => *recorder = Some((r, path)),
                Err(e) => warn!(error = %e, "cannot record greeting"),
            }
        }
        Command::SaveGreeting(kind) => {
            let rec = recorder.take();
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
                let mut pins = PinStore::load(&dir).unwrap_or_default();
                let ok = pins
                    .set(&pin.0, &extension, &policy)
                    .and_then(|()| pins.save(&dir))
                    .is_ok();
                (Input::PinSet(ok), None)
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
        // Handled by the loop, which owns the transfer.
        Command::CallBack { .. } => {}
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
