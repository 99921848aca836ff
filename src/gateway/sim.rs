//! The whole gateway on a fake clock and an in-memory network (quinn's `Pair`, str0m's
//! netem): the core, its calls and their jobs run in one thread, time jumps to the next
//! thing due, and the network can lose, delay, reorder and duplicate the caller's RTP from a
//! seeded RNG. The store, spool and recordings are the real ones in a temporary directory,
//! the prompts the shipped ones. A complete deposit, a subscriber log-in and an attendant
//! transfer run as deterministic tests in milliseconds (`sim_test.rs`).
//!
//! The caller is a scripted user agent: the test sends its SIP and RTP through [`Sim`] and
//! reads what it received; it answers the gateway's BYEs and NOTIFYs by itself.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::call::{Call, CallOutput, Socket};
use super::core::{CoreAction, Env, GatewayCore, Notify};
use super::jobs::Job;
use super::Shared;
use crate::config::Config;
use crate::media::g711::G711;
use crate::media::rtp::RtpHeader;
use crate::sip::endpoint::CallId;
use crate::sip::message::{Message, Method};
use crate::sip::{Remote, Transport};

/// The gateway's SIP address.
pub const GATEWAY: SocketAddr = addr([127, 0, 0, 1], 5060);
/// The caller's SIP and RTP addresses (a trusted peer).
pub const CALLER_SIP: SocketAddr = addr([127, 0, 0, 2], 5060);
pub const CALLER_RTP: SocketAddr = addr([127, 0, 0, 2], 4000);

const fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        port,
    )
}

/// How the network treats the caller's RTP to the gateway (SIP is never impaired: its
/// retransmissions are the transaction layer's business, tested on their own).
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    pub loss: f64,
    pub duplicate: f64,
    /// Extra delay drawn uniformly up to this, so packets overtake each other.
    pub jitter: Duration,
}

impl Impairment {
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        duplicate: 0.0,
        jitter: Duration::ZERO,
    };
}

/// RTP sockets are addresses on the in-memory network.
struct SimEnv {
    bound: HashSet<SocketAddr>,
}

impl Env for SimEnv {
    type Socket = SocketAddr;

    fn bind(&mut self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        if self.bound.insert(addr) {
            Ok(addr)
        } else {
            Err(std::io::ErrorKind::AddrInUse.into())
        }
    }

