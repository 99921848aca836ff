//! Endpoint scenarios on a fake clock: no sockets, no sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::sip::{Transport, Uri};

mod requests;

fn endpoint() -> Endpoint {
    endpoint_named("umgw-test")
}

/// An endpoint whose `Server` / `User-Agent` value is `server_name`.
fn endpoint_named(server_name: &str) -> Endpoint {
    Endpoint::new(EndpointConfig {
        timers: TimerConfig::default(),
        trusted: vec![acl::parse_network("10.0.0.0/8").unwrap()],
        server_name: server_name.into(),
        rng_seed: 7,
    })
}

fn peer(ip: &str) -> Remote {
    peer_at(ip, 5060)
}

/// A peer sending from `port` (behind a NAT: not the port its Via names).
fn peer_at(ip: &str, port: u16) -> Remote {
    Remote {
        transport: Transport::Udp {
            local: "127.0.0.1:5060".parse().unwrap(),
        },
        addr: SocketAddr::new(ip.parse().unwrap(), port),
    }
}

fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:alice@contoso.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         From: <sip:bob@contoso.com>;tag=caller\r\n\
         To: <sip:alice@contoso.com>\r\n\
         Call-ID: call-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:bob@10.0.0.1:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 3\r\n\r\nv=0"
    )
}

fn uri(text: &str) -> Uri {
    text.parse().unwrap()
}

/// An SDP offer with audio at 192.0.2.7:4002.
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
                     m=audio 4002 RTP/AVP 0\r\n";

/// A re-INVITE in the dialog of our 200 `ok` (from the caller of [`invite`]) with `sdp`.
fn reinvite(ok: &Message, cseq: u32, sdp: &str) -> String {
    let content_type = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKre{cseq}\r\n\
         From: <sip:bob@contoso.com>;tag=caller\r\nTo: {}\r\nCall-ID: call-1\r\nCSeq: {cseq} INVITE\r\n\
         {content_type}Content-Length: {}\r\n\r\n{sdp}",
        ok.header("To").unwrap(),
        sdp.len()
    )
}

/// An MWI NOTIFY sent to `target` about `account` from an endpoint on 127.0.0.1:5060.
fn mwi_notify(ep: &mut Endpoint, t0: Instant, target: &str, account: &str) -> RequestId {
    let body = crate::mwi::message_summary_body(
        account,
        crate::store::Counts {
            new: 1,
            old: 2,
            ..Default::default()
        },
    );
    let content = crate::mwi::notification(body);
    ep.send_notify(t0, peer("10.0.0.5"), &uri(target), account, content)
}

fn responses(ep: &mut Endpoint) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        out.push(Message::parse(&t.bytes).unwrap());
    }
    out
}

fn incoming(ep: &mut Endpoint) -> CallId {
    match ep.poll_event() {
        Some(EndpointEvent::IncomingCall { call, .. }) => call,
        other => panic!("expected IncomingCall, got {other:?}"),
    }
}

fn ack_for(ok: &Message, branch: &str) -> String {
    format!(
        "ACK sip:umgw@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         From: <sip:bob@contoso.com>;tag=caller\r\n\
         To: {}\r\n\
         Call-ID: call-1\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n",
        ok.header("To").unwrap()
    )
}

#[test]
fn untrusted_peer_gets_403_and_leaves_no_state() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle(t0, peer("192.0.2.9"), invite("z9hG4bK1").as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status(), Some(403));
    assert_eq!(r[0].call_id(), Some("call-1"));
    assert_eq!(ep.transactions(), 0);
    assert_eq!(ep.active_calls(), 0);
    assert_eq!(ep.poll_event(), None);
}

