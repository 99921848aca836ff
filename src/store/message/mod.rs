//! The stored message format: RFC 5322 + MIME, CRLF line ends, the one place that writes and
//! reads it.
//!
//! Layout: standard headers (Date, From, To, Subject, Message-ID, MIME-Version), the headers
//! Exchange UM writes so Outlook, OWA and Lync list the message as voice mail or a missed call
//! ([`UmHeaders`]), machine-readable `X-UMGW-*` headers (the source of truth for [`parse`]), then
//! a `multipart/mixed` body with a human-readable `text/plain` part and, for a voice mail, an
//! `audio/wav` attachment.
//!
//! Caller-controlled strings (caller number, caller name, Call-ID) never reach a header verbatim
//! unless they are short printable ASCII; anything else is written as RFC 2047 encoded-words, so a
//! CR/LF can never start a new header and `X-UMGW-*` values round-trip exactly.

mod parse;
mod render;
mod rfc2047;

use std::time::{Duration, SystemTime};

pub use parse::{header_section_len, parse, parse_header_section};
pub(crate) use render::base64_lines;
pub use render::{format_rfc5322_date, render, render_to, Addressing, PREVIEW_HEADING};

use crate::domain::{Marks, MessageKind};

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
/// A forwarded voice mail: the address of the user who forwarded it (the message's caller).
pub const H_FORWARDED_BY: &str = "X-UMGW-Forwarded-By";
/// A forwarded voice mail: who called in the original message, if known.
pub const H_ORIGINAL_CALLER: &str = "X-UMGW-Original-Caller";
/// A forwarded voice mail: when the original arrived, milliseconds since the Unix epoch.
pub const H_ORIGINAL_RECEIVED: &str = "X-UMGW-Original-Received";

/// `Content-Class` ([MS-OXCMAIL] 2.1.3.2.2): the message class a MIME reader gives the message.
pub const H_CONTENT_CLASS: &str = "Content-Class";
/// The caller's number ([MS-OXCMAIL] 2.1.3.2.3, [MS-OXOUM] 2.2.5.2).
pub const H_CALLING_NUMBER: &str = "X-CallingTelephoneNumber";
/// The caller's name ([MS-OXOUM] 2.2.5.5-6).
pub const H_SENDER_NAME: &str = "X-VoiceMessageSenderName";
/// The attached voice message's length in whole seconds ([MS-OXOUM] 2.2.5.3-4).
pub const H_VOICE_DURATION: &str = "X-VoiceMessageDuration";
/// The audio attachments' file names, newest first, `;`-separated ([MS-OXOUM] 2.2.5.9-10).
pub const H_ATTACHMENT_ORDER: &str = "X-AttachmentOrder";
/// The call's identifier, the SIP Call-ID ([MS-OXOUM] 2.2.5.11-12).
pub const H_UM_CALL_ID: &str = "X-CallID";

/// `Importance: High` on a message the caller marked urgent ([MS-OXCMAIL] 2.2.3.2.5:
/// PidTagImportance 2, high); with `Priority: Urgent` and `X-Priority: 1`, which the same
/// section maps to high importance too, for the mail clients that read only those.
pub const H_IMPORTANCE: &str = "Importance";
/// `Priority: Urgent` (see [`H_IMPORTANCE`]).
pub const H_PRIORITY: &str = "Priority";
/// `X-Priority: 1` (see [`H_IMPORTANCE`]).
pub const H_X_PRIORITY: &str = "X-Priority";
/// `Sensitivity: Private` on a message the caller marked private (PidTagSensitivity 2,
/// [MS-OXCMSG] 2.2.1.13): Outlook shows it as private.
pub const H_SENSITIVITY: &str = "Sensitivity";

/// The file name of a voice mail's audio attachment.
pub const AUDIO_FILE_NAME: &str = "voicemail.wav";

/// The Exchange UM headers of a message, read back leniently: they are for mail clients, a
/// value that does not parse is `None` rather than an error (the `X-UMGW-*` headers decide).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UmHeaders {
    /// `Content-Class`: `voice-ca` (voice mail), `missedcall` (missed-call notice).
    pub content_class: Option<String>,
    /// `X-CallingTelephoneNumber`.
    pub calling_number: Option<String>,
    /// `X-VoiceMessageSenderName`.
    pub sender_name: Option<String>,
    /// `X-VoiceMessageDuration`, seconds.
    pub duration_secs: Option<u32>,
    /// `X-AttachmentOrder`, its file names in order.
    pub attachment_order: Vec<String>,
    /// `X-CallID`.
    pub call_id: Option<String>,
}

impl UmHeaders {
    /// The message class an Exchange MIME reader assigns for the `Content-Class`
    /// ([MS-OXCMAIL] 2.2.3.2.15): what Outlook, OWA and Lync's voice-mail tab sort by.
    pub fn message_class(&self) -> Option<&'static str> {
        let class = self.content_class.as_deref()?.trim();
        [
            ("voice-ca", "IPM.Note.Microsoft.Voicemail.UM.CA"),
            ("voice", "IPM.Note.Microsoft.Voicemail.UM"),
            ("missedcall", "IPM.Note.Microsoft.Missed.Voice"),
            ("voice-uc", "IPM.Note.Microsoft.Conversation.Voice"),
            ("fax-ca", "IPM.Note.Microsoft.Fax.CA"),
            ("fax", "IPM.Note.Microsoft.Fax"),
        ]
        .into_iter()
        .find(|(value, _)| class.eq_ignore_ascii_case(value))
        .map(|(_, message_class)| message_class)
    }
}

/// The caller's marks as a message's headers say them: urgent is `Importance: high`,
/// private `Sensitivity: private` (case-insensitive); `header` looks a header up by name.
pub fn marks_from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Marks {
    let is = |name: &str, value: &str| {
        header(name).is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    Marks {
        urgent: is(H_IMPORTANCE, "high"),
        private: is(H_SENSITIVITY, "private"),
    }
}

/// The `Content-Class` a MIME writer gives a kind of message ([MS-OXCMAIL] 2.1.3.2.2): the
/// message class Exchange UM gives it ([MS-OXOUM] 2.2.2.1; a voice mail taken by call answering,
/// a missed-call notification) mapped back.
fn content_class(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::VoiceMail => "voice-ca",
        MessageKind::MissedCall => "missedcall",
    }
}

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
    /// The Voice Mail Preview opening the text part (one line, uncertain words still in
    /// brackets), if the message has one.
    pub preview: Option<String>,
    /// Bytes of the first `audio/wav` part, if any.
    pub audio_wav: Option<Vec<u8>>,
    /// That part's file name (Content-Disposition `filename`, else Content-Type `name`).
    pub audio_file_name: Option<String>,
    /// Urgent from `Importance: High`, private from `Sensitivity: Private`.
    pub marks: Marks,
    /// The Exchange UM headers.
    pub um: UmHeaders,
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
