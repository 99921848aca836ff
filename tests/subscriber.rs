//! Subscriber access against the real gateway: call the pilot, log in with extension and PIN,
//! listen to a message, delete it (store and MWI follow), record a greeting. Every scenario
//! runs on both stores: Maildir and IMAP (a private Dovecot).

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant, UNIX_EPOCH};

use support::dovecot::{Backend, Dovecot};
use support::*;
use umgw::sip::message::Method;
use umgw::store::pin::PinPolicy;
use umgw::store::{GreetingKind, MailboxId};

const PILOT: &str = "+14255550100";

fn plan(mwi_port: u16) -> String {
    let base = test_plan(5, 1200, Some(mwi_port));
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    format!("{head}PilotIdentifiers = [\"{PILOT}\"]\n\n[[Mailbox]]{mailboxes}")
}

fn imap() -> Backend {
    Backend::Imap(Dovecot::start(&["alice", "carol"]))
}

#[test]
fn log_in_listen_delete_and_record_a_greeting_on_maildir() {
    log_in_listen_delete_and_record_a_greeting(Backend::Maildir);
}

#[test]
fn log_in_listen_delete_and_record_a_greeting_on_imap() {
    log_in_listen_delete_and_record_a_greeting(imap());
}

fn log_in_listen_delete_and_record_a_greeting(backend: Backend) {
    let mwi = UdpSocket::bind("127.0.0.1:0").unwrap();
    mwi.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let gw = backend.gateway(
        GatewayOptions {
            plan: plan(mwi.local_addr().unwrap().port()),
            ..GatewayOptions::default()
        },
        "",
    );
    let mut seen = Vec::new();
    assert_eq!(next_mwi(&mwi, &mut seen), (0, 0), "start-up refresh");

    // Two voice mails for alice, and her PIN.
    let mailboxes = gw.dir.path().join("data/mailboxes");
    let store = backend.store(&gw);
    let alice = MailboxId::new("alice").unwrap();
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    for k in 0..2u64 {
        store
            .deposit(
                &alice,
                &voice_mail_for_alice(
                    Some("+14255550199"),
                    UNIX_EPOCH + Duration::from_secs(1_795_700_000 + k * 60),
                    &wav,
                    &format!("seed-{k}"),
                ),
            )
            .unwrap();
    }
    store
        .set_pin(&alice, "135790", "1001", &PinPolicy::default())
        .unwrap();

    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(&format!("sip:{PILOT}@{};user=phone", gw.sip), "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    let mut ts = 0u32;

    // "Please enter your extension" — typed over the prompt (barge-in).
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, "135790#", &mut ts);
    // Counts and the main menu play; "1" lists new messages; the first one plays.
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "1", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "3", &mut ts); // delete it
    assert_eq!(next_mwi(&mwi, &mut seen), (1, 0), "MWI after the delete");
    let left = store.list(&alice).unwrap();
    assert_eq!(left.len(), 1, "one message deleted");
    // The second message plays; "2" saves it.
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "2", &mut ts);
    assert_eq!(next_mwi(&mwi, &mut seen), (0, 1), "MWI after the save");
    assert!(store.list(&alice).unwrap()[0].seen);

    // Back at the main menu: "3" records a greeting, "#" ends it.
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "3", &mut ts);
    // Wait for the prompt and the beep to finish (RTP stops), then speak.
    let start = Instant::now();
    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(15));
    assert!(start.elapsed() < Duration::from_secs(15));
    let greeting = test_signal(1500);
    let (mut seq, mut ats) = (1u16, 0u32);
    ua.send_audio(media, &greeting, 77, &mut seq, &mut ats);
    ua.keys(media, "#", &mut ts);
    // Read back through the store: the Maildir file, or the server's copy on IMAP.
    let deadline = Instant::now() + Duration::from_secs(5);
    let path = loop {
        match store.greeting(&alice, GreetingKind::Personal).unwrap() {
            Some(p) => break p,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            None => panic!("greeting not saved; log:\n{}", gw.log()),
        }
    };
    if backend.name() == "imap" {
        assert!(
            !mailboxes.join("alice/greeting.wav").exists(),
            "on IMAP the greeting is on the server, not on the node"
        );
    }
    let saved = read_wav(&std::fs::read(&path).expect("greeting saved"));
    let (corr, _) = best_correlation(&through_pcmu(&greeting), &saved, 400);
    assert!(corr > 0.95, "greeting correlation {corr}");

    // "*" at the main menu says goodbye and hangs up.
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "*", &mut ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(10));
    ua.ok(&bye);
    assert!(
        !gw.log().contains("135790"),
        "the PIN never reaches the log"
    );
}

#[test]
fn wrong_pins_lock_the_mailbox_on_maildir() {
    wrong_pins_lock_the_mailbox(Backend::Maildir);
}

#[test]
fn wrong_pins_lock_the_mailbox_on_imap() {
    wrong_pins_lock_the_mailbox(imap());
}

fn wrong_pins_lock_the_mailbox(backend: Backend) {
    let gw = backend.gateway(
        GatewayOptions {
            plan: plan(1),
            ..GatewayOptions::default()
        },
        "",
    );
    let store = backend.store(&gw);
    let alice = MailboxId::new("alice").unwrap();
    let policy = PinPolicy::default();
    store.set_pin(&alice, "135790", "1001", &policy).unwrap();
    let max = policy.max_failed_attempts;
    let mut attempts = 0;
    // Each call allows InputFailuresBeforeDisconnect (3) tries; keep calling until locked.
    while attempts < max + 3 {
        let mut ua = Ua::new("127.0.0.1", gw.sip);
        let offer = ua.g711_offer();
        ua.invite(&format!("sip:{PILOT}@{};user=phone", gw.sip), "", &offer);
        let ok = ua.final_response(Duration::from_secs(5));
        ua.ack(&ok);
        let media = Ua::media_target(&ok);
        let mut ts = 0;
        std::thread::sleep(Duration::from_millis(300));
        ua.keys(media, "1001#", &mut ts);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(400));
            ua.keys(media, "111111#", &mut ts);
            attempts += 1;
        }
        let bye = ua.expect_request(Method::Bye, Duration::from_secs(20));
        ua.ok(&bye);
        if store.pin_state(&alice, &policy).unwrap().locked {
            break;
        }
    }
    let state = store.pin_state(&alice, &policy).unwrap();
    assert!(state.locked, "locked after {attempts} wrong PINs");
    assert!(attempts >= max);
    // Even the right PIN is refused now.
    assert!(gw.log().contains("mailbox locked after failed log-ons"));
}
