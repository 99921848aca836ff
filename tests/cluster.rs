//! Any node serves any user: three gateways on 127.0.0.11-13 sharing one Maildir store (each
//! with its own spool) behind Kamailio on 127.0.0.10, running packaging/kamailio/kamailio.cfg
//! as shipped (Debian `kamailio`, installed by scripts/install-test-deps.sh). Calls spread
//! round robin; a draining node's 503 and a dead node's silence (408) fail over to a live node;
//! a node killed with calls in progress delivers them exactly once when it comes back; a node
//! that comes back takes calls again; pike blocks a flooding source but not the call server
//! listed in PIKE_EXEMPT.
//!
//! One test, one Kamailio: the steps build on each other's state (which node is up).

mod support;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::kamailio::Kamailio;
use support::*;
use umgw::sip::message::Method;
use umgw::store::message::ParsedMessage;
use umgw::store::MessageKind;

const KAMAILIO_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// A call server (Lync pool) in Kamailio's PIKE_EXEMPT: all of a site's calls come from it.
const CALL_SERVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Seconds between Kamailio's OPTIONS probes of each node (PROBE_INTERVAL).
const PROBE_INTERVAL_S: u32 = 1;
/// Probes a node misses before Kamailio takes it out (the shipped PROBE_THRESHOLD).
const PROBE_THRESHOLD: u32 = 2;
/// How long Kamailio waits for a node that says nothing before failing over (the shipped
/// config's tm fr_timer).
const NO_ANSWER: Duration = Duration::from_secs(4);

struct Cluster {
    kamailio: Kamailio,
    nodes: Vec<Gateway>,
    /// The shared Maildir root (the nodes' `paths.mailboxes`); dropped after them.
    _store: tempfile::TempDir,
}

/// A call answered through Kamailio and recording.
struct Call {
    ua: Ua,
    /// Index of the node that answered.
    node: usize,
    media: SocketAddr,
    seq: u16,
    ts: u32,
    /// From INVITE to 200.
    answered_in: Duration,
}

impl Cluster {
    fn start() -> Cluster {
        let store = tempfile::tempdir().unwrap();
        let nodes: Vec<Gateway> = (0..3u8)
            .map(|i| {
                Gateway::start(GatewayOptions {
                    sip_ip: Ipv4Addr::new(127, 0, 0, 11 + i),
                    // Calls reach the nodes only through Kamailio.
                    trusted: vec![KAMAILIO_IP.to_string()],
                    greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
                    shared_mailboxes: Some(store.path().to_owned()),
                    ..GatewayOptions::default()
                })
            })
            .collect();
        let sips: Vec<SocketAddr> = nodes.iter().map(|n| n.sip).collect();
        // The call server's address is exempt from pike, as a site lists its pools.
        let exempt = format!("PIKE_EXEMPT=\"{CALL_SERVER_IP}/32\"");
        let kamailio = Kamailio::start_with(KAMAILIO_IP, &sips, PROBE_INTERVAL_S, &[&exempt]);
        Cluster {
            kamailio,
            nodes,
            _store: store,
        }
    }

    /// Kamailio's log and every node's, for a failing assertion.
    fn logs(&self) -> String {
        self.kamailio.logs_with(&self.nodes)
    }

