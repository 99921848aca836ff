//! The stored message format: RFC 5322 + MIME, CRLF line ends, the one place that writes and
//! reads it.
//!
//! Layout: standard headers (Date, From, To, Subject, Message-ID, MIME-Version), machine-readable
//! `X-UMGW-*` headers (the source of truth for [`parse`]), then a `multipart/mixed` body with a
//! human-readable `text/plain` part and, for a voice mail, an `audio/wav` attachment.
//!
//! Caller-controlled strings (caller number, caller name, Call-ID) never reach a header verbatim
//! unless they are short printable ASCII; anything else is written as RFC 2047 encoded-words, so a
//! CR/LF can never start a new header and `X-UMGW-*` values round-trip exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::{MessageKind, NewMessage};

/// Header names written by [`render`] and read by [`parse`].
pub const H_KIND: &str = "X-UMGW-Kind";
/// Caller number or URI.
pub const H_CALLER: &str = "X-UMGW-Caller";
/// Caller display name.
pub const H_CALLER_NAME: &str = "X-UMGW-Caller-Name";
/// Mailbox (called user's) address.
pub const H_MAILBOX: &str = "X-UMGW-Mailbox";
/// SIP Call-ID.
pub const H_CALL_ID: &str = "X-UMGW-Call-ID";
/// Recording length in milliseconds.
pub const H_DURATION_MS: &str = "X-UMGW-Duration-Ms";
/// Arrival time in Unix milliseconds.
pub const H_RECEIVED: &str = "X-UMGW-Received";
/// The deposit's delivery id: a retried deposit finds the first copy by it (exactly once).
pub const H_DELIVERY_ID: &str = "X-UMGW-Delivery-Id";
/// Present (value `crash`) on messages rebuilt from the spool after the gateway died mid-call.
pub const H_RECOVERED: &str = "X-UMGW-Recovered";
/// The call's receive statistics: `packets=…; lost=…; late=…; reordered=…; …`.
pub const H_MEDIA_STATS: &str = "X-UMGW-Media-Stats";
/// Present on a recording that stopped before the caller did because it could not be written;
/// the value says why (`write failed: No space left on device`).
pub const H_CUT_SHORT: &str = "X-UMGW-Cut-Short";

/// Longest display string (caller name, number) used in Subject/To/body, in characters.
const DISPLAY_MAX_CHARS: usize = 100;
/// Recommended header line length (RFC 5322 §2.1.1).
const LINE_MAX: usize = 78;
/// Input bytes per encoded-word: 45 bytes → 60 base64 chars → 72-char word (limit 75).
const WORD_INPUT_BYTES: usize = 45;

