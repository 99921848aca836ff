//! The gateway: the one place where a call's life is visible end to end.
//!
//! A core task drives the sans-IO [`Endpoint`] with bytes from [`Network`] and with its timers,
//! decides what each new INVITE is for (peer ACL already applied by the endpoint; then the
//! called party from History-Info / Diversion / Request-URI, the dial plan, the SDP answer) and
//! spawns one task per call (`call.rs`) that runs its flow; a deposit's media runs on a media
//! worker thread (`media_worker.rs`, `deposit_call.rs`).

pub mod assets;
mod attendant_call;
mod call;
mod deposit_call;
mod interactive;
mod media_worker;
mod rtp_ports;
pub mod spool;
mod subscriber_call;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::config::Config;
use crate::dialplan::{DialPlans, Route, VoipSecurity};
use crate::media::g711::G711;
use crate::media::prompts::PromptLibrary;
use crate::net::limits::{Admission, FloodLimits};
use crate::net::{Inbound, Network};
use crate::sdp;
use crate::sip::endpoint::{
    CallId, Endpoint, EndpointConfig, EndpointEvent, Explanation, RequestId,
};
use crate::sip::headers;
use crate::sip::message::{self, Message};
use crate::sip::transaction::TimerConfig;
use crate::sip::{Remote, StatusCode, Transport, Uri};
use crate::store::{Mailbox, Maildir};
use crate::telemetry;

use call::{BridgeUpdate, CallSetup, CallSignal, FlowSetup, TransferUpdate};

/// Everything a running gateway needs besides its config.
pub struct Resources {
    pub dialplans: DialPlans,
    pub prompts: PromptLibrary,
    pub store: Arc<dyn Mailbox>,
    /// Recordings in progress (and recordings kept after a failed deposit).
    pub spool: Arc<spool::Spool>,
    /// The Maildir store's root: one directory per mailbox (messages, greeting, PIN state).
    pub mailboxes_dir: PathBuf,
}

impl Resources {
    /// Loads dial plans, prompts and the Maildir store as the config says (embedded defaults
    /// where a path is not set).
    pub fn load(config: &Config) -> anyhow::Result<Resources> {
        let dialplans = match &config.paths.dialplans {
            Some(dir) => crate::dialplan::load_dir(dir),
            None => assets::dialplans(),
        }
        .map_err(|diags| {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("dial plans have errors:\n{}", lines.join("\n"))
        })?;
        let prompts = prompt_library(config)?;
        for missing in missing_prompts(&dialplans, &prompts) {
            warn!("{missing}; it will be skipped");
        }
        let data = data_dir(config);
        let mailboxes_dir = data.join("mailboxes");
        let store = open_store(config, &mailboxes_dir)?;
        let spool_dir = data.join("spool");
        let spool = spool::Spool::open(&spool_dir)
            .with_context(|| format!("opening spool directory {}", spool_dir.display()))?;
        Ok(Resources {
            dialplans,
            prompts,
            store,
            spool,
            mailboxes_dir,
        })
    }
}

