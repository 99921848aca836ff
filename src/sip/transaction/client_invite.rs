//! INVITE client transaction (RFC 3261 §17.1.1, with RFC 6026's Accepted state): the second
//! leg of a bridged transfer.
//!
//! A non-2xx final response is acknowledged here (the ACK belongs to the transaction); a 2xx
//! is passed up and acknowledged by the dialog, which also answers its retransmissions.

use std::time::{Duration, Instant};

use super::{TimerConfig, Timers, TxEvent};

const A: usize = 0; // retransmit the INVITE (unreliable transports)
const B: usize = 1; // no answer at all
const D: usize = 2; // absorb retransmitted non-2xx finals
const M: usize = 3; // absorb retransmitted 2xx (RFC 6026)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// One INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    request: Vec<u8>,
    reliable: bool,
    config: TimerConfig,
    timers: Timers<4>,
    interval: Duration,
    state: State,
    /// The ACK for the non-2xx final response, resent for each retransmission of it.
    ack: Option<Vec<u8>>,
    transmit: std::collections::VecDeque<Vec<u8>>,
    events: std::collections::VecDeque<TxEvent>,
}

impl ClientInvite {
    /// Starts the transaction: the INVITE is transmitted at once.
    pub fn new(now: Instant, request: Vec<u8>, reliable: bool, config: TimerConfig) -> Self {
        let mut timers = Timers::new();
        if !reliable {
            timers.set(A, now + config.t1);
        }
        timers.set(B, now + config.timeout());
        Self {
            transmit: [request.clone()].into(),
            request,
            reliable,
            config,
            timers,
            interval: config.t1,
            state: State::Calling,
            ack: None,
            events: Default::default(),
        }
    }

    /// A response to the INVITE. `ack` is the ACK to send if `code` is a non-2xx final (the
    /// caller builds it from the response: same branch, the response's To).
    pub fn handle_response(&mut self, now: Instant, code: u16, ack: impl FnOnce() -> Vec<u8>) {
        match (self.state, code) {
            (State::Calling | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.timers.stop(A);
                self.events.push_back(TxEvent::Response(code));
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                self.timers.stop_all();
                self.timers.set(M, now + self.config.timeout());
                self.events.push_back(TxEvent::Response(code));
            }
            (State::Calling | State::Proceeding, _) => {
                self.state = State::Completed;
                self.timers.stop_all();
                let ack = ack();
                self.transmit.push_back(ack.clone());
                self.ack = Some(ack);
                let wait = if self.reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                };
                self.timers.set(D, now + wait);
                self.events.push_back(TxEvent::Response(code));
            }
            (State::Completed, 300..) => {
                if let Some(ack) = &self.ack {
                    self.transmit.push_back(ack.clone());
                }
            }
            // Retransmitted 2xx in Accepted: the dialog resends its ACK.
            (State::Accepted, 200..=299) => self.events.push_back(TxEvent::Response(code)),
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            match timer {
                A => {
                    self.transmit.push_back(self.request.clone());
                    self.interval *= 2;
                    self.timers.set(A, now + self.interval);
                }
                B => {
                    self.timers.stop_all();
                    self.state = State::Terminated;
                    self.events.push_back(TxEvent::Timeout);
                    self.events.push_back(TxEvent::Terminated);
                }
                D | M => {
                    self.state = State::Terminated;
                    self.events.push_back(TxEvent::Terminated);
                }
                _ => {}
            }
        }
    }

    /// True while no final response has arrived (a CANCEL may still be sent).
    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Calling | State::Proceeding)
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run;
    use super::*;

    #[test]
    fn timer_a_doubles_without_cap_until_timer_b() {
        let t0 = Instant::now();
        let mut tx = ClientInvite::new(t0, b"INVITE".to_vec(), false, TimerConfig::default());
        let sent = run(
            &mut tx,
            t0,
            Duration::from_secs(40),
            |tx, now| tx.handle_timeout(now),
            |tx| tx.poll_timeout(),
            |tx| tx.poll_transmit(),
        );
        assert_eq!(sent, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }

    #[test]
    fn provisional_stops_retransmission_and_2xx_is_passed_up() {
        let t0 = Instant::now();
        let mut tx = ClientInvite::new(t0, b"INVITE".to_vec(), false, TimerConfig::default());
        tx.poll_transmit();
        tx.handle_response(t0, 180, Vec::new);
        tx.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(tx.poll_transmit(), None, "no retransmission once ringing");
        assert!(tx.is_pending());
        tx.handle_response(t0 + Duration::from_secs(11), 200, Vec::new);
        tx.handle_response(t0 + Duration::from_secs(12), 200, Vec::new);
        let events: Vec<_> = std::iter::from_fn(|| tx.poll_event()).collect();
        assert_eq!(
            events,
            [
                TxEvent::Response(180),
                TxEvent::Response(200),
                TxEvent::Response(200)
            ]
        );
        assert_eq!(tx.poll_transmit(), None, "the dialog ACKs a 2xx, not us");
        tx.handle_timeout(t0 + Duration::from_secs(50));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }

    #[test]
    fn failure_is_acked_here_and_again_for_each_retransmission() {
        let t0 = Instant::now();
        let mut tx = ClientInvite::new(t0, b"INVITE".to_vec(), false, TimerConfig::default());
        tx.poll_transmit();
        tx.handle_response(t0, 486, || b"ACK".to_vec());
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert!(!tx.is_pending());
        tx.handle_response(t0, 486, || b"other".to_vec());
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(tx.poll_event(), Some(TxEvent::Response(486)));
        assert_eq!(tx.poll_event(), None, "a retransmission is not news");
        tx.handle_timeout(t0 + Duration::from_secs(33));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }
}