#[test]
fn invite_answer_ack_bye() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle(t0, peer("10.0.0.1"), invite("z9hG4bK1").as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(100));
    assert_eq!(r[0].to_tag(), None, "100 Trying carries no To tag");
    let call = incoming(&mut ep);
    ep.answer(t0, call, b"v=0\r\n".to_vec());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(200));
    assert!(r[0].to_tag().is_some());
    assert_eq!(r[0].header("Content-Type"), Some("application/sdp"));
    assert!(r[0]
        .header("Contact")
        .unwrap()
        .contains("sip:umgw@127.0.0.1:5060"));
    assert_eq!(r[0].cseq(), Some((1, Method::Invite)));
    // The 2xx is retransmitted at T1 until the ACK arrives.
    ep.handle_timeout(t0 + Duration::from_millis(500));
    assert_eq!(responses(&mut ep)[0].status(), Some(200));
    ep.handle(
        t0 + Duration::from_millis(600),
        peer("10.0.0.1"),
        ack_for(&r[0], "z9hG4bKack").as_bytes(),
    );
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));
    ep.handle_timeout(t0 + Duration::from_millis(1500));
    assert!(responses(&mut ep).is_empty(), "no retransmission after ACK");

    let bye = format!(
        "BYE sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbye\r\n\
         From: <sip:bob@contoso.com>;tag=caller\r\nTo: {}\r\nCall-ID: call-1\r\nCSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        r[0].header("To").unwrap()
    );
    ep.handle(
        t0 + Duration::from_secs(2),
        peer("10.0.0.1"),
        bye.as_bytes(),
    );
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(200));
    assert_eq!(r[0].cseq(), Some((2, Method::Bye)));
    assert_eq!(ep.poll_event(), Some(EndpointEvent::RemoteHangup { call }));
    // Dialog goes once the INVITE transaction's Timer L has run.
    ep.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Ended { call }));
    assert_eq!(ep.active_calls(), 0);
    assert_eq!(ep.transactions(), 0);
    assert_eq!(ep.poll_timeout(), None, "no timer left behind");
}

#[test]
fn a_deadline_that_moved_does_not_fire_at_its_old_time() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, ok) = answered(&mut ep, t0, "z9hG4bK1", b"v=0\r\n");
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    // The ACK before T1 moves the INVITE transaction's deadline to Timer L.
    let ack = ack_for(&ok, "z9hG4bKack");
    ep.handle(
        t0 + Duration::from_millis(100),
        peer("10.0.0.1"),
        ack.as_bytes(),
    );
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));
    // The old entry may still wake the driver; running it must do nothing.
    ep.handle_timeout(t0 + Duration::from_millis(500));
    assert!(
        responses(&mut ep).is_empty(),
        "no 200 retransmitted after the ACK"
    );
    assert_eq!(ep.transactions(), 1);
    let next = ep.poll_timeout().expect("Timer L armed");
    assert!(next > t0 + Duration::from_secs(1), "{:?}", next - t0);
}

#[test]
fn cancel_before_answer_gives_200_and_487() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.handle(t0, peer("10.0.0.1"), invite("z9hG4bKc").as_bytes());
    responses(&mut ep);
    let call = incoming(&mut ep);
    let cancel = "CANCEL sip:alice@contoso.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKc\r\n\
        From: <sip:bob@contoso.com>;tag=caller\r\nTo: <sip:alice@contoso.com>\r\nCall-ID: call-1\r\n\
        CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    ep.handle(t0, peer("10.0.0.1"), cancel.as_bytes());
    let r = responses(&mut ep);
    let codes: Vec<_> = r
        .iter()
        .map(|m| (m.status().unwrap(), m.cseq().unwrap().1))
        .collect();
    assert_eq!(codes, [(200, Method::Cancel), (487, Method::Invite)]);
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Cancelled { call }));
    // Answering afterwards does nothing.
    ep.answer(t0, call, b"v=0".to_vec());
    assert!(responses(&mut ep).is_empty());
    // ACK for the 487 (same branch) ends the transaction after Timer I.
    let ack = ack_for(&r[1], "z9hG4bKc");
    ep.handle(t0, peer("10.0.0.1"), ack.as_bytes());
    ep.handle_timeout(t0 + Duration::from_secs(6));
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Ended { call }));
    assert_eq!(ep.active_calls(), 0);
}

#[test]
fn missing_ack_ends_call_with_bye() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, _ok) = answered(&mut ep, t0, "z9hG4bK2", b"v=0");
    let mut t;
    let mut bye = None;
    while let Some(next) = ep.poll_timeout() {
        if next > t0 + Duration::from_secs(33) {
            break;
        }
        t = next;
        ep.handle_timeout(t);
        for m in responses(&mut ep) {
            if m.method() == Some(&Method::Bye) && bye.is_none() {
                bye = Some((t - t0, m));
            }
        }
    }
    assert_eq!(ep.poll_event(), Some(EndpointEvent::AckTimeout { call }));
    let (at, bye) = bye.expect("BYE sent");
    assert_eq!(at, Duration::from_secs(32), "Timer H = 64*T1");
    assert_eq!(bye.request_uri(), Some("sip:bob@10.0.0.1:5060"));
    assert_eq!(bye.to_tag(), Some("caller"));
    assert_eq!(bye.call_id(), Some("call-1"));
}

