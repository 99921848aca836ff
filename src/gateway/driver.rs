//! The tokio driver of the gateway core: it moves SIP between the network and the core, runs
//! the core's timers, hands answered calls to the media workers (`runner.rs`) and routes the
//! core's news to them, runs blocking jobs on the blocking pool, and locates and connects the
//! targets of MWI NOTIFYs. All decisions are the core's (`core.rs`); this only moves bytes,
//! timers and work.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::call::Mwi;
use super::core::{CoreAction, Env, GatewayCore, Notify, PhoneCall};
use super::jobs::{Job, JobResult};
use super::runner::{FromCall, Runner, ToCall};
use super::{media_worker, Shared};
use crate::config::Config;
use crate::net::limits::Admission;
use crate::net::{Inbound, Network};
use crate::sip::endpoint::CallId;
use crate::sip::locate::TransportKind;
use crate::sip::Transport;

/// Past the shutdown grace (by which the preview queue delivers what waits), how long its last
/// deliveries and transcriptions in progress get before the gateway stops anyway.
const PREVIEW_DRAIN_WINDOW: Duration = Duration::from_secs(5);

/// How often the loop looks at the preview queue once only it keeps the gateway up.
const PREVIEW_DRAIN_POLL: Duration = Duration::from_millis(50);

/// RTP sockets as the gateway binds them: std sockets, non-blocking, not registered with the
/// async reactor (a media worker reads them on its ticks).
pub(super) struct Binder {
    pub spool_dir: PathBuf,
}

impl Env for Binder {
    type Socket = UdpSocket;

    fn bind(&mut self, addr: SocketAddr) -> std::io::Result<UdpSocket> {
        let s = UdpSocket::bind(addr)?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    fn spool_free_bytes(&self) -> Option<u64> {
        super::free_bytes(&self.spool_dir)
    }
}

/// What the driver needs besides the core.
pub(super) struct Driver {
    pub core: GatewayCore<Binder>,
    pub config: Config,
    pub shared: Arc<Shared>,
    pub network: Arc<Network>,
    pub admission: Arc<Admission>,
    /// TLS peer names shared with the TLS acceptor (updated on reload).
    pub peer_names: Option<Arc<std::sync::RwLock<Vec<String>>>>,
}

/// The channels the driver listens on.
pub(super) struct Inputs {
    pub sip: mpsc::Receiver<Inbound>,
    pub stop: oneshot::Receiver<()>,
    /// Reload requests; the sender is told when the plans are in place.
    pub reload: mpsc::Receiver<oneshot::Sender<()>>,
    /// Liveness probes (`super::Probe`), answered with the calls in progress.
    pub probe: mpsc::Receiver<oneshot::Sender<usize>>,
    pub mwi: mpsc::Receiver<Mwi>,
    pub mwi_tx: mpsc::Sender<Mwi>,
    /// Play-on-phone requests (admin endpoint).
    pub play: mpsc::Receiver<super::PlayRequest>,
}

impl Driver {
    pub async fn run(mut self, mut inputs: Inputs) {
        let (from_calls_tx, mut from_calls) = mpsc::channel::<(CallId, FromCall)>(4096);
        let (jobs_tx, mut jobs_done) = mpsc::channel::<(CallId, JobResult)>(1024);
        let (notify_tx, mut notify_ready) = mpsc::channel::<(Notify, Transport)>(256);
        let (placing_tx, mut placing) = mpsc::channel::<Placing>(16);
        let mut calls: HashMap<CallId, mpsc::Sender<ToCall>> = HashMap::new();
        let grace = Duration::from_millis(self.config.call.shutdown_grace_ms);
        let mut draining = false;
        // Draining and every call over: what is left is the preview queue, until `previews_by`.
        let mut calls_over = false;
        let mut previews_by = None;
        loop {
            let deadline = self.core.poll_timeout().map(tokio::time::Instant::from_std);
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = inputs.sip.recv() => match msg {
                    Some(msg) => self.core.handle_sip(Instant::now(), msg.remote, &msg.bytes),
                    None => break,
                },
                Some((call, message)) = from_calls.recv() => match message {
                    FromCall::Request(r) => self.core.handle_request(Instant::now(), call, r),
                    FromCall::Finished => {
                        calls.remove(&call);
                        self.core.call_finished(Instant::now(), call);
                    }
                },
                Some((call, result)) = jobs_done.recv() => {
                    self.core.handle_job(Instant::now(), call, result);
                }
                Some((notify, transport)) = notify_ready.recv() => {
                    self.core.send_notify(Instant::now(), notify, transport);
                }
                Some(mwi) = inputs.mwi.recv() => self.mwi(mwi, &notify_tx),
                Some(req) = inputs.play.recv() => self.play_on_phone(req, &placing_tx),
                Some((call, transport, reply)) = placing.recv() => {
                    let _ = reply.send(self.core.place_call(Instant::now(), call, transport));
                }
                _ = timer => self.core.handle_timeout(Instant::now()),
                Some(done) = inputs.reload.recv() => {
                    self.reload();
                    let _ = done.send(());
                }
                // Answered here, between SIP and timers, so only a turning loop answers.
                Some(reply) = inputs.probe.recv() => {
                    let _ = reply.send(self.core.calls());
                }
                _ = &mut inputs.stop, if !draining => {
                    draining = true;
                    let now = Instant::now();
                    self.core.shutdown(now, grace);
                    if let Some(previews) = &self.shared.previews {
                        previews.close(now + grace);
                        previews_by = Some(now + grace + PREVIEW_DRAIN_WINDOW);
                    }
                }
                // Nothing else need wake the loop while the preview queue drains.
                _ = tokio::time::sleep(PREVIEW_DRAIN_POLL), if calls_over => {}
            }
            self.flush(&mut calls, &from_calls_tx, &jobs_tx, &notify_tx)
                .await;
            if draining {
                let now = Instant::now();
                calls_over = calls_over || self.core.is_finished(now);
                if calls_over && self.previews_delivered(previews_by, now) {
                    break;
                }
            }
        }
        drop(inputs.mwi_tx);
        info!("gateway core stopped");
    }

