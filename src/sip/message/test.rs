//! Message parsing, serialising and the header helpers, on hand-made and random input.

use super::*;
use proptest::prelude::*;

const INVITE: &str = "INVITE sip:alice@contoso.com;opaque=app:voicemail SIP/2.0\r\n\
    Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
    Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKother\r\n\
    Max-Forwards: 70\r\n\
    To: Alice <sip:alice@contoso.com>\r\n\
    From: \"Bob, B.\" <sip:bob@contoso.com>;tag=1928301774\r\n\
    i: a84b4c76e66710@pc33\r\n\
    CSeq: 314159 INVITE\r\n\
    history-info: <sip:alice@contoso.com>;index=1,\r\n <sip:vm@contoso.com>;index=1.1\r\n\
    Content-Type: application/sdp\r\n\
    Content-Length: 4\r\n\r\nv=0\r\nEXTRA";

#[test]
fn parses_request_with_compact_folded_and_lowercase_headers() {
    let m = Message::parse(INVITE.as_bytes()).unwrap();
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(
        m.request_uri(),
        Some("sip:alice@contoso.com;opaque=app:voicemail")
    );
    assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33"));
    assert_eq!(m.cseq(), Some((314159, Method::Invite)));
    assert_eq!(m.from_tag(), Some("1928301774"));
    assert_eq!(m.to_tag(), None);
    let via = m.top_via().unwrap();
    assert_eq!(via.transport, "UDP");
    assert_eq!(via.sent_by, "10.0.0.1:5060");
    assert_eq!(via.branch.as_deref(), Some("z9hG4bK776asdhds"));
    assert_eq!(
        m.header("History-Info"),
        Some("<sip:alice@contoso.com>;index=1, <sip:vm@contoso.com>;index=1.1")
    );
    // Content-Length wins over trailing datagram bytes.
    assert_eq!(m.body, b"v=0\r");
}

#[test]
fn response_copies_dialog_headers_and_adds_to_tag() {
    let req = Message::parse(INVITE.as_bytes()).unwrap();
    let resp = Message::response_to(&req, 486, "Busy Here", Some("abc"));
    let bytes = resp.to_bytes();
    let back = Message::parse(&bytes).unwrap();
    assert_eq!(back.status(), Some(486));
    assert_eq!(back.headers_named("Via").count(), 2);
    assert_eq!(back.to_tag(), Some("abc"));
    assert_eq!(back.from_tag(), Some("1928301774"));
    assert_eq!(back.call_id(), req.call_id());
    assert_eq!(back.cseq(), req.cseq());
    assert!(String::from_utf8(bytes)
        .unwrap()
        .starts_with("SIP/2.0 486 Busy Here\r\n"));
}

#[test]
fn dialog_setting_responses_carry_the_record_route_back() {
    let routed = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRecord-Route: <sip:10.0.0.10;lr;ftag=1928301774>\r\n\
         Record-Route: <sip:10.0.0.20;lr>\r\n",
    );
    let req = Message::parse(routed.as_bytes()).unwrap();
    for code in [180, 200] {
        let back =
            Message::parse(&Message::response_to(&req, code, "", Some("t")).to_bytes()).unwrap();
        assert_eq!(
            back.headers_named("Record-Route").collect::<Vec<_>>(),
            ["<sip:10.0.0.10;lr;ftag=1928301774>", "<sip:10.0.0.20;lr>"],
            "{code}"
        );
    }
    for code in [100, 486, 503] {
        let back = Message::response_to(&req, code, "", Some("t"));
        assert_eq!(back.headers_named("Record-Route").count(), 0, "{code}");
    }
}

#[test]
fn missing_headers_name_the_header() {
    let no_call_id = INVITE.replace("i: a84b4c76e66710@pc33\r\n", "");
    assert_eq!(
        Message::parse(no_call_id.as_bytes()),
        Err(ParseError::MissingHeader("Call-ID"))
    );
    assert_eq!(
        ParseError::MissingHeader("Call-ID").to_string(),
        "Missing Call-ID"
    );
    let bad_cseq = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
    assert_eq!(
        Message::parse(bad_cseq.as_bytes()),
        Err(ParseError::CSeqMethod)
    );
    let short = INVITE.replace("Content-Length: 4", "Content-Length: 400");
    assert_eq!(
        Message::parse(short.as_bytes()),
        Err(ParseError::BodyLength)
    );
    assert_eq!(
        Message::parse(b"INVITE sip:a@b SIP/3.0\r\n\r\n"),
        Err(ParseError::StartLine)
    );
}

