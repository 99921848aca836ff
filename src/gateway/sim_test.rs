use super::*;
use crate::store::{MailboxId, MessageKind};

/// alice (1001, with a lamp at the caller's address), a subscriber-access pilot (5000) and an
/// attendant (5100) whose key 1 transfers to alice.
fn plan() -> String {
    format!(
        "Name = \"sim\"\nUriType = \"SipName\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\nPilotIdentifiers = [\"5000\"]\n\
         MinimumMessageDuration = 1000\nCallerReviewEnabled = false\n\
         [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5100\"]\n\
         BusinessHoursSchedule = [\"Mon-Sun 00:00-24:00\"]\n\
         BusinessHoursKeyMapping = [{{ Key = \"1\", Action = \"Transfer\", Target = \"1001\" }}]\n\
         [[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\n\
         SipAddress = \"sip:alice@contoso.com\"\nNotifyTarget = \"sip:mwi@{CALLER_SIP}\"\n"
    )
}

fn greeting() -> Vec<(&'static str, Vec<i16>)> {
    vec![("alice", crate::media::prompts::tone(800.0, 400, 0.3))]
}

/// The caller's side of one dialog.
struct Dialog {
    call_id: String,
    to: String,
    cseq: u32,
}

/// INVITEs `ruri` with a G.711 offer and `headers` from `from`, expects 200, ACKs it; the
/// dialog and the gateway's RTP address.
fn call(sim: &mut Sim, ruri: &str, from: &str, headers: &str) -> (Dialog, SocketAddr) {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
        ip = CALLER_RTP.ip(),
        port = CALLER_RTP.port()
    );
    let call_id = format!("sim-{}@caller", sim.rtp.len() + sim.sip.len());
    sim.send_sip(&format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER_SIP};branch=z9hG4bK-inv\r\n\
         Max-Forwards: 70\r\nFrom: <{from}>;tag=c1\r\nTo: <{ruri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER_SIP}>\r\n{headers}\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    ));
    let ok = sim.expect_sip(Duration::from_secs(2), |m| {
        m.status().is_some_and(|s| s >= 200)
    });
    assert_eq!(ok.status(), Some(200));
    let to = ok.header("To").unwrap_or_default().to_owned();
    let media = answer_media(&ok);
    let dialog = Dialog {
        call_id,
        to,
        cseq: 1,
    };
    sim.send_sip(&format!(
        "ACK sip:umgw@{GATEWAY} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER_SIP};branch=z9hG4bK-ack\r\n\
         Max-Forwards: 70\r\nFrom: <{from}>;tag=c1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n",
        dialog.to, dialog.call_id
    ));
    (dialog, media)
}

fn answer_media(ok: &Message) -> SocketAddr {
    answer_media_in(std::str::from_utf8(&ok.body).unwrap_or_default())
}

/// The gateway's RTP address in its SDP `text`.
fn answer_media_in(text: &str) -> SocketAddr {
    let port: u16 = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio port");
    SocketAddr::new(GATEWAY.ip(), port)
}

/// A signal with a distinctive envelope (two tones under a 1.5 Hz swell).
fn signal(ms: u32) -> Vec<i16> {
    (0..(ms * 8) as usize)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let env = 0.3 + 0.7 * (std::f64::consts::PI * 1.5 * t).sin().abs();
            let s = (2.0 * std::f64::consts::PI * 350.0 * t).sin()
                + 0.6 * (2.0 * std::f64::consts::PI * 620.0 * t).sin();
            (s * env * 9000.0) as i16
        })
        .collect()
}

/// Best normalised correlation of `a` against `b` within ±`max_lag` samples.
fn correlation(a: &[i16], b: &[i16], max_lag: isize) -> f64 {
    let mut best = f64::MIN;
    for lag in -max_lag..=max_lag {
        let (mut dot, mut ea, mut eb) = (0f64, 0f64, 0f64);
        for (i, &x) in a.iter().enumerate() {
            let j = i as isize + lag;
            let Some(&y) = usize::try_from(j).ok().and_then(|j| b.get(j)) else {
                continue;
            };
            dot += f64::from(x) * f64::from(y);
            ea += f64::from(x).powi(2);
            eb += f64::from(y).powi(2);
        }
        if ea > 0.0 && eb > 0.0 {
            best = best.max(dot / (ea.sqrt() * eb.sqrt()));
        }
    }
    best
}

