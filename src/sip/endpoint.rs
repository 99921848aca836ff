//! The SIP endpoint: demultiplexes messages to transactions and dialogs, applies the peer ACL,
//! answers what needs no application decision (OPTIONS, CANCEL, BYE, stateless 400/403/405/481/501)
//! and reports calls to the gateway as events. Sans-IO: bytes and `now` in, [`Transmit`]s,
//! timeouts and [`EndpointEvent`]s out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, info, warn};

use super::message::{self, Message, Method, ParseError};
use super::transaction::{ClientNonInvite, ServerInvite, ServerNonInvite, TimerConfig, TxEvent};
use super::{Remote, Transmit};
use crate::net::acl::{self, IpNet};

/// Methods we implement, for `Allow` headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

/// Option tags we implement: none, so any `Require` is answered 420 (RFC 3261 §8.2.2.3).
const SUPPORTED: &[&str] = &[];

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub timers: TimerConfig,
    pub trusted: Vec<IpNet>,
    /// `Server` / `User-Agent` value; empty: neither header is sent.
    pub server_name: String,
    pub rng_seed: u64,
}

/// What a refusal tells the peer besides its status (`Endpoint::reject_with`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    /// RFC 3261 §20.43 warn-code (3xx: what was wrong with the session description) and text;
    /// the endpoint adds its own address as warn-agent.
    pub warning: Option<(u16, String)>,
    /// `Accept` value: the bodies we take (for a 415, RFC 3261 §21.4.13).
    pub accept: Option<&'static str>,
}

