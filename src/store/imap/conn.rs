//! One IMAP connection: TCP (plain, implicit TLS or STARTTLS through rustls), tagged commands,
//! APPEND with a synchronising literal. Blocking with time-outs: the store runs on the blocking
//! pool.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::proto::{self, ProtoError, Response, Status, Value};

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

/// The untagged data of a completed command and the tagged OK's text.
#[derive(Debug, Default)]
pub struct Reply {
    /// Untagged data responses (`* SEARCH ...`, `* n FETCH ...`).
    pub data: Vec<Vec<Value>>,
    /// Untagged condition texts (`* OK [UIDVALIDITY 3] ...`).
    pub conditions: Vec<String>,
    /// The tagged OK's text (with its response code).
    pub text: String,
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
            Response::Condition {
                status: Status::Ok | Status::PreAuth,
                ..
            } => {}
            Response::Condition { text, .. } => {
                return Err(ConnError::Broken(format!("server refused us: {text}")))
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
            Response::Continuation => Ok(()),
            Response::Tagged { text, .. } => Err(ConnError::Refused {
                command: verb,
                text,
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
            match proto::parse(&proto::read_response(&mut self.io)?)? {
                Response::Tagged {
                    tag: t,
                    status,
                    text,
                } if t == tag => {
                    return match status {
                        Status::Ok => {
                            reply.text = text;
                            Ok(reply)
                        }
                        _ => Err(ConnError::Refused {
                            command: verb,
                            text,
                        }),
                    };
                }
                Response::Tagged { .. } => {
                    return Err(ConnError::Broken(format!(
                        "{verb}: response to another tag"
                    )))
                }
                Response::Condition {
                    status: Status::Bye,
                    text,
                } => return Err(ConnError::Broken(format!("server said BYE: {text}"))),
                Response::Condition { text, .. } => reply.conditions.push(text),
                Response::Data(v) => reply.data.push(v),
                Response::Continuation => {
                    return Err(ConnError::Broken(format!("{verb}: unexpected '+'")))
                }
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
