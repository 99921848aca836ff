//! SIP: message model, URIs and status codes, header parsers, transactions and the endpoint
//! (all sans-IO), and RFC 3263 server location.

pub mod endpoint;
pub mod headers;
pub mod locate;
pub mod message;
pub mod status;
pub mod transaction;
pub mod uri;

pub use status::StatusCode;
pub use uri::Uri;

use std::net::SocketAddr;

/// The transport a message came in on or goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP listener, identified by its local address.
    Udp { local: SocketAddr },
    /// One accepted or opened TCP connection.
    Tcp { conn: u64, local: SocketAddr },
    /// One TLS connection (the peer's certificate was verified when it was accepted).
    Tls { conn: u64, local: SocketAddr },
}

impl Transport {
    /// Reliable transports get no retransmissions from the transaction layer.
    pub fn is_reliable(&self) -> bool {
        matches!(self, Transport::Tcp { .. } | Transport::Tls { .. })
    }

    /// Local address of the listener or connection.
    pub fn local(&self) -> SocketAddr {
        match self {
            Transport::Udp { local }
            | Transport::Tcp { local, .. }
            | Transport::Tls { local, .. } => *local,
        }
    }

    /// The Via transport token.
    pub fn via_name(&self) -> &'static str {
        match self {
            Transport::Udp { .. } => "UDP",
            Transport::Tcp { .. } => "TCP",
            Transport::Tls { .. } => "TLS",
        }
    }

    /// Whether the message came over TLS (VoIPSecurity SIPSecured / Secured).
    pub fn is_secure(&self) -> bool {
        matches!(self, Transport::Tls { .. })
    }
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Remote {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// Bytes for the network layer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub remote: Remote,
    pub bytes: Vec<u8>,
}
