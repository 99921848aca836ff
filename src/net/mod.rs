//! The only place that owns SIP sockets: UDP listeners, TCP and TLS connections (framed by
//! Content-Length). Received messages go to the gateway core over a channel; the core hands
//! back [`Transmit`]s to send. RTP sockets belong to each call (`gateway::call`); their batched
//! reads and writes are [`udp_batch`].
//!
//! Also the only module allowed `unsafe` (the rest of the crate forbids it): [`os`] wraps the
//! OS calls std has no safe form for, [`udp_batch`] the `recvmmsg`/`sendmmsg` calls.

pub mod accept;
pub mod limits;
pub mod os;
pub mod tls;
pub mod udp_batch;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::sip::message::frame_length;
use crate::sip::{Remote, Transmit, Transport};

/// One message received from the network.
#[derive(Debug)]
pub struct Inbound {
    pub remote: Remote,
    pub bytes: Vec<u8>,
}

type Writers = Arc<Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>>;

/// Limits on stream connections (per source address and in all) and their idle time.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub per_source: usize,
    pub total: usize,
    pub idle: std::time::Duration,
}

/// Counts open stream connections per source address.
#[derive(Debug, Default)]
struct ConnCounter {
    per_source: HashMap<std::net::IpAddr, usize>,
    total: usize,
}

/// A slot for one connection; released when dropped.
struct ConnSlot {
    counter: Arc<Mutex<ConnCounter>>,
    ip: std::net::IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counter.lock() {
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.per_source.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    c.per_source.remove(&self.ip);
                }
            }
        }
    }
}

fn claim_slot(
    counter: &Arc<Mutex<ConnCounter>>,
    ip: std::net::IpAddr,
    limits: ConnectionLimits,
) -> Option<ConnSlot> {
    let mut c = counter.lock().ok()?;
    let mine = c.per_source.get(&ip).copied().unwrap_or(0);
    if mine >= limits.per_source || c.total >= limits.total {
        return None;
    }
    c.total += 1;
    *c.per_source.entry(ip).or_insert(0) += 1;
    Some(ConnSlot {
        counter: counter.clone(),
        ip,
    })
}

/// TLS listeners and what they accept.
pub struct TlsListen {
    pub addrs: Vec<SocketAddr>,
    pub config: Arc<rustls::ServerConfig>,
    /// For connections we open (NOTIFY to a pool), when a CA is configured.
    pub client: Option<Arc<rustls::ClientConfig>>,
    /// Allowed peer certificate names; shared so a dial-plan reload can change it.
    pub peer_names: Arc<RwLock<Vec<String>>>,
}

/// The bound SIP sockets.
pub struct Network {
    udp: Vec<Arc<UdpSocket>>,
    tcp_local: Vec<SocketAddr>,
    tls_local: Vec<SocketAddr>,
    writers: Writers,
    next_conn: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    max_message: usize,
    idle: std::time::Duration,
    tls_client: Option<Arc<rustls::ClientConfig>>,
}

/// A TLS handshake must finish within this time.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

