//! Runs a [`Call`] on a media worker: the only I/O around it. Each tick it takes the core's
//! signals and finished jobs, sends the RTP that is due, reads the call's socket(s) with one
//! `recvmmsg` each, steps the call, and hands its requests to the core and its jobs to the
//! blocking pool (polling their results on later ticks). Every kind of call runs here the
//! same way, from the ACK to the end.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Instant, SystemTime};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::call::{Call, CallOutput, CallRequest, CallSignal, Socket};
use super::jobs::JobResult;
use super::media_worker::{MediaCall, Next};
use crate::media::session::SRTP_TAG_ROOM;
use crate::net::udp_batch::{self, Batch};
use crate::sip::endpoint::CallId;

/// What the core sends a running call.
#[derive(Debug)]
pub(super) enum ToCall {
    Signal(CallSignal),
    /// The socket of the call's bridged second leg.
    Leg(UdpSocket),
}

/// What a running call tells the core.
#[derive(Debug)]
pub(super) enum FromCall {
    Request(CallRequest),
    /// The call is over: the core forgets it (and hangs up a bridged leg).
    Finished,
}

/// Frames between reads of a quiet call's socket. Reading every third frame (60 ms, three
/// packets per `recvmmsg`) costs a third of the system calls of reading every frame; arrival
/// times come from kernel timestamps, so jitter figures are unaffected, and a digit or a
/// hang-up is acted on at most 40 ms later. A call that is not playing a prompt is ticked
/// only then.
const RECEIVE_EVERY: u32 = 3;

/// Largest datagram relayed between the legs of a bridged call.
const MAX_DATAGRAM: usize = 1500;

/// One call as a media worker holds it.
pub(super) struct Runner {
    call: Call,
    socket: UdpSocket,
    leg: Option<UdpSocket>,
    signals: mpsc::Receiver<ToCall>,
    to_core: mpsc::Sender<(CallId, FromCall)>,
    jobs: Vec<oneshot::Receiver<JobResult>>,
    /// One packet at the call's ptime, with room for the SRTP tag.
    tx_buf: Box<[u8]>,
    /// A relayed packet, with room for the SRTP tag the other leg may add.
    relay_buf: Box<[u8]>,
    /// Ticks served; a quiet call's socket is read every [`RECEIVE_EVERY`].
    ticks: u32,
    runtime: Handle,
}

impl Runner {
    pub fn new(
        call: Call,
        socket: UdpSocket,
        signals: mpsc::Receiver<ToCall>,
        to_core: mpsc::Sender<(CallId, FromCall)>,
    ) -> Runner {
        udp_batch::configure(socket.as_raw_fd(), 0);
        // Calls read their sockets on different ticks, spreading the reads.
        let ticks = (call.id().0 % u64::from(RECEIVE_EVERY)) as u32;
        Runner {
            tx_buf: vec![0; call.packet_room()].into_boxed_slice(),
            relay_buf: Box::default(),
            call,
            socket,
            leg: None,
            signals,
            to_core,
            jobs: Vec::new(),
            ticks,
            runtime: Handle::current(),
        }
    }
}

impl MediaCall for Runner {
    fn tick(&mut self, now: Instant, rx: &mut Batch) -> Next {
        // Moved out and back rather than cloned: a clone is an atomic increment per call
        // every tick.
        let span = std::mem::replace(self.call.span_mut(), tracing::Span::none());
        let next = span.in_scope(|| self.step(now, rx));
        *self.call.span_mut() = span;
        next
    }
}

impl Runner {
    fn step(&mut self, now: Instant, rx: &mut Batch) -> Next {
        self.ticks = self.ticks.wrapping_add(1);
        let was_playing = self.call.is_playing();
        if !was_playing {
            // Let the packet clock pass the frames skipped while silent, so a prompt started
            // now does not go out as a burst catching up on them.
            self.send(now);
        }
        self.poll_signals(now, rx);
        self.poll_jobs(now);
        if !self.call.is_done() {
            let was_playing = self.call.is_playing();
            self.send(now);
            // Sending first: the prompt's timing does not wait for the recording's writes.
            if !was_playing || self.call.is_bridged() || self.ticks % RECEIVE_EVERY == 0 {
                self.receive(rx);
            }
            self.call.handle_timeout(now);
        }
        self.outputs();
        if self.call.is_done() {
            self.to_core(FromCall::Finished);
            return Next::Done;
        }
        // A timer of the flow due before the next read (a digit time-out, a transfer's
        // deadline) is served on time rather than up to two frames late.
        let timer_soon = self
            .call
            .poll_timeout()
            .is_some_and(|t| t < now + crate::media::FRAME * RECEIVE_EVERY);
        if self.call.is_playing() || self.call.is_bridged() || timer_soon {
            Next::Frames(1)
        } else {
            Next::Frames(RECEIVE_EVERY as u8)
        }
    }

