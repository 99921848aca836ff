//! SIP message model, parser and serialiser (RFC 3261 §7).
//!
//! This module owns the wire format. The parser never panics: every malformed input maps to a
//! [`ParseError`] whose text becomes the reason phrase of a 400 ("400 Missing Call-ID"), in the
//! spirit of rustls' `InvalidMessage`. Header names are stored in their canonical long form, so
//! compact forms (`i:`, `v:`, `l:` …) and odd capitalisation (`history-info` from Lync) look the
//! same to everyone above this layer. See docs/ARCHITECTURE.md for why this is not rsip.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Why bytes are not a usable SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("Bad Request-Line")]
    StartLine,
    #[error("Missing {0}")]
    MissingHeader(&'static str),
    #[error("Bad {name} header: {why}")]
    BadHeader {
        name: &'static str,
        why: &'static str,
    },
    #[error("Malformed header line")]
    HeaderLine,
    #[error("Content-Length larger than the body")]
    BodyLength,
    #[error("Too many header fields")]
    TooManyHeaders,
    #[error("Message too large")]
    TooLarge,
    #[error("Message is not UTF-8 in its header section")]
    NotText,
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
    /// The Request-URI is not a usable URI (`<sip:..>`, embedded LWS, bad host).
    #[error("Bad Request-URI: {0}")]
    RequestUri(&'static str),
}

impl ParseError {
    /// Status code to answer a request that failed with this error.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::TooLarge => 513,
            _ => 400,
        }
    }
}

/// SIP request method. Unknown methods are kept by name so they can be answered 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Ack,
    Bye,
    Cancel,
    Info,
    Invite,
    Message,
    Notify,
    Options,
    Prack,
    Publish,
    Refer,
    Register,
    Subscribe,
    Update,
    Other(String),
}

