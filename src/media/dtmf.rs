//! RFC 4733 telephone-events (DTMF digits carried in RTP).
//!
//! A sender emits several packets per key press (all with the same RTP timestamp, growing
//! duration) and retransmits the end packet three times. [`DtmfReceiver`] turns that into one
//! digit per event. It keys events on (SSRC, timestamp) of the telephone-event packets only:
//! some peers (SIPp's pcaps) send DTMF with an SSRC different from the audio's.

use thiserror::Error;

/// Why a telephone-event payload is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than the 4-byte event block.
    #[error("telephone-event payload too short: {len} bytes, need 4")]
    TooShort {
        /// Payload length.
        len: usize,
    },
}

/// One RFC 4733 section 2.3 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-15 are the DTMF keys).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (6 bits).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of a payload (redundant trailing blocks are ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Writes the 4-byte block into `out`; returns 4, or 0 if `out` is too small.
    pub fn write(&self, out: &mut [u8]) -> usize {
        let Some(b) = out.get_mut(..4) else {
            return 0;
        };
        b[0] = self.event;
        b[1] = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        b[2..4].copy_from_slice(&self.duration.to_be_bytes());
        4
    }
}

/// The key for DTMF event code `event` (0-9, `*`, `#`, A-D), if it is a DTMF event.
pub fn event_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// The event code for a DTMF key (inverse of [`event_char`]; accepts lower-case a-d).
pub fn char_event(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(c as u8 - b'A' + 12),
        'a'..='d' => Some(c as u8 - b'a' + 12),
        _ => None,
    }
}

/// How many recent events we remember: enough to absorb reordered end retransmissions of an
/// earlier event arriving after the next one started.
const RECENT: usize = 8;

/// Turns a stream of telephone-event packets into digits, exactly once per event.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    recent: [Option<(u32, u32)>; RECENT],
    next: usize,
}

impl DtmfReceiver {
    /// A receiver that has seen no events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one telephone-event packet; returns the key on the first packet of a new event.
    ///
    /// An event is identified by `(ssrc, rtp_timestamp)`: continuation and end retransmissions
    /// share the timestamp, and a new key press gets a new one even for the same digit.
    /// Non-DTMF events (16 and up) return `None`.
    pub fn handle(&mut self, ssrc: u32, rtp_timestamp: u32, ev: &TelephoneEvent) -> Option<char> {
        let key = (ssrc, rtp_timestamp);
        if self.recent.contains(&Some(key)) {
            return None;
        }
        self.recent[self.next] = Some(key);
        self.next = (self.next + 1) % RECENT;
        event_char(ev.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(event: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn parse_and_write() {
        let e = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(e, ev(11, true, 800));
        let mut b = [0u8; 4];
        assert_eq!(e.write(&mut b), 4);
        assert_eq!(b, [11, 0x8A, 0x03, 0x20]);
        assert_eq!(e.write(&mut [0u8; 3]), 0);
        // R bit is ignored, volume keeps 6 bits.
        let e = TelephoneEvent::parse(&[5, 0x7F, 0, 160, 99]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 5,
                end: false,
                volume: 63,
                duration: 160
            }
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort { len: 3 })
        );
    }

    #[test]
    fn char_mapping() {
        let all = "0123456789*#ABCD";
        for (i, c) in all.chars().enumerate() {
            assert_eq!(event_char(i as u8), Some(c));
            assert_eq!(char_event(c), Some(i as u8));
        }
        assert_eq!(event_char(16), None);
        assert_eq!(char_event('x'), None);
        assert_eq!(char_event('d'), Some(15));
    }

    #[test]
    fn one_digit_per_event_with_end_retransmits() {
        let mut rx = DtmfReceiver::new();
        let ssrc = 0x1234;
        // '5': start, two updates, three end packets.
        assert_eq!(rx.handle(ssrc, 1000, &ev(5, false, 160)), Some('5'));
        assert_eq!(rx.handle(ssrc, 1000, &ev(5, false, 320)), None);
        assert_eq!(rx.handle(ssrc, 1000, &ev(5, false, 480)), None);
        for _ in 0..3 {
            assert_eq!(rx.handle(ssrc, 1000, &ev(5, true, 640)), None);
        }
        // Same digit again: new timestamp, new event.
        assert_eq!(rx.handle(ssrc, 3000, &ev(5, false, 160)), Some('5'));
        // A late end retransmission of the first press does not repeat it.
        assert_eq!(rx.handle(ssrc, 1000, &ev(5, true, 640)), None);
        // Lost start packets: the first packet seen (an end) still reports the digit once.
        assert_eq!(rx.handle(ssrc, 5000, &ev(11, true, 800)), Some('#'));
        assert_eq!(rx.handle(ssrc, 5000, &ev(11, true, 800)), None);
    }

    #[test]
    fn ssrc_independent_of_audio_and_distinguishes_sources() {
        let mut rx = DtmfReceiver::new();
        // Two sources with an identical timestamp are two events.
        assert_eq!(rx.handle(1, 160, &ev(1, false, 160)), Some('1'));
        assert_eq!(rx.handle(2, 160, &ev(2, false, 160)), Some('2'));
        assert_eq!(rx.handle(1, 160, &ev(1, true, 400)), None);
        // Non-DTMF events (e.g. 32 = answer tone) are swallowed.
        assert_eq!(rx.handle(1, 9999, &ev(32, false, 160)), None);
    }

    proptest! {
        /// Any number of repeats of each event, in any order of interleaved packets within a
        /// window, yields each event's digit exactly once and in first-seen order.
        #[test]
        fn exactly_once(
            digits in proptest::collection::vec(0u8..16, 1..20),
            repeats in proptest::collection::vec(1usize..8, 20),
            ssrc in any::<u32>(),
            ts0 in any::<u32>(),
        ) {
            let mut rx = DtmfReceiver::new();
            let mut got = String::new();
            for (i, &d) in digits.iter().enumerate() {
                let ts = ts0.wrapping_add(i as u32 * 1600);
                for r in 0..repeats[i] {
                    let end = r + 3 >= repeats[i];
                    if let Some(c) = rx.handle(ssrc, ts, &ev(d, end, (r as u16 + 1) * 160)) {
                        got.push(c);
                    }
                    // Also replay an end packet of the previous event.
                    if i > 0 {
                        let prev = ts0.wrapping_add((i as u32 - 1) * 1600);
                        prop_assert_eq!(rx.handle(ssrc, prev, &ev(digits[i - 1], true, 800)), None);
                    }
                }
            }
            let want: String = digits.iter().map(|&d| event_char(d).unwrap()).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn parse_never_panics_and_round_trips(b in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Ok(e) = TelephoneEvent::parse(&b) {
                let mut out = [0u8; 4];
                prop_assert_eq!(e.write(&mut out), 4);
                prop_assert_eq!(TelephoneEvent::parse(&out).unwrap(), e);
            } else {
                prop_assert!(b.len() < 4);
            }
        }
    }
}