#[test]
fn options_unknown_and_unsupported_methods() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let req = |m: &str, b: &str| {
        format!(
            "{m} sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={b}\r\n\
             From: <sip:pool@contoso.com>;tag=x\r\nTo: <sip:umgw@127.0.0.1>\r\nCall-ID: {b}\r\n\
             CSeq: 5 {m}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    ep.handle(t0, peer("10.0.0.1"), req("OPTIONS", "z9hG4bKo").as_bytes());
    ep.handle(t0, peer("10.0.0.1"), req("FOO", "z9hG4bKf").as_bytes());
    ep.handle(t0, peer("10.0.0.1"), req("REGISTER", "z9hG4bKr").as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(200));
    assert_eq!(r[0].header("Allow"), Some(ALLOW));
    assert_eq!(r[0].header("Accept"), Some(crate::sdp::ACCEPT));
    assert_eq!(r[1].status(), Some(501));
    assert_eq!(r[2].status(), Some(405));
    assert_eq!(r[2].header("Allow"), Some(ALLOW));
    // A retransmitted OPTIONS is answered from the transaction, not anew.
    ep.handle(t0, peer("10.0.0.1"), req("OPTIONS", "z9hG4bKo").as_bytes());
    let again = responses(&mut ep);
    assert_eq!(again[0].to_tag(), r[0].to_tag());
}

#[test]
fn a_draining_endpoint_answers_options_503_so_load_balancers_take_it_out() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    ep.set_draining();
    let options = "OPTIONS sip:umgw@127.0.0.1 SIP/2.0\r\n\
                   Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKdrain\r\n\
                   From: <sip:kamailio@contoso.com>;tag=x\r\nTo: <sip:umgw@127.0.0.1>\r\n\
                   Call-ID: drain\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    ep.handle(t0, peer("10.0.0.1"), options.as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(503));
}

#[test]
fn malformed_request_gets_400_with_reason() {
    let mut ep = endpoint();
    let no_call_id = invite("z9hG4bK3").replace("Call-ID: call-1\r\n", "");
    ep.handle(Instant::now(), peer("10.0.0.1"), no_call_id.as_bytes());
    let t = ep.poll_transmit().unwrap();
    let text = String::from_utf8(t.bytes).unwrap();
    assert!(
        text.starts_with("SIP/2.0 400 Missing Call-ID\r\n"),
        "{text}"
    );
    assert_eq!(ep.transactions(), 0);
}

#[test]
fn bye_for_unknown_dialog_is_481_and_notify_result_is_reported() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let bye = "BYE sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKz\r\n\
        From: <sip:bob@contoso.com>;tag=a\r\nTo: <sip:x@y>;tag=nope\r\nCall-ID: zz\r\nCSeq: 2 BYE\r\n\
        Content-Length: 0\r\n\r\n";
    ep.handle(t0, peer("10.0.0.1"), bye.as_bytes());
    assert_eq!(responses(&mut ep)[0].status(), Some(481));

    let id = mwi_notify(
        &mut ep,
        t0,
        "sip:alice@10.0.0.5:5070",
        "sip:alice@contoso.com",
    );
    let sent = ep.poll_transmit().unwrap();
    let sent = Message::parse(&sent.bytes).unwrap();
    let branch = sent.top_via().unwrap().branch.unwrap();
    let ok = Message::response_to(&sent, 200, "OK", Some("2"));
    assert!(branch.starts_with("z9hG4bK"));
    ep.handle(t0, peer("10.0.0.5"), &ok.to_bytes());
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::RequestDone {
            id,
            status: Some(200)
        })
    );
}

/// An incoming call answered with `sdp` (INVITE with `branch`, 100, 200): its handle and
/// the 200, not yet ACKed.
fn answered(ep: &mut Endpoint, t0: Instant, branch: &str, sdp: &[u8]) -> (CallId, Message) {
    ep.handle(t0, peer("10.0.0.1"), invite(branch).as_bytes());
    responses(ep);
    let call = incoming(ep);
    ep.answer(t0, call, sdp.to_vec());
    (call, responses(ep).remove(0))
}

