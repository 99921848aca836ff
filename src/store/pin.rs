//! Mailbox PINs: the policy a new PIN must meet, argon2id hashing, and the per-mailbox PIN files.
//!
//! Files in a mailbox directory (`<data_dir>/mailboxes/<id>/`), each written atomically (tmp,
//! fsync, rename, fsync directory) with mode 0600:
//! - `pin`: the current PIN as one argon2id PHC string (`$argon2id$v=19$m=...`);
//! - `pin-history`: the PHC strings of the last [`PinPolicy::history`] PINs (current one
//!   included), newest last, one per line;
//! - `pin-state`: `failed_attempts` and `locked` for subscriber access (log-on lockout), and
//!   about the current PIN `set_at` (Unix seconds) and `must_change` (set by an administrator);
//! - `pin.lock`: empty; held with `flock(2)` by whoever reads-and-changes the files
//!   ([`PinStore::update`], [`PinStore::save`]), so a check-and-count of a PIN attempt is
//!   atomic per mailbox across threads and processes (the gateway's calls and `umgw mailbox`
//!   beside it). It is never removed: removing a lock file races with its next holder.
//!
//! A PIN is never stored, logged or shown in clear: only hashes reach the disk, and
//! [`PinError`] messages never include the PIN.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

/// Name of the current-PIN file in a mailbox directory.
pub const PIN_FILE: &str = "pin";
/// Name of the PIN-history file in a mailbox directory.
pub const HISTORY_FILE: &str = "pin-history";
/// Name of the lockout-state file in a mailbox directory.
pub const STATE_FILE: &str = "pin-state";
/// Name of the lock file in a mailbox directory (see the module documentation).
pub const LOCK_FILE: &str = "pin.lock";

pub use crate::domain::{PinChange, PinPolicy};

/// Why a PIN was refused or the PIN files could not be used. Never contains the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The PIN has characters other than `0-9`.
    #[error("the PIN must contain only digits 0-9")]
    NotDigits,
    /// Too short for the policy.
    #[error("the PIN is too short: at least {min} digits are required")]
    TooShort {
        /// The policy's minimum.
        min: usize,
    },
    /// Too long for the policy.
    #[error("the PIN is too long: at most {max} digits are allowed")]
    TooLong {
        /// The policy's maximum.
        max: usize,
    },
    /// One digit repeated (`111111`).
    #[error("the PIN is too simple: it repeats one digit")]
    RepeatedDigit,
    /// An ascending or descending run (`123456`, `987654`, `890123`).
    #[error("the PIN is too simple: it is a run of consecutive digits")]
    Sequence,
    /// Contains the mailbox's extension (or the extension reversed).
    #[error("the PIN must not contain the mailbox's extension")]
    Extension,
    /// Matches one of the last `history` PINs.
    #[error("the PIN was used recently: it must differ from the last {history} PINs")]
    Reused {
        /// The policy's history length.
        history: usize,
    },
    /// Hashing failed (parameters or output length; not expected with the defaults).
    #[error("cannot hash the PIN: {0}")]
    Hash(String),
    /// A PIN file is not what this module writes.
    #[error("{path}: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A file-system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PinError + 'a {
    move |source| PinError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

impl PinPolicy {
    /// Checks a new `pin` for the mailbox with `extension` against the policy, including the
    /// hashes of previous PINs (`history_hashes`, any order; only the newest `history` count).
    pub fn check(
        &self,
        pin: &str,
        extension: &str,
        history_hashes: &[String],
    ) -> Result<(), PinError> {
        if pin.is_empty() || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::NotDigits);
        }
        if pin.len() < self.min_length {
            return Err(PinError::TooShort {
                min: self.min_length,
            });
        }
        if pin.len() > self.max_length {
            return Err(PinError::TooLong {
                max: self.max_length,
            });
        }
        if !self.allow_common_patterns {
            let d = pin.as_bytes();
            if d.iter().all(|&b| b == d[0]) {
                return Err(PinError::RepeatedDigit);
            }
            // Runs wrap around (…8901…), as keypad sequences do.
            let step = |a: u8, b: u8| (10 + b - b'0' - (a - b'0')) % 10;
            let first = step(d[0], d[1]);
            if (first == 1 || first == 9) && d.windows(2).all(|w| step(w[0], w[1]) == first) {
                return Err(PinError::Sequence);
            }
            let ext = extension.trim();
            if !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()) {
                let reversed: String = ext.chars().rev().collect();
                if pin.contains(ext) || pin.contains(&reversed) {
                    return Err(PinError::Extension);
                }
            }
        }
        let recent = &history_hashes[history_hashes.len().saturating_sub(self.history)..];
        if recent.iter().any(|h| verify(pin, h)) {
            return Err(PinError::Reused {
                history: self.history,
            });
        }
        Ok(())
    }
}