/// Alice's message `id` parsed back from the store, and the samples of its recording.
fn recorded(sim: &Sim, id: &str) -> (crate::store::message::ParsedMessage, Vec<i16>) {
    let raw = sim.shared.store.read(&alice(), id).unwrap();
    let m = crate::store::message::parse(&raw).unwrap();
    let audio = hound::WavReader::new(m.audio_wav.as_deref().unwrap())
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect();
    (m, audio)
}

fn alice() -> MailboxId {
    MailboxId::new("alice").unwrap()
}

#[test]
fn a_deposit_through_a_lossy_reordering_network_is_recorded() {
    let started = std::time::Instant::now();
    let mut sim = Sim::new(&plan(), &greeting());
    sim.impairment = Impairment {
        loss: 0.05,
        duplicate: 0.02,
        jitter: Duration::from_millis(45),
    };
    let hi = "History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D480>;index=1, \
              <sip:vm@contoso.com>;index=1.1\r\n";
    let (_dialog, media) = call(&mut sim, "sip:vm@contoso.com", "sip:+14255550199@x", hi);
    let greeting = sim.listen_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    assert!(
        greeting.len() >= 25,
        "{} packets of greeting and beep",
        greeting.len()
    );
    assert!(greeting
        .iter()
        .all(|h| crate::media::rtp::parse(&h.bytes).is_ok_and(|p| p.payload_type == 0)));
    let sent = signal(3000);
    let (mut seq, mut ts) = (100u16, 0u32);
    sim.send_audio(media, &sent, &mut seq, &mut ts);
    // The end key, sent clean (a lost '#' would leave the call to its idle time-out).
    sim.impairment = Impairment::NONE;
    sim.press(media, '#', &mut seq, ts);
    let bye = sim.expect_sip(Duration::from_secs(5), |m| m.method() == Some(&Method::Bye));
    assert_eq!(bye.call_id(), Some(_dialog.call_id.as_str()));
    let notify = sim.expect_sip(Duration::from_secs(2), |m| {
        m.method() == Some(&Method::Notify)
    });
    assert!(String::from_utf8_lossy(&notify.body).contains("Voice-Message: 1/0"));

    let store = &sim.shared.store;
    let list = store.list(&alice()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].kind, MessageKind::VoiceMail);
    let (m, audio) = recorded(&sim, &list[0].id);
    // Lost packets are silence in place: the message keeps its length and alignment.
    let diff_ms = (audio.len() as i64 - sent.len() as i64).abs() / 8;
    assert!(diff_ms <= 60, "recorded {} ms of 3000", audio.len() / 8);
    let through: Vec<i16> = {
        let mut enc = vec![0u8; sent.len()];
        G711::Pcmu.encode(&sent, &mut enc);
        let mut dec = vec![0i16; sent.len()];
        G711::Pcmu.decode(&enc, &mut dec);
        dec
    };
    let corr = correlation(&through, &audio, 200);
    assert!(corr > 0.85, "correlation {corr}");
    let stats: crate::media::stats::MediaStats = m
        .headers
        .iter()
        .find(|(n, _)| n == "X-UMGW-Media-Stats")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!((3..=20).contains(&stats.lost), "{stats}");
    // A duplicate that arrives after its place was released counts as late.
    assert!(
        stats.reordered > 0 && stats.duplicates + stats.late > 0,
        "{stats}"
    );
    // Simulated time: a deposit of several seconds in well under one of real time.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_subscriber_logs_in_listens_and_saves_the_message() {
    let mut sim = Sim::new(&plan(), &greeting());
    let policy = crate::store::pin::PinPolicy::default();
    sim.shared
        .store
        .set_pin(
            &alice(),
            "582914",
            "1001",
            &policy,
            crate::store::pin::PinSetter::User,
        )
        .unwrap();
    let msg = crate::store::NewMessage {
        kind: MessageKind::VoiceMail,
        caller: Some("+14255550199".into()),
        caller_name: None,
        mailbox_address: "sip:alice@contoso.com".into(),
        mailbox_name: None,
        received: std::time::SystemTime::now(),
        duration: Duration::from_millis(1500),
        call_id: "earlier".into(),
        audio: None,
        delivery_id: None,
        recovered: false,
        media_stats: None,
        cut_short: None,
        preview: None,
        forwarded: None,
        marks: crate::domain::Marks::default(),
    };
    sim.shared.store.deposit(&alice(), &msg).unwrap();
    // alice calls the pilot from her own number: caller ID names the mailbox.
    let (_dialog, media) = call(&mut sim, "sip:5000@contoso.com", "sip:+14255551001@x", "");
    sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(10));
    let (mut seq, mut ts) = (1u16, 0u32);
    for key in "582914#".chars() {
        ts += 1600;
        sim.press(media, key, &mut seq, ts);
    }
    // "You have one new message ..." then the main menu; 1 plays the new messages.
    sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(20));
    ts += 1600;
    sim.press(media, '1', &mut seq, ts);
    sim.run_for(Duration::from_millis(500));
    // 2 saves the message playing.
    ts += 1600;
    sim.press(media, '2', &mut seq, ts);
    sim.run_for(Duration::from_secs(2));
    let counts = sim.shared.store.counts(&alice()).unwrap();
    assert_eq!((counts.new, counts.old), (0, 1), "saved: read, kept");
    let pins = sim.shared.store.pin_state(&alice(), &policy).unwrap();
    assert_eq!(pins.failed_attempts, 0, "logged on at the first try");
}

