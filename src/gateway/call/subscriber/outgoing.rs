//! Voice mails subscriber access sends to other mailboxes of the plan: a forwarded message
//! (with the user's comment before it) and a reply. Built and stored off the media path.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::SubscriberResult;
use crate::audio::SAMPLE_RATE;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::subscriber::Input;
use crate::gateway::call::{mailbox_address, CallContext, Mwi};
use crate::gateway::jobs::JobResult;
use crate::media::recorder::Recorder;
use crate::store::{MailboxId, MessageKind, NewMessage};

/// A voice mail from `user` (this call's) to mailbox `to` of `plan`, its audio to come.
pub(super) fn outgoing(
    cx: &CallContext,
    plan: &DialPlan,
    user: Option<&MailboxEntry>,
    to: &str,
) -> Option<Outgoing> {
    let user = user?;
    let to = plan.mailboxes.iter().find(|m| m.id == to)?.clone();
    let from_address = mailbox_address(user);
    let msg = NewMessage {
        kind: MessageKind::VoiceMail,
        // The user's number, so the recipient can call back or reply.
        caller: Some(user.e164.clone().unwrap_or_else(|| user.extension.clone())),
        caller_name: user.display_name.clone(),
        mailbox_address: mailbox_address(&to),
        mailbox_name: to.display_name.clone(),
        received: SystemTime::now(),
        duration: Duration::ZERO,
        call_id: cx.sip_call_id.clone(),
        audio: None,
        delivery_id: None,
        recovered: false,
        media_stats: None,
        cut_short: None,
        preview: None,
        forwarded: None,
        marks: Default::default(),
    };
    Some(Outgoing {
        to,
        from_address,
        msg,
        email: cx.shared.email.clone(),
    })
}

/// The answer to a forward or a reply: stored (and the recipient's lamp) or why not.
pub(super) fn sent(result: Result<Option<Mwi>, String>) -> JobResult {
    let (ok, mwi) = match result {
        Ok(mwi) => (true, mwi),
        Err(e) => {
            warn!(error = %e, "voice mail from subscriber access not stored");
            (false, None)
        }
    };
    JobResult::Subscriber(Box::new(SubscriberResult {
        input: Input::StoreDone(ok),
        loaded: None,
        mwi,
    }))
}

/// A voice mail from the user to another mailbox of the plan (a forward or a reply), before
/// its audio.
pub(super) struct Outgoing {
    to: MailboxEntry,
    pub(super) from_address: String,
    pub(super) msg: NewMessage,
    /// The recipient's `NotifyEmail` gets it too, as any new message.
    email: Option<std::sync::Arc<crate::email::Notifier>>,
}

impl Outgoing {
    /// Stores the message with the WAV at `wav` (`samples` long) in the recipient's mailbox;
    /// the recipient's lamp, if it has one.
    pub(super) fn deliver(
        mut self,
        store: &dyn crate::store::Mailbox,
        wav: &std::path::Path,
        samples: usize,
    ) -> Result<Option<Mwi>, String> {
        let id = MailboxId::new(&self.to.id).map_err(|e| e.to_string())?;
        self.msg.audio = Some(wav.to_owned());
        self.msg.duration = Duration::from_millis(samples as u64 * 1000 / u64::from(SAMPLE_RATE));
        let stored = store.deposit(&id, &self.msg).map_err(|e| e.to_string())?;
        info!(to = %self.to.id, id = %stored, forwarded = self.msg.forwarded.is_some(), "voice mail sent from subscriber access");
        if let (Some(email), Some(to)) = (&self.email, &self.to.notify_email) {
            email.notify(to, &self.msg);
        }
        let Some(target) = self.to.notify_target.clone() else {
            return Ok(None);
        };
        Ok(store.counts(&id).ok().map(|counts| Mwi {
            target,
            account: mailbox_address(&self.to),
            counts,
        }))
    }
}

/// The comment (its recorder and file), half a second of silence, then `original`; just
/// `original` without a comment. `None` if the comment cannot be read back.
pub(super) fn with_comment(
    comment: Option<(Recorder, PathBuf)>,
    original: &[i16],
) -> Option<Vec<i16>> {
    let Some((r, path)) = comment else {
        return Some(original.to_vec());
    };
    let read = r
        .finish(None)
        .ok()
        .and_then(|_| std::fs::read(&path).ok())
        .and_then(|bytes| crate::store::audio::wav_samples(&bytes));
    let _ = std::fs::remove_file(&path);
    let mut samples = read?;
    samples.extend(std::iter::repeat_n(0, SAMPLE_RATE as usize / 2));
    samples.extend_from_slice(original);
    Some(samples)
}

/// Writes `samples` as the 8 kHz mono 16-bit WAV every recording is.
pub(super) fn write_wav(path: &std::path::Path, samples: &[i16]) -> Result<(), String> {
    let write = || -> Result<(), hound::Error> {
        let mut w = hound::WavWriter::create(path, crate::media::recorder::wav_spec())?;
        for &s in samples {
            w.write_sample(s)?;
        }
        w.finalize()
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
