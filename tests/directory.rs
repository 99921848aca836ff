//! Dial by name against the real gateway: an auto attendant over a dial plan of 60 mailboxes
//! with look-alike names (Smith / Smyth / Smit, Johnson / Johnston). The caller presses the
//! DialByName key, spells on the keypad (RFC 4733), hears the matches — a recorded name where
//! the user has one — and is REFERred to the user picked. One gateway serves every test.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use support::*;
use umgw::sip::message::{Message, Method};

const PILOT: &str = "+14255550000";
/// The attendant whose matches leave a message instead of ringing.
const MESSAGE_PILOT: &str = "+14255550001";

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
         [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"{PILOT}\"]\n\
         BusinessHoursMenuPrompt = \"aa-welcome\"\nAfterHoursMenuPrompt = \"aa-welcome\"\n\
         BusinessHoursKeyMapping = [{{ Key = \"8\", Action = \"DialByName\" }}]\n\
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
    let n = 800;
    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    samples
        .chunks_exact(n)
        .map(|w| {
            let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
            for &x in w {
                let x = f64::from(x);
                let s0 = x + k * s1 - s2;
                s2 = s1;
                s1 = s0;
                energy += x * x;
            }
            let power = s1 * s1 + s2 * s2 - k * s1 * s2;
            if energy == 0.0 {
                0.0
            } else {
                2.0 * power / (n as f64 * energy)
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
