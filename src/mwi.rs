//! Message waiting indication: RFC 3842 `application/simple-message-summary` bodies.
//!
//! Counts come from the store ([`crate::store::Mailbox::counts`]), never from gateway memory, so
//! a restart re-sends the right lamp state. Only voice mails are counted (missed-call notices are
//! not `Voice-Message`s). The urgent counts are the voice mails the caller marked urgent in the
//! options after `#` (`Voice-Message: new/old (urgent_new/urgent_old)`, RFC 3842 §5.2), always
//! written, the form phones and Lync read.

use crate::domain::Counts;
use crate::sip::endpoint::Notification;

/// A parsed message-summary body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    /// `Messages-Waiting: yes`.
    pub waiting: bool,
    /// `Message-Account`, if present.
    pub account: Option<String>,
    /// New voice messages (`Voice-Message: new/old`; 0 if the line is absent).
    pub voice_new: u32,
    /// Old voice messages.
    pub voice_old: u32,
    /// New urgent voice messages (`(urgent_new/urgent_old)`; 0 if absent).
    pub voice_urgent_new: u32,
    /// Old urgent voice messages.
    pub voice_urgent_old: u32,
}

/// Why a message-summary body was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MwiError {
    /// The mandatory `Messages-Waiting` line is absent.
    #[error("missing Messages-Waiting line")]
    MissingMessagesWaiting,
    /// A line is not `Name: value`.
    #[error("line {line}: expected \"Name: value\"")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
    /// A known field has an invalid value.
    #[error("line {line}: invalid {name} value {value:?}")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// Field name.
        name: &'static str,
        /// The value (truncated).
        value: String,
    },
    /// A field that may appear once appears again.
    #[error("line {line}: duplicate {name}")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// Field name.
        name: &'static str,
    },
}

/// The event package of a message-summary NOTIFY (RFC 3842).
pub const EVENT: &str = "message-summary";

/// The content type of its body.
pub const CONTENT_TYPE: &str = "application/simple-message-summary";

/// A message-summary body ([`message_summary_body`]) as the content of the unsolicited NOTIFY
/// the endpoint sends ([`crate::sip::endpoint::Endpoint::send_notify`]).
pub fn notification(body: String) -> Notification {
    Notification {
        event: EVENT,
        content_type: CONTENT_TYPE,
        body: body.into_bytes(),
    }
}

/// The body of a message-summary NOTIFY for `account` (e.g. `sip:alice@contoso.com`):
/// `Messages-Waiting: yes|no` (yes iff `counts.new > 0`), `Message-Account`, `Voice-Message:
/// new/old (urgent new/urgent old)`, CRLF line ends, as Exchange UM sends it to Lync (with the
/// urgent counts RFC 3842 §5.2 allows). Control characters in `account` are
/// dropped; a blank account omits the optional `Message-Account` line.
pub fn message_summary_body(account: &str, counts: Counts) -> String {
    let waiting = if counts.new > 0 { "yes" } else { "no" };
    let account: String = account.chars().filter(|c| !c.is_control()).collect();
    let account = account.trim();
    let mut body = format!("Messages-Waiting: {waiting}\r\n");
    if !account.is_empty() {
        body.push_str(&format!("Message-Account: {account}\r\n"));
    }
    body.push_str(&format!(
        "Voice-Message: {}/{} ({}/{})\r\n",
        counts.new, counts.old, counts.urgent_new, counts.urgent_old
    ));
    body
}

