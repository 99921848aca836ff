//! Sans-IO outbound RTP on a packet clock (20 ms unless the peer asked for another ptime).
//!
//! Slot `n` is due at `start + n * ptime` (computed from the start, never from the last
//! wake-up, so timer jitter cannot accumulate into drift) and carries RTP timestamp
//! `initial_timestamp + n * samples_per_packet`. The timestamp follows the sampling clock whether or not a
//! packet is sent (RFC 3550 section 5.1), so an idle gap shows up as a timestamp jump, and the
//! first packet after it carries the marker bit (RFC 3551 section 4.1).

use std::time::{Duration, Instant};

use super::g711::G711;
use super::player::Player;
use super::rtp::{RtpHeader, HEADER_LEN};
use super::{FRAME, FRAME_SAMPLES, SAMPLE_RATE};

/// Bytes of one packet at the default 20 ms: RTP header plus 20 ms of G.711.
pub const PACKET_LEN: usize = HEADER_LEN + FRAME_SAMPLES;

/// Shortest and longest packet times we send (ms), in steps of 10 ms.
pub const MIN_PTIME_MS: u32 = 10;
pub const MAX_PTIME_MS: u32 = 120;

/// Samples in the longest packet we send.
pub const MAX_PACKET_SAMPLES: usize = (MAX_PTIME_MS * SAMPLE_RATE / 1000) as usize;

/// Bytes of the longest packet we send.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + MAX_PACKET_SAMPLES;

/// If more than this many slots are due at once, the task was descheduled: skip instead of
/// bursting a backlog the receiver's jitter buffer would drop anyway.
pub const MAX_CATCH_UP_SLOTS: u64 = 5;

/// Paces a [`Player`]'s frames out as RTP packets.
#[derive(Debug, Clone)]
pub struct RtpSender {
    start: Instant,
    /// Packet time, and the samples one packet carries.
    ptime: Duration,
    samples: usize,
    codec: G711,
    ssrc: u32,
    sequence: u16,
    initial_timestamp: u32,
    /// Index of the next slot to serve.
    slot: u64,
    /// Whether the previous slot carried a packet (so the next one continues a talkspurt).
    talking: bool,
    packets_sent: u64,
    skipped_slots: u64,
}

impl RtpSender {
    /// A sender whose slot 0 is due at `start`.
    pub fn new(
        start: Instant,
        codec: G711,
        ssrc: u32,
        initial_sequence: u16,
        initial_timestamp: u32,
    ) -> Self {
        RtpSender {
            start,
            ptime: FRAME,
            samples: FRAME_SAMPLES,
            codec,
            ssrc,
            sequence: initial_sequence,
            initial_timestamp,
            slot: 0,
            talking: false,
            packets_sent: 0,
            skipped_slots: 0,
        }
    }

    /// The same sender with packets of `ms` milliseconds (rounded down to 10 ms steps within
    /// [`MIN_PTIME_MS`]..=[`MAX_PTIME_MS`]) instead of 20.
    pub fn with_ptime(mut self, ms: u32) -> Self {
        let ms = (ms / 10 * 10).clamp(MIN_PTIME_MS, MAX_PTIME_MS);
        self.ptime = Duration::from_millis(u64::from(ms));
        self.samples = (ms * SAMPLE_RATE / 1000) as usize;
        self
    }

    /// Bytes of one packet (what `poll_transmit`'s buffer must hold).
    pub fn packet_len(&self) -> usize {
        HEADER_LEN + self.samples
    }

    /// The packet time.
    pub fn ptime(&self) -> Duration {
        self.ptime
    }