    /// Calls alice through Kamailio: expects a 200 within `timeout`, ACKs it (through
    /// Kamailio, by the recorded route) and listens to the greeting.
    fn call(&self, timeout: Duration) -> Call {
        let answered =
            self.kamailio
                .call("127.0.0.1", "sip:alice@contoso.com", &self.nodes, timeout);
        let ua = answered.ua;
        ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(3));
        Call {
            ua,
            node: answered.node,
            media: answered.media,
            seq: 1,
            ts: 0,
            answered_in: answered.answered_in,
        }
    }

    /// Ends the recording with # and answers the node's BYE, which comes through Kamailio.
    fn hang_up(&self, call: &mut Call) {
        call.ua.send_dtmf(call.media, '#', call.ts);
        let bye = call.ua.expect_request(Method::Bye, Duration::from_secs(8));
        call.ua.ok(&bye);
    }

    /// A whole short message: answered, 1.5 s of speech, and the caller hangs up (BYE through
    /// Kamailio by the recorded route).
    fn message(&self, timeout: Duration) -> Call {
        let mut call = self.call(timeout);
        speak(&mut call, 1500);
        self.caller_hangs_up(&mut call);
        call
    }

    /// The caller's BYE, through Kamailio by the recorded route; expects its 200.
    fn caller_hangs_up(&self, call: &mut Call) {
        call.ua.bye();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < deadline, "no 200 for BYE\n{}", self.logs());
            let Some(m) = call.ua.recv(Duration::from_millis(100)) else {
                continue;
            };
            if m.cseq().is_some_and(|(_, method)| method == Method::Bye) {
                assert_eq!(m.status(), Some(200), "BYE answered");
                return;
            }
        }
    }

    /// Messages in the shared mailbox, by Call-ID; fails on a Call-ID seen twice.
    fn messages(&self) -> HashMap<String, ParsedMessage> {
        let mut by_call = HashMap::new();
        for m in self.nodes[0].messages("alice") {
            let id = m.call_id.clone();
            assert!(
                by_call.insert(id.clone(), m).is_none(),
                "{id} deposited twice"
            );
        }
        by_call
    }

    /// Waits until the shared mailbox holds exactly the messages of `calls`, each once and each
    /// a voice mail (every caller spoke for longer than the plan's minimum).
    fn expect_messages(&self, calls: &[String]) -> HashMap<String, ParsedMessage> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.messages();
            if got.len() >= calls.len() || Instant::now() > deadline {
                let mut ids: Vec<&String> = got.keys().collect();
                ids.sort();
                let mut want: Vec<&String> = calls.iter().collect();
                want.sort();
                assert_eq!(ids, want, "{}", self.logs());
                for (id, m) in &got {
                    assert_eq!(m.kind, MessageKind::VoiceMail, "{id}");
                }
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether Kamailio's log says it failed `call` over to another node after `code`.
    fn failed_over(&self, call: &Call, code: u16) -> bool {
        let what = format!("fail-over of {} ", call.ua.call_id);
        let after = format!("after {code}");
        self.kamailio
            .log()
            .lines()
            .any(|l| l.contains(&what) && l.contains(&after))
    }

    /// Lets Kamailio probe every node again (a node back up is active after one answer).
    fn wait_probes(&self) {
        std::thread::sleep(Duration::from_millis(u64::from(PROBE_INTERVAL_S) * 2500));
    }
}

fn speak(call: &mut Call, ms: u32) {
    let audio = test_signal(ms);
    let ssrc = 0x5000 + call.node as u32;
    call.ua
        .send_audio(call.media, &audio, ssrc, &mut call.seq, &mut call.ts);
}

fn nodes_of(calls: &[Call]) -> Vec<usize> {
    let mut nodes: Vec<usize> = calls.iter().map(|c| c.node).collect();
    nodes.sort();
    nodes
}

