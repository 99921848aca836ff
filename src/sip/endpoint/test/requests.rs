//! Requests the endpoint builds (the MWI NOTIFY) and re-INVITEs the dialog answers itself.

use super::*;

#[test]
fn the_mwi_notify_is_built_by_the_endpoint() {
    let mut ep = endpoint_named("umgw-test");
    let t0 = Instant::now();
    mwi_notify(
        &mut ep,
        t0,
        "sip:mwi@10.0.0.5:5070",
        "sip:alice@contoso.com",
    );
    let sent = transmits(&mut ep);
    let [(to, notify)] = &sent[..] else {
        panic!("one NOTIFY, got {sent:?}");
    };
    assert_eq!(*to, "10.0.0.5:5060".parse().unwrap());
    assert_eq!(notify.method(), Some(&Method::Notify));
    // A target with a user part is addressed itself.
    assert_eq!(notify.request_uri(), Some("sip:mwi@10.0.0.5:5070"));
    assert_eq!(
        notify
            .header("Via")
            .map(|v| v.starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK")),
        Some(true)
    );
    assert_eq!(notify.header("Max-Forwards"), Some("70"));
    // The user is From, To and Contact, as Exchange UM sends it.
    let from = notify.header("From").unwrap();
    assert!(from.starts_with("<sip:alice@contoso.com>;tag="), "{from}");
    assert!(notify.from_tag().is_some_and(|t| !t.is_empty()));
    assert_eq!(notify.header("To"), Some("<sip:alice@contoso.com>"));
    assert!(notify.call_id().is_some_and(|c| c.ends_with("@umgw")));
    assert_eq!(notify.cseq(), Some((1, Method::Notify)));
    assert_eq!(notify.header("Contact"), Some("<sip:alice@contoso.com>"));
    assert_eq!(notify.header("Event"), Some("message-summary"));
    assert_eq!(notify.header("Subscription-State"), Some("terminated"));
    assert_eq!(
        notify.header("Content-Type"),
        Some("application/simple-message-summary")
    );
    assert_eq!(notify.header("User-Agent"), Some("umgw-test"));
    let body = String::from_utf8(notify.body.clone()).unwrap();
    assert!(body.ends_with("Voice-Message: 1/2 (0/0)\r\n"), "{body}");
    let summary = crate::mwi::parse_message_summary(&body).unwrap();
    assert_eq!(
        (summary.waiting, summary.voice_new, summary.voice_old),
        (true, 1, 2)
    );
    assert_eq!(summary.account.as_deref(), Some("sip:alice@contoso.com"));

    // A pool (no user part) is only where it goes: the Request-URI is the user.
    mwi_notify(
        &mut ep,
        t0,
        "sip:pool01.contoso.com;transport=tls",
        "sip:alice@contoso.com",
    );
    let notify = transmits(&mut ep).remove(0).1;
    assert_eq!(notify.request_uri(), Some("sip:alice@contoso.com"));
    assert_eq!(notify.header("To"), Some("<sip:alice@contoso.com>"));
    // A sips: pool: SIPS all along (RFC 3261 §8.1.1.8: a SIPS Request-URI, a SIPS Contact).
    mwi_notify(
        &mut ep,
        t0,
        "sips:pool01.contoso.com",
        "sip:alice@contoso.com",
    );
    let notify = transmits(&mut ep).remove(0).1;
    assert_eq!(notify.request_uri(), Some("sips:alice@contoso.com"));
    assert_eq!(notify.header("Contact"), Some("<sips:alice@contoso.com>"));
    assert!(notify
        .header("From")
        .unwrap()
        .starts_with("<sips:alice@contoso.com>;tag="));

    // A mailbox known only by its number: the target stands for the user, the body the number.
    mwi_notify(&mut ep, t0, "sips:mwi@pool.contoso.com", "+14255551001");
    let notify = transmits(&mut ep).remove(0).1;
    assert_eq!(notify.request_uri(), Some("sips:mwi@pool.contoso.com"));
    assert_eq!(notify.header("To"), Some("<sips:mwi@pool.contoso.com>"));
    assert_eq!(
        notify.header("Contact"),
        Some("<sips:mwi@pool.contoso.com>")
    );
    let body = String::from_utf8(notify.body.clone()).unwrap();
    assert!(body.contains("Message-Account: +14255551001\r\n"), "{body}");
    // Two NOTIFYs are two transactions with their own Call-IDs.
    assert_ne!(notify.call_id(), sent[0].1.call_id());
}

#[test]
fn reinvite_is_answered_with_the_current_sdp() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, ok) = answered(&mut ep, t0, "z9hG4bK4", b"v=0\r\nanswer");
    ep.handle(t0, peer("10.0.0.1"), ack_for(&ok, "z9hG4bKa4").as_bytes());
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));

    ep.handle(t0, peer("10.0.0.1"), reinvite(&ok, 2, OFFER).as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(200));
    assert_eq!(r[0].cseq(), Some((2, Method::Invite)));
    assert_eq!(r[0].body, b"v=0\r\nanswer");
    assert_eq!(r[0].to_tag(), ok.to_tag());
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::MediaUpdate {
            call,
            remote: "192.0.2.7:4002".parse().unwrap()
        })
    );
    // Its ACK does not restart the call.
    let ack = ack_for(&r[0], "z9hG4bKa5").replace("CSeq: 1 ACK", "CSeq: 2 ACK");
    ep.handle(t0, peer("10.0.0.1"), ack.as_bytes());
    assert_eq!(ep.poll_event(), None);
    ep.handle_timeout(t0 + Duration::from_millis(600));
    assert!(
        responses(&mut ep).is_empty(),
        "2xx to the re-INVITE was acknowledged"
    );
}

