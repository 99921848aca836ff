//! IMAP4rev1 (RFC 3501) responses off the wire. Parsing is imap-proto's
//! ([`imap_proto::parser::parse_response`]); reading one whole response (a line and each `{n}`
//! literal it announces) is ours, because imap-proto has no reader and the reader is where the
//! bounds go. Server input is untrusted: responses are bounded in size and in parenthesis
//! nesting (imap-proto's parsers recurse), and a panic inside imap-proto is a malformed
//! response, not a crash.

use std::io::{BufRead, Read};

use imap_proto::types::UidSetMember;
pub use imap_proto::types::{
    AttributeValue, MailboxDatum, MessageSection, Response, ResponseCode, SectionPath, Status,
};

/// Largest literal accepted from the server (a message with a 20-minute WAV is ~26 MB in base64).
pub const LITERAL_MAX: usize = 128 * 1024 * 1024;
/// Longest response line (outside literals).
const LINE_MAX: usize = 1024 * 1024;
/// Largest response as a whole (its lines and literals).
const RESPONSE_MAX: usize = LITERAL_MAX + LINE_MAX;
/// Deepest parenthesised list accepted: imap-proto recurses once (or more) per level, and a
/// few hundred levels overflow a thread's stack.
const DEPTH_MAX: usize = 16;

/// Why a response could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The connection failed or timed out.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// The server sent something that is not IMAP.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// An untagged response imap-proto does not know (an extension's): skippable.
    #[error("unrecognised untagged response")]
    Unrecognised,
}

/// Reads one response: a line and, for each `{n}` ending a line, the literal and the rest.
pub fn read_response<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::new();
    let mut depth = 0;
    loop {
        let start = out.len();
        let n = Read::take(&mut *r, (LINE_MAX + 2) as u64).read_until(b'\n', &mut out)?;
        if n == 0 {
            return Err(ProtoError::Closed);
        }
        if !out.ends_with(b"\n") {
            return Err(if n > LINE_MAX {
                ProtoError::Malformed("line too long")
            } else {
                ProtoError::Closed
            });
        }
        if out.len() > RESPONSE_MAX {
            return Err(ProtoError::Malformed("response too large"));
        }
        depth = nesting(&out[start..], depth)?;
        let Some(len) = literal_len(&out[start..])? else {
            return Ok(out);
        };
        if len > RESPONSE_MAX - out.len() {
            return Err(ProtoError::Malformed("literal too large"));
        }
        // Grows with what arrives: an announced size is not allocated up front.
        let got = Read::take(&mut *r, len as u64).read_to_end(&mut out)?;
        if got < len {
            return Err(ProtoError::Closed);
        }
    }
}

/// The length of a literal announced at the end of `line` (`... {123}\r\n`).
fn literal_len(line: &[u8]) -> Result<Option<usize>, ProtoError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(body) = line.strip_suffix(b"}") else {
        return Ok(None);
    };
    let Some(open) = body.iter().rposition(|&b| b == b'{') else {
        return Ok(None);
    };
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .filter(|&n| n <= LITERAL_MAX)
        .map(Some)
        .ok_or(ProtoError::Malformed("literal too large"))
}

/// The parenthesis depth after `line` (outside quoted strings; literals are not passed in),
/// starting at `depth`; an error past [`DEPTH_MAX`].
fn nesting(line: &[u8], mut depth: usize) -> Result<usize, ProtoError> {
    let (mut quoted, mut escaped) = (false, false);
    for &b in line {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'(' if !quoted => {
                depth += 1;
                if depth > DEPTH_MAX {
                    return Err(ProtoError::Malformed("lists nested too deep"));
                }
            }
            b')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(depth)
}

/// Parses one response as framed by [`read_response`].
pub fn parse(buf: &[u8]) -> Result<Response<'_>, ProtoError> {
    // imap-proto 0.16 unwraps on some server input (`INTERNALDATE NIL`, a METADATA value that
    // is not UTF-8): contain it rather than let a server take the thread down.
    let parsed = std::panic::catch_unwind(|| imap_proto::parser::parse_response(buf))
        .map_err(|_| ProtoError::Malformed("response the parser cannot handle"))?;
    match parsed {
        Ok(([], response)) => Ok(response),
        Ok(_) => Err(ProtoError::Malformed("data after the response")),
        Err(e) if e.is_incomplete() => Err(ProtoError::Malformed("truncated response")),
        Err(_) if buf.starts_with(b"* ") => Err(ProtoError::Unrecognised),
        Err(_) => Err(ProtoError::Malformed("not an IMAP response")),
    }
}

