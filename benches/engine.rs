//! The whole media engine, N simulated calls: per 20 ms tick every call receives one packet
//! (parse, RFC 3550 jitter, reorder buffer, record to WAV, decode, silence detection; every
//! tenth pair arrives swapped) and paces one prompt packet out. The figure is the cost of one
//! tick for N calls, i.e. the CPU a media worker spends per 20 ms.
//!
//! Before measuring, a counting allocator checks that the steady-state tick allocates nothing
//! (this also runs under `cargo test --all-targets`; it counts, it does not time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use umgw::media::dtmf::{DtmfReceiver, TelephoneEvent};
use umgw::media::g711::G711;
use umgw::media::jitter::JitterBuffer;
use umgw::media::pacer::{RtpSender, PACKET_LEN};
use umgw::media::player::Player;
use umgw::media::recorder::Recorder;
use umgw::media::rtp::{self, RtpHeader};
use umgw::media::stats::JitterEstimator;
use umgw::media::vad::SilenceDetector;
use umgw::media::FRAME_SAMPLES;

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
    reorder: JitterBuffer,
    jitter: JitterEstimator,
    recorder: Recorder,
    dtmf: DtmfReceiver,
    vad: SilenceDetector,
    sender: RtpSender,
    player: Player,
    seq: u16,
    packets: [[u8; 172]; 2],
    tx: [u8; PACKET_LEN],
    silent_frames: u64,
}

impl SimCall {
    fn new(dir: &std::path::Path, k: usize, start: Instant, prompt: &Arc<[i16]>) -> SimCall {
        let mut player = Player::new();
        player.enqueue(prompt.clone());
        SimCall {
            reorder: JitterBuffer::default(),
            jitter: JitterEstimator::default(),
            recorder: Recorder::create(&dir.join(format!("{k}.wav"))).expect("recording file"),
            dtmf: DtmfReceiver::new(),
            vad: SilenceDetector::default(),
            sender: RtpSender::new(start, G711::Pcmu, k as u32, 0, 0),
            player,
            seq: 0,
            packets: [[0; 172]; 2],
            tx: [0; PACKET_LEN],
            silent_frames: 0,
        }
    }

    fn write(&mut self, which: usize, seq: u16) {
        let p = &mut self.packets[which];
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

    fn tick(&mut self, now: Instant, slot: u64) {
        // Every tenth packet is held back one tick, so its successor overtakes it.
        let seq = self.seq;
        let order: &[u16] = match seq % 10 {
            3 => &[],
            4 => &[4, 3],
            _ => &[0],
        };
        for &d in order {
            let s = if order.len() == 2 { seq - 4 + d } else { seq };
            self.write(0, s);
            self.receive(slot);
        }
        self.seq = seq.wrapping_add(1);
        while let Some(n) = self
            .sender
            .poll_transmit(now, &mut self.player, &mut self.tx)
        {
            black_box(&self.tx[..n]);
        }
    }

    fn receive(&mut self, slot: u64) {
        let Ok(pkt) = rtp::parse(&self.packets[0]) else {
            return;
        };
        self.jitter.on_packet((slot * 160) as f64, pkt.timestamp);
        self.reorder.push(&pkt);
        while let Some(p) = self.reorder.pop() {
            if p.payload_type == 101 {
                if let Ok(ev) = TelephoneEvent::parse(p.payload) {
                    black_box(self.dtmf.handle(p.ssrc, p.timestamp, &ev));
                }
                continue;
            }
            self.recorder.push(G711::Pcmu, &p).expect("record");
            if self.recorder.packets() % 50 == 0 {
                self.recorder.flush().expect("flush");
            }
            let mut frame = [0i16; FRAME_SAMPLES];
            G711::Pcmu.decode(p.payload, &mut frame);
            if self.vad.is_silent(&frame) {
                self.silent_frames += 1;
            }
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
            c.tick(now, self.slot);
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
    assert!(engine.calls.iter().all(|c| c.reorder.counts().lost == 0));
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
