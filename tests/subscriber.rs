//! Subscriber access against the real gateway: call the pilot, log in with extension and PIN,
//! listen to a message, delete it (store and MWI follow), record a greeting. Every scenario
//! runs on both stores: Maildir and IMAP (a private Dovecot).

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant, UNIX_EPOCH};

use support::dovecot::{Backend, Dovecot};
use support::Gateway;
use support::*;
use umgw::sip::message::Method;
use umgw::store::pin::{PinPolicy, PinSetter};
use umgw::store::{GreetingKind, Mailbox, MailboxId, ParsedMessage};

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

/// A gateway on `backend` with alice's lamp on the returned socket (its start-up refresh
/// read: (0, 0)); the NOTIFYs seen so far.
fn gateway_with_lamp(backend: &Backend) -> (Gateway, UdpSocket, Vec<String>) {
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
    (gw, mwi, seen)
}

fn log_in_listen_delete_and_record_a_greeting(backend: Backend) {
    let (gw, mwi, mut seen) = gateway_with_lamp(&backend);

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
        .set_pin(
            &alice,
            "135790",
            "1001",
            &PinPolicy::default(),
            PinSetter::User,
        )
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

/// A gateway on `backend` whose lamps go nowhere that answers.
fn gateway_without_lamp(backend: &Backend) -> Gateway {
    backend.gateway(
        GatewayOptions {
            plan: plan(1),
            ..GatewayOptions::default()
        },
        "",
    )
}

fn wrong_pins_lock_the_mailbox(backend: Backend) {
    let gw = gateway_without_lamp(&backend);
    let store = backend.store(&gw);
    let alice = MailboxId::new("alice").unwrap();
    let policy = PinPolicy::default();
    store
        .set_pin(&alice, "135790", "1001", &policy, PinSetter::User)
        .unwrap();
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

// ---- while a message plays: skip, pause, save, delete and undelete, mark unread ----

/// Segments of the tone message: segment `k` (second `k`) is a pure tone of `tone_hz(k)`.
const SEGMENTS: usize = 20;

fn tone_hz(k: usize) -> f64 {
    500.0 + 150.0 * k as f64
}

/// A 20 s message whose every second is a tone of its own, so a position in it can be heard.
fn tone_message() -> Vec<i16> {
    (0..SEGMENTS * 8000)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (9000.0 * (2.0 * std::f64::consts::PI * tone_hz(i / 8000) * t).sin()) as i16
        })
        .collect()
}

/// The segment a 20 ms frame of the tone message is from, if it is one (Goertzel over the
/// segments' tones; the strongest must carry most of the frame's energy).
fn segment_of(frame: &[i16]) -> Option<usize> {
    let total: f64 = frame.iter().map(|&s| (s as f64).powi(2)).sum();
    if total < 1e6 * frame.len() as f64 / 160.0 {
        return None;
    }
    let (k, p) = (0..SEGMENTS)
        .map(|k| (k, tone_power(frame, tone_hz(k))))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (p > 0.5 * total).then_some(k)
}

/// What the gateway sends, frame by frame, as it arrives: (arrival, segment of the tone
/// message if the frame is one).
struct Heard {
    rx: std::sync::mpsc::Receiver<(Instant, Option<usize>)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Heard {
    fn start(ua: &Ua) -> Heard {
        let sock = ua.rtp.try_clone().unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                let p = umgw::media::rtp::parse(&buf[..n]).unwrap();
                let mut pcm = vec![0i16; p.payload.len()];
                umgw::media::g711::G711::Pcmu.decode(p.payload, &mut pcm);
                if tx.send((Instant::now(), segment_of(&pcm))).is_err() {
                    return;
                }
            }
        });
        Heard { rx, stop }
    }

    /// Waits (at most `max`) for a frame of the tone message from segment `min` on; its
    /// segment.
    fn until_segment(&self, min: usize, max: Duration) -> usize {
        let deadline = Instant::now() + max;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((_, Some(k))) if k >= min => return k,
                Ok(_) => {}
                Err(_) => panic!("no segment {min} or later heard within {max:?}"),
            }
        }
    }

    /// Frames from now for `span`: (arrival, segment).
    fn for_span(&self, span: Duration) -> Vec<(Instant, Option<usize>)> {
        let deadline = Instant::now() + span;
        let mut out = Vec::new();
        while let Ok(f) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(f);
        }
        out
    }

    /// Drops what arrived so far.
    fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }
}

