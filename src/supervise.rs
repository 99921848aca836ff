//! Supervision by systemd (`Type=notify`, sd_notify(3)). Every notification is a no-op without
//! `NOTIFY_SOCKET`, so the gateway runs the same from a shell or under another supervisor.
//!
//! - `READY=1` once the listeners are bound (the gateway has started) **and** the store answers
//!   ([`Probe::store`]): a node whose mail server is down is not reported ready, so
//!   `systemctl start` waits (and fails after `TimeoutStartSec`) instead of passing.
//! - `WATCHDOG=1` every half of `WatchdogSec`, and only when the core loop, the one that serves
//!   SIP, has answered a probe within a quarter of `WatchdogSec` ([`Probe::core`]): a stalled
//!   loop stops the pings and systemd restarts the node. A timer that pinged on its own would
//!   prove nothing.
//! - `STATUS=` says what the node waits for, or how many calls it carries.
//! - `RELOADING=1` … `READY=1` around a SIGHUP reload; `STOPPING=1` when the drain starts.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

use crate::gateway::Probe;

/// Wait before checking again a store that did not answer; it doubles up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY: Duration = Duration::from_millis(500);
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Tells systemd how the gateway is doing.
pub struct Supervisor {
    probe: Probe,
    ready: AtomicBool,
    stopping: AtomicBool,
    /// Where notifications go: systemd's socket, or a test's list.
    sink: Box<dyn Sink>,
}

/// Where notifications go.
trait Sink: Send + Sync {
    fn send(&self, states: &[NotifyState]);
}

/// systemd, through `NOTIFY_SOCKET` (nothing without it).
struct Systemd;

impl Sink for Systemd {
    fn send(&self, states: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(states) {
            warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
        }
    }
}

impl Supervisor {
    /// For the gateway `probe` asks, notifying systemd.
    pub fn new(probe: Probe) -> Arc<Supervisor> {
        Supervisor::with_sink(probe, Box::new(Systemd))
    }

