//! One answered call as one object: its media session and its flow (deposit, subscriber
//! access, auto attendant, a bridged transfer), sans-IO. Inputs come with the time they
//! happened (datagrams, the core's signals, finished jobs, ticks); outputs are polled (RTP to
//! send, requests to the core, blocking jobs to run). The same `Call` runs on a media worker
//! (`runner.rs`) and in the whole-gateway simulation (`sim.rs`); when its flow changes (the
//! attendant hands the caller to a mailbox, a transfer is bridged) the session goes on, with
//! its SRTP state and packet clock.
//!
//! The life of a call, end to end: `core.rs` admits the INVITE (`admission.rs`), prepares a
//! deposit's spool entry, answers, and on the ACK builds the `Call` and hands it to a driver;
//! the call asks the core for what only the core can do ([`CallRequest`]: hang up, REFER, a
//! second leg, a NOTIFY) and ends by telling it so.

pub(crate) mod attendant;
pub(crate) mod deposit;
mod names;
pub(crate) mod play;
pub(crate) mod subscriber;
pub(crate) mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::info;

use super::jobs::{Job, JobResult};
use super::Shared;
use crate::dialplan::{DialPlan, MailboxEntry};
use crate::flows::deposit::DepositLimits;
use crate::media::g711::G711;
use crate::media::ice::{IceCredentials, IceLite};
use crate::media::session::{MediaEvent, Session, SessionParams};
use crate::sdp::SrtpKeys;
use crate::sip::endpoint::CallId;
use crate::store::Counts;

use attendant::AttendantFlow;
use deposit::{DepositFlow, Prepared};
use play::{PlayFlow, PlayTarget};
use subscriber::SubscriberFlow;

/// What the core tells a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallSignal {
    Cancelled,
    Hangup,
    RemoteMedia(SocketAddr),
    /// News of a transfer (REFER) this call asked for.
    Transfer(TransferUpdate),
    /// News of the second leg of a bridged transfer.
    Bridge(BridgeUpdate),
}

/// How the second leg of a bridged transfer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BridgeUpdate {
    /// The target answered: relay media between the caller and `remote` (through the leg's
    /// socket, which the driver attaches).
    Answered { leg: CallId, remote: SocketAddr },
    /// The target refused (status) or never answered (`None`).
    Failed(Option<u16>),
    /// The target hung up.
    Ended,
}

/// How a REFER is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferUpdate {
    /// The peer accepted the REFER (202); NOTIFYs follow.
    Accepted,
    /// The peer refused the REFER with this status, or never answered (`None`).
    Refused(Option<u16>),
    /// A NOTIFY: the status of the transfer's INVITE.
    Progress(u16),
}

/// The call flow to run once the call is up.
#[derive(Debug, Clone)]
pub(crate) enum FlowSetup {
    /// Leave a message for this mailbox of `plan`, called through `called` (the greeting's
    /// keys reach the plan's operator or sign in to the mailbox).
    Deposit {
        mailbox: MailboxEntry,
        limits: DepositLimits,
        plan: Arc<DialPlan>,
        called: String,
    },
    /// Subscriber access through a pilot of this plan; `known` is the caller's own mailbox
    /// when caller ID identifies one.
    Subscriber {
        plan: Arc<DialPlan>,
        known: Option<MailboxEntry>,
        pilot_uri: String,
    },
    /// Auto attendant `index` of `plan`, reached through `pilot_uri`.
    Attendant {
        plan: Arc<DialPlan>,
        index: usize,
        pilot_uri: String,
    },
    /// A call we placed to play a message to its user (play on phone).
    Play(PlayTarget),
}

/// A mailbox's lamp to set (RFC 3842 NOTIFY to its notify target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mwi {
    pub target: String,
    pub account: String,
    pub counts: Counts,
}

/// What a call asks of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallRequest {
    HangUp,
    /// Ask the caller's side to transfer the call (REFER).
    Transfer {
        refer_to: String,
        referred_by: String,
    },
    /// Call `target` on a second leg (the peer did not accept REFER), in `codec`, the call's
    /// own, so packets are relayed without transcoding.
    Bridge {
        target: String,
        from: String,
        codec: G711,
    },
    /// Tell a mailbox's lamp its counts.
    Mwi(Mwi),
}