/// A status response's code and text, for errors and logs: `[TryCreate] Mailbox doesn't exist`.
pub fn describe(
    code: &Option<ResponseCode<'_>>,
    information: &Option<std::borrow::Cow<'_, str>>,
) -> String {
    let text = information.as_deref().unwrap_or("");
    match code {
        Some(code) => format!("[{code:?}] {text}"),
        None => text.to_owned(),
    }
}

/// The `[APPENDUID validity uid]` code (RFC 4315 UIDPLUS) of an APPEND's tagged OK:
/// (UIDVALIDITY, UID) of the appended message; `None` without it (or with a UID of 0, or a
/// set, which only MULTIAPPEND gives).
pub fn append_uid(code: Option<&ResponseCode<'_>>) -> Option<(u32, u32)> {
    match code? {
        ResponseCode::AppendUid(validity, uids) => match uids.as_slice() {
            [UidSetMember::Uid(uid)] if *uid > 0 => Some((*validity, *uid)),
            _ => None,
        },
        _ => None,
    }
}

/// `s` as an IMAP quoted string, or `None` if it needs a literal (CR, LF, NUL, 8-bit).
pub fn quote(s: &str) -> Option<String> {
    if s.bytes()
        .any(|b| matches!(b, b'\r' | b'\n' | 0) || b >= 0x80)
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(s: &[u8]) -> Result<Vec<u8>, ProtoError> {
        read_response(&mut std::io::BufReader::new(s))
    }

    fn code_of(wire: &[u8]) -> Option<ResponseCode<'_>> {
        match parse(wire).unwrap() {
            Response::Done { code, .. } | Response::Data { code, .. } => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tagged_and_conditions() {
        assert_eq!(
            parse(b"a1 OK [APPENDUID 7 42] Append completed.\r\n").unwrap(),
            Response::Done {
                tag: imap_proto::types::RequestId("a1".into()),
                status: Status::Ok,
                code: Some(ResponseCode::AppendUid(7, vec![UidSetMember::Uid(42)])),
                information: Some("Append completed.".into()),
            }
        );
        assert_eq!(
            parse(b"* OK [UIDVALIDITY 3] UIDs valid\r\n").unwrap(),
            Response::Data {
                status: Status::Ok,
                code: Some(ResponseCode::UidValidity(3)),
                information: Some("UIDs valid".into()),
            }
        );
        assert!(matches!(
            parse(b"+ OK\r\n").unwrap(),
            Response::Continue { .. }
        ));
        assert!(matches!(
            parse(b"a2 WHAT\r\n"),
            Err(ProtoError::Malformed(_))
        ));
        // Codes imap-proto does not know stay in the text.
        let Response::Done {
            status: Status::No,
            code: None,
            information,
            ..
        } = parse(b"a3 NO [NONEXISTENT] Mailbox doesn't exist: X\r\n").unwrap()
        else {
            panic!("tagged NO")
        };
        assert_eq!(
            information.as_deref(),
            Some("[NONEXISTENT] Mailbox doesn't exist: X")
        );
    }

    #[test]
    fn tagged_no_with_trycreate() {
        let framed = read(b"u4 NO [TRYCREATE] Mailbox doesn't exist: Voicemail\r\n").unwrap();
        let Response::Done {
            tag,
            status,
            code,
            information,
        } = parse(&framed).unwrap()
        else {
            panic!("tagged")
        };
        assert_eq!((tag.0.as_str(), status), ("u4", Status::No));
        assert_eq!(code, Some(ResponseCode::TryCreate));
        assert_eq!(
            describe(&code, &information),
            "[TryCreate] Mailbox doesn't exist: Voicemail"
        );
    }

    #[test]
    fn fetch_with_literal_and_section() {
        let wire = b"* 2 FETCH (UID 17 FLAGS (\\Seen \\Recent) RFC822.SIZE 1234 BODY[HEADER.FIELDS (X-UMGW-KIND)] {23}\r\nX-UMGW-Kind: voice-ma\r\n)\r\nTRAILING";
        let framed = read(wire).unwrap();
        assert!(framed.ends_with(b")\r\n"));
        let Response::Fetch(2, items) = parse(&framed).unwrap() else {
            panic!("fetch")
        };
        assert_eq!(items[0], AttributeValue::Uid(17));
        assert_eq!(
            items[1],
            AttributeValue::Flags(vec!["\\Seen".into(), "\\Recent".into()])
        );
        assert_eq!(items[2], AttributeValue::Rfc822Size(1234));
        assert_eq!(
            items[3],
            AttributeValue::BodySection {
                section: Some(SectionPath::Full(MessageSection::Header)),
                index: None,
                data: Some(b"X-UMGW-Kind: voice-ma\r\n"[..].into()),
            }
        );
    }

    #[test]
    fn fetch_with_a_literal_body() {
        // A body holding what looks like IMAP (a literal marker, a tagged OK, parentheses):
        // it is data, not framing.
        let body = b"Subject: x\r\n\r\n(( u9 OK {5}\r\n\"\r\n";
        let mut wire = format!("* 1 FETCH (UID 5 BODY[] {{{}}}\r\n", body.len()).into_bytes();
        wire.extend_from_slice(body);
        wire.extend_from_slice(b" INTERNALDATE \"07-Dec-2026 11:00:00 +0000\")\r\nu9 OK done\r\n");
        let mut r = std::io::BufReader::new(&wire[..]);
        let framed = read_response(&mut r).unwrap();
        let Response::Fetch(1, items) = parse(&framed).unwrap() else {
            panic!("fetch")
        };
        assert_eq!(items[0], AttributeValue::Uid(5));
        assert_eq!(
            items[1],
            AttributeValue::BodySection {
                section: None,
                index: None,
                data: Some(body[..].into()),
            }
        );
        assert_eq!(
            items[2],
            AttributeValue::InternalDate("07-Dec-2026 11:00:00 +0000".into())
        );
        // The next response follows, whole.
        assert!(matches!(
            parse(&read_response(&mut r).unwrap()).unwrap(),
            Response::Done {
                status: Status::Ok,
                ..
            }
        ));
    }

    #[test]
    fn search_status_list_and_quoting() {
        assert_eq!(
            parse(b"* SEARCH 3 9 12\r\n").unwrap(),
            Response::MailboxData(MailboxDatum::Search(vec![3, 9, 12]))
        );
        assert_eq!(
            parse(b"* SEARCH\r\n").unwrap(),
            Response::MailboxData(MailboxDatum::Search(vec![]))
        );
        let Response::MailboxData(MailboxDatum::Status { mailbox, status }) =
            parse(b"* STATUS \"IN BOX\" (MESSAGES 3 UNSEEN 1)\r\n").unwrap()
        else {
            panic!("status")
        };
        assert_eq!(mailbox, "IN BOX");
        assert_eq!(status.len(), 2);
        let Response::MailboxData(MailboxDatum::List { name, .. }) =
            parse(b"* LIST (\\HasNoChildren) \"/\" \"UMGW State\"\r\n").unwrap()
        else {
            panic!("list")
        };
        assert_eq!(name, "UMGW State");
        assert_eq!(quote(r#"a"b\c"#).as_deref(), Some(r#""a\"b\\c""#));
        assert_eq!(quote("a\r\nb"), None);
        assert_eq!(quote("é"), None);
    }

    #[test]
    fn append_uid_codes() {
        assert_eq!(
            append_uid(code_of(b"a OK [APPENDUID 1795762994 42] Append completed.\r\n").as_ref()),
            Some((1_795_762_994, 42))
        );
        assert_eq!(
            append_uid(code_of(b"a OK [appenduid 7 1] ok\r\n").as_ref()),
            Some((7, 1))
        );
        for none in [
            &b"a OK Append completed.\r\n"[..],
            b"a OK [APPENDUID 7] x\r\n",
            b"a OK [APPENDUID 7 0] x\r\n",
            b"a OK [APPENDUID 7 1:3] x\r\n",
            b"a OK [APPENDUID x 1] x\r\n",
            b"a OK [UIDNEXT 7] x\r\n",
            b"a OK [APPENDUID 7 1 x\r\n",
        ] {
            assert_eq!(
                append_uid(code_of(none).as_ref()),
                None,
                "{:?}",
                String::from_utf8_lossy(none)
            );
        }
    }

    #[test]
    fn framing_errors_are_errors() {
        assert!(matches!(read(b""), Err(ProtoError::Closed)));
        assert!(matches!(read(b"* OK no newline"), Err(ProtoError::Closed)));
        assert!(matches!(
            read(b"* 1 FETCH (BODY[] {10}\r\nshort"),
            Err(ProtoError::Closed)
        ));
        let deep = format!("* {}x{}\r\n", "(".repeat(100), ")".repeat(100));
        assert!(matches!(
            read(deep.as_bytes()),
            Err(ProtoError::Malformed(_))
        ));
        // Parentheses in a quoted string are not nesting.
        let quoted = format!("* LIST () \"/\" \"{}\"\r\n", "(".repeat(100));
        assert!(parse(&read(quoted.as_bytes()).unwrap()).is_ok());
        assert!(matches!(
            read(&vec![b'a'; LINE_MAX + 10]),
            Err(ProtoError::Malformed("line too long"))
        ));
    }

    #[test]
    fn an_over_long_literal_is_refused_before_it_is_read() {
        for announced in [LITERAL_MAX + 1, 999_999_999_999] {
            let wire = format!("* 1 FETCH (BODY[] {{{announced}}}\r\nabc");
            assert!(
                matches!(
                    read(wire.as_bytes()),
                    Err(ProtoError::Malformed("literal too large"))
                ),
                "{announced}"
            );
        }
    }

    #[test]
    fn truncated_or_garbage_responses_are_errors() {
        // Framed by a server that lies: the parser sees a cut response.
        assert!(matches!(
            parse(b"* 1 FETCH (BODY[] {10}\r\nshort"),
            Err(ProtoError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"* 1 FETCH (UID 1))\r\n"),
            Err(ProtoError::Unrecognised)
        ));
        assert!(matches!(
            parse(b"* SEARCH 1 2\r\nextra"),
            Err(ProtoError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"\x00\xff\r\n"),
            Err(ProtoError::Malformed(_))
        ));
        assert!(matches!(parse(b""), Err(ProtoError::Malformed(_))));
        // Input imap-proto 0.16 itself panics on.
        assert!(parse(b"* 1 FETCH (INTERNALDATE NIL)\r\n").is_err());
        assert!(parse(b"* METADATA \"INBOX\" (/private/comment {1}\r\n\xff)\r\n").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_server_input(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(framed) = read(&bytes) {
                let _ = parse(&framed);
            }
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_on_imap_shaped_input(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("* ".to_string()), Just("a1 ".to_string()), Just("(".to_string()),
                    Just(")".to_string()), Just("\"".to_string()), Just("{3}\r\n".to_string()),
                    Just("{".to_string()), Just("}".to_string()), Just("[".to_string()),
                    Just("]".to_string()), Just("\\".to_string()), Just(" ".to_string()),
                    Just("\r\n".to_string()), Just("FETCH".to_string()), Just("OK".to_string()),
                    Just("NIL".to_string()), Just("BODY[]".to_string()),
                    Just("UID".to_string()), Just("SEARCH".to_string()),
                    Just("[APPENDUID ".to_string()), "[0-9]{1,3}", "[A-Za-z.]{1,5}",
                ],
                0..40,
            )
        ) {
            let s = parts.concat();
            if let Ok(framed) = read(s.as_bytes()) {
                if let Ok(Response::Done { code, .. }) = parse(&framed) {
                    let _ = append_uid(code.as_ref());
                }
            }
        }
    }
}
