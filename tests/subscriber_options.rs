//! Subscriber-access options beyond listening: the extended-absence (away) greeting and the
//! recorded name, heard by the next caller who leaves a message, calling back the sender
//! of a message (REFER), and the envelope told in the mailbox's time zone.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use support::*;
use umgw::media::g711::G711;
use umgw::media::prompts::PromptLibrary;
use umgw::media::speech;
use umgw::sip::message::Method;
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::{Mailbox, MailboxId, Maildir};

const PILOT: &str = "+14255550100";
const ALICE: &str = "sip:alice@contoso.com";

/// A gateway on the test plan with a subscriber-access pilot, the plan in Berlin and alice
/// (PIN 135790) in Seattle.
fn gateway() -> Gateway {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let mailboxes = mailboxes.replace(
        "DisplayName = \"Alice Anders\"\n",
        "DisplayName = \"Alice Anders\"\nTimeZone = \"America/Los_Angeles\"\n",
    );
    assert!(mailboxes.contains("Los_Angeles"));
    let gw = Gateway::start(GatewayOptions {
        plan: format!(
            "{head}PilotIdentifiers = [\"{PILOT}\"]\nTimeZone = \"Europe/Berlin\"\n\n\
             [[Mailbox]]{mailboxes}"
        ),
        ..GatewayOptions::default()
    });
    let mut pins = PinStore::default();
    pins.set("135790", "1001", &PinPolicy::default()).unwrap();
    pins.save(&gw.dir.path().join("data/mailboxes/alice"))
        .unwrap();
    gw
}

/// Calls subscriber access and logs in as alice; returns at the main menu.
fn log_in(gw: &Gateway) -> (Ua, SocketAddr, u32) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip), "");
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1001#", &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, "135790#", &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    (ua, media, ts)
}

/// Records something after the prompt and beep of menu key `key`.
fn record(ua: &Ua, media: SocketAddr, key: &str, samples: &[i16], ts: &mut u32) {
    ua.keys(media, key, ts);
    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(15));
    let (mut seq, mut ats) = (1u16, 0u32);
    ua.send_audio(media, samples, 77, &mut seq, &mut ats);
    ua.keys(media, "#", ts);
}

/// What a caller diverted to alice's voice mail hears before the beep.
fn greeting_heard(gw: &Gateway) -> Vec<i16> {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(
        &format!("sip:vm@{}", gw.sip),
        &format!(
            "History-Info: <{ALICE}?Reason=SIP%3Bcause%3D480>;index=1, <sip:vm@{}>;index=1.1\r\n",
            gw.sip
        ),
        &offer,
    );
    let ok = ua.final_response(Duration::from_secs(5));
    ua.ack(&ok);
    let heard =
        decode_pcmu(&ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(20)));
    ua.bye();
    heard
}

fn wait_for(path: &std::path::Path, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while path.exists() != present && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(path.exists(), present, "{}", path.display());
}

#[test]
fn away_greeting_and_recorded_name_are_what_callers_hear() {
    let gw = gateway();
    let dir = gw.dir.path().join("data/mailboxes/alice");
    let (mut ua, media, mut ts) = log_in(&gw);
    // 6: record the name; 4: record the away greeting (which turns it on).
    let name = test_signal(800);
    record(&ua, media, "6", &name, &mut ts);
    wait_for(&dir.join("name.wav"), true);
    std::thread::sleep(Duration::from_millis(1500));
    let away = test_signal(1200);
    record(&ua, media, "4", &away, &mut ts);
    wait_for(&dir.join("away.wav"), true);

    // A caller now hears the away greeting.
    let heard = greeting_heard(&gw);
    let (corr, _) = best_correlation(&through_pcmu(&through_pcmu(&away)), &heard, 800);
    assert!(corr > 0.9, "away greeting heard (correlation {corr})");

    // 7 turns it off: with no personal greeting, callers hear the recorded name and
    // "is not available...", not "the person at extension 1 0 0 1".
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "7", &mut ts);
    wait_for(&dir.join("away.wav"), false);
    let heard = greeting_heard(&gw);
    let (corr, lag) = best_correlation(&through_pcmu(&through_pcmu(&name)), &heard, 800);
    assert!(
        corr > 0.9,
        "name heard first (correlation {corr}, lag {lag})"
    );
    let prompts = umgw::gateway::assets::prompts().unwrap();
    let expected = umgw::gateway::named_greeting(&prompts, &through_pcmu(&name)).unwrap();
    let secs = |n: usize| n as f64 / 8000.0;
    assert!(
        (secs(heard.len()) - secs(expected.len() + 2000)).abs() < 1.0,
        "heard {} s, name greeting and beep are {} s",
        secs(heard.len()),
        secs(expected.len() + 2000)
    );
    ua.bye();
}

