//! The gateway's core, sans-IO: the SIP endpoint, admission, RTP ports, and every call from
//! its INVITE to its answer and ACK; then the call runs on its own (`call/`) and the core only
//! relays what the endpoint says about it and carries out what it asks (hang up, REFER, a
//! second leg, a NOTIFY). Inputs come with the time they happened; outputs are polled
//! ([`GatewayCore::poll_transmit`] for SIP, [`GatewayCore::poll_action`] for the rest). The
//! tokio driver (`driver.rs`) and the simulation (`sim.rs`) drive the same core.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, error, info, info_span, warn, Span};

use super::admission::{self, Conditions, Reject};
use super::call::deposit;
use super::call::{
    BridgeUpdate, Call, CallContext, CallRequest, CallSignal, CallStart, FlowSetup, Mwi,
    TransferUpdate,
};
use super::jobs::{Job, JobResult};
use super::pending::{self, Pending, PendingMedia, PendingState};
use super::rtp_ports::RtpPorts;

mod bridge;
mod phone;

use super::Shared;
use crate::config::Config;
use crate::dialplan::DialPlans;
use crate::media::g711::G711;
use crate::media::ice::IceCredentials;
use crate::sdp;
use crate::sip::endpoint::{CallId, Endpoint, EndpointConfig, EndpointEvent, RequestId};
use crate::sip::message::Message;
use crate::sip::transaction::TimerConfig;
use crate::sip::{Remote, Transmit, Transport, Uri};
use crate::telemetry;
pub(crate) use phone::PhoneCall;

/// What the core needs from its surroundings: RTP sockets and the spool's free space.
pub(crate) trait Env {
    /// A bound RTP socket, as the driver keeps it.
    type Socket: Send + 'static;
    /// Binds an RTP socket at `addr`.
    fn bind(&mut self, addr: SocketAddr) -> std::io::Result<Self::Socket>;
    /// Free bytes on the spool's file system, if known.
    fn spool_free_bytes(&self) -> Option<u64>;
}

/// What the core asks its driver to do besides sending SIP.
pub(crate) enum CoreAction<S> {
    /// Run an answered call, on its socket, until it is done; then `call_finished`.
    Start { call: Box<Call>, socket: S },
    /// News for a running call.
    Signal(CallId, CallSignal),
    /// A running call's bridged leg answered: its socket (the `Answered` signal follows).
    AttachLeg(CallId, S),
    /// Blocking work for a call not yet running; its result comes back through `handle_job`.
    Job(CallId, Job),
    /// Blocking work nobody waits for (clean-up).
    Detached(Job),
    /// Set a lamp: locate the target (connecting, for TCP/TLS), then `send_notify`.
    Mwi(Mwi),
}

/// How long to wait for the ACK after answering before giving up (the endpoint's Timer H
/// ends the dialog at 64·T1 anyway).
const ACK_WAIT: Duration = Duration::from_secs(40);

/// How long calls hung up at the end of the shutdown grace get to deposit their recordings
/// before the gateway stops anyway (a deposit to a slow store; the spool recovers the rest).
const HANGUP_WINDOW: Duration = Duration::from_secs(5);

/// A shutdown in progress.
#[derive(Debug, Clone, Copy)]
enum Drain {
    /// Calls in progress may go on until this time.
    Grace(Instant),
    /// The calls still running at the end of the grace were hung up; they may deposit until
    /// this time.
    HungUp(Instant),
}

/// A NOTIFY to send once its transport is ready.
#[derive(Debug, Clone)]
pub(crate) struct Notify {
    pub target_uri: String,
    pub dest: SocketAddr,
    pub account: String,
    pub body: String,
}

