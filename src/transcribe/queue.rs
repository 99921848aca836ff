//! The preview queue: voice mails waiting for their transcription, and the threads that work
//! it off, so that however many deposits come at once the gateway runs `max_concurrent`
//! transcriptions and holds no other thread for them.
//!
//! [`Backlog`] is the queue itself, sans-IO (time is an input): bounded
//! (`transcription.queue_limit`), ordered by deadline (the hang-up plus
//! `transcription.deadline_ms`, so arrival order), with a shutdown's cap on every deadline.
//! [`PreviewQueue`] runs it: `max_concurrent` worker threads (`umgw-preview-N`, at a lower CPU
//! priority than everything else: the media workers always win the CPU) take the oldest message,
//! transcribe it and deliver it; one deliverer thread (`umgw-preview-late`) wakes at the oldest
//! waiting message's deadline and delivers what waited that long without a preview, so busy
//! workers delay no message past its deadline. A full queue refuses the message: the caller
//! delivers it at once without a preview.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{error, info, warn, Span};

use super::{missed, Previewer, TranscribeError};
use crate::domain::Preview;
use crate::telemetry;

/// A message waiting for its preview: what the queue needs of a deposit.
pub trait Deliver: Send + 'static {
    /// The finished recording to transcribe.
    fn recording(&self) -> &Path;
    /// Stores the message, with `preview` if there is one (and sets the lamp).
    fn deliver(self, preview: Option<Preview>);
}

/// The queue, sans-IO: messages in deadline order (ties in arrival order), bounded.
#[derive(Debug)]
pub struct Backlog<T> {
    waiting: VecDeque<Waiting<T>>,
    limit: usize,
    /// Taken and not yet reported [`Backlog::finished`]: being transcribed or delivered.
    in_hand: usize,
    /// Set by a shutdown: no deadline lies beyond it.
    close_by: Option<Instant>,
}

#[derive(Debug)]
struct Waiting<T> {
    item: T,
    deadline: Instant,
}

/// What a taker gets.
#[derive(Debug, PartialEq)]
pub enum Take<T> {
    /// Transcribe it, giving up at `deadline`.
    Transcribe { item: T, deadline: Instant },
    /// Its deadline has passed: deliver it without a preview now.
    Late(T),
}

impl<T> Backlog<T> {
    pub fn new(limit: usize) -> Backlog<T> {
        Backlog {
            waiting: VecDeque::new(),
            limit: limit.max(1),
            in_hand: 0,
            close_by: None,
        }
    }

    /// Queues `item` until `deadline` (capped by a shutdown); gives it back when the queue is
    /// full.
    pub fn push(&mut self, deadline: Instant, item: T) -> Result<(), T> {
        if self.waiting.len() >= self.limit {
            return Err(item);
        }
        let deadline = self.close_by.map_or(deadline, |by| deadline.min(by));
        // Deadlines arrive nearly in order: the place is found from the back.
        let at = self
            .waiting
            .iter()
            .rposition(|w| w.deadline <= deadline)
            .map_or(0, |i| i + 1);
        self.waiting.insert(at, Waiting { item, deadline });
        Ok(())
    }

    /// For a worker: the oldest message; late if its deadline comes before `need` (what a
    /// transcription takes) has passed, since starting it would only spend the engine's time
    /// on a transcript that comes too late. Report [`Backlog::finished`] after.
    pub fn take(&mut self, now: Instant, need: Duration) -> Option<Take<T>> {
        let w = self.waiting.pop_front()?;
        self.in_hand += 1;
        Some(if w.deadline <= now + need {
            Take::Late(w.item)
        } else {
            Take::Transcribe {
                item: w.item,
                deadline: w.deadline,
            }
        })
    }

    /// For the deliverer: the oldest message if its deadline has passed. Report
    /// [`Backlog::finished`] after.
    pub fn take_late(&mut self, now: Instant) -> Option<T> {
        if self.waiting.front()?.deadline > now {
            return None;
        }
        match self.take(now, Duration::ZERO)? {
            Take::Late(item) | Take::Transcribe { item, .. } => Some(item),
        }
    }

    /// A taken message has been delivered.
    pub fn finished(&mut self) {
        self.in_hand = self.in_hand.saturating_sub(1);
    }

    /// When the oldest waiting message falls due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.front().map(|w| w.deadline)
    }

    /// A shutdown: every message waiting or still to come is due by `by` at the latest.
    /// (`min` keeps the order.)
    pub fn close(&mut self, by: Instant) {
        let by = self.close_by.map_or(by, |b| b.min(by));
        self.close_by = Some(by);
        for w in &mut self.waiting {
            w.deadline = w.deadline.min(by);
        }
    }

    /// Messages waiting for a worker.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Messages being transcribed or delivered.
    pub fn in_hand(&self) -> usize {
        self.in_hand
    }

    /// Nothing waiting, nothing in hand.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.in_hand == 0
    }
}