#[test]
fn an_attendant_transfer_refers_the_caller_and_ends_the_call_when_it_succeeds() {
    let mut sim = Sim::new(&plan(), &greeting());
    let (mut dialog, media) = call(&mut sim, "sip:5100@contoso.com", "sip:+14255550199@x", "");
    sim.run_for(Duration::from_millis(500));
    let (mut seq, ts) = (1u16, 1600u32);
    sim.press(media, '1', &mut seq, ts);
    let refer = sim.expect_sip(Duration::from_secs(3), |m| {
        m.method() == Some(&Method::Refer)
    });
    assert_eq!(refer.header("Refer-To"), Some("<sip:alice@contoso.com>"));
    assert_eq!(refer.call_id(), Some(dialog.call_id.as_str()));
    let accepted = Message::response_to(&refer, 202, "Accepted", Some("c1"));
    sim.send_sip(&String::from_utf8(accepted.to_bytes()).unwrap());
    // The call server reports the transfer's INVITE answered.
    dialog.cseq += 1;
    let body = "SIP/2.0 200 OK\r\n";
    sim.send_sip(&format!(
        "NOTIFY sip:umgw@{GATEWAY} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER_SIP};branch=z9hG4bK-n1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+14255550199@x>;tag=c1\r\nTo: {}\r\nCall-ID: {}\r\n\
         CSeq: {} NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated;reason=noresource\r\n\
         Content-Type: message/sipfrag;version=2.0\r\nContent-Length: {}\r\n\r\n{body}",
        dialog.to,
        dialog.call_id,
        dialog.cseq,
        body.len()
    ));
    let bye = sim.expect_sip(Duration::from_secs(3), |m| m.method() == Some(&Method::Bye));
    assert_eq!(bye.call_id(), Some(dialog.call_id.as_str()));
    sim.run_for(Duration::from_millis(200));
    assert_eq!(sim.calls.len(), 0, "the call is over");
}

