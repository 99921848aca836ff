use super::*;
use crate::media::dtmf::char_event;
use crate::media::rtp::RtpHeader;
use crate::media::srtp::SrtpSuite;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn peer() -> SocketAddr {
    "10.0.0.5:4000".parse().unwrap()
}

fn params(srtp: bool) -> SessionParams {
    let key: [u8; 30] = std::array::from_fn(|i| i as u8 * 3 + 1);
    SessionParams {
        codec: G711::Pcmu,
        payload_type: 0,
        telephone_event: Some(101),
        ptime_ms: 20,
        remote: peer(),
        srtp: srtp.then(|| {
            (
                SrtpContext::from_key_salt(SrtpSuite::AesCm128HmacSha1_80, &key),
                SrtpContext::from_key_salt(SrtpSuite::AesCm128HmacSha1_80, &key),
            )
        }),
        ice: None,
        silence_threshold_dbfs: -50.0,
        ssrc: 0xAB,
        sequence: 10,
        timestamp: 0,
    }
}

/// The peer's side: RTP (and SRTP with the same key, so the session can read it).
struct Peer {
    srtp: Option<SrtpContext>,
}

impl Peer {
    fn new(srtp: bool) -> Peer {
        Peer {
            srtp: params(srtp).srtp.map(|(inbound, _)| inbound),
        }
    }

    fn packet(&mut self, pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 12 + payload.len() + 16];
        RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x77,
        }
        .write(&mut buf);
        buf[12..12 + payload.len()].copy_from_slice(payload);
        let mut len = 12 + payload.len();
        if let Some(ctx) = self.srtp.as_mut() {
            len = ctx.protect(&mut buf, len).unwrap();
        }
        buf.truncate(len);
        buf
    }

    fn audio(&mut self, seq: u16, level: i16, samples: usize) -> Vec<u8> {
        let mut enc = vec![0u8; samples];
        G711::Pcmu.encode(&vec![level; samples], &mut enc);
        self.packet(0, seq, u32::from(seq) * samples as u32, &enc)
    }

    fn digit(&mut self, seq: u16, key: char, end: bool) -> Vec<u8> {
        let mut ev = [0u8; 4];
        crate::media::dtmf::TelephoneEvent {
            event: char_event(key).unwrap(),
            end,
            volume: 10,
            duration: 480,
        }
        .write(&mut ev);
        self.packet(101, seq, 16_000, &ev)
    }
}

fn events(s: &mut Session) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn recorder(dir: &tempfile::TempDir) -> Recorder {
    Recorder::create(&dir.path().join("r.wav")).unwrap()
}

#[test]
fn digits_are_reported_once_in_sequence_order_through_srtp() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, params(true));
    let mut p = Peer::new(true);
    for (k, end) in [(0u16, false), (1, false), (2, true), (3, true), (4, true)] {
        s.handle_datagram(t0 + MS * k.into(), peer(), &mut p.digit(k + 1, '#', end));
    }
    assert_eq!(events(&mut s), [MediaEvent::Digit('#')]);
    assert_eq!(s.packets_in(), 5);
    // A forged packet (wrong key) is counted, never heard.
    let mut forger = Peer {
        srtp: Some(SrtpContext::from_key_salt(
            SrtpSuite::AesCm128HmacSha1_80,
            &[9; 30],
        )),
    };
    s.handle_datagram(t0, peer(), &mut forger.digit(9, '5', true));
    assert_eq!(events(&mut s), []);
    assert_eq!(s.srtp_failures(), 1);
}

#[test]
fn a_stray_source_is_latched_out() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, params(false));
    let mut p = Peer::new(false);
    s.handle_datagram(t0, peer(), &mut p.digit(1, '1', true));
    let stray: SocketAddr = "10.0.0.5:4100".parse().unwrap();
    s.handle_datagram(t0 + MS, stray, &mut p.digit(50, '9', true));
    assert_eq!(events(&mut s), [MediaEvent::Digit('1')]);
    assert_eq!(s.foreign(), 1);
    assert_eq!(s.stats().foreign, 1);
}

