//! Calls a Lync site makes every day, as Exchange 2013 UM answers them: the "Call Voice Mail"
//! button (a user's call to their own voice-mail URI signs them in), and the greeting's keys
//! (`*` signs in to the mailbox, `0` reaches the plan's operator), and a remote user's ICE
//! offer (the gateway answers as an ICE-lite agent). The real binary over loopback UDP.

mod support;

use std::time::{Duration, UNIX_EPOCH};

use support::stun;
use support::*;
use umgw::sip::message::{Message, Method};
use umgw::store::message::UmHeaders;
use umgw::store::pin::{PinPolicy, PinStore};
use umgw::store::{Mailbox, MailboxId, MessageKind, NewMessage};

const ALICE_VM: &str = "sip:alice@contoso.com;opaque=app:voicemail";
const PIN: &str = "135790";
/// How the pool says whose voice mail a call is for: diverted from alice, unanswered.
const DIVERTED: &str = "Diversion: <sip:alice@contoso.com>;reason=no-answer\r\n";

/// The test plan with carol (1003) as the operator; alice has a PIN and one new message.
fn gateway() -> Gateway {
    let plan = test_plan(5, 1200, None).replace(
        "MinimumMessageDuration = 1000\n",
        "MinimumMessageDuration = 1000\nOperatorExtension = \"1003\"\n",
    );
    let gw = Gateway::start(GatewayOptions {
        plan,
        greetings: vec![("alice".into(), umgw::media::prompts::tone(800.0, 1500, 0.3))],
        ..GatewayOptions::default()
    });
    let dir = gw.mailbox_dir("alice");
    let mut pins = PinStore::default();
    pins.set(PIN, "1001", &PinPolicy::default()).unwrap();
    pins.save(&dir).unwrap();
    let store = umgw::store::Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let wav = gw.dir.path().join("m.wav");
    write_wav(&wav, &test_signal(1000));
    store
        .deposit(
            &MailboxId::new("alice").unwrap(),
            &NewMessage {
                kind: MessageKind::VoiceMail,
                caller: Some("+14255550199".into()),
                caller_name: None,
                mailbox_address: "sip:alice@contoso.com".into(),
                mailbox_name: None,
                received: UNIX_EPOCH + Duration::from_secs(1_795_700_000),
                duration: Duration::from_secs(1),
                call_id: "seed".into(),
                audio: Some(wav),
                delivery_id: None,
                recovered: false,
                media_stats: None,
                cut_short: None,
                preview: None,
                forwarded: None,
                marks: umgw::domain::Marks::default(),
            },
        )
        .unwrap();
    gw
}

/// `ua` calls alice's voice-mail URI diverted from her, waits out the greeting, speaks `ms` of
/// the test signal and presses `#`; returns when the gateway has hung up.
fn leave_voice_mail(gw: &Gateway, ua: &mut Ua, ms: u32) {
    let media = ua.call(gw, ALICE_VM, DIVERTED);
    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(8));
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &test_signal(ms), 9, &mut seq, &mut ts);
    ua.send_dtmf(media, '#', ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
}

/// alice's messages, new and saved.
fn all_messages(gw: &Gateway) -> usize {
    let store = umgw::store::Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    store.list(&MailboxId::new("alice").unwrap()).unwrap().len()
}

fn counts(gw: &Gateway) -> (u32, u32) {
    let store = umgw::store::Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let c = store.counts(&MailboxId::new("alice").unwrap()).unwrap();
    (c.new, c.old)
}

