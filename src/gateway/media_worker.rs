//! Media workers: one thread per core, each owning the media of the calls given to it.
//!
//! A worker keeps its calls in 20 phase buckets, 1 ms apart, and wakes once per millisecond
//! to tick one bucket: every call in it sends the RTP that is due, reads its socket with one
//! `recvmmsg` every few ticks (packets wait in the kernel buffer until then) and steps its
//! flow. A call with nothing to send asks to be ticked only every few frames, and the worker
//! passes it over in between without touching its state: with thousands of calls that state
//! is not in the CPU's caches, so each touch costs memory stalls. A call costs
//! no task, timer or wake-up of its own; its sockets are not registered with the async
//! reactor, so an arriving packet wakes nobody. Work that may block (storage, SIP) is handed
//! to the runtime by the call itself and its result polled on a later tick.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::{error, warn};

use crate::media::FRAME;
use crate::net::udp_batch::Batch;

/// Phases of the 20 ms frame, 1 ms apart: each wake-up of a worker serves 1/20 of its calls,
/// so a call's position in its batch, hence its send time, varies little from tick to tick.
const PHASES: usize = 20;

/// Datagrams read per `recvmmsg`: a quiet call reads three packets at a time (`runner.rs`),
/// with room for a burst.
const RX_BATCH: usize = 8;

/// A tick that starts this late delays its calls' prompt packets noticeably (counted in
/// `umgw_media_ticks_late_total`: the workers lack CPU).
const LATE: Duration = Duration::from_millis(2);

/// Large enough for any RTP packet on an Ethernet path.
const MAX_DATAGRAM: usize = 1500;

/// When a call wants its next tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// After this many 20 ms frames (1: the next frame; 0 counts as 1).
    Frames(u8),
    /// The call is over; the worker drops it.
    Done,
}

/// A call whose media a worker drives.
pub(super) trait MediaCall: Send {
    /// One tick at the scheduled instant `now`: send what is due, read what arrived (into
    /// the worker's shared `rx` buffers), step the flow.
    fn tick(&mut self, now: Instant, rx: &mut Batch) -> Next;
}

/// A call and the frames until its next tick.
struct Slot {
    wait: u8,
    call: Box<dyn MediaCall>,
}

struct Workers {
    inboxes: Vec<Sender<Box<dyn MediaCall>>>,
    next: AtomicUsize,
}

static WORKERS: OnceLock<Workers> = OnceLock::new();

/// How the workers are scheduled (`media.worker_nice`, `media.worker_realtime_priority`,
/// `media.worker_slice_us`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Priority {
    nice: i32,
    realtime: u8,
    slice_us: u32,
}

impl From<&crate::config::MediaConfig> for Priority {
    fn from(m: &crate::config::MediaConfig) -> Self {
        Priority {
            nice: m.worker_nice,
            realtime: m.worker_realtime_priority,
            slice_us: m.worker_slice_us,
        }
    }
}

/// Starts the workers, one per core, scheduled per `priority`. Calls made before (in tests)
/// start them with the default configuration.
pub(super) fn init(priority: Priority) {
    WORKERS.get_or_init(|| start(priority));
}

/// Gives `call` to a worker (round robin). Fails (handing the call back) only if no worker
/// thread could be started.
pub(super) fn spawn(call: Box<dyn MediaCall>) -> Result<(), Box<dyn MediaCall>> {
    let workers =
        WORKERS.get_or_init(|| start(Priority::from(&crate::config::MediaConfig::default())));
    if workers.inboxes.is_empty() {
        return Err(call);
    }
    let k = workers.next.fetch_add(1, Ordering::Relaxed) % workers.inboxes.len();
    workers.inboxes[k].send(call).map_err(|e| e.0)
}

fn start(priority: Priority) -> Workers {
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    let inboxes = (0..count)
        .filter_map(|i| {
            let (tx, rx) = mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name(format!("umgw-media-{i}"))
                .spawn(move || run(&rx, priority));
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    error!(error = %e, "cannot start a media worker thread");
                    None
                }
            }
        })
        .collect();
    Workers {
        inboxes,
        next: AtomicUsize::new(0),
    }
}

/// A worker's calls, by phase.
struct Schedule {
    phases: Vec<Vec<Slot>>,
    live: usize,
}

impl Schedule {
    fn new() -> Self {
        Schedule {
            phases: (0..PHASES).map(|_| Vec::new()).collect(),
            live: 0,
        }
    }