/// INVITEs `ruri` over TLS without SDP (a delayed offer) for alice's mailbox; expects a 200
/// whose body is our offer, and ACKs it with `answer(offer)`. The dialog and the 200's offer.
fn delayed_call(sim: &mut Sim, answer: impl Fn(&str) -> String) -> (Dialog, String) {
    let call_id = format!("sim-delayed-{}@caller", sim.rtp.len() + sim.sip.len());
    let ruri = "sip:vm@contoso.com";
    sim.send_sip(&format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/TLS {CALLER_SIP};branch=z9hG4bK-d{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+14255550199@x>;tag=c1\r\nTo: <{ruri}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sips:caller@{CALLER_SIP}>\r\n\
         History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D486>;index=1, \
         <{ruri}>;index=1.1\r\nContent-Length: 0\r\n\r\n",
        call_id.len()
    ));
    let ok = sim.expect_sip(Duration::from_secs(2), |m| {
        m.status().is_some_and(|s| s >= 200)
    });
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
    let offer = String::from_utf8(ok.body.clone()).unwrap();
    let dialog = Dialog {
        call_id,
        to: ok.header("To").unwrap_or_default().to_owned(),
        cseq: 1,
    };
    let sdp = answer(&offer);
    sim.send_sip(&format!(
        "ACK sip:umgw@{GATEWAY} SIP/2.0\r\nVia: SIP/2.0/TLS {CALLER_SIP};branch=z9hG4bK-ack\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+14255550199@x>;tag=c1\r\nTo: {}\r\nCall-ID: {}\r\n\
         CSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        dialog.to,
        dialog.call_id,
        sdp.len()
    ));
    (dialog, offer)
}

/// The caller's SDP answer: audio at `CALLER_RTP` in `proto`, PCMU and telephone-event.
fn caller_answer(proto: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=- 2 2 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n{extra}a=sendrecv\r\n",
        ip = CALLER_RTP.ip(),
        port = CALLER_RTP.port()
    )
}

#[test]
fn a_delayed_offer_under_a_secured_plan_offers_srtp_and_records_through_it() {
    use crate::media::srtp::{SrtpContext, SrtpSuite};
    use base64::Engine as _;
    let secured = plan().replace("Domain =", "VoIPSecurity = \"Secured\"\nDomain =");
    let mut sim = Sim::new(&secured, &greeting());
    sim.sip_over_tls = true;
    let caller_key: [u8; 30] = std::array::from_fn(|i| i as u8 * 7 + 1);
    let inline = base64::engine::general_purpose::STANDARD.encode(caller_key);
    let crypto = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline}\r\n");
    let (dialog, offer) = delayed_call(&mut sim, |_| caller_answer("RTP/SAVP", &crypto));
    assert!(offer.contains(" RTP/SAVP 0 8 101\r\n"), "{offer}");
    let gateway_key = offer
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"))
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .and_then(|k| <[u8; 30]>::try_from(k).ok())
        .expect("our offer's SDES key");
    let media = answer_media_in(&offer);

    // The greeting comes SRTP-protected with the key our offer carried.
    let heard = sim.listen_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    assert!(heard.len() >= 25, "{} packets", heard.len());
    let mut rx = SrtpContext::from_key_salt(SrtpSuite::AesCm128HmacSha1_80, &gateway_key);
    for h in &heard {
        let mut b = h.bytes.clone();
        let n = rx
            .unprotect(&mut b)
            .expect("the gateway's SRTP authenticates");
        assert_eq!(crate::media::rtp::parse(&b[..n]).unwrap().payload_type, 0);
    }
    // What the caller says, protected with the key its answer carried, is recorded.
    sim.caller_srtp = Some(SrtpContext::from_key_salt(
        SrtpSuite::AesCm128HmacSha1_80,
        &caller_key,
    ));
    let sent = signal(2000);
    let (mut seq, mut ts) = (7u16, 0u32);
    sim.send_audio(media, &sent, &mut seq, &mut ts);
    sim.press(media, '#', &mut seq, ts);
    let bye = sim.expect_sip(Duration::from_secs(5), |m| m.method() == Some(&Method::Bye));
    assert_eq!(bye.call_id(), Some(dialog.call_id.as_str()));
    let store = &sim.shared.store;
    let list = store.list(&alice()).unwrap();
    assert_eq!(list.len(), 1);
    let (_, audio) = recorded(&sim, &list[0].id);
    let corr = correlation(&sent, &audio, 200);
    assert!(corr > 0.9, "correlation {corr}");
}

/// The PCMU audio of what the caller heard.
fn heard_audio(heard: &[crate::gateway::sim::Heard]) -> Vec<i16> {
    let mut out = Vec::new();
    for h in heard {
        let p = crate::media::rtp::parse(&h.bytes).unwrap();
        let mut pcm = vec![0i16; p.payload.len()];
        G711::Pcmu.decode(p.payload, &mut pcm);
        out.extend(pcm);
    }
    out
}

