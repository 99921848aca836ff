//! RFC 2047 encoded-words: how caller-controlled text reaches a header without ever starting
//! a new one (reading them back is mail-parser's, see [`super::parse_header_section`]).

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

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

/// Decodes RFC 2047 encoded-words in `s` as [`super::parse_header_section`] does (the
/// decoding vectors in the tests).
#[cfg(test)]
pub(super) fn decode_words(s: &str) -> String {
    super::parse_header_section(format!("X: {s}\r\n").as_bytes())
        .ok()
        .and_then(|h| h.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// One encoded-word found in a header section: `=?charset?enc?text?=` at `start..end`.
struct Word<'a> {
    start: usize,
    end: usize,
    charset: &'a [u8],
    b: bool,
    text: &'a [u8],
}

/// The encoded-word starting at `at` (just at its `=?`), if one does.
fn word_at(head: &[u8], at: usize) -> Option<Word<'_>> {
    let token = |b: &u8| b.is_ascii_graphic() && *b != b'?';
    let cs_at = at + 2;
    let cs_len = head.get(cs_at..)?.iter().take_while(|b| token(b)).count();
    let rest = &head[cs_at + cs_len..];
    let b = match rest.get(..3)? {
        b"?b?" | b"?B?" => true,
        b"?q?" | b"?Q?" => false,
        _ => return None,
    };
    let text_at = cs_at + cs_len + 3;
    let text_len = head[text_at..].iter().take_while(|b| token(b)).count();
    let end = text_at + text_len;
    if cs_len == 0 || !head[end..].starts_with(b"?=") {
        return None;
    }
    Some(Word {
        start: at,
        end: end + 2,
        charset: &head[cs_at..cs_at + cs_len],
        b,
        text: &head[text_at..end],
    })
}

/// Only blanks (folding included) between two encoded-words of one header.
fn blank_gap(gap: &[u8]) -> bool {
    gap.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        && gap
            .iter()
            .enumerate()
            .all(|(i, &b)| b != b'\n' || matches!(gap.get(i + 1), Some(b' ' | b'\t')))
}

/// `head` with each run of adjacent encoded-words of one charset and encoding joined into one
/// word, and B words padded: other writers split a character across words and leave out the
/// `=` padding, and mail-parser decodes each word alone (a split character becomes U+FFFD, an
/// unpadded word loses its last bytes). Decoding and charsets stay mail-parser's.
pub(super) fn join_words(head: &[u8]) -> Cow<'_, [u8]> {
    let mut words = Vec::new();
    let mut i = 0;
    while let Some(p) = head[i..].windows(2).position(|w| w == b"=?") {
        match word_at(head, i + p) {
            Some(w) => {
                i = w.end;
                words.push(w);
            }
            None => i += p + 2,
        }
    }
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut run_start = 0;
    for k in 0..words.len() {
        let next = words.get(k + 1);
        let joins = next.is_some_and(|n| {
            n.b == words[k].b
                && n.charset.eq_ignore_ascii_case(words[k].charset)
                && blank_gap(&head[words[k].end..n.start])
        });
        if joins {
            continue;
        }
        let run = &words[run_start..=k];
        run_start = k + 1;
        let first = &run[0];
        let text: Vec<u8> = if first.b {
            if run.len() == 1 && first.text.len() % 4 == 0 {
                continue;
            }
            let mut bytes = Vec::new();
            let mut ok = true;
            for w in run {
                match B64_LENIENT.decode(w.text) {
                    Ok(b) => bytes.extend(b),
                    Err(_) => ok = false,
                }
            }
            if !ok {
                continue;
            }
            STANDARD.encode(bytes).into_bytes()
        } else {
            if run.len() == 1 {
                continue;
            }
            run.iter().flat_map(|w| w.text.iter().copied()).collect()
        };
        let out = out.get_or_insert_with(|| Vec::with_capacity(head.len()));
        out.extend_from_slice(&head[copied..first.start]);
        out.extend_from_slice(b"=?");
        out.extend_from_slice(first.charset);
        out.extend_from_slice(if first.b { b"?B?" } else { b"?Q?" });
        out.extend_from_slice(&text);
        out.extend_from_slice(b"?=");
        copied = run[run.len() - 1].end;
    }
    match out {
        Some(mut out) => {
            out.extend_from_slice(&head[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(head),
    }
}
