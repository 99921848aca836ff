//! The shared 20 ms media clock: one thread serving every call, instead of a timer per call.
//!
//! The thread sleeps to absolute deadlines and publishes each tick through a `watch` channel
//! per phase; a call awaits its phase's tick, then drains its socket (received packets
//! wait in the kernel buffer until the tick: a batch per call per 20 ms instead of a wake-up
//! per packet), paces its outgoing RTP and ticks its flow. The clocks are staggered across
//! the frame (20 phases, 1 ms apart) so that calls do not all run at the same instant.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use tokio::sync::watch;

use crate::media::FRAME;

/// Phases of the 20 ms frame, 1 ms apart. Calls are spread over them so that each phase's
/// wake-up is a small batch (N/20 calls) and a call's position in its batch, hence its send
/// time, varies little from tick to tick.
const PHASES: u32 = 20;

/// The clock of the process, started on first use.
struct Clocks {
    ticks: Vec<watch::Receiver<Instant>>,
    next: AtomicUsize,
}

static CLOCKS: OnceLock<Clocks> = OnceLock::new();

fn start() -> Clocks {
    let origin = Instant::now();
    let step = FRAME / PHASES;
    let (senders, ticks): (Vec<_>, Vec<_>) = (0..PHASES)
        .map(|k| watch::channel(origin + step * k))
        .unzip();
    let spawned = std::thread::Builder::new()
        .name("umgw-media-clock".into())
        .spawn(move || run(&senders, origin, step));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the media clock thread");
    }
    Clocks {
        ticks,
        next: AtomicUsize::new(0),
    }
}

/// Ticks phase `k mod PHASES` every `step`, so each phase ticks every 20 ms, for the life of
/// the process (`CLOCKS` keeps a receiver of every phase).
fn run(senders: &[watch::Sender<Instant>], origin: Instant, step: std::time::Duration) {
    let mut n: u32 = 0;
    let mut deadline = origin;
    loop {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        // The scheduled instant, not the wake-up time: pacers whose slots start on a tick then
        // serve exactly one slot per tick, whatever the wake-up latency.
        senders[(n % PHASES) as usize].send_replace(deadline);
        n = n.wrapping_add(1);
        deadline += step;
        let now = Instant::now();
        if deadline + FRAME < now {
            // Far behind (the process was stopped): skip whole frames rather than burst.
            let behind = (now - deadline).as_nanos() / FRAME.as_nanos();
            deadline += FRAME * behind as u32;
        }
    }
}

/// A call's subscription to one worker's clock (round robin over the workers). The value is
/// the scheduled instant of the latest tick; ticks follow every [`FRAME`].
pub(super) fn subscribe() -> watch::Receiver<Instant> {
    let clocks = CLOCKS.get_or_init(start);
    let k = clocks.next.fetch_add(1, Ordering::Relaxed) % clocks.ticks.len();
    let mut rx = clocks.ticks[k].clone();
    // Only ticks from now on count.
    rx.mark_unchanged();
    rx
}
