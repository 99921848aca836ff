//! Operator commands behind `umgw mailbox ...`, `umgw play` and `umgw status`.
//!
//! They work on the same files the gateway uses (the dial plans and the Maildir store under
//! [`crate::gateway::data_dir`]), so they run beside a live gateway: reads see only committed
//! messages, and removing a message is a single `unlink`, as a mail client would do.
//! Output goes to a caller-supplied writer so the tests can read it.
//!
//! With `store.backend = "imap"`, messages are listed, read, exported and deleted on the IMAP
//! server through the store, and the PIN state is read and changed there too (it is shared by
//! every gateway node); `migrate-state` copies what older versions kept in the local mailbox
//! directories (PIN files, greetings) to the server.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::config::Config;
use crate::dialplan::{DialPlans, MailboxEntry};
use crate::store::imap::Migrated;
use crate::store::message::{self, H_DURATION_MS};
use crate::store::pin::{PinPolicy, PinSetter, HISTORY_FILE, LOCK_FILE, PIN_FILE, STATE_FILE};
use crate::store::{Imap, Mailbox, MailboxId, Maildir, MessageKind};

/// Longest accepted message id (a Maildir file name without its `:2,` info).
const MESSAGE_ID_MAX: usize = 255;
/// How long `status` waits to connect and then for the whole answer.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `/status` answer read.
const STATUS_MAX_BYTES: u64 = 1 << 20;

/// The dial plans and the store of one gateway configuration.
pub struct Admin {
    plans: DialPlans,
    /// The local mailbox directories (PIN files, greetings; the messages too on Maildir).
    store: Maildir,
    /// Where messages are: the configured `[store]` backend (the same Maildir, or IMAP).
    mail: std::sync::Arc<dyn Mailbox>,
    /// `store.backend = "imap"`: messages and per-user state are on this server, not under
    /// `store`.
    imap: Option<crate::config::ImapConfig>,
}