/// Decodes base64 with or without padding and with stray trailing bits (other writers' output).
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A message read back by [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMessage {
    /// From `X-UMGW-Kind`.
    pub kind: MessageKind,
    /// From `X-UMGW-Caller` (exactly as deposited), `None` if absent.
    pub caller: Option<String>,
    /// From `X-UMGW-Mailbox`.
    pub mailbox_address: String,
    /// From `X-UMGW-Call-ID`.
    pub call_id: String,
    /// From `X-UMGW-Duration-Ms` (millisecond precision).
    pub duration: Duration,
    /// From `X-UMGW-Received` (millisecond precision).
    pub received: SystemTime,
    /// From `X-UMGW-Cut-Short`: why the recording stopped early, if it did.
    pub cut_short: Option<String>,
    /// Decoded `Subject`, empty if absent.
    pub subject: String,
    /// Bytes of the first `audio/wav` part, if any.
    pub audio_wav: Option<Vec<u8>>,
    /// All top-level headers in order: unfolded, trimmed, RFC 2047 decoded.
    pub headers: Vec<(String, String)>,
}

/// Why a stored message could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A header line is malformed.
    #[error("header line {line}: {why}")]
    BadHeaderLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A single-valued header appears more than once.
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    /// A header value is invalid.
    #[error("header {name}: invalid value {value:?}: {why}")]
    BadHeader {
        /// Header name.
        name: &'static str,
        /// The value (truncated).
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The MIME structure is broken.
    #[error("MIME body: {0}")]
    Mime(&'static str),
    /// The audio part's base64 does not decode.
    #[error("audio part: invalid base64: {0}")]
    AudioBase64(String),
}

/// Renders `msg` as an RFC 5322 message with CRLF line ends.
///
/// `audio_wav` is the recording's bytes (attached as `voicemail.wav`); `message_id_host` is used
/// in `From` and `Message-ID` (sanitised to `[A-Za-z0-9.-]`, `localhost` if nothing is left).
/// A caller that is absent or blank is "Unknown caller" and gets no `X-UMGW-Caller` header.
pub fn render(msg: &NewMessage, audio_wav: Option<&[u8]>, message_id_host: &str) -> Vec<u8> {
    let host = sanitize_host(message_id_host);
    let received_ms = unix_ms(msg.received);
    let duration_ms = u64::try_from(msg.duration.as_millis()).unwrap_or(u64::MAX);
    let who = caller_phrase(msg);
    let date = format_rfc5322_date(received_ms / 1000);
    let boundary = format!("umgw-{:032x}", rand::random::<u128>());

    let subject = match msg.kind {
        MessageKind::VoiceMail => format!("Voice mail from {who}, {}", short_duration(duration_ms)),
        MessageKind::MissedCall => format!("Missed call from {who}"),
    };

    let mut h = String::with_capacity(1024);
    h.push_str(&format!("Date: {date}\r\n"));
    h.push_str(&format!("From: Voice Mail <umgw@{host}>\r\n"));
    h.push_str(&to_header(msg));
    h.push_str(&unstructured("Subject", &subject));
    h.push_str(&format!(
        "Message-ID: <{received_ms}.{:032x}@{host}>\r\n",
        rand::random::<u128>()
    ));
    h.push_str("MIME-Version: 1.0\r\n");
    h.push_str(&format!("{H_KIND}: {}\r\n", msg.kind.as_header()));
    if let Some(c) = non_blank(msg.caller.as_deref()) {
        h.push_str(&unstructured(H_CALLER, c));
    }
    if let Some(n) = non_blank(msg.caller_name.as_deref()) {
        h.push_str(&unstructured(H_CALLER_NAME, n));
    }
    h.push_str(&unstructured(H_MAILBOX, &msg.mailbox_address));
    h.push_str(&unstructured(H_CALL_ID, &msg.call_id));
    h.push_str(&format!("{H_DURATION_MS}: {duration_ms}\r\n"));
    h.push_str(&format!("{H_RECEIVED}: {received_ms}\r\n"));
    if let Some(d) = msg
        .delivery_id
        .as_deref()
        .filter(|d| super::valid_delivery_id(d))
    {
        h.push_str(&format!("{H_DELIVERY_ID}: {d}\r\n"));
    }
    if msg.recovered {
        h.push_str(&format!("{H_RECOVERED}: crash\r\n"));
    }
    if let Some(st) = non_blank(msg.media_stats.as_deref()) {
        h.push_str(&unstructured(H_MEDIA_STATS, st));
    }
    if let Some(why) = non_blank(msg.cut_short.as_deref()) {
        h.push_str(&unstructured(H_CUT_SHORT, why));
    }
    h.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    h.push_str("This is a multi-part message in MIME format.\r\n");

    // Text part. Display strings are cleaned and capped, so lines stay far below 998 bytes.
    let text = body_text(msg, &who, &date, duration_ms, audio_wav.is_some());
    let cte = if text.is_ascii() { "7bit" } else { "8bit" };
    h.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{text}"
    ));

    let mut out = h.into_bytes();
    if let Some(wav) = audio_wav {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=\"voicemail.wav\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            )
            .as_bytes(),
        );
        let b64 = STANDARD.encode(wav);
        for chunk in b64.as_bytes().chunks(76) {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

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

    let audio_wav = match single(&headers, "Content-Type")? {
        Some(ct) => find_audio(ct, single(&headers, "Content-Transfer-Encoding")?, body)?,
        None => None,
    };

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
        headers,
    })
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

