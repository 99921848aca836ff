//! Per-user state on the IMAP server, so that no gateway node keeps any: the PIN record, the
//! failed log-on count and lock, and the personal, away and name greetings. All of it lives in
//! one folder of the user's account (`imap.state_folder`, created on first use, never
//! subscribed), one message per record, told apart by the `X-UMGW-State` header:
//!
//! - `pin-record`: the PIN hash and history ([`PinStore::record`]);
//! - `greeting-personal`, `greeting-away`, `greeting-name`: the recording as an `audio/wav`
//!   body (the away greeting being there is the away flag);
//! - `logon-attempt`: one marker per log-on attempt in progress or failed (its body a random
//!   token, so a retried attempt finds its own marker rather than adding one).
//!
//! A record is replaced by APPENDing the new one and then expunging older ones of its kind;
//! readers take the newest UID, so a reader never finds none. Two writers at once: the later
//! APPEND (higher UID) wins (acceptable for a PIN change or a new greeting).
//!
//! Counting failed log-ons is atomic across nodes without a lock server: an attempt first
//! APPENDs a marker and learns its UID (UIDPLUS `APPENDUID`). The server gives UIDs in
//! strictly increasing order, so the attempt's rank is the number of markers with a UID up to
//! its own. A rank above MaxLogonAttempts means locked: the PIN is not checked and the marker
//! is removed again. A failed attempt leaves its marker (the markers are the count); a
//! successful one removes the markers up to its own; `umgw mailbox unlock` and setting a PIN
//! remove them all. So parallel guesses through any number of nodes lock the mailbox at exactly
//! MaxLogonAttempts.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;

use super::conn::{self, Conn, ConnError, Reply};
use super::{fetched_body, search, select, uid_set, Imap};
use crate::store::message;
use crate::store::pin::{self, LogOn, PinError, PinPolicy, PinSetter, PinStore};
use crate::store::{GreetingKind, MailboxId, StoreError};

/// Header naming what a state message is.
pub const H_STATE: &str = "X-UMGW-State";
/// `X-UMGW-State` of the PIN record.
const PIN_RECORD: &str = "pin-record";
/// `X-UMGW-State` of a log-on attempt marker.
const ATTEMPT: &str = "logon-attempt";

/// `X-UMGW-State` of a greeting of `kind`.
fn greeting_record(kind: GreetingKind) -> &'static str {
    match kind {
        GreetingKind::Personal => "greeting-personal",
        GreetingKind::Away => "greeting-away",
        GreetingKind::Name => "greeting-name",
        GreetingKind::Busy => "greeting-busy",
    }
}

/// Where the greetings fetched from the server are cached on a node (named by UIDVALIDITY and
/// UID, so a replaced greeting is fetched anew): `<local>/<id>/shared-cache/`.
const CACHE_DIR: &str = "shared-cache";

/// A state message: `what` in `X-UMGW-State`, a subject a user finding the folder understands,
/// and the body (base64 when `wav`).
fn render(what: &str, subject: &str, body: &[u8], wav: bool) -> Vec<u8> {
    let (content_type, encoding) = if wav {
        ("audio/wav", "base64")
    } else {
        ("text/plain; charset=us-ascii", "7bit")
    };
    let mut out = format!(
        "{H_STATE}: {what}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    .into_bytes();
    if wav {
        out.extend_from_slice(&message::base64_lines(body));
    } else {
        out.extend_from_slice(body);
    }
    out
}

/// The body of a state message, decoded (base64 when its header says so).
fn body_of(bytes: &[u8]) -> Option<Vec<u8>> {
    let start = message::header_section_len(bytes)?;
    let headers = message::parse_header_section(&bytes[..start]).ok()?;
    let base64 = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("Content-Transfer-Encoding") && v.eq_ignore_ascii_case("base64")
    });
    let body = &bytes[start..];
    if !base64 {
        return Some(body.to_vec());
    }
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// UIDs of the live state messages of `what`, ascending (SEARCH HEADER matches substrings:
/// the `X-UMGW-State` values are chosen so that none contains another).
fn records(c: &mut Conn, what: &str) -> Result<Vec<u32>, ConnError> {
    search(
        c,
        &format!("UID SEARCH UNDELETED HEADER {H_STATE} \"{what}\""),
    )
}

