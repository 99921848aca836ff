//! Time as the user lives it, against the real binary: `umgw check` names an unknown
//! `TimeZone` with file:line:column, and subscriber access tells a mailbox in Seattle when its
//! messages came in Seattle's time (either side of the change to summer time), while a mailbox
//! without a zone of its own hears its plan's.
//!
//! What the gateway says is checked byte for byte: the test renders the expected prompt names
//! with the shipped prompts, encodes them as the gateway does (PCMU, no gain, no mixing), and
//! looks for that run of bytes in the RTP it received.

mod support;

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use support::*;
use umgw::media::g711::G711;
use umgw::media::prompts::PromptLibrary;
use umgw::media::speech;
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::{Mailbox, MailboxId, MessageKind, NewMessage};

const PILOT: &str = "+14255550100";

#[test]
fn check_reports_unknown_time_zones_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tz.toml"),
        "Name = \"tz\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nTimeZone = \"Pacific Standard Time\"\n\
         [[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nTimeZone = \"America/Seatle\"\n\
         [[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nTimeZone = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["check", "--dialplans"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = dir.path().join("tz.toml");
    for (pos, name) in [
        ("5:12", "Pacific Standard Time"),
        ("9:12", "America/Seatle"),
    ] {
        let want = format!(
            "{}:{pos}: error: TimeZone \"{name}\" is not a known IANA time zone name",
            file.display()
        );
        assert!(stderr.contains(&want), "missing {want:?} in\n{stderr}");
    }
    assert!(stderr.trim_end().ends_with("2 error(s)"), "{stderr}");
}

/// The test plan with a subscriber-access pilot, the plan in Berlin and alice in Seattle.
fn plan() -> String {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let mailboxes = mailboxes.replace(
        "DisplayName = \"Alice Anders\"\n",
        "DisplayName = \"Alice Anders\"\nTimeZone = \"America/Los_Angeles\"\n",
    );
    assert!(mailboxes.contains("Los_Angeles"));
    format!(
        "{head}PilotIdentifiers = [\"{PILOT}\"]\nTimeZone = \"Europe/Berlin\"\n\n\
         [[Mailbox]]{mailboxes}"
    )
}

#[test]
fn subscriber_access_tells_the_time_in_the_mailbox_time_zone() {
    let gw = Gateway::start(GatewayOptions {
        plan: plan(),
        ..GatewayOptions::default()
    });
    let store = umgw::store::Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
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
                &NewMessage {
                    kind: MessageKind::VoiceMail,
                    caller: None,
                    caller_name: None,
                    mailbox_address: "sip:alice@contoso.com".into(),
                    mailbox_name: None,
                    received,
                    duration: Duration::from_secs(1),
                    call_id: format!("seed-{k}"),
                    audio: Some(wav.clone()),
                    delivery_id: None,
                    recovered: false,
                    media_stats: None,
                    cut_short: None,
                },
            )
            .unwrap();
    }
    let mut pins = PinStore::default();
    pins.set("135790", "1001", &PinPolicy::default()).unwrap();
    pins.save(&gw.mailbox_dir("alice")).unwrap();

    let lib = umgw::gateway::assets::prompts().unwrap();
    // "Message from an unknown caller, received March eighth at <time>, 1 second": more than
    // a week ago, so the date.
    let envelope = |time: &[&str]| {
        let names: Vec<String> = ["w-message", "w-from", "w-unknown-caller", "w-received"]
            .iter()
            .chain(&["month-march", "ord-8", "w-at"])
            .chain(time)
            .chain(&["n-1", "w-second"])
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

    let heard = listen_to_new_messages(&gw, "1001", 2, frames);
    let [before, after] = [&heard[0], &heard[1]];
    assert!(
        contains(before, &seattle[0]),
        "alice hears 1:59 AM (PST) for the message before the change; log:\n{}",
        gw.log()
    );
    assert!(
        contains(after, &seattle[1]),
        "alice hears 3:01 AM (PDT) for the message after it"
    );
    for (k, heard) in heard.iter().enumerate() {
        assert!(!contains(heard, &berlin[k]), "not her plan's time");
        assert!(!contains(heard, &utc[k]), "not UTC");
    }
}

/// The named prompts as the gateway sends them: joined by `speech::render`, PCMU-encoded.
fn pcmu(lib: &PromptLibrary, names: &[String]) -> Vec<u8> {
    let pcm = speech::render(lib, names).unwrap();
    let mut out = vec![0u8; pcm.len()];
    G711::Pcmu.encode(&pcm, &mut out);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Calls the pilot, logs in to `extension` with PIN 135790 and listens to `n` new messages:
/// "1" plays the first, "#" each next one (barging in on the message menu). Returns, per
/// message, the PCMU bytes of the first `frames` packets after its key.
fn listen_to_new_messages(gw: &Gateway, extension: &str, n: usize, frames: usize) -> Vec<Vec<u8>> {
    let (mut ua, media) = answered_call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip));
    let mut ts = 0u32;
    // Typed over the prompts (barge-in), as a user who knows them does.
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, &format!("{extension}#"), &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, "135790#", &mut ts);
    // Once the counts and the main menu (26 s of it) start, barge in.
    drain(&ua);
    packets(&ua, 25);
    let mut heard = Vec::new();
    for k in 0..n {
        ua.keys(media, if k == 0 { "1" } else { "#" }, &mut ts);
        heard.push(packets(&ua, frames));
    }
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(3)).status(),
        Some(200)
    );
    heard
}

/// Drops the packets of the prompts that were cut short, waiting in the socket.
fn drain(ua: &Ua) {
    ua.rtp
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while ua.rtp.recv(&mut buf).is_ok() {}
}

/// The payloads of the next `count` PCMU packets the gateway sends.
fn packets(ua: &Ua, count: usize) -> Vec<u8> {
    ua.rtp
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    for _ in 0..count {
        let n = ua.rtp.recv(&mut buf).expect("the gateway keeps talking");
        let p = umgw::media::rtp::parse(&buf[..n]).expect("valid RTP");
        assert_eq!(p.payload_type, 0, "PCMU");
        out.extend_from_slice(p.payload);
    }
    out
}
