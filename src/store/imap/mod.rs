//! IMAP backend: mailboxes on a mail server (Dovecot, Cyrus, ...), so any gateway of a cluster
//! serves any user and users see voice mail in their mail client.
//!
//! - One IMAP account per mailbox, reached with the login `imap.login` (by default the
//!   Dovecot master-user form `mailbox*umgw`); messages live in `imap.folder` (INBOX).
//! - Message ids are `UIDVALIDITY.UID`: stable across sessions, and a mailbox rebuilt on the
//!   server (new UIDVALIDITY) makes old ids not-found rather than naming other messages.
//! - Only messages carrying `X-UMGW-Kind` are ours: listing, counts and quotas ignore the user's
//!   other mail. Counts come from the server (`UID SEARCH`), so a message read in a mail client
//!   turns the lamp off at the next check.
//! - Deposit is exactly-once: every message carries `X-UMGW-Delivery-Id`; before APPEND the
//!   backend searches for it, so a retry after a lost reply or a crash finds the first copy.
//! - Per-user state (PIN record, failed log-on count and lock, greetings) lives on the server
//!   too, in the account's `imap.state_folder` ([`state`]): no gateway node keeps any, so any
//!   node serves any user. Nodes cache fetched greetings under `data_dir/mailboxes/<id>/`.
//! - A pool of idle connections per server; a broken pooled connection (server restarted) is
//!   replaced once transparently; after a failed connect, further attempts back off
//!   exponentially (up to `reconnect_max_ms`) and fail fast with [`StoreError::Unavailable`]
//!   naming the server, so a call never waits on a dead server longer than one connect.

pub mod conn;
pub mod proto;
mod state;

pub use state::{Migrated, H_STATE};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use conn::{Conn, ConnError, Endpoint, Reply};
use proto::{AttributeValue, MailboxDatum, MessageSection, Response, ResponseCode, SectionPath};

use super::message::{self, H_CALLER, H_DELIVERY_ID, H_KIND, H_RECEIVED};
use super::pin::{LogOn, PinPolicy, PinSetter, PinStore};
use super::{
    Counts, GreetingKind, IdRng, Mailbox, MailboxId, Maildir, MessageKind, NewMessage, StoreError,
    StoredMessage,
};
use crate::config::ImapConfig;

/// First reconnect back-off after a failed connect.
/// The keyword an urgent voice mail carries (RFC 8457 `$Important`), set at deposit.
const URGENT_KEYWORD: &str = "$Important";
const BACKOFF_INITIAL: Duration = Duration::from_millis(250);

/// The IMAP store.
pub struct Imap {
    endpoint: Endpoint,
    login: String,
    password: String,
    folder: String,
    state_folder: String,
    pool_size: usize,
    backoff_max: Duration,
    /// Idle connections: (login, connection).
    idle: Mutex<Vec<(String, Conn)>>,
    health: Mutex<Health>,
    /// The node's mailbox directories: the greeting cache, and the files
    /// [`Imap::migrate_local_state`] copies to the server.
    local: Maildir,
    host: String,
    audio_format: super::audio::AudioFormat,
    ids: IdRng,
}

impl std::fmt::Debug for Imap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imap")
            .field("server", &self.endpoint.server)
            .field("login", &self.login)
            .field("password", &"***")
            .field("folder", &self.folder)
            .finish()
    }
}

#[derive(Default)]
struct Health {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl Imap {
    /// Builds the store from `[imap]`; `local` is the directory for greetings (the
    /// Maildir root). Does not connect: the server may be down at start-up.
    pub fn open(cfg: &ImapConfig, local: impl Into<PathBuf>) -> Result<Imap, StoreError> {
        let config_err = |why: String| StoreError::Config(format!("imap: {why}"));
        let password = resolve_password(cfg).map_err(config_err)?;
        let tls = if cfg.tls == "none" {
            None
        } else {
            let ca = cfg
                .ca
                .as_deref()
                .ok_or_else(|| config_err("tls needs ca".into()))?;
            let host = cfg
                .server_name
                .clone()
                .unwrap_or_else(|| host_of(&cfg.server));
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| config_err(format!("server name {host:?}: {e}")))?;
            Some((client_config(ca).map_err(config_err)?, name))
        };
        let endpoint = Endpoint {
            server: cfg.server.clone(),
            tls,
            starttls: cfg.tls == "starttls",
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            io_timeout: Duration::from_millis(cfg.io_timeout_ms.max(1)),
        };
        let host = host_of(&cfg.server);
        Ok(Imap {
            endpoint,
            login: cfg.login.replace("{user}", &cfg.user),
            password,
            folder: cfg.folder.clone(),
            state_folder: cfg.state_folder.clone(),
            pool_size: cfg.pool_size,
            backoff_max: Duration::from_millis(cfg.reconnect_max_ms.max(1)),
            idle: Mutex::new(Vec::new()),
            health: Mutex::new(Health::default()),
            local: Maildir::open(local)?,
            host,
            audio_format: Default::default(),
            ids: IdRng::default(),
        })
    }

