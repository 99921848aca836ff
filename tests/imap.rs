//! The IMAP store against a real Dovecot (tests/support/dovecot.rs): the backend in-process,
//! and the gateway depositing into Dovecot, read back with the tests' own IMAP client; and a
//! cluster of three gateways on one Dovecot behind Kamailio (packaging/kamailio/kamailio.cfg
//! as shipped, on 127.0.0.20, nodes on .21-23) sharing PINs, the lock-out and greetings.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, UNIX_EPOCH};

use support::dovecot::{Backend, Dovecot};
use support::kamailio::{Answered, Kamailio};
use support::sipp::*;
use support::*;
use umgw::store::message::parse;
use umgw::store::pin::PinSetter;
use umgw::store::{Imap, Mailbox, MailboxId, MessageKind, NewMessage, StoreError};

fn voice_mail(wav: &std::path::Path, delivery: Option<&str>, k: u64) -> NewMessage {
    NewMessage {
        kind: MessageKind::VoiceMail,
        caller: Some("+14255550199".into()),
        caller_name: Some("Bob Caller".into()),
        mailbox_address: "sip:alice@contoso.com".into(),
        mailbox_name: Some("Alice Anders".into()),
        received: UNIX_EPOCH + Duration::from_secs(1_795_700_000 + k),
        duration: Duration::from_millis(1000),
        call_id: format!("call-{k}"),
        audio: Some(wav.to_owned()),
        delivery_id: delivery.map(str::to_owned),
        recovered: false,
        media_stats: Some("packets=50; lost=0".into()),
        cut_short: None,
        preview: None,
        forwarded: None,
        marks: umgw::domain::Marks::default(),
    }
}

#[test]
fn imap_store_deposits_lists_reads_flags_and_deletes() {
    let dc = Dovecot::start(&["alice", "carol"]);
    let t = tempfile::tempdir().unwrap();
    let store = Imap::open(&dc.imap_config(), t.path().join("local")).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    let wav = t.path().join("m.wav");
    let spoken = test_signal(1000);
    write_wav(&wav, &spoken);

    // The user's own mail in the same INBOX is not ours: never listed, counted or deleted.
    let mut client = dc.client("alice");
    let plain = b"From: x@example.com\r\nSubject: lunch\r\n\r\nhi\r\n";
    client.ok(&format!(
        "APPEND INBOX {{{}}}\r\n{}",
        plain.len(),
        String::from_utf8_lossy(plain)
    ));
    assert_eq!(store.list(&alice).unwrap(), vec![]);

    // Same delivery id twice (a retry): one message, same id.
    let id1 = store
        .deposit(&alice, &voice_mail(&wav, Some("alice-00000001"), 0))
        .unwrap();
    let again = store
        .deposit(&alice, &voice_mail(&wav, Some("alice-00000001"), 0))
        .unwrap();
    assert_eq!(id1, again);
    let id2 = store.deposit(&alice, &voice_mail(&wav, None, 60)).unwrap();
    let mut missed = voice_mail(&wav, Some("alice-00000003"), 120);
    missed.kind = MessageKind::MissedCall;
    missed.audio = None;
    let id3 = store.deposit(&alice, &missed).unwrap();
    assert_eq!(dc.messages("alice").len(), 4, "3 of ours + the user's mail");

    let list = store.list(&alice).unwrap();
    let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [id1.as_str(), id2.as_str(), id3.as_str()]);
    assert_eq!(list[2].kind, MessageKind::MissedCall);
    assert_eq!(list[0].caller.as_deref(), Some("+14255550199"));
    assert_eq!(
        list[1].received,
        Some(UNIX_EPOCH + Duration::from_secs(1_795_700_060))
    );
    assert!(list.iter().all(|m| !m.seen && m.size > 0));
    let c = store.counts(&alice).unwrap();
    assert_eq!((c.new, c.old), (2, 0), "missed calls do not count");
    let usage = store.usage(&alice).unwrap();
    assert_eq!(usage.messages, 3);
    assert_eq!(usage.bytes, list.iter().map(|m| m.size).sum::<u64>());

    // Read back: the message parses, the audio is what was deposited, the subject is human.
    let m = parse(&store.read(&alice, &id1).unwrap()).unwrap();
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert_eq!(m.call_id, "call-0");
    assert_eq!(m.subject, "Voice mail from Bob Caller (+14255550199), 0:01");
    assert_eq!(read_wav(m.audio_wav.as_ref().unwrap()), spoken);
    assert!(m
        .headers
        .iter()
        .any(|(k, v)| k == "X-UMGW-Delivery-Id" && v == "alice-00000001"));

    // Seen from the gateway, then from a mail client: MWI counts follow the server.
    store.set_seen(&alice, &id1, true).unwrap();
    assert_eq!(store.counts(&alice).unwrap().old, 1);
    client.ok("SELECT INBOX");
    client.ok("FETCH 1:* (FLAGS)");
    let uid2 = id2.split_once('.').unwrap().1;
    client.ok(&format!("UID STORE {uid2} +FLAGS (\\Seen)"));
    let c = store.counts(&alice).unwrap();
    assert_eq!((c.new, c.old), (0, 2), "read in a mail client");
    store.set_seen(&alice, &id2, false).unwrap();
    assert_eq!(store.counts(&alice).unwrap().new, 1);

    // Delete removes exactly that message; deleting again is fine; read is NotFound.
    store.delete(&alice, &id1).unwrap();
    store.delete(&alice, &id1).unwrap();
    assert!(matches!(
        store.read(&alice, &id1),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_seen(&alice, &id1, true),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.list(&alice).unwrap().len(), 2);
    assert_eq!(
        dc.messages("alice").len(),
        3,
        "the user's mail is still there"
    );
    assert!(store
        .list(&MailboxId::new("carol").unwrap())
        .unwrap()
        .is_empty());
}