/// An established incoming call (INVITE, 200, ACK), its handle.
fn established(ep: &mut Endpoint, t0: Instant) -> CallId {
    let (call, ok) = answered(ep, t0, "z9hG4bKa1", b"v=0");
    ep.handle(t0, peer("10.0.0.1"), ack_for(&ok, "z9hG4bKa2").as_bytes());
    while ep.poll_event().is_some() {}
    call
}

/// Places a second leg for `a` to alice: its handle and the INVITE sent.
fn second_leg(ep: &mut Endpoint, t0: Instant, a: CallId) -> (CallId, Message) {
    let b = ep
        .invite_via(
            t0,
            a,
            &uri("sip:alice@contoso.com"),
            &uri("sip:5000@contoso.com"),
            b"v=0".to_vec(),
        )
        .unwrap();
    (b, responses(ep).pop().unwrap())
}

/// A response from the second leg's target to our `req`.
fn reply(ep: &mut Endpoint, now: Instant, req: &Message, code: u16, extra: &str) {
    let mut r = Message::response_to(req, code, "X", Some("b-tag"));
    if !extra.is_empty() {
        r.push("Contact", extra.to_owned());
    }
    ep.handle(now, peer("10.0.0.1"), &r.to_bytes());
}

#[test]
fn second_leg_is_acked_and_answered_and_its_bye_is_ours() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let a = established(&mut ep, t0);
    let (b, inv) = second_leg(&mut ep, t0, a);
    assert_eq!(inv.method(), Some(&Method::Invite));
    assert_eq!(inv.request_uri(), Some("sip:alice@contoso.com"));
    reply(&mut ep, t0, &inv, 180, "");
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::OutgoingProgress {
            call: b,
            status: 180
        })
    );
    reply(&mut ep, t0, &inv, 200, "<sip:alice@10.0.0.7:5060>");
    let ack = responses(&mut ep).pop().unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(
        ack.request_uri(),
        Some("sip:alice@10.0.0.7:5060"),
        "to the Contact"
    );
    assert!(ack.header("To").unwrap().contains("b-tag"));
    assert!(matches!(
        ep.poll_event(),
        Some(EndpointEvent::OutgoingAnswered { call, .. }) if call == b
    ));
    // A retransmitted 200 gets the same ACK again, and no second event.
    reply(&mut ep, t0, &inv, 200, "<sip:alice@10.0.0.7:5060>");
    assert_eq!(responses(&mut ep).pop().unwrap().to_bytes(), ack.to_bytes());
    assert_eq!(ep.poll_event(), None);
    // Our hang-up is a BYE in the second leg's dialog.
    ep.hangup(t0, b);
    let bye = responses(&mut ep).pop().unwrap();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.call_id(), inv.call_id());
    assert_eq!(bye.request_uri(), Some("sip:alice@10.0.0.7:5060"));
    assert!(bye
        .header("From")
        .unwrap()
        .contains(inv.from_tag().unwrap()));
}

#[test]
fn second_leg_failure_is_acked_by_the_transaction() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let a = established(&mut ep, t0);
    let (b, inv) = second_leg(&mut ep, t0, a);
    reply(&mut ep, t0, &inv, 486, "");
    let ack = responses(&mut ep).pop().unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.top_via().unwrap().branch, inv.top_via().unwrap().branch);
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::OutgoingFailed {
            call: b,
            status: Some(486)
        })
    );
}

#[test]
fn hanging_up_a_ringing_second_leg_cancels_it() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let a = established(&mut ep, t0);
    let (b, inv) = second_leg(&mut ep, t0, a);
    reply(&mut ep, t0, &inv, 180, "");
    ep.poll_event();
    ep.hangup(t0, b);
    let cancel = responses(&mut ep).pop().unwrap();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(
        cancel.top_via().unwrap().branch,
        inv.top_via().unwrap().branch
    );
    assert_eq!(cancel.cseq(), Some((1, Method::Cancel)));
    // 200 for the CANCEL, 487 for the INVITE: the leg fails, the 487 is acknowledged.
    reply(&mut ep, t0, &cancel, 200, "");
    reply(&mut ep, t0, &inv, 487, "");
    let ack = responses(&mut ep).pop().unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::OutgoingFailed {
            call: b,
            status: Some(487)
        })
    );
    // With no answer at all, Timer B ends it.
    let b2 = ep
        .invite_via(
            t0,
            a,
            &uri("sip:bob@contoso.com"),
            &uri("sip:5000@contoso.com"),
            b"v=0".to_vec(),
        )
        .unwrap();
    ep.handle_timeout(t0 + Duration::from_secs(33));
    while ep.poll_transmit().is_some() {}
    let mut failed = false;
    while let Some(ev) = ep.poll_event() {
        failed |= ev
            == EndpointEvent::OutgoingFailed {
                call: b2,
                status: None,
            };
    }
    assert!(failed);
}