    /// Places a new call in the least busy phase.
    fn add(&mut self, call: Box<dyn MediaCall>) {
        if let Some(bucket) = self.phases.iter_mut().min_by_key(|b| b.len()) {
            bucket.push(Slot { wait: 1, call });
            self.live += 1;
        }
    }

    /// Ticks the calls of phase `k` that are due, dropping the calls that end (or panic: one
    /// broken call must not take the worker's other calls with it).
    fn tick(&mut self, k: usize, now: Instant, rx: &mut Batch) {
        let bucket = &mut self.phases[k % PHASES];
        let before = bucket.len();
        bucket.retain_mut(|slot| {
            slot.wait = slot.wait.saturating_sub(1);
            if slot.wait > 0 {
                return true;
            }
            match catch_unwind(AssertUnwindSafe(|| slot.call.tick(now, rx))) {
                Ok(Next::Frames(n)) => {
                    slot.wait = n.max(1);
                    true
                }
                Ok(Next::Done) => false,
                Err(_) => {
                    error!("media call panicked; dropped");
                    false
                }
            }
        });
        self.live -= before - bucket.len();
    }
}

/// Schedules this thread per `priority`: SCHED_RR when a real-time priority is set and
/// allowed, else its nice value and time slice (0 leaves each alone).
fn set_priority(priority: Priority) {
    // Every worker fails the same way: say it once per process, not once per worker.
    static WARNED: std::sync::Mutex<Vec<&str>> = std::sync::Mutex::new(Vec::new());
    let warn = |error: std::io::Error, what: &'static str| {
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if warned.contains(&what) {
            return;
        }
        warned.push(what);
        warn!(
            ?priority, %error,
            "cannot give the media workers {what}; prompts may be paced less evenly on a busy host"
        );
    };
    if priority.realtime > 0 {
        let Err(error) = crate::net::os::set_thread_realtime(i32::from(priority.realtime)) else {
            return;
        };
        warn(
            error,
            "a real-time priority (needs CAP_SYS_NICE or LimitRTPRIO; falling back to \
             media.worker_nice and media.worker_slice_us)",
        );
    }
    if priority.nice == 0 && priority.slice_us == 0 {
        return;
    }
    let own_nice = current_nice();
    let nice = if priority.nice == 0 {
        own_nice
    } else {
        priority.nice
    };
    match set_fair(nice, priority.slice_us) {
        Ok(()) => {}
        Err(error) if nice < own_nice => {
            warn(
                error,
                "a lower nice value (needs CAP_SYS_NICE or LimitNICE)",
            );
            if priority.slice_us != 0 {
                if let Err(error) = set_fair(own_nice, priority.slice_us) {
                    warn(error, "a shorter time slice");
                }
            }
        }
        Err(error) => warn(error, "its nice value and time slice"),
    }
}

/// This thread's nice value.
fn current_nice() -> i32 {
    crate::net::os::thread_nice()
}

/// Sets this thread to SCHED_OTHER at `nice` with a time slice of `slice_us` (0: the
/// kernel's). Since Linux 6.12 the slice is the EEVDF request size and a waking thread with a
/// shorter slice than the running one preempts it; older kernels ignore it.
fn set_fair(nice: i32, slice_us: u32) -> std::io::Result<()> {
    crate::net::os::set_thread_fair(nice, slice_us)
}

