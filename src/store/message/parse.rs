//! Reading a message back: the header section (unfolded, decoded), the `X-UMGW-*` fields and
//! the first WAV attachment, from our own messages and from what mail clients and servers
//! make of them.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;

use super::rfc2047::{decode_words, B64_LENIENT};
use super::*;

/// Parses a message written by [`render`] (tolerates LF line ends, folding, other encoders'
/// RFC 2047 words and base64 without padding).
pub fn parse(bytes: &[u8]) -> Result<ParsedMessage, MessageError> {
    let (head, body) = split_header_body(bytes);
    let headers = parse_header_section(head)?;

    let kind_v = required(&headers, H_KIND)?;
    let kind = MessageKind::from_header(kind_v)
        .ok_or_else(|| bad(H_KIND, kind_v, "expected voice-mail or missed-call"))?;
    let caller = single(&headers, H_CALLER)?.map(str::to_owned);
    let mailbox_address = required(&headers, H_MAILBOX)?.to_owned();
    let call_id = required(&headers, H_CALL_ID)?.to_owned();
    let dur_v = required(&headers, H_DURATION_MS)?;
    let duration_ms: u64 = dur_v.parse().map_err(|_| {
        bad(
            H_DURATION_MS,
            dur_v,
            "expected milliseconds as an unsigned integer",
        )
    })?;
    let rec_v = required(&headers, H_RECEIVED)?;
    let received_ms: u64 = rec_v.parse().map_err(|_| {
        bad(
            H_RECEIVED,
            rec_v,
            "expected Unix milliseconds as an unsigned integer",
        )
    })?;
    let subject = single(&headers, "Subject")?.unwrap_or("").to_owned();
    let cut_short = single(&headers, H_CUT_SHORT)?.map(str::to_owned);

    let (audio_wav, audio_file_name) = match find_audio(&headers, body)? {
        Some(audio) => (Some(audio.bytes), audio.file_name),
        None => (None, None),
    };
    let um = um_headers(&headers);

    Ok(ParsedMessage {
        kind,
        caller,
        mailbox_address,
        call_id,
        duration: Duration::from_millis(duration_ms),
        received: UNIX_EPOCH + Duration::from_millis(received_ms),
        cut_short,
        subject,
        audio_wav,
        audio_file_name,
        um,
        headers,
    })
}

