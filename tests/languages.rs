//! Prompt languages end to end against the real gateway: a caller leaving a message for a
//! mailbox with `Language = "de-DE"` hears the German default greeting, and its user, once
//! logged on to subscriber access, hears the German counts ("Sie haben zwei neue
//! Nachrichten ..."), while subscriber access speaks the plan's en-US before log-on; an auto
//! attendant with its own `Language = "de-DE"` greets in German. The
//! expected audio is built from the WAVs in audio/ and audio/de-DE/ as the gateway sends
//! them (PCMU), and found byte for byte in what arrives over RTP.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use support::*;
use umgw::media::g711::G711;
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::{Mailbox, MailboxId, Maildir};

const PILOT: &str = "+14255550100";
const ATTENDANT: &str = "+14255550150";

/// The test plan (en-US) with a subscriber-access pilot and hans (1002) speaking German.
fn plan() -> String {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    format!(
        "{head}PilotIdentifiers = [\"{PILOT}\"]\nDefaultLanguage = \"en-US\"\n\n\
         [[Mailbox]]{mailboxes}\n\
         [[Mailbox]]\nId = \"hans\"\nExtension = \"1002\"\nSipAddress = \"sip:hans@contoso.com\"\n\
         DisplayName = \"Hans Huber\"\nLanguage = \"de-DE\"\n\n\
         [[AutoAttendant]]\nName = \"Zentrale\"\nPilotIdentifiers = [\"{ATTENDANT}\"]\n\
         Language = \"de-DE\"\nBusinessHoursGreeting = \"aa-welcome\"\n\
         BusinessHoursKeyMapping = [{{ Key = \"1\", Action = \"Mailbox\", Target = \"1002\" }}]\n"
    )
}

/// A shipped prompt as its file decodes: `audio/NAME.wav` (en-US) or `audio/LANG/NAME.wav`.
fn prompt(language: Option<&str>, name: &str) -> Vec<i16> {
    let mut path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/audio"));
    if let Some(l) = language {
        path.push(l);
    }
    path.push(format!("{name}.wav"));
    read_wav(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// PCMU bytes of `samples`, as the gateway puts them on the wire.
fn pcmu(samples: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; samples.len()];
    G711::Pcmu.encode(samples, &mut out);
    out
}

/// Prompts chained the way the gateway speaks composed phrases: 80 ms of silence between.
fn phrase(language: Option<&str>, names: &[&str]) -> Vec<i16> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.resize(out.len() + 640, 0);
        }
        out.extend(prompt(language, name));
    }
    out
}

fn hang_up(ua: &mut Ua) {
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(3)).status(),
        Some(200)
    );
}

/// One gateway for all three: a deposit for hans, hans listening, the German attendant.
#[test]
fn german_mailbox_and_attendant_speak_german() {
    let gw = Gateway::start(GatewayOptions {
        plan: plan(),
        ..GatewayOptions::default()
    });
    deposit_hears_the_german_default_greeting(&gw);
    subscriber_access_counts_in_german_after_log_on(&gw);
    the_attendant_greets_in_its_own_language(&gw);
}

fn the_attendant_greets_in_its_own_language(gw: &Gateway) {
    let welcome = prompt(Some("de-DE"), "aa-welcome");
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    ua.call(gw, &format!("sip:{ATTENDANT}@{};user=phone", gw.sip), "");
    let heard = ua.pcmu_payloads(welcome.len() / 160 + 10);
    hang_up(&mut ua);
    assert!(
        contains_audio(&heard, &pcmu(&welcome)),
        "\"Willkommen.\" from the attendant whose Language is de-DE; log:\n{}",
        gw.log()
    );
    assert!(!contains_audio(&heard, &pcmu(&prompt(None, "aa-welcome"))));
}

fn deposit_hears_the_german_default_greeting(gw: &Gateway) {
    // "Der Teilnehmer mit der Durchwahl 1 0 0 2 ist nicht erreichbar. Bitte sprechen Sie..."
    let de = Some("de-DE");
    let mut greeting = prompt(de, "vm-person-at-extension");
    for d in "1002".chars() {
        greeting.extend(prompt(de, &format!("digit-{d}")));
    }
    // The sentence after the number goes on for seconds: its first two are enough.
    greeting.extend(&prompt(de, "vm-not-available")[..16_000]);
    let mut english = prompt(None, "vm-person-at-extension");
    english.truncate(4000);

    let mut ua = Ua::new("127.0.0.1", gw.sip);
    ua.call(gw, "sip:hans@contoso.com", "");
    let heard = ua.pcmu_payloads(greeting.len() / 160 + 10);
    hang_up(&mut ua);
    assert!(
        contains_audio(&heard, &pcmu(&greeting)),
        "the caller hears hans's German default greeting, sample for sample; log:\n{}",
        gw.log()
    );
    assert!(
        !contains_audio(&heard, &pcmu(&english)),
        "not the English one"
    );
}

fn subscriber_access_counts_in_german_after_log_on(gw: &Gateway) {
    // Two new voice mails for hans, and his PIN.
    let hans = MailboxId::new("hans").unwrap();
    let store = Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    for k in 0..2u64 {
        let mut m = voice_mail_for_alice(
            Some("+4930123456"),
            UNIX_EPOCH + Duration::from_secs(1_795_700_000 + k * 60),
            &wav,
            &format!("seed-{k}"),
        );
        m.mailbox_address = "sip:hans@contoso.com".into();
        store.deposit(&hans, &m).unwrap();
    }
    let mut pins = PinStore::default();
    pins.set("135790", "1002", &PinPolicy::default()).unwrap();
    pins.save(&gw.dir.path().join("data/mailboxes/hans"))
        .unwrap();

    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media: SocketAddr = ua.call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip), "");
    // Before log-on the plan's language: "Please enter your extension..." in English.
    let ask = prompt(None, "sa-enter-extension");
    let before = ua.pcmu_payloads(40);
    assert!(
        contains_audio(&before, &pcmu(&ask[..3200])),
        "subscriber access asks in the plan's en-US before log-on; log:\n{}",
        gw.log()
    );
    let mut ts = 0;
    ua.keys(media, "1002#", &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.drain_rtp();
    ua.keys(media, "135790#", &mut ts);
    // "Sie haben zwei neue Nachrichten und keine gespeicherten Nachrichten."
    let counts = phrase(
        Some("de-DE"),
        &[
            "w-you-have",
            "n-2",
            "w-new",
            "w-messages",
            "w-and",
            "w-no-saved",
            "w-messages",
        ],
    );
    let heard = ua.pcmu_payloads(counts.len() / 160 + 60);
    hang_up(&mut ua);
    assert!(
        contains_audio(&heard, &pcmu(&counts)),
        "hans hears his counts in German after log-on; log:\n{}",
        gw.log()
    );
    // And the German main menu after them.
    let menu = prompt(Some("de-DE"), "sa-main-menu");
    let menu_start = pcmu(&menu[..4000]);
    assert!(
        contains_audio(&heard, &menu_start),
        "the German main menu follows"
    );
}
