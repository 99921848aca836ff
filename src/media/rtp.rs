//! Zero-copy RTP (RFC 3550) header parsing and writing.
//!
//! We parse the 12-byte fixed header ourselves instead of going through an RTP crate so that the
//! receive path borrows the payload from the datagram buffer and never allocates.

use thiserror::Error;

/// Length of the fixed RTP header (no CSRCs, no extension).
pub const HEADER_LEN: usize = 12;

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The datagram is an RTCP packet (multiplexed on the same port, RFC 5761); callers ignore it.
    #[error("RTCP packet, not RTP")]
    Rtcp,
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet too short: {len} bytes, need at least 12")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP version {0}, expected 2")]
    Version(u8),
    /// The CSRC list or header extension runs past the end of the datagram.
    #[error("RTP header claims {need} bytes but the packet has {len}")]
    Truncated {
        /// Header length the packet claims.
        need: usize,
        /// Datagram length.
        len: usize,
    },
    /// The padding count is zero or larger than the space after the header.
    #[error("invalid RTP padding count {pad} (payload space {space} bytes)")]
    Padding {
        /// Padding count from the last byte.
        pad: u8,
        /// Bytes available after the header.
        space: usize,
    },
}

/// A parsed RTP packet borrowing its payload from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit (start of a talkspurt for audio).
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp in sampling-clock units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

/// Parses an RTP packet; never panics on any input.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if buf.len() < HEADER_LEN {
        return Err(RtpError::TooShort { len: buf.len() });
    }
    let b0 = buf[0];
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    // RTCP packet types 192..=223 (SR, RR, SDES, BYE, APP, ...) sit where marker+PT 64..=95 would.
    let b1 = buf[1];
    if (192..=223).contains(&b1) {
        return Err(RtpError::Rtcp);
    }
    let len = buf.len();
    let mut header = HEADER_LEN + 4 * (b0 & 0x0F) as usize;
    if b0 & 0x10 != 0 {
        // Extension: 16-bit profile id, 16-bit length in 32-bit words.
        if len < header + 4 {
            return Err(RtpError::Truncated {
                need: header + 4,
                len,
            });
        }
        let words = u16::from_be_bytes([buf[header + 2], buf[header + 3]]) as usize;
        header += 4 + 4 * words;
    }
    if len < header {
        return Err(RtpError::Truncated { need: header, len });
    }
    let mut end = len;
    if b0 & 0x20 != 0 {
        let pad = buf[len - 1];
        let space = len - header;
        if pad == 0 || pad as usize > space {
            return Err(RtpError::Padding { pad, space });
        }
        end -= pad as usize;
    }
    Ok(RtpPacket {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7F,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload: &buf[header..end],
    })
}

/// The fixed header of a packet we send (no CSRCs, extension or padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (only the low 7 bits are written).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the 12-byte header at the start of `out`; returns 12, or 0 if `out` is too small.
    pub fn write(&self, out: &mut [u8]) -> usize {
        let Some(h) = out.get_mut(..HEADER_LEN) else {
            return 0;
        };
        h[0] = 0x80;
        h[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_basic_packet() {
        let mut buf = vec![
            0x80, 0x80, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        buf.extend_from_slice(&[0xFF; 160]);
        let p = parse(&buf).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.sequence, 0x1234);
        assert_eq!(p.timestamp, 320);
        assert_eq!(p.ssrc, 0xDEAD_BEEF);
        assert_eq!(p.payload.len(), 160);
    }

    #[test]
    fn skips_csrc_extension_and_padding() {
        // V=2 P=1 X=1 CC=2, PT 8.
        let mut buf = vec![0xB2, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        buf.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // CSRCs
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one-word extension
        buf.extend_from_slice(&[5, 6, 7]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // 3 bytes padding
        let p = parse(&buf).unwrap();
        assert_eq!(p.payload, &[5, 6, 7]);
        assert_eq!(p.payload_type, 8);
        assert!(!p.marker);
        assert_eq!(p.ssrc, 9);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort { len: 11 }));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::Version(1)));
        // RTCP receiver report (PT 201) and sender report (200).
        let mut rr = [0u8; 12];
        rr[0] = 0x81;
        rr[1] = 201;
        assert_eq!(parse(&rr), Err(RtpError::Rtcp));
        rr[1] = 200;
        assert_eq!(parse(&rr), Err(RtpError::Rtcp));
        // CC=15 but no CSRCs.
        let mut cc = [0u8; 12];
        cc[0] = 0x8F;
        assert_eq!(parse(&cc), Err(RtpError::Truncated { need: 72, len: 12 }));
        // Extension bit with no extension header.
        let mut x = [0u8; 12];
        x[0] = 0x90;
        assert_eq!(parse(&x), Err(RtpError::Truncated { need: 16, len: 12 }));
        // Padding larger than what follows the header.
        let mut p = [0u8; 14];
        p[0] = 0xA0;
        p[13] = 3;
        assert_eq!(parse(&p), Err(RtpError::Padding { pad: 3, space: 2 }));
        p[13] = 0;
        assert_eq!(parse(&p), Err(RtpError::Padding { pad: 0, space: 2 }));
    }

    #[test]
    fn marker_with_pt_below_64_is_rtp() {
        // Marker + PCMU = 0x80, must not be mistaken for RTCP.
        let mut b = [0u8; 12];
        b[0] = 0x80;
        b[1] = 0x80 | 8;
        assert!(parse(&b).is_ok());
        b[1] = 0x80 | 101; // telephone-event with marker: 229, above the RTCP range.
        assert_eq!(parse(&b).unwrap().payload_type, 101);
    }

    #[test]
    fn write_needs_room() {
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 0,
            timestamp: 0,
            ssrc: 0,
        };
        assert_eq!(h.write(&mut [0u8; 11]), 0);
        assert_eq!(h.write(&mut [0u8; 12]), 12);
    }

    proptest! {
        #[test]
        fn write_parse_round_trip(
            marker in any::<bool>(),
            pt in prop_oneof![0u8..64, 96u8..128],
            sequence in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let h = RtpHeader { marker, payload_type: pt, sequence, timestamp, ssrc };
            let mut buf = vec![0u8; 12 + payload.len()];
            prop_assert_eq!(h.write(&mut buf), 12);
            buf[12..].copy_from_slice(&payload);
            let p = parse(&buf).unwrap();
            prop_assert_eq!(p, RtpPacket { marker, payload_type: pt, sequence, timestamp, ssrc, payload: &payload });
        }

        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = parse(&buf) {
                prop_assert!(p.payload.len() + HEADER_LEN <= buf.len());
            }
        }
    }
}
