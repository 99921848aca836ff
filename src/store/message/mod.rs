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

mod parse;
mod render;
mod rfc2047;

use std::time::{Duration, SystemTime};

pub use parse::{header_section_len, parse, parse_header_section};
pub use render::{format_rfc5322_date, render};

use crate::domain::MessageKind;

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

#[cfg(test)]
mod test;
