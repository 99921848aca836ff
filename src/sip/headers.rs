//! Parsing of the header VALUES the SIP message parser does not understand:
//! History-Info (RFC 7044), Diversion (RFC 5806) and the RFC 4458 voice-mail
//! URI parameters (`target=`, `cause=`) and Lync's `ms-diagnostics` ([MS-OCER] 2.2.1.1), plus
//! the name-addr helpers they and the message layer share (list splitting, `uri_of`,
//! `display_name_of`, `tag_param`, quoted strings). URIs are [`Uri`]s.
//!
//! Everything here is pure string work over `&str` and never panics: a header
//! from an untrusted peer is at worst an `Err(HeaderError)`. Callers pass every
//! header line of one name, in wire order; each line may itself be a
//! comma-separated list in which quoted strings and `<...>` may contain commas.

use std::cmp::Ordering;
use std::fmt;

use super::uri::{Uri, UriError};

/// A header value that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A quoted string or `<...>` URI was not closed.
    #[error("{header}: unterminated {what} in {value:?}")]
    Unterminated {
        /// Header name.
        header: &'static str,
        /// `quoted string` or `<...>`.
        what: &'static str,
        /// The offending element (clipped).
        value: String,
    },
    /// An element has no URI, or text where only parameters may follow.
    #[error("{header}: {why} in {value:?}")]
    Syntax {
        /// Header name.
        header: &'static str,
        /// What is wrong.
        why: &'static str,
        /// The offending element (clipped).
        value: String,
    },
    /// A required parameter is missing.
    #[error("{header}: missing {param} parameter in {value:?}")]
    MissingParam {
        /// Header name.
        header: &'static str,
        /// Parameter name.
        param: &'static str,
        /// The offending element (clipped).
        value: String,
    },
    /// An element's URI is not a usable sip, sips or tel URI.
    #[error("{header}: bad URI {value:?}: {source}")]
    Uri {
        /// Header name.
        header: &'static str,
        /// What is wrong with it.
        source: UriError,
        /// The URI text (clipped).
        value: String,
    },
    /// A parameter value does not follow its grammar.
    #[error("{header}: bad {param} value {got:?}")]
    BadParam {
        /// Header name.
        header: &'static str,
        /// Parameter name.
        param: &'static str,
        /// The value received (clipped).
        got: String,
    },
}

/// Keep error messages bounded: peers can send kilobytes in one header.
fn clip(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A parsed `name-addr` / `addr-spec` with its header parameters
/// (RFC 3261 §20: in the bare form, `;params` belong to the header, not the URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted (`"Alice"` → `Alice`), if any.
    pub display: Option<String>,
    /// The URI between `<` and `>` (or the bare URI).
    pub uri: Uri,
    /// Header parameters in order; names lower-cased, quoted values unquoted.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// Value of the first parameter called `name` (case-insensitive);
    /// `Some(None)` for a flag parameter without `=value`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
}

/// A header value's elements at its top-level commas (not inside `"..."` or `<...>`), trimmed,
/// empty ones (`a,,b`, a trailing comma) skipped; and, when a quoted string or `<...>` is still
/// open at the end, which (the last element is then the unterminated one).
fn split_top_level(value: &str) -> (Vec<&str>, Option<&'static str>) {
    let mut out = Vec::new();
    let mut start = 0;
    let (mut in_quote, mut in_angle, mut escaped) = (false, false, false);
    for (i, c) in value.char_indices() {
        if in_quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if !in_angle => in_quote = true,
            '<' => in_angle = true,
            '>' => in_angle = false,
            ',' if !in_angle => {
                push_nonempty(&mut out, &value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_nonempty(&mut out, &value[start..]);
    let open = match (in_quote, in_angle) {
        (true, _) => Some("quoted string"),
        (_, true) => Some("<...>"),
        _ => None,
    };
    (out, open)
}

fn push_nonempty<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s);
    }
}

