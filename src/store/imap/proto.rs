//! IMAP4rev1 (RFC 3501) responses: framing off the wire and parsing, just what the backend
//! uses. Server input is untrusted: nothing here panics, literals and nesting are bounded.

use std::io::{BufRead, Read};

/// Largest literal accepted from the server (a message with a 20-minute WAV is ~26 MB in base64).
pub const LITERAL_MAX: usize = 128 * 1024 * 1024;
/// Longest response line (outside literals).
const LINE_MAX: usize = 1024 * 1024;
/// Deepest parenthesised list accepted.
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
}

/// One token of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom or number (also `BODY[...]<n>` section names, kept whole).
    Atom(Vec<u8>),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Value>),
    /// `NIL`.
    Nil,
}

impl Value {
    /// The atom's text (case kept), if this is an atom.
    pub fn atom(&self) -> Option<&str> {
        match self {
            Value::Atom(a) => std::str::from_utf8(a).ok(),
            _ => None,
        }
    }

    /// A number atom.
    pub fn number(&self) -> Option<u32> {
        self.atom().and_then(|a| a.parse().ok())
    }

    /// Bytes of a string, literal or atom.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }
}

/// Status of a tagged or untagged condition response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok,
    /// Operational error.
    No,
    /// Protocol error.
    Bad,
    /// Untagged: the server is closing the connection.
    Bye,
    /// Untagged greeting: already authenticated.
    PreAuth,
}