/// An urgent voice mail is appended with the `$Important` keyword and its `Importance`
/// header: the lamp's urgent counts follow it, new and then old.
#[test]
fn imap_store_counts_urgent_voice_mails() {
    let dc = Dovecot::start(&["alice"]);
    let t = tempfile::tempdir().unwrap();
    let store = Imap::open(&dc.imap_config(), t.path().join("local")).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    let wav = t.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    let mut urgent = voice_mail(&wav, None, 0);
    urgent.marks.urgent = true;
    let id = store.deposit(&alice, &urgent).unwrap();
    store.deposit(&alice, &voice_mail(&wav, None, 60)).unwrap();
    let c = store.counts(&alice).unwrap();
    assert_eq!((c.new, c.old, c.urgent_new, c.urgent_old), (2, 0, 1, 0));
    store.set_seen(&alice, &id, true).unwrap();
    let c = store.counts(&alice).unwrap();
    assert_eq!((c.new, c.old, c.urgent_new, c.urgent_old), (1, 1, 0, 1));
    let list = store.list(&alice).unwrap();
    assert_eq!(
        list.iter().map(|m| m.urgent).collect::<Vec<_>>(),
        [true, false]
    );
    let read = parse(&store.read(&alice, &id).unwrap()).unwrap();
    assert!(read.marks.urgent);
}

#[test]
fn imap_store_reconnects_after_a_restart_and_names_a_down_server() {
    let mut dc = Dovecot::start(&["alice"]);
    let t = tempfile::tempdir().unwrap();
    let store = Imap::open(&dc.imap_config(), t.path().join("local")).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    assert_eq!(store.counts(&alice).unwrap().new, 0); // a pooled connection now exists

    dc.stop();
    let e = store.counts(&alice).unwrap_err();
    assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
    assert!(e.to_string().contains(&dc.addr.to_string()), "{e}");

    dc.restart();
    // The back-off is short in this config; the next attempts reconnect.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let counts = loop {
        match store.counts(&alice) {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.is_transient(), "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no reconnect: {e}"),
        }
    };
    assert_eq!(counts.new, 0);

    // Wrong password: a server error, not "unavailable".
    let mut cfg = dc.imap_config();
    cfg.password = Some(umgw::config::Secret("wrong".into()));
    let bad = Imap::open(&cfg, t.path().join("local2")).unwrap();
    let e = bad.counts(&alice).unwrap_err();
    assert!(matches!(e, StoreError::Server { .. }), "{e}");
    assert!(!e.to_string().contains("wrong"), "password in error: {e}");
}

/// The gateway on the IMAP backend, with a short greeting for alice; `store_keys` are more
/// `[store]` keys.
fn imap_gateway(dc: &Dovecot, store_keys: &str) -> Gateway {
    Gateway::start(GatewayOptions {
        extra_config: dc.store_config(store_keys),
        greetings: vec![("alice".into(), umgw::media::prompts::tone(800.0, 400, 0.3))],
        ..GatewayOptions::default()
    })
}

#[test]
fn sipp_deposit_ends_in_the_dovecot_mailbox() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        unsafe_is_root(),
        "play_pcap_audio needs root (raw socket); run the test suite as root, as CI does"
    );
    let dc = Dovecot::start(&["alice", "carol"]);
    let gw = imap_gateway(&dc, "");
    let work = tempfile::tempdir().unwrap();
    let spoken = test_signal(3000);
    support::pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &spoken).unwrap();
    // The greeting goes to a socket nobody reads; the SIPp test checks what callers hear.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = sink.local_addr().unwrap().port().to_string();
    let (ok, log) = run_deposit(&gw, work.path(), "sip:alice@contoso.com", &rtp_port, 1200);
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());

    // Read back over IMAP with the tests' own client: exactly one message, ours, with the
    // caller's audio; nothing in the local Maildir.
    let raw = dc.wait_messages("alice", 1, Duration::from_secs(10));
    assert_eq!(raw.len(), 1, "umgw log:\n{}", gw.log());
    let m = parse(&raw[0]).expect("the stored message parses back");
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert_eq!(m.mailbox_address, "sip:alice@contoso.com");
    assert_eq!(m.caller.as_deref(), Some("+14255550199"));
    assert!(m.subject.starts_with("Voice mail from "), "{}", m.subject);
    assert_recording_matches(&spoken, m.audio_wav.as_ref().expect("audio attached"));
    assert!(
        gw.messages("alice").is_empty(),
        "nothing in the local Maildir"
    );
    assert!(dc.messages("carol").is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dc.messages("alice").len(), 1, "delivered once");
}

/// Calls alice, waits out the greeting and beep, streams `first`, runs `during`, streams
/// `rest` and hangs up. Returns everything streamed.
fn leave_message(gw: &Gateway, first: &[i16], during: impl FnOnce(), rest: &[i16]) -> Vec<i16> {
    let (mut ua, media) = answered_call(gw, "sip:alice@contoso.com");
    // With the server down and no greeting cached on the node, the default greeting plays
    // (seconds long).
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(15));
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, first, 0x4242, &mut seq, &mut ts);
    during();
    ua.send_audio(media, rest, 0x4242, &mut seq, &mut ts);
    ua.bye();
    let bye_ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(bye_ok.status(), Some(200));
    [first, rest].concat()
}

#[test]
fn dovecot_restart_mid_call_delivers_the_message_exactly_once() {
    let dc = std::cell::RefCell::new(Dovecot::start(&["alice", "carol"]));
    let gw = imap_gateway(&dc.borrow(), "");
    let sent = test_signal(3000);
    // The server goes away while the caller is speaking and is still down at hang-up.
    let spoken = leave_message(&gw, &sent[..8000], || dc.borrow_mut().stop(), &sent[8000..]);
    gw.wait_log("delivered when the store is back", Duration::from_secs(10));
    let spool = gw.dir.path().join("data/spool");
    let spooled = |ext: &str| {
        std::fs::read_dir(&spool)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == ext))
            .count()
    };
    assert_eq!(spooled("wav"), 1, "the recording waits in the spool");
    assert_eq!(spooled("retry"), 1);
    // A few failed attempts while the server is down, then it comes back.
    std::thread::sleep(Duration::from_millis(1500));
    dc.borrow_mut().restart();

    let dc = dc.borrow();
    let raw = dc.wait_messages("alice", 1, Duration::from_secs(15));
    assert_eq!(raw.len(), 1, "umgw log:\n{}", gw.log());
    // Further retries (there must be none left) would add a second copy: wait and recount.
    std::thread::sleep(Duration::from_millis(2000));
    let raw = dc.messages("alice");
    assert_eq!(raw.len(), 1, "delivered exactly once; log:\n{}", gw.log());
    let m = parse(&raw[0]).unwrap();
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert!(
        !m.headers.iter().any(|(k, _)| k == "X-UMGW-Recovered"),
        "a retry is not a crash recovery"
    );
    assert_recording_matches(&spoken, m.audio_wav.as_ref().unwrap());
    assert_eq!(
        spooled("wav") + spooled("meta") + spooled("retry"),
        0,
        "spool emptied"
    );
}

