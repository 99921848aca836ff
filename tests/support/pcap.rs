//! Writes the pcap that SIPp's `play_pcap_audio` replays for a deposit: the caller's audio as
//! PCMU RTP in 20 ms packets, then an RFC 4733 `#` (event 11) on the same stream. SIPp rewrites
//! the addresses and ports, so the ones written here are placeholders.
//! Shared by tests/sipp.rs and `cargo run --example deposit-pcap`.

use std::path::Path;

use umgw::media::g711::G711;
use umgw::media::{dtmf, rtp};

/// Writes `audio` (8 kHz samples) followed by `#` to `path` as an Ethernet pcap.
pub fn write_deposit_pcap(path: &Path, audio: &[i16]) -> std::io::Result<()> {
    let mut packets: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut ts = 1000u32;
    let mut seq = 1u16;
    for (i, frame) in audio.chunks(160).enumerate() {
        let mut p = vec![0u8; 12 + frame.len()];
        rtp::RtpHeader {
            marker: i == 0,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x5EED,
        }
        .write(&mut p);
        G711::Pcmu.encode(frame, &mut p[12..]);
        packets.push((i as u32 * 20_000, p));
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
    let start = packets.len() as u32 * 20_000;
    for k in 0..6u32 {
        // Three updates, then the end bit three times (RFC 4733 §2.5.1.4).
        let mut p = vec![0u8; 16];
        rtp::RtpHeader {
            marker: k == 0,
            payload_type: 101,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x5EED,
        }
        .write(&mut p);
        dtmf::TelephoneEvent {
            event: 11,
            end: k >= 3,
            volume: 10,
            duration: (160 * (k + 1)).min(640) as u16,
        }
        .write(&mut p[12..]);
        packets.push((start + k * 20_000, p));
        seq = seq.wrapping_add(1);
    }

    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes()); // pcap magic, microseconds
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (usec, rtp) in packets {
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = Vec::with_capacity(14 + ip_len);
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        out.extend_from_slice(&(usec / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out)
}
