//! The per-packet media path: parse RTP, decode G.711, level detection, fax tone detection,
//! DTMF, record to WAV, and the outbound pacer. Each is measured per 20 ms packet.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use umgw::media::cng::CngDetector;
use umgw::media::dtmf::{DtmfReceiver, TelephoneEvent};
use umgw::media::g711::G711;
use umgw::media::pacer::{RtpSender, PACKET_LEN};
use umgw::media::player::Player;
use umgw::media::recorder::Recorder;
use umgw::media::rtp::{self, RtpHeader};
use umgw::media::vad::SilenceDetector;

fn packet(seq: u16, ts: u32) -> [u8; 172] {
    let mut p = [0u8; 172];
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: ts,
        ssrc: 7,
    }
    .write(&mut p);
    for (i, b) in p[12..].iter_mut().enumerate() {
        *b = (i * 37) as u8;
    }
    p
}

fn receive_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive");
    g.throughput(Throughput::Elements(1));
    let p = packet(1, 160);
    g.bench_function("rtp_parse", |b| b.iter(|| rtp::parse(black_box(&p)).ok()));
    let mut frame = [0i16; 160];
    g.bench_function("pcmu_decode_160", |b| {
        b.iter(|| G711::Pcmu.decode(black_box(&p[12..]), &mut frame))
    });
    let vad = SilenceDetector::default();
    g.bench_function("silence_detect_160", |b| {
        b.iter(|| vad.is_silent(black_box(&frame)))
    });
    // The fax (CNG) detector on a 20 ms frame of speech-like audio, as in the first seconds
    // of a deposit.
    let mut cng = CngDetector::new();
    g.bench_function("cng_detect_160", |b| b.iter(|| cng.push(black_box(&frame))));
    let ev = [11u8, 0x0a, 0x00, 0xa0];
    let mut dtmf = DtmfReceiver::new();
    let mut ts = 0u32;
    g.bench_function("rfc4733_event", |b| {
        b.iter(|| {
            ts = ts.wrapping_add(1);
            let e = TelephoneEvent::parse(black_box(&ev)).ok()?;
            dtmf.handle(1, ts, &e)
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(&dir.path().join("bench.wav")).unwrap();
    let (mut seq, mut ts) = (0u16, 0u32);
    g.bench_function("decode_and_record", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            let bytes = packet(seq, ts);
            let pkt = rtp::parse(&bytes).unwrap();
            rec.push(G711::Pcmu, &pkt).unwrap();
        })
    });
    g.finish();
}

fn send_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("send");
    g.throughput(Throughput::Elements(1));
    let prompt: Arc<[i16]> = Arc::from(vec![1000i16; 8000 * 60]);
    let start = Instant::now();
    let mut sender = RtpSender::new(start, G711::Pcmu, 1, 0, 0);
    let mut player = Player::new();
    let mut out = [0u8; PACKET_LEN];
    let mut slot = 0u64;
    g.bench_function("pace_encode_packet", |b| {
        b.iter(|| {
            if !player.is_playing() {
                player.enqueue(prompt.clone());
            }
            slot += 1;
            let now = start + Duration::from_millis(20 * slot);
            sender.poll_transmit(now, &mut player, &mut out)
        })
    });
    g.finish();
}

criterion_group!(benches, receive_path, send_path);
criterion_main!(benches);
