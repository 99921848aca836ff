//! Dial by name against the real gateway: an auto attendant over a dial plan of 60 mailboxes
//! with look-alike names (Smith / Smyth / Smit, Johnson / Johnston). The caller presses the
//! DialByName key, spells on the keypad (RFC 4733), hears the matches — a recorded name where
//! the user has one — and is REFERred to the user picked. The same plan's dialing rules let
//! transfers and call-backs reach local numbers (rewritten) and refuse international and
//! premium ones. A caller in a user's greeting finds someone else by name (`9`), and a user
//! forwards a message to a mailbox found by name (`6`, then `*`). One gateway serves every
//! test; each test leaves messages only in mailboxes no other test counts.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, UNIX_EPOCH};

use support::*;
use umgw::sip::message::{Message, Method};
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::{Mailbox, MailboxId, Maildir};

const PILOT: &str = "+14255550000";
/// The attendant whose matches leave a message instead of ringing.
const MESSAGE_PILOT: &str = "+14255550001";
/// Subscriber access.
const ACCESS_PILOT: &str = "+14255550100";
/// Local numbers may be called (dialled as 9 1 …), premium and international ones not.
const DIALING_RULES: &str = "ConfiguredInCountryOrRegionGroups = [\n\
  { Name = \"Local\", NumberMask = \"425xxxxxxx\", DialedNumber = \"91425xxxxxxx\", Comment = \"Seattle\" },\n\
  { Name = \"Premium\", NumberMask = \"900*\", DialedNumber = \"91900*\" },\n\
]\n\
ConfiguredInternationalGroups = [{ Name = \"UK\", NumberMask = \"44*\", DialedNumber = \"901144*\" }]\n\
AllowedInCountryOrRegionGroups = [\"Local\"]\n";
const LOCAL: &str = "+14255550123";
const INTERNATIONAL: &str = "+442079460123";
const PREMIUM: &str = "+19005550123";
const PIN: &str = "135790";

/// (id, DisplayName): the users whose names look alike.
const PEOPLE: &[(&str, &str)] = &[
    ("asmith", "Alice Smith"),
    ("bsmith", "Bob Smith"),
    ("csmith", "Carol Smith"),
    ("jsmyth", "Jane Smyth"),
    ("hsmit", "Hans Smit"),
    ("mjohnson", "Mary Johnson"),
    ("rjohnson", "Robert Johnson"),
    ("ljohnston", "Lisa Johnston"),
    ("aanders", "Anders, Alice"),
    ("zquinn", "Zoe Quinn"),
];

/// A plan with 60 mailboxes (the people above and 50 more) and two attendants.
fn plan() -> String {
    let mut text = format!(
        "Name = \"dir\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\n\
         PilotIdentifiers = [\"{ACCESS_PILOT}\"]\n{DIALING_RULES}\
         [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"{PILOT}\"]\n\
         BusinessHoursMenuPrompt = \"aa-welcome\"\nAfterHoursMenuPrompt = \"aa-welcome\"\n\
         BusinessHoursKeyMapping = [\n\
           {{ Key = \"8\", Action = \"DialByName\" }},\n\
           {{ Key = \"5\", Action = \"Transfer\", Target = \"{PREMIUM}\" }},\n\
           {{ Key = \"6\", Action = \"Transfer\", Target = \"{LOCAL}\" }},\n\
           {{ Key = \"7\", Action = \"Transfer\", Target = \"{INTERNATIONAL}\" }},\n\
         ]\n\
         AfterHoursKeyMapping = [{{ Key = \"8\", Action = \"DialByName\" }}]\n\
         [[AutoAttendant]]\nName = \"Messages\"\nPilotIdentifiers = [\"{MESSAGE_PILOT}\"]\n\
         CallSomeoneEnabled = false\nSendVoiceMsgEnabled = true\n\
         BusinessHoursMenuPrompt = \"aa-welcome\"\nAfterHoursMenuPrompt = \"aa-welcome\"\n\
         BusinessHoursKeyMapping = [{{ Key = \"8\", Action = \"DialByName\" }}]\n\
         AfterHoursKeyMapping = [{{ Key = \"8\", Action = \"DialByName\" }}]\n"
    );
    let filler = (0..50).map(|i| (format!("user{i:02}"), format!("Pat Filler{i:02}")));
    let people = PEOPLE
        .iter()
        .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()));
    for (n, (id, name)) in people.chain(filler).enumerate() {
        text.push_str(&format!(
            "[[Mailbox]]\nId = \"{id}\"\nExtension = \"{}\"\nSipAddress = \"sip:{id}@contoso.com\"\nDisplayName = \"{name}\"\n",
            2000 + n
        ));
    }
    assert!(text.matches("[[Mailbox]]").count() >= 60);
    text
}

