//! Faults: kill -9 mid-recording (every call's audio in exactly one message, never a partial
//! one), graceful shutdown, and refusing calls when the disk is (nearly) full.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use umgw::sip::message::Method;
use umgw::store::MessageKind;

/// A distinct signal per call, so each message can be matched to its call by content.
fn call_signal(k: usize, ms: u32) -> Vec<i16> {
    let f = 300.0 + 170.0 * k as f64;
    (0..(ms * 8) as usize)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let env = 0.4
                + 0.6
                    * (std::f64::consts::PI * (0.7 + 0.4 * k as f64) * t)
                        .sin()
                        .abs();
            ((2.0 * std::f64::consts::PI * f * t).sin() * env * 9000.0) as i16
        })
        .collect()
}

#[test]
fn kill_9_mid_recording_loses_no_message_and_shows_no_partial_one() {
    let mut gw = Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
        ..GatewayOptions::default()
    });
    let new_dir = gw.mailbox_dir("alice").join("new");

    // Watch the mailbox the whole time: every visible file must be a complete message.
    let stop = Arc::new(AtomicBool::new(false));
    let partial = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (stop, partial, new_dir) = (stop.clone(), partial.clone(), new_dir.clone());
        std::thread::spawn(move || {
            let mut checked = HashSet::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(entries) = std::fs::read_dir(&new_dir) {
                    for e in entries.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if checked.contains(&name) {
                            continue;
                        }
                        let ok = std::fs::read(e.path())
                            .ok()
                            .and_then(|b| umgw::store::message::parse(&b).ok())
                            .is_some_and(|m| {
                                m.kind == MessageKind::MissedCall
                                    || m.audio_wav
                                        .as_ref()
                                        .is_some_and(|w| hound::WavReader::new(&w[..]).is_ok())
                            });
                        if ok {
                            checked.insert(name);
                        } else {
                            partial.lock().unwrap().push(name);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    // Three callers, each 2 s into their message when the gateway is killed.
    let calls: Vec<_> = (0..3)
        .map(|k| {
            let sip = gw.sip;
            std::thread::spawn(move || {
                let mut ua = Ua::new("127.0.0.1", sip);
                let offer = ua.g711_offer();
                ua.invite("sip:alice@contoso.com", "", &offer);
                let ok = ua.final_response(Duration::from_secs(5));
                assert_eq!(ok.status(), Some(200));
                ua.ack(&ok);
                let media = Ua::media_target(&ok);
                ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(3));
                let audio = call_signal(k, 2000);
                let (mut seq, mut ts) = (1u16, 0u32);
                ua.send_audio(media, &audio, 100 + k as u32, &mut seq, &mut ts);
                (ua.call_id.clone(), audio)
            })
        })
        .collect();
    let sent: Vec<(String, Vec<i16>)> = calls.into_iter().map(|t| t.join().unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        gw.messages("alice").is_empty(),
        "nothing deposited before the crash"
    );

    gw.crash_and_restart();
    let msgs = gw.wait_messages("alice", 3, Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        partial.lock().unwrap().is_empty(),
        "partial messages seen: {:?}",
        partial.lock().unwrap()
    );

    let mut matched = HashSet::new();
    for m in &msgs {
        assert_eq!(m.kind, MessageKind::VoiceMail);
        assert!(
            m.headers
                .iter()
                .any(|(k, v)| k == "X-UMGW-Recovered" && v == "crash"),
            "recovered messages are marked"
        );
        let (k, (call_id, audio)) = sent
            .iter()
            .enumerate()
            .find(|(_, (id, _))| *id == m.call_id)
            .expect("message belongs to one of the calls");
        assert!(matched.insert(k), "call {call_id} deposited twice");
        let got = read_wav(m.audio_wav.as_ref().unwrap());
        // Everything up to the recorder's last buffer write survives: at least 1 s of the 2 s.
        assert!(
            got.len() >= 8000 && got.len() <= audio.len() + 160,
            "{} samples",
            got.len()
        );
        let (corr, _) = best_correlation(&through_pcmu(&audio[..got.len()]), &got, 200);
        assert!(corr > 0.95, "call {k}: correlation {corr}");
    }
    assert_eq!(matched.len(), 3);
    let spool = gw.spool_entries();
    assert!(spool.is_empty(), "spool emptied: {spool:?}");

    // A second restart deposits nothing again.
    gw.crash_and_restart();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gw.messages("alice").len(), 3);
}

/// A gateway where alice has a short tone greeting, with this `call.shutdown_grace_ms`.
fn alice_gateway(shutdown_grace_ms: u64) -> Gateway {
    Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
        shutdown_grace_ms,
        ..GatewayOptions::default()
    })
}

/// A call to alice, answered, past her greeting and recording: the caller and where to send.
fn recording_call(gw: &Gateway) -> (Ua, std::net::SocketAddr) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:alice@contoso.com", "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(3));
    (ua, media)
}

