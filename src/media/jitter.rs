//! Receive-side reorder buffer: puts reordered packets back in sequence order, drops late and
//! duplicate ones, and counts losses exactly.
//!
//! Sans-IO and fixed-capacity: packets are copied into [`CAPACITY`] inline slots, so a push or
//! pop never allocates. Release is driven by sequence numbers, not by a clock: the packet that is
//! next in sequence comes out at once (no added delay on a clean stream); a gap is waited for
//! until [`JitterBuffer::depth`] newer packets have arrived, then declared lost. [`flush`]
//! releases everything held (end of recording).
//!
//! All packets of the stream go through the buffer, whatever their payload type: RFC 4733
//! events share the audio stream's sequence space, so leaving them out would look like loss.
//!
//! [`flush`]: JitterBuffer::flush

use super::rtp::RtpPacket;

/// Slots in the ring. A packet more than this far ahead of the next one due forces the gap
/// before it to be skipped.
pub const CAPACITY: usize = 16;
/// Largest payload held: 120 ms of G.711, the longest packet time we accept (RFC 3551 allows
/// any; 10-120 ms covers what phones, gateways and SBCs send). Larger ones are dropped and
/// counted as `oversize`.
pub const MAX_PAYLOAD: usize = crate::media::pacer::MAX_PACKET_SAMPLES;
/// Default reorder depth: a gap is declared lost once this many newer packets arrived (100 ms
/// at 20 ms ptime).
pub const DEFAULT_DEPTH: u64 = 5;

/// Sequence numbers this far behind the newest are a restart, not a late packet (RFC 3550 A.1).
const MAX_MISORDER: i64 = 100;
/// Sequence numbers this far ahead are a restart, not loss (RFC 3550 A.1).
const MAX_DROPOUT: i64 = 3000;
/// Extended sequence numbers start here so that a packet before the first never underflows.
const EXT_BASE: u64 = 1 << 32;

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Held (or ready) in sequence order.
    InOrder,
    /// Arrived after a newer packet but in time: put in place.
    Reordered,
    /// Arrived after its slot was released (or declared lost): dropped.
    Late,
    /// Already held or already released: dropped.
    Duplicate,
    /// Payload larger than [`MAX_PAYLOAD`]: dropped.
    Oversize,
}

/// Counters of the buffer since creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Packets pushed.
    pub received: u64,
    /// Packets released in order.
    pub released: u64,
    /// Sequence numbers skipped without a packet.
    pub lost: u64,
    /// Packets that arrived after their slot was passed.
    pub late: u64,
    /// Packets put back in place.
    pub reordered: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// Packets too large to hold.
    pub oversize: u64,
    /// Stream restarts (new SSRC or a sequence jump beyond RFC 3550's limits).
    pub restarts: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    /// Extended sequence number held, 0 when empty.
    ext: u64,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    len: u16,
    payload: [u8; MAX_PAYLOAD],
}

const EMPTY: Slot = Slot {
    ext: 0,
    marker: false,
    payload_type: 0,
    sequence: 0,
    timestamp: 0,
    ssrc: 0,
    len: 0,
    payload: [0; MAX_PAYLOAD],
};

impl Slot {
    fn fill(&mut self, ext: u64, p: &RtpPacket<'_>) {
        self.ext = ext;
        self.marker = p.marker;
        self.payload_type = p.payload_type;
        self.sequence = p.sequence;
        self.timestamp = p.timestamp;
        self.ssrc = p.ssrc;
        self.len = p.payload.len() as u16;
        self.payload[..p.payload.len()].copy_from_slice(p.payload);
    }

    fn packet(&self) -> RtpPacket<'_> {
        RtpPacket {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            payload: &self.payload[..usize::from(self.len)],
        }
    }
}

/// The reorder buffer of one RTP stream. About 8 KiB, all inline.
pub struct JitterBuffer {
    slots: [Slot; CAPACITY],
    /// A packet too far ahead to fit the ring yet; [`pop`](Self::pop) makes room for it.
    staged: Slot,
    staged_full: bool,
    depth: u64,
    /// Extended sequence number of the next packet due; 0 before the first packet.
    next: u64,
    /// Highest extended sequence number received.
    highest: u64,
    /// Last sequence number and its extension, the reference for extending the next one.
    ref_seq: u16,
    ref_ssrc: u32,
    held: usize,
    flushing: bool,
    counts: Counts,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("next", &self.next)
            .field("highest", &self.highest)
            .field("held", &self.held)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new(DEFAULT_DEPTH)
    }
}

impl JitterBuffer {
    /// A buffer that waits for a missing packet until `depth` newer ones arrived (clamped to
    /// 1..[`CAPACITY`]).
    pub fn new(depth: u64) -> Self {
        JitterBuffer {
            slots: [EMPTY; CAPACITY],
            staged: EMPTY,
            staged_full: false,
            depth: depth.clamp(1, CAPACITY as u64 - 1),
            next: 0,
            highest: 0,
            ref_seq: 0,
            ref_ssrc: 0,
            held: 0,
            flushing: false,
            counts: Counts::default(),
        }
    }

