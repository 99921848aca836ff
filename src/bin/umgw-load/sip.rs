//! The generator's SIP side: one UAC dialog per call, sans-IO.
//!
//! [`Uac`] takes datagrams, the media threads' "talk done" and the time as inputs, and queues
//! what to send and what to tell the media threads as [`Output`]s; the shell in `main.rs` owns
//! the socket and the clock. It speaks plain RFC 3261 so that any SIP server takes it, not only
//! umgw: Via branches and From tags are random tokens (§8.1.1.7, §19.3, §25.1), the ACK of a
//! 2xx is a new transaction to the remote target through the route set (§13.2.2.4, §12.2.1.1),
//! the ACK of a failure reuses the INVITE's branch (§17.1.1.3), provisional responses stop the
//! INVITE's retransmissions (Timer A), 2xx retransmissions are ACKed again, and requests from
//! the server (BYE, OPTIONS, a session-refresh re-INVITE) are answered. Requests are built with
//! the crate's own [`Message`], so Content-Length is always right.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use umgw::media::srtp::{SrtpContext, SrtpSuite};
use umgw::sdp::{self, CryptoAttribute};
use umgw::sip::message::{split_header_list, uri_of, Message, Method};

use crate::stats::Histogram;

/// RFC 3261 T1 and T2.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// Timers B and F: give up on a transaction after 64·T1. Also how long a call waits for its
/// final response after the last provisional one (RFC 3261 sets no limit there; a load test
/// must not hang on a server that never answers).
const TX_TIMEOUT: Duration = Duration::from_secs(32);
/// The one crypto suite offered with `--srtp` (Lync's and most SBCs' default).
const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY";

/// What the calls look like; the same for every call but for `{n}` in `mailbox`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where every request goes (the server's SIP address: no DNS, no outbound proxy).
    pub target: SocketAddr,
    /// Our SIP socket's address (Via sent-by, Contact).
    pub local: SocketAddr,
    /// Request-URI and To of the INVITE.
    pub called: String,
    /// From URI.
    pub caller: String,
    /// History-Info target (the mailbox a Lync-style diversion names); `{n}` becomes the
    /// call's number modulo `mailboxes`. `None`: no History-Info.
    pub mailbox: Option<String>,
    pub mailboxes: usize,
    /// Offer RTP/SAVP with an SDES key and require it in the answer.
    pub srtp: bool,
    /// RTP packets each call sends after the answer (20 ms each) before it hangs up.
    pub frames: u32,
    /// The media threads' RTP ports (call `i` is served by thread `i % ports.len()`).
    pub rtp_ports: Vec<u16>,
    /// Distinguishes this run's Call-IDs from any other's.
    pub run: u32,
}

/// What the shell must do.
pub enum Output {
    /// Send a datagram.
    Send(SocketAddr, Vec<u8>),
    /// Call `call` was answered: its media thread starts sending at `due`.
    Start(Box<MediaStart>),
    /// Call `call` ended early (the server hung up, or the call failed): stop its media.
    Stop { worker: usize, call: usize },
}

/// Everything a media thread needs for one call.
pub struct MediaStart {
    pub worker: usize,
    pub call: usize,
    /// Where the server wants RTP (and where its RTP comes from).
    pub media: SocketAddr,
    /// Kernel arrival of the 2xx: the first packet is due then.
    pub due: Instant,
    pub frames: u32,
    /// (protect what we send, unprotect what we receive).
    pub srtp: Option<(SrtpContext, SrtpContext)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// INVITE sent, no response yet (Timer A retransmits it).
    Calling,
    /// A provisional response came: no more retransmissions, waiting for the final one.
    Proceeding,
    Talking,
    /// BYE sent (Timer E retransmits it).
    HangingUp,
    Done,
    Failed,
}

struct Call {
    phase: Phase,
    call_id: String,
    /// Our From, with our tag.
    from: String,
    /// To as the server last sent it (with its tag once it sent one).
    to: String,
    invite: Vec<u8>,
    invite_branch: String,
    /// Our SDES key||salt, when offering SRTP.
    key: Option<[u8; 30]>,
    /// The session-description id of our offer (o= line), so a re-INVITE's answer repeats it.
    session: u64,
    /// Where in-dialog requests go: the 2xx's Contact, through `routes`.
    remote_target: String,
    routes: Vec<String>,
    /// The ACK of the 2xx, sent again for each retransmitted 2xx.
    ack: Option<Vec<u8>>,
    /// The BYE, while it is being retransmitted.
    bye: Option<Vec<u8>>,
    retransmit_at: Instant,
    interval: Duration,
    /// When the running transaction gives up.
    give_up_at: Instant,
    invited: Instant,
}

