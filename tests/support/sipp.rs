//! SIPp (Debian `sip-tester`) helpers shared by the SIPp scenario tests: running one call of a
//! scenario in tests/sipp/, and checking a recording against what the scenario sent.

use std::fs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::*;

/// sipp runs use fixed media ports and raw sockets: one at a time.
pub static SIPP: Mutex<()> = Mutex::new(());

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

pub fn sipp_bin() -> &'static str {
    let ok = Command::new("sipp").arg("-v").output().is_ok();
    assert!(
        ok,
        "sipp not found: run scripts/install-test-deps.sh (Debian package sip-tester)"
    );
    "sipp"
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs one sipp call; returns (success, sipp's output and error log).
pub fn run_sipp(gw: &Gateway, xml: &str, cwd: &Path, args: &[&str]) -> (bool, String) {
    let port = free_udp_port().to_string();
    let media_port = free_udp_port().to_string();
    let target = gw.sip.to_string();
    // A scenario named `x.xml:404` is x.xml with its `STATUS` placeholder set to 404
    // (sipp does not substitute -key values inside attributes).
    let sf = match xml.split_once(':') {
        Some((file, status)) => {
            let text = fs::read_to_string(scenario(file))
                .unwrap()
                .replace("STATUS", status);
            let path = cwd.join(format!("{status}-{file}"));
            fs::write(&path, text).unwrap();
            path
        }
        None => scenario(xml),
    };
    let mut cmd = Command::new(sipp_bin());
    cmd.current_dir(cwd)
        .args([target.as_str(), "-sf"])
        .arg(&sf)
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-mp",
            &media_port,
        ])
        .args([
            "-timeout",
            "60s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .args(args);
    let out = cmd.output().expect("run sipp");
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    for entry in fs::read_dir(cwd).unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains("errors.log") {
            log.push_str(&fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    (out.status.success(), log)
}

/// One call of the deposit scenario (deposit.pcap in `cwd`) to `called`, the greeting sent to
/// `rtp_port`, the caller listening `listen_ms` before streaming.
pub fn run_deposit(
    gw: &Gateway,
    cwd: &Path,
    called: &str,
    rtp_port: &str,
    listen_ms: u64,
) -> (bool, String) {
    run_deposit_scenario(
        gw,
        "deposit_history_info.xml",
        cwd,
        called,
        rtp_port,
        listen_ms,
    )
}

/// [`run_deposit`] with another scenario taking the same keys.
pub fn run_deposit_scenario(
    gw: &Gateway,
    xml: &str,
    cwd: &Path,
    called: &str,
    rtp_port: &str,
    listen_ms: u64,
) -> (bool, String) {
    let listen = listen_ms.to_string();
    run_sipp(
        gw,
        xml,
        cwd,
        &[
            "-key", "called", called, "-key", "rtp_port", rtp_port, "-d", &listen,
        ],
    )
}

/// The recording `wav` is the `spoken` audio the deposit scenario streamed: same length within
/// 40 ms, waveform (through PCMU) and per-frame energy correlated.
pub fn assert_recording_matches(spoken: &[i16], wav: &[u8]) {
    assert_audio_matches(spoken, wav, 0.95);
    let audio = read_wav(wav);
    let (env_corr, _) = {
        let a: Vec<i16> = frame_energy(spoken).iter().map(|&e| e as i16).collect();
        let b: Vec<i16> = frame_energy(&audio).iter().map(|&e| e as i16).collect();
        best_correlation(&a, &b, 3)
    };
    assert!(env_corr > 0.98, "per-frame energy correlation {env_corr}");
}

pub fn unsafe_is_root() -> bool {
    // /proc/self/status "Uid:" line: real, effective, saved, fs.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