    /// Sends what the core queued and carries out its actions, until both are empty.
    async fn flush(
        &mut self,
        calls: &mut HashMap<CallId, mpsc::Sender<ToCall>>,
        from_calls: &mpsc::Sender<(CallId, FromCall)>,
        jobs: &mpsc::Sender<(CallId, JobResult)>,
        notify: &mpsc::Sender<(Notify, Transport)>,
    ) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.core.poll_transmit() {
                self.network.send(t).await;
                progressed = true;
            }
            while let Some(action) = self.core.poll_action() {
                progressed = true;
                match action {
                    CoreAction::Start { call, socket } => {
                        let id = call.id();
                        let (tx, rx) = mpsc::channel(32);
                        let runner = Runner::new(*call, socket, rx, from_calls.clone());
                        if media_worker::spawn(Box::new(runner)).is_err() {
                            error!(?id, "no media worker: call dropped");
                            self.core.call_finished(Instant::now(), id);
                            continue;
                        }
                        calls.insert(id, tx);
                    }
                    CoreAction::Signal(call, signal) => {
                        // A full queue means a stuck call; dropping the signal beats stalling
                        // SIP.
                        if let Some(tx) = calls.get(&call) {
                            let _ = tx.try_send(ToCall::Signal(signal));
                        }
                    }
                    CoreAction::AttachLeg(call, socket) => {
                        if let Some(tx) = calls.get(&call) {
                            let _ = tx.try_send(ToCall::Leg(socket));
                        }
                    }
                    CoreAction::Job(call, job) => {
                        let jobs = jobs.clone();
                        spawn_job(job, move |result| {
                            let _ = jobs.blocking_send((call, result));
                        });
                    }
                    CoreAction::Detached(job) => spawn_job(job, |_| {}),
                    CoreAction::Mwi(mwi) => self.mwi(mwi, notify),
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Whether the preview queue (if any) is empty and idle, or past `by` gives up on it: a
    /// message still in it is recovered from the spool at the next start.
    fn previews_delivered(&self, by: Option<Instant>, now: Instant) -> bool {
        let Some(previews) = &self.shared.previews else {
            return true;
        };
        if previews.is_idle() {
            return true;
        }
        if by.is_some_and(|by| now >= by) {
            warn!("voice mails still being delivered at the end of the shutdown: their recordings are recovered at the next start");
            return true;
        }
        false
    }

    /// Locates where a NOTIFY goes (static routes, then RFC 3263) and opens its TCP/TLS
    /// connection, off the driver's loop so a slow or dead target never stalls SIP; the core
    /// sends it when the transport is ready.
    fn mwi(&self, mwi: Mwi, ready: &mpsc::Sender<(Notify, Transport)>) {
        let (shared, network, ready) = (self.shared.clone(), self.network.clone(), ready.clone());
        tokio::spawn(async move {
            let target = mwi.target;
            let located = match locate(&shared, &network, &target).await {
                Ok(l) => l,
                Err(e) => return warn!(%target, error = %e, "MWI: no NOTIFY"),
            };
            let notify = Notify {
                body: crate::mwi::message_summary_body(&mwi.account, mwi.counts),
                target_uri: target,
                dest: located.0,
                account: mwi.account,
            };
            let _ = ready.send((notify, located.1)).await;
        });
    }

    /// A play-on-phone request: checked against the dial plans and the mailbox, located and
    /// connected off the loop, then placed by the core (which answers the request).
    fn play_on_phone(&self, req: super::PlayRequest, ready: &mpsc::Sender<Placing>) {
        let mut call = match self.core.phone_call(&req.mailbox, &req.message, &req.to) {
            Ok(c) => c,
            Err(e) => {
                let _ = req.reply.send(Err(e));
                return;
            }
        };
        let (shared, network, ready) = (self.shared.clone(), self.network.clone(), ready.clone());
        tokio::spawn(async move {
            let (store, mailbox, message) = (
                shared.store.clone(),
                req.mailbox.clone(),
                req.message.clone(),
            );
            let found = tokio::task::spawn_blocking(move || {
                crate::store::MailboxId::new(&mailbox)
                    .and_then(|m| store.list(&m))
                    .map(|list| list.iter().any(|m| m.id == message))
            })
            .await;
            match found {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    let why = format!("mailbox {} has no message {}", req.mailbox, req.message);
                    let _ = req.reply.send(Err(why));
                    return;
                }
                Ok(Err(e)) => {
                    let _ = req.reply.send(Err(format!("the store cannot say: {e}")));
                    return;
                }
                Err(_) => return,
            }
            let target = call.to.to_string();
            match locate(&shared, &network, &target).await {
                Ok((dest, transport)) => {
                    call.dest = dest;
                    let _ = ready.send((call, transport, req.reply)).await;
                }
                Err(e) => {
                    let _ = req.reply.send(Err(format!("cannot reach {target}: {e}")));
                }
            }
        });
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
                // As at start: prompts the plans name that are missing, or untranslated.
                for missing in super::missing_prompts(&plans, &self.shared.prompts) {
                    warn!("{missing}");
                }
                let mailboxes: usize = plans.plans().iter().map(|p| p.mailboxes.len()).sum();
                let count = plans.plans().len();
                let (trusted, names) = super::plan_peers(&self.config, &plans);
                self.core.set_dialplans(plans);
                self.admission.set_trusted(trusted);
                if let Some(shared) = &self.peer_names {
                    if let Ok(mut n) = shared.write() {
                        *n = names;
                    }
                }
                info!(
                    dir = %dir.display(), plans = count, mailboxes,
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
}

/// A play-on-phone call ready to place, and who waits for the answer.
type Placing = (
    PhoneCall,
    Transport,
    oneshot::Sender<Result<String, String>>,
);

/// Where a request to `target` goes (static routes, then RFC 3263) and its transport: the
/// UDP listener's, or a TCP/TLS connection opened now.
async fn locate(
    shared: &Shared,
    network: &Network,
    target: &str,
) -> Result<(SocketAddr, Transport), String> {
    let dest = shared
        .locator
        .locate(target)
        .await
        .map_err(|e| format!("cannot locate: {e}"))?
        .into_iter()
        .next()
        .ok_or("cannot locate: no address")?;
    let transport = match dest.transport {
        TransportKind::Udp => network
            .udp_transport()
            .ok_or_else(|| "no UDP listener to send from".to_owned())?,
        TransportKind::Tls => {
            let host = crate::sip::locate::uri_target(target)
                .map(|t| t.host)
                .unwrap_or_default();
            network
                .connect_tls(dest.addr, &host)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", dest.addr))?
        }
        _ => network
            .connect_tcp(dest.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", dest.addr))?,
    };
    Ok((dest.addr, transport))
}

/// Runs `job` on the blocking pool and hands its result to `done` (on that thread).
fn spawn_job(job: Job, done: impl FnOnce(JobResult) + Send + 'static) {
    tokio::task::spawn_blocking(move || done(job.run()));
}
