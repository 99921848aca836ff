//! `sip:`, `sips:` and `tel:` URIs (RFC 3261 §19.1, RFC 3966): the one type for every URI the
//! gateway reads or writes.
//!
//! Every part keeps the escaped form it was written in, so printing a parsed URI gives back
//! what was read (`parse(print(u)) == u`) and a URI passed on to a peer is the peer's own;
//! accessors return unescaped values. Parsing never panics. It is strict about the host and
//! port, which route requests, and lenient about the characters of the user, parameters and
//! headers (peers send unescaped `@` in `;target=sip:alice@host`, RFC 4475 sends every legal
//! oddity): only white space, control characters and `<`, `>`, `"` (which would break the
//! name-addr around a URI) are refused there. Equality (`==`) compares the parts as written;
//! [`Uri::equivalent`] is RFC 3261 §19.1.4 comparison.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why text is not a usable URI. The texts are the reason phrases of a 400 for a bad
/// Request-URI (`400 Bad Request-URI: bad host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    #[error("no scheme")]
    NoScheme,
    /// The scheme is not `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")` (`<sip:...>`).
    #[error("bad scheme")]
    BadScheme,
    /// A well-formed scheme other than sip, sips and tel.
    #[error("unsupported scheme")]
    UnsupportedScheme,
    #[error("contains whitespace")]
    Whitespace,
    /// `<`, `>` or `"`, which no URI may contain unescaped.
    #[error("contains < > or \"")]
    Delimiter,
    #[error("bad host")]
    Host,
    #[error("unterminated IPv6 reference")]
    UnterminatedIpv6,
    #[error("bad IPv6 reference")]
    Ipv6,
    #[error("IPv6 address without brackets")]
    UnbracketedIpv6,
    #[error("bad port")]
    Port,
    /// `tel:` without a number.
    #[error("no telephone number")]
    NoNumber,
}

/// URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
        }
    }
}

/// The host of a SIP URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written (compare case-insensitively).
    Name(String),
    Ipv4(Ipv4Addr),
    /// Written in brackets: `[2001:db8::1]`.
    Ipv6(Ipv6Addr),
}

impl Host {
    /// The address, for an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Name(_) => None,
            Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        }
    }

    /// The host without IPv6 brackets, as DNS and TLS name checks want it.
    pub fn unbracketed(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        }
    }

    /// Case-insensitive for names (RFC 3261 §19.1.4), by value for addresses.
    fn equivalent(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Name(a), Host::Name(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a.ip().is_some() && a.ip() == b.ip(),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; peers know themselves as a.b.c.d.
        match ip.to_canonical() {
            IpAddr::V4(v4) => Host::Ipv4(v4),
            IpAddr::V6(v6) => Host::Ipv6(v6),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ipv4(ip) => write!(f, "{ip}"),
            Host::Ipv6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// One `;name[=value]` URI parameter, as written (escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    name: String,
    value: Option<String>,
}

impl Param {
    /// The name, unescaped (`%6C%72` is `lr`, RFC 4475 esc01).
    pub fn name(&self) -> Cow<'_, str> {
        percent_decode(&self.name)
    }

    /// The value, unescaped; `None` for a flag such as `lr`.
    pub fn value(&self) -> Option<Cow<'_, str>> {
        self.value.as_deref().map(percent_decode)
    }

    /// Whether this parameter is `name` (names are case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.name().eq_ignore_ascii_case(name)
    }
}

/// A sip, sips or tel URI. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    scheme: Scheme,
    /// The user part, escaped as written; for `tel:` the number.
    user: Option<String>,
    /// The password, escaped as written.
    password: Option<String>,
    /// Always `Some` for sip and sips, `None` for tel.
    host: Option<Host>,
    port: Option<u16>,
    params: Vec<Param>,
    /// `?name=value&...`, escaped as written.
    headers: Vec<(String, String)>,
}

impl Uri {
    /// A `sip:` URI; `user` is escaped where RFC 3261 §25.1 `user` requires it.
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(|u| percent_encode(u, is_user_char)),
            password: None,
            host: Some(host),
            port,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The same URI under `scheme` (sip ⇄ sips; a tel URI stays tel).
    pub fn with_scheme(mut self, scheme: Scheme) -> Uri {
        if self.scheme != Scheme::Tel && scheme != Scheme::Tel {
            self.scheme = scheme;
        }
        self
    }

