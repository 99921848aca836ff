//! Voice-mail deposit against the real `umgw` binary over loopback UDP, driven by a small
//! Rust user agent (tests/support). The SIPp scenarios are in tests/sipp.rs.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::*;
use umgw::mwi::parse_message_summary;
use umgw::sip::message::Method;
use umgw::store::MessageKind;

const ALICE: &str = "sip:alice@contoso.com";

fn short_greeting() -> Vec<(String, Vec<i16>)> {
    // 400 ms greeting keeps the tests quick; the default greeting has its own test (SIPp).
    vec![("alice".into(), umgw::media::prompts::tone(800.0, 400, 0.3))]
}

/// Places a call to alice and returns after the greeting and beep were received.
/// A gateway with the short greeting and a plan with these idle and maximum lengths (s).
fn short_greeting_gateway(idle_s: u32, max_s: u32) -> Gateway {
    Gateway::start(GatewayOptions {
        plan: test_plan(idle_s, max_s, None),
        greetings: short_greeting(),
        ..GatewayOptions::default()
    })
}

fn establish(gw: &Gateway, ua: &mut Ua) -> (SocketAddr, Vec<OwnedRtp>) {
    diverted_call(gw, ua, ALICE, 480)
}

#[test]
fn options_keepalive_is_answered() {
    let gw = Gateway::start(GatewayOptions::default());
    let ua = Ua::new("127.0.0.1", gw.sip);
    ua.send_options();
    let r = ua.recv(Duration::from_secs(2)).unwrap();
    assert_eq!(r.status(), Some(200));
    assert!(r.header("Allow").unwrap().contains("INVITE"));
    assert_eq!(
        r.header("Accept"),
        Some("application/sdp, multipart/alternative, multipart/mixed")
    );

    // RFC 3581: a Via with `rport` gets the source port and address filled in, and the answer
    // reaches the source even when the Via names another host and port (a NAT's inside).
    let port = ua.local().port();
    for (n, sent_by) in [(1, ua.local().to_string()), (2, "10.9.9.9:5062".to_owned())] {
        ua.send(&format!(
            "OPTIONS sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {sent_by};branch=z9hG4bKrp{n};rport\r\n\
             From: <sip:pool@contoso.com>;tag=r{n}\r\nTo: <sip:umgw@{gw}>\r\nCall-ID: rport-{n}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = gw.sip
        ));
        let r = ua
            .recv(Duration::from_secs(2))
            .expect("answer at the source port");
        assert_eq!(r.status(), Some(200));
        assert_eq!(
            r.header("Via").map(str::to_owned),
            Some(format!(
                "SIP/2.0/UDP {sent_by};branch=z9hG4bKrp{n};rport={port};received=127.0.0.1"
            ))
        );
    }
}