    /// The reorder depth in packets.
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// Counters so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Packets held, waiting for a gap before them.
    pub fn held(&self) -> usize {
        self.held + usize::from(self.staged_full)
    }

    /// Takes a received packet. Call [`pop`](Self::pop) until it returns `None` afterwards.
    pub fn push(&mut self, p: &RtpPacket<'_>) -> Arrival {
        self.counts.received += 1;
        self.flushing = false;
        if p.payload.len() > MAX_PAYLOAD {
            self.counts.oversize += 1;
            return Arrival::Oversize;
        }
        if self.staged_full {
            // Only one packet can wait outside the ring; make room before the next.
            self.skip_for_staged();
        }
        let ext = self.extend(p);
        if ext < self.next {
            // Behind the release point: either released already or declared lost.
            self.counts.late += 1;
            return Arrival::Late;
        }
        let reordered = ext < self.highest;
        if ext >= self.next + CAPACITY as u64 {
            self.staged.fill(ext, p);
            self.staged_full = true;
        } else {
            let slot = &mut self.slots[(ext % CAPACITY as u64) as usize];
            if slot.ext == ext {
                self.counts.duplicates += 1;
                return Arrival::Duplicate;
            }
            slot.fill(ext, p);
            self.held += 1;
        }
        self.highest = self.highest.max(ext);
        if reordered {
            self.counts.reordered += 1;
            Arrival::Reordered
        } else {
            Arrival::InOrder
        }
    }

