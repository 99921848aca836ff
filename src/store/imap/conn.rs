//! One IMAP connection: TCP (plain, implicit TLS or STARTTLS through rustls), tagged commands,
//! APPEND with a synchronising literal. Blocking with time-outs: the store runs on the blocking
//! pool.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::proto::{self, ProtoError, Response, ResponseCode, Status};

/// What went wrong on a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The connection is unusable (connect, TLS, I/O, time-out, framing): the server may be
    /// down; the operation can be tried again on a new connection.
    #[error("{0}")]
    Broken(String),
    /// The server refused the command (`NO`/`BAD`); the connection is still good.
    #[error("{command} refused: {text}")]
    Refused {
        /// The command's verb.
        command: &'static str,
        /// The server's text.
        text: String,
    },
}

impl From<ProtoError> for ConnError {
    fn from(e: ProtoError) -> Self {
        ConnError::Broken(e.to_string())
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Broken(e.to_string())
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// How to reach the server.
#[derive(Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub server: String,
    /// TLS client config and the name to verify, when TLS is used.
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// Upgrade with STARTTLS rather than implicit TLS.
    pub starttls: bool,
    /// TCP connect time-out.
    pub connect_timeout: Duration,
    /// Longest wait for a response.
    pub io_timeout: Duration,
}

/// The untagged responses of a completed command and the tagged OK's response code.
#[derive(Debug, Default)]
pub struct Reply {
    /// Untagged responses: data (`* SEARCH ...`, `* n FETCH ...`) and conditions
    /// (`* OK [UIDVALIDITY 3] ...`).
    pub untagged: Vec<Response<'static>>,
    /// The tagged OK's response code (`[APPENDUID 7 42]`).
    pub code: Option<ResponseCode<'static>>,
}

/// A logged-in (or just connected) IMAP connection.
pub struct Conn {
    io: BufReader<Stream>,
    tag: u32,
}

impl Conn {
    /// Connects and reads the greeting (upgrading with STARTTLS when asked).
    pub fn connect(ep: &Endpoint) -> Result<Conn, ConnError> {
        let addrs = ep
            .server
            .to_socket_addrs()
            .map_err(|e| ConnError::Broken(format!("cannot resolve: {e}")))?;
        let mut last = ConnError::Broken("no address".into());
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, ep.connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = ConnError::Broken(format!("connect {addr}: {e}")),
            }
        }
        let tcp = tcp.ok_or(last)?;
        tcp.set_read_timeout(Some(ep.io_timeout))?;
        tcp.set_write_timeout(Some(ep.io_timeout))?;
        let _ = tcp.set_nodelay(true);
        let stream = match (&ep.tls, ep.starttls) {
            (Some(tls), false) => Stream::Tls(Box::new(tls_wrap(tls, tcp)?)),
            _ => Stream::Plain(tcp),
        };
        let mut conn = Conn {
            io: BufReader::new(stream),
            tag: 0,
        };
        match proto::parse(&proto::read_response(&mut conn.io)?)? {
            Response::Data {
                status: Status::Ok | Status::PreAuth,
                ..
            } => {}
            Response::Data {
                code, information, ..
            } => {
                return Err(ConnError::Broken(format!(
                    "server refused us: {}",
                    proto::describe(&code, &information)
                )))
            }
            _ => return Err(ConnError::Broken("no IMAP greeting".into())),
        }
        if let (Some(tls), true) = (&ep.tls, ep.starttls) {
            conn.command("STARTTLS", "STARTTLS")?;
            if !conn.io.buffer().is_empty() {
                // Bytes after the OK would be outside TLS: a man-in-the-middle injection.
                return Err(ConnError::Broken("data after STARTTLS OK".into()));
            }
            let Stream::Plain(tcp) = conn.io.into_inner() else {
                return Err(ConnError::Broken("STARTTLS on a TLS stream".into()));
            };
            conn = Conn {
                io: BufReader::new(Stream::Tls(Box::new(tls_wrap(tls, tcp)?))),
                tag: conn.tag,
            };
        }
        Ok(conn)
    }

    /// LOGIN, or AUTHENTICATE PLAIN when a name or password cannot be quoted (CR, LF,
    /// 8-bit). The password is never logged.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), ConnError> {
        if let (Some(u), Some(p)) = (proto::quote(user), proto::quote(password)) {
            return self.command("LOGIN", &format!("LOGIN {u} {p}")).map(|_| ());
        }
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{user}\0{password}").as_bytes());
        let tag = self.next_tag();
        self.send(&format!("{tag} AUTHENTICATE PLAIN\r\n"))?;
        self.expect_continuation("AUTHENTICATE")?;
        self.send(&format!("{token}\r\n"))?;
        self.finish("AUTHENTICATE", &tag).map(|_| ())
    }

    /// Sends `TAG line` and collects the responses up to the tagged one.
    pub fn command(&mut self, verb: &'static str, line: &str) -> Result<Reply, ConnError> {
        let tag = self.next_tag();
        self.send(&format!("{tag} {line}\r\n"))?;
        self.finish(verb, &tag)
    }

    /// `APPEND folder (flags) {n}` + the message as a synchronising literal.
    pub fn append(
        &mut self,
        folder: &str,
        flags: &str,
        message: &[u8],
    ) -> Result<Reply, ConnError> {
        let folder = quote_or_err(folder)?;
        let line = format!("APPEND {folder} ({flags}) {{{}}}", message.len());
        self.with_literal("APPEND", &line, message)
    }

    /// A command line ending in a `{n}` literal marker, then (after the server's `+`) the
    /// literal itself.
    fn with_literal(
        &mut self,
        verb: &'static str,
        line: &str,
        literal: &[u8],
    ) -> Result<Reply, ConnError> {
        let tag = self.next_tag();
        self.send(&format!("{tag} {line}\r\n"))?;
        self.expect_continuation(verb)?;
        let stream = self.io.get_mut();
        stream.write_all(literal)?;
        stream.write_all(b"\r\n")?;
        stream.flush()?;
        self.finish(verb, &tag)
    }

    fn send(&mut self, text: &str) -> Result<(), ConnError> {
        let stream = self.io.get_mut();
        stream.write_all(text.as_bytes())?;
        stream.flush()?;
        Ok(())
    }

    fn expect_continuation(&mut self, verb: &'static str) -> Result<(), ConnError> {
        match proto::parse(&proto::read_response(&mut self.io)?)? {
            Response::Continue { .. } => Ok(()),
            Response::Done {
                code, information, ..
            } => Err(ConnError::Refused {
                command: verb,
                text: proto::describe(&code, &information),
            }),
            _ => Err(ConnError::Broken(format!("{verb}: no continuation"))),
        }
    }

    fn next_tag(&mut self) -> String {
        self.tag = self.tag.wrapping_add(1);
        format!("u{}", self.tag)
    }

    fn finish(&mut self, verb: &'static str, tag: &str) -> Result<Reply, ConnError> {
        let started = std::time::Instant::now();
        let result = self.collect(verb, tag);
        // The verb only: arguments may hold a password or a caller's number.
        tracing::debug!(
            command = verb,
            ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "IMAP"
        );
        result
    }

    fn collect(&mut self, verb: &'static str, tag: &str) -> Result<Reply, ConnError> {
        let mut reply = Reply::default();
        loop {
            let buf = proto::read_response(&mut self.io)?;
            let response = match proto::parse(&buf) {
                Err(ProtoError::Unrecognised) => {
                    // An extension's untagged data: RFC 3501 §7 lets a client ignore it.
                    let what = buf.split(|&b| b == b' ').take(3).collect::<Vec<_>>();
                    tracing::debug!(
                        command = verb,
                        response = %String::from_utf8_lossy(&what.join(&b' ')),
                        "IMAP: ignored an untagged response"
                    );
                    continue;
                }
                other => other?,
            };
            match response {
                Response::Done {
                    tag: t,
                    status,
                    code,
                    information,
                } if t.0 == tag => {
                    return match status {
                        Status::Ok => {
                            reply.code = code.map(ResponseCode::into_owned);
                            Ok(reply)
                        }
                        _ => Err(ConnError::Refused {
                            command: verb,
                            text: proto::describe(&code, &information),
                        }),
                    };
                }
                Response::Done { .. } => {
                    return Err(ConnError::Broken(format!(
                        "{verb}: response to another tag"
                    )))
                }
                Response::Data {
                    status: Status::Bye,
                    code,
                    information,
                } => {
                    return Err(ConnError::Broken(format!(
                        "server said BYE: {}",
                        proto::describe(&code, &information)
                    )))
                }
                Response::Continue { .. } => {
                    return Err(ConnError::Broken(format!("{verb}: unexpected '+'")))
                }
                untagged => reply.untagged.push(untagged.into_owned()),
            }
        }
    }

    /// Polite goodbye; errors do not matter, the connection is dropped anyway.
    pub fn logout(mut self) {
        let _ = self.command("LOGOUT", "LOGOUT");
    }
}