#[test]
fn the_caller_reviews_hears_the_recording_marks_it_urgent_and_sends() {
    let reviewing = plan().replace("CallerReviewEnabled = false", "CallerReviewEnabled = true");
    let mut sim = Sim::new(&reviewing, &greeting());
    let (_dialog, media) = call(&mut sim, "sip:alice@contoso.com", "sip:+14255550199@x", "");
    sim.listen_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    let sent = signal(2000);
    let (mut seq, mut ts) = (100u16, 0u32);
    sim.send_audio(media, &sent, &mut seq, &mut ts);
    // '#': the options, said in full (nothing is stored yet).
    sim.press(media, '#', &mut seq, ts);
    let options = sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(30));
    assert!(options.len() > 100, "{} packets of options", options.len());
    assert!(sim.shared.store.list(&alice()).unwrap().is_empty());
    // '1': the recording played back (read from the spool by a job).
    sim.press(media, '1', &mut seq, ts + 1000);
    let played = sim.listen_until_quiet(Duration::from_millis(100), Duration::from_secs(10));
    let audio = heard_audio(&played);
    let corr = correlation(&sent, &audio[..sent.len().min(audio.len())], 400);
    assert!(corr > 0.8, "played back: correlation {corr}");
    // The options again after it; '3' marks it urgent (confirmation, then the options).
    sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(30));
    sim.press(media, '3', &mut seq, ts + 2000);
    sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(30));
    // '#': sent; "saved, goodbye", BYE, and the lamp with its urgent count.
    sim.press(media, '#', &mut seq, ts + 3000);
    sim.expect_sip(Duration::from_secs(10), |m| {
        m.method() == Some(&Method::Bye)
    });
    let notify = sim.expect_sip(Duration::from_secs(2), |m| {
        m.method() == Some(&Method::Notify)
    });
    let summary =
        crate::mwi::parse_message_summary(std::str::from_utf8(&notify.body).unwrap()).unwrap();
    assert_eq!(
        (
            summary.voice_new,
            summary.voice_old,
            summary.voice_urgent_new
        ),
        (1, 0, 1)
    );
    let list = sim.shared.store.list(&alice()).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].urgent);
    let (m, audio) = recorded(&sim, &list[0].id);
    assert!(m.marks.urgent && !m.marks.private);
    assert!(correlation(&sent, &audio, 400) > 0.8);
}

#[test]
fn a_rerecorded_message_keeps_only_the_second_take() {
    let reviewing = plan().replace("CallerReviewEnabled = false", "CallerReviewEnabled = true");
    let mut sim = Sim::new(&reviewing, &greeting());
    let (_dialog, media) = call(&mut sim, "sip:alice@contoso.com", "sip:+14255550199@x", "");
    sim.listen_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    let first = signal(3000);
    let (mut seq, mut ts) = (100u16, 0u32);
    sim.send_audio(media, &first, &mut seq, &mut ts);
    sim.press(media, '#', &mut seq, ts);
    // 2 at once (cutting the options short): the take goes, a beep, record again.
    sim.press(media, '2', &mut seq, ts + 800);
    let beep = sim.listen_until_quiet(Duration::from_millis(100), Duration::from_secs(5));
    assert!(!beep.is_empty());
    let second: Vec<i16> = (0..8 * 1500)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            let s = (std::f64::consts::TAU * 500.0 * t).sin()
                + 0.5 * (std::f64::consts::TAU * 930.0 * t).sin();
            (s * (0.2 + 0.8 * (t * 4.0).fract()) * 9000.0) as i16
        })
        .collect();
    ts += 1600;
    sim.send_audio(media, &second, &mut seq, &mut ts);
    // # and # again: sent.
    sim.press(media, '#', &mut seq, ts);
    sim.press(media, '#', &mut seq, ts + 800);
    sim.expect_sip(Duration::from_secs(10), |m| {
        m.method() == Some(&Method::Bye)
    });
    let list = sim.shared.store.list(&alice()).unwrap();
    assert_eq!(list.len(), 1);
    let (_, audio) = recorded(&sim, &list[0].id);
    let diff_ms = (audio.len() as i64 - second.len() as i64).abs() / 8;
    assert!(
        diff_ms <= 60,
        "recorded {} ms, the second take is 1500",
        audio.len() / 8
    );
    assert!(correlation(&second, &audio, 400) > 0.8);
    assert!(correlation(&first[..second.len()], &audio, 400) < 0.5);
}