    /// Attaches recordings in `format` (`store.audio_format`).
    pub fn with_audio_format(mut self, format: super::audio::AudioFormat) -> Self {
        self.audio_format = format;
        self
    }

    /// Draws delivery ids, boundaries and `Message-ID`s from a generator seeded with `seed`
    /// (tests that compare them; the default is seeded from the OS).
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.ids = IdRng::seeded(seed);
        self
    }

    /// The server this store talks to (`host:port`).
    pub fn server(&self) -> &str {
        &self.endpoint.server
    }

    fn login_for(&self, mailbox: &MailboxId) -> String {
        self.login.replace("{mailbox}", mailbox.as_str())
    }

    fn unavailable(&self, reason: String) -> StoreError {
        StoreError::Unavailable {
            server: self.endpoint.server.clone(),
            reason,
        }
    }

    /// A connection for `login`: an idle one, or a new one unless the server is in back-off.
    fn checkout(&self, login: &str) -> Result<(Conn, bool), StoreError> {
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = idle.iter().position(|(l, _)| l == login) {
                return Ok((idle.swap_remove(i).1, true));
            }
        }
        {
            let h = self.health.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = h.retry_at {
                let now = Instant::now();
                if at > now {
                    return Err(self.unavailable(format!(
                        "{} (next connect attempt in {} ms)",
                        h.last_error,
                        (at - now).as_millis()
                    )));
                }
            }
        }
        let result = Conn::connect(&self.endpoint).and_then(|mut c| {
            c.login(login, &self.password)?;
            Ok(c)
        });
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(c) => {
                if h.failures > 0 {
                    tracing::info!(server = %self.endpoint.server, "IMAP server reachable again");
                }
                *h = Health::default();
                Ok((c, false))
            }
            Err(ConnError::Broken(why)) => {
                h.failures = h.failures.saturating_add(1);
                let exp = h.failures.saturating_sub(1).min(16);
                let delay = BACKOFF_INITIAL
                    .saturating_mul(1 << exp)
                    .min(self.backoff_max);
                h.retry_at = Some(Instant::now() + delay);
                h.last_error = why.clone();
                Err(self.unavailable(why))
            }
            // Login refused: the server is up, the account or password is wrong.
            Err(e @ ConnError::Refused { .. }) => Err(StoreError::Server {
                server: self.endpoint.server.clone(),
                reason: format!("as {login}: {e}"),
            }),
        }
    }

    fn checkin(&self, login: String, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.pool_size {
            idle.push((login, conn));
        } else {
            // Pool full: drop the oldest idle connection to keep recent logins warm.
            let old = idle.remove(0);
            idle.push((login, conn));
            drop(idle);
            old.1.logout();
        }
    }

    /// Runs `op` on a connection logged in for `mailbox`. A pooled connection that turns out
    /// broken (the server restarted) is replaced by a fresh one once; `op` must be safe to run
    /// again (every operation here is: deposit searches for its delivery id first).
    fn with_conn<T>(
        &self,
        mailbox: &MailboxId,
        mut op: impl FnMut(&mut Conn) -> Result<T, ConnError>,
    ) -> Result<T, StoreError> {
        let login = self.login_for(mailbox);
        loop {
            let (mut conn, pooled) = self.checkout(&login)?;
            match op(&mut conn) {
                Ok(v) => {
                    self.checkin(login, conn);
                    return Ok(v);
                }
                Err(ConnError::Broken(_)) if pooled => continue,
                Err(ConnError::Broken(why)) => return Err(self.unavailable(why)),
                Err(e @ ConnError::Refused { .. }) => {
                    self.checkin(login, conn);
                    return Err(StoreError::Server {
                        server: self.endpoint.server.clone(),
                        reason: format!("{mailbox}: {e}"),
                    });
                }
            }
        }
    }

    /// SELECT (read-write) or EXAMINE the folder; its UIDVALIDITY.
    fn open_folder(&self, c: &mut Conn, write: bool) -> Result<u32, ConnError> {
        select(c, &self.folder, write)
    }

    /// UIDs of our messages whose `X-UMGW-Delivery-Id` is exactly `delivery`.
    fn find_delivery(&self, c: &mut Conn, delivery: &str) -> Result<Option<u32>, ConnError> {
        let q = conn::quote_or_err(delivery)?;
        let uids = search(c, &format!("UID SEARCH HEADER {H_DELIVERY_ID} {q}"))?;
        if uids.is_empty() {
            return Ok(None);
        }
        // SEARCH HEADER matches substrings: confirm the exact value.
        let reply = c.command(
            "UID FETCH",
            &format!(
                "UID FETCH {} (UID BODY.PEEK[HEADER.FIELDS ({H_DELIVERY_ID})])",
                uid_set(&uids)
            ),
        )?;
        for (uid, _, _, head) in fetched(&reply) {
            let headers = message::parse_header_section(head.unwrap_or(&[])).unwrap_or_default();
            if header(&headers, H_DELIVERY_ID) == Some(delivery) {
                return Ok(Some(uid));
            }
        }
        Ok(None)
    }

    /// `UIDVALIDITY.UID` → the two numbers (a UID is never 0).
    fn parse_id(id: &str) -> Result<(u32, u32), StoreError> {
        id.split_once('.')
            .and_then(|(v, u)| Some((v.parse().ok()?, u.parse().ok()?)))
            .filter(|&(_, uid)| uid > 0)
            .ok_or_else(|| StoreError::InvalidMessageId {
                id: id.chars().take(80).collect(),
            })
    }

    fn not_found(mailbox: &MailboxId, id: &str) -> StoreError {
        StoreError::NotFound {
            mailbox: mailbox.to_string(),
            id: id.chars().take(80).collect(),
        }
    }

    /// Whether message `uid` exists (not expunged) in the open folder.
    /// Sets (`on`) or clears the system flag `flag` of message `id`.
    fn set_flag(
        &self,
        mailbox: &MailboxId,
        id: &str,
        flag: &str,
        on: bool,
    ) -> Result<(), StoreError> {
        let (validity, uid) = Self::parse_id(id)?;
        let found = self.with_conn(mailbox, |c| {
            if self.open_folder(c, true)? != validity || !Self::exists(c, uid)? {
                return Ok(false);
            }
            let sign = if on { '+' } else { '-' };
            c.command(
                "UID STORE",
                &format!("UID STORE {uid} {sign}FLAGS.SILENT ({flag})"),
            )?;
            Ok(true)
        })?;
        if found {
            Ok(())
        } else {
            Err(Self::not_found(mailbox, id))
        }
    }

    fn exists(c: &mut Conn, uid: u32) -> Result<bool, ConnError> {
        let reply = c.command("UID FETCH", &format!("UID FETCH {uid} (UID)"))?;
        let found = fetched(&reply).any(|(u, ..)| u == uid);
        Ok(found)
    }
}