#[test]
fn spooled_recordings_survive_a_gateway_restart_while_the_server_is_down() {
    let mut dc = Dovecot::start(&["alice", "carol"]);
    let mut gw = imap_gateway(&dc, "");
    let sent = test_signal(2000);
    dc.stop();
    let spoken = leave_message(&gw, &sent, || {}, &[]);
    gw.wait_log("delivered when the store is back", Duration::from_secs(10));
    // The gateway dies and starts again while the server is still down: start-up recovery
    // fails too, and the entry stays for the background retry.
    gw.crash_and_restart();
    dc.restart();
    let raw = dc.wait_messages("alice", 1, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(dc.messages("alice").len(), 1, "log:\n{}", gw.log());
    let m = parse(&raw[0]).unwrap();
    assert_recording_matches(&spoken, m.audio_wav.as_ref().unwrap());
}

/// Over quota (here: one message): the caller hears "mailbox full" then goodbye, nothing is
/// recorded, the gateway hangs up, and a missed-call notice is stored all the same.
fn full_mailbox_plays_prompt_and_notes_missed_call(backend: Backend) {
    let gw = backend.gateway(
        GatewayOptions {
            greetings: vec![("alice".into(), umgw::media::prompts::tone(800.0, 400, 0.3))],
            ..GatewayOptions::default()
        },
        "max_messages = 1\n",
    );
    let sent = test_signal(2000);
    leave_message(&gw, &sent, || {}, &[]);
    let first = backend.wait_messages(&gw, "alice", 1);
    assert_eq!(first[0].kind, MessageKind::VoiceMail);

    let (ua, media) = answered_call(&gw, "sip:alice@contoso.com");
    // Speaking (and '#') changes nothing: there is no recording.
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &test_signal(500), 0x77, &mut seq, &mut ts);
    let heard =
        decode_pcmu(&ua.recv_rtp_until_quiet(Duration::from_millis(500), Duration::from_secs(20)));
    let prompts = umgw::gateway::assets::prompts().unwrap();
    let full = prompts.get("vm-mailbox-full").unwrap();
    assert!(heard.len() >= full.len(), "heard {} ms", heard.len() / 8);
    let (corr, lag) = best_correlation(&through_pcmu(&full[..8000]), &heard[..8000 + 800], 800);
    assert!(
        corr > 0.99,
        "mailbox-full prompt correlation {corr} (lag {lag})"
    );
    let bye = ua.expect_request(umgw::sip::message::Method::Bye, Duration::from_secs(10));
    ua.ok(&bye);

    let msgs = backend.wait_messages(&gw, "alice", 2);
    let kinds: Vec<MessageKind> = msgs.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == MessageKind::VoiceMail)
            .count(),
        1
    );
    let notice = msgs
        .iter()
        .find(|m| m.kind == MessageKind::MissedCall)
        .expect("missed-call notice");
    assert!(notice.audio_wav.is_none(), "nothing recorded");
    assert_eq!(notice.call_id, ua.call_id);
    assert!(gw.log().contains("mailbox full: nothing recorded"));
}

#[test]
fn quota_full_mailbox_on_maildir() {
    full_mailbox_plays_prompt_and_notes_missed_call(Backend::Maildir);
}

#[test]
fn quota_full_mailbox_on_imap() {
    full_mailbox_plays_prompt_and_notes_missed_call(Backend::Imap(Dovecot::start(&[
        "alice", "carol",
    ])));
}

#[test]
fn compressed_attachment_on_imap_is_a_quarter_of_the_size_and_sounds_the_same() {
    let dc = Dovecot::start(&["alice", "carol"]);
    let gw = imap_gateway(&dc, "audio_format = \"ima-adpcm\"\n");
    let sent = test_signal(3000);
    let spoken = leave_message(&gw, &sent, || {}, &[]);
    let raw = dc.wait_messages("alice", 1, Duration::from_secs(10));
    assert_eq!(raw.len(), 1, "log:\n{}", gw.log());
    let m = parse(&raw[0]).unwrap();
    let wav = m.audio_wav.as_ref().expect("audio attached");
    assert_eq!(&wav[20..22], &[0x11, 0x00], "WAVE_FORMAT_IMA_ADPCM");
    let pcm_len = 44 + spoken.len() * 2;
    assert!(
        wav.len() * 3 < pcm_len,
        "{} bytes vs {pcm_len} as PCM",
        wav.len()
    );
    let audio = umgw::store::audio::wav_samples(wav).expect("decodes");
    let diff_ms = (audio.len() as i64 - spoken.len() as i64).abs() / 8;
    assert!(diff_ms <= 40, "{} ms recorded", audio.len() / 8);
    let (corr, lag) = best_correlation(&through_pcmu(&spoken), &audio, 400);
    assert!(corr > 0.95, "correlation {corr} at lag {lag}");
}

/// A host's directory for `umgw mailbox` commands against `dc`: the test dial plan and a
/// config on the IMAP store; the directory and the config's path.
fn admin_site(dc: &Dovecot) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("dialplans")).unwrap();
    std::fs::write(
        t.path().join("dialplans/test.toml"),
        test_plan(5, 1200, None),
    )
    .unwrap();
    let config = t.path().join("umgw.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndialplans = \"dialplans\"\ndata_dir = \"data\"\n{}",
            dc.store_config("")
        ),
    )
    .unwrap();
    (t, config)
}

