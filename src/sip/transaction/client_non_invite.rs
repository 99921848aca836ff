//! Non-INVITE client transaction (RFC 3261 §17.1.2): our BYE and NOTIFY.

use std::time::{Duration, Instant};

use super::{TimerConfig, Timers, TxEvent};

const E: usize = 0; // retransmit
const F: usize = 1; // give up
const K: usize = 2; // absorb response retransmissions

/// One non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    request: Vec<u8>,
    reliable: bool,
    config: TimerConfig,
    timers: Timers<3>,
    interval: Duration,
    completed: bool,
    terminated: bool,
    transmit: Option<Vec<u8>>,
    events: std::collections::VecDeque<TxEvent>,
}

impl ClientNonInvite {
    /// Starts the transaction: the request is transmitted at once.
    pub fn new(now: Instant, request: Vec<u8>, reliable: bool, config: TimerConfig) -> Self {
        let mut timers = Timers::new();
        if !reliable {
            timers.set(E, now + config.t1);
        }
        timers.set(F, now + config.timeout());
        Self {
            transmit: Some(request.clone()),
            request,
            reliable,
            config,
            timers,
            interval: config.t1,
            completed: false,
            terminated: false,
            events: Default::default(),
        }
    }

    pub fn handle_response(&mut self, now: Instant, code: u16) {
        if self.completed || self.terminated {
            return;
        }
        self.events.push_back(TxEvent::Response(code));
        if code >= 200 {
            self.completed = true;
            self.timers.stop_all();
            let wait = if self.reliable {
                Duration::ZERO
            } else {
                self.config.t4
            };
            self.timers.set(K, now + wait);
        } else if !self.reliable {
            // Proceeding: retransmit at T2 (§17.1.2.2).
            self.interval = self.config.t2;
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            match timer {
                E => {
                    self.transmit = Some(self.request.clone());
                    self.interval = (self.interval * 2).min(self.config.t2);
                    self.timers.set(E, now + self.interval);
                }
                F => {
                    self.timers.stop_all();
                    self.terminated = true;
                    self.events.push_back(TxEvent::Timeout);
                    self.events.push_back(TxEvent::Terminated);
                }
                K => {
                    self.terminated = true;
                    self.events.push_back(TxEvent::Terminated);
                }
                _ => {}
            }
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.terminated
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

    #[test]
    fn timer_e_doubles_to_t2_and_timer_f_times_out() {
        let t0 = Instant::now();
        let mut tx = ClientNonInvite::new(t0, b"BYE".to_vec(), false, TimerConfig::default());
        let sent = run(
            &mut tx,
            t0,
            Duration::from_secs(40),
            |tx, now| tx.handle_timeout(now),
            |tx| tx.poll_timeout(),
            |tx| tx.poll_transmit(),
        );
        assert_eq!(
            sent,
            [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }

    #[test]
    fn final_response_stops_retransmission() {
        let t0 = Instant::now();
        let mut tx = ClientNonInvite::new(t0, b"NOTIFY".to_vec(), false, TimerConfig::default());
        tx.poll_transmit();
        tx.handle_response(t0 + Duration::from_millis(20), 200);
        tx.handle_response(t0 + Duration::from_millis(30), 200);
        assert_eq!(tx.poll_event(), Some(TxEvent::Response(200)));
        assert_eq!(tx.poll_event(), None);
        tx.handle_timeout(t0 + Duration::from_secs(6));
        assert_eq!(tx.poll_transmit(), None);
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    }

    #[test]
    fn reliable_transport_never_retransmits() {
        let t0 = Instant::now();
        let mut tx = ClientNonInvite::new(t0, b"BYE".to_vec(), true, TimerConfig::default());
        let sent = run(
            &mut tx,
            t0,
            Duration::from_secs(40),
            |tx, now| tx.handle_timeout(now),
            |tx| tx.poll_timeout(),
            |tx| tx.poll_transmit(),
        );
        assert_eq!(sent, [0]);
        assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
    }
}
