//! Subscriber-access options beyond listening: the extended-absence (away) greeting and the
//! recorded name, heard by the next caller who leaves a message, and calling back the sender
//! of a message (REFER).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use support::*;
use umgw::sip::message::{Message, Method};
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::{Mailbox, MailboxId, Maildir, MessageKind, NewMessage};

const PILOT: &str = "+14255550100";
const ALICE: &str = "sip:alice@contoso.com";

fn gateway() -> Gateway {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let gw = Gateway::start(GatewayOptions {
        plan: format!("{head}PilotIdentifiers = [\"{PILOT}\"]\n\n[[Mailbox]]{mailboxes}"),
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
    let store = Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    store
        .deposit(
            &MailboxId::new("alice").unwrap(),
            &NewMessage {
                kind: MessageKind::VoiceMail,
                caller: Some("+14255550199".into()),
                caller_name: None,
                mailbox_address: ALICE.into(),
                mailbox_name: None,
                received: UNIX_EPOCH + Duration::from_secs(1_795_700_000),
                duration: Duration::from_secs(1),
                call_id: "seed".into(),
                audio: Some(wav),
                delivery_id: None,
                recovered: false,
                media_stats: None,
                cut_short: None,
            },
        )
        .unwrap();
    let (ua, media, mut ts) = log_in(&gw);
    ua.keys(media, "1", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "4", &mut ts);
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    assert_eq!(
        refer.header("Refer-To"),
        Some("<sip:+14255550199@contoso.com;user=phone>")
    );
    let accepted = Message::response_to(&refer, 202, "Accepted", Some("uas"));
    ua.sip.send_to(&accepted.to_bytes(), ua.gw).unwrap();
    let to = ua.to.clone().unwrap();
    let body = "SIP/2.0 200 OK\r\n";
    ua.send(&format!(
        "NOTIFY sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-cb-{ft}\r\n\
         Max-Forwards: 70\r\nFrom: {CALLER};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\n\
         CSeq: 3 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\n\
         Content-Type: message/sipfrag\r\nContent-Length: {len}\r\n\r\n{body}",
        gw = ua.gw,
        l = ua.local(),
        ft = ua.from_tag,
        cid = ua.call_id,
        len = body.len()
    ));
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
}