#[test]
fn call_back_refers_the_user_to_the_caller() {
    let gw = gateway();
    seed_voice_mail(&gw, &test_signal(1000));
    let (ua, media, mut ts) = log_in(&gw);
    ua.keys(media, "1", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "4", &mut ts);
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    assert_eq!(
        refer.header("Refer-To"),
        Some("<sip:+14255550199@contoso.com;user=phone>")
    );
    ua.transfer_done(&refer);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
}

/// What the gateway says is checked byte for byte: the test renders the expected prompt names
/// with the shipped prompts, encodes them as the gateway does (PCMU, no gain, no mixing), and
/// looks for that run of bytes in the RTP it received.
#[test]
fn the_envelope_is_told_in_the_mailbox_time_zone_across_a_dst_change() {
    let gw = gateway();
    let store = Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    // Seattle springs forward on Sunday 2026-03-08 at 10:00 UTC (02:00 PST -> 03:00 PDT):
    // alice's messages came at 09:59 UTC (01:59 PST) and 10:01 UTC (03:01 PDT). Her plan's
    // zone, Berlin (CET, UTC+1), would say 10:59 and 11:01; UTC 9:59 and 10:01.
    let spring_forward = UNIX_EPOCH + Duration::from_secs(1_772_964_000); // 2026-03-08T10:00Z
    let minute = Duration::from_secs(60);
    for (k, received) in [spring_forward - minute, spring_forward + minute]
        .into_iter()
        .enumerate()
    {
        store
            .deposit(
                &alice,
                &voice_mail_for_alice(None, received, &wav, &format!("seed-{k}")),
            )
            .unwrap();
    }

    let lib = umgw::gateway::assets::prompts().unwrap();
    // "Message from an unknown caller, received March eighth at <time>": more than a week
    // before the wall clock (or after it), so the date.
    let envelope = |time: &[&str]| {
        let names: Vec<String> = ["w-message", "w-from", "w-unknown-caller", "w-received"]
            .iter()
            .chain(&["month-march", "ord-8", "w-at"])
            .chain(time)
            .map(|n| (*n).to_owned())
            .collect();
        pcmu(&lib, &names)
    };
    let seattle = [
        envelope(&["n-1", "n-50", "n-9", "t-am"]),
        envelope(&["n-3", "t-oh", "n-1", "t-am"]),
    ];
    let berlin = [
        envelope(&["n-10", "n-50", "n-9", "t-am"]),
        envelope(&["n-11", "t-oh", "n-1", "t-am"]),
    ];
    let utc = [
        envelope(&["n-9", "n-50", "n-9", "t-am"]),
        envelope(&["n-10", "t-oh", "n-1", "t-am"]),
    ];
    // Long enough for the longest envelope, and the barge-in that stops what played before.
    let frames = [&seattle, &berlin, &utc]
        .iter()
        .flat_map(|e| e.iter().map(Vec::len))
        .max()
        .unwrap()
        / 160
        + 75;

    let heard = listen_to_new_messages(&gw, 2, frames);
    assert!(
        contains_audio(&heard[0], &seattle[0]),
        "alice hears 1:59 AM (PST) for the message before the change; log:\n{}",
        gw.log()
    );
    assert!(
        contains_audio(&heard[1], &seattle[1]),
        "alice hears 3:01 AM (PDT) for the message after it"
    );
    for (k, heard) in heard.iter().enumerate() {
        assert!(!contains_audio(heard, &berlin[k]), "not her plan's time");
        assert!(!contains_audio(heard, &utc[k]), "not UTC");
    }
}

/// The named prompts as the gateway sends them: joined by `speech::render`, PCMU-encoded.
fn pcmu(lib: &PromptLibrary, names: &[String]) -> Vec<u8> {
    let pcm = speech::render(lib, names).unwrap();
    let mut out = vec![0u8; pcm.len()];
    G711::Pcmu.encode(&pcm, &mut out);
    out
}

/// Logs in as alice and listens to `n` new messages: "1" plays the first, "#" each next one
/// (barging in on the message menu). Returns, per message, the PCMU bytes of the first
/// `frames` packets after its key.
fn listen_to_new_messages(gw: &Gateway, n: usize, frames: usize) -> Vec<Vec<u8>> {
    let (mut ua, media, mut ts) = log_in(gw);
    // Drop what was queued, then wait for the main menu to be playing before barging in.
    ua.drain_rtp();
    ua.pcmu_payloads(25);
    let mut heard = Vec::new();
    for k in 0..n {
        ua.keys(media, if k == 0 { "1" } else { "#" }, &mut ts);
        heard.push(ua.pcmu_payloads(frames));
    }
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(3)).status(),
        Some(200)
    );
    heard
}
