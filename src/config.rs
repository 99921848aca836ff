//! Gateway configuration (TOML): listeners, trusted peers, media ports, paths, limits.
//!
//! Every key has a default, so an empty file (or no file: `umgw run` without `--config`) is a
//! working loopback gateway. Dial plans carry the per-plan call limits; this file carries what
//! belongs to the host.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::acl::{self, IpNet};

mod email;
mod secret;
mod transcription;
pub use email::EmailConfig;
pub use secret::{resolve_password, Secret};
pub use transcription::TranscriptionConfig;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type, at a 1-based line and column.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values parse but do not make a usable gateway (e.g. no listener).
    #[error("{path}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Upper bound of `admin.max_connections` (each connection holds a descriptor).
const ADMIN_MAX_CONNECTIONS: usize = 4096;

/// The whole gateway configuration (`umgw.toml`; every key is documented in `docs/CONFIG.md`,
/// which `tests/config_reference.rs` keeps in step with these structs).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[sip]`: SIP listeners (UDP, TCP), RFC 3261 timers, static routes.
    pub sip: SipConfig,
    /// `[tls]`: SIP over TLS listeners and certificates.
    pub tls: TlsConfig,
    /// `[media]`: RTP address and port range.
    pub media: MediaConfig,
    /// `[peers]`: who may send calls.
    pub peers: PeersConfig,
    /// `[paths]`: dial plans, prompts, data directory.
    pub paths: PathsConfig,
    /// `[call]`: call handling that is not per dial plan.
    pub call: CallConfig,
    /// `[subscriber]`: subscriber access (users calling for their messages).
    pub subscriber: SubscriberConfig,
    /// `[limits]`: flood and scan protection.
    pub limits: LimitsConfig,
    /// `[admin]`: the operator's HTTP endpoint.
    pub admin: AdminConfig,
    /// `[log]`: what is logged.
    pub log: LogConfig,
    /// `[store]`: where mailboxes live (Maildir or IMAP), quotas, delivery retries.
    pub store: StoreConfig,
    /// `[imap]`: the IMAP server, when `store.backend = "imap"`.
    pub imap: ImapConfig,
    /// `[transcription]`: Voice Mail Preview (speech recognition of voice mails).
    pub transcription: TranscriptionConfig,
    /// `[email]`: e-mail notification of new voice mail (SMTP), for `NotifyEmail` mailboxes.
    pub email: EmailConfig,
}

/// Where messages are stored, mailbox limits and how a failed deposit is retried.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `maildir` (under `paths.data_dir`) or `imap` (`[imap]`).
    pub backend: String,
    /// Most messages (voice mails and missed-call notices) a mailbox holds; 0: no limit.
    pub max_messages: u32,
    /// Most bytes a mailbox's messages take in all; 0: no limit.
    pub max_bytes: u64,
    /// First delay before a failed deposit is tried again (ms); it doubles per failure.
    pub retry_initial_ms: u64,
    /// Longest delay between delivery attempts of a spooled recording (ms).
    pub retry_max_ms: u64,
    /// Attachment format: `wav` (16-bit PCM) or `ima-adpcm` (a quarter of the size).
    pub audio_format: String,
    /// Re-read every mailbox's MWI counts this often (s) and notify changes made outside the
    /// gateway (a mail client); 0: only on the gateway's own events.
    pub mwi_poll_s: u64,
    /// `k/n`: in a cluster of `n` gateways on one store, this node polls (and refreshes at
    /// start-up) the `k`-th of `n` shares of the mailboxes, so a change made in a mail client
    /// is notified by one node, not by every node. `1/1` (default): all mailboxes.
    pub mwi_poll_share: String,
}

/// `store.mwi_poll_share`: which of `n` shares of the mailboxes this node polls for MWI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollShare {
    /// 1-based.
    pub k: u32,
    pub n: u32,
}

