//! Metrics (the `metrics` facade with the Prometheus text exporter) and the operator's HTTP
//! endpoint: `GET /metrics`, `GET /health`, `GET /status`. The endpoint is a deliberately tiny
//! HTTP/1.0 responder on loopback or a management address; it reads one request line.
//!
//! Metric names (one place, so the docs and the code agree), in Prometheus base units
//! (seconds, bytes, `_total` for counters):
//! - `umgw_calls_active` (gauge), `umgw_calls_total{outcome}` (voicemail, missed_call, failed)
//! - `umgw_calls_rejected_total{code}`, `umgw_sip_responses_total{code}`
//! - `umgw_deposits_total{kind}`, `umgw_store_latency_seconds` (histogram)
//! - `umgw_rtp_packets_received_total`, `umgw_rtp_packets_sent_total`,
//!   `umgw_rtp_packets_lost_total`, `umgw_rtp_jitter_seconds` (histogram, per call)
//! - `umgw_untrusted_dropped_total` (flood limiter)
//! - `umgw_media_ticks_late_total`: media worker ticks that started over 2 ms late (the
//!   workers lack CPU; prompt pacing suffers)
//! - Voice Mail Preview: `umgw_transcriptions_total{result}` (done, failed, timed_out),
//!   `umgw_transcription_audio_seconds` (histogram of the audio transcribed: its sum is the
//!   seconds of audio), `umgw_transcription_real_time_factor` (histogram: the engine's seconds
//!   per second of audio, time in the queue not included), `umgw_preview_queue_depth` (gauge:
//!   voice mails waiting for a transcription thread), `umgw_previews_in_progress` (gauge:
//!   being transcribed or delivered by those threads); `result` also counts `skipped` (the
//!   queue was full: delivered at once without a preview)
//! - E-mail notification: `umgw_emails_total{result}` (sent, failed: given up or not
//!   queued), `umgw_email_outbox_depth` (gauge: notices waiting for the SMTP server)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::net::accept::{accept, AcceptBackoff};

