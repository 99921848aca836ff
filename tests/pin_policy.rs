//! The dial plan's PIN policy (MinPINLength, PINHistoryCount, AllowCommonPatterns,
//! MaxLogonAttempts) applied where PINs are set and checked: `umgw mailbox set-pin`, the
//! change-PIN menu over a call, and the lockout after failed log-ons.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;
use umgw::sip::message::Method;
use umgw::store::pin::PinStore;

const PILOT: &str = "+14255550100";

fn gateway() -> Gateway {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    Gateway::start(GatewayOptions {
        plan: format!(
            "{head}PilotIdentifiers = [\"{PILOT}\"]\nMinPINLength = 8\nPINHistoryCount = 2\n\
             AllowCommonPatterns = false\nMaxLogonAttempts = 3\nInputFailuresBeforeDisconnect = 5\n\n\
             [[Mailbox]]{mailboxes}"
        ),
        ..GatewayOptions::default()
    })
}

/// `umgw mailbox set-pin alice` with `pin` on standard input: (success, stderr).
fn set_pin(gw: &Gateway, pin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .current_dir(gw.dir.path())
        .args([
            "mailbox",
            "--config",
            "umgw.toml",
            "set-pin",
            "--no-change-required",
            "alice",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{pin}").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn call(gw: &Gateway) -> (Ua, SocketAddr) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip), "");
    (ua, media)
}

fn pins(gw: &Gateway) -> PinStore {
    PinStore::load(&gw.dir.path().join("data/mailboxes/alice")).unwrap()
}

#[test]
fn set_pin_applies_the_plans_policy() {
    let gw = gateway();
    // Six digits pass Exchange's default but not this plan's MinPINLength = 8.
    let (ok, err) = set_pin(&gw, "582914");
    assert!(!ok && err.contains("at least 8 digits"), "{err}");
    let (ok, err) = set_pin(&gw, "12345678");
    assert!(!ok && err.contains("run of consecutive digits"), "{err}");
    assert!(set_pin(&gw, "58291473").0);
    assert!(pins(&gw).verify("58291473"));
}

#[test]
fn change_pin_menu_refuses_what_the_policy_refuses() {
    let gw = gateway();
    assert!(set_pin(&gw, "58291473").0);
    let (ua, media) = call(&gw);
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    std::thread::sleep(Duration::from_millis(500));
    ua.keys(media, "58291473#", &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    // Main menu: 5 changes the PIN. Too short, trivial, the current one: all refused.
    ua.keys(media, "5", &mut ts);
    for refused in ["2468", "11111111", "58291473"] {
        std::thread::sleep(Duration::from_millis(700));
        ua.keys(media, &format!("{refused}#"), &mut ts);
        std::thread::sleep(Duration::from_millis(700));
        assert!(pins(&gw).verify("58291473"), "{refused} was accepted");
    }
    // A good one is taken; the old one no longer works.
    std::thread::sleep(Duration::from_millis(700));
    ua.keys(media, "70318264#", &mut ts);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !pins(&gw).verify("70318264") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pins(&gw).verify("70318264"), "log:\n{}", gw.log());
    assert!(!pins(&gw).verify("58291473"));
    assert!(!gw.log().contains("70318264"), "no PIN in the log");
}

#[test]
fn lockout_after_max_logon_attempts() {
    let gw = gateway();
    assert!(set_pin(&gw, "58291473").0);
    let (ua, media) = call(&gw);
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    // MaxLogonAttempts = 3 (below InputFailuresBeforeDisconnect = 5): the third wrong PIN
    // locks the mailbox and the gateway says so and hangs up.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(600));
        ua.keys(media, "11223344#", &mut ts);
    }
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(20));
    ua.ok(&bye);
    assert!(pins(&gw).locked, "log:\n{}", gw.log());
    assert!(gw.log().contains("mailbox locked after failed log-ons"));
    // Locked: even the right PIN is refused on the next call.
    let (ua, media) = call(&gw);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    std::thread::sleep(Duration::from_millis(600));
    ua.keys(media, "58291473#", &mut ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(20));
    ua.ok(&bye);
    assert!(pins(&gw).locked);
}
