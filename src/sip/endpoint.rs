//! The SIP endpoint: demultiplexes messages to transactions and dialogs, applies the peer ACL,
//! answers what needs no application decision (OPTIONS, CANCEL, BYE, stateless 400/403/405/481/501)
//! and reports calls to the gateway as events. Sans-IO: bytes and `now` in, [`Transmit`]s,
//! timeouts and [`EndpointEvent`]s out.

mod diagnostic;
mod dialog;
mod key;
mod requests;
mod stateless;
#[cfg(test)]
mod test;
mod uac;
mod uas;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, info, warn};

use super::message::{Message, Method};
use super::transaction::{ClientNonInvite, ServerInvite, ServerNonInvite, TimerConfig, TxEvent};
use super::{Remote, StatusCode, Transmit};
use crate::acl::{self, IpNet};
use dialog::{Dialog, DialogState};
use key::TxKey;
use stateless::{unacceptable, unsupported_tags};

pub use diagnostic::Diagnostic;
pub use requests::Notification;

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
    /// The `ms-diagnostics` reason; `None`: the one for the status
    /// ([`Diagnostic::for_status`]).
    pub diagnostic: Option<Diagnostic>,
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
    /// The first ACK for a 2xx of ours carried SDP: the answer to the offer that 2xx made
    /// (the INVITE or re-INVITE had none). Comes before the call's `Acked`.
    AckAnswer { call: CallId, sdp: String },
    /// The caller cancelled before we answered (487 already sent).
    Cancelled { call: CallId },
    /// The caller sent BYE (200 already sent).
    RemoteHangup { call: CallId },
    /// No ACK came for our 200 within 64·T1; the endpoint sends BYE itself.
    AckTimeout { call: CallId },
    /// A re-INVITE carried a new offer (already answered with our current SDP): its audio is
    /// to be sent to `remote` from now on.
    MediaUpdate { call: CallId, remote: SocketAddr },
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
    /// Our FQDN, the `source` of `ms-diagnostics` (empty: the address the peer reached).
    fqdn: String,
    /// Shutting down: OPTIONS keep-alives get 503, so a load balancer's probe takes us out of
    /// its rotation instead of sending calls we would refuse.
    draining: bool,
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
            fqdn: String::new(),
            draining: false,
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

    /// The SIP Call-ID of `call`'s dialog, while the endpoint knows it.
    pub fn sip_call_id(&self, call: CallId) -> Option<String> {
        self.calls.get(&call).map(|d| d.call_id.clone())
    }

    /// Number of live transactions of all kinds.
    pub fn transactions(&self) -> usize {
        self.invites.len() + self.others.len() + self.clients.len() + self.outgoing.len()
    }

    /// Replaces the trusted-peer list (dial-plan reload).
    pub fn set_trusted(&mut self, trusted: Vec<IpNet>) {
        self.config.trusted = trusted;
    }

    /// The FQDN peers know us by (`sip.fqdn`): `ms-diagnostics` names it as the `source`.
    pub fn set_fqdn(&mut self, fqdn: String) {
        self.fqdn = fqdn;
    }

    /// From now on OPTIONS are answered 503 (the gateway drains; INVITEs are refused by the
    /// core's admission).
    pub fn set_draining(&mut self) {
        self.draining = true;
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
                    self.respond_stateless(remote, &msg, StatusCode::FORBIDDEN);
                }
                return;
            }
            self.handle_request(now, remote, msg);
        } else if trusted {
            self.handle_response(now, msg);
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
        if let Some(status) = unacceptable(&msg) {
            info!(peer = %remote.addr, %status, "refusing request");
            return self.refuse(now, remote, &msg, key, status, |r| match status {
                StatusCode::BAD_EXTENSION => {
                    r.push("Unsupported", unsupported_tags(&msg).join(", "))
                }
                StatusCode::NOT_ACCEPTABLE => r.push("Accept", "application/sdp"),
                _ => {}
            });
        }
        if msg.to_tag().is_some() {
            return self.handle_in_dialog(now, remote, msg, key, method);
        }
        match method {
            Method::Invite => self.new_call(now, remote, msg, key),
            Method::Options if self.draining => self.respond(
                now,
                remote,
                &msg,
                key,
                StatusCode::SERVICE_UNAVAILABLE,
                |_| {},
            ),
            Method::Options => self.respond(now, remote, &msg, key, StatusCode::OK, |r| {
                // What an INVITE may carry: the same list a 415 gives.
                r.push("Accept", crate::sdp::ACCEPT);
                r.push("Supported", "");
            }),
            Method::Bye => self.respond(
                now,
                remote,
                &msg,
                key,
                StatusCode::CALL_DOES_NOT_EXIST,
                |_| {},
            ),
            _ => self.respond(now, remote, &msg, key, uas::unhandled(&method), |_| {}),
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
