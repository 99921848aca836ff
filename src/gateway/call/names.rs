//! The call's side of dial by name (`flows::directory`), shared by every flow that embeds the
//! directory (the auto attendant, the deposit greeting, a subscriber's forward): finding which
//! users have a recorded name, off the media path (the store may be a mail server), keeping
//! those recordings for the lists to play, and rendering what the directory says.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use crate::flows::directory::Say;
use crate::gateway::jobs::{Job, JobResult};
use crate::gateway::Shared;
use crate::media::speech;
use crate::media::voices::Voice;
use crate::store::{GreetingKind, MailboxId};

/// Recorded names the directory's lists say, by mailbox `Id`, as loaded by [`find`].
#[derive(Debug, Default)]
pub(crate) struct RecordedNames {
    names: HashMap<String, Arc<[i16]>>,
}

/// A job that finds the recorded names of mailboxes `ids`; it answers with
/// `JobResult::RecordedNames`, to hand to [`RecordedNames::keep`].
pub(crate) fn find(shared: &Arc<Shared>, ids: Vec<String>) -> Job {
    let shared = shared.clone();
    Job::new(move || {
        let found = ids
            .into_iter()
            .map(|id| {
                let name = recorded_name(&shared, &id);
                (id, name)
            })
            .collect();
        JobResult::RecordedNames(found)
    })
}

impl RecordedNames {
    /// Keeps the recordings a [`find`] job found; returns what the directory is told: per
    /// mailbox asked, in its order, whether it has one.
    pub fn keep(&mut self, found: Vec<(String, Option<Arc<[i16]>>)>) -> Vec<bool> {
        let recorded = found.iter().map(|(_, name)| name.is_some()).collect();
        self.names
            .extend(found.into_iter().filter_map(|(id, name)| Some((id, name?))));
        recorded
    }

    /// Audio for `says` in `voice`: prompts joined as `speech::render` joins them, a recorded
    /// name between two runs of them. Missing prompts are logged and skipped, and so is a
    /// recorded name that could not be read (the directory only offers those the store has).
    pub fn render(&self, voice: &Voice<'_>, says: &[Say]) -> Arc<[i16]> {
        let mut audio: Vec<i16> = Vec::new();
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, audio: &mut Vec<i16>| {
            run.retain(|n| {
                let ok = voice.get(n).is_some();
                if !ok {
                    warn!(prompt = %n, language = %voice.language(), "prompt missing: skipped");
                }
                ok
            });
            if let Ok(joined) = speech::render(voice, run) {
                append(audio, &joined);
            }
            run.clear();
        };
        for say in says {
            match say {
                Say::Prompt(p) => run.push(p.clone()),
                Say::RecordedName(id) => {
                    flush(&mut run, &mut audio);
                    if let Some(name) = self.names.get(id) {
                        append(&mut audio, name);
                    }
                }
            }
        }
        flush(&mut run, &mut audio);
        Arc::from(audio)
    }
}

/// The recorded name (`GreetingKind::Name`) of mailbox `id`, if it has a usable one. Blocking
/// (the store): run it in a job.
fn recorded_name(shared: &Shared, id: &str) -> Option<Arc<[i16]>> {
    let mailbox = MailboxId::new(id).ok()?;
    let path = shared.store.greeting(&mailbox, GreetingKind::Name).ok()??;
    match crate::media::prompts::load(&path) {
        Ok(samples) if !samples.is_empty() => Some(Arc::from(samples)),
        Ok(_) => None,
        Err(e) => {
            warn!(error = %e, mailbox = %id, "recorded name unusable; spelled instead");
            None
        }
    }
}

/// `more` after `audio`, with the gap `speech::render` leaves between prompts.
fn append(audio: &mut Vec<i16>, more: &[i16]) {
    if more.is_empty() {
        return;
    }
    if !audio.is_empty() {
        audio.resize(audio.len() + speech::GAP, 0);
    }
    audio.extend_from_slice(more);
}