/// Handle of one call (one INVITE dialog) inside the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Handle of an out-of-dialog request we sent (NOTIFY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// What the endpoint tells the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// A new INVITE from a trusted peer; the gateway must `answer` or `reject` it.
    IncomingCall {
        call: CallId,
        request: Box<Message>,
        remote: Remote,
    },
    /// The caller acknowledged our 200: media may start.
    Acked { call: CallId },
    /// The caller cancelled before we answered (487 already sent).
    Cancelled { call: CallId },
    /// The caller sent BYE (200 already sent).
    RemoteHangup { call: CallId },
    /// No ACK came for our 200 within 64·T1; the endpoint sends BYE itself.
    AckTimeout { call: CallId },
    /// A re-INVITE carried a new offer (already answered with our current SDP).
    MediaUpdate { call: CallId, offer: Vec<u8> },
    /// All signalling for the call is over.
    Ended { call: CallId },
    /// Outcome of a request we sent: its final status, or `None` on timeout.
    RequestDone { id: RequestId, status: Option<u16> },
    /// A NOTIFY about our REFER (already answered 200): the status code of the transfer's
    /// INVITE, from the `message/sipfrag` body (100 trying, 200 done, 4xx-6xx failed).
    TransferProgress { call: CallId, status: u16 },
    /// A provisional response to an INVITE we sent (`invite_via`).
    OutgoingProgress { call: CallId, status: u16 },
    /// Our INVITE was answered (ACK sent): `sdp` is the answer.
    OutgoingAnswered { call: CallId, sdp: Vec<u8> },
    /// Our INVITE failed with this status, or got no answer (`None`).
    OutgoingFailed { call: CallId, status: Option<u16> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TxKey {
    branch: String,
    sent_by: String,
    method: String,
}

impl TxKey {
    /// RFC 3261 §17.2.3 (ACK matches the INVITE transaction). Requests without an RFC 3261
    /// branch get a key from the fields RFC 2543 matching used.
    fn of(msg: &Message) -> Option<TxKey> {
        let via = msg.top_via()?;
        let (cseq, method) = msg.cseq()?;
        let method = match method {
            Method::Ack => Method::Invite,
            m => m,
        };
        // A bare magic cookie (RFC 4475 badbranch) identifies nothing: fall back to RFC 2543.
        let branch = match via.branch {
            Some(b) if b.starts_with("z9hG4bK") && b.len() > "z9hG4bK".len() => b,
            _ => format!(
                "2543:{}:{}:{}",
                msg.call_id().unwrap_or(""),
                cseq,
                msg.from_tag().unwrap_or("")
            ),
        };
        Some(TxKey {
            branch,
            sent_by: via.sent_by,
            method: method.as_str().to_owned(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogState {
    /// INVITE received, no final response yet.
    Early,
    /// 200 sent, waiting for ACK.
    Answered,
    Confirmed,
    /// We sent BYE.
    Ending,
    /// Rejected, cancelled or hung up by the peer; removed when its transactions end.
    Terminated,
}

#[derive(Debug)]
struct Dialog {
    state: DialogState,
    invite: Message,
    invite_tx: TxKey,
    remote: Remote,
    call_id: String,
    local_tag: String,
    remote_tag: String,
    local_cseq: u32,
    local_sdp: Option<Vec<u8>>,
    /// Our side of the dialog as our requests carry it in From (with our tag).
    local_party: String,
    /// The peer's side as our requests carry it in To (with its tag, once known).
    remote_party: String,
    /// Where our in-dialog requests go: the peer's Contact.
    remote_target: String,
    /// Route headers for our in-dialog requests (RFC 3261 §12.1).
    route_set: Vec<String>,
    /// Our Contact in this dialog: a `sips:` URI when the dialog was set up with one (RFC 3261
    /// §12.1.1, §8.1.1.8), for the 2xx and for every request we send in it.
    local_contact: String,
    /// We sent the INVITE (the bridged leg of a transfer).
    outgoing: bool,
    /// Our ACK for the 2xx of an outgoing call, resent for its retransmissions.
    ack: Option<Vec<u8>>,
}

impl Dialog {
    /// A request within the dialog, as far as every one needs: Via with `branch`,
    /// Max-Forwards, the route set, From, To, Call-ID and CSeq.
    fn request(&self, method: Method, branch: &str, cseq: u32) -> Message {
        let cseq = format!("{cseq} {}", method.as_str());
        let mut req = Message::request(method, self.remote_target.clone());
        req.push("Via", via(self.remote, branch));
        req.push("Max-Forwards", "70");
        for route in &self.route_set {
            req.push("Route", route.clone());
        }
        req.push("From", self.local_party.clone());
        req.push("To", self.remote_party.clone());
        req.push("Call-ID", self.call_id.clone());
        req.push("CSeq", cseq);
        req
    }
}

/// Our Via for a request on `remote`'s transport.
fn via(remote: Remote, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {};branch={branch};rport",
        remote.transport.via_name(),
        remote.transport.local()
    )
}

#[derive(Debug)]
enum Purpose {
    Bye(CallId),
    Request(RequestId),
    /// CANCEL of an outgoing INVITE: its outcome arrives through the INVITE (487).
    Cancel,
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientNonInvite,
    remote: Remote,
    purpose: Purpose,
    armed: Option<Instant>,
}

/// An INVITE server transaction, its call and the deadline its timer is armed with.
#[derive(Debug)]
struct InviteEntry {
    tx: ServerInvite,
    call: CallId,
    remote: Remote,
    armed: Option<Instant>,
}

#[derive(Debug)]
struct OtherEntry {
    tx: ServerNonInvite,
    remote: Remote,
    armed: Option<Instant>,
}

/// The transaction a timer belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerOf {
    Invite(TxKey),
    Other(TxKey),
    Client(String),
    Outgoing(String),
}

/// Transaction deadlines, earliest first. Lazy: a transaction whose deadline moved leaves its
/// old entry behind, which is skipped when popped (its `armed` no longer matches), so no event
/// scans every transaction: thousands linger for 32 s after each call (Timers J and L).
type Timers = BinaryHeap<Reverse<(Instant, TimerOf)>>;

/// Pushes a transaction's deadline when it changed since it was last armed.
fn arm(
    timers: &mut Timers,
    armed: &mut Option<Instant>,
    next: Option<Instant>,
    of: impl FnOnce() -> TimerOf,
) {
    if next != *armed {
        *armed = next;
        if let Some(t) = next {
            timers.push(Reverse((t, of())));
        }
    }
}

/// The SIP endpoint. See the module docs.
pub struct Endpoint {
    config: EndpointConfig,
    rng: StdRng,
    next_id: u64,
    invites: HashMap<TxKey, InviteEntry>,
    /// INVITE server transactions per call, so ending a call needs no scan of `invites`.
    invites_of: HashMap<CallId, usize>,
    others: HashMap<TxKey, OtherEntry>,
    clients: HashMap<String, ClientEntry>,
    timers: Timers,
    /// Our INVITEs, by branch.
    outgoing: HashMap<String, uac::Outgoing>,
    calls: HashMap<CallId, Dialog>,
    dialog_index: HashMap<(String, String, String), CallId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EndpointEvent>,
}

impl Endpoint {
    pub fn new(config: EndpointConfig) -> Self {
        let rng = if config.rng_seed == 0 {
            StdRng::from_entropy()
        } else {
            StdRng::seed_from_u64(config.rng_seed)
        };
        Self {
            config,
            rng,
            next_id: 1,
            invites: HashMap::new(),
            invites_of: HashMap::new(),
            others: HashMap::new(),
            clients: HashMap::new(),
            timers: BinaryHeap::new(),
            outgoing: HashMap::new(),
            calls: HashMap::new(),
            dialog_index: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Number of calls with dialog state (for status and tests).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Number of live transactions of all kinds.
    pub fn transactions(&self) -> usize {
        self.invites.len() + self.others.len() + self.clients.len() + self.outgoing.len()
    }

    /// Replaces the trusted-peer list (dial-plan reload).
    pub fn set_trusted(&mut self, trusted: Vec<IpNet>) {
        self.config.trusted = trusted;
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        acl::any_contains(&self.config.trusted, ip)
    }

    /// A random token for tags, branches and Call-IDs.
    pub fn token(&mut self) -> String {
        format!("{:016x}", self.rng.gen::<u64>())
    }

    /// Feeds one received message.
    pub fn handle(&mut self, now: Instant, remote: Remote, bytes: &[u8]) {
        let trusted = self.is_trusted(remote.addr.ip());
        let mut msg = match Message::parse(bytes) {
            Ok(msg) => msg,
            Err(err) => {
                if trusted {
                    self.reject_malformed(remote, bytes, err);
                } else {
                    self.reject_untrusted_unparsed(remote, bytes);
                }
                return;
            }
        };
        if msg.is_request() {
            // Before anything answers it: every response copies this Via (RFC 3581).
            msg.stamp_top_via(remote.addr);
            if !trusted {
                // Cheap and stateless: no transaction, no dialog, no lookup (DESIGN: ACL).
                if msg.method() != Some(&Method::Ack) {
                    info!(peer = %remote.addr, method = ?msg.method().map(Method::as_str), "untrusted peer: 403");
                    self.respond_stateless(remote, &msg, 403, "Forbidden");
                }
                return;
            }
            self.handle_request(now, remote, msg);
        } else if trusted {
            self.handle_response(now, msg);
        }
    }

    fn reject_untrusted_unparsed(&mut self, remote: Remote, bytes: &[u8]) {
        if let Ok(mut msg) = Message::parse_unvalidated(bytes) {
            if msg.is_request() && msg.method() != Some(&Method::Ack) && msg.top_via().is_some() {
                msg.stamp_top_via(remote.addr);
                self.respond_stateless(remote, &msg, 403, "Forbidden");
            }
        }
    }

    /// 400/513 with the parse error as reason (505 for a SIP version we do not speak), when
    /// there is enough to address a response: a request (not ACK) with a Via to copy. Its
    /// sent-by need not parse (a SIP/7.0 Via still gets its 505); the response goes back to the
    /// source address either way.
    fn reject_malformed(&mut self, remote: Remote, bytes: &[u8], err: ParseError) {
        match Message::parse_unvalidated(bytes) {
            Ok(mut msg)
                if msg.is_request()
                    && msg.method() != Some(&Method::Ack)
                    && msg.header("Via").is_some() =>
            {
                info!(peer = %remote.addr, error = %err, "malformed request");
                msg.stamp_top_via(remote.addr);
                if err == ParseError::StartLine && Message::has_unsupported_version(bytes) {
                    return self.respond_stateless(remote, &msg, 505, "Version Not Supported");
                }
                let reason = err.to_string();
                self.respond_stateless(remote, &msg, err.status(), &reason);
            }
            _ => debug!(peer = %remote.addr, error = %err, "dropped unparseable message"),
        }
    }

    fn respond_stateless(&mut self, remote: Remote, req: &Message, code: u16, reason: &str) {
        let tag = self.token();
        let mut resp = Message::response_to(req, code, reason, Some(&tag));
        self.decorate(&mut resp, code);
        self.transmits.push_back(Transmit {
            remote,
            bytes: resp.to_bytes(),
        });
    }

    /// Headers every response of ours carries.
    fn decorate(&self, resp: &mut Message, code: u16) {
        push_product(resp, &self.config.server_name);
        // RFC 4475 intmeth: a 501 lists the methods we do understand.
        if code == 405 || code == 501 || (200..300).contains(&code) {
            resp.push("Allow", ALLOW);
        }
    }

    fn handle_request(&mut self, now: Instant, remote: Remote, msg: Message) {
        let Some(key) = TxKey::of(&msg) else {
            return; // validated by Message::parse; unreachable in practice
        };
        let method = msg
            .method()
            .cloned()
            .unwrap_or(Method::Other(String::new()));
        match method {
            Method::Ack => return self.handle_ack(now, &msg, &key),
            Method::Cancel => return self.handle_cancel(now, remote, &msg, key),
            Method::Invite => {
                if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(&key) {
                    tx.handle_retransmitted_invite();
                    return self.drain_invite(now, &key);
                }
            }
            _ => {
                if let Some(OtherEntry { tx, .. }) = self.others.get_mut(&key) {
                    tx.handle_retransmitted_request();
                    return self.drain_other(&key);
                }
            }
        }
        if let Some((code, reason)) = unacceptable(&msg) {
            info!(peer = %remote.addr, code, reason, "refusing request");
            return self.refuse(now, remote, &msg, key, (code, reason), |r| match code {
                420 => r.push("Unsupported", unsupported_tags(&msg).join(", ")),
                406 => r.push("Accept", "application/sdp"),
                _ => {}
            });
        }
        if msg.to_tag().is_some() {
            return self.handle_in_dialog(now, remote, msg, key, method);
        }
        match method {
            Method::Invite => self.new_call(now, remote, msg, key),
            Method::Options => self.respond(now, remote, &msg, key, (200, "OK"), |r| {
                // What an INVITE may carry: the same list a 415 gives.
                r.push("Accept", crate::sdp::ACCEPT);
                r.push("Supported", "");
            }),
            Method::Bye => self.respond(
                now,
                remote,
                &msg,
                key,
                (481, "Call/Transaction Does Not Exist"),
                |_| {},
            ),
            Method::Other(_) => {
                self.respond(now, remote, &msg, key, (501, "Not Implemented"), |_| {})
            }
            _ => self.respond(now, remote, &msg, key, (405, "Method Not Allowed"), |_| {}),
        }
    }

    /// Answers a non-INVITE request through a server transaction (absorbs retransmissions).
    fn respond(
        &mut self,
        now: Instant,
        remote: Remote,
        req: &Message,
        key: TxKey,
        (code, reason): (u16, &str),
        extra: impl FnOnce(&mut Message),
    ) {
        let tag = self.token();
        let mut resp = Message::response_to(req, code, reason, Some(&tag));
        self.decorate(&mut resp, code);
        extra(&mut resp);
        let mut tx = ServerNonInvite::new(remote.transport.is_reliable(), self.config.timers);
        tx.send_response(now, code, resp.to_bytes());
        self.others.insert(
            key.clone(),
            OtherEntry {
                tx,
                remote,
                armed: None,
            },
        );
        self.drain_other(&key);
    }

    /// A final error response through the right kind of server transaction: an INVITE one
    /// (retransmitted until ACKed, absorbs the ACK) for INVITE, a non-INVITE one otherwise.
    fn refuse(
        &mut self,
        now: Instant,
        remote: Remote,
        req: &Message,
        key: TxKey,
        (code, reason): (u16, &str),
        extra: impl FnOnce(&mut Message),
    ) {
        if req.method() != Some(&Method::Invite) {
            return self.respond(now, remote, req, key, (code, reason), extra);
        }
        // The transaction needs a call handle; no dialog exists for it, so none is reported.
        let call = CallId(self.next_id);
        self.next_id += 1;
        let tag = self.token();
        let mut resp = Message::response_to(req, code, reason, Some(&tag));
        self.decorate(&mut resp, code);
        extra(&mut resp);
        let mut tx = ServerInvite::new(remote.transport.is_reliable(), self.config.timers);
        tx.send_response(now, code, resp.to_bytes());
        self.insert_invite(key.clone(), tx, call, remote);
        self.drain_invite(now, &key);
    }

    fn new_call(&mut self, now: Instant, remote: Remote, msg: Message, key: TxKey) {
        let call = CallId(self.next_id);
        self.next_id += 1;
        let local_tag = self.token();
        let call_id = msg.call_id().unwrap_or_default().to_owned();
        let remote_tag = msg.from_tag().unwrap_or_default().to_owned();
        let mut tx = ServerInvite::new(remote.transport.is_reliable(), self.config.timers);
        let mut trying = Message::response_to(&msg, 100, "Trying", None);
        self.decorate(&mut trying, 100);
        tx.send_response(now, 100, trying.to_bytes());
        self.insert_invite(key.clone(), tx, call, remote);
        self.dialog_index.insert(
            (call_id.clone(), local_tag.clone(), remote_tag.clone()),
            call,
        );
        let remote_target = msg
            .header("Contact")
            .map(|c| message::uri_of(c).to_owned())
            .unwrap_or_else(|| message::uri_of(msg.header("From").unwrap_or("")).to_owned());
        // RFC 3261 §12.1.1: a SIPS Request-URI, or top Record-Route (else Contact), means a
        // SIPS Contact in the response and for the dialog's life.
        let top_record_route = msg
            .header("Record-Route")
            .and_then(|rr| message::split_header_list(rr).into_iter().next());
        let secure = is_sips(msg.request_uri().unwrap_or_default())
            || match top_record_route {
                Some(rr) => is_sips(message::uri_of(rr)),
                None => is_sips(&remote_target),
            };
        self.calls.insert(
            call,
            Dialog {
                state: DialogState::Early,
                local_party: format!("{};tag={local_tag}", msg.header("To").unwrap_or("")),
                remote_party: msg.header("From").unwrap_or("").to_owned(),
                remote_target,
                // A UAS uses the Record-Route set in order (RFC 3261 §12.1.1).
                route_set: msg
                    .headers_named("Record-Route")
                    .map(str::to_owned)
                    .collect(),
                local_contact: contact(remote, secure),
                outgoing: false,
                ack: None,
                invite: msg.clone(),
                invite_tx: key.clone(),
                remote,
                call_id,
                local_tag,
                remote_tag,
                local_cseq: 0,
                local_sdp: None,
            },
        );
        self.drain_invite(now, &key);
        self.events.push_back(EndpointEvent::IncomingCall {
            call,
            request: Box::new(msg),
            remote,
        });
    }

    fn find_dialog(&self, msg: &Message) -> Option<CallId> {
        let key = (
            msg.call_id()?.to_owned(),
            msg.to_tag()?.to_owned(),
            msg.from_tag().unwrap_or_default().to_owned(),
        );
        self.dialog_index.get(&key).copied()
    }

    fn handle_in_dialog(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: Message,
        key: TxKey,
        method: Method,
    ) {
        let Some(call) = self.find_dialog(&msg) else {
            return self.refuse(
                now,
                remote,
                &msg,
                key,
                (481, "Call/Transaction Does Not Exist"),
                |_| {},
            );
        };
        match method {
            Method::Bye => {
                self.respond(now, remote, &msg, key, (200, "OK"), |_| {});
                // BYE in an early dialog (after our 180): the INVITE still needs its final
                // response, or its transaction waits forever (RFC 3261 §15.1.2; found by
                // fuzz/endpoint_ops).
                if self.calls.get(&call).map(|d| d.state) == Some(DialogState::Early) {
                    self.final_response(now, call, 487, "Request Terminated", |_| {});
                }
                if let Some(d) = self.calls.get_mut(&call) {
                    if d.state != DialogState::Terminated {
                        d.state = DialogState::Terminated;
                        self.events.push_back(EndpointEvent::RemoteHangup { call });
                    }
                }
                self.forget_call_if_idle(call);
            }
            Method::Invite => self.handle_reinvite(now, remote, msg, key, call),
            Method::Notify => self.handle_refer_notify(now, remote, msg, key, call),
            Method::Options | Method::Info => {
                self.respond(now, remote, &msg, key, (200, "OK"), |_| {})
            }
            Method::Other(_) => {
                self.respond(now, remote, &msg, key, (501, "Not Implemented"), |_| {})
            }
            _ => self.respond(now, remote, &msg, key, (405, "Method Not Allowed"), |_| {}),
        }
    }

    /// A NOTIFY about a REFER we sent (RFC 3515 §2.4.4): its `message/sipfrag` body carries
    /// the status line of the transfer's INVITE.
    fn handle_refer_notify(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: Message,
        key: TxKey,
        call: CallId,
    ) {
        let event = msg.header("Event").unwrap_or("");
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case("refer") {
            return self.respond(now, remote, &msg, key, (489, "Bad Event"), |r| {
                r.push("Allow-Events", "refer")
            });
        }
        let status = sipfrag_status(&msg.body);
        self.respond(now, remote, &msg, key, (200, "OK"), |_| {});
        match status {
            Some(status) => self
                .events
                .push_back(EndpointEvent::TransferProgress { call, status }),
            None => debug!(?call, "REFER NOTIFY without a status line"),
        }
    }

    fn handle_reinvite(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: Message,
        key: TxKey,
        call: CallId,
    ) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let mut tx = ServerInvite::new(remote.transport.is_reliable(), self.config.timers);
        let (code, reason) = match (d.state, &d.local_sdp) {
            (DialogState::Confirmed, Some(_)) => (200, "OK"),
            // RFC 3261 §14.2: a re-INVITE while the previous one is pending.
            (DialogState::Answered, _) => (500, "Server Internal Error"),
            _ => (481, "Call/Transaction Does Not Exist"),
        };
        let mut resp = Message::response_to(&msg, code, reason, None);
        self.decorate(&mut resp, code);
        if code == 200 {
            resp.push("Contact", d.local_contact.clone());
            resp.push("Content-Type", "application/sdp");
            resp.body = d.local_sdp.clone().unwrap_or_default();
        } else if code == 500 {
            resp.push("Retry-After", "1");
        }
        tx.send_response(now, code, resp.to_bytes());
        self.insert_invite(key.clone(), tx, call, remote);
        if code == 200 {
            if let Some(d) = self.calls.get_mut(&call) {
                d.invite_tx = key.clone();
            }
            if !msg.body.is_empty() {
                self.events.push_back(EndpointEvent::MediaUpdate {
                    call,
                    offer: msg.body,
                });
            }
        }
        self.drain_invite(now, &key);
    }

    fn handle_ack(&mut self, now: Instant, msg: &Message, key: &TxKey) {
        // ACK for a non-2xx shares the INVITE's branch; ACK for a 2xx is matched by dialog.
        if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(key) {
            tx.handle_ack(now);
            return self.drain_invite(now, key);
        }
        let Some(call) = self.find_dialog(msg) else {
            return debug!(call_id = ?msg.call_id(), "ACK matches nothing");
        };
        let Some(tx_key) = self.calls.get(&call).map(|d| d.invite_tx.clone()) else {
            return;
        };
        if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(&tx_key) {
            tx.handle_ack(now);
            self.drain_invite(now, &tx_key);
        }
    }

    fn handle_cancel(&mut self, now: Instant, remote: Remote, msg: &Message, key: TxKey) {
        if let Some(OtherEntry { tx, .. }) = self.others.get_mut(&key) {
            tx.handle_retransmitted_request();
            return self.drain_other(&key);
        }
        let invite_key = TxKey {
            method: "INVITE".into(),
            ..key.clone()
        };
        let Some(InviteEntry { tx, call, .. }) = self.invites.get(&invite_key) else {
            return self.respond(
                now,
                remote,
                msg,
                key,
                (481, "Call/Transaction Does Not Exist"),
                |_| {},
            );
        };
        let (is_final, call) = (tx.is_final(), *call);
        self.respond(now, remote, msg, key, (200, "OK"), |_| {});
        if !is_final {
            self.final_response(now, call, 487, "Request Terminated", |_| {});
            if let Some(d) = self.calls.get_mut(&call) {
                d.state = DialogState::Terminated;
            }
            self.events.push_back(EndpointEvent::Cancelled { call });
        }
    }

    fn handle_response(&mut self, now: Instant, msg: Message) {
        let Some(branch) = msg.top_via().and_then(|v| v.branch) else {
            return;
        };
        let Some(code) = msg.status() else { return };
        if msg.cseq().is_some_and(|(_, m)| m == Method::Invite)
            && self.handle_outgoing_response(now, &branch, msg.clone())
        {
            return;
        }
        let branch = if msg.cseq().is_some_and(|(_, m)| m == Method::Cancel) {
            format!("{branch}:cancel")
        } else {
            branch
        };
        if let Some(entry) = self.clients.get_mut(&branch) {
            entry.tx.handle_response(now, code);
            self.drain_client(&branch);
        } else {
            debug!(%branch, code, "response matches no transaction");
        }
    }

    /// Sends a response on the call's INVITE transaction.
    fn final_response(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        reason: &str,
        extra: impl FnOnce(&mut Message),
    ) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let mut resp = Message::response_to(&d.invite, code, reason, Some(&d.local_tag));
        self.decorate(&mut resp, code);
        extra(&mut resp);
        let key = d.invite_tx.clone();
        if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(&key) {
            tx.send_response(now, code, resp.to_bytes());
        }
        self.drain_invite(now, &key);
    }

    /// 180 Ringing for a call not yet answered.
    pub fn ringing(&mut self, now: Instant, call: CallId) {
        if self.calls.get(&call).map(|d| d.state) == Some(DialogState::Early) {
            self.final_response(now, call, 180, "Ringing", |_| {});
        }
    }

    /// Answers the call with our SDP.
    pub fn answer(&mut self, now: Instant, call: CallId, sdp: Vec<u8>) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.state != DialogState::Early {
            return;
        }
        d.state = DialogState::Answered;
        d.local_sdp = Some(sdp.clone());
        let contact = d.local_contact.clone();
        self.final_response(now, call, 200, "OK", move |r| {
            r.push("Contact", contact);
            r.push("Supported", "");
            r.push("Content-Type", "application/sdp");
            r.body = sdp;
        });
    }

    /// Refuses the call with a final error response.
    pub fn reject(&mut self, now: Instant, call: CallId, code: u16, reason: &str) {
        self.reject_with(now, call, code, reason, Explanation::default());
    }

    /// Refuses the call with a final error response and the headers that say why.
    pub fn reject_with(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        reason: &str,
        why: Explanation,
    ) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.state != DialogState::Early {
            return;
        }
        d.state = DialogState::Terminated;
        // warn-agent: the address the peer reached us at, as in our Contact.
        let agent = d.remote.transport.local();
        self.final_response(now, call, code, reason, |r| {
            if let Some((warn_code, text)) = &why.warning {
                r.push("Warning", warning(*warn_code, agent, text));
            }
            if let Some(accept) = why.accept {
                r.push("Accept", accept);
            }
        });
    }

    /// Ends the call from our side: BYE once answered, 480 before.
    pub fn hangup(&mut self, now: Instant, call: CallId) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.outgoing && d.state == DialogState::Early {
            self.cancel_outgoing(now, call);
            return;
        }
        match d.state {
            DialogState::Early => self.reject(now, call, 480, "Temporarily Unavailable"),
            DialogState::Answered | DialogState::Confirmed => {
                d.state = DialogState::Ending;
                self.send_bye(now, call);
            }
            DialogState::Ending | DialogState::Terminated => {}
        }
    }

    fn send_bye(&mut self, now: Instant, call: CallId) {
        self.in_dialog_request(now, call, Method::Bye, Purpose::Bye(call), |_| {});
    }

    /// Asks the caller's side to transfer the call to `refer_to` (RFC 3515 REFER within the
    /// dialog). Only for an established call; the outcome arrives as `RequestDone` for the
    /// REFER, then `TransferProgress` for each NOTIFY the peer sends about it.
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallId,
        refer_to: &str,
        referred_by: &str,
    ) -> Option<RequestId> {
        if self.calls.get(&call).map(|d| d.state) != Some(DialogState::Confirmed) {
            return None;
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let (refer_to, referred_by) = (refer_to.to_owned(), referred_by.to_owned());
        self.in_dialog_request(now, call, Method::Refer, Purpose::Request(id), |r| {
            r.push("Refer-To", format!("<{refer_to}>"));
            r.push("Referred-By", format!("<{referred_by}>"));
        });
        Some(id)
    }

    /// Sends a request within the call's dialog, as the UAS that accepted it.
    fn in_dialog_request(
        &mut self,
        now: Instant,
        call: CallId,
        method: Method,
        purpose: Purpose,
        extra: impl FnOnce(&mut Message),
    ) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        d.local_cseq += 1;
        let mut req = d.request(method, &branch, d.local_cseq);
        req.push("Contact", d.local_contact.clone());
        push_product(&mut req, &self.config.server_name);
        extra(&mut req);
        // The next hop is the peer the call came from: a trusted pool, SBC or proxy.
        let remote = d.remote;
        let tx = ClientNonInvite::new(
            now,
            req.to_bytes(),
            remote.transport.is_reliable(),
            self.config.timers,
        );
        self.clients.insert(
            branch.clone(),
            ClientEntry {
                tx,
                remote,
                purpose,
                armed: None,
            },
        );
        self.drain_client(&branch);
    }

    /// Sends an out-of-dialog request (MWI NOTIFY). Via, Max-Forwards and CSeq are added here.
    pub fn send_request(&mut self, now: Instant, remote: Remote, mut req: Message) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let branch = format!("z9hG4bK{}", self.token());
        let mut full = Message::request(
            req.method().cloned().unwrap_or(Method::Options),
            req.request_uri().unwrap_or_default().to_owned(),
        );
        full.push("Via", via(remote, &branch));
        full.push("Max-Forwards", "70");
        for (name, value) in req.headers() {
            full.push(name, value.clone());
        }
        push_product(&mut full, &self.config.server_name);
        full.body = std::mem::take(&mut req.body);
        let tx = ClientNonInvite::new(
            now,
            full.to_bytes(),
            remote.transport.is_reliable(),
            self.config.timers,
        );
        self.clients.insert(
            branch.clone(),
            ClientEntry {
                tx,
                remote,
                purpose: Purpose::Request(id),
                armed: None,
            },
        );
        self.drain_client(&branch);
        id
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((t, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((t, of))) = self.timers.pop() else {
                break;
            };
            // Disarm first, so the drain re-arms whatever deadline the transaction has next.
            let current = |armed: &mut Option<Instant>| {
                let current = *armed == Some(t);
                if current {
                    *armed = None;
                }
                current
            };
            match of {
                TimerOf::Invite(key) => {
                    if let Some(e) = self.invites.get_mut(&key) {
                        if current(&mut e.armed) {
                            e.tx.handle_timeout(now);
                            self.drain_invite(now, &key);
                        }
                    }
                }
                TimerOf::Other(key) => {
                    if let Some(e) = self.others.get_mut(&key) {
                        if current(&mut e.armed) {
                            e.tx.handle_timeout(now);
                            self.drain_other(&key);
                        }
                    }
                }
                TimerOf::Client(key) => {
                    if let Some(e) = self.clients.get_mut(&key) {
                        if current(&mut e.armed) {
                            e.tx.handle_timeout(now);
                            self.drain_client(&key);
                        }
                    }
                }
                TimerOf::Outgoing(branch) => {
                    if let Some(o) = self.outgoing.get_mut(&branch) {
                        if current(&mut o.armed) {
                            o.tx.handle_timeout(now);
                            self.drain_outgoing(now, &branch);
                        }
                    }
                }
            }
        }
    }

    fn insert_invite(&mut self, key: TxKey, tx: ServerInvite, call: CallId, remote: Remote) {
        let entry = InviteEntry {
            tx,
            call,
            remote,
            armed: None,
        };
        *self.invites_of.entry(call).or_default() += 1;
        if let Some(old) = self.invites.insert(key, entry) {
            self.invite_gone(old.call);
        }
    }

    fn invite_gone(&mut self, call: CallId) {
        if let Some(n) = self.invites_of.get_mut(&call) {
            *n -= 1;
            if *n == 0 {
                self.invites_of.remove(&call);
            }
        }
    }

    fn drain_invite(&mut self, now: Instant, key: &TxKey) {
        let Some(InviteEntry {
            tx, call, remote, ..
        }) = self.invites.get_mut(key)
        else {
            return;
        };
        let (call, remote) = (*call, *remote);
        while let Some(bytes) = tx.poll_transmit() {
            self.transmits.push_back(Transmit { remote, bytes });
        }
        let mut events = Vec::new();
        while let Some(ev) = tx.poll_event() {
            events.push(ev);
        }
        for ev in events {
            match ev {
                TxEvent::Acked => {
                    if let Some(d) = self.calls.get_mut(&call) {
                        if d.state == DialogState::Answered {
                            d.state = DialogState::Confirmed;
                            self.events.push_back(EndpointEvent::Acked { call });
                        }
                    }
                }
                TxEvent::AckTimeout { was_2xx: true }
                    if self.calls.get(&call).map(|d| d.state) == Some(DialogState::Answered) =>
                {
                    warn!(
                        ?call,
                        "no ACK for 200 OK within 64*T1: ending the call with BYE"
                    );
                    self.events.push_back(EndpointEvent::AckTimeout { call });
                    if let Some(d) = self.calls.get_mut(&call) {
                        d.state = DialogState::Ending;
                    }
                    self.send_bye(now, call);
                }
                TxEvent::Terminated => {
                    if self.invites.remove(key).is_some() {
                        self.invite_gone(call);
                    }
                    self.forget_call_if_idle(call);
                }
                _ => {}
            }
        }
        if let Some(e) = self.invites.get_mut(key) {
            arm(&mut self.timers, &mut e.armed, e.tx.poll_timeout(), || {
                TimerOf::Invite(key.clone())
            });
        }
    }

    fn drain_other(&mut self, key: &TxKey) {
        let Some(OtherEntry { tx, remote, armed }) = self.others.get_mut(key) else {
            return;
        };
        let remote = *remote;
        while let Some(bytes) = tx.poll_transmit() {
            self.transmits.push_back(Transmit { remote, bytes });
        }
        while let Some(ev) = tx.poll_event() {
            if ev == TxEvent::Terminated {
                self.others.remove(key);
                return;
            }
        }
        arm(&mut self.timers, armed, tx.poll_timeout(), || {
            TimerOf::Other(key.clone())
        });
    }

    fn drain_client(&mut self, key: &str) {
        let Some(entry) = self.clients.get_mut(key) else {
            return;
        };
        let remote = entry.remote;
        while let Some(bytes) = entry.tx.poll_transmit() {
            self.transmits.push_back(Transmit { remote, bytes });
        }
        let mut events = Vec::new();
        while let Some(ev) = entry.tx.poll_event() {
            events.push(ev);
        }
        let purpose = match &entry.purpose {
            Purpose::Bye(c) => Purpose::Bye(*c),
            Purpose::Request(r) => Purpose::Request(*r),
            Purpose::Cancel => Purpose::Cancel,
        };
        for ev in events {
            let status = match ev {
                TxEvent::Response(code) if code >= 200 => Some(Some(code)),
                TxEvent::Timeout => Some(None),
                TxEvent::Terminated => {
                    self.clients.remove(key);
                    None
                }
                _ => None,
            };
            let Some(status) = status else { continue };
            match purpose {
                Purpose::Bye(call) => {
                    if let Some(d) = self.calls.get_mut(&call) {
                        d.state = DialogState::Terminated;
                    }
                    self.forget_call_if_idle(call);
                }
                Purpose::Request(id) => {
                    self.events
                        .push_back(EndpointEvent::RequestDone { id, status });
                }
                Purpose::Cancel => {}
            }
        }
        if let Some(e) = self.clients.get_mut(key) {
            arm(&mut self.timers, &mut e.armed, e.tx.poll_timeout(), || {
                TimerOf::Client(key.to_owned())
            });
        }
    }

    /// Removes a terminated dialog once its INVITE transactions have ended.
    fn forget_call_if_idle(&mut self, call: CallId) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        if d.state != DialogState::Terminated {
            return;
        }
        if self.invites_of.contains_key(&call) {
            return;
        }
        if let Some(d) = self.calls.remove(&call) {
            self.dialog_index
                .remove(&(d.call_id, d.local_tag, d.remote_tag));
            self.events.push_back(EndpointEvent::Ended { call });
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// The earliest timer of any transaction (possibly one that has since moved: waking early
    /// for it is harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }
}