/// The Exchange UM headers, leniently: a repeated one counts once (the first), one that does
/// not parse is absent.
fn um_headers(headers: &[(String, String)]) -> UmHeaders {
    let owned = |name: &str| first(headers, name).map(str::to_owned);
    UmHeaders {
        content_class: owned(H_CONTENT_CLASS),
        calling_number: owned(H_CALLING_NUMBER),
        sender_name: owned(H_SENDER_NAME),
        duration_secs: first(headers, H_VOICE_DURATION).and_then(|v| v.parse().ok()),
        // [MS-OXOUM] 2.2.5.9: `;`-separated, blanks around names allowed, empty ends too.
        attachment_order: first(headers, H_ATTACHMENT_ORDER)
            .map(|v| {
                v.split(';')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        call_id: owned(H_UM_CALL_ID),
    }
}

/// The first non-blank value of a header, trimmed; for headers read leniently.
fn first<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Offset where the body starts, i.e. just after the blank line ending the header section;
/// `None` if `bytes` holds no complete header section yet.
pub fn header_section_len(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = bytes[i..].iter().position(|&b| b == b'\n') {
        let line = &bytes[i..i + nl];
        if line.is_empty() || line == b"\r" {
            return Some(i + nl + 1);
        }
        i += nl + 1;
    }
    None
}

/// Parses a header section (no blank line needed at its end) into unfolded, trimmed,
/// RFC 2047-decoded `(name, value)` pairs in order.
pub fn parse_header_section(head: &[u8]) -> Result<Vec<(String, String)>, MessageError> {
    let text = String::from_utf8_lossy(head);
    let mut raw: Vec<(String, String)> = Vec::new();
    for (idx, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match raw.last_mut() {
                Some((_, v)) => v.push_str(line),
                None => {
                    return Err(MessageError::BadHeaderLine {
                        line: idx + 1,
                        why: "continuation line before any header",
                    })
                }
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(MessageError::BadHeaderLine {
                line: idx + 1,
                why: "no ':' in header line",
            });
        };
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(MessageError::BadHeaderLine {
                line: idx + 1,
                why: "invalid header name",
            });
        }
        raw.push((name.to_owned(), value.to_owned()));
    }
    Ok(raw
        .into_iter()
        .map(|(n, v)| {
            let v = decode_words(v.trim_matches([' ', '\t']));
            (n, v)
        })
        .collect())
}

/// Splits at the first blank line; everything is header if there is none.
fn split_header_body(bytes: &[u8]) -> (&[u8], &[u8]) {
    match header_section_len(bytes) {
        Some(n) => (&bytes[..n], &bytes[n..]),
        None => (bytes, &[]),
    }
}

pub(super) fn bad(name: &'static str, value: &str, why: &'static str) -> MessageError {
    MessageError::BadHeader {
        name,
        value: value.chars().take(80).collect(),
        why,
    }
}

/// The value of a header that may appear at most once.
fn single<'a>(
    headers: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, MessageError> {
    let mut it = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = it.next().map(|(_, v)| v.as_str());
    if it.next().is_some() {
        return Err(MessageError::DuplicateHeader(name));
    }
    Ok(first)
}

fn required<'a>(
    headers: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, MessageError> {
    single(headers, name)?.ok_or(MessageError::MissingHeader(name))
}

/// Splits a Content-Type (or Content-Disposition) value into lower-cased type and (lower-cased
/// name, unquoted value) parameters.
fn content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ';' && !quoted {
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    fields.push(cur);
    let mime = fields[0].trim().to_ascii_lowercase();
    let params = fields[1..]
        .iter()
        .filter_map(|f| {
            let (n, v) = f.split_once('=')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    (mime, params)
}

fn is_wav(mime: &str) -> bool {
    matches!(
        mime,
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave"
    )
}

fn decode_content(cte: Option<&str>, content: &[u8]) -> Result<Vec<u8>, MessageError> {
    match cte.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
        Some("base64") => {
            let clean: Vec<u8> = content
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            B64_LENIENT
                .decode(clean)
                .map_err(|e| MessageError::AudioBase64(e.to_string()))
        }
        _ => Ok(content.to_vec()),
    }
}

/// A WAV entity found in a message.
struct AudioPart {
    bytes: Vec<u8>,
    /// Its file name, as a mail client shows it.
    file_name: Option<String>,
}

/// The first `audio/wav` entity of a message or part with `headers` and `body`.
fn find_audio(
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Option<AudioPart>, MessageError> {
    let Some(ct) = single(headers, "Content-Type")? else {
        return Ok(None);
    };
    let (mime, params) = content_type(ct);
    if is_wav(&mime) {
        return audio_part(headers, &params, body).map(Some);
    }
    if !mime.starts_with("multipart/") {
        return Ok(None);
    }
    let boundary = param(&params, "boundary")
        .filter(|b| !b.is_empty())
        .ok_or(MessageError::Mime("multipart without a boundary parameter"))?;
    for part in multipart_parts(body, boundary.as_bytes())? {
        let (head, content) = split_header_body(part);
        let headers = parse_header_section(head)?;
        let pct = single(&headers, "Content-Type")?.unwrap_or("text/plain");
        let (pmime, pparams) = content_type(pct);
        if is_wav(&pmime) {
            return audio_part(&headers, &pparams, content).map(Some);
        }
    }
    Ok(None)
}

/// A WAV entity's bytes and file name: Content-Disposition's `filename` (RFC 2183), else
/// Content-Type's older `name`.
fn audio_part(
    headers: &[(String, String)],
    type_params: &[(String, String)],
    content: &[u8],
) -> Result<AudioPart, MessageError> {
    let bytes = decode_content(single(headers, "Content-Transfer-Encoding")?, content)?;
    let disposition = first(headers, "Content-Disposition")
        .map(|d| content_type(d).1)
        .unwrap_or_default();
    let file_name = param(&disposition, "filename")
        .or_else(|| param(type_params, "name"))
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(AudioPart { bytes, file_name })
}

/// The value of parameter `name` (lower case) among `params` from [`content_type`].
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The parts of a multipart body; the line break before each delimiter belongs to it.
fn multipart_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Vec<&'a [u8]>, MessageError> {
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut i = 0;
    while i < body.len() {
        let nl = body[i..].iter().position(|&b| b == b'\n').map(|p| i + p);
        let line_end = nl.unwrap_or(body.len());
        let line = &body[i..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(after) = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
        {
            let closing = after.starts_with(b"--");
            let tail = if closing { &after[2..] } else { after };
            if tail.iter().all(|b| *b == b' ' || *b == b'\t') {
                if let Some(s) = part_start {
                    // Drop the CRLF/LF that precedes the delimiter line.
                    let mut e = i.max(s);
                    if e > s && body[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && body[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    parts.push(&body[s..e]);
                }
                if closing {
                    return Ok(parts);
                }
                part_start = Some(nl.map_or(body.len(), |n| n + 1));
            }
        }
        i = nl.map_or(body.len(), |n| n + 1);
    }
    Err(MessageError::Mime(
        "multipart body without closing delimiter (truncated?)",
    ))
}