#[test]
fn untrusted_peer_gets_403() {
    let gw = Gateway::start(GatewayOptions::default());
    let mut ua = Ua::new("127.0.0.9", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(ALICE, "", &offer);
    let r = ua.final_response(Duration::from_secs(2));
    assert_eq!(r.status(), Some(403));
    // Stateless: no 100 Trying came first, and the gateway logged the refusal.
    assert!(gw.log().contains("untrusted peer: 403"));
    assert!(gw.messages("alice").is_empty());
}

#[test]
fn unknown_mailbox_gets_404() {
    let gw = Gateway::start(GatewayOptions::default());
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:nobody@contoso.com", "", &offer);
    let r = ua.final_response(Duration::from_secs(2));
    assert_eq!(r.status(), Some(404));
    assert!(r.to_tag().is_some());
    assert_eq!(r.call_id(), Some(ua.call_id.as_str()));
    ua.ack(&r);
    assert!(gw.log().contains("no mailbox for called party"));
}

#[test]
fn no_common_codec_gets_488() {
    let gw = Gateway::start(GatewayOptions::default());
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.sdp_offer("18", "a=rtpmap:18 G729/8000\r\n");
    ua.invite(ALICE, "", &offer);
    let r = ua.final_response(Duration::from_secs(2));
    assert_eq!(r.status(), Some(488));
    // RFC 3261 §20.43: 305 Incompatible media format, from the gateway, saying what was offered.
    let warning = r.header("Warning").expect("488 carries a Warning");
    assert_eq!(
        warning,
        format!(
            "305 {} \"no common codec: offer has RTP/AVP 18(G729/8000); we serve PCMU/8000 or \
             PCMA/8000 over RTP/AVP\"",
            gw.sip
        )
    );
    ua.ack(&r);
}

#[test]
fn a_body_that_is_not_sdp_gets_415_with_accept() {
    let gw = Gateway::start(GatewayOptions::default());
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    ua.invite_branch = "z9hG4bK-415".into();
    let body = "call me maybe";
    ua.send(&format!(
        "INVITE {ALICE} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={b}\r\nMax-Forwards: 70\r\n\
         From: {CALLER};tag={ft}\r\nTo: <{ALICE}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:bob@{l}>\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n{body}",
        l = ua.local(),
        b = ua.invite_branch,
        ft = ua.from_tag,
        cid = ua.call_id,
        len = body.len()
    ));
    let r = ua.final_response(Duration::from_secs(2));
    assert_eq!(r.status(), Some(415), "log:\n{}", gw.log());
    assert_eq!(
        r.header("Accept"),
        Some("application/sdp, multipart/alternative, multipart/mixed")
    );
    assert_eq!(r.header("Warning"), None, "the Accept says it all");
    ua.ack(&r);
}

#[test]
fn cancel_before_answer() {
    let gw = Gateway::start(GatewayOptions {
        answer_delay_ms: 3000,
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(ALICE, "", &offer);
    // 100 Trying then 180 Ringing while the gateway waits to answer.
    let mut ringing = false;
    for _ in 0..20 {
        if let Some(m) = ua.recv(Duration::from_millis(100)) {
            if m.status() == Some(180) {
                ringing = true;
                break;
            }
        }
    }
    assert!(ringing, "no 180; log:\n{}", gw.log());
    ua.cancel(ALICE);
    let mut codes = Vec::new();
    for _ in 0..2 {
        let m = ua.recv(Duration::from_secs(2)).expect("response to CANCEL");
        codes.push((m.status().unwrap(), m.cseq().unwrap().1));
        if m.status() == Some(487) {
            ua.ack(&m);
        }
    }
    codes.sort_by_key(|c| c.0);
    assert_eq!(codes, [(200, Method::Cancel), (487, Method::Invite)]);
    // The gateway must not answer afterwards.
    assert!(ua.recv(Duration::from_millis(3500)).is_none());
    assert!(gw.messages("alice").is_empty());
}

#[test]
fn caller_hangup_mid_recording_keeps_message_and_lights_lamp() {
    let mwi = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mwi_port = mwi.local_addr().unwrap().port();
    let gw = Gateway::start(GatewayOptions {
        plan: test_plan(5, 1200, Some(mwi_port)),
        greetings: short_greeting(),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.2", gw.sip);
    let (media, prompt) = establish(&gw, &mut ua);
    // Greeting (400 ms) then the beep (250 ms), paced and numbered correctly.
    assert!(
        prompt.len() >= 30 && prompt.len() <= 36,
        "{} prompt packets",
        prompt.len()
    );
    for w in prompt.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].ssrc, w[0].ssrc);
        let dts = w[1].timestamp.wrapping_sub(w[0].timestamp);
        assert!(dts == 160 || dts == 320, "timestamp step {dts}");
    }
    assert!(prompt[0].marker);

    let sent = test_signal(2000);
    let (mut seq, mut ts) = (100u16, 8000u32);
    ua.send_audio(media, &sent, 0x1234, &mut seq, &mut ts);
    ua.bye();
    let ok = ua.final_response(Duration::from_secs(2));
    assert_eq!(ok.status(), Some(200));

    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let m = &msgs[0];
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert_eq!(m.call_id, ua.call_id);
    assert_eq!(m.caller.as_deref(), Some("+14255550199"));
    assert_eq!(m.mailbox_address, ALICE);
    assert!(m.subject.contains("Voice mail from"), "{}", m.subject);
    assert_audio_matches(&sent, m.audio_wav.as_ref().expect("audio attached"), 0.95);
    assert_eq!(gw.tmp_files("alice"), 0);

    // MWI: unsolicited NOTIFYs. The first is the start-up refresh (0/0: the lamp is off after a
    // restart until told otherwise); then the deposit's, with the new count.
    mwi.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut summaries = Vec::new();
    let mut call_ids: Vec<String> = Vec::new();
    while summaries
        .last()
        .is_none_or(|s: &umgw::mwi::MessageSummary| s.voice_new == 0)
    {
        let mut buf = [0u8; 4096];
        let (n, from) = mwi.recv_from(&mut buf).expect("MWI NOTIFY");
        let notify = umgw::sip::message::Message::parse(&buf[..n]).unwrap();
        assert_eq!(notify.method(), Some(&Method::Notify));
        assert_eq!(notify.header("Event"), Some("message-summary"));
        assert_eq!(notify.header("Subscription-State"), Some("terminated"));
        assert_eq!(
            notify.header("Content-Type"),
            Some("application/simple-message-summary")
        );
        let resp = umgw::sip::message::Message::response_to(&notify, 200, "OK", Some("m"));
        mwi.send_to(&resp.to_bytes(), from).unwrap();
        // UDP retransmissions of a NOTIFY answered late carry the same Call-ID.
        let call_id = notify.call_id().unwrap().to_owned();
        if call_ids.contains(&call_id) {
            continue;
        }
        call_ids.push(call_id);
        summaries.push(parse_message_summary(std::str::from_utf8(&notify.body).unwrap()).unwrap());
        assert!(summaries.len() <= 2, "unexpected NOTIFYs: {summaries:?}");
    }
    let first = &summaries[0];
    assert!(
        !first.waiting && (first.voice_new, first.voice_old) == (0, 0),
        "{first:?}"
    );
    let last = summaries.last().unwrap();
    assert!(last.waiting);
    assert_eq!(last.account.as_deref(), Some(ALICE));
    assert_eq!((last.voice_new, last.voice_old), (1, 0));
}

/// Reordered packets are put back in place, dropped ones are filled with silence, and the
/// call's receive statistics reach the message's metadata.
#[test]
fn reordered_and_lost_packets_are_counted_in_the_message() {
    let gw = short_greeting_gateway(5, 1200);
    let mut ua = Ua::new("127.0.0.2", gw.sip);
    let (media, _prompt) = establish(&gw, &mut ua);
    let sent = test_signal(2000);
    // 100 frames: 10/11 swapped, 30..=32 reversed, 50 and 70 never sent.
    let mut order: Vec<usize> = (0..100).filter(|k| *k != 50 && *k != 70).collect();
    order.swap(10, 11);
    order.swap(30, 32);
    let (mut seq, mut ts) = (65500u16, 8000u32);
    ua.send_frames(media, &sent, 0x1234, &mut seq, &mut ts, &order);
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(2)).status(),
        Some(200)
    );

    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let m = &msgs[0];
    let header = m
        .headers
        .iter()
        .find(|(k, _)| k == umgw::store::message::H_MEDIA_STATS)
        .map(|(_, v)| v.as_str())
        .expect("media stats header");
    let stats: umgw::media::stats::MediaStats = header.parse().expect("parses back");
    assert_eq!(stats.packets, 98, "{header}");
    assert_eq!(stats.lost, 2, "{header}");
    assert_eq!(stats.reordered, 3, "{header}");
    assert_eq!((stats.late, stats.duplicates), (0, 0), "{header}");
    // The call's last log line follows the store's commit.
    gw.wait_log(
        "media=packets=98; lost=2; late=0; reordered=3",
        Duration::from_secs(2),
    );
    // Lost frames are silence in place, so the recording keeps its length and alignment.
    assert_audio_matches(&sent, m.audio_wav.as_ref().expect("audio attached"), 0.9);
}