pub const CALLS_ACTIVE: &str = "umgw_calls_active";
pub const CALLS_TOTAL: &str = "umgw_calls_total";
pub const CALLS_REJECTED: &str = "umgw_calls_rejected_total";
pub const SIP_RESPONSES: &str = "umgw_sip_responses_total";
pub const DEPOSITS: &str = "umgw_deposits_total";
pub const STORE_LATENCY: &str = "umgw_store_latency_seconds";
pub const RTP_RECEIVED: &str = "umgw_rtp_packets_received_total";
pub const RTP_SENT: &str = "umgw_rtp_packets_sent_total";
pub const RTP_LOST: &str = "umgw_rtp_packets_lost_total";
/// RTP packets dropped because they came from another source than the call's (`media::latch`).
pub const RTP_FOREIGN: &str = "umgw_rtp_packets_foreign_total";
/// RFC 3550 interarrival jitter of a call's received RTP, in seconds.
pub const RTP_JITTER: &str = "umgw_rtp_jitter_seconds";
pub const UNTRUSTED_DROPPED: &str = "umgw_untrusted_dropped_total";
pub const MEDIA_TICKS_LATE: &str = "umgw_media_ticks_late_total";
pub const TRANSCRIPTIONS: &str = "umgw_transcriptions_total";
pub const TRANSCRIBED_AUDIO: &str = "umgw_transcription_audio_seconds";
pub const TRANSCRIPTION_RTF: &str = "umgw_transcription_real_time_factor";
pub const PREVIEW_QUEUE_DEPTH: &str = "umgw_preview_queue_depth";
pub const PREVIEWS_IN_HAND: &str = "umgw_previews_in_progress";
pub const EMAILS: &str = "umgw_emails_total";
pub const EMAIL_OUTBOX: &str = "umgw_email_outbox_depth";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same handle.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(STORE_LATENCY.into()),
                    &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(RTP_JITTER.into()),
                        &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(TRANSCRIBED_AUDIO.into()),
                        &[5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 120.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(TRANSCRIPTION_RTF.into()),
                        &[0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0],
                    )
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => Some(h),
                Err(e) => {
                    warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// One call as `/status` shows it.
#[derive(Debug, Clone)]
pub struct CallStatus {
    pub sip_call_id: String,
    pub mailbox: String,
    pub since: Instant,
}

/// Voice Mail Preview's state for `/status`: the engine, and a reading of its queue (waiting,
/// being transcribed or delivered).
pub struct PreviewStatus {
    pub engine: String,
    pub queue: Box<dyn Fn() -> (usize, usize) + Send + Sync>,
}

impl std::fmt::Debug for PreviewStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewStatus")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// Calls in progress, kept by the gateway core for `/status`, and the preview queue.
#[derive(Debug, Default)]
pub struct StatusBoard {
    calls: Mutex<BTreeMap<u64, CallStatus>>,
    started: OnceLock<Instant>,
    previews: OnceLock<PreviewStatus>,
}

impl StatusBoard {
    pub fn new() -> Arc<Self> {
        let b = Arc::new(Self::default());
        let _ = b.started.set(Instant::now());
        b
    }

    pub fn call_started(&self, id: u64, status: CallStatus) {
        if let Ok(mut c) = self.calls.lock() {
            c.insert(id, status);
            metrics::gauge!(CALLS_ACTIVE).set(c.len() as f64);
        }
    }

    pub fn call_ended(&self, id: u64) {
        if let Ok(mut c) = self.calls.lock() {
            c.remove(&id);
            metrics::gauge!(CALLS_ACTIVE).set(c.len() as f64);
        }
    }

    /// Voice Mail Preview is on: `/status` shows its engine and queue (transcripts are not
    /// shown here: the endpoint has no authentication).
    pub fn show_previews(&self, status: PreviewStatus) {
        let _ = self.previews.set(status);
    }

    /// `text/plain` lines: `uptime_s N`, `calls_active N`, the preview engine and queue
    /// (`previews off`, or `previews ENGINE queued=N in_progress=M`), then one line per call.
    pub fn render(&self) -> String {
        let uptime = self
            .started
            .get()
            .map(|s| s.elapsed().as_secs())
            .unwrap_or(0);
        let calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let mut out = format!("uptime_s {uptime}\ncalls_active {}\n", calls.len());
        match self.previews.get() {
            Some(p) => {
                let (queued, in_progress) = (p.queue)();
                out.push_str(&format!(
                    "previews {} queued={queued} in_progress={in_progress}\n",
                    p.engine
                ));
            }
            None => out.push_str("previews off\n"),
        }
        for c in calls.values() {
            out.push_str(&format!(
                "call mailbox={} seconds={} call_id={}\n",
                c.mailbox,
                c.since.elapsed().as_secs(),
                c.sip_call_id
            ));
        }
        out
    }
}

/// How long a client of the admin endpoint has to send its request head, and then to take
/// the answer: a connection that stalls frees its slot after at most twice this.
const ADMIN_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer to a connection beyond `admin.max_connections`.
const ADMIN_BUSY: &[u8] = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
    Content-Length: 5\r\nConnection: close\r\n\r\nbusy\n";

/// Serves `/metrics`, `/health` and `/status` on `addr` until the process ends, at most
/// `max_connections` at a time: a connection beyond that is answered 503 and closed at once.
/// Accept failures (out of descriptors) pause the loop with a growing back-off.
pub async fn serve(
    addr: SocketAddr,
    max_connections: usize,
    board: Arc<StatusBoard>,
    actions: Option<Arc<AdminActions>>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot bind admin endpoint {addr}: {e}"))
    })?;
    let local = listener.local_addr()?;
    info!(%local, max_connections, "admin endpoint (/metrics, /health, /status) listening");
    let handle = install();
    let slots = Arc::new(Semaphore::new(max_connections));
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff::default();
        let mut refusing = false;
        loop {
            let (stream, peer) = accept(&listener, &mut backoff, "admin endpoint").await;
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                if !std::mem::replace(&mut refusing, true) {
                    warn!(
                        %peer, max_connections,
                        "admin endpoint: admin.max_connections connections open; answering 503 until one closes (logged once per burst)"
                    );
                }
                // A fresh socket's send buffer takes these few bytes without waiting; the
                // stream is closed when dropped.
                let _ = stream.try_write(ADMIN_BUSY);
                continue;
            };
            refusing = false;
            let (board, handle, actions) = (board.clone(), handle.clone(), actions.clone());
            tokio::spawn(async move {
                let stream = respond(stream, &board, handle.as_ref(), actions.as_deref()).await;
                // Free the place before the client sees the close, so a client that connects
                // again at once is not refused.
                drop(slot);
                drop(stream);
            });
        }
    });
    Ok(local)
}

/// Reads one request head (up to 2 KiB) and answers it; each half has [`ADMIN_IO_TIMEOUT`].
/// Returns the stream for the caller to close.
async fn respond(
    mut stream: TcpStream,
    board: &StatusBoard,
    handle: Option<&PrometheusHandle>,
    actions: Option<&AdminActions>,
) -> TcpStream {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    let deadline = tokio::time::Instant::now() + ADMIN_IO_TIMEOUT;
    while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf[n..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(k)) => n += k,
        }
    }
    let request = String::from_utf8_lossy(&buf[..n]);
    let mut words = request.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, body) = match (method, path) {
        ("POST", "/play-on-phone") => match actions {
            Some(a) => a.play_on_phone(&request, query).await,
            None => (
                "403 Forbidden",
                "actions are off: set admin.token_file\n".to_owned(),
            ),
        },
        (_, "/metrics") => ("200 OK", handle.map(|h| h.render()).unwrap_or_default()),
        (_, "/health") => ("200 OK", "ok\n".to_owned()),
        (_, "/status") => ("200 OK", board.render()),
        _ => ("404 Not Found", "not found\n".to_owned()),
    };
    let resp = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(ADMIN_IO_TIMEOUT, stream.write_all(resp.as_bytes())).await;
    stream
}