fn run(inbox: &Receiver<Box<dyn MediaCall>>, priority: Priority) {
    set_priority(priority);
    let step = FRAME / PHASES as u32;
    let mut calls = Schedule::new();
    let mut rx = Batch::new(RX_BATCH, MAX_DATAGRAM);
    let mut deadline = Instant::now();
    let mut k = 0usize;
    loop {
        if calls.live == 0 {
            // Nothing to pace: block until a call comes rather than tick an empty schedule.
            match inbox.recv() {
                Ok(call) => calls.add(call),
                Err(_) => return,
            }
            deadline = deadline.max(Instant::now());
        }
        loop {
            match inbox.try_recv() {
                Ok(call) => calls.add(call),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        if Instant::now().saturating_duration_since(deadline) > LATE {
            metrics::counter!(crate::telemetry::MEDIA_TICKS_LATE).increment(1);
        }
        // The scheduled instant, not the wake-up time: a pacer then serves exactly one
        // 20 ms slot per tick, whatever the wake-up latency.
        calls.tick(k, deadline, &mut rx);
        k = (k + 1) % PHASES;
        deadline = next_deadline(deadline, step, Instant::now());
    }
}

/// The instant of the next phase. Far behind (the process was stopped), whole frames are
/// skipped rather than burst through, so each phase keeps its place in the frame.
fn next_deadline(deadline: Instant, step: Duration, now: Instant) -> Instant {
    let next = deadline + step;
    if next + FRAME < now {
        let behind = (now - next).as_nanos() / FRAME.as_nanos();
        return next + FRAME * behind as u32;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records its tick instants; asks for a tick every `every` frames; ends after `ticks`.
    struct Probe {
        seen: Arc<Mutex<Vec<Instant>>>,
        ticks: usize,
        every: u8,
    }

    impl MediaCall for Probe {
        fn tick(&mut self, now: Instant, _rx: &mut Batch) -> Next {
            let mut seen = self.seen.lock().unwrap();
            seen.push(now);
            if seen.len() < self.ticks {
                Next::Frames(self.every)
            } else {
                Next::Done
            }
        }
    }

    struct Panics;

    impl MediaCall for Panics {
        fn tick(&mut self, _now: Instant, _rx: &mut Batch) -> Next {
            panic!("broken call")
        }
    }

    #[test]
    fn calls_spread_over_phases_and_tick_once_per_frame() {
        let mut s = Schedule::new();
        let seen: Vec<_> = (0..40).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
        for log in &seen {
            s.add(Box::new(Probe {
                seen: log.clone(),
                ticks: 3,
                every: 1,
            }));
        }
        assert!(s.phases.iter().all(|b| b.len() == 2), "two calls per phase");
        let mut rx = Batch::new(1, 16);
        let t0 = Instant::now();
        let step = FRAME / PHASES as u32;
        for n in 0..PHASES * 3 {
            s.tick(n, t0 + step * n as u32, &mut rx);
        }
        assert_eq!(s.live, 0, "every call ended after three ticks");
        for log in &seen {
            let ticks = log.lock().unwrap();
            assert_eq!(ticks.len(), 3);
            assert!(ticks.windows(2).all(|w| w[1] - w[0] == FRAME));
        }
    }

    #[test]
    fn a_panicking_call_is_dropped_alone() {
        let mut s = Schedule::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        s.add(Box::new(Panics));
        s.phases[0].push(Slot {
            wait: 1,
            call: Box::new(Probe {
                seen: log.clone(),
                ticks: 10,
                every: 1,
            }),
        });
        s.live += 1;
        let mut rx = Batch::new(1, 16);
        s.tick(0, Instant::now(), &mut rx);
        assert_eq!(s.live, 1);
        assert_eq!(
            log.lock().unwrap().len(),
            1,
            "the healthy call still ticked"
        );
    }

    #[test]
    fn a_call_is_ticked_as_often_as_it_asks() {
        let mut s = Schedule::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        s.add(Box::new(Probe {
            seen: log.clone(),
            ticks: 4,
            every: 3,
        }));
        let mut rx = Batch::new(1, 16);
        let t0 = Instant::now();
        let step = FRAME / PHASES as u32;
        for n in 0..PHASES * 12 {
            s.tick(n, t0 + step * n as u32, &mut rx);
        }
        assert_eq!(s.live, 0);
        let ticks = log.lock().unwrap();
        assert_eq!(ticks.len(), 4);
        assert!(
            ticks.windows(2).all(|w| w[1] - w[0] == FRAME * 3),
            "{ticks:?}"
        );
    }

    #[test]
    fn a_worker_thread_gets_the_time_slice_it_asks_for() {
        std::thread::spawn(|| {
            set_fair(current_nice(), 300).expect("sched_setattr needs no privilege");
            let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap_or_default();
            // Kernels before 6.12 (or without sched debug) show no per-thread slice.
            if let Some(line) = sched.lines().find(|l| l.starts_with("se.slice")) {
                assert!(line.ends_with(" 300000"), "{line}");
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_stopped_process_skips_whole_frames() {
        let t0 = Instant::now();
        let step = Duration::from_millis(1);
        assert_eq!(next_deadline(t0, step, t0), t0 + step);
        let late = next_deadline(t0, step, t0 + Duration::from_millis(95));
        assert_eq!((late - t0).as_millis() % 20, 1, "same phase of the frame");
        assert!(late + FRAME >= t0 + Duration::from_millis(95));
    }
}