impl Network {
    /// Binds every listener and starts the receive loops, which feed `inbound`.
    pub async fn start(
        udp: &[SocketAddr],
        tcp: &[SocketAddr],
        tls: Option<TlsListen>,
        max_message: usize,
        conn_limits: ConnectionLimits,
        admission: Arc<limits::Admission>,
        inbound: mpsc::Sender<Inbound>,
    ) -> io::Result<Network> {
        let counter: Arc<Mutex<ConnCounter>> = Arc::default();
        let writers: Writers = Arc::default();
        let mut udp_sockets = Vec::new();
        for addr in udp {
            let socket = Arc::new(UdpSocket::bind(addr).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot bind SIP UDP {addr}: {e}"))
            })?);
            let local = socket.local_addr()?;
            info!(%local, "SIP UDP listening");
            set_receive_buffer(&socket, 4 << 20);
            tokio::spawn(udp_loop(
                socket.clone(),
                local,
                admission.clone(),
                inbound.clone(),
            ));
            udp_sockets.push(socket);
        }
        let next_conn = Arc::new(AtomicU64::new(1));
        let mut tcp_local = Vec::new();
        for addr in tcp {
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot bind SIP TCP {addr}: {e}"))
            })?;
            let local = listener.local_addr()?;
            info!(%local, "SIP TCP listening");
            tcp_local.push(local);
            let (inbound, writers, next_conn) =
                (inbound.clone(), writers.clone(), next_conn.clone());
            let counter = counter.clone();
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            let Some(slot) = claim_slot(&counter, peer.ip(), conn_limits) else {
                                debug!(%peer, "TCP connection refused: connection limit");
                                continue; // dropping the stream closes it
                            };
                            let conn = next_conn.fetch_add(1, Ordering::Relaxed);
                            let (reader, writer) = stream.into_split();
                            spawn_connection(
                                reader,
                                writer,
                                Transport::Tcp { conn, local },
                                peer,
                                Some(slot),
                                StreamEnv {
                                    max_message,
                                    idle: conn_limits.idle,
                                    inbound: inbound.clone(),
                                    writers: writers.clone(),
                                },
                            );
                        }
                        Err(e) => {
                            warn!(%local, error = %e, "TCP accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        }
        let mut tls_local = Vec::new();
        let tls_client = tls.as_ref().and_then(|t| t.client.clone());
        if let Some(tls) = tls {
            let acceptor = TlsAcceptor::from(tls.config.clone());
            for addr in &tls.addrs {
                let listener = TcpListener::bind(addr).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot bind SIP TLS {addr}: {e}"))
                })?;
                let local = listener.local_addr()?;
                info!(%local, "SIP TLS listening");
                tls_local.push(local);
                let (inbound, writers, next_conn) =
                    (inbound.clone(), writers.clone(), next_conn.clone());
                let (acceptor, names) = (acceptor.clone(), tls.peer_names.clone());
                let counter = counter.clone();
                tokio::spawn(async move {
                    loop {
                        let (stream, peer) = match listener.accept().await {
                            Ok(x) => x,
                            Err(e) => {
                                warn!(%local, error = %e, "TLS accept failed");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                                continue;
                            }
                        };
                        let Some(slot) = claim_slot(&counter, peer.ip(), conn_limits) else {
                            debug!(%peer, "TLS connection refused: connection limit");
                            continue;
                        };
                        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
                        let (acceptor, names) = (acceptor.clone(), names.clone());
                        let (inbound, writers) = (inbound.clone(), writers.clone());
                        // The handshake runs in its own task so a slow peer blocks nobody.
                        tokio::spawn(async move {
                            let stream =
                                match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream))
                                    .await
                                {
                                    Ok(Ok(s)) => s,
                                    Ok(Err(e)) => {
                                        info!(%peer, error = %e, "TLS handshake refused");
                                        return;
                                    }
                                    Err(_) => {
                                        info!(%peer, "TLS handshake timed out");
                                        return;
                                    }
                                };
                            let allowed = names.read().map(|n| n.clone()).unwrap_or_default();
                            let cert_ok = match stream.get_ref().1.peer_certificates() {
                                Some([leaf, ..]) => tls::peer_name_allowed(leaf, &allowed),
                                // No client certificate: only when the config allows that.
                                _ => allowed.is_empty(),
                            };
                            if !cert_ok {
                                info!(%peer, allowed = ?allowed, "TLS peer certificate name not allowed: closing");
                                return;
                            }
                            debug!(%peer, conn, "TLS connection established");
                            let (reader, writer) = tokio::io::split(stream);
                            spawn_connection(
                                reader,
                                writer,
                                Transport::Tls { conn, local },
                                peer,
                                Some(slot),
                                StreamEnv {
                                    max_message,
                                    idle: conn_limits.idle,
                                    inbound,
                                    writers,
                                },
                            );
                        });
                    }
                });
            }
        }
        Ok(Network {
            udp: udp_sockets,
            tcp_local,
            tls_local,
            writers,
            next_conn,
            inbound,
            max_message,
            idle: conn_limits.idle,
            tls_client,
        })
    }

    /// Opens a mutual-TLS connection to `addr`, checking its certificate for `host`.
    pub async fn connect_tls(&self, addr: SocketAddr, host: &str) -> io::Result<Transport> {
        let Some(client) = self.tls_client.clone() else {
            return Err(io::Error::other(
                "no TLS client configuration (tls.certificate, tls.private_key, tls.ca)",
            ));
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tcp = dial(addr).await?;
        let local = tcp.local_addr()?;
        let stream = tokio::time::timeout(
            TLS_HANDSHAKE,
            tokio_rustls::TlsConnector::from(client).connect(name, tcp),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("TLS handshake {addr}")))??;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let transport = Transport::Tls { conn, local };
        let (reader, writer) = tokio::io::split(stream);
        spawn_connection(reader, writer, transport, addr, None, self.stream_env());
        Ok(transport)
    }

    /// What a connection we open needs from the network layer.
    fn stream_env(&self) -> StreamEnv {
        StreamEnv {
            max_message: self.max_message,
            idle: self.idle,
            inbound: self.inbound.clone(),
            writers: self.writers.clone(),
        }
    }

    /// Opens a TCP connection for a request we originate; responses come back on it.
    pub async fn connect_tcp(&self, addr: SocketAddr) -> io::Result<Transport> {
        let stream = dial(addr).await?;
        let local = stream.local_addr()?;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (reader, writer) = stream.into_split();
        let transport = Transport::Tcp { conn, local };
        spawn_connection(reader, writer, transport, addr, None, self.stream_env());
        Ok(transport)
    }

    /// Local addresses of the TLS listeners.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls_local.clone()
    }

    /// Local addresses of the UDP listeners (ports resolved when bound to 0).
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Local addresses of the TCP listeners.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp_local.clone()
    }

    /// Sends one message. Errors are logged: SIP retransmission covers transient loss.
    pub async fn send(&self, t: Transmit) {
        match t.remote.transport {
            Transport::Udp { local } => {
                let socket = self
                    .udp
                    .iter()
                    .find(|s| s.local_addr().ok() == Some(local))
                    .or_else(|| self.udp.first());
                if let Some(socket) = socket {
                    if let Err(e) = socket.send_to(&t.bytes, t.remote.addr).await {
                        debug!(to = %t.remote.addr, error = %e, "UDP send failed");
                    }
                }
            }
            Transport::Tcp { conn, .. } | Transport::Tls { conn, .. } => {
                let writer = self.writers.lock().ok().and_then(|w| w.get(&conn).cloned());
                match writer {
                    Some(w) => {
                        if w.send(t.bytes).await.is_err() {
                            debug!(conn, "TCP connection closed before send");
                        }
                    }
                    None => debug!(conn, to = %t.remote.addr, "no TCP connection for send"),
                }
            }
        }
    }

    /// The transport for requests we originate over UDP (MWI NOTIFY).
    pub fn udp_transport(&self) -> Option<Transport> {
        self.udp_addrs()
            .first()
            .map(|local| Transport::Udp { local: *local })
    }
}

