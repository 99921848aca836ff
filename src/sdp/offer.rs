//! The offerer's side of RFC 3264: the offer we make when an INVITE carried none (a delayed
//! offer: our 200 offers, the caller's ACK answers, RFC 3261 §13.2.1) and on the second leg of a
//! bridged transfer, and reading the answer that comes back.

use std::fmt::Write as _;
use std::net::IpAddr;

use base64::Engine as _;

use super::answer::{choose, MediaSecurity, NegotiatedSecure};
use super::crypto::{SrtpKeys, B64};
use super::parse::parse;
use super::SdpError;
use crate::media::g711::G711;
use crate::media::srtp::SrtpSuite;

/// Payload type we offer telephone-event/8000 at (RFC 4733).
pub const OFFER_TELEPHONE_EVENT: u8 = 101;
/// The `a=crypto` tag of our one SDES line; the answer must echo it.
pub const OFFER_CRYPTO_TAG: u32 = 1;
/// The suite we offer: the one every SDES peer (Lync included) implements.
pub const OFFER_SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

/// An offer of one audio stream at `local_addr:local_port`: `codecs` at their static payload
/// types in our order of preference, telephone-event/8000, 20 ms packets. RTP/SAVP with
/// `srtp_key` (our SDES key||salt) in an `a=crypto` line when given, else RTP/AVP.
pub fn offer(
    local_addr: IpAddr,
    local_port: u16,
    session_id: u64,
    codecs: &[G711],
    srtp_key: Option<&[u8; 30]>,
) -> String {
    let ip = if local_addr.is_ipv4() { "IP4" } else { "IP6" };
    let proto = if srtp_key.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let te = OFFER_TELEPHONE_EVENT;
    let mut s = String::with_capacity(360);
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "v=0\r\no=umgw {session_id} 1 IN {ip} {local_addr}\r\ns=umgw\r\nc=IN {ip} {local_addr}\r\n\
         t=0 0\r\nm=audio {local_port} {proto}"
    );
    for codec in codecs {
        let _ = write!(s, " {}", codec.payload_type());
    }
    let _ = write!(s, " {te}\r\n");
    for codec in codecs {
        let (pt, name) = (codec.payload_type(), codec.encoding_name());
        let _ = write!(s, "a=rtpmap:{pt} {name}/8000\r\n");
    }
    let _ = write!(
        s,
        "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
    );
    if let Some(key) = srtp_key {
        let key = B64.encode(key);
        let _ = write!(
            s,
            "a=crypto:{OFFER_CRYPTO_TAG} {} inline:{key}\r\n",
            OFFER_SUITE.as_str()
        );
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s
}

/// Reads the answer to an [`offer`] of `codecs` made with `srtp_key`: the stream the answerer
/// took and, for RTP/SAVP, both keys. Refused when the answer takes no stream we offered, a
/// codec we did not offer, plain RTP where we offered SRTP (or the reverse), or another crypto
/// line than ours. [`Negotiated::answer`] holds the answer as received.
pub fn accept_answer(
    answer: &str,
    codecs: &[G711],
    srtp_key: Option<&[u8; 30]>,
) -> Result<NegotiatedSecure, SdpError> {
    let sd = parse(answer)?;
    let policy = match srtp_key {
        Some(_) => MediaSecurity::SrtpRequired,
        None => MediaSecurity::RtpOnly,
    };
    let c = choose(&sd, policy)?;
    let mismatch = |why: String| Err(SdpError::BadAnswer { why });
    if !codecs.contains(&c.codec) {
        return mismatch(format!(
            "it takes {} which we did not offer",
            c.codec.encoding_name()
        ));
    }
    let srtp = match (c.crypto, srtp_key) {
        (Some(k), Some(local)) if k.tag == OFFER_CRYPTO_TAG && k.suite == OFFER_SUITE => {
            Some(SrtpKeys {
                tag: k.tag,
                suite: k.suite,
                remote_key: k.key_salt,
                local_key: *local,
            })
        }
        (Some(k), Some(_)) => {
            return mismatch(format!(
                "a=crypto:{} {} answers no line of ours (we offered {OFFER_CRYPTO_TAG} {})",
                k.tag,
                k.suite.as_str(),
                OFFER_SUITE.as_str()
            ))
        }
        // `choose` under RtpOnly/SrtpRequired takes no other combination.
        _ => None,
    };
    Ok(NegotiatedSecure {
        media: c.negotiated(c.direction.reverse(), answer.to_owned()),
        srtp,
    })
}
