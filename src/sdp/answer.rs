//! The RFC 3264 answer: choosing the audio stream and codec under the dial plan's media
//! security, and writing the answer.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;

use super::crypto::{CryptoAttribute, SrtpKeys, B64};
use super::parse::{g711, parse, Direction, SessionDescription};
use super::SdpError;
use crate::media::g711::G711;
use crate::media::ice::IceCredentials;

/// What the gateway's dial plan allows on the media leg (Exchange's VoIPSecurity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSecurity {
    /// RTP/AVP only; RTP/SAVP streams are refused ("SRTP not configured").
    RtpOnly,
    /// RTP/SAVP with a usable `a=crypto` line only ("Secured").
    SrtpRequired,
    /// Either; RTP/SAVP is chosen whenever one is offered that we can serve.
    SrtpOptional,
}

/// Result of answering an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Audio payload type, numbered as in the offer (0 PCMU, 8 PCMA, or the
    /// offer's dynamic number for PCMU/PCMA).
    pub payload_type: u8,
    /// The codec (the law the offer's `payload_type` names).
    pub codec: G711,
    /// Payload type of telephone-event/8000 in the offer, if offered.
    pub telephone_event: Option<u8>,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Packet time we send in (ms): see [`send_ptime`].
    pub ptime_ms: u32,
    /// Direction we answered with.
    pub direction: Direction,
    /// The complete SDP answer, CRLF line endings: ours to an offer ([`negotiate_secure`]), or
    /// the peer's to our offer ([`super::accept_answer`]).
    pub answer: String,
}

/// Result of [`negotiate_secure`]: the stream, and SRTP keys when the answer is RTP/SAVP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSecure {
    /// Codec, addresses and the answer text.
    pub media: Negotiated,
    /// `Some` when we answered RTP/SAVP.
    pub srtp: Option<SrtpKeys>,
    /// Our ICE credentials when we answered as an ICE-lite agent ([`answer_offer`]).
    pub ice: Option<IceCredentials>,
}

/// Answers `offer` (RFC 3264) with one G.711 audio stream at `local_addr:local_port`.
///
/// The first `m=audio` line with a non-zero port, RTP/AVP and a PCMU/PCMA
/// format is accepted; the codec is the first such format in the offer's
/// order (the offerer's preference). Every other `m=` line is rejected with
/// port 0, as RFC 3264 §6 requires the answer to keep the offer's m-line count.
/// RTP/SAVP offers are refused: this is [`negotiate_secure`] with [`MediaSecurity::RtpOnly`].
pub fn negotiate(
    offer: &str,
    local_addr: IpAddr,
    local_port: u16,
    session_id: u64,
) -> Result<Negotiated, SdpError> {
    let n = negotiate_secure(
        offer,
        local_addr,
        local_port,
        session_id,
        MediaSecurity::RtpOnly,
        &[0; 30],
    )?;
    Ok(n.media)
}

/// The packet time (ms) we send in: 20 ms unless the offer asks for another with `a=ptime` or
/// caps it below 20 with `a=maxptime`; within what the pacer supports (10-120 ms in 10 ms
/// steps, [`crate::media::pacer`]). What we receive is whatever the peer sends, 10-120 ms.
pub fn send_ptime(ptime: Option<u32>, maxptime: Option<u32>) -> u32 {
    use crate::media::pacer::{MAX_PTIME_MS, MIN_PTIME_MS};
    let want = ptime.filter(|&p| p > 0).unwrap_or(20);
    let cap = maxptime.filter(|&p| p > 0).unwrap_or(MAX_PTIME_MS);
    (want.min(cap) / 10 * 10).clamp(MIN_PTIME_MS, MAX_PTIME_MS)
}

/// Answers `offer` under `policy`, putting `local_key` (our SDES key||salt, fresh random
/// per call) in the answer when it is RTP/SAVP.
///
/// Audio streams are taken in offer order; with [`MediaSecurity::SrtpOptional`] the first
/// servable RTP/SAVP stream wins over any RTP/AVP one. An RTP/SAVP stream is servable when it
/// has a PCMU/PCMA format and an `a=crypto` line we can use: the first in offer order whose suite
/// we implement, without MKI, key derivation rate 0. The answer echoes that line's tag and suite.
pub fn negotiate_secure(
    offer: &str,
    local_addr: IpAddr,
    local_port: u16,
    session_id: u64,
    policy: MediaSecurity,
    local_key: &[u8; 30],
) -> Result<NegotiatedSecure, SdpError> {
    let local = LocalMedia {
        addr: local_addr,
        port: local_port,
        session_id,
        srtp_key: local_key,
        ice: None,
    };
    answer_offer(offer, &local, policy)
}