#[test]
fn stream_framing_by_content_length() {
    let msg = INVITE.replace("\nEXTRA", "");
    let b = msg.as_bytes();
    let total = b.len();
    assert_eq!(frame_length(&b[..total - 1], 65535), Ok(None));
    let mut two = b.to_vec();
    two.extend_from_slice(b);
    assert_eq!(frame_length(&two, 65535), Ok(Some(total)));
    assert_eq!(frame_length(&two, 100), Err(ParseError::TooLarge));
}

#[test]
fn stream_framing_finds_content_length_in_every_form() {
    for name in [
        "Content-Length",
        "content-length",
        "CONTENT-LENGTH",
        "l",
        "L",
    ] {
        let msg = INVITE
            .replace("\nEXTRA", "")
            .replace("Content-Length: 4", &format!("{name}: 4"));
        let mut two = msg.as_bytes().to_vec();
        two.extend_from_slice(msg.as_bytes());
        assert_eq!(frame_length(&two, 65535), Ok(Some(msg.len())), "{name}");
        assert_eq!(Message::parse(msg.as_bytes()).unwrap().body, b"v=0\r");
    }
    // Without any of them a stream cannot be framed (RFC 3261 §18.3).
    let none = INVITE.replace("Content-Length: 4\r\n", "");
    assert_eq!(
        frame_length(none.as_bytes(), 65535),
        Err(ParseError::MissingHeader("Content-Length"))
    );
    // A folded line that looks like `l:` is part of the header above it.
    let folded = INVITE.replace("\nEXTRA", "").replace(
        "Content-Type: application/sdp\r\n",
        "Subject: x\r\n l: 99\r\n",
    );
    assert_eq!(
        frame_length(folded.as_bytes(), 65535),
        Ok(Some(folded.len()))
    );
}

