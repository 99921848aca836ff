//! SIPp scenarios (tests/sipp/*.xml) against the real `umgw` binary.
//!
//! sipp comes from the Debian package `sip-tester`, installed by scripts/install-test-deps.sh
//! (the README's test command runs it first). These tests fail, never skip, when sipp is
//! missing. `play_pcap_audio` sends through a raw socket, so the media scenario needs root,
//! as CI has.

mod support;

use std::fs;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use support::sipp::*;
use support::*;
use umgw::media::g711::G711;
use umgw::media::rtp;
use umgw::store::MessageKind;

/// A default gateway, and what a caller depositing for alice says (`deposit.pcap` in `work`),
/// hears (her greeting, then the beep) and how long it listens first.
struct Deposit {
    gw: Gateway,
    work: tempfile::TempDir,
    spoken: Vec<i16>,
    greeting: std::sync::Arc<[i16]>,
    listen_ms: u64,
}

fn deposit_to_alice() -> Deposit {
    assert!(
        unsafe_is_root(),
        "play_pcap_audio needs root (raw socket); run the test suite as root, as CI does"
    );
    let gw = Gateway::start(GatewayOptions::default());
    let work = tempfile::tempdir().unwrap();
    let spoken = test_signal(3000);
    support::pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &spoken).unwrap();
    // The greeting alice's callers hear: composed from the shipped prompts, then the beep.
    let prompts = umgw::gateway::assets::prompts().unwrap();
    let greeting = umgw::gateway::default_greeting(&prompts, "1001");
    let listen_ms = (greeting.len() / 8) as u64 + 250 + 400;
    Deposit {
        gw,
        work,
        spoken,
        greeting,
        listen_ms,
    }
}

#[test]
fn sipp_deposit_with_history_info_ends_in_maildir() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let Deposit {
        gw,
        work,
        spoken,
        greeting,
        listen_ms,
    } = deposit_to_alice();

    let rtp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_rx.local_addr().unwrap().port().to_string();
    let collector = std::thread::spawn(move || {
        rtp_rx
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut got: Vec<(Instant, Vec<u8>)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            match rtp_rx.recv_from(&mut buf) {
                Ok((n, _)) => got.push((Instant::now(), buf[..n].to_vec())),
                Err(_)
                    if got.len() > 100
                        && got.last().unwrap().0.elapsed() > Duration::from_secs(3) =>
                {
                    break
                }
                Err(_) => {}
            }
        }
        got
    });

    let (ok, log) = run_deposit(
        &gw,
        work.path(),
        "sip:alice@contoso.com",
        &rtp_port,
        listen_ms,
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());

    // 1. The message is in alice's Maildir, with the caller's audio.
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    let m = &msgs[0];
    assert_eq!(m.kind, MessageKind::VoiceMail);
    assert_eq!(m.mailbox_address, "sip:alice@contoso.com");
    assert_eq!(m.caller.as_deref(), Some("+14255550199"));
    assert_recording_matches(&spoken, m.audio_wav.as_ref().expect("audio attached"));

    // 2. The caller heard the greeting and the beep: paced 20 ms packets, correct numbering,
    //    and audio that is the greeting.
    let got = collector.join().unwrap();
    let packets: Vec<_> = got
        .iter()
        .map(|(at, b)| {
            let p = rtp::parse(b).unwrap();
            (
                *at,
                p.marker,
                p.sequence,
                p.timestamp,
                p.ssrc,
                p.payload.to_vec(),
            )
        })
        .collect();
    let greeting_packets = greeting.len().div_ceil(160);
    assert!(
        packets.len() > greeting_packets,
        "{} RTP packets, greeting alone is {greeting_packets}",
        packets.len()
    );
    assert!(packets[0].1, "first packet carries the marker bit");
    for w in packets[..greeting_packets].windows(2) {
        assert_eq!(w[1].2, w[0].2.wrapping_add(1), "sequence");
        assert_eq!(w[1].3.wrapping_sub(w[0].3), 160, "timestamp step");
        assert_eq!(w[1].4, w[0].4, "ssrc");
    }
    let span = packets[greeting_packets - 1].0 - packets[0].0;
    let expected = Duration::from_millis(20 * (greeting_packets as u64 - 1));
    let drift = span.as_secs_f64() - expected.as_secs_f64();
    assert!(
        drift.abs() < 0.1,
        "greeting took {span:?}, expected {expected:?}"
    );
    let mut heard = Vec::new();
    for p in &packets[..greeting_packets] {
        let mut s = vec![0i16; p.5.len()];
        G711::Pcmu.decode(&p.5, &mut s);
        heard.extend(s);
    }
    let (gcorr, glag) = best_correlation(&through_pcmu(&greeting), &heard, 10);
    assert!(gcorr > 0.99, "greeting correlation {gcorr} (lag {glag})");
}