/// The gateway's core.
pub(crate) struct GatewayCore<E: Env> {
    config: Config,
    plans: DialPlans,
    endpoint: Endpoint,
    env: E,
    shared: Arc<Shared>,
    beep: Arc<[i16]>,
    ports: RtpPorts,
    /// The RTP ports each call holds (its own, and a bridged leg's), released when it ends.
    call_ports: HashMap<CallId, Vec<u16>>,
    pending: HashMap<CallId, Pending<E::Socket>>,
    running: HashSet<CallId>,
    /// REFERs in flight, by request, and the call each transfers.
    transfers: HashMap<RequestId, CallId>,
    /// Second legs of bridged transfers: the leg, the call it serves, the codec offered (the
    /// call's), and its RTP socket until the leg is answered.
    bridges: HashMap<CallId, (CallId, G711, Option<E::Socket>)>,
    /// Calls we placed (play on phone) until answered or failed.
    outbound: HashMap<CallId, phone::Outbound<E::Socket>>,
    actions: VecDeque<CoreAction<E::Socket>>,
    /// Set on shutdown: new calls get 503; the gateway stops when calls end (see [`Drain`]).
    draining: Option<Drain>,
    board: Arc<telemetry::StatusBoard>,
    /// SDP session ids, SDES keys, our SSRCs: seeded by `call.rng_seed` for tests.
    rng: StdRng,
}

impl<E: Env> GatewayCore<E> {
    pub fn new(
        config: Config,
        plans: DialPlans,
        shared: Arc<Shared>,
        env: E,
        board: Arc<telemetry::StatusBoard>,
    ) -> Self {
        let trusted = super::plan_peers(&config, &plans).0;
        let mut endpoint = Endpoint::new(EndpointConfig {
            timers: TimerConfig {
                t1: Duration::from_millis(config.sip.t1_ms),
                t2: Duration::from_millis(config.sip.t2_ms),
                t4: Duration::from_millis(config.sip.t4_ms),
            },
            trusted,
            server_name: config.sip.server_name.clone(),
            rng_seed: config.call.rng_seed,
        });
        endpoint.set_fqdn(config.sip.own_fqdn());
        let seed = config.call.rng_seed;
        let ports = RtpPorts::new(
            config.media.rtp_port_min,
            config.media.rtp_port_max,
            Duration::from_millis(config.media.rtp_port_reuse_delay_ms),
            seed,
        );
        let beep = Arc::from(crate::media::prompts::tone(
            config.call.beep_hz,
            config.call.beep_ms,
            0.5,
        ));
        GatewayCore {
            config,
            plans,
            endpoint,
            env,
            shared,
            beep,
            ports,
            call_ports: HashMap::new(),
            pending: HashMap::new(),
            running: HashSet::new(),
            transfers: HashMap::new(),
            bridges: HashMap::new(),
            outbound: HashMap::new(),
            actions: VecDeque::new(),
            draining: None,
            board,
            rng: if seed == 0 {
                StdRng::from_entropy()
            } else {
                StdRng::seed_from_u64(seed.wrapping_add(1))
            },
        }
    }

    // ---- inputs ----

    /// A SIP message from `remote`.
    pub fn handle_sip(&mut self, now: Instant, remote: Remote, bytes: &[u8]) {
        self.endpoint.handle(now, remote, bytes);
        self.process(now);
    }

