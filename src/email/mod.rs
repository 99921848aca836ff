//! E-mail notification of new voice mail, for sites whose users' mailboxes the gateway cannot
//! reach over IMAP: a mailbox with `NotifyEmail` in its dial plan gets a copy of each message
//! (the recording attached, or only the notice) sent over SMTP by `lettre` (STARTTLS or
//! implicit TLS on rustls, SMTP AUTH).
//!
//! The copy is rendered and written to the outbox ([`outbox::Outbox`]) in the deposit's own
//! step, after the store committed and before the spool entry goes: a crash in between
//! delivers the message again at start-up and writes the same outbox file again (named by the
//! delivery id), so a notice is lost neither to a crash nor to a mail server that is down.
//! One sender thread drains the outbox in arrival order, backing off while the server fails;
//! a notice the server refuses for good (5xx) or that could not be sent for
//! `email.give_up_hours` is moved to `outbox/failed/` with an error in the log.

pub mod outbox;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::config::EmailConfig;
use crate::store::audio::AudioFormat;
use crate::store::message::{render_to, Addressing};
use crate::store::NewMessage;
use crate::telemetry;
use outbox::Outbox;

/// Where a mailbox's notices go (`NotifyEmail`, `NotifyEmailAttachAudio`); kept with a
/// recording in the spool so that a message recovered after a crash is notified too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    /// The mailbox's own choice; `None`: `email.attach_audio`.
    #[serde(default)]
    pub attach_audio: Option<bool>,
}

/// `Name <user@domain>` or `user@domain` → the display name (if any) and the address.
pub fn parse_mailbox(s: &str) -> Option<(Option<String>, Address)> {
    let s = s.trim();
    if s.chars().any(char::is_control) {
        return None;
    }
    match s.strip_suffix('>').and_then(|rest| rest.rsplit_once('<')) {
        Some((name, addr)) => {
            let name = name.trim().trim_matches('"').trim();
            let address = Address::from_str(addr.trim()).ok()?;
            Some(((!name.is_empty()).then(|| name.to_owned()), address))
        }
        None => Some((None, Address::from_str(s).ok()?)),
    }
}

/// Whether `s` is a plain e-mail address (`user@domain`), as `NotifyEmail` must be.
pub fn is_address(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c.is_whitespace()) && Address::from_str(s).is_ok()
}

/// The e-mail notifier: renders notices into the outbox and sends them from its own thread.
pub struct Notifier {
    outbox: Outbox,
    from_name: Option<String>,
    from: Address,
    attach_audio: bool,
    audio_format: AudioFormat,
    /// The host in `Message-ID`s.
    host: String,
    give_up: Duration,
    wake: Mutex<Wake>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct Wake {
    queued: bool,
    stop: bool,
}

/// How often the outbox is looked at with nothing queued: a notice an operator moved back
/// from `failed/` goes out within this.
const IDLE_POLL: Duration = Duration::from_secs(30);

impl Notifier {
    /// Opens the outbox under `data_dir`, checks what the transport needs (CA file, password)
    /// and starts the sender thread. `None` when `[email]` is off.
    pub fn start(
        cfg: &EmailConfig,
        data_dir: &Path,
        audio_format: AudioFormat,
    ) -> anyhow::Result<Option<Arc<Notifier>>> {
        if !cfg.enabled() {
            return Ok(None);
        }
        let transport = transport(cfg)?;
        let (from_name, from) = parse_mailbox(&cfg.from)
            .with_context(|| format!("email.from {:?} is not an e-mail address", cfg.from))?;
        let dir = data_dir.join("outbox");
        let outbox = Outbox::open(&dir)
            .with_context(|| format!("opening the e-mail outbox {}", dir.display()))?;
        let notifier = Arc::new(Notifier {
            outbox,
            from_name,
            from,
            attach_audio: cfg.attach_audio,
            audio_format,
            host: crate::net::os::hostname().unwrap_or_else(|| "localhost".into()),
            give_up: Duration::from_secs(cfg.give_up_hours * 3600),
            wake: Mutex::new(Wake {
                queued: true,
                stop: false,
            }),
            cv: Condvar::new(),
        });
        let backoff = (
            Duration::from_millis(cfg.retry_initial_ms),
            Duration::from_millis(cfg.retry_max_ms),
        );
        let sender = Arc::clone(&notifier);
        std::thread::Builder::new()
            .name("umgw-email".into())
            .spawn(move || sender.run(&transport, backoff))
            .context("starting the e-mail sender thread")?;
        info!(server = %cfg.smtp_server, tls = %cfg.tls, "e-mail notification on");
        Ok(Some(notifier))
    }