#[test]
fn sipp_unknown_mailbox_gets_404() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions::default());
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "reject.xml:404",
        work.path(),
        &[
            "-key",
            "called",
            "sip:nobody@contoso.com",
            "-key",
            "pt",
            "0",
            "-key",
            "codec_name",
            "PCMU",
        ],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
}

#[test]
fn sipp_untrusted_peer_gets_403() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions {
        trusted: vec!["127.0.0.2".into()],
        ..GatewayOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "reject.xml:403",
        work.path(),
        &[
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "pt",
            "0",
            "-key",
            "codec_name",
            "PCMU",
        ],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    assert!(gw.messages("alice").is_empty());
}

#[test]
fn sipp_no_common_codec_gets_488() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions::default());
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "reject.xml:488",
        work.path(),
        &[
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "pt",
            "18",
            "-key",
            "codec_name",
            "G729",
        ],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
}

#[test]
fn sipp_cancel_before_answer() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions {
        answer_delay_ms: 5000,
        ..GatewayOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = run_sipp(
        &gw,
        "cancel.xml",
        work.path(),
        &["-key", "called", "sip:alice@contoso.com"],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    std::thread::sleep(Duration::from_millis(300));
    assert!(gw.messages("alice").is_empty());
}

/// A delayed offer (an INVITE without SDP, as SIP trunks send): the gateway's 200 offers, the
/// ACK answers, and the deposit goes as with an offer (greeting heard at the answer's address,
/// the caller's audio recorded). An ACK that does not answer gets BYE and leaves nothing.
#[test]
fn sipp_delayed_offer_deposit_and_an_ack_without_answer() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let Deposit {
        gw,
        work,
        spoken,
        greeting,
        listen_ms,
    } = deposit_to_alice();
    let rtp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_rx.local_addr().unwrap().port().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heard = rtp_collector(rtp_rx, stop.clone());

    let (ok, log) = run_deposit_scenario(
        &gw,
        "deposit_delayed_offer.xml",
        work.path(),
        "sip:alice@contoso.com",
        &rtp_port,
        listen_ms,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    assert_recording_matches(&spoken, msgs[0].audio_wav.as_ref().expect("audio attached"));
    let heard = heard.join().unwrap();
    let (at, corr) = find_played(&heard, &greeting);
    assert!(
        corr > 0.95 && at < 10,
        "greeting heard at the ACK's address: correlation {corr} at frame {at}"
    );

    let (ok, log) = run_sipp(
        &gw,
        "delayed_offer_no_answer.xml",
        work.path(),
        &["-key", "called", "sip:carol@contoso.com"],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    assert!(
        gw.log()
            .contains("the ACK has no usable answer to our offer"),
        "{}",
        gw.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(gw.messages("carol").is_empty(), "no message, no notice");
}

/// Collects the RTP the gateway sends to a socket of ours until `stop` is set; returns the
/// decoded PCMU audio in arrival order.
fn rtp_collector(
    sock: UdpSocket,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<i16>> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut audio = Vec::new();
        let mut buf = [0u8; 1500];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if let Ok(p) = rtp::parse(&buf[..n]) {
                    let mut s = vec![0i16; p.payload.len()];
                    G711::Pcmu.decode(p.payload, &mut s);
                    audio.extend(s);
                }
            }
        }
        audio
    })
}

/// Where in `heard` (if anywhere) `message` was played: the offset and the normalised
/// correlation of the 20 ms energy envelopes there.
fn find_played(heard: &[i16], message: &[i16]) -> (usize, f64) {
    let h = frame_energy(heard);
    let m = frame_energy(message);
    let mut best = (0, f64::MIN);
    for off in 0..h.len().saturating_sub(m.len()) {
        let w = &h[off..off + m.len()];
        let (ma, mb) = (
            w.iter().sum::<f64>() / m.len() as f64,
            m.iter().sum::<f64>() / m.len() as f64,
        );
        let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
        for (a, b) in w.iter().zip(&m) {
            num += (a - ma) * (b - mb);
            da += (a - ma) * (a - ma);
            db += (b - mb) * (b - mb);
        }
        let c = num / (da.sqrt() * db.sqrt()).max(1e-9);
        if c > best.1 {
            best = (off, c);
        }
    }
    best
}

