//! Property tests across the hostile-input surface: SIP round trip, RTP sequence wrap in the
//! recorder, RFC 4733 end-event dedup, and never-panic for every parser on arbitrary bytes and on
//! mutated valid inputs (the torture vectors, the SDP and Lync samples, the shipped dial plans),
//! and the URI round trip on every line of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use umgw::acl;
use umgw::media::dtmf::{event_char, DtmfReceiver, TelephoneEvent};
use umgw::media::g711::G711;
use umgw::media::recorder::Recorder;
use umgw::media::rtp::{self, RtpPacket};
use umgw::media::srtp::{SrtpContext, SrtpSuite};
use umgw::sip::endpoint::{Endpoint, EndpointConfig};
use umgw::sip::message::{frame_length, Message, Method, StartLine};
use umgw::sip::transaction::TimerConfig;
use umgw::sip::{Remote, Transport, Uri};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every valid-ish input we ship, read once: mutation seeds.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out = Vec::new();
        for dir in [
            "tests/data/torture",
            "tests/data/sdp",
            "tests/data/lync",
            "dialplans",
        ] {
            let mut paths: Vec<_> = std::fs::read_dir(root().join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| !p.extension().is_some_and(|e| e == "md" || e == "py"))
                .collect();
            paths.sort();
            out.extend(paths.iter().map(|p| std::fs::read(p).unwrap()));
        }
        assert!(out.len() > 60, "seed corpus went missing");
        out
    })
}

fn endpoint() -> Endpoint {
    Endpoint::new(EndpointConfig {
        timers: TimerConfig::default(),
        trusted: vec![acl::parse_network("127.0.0.0/8").unwrap()],
        server_name: "t".into(),
        rng_seed: 1,
    })
}

fn peer() -> Remote {
    Remote {
        transport: Transport::Udp {
            local: "127.0.0.1:5060".parse().unwrap(),
        },
        addr: SocketAddr::from(([127, 0, 0, 1], 5070)),
    }
}