    fn spool_free_bytes(&self) -> Option<u64> {
        None
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Datagram {
    at: Instant,
    /// Order of sending, so equal arrival times keep it.
    n: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

struct Running {
    call: Call,
    socket: SocketAddr,
    leg: Option<SocketAddr>,
    next_tick: Instant,
}

/// One packet the caller received.
#[derive(Debug, Clone)]
pub struct Heard {
    pub at: Instant,
    pub bytes: Vec<u8>,
}

/// The gateway and its caller.
pub struct Sim {
    pub now: Instant,
    core: GatewayCore<SimEnv>,
    calls: HashMap<CallId, Running>,
    net: BinaryHeap<Reverse<Datagram>>,
    sent: u64,
    rng: StdRng,
    pub impairment: Impairment,
    /// The caller's SIP arrives over TLS (a connection whose peer was verified), not UDP.
    pub sip_over_tls: bool,
    /// Protects the caller's RTP (SRTP), when set.
    pub caller_srtp: Option<crate::media::srtp::SrtpContext>,
    /// SIP messages the caller received (requests it answered are here too).
    pub sip: VecDeque<Message>,
    /// RTP the caller received.
    pub rtp: Vec<Heard>,
    pub shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

/// A latency every datagram has, so nothing arrives in the instant it is sent.
const LATENCY: Duration = Duration::from_millis(1);
/// Packet interval of the caller's stream.
const TICK: Duration = Duration::from_millis(20);
/// The longest a call waits without a tick when it needs none.
const IDLE_TICK: Duration = Duration::from_secs(1);

impl Sim {
    /// A gateway with `plan` (one dial-plan file's text) and greetings (mailbox, samples).
    pub fn new(plan: &str, greetings: &[(&str, Vec<i16>)]) -> Sim {
        let dir = tempfile::tempdir().expect("temp dir");
        let mailboxes_dir = dir.path().join("mailboxes");
        for (mailbox, samples) in greetings {
            let mdir = mailboxes_dir.join(mailbox);
            std::fs::create_dir_all(&mdir).expect("mailbox dir");
            write_wav(&mdir.join("greeting.wav"), samples);
        }
        let mut config = Config::default();
        config.call.rng_seed = 7;
        let plans = crate::dialplan::load_files([(Path::new("sim.toml"), plan)])
            .unwrap_or_else(|e| panic!("plan: {e:?}"));
        let store = crate::store::Maildir::with_host(&mailboxes_dir, "sim").expect("maildir");
        let shared = Arc::new(Shared {
            prompts: super::assets::prompt_sets().expect("prompts"),
            store: Arc::new(store),
            spool: super::spool::Spool::open(&dir.path().join("spool")).expect("spool"),
            quota: crate::store::Quota::default(),
            locator: crate::sip::locate::Locator::new(Vec::new()),
            subscriber_sessions: super::call::subscriber::MailboxSessions::new(2),
            previews: None,
            email: None,
            mwi: None,
        });
        let env = SimEnv {
            bound: HashSet::new(),
        };
        let board = crate::telemetry::StatusBoard::new();
        let core = GatewayCore::new(config, plans, shared.clone(), env, board);
        Sim {
            now: Instant::now(),
            core,
            calls: HashMap::new(),
            net: BinaryHeap::new(),
            sent: 0,
            rng: StdRng::seed_from_u64(11),
            impairment: Impairment::NONE,
            sip_over_tls: false,
            caller_srtp: None,
            sip: VecDeque::new(),
            rtp: Vec::new(),
            shared,
            _dir: dir,
        }
    }

    // ---- the caller ----

    /// The caller sends SIP `text` to the gateway.
    pub fn send_sip(&mut self, text: &str) {
        self.send(CALLER_SIP, GATEWAY, text.as_bytes().to_vec(), self.now);
    }

    /// The caller sends an RTP packet to `to` at `at` (through the impaired network).
    pub fn send_rtp(&mut self, to: SocketAddr, mut bytes: Vec<u8>, at: Instant) {
        if let Some(srtp) = &mut self.caller_srtp {
            let len = bytes.len();
            bytes.resize(len + srtp.tag_len(), 0);
            let n = srtp.protect(&mut bytes, len).expect("SRTP protect");
            bytes.truncate(n);
        }
        let imp = self.impairment;
        if self.rng.gen_bool(imp.loss) {
            return;
        }
        let copies = if self.rng.gen_bool(imp.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = imp.jitter.mul_f64(self.rng.gen::<f64>());
            self.send(CALLER_RTP, to, bytes.clone(), at + jitter);
        }
    }

    /// Streams `samples` as PCMU, 20 ms a packet from now on, then lets time run to its end.
    pub fn send_audio(&mut self, to: SocketAddr, samples: &[i16], seq: &mut u16, ts: &mut u32) {
        let start = self.now;
        for (k, frame) in samples.chunks(160).enumerate() {
            let mut buf = vec![0u8; 12 + frame.len()];
            RtpHeader {
                marker: k == 0,
                payload_type: 0,
                sequence: *seq,
                timestamp: *ts,
                ssrc: 0x5151,
            }
            .write(&mut buf);
            G711::Pcmu.encode(frame, &mut buf[12..]);
            self.send_rtp(to, buf, start + TICK * k as u32);
            *seq = seq.wrapping_add(1);
            *ts = ts.wrapping_add(frame.len() as u32);
        }
        self.run_for(TICK * samples.len().div_ceil(160) as u32);
    }

    /// Presses `key` (RFC 4733 on the audio's SSRC and sequence space), over 120 ms.
    pub fn press(&mut self, to: SocketAddr, key: char, seq: &mut u16, ts: u32) {
        let event = crate::media::dtmf::char_event(key).expect("a key");
        for k in 0..6u16 {
            let mut buf = [0u8; 16];
            RtpHeader {
                marker: k == 0,
                payload_type: 101,
                sequence: *seq,
                timestamp: ts,
                ssrc: 0x5151,
            }
            .write(&mut buf);
            crate::media::dtmf::TelephoneEvent {
                event,
                end: k >= 3,
                volume: 10,
                duration: 160 * (k + 1).min(4),
            }
            .write(&mut buf[12..]);
            let at = self.now + TICK * u32::from(k);
            self.send_rtp(to, buf.to_vec(), at);
            *seq = seq.wrapping_add(1);
        }
        self.run_for(TICK * 6);
    }

    /// Runs until the caller has received a SIP message `pick` accepts (within `limit`).
    pub fn expect_sip(&mut self, limit: Duration, pick: impl Fn(&Message) -> bool) -> Message {
        let end = self.now + limit;
        loop {
            if let Some(i) = self.sip.iter().position(&pick) {
                return self.sip.remove(i).expect("picked");
            }
            assert!(self.now < end, "no such SIP message within {limit:?}");
            self.step(end);
        }
    }

    /// Runs until no RTP has reached the caller for `quiet` (after at least one packet).
    pub fn listen_until_quiet(&mut self, quiet: Duration, limit: Duration) -> Vec<Heard> {
        let first = self.rtp.len();
        let end = self.now + limit;
        while self.now < end {
            self.step(end);
            let last = self.rtp[first..].last().map(|h| h.at);
            if last.is_some_and(|t| self.now >= t + quiet) {
                break;
            }
        }
        self.rtp[first..].to_vec()
    }

    // ---- time ----

    /// Runs the gateway for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    /// Advances to the next thing due (not past `limit`) and does it.
    fn step(&mut self, limit: Instant) {
        let next = [
            self.net.peek().map(|Reverse(d)| d.at),
            self.core.poll_timeout(),
            self.calls.values().map(|c| c.next_tick).min(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(limit)
        .clamp(self.now, limit);
        self.now = next;
        let now = self.now;
        while self.net.peek().is_some_and(|Reverse(d)| d.at <= now) {
            if let Some(Reverse(d)) = self.net.pop() {
                self.deliver(d);
            }
        }
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.next_tick <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(c) = self.calls.get_mut(&id) {
                c.call.handle_timeout(now);
            }
            self.call_outputs(id);
            // When the call says it next needs time (a packet due, a flow's timer), at most a
            // second away.
            if let Some(c) = self.calls.get_mut(&id) {
                let wanted = c.call.poll_timeout().unwrap_or(now + IDLE_TICK);
                c.next_tick = wanted.clamp(now + Duration::from_millis(1), now + IDLE_TICK);
            }
        }
        self.core_outputs();
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, at: Instant) {
        self.sent += 1;
        self.net.push(Reverse(Datagram {
            at: at.max(self.now) + LATENCY,
            n: self.sent,
            from,
            to,
            bytes,
        }));
    }

    fn deliver(&mut self, d: Datagram) {
        let now = self.now;
        if d.to == GATEWAY {
            let transport = if self.sip_over_tls {
                Transport::Tls {
                    conn: 1,
                    local: GATEWAY,
                }
            } else {
                Transport::Udp { local: GATEWAY }
            };
            let remote = Remote {
                transport,
                addr: d.from,
            };
            self.core.handle_sip(now, remote, &d.bytes);
            self.core_outputs();
        } else if d.to == CALLER_SIP {
            let Ok(m) = Message::parse(&d.bytes) else {
                return;
            };
            // A phone answers the gateway's BYE and the transfer's NOTIFYs itself.
            if matches!(m.method(), Some(Method::Bye | Method::Notify)) {
                let ok = Message::response_to(&m, 200, "OK", Some("sim"));
                self.send(CALLER_SIP, GATEWAY, ok.to_bytes(), now);
            }
            self.sip.push_back(m);
        } else if d.to == CALLER_RTP {
            self.rtp.push(Heard {
                at: now,
                bytes: d.bytes,
            });
        } else if let Some((id, socket)) = self.socket_of(d.to) {
            let mut bytes = d.bytes;
            if let Some(c) = self.calls.get_mut(&id) {
                if c.call.is_bridged() {
                    let len = bytes.len();
                    bytes.resize(len + crate::media::session::SRTP_TAG_ROOM, 0);
                    if let Some(t) = c.call.handle_relay(now, socket, d.from, &mut bytes, len) {
                        let from = match t.socket {
                            Socket::Caller => Some(c.socket),
                            Socket::Leg => c.leg,
                        };
                        if let Some(from) = from {
                            bytes.truncate(t.len);
                            self.send(from, t.destination, bytes, now);
                        }
                    }
                } else {
                    c.call.handle_datagram(now, d.from, &mut bytes);
                }
            }
            self.call_outputs(id);
        }
    }

    fn socket_of(&self, to: SocketAddr) -> Option<(CallId, Socket)> {
        self.calls.iter().find_map(|(id, c)| {
            if c.socket == to {
                Some((*id, Socket::Caller))
            } else if c.leg == Some(to) {
                Some((*id, Socket::Leg))
            } else {
                None
            }
        })
    }

    /// Sends what a call has due, hands its requests to the core and runs its jobs.
    fn call_outputs(&mut self, id: CallId) {
        let now = self.now;
        loop {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            let mut buf = vec![0u8; c.call.packet_room()];
            let mut sends = Vec::new();
            while let Some(t) = c.call.poll_transmit(now, &mut buf) {
                sends.push((c.socket, t.destination, buf[..t.len].to_vec()));
            }
            let output = c.call.poll_output();
            let done = c.call.is_done();
            for (from, to, bytes) in sends {
                self.send(from, to, bytes, now);
            }
            match output {
                Some(CallOutput::Request(r)) => self.core.handle_request(now, id, r),
                Some(CallOutput::Job(job)) => {
                    // The disk answers at once here.
                    let result = job.run();
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.call.handle_job(now, result);
                    }
                }
                None if done => {
                    self.calls.remove(&id);
                    self.core.call_finished(now, id);
                    return;
                }
                None => return,
            }
        }
    }

    /// Sends the core's SIP and carries out its actions.
    fn core_outputs(&mut self) {
        let now = self.now;
        loop {
            let mut progressed = false;
            while let Some(t) = self.core.poll_transmit() {
                progressed = true;
                self.send(GATEWAY, t.remote.addr, t.bytes, now);
            }
            while let Some(action) = self.core.poll_action() {
                progressed = true;
                match action {
                    CoreAction::Start { call, socket } => {
                        let id = call.id();
                        self.calls.insert(
                            id,
                            Running {
                                call: *call,
                                socket,
                                leg: None,
                                next_tick: now,
                            },
                        );
                        self.call_outputs(id);
                    }
                    CoreAction::Signal(id, signal) => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.call.handle_signal(now, signal);
                        }
                        self.call_outputs(id);
                    }
                    CoreAction::AttachLeg(id, socket) => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.leg = Some(socket);
                        }
                    }
                    CoreAction::Job(id, job) => {
                        let result = job.run();
                        self.core.handle_job(now, id, result);
                    }
                    CoreAction::Detached(job) => {
                        Job::run(job);
                    }
                    CoreAction::Mwi(mwi) => {
                        // Targets here are literal addresses: no DNS.
                        let dest = crate::sip::locate::uri_target(&mwi.target)
                            .ok()
                            .and_then(|t| {
                                format!("{}:{}", t.host, t.port.unwrap_or(5060))
                                    .parse()
                                    .ok()
                            });
                        if let Some(dest) = dest {
                            let notify = Notify {
                                body: crate::mwi::message_summary_body(&mwi.account, mwi.counts),
                                target_uri: mwi.target,
                                dest,
                                account: mwi.account,
                            };
                            self.core
                                .send_notify(now, notify, Transport::Udp { local: GATEWAY });
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }
}

fn write_wav(path: &Path, samples: &[i16]) {
    let mut w = hound::WavWriter::create(path, crate::media::recorder::wav_spec()).expect("wav");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("wav");
}

#[cfg(test)]
#[path = "sim_test.rs"]
mod tests;