/// Parses a message-summary body: case-insensitive names, LF or CRLF, optional urgent counts
/// (`8/3 (1/0)`), other message classes and unknown fields ignored, and parsing stops
/// at the blank line before optional message headers.
pub fn parse_message_summary(body: &str) -> Result<MessageSummary, MwiError> {
    let mut waiting: Option<bool> = None;
    let mut account: Option<String> = None;
    let mut voice: Option<[u32; 4]> = None;
    for (idx, raw) in body.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            // A blank line ends the summary (RFC 3842 opt-msg-headers follow); a body that has
            // not started yet may have leading blank lines.
            if waiting.is_some() || account.is_some() || voice.is_some() {
                break;
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(MwiError::BadLine { line: line_no });
        };
        let name = name.trim();
        let value = value.trim();
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(MwiError::BadLine { line: line_no });
        }
        if name.eq_ignore_ascii_case("Messages-Waiting") {
            const N: &str = "Messages-Waiting";
            if waiting.is_some() {
                return Err(MwiError::Duplicate {
                    line: line_no,
                    name: N,
                });
            }
            waiting = Some(if value.eq_ignore_ascii_case("yes") {
                true
            } else if value.eq_ignore_ascii_case("no") {
                false
            } else {
                return Err(bad_value(line_no, N, value));
            });
        } else if name.eq_ignore_ascii_case("Message-Account") {
            const N: &str = "Message-Account";
            if account.is_some() {
                return Err(MwiError::Duplicate {
                    line: line_no,
                    name: N,
                });
            }
            if value.is_empty() {
                return Err(bad_value(line_no, N, value));
            }
            account = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("Voice-Message") {
            const N: &str = "Voice-Message";
            if voice.is_some() {
                return Err(MwiError::Duplicate {
                    line: line_no,
                    name: N,
                });
            }
            voice = Some(parse_counts(value).ok_or_else(|| bad_value(line_no, N, value))?);
        }
        // Other classes (Fax-Message, ...) and extension fields are not ours to interpret.
    }
    let waiting = waiting.ok_or(MwiError::MissingMessagesWaiting)?;
    let [voice_new, voice_old, voice_urgent_new, voice_urgent_old] = voice.unwrap_or([0; 4]);
    Ok(MessageSummary {
        waiting,
        account,
        voice_new,
        voice_old,
        voice_urgent_new,
        voice_urgent_old,
    })
}

fn bad_value(line: usize, name: &'static str, value: &str) -> MwiError {
    MwiError::BadValue {
        line,
        name,
        value: value.chars().take(80).collect(),
    }
}

/// `N/M` optionally followed by `(U/V)` urgent counts, which must be well-formed too:
/// `[new, old, urgent new, urgent old]`.
fn parse_counts(value: &str) -> Option<[u32; 4]> {
    let (main, urgent) = match value.split_once('(') {
        Some((m, rest)) => (m.trim(), Some(rest.strip_suffix(')')?)),
        None => (value, None),
    };
    let (urgent_new, urgent_old) = match urgent {
        Some(u) => pair(u)?,
        None => (0, 0),
    };
    let (new, old) = pair(main)?;
    Some([new, old, urgent_new, urgent_old])
}

fn pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('/')?;
    Some((number(a)?, number(b)?))
}