#[test]
fn admin_commands_work_on_the_imap_store() {
    let dc = Dovecot::start(&["alice", "carol"]);
    let (t, config) = admin_site(&dc);
    let store = Imap::open(&dc.imap_config(), t.path().join("data/mailboxes")).unwrap();
    let wav = t.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    let alice = MailboxId::new("alice").unwrap();
    let id = store.deposit(&alice, &voice_mail(&wav, None, 0)).unwrap();
    let umgw = |args: &[&str]| umgw_cli(&config, args, "");
    let list = umgw(&["mailbox", "list"]);
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("alice"))
        .expect("alice listed")
        .split_whitespace()
        .collect();
    assert_eq!(
        row[3..5],
        ["1", "0"],
        "new/old counts from the server: {list}"
    );
    assert!(umgw(&["mailbox", "show", "alice"]).contains(&id));
    let out = t.path().join("out.wav");
    umgw(&["play", "alice", &id, "--out", out.to_str().unwrap()]);
    assert_eq!(read_wav(&std::fs::read(&out).unwrap()), test_signal(1000));
    umgw(&["mailbox", "delete", "alice", &id]);
    assert!(dc.messages("alice").is_empty());
}

#[test]
fn imap_store_over_tls_implicit_and_starttls_verifies_the_server() {
    let dc = Dovecot::start_tls(&["alice"]);
    let (imaps, ca) = dc.tls.clone().expect("TLS listener");
    let t = tempfile::tempdir().unwrap();
    let wav = t.path().join("m.wav");
    write_wav(&wav, &test_signal(500));
    let alice = MailboxId::new("alice").unwrap();
    let tls_config =
        |server: std::net::SocketAddr, mode: &str, name: &str| umgw::config::ImapConfig {
            server: server.to_string(),
            tls: mode.into(),
            ca: Some(ca.clone()),
            server_name: Some(name.into()),
            ..dc.imap_config()
        };
    for (k, (server, mode)) in [(imaps, "implicit"), (dc.addr, "starttls")]
        .into_iter()
        .enumerate()
    {
        let store =
            Imap::open(&tls_config(server, mode, "umgw.test"), t.path().join(mode)).unwrap();
        let id = store
            .deposit(&alice, &voice_mail(&wav, None, k as u64))
            .unwrap_or_else(|e| panic!("{mode}: {e}\n{}", dc.log()));
        let m = parse(&store.read(&alice, &id).unwrap()).unwrap();
        assert_eq!(m.call_id, format!("call-{k}"), "{mode}");
    }
    assert_eq!(dc.messages("alice").len(), 2);
    assert!(
        dc.log().contains("TLS"),
        "sessions were encrypted:\n{}",
        dc.log()
    );

    // A certificate for another name is refused: no log-in, no password sent.
    let wrong = Imap::open(
        &tls_config(imaps, "implicit", "mail.example.org"),
        t.path().join("wrong"),
    )
    .unwrap();
    let e = wrong.counts(&alice).unwrap_err();
    assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[test]
fn gateway_killed_mid_recording_delivers_once_to_imap_after_restart() {
    let dc = Dovecot::start(&["alice", "carol"]);
    let mut gw = imap_gateway(&dc, "");
    let (ua, media) = answered_call(&gw, "sip:alice@contoso.com");
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    let sent = test_signal(2000);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &sent, 0x99, &mut seq, &mut ts);
    // The recorder's buffer reaches the file every half second.
    std::thread::sleep(Duration::from_millis(1300));
    gw.crash_and_restart();
    let raw = dc.wait_messages("alice", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(dc.messages("alice").len(), 1, "once; log:\n{}", gw.log());
    let m = parse(&raw[0]).unwrap();
    assert!(m
        .headers
        .iter()
        .any(|(k, v)| k == "X-UMGW-Recovered" && v == "crash"));
    let audio = read_wav(m.audio_wav.as_ref().expect("audio recovered"));
    assert!(audio.len() >= 8000, "{} ms recovered", audio.len() / 8);
    let (corr, lag) = best_correlation(&through_pcmu(&sent[..8000]), &audio[..8000], 400);
    assert!(corr > 0.95, "correlation {corr} at lag {lag}");
}

#[test]
fn missed_call_while_the_server_is_down_is_noted_once_it_is_back() {
    let mut dc = Dovecot::start(&["alice", "carol"]);
    let gw = imap_gateway(&dc, "");
    dc.stop();
    // carol has the default greeting (seconds long): hang up during it, before the tone.
    let (mut ua, _media) = answered_call(&gw, "sip:carol@contoso.com");
    std::thread::sleep(Duration::from_millis(500));
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(5)).status(),
        Some(200)
    );
    gw.wait_log("delivered when the store is back", Duration::from_secs(10));
    dc.restart();
    let raw = dc.wait_messages("carol", 1, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(dc.messages("carol").len(), 1, "once; log:\n{}", gw.log());
    let m = parse(&raw[0]).unwrap();
    assert_eq!(m.kind, MessageKind::MissedCall);
    assert_eq!(m.call_id, ua.call_id);
    assert!(m.audio_wav.is_none());
}

/// The NOTIFYs (new, old) that arrive on `sock` within `window`, each answered, one per
/// Call-ID (retransmissions left out).
fn mwi_within(sock: &std::net::UdpSocket, window: Duration) -> Vec<(u32, u32)> {
    let deadline = std::time::Instant::now() + window;
    let (mut seen, mut counts) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < deadline {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let notify = umgw::sip::message::Message::parse(&buf[..n]).unwrap();
        let ok = umgw::sip::message::Message::response_to(&notify, 200, "OK", Some("mwi"));
        sock.send_to(&ok.to_bytes(), from).unwrap();
        let call_id = notify.call_id().unwrap().to_owned();
        if !seen.contains(&call_id) {
            seen.push(call_id);
            let s =
                umgw::mwi::parse_message_summary(&String::from_utf8_lossy(&notify.body)).unwrap();
            counts.push((s.voice_new, s.voice_old));
        }
    }
    counts
}

