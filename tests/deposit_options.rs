//! The caller's side of a deposit against the real `umgw` binary, driven with RFC 4733 keys:
//! the options after `#` (listen, re-record, urgent, private, send), the busy greeting, and a
//! fax caller sent to the plan's fax server. The tests share one gateway while they run.

mod support;

use std::net::UdpSocket;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use support::*;
use umgw::domain::Marks;
use umgw::sip::message::Method;
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::MessageKind;

/// Subscriber access.
const PILOT: &str = "+14255550100";
/// dave: a busy greeting recorded in the tests, no lamp.
const DAVE: &str = "sip:dave@contoso.com";
const DAVE_PIN: &str = "135790";
/// erin: fax calls.
const ERIN: &str = "sip:erin@contoso.com";
/// The plan's fax partner.
const FAX: &str = "sip:fax@contoso.com";

/// The gateway the tests of this file share, and the lamp alice's NOTIFYs reach.
struct Shared {
    gw: Gateway,
    mwi: UdpSocket,
}

/// The shared gateway, started by the first test that needs it and stopped when the last one
/// running lets go (no process outlives the tests).
fn shared() -> Arc<Shared> {
    static SHARED: Mutex<Weak<Shared>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = slot.upgrade() {
        return s;
    }
    let mwi = UdpSocket::bind("127.0.0.1:0").unwrap();
    mwi.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let base = test_plan(5, 1200, Some(mwi.local_addr().unwrap().port()))
        .replace("CallerReviewEnabled = false", "CallerReviewEnabled = true");
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let plan = format!(
        "{head}PilotIdentifiers = [\"{PILOT}\"]\nFaxServerURI = \"{FAX}\"\n\n\
         [[Mailbox]]{mailboxes}\n\
         [[Mailbox]]\nId = \"dave\"\nExtension = \"1004\"\nSipAddress = \"{DAVE}\"\n\
         [[Mailbox]]\nId = \"erin\"\nExtension = \"1005\"\nSipAddress = \"{ERIN}\"\n"
    );
    let tone = umgw::media::prompts::tone(800.0, 400, 0.3);
    let gw = Gateway::start(GatewayOptions {
        plan,
        greetings: ["alice", "carol", "dave", "erin"]
            .map(|m| (m.to_owned(), tone.clone()))
            .to_vec(),
        ..GatewayOptions::default()
    });
    let mut pins = PinStore::default();
    pins.set(DAVE_PIN, "1004", &PinPolicy::default()).unwrap();
    pins.save(&gw.mailbox_dir("dave")).unwrap();
    let s = Arc::new(Shared { gw, mwi });
    *slot = Arc::downgrade(&s);
    s
}

/// A voice mail reviewed: listened to (the recording comes back), marked urgent, sent. The
/// stored message carries the urgent headers and the lamp's urgent count is 1.
#[test]
fn review_listen_mark_urgent_and_send() {
    let s = shared();
    let gw = &s.gw;
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = diverted_call(gw, &mut ua, "sip:alice@contoso.com", 480);
    let sent = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &sent, 0x99, &mut seq, &mut ts);
    let mut keys = ts;
    ua.keys(media, "#", &mut keys);
    // The options, said in full; nothing is stored meanwhile.
    let options = ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(20));
    assert!(options.len() > 200, "{} packets of options", options.len());
    assert!(
        gw.messages("alice").is_empty(),
        "stored before the caller chose"
    );
    // 1: the recording, played back from the spool, then the options again.
    ua.keys(media, "1", &mut keys);
    let played =
        decode_pcmu(&ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(25)));
    assert!(played.len() > sent.len(), "{} samples heard", played.len());
    let (corr, _) = best_correlation(&through_pcmu(&sent), &played[..sent.len() + 800], 800);
    assert!(corr > 0.9, "the recording played back: correlation {corr}");
    // 3: "marked urgent", then #: sent, "saved, goodbye", and the gateway hangs up.
    ua.keys(media, "3", &mut keys);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, "#", &mut keys);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(10));
    ua.ok(&bye);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let m = &msgs[0];
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert_eq!(
        m.marks,
        Marks {
            urgent: true,
            private: false
        }
    );
    let header = |name: &str| {
        m.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("Importance"), Some("High"));
    assert_eq!(header("Priority"), Some("Urgent"));
    assert_eq!(header("X-Priority"), Some("1"));
    assert_eq!(header("Sensitivity"), None);
    assert_audio_matches(&sent, m.audio_wav.as_ref().unwrap(), 0.9);
    // The lamp: one new voice mail, urgent (the start-up refresh said 0/0 first).
    let mut seen = Vec::new();
    let lamp = loop {
        let summary = next_mwi_summary(&s.mwi, &mut seen);
        if summary.voice_new > 0 {
            break summary;
        }
    };
    assert_eq!(
        (
            lamp.voice_new,
            lamp.voice_old,
            lamp.voice_urgent_new,
            lamp.voice_urgent_old
        ),
        (1, 0, 1, 0)
    );
}

