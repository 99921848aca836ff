//! Writes the pcaps SIPp's `play_pcap_audio` replays: the caller's audio as PCMU RTP in 20 ms
//! packets and keys as RFC 4733 events on the same stream, with pauses between. SIPp rewrites
//! the addresses and ports, so the ones written here are placeholders.
//! Shared by tests/sipp.rs and `cargo run --example deposit-pcap`.

use std::path::Path;

use umgw::media::g711::G711;
use umgw::media::{dtmf, rtp};

/// One part of what the caller sends, in order.
#[allow(dead_code)] // each test binary uses the parts it needs
#[derive(Clone, Copy)]
pub enum Part<'a> {
    /// Speech: 8 kHz samples as PCMU, 20 ms a packet.
    Audio(&'a [i16]),
    /// Keys as RFC 4733 events, 200 ms apart, each with its own timestamp.
    Keys(&'a str),
    /// Nothing for this long (the caller listens); silence packets when it comes first.
    Pause(u32),
}

/// Writes `audio` (8 kHz samples) followed by `#` to `path` as an Ethernet pcap.
#[allow(dead_code)]
pub fn write_deposit_pcap(path: &Path, audio: &[i16]) -> std::io::Result<()> {
    write_pcap(path, &[Part::Audio(audio), Part::Keys("#")])
}

/// Writes the caller's side of a call (one RTP stream, SSRC 0x5EED) to `path`.
pub fn write_pcap(path: &Path, parts: &[Part<'_>]) -> std::io::Result<()> {
    let mut packets: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut ts = 1000u32;
    let mut seq = 1u16;
    let mut usec = 0u32;
    let header = |marker, payload_type, seq, ts, p: &mut [u8]| {
        rtp::RtpHeader {
            marker,
            payload_type,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x5EED,
        }
        .write(p);
    };
    for part in parts {
        match part {
            Part::Audio(audio) => {
                for (i, frame) in audio.chunks(160).enumerate() {
                    let mut p = vec![0u8; 12 + frame.len()];
                    header(i == 0, 0, seq, ts, &mut p);
                    G711::Pcmu.encode(frame, &mut p[12..]);
                    packets.push((usec, p));
                    usec += 20_000;
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                }
            }
            Part::Keys(keys) => {
                for key in keys.chars() {
                    let event = dtmf::char_event(key).expect("a DTMF key");
                    for k in 0..6u32 {
                        // Three updates, then the end bit three times (RFC 4733 §2.5.1.4).
                        let mut p = vec![0u8; 16];
                        header(k == 0, 101, seq, ts, &mut p);
                        dtmf::TelephoneEvent {
                            event,
                            end: k >= 3,
                            volume: 10,
                            duration: (160 * (k + 1)).min(640) as u16,
                        }
                        .write(&mut p[12..]);
                        packets.push((usec + k * 20_000, p));
                        seq = seq.wrapping_add(1);
                    }
                    usec += 200_000;
                    ts = ts.wrapping_add(1600);
                }
            }
            Part::Pause(ms) if packets.is_empty() => {
                // SIPp replays from the first packet's time, so a gap at the start would be no
                // pause at all: send silence, as a phone does from the moment it is answered.
                for _ in 0..ms / 20 {
                    let mut p = vec![0u8; 12 + 160];
                    header(false, 0, seq, ts, &mut p);
                    G711::Pcmu.encode(&[0; 160], &mut p[12..]);
                    packets.push((usec, p));
                    usec += 20_000;
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                }
            }
            Part::Pause(ms) => {
                usec += ms * 1000;
                ts = ts.wrapping_add(ms * 8);
            }
        }
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
