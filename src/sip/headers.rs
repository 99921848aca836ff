//! Parsing of the header VALUES the SIP message parser does not understand:
//! History-Info (RFC 7044), Diversion (RFC 5806) and the RFC 4458 voice-mail
//! URI parameters (`target=`, `cause=`), plus the name-addr helpers they share.
//!
//! Everything here is pure string work over `&str` and never panics: a header
//! from an untrusted peer is at worst an `Err(HeaderError)`. Callers pass every
//! header line of one name, in wire order; each line may itself be a
//! comma-separated list in which quoted strings and `<...>` may contain commas.

use std::cmp::Ordering;

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
    /// The URI as written between `<` and `>` (or the bare URI).
    pub uri: String,
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

/// Splits one header line at top-level commas (not inside `"..."` or `<...>`).
/// Empty elements (`a,,b`, trailing comma) are skipped.
pub fn split_list<'a>(header: &'static str, value: &'a str) -> Result<Vec<&'a str>, HeaderError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
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
    if in_quote || in_angle {
        return Err(HeaderError::Unterminated {
            header,
            what: if in_quote { "quoted string" } else { "<...>" },
            value: clip(&value[start..]),
        });
    }
    push_nonempty(&mut out, &value[start..]);
    Ok(out)
}

fn push_nonempty<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s);
    }
}

/// Parses one element: `"Name" <uri>;p=v`, `Name <uri>;p`, `<uri>` or bare `uri;p=v`.
pub fn parse_name_addr(header: &'static str, elem: &str) -> Result<NameAddr, HeaderError> {
    let s = elem.trim();
    let syntax = |why| HeaderError::Syntax {
        header,
        why,
        value: clip(elem),
    };
    let unterminated = |what| HeaderError::Unterminated {
        header,
        what,
        value: clip(elem),
    };
    let (display, uri, rest) = if let Some(after) = s.strip_prefix('"') {
        let end = closing_quote(after).ok_or_else(|| unterminated("quoted string"))?;
        let display = unescape_quoted(&after[..end]);
        let rest = after[end + 1..].trim_start();
        let inner = rest
            .strip_prefix('<')
            .ok_or_else(|| syntax("expected <uri> after display name"))?;
        let close = inner.find('>').ok_or_else(|| unterminated("<...>"))?;
        (Some(display), &inner[..close], &inner[close + 1..])
    } else if let Some(open) = s.find('<').filter(|&o| !s[..o].contains(';')) {
        let name = s[..open].trim();
        let inner = &s[open + 1..];
        let close = inner.find('>').ok_or_else(|| unterminated("<...>"))?;
        let display = (!name.is_empty()).then(|| name.to_string());
        (display, &inner[..close], &inner[close + 1..])
    } else {
        let end = s.find(';').unwrap_or(s.len());
        (None, &s[..end], &s[end..])
    };
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(syntax("empty URI"));
    }
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with(';') {
        return Err(syntax("unexpected text after URI"));
    }
    Ok(NameAddr {
        display,
        uri: uri.to_string(),
        params: parse_params(rest),
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

/// Percent-decodes `s` (RFC 3986 §2.1). Malformed escapes are kept literally;
/// invalid UTF-8 after decoding is replaced rather than rejected.
pub fn percent_decode(s: &str) -> String {
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
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------- History-Info

/// One `hi-entry` of a History-Info header (RFC 7044).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryInfoEntry {
    /// `hi-targeted-to-uri` without its `?headers` part.
    pub uri: String,
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
            let (uri, headers) = match na.uri.split_once('?') {
                Some((u, h)) => (u.to_string(), Some(h)),
                None => (na.uri.clone(), None),
            };
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
            out.push(HistoryInfoEntry {
                uri,
                index: index.unwrap_or_default(),
                mp: index_param("mp")?,
                rc: index_param("rc")?,
                np: index_param("np")?,
                cause: headers.and_then(reason_cause),
            });
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

/// SIP cause from the URI headers part (`Reason=SIP%3Bcause%3D486&...`).
/// Only `SIP` protocol causes count: a Q.850 cause is not a SIP status.
fn reason_cause(headers: &str) -> Option<u16> {
    headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        if !percent_decode(name).trim().eq_ignore_ascii_case("reason") {
            return None;
        }
        let value = percent_decode(value);
        let (proto, params) = value.split_once(';')?;
        if !proto.trim().eq_ignore_ascii_case("SIP") {
            return None;
        }
        parse_params(params)
            .into_iter()
            .find(|(n, _)| n == "cause")
            .and_then(|(_, v)| v?.parse().ok())
    })
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
    /// The diverting URI as written (inside `<>`).
    pub uri: String,
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

/// Value of URI parameter `name` (case-insensitive), percent-decoded.
/// Accepts a bare URI or `<uri>`; ignores `?headers`.
pub fn uri_param(uri: &str, name: &str) -> Option<String> {
    let s = uri.trim();
    let s = match s.find('<') {
        Some(open) => {
            let inner = &s[open + 1..];
            &inner[..inner.find('>').unwrap_or(inner.len())]
        }
        None => s,
    };
    let s = &s[..s.find('?').unwrap_or(s.len())];
    // Params start after the host: skip any userinfo (which may itself hold ';').
    let host_start = s.rfind('@').map_or(0, |at| at + 1);
    let (_, params) = s[host_start..].split_once(';')?;
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| percent_decode(v.trim()))
    })
}

