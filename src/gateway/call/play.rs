//! A play-on-phone call: the gateway called the user to play one message (`umgw
//! play-on-phone`, the admin endpoint's `POST /play-on-phone`). The call's part around the
//! sans-IO `flows::play`: it loads the message off the media path and renders what the flow
//! says into the call's media session.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use super::{CallContext, CallRequest, Event, Io, Transition};
use crate::dialplan::MailboxEntry;
use crate::flows::play::{Command, Input, PlayOnPhone, Say};
use crate::gateway::jobs::{Job, JobResult};
use crate::media::session::MediaEvent;
use crate::media::speech;
use crate::store::MailboxId;

/// The message to play, read from the store.
#[derive(Debug)]
pub(crate) struct Loaded {
    audio: Arc<[i16]>,
    caller: Option<String>,
    received: SystemTime,
    duration: Duration,
}

/// Who and what a play-on-phone call is for.
#[derive(Debug, Clone)]
pub(crate) struct PlayTarget {
    pub mailbox: MailboxEntry,
    pub message_id: String,
    pub digit_timeout: Duration,
    pub input_failures: u32,
}

/// The play-on-phone part of a call.
#[derive(Debug)]
pub(crate) struct PlayFlow {
    target: PlayTarget,
    flow: PlayOnPhone,
    loaded: Option<Loaded>,
    started: Instant,
}

impl PlayFlow {
    /// The user answered at `now`: the message is loaded.
    pub fn start(io: &mut Io<'_>, now: Instant, target: PlayTarget) -> Self {
        info!(mailbox = %target.mailbox.id, message = %target.message_id, "play on phone: answered");
        let mut p = PlayFlow {
            flow: PlayOnPhone::new(target.digit_timeout, target.input_failures),
            target,
            loaded: None,
            started: now,
        };
        let commands = p.flow.handle(now, Input::Answered);
        p.execute(io, commands);
        p
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.flow.poll_timeout()
    }

    pub fn handle(&mut self, io: &mut Io<'_>, now: Instant, event: Event) -> Transition {
        let input = match event {
            Event::Media(MediaEvent::Digit(d)) => Some(Input::Dtmf(d)),
            Event::Media(MediaEvent::PlaybackDone) => Some(Input::PlaybackDone),
            Event::Job(JobResult::Played(loaded)) => {
                self.loaded = loaded.map(|l| *l);
                Some(Input::Loaded(self.loaded.is_some()))
            }
            Event::CallerGone => Some(Input::HungUp),
            Event::Tick => Some(Input::Tick),
            _ => None,
        };
        if let Some(input) = input {
            let commands = self.flow.handle(now, input);
            self.execute(io, commands);
        }
        if !self.flow.is_done() {
            return Transition::Stay;
        }
        info!(
            seconds = self.started.elapsed().as_secs_f32(),
            played = self.loaded.is_some(),
            "play on phone finished"
        );
        Transition::Done
    }

    fn execute(&mut self, io: &mut Io<'_>, commands: Vec<Command>) {
        for cmd in commands {
            match cmd {
                Command::Load => io.jobs.push(load(
                    io.cx.shared.store.clone(),
                    self.target.mailbox.id.clone(),
                    self.target.message_id.clone(),
                )),
                Command::Play(says) => {
                    let loaded = self.loaded.as_ref();
                    if let Some(audio) = render(io.cx, &self.target.mailbox, loaded, &says) {
                        io.media.play(audio);
                    }
                }
                Command::StopPlayback => io.media.stop_playback(),
                Command::HangUp => io.requests.push(CallRequest::HangUp),
            }
        }
    }
}

/// Reads message `id` of `mailbox` and decodes its recording, off the media path.
fn load(store: Arc<dyn crate::store::Mailbox>, mailbox: String, id: String) -> Job {
    Job::new(move || {
        let loaded = MailboxId::new(&mailbox)
            .and_then(|m| store.read(&m, &id))
            .map_err(|e| e.to_string())
            .and_then(|raw| crate::store::message::parse(&raw).map_err(|e| e.to_string()))
            .and_then(|parsed| {
                let audio = parsed
                    .audio_wav
                    .as_deref()
                    .and_then(crate::store::audio::wav_samples)
                    .ok_or_else(|| "the message has no recording".to_owned())?;
                Ok(Loaded {
                    audio: Arc::from(audio),
                    caller: parsed.caller,
                    received: parsed.received,
                    duration: parsed.duration,
                })
            });
        match loaded {
            Ok(l) => JobResult::Played(Some(Box::new(l))),
            Err(e) => {
                warn!(%mailbox, message = %id, error = %e, "play on phone: cannot load the message");
                JobResult::Played(None)
            }
        }
    })
}

/// Audio for what the flow says, in one piece, in the user's language; missing prompts are
/// logged and skipped.
fn render(
    cx: &CallContext,
    mailbox: &MailboxEntry,
    loaded: Option<&Loaded>,
    says: &[Say],
) -> Option<Arc<[i16]>> {
    let voice = cx.shared.prompts.voice(mailbox.language.language);
    let mut audio: Vec<i16> = Vec::new();
    for say in says {
        let piece = match (say, loaded) {
            (Say::Prompt(name), _) => voice.get(name),
            (Say::Audio, Some(l)) => Some(l.audio.clone()),
            (Say::Envelope, Some(l)) => {
                let names = voice.speaker().envelope(
                    l.caller.as_deref(),
                    l.received,
                    l.duration,
                    SystemTime::now(),
                    &mailbox.time_zone,
                );
                speech::render(&voice, &names)
                    .map_err(|missing| warn!(%missing, "prompt missing"))
                    .ok()
            }
            (Say::Audio | Say::Envelope, None) => None,
        };
        match (piece, say) {
            (Some(p), _) => audio.extend_from_slice(&p),
            (None, Say::Prompt(name)) => warn!(prompt = %name, "prompt missing: skipped"),
            (None, _) => {}
        }
    }
    (!audio.is_empty()).then(|| Arc::from(audio))
}