/// What a call puts out besides RTP.
#[derive(Debug)]
pub(crate) enum CallOutput {
    Request(CallRequest),
    Job(Job),
}

/// The negotiated stream a call's media session is made from.
#[derive(Debug, Clone)]
pub(crate) struct MediaSetup {
    pub codec: G711,
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
    pub ptime_ms: u32,
    pub remote: SocketAddr,
    /// SDES keys when the call uses SRTP (VoIPSecurity Secured, Lync's default).
    pub srtp: Option<SrtpKeys>,
    /// Our ICE credentials when we answered as an ICE-lite agent (Lync's ICE offers).
    pub ice: Option<IceCredentials>,
    pub silence_threshold_dbfs: f32,
}

impl MediaSetup {
    /// A session for this stream (or, `srtp` false, for a plain-RTP leg to `remote` without
    /// ICE), its packet clock starting at `now`; `stream` is our SSRC, first sequence and
    /// timestamp.
    pub fn session(
        &self,
        now: Instant,
        remote: SocketAddr,
        srtp: bool,
        stream: (u32, u16, u32),
    ) -> Session {
        Session::new(
            now,
            SessionParams {
                codec: self.codec,
                payload_type: self.payload_type,
                telephone_event: self.telephone_event,
                ptime_ms: self.ptime_ms,
                remote,
                srtp: self
                    .srtp
                    .as_ref()
                    .filter(|_| srtp)
                    .map(|k| (k.inbound(), k.outbound())),
                ice: self.ice.clone().filter(|_| srtp).map(IceLite::new),
                silence_threshold_dbfs: self.silence_threshold_dbfs,
                ssrc: stream.0,
                sequence: stream.1,
                timestamp: stream.2,
            },
        )
    }
}

/// What a running call knows of itself.
pub(crate) struct CallContext {
    pub id: CallId,
    pub sip_call_id: String,
    /// The SIP peer the INVITE came from.
    pub peer: SocketAddr,
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    pub media: MediaSetup,
    pub shared: Arc<Shared>,
    pub beep: Arc<[i16]>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("id", &self.id)
            .field("sip_call_id", &self.sip_call_id)
            .finish_non_exhaustive()
    }
}

/// Everything a call starts from.
#[derive(Debug)]
pub(crate) struct CallStart {
    pub context: CallContext,
    pub flow: FlowSetup,
    /// A deposit's spool entry and greeting, prepared before the call was answered.
    pub prepared: Option<Box<Prepared>>,
    /// Our stream's random SSRC, first sequence number and timestamp; a second leg's.
    pub streams: [(u32, u16, u32); 2],
    /// Seeds the call's own random numbers (spool ids, file names), from the core's.
    pub seed: u64,
    /// The call's span (its Call-ID and mailbox on every line it logs).
    pub span: tracing::Span,
}

/// Which of a call's sockets: its own, or its bridged second leg's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Socket {
    Caller,
    Leg,
}

/// A packet to send from one of the call's sockets (its bytes are in the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transmit {
    pub socket: Socket,
    pub destination: SocketAddr,
    pub len: usize,
}

/// What a flow hears.
#[derive(Debug)]
pub(crate) enum Event {
    Media(MediaEvent),
    /// The caller hung up (or cancelled).
    CallerGone,
    Job(JobResult),
    Transfer(TransferUpdate),
    Bridge(BridgeUpdate),
    Tick,
}

/// Where a flow's part of the call leads.
#[derive(Debug)]
pub(crate) enum Transition {
    Stay,
    /// The call is over.
    Done,
    /// Leave a message for `mailbox` of `plan` on this call.
    Deposit {
        mailbox: MailboxEntry,
        limits: DepositLimits,
        plan: Arc<DialPlan>,
        called: String,
    },
    /// The caller signs in to `mailbox` (subscriber access on this call).
    SignIn {
        mailbox: MailboxEntry,
        plan: Arc<DialPlan>,
        called: String,
    },
    /// Relay media to the second leg that answered.
    Bridge {
        leg: CallId,
        remote: SocketAddr,
    },
}

/// What a flow may touch: the call's context and media, and its outputs.
pub(crate) struct Io<'a> {
    pub cx: &'a CallContext,
    pub media: &'a mut Session,
    pub requests: &'a mut Vec<CallRequest>,
    pub jobs: &'a mut Vec<Job>,
}