/// A random PIN of `policy.min_length` digits that meets `policy` for the mailbox with
/// `extension` (the history aside: [`PinStore::set`] checks that), from the OS's generator
/// (`umgw mailbox reset-pin`).
pub fn random_pin(policy: &PinPolicy, extension: &str) -> String {
    let mut rng = rand::rngs::OsRng;
    loop {
        let pin: String = (0..policy.min_length)
            .map(|_| char::from(b'0' + (rng.next_u32() % 10) as u8))
            .collect();
        // A refusal (a run, a repeated digit, the extension) is rare: draw again.
        if policy.check(&pin, extension, &[]).is_ok() {
            return pin;
        }
    }
}

/// Hashes `pin` with argon2id (default parameters: 19 MiB, 2 passes) and a random 16-byte salt;
/// returns the PHC string.
pub fn hash(pin: &str) -> Result<String, PinError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PinError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PinError::Hash(e.to_string()))
}

/// Whether `pin` matches the PHC string `hash` (false for a malformed hash). The comparison is
/// constant-time; the cost parameters are the ones recorded in the hash.
pub fn verify(pin: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Who sets a PIN: the user (their own choice), or an administrator (the user must choose a
/// new one at the next log-on: an administrator's PIN is not the user's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinSetter {
    User,
    Administrator,
}

/// The PIN files of one mailbox, in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PinStore {
    /// PHC string of the current PIN; `None` if no PIN has been set.
    pub hash: Option<String>,
    /// PHC strings of recent PINs, newest last (current one included).
    pub history: Vec<String>,
    /// Consecutive failed log-ons since the last success.
    pub failed_attempts: u32,
    /// Locked out: log-on refused (the PIN unchecked) until an administrator sets a new PIN
    /// or unlocks the mailbox.
    pub locked: bool,
    /// When the current PIN was set, Unix seconds; `None` for a PIN set before this was
    /// recorded (it does not expire until changed).
    pub set_at: Option<u64>,
    /// An administrator set the PIN: the user must choose a new one at the next log-on.
    pub must_change: bool,
}

