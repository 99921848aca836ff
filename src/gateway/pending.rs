//! A call between its INVITE and its ACK: what the core keeps for it, and how its media is
//! agreed: by answering the INVITE's offer in our 200, or, when the INVITE had none (a delayed
//! offer, as SIP trunks and some PBXs send), by offering in our 200 and reading the ACK's answer.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::Span;
use zeroize::Zeroizing;

use super::admission::CallPlan;
use super::call::deposit::Prepared;
use super::call::MediaSetup;
use crate::media::g711::G711;
use crate::sdp::{self, MediaSecurity, NegotiatedSecure, SdpError};

/// A call admitted but not yet running.
pub(super) struct Pending<S> {
    pub plan: CallPlan,
    pub media: PendingMedia,
    /// Our SDP in the 200: the answer, or our offer.
    pub local_sdp: Vec<u8>,
    pub socket: Option<S>,
    pub sip_call_id: String,
    pub peer: SocketAddr,
    pub prepared: Option<Box<Prepared>>,
    pub state: PendingState,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingState {
    /// A deposit's spool entry and greeting are being made.
    Preparing,
    /// Ringing until the answer delay is over.
    Ringing(Instant),
    /// Answered; waiting for the ACK until then.
    Answered(Instant),
}

/// How far a pending call's media is agreed.
pub(super) enum PendingMedia {
    /// The INVITE offered and our 200 answers.
    Agreed(MediaSetup),
    /// Our 200 offers (the INVITE had no SDP); the ACK must answer. `srtp_key` is the SDES
    /// key||salt our offer carries when it is RTP/SAVP.
    Offered {
        srtp_key: Option<Zeroizing<[u8; 30]>>,
    },
}

/// What we offer, in our order of preference.
const OFFERED_CODECS: [G711; 2] = [G711::Pcmu, G711::Pcma];

/// Our SDP for the 200 at `local`, and the media as far as it is then agreed: the answer to
/// `offer`, or our own offer when there is none. Our offer is RTP/SAVP when the dial plan
/// requires SRTP and RTP/AVP otherwise: offering SRTP to a peer that may not do it would fail
/// the call at the ACK, where it can no longer be refused with a 488.
pub(super) fn describe(
    offer: Option<&str>,
    local: SocketAddr,
    session_id: u64,
    policy: MediaSecurity,
    local_key: &[u8; 30],
    silence_threshold_dbfs: f32,
) -> Result<(PendingMedia, String), SdpError> {
    let Some(offer) = offer else {
        let srtp_key = (policy == MediaSecurity::SrtpRequired).then(|| Zeroizing::new(*local_key));
        let sdp = sdp::offer(
            local.ip(),
            local.port(),
            session_id,
            &OFFERED_CODECS,
            srtp_key.as_deref(),
        );
        return Ok((PendingMedia::Offered { srtp_key }, sdp));
    };
    let n = sdp::negotiate_secure(
        offer,
        local.ip(),
        local.port(),
        session_id,
        policy,
        local_key,
    )?;
    let answer = n.media.answer.clone();
    Ok((
        PendingMedia::Agreed(media_setup(n, silence_threshold_dbfs)),
        answer,
    ))
}

/// The media of a call whose ACK answered our offer with `answer`.
pub(super) fn accept_answer(
    answer: &str,
    srtp_key: Option<&[u8; 30]>,
    silence_threshold_dbfs: f32,
) -> Result<MediaSetup, SdpError> {
    let n = sdp::accept_answer(answer, &OFFERED_CODECS, srtp_key)?;
    Ok(media_setup(n, silence_threshold_dbfs))
}

fn media_setup(n: NegotiatedSecure, silence_threshold_dbfs: f32) -> MediaSetup {
    let m = n.media;
    MediaSetup {
        codec: m.codec,
        payload_type: m.payload_type,
        telephone_event: m.telephone_event,
        ptime_ms: m.ptime_ms,
        remote: m.remote,
        srtp: n.srtp,
        silence_threshold_dbfs,
    }
}