    /// Deadline of the next slot: the shell should call [`RtpSender::poll_transmit`] then.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline(self.slot)
    }

    fn deadline(&self, slot: u64) -> Instant {
        // Exact integer arithmetic from the start: no accumulated rounding.
        self.start + Duration::from_micros(slot.saturating_mul(self.ptime.as_micros() as u64))
    }

    /// Serves due slots; returns the length of a packet written to `out`, or `None` once no
    /// further slot is due. Call repeatedly until `None`.
    ///
    /// `out` must hold at least [`RtpSender::packet_len`] bytes; with a smaller buffer nothing
    /// is consumed and `None` is returned.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        player: &mut Player,
        out: &mut [u8],
    ) -> Option<usize> {
        let samples = self.samples;
        if out.len() < HEADER_LEN + samples {
            return None;
        }
        loop {
            if self.deadline(self.slot) > now {
                return None;
            }
            let elapsed = now.saturating_duration_since(self.start).as_nanos();
            let current = u64::try_from(elapsed / self.ptime.as_nanos()).unwrap_or(u64::MAX);
            let due = current.saturating_sub(self.slot).saturating_add(1);
            if due > MAX_CATCH_UP_SLOTS {
                // Jump to the current slot; the prompt resumes where it was (no audio is
                // discarded) and the timestamp jump is flagged with a marker.
                let skip = due - 1;
                self.slot += skip;
                self.skipped_slots += skip;
                self.talking = false;
            }
            let slot = self.slot;
            self.slot += 1;
            let mut frame = [0i16; MAX_PACKET_SAMPLES];
            let frame = &mut frame[..samples];
            if !player.next_frame(frame) {
                self.talking = false;
                continue;
            }
            let header = RtpHeader {
                marker: !self.talking,
                payload_type: self.codec.payload_type(),
                sequence: self.sequence,
                // Wrapping mod 2^32 is exactly RTP timestamp arithmetic.
                timestamp: self
                    .initial_timestamp
                    .wrapping_add((slot as u32).wrapping_mul(samples as u32)),
                ssrc: self.ssrc,
            };
            let h = header.write(out);
            self.codec.encode(frame, &mut out[h..h + samples]);
            self.sequence = self.sequence.wrapping_add(1);
            self.talking = true;
            self.packets_sent += 1;
            return Some(h + samples);
        }
    }

    /// Switches codec (after a re-INVITE); takes effect with the next packet.
    pub fn set_codec(&mut self, codec: G711) {
        self.codec = codec;
    }

    /// The codec packets are encoded with.
    pub fn codec(&self) -> G711 {
        self.codec
    }

    /// Our synchronisation source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packets written so far.
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    /// Slots skipped because the caller polled too late.
    pub fn skipped_slots(&self) -> u64 {
        self.skipped_slots
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::ulaw_encode;
    use crate::media::rtp::{parse, RtpPacket};
    use std::sync::Arc;

    const MS: Duration = Duration::from_millis(1);

    fn player_with(samples: usize) -> Player {
        let mut p = Player::new();
        p.enqueue(
            (0..samples)
                .map(|i| (i % 1000) as i16)
                .collect::<Vec<_>>()
                .into(),
        );
        p
    }

    /// Drives the sender as a shell would: wake at each deadline (plus `late`) until `until`.
    fn run(
        s: &mut RtpSender,
        p: &mut Player,
        until: Instant,
        late: Duration,
    ) -> Vec<(bool, u16, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        loop {
            let now = s.poll_timeout() + late;
            if now > until {
                return out;
            }
            while let Some(n) = s.poll_transmit(now, p, &mut buf) {
                let RtpPacket {
                    marker,
                    sequence,
                    timestamp,
                    payload,
                    ssrc,
                    payload_type,
                } = parse(&buf[..n]).unwrap();
                assert_eq!(ssrc, s.ssrc());
                assert_eq!(payload_type, 0);
                out.push((marker, sequence, timestamp, payload.to_vec()));
            }
        }
    }

    #[test]
    fn one_second_is_fifty_packets() {
        let t0 = Instant::now();
        let mut s = RtpSender::new(t0, G711::Pcmu, 0xABCD, 65530, u32::MAX - 400);
        let mut p = player_with(8000 * 3);
        // Slots 0..=49 are due in [0, 980 ms]; slot 50 at 1000 ms is not < 1 s.
        let pkts = run(&mut s, &mut p, t0 + Duration::from_millis(999), 3 * MS);
        assert_eq!(pkts.len(), 50);
        assert_eq!(s.packets_sent(), 50);
        for (i, (marker, seq, ts, payload)) in pkts.iter().enumerate() {
            assert_eq!(*marker, i == 0, "marker only on the first packet");
            assert_eq!(*seq, 65530u16.wrapping_add(i as u16));
            assert_eq!(*ts, (u32::MAX - 400).wrapping_add(160 * i as u32));
            assert_eq!(payload.len(), 160);
            assert_eq!(payload[0], ulaw_encode(((i * 160) % 1000) as i16));
        }
        assert_eq!(s.skipped_slots(), 0);
    }

    #[test]
    fn other_packet_times_keep_the_sampling_clock() {
        for (ms, samples) in [(10u32, 80usize), (30, 240), (60, 480), (120, 960)] {
            let t0 = Instant::now();
            let mut s = RtpSender::new(t0, G711::Pcmu, 7, 0, 1000).with_ptime(ms);
            assert_eq!(s.packet_len(), 12 + samples);
            let mut p = player_with(8000 * 3);
            // A worker ticking every 20 ms: the packets due by each tick go out then.
            let mut buf = [0u8; MAX_PACKET_LEN];
            let mut got = Vec::new();
            for tick in 0..50u32 {
                let now = t0 + FRAME * tick;
                while let Some(n) = s.poll_transmit(now, &mut p, &mut buf) {
                    let pkt = parse(&buf[..n]).unwrap();
                    got.push((pkt.timestamp, pkt.payload.len(), pkt.payload[0]));
                }
            }
            // Slots due in [0, 980 ms]: one per ptime, none skipped, none doubled.
            assert_eq!(got.len(), (980 / ms + 1) as usize, "ptime {ms}");
            for (i, (ts, len, first)) in got.iter().enumerate() {
                assert_eq!(*ts, 1000 + (i * samples) as u32, "ptime {ms}");
                assert_eq!(*len, samples);
                assert_eq!(*first, ulaw_encode(((i * samples) % 1000) as i16));
            }
        }
        // Unusual values round down to 10 ms steps within the supported range.
        let t0 = Instant::now();
        let s = |ms| {
            RtpSender::new(t0, G711::Pcmu, 1, 0, 0)
                .with_ptime(ms)
                .ptime()
        };
        assert_eq!(s(25), Duration::from_millis(20));
        assert_eq!(s(5), Duration::from_millis(10));
        assert_eq!(s(200), Duration::from_millis(120));
    }

    #[test]
    fn idle_gap_advances_timestamp_and_sets_marker() {
        let t0 = Instant::now();
        let mut s = RtpSender::new(t0, G711::Pcma, 1, 100, 0);
        let mut p = Player::new();
        p.enqueue(Arc::from(vec![1i16; 320])); // two frames
        let mut buf = [0u8; PACKET_LEN];
        let mut got = Vec::new();
        for slot in 0..10u32 {
            let now = t0 + FRAME * slot;
            if slot == 6 {
                p.enqueue(Arc::from(vec![2i16; 200])); // two frames, second padded
            }
            while let Some(n) = s.poll_transmit(now, &mut p, &mut buf) {
                let pkt = parse(&buf[..n]).unwrap();
                got.push((pkt.marker, pkt.sequence, pkt.timestamp, pkt.payload_type));
            }
        }
        assert_eq!(
            got,
            vec![
                (true, 100, 0, 8),
                (false, 101, 160, 8),
                (true, 102, 960, 8),
                (false, 103, 1120, 8),
            ]
        );
    }

    #[test]
    fn far_behind_skips_instead_of_bursting() {
        let t0 = Instant::now();
        let mut s = RtpSender::new(t0, G711::Pcmu, 1, 0, 0);
        let mut p = player_with(8000);
        let mut buf = [0u8; PACKET_LEN];
        assert!(s.poll_transmit(t0, &mut p, &mut buf).is_some());
        assert!(s.poll_transmit(t0, &mut p, &mut buf).is_none());
        // Three slots late (4 due): catch up by bursting, it is within the limit.
        let now = t0 + FRAME * 4 + MS;
        let mut n = 0;
        while s.poll_transmit(now, &mut p, &mut buf).is_some() {
            n += 1;
        }
        assert_eq!(n, 4);
        assert_eq!(s.skipped_slots(), 0);
        // Descheduled for a second: slots 5..=55 are due; send only the current one.
        let now = t0 + FRAME * 55 + 5 * MS;
        let len = s.poll_transmit(now, &mut p, &mut buf).unwrap();
        let copy = buf;
        let pkt = parse(&copy[..len]).unwrap();
        assert!(s.poll_transmit(now, &mut p, &mut buf).is_none());
        assert_eq!(s.skipped_slots(), 50);
        assert_eq!(pkt.timestamp, 55 * 160);
        assert_eq!(pkt.sequence, 5, "sequence counts packets, not slots");
        assert!(pkt.marker, "timestamp jump starts a new talkspurt");
        assert_eq!(s.poll_timeout(), t0 + FRAME * 56);
        // No audio was dropped: the 6th frame of the prompt went out.
        assert_eq!(pkt.payload[0], ulaw_encode(800));
    }

    #[test]
    fn deadlines_do_not_drift() {
        let t0 = Instant::now();
        let mut s = RtpSender::new(t0, G711::Pcmu, 1, 0, 0);
        let mut p = player_with(8000 * 30);
        let mut buf = [0u8; PACKET_LEN];
        for n in 0..1000u32 {
            assert_eq!(s.poll_timeout(), t0 + FRAME * n);
            // Wake up late by a varying 0..7 ms jitter; the schedule must not shift.
            let now = s.poll_timeout() + MS * (n % 8);
            assert!(s.poll_transmit(now, &mut p, &mut buf).is_some());
            assert!(s.poll_transmit(now, &mut p, &mut buf).is_none());
        }
        assert_eq!(s.poll_timeout(), t0 + Duration::from_secs(20));
        assert_eq!(s.packets_sent(), 1000);
        let pkt = parse(&buf).unwrap();
        assert_eq!(pkt.timestamp, 999 * 160);
        assert!(!pkt.marker);
    }

    #[test]
    fn small_buffer_consumes_nothing() {
        let t0 = Instant::now();
        let mut s = RtpSender::new(t0, G711::Pcmu, 1, 0, 0);
        let mut p = player_with(160);
        assert!(s.poll_transmit(t0, &mut p, &mut [0u8; 100]).is_none());
        assert!(p.is_playing());
        assert_eq!(s.poll_timeout(), t0);
    }
}