/// Robert Johnson's recorded name: a 1,900 Hz tone no prompt contains.
fn recorded_name() -> Vec<i16> {
    umgw::media::prompts::tone(1900.0, 700, 0.5)
}

/// The gateway the tests of this file share (started by the first, stopped after the last).
fn gateway() -> Arc<Gateway> {
    static SHARED: Mutex<Weak<Gateway>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(gw) = shared.upgrade() {
        return gw;
    }
    let tone = umgw::media::prompts::tone(800.0, 300, 0.3);
    let gw = Gateway::start(GatewayOptions {
        plan: plan(),
        greetings: vec![("jsmyth".into(), tone)],
        ..GatewayOptions::default()
    });
    let dir = gw.mailbox_dir("rjohnson");
    std::fs::create_dir_all(&dir).unwrap();
    write_wav(&dir.join("name.wav"), &recorded_name());
    // Call-back: Alice Smith (2000) has a message from abroad, Bob Smith (2001) a local one;
    // Carol Smith (2002) forwards hers.
    let store = Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    for (id, extension, caller) in [
        ("asmith", "2000", INTERNATIONAL),
        ("bsmith", "2001", LOCAL),
        ("csmith", "2002", LOCAL),
    ] {
        let received = UNIX_EPOCH + Duration::from_secs(1_795_700_000);
        let message = voice_mail_for_alice(Some(caller), received, &wav, id);
        store
            .deposit(&MailboxId::new(id).unwrap(), &message)
            .unwrap();
        let mut pins = PinStore::default();
        pins.set(PIN, extension, &PinPolicy::default()).unwrap();
        pins.save(&gw.mailbox_dir(id)).unwrap();
    }
    let gw = Arc::new(gw);
    *shared = Arc::downgrade(&gw);
    gw
}

/// Calls `pilot`; returns the gateway's media address once the menu is playing.
fn call(gw: &Gateway, ua: &mut Ua, pilot: &str) -> SocketAddr {
    ua.call_menu(gw, &format!("sip:{pilot}@{};user=phone", gw.sip))
}

/// The REFER the gateway sends within the dialog, and its Refer-To.
fn expect_refer(ua: &Ua, gw: &Gateway) -> (Message, String) {
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    assert_eq!(refer.call_id(), Some(ua.call_id.as_str()), "in the dialog");
    let refer_to = refer.header("Refer-To").unwrap_or_default().to_owned();
    assert!(refer.header("Referred-By").is_some(), "log:\n{}", gw.log());
    (refer, refer_to)
}

/// No REFER within `wait` (the call goes on).
fn no_refer(ua: &Ua, wait: Duration) {
    let end = std::time::Instant::now() + wait;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match ua.recv(left) {
            Some(m) if m.method() == Some(&Method::Refer) => panic!("unexpected REFER: {m:?}"),
            Some(_) => {}
            None => break,
        }
    }
}

/// Hangs up.
fn hang_up(ua: &mut Ua) {
    ua.bye();
    let ok = ua.final_response(Duration::from_secs(3));
    assert_eq!(ok.status(), Some(200));
}

/// Share of `samples`' energy at `hz` in its most tonal 100 ms window (Goertzel): close to
/// 1 for a pure tone, small for speech.
fn tone_share(samples: &[i16], hz: f64) -> f64 {
    samples
        .chunks_exact(800)
        .map(|w| {
            let energy: f64 = w.iter().map(|&x| f64::from(x).powi(2)).sum();
            if energy == 0.0 {
                0.0
            } else {
                tone_power(w, hz) / energy
            }
        })
        .fold(0.0, f64::max)
}

#[test]
fn a_look_alike_name_lists_the_matches_with_the_recorded_name_and_the_second_is_transferred_to() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua, PILOT);
    let mut ts = 0;
    ua.keys(media, "8", &mut ts);
    // J-O-H-N-S: Mary Johnson, Robert Johnson (recorded name), Lisa Johnston.
    ua.keys(media, "56467#", &mut ts);
    let list = ua.recv_rtp_until_quiet(Duration::from_millis(700), Duration::from_secs(40));
    let heard = decode_pcmu(&list);
    assert!(
        tone_share(&heard, 1900.0) > 0.8,
        "Robert Johnson's recorded name is in the list; log:\n{}",
        gw.log()
    );
    assert!(
        heard.len() > 8000 * 4,
        "three names and their keys take a while"
    );
    ua.keys(media, "2", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:rjohnson@contoso.com>");
    let resp = Message::response_to(&refer, 603, "Declined", Some("uas"));
    ua.sip.send_to(&resp.to_bytes(), ua.gw).unwrap();
    hang_up(&mut ua);
}