/// Lower than everything else's (0) and the media workers' (−10 or real time): transcription
/// takes the CPU the calls leave.
const WORKER_NICE: i32 = 10;

/// A message in the queue, with its call's span (its log lines carry the call's Call-ID).
struct Entry<T> {
    item: T,
    span: Span,
    queued: Instant,
}

struct State<T> {
    backlog: Backlog<Entry<T>>,
    /// What a transcription takes, lately (a moving average of those that gave a preview).
    typical: Duration,
    /// The queue is gone: threads leave once nothing waits.
    stopping: bool,
}

struct Inner<T> {
    previewer: Previewer,
    state: Mutex<State<T>>,
    /// A message was queued (workers wait on it).
    queued: Condvar,
    /// The head's deadline may have moved (the deliverer waits on it).
    head: Condvar,
    /// The queue may have become idle.
    idle: Condvar,
}

/// The running queue: the worker threads and the deliverer around a [`Backlog`].
pub struct PreviewQueue<T: Deliver> {
    inner: Arc<Inner<T>>,
}

impl<T: Deliver> std::fmt::Debug for PreviewQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewQueue")
            .field("previewer", &self.inner.previewer)
            .finish_non_exhaustive()
    }
}

impl<T: Deliver> PreviewQueue<T> {
    /// The configured engine's queue; `None` when previews are off. Errors name the key at
    /// fault.
    pub fn from_config(
        cfg: &crate::config::TranscriptionConfig,
    ) -> Result<Option<PreviewQueue<T>>, String> {
        let Some(previewer) = Previewer::from_config(cfg)? else {
            return Ok(None);
        };
        PreviewQueue::start(previewer, cfg.max_concurrent, cfg.queue_limit)
            .map(Some)
            .map_err(|e| format!("cannot start the Voice Mail Preview threads: {e}"))
    }

    /// Starts `workers` transcription threads and the deliverer, for at most `limit` waiting
    /// messages.
    pub fn start(
        previewer: Previewer,
        workers: usize,
        limit: usize,
    ) -> std::io::Result<PreviewQueue<T>> {
        let inner = Arc::new(Inner {
            previewer,
            state: Mutex::new(State {
                backlog: Backlog::new(limit),
                typical: Duration::ZERO,
                stopping: false,
            }),
            queued: Condvar::new(),
            head: Condvar::new(),
            idle: Condvar::new(),
        });
        let queue = PreviewQueue { inner };
        for n in 0..workers.max(1) {
            let inner = queue.inner.clone();
            std::thread::Builder::new()
                .name(format!("umgw-preview-{n}"))
                .spawn(move || work(&inner))?;
        }
        let inner = queue.inner.clone();
        std::thread::Builder::new()
            .name("umgw-preview-late".into())
            .spawn(move || deliver_late(&inner))?;
        Ok(queue)
    }

    /// Queues `item`, recorded until `hung_up`, for its preview; it is delivered by the
    /// hang-up plus `transcription.deadline_ms`, with or without one. A full queue gives it
    /// back (counted and logged): deliver it now, without a preview.
    pub fn submit(&self, hung_up: Instant, item: T) -> Result<(), T> {
        let deadline = hung_up + self.inner.previewer.deadline();
        let entry = Entry {
            item,
            span: Span::current(),
            queued: Instant::now(),
        };
        let mut state = self.inner.lock();
        match state.backlog.push(deadline, entry) {
            Ok(()) => {
                gauges(&state.backlog);
                drop(state);
                self.inner.queued.notify_one();
                self.inner.head.notify_one();
                Ok(())
            }
            Err(entry) => {
                let limit = state.backlog.limit;
                drop(state);
                missed(&TranscribeError::QueueFull { limit }, 0.0);
                Err(entry.item)
            }
        }
    }

    /// A shutdown: whatever waits, or comes, is delivered by `by` at the latest (without a
    /// preview if no worker got to it).
    pub fn close(&self, by: Instant) {
        let mut state = self.inner.lock();
        state.backlog.close(by);
        info!(
            waiting = state.backlog.waiting(),
            in_hand = state.backlog.in_hand(),
            "Voice Mail Preview: delivering the queue before stopping"
        );
        drop(state);
        self.inner.head.notify_one();
    }

