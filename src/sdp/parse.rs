//! The SDP parser (RFC 4566): session and media descriptions, the attributes the answer
//! depends on, and the G.711 lookup of a payload type.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::crypto::CryptoAttribute;
use super::SdpError;
use crate::media::g711::G711;

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
    /// Media-level `a=ice-ufrag` / `a=ice-pwd` (RFC 8839 §5.4; they override the session's).
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    /// `a=rtcp-mux` (RFC 5761): the peer will send RTCP to the RTP port.
    pub rtcp_mux: bool,
    /// 1-based line of the `m=` line (for errors).
    pub line: usize,
}

impl MediaDescription {
    /// The rtpmap for payload type `pt`, if any.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|r| r.payload_type == pt)
    }

    /// `pt` with its encoding, e.g. `0 PCMU/8000` or `18 G729/8000`.
    pub(super) fn describe(&self) -> String {
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
    /// Session-level `a=ice-ufrag` / `a=ice-pwd`.
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    /// Media sections in order.
    pub media: Vec<MediaDescription>,
}

/// Parses an SDP body (CRLF or LF line endings).
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut sd = SessionDescription {
        origin: None,
        connection: None,
        direction: None,
        ice_ufrag: None,
        ice_pwd: None,
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
        ice_ufrag: None,
        ice_pwd: None,
        rtcp_mux: false,
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
    if name == "rtcp-mux" {
        if let Some(m) = sd.media.last_mut() {
            m.rtcp_mux = true;
        }
        return;
    }
    if let (Some(value), "ice-ufrag" | "ice-pwd") = (value, name) {
        let (ufrag, pwd) = match sd.media.last_mut() {
            Some(m) => (&mut m.ice_ufrag, &mut m.ice_pwd),
            None => (&mut sd.ice_ufrag, &mut sd.ice_pwd),
        };
        let slot = if name == "ice-ufrag" { ufrag } else { pwd };
        *slot = Some(value.to_string());
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
pub(super) fn g711(m: &MediaDescription, pt: u8) -> Option<G711> {
    match m.rtpmap(pt) {
        Some(r) if r.clock_rate == 8000 && r.channels.unwrap_or(1) == 1 => [G711::Pcmu, G711::Pcma]
            .into_iter()
            .find(|c| r.encoding.eq_ignore_ascii_case(c.encoding_name())),
        Some(_) => None,
        None => G711::from_payload_type(pt),
    }
}
