//! Per-call receive statistics: RFC 3550 interarrival jitter and the summary written into the
//! deposited message (`X-UMGW-Media-Stats`) and the call-end log line.

use std::fmt;
use std::str::FromStr;

use super::jitter::Counts;
use super::SAMPLE_RATE;

/// RFC 3550 §6.4.1 / A.8 interarrival jitter, in timestamp units. Sans-IO: the caller gives
/// each packet's arrival time in the same units (samples since any fixed origin).
#[derive(Debug, Clone, Copy, Default)]
pub struct JitterEstimator {
    jitter: f64,
    last_transit: Option<f64>,
}

impl JitterEstimator {
    /// Accounts for one packet with RTP `timestamp` that arrived at `arrival` (in samples).
    pub fn on_packet(&mut self, arrival: f64, timestamp: u32) {
        let transit = arrival - f64::from(timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // A jump of more than 10 s is a timestamp restart, not jitter.
            if d < f64::from(SAMPLE_RATE) * 10.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);
    }

    /// The current estimate in milliseconds.
    pub fn millis(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(SAMPLE_RATE)
    }
}

/// One call's receive statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MediaStats {
    /// RTP packets received from the caller.
    pub packets: u64,
    /// Sequence numbers never received.
    pub lost: u64,
    /// Packets that came after their place in the recording had passed (dropped).
    pub late: u64,
    /// Packets that came out of order and were put in place.
    pub reordered: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// RFC 3550 interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// RTP packets from another source than the call's (another call's stream on the same
    /// SBC, a stale stream): dropped, never recorded.
    pub foreign: u64,
}

impl MediaStats {
    /// Summary of a reorder buffer's counters, a jitter estimate and the packets the source
    /// latch refused.
    pub fn from_parts(counts: Counts, jitter: &JitterEstimator, foreign: u64) -> Self {
        MediaStats {
            foreign,
            packets: counts.received,
            lost: counts.lost,
            late: counts.late,
            reordered: counts.reordered,
            duplicates: counts.duplicates,
            jitter_ms: jitter.millis(),
        }
    }
}

impl fmt::Display for MediaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packets={}; lost={}; late={}; reordered={}; duplicates={}; jitter-ms={:.2}; foreign={}",
            self.packets,
            self.lost,
            self.late,
            self.reordered,
            self.duplicates,
            self.jitter_ms,
            self.foreign
        )
    }
}

/// Why a media stats header does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media stats: {0}")]
pub struct StatsParseError(&'static str);

impl FromStr for MediaStats {
    type Err = StatsParseError;

    /// Parses what [`Display`](fmt::Display) writes; unknown keys are ignored (newer writers).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut st = MediaStats::default();
        let mut seen = 0u8;
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or(StatsParseError("item without '='"))?;
            let int = || v.parse::<u64>().map_err(|_| StatsParseError("bad count"));
            match k {
                "packets" => st.packets = int()?,
                "lost" => st.lost = int()?,
                "late" => st.late = int()?,
                "reordered" => st.reordered = int()?,
                "duplicates" => st.duplicates = int()?,
                "foreign" => st.foreign = int()?,
                "jitter-ms" => {
                    st.jitter_ms = v
                        .parse::<f64>()
                        .ok()
                        .filter(|j| j.is_finite() && *j >= 0.0)
                        .ok_or(StatsParseError("bad jitter"))?
                }
                _ => continue,
            }
            seen += 1;
        }
        if seen == 0 {
            return Err(StatsParseError("no known item"));
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let st = MediaStats {
            packets: 1500,
            lost: 3,
            late: 1,
            reordered: 7,
            duplicates: 2,
            jitter_ms: 1.25,
            foreign: 40,
        };
        let text = st.to_string();
        assert_eq!(
            text,
            "packets=1500; lost=3; late=1; reordered=7; duplicates=2; jitter-ms=1.25; foreign=40"
        );
        assert_eq!(text.parse::<MediaStats>(), Ok(st));
        // Messages stored before the latch counted foreign packets still parse.
        let old = "packets=1500; lost=3; late=1; reordered=7; duplicates=2; jitter-ms=1.25";
        assert_eq!(
            old.parse::<MediaStats>(),
            Ok(MediaStats { foreign: 0, ..st })
        );
        assert!("garbage".parse::<MediaStats>().is_err());
        assert!("lost=x".parse::<MediaStats>().is_err());
    }

    #[test]
    fn steady_stream_has_no_jitter_and_delayed_packet_has_some() {
        let mut j = JitterEstimator::default();
        for k in 0..50u32 {
            j.on_packet(f64::from(k * 160) + 1000.0, k * 160);
        }
        assert_eq!(j.millis(), 0.0);
        j.on_packet(50.0 * 160.0 + 1000.0 + 80.0, 50 * 160);
        // |D| = 80 samples = 10 ms, smoothed by 1/16.
        assert!((j.millis() - 10.0 / 16.0).abs() < 1e-9);
    }
}