/// Two nodes on one store, each polling its own share (`store.mwi_poll_share` 1/2 and 2/2): a
/// message deposited by another gateway lights the lamp, and reading it in a mail client turns
/// it off, each notified by exactly one node, not by both.
#[test]
fn mwi_poll_follows_changes_made_in_a_mail_client() {
    let dc = Dovecot::start(&["alice", "carol"]);
    let mwi = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    mwi.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let nodes: Vec<Gateway> = ["1/2", "2/2"]
        .iter()
        .map(|share| {
            Gateway::start(GatewayOptions {
                plan: test_plan(5, 1200, Some(mwi.local_addr().unwrap().port())),
                extra_config: dc
                    .store_config(&format!("mwi_poll_s = 1\nmwi_poll_share = \"{share}\"\n")),
                ..GatewayOptions::default()
            })
        })
        .collect();
    let logs = || {
        nodes
            .iter()
            .map(Gateway::log)
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    // Start-up: alice's lamp is set once, by the node whose share she is in.
    assert_eq!(
        mwi_within(&mwi, Duration::from_secs(3)),
        [(0, 0)],
        "{}",
        logs()
    );
    // A message that reaches the server without these gateways (another gateway of the
    // cluster).
    let t = tempfile::tempdir().unwrap();
    let wav = t.path().join("m.wav");
    write_wav(&wav, &test_signal(500));
    let store = Imap::open(&dc.imap_config(), t.path().join("local")).unwrap();
    let id = store
        .deposit(
            &MailboxId::new("alice").unwrap(),
            &voice_mail(&wav, None, 0),
        )
        .unwrap();
    assert_eq!(
        mwi_within(&mwi, Duration::from_secs(3)),
        [(1, 0)],
        "{}",
        logs()
    );
    // The user reads it in a mail client: the lamp goes off at the next poll, once.
    let mut client = dc.client("alice");
    client.ok("SELECT INBOX");
    let uid = id.split_once('.').unwrap().1;
    client.ok(&format!("UID STORE {uid} +FLAGS (\\Seen)"));
    assert_eq!(
        mwi_within(&mwi, Duration::from_secs(3)),
        [(0, 1)],
        "{}",
        logs()
    );
}

/// Per-user state on the server, as three gateway nodes see it: each node is a store with its
/// own local directory on the same Dovecot.
#[test]
fn per_user_state_is_on_the_server_and_counted_exactly_across_nodes() {
    use umgw::store::pin::{LogOn, PinPolicy};
    use umgw::store::GreetingKind;
    let mut dc = Dovecot::start(&["alice", "carol"]);
    let t = tempfile::tempdir().unwrap();
    let nodes: Vec<Imap> = (0..3)
        .map(|k| Imap::open(&dc.imap_config(), t.path().join(format!("node{k}"))).unwrap())
        .collect();
    let alice = MailboxId::new("alice").unwrap();
    let policy = PinPolicy {
        max_failed_attempts: 7,
        ..PinPolicy::default()
    };

    // Nothing stored yet: no folder is created by reading.
    let empty = nodes[0].pin_state(&alice, &policy).unwrap();
    assert_eq!(
        (empty.hash, empty.failed_attempts, empty.locked),
        (None, 0, false)
    );
    assert_eq!(
        nodes[0].greeting(&alice, GreetingKind::Personal).unwrap(),
        None
    );
    let mut client = dc.client("alice");
    let (lines, _) = client.ok("LIST \"\" \"*\"");
    assert!(!lines.iter().any(|l| l.contains("UMGW-State")), "{lines:?}");

    // A PIN set through node 0 logs on through node 1; the policy sees the shared history.
    nodes[0]
        .set_pin(&alice, "582914", "1001", &policy, PinSetter::User)
        .unwrap();
    assert_eq!(
        nodes[1].log_on(&alice, "582914", &policy).unwrap(),
        LogOn::Accepted
    );
    let reused = nodes[2]
        .set_pin(&alice, "582914", "1001", &policy, PinSetter::User)
        .unwrap_err();
    assert!(reused.to_string().contains("used recently"), "{reused}");
    assert!(!reused.to_string().contains("582914"));

    // 20 parallel wrong guesses spread over the three nodes: exactly 7 are checked and
    // counted (ranks 1..=7), the rest meet the lock unchecked.
    let outcomes: Vec<LogOn> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (node, alice, policy) = (&nodes[i % 3], &alice, &policy);
                s.spawn(move || node.log_on(alice, "111999", policy).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut counted: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match *o {
            LogOn::Refused { failed_attempts } | LogOn::LockedOut { failed_attempts } => {
                Some(failed_attempts)
            }
            _ => None,
        })
        .collect();
    counted.sort_unstable();
    assert_eq!(counted, (1..=7).collect::<Vec<_>>(), "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, LogOn::LockedOut { .. }))
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, LogOn::Locked { .. }))
            .count(),
        13
    );
    for node in &nodes {
        let s = node.pin_state(&alice, &policy).unwrap();
        assert_eq!((s.failed_attempts, s.locked), (7, true));
    }
    // Locked: even the right PIN is refused, unchecked and uncounted.
    assert!(matches!(
        nodes[1].log_on(&alice, "582914", &policy).unwrap(),
        LogOn::Locked { .. }
    ));
    assert_eq!(
        nodes[1].pin_state(&alice, &policy).unwrap().failed_attempts,
        7
    );
    // Unlocked through another node; a right PIN then clears earlier failures.
    assert_eq!(nodes[2].unlock(&alice, &policy).unwrap(), (7, true));
    nodes[0].log_on(&alice, "000111", &policy).unwrap();
    assert_eq!(
        nodes[1].pin_state(&alice, &policy).unwrap().failed_attempts,
        1
    );
    assert_eq!(
        nodes[1].log_on(&alice, "582914", &policy).unwrap(),
        LogOn::Accepted
    );
    assert_eq!(
        nodes[2].pin_state(&alice, &policy).unwrap().failed_attempts,
        0
    );

    // A greeting saved through node 0 is what node 2 plays; replaced through node 1, node 2
    // follows; the away greeting (and so the away flag) is shared too.
    let first = test_signal(800);
    let second = umgw::media::prompts::tone(500.0, 600, 0.3);
    let wav = t.path().join("g.wav");
    write_wav(&wav, &first);
    nodes[0]
        .save_greeting(&alice, GreetingKind::Personal, &wav)
        .unwrap();
    let got = nodes[2]
        .greeting(&alice, GreetingKind::Personal)
        .unwrap()
        .expect("shared greeting");
    assert_eq!(read_wav(&std::fs::read(&got).unwrap()), first);
    write_wav(&wav, &second);
    nodes[1]
        .save_greeting(&alice, GreetingKind::Personal, &wav)
        .unwrap();
    let got = nodes[2]
        .greeting(&alice, GreetingKind::Personal)
        .unwrap()
        .unwrap();
    assert_eq!(read_wav(&std::fs::read(&got).unwrap()), second);
    nodes[0]
        .save_greeting(&alice, GreetingKind::Away, &wav)
        .unwrap();
    assert!(nodes[1]
        .greeting(&alice, GreetingKind::Away)
        .unwrap()
        .is_some());
    nodes[2]
        .delete_greeting(&alice, GreetingKind::Away)
        .unwrap();
    assert_eq!(nodes[1].greeting(&alice, GreetingKind::Away).unwrap(), None);
    assert_eq!(nodes[1].greeting(&alice, GreetingKind::Name).unwrap(), None);

    // On the server: one folder, not subscribed, holding exactly the current records; INBOX
    // untouched; carol has nothing.
    let (lsub, _) = client.ok("LSUB \"\" \"*\"");
    assert!(!lsub.iter().any(|l| l.contains("UMGW-State")), "{lsub:?}");
    client.ok("SELECT UMGW-State");
    let (_, heads) = client.ok("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-UMGW-State)])");
    let mut kinds: Vec<String> = heads
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "X-UMGW-State: greeting-personal",
            "X-UMGW-State: pin-record"
        ],
        "replaced records are expunged"
    );
    assert!(dc.messages("alice").is_empty(), "nothing in INBOX");
    let carol = MailboxId::new("carol").unwrap();
    assert_eq!(nodes[0].pin_state(&carol, &policy).unwrap().hash, None);
    // No node keeps the state: the nodes' directories hold only the greeting cache.
    for k in 0..3 {
        let local = t.path().join(format!("node{k}/alice"));
        for f in [
            "pin",
            "pin-state",
            "pin-history",
            "greeting.wav",
            "away.wav",
        ] {
            assert!(!local.join(f).exists(), "node{k} has {f}");
        }
    }

    // The server goes down: a node plays the greeting it fetched last; one that never
    // fetched it gets the error (and callers the default greeting).
    let idle_node = Imap::open(&dc.imap_config(), t.path().join("node3")).unwrap();
    assert_eq!(
        idle_node
            .pin_state(&alice, &policy)
            .unwrap()
            .failed_attempts,
        0
    );
    drop(client);
    dc.stop();
    let cached = nodes[2]
        .greeting(&alice, GreetingKind::Personal)
        .unwrap()
        .expect("the node's cached copy");
    assert_eq!(read_wav(&std::fs::read(&cached).unwrap()), second);
    let e = nodes[0]
        .greeting(&alice, GreetingKind::Personal)
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    // Node 1 fetched the away greeting before it was deleted: its copy went with it.
    assert!(nodes[1].greeting(&alice, GreetingKind::Away).is_err());

    // Back up: the attempt on a pooled connection the restart broke is retried on a new
    // one and counted once.
    dc.restart();
    assert_eq!(
        idle_node.log_on(&alice, "000111", &policy).unwrap(),
        LogOn::Refused { failed_attempts: 1 }
    );
    assert_eq!(
        idle_node
            .pin_state(&alice, &policy)
            .unwrap()
            .failed_attempts,
        1
    );
}