    /// Messages waiting, and being transcribed or delivered.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.inner.lock();
        (state.backlog.waiting(), state.backlog.in_hand())
    }

    /// Nothing waits and nothing is being transcribed or delivered.
    pub fn is_idle(&self) -> bool {
        self.inner.lock().backlog.is_idle()
    }

    /// Waits until the queue is idle, up to `until`; whether it is.
    pub fn wait_idle(&self, until: Instant) -> bool {
        let mut state = self.inner.lock();
        while !state.backlog.is_idle() {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = self
                .inner
                .idle
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl<T: Deliver> Drop for PreviewQueue<T> {
    /// What still waits is delivered now (without a preview), then the threads end.
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.stopping = true;
        state.backlog.close(Instant::now());
        drop(state);
        self.inner.queued.notify_all();
        self.inner.head.notify_all();
    }
}

impl<T> State<T> {
    /// A transcription took `took`: the average moves a fifth of the way to it (the first
    /// sets it).
    fn typical_took(&mut self, took: Duration) {
        self.typical = if self.typical.is_zero() {
            took
        } else {
            (self.typical * 4 + took) / 5
        };
    }
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A taken message is delivered.
    fn finished(&self) {
        let mut state = self.lock();
        state.backlog.finished();
        gauges(&state.backlog);
        if state.backlog.is_idle() {
            self.idle.notify_all();
        }
    }
}

fn gauges<T>(backlog: &Backlog<T>) {
    metrics::gauge!(telemetry::PREVIEW_QUEUE_DEPTH).set(backlog.waiting() as f64);
    metrics::gauge!(telemetry::PREVIEWS_IN_HAND).set(backlog.in_hand() as f64);
}

/// A worker: the oldest message, transcribed (or, if its deadline passed, not) and delivered.
fn work<T: Deliver>(inner: &Inner<T>) {
    lower_priority();
    loop {
        let taken = {
            let mut state = inner.lock();
            loop {
                let need = state.typical;
                if let Some(taken) = state.backlog.take(Instant::now(), need) {
                    gauges(&state.backlog);
                    break taken;
                }
                if state.stopping {
                    return;
                }
                state = inner.queued.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        match taken {
            Take::Transcribe { item, deadline } => {
                let _in_call = item.span.enter();
                let wav = item.item.recording();
                let started = Instant::now();
                let preview =
                    catch_unwind(AssertUnwindSafe(|| inner.previewer.preview(wav, deadline)))
                        .unwrap_or_else(|_| {
                            missed(&TranscribeError::Engine("the engine panicked".into()), 0.0);
                            None
                        });
                if preview.is_some() {
                    inner.lock().typical_took(started.elapsed());
                }
                deliver(item.item, preview);
            }
            Take::Late(item) => late(item),
        }
        inner.finished();
    }
}

/// The deliverer: wakes at the oldest message's deadline and delivers what is due without a
/// preview.
fn deliver_late<T: Deliver>(inner: &Inner<T>) {
    loop {
        let item = {
            let mut state = inner.lock();
            loop {
                let now = Instant::now();
                if let Some(item) = state.backlog.take_late(now) {
                    gauges(&state.backlog);
                    break item;
                }
                state = match state.backlog.poll_timeout() {
                    Some(at) => {
                        let left = at.saturating_duration_since(now);
                        inner
                            .head
                            .wait_timeout(state, left)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None if state.stopping => return,
                    None => inner.head.wait(state).unwrap_or_else(|e| e.into_inner()),
                };
            }
        };
        late(item);
        inner.finished();
    }
}

/// A message whose deadline passed while it waited: delivered without a preview.
fn late<T: Deliver>(entry: Entry<T>) {
    let _in_call = entry.span.enter();
    let waited = entry.queued.elapsed();
    missed(
        &TranscribeError::Late {
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        },
        waited.as_secs_f64(),
    );
    deliver(entry.item, None);
}

/// Delivers; a panic in the store path costs this message's delivery (its spool entry stays
/// for the next start), not the thread.
fn deliver<T: Deliver>(item: T, preview: Option<Preview>) {
    if catch_unwind(AssertUnwindSafe(|| item.deliver(preview))).is_err() {
        error!(
            "delivering a voice mail panicked: its recording stays in the spool for the next start"
        );
    }
}

/// Puts this thread below everything else for the CPU (see [`WORKER_NICE`]); a failure is
/// logged once per process.
fn lower_priority() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let nice = crate::net::os::thread_nice().max(WORKER_NICE);
    if let Err(e) = crate::net::os::set_thread_fair(nice, 0) {
        WARNED.call_once(|| {
            warn!(error = %e, nice, "cannot lower the transcription threads' CPU priority; they compete with the calls");
        });
    }
}

#[cfg(test)]
#[path = "queue_test.rs"]
mod test;