/// Removes exactly `uids` from the selected folder (UIDPLUS `UID EXPUNGE`).
fn expunge(c: &mut Conn, uids: &[u32]) -> Result<(), ConnError> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uid_set(uids);
    c.command(
        "UID STORE",
        &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
    )?;
    c.command("UID EXPUNGE", &format!("UID EXPUNGE {set}"))?;
    Ok(())
}

/// The newest message of `what` with its UID, fetched whole.
fn newest(c: &mut Conn, what: &str) -> Result<Option<(u32, Vec<u8>)>, ConnError> {
    let Some(&uid) = records(c, what)?.last() else {
        return Ok(None);
    };
    let reply: Reply = c.command("UID FETCH", &format!("UID FETCH {uid} (UID BODY.PEEK[])"))?;
    Ok(fetched_body(reply, uid).map(|b| (uid, b)))
}

/// What `umgw mailbox migrate-state` did with one piece of a mailbox's local state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migrated {
    /// Copied to the server.
    Copied,
    /// The server has its own already (migrated before, or changed since): left alone.
    AlreadyShared,
    /// Nothing of this on the node's disk.
    NothingLocal,
}

impl Imap {
    /// SELECTs the state folder, creating it on first use (not subscribed, so mail clients
    /// that show subscribed folders do not list it).
    fn open_state(&self, c: &mut Conn) -> Result<u32, ConnError> {
        match select(c, &self.state_folder, true) {
            Err(ConnError::Refused { .. }) => {
                let folder = conn::quote_or_err(&self.state_folder)?;
                // Another node may create it at the same moment: its CREATE is refused then,
                // and the SELECT below works all the same.
                match c.command("CREATE", &format!("CREATE {folder}")) {
                    Ok(_) | Err(ConnError::Refused { .. }) => {}
                    Err(e) => return Err(e),
                }
                select(c, &self.state_folder, true)
            }
            other => other,
        }
    }