impl Method {
    /// Parses a method token; `None` for characters a token may not contain.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || !s.bytes().all(is_token_char) {
            return None;
        }
        Some(match s {
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "INFO" => Method::Info,
            "INVITE" => Method::Invite,
            "MESSAGE" => Method::Message,
            "NOTIFY" => Method::Notify,
            "OPTIONS" => Method::Options,
            "PRACK" => Method::Prack,
            "PUBLISH" => Method::Publish,
            "REFER" => Method::Refer,
            "REGISTER" => Method::Register,
            "SUBSCRIBE" => Method::Subscribe,
            "UPDATE" => Method::Update,
            other => Method::Other(other.to_owned()),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Info => "INFO",
            Method::Invite => "INVITE",
            Method::Message => "MESSAGE",
            Method::Notify => "NOTIFY",
            Method::Options => "OPTIONS",
            Method::Prack => "PRACK",
            Method::Publish => "PUBLISH",
            Method::Refer => "REFER",
            Method::Register => "REGISTER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// First line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed SIP message: start line, headers in wire order, body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Most header fields accepted in one message (header lines, before splitting lists).
pub const MAX_HEADERS: usize = 256;

/// The parts of a Via header value the transaction layer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub sent_by: String,
    pub branch: Option<String>,
}

/// Compact header forms and their long names: RFC 3261 §7.3.3 (c e f i k l m s t v) and the
/// later RFCs the IANA SIP header registry lists: a j d (RFC 3841), b (RFC 3892), n y (RFC 4474),
/// o u (RFC 6665, was 3265), r (RFC 3515), x (RFC 4028). Header names are case-insensitive, so
/// `L:` is Content-Length too.
const COMPACT: &[(&str, &str)] = &[
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("n", "Identity-Info"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
];

/// Further long names we read, in the capitalisation we store them with (those of `COMPACT`
/// count too), so that a header sent as `history-info` or `CSEQ` prints as the RFC spells it.
const LONG: &[&str] = &[
    "Accept",
    "Allow",
    "CSeq",
    "Diversion",
    "History-Info",
    "Max-Forwards",
    "P-Asserted-Identity",
    "Record-Route",
    "Require",
    "Route",
];

/// The long, canonically capitalised name of a header we know (compact form or long name in
/// any case); `None` for others.
fn known_name(name: &str) -> Option<&'static str> {
    if name.len() == 1 {
        return COMPACT
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .map(|(_, long)| *long);
    }
    COMPACT
        .iter()
        .map(|(_, long)| long)
        .chain(LONG)
        .find(|long| long.eq_ignore_ascii_case(name))
        .copied()
}

fn canonical_name(name: &str) -> String {
    known_name(name).unwrap_or(name).to_owned()
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Finds the end of the header section: index just past the blank line, accepting bare LF.
fn header_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// For stream transports: the length of the first complete message in `buf`, if there is one.
/// Leading CRLFs (RFC 5626 keep-alives) must be stripped by the caller first.
pub fn frame_length(buf: &[u8], max: usize) -> Result<Option<usize>, ParseError> {
    let Some(head) = header_end(buf) else {
        return if buf.len() > max {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let text = std::str::from_utf8(&buf[..head]).map_err(|_| ParseError::NotText)?;
    let mut length = None;
    for line in text.split('\n') {
        // A folded continuation line belongs to the header above it, whatever it looks like.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            if known_name(name.trim()) == Some("Content-Length") {
                let value = parse_digits(value.trim()).ok_or(ParseError::BadHeader {
                    name: "Content-Length",
                    why: "not a number",
                })?;
                // RFC 4475 mcl01: two different lengths leave the framing unknown.
                if length.is_some_and(|l| l != value) {
                    return Err(ParseError::BadHeader {
                        name: "Content-Length",
                        why: "conflicting values",
                    });
                }
                length = Some(value);
            }
        }
    }
    // RFC 3261 §18.3: Content-Length is mandatory on streams.
    let length = length.ok_or(ParseError::MissingHeader("Content-Length"))?;
    let total = head.checked_add(length).ok_or(ParseError::TooLarge)?;
    if total > max {
        return Err(ParseError::TooLarge);
    }
    Ok((buf.len() >= total).then_some(total))
}

impl Message {
    /// Parses one message from a datagram (or a framed stream message).
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        let (msg, version_ok) = Self::parse_head(buf)?;
        if !version_ok {
            // See `has_unsupported_version` for telling this apart from a garbled line.
            return Err(ParseError::StartLine);
        }
        if let Some(declared) = msg.header("Content-Length") {
            if msg.headers_named("Content-Length").nth(1).is_some() {
                return Err(ParseError::BadHeader {
                    name: "Content-Length",
                    why: "more than one value",
                });
            }
            let declared = parse_digits(declared).ok_or(ParseError::BadHeader {
                name: "Content-Length",
                why: "not a number",
            })?;
            if declared != msg.body.len() {
                return Err(ParseError::BodyLength);
            }
        }
        if msg.is_request() {
            msg.validate_request()?;
        }
        Ok(msg)
    }

    /// Parses the start line and headers without checking mandatory headers, the body length,
    /// the SIP version or the Request-URI: enough to address a 400 (or 505) to a request that
    /// [`Message::parse`] refused.
    pub fn parse_unvalidated(buf: &[u8]) -> Result<Message, ParseError> {
        Self::parse_head(buf).map(|(msg, _)| msg)
    }

    /// Whether `buf` is a well-formed request but for its SIP version (`SIP/7.0`, RFC 4475
    /// badvers), which [`Message::parse`] refuses as a bad Request-Line and which deserves a 505
    /// rather than a 400 (RFC 3261 §21.5.7).
    pub fn has_unsupported_version(buf: &[u8]) -> bool {
        Self::parse_head(buf).is_ok_and(|(msg, version_ok)| msg.is_request() && !version_ok)
    }

    /// The message, and whether a request line said SIP/2.0.
    fn parse_head(buf: &[u8]) -> Result<(Message, bool), ParseError> {
        let head_len = header_end(buf).unwrap_or(buf.len());
        let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| ParseError::NotText)?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        // RFC 3261 §7.5: ignore CRLFs before the start line.
        let first = lines
            .by_ref()
            .find(|l| !l.is_empty())
            .ok_or(ParseError::StartLine)?;
        let (start, version_ok) = parse_start_line(first)?;

        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                // Folded continuation (RFC 3261 §7.3.1): joins the previous header value.
                let last = headers.last_mut().ok_or(ParseError::HeaderLine)?;
                // `To :` CRLF SP `sip:...` (RFC 4475 wsinv): no leading space in the value; a
                // blank continuation adds nothing (else a trailing space; found by fuzzing).
                let more = line.trim();
                if !more.is_empty() {
                    if !last.1.is_empty() {
                        last.1.push(' ');
                    }
                    last.1.push_str(more);
                }
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine)?;
            let name = name.trim_end();
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(ParseError::HeaderLine);
            }
            // A bound on work per message: real INVITEs carry a few dozen header fields.
            if headers.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            headers.push((canonical_name(name), value.trim().to_owned()));
        }

        let rest = &buf[head_len.min(buf.len())..];
        let mut msg = Message {
            start,
            headers,
            body: Vec::new(),
        };
        // A bad Content-Length is refused by `parse`; here it only means "the rest".
        let body_len = msg
            .header("Content-Length")
            .and_then(parse_digits)
            .unwrap_or(rest.len());
        // Bytes past Content-Length in a datagram are discarded (RFC 3261 §18.3); a body shorter
        // than Content-Length is refused by `parse`.
        msg.body = rest[..body_len.min(rest.len())].to_vec();
        Ok((msg, version_ok))
    }

    /// Checks the headers every request must carry (RFC 3261 §8.1.1).
    fn validate_request(&self) -> Result<(), ParseError> {
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.header(name).is_none() {
                return Err(ParseError::MissingHeader(name));
            }
        }
        // RFC 4475 multi01: a second Call-ID or CSeq leaves the request ambiguous.
        for name in ["Call-ID", "CSeq", "From", "To", "Max-Forwards"] {
            if self.headers_named(name).nth(1).is_some() {
                return Err(ParseError::BadHeader {
                    name,
                    why: "more than one value",
                });
            }
        }
        check_request_uri(self.request_uri().unwrap_or_default())
            .map_err(ParseError::RequestUri)?;
        let bad_via = |why| ParseError::BadHeader { name: "Via", why };
        let via = self
            .top_via()
            .ok_or(bad_via("not SIP/2.0/transport sent-by"))?;
        if via.sent_by.is_empty() {
            return Err(bad_via("empty sent-by"));
        }
        // RFC 4475 badinv01: `;;,;,,` is not a parameter list.
        let top = split_header_list(self.header("Via").unwrap_or_default());
        if top
            .iter()
            .any(|v| v.split(';').skip(1).any(|p| p.trim().is_empty()))
        {
            return Err(bad_via("empty parameter"));
        }
        let (_, method) = self.cseq().ok_or(ParseError::BadHeader {
            name: "CSeq",
            why: "expected number and method",
        })?;
        if Some(&method) != self.method() {
            return Err(ParseError::CSeqMethod);
        }
        if self.call_id().is_none_or(str::is_empty) {
            return Err(ParseError::MissingHeader("Call-ID"));
        }
        // After CSeq: RFC 4475 scalar02 wants the CSeq error named first.
        if let Some(mf) = self.header("Max-Forwards") {
            if parse_digits(mf).is_none_or(|n| n > 255) {
                return Err(ParseError::BadHeader {
                    name: "Max-Forwards",
                    why: "not a number from 0 to 255",
                });
            }
        }
        for name in ["From", "To", "Contact"] {
            for value in self.headers_named(name) {
                check_delimiters(value).map_err(|why| ParseError::BadHeader { name, why })?;
            }
        }
        Ok(())
    }

    /// A new request with the given start line and no headers.
    pub fn request(method: Method, uri: impl Into<String>) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: uri.into(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response to `req` (RFC 3261 §8.2.6): copies Via, From, To, Call-ID and CSeq, and adds
    /// `to_tag` to To when To has no tag yet.
    pub fn response_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let mut resp = Message {
            start: StartLine::Response {
                code,
                reason: sanitize_reason(reason),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (name, value) in &req.headers {
            match name.as_str() {
                "Via" | "From" | "Call-ID" | "CSeq" => resp.push(name, value.clone()),
                "To" => {
                    let mut to = value.clone();
                    if let Some(tag) = to_tag {
                        if tag_param(value).is_none() {
                            to.push_str(";tag=");
                            to.push_str(tag);
                        }
                    }
                    resp.push("To", to);
                }
                _ => {}
            }
        }
        resp
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// First value of a header (canonical name, e.g. "Call-ID").
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in wire order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers in wire order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Appends a header. CR and LF are removed from the value so nothing can inject headers.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        let mut value: String = value.into();
        if value.contains(['\r', '\n']) {
            value.retain(|c| c != '\r' && c != '\n');
        }
        self.headers.push((name.to_owned(), value));
    }

    /// Replaces all values of a header by one.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.push(name, value);
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse::<u32>().ok()?;
        let m = Method::parse(it.next()?)?;
        if it.next().is_some() {
            return None;
        }
        Some((n, m))
    }

    /// The topmost Via (first value of the first Via header).
    pub fn top_via(&self) -> Option<Via> {
        let v = self.header("Via")?;
        let first = split_header_list(v).into_iter().next()?;
        parse_via(first)
    }

    /// Records where a request came from in its top Via, as a server does before it answers
    /// (RFC 3261 §18.2.1, RFC 3581 §4): `received=<source IP>` when the sent-by host is not
    /// that address or when the Via asks for `rport`, and `rport=<source port>` for an `rport`
    /// without a value. Responses copy the Via, so every one of them carries it. A Via that
    /// needs neither, or does not parse, is left as it is.
    pub fn stamp_top_via(&mut self, source: SocketAddr) {
        let Some((_, value)) = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("Via"))
        else {
            return;
        };
        let Some(first) = split_header_list(value).into_iter().next() else {
            return;
        };
        // The first value is the start of the (trimmed) header value.
        let start = value.len() - value.trim_start().len();
        let end = start + first.len();
        if let Some(stamped) = stamp_via(first, source) {
            value.replace_range(start..end, &stamped);
        }
    }

    pub fn from_tag(&self) -> Option<&str> {
        tag_param(self.header("From")?)
    }

    pub fn to_tag(&self) -> Option<&str> {
        tag_param(self.header("To")?)
    }

    /// Serialises with a correct Content-Length (replacing any given one).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(format!("{method} {uri} SIP/2.0\r\n").as_bytes())
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes())
            }
        }
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// The start line, and whether a request line's version is SIP/2.0.
///
/// Lenient where RFC 4475 allows it (extra SP between the elements, lwsstart and trws) and
/// where a strict reading would leave nothing to answer: any `SIP/n.n` version (505 later) and
/// any Request-URI (checked by [`check_request_uri`] in `parse`).
fn parse_start_line(line: &str) -> Result<(StartLine, bool), ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code = parse_digits(code)
            .filter(|c| (100..=699).contains(c))
            .ok_or(ParseError::StartLine)?;
        let start = StartLine::Response {
            code: code as u16,
            reason: reason.to_owned(),
        };
        return Ok((start, true));
    }
    let line = line.trim_end_matches(' ');
    let (method, rest) = line.split_once(' ').ok_or(ParseError::StartLine)?;
    let (uri, version) = rest.rsplit_once(' ').ok_or(ParseError::StartLine)?;
    let method = Method::parse(method).ok_or(ParseError::StartLine)?;
    let uri = uri.trim_matches(' ');
    let numbers = version
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| version[4..].split_once('.'));
    let Some((major, minor)) = numbers else {
        return Err(ParseError::StartLine);
    };
    if uri.is_empty() || parse_digits(major).is_none() || parse_digits(minor).is_none() {
        return Err(ParseError::StartLine);
    }
    let start = StartLine::Request {
        method,
        uri: uri.to_owned(),
    };
    Ok((
        start,
        parse_digits(major) == Some(2) && parse_digits(minor) == Some(0),
    ))
}