#[derive(Debug)]
enum Flow {
    Deposit(Box<DepositFlow>),
    /// The caller chose a mailbox in the attendant: its deposit is being prepared.
    Preparing(Box<DepositTarget>),
    Subscriber(Box<SubscriberFlow>),
    Attendant(Box<AttendantFlow>),
    Play(Box<PlayFlow>),
    /// A transfer answered on a second leg: media is relayed until either side hangs up.
    Bridged(Box<Bridge>),
    Over,
}

/// Who a deposit is for: the mailbox, its plan's limits, the plan, the URI called.
#[derive(Debug)]
pub(crate) struct DepositTarget {
    pub mailbox: MailboxEntry,
    pub limits: DepositLimits,
    pub plan: Arc<DialPlan>,
    pub called: String,
}

/// The second leg of a bridged transfer: plain RTP on the operator's network, with a session
/// of its own (its source latched alike).
#[derive(Debug)]
struct Bridge {
    leg: CallId,
    media: Session,
    to_leg: u64,
    to_caller: u64,
    since: Instant,
}

/// One answered call.
#[derive(Debug)]
pub(crate) struct Call {
    cx: CallContext,
    media: Session,
    flow: Flow,
    requests: Vec<CallRequest>,
    jobs: Vec<Job>,
    leg_stream: (u32, u16, u32),
    started: Instant,
    span: tracing::Span,
    /// The caller hung up (a flow that starts later must hear it too).
    caller_gone: bool,
    rng: StdRng,
}

impl Call {
    /// The call, answered and acknowledged at `now`: its flow starts.
    pub fn new(now: Instant, start: CallStart) -> Call {
        let CallStart {
            context: cx,
            flow,
            prepared,
            streams,
            seed,
            span,
        } = start;
        let _in_call = span.clone().entered();
        let media = cx.media.session(now, cx.media.remote, true, streams[0]);
        let mut call = Call {
            cx,
            media,
            flow: Flow::Over,
            requests: Vec::new(),
            jobs: Vec::new(),
            leg_stream: streams[1],
            started: now,
            span: span.clone(),
            caller_gone: false,
            rng: StdRng::seed_from_u64(seed),
        };
        let mut io = Io {
            cx: &call.cx,
            media: &mut call.media,
            requests: &mut call.requests,
            jobs: &mut call.jobs,
        };
        call.flow = match (flow, prepared) {
            (
                FlowSetup::Deposit {
                    mailbox,
                    limits,
                    plan,
                    called,
                },
                Some(prepared),
            ) => Flow::Deposit(Box::new(DepositFlow::start(
                &mut io,
                now,
                *prepared,
                DepositTarget {
                    mailbox,
                    limits,
                    plan,
                    called,
                },
            ))),
            (FlowSetup::Deposit { .. }, None) => {
                // The core prepares every deposit before answering; nothing to record into.
                tracing::error!("deposit call without a spool entry");
                io.requests.push(CallRequest::HangUp);
                Flow::Over
            }
            (
                FlowSetup::Subscriber {
                    plan,
                    known,
                    pilot_uri,
                },
                _,
            ) => Flow::Subscriber(Box::new(SubscriberFlow::start(
                &mut io, now, plan, known, pilot_uri,
            ))),
            (
                FlowSetup::Attendant {
                    plan,
                    index,
                    pilot_uri,
                },
                _,
            ) => match AttendantFlow::start(&mut io, now, plan, index, pilot_uri) {
                Some(a) => Flow::Attendant(Box::new(a)),
                None => {
                    io.requests.push(CallRequest::HangUp);
                    Flow::Over
                }
            },
            (FlowSetup::Play(target), _) => {
                Flow::Play(Box::new(PlayFlow::start(&mut io, now, target)))
            }
        };
        call.pump(now);
        call
    }

    pub fn id(&self) -> CallId {
        self.cx.id
    }

    /// The call's span: its driver enters it around everything the call does.
    pub fn span_mut(&mut self) -> &mut tracing::Span {
        &mut self.span
    }

    // ---- inputs ----

