//! The generator's SIP against the RFC 3261 grammar and the crate's own parser, and its
//! dialog handling against the responses and requests a server may send.

use super::*;

/// RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" /
/// "'" / "~").
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn cfg(srtp: bool) -> Config {
    Config {
        target: "127.0.0.1:5060".parse().unwrap(),
        local: "127.0.0.1:40000".parse().unwrap(),
        called: "sip:1001@127.0.0.1:5060".into(),
        caller: "sip:+14255550199@127.0.0.1".into(),
        mailbox: Some("sip:mb{n}@contoso.com".into()),
        mailboxes: 100,
        srtp,
        frames: 50,
        rtp_ports: vec![41000, 41002],
        run: 77,
    }
}

fn outputs(uac: &mut Uac) -> Vec<Output> {
    std::iter::from_fn(|| uac.poll_output()).collect()
}

fn sent(uac: &mut Uac) -> Vec<Message> {
    outputs(uac)
        .into_iter()
        .filter_map(|o| match o {
            Output::Send(_, bytes) => Some(Message::parse(&bytes).expect("our SIP parses")),
            _ => None,
        })
        .collect()
}

/// A UAC (fixed seed) that has sent the INVITEs of `calls` calls, and those INVITEs.
fn invited(srtp: bool, calls: usize) -> (Instant, Uac, Vec<Message>) {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(srtp), calls, t0, Some(calls as u64));
    for i in 0..calls {
        uac.invite(i, t0);
    }
    let invites = sent(&mut uac);
    assert_eq!(invites.len(), calls);
    (t0, uac, invites)
}

/// Header names, branches and tags of a request we send, checked against the grammar.
fn check_request(m: &Message, method: Method) {
    assert_eq!(m.method(), Some(&method), "{m:?}");
    let via = m.top_via().expect("Via");
    let branch = via.branch.expect("branch");
    assert!(branch.starts_with("z9hG4bK"), "{branch}");
    assert!(is_token(&branch), "branch {branch} is not a token");
    assert!(m.header("Via").unwrap().ends_with(";rport"));
    let tag = m.from_tag().expect("From tag");
    assert!(is_token(tag), "From tag {tag} is not a token");
    if let Some(tag) = m.to_tag() {
        assert!(is_token(tag), "To tag {tag} is not a token");
    }
    assert_eq!(m.header("Max-Forwards"), Some("70"));
    let (_, cseq_method) = m.cseq().expect("CSeq");
    assert_eq!(cseq_method, method);
    let call_id = m.call_id().unwrap();
    let (word, host) = call_id.split_once('@').expect("Call-ID word@word");
    assert!(!word.is_empty() && !host.is_empty() && !host.contains('@'));
}

fn response(req: &Message, code: u16, to_tag: &str, body: Option<&str>) -> Vec<u8> {
    let mut r = Message::response_to(req, code, "X", Some(to_tag));
    if let Some(b) = body {
        r.push("Contact", "<sip:gw@127.0.0.1:5060;transport=udp>");
        r.push(
            "Record-Route",
            "<sip:p1@127.0.0.9;lr>, <sip:p2@127.0.0.8;lr>",
        );
        r.push("Content-Type", "application/sdp");
        r.body = b.as_bytes().to_vec();
    }
    r.to_bytes()
}

const GW: &str = "127.0.0.1:5060";

fn answer_sdp(savp: bool) -> String {
    let crypto = if savp {
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
    } else {
        ""
    };
    let proto = if savp { "RTP/SAVP" } else { "RTP/AVP" };
    format!(
        "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 30000 {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n{crypto}a=sendrecv\r\n"
    )
}

#[test]
fn invite_ack_bye_are_valid_sip_with_token_branches_and_tags() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(false), 3, t0, Some(1));
    uac.invite(2, t0);
    let invite = sent(&mut uac).remove(0);
    check_request(&invite, Method::Invite);
    assert_eq!(invite.request_uri(), Some("sip:1001@127.0.0.1:5060"));
    assert_eq!(invite.header("To"), Some("<sip:1001@127.0.0.1:5060>"));
    assert!(invite.header("Contact").is_some());
    assert_eq!(invite.header("Content-Type"), Some("application/sdp"));
    assert!(invite
        .header("History-Info")
        .unwrap()
        .starts_with("<sip:mb2@contoso.com?"));
    let offer = sdp::parse(std::str::from_utf8(&invite.body).unwrap()).unwrap();
    assert_eq!(offer.media[0].port, 41000, "call 2 is media thread 0's");
    assert_eq!(offer.media[0].proto, "RTP/AVP");

    // 100, 180 and 183 before the 200: no ACK, no retransmission after them.
    for code in [100, 180, 183] {
        uac.handle_datagram(
            t0,
            GW.parse().unwrap(),
            &response(&invite, code, "gw1", None),
        );
    }
    uac.handle_timeout(t0 + Duration::from_secs(2));
    assert!(
        sent(&mut uac).is_empty(),
        "no INVITE retransmission after a 1xx"
    );

    let ok = response(&invite, 200, "gw1", Some(&answer_sdp(false)));
    uac.handle_datagram(t0, GW.parse().unwrap(), &ok);
    let out = outputs(&mut uac);
    let ack = match &out[0] {
        Output::Send(to, b) => {
            assert_eq!(to.to_string(), GW);
            Message::parse(b).unwrap()
        }
        _ => panic!("ACK first"),
    };
    check_request(&ack, Method::Ack);
    assert_eq!(
        ack.request_uri(),
        Some("sip:gw@127.0.0.1:5060;transport=udp")
    );
    assert_eq!(ack.header("CSeq"), Some("1 ACK"));
    assert_eq!(ack.to_tag(), Some("gw1"));
    assert_ne!(
        ack.top_via().unwrap().branch,
        invite.top_via().unwrap().branch
    );
    let routes: Vec<&str> = ack.headers_named("Route").collect();
    assert_eq!(routes, ["<sip:p2@127.0.0.8;lr>", "<sip:p1@127.0.0.9;lr>"]);
    match &out[1] {
        Output::Start(s) => {
            assert_eq!((s.worker, s.call, s.frames), (0, 2, 50));
            assert_eq!(s.media, "127.0.0.1:30000".parse().unwrap());
            assert!(s.srtp.is_none());
        }
        _ => panic!("media start second"),
    }

    // The server retransmits its 200: the same ACK again.
    uac.handle_datagram(t0, GW.parse().unwrap(), &ok);
    assert_eq!(sent(&mut uac), vec![ack.clone()]);

    uac.talk_done(2, t0);
    let bye = sent(&mut uac).remove(0);
    check_request(&bye, Method::Bye);
    assert_eq!(bye.header("CSeq"), Some("2 BYE"));
    assert_eq!(bye.header("Content-Length"), Some("0"));
    assert_eq!(bye.request_uri(), ack.request_uri());
    uac.handle_datagram(t0, GW.parse().unwrap(), &response(&bye, 200, "gw1", None));
    assert_eq!((uac.totals.completed, uac.totals.failed()), (1, 0));
    assert!(!uac.busy());
}