impl Mailbox for Imap {
    /// A fresh connection (not the pool's, so a stale pooled one proves nothing; nor the
    /// back-off's fast failure): greeting, TLS as configured, `NOOP`. No log-in: logins are per
    /// mailbox, and one mailbox's account says nothing about the others.
    fn check(&self) -> Result<(), StoreError> {
        self.local.check()?;
        let mut c = Conn::connect(&self.endpoint).map_err(|e| self.unavailable(e.to_string()))?;
        match c.command("NOOP", "NOOP") {
            Ok(_) => {
                c.logout();
                Ok(())
            }
            Err(ConnError::Broken(why)) => Err(self.unavailable(why)),
            Err(e @ ConnError::Refused { .. }) => Err(StoreError::Server {
                server: self.endpoint.server.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn deposit(&self, mailbox: &MailboxId, msg: &NewMessage) -> Result<String, StoreError> {
        let audio = super::attachment(msg, self.audio_format)?;
        // Every message gets a delivery id, so even a deposit without one can be found again
        // after a reply lost to a broken connection.
        let delivery = match &msg.delivery_id {
            Some(d) if super::valid_delivery_id(d) => d.clone(),
            Some(d) => {
                return Err(StoreError::InvalidMessageId {
                    id: d.chars().take(80).collect(),
                })
            }
            None => format!("{:032x}", self.ids.next_u128()),
        };
        let mut msg = msg.clone();
        msg.delivery_id = Some(delivery.clone());
        let bytes = message::render(&msg, audio.as_deref(), &self.host, &mut self.ids.fork());
        self.with_conn(mailbox, |c| {
            let validity = self.open_folder(c, true)?;
            if let Some(uid) = self.find_delivery(c, &delivery)? {
                return Ok(format!("{validity}.{uid}"));
            }
            // Urgent also as the `$Important` keyword (RFC 8457): the lamp's urgent count is
            // then a flag search the server answers from its index.
            let flags = if msg.marks.urgent { URGENT_KEYWORD } else { "" };
            let reply = c.append(&self.folder, flags, &bytes)?;
            if let Some((v, u)) = proto::append_uid(reply.code.as_ref()) {
                return Ok(format!("{v}.{u}"));
            }
            // No UIDPLUS: find what we appended (NOOP makes the server report it).
            c.command("NOOP", "NOOP")?;
            self.find_delivery(c, &delivery)?
                .map(|uid| format!("{validity}.{uid}"))
                .ok_or_else(|| ConnError::Broken("appended message not found".into()))
        })
    }

    fn counts(&self, mailbox: &MailboxId) -> Result<Counts, StoreError> {
        self.with_conn(mailbox, |c| {
            self.open_folder(c, false)?;
            let kind = MessageKind::VoiceMail.as_header();
            let new = search(
                c,
                &format!("UID SEARCH UNDELETED UNSEEN HEADER {H_KIND} \"{kind}\""),
            )?;
            let old = search(
                c,
                &format!("UID SEARCH UNDELETED SEEN HEADER {H_KIND} \"{kind}\""),
            )?;
            let urgent = search(
                c,
                &format!(
                    "UID SEARCH UNDELETED KEYWORD {URGENT_KEYWORD} HEADER {H_KIND} \"{kind}\""
                ),
            )?;
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            // `search` returns UIDs sorted.
            let urgent_in = |set: &[u32]| {
                count(
                    urgent
                        .iter()
                        .filter(|u| set.binary_search(u).is_ok())
                        .count(),
                )
            };
            Ok(Counts {
                new: count(new.len()),
                old: count(old.len()),
                urgent_new: urgent_in(&new),
                urgent_old: urgent_in(&old),
            })
        })
    }

    fn list(&self, mailbox: &MailboxId) -> Result<Vec<StoredMessage>, StoreError> {
        self.with_conn(mailbox, |c| {
            let validity = self.open_folder(c, false)?;
            let uids = search(c, &format!("UID SEARCH UNDELETED HEADER {H_KIND} \"\""))?;
            if uids.is_empty() {
                return Ok(Vec::new());
            }
            let reply = c.command(
                "UID FETCH",
                &format!(
                    "UID FETCH {} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({H_KIND} {H_CALLER} {H_RECEIVED})])",
                    uid_set(&uids)
                ),
            )?;
            let mut out: Vec<(u32, StoredMessage)> = Vec::new();
            for (uid, flags, size, head) in fetched(&reply) {
                let headers =
                    message::parse_header_section(head.unwrap_or(&[])).unwrap_or_default();
                let Some(kind) = header(&headers, H_KIND).and_then(MessageKind::from_header) else {
                    continue;
                };
                out.push((
                    uid,
                    StoredMessage {
                        id: format!("{validity}.{uid}"),
                        kind,
                        seen: flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")),
                        urgent: flags.iter().any(|f| f.eq_ignore_ascii_case(URGENT_KEYWORD)),
                        caller: header(&headers, H_CALLER).map(str::to_owned),
                        received: header(&headers, H_RECEIVED)
                            .and_then(|v| v.parse::<u64>().ok())
                            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                        size: size.unwrap_or(0),
                    },
                ));
            }
            out.sort_by_key(|(uid, _)| *uid);
            out.dedup_by_key(|(uid, _)| *uid);
            Ok(out.into_iter().map(|(_, m)| m).collect())
        })
    }

    fn read(&self, mailbox: &MailboxId, id: &str) -> Result<Vec<u8>, StoreError> {
        let (validity, uid) = Self::parse_id(id)?;
        let body = self.with_conn(mailbox, |c| {
            if self.open_folder(c, false)? != validity {
                return Ok(None);
            }
            let reply = c.command("UID FETCH", &format!("UID FETCH {uid} (UID BODY.PEEK[])"))?;
            Ok(fetched_body(reply, uid))
        })?;
        body.ok_or_else(|| Self::not_found(mailbox, id))
    }

    fn greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
    ) -> Result<Option<PathBuf>, StoreError> {
        self.shared_greeting(mailbox, kind)
    }

    fn set_seen(&self, mailbox: &MailboxId, id: &str, seen: bool) -> Result<(), StoreError> {
        self.set_flag(mailbox, id, "\\Seen", seen)
    }

    fn set_deleted(&self, mailbox: &MailboxId, id: &str, deleted: bool) -> Result<(), StoreError> {
        self.set_flag(mailbox, id, "\\Deleted", deleted)
    }

    fn purge(&self, mailbox: &MailboxId, id: &str) -> Result<(), StoreError> {
        let (validity, uid) = Self::parse_id(id)?;
        self.with_conn(mailbox, |c| {
            if self.open_folder(c, true)? != validity {
                return Ok(());
            }
            // UID EXPUNGE removes the message only if it still has \Deleted: one restored
            // meanwhile (by this gateway or a mail client) stays.
            c.command("UID EXPUNGE", &format!("UID EXPUNGE {uid}"))?;
            Ok(())
        })
    }

    fn delete(&self, mailbox: &MailboxId, id: &str) -> Result<(), StoreError> {
        let (validity, uid) = Self::parse_id(id)?;
        self.with_conn(mailbox, |c| {
            if self.open_folder(c, true)? != validity {
                return Ok(());
            }
            c.command(
                "UID STORE",
                &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
            )?;
            // UID EXPUNGE (UIDPLUS) removes only this message, never one the user's mail
            // client flagged \Deleted but has not expunged yet.
            c.command("UID EXPUNGE", &format!("UID EXPUNGE {uid}"))?;
            Ok(())
        })
    }

    fn save_greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
        wav: &Path,
    ) -> Result<(), StoreError> {
        self.shared_save_greeting(mailbox, kind, wav)
    }

    fn delete_greeting(&self, mailbox: &MailboxId, kind: GreetingKind) -> Result<(), StoreError> {
        self.shared_delete_greeting(mailbox, kind)
    }

    fn pin_state(&self, mailbox: &MailboxId, policy: &PinPolicy) -> Result<PinStore, StoreError> {
        self.shared_pin_state(mailbox, policy)
    }

    fn log_on(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        policy: &PinPolicy,
    ) -> Result<LogOn, StoreError> {
        self.shared_log_on(mailbox, pin, policy)
    }

    fn set_pin(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        extension: &str,
        policy: &PinPolicy,
        by: PinSetter,
    ) -> Result<(), StoreError> {
        self.shared_set_pin(mailbox, pin, extension, policy, by)
    }

    fn unlock(&self, mailbox: &MailboxId, policy: &PinPolicy) -> Result<(u32, bool), StoreError> {
        self.shared_unlock(mailbox, policy)
    }
}

/// SELECT (read-write) or EXAMINE `folder`; its UIDVALIDITY.
fn select(c: &mut Conn, folder: &str, write: bool) -> Result<u32, ConnError> {
    let quoted = conn::quote_or_err(folder)?;
    let verb = if write { "SELECT" } else { "EXAMINE" };
    let reply = c.command(verb, &format!("{verb} {quoted}"))?;
    reply
        .untagged
        .iter()
        .find_map(|r| match r {
            Response::Data {
                code: Some(ResponseCode::UidValidity(v)),
                ..
            } => Some(*v),
            _ => None,
        })
        .ok_or_else(|| ConnError::Broken(format!("{verb}: no UIDVALIDITY")))
}

/// The UIDs of the `* SEARCH` responses of a UID SEARCH command.
fn search(c: &mut Conn, line: &str) -> Result<Vec<u32>, ConnError> {
    let reply = c.command("UID SEARCH", line)?;
    let mut out: Vec<u32> = reply
        .untagged
        .iter()
        .filter_map(|r| match r {
            Response::MailboxData(MailboxDatum::Search(uids)) => Some(uids),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `1,5,7` (UID sets with ranges are not worth the code at voice-mail volumes).
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The FETCH responses of a reply: (uid, flags, size, header-fields section).
fn fetched(reply: &Reply) -> impl Iterator<Item = (u32, Vec<&str>, Option<u64>, Option<&[u8]>)> {
    reply.untagged.iter().filter_map(|r| {
        let Response::Fetch(_, items) = r else {
            return None;
        };
        let mut uid = None;
        let mut flags = Vec::new();
        let mut size = None;
        let mut head = None;
        for item in items {
            match item {
                AttributeValue::Uid(u) => uid = Some(*u),
                AttributeValue::Flags(fs) => flags = fs.iter().map(|f| f.as_ref()).collect(),
                AttributeValue::Rfc822Size(s) => size = Some(u64::from(*s)),
                // The only header section these FETCHes ask for: HEADER.FIELDS (...).
                AttributeValue::BodySection {
                    section: Some(SectionPath::Full(MessageSection::Header)),
                    data,
                    ..
                } => head = data.as_deref(),
                _ => {}
            }
        }
        Some((uid?, flags, size, head))
    })
}

/// The `BODY[]` of message `uid` in a FETCH reply.
fn fetched_body(reply: Reply, uid: u32) -> Option<Vec<u8>> {
    reply.untagged.into_iter().find_map(|r| {
        let Response::Fetch(_, items) = r else {
            return None;
        };
        if !items.contains(&AttributeValue::Uid(uid)) {
            return None;
        }
        items.into_iter().find_map(|item| match item {
            AttributeValue::BodySection {
                section: None,
                data: Some(body),
                ..
            } => Some(body.into_owned()),
            _ => None,
        })
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn host_of(server: &str) -> String {
    let host = match server.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => server,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// The password from `password`, `password_file` (first line) or `password_env`, in that order.
fn resolve_password(cfg: &ImapConfig) -> Result<String, String> {
    crate::config::resolve_password(
        cfg.password.as_ref(),
        cfg.password_file.as_deref(),
        cfg.password_env.as_deref(),
    )
}

fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::net::tls::load_certs(ca).map_err(|e| e.to_string())? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(host_of("mail.example.com:993"), "mail.example.com");
        assert_eq!(host_of("[::1]:143"), "::1");
        assert_eq!(host_of("mail"), "mail");
        assert_eq!(uid_set(&[1, 5, 7]), "1,5,7");
        assert_eq!(
            Imap::parse_id("1795762994.17").unwrap(),
            (1_795_762_994, 17)
        );
        for bad in [
            "",
            "17",
            "1.0",
            "a.b",
            "1.2.3",
            "../x",
            "1.-2",
            "99999999999.1",
        ] {
            assert!(
                matches!(
                    Imap::parse_id(bad),
                    Err(StoreError::InvalidMessageId { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn password_sources_and_redaction() {
        let mut cfg = ImapConfig::default();
        assert!(resolve_password(&cfg).is_err());
        cfg.password_env = Some("UMGW_TEST_IMAP_PW_UNSET_X".into());
        assert!(resolve_password(&cfg).is_err());
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        cfg.password_file = Some(f);
        assert_eq!(resolve_password(&cfg).unwrap(), "s3cret");
        cfg.password = Some(crate::config::Secret("inline-pw".into()));
        assert_eq!(resolve_password(&cfg).unwrap(), "inline-pw");
        assert!(!format!("{cfg:?}").contains("inline-pw"));
        let store = Imap::open(&cfg, t.path().join("local")).unwrap();
        assert!(!format!("{store:?}").contains("inline-pw"));
    }

    #[test]
    fn a_down_server_is_a_clear_error_and_backs_off() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = tempfile::tempdir().unwrap();
        let cfg = ImapConfig {
            server: format!("127.0.0.1:{port}"),
            password: Some(crate::config::Secret("x".into())),
            ..ImapConfig::default()
        };
        let store = Imap::open(&cfg, t.path()).unwrap();
        let mb = MailboxId::new("alice").unwrap();
        let e = store.counts(&mb).unwrap_err();
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(e.is_transient());
        let e = store.list(&mb).unwrap_err().to_string();
        assert!(
            e.contains("next connect attempt"),
            "fails fast in back-off: {e}"
        );
        assert!(matches!(
            store.read(&mb, "../x"),
            Err(StoreError::InvalidMessageId { .. })
        ));
    }
}
