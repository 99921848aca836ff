//! Message storage: the [`Mailbox`] trait, its Maildir implementation and the message format.
//!
//! The trait is synchronous on purpose: storage is blocking file (or later IMAP) work, and the
//! async shell runs it in `spawn_blocking`. Call flows never touch the store directly; they emit a
//! command that the shell executes through this trait.
//!
//! Invariants every backend keeps:
//! - a deposit is atomic: a message is invisible until completely written and durable;
//! - message ids are unique (never sequential numbers, which race between processes);
//! - audio is never deleted on error: the caller's recording survives any storage failure.

pub mod audio;
mod ids;
pub mod imap;
pub mod maildir;
pub mod message;
pub mod pin;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use crate::domain::{Counts, GreetingKind, Marks, MessageKind};
pub use ids::IdRng;
pub use imap::Imap;
pub use maildir::Maildir;
pub use message::{MessageError, ParsedMessage};
use pin::{LogOn, PinError, PinPolicy, PinSetter, PinStore};

/// Longest accepted mailbox id, in bytes.
const MAILBOX_ID_MAX: usize = 64;

/// A validated mailbox name, safe to use as a single directory name.
///
/// Only `[A-Za-z0-9._-]{1,64}` not starting with `.` is accepted, so an id can never be `..`, a
/// dotfile, contain a path separator or a NUL byte: it cannot escape the store root.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(String);

impl MailboxId {
    /// Validates `s` as a mailbox id.
    pub fn new(s: &str) -> Result<Self, StoreError> {
        let why = if s.is_empty() {
            Some("is empty")
        } else if s.len() > MAILBOX_ID_MAX {
            Some("is longer than 64 bytes")
        } else if s.starts_with('.') {
            Some("starts with '.'")
        } else if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("contains a character outside [A-Za-z0-9._-]")
        } else {
            None
        };
        match why {
            Some(why) => Err(StoreError::InvalidMailboxId {
                value: s.chars().take(80).collect(),
                why,
            }),
            None => Ok(MailboxId(s.to_owned())),
        }
    }

    /// The id as a string (also its directory name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message to deposit, as the deposit flow describes it.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Voice mail or missed-call notice.
    pub kind: MessageKind,
    /// Number or SIP URI of the caller, if known. Caller-controlled: never trusted in headers.
    pub caller: Option<String>,
    /// Display name of the caller, if known. Caller-controlled.
    pub caller_name: Option<String>,
    /// The called user's address, e.g. `sip:alice@contoso.com`.
    pub mailbox_address: String,
    /// The called user's display name, if known.
    pub mailbox_name: Option<String>,
    /// When the call arrived.
    pub received: SystemTime,
    /// Length of the recording (or of the call, for a missed call).
    pub duration: Duration,
    /// SIP Call-ID of the call, for tracing a message back to its call.
    pub call_id: String,
    /// Finished WAV file; `None` for a missed call without audio. Never deleted by the store.
    pub audio: Option<PathBuf>,
    /// Makes the deposit idempotent: a second deposit with the same id (a retry after a crash
    /// between committing the message and removing its spool entry) stores nothing new.
    /// `[A-Za-z0-9_-]`, at most 64 characters.
    pub delivery_id: Option<String>,
    /// The gateway died during the call; the message was rebuilt from the spool at start-up.
    pub recovered: bool,
    /// The call's receive statistics (`media::stats::MediaStats` text), if known.
    pub media_stats: Option<String>,
    /// Why the recording stopped before the caller did (a write failure: disk full or
    /// failing), if it did: the message holds what was written before.
    pub cut_short: Option<String>,
    /// The Voice Mail Preview (a transcript) to open the message's text with, if one was made.
    pub preview: Option<crate::domain::Preview>,
    /// A voice mail a user forwarded from their mailbox (subscriber access): the original's
    /// sender and time, kept beside the forwarding user (`caller`).
    pub forwarded: Option<Forwarded>,
    /// What the caller marked it as in the options after `#` (urgent, private).
    pub marks: crate::domain::Marks,
}

/// Where a forwarded voice mail came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The forwarding user's address (e.g. `sip:alice@contoso.com`).
    pub by: String,
    /// The original message's caller, if known. Caller-controlled.
    pub caller: Option<String>,
    /// When the original message arrived.
    pub received: SystemTime,
}

/// One message as listed by [`Mailbox::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Unique message id, as returned by [`Mailbox::deposit`]; pass it to [`Mailbox::read`].
    pub id: String,
    /// Voice mail or missed call (from `X-UMGW-Kind`; messages without it count as voice mail).
    pub kind: MessageKind,
    /// Whether the user has seen it.
    pub seen: bool,
    /// Marked urgent by the caller (counted in MWI's urgent counts).
    pub urgent: bool,
    /// Caller from `X-UMGW-Caller`, if present.
    pub caller: Option<String>,
    /// Arrival time from `X-UMGW-Received`, if present.
    pub received: Option<SystemTime>,
    /// Size of the stored message in bytes.
    pub size: u64,
}

