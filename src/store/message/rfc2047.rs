//! RFC 2047 encoded-words: how caller-controlled text reaches a header without ever starting
//! a new one, and how other writers' encoded headers are read back.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Recommended header line length (RFC 5322 §2.1.1).
const LINE_MAX: usize = 78;

/// Input bytes per encoded-word: 45 bytes → 60 base64 chars → 72-char word (limit 75).
const WORD_INPUT_BYTES: usize = 45;

/// Decodes base64 with or without padding and with stray trailing bits (other writers' output).
pub(super) const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

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
pub(super) fn encoded_words(value: &str) -> Vec<String> {
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
pub(super) fn unstructured(name: &str, value: &str) -> String {
    if value.is_empty() || is_raw_safe(name, value) {
        return format!("{name}: {value}\r\n");
    }
    format!("{name}: {}\r\n", encoded_words(value).join("\r\n "))
}

/// Decodes RFC 2047 encoded-words in `s`; blanks between adjacent words are dropped and
/// adjacent words of one charset are joined before decoding (other encoders split characters).
pub(super) fn decode_words(s: &str) -> String {
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
