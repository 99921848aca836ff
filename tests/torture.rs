//! RFC 4475 and RFC 5118 torture messages fed to a fresh endpoint, one test per vector.
//!
//! Each vector is a byte-exact file under tests/data/torture/ (written by generate.py there);
//! MANIFEST.md says for each what the RFC expects and what umgw does. The expectations below
//! are exactly that manifest's umgw column: the response sent (code, and the reason text where
//! it says why), an IncomingCall, or nothing at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use umgw::acl;
use umgw::sip::endpoint::{Endpoint, EndpointConfig, EndpointEvent, ALLOW};
use umgw::sip::message::{frame_length, Message, ParseError};
use umgw::sip::transaction::TimerConfig;
use umgw::sip::{Remote, Transport};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torture")
}

fn vector(name: &str) -> Vec<u8> {
    let path = dir().join(format!("{name}.sip"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

/// What one datagram produced: the responses sent (parsed) and the events raised.
struct Outcome {
    sent: Vec<Message>,
    events: Vec<EndpointEvent>,
}

fn feed(ep: &mut Endpoint, now: Instant, bytes: &[u8]) -> Outcome {
    ep.handle(now, peer(), bytes);
    let mut sent = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        assert_eq!(t.remote, peer(), "responses go back to the source");
        let msg = Message::parse(&t.bytes).unwrap_or_else(|e| {
            panic!(
                "we sent an unparseable message ({e}):\n{}",
                String::from_utf8_lossy(&t.bytes)
            )
        });
        sent.push(msg);
    }
    let mut events = Vec::new();
    while let Some(ev) = ep.poll_event() {
        events.push(ev);
    }
    Outcome { sent, events }
}

fn run(name: &str) -> Outcome {
    feed(&mut endpoint(), Instant::now(), &vector(name))
}

fn reason(m: &Message) -> &str {
    match &m.start {
        umgw::sip::message::StartLine::Response { reason, .. } => reason,
        _ => panic!("not a response"),
    }
}

/// One final response with `code` whose reason phrase contains `why`; no event.
fn expect_status(name: &str, code: u16, why: &str) -> Message {
    let out = run(name);
    assert_eq!(
        out.sent.len(),
        1,
        "{name}: one response, got {:?}",
        out.sent
    );
    let resp = out.sent.into_iter().next().unwrap();
    assert_eq!(resp.status(), Some(code), "{name}: {}", reason(&resp));
    assert!(
        reason(&resp).to_lowercase().contains(&why.to_lowercase()),
        "{name}: reason {:?} should say {why:?}",
        reason(&resp)
    );
    assert!(
        out.events.is_empty(),
        "{name}: no event, got {:?}",
        out.events
    );
    if matches!(code, 405 | 501) {
        assert_eq!(
            resp.header("Allow"),
            Some(ALLOW),
            "{name}: {code} lists Allow"
        );
    }
    resp
}

/// 100 Trying and an IncomingCall for this very request.
fn expect_call(name: &str) -> Box<Message> {
    let out = run(name);
    let codes: Vec<_> = out.sent.iter().map(|m| m.status()).collect();
    assert_eq!(codes, [Some(100)], "{name}: only 100 Trying");
    match <[EndpointEvent; 1]>::try_from(out.events) {
        Ok([EndpointEvent::IncomingCall { request, .. }]) => {
            assert_eq!(request.call_id(), out.sent[0].call_id(), "{name}");
            request
        }
        Ok(other) => panic!("{name}: expected IncomingCall, got {other:?}"),
        Err(events) => panic!("{name}: expected one IncomingCall, got {events:?}"),
    }
}

fn expect_nothing(name: &str) {
    let out = run(name);
    assert!(
        out.sent.is_empty(),
        "{name}: nothing sent, got {:?}",
        out.sent
    );
    assert!(
        out.events.is_empty(),
        "{name}: no event, got {:?}",
        out.events
    );
}

macro_rules! torture {
    ($($test:ident: $file:literal => $kind:ident $(($($arg:expr),*))?;)*) => {
        /// Every vector file, for the completeness and never-panic tests.
        const VECTORS: &[&str] = &[$($file),*];
        $(
            #[test]
            fn $test() {
                torture!(@run $file, $kind $(($($arg),*))?);
            }
        )*
    };
    (@run $file:literal, call) => { expect_call($file); };
    (@run $file:literal, nothing) => { expect_nothing($file); };
    (@run $file:literal, status($code:expr, $why:expr)) => { expect_status($file, $code, $why); };
}

torture! {
    // RFC 4475 3.1.1: valid messages.
    wsinv: "wsinv" => status(481, "Does Not Exist");
    intmeth: "intmeth" => status(501, "Not Implemented");
    esc01: "esc01" => call;
    escnull: "escnull" => status(405, "Method Not Allowed");
    esc02: "esc02" => status(501, "Not Implemented");
    lwsdisp: "lwsdisp" => status(200, "OK");
    longreq: "longreq" => call;
    dblreq: "dblreq" => status(405, "Method Not Allowed");
    semiuri: "semiuri" => status(200, "OK");
    transports: "transports" => status(200, "OK");
    mpart01: "mpart01" => status(405, "Method Not Allowed");
    unreason: "unreason" => nothing;
    noreason: "noreason" => nothing;
    // RFC 4475 3.1.2: invalid messages.
    badinv01: "badinv01" => status(400, "Bad Via header: empty parameter");
    clerr: "clerr" => status(400, "Content-Length larger than the body");
    ncl: "ncl" => status(400, "Bad Content-Length header: not a number");
    scalar02: "scalar02" => status(400, "Bad CSeq header");
    scalarlg: "scalarlg" => nothing;
    quotbal: "quotbal" => status(400, "Bad To header: unterminated quoted string");
    ltgtruri: "ltgtruri" => status(400, "Bad Request-URI: bad scheme");
    lwsruri: "lwsruri" => status(400, "Bad Request-URI: contains whitespace");
    lwsstart: "lwsstart" => call;
    trws: "trws" => status(200, "OK");
    escruri: "escruri" => status(400, "Bad Request-URI: header fields are not allowed");
    baddate: "baddate" => call;
    regbadct: "regbadct" => status(405, "Method Not Allowed");
    badaspec: "badaspec" => status(200, "OK");
    baddn: "baddn" => status(200, "OK");
    badvers: "badvers" => status(505, "Version Not Supported");
    mismatch01: "mismatch01" => status(400, "CSeq method does not match");
    mismatch02: "mismatch02" => status(400, "CSeq method does not match");
    bigcode: "bigcode" => nothing;
    // RFC 4475 3.2: transaction layer.
    badbranch: "badbranch" => status(200, "OK");
    // RFC 4475 3.3: application layer.
    insuf: "insuf" => status(400, "Missing From");
    unkscm: "unkscm" => status(416, "Unsupported URI Scheme");
    novelsc: "novelsc" => status(416, "Unsupported URI Scheme");
    unksm2: "unksm2" => status(405, "Method Not Allowed");
    bext01: "bext01" => status(420, "Bad Extension");
    invut: "invut" => call;
    regaut01: "regaut01" => status(405, "Method Not Allowed");
    multi01: "multi01" => status(400, "more than one value");
    mcl01: "mcl01" => status(400, "Bad Content-Length header: more than one value");
    bcast: "bcast" => nothing;
    zeromf: "zeromf" => status(200, "OK");
    cparam01: "cparam01" => status(405, "Method Not Allowed");
    cparam02: "cparam02" => status(405, "Method Not Allowed");
    regescrt: "regescrt" => status(405, "Method Not Allowed");
    sdp01: "sdp01" => status(406, "Not Acceptable");
    // RFC 4475 3.4: backward compatibility.
    inv2543: "inv2543" => call;
    // RFC 5118: IPv6.
    ipv6_good: "ipv6-good" => status(405, "Method Not Allowed");
    ipv6_bad: "ipv6-bad" => status(400, "Bad Request-URI: IPv6 address without brackets");
    port_ambiguous: "port-ambiguous" => status(405, "Method Not Allowed");
    port_unambiguous: "port-unambiguous" => status(405, "Method Not Allowed");
    via_received_with_delim: "via-received-param-with-delim" => status(481, "Does Not Exist");
    via_received_no_delim: "via-received-param-no-delim" => status(200, "OK");
    ipv6_in_sdp: "ipv6-in-sdp" => status(400, "Content-Length larger than the body");
    mult_ip_in_header: "mult-ip-in-header" => status(481, "Does Not Exist");
    mult_ip_in_sdp: "mult-ip-in-sdp" => call;
    ipv4_mapped_ipv6: "ipv4-mapped-ipv6" => call;
    ipv6_bug_abnf_3_colons: "ipv6-bug-abnf-3-colons" => status(400, "Bad Request-URI: bad IPv6 reference");
    ipv6_correct_abnf_2_colons: "ipv6-correct-abnf-2-colons" => status(200, "OK");
}

#[test]
fn every_file_has_a_case_and_a_manifest_row() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".sip").map(str::to_owned))
        .collect();
    files.sort();
    let mut cases: Vec<String> = VECTORS.iter().map(|s| s.to_string()).collect();
    cases.sort();
    assert_eq!(files, cases);
    let manifest = std::fs::read_to_string(dir().join("MANIFEST.md")).unwrap();
    for name in VECTORS {
        assert!(
            manifest.contains(&format!("`{name}.sip`")),
            "MANIFEST.md has no row for {name}.sip"
        );
    }
}

