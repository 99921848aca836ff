//! SDP (RFC 4566) parsing and the RFC 3264 answer for G.711 audio.
//!
//! We serve one audio stream: PCMU or PCMA at 8 kHz, plus RFC 4733
//! telephone-event when offered. The parser is strict about the lines the
//! answer depends on (`v=`, `c=`, `m=`) and lenient about attributes: an
//! unparsable `a=` line in a stream we do not use must not fail the call.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

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
}

impl SdpError {
    /// SIP status for a rejected offer: 400 for syntax, 488 Not Acceptable Here otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Malformed { .. } => 400,
            SdpError::NoAudio | SdpError::NoCommonCodec { .. } => 488,
        }
    }
}

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
    /// Media-level direction attribute.
    pub direction: Option<Direction>,
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
        direction: None,
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
    /// Direction we answered with.
    pub direction: Direction,
    /// The complete SDP answer, CRLF line endings.
    pub answer: String,
}

/// Answers `offer` (RFC 3264) with one G.711 audio stream at `local_addr:local_port`.
///
/// The first `m=audio` line with a non-zero port, RTP/AVP and a PCMU/PCMA
/// format is accepted; the codec is the first such format in the offer's
/// order (the offerer's preference). Every other `m=` line is rejected with
/// port 0, as RFC 3264 §6 requires the answer to keep the offer's m-line count.
/// RTP/SAVP offers are refused until SRTP is configured.
pub fn negotiate(
    offer: &str,
    local_addr: IpAddr,
    local_port: u16,
    session_id: u64,
) -> Result<Negotiated, SdpError> {
    let sd = parse(offer)?;
    let audio: Vec<usize> = (0..sd.media.len())
        .filter(|&i| sd.media[i].media.eq_ignore_ascii_case("audio") && sd.media[i].port != 0)
        .collect();
    if audio.is_empty() {
        return Err(SdpError::NoAudio);
    }
    let mut offered = Vec::new();
    let mut chosen = None;
    for &i in &audio {
        let m = &sd.media[i];
        if !m.proto.eq_ignore_ascii_case("RTP/AVP") {
            let note = if m.proto.to_ascii_uppercase().contains("SAVP") {
                " (SRTP not configured)"
            } else {
                ""
            };
            offered.push(format!("{}{note}", m.describe()));
            continue;
        }
        let codec = m
            .formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find_map(|pt| Some((pt, g711(m, pt)?)));
        match codec {
            Some((pt, enc)) => {
                chosen = Some((i, pt, enc));
                break;
            }
            None => offered.push(m.describe()),
        }
    }
    let Some((idx, payload_type, encoding)) = chosen else {
        return Err(SdpError::NoCommonCodec {
            offered: offered.join("; "),
        });
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
    let answer = write_answer(&AnswerParts {
        sd: &sd,
        idx,
        local_addr,
        local_port,
        session_id,
        payload_type,
        encoding,
        telephone_event,
        direction,
    });
    Ok(Negotiated {
        payload_type,
        encoding,
        telephone_event,
        remote: SocketAddr::new(remote_ip, m.port),
        direction,
        answer,
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
    direction: Direction,
}

fn write_answer(p: &AnswerParts<'_>) -> String {
    let ipv = if p.local_addr.is_ipv4() { "IP4" } else { "IP6" };
    let (id, addr) = (p.session_id, p.local_addr);
    let mut s = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write!(s, "v=0\r\no=umgw {id} {id} IN {ipv} {addr}\r\ns=umgw\r\n");
    let _ = write!(s, "c=IN {ipv} {addr}\r\nt=0 0\r\n");
    for (i, m) in p.sd.media.iter().enumerate() {
        if i != p.idx {
            let fmt = m.formats.first().map_or("0", String::as_str);
            let _ = write!(s, "m={} 0 {} {fmt}\r\n", m.media, m.proto);
            continue;
        }
        let _ = write!(s, "m=audio {} RTP/AVP {}", p.local_port, p.payload_type);
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
        let _ = write!(s, "a=ptime:20\r\na={}\r\n", p.direction.as_str());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));

    /// SIPp's built-in uac offer.
    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn sipp_default_offer() {
        let n = negotiate(SIPP, LOCAL, 40000, 42).unwrap();
        assert_eq!(
            (n.payload_type, n.encoding, n.telephone_event),
            (0, "PCMU", None)
        );
        assert_eq!(n.remote, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(
            n.answer,
            "v=0\r\no=umgw 42 42 IN IP4 192.0.2.10\r\ns=umgw\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn pcma_with_telephone_event_and_media_level_c() {
        let offer = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=call\nc=IN IP4 10.0.0.1\nt=0 0\n\
                     m=audio 49170 RTP/AVP 8 101\nc=IN IP4 198.51.100.7\na=rtpmap:8 PCMA/8000\n\
                     a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=sendonly\n";
        let n = negotiate(offer, LOCAL, 40002, 7).unwrap();
        assert_eq!(
            (n.payload_type, n.encoding, n.telephone_event),
            (8, "PCMA", Some(101))
        );
        assert_eq!(n.remote, "198.51.100.7:49170".parse().unwrap());
        assert_eq!(n.direction, Direction::RecvOnly);
        assert!(n.answer.contains("m=audio 40002 RTP/AVP 8 101\r\n"));
        assert!(n
            .answer
            .contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"));
        assert!(n.answer.ends_with("a=recvonly\r\n"));
        // The answer parses back and says what we negotiated.
        let back = parse(&n.answer).unwrap();
        assert_eq!(back.connection, Some(LOCAL));
        assert_eq!(back.media.len(), 1);
        let m = &back.media[0];
        assert_eq!((m.port, m.proto.as_str()), (40002, "RTP/AVP"));
        assert_eq!(m.formats, vec!["8", "101"]);
        assert_eq!(m.rtpmap(8).unwrap().encoding, "PCMA");
        assert_eq!(m.fmtps, vec![("101".to_string(), "0-15".to_string())]);
        assert_eq!(
            (m.ptime, m.direction),
            (Some(20), Some(Direction::RecvOnly))
        );
    }

    #[test]
    fn g729_only_is_no_common_codec() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                     m=audio 5004 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        let e = negotiate(offer, LOCAL, 1, 1).unwrap_err();
        assert_eq!(
            e,
            SdpError::NoCommonCodec {
                offered: "RTP/AVP 18(G729/8000)".to_string()
            }
        );
        assert_eq!(e.status_code(), 488);
    }

    #[test]
    fn dynamic_pcmu_preference_order_and_ipv6() {
        let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
                     m=audio 7078 RTP/AVP 9 96 0 97\r\na=rtpmap:96 pcmu/8000\r\n\
                     a=rtpmap:97 telephone-event/8000\r\na=inactive\r\n";
        let local: IpAddr = "2001:db8::99".parse().unwrap();
        let n = negotiate(offer, local, 30000, 5).unwrap();
        assert_eq!(
            (n.payload_type, n.encoding, n.telephone_event),
            (96, "PCMU", Some(97))
        );
        assert_eq!(n.remote, "[2001:db8::1]:7078".parse().unwrap());
        assert!(n.answer.contains("o=umgw 5 5 IN IP6 2001:db8::99\r\n"));
        assert!(n.answer.contains("c=IN IP6 2001:db8::99\r\n"));
        assert!(n.answer.contains("a=rtpmap:96 PCMU/8000\r\n"));
        assert!(n.answer.ends_with("a=inactive\r\n"));
        assert_eq!(parse(&n.answer).unwrap().connection, Some(local));
    }

    #[test]
    fn lync_like_savp_then_avp_and_extra_streams() {
        // SRTP-only: refused with a reason the operator can act on.
        let savp = "v=0\r\no=- 0 1 IN IP4 10.1.1.1\r\ns=session\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
                    m=audio 50018 RTP/SAVP 114 9 0 8 101\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:abc\r\n\
                    a=rtpmap:114 x-msrta/16000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let e = negotiate(savp, LOCAL, 1, 1).unwrap_err();
        let SdpError::NoCommonCodec { offered } = e else {
            panic!("{e:?}")
        };
        assert!(
            offered.contains("RTP/SAVP") && offered.ends_with("(SRTP not configured)"),
            "{offered}"
        );
        // Rejected port-0 audio, then video, then a usable audio stream.
        let offer = "v=0\r\no=- 0 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
                     m=audio 0 RTP/AVP 0\r\nm=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                     m=audio 5008 RTP/AVP 8\r\n";
        let n = negotiate(offer, LOCAL, 40000, 1).unwrap();
        assert_eq!((n.payload_type, n.remote.port()), (8, 5008));
        let back = parse(&n.answer).unwrap();
        let ports: Vec<u16> = back.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, vec![0, 0, 40000]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            negotiate(
                "v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 1 RTP/AVP 96\r\n",
                LOCAL,
                1,
                1
            ),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            negotiate(
                "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n",
                LOCAL,
                1,
                1
            ),
            Err(SdpError::NoAudio)
        );
        let e = parse("v=0\r\no=x\r\nc=IN IP4 999.1.1.1\r\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "SDP line 3: c= address \"999.1.1.1\" is not an IP literal"
        );
        assert_eq!(e.status_code(), 400);
        assert!(matches!(
            parse("o=x\r\n"),
            Err(SdpError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            parse(""),
            Err(SdpError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            parse("v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            parse("v=0\r\nc=IN IP6 1.2.3.4\r\n"),
            Err(SdpError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            parse("v=0\r\nnonsense\r\n"),
            Err(SdpError::Malformed { line: 2, .. })
        ));
        let e = negotiate("v=0\r\nm=audio 5 RTP/AVP 0\r\n", LOCAL, 1, 1).unwrap_err();
        assert_eq!(e.to_string(), "SDP line 2: no c= line for the audio stream");
        // A garbage attribute in a stream we use does not fail the call.
        assert!(negotiate(
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:zz\r\na=ptime:x\r\n",
            LOCAL,
            1,
            1
        )
        .is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*", lines in proptest::collection::vec("[vocmat]=[ -~]{0,30}", 0..12)) {
            let _ = negotiate(&s, LOCAL, 1, 1);
            let text = lines.join("\r\n");
            let _ = negotiate(&format!("v=0\r\n{text}"), LOCAL, 1, 1);
        }

        #[test]
        fn answer_parses_back(port in 1u16.., pt in prop::sample::select(vec![0u8, 8]), te in 96u8..128) {
            let offer = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio {port} RTP/AVP {pt} {te}\r\na=rtpmap:{te} telephone-event/8000\r\n");
            let n = negotiate(&offer, LOCAL, 4000, 9).unwrap();
            prop_assert_eq!((n.payload_type, n.telephone_event, n.remote.port()), (pt, Some(te), port));
            let back = parse(&n.answer).unwrap();
            prop_assert_eq!(back.media[0].formats.clone(), vec![pt.to_string(), te.to_string()]);
        }
    }
}