/// A message store. Blocking: call it from `spawn_blocking` in async code.
pub trait Mailbox: Send + Sync {
    /// Whether the store answers, for readiness (systemd `READY=1`): the Maildir root can be
    /// listed; the IMAP server greets and answers `NOOP`. Touches no mailbox.
    fn check(&self) -> Result<(), StoreError>;
    /// Stores `msg` atomically and returns its unique id. The source audio file is left in
    /// place on success and on error (the caller removes it once the deposit succeeded).
    fn deposit(&self, mailbox: &MailboxId, msg: &NewMessage) -> Result<String, StoreError>;
    /// MWI counts: unseen and seen voice mails (missed calls and trashed messages excluded).
    fn counts(&self, mailbox: &MailboxId) -> Result<Counts, StoreError>;
    /// All messages (trashed ones excluded), oldest id first.
    fn list(&self, mailbox: &MailboxId) -> Result<Vec<StoredMessage>, StoreError>;
    /// The raw stored message (RFC 5322 bytes) with id `id`.
    fn read(&self, mailbox: &MailboxId, id: &str) -> Result<Vec<u8>, StoreError>;
    /// The user's recording of `kind`, if there is one.
    fn greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
    ) -> Result<Option<PathBuf>, StoreError>;

    /// Marks a message seen (listened to) or new again; MWI counts follow.
    fn set_seen(&self, mailbox: &MailboxId, id: &str, seen: bool) -> Result<(), StoreError>;

    /// Removes a message. A message that is already gone is not an error.
    fn delete(&self, mailbox: &MailboxId, id: &str) -> Result<(), StoreError>;

    /// Marks a message deleted, or not any more (subscriber access's delete and undelete,
    /// pending until the call ends): a deleted message is out of lists and counts at once but
    /// still stored (Maildir `T` flag, IMAP `\Deleted`), so a crash before [`Mailbox::purge`]
    /// loses nothing and never brings it back as new.
    fn set_deleted(&self, mailbox: &MailboxId, id: &str, deleted: bool) -> Result<(), StoreError>;

    /// Removes a message if it is still marked deleted ([`Mailbox::set_deleted`]); one that
    /// was restored meanwhile (or is gone) is left as it is.
    fn purge(&self, mailbox: &MailboxId, id: &str) -> Result<(), StoreError>;

    /// Replaces the mailbox's recording of `kind` with the WAV at `wav` (copied atomically;
    /// the source stays where it is).
    fn save_greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
        wav: &std::path::Path,
    ) -> Result<(), StoreError>;

    /// Removes the recording of `kind` (turning the away greeting off). Absent is not an error.
    fn delete_greeting(&self, mailbox: &MailboxId, kind: GreetingKind) -> Result<(), StoreError>;

    // Per-user state: PIN record, log-on count and lock (greetings are above). Maildir keeps
    // it in the mailbox directory (`store::pin` files); IMAP keeps it on the server, so any
    // gateway of a cluster serves any user.

    /// The PIN record and log-on state of `mailbox` (`policy` places the lock on backends
    /// that derive it from the failure count).
    fn pin_state(&self, mailbox: &MailboxId, policy: &PinPolicy) -> Result<PinStore, StoreError>;

    /// One counted log-on attempt with `pin` ([`PinStore::log_on`]): the check and the count
    /// are one step, atomic across threads, processes and (IMAP) gateway nodes, so parallel
    /// guesses lock the mailbox at exactly `policy.max_failed_attempts`.
    fn log_on(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        policy: &PinPolicy,
    ) -> Result<LogOn, StoreError>;

    /// Replaces the PIN after checking it against `policy` and the PIN history
    /// ([`PinStore::set`]); clears the failure count and the lock. A PIN an administrator
    /// set (`umgw mailbox set-pin`, `reset-pin`) must be changed by the user at the next
    /// log-on. A refused PIN is [`StoreError::Pin`].
    fn set_pin(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        extension: &str,
        policy: &PinPolicy,
        by: PinSetter,
    ) -> Result<(), StoreError>;

    /// Clears the failure count and the lock, keeping the PIN (`umgw mailbox unlock`);
    /// returns the failure count and whether it was locked.
    fn unlock(&self, mailbox: &MailboxId, policy: &PinPolicy) -> Result<(u32, bool), StoreError>;

    /// What the mailbox holds, for quotas: every message of ours (voice mails and missed-call
    /// notices) and their total size.
    fn usage(&self, mailbox: &MailboxId) -> Result<Usage, StoreError> {
        let list = self.list(mailbox)?;
        Ok(Usage {
            messages: u32::try_from(list.len()).unwrap_or(u32::MAX),
            bytes: list.iter().map(|m| m.size).sum(),
        })
    }
}

