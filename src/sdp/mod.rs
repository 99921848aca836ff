//! SDP (RFC 4566) parsing and the RFC 3264 answer for G.711 audio, plain or SRTP with SDES keys
//! (RFC 4568), and picking the SDP out of Lync's `multipart/alternative` INVITE bodies.
//!
//! We serve one audio stream: PCMU or PCMA at 8 kHz, plus RFC 4733
//! telephone-event when offered. The parser is strict about the lines the
//! answer depends on (`v=`, `c=`, `m=`) and lenient about attributes: an
//! unparsable `a=` line in a stream we do not use must not fail the call.
//!
//! When an INVITE has no body (a delayed offer) we offer in the 200 (`offer`) and read the
//! caller's answer from its ACK (`accept_answer`).
//!
//! ICE (`a=candidate`, `a=ice-ufrag`, ...), `a=x-ssrc-range`, `a=rtcp-fb` and Lync's
//! `a=cryptoscale` are ignored, and the answer carries no ICE: a peer whose answer has no ICE
//! attributes does not do ICE (RFC 5245 §5.1), and Lync then sends media straight to the `c=`/`m=`
//! address, as it does to any non-ICE gateway.

use std::net::SocketAddr;

mod answer;
mod crypto;
mod multipart;
mod offer;
mod parse;

pub use answer::{
    negotiate, negotiate_secure, send_ptime, MediaSecurity, Negotiated, NegotiatedSecure,
};
pub use crypto::{CryptoAttribute, CryptoError, SrtpKeys};
pub use multipart::{select_offer, select_offer_for};
pub use offer::{accept_answer, offer, OFFER_CRYPTO_TAG, OFFER_SUITE, OFFER_TELEPHONE_EVENT};
pub use parse::{parse, Direction, MediaDescription, RtpMap, SessionDescription};

/// Why an offer could not be parsed or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// A line the answer depends on does not follow RFC 4566 (answer 400).
    #[error("SDP line {line}: {why}")]
    Malformed {
        /// 1-based line number in the offer.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// No `m=audio` line with a non-zero port (answer 488).
    #[error("SDP offer has no audio stream")]
    NoAudio,
    /// Audio offered, but nothing we can serve (answer 488).
    #[error("no common codec: offer has {offered}; we serve PCMU/8000 or PCMA/8000 over RTP/AVP")]
    NoCommonCodec {
        /// What was offered, e.g. `RTP/AVP 18 G729/8000`.
        offered: String,
    },
    /// SRTP is required but no stream offers it in a form we serve (answer 488).
    #[error(
        "no acceptable SRTP audio: offer has {offered}; SRTP is required and we serve \
         PCMU/PCMA over RTP/SAVP with an SDES a=crypto line for AES_CM_128_HMAC_SHA1_80 or _32 \
         without MKI"
    )]
    NoSecureMedia {
        /// What was offered, with why each audio stream was refused.
        offered: String,
    },
    /// The answer to our offer does not fit it (the call ends with BYE).
    #[error("SDP answer does not fit our offer: {why}")]
    BadAnswer {
        /// What is wrong.
        why: String,
    },
    /// The INVITE body is not SDP, or a multipart body holds no SDP part (answer 415).
    #[error("no application/sdp body in Content-Type {content_type:?}")]
    UnsupportedBody {
        /// The body's Content-Type.
        content_type: String,
    },
    /// A multipart body that cannot be split into parts (answer 400).
    #[error("bad multipart body: {why}")]
    BadMultipart {
        /// What is wrong.
        why: String,
    },
}

impl SdpError {
    /// SIP status for a rejected offer: 400 for syntax, 488 Not Acceptable Here otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Malformed { .. } | SdpError::BadMultipart { .. } => 400,
            SdpError::UnsupportedBody { .. } => 415,
            SdpError::BadAnswer { .. }
            | SdpError::NoAudio
            | SdpError::NoCommonCodec { .. }
            | SdpError::NoSecureMedia { .. } => 488,
        }
    }

    /// RFC 3261 §20.43 warn-code and text for a 488, saying what was wrong with the offer:
    /// 304 "Media type not available" when it has no audio, 305 "Incompatible media format"
    /// when its audio is in no form we serve (codec, or SRTP required).
    /// `None` for errors that are not a 488, and for a bad answer (nothing responds to an ACK).
    pub fn warning(&self) -> Option<(u16, String)> {
        let code = match self {
            SdpError::NoAudio => 304,
            SdpError::NoCommonCodec { .. } | SdpError::NoSecureMedia { .. } => 305,
            SdpError::Malformed { .. }
            | SdpError::BadAnswer { .. }
            | SdpError::UnsupportedBody { .. }
            | SdpError::BadMultipart { .. } => return None,
        };
        Some((code, self.to_string()))
    }
}

/// The INVITE bodies [`select_offer_for`] takes, for `Accept` (a 415, OPTIONS): SDP, alone or
/// in the multipart forms Lync sends (`multipart/alternative`, possibly inside
/// `multipart/mixed`).
pub const ACCEPT: &str = "application/sdp, multipart/alternative, multipart/mixed";

#[cfg(test)]
mod test;

/// Where a peer wants audio sent, read from an offer alone (a re-INVITE's, answered with the
/// call's current description): the first audio stream with a port, RTP/SAVP before RTP/AVP as
/// [`negotiate_secure`] prefers them, at its `c=` address or the session's. `None` when the SDP
/// does not parse, has no such stream, or holds it with the unspecified address (RFC 2543 hold).
pub fn remote_audio(offer: &str) -> Option<SocketAddr> {
    let sd = parse(offer).ok()?;
    let audio = |proto: &str| {
        sd.media.iter().find(|m| {
            m.media.eq_ignore_ascii_case("audio")
                && m.port != 0
                && m.proto.eq_ignore_ascii_case(proto)
        })
    };
    let m = audio("RTP/SAVP").or_else(|| audio("RTP/AVP"))?;
    let ip = m.connection.or(sd.connection)?;
    (!ip.is_unspecified()).then(|| SocketAddr::new(ip, m.port))
}