    /// What the core said since the last tick.
    fn poll_signals(&mut self, now: Instant, rx: &mut Batch) {
        while !self.call.is_done() {
            match self.signals.try_recv() {
                Ok(ToCall::Leg(socket)) => {
                    udp_batch::configure(socket.as_raw_fd(), 0);
                    self.relay_buf = vec![0; MAX_DATAGRAM + SRTP_TAG_ROOM].into_boxed_slice();
                    self.leg = Some(socket);
                }
                Ok(ToCall::Signal(s @ (CallSignal::Hangup | CallSignal::Cancelled))) => {
                    // The caller's last words are still in the socket: they belong to the
                    // recording.
                    self.receive(rx);
                    self.call.handle_signal(now, s);
                }
                Ok(ToCall::Signal(s)) => self.call.handle_signal(now, s),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.receive(rx);
                    self.call.handle_signal(now, CallSignal::Hangup);
                }
            }
        }
    }

    /// Jobs that finished since the last tick.
    fn poll_jobs(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.jobs.len() {
            match self.jobs[i].try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => i += 1,
                done => {
                    self.jobs.swap_remove(i);
                    // A job that panicked reports nothing; the flow's time-outs cover it.
                    if let Ok(result) = done {
                        self.call.handle_job(now, result);
                    }
                }
            }
        }
    }

    fn send(&mut self, now: Instant) {
        while let Some(t) = self.call.poll_transmit(now, &mut self.tx_buf) {
            // A full send buffer drops this packet rather than delay every later one.
            if let Err(e) = self.socket.send_to(&self.tx_buf[..t.len], t.destination) {
                debug!(error = %e, "RTP send failed");
            }
        }
    }

    /// Drains the packets that arrived since the last tick (they waited in the socket
    /// buffers), the bridged leg's too.
    fn receive(&mut self, rx: &mut Batch) {
        let (clock, wall) = (Instant::now(), SystemTime::now());
        let fd = self.socket.as_raw_fd();
        rx.drain(fd, |rx, i| {
            let from = rx.source(i);
            let arrival = rx.arrival(i, clock, wall);
            if self.call.is_bridged() {
                self.relay(Socket::Caller, from, arrival, rx.datagram(i));
            } else {
                self.call.handle_datagram(arrival, from, rx.datagram(i));
            }
        });
        let Some(fd) = self.leg.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        rx.drain(fd, |rx, i| {
            let from = rx.source(i);
            let arrival = rx.arrival(i, clock, wall);
            self.relay(Socket::Leg, from, arrival, rx.datagram(i));
        });
    }

    /// Relays one datagram of a bridged call to the other side.
    fn relay(&mut self, socket: Socket, from: std::net::SocketAddr, at: Instant, bytes: &[u8]) {
        let n = bytes.len().min(MAX_DATAGRAM);
        if self.relay_buf.len() < n + SRTP_TAG_ROOM {
            return;
        }
        self.relay_buf[..n].copy_from_slice(&bytes[..n]);
        let Some(t) = self
            .call
            .handle_relay(at, socket, from, &mut self.relay_buf, n)
        else {
            return;
        };
        let out = match t.socket {
            Socket::Caller => Some(&self.socket),
            Socket::Leg => self.leg.as_ref(),
        };
        if let Some(out) = out {
            if let Err(e) = out.send_to(&self.relay_buf[..t.len], t.destination) {
                debug!(error = %e, "relayed RTP send failed");
            }
        }
    }

    /// Requests to the core, jobs to the blocking pool.
    fn outputs(&mut self) {
        while let Some(output) = self.call.poll_output() {
            match output {
                CallOutput::Request(r) => self.to_core(FromCall::Request(r)),
                CallOutput::Job(job) => {
                    let (tx, rx) = oneshot::channel();
                    self.runtime.spawn_blocking(move || {
                        let _ = tx.send(job.run());
                    });
                    self.jobs.push(rx);
                }
            }
        }
    }

    /// Tells the core without blocking the worker.
    fn to_core(&self, message: FromCall) {
        let item = (self.call.id(), message);
        if let Err(mpsc::error::TrySendError::Full(item)) = self.to_core.try_send(item) {
            let to_core = self.to_core.clone();
            self.runtime.spawn(async move {
                let _ = to_core.send(item).await;
            });
        }
    }
}