#[test]
fn recording_hears_packets_in_order_in_20_ms_frames_whatever_the_ptime() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut s = Session::new(t0, params(false));
    let mut p = Peer::new(false);
    s.record_to(recorder(&dir));
    // 60 ms packets 1, 3, 2: the reorder buffer holds 3 until 2 comes.
    s.handle_datagram(t0, peer(), &mut p.audio(1, 3000, 480));
    s.handle_datagram(t0 + 60 * MS, peer(), &mut p.audio(3, 0, 480));
    s.handle_datagram(t0 + 70 * MS, peer(), &mut p.audio(2, 3000, 480));
    let heard = events(&mut s);
    let loud = |recorded| MediaEvent::Audio {
        silent: false,
        recorded,
    };
    let quiet = |recorded| MediaEvent::Audio {
        silent: true,
        recorded,
    };
    assert_eq!(
        heard,
        [
            loud(160),
            loud(320),
            loud(480),
            loud(640),
            loud(800),
            loud(960),
            quiet(1120),
            quiet(1280),
            quiet(1440)
        ]
    );
    assert_eq!(s.recorded_samples(), 1440);
    assert_eq!(s.stats().reordered, 1);
}

#[test]
fn stopping_a_recording_writes_what_waited_for_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let mut s = Session::new(t0, params(false));
    let mut p = Peer::new(false);
    s.record_to(recorder(&dir));
    s.handle_datagram(t0, peer(), &mut p.audio(1, 3000, 160));
    // 2 is lost; 3 waits for it.
    s.handle_datagram(t0 + 40 * MS, peer(), &mut p.audio(3, 3000, 160));
    assert_eq!(s.recorded_samples(), 160);
    let rec = s.stop_recording().unwrap();
    // 3 went in after a 20 ms gap of silence.
    assert_eq!(rec.samples(), 480);
    assert_eq!(rec.finish(None).unwrap().samples, 480);
    assert_eq!(s.stats().lost, 1);
}

#[test]
fn prompts_go_out_on_the_packet_clock_and_report_their_end() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, params(true));
    assert_eq!(s.poll_timeout(), None, "nothing plays");
    s.play(Arc::from(vec![500i16; 400])); // two full packets and a padded one
    let mut buf = [0u8; 200];
    let mut rx = Peer::new(true).srtp.unwrap();
    let mut sent = Vec::new();
    for k in 0..5u32 {
        let now = t0 + 20 * MS * k;
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            assert_eq!(t.destination, peer());
            let len = rx.unprotect(&mut buf[..t.len]).unwrap();
            let pkt = rtp::parse(&buf[..len]).unwrap();
            sent.push((pkt.sequence, pkt.timestamp, pkt.payload.len()));
        }
        if k == 2 {
            assert_eq!(events(&mut s), [MediaEvent::PlaybackDone]);
        }
    }
    assert_eq!(sent, [(10, 0, 160), (11, 160, 160), (12, 320, 160)]);
    assert_eq!(s.packets_out(), 3);
    assert_eq!(events(&mut s), []);
    // A missing prompt finishes at once.
    s.play(Arc::from(Vec::new()));
    assert_eq!(events(&mut s), [MediaEvent::PlaybackDone]);
}

#[test]
fn a_failed_write_stops_the_recording_once() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, params(false));
    let mut p = Peer::new(false);
    // A disk that is full: /dev/full takes the buffered header, then refuses every write.
    let rec = Recorder::create(std::path::Path::new("/dev/full")).unwrap();
    s.record_to(rec);
    for k in 1..200u16 {
        s.handle_datagram(t0 + 20 * MS * k.into(), peer(), &mut p.audio(k, 3000, 160));
    }
    let failed = events(&mut s)
        .into_iter()
        .filter(|e| *e == MediaEvent::RecordFailed)
        .count();
    assert_eq!(failed, 1);
    assert!(s.record_error().unwrap().starts_with("write failed"));
}

#[test]
fn relayed_packets_lose_srtp_on_one_leg_and_gain_it_on_the_other() {
    let t0 = Instant::now();
    let mut caller = Session::new(t0, params(true));
    let mut leg = Session::new(
        t0,
        SessionParams {
            remote: "192.0.2.9:7000".parse().unwrap(),
            ..params(false)
        },
    );
    let mut p = Peer::new(true);
    let mut buf = p.audio(1, 1000, 160);
    let len = caller.handle_relay(t0, peer(), &mut buf).unwrap();
    assert_eq!(len, 172, "plain RTP");
    let out = leg.relay_transmit(&mut buf, len).unwrap();
    assert_eq!(out.destination, "192.0.2.9:7000".parse().unwrap());
    assert_eq!(out.len, 172);
    // Back the other way: the caller's leg encrypts.
    let mut back = Peer::new(false).audio(5, 1000, 160);
    back.resize(172 + SRTP_TAG_ROOM, 0);
    let len = leg
        .handle_relay(t0, "192.0.2.9:7000".parse().unwrap(), &mut back[..172])
        .unwrap();
    let out = caller.relay_transmit(&mut back, len).unwrap();
    assert_eq!(out.len, 172 + 10);
    assert_eq!(out.destination, peer());
}