/// A caller who hangs up in the options loses nothing: the message is stored as it stands
/// (marked private here), without a farewell.
#[test]
fn hang_up_in_the_options_sends_the_message_as_it_stands() {
    let s = shared();
    let gw = &s.gw;
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = diverted_call(gw, &mut ua, "sip:carol@contoso.com", 480);
    let sent = test_signal(1200);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &sent, 0x77, &mut seq, &mut ts);
    let mut keys = ts;
    ua.keys(media, "#", &mut keys);
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "4", &mut keys);
    std::thread::sleep(Duration::from_millis(500));
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(2)).status(),
        Some(200)
    );
    let msgs = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert_eq!(
        msgs[0].marks,
        Marks {
            urgent: false,
            private: true
        }
    );
    assert!(msgs[0]
        .headers
        .iter()
        .any(|(n, v)| n == "Sensitivity" && v == "Private"));
    assert_audio_matches(&sent, msgs[0].audio_wav.as_ref().unwrap(), 0.9);
}

/// dave records a busy greeting with key 9 of subscriber access; a call diverted because he
/// was busy (History-Info cause 486) hears it, one for another reason his usual greeting.
#[test]
fn a_busy_diverted_call_hears_the_busy_greeting_recorded_with_key_9() {
    let s = shared();
    let gw = &s.gw;
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(gw, &format!("sip:{PILOT}@{};user=phone", gw.sip), "");
    let mut ts = 0;
    std::thread::sleep(Duration::from_millis(300));
    ua.keys(media, "1004#", &mut ts);
    std::thread::sleep(Duration::from_millis(400));
    ua.keys(media, &format!("{DAVE_PIN}#"), &mut ts);
    std::thread::sleep(Duration::from_millis(1500));
    // 8: "Record your busy greeting after the tone...", the beep, then the greeting and #.
    ua.keys(media, "9", &mut ts);
    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(15));
    let spoken = test_signal(1200);
    let (mut seq, mut ats) = (1u16, 0u32);
    ua.send_audio(media, &spoken, 77, &mut seq, &mut ats);
    ua.keys(media, "#", &mut ts);
    let busy_wav = gw.mailbox_dir("dave").join("busy.wav");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !busy_wav.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stored = read_wav(&std::fs::read(&busy_wav).expect("busy greeting stored"));
    assert_samples_match(&spoken, &stored, 0.9);
    ua.bye();

    // Busy: the busy greeting (as stored, through G.711 once more), then the beep.
    let mut caller = Ua::new("127.0.0.1", gw.sip);
    let (_, heard) = diverted_call(gw, &mut caller, DAVE, 486);
    let heard = decode_pcmu(&heard);
    let (corr, _) = best_correlation(&through_pcmu(&stored), &heard[..stored.len()], 800);
    assert!(corr > 0.9, "busy greeting heard: correlation {corr}");
    caller.bye();
    // No answer: the personal greeting (a 400 ms tone), not the busy one.
    let mut caller = Ua::new("127.0.0.1", gw.sip);
    let (_, heard) = diverted_call(gw, &mut caller, DAVE, 480);
    let heard = decode_pcmu(&heard);
    let (corr, _) = best_correlation(&through_pcmu(&stored), &heard[..3200], 800);
    assert!(
        corr < 0.5,
        "the busy greeting is for busy calls only: correlation {corr}"
    );
    let tone = through_pcmu(&umgw::media::prompts::tone(800.0, 400, 0.3));
    let (corr, _) = best_correlation(&tone, &heard[..4000], 400);
    assert!(corr > 0.9, "personal greeting heard: correlation {corr}");
    caller.bye();
}

/// A fax machine calling erin (its CNG, 1100 Hz for 0.5 s, heard in the recording) is
/// referred to the plan's FaxServerURI; nothing is stored.
#[test]
fn a_fax_caller_is_referred_to_the_fax_server_and_nothing_is_stored() {
    let s = shared();
    let gw = &s.gw;
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let (media, _) = diverted_call(gw, &mut ua, ERIN, 480);
    let mut cng = umgw::media::prompts::tone(1100.0, 500, 0.3);
    cng.extend(std::iter::repeat_n(0i16, 8 * 500));
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &cng, 0xFA, &mut seq, &mut ts);
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    assert_eq!(refer.call_id(), Some(ua.call_id.as_str()), "in the dialog");
    assert_eq!(refer.header("Refer-To"), Some(format!("<{FAX}>").as_str()));
    ua.transfer_done(&refer);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
    gw.wait_log("fax calling tone (CNG) heard", Duration::from_secs(2));
    // Neither a voice mail of the screech nor a notice; its spool entry is gone.
    std::thread::sleep(Duration::from_millis(500));
    assert!(gw.messages("erin").is_empty());
    assert!(
        !gw.spool_entries().iter().any(|e| e.starts_with("erin-")),
        "{:?}",
        gw.spool_entries()
    );
}
