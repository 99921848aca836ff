//! RTP header parser: never panics, and what it reports is what the bytes say (no recorder).
#![no_main]

use libfuzzer_sys::fuzz_target;
use umgw::media::rtp::{self, RtpHeader};

fuzz_target!(|data: &[u8]| {
    let Ok(pkt) = rtp::parse(data) else {
        return;
    };
    assert!(data.len() >= 12 && data[0] >> 6 == 2);
    assert_eq!(pkt.sequence, u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(
        pkt.ssrc,
        u32::from_be_bytes([data[8], data[9], data[10], data[11]])
    );
    assert_eq!(pkt.payload_type, data[1] & 0x7f);
    // The payload is a slice of the datagram after the fixed header and CSRCs.
    let start = pkt.payload.as_ptr() as usize - data.as_ptr() as usize;
    assert!(start >= 12 + 4 * (data[0] & 0x0f) as usize);
    assert!(start + pkt.payload.len() <= data.len());
    // Our own header for the same fields reads back identically.
    let h = RtpHeader {
        marker: pkt.marker,
        payload_type: pkt.payload_type,
        sequence: pkt.sequence,
        timestamp: pkt.timestamp,
        ssrc: pkt.ssrc,
    };
    let mut out = vec![0u8; 12 + pkt.payload.len()];
    assert_eq!(h.write(&mut out), 12);
    out[12..].copy_from_slice(pkt.payload);
    if let Ok(back) = rtp::parse(&out) {
        assert_eq!(
            (back.sequence, back.timestamp, back.ssrc),
            (h.sequence, h.timestamp, h.ssrc)
        );
        assert_eq!(back.payload, pkt.payload);
    } else {
        // Only a marker+PT pattern that collides with RTCP may be refused.
        assert!((192..=223).contains(&out[1]));
    }
});