    /// What the core said.
    pub fn handle_signal(&mut self, now: Instant, signal: CallSignal) {
        match signal {
            CallSignal::RemoteMedia(addr) => self.media.set_remote(now, addr),
            CallSignal::Hangup | CallSignal::Cancelled => {
                self.caller_gone = true;
                if matches!(self.flow, Flow::Bridged(_)) {
                    // The core hangs up the second leg when this call finishes.
                    self.end_bridge();
                } else {
                    self.dispatch(now, Event::CallerGone);
                }
            }
            CallSignal::Transfer(update) => self.dispatch(now, Event::Transfer(update)),
            CallSignal::Bridge(BridgeUpdate::Ended) if matches!(self.flow, Flow::Bridged(_)) => {
                self.requests.push(CallRequest::HangUp);
                self.end_bridge();
            }
            CallSignal::Bridge(update) => self.dispatch(now, Event::Bridge(update)),
        }
    }

    /// A datagram from `from` on the call's own socket, arrived at `now` (not bridged: see
    /// [`Call::is_bridged`] and [`Call::handle_relay`]).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &mut [u8]) {
        self.media.handle_datagram(now, from, bytes);
        self.pump(now);
    }

    /// A datagram of a bridged call, `len` bytes at the start of `buf` (which has room for an
    /// SRTP tag after them): the packet to relay from the other socket, if it may go.
    pub fn handle_relay(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<Transmit> {
        let Flow::Bridged(bridge) = &mut self.flow else {
            return None;
        };
        let (inbound, outbound, out_socket) = match socket {
            Socket::Caller => (&mut self.media, &mut bridge.media, Socket::Leg),
            Socket::Leg => (&mut bridge.media, &mut self.media, Socket::Caller),
        };
        let plain = inbound.handle_relay(now, from, &mut buf[..len])?;
        let t = outbound.relay_transmit(buf, plain)?;
        match socket {
            Socket::Caller => bridge.to_leg += 1,
            Socket::Leg => bridge.to_caller += 1,
        }
        Some(Transmit {
            socket: out_socket,
            destination: t.destination,
            len: t.len,
        })
    }

    /// A job this call asked for finished.
    pub fn handle_job(&mut self, now: Instant, result: JobResult) {
        if let Flow::Preparing(_) = self.flow {
            if let JobResult::Prepared(prepared) = result {
                let Flow::Preparing(next) = std::mem::replace(&mut self.flow, Flow::Over) else {
                    return;
                };
                match prepared {
                    Some(p) => {
                        let mut io = self.io();
                        let d = DepositFlow::start(&mut io, now, *p, *next);
                        self.flow = Flow::Deposit(Box::new(d));
                        if self.caller_gone {
                            // Gone while the deposit was prepared: a missed-call notice.
                            self.dispatch(now, Event::CallerGone);
                        }
                    }
                    // Answered already: nothing can be recorded; the caller is let go.
                    None if self.caller_gone => {}
                    None => self.requests.push(CallRequest::HangUp),
                }
                self.pump(now);
                return;
            }
        }
        self.dispatch(now, Event::Job(result));
    }

    /// Time passed: the flow's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dispatch(now, Event::Tick);
    }

    // ---- outputs ----

    /// The next RTP packet due at `now`, written into `buf` (at least
    /// [`Call::packet_room`] bytes).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.media.poll_transmit(now, buf)?;
        // The packet may end a prompt: the flow hears it now and may queue the next one.
        self.pump(now);
        Some(Transmit {
            socket: Socket::Caller,
            destination: t.destination,
            len: t.len,
        })
    }

    /// The next request or job.
    pub fn poll_output(&mut self) -> Option<CallOutput> {
        if !self.requests.is_empty() {
            return Some(CallOutput::Request(self.requests.remove(0)));
        }
        if !self.jobs.is_empty() {
            return Some(CallOutput::Job(self.jobs.remove(0)));
        }
        None
    }

    /// The next instant the call needs [`Call::handle_timeout`] or a transmit poll.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let flow = match &self.flow {
            Flow::Deposit(d) => d.poll_timeout(),
            Flow::Subscriber(s) => s.poll_timeout(),
            Flow::Attendant(a) => a.poll_timeout(),
            Flow::Play(p) => p.poll_timeout(),
            Flow::Preparing(_) | Flow::Bridged(_) | Flow::Over => None,
        };
        match (flow, self.media.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes a transmit buffer needs.
    pub fn packet_room(&self) -> usize {
        self.media.packet_room()
    }

    /// Whether prompts are being sent (the call wants a tick per packet).
    pub fn is_playing(&self) -> bool {
        self.media.is_playing()
    }

    /// Whether media is relayed to a second leg (both sockets are read every tick).
    pub fn is_bridged(&self) -> bool {
        matches!(self.flow, Flow::Bridged(_))
    }

    /// Whether the call is over (its driver tells the core and drops it).
    pub fn is_done(&self) -> bool {
        matches!(self.flow, Flow::Over)
    }

    // ---- internals ----

    fn io(&mut self) -> Io<'_> {
        Io {
            cx: &self.cx,
            media: &mut self.media,
            requests: &mut self.requests,
            jobs: &mut self.jobs,
        }
    }

    /// Hands one event to the flow, then whatever the media reported meanwhile.
    fn dispatch(&mut self, now: Instant, event: Event) {
        self.step(now, event);
        self.pump(now);
    }

    /// Media events go to the flow in the order the session reported them.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.media.poll_event() {
            self.step(now, Event::Media(event));
        }
    }

    fn step(&mut self, now: Instant, event: Event) {
        let mut io = Io {
            cx: &self.cx,
            media: &mut self.media,
            requests: &mut self.requests,
            jobs: &mut self.jobs,
        };
        let transition = match &mut self.flow {
            Flow::Deposit(d) => d.handle(&mut io, now, event),
            Flow::Subscriber(s) => s.handle(&mut io, now, event),
            Flow::Attendant(a) => a.handle(&mut io, now, event),
            Flow::Play(p) => p.handle(&mut io, now, event),
            Flow::Preparing(_) | Flow::Bridged(_) | Flow::Over => Transition::Stay,
        };
        match transition {
            Transition::Stay => {}
            Transition::Done => {
                if let Flow::Deposit(d) = &self.flow {
                    d.report(&self.media, self.started);
                }
                self.flow = Flow::Over;
            }
            Transition::SignIn {
                mailbox,
                plan,
                called,
            } => {
                info!(mailbox = %mailbox.id, "the caller signs in from the greeting");
                let s = SubscriberFlow::start(&mut self.io(), now, plan, Some(mailbox), called);
                self.flow = Flow::Subscriber(Box::new(s));
            }
            Transition::Deposit {
                mailbox,
                limits,
                plan,
                called,
            } => {
                info!(mailbox = %mailbox.id, "the caller is handed to voice mail");
                let caller = deposit::Caller {
                    number: self.cx.caller.clone(),
                    name: self.cx.caller_name.clone(),
                    sip_call_id: self.cx.sip_call_id.clone(),
                };
                // Handed over by the attendant: the user was not busy on this call.
                self.jobs.push(deposit::prepare(
                    &self.cx.shared,
                    &mailbox,
                    &limits,
                    &caller,
                    false,
                    self.rng.gen(),
                ));
                self.flow = Flow::Preparing(Box::new(DepositTarget {
                    mailbox,
                    limits,
                    plan,
                    called,
                }));
            }
            Transition::Bridge { leg, remote } => {
                let media = self.cx.media.session(now, remote, false, self.leg_stream);
                self.flow = Flow::Bridged(Box::new(Bridge {
                    leg,
                    media,
                    to_leg: 0,
                    to_caller: 0,
                    since: now,
                }));
            }
        }
    }

    fn end_bridge(&mut self) {
        if let Flow::Bridged(b) = std::mem::replace(&mut self.flow, Flow::Over) {
            info!(
                leg = ?b.leg,
                to_leg = b.to_leg,
                to_caller = b.to_caller,
                foreign = self.media.foreign() + b.media.foreign(),
                seconds = b.since.elapsed().as_secs_f32(),
                "bridged transfer ended"
            );
        }
    }
}

/// The deposit limits a plan sets.
pub(crate) fn deposit_limits(plan: &DialPlan) -> DepositLimits {
    DepositLimits {
        max_recording: plan.max_recording_duration,
        idle_timeout: plan.recording_idle_timeout,
        min_message: plan.minimum_message_duration,
        max_call: plan.max_call_duration,
        input_failures: plan.input_failures_before_disconnect,
        review: plan.caller_review_enabled,
        ..DepositLimits::default()
    }
}

/// The address a mailbox is known by in messages and MWI.
pub(crate) fn mailbox_address(m: &MailboxEntry) -> String {
    m.sip_address
        .clone()
        .or_else(|| m.e164.clone())
        .unwrap_or_else(|| m.extension.clone())
}
