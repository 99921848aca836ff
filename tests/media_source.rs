//! Media that belongs to the call, and only to it (`media::latch`), and any packet time: the
//! real `umgw` binary over loopback, where every stream comes from the same IP address as
//! behind an SBC or a Mediation Server.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::*;
use umgw::media::stats::MediaStats;
use umgw::sip::message::Method;
use umgw::store::message::ParsedMessage;

const ALICE: &str = "sip:alice@contoso.com";

fn short_greeting() -> Vec<(String, Vec<i16>)> {
    vec![("alice".into(), umgw::media::prompts::tone(800.0, 400, 0.3))]
}

/// A steady tone: what a stray stream sounds like (easy to tell from the caller's signal).
fn stray_tone(ms: u32) -> Vec<i16> {
    umgw::media::prompts::tone(1000.0, ms, 0.4)
}

/// The message of the call with `call_id` among alice's messages, waiting for it.
fn message_of(gw: &Gateway, call_id: &str) -> ParsedMessage {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(m) = gw
            .messages("alice")
            .into_iter()
            .find(|m| m.call_id == call_id)
        {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message for {call_id}; log:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn media_stats(m: &ParsedMessage) -> MediaStats {
    m.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("X-UMGW-Media-Stats"))
        .expect("media stats header")
        .1
        .parse()
        .expect("media stats parse")
}

/// The recording holds exactly the caller's audio: after the silence the phone sent while the
/// beep ended, as long as what was said (within 40 ms) and alike, and nothing of the stray
/// tone (which would not be silence, so trimming cannot hide it).
fn assert_only_the_callers_audio(m: &ParsedMessage, sent: &[i16]) {
    let audio = read_wav(m.audio_wav.as_ref().expect("audio attached"));
    let spoken = audio.iter().position(|&s| s != 0).unwrap_or(audio.len());
    assert!(spoken < 8 * 400, "{spoken} samples of silence first");
    assert_samples_match(sent, &audio[spoken..], 0.95);
    let (stray, _) = best_correlation(&through_pcmu(&stray_tone(1000)), &audio, 80);
    assert!(stray < 0.2, "the stray tone is in the recording ({stray})");
}

/// Answers the gateway's BYE, if it comes.
fn answer_bye(ua: &Ua) {
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
}

#[test]
fn a_second_stream_from_the_callers_ip_is_neither_recorded_nor_heard() {
    let gw = Gateway::start(GatewayOptions {
        greetings: short_greeting(),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(&gw, ALICE, "");
    // Another call's stream on the same SBC address, from another port, from the moment the
    // call is answered: audio all along and an RFC 4733 '#' in the middle of the message. The
    // caller's phone sends from the moment it is answered too (silence while it listens).
    let stray = Ua::new("127.0.0.1", gw.sip);
    let sent = test_signal(3000);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let (mut seq, mut ts) = (9000u16, 77_000u32);
            let tone = stray_tone(2500);
            stray.send_audio(media, &tone, 0x5757, &mut seq, &mut ts);
            stray.send_dtmf(media, '#', ts);
            stray.send_audio(media, &tone[..12_000], 0x5757, &mut seq, &mut ts);
        });
        let (mut seq, mut ts) = (1u16, 0u32);
        ua.listen_sending_silence(media, 0x1234, &mut seq, &mut ts);
        ua.send_audio(media, &sent, 0x1234, &mut seq, &mut ts);
        ua.send_dtmf(media, '#', ts);
        answer_bye(&ua);
    });
    let m = message_of(&gw, &ua.call_id);
    assert_only_the_callers_audio(&m, &sent);
    let stats = media_stats(&m);
    assert!(stats.foreign >= 100, "stray packets counted: {stats}");
    assert!(
        gw.log().contains("foreign="),
        "the call's end line shows the count"
    );
}

#[test]
fn a_stream_left_over_from_before_a_restart_does_not_reach_the_next_call() {
    // One RTP port: the call after the restart gets the port of the call before it.
    let mut gw = Gateway::start(GatewayOptions {
        greetings: short_greeting(),
        rtp_port_count: 1,
        ..GatewayOptions::default()
    });
    let mut old = Ua::new("127.0.0.1", gw.sip);
    let port = old.call(&gw, ALICE, "");
    old.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // The old caller's side never learns of the crash and keeps streaming to the port.
        scope.spawn(|| {
            let (mut seq, mut ts) = (100u16, 5_000u32);
            let tone = stray_tone(200);
            while !stop.load(Ordering::Relaxed) {
                old.send_audio(port, &tone, 0xABCD, &mut seq, &mut ts);
            }
        });
        std::thread::sleep(Duration::from_millis(600));
        gw.crash_and_restart();

        let mut ua = Ua::new("127.0.0.1", gw.sip);
        let media: SocketAddr = ua.call(&gw, ALICE, "");
        assert_eq!(media, port, "the only port of the range");
        let sent = test_signal(3000);
        let (mut seq, mut ts) = (1u16, 0u32);
        ua.listen_sending_silence(media, 0x1234, &mut seq, &mut ts);
        ua.send_audio(media, &sent, 0x1234, &mut seq, &mut ts);
        ua.send_dtmf(media, '#', ts);
        answer_bye(&ua);
        stop.store(true, Ordering::Relaxed);

        let m = message_of(&gw, &ua.call_id);
        assert_only_the_callers_audio(&m, &sent);
        let stats = media_stats(&m);
        assert!(stats.foreign >= 50, "stale packets counted: {stats}");
    });
}

#[test]
fn deposits_at_10_30_60_and_90_ms_packets_are_recorded_in_full() {
    let gw = Gateway::start(GatewayOptions {
        greetings: short_greeting(),
        ..GatewayOptions::default()
    });
    std::thread::scope(|scope| {
        for ptime in [10u32, 30, 60, 90] {
            let gw = &gw;
            scope.spawn(move || {
                let mut ua = Ua::new("127.0.0.1", gw.sip);
                let offer = ua.g711_offer_ptime(ptime);
                ua.invite(ALICE, "", &offer);
                let ok = ua.final_response(Duration::from_secs(5));
                assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
                ua.ack(&ok);
                let answer = std::str::from_utf8(&ok.body).unwrap();
                assert!(answer.contains(&format!("a=ptime:{ptime}\r\n")), "{answer}");
                let media = Ua::media_target(&ok);
                // The greeting comes in packets of the asked-for length.
                let prompt =
                    ua.recv_rtp_until_quiet(Duration::from_millis(300), Duration::from_secs(5));
                let per_packet = (ptime * 8) as usize;
                assert!(prompt.len() > 3, "ptime {ptime}: {} packets", prompt.len());
                assert!(
                    prompt.iter().all(|p| p.payload.len() == per_packet),
                    "ptime {ptime}: prompt packet sizes {:?}",
                    prompt.iter().map(|p| p.payload.len()).collect::<Vec<_>>()
                );
                // 2.52 s is a whole number of packets at every one of these packet times.
                let sent = test_signal(2520);
                let (mut seq, mut ts) = (1u16, 0u32);
                ua.send_audio_packets(media, &sent, 0x4242, &mut seq, &mut ts, per_packet);
                ua.send_dtmf(media, '#', ts);
                answer_bye(&ua);
                let m = message_of(gw, &ua.call_id);
                assert_audio_matches(&sent, m.audio_wav.as_ref().expect("audio attached"), 0.95);
                let stats = media_stats(&m);
                assert_eq!(stats.lost, 0, "ptime {ptime}: {stats}");
            });
        }
    });
}
