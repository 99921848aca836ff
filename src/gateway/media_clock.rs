//! The shared 20 ms media clocks: one per media worker, each serving every call registered
//! with it, instead of a timer per call.
//!
//! A clock is a thread that sleeps to absolute 20 ms deadlines and publishes the tick through a
//! `watch` channel; a call awaits its clock's tick, then drains its socket (received packets
//! wait in the kernel buffer until the tick: a batch per call per 20 ms instead of a wake-up
//! per packet), paces its outgoing RTP and ticks its flow. The clocks are staggered across
//! the frame so that the calls of different workers do not all run at the same instant.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use tokio::sync::watch;

use crate::media::FRAME;

/// The clocks of the process, started on first use.
struct Clocks {
    ticks: Vec<watch::Receiver<Instant>>,
    next: AtomicUsize,
}

static CLOCKS: OnceLock<Clocks> = OnceLock::new();

fn start() -> Clocks {
    // One clock per core: each clock's calls are woken together, so a core takes one clock's
    // batch while another core takes the next.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let origin = Instant::now();
    let ticks = (0..workers)
        .map(|k| {
            let (tx, rx) = watch::channel(origin);
            let offset = FRAME * k as u32 / workers as u32;
            let spawned = std::thread::Builder::new()
                .name(format!("umgw-clock-{k}"))
                .spawn(move || run(tx, origin + offset));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a media clock thread");
            }
            rx
        })
        .collect();
    Clocks {
        ticks,
        next: AtomicUsize::new(0),
    }
}

/// Ticks every 20 ms from `first` for the life of the process (`CLOCKS` keeps a receiver).
fn run(tx: watch::Sender<Instant>, first: Instant) {
    let mut deadline = first;
    loop {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        let now = Instant::now();
        tx.send_replace(now);
        deadline += FRAME;
        if deadline + FRAME < now {
            // Far behind (the process was stopped): resume from now rather than burst.
            deadline = now + FRAME;
        }
    }
}

/// A call's subscription to one worker's clock (round robin over the workers).
pub(super) fn subscribe() -> watch::Receiver<Instant> {
    let clocks = CLOCKS.get_or_init(start);
    let k = clocks.next.fetch_add(1, Ordering::Relaxed) % clocks.ticks.len();
    let mut rx = clocks.ticks[k].clone();
    // Only ticks from now on count.
    rx.mark_unchanged();
    rx
}
