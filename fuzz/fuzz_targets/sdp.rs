//! SDP: parse, offer selection (plain and multipart bodies) and answering never panic, and an
//! answer we produce is SDP we can parse ourselves.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use umgw::sdp::{self, MediaSecurity};

const TYPES: [&str; 4] = [
    "application/sdp",
    "multipart/alternative;boundary=\"----=_NextPart_000_0A1B_01D2C3E4.5F6A7B80\"",
    "multipart/mixed; boundary=b",
    "text/plain",
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let _ = sdp::parse(&text);
    let ct = TYPES[first as usize % TYPES.len()];
    let offer = match sdp::select_offer(ct, body) {
        Ok(offer) => offer,
        Err(_) => text.into_owned(),
    };
    let local = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    if let Ok(n) = sdp::negotiate(&offer, local, 40000, 7) {
        sdp::parse(&n.answer).expect("our own answer parses");
    }
    let policy = if first & 0x80 != 0 {
        MediaSecurity::SrtpOptional
    } else {
        MediaSecurity::RtpOnly
    };
    if let Ok(n) = sdp::negotiate_secure(&offer, local, 40000, 7, policy, &[3; 30]) {
        sdp::parse(&n.media.answer).expect("our own answer parses");
    }
});