/// A NOTIFY within the established call from 10.0.0.1, written with compact header forms
/// (`o` is Event, RFC 6665), carrying a `message/sipfrag` status line.
fn compact_notify(ok_to: &str, branch: &str, event: &str, sipfrag: &str) -> String {
    format!(
        "NOTIFY sip:umgw@127.0.0.1:5060 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         f: <sip:bob@contoso.com>;tag=caller\r\nt: {ok_to}\r\ni: call-1\r\nCSeq: 7 NOTIFY\r\n\
         o: {event}\r\nSubscription-State: active;expires=60\r\nc: message/sipfrag\r\n\
         l: {}\r\n\r\n{sipfrag}",
        sipfrag.len()
    )
}

#[test]
fn refer_notify_in_compact_form_is_transfer_progress() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let (call, ok) = answered(&mut ep, t0, "z9hG4bKn1", b"v=0");
    ep.handle(t0, peer("10.0.0.1"), ack_for(&ok, "z9hG4bKn2").as_bytes());
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));
    let to = ok.header("To").unwrap();

    let notify = compact_notify(to, "z9hG4bKn3", "refer;id=2", "SIP/2.0 180 Ringing\r\n");
    ep.handle(t0, peer("10.0.0.1"), notify.as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(200), "o: refer is Event: refer");
    assert_eq!(r[0].cseq(), Some((7, Method::Notify)));
    assert_eq!(
        ep.poll_event(),
        Some(EndpointEvent::TransferProgress { call, status: 180 })
    );

    // Another package is still refused, whichever form names it.
    let other = compact_notify(to, "z9hG4bKn4", "dialog", "SIP/2.0 200 OK\r\n");
    ep.handle(t0, peer("10.0.0.1"), other.as_bytes());
    let r = responses(&mut ep);
    assert_eq!(r[0].status(), Some(489));
    assert_eq!(r[0].header("Allow-Events"), Some("refer"));
    assert_eq!(ep.poll_event(), None);
}

/// Every message the endpoint sends for one call (100, 200, a stateless 403, BYE, NOTIFY):
/// the `Server` header of each response and the `User-Agent` of each request.
fn product_headers(ep: &mut Endpoint) -> Vec<(Option<u16>, Option<String>)> {
    let t0 = Instant::now();
    let mut sent = Vec::new();
    ep.handle(t0, peer("10.0.0.1"), invite("z9hG4bKp1").as_bytes());
    sent.extend(responses(ep));
    let call = incoming(ep);
    ep.answer(t0, call, b"v=0".to_vec());
    sent.extend(responses(ep));
    ep.handle(t0, peer("192.0.2.9"), invite("z9hG4bKp2").as_bytes());
    sent.extend(responses(ep));
    ep.hangup(t0, call);
    sent.extend(responses(ep));
    mwi_notify(ep, t0, "sip:alice@10.0.0.5:5070", "sip:alice@contoso.com");
    sent.extend(responses(ep));
    sent.iter()
        .map(|m| {
            let name = if m.is_request() {
                "User-Agent"
            } else {
                "Server"
            };
            // A request must not carry Server, nor a response User-Agent.
            let other = if m.is_request() {
                "Server"
            } else {
                "User-Agent"
            };
            assert_eq!(m.header(other), None);
            (m.status(), m.header(name).map(str::to_owned))
        })
        .collect()
}

#[test]
fn server_and_user_agent_carry_the_configured_value_or_are_left_out() {
    let named = product_headers(&mut endpoint_named("Voicemail 2.1"));
    let codes: Vec<_> = named.iter().map(|(code, _)| *code).collect();
    assert_eq!(codes, [Some(100), Some(200), Some(403), None, None]);
    for (code, value) in &named {
        assert_eq!(value.as_deref(), Some("Voicemail 2.1"), "{code:?}");
    }
    let anonymous = product_headers(&mut endpoint_named(""));
    assert_eq!(anonymous.len(), 5);
    for (code, value) in &anonymous {
        assert_eq!(value, &None, "{code:?}");
    }
}

