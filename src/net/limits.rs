//! Flood limits for sources that are not trusted peers: a token bucket per source address and
//! one shared by all of them, so a scanner or a flood costs a bounded number of (stateless)
//! 403s per second and the rest is dropped before it is even parsed. Sans-IO: time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits for untrusted traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodLimits {
    /// Messages per second one untrusted source may send before it is dropped.
    pub per_source: f64,
    /// Burst allowance per source.
    pub per_source_burst: f64,
    /// Messages per second from all untrusted sources together.
    pub total: f64,
    /// Sources remembered at once; beyond this, new sources share the total budget only.
    pub max_sources: usize,
}

impl Default for FloodLimits {
    fn default() -> Self {
        Self {
            per_source: 10.0,
            per_source_burst: 20.0,
            total: 200.0,
            max_sources: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Token buckets for untrusted sources.
#[derive(Debug)]
pub struct SourceLimiter {
    limits: FloodLimits,
    sources: HashMap<IpAddr, Bucket>,
    total: Bucket,
    dropped: u64,
    last_sweep: Instant,
}

impl SourceLimiter {
    pub fn new(limits: FloodLimits, now: Instant) -> Self {
        Self {
            limits,
            sources: HashMap::new(),
            total: Bucket {
                tokens: limits.total,
                last: now,
            },
            dropped: 0,
            last_sweep: now,
        }
    }

    /// Whether one more message from untrusted `ip` may be processed now.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.sweep(now);
        let l = self.limits;
        let known = self.sources.len();
        let per_source_ok = match self.sources.get_mut(&ip) {
            Some(b) => b.take(now, l.per_source, l.per_source_burst),
            None if known < l.max_sources => {
                let mut b = Bucket {
                    tokens: l.per_source_burst,
                    last: now,
                };
                let ok = b.take(now, l.per_source, l.per_source_burst);
                self.sources.insert(ip, b);
                ok
            }
            None => true, // table full: only the shared budget applies
        };
        let ok = per_source_ok && self.total.take(now, l.total, l.total);
        if !ok {
            self.dropped += 1;
        }
        ok
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets sources whose bucket has refilled (idle for a while), every 10 s.
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < Duration::from_secs(10) {
            return;
        }
        self.last_sweep = now;
        let refill = Duration::from_secs_f64(self.limits.per_source_burst / self.limits.per_source);
        self.sources
            .retain(|_, b| now.saturating_duration_since(b.last) < refill);
    }
}

/// Decides, before parsing, whether a message is let in: always for trusted peers, within the
/// flood limits for everyone else. Shared by the receive loops; the core updates the trusted
/// list on reload.
#[derive(Debug)]
pub struct Admission {
    trusted: std::sync::RwLock<Vec<crate::acl::IpNet>>,
    limiter: std::sync::Mutex<SourceLimiter>,
}

impl Admission {
    pub fn new(trusted: Vec<crate::acl::IpNet>, limits: FloodLimits) -> Self {
        Self {
            trusted: std::sync::RwLock::new(trusted),
            limiter: std::sync::Mutex::new(SourceLimiter::new(limits, Instant::now())),
        }
    }

    pub fn set_trusted(&self, trusted: Vec<crate::acl::IpNet>) {
        if let Ok(mut t) = self.trusted.write() {
            *t = trusted;
        }
    }

    /// Whether to process a message from `ip` now.
    pub fn admit(&self, ip: IpAddr) -> bool {
        if self
            .trusted
            .read()
            .map(|t| crate::acl::any_contains(&t, ip))
            .unwrap_or(false)
        {
            return true;
        }
        let Ok(mut limiter) = self.limiter.lock() else {
            return false;
        };
        let ok = limiter.allow(ip, Instant::now());
        if !ok {
            metrics::counter!(crate::telemetry::UNTRUSTED_DROPPED).increment(1);
        }
        if !ok && limiter.dropped().is_power_of_two() {
            tracing::warn!(peer = %ip, dropped = limiter.dropped(), "untrusted flood: dropping messages");
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn burst_then_rate_per_source() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(FloodLimits::default(), t0);
        let allowed = (0..1000).filter(|_| l.allow(ip("192.0.2.1"), t0)).count();
        assert_eq!(allowed, 20, "burst");
        // One second later: ten more.
        let t1 = t0 + Duration::from_secs(1);
        let allowed = (0..1000).filter(|_| l.allow(ip("192.0.2.1"), t1)).count();
        assert_eq!(allowed, 10);
        // Another source has its own bucket.
        assert!(l.allow(ip("192.0.2.2"), t1));
        assert_eq!(l.dropped(), 980 + 990);
    }

    #[test]
    fn total_budget_caps_many_sources() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(FloodLimits::default(), t0);
        let allowed = (0..10_000u32)
            .filter(|i| l.allow(IpAddr::from(i.to_be_bytes()), t0))
            .count();
        assert_eq!(allowed, 200);
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(FloodLimits::default(), t0);
        for i in 0..100u32 {
            l.allow(IpAddr::from(i.to_be_bytes()), t0);
        }
        l.allow(ip("192.0.2.1"), t0 + Duration::from_secs(11));
        assert_eq!(l.sources.len(), 1);
    }
}