/// A run of ASCII digits as a number (no sign, no spaces; `0068` is 68).
fn parse_digits(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// RFC 3261 §19.1 syntax a Request-URI must have before we look at its scheme.
fn check_request_uri(uri: &str) -> Result<(), &'static str> {
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("contains whitespace"); // lwsruri
    }
    let (scheme, rest) = uri.split_once(':').ok_or("no scheme")?;
    let mut chars = scheme.bytes();
    let first_alpha = chars.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_alpha || !chars.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return Err("bad scheme"); // ltgtruri: `<sip:...>`
    }
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return Ok(()); // the endpoint answers 416 for schemes it does not serve
    }
    // The user part may hold `;`, `?` and `:`; the host part starts after the last `@`.
    let host_part = rest.rfind('@').map_or(rest, |i| &rest[i + 1..]);
    if host_part.contains('?') {
        return Err("header fields are not allowed"); // escruri
    }
    let hostport = host_part.split(';').next().unwrap_or_default();
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or("unterminated IPv6 reference")?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| "bad IPv6 reference")?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("bad port")?),
            };
            ("v6", port)
        }
        None => match hostport.split_once(':') {
            Some((_, p)) if p.contains(':') => return Err("IPv6 address without brackets"),
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    let host_char = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if host.is_empty() || !host.bytes().all(host_char) {
        return Err("bad host");
    }
    if port.is_some_and(|p| p.len() > 5 || parse_digits(p).is_none_or(|n| n > 65535)) {
        return Err("bad port");
    }
    Ok(())
}