/// Formats a Unix time (seconds, UTC) as an RFC 5322 date, e.g. `Thu, 1 Jan 1970 00:00:00 +0000`.
pub fn format_rfc5322_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let sod = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31); H. Hinnant's civil_from_days.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds since the Unix epoch; times before it clamp to 0.
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn sanitize_host(host: &str) -> String {
    let h: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    let h = h.trim_matches('.');
    if h.is_empty() {
        "localhost".to_owned()
    } else {
        h.to_owned()
    }
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// Control characters → space, blank runs collapsed, trimmed, capped: for human-facing text.
fn clean_display(s: &str) -> String {
    let mut out = String::new();
    for w in s
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    match out.char_indices().nth(DISPLAY_MAX_CHARS) {
        Some((i, _)) => out[..i].to_owned(),
        None => out,
    }
}

/// Human form of a caller number/URI: `sip:+1425...@host;user=phone` → `+1425...`.
fn display_number(caller: &str) -> String {
    let s = caller.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = s.to_ascii_lowercase();
    let s = ["sips:", "sip:", "tel:"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map_or(s, |p| &s[p.len()..]);
    let s = s.split([';', '?']).next().unwrap_or(s);
    if let Some((user, _host)) = s.split_once('@') {
        let digits = user.strip_prefix('+').unwrap_or(user);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return clean_display(user);
        }
    }
    clean_display(s)
}

/// "NAME (NUMBER)", "NAME", "NUMBER" or "Unknown caller".
fn caller_phrase(msg: &NewMessage) -> String {
    let name = msg
        .caller_name
        .as_deref()
        .map(clean_display)
        .filter(|s| !s.is_empty());
    let num = msg
        .caller
        .as_deref()
        .map(display_number)
        .filter(|s| !s.is_empty());
    match (name, num) {
        (Some(n), Some(c)) if n != c => format!("{n} ({c})"),
        (Some(n), _) => n,
        (None, Some(c)) => c,
        (None, None) => "Unknown caller".to_owned(),
    }
}

fn rounded_secs(ms: u64) -> u64 {
    ms / 1000 + u64::from(ms % 1000 >= 500)
}

/// `0:23`, `12:05`, `1:02:03`.
fn short_duration(ms: u64) -> String {
    let s = rounded_secs(ms);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `23 seconds`, `1 minute 5 seconds`, `2 hours 1 minute`.
fn words_duration(ms: u64) -> String {
    let s = rounded_secs(ms);
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(unit(h, "hour"));
    }
    if m > 0 {
        parts.push(unit(m, "minute"));
    }
    if sec > 0 || parts.is_empty() {
        parts.push(unit(sec, "second"));
    }
    parts.join(" ")
}

fn body_text(msg: &NewMessage, who: &str, date: &str, duration_ms: u64, audio: bool) -> String {
    let mut t = match msg.kind {
        MessageKind::VoiceMail => format!("You received a voice mail from {who}.\r\n\r\n"),
        MessageKind::MissedCall => format!("You missed a call from {who}.\r\n\r\n"),
    };
    t.push_str(&format!("Caller:   {who}\r\n"));
    t.push_str(&format!("Received: {date}\r\n"));
    if msg.kind == MessageKind::VoiceMail {
        t.push_str(&format!("Length:   {}\r\n", words_duration(duration_ms)));
    }
    if msg
        .cut_short
        .as_deref()
        .and_then(|w| non_blank(Some(w)))
        .is_some()
    {
        t.push_str(
            "\r\nThe recording was cut short: the voice mail system could not store more of it.\r\n",
        );
    }
    if audio {
        t.push_str("\r\nThe message is attached as voicemail.wav.\r\n");
    }
    t
}

/// True if `value` can be written verbatim after `name: ` and read back identically.
fn is_raw_safe(name: &str, value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !value.contains("=?")
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && name.len() + 2 + value.len() <= LINE_MAX
}

/// RFC 2047 B encoded-words for `value`, split on character boundaries.
fn encoded_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut start = 0;
    while start < value.len() {
        let mut end = (start + WORD_INPUT_BYTES).min(value.len());
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?utf-8?b?{}?=",
            STANDARD.encode(&value[start..end])
        ));
        start = end;
    }
    words
}

/// A complete unstructured header (`Name: value\r\n`), encoded and folded when needed.
fn unstructured(name: &str, value: &str) -> String {
    if value.is_empty() || is_raw_safe(name, value) {
        return format!("{name}: {value}\r\n");
    }
    format!("{name}: {}\r\n", encoded_words(value).join("\r\n "))
}