    /// The next packet in sequence order, if it is due: either it is the next one, or the gap
    /// before it has waited long enough (or [`flush`](Self::flush) was called).
    pub fn pop(&mut self) -> Option<RtpPacket<'_>> {
        loop {
            if self.held == 0 && !self.staged_full {
                return None;
            }
            let idx = (self.next % CAPACITY as u64) as usize;
            if self.slots[idx].ext == self.next {
                self.slots[idx].ext = 0;
                self.held -= 1;
                self.next += 1;
                self.counts.released += 1;
                self.unstage();
                return Some(self.slots[idx].packet());
            }
            let waited = self.highest.saturating_sub(self.next) >= self.depth;
            if !(waited || self.staged_full || self.flushing) {
                return None;
            }
            self.counts.lost += 1;
            self.next += 1;
            self.unstage();
        }
    }

    /// Releases everything held on the following [`pop`](Self::pop) calls, counting the gaps
    /// between held packets as lost. The next [`push`](Self::push) ends the flush.
    pub fn flush(&mut self) {
        self.flushing = true;
    }

    /// Extended sequence number of `p`, re-basing on a new SSRC or an implausible jump.
    fn extend(&mut self, p: &RtpPacket<'_>) -> u64 {
        if self.next == 0 {
            return self.rebase(p, EXT_BASE);
        }
        let delta = i64::from(p.sequence.wrapping_sub(self.ref_seq) as i16);
        let ext = self.highest as i64 + delta;
        let plausible = (-MAX_MISORDER..=MAX_DROPOUT).contains(&delta);
        if p.ssrc != self.ref_ssrc || !plausible || ext < 0 {
            // A new stream continues right after the old one: no loss is invented.
            self.counts.restarts += 1;
            let ext = self.highest + 1;
            return self.rebase(p, ext);
        }
        if delta > 0 {
            self.ref_seq = p.sequence;
        }
        ext as u64
    }

    fn rebase(&mut self, p: &RtpPacket<'_>, ext: u64) -> u64 {
        if self.next == 0 {
            self.next = ext;
            self.highest = ext;
        }
        self.ref_seq = p.sequence;
        self.ref_ssrc = p.ssrc;
        ext
    }

    /// Moves the staged packet into the ring once it fits.
    fn unstage(&mut self) {
        if self.staged_full && self.staged.ext < self.next + CAPACITY as u64 {
            let idx = (self.staged.ext % CAPACITY as u64) as usize;
            self.slots[idx] = self.staged;
            self.staged_full = false;
            self.held += 1;
        }
    }

    /// Skips gaps (counted lost) until the staged packet fits; only used when the caller did
    /// not pop after the push that staged it.
    fn skip_for_staged(&mut self) {
        while self.staged_full {
            let idx = (self.next % CAPACITY as u64) as usize;
            if self.slots[idx].ext == self.next {
                // A held packet is in the way: it is overwritten unreleased, so it is lost too.
                self.slots[idx].ext = 0;
                self.held -= 1;
            }
            self.counts.lost += 1;
            self.next += 1;
            self.unstage();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pkt(seq: u16, payload: &[u8]) -> RtpPacket<'_> {
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 7,
            payload,
        }
    }

    /// Pushes `seqs` in order, popping after each push, then flushes; returns what came out.
    fn run(jb: &mut JitterBuffer, seqs: &[u16]) -> Vec<u16> {
        let mut out = Vec::new();
        for &s in seqs {
            let b = s.to_be_bytes();
            jb.push(&pkt(s, &b));
            while let Some(p) = jb.pop() {
                assert_eq!(p.payload, &p.sequence.to_be_bytes());
                out.push(p.sequence);
            }
        }
        jb.flush();
        while let Some(p) = jb.pop() {
            out.push(p.sequence);
        }
        out
    }

    #[test]
    fn in_order_stream_passes_without_delay() {
        let mut jb = JitterBuffer::default();
        for s in 0..100u16 {
            jb.push(&pkt(s, &[1]));
            assert_eq!(jb.pop().map(|p| p.sequence), Some(s));
            assert!(jb.pop().is_none());
        }
        assert_eq!(jb.counts().lost, 0);
    }

    #[test]
    fn swap_is_put_in_place() {
        let mut jb = JitterBuffer::default();
        assert_eq!(run(&mut jb, &[1, 2, 4, 3, 5]), vec![1, 2, 3, 4, 5]);
        let c = jb.counts();
        assert_eq!((c.reordered, c.lost, c.late), (1, 0, 0));
    }

    #[test]
    fn gap_is_declared_lost_after_depth_and_late_packet_dropped() {
        let mut jb = JitterBuffer::new(3);
        let mut out = run(&mut jb, &[10, 12, 13, 14]);
        assert_eq!(out, vec![10, 12, 13, 14]);
        assert_eq!(jb.counts().lost, 1);
        out = run(&mut jb, &[11]);
        assert!(out.is_empty());
        assert_eq!(jb.counts().late, 1);
    }

    #[test]
    fn wraps_around_sequence_zero() {
        let mut jb = JitterBuffer::default();
        let seqs = [65533u16, 65535, 65534, 0, 2, 1, 3];
        assert_eq!(run(&mut jb, &seqs), vec![65533, 65534, 65535, 0, 1, 2, 3]);
        assert_eq!(jb.counts().lost, 0);
        assert_eq!(jb.counts().reordered, 2);
    }

    #[test]
    fn big_gap_counts_every_missing_packet() {
        let mut jb = JitterBuffer::default();
        assert_eq!(run(&mut jb, &[0, 1, 41, 42]), vec![0, 1, 41, 42]);
        assert_eq!(jb.counts().lost, 39);
    }

    #[test]
    fn duplicate_and_new_ssrc() {
        let mut jb = JitterBuffer::default();
        assert_eq!(run(&mut jb, &[5, 7, 7, 6]), vec![5, 6, 7]);
        assert_eq!(jb.counts().duplicates, 1);
        jb.push(&RtpPacket {
            ssrc: 99,
            ..pkt(40000, &[0])
        });
        assert_eq!(jb.pop().map(|p| p.sequence), Some(40000));
        assert_eq!(jb.counts().restarts, 1);
        assert_eq!(jb.counts().lost, 0);
    }

    #[test]
    fn oversize_is_dropped() {
        let mut jb = JitterBuffer::default();
        let big = [0u8; MAX_PAYLOAD + 1];
        assert_eq!(jb.push(&pkt(1, &big)), Arrival::Oversize);
        assert!(jb.pop().is_none());
    }

    proptest! {
        /// Any arrival order where no packet is overtaken by one `depth` or more ahead of it
        /// comes out in order with nothing lost; packets left out are counted lost exactly.
        #[test]
        fn permutation_within_window_comes_out_in_order(
            start in any::<u16>(),
            jitter in proptest::collection::vec(0u64..DEFAULT_DEPTH, 2..300),
            drops in proptest::collection::btree_set(1usize..299, 0..30),
        ) {
            let n = jitter.len();
            // Sorting by k + jitter[k] with jitter < depth bounds how far a packet is overtaken;
            // the first packet is never overtaken, so it sets the base.
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&k| if k == 0 { 0 } else { k as u64 + jitter[k] });
            let keep = |k: usize| k == 0 || k == n - 1 || !drops.contains(&k);
            let arrivals: Vec<u16> = order.iter().copied().filter(|&k| keep(k))
                .map(|k| start.wrapping_add(k as u16)).collect();
            let expected: Vec<u16> = (0..n).filter(|&k| keep(k))
                .map(|k| start.wrapping_add(k as u16)).collect();
            let mut jb = JitterBuffer::default();
            let out = run(&mut jb, &arrivals);
            prop_assert_eq!(out, expected);
            let c = jb.counts();
            prop_assert_eq!(c.lost, (n - arrivals.len()) as u64);
            prop_assert_eq!((c.late, c.duplicates, c.restarts), (0, 0, 0));
        }
    }
}
