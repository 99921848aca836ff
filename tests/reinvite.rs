//! A re-INVITE against the real gateway: the dialog answers it with the call's SDP (the same
//! `o=` version: nothing changed, RFC 3264 §8) and the call's audio follows the new address.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::*;
use umgw::media::rtp;
use umgw::sip::message::Method;

const PILOT: &str = "+14255550000";

fn plan() -> String {
    format!(
        "Name = \"aa\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\n\
         [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"{PILOT}\"]\n\
         TimeZone = \"America/Los_Angeles\"\n\
         BusinessHoursKeyMapping = [{{ Key = \"3\", Action = \"Mailbox\", Target = \"1003\" }}]\n\
         AfterHoursKeyMapping = [{{ Key = \"3\", Action = \"Mailbox\", Target = \"1003\" }}]\n\
         [[Mailbox]]\nId = \"carol\"\nExtension = \"1003\"\n"
    )
}

/// The next RTP packet on `sock` within `timeout`, if any.
fn next_rtp(sock: &UdpSocket, timeout: Duration) -> Option<u16> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return Some(
                rtp::parse(&buf[..n])
                    .expect("gateway sent valid RTP")
                    .sequence,
            );
        }
    }
    None
}

#[test]
fn a_reinvite_is_answered_by_the_dialog_and_the_audio_follows_it() {
    let gw = Gateway::start(GatewayOptions {
        plan: plan(),
        ..GatewayOptions::default()
    });
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let ruri = format!("sip:{PILOT}@{};user=phone", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(&ruri, "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
    ua.ack(&ok);
    assert!(
        next_rtp(&ua.rtp, Duration::from_secs(5)).is_some(),
        "menu audio at the first address"
    );

    // The caller's media moves (a new port, a new offer version).
    let moved = UdpSocket::bind("127.0.0.1:0").unwrap();
    let old_port = ua.rtp.local_addr().unwrap().port();
    let new_port = moved.local_addr().unwrap().port();
    let sdp = offer
        .replace(
            &format!("m=audio {old_port} "),
            &format!("m=audio {new_port} "),
        )
        .replace("o=- 1 1 ", "o=- 1 2 ");
    let to = ua.to.clone().expect("answered");
    let l = ua.local();
    let reinvite = format!(
        "INVITE sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-re-1\r\nMax-Forwards: 70\r\n\
         From: {CALLER};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 2 INVITE\r\n\
         Contact: <sip:bob@{l}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        gw = gw.sip,
        ft = ua.from_tag,
        cid = ua.call_id,
        len = sdp.len()
    );
    ua.send(&reinvite);
    let ok2 = loop {
        let m = ua
            .recv(Duration::from_secs(5))
            .expect("answer to the re-INVITE");
        if m.status().is_some_and(|c| c >= 200) && m.cseq() == Some((2, Method::Invite)) {
            break m;
        }
    };
    assert_eq!(ok2.status(), Some(200), "log:\n{}", gw.log());
    assert_eq!(ok2.header("Content-Type"), Some("application/sdp"));
    assert_eq!(
        ok2.body, ok.body,
        "the same description, the same o= version"
    );
    assert_eq!(ok2.to_tag(), ok.to_tag());
    let ack = format!(
        "ACK sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-re-ack\r\nMax-Forwards: 70\r\n\
         From: {CALLER};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
        gw = gw.sip,
        ft = ua.from_tag,
        cid = ua.call_id,
    );
    ua.send(&ack);
    assert!(
        next_rtp(&moved, Duration::from_secs(5)).is_some(),
        "menu audio at the new address; log:\n{}",
        gw.log()
    );
    ua.bye();
}