impl PollShare {
    /// `k/n`, 1 <= k <= n <= 1000.
    pub fn parse(text: &str) -> Option<PollShare> {
        let (k, n) = text.trim().split_once('/')?;
        let (k, n) = (k.trim().parse().ok()?, n.trim().parse().ok()?);
        (1..=n).contains(&k).then_some(())?;
        (n <= 1000).then_some(PollShare { k, n })
    }

    /// Whether mailbox `id` is in this share. The split is by a hash of the id that every
    /// node and every build computes alike (FNV-1a), so the shares of all nodes cover each
    /// mailbox exactly once.
    pub fn covers(&self, id: &str) -> bool {
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        hash % u64::from(self.n) == u64::from(self.k - 1)
    }
}

impl StoreConfig {
    /// `mwi_poll_share`, parsed (validation refused a malformed one at load).
    pub fn poll_share(&self) -> PollShare {
        PollShare::parse(&self.mwi_poll_share).unwrap_or(PollShare { k: 1, n: 1 })
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: "maildir".into(),
            max_messages: 0,
            max_bytes: 0,
            retry_initial_ms: 1000,
            retry_max_ms: 60_000,
            audio_format: "wav".into(),
            mwi_poll_s: 0,
            mwi_poll_share: "1/1".into(),
        }
    }
}

/// An IMAP server holding the mailboxes (one account per mailbox, usually reached through a
/// Dovecot master user).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// `host:port` of the server.
    pub server: String,
    /// `none` (plain IMAP, loopback or a trusted network only), `implicit` (IMAPS, port 993)
    /// or `starttls`.
    pub tls: String,
    /// PEM CA certificates to verify the server with (required when `tls` is not `none`).
    pub ca: Option<PathBuf>,
    /// Name checked against the server certificate; default: the host part of `server`.
    pub server_name: Option<String>,
    /// The gateway's (master) user, substituted for `{user}` in `login`.
    pub user: String,
    /// Login name for a mailbox: `{mailbox}` is the mailbox id, `{user}` is `user`
    /// (Dovecot master-user syntax `mailbox*master` by default).
    pub login: String,
    /// Password of `user` (prefer `password_file` or `password_env`).
    pub password: Option<Secret>,
    /// File whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Folder voice mail is delivered to and read from.
    pub folder: String,
    /// Folder of each account holding the user's PIN record, log-on attempts and greetings
    /// (created on first use, not subscribed); must differ from `folder`.
    pub state_folder: String,
    /// Idle connections kept open to the server.
    pub pool_size: usize,
    /// TCP connect timeout (ms).
    pub connect_timeout_ms: u64,
    /// Longest wait for a server response (ms).
    pub io_timeout_ms: u64,
    /// Longest back-off between reconnect attempts after the server went away (ms).
    pub reconnect_max_ms: u64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            server: "127.0.0.1:143".into(),
            tls: "none".into(),
            ca: None,
            server_name: None,
            user: "umgw".into(),
            login: "{mailbox}*{user}".into(),
            password: None,
            password_file: None,
            password_env: None,
            folder: "INBOX".into(),
            state_folder: "UMGW-State".into(),
            pool_size: 8,
            connect_timeout_ms: 3000,
            io_timeout_ms: 15_000,
            reconnect_max_ms: 10_000,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: a level (`info`, `debug`...) or per-module directives
    /// (`info,umgw::sip=debug`). The `UMGW_LOG` (or else `RUST_LOG`) environment variable
    /// overrides it.
    pub level: String,
    /// `text` lines, or `json` (one object per line with the call's span fields, for a log
    /// pipeline). The `UMGW_LOG_FORMAT` environment variable overrides it.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// The operator's HTTP endpoint: `/metrics` (Prometheus text), `/health`, `/status`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Listen address, e.g. `127.0.0.1:9060`; unset: no HTTP endpoint.
    pub listen: Option<SocketAddr>,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// File whose first line is the bearer token `POST` requests (play on phone) must carry;
    /// unset: the endpoint takes no actions.
    pub token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: None,
            max_connections: 64,
            token_file: None,
        }
    }
}

