//! The auto attendant against the real gateway: one test per key-mapping type (transfer,
//! submenu, mailbox, operator, dial by extension), after-hours selection, and transfers the
//! peer refuses (REFER rejected, NOTIFY with a failure) falling back to the user's mailbox.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;
use umgw::sip::message::{Message, Method};
use umgw::store::MessageKind;

const PILOT: &str = "+14255550000";

/// A plan with one attendant; `schedule` is the BusinessHoursSchedule line (or nothing).
fn plan(schedule: &str) -> String {
    format!(
        "Name = \"aa\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\nOperatorExtension = \"1002\"\n\
         [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"{PILOT}\"]\n\
         TimeZone = \"America/Los_Angeles\"\n{schedule}\n\
         BusinessHoursKeyMapping = [\n\
           {{ Key = \"1\", Action = \"Transfer\", Target = \"1001\" }},\n\
           {{ Key = \"2\", Action = \"Menu\", Target = \"Sales\" }},\n\
           {{ Key = \"3\", Action = \"Mailbox\", Target = \"1003\" }},\n\
           {{ Key = \"7\", Action = \"Transfer\", Target = \"+14255550123\" }},\n\
           {{ Key = \"9\", Action = \"DialByExtension\" }},\n\
           {{ Key = \"0\", Action = \"Operator\" }},\n\
         ]\n\
         AfterHoursKeyMapping = [{{ Key = \"1\", Action = \"Mailbox\", Target = \"1003\" }}]\n\
         [[AutoAttendant.Menu]]\nName = \"Sales\"\n\
         KeyMapping = [{{ Key = \"1\", Action = \"Transfer\", Target = \"1003\" }}]\n\
         [[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n\
         [[Mailbox]]\nId = \"bob\"\nExtension = \"1002\"\nSipAddress = \"sip:bob@contoso.com\"\n\
         [[Mailbox]]\nId = \"carol\"\nExtension = \"1003\"\n"
    )
}

fn start(schedule: &str) -> Gateway {
    let tone = umgw::media::prompts::tone(800.0, 400, 0.3);
    Gateway::start(GatewayOptions {
        plan: plan(schedule),
        greetings: vec![("alice".into(), tone.clone()), ("carol".into(), tone)],
        ..GatewayOptions::default()
    })
}

/// Calls the attendant; returns the gateway's media address once the menu is playing.
fn call(gw: &Gateway, ua: &mut Ua) -> SocketAddr {
    ua.call_menu(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip))
}

/// Answers `req` with `code`.
fn respond(ua: &Ua, req: &Message, code: u16, reason: &str) {
    let resp = Message::response_to(req, code, reason, Some("uas"));
    ua.sip.send_to(&resp.to_bytes(), ua.gw).unwrap();
}

/// The transferee's report on the transfer (RFC 3515 NOTIFY with a sipfrag), within the
/// dialog; returns the gateway's answer.
fn notify(ua: &mut Ua, status_line: &str, cseq: u32) -> Message {
    let to = ua.to.clone().expect("dialog");
    let body = format!("{status_line}\r\n");
    let text = format!(
        "NOTIFY sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-n{cseq}-{ft}\r\n\
         Max-Forwards: 70\r\nFrom: {CALLER};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\n\
         CSeq: {cseq} NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated;reason=noresource\r\n\
         Content-Type: message/sipfrag;version=2.0\r\nContent-Length: {len}\r\n\r\n{body}",
        gw = ua.gw,
        l = ua.local(),
        ft = ua.from_tag,
        cid = ua.call_id,
        len = body.len()
    );
    ua.send(&text);
    loop {
        let m = ua.recv(Duration::from_secs(3)).expect("answer to NOTIFY");
        if m.cseq().is_some_and(|(_, method)| method == Method::Notify) {
            return m;
        }
    }
}

/// The REFER the gateway sends, and its Refer-To URI.
fn expect_refer(ua: &Ua, gw: &Gateway) -> (Message, String) {
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    let refer_to = refer.header("Refer-To").unwrap_or_default().to_owned();
    assert_eq!(refer.call_id(), Some(ua.call_id.as_str()), "in the dialog");
    assert!(refer.header("Referred-By").is_some(), "log:\n{}", gw.log());
    (refer, refer_to)
}

/// Leaves a short message after the greeting and beep, then hangs up.
fn leave_message(ua: &mut Ua, media: SocketAddr) {
    // The rest of the announcement, the user's 400 ms greeting and the beep, then quiet.
    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(8));
    let (mut seq, mut ts) = (100u16, 8000u32);
    ua.send_audio(media, &test_signal(1500), 0x4242, &mut seq, &mut ts);
    ua.bye();
    let ok = ua.final_response(Duration::from_secs(3));
    assert_eq!(ok.status(), Some(200));
}

