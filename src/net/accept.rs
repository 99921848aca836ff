//! Accepting stream connections without spinning when the process runs out of descriptors.
//!
//! Under EMFILE/ENFILE (or ENOBUFS/ENOMEM) the kernel keeps the pending connection in the
//! backlog, so the listener stays readable and an accept loop that simply retries burns a core
//! and, if it logs each failure, floods the log. [`AcceptBackoff`] decides how long to pause
//! after each failure (growing to a cap) and which failure of a burst is worth a log line;
//! [`accept`] is the loop that applies it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

/// The pause after the first failure of a burst.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause: a freed descriptor is used within this long.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// What to do after an accept error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The error concerned one connection (the peer reset it before it was accepted): accept
    /// the next one at once.
    Skip,
    /// The listener cannot accept for now: pause this long before trying again. `first` is
    /// set on the first failure of a burst, the one to log.
    Pause { delay: Duration, first: bool },
}

/// Back-off state of one accept loop: consecutive failures and the next pause.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    failures: u64,
    delay: Duration,
}

impl AcceptBackoff {
    /// Records a failed accept and says what to do.
    pub fn failed(&mut self, error: &io::Error) -> AcceptFailure {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
        ) {
            return AcceptFailure::Skip;
        }
        self.failures += 1;
        self.delay = if self.failures == 1 {
            FIRST_PAUSE
        } else {
            (self.delay * 2).min(MAX_PAUSE)
        };
        AcceptFailure::Pause {
            delay: self.delay,
            first: self.failures == 1,
        }
    }

    /// Records a successful accept; returns how many failures the burst it ends had, if any.
    pub fn accepted(&mut self) -> Option<u64> {
        let failures = std::mem::take(&mut self.failures);
        self.delay = Duration::ZERO;
        (failures > 0).then_some(failures)
    }
}

/// Accepts the next connection on `listener`, pausing per `backoff` while accepting fails.
/// One warning starts a burst of failures and one line ends it; `what` names the listener.
pub async fn accept(
    listener: &TcpListener,
    backoff: &mut AcceptBackoff,
    what: &str,
) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                if let Some(failures) = backoff.accepted() {
                    info!(
                        listener = what,
                        failures, "accepting connections again after a run of failed accepts"
                    );
                }
                return accepted;
            }
            Err(e) => match backoff.failed(&e) {
                AcceptFailure::Skip => {
                    debug!(listener = what, error = %e, "accept: connection lost")
                }
                AcceptFailure::Pause { delay, first } => {
                    if first {
                        warn!(
                            listener = what, error = %e,
                            "cannot accept connections (out of file descriptors?): retrying with a growing pause up to {} ms; logged once until it recovers",
                            MAX_PAUSE.as_millis()
                        );
                    }
                    tokio::time::sleep(delay).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(libc::EMFILE)
    }

    #[test]
    fn pauses_double_up_to_the_cap_and_only_the_first_failure_is_logged() {
        let mut b = AcceptBackoff::default();
        let mut pauses = Vec::new();
        let mut logged = 0;
        for _ in 0..12 {
            match b.failed(&emfile()) {
                AcceptFailure::Pause { delay, first } => {
                    pauses.push(delay.as_millis());
                    logged += usize::from(first);
                }
                AcceptFailure::Skip => panic!("EMFILE must pause"),
            }
        }
        assert_eq!(
            pauses,
            [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000, 1000]
        );
        assert_eq!(logged, 1);
        // Twelve failures in a row wait about 6.3 s in all: a few wake-ups, not a spin.
        assert_eq!(pauses.iter().sum::<u128>(), 6270);
    }

    #[test]
    fn a_success_ends_the_burst_and_the_next_failure_starts_small_and_is_logged() {
        let mut b = AcceptBackoff::default();
        assert_eq!(b.accepted(), None);
        for _ in 0..3 {
            b.failed(&io::Error::from_raw_os_error(libc::ENFILE));
        }
        assert_eq!(b.accepted(), Some(3));
        assert_eq!(b.accepted(), None);
        assert_eq!(
            b.failed(&emfile()),
            AcceptFailure::Pause {
                delay: FIRST_PAUSE,
                first: true
            }
        );
    }

    #[test]
    fn a_connection_reset_before_accept_is_skipped_without_a_pause() {
        let mut b = AcceptBackoff::default();
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
        ] {
            assert_eq!(b.failed(&io::Error::from(kind)), AcceptFailure::Skip);
        }
        assert_eq!(b.accepted(), None, "skips are not a burst");
    }
}