/// Flood and scan protection.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Messages per second one untrusted source may send (answered 403); more are dropped.
    pub untrusted_per_source: f64,
    /// Burst allowance per untrusted source.
    pub untrusted_burst: f64,
    /// Messages per second from all untrusted sources together.
    pub untrusted_total: f64,
    /// Open TCP/TLS connections one source address may hold.
    pub connections_per_source: usize,
    /// Open TCP/TLS connections in all.
    pub connections_total: usize,
    /// A TCP/TLS connection with no message for this long is closed (seconds).
    pub connection_idle_s: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            untrusted_per_source: 10.0,
            untrusted_burst: 20.0,
            untrusted_total: 200.0,
            connections_per_source: 64,
            connections_total: 4096,
            connection_idle_s: 600,
        }
    }
}

/// SIP listeners and protocol timers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP listen addresses.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    pub tcp: Vec<SocketAddr>,
    /// RFC 3261 T1 in milliseconds (RTT estimate).
    pub t1_ms: u64,
    /// RFC 3261 T2 in milliseconds (maximum retransmit interval for non-INVITE and 2xx).
    pub t2_ms: u64,
    /// RFC 3261 T4 in milliseconds (maximum time a message stays in the network).
    pub t4_ms: u64,
    /// Largest SIP message accepted, in bytes; larger gets 513 (UDP) or closes the stream (TCP).
    pub max_message_bytes: usize,
    /// `Server` / `User-Agent` header value; empty: neither header is sent.
    pub server_name: String,
    /// The FQDN peers know the gateway by (`ms-diagnostics` `source`); empty: this host's name.
    pub fqdn: String,
    /// Outbound targets resolved without DNS.
    pub routes: Vec<StaticRoute>,
}

/// SIP over TLS (RFC 3261 §26, port 5061) with rustls; mutual TLS for trusted peers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// TLS listen addresses (empty: no TLS).
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain of this gateway (a real FQDN subject, no wildcard).
    pub certificate: Option<PathBuf>,
    /// PEM private key of `certificate`.
    pub private_key: Option<PathBuf>,
    /// PEM CA certificates that sign the peers' client certificates.
    pub ca: Option<PathBuf>,
    /// Require a client certificate signed by `ca` (mutual TLS, VoIPSecurity SIPSecured/Secured).
    pub require_client_certificate: bool,
    /// Accepted peer certificate names (DNS SAN); empty accepts any certificate `ca` signed.
    /// Dial-plan `[[Peer]] CertificateName` entries are added to this list.
    pub peer_names: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            certificate: None,
            private_key: None,
            ca: None,
            require_client_certificate: true,
            peer_names: Vec::new(),
        }
    }
}

/// Static outbound routes that bypass DNS (RFC 3263 resolution is used otherwise).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// Host part of target URIs this route applies to (e.g. `pool.contoso.com`).
    pub domain: String,
    /// Where to send: `ip:port`.
    pub address: SocketAddr,
    /// `udp`, `tcp` or `tls`.
    #[serde(default = "default_transport")]
    pub transport: String,
}

fn default_transport() -> String {
    "udp".into()
}

/// RTP address and port range.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address RTP sockets bind to and advertise in SDP.
    pub address: IpAddr,
    /// First RTP port (even) of the range used for calls.
    pub rtp_port_min: u16,
    /// Last RTP port of the range.
    pub rtp_port_max: u16,
    /// How long (ms, 1,000…60,000) a port rests after its call ended before another call gets
    /// it, so packets still arriving for the old call never reach the new one. Calls get a
    /// random even port of the range.
    pub rtp_port_reuse_delay_ms: u64,
    /// Nice value of the media worker threads (−20…19). Below 0 they are woken ahead of
    /// storage and signalling work, which keeps prompt pacing even when the host is busy.
    pub worker_nice: i32,
    /// SCHED_RR priority (1…99) of the media workers; 0: not real-time (`worker_nice`).
    pub worker_realtime_priority: u8,
    /// Time slice (µs, 100…100,000) the media workers ask the scheduler for (Linux 6.12+,
    /// `sched_setattr`). A short slice lets a waking worker preempt a busy thread at once
    /// instead of after that thread's slice; 0 keeps the kernel's default.
    pub worker_slice_us: u32,
}

