//! Keeps the load generator (src/bin/umgw-load.rs) from rotting: a few calls for a second,
//! checking only that they complete and that every RTP packet reached the gateway. Timing
//! figures are printed, never asserted (docs/PERFORMANCE.md has the real runs).

mod support;

use std::process::Command;

use support::*;

#[test]
fn load_generator_completes_a_few_calls() {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let gw = Gateway::start(GatewayOptions {
        extra_config: format!("[admin]\nlisten = \"{admin}\"\n"),
        ..GatewayOptions::default()
    });
    let out = Command::new(env!("CARGO_BIN_EXE_umgw-load"))
        .args([
            "--gateway",
            &gw.sip.to_string(),
            "--calls",
            "4",
            "--rate",
            "20",
        ])
        .args(["--hold", "1", "--metrics", &admin.to_string()])
        .args(["--gateway-pid", &gw.pid().to_string(), "--header"])
        .output()
        .expect("run umgw-load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: Vec<&str> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split('|')
        .map(str::trim)
        .collect();
    // | calls | rate | hold | peak | completed | failed | setups/s | setup p99 | RTP sent |
    // gw RTP rx | gw lost | ...
    assert_eq!((row[1], row[5], row[6]), ("4", "4", "0"), "{text}");
    let count = |i: usize| row[i].parse::<u64>().unwrap_or(0);
    // Packets flowed both ways; exact loss figures depend on the machine's load, so they are
    // reported by scripts/load.sh, not asserted here.
    assert!(count(9) >= 4 * 40, "RTP sent:\n{text}");
    assert!(count(10) > 0, "gateway received RTP:\n{text}");
    assert!(count(12) > 0, "prompt RTP received:\n{text}");
}