    /// EXAMINEs the state folder; `None` when it does not exist (nothing stored yet).
    fn examine_state(&self, c: &mut Conn) -> Result<Option<u32>, ConnError> {
        match select(c, &self.state_folder, false) {
            Ok(v) => Ok(Some(v)),
            Err(ConnError::Refused { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// APPENDs a state message to the (selected) state folder; its UID. Then a NOOP, so the
    /// next SEARCH sees every message appended before it, by any node.
    fn append_state(&self, c: &mut Conn, bytes: &[u8]) -> Result<u32, ConnError> {
        let reply = c.append(&self.state_folder, "\\Seen", bytes)?;
        let (_, uid) =
            super::proto::append_uid(reply.code.as_ref()).ok_or_else(|| ConnError::Refused {
                command: "APPEND",
                text: "no APPENDUID in the answer: per-user state needs UIDPLUS (RFC 4315)".into(),
            })?;
        c.command("NOOP", "NOOP")?;
        Ok(uid)
    }

    /// APPENDs `bytes` as the newest record of `what` and expunges the older ones.
    fn replace_state(&self, c: &mut Conn, what: &str, bytes: &[u8]) -> Result<u32, ConnError> {
        let uid = self.append_state(c, bytes)?;
        let older: Vec<u32> = records(c, what)?.into_iter().filter(|&u| u < uid).collect();
        expunge(c, &older)?;
        Ok(uid)
    }

    /// The PIN record in the selected state folder (none yet: an empty one).
    fn read_pins(&self, c: &mut Conn) -> Result<Result<PinStore, PinError>, ConnError> {
        let Some((uid, bytes)) = newest(c, PIN_RECORD)? else {
            return Ok(Ok(PinStore::default()));
        };
        let source = format!("{} message {uid}", self.state_folder);
        let Some(body) = body_of(&bytes) else {
            return Ok(Err(PinError::Corrupt {
                path: PathBuf::from(source),
                why: "not a PIN record".into(),
            }));
        };
        Ok(PinStore::parse_record(
            &String::from_utf8_lossy(&body),
            &source,
        ))
    }

    fn pin_message(pins: &PinStore) -> Vec<u8> {
        render(
            PIN_RECORD,
            "Voice mail PIN (kept by the voice-mail gateway; do not change)",
            pins.record().as_bytes(),
            false,
        )
    }

    pub(super) fn shared_pin_state(
        &self,
        mailbox: &MailboxId,
        policy: &PinPolicy,
    ) -> Result<PinStore, StoreError> {
        let pins = self.with_conn(mailbox, |c| {
            if self.examine_state(c)?.is_none() {
                return Ok(Ok(PinStore::default()));
            }
            let pins = self.read_pins(c)?;
            let failed = records(c, ATTEMPT)?.len();
            Ok(pins.map(|mut p| {
                p.failed_attempts = u32::try_from(failed).unwrap_or(u32::MAX);
                p.locked = p.failed_attempts >= policy.max_failed_attempts;
                p
            }))
        })?;
        Ok(pins?)
    }

    pub(super) fn shared_log_on(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        policy: &PinPolicy,
    ) -> Result<LogOn, StoreError> {
        let token = format!("{:032x}", self.ids.next_u128());
        let marker = attempt_marker(&token);
        let max = policy.max_failed_attempts;
        // A pooled connection that breaks is retried on a new one: if the APPEND got through
        // before, its marker is found again rather than counted twice.
        let mut retry = false;
        let outcome = self.with_conn(mailbox, |c| {
            self.open_state(c)?;
            let appended = if std::mem::replace(&mut retry, true) {
                search(
                    c,
                    &format!(
                        "UID SEARCH UNDELETED HEADER {H_STATE} \"{ATTEMPT}\" BODY \"{token}\""
                    ),
                )?
                .first()
                .copied()
            } else {
                None
            };
            let own = match appended {
                Some(uid) => uid,
                None => self.append_state(c, &marker)?,
            };
            let attempts = records(c, ATTEMPT)?;
            let mine: Vec<u32> = attempts.iter().copied().filter(|&u| u <= own).collect();
            let rank = u32::try_from(mine.len()).unwrap_or(u32::MAX).max(1);
            if rank > max {
                // At least `max` failures below it: locked. Its marker goes, so the count
                // stays at the limit.
                expunge(c, &[own])?;
                return Ok(Ok(LogOn::Locked {
                    failed_attempts: max,
                }));
            }
            let pins = match self.read_pins(c)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            if pins.hash.as_deref().is_some_and(|h| pin::verify(pin, h)) {
                expunge(c, &mine)?;
                return Ok(Ok(LogOn::Accepted));
            }
            Ok(Ok(if rank >= max {
                LogOn::LockedOut {
                    failed_attempts: rank,
                }
            } else {
                LogOn::Refused {
                    failed_attempts: rank,
                }
            }))
        })?;
        Ok(outcome?)
    }

    /// Sets the PIN; `must_change`: an administrator's, to be changed at the next log-on.
    pub(super) fn shared_set_pin(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        extension: &str,
        policy: &PinPolicy,
        by: PinSetter,
    ) -> Result<(), StoreError> {
        let result = self.with_conn(mailbox, |c| {
            self.open_state(c)?;
            let mut pins = match self.read_pins(c)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = pins.set(pin, extension, policy) {
                return Ok(Err(e));
            }
            pins.must_change = by == PinSetter::Administrator;
            self.replace_state(c, PIN_RECORD, &Self::pin_message(&pins))?;
            let attempts = records(c, ATTEMPT)?;
            expunge(c, &attempts)?;
            Ok(Ok(()))
        })?;
        Ok(result?)
    }

    pub(super) fn shared_unlock(
        &self,
        mailbox: &MailboxId,
        policy: &PinPolicy,
    ) -> Result<(u32, bool), StoreError> {
        self.with_conn(mailbox, |c| {
            if self.examine_state(c)?.is_none() {
                return Ok((0, false));
            }
            self.open_state(c)?;
            let attempts = records(c, ATTEMPT)?;
            expunge(c, &attempts)?;
            let n = u32::try_from(attempts.len()).unwrap_or(u32::MAX);
            Ok((n, n >= policy.max_failed_attempts))
        })
    }

    pub(super) fn shared_greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
    ) -> Result<Option<PathBuf>, StoreError> {
        let what = greeting_record(kind);
        let cache = self.local.mailbox_dir(mailbox).join(CACHE_DIR);
        let found = match self.with_conn(mailbox, |c| {
            let Some(validity) = self.examine_state(c)? else {
                return Ok(None);
            };
            let Some(&uid) = records(c, what)?.last() else {
                return Ok(None);
            };
            let path = cache.join(format!("{what}-{validity}-{uid}.wav"));
            if path.is_file() {
                return Ok(Some((path, None)));
            }
            let reply = c.command("UID FETCH", &format!("UID FETCH {uid} (UID BODY.PEEK[])"))?;
            Ok(fetched_body(reply, uid).map(|b| (path, Some(b))))
        }) {
            Ok(found) => found,
            // The server is down: callers hear what this node fetched last rather than the
            // default greeting (the server stays the truth once it is back).
            Err(e) if e.is_transient() => return cached(&cache, what).map(Some).ok_or(e),
            Err(e) => return Err(e),
        };
        let Some((path, fetched)) = found else {
            // None on the server: a copy cached before it was deleted must not be played
            // while the server is down.
            remove_cached(&cache, what, None);
            return Ok(None);
        };
        if let Some(bytes) = fetched {
            let Some(wav) = body_of(&bytes) else {
                tracing::warn!(mailbox = %mailbox, ?kind, "greeting on the server is not a WAV body; not used");
                return Ok(None);
            };
            write_cache(&cache, &path, what, &wav)?;
        }
        Ok(Some(path))
    }

    pub(super) fn shared_save_greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
        wav: &Path,
    ) -> Result<(), StoreError> {
        let audio = fs::read(wav).map_err(|source| StoreError::Audio {
            path: wav.to_owned(),
            source,
        })?;
        let bytes = greeting_message(kind, &audio);
        self.with_conn(mailbox, |c| {
            self.open_state(c)?;
            self.replace_state(c, greeting_record(kind), &bytes)
                .map(|_| ())
        })
    }

    pub(super) fn shared_delete_greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
    ) -> Result<(), StoreError> {
        self.with_conn(mailbox, |c| {
            if self.examine_state(c)?.is_none() {
                return Ok(());
            }
            self.open_state(c)?;
            let uids = records(c, greeting_record(kind))?;
            expunge(c, &uids)
        })
    }

    /// Copies the PIN files and greetings this node keeps for `mailbox` under the local
    /// Maildir root (the layout before per-user state moved to the server) to the server.
    /// Idempotent: whatever the server has already is left alone, so running it twice, or
    /// after a user changed a PIN or greeting through another node, changes nothing. A local
    /// lock is carried over as MaxLogonAttempts (`policy`) failure markers. The local files
    /// are left in place.
    pub fn migrate_local_state(
        &self,
        mailbox: &MailboxId,
        policy: &PinPolicy,
    ) -> Result<Vec<(&'static str, Migrated)>, StoreError> {
        let dir = self.local.mailbox_dir(mailbox);
        let local = PinStore::load(&dir)?;
        let mut done = Vec::new();
        let pin = match local.hash {
            None => Migrated::NothingLocal,
            Some(_) => {
                let failures = if local.locked {
                    local.failed_attempts.max(policy.max_failed_attempts)
                } else {
                    local.failed_attempts
                }
                .min(policy.max_failed_attempts);
                let copied =
                    self.migrate_record(mailbox, PIN_RECORD, &Self::pin_message(&local))?;
                if copied {
                    self.with_conn(mailbox, |c| {
                        self.open_state(c)?;
                        for _ in 0..failures {
                            let token = format!("{:032x}", self.ids.next_u128());
                            self.append_state(c, &attempt_marker(&token))?;
                        }
                        Ok(())
                    })?;
                    Migrated::Copied
                } else {
                    Migrated::AlreadyShared
                }
            }
        };
        done.push(("PIN", pin));
        for (kind, name) in [
            (GreetingKind::Personal, "personal greeting"),
            (GreetingKind::Away, "away greeting"),
            (GreetingKind::Name, "recorded name"),
            (GreetingKind::Busy, "busy greeting"),
        ] {
            let path = dir.join(kind.file_name());
            let outcome = match fs::read(&path) {
                Ok(audio) => {
                    let bytes = greeting_message(kind, &audio);
                    if self.migrate_record(mailbox, greeting_record(kind), &bytes)? {
                        Migrated::Copied
                    } else {
                        Migrated::AlreadyShared
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Migrated::NothingLocal,
                Err(e) => return Err(StoreError::io("read", &path)(e)),
            };
            done.push((name, outcome));
        }
        Ok(done)
    }

    /// Adds `bytes` as the record of `what` unless the server has one; true if added. A
    /// record another node writes meanwhile wins: ours is removed again.
    fn migrate_record(
        &self,
        mailbox: &MailboxId,
        what: &str,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.with_conn(mailbox, |c| {
            self.open_state(c)?;
            if !records(c, what)?.is_empty() {
                return Ok(false);
            }
            let own = self.append_state(c, bytes)?;
            if records(c, what)?.iter().any(|&u| u != own) {
                expunge(c, &[own])?;
                return Ok(false);
            }
            Ok(true)
        })
    }
}

/// A log-on attempt marker; `token` (random hex) finds it again after a lost answer.
fn attempt_marker(token: &str) -> Vec<u8> {
    render(
        ATTEMPT,
        "Voice mail log-on attempt",
        token.as_bytes(),
        false,
    )
}

fn greeting_message(kind: GreetingKind, audio: &[u8]) -> Vec<u8> {
    let subject = match kind {
        GreetingKind::Personal => "Voice mail greeting",
        GreetingKind::Away => "Voice mail away greeting",
        GreetingKind::Name => "Voice mail recorded name",
        GreetingKind::Busy => "Voice mail busy greeting",
    };
    render(greeting_record(kind), subject, audio, true)
}

/// Writes a fetched greeting into the node's cache (tmp, rename) and removes older copies of
/// the same kind.
fn write_cache(dir: &Path, path: &Path, what: &str, wav: &[u8]) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
    // Unique per write: calls of one process may fetch the same greeting at once.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{what}.tmp.{}.{n}", std::process::id()));
    let written = fs::write(&tmp, wav)
        .map_err(StoreError::io("write", &tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(StoreError::io("rename into place", path)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    remove_cached(dir, what, Some(path));
    Ok(())
}

/// The cached copies of greetings of `what` in `dir`.
fn cached_files(dir: &Path, what: &str) -> Vec<PathBuf> {
    let prefix = format!("{what}-");
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// This node's cached copy of the greeting of `what`, if it has one.
fn cached(dir: &Path, what: &str) -> Option<PathBuf> {
    cached_files(dir, what).into_iter().max()
}

/// Removes the cached copies of `what` but `keep`.
fn remove_cached(dir: &Path, what: &str, keep: Option<&Path>) {
    for p in cached_files(dir, what) {
        if Some(p.as_path()) != keep {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_messages_round_trip() {
        let wav: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let m = greeting_message(GreetingKind::Away, &wav);
        let head =
            message::parse_header_section(&m[..message::header_section_len(&m).unwrap()]).unwrap();
        assert!(head
            .iter()
            .any(|(k, v)| k == H_STATE && v == "greeting-away"));
        assert_eq!(body_of(&m).unwrap(), wav);
        assert!(m.split(|&b| b == b'\n').all(|l| l.len() <= 78));
        let mut pins = PinStore::default();
        pins.set("582914", "1001", &PinPolicy::default()).unwrap();
        let m = Imap::pin_message(&pins);
        let text = String::from_utf8(body_of(&m).unwrap()).unwrap();
        assert_eq!(PinStore::parse_record(&text, "t").unwrap().hash, pins.hash);
    }

    #[test]
    fn state_values_never_contain_one_another() {
        // SEARCH HEADER matches substrings: no value may find another's messages.
        let all = [
            PIN_RECORD,
            ATTEMPT,
            greeting_record(GreetingKind::Personal),
            greeting_record(GreetingKind::Away),
            greeting_record(GreetingKind::Name),
            greeting_record(GreetingKind::Busy),
        ];
        for a in all {
            for b in all {
                assert!(a == b || !a.contains(b), "{a} contains {b}");
            }
        }
    }
}
