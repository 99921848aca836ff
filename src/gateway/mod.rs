//! The gateway: the tokio shell around a sans-IO core. Start reading at `core.rs` (a call
//! from INVITE to answer), then `call/` (one answered call: media session and flow), then the
//! two drivers: `driver.rs` with `runner.rs` (tokio and the media workers) and `sim.rs` (a
//! fake clock and an in-memory network, for tests). `docs/ARCHITECTURE.md` draws the life of
//! a call.

mod admission;
pub mod assets;
mod call;
mod core;
mod driver;
mod jobs;
mod media_worker;
mod pending;
mod rtp_ports;
mod runner;
#[cfg(test)]
mod sim;
pub mod spool;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::Config;
use crate::dialplan::DialPlans;
use crate::media::prompts::PromptLibrary;
use crate::media::speech::{Language, PromptSource};
use crate::media::voices::PromptSets;
use crate::net::limits::{Admission, FloodLimits};
use crate::net::{Inbound, Network};
use crate::store::{Mailbox, Maildir};
use crate::telemetry;

use call::Mwi;

/// A play-on-phone request (the admin endpoint's `POST /play-on-phone`): call the user of
/// `mailbox` at `to` and play `message`. Answered with the SIP Call-ID of the call placed, or
/// why it was not.
#[derive(Debug)]
pub struct PlayRequest {
    pub mailbox: String,
    pub message: String,
    pub to: String,
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// Everything a running gateway needs besides its config.
pub struct Resources {
    pub dialplans: DialPlans,
    pub prompts: PromptSets,
    pub store: Arc<dyn Mailbox>,
    /// Recordings in progress (and recordings kept after a failed deposit).
    pub spool: Arc<spool::Spool>,
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
        info!(
            languages = %Language::shipped(),
            decoded_bytes = prompts.sample_bytes(),
            "prompts loaded"
        );
        for missing in missing_prompts(&dialplans, &prompts) {
            warn!("{missing}");
        }
        let data = data_dir(config);
        let mailboxes_dir = mailboxes_dir(config);
        let store = open_store(config, &mailboxes_dir)?;
        let spool_dir = data.join("spool");
        let spool = spool::Spool::open(&spool_dir)
            .with_context(|| format!("opening spool directory {}", spool_dir.display()))?;
        Ok(Resources {
            dialplans,
            prompts,
            store,
            spool,
        })
    }
}

/// The `[store]` backend: Maildir under the data directory, or an IMAP server (which keeps
/// the per-user state too; `mailboxes_dir` then only caches greetings).
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

