//! PINs that hold under parallel guessing, on the real gateway: many calls guessing one
//! mailbox's PIN at once are counted exactly and lock it at MaxLogonAttempts; a mailbox takes
//! only `subscriber.max_sessions_per_mailbox` calls at once; the audit trail and the
//! `umgw mailbox show|list|unlock` commands.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;
use umgw::sip::message::Method;
use umgw::store::pin::{PinPolicy, PinStore};

const PILOT: &str = "+14255550100";
const PIN: &str = "58291473";
const WRONG: &str = "11223344";
const MAX_LOGON_ATTEMPTS: u32 = 15;

fn gateway(max_sessions: Option<u32>, rtp_ports: u16) -> Gateway {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let gw = Gateway::start(GatewayOptions {
        plan: format!(
            "{head}PilotIdentifiers = [\"{PILOT}\"]\nMaxLogonAttempts = {MAX_LOGON_ATTEMPTS}\n\n\
             [[Mailbox]]{mailboxes}"
        ),
        extra_config: max_sessions
            .map(|n| format!("[subscriber]\nmax_sessions_per_mailbox = {n}\n"))
            .unwrap_or_default(),
        rtp_port_count: rtp_ports,
        ..GatewayOptions::default()
    });
    let mut pins = PinStore::default();
    pins.set(PIN, "1001", &PinPolicy::default()).unwrap();
    pins.save(&gw.mailbox_dir("alice")).unwrap();
    gw
}

fn pins(gw: &Gateway) -> PinStore {
    PinStore::load(&gw.mailbox_dir("alice")).unwrap()
}

/// `umgw mailbox ARGS` against the gateway's config: stdout, or a panic with stderr.
fn mailbox_cmd(gw: &Gateway, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .current_dir(gw.dir.path())
        .args(["mailbox", "--config", "umgw.toml"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "umgw mailbox {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Calls the pilot and types alice's extension over the first prompt.
fn call_for_alice(gw: &Gateway) -> (Ua, SocketAddr, u32) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip), "");
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    (ua, media, ts)
}

/// Calls for alice and logs on with her PIN; the call stays up at the main menu.
fn log_on(gw: &Gateway) -> Ua {
    let (ua, media, mut ts) = call_for_alice(gw);
    std::thread::sleep(Duration::from_millis(500));
    ua.keys(media, &format!("{PIN}#"), &mut ts);
    wait_until("the log-on", Duration::from_secs(10), || {
        lines_of(&gw.log(), &ua.call_id, "log-on accepted") == 1
    });
    ua
}

/// Log lines of the call with `call_id` that contain `text`.
fn lines_of(log: &str, call_id: &str, text: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(call_id) && l.contains(text))
        .count()
}