/// `To:` with the mailbox's display name and e-mail form of its address.
fn to_header(msg: &NewMessage) -> String {
    let Some(addr) = email_address(&msg.mailbox_address) else {
        return "To: undisclosed-recipients:;\r\n".to_owned();
    };
    let name = msg
        .mailbox_name
        .as_deref()
        .map(clean_display)
        .unwrap_or_default();
    if name.is_empty() {
        return format!("To: <{addr}>\r\n");
    }
    let phrase = if name.is_ascii() && !name.contains("=?") {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        encoded_words(&name).join("\r\n ")
    };
    format!("To: {phrase}\r\n <{addr}>\r\n")
}

/// `sip:alice@contoso.com;opaque=x` → `alice@contoso.com`; `None` if no plain addr-spec results.
fn email_address(address: &str) -> Option<String> {
    let s = address.trim().trim_start_matches('<');
    let lower = s.to_ascii_lowercase();
    let s = ["sips:", "sip:", "mailto:"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map_or(s, |p| &s[p.len()..]);
    let s = s.split([';', '?', '>']).next()?;
    let (local, domain) = s.split_once('@')?;
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=^_`{|}~.".contains(&b));
    let domain_ok = !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (local_ok && domain_ok).then(|| format!("{local}@{domain}"))
}

/// Splits at the first blank line; everything is header if there is none.
fn split_header_body(bytes: &[u8]) -> (&[u8], &[u8]) {
    match header_section_len(bytes) {
        Some(n) => (&bytes[..n], &bytes[n..]),
        None => (bytes, &[]),
    }
}

fn bad(name: &'static str, value: &str, why: &'static str) -> MessageError {
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

/// Decodes RFC 2047 encoded-words in `s`; blanks between adjacent words are dropped and
/// adjacent words of one charset are joined before decoding (other encoders split characters).
fn decode_words(s: &str) -> String {
    fn flush(out: &mut String, pending: &mut Vec<u8>, latin1: bool) {
        if latin1 {
            out.extend(pending.iter().map(|&b| char::from(b)));
        } else {
            out.push_str(&String::from_utf8_lossy(pending));
        }
        pending.clear();
    }
    if !s.contains("=?") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut pending = Vec::new();
    let mut pending_latin1 = false;
    let mut last_was_word = false;
    let mut rest = s;
    while let Some(p) = rest.find("=?") {
        let (before, at) = rest.split_at(p);
        match decode_word(at) {
            Some((latin1, bytes, len)) => {
                let blank_gap = before.bytes().all(|b| b == b' ' || b == b'\t');
                if !(last_was_word && blank_gap) || latin1 != pending_latin1 {
                    flush(&mut out, &mut pending, pending_latin1);
                }
                if !(last_was_word && blank_gap) {
                    out.push_str(before);
                }
                pending_latin1 = latin1;
                pending.extend_from_slice(&bytes);
                rest = &at[len..];
                last_was_word = true;
            }
            None => {
                flush(&mut out, &mut pending, pending_latin1);
                out.push_str(before);
                out.push_str("=?");
                rest = &at[2..];
                last_was_word = false;
            }
        }
    }
    flush(&mut out, &mut pending, pending_latin1);
    out.push_str(rest);
    out
}

/// One encoded-word at the start of `s`: (is latin-1, decoded bytes, length consumed).
fn decode_word(s: &str) -> Option<(bool, Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let q1 = inner.find('?')?;
    let charset = &inner[..q1];
    let rest = &inner[q1 + 1..];
    let q2 = rest.find('?')?;
    let enc = &rest[..q2];
    let rest = &rest[q2 + 1..];
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains([' ', '\t', '\r', '\n']) || charset.contains([' ', '\t']) {
        return None;
    }
    // RFC 2231 language suffix: `utf-8*en`.
    let charset = charset.split('*').next()?.to_ascii_lowercase();
    let latin1 = match charset.as_str() {
        "utf-8" | "utf8" | "us-ascii" => false,
        "iso-8859-1" | "latin1" | "iso8859-1" => true,
        _ => return None,
    };
    let bytes = match enc {
        "b" | "B" => B64_LENIENT.decode(text).ok()?,
        "q" | "Q" => decode_q(text)?,
        _ => return None,
    };
    Some((latin1, bytes, 2 + q1 + 1 + q2 + 1 + end + 2))
}

fn decode_q(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// Splits a Content-Type value into lower-cased type and (lower-cased name, unquoted value).
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

/// The first `audio/wav` payload of a body with Content-Type `ct`.
fn find_audio(ct: &str, cte: Option<&str>, body: &[u8]) -> Result<Option<Vec<u8>>, MessageError> {
    let (mime, params) = content_type(ct);
    if is_wav(&mime) {
        return decode_content(cte, body).map(Some);
    }
    if !mime.starts_with("multipart/") {
        return Ok(None);
    }
    let boundary = params
        .iter()
        .find(|(n, _)| n == "boundary")
        .map(|(_, v)| v.as_str())
        .filter(|b| !b.is_empty())
        .ok_or(MessageError::Mime("multipart without a boundary parameter"))?;
    for part in multipart_parts(body, boundary.as_bytes())? {
        let (head, content) = split_header_body(part);
        let headers = parse_header_section(head)?;
        let pct = single(&headers, "Content-Type")?.unwrap_or("text/plain");
        if is_wav(&content_type(pct).0) {
            let pcte = single(&headers, "Content-Transfer-Encoding")?;
            return decode_content(pcte, content).map(Some);
        }
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn sample(kind: MessageKind) -> NewMessage {
        NewMessage {
            kind,
            caller: Some("sip:+14255550123@contoso.com;user=phone".into()),
            caller_name: Some("Bob Kelly".into()),
            mailbox_address: "sip:alice@contoso.com".into(),
            mailbox_name: Some("Alice Smith".into()),
            received: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            duration: Duration::from_millis(22_600),
            call_id: "a84b4c76e66710@pc33.contoso.com".into(),
            audio: Some(PathBuf::from("/nonexistent.wav")),
            delivery_id: None,
            recovered: false,
            media_stats: None,
            cut_short: None,
        }
    }

    fn wav_bytes(samples: usize) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        for i in 0..samples {
            w.write_sample(((i * 7919) % 65536) as i16).unwrap();
        }
        w.finalize().unwrap();
        cur.into_inner()
    }

    fn header_section(bytes: &[u8]) -> &str {
        let n = header_section_len(bytes).unwrap();
        std::str::from_utf8(&bytes[..n]).unwrap()
    }

    #[test]
    fn a_recording_cut_short_says_so_and_why() {
        let wav = wav_bytes(800);
        let plain = render(&sample(MessageKind::VoiceMail), Some(&wav), "umgw.test");
        assert_eq!(parse(&plain).unwrap().cut_short, None);
        let msg = NewMessage {
            cut_short: Some("write failed: No space left on device (os error 28)".into()),
            ..sample(MessageKind::VoiceMail)
        };
        let bytes = render(&msg, Some(&wav), "umgw.test");
        assert_well_formed(&bytes);
        let back = parse(&bytes).unwrap();
        assert_eq!(back.cut_short, msg.cut_short);
        assert!(String::from_utf8_lossy(&bytes).contains("The recording was cut short"));
        assert_eq!(back.audio_wav.as_deref(), Some(&wav[..]));
    }

    /// Every line ends in CRLF, no bare CR or LF, header lines are ASCII and ≤ 998 bytes.
    fn assert_well_formed(bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
            }
            if b == b'\r' {
                assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
            }
        }
        let head = header_section(bytes);
        for line in head.split("\r\n") {
            assert!(line.is_ascii() && line.len() <= 998, "{line:?}");
        }
    }

    #[test]
    fn date_known_vectors() {
        assert_eq!(format_rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            format_rfc5322_date(1_000_000_000),
            "Sun, 9 Sep 2001 01:46:40 +0000"
        );
        assert_eq!(
            format_rfc5322_date(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        assert_eq!(
            format_rfc5322_date(4_107_542_400),
            "Mon, 1 Mar 2100 00:00:00 +0000"
        );
        assert_eq!(
            format_rfc5322_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(
            format_rfc5322_date(253_402_300_799),
            "Fri, 31 Dec 9999 23:59:59 +0000"
        );
    }

    #[test]
    fn durations_and_numbers_for_humans() {
        assert_eq!(short_duration(22_600), "0:23");
        assert_eq!(short_duration(499), "0:00");
        assert_eq!(short_duration(725_000), "12:05");
        assert_eq!(short_duration(3_723_000), "1:02:03");
        assert_eq!(words_duration(1_000), "1 second");
        assert_eq!(words_duration(65_000), "1 minute 5 seconds");
        assert_eq!(words_duration(7_260_000), "2 hours 1 minute");
        assert_eq!(words_duration(0), "0 seconds");
        assert_eq!(
            display_number("sip:+14255550123@contoso.com;user=phone"),
            "+14255550123"
        );
        assert_eq!(display_number("<tel:+1-425-555-0123>"), "+1-425-555-0123");
        assert_eq!(display_number("sip:bob@contoso.com"), "bob@contoso.com");
        assert_eq!(
            email_address("sip:alice@contoso.com;opaque=app:voicemail").as_deref(),
            Some("alice@contoso.com")
        );
        assert_eq!(email_address("tel:+14255550123"), None);
        assert_eq!(email_address("sip:a b@x"), None);
    }

    #[test]
    fn renders_expected_headers() {
        let wav = wav_bytes(100);
        let bytes = render(
            &sample(MessageKind::VoiceMail),
            Some(&wav),
            "gw1.contoso.com",
        );
        assert_well_formed(&bytes);
        let head = header_section(&bytes);
        assert!(
            head.starts_with("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nFrom: Voice Mail <umgw@gw1.contoso.com>\r\n"));
        assert!(head.contains("\r\nTo: \"Alice Smith\"\r\n <alice@contoso.com>\r\n"));
        assert!(head.contains("\r\nSubject: Voice mail from Bob Kelly (+14255550123), 0:23\r\n"));
        assert!(head.contains("\r\nMIME-Version: 1.0\r\n"));
        assert!(head.contains("\r\nX-UMGW-Kind: voice-mail\r\n"));
        assert!(head.contains("\r\nX-UMGW-Caller: sip:+14255550123@contoso.com;user=phone\r\n"));
        assert!(head.contains("\r\nX-UMGW-Caller-Name: Bob Kelly\r\n"));
        assert!(head.contains("\r\nX-UMGW-Mailbox: sip:alice@contoso.com\r\n"));
        assert!(head.contains("\r\nX-UMGW-Call-ID: a84b4c76e66710@pc33.contoso.com\r\n"));
        assert!(head.contains("\r\nX-UMGW-Duration-Ms: 22600\r\n"));
        assert!(head.contains("\r\nX-UMGW-Received: 1700000000123\r\n"));
        assert!(head.contains("\r\nMessage-ID: <1700000000123."));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(text.contains("Length:   23 seconds\r\n"));
        assert!(text.contains("Content-Disposition: attachment; filename=\"voicemail.wav\"\r\n"));
        // base64 wrapped at 76 columns.
        let b64_lines: Vec<&str> = text
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Content-Transfer-Encoding: base64"))
            .skip(2)
            .take_while(|l| !l.starts_with("--"))
            .collect();
        assert!(b64_lines.len() > 1);
        assert!(b64_lines[..b64_lines.len() - 1]
            .iter()
            .all(|l| l.len() == 76));
        // Boundaries and Message-IDs are random.
        let again = render(
            &sample(MessageKind::VoiceMail),
            Some(&wav),
            "gw1.contoso.com",
        );
        assert_ne!(bytes, again);
    }

    #[test]
    fn round_trip_preserves_fields_and_wav_bytes() {
        let wav = wav_bytes(8000 * 3 + 1);
        let msg = sample(MessageKind::VoiceMail);
        let p = parse(&render(&msg, Some(&wav), "h")).unwrap();
        assert_eq!(p.kind, MessageKind::VoiceMail);
        assert_eq!(p.caller, msg.caller);
        assert_eq!(p.mailbox_address, msg.mailbox_address);
        assert_eq!(p.call_id, msg.call_id);
        assert_eq!(p.duration, Duration::from_millis(22_600));
        assert_eq!(p.received, msg.received);
        assert_eq!(p.subject, "Voice mail from Bob Kelly (+14255550123), 0:23");
        assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
        let r = hound::WavReader::new(std::io::Cursor::new(p.audio_wav.unwrap())).unwrap();
        assert_eq!(r.len(), 8000 * 3 + 1);
    }

    #[test]
    fn missed_call_without_caller_or_audio() {
        let mut msg = sample(MessageKind::MissedCall);
        msg.caller = None;
        msg.caller_name = Some(" \t".into());
        msg.audio = None;
        let bytes = render(&msg, None, "h");
        assert_well_formed(&bytes);
        let p = parse(&bytes).unwrap();
        assert_eq!(p.kind, MessageKind::MissedCall);
        assert_eq!(p.subject, "Missed call from Unknown caller");
        assert_eq!(p.caller, None);
        assert_eq!(p.audio_wav, None);
        assert!(!p
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("X-UMGW-Caller")));
    }

    #[test]
    fn header_injection_is_impossible() {
        let mut msg = sample(MessageKind::VoiceMail);
        let evil = "+1\r\nX-UMGW-Kind: missed-call\r\nBcc: victim@example.com\n\r\nbody";
        msg.caller = Some(evil.into());
        msg.caller_name = Some(evil.into());
        msg.call_id = evil.into();
        msg.mailbox_name = Some(evil.into());
        let bytes = render(&msg, None, "h\r\nBcc: x");
        assert_well_formed(&bytes);
        let head = header_section(&bytes);
        assert!(!head.contains("\r\nBcc"), "{head}");
        let kind_lines = head
            .split("\r\n")
            .filter(|l| l.starts_with("X-UMGW-Kind"))
            .count();
        assert_eq!(kind_lines, 1, "{head}");
        let p = parse(&bytes).unwrap();
        assert_eq!(p.kind, MessageKind::VoiceMail);
        assert_eq!(p.caller.as_deref(), Some(evil));
        assert_eq!(p.call_id, evil);
        assert!(p
            .subject
            .starts_with("Voice mail from +1 X-UMGW-Kind: missed-call Bcc:"));
        assert!(!p.subject.contains(['\r', '\n']));
    }

    #[test]
    fn unicode_display_names_are_rfc2047() {
        let mut msg = sample(MessageKind::VoiceMail);
        msg.caller_name = Some("Zoë Ångström".into());
        msg.mailbox_name = Some("José Müller".into());
        let bytes = render(&msg, None, "h");
        assert_well_formed(&bytes);
        let head = header_section(&bytes);
        assert!(head.contains("Subject: =?utf-8?b?"), "{head}");
        assert!(head.contains("To: =?utf-8?b?"), "{head}");
        let p = parse(&bytes).unwrap();
        assert_eq!(
            p.subject,
            "Voice mail from Zoë Ångström (+14255550123), 0:23"
        );
        let to = &p.headers.iter().find(|(n, _)| n == "To").unwrap().1;
        assert_eq!(to, "José Müller <alice@contoso.com>");
    }

    #[test]
    fn parse_tolerates_lf_and_folding_and_q_words() {
        let wav = wav_bytes(10);
        let crlf = render(&sample(MessageKind::VoiceMail), Some(&wav), "h");
        let lf = String::from_utf8(crlf.clone())
            .unwrap()
            .replace("\r\n", "\n");
        let a = parse(&crlf).unwrap();
        let b = parse(lf.as_bytes()).unwrap();
        assert_eq!(a, b);

        let b64 = STANDARD.encode(&wav);
        let handmade = format!(
            "x-umgw-kind:\n  Voice-Mail\nX-UMGW-Mailbox: sip:alice@contoso.com\n\
             X-UMGW-Call-ID: abc\nX-UMGW-Duration-Ms: 5\nX-UMGW-Received: 7\n\
             X-UMGW-Caller: =?ISO-8859-1?Q?J=F6rg_?=\n\t=?utf-8?B?w6k?=\nSubject: a\n b\n\
             Content-Type: multipart/mixed;\n boundary=XYZ\n\npreamble\n--XYZ\n\nhi\n--XYZ\n\
             Content-Type: audio/x-wav; name=v.wav\nContent-Transfer-Encoding: BASE64\n\n{}\n{}\n--XYZ--\n",
            &b64[..10],
            &b64[10..]
        );
        let p = parse(handmade.as_bytes()).unwrap();
        assert_eq!(p.kind, MessageKind::VoiceMail);
        assert_eq!(p.caller.as_deref(), Some("Jörg é"));
        assert_eq!(p.subject, "a b");
        assert_eq!(p.received, UNIX_EPOCH + Duration::from_millis(7));
        assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
    }

    #[test]
    fn rfc2047_decoding_vectors() {
        // RFC 2047 §8 examples.
        assert_eq!(decode_words("=?ISO-8859-1?Q?a?="), "a");
        assert_eq!(decode_words("=?ISO-8859-1?Q?a?= b"), "a b");
        assert_eq!(decode_words("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(
            decode_words("=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?="),
            "ab"
        );
        assert_eq!(decode_words("=?ISO-8859-1?Q?a_b?="), "a b");
        // Unsupported charsets stay as they are.
        assert_eq!(
            decode_words("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="),
            "a =?ISO-8859-2?Q?_b?="
        );
        // A UTF-8 character split across two words.
        assert_eq!(decode_words("=?utf-8?b?w6k=?= =?utf-8?b?4oKs?="), "é€");
        assert_eq!(decode_words("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?="), "€");
        assert_eq!(decode_words("not =? a word ?= x"), "not =? a word ?= x");
        assert_eq!(decode_words("=?utf-8?b?!!!?="), "=?utf-8?b?!!!?=");
    }

    #[test]
    fn parse_errors() {
        let good =
            String::from_utf8(render(&sample(MessageKind::VoiceMail), Some(b"RIFF"), "h")).unwrap();
        let cases: Vec<(String, MessageError)> = vec![
            (
                good.replace("X-UMGW-Kind: voice-mail\r\n", ""),
                MessageError::MissingHeader(H_KIND),
            ),
            (
                good.replace("X-UMGW-Kind: voice-mail", "X-UMGW-Kind: fax"),
                bad(H_KIND, "fax", "expected voice-mail or missed-call"),
            ),
            (
                good.replace("X-UMGW-Duration-Ms: 22600", "X-UMGW-Duration-Ms: -1"),
                bad(
                    H_DURATION_MS,
                    "-1",
                    "expected milliseconds as an unsigned integer",
                ),
            ),
            (
                good.replace(
                    "X-UMGW-Kind: voice-mail\r\n",
                    "X-UMGW-Kind: voice-mail\r\nX-UMGW-Kind: missed-call\r\n",
                ),
                MessageError::DuplicateHeader(H_KIND),
            ),
            (
                good.rsplit_once("--umgw-").unwrap().0.to_owned(),
                MessageError::Mime("multipart body without closing delimiter (truncated?)"),
            ),
            (
                format!(" folded\r\n{good}"),
                MessageError::BadHeaderLine {
                    line: 1,
                    why: "continuation line before any header",
                },
            ),
            (
                format!("garbage\r\n{good}"),
                MessageError::BadHeaderLine {
                    line: 1,
                    why: "no ':' in header line",
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()), Err(want));
        }
        let bad_b64 = good.replace("UklGRg==", "UklGRg=!");
        assert!(matches!(
            parse(bad_b64.as_bytes()),
            Err(MessageError::AudioBase64(_))
        ));
    }

    proptest! {
        #[test]
        fn caller_strings_round_trip(
            caller in proptest::option::of("(\\PC|[\r\n\t ]|=\\?){0,120}"),
            name in proptest::option::of("(\\PC|[\r\n\t ]){0,60}"),
            call_id in "(\\PC|[\r\n]){0,80}",
            ms in 0u64..4_000_000_000_000,
            wav in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut msg = sample(MessageKind::VoiceMail);
            msg.caller = caller.clone();
            msg.caller_name = name;
            msg.call_id = call_id.clone();
            msg.received = UNIX_EPOCH + Duration::from_micros(ms * 1000 + 999);
            let bytes = render(&msg, Some(&wav), "h");
            assert_well_formed(&bytes);
            let head = header_section(&bytes);
            let names: Vec<&str> = head
                .split("\r\n")
                .filter(|l| !l.is_empty() && !l.starts_with(' '))
                .map(|l| l.split(':').next().unwrap())
                .collect();
            prop_assert!(names.iter().all(|n| n.starts_with("X-UMGW-")
                || ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"].contains(n)),
                "{:?}", names);
            let p = parse(&bytes).unwrap();
            prop_assert_eq!(p.caller, caller.filter(|c| !c.trim().is_empty()));
            prop_assert_eq!(p.call_id, call_id);
            prop_assert_eq!(p.received, UNIX_EPOCH + Duration::from_millis(ms));
            prop_assert_eq!(p.kind, MessageKind::VoiceMail);
            prop_assert_eq!(p.audio_wav, Some(wav));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mangled_messages(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
            let mut b = render(&sample(MessageKind::VoiceMail), Some(b"RIFF....WAVE"), "h");
            let flip = flip % b.len();
            b[flip] = byte;
            b.truncate(cut.min(b.len()));
            let _ = parse(&b);
        }
    }
}