/// A decimal count: digits only (no sign, no blanks inside), fits in u32.
fn number(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_body_bytes() {
        let b = message_summary_body(
            "sip:alice@contoso.com",
            Counts {
                new: 8,
                old: 3,
                ..Counts::default()
            },
        );
        assert_eq!(
            b,
            "Messages-Waiting: yes\r\nMessage-Account: sip:alice@contoso.com\r\nVoice-Message: 8/3 (0/0)\r\n"
        );
        let b = message_summary_body(
            "sip:bob@contoso.com",
            Counts {
                new: 0,
                old: 2,
                ..Counts::default()
            },
        );
        assert_eq!(
            b,
            "Messages-Waiting: no\r\nMessage-Account: sip:bob@contoso.com\r\nVoice-Message: 0/2 (0/0)\r\n"
        );
        let b = message_summary_body("", Counts::default());
        assert_eq!(b, "Messages-Waiting: no\r\nVoice-Message: 0/0 (0/0)\r\n");
        let urgent = Counts {
            new: 3,
            old: 2,
            urgent_new: 1,
            urgent_old: 2,
        };
        let b = message_summary_body("sip:carol@contoso.com", urgent);
        assert_eq!(
            b,
            "Messages-Waiting: yes\r\nMessage-Account: sip:carol@contoso.com\r\nVoice-Message: 3/2 (1/2)\r\n"
        );
    }

    #[test]
    fn account_cannot_inject_lines() {
        let b = message_summary_body(
            "sip:a@b\r\nVoice-Message: 9/9",
            Counts {
                new: 1,
                old: 0,
                ..Counts::default()
            },
        );
        assert_eq!(b.matches("\r\n").count(), 3, "{b:?}");
        let s = parse_message_summary(&b).unwrap();
        assert_eq!((s.voice_new, s.voice_old), (1, 0));
    }

    #[test]
    fn parses_rfc3842_example_with_urgent_and_extra_classes() {
        let body = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n\
                    Voice-Message: 2/8 (0/2)\r\nFax-Message: 1/0\r\n\r\n\
                    To: <alice@atlanta.example.com>\r\nSubject: lunch\r\n";
        let s = parse_message_summary(body).unwrap();
        assert_eq!(
            s,
            MessageSummary {
                waiting: true,
                account: Some("sip:alice@vmail.example.com".into()),
                voice_new: 2,
                voice_old: 8,
                voice_urgent_new: 0,
                voice_urgent_old: 2,
            }
        );
    }

    #[test]
    fn tolerant_of_case_lf_and_missing_voice_line() {
        let s = parse_message_summary("messages-waiting: NO\nvoice-message:0/5\n").unwrap();
        assert!(!s.waiting);
        assert_eq!((s.voice_new, s.voice_old, s.account), (0, 5, None));
        let s = parse_message_summary("Messages-Waiting: yes").unwrap();
        assert_eq!((s.waiting, s.voice_new, s.voice_old), (true, 0, 0));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: &[(&str, MwiError)] = &[
            ("", MwiError::MissingMessagesWaiting),
            ("Voice-Message: 1/0\r\n", MwiError::MissingMessagesWaiting),
            ("Messages-Waiting yes\r\n", MwiError::BadLine { line: 1 }),
            (
                "Messages-Waiting: maybe\r\n",
                bad_value(1, "Messages-Waiting", "maybe"),
            ),
            (
                "Messages-Waiting: yes\r\nVoice-Message: 1\r\n",
                bad_value(2, "Voice-Message", "1"),
            ),
            (
                "Messages-Waiting: yes\r\nVoice-Message: -1/0\r\n",
                bad_value(2, "Voice-Message", "-1/0"),
            ),
            (
                "Messages-Waiting: yes\r\nVoice-Message: 4294967296/0\r\n",
                bad_value(2, "Voice-Message", "4294967296/0"),
            ),
            (
                "Messages-Waiting: yes\r\nVoice-Message: 1/0 (x/0)\r\n",
                bad_value(2, "Voice-Message", "1/0 (x/0)"),
            ),
            (
                "Messages-Waiting: yes\r\nVoice-Message: 1/0 (1/0\r\n",
                bad_value(2, "Voice-Message", "1/0 (1/0"),
            ),
            (
                "Messages-Waiting: yes\r\nMessages-Waiting: no\r\n",
                MwiError::Duplicate {
                    line: 2,
                    name: "Messages-Waiting",
                },
            ),
            (
                "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nVoice-Message: 2/0\r\n",
                MwiError::Duplicate {
                    line: 3,
                    name: "Voice-Message",
                },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse_message_summary(body).as_ref(), Err(want), "{body:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            new in any::<u32>(), old in any::<u32>(), un in any::<u32>(), uo in any::<u32>(),
            user in "[a-z0-9.]{1,20}",
        ) {
            let account = format!("sip:{user}@contoso.com");
            let counts = Counts { new, old, urgent_new: un, urgent_old: uo };
            let body = message_summary_body(&account, counts);
            let s = parse_message_summary(&body).unwrap();
            prop_assert_eq!(s, MessageSummary {
                waiting: new > 0, account: Some(account), voice_new: new, voice_old: old,
                voice_urgent_new: un, voice_urgent_old: uo,
            });
        }

        #[test]
        fn never_panics(body in "\\PC{0,200}") {
            let _ = parse_message_summary(&body);
        }
    }
}
