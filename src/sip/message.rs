//! SIP message model, parser and serialiser (RFC 3261 §7).
//!
//! This module owns the wire format. The parser never panics: every malformed input maps to a
//! [`ParseError`] whose text becomes the reason phrase of a 400 ("400 Missing Call-ID"), in the
//! spirit of rustls' `InvalidMessage`. Header names are stored in their canonical long form, so
//! compact forms (`i:`, `v:`, `l:` …) and odd capitalisation (`history-info` from Lync) look the
//! same to everyone above this layer. See docs/ARCHITECTURE.md for why this is not rsip.

mod framing;
mod method;
mod names;
#[cfg(test)]
mod test;
mod via;

pub use super::headers::{display_name_of, split_header_list, tag_param, uri_of};
pub use framing::frame_length;
pub use method::Method;
pub use via::Via;

use super::status::StatusCode;
use super::uri::{Uri, UriError};
use framing::header_end;
use names::{canonical_name, is_token_char};

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
    RequestUri(UriError),
    /// A Request-URI with `?headers` (RFC 3261 §19.1.5 allows them only where a URI is given
    /// to a user agent to call, not in a request).
    #[error("Bad Request-URI: header fields are not allowed")]
    RequestUriHeaders,
}

impl ParseError {
    /// Status code to answer a request that failed with this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::TooLarge => StatusCode::MESSAGE_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
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
        check_request_uri(self.request_uri().unwrap_or_default())?;
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
                // A proxy that recorded its route (Kamailio) stays in the dialog only if the
                // responses that set the dialog up carry the route back (RFC 3261 §12.1.1).
                "Record-Route" if (101..300).contains(&code) => resp.push(name, value.clone()),
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

/// A Request-URI must be a URI (RFC 3261 §19.1, checked by [`Uri`]) without header fields
/// (§19.1.5). Schemes other than sip, sips and tel pass: the endpoint answers them 416.
fn check_request_uri(uri: &str) -> Result<(), ParseError> {
    match uri.parse::<Uri>() {
        Ok(u) if !u.headers().is_empty() => Err(ParseError::RequestUriHeaders), // escruri
        Ok(_) | Err(UriError::UnsupportedScheme) => Ok(()),
        Err(e) => Err(ParseError::RequestUri(e)),
    }
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

/// Keeps a reason phrase on one line of printable text.
fn sanitize_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}
