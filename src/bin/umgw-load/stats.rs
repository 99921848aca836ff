//! Figures the generator reports: a fixed-bucket histogram, a process's CPU and memory from
//! /proc, and the gateway's counters from its Prometheus endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// CPU seconds and RSS KiB of a process.
pub type Usage = Option<(f64, u64)>;

/// The gateway's RTP (received, lost) counters, its active calls and its late media ticks.
pub type Counters = Option<(u64, u64, u64, u64)>;

/// Fixed-bucket histogram, 10 µs buckets up to 1 s (no allocation after creation).
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 100_001],
            count: 0,
        }
    }
}

impl Histogram {
    pub fn record_ms(&mut self, ms: f64) {
        let i = ((ms.abs() * 100.0) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return i as f64 / 100.0;
            }
        }
        f64::NAN
    }

    /// Adds another histogram's samples (one per media thread) into this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
    }
}

/// CPU seconds (user + system, all threads) and RSS KiB of a process, from /proc.
pub fn proc_usage(pid: &str) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let hz = umgw::net::os::clock_ticks_per_second() as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some((ticks / hz, rss))
}

/// The summed usage of processes (a cluster's nodes); none when there are none or one is gone.
pub fn usage_of(pids: &[String]) -> Usage {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold((0.0, 0), |(cpu, rss), pid| {
        let (c, r) = proc_usage(pid)?;
        Some((cpu + c, rss + r))
    })
}

/// The summed counters of gateways (a cluster's nodes); none when there are none or one does
/// not answer.
pub fn scrape_all(addrs: &[SocketAddr]) -> Counters {
    if addrs.is_empty() {
        return None;
    }
    addrs.iter().try_fold((0, 0, 0, 0), |t, a| {
        let c = scrape(*a)?;
        Some((t.0 + c.0, t.1 + c.1, t.2 + c.2, t.3 + c.3))
    })
}

/// The gateway's RTP counters (received, lost), active calls and late ticks from its
/// Prometheus endpoint.
fn scrape(addr: SocketAddr) -> Counters {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: umgw\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let value = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Some((
        value("umgw_rtp_packets_received_total"),
        value("umgw_rtp_packets_lost_total"),
        value("umgw_calls_active"),
        value("umgw_media_ticks_late_total"),
    ))
}