fn tls_wrap(
    (config, name): &(Arc<rustls::ClientConfig>, ServerName<'static>),
    tcp: TcpStream,
) -> Result<StreamOwned<ClientConnection, TcpStream>, ConnError> {
    let conn = ClientConnection::new(config.clone(), name.clone())
        .map_err(|e| ConnError::Broken(format!("TLS: {e}")))?;
    Ok(StreamOwned::new(conn, tcp))
}

/// A quoted string for a folder name (folder names come from the config, not from callers).
pub fn quote_or_err(s: &str) -> Result<String, ConnError> {
    proto::quote(s).ok_or_else(|| ConnError::Refused {
        command: "quote",
        text: format!("{s:?} cannot be sent as an IMAP quoted string"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::imap::fetched_body;
    use proto::{AttributeValue, MailboxDatum};
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// A server on loopback: a greeting, then for each line it reads (a command, or an APPEND's
    /// literal, which here never holds a line break) the next of `answers`, as is. Joining it
    /// gives the lines it read.
    fn scripted(answers: Vec<&'static [u8]>) -> (Endpoint, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            w.write_all(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n")
                .unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                seen.push(line.trim_end().to_owned());
                if w.write_all(answer).is_err() {
                    break;
                }
            }
            seen
        });
        let ep = Endpoint {
            server,
            tls: None,
            starttls: false,
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
        };
        (ep, handle)
    }

    #[test]
    fn a_fetch_with_a_literal_body_comes_back_whole() {
        let (ep, server) = scripted(vec![
            b"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {13}\r\nhello\r\n(world)\r\nu1 OK done\r\n",
        ]);
        let mut c = Conn::connect(&ep).unwrap();
        let reply = c
            .command("UID FETCH", "UID FETCH 5 (UID BODY.PEEK[])")
            .unwrap();
        let Response::Fetch(1, items) = &reply.untagged[0] else {
            panic!("{:?}", reply.untagged)
        };
        assert_eq!(items[1], AttributeValue::Flags(vec!["\\Seen".into()]));
        assert_eq!(
            fetched_body(reply, 5).as_deref(),
            Some(&b"hello\r\n(world"[..])
        );
        assert_eq!(server.join().unwrap(), ["u1 UID FETCH 5 (UID BODY.PEEK[])"]);
    }

    #[test]
    fn appenduid_names_the_appended_message_and_search_its_numbers() {
        let (ep, server) = scripted(vec![
            b"+ go\r\n",
            b"* 3 EXISTS\r\nu1 OK [APPENDUID 9 42] Append completed.\r\n",
            b"* SEARCH 42 7\r\nu2 OK done\r\n",
        ]);
        let mut c = Conn::connect(&ep).unwrap();
        let reply = c.append("Voicemail", "\\Seen", b"hello").unwrap();
        assert_eq!(proto::append_uid(reply.code.as_ref()), Some((9, 42)));
        assert_eq!(
            reply.untagged,
            [Response::MailboxData(MailboxDatum::Exists(3))]
        );
        let reply = c.command("UID SEARCH", "UID SEARCH ALL").unwrap();
        assert_eq!(
            reply.untagged,
            [Response::MailboxData(MailboxDatum::Search(vec![42, 7]))]
        );
        assert_eq!(
            server.join().unwrap(),
            [
                "u1 APPEND \"Voicemail\" (\\Seen) {5}",
                "hello",
                "u2 UID SEARCH ALL"
            ]
        );
    }

    #[test]
    fn a_tagged_no_with_trycreate_is_a_refusal_naming_the_code() {
        let (ep, _server) = scripted(vec![
            b"u1 NO [TRYCREATE] Mailbox doesn't exist: Voicemail\r\n",
            b"u2 OK NOOP completed.\r\n",
        ]);
        let mut c = Conn::connect(&ep).unwrap();
        match c.append("Voicemail", "", b"hello") {
            Err(ConnError::Refused { command, text }) => {
                assert_eq!(command, "APPEND");
                assert_eq!(text, "[TryCreate] Mailbox doesn't exist: Voicemail");
            }
            other => panic!("{other:?}"),
        }
        // A refusal leaves the connection usable.
        c.command("NOOP", "NOOP").unwrap();
    }

    #[test]
    fn unknown_untagged_data_is_skipped() {
        let (ep, _server) = scripted(vec![
            b"* ESEARCH (TAG \"u1\") UID ALL 1:3\r\n* SEARCH 4\r\nu1 OK done\r\n",
        ]);
        let mut c = Conn::connect(&ep).unwrap();
        let reply = c.command("UID SEARCH", "UID SEARCH ALL").unwrap();
        assert_eq!(
            reply.untagged,
            [Response::MailboxData(MailboxDatum::Search(vec![4]))]
        );
    }

    /// What `answer` to a NOOP does to the connection: always broken, never a panic.
    fn broken_by(answer: &'static [u8]) -> String {
        let (ep, _server) = scripted(vec![answer]);
        let mut c = Conn::connect(&ep).unwrap();
        match c.command("NOOP", "NOOP") {
            Err(ConnError::Broken(why)) => why,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(answer)),
        }
    }

    #[test]
    fn garbage_or_a_cut_response_breaks_the_connection() {
        assert!(broken_by(b"u1 WHAT\r\n").contains("malformed"));
        assert!(broken_by(b"u1 OK [READ-WRITE]\xff\r\n").contains("malformed"));
        assert!(broken_by(b"* 1 FETCH (INTERNALDATE NIL)\r\nu1 OK\r\n").contains("malformed"));
        assert!(broken_by(b"* 1 FETCH (UID 1 BODY[] {10}\r\nshort").contains("closed"));
        assert!(broken_by(b"* BYE shutting down\r\n").contains("BYE"));
        assert!(broken_by(b"u7 OK not ours\r\n").contains("another tag"));
    }

    #[test]
    fn an_over_long_literal_is_refused() {
        let why = broken_by(b"* 1 FETCH (UID 1 BODY[] {999999999}\r\n");
        assert!(why.contains("literal too large"), "{why}");
    }
}