/// What our side of an answer is made of.
pub struct LocalMedia<'a> {
    /// Our media address and port (the call's RTP socket, and our one ICE candidate).
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    /// Our SDES key||salt, used when the answer is RTP/SAVP.
    pub srtp_key: &'a [u8; 30],
    /// Our ICE credentials, used when the offer does ICE: the answer is then an ICE-lite
    /// agent's (RFC 8445 §2.5, RFC 8839): `a=ice-lite`, our ufrag and password, one host
    /// candidate for the RTP component, and `a=rtcp-mux` if offered. No RTCP candidate: the
    /// gateway consumes no RTCP, and a component the answer has no candidate for is not used.
    pub ice: Option<&'a IceCredentials>,
}

/// Answers `offer` under `policy` ([`negotiate_secure`]), as an ICE-lite agent when both the
/// offer and `local` do ICE.
pub fn answer_offer(
    offer: &str,
    local: &LocalMedia<'_>,
    policy: MediaSecurity,
) -> Result<NegotiatedSecure, SdpError> {
    let sd = parse(offer)?;
    let c = choose(&sd, policy)?;
    let direction = c.direction.reverse();
    let srtp = c.crypto.map(|k| SrtpKeys {
        tag: k.tag,
        suite: k.suite,
        remote_key: k.key_salt,
        local_key: *local.srtp_key,
    });
    let ice = local.ice.filter(|_| c.ice.is_some());
    let answer = write_answer(&AnswerParts {
        sd: &sd,
        idx: c.idx,
        local_addr: local.addr,
        local_port: local.port,
        session_id: local.session_id,
        payload_type: c.payload_type,
        codec: c.codec,
        telephone_event: c.telephone_event,
        ptime_ms: c.ptime_ms,
        direction,
        srtp: srtp.as_ref(),
        ice,
        rtcp_mux: c.rtcp_mux,
    });
    Ok(NegotiatedSecure {
        media: c.negotiated(direction, answer),
        srtp,
        ice: ice.cloned(),
    })
}

/// The audio stream of a description we take, and how: see [`negotiate_secure`].
pub(super) struct Choice<'a> {
    /// Index of the stream among the description's `m=` lines.
    pub idx: usize,
    pub payload_type: u8,
    pub codec: G711,
    /// The `a=crypto` line used, when the stream is RTP/SAVP.
    pub crypto: Option<&'a CryptoAttribute>,
    pub telephone_event: Option<u8>,
    /// Where the description's author receives the stream.
    pub remote: SocketAddr,
    pub ptime_ms: u32,
    /// The stream's direction as the description states it (its author's view).
    pub direction: Direction,
    /// The author's ICE credentials, when it does ICE (well-formed `a=ice-ufrag`/`a=ice-pwd`
    /// at media or session level).
    pub ice: Option<IceCredentials>,
    pub rtcp_mux: bool,
}

impl Choice<'_> {
    /// What was agreed, as we send: `direction` is ours, `sdp` the description that closed it.
    pub fn negotiated(&self, direction: Direction, sdp: String) -> Negotiated {
        Negotiated {
            payload_type: self.payload_type,
            codec: self.codec,
            telephone_event: self.telephone_event,
            remote: self.remote,
            ptime_ms: self.ptime_ms,
            direction,
            answer: sdp,
        }
    }
}