/// The value of `key=` in a log line: the event's own field, which follows the span's (the
/// call's span has a `mailbox` too), without quotes.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.rfind(&format!("{key}="))? + key.len() + 1;
    let value = line[at..].split_whitespace().next()?;
    Some(value.trim_end_matches([':', '}']).trim_matches('"'))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn twenty_parallel_guessers_are_counted_exactly_and_lock_the_mailbox() {
    // 20 simultaneous calls need 20 even RTP ports, with room for ports resting between calls.
    let gw = gateway(Some(20), 400);
    let hash_before = pins(&gw).hash;
    let call_ids: Vec<String> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let (ua, media, mut ts) = call_for_alice(&gw);
                    // InputFailuresBeforeDisconnect (3) wrong PINs each, typed over the
                    // prompts; a locked mailbox says so and hangs up after the first.
                    for _ in 0..3 {
                        std::thread::sleep(Duration::from_millis(700));
                        ua.keys(media, &format!("{WRONG}#"), &mut ts);
                    }
                    let bye = ua.expect_request(Method::Bye, Duration::from_secs(30));
                    ua.ok(&bye);
                    ua.call_id
                })
            })
            .collect();
        callers.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let log = gw.log();
    let state = pins(&gw);
    // Every wrong PIN that was checked is one audit line with its own count; the stored
    // count equals them, and checking stopped at the limit.
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("log-on failed: wrong PIN"))
        .collect();
    assert_eq!(
        state.failed_attempts as usize,
        failed.len(),
        "stored count vs wrong PINs checked; log:\n{log}"
    );
    assert_eq!(state.failed_attempts, MAX_LOGON_ATTEMPTS, "log:\n{log}");
    assert!(state.locked);
    let mut counts: Vec<u32> = failed
        .iter()
        .map(|l| field(l, "failed_attempts").unwrap().parse().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=MAX_LOGON_ATTEMPTS).collect::<Vec<_>>(),
        "each check saw the count before it"
    );
    // The audit lines name the mailbox, the peer and the call (Call-ID); never a PIN.
    for line in &failed {
        assert!(line.contains(" WARN "), "{line}");
        assert_eq!(field(line, "mailbox"), Some("alice"), "{line}");
        assert!(
            field(line, "source").is_some_and(|s| s.starts_with("127.0.0.1:")),
            "{line}"
        );
        let call_id = field(line, "call_id").expect("the call's span");
        assert!(call_ids.iter().any(|id| id == call_id), "{line}");
    }
    let lockouts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("mailbox locked after failed log-ons"))
        .collect();
    assert_eq!(lockouts.len(), 1, "{lockouts:?}");
    assert!(lockouts[0].contains(" ERROR "), "{}", lockouts[0]);
    assert_eq!(
        field(lockouts[0], "failed_attempts"),
        Some(MAX_LOGON_ATTEMPTS.to_string().as_str())
    );
    // More wrong PINs were typed than checked: the rest met the lock, unchecked.
    assert!(log.contains("log-on refused: the mailbox is locked"));
    assert!(
        !log.contains(WRONG) && !log.contains(PIN),
        "no PIN in the log"
    );

    // The operator sees it...
    let show = mailbox_cmd(&gw, &["show", "alice"]);
    assert!(show.contains("Failed log-ons: 15 (locks at 15)"), "{show}");
    assert!(show.contains("Locked: yes"), "{show}");
    let list = mailbox_cmd(&gw, &["list"]);
    assert!(list
        .lines()
        .next()
        .unwrap()
        .contains("FAILED-LOGONS  LOCKED"));
    let alice: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("alice"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(alice[6..8], ["15", "yes"], "{list}");

    // ...and unlocks it, keeping the PIN.
    let out = mailbox_cmd(&gw, &["unlock", "alice"]);
    assert!(out.contains("mailbox alice unlocked"), "{out}");
    let state = pins(&gw);
    assert_eq!((state.failed_attempts, state.locked), (0, false));
    assert_eq!(state.hash, hash_before, "unlock keeps the PIN");
    let show = mailbox_cmd(&gw, &["show", "alice"]);
    assert!(
        show.contains("Failed log-ons: 0") && show.contains("Locked: no"),
        "{show}"
    );

    // The right PIN logs in now.
    log_on(&gw).bye();
    assert_eq!(pins(&gw).failed_attempts, 0);
}

#[test]
fn a_third_call_for_a_mailbox_is_turned_away_before_the_pin_prompt() {
    let gw = gateway(None, 40);
    let opened = |ua: &Ua| lines_of(&gw.log(), &ua.call_id, "subscriber-access session opened");
    // Two calls reach alice's PIN prompt and stay there.
    let (mut first, _, _) = call_for_alice(&gw);
    let (mut second, _, _) = call_for_alice(&gw);
    wait_until("two sessions", Duration::from_secs(5), || {
        opened(&first) == 1 && opened(&second) == 1
    });

    // The third names the same mailbox: told so, disconnected, no PIN asked or checked.
    let (third, media, mut ts) = call_for_alice(&gw);
    // Even the right PIN, typed at once, gets nowhere.
    third.keys(media, &format!("{PIN}#"), &mut ts);
    let heard = third.recv_rtp_until_quiet(Duration::from_millis(500), Duration::from_secs(15));
    let bye = third.expect_request(Method::Bye, Duration::from_secs(10));
    third.ok(&bye);
    // What it heard last, from the last talkspurt's start (marker bit), is the busy prompt.
    let start = heard.iter().rposition(|p| p.marker).expect("a talkspurt");
    let last = decode_pcmu(&heard[start..]);
    let busy = read_wav(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/audio/sa-mailbox-busy.wav"
        ))
        .unwrap(),
    );
    let (corr, _) = best_correlation(&through_pcmu(&busy), &last, 400);
    assert!(corr > 0.9, "busy prompt correlation {corr}");
    let log = gw.log();
    assert_eq!(
        lines_of(
            &log,
            &third.call_id,
            "subscriber access refused: the mailbox has its maximum of sessions"
        ),
        1,
        "log:\n{log}"
    );
    assert_eq!(lines_of(&log, &third.call_id, "log-on"), 0, "log:\n{log}");
    assert_eq!(opened(&third), 0);

    // One call ends: its place is free, and a new call gets in and logs on.
    first.bye();
    let first_id = first.call_id.clone();
    wait_until("the first call to end", Duration::from_secs(10), || {
        lines_of(&gw.log(), &first_id, "subscriber access ended") == 1
    });
    let mut fourth = log_on(&gw);
    assert_eq!(opened(&fourth), 1);
    fourth.bye();
    second.bye();
}