/// Delivers spool entries whose deposit failed (store down) in the background, then sets
/// their lamps.
fn spawn_spool_retry(config: &Config, shared: &Arc<Shared>, mwi: &mpsc::Sender<Mwi>) {
    let (shared, mwi) = (shared.clone(), mwi.clone());
    let initial = Duration::from_millis(config.store.retry_initial_ms);
    let max = Duration::from_millis(config.store.retry_max_ms);
    tokio::spawn(async move {
        let mut retry = Some(spool::Retry::new(initial, max));
        // Scan often enough to honour the first delay, not more than twice a second.
        let tick = initial.min(Duration::from_millis(500));
        loop {
            tokio::time::sleep(tick).await;
            let Some(mut r) = retry.take() else { return };
            let (spool, store, email) = (
                shared.spool.clone(),
                shared.store.clone(),
                shared.email.clone(),
            );
            let Ok((r, delivered)) = tokio::task::spawn_blocking(move || {
                let d = r.pass(&spool, &*store, email.as_deref(), Instant::now());
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
                    let lamp = Mwi {
                        target,
                        account: d.mailbox_address,
                        counts,
                    };
                    if mwi.send(lamp).await.is_err() {
                        return;
                    }
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

/// Every mailbox with a notify target: (id, address, target).
fn mwi_targets(plans: &DialPlans) -> Vec<(String, String, String)> {
    plans
        .plans()
        .iter()
        .flat_map(|p| p.mailboxes.iter())
        .filter_map(|m| {
            let address = call::mailbox_address(m);
            Some((m.id.clone(), address, m.notify_target.clone()?))
        })
        .collect()
}

/// Sends every mailbox's current counts to its notify target: after a restart the call
/// server's lamps may be stale (DESIGN: MWI lamps stuck after restarts). With
/// `store.mwi_poll_s`, then re-reads every mailbox's counts that often and sets the lamps
/// whose counts changed since the previous poll, so a message read or deleted in a mail
/// client (IMAP) turns the lamp off at the next poll. The mailboxes are the dial plans' at
/// start-up, those in this node's `store.mwi_poll_share` (in a cluster, each mailbox is polled
/// by one node; changes made through a gateway are notified by that gateway).
fn spawn_mwi_refresh(
    config: &Config,
    plans: &DialPlans,
    shared: &Arc<Shared>,
    mwi: &mpsc::Sender<Mwi>,
) {
    let every = Duration::from_secs(config.store.mwi_poll_s);
    let share = config.store.poll_share();
    let mut targets = mwi_targets(plans);
    targets.retain(|(id, _, _)| share.covers(id));
    if targets.is_empty() {
        return;
    }
    let (shared, mwi) = (shared.clone(), mwi.clone());
    tokio::spawn(async move {
        let mut last: HashMap<String, crate::store::Counts> = HashMap::new();
        loop {
            for (id, address, target) in &targets {
                let Some(counts) = store_counts(&shared, id).await else {
                    continue;
                };
                // The first round sets every lamp; later rounds only the changed ones.
                if last.insert(id.clone(), counts) != Some(counts) {
                    let lamp = Mwi {
                        target: target.clone(),
                        account: address.clone(),
                        counts,
                    };
                    if mwi.send(lamp).await.is_err() {
                        return;
                    }
                }
            }
            if every.is_zero() {
                return;
            }
            tokio::time::sleep(every).await;
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

/// The Maildir root (with IMAP: each node's greeting cache): `paths.mailboxes`, else
/// `<data_dir>/mailboxes`.
pub fn mailboxes_dir(config: &Config) -> PathBuf {
    config
        .paths
        .mailboxes
        .clone()
        .unwrap_or_else(|| data_dir(config).join("mailboxes"))
}

/// What calls share: prompts, the store, the spool. Dial plans stay with the core, so a
/// reload never changes a call in progress.
pub(crate) struct Shared {
    /// Every language's prompts; a call speaks through one `voice`.
    pub prompts: PromptSets,
    pub store: Arc<dyn Mailbox>,
    pub spool: Arc<spool::Spool>,
    /// `store.max_messages` / `store.max_bytes`.
    pub quota: crate::store::Quota,
    /// Finds where MWI NOTIFYs go (static routes, then RFC 3263).
    pub locator: crate::sip::locate::Locator,
    /// Subscriber-access calls per mailbox (`subscriber.max_sessions_per_mailbox`).
    pub subscriber_sessions: call::subscriber::MailboxSessions,
    /// Voice Mail Preview (`[transcription]`): the queue its threads work off; `None`: no
    /// engine configured.
    pub previews: Option<Arc<call::deposit::Previews>>,
    /// E-mail notification (`[email]`, `NotifyEmail`); `None`: off.
    pub email: Option<Arc<crate::email::Notifier>>,
    /// Lamps to set from outside a call (a deposit finished after its call ended).
    pub mwi: Option<mpsc::Sender<Mwi>>,
}

/// The trusted peer networks and accepted TLS certificate names: the config's plus the dial
/// plans' peers.
pub(crate) fn plan_peers(
    config: &Config,
    plans: &DialPlans,
) -> (Vec<crate::acl::IpNet>, Vec<String>) {
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

/// A running gateway: its bound addresses and a handle to stop or reload it.
pub struct Running {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    /// The admin HTTP endpoint, when configured.
    pub admin: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    reload: mpsc::Sender<oneshot::Sender<()>>,
    probe: Probe,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Reloads the dial plans from disk (SIGHUP) and returns when the core has them. A broken
    /// file keeps the old plans.
    pub async fn reload(&self) {
        let (done, reloaded) = oneshot::channel();
        if self.reload.send(done).await.is_ok() {
            let _ = reloaded.await;
        }
    }

    /// Asks whether the gateway is serving (for systemd's readiness and watchdog).
    pub fn probe(&self) -> Probe {
        self.probe.clone()
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

/// Asks a running gateway whether it serves: whether its core loop turns (it answers from the
/// loop that serves SIP, so a stalled loop does not answer) and whether its store answers.
#[derive(Clone)]
pub struct Probe {
    core: mpsc::Sender<oneshot::Sender<usize>>,
    store: Arc<dyn Mailbox>,
}

impl Probe {
    /// A probe answered by whoever holds the other end of `core` (tests of the supervisor).
    #[cfg(test)]
    pub(crate) fn new(
        core: mpsc::Sender<oneshot::Sender<usize>>,
        store: Arc<dyn Mailbox>,
    ) -> Probe {
        Probe { core, store }
    }

    /// The calls in progress, as the core loop answers; `None` once the core has stopped.
    /// Does not return while the loop is stalled: callers bound it with a time-out.
    pub async fn core(&self) -> Option<usize> {
        let (reply, answer) = oneshot::channel();
        self.core.send(reply).await.ok()?;
        answer.await.ok()
    }

    /// Whether the store answers ([`Mailbox::check`], on the blocking pool); if not, why.
    pub async fn store(&self) -> Result<(), String> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.check()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("store check did not finish: {e}")),
        }
    }
}

/// Binds the listeners and starts the gateway.
pub async fn start(config: Config, resources: Resources) -> anyhow::Result<Running> {
    config
        .trusted_peers()
        .map_err(|e| anyhow::anyhow!("peers.trusted: {e}"))?;
    let trusted = plan_peers(&config, &resources.dialplans).0;
    let admission = Arc::new(Admission::new(
        trusted,
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
    telemetry::install();
    let board = telemetry::StatusBoard::new();
    let (play_tx, play_rx) = mpsc::channel(16);
    let admin = match config.admin.listen {
        Some(addr) => {
            let actions = match &config.admin.token_file {
                Some(file) => Some(Arc::new(
                    telemetry::AdminActions::new(file, play_tx.clone())
                        .map_err(anyhow::Error::msg)?,
                )),
                None => None,
            };
            Some(
                telemetry::serve(addr, config.admin.max_connections, board.clone(), actions)
                    .await?,
            )
        }
        None => None,
    };
    let (stop_tx, stop_rx) = oneshot::channel();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    // One probe at a time is all the watchdog sends; a second waits for the loop.
    let (probe_tx, probe_rx) = mpsc::channel(1);
    let (mwi_tx, mwi_rx) = mpsc::channel(1024);
    let udp = network.udp_addrs();
    let tcp = network.tcp_addrs();
    let tls = network.tls_addrs();
    let Resources {
        dialplans,
        prompts,
        store,
        spool,
    } = resources;
    let email = crate::email::Notifier::start(
        &config.email,
        &data_dir(&config),
        crate::store::audio::AudioFormat::from_config(&config.store.audio_format)
            .unwrap_or_default(),
    )
    .context("setting up e-mail notification ([email])")?;
    // Recordings cut off by a crash or a kill are deposited before any new call is taken.
    let recovered = {
        let (spool, store, email) = (spool.clone(), store.clone(), email.clone());
        tokio::task::spawn_blocking(move || spool::recover(&spool, &*store, email.as_deref()))
            .await
            .unwrap_or_default()
    };
    if !recovered.is_empty() {
        info!(
            count = recovered.len(),
            "deposited recordings recovered from the spool"
        );
    }
    let previews = call::deposit::Previews::from_config(&config.transcription)
        .map_err(anyhow::Error::msg)
        .context("setting up Voice Mail Preview ([transcription])")?
        .map(Arc::new);
    if let Some(queue) = &previews {
        // Weak: the board must not keep the queue (and its threads) alive.
        let queue = Arc::downgrade(queue);
        board.show_previews(telemetry::PreviewStatus {
            engine: config.transcription.engine.clone(),
            queue: Box::new(move || queue.upgrade().map_or((0, 0), |q| q.counts())),
        });
    }
    let probe = Probe {
        core: probe_tx,
        store: store.clone(),
    };
    let shared = Arc::new(Shared {
        prompts,
        store,
        quota: crate::store::Quota {
            max_messages: config.store.max_messages,
            max_bytes: config.store.max_bytes,
        },
        locator: crate::sip::locate::Locator::new(config.sip.routes.clone()),
        subscriber_sessions: call::subscriber::MailboxSessions::new(
            config.subscriber.max_sessions_per_mailbox,
        ),
        spool,
        previews,
        email,
        mwi: Some(mwi_tx.clone()),
    });
    media_worker::init(media_worker::Priority::from(&config.media));
    spawn_mwi_refresh(&config, &dialplans, &shared, &mwi_tx);
    spawn_spool_retry(&config, &shared, &mwi_tx);
    let env = driver::Binder {
        spool_dir: shared.spool.dir().to_owned(),
    };
    let core = core::GatewayCore::new(config.clone(), dialplans, shared.clone(), env, board);
    let driver = driver::Driver {
        core,
        config,
        shared,
        network: Arc::new(network),
        admission,
        peer_names,
    };
    let inputs = driver::Inputs {
        sip: in_rx,
        stop: stop_rx,
        reload: reload_rx,
        probe: probe_rx,
        mwi: mwi_rx,
        play: play_rx,
        mwi_tx,
    };
    let task = tokio::spawn(driver.run(inputs));
    Ok(Running {
        udp,
        tcp,
        tls,
        admin,
        stop: Some(stop_tx),
        reload: reload_tx,
        probe,
        task,
    })
}

/// The shipped prompts of every language, overridden and extended by the operator's
/// `[paths] prompts`: its files for en-US, its `<tag>/` folders (`de-DE/`) for the others.
pub fn prompt_library(config: &Config) -> anyhow::Result<PromptSets> {
    let mut prompts = assets::prompt_sets().context("embedded prompts")?;
    if let Some(dir) = &config.paths.prompts {
        for language in Language::ALL {
            let dir = match language {
                Language::EnUs => dir.clone(),
                other => dir.join(other.tag()),
            };
            if language != Language::EnUs && !dir.is_dir() {
                continue;
            }
            let custom = PromptLibrary::load_dir(&dir)?;
            let lib = prompts.library_mut(language);
            for name in custom.names() {
                if let Some(p) = custom.get(name) {
                    lib.insert(name, p);
                }
            }
        }
    }
    Ok(prompts)
}

/// Problems with the prompts the plans need, one line each with the plan file and line:
/// a prompt an auto attendant names that no library has; and, for each language other than
/// en-US that a plan, mailbox or attendant names, each prompt that language lacks (the
/// gateway's prompts, its speaker's words, its attendants' prompts), which its callers
/// would hear in en-US. `umgw check` fails on them; `umgw run` logs them.
pub fn missing_prompts(plans: &DialPlans, prompts: &PromptSets) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    // Where each language is first named, and the attendant prompts it needs.
    let mut used: BTreeMap<Language, (String, usize)> = BTreeMap::new();
    let mut attendant_prompts = Vec::new();
    for plan in plans.plans() {
        let file = plan.source.display().to_string();
        let keys = std::iter::once(&plan.default_language)
            .chain(plan.mailboxes.iter().map(|m| &m.language))
            .chain(plan.auto_attendants.iter().map(|a| &a.language));
        for key in keys.filter(|k| k.language != Language::EnUs) {
            used.entry(key.language)
                .or_insert_with(|| (file.clone(), key.line));
        }
        for a in &plan.auto_attendants {
            let voice = prompts.voice(a.language.language);
            for name in a.prompt_names() {
                if voice.get(name).is_none() {
                    out.push(format!(
                        "{file}:{}: error: prompt \"{name}\" of auto attendant \"{}\" is not in the prompt library (shipped prompts or [paths] prompts); it will be skipped",
                        a.line,
                        a.name
                    ));
                } else if prompts.library(a.language.language).get(name).is_none()
                    && !assets::PROMPTS.iter().any(|(n, _)| *n == name)
                {
                    attendant_prompts.push((a.language.language, name, file.clone(), a));
                }
            }
        }
    }
    for (language, (file, line)) in &used {
        let shipped = assets::PROMPTS.iter().map(|(n, _)| *n);
        for name in prompts.missing(*language, shipped) {
            out.push(format!(
                "{file}:{line}: error: prompt \"{name}\" is missing in language {language} (audio/{language}/ or {language}/ of [paths] prompts); its callers hear it in en-US"
            ));
        }
    }
    for (language, name, file, a) in attendant_prompts {
        out.push(format!(
            "{file}:{}: error: prompt \"{name}\" of auto attendant \"{}\" is missing in language {language} ({language}/ of [paths] prompts); its callers hear it in en-US",
            a.line, a.name
        ));
    }
    out
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
pub(crate) fn free_bytes(path: &std::path::Path) -> Option<u64> {
    crate::net::os::free_bytes(path)
}

/// The greeting for a mailbox without its own, composed from shipped prompts:
/// "The person at extension 1 0 0 1 is not available. After the tone, please record...".
pub fn default_greeting(prompts: &(impl PromptSource + ?Sized), extension: &str) -> Arc<[i16]> {
    let parts = std::iter::once("vm-person-at-extension".to_owned())
        .chain(extension.chars().map(|d| format!("digit-{d}")))
        .chain(std::iter::once("vm-not-available".to_owned()));
    let mut samples: Vec<i16> = Vec::new();
    for part in parts {
        match prompts.prompt(&part) {
            Some(p) => samples.extend_from_slice(&p),
            // A missing prompt must not leave the caller in silence.
            None => {
                return prompts
                    .prompt("vm-default-greeting")
                    .unwrap_or_else(|| Arc::from(Vec::new()))
            }
        }
    }
    Arc::from(samples)
}

/// The default greeting with the user's recorded name: "[name] is not available. After the
/// tone...". `None` if the shipped prompt is missing.
pub fn named_greeting(prompts: &(impl PromptSource + ?Sized), name: &[i16]) -> Option<Arc<[i16]>> {
    let rest = prompts.prompt("vm-not-available")?;
    // The name as recorded, a short pause, then the shipped sentence.
    let mut samples = Vec::with_capacity(name.len() + 1600 + rest.len());
    samples.extend_from_slice(name);
    samples.resize(samples.len() + 1600, 0);
    samples.extend_from_slice(&rest);
    Some(Arc::from(samples))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The merge case: an en-US prompt added without its German translation is named once,
    /// at the first key that makes the plans use German.
    #[test]
    fn a_shipped_prompt_missing_in_german_is_named_at_the_plan_line() {
        let plan = "Name = \"de\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
            CountryOrRegionCode = \"49\"\nDefaultLanguage = \"de-DE\"\n\
            [[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n\
            [[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nLanguage = \"de-DE\"\n";
        let plans = crate::dialplan::load_files([(Path::new("de.toml"), plan)]).unwrap();
        let mut sets = assets::prompt_sets().unwrap();
        assert_eq!(missing_prompts(&plans, &sets), Vec::<String>::new());
        let german = sets.library(Language::DeDe);
        let mut without = PromptLibrary::new();
        for name in german.names().into_iter().filter(|n| *n != "vm-saved") {
            without.insert(name, german.get(name).unwrap());
        }
        sets.set(Language::DeDe, without);
        assert_eq!(
            missing_prompts(&plans, &sets),
            ["de.toml:5: error: prompt \"vm-saved\" is missing in language de-DE (audio/de-DE/ or de-DE/ of [paths] prompts); its callers hear it in en-US"]
        );
        // What the callers hear meanwhile: the English prompt.
        assert_eq!(
            sets.voice(Language::DeDe).get("vm-saved"),
            sets.base().get("vm-saved")
        );
    }
}