#[test]
fn a_unique_spelling_transfers_at_once() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua, PILOT);
    let mut ts = 0;
    // S-M-Y: only Jane Smyth (Smith and Smit are S-M-I).
    ua.keys(media, "8769#", &mut ts);
    let (_, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:jsmyth@contoso.com>");
    hang_up(&mut ua);
}

#[test]
fn no_match_asks_again_and_the_call_goes_on() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua, PILOT);
    let mut ts = 0;
    // W-X-Y-Z…: nobody.
    ua.keys(media, "89999#", &mut ts);
    no_refer(&ua, Duration::from_millis(1500));
    let said = ua.recv_rtp_until_quiet(Duration::from_millis(500), Duration::from_secs(15));
    assert!(
        said.len() > 50,
        "'no one by that name' and the spelling prompt"
    );
    // Q-U-I: Zoe Quinn, by last name.
    ua.keys(media, "784#", &mut ts);
    let (_, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:zquinn@contoso.com>");
    hang_up(&mut ua);
}

#[test]
fn an_attendant_that_sends_voice_messages_takes_a_message_for_the_user_found() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua, MESSAGE_PILOT);
    let mut ts = 0;
    ua.keys(media, "8769#", &mut ts);
    // Jane Smyth's greeting (300 ms) and the beep, then the message.
    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(8));
    let (mut seq, mut ts) = (100u16, 8000u32);
    let said = test_signal(1500);
    ua.send_audio(media, &said, 0x4242, &mut seq, &mut ts);
    hang_up(&mut ua);
    let messages = gw.wait_messages("jsmyth", 1, Duration::from_secs(10));
    assert_eq!(messages.len(), 1, "log:\n{}", gw.log());
    let wav = messages[0].audio_wav.as_deref().expect("audio");
    assert_audio_matches(&said, wav, 0.9);
}

/// The refused-number prompt, as the gateway has it.
fn refusal_prompt() -> Vec<i16> {
    let prompts = umgw::gateway::assets::prompts().unwrap();
    prompts.get("dial-refused").expect("shipped").to_vec()
}

/// Presses `key` once the menu has finished; returns what the attendant says next.
fn press_after_menu(ua: &Ua, media: SocketAddr, key: &str) -> Vec<i16> {
    ua.recv_rtp_until_quiet(Duration::from_millis(400), Duration::from_secs(10));
    let mut ts = 0;
    ua.keys(media, key, &mut ts);
    decode_pcmu(&ua.recv_rtp_until_quiet(Duration::from_millis(500), Duration::from_secs(10)))
}

#[test]
fn attendant_transfers_to_international_and_premium_numbers_are_refused_and_not_dialled() {
    let gw = gateway();
    for key in ["7", "5"] {
        let mut ua = Ua::new("127.0.0.1", gw.sip);
        let media = call(&gw, &mut ua, PILOT);
        let heard = press_after_menu(&ua, media, key);
        no_refer(&ua, Duration::from_millis(500));
        // "Sorry, that number cannot be dialled.", then the menu again.
        let prompt = refusal_prompt();
        assert!(heard.len() > prompt.len(), "log:\n{}", gw.log());
        let (corr, _) = best_correlation(&through_pcmu(&prompt), &heard[..prompt.len()], 400);
        assert!(corr > 0.9, "key {key}: the refusal prompt ({corr})");
        // The call goes on: a local number still goes through.
        ua.keys(media, "6", &mut 100_000);
        let (_, refer_to) = expect_refer(&ua, &gw);
        assert_eq!(refer_to, "<sip:914255550123@contoso.com;user=phone>");
        hang_up(&mut ua);
    }
    let log = gw.log();
    assert!(
        log.contains("transfer refused by the dial plan's dialing rules")
            && log.contains("+442079460123 is in no allowed international group")
            && log.contains("+19005550123 is in no allowed in-country/region group"),
        "log:\n{log}"
    );
}

#[test]
fn an_allowed_local_number_is_referred_rewritten_by_its_group() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = call(&gw, &mut ua, PILOT);
    let mut ts = 0;
    ua.keys(media, "6", &mut ts);
    let (_, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:914255550123@contoso.com;user=phone>");
    hang_up(&mut ua);
}

/// Logs in to subscriber access as `extension` and plays the first new message; returns
/// the call, the gateway's media address and the DTMF timestamp so far.
fn listen_to_first(gw: &Gateway, extension: &str) -> (Ua, SocketAddr, u32) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(gw, &format!("sip:{ACCESS_PILOT}@{};user=phone", gw.sip), "");
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, &format!("{extension}#"), &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, &format!("{PIN}#"), &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "1", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    (ua, media, ts)
}