/// Splits one header line at top-level commas (not inside `"..."` or `<...>`).
/// Empty elements (`a,,b`, trailing comma) are skipped.
pub fn split_list<'a>(header: &'static str, value: &'a str) -> Result<Vec<&'a str>, HeaderError> {
    match split_top_level(value) {
        (parts, None) => Ok(parts),
        (parts, Some(what)) => Err(HeaderError::Unterminated {
            header,
            what,
            value: clip(parts.last().copied().unwrap_or(value)),
        }),
    }
}

/// [`split_list`] for values already accepted by the message parser: an unterminated last
/// element is kept as it is.
pub fn split_header_list(value: &str) -> Vec<&str> {
    split_top_level(value).0
}

/// The pieces of one name-addr or addr-spec, borrowed: the display name as written (quotes
/// included), the URI text and what follows it (header parameters).
struct Pieces<'a> {
    display: Option<&'a str>,
    uri: &'a str,
    rest: &'a str,
}

/// Why an element is not a name-addr: `Err((true, what))` for something left open,
/// `Err((false, why))` for a syntax error.
fn pieces(elem: &str) -> Result<Pieces<'_>, (bool, &'static str)> {
    let s = elem.trim();
    let (display, uri, rest) = if let Some(after) = s.strip_prefix('"') {
        let end = closing_quote(after).ok_or((true, "quoted string"))?;
        let rest = after[end + 1..].trim_start();
        let inner = rest
            .strip_prefix('<')
            .ok_or((false, "expected <uri> after display name"))?;
        let close = inner.find('>').ok_or((true, "<...>"))?;
        (Some(&s[..end + 2]), &inner[..close], &inner[close + 1..])
    } else if let Some(open) = s.find('<').filter(|&o| !s[..o].contains(';')) {
        let name = s[..open].trim();
        let inner = &s[open + 1..];
        let close = inner.find('>').ok_or((true, "<...>"))?;
        (
            (!name.is_empty()).then_some(name),
            &inner[..close],
            &inner[close + 1..],
        )
    } else {
        let end = s.find(';').unwrap_or(s.len());
        (None, &s[..end], &s[end..])
    };
    let uri = uri.trim();
    if uri.is_empty() {
        return Err((false, "empty URI"));
    }
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with(';') {
        return Err((false, "unexpected text after URI"));
    }
    Ok(Pieces { display, uri, rest })
}

/// A display name as written, unquoted and unescaped.
fn unquote(display: &str) -> String {
    match display.strip_prefix('"').and_then(|d| d.strip_suffix('"')) {
        Some(inner) => unescape_quoted(inner),
        None => display.to_owned(),
    }
}

/// Parses one element: `"Name" <uri>;p=v`, `Name <uri>;p`, `<uri>` or bare `uri;p=v`.
pub fn parse_name_addr(header: &'static str, elem: &str) -> Result<NameAddr, HeaderError> {
    let p = pieces(elem).map_err(|(open, why)| match open {
        true => HeaderError::Unterminated {
            header,
            what: why,
            value: clip(elem),
        },
        false => HeaderError::Syntax {
            header,
            why,
            value: clip(elem),
        },
    })?;
    let uri = p.uri.parse().map_err(|source| HeaderError::Uri {
        header,
        source,
        value: clip(p.uri),
    })?;
    Ok(NameAddr {
        display: p.display.map(unquote),
        uri,
        params: parse_params(p.rest),
    })
}

/// The URI text of a name-addr (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`) or an addr-spec
/// (`sip:bob@x;tag=1` → `sip:bob@x`), of the first element of a list; the text before any
/// `;` when the element does not parse.
pub fn uri_of(v: &str) -> &str {
    let first = split_header_list(v).into_iter().next().unwrap_or("");
    match pieces(first) {
        Ok(p) => p.uri,
        Err(_) => first.split(';').next().unwrap_or(first).trim(),
    }
}

/// Display name of a name-addr (of the first element of a list), unquoted, if any.
pub fn display_name_of(v: &str) -> Option<String> {
    let first = split_header_list(v).into_iter().next()?;
    let name = unquote(pieces(first).ok()?.display?);
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
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

/// Byte offset of the closing `"` in `s` (which starts after the opening one).
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if !escaped && c == '\\' {
            escaped = true;
        } else {
            out.push(c);
            escaped = false;
        }
    }
    out
}