/// One subscriber-access call by SIPp with the keys (and speech) of `parts`; returns what the
/// gateway played to the caller.
fn sipp_subscriber_call(
    gw: &Gateway,
    work: &Path,
    step: &str,
    parts: &[support::pcap::Part<'_>],
) -> Vec<i16> {
    support::pcap::write_pcap(&work.join(format!("{step}.pcap")), parts).unwrap();
    let rtp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_rx.local_addr().unwrap().port().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = rtp_collector(rtp_rx, stop.clone());
    let (ok, log) = run_sipp(
        gw,
        &format!("subscriber.xml:{step}"),
        work,
        &["-key", "pilot", SA_PILOT, "-key", "rtp_port", &rtp_port],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let heard = collector.join().unwrap();
    assert!(
        ok,
        "sipp {step} failed:\n{log}\n--- umgw log ---\n{}",
        gw.log()
    );
    heard
}

const SA_PILOT: &str = "+14255550100";

/// Issue 4's walk-through, all by SIPp: a message deposited by the deposit scenario, then
/// subscriber-access calls that log in and listen (and save), delete, and record a greeting;
/// after each step the test reads the Maildir and the MWI NOTIFY the gateway sent.
#[test]
fn sipp_subscriber_access_listen_delete_and_record_greeting() {
    use support::pcap::Part::{Audio, Keys, Pause};
    use umgw::store::pin::{PinPolicy, PinStore};
    use umgw::store::{Mailbox, MailboxId, Maildir};

    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    assert!(unsafe_is_root(), "play_pcap_audio needs root (raw socket)");
    let mwi = UdpSocket::bind("127.0.0.1:0").unwrap();
    mwi.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let base = test_plan(5, 1200, Some(mwi.local_addr().unwrap().port()));
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    let gw = Gateway::start(GatewayOptions {
        plan: format!("{head}PilotIdentifiers = [\"{SA_PILOT}\"]\n\n[[Mailbox]]{mailboxes}"),
        ..GatewayOptions::default()
    });
    let mut seen = Vec::new();
    assert_eq!(next_mwi(&mwi, &mut seen), (0, 0), "start-up refresh");
    let root = gw.dir.path().join("data/mailboxes");
    let store = Maildir::open(&root).unwrap();
    let alice = MailboxId::new("alice").unwrap();
    let mut pins = PinStore::default();
    pins.set("246813", "1001", &PinPolicy::default()).unwrap();
    pins.save(&root.join("alice")).unwrap();
    let work = tempfile::tempdir().unwrap();

    // 1. Deposit: the SIPp deposit scenario leaves 3 s for alice.
    let spoken = test_signal(3000);
    support::pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &spoken).unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let (ok, log) = run_sipp(
        &gw,
        "deposit_history_info.xml",
        work.path(),
        &[
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "rtp_port",
            &sink_port,
            "-d",
            "9000",
        ],
    );
    assert!(
        ok,
        "sipp deposit failed:\n{log}\n--- umgw log ---\n{}",
        gw.log()
    );
    assert_eq!(next_mwi(&mwi, &mut seen), (1, 0), "MWI after the deposit");
    let list = store.list(&alice).unwrap();
    assert_eq!(list.len(), 1);
    assert!(!list[0].seen);
    let stored = umgw::store::message::parse(&store.read(&alice, &list[0].id).unwrap()).unwrap();
    let stored_audio = read_wav(stored.audio_wav.as_deref().unwrap());

    // Extension, then PIN: typed as a person would, a pause for each answer.
    let login = [
        Pause(600),
        Keys("1001#"),
        Pause(900),
        Keys("246813#"),
        Pause(3000),
    ];

    // 2. Log in, listen to the new message (envelope, then the audio), save it, leave.
    let mut parts = login.to_vec();
    parts.extend([Keys("1"), Pause(16_000), Keys("2"), Pause(4000), Keys("*")]);
    let heard = sipp_subscriber_call(&gw, work.path(), "listen", &parts);
    assert_eq!(next_mwi(&mwi, &mut seen), (0, 1), "MWI after listen + save");
    let list = store.list(&alice).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].seen, "saved");
    let (at, corr) = find_played(&heard, &through_pcmu(&stored_audio));
    assert!(
        corr > 0.9,
        "the message was not played back (best envelope correlation {corr} at frame {at})"
    );

    // 3. Log in, open saved messages, delete the message, leave.
    let mut parts = login.to_vec();
    parts.extend([Keys("2"), Pause(2500), Keys("3"), Pause(4000), Keys("*")]);
    sipp_subscriber_call(&gw, work.path(), "delete", &parts);
    assert_eq!(next_mwi(&mwi, &mut seen), (0, 0), "MWI after the delete");
    assert!(store.list(&alice).unwrap().is_empty(), "deleted");

    // 4. Log in, record a greeting (after the prompt and beep), '#', leave.
    let greeting = test_signal(2000);
    let mut parts = login.to_vec();
    parts.extend([
        Keys("3"),
        Pause(7000),
        Audio(&greeting),
        Keys("#"),
        Pause(3000),
        Keys("*"),
    ]);
    sipp_subscriber_call(&gw, work.path(), "greeting", &parts);
    let saved = read_wav(&fs::read(root.join("alice/greeting.wav")).expect("greeting saved"));
    let (corr, _) = best_correlation(&through_pcmu(&greeting), &saved, 400);
    assert!(corr > 0.95, "greeting correlation {corr}");
    // Recording a greeting changes no counts: no NOTIFY.
    mwi.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = mwi.recv_from(&mut buf) {
        let m = umgw::sip::message::Message::parse(&buf[..n]).unwrap();
        let id = m.call_id().unwrap_or_default().to_owned();
        assert!(
            seen.contains(&id),
            "no new MWI for a greeting, got {}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    assert!(
        !gw.log().contains("246813"),
        "the PIN never reaches the log"
    );
}