/// Quoted strings must end and `<` must have its `>` (RFC 4475 quotbal).
fn check_delimiters(v: &str) -> Result<(), &'static str> {
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    for c in v.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated quoted string");
    }
    if angle {
        return Err("unterminated <");
    }
    Ok(())
}

fn parse_via(v: &str) -> Option<Via> {
    // LWS may surround each `/` (RFC 4475 wsinv: `SIP  /   2.0 /UDP`).
    let (name, rest) = v.split_once('/')?;
    let (version, rest) = rest.split_once('/')?;
    let (transport, rest) = rest.trim_start().split_once(char::is_whitespace)?;
    if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
        return None;
    }
    if transport.is_empty() || !transport.bytes().all(is_token_char) {
        return None;
    }
    let mut params = rest.split(';');
    let sent_by = params.next()?.trim().to_owned();
    let branch = params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("branch")
            .then(|| v.trim().to_owned())
    });
    Some(Via {
        transport: transport.to_ascii_uppercase(),
        sent_by,
        branch,
    })
}

/// One Via value with `received`/`rport` filled in for a request from `source`, or `None`
/// when nothing needs adding (see [`Message::stamp_top_via`]).
fn stamp_via(via: &str, source: SocketAddr) -> Option<String> {
    let sent_by = parse_via(via)?.sent_by;
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; the peer knows itself as a.b.c.d.
    let ip = source.ip().to_canonical();
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None if sent_by.matches(':').count() == 1 => sent_by.split(':').next().unwrap_or(""),
        None => sent_by.as_str(),
    };
    let same_host = host.parse::<IpAddr>().is_ok_and(|h| h.to_canonical() == ip);
    let mut params = via.split(';');
    let mut out = params.next()?.trim_end().to_owned();
    let mut rport = false;
    for p in params {
        let name = p.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("rport") && !p.contains('=') {
            rport = true;
            out.push_str(&format!(";rport={}", source.port()));
        } else if name.eq_ignore_ascii_case("received") {
            // Ours replaces whatever the sender put there.
        } else {
            out.push(';');
            out.push_str(p);
        }
    }
    if same_host && !rport {
        return None;
    }
    out.push_str(&format!(";received={ip}"));
    Some(out)
}