/// Parses `;a=b;c;d="x;y"` (leading `;` optional). Names are lower-cased.
fn parse_params(s: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut in_quote = false;
    let mut escaped = false;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (i, c) in s.char_indices() {
        if in_quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quote = false,
                _ => {}
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == ';' {
            pieces.push(&s[start..i]);
            start = i + 1;
        }
    }
    pieces.push(&s[start..]);
    for p in pieces {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => {
                let v = v.trim();
                let v = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                    Some(inner) => unescape_quoted(inner),
                    None => v.to_string(),
                };
                (n.trim(), Some(v))
            }
            None => (p, None),
        };
        out.push((name.to_ascii_lowercase(), value));
    }
    out
}

// ---------------------------------------------------------------- History-Info

/// One `hi-entry` of a History-Info header (RFC 7044).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryInfoEntry {
    /// `hi-targeted-to-uri` without its `?headers` part.
    pub uri: Uri,
    /// `hi-index`, e.g. `1.1.2`.
    pub index: String,
    /// `mp=`: retargeted to another user, "mapped from" this index.
    pub mp: Option<String>,
    /// `rc=`: Request-URI changed, same user, from this index.
    pub rc: Option<String>,
    /// `np=`: no change, copied from this index.
    pub np: Option<String>,
    /// SIP cause from an embedded `?Reason=SIP%3Bcause%3D486` (RFC 7044 uses the
    /// Reason header, RFC 3326, escaped into the URI to say why that target failed).
    pub cause: Option<u16>,
}

/// Parses History-Info header values (every line, in wire order).
///
/// `index` is mandatory in RFC 7044. Legacy RFC 4244 senders that omit it on
/// EVERY entry get `1`, `2`, ... in wire order (entries are appended as the
/// request is retargeted); a mix of indexed and unindexed entries is an error.
pub fn parse_history_info(values: &[&str]) -> Result<Vec<HistoryInfoEntry>, HeaderError> {
    const H: &str = "History-Info";
    let mut out = Vec::new();
    let mut missing: Option<String> = None;
    for value in values {
        for elem in split_list(H, value)? {
            let na = parse_name_addr(H, elem)?;
            let index_param = |name: &'static str| -> Result<Option<String>, HeaderError> {
                match na.param(name) {
                    None => Ok(None),
                    Some(Some(v)) if index_key(v).is_some() => Ok(Some(v.to_string())),
                    Some(v) => Err(HeaderError::BadParam {
                        header: H,
                        param: name,
                        got: clip(v.unwrap_or("")),
                    }),
                }
            };
            let index = index_param("index")?;
            if index.is_none() && missing.is_none() {
                missing = Some(clip(elem));
            }
            let entry = HistoryInfoEntry {
                index: index.unwrap_or_default(),
                mp: index_param("mp")?,
                rc: index_param("rc")?,
                np: index_param("np")?,
                cause: na.uri.header("Reason").as_deref().and_then(reason_cause),
                uri: na.uri.without_headers(),
            };
            out.push(entry);
        }
    }
    if let Some(value) = missing {
        if out.iter().any(|e| !e.index.is_empty()) {
            return Err(HeaderError::MissingParam {
                header: H,
                param: "index",
                value,
            });
        }
        for (i, e) in out.iter_mut().enumerate() {
            e.index = (i + 1).to_string();
        }
    }
    Ok(out)
}

/// `1.10.2` → `[1, 10, 2]`; `None` unless `1*DIGIT *("." 1*DIGIT)` fitting u32.
fn index_key(s: &str) -> Option<Vec<u32>> {
    s.split('.')
        .map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse().ok()
            }
        })
        .collect()
}

/// Dotted numeric order: `1.2 < 1.10`, a parent before its children.
fn cmp_index(a: &str, b: &str) -> Ordering {
    index_key(a)
        .unwrap_or_default()
        .cmp(&index_key(b).unwrap_or_default())
}