    /// Queues the notice of `msg` (just stored) for `to`. Called in the deposit's step while
    /// the recording is still in the spool. A notice that cannot be queued is logged: the
    /// message itself is safe in the mailbox.
    pub fn notify(&self, to: &Recipient, msg: &NewMessage) {
        let attach = to.attach_audio.unwrap_or(self.attach_audio);
        let audio = if attach {
            match crate::store::attachment(msg, self.audio_format) {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "cannot read the recording for the e-mail notice; sending it without");
                    None
                }
            }
        } else {
            None
        };
        let addressing = Addressing {
            from_name: self.from_name.as_deref(),
            from: self.from.as_ref(),
            to: &to.address,
        };
        let bytes = render_to(
            msg,
            audio.as_deref(),
            &self.host,
            Some(&addressing),
            &mut rand::thread_rng(),
        );
        let name = notice_name(msg);
        match self.outbox.put(&name, &to.address, &bytes) {
            Ok(()) => {
                let mut w = self.wake.lock().unwrap_or_else(|p| p.into_inner());
                w.queued = true;
                self.cv.notify_one();
            }
            Err(e) => {
                metrics::counter!(telemetry::EMAILS, "result" => "failed").increment(1);
                error!(error = %e, outbox = %self.outbox.dir().display(), "cannot queue the e-mail notice; the message is stored, its notice is lost");
            }
        }
    }

    /// Stops the sender after the notice in hand; the rest stay in the outbox for the next
    /// start.
    pub fn stop(&self) {
        let mut w = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        w.stop = true;
        self.cv.notify_one();
    }

    fn run(&self, transport: &SmtpTransport, (initial, max): (Duration, Duration)) {
        let mut delay: Option<Duration> = None;
        loop {
            let retry_at = delay.map(|d| Instant::now() + d);
            if !self.wait(retry_at) {
                return;
            }
            match self.send_queued(transport) {
                Ok(()) => delay = None,
                Err(()) => delay = Some(delay.map_or(initial, |d| (d * 2).min(max))),
            }
        }
    }

    /// Waits until the retry is due (`retry_at`), or else until a notice is queued or the
    /// idle poll is due; false once stopped. A notice queued during a back-off waits for it:
    /// the server is not taking mail.
    fn wait(&self, retry_at: Option<Instant>) -> bool {
        let mut w = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        let until = retry_at.unwrap_or_else(|| Instant::now() + IDLE_POLL);
        loop {
            if w.stop {
                return false;
            }
            let now = Instant::now();
            if now >= until || (retry_at.is_none() && w.queued) {
                w.queued = false;
                return true;
            }
            w = self
                .cv
                .wait_timeout(w, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Sends the outbox in order; `Err` when the server is not taking mail (try later).
    fn send_queued(&self, transport: &SmtpTransport) -> Result<(), ()> {
        let names = match self.outbox.list() {
            Ok(n) => n,
            Err(e) => {
                error!(error = %e, outbox = %self.outbox.dir().display(), "cannot list the e-mail outbox");
                return Err(());
            }
        };
        let mut left = names.len();
        metrics::gauge!(telemetry::EMAIL_OUTBOX).set(left as f64);
        for name in names {
            if self.wake.lock().map(|w| w.stop).unwrap_or(true) {
                return Ok(());
            }
            let notice = match self.outbox.read(&name) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.give_up(&name, &format!("unreadable: {e}"));
                    continue;
                }
            };
            let age = SystemTime::now()
                .duration_since(notice.queued)
                .unwrap_or_default();
            if age > self.give_up {
                self.give_up(&name, "not sent within email.give_up_hours");
                continue;
            }
            let envelope = Address::from_str(&notice.to)
                .map_err(|e| e.to_string())
                .and_then(|to| {
                    Envelope::new(Some(self.from.clone()), vec![to]).map_err(|e| e.to_string())
                });
            let envelope = match envelope {
                Ok(e) => e,
                Err(e) => {
                    self.give_up(&name, &format!("bad recipient {:?}: {e}", notice.to));
                    continue;
                }
            };
            match transport.send_raw(&envelope, &notice.message) {
                Ok(_) => {
                    metrics::counter!(telemetry::EMAILS, "result" => "sent").increment(1);
                    info!(notice = %name, to = %notice.to, "e-mail notice sent");
                    if let Err(e) = self.outbox.remove(&name) {
                        error!(error = %e, notice = %name, "cannot remove a sent e-mail notice; it may be sent again");
                    }
                }
                Err(e) if e.is_permanent() => {
                    self.give_up(&name, &format!("refused by the server: {e}"));
                }
                Err(e) => {
                    warn!(error = %e, queued = left, "the SMTP server is not taking mail; will retry");
                    return Err(());
                }
            }
            left -= 1;
            metrics::gauge!(telemetry::EMAIL_OUTBOX).set(left as f64);
        }
        Ok(())
    }

    fn give_up(&self, name: &str, why: &str) {
        metrics::counter!(telemetry::EMAILS, "result" => "failed").increment(1);
        error!(notice = %name, reason = %why, "e-mail notice given up; kept in outbox/failed");
        if let Err(e) = self.outbox.give_up(name) {
            error!(error = %e, notice = %name, "cannot move the notice to outbox/failed");
        }
    }
}

