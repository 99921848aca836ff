//! Play on phone against the real `umgw` binary: `umgw play-on-phone` asks the running gateway
//! (admin endpoint, bearer token) to call the user through the call server (a static route to
//! this test's user agent) and play a message; the user hears the introduction, the message
//! and the menu, presses `#`, and the gateway says goodbye and hangs up. Refusals: a wrong
//! token, a number that is not the mailbox's own, a message that is not there.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::*;
use umgw::sip::message::Method;

const TOKEN: &str = "play-on-phone-test-token-0123456789";

struct Site {
    gw: Gateway,
    /// The call server: where the gateway's own calls are routed.
    ua: Ua,
    admin: SocketAddr,
    message: String,
    signal: Vec<i16>,
}

/// One gateway, its call server and a voice mail for alice, shared by the tests (each places
/// at most one call, one at a time).
fn site() -> &'static std::sync::Mutex<Site> {
    static SITE: OnceLock<std::sync::Mutex<Site>> = OnceLock::new();
    SITE.get_or_init(|| {
        let mut ua = Ua::new("127.0.0.1", SocketAddr::from(([127, 0, 0, 1], 9)));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("admin.token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let gw = Gateway::start(GatewayOptions {
            extra_config: format!(
                "[admin]\nlisten = \"{admin}\"\ntoken_file = \"{}\"\n\
                 [[sip.routes]]\ndomain = \"contoso.com\"\naddress = \"{}\"\ntransport = \"udp\"\n",
                token_file.display(),
                ua.local()
            ),
            ..GatewayOptions::default()
        });
        std::mem::forget(dir); // the token file lives as long as the gateway
        ua.gw = gw.sip;
        let signal = test_signal(1000);
        let message = seed_voice_mail(&gw, &signal);
        std::sync::Mutex::new(Site {
            gw,
            ua,
            admin,
            message,
            signal,
        })
    })
}

/// `umgw play-on-phone` with the gateway's config: (success, stdout, stderr).
fn play_on_phone(gw: &Gateway, message: &str, to: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["play-on-phone", "alice", message, "--to", to, "--config"])
        .arg(gw.dir.path().join("umgw.toml"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first index at which `needle` occurs in `hay`.
fn find(hay: &[i16], needle: &[i16]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn prompt(name: &str) -> Vec<i16> {
    let bytes = std::fs::read(format!("{}/audio/{name}.wav", env!("CARGO_MANIFEST_DIR"))).unwrap();
    through_pcmu(&read_wav(&bytes))
}

#[test]
fn the_user_is_called_hears_the_message_and_the_gateway_hangs_up_after_pound() {
    let site = site().lock().unwrap_or_else(|p| p.into_inner());
    let (ua, gw) = (&site.ua, &site.gw);
    let (ok, stdout, stderr) = play_on_phone(gw, &site.message, "+14255551001");
    assert!(ok, "{stderr}\nlog:\n{}", gw.log());
    assert!(
        stdout.starts_with("calling +14255551001; Call-ID "),
        "{stdout}"
    );

    // The call server gets the INVITE for the user's number at the plan's domain.
    let invite = ua.expect_request(Method::Invite, Duration::from_secs(5));
    assert_eq!(
        invite.request_uri(),
        Some("sip:+14255551001@contoso.com;user=phone")
    );
    assert!(
        stdout.trim_end().ends_with(invite.call_id().unwrap()),
        "{stdout}"
    );
    assert_eq!(invite.header("Content-Type"), Some("application/sdp"));
    ua.answer_invite(&invite, &ua.rtp);
    let ack = ua.expect_request(Method::Ack, Duration::from_secs(5));
    assert_eq!(ack.call_id(), invite.call_id());

    // Introduction, envelope, the message, then the menu.
    let heard =
        decode_pcmu(&ua.recv_rtp_until_quiet(Duration::from_millis(400), Duration::from_secs(30)));
    let intro = find(&heard, &prompt("pon-intro")).expect("the introduction");
    let message = find(&heard, &through_pcmu(&site.signal)).expect("the message");
    let menu = find(&heard, &prompt("pon-menu")).expect("the menu");
    assert!(
        intro < message && message < menu,
        "{intro} {message} {menu}"
    );

    // `#`: goodbye, and the gateway hangs up.
    let mut ts = 0u32;
    ua.keys(Ua::media_target(&invite), "#", &mut ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(10));
    assert_eq!(bye.call_id(), invite.call_id());
    ua.ok(&bye);
    gw.wait_log("play on phone finished", Duration::from_secs(5));
}

#[test]
fn refusals_name_the_reason_and_place_no_call() {
    let site = site().lock().unwrap_or_else(|p| p.into_inner());
    let (ua, gw) = (&site.ua, &site.gw);
    // Not the mailbox's own number: voice mail is not a way to dial out.
    let (ok, _, stderr) = play_on_phone(gw, &site.message, "+19005550100");
    assert!(!ok);
    assert!(
        stderr.contains("422") && stderr.contains("is not a number or address of mailbox alice"),
        "{stderr}"
    );
    // No such message.
    let (ok, _, stderr) = play_on_phone(gw, "1.nope.gw", "1001");
    assert!(!ok);
    assert!(
        stderr.contains("mailbox alice has no message 1.nope.gw"),
        "{stderr}"
    );
    // A wrong token, and none.
    for auth in ["Authorization: Bearer not-the-token-at-all\r\n", ""] {
        let mut s = TcpStream::connect(site.admin).unwrap();
        write!(
            s,
            "POST /play-on-phone?mailbox=alice&message={}&to=1001 HTTP/1.0\r\n{auth}\r\n",
            site.message
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.0 401 "), "{answer}");
    }
    assert!(
        ua.recv(Duration::from_millis(500)).is_none(),
        "no call placed"
    );
}
