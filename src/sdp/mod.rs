//! SDP (RFC 4566) parsing and the RFC 3264 answer for G.711 audio, plain or SRTP with SDES keys
//! (RFC 4568), and picking the SDP out of Lync's `multipart/alternative` INVITE bodies.
//!
//! We serve one audio stream: PCMU or PCMA at 8 kHz, plus RFC 4733
//! telephone-event when offered. The parser is strict about the lines the
//! answer depends on (`v=`, `c=`, `m=`) and lenient about attributes: an
//! unparsable `a=` line in a stream we do not use must not fail the call.
//!
//! ICE (`a=candidate`, `a=ice-ufrag`, ...), `a=x-ssrc-range`, `a=rtcp-fb` and Lync's
//! `a=cryptoscale` are ignored, and the answer carries no ICE: a peer whose answer has no ICE
//! attributes does not do ICE (RFC 5245 §5.1), and Lync then sends media straight to the `c=`/`m=`
//! address, as it does to any non-ICE gateway.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use base64::Engine as _;

use crate::media::srtp::{SrtpContext, SrtpSuite};

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
    /// The INVITE carries no body: a delayed offer, which we do not serve (answer 488).
    #[error("INVITE without SDP offer (delayed offer is not supported)")]
    NoOffer,
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
            SdpError::NoOffer
            | SdpError::NoAudio
            | SdpError::NoCommonCodec { .. }
            | SdpError::NoSecureMedia { .. } => 488,
        }
    }

    /// RFC 3261 §20.43 warn-code and text for a 488, saying what was wrong with the offer:
    /// 304 "Media type not available" when it has no audio, 305 "Incompatible media format"
    /// when its audio is in no form we serve (codec, or SRTP required), 399 for no offer at all.
    /// `None` for errors that are not a 488.
    pub fn warning(&self) -> Option<(u16, String)> {
        let code = match self {
            SdpError::NoAudio => 304,
            SdpError::NoCommonCodec { .. } | SdpError::NoSecureMedia { .. } => 305,
            SdpError::NoOffer => 399,
            SdpError::Malformed { .. }
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

/// Media direction attribute (RFC 4566 §6, RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=inactive`
    Inactive,
    /// `a=recvonly`
    RecvOnly,
    /// `a=sendonly`
    SendOnly,
    /// `a=sendrecv` (the default)
    SendRecv,
}

impl Direction {
    /// The answer's direction for an offer with this one (RFC 3264 §6.1).
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Attribute name without `a=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inactive => "inactive",
            Direction::RecvOnly => "recvonly",
            Direction::SendOnly => "sendonly",
            Direction::SendRecv => "sendrecv",
        }
    }

    fn from_attr(a: &str) -> Option<Direction> {
        match a {
            "inactive" => Some(Direction::Inactive),
            "recvonly" => Some(Direction::RecvOnly),
            "sendonly" => Some(Direction::SendOnly),
            "sendrecv" => Some(Direction::SendRecv),
            _ => None,
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count if given.
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, ...
    pub media: String,
    /// Transport port; 0 means the stream is rejected/disabled.
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub proto: String,
    /// Format list as written (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=` address (overrides the session's).
    pub connection: Option<IpAddr>,
    /// `a=rtpmap` lines.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp:<fmt> <params>` lines.
    pub fmtps: Vec<(String, String)>,
    /// `a=ptime` in ms.
    pub ptime: Option<u32>,
    /// `a=maxptime` in ms (RFC 4566 §6).
    pub maxptime: Option<u32>,
    /// Media-level direction attribute.
    pub direction: Option<Direction>,
    /// `a=crypto` lines with a suite we implement, in offer order (the offerer's preference).
    pub crypto: Vec<CryptoAttribute>,
    /// Why each other `a=crypto` line was skipped (unknown suite, syntax), for 488 reasons.
    pub crypto_skipped: Vec<String>,
    /// 1-based line of the `m=` line (for errors).
    pub line: usize,
}

impl MediaDescription {
    /// The rtpmap for payload type `pt`, if any.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|r| r.payload_type == pt)
    }

    /// `pt` with its encoding, e.g. `0 PCMU/8000` or `18 G729/8000`.
    fn describe(&self) -> String {
        let mut out = self.proto.clone();
        for f in &self.formats {
            out.push(' ');
            out.push_str(f);
            let name = f.parse().ok().and_then(|pt| codec_name(self, pt));
            if let Some(n) = name {
                let _ = write!(out, "({n})");
            }
        }
        out
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` line contents after `o=`, if present.
    pub origin: Option<String>,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// Media sections in order.
    pub media: Vec<MediaDescription>,
}

/// Parses an SDP body (CRLF or LF line endings).
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut sd = SessionDescription {
        origin: None,
        connection: None,
        direction: None,
        media: Vec::new(),
    };
    let mut seen_version = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| SdpError::Malformed {
            line,
            why: why.to_string(),
        };
        let (kind, value) = match raw.split_once('=') {
            Some((k, v)) if k.len() == 1 && k.as_bytes()[0].is_ascii_lowercase() => (k, v),
            _ => return Err(bad("expected <type>=<value>")),
        };
        if !seen_version {
            if kind != "v" || value.trim() != "0" {
                return Err(bad("SDP must start with v=0"));
            }
            seen_version = true;
            continue;
        }
        match kind {
            "o" if sd.media.is_empty() => sd.origin = Some(value.to_string()),
            "c" => {
                let addr = parse_connection(value).map_err(|why| bad(&why))?;
                match sd.media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => sd.connection = Some(addr),
                }
            }
            "m" => sd
                .media
                .push(parse_media(value, line).map_err(|why| bad(&why))?),
            "a" => parse_attribute(&mut sd, value),
            _ => {}
        }
    }
    if !seen_version {
        return Err(SdpError::Malformed {
            line: 1,
            why: "empty SDP".to_string(),
        });
    }
    Ok(sd)
}

fn parse_connection(v: &str) -> Result<IpAddr, String> {
    let mut it = v.split_ascii_whitespace();
    let (Some(net), Some(kind), Some(addr), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err("c= needs <nettype> <addrtype> <address>".to_string());
    };
    if net != "IN" {
        return Err(format!("c= network type {net:?} is not IN"));
    }
    // Strip multicast /ttl[/count]; a unicast voice-mail leg never uses them.
    let addr = addr.split('/').next().unwrap_or(addr);
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("c= address {addr:?} is not an IP literal"))?;
    match (kind, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(format!(
            "c= address {addr:?} does not match address type {kind:?}"
        )),
    }
}

fn parse_media(v: &str, line: usize) -> Result<MediaDescription, String> {
    let mut it = v.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
        return Err("m= needs <media> <port> <proto> <fmt>...".to_string());
    };
    let port_only = port.split('/').next().unwrap_or(port);
    let port = port_only
        .parse()
        .map_err(|_| format!("m= port {port_only:?} is not a number 0-65535"))?;
    Ok(MediaDescription {
        media: media.to_string(),
        port,
        proto: proto.to_string(),
        formats: it.map(str::to_string).collect(),
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        crypto: Vec::new(),
        crypto_skipped: Vec::new(),
        line,
    })
}

fn parse_attribute(sd: &mut SessionDescription, v: &str) {
    let (name, value) = match v.split_once(':') {
        Some((n, val)) => (n, Some(val.trim())),
        None => (v.trim(), None),
    };
    if let Some(d) = Direction::from_attr(name) {
        match sd.media.last_mut() {
            Some(m) => m.direction = Some(d),
            None => sd.direction = Some(d),
        }
        return;
    }
    let (Some(m), Some(value)) = (sd.media.last_mut(), value) else {
        return;
    };
    match name {
        "rtpmap" => {
            if let Some(r) = parse_rtpmap(value) {
                m.rtpmaps.push(r);
            }
        }
        "fmtp" => {
            if let Some((fmt, params)) = value.split_once(' ') {
                m.fmtps.push((fmt.to_string(), params.trim().to_string()));
            }
        }
        "ptime" => m.ptime = value.parse().ok(),
        "maxptime" => m.maxptime = value.parse().ok(),
        "crypto" => match value.parse::<CryptoAttribute>() {
            Ok(c) => m.crypto.push(c),
            Err(e) => m.crypto_skipped.push(e.to_string()),
        },
        _ => {}
    }
}

fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.to_string();
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    Some(RtpMap {
        payload_type: pt.parse().ok().filter(|&p: &u8| p < 128)?,
        encoding,
        clock_rate,
        channels,
    })
}

/// `encoding/clock` for a payload type: rtpmap first, else the RFC 3551 static table.
fn codec_name(m: &MediaDescription, pt: u8) -> Option<String> {
    if let Some(r) = m.rtpmap(pt) {
        return Some(format!("{}/{}", r.encoding, r.clock_rate));
    }
    let name = match pt {
        0 => "PCMU/8000",
        3 => "GSM/8000",
        4 => "G723/8000",
        8 => "PCMA/8000",
        9 => "G722/8000",
        18 => "G729/8000",
        _ => return None,
    };
    Some(name.to_string())
}

/// G.711 law for payload type `pt` in `m`, if it is PCMU/8000 or PCMA/8000 mono.
fn g711(m: &MediaDescription, pt: u8) -> Option<&'static str> {
    match m.rtpmap(pt) {
        Some(r) if r.clock_rate == 8000 && r.channels.unwrap_or(1) == 1 => {
            if r.encoding.eq_ignore_ascii_case("PCMU") {
                Some("PCMU")
            } else if r.encoding.eq_ignore_ascii_case("PCMA") {
                Some("PCMA")
            } else {
                None
            }
        }
        Some(_) => None,
        None => match pt {
            0 => Some("PCMU"),
            8 => Some("PCMA"),
            _ => None,
        },
    }
}

/// Shortest SDES key lifetime (packets) we accept: we never rekey, and a 30 min call
/// (MaxCallDuration) at 50 packets/s is 90 000 packets, under 2^17. 2^20 leaves room.
const MIN_KEY_LIFETIME: u64 = 1 << 20;

/// Base64 as RFC 4568 uses it; padding is optional in the wild (30 bytes need none anyway).
const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// An `a=crypto` line that could not be parsed or names a suite we do not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a=crypto {value:?}: {why}")]
pub struct CryptoError {
    /// The attribute value after `a=crypto:`.
    pub value: String,
    /// What is wrong.
    pub why: String,
}

/// `a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len] [session params]`
/// (RFC 4568 §9.1) for a suite we implement, with one inline key.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// Tag the answer must echo.
    pub tag: u32,
    /// Crypto suite.
    pub suite: SrtpSuite,
    /// 16-byte master key followed by the 14-byte master salt.
    pub key_salt: [u8; 30],
    /// Key lifetime in packets (`2^31` is stored as 2147483648).
    pub lifetime: Option<u64>,
    /// `MKI value : MKI length in bytes`.
    pub mki: Option<(u64, u8)>,
    /// Session parameters as written (`KDR=0`, `WSH=64`, `UNENCRYPTED_SRTP`...).
    pub session_params: Vec<String>,
}

impl std::fmt::Debug for CryptoAttribute {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoAttribute")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("lifetime", &self.lifetime)
            .field("mki", &self.mki)
            .field("session_params", &self.session_params)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for CryptoAttribute {
    type Err = CryptoError;

    /// Parses the value after `a=crypto:`.
    fn from_str(value: &str) -> Result<CryptoAttribute, CryptoError> {
        let bad = |why: String| CryptoError {
            value: value.to_string(),
            why,
        };
        let mut it = value.split_ascii_whitespace();
        let (Some(tag), Some(suite), Some(key_params)) = (it.next(), it.next(), it.next()) else {
            return Err(bad("needs <tag> <suite> <key-params>".to_string()));
        };
        let tag = tag
            .parse()
            .ok()
            .filter(|_| tag.len() <= 9 && tag.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(format!("tag {tag:?} is not 1-9 digits")))?;
        let suite = SrtpSuite::from_name(suite)
            .ok_or_else(|| bad(format!("unsupported crypto suite {suite}")))?;
        if key_params.contains(';') {
            return Err(bad("several keys in one line (needs MKI)".to_string()));
        }
        let info = match key_params.split_once(':') {
            Some((method, info)) if method.eq_ignore_ascii_case("inline") => info,
            _ => return Err(bad("key method is not inline:".to_string())),
        };
        let mut fields = info.split('|');
        let b64 = fields.next().unwrap_or_default();
        let mut raw = [0u8; 48];
        let key_salt = match B64.decode_slice(b64, &mut raw) {
            Ok(30) => {
                let mut k = [0u8; 30];
                k.copy_from_slice(&raw[..30]);
                k
            }
            Ok(n) => return Err(bad(format!("key||salt is {n} bytes, expected 30"))),
            Err(_) => return Err(bad("key||salt is not base64".to_string())),
        };
        let (mut lifetime, mut mki) = (None, None);
        for f in fields {
            if let Some((v, len)) = f.split_once(':') {
                let v = v.parse().map_err(|_| bad(format!("MKI value {v:?}")))?;
                let len = len
                    .parse()
                    .ok()
                    .filter(|l| (1..=128).contains(l))
                    .ok_or_else(|| bad(format!("MKI length {len:?} is not 1-128")))?;
                mki = Some((v, len));
            } else if let Some(exp) = f.strip_prefix("2^") {
                let exp: u32 = exp
                    .parse()
                    .ok()
                    .filter(|&e| e < 64)
                    .ok_or_else(|| bad(format!("lifetime {f:?}")))?;
                lifetime = Some(1u64 << exp);
            } else {
                lifetime = Some(f.parse().map_err(|_| bad(format!("lifetime {f:?}")))?);
            }
        }
        Ok(CryptoAttribute {
            tag,
            suite,
            key_salt,
            lifetime,
            mki,
            session_params: it.map(str::to_string).collect(),
        })
    }
}

impl std::fmt::Display for CryptoAttribute {
    /// The value after `a=crypto:`, which parses back to `self`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = B64.encode(self.key_salt);
        write!(f, "{} {} inline:{key}", self.tag, self.suite)?;
        match self.lifetime {
            Some(l) if l.is_power_of_two() => write!(f, "|2^{}", l.trailing_zeros())?,
            Some(l) => write!(f, "|{l}")?,
            None => {}
        }
        if let Some((v, len)) = self.mki {
            write!(f, "|{v}:{len}")?;
        }
        for p in &self.session_params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl CryptoAttribute {
    /// Why we cannot use this line, if we cannot.
    fn unusable(&self) -> Option<String> {
        // An MKI field in every packet is a format our SRTP transform does not parse.
        if let Some((v, len)) = self.mki {
            return Some(format!("tag {} needs MKI {v}:{len}", self.tag));
        }
        if let Some(l) = self.lifetime.filter(|&l| l < MIN_KEY_LIFETIME) {
            return Some(format!("tag {} key lifetime {l} needs rekeying", self.tag));
        }
        // These change the transform; others (WSH, FEC_ORDER, vendor ones) are safe to ignore.
        for p in &self.session_params {
            let upper = p.to_ascii_uppercase();
            let changes = match upper.split_once('=') {
                Some(("KDR", v)) => v != "0",
                Some(("FEC_KEY", _)) => true,
                _ => upper == "UNENCRYPTED_SRTP" || upper == "UNAUTHENTICATED_SRTP",
            };
            if changes {
                return Some(format!(
                    "tag {} session parameter {p} not supported",
                    self.tag
                ));
            }
        }
        None
    }
}

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

/// SDES keys agreed for one call: build an inbound and an outbound [`SrtpContext`] from them.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The offer's crypto tag that the answer echoes.
    pub tag: u32,
    /// Suite of the chosen crypto line (the same both ways).
    pub suite: SrtpSuite,
    /// The offerer's key||salt: decrypts what it sends us.
    pub remote_key: [u8; 30],
    /// Our key||salt, as put in the answer: encrypts what we send.
    pub local_key: [u8; 30],
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Drop for SrtpKeys {
    // Master keys must not outlive the call in freed memory.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.remote_key.zeroize();
        self.local_key.zeroize();
    }
}

impl SrtpKeys {
    /// Context that unprotects packets from the peer.
    pub fn inbound(&self) -> SrtpContext {
        SrtpContext::from_key_salt(self.suite, &self.remote_key)
    }

    /// Context that protects packets we send.
    pub fn outbound(&self) -> SrtpContext {
        SrtpContext::from_key_salt(self.suite, &self.local_key)
    }
}

/// Result of answering an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Audio payload type, numbered as in the offer (0 PCMU, 8 PCMA, or the
    /// offer's dynamic number for PCMU/PCMA).
    pub payload_type: u8,
    /// `"PCMU"` or `"PCMA"`.
    pub encoding: &'static str,
    /// Payload type of telephone-event/8000 in the offer, if offered.
    pub telephone_event: Option<u8>,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// Packet time we send in (ms): see [`send_ptime`].
    pub ptime_ms: u32,
    /// Direction we answered with.
    pub direction: Direction,
    /// The complete SDP answer, CRLF line endings.
    pub answer: String,
}

/// Result of [`negotiate_secure`]: the stream, and SRTP keys when the answer is RTP/SAVP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSecure {
    /// Codec, addresses and the answer text.
    pub media: Negotiated,
    /// `Some` when we answered RTP/SAVP.
    pub srtp: Option<SrtpKeys>,
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

/// An RTP/AVP offer of one G.711 codec (`PCMU` or `PCMA`) and telephone-event/8000 (101):
/// what the gateway sends on the second leg of a bridged transfer, in the codec of the first
/// leg so packets can be relayed without transcoding.
pub fn offer(local_addr: IpAddr, local_port: u16, session_id: u64, encoding: &str) -> String {
    let pt = if encoding.eq_ignore_ascii_case("PCMA") {
        8
    } else {
        0
    };
    let name = if pt == 8 { "PCMA" } else { "PCMU" };
    let ip = if local_addr.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=umgw {session_id} 1 IN {ip} {local_addr}\r\ns=umgw\r\nc=IN {ip} {local_addr}\r\n\
         t=0 0\r\nm=audio {local_port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    )
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
    let sd = parse(offer)?;
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
        let codec = m
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find_map(|pt| Some((pt, g711(m, pt)?)));
        let refuse = |why: &str| format!("{} ({why})", m.describe());
        match (is_avp, is_savp, codec, policy) {
            (true, _, _, MediaSecurity::SrtpRequired) => offered.push(refuse("SRTP required")),
            (true, _, Some((pt, enc)), _) => {
                plain = plain.or(Some((i, pt, enc)));
                if policy == MediaSecurity::RtpOnly {
                    break;
                }
            }
            (_, true, _, MediaSecurity::RtpOnly) => {
                offered.push(refuse("SRTP not configured"));
            }
            (_, true, Some((pt, enc)), _) => match m.crypto.iter().find(|c| c.unusable().is_none())
            {
                Some(c) => {
                    secure = Some((i, pt, enc, c));
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
            },
            _ => offered.push(m.describe()),
        }
    }
    let (idx, payload_type, encoding, crypto) = match (secure, plain) {
        (Some((i, pt, enc, c)), _) => (i, pt, enc, Some(c)),
        (None, Some((i, pt, enc))) => (i, pt, enc, None),
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
    let direction = m
        .direction
        .or(sd.direction)
        .unwrap_or(Direction::SendRecv)
        .reverse();
    let ptime_ms = send_ptime(m.ptime, m.maxptime);
    let srtp = crypto.map(|c| SrtpKeys {
        tag: c.tag,
        suite: c.suite,
        remote_key: c.key_salt,
        local_key: *local_key,
    });
    let answer = write_answer(&AnswerParts {
        sd: &sd,
        idx,
        local_addr,
        local_port,
        session_id,
        payload_type,
        encoding,
        telephone_event,
        ptime_ms,
        direction,
        srtp: srtp.as_ref(),
    });
    Ok(NegotiatedSecure {
        media: Negotiated {
            payload_type,
            encoding,
            telephone_event,
            remote: SocketAddr::new(remote_ip, m.port),
            ptime_ms,
            direction,
            answer,
        },
        srtp,
    })
}

struct AnswerParts<'a> {
    sd: &'a SessionDescription,
    idx: usize,
    local_addr: IpAddr,
    local_port: u16,
    session_id: u64,
    payload_type: u8,
    encoding: &'static str,
    telephone_event: Option<u8>,
    ptime_ms: u32,
    direction: Direction,
    srtp: Option<&'a SrtpKeys>,
}

fn write_answer(p: &AnswerParts<'_>) -> String {
    let ipv = if p.local_addr.is_ipv4() { "IP4" } else { "IP6" };
    let (id, addr) = (p.session_id, p.local_addr);
    let mut s = String::with_capacity(320);
    // Writing to a String cannot fail.
    let _ = write!(s, "v=0\r\no=umgw {id} {id} IN {ipv} {addr}\r\ns=umgw\r\n");
    let _ = write!(s, "c=IN {ipv} {addr}\r\nt=0 0\r\n");
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
        let _ = write!(s, "\r\na=rtpmap:{} {}/8000\r\n", p.payload_type, p.encoding);
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
        let _ = write!(
            s,
            "a=ptime:{}\r\na={}\r\n",
            p.ptime_ms,
            p.direction.as_str()
        );
    }
    s
}

/// Returns the SDP to answer from an INVITE body, for [`MediaSecurity::SrtpOptional`].
///
/// See [`select_offer_for`].
pub fn select_offer(content_type: &str, body: &[u8]) -> Result<String, SdpError> {
    select_offer_for(content_type, body, MediaSecurity::SrtpOptional)
}

/// Returns the SDP to answer under `policy` from an INVITE body.
///
/// `application/sdp`: the body. `multipart/*` (Lync sends `multipart/alternative` with two SDP
/// parts): the `application/sdp` parts, those not marked `ms-proxy-2007fallback` first (that one
/// exists for OCS 2007 peers), and of these the first that [`negotiate_secure`] can answer. When
/// none can, the most preferred part: answering it yields the error (and SIP status) under the
/// caller's own policy. Errors here are about the body itself (415 not SDP, 400 bad multipart).
pub fn select_offer_for(
    content_type: &str,
    body: &[u8],
    policy: MediaSecurity,
) -> Result<String, SdpError> {
    let mut parts = Vec::new();
    collect_sdp(content_type, body, 0, &mut parts)?;
    if parts.is_empty() {
        return Err(SdpError::UnsupportedBody {
            content_type: content_type.to_string(),
        });
    }
    // Stable: keeps the body's order within each group.
    parts.sort_by_key(|p| p.0);
    let local = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let servable = parts
        .iter()
        .position(|(_, text)| negotiate_secure(text, local, 9, 0, policy, &[0; 30]).is_ok());
    let (_, text) = parts.swap_remove(servable.unwrap_or(0));
    Ok(text)
}

/// Nesting depth of multipart bodies we follow (multipart/mixed around multipart/alternative).
const MAX_MULTIPART_DEPTH: usize = 3;

/// Appends `(is_fallback, sdp)` for each SDP in `body`.
fn collect_sdp(
    content_type: &str,
    body: &[u8],
    depth: usize,
    out: &mut Vec<(bool, String)>,
) -> Result<(), SdpError> {
    let mut params = content_type.split(';');
    let mime = params.next().unwrap_or_default().trim();
    if mime.eq_ignore_ascii_case("application/sdp") {
        let text = std::str::from_utf8(body).map_err(|e| SdpError::Malformed {
            line: 1 + body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            why: "SDP is not UTF-8".to_string(),
        })?;
        out.push((false, text.to_string()));
        return Ok(());
    }
    // `get` and not `[..10]`: a hostile Content-Type may put a multi-byte character there.
    let is_multipart = mime.len() > 10
        && mime
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"));
    if !is_multipart || depth >= MAX_MULTIPART_DEPTH {
        // A non-SDP part inside a multipart body is skipped; a non-SDP body is refused.
        return if depth == 0 {
            Err(SdpError::UnsupportedBody {
                content_type: content_type.to_string(),
            })
        } else {
            Ok(())
        };
    }
    let boundary = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| SdpError::BadMultipart {
            why: format!("no boundary parameter in {content_type:?}"),
        })?;
    let parts = split_multipart(body, boundary.as_bytes());
    if parts.is_empty() {
        return Err(SdpError::BadMultipart {
            why: format!("no part delimited by --{boundary}"),
        });
    }
    for part in parts {
        let (headers, part_body) = split_part(&part);
        let mut ctype = "text/plain"; // RFC 2046 §5.1 default
        let mut fallback = false;
        for (name, value) in &headers {
            if name.eq_ignore_ascii_case("content-type") {
                ctype = value;
            } else if name.eq_ignore_ascii_case("content-disposition") {
                fallback = value
                    .split(';')
                    .any(|p| p.trim().eq_ignore_ascii_case("ms-proxy-2007fallback"));
            }
        }
        let before = out.len();
        collect_sdp(ctype, &part_body, depth + 1, out)?;
        for p in &mut out[before..] {
            p.0 |= fallback;
        }
    }
    Ok(())
}

/// Lines of `body` (LF or CRLF) without their line ends.
fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The parts between `--boundary` lines (RFC 2046 §5.1.1), each as lines; stops at `--boundary--`.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<Vec<&'a [u8]>> {
    let mut parts = Vec::new();
    let mut current: Option<Vec<&[u8]>> = None;
    for line in body_lines(body) {
        let rest = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary));
        if let Some(rest) = rest {
            let closing = rest.starts_with(b"--");
            let rest = if closing { &rest[2..] } else { rest };
            if rest.iter().all(|b| b.is_ascii_whitespace()) {
                parts.extend(current.take());
                if closing {
                    return parts;
                }
                current = Some(Vec::new());
                continue;
            }
        }
        if let Some(c) = current.as_mut() {
            c.push(line);
        }
    }
    // No closing delimiter: keep what we have rather than fail a call on a truncated epilogue.
    parts.extend(current);
    parts
}

/// A part's headers (folded lines joined) and its body with CRLF line ends.
fn split_part(lines: &[&[u8]]) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        i += 1;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if text.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
        } else if let Some((n, v)) = text.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    for line in &lines[i.min(lines.len())..] {
        body.extend_from_slice(line);
        body.extend_from_slice(b"\r\n");
    }
    (headers, body)
}

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

#[cfg(test)]
mod test;