#[test]
fn in_dialog_requests_go_to_the_contact_uri_however_it_is_decorated() {
    // Lync's Contact: header parameters after the URI, one of them quoting `<...>`.
    let mut ep = endpoint();
    let t0 = Instant::now();
    let lync = invite("z9hG4bKc1").replace(
        "Contact: <sip:bob@10.0.0.1:5060>",
        "Contact: <sip:pool01.contoso.com@10.0.0.1:5060;transport=udp;ms-opaque=d3470f2e1d>;\
         proxy=replace;+sip.instance=\"<urn:uuid:0ad3c0c8-7b1e-5a44-9a4e-3b5c1f0b8a71>\"",
    );
    ep.handle(t0, peer("10.0.0.1"), lync.as_bytes());
    responses(&mut ep);
    let call = incoming(&mut ep);
    ep.answer(t0, call, b"v=0".to_vec());
    let ok = responses(&mut ep).remove(0);
    ep.handle(t0, peer("10.0.0.1"), ack_for(&ok, "z9hG4bKc2").as_bytes());
    ep.hangup(t0, call);
    let bye = responses(&mut ep).remove(0);
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(
        bye.request_uri(),
        Some("sip:pool01.contoso.com@10.0.0.1:5060;transport=udp;ms-opaque=d3470f2e1d")
    );
    // Without a usable Contact: the From URI.
    let mut ep = endpoint();
    let bare = invite("z9hG4bKc3").replace("Contact: <sip:bob@10.0.0.1:5060>\r\n", "");
    ep.handle(t0, peer("10.0.0.1"), bare.as_bytes());
    responses(&mut ep);
    let call = incoming(&mut ep);
    ep.answer(t0, call, b"v=0".to_vec());
    let ok = responses(&mut ep).remove(0);
    ep.handle(t0, peer("10.0.0.1"), ack_for(&ok, "z9hG4bKc4").as_bytes());
    ep.hangup(t0, call);
    let bye = responses(&mut ep).remove(0);
    assert_eq!(bye.request_uri(), Some("sip:bob@contoso.com"));
}

/// An established call answered with `answer`: its handle and our 200.
fn established_with(ep: &mut Endpoint, t0: Instant, answer: &str) -> (CallId, Message) {
    let (call, ok) = answered(ep, t0, "z9hG4bKv1", answer.as_bytes());
    ep.handle(t0, peer("10.0.0.1"), ack_for(&ok, "z9hG4bKv2").as_bytes());
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));
    (call, ok)
}

/// Sends a re-INVITE and ACKs its 200: the 200.
fn reinvited(ep: &mut Endpoint, t0: Instant, ok: &Message, cseq: u32, sdp: &str) -> Message {
    ep.handle(t0, peer("10.0.0.1"), reinvite(ok, cseq, sdp).as_bytes());
    let r = responses(ep).remove(0);
    assert_eq!(r.status(), Some(200));
    let ack = ack_for(&r, &format!("z9hG4bKack{cseq}"))
        .replace("CSeq: 1 ACK", &format!("CSeq: {cseq} ACK"));
    ep.handle(t0, peer("10.0.0.1"), ack.as_bytes());
    r
}

const ANSWER: &str = "v=0\r\no=umgw 77 77 IN IP4 127.0.0.1\r\ns=umgw\r\nc=IN IP4 127.0.0.1\r\n\
                      t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=ptime:20\r\na=sendrecv\r\n";

#[test]
fn a_reinvite_is_answered_with_the_current_description_and_its_version() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, ok) = established_with(&mut ep, t0, ANSWER);
    // The same description, the same version, however often the peer asks (RFC 3264 §8).
    for cseq in 2..4 {
        let r = reinvited(&mut ep, t0, &ok, cseq, OFFER);
        assert_eq!(r.body, ANSWER.as_bytes(), "re-INVITE {cseq}");
        assert_eq!(r.header("Content-Type"), Some("application/sdp"));
        assert_eq!(
            ep.poll_event(),
            Some(EndpointEvent::MediaUpdate {
                call,
                remote: "192.0.2.7:4002".parse().unwrap()
            })
        );
    }
    // The call's media moved: the next answer has the new port and version 78.
    ep.set_local_sdp(call, ANSWER.replace("40000", "40002").into_bytes());
    let r = reinvited(&mut ep, t0, &ok, 4, OFFER);
    let want = ANSWER.replace("40000", "40002").replace("77 77", "77 78");
    assert_eq!(String::from_utf8_lossy(&r.body), want);
    assert!(matches!(
        ep.poll_event(),
        Some(EndpointEvent::MediaUpdate { .. })
    ));
    // Setting the same description again changes nothing.
    ep.set_local_sdp(call, ANSWER.replace("40000", "40002").into_bytes());
    let r = reinvited(&mut ep, t0, &ok, 5, "");
    assert_eq!(String::from_utf8_lossy(&r.body), want);
    // No offer (the peer wants ours): no media update.
    while let Some(ev) = ep.poll_event() {
        assert!(!matches!(ev, EndpointEvent::MediaUpdate { .. }), "{ev:?}");
    }
}

