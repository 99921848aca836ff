//! E-mail notification (`NotifyEmail`, `[email]`) against a real SMTP server (aiosmtpd,
//! STARTTLS and AUTH required, tests/support/smtp.rs) and the real `umgw` binary: voice mail
//! deposited by a call arrives as an e-mail with its recording, or as a notice without it;
//! a notice waits in the outbox while the server is down and goes out when it is back.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use support::smtp::{Pending, SmtpServer, SMTP_PASSWORD, SMTP_USER};
use support::*;
use umgw::store::message::{parse, ParsedMessage};
use umgw::store::MessageKind;

const ALICE: &str = "sip:alice@contoso.com";

/// The test plan with alice e-mailed with audio and carol e-mailed without it.
fn plan() -> String {
    test_plan(5, 1200, None)
        .replace(
            "DisplayName = \"Alice Anders\"\n",
            "DisplayName = \"Alice Anders\"\nNotifyEmail = \"alice@mail.test\"\n",
        )
        .replace(
            "SipAddress = \"sip:carol@contoso.com\"\n",
            "SipAddress = \"sip:carol@contoso.com\"\nNotifyEmail = \"carol@mail.test\"\nNotifyEmailAttachAudio = false\n",
        )
}

fn gateway_for(smtp_config: String) -> Gateway {
    Gateway::start(GatewayOptions {
        plan: plan(),
        greetings: vec![
            ("alice".into(), umgw::media::prompts::tone(800.0, 400, 0.3)),
            ("carol".into(), umgw::media::prompts::tone(800.0, 400, 0.3)),
        ],
        extra_config: smtp_config,
        env: vec![("UMGW_TEST_SMTP_PASSWORD".into(), SMTP_PASSWORD.into())],
        ..GatewayOptions::default()
    })
}

/// One SMTP server and one gateway sending through it, shared by the tests that can share.
fn shared() -> &'static (SmtpServer, Gateway) {
    static SHARED: OnceLock<(SmtpServer, Gateway)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let smtp = SmtpServer::start();
        let gw = gateway_for(smtp.config(""));
        (smtp, gw)
    })
}

/// Calls `user` (its SIP URI as the Request-URI), says `ms` of the test signal after the
/// greeting and beep, and hangs up; returns what was said.
fn leave_voice_mail(gw: &Gateway, user: &str, ms: u32) -> Vec<i16> {
    let (mut ua, media) = answered_call(gw, user);
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    let sent = test_signal(ms);
    let (mut seq, mut ts) = (100u16, 8000u32);
    ua.send_audio(media, &sent, 0x4321, &mut seq, &mut ts);
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(2)).status(),
        Some(200)
    );
    sent
}

/// The one e-mail the server took for `rcpt` (the tests sharing the server e-mail different
/// users), waiting for it.
fn mail_to(smtp: &SmtpServer, rcpt: &str) -> ParsedMessage {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut mails: Vec<ParsedMessage> = smtp
            .messages()
            .iter()
            .map(|m| parse(m).expect("the e-mail parses as a voice-mail message"))
            .filter(|m| header(m, "X-Test-Rcpt-To") == rcpt)
            .collect();
        assert!(mails.len() <= 1, "one e-mail per message");
        if let Some(m) = mails.pop() {
            return m;
        }
        assert!(std::time::Instant::now() < deadline, "no e-mail to {rcpt}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the first header `name` (as the test server or umgw wrote it).
fn header<'a>(msg: &'a ParsedMessage, name: &str) -> &'a str {
    msg.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", msg.headers))
}

#[test]
fn voice_mail_is_emailed_with_its_recording_over_starttls_with_auth() {
    let (smtp, gw) = shared();
    let sent = leave_voice_mail(gw, ALICE, 1500);

    // The mailbox keeps its copy.
    let stored = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(stored[0].kind, MessageKind::VoiceMail);

    let mail = mail_to(smtp, "alice@mail.test");
    // What the server saw: TLS before AUTH, our user, the envelope.
    assert_eq!(header(&mail, "X-Test-TLS"), "True");
    assert_eq!(header(&mail, "X-Test-Auth"), SMTP_USER);
    assert_eq!(header(&mail, "X-Test-Mail-From"), "voicemail@contoso.com");
    assert_eq!(header(&mail, "X-Test-Rcpt-To"), "alice@mail.test");
    // Addressed to the user, from the configured sender, the message as the mailbox has it.
    assert_eq!(
        header(&mail, "From"),
        "\"Contoso Voice Mail\" <voicemail@contoso.com>"
    );
    assert_eq!(header(&mail, "To"), "<alice@mail.test>");
    assert!(
        mail.subject.starts_with("Voice mail from"),
        "{}",
        mail.subject
    );
    assert_eq!(mail.kind, MessageKind::VoiceMail);
    assert_eq!(mail.mailbox_address, ALICE);
    assert_eq!(mail.call_id, stored[0].call_id);
    assert_eq!(
        mail.um.message_class(),
        stored[0].um.message_class(),
        "Outlook sees the e-mail as voice mail too"
    );
    assert_audio_matches(
        &sent,
        mail.audio_wav.as_ref().expect("recording attached"),
        0.95,
    );
    assert_eq!(mail.audio_wav, stored[0].audio_wav, "the same recording");
    assert!(
        gw.log().contains("e-mail notice sent"),
        "log:\n{}",
        gw.log()
    );
    assert!(
        !gw.log().contains(SMTP_PASSWORD),
        "the SMTP password must not be logged"
    );
}

