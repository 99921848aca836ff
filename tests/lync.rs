//! The INVITE forms of tests/data/lync/ (Lync / Skype for Business, PBX gateways, RFC 7044,
//! RFC 4458) sent to the real gateway: each must reach the right mailbox, and the Lync form
//! must get one SDP answer with SRTP, with working SRTP media both ways.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use support::*;
use umgw::media::g711::G711;
use umgw::media::rtp;
use umgw::media::srtp::{SrtpContext, SrtpSuite};
use umgw::sip::message::{Message, Method};
use umgw::store::MessageKind;

fn sample(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/lync")
            .join(name),
    )
    .unwrap()
}

/// Fills a sample's placeholders and fixes its line ends and Content-Length.
fn fill(template: &str, ua: &Ua, gw: SocketAddr, key_b64: &str) -> String {
    let rtp = ua.rtp.local_addr().unwrap();
    let text = template
        .replace("{gw}", &gw.to_string())
        .replace("{local}", &ua.local().to_string())
        .replace("{branch}", "z9hG4bK-lync-1")
        .replace("{tag}", &ua.from_tag)
        .replace("{call_id}", &ua.call_id)
        .replace("{rtp_ip}", &rtp.ip().to_string())
        .replace("{rtp_port}", &rtp.port().to_string())
        .replace("{key}", key_b64);
    let (head, body) = text.split_once("\n\n").unwrap();
    let body = body.replace('\n', "\r\n");
    let head = head
        .replace('\n', "\r\n")
        .replace("{len}", &body.len().to_string());
    format!("{head}\r\n\r\n{body}")
}

/// Runs one sample to the end of a deposit; returns the final response of the INVITE.
fn deposit(gw: &Gateway, file: &str, mailbox: &str, codec: G711) -> Message {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let client_key: [u8; 30] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(client_key);
    ua.send(&fill(&sample(file), &ua, gw.sip, &key_b64));
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "{file}: log:\n{}", gw.log());
    assert_eq!(
        ok.header("Content-Type"),
        Some("application/sdp"),
        "one SDP answer"
    );
    ua.ack(&ok);
    let answer = String::from_utf8(ok.body.clone()).unwrap();
    let media = Ua::media_target(&ok);

    // SRTP when the answer says RTP/SAVP: we encrypt with the key we offered. (Decrypting the
    // gateway's packets is checked in its own test below.)
    let outbound = answer
        .contains("RTP/SAVP")
        .then(|| SrtpContext::from_key_salt(SrtpSuite::AesCm128HmacSha1_80, &client_key));

    // The greeting arrives in the negotiated codec (SRTP keeps the RTP header in clear).
    let greeting = ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    assert!(
        greeting.len() >= 20,
        "{file}: {} greeting packets",
        greeting.len()
    );
    assert!(greeting
        .iter()
        .all(|p| p.payload_type == codec.payload_type()));

    let spoken = test_signal(1500);
    let mut tx = RtpStream {
        srtp: outbound,
        ssrc: 0x1A2B,
        seq: 100,
        ts: 8000,
    };
    tx.audio(&ua, media, codec, &spoken);
    tx.key(&ua, media, '#');
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);

    let msgs = gw.wait_messages(mailbox, 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail, "{file}");
    assert_eq!(msgs[0].call_id, ua.call_id);
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    let sent = {
        let mut enc = vec![0u8; spoken.len()];
        codec.encode(&spoken, &mut enc);
        let mut dec = vec![0i16; spoken.len()];
        codec.decode(&enc, &mut dec);
        dec
    };
    let (corr, _) = best_correlation(&sent, &audio, 400);
    assert!(corr > 0.95, "{file}: correlation {corr}");
    ok
}

fn gateway() -> Gateway {
    Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 400, 0.3))],
        ..GatewayOptions::default()
    })
}

