//! ITU-T G.711 µ-law (PCMU) and A-law (PCMA) codecs.
//!
//! The algorithms follow the ITU-T G.191 reference implementation (as also used by SpanDSP):
//! negative inputs are folded with one's complement, so `-1` encodes like `-0`. Decoding is a
//! lookup in a 256-entry table built at compile time; encoding is a few bit operations.

/// A G.711 variant, as negotiated in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum G711 {
    /// µ-law, static RTP payload type 0.
    Pcmu,
    /// A-law, static RTP payload type 8.
    Pcma,
}

impl G711 {
    /// Static RTP payload type (RFC 3551 table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The codec with static payload type `pt`, if it is a G.711 one.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(G711::Pcmu),
            8 => Some(G711::Pcma),
            _ => None,
        }
    }

    /// The SDP `a=rtpmap` encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            G711::Pcmu => "PCMU",
            G711::Pcma => "PCMA",
        }
    }

    /// Decodes `min(input.len(), out.len())` bytes into linear samples.
    pub fn decode(self, input: &[u8], out: &mut [i16]) {
        let table = match self {
            G711::Pcmu => &ULAW_TABLE,
            G711::Pcma => &ALAW_TABLE,
        };
        for (o, &b) in out.iter_mut().zip(input) {
            *o = table[b as usize];
        }
    }

    /// Encodes `min(input.len(), out.len())` linear samples into G.711 bytes.
    pub fn encode(self, input: &[i16], out: &mut [u8]) {
        match self {
            G711::Pcmu => {
                for (o, &s) in out.iter_mut().zip(input) {
                    *o = ulaw_encode(s);
                }
            }
            G711::Pcma => {
                for (o, &s) in out.iter_mut().zip(input) {
                    *o = alaw_encode(s);
                }
            }
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ALAW_AMI_MASK: u8 = 0x55;

static ULAW_TABLE: [i16; 256] = build_ulaw_table();
static ALAW_TABLE: [i16; 256] = build_alaw_table();

// Two builders because const fns cannot call through function pointers.
const fn build_ulaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

const fn ulaw_decode_calc(u: u8) -> i16 {
    let u = !u;
    let t = ((((u & 0x0F) as i32) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_calc(a: u8) -> i16 {
    let a = a ^ ALAW_AMI_MASK;
    let mut i = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    if seg != 0 {
        i = (i + 0x108) << (seg - 1);
    } else {
        i += 8;
    }
    if a & 0x80 != 0 {
        i as i16
    } else {
        -i as i16
    }
}

/// Index of the highest set bit (`v` must be non-zero).
#[inline]
fn top_bit(v: i32) -> i32 {
    31 - v.leading_zeros() as i32
}

/// Decodes one µ-law byte.
#[inline]
pub fn ulaw_decode(u: u8) -> i16 {
    ULAW_TABLE[u as usize]
}

/// Encodes one linear sample as µ-law.
#[inline]
pub fn ulaw_encode(s: i16) -> u8 {
    let (mag, mask) = if s < 0 {
        // One's complement fold: keeps the code table symmetric and avoids overflow at i16::MIN.
        (ULAW_BIAS - s as i32 - 1, 0x7Fu8)
    } else {
        (ULAW_BIAS + s as i32, 0xFFu8)
    };
    let seg = top_bit(mag | 0xFF) - 7;
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    (((seg << 4) | ((mag >> (seg + 3)) & 0x0F)) as u8) ^ mask
}

/// Decodes one A-law byte.
#[inline]
pub fn alaw_decode(a: u8) -> i16 {
    ALAW_TABLE[a as usize]
}

/// Encodes one linear sample as A-law.
#[inline]
pub fn alaw_encode(s: i16) -> u8 {
    let (mag, mask) = if s >= 0 {
        (s as i32, ALAW_AMI_MASK | 0x80)
    } else {
        (-(s as i32) - 1, ALAW_AMI_MASK)
    };
    let seg = top_bit(mag | 0xFF) - 7;
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if seg != 0 { seg + 3 } else { 4 };
    (((seg << 4) | ((mag >> shift) & 0x0F)) as u8) ^ mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ulaw_known_values() {
        // ITU-T G.711 table 2a end points and zero codes.
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_decode(0xEF), 132);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(1000), 0xCE);
        assert_eq!(ulaw_encode(-1000), 0x4E);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_encode(1000), 0xFA);
        assert_eq!(alaw_encode(-1000), 0x7A);
    }

    #[test]
    fn every_code_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "alaw {b:#04x}");
            // 0x7F is µ-law "negative zero": it decodes to 0, which encodes as 0xFF.
            let want = if b == 0x7F { 0xFF } else { b };
            assert_eq!(ulaw_encode(ulaw_decode(b)), want, "ulaw {b:#04x}");
        }
    }

    #[test]
    fn decode_is_monotonic() {
        // Positive half: codes 0xFF down to 0x80 (µ-law), sorted by magnitude.
        let mut prev = -1;
        for b in (0x80..=0xFFu8).rev() {
            let v = ulaw_decode(b) as i32;
            assert!(v > prev || (b == 0xFF && v == 0), "ulaw {b:#04x}");
            prev = v;
        }
        let mut all: Vec<i16> = (0..=255u8).map(alaw_decode).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 256, "A-law codes are distinct");
    }

    #[test]
    fn slice_api_processes_min_length() {
        let pcm = [0i16, 1000, -1000, 32767];
        let mut enc = [0u8; 3];
        G711::Pcmu.encode(&pcm, &mut enc);
        assert_eq!(enc, [0xFF, 0xCE, 0x4E]);
        let mut dec = [7i16; 5];
        G711::Pcma.decode(&[0xD5, 0x55], &mut dec);
        assert_eq!(dec, [8, -8, 7, 7, 7]);
        assert_eq!(G711::from_payload_type(0), Some(G711::Pcmu));
        assert_eq!(G711::from_payload_type(8), Some(G711::Pcma));
        assert_eq!(G711::from_payload_type(18), None);
        assert_eq!(G711::Pcma.payload_type(), 8);
        assert_eq!(G711::Pcmu.encoding_name(), "PCMU");
        assert_eq!(G711::Pcma.encoding_name(), "PCMA");
    }

    proptest! {
        #[test]
        fn ulaw_quantisation_error_bounded(s in any::<i16>()) {
            let d = ulaw_decode(ulaw_encode(s)) as i32;
            let s = s as i32;
            // Step size grows with the segment; error is at most half a step (plus clipping above 32124).
            let bound = if s.abs() > 32124 { 32768 - 32124 } else { (s.abs() + 0x84) / 32 + 2 };
            prop_assert!((d - s).abs() <= bound, "s={} d={}", s, d);
            prop_assert!(d == 0 || (d > 0) == (s >= 0));
        }

        #[test]
        fn alaw_quantisation_error_bounded(s in any::<i16>()) {
            let d = alaw_decode(alaw_encode(s)) as i32;
            let s = s as i32;
            let bound = if s.abs() > 32256 { 32768 - 32256 } else { (s.abs() / 32).max(16) + 1 };
            prop_assert!((d - s).abs() <= bound, "s={} d={}", s, d);
            prop_assert!((d > 0) == (s >= 0));
        }

        #[test]
        fn encode_decode_idempotent(s in any::<i16>()) {
            let u = ulaw_decode(ulaw_encode(s));
            prop_assert_eq!(ulaw_decode(ulaw_encode(u)), u);
            let a = alaw_decode(alaw_encode(s));
            prop_assert_eq!(alaw_decode(alaw_encode(a)), a);
        }
    }
}
