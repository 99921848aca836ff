//! SIPp scenarios (tests/sipp/*.xml) against the real `umgw` binary.
//!
//! sipp comes from the Debian package `sip-tester`, installed by scripts/install-test-deps.sh
//! (the README's test command runs it first). These tests fail, never skip, when sipp is
//! missing. `play_pcap_audio` sends through a raw socket, so the media scenario needs root,
//! as CI has.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::sipp::*;
use support::*;
use umgw::media::g711::G711;
use umgw::media::rtp;
use umgw::store::MessageKind;

#[test]
fn sipp_deposit_with_history_info_ends_in_maildir() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        unsafe_is_root(),
        "play_pcap_audio needs root (raw socket); run the test suite as root, as CI does"
    );
    let gw = Gateway::start(GatewayOptions::default());
    let work = tempfile::tempdir().unwrap();
    let spoken = test_signal(3000);
    support::pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &spoken).unwrap();

    // The greeting alice's callers hear: composed from the shipped prompts, then the beep.
    let prompts = umgw::gateway::assets::prompts().unwrap();
    let greeting = umgw::gateway::default_greeting(&prompts, "1001");
    let listen_ms = (greeting.len() / 8) as u64 + 250 + 400;

    let rtp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_rx.local_addr().unwrap().port().to_string();
    let collector = std::thread::spawn(move || {
        rtp_rx
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut got: Vec<(Instant, Vec<u8>)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            match rtp_rx.recv_from(&mut buf) {
                Ok((n, _)) => got.push((Instant::now(), buf[..n].to_vec())),
                Err(_)
                    if got.len() > 100
                        && got.last().unwrap().0.elapsed() > Duration::from_secs(3) =>
                {
                    break
                }
                Err(_) => {}
            }
        }
        got
    });

    let (ok, log) = run_deposit(
        &gw,
        work.path(),
        "sip:alice@contoso.com",
        &rtp_port,
        listen_ms,
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());

    // 1. The message is in alice's Maildir, with the caller's audio.
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let m = &msgs[0];
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert_eq!(m.mailbox_address, "sip:alice@contoso.com");
    assert_eq!(m.caller.as_deref(), Some("+14255550199"));
    assert_recording_matches(&spoken, m.audio_wav.as_ref().expect("audio attached"));

    // 2. The caller heard the greeting and the beep: paced 20 ms packets, correct numbering,
    //    and audio that is the greeting.
    let got = collector.join().unwrap();
    let packets: Vec<_> = got
        .iter()
        .map(|(at, b)| {
            let p = rtp::parse(b).unwrap();
            (
                *at,
                p.marker,
                p.sequence,
                p.timestamp,
                p.ssrc,
                p.payload.to_vec(),
            )
        })
        .collect();
    let greeting_packets = greeting.len().div_ceil(160);
    assert!(
        packets.len() > greeting_packets,
        "{} RTP packets, greeting alone is {greeting_packets}",
        packets.len()
    );
    assert!(packets[0].1, "first packet carries the marker bit");
    for w in packets[..greeting_packets].windows(2) {
        assert_eq!(w[1].2, w[0].2.wrapping_add(1), "sequence");
        assert_eq!(w[1].3.wrapping_sub(w[0].3), 160, "timestamp step");
        assert_eq!(w[1].4, w[0].4, "ssrc");
    }
    let span = packets[greeting_packets - 1].0 - packets[0].0;
    let expected = Duration::from_millis(20 * (greeting_packets as u64 - 1));
    let drift = span.as_secs_f64() - expected.as_secs_f64();
    assert!(
        drift.abs() < 0.1,
        "greeting took {span:?}, expected {expected:?}"
    );
    let mut heard = Vec::new();
    for p in &packets[..greeting_packets] {
        let mut s = vec![0i16; p.5.len()];
        G711::Pcmu.decode(&p.5, &mut s);
        heard.extend(s);
    }
    let (gcorr, glag) = best_correlation(&through_pcmu(&greeting), &heard, 10);
    assert!(gcorr > 0.99, "greeting correlation {gcorr} (lag {glag})");
}

#[test]
fn sipp_unknown_mailbox_gets_404() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions::default());
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "reject.xml:404",
        work.path(),
        &[
            "-key",
            "called",
            "sip:nobody@contoso.com",
            "-key",
            "pt",
            "0",
            "-key",
            "codec_name",
            "PCMU",
        ],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
}

#[test]
fn sipp_untrusted_peer_gets_403() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions {
        trusted: vec!["127.0.0.2".into()],
        ..GatewayOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "reject.xml:403",
        work.path(),
        &[
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "pt",
            "0",
            "-key",
            "codec_name",
            "PCMU",
        ],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    assert!(gw.messages("alice").is_empty());
}

#[test]
fn sipp_no_common_codec_gets_488() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions::default());
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "reject.xml:488",
        work.path(),
        &[
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "pt",
            "18",
            "-key",
            "codec_name",
            "G729",
        ],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
}

#[test]
fn sipp_cancel_before_answer() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions {
        answer_delay_ms: 5000,
        ..GatewayOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "cancel.xml",
        work.path(),
        &["-key", "called", "sip:alice@contoso.com"],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    assert!(gw.messages("alice").is_empty());
}