/// Who may send calls. Anyone else gets 403 and no state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeersConfig {
    /// Trusted peer addresses: single IPs or CIDR blocks (`10.0.0.0/8`).
    pub trusted: Vec<String>,
}

/// Where the gateway finds its files. `None` means the embedded defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Directory of dial-plan files (`*.toml`).
    pub dialplans: Option<PathBuf>,
    /// Directory of prompt files.
    pub prompts: Option<PathBuf>,
    /// Data directory: `mailboxes/` (Maildir store) and `spool/` (recordings in progress).
    pub data_dir: Option<PathBuf>,
    /// The Maildir root, when it is not `<data_dir>/mailboxes` (a file system shared by the
    /// nodes of a cluster, while each node's spool stays in its own data directory).
    pub mailboxes: Option<PathBuf>,
}

/// Call handling that is not per dial plan.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallConfig {
    /// Ring time before answering (180 Ringing is sent meanwhile); 0 answers at once.
    pub answer_delay_ms: u64,
    /// Beep frequency after the greeting.
    pub beep_hz: f32,
    /// Beep length.
    pub beep_ms: u32,
    /// Level below which a 20 ms frame counts as silence for the idle timeout.
    pub silence_threshold_dbfs: f32,
    /// Seed for Call-IDs, tags, branches, SSRCs; 0 seeds from the OS.
    pub rng_seed: u64,
    /// New calls get 503 when the spool's file system has less free space than this (MiB).
    pub min_free_disk_mb: u64,
    /// On SIGTERM, calls in progress may finish for this long; then the gateway hangs them up
    /// (BYE) and deposits what they recorded before it exits (anything still running 5 s
    /// later is recovered from the spool at the next start).
    pub shutdown_grace_ms: u64,
}

/// Subscriber access that is not per dial plan (the PIN policy is).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriberConfig {
    /// Most subscriber-access calls one mailbox may have at once; a call beyond it is told
    /// so and disconnected before the PIN prompt (parallel calls would multiply PIN guesses).
    pub max_sessions_per_mailbox: u32,
}

/// Upper bound of `subscriber.max_sessions_per_mailbox`: beyond it the cap stops capping.
const MAX_SESSIONS_PER_MAILBOX: u32 = 100;

impl Default for SubscriberConfig {
    fn default() -> Self {
        Self {
            max_sessions_per_mailbox: 2,
        }
    }
}

impl SipConfig {
    /// The FQDN the gateway names itself by: `sip.fqdn`, else this host's name.
    pub fn own_fqdn(&self) -> String {
        if !self.fqdn.is_empty() {
            return self.fqdn.clone();
        }
        crate::net::os::hostname().unwrap_or_else(|| "localhost".to_owned())
    }
}

