//! INVITE server transaction (RFC 3261 §17.2.1, with RFC 6026's Accepted state) and the UAS
//! core's 2xx retransmission (§13.3.1.4), which only this machine knows the timing of.

use std::time::Instant;

use super::{TimerConfig, Timers, TxEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Proceeding,
    /// Non-2xx final sent; waiting for ACK (Timers G, H).
    Completed,
    /// 2xx sent; retransmitting it until ACK, giving up at 64·T1.
    Accepted,
    /// ACK for a non-2xx received; absorbing ACK retransmissions (Timer I).
    Confirmed,
    Terminated,
}

const G: usize = 0; // response retransmit
const H: usize = 1; // wait for ACK
const I: usize = 2; // absorb ACK retransmits
const L: usize = 3; // RFC 6026: absorb INVITE retransmits after 2xx+ACK

/// One INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: State,
    reliable: bool,
    config: TimerConfig,
    timers: Timers<4>,
    interval: std::time::Duration,
    last_response: Option<Vec<u8>>,
    transmit: Option<Vec<u8>>,
    events: std::collections::VecDeque<TxEvent>,
}

impl ServerInvite {
    /// A transaction for a just-received INVITE. `reliable` is true on TCP/TLS.
    pub fn new(reliable: bool, config: TimerConfig) -> Self {
        Self {
            state: State::Proceeding,
            reliable,
            config,
            timers: Timers::new(),
            interval: config.t1,
            last_response: None,
            transmit: None,
            events: Default::default(),
        }
    }

    /// Whether a final response has been sent.
    pub fn is_final(&self) -> bool {
        self.state != State::Proceeding
    }