/// RFC 4458 voice-mail URI: the percent-decoded `target=` parameter
/// (`sip:vm@host;target=sip:alice%40example.com;cause=486` → `sip:alice@example.com`).
pub fn target_from_uri_params(uri: &str) -> Option<String> {
    uri_param(uri, "target").filter(|t| !t.is_empty())
}

/// RFC 4458 `cause=` URI parameter (e.g. 486 busy, 408 no answer).
pub fn cause_from_uri_params(uri: &str) -> Option<u16> {
    uri_param(uri, "cause")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn name_addr_forms() {
        let n = parse_name_addr("To", r#""Smith, \"Al\"" <sip:al@b;lr>;tag=x;flag"#).unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"Smith, "Al""#));
        assert_eq!(n.uri, "sip:al@b;lr");
        assert_eq!(n.param("tag"), Some(Some("x")));
        assert_eq!(n.param("FLAG"), Some(None));
        let n = parse_name_addr("To", "Bob <sip:bob@b>").unwrap();
        assert_eq!(
            (n.display.as_deref(), n.uri.as_str()),
            (Some("Bob"), "sip:bob@b")
        );
        let n = parse_name_addr("To", "sip:a@b;tag=x").unwrap();
        assert_eq!(n.uri, "sip:a@b");
        assert_eq!(n.params, vec![("tag".to_string(), Some("x".to_string()))]);
        assert!(parse_name_addr("To", "<sip:a@b").is_err());
        assert!(parse_name_addr("To", "\"x <sip:a@b>").is_err());
        assert!(parse_name_addr("To", "<sip:a@b> junk").is_err());
        assert!(parse_name_addr("To", "<>").is_err());
    }

    #[test]
    fn split_respects_quotes_and_angles() {
        let v = r#""A, B" <sip:a@x;p=1,2>;q, <sip:c@y>,,"#;
        let parts = split_list("X", v).unwrap();
        assert_eq!(parts, vec![r#""A, B" <sip:a@x;p=1,2>;q"#, "<sip:c@y>"]);
        assert!(split_list("X", "<sip:a").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("SIP%3Bcause%3D486"), "SIP;cause=486");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    /// RFC 7044-style: alice (1.1) did not answer (486), proxy mapped to vm (1.2, mp=1.1).
    #[test]
    fn history_info_mp() {
        let v = [
            "<sip:alice@example.com>;index=1",
            "<sip:alice@10.0.0.5?Reason=SIP%3Bcause%3D486%3Btext%3D%22Busy%20Here%22>;index=1.1;rc=1, <sip:vm@um.example.com;target=sip:alice%40example.com>;index=1.2;mp=1",
        ];
        let e = parse_history_info(&v).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].uri, "sip:alice@10.0.0.5");
        assert_eq!(e[1].cause, Some(486));
        assert_eq!(e[1].rc.as_deref(), Some("1"));
        assert_eq!(e[2].mp.as_deref(), Some("1"));
        assert_eq!(
            called_from_history_info(&e).unwrap().uri,
            "sip:alice@example.com"
        );
    }

    #[test]
    fn history_info_cause_walk_back_and_sorting() {
        // Out of wire order on purpose; 1.10 sorts after 1.9, so 1.10 is the vm target.
        let v = [
            "<sip:vm@um>;index=1.10, <sip:bob@x?Reason=SIP%3Bcause%3D408>;index=1.2",
            "<sip:carol@x>;index=1.9, <sip:a@x>;index=1",
        ];
        let e = parse_history_info(&v).unwrap();
        assert_eq!(called_from_history_info(&e).unwrap().uri, "sip:bob@x");
    }

    #[test]
    fn history_info_fallbacks() {
        let e =
            parse_history_info(&["<sip:a@x>;index=1, <sip:b@x>;index=1.1, <sip:vm@x>;index=1.1.1"])
                .unwrap();
        assert_eq!(called_from_history_info(&e).unwrap().uri, "sip:b@x");
        // mp pointing nowhere falls through to the rules below.
        let e = parse_history_info(&["<sip:a@x>;index=1, <sip:vm@x>;index=1.1;mp=7"]).unwrap();
        assert_eq!(called_from_history_info(&e).unwrap().uri, "sip:a@x");
        let e = parse_history_info(&["<sip:a@x>;index=1"]).unwrap();
        assert!(called_from_history_info(&e).is_none());
        assert!(called_from_history_info(&[]).is_none());
    }

    #[test]
    fn history_info_q850_and_errors() {
        let e = parse_history_info(&["<sip:a@x?Reason=Q.850%3Bcause%3D17>;index=1"]).unwrap();
        assert_eq!(e[0].cause, None);
        // Lync style, lower-case header and ms- params, legacy no-index.
        let e = parse_history_info(&["<sip:bob@contoso.com>;ms-retarget-reason=forwarding, <sip:bob@contoso.com;opaque=app:voicemail>"]).unwrap();
        assert_eq!((e[0].index.as_str(), e[1].index.as_str()), ("1", "2"));
        assert_eq!(
            called_from_history_info(&e).unwrap().uri,
            "sip:bob@contoso.com"
        );
        assert!(matches!(
            parse_history_info(&["<sip:a@x>;index=1, <sip:b@x>"]),
            Err(HeaderError::MissingParam { param: "index", .. })
        ));
        assert!(matches!(
            parse_history_info(&["<sip:a@x>;index=1..2"]),
            Err(HeaderError::BadParam { param: "index", .. })
        ));
        assert!(parse_history_info(&["<sip:a@x>;index=1;mp=x"]).is_err());
    }

    #[test]
    fn diversion_stacked_topmost_wins() {
        // bob forwarded to carol, carol did not answer → carol's voice mail.
        // The proxy that diverted most recently (carol's) added its entry on top.
        let v = [
            "<sip:carol@example.com>;reason=no-answer;counter=1;privacy=off",
            r#""Bob" <tel:+14255551002>;reason="user-busy";counter=1, <sip:x@y>;screen"#,
        ];
        let d = parse_diversion(&v).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].reason.as_deref(), Some("no-answer"));
        assert_eq!(d[0].counter, Some(1));
        assert_eq!(
            d[0].params,
            vec![("privacy".to_string(), Some("off".to_string()))]
        );
        assert_eq!(d[1].uri, "tel:+14255551002");
        assert_eq!(d[1].reason.as_deref(), Some("user-busy"));
        assert_eq!(d[2].params, vec![("screen".to_string(), None)]);
        assert_eq!(
            called_from_diversion(&d).unwrap().uri,
            "sip:carol@example.com"
        );
        assert!(called_from_diversion(&[]).is_none());
    }

    #[test]
    fn diversion_lenient_counter_and_bare() {
        let d = parse_diversion(&["tel:10001;reason=no-answer;counter=lots"]).unwrap();
        assert_eq!(d[0].uri, "tel:10001");
        assert_eq!(d[0].counter, None);
        assert_eq!(
            d[0].params,
            vec![("counter".to_string(), Some("lots".to_string()))]
        );
    }

    #[test]
    fn rfc4458_target() {
        let u = "sip:voicemail@um.example.com;target=sip:alice%40example.com;cause=486";
        assert_eq!(
            target_from_uri_params(u).as_deref(),
            Some("sip:alice@example.com")
        );
        assert_eq!(cause_from_uri_params(u), Some(486));
        let u = "<sip:vm@um;Target=tel:%2B14255551001>;tag=1";
        assert_eq!(
            target_from_uri_params(u).as_deref(),
            Some("tel:+14255551001")
        );
        assert_eq!(target_from_uri_params("sip:vm@um?target=x"), None);
        assert_eq!(target_from_uri_params("sip:vm@um;target="), None);
        assert_eq!(target_from_uri_params("sip:a;target=b@um"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*", t in "[<>\";,?=%@:a-z0-9. ]{0,40}") {
            for v in [s.as_str(), t.as_str()] {
                if let Ok(e) = parse_history_info(&[v, v]) { let _ = called_from_history_info(&e); }
                if let Ok(d) = parse_diversion(&[v]) { let _ = called_from_diversion(&d); }
                let _ = parse_name_addr("X", v);
                let _ = target_from_uri_params(v);
                let _ = cause_from_uri_params(v);
                let _ = percent_decode(v);
            }
        }

        #[test]
        fn diversion_roundtrip(users in proptest::collection::vec("[a-z0-9]{1,8}", 1..5)) {
            let line = users.iter().map(|u| format!("<sip:{u}@h>;reason=no-answer")).collect::<Vec<_>>().join(", ");
            let d = parse_diversion(&[&line]).unwrap();
            prop_assert_eq!(d.len(), users.len());
            prop_assert_eq!(&called_from_diversion(&d).unwrap().uri, &format!("sip:{}@h", users[0]));
        }
    }
}
