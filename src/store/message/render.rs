//! Writing a message: headers (the `X-UMGW-*` ones exactly, Exchange UM's for mail clients, the
//! human ones cleaned and capped), the text part a person reads, and the WAV attachment.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;

use super::rfc2047::{encoded_words, unstructured};
use super::*;
use crate::domain::Preview;
use crate::store::NewMessage;

/// Longest display string (caller name, number) used in Subject/To/body, in characters.
const DISPLAY_MAX_CHARS: usize = 100;

/// Renders `msg` as an RFC 5322 message with CRLF line ends.
///
/// `audio_wav` is the recording's bytes (attached as [`AUDIO_FILE_NAME`]); `message_id_host` is used
/// in `From` and `Message-ID` (sanitised to `[A-Za-z0-9.-]`, `localhost` if nothing is left).
/// A caller that is absent or blank is "Unknown caller" and gets no `X-UMGW-Caller` header.
/// The MIME boundary and the unique part of `Message-ID` come from `rng`. A voice mail's
/// preview (if any) opens the text part, before the attachment, as Exchange UM puts it at the
/// top of the body.
pub fn render(
    msg: &NewMessage,
    audio_wav: Option<&[u8]>,
    message_id_host: &str,
    rng: &mut impl Rng,
) -> Vec<u8> {
    render_to(msg, audio_wav, message_id_host, None, rng)
}

/// Who a copy of a message sent by e-mail is from and to, in place of the mailbox's own
/// `From`/`To` (`NotifyEmail`).
#[derive(Debug, Clone, Copy)]
pub struct Addressing<'a> {
    /// Display name of the sender, if any.
    pub from_name: Option<&'a str>,
    /// The sender's address (`voicemail@contoso.com`), already validated.
    pub from: &'a str,
    /// The recipient's address, already validated.
    pub to: &'a str,
}