/// SIP cause of a Reason header value (RFC 3326: `SIP;cause=486;text="Busy Here"`), as RFC
/// 7044 escapes it into a History-Info URI. Only `SIP` protocol causes count: a Q.850 cause
/// is not a SIP status.
fn reason_cause(reason: &str) -> Option<u16> {
    let (proto, params) = reason.split_once(';')?;
    if !proto.trim().eq_ignore_ascii_case("SIP") {
        return None;
    }
    parse_params(params)
        .into_iter()
        .find(|(n, _)| n == "cause")
        .and_then(|(_, v)| v?.parse().ok())
}

/// The user whose call was retargeted to voice mail, from History-Info.
///
/// The rule (RFC 7044 hi-index / hi-target-param, RFC 4458 voice-mail usage):
/// 1. Order entries by `hi-index`, dotted-numerically; the last entry is the
///    request that reached us (the voice-mail target).
/// 2. If it carries `mp=X` ("mapped from": the target user changed, RFC 7044),
///    entry X is the user who was retargeted to voice mail.
/// 3. Else the nearest earlier entry that carries a Reason cause (RFC 7044 puts
///    the response that made a proxy retarget, e.g. 486 or 408, into the failed
///    entry's URI as `?Reason=`), i.e. the user whose phone did not answer.
/// 4. Else the entry just before the last.
///
/// `None` with fewer than two entries: no retargeting is recorded.
pub fn called_from_history_info(entries: &[HistoryInfoEntry]) -> Option<&HistoryInfoEntry> {
    let mut sorted: Vec<&HistoryInfoEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| cmp_index(&a.index, &b.index));
    let (last, earlier) = sorted.split_last()?;
    let before_last = *earlier.last()?;
    if let Some(mp) = last.mp.as_deref() {
        let found = earlier
            .iter()
            .find(|e| cmp_index(&e.index, mp) == Ordering::Equal);
        if let Some(e) = found {
            return Some(e);
        }
    }
    if let Some(e) = earlier.iter().rev().find(|e| e.cause.is_some()) {
        return Some(e);
    }
    Some(before_last)
}

// ------------------------------------------------------------------- Diversion

/// One Diversion entry (RFC 5806).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiversionEntry {
    /// The diverting URI (inside `<>`).
    pub uri: Uri,
    /// `reason=` (e.g. `no-answer`, `user-busy`), unquoted.
    pub reason: Option<String>,
    /// `counter=`: how many diversions this entry stands for.
    pub counter: Option<u32>,
    /// All other parameters (and an unparsable counter), names lower-cased.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses Diversion header values in wire order (first header line first).
/// A malformed `counter` is kept in `params` rather than failing the call.
pub fn parse_diversion(values: &[&str]) -> Result<Vec<DiversionEntry>, HeaderError> {
    const H: &str = "Diversion";
    let mut out = Vec::new();
    for value in values {
        for elem in split_list(H, value)? {
            let na = parse_name_addr(H, elem)?;
            let mut e = DiversionEntry {
                uri: na.uri,
                reason: None,
                counter: None,
                params: Vec::new(),
            };
            for (name, v) in na.params {
                match (name.as_str(), v) {
                    ("reason", Some(v)) if e.reason.is_none() => e.reason = Some(v),
                    ("counter", Some(v)) if e.counter.is_none() && v.parse::<u32>().is_ok() => {
                        e.counter = v.parse().ok();
                    }
                    (_, v) => e.params.push((name, v)),
                }
            }
            out.push(e);
        }
    }
    Ok(out)
}

/// The diverting user to take a message for: the TOPMOST entry. RFC 5806 §4:
/// each diverting proxy adds its entry at the top, so the first entry is the
/// most recent diversion (the user whose voice mail this is); the last one is
/// the original called party. Reading from the wrong end is a known field
/// failure that delivers messages to the wrong mailbox.
pub fn called_from_diversion(entries: &[DiversionEntry]) -> Option<&DiversionEntry> {
    entries.first()
}