impl PinStore {
    /// Reads the PIN files of the mailbox directory `dir`; missing files mean "not set".
    pub fn load(dir: &Path) -> Result<Self, PinError> {
        let mut store = PinStore::default();
        let pin_path = dir.join(PIN_FILE);
        if let Some(text) = read_optional(&pin_path)? {
            let h = text.trim();
            if PasswordHash::new(h).is_err() {
                return Err(PinError::Corrupt {
                    path: pin_path,
                    why: "not a PHC password-hash string".into(),
                });
            }
            store.hash = Some(h.to_owned());
        }
        if let Some(text) = read_optional(&dir.join(HISTORY_FILE))? {
            store.history = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
        }
        let state_path = dir.join(STATE_FILE);
        if let Some(text) = read_optional(&state_path)? {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let corrupt = |why: &str| PinError::Corrupt {
                    path: state_path.clone(),
                    why: format!("{why}: {line:?}"),
                };
                let (key, value) = line
                    .split_once('=')
                    .ok_or_else(|| corrupt("expected key = value"))?;
                match key.trim() {
                    "failed_attempts" => {
                        store.failed_attempts =
                            value.trim().parse().map_err(|_| corrupt("not a count"))?
                    }
                    "locked" => {
                        store.locked = value.trim().parse().map_err(|_| corrupt("not a bool"))?
                    }
                    "set_at" => {
                        store.set_at =
                            Some(value.trim().parse().map_err(|_| corrupt("not a time"))?)
                    }
                    "must_change" => {
                        store.must_change =
                            value.trim().parse().map_err(|_| corrupt("not a bool"))?
                    }
                    _ => return Err(corrupt("unknown key")),
                }
            }
        }
        Ok(store)
    }

    /// The PIN and its history as one text record, for stores that keep them in one place
    /// (IMAP: a message in the state folder): `pin = PHC` and `history = PHC` lines, newest
    /// history last, then `set_at` and `must_change`. The failure count and the lock are not
    /// part of it.
    pub fn record(&self) -> String {
        let mut text = String::new();
        if let Some(h) = &self.hash {
            text.push_str(&format!("pin = {h}\n"));
        }
        for h in &self.history {
            text.push_str(&format!("history = {h}\n"));
        }
        if let Some(t) = self.set_at {
            text.push_str(&format!("set_at = {t}\n"));
        }
        if self.must_change {
            text.push_str("must_change = true\n");
        }
        text
    }

    /// Parses a [`PinStore::record`]; `source` names where it came from in errors.
    pub fn parse_record(text: &str, source: &str) -> Result<PinStore, PinError> {
        let mut store = PinStore::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let corrupt = |why: &str| PinError::Corrupt {
                path: PathBuf::from(source),
                why: why.to_owned(),
            };
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| corrupt("expected key = value"))?;
            let value = value.trim();
            match key.trim() {
                "set_at" => {
                    store.set_at = Some(value.parse().map_err(|_| corrupt("not a time"))?);
                    continue;
                }
                "must_change" => {
                    store.must_change = value.parse().map_err(|_| corrupt("not a bool"))?;
                    continue;
                }
                _ => {}
            }
            if PasswordHash::new(value).is_err() {
                return Err(corrupt("not a PHC password-hash string"));
            }
            match key.trim() {
                "pin" => store.hash = Some(value.to_owned()),
                "history" => store.history.push(value.to_owned()),
                _ => return Err(corrupt("unknown key")),
            }
        }
        Ok(store)
    }

    /// Reads, changes and writes the PIN files of `dir` as one step: under the mailbox's lock
    /// ([`PinLock`]), `change` gets the current state; if it returns `Ok` and changed
    /// something, the files are written (atomically, as [`PinStore::save`]) before the lock
    /// is released. Threads and processes that go through here never lose each other's
    /// changes. Blocks while another holder has the lock (a PIN check holds it for one
    /// argon2 verification, tens of milliseconds).
    pub fn update<R>(
        dir: &Path,
        change: impl FnOnce(&mut PinStore) -> Result<R, PinError>,
    ) -> Result<R, PinError> {
        let _lock = PinLock::acquire(dir)?;
        let before = PinStore::load(dir)?;
        let mut after = before.clone();
        let result = change(&mut after)?;
        if after != before {
            after.write_files(dir)?;
        }
        Ok(result)
    }

    /// Writes the PIN files into `dir` (created with mode 0700 if missing), each atomically
    /// with mode 0600, under the mailbox's lock: whatever the files held is replaced. To
    /// change the stored state (count an attempt, set a PIN), use [`PinStore::update`].
    pub fn save(&self, dir: &Path) -> Result<(), PinError> {
        let _lock = PinLock::acquire(dir)?;
        self.write_files(dir)
    }

    /// Writes the files; the caller holds the lock (which also made `dir`).
    fn write_files(&self, dir: &Path) -> Result<(), PinError> {
        if let Some(h) = &self.hash {
            write_atomic(dir, PIN_FILE, format!("{h}\n").as_bytes())?;
        }
        let mut history = String::new();
        for h in &self.history {
            history.push_str(h);
            history.push('\n');
        }
        write_atomic(dir, HISTORY_FILE, history.as_bytes())?;
        let mut state = format!(
            "failed_attempts = {}\nlocked = {}\nmust_change = {}\n",
            self.failed_attempts, self.locked, self.must_change
        );
        if let Some(t) = self.set_at {
            state.push_str(&format!("set_at = {t}\n"));
        }
        write_atomic(dir, STATE_FILE, state.as_bytes())?;
        fsync_dir(dir)
    }

    /// Replaces the PIN after checking it against `policy` and the history; unlocks the mailbox
    /// and resets the failure counter; the PIN's lifetime starts now, and it is the user's own
    /// (no change required: an administrator's PIN sets [`PinStore::must_change`] after).
    /// Persist with [`PinStore::update`] (or [`PinStore::save`] for a new mailbox).
    pub fn set(&mut self, pin: &str, extension: &str, policy: &PinPolicy) -> Result<(), PinError> {
        let mut recent = self.history.clone();
        if let Some(current) = &self.hash {
            if !recent.contains(current) {
                recent.push(current.clone());
            }
        }
        policy.check(pin, extension, &recent)?;
        let h = hash(pin)?;
        recent.push(h.clone());
        let keep = recent.len().saturating_sub(policy.history.max(1));
        recent.drain(..keep);
        self.history = recent;
        self.hash = Some(h);
        self.failed_attempts = 0;
        self.locked = false;
        self.set_at = Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        self.must_change = false;
        Ok(())
    }

    /// Why the user must choose a new PIN when logging on at `now`, if they must: set by an
    /// administrator, or older than `policy.lifetime_days` (0: never too old).
    pub fn change_required(
        &self,
        now: std::time::SystemTime,
        policy: &PinPolicy,
    ) -> Option<PinChange> {
        if self.must_change {
            return Some(PinChange::SetByAdministrator);
        }
        let set_at = self.set_at.filter(|_| policy.lifetime_days > 0)?;
        let age = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(set_at);
        (age >= u64::from(policy.lifetime_days) * 86_400).then_some(PinChange::Expired)
    }

    /// Whether `pin` is the current PIN (false if none is set or the mailbox is locked).
    pub fn verify(&self, pin: &str) -> bool {
        !self.locked && self.hash.as_deref().is_some_and(|h| verify(pin, h))
    }

    /// One log-on attempt with `pin`, counted: a wrong PIN adds a failure and locks the
    /// mailbox at `policy.max_failed_attempts`; the right one resets the count. A locked
    /// mailbox refuses without checking the PIN (so without counting it). Persist with
    /// [`PinStore::update`], which makes the check and the count one step.
    pub fn log_on(&mut self, pin: &str, policy: &PinPolicy) -> LogOn {
        if self.locked {
            return LogOn::Locked {
                failed_attempts: self.failed_attempts,
            };
        }
        if self.verify(pin) {
            self.failed_attempts = 0;
            return LogOn::Accepted;
        }
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        let failed_attempts = self.failed_attempts;
        if failed_attempts >= policy.max_failed_attempts {
            self.locked = true;
            LogOn::LockedOut { failed_attempts }
        } else {
            LogOn::Refused { failed_attempts }
        }
    }

    /// Clears the lock and the failure count; the PIN stays as it is (`umgw mailbox unlock`).
    pub fn unlock(&mut self) {
        self.failed_attempts = 0;
        self.locked = false;
    }
}

