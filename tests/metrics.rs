//! The admin endpoint: /metrics scraped during and after a SIPp deposit, /health, /status.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn metrics_move_during_a_sipp_deposit() {
    let admin_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
    let gw = Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 1000, 0.3))],
        extra_config: format!("[admin]\nlisten = \"{admin}\"\n"),
        ..GatewayOptions::default()
    });
    assert!(admin_get(admin, "/health").ends_with("ok\n"));
    let before = admin_get(admin, "/metrics");
    assert_eq!(
        metric(&before, "umgw_calls_total{outcome=\"voicemail\"}"),
        0.0
    );

    // An untrusted probe: counted as a 403.
    let probe = Ua::new("127.0.0.9", gw.sip);
    probe.send_options();
    assert_eq!(
        probe.recv(Duration::from_secs(2)).unwrap().status(),
        Some(403)
    );

    let work = tempfile::tempdir().unwrap();
    pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &test_signal(3000)).unwrap();
    let rtp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_rx.local_addr().unwrap().port().to_string();
    let sf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/deposit_history_info.xml");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut sipp = Command::new("sipp")
        .current_dir(work.path())
        .arg(gw.sip.to_string())
        .arg("-sf")
        .arg(&sf)
        .args(["-m", "1", "-i", "127.0.0.1", "-p", &port, "-mp", &mp])
        .args([
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "rtp_port",
            &rtp_port,
        ])
        .args([
            "-d",
            "1600",
            "-timeout",
            "60s",
            "-timeout_error",
            "-nostdin",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp (scripts/install-test-deps.sh installs sip-tester)");

    // During the call: one call active, on /status too.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut during = String::new();
    while Instant::now() < deadline {
        during = admin_get(admin, "/metrics");
        if metric(&during, "umgw_calls_active") == 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&during, "umgw_calls_active"), 1.0, "{during}");
    let status = admin_get(admin, "/status");
    assert!(
        status.contains("calls_active 1") && status.contains("mailbox=alice"),
        "{status}"
    );

    let exit = sipp.wait().unwrap();
    assert!(exit.success(), "sipp failed; log:\n{}", gw.log());
    gw.wait_messages("alice", 1, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = String::new();
    while Instant::now() < deadline {
        after = admin_get(admin, "/metrics");
        if metric(&after, "umgw_calls_total{outcome=\"voicemail\"}") == 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        metric(&after, "umgw_calls_total{outcome=\"voicemail\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(metric(&after, "umgw_calls_active"), 0.0);
    assert_eq!(
        metric(&after, "umgw_deposits_total{kind=\"voicemail\"}"),
        1.0
    );
    assert!(
        metric(&after, "umgw_sip_responses_total{code=\"200\"}") >= 1.0,
        "{after}"
    );
    assert!(
        metric(&after, "umgw_sip_responses_total{code=\"403\"}") >= 1.0,
        "{after}"
    );
    // 3 s of audio at 50 packets/s plus '#', and the greeting + beep + goodbye out.
    let received = metric(&after, "umgw_rtp_packets_received_total");
    assert!((150.0..=170.0).contains(&received), "received {received}");
    assert!(
        metric(&after, "umgw_rtp_packets_sent_total") >= 60.0,
        "{after}"
    );
    assert_eq!(metric(&after, "umgw_rtp_packets_lost_total"), 0.0);
    assert!(
        after.contains("umgw_store_latency_seconds_bucket"),
        "{after}"
    );
    // Prometheus base units: jitter in seconds, with buckets from half a millisecond.
    assert!(after.contains("umgw_rtp_jitter_seconds_count 1"), "{after}");
    assert!(
        after.contains("umgw_rtp_jitter_seconds_bucket{le=\"0.0005\"}"),
        "{after}"
    );
    assert!(
        metric(&after, "umgw_rtp_jitter_seconds_sum") < 0.1,
        "{after}"
    );
    assert!(
        !after.contains("_ms"),
        "a metric not in base units:\n{after}"
    );
}