#[test]
fn with_ice_a_nominated_check_moves_media_and_the_latch_and_stun_skips_srtp() {
    use crate::media::ice::{IceCredentials, IceLite};
    use crate::media::stun::tests_support::binding_request;
    let t0 = Instant::now();
    let local = IceCredentials {
        ufrag: "gwUF".into(),
        pwd: "gateway-password-0123456".into(),
    };
    let mut s = Session::new(
        t0,
        SessionParams {
            ice: Some(IceLite::new(local)),
            ..params(true)
        },
    );
    // The default candidate is a relay; the peer's host path (another IP) checks and is
    // nominated.
    let host: SocketAddr = "10.9.9.9:5000".parse().unwrap();
    let mut forged = binding_request(b"gwUF:peer", b"not-the-password-at-all", 9, true, [1; 12]);
    s.handle_datagram(t0, host, &mut forged);
    let mut check = binding_request(b"gwUF:peer", b"gateway-password-0123456", 9, true, [2; 12]);
    s.handle_datagram(t0, host, &mut check);
    assert_eq!(s.remote(), host);
    assert_eq!(s.ice_checks(), Some((1, 1)));
    assert_eq!(s.srtp_failures(), 0, "STUN never reaches SRTP");
    // The answer goes out first, to the checking address, unencrypted.
    let mut buf = vec![0u8; s.packet_room()];
    let t = s.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!(t.destination, host);
    assert_eq!((&buf[..2], &buf[8..20]), (&[1u8, 1][..], &[2u8; 12][..]));
    // Media from the nominated path is the caller's now; the old default address is foreign.
    let mut p = Peer::new(true);
    let dir = tempfile::tempdir().unwrap();
    s.record_to(recorder(&dir));
    s.handle_datagram(t0, host, &mut p.audio(1, 1000, 160));
    s.handle_datagram(t0, peer(), &mut p.audio(2, 1000, 160));
    assert_eq!(s.packets_in(), 1);
    assert_eq!(s.foreign(), 1);
}

#[test]
fn a_fax_tone_is_reported_once_while_listening_recorded_or_not() {
    let t0 = Instant::now();
    let cng = crate::media::prompts::tone(1100.0, 500, 0.3);
    let silence = vec![0i16; 1600];
    let mut s = Session::new(t0, params(false));
    let mut p = Peer::new(false);
    let mut send = |s: &mut Session, seq: &mut u16, samples: &[i16]| {
        for frame in samples.chunks(160) {
            let mut enc = vec![0u8; frame.len()];
            G711::Pcmu.encode(frame, &mut enc);
            let mut pkt = p.packet(0, *seq, u32::from(*seq) * 160, &enc);
            s.handle_datagram(t0 + u32::from(*seq) * 20 * MS, peer(), &mut pkt);
            *seq += 1;
        }
    };
    // Not listening: nothing (and nothing recorded either).
    let mut seq = 1u16;
    send(&mut s, &mut seq, &cng);
    send(&mut s, &mut seq, &silence);
    assert!(events(&mut s).is_empty());
    // Listening, before any recording: one FaxTone at the end of the burst.
    s.listen_for_fax(true);
    send(&mut s, &mut seq, &cng);
    send(&mut s, &mut seq, &silence);
    assert_eq!(events(&mut s), [MediaEvent::FaxTone]);
    // Once heard it is not reported again.
    send(&mut s, &mut seq, &cng);
    send(&mut s, &mut seq, &silence);
    assert!(events(&mut s).is_empty());
    // While recording, among the recording's frames.
    let dir = tempfile::tempdir().unwrap();
    s.record_to(recorder(&dir));
    s.listen_for_fax(true);
    send(&mut s, &mut seq, &cng);
    send(&mut s, &mut seq, &silence);
    let heard = events(&mut s);
    assert_eq!(
        heard.iter().filter(|e| **e == MediaEvent::FaxTone).count(),
        1,
        "{heard:?}"
    );
    assert_eq!(s.recorded_samples(), (cng.len() + silence.len()) as u64);
}
