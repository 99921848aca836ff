//! Which source may feed a call's media: symmetric-RTP style latching (RFC 4961's spirit).
//!
//! Behind an SBC or a Mediation Server every caller's media comes from the same IP address, so
//! "from the peer's IP" is not enough to tell this call's stream from another call's (or from
//! a stream still arriving for a call from before a restart that had the same port). The latch
//! locks onto one source address:
//!
//! - The address the offer named (`c=`/`m=`) latches at its first valid packet, and takes over
//!   from any other source the moment it is heard: it is the one source we know is the peer.
//! - Another port of the offer's IP (a peer that does not send from the port it receives on,
//!   as SIPp's `play_pcap_audio` does) latches only after [`LEARN_WINDOW`] without a packet
//!   from the offer's address, so a stray stream cannot beat the caller's own at the start of
//!   a call (a phone sends from the moment it is answered); and it gives way the moment the
//!   offer's address is heard, so a stray that latched while the caller was still quiet is
//!   cut off by the caller's first packet.
//! - Once latched, every SSRC from the latched address is accepted (RFC 4733 events often
//!   carry their own SSRC, and a peer may restart its stream); another address is accepted
//!   only after the latched one has been silent for [`RELATCH_AFTER`], so a re-routed media
//!   path recovers without a re-INVITE.
//! - Other IP addresses never feed the call.
//!
//! Sans-IO: the caller passes the arrival time; the latch counts what it refused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long another port of the peer's IP must wait for the offer's own address to speak
/// before it may latch. Short: an asymmetric peer's first digits (barge-in during the greeting)
/// must not be lost, and the offer's address takes over whenever it speaks anyway.
pub const LEARN_WINDOW: Duration = Duration::from_millis(500);

/// How long the latched source must be silent before another source may take over.
pub const RELATCH_AFTER: Duration = Duration::from_secs(2);

/// What the latch made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source: use it.
    Accept,
    /// This packet latched (or re-latched) its source: use it.
    Latched,
    /// From another source: drop it.
    Foreign,
}

impl Verdict {
    /// Whether the packet may feed the call.
    pub fn accepted(self) -> bool {
        self != Verdict::Foreign
    }
}

#[derive(Debug, Clone, Copy)]
struct Source {
    addr: SocketAddr,
    ssrc: u32,
    last_heard: Instant,
}

/// One call's source latch (one per direction that receives: the caller's stream, a bridged
/// leg's stream).
#[derive(Debug, Clone)]
pub struct SourceLatch {
    /// Where the peer's offer (or answer) said its media is.
    offered: SocketAddr,
    /// When the offered address became the expected one (call set-up, re-INVITE).
    since: Instant,
    latched: Option<Source>,
    foreign: u64,
    relatched: u32,
}

impl SourceLatch {
    /// A latch expecting media from `offered`, starting at `now`.
    pub fn new(now: Instant, offered: SocketAddr) -> Self {
        SourceLatch {
            offered,
            since: now,
            latched: None,
            foreign: 0,
            relatched: 0,
        }
    }

    /// The peer moved its media (re-INVITE): the new address latches at its first packet,
    /// as at set-up.
    pub fn set_offered(&mut self, now: Instant, offered: SocketAddr) {
        if offered != self.offered {
            self.offered = offered;
            self.since = now;
        }
    }

    /// Where the peer said its media is.
    pub fn offered(&self) -> SocketAddr {
        self.offered
    }