#[test]
fn vectors_are_crlf_and_byte_exact_where_it_matters() {
    for name in VECTORS {
        let b = vector(name);
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' && name != &"mpart01" {
                assert_eq!(b[i - 1], b'\r', "{name}: bare LF at {i}");
            }
        }
    }
    // intmeth carries a real NUL, BEL and DEL in a quoted string; escnull only `%00`.
    assert!(vector("intmeth").windows(2).any(|w| w == b"\\\0"));
    assert!(vector("intmeth").contains(&0x07) && vector("intmeth").contains(&0x7f));
    assert!(!vector("escnull").contains(&0));
    assert!(vector("escnull").windows(3).any(|w| w == b"%00"));
}

#[test]
fn parsed_requests_carry_what_the_rfc_says() {
    let wsinv = Message::parse(&vector("wsinv")).unwrap();
    assert_eq!(wsinv.cseq().map(|c| c.0), Some(9));
    assert_eq!(wsinv.to_tag(), Some("1918181833n"));
    assert_eq!(wsinv.from_tag(), Some("98asjd8"));
    let via = wsinv.top_via().unwrap();
    assert_eq!(
        (via.transport.as_str(), via.sent_by.as_str()),
        ("UDP", "192.0.2.2")
    );
    assert_eq!(via.branch.as_deref(), Some("390skdjuw"));
    assert_eq!(wsinv.header("Subject"), Some(""));
    assert_eq!(wsinv.body.len(), 150);

    let lwsstart = Message::parse(&vector("lwsstart")).unwrap();
    assert_eq!(lwsstart.request_uri(), Some("sip:user@example.com"));

    let dblreq = Message::parse(&vector("dblreq")).unwrap();
    assert!(dblreq.body.is_empty(), "the trailing INVITE is not a body");

    let inv2543 = Message::parse(&vector("inv2543")).unwrap();
    assert!(
        inv2543.body.starts_with(b"v=0\r\n"),
        "no Content-Length: the rest is the body"
    );

    let longreq = Message::parse(&vector("longreq")).unwrap();
    assert_eq!(longreq.headers_named("Via").count(), 34);
}