#[test]
fn lync_opaque_voicemail_uri_multipart_srtp() {
    let gw = gateway();
    let ok = deposit(&gw, "deposit-opaque-multipart.sip", "alice", G711::Pcmu);
    let answer = String::from_utf8(ok.body).unwrap();
    assert!(answer.contains("m=audio"), "{answer}");
    assert_eq!(answer.matches("m=audio").count(), 1);
    assert!(answer.contains("RTP/SAVP 0 101"), "{answer}");
    // Tag 2 needs an MKI (1:1), which we do not do; tag 3 is the same suite without one.
    assert!(
        answer.contains("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{answer}"
    );
    // The offer does ICE: we answer as a lite agent with the one host candidate, and a peer
    // that never checks still gets its media at its default candidate (the deposit above).
    assert!(answer.contains("\r\na=ice-lite\r\n"), "{answer}");
    assert_eq!(answer.matches("a=candidate:").count(), 1, "{answer}");
    let port = answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .unwrap();
    assert!(
        answer.contains(&format!(
            "a=candidate:1 1 UDP 2130706431 127.0.0.1 {port} typ host\r\n"
        )),
        "{answer}"
    );
    assert!(gw.log().contains("srtp=true"));
}

#[test]
fn pbx_stacked_diversion_reaches_the_most_recent_diverter() {
    let gw = gateway();
    let ok = deposit(&gw, "deposit-pbx-diversion.sip", "alice", G711::Pcma);
    assert!(String::from_utf8(ok.body)
        .unwrap()
        .contains("RTP/AVP 8 101"));
    assert!(gw.messages("carol").is_empty());
}

#[test]
fn history_info_with_several_entries_uses_the_mapped_one() {
    let gw = gateway();
    deposit(&gw, "deposit-history-info.sip", "alice", G711::Pcmu);
    assert!(
        gw.messages("carol").is_empty(),
        "not the first entry's user"
    );
}

#[test]
fn rfc4458_target_parameter() {
    let gw = gateway();
    deposit(&gw, "deposit-rfc4458-target.sip", "alice", G711::Pcmu);
}

#[test]
fn srtp_packets_from_the_gateway_decrypt_and_forgeries_are_dropped() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let client_key = [7u8; 30];
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(client_key);
    ua.send(&fill(
        &sample("deposit-opaque-multipart.sip"),
        &ua,
        gw.sip,
        &key_b64,
    ));
    let ok = ua.final_response(Duration::from_secs(5));
    ua.ack(&ok);
    let answer = String::from_utf8(ok.body.clone()).unwrap();
    let line = answer.lines().find(|l| l.starts_with("a=crypto:")).unwrap();
    let b64 = line
        .split("inline:")
        .nth(1)
        .unwrap()
        .split('|')
        .next()
        .unwrap();
    let gw_key: [u8; 30] = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap()
        .try_into()
        .unwrap();
    let mut inbound = SrtpContext::from_key_salt(SrtpSuite::AesCm128HmacSha1_80, &gw_key);
    // Raw packets: every one authenticates and decrypts to the greeting's audio.
    let mut buf = [0u8; 1500];
    ua.rtp
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut decoded = Vec::new();
    for _ in 0..15 {
        let (n, _) = ua.rtp.recv_from(&mut buf).unwrap();
        assert_eq!(n, 12 + 160 + 10, "RTP header + PCMU + 80-bit tag");
        let len = inbound.unprotect(&mut buf[..n]).expect("authentic SRTP");
        let p = rtp::parse(&buf[..len]).unwrap();
        let mut s = vec![0i16; p.payload.len()];
        G711::Pcmu.decode(p.payload, &mut s);
        decoded.extend(s);
    }
    let tone = umgw::media::prompts::tone(700.0, 400, 0.3);
    let (corr, _) = best_correlation(&through_pcmu(&tone[..decoded.len()]), &decoded, 5);
    assert!(corr > 0.99, "decrypted greeting correlation {corr}");

    // A forged packet (wrong key) with '#' must not end the recording.
    let media = Ua::media_target(&ok);
    std::thread::sleep(Duration::from_millis(600));
    let mut forger = RtpStream {
        srtp: Some(SrtpContext::from_key_salt(
            SrtpSuite::AesCm128HmacSha1_80,
            &[9u8; 30],
        )),
        ssrc: 0x1A2B,
        seq: 1,
        ts: 0,
    };
    forger.key(&ua, media, '#');
    let mut real = RtpStream {
        srtp: Some(SrtpContext::from_key_salt(
            SrtpSuite::AesCm128HmacSha1_80,
            &client_key,
        )),
        ssrc: 0x1A2B,
        seq: 500,
        ts: 0,
    };
    real.audio(&ua, media, G711::Pcmu, &test_signal(1200));
    real.key(&ua, media, '#');
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    assert!(
        (audio.len() as i64 - 9600).abs() <= 320,
        "{} samples",
        audio.len()
    );
    gw.wait_log("srtp_failures=6", Duration::from_secs(3));
}
