//! Handing a finished message to the store: the deposit job's delivery (with a Voice Mail
//! Preview when the preview queue has one ready), the spool entry removed once the store
//! committed or kept for the retry, the lamp and the e-mail notice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::{Mwi, StoreOutcome};
use crate::domain::Preview;
use crate::email::{Notifier, Recipient};
use crate::gateway::spool::SpoolEntry;
use crate::store::{Mailbox, MailboxId, MessageKind, NewMessage};
use crate::telemetry;
use crate::transcribe::queue::{Deliver, PreviewQueue};

/// A message handed over by its call: what the deposit job needs once the recording is
/// finished.
pub(super) struct Delivery {
    pub(super) store: Arc<dyn Mailbox>,
    pub(super) mailbox_id: String,
    /// The mailbox's address, for MWI.
    pub(super) address: String,
    pub(super) notify_target: Option<String>,
    /// The notifier and the mailbox's `NotifyEmail`, when both are set.
    pub(super) email: Option<(Arc<Notifier>, Recipient)>,
    pub(super) entry: Option<SpoolEntry>,
    pub(super) msg: NewMessage,
}

/// The preview queue of the gateway's deposits.
pub(crate) type Previews = PreviewQueue<Queued>;

/// A message in the preview queue: its delivery, the recording to transcribe, and the way to
/// the lamp (its call is over by the time it lands).
pub(crate) struct Queued {
    delivery: Delivery,
    wav: PathBuf,
    mwi: mpsc::Sender<Mwi>,
}

impl Deliver for Queued {
    fn recording(&self) -> &Path {
        &self.wav
    }

    fn deliver(self, preview: Option<Preview>) {
        if let Some(lamp) = self.delivery.deliver(preview).mwi {
            if let Err(e) = self.mwi.try_send(lamp) {
                warn!(error = %e, "cannot queue MWI after a deposit with preview");
            }
        }
    }
}

impl Delivery {
    /// The deposit, with `preview` if there is one; the spool entry is removed once the store
    /// committed, or kept and marked for retry. A crash before the deposit leaves the entry,
    /// which start-up recovery delivers (without a preview).
    pub(super) fn deliver(self, preview: Option<Preview>) -> StoreOutcome {
        let Delivery {
            store,
            mailbox_id,
            address,
            notify_target,
            email,
            entry,
            mut msg,
        } = self;
        msg.preview = preview;
        let kind = msg.kind;
        let deposited = (|| {
            let started = Instant::now();
            let id = MailboxId::new(&mailbox_id)?;
            let stored = store.deposit(&id, &msg)?;
            metrics::histogram!(telemetry::STORE_LATENCY).record(started.elapsed().as_secs_f64());
            let kind_label = match kind {
                MessageKind::VoiceMail => "voicemail",
                MessageKind::MissedCall => "missed_call",
            };
            metrics::counter!(telemetry::DEPOSITS, "kind" => kind_label).increment(1);
            // Counting lists the mailbox: only worth it when a lamp is told.
            let counts = notify_target.is_some().then(|| store.counts(&id));
            Ok::<_, crate::store::StoreError>((stored, counts))
        })();
        match deposited {
            Ok((stored, counts)) => {
                info!(
                    id = %stored, ?kind, seconds = msg.duration.as_secs_f32(),
                    preview = msg.preview.is_some(), "message deposited"
                );
                if let Some((notifier, to)) = &email {
                    notifier.notify(to, &msg);
                }
                if let Some(entry) = &entry {
                    entry.remove();
                }
                let mwi = match (counts, notify_target) {
                    (Some(Ok(counts)), Some(target)) => Some(Mwi {
                        target,
                        account: address,
                        counts,
                    }),
                    (Some(Err(e)), _) => {
                        warn!(error = %e, "cannot count messages for MWI");
                        None
                    }
                    _ => None,
                };
                StoreOutcome { ok: true, mwi }
            }
            Err(e) => StoreOutcome {
                ok: keep_for_retry(entry.as_ref(), &e, msg.audio.as_deref()),
                mwi: None,
            },
        }
    }

    /// Hands the message to the preview queue, which delivers it by its deadline (with a
    /// preview if one is ready) and sets the lamp: the caller hears "saved" at once, as the
    /// finished recording is safe in the spool (as after a failed deposit), and no thread
    /// waits for the transcription. A full queue: delivered here, without a preview.
    pub(super) fn queue(
        self,
        previews: &Previews,
        hung_up: Instant,
        wav: PathBuf,
        mwi: mpsc::Sender<Mwi>,
    ) -> StoreOutcome {
        let queued = Queued {
            delivery: self,
            wav,
            mwi,
        };
        match previews.submit(hung_up, queued) {
            Ok(()) => StoreOutcome {
                ok: true,
                mwi: None,
            },
            Err(refused) => refused.delivery.deliver(None),
        }
    }
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