#[test]
fn a_challenge_is_a_failure_with_its_code_and_is_acked_on_the_invite_branch() {
    let (t0, mut uac, invites) = invited(false, 2);
    for (inv, code) in invites.iter().zip([401, 407]) {
        uac.handle_datagram(t0, GW.parse().unwrap(), &response(inv, code, "c", None));
        let ack = sent(&mut uac).remove(0);
        check_request(&ack, Method::Ack);
        assert_eq!(ack.top_via().unwrap().branch, inv.top_via().unwrap().branch);
        assert_eq!(ack.request_uri(), inv.request_uri());
    }
    let failures: Vec<_> = uac.totals.failures.iter().collect();
    assert_eq!(
        failures,
        [(&"401".to_string(), &1), (&"407".to_string(), &1)]
    );
    assert!(!uac.busy(), "no call waits on a challenge");
}

#[test]
fn an_unanswered_invite_times_out_after_64_t1() {
    let (t0, mut uac, _) = invited(false, 1);
    let mut at = Vec::new();
    for ms in (0..=32_000).step_by(10) {
        let now = t0 + Duration::from_millis(ms);
        uac.handle_timeout(now);
        if !sent(&mut uac).is_empty() {
            at.push(ms);
        }
    }
    assert_eq!(at, [500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(uac.totals.failures.get("timeout"), Some(&1));
}

#[test]
fn the_servers_bye_is_answered_and_ends_the_media() {
    let (t0, mut uac, mut invites) = invited(false, 1);
    let invite = invites.remove(0);
    let ok = response(&invite, 200, "gw9", Some(&answer_sdp(false)));
    uac.handle_datagram(t0, GW.parse().unwrap(), &ok);
    while uac.poll_output().is_some() {}
    let bye = format!(
        "BYE sip:load@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKs1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1:5060>;tag=gw9\r\nTo: {}\r\n\
         Call-ID: {}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n",
        invite.header("From").unwrap(),
        invite.call_id().unwrap()
    );
    let from: SocketAddr = "127.0.0.1:5099".parse().unwrap();
    uac.handle_datagram(t0, from, bye.as_bytes());
    let out = outputs(&mut uac);
    assert!(matches!(out[0], Output::Stop { worker: 0, call: 0 }));
    match &out[1] {
        Output::Send(to, b) => {
            assert_eq!(*to, from, "answered where the request came from");
            let r = Message::parse(b).unwrap();
            assert_eq!(r.status(), Some(200));
            assert_eq!(r.header("CSeq"), Some("7 BYE"));
        }
        _ => panic!("200 to the BYE"),
    }
    assert_eq!((uac.totals.completed, uac.totals.ended_by_server), (1, 1));
}

#[test]
fn srtp_offer_and_answer() {
    let (t0, mut uac, invites) = invited(true, 2);
    let offer = sdp::parse(std::str::from_utf8(&invites[0].body).unwrap()).unwrap();
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert_eq!(offer.media[0].crypto[0].tag, 1);
    assert_eq!(offer.media[0].crypto[0].suite, SUITE);

    let ok = response(&invites[0], 200, "g", Some(&answer_sdp(true)));
    uac.handle_datagram(t0, GW.parse().unwrap(), &ok);
    let start = outputs(&mut uac).into_iter().find_map(|o| match o {
        Output::Start(s) => Some(s),
        _ => None,
    });
    assert!(start.expect("media start").srtp.is_some());

    // A plain answer to an SRTP offer fails the call (and is counted apart).
    let plain = response(&invites[1], 200, "g", Some(&answer_sdp(false)));
    uac.handle_datagram(t0, GW.parse().unwrap(), &plain);
    let out = sent(&mut uac);
    assert_eq!(out.len(), 2, "ACK, then BYE");
    check_request(&out[1], Method::Bye);
    assert_eq!(uac.totals.wrong_transport, 1);
    assert_eq!(
        uac.totals.failures.keys().collect::<Vec<_>>(),
        ["answered RTP/AVP to an RTP/SAVP offer"]
    );
}