const AA_PILOT: &str = "+14255550000";

/// A plan whose attendant transfers key 1 to alice; alice's greeting is a short tone.
fn attendant_gateway() -> Gateway {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    Gateway::start(GatewayOptions {
        plan: format!(
            "{head}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"{AA_PILOT}\"]\n\
             BusinessHoursKeyMapping = [{{ Key = \"1\", Action = \"Transfer\", Target = \"1001\" }}]\n\n\
             [[Mailbox]]{mailboxes}"
        ),
        greetings: vec![(
            "alice".into(),
            umgw::media::prompts::tone(800.0, 400, 0.3),
        )],
        ..GatewayOptions::default()
    })
}

#[test]
fn sipp_attendant_transfer_by_refer() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    assert!(unsafe_is_root(), "play_pcap_audio needs root (raw socket)");
    let gw = attendant_gateway();
    let work = tempfile::tempdir().unwrap();
    support::pcap::write_pcap(
        &work.path().join("transfer.pcap"),
        &[
            support::pcap::Part::Pause(800),
            support::pcap::Part::Keys("1"),
        ],
    )
    .unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let (ok, log) = run_sipp(
        &gw,
        "attendant_transfer.xml:transfer",
        work.path(),
        &["-key", "pilot", AA_PILOT, "-key", "rtp_port", &sink_port],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    assert!(
        gw.log().contains("refer_to=sip:alice@contoso.com"),
        "{}",
        gw.log()
    );
    assert!(gw.messages("alice").is_empty(), "transferred: no message");
}

#[test]
fn sipp_attendant_refer_refused_lands_in_the_mailbox() {
    use support::pcap::Part::{Audio, Keys, Pause};
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    assert!(unsafe_is_root(), "play_pcap_audio needs root (raw socket)");
    let gw = attendant_gateway();
    let work = tempfile::tempdir().unwrap();
    let spoken = test_signal(2500);
    // '1', then the transfer announcement is cut short by the refusal; alice's greeting
    // (400 ms) and the beep play; then the caller speaks and presses '#'.
    support::pcap::write_pcap(
        &work.path().join("refused.pcap"),
        &[
            Pause(800),
            Keys("1"),
            Pause(2500),
            Audio(&spoken),
            Keys("#"),
        ],
    )
    .unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let (ok, log) = run_sipp(
        &gw,
        "attendant_refer_refused.xml:603",
        work.path(),
        &["-key", "pilot", AA_PILOT, "-key", "rtp_port", &sink_port],
    );
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    let audio = read_wav(msgs[0].audio_wav.as_deref().expect("audio"));
    let (corr, lag) = best_correlation(&through_pcmu(&spoken), &audio, 800);
    assert!(
        corr > 0.9,
        "recorded the caller (correlation {corr}, lag {lag})"
    );
}
