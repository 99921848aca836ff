//! Work that may block (storage, the file system) as data. A call or the core hands a [`Job`]
//! to whoever drives it, which runs it off the media path (the blocking pool in the gateway,
//! inline in the simulation) and hands the [`JobResult`] back as an input. Nothing that drives
//! media or SIP ever waits on a disk or a mail server.

use tracing::Span;

use super::call::deposit::{Prepared, Reviewed, StoreOutcome};
use super::call::subscriber::SubscriberResult;
use super::call::Mwi;

/// One piece of blocking work and the call span it belongs to (its log lines carry the
/// call's Call-ID like the rest).
pub(crate) struct Job {
    run: Box<dyn FnOnce() -> JobResult + Send>,
    span: Span,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Job {
    /// `work`, to run in the current span.
    pub fn new(work: impl FnOnce() -> JobResult + Send + 'static) -> Job {
        Job {
            run: Box::new(work),
            span: Span::current(),
        }
    }

    /// Runs the work (on whatever thread the driver chose).
    pub fn run(self) -> JobResult {
        let _in_call = self.span.enter();
        (self.run)()
    }
}

/// What a [`Job`] came to.
#[derive(Debug)]
pub(crate) enum JobResult {
    /// A deposit's preparation: greeting, quota, spool entry (`None`: nothing can be
    /// recorded).
    Prepared(Option<Box<Prepared>>),
    /// A deposit's message was stored (or kept for retry).
    Stored(StoreOutcome),
    /// The recording the caller reviews, played back or made ready to record again.
    Review(Box<Reviewed>),
    /// A subscriber-access store or PIN operation.
    Subscriber(Box<SubscriberResult>),
    /// Play on phone: the message read and decoded (`None`: not found or no recording).
    Played(Option<Box<crate::gateway::call::play::Loaded>>),
    /// Dial by name: each mailbox asked about (by `Id`) with its recorded name, if it has one.
    RecordedNames(Vec<(String, Option<std::sync::Arc<[i16]>>)>),
    /// A mailbox's counts for the lamp, if it has a lamp to light and the store could say.
    Counted(Option<Mwi>),
    /// Nothing to report (clean-up).
    Done,
}