    /// Appends a URI parameter, escaping what a parameter may not hold unescaped.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Uri {
        self.params.push(Param {
            name: percent_encode(name, is_param_char),
            value: value.map(|v| percent_encode(v, is_param_char)),
        });
        self
    }

    /// The URI without its `?headers` part.
    pub fn without_headers(mut self) -> Uri {
        self.headers.clear();
        self
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `sips:` (RFC 3261 §19.1: TLS on every hop).
    pub fn is_sips(&self) -> bool {
        self.scheme == Scheme::Sips
    }

    /// The user part, unescaped (`sip:%75ser@h` → `user`); for `tel:`, the number.
    pub fn user(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(percent_decode)
    }

    /// The user part as written.
    pub fn user_escaped(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The user without its user parameters (RFC 3261 §19.1.6: `+1425;phone-context=x` is
    /// `+1425`), unescaped; for `tel:`, the number.
    pub fn user_base(&self) -> Option<Cow<'_, str>> {
        let raw = self.user.as_deref()?;
        Some(percent_decode(raw.split(';').next().unwrap_or(raw)))
    }

    /// The user part as a telephone number when it is one (`+` and digits, or digits):
    /// `sip:+14255550100@gw;user=phone`, `tel:1001`.
    pub fn telephone_number(&self) -> Option<Cow<'_, str>> {
        self.user_base().filter(|u| {
            !u.is_empty()
                && u.trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
    }

    /// The password, unescaped.
    pub fn password(&self) -> Option<Cow<'_, str>> {
        self.password.as_deref().map(percent_decode)
    }

    /// The host; `None` for a tel URI.
    pub fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]` as written in the URI; `None` for a tel URI.
    pub fn host_port(&self) -> Option<String> {
        let host = self.host.as_ref()?;
        Some(match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        })
    }

    /// The URI parameters in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The first parameter called `name` (case-insensitive, escapes resolved).
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.is(name))
    }

    /// The unescaped value of parameter `name`; `None` when it is absent or a flag.
    pub fn param_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.param(name)?.value()
    }

    /// `;transport=` (udp, tcp, tls, ...).
    pub fn transport(&self) -> Option<Cow<'_, str>> {
        self.param_value("transport")
    }

    /// `;user=` (`phone` for a telephone number in a SIP URI).
    pub fn user_param(&self) -> Option<Cow<'_, str>> {
        self.param_value("user")
    }

    /// `;maddr=`.
    pub fn maddr(&self) -> Option<Cow<'_, str>> {
        self.param_value("maddr")
    }

    /// `;lr`: a loose router (RFC 3261 §19.1.1).
    pub fn is_loose_router(&self) -> bool {
        self.param("lr").is_some()
    }

    /// Lync's voice-mail URI: `;opaque=app:voicemail` (value case-insensitive).
    pub fn is_voicemail(&self) -> bool {
        self.param_value("opaque")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("app:voicemail"))
    }

    /// RFC 4458 voice-mail URI: the unescaped `target=` (`sip:vm@um;target=sip:alice%40x.com`
    /// → `sip:alice@x.com`), when not empty.
    pub fn target(&self) -> Option<String> {
        let t = self.param_value("target")?;
        let t = t.trim();
        (!t.is_empty()).then(|| t.to_owned())
    }

    /// RFC 4458 `cause=` (486 busy, 408 no answer, ...).
    pub fn cause(&self) -> Option<u16> {
        self.param_value("cause")?.trim().parse().ok()
    }

    /// RFC 3966 `phone-context`: the tel URI's parameter, or the user parameter of a telephone
    /// number in a SIP URI (`sip:5550199;phone-context=+1-425@gw;user=phone`), or, as some
    /// gateways write it, a parameter of the SIP URI itself.
    pub fn phone_context(&self) -> Option<Cow<'_, str>> {
        let in_user = || {
            let raw = self.user.as_deref()?;
            raw.split(';').skip(1).find_map(|p| {
                let (name, value) = p.split_once('=')?;
                percent_decode(name)
                    .eq_ignore_ascii_case("phone-context")
                    .then(|| percent_decode(value))
            })
        };
        match self.scheme {
            Scheme::Tel => self.param_value("phone-context"),
            _ => in_user().or_else(|| self.param_value("phone-context")),
        }
    }

    /// The `?headers` part in order, escaped as written.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The unescaped value of header `name` (case-insensitive) from the `?headers` part, e.g.
    /// RFC 7044's `?Reason=SIP%3Bcause%3D486`.
    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers
            .iter()
            .find(|(n, _)| percent_decode(n).trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| percent_decode(v))
    }

    /// RFC 3261 §19.1.4 equivalence: same scheme; user and password equal (case-sensitive,
    /// after unescaping); host case-insensitive; the same port or none in both; the `user`,
    /// `ttl`, `method`, `maddr` and `transport` parameters in both or neither and equal, other
    /// parameters equal where both have them; the same headers. Tel URIs (RFC 3966 §4) compare
    /// their numbers without visual separators, and all their parameters.
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if self.scheme == Scheme::Tel {
            let digits = |u: &Uri| -> String {
                let number = u.user().unwrap_or_default();
                let number = number.chars().filter(|c| !"-.()".contains(*c));
                number.collect::<String>().to_ascii_lowercase()
            };
            return digits(self) == digits(other)
                && self.params.len() == other.params.len()
                && params_match(self, other, &[])
                && params_match(other, self, &[]);
        }
        let host = match (&self.host, &other.host) {
            (Some(a), Some(b)) => a.equivalent(b),
            _ => false,
        };
        if !host
            || self.user() != other.user()
            || self.password() != other.password()
            || self.port != other.port
        {
            return false;
        }
        const MUST_MATCH: &[&str] = &["user", "ttl", "method", "maddr", "transport"];
        let headers_match = |a: &Uri, b: &Uri| {
            a.headers.iter().all(|(n, v)| {
                let (n, v) = (percent_decode(n), percent_decode(v));
                b.headers.iter().any(|(m, w)| {
                    percent_decode(m).trim().eq_ignore_ascii_case(n.trim())
                        && percent_decode(w).eq_ignore_ascii_case(&v)
                })
            })
        };
        params_match(self, other, MUST_MATCH)
            && params_match(other, self, MUST_MATCH)
            && headers_match(self, other)
            && headers_match(other, self)
    }

    /// The caller as a telephone number where the URI's user part is one
    /// (`sip:+14255550100@x;user=phone` → `+14255550100`, `tel:1001` → `1001`), else the text as
    /// given (also when it is not a URI); `None` for empty text.
    pub fn caller_id(text: &str) -> Option<String> {
        if text.is_empty() {
            return None;
        }
        let number = text
            .parse::<Uri>()
            .ok()
            .and_then(|u| u.telephone_number().map(Cow::into_owned));
        Some(number.unwrap_or_else(|| text.to_owned()))
    }
}

/// Whether every parameter of `a` that `b` has too has an equal value there (names and values
/// case-insensitive), and each of `required` that `a` has is in `b` (RFC 3261 §19.1.4).
fn params_match(a: &Uri, b: &Uri, required: &[&str]) -> bool {
    a.params.iter().all(|p| {
        let name = p.name();
        let mut same = b.params.iter().filter(|q| q.is(&name)).peekable();
        if same.peek().is_none() {
            return !required.iter().any(|r| p.is(r));
        }
        same.any(|q| match (p.value(), q.value()) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(&y),
            (x, y) => x.is_none() && y.is_none(),
        })
    })
}

impl FromStr for Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Uri, UriError> {
        // In this order, so that `<sip:...>` is a bad scheme (RFC 4475 ltgtruri).
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UriError::Whitespace);
        }
        let (scheme, rest) = s.split_once(':').ok_or(UriError::NoScheme)?;
        let mut chars = scheme.bytes();
        let first_alpha = chars.next().is_some_and(|b| b.is_ascii_alphabetic());
        if !first_alpha || !chars.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            return Err(UriError::BadScheme);
        }
        let scheme = [Scheme::Sip, Scheme::Sips, Scheme::Tel]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(scheme))
            .ok_or(UriError::UnsupportedScheme)?;
        if rest.contains(['<', '>', '"']) {
            return Err(UriError::Delimiter);
        }
        match scheme {
            Scheme::Tel => parse_tel(rest),
            _ => parse_sip(scheme, rest),
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme.as_str())?;
        f.write_str(":")?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            if self.host.is_some() {
                f.write_str("@")?;
            }
        }
        if let Some(host_port) = self.host_port() {
            f.write_str(&host_port)?;
        }
        for p in &self.params {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={value}")?;
        }
        Ok(())
    }
}

/// A URI equals text that is exactly how it prints.
impl PartialEq<str> for Uri {
    fn eq(&self, other: &str) -> bool {
        let printed = self.to_string();
        printed.as_str() == other
    }
}

impl PartialEq<&str> for Uri {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl PartialEq<String> for Uri {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

/// `number[;params][?headers]` after `tel:`.
fn parse_tel(rest: &str) -> Result<Uri, UriError> {
    let (before_headers, headers) = split_headers(rest);
    let (number, params) = match before_headers.split_once(';') {
        Some((n, p)) => (n, Some(p)),
        None => (before_headers, None),
    };
    if number.is_empty() {
        return Err(UriError::NoNumber);
    }
    Ok(Uri {
        scheme: Scheme::Tel,
        user: Some(number.to_owned()),
        password: None,
        host: None,
        port: None,
        params: params.map(parse_params).unwrap_or_default(),
        headers,
    })
}

/// `[userinfo@]hostport[;params][?headers]` after `sip:` / `sips:`.
fn parse_sip(scheme: Scheme, rest: &str) -> Result<Uri, UriError> {
    let (userinfo, after) = match userinfo_end(rest) {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (before_headers, headers) = split_headers(after);
    let (hostport, params) = match before_headers.split_once(';') {
        Some((h, p)) => (h, Some(p)),
        None => (before_headers, None),
    };
    let (host, port) = parse_hostport(hostport)?;
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (Some(user.to_owned()), Some(pw.to_owned())),
            None => (Some(u.to_owned()), None),
        },
        None => (None, None),
    };
    Ok(Uri {
        scheme,
        user,
        password,
        host: Some(host),
        port,
        params: params.map(parse_params).unwrap_or_default(),
        headers,
    })
}

/// Where the userinfo ends: the first `@`, unless that `@` sits in a URI parameter's value.
///
/// `@` may not appear unescaped in a user, so the first one ends the userinfo; but a user may
/// hold `;` and `?` (`sip:+1425;phone-context=x@gw`, RFC 4475's `crazy?,/;;*:&it+has=1`), and
/// peers write unescaped URIs into parameters (`sip:um.example.com;target=sip:alice@example.com`).
/// An `@` after a `;` or `?` belongs to a parameter when what precedes the `;`/`?` is a
/// host[:port] and what lies between holds a `:` (a URI scheme); otherwise to the userinfo.
fn userinfo_end(rest: &str) -> Option<usize> {
    let at = rest.find('@')?;
    match rest.find([';', '?']) {
        Some(delim) if delim < at => {
            let in_param = parse_hostport(&rest[..delim]).is_ok() && rest[delim..at].contains(':');
            (!in_param).then_some(at)
        }
        _ => Some(at),
    }
}

/// Splits off `?name=value&...`; empty pieces are dropped, a name without `=` gets an empty value.
fn split_headers(s: &str) -> (&str, Vec<(String, String)>) {
    match s.split_once('?') {
        Some((before, headers)) => {
            let headers = headers
                .split('&')
                .filter(|h| !h.is_empty())
                .map(|h| {
                    let (n, v) = h.split_once('=').unwrap_or((h, ""));
                    (n.to_owned(), v.to_owned())
                })
                .collect();
            (before, headers)
        }
        None => (s, Vec::new()),
    }
}

/// `a=b;c;d=` (without the leading `;`); empty pieces (`;;`) are dropped.
fn parse_params(s: &str) -> Vec<Param> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => Param {
                name: n.to_owned(),
                value: Some(v.to_owned()),
            },
            None => Param {
                name: p.to_owned(),
                value: None,
            },
        })
        .collect()
}

/// `host[:port]`: a domain name (letters, digits, `-`, `.`, `_`), an IPv4 address or a
/// bracketed IPv6 reference (RFC 5118: an unbracketed one is an error, not a guess).
fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
    if let Some(v6) = s.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or(UriError::UnterminatedIpv6)?;
        let ip: Ipv6Addr = addr.parse().map_err(|_| UriError::Ipv6)?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':').ok_or(UriError::Port)?)?),
        };
        return Ok((Host::Ipv6(ip), port));
    }
    let (host, port) = match s.split_once(':') {
        Some((_, p)) if p.contains(':') => return Err(UriError::UnbracketedIpv6),
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let host_char = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if host.is_empty() || !host.bytes().all(host_char) {
        return Err(UriError::Host);
    }
    let port = port.map(parse_port).transpose()?;
    let host = match host.parse::<Ipv4Addr>() {
        Ok(ip) => Host::Ipv4(ip),
        Err(_) => Host::Name(host.to_owned()),
    };
    Ok((host, port))
}

/// 1 to 5 digits, at most 65535.
fn parse_port(p: &str) -> Result<u16, UriError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::Port);
    }
    p.parse().map_err(|_| UriError::Port)
}

/// RFC 3261 §25.1 `user`: unreserved and user-unreserved characters.
fn is_user_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b)
}

/// RFC 3261 §25.1 `paramchar`: unreserved and param-unreserved characters.
fn is_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:&+$".contains(&b)
}

/// Escapes every byte `keep` refuses as `%XX` (RFC 3986 §2.1).
fn percent_encode(s: &str, keep: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes `s` (RFC 3986 §2.1). Malformed escapes are kept literally; invalid UTF-8
/// after decoding is replaced rather than refused. Borrows when there is nothing to decode.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod test;