impl Drop for Heard {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Presses `key` after the message played up to segment `at`: the segments heard before and
/// after the key (the first tone frame at least 100 ms after it).
fn skip(
    ua: &Ua,
    media: std::net::SocketAddr,
    ts: &mut u32,
    heard: &Heard,
    key: &str,
) -> (usize, usize) {
    let before = heard.until_segment(0, Duration::from_secs(10));
    heard.drain();
    ua.keys(media, key, ts);
    let pressed = Instant::now();
    let after = heard
        .for_span(Duration::from_millis(600))
        .into_iter()
        .find_map(|(at, k)| k.filter(|_| at >= pressed + Duration::from_millis(100)))
        .expect("the message goes on after the skip");
    (before, after)
}

/// Calls the pilot, logs on as alice (extension 1001, PIN 135790) and presses 1 (new
/// messages): the call, the gateway's RTP address and the DTMF timestamp.
fn new_messages_of_alice(gw: &Gateway) -> (Ua, std::net::SocketAddr, u32) {
    let (ua, media) = answered_call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip));
    let mut ts = 0u32;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, "135790#", &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "1", &mut ts);
    (ua, media, ts)
}

#[test]
fn message_keys_skip_pause_save_delete_undelete_unread_on_maildir() {
    message_keys(Backend::Maildir);
}

#[test]
fn message_keys_skip_pause_save_delete_undelete_unread_on_imap() {
    message_keys(imap());
}

/// One call through the message keys: skips and pause heard in the RTP, every store change
/// in the MWI NOTIFY at once, the deletes settled at hang-up.
fn message_keys(backend: Backend) {
    let (gw, mwi, mut seen) = gateway_with_lamp(&backend);
    let store = backend.store(&gw);
    let alice = MailboxId::new("alice").unwrap();
    // A: the tone message; B: a short one after it.
    let (wav_a, wav_b) = (gw.dir.path().join("a.wav"), gw.dir.path().join("b.wav"));
    write_wav(&wav_a, &tone_message());
    write_wav(&wav_b, &test_signal(1000));
    let mut ids = Vec::new();
    for (k, wav) in [&wav_a, &wav_b].into_iter().enumerate() {
        let received = UNIX_EPOCH + Duration::from_secs(1_795_700_000 + k as u64 * 60);
        let msg = voice_mail_for_alice(Some("+14255550199"), received, wav, &format!("s{k}"));
        ids.push(store.deposit(&alice, &msg).unwrap());
    }
    let (a, b) = (ids[0].clone(), ids[1].clone());
    store
        .set_pin(
            &alice,
            "135790",
            "1001",
            &PinPolicy::default(),
            PinSetter::User,
        )
        .unwrap();

    let (ua, media, mut ts) = new_messages_of_alice(&gw);
    let heard = Heard::start(&ua);

    // A plays after its envelope. 9 skips 5 s ahead, 7 back 5 s.
    heard.until_segment(2, Duration::from_secs(20));
    let (before, after) = skip(&ua, media, &mut ts, &heard, "9");
    assert!(
        (before + 5..=before + 6).contains(&after),
        "9 at segment {before}: went on at {after}"
    );
    let (before, after) = skip(&ua, media, &mut ts, &heard, "7");
    assert!(
        (before.saturating_sub(5)..=before - 4).contains(&after),
        "7 at segment {before}: went on at {after}"
    );
    // 8 pauses: nothing is sent; 8 again resumes where it stopped.
    let at = heard.until_segment(0, Duration::from_secs(5));
    ua.keys(media, "8", &mut ts);
    let paused = Instant::now();
    let during = heard.for_span(Duration::from_millis(1500));
    let late: Vec<_> = during
        .iter()
        .filter(|(t, _)| *t > paused + Duration::from_millis(200))
        .collect();
    assert!(late.is_empty(), "{} frames sent while paused", late.len());
    ua.keys(media, "8", &mut ts);
    let resumed = heard.until_segment(0, Duration::from_secs(3));
    assert!(
        (at..=at + 1).contains(&resumed),
        "paused at segment {at}, resumed at {resumed}"
    );

    // 2 saves A (MWI at once), B plays; 3 deletes B: out of the counts and lists at once.
    ua.keys(media, "2", &mut ts);
    assert_eq!(next_mwi(&mwi, &mut seen), (1, 1), "A saved");
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "3", &mut ts);
    assert_eq!(next_mwi(&mwi, &mut seen), (0, 1), "B deleted");
    let listed: Vec<String> = store
        .list(&alice)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&a), "B is out of the list");
    // No more messages: main menu. 2 lists saved messages: A; 0 marks it unread.
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "2", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "0", &mut ts);
    assert_eq!(next_mwi(&mwi, &mut seen), (1, 0), "A unread");
    // Main menu: 8 lists what was deleted in this call (B); 3 restores it.
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "8", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "3", &mut ts);
    assert_eq!(next_mwi(&mwi, &mut seen), (2, 0), "B restored");
    // Main menu: 1 lists A and B; 3 deletes A. Then the caller hangs up.
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "1", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "3", &mut ts);
    assert_eq!(next_mwi(&mwi, &mut seen), (1, 0), "A deleted");
    drop(heard);
    let mut ua = ua;
    ua.bye();
    // At hang-up A goes for good; B, restored, stays.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.read(&alice, &a).is_ok() {
        assert!(
            Instant::now() < deadline,
            "A not purged; log:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<String> = store
        .list(&alice)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&b), "B restored and kept");
    assert!(!store.list(&alice).unwrap()[0].seen, "B is new again");
}