    /// Time passed: transaction timers, ringing and ACK waits, the shutdown grace.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        if matches!(self.draining, Some(Drain::Grace(end)) if now >= end) {
            self.end_grace(now);
        }
        let due: Vec<(CallId, PendingState)> = self
            .pending
            .iter()
            .filter_map(|(id, p)| match p.state {
                PendingState::Ringing(at) | PendingState::Answered(at) if at <= now => {
                    Some((*id, p.state))
                }
                _ => None,
            })
            .collect();
        for (call, state) in due {
            match state {
                PendingState::Ringing(_) => self.answer(now, call),
                PendingState::Answered(_) => {
                    let span = self.pending.get(&call).map(|p| p.span.clone());
                    let _in_call = span.as_ref().map(Span::enter);
                    warn!("no ACK: call abandoned");
                    self.drop_pending(now, call);
                }
                PendingState::Preparing => {}
            }
        }
        self.process(now);
    }

    /// A running call's request.
    pub fn handle_request(&mut self, now: Instant, call: CallId, request: CallRequest) {
        match request {
            CallRequest::HangUp => self.endpoint.hangup(now, call),
            CallRequest::Transfer {
                refer_to,
                referred_by,
            } => match refer_to
                .parse()
                .ok()
                .zip(referred_by.parse().ok())
                .and_then(|(to, by): (Uri, Uri)| self.endpoint.refer(now, call, &to, &by))
            {
                Some(id) => {
                    self.transfers.insert(id, call);
                }
                None => self.signal(call, CallSignal::Transfer(TransferUpdate::Refused(None))),
            },
            CallRequest::Bridge {
                target,
                from,
                codec,
            } => self.start_bridge(now, call, &target, &from, codec),
            CallRequest::Mwi(mwi) => self.actions.push_back(CoreAction::Mwi(mwi)),
        }
        self.process(now);
    }

    /// A running call is over (its driver dropped it).
    pub fn call_finished(&mut self, now: Instant, call: CallId) {
        self.running.remove(&call);
        self.board.call_ended(call.0);
        for port in self.call_ports.remove(&call).unwrap_or_default() {
            self.ports.release(port, now);
        }
        // A bridged second leg ends with the call it served.
        let legs: Vec<CallId> = self
            .bridges
            .iter()
            .filter(|(_, (a, ..))| *a == call)
            .map(|(b, _)| *b)
            .collect();
        for leg in legs {
            self.bridges.remove(&leg);
            self.endpoint.hangup(now, leg);
        }
        self.process(now);
    }

    /// A job the core ran for a call not yet answered finished.
    pub fn handle_job(&mut self, now: Instant, call: CallId, result: JobResult) {
        let JobResult::Prepared(prepared) = result else {
            return;
        };
        let Some(p) = self.pending.get_mut(&call) else {
            // The caller went away meanwhile: the entry goes.
            if let Some(prepared) = prepared {
                self.actions
                    .push_back(CoreAction::Detached(prepared.discard()));
            }
            return;
        };
        let span = p.span.clone();
        let _in_call = span.enter();
        match prepared {
            Some(prepared) => {
                p.prepared = Some(prepared);
                self.ring_or_answer(now, call);
            }
            None => {
                self.drop_pending(now, call);
                self.refuse(now, call, &Reject::unavailable());
            }
        }
        self.process(now);
    }

    /// Sends an unsolicited MWI NOTIFY on a transport that is ready.
    pub fn send_notify(&mut self, now: Instant, n: Notify, transport: Transport) {
        let remote = Remote {
            transport,
            addr: n.dest,
        };
        let Ok(target) = n.target_uri.parse::<Uri>() else {
            return warn!(target = %n.target_uri, "MWI target is not a SIP URI: no NOTIFY");
        };
        let content = crate::mwi::notification(n.body);
        let id = self
            .endpoint
            .send_notify(now, remote, &target, &n.account, content);
        info!(target = %n.target_uri, account = %n.account, ?id, "MWI NOTIFY sent");
    }

    /// New dial plans (a reload): calls in progress keep what they resolved.
    pub fn set_dialplans(&mut self, plans: DialPlans) {
        self.plans = plans;
        let trusted = super::plan_peers(&self.config, &self.plans).0;
        self.endpoint.set_trusted(trusted);
    }

    /// Stops taking calls (503) and lets calls in progress finish for `grace`; then hangs up
    /// the calls still running (BYE), which deposit what they recorded.
    pub fn shutdown(&mut self, now: Instant, grace: Duration) {
        if self.draining.is_none() {
            info!(
                calls = self.calls(),
                ?grace,
                "shutting down: no new calls; waiting for calls in progress"
            );
            self.draining = Some(Drain::Grace(now + grace));
            self.endpoint.set_draining();
        }
    }

    /// Whether the gateway may stop: draining, and every call over, or the calls hung up at
    /// the end of the grace given [`HANGUP_WINDOW`] to deposit and still running.
    pub fn is_finished(&self, now: Instant) -> bool {
        match self.draining {
            Some(_) if self.calls() == 0 => {
                info!("all calls finished");
                true
            }
            Some(Drain::HungUp(by)) if now >= by => {
                warn!(
                    calls = self.calls(),
                    "calls still not over after the hang-up: their recordings are recovered at the next start"
                );
                true
            }
            _ => false,
        }
    }

    /// The end of the shutdown grace: every running call is hung up (BYE to the caller) and
    /// told so, as if the caller had hung up, so it deposits what it recorded now rather than
    /// at the next start, and the caller is not left talking to a gateway that is gone.
    fn end_grace(&mut self, now: Instant) {
        let running: Vec<CallId> = self.running.iter().copied().collect();
        warn!(
            calls = running.len(),
            "shutdown grace over: hanging up the calls in progress; their recordings are deposited"
        );
        for call in running {
            self.endpoint.hangup(now, call);
            self.signal(call, CallSignal::Hangup);
        }
        self.draining = Some(Drain::HungUp(now + HANGUP_WINDOW));
    }

    /// Calls admitted and not yet over.
    pub fn calls(&self) -> usize {
        self.pending.len() + self.running.len()
    }

    // ---- outputs ----

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.endpoint.poll_transmit()?;
        if let Some(code) = telemetry::response_code(&t.bytes) {
            metrics::counter!(telemetry::SIP_RESPONSES, "code" => code.to_string()).increment(1);
        }
        Some(t)
    }

    pub fn poll_action(&mut self) -> Option<CoreAction<E::Socket>> {
        self.actions.pop_front()
    }

    /// The next instant `handle_timeout` is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.values().filter_map(|p| match p.state {
            PendingState::Ringing(at) | PendingState::Answered(at) => Some(at),
            PendingState::Preparing => None,
        });
        self.endpoint
            .poll_timeout()
            .into_iter()
            .chain(pending)
            .chain(self.draining.map(|d| match d {
                Drain::Grace(at) | Drain::HungUp(at) => at,
            }))
            .min()
    }

    // ---- internals ----

    /// Acts on what the endpoint reported.
    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.endpoint.poll_event() {
            self.handle_event(now, ev);
        }
    }

    fn handle_event(&mut self, now: Instant, ev: EndpointEvent) {
        match ev {
            EndpointEvent::IncomingCall {
                call,
                request,
                remote,
            } => {
                let span = info_span!(
                    "call",
                    call_id = request.call_id().unwrap_or(""),
                    mailbox = tracing::field::Empty
                );
                let _in_call = span.clone().entered();
                self.incoming_call(now, call, &request, remote, span);
            }
            EndpointEvent::Acked { call } => self.acked(now, call),
            EndpointEvent::Cancelled { call } => {
                if self.pending.contains_key(&call) {
                    self.in_span(call, || info!("caller cancelled before answer"));
                    self.drop_pending(now, call);
                } else {
                    self.signal(call, CallSignal::Cancelled);
                }
            }
            EndpointEvent::RemoteHangup { call } if self.bridges.contains_key(&call) => {
                if let Some((a, ..)) = self.bridges.remove(&call) {
                    info!(leg = ?call, "second leg hung up");
                    self.signal(a, CallSignal::Bridge(BridgeUpdate::Ended));
                }
            }
            EndpointEvent::RemoteHangup { call } | EndpointEvent::AckTimeout { call } => {
                if self.pending.contains_key(&call) {
                    self.in_span(call, || info!("caller left before ACK"));
                    self.drop_pending(now, call);
                } else {
                    self.signal(call, CallSignal::Hangup);
                }
            }
            EndpointEvent::OutgoingProgress { call, status } => {
                debug!(leg = ?call, status, "second leg progress");
            }
            EndpointEvent::OutgoingAnswered { call, sdp } => {
                if !self.outbound_answered(now, call, &sdp) {
                    self.bridge_answered(now, call, &sdp);
                }
            }
            // Ours (play on phone), else a bridged transfer's second leg.
            EndpointEvent::OutgoingFailed { call, status } => {
                if self.outbound_failed(now, call, status) {
                    return;
                }
                if let Some((a, ..)) = self.bridges.remove(&call) {
                    info!(leg = ?call, ?status, "second leg failed");
                    self.signal(a, CallSignal::Bridge(BridgeUpdate::Failed(status)));
                }
            }
            EndpointEvent::MediaUpdate { call, remote } => match self.pending.get_mut(&call) {
                Some(Pending {
                    media: PendingMedia::Agreed(m),
                    ..
                }) => m.remote = remote,
                Some(_) => {}
                None => self.signal(call, CallSignal::RemoteMedia(remote)),
            },
            EndpointEvent::AckAnswer { call, sdp } => self.ack_answer(call, &sdp),
            EndpointEvent::Ended { .. } => {}
            EndpointEvent::TransferProgress { call, status } => {
                info!(?call, status, "transfer progress (NOTIFY)");
                self.signal(call, CallSignal::Transfer(TransferUpdate::Progress(status)));
            }
            EndpointEvent::RequestDone { id, status } => match self.transfers.remove(&id) {
                Some(call) => {
                    let update = match status {
                        Some(code) if code < 300 => TransferUpdate::Accepted,
                        other => TransferUpdate::Refused(other),
                    };
                    info!(?call, ?status, "REFER answered");
                    self.signal(call, CallSignal::Transfer(update));
                }
                // Not a REFER: an MWI NOTIFY, the only other request we send.
                None => match status {
                    Some(code) if code < 300 => info!(?id, code, "NOTIFY accepted"),
                    Some(code) => warn!(?id, code, "NOTIFY refused"),
                    None => warn!(?id, "NOTIFY timed out"),
                },
            },
        }
    }

    fn in_span(&self, call: CallId, f: impl FnOnce()) {
        match self.pending.get(&call) {
            Some(p) => p.span.in_scope(f),
            None => f(),
        }
    }

    fn signal(&mut self, call: CallId, signal: CallSignal) {
        if self.running.contains(&call) {
            self.actions.push_back(CoreAction::Signal(call, signal));
        }
    }

    /// Refuses a call with a final response, counted by status code.
    fn refuse(&mut self, now: Instant, call: CallId, r: &Reject) {
        metrics::counter!(telemetry::CALLS_REJECTED, "code" => r.code.to_string()).increment(1);
        self.endpoint
            .reject_with(now, call, r.status(), r.why.clone());
    }

    fn incoming_call(
        &mut self,
        now: Instant,
        call: CallId,
        request: &Message,
        remote: Remote,
        span: Span,
    ) {
        let conditions = Conditions {
            draining: self.draining.is_some(),
            spool_free: self.env.spool_free_bytes(),
        };
        let plan = match admission::admit(request, &remote, &self.plans, &self.config, conditions) {
            Ok(plan) => plan,
            Err(r) => return self.refuse(now, call, &r),
        };
        let (socket, local) = match self.bind_rtp(now) {
            Ok(bound) => bound,
            Err(e) => {
                error!(error = %e, "no RTP port available: 503");
                return self.refuse(now, call, &Reject::unavailable());
            }
        };
        let mut local_key = [0u8; 30];
        self.rng.fill(&mut local_key[..]);
        let session_id = self.rng.gen_range(1..u32::MAX as u64);
        let ice = IceCredentials::random(&mut self.rng);
        let described = pending::describe(
            plan.offer.as_deref(),
            local,
            session_id,
            plan.policy,
            &local_key,
            &ice,
            self.config.call.silence_threshold_dbfs,
        );
        // The SDP and the call's `SrtpKeys` hold their own copies.
        zeroize::Zeroize::zeroize(&mut local_key);
        let (media, local_sdp) = match described {
            Ok(d) => d,
            // Admission answered this offer already; only a changed world gets here.
            Err(e) => {
                drop(socket);
                self.ports.release(local.port(), now);
                warn!(error = %e, "SDP offer refused after admission");
                return self.refuse(now, call, &Reject::unavailable());
            }
        };
        match &media {
            PendingMedia::Agreed(m) => info!(
                called = %plan.called, mailbox = %plan.label, plan = %plan.plan_name,
                caller = ?plan.caller, codec = m.codec.encoding_name(), remote_media = %m.remote,
                srtp = m.srtp.is_some(), "accepting call for voice mail"
            ),
            PendingMedia::Offered { srtp_key } => info!(
                called = %plan.called, mailbox = %plan.label, plan = %plan.plan_name,
                caller = ?plan.caller, srtp = srtp_key.is_some(),
                "accepting call for voice mail; the INVITE has no SDP, so our 200 offers"
            ),
        }
        self.call_ports.insert(call, vec![local.port()]);
        self.board.call_started(
            call.0,
            telemetry::CallStatus {
                sip_call_id: request.call_id().unwrap_or_default().to_owned(),
                mailbox: plan.label.clone(),
                since: std::time::Instant::now(),
            },
        );
        let sip_call_id = request.call_id().unwrap_or_default().to_owned();
        let preparing = match &plan.flow {
            FlowSetup::Deposit {
                mailbox, limits, ..
            } => {
                let caller = deposit::Caller {
                    number: plan.caller.clone(),
                    name: plan.caller_name.clone(),
                    sip_call_id: sip_call_id.clone(),
                };
                let unique = self.rng.gen();
                Some(deposit::prepare(
                    &self.shared,
                    mailbox,
                    limits,
                    &caller,
                    plan.busy,
                    unique,
                ))
            }
            _ => None,
        };
        self.pending.insert(
            call,
            Pending {
                media,
                local_sdp: local_sdp.into_bytes(),
                socket: Some(socket),
                sip_call_id,
                peer: remote.addr,
                prepared: None,
                state: PendingState::Preparing,
                plan,
                span,
            },
        );
        match preparing {
            // The spool entry first: a call that cannot be recorded (disk full) is refused
            // with 503 before it is answered, so the call server can try elsewhere, rather
            // than answered into "not saved" with its missed-call notice lost.
            Some(job) => self.actions.push_back(CoreAction::Job(call, job)),
            None => self.ring_or_answer(now, call),
        }
    }

    /// Rings for `call.answer_delay_ms` if configured, else answers now.
    fn ring_or_answer(&mut self, now: Instant, call: CallId) {
        let delay = Duration::from_millis(self.config.call.answer_delay_ms);
        if delay.is_zero() {
            return self.answer(now, call);
        }
        if let Some(p) = self.pending.get_mut(&call) {
            p.state = PendingState::Ringing(now + delay);
            self.endpoint.ringing(now, call);
        }
    }

    fn answer(&mut self, now: Instant, call: CallId) {
        let Some(p) = self.pending.get_mut(&call) else {
            return;
        };
        p.state = PendingState::Answered(now + ACK_WAIT);
        let sdp = p.local_sdp.clone();
        self.endpoint.answer(now, call, sdp);
    }

    /// The ACK came: the call runs from now on.
    fn acked(&mut self, now: Instant, call: CallId) {
        let answered = self
            .pending
            .get(&call)
            .is_some_and(|p| matches!(p.state, PendingState::Answered(_)));
        if !answered {
            return;
        }
        let Some(mut p) = self.pending.remove(&call) else {
            return;
        };
        let media = match p.media {
            PendingMedia::Agreed(media) => media,
            PendingMedia::Offered { .. } => {
                // RFC 3261 §13.3.1.4: an ACK that does not answer our offer ends the call.
                p.span
                    .in_scope(|| warn!("the ACK has no usable answer to our offer: BYE"));
                self.pending.insert(call, p);
                self.endpoint.hangup(now, call);
                return self.drop_pending(now, call);
            }
        };
        let Some(socket) = p.socket.take() else {
            return;
        };
        let streams = [self.rng.gen(), self.rng.gen()];
        let seed = self.rng.gen();
        let context = CallContext {
            id: call,
            sip_call_id: p.sip_call_id,
            peer: p.peer,
            caller: p.plan.caller,
            caller_name: p.plan.caller_name,
            media,
            shared: self.shared.clone(),
            beep: self.beep.clone(),
        };
        let start = CallStart {
            context,
            flow: p.plan.flow,
            prepared: p.prepared.take(),
            streams,
            seed,
            span: p.span,
        };
        let built = Call::new(now, start);
        self.running.insert(call);
        self.actions.push_back(CoreAction::Start {
            call: Box::new(built),
            socket,
        });
    }

    /// The ACK to our 200 carried SDP: the answer to our offer (a delayed offer), or, for a
    /// running call, to the offer our 200 made to a re-INVITE without one.
    fn ack_answer(&mut self, call: CallId, answer: &str) {
        let Some(p) = self.pending.get_mut(&call) else {
            if let Some(remote) = sdp::remote_audio(answer) {
                self.signal(call, CallSignal::RemoteMedia(remote));
            }
            return;
        };
        let PendingMedia::Offered { srtp_key } = &p.media else {
            return;
        };
        let silence = self.config.call.silence_threshold_dbfs;
        let _in_call = p.span.enter();
        match pending::accept_answer(answer, srtp_key.as_deref(), silence) {
            Ok(m) => {
                info!(
                    codec = m.codec.encoding_name(), remote_media = %m.remote,
                    srtp = m.srtp.is_some(), "the ACK answered our offer"
                );
                p.media = PendingMedia::Agreed(m);
            }
            Err(e) => warn!(error = %e, "the ACK's SDP does not answer our offer"),
        }
    }

    /// A call that will not run: its port rests, its spool entry goes.
    fn drop_pending(&mut self, now: Instant, call: CallId) {
        let Some(p) = self.pending.remove(&call) else {
            return;
        };
        drop(p.socket);
        if let Some(prepared) = p.prepared {
            self.actions
                .push_back(CoreAction::Detached(prepared.discard()));
        }
        self.board.call_ended(call.0);
        for port in self.call_ports.remove(&call).unwrap_or_default() {
            self.ports.release(port, now);
        }
    }

    /// Binds an RTP socket on a random usable even port of the configured range.
    fn bind_rtp(&mut self, now: Instant) -> std::io::Result<(E::Socket, SocketAddr)> {
        let ip = self.config.media.address;
        let mut last_error = None;
        let env = &mut self.env;
        let bound = self
            .ports
            .allocate(now, |port| match env.bind(SocketAddr::new(ip, port)) {
                Ok(s) => Some(s),
                Err(e) => {
                    last_error = Some(e);
                    None
                }
            });
        match bound {
            Some((port, socket)) => Ok((socket, SocketAddr::new(ip, port))),
            None => {
                let (min, max) = (
                    self.config.media.rtp_port_min,
                    self.config.media.rtp_port_max,
                );
                let why = last_error.map_or_else(String::new, |e| format!(" (last error: {e})"));
                Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "every RTP port in {min}-{max} is in use or resting after its last call{why}"
                    ),
                ))
            }
        }
    }
}

impl Reject {
    /// 503: the gateway cannot take the call now.
    pub(crate) fn unavailable() -> Reject {
        Reject::new(503)
    }
}