    fn with_sink(probe: Probe, sink: Box<dyn Sink>) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            probe,
            ready: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            sink,
        })
    }

    /// Checks the store until it answers, then calls `on_ready` (the gateway's "ready" log
    /// line) and sends `READY=1`. Until then `STATUS=` and the log say what is missing.
    pub fn spawn_readiness(
        self: &Arc<Self>,
        on_ready: impl FnOnce() + Send + 'static,
    ) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut wait = STORE_RETRY;
            let mut failures = 0u32;
            while let Err(why) = me.probe.store().await {
                if failures == 0 {
                    warn!(
                        error = %why,
                        "the store does not answer: not ready (no READY=1 to systemd) until it does"
                    );
                } else {
                    debug!(error = %why, failures, "the store still does not answer");
                }
                failures += 1;
                me.sink.send(&[NotifyState::Status(&format!(
                    "waiting for the store: {why}"
                ))]);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(STORE_RETRY_MAX);
            }
            if failures > 0 {
                info!(failures, "the store answers");
            }
            if me.stopping.load(Ordering::SeqCst) {
                return;
            }
            me.ready.store(true, Ordering::SeqCst);
            on_ready();
            me.sink
                .send(&[NotifyState::Ready, NotifyState::Status("serving")]);
        })
    }

    /// When systemd asks for a watchdog (`WatchdogSec`, seen as `WATCHDOG_USEC`): pings every
    /// half of it while the core loop answers within a quarter. Ends when the core stops.
    pub fn spawn_watchdog(self: &Arc<Self>) -> Option<JoinHandle<()>> {
        // WATCHDOG_USEC=0 would be a zero period (systemd leaves the variable out instead).
        let period = sd_notify::watchdog_enabled().filter(|w| !w.is_zero())? / 2;
        info!(every = ?period, "systemd watchdog: pinging while the core loop answers");
        Some(self.spawn_watchdog_every(period))
    }

    fn spawn_watchdog_every(self: &Arc<Self>, period: Duration) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut stalled = false;
            loop {
                tick.tick().await;
                // Half a period to answer, so a late answer still pings within WatchdogSec
                // of the previous ping (at most 1.5 periods apart).
                match tokio::time::timeout(period / 2, me.probe.core()).await {
                    Ok(Some(calls)) => {
                        if std::mem::take(&mut stalled) {
                            info!("the core loop answers again: pinging the systemd watchdog");
                        }
                        me.alive(calls);
                    }
                    // The core has stopped: the process is on its way out.
                    Ok(None) => return,
                    Err(_) => {
                        if !std::mem::replace(&mut stalled, true) {
                            error!(
                                waited = ?(period / 2),
                                "the core loop does not answer: not pinging the systemd watchdog (systemd restarts the gateway after WatchdogSec)"
                            );
                        }
                    }
                }
            }
        })
    }

    /// Runs `reload` between `RELOADING=1` and `READY=1` (when the gateway was ready).
    pub async fn reload(&self, reload: impl Future<Output = ()>) {
        let ready = self.ready.load(Ordering::SeqCst);
        if ready {
            match NotifyState::monotonic_usec_now() {
                Ok(now) => self.sink.send(&[NotifyState::Reloading, now]),
                Err(_) => self.sink.send(&[NotifyState::Reloading]),
            }
        }
        reload.await;
        if ready && !self.stopping.load(Ordering::SeqCst) {
            self.sink
                .send(&[NotifyState::Ready, NotifyState::Status("serving")]);
        }
    }

    /// The drain starts: `STOPPING=1`.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.sink.send(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: finishing the calls in progress"),
        ]);
    }

    /// One watchdog ping, with the calls in progress.
    fn alive(&self, calls: usize) {
        let status = if self.stopping.load(Ordering::SeqCst) {
            format!("stopping; calls in progress: {calls}")
        } else if self.ready.load(Ordering::SeqCst) {
            format!("serving; calls in progress: {calls}")
        } else {
            // The readiness check says what it waits for.
            return self.sink.send(&[NotifyState::Watchdog]);
        };
        self.sink
            .send(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::store::Maildir;

    /// A supervisor whose notifications land in the returned list, and a core that answers
    /// probes (with 2 calls) while the returned flag is set.
    fn supervised(
        store_root: &std::path::Path,
    ) -> (Arc<Supervisor>, Arc<Mutex<Vec<String>>>, Arc<AtomicBool>) {
        let (core_tx, mut core_rx) = mpsc::channel::<oneshot::Sender<usize>>(1);
        let turning = Arc::new(AtomicBool::new(true));
        let loop_turning = turning.clone();
        tokio::spawn(async move {
            loop {
                if loop_turning.load(Ordering::SeqCst) {
                    match core_rx.recv().await {
                        Some(reply) => {
                            let _ = reply.send(2);
                        }
                        None => return,
                    }
                } else {
                    // A stalled loop: probes wait in the channel.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let store = Arc::new(Maildir::open(store_root).unwrap());
        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = Box::new(Recorded(sent.clone()));
        (
            Supervisor::with_sink(Probe::new(core_tx, store), sink),
            sent,
            turning,
        )
    }

    /// Notifications as systemd would read them, one datagram per entry.
    struct Recorded(Arc<Mutex<Vec<String>>>);

    impl Sink for Recorded {
        fn send(&self, states: &[NotifyState]) {
            let lines: Vec<String> = states.iter().map(ToString::to_string).collect();
            self.0.lock().unwrap().push(lines.join("\n"));
        }
    }

    fn pings(sent: &Mutex<Vec<String>>) -> usize {
        let sent = sent.lock().unwrap();
        sent.iter().filter(|m| m.contains("WATCHDOG=1")).count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watchdog_pings_only_while_the_core_loop_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (sup, sent, turning) = supervised(dir.path());
        let period = Duration::from_millis(40);
        sup.spawn_watchdog_every(period);
        tokio::time::sleep(period * 6).await;
        let alive = pings(&sent);
        assert!(alive >= 3, "{:?}", sent.lock().unwrap());

        // The loop stalls (it was waiting for its next input when told to): at most the
        // probe already taken is answered, then no pings.
        turning.store(false, Ordering::SeqCst);
        tokio::time::sleep(period * 2).await;
        let stalled_at = pings(&sent);
        tokio::time::sleep(period * 8).await;
        assert_eq!(pings(&sent), stalled_at, "{:?}", sent.lock().unwrap());

        turning.store(true, Ordering::SeqCst);
        tokio::time::sleep(period * 6).await;
        assert!(pings(&sent) >= stalled_at + 2, "{:?}", sent.lock().unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ready_once_the_store_answers_then_status_counts_calls_and_stopping_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mailboxes");
        let (sup, sent, _) = supervised(&root);
        // The store root vanishes (an unmounted volume): no READY.
        std::fs::remove_dir(&root).unwrap();
        let readiness = sup.spawn_readiness(|| {});
        tokio::time::sleep(Duration::from_millis(200)).await;
        {
            let sent = sent.lock().unwrap();
            assert!(!sent.iter().any(|m| m.contains("READY=1")), "{sent:?}");
            assert!(
                sent.iter()
                    .any(|m| m.starts_with("STATUS=waiting for the store: cannot list store root")),
                "{sent:?}"
            );
        }
        std::fs::create_dir(&root).unwrap();
        tokio::time::timeout(Duration::from_secs(5), readiness)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            sent.lock().unwrap().last().unwrap(),
            "READY=1\nSTATUS=serving"
        );
        sup.alive(2);
        sup.stopping();
        sup.alive(1);
        let sent = sent.lock().unwrap();
        assert_eq!(
            sent[sent.len() - 3..],
            [
                "WATCHDOG=1\nSTATUS=serving; calls in progress: 2",
                "STOPPING=1\nSTATUS=stopping: finishing the calls in progress",
                "WATCHDOG=1\nSTATUS=stopping; calls in progress: 1",
            ]
        );
    }
}