    /// The address media is latched to, if any packet latched yet.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched.map(|s| s.addr)
    }

    /// Packets refused because they came from another source.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// Times another source took over after the latched one fell silent.
    pub fn relatched(&self) -> u32 {
        self.relatched
    }

    /// Judges a valid RTP packet (already authenticated, if the call uses SRTP) with `ssrc`
    /// from `from`, arrived at `now`.
    pub fn check(&mut self, now: Instant, from: SocketAddr, ssrc: u32) -> Verdict {
        if from.ip() != self.offered.ip() {
            self.foreign += 1;
            return Verdict::Foreign;
        }
        let heard = Source {
            addr: from,
            ssrc,
            last_heard: now,
        };
        match self.latched {
            Some(ref mut s) if s.addr == from => {
                s.ssrc = ssrc;
                s.last_heard = now;
                Verdict::Accept
            }
            Some(s) => {
                let offer_speaks = from == self.offered;
                let silent = now.saturating_duration_since(s.last_heard) >= RELATCH_AFTER;
                if offer_speaks || silent {
                    tracing::info!(
                        from = %s.addr, ssrc = s.ssrc, to = %from, new_ssrc = ssrc,
                        "media source changed"
                    );
                    self.latched = Some(heard);
                    self.relatched += 1;
                    Verdict::Latched
                } else {
                    self.foreign += 1;
                    Verdict::Foreign
                }
            }
            None => {
                let waited = now.saturating_duration_since(self.since) >= LEARN_WINDOW;
                if from == self.offered || waited {
                    tracing::debug!(%from, ssrc, "media source latched");
                    self.latched = Some(heard);
                    Verdict::Latched
                } else {
                    self.foreign += 1;
                    Verdict::Foreign
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_offered_address_latches_and_other_ports_are_refused() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(t0, addr("10.0.0.5:4000"));
        // A stray stream on another port of the same SBC arrives first: refused.
        assert_eq!(l.check(t0, addr("10.0.0.5:5000"), 7), Verdict::Foreign);
        assert_eq!(l.check(t0 + MS, addr("10.0.0.5:4000"), 1), Verdict::Latched);
        assert_eq!(
            l.check(t0 + 2 * MS, addr("10.0.0.5:4000"), 1),
            Verdict::Accept
        );
        // Another SSRC from the latched address (RFC 4733 events, a restarted stream).
        assert_eq!(
            l.check(t0 + 3 * MS, addr("10.0.0.5:4000"), 2),
            Verdict::Accept
        );
        // The stray stream keeps being refused while the caller talks.
        for k in 0..200u32 {
            let now = t0 + 20 * MS * k;
            assert_eq!(l.check(now, addr("10.0.0.5:4000"), 1), Verdict::Accept);
            assert_eq!(l.check(now, addr("10.0.0.5:5000"), 7), Verdict::Foreign);
        }
        assert_eq!(l.foreign(), 201);
        assert_eq!(l.latched(), Some(addr("10.0.0.5:4000")));
    }

    #[test]
    fn other_ips_never_feed_the_call() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(t0, addr("10.0.0.5:4000"));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.check(later, addr("10.0.0.6:4000"), 1), Verdict::Foreign);
        assert_eq!(l.latched(), None);
    }

    #[test]
    fn an_asymmetric_peer_latches_after_the_learning_window() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(t0, addr("10.0.0.5:4000"));
        assert_eq!(l.check(t0 + MS, addr("10.0.0.5:4002"), 9), Verdict::Foreign);
        let later = t0 + LEARN_WINDOW;
        assert_eq!(l.check(later, addr("10.0.0.5:4002"), 9), Verdict::Latched);
        assert_eq!(l.latched(), Some(addr("10.0.0.5:4002")));
        // The offered address, once it speaks, takes over at once.
        assert_eq!(
            l.check(later + MS, addr("10.0.0.5:4000"), 3),
            Verdict::Latched
        );
        assert_eq!(
            l.check(later + 2 * MS, addr("10.0.0.5:4002"), 9),
            Verdict::Foreign
        );
    }

    #[test]
    fn a_new_path_takes_over_only_after_the_latched_one_fell_silent() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(t0, addr("10.0.0.5:4000"));
        l.check(t0, addr("10.0.0.5:4000"), 1);
        let quiet = t0 + RELATCH_AFTER - MS;
        assert_eq!(l.check(quiet, addr("10.0.0.5:4100"), 5), Verdict::Foreign);
        let silent = t0 + RELATCH_AFTER;
        assert_eq!(l.check(silent, addr("10.0.0.5:4100"), 5), Verdict::Latched);
        assert_eq!(l.relatched(), 1);
        assert_eq!(
            l.check(silent + MS, addr("10.0.0.5:4100"), 5),
            Verdict::Accept
        );
    }

    #[test]
    fn a_reinvite_moves_the_expected_address() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(t0, addr("10.0.0.5:4000"));
        l.check(t0, addr("10.0.0.5:4000"), 1);
        l.set_offered(t0 + MS, addr("10.0.0.5:6000"));
        assert_eq!(
            l.check(t0 + 2 * MS, addr("10.0.0.5:6000"), 2),
            Verdict::Latched
        );
        assert_eq!(
            l.check(t0 + 3 * MS, addr("10.0.0.5:4000"), 1),
            Verdict::Foreign
        );
    }
}