/// What the SIP side counted.
#[derive(Default)]
pub struct Totals {
    pub answered: u64,
    pub completed: u64,
    pub ended_by_server: u64,
    /// Failed calls by reason: a status code ("401"), "timeout", "BYE 481", ...
    pub failures: BTreeMap<String, u64>,
    /// Answers that did not keep to the offered transport (RTP/AVP to an SRTP offer).
    pub wrong_transport: u64,
    pub first_invite: Option<Instant>,
    pub last_answer: Option<Instant>,
    pub setup_ms: Histogram,
    /// Calls in the talking state now.
    pub talking: usize,
}

impl Totals {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// The calls' SIP dialogs.
pub struct Uac {
    cfg: Config,
    calls: Vec<Call>,
    rng: SmallRng,
    call_id_prefix: String,
    out: VecDeque<Output>,
    pub totals: Totals,
}

impl Uac {
    /// `seed` makes branches, tags and keys reproducible in tests.
    pub fn new(cfg: Config, calls: usize, now: Instant, seed: Option<u64>) -> Uac {
        let rng = seed.map_or_else(SmallRng::from_entropy, SmallRng::seed_from_u64);
        let calls = (0..calls)
            .map(|_| Call {
                phase: Phase::Idle,
                call_id: String::new(),
                from: String::new(),
                to: String::new(),
                invite: Vec::new(),
                invite_branch: String::new(),
                key: None,
                session: 0,
                remote_target: String::new(),
                routes: Vec::new(),
                ack: None,
                bye: None,
                retransmit_at: now,
                interval: T1,
                give_up_at: now,
                invited: now,
            })
            .collect();
        Uac {
            call_id_prefix: format!("load-{}-", cfg.run),
            cfg,
            calls,
            rng,
            out: VecDeque::new(),
            totals: Totals::default(),
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether any started call has not ended yet.
    pub fn busy(&self) -> bool {
        self.calls
            .iter()
            .any(|c| !matches!(c.phase, Phase::Idle | Phase::Done | Phase::Failed))
    }

    fn worker(&self, i: usize) -> usize {
        i % self.cfg.rtp_ports.len().max(1)
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.out.push_back(Output::Send(self.cfg.target, bytes));
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.rng.gen::<u64>())
    }

    fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch={branch};rport", self.cfg.local)
    }

    fn contact(&self) -> String {
        format!("<sip:load@{}>", self.cfg.local)
    }

    /// Places call `i`.
    pub fn invite(&mut self, i: usize, now: Instant) {
        let tag = format!("{:016x}", self.rng.gen::<u64>());
        let branch = self.branch();
        let session = self.rng.gen::<u32>().into();
        let key = self.cfg.srtp.then(|| {
            let mut k = [0u8; 30];
            self.rng.fill(&mut k[..]);
            k
        });
        let port = self.cfg.rtp_ports.get(self.worker(i)).copied().unwrap_or(0);
        let body = offer(self.cfg.local.ip(), port, session, key.as_ref());
        let c = &self.cfg;
        let call_id = format!("{}{i}@{}", self.call_id_prefix, c.local.ip());
        let from = format!("<{}>;tag={tag}", c.caller);
        let to = format!("<{}>", c.called);
        let mut m = Message::request(Method::Invite, c.called.clone());
        m.push("Via", self.via(&branch));
        m.push("Max-Forwards", "70");
        m.push("From", from.clone());
        m.push("To", to.clone());
        m.push("Call-ID", call_id.clone());
        m.push("CSeq", "1 INVITE");
        m.push("Contact", self.contact());
        if let Some(mb) = &c.mailbox {
            let mb = mb.replace("{n}", &(i % c.mailboxes.max(1)).to_string());
            m.push(
                "History-Info",
                format!(
                    "<{mb}?Reason=SIP%3Bcause%3D480>;index=1, <{}>;index=1.1",
                    c.called
                ),
            );
        }
        m.push("Allow", ALLOW);
        m.push("User-Agent", "umgw-load");
        m.push("Content-Type", "application/sdp");
        m.body = body.into_bytes();
        let invite = m.to_bytes();
        self.send(invite.clone());
        let c = &mut self.calls[i];
        *c = Call {
            phase: Phase::Calling,
            call_id,
            from,
            to,
            invite,
            invite_branch: branch,
            key,
            session,
            remote_target: String::new(),
            routes: Vec::new(),
            ack: None,
            bye: None,
            retransmit_at: now + T1,
            interval: T1,
            give_up_at: now + TX_TIMEOUT,
            invited: now,
        };
        self.totals.first_invite.get_or_insert(now);
    }