/// The `[store]` backend: Maildir under the data directory, or an IMAP server (greetings and
/// PINs stay under `mailboxes_dir` either way).
pub fn open_store(
    config: &Config,
    mailboxes_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Mailbox>> {
    // Validated with the config: an unknown name cannot get here.
    let format = crate::store::audio::AudioFormat::from_config(&config.store.audio_format)
        .unwrap_or_default();
    Ok(match config.store.backend.as_str() {
        "imap" => {
            let store = crate::store::Imap::open(&config.imap, mailboxes_dir)
                .context("opening the IMAP store")?
                .with_audio_format(format);
            info!(server = %store.server(), "mailboxes on IMAP");
            Arc::new(store)
        }
        _ => Arc::new(
            Maildir::open(mailboxes_dir)
                .with_context(|| {
                    format!("opening Maildir store under {}", mailboxes_dir.display())
                })?
                .with_audio_format(format),
        ),
    })
}

/// Delivers spool entries whose deposit failed (store down) in the background, then sends
/// their MWI.
fn spawn_spool_retry(core: &Core) {
    let (shared, commands) = (core.shared.clone(), core.cmd_tx.clone());
    let initial = Duration::from_millis(core.config.store.retry_initial_ms);
    let max = Duration::from_millis(core.config.store.retry_max_ms);
    tokio::spawn(async move {
        let mut retry = Some(spool::Retry::new(initial, max));
        // Scan often enough to honour the first delay, not more than twice a second.
        let tick = initial.min(Duration::from_millis(500));
        loop {
            tokio::time::sleep(tick).await;
            let Some(mut r) = retry.take() else { return };
            let (spool, store) = (shared.spool.clone(), shared.store.clone());
            let Ok((r, delivered)) = tokio::task::spawn_blocking(move || {
                let d = r.pass(&spool, &*store, Instant::now());
                (r, d)
            })
            .await
            else {
                return;
            };
            retry = Some(r);
            for d in delivered {
                let Some(target) = d.notify_target else {
                    continue;
                };
                if let Some(counts) = store_counts(&shared, &d.mailbox_id).await {
                    call::send_mwi(&shared, &commands, &target, &d.mailbox_address, counts).await;
                }
            }
        }
    });
}

/// A mailbox's MWI counts from the store (on the blocking pool); `None` if it cannot say.
async fn store_counts(shared: &Shared, id: &str) -> Option<crate::store::Counts> {
    let (store, id) = (shared.store.clone(), id.to_owned());
    tokio::task::spawn_blocking(move || {
        crate::store::MailboxId::new(&id).and_then(|id| store.counts(&id))
    })
    .await
    .ok()?
    .ok()
}

/// With `store.mwi_poll_s`, re-reads every mailbox's counts that often and sends MWI when they
/// changed since the previous poll, so a message read or deleted in a mail client (IMAP) turns
/// the lamp off at the next poll. The mailboxes are the dial plans' at start-up.
fn spawn_mwi_poll(core: &Core) {
    let every = Duration::from_secs(core.config.store.mwi_poll_s);
    let targets = core.mwi_targets();
    if every.is_zero() || targets.is_empty() {
        return;
    }
    let (shared, commands) = (core.shared.clone(), core.cmd_tx.clone());
    tokio::spawn(async move {
        // The baseline is read now, beside the start-up refresh that sends the same counts.
        let mut last: HashMap<String, crate::store::Counts> = HashMap::new();
        for (id, _, _) in &targets {
            if let Some(counts) = store_counts(&shared, id).await {
                last.insert(id.clone(), counts);
            }
        }
        loop {
            tokio::time::sleep(every).await;
            for (id, address, target) in &targets {
                let Some(counts) = store_counts(&shared, id).await else {
                    continue;
                };
                if last.insert(id.clone(), counts) != Some(counts) {
                    call::send_mwi(&shared, &commands, target, address, counts).await;
                }
            }
        }
    });
}

/// The data directory: configured, else `$UMGW_DATA_DIR`, else `./umgw-data`.
pub fn data_dir(config: &Config) -> PathBuf {
    config
        .paths
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("UMGW_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("umgw-data"))
}

/// What call tasks share: prompts, the store, the spool. Dial plans stay with the core, so a
/// reload never changes a call in progress.
pub(crate) struct Shared {
    pub prompts: PromptLibrary,
    pub store: Arc<dyn Mailbox>,
    pub spool: Arc<spool::Spool>,
    pub mailboxes_dir: PathBuf,
    /// `store.max_messages` / `store.max_bytes`.
    pub quota: crate::store::Quota,
    /// Finds where MWI NOTIFYs go (static routes, then RFC 3263).
    pub locator: crate::sip::locate::Locator,
    /// Subscriber-access calls per mailbox (`subscriber.max_sessions_per_mailbox`).
    pub subscriber_sessions: subscriber_call::MailboxSessions,
}

/// The trusted peer networks and accepted TLS certificate names: the config's plus the dial
/// plans' peers.
fn plan_peers(config: &Config, plans: &DialPlans) -> (Vec<crate::net::acl::IpNet>, Vec<String>) {
    let mut trusted = config.trusted_peers().unwrap_or_default();
    let mut names = config.tls.peer_names.clone();
    for (_, peer) in plans.peers() {
        trusted.push(peer.network);
        if let Some(name) = &peer.certificate_name {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    (trusted, names)
}

/// The TLS listener settings: certificate, CA, and accepted peer names (config + dial plans).
fn tls_listen(config: &Config, plans: &DialPlans) -> anyhow::Result<Option<crate::net::TlsListen>> {
    if config.tls.listen.is_empty() {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&config.tls.certificate, &config.tls.private_key) else {
        anyhow::bail!("tls.listen needs tls.certificate and tls.private_key");
    };
    let server = crate::net::tls::server_config(
        cert,
        key,
        config.tls.ca.as_deref(),
        config.tls.require_client_certificate,
    )?;
    let client = match &config.tls.ca {
        Some(ca) => Some(crate::net::tls::client_config(cert, key, ca)?),
        None => None,
    };
    Ok(Some(crate::net::TlsListen {
        addrs: config.tls.listen.clone(),
        config: server,
        client,
        peer_names: Arc::new(std::sync::RwLock::new(plan_peers(config, plans).1)),
    }))
}

/// Commands from call tasks to the core.
#[derive(Debug)]
enum CoreCmd {
    Ringing(CallId),
    Answer(CallId, Vec<u8>),
    /// Refuse a call not yet answered with this status (its task found it cannot serve it).
    Refuse(CallId, u16),
    HangUp(CallId),
    Finished(CallId),
    Notify(Notify),
    /// Ask the caller's side to transfer the call (REFER).
    Transfer {
        call: CallId,
        refer_to: String,
        referred_by: String,
    },
    /// Call `target` on a second leg for `call` (the peer did not accept REFER), offering
    /// `encoding`, the first leg's codec.
    Bridge {
        call: CallId,
        target: String,
        from: String,
        encoding: &'static str,
    },
    /// The connection for a NOTIFY is up.
    NotifyConnected(Notify, Transport),
}

/// A message-waiting NOTIFY to send (RFC 3842, unsolicited as Lync expects).
#[derive(Debug)]
struct Notify {
    target_uri: String,
    dest: SocketAddr,
    transport: crate::sip::locate::TransportKind,
    account: String,
    body: String,
}

/// A running gateway: its bound addresses and a handle to stop or reload it.
pub struct Running {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    /// The admin HTTP endpoint, when configured.
    pub admin: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    reload: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Reloads the dial plans from disk (SIGHUP). A broken file keeps the old plans.
    pub async fn reload(&self) {
        let _ = self.reload.send(()).await;
    }

    /// Stops taking calls, lets calls in progress finish (up to `call.shutdown_grace_ms`),
    /// then stops the core task and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }

    /// Waits until the core task ends by itself (it does not, unless it fails).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Binds the listeners and starts the gateway.
pub async fn start(config: Config, resources: Resources) -> anyhow::Result<Running> {
    config
        .trusted_peers()
        .map_err(|e| anyhow::anyhow!("peers.trusted: {e}"))?;
    let trusted = plan_peers(&config, &resources.dialplans).0;
    let admission = Arc::new(Admission::new(
        trusted.clone(),
        FloodLimits {
            per_source: config.limits.untrusted_per_source,
            per_source_burst: config.limits.untrusted_burst,
            total: config.limits.untrusted_total,
            ..FloodLimits::default()
        },
    ));
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(4096);
    let tls = tls_listen(&config, &resources.dialplans)?;
    let peer_names = tls.as_ref().map(|t| t.peer_names.clone());
    let network = Network::start(
        &config.sip.udp,
        &config.sip.tcp,
        tls,
        config.sip.max_message_bytes,
        crate::net::ConnectionLimits {
            per_source: config.limits.connections_per_source,
            total: config.limits.connections_total,
            idle: Duration::from_secs(config.limits.connection_idle_s),
        },
        admission.clone(),
        in_tx,
    )
    .await?;
    let endpoint = Endpoint::new(EndpointConfig {
        timers: TimerConfig {
            t1: Duration::from_millis(config.sip.t1_ms),
            t2: Duration::from_millis(config.sip.t2_ms),
            t4: Duration::from_millis(config.sip.t4_ms),
        },
        trusted,
        server_name: config.sip.server_name.clone(),
        rng_seed: config.call.rng_seed,
    });
    telemetry::install();
    let board = telemetry::StatusBoard::new();
    let admin = match config.admin.listen {
        Some(addr) => {
            Some(telemetry::serve(addr, config.admin.max_connections, board.clone()).await?)
        }
        None => None,
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (stop_tx, stop_rx) = oneshot::channel();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let udp = network.udp_addrs();
    let tcp = network.tcp_addrs();
    let tls = network.tls_addrs();
    let Resources {
        dialplans,
        prompts,
        store,
        spool,
        mailboxes_dir,
    } = resources;
    let locator = crate::sip::locate::Locator::new(config.sip.routes.clone());
    // Recordings cut off by a crash or a kill are deposited before any new call is taken.
    let recovered = {
        let (spool, store) = (spool.clone(), store.clone());
        tokio::task::spawn_blocking(move || spool::recover(&spool, &*store))
            .await
            .unwrap_or_default()
    };
    if !recovered.is_empty() {
        info!(
            count = recovered.len(),
            "deposited recordings recovered from the spool"
        );
    }
    let quota = crate::store::Quota {
        max_messages: config.store.max_messages,
        max_bytes: config.store.max_bytes,
    };
    let (config_media, config_seed) = (config.media.clone(), config.call.rng_seed);
    let subscriber_sessions =
        subscriber_call::MailboxSessions::new(config.subscriber.max_sessions_per_mailbox);
    let core = Core {
        beep: Arc::from(crate::media::prompts::tone(
            config.call.beep_hz,
            config.call.beep_ms,
            0.5,
        )),
        config,
        dialplans,
        peer_names,
        shared: Arc::new(Shared {
            prompts,
            store,
            spool,
            mailboxes_dir,
            quota,
            locator,
            subscriber_sessions,
        }),
        network: Arc::new(network),
        endpoint,
        calls: HashMap::new(),
        transfers: HashMap::new(),
        bridges: HashMap::new(),
        cmd_tx,
        rtp_ports: rtp_ports::RtpPorts::new(
            config_media.rtp_port_min,
            config_media.rtp_port_max,
            Duration::from_millis(config_media.rtp_port_reuse_delay_ms),
            config_seed,
        ),
        call_ports: HashMap::new(),
        draining: None,
        admission,
        board,
    };
    core.resend_mwi();
    media_worker::init(media_worker::Priority::from(&core.config.media));
    spawn_spool_retry(&core);
    spawn_mwi_poll(&core);
    let task = tokio::spawn(core.run(in_rx, cmd_rx, stop_rx, reload_rx));
    Ok(Running {
        udp,
        tcp,
        tls,
        admin,
        stop: Some(stop_tx),
        reload: reload_tx,
        task,
    })
}

struct Core {
    config: Config,
    dialplans: DialPlans,
    /// TLS peer names shared with the TLS acceptor (updated on reload).
    peer_names: Option<Arc<std::sync::RwLock<Vec<String>>>>,
    shared: Arc<Shared>,
    network: Arc<Network>,
    endpoint: Endpoint,
    calls: HashMap<CallId, mpsc::Sender<CallSignal>>,
    /// REFERs in flight, by request, and the call each transfers.
    transfers: HashMap<RequestId, CallId>,
    /// Second legs of bridged transfers: the leg, the call it serves, and its RTP socket
    /// until the leg is answered.
    bridges: HashMap<CallId, (CallId, Option<UdpSocket>)>,
    cmd_tx: mpsc::Sender<CoreCmd>,
    beep: Arc<[i16]>,
    /// Which RTP port a new call gets (random, resting after use).
    rtp_ports: rtp_ports::RtpPorts,
    /// The RTP ports each call holds (its own, and a bridged leg's), released when it ends.
    call_ports: HashMap<CallId, Vec<u16>>,
    /// Set on shutdown: new calls get 503; the core exits when calls end or at this deadline.
    draining: Option<tokio::time::Instant>,
    /// Flood limits for untrusted sources, applied in the receive loops before parsing.
    admission: Arc<Admission>,
    /// Calls in progress, for `/status`.
    board: Arc<telemetry::StatusBoard>,
}

impl Core {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<CoreCmd>,
        mut stop: oneshot::Receiver<()>,
        mut reload: mpsc::Receiver<()>,
    ) {
        loop {
            let deadline = self
                .endpoint
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(msg) => self.endpoint.handle(Instant::now(), msg.remote, &msg.bytes),
                    None => break,
                },
                cmd = commands.recv() => {
                    if let Some(cmd) = cmd {
                        self.handle_command(cmd).await;
                    }
                }
                _ = timer => self.endpoint.handle_timeout(Instant::now()),
                Some(()) = reload.recv() => self.reload(),
                _ = &mut stop, if self.draining.is_none() => {
                    let grace = Duration::from_millis(self.config.call.shutdown_grace_ms);
                    info!(calls = self.calls.len(), ?grace, "shutting down: no new calls; waiting for calls in progress");
                    self.draining = Some(tokio::time::Instant::now() + grace);
                }
                _ = sleep_until_opt(self.draining) => {
                    warn!(calls = self.calls.len(), "shutdown grace over: recordings still running are recovered at the next start");
                    break;
                }
            }
            self.flush().await;
            if self.draining.is_some() && self.calls.is_empty() {
                info!("all calls finished");
                break;
            }
        }
        info!("gateway core stopped");
    }

    /// Sends every mailbox's current counts to its notify target: after a restart the call
    /// server's lamps may be stale (DESIGN: MWI lamps stuck after restarts).
    fn resend_mwi(&self) {
        let targets = self.mwi_targets();
        if targets.is_empty() {
            return;
        }
        let (shared, commands) = (self.shared.clone(), self.cmd_tx.clone());
        tokio::spawn(async move {
            for (id, address, target) in targets {
                if let Some(counts) = store_counts(&shared, &id).await {
                    call::send_mwi(&shared, &commands, &target, &address, counts).await;
                }
            }
        });
    }

    /// Every mailbox with a notify target: (id, address, target).
    fn mwi_targets(&self) -> Vec<(String, String, String)> {
        self.dialplans
            .plans()
            .iter()
            .flat_map(|p| p.mailboxes.iter())
            .filter_map(|m| {
                let address = m
                    .sip_address
                    .clone()
                    .or_else(|| m.e164.clone())
                    .unwrap_or_else(|| m.extension.clone());
                Some((m.id.clone(), address, m.notify_target.clone()?))
            })
            .collect()
    }

    /// Re-reads the dial-plan directory. Calls in progress keep what they resolved; a plan
    /// with errors leaves the old plans serving and says why.
    fn reload(&mut self) {
        let Some(dir) = self.config.paths.dialplans.clone() else {
            info!("reload: dial plans are the embedded defaults; nothing to reload");
            return;
        };
        match crate::dialplan::load_dir(&dir) {
            Ok(plans) => {
                for w in plans.warnings() {
                    warn!("{w}");
                }
                let mailboxes: usize = plans.plans().iter().map(|p| p.mailboxes.len()).sum();
                self.dialplans = plans;
                self.apply_plan_peers();
                info!(
                    dir = %dir.display(), plans = self.dialplans.plans().len(), mailboxes,
                    "reload: dial plans loaded"
                );
            }
            Err(diags) => {
                for d in &diags {
                    error!("{d}");
                }
                error!(
                    dir = %dir.display(), errors = diags.len(),
                    "reload failed: keeping the dial plans already loaded"
                );
            }
        }
    }

    /// Trusted peers = config peers + the dial plans' `[[Peer]]`s; TLS names likewise.
    fn apply_plan_peers(&mut self) {
        let (trusted, names) = plan_peers(&self.config, &self.dialplans);
        self.admission.set_trusted(trusted.clone());
        self.endpoint.set_trusted(trusted);
        if let Some(shared) = &self.peer_names {
            if let Ok(mut n) = shared.write() {
                *n = names;
            }
        }
    }

    /// Sends what the endpoint queued and acts on its events, until both are empty.
    async fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.endpoint.poll_transmit() {
                if let Some(code) = telemetry::response_code(&t.bytes) {
                    metrics::counter!(telemetry::SIP_RESPONSES, "code" => code.to_string())
                        .increment(1);
                }
                self.network.send(t).await;
                progressed = true;
            }
            while let Some(ev) = self.endpoint.poll_event() {
                self.handle_event(ev).await;
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    async fn handle_command(&mut self, cmd: CoreCmd) {
        let now = Instant::now();
        match cmd {
            CoreCmd::Ringing(call) => self.endpoint.ringing(now, call),
            CoreCmd::Answer(call, sdp) => self.endpoint.answer(now, call, sdp),
            CoreCmd::Refuse(call, code) => self.refuse(now, call, StatusCode(code)),
            CoreCmd::HangUp(call) => self.endpoint.hangup(now, call),
            CoreCmd::Transfer {
                call,
                refer_to,
                referred_by,
            } => match refer_to
                .parse()
                .ok()
                .zip(referred_by.parse().ok())
                .and_then(|(to, by): (Uri, Uri)| self.endpoint.refer(now, call, &to, &by))
            {
                Some(id) => {
                    self.transfers.insert(id, call);
                }
                None => self.signal(call, CallSignal::Transfer(TransferUpdate::Refused(None))),
            },
            CoreCmd::Finished(call) => {
                self.calls.remove(&call);
                for port in self.call_ports.remove(&call).unwrap_or_default() {
                    self.rtp_ports.release(port, now);
                }
                self.board.call_ended(call.0);
                // A bridged second leg ends with the call it served.
                let legs: Vec<CallId> = self
                    .bridges
                    .iter()
                    .filter(|(_, (a, _))| *a == call)
                    .map(|(b, _)| *b)
                    .collect();
                for leg in legs {
                    self.bridges.remove(&leg);
                    self.endpoint.hangup(now, leg);
                }
            }
            CoreCmd::Bridge {
                call,
                target,
                from,
                encoding,
            } => self.start_bridge(now, call, &target, &from, encoding).await,
            CoreCmd::Notify(n) => self.send_notify(now, n),
            CoreCmd::NotifyConnected(n, t) => self.send_notify_on(now, n, t),
        }
    }

    /// Opens the connection a NOTIFY needs (TCP/TLS) off the core task, so a slow or dead
    /// target never stalls SIP; the NOTIFY is sent when the connection is up.
    fn send_notify(&mut self, now: Instant, n: Notify) {
        use crate::sip::locate::TransportKind;
        if n.transport == TransportKind::Udp {
            match self.network.udp_transport() {
                Some(t) => self.send_notify_on(now, n, t),
                None => warn!(target = %n.target_uri, "no UDP listener to send MWI NOTIFY from"),
            }
            return;
        }
        let (network, commands) = (self.network.clone(), self.cmd_tx.clone());
        tokio::spawn(async move {
            let connected = match n.transport {
                TransportKind::Tls => {
                    let host = crate::sip::locate::uri_target(&n.target_uri)
                        .map(|t| t.host)
                        .unwrap_or_default();
                    network.connect_tls(n.dest, &host).await
                }
                _ => network.connect_tcp(n.dest).await,
            };
            match connected {
                Ok(t) => {
                    let _ = commands.send(CoreCmd::NotifyConnected(n, t)).await;
                }
                Err(e) => {
                    warn!(target = %n.target_uri, dest = %n.dest, error = %e, "MWI: cannot connect")
                }
            }
        });
    }

    /// Sends a NOTIFY on a transport that is ready.
    fn send_notify_on(&mut self, now: Instant, n: Notify, transport: Transport) {
        let remote = Remote {
            transport,
            addr: n.dest,
        };
        let Ok(target) = n.target_uri.parse::<Uri>() else {
            return warn!(target = %n.target_uri, "MWI target is not a SIP URI: no NOTIFY");
        };
        let content = crate::mwi::notification(n.body);
        let id = self
            .endpoint
            .send_notify(now, remote, &target, &n.account, content);
        info!(target = %n.target_uri, account = %n.account, ?id, "MWI NOTIFY sent");
    }

    async fn handle_event(&mut self, ev: EndpointEvent) {
        match ev {
            EndpointEvent::IncomingCall {
                call,
                request,
                remote,
            } => {
                let span = info_span!(
                    "call",
                    call_id = request.call_id().unwrap_or(""),
                    mailbox = tracing::field::Empty
                );
                self.incoming_call(call, *request, remote)
                    .instrument(span)
                    .await;
            }
            EndpointEvent::Acked { call } => self.signal(call, CallSignal::Acked),
            EndpointEvent::Cancelled { call } => self.signal(call, CallSignal::Cancelled),
            EndpointEvent::RemoteHangup { call } if self.bridges.contains_key(&call) => {
                if let Some((a, _)) = self.bridges.remove(&call) {
                    info!(leg = ?call, "second leg hung up");
                    self.signal(a, CallSignal::Bridge(BridgeUpdate::Ended));
                }
            }
            EndpointEvent::RemoteHangup { call } | EndpointEvent::AckTimeout { call } => {
                self.signal(call, CallSignal::Hangup)
            }
            EndpointEvent::OutgoingProgress { call, status } => {
                debug!(leg = ?call, status, "second leg progress");
            }
            EndpointEvent::OutgoingAnswered { call, sdp } => self.bridge_answered(call, &sdp),
            EndpointEvent::OutgoingFailed { call, status } => {
                if let Some((a, _)) = self.bridges.remove(&call) {
                    info!(leg = ?call, ?status, "second leg failed");
                    self.signal(a, CallSignal::Bridge(BridgeUpdate::Failed(status)));
                }
            }
            EndpointEvent::MediaUpdate { call, remote } => {
                self.signal(call, CallSignal::RemoteMedia(remote))
            }
            EndpointEvent::Ended { .. } => {}
            EndpointEvent::TransferProgress { call, status } => {
                info!(?call, status, "transfer progress (NOTIFY)");
                self.signal(call, CallSignal::Transfer(TransferUpdate::Progress(status)));
            }
            EndpointEvent::RequestDone { id, status } => match self.transfers.remove(&id) {
                Some(call) => {
                    let update = match status {
                        Some(code) if code < 300 => TransferUpdate::Accepted,
                        other => TransferUpdate::Refused(other),
                    };
                    info!(?call, ?status, "REFER answered");
                    self.signal(call, CallSignal::Transfer(update));
                }
                // Not a REFER: an MWI NOTIFY, the only other request we send.
                None => match status {
                    Some(code) if code < 300 => info!(?id, code, "NOTIFY accepted"),
                    Some(code) => warn!(?id, code, "NOTIFY refused"),
                    None => warn!(?id, "NOTIFY timed out"),
                },
            },
        }
    }

    fn signal(&mut self, call: CallId, signal: CallSignal) {
        if let Some(tx) = self.calls.get(&call) {
            // A full queue means a stuck call task; dropping the signal beats stalling SIP.
            let _ = tx.try_send(signal);
        }
    }

    /// Refuses a call with a final response, counted by status code.
    fn refuse(&mut self, now: Instant, call: CallId, status: StatusCode) {
        self.refuse_with(now, call, status, Explanation::default());
    }

    /// Refuses a call with a final response and the headers that explain it.
    fn refuse_with(&mut self, now: Instant, call: CallId, status: StatusCode, why: Explanation) {
        metrics::counter!(telemetry::CALLS_REJECTED, "code" => status.0.to_string()).increment(1);
        self.endpoint.reject_with(now, call, status, why);
    }

    /// Refuses an offer we cannot answer: 488 with a Warning saying what was wrong with it,
    /// 415 with the bodies we take, 400 for a body that does not parse.
    fn refuse_offer(&mut self, now: Instant, call: CallId, e: &sdp::SdpError) {
        let code = e.status_code();
        info!(error = %e, code, "SDP offer refused");
        let why = Explanation {
            warning: e.warning(),
            accept: (code == 415).then_some(sdp::ACCEPT),
        };
        self.refuse_with(now, call, StatusCode(code), why);
    }

    async fn incoming_call(&mut self, call: CallId, request: Message, remote: Remote) {
        let now = Instant::now();
        if self.draining.is_some() {
            info!("shutting down: 503 for a new call");
            self.refuse(now, call, StatusCode::SERVICE_UNAVAILABLE);
            return;
        }
        let min_free = self
            .config
            .call
            .min_free_disk_mb
            .saturating_mul(1024 * 1024);
        if let Some(free) = free_bytes(self.shared.spool.dir()) {
            if free < min_free {
                error!(
                    free_mb = free / (1024 * 1024), min_mb = self.config.call.min_free_disk_mb,
                    spool = %self.shared.spool.dir().display(), "disk almost full: 503 for a new call"
                );
                self.refuse(now, call, StatusCode::SERVICE_UNAVAILABLE);
                return;
            }
        }
        let ruri = request.request_uri().unwrap_or_default().to_owned();
        let diverted = diverted_from(&request);
        let called = diverted.clone().unwrap_or_else(|| ruri.clone());
        let caller_header = request
            .header("P-Asserted-Identity")
            .or_else(|| request.header("From"))
            .unwrap_or("");
        let caller = caller_number(message::uri_of(caller_header));
        let caller_name = message::display_name_of(caller_header);
        let (plan, flow) = match self
            .dialplans
            .route(remote.addr.ip(), &ruri, diverted.as_deref())
        {
            Route::Deposit(resolved) => (
                resolved.plan,
                FlowSetup::Deposit {
                    mailbox: resolved.mailbox.clone(),
                    limits: call::deposit_limits(resolved.plan),
                },
            ),
            Route::SubscriberAccess { plan } => {
                // Caller ID that is one of this plan's users skips the extension question.
                let known = caller
                    .as_deref()
                    .and_then(|c| self.dialplans.resolve(c))
                    .filter(|r| r.plan.name == plan.name)
                    .map(|r| r.mailbox.clone());
                let flow = FlowSetup::Subscriber {
                    plan: Box::new(plan.clone()),
                    known,
                    pilot_uri: ruri.clone(),
                };
                (plan, flow)
            }
            Route::AutoAttendant { plan, attendant } => {
                let index = plan
                    .auto_attendants
                    .iter()
                    .position(|a| std::ptr::eq(a, attendant))
                    .unwrap_or_default();
                let flow = FlowSetup::Attendant {
                    plan: Box::new(plan.clone()),
                    index,
                    pilot_uri: ruri.clone(),
                };
                (plan, flow)
            }
            Route::NotFound => {
                info!(%called, %ruri, peer = %remote.addr, "no mailbox for called party: 404");
                self.refuse(now, call, StatusCode::NOT_FOUND);
                return;
            }
        };
        let (security, plan_name) = (plan.voip_security, plan.name.clone());
        if security.needs_tls() && !remote.transport.is_secure() {
            info!(
                plan = %plan_name, security = security.name(), peer = %remote.addr,
                "dial plan requires TLS; call arrived unencrypted: 403"
            );
            self.refuse(now, call, StatusCode::FORBIDDEN);
            return;
        }
        let label = match &flow {
            FlowSetup::Deposit { mailbox, .. } => mailbox.id.clone(),
            FlowSetup::Subscriber { .. } => "subscriber-access".to_owned(),
            FlowSetup::Attendant { .. } => "auto-attendant".to_owned(),
        };
        // Every later line of this call (core and call task) carries the mailbox.
        tracing::Span::current().record("mailbox", label.as_str());

        let policy = media_policy(security);
        let offer = match sdp_offer(&request, policy) {
            Ok(offer) => offer,
            Err(e) => return self.refuse_offer(now, call, &e),
        };
        let (socket, local) = match self.bind_rtp(now) {
            Ok(bound) => bound,
            Err(e) => {
                error!(error = %e, "no RTP port available: 503");
                self.refuse(now, call, StatusCode::SERVICE_UNAVAILABLE);
                return;
            }
        };
        let (session_id, mut local_key) = {
            let mut rng = rand::thread_rng();
            let mut key = [0u8; 30];
            rng.fill(&mut key[..]);
            (rng.gen_range(1..u32::MAX as u64), key)
        };
        let negotiated = sdp::negotiate_secure(
            &offer,
            local.ip(),
            local.port(),
            session_id,
            policy,
            &local_key,
        );
        // The answer and the call's `SrtpKeys` hold their own copies.
        zeroize::Zeroize::zeroize(&mut local_key);
        let negotiated = match negotiated {
            Ok(n) => n,
            Err(e) => {
                drop(socket);
                self.rtp_ports.release(local.port(), now);
                return self.refuse_offer(now, call, &e);
            }
        };
        let srtp = negotiated.srtp;
        let negotiated = negotiated.media;
        // `negotiate_secure` answers PCMU or PCMA only.
        let codec = if negotiated.encoding == "PCMA" {
            G711::Pcma
        } else {
            G711::Pcmu
        };
        info!(
            %called, mailbox = %label, plan = %plan_name, caller = ?caller,
            codec = negotiated.encoding, remote_media = %negotiated.remote, srtp = srtp.is_some(),
            "accepting call for voice mail"
        );

        let (sig_tx, sig_rx) = mpsc::channel(32);
        self.calls.insert(call, sig_tx);
        self.call_ports.insert(call, vec![local.port()]);
        self.board.call_started(
            call.0,
            telemetry::CallStatus {
                sip_call_id: request.call_id().unwrap_or_default().to_owned(),
                mailbox: label.clone(),
                since: std::time::Instant::now(),
            },
        );
        let setup = CallSetup {
            call,
            sip_call_id: request.call_id().unwrap_or_default().to_owned(),
            peer: remote.addr,
            socket,
            codec,
            payload_type: negotiated.payload_type,
            ptime_ms: negotiated.ptime_ms,
            telephone_event: negotiated.telephone_event,
            remote_media: negotiated.remote,
            answer_sdp: negotiated.answer.into_bytes(),
            srtp,
            flow,
            caller,
            caller_name,
            answer_delay: Duration::from_millis(self.config.call.answer_delay_ms),
            silence_threshold_dbfs: self.config.call.silence_threshold_dbfs,
            shared: self.shared.clone(),
            beep: self.beep.clone(),
            commands: self.cmd_tx.clone(),
            signals: sig_rx,
        };
        let span = tracing::Span::current();
        tokio::spawn(call::run(setup).instrument(span));
    }

    /// Places the second leg of a bridged transfer for `call` through the peer it came from.
    async fn start_bridge(
        &mut self,
        now: Instant,
        call: CallId,
        target: &str,
        from: &str,
        encoding: &'static str,
    ) {
        let failed =
            |gw: &mut Self| gw.signal(call, CallSignal::Bridge(BridgeUpdate::Failed(None)));
        let (socket, local) = match self.bind_rtp(now) {
            Ok(bound) => bound,
            Err(e) => {
                warn!(error = %e, "no RTP port for the second leg");
                return failed(self);
            }
        };
        // Released with the call the leg serves.
        self.call_ports.entry(call).or_default().push(local.port());
        let session_id = rand::thread_rng().gen_range(1..u32::MAX as u64);
        let offer = sdp::offer(local.ip(), local.port(), session_id, encoding);
        match target
            .parse()
            .ok()
            .zip(from.parse().ok())
            .and_then(|(to, from): (Uri, Uri)| {
                self.endpoint
                    .invite_via(now, call, &to, &from, offer.into_bytes())
            }) {
            Some(leg) => {
                info!(?call, ?leg, %target, "calling the transfer target on a second leg");
                self.bridges.insert(leg, (call, Some(socket)));
            }
            None => failed(self),
        }
    }

    /// The second leg answered: hand its socket and media address to the call.
    fn bridge_answered(&mut self, leg: CallId, answer: &[u8]) {
        let Some((a, socket)) = self.bridges.get_mut(&leg) else {
            return;
        };
        let a = *a;
        let remote = std::str::from_utf8(answer).ok().and_then(|text| {
            sdp::negotiate(text, self.config.media.address, 9, 0)
                .ok()
                .map(|n| n.remote)
        });
        match (remote, socket.take()) {
            (Some(remote), Some(socket)) => {
                info!(?leg, %remote, "second leg answered");
                let update = BridgeUpdate::Answered {
                    leg,
                    socket,
                    remote,
                };
                self.signal(a, CallSignal::Bridge(update));
            }
            _ => {
                warn!(?leg, "second leg answered without usable SDP: hanging up");
                self.bridges.remove(&leg);
                self.endpoint.hangup(Instant::now(), leg);
                self.signal(a, CallSignal::Bridge(BridgeUpdate::Failed(Some(488))));
            }
        }
    }

    /// Binds an RTP socket on a random usable even port of the configured range
    /// (`rtp_ports`). The socket is non-blocking and not registered with the async reactor: a
    /// deposit's media worker reads it on its ticks; an interactive call registers a handle of
    /// its own.
    fn bind_rtp(&mut self, now: Instant) -> std::io::Result<(UdpSocket, SocketAddr)> {
        let ip: IpAddr = self.config.media.address;
        let mut last_error = None;
        let bound = self.rtp_ports.allocate(now, |port| {
            let socket = UdpSocket::bind(SocketAddr::new(ip, port))
                .and_then(|s| s.set_nonblocking(true).map(|()| s));
            match socket {
                Ok(s) => Some(s),
                Err(e) => {
                    last_error = Some(e);
                    None
                }
            }
        });
        match bound {
            Some((port, socket)) => Ok((socket, SocketAddr::new(ip, port))),
            None => {
                let (min, max) = (
                    self.config.media.rtp_port_min,
                    self.config.media.rtp_port_max,
                );
                let why = last_error.map_or_else(String::new, |e| format!(" (last error: {e})"));
                Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "every RTP port in {min}-{max} is in use or resting after its last call{why}"
                    ),
                ))
            }
        }
    }
}

/// The shipped prompts, overridden and extended by the operator's `[paths] prompts`.
pub fn prompt_library(config: &Config) -> anyhow::Result<PromptLibrary> {
    let mut prompts = assets::prompts().context("embedded prompts")?;
    if let Some(dir) = &config.paths.prompts {
        let custom = PromptLibrary::load_dir(dir)?;
        for name in custom.names() {
            if let Some(p) = custom.get(name) {
                prompts.insert(name, p);
            }
        }
    }
    Ok(prompts)
}

/// One line per prompt an auto attendant names that the library lacks, with the plan file
/// and the attendant's line.
pub fn missing_prompts(plans: &DialPlans, prompts: &PromptLibrary) -> Vec<String> {
    let mut out = Vec::new();
    for plan in plans.plans() {
        for a in &plan.auto_attendants {
            for name in a.prompt_names() {
                if prompts.get(name).is_none() {
                    out.push(format!(
                        "{}:{}: error: prompt \"{name}\" of auto attendant \"{}\" is not in the prompt library (shipped prompts or [paths] prompts)",
                        plan.source.display(),
                        a.line,
                        a.name
                    ));
                }
            }
        }
    }
    out
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs(3) with a NUL-terminated path and a buffer of the right type; the buffer
    // is read only when the call reports success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Sleeps until `at`, or forever when there is no deadline.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The user a diverted call was for: History-Info (RFC 7044), else Diversion (RFC 5806), else
/// the Request-URI's RFC 4458 `target`. `None` for a direct call (to a pilot, or to a user's
/// own voice-mail URI).
pub fn diverted_from(request: &Message) -> Option<String> {
    let hi: Vec<&str> = request.headers_named("History-Info").collect();
    if !hi.is_empty() {
        match headers::parse_history_info(&hi) {
            Ok(entries) => {
                if let Some(e) = headers::called_from_history_info(&entries) {
                    return Some(e.uri.to_string());
                }
            }
            Err(e) => warn!(error = %e, "ignoring unparseable History-Info"),
        }
    }
    let div: Vec<&str> = request.headers_named("Diversion").collect();
    if !div.is_empty() {
        match headers::parse_diversion(&div) {
            Ok(entries) => {
                if let Some(e) = headers::called_from_diversion(&entries) {
                    return Some(e.uri.to_string());
                }
            }
            Err(e) => warn!(error = %e, "ignoring unparseable Diversion"),
        }
    }
    headers::target_from_uri_params(request.request_uri().unwrap_or_default())
}

/// The greeting for a mailbox without its own, composed from shipped prompts:
/// "The person at extension 1 0 0 1 is not available. After the tone, please record...".
pub fn default_greeting(prompts: &PromptLibrary, extension: &str) -> Arc<[i16]> {
    let parts = std::iter::once("vm-person-at-extension".to_owned())
        .chain(extension.chars().map(|d| format!("digit-{d}")))
        .chain(std::iter::once("vm-not-available".to_owned()));
    let mut samples: Vec<i16> = Vec::new();
    for part in parts {
        match prompts.get(&part) {
            Some(p) => samples.extend_from_slice(&p),
            // A missing prompt must not leave the caller in silence.
            None => {
                return prompts
                    .get("vm-default-greeting")
                    .unwrap_or_else(|| Arc::from(Vec::new()))
            }
        }
    }
    Arc::from(samples)
}

/// The default greeting with the user's recorded name: "[name] is not available. After the
/// tone...". `None` if the shipped prompt is missing.
pub fn named_greeting(prompts: &PromptLibrary, name: &[i16]) -> Option<Arc<[i16]>> {
    let rest = prompts.get("vm-not-available")?;
    // The name as recorded, a short pause, then the shipped sentence.
    let mut samples = Vec::with_capacity(name.len() + 1600 + rest.len());
    samples.extend_from_slice(name);
    samples.resize(samples.len() + 1600, 0);
    samples.extend_from_slice(&rest);
    Some(Arc::from(samples))
}

/// How media must be protected under a dial plan's VoIPSecurity. Secured demands SRTP (a plain
/// RTP offer gets 488). The other modes answer SRTP when that is all the peer offers, since a
/// Lync pool requires encryption by default and refusing it would fail every call.
fn media_policy(security: VoipSecurity) -> sdp::MediaSecurity {
    match security {
        VoipSecurity::Secured => sdp::MediaSecurity::SrtpRequired,
        VoipSecurity::SipSecured | VoipSecurity::Unsecured => sdp::MediaSecurity::SrtpOptional,
    }
}

/// The SDP offer of an INVITE (one part of a Lync multipart body), or the status to refuse with.
fn sdp_offer(request: &Message, policy: sdp::MediaSecurity) -> Result<String, sdp::SdpError> {
    if request.body.is_empty() {
        return Err(sdp::SdpError::NoOffer);
    }
    let ctype = request.header("Content-Type").unwrap_or("application/sdp");
    sdp::select_offer_for(ctype, &request.body, policy)
}

/// The caller as a number where the URI's user part is one, else the URI.
fn caller_number(uri: &str) -> Option<String> {
    Uri::caller_id(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite_with(headers: &str) -> Message {
        let text = format!(
            "INVITE sip:vm@umgw.contoso.com;opaque=app:voicemail SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:bob@x>;tag=1\r\n\
             To: <sip:vm@umgw.contoso.com>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{headers}\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn called_party_precedence() {
        let hi = invite_with(
            "History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D480>;index=1,\
             <sip:vm@umgw.contoso.com>;index=1.1\r\nDiversion: <tel:+14255551002>;reason=no-answer\r\n",
        );
        assert_eq!(diverted_from(&hi).as_deref(), Some("sip:alice@contoso.com"));
        let div = invite_with(
            "Diversion: <tel:1002>;reason=no-answer;counter=1\r\nDiversion: <tel:1001>;reason=unconditional\r\n",
        );
        assert_eq!(diverted_from(&div).as_deref(), Some("tel:1002"));
        assert_eq!(diverted_from(&invite_with("")), None);
    }

    #[test]
    fn caller_numbers() {
        assert_eq!(
            caller_number("sip:+14255550100@x;user=phone").as_deref(),
            Some("+14255550100")
        );
        assert_eq!(
            caller_number("sip:bob@contoso.com").as_deref(),
            Some("sip:bob@contoso.com")
        );
        assert_eq!(caller_number("tel:1001").as_deref(), Some("1001"));
        assert_eq!(caller_number(""), None);
    }
}