impl Status {
    fn parse(word: &[u8]) -> Option<Status> {
        let w = word.to_ascii_uppercase();
        match w.as_slice() {
            b"OK" => Some(Status::Ok),
            b"NO" => Some(Status::No),
            b"BAD" => Some(Status::Bad),
            b"BYE" => Some(Status::Bye),
            b"PREAUTH" => Some(Status::PreAuth),
            _ => None,
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+ ...`: send the literal.
    Continuation,
    /// `TAG OK|NO|BAD text`.
    Tagged {
        /// The tag.
        tag: String,
        /// Outcome.
        status: Status,
        /// Text after the status (with a `[code]` if any).
        text: String,
    },
    /// `* OK|NO|BAD|BYE|PREAUTH text`.
    Condition {
        /// Which one.
        status: Status,
        /// Text after the status (with a `[code]` if any).
        text: String,
    },
    /// Any other untagged response as tokens: `* 3 EXISTS`, `* SEARCH 1 2`, `* 1 FETCH (...)`.
    Data(Vec<Value>),
}

/// Reads one response: a line and, for each `{n}` ending a line, the literal and the rest.
pub fn read_response<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::new();
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
        match literal_len(&out[start..])? {
            None => return Ok(out),
            Some(len) => {
                let have = out.len();
                out.resize(have + len, 0);
                r.read_exact(&mut out[have..])?;
            }
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
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    if digits.len() > 10 {
        return Err(ProtoError::Malformed("literal too large"));
    }
    let n: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or(ProtoError::Malformed("bad literal length"))?;
    if n > LITERAL_MAX {
        return Err(ProtoError::Malformed("literal too large"));
    }
    Ok(Some(n))
}

/// Parses one response as framed by [`read_response`].
pub fn parse(buf: &[u8]) -> Result<Response, ProtoError> {
    let mut p = Cursor { b: buf, i: 0 };
    let first = p.word().to_vec();
    if first == b"+" {
        return Ok(Response::Continuation);
    }
    if first.is_empty() {
        return Err(ProtoError::Malformed("empty response"));
    }
    p.space();
    if first == b"*" {
        let save = p.i;
        let word = p.word();
        if let Some(status) = Status::parse(word) {
            p.space();
            return Ok(Response::Condition {
                status,
                text: p.rest_text(),
            });
        }
        p.i = save;
        let values = p.values(0)?;
        if p.i < p.b.len() && !p.at_eol() {
            return Err(ProtoError::Malformed("unbalanced ')'"));
        }
        return Ok(Response::Data(values));
    }
    let tag = String::from_utf8_lossy(&first).into_owned();
    let status = Status::parse(p.word()).ok_or(ProtoError::Malformed("tagged without status"))?;
    p.space();
    Ok(Response::Tagged {
        tag,
        status,
        text: p.rest_text(),
    })
}

/// The `[CODE args]` at the start of a status text, split in words: `[APPENDUID 7 42]` →
/// `["APPENDUID", "7", "42"]`.
pub fn response_code(text: &str) -> Vec<&str> {
    text.strip_prefix('[')
        .and_then(|t| t.split_once(']'))
        .map(|(code, _)| code.split_ascii_whitespace().collect())
        .unwrap_or_default()
}

/// The `[APPENDUID validity uid]` code (RFC 4315 UIDPLUS) of an APPEND's tagged OK text:
/// (UIDVALIDITY, UID) of the appended message; `None` without it (or with a UID of 0).
pub fn append_uid(text: &str) -> Option<(u32, u32)> {
    match response_code(text).as_slice() {
        [code, v, u] if code.eq_ignore_ascii_case("APPENDUID") => {
            Some((v.parse().ok()?, u.parse().ok().filter(|&u: &u32| u > 0)?))
        }
        _ => None,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// Bytes up to the next space or line end.
    fn word(&mut self) -> &[u8] {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'\r' | b'\n') {
                break;
            }
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn space(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn rest_text(&mut self) -> String {
        let start = self.i.min(self.b.len());
        let mut end = self.b.len();
        while end > start && matches!(self.b[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        self.i = self.b.len();
        String::from_utf8_lossy(&self.b[start..end]).into_owned()
    }

    /// Tokens until a `)` (left unconsumed) or the end of the line.
    fn values(&mut self, depth: usize) -> Result<Vec<Value>, ProtoError> {
        if depth > DEPTH_MAX {
            return Err(ProtoError::Malformed("lists nested too deep"));
        }
        let mut out = Vec::new();
        loop {
            self.space();
            let Some(c) = self.peek() else { return Ok(out) };
            match c {
                b'\r' | b'\n' | b')' => return Ok(out),
                b'(' => {
                    self.i += 1;
                    let inner = self.values(depth + 1)?;
                    if self.peek() != Some(b')') {
                        return Err(ProtoError::Malformed("unclosed '('"));
                    }
                    self.i += 1;
                    out.push(Value::List(inner));
                }
                b'"' => out.push(Value::Str(self.quoted()?)),
                b'{' => out.push(Value::Str(self.literal()?)),
                _ => {
                    let a = self.atom()?;
                    if a.eq_ignore_ascii_case(b"NIL") {
                        out.push(Value::Nil);
                    } else {
                        out.push(Value::Atom(a));
                    }
                }
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, ProtoError> {
        self.i += 1;
        let mut s = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => {
                    return Err(ProtoError::Malformed("unterminated quoted string"))
                }
                Some(b'"') => {
                    self.i += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) if c != b'\r' && c != b'\n' => {
                            s.push(c);
                            self.i += 1;
                        }
                        _ => return Err(ProtoError::Malformed("bad escape in quoted string")),
                    }
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, ProtoError> {
        let close = self.b[self.i..]
            .iter()
            .position(|&b| b == b'}')
            .ok_or(ProtoError::Malformed("unclosed literal length"))?;
        let digits = &self.b[self.i + 1..self.i + close];
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or(ProtoError::Malformed("bad literal length"))?;
        self.i += close + 1;
        if self.b.get(self.i..self.i + 2) == Some(b"\r\n") {
            self.i += 2;
        } else if self.peek() == Some(b'\n') {
            self.i += 1;
        } else {
            return Err(ProtoError::Malformed("literal length not at line end"));
        }
        let end = self
            .i
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(ProtoError::Malformed("literal shorter than announced"))?;
        let v = self.b[self.i..end].to_vec();
        self.i = end;
        Ok(v)
    }

    /// An atom; a `[` opens a section (`BODY[HEADER.FIELDS (A B)]`) kept whole up to its `]`.
    fn atom(&mut self) -> Result<Vec<u8>, ProtoError> {
        let start = self.i;
        let mut brackets = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => brackets += 1,
                b']' if brackets > 0 => brackets -= 1,
                b'\r' | b'\n' => break,
                b' ' | b'(' | b')' | b'"' | b'{' if brackets == 0 => break,
                _ => {}
            }
            self.i += 1;
        }
        if self.i == start {
            // A stray character that cannot start a token: skip it so parsing progresses.
            self.i += 1;
            return Err(ProtoError::Malformed("unexpected character"));
        }
        Ok(self.b[start..self.i].to_vec())
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

/// The items of a `* n FETCH (...)` response as (upper-case name, value) pairs.
pub fn fetch_items(values: &[Value]) -> Option<Vec<(String, &Value)>> {
    match values {
        [Value::Atom(_), Value::Atom(kw), Value::List(items)]
            if kw.eq_ignore_ascii_case(b"FETCH") =>
        {
            let mut out = Vec::new();
            for pair in items.chunks(2) {
                if let [Value::Atom(name), v] = pair {
                    out.push((String::from_utf8_lossy(name).to_ascii_uppercase(), v));
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// The numbers of a `* SEARCH 1 2 3` response.
pub fn search_numbers(values: &[Value]) -> Option<Vec<u32>> {
    match values.split_first() {
        Some((Value::Atom(kw), rest)) if kw.eq_ignore_ascii_case(b"SEARCH") => {
            Some(rest.iter().filter_map(Value::number).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(s: &[u8]) -> Result<Vec<u8>, ProtoError> {
        read_response(&mut std::io::BufReader::new(s))
    }

    #[test]
    fn tagged_and_conditions() {
        assert_eq!(
            parse(b"a1 OK [APPENDUID 7 42] Append completed.\r\n").unwrap(),
            Response::Tagged {
                tag: "a1".into(),
                status: Status::Ok,
                text: "[APPENDUID 7 42] Append completed.".into()
            }
        );
        assert_eq!(
            response_code("[APPENDUID 7 42] Append completed."),
            ["APPENDUID", "7", "42"]
        );
        assert!(response_code("no code").is_empty());
        assert_eq!(
            parse(b"* OK [UIDVALIDITY 3] UIDs valid\r\n").unwrap(),
            Response::Condition {
                status: Status::Ok,
                text: "[UIDVALIDITY 3] UIDs valid".into()
            }
        );
        assert_eq!(parse(b"+ OK\r\n").unwrap(), Response::Continuation);
        assert!(matches!(
            parse(b"a2 WHAT\r\n"),
            Err(ProtoError::Malformed(_))
        ));
    }

    #[test]
    fn fetch_with_literal_and_section() {
        let wire = b"* 2 FETCH (UID 17 FLAGS (\\Seen \\Recent) RFC822.SIZE 1234 BODY[HEADER.FIELDS (X-UMGW-KIND)] {23}\r\nX-UMGW-Kind: voice-ma\r\n)\r\nTRAILING";
        let framed = read(wire).unwrap();
        assert!(framed.ends_with(b")\r\n"));
        let Response::Data(v) = parse(&framed).unwrap() else {
            panic!("data")
        };
        let items = fetch_items(&v).unwrap();
        assert_eq!(items[0].0, "UID");
        assert_eq!(items[0].1.number(), Some(17));
        assert_eq!(
            items[1].1,
            &Value::List(vec![
                Value::Atom(b"\\Seen".to_vec()),
                Value::Atom(b"\\Recent".to_vec())
            ])
        );
        assert_eq!(items[2].1.number(), Some(1234));
        assert_eq!(items[3].0, "BODY[HEADER.FIELDS (X-UMGW-KIND)]");
        assert_eq!(items[3].1.bytes(), Some(&b"X-UMGW-Kind: voice-ma\r\n"[..]));
    }

    #[test]
    fn search_status_and_quoting() {
        let Response::Data(v) = parse(b"* SEARCH 3 9 12\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(search_numbers(&v), Some(vec![3, 9, 12]));
        let Response::Data(v) = parse(b"* SEARCH\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(search_numbers(&v), Some(vec![]));
        let Response::Data(v) = parse(b"* STATUS \"IN BOX\" (MESSAGES 3 UNSEEN NIL)\r\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(v[1], Value::Str(b"IN BOX".to_vec()));
        assert_eq!(quote(r#"a"b\c"#).as_deref(), Some(r#""a\"b\\c""#));
        assert_eq!(quote("a\r\nb"), None);
        assert_eq!(quote("é"), None);
    }

    #[test]
    fn append_uid_codes() {
        assert_eq!(
            append_uid("[APPENDUID 1795762994 42] Append completed."),
            Some((1_795_762_994, 42))
        );
        assert_eq!(append_uid("[appenduid 7 1] ok"), Some((7, 1)));
        for none in [
            "Append completed.",
            "[APPENDUID 7] x",
            "[APPENDUID 7 0] x",
            "[APPENDUID 7 1:3] x",
            "[APPENDUID x 1] x",
            "[UIDNEXT 7 1] x",
            "[APPENDUID 7 1",
        ] {
            assert_eq!(append_uid(none), None, "{none:?}");
        }
    }

    #[test]
    fn framing_errors_are_errors() {
        assert!(matches!(read(b""), Err(ProtoError::Closed)));
        assert!(matches!(read(b"* OK no newline"), Err(ProtoError::Closed)));
        assert!(read(b"* 1 FETCH (BODY[] {10}\r\nshort").is_err());
        assert!(matches!(
            read(b"* 1 FETCH (BODY[] {999999999999}\r\n"),
            Err(ProtoError::Malformed(_))
        ));
        let deep = format!("* {}x{}\r\n", "(".repeat(100), ")".repeat(100));
        assert!(parse(deep.as_bytes()).is_err());
        assert!(parse(b"* 1 FETCH (UID 1))\r\n").is_err());
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
                    Just("NIL".to_string()), "[0-9]{1,3}", "[A-Za-z.]{1,5}",
                ],
                0..40,
            )
        ) {
            let s = parts.concat();
            if let Ok(framed) = read(s.as_bytes()) {
                if let Ok(Response::Data(v)) = parse(&framed) {
                    let _ = fetch_items(&v);
                    let _ = search_numbers(&v);
                }
            }
        }
    }
}