#[test]
fn notify_email_attach_audio_false_sends_the_notice_without_the_recording() {
    let (smtp, gw) = shared();
    leave_voice_mail(gw, "sip:carol@contoso.com", 1500);
    let mail = mail_to(smtp, "carol@mail.test");
    assert_eq!(header(&mail, "X-Test-Rcpt-To"), "carol@mail.test");
    assert_eq!(mail.kind, MessageKind::VoiceMail);
    assert!(
        mail.subject.starts_with("Voice mail from"),
        "{}",
        mail.subject
    );
    assert_eq!(mail.audio_wav, None, "no recording attached");
    // The mailbox's own copy keeps it.
    let stored = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert!(stored[0].audio_wav.is_some());
}

#[test]
fn notices_wait_in_the_outbox_while_the_server_is_down_and_go_when_it_is_back() {
    // The gateway is told of a server that is not there yet.
    let server = Pending::new(free_port());
    let gw = gateway_for(server.config("retry_initial_ms = 200\nretry_max_ms = 500\n"));
    leave_voice_mail(&gw, ALICE, 1200);
    gw.wait_messages("alice", 1, Duration::from_secs(5));
    let outbox = gw.dir.path().join("data/outbox");
    let queued = || {
        std::fs::read_dir(&outbox)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .count()
    };
    gw.wait_log(
        "the SMTP server is not taking mail",
        Duration::from_secs(10),
    );
    assert_eq!(queued(), 1, "the notice waits in the outbox");

    // The server comes up (with the CA the gateway was given): the notice goes out.
    let smtp = server.start();
    let mails = smtp.wait_messages(1, Duration::from_secs(15));
    let mail = parse(&mails[0]).unwrap();
    assert_eq!(header(&mail, "X-Test-Rcpt-To"), "alice@mail.test");
    assert!(mail.audio_wav.is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while queued() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(queued(), 0, "sent notices leave the outbox");
}

#[test]
fn a_recipient_the_server_refuses_is_given_up_into_outbox_failed() {
    let (smtp, _) = shared();
    // A gateway of its own: its plan e-mails alice at an address the server refuses.
    let gw = Gateway::start(GatewayOptions {
        plan: plan().replace("alice@mail.test", "reject-alice@mail.test"),
        greetings: vec![("alice".into(), umgw::media::prompts::tone(800.0, 400, 0.3))],
        extra_config: smtp.config(""),
        env: vec![("UMGW_TEST_SMTP_PASSWORD".into(), SMTP_PASSWORD.into())],
        ..GatewayOptions::default()
    });
    leave_voice_mail(&gw, ALICE, 1200);
    gw.wait_log("e-mail notice given up", Duration::from_secs(15));
    let failed: Vec<_> = std::fs::read_dir(gw.dir.path().join("data/outbox/failed"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(failed.len(), 1, "kept for the operator");
    // The message itself is in the mailbox regardless.
    assert_eq!(gw.messages("alice").len(), 1);
}

#[test]
fn check_warns_about_notify_email_without_an_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("dialplans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(plans.join("test.toml"), plan()).unwrap();
    std::fs::write(
        dir.path().join("umgw.toml"),
        "[sip]\nudp = [\"127.0.0.1:5060\"]\n[paths]\ndialplans = \"dialplans\"\n[transcription]\nengine = \"none\"\n",
    )
    .unwrap();
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_umgw"))
            .args(["check", "--config"])
            .arg(dir.path().join("umgw.toml"))
            .output()
            .unwrap()
    };
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The 1-based line of alice's [[Mailbox]] header: the 0-based index of the line after it.
    let line = plan()
        .lines()
        .position(|l| l == "Id = \"alice\"")
        .expect("alice in the plan");
    assert!(
        stderr.contains(&format!(
            "test.toml:{line}: warning: mailbox alice has NotifyEmail but email.smtp_server is not set"
        )),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 warning(s)"));

    // A bad address is an error with its place.
    std::fs::write(
        plans.join("test.toml"),
        plan().replace("alice@mail.test", "alice at mail"),
    )
    .unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: NotifyEmail \"alice at mail\" is not an e-mail address"),
        "{stderr}"
    );
}