/// Picks the audio stream and codec of `sd` under `policy`, or says why none can be served.
pub(super) fn choose(
    sd: &SessionDescription,
    policy: MediaSecurity,
) -> Result<Choice<'_>, SdpError> {
    let audio: Vec<usize> = (0..sd.media.len())
        .filter(|&i| sd.media[i].media.eq_ignore_ascii_case("audio") && sd.media[i].port != 0)
        .collect();
    if audio.is_empty() {
        return Err(SdpError::NoAudio);
    }
    let mut offered = Vec::new();
    let mut plain = None;
    let mut secure = None;
    for &i in &audio {
        let m = &sd.media[i];
        let is_avp = m.proto.eq_ignore_ascii_case("RTP/AVP");
        let is_savp = m.proto.eq_ignore_ascii_case("RTP/SAVP");
        let g711_format = m
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find_map(|pt| Some((pt, g711(m, pt)?)));
        let refuse = |why: &str| format!("{} ({why})", m.describe());
        match (is_avp, is_savp, g711_format, policy) {
            (true, _, _, MediaSecurity::SrtpRequired) => offered.push(refuse("SRTP required")),
            (true, _, Some((pt, codec)), _) => {
                plain = plain.or(Some((i, pt, codec)));
                if policy == MediaSecurity::RtpOnly {
                    break;
                }
            }
            (_, true, _, MediaSecurity::RtpOnly) => {
                offered.push(refuse("SRTP not configured"));
            }
            (_, true, Some((pt, codec)), _) => {
                match m.crypto.iter().find(|c| c.unusable().is_none()) {
                    Some(c) => {
                        secure = Some((i, pt, codec, c));
                        break;
                    }
                    None => {
                        let mut why: Vec<String> =
                            m.crypto.iter().filter_map(|c| c.unusable()).collect();
                        why.extend(m.crypto_skipped.iter().cloned());
                        if why.is_empty() {
                            why.push("no a=crypto line".to_string());
                        }
                        offered.push(refuse(&why.join("; ")));
                    }
                }
            }
            _ => offered.push(m.describe()),
        }
    }
    let (idx, payload_type, codec, crypto) = match (secure, plain) {
        (Some((i, pt, codec, c)), _) => (i, pt, codec, Some(c)),
        (None, Some((i, pt, codec))) => (i, pt, codec, None),
        (None, None) => {
            let offered = offered.join("; ");
            return Err(if policy == MediaSecurity::SrtpRequired {
                SdpError::NoSecureMedia { offered }
            } else {
                SdpError::NoCommonCodec { offered }
            });
        }
    };
    let m = &sd.media[idx];
    let telephone_event = m
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|&pt| {
            m.rtpmap(pt).is_some_and(|r| {
                r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000
            })
        });
    let remote_ip = m
        .connection
        .or(sd.connection)
        .ok_or_else(|| SdpError::Malformed {
            line: m.line,
            why: "no c= line for the audio stream".to_string(),
        })?;
    let direction = m.direction.or(sd.direction).unwrap_or(Direction::SendRecv);
    // Missing or malformed credentials: a peer we do not do ICE with; its media goes to the
    // `c=`/`m=` address, as before ICE.
    let ice = match (
        m.ice_ufrag.as_ref().or(sd.ice_ufrag.as_ref()),
        m.ice_pwd.as_ref().or(sd.ice_pwd.as_ref()),
    ) {
        (Some(ufrag), Some(pwd)) => IceCredentials::checked(ufrag, pwd),
        _ => None,
    };
    Ok(Choice {
        idx,
        payload_type,
        codec,
        crypto,
        telephone_event,
        remote: SocketAddr::new(remote_ip, m.port),
        ptime_ms: send_ptime(m.ptime, m.maxptime),
        direction,
        ice,
        rtcp_mux: m.rtcp_mux,
    })
}

struct AnswerParts<'a> {
    sd: &'a SessionDescription,
    idx: usize,
    local_addr: IpAddr,
    local_port: u16,
    session_id: u64,
    payload_type: u8,
    codec: G711,
    telephone_event: Option<u8>,
    ptime_ms: u32,
    direction: Direction,
    srtp: Option<&'a SrtpKeys>,
    ice: Option<&'a IceCredentials>,
    rtcp_mux: bool,
}

fn write_answer(p: &AnswerParts<'_>) -> String {
    let ipv = if p.local_addr.is_ipv4() { "IP4" } else { "IP6" };
    let (id, addr) = (p.session_id, p.local_addr);
    let mut s = String::with_capacity(320);
    // Writing to a String cannot fail.
    let _ = write!(s, "v=0\r\no=umgw {id} {id} IN {ipv} {addr}\r\ns=umgw\r\n");
    let _ = write!(s, "c=IN {ipv} {addr}\r\nt=0 0\r\n");
    if p.ice.is_some() {
        s.push_str("a=ice-lite\r\n");
    }
    for (i, m) in p.sd.media.iter().enumerate() {
        if i != p.idx {
            let fmt = m.formats.first().map_or("0", String::as_str);
            let _ = write!(s, "m={} 0 {} {fmt}\r\n", m.media, m.proto);
            continue;
        }
        let proto = if p.srtp.is_some() {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        };
        let _ = write!(s, "m=audio {} {proto} {}", p.local_port, p.payload_type);
        if let Some(te) = p.telephone_event {
            let _ = write!(s, " {te}");
        }
        let _ = write!(
            s,
            "\r\na=rtpmap:{} {}/8000\r\n",
            p.payload_type,
            p.codec.encoding_name()
        );
        if let Some(te) = p.telephone_event {
            let _ = write!(
                s,
                "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
            );
        }
        if let Some(k) = p.srtp {
            let key = B64.encode(k.local_key);
            let _ = write!(s, "a=crypto:{} {} inline:{key}\r\n", k.tag, k.suite);
        }
        if let Some(ice) = p.ice {
            // RFC 8445 §5.1.2.1 host priority: type preference 126, local preference 65535,
            // component 1.
            let _ = write!(
                s,
                "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
                 a=candidate:1 1 UDP 2130706431 {addr} {} typ host\r\n",
                ice.ufrag, ice.pwd, p.local_port
            );
            if p.rtcp_mux {
                s.push_str("a=rtcp-mux\r\n");
            }
        }
        let _ = write!(
            s,
            "a=ptime:{}\r\na={}\r\n",
            p.ptime_ms,
            p.direction.as_str()
        );
    }
    s
}