    /// A request inside call `i`'s dialog (RFC 3261 §12.2.1.1): to the remote target, through
    /// the route set (loose routing).
    fn in_dialog(&mut self, i: usize, method: Method, cseq: u32) -> Message {
        let branch = self.branch();
        let via = self.via(&branch);
        let c = &self.calls[i];
        let cseq = format!("{cseq} {}", method.as_str());
        let mut m = Message::request(method, c.remote_target.clone());
        m.push("Via", via);
        m.push("Max-Forwards", "70");
        for r in &c.routes {
            m.push("Route", r.clone());
        }
        m.push("From", c.from.clone());
        m.push("To", c.to.clone());
        m.push("Call-ID", c.call_id.clone());
        m.push("CSeq", cseq);
        m
    }

    /// The ACK of a non-2xx final response: part of the INVITE transaction, so the INVITE's
    /// Request-URI and branch (RFC 3261 §17.1.1.3).
    fn failure_ack(&self, i: usize) -> Vec<u8> {
        let c = &self.calls[i];
        let mut m = Message::request(Method::Ack, self.cfg.called.clone());
        m.push("Via", self.via(&c.invite_branch));
        m.push("Max-Forwards", "70");
        m.push("From", c.from.clone());
        m.push("To", c.to.clone());
        m.push("Call-ID", c.call_id.clone());
        m.push("CSeq", "1 ACK");
        m.to_bytes()
    }

    fn call_index(&self, msg: &Message) -> Option<usize> {
        msg.call_id()?
            .strip_prefix(&self.call_id_prefix)?
            .split('@')
            .next()?
            .parse::<usize>()
            .ok()
            .filter(|&i| i < self.calls.len())
    }

    /// A datagram from the server; `arrived` is its kernel arrival time.
    pub fn handle_datagram(&mut self, arrived: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        if msg.is_request() {
            self.on_request(&msg, from);
        } else {
            self.on_response(&msg, arrived, from);
        }
    }

    fn on_request(&mut self, msg: &Message, from: SocketAddr) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        let call = self.call_index(msg);
        let reply = |code: u16, reason: &str| Message::response_to(msg, code, reason, None);
        let resp = match (method, call) {
            (Method::Ack, _) => return,
            (Method::Bye, Some(i)) => {
                match self.calls[i].phase {
                    Phase::Talking => {
                        self.calls[i].phase = Phase::Done;
                        self.totals.talking -= 1;
                        self.totals.completed += 1;
                        self.totals.ended_by_server += 1;
                        self.out.push_back(Output::Stop {
                            worker: self.worker(i),
                            call: i,
                        });
                    }
                    // Both hung up at once: the call is over either way.
                    Phase::HangingUp => {
                        self.calls[i].phase = Phase::Done;
                        self.calls[i].bye = None;
                        self.totals.completed += 1;
                    }
                    _ => {}
                }
                reply(200, "OK")
            }
            // A session refresh (RFC 4028) or a media update: keep the session as it is.
            (Method::Invite, Some(i)) if self.calls[i].phase == Phase::Talking => {
                let c = &self.calls[i];
                let port = self.cfg.rtp_ports.get(self.worker(i)).copied();
                let body = offer(
                    self.cfg.local.ip(),
                    port.unwrap_or(0),
                    c.session,
                    c.key.as_ref(),
                );
                let mut r = reply(200, "OK");
                r.push("Contact", self.contact());
                r.push("Allow", ALLOW);
                r.push("Content-Type", "application/sdp");
                r.body = body.into_bytes();
                r
            }
            (Method::Invite, None) => reply(480, "Temporarily Unavailable"),
            (Method::Options, _) => {
                let mut r = reply(200, "OK");
                r.push("Allow", ALLOW);
                r
            }
            (Method::Info | Method::Notify, Some(_)) => reply(200, "OK"),
            (_, None) => reply(481, "Call/Transaction Does Not Exist"),
            _ => reply(501, "Not Implemented"),
        };
        self.out.push_back(Output::Send(from, resp.to_bytes()));
    }