/// [`render`], addressed as `addressing` says when it is given.
pub fn render_to(
    msg: &NewMessage,
    audio_wav: Option<&[u8]>,
    message_id_host: &str,
    addressing: Option<&Addressing<'_>>,
    rng: &mut impl Rng,
) -> Vec<u8> {
    let host = sanitize_host(message_id_host);
    let received_ms = unix_ms(msg.received);
    let duration_ms = u64::try_from(msg.duration.as_millis()).unwrap_or(u64::MAX);
    let who = caller_phrase(msg);
    let date = format_rfc5322_date(received_ms / 1000);
    let boundary = format!("umgw-{:032x}", rng.gen::<u128>());

    let subject = match msg.kind {
        MessageKind::VoiceMail if msg.forwarded.is_some() => format!(
            "Voice mail forwarded by {who}, {}",
            short_duration(duration_ms)
        ),
        MessageKind::VoiceMail => format!("Voice mail from {who}, {}", short_duration(duration_ms)),
        MessageKind::MissedCall => format!("Missed call from {who}"),
    };

    let mut h = String::with_capacity(1024);
    h.push_str(&format!("Date: {date}\r\n"));
    match addressing {
        Some(a) => {
            h.push_str(&address_header("From", a.from_name.unwrap_or(""), a.from));
            h.push_str(&address_header("To", "", a.to));
        }
        None => {
            h.push_str(&format!("From: Voice Mail <umgw@{host}>\r\n"));
            h.push_str(&to_header(msg));
        }
    }
    h.push_str(&unstructured("Subject", &subject));
    h.push_str(&format!(
        "Message-ID: <{received_ms}.{:032x}@{host}>\r\n",
        rng.gen::<u128>()
    ));
    h.push_str("MIME-Version: 1.0\r\n");
    um_headers(&mut h, msg, duration_ms, audio_wav.is_some());
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
        .filter(|d| crate::store::valid_delivery_id(d))
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
    if let Some(f) = &msg.forwarded {
        h.push_str(&unstructured(H_FORWARDED_BY, &f.by));
        if let Some(c) = non_blank(f.caller.as_deref()) {
            h.push_str(&unstructured(H_ORIGINAL_CALLER, c));
        }
        h.push_str(&format!(
            "{H_ORIGINAL_RECEIVED}: {}\r\n",
            unix_ms(f.received)
        ));
    }
    h.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    h.push_str("This is a multi-part message in MIME format.\r\n");

    // Text part. Display strings are cleaned and capped, so lines stay far below 998 bytes.
    let mut text = msg.preview.as_ref().map(preview_text).unwrap_or_default();
    text.push_str(&body_text(
        msg,
        &who,
        &date,
        duration_ms,
        audio_wav.is_some(),
    ));
    let cte = if text.is_ascii() { "7bit" } else { "8bit" };
    h.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{text}"
    ));

    let mut out = h.into_bytes();
    if let Some(wav) = audio_wav {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=\"{AUDIO_FILE_NAME}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(&base64_lines(wav));
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// The first line of a Voice Mail Preview in the text part.
pub const PREVIEW_HEADING: &str = "Voice Mail Preview:";
/// The line after a preview of low overall confidence.
pub(super) const LOW_CONFIDENCE_NOTE: &str =
    "(Low confidence: the preview may differ from what was said.)";
/// The line after a preview with uncertain words.
pub(super) const UNCERTAIN_NOTE: &str = "(Words in [brackets] are uncertain.)";

/// `bytes` in base64, in CRLF-ended lines of 76 characters (RFC 2045 6.8).
pub(crate) fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let b64 = STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(b64.len() + b64.len() / 38 + 2);
    for chunk in b64.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The headers Exchange UM writes for call-answering voice mail and missed calls, so that
/// Outlook, OWA and Lync's voice-mail tab list the message as such: `Content-Class` (the
/// message class, [MS-OXCMAIL] 2.1.3.2.2) and the Unified Messaging headers of
/// [MS-OXCMAIL] 2.1.3.2.3. The length and the attachment order only with an attachment: they
/// describe it. The caller's number and name are for people: cleaned and capped as in the
/// Subject, then RFC 2047 encoded where not plain ASCII; the Call-ID is kept exactly (it must
/// match the call's), encoded as the `X-UMGW-*` values are.
fn um_headers(h: &mut String, msg: &NewMessage, duration_ms: u64, audio: bool) {
    h.push_str(&format!(
        "{H_CONTENT_CLASS}: {}\r\n",
        content_class(msg.kind)
    ));
    let number = non_blank(msg.caller.as_deref()).map(calling_number);
    if let Some(number) = number.filter(|n| !n.is_empty()) {
        h.push_str(&unstructured(H_CALLING_NUMBER, &number));
    }
    let name = msg.caller_name.as_deref().map(clean_display);
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        h.push_str(&unstructured(H_SENDER_NAME, &name));
    }
    if audio {
        h.push_str(&format!(
            "{H_VOICE_DURATION}: {}\r\n",
            voice_message_secs(duration_ms)
        ));
        h.push_str(&format!("{H_ATTACHMENT_ORDER}: {AUDIO_FILE_NAME}\r\n"));
    }
    if let Some(id) = non_blank(Some(&msg.call_id)) {
        h.push_str(&unstructured(H_UM_CALL_ID, id));
    }
    if msg.marks.urgent {
        h.push_str(&format!(
            "{H_IMPORTANCE}: High\r\n{H_PRIORITY}: Urgent\r\n{H_X_PRIORITY}: 1\r\n"
        ));
    }
    if msg.marks.private {
        h.push_str(&format!("{H_SENSITIVITY}: Private\r\n"));
    }
}

/// `X-VoiceMessageDuration`: whole seconds rounded half up (22.6 s is 23, as the Subject's
/// `0:23`), at least 1: [MS-OXCMAIL] 2.1.3.2.3 wants a positive value, and a recording of
/// under half a second is still a voice mail.
pub(super) fn voice_message_secs(duration_ms: u64) -> u64 {
    rounded_secs(duration_ms).max(1)
}