#[test]
fn migrate_state_copies_local_pins_and_greetings_once() {
    use umgw::store::pin::{PinPolicy, PinStore};
    use umgw::store::GreetingKind;
    let dc = Dovecot::start(&["alice", "carol"]);
    let (t, config) = admin_site(&dc);
    // What an older gateway left on this host: alice's PIN files (locked), her greeting and
    // recorded name; carol has nothing.
    let local = t.path().join("data/mailboxes/alice");
    let policy = PinPolicy::default();
    let mut pins = PinStore::default();
    pins.set("582914", "1001", &policy).unwrap();
    pins.failed_attempts = 3;
    pins.locked = true;
    pins.save(&local).unwrap();
    let greeting = test_signal(700);
    let name = umgw::media::prompts::tone(600.0, 300, 0.3);
    write_wav(&local.join("greeting.wav"), &greeting);
    write_wav(&local.join("name.wav"), &name);
    let migrate = || umgw_cli(&config, &["mailbox", "migrate-state"], "");
    let first = migrate();
    for line in [
        "alice: PIN: copied to the server",
        "alice: personal greeting: copied to the server",
        "alice: away greeting: none on this host",
        "alice: recorded name: copied to the server",
        "carol: PIN: none on this host",
    ] {
        assert!(first.contains(line), "{line:?} in:\n{first}");
    }
    let store = Imap::open(&dc.imap_config(), t.path().join("node2")).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    let state = store.pin_state(&alice, &policy).unwrap();
    assert_eq!(state.hash, pins.hash);
    assert_eq!(state.history, pins.history);
    assert!(state.locked, "a lock is carried over");
    assert_eq!(state.failed_attempts, policy.max_failed_attempts);
    let g = store
        .greeting(&alice, GreetingKind::Personal)
        .unwrap()
        .unwrap();
    assert_eq!(read_wav(&std::fs::read(g).unwrap()), greeting);
    let n = store.greeting(&alice, GreetingKind::Name).unwrap().unwrap();
    assert_eq!(read_wav(&std::fs::read(n).unwrap()), name);
    let folder_size = || {
        let mut c = dc.client("alice");
        let (lines, _) = c.ok("STATUS UMGW-State (MESSAGES UIDNEXT)");
        lines.join("")
    };
    let before = folder_size();

    // Again: nothing changes, and it says so.
    let second = migrate();
    assert!(!second.contains("copied"), "{second}");
    assert!(
        second.contains("alice: PIN: already on the server (left as it is)"),
        "{second}"
    );
    assert_eq!(folder_size(), before, "the second run wrote nothing");
    // A PIN changed on the server since is not overwritten by the old local files.
    store.unlock(&alice, &policy).unwrap();
    store
        .set_pin(&alice, "730146", "1001", &policy, PinSetter::User)
        .unwrap();
    migrate();
    assert!(store
        .log_on(&alice, "730146", &policy)
        .is_ok_and(|o| o == umgw::store::pin::LogOn::Accepted));
}