/// Why a request must be refused before any method handling: 416 for a Request-URI scheme we
/// do not serve, 420 for an option tag we lack, 406 for an INVITE whose Accept rules out SDP
/// (RFC 3261 §8.2.2.1, §8.2.2.3, §8.2.3; RFC 4475 unkscm, novelsc, bext01, sdp01).
fn unacceptable(msg: &Message) -> Option<(u16, &'static str)> {
    let uri = msg.request_uri().unwrap_or_default();
    let scheme = uri.split_once(':').map_or(uri, |(s, _)| s);
    if !["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Some((416, "Unsupported URI Scheme"));
    }
    if !unsupported_tags(msg).is_empty() {
        return Some((420, "Bad Extension"));
    }
    if msg.method() == Some(&Method::Invite) {
        // An empty Accept strictly means "no body"; we read it as no preference, as peers
        // that send one still expect SDP.
        let ranges: Vec<String> = msg
            .headers_named("Accept")
            .flat_map(|v| v.split(','))
            .map(|r| {
                r.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|r| !r.is_empty())
            .collect();
        let sdp = |r: &String| ["application/sdp", "application/*", "*/*"].contains(&r.as_str());
        if !ranges.is_empty() && !ranges.iter().any(sdp) {
            return Some((406, "Not Acceptable"));
        }
    }
    None
}

/// Option tags in `Require` that we do not support, in order.
fn unsupported_tags(msg: &Message) -> Vec<&str> {
    msg.headers_named("Require")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect()
}

/// `Server` on a response, `User-Agent` on a request, with `sip.server_name`; no header at all
/// when that is empty (operators who do not announce the product to peers and scanners).
fn push_product(msg: &mut Message, server_name: &str) {
    if server_name.is_empty() {
        return;
    }
    let header = if msg.is_request() {
        "User-Agent"
    } else {
        "Server"
    };
    msg.push(header, server_name);
}

/// A Warning value (RFC 3261 §20.43): `305 10.0.0.5:5060 "text"`, the text as a quoted string
/// (`"` and `\\` escaped, control characters dropped), at most 200 characters of it.
fn warning(code: u16, agent: std::net::SocketAddr, text: &str) -> String {
    let mut quoted = String::with_capacity(text.len().min(200) + 2);
    for c in text.chars().filter(|c| !c.is_control()).take(200) {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    format!("{code} {agent} \"{quoted}\"")
}

/// Our Contact for a dialog on `remote`'s transport: `sips:` when `secure` (the dialog was
/// set up with a SIPS URI), whose transport is TLS by definition, so no `transport` parameter
/// (RFC 5630 §3.2 deprecates `transport=tls`).
fn contact(remote: Remote, secure: bool) -> String {
    let local = remote.transport.local();
    if secure {
        return format!("<sips:umgw@{local}>");
    }
    let transport = match remote.transport {
        super::Transport::Udp { .. } => "udp",
        super::Transport::Tcp { .. } => "tcp",
        super::Transport::Tls { .. } => "tls",
    };
    format!("<sip:umgw@{local};transport={transport}>")
}

/// Whether a URI has the `sips` scheme (scheme names are case-insensitive).
fn is_sips(uri: &str) -> bool {
    uri.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
}

#[cfg(test)]
mod test;
mod uac;

/// The status code of a `message/sipfrag` body (`SIP/2.0 200 OK`).
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    (100..700).contains(&code).then_some(code)
}
