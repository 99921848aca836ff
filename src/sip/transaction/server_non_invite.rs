//! Non-INVITE server transaction (RFC 3261 §17.2.2).

use std::time::{Duration, Instant};

use super::{TimerConfig, Timers, TxEvent};

const J: usize = 0;

/// One non-INVITE server transaction (BYE, CANCEL, OPTIONS, NOTIFY responses...).
#[derive(Debug)]
pub struct ServerNonInvite {
    completed: bool,
    terminated: bool,
    reliable: bool,
    config: TimerConfig,
    timers: Timers<1>,
    last_response: Option<Vec<u8>>,
    transmit: Option<Vec<u8>>,
    events: std::collections::VecDeque<TxEvent>,
}

impl ServerNonInvite {
    pub fn new(reliable: bool, config: TimerConfig) -> Self {
        Self {
            completed: false,
            terminated: false,
            reliable,
            config,
            timers: Timers::new(),
            last_response: None,
            transmit: None,
            events: Default::default(),
        }
    }

    pub fn send_response(&mut self, now: Instant, code: u16, bytes: Vec<u8>) {
        if self.completed {
            return;
        }
        self.transmit = Some(bytes.clone());
        self.last_response = Some(bytes);
        if code >= 200 {
            self.completed = true;
            // Timer J absorbs request retransmissions: 64·T1 on UDP, zero on streams.
            let wait = if self.reliable {
                Duration::ZERO
            } else {
                self.config.timeout()
            };
            self.timers.set(J, now + wait);
        }
    }

    pub fn handle_retransmitted_request(&mut self) {
        if !self.terminated {
            self.transmit = self.last_response.clone();
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.take_expired(now) == Some(J) {
            self.terminated = true;
            self.events.push_back(TxEvent::Terminated);
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
    use super::*;

    #[test]
    fn absorbs_retransmissions_until_timer_j() {
        let t0 = Instant::now();
        let mut tx = ServerNonInvite::new(false, TimerConfig::default());
        tx.send_response(t0, 200, b"200".to_vec());
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"200"[..]));
        tx.handle_retransmitted_request();
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"200"[..]));
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.handle_timeout(t0 + Duration::from_secs(31));
        assert!(!tx.is_terminated());
        tx.handle_timeout(t0 + Duration::from_secs(32));
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }

    #[test]
    fn reliable_terminates_at_once() {
        let t0 = Instant::now();
        let mut tx = ServerNonInvite::new(true, TimerConfig::default());
        tx.send_response(t0, 200, b"200".to_vec());
        assert_eq!(tx.poll_timeout(), Some(t0));
    }
}
