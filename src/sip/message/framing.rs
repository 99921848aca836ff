//! Stream framing: where one message ends in a TCP/TLS byte stream (RFC 3261 §18.3).

use super::names::known_name;
use super::{parse_digits, ParseError};

/// Finds the end of the header section: index just past the blank line, accepting bare LF.
pub(super) fn header_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// For stream transports: the length of the first complete message in `buf`, if there is one.
/// Leading CRLFs (RFC 5626 keep-alives) must be stripped by the caller first.
pub fn frame_length(buf: &[u8], max: usize) -> Result<Option<usize>, ParseError> {
    let Some(head) = header_end(buf) else {
        return if buf.len() > max {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let text = std::str::from_utf8(&buf[..head]).map_err(|_| ParseError::NotText)?;
    let mut length = None;
    for line in text.split('\n') {
        // A folded continuation line belongs to the header above it, whatever it looks like.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            if known_name(name.trim()) == Some("Content-Length") {
                let value = parse_digits(value.trim()).ok_or(ParseError::BadHeader {
                    name: "Content-Length",
                    why: "not a number",
                })?;
                // RFC 4475 mcl01: two different lengths leave the framing unknown.
                if length.is_some_and(|l| l != value) {
                    return Err(ParseError::BadHeader {
                        name: "Content-Length",
                        why: "conflicting values",
                    });
                }
                length = Some(value);
            }
        }
    }
    // RFC 3261 §18.3: Content-Length is mandatory on streams.
    let length = length.ok_or(ParseError::MissingHeader("Content-Length"))?;
    let total = head.checked_add(length).ok_or(ParseError::TooLarge)?;
    if total > max {
        return Err(ParseError::TooLarge);
    }
    Ok((buf.len() >= total).then_some(total))
}