/// Everything sent, with where it goes.
fn transmits(ep: &mut Endpoint) -> Vec<(SocketAddr, Message)> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        out.push((t.remote.addr, Message::parse(&t.bytes).unwrap()));
    }
    out
}

#[test]
fn responses_carry_rport_and_received_and_go_to_the_source() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let rport = |text: &str| text.replacen(";branch=", ";rport;branch=", 1);
    let request = |m: &str, b: &str| {
        format!(
            "{m} sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;rport;branch={b}\r\n\
             From: <sip:pool@contoso.com>;tag=x\r\nTo: <sip:umgw@127.0.0.1>\r\n\
             Call-ID: {b}\r\nCSeq: 5 {m}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // A caller behind a NAT: its Via says 5060, its packets come from 40000.
    let nat = peer_at("10.0.0.1", 40000);
    ep.handle(t0, nat, rport(&invite("z9hG4bKr1")).as_bytes());
    let call = incoming(&mut ep);
    ep.answer(t0, call, b"v=0".to_vec());
    // Stateless and transaction refusals: 481 (BYE in no dialog), 501, 400, 403 (untrusted).
    let bye = request("BYE", "z9hG4bKr2").replace("127.0.0.1>\r\n", "127.0.0.1>;tag=gone\r\n");
    ep.handle(t0, nat, bye.as_bytes());
    ep.handle(t0, nat, request("FOO", "z9hG4bKr3").as_bytes());
    let malformed = request("OPTIONS", "z9hG4bKr4").replace("CSeq: 5 OPTIONS\r\n", "");
    ep.handle(t0, nat, malformed.as_bytes());
    let outsider = peer_at("192.0.2.9", 41000);
    ep.handle(t0, outsider, rport(&invite("z9hG4bKr5")).as_bytes());

    let sent = transmits(&mut ep);
    let codes: Vec<_> = sent.iter().map(|(_, m)| m.status().unwrap()).collect();
    assert_eq!(codes, [100, 200, 481, 501, 400, 403]);
    for (to, m) in &sent {
        let (port, ip) = if m.status() == Some(403) {
            (41000, "192.0.2.9")
        } else {
            (40000, "10.0.0.1")
        };
        assert_eq!(*to, SocketAddr::new(ip.parse().unwrap(), port), "{m:?}");
        let via = m.header("Via").unwrap();
        let params: Vec<&str> = via.split(';').skip(1).collect();
        assert!(params.contains(&format!("rport={port}").as_str()), "{via}");
        assert!(params.contains(&format!("received={ip}").as_str()), "{via}");
        assert!(!params.contains(&"rport"), "{via}");
    }

    // No rport, but a sent-by that names a host, not the source: received only.
    let named = request("OPTIONS", "z9hG4bKr6").replace("10.0.0.1:5060;rport", "pool.contoso.com");
    ep.handle(t0, peer("10.0.0.1"), named.as_bytes());
    let (to, ok) = transmits(&mut ep).remove(0);
    assert_eq!(to, "10.0.0.1:5060".parse().unwrap());
    assert_eq!(
        ok.header("Via"),
        Some("SIP/2.0/UDP pool.contoso.com;branch=z9hG4bKr6;received=10.0.0.1")
    );
    // And a Via that is exactly the source is copied untouched.
    ep.handle(t0, peer("10.0.0.1"), invite("z9hG4bKr7").as_bytes());
    let (_, trying) = transmits(&mut ep).remove(0);
    assert_eq!(
        trying.header("Via"),
        Some("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKr7")
    );
}

/// A peer on a TLS connection.
fn tls_peer() -> Remote {
    Remote {
        transport: Transport::Tls {
            conn: 1,
            local: "127.0.0.1:5061".parse().unwrap(),
        },
        addr: "10.0.0.1:50123".parse().unwrap(),
    }
}

#[test]
fn a_dialog_set_up_with_sips_keeps_a_sips_contact() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let sips = invite("z9hG4bKs1")
        .replace("INVITE sip:alice@", "INVITE sips:alice@")
        .replace("UDP 10.0.0.1:5060", "TLS 10.0.0.1:5061");
    ep.handle(t0, tls_peer(), sips.as_bytes());
    responses(&mut ep);
    let call = incoming(&mut ep);
    ep.answer(t0, call, b"v=0".to_vec());
    let ok = responses(&mut ep).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("Contact"), Some("<sips:umgw@127.0.0.1:5061>"));
    let ack = ack_for(&ok, "z9hG4bKs2").replace("UDP 10.0.0.1:5060", "TLS 10.0.0.1:5061");
    ep.handle(t0, tls_peer(), ack.as_bytes());
    assert_eq!(ep.poll_event(), Some(EndpointEvent::Acked { call }));

    // Requests we send in the dialog keep it: REFER, then BYE.
    ep.refer(
        t0,
        call,
        &uri("sips:5000@contoso.com"),
        &uri("sips:alice@contoso.com"),
    )
    .expect("established");
    let refer = responses(&mut ep).remove(0);
    assert_eq!(refer.method(), Some(&Method::Refer));
    assert_eq!(refer.header("Contact"), Some("<sips:umgw@127.0.0.1:5061>"));
    // A re-INVITE is answered with it too.
    let reinvite = format!(
        "INVITE sips:umgw@127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKs3\r\n\
         From: <sip:bob@contoso.com>;tag=caller\r\nTo: {}\r\nCall-ID: call-1\r\nCSeq: 2 INVITE\r\n\
         Content-Length: 0\r\n\r\n",
        ok.header("To").unwrap()
    );
    ep.handle(t0, tls_peer(), reinvite.as_bytes());
    let ok2 = responses(&mut ep).remove(0);
    assert_eq!(ok2.status(), Some(200));
    assert_eq!(ok2.header("Contact"), Some("<sips:umgw@127.0.0.1:5061>"));
    ep.hangup(t0, call);
    let bye = responses(&mut ep)
        .into_iter()
        .find(|m| m.method() == Some(&Method::Bye))
        .expect("BYE");
    assert_eq!(bye.header("Contact"), Some("<sips:umgw@127.0.0.1:5061>"));

    // A sips top Record-Route makes the dialog SIPS as well; a plain sip: one does not.
    for (route, want) in [
        ("<sips:edge.contoso.com;lr>", "<sips:umgw@127.0.0.1:5061>"),
        (
            "<sip:edge.contoso.com;lr>",
            "<sip:umgw@127.0.0.1:5061;transport=tls>",
        ),
    ] {
        let mut ep = endpoint();
        let routed =
            invite("z9hG4bKs4").replace("Contact:", &format!("Record-Route: {route}\r\nContact:"));
        ep.handle(t0, tls_peer(), routed.as_bytes());
        responses(&mut ep);
        let call = incoming(&mut ep);
        ep.answer(t0, call, b"v=0".to_vec());
        assert_eq!(responses(&mut ep)[0].header("Contact"), Some(want));
    }

    // A second leg we place to a sips: target offers a SIPS Contact (RFC 3261 §8.1.1.8).
    let mut ep = endpoint();
    let a = established(&mut ep, t0);
    ep.invite_via(
        t0,
        a,
        &uri("sips:alice@contoso.com"),
        &uri("sip:5000@contoso.com"),
        b"v=0".to_vec(),
    )
    .unwrap();
    let leg = responses(&mut ep).pop().unwrap();
    assert_eq!(leg.header("Contact"), Some("<sips:umgw@127.0.0.1:5060>"));
}

