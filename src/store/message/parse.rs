//! Reading a message back: the header section (unfolded, decoded), the `X-UMGW-*` fields and
//! the first WAV attachment, from our own messages and from what mail clients and servers
//! make of them.

use std::time::{Duration, UNIX_EPOCH};

use mail_parser::{HeaderName, HeaderValue, MessageParser, MessagePart, MimeHeaders};

use super::render::{LOW_CONFIDENCE_NOTE, UNCERTAIN_NOTE};
use super::rfc2047::join_words;
use super::*;

/// Parses a message written by [`render`], also after a mail client or server re-encoded it
/// (LF line ends, folding, other encoders' RFC 2047 words in any charset, quoted-printable,
/// other base64 line lengths, the audio nested in further multiparts).
pub fn parse(bytes: &[u8]) -> Result<ParsedMessage, MessageError> {
    let head = header_section_len(bytes).map_or(bytes, |n| &bytes[..n]);
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

    let message = MessageParser::new().with_mime_headers().parse(bytes);
    let (audio_wav, audio_file_name) = match find_audio(bytes, message.as_ref())? {
        Some(audio) => (Some(audio.bytes), audio.file_name),
        None => (None, None),
    };
    let preview = message.as_ref().and_then(find_preview);
    let um = um_headers(&headers);
    let marks = marks_from_headers(|name| first(&headers, name));

    Ok(ParsedMessage {
        kind,
        caller,
        mailbox_address,
        call_id,
        duration: Duration::from_millis(duration_ms),
        received: UNIX_EPOCH + Duration::from_millis(received_ms),
        cut_short,
        subject,
        preview,
        audio_wav,
        audio_file_name,
        marks,
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
/// RFC 2047-decoded `(name, value)` pairs in order. Lines are checked here (mail-parser
/// accepts anything); unfolding and decoding are mail-parser's.
pub fn parse_header_section(head: &[u8]) -> Result<Vec<(String, String)>, MessageError> {
    check_header_lines(head)?;
    // Every header as decoded text: the default applies only once one header is configured
    // (an empty map means mail-parser's own per-header parsers).
    let parser = MessageParser::new()
        .header_text(HeaderName::Subject)
        .default_header_text();
    let joined = join_words(head);
    let head = &joined[..];
    let Some(message) = parser.parse_headers(head) else {
        return Ok(Vec::new());
    };
    let Some(root) = message.parts.first() else {
        return Ok(Vec::new());
    };
    Ok(root
        .headers
        .iter()
        .map(|h| {
            // The name as written (mail-parser spells registered names its own way).
            let raw = head
                .get(h.offset_field as usize..h.offset_start as usize)
                .unwrap_or_default();
            let raw = String::from_utf8_lossy(raw);
            let name = raw
                .split(':')
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned();
            let value = match &h.value {
                HeaderValue::Text(t) => t.clone().into_owned(),
                _ => String::new(),
            };
            (name, value)
        })
        .collect())
}

/// Rejects what is not a header section: a line without a name and `:`, a continuation
/// line before any header.
fn check_header_lines(head: &[u8]) -> Result<(), MessageError> {
    let mut seen_header = false;
    for (idx, line) in head.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let why = if line.starts_with(b" ") || line.starts_with(b"\t") {
            if seen_header {
                continue;
            }
            "continuation line before any header"
        } else {
            match line.iter().position(|&b| b == b':') {
                None => "no ':' in header line",
                Some(colon) => {
                    let name = line[..colon].trim_ascii_end();
                    if !name.is_empty() && name.iter().all(|b| (33..=126).contains(b)) {
                        seen_header = true;
                        continue;
                    }
                    "invalid header name"
                }
            }
        };
        return Err(MessageError::BadHeaderLine { line: idx + 1, why });
    }
    Ok(())
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

/// An `audio/wav` entity, by its Content-Type (the names writers use for WAV).
fn is_wav(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("audio")
            && ct.subtype().is_some_and(|sub| {
                ["wav", "x-wav", "wave", "vnd.wave"]
                    .iter()
                    .any(|w| sub.eq_ignore_ascii_case(w))
            })
    })
}

/// A WAV entity found in a message.
struct AudioPart {
    bytes: Vec<u8>,
    /// Its file name, as a mail client shows it.
    file_name: Option<String>,
}

/// The first `audio/wav` entity of the message, at any depth of multipart nesting, transfer
/// decoded; a broken multipart structure or audio encoding is an error rather than a
/// recording that is silently short.
fn find_audio(
    bytes: &[u8],
    message: Option<&mail_parser::Message<'_>>,
) -> Result<Option<AudioPart>, MessageError> {
    let Some(message) = message else {
        return Ok(None);
    };
    for part in &message.parts {
        if let Some(ct) = part.content_type() {
            if ct.ctype().eq_ignore_ascii_case("multipart") {
                check_multipart(bytes, part, ct.attribute("boundary"))?;
            }
        }
    }
    let Some(part) = message.parts.iter().find(|p| is_wav(p)) else {
        return Ok(None);
    };
    if part.is_encoding_problem {
        return Err(MessageError::AudioBase64(format!(
            "{} bytes of {} do not decode",
            part.offset_end.saturating_sub(part.offset_body),
            transfer_encoding(part)
        )));
    }
    Ok(Some(AudioPart {
        bytes: part.contents().to_vec(),
        file_name: part
            .attachment_name()
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
    }))
}

/// The preview `render` wrote: the lines after [`PREVIEW_HEADING`] at the start
/// of the first text part, up to its note or the blank line, joined into one line.
fn find_preview(message: &mail_parser::Message<'_>) -> Option<String> {
    let text = message.body_text(0)?;
    let rest = text.strip_prefix(PREVIEW_HEADING)?;
    let lines: Vec<&str> = rest
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && ![LOW_CONFIDENCE_NOTE, UNCERTAIN_NOTE].contains(l))
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}

/// The part's Content-Transfer-Encoding as written, for an error message.
fn transfer_encoding(part: &MessagePart<'_>) -> String {
    part.headers
        .iter()
        .find(|h| matches!(h.name, HeaderName::ContentTransferEncoding))
        .and_then(|h| h.value.as_text())
        .unwrap_or("its transfer encoding")
        .trim()
        .to_owned()
}

/// A multipart entity needs a boundary and its closing delimiter: without it the message was
/// cut off (mail-parser would hand back what it found so far).
fn check_multipart(
    bytes: &[u8],
    part: &MessagePart<'_>,
    boundary: Option<&str>,
) -> Result<(), MessageError> {
    let boundary = boundary
        .filter(|b| !b.is_empty())
        .ok_or(MessageError::Mime("multipart without a boundary parameter"))?;
    let body = bytes
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let closing = format!("--{boundary}--");
    let closed = body.starts_with(closing.as_bytes())
        || body
            .windows(closing.len() + 1)
            .any(|w| w[0] == b'\n' && &w[1..] == closing.as_bytes());
    if closed {
        Ok(())
    } else {
        Err(MessageError::Mime(
            "multipart body without closing delimiter (truncated?)",
        ))
    }
}