#[test]
fn pound_ends_recording_and_gateway_hangs_up() {
    let gw = Gateway::start(GatewayOptions {
        greetings: short_greeting(),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = establish(&gw, &mut ua);
    let sent = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &sent, 0x99, &mut seq, &mut ts);
    ua.send_dtmf(media, '#', ts);
    // "Your message has been saved. Goodbye." then BYE from the gateway.
    let farewell = ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(6));
    assert!(
        farewell.len() > 50,
        "farewell prompt: {} packets",
        farewell.len()
    );
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    assert_eq!(bye.call_id(), Some(ua.call_id.as_str()));
    assert_eq!(bye.to_tag(), Some(ua.from_tag.as_str()));
    ua.ok(&bye);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    assert!(
        (audio.len() as i64 - 12000).abs() <= 320,
        "{} samples",
        audio.len()
    );
    let (corr, _) = best_correlation(&through_pcmu(&sent), &audio, 400);
    assert!(corr > 0.95, "correlation {corr}");
    // Every line logged for the call carries its Call-ID and mailbox.
    let log = gw.log();
    let call_lines: Vec<&str> = log.lines().filter(|l| l.contains(&ua.call_id)).collect();
    assert!(call_lines.len() >= 3, "{log}");
    let after_routing = call_lines
        .iter()
        .skip_while(|l| !l.contains("accepting call"))
        .collect::<Vec<_>>();
    assert!(!after_routing.is_empty());
    for l in after_routing {
        assert!(
            l.contains("mailbox=\"alice\"") || l.contains("mailbox=alice"),
            "{l}"
        );
    }
}