/// After the PIN: the counts and the main menu play; `1` plays the new message and `2` saves
/// it, which only a signed-in alice can do.
fn sign_in_and_save(gw: &Gateway, ua: &Ua, media: std::net::SocketAddr, ts: &mut u32) {
    std::thread::sleep(Duration::from_millis(500));
    ua.keys(media, &format!("{PIN}#"), ts);
    gw.wait_log("log-on accepted", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500));
    ua.keys(media, "1", ts);
    std::thread::sleep(Duration::from_millis(800));
    ua.keys(media, "2", ts);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counts(gw) != (0, 1) {
        assert!(std::time::Instant::now() < deadline, "log:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn call_voice_mail_button_signs_alice_in_and_a_diverted_call_to_the_same_uri_deposits() {
    let gw = gateway();
    // Bob's call to alice, diverted to her voice-mail URI: a deposit for alice.
    let mut bob = Ua::new("127.0.0.1", gw.sip);
    leave_voice_mail(&gw, &mut bob, 1500);
    let msgs = gw.wait_messages("alice", 2, Duration::from_secs(5));
    assert!(msgs.iter().any(|m| m.call_id == bob.call_id));
    assert_eq!(counts(&gw), (2, 0));

    // Alice presses "Call Voice Mail": the same URI, from herself, nothing diverted.
    let mut alice = Ua::new("127.0.0.1", gw.sip);
    alice.from = "\"Alice Anders\" <sip:alice@contoso.com>".into();
    let media = alice.call(&gw, ALICE_VM, "");
    assert!(gw
        .log()
        .contains("a user calling their own voice mail: subscriber access"));
    let mut ts = 0u32;
    // One of the two new messages is saved: (1, 1).
    std::thread::sleep(Duration::from_millis(500));
    alice.keys(media, &format!("{PIN}#"), &mut ts);
    gw.wait_log("log-on accepted", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500));
    alice.keys(media, "1", &mut ts);
    std::thread::sleep(Duration::from_millis(800));
    alice.keys(media, "2", &mut ts);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counts(&gw) != (1, 1) {
        assert!(std::time::Instant::now() < deadline, "log:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        all_messages(&gw),
        2,
        "nothing deposited by alice's own call"
    );
}

#[test]
fn star_in_the_greeting_signs_in_to_the_mailbox_without_a_message() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(&gw, ALICE_VM, DIVERTED);
    // The greeting is playing (1.5 s): `*` over it.
    std::thread::sleep(Duration::from_millis(400));
    let mut ts = 0u32;
    ua.keys(media, "*", &mut ts);
    gw.wait_log(
        "the caller signs in from the greeting",
        Duration::from_secs(3),
    );
    sign_in_and_save(&gw, &ua, media, &mut ts);
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(3)).status(),
        Some(200)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(all_messages(&gw), 1, "no message, no missed-call notice");
    let spool: Vec<String> = gw
        .spool_entries()
        .into_iter()
        .filter(|n| !n.starts_with("greeting-"))
        .collect();
    assert!(
        spool.is_empty(),
        "the deposit's spool entry went: {spool:?}"
    );
}

/// Answers `req` with `code`.
fn respond(ua: &Ua, req: &Message, code: u16, reason: &str) {
    let resp = Message::response_to(req, code, reason, Some("uas"));
    ua.sip.send_to(&resp.to_bytes(), ua.gw).unwrap();
}

#[test]
fn zero_in_the_greeting_transfers_to_the_operator() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(&gw, ALICE_VM, DIVERTED);
    std::thread::sleep(Duration::from_millis(400));
    let mut ts = 0u32;
    ua.keys(media, "0", &mut ts);
    let refer = ua.expect_request(Method::Refer, Duration::from_secs(5));
    assert_eq!(refer.header("Refer-To"), Some("<sip:carol@contoso.com>"));
    assert_eq!(refer.call_id(), Some(ua.call_id.as_str()));
    respond(&ua, &refer, 202, "Accepted");
    // The call server reports the operator answered: the gateway leaves the call.
    let to = ua.to.clone().unwrap();
    let body = "SIP/2.0 200 OK\r\n";
    ua.send(&format!(
        "NOTIFY sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-op1\r\n\
         Max-Forwards: 70\r\nFrom: {from};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\n\
         CSeq: 3 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated;reason=noresource\r\n\
         Content-Type: message/sipfrag;version=2.0\r\nContent-Length: {len}\r\n\r\n{body}",
        gw = ua.gw,
        l = ua.local(),
        from = ua.from,
        ft = ua.from_tag,
        cid = ua.call_id,
        len = body.len()
    ));
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(all_messages(&gw), 1, "no message, no missed-call notice");
    assert!(gw.spool_entries().is_empty(), "{:?}", gw.spool_entries());
}