impl Admin {
    /// Loads the dial plans (the config's `paths.dialplans`, else the embedded samples) and
    /// opens the store at `<data_dir>/mailboxes`.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let plans = match &config.paths.dialplans {
            Some(dir) => crate::dialplan::load_dir(dir),
            None => crate::gateway::assets::dialplans(),
        }
        .map_err(|diags| {
            let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            anyhow::anyhow!(
                "the dial plans have errors (run `umgw check`):\n{}",
                text.join("\n")
            )
        })?;
        let root = crate::gateway::mailboxes_dir(config);
        let store = Maildir::open(&root)
            .with_context(|| format!("opening the mailbox store {}", root.display()))?;
        let mail = crate::gateway::open_store(config, &root)?;
        Ok(Self {
            plans,
            store,
            mail,
            imap: (config.store.backend == "imap").then(|| config.imap.clone()),
        })
    }

    /// The store root (`<data_dir>/mailboxes`).
    pub fn store_root(&self) -> &Path {
        self.store.root()
    }

    /// Every mailbox of every dial plan with its voice-mail counts, one line each.
    pub fn list(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut rows = vec![[
            "MAILBOX".to_owned(),
            "PLAN".into(),
            "EXTENSION".into(),
            "NEW".into(),
            "OLD".into(),
            "MISSED".into(),
            "FAILED-LOGONS".into(),
            "LOCKED".into(),
            "NAME".into(),
        ]];
        for plan in self.plans.plans() {
            for mb in &plan.mailboxes {
                let id = MailboxId::new(&mb.id)?;
                let pins = self.mail.pin_state(&id, &plan.pin_policy)?;
                let messages = self.mail.list(&id)?;
                let counts = self.mail.counts(&id)?;
                let missed = messages
                    .iter()
                    .filter(|m| m.kind == MessageKind::MissedCall)
                    .count();
                rows.push([
                    mb.id.clone(),
                    plan.name.clone(),
                    mb.extension.clone(),
                    counts.new.to_string(),
                    counts.old.to_string(),
                    missed.to_string(),
                    pins.failed_attempts.to_string(),
                    yes_no(pins.locked).into(),
                    mb.display_name.clone().unwrap_or_default(),
                ]);
            }
        }
        write_table(out, &rows)?;
        Ok(())
    }

    /// The PIN state of mailbox `id` (set, failed log-ons, locked), then its messages: id,
    /// kind, caller, received time, duration, seen; then the voice mails' previews.
    pub fn show(&self, id: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let id = self.mailbox(id)?;
        let policy = self.pin_policy(id.as_str());
        let pins = self.mail.pin_state(&id, &policy)?;
        let max = policy.max_failed_attempts;
        writeln!(
            out,
            "PIN: {}",
            if pins.hash.is_some() {
                "set"
            } else {
                "not set"
            }
        )?;
        writeln!(
            out,
            "Failed log-ons: {} (locks at {max})",
            pins.failed_attempts
        )?;
        if pins.locked {
            writeln!(out, "Locked: yes (`umgw mailbox unlock {id}` unlocks it)")?;
        } else {
            writeln!(out, "Locked: no")?;
        }
        writeln!(out)?;
        let mut rows = vec![[
            "MESSAGE".to_owned(),
            "KIND".into(),
            "CALLER".into(),
            "RECEIVED (UTC)".into(),
            "DURATION".into(),
            "SEEN".into(),
        ]];
        let mut previews = Vec::new();
        for m in self.mail.list(&id)? {
            let bytes = self.mail.read(&id, &m.id).ok();
            let duration = bytes
                .as_deref()
                .and_then(header_duration)
                .map(format_duration)
                .unwrap_or_else(|| "-".into());
            let preview = bytes
                .as_deref()
                .and_then(|b| crate::store::message::parse(b).ok())
                .and_then(|p| p.preview);
            if let Some(text) = preview {
                previews.push((m.id.clone(), text));
            }
            rows.push([
                m.id.clone(),
                m.kind.as_header().to_owned(),
                m.caller
                    .as_deref()
                    .map(printable)
                    .unwrap_or_else(|| "unknown".into()),
                m.received.map(format_utc).unwrap_or_else(|| "-".into()),
                duration,
                yes_no(m.seen).into(),
            ]);
        }
        write_table(out, &rows)?;
        if !previews.is_empty() {
            writeln!(out, "\nVoice Mail Preview:")?;
            for (id, text) in previews {
                // Parsed previews are one tidy line already; cap what a terminal gets.
                let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
                writeln!(out, "{id}: {text}")?;
            }
        }
        Ok(())
    }

    /// Copies every message of mailbox `id` as `<message id>.eml` into `dir` (created if
    /// missing); returns how many were written.
    pub fn export(&self, id: &str, dir: &Path) -> anyhow::Result<usize> {
        let id = self.mailbox(id)?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut n = 0;
        for m in self.mail.list(&id)? {
            let bytes = self.mail.read(&id, &m.id)?;
            let path = dir.join(format!("{}.eml", m.id));
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            n += 1;
        }
        Ok(n)
    }

    /// Removes message `message_id` from mailbox `id` (from `new/` or `cur/`, whatever its
    /// flags); returns the path removed.
    ///
    /// On Maildir this is done with paths (a removal is one `unlink`, whatever the flags); on
    /// IMAP through the store (`\Deleted` + `UID EXPUNGE`).
    pub fn delete(&self, id: &str, message_id: &str) -> anyhow::Result<PathBuf> {
        let id = self.mailbox(id)?;
        check_message_id(message_id)?;
        if self.imap.is_some() {
            // Not found is an error here, as on Maildir (the trait's delete is idempotent).
            self.mail.read(&id, message_id)?;
            self.mail.delete(&id, message_id)?;
            return Ok(PathBuf::from(format!(
                "{id}/{message_id} on the IMAP server"
            )));
        }
        let dir = self.store.mailbox_dir(&id);
        let path = find_message(&dir, message_id)?
            .with_context(|| format!("message {message_id:?} not found in mailbox {id}"))?;
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        if let Some(parent) = path.parent() {
            // Make the removal durable, like the deposit's rename.
            fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("fsync {}", parent.display()))?;
        }
        Ok(path)
    }

    /// Checks `pin` against the PIN policy and stores its argon2id hash for mailbox `id`; with
    /// `change_required` the user must choose a new PIN at the first log-on (an
    /// administrator's PIN is not the user's own).
    pub fn set_pin(&self, id: &str, pin: &str, change_required: bool) -> anyhow::Result<()> {
        let entry = self.entry(id)?;
        let policy = self.pin_policy(&entry.id);
        let extension = entry.extension.clone();
        let by = match change_required {
            true => PinSetter::Administrator,
            false => PinSetter::User,
        };
        self.change_pins(id, |mail, mb| {
            mail.set_pin(mb, pin, &extension, &policy, by)
        })
    }

    /// Gives mailbox `id` a random PIN that meets its plan's policy, to be changed at the
    /// first log-on; returns it (to be told to the user once, never logged).
    pub fn reset_pin(&self, id: &str) -> anyhow::Result<String> {
        let entry = self.entry(id)?;
        let policy = self.pin_policy(&entry.id);
        let extension = entry.extension.clone();
        // A random PIN that happens to be one of the last few is drawn again.
        for _ in 0..16 {
            let pin = crate::store::pin::random_pin(&policy, &extension);
            let set = self.change_pins(id, |mail, mb| {
                mail.set_pin(mb, &pin, &extension, &policy, PinSetter::Administrator)
            });
            match set {
                Ok(()) => return Ok(pin),
                Err(e)
                    if matches!(
                        e.downcast_ref::<crate::store::StoreError>(),
                        Some(crate::store::StoreError::Pin(
                            crate::store::pin::PinError::Reused { .. }
                        ))
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        bail!("no new PIN found for mailbox {id} that differs from its recent PINs")
    }

    /// Clears mailbox `id`'s failed log-on count and lock; the PIN stays. Returns how many
    /// failed log-ons there were and whether it was locked.
    pub fn unlock(&self, id: &str) -> anyhow::Result<(u32, bool)> {
        let policy = self.pin_policy(id);
        self.change_pins(id, |mail, mb| mail.unlock(mb, &policy))
    }

    /// Changes the PIN state of mailbox `id` (one of the dial plans) through the store, as the
    /// gateway does, so a change never crosses a PIN check in progress (the store's lock on
    /// Maildir, the server on IMAP).
    fn change_pins<R>(
        &self,
        id: &str,
        change: impl FnOnce(&dyn Mailbox, &MailboxId) -> Result<R, crate::store::StoreError>,
    ) -> anyhow::Result<R> {
        let entry = self.entry(id)?;
        let id = MailboxId::new(&entry.id)?;
        let dir = self.store.mailbox_dir(&id);
        let existed = dir.is_dir();
        let result = change(&*self.mail, &id)?;
        if self.imap.is_none() {
            self.give_to_store_owner(&dir, !existed)?;
        }
        Ok(result)
    }

    /// `umgw mailbox migrate-state [ID]`: copies the PIN files and greetings kept in the local
    /// mailbox directories of mailbox `id` (or of every mailbox of the dial plans) to the IMAP
    /// server's per-user state, leaving alone whatever the server has already; writes one line
    /// per mailbox and item. Running it twice changes nothing the second time.
    pub fn migrate_state(&self, id: Option<&str>, out: &mut dyn Write) -> anyhow::Result<()> {
        let Some(cfg) = &self.imap else {
            writeln!(
                out,
                "store.backend is maildir: PINs and greetings are already in the store (nothing to migrate)"
            )?;
            return Ok(());
        };
        let imap = Imap::open(cfg, self.store.root())?;
        let ids: Vec<String> = match id {
            Some(id) => vec![self.entry(id)?.id.clone()],
            None => self
                .plans
                .plans()
                .iter()
                .flat_map(|p| p.mailboxes.iter().map(|m| m.id.clone()))
                .collect(),
        };
        for id in ids {
            let mb = MailboxId::new(&id)?;
            let done = imap
                .migrate_local_state(&mb, &self.pin_policy(&id))
                .with_context(|| format!("migrating the state of mailbox {id}"))?;
            for (what, outcome) in done {
                let said = match outcome {
                    Migrated::Copied => "copied to the server",
                    Migrated::AlreadyShared => "already on the server (left as it is)",
                    Migrated::NothingLocal => "none on this host",
                };
                writeln!(out, "{id}: {what}: {said}")?;
            }
        }
        Ok(())
    }

    /// The PIN policy of the plan mailbox `id` is in (MinPINLength, PINHistoryCount,
    /// MaxLogonAttempts, ...); the default for a mailbox no longer in the plans.
    fn pin_policy(&self, id: &str) -> PinPolicy {
        self.plans
            .plans()
            .iter()
            .find(|p| p.mailboxes.iter().any(|m| m.id == id))
            .map_or_else(PinPolicy::default, |p| p.pin_policy.clone())
    }

    /// Run as root (`sudo umgw mailbox set-pin`), the new files would be root's and unreadable
    /// to the gateway's user: hand them to the owner of the store root, as the gateway is.
    fn give_to_store_owner(&self, dir: &Path, dir_is_new: bool) -> anyhow::Result<()> {
        use std::os::unix::fs::MetadataExt;
        if !crate::net::os::is_root() {
            return Ok(());
        }
        let meta = fs::metadata(self.store.root())
            .with_context(|| format!("stat {}", self.store.root().display()))?;
        let (uid, gid) = (Some(meta.uid()), Some(meta.gid()));
        let mut paths: Vec<PathBuf> = [PIN_FILE, HISTORY_FILE, STATE_FILE, LOCK_FILE]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.exists())
            .collect();
        if dir_is_new {
            paths.push(dir.to_owned());
        }
        for p in paths {
            std::os::unix::fs::chown(&p, uid, gid)
                .with_context(|| format!("chown {}", p.display()))?;
        }
        Ok(())
    }

    /// Writes the recording of message `message_id` to `out` as a WAV file.
    pub fn play(&self, id: &str, message_id: &str, out: &Path) -> anyhow::Result<()> {
        let id = self.mailbox(id)?;
        check_message_id(message_id)?;
        let bytes = self.mail.read(&id, message_id)?;
        let parsed = message::parse(&bytes)
            .with_context(|| format!("message {message_id} of mailbox {id} is malformed"))?;
        let Some(wav) = parsed.audio_wav else {
            bail!("message {message_id} of mailbox {id} has no recording (a missed-call notice)");
        };
        fs::write(out, wav).with_context(|| format!("writing {}", out.display()))?;
        Ok(())
    }

    /// The dial-plan entry of mailbox `id`.
    fn entry(&self, id: &str) -> anyhow::Result<&MailboxEntry> {
        self.plans
            .plans()
            .iter()
            .flat_map(|p| p.mailboxes.iter())
            .find(|m| m.id == id)
            .with_context(|| format!("no mailbox {id:?} in the dial plans"))
    }

    /// A mailbox of the dial plans, or one that still has a directory in the store (a mailbox
    /// removed from the plans keeps its messages until an operator deals with them).
    fn mailbox(&self, id: &str) -> anyhow::Result<MailboxId> {
        let mid = MailboxId::new(id)?;
        if self.entry(id).is_err() && !self.store.mailbox_dir(&mid).is_dir() {
            bail!(
                "no mailbox {id:?} in the dial plans or in {}",
                self.store.root().display()
            );
        }
        Ok(mid)
    }
}

/// Fetches `http://<admin.listen>/status` and returns the body.
pub fn status(config: &Config) -> anyhow::Result<String> {
    let Some(addr) = config.admin.listen else {
        bail!("admin.listen is not set in the configuration: the gateway has no HTTP endpoint to ask (set [admin] listen = \"127.0.0.1:9060\" and restart it)");
    };
    http_request(addr, "GET", "/status", "")
}

/// Asks the running gateway to call the user of `mailbox` at `to` and play `message` (`POST
/// /play-on-phone` with the bearer token of `admin.token_file`); the gateway's answer.
pub fn play_on_phone(
    config: &Config,
    mailbox: &str,
    message: &str,
    to: &str,
) -> anyhow::Result<String> {
    let Some(addr) = config.admin.listen else {
        bail!(
            "admin.listen is not set in the configuration: the gateway has no HTTP endpoint to ask"
        );
    };
    let Some(file) = &config.admin.token_file else {
        bail!("admin.token_file is not set in the configuration: the gateway takes no actions over HTTP");
    };
    let token = crate::config::resolve_password(None, Some(file), None)
        .map_err(|e| anyhow::anyhow!("admin.token_file: {e}"))?;
    let path = format!(
        "/play-on-phone?mailbox={}&message={}&to={}",
        percent_encode(mailbox),
        percent_encode(message),
        percent_encode(to)
    );
    http_request(
        addr,
        "POST",
        &path,
        &format!(
            "Authorization: Bearer {}\r\nContent-Length: 0\r\n",
            token.trim()
        ),
    )
}

/// Everything but unreserved characters as `%XX`, for a query value.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A minimal HTTP/1.0 request to our own gateway (no dependency for it); the body of a 2xx
/// answer, else an error with the status line and body.
fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
) -> anyhow::Result<String> {
    let shown = path.split('?').next().unwrap_or(path);
    let mut stream = TcpStream::connect_timeout(&addr, STATUS_TIMEOUT).with_context(|| {
        format!(
            "no gateway answers on http://{addr}{shown} (is `umgw run` running with this config?)"
        )
    })?;
    // Placing a call (locating and connecting to the call server) may take the gateway's 10 s.
    stream.set_read_timeout(Some(STATUS_TIMEOUT * 3))?;
    stream.set_write_timeout(Some(STATUS_TIMEOUT))?;
    // One write: a server may answer (and close) as soon as it has the request head.
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: umgw/{}\r\n{headers}Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("sending the request to {addr}"))?;
    let mut raw = Vec::new();
    stream
        .take(STATUS_MAX_BYTES)
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer from {addr}"))?;
    let head_len = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("http://{addr}{shown}: not an HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..head_len]);
    let body = &raw[head_len + 4..];
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if !code.starts_with('2') {
        bail!(
            "http://{addr}{shown} answered {status_line:?}: {}",
            String::from_utf8_lossy(body).trim()
        );
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        dechunk(body).with_context(|| format!("http://{addr}{shown}: bad chunked body"))?
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Message ids name one file: no separators, no dotfiles, no Maildir info part.
fn check_message_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty()
        || id.len() > MESSAGE_ID_MAX
        || id.starts_with('.')
        || id.contains(['/', '\0', ':'])
    {
        bail!("invalid message id {:?}", printable(id));
    }
    Ok(())
}

/// The file of message `id` in `new/` or `cur/` (whose names carry `:2,FLAGS`).
fn find_message(mailbox_dir: &Path, id: &str) -> anyhow::Result<Option<PathBuf>> {
    let in_new = mailbox_dir.join("new").join(id);
    if in_new.is_file() {
        return Ok(Some(in_new));
    }
    let cur = mailbox_dir.join("cur");
    let entries = match fs::read_dir(&cur) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", cur.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", cur.display()))?;
        if let Some(name) = entry.file_name().to_str() {
            if name.split_once(':').map_or(name, |(base, _)| base) == id {
                return Ok(Some(entry.path()));
            }
        }
    }
    Ok(None)
}