#[test]
fn the_media_update_reads_the_offer_the_call_would_answer() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, ok) = established_with(&mut ep, t0, ANSWER);
    let update = |ep: &mut Endpoint, cseq: u32, text: &str| {
        ep.handle(t0, peer("10.0.0.1"), text.as_bytes());
        let r = responses(ep).remove(0);
        assert_eq!(
            (r.status(), r.cseq()),
            (Some(200), Some((cseq, Method::Invite)))
        );
        let ack = ack_for(&r, &format!("z9hG4bKack{cseq}"))
            .replace("CSeq: 1 ACK", &format!("CSeq: {cseq} ACK"));
        ep.handle(t0, peer("10.0.0.1"), ack.as_bytes());
        std::iter::from_fn(|| ep.poll_event()).collect::<Vec<_>>()
    };
    // A multipart body (as Lync sends): the part we would answer, the first we can serve.
    let boundary = "b1";
    let plain = OFFER.replace("192.0.2.7", "192.0.2.8");
    let secure = OFFER
        .replace("192.0.2.7", "192.0.2.9")
        .replace("RTP/AVP 0\r\n", "RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n");
    let body = format!(
        "--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{plain}\r\n--{boundary}\r\n\
         Content-Type: application/sdp\r\n\r\n{secure}\r\n--{boundary}--\r\n"
    );
    let text = reinvite(&ok, 2, &body).replacen(
        "Content-Type: application/sdp",
        &format!("Content-Type: multipart/alternative;boundary={boundary}"),
        1,
    );
    let events = update(&mut ep, 2, &text);
    assert_eq!(
        events,
        [EndpointEvent::MediaUpdate {
            call,
            remote: "192.0.2.8:4002".parse().unwrap()
        }]
    );
    // In one description, RTP/SAVP is preferred to RTP/AVP (as `negotiate_secure` does).
    let both = format!(
        "{plain}m=audio 4002 RTP/SAVP 0\r\nc=IN IP4 192.0.2.9\r\n{}",
        &secure[secure.find("a=crypto").unwrap()..]
    );
    assert_eq!(
        update(&mut ep, 3, &reinvite(&ok, 3, &both)),
        [EndpointEvent::MediaUpdate {
            call,
            remote: "192.0.2.9:4002".parse().unwrap()
        }]
    );
    // Held with the RFC 2543 address, or no audio at all: answered, but nowhere new to send.
    let held = OFFER.replace("c=IN IP4 192.0.2.7", "c=IN IP4 0.0.0.0");
    assert_eq!(update(&mut ep, 4, &reinvite(&ok, 4, &held)), []);
    let video = OFFER.replace("m=audio", "m=video");
    assert_eq!(update(&mut ep, 5, &reinvite(&ok, 5, &video)), []);
    let garbage = "v=0\r\nX";
    assert_eq!(update(&mut ep, 6, &reinvite(&ok, 6, garbage)), []);
}

/// `ack` with `sdp` as its body.
fn with_body(ack: &str, sdp: &str) -> String {
    ack.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    )
}

#[test]
fn the_first_acks_sdp_is_reported_as_the_answer_before_acked() {
    // A delayed offer: the INVITE had no SDP, our 200 offered, the ACK answers.
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, ok) = answered(&mut ep, t0, "z9hG4bKd1", ANSWER.as_bytes());
    let ack = with_body(&ack_for(&ok, "z9hG4bKd2"), OFFER);
    ep.handle(t0, peer("10.0.0.1"), ack.as_bytes());
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::AckAnswer {
            call,
            sdp: OFFER.to_owned()
        })
    );
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));
    // A retransmitted ACK reports nothing again.
    ep.handle(t0, peer("10.0.0.1"), ack.as_bytes());
    assert_eq!(ep.poll_event(), None);

    // A re-INVITE without SDP: our 200 offers the current description; its ACK answers.
    ep.handle(t0, peer("10.0.0.1"), reinvite(&ok, 2, "").as_bytes());
    let r = responses(&mut ep).remove(0);
    assert_eq!((r.status(), &r.body[..]), (Some(200), ANSWER.as_bytes()));
    let ack = ack_for(&r, "z9hG4bKd3").replace("CSeq: 1 ACK", "CSeq: 2 ACK");
    ep.handle(t0, peer("10.0.0.1"), with_body(&ack, OFFER).as_bytes());
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::AckAnswer {
            call,
            sdp: OFFER.to_owned()
        })
    );
    assert_eq!(ep.poll_event(), None, "the call is not acked twice");
}