#[test]
fn transfer_key_sends_refer_and_ends_the_call_when_the_transfer_succeeds() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "1", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:alice@contoso.com>");
    respond(&ua, &refer, 202, "Accepted");
    let ok = notify(&mut ua, "SIP/2.0 100 Trying", 3);
    assert_eq!(ok.status(), Some(200));
    let ok = notify(&mut ua, "SIP/2.0 200 OK", 4);
    assert_eq!(ok.status(), Some(200));
    // Told of success, the gateway leaves the call (RFC 5589).
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        gw.messages("alice").is_empty(),
        "a transferred call leaves no message"
    );
    gw.wait_log("transfer completed", Duration::from_secs(2));
}

#[test]
fn refer_rejected_by_the_peer_leaves_a_message_in_the_users_mailbox() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "1", &mut ts);
    let (refer, _) = expect_refer(&ua, &gw);
    respond(&ua, &refer, 403, "Forbidden");
    leave_message(&mut ua, media);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert_eq!(msgs[0].call_id, ua.call_id);
    let audio = read_wav(msgs[0].audio_wav.as_deref().expect("audio"));
    let secs = audio.len() as f64 / 8000.0;
    assert!((1.2..=1.8).contains(&secs), "recorded {secs} s");
}

#[test]
fn submenu_transfer_that_fails_in_notify_falls_back_to_the_mailbox() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "2", &mut ts);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    // carol has no SIP address: her extension at the plan's domain.
    assert_eq!(refer_to, "<sip:1003@contoso.com;user=phone>");
    respond(&ua, &refer, 202, "Accepted");
    let ok = notify(&mut ua, "SIP/2.0 486 Busy Here", 3);
    assert_eq!(ok.status(), Some(200));
    leave_message(&mut ua, media);
    let msgs = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
}

#[test]
fn mailbox_key_goes_straight_to_voice_mail() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "3", &mut ts);
    leave_message(&mut ua, media);
    let msgs = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert!(gw.messages("alice").is_empty());
}

#[test]
fn operator_key_transfers_to_the_operator_extension() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "0", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:bob@contoso.com>");
    respond(&ua, &refer, 202, "Accepted");
    notify(&mut ua, "SIP/2.0 200 OK", 3);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
}

#[test]
fn dial_by_extension_transfers_to_the_extension_typed() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "9", &mut ts);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:alice@contoso.com>");
    respond(&ua, &refer, 202, "Accepted");
    notify(&mut ua, "SIP/2.0 200 OK", 3);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
    assert!(gw.log().contains("dial by extension"), "{}", gw.log());
}

#[test]
fn after_hours_the_same_key_does_what_the_after_hours_menu_says() {
    // An empty schedule: the office is never open, so every call is after hours.
    let gw = start("BusinessHoursSchedule = []");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    // Key 1 transfers to alice in business hours; after hours it is carol's mailbox.
    ua.keys(media, "1", &mut ts);
    leave_message(&mut ua, media);
    let msgs = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert!(gw.log().contains("AfterHours"), "{}", gw.log());
}

#[test]
fn failed_transfer_to_a_number_without_mailbox_returns_to_the_menu() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "7", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:+14255550123@contoso.com;user=phone>");
    respond(&ua, &refer, 603, "Decline");
    // "That line is not available" and the menu again: the call stays up, nothing stored.
    let again = ua.recv_rtp_until_quiet(Duration::from_millis(500), Duration::from_secs(3));
    assert!(
        again.len() > 50,
        "{} packets after the failed transfer",
        again.len()
    );
    // The menu still works: key 0 now reaches the operator.
    ua.keys(media, "0", &mut ts);
    let (_, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:bob@contoso.com>");
    ua.bye();
    for mailbox in ["alice", "bob", "carol"] {
        assert!(gw.messages(mailbox).is_empty(), "{mailbox}");
    }
}

/// The gateway's media address in an SDP body.
fn sdp_target(body: &[u8]) -> SocketAddr {
    let text = std::str::from_utf8(body).unwrap();
    let port: u16 = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One PCMU packet with a recognisable payload.
fn rtp_packet(seq: u16, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; 12 + 160];
    umgw::media::rtp::RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 0xB0B,
    }
    .write(&mut p);
    p
}