/// A mailbox's size, for quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Messages stored.
    pub messages: u32,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Mailbox limits (`store.max_messages`, `store.max_bytes`); 0 means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// Most messages a mailbox holds.
    pub max_messages: u32,
    /// Most bytes a mailbox's messages take.
    pub max_bytes: u64,
}

impl Quota {
    /// Whether a mailbox using `u` is full: no new message may be recorded.
    pub fn is_full(&self, u: Usage) -> bool {
        (self.max_messages > 0 && u.messages >= self.max_messages)
            || (self.max_bytes > 0 && u.bytes >= self.max_bytes)
    }
}

/// The attachment for `msg`: its recording read and encoded as `format`; `None` without one.
/// The source file is only read, never moved or deleted.
pub(crate) fn attachment(
    msg: &NewMessage,
    format: audio::AudioFormat,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(p) = &msg.audio else {
        return Ok(None);
    };
    let wav = std::fs::read(p).map_err(|source| StoreError::Audio {
        path: p.clone(),
        source,
    })?;
    Ok(Some(format.encode(wav)))
}

/// A delivery id (`NewMessage::delivery_id`): `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn valid_delivery_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Storage errors. I/O variants carry the path and the OS error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A mailbox id failed validation.
    #[error("invalid mailbox id {value:?}: {why}")]
    InvalidMailboxId {
        /// The rejected value (truncated).
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A message id failed validation (it would not name a single file).
    #[error("invalid message id {id:?}")]
    InvalidMessageId {
        /// The rejected id (truncated).
        id: String,
    },
    /// No message with this id in this mailbox.
    #[error("message {id:?} not found in mailbox {mailbox}")]
    NotFound {
        /// Mailbox searched.
        mailbox: String,
        /// Id asked for.
        id: String,
    },
    /// Reading the recording to attach failed; the recording is left untouched.
    #[error("cannot read audio file {path}: {source}")]
    Audio {
        /// The audio file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The mail server cannot be reached (down, restarting, network): try again later.
    #[error("mail server {server} unavailable: {reason}")]
    Unavailable {
        /// `host:port` of the server.
        server: String,
        /// What failed (connect error, time-out, connection closed).
        reason: String,
    },
    /// The mail server refused an operation (log-in refused, folder missing, ...).
    #[error("mail server {server}: {reason}")]
    Server {
        /// `host:port` of the server.
        server: String,
        /// The operation and the server's answer.
        reason: String,
    },
    /// A PIN was refused by the policy, or the stored PIN state is unusable.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// The store's configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// A file-system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done ("create directory", "write", "rename into new/", ...).
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether trying again later may succeed (the server was down or restarting), as
    /// opposed to an error that repeats (bad id, refused operation, unreadable audio).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. } | StoreError::Io { .. })
    }

    /// Builds an [`StoreError::Io`]; used with `map_err`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_id_accepts_valid_names() {
        for ok in [
            "alice",
            "a",
            "Alice.Smith_2-x",
            "10001",
            &"x".repeat(64),
            "a..b",
        ] {
            let id = MailboxId::new(ok).unwrap();
            assert_eq!(id.as_str(), ok);
            assert_eq!(id.to_string(), ok);
        }
    }

    #[test]
    fn mailbox_id_rejects_traversal_and_odd_names() {
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a\\b",
            "a b",
            "a\0",
            "é",
            "a:b",
            &"x".repeat(65),
            "/abs",
        ] {
            let err = MailboxId::new(bad).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidMailboxId { .. }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kind_header_round_trip() {
        for k in [MessageKind::VoiceMail, MessageKind::MissedCall] {
            assert_eq!(MessageKind::from_header(k.as_header()), Some(k));
        }
        assert_eq!(
            MessageKind::from_header(" Voice-Mail "),
            Some(MessageKind::VoiceMail)
        );
        assert_eq!(MessageKind::from_header("fax"), None);
    }

    #[test]
    fn io_error_message_names_path_and_os_error() {
        let e = StoreError::io("write", "/x/y")(std::io::Error::from_raw_os_error(libc::ENOSPC));
        let s = e.to_string();
        assert!(s.contains("/x/y") && s.contains("write"), "{s}");
        assert!(s.to_lowercase().contains("no space"), "{s}");
    }
}