    fn on_response(&mut self, msg: &Message, now: Instant, from: SocketAddr) {
        let (Some(i), Some(status), Some((_, method))) =
            (self.call_index(msg), msg.status(), msg.cseq())
        else {
            return;
        };
        let phase = self.calls[i].phase;
        match (method, status) {
            (Method::Invite, 100..=199) => {
                if matches!(phase, Phase::Calling | Phase::Proceeding) {
                    let c = &mut self.calls[i];
                    c.phase = Phase::Proceeding;
                    c.give_up_at = now + TX_TIMEOUT;
                }
            }
            (Method::Invite, 200..=299) => {
                if matches!(phase, Phase::Calling | Phase::Proceeding) {
                    self.answered(i, msg, now, from);
                } else if let Some(ack) = self.calls[i].ack.clone() {
                    // A retransmitted 2xx: our ACK was lost or is still on its way.
                    self.send(ack);
                }
            }
            (Method::Invite, _) => {
                // Every copy of a failure gets its ACK, or the server keeps retransmitting.
                self.calls[i].to = msg.header("To").unwrap_or_default().to_owned();
                let ack = self.failure_ack(i);
                self.send(ack);
                if matches!(phase, Phase::Calling | Phase::Proceeding) {
                    self.fail(i, status.to_string());
                }
            }
            (Method::Bye, 100..=199) if phase == Phase::HangingUp => {
                // Timer E: after a provisional response, retransmit at T2.
                self.calls[i].interval = T2;
            }
            (Method::Bye, 200..=299) if phase == Phase::HangingUp => {
                self.calls[i].phase = Phase::Done;
                self.calls[i].bye = None;
                self.totals.completed += 1;
            }
            (Method::Bye, 300..) if phase == Phase::HangingUp => {
                self.fail(i, format!("BYE {status}"));
            }
            _ => {}
        }
    }

    /// The INVITE's first 2xx: ACK it, check the answer, start the media.
    fn answered(&mut self, i: usize, msg: &Message, arrived: Instant, from: SocketAddr) {
        {
            let c = &mut self.calls[i];
            c.to = msg.header("To").unwrap_or_default().to_owned();
            c.remote_target = msg
                .header("Contact")
                .map(|v| uri_of(v).to_owned())
                .unwrap_or_else(|| self.cfg.called.clone());
            // The UAC's route set is the Record-Route list reversed (RFC 3261 §12.1.2).
            c.routes = msg
                .headers_named("Record-Route")
                .flat_map(split_header_list)
                .map(str::to_owned)
                .collect();
            c.routes.reverse();
        }
        let ack = self.in_dialog(i, Method::Ack, 1).to_bytes();
        self.calls[i].ack = Some(ack.clone());
        self.send(ack);
        let answer = match check_answer(&msg.body, from.ip(), self.cfg.srtp) {
            Ok(a) => a,
            Err(AnswerError::WrongTransport(why)) => {
                self.totals.wrong_transport += 1;
                self.fail(i, why);
                self.hang_up_failed(i);
                return;
            }
            Err(AnswerError::Unusable(why)) => {
                self.fail(i, why);
                self.hang_up_failed(i);
                return;
            }
        };
        let srtp = match (self.calls[i].key, answer.key) {
            (Some(ours), Some(theirs)) => Some((
                SrtpContext::from_key_salt(SUITE, &ours),
                SrtpContext::from_key_salt(SUITE, &theirs),
            )),
            _ => None,
        };
        let c = &mut self.calls[i];
        c.phase = Phase::Talking;
        let setup_ms = arrived.duration_since(c.invited).as_secs_f64() * 1000.0;
        self.totals.answered += 1;
        self.totals.talking += 1;
        self.totals.last_answer = Some(arrived);
        self.totals.setup_ms.record_ms(setup_ms);
        self.out.push_back(Output::Start(Box::new(MediaStart {
            worker: self.worker(i),
            call: i,
            media: answer.media,
            due: arrived,
            frames: self.cfg.frames,
            srtp,
        })));
    }

    /// Ends the dialog of a call that failed after its 2xx (one BYE, not retransmitted).
    fn hang_up_failed(&mut self, i: usize) {
        let bye = self.in_dialog(i, Method::Bye, 2).to_bytes();
        self.send(bye);
    }

    /// Call `i`'s media thread sent its last packet: hang up.
    pub fn talk_done(&mut self, i: usize, now: Instant) {
        if self.calls.get(i).map(|c| c.phase) != Some(Phase::Talking) {
            return;
        }
        let bye = self.in_dialog(i, Method::Bye, 2).to_bytes();
        self.send(bye.clone());
        self.totals.talking -= 1;
        let c = &mut self.calls[i];
        c.phase = Phase::HangingUp;
        c.bye = Some(bye);
        c.retransmit_at = now + T1;
        c.interval = T1;
        c.give_up_at = now + TX_TIMEOUT;
    }

