//! RFC 3261 §17 transactions as sans-IO state machines.
//!
//! Each machine takes messages and `now` as inputs and is drained through `poll_transmit`,
//! `poll_timeout` and `poll_event` (the quinn-proto / str0m shape). Nothing here reads a clock
//! or touches a socket, so the tests drive them with a fake clock and no sleeps.

mod client_invite;
mod client_non_invite;
mod server_invite;
mod server_non_invite;

pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;

use std::time::{Duration, Instant};

/// RFC 3261 Table 4 base timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J (unreliable) and the 2xx retransmission give-up.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// What a transaction tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// The ACK for our 2xx arrived (INVITE server): the call is established.
    Acked,
    /// No ACK for our final response within 64·T1. After a 2xx the UAS must end the dialog
    /// with BYE (RFC 3261 §13.3.1.4).
    AckTimeout { was_2xx: bool },
    /// A final (or provisional) response to our request (client transactions).
    Response(u16),
    /// Our request got no final response in time (Timer F).
    Timeout,
    /// The transaction has ended; its owner may forget it.
    Terminated,
}

/// A small timer table indexed by a timer enum (the quinn-proto `TimerTable` idea).
#[derive(Debug, Clone)]
pub(crate) struct Timers<const N: usize> {
    at: [Option<Instant>; N],
}

impl<const N: usize> Timers<N> {
    pub(crate) fn new() -> Self {
        Self { at: [None; N] }
    }
    pub(crate) fn set(&mut self, timer: usize, at: Instant) {
        self.at[timer] = Some(at);
    }
    pub(crate) fn stop(&mut self, timer: usize) {
        self.at[timer] = None;
    }
    pub(crate) fn stop_all(&mut self) {
        self.at = [None; N];
    }
    /// Timers due at `now`, cleared as they are returned (earliest first).
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<usize> {
        let (idx, _) = self
            .at
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.filter(|t| *t <= now).map(|t| (i, t)))
            .min_by_key(|(_, t)| *t)?;
        self.at[idx] = None;
        Some(idx)
    }
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::time::{Duration, Instant};

    /// Runs a machine's timers forward on a fake clock, recording transmit offsets in ms.
    pub(crate) fn run<M>(
        tx: &mut M,
        t0: Instant,
        until: Duration,
        mut handle_timeout: impl FnMut(&mut M, Instant),
        poll_timeout: impl Fn(&M) -> Option<Instant>,
        mut poll_transmit: impl FnMut(&mut M) -> Option<Vec<u8>>,
    ) -> Vec<u64> {
        let mut sent = Vec::new();
        while poll_transmit(tx).is_some() {
            sent.push(0);
        }
        while let Some(at) = poll_timeout(tx) {
            if at > t0 + until {
                break;
            }
            handle_timeout(tx, at);
            while poll_transmit(tx).is_some() {
                sent.push((at - t0).as_millis() as u64);
            }
        }
        sent
    }
}