#[test]
fn a_refusal_explains_itself_with_warning_and_accept() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    let mut refuse = |branch: &str, code: u16, why: Explanation| {
        ep.handle(t0, peer("10.0.0.1"), invite(branch).as_bytes());
        responses(&mut ep);
        let call = incoming(&mut ep);
        ep.reject_with(t0, call, StatusCode(code), why);
        let r = responses(&mut ep).remove(0);
        assert_eq!(r.status(), Some(code));
        r
    };
    let r = refuse(
        "z9hG4bKw1",
        488,
        Explanation {
            warning: Some((305, "offer has \"G729\" \\ nothing else\r\n".into())),
            accept: None,
            diagnostic: None,
        },
    );
    // warn-agent is the address the call reached; the text is a quoted-string.
    assert_eq!(
        r.header("Warning"),
        Some("305 127.0.0.1:5060 \"offer has \\\"G729\\\" \\\\ nothing else\"")
    );
    assert_eq!(r.header("Accept"), None);

    let r = refuse(
        "z9hG4bKw2",
        415,
        Explanation {
            warning: None,
            accept: Some(crate::sdp::ACCEPT),
            diagnostic: Some(Diagnostic::NotSdp),
        },
    );
    assert_eq!(
        r.header("Accept"),
        Some("application/sdp, multipart/alternative, multipart/mixed")
    );
    assert_eq!(r.header("Warning"), None);
}