/// Connects to `addr` for a request we originate, giving up after 5 s.
async fn dial(addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect {addr}")))?
}

/// A larger kernel receive buffer absorbs bursts (and floods) while the core catches up.
fn set_receive_buffer(socket: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    if let Err(error) = os::set_socket_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes) {
        debug!(%error, "SO_RCVBUF not set");
    }
}

async fn udp_loop(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    admission: Arc<limits::Admission>,
    inbound: mpsc::Sender<Inbound>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, addr)) => {
                // Floods from untrusted sources end here: no copy, no parse, no core work.
                if !admission.admit(addr.ip()) {
                    continue;
                }
                // RFC 5626 keep-alives (CRLF) carry no message.
                if buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let msg = Inbound {
                    remote: Remote {
                        transport: Transport::Udp { local },
                        addr,
                    },
                    bytes: buf[..n].to_vec(),
                };
                if inbound.send(msg).await.is_err() {
                    return;
                }
            }
            // ICMP port unreachable from an earlier send shows up here on Linux: not fatal.
            Err(e) => debug!(%local, error = %e, "UDP receive error"),
        }
    }
}

/// What every stream connection needs from the network layer.
#[derive(Clone)]
struct StreamEnv {
    max_message: usize,
    idle: std::time::Duration,
    inbound: mpsc::Sender<Inbound>,
    writers: Writers,
}

/// Runs one stream connection (TCP or TLS): a writer task fed by the core, and a reader task
/// that frames messages by Content-Length.
fn spawn_connection<R, W>(
    mut reader: R,
    mut writer: W,
    transport: Transport,
    peer: SocketAddr,
    slot: Option<ConnSlot>,
    env: StreamEnv,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let StreamEnv {
        max_message,
        idle,
        inbound,
        writers,
    } = env;
    let conn = match transport {
        Transport::Tcp { conn, .. } | Transport::Tls { conn, .. } => conn,
        Transport::Udp { .. } => return,
    };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    if let Ok(mut w) = writers.lock() {
        w.insert(conn, tx);
    }
    debug!(conn, %peer, "stream connection");
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let remote = Remote {
            transport,
            addr: peer,
        };
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        'conn: loop {
            let read = tokio::time::timeout(idle, reader.read(&mut chunk)).await;
            let n = match read {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    debug!(conn, error = %e, "stream read error");
                    break;
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
                let skip = buf
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count();
                buf.drain(..skip);
                match frame_length(&buf, max_message) {
                    Ok(Some(len)) => {
                        let bytes: Vec<u8> = buf.drain(..len).collect();
                        if inbound.send(Inbound { remote, bytes }).await.is_err() {
                            break 'conn;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // A stream that lost framing cannot be resynchronised: close it.
                        warn!(conn, %peer, error = %e, "closing connection: bad framing");
                        break 'conn;
                    }
                }
            }
        }
        if let Ok(mut w) = writers.lock() {
            w.remove(&conn);
        }
        drop(slot);
        debug!(conn, %peer, "connection closed");
    });
}
