//! Which RTP port a new call gets: a random even port of the configured range that no call of
//! ours holds and whose last call ended at least `media.rtp_port_reuse_delay_ms` ago.
//!
//! Random, so a stream still arriving for a call from before a restart (allocation used to
//! restart at the bottom of the range) or for a call that just ended is unlikely to reach the
//! new call's port; the reuse delay makes it impossible within one run. Sans-IO: the core binds
//! the sockets and reports what it holds and releases.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    InUse,
    /// Released at this instant.
    Cooling(Instant),
}

/// The even ports of `min..=max` and what each is doing.
#[derive(Debug)]
pub(super) struct RtpPorts {
    /// The first even port of the range.
    base: u16,
    states: Vec<State>,
    reuse_after: Duration,
    rng: SmallRng,
}

impl RtpPorts {
    /// The even ports in `min..=max`; `seed` 0 draws from the OS, anything else makes the
    /// order repeatable (tests).
    pub fn new(min: u16, max: u16, reuse_after: Duration, seed: u64) -> Self {
        let base = min.saturating_add(min & 1);
        let count = if base > max {
            0
        } else {
            usize::from((max - base) / 2) + 1
        };
        let rng = if seed == 0 {
            SmallRng::from_entropy()
        } else {
            SmallRng::seed_from_u64(seed)
        };
        RtpPorts {
            base,
            states: vec![State::Free; count],
            reuse_after,
            rng,
        }
    }

    fn index(&self, port: u16) -> Option<usize> {
        let i = usize::from(port.checked_sub(self.base)? / 2);
        (port & 1 == 0 && i < self.states.len()).then_some(i)
    }

    fn usable(&self, state: State, now: Instant) -> bool {
        match state {
            State::Free => true,
            State::InUse => false,
            State::Cooling(since) => now.saturating_duration_since(since) >= self.reuse_after,
        }
    }

    /// Binds the first usable port, in a fresh random order, that `bind` accepts, and marks it
    /// in use. `None` when every port is in use, resting, or refused by `bind`.
    pub fn allocate<T>(
        &mut self,
        now: Instant,
        mut bind: impl FnMut(u16) -> Option<T>,
    ) -> Option<(u16, T)> {
        let (start, stride) = self.random_order();
        let n = self.states.len();
        for k in 0..n {
            let i = (start + k * stride) % n;
            if !self.usable(self.states[i], now) {
                continue;
            }
            let port = self.base + 2 * i as u16;
            if let Some(bound) = bind(port) {
                self.states[i] = State::InUse;
                return Some((port, bound));
            }
        }
        None
    }

    /// A random start and a random stride co-prime with the port count: visiting
    /// `start + k * stride` for k in 0..n sees every port once.
    fn random_order(&mut self) -> (usize, usize) {
        let n = self.states.len().max(1);
        let start = self.rng.gen_range(0..n);
        loop {
            let stride = self.rng.gen_range(1..n.max(2));
            if gcd(stride, n) == 1 {
                return (start, stride);
            }
        }
    }

    /// The call holding `port` ended at `now`: the port rests before its next call.
    pub fn release(&mut self, port: u16, now: Instant) {
        if let Some(i) = self.index(port) {
            self.states[i] = State::Cooling(now);
        }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const REST: Duration = Duration::from_secs(5);

    /// Every port `allocate` would try, in order, without taking one.
    fn order(p: &mut RtpPorts, now: Instant) -> Vec<u16> {
        let mut seen = Vec::new();
        let none: Option<(u16, ())> = p.allocate(now, |port| {
            seen.push(port);
            None
        });
        assert!(none.is_none());
        seen
    }

    fn take(p: &mut RtpPorts, now: Instant, want: u16) -> Option<u16> {
        p.allocate(now, |port| (port == want).then_some(()))
            .map(|(port, ())| port)
    }

    #[test]
    fn every_even_port_is_tried_once_in_random_order() {
        let mut p = RtpPorts::new(20001, 20041, REST, 7);
        let now = Instant::now();
        let a = order(&mut p, now);
        let set: HashSet<u16> = a.iter().copied().collect();
        assert_eq!(a.len(), 20, "20002..=20040 even");
        assert_eq!(set.len(), 20);
        assert!(a
            .iter()
            .all(|&port| port % 2 == 0 && (20002..=20040).contains(&port)));
        // Orders differ from call to call (and do not start at the bottom of the range).
        let starts: HashSet<u16> = (0..20).map(|_| order(&mut p, now)[0]).collect();
        assert!(starts.len() > 5, "{starts:?}");
    }

    #[test]
    fn a_released_port_rests_before_it_is_handed_out_again() {
        let t0 = Instant::now();
        let mut p = RtpPorts::new(30000, 30002, REST, 1);
        let mut all = order(&mut p, t0);
        all.sort_unstable();
        assert_eq!(all, [30000, 30002]);
        assert_eq!(take(&mut p, t0, 30000), Some(30000));
        assert_eq!(order(&mut p, t0), [30002]);
        p.release(30000, t0 + Duration::from_secs(1));
        assert_eq!(order(&mut p, t0 + Duration::from_secs(2)), [30002]);
        assert_eq!(take(&mut p, t0, 30002), Some(30002));
        assert!(order(&mut p, t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(order(&mut p, t0 + Duration::from_secs(6)), [30000]);
    }

    #[test]
    fn ports_outside_the_range_are_ignored_and_small_ranges_work() {
        let t0 = Instant::now();
        let mut p = RtpPorts::new(40001, 40001, REST, 3);
        assert!(order(&mut p, t0).is_empty());
        p.release(40003, t0);
        let mut p = RtpPorts::new(40000, 40001, REST, 3);
        assert_eq!(order(&mut p, t0), [40000]);
        assert_eq!(take(&mut p, t0, 40000), Some(40000));
        assert!(order(&mut p, t0).is_empty());
    }
}