// ---- forward (with a comment) and reply ----

/// [`plan`] with carol's lamp at `carol_port` too.
fn plan_with_carol_lamp(alice_port: u16, carol_port: u16) -> String {
    plan(alice_port).replace(
        "SipAddress = \"sip:carol@contoso.com\"\n",
        &format!(
            "SipAddress = \"sip:carol@contoso.com\"\nNotifyTarget = \"sip:mwi@127.0.0.1:{carol_port}\"\n"
        ),
    )
}

/// alice forwards a message from an outside caller to carol (extension 1003) with a spoken
/// comment, then replies to a message carol left her: carol's mailbox gets both, her lamp
/// follows each, and the forwarded audio is the comment, half a second of silence, then the
/// original, exactly.
#[test]
fn forward_with_a_comment_and_reply_to_an_internal_sender() {
    let socket = || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    let (alice_lamp, carol_lamp) = (socket(), socket());
    let port = |s: &UdpSocket| s.local_addr().unwrap().port();
    let gw = Gateway::start(GatewayOptions {
        plan: plan_with_carol_lamp(port(&alice_lamp), port(&carol_lamp)),
        ..GatewayOptions::default()
    });
    let (mut alice_seen, mut carol_seen) = (Vec::new(), Vec::new());
    assert_eq!(next_mwi(&alice_lamp, &mut alice_seen), (0, 0));
    assert_eq!(next_mwi(&carol_lamp, &mut carol_seen), (0, 0));
    let store = umgw::store::Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    let original = test_signal(1500);
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &original);
    // An outside caller's message, then carol's.
    for (k, caller) in ["+14255550199", "sip:carol@contoso.com"].iter().enumerate() {
        let received = UNIX_EPOCH + Duration::from_secs(1_795_700_000 + k as u64 * 60);
        let msg = voice_mail_for_alice(Some(caller), received, &wav, &format!("s{k}"));
        store.deposit(&alice, &msg).unwrap();
    }
    store
        .set_pin(
            &alice,
            "135790",
            "1001",
            &PinPolicy::default(),
            PinSetter::User,
        )
        .unwrap();

    let (mut ua, media, mut ts) = new_messages_of_alice(&gw);
    std::thread::sleep(Duration::from_millis(800));
    // 6: forward; the extension; the comment prompt and beep, then the comment and #.
    ua.keys(media, "6", &mut ts);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1003#", &mut ts);
    ua.recv_rtp_until_quiet(Duration::from_millis(400), Duration::from_secs(15));
    let comment = test_signal(1200);
    let (mut seq, mut ats) = (1u16, 0u32);
    ua.send_audio(media, &comment, 77, &mut seq, &mut ats);
    ua.keys(media, "#", &mut ts);
    assert_eq!(
        next_mwi(&carol_lamp, &mut carol_seen),
        (1, 0),
        "carol's lamp after the forward; log:\n{}",
        gw.log()
    );
    // The same message's menu: # goes to carol's message; 5 replies to her.
    std::thread::sleep(Duration::from_millis(500));
    ua.keys(media, "#", &mut ts);
    std::thread::sleep(Duration::from_millis(500));
    ua.keys(media, "5", &mut ts);
    ua.recv_rtp_until_quiet(Duration::from_millis(400), Duration::from_secs(15));
    let reply = test_signal(1000);
    ua.send_audio(media, &reply, 77, &mut seq, &mut ats);
    ua.keys(media, "#", &mut ts);
    assert_eq!(
        next_mwi(&carol_lamp, &mut carol_seen),
        (2, 0),
        "carol's lamp after the reply"
    );
    ua.bye();

    let mut got = gw.wait_messages("carol", 2, Duration::from_secs(5));
    got.sort_by_key(|m| m.received);
    let header = |m: &ParsedMessage, name: &str| {
        m.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    // The forward: from alice (number, name), the original's caller and time kept.
    let fwd = &got[0];
    assert_eq!(fwd.caller.as_deref(), Some("+14255551001"));
    assert_eq!(
        header(fwd, "X-VoiceMessageSenderName").as_deref(),
        Some("Alice Anders")
    );
    assert_eq!(
        header(fwd, "X-UMGW-Forwarded-By").as_deref(),
        Some("sip:alice@contoso.com")
    );
    assert_eq!(
        header(fwd, "X-UMGW-Original-Caller").as_deref(),
        Some("+14255550199")
    );
    assert_eq!(
        header(fwd, "X-UMGW-Original-Received").as_deref(),
        Some("1795700000000")
    );
    assert!(fwd.subject.contains("forwarded"), "{}", fwd.subject);
    // Its audio: the comment, 0.5 s of silence, the original exactly.
    let audio = read_wav(fwd.audio_wav.as_deref().expect("audio"));
    assert!(
        audio.len() > original.len() + 4000,
        "{} samples",
        audio.len()
    );
    let (head, tail) = audio.split_at(audio.len() - original.len());
    assert_eq!(tail, &original[..], "the original, unchanged, at the end");
    let (spoken, pause) = head.split_at(head.len() - 4000);
    assert!(pause.iter().all(|&s| s == 0), "half a second of silence");
    let (corr, _) = best_correlation(&through_pcmu(&comment), spoken, 3200);
    assert!(corr > 0.9, "comment correlation {corr}");
    // The reply: from alice, her recording, no forwarding headers.
    let rep = &got[1];
    assert_eq!(rep.caller.as_deref(), Some("+14255551001"));
    assert_eq!(header(rep, "X-UMGW-Forwarded-By"), None);
    let audio = read_wav(rep.audio_wav.as_deref().expect("audio"));
    let (corr, _) = best_correlation(&through_pcmu(&reply), &audio, 3200);
    assert!(corr > 0.9, "reply correlation {corr}");
    // alice's own messages are as they were.
    assert_eq!(store.list(&alice).unwrap().len(), 2);
}