#[test]
fn invut_reaches_the_gateway_which_answers_415() {
    let req = expect_call("invut");
    let err = umgw::sdp::select_offer(req.header("Content-Type").unwrap(), &req.body).unwrap_err();
    assert_eq!(err.status_code(), 415);
}

#[test]
fn refusals_carry_the_headers_that_explain_them() {
    let bext = run("bext01").sent.remove(0);
    assert_eq!(
        bext.header("Unsupported"),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    let sdp01 = run("sdp01").sent.remove(0);
    assert_eq!(sdp01.header("Accept"), Some("application/sdp"));
}

#[test]
fn refused_invite_lives_in_an_invite_transaction() {
    // sdp01 is an INVITE: its 406 is retransmitted until the ACK, which ends it quietly.
    let mut ep = endpoint();
    let t0 = Instant::now();
    let first = feed(&mut ep, t0, &vector("sdp01")).sent.remove(0);
    let again = feed(&mut ep, t0, &vector("sdp01")).sent;
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].to_tag(),
        first.to_tag(),
        "same transaction, same To tag"
    );
    ep.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(
        ep.poll_transmit()
            .map(|t| Message::parse(&t.bytes).unwrap().status()),
        Some(Some(406))
    );
    let ack = format!(
        "ACK sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r\n\
         From: sip:caller@example.net;tag=234\r\nTo: {}\r\nCall-ID: sdp01.ndaksdj9342dasdd\r\n\
         CSeq: 8 ACK\r\nContent-Length: 0\r\n\r\n",
        first.header("To").unwrap()
    );
    let out = feed(&mut ep, t0 + Duration::from_secs(1), ack.as_bytes());
    assert!(out.sent.is_empty() && out.events.is_empty());
    ep.handle_timeout(t0 + Duration::from_secs(10));
    assert!(ep.poll_transmit().is_none());
    assert_eq!(ep.transactions(), 0);
    assert_eq!(ep.active_calls(), 0);
}

