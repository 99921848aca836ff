//! Subscriber access on a call: the media loop around `flows::subscriber`. It renders what the
//! flow asks to say (prompts, counts, envelopes, message audio), feeds it DTMF, records the
//! greeting, and runs the store and PIN operations on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rand::Rng;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use super::call::{mailbox_address, send_mwi, CallSetup, CallSignal};
use super::CoreCmd;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::subscriber::{
    Command, Folder, Input, MessageRef, PinCheck, Say, Subscriber, SubscriberLimits,
};
use crate::media::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::media::pacer::{RtpSender, PACKET_LEN};
use crate::media::player::Player;
use crate::media::recorder::Recorder;
use crate::media::{rtp, speech};
use crate::store::pin::{PinPolicy, PinStore};
use crate::store::{MailboxId, MessageKind};

/// Messages loaded for listening: what the flow sees, and their audio.
#[derive(Default)]
struct Loaded {
    refs: Vec<MessageRef>,
    audio: Vec<Arc<[i16]>>,
}

pub(super) async fn run(s: &mut CallSetup, plan: &DialPlan, known: Option<MailboxEntry>) {
    let limits = SubscriberLimits {
        input_failures: plan.input_failures_before_disconnect,
        ..SubscriberLimits::default()
    };
    let mut flow = Subscriber::new(limits, known.as_ref().map(|m| m.id.clone()));
    let mut mailbox = known;
    let mut loaded = Loaded::default();
    let started = Instant::now();
    let (ssrc, seq, ts) = {
        let mut rng = rand::thread_rng();
        (rng.gen(), rng.gen(), rng.gen())
    };
    let mut sender = RtpSender::new(started, s.codec, ssrc, seq, ts);
    let mut player = Player::new();
    let mut dtmf = DtmfReceiver::new();
    let mut srtp = s.srtp.as_ref().map(|k| (k.inbound(), k.outbound()));
    let mut recorder: Option<(Recorder, PathBuf)> = None;
    let mut pending: Option<oneshot::Receiver<(Input, Option<Loaded>)>> = None;
    let mut out = Vec::new();
    let mut tx_buf = [0u8; PACKET_LEN + 16];
    let mut rx_buf = [0u8; 1500];

    flow.handle(Instant::now(), Input::Answered, &mut out);
    loop {
        for cmd in std::mem::take(&mut out) {
            execute(
                s,
                plan,
                &mut mailbox,
                &loaded,
                &mut player,
                &mut recorder,
                &mut pending,
                cmd,
                &mut out,
            )
            .await;
        }
        if flow.is_done() {
            break;
        }
        let next = flow
            .poll_timeout()
            .map_or(sender.poll_timeout(), |t| t.min(sender.poll_timeout()));
        let wait_pending = async {
            match pending.as_mut() {
                Some(rx) => rx.await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                let now = Instant::now();
                let was_playing = player.is_playing();
                while let Some(mut n) = sender.poll_transmit(now, &mut player, &mut tx_buf) {
                    if let Some((_, outbound)) = srtp.as_mut() {
                        match outbound.protect(&mut tx_buf, n) {
                            Ok(len) => n = len,
                            Err(_) => continue,
                        }
                    }
                    let _ = s.socket.send_to(&tx_buf[..n], s.remote_media).await;
                }
                if was_playing && !player.is_playing() {
                    flow.handle(now, Input::PlaybackDone, &mut out);
                }
                flow.handle(now, Input::Tick, &mut out);
            }
            r = s.socket.recv_from(&mut rx_buf) => {
                let Ok((mut n, from)) = r else { continue };
                if from.ip() != s.remote_media.ip() {
                    continue;
                }
                if let Some((inbound, _)) = srtp.as_mut() {
                    match inbound.unprotect(&mut rx_buf[..n]) {
                        Ok(len) => n = len,
                        Err(_) => continue,
                    }
                }
                let Ok(pkt) = rtp::parse(&rx_buf[..n]) else { continue };
                if Some(pkt.payload_type) == s.telephone_event {
                    if let Ok(ev) = TelephoneEvent::parse(pkt.payload) {
                        if let Some(digit) = dtmf.handle(pkt.ssrc, pkt.timestamp, &ev) {
                            debug!(%digit, "DTMF");
                            flow.handle(Instant::now(), Input::Dtmf(digit), &mut out);
                        }
                    }
                } else if pkt.payload_type == s.payload_type && flow.is_recording() {
                    if let Some((r, _)) = recorder.as_mut() {
                        let _ = r.push(s.codec, &pkt);
                    }
                }
            }
            sig = s.signals.recv() => match sig {
                Some(CallSignal::RemoteMedia(addr)) => s.remote_media = addr,
                Some(CallSignal::Acked) => {}
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
    info!(mailbox = ?flow.mailbox(), seconds = started.elapsed().as_secs_f32(), "subscriber access ended");
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
    out: &mut Vec<crate::flows::subscriber::Command>,
) {
    let store = s.shared.store.clone();
    let mailbox_id = mailbox.as_ref().and_then(|m| MailboxId::new(&m.id).ok());
    let mailbox_dir = mailbox.as_ref().map(|m| s.shared.mailboxes_dir.join(&m.id));
    let _ = out;
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
            let policy = PinPolicy::default();
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
            let path = s.shared.spool_dir.join(format!(
                "greeting-{:016x}.wav",
                rand::thread_rng().gen::<u64>()
            ));
            match Recorder::create(&path) {
                Ok(r) => *recorder = Some((r, path)),
                Err(e) => warn!(error = %e, "cannot record greeting"),
            }
        }
        Command::SaveGreeting => {
            let rec = recorder.take();
            spawn_job(pending, move || {
                let Some((r, path)) = rec else {
                    return (Input::StoreDone(false), None);
                };
                let ok = r.finish(None).is_ok()
                    && mailbox_id.is_some_and(|mb| store.save_greeting(&mb, &path).is_ok());
                let _ = std::fs::remove_file(&path);
                (Input::StoreDone(ok), None)
            });
        }
        Command::SetPin(pin) => {
            let extension = mailbox
                .as_ref()
                .map(|m| m.extension.clone())
                .unwrap_or_default();
            spawn_job(pending, move || {
                let Some(dir) = mailbox_dir else {
                    return (Input::PinSet(false), None);
                };
                let mut pins = PinStore::load(&dir).unwrap_or_default();
                let ok = pins
                    .set(&pin.0, &extension, &PinPolicy::default())
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