// ---- PIN lifetime and the first log-on after an administrator's PIN ----

/// `umgw mailbox ARGS` in the gateway's directory: its standard output (it must succeed).
fn umgw_mailbox(gw: &Gateway, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_umgw"))
        .current_dir(gw.dir.path())
        .args(["mailbox", "--config", "umgw.toml"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Logs on as alice with `pin`, then types `new_pin`: only a forced change takes it as the
/// new PIN (at the main menu its digits are menu keys). Hangs up after.
fn log_on_and_type(gw: &Gateway, pin: &str, new_pin: &str) {
    let (mut ua, media) = answered_call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip));
    let mut ts = 0u32;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, &format!("{pin}#"), &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, &format!("{new_pin}#"), &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    ua.bye();
}

/// `reset-pin` prints a random PIN that meets the policy; logging on with it leads straight
/// to choosing a new PIN. A PIN older than PINLifetime works once more, for the same.
#[test]
fn forced_pin_change_after_reset_pin_and_after_the_pin_expired_on_maildir() {
    forced_pin_change(Backend::Maildir);
}

/// On IMAP the PIN record on the server carries the administrator's mark (the expiry part
/// needs to age the record, which only the Maildir files allow from a test).
#[test]
fn forced_pin_change_after_reset_pin_on_imap() {
    forced_pin_change(imap());
}

fn forced_pin_change(backend: Backend) {
    let gw = gateway_without_lamp(&backend);
    let store = backend.store(&gw);
    let alice = MailboxId::new("alice").unwrap();
    let policy = PinPolicy::default();

    let out = umgw_mailbox(&gw, &["reset-pin", "alice"]);
    let pin = out
        .lines()
        .find_map(|l| l.strip_prefix("new PIN for mailbox alice: "))
        .unwrap_or_else(|| panic!("no PIN in {out:?}"))
        .trim()
        .to_owned();
    policy.check(&pin, "1001", &[]).unwrap();
    let state = store.pin_state(&alice, &policy).unwrap();
    assert!(state.verify(&pin) && state.must_change);
    // A second reset gives another PIN.
    let again = umgw_mailbox(&gw, &["reset-pin", "alice"]);
    let pin = again
        .lines()
        .find_map(|l| l.strip_prefix("new PIN for mailbox alice: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(!state.verify(&pin), "a new PIN each time");

    log_on_and_type(&gw, &pin, "975318");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.pin_state(&alice, &policy).unwrap().verify("975318") {
        assert!(
            Instant::now() < deadline,
            "new PIN not taken; log:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = store.pin_state(&alice, &policy).unwrap();
    assert!(!state.must_change, "the user's own PIN now");
    assert!(
        gw.log().contains("reason=SetByAdministrator"),
        "{}",
        gw.log()
    );

    // (Not the random PIN: six random digits may turn up in a timestamp.)
    assert!(!gw.log().contains("975318"), "a PIN in the log");
    if backend.name() == "maildir" {
        expired_pin_logs_on_to_be_changed(&gw, &*store);
    }

    // set-pin is an administrator's PIN too, unless told otherwise.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_umgw"))
        .current_dir(gw.dir.path())
        .args(["mailbox", "--config", "umgw.toml", "set-pin", "alice"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            writeln!(c.stdin.take().unwrap(), "730162")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("must choose a new PIN"));
    assert!(store.pin_state(&alice, &policy).unwrap().must_change);
}

/// A PIN made 61 days old (PINLifetime 60) still logs on, to choose a new one at once.
fn expired_pin_logs_on_to_be_changed(gw: &Gateway, store: &dyn Mailbox) {
    let alice = MailboxId::new("alice").unwrap();
    let policy = PinPolicy::default();
    let dir = gw.dir.path().join("data/mailboxes/alice");
    let mut pins = umgw::store::pin::PinStore::load(&dir).unwrap();
    pins.set_at = Some(pins.set_at.unwrap() - 61 * 86_400);
    pins.save(&dir).unwrap();
    log_on_and_type(gw, "975318", "824051");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !store.pin_state(&alice, &policy).unwrap().verify("824051") {
        assert!(
            Instant::now() < deadline,
            "expired PIN not replaced; log:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gw.log().contains("reason=Expired"), "{}", gw.log());
    assert!(!gw.log().contains("824051"), "a PIN in the log");
}