/// Splits a comma-separated header value, respecting quotes and angle brackets.
pub fn split_header_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0u32, false, false, 0);
    for (i, c) in v.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The `tag` parameter of a From/To value (outside any <...> URI).
pub fn tag_param(v: &str) -> Option<&str> {
    let params = match v.rfind('>') {
        Some(i) => &v[i + 1..],
        None => v,
    };
    params.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("tag").then(|| val.trim())
    })
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`) or an addr-spec.
pub fn uri_of(v: &str) -> &str {
    if let (Some(a), Some(b)) = (v.find('<'), v.rfind('>')) {
        if a < b {
            return v[a + 1..b].trim();
        }
    }
    v.split(';').next().unwrap_or(v).trim()
}

/// Display name of a name-addr, unquoted, if any.
pub fn display_name_of(v: &str) -> Option<String> {
    let a = v.find('<')?;
    let name = v[..a].trim().trim_matches('"').trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Host and port of a SIP URI (`sip:user@host:port;params`), without resolving anything.
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.split(['?']).next()?;
    let rest = rest.split(';').next()?;
    let hostport = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host.to_owned(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), Some(p.parse().ok()?))),
        None => Some((hostport.to_owned(), None)),
    }
}

/// Keeps a reason phrase on one line of printable text.
fn sanitize_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INVITE: &str = "INVITE sip:alice@contoso.com;opaque=app:voicemail SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
        Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKother\r\n\
        Max-Forwards: 70\r\n\
        To: Alice <sip:alice@contoso.com>\r\n\
        From: \"Bob, B.\" <sip:bob@contoso.com>;tag=1928301774\r\n\
        i: a84b4c76e66710@pc33\r\n\
        CSeq: 314159 INVITE\r\n\
        history-info: <sip:alice@contoso.com>;index=1,\r\n <sip:vm@contoso.com>;index=1.1\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\r\nEXTRA";

    #[test]
    fn parses_request_with_compact_folded_and_lowercase_headers() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(
            m.request_uri(),
            Some("sip:alice@contoso.com;opaque=app:voicemail")
        );
        assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33"));
        assert_eq!(m.cseq(), Some((314159, Method::Invite)));
        assert_eq!(m.from_tag(), Some("1928301774"));
        assert_eq!(m.to_tag(), None);
        let via = m.top_via().unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.sent_by, "10.0.0.1:5060");
        assert_eq!(via.branch.as_deref(), Some("z9hG4bK776asdhds"));
        assert_eq!(
            m.header("History-Info"),
            Some("<sip:alice@contoso.com>;index=1, <sip:vm@contoso.com>;index=1.1")
        );
        // Content-Length wins over trailing datagram bytes.
        assert_eq!(m.body, b"v=0\r");
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_to_tag() {
        let req = Message::parse(INVITE.as_bytes()).unwrap();
        let resp = Message::response_to(&req, 486, "Busy Here", Some("abc"));
        let bytes = resp.to_bytes();
        let back = Message::parse(&bytes).unwrap();
        assert_eq!(back.status(), Some(486));
        assert_eq!(back.headers_named("Via").count(), 2);
        assert_eq!(back.to_tag(), Some("abc"));
        assert_eq!(back.from_tag(), Some("1928301774"));
        assert_eq!(back.call_id(), req.call_id());
        assert_eq!(back.cseq(), req.cseq());
        assert!(String::from_utf8(bytes)
            .unwrap()
            .starts_with("SIP/2.0 486 Busy Here\r\n"));
    }

    #[test]
    fn missing_headers_name_the_header() {
        let no_call_id = INVITE.replace("i: a84b4c76e66710@pc33\r\n", "");
        assert_eq!(
            Message::parse(no_call_id.as_bytes()),
            Err(ParseError::MissingHeader("Call-ID"))
        );
        assert_eq!(
            ParseError::MissingHeader("Call-ID").to_string(),
            "Missing Call-ID"
        );
        let bad_cseq = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
        assert_eq!(
            Message::parse(bad_cseq.as_bytes()),
            Err(ParseError::CSeqMethod)
        );
        let short = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        assert_eq!(
            Message::parse(short.as_bytes()),
            Err(ParseError::BodyLength)
        );
        assert_eq!(
            Message::parse(b"INVITE sip:a@b SIP/3.0\r\n\r\n"),
            Err(ParseError::StartLine)
        );
    }

    #[test]
    fn stream_framing_by_content_length() {
        let msg = INVITE.replace("\nEXTRA", "");
        let b = msg.as_bytes();
        let total = b.len();
        assert_eq!(frame_length(&b[..total - 1], 65535), Ok(None));
        let mut two = b.to_vec();
        two.extend_from_slice(b);
        assert_eq!(frame_length(&two, 65535), Ok(Some(total)));
        assert_eq!(frame_length(&two, 100), Err(ParseError::TooLarge));
    }

    #[test]
    fn stream_framing_finds_content_length_in_every_form() {
        for name in [
            "Content-Length",
            "content-length",
            "CONTENT-LENGTH",
            "l",
            "L",
        ] {
            let msg = INVITE
                .replace("\nEXTRA", "")
                .replace("Content-Length: 4", &format!("{name}: 4"));
            let mut two = msg.as_bytes().to_vec();
            two.extend_from_slice(msg.as_bytes());
            assert_eq!(frame_length(&two, 65535), Ok(Some(msg.len())), "{name}");
            assert_eq!(Message::parse(msg.as_bytes()).unwrap().body, b"v=0\r");
        }
        // Without any of them a stream cannot be framed (RFC 3261 §18.3).
        let none = INVITE.replace("Content-Length: 4\r\n", "");
        assert_eq!(
            frame_length(none.as_bytes(), 65535),
            Err(ParseError::MissingHeader("Content-Length"))
        );
        // A folded line that looks like `l:` is part of the header above it.
        let folded = INVITE.replace("\nEXTRA", "").replace(
            "Content-Type: application/sdp\r\n",
            "Subject: x\r\n l: 99\r\n",
        );
        assert_eq!(
            frame_length(folded.as_bytes(), 65535),
            Ok(Some(folded.len()))
        );
    }

    #[test]
    fn compact_forms_of_every_rfc_read_as_their_long_names() {
        let compact = [
            ("a", "Accept-Contact"),
            ("b", "Referred-By"),
            ("d", "Request-Disposition"),
            ("e", "Content-Encoding"),
            ("j", "Reject-Contact"),
            ("k", "Supported"),
            ("n", "Identity-Info"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("s", "Subject"),
            ("u", "Allow-Events"),
            ("x", "Session-Expires"),
            ("y", "Identity"),
        ];
        let mut text = INVITE.replace("Content-Length: 4\r\n\r\nv=0\r\nEXTRA", "");
        for (short, _) in compact {
            text.push_str(&format!(
                "{}: value-{short}\r\n",
                short.to_ascii_uppercase()
            ));
        }
        text.push_str("l: 0\r\n\r\n");
        let m = Message::parse(text.as_bytes()).unwrap();
        for (short, long) in compact {
            let want = format!("value-{short}");
            assert_eq!(m.header(long), Some(want.as_str()), "{short}");
        }
        assert_eq!(m.header("Content-Length"), Some("0"));
        // Stored under the long name, so a copy (to_bytes) prints the long name.
        let out = String::from_utf8(m.to_bytes()).unwrap();
        assert!(out.contains("\r\nRefer-To: value-r\r\n"), "{out}");
        assert!(out.contains("\r\nEvent: value-o\r\n"), "{out}");
        // Unknown single letters stay as they are.
        let q = INVITE.replace("Max-Forwards: 70", "q: 1");
        assert_eq!(Message::parse(q.as_bytes()).unwrap().header("q"), Some("1"));
    }

    #[test]
    fn top_via_records_the_source_address() {
        let stamp = |via: &str, source: &str| {
            let text = INVITE.replace(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport",
                via,
            );
            let mut m = Message::parse(text.as_bytes()).unwrap();
            m.stamp_top_via(source.parse().unwrap());
            m.headers_named("Via")
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        // RFC 3581: rport gets the source port, and received is added with it.
        assert_eq!(
            stamp(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport",
                "10.0.0.1:40123"
            ),
            [
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=40123;received=10.0.0.1",
                "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKother"
            ]
        );
        // RFC 3261 §18.2.1: a sent-by that is not the source gets received, no rport.
        assert_eq!(
            stamp(
                "Via: SIP/2.0/TCP pc33.contoso.com;branch=z9hG4bKb",
                "192.0.2.4:5060"
            )[0],
            "SIP/2.0/TCP pc33.contoso.com;branch=z9hG4bKb;received=192.0.2.4"
        );
        // The sender's own received is replaced; IPv4-mapped sources read as IPv4.
        assert_eq!(
            stamp(
                "Via: SIP/2.0/UDP 10.0.0.9:5060;received=1.2.3.4;branch=z9hG4bKc",
                "[::ffff:10.0.0.7]:5060"
            )[0],
            "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKc;received=10.0.0.7"
        );
        // IPv6 sent-by: brackets in sent-by, none in received (RFC 3261 via-received).
        assert_eq!(
            stamp(
                "Via: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKd;rport",
                "[2001:db8::9]:6000"
            )[0],
            "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKd;rport=6000;received=2001:db8::9"
        );
        // Nothing to add: the Via stays byte for byte, whichever list form it has.
        assert_eq!(
            stamp(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKe , SIP/2.0/UDP x;branch=y",
                "10.0.0.1:7000"
            )[0],
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKe , SIP/2.0/UDP x;branch=y"
        );
        // Only the first value of a comma list is stamped.
        assert_eq!(
            stamp("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKf;rport, SIP/2.0/UDP x;rport", "10.0.0.1:7000")[0],
            "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKf;rport=7000;received=10.0.0.1, SIP/2.0/UDP x;rport"
        );
        // An rport that already has a value is the sender's business.
        assert_eq!(
            stamp(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;rport=5;branch=z9hG4bKg",
                "10.0.0.1:7000"
            )[0],
            "SIP/2.0/UDP 10.0.0.1:5060;rport=5;branch=z9hG4bKg"
        );
    }

    #[test]
    fn header_list_and_uri_helpers() {
        assert_eq!(
            split_header_list("\"a,b\" <sip:x@y;p=1,2>;tag=3, <sip:z@w>"),
            vec!["\"a,b\" <sip:x@y;p=1,2>;tag=3", "<sip:z@w>"]
        );
        assert_eq!(uri_of("\"Bob\" <sip:bob@x>;tag=1"), "sip:bob@x");
        assert_eq!(uri_of("sip:bob@x;tag=1"), "sip:bob@x");
        assert_eq!(
            display_name_of("\"Bob B\" <sip:bob@x>").as_deref(),
            Some("Bob B")
        );
        assert_eq!(
            uri_host_port("sip:mwi@127.0.0.1:5099;transport=udp"),
            Some(("127.0.0.1".into(), Some(5099)))
        );
        assert_eq!(
            uri_host_port("sip:[::1]:5070"),
            Some(("::1".into(), Some(5070)))
        );
        assert_eq!(
            uri_host_port("sip:pool.contoso.com"),
            Some(("pool.contoso.com".into(), None))
        );
    }

    #[test]
    fn header_count_is_bounded() {
        let mut text = INVITE.replace("Content-Length: 4\r\n\r\nv=0\r\nEXTRA", "");
        for i in 0..MAX_HEADERS {
            text.push_str(&format!("X-Filler-{i}: x\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        assert_eq!(
            Message::parse(text.as_bytes()),
            Err(ParseError::TooManyHeaders)
        );
        assert_eq!(
            ParseError::TooManyHeaders.to_string(),
            "Too many header fields"
        );
    }

    #[test]
    fn pushed_values_cannot_inject_headers() {
        let mut m = Message::request(Method::Notify, "sip:a@b");
        m.push("Subject", "hi\r\nVia: evil");
        assert_eq!(m.header("Subject"), Some("hiVia: evil"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Message::parse(&bytes);
            let _ = frame_length(&bytes, 1000);
        }

        #[test]
        fn mutated_invite_never_panics(pos in 0usize..600, byte in any::<u8>()) {
            let mut b = INVITE.as_bytes().to_vec();
            let i = pos % b.len();
            b[i] = byte;
            let _ = Message::parse(&b);
        }

        #[test]
        fn serialise_parse_round_trip(call_id in "[a-zA-Z0-9@.-]{1,40}", cseq in 1u32..1_000_000, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut m = Message::request(Method::Options, "sip:umgw@127.0.0.1");
            m.push("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx");
            m.push("From", "<sip:a@b>;tag=1");
            m.push("To", "<sip:c@d>");
            m.push("Call-ID", call_id.clone());
            m.push("CSeq", format!("{cseq} OPTIONS"));
            m.body = body.clone();
            let back = Message::parse(&m.to_bytes()).unwrap();
            prop_assert_eq!(back.call_id(), Some(call_id.as_str()));
            prop_assert_eq!(back.cseq(), Some((cseq, Method::Options)));
            prop_assert_eq!(back.body, body);
        }
    }
}
