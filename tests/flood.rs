//! Scans and floods from untrusted sources (loopback only, bounded): a scanner learns no
//! mailbox, and legitimate calls complete while thousands of INVITEs arrive.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;
use umgw::sip::message::Method;

#[test]
fn flood_from_an_untrusted_source_does_not_stop_a_deposit() {
    let gw = Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
        ..GatewayOptions::default()
    });
    let target = gw.sip;
    let flooder = std::thread::spawn(move || {
        let sock = std::net::UdpSocket::bind("127.0.0.9:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let local = sock.local_addr().unwrap();
        let start = Instant::now();
        let (mut sent, mut answered) = (0u32, 0u32);
        let mut buf = [0u8; 2048];
        // 20,000 INVITEs (or 10 s, whichever first), each a new call.
        while sent < 20_000 && start.elapsed() < Duration::from_secs(10) {
            let msg = format!(
                "INVITE sip:alice@contoso.com SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKf{sent}\r\n\
                 From: <sip:scan@evil.example>;tag=f{sent}\r\nTo: <sip:alice@contoso.com>\r\n\
                 Call-ID: flood-{sent}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
            );
            if sock.send_to(msg.as_bytes(), target).is_ok() {
                sent += 1;
            }
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 403") {
                    answered += 1;
                }
            }
            if sent % 200 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 403") {
                answered += 1;
            }
        }
        (sent, answered, start.elapsed())
    });

    // Meanwhile, a trusted caller leaves a message.
    std::thread::sleep(Duration::from_millis(100));
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:alice@contoso.com", "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200));
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    let spoken = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &spoken, 3, &mut seq, &mut ts);
    ua.send_dtmf(media, '#', ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(10));
    ua.ok(&bye);

    let (sent, answered, took) = flooder.join().unwrap();
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    let (corr, _) = best_correlation(&through_pcmu(&spoken), &audio, 400);
    assert!(corr > 0.95, "correlation {corr} under flood");
    // The flood got a bounded number of 403s: burst + rate × time, never one per INVITE.
    let bound = 20.0 + 10.0 * took.as_secs_f64() + 5.0;
    assert!(sent >= 5_000, "flood too small to mean anything: {sent}");
    assert!(
        (answered as f64) <= bound,
        "{answered} answers to {sent} flood INVITEs in {took:?} (bound {bound})"
    );
    assert!(gw.log().contains("untrusted flood: dropping messages"));
}

#[test]
fn sipvicious_svwar_learns_no_mailbox() {
    // Only 127.0.0.2 is trusted; the scanner runs from 127.0.0.1.
    let gw = Gateway::start(GatewayOptions {
        trusted: vec!["127.0.0.2".into()],
        ..GatewayOptions::default()
    });
    let port = gw.sip.port().to_string();
    for method in ["INVITE", "REGISTER", "OPTIONS"] {
        let out = Command::new("svwar")
            .args(["-e1000-1010", "-m", method, "-p", &port, "127.0.0.1"])
            .output()
            .expect("svwar (scripts/install-test-deps.sh installs sipvicious)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("1001") && !text.contains("1003"),
            "svwar -m {method} found a mailbox:\n{text}"
        );
    }
    assert!(gw.messages("alice").is_empty());
    assert!(gw.log().contains("untrusted peer: 403"));
}