#[test]
fn calls_through_kamailio_survive_draining_and_killed_nodes() {
    let mut cluster = Cluster::start();
    let mut deposited: Vec<String> = Vec::new();

    // 1. Round robin: three calls, one on each node, each message once in the shared store.
    let calls: Vec<Call> = (0..3)
        .map(|_| cluster.message(Duration::from_secs(5)))
        .collect();
    assert_eq!(nodes_of(&calls), [0, 1, 2], "round robin");
    deposited.extend(calls.iter().map(|c| c.ua.call_id.clone()));
    cluster.expect_messages(&deposited);

    // 2. SIGTERM drains a node: its call in progress finishes and is deposited; a new call it
    //    still gets is answered 503 and Kamailio fails it over to another node.
    let mut in_progress = cluster.call(Duration::from_secs(5));
    let draining = in_progress.node;
    let hung_up = AtomicBool::new(false);
    let during: Vec<Call> = std::thread::scope(|s| {
        // The caller in progress goes on talking through the drain.
        s.spawn(|| {
            while !hung_up.load(Ordering::Relaxed) {
                speak(&mut in_progress, 200);
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        cluster.nodes[draining].sigterm();
        cluster.nodes[draining].wait_log("shutting down: no new calls", Duration::from_secs(3));
        let during = (0..3)
            .map(|_| cluster.message(Duration::from_secs(5)))
            .collect();
        hung_up.store(true, Ordering::Relaxed);
        during
    });
    for c in &during {
        assert_ne!(c.node, draining, "a draining node takes no new call");
    }
    // The draining node answers Kamailio's OPTIONS probes 503, so it leaves the rotation
    // within a probe or two; until then round robin may send it one of the three calls, which
    // it refuses with 503 and Kamailio fails over.
    let failed_over = during.iter().filter(|c| cluster.failed_over(c, 503));
    assert!(
        failed_over.count() <= 1,
        "at most one call reaches the draining node before its probes take it out:\n{}",
        cluster.logs()
    );
    cluster.hang_up(&mut in_progress);
    let status = cluster.nodes[draining].wait_exit(Duration::from_secs(10));
    assert!(status.success(), "drained node's exit status {status}");
    deposited.push(in_progress.ua.call_id.clone());
    deposited.extend(during.iter().map(|c| c.ua.call_id.clone()));
    cluster.expect_messages(&deposited);

    // The drained node is gone: the probes take it out of the rotation (each unanswered probe
    // counts when its transaction times out), and no call waits for it.
    std::thread::sleep(
        NO_ANSWER + Duration::from_secs(u64::from(PROBE_INTERVAL_S * (PROBE_THRESHOLD + 2))),
    );
    let without: Vec<Call> = (0..3)
        .map(|_| cluster.message(Duration::from_secs(5)))
        .collect();
    for c in &without {
        assert_ne!(c.node, draining, "a stopped node answers nothing");
        assert!(
            c.answered_in < NO_ANSWER / 4,
            "the probes took the stopped node out: {:?}",
            c.answered_in
        );
    }
    deposited.extend(without.iter().map(|c| c.ua.call_id.clone()));
    cluster.nodes[draining].restart();
    cluster.wait_probes();

    // 3. kill -9 with calls in progress: the drained node is back and takes its share. The
    //    killed node's call is delivered exactly once when it restarts; meanwhile every new call
    //    is answered by a live node: the first after a 408 fail-over, which takes the dead node
    //    out of the rotation, the others at once.
    let mut recording: Vec<Call> = (0..3)
        .map(|_| cluster.call(Duration::from_secs(5)))
        .collect();
    assert_eq!(
        nodes_of(&recording),
        [0, 1, 2],
        "the drained node takes calls again"
    );
    std::thread::scope(|s| {
        for call in recording.iter_mut() {
            s.spawn(move || speak(call, 2000));
        }
    });
    // The round robin's next pick is the first call's node: kill that one, so the next call
    // meets a dead node before any probe has noticed.
    let victim = recording[0].node;
    cluster.nodes[victim].kill();
    let lost = recording.remove(0);
    for call in recording.iter_mut() {
        cluster.caller_hangs_up(call);
    }
    let after: Vec<Call> = (0..4).map(|_| cluster.message(NO_ANSWER * 3)).collect();
    for c in &after {
        assert_ne!(c.node, victim, "a dead node answers nothing");
    }
    assert!(
        after[0].answered_in >= NO_ANSWER * 3 / 4 && cluster.failed_over(&after[0], 408),
        "the first call after the kill goes to the dead node, times out (408) and fails over \
         ({:?}):\n{}",
        after[0].answered_in,
        cluster.logs()
    );
    for c in &after[1..] {
        assert!(
            c.answered_in < NO_ANSWER / 4,
            "the 408 took the dead node out of the rotation: {:?}",
            c.answered_in
        );
    }
    deposited.extend(recording.iter().map(|c| c.ua.call_id.clone()));
    deposited.extend(after.iter().map(|c| c.ua.call_id.clone()));
    cluster.expect_messages(&deposited);

    cluster.nodes[victim].restart();
    deposited.push(lost.ua.call_id.clone());
    let messages = cluster.expect_messages(&deposited);
    let recovered = &messages[&lost.ua.call_id];
    assert_eq!(recovered.kind, MessageKind::VoiceMail);
    assert!(
        recovered
            .headers
            .iter()
            .any(|(k, v)| k == "X-UMGW-Recovered" && v == "crash"),
        "the killed node's call is recovered from its spool"
    );
    let audio = read_wav(recovered.audio_wav.as_ref().unwrap());
    assert!(audio.len() >= 8000, "{} samples recovered", audio.len());
    for (i, node) in cluster.nodes.iter().enumerate() {
        assert!(
            node.spool_entries().is_empty(),
            "node {i}'s spool is empty: {:?}",
            node.spool_entries()
        );
    }

    // 4. The restarted node takes calls again once a probe finds it up.
    cluster.wait_probes();
    let calls: Vec<Call> = (0..3)
        .map(|_| cluster.message(Duration::from_secs(5)))
        .collect();
    assert_eq!(
        nodes_of(&calls),
        [0, 1, 2],
        "the killed node takes calls again"
    );
    deposited.extend(calls.iter().map(|c| c.ua.call_id.clone()));
    cluster.expect_messages(&deposited);

    // 5. pike: a source flooding Kamailio is blocked; calls from other sources go on.
    let flood = UdpSocket::bind("127.0.0.2:0").unwrap();
    let answered = flood_options(&flood, cluster.kamailio.addr, 1000, Duration::ZERO);
    assert!(
        answered < 1000,
        "pike blocks the flood ({answered} of 1000 answered)"
    );
    assert!(
        cluster
            .kamailio
            .log()
            .contains("PIKE - BLOCKing ip 127.0.0.2"),
        "{}",
        cluster.kamailio.log()
    );
    assert_eq!(
        flood_options(&flood, cluster.kamailio.addr, 3, Duration::ZERO),
        0,
        "still blocked"
    );
    let call = cluster.message(Duration::from_secs(5));
    deposited.push(call.ua.call_id.clone());
    cluster.expect_messages(&deposited);

    // 6. The call server (PIKE_EXEMPT) is not counted: 600 requests in about a second, three
    // times PIKE_LIMIT per interval, are all answered (paced, so no socket buffer overflows).
    let pool = UdpSocket::bind((CALL_SERVER_IP, 0)).unwrap();
    let answered = flood_options(&pool, cluster.kamailio.addr, 600, Duration::from_millis(2));
    assert_eq!(answered, 600, "a PIKE_EXEMPT source is never blocked");
    assert!(
        !cluster
            .kamailio
            .log()
            .contains(&format!("BLOCKing ip {CALL_SERVER_IP}")),
        "{}",
        cluster.kamailio.log()
    );
}

/// Sends `n` OPTIONS for Kamailio itself from `sock`, `gap` apart (zero: as fast as it can);
/// how many it answered.
fn flood_options(sock: &UdpSocket, to: SocketAddr, n: usize, gap: Duration) -> usize {
    let local = sock.local_addr().unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    let mut drain = |answered: &mut usize| {
        while sock.recv(&mut buf).is_ok() {
            *answered += 1;
        }
    };
    for i in 0..n {
        let options = format!(
            "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKflood{i}\r\n\
             From: <sip:scan@flood.invalid>;tag=f\r\nTo: <sip:{to}>\r\nCall-ID: flood-{i}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        sock.send_to(options.as_bytes(), to).unwrap();
        drain(&mut answered);
        std::thread::sleep(gap);
    }
    std::thread::sleep(Duration::from_millis(500));
    drain(&mut answered);
    answered
}