const PILOT: &str = "+14255550100";

/// `umgw ARGS --config <node's config>` (see [`umgw_cli`]).
fn umgw_on(node: &Gateway, args: &[&str], stdin: &str) -> String {
    umgw_cli(&node.dir.path().join("umgw.toml"), args, stdin)
}

/// `umgw ARGS --config CONFIG` with `stdin` as standard input; its standard output (the test
/// fails with its error output if it fails).
fn umgw_cli(config: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Kamailio of the cluster test below, on a loopback range of its own (tests/cluster.rs uses
/// 127.0.0.10-13) so that the test binaries can run at once; the nodes are on .21-23.
const KAMAILIO_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 20);
const FIRST_NODE_IP: u8 = 21;

/// Calls `ruri` through Kamailio from 127.0.0.1 until a node other than `avoid` answers:
/// round robin moves on with each call, and a call that lands on `avoid` is hung up at once.
fn call_avoiding(k: &Kamailio, nodes: &[Gateway], ruri: &str, avoid: Option<usize>) -> Answered {
    for _ in 0..nodes.len() {
        let mut call = k.call("127.0.0.1", ruri, nodes, Duration::from_secs(5));
        if Some(call.node) != avoid {
            return call;
        }
        call.ua.bye();
    }
    panic!(
        "round robin never left node {avoid:?}:\n{}",
        k.logs_with(nodes)
    );
}

/// The subscriber-access pilot as the call server dials it.
fn pilot_uri() -> String {
    format!("sip:{PILOT}@contoso.com;user=phone")
}

/// Types alice's extension over the first prompt of a call to the pilot; the DTMF timestamp.
fn say_alice(call: &Answered) -> u32 {
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    call.ua.keys(call.media, "1001#", &mut ts);
    ts
}

/// Through Kamailio: calls the pilot (landing on a node other than `avoid`), says it is alice
/// and types `pin`; the call and its DTMF timestamp.
fn type_pin(k: &Kamailio, nodes: &[Gateway], avoid: Option<usize>, pin: &str) -> (Answered, u32) {
    let call = call_avoiding(k, nodes, &pilot_uri(), avoid);
    let mut ts = say_alice(&call);
    std::thread::sleep(Duration::from_millis(500));
    call.ua.keys(call.media, &format!("{pin}#"), &mut ts);
    (call, ts)
}

/// [`type_pin`], and waits until the node that answered logs the log-on accepted.
fn log_on(k: &Kamailio, nodes: &[Gateway], avoid: Option<usize>, pin: &str) -> (Answered, u32) {
    let (call, ts) = type_pin(k, nodes, avoid, pin);
    wait_call_log(
        &nodes[call.node],
        &call.ua,
        "log-on accepted",
        Duration::from_secs(10),
    );
    (call, ts)
}

/// Waits until `node` logs `needle` for the call `ua` placed (the call's span names its
/// Call-ID).
fn wait_call_log(node: &Gateway, ua: &Ua, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let log = node.log();
        if log
            .lines()
            .any(|l| l.contains(&ua.call_id) && l.contains(needle))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never logged for {}:\n{log}",
            ua.call_id
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Any node serves any user: three gateways on one Dovecot behind Kamailio (running
/// packaging/kamailio/kamailio.cfg as shipped), every call through Kamailio and each step
/// checked against the node that answered it. A PIN set on node A's host logs on through
/// another node; a greeting recorded through node X is what a deposit through node Y != X
/// plays; 20 parallel wrong guesses spread over the three lock the mailbox at exactly
/// MaxLogonAttempts, after which the right PIN is refused.
#[test]
fn three_nodes_behind_kamailio_on_one_dovecot_share_pins_lockout_and_greetings() {
    use umgw::sip::message::Method;
    use umgw::store::pin::PinPolicy;
    use umgw::store::GreetingKind;
    const MAX: u32 = 15;
    const PIN: &str = "58291473";
    const WRONG: &str = "11223344";
    /// The node whose host the PIN is set on.
    const A: usize = 0;
    let dc = Dovecot::start(&["alice", "carol"]);
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let plan = format!(
        "{head}PilotIdentifiers = [\"{PILOT}\"]\nMaxLogonAttempts = {MAX}\n\n[[Mailbox]]{mailboxes}"
    );
    let nodes: Vec<Gateway> = (0..3u8)
        .map(|i| {
            Gateway::start(GatewayOptions {
                plan: plan.clone(),
                sip_ip: Ipv4Addr::new(127, 0, 0, FIRST_NODE_IP + i),
                // Calls reach the nodes only through Kamailio.
                trusted: vec![KAMAILIO_IP.to_string()],
                extra_config: format!(
                    "{}[subscriber]\nmax_sessions_per_mailbox = 20\n",
                    dc.store_config("")
                ),
                ..GatewayOptions::default()
            })
        })
        .collect();
    let sips: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
    let k = Kamailio::start(KAMAILIO_IP, &sips, 1);
    let (b, c) = (&nodes[1], &nodes[2]);
    let pilot = pilot_uri();
    let alice = MailboxId::new("alice").unwrap();
    let policy = PinPolicy {
        max_failed_attempts: MAX,
        ..PinPolicy::default()
    };
    // The test's own view of the server (a store with a local directory of its own).
    let view = tempfile::tempdir().unwrap();
    let server = Imap::open(&dc.imap_config(), view.path().to_owned()).unwrap();

    // The PIN is set on node A's host; through Kamailio alice logs on with it on node X and
    // records her greeting there (main menu 3, # ends it).
    let out = umgw_on(
        &nodes[A],
        &["mailbox", "set-pin", "--no-change-required", "alice"],
        &format!("{PIN}\n"),
    );
    assert!(out.contains("PIN set for mailbox alice"), "{out}");
    let (mut call, mut ts) = log_on(&k, &nodes, None, PIN);
    let x = call.node;
    std::thread::sleep(Duration::from_millis(1500));
    call.ua.keys(call.media, "3", &mut ts);
    call.ua
        .recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(15));
    let spoken = test_signal(1500);
    let (mut seq, mut ats) = (1u16, 0u32);
    call.ua
        .send_audio(call.media, &spoken, 77, &mut seq, &mut ats);
    call.ua.keys(call.media, "#", &mut ts);
    let deadline = Instant::now() + Duration::from_secs(5);
    let saved = loop {
        if let Some(p) = server.greeting(&alice, GreetingKind::Personal).unwrap() {
            break read_wav(&std::fs::read(p).unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "no greeting saved; node {x} log:\n{}",
            nodes[x].log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    call.ua.bye();
    let (corr, _) = best_correlation(&through_pcmu(&spoken), &saved, 400);
    assert!(
        corr > 0.95,
        "greeting recorded through node {x}: correlation {corr}"
    );

    // The next caller's deposit lands on another node, Y, which plays that greeting.
    let mut caller = call_avoiding(&k, &nodes, "sip:alice@contoso.com", Some(x));
    let y = caller.node;
    assert_ne!(y, x, "the deposit is served by another node");
    let heard = decode_pcmu(
        &caller
            .ua
            .recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(10)),
    );
    caller.ua.bye();
    let (corr, lag) = best_correlation(&through_pcmu(&saved), &heard, 800);
    assert!(
        corr > 0.95,
        "greeting heard through node {y}: correlation {corr} at lag {lag}; log:\n{}",
        nodes[y].log()
    );

    // The PIN set on node A's host logs on through another node.
    let (mut call, _) = log_on(&k, &nodes, Some(A), PIN);
    assert_ne!(call.node, A);
    call.ua.bye();

    // 20 parallel callers guessing alice's PIN through Kamailio, which spreads them round
    // robin over the three nodes. All from 127.0.0.1: an INVITE and an ACK each (and an INVITE
    // retransmission at most before Kamailio's 100) are far below the shipped pike limit of
    // 200 requests per source in 2 s.
    let served: Vec<usize> = std::thread::scope(|scope| {
        let (k, nodes, pilot) = (&k, &nodes, &pilot);
        let callers: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(move || {
                    let call = call_avoiding(k, nodes, pilot, None);
                    let mut ts = say_alice(&call);
                    // InputFailuresBeforeDisconnect (3) wrong PINs each; a locked mailbox
                    // says so and hangs up after the first.
                    for _ in 0..3 {
                        std::thread::sleep(Duration::from_millis(700));
                        call.ua.keys(call.media, &format!("{WRONG}#"), &mut ts);
                    }
                    let bye = call.ua.expect_request(Method::Bye, Duration::from_secs(30));
                    call.ua.ok(&bye);
                    call.node
                })
            })
            .collect();
        callers.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for n in 0..nodes.len() {
        assert!(
            served.contains(&n),
            "node {n} served none of the guessers: {served:?}"
        );
    }
    assert!(
        !k.log().contains("PIKE - BLOCKing"),
        "pike let the callers through:\n{}",
        k.log()
    );
    let logs: Vec<String> = nodes.iter().map(Gateway::log).collect();
    let all = logs.join("\n");
    // Every checked wrong PIN is one audit line with its rank: 1..=MAX, once each, whatever
    // node checked it; the rest met the lock unchecked.
    let mut ranks: Vec<u32> = all
        .lines()
        .filter(|l| l.contains("log-on failed: wrong PIN"))
        .map(|l| {
            let at = l.rfind("failed_attempts=").expect("a count") + "failed_attempts=".len();
            l[at..]
                .split(|ch: char| !ch.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    ranks.sort_unstable();
    assert_eq!(ranks, (1..=MAX).collect::<Vec<_>>(), "logs:\n{all}");
    assert!(
        logs.iter()
            .filter(|l| l.contains("log-on failed: wrong PIN"))
            .count()
            > 1,
        "the checks were spread over the nodes"
    );
    assert_eq!(
        all.matches("mailbox locked after failed log-ons").count(),
        1,
        "{all}"
    );
    assert!(all.contains("log-on refused: the mailbox is locked"));
    let state = server.pin_state(&alice, &policy).unwrap();
    assert_eq!((state.failed_attempts, state.locked), (MAX, true));

    // The right PIN now is refused, unchecked, and the node hangs up.
    let (call, _) = type_pin(&k, &nodes, None, PIN);
    let locked_node = &nodes[call.node];
    wait_call_log(
        locked_node,
        &call.ua,
        "log-on refused: the mailbox is locked",
        Duration::from_secs(10),
    );
    let bye = call.ua.expect_request(Method::Bye, Duration::from_secs(30));
    call.ua.ok(&bye);
    assert!(
        !locked_node
            .log()
            .lines()
            .any(|l| l.contains(&call.ua.call_id) && l.contains("log-on accepted")),
        "a locked mailbox lets no one in"
    );
    let state = server.pin_state(&alice, &policy).unwrap();
    assert_eq!((state.failed_attempts, state.locked), (MAX, true));

    // The operator sees it from node C's host and unlocks it from node B's.
    let show = umgw_on(c, &["mailbox", "show", "alice"], "");
    assert!(show.contains("Failed log-ons: 15 (locks at 15)"), "{show}");
    assert!(show.contains("Locked: yes"), "{show}");
    let out = umgw_on(b, &["mailbox", "unlock", "alice"], "");
    assert!(out.contains("it was locked, 15 failed log-on(s)"), "{out}");

    // The PIN set on node A's host logs on through another node again.
    let (mut call, _) = log_on(&k, &nodes, Some(A), PIN);
    assert_ne!(call.node, A);
    call.ua.bye();
    let state = server.pin_state(&alice, &policy).unwrap();
    assert_eq!((state.failed_attempts, state.locked), (0, false));
    let all: String = nodes.iter().map(Gateway::log).collect();
    assert!(
        !all.contains(PIN) && !all.contains(WRONG),
        "no PIN in the logs"
    );
    // No node keeps the state.
    for node in &nodes {
        let local = node.dir.path().join("data/mailboxes/alice");
        for f in ["pin", "pin-state", "greeting.wav"] {
            assert!(!local.join(f).exists(), "{} on a node", f);
        }
    }
}