/// `X-UMGW-Duration-Ms` of a stored message, read from its header section only.
fn header_duration(bytes: &[u8]) -> Option<Duration> {
    let len = message::header_section_len(bytes)?;
    let headers = message::parse_header_section(&bytes[..len]).ok()?;
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(H_DURATION_MS))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// `m:ss.s`.
fn format_duration(d: Duration) -> String {
    let tenths = d.as_millis() / 100;
    format!("{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_utc(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs(),
        Err(_) => 0,
    };
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Caller-controlled text made safe for a terminal: control characters become `?`, at most
/// 60 characters.
fn printable(s: &str) -> String {
    s.chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Writes rows as left-aligned columns separated by two spaces.
fn write_table<const N: usize>(out: &mut dyn Write, rows: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29 01:01:01
        assert_eq!(format_utc(t), "2000-02-29 01:01:01");
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599); // 2026-12-31 23:59:59
        assert_eq!(format_utc(t), "2026-12-31 23:59:59");
    }

    #[test]
    fn duration_formatting() {
        assert_eq!(format_duration(Duration::from_millis(3_250)), "0:03.2");
        assert_eq!(format_duration(Duration::from_millis(125_900)), "2:05.9");
    }

    #[test]
    fn message_ids_must_name_one_file() {
        for bad in ["", ".x", "../x", "a/b", "a:2,S", "a\0b"] {
            assert!(check_message_id(bad).is_err(), "{bad:?}");
        }
        check_message_id("1764236400.M1P2R3.host").unwrap();
    }

    #[test]
    fn chunked_bodies_decode() {
        let body = b"5\r\nhello\r\n7;x=1\r\n, world\r\n0\r\n\r\n";
        assert_eq!(dechunk(body).unwrap(), b"hello, world");
        assert!(dechunk(b"5\r\nhel").is_none());
        assert!(dechunk(b"zz\r\n").is_none());
    }

    #[test]
    fn table_aligns_columns() {
        let mut out = Vec::new();
        let rows = [
            ["A".to_owned(), "BB".into(), "C".into()],
            ["long".to_owned(), "x".into(), "".into()],
        ];
        write_table(&mut out, &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A     BB  C\nlong  x\n");
    }

    #[test]
    fn printable_strips_controls() {
        assert_eq!(printable("a\r\nb\x1b[31m"), "a??b?[31m");
    }
}