/// Logs in as `extension`, plays the first message and presses 4 (call the sender back).
fn call_back(gw: &Gateway, extension: &str) -> Ua {
    let (ua, media, mut ts) = listen_to_first(gw, extension);
    // What was said so far goes: what follows the key is the answer to it.
    ua.drain_rtp();
    ua.keys(media, "4", &mut ts);
    ua
}

#[test]
fn call_back_to_an_international_caller_is_refused_and_to_a_local_one_rewritten() {
    let gw = gateway();
    let mut ua = call_back(&gw, "2000");
    no_refer(&ua, Duration::from_millis(1500));
    // Still in subscriber access: "Sorry, that number cannot be dialled", the message menu.
    let said = ua.recv_rtp_until_quiet(Duration::from_millis(500), Duration::from_secs(30));
    let heard = decode_pcmu(&said);
    let prompt = refusal_prompt();
    assert!(heard.len() > prompt.len(), "log:\n{}", gw.log());
    let (corr, lag) = best_correlation(&through_pcmu(&prompt), &heard[..prompt.len()], 1600);
    assert!(
        corr > 0.9,
        "the refusal prompt first ({corr} at {lag}); log:\n{}",
        gw.log()
    );
    hang_up(&mut ua);

    let mut ua = call_back(&gw, "2001");
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    assert_eq!(
        refer.header("Refer-To"),
        Some("<sip:914255550123@contoso.com;user=phone>")
    );
    hang_up(&mut ua);
}

#[test]
fn in_a_greeting_nine_finds_someone_by_name_and_a_declined_transfer_leaves_them_a_message() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    // Pat Filler07's voice mail (extension 2017): the default greeting is playing.
    let media = ua.call_menu(&gw, &format!("sip:2017@{};user=phone", gw.sip));
    let mut ts = 0;
    ua.keys(media, "9", &mut ts);
    // J-O-H-N-S: Mary Johnson, Robert Johnson (recorded name), Lisa Johnston.
    ua.keys(media, "56467#", &mut ts);
    let list =
        decode_pcmu(&ua.recv_rtp_until_quiet(Duration::from_millis(700), Duration::from_secs(40)));
    assert!(
        tone_share(&list, 1900.0) > 0.8,
        "Robert Johnson's recorded name is in the list; log:\n{}",
        gw.log()
    );
    ua.keys(media, "3", &mut ts);
    let (refer, refer_to) = expect_refer(&ua, &gw);
    assert_eq!(refer_to, "<sip:ljohnston@contoso.com>");
    let declined = Message::response_to(&refer, 603, "Declined", Some("uas"));
    ua.sip.send_to(&declined.to_bytes(), ua.gw).unwrap();
    // Lisa Johnston's greeting and the beep, then the message.
    ua.recv_rtp_until_quiet(Duration::from_millis(400), Duration::from_secs(20));
    let said = test_signal(1500);
    let (mut seq, mut ts) = (300u16, 400_000u32);
    ua.send_audio(media, &said, 0x4243, &mut seq, &mut ts);
    hang_up(&mut ua);
    let messages = gw.wait_messages("ljohnston", 1, Duration::from_secs(10));
    let wav = messages[0].audio_wav.as_deref().expect("a voice mail");
    assert_audio_matches(&said, wav, 0.9);
    assert!(
        gw.messages("user07").is_empty(),
        "no message, not even a missed call, for the mailbox first called"
    );
}

#[test]
fn a_message_is_forwarded_to_a_user_found_by_name() {
    let gw = gateway();
    let (mut ua, media, mut ts) = listen_to_first(&gw, "2002");
    // 6 forward, * by name, A-N-D-E: only "Anders, Alice"; then # over the record prompt
    // (no comment).
    ua.keys(media, "6", &mut ts);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "*", &mut ts);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "2633#", &mut ts);
    std::thread::sleep(Duration::from_millis(700));
    ua.keys(media, "#", &mut ts);
    let messages = gw.wait_messages("aanders", 1, Duration::from_secs(10));
    hang_up(&mut ua);
    let m = &messages[0];
    let forwarded_by = m
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("X-UMGW-Forwarded-By"))
        .map(|(_, v)| v.as_str());
    assert_eq!(
        forwarded_by,
        Some("sip:csmith@contoso.com"),
        "{:?}",
        m.headers
    );
    let wav = m.audio_wav.as_deref().expect("the forwarded audio");
    assert_audio_matches(&test_signal(1000), wav, 0.9);
}