    fn fail(&mut self, i: usize, why: String) {
        let phase = self.calls[i].phase;
        if matches!(phase, Phase::Idle | Phase::Done | Phase::Failed) {
            return;
        }
        if phase == Phase::Talking {
            self.totals.talking -= 1;
            self.out.push_back(Output::Stop {
                worker: self.worker(i),
                call: i,
            });
        }
        let c = &mut self.calls[i];
        c.phase = Phase::Failed;
        c.bye = None;
        *self.totals.failures.entry(why).or_default() += 1;
    }

    /// Retransmissions (Timers A and E) and time-outs (B, F, and the wait after a 1xx).
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.calls.len() {
            let c = &mut self.calls[i];
            let phase = c.phase;
            if !matches!(phase, Phase::Calling | Phase::Proceeding | Phase::HangingUp) {
                continue;
            }
            if now >= c.give_up_at {
                let why = match phase {
                    Phase::Calling => "timeout",
                    Phase::Proceeding => "timeout after 1xx",
                    _ => "BYE timeout",
                };
                self.fail(i, why.to_owned());
                continue;
            }
            if phase == Phase::Proceeding || now < c.retransmit_at {
                continue;
            }
            // Timer A doubles without a cap, Timer E up to T2.
            c.interval = if phase == Phase::Calling {
                c.interval * 2
            } else {
                (c.interval * 2).min(T2)
            };
            c.retransmit_at = now + c.interval;
            let again = if phase == Phase::Calling {
                Some(c.invite.clone())
            } else {
                c.bye.clone()
            };
            if let Some(bytes) = again {
                self.send(bytes);
            }
        }
    }
}

/// Our SDP offer: PCMU and telephone-event, RTP/SAVP with one SDES key when `key` is given.
pub fn offer(ip: IpAddr, port: u16, session: u64, key: Option<&[u8; 30]>) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let (proto, crypto) = match key {
        Some(k) => {
            let line = CryptoAttribute {
                tag: 1,
                suite: SUITE,
                key_salt: *k,
                lifetime: None,
                mki: None,
                session_params: Vec::new(),
            };
            ("RTP/SAVP", format!("a=crypto:{line}\r\n"))
        }
        None => ("RTP/AVP", String::new()),
    };
    format!(
        "v=0\r\no=- {session} 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n{crypto}a=sendrecv\r\n"
    )
}

/// What the answer lets us do.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub media: SocketAddr,
    /// The answerer's key||salt (decrypts its packets).
    pub key: Option<[u8; 30]>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// RTP/AVP to an RTP/SAVP offer, or the reverse: not what was asked for.
    WrongTransport(String),
    /// No SDP, no audio stream, no usable key.
    Unusable(String),
}

/// Checks the SDP of a 2xx against our offer (`srtp`: RTP/SAVP with one
/// AES_CM_128_HMAC_SHA1_80 key, tag 1). `source` stands in for an unspecified c= address.
pub fn check_answer(body: &[u8], source: IpAddr, srtp: bool) -> Result<Answer, AnswerError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AnswerError::Unusable("answer SDP is not text".into()))?;
    let sd = sdp::parse(text).map_err(|e| AnswerError::Unusable(format!("answer SDP: {e}")))?;
    let m = sd
        .media
        .iter()
        .find(|m| m.media.eq_ignore_ascii_case("audio") && m.port != 0)
        .ok_or_else(|| AnswerError::Unusable("answer has no audio stream".into()))?;
    let want = if srtp { "RTP/SAVP" } else { "RTP/AVP" };
    if !m.proto.eq_ignore_ascii_case(want) {
        return Err(AnswerError::WrongTransport(format!(
            "answered {} to an {want} offer",
            m.proto
        )));
    }
    let key = if srtp {
        let line = m
            .crypto
            .iter()
            .find(|c| c.tag == 1 && c.suite == SUITE)
            .ok_or_else(|| {
                AnswerError::WrongTransport(format!("RTP/SAVP answer without a=crypto:1 {SUITE}"))
            })?;
        Some(line.key_salt)
    } else {
        None
    };
    let ip = m
        .connection
        .or(sd.connection)
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(source);
    Ok(Answer {
        media: SocketAddr::new(ip, m.port),
        key,
    })
}

#[cfg(test)]
#[path = "sip_test.rs"]
mod tests;