/// A DNS host name: dot-separated labels of letters, digits and inner hyphens, 253 characters
/// at most.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            udp: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            tcp: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_message_bytes: 65_535,
            server_name: format!("umgw/{}", env!("CARGO_PKG_VERSION")),
            fqdn: String::new(),
            routes: Vec::new(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            address: IpAddr::from([127, 0, 0, 1]),
            rtp_port_min: 20000,
            rtp_port_max: 29999,
            rtp_port_reuse_delay_ms: 5000,
            worker_nice: -10,
            worker_realtime_priority: 10,
            worker_slice_us: 100,
        }
    }
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            trusted: vec!["127.0.0.0/8".into(), "::1".into()],
        }
    }
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            answer_delay_ms: 0,
            beep_hz: 1000.0,
            beep_ms: 250,
            silence_threshold_dbfs: -45.0,
            rng_seed: 0,
            min_free_disk_mb: 64,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Config {
    /// Reads and validates a config file. Relative paths inside are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.paths.dialplans,
            &mut config.paths.prompts,
            &mut config.paths.data_dir,
            &mut config.tls.certificate,
            &mut config.tls.private_key,
            &mut config.tls.ca,
            &mut config.imap.ca,
            &mut config.imap.password_file,
            &mut config.transcription.api_key_file,
            &mut config.transcription.model_dir,
            &mut config.transcription.ca,
            &mut config.email.ca,
            &mut config.email.password_file,
            &mut config.admin.token_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Parses config text; `path` only names the source in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        if self.sip.udp.is_empty() && self.sip.tcp.is_empty() && self.tls.listen.is_empty() {
            return Err(invalid(
                "no SIP listener: set sip.udp, sip.tcp or tls.listen".into(),
            ));
        }
        if !self.tls.listen.is_empty() {
            if self.tls.certificate.is_none() || self.tls.private_key.is_none() {
                return Err(invalid(
                    "tls.listen is set: tls.certificate and tls.private_key are required".into(),
                ));
            }
            if self.tls.require_client_certificate && self.tls.ca.is_none() {
                return Err(invalid(
                    "tls.require_client_certificate needs tls.ca (the CA that signs peer certificates)"
                        .into(),
                ));
            }
        }
        for route in &self.sip.routes {
            if !["udp", "tcp", "tls"].contains(&route.transport.as_str()) {
                return Err(invalid(format!(
                    "sip.routes: transport {:?} for {} must be udp, tcp or tls",
                    route.transport, route.domain
                )));
            }
        }
        if self.media.rtp_port_min == 0 || self.media.rtp_port_min > self.media.rtp_port_max {
            return Err(invalid(format!(
                "media.rtp_port_min ({}) must be non-zero and not above media.rtp_port_max ({})",
                self.media.rtp_port_min, self.media.rtp_port_max
            )));
        }
        if self.media.rtp_port_min == self.media.rtp_port_max && self.media.rtp_port_min % 2 == 1 {
            return Err(invalid(format!(
                "media.rtp_port_min..rtp_port_max ({}) holds no even port (RTP uses even ports)",
                self.media.rtp_port_min
            )));
        }
        if !(1000..=60_000).contains(&self.media.rtp_port_reuse_delay_ms) {
            return Err(invalid(format!(
                "media.rtp_port_reuse_delay_ms ({}) must be between 1000 and 60000",
                self.media.rtp_port_reuse_delay_ms
            )));
        }
        if !(-20..=19).contains(&self.media.worker_nice) {
            return Err(invalid(format!(
                "media.worker_nice ({}) must be between -20 and 19",
                self.media.worker_nice
            )));
        }
        if self.media.worker_realtime_priority > 99 {
            return Err(invalid(format!(
                "media.worker_realtime_priority ({}) must be between 0 (off) and 99",
                self.media.worker_realtime_priority
            )));
        }
        let slice = self.media.worker_slice_us;
        if slice != 0 && !(100..=100_000).contains(&slice) {
            return Err(invalid(format!(
                "media.worker_slice_us ({slice}) must be 0 (kernel default) or between 100 and 100000"
            )));
        }
        let sessions = self.subscriber.max_sessions_per_mailbox;
        if !(1..=MAX_SESSIONS_PER_MAILBOX).contains(&sessions) {
            return Err(invalid(format!(
                "subscriber.max_sessions_per_mailbox ({sessions}) must be between 1 and {MAX_SESSIONS_PER_MAILBOX}"
            )));
        }
        if self.sip.t1_ms == 0 || self.sip.t2_ms < self.sip.t1_ms {
            return Err(invalid(
                "sip.t1_ms must be > 0 and sip.t2_ms >= sip.t1_ms".into(),
            ));
        }
        if self.sip.server_name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "sip.server_name {:?} must be one line of text without control characters \
                 (or empty: no Server/User-Agent header)",
                self.sip.server_name
            )));
        }
        if !self.sip.fqdn.is_empty() && !is_dns_name(&self.sip.fqdn) {
            return Err(invalid(format!(
                "sip.fqdn {:?} must be a host name (letters, digits, '-' and '.'; no wildcard), \
                 e.g. \"umgw01.contoso.com\"",
                self.sip.fqdn
            )));
        }
        self.trusted_peers().map_err(invalid)?;
        if !(1..=ADMIN_MAX_CONNECTIONS).contains(&self.admin.max_connections) {
            return Err(invalid(format!(
                "admin.max_connections ({}) must be between 1 and {ADMIN_MAX_CONNECTIONS}",
                self.admin.max_connections
            )));
        }
        let (store, imap) = (&self.store, &self.imap);
        match store.backend.as_str() {
            "maildir" => {}
            "imap" => {
                if !["none", "implicit", "starttls"].contains(&imap.tls.as_str()) {
                    return Err(invalid(format!(
                        "imap.tls {:?} must be none, implicit or starttls",
                        imap.tls
                    )));
                }
                if imap.tls != "none" && imap.ca.is_none() {
                    return Err(invalid(
                        "imap.tls needs imap.ca (the CA that signs the server)".into(),
                    ));
                }
                if !imap.login.contains("{mailbox}") {
                    return Err(invalid("imap.login must contain {mailbox}".into()));
                }
                if imap.state_folder.trim().is_empty()
                    || imap.state_folder.eq_ignore_ascii_case(&imap.folder)
                    || imap.state_folder.eq_ignore_ascii_case("INBOX")
                    || imap.state_folder.contains(['"', '\\', '\r', '\n'])
                {
                    return Err(invalid(format!(
                        "imap.state_folder {:?} must be a folder of its own: not empty, not INBOX or imap.folder, without quotes, backslashes or line breaks",
                        imap.state_folder
                    )));
                }
            }
            other => {
                return Err(invalid(format!(
                    "store.backend {other:?} must be maildir or imap"
                )))
            }
        }
        if crate::audio::AudioFormat::from_config(&store.audio_format).is_none() {
            return Err(invalid(format!(
                "store.audio_format {:?} must be wav or ima-adpcm",
                store.audio_format
            )));
        }
        if PollShare::parse(&store.mwi_poll_share).is_none() {
            return Err(invalid(format!(
                "store.mwi_poll_share {:?} must be k/n with 1 <= k <= n <= 1000 (this node's \
                 share of the mailboxes, e.g. \"2/3\" on the second of three nodes)",
                store.mwi_poll_share
            )));
        }
        if store.retry_initial_ms == 0 || store.retry_max_ms < store.retry_initial_ms {
            return Err(invalid(
                "store.retry_initial_ms must be > 0 and store.retry_max_ms >= it".into(),
            ));
        }
        self.transcription.validate().map_err(invalid)?;
        self.email.validate().map_err(invalid)?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            invalid(format!(
                "log.level {:?} is not a log filter: {e}",
                self.log.level
            ))
        })?;
        if crate::logging::LogFormat::from_config(&self.log.format).is_none() {
            return Err(invalid(format!(
                "log.format {:?} must be text or json",
                self.log.format
            )));
        }
        Ok(())
    }

    /// The trusted peer list as parsed networks (`crate::acl`, the parser the dial plans use).
    pub fn trusted_peers(&self) -> Result<Vec<IpNet>, String> {
        self.peers
            .trusted
            .iter()
            .map(|s| acl::parse_network(s).map_err(|e| format!("peers.trusted: {e}")))
            .collect()
    }

    /// RFC 3261 T1 as a duration.
    pub fn t1(&self) -> Duration {
        Duration::from_millis(self.sip.t1_ms)
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

#[cfg(test)]
mod test;