// ------------------------------------------------------- RFC 4458 URI params

/// The SIP cause that says the user was busy (486 Busy Here): in a History-Info Reason
/// (RFC 7044) or an RFC 4458 `cause=` URI parameter.
pub const CAUSE_BUSY: u16 = 486;

/// The Diversion reason that says the user was busy (RFC 5806).
pub const REASON_USER_BUSY: &str = "user-busy";

/// The URI a Request-URI or header value names: the inside of `<...>`, else the whole text
/// (a Request-URI's `;params` are the URI's own).
fn request_uri_of(text: &str) -> Option<Uri> {
    let text = text.trim();
    let text = if text.contains('<') {
        uri_of(text)
    } else {
        text
    };
    text.parse().ok()
}

/// RFC 4458 voice-mail URI: the percent-decoded `target=` parameter
/// (`sip:vm@host;target=sip:alice%40example.com;cause=486` → `sip:alice@example.com`).
pub fn target_from_uri_params(uri: &str) -> Option<String> {
    request_uri_of(uri)?.target()
}

/// RFC 4458 `cause=` URI parameter (e.g. 486 busy, 408 no answer).
pub fn cause_from_uri_params(uri: &str) -> Option<u16> {
    request_uri_of(uri)?.cause()
}

// ------------------------------------------------------------- ms-diagnostics

/// The header Lync's logging tools read to say why a request failed ([MS-OCER] 2.2.1.1).
pub const MS_DIAGNOSTICS: &str = "ms-diagnostics";

/// One `ms-diagnostics` value ([MS-OCER] 2.2.1.1): `15822;reason="...";source="gw.contoso.com"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsDiagnostics {
    /// `ErrorId`: the number an administrator looks up (ours: docs/OPERATIONS.md).
    pub code: u32,
    /// `reason`: what went wrong, in words.
    pub reason: String,
    /// `source`: the FQDN of the server that refused (absent in `ms-diagnostics-public`,
    /// [MS-OCER] 2.2.1.2).
    pub source: Option<String>,
}

impl fmt::Display for MsDiagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};reason={}",
            self.code,
            quoted_string(&self.reason, 200)
        )?;
        if let Some(source) = &self.source {
            write!(f, ";source={}", quoted_string(source, 255))?;
        }
        Ok(())
    }
}

/// Parses an `ms-diagnostics` (or `ms-diagnostics-public`) value: the error id (a
/// `.sub-code`, which older servers append, is dropped), the required `reason` and the
/// optional `source`; other parameters are ignored.
pub fn parse_ms_diagnostics(value: &str) -> Result<MsDiagnostics, HeaderError> {
    const H: &str = "ms-diagnostics";
    let value = value.trim();
    if let (_, Some(what)) = split_top_level(value) {
        return Err(HeaderError::Unterminated {
            header: H,
            what,
            value: clip(value),
        });
    }
    let (id, params) = value.split_once(';').unwrap_or((value, ""));
    let id = id.trim();
    let digits = id.split_once('.').map_or(id, |(main, _sub)| main);
    let code = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<u32>().ok())
        .flatten()
        .ok_or_else(|| HeaderError::Syntax {
            header: H,
            why: "ErrorId is not an unsigned integer",
            value: clip(value),
        })?;
    let params = parse_params(params);
    let find = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    let reason = find("reason").ok_or_else(|| HeaderError::MissingParam {
        header: H,
        param: "reason",
        value: clip(value),
    })?;
    Ok(MsDiagnostics {
        code,
        reason,
        source: find("source"),
    })
}

/// `text` as an RFC 3261 quoted-string: `"` and `\` escaped, control characters (which a
/// quoted-string cannot hold) dropped, at most `max_chars` characters of it.
pub fn quoted_string(text: &str, max_chars: usize) -> String {
    let mut quoted = String::with_capacity(text.len().min(max_chars) + 2);
    quoted.push('"');
    for c in text.chars().filter(|c| !c.is_control()).take(max_chars) {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod test;