/// What [`Notifier::start`] would refuse in `cfg` (a CA or password it cannot read), for
/// `umgw check`.
pub fn check(cfg: &EmailConfig) -> anyhow::Result<()> {
    if cfg.enabled() {
        transport(cfg)?;
    }
    Ok(())
}

/// A warning (`file:line: warning: ...`) per mailbox with `NotifyEmail` while `[email]` is
/// off: no notice would be sent.
pub fn unsent_notices(cfg: &EmailConfig, plans: &crate::dialplan::DialPlans) -> Vec<String> {
    if cfg.enabled() {
        return Vec::new();
    }
    plans
        .plans()
        .iter()
        .flat_map(|p| p.mailboxes.iter().map(move |m| (p, m)))
        .filter(|(_, m)| m.notify_email.is_some())
        .map(|(p, m)| {
            format!(
                "{}:{}: warning: mailbox {} has NotifyEmail but email.smtp_server is not set: no e-mail notice is sent",
                p.source.display(),
                m.line,
                m.id
            )
        })
        .collect()
}

/// The outbox name of a message's notice: arrival time first (order), then the delivery id
/// (the same message delivered twice after a crash is one notice).
fn notice_name(msg: &NewMessage) -> String {
    let ms = msg
        .received
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let unique = msg
        .delivery_id
        .clone()
        .filter(|d| outbox::valid_name(d))
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    format!("{ms:013}-{unique}")
}

/// The SMTP transport `cfg` describes: TLS as configured, AUTH if a user is set.
fn transport(cfg: &EmailConfig) -> anyhow::Result<SmtpTransport> {
    let (host, port) = cfg.host_port().map_err(anyhow::Error::msg)?;
    let server_name = cfg.server_name.clone().unwrap_or_else(|| host.clone());
    let tls = if cfg.tls == "none" {
        Tls::None
    } else {
        let mut params = TlsParameters::builder(server_name);
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca)
                .with_context(|| format!("email.ca {}: cannot read", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .with_context(|| format!("email.ca {}: no PEM certificate", ca.display()))?;
            params = params
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        }
        let params = params.build_rustls().context("email: setting up TLS")?;
        if cfg.tls == "tls" {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        }
    };
    let hello = crate::net::os::hostname()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let mut builder = SmtpTransport::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .hello_name(ClientId::Domain(hello))
        .timeout(Some(Duration::from_millis(cfg.timeout_ms)));
    if let Some(user) = &cfg.user {
        let password = crate::config::resolve_password(
            cfg.password.as_ref(),
            cfg.password_file.as_deref(),
            cfg.password_env.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("email: {e}"))?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_forms() {
        let (name, addr) = parse_mailbox("Voice Mail <voicemail@contoso.com>").unwrap();
        assert_eq!(name.as_deref(), Some("Voice Mail"));
        assert_eq!(addr.to_string(), "voicemail@contoso.com");
        let (name, addr) = parse_mailbox("\"Voice Mail\" <vm@contoso.com>").unwrap();
        assert_eq!(name.as_deref(), Some("Voice Mail"));
        assert_eq!(addr.to_string(), "vm@contoso.com");
        assert_eq!(parse_mailbox("vm@contoso.com").unwrap().0, None);
        for bad in ["", "vm", "Voice <vm>", "a@b\r\nBcc: x@y.z", "<>"] {
            assert!(parse_mailbox(bad).is_none(), "{bad:?}");
        }
        assert!(is_address("alice@contoso.com"));
        for bad in [
            "alice",
            "alice @contoso.com",
            "Alice <alice@contoso.com>",
            "a@b\n",
        ] {
            assert!(!is_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn notice_names_order_by_arrival_and_repeat_per_delivery() {
        let msg = |ms: u64, id: &str| NewMessage {
            kind: crate::store::MessageKind::VoiceMail,
            caller: None,
            caller_name: None,
            mailbox_address: "sip:alice@contoso.com".into(),
            mailbox_name: None,
            received: UNIX_EPOCH + Duration::from_millis(ms),
            duration: Duration::from_secs(3),
            call_id: "c".into(),
            audio: None,
            delivery_id: Some(id.into()),
            recovered: false,
            media_stats: None,
            cut_short: None,
            preview: None,
            forwarded: None,
            marks: Default::default(),
        };
        let a = notice_name(&msg(9_000, "alice-1"));
        let b = notice_name(&msg(10_000, "alice-2"));
        assert!(a < b, "{a} {b}");
        assert_eq!(a, notice_name(&msg(9_000, "alice-1")));
    }
}