/// What one log-on attempt came to ([`PinStore::log_on`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogOn {
    /// The PIN is right; the failure count is back to 0.
    Accepted,
    /// A wrong PIN (or none is set), counted: `failed_attempts` in a row now.
    Refused {
        /// Failures counted, this one included.
        failed_attempts: u32,
    },
    /// A wrong PIN, counted, that reached MaxLogonAttempts: the mailbox is locked now.
    LockedOut {
        /// Failures counted, this one included.
        failed_attempts: u32,
    },
    /// The mailbox was locked already: the PIN was neither checked nor counted.
    Locked {
        /// Failures counted before the lock.
        failed_attempts: u32,
    },
}

/// Exclusive hold on one mailbox's PIN files: an advisory `flock(2)` on [`LOCK_FILE`], which
/// excludes other threads (each opens the file itself, and flock locks belong to the open
/// file) and other processes alike. Released when dropped (the file is closed).
#[derive(Debug)]
pub struct PinLock {
    _file: File,
}

impl PinLock {
    /// Creates the mailbox directory `dir` (mode 0700) and the lock file (0600) if missing,
    /// and waits for the lock.
    pub fn acquire(dir: &Path) -> Result<PinLock, PinError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err("create directory", dir))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("open", &path))?;
        crate::net::os::lock_exclusive(&file).map_err(io_err("lock", &path))?;
        Ok(PinLock { _file: file })
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, PinError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// tmp file (0600), write, fsync, rename over `name`: readers see the old or the new file.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PinError> {
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let target = dir.join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, &target).map_err(io_err("rename into place", &target))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn fsync_dir(dir: &Path) -> Result<(), PinError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

#[cfg(test)]
mod test;