#[test]
fn peer_without_refer_gets_a_bridged_second_leg_with_media_both_ways() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "1", &mut ts);
    let (refer, _) = expect_refer(&ua, &gw);
    respond(&ua, &refer, 501, "Not Implemented");

    // The gateway calls alice itself, through the peer the call came from.
    let invite = ua.expect_request(Method::Invite, Duration::from_secs(5));
    assert_eq!(invite.request_uri(), Some("sip:alice@contoso.com"));
    assert_ne!(invite.call_id(), Some(ua.call_id.as_str()), "a new dialog");
    let leg_media = sdp_target(&invite.body);
    let b_rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ua.answer_invite(&invite, &b_rtp);
    let ack = ua.expect_request(Method::Ack, Duration::from_secs(5));
    assert_eq!(ack.call_id(), invite.call_id());

    // Media flows both ways through the gateway: B's packets reach the caller, the caller's
    // reach B (payload intact). The attendant's own prompt may still be draining: skip it.
    b_rtp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    ua.rtp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (mut at_caller, mut at_b) = (0, 0);
    let mut buf = [0u8; 1500];
    for seq in 0..25u16 {
        b_rtp.send_to(&rtp_packet(seq, 0x55), leg_media).unwrap();
        ua.rtp.send_to(&rtp_packet(seq, 0x66), media).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        while let Ok((n, _)) = ua.rtp.recv_from(&mut buf) {
            if n == 172 && buf[12..n].iter().all(|&b| b == 0x55) {
                at_caller += 1;
            }
        }
        while let Ok((n, _)) = b_rtp.recv_from(&mut buf) {
            if n == 172 && buf[12..n].iter().all(|&b| b == 0x66) {
                at_b += 1;
            }
        }
    }
    assert!(at_caller >= 20, "{at_caller} of 25 reached the caller");
    assert!(at_b >= 20, "{at_b} of 25 reached the target");

    // The target hangs up: the gateway ends the caller's call too.
    let gw_tag = invite.from_tag().unwrap().to_owned();
    ua.send(&format!(
        "BYE sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-bye-b\r\n\
         Max-Forwards: 70\r\nFrom: {to};tag=leg-b\r\nTo: {from}\r\nCall-ID: {cid}\r\n\
         CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        gw = ua.gw,
        l = ua.local(),
        to = invite.header("To").unwrap(),
        from = invite.header("From").unwrap(),
        cid = invite.call_id().unwrap(),
    ));
    assert!(invite.header("From").unwrap().contains(&gw_tag));
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    assert_eq!(
        bye.call_id(),
        Some(ua.call_id.as_str()),
        "the caller's call ends"
    );
    ua.ok(&bye);
    assert!(gw.messages("alice").is_empty());
}

#[test]
fn second_leg_refused_falls_back_to_the_mailbox() {
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua);
    let mut ts = 0;
    ua.keys(media, "1", &mut ts);
    let (refer, _) = expect_refer(&ua, &gw);
    respond(&ua, &refer, 405, "Method Not Allowed");
    let invite = ua.expect_request(Method::Invite, Duration::from_secs(5));
    respond(&ua, &invite, 486, "Busy Here");
    let ack = ua.expect_request(Method::Ack, Duration::from_secs(5));
    assert_eq!(
        ack.call_id(),
        invite.call_id(),
        "the failure is acknowledged"
    );
    leave_message(&mut ua, media);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
}

/// The caller's SRTP stream wraps its sequence number (its rollover counter goes to 1) while
/// the menu plays; it then picks a mailbox. The deposit goes on with the call's SRTP state: a
/// fresh context would guess rollover 0, fail every packet's authentication and record
/// nothing.
#[test]
fn a_caller_whose_srtp_sequence_wrapped_in_the_menu_is_recorded_after_the_hand_over() {
    use umgw::media::g711::G711;
    use umgw::media::srtp::{SrtpContext, SrtpSuite};
    let gw = start("");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let key: [u8; 30] = std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
    let offer = ua.srtp_offer(&key);
    ua.invite(&format!("sip:{PILOT}@{};user=phone", gw.sip), "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
    assert!(std::str::from_utf8(&ok.body).unwrap().contains("RTP/SAVP"));
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    let mut tx = RtpStream {
        srtp: Some(SrtpContext::from_key_salt(
            SrtpSuite::AesCm128HmacSha1_80,
            &key,
        )),
        ssrc: 0x5AFE,
        seq: 65_500,
        ts: 0,
    };
    // A phone sends from the moment it is answered: 1.2 s of silence during the menu takes
    // the sequence past 65535; then '3' (carol's mailbox).
    tx.audio(&ua, media, G711::Pcmu, &[0; 9600]);
    assert!(tx.seq < 1000, "the sequence wrapped: {}", tx.seq);
    tx.key(&ua, media, '3');
    // Silence while the hand-over announcement, the greeting and the beep play, then speech.
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(10));
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            tx.audio(&ua, media, G711::Pcmu, &[0; 160]);
        }
    });
    let spoken = test_signal(1500);
    tx.audio(&ua, media, G711::Pcmu, &spoken);
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(3)).status(),
        Some(200)
    );
    let msgs = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail, "log:\n{}", gw.log());
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    let (corr, lag) = best_correlation(&through_pcmu(&spoken), &audio, 8 * 600);
    assert!(
        corr > 0.9,
        "the caller's words were recorded: {corr} at {lag}"
    );
    assert!(!gw.log().contains("srtp_failures=1"), "{}", gw.log());
}