/// The caller as `X-CallingTelephoneNumber`: a number one can dial back
/// (`sip:+14255550123@host;user=phone` is `+14255550123`), else the caller's URI as it came,
/// cleaned (`sip:bob@contoso.com`).
pub(super) fn calling_number(caller: &str) -> String {
    let number = display_number(caller);
    if dialable(&number) {
        number
    } else {
        clean_display(caller)
    }
}

/// `+14255550123`, `1001`, `+1-425-555-0123`: digits, dashes, an optional leading `+`.
fn dialable(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-')
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
pub(super) fn display_number(caller: &str) -> String {
    let s = caller.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = s.to_ascii_lowercase();
    let s = ["sips:", "sip:", "tel:"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map_or(s, |p| &s[p.len()..]);
    let s = s.split([';', '?']).next().unwrap_or(s);
    if let Some((user, _host)) = s.split_once('@') {
        if dialable(user) {
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
pub(super) fn short_duration(ms: u64) -> String {
    let s = rounded_secs(ms);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `23 seconds`, `1 minute 5 seconds`, `2 hours 1 minute`.
pub(super) fn words_duration(ms: u64) -> String {
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
    if let Some(f) = &msg.forwarded {
        let original = non_blank(f.caller.as_deref()).map_or_else(
            || "an unknown caller".to_owned(),
            |c| clean_display(&display_number(c)),
        );
        let when = format_rfc5322_date(unix_ms(f.received) / 1000);
        t.push_str(&format!(
            "\r\n{who} forwarded this voice mail (a comment of theirs, if any, comes first).\r\nThe original is from {original}, received {when}.\r\n"
        ));
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
        t.push_str(&format!(
            "\r\nThe message is attached as {AUDIO_FILE_NAME}.\r\n"
        ));
    }
    t
}

/// The preview block: heading, the transcript wrapped below 80 columns, a note on what the
/// brackets mean (or on low confidence), and a blank line before the rest of the text.
fn preview_text(p: &Preview) -> String {
    let mut t = format!("{PREVIEW_HEADING}\r\n");
    let mut line = String::new();
    for word in p.text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > 76 {
            t.push_str(&line);
            t.push_str("\r\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        // A caller's words cannot be longer than a line allows (RFC 5322: 998 bytes).
        line.extend(word.chars().take(200));
    }
    t.push_str(&line);
    t.push_str("\r\n");
    if p.low_confidence {
        t.push_str(&format!("{LOW_CONFIDENCE_NOTE}\r\n"));
    } else if p.text.contains('[') {
        t.push_str(&format!("{UNCERTAIN_NOTE}\r\n"));
    }
    t.push_str("\r\n");
    t
}

/// `To:` with the mailbox's display name and e-mail form of its address.
fn to_header(msg: &NewMessage) -> String {
    let Some(addr) = email_address(&msg.mailbox_address) else {
        return "To: undisclosed-recipients:;\r\n".to_owned();
    };
    address_header("To", msg.mailbox_name.as_deref().unwrap_or(""), &addr)
}

/// `Field: "Display Name"\r\n <addr>` (the name cleaned, quoted or RFC 2047-encoded), or
/// `Field: <addr>` without a name.
fn address_header(field: &str, name: &str, addr: &str) -> String {
    let name = clean_display(name);
    if name.is_empty() {
        return format!("{field}: <{addr}>\r\n");
    }
    let phrase = if name.is_ascii() && !name.contains("=?") {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        encoded_words(&name).join("\r\n ")
    };
    format!("{field}: {phrase}\r\n <{addr}>\r\n")
}

/// `sip:alice@contoso.com;opaque=x` → `alice@contoso.com`; `None` if no plain addr-spec results.
pub(super) fn email_address(address: &str) -> Option<String> {
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