/// What the endpoint may ask of the gateway, for requests carrying the bearer token.
pub struct AdminActions {
    token: crate::config::Secret,
    play: tokio::sync::mpsc::Sender<crate::gateway::PlayRequest>,
}

/// How long a play-on-phone request waits for the gateway to place the call (locating and
/// connecting to the call server included).
const PLACE_TIMEOUT: Duration = Duration::from_secs(10);

impl AdminActions {
    /// Actions authorised by the first line of `token_file` (at least 16 characters).
    pub fn new(
        token_file: &std::path::Path,
        play: tokio::sync::mpsc::Sender<crate::gateway::PlayRequest>,
    ) -> Result<AdminActions, String> {
        let token = crate::config::resolve_password(None, Some(token_file), None)
            .map_err(|e| format!("admin.token_file: {e}"))?;
        if token.trim().len() < 16 {
            return Err(format!(
                "admin.token_file {}: the token must be at least 16 characters",
                token_file.display()
            ));
        }
        Ok(AdminActions {
            token: crate::config::Secret(token.trim().to_owned()),
            play,
        })
    }

    /// Whether the request head carries `Authorization: Bearer <token>` (compared in
    /// constant time).
    fn authorised(&self, head: &str) -> bool {
        head.lines().skip(1).any(|line| {
            let Some((name, value)) = line.split_once(':') else {
                return false;
            };
            let value = value.trim();
            name.trim().eq_ignore_ascii_case("authorization")
                && value.len() > 7
                && value[..7].eq_ignore_ascii_case("bearer ")
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    value[7..].trim().as_bytes(),
                    self.token.0.as_bytes(),
                ))
        })
    }

    /// `POST /play-on-phone?mailbox=ID&message=MSG&to=NUMBER|URI`.
    async fn play_on_phone(&self, head: &str, query: &str) -> (&'static str, String) {
        if !self.authorised(head) {
            warn!("admin endpoint: play-on-phone request without the right token refused");
            return ("401 Unauthorized", "bearer token required\n".to_owned());
        }
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| percent_decode(v))
                .filter(|v| !v.is_empty())
        };
        let (Some(mailbox), Some(message), Some(to)) =
            (param("mailbox"), param("message"), param("to"))
        else {
            return (
                "400 Bad Request",
                "mailbox, message and to are required (percent-encoded; + as %2B)\n".to_owned(),
            );
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let req = crate::gateway::PlayRequest {
            mailbox,
            message,
            to: to.clone(),
            reply,
        };
        if self.play.send(req).await.is_err() {
            return (
                "503 Service Unavailable",
                "the gateway is stopping\n".to_owned(),
            );
        }
        match tokio::time::timeout(PLACE_TIMEOUT, answer).await {
            Ok(Ok(Ok(call_id))) => ("202 Accepted", format!("calling {to}; Call-ID {call_id}\n")),
            Ok(Ok(Err(why))) => ("422 Unprocessable Entity", format!("{why}\n")),
            _ => (
                "504 Gateway Timeout",
                "the call could not be placed in time\n".to_owned(),
            ),
        }
    }
}

/// `%XX`-decodes a query value (`+` stays `+`); `None` if it is not UTF-8 or malformed.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The status code of a serialised SIP response, without parsing the rest.
pub fn response_code(bytes: &[u8]) -> Option<u16> {
    let code = bytes.strip_prefix(b"SIP/2.0 ")?.get(..3)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes() {
        assert_eq!(response_code(b"SIP/2.0 403 Forbidden\r\n"), Some(403));
        assert_eq!(response_code(b"INVITE sip:a@b SIP/2.0\r\n"), None);
        assert_eq!(response_code(b"SIP/2.0 "), None);
    }

    #[test]
    fn status_board_lists_calls() {
        let b = StatusBoard::new();
        b.call_started(
            7,
            CallStatus {
                sip_call_id: "abc".into(),
                mailbox: "alice".into(),
                since: Instant::now(),
            },
        );
        let text = b.render();
        assert!(text.contains("calls_active 1\n"), "{text}");
        assert!(text.contains("mailbox=alice"), "{text}");
        b.call_ended(7);
        assert!(b.render().contains("calls_active 0\n"));
        assert!(b.render().contains("\npreviews off\n"));
        b.show_previews(PreviewStatus {
            engine: "embedded".into(),
            queue: Box::new(|| (3, 1)),
        });
        assert!(
            b.render()
                .contains("\npreviews embedded queued=3 in_progress=1\n"),
            "{}",
            b.render()
        );
    }
}