/// The `ms-diagnostics` of `m`, parsed back.
fn ms_diagnostics(m: &Message) -> Option<crate::sip::headers::MsDiagnostics> {
    let values: Vec<&str> = m.headers_named("ms-diagnostics").collect();
    assert!(values.len() <= 1, "one ms-diagnostics at most: {values:?}");
    values
        .first()
        .map(|v| crate::sip::headers::parse_ms_diagnostics(v).unwrap())
}

#[test]
fn error_responses_to_trusted_peers_say_why_in_ms_diagnostics() {
    let mut ep = endpoint();
    let t0 = Instant::now();
    // A refusal that names its reason: that one, once, with our address as the source while
    // no FQDN is set.
    ep.handle(t0, peer("10.0.0.1"), invite("z9hG4bKd1").as_bytes());
    let trying = responses(&mut ep).remove(0);
    assert_eq!(ms_diagnostics(&trying), None, "a 100 explains nothing");
    let call = incoming(&mut ep);
    let why = Explanation {
        diagnostic: Some(Diagnostic::NoCommonCodec),
        ..Explanation::default()
    };
    ep.reject_with(t0, call, StatusCode::NOT_ACCEPTABLE_HERE, why);
    let r = responses(&mut ep).remove(0);
    let d = ms_diagnostics(&r).expect("488 carries ms-diagnostics");
    assert_eq!(
        (d.code, d.reason.as_str(), d.source.as_deref()),
        (15844, "No codec in common", Some("127.0.0.1"))
    );

    // Without one: the status's own. The source is the FQDN once it is set.
    ep.set_fqdn("umgw01.contoso.com".into());
    ep.handle(t0, peer("10.0.0.1"), invite("z9hG4bKd2").as_bytes());
    responses(&mut ep);
    let call = incoming(&mut ep);
    ep.reject(t0, call, StatusCode::SERVICE_UNAVAILABLE);
    let r = responses(&mut ep).remove(0);
    assert_eq!(
        r.header("ms-diagnostics"),
        Some(
            "15822;reason=\"Voice mail gateway cannot take the call now\";\
             source=\"umgw01.contoso.com\""
        )
    );
    // The endpoint's own refusals, stateful and stateless.
    let bye =
        "BYE sip:umgw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKd3\r\n\
        From: <sip:bob@contoso.com>;tag=a\r\nTo: <sip:x@y>;tag=nope\r\nCall-ID: zz\r\n\
        CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    ep.handle(t0, peer("10.0.0.1"), bye.as_bytes());
    let r = responses(&mut ep).remove(0);
    assert_eq!(
        (r.status(), ms_diagnostics(&r).map(|d| d.code)),
        (Some(481), Some(15806))
    );
    let no_call_id = invite("z9hG4bKd4").replace("Call-ID: call-1\r\n", "");
    ep.handle(t0, peer("10.0.0.1"), no_call_id.as_bytes());
    let r = responses(&mut ep).remove(0);
    assert_eq!(
        (r.status(), ms_diagnostics(&r).map(|d| d.code)),
        (Some(400), Some(15800))
    );
    let unknown = bye
        .replace("BYE", "FOO")
        .replace(";tag=nope", "")
        .replace("z9hG4bKd3", "z9hG4bKd5");
    ep.handle(t0, peer("10.0.0.1"), unknown.as_bytes());
    let r = responses(&mut ep).remove(0);
    assert_eq!(
        (r.status(), ms_diagnostics(&r).map(|d| d.code)),
        (Some(501), Some(15808))
    );
    // Success says nothing.
    let options = bye
        .replace("BYE sip", "OPTIONS sip")
        .replace("2 BYE", "1 OPTIONS")
        .replace(";tag=nope", "")
        .replace("z9hG4bKd3", "z9hG4bKd6");
    ep.handle(t0, peer("10.0.0.1"), options.as_bytes());
    let r = responses(&mut ep).remove(0);
    assert_eq!((r.status(), ms_diagnostics(&r)), (Some(200), None));

    // An untrusted source is outside the boundary: its 403 carries nothing to learn from.
    ep.handle(t0, peer("192.0.2.9"), invite("z9hG4bKd7").as_bytes());
    let r = responses(&mut ep).remove(0);
    assert_eq!((r.status(), ms_diagnostics(&r)), (Some(403), None));
}