#[test]
fn an_ack_whose_answer_does_not_fit_our_offer_ends_the_call_and_leaves_nothing() {
    let secured = plan().replace("Domain =", "VoIPSecurity = \"Secured\"\nDomain =");
    let mut sim = Sim::new(&secured, &greeting());
    sim.sip_over_tls = true;
    // We offered SRTP (the plan requires it); the answer is plain RTP.
    let (dialog, offer) = delayed_call(&mut sim, |_| caller_answer("RTP/AVP", ""));
    assert!(offer.contains("RTP/SAVP"), "{offer}");
    let bye = sim.expect_sip(Duration::from_secs(2), |m| m.method() == Some(&Method::Bye));
    assert_eq!(bye.call_id(), Some(dialog.call_id.as_str()));
    sim.run_for(Duration::from_secs(2));
    assert!(sim.rtp.is_empty(), "no media was sent");
    assert_eq!(sim.calls.len(), 0);
    assert!(sim.shared.store.list(&alice()).unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(sim.shared.spool.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "free")
        .collect();
    assert!(
        left.is_empty(),
        "the deposit's spool entry is gone: {left:?}"
    );
}

/// The PCMU payloads of `heard`, joined.
fn payloads(heard: &[Heard]) -> Vec<u8> {
    heard
        .iter()
        .filter_map(|h| crate::media::rtp::parse(&h.bytes).ok())
        .flat_map(|p| p.payload.to_vec())
        .collect()
}

/// The named prompts of `language` as the gateway sends them: joined, PCMU-encoded.
fn said(sim: &Sim, language: crate::media::speech::Language, names: &[String]) -> Vec<u8> {
    let pcm = crate::media::speech::render(&sim.shared.prompts.voice(language), names).unwrap();
    let mut out = vec![0u8; pcm.len()];
    crate::media::g711::G711::Pcmu.encode(&pcm, &mut out);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn subscriber_access_speaks_the_plans_language_until_log_on_then_the_users() {
    use crate::media::speech::Language;
    // The plan speaks German; alice, English.
    let plan = plan()
        .replacen(
            "PilotIdentifiers = [\"5000\"]\n",
            "PilotIdentifiers = [\"5000\"]\nDefaultLanguage = \"de-DE\"\n",
            1,
        )
        .replace(
            "SipAddress = \"sip:alice@contoso.com\"\n",
            "SipAddress = \"sip:alice@contoso.com\"\nLanguage = \"en-US\"\n",
        );
    let mut sim = Sim::new(&plan, &greeting());
    let policy = crate::store::pin::PinPolicy::default();
    sim.shared
        .store
        .set_pin(
            &alice(),
            "582914",
            "1001",
            &policy,
            crate::store::pin::PinSetter::User,
        )
        .unwrap();
    // Caller ID names alice: asked for her PIN, in the plan's German.
    let (_dialog, media) = call(&mut sim, "sip:5000@contoso.com", "sip:+14255551001@x", "");
    let before =
        payloads(&sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(10)));
    let pin_prompt = ["sa-enter-pin".to_owned()];
    assert!(contains(&before, &said(&sim, Language::DeDe, &pin_prompt)));
    assert!(!contains(&before, &said(&sim, Language::EnUs, &pin_prompt)));
    // From the first key on: the answer starts while the last key is still being sent.
    let mark = sim.rtp.len();
    let (mut seq, mut ts) = (1u16, 0u32);
    for key in "582914#".chars() {
        ts += 1600;
        sim.press(media, key, &mut seq, ts);
    }
    // Logged on: "You have zero new messages and zero saved messages", in her English.
    sim.listen_until_quiet(Duration::from_millis(300), Duration::from_secs(40));
    let after = payloads(&sim.rtp[mark..]);
    let counts = Language::EnUs.speaker().counts(0, 0);
    assert!(contains(&after, &said(&sim, Language::EnUs, &counts)));
    let german = Language::DeDe.speaker().counts(0, 0);
    assert!(!contains(&after, &said(&sim, Language::DeDe, &german)));
}