fn options(extra: &str) -> String {
    format!(
        "OPTIONS sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:umgw@127.0.0.1>\r\nCall-ID: o1\r\n{extra}\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn scalar_ranges() {
    let code = |extra: &str| {
        let mut out = feed(&mut endpoint(), Instant::now(), options(extra).as_bytes());
        let m = out.sent.remove(0);
        (m.status().unwrap(), reason(&m).to_owned())
    };
    assert_eq!(code("CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n").0, 200);
    assert_eq!(code("CSeq: 1 OPTIONS\r\nMax-Forwards: 255\r\n").0, 200);
    for bad in ["-1", "256", "99999999999999999999", "", "7O"] {
        let (c, why) = code(&format!("CSeq: 1 OPTIONS\r\nMax-Forwards: {bad}\r\n"));
        assert_eq!(
            (c, why.as_str()),
            (400, "Bad Max-Forwards header: not a number from 0 to 255"),
            "{bad:?}"
        );
    }
    for bad in ["-1", "4294967296", "1.5", "x"] {
        let (c, why) = code(&format!("CSeq: {bad} OPTIONS\r\n"));
        assert_eq!(c, 400, "CSeq {bad:?}");
        assert!(why.contains("CSeq"), "{why}");
    }
    assert_eq!(
        code("CSeq: 4294967295 OPTIONS\r\n").0,
        200,
        "2**32-1 is the largest legal CSeq"
    );
}

#[test]
fn max_forwards_zero_reaches_the_endpoint() {
    // RFC 4475 3.3.11: an endpoint processes it (483 is for proxies).
    let invite = String::from_utf8(vector("esc01"))
        .unwrap()
        .replace("Max-Forwards: 87", "Max-Forwards: 0");
    let out = feed(&mut endpoint(), Instant::now(), invite.as_bytes());
    assert!(matches!(
        out.events[..],
        [EndpointEvent::IncomingCall { .. }]
    ));
}

#[test]
fn require_on_invite_is_420_and_on_cancel_ignored() {
    let invite = String::from_utf8(vector("esc01")).unwrap().replace(
        "C: application/sdp",
        "Require: 100rel, timer\r\nC: application/sdp",
    );
    let out = feed(&mut endpoint(), Instant::now(), invite.as_bytes());
    assert_eq!(out.sent[0].status(), Some(420));
    assert_eq!(out.sent[0].header("Unsupported"), Some("100rel, timer"));
    assert!(out.events.is_empty());
}

#[test]
fn stream_framing_refuses_what_cannot_be_framed() {
    let bad = ParseError::BadHeader {
        name: "Content-Length",
        why: "conflicting values",
    };
    assert_eq!(frame_length(&vector("mcl01"), 65535), Err(bad));
    assert!(frame_length(&vector("ncl"), 65535).is_err());
    // clerr on a stream: wait for the rest (RFC 4475 3.1.2.2).
    assert_eq!(frame_length(&vector("clerr"), 65535), Ok(None));
    let wsinv = vector("wsinv");
    assert_eq!(frame_length(&wsinv, 65535), Ok(Some(wsinv.len())));
}

#[test]
fn accepted_vectors_survive_serialise_and_parse() {
    for name in VECTORS {
        let Ok(msg) = Message::parse(&vector(name)) else {
            continue;
        };
        let back = Message::parse(&msg.to_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let strip = |m: &Message| -> Vec<(String, String)> {
            m.headers()
                .iter()
                .filter(|(n, _)| n != "Content-Length")
                .cloned()
                .collect()
        };
        assert_eq!(back.start, msg.start, "{name}");
        assert_eq!(strip(&back), strip(&msg), "{name}");
        assert_eq!(back.body, msg.body, "{name}");
    }
}

#[test]
fn untrusted_peer_gets_nothing_but_403_from_any_vector() {
    for name in VECTORS {
        let mut ep = endpoint();
        ep.set_trusted(vec![acl::parse_network("10.0.0.0/8").unwrap()]);
        ep.handle(Instant::now(), peer(), &vector(name));
        while let Some(t) = ep.poll_transmit() {
            let m = Message::parse(&t.bytes).unwrap();
            assert_eq!(m.status(), Some(403), "{name}");
        }
        assert_eq!(ep.poll_event(), None, "{name}");
        assert_eq!(ep.transactions(), 0, "{name}");
    }
}

#[test]
fn no_parser_panics_on_any_vector_or_its_truncations() {
    for name in VECTORS {
        let b = vector(name);
        for cut in (0..=b.len()).step_by(7) {
            let part = &b[..cut];
            let _ = Message::parse(part);
            let _ = frame_length(part, 4096);
            let mut ep = endpoint();
            ep.handle(Instant::now(), peer(), part);
            while ep.poll_transmit().is_some() {}
            let text = String::from_utf8_lossy(part);
            let _ = umgw::sdp::parse(&text);
            let _ = umgw::sdp::select_offer("application/sdp", part);
            let _ = umgw::mwi::parse_message_summary(&text);
            let _ = umgw::store::message::parse(part);
        }
    }
}

/// Found by fuzz/endpoint_ops: a BYE in the early dialog (To tag from our 180) left the INVITE
/// transaction without a final response, alive for ever.
#[test]
fn bye_in_early_dialog_ends_the_invite_with_487() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let out = feed(&mut ep, t0, &vector("esc01"));
    let Some(EndpointEvent::IncomingCall { call, .. }) = out.events.into_iter().next() else {
        panic!("no call");
    };
    ep.ringing(t0, call);
    let ringing = ep
        .poll_transmit()
        .map(|t| Message::parse(&t.bytes).unwrap())
        .unwrap();
    assert_eq!(ringing.status(), Some(180));
    let bye = format!(
        "BYE sip:caller@host5.example.net SIP/2.0\r\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bKbye\r\n\
         From: <sip:I%20have%20spaces@example.net>;tag=938\r\nTo: {}\r\n\
         Call-ID: esc01.239409asdfakjkn23onasd0-3234\r\nCSeq: 234235 BYE\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        ringing.header("To").unwrap()
    );
    let out = feed(&mut ep, t0, bye.as_bytes());
    let codes: Vec<_> = out
        .sent
        .iter()
        .map(|m| (m.status(), m.cseq().unwrap().1))
        .collect();
    use umgw::sip::message::Method;
    assert_eq!(
        codes,
        [(Some(200), Method::Bye), (Some(487), Method::Invite)]
    );
    assert!(matches!(
        out.events[..],
        [EndpointEvent::RemoteHangup { .. }]
    ));
    // Without an ACK the 487 is retransmitted until Timer H; then everything is gone.
    let mut t = t0;
    while let Some(next) = ep.poll_timeout() {
        t = next;
        ep.handle_timeout(t);
        while ep.poll_transmit().is_some() {}
    }
    assert!(t - t0 >= Duration::from_secs(32));
    assert_eq!(ep.transactions(), 0);
    assert_eq!(ep.active_calls(), 0);
}

/// Found by fuzz/sip_message: a whitespace-only continuation line left a trailing space in the
/// value, so serialising was not a fixed point.
#[test]
fn blank_continuation_lines_add_nothing() {
    let raw = options("CSeq: 1 OPTIONS\r\nSubject: a\r\n \r\n\t\r\n b\r\n");
    let m = Message::parse(raw.as_bytes()).unwrap();
    assert_eq!(m.header("Subject"), Some("a b"));
    let once = m.to_bytes();
    assert_eq!(Message::parse(&once).unwrap().to_bytes(), once);
}