/// Runs every parser of the hostile-input surface on `bytes`; only a panic fails.
fn every_parser(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(m) = Message::parse(bytes) {
        // What we accept we can write back and read again.
        Message::parse(&m.to_bytes()).expect("re-parse of an accepted message");
    }
    let _ = Message::parse_unvalidated(bytes);
    let _ = frame_length(bytes, 2048);
    let mut ep = endpoint();
    ep.handle(Instant::now(), peer(), bytes);
    ep.handle_timeout(Instant::now() + Duration::from_secs(40));
    while ep.poll_transmit().is_some() {}
    while ep.poll_event().is_some() {}

    let _ = umgw::sdp::parse(&text);
    for ct in [
        "application/sdp",
        "multipart/alternative;boundary=\"b\"",
        "text/plain",
    ] {
        let _ = umgw::sdp::select_offer(ct, bytes);
    }
    let _ = umgw::sdp::negotiate(&text, IpAddr::V4(Ipv4Addr::LOCALHOST), 4000, 1);

    if let Ok(pkt) = rtp::parse(bytes) {
        assert!(pkt.payload.len() <= bytes.len());
        let _ = TelephoneEvent::parse(pkt.payload);
    }
    if let Ok(ev) = TelephoneEvent::parse(bytes) {
        DtmfReceiver::new().handle(1, 2, &ev);
    }
    let mut ctx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, [7; 16], [9; 14]);
    let _ = ctx.unprotect(&mut bytes.to_vec());

    let _ = umgw::dialplan::load_str(Path::new("fuzz.toml"), &text);
    let _ = umgw::store::message::parse(bytes);
    let _ = umgw::mwi::parse_message_summary(&text);
    let lines: Vec<&str> = text.lines().collect();
    let _ = umgw::sip::headers::parse_history_info(&lines);
    let _ = umgw::sip::headers::parse_diversion(&lines);
    for line in &lines {
        // What parses as a URI prints as text that parses back to the same URI.
        let value = line.split_once(':').map_or(*line, |(_, v)| v);
        for text in [line.trim(), umgw::sip::message::uri_of(value)] {
            if let Ok(uri) = text.parse::<Uri>() {
                assert_eq!(
                    uri.to_string().parse::<Uri>().as_ref(),
                    Ok(&uri),
                    "{text:?}"
                );
            }
        }
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.!%*_+`'~-]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        every_parser(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_mutated_valid_inputs(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut b = seed.get(seeds()).clone();
        for (at, byte, op) in edits {
            if b.is_empty() {
                b.push(byte);
                continue;
            }
            let i = at.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => b.insert(i, byte),
                2 => { b.remove(i); }
                // Duplicate a span: repeated headers, CRLF runs, doubled delimiters.
                _ => { let end = (i + 1 + byte as usize % 16).min(b.len()); let span = b[i..end].to_vec(); b.splice(i..i, span); }
            }
        }
        if truncate && !b.is_empty() {
            b.truncate(cut.index(b.len()));
        }
        every_parser(&b);
    }

    #[test]
    fn message_serialise_parse_round_trip(
        method in token(),
        user in "[a-z0-9+._-]{1,12}",
        host in "[a-z0-9.-]{1,20}",
        cseq in any::<u32>(),
        extra in proptest::collection::vec(("X-[A-Za-z0-9-]{1,12}", "[!-~][ -~]{0,40}"), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let method = Method::parse(&method).unwrap();
        let mut m = Message::request(method.clone(), format!("sip:{user}@{host}"));
        m.push("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKprop");
        m.push("From", "<sip:a@b>;tag=1");
        m.push("To", "<sip:c@d>");
        m.push("Call-ID", "prop@127.0.0.1");
        m.push("CSeq", format!("{cseq} {method}"));
        for (name, value) in &extra {
            m.push(name, value.trim_end());
        }
        m.body = body;
        let back = Message::parse(&m.to_bytes()).unwrap();
        prop_assert_eq!(&back.start, &m.start);
        prop_assert_eq!(&back.headers()[..m.headers().len()], m.headers());
        let length = m.body.len().to_string();
        prop_assert_eq!(back.header("Content-Length"), Some(length.as_str()));
        prop_assert_eq!(&back.body, &m.body);
        // And a response to it carries the dialog identifiers back unchanged.
        let resp = Message::response_to(&back, 486, "Busy Here", Some("x"));
        let resp = Message::parse(&resp.to_bytes()).unwrap();
        prop_assert_eq!(resp.cseq(), Some((cseq, method)));
        prop_assert_eq!(resp.start, StartLine::Response { code: 486, reason: "Busy Here".into() });
    }

    #[test]
    fn recorder_counts_across_sequence_wrap(
        first_seq in any::<u16>(),
        first_ts in any::<u32>(),
        n in 2usize..120,
        dup in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
        gap_at in any::<prop::sample::Index>(),
        gap in 0u16..5,
    ) {
        // Near the wrap most of the time: the interesting case.
        let first_seq = if first_seq % 4 == 0 { first_seq } else { u16::MAX - (first_seq % 64) };
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::create(&dir.path().join("r.wav")).unwrap();
        let gap_at = 1 + gap_at.index(n - 1);
        let payload = [0xFFu8; 160];
        let mut seq = first_seq;
        let mut ts = first_ts;
        let mut sent = Vec::new();
        for i in 0..n {
            if i == gap_at {
                seq = seq.wrapping_add(gap);
                ts = ts.wrapping_add(160 * gap as u32);
            }
            sent.push((seq, ts));
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
        }
        let mut order: Vec<(u16, u32)> = sent.clone();
        for d in &dup {
            // A duplicate arrives right after the original.
            let i = d.index(sent.len());
            let pos = order.iter().position(|p| *p == sent[i]).unwrap();
            order.insert(pos + 1, sent[i]);
        }
        for (seq, ts) in &order {
            let pkt = RtpPacket { marker: false, payload_type: 0, sequence: *seq, timestamp: *ts, ssrc: 42, payload: &payload };
            rec.push(G711::Pcmu, &pkt).unwrap();
        }
        prop_assert_eq!(rec.packets(), n as u64);
        prop_assert_eq!(rec.discarded(), dup.len() as u64);
        prop_assert_eq!(rec.lost(), gap as u64);
        prop_assert_eq!(rec.samples(), (n as u64 + gap as u64) * 160, "gaps are filled with silence");
    }

    #[test]
    fn rfc4733_each_event_yields_one_digit(
        digits in proptest::collection::vec(0u8..16, 1..20),
        updates in proptest::collection::vec(0usize..6, 20),
        late_end in any::<bool>(),
        ts0 in any::<u32>(),
        ssrc in any::<u32>(),
    ) {
        let mut rx = DtmfReceiver::new();
        let mut got = String::new();
        let mut pending_end: Option<(u32, TelephoneEvent)> = None;
        for (i, &d) in digits.iter().enumerate() {
            let ts = ts0.wrapping_add(i as u32 * 1600);
            let ev = |end, duration| TelephoneEvent { event: d, end, volume: 10, duration };
            let mut packets = vec![ev(false, 160)];
            packets.extend((0..updates[i]).map(|k| ev(false, 320 + 160 * k as u16)));
            packets.extend([ev(true, 1280); 3]); // the end packet goes out three times
            for p in &packets {
                got.extend(rx.handle(ssrc, ts, p));
            }
            // A reordered end retransmission of the previous event, after this one started.
            if let Some((pts, pev)) = pending_end.take() {
                got.extend(rx.handle(ssrc, pts, &pev));
            }
            if late_end {
                pending_end = Some((ts, ev(true, 1280)));
            }
        }
        let want: String = digits.iter().map(|&d| event_char(d).unwrap()).collect();
        prop_assert_eq!(got, want);
    }
}