    /// Whether a 2xx was sent and no ACK has come for it yet.
    pub fn awaits_ack(&self) -> bool {
        self.state == State::Accepted && self.last_response.is_some()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// The TU sends a response (`bytes` already serialised) with status `code`.
    pub fn send_response(&mut self, now: Instant, code: u16, bytes: Vec<u8>) {
        if self.state != State::Proceeding {
            return; // a final response was already sent: nothing more may follow
        }
        self.transmit = Some(bytes.clone());
        self.last_response = Some(bytes);
        match code {
            100..=199 => {}
            200..=299 => {
                self.state = State::Accepted;
                self.interval = self.config.t1;
                self.timers.set(G, now + self.interval);
                self.timers.set(H, now + self.config.timeout());
            }
            _ => {
                self.state = State::Completed;
                self.interval = self.config.t1;
                if !self.reliable {
                    self.timers.set(G, now + self.interval);
                }
                self.timers.set(H, now + self.config.timeout());
            }
        }
    }

    /// The INVITE was received again: resend the last response.
    pub fn handle_retransmitted_invite(&mut self) {
        if self.state != State::Terminated {
            self.transmit = self.last_response.clone();
        }
    }

    /// An ACK for this transaction (non-2xx: same branch) or for its 2xx (dialog match).
    pub fn handle_ack(&mut self, now: Instant) {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                self.timers.stop(G);
                self.timers.stop(H);
                let wait = if self.reliable {
                    std::time::Duration::ZERO
                } else {
                    self.config.t4
                };
                self.timers.set(I, now + wait);
            }
            State::Accepted if self.last_response.is_some() => {
                {
                    self.timers.stop(G);
                    self.timers.stop(H);
                    self.timers.set(L, now + self.config.timeout());
                    // Only the first ACK establishes the call.
                    self.last_response = None;
                    self.events.push_back(TxEvent::Acked);
                }
            }
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            match timer {
                G => {
                    self.transmit = self.last_response.clone();
                    // Non-2xx doubles to T2 (§17.2.1); 2xx likewise (§13.3.1.4).
                    self.interval = (self.interval * 2).min(self.config.t2);
                    self.timers.set(G, now + self.interval);
                }
                H => {
                    let was_2xx = self.state == State::Accepted;
                    self.timers.stop_all();
                    self.state = State::Terminated;
                    self.events.push_back(TxEvent::AckTimeout { was_2xx });
                    self.events.push_back(TxEvent::Terminated);
                }
                I | L => {
                    self.timers.stop_all();
                    self.state = State::Terminated;
                    self.events.push_back(TxEvent::Terminated);
                }
                _ => {}
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.take()
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
    use std::time::Duration;

    fn drive(tx: &mut ServerInvite, t0: Instant, until: Duration) -> Vec<u64> {
        run(
            tx,
            t0,
            until,
            |tx, now| tx.handle_timeout(now),
            |tx| tx.poll_timeout(),
            |tx| tx.poll_transmit(),
        )
    }

    #[test]
    fn two_hundred_retransmits_doubling_to_t2_then_ack_timeout() {
        let t0 = Instant::now();
        let mut tx = ServerInvite::new(false, TimerConfig::default());
        tx.send_response(t0, 100, b"100".to_vec());
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"100"[..]));
        tx.send_response(t0, 200, b"200".to_vec());
        let sent = drive(&mut tx, t0, Duration::from_secs(40));
        // 0, then T1 doubling capped at T2 = 4 s, until Timer H at 32 s.
        assert_eq!(
            sent,
            [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(tx.poll_event(), Some(TxEvent::AckTimeout { was_2xx: true }));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert!(tx.is_terminated());
    }

    #[test]
    fn ack_stops_2xx_retransmission_once() {
        let t0 = Instant::now();
        let mut tx = ServerInvite::new(false, TimerConfig::default());
        tx.send_response(t0, 200, b"200".to_vec());
        tx.poll_transmit();
        tx.handle_timeout(t0 + Duration::from_millis(500));
        assert!(tx.poll_transmit().is_some());
        tx.handle_ack(t0 + Duration::from_millis(600));
        tx.handle_ack(t0 + Duration::from_millis(700));
        assert_eq!(tx.poll_event(), Some(TxEvent::Acked));
        assert_eq!(tx.poll_event(), None);
        // No more retransmissions, and Timer L ends the transaction.
        let sent = drive(&mut tx, t0, Duration::from_secs(40));
        assert!(sent.is_empty());
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }

    #[test]
    fn error_response_on_reliable_transport_is_not_retransmitted() {
        let t0 = Instant::now();
        let mut tx = ServerInvite::new(true, TimerConfig::default());
        tx.send_response(t0, 487, b"487".to_vec());
        let sent = drive(&mut tx, t0, Duration::from_secs(40));
        assert_eq!(sent, [0]);
        assert_eq!(
            tx.poll_event(),
            Some(TxEvent::AckTimeout { was_2xx: false })
        );
    }

    #[test]
    fn error_response_ack_moves_to_confirmed_then_timer_i() {
        let t0 = Instant::now();
        let mut tx = ServerInvite::new(false, TimerConfig::default());
        tx.send_response(t0, 404, b"404".to_vec());
        tx.poll_transmit();
        tx.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"404"[..]));
        tx.handle_ack(t0 + Duration::from_millis(510));
        assert_eq!(
            tx.poll_timeout(),
            Some(t0 + Duration::from_millis(510) + Duration::from_secs(5))
        );
        tx.handle_timeout(t0 + Duration::from_secs(6));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_transmit(), None);
    }

    #[test]
    fn retransmitted_invite_gets_last_response_and_finals_are_final() {
        let t0 = Instant::now();
        let mut tx = ServerInvite::new(false, TimerConfig::default());
        tx.send_response(t0, 180, b"180".to_vec());
        tx.poll_transmit();
        tx.handle_retransmitted_invite();
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"180"[..]));
        tx.send_response(t0, 487, b"487".to_vec());
        tx.send_response(t0, 200, b"200".to_vec());
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"487"[..]));
        assert!(tx.is_final());
    }
}
