//! The whole media engine, N simulated calls on the real `media::Session`: per 20 ms tick every
//! call receives one packet (parse, source latch, RFC 3550 jitter, reorder buffer, record to WAV,
//! decode, silence detection; every tenth pair arrives swapped) and paces one prompt packet out.
//! The figure is the cost of one tick for N calls, i.e. the CPU a media worker spends per 20 ms.
//!
//! Before measuring, a counting allocator checks that the steady-state tick allocates nothing
//! (this also runs under `cargo test --all-targets`; it counts, it does not time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use umgw::media::g711::G711;
use umgw::media::recorder::Recorder;
use umgw::media::rtp::RtpHeader;
use umgw::media::session::{MediaEvent, Session, SessionParams};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct SimCall {
    media: Session,
    seq: u16,
    packet: [u8; 172],
    tx: Box<[u8]>,
    silent_frames: u64,
}

/// Where the simulated callers' media comes from.
const PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5)),
    4000,
);

impl SimCall {
    fn new(dir: &std::path::Path, k: usize, start: Instant, prompt: &Arc<[i16]>) -> SimCall {
        let mut media = Session::new(
            start,
            SessionParams {
                codec: G711::Pcmu,
                payload_type: 0,
                telephone_event: Some(101),
                ptime_ms: 20,
                remote: PEER,
                srtp: None,
                ice: None,
                silence_threshold_dbfs: -50.0,
                ssrc: k as u32,
                sequence: 0,
                timestamp: 0,
            },
        );
        media.play(prompt.clone());
        media.record_to(Recorder::create(&dir.join(format!("{k}.wav"))).expect("recording file"));
        SimCall {
            tx: vec![0; media.packet_room()].into_boxed_slice(),
            media,
            seq: 0,
            packet: [0; 172],
            silent_frames: 0,
        }
    }

    fn write(&mut self, seq: u16) {
        let p = &mut self.packet;
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq).wrapping_mul(160),
            ssrc: 7,
        }
        .write(p);
        for (i, b) in p[12..].iter_mut().enumerate() {
            *b = (i as u16 * 37 + seq) as u8;
        }
    }

    fn tick(&mut self, now: Instant) {
        // Every tenth packet is held back one tick, so its successor overtakes it.
        let seq = self.seq;
        let order: &[u16] = match seq % 10 {
            3 => &[],
            4 => &[4, 3],
            _ => &[0],
        };
        for &d in order {
            let s = if order.len() == 2 { seq - 4 + d } else { seq };
            self.write(s);
            self.media.handle_datagram(now, PEER, &mut self.packet);
            while let Some(event) = self.media.poll_event() {
                if let MediaEvent::Audio { silent: true, .. } = event {
                    self.silent_frames += 1;
                }
                black_box(event);
            }
        }
        self.seq = seq.wrapping_add(1);
        while let Some(t) = self.media.poll_transmit(now, &mut self.tx) {
            black_box(&self.tx[..t.len]);
        }
    }
}

struct Engine {
    calls: Vec<SimCall>,
    start: Instant,
    slot: u64,
    _dir: tempfile::TempDir,
}

impl Engine {
    fn new(n: usize) -> Engine {
        let dir = tempfile::tempdir().expect("temp dir");
        let start = Instant::now();
        let prompt: Arc<[i16]> = Arc::from(vec![1000i16; 8000 * 600]);
        let calls = (0..n)
            .map(|k| SimCall::new(dir.path(), k, start, &prompt))
            .collect();
        Engine {
            calls,
            start,
            slot: 0,
            _dir: dir,
        }
    }

    /// One 20 ms tick of simulated time for every call.
    fn tick(&mut self) {
        self.slot += 1;
        let now = self.start + Duration::from_millis(20 * self.slot);
        for c in &mut self.calls {
            c.tick(now);
        }
    }
}

/// Zero allocations per packet once the calls are running (buffers warmed up).
fn check_no_allocation() {
    let mut engine = Engine::new(20);
    for _ in 0..100 {
        engine.tick();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..500 {
        engine.tick();
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    println!("engine: {allocs} allocations in 500 ticks x 20 calls (steady state)");
    assert_eq!(allocs, 0, "the steady-state media tick allocates");
    assert!(engine.calls.iter().all(|c| c.media.stats().lost == 0));
    assert!(engine
        .calls
        .iter()
        .all(|c| c.media.recorded_samples() > 500 * 160));
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_tick");
    for n in [100usize, 1000] {
        let mut engine = Engine::new(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n}_calls"), |b| b.iter(|| engine.tick()));
    }
    g.finish();
}

criterion_group!(benches, engine);

fn main() {
    check_no_allocation();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