/// A Lync client's ICE offer: its default candidate (`c=`/`m=`) is a relay that is not where
/// it listens; its host candidate is. The gateway answers as an ICE-lite agent, answers the
/// client's checks (the test verifies MESSAGE-INTEGRITY under the answer's password and
/// FINGERPRINT), and once the host pair is nominated sends the greeting there and records what
/// the client says from there. A forged check gets no answer.
#[test]
fn an_ice_call_is_answered_lite_and_media_follows_the_nominated_pair() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let relay = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let host = ua.rtp.local_addr().unwrap();
    let (ufrag, pwd) = ("Lc7q", "R0mX8bJz1KqT5vWn3YpD6sHa");
    let offer = ua
        .g711_offer()
        .replace(
            &format!("m=audio {} ", host.port()),
            &format!("m=audio {} ", relay.local_addr().unwrap().port()),
        )
        .replace(
            "a=sendrecv\r\n",
            &format!(
                "a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n\
                 a=candidate:1 1 UDP 2130706431 127.0.0.1 {} typ host\r\n\
                 a=candidate:2 1 UDP 16777215 127.0.0.1 {} typ relay raddr 127.0.0.1 rport 1\r\n\
                 a=rtcp:9\r\na=sendrecv\r\n",
                host.port(),
                relay.local_addr().unwrap().port()
            ),
        );
    ua.invite("sip:carol@contoso.com", "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
    ua.ack(&ok);
    let gw_media = Ua::media_target(&ok);
    let answer = String::from_utf8(ok.body.to_vec()).unwrap();
    let attr = |name: &str| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in\n{answer}"))
            .trim()
            .to_owned()
    };
    assert!(answer.contains("\r\na=ice-lite\r\n"), "{answer}");
    let (gw_ufrag, gw_pwd) = (attr("a=ice-ufrag:"), attr("a=ice-pwd:"));
    assert!(gw_pwd.len() >= 22, "{answer}");
    assert_eq!(
        attr("a=candidate:"),
        format!("1 1 UDP 2130706431 127.0.0.1 {} typ host", gw_media.port())
    );

    // Before any check the greeting goes to the default candidate.
    relay
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = relay
        .recv_from(&mut buf)
        .expect("greeting at the default candidate");
    assert!(umgw::media::rtp::parse(&buf[..n]).is_ok() && from == gw_media);

    let username = format!("{gw_ufrag}:{ufrag}");
    // A check with a guessed password: dropped, no answer.
    let forged = stun::binding_request(&username, "guessed-password-guessed", 7, true, [1; 12]);
    ua.rtp.send_to(&forged, gw_media).unwrap();
    // The real check from the host candidate, nominating it.
    std::thread::sleep(Duration::from_millis(300));
    let tid = [0x5a; 12];
    let check = stun::binding_request(&username, &gw_pwd, 1_853_824_767, true, tid);
    ua.rtp.send_to(&check, gw_media).unwrap();
    ua.rtp
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut answers = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Ok((n, from)) = ua.rtp.recv_from(&mut buf) {
            if stun::is_stun(&buf[..n]) {
                assert_eq!(from, gw_media);
                answers.push(buf[..n].to_vec());
                break;
            }
        }
    }
    assert_eq!(
        answers.len(),
        1,
        "one answer, to the real check; log:\n{}",
        gw.log()
    );
    assert_eq!(stun::check_success(&answers[0], tid, &gw_pwd), Ok(host));

    // The rest of the greeting comes to the nominated host path; the caller speaks from it.
    // (Quiet for longer than the pause before the beep.)
    let heard = ua.recv_rtp_until_quiet(Duration::from_millis(700), Duration::from_secs(15));
    assert!(heard.len() > 10, "greeting moved to the host candidate");
    let spoken = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(gw_media, &spoken, 0x1CE, &mut seq, &mut ts);
    ua.send_dtmf(gw_media, '#', ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
    let msgs = gw.wait_messages("carol", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert_audio_matches(&spoken, msgs[0].audio_wav.as_ref().unwrap(), 0.9);
    gw.wait_log("ice_checks=Some((1, 1))", Duration::from_secs(2));
    assert!(gw.log().contains("ICE: media path selected"));
}

/// Whole seconds, half up, at least 1: how umgw writes `X-VoiceMessageDuration`.
fn voice_message_secs(samples: usize) -> u32 {
    let ms = samples / 8;
    u32::try_from((ms / 1000 + usize::from(ms % 1000 >= 500)).max(1)).unwrap()
}

/// What Outlook, OWA and Lync's voice-mail tab read of a message ([MS-OXCMAIL] 2.1.3.2.2-3):
/// a voice mail and a missed-call notice left through the gateway carry the headers Exchange UM
/// writes, read back from the stored files, next to umgw's own.
#[test]
fn voice_mail_and_missed_call_carry_the_headers_exchange_um_writes() {
    let gw = gateway();
    // Bob leaves a voice mail for alice.
    let mut bob = Ua::new("127.0.0.1", gw.sip);
    leave_voice_mail(&gw, &mut bob, 2300);
    // Dana hangs up during the greeting: a missed-call notice.
    let mut dana = Ua::new("127.0.0.1", gw.sip);
    dana.from = "\"Dana Diaz\" <sip:+14255550142@127.0.0.1;user=phone>".into();
    dana.call(&gw, ALICE_VM, DIVERTED);
    dana.bye();
    assert_eq!(
        dana.final_response(Duration::from_secs(3)).status(),
        Some(200)
    );

    let msgs = gw.wait_messages("alice", 3, Duration::from_secs(5));
    let of = |ua: &Ua| {
        msgs.iter()
            .find(|m| m.call_id == ua.call_id)
            .unwrap_or_else(|| panic!("no message for {}", ua.call_id))
    };

    let vm = of(&bob);
    assert_eq!(vm.kind, MessageKind::VoiceMail);
    // The length is the attachment's, in whole seconds; the order names the attachment there.
    let samples = read_wav(vm.audio_wav.as_deref().unwrap()).len();
    assert!((2..=3).contains(&(samples / 8000)), "{samples} samples");
    assert_eq!(vm.duration, Duration::from_millis(samples as u64 / 8));
    let file_name = vm.audio_file_name.clone().expect("the WAV part's name");
    assert!(file_name.ends_with(".wav"), "{file_name}");
    assert_eq!(
        vm.um,
        UmHeaders {
            content_class: Some("voice-ca".into()),
            calling_number: Some("+14255550199".into()),
            sender_name: Some("Bob Caller".into()),
            duration_secs: Some(voice_message_secs(samples)),
            attachment_order: vec![file_name],
            call_id: Some(bob.call_id.clone()),
        }
    );
    assert_eq!(
        vm.um.message_class(),
        Some("IPM.Note.Microsoft.Voicemail.UM.CA")
    );

    // No audio: nothing about audio.
    let missed = of(&dana);
    assert_eq!(missed.kind, MessageKind::MissedCall);
    assert_eq!(missed.audio_wav, None);
    assert_eq!(
        missed.um,
        UmHeaders {
            content_class: Some("missedcall".into()),
            calling_number: Some("+14255550142".into()),
            sender_name: Some("Dana Diaz".into()),
            duration_secs: None,
            attachment_order: Vec::new(),
            call_id: Some(dana.call_id.clone()),
        }
    );
    assert_eq!(
        missed.um.message_class(),
        Some("IPM.Note.Microsoft.Missed.Voice")
    );
}

/// The `ms-diagnostics` of a response, parsed; its source is this host (no `sip.fqdn` set).
fn diagnostics(resp: &Message) -> umgw::sip::headers::MsDiagnostics {
    let value = resp
        .header("ms-diagnostics")
        .unwrap_or_else(|| panic!("no ms-diagnostics on {:?}", resp.status()));
    let d = umgw::sip::headers::parse_ms_diagnostics(value).unwrap();
    assert!(
        d.source.as_deref().is_some_and(|s| !s.is_empty()),
        "{value}"
    );
    d
}

/// Why a trusted pool's call was refused, as Lync's logging tools read it ([MS-OCER]): a 404
/// (no mailbox), a 488 (no codec in common, with its Warning) and a 403 (the plan requires TLS,
/// the call came over UDP) each carry `ms-diagnostics` with the code docs/OPERATIONS.md lists.
#[test]
fn refusals_to_a_trusted_pool_carry_ms_diagnostics() {
    let gw = gateway();
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:nobody@contoso.com", "", &offer);
    let resp = ua.final_response(Duration::from_secs(5));
    assert_eq!(resp.status(), Some(404));
    ua.ack(&resp);
    let d = diagnostics(&resp);
    assert_eq!(
        (d.code, d.reason.as_str()),
        (15830, "No mailbox or service for the called party")
    );

    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let g729 = ua.sdp_offer("18", "a=rtpmap:18 G729/8000\r\n");
    ua.invite("sip:alice@contoso.com", "", &g729);
    let resp = ua.final_response(Duration::from_secs(5));
    assert_eq!(resp.status(), Some(488));
    ua.ack(&resp);
    assert_eq!(diagnostics(&resp).code, 15844);
    assert!(resp
        .header("Warning")
        .is_some_and(|w| w.starts_with("305 ")));

    let secured = Gateway::start(GatewayOptions {
        plan: test_plan(5, 1200, None).replace(
            "MinimumMessageDuration = 1000\n",
            "MinimumMessageDuration = 1000\nVoIPSecurity = \"SIPSecured\"\n",
        ),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", secured.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:alice@contoso.com", "", &offer);
    let resp = ua.final_response(Duration::from_secs(5));
    assert_eq!(resp.status(), Some(403), "log:\n{}", secured.log());
    ua.ack(&resp);
    let d = diagnostics(&resp);
    assert_eq!(
        (d.code, d.reason.as_str()),
        (15831, "Dial plan requires TLS")
    );
}