#[test]
fn idle_timeout_ends_recording_and_trims_silence() {
    let gw = short_greeting_gateway(1, 1200);
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = establish(&gw, &mut ua);
    let mut sent = test_signal(1500);
    sent.extend(std::iter::repeat_n(0i16, 8000 * 3));
    let (mut seq, mut ts) = (1u16, 0u32);
    // The gateway stops recording 1 s into the silence; the rest of the stream is ignored.
    ua.send_audio(media, &sent[..(1500 + 1400) * 8], 0x77, &mut seq, &mut ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    // 1.5 s of speech plus the 200 ms tail kept after the last voiced frame.
    let ms = audio.len() / 8;
    assert!((1660..=1760).contains(&ms), "recorded {ms} ms");
    gw.wait_log("IdleTimeout", Duration::from_secs(2));
}

#[test]
fn max_length_stops_recording() {
    let gw = short_greeting_gateway(5, 2);
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = establish(&gw, &mut ua);
    let sent = test_signal(3000);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &sent, 0x55, &mut seq, &mut ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    let ms = audio.len() / 8;
    assert!((1960..=2040).contains(&ms), "recorded {ms} ms, limit 2000");
    gw.wait_log("MaxLength", Duration::from_secs(2));
}

#[test]
fn too_short_call_becomes_missed_call_notice() {
    let gw = Gateway::start(GatewayOptions {
        greetings: short_greeting(),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = establish(&gw, &mut ua);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &test_signal(400), 0x11, &mut seq, &mut ts);
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(2)).status(),
        Some(200)
    );
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::MissedCall);
    assert!(msgs[0].audio_wav.is_none());
    assert!(
        msgs[0].subject.starts_with("Missed call from"),
        "{}",
        msgs[0].subject
    );
    // The spool holds nothing once the notice is stored (its entry goes just after the
    // store commits, so allow that moment).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = gw.spool_entries();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left = gw.spool_entries();
    }
    assert!(left.is_empty(), "spool entries left behind: {left:?}");
}

#[test]
fn diversion_selects_the_most_recent_diverting_user() {
    let gw = Gateway::start(GatewayOptions::default());
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    // carol forwarded to alice? No: alice (1001) diverted last, carol first. Voice mail is alice's.
    ua.invite(
        &format!("sip:vm@{}", gw.sip),
        "Diversion: <tel:1001>;reason=no-answer;counter=2\r\nDiversion: <sip:carol@contoso.com>;reason=unconditional;counter=1\r\n",
        &offer,
    );
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200));
    ua.ack(&ok);
    ua.bye();
    let _ = ua.final_response(Duration::from_secs(2));
    // Hung up during the greeting: a missed-call notice in alice's mailbox, none in carol's.
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::MissedCall);
    assert!(gw.messages("carol").is_empty());
}

#[test]
fn malformed_request_gets_400_with_reason() {
    let gw = Gateway::start(GatewayOptions::default());
    let ua = Ua::new("127.0.0.1", gw.sip);
    ua.send(&format!(
        "INVITE {ALICE} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKbad\r\nFrom: <sip:x@y>;tag=1\r\n\
         To: <{ALICE}>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        ua.local()
    ));
    let r = ua.recv(Duration::from_secs(2)).unwrap();
    assert_eq!(r.status(), Some(400));
    let text = String::from_utf8(r.to_bytes()).unwrap();
    assert!(text.starts_with("SIP/2.0 400 Missing Call-ID"), "{text}");
    // Still serving afterwards.
    ua.send_options();
    assert_eq!(ua.recv(Duration::from_secs(2)).unwrap().status(), Some(200));
}

#[test]
fn options_over_tcp() {
    use std::io::{Read, Write};
    let gw = Gateway::start(GatewayOptions::default());
    let mut s = std::net::TcpStream::connect(gw.sip).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let local = s.local_addr().unwrap();
    // Every spelling of Content-Length frames the stream: long, any case, compact (`l`, `L`).
    let lengths = [
        "Content-Length",
        "content-length",
        "CONTENT-LENGTH",
        "l",
        "L",
    ];
    let req = |n: usize| {
        format!(
            "OPTIONS sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp{n}\r\n\
             From: <sip:pool@contoso.com>;tag=t\r\nTo: <sip:umgw@{gw}>\r\nCall-ID: tcp-{n}\r\n\
             CSeq: {n} OPTIONS\r\n{}: 0\r\n\r\n",
            lengths[n - 1],
            gw = gw.sip
        )
    };
    // All requests in one segment: framing by Content-Length must split them.
    let all: String = (1..=lengths.len()).map(req).collect();
    s.write_all(all.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.windows(4).filter(|w| w == b"\r\n\r\n").count() < lengths.len() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed; log:\n{}", gw.log());
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    assert_eq!(
        text.matches("SIP/2.0 200 OK").count(),
        lengths.len(),
        "{text}"
    );
    for n in 1..=lengths.len() {
        assert!(text.contains(&format!("CSeq: {n} OPTIONS")), "{text}");
    }
}