#[test]
fn compact_forms_of_every_rfc_read_as_their_long_names() {
    let compact = [
        ("a", "Accept-Contact"),
        ("b", "Referred-By"),
        ("d", "Request-Disposition"),
        ("e", "Content-Encoding"),
        ("j", "Reject-Contact"),
        ("k", "Supported"),
        ("n", "Identity-Info"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("s", "Subject"),
        ("u", "Allow-Events"),
        ("x", "Session-Expires"),
        ("y", "Identity"),
    ];
    let mut text = INVITE.replace("Content-Length: 4\r\n\r\nv=0\r\nEXTRA", "");
    for (short, _) in compact {
        text.push_str(&format!(
            "{}: value-{short}\r\n",
            short.to_ascii_uppercase()
        ));
    }
    text.push_str("l: 0\r\n\r\n");
    let m = Message::parse(text.as_bytes()).unwrap();
    for (short, long) in compact {
        let want = format!("value-{short}");
        assert_eq!(m.header(long), Some(want.as_str()), "{short}");
    }
    assert_eq!(m.header("Content-Length"), Some("0"));
    // Stored under the long name, so a copy (to_bytes) prints the long name.
    let out = String::from_utf8(m.to_bytes()).unwrap();
    assert!(out.contains("\r\nRefer-To: value-r\r\n"), "{out}");
    assert!(out.contains("\r\nEvent: value-o\r\n"), "{out}");
    // Unknown single letters stay as they are.
    let q = INVITE.replace("Max-Forwards: 70", "q: 1");
    assert_eq!(Message::parse(q.as_bytes()).unwrap().header("q"), Some("1"));
}

#[test]
fn top_via_records_the_source_address() {
    let stamp = |via: &str, source: &str| {
        let text = INVITE.replace(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport",
            via,
        );
        let mut m = Message::parse(text.as_bytes()).unwrap();
        m.stamp_top_via(source.parse().unwrap());
        m.headers_named("Via")
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // RFC 3581: rport gets the source port, and received is added with it.
    assert_eq!(
        stamp(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport",
            "10.0.0.1:40123"
        ),
        [
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=40123;received=10.0.0.1",
            "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKother"
        ]
    );
    // RFC 3261 §18.2.1: a sent-by that is not the source gets received, no rport.
    assert_eq!(
        stamp(
            "Via: SIP/2.0/TCP pc33.contoso.com;branch=z9hG4bKb",
            "192.0.2.4:5060"
        )[0],
        "SIP/2.0/TCP pc33.contoso.com;branch=z9hG4bKb;received=192.0.2.4"
    );
    // The sender's own received is replaced; IPv4-mapped sources read as IPv4.
    assert_eq!(
        stamp(
            "Via: SIP/2.0/UDP 10.0.0.9:5060;received=1.2.3.4;branch=z9hG4bKc",
            "[::ffff:10.0.0.7]:5060"
        )[0],
        "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKc;received=10.0.0.7"
    );
    // IPv6 sent-by: brackets in sent-by, none in received (RFC 3261 via-received).
    assert_eq!(
        stamp(
            "Via: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKd;rport",
            "[2001:db8::9]:6000"
        )[0],
        "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKd;rport=6000;received=2001:db8::9"
    );
    // Nothing to add: the Via stays byte for byte, whichever list form it has.
    assert_eq!(
        stamp(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKe , SIP/2.0/UDP x;branch=y",
            "10.0.0.1:7000"
        )[0],
        "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKe , SIP/2.0/UDP x;branch=y"
    );
    // Only the first value of a comma list is stamped.
    assert_eq!(
        stamp(
            "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKf;rport, SIP/2.0/UDP x;rport",
            "10.0.0.1:7000"
        )[0],
        "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKf;rport=7000;received=10.0.0.1, SIP/2.0/UDP x;rport"
    );
    // An rport that already has a value is the sender's business.
    assert_eq!(
        stamp(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;rport=5;branch=z9hG4bKg",
            "10.0.0.1:7000"
        )[0],
        "SIP/2.0/UDP 10.0.0.1:5060;rport=5;branch=z9hG4bKg"
    );
}

#[test]
fn header_list_and_uri_helpers() {
    assert_eq!(
        split_header_list("\"a,b\" <sip:x@y;p=1,2>;tag=3, <sip:z@w>"),
        vec!["\"a,b\" <sip:x@y;p=1,2>;tag=3", "<sip:z@w>"]
    );
    assert_eq!(uri_of("\"Bob\" <sip:bob@x>;tag=1"), "sip:bob@x");
    assert_eq!(uri_of("sip:bob@x;tag=1"), "sip:bob@x");
    assert_eq!(
        display_name_of("\"Bob B\" <sip:bob@x>").as_deref(),
        Some("Bob B")
    );
    let host_port = |u: &str| {
        let u: crate::sip::uri::Uri = u.parse().unwrap();
        (u.host().unwrap().unbracketed(), u.port())
    };
    assert_eq!(
        host_port("sip:mwi@127.0.0.1:5099;transport=udp"),
        ("127.0.0.1".into(), Some(5099))
    );
    assert_eq!(host_port("sip:[::1]:5070"), ("::1".into(), Some(5070)));
    assert_eq!(
        host_port("sip:pool.contoso.com"),
        ("pool.contoso.com".into(), None)
    );
}

#[test]
fn header_count_is_bounded() {
    let mut text = INVITE.replace("Content-Length: 4\r\n\r\nv=0\r\nEXTRA", "");
    for i in 0..MAX_HEADERS {
        text.push_str(&format!("X-Filler-{i}: x\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    assert_eq!(
        Message::parse(text.as_bytes()),
        Err(ParseError::TooManyHeaders)
    );
    assert_eq!(
        ParseError::TooManyHeaders.to_string(),
        "Too many header fields"
    );
}

#[test]
fn pushed_values_cannot_inject_headers() {
    let mut m = Message::request(Method::Notify, "sip:a@b");
    m.push("Subject", "hi\r\nVia: evil");
    assert_eq!(m.header("Subject"), Some("hiVia: evil"));
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Message::parse(&bytes);
        let _ = frame_length(&bytes, 1000);
    }

    #[test]
    fn mutated_invite_never_panics(pos in 0usize..600, byte in any::<u8>()) {
        let mut b = INVITE.as_bytes().to_vec();
        let i = pos % b.len();
        b[i] = byte;
        let _ = Message::parse(&b);
    }

    #[test]
    fn serialise_parse_round_trip(call_id in "[a-zA-Z0-9@.-]{1,40}", cseq in 1u32..1_000_000, body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut m = Message::request(Method::Options, "sip:umgw@127.0.0.1");
        m.push("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx");
        m.push("From", "<sip:a@b>;tag=1");
        m.push("To", "<sip:c@d>");
        m.push("Call-ID", call_id.clone());
        m.push("CSeq", format!("{cseq} OPTIONS"));
        m.body = body.clone();
        let back = Message::parse(&m.to_bytes()).unwrap();
        prop_assert_eq!(back.call_id(), Some(call_id.as_str()));
        prop_assert_eq!(back.cseq(), Some((cseq, Method::Options)));
        prop_assert_eq!(back.body, body);
    }
}