#[test]
fn sigterm_lets_calls_finish_and_refuses_new_ones() {
    let mut gw = alice_gateway(10_000);
    let (ua, media) = recording_call(&gw);
    let audio = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &audio[..4000], 5, &mut seq, &mut ts);

    gw.sigterm();
    gw.wait_log("shutting down: no new calls", Duration::from_secs(3));
    let mut late = Ua::new("127.0.0.1", gw.sip);
    let offer = late.g711_offer();
    late.invite("sip:alice@contoso.com", "", &offer);
    assert_eq!(
        late.final_response(Duration::from_secs(3)).status(),
        Some(503)
    );

    // The call in progress goes on to the end.
    ua.send_audio(media, &audio[4000..], 5, &mut seq, &mut ts);
    ua.send_dtmf(media, '#', ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let msgs = gw.messages("alice");
    assert_eq!(msgs.len(), 1);
    let got = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    assert!((got.len() as i64 - 12000).abs() <= 320, "{}", got.len());
}

#[test]
fn a_call_still_running_when_the_grace_ends_is_hung_up_and_deposited() {
    let mut gw = alice_gateway(1500);
    let (ua, media) = recording_call(&gw);
    // 1 s of the caller's speech, then SIGTERM while the caller is still talking.
    let audio = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &audio[..8000], 5, &mut seq, &mut ts);
    gw.sigterm();
    gw.wait_log("shutting down: no new calls", Duration::from_secs(3));

    // The caller keeps talking past the grace: the gateway hangs up (BYE) instead of
    // vanishing, and deposits what it recorded now, not at the next start.
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(5));
    ua.ok(&bye);
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        gw.log().contains("shutdown grace over: hanging up"),
        "{}",
        gw.log()
    );
    let msgs = gw.messages("alice");
    assert_eq!(msgs.len(), 1, "one message, deposited before the exit");
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert!(
        !msgs[0].headers.iter().any(|(k, _)| k == "X-UMGW-Recovered"),
        "deposited on the hang-up, not recovered"
    );
    let got = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    assert!(
        got.len() >= 8000,
        "the second of speech is in it: {}",
        got.len()
    );
    let (corr, _) = best_correlation(&through_pcmu(&audio[..8000]), &got[..8000], 200);
    assert!(
        corr > 0.9,
        "the caller's speech, not something else: {corr}"
    );
}

#[test]
fn nearly_full_disk_refuses_new_calls_with_503() {
    // Require more free space than any disk has: every new call must be refused at once.
    let mut gw = Gateway::start(GatewayOptions {
        min_free_disk_mb: Some(1_000_000_000),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    let start = Instant::now();
    ua.invite("sip:alice@contoso.com", "", &offer);
    assert_eq!(
        ua.final_response(Duration::from_secs(3)).status(),
        Some(503)
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(gw.log().contains("disk almost full"));
    gw.sigterm();
    assert!(gw.wait_exit(Duration::from_secs(5)).success());
}

/// Writes zeros to `path` until the file system is full; the bytes written.
fn fill_disk(path: &std::path::Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = [0u8; 4096];
    let mut written = 0u64;
    while let Ok(n) = f.write(&chunk) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    let _ = f.sync_all();
    written
}

#[test]
fn a_full_disk_refuses_calls_before_answering_and_a_message_cut_short_says_so() {
    // No free-space margin: the disk really fills. The spool is a 512 KiB tmpfs; the mailboxes
    // stay on the test's own disk, so what was recorded can still be delivered.
    let mut gw = Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
        min_free_disk_mb: Some(0),
        spool_tmpfs_kib: Some(512),
        ..GatewayOptions::default()
    });
    let spool = gw.dir.path().join("data/spool");
    let filler = spool.join("filler");
    fill_disk(&filler);

    // 1. Nothing can be recorded: 503 before any answer, and nothing half-written is left.
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:alice@contoso.com", "", &offer);
    let refused = ua.final_response(Duration::from_secs(5));
    assert_eq!(refused.status(), Some(503), "log:\n{}", gw.log());
    ua.ack(&refused);
    assert!(gw
        .log()
        .contains("cannot create the spool entry: refusing the call"));
    let left: Vec<String> = gw
        .spool_entries()
        .into_iter()
        .filter(|n| n != "filler")
        .collect();
    assert!(left.is_empty(), "spool after a refused call: {left:?}");

    // 2. Room for the entry and about a second of audio: the recording stops when the disk
    // is full, and the message keeps what was written and says it was cut short.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let size = f.metadata().unwrap().len();
    f.set_len(size.saturating_sub(28 * 1024)).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let media = ua.call(&gw, "sip:alice@contoso.com", "");
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(3));
    let sent = test_signal(4000);
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &sent, 7, &mut seq, &mut ts);
    let bye = ua.expect_request(Method::Bye, Duration::from_secs(8));
    ua.ok(&bye);
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let m = &msgs[0];
    assert_eq!(m.kind, MessageKind::VoiceMail);
    let why = m.cut_short.as_deref().expect("X-UMGW-Cut-Short");
    assert!(why.contains("No space left on device"), "{why}");
    let got = read_wav(m.audio_wav.as_ref().unwrap());
    assert!(
        got.len() >= 4000 && got.len() < sent.len() - 8000,
        "{} samples kept of {}",
        got.len(),
        sent.len()
    );
    let (corr, _) = best_correlation(&through_pcmu(&sent[..got.len()]), &got, 200);
    assert!(
        corr > 0.95,
        "what was kept is the start of the message: {corr}"
    );

    // 3. No half-written metadata survives a restart either.
    gw.crash_and_restart();
    let tmp: Vec<String> = gw
        .spool_entries()
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}
