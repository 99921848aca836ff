//! The spool: recordings in progress, each a WAV plus a small metadata file, so that a gateway
//! killed mid-call can deposit what it had recorded when it starts again.
//!
//! Life of an entry: `create` (metadata written atomically, then the WAV is recorded) →
//! the message is deposited with the entry's id as its delivery id → `remove`. A crash at any
//! point leaves the entry; `recover` deposits it (idempotently: the store skips a delivery id
//! it already holds) and removes it. Exactly one message per recording, never a partial one.
//!
//! A deposit that fails (the mail server is down or restarting) leaves the entry and a
//! `<id>.retry` marker; [`Retry`] delivers marked entries in the background with exponential
//! back-off. Only marked entries are retried, so a recording still in progress is never
//! touched.
//!
//! Removed entries are not deleted but moved to `free/` and emptied, and new entries are made
//! from those files: a busy gateway creates and removes two files per call, and ext4 without a
//! journal skips every inode freed in the last minute when it allocates one, so at hundreds of
//! calls a second each creation would scan tens of thousands of inodes (docs/PERFORMANCE.md).
//! Only emptied files are reused (a file a crash left unemptied in `free/` is emptied at the
//! next start), so no entry ever starts with another call's audio; whatever is in `free/` is
//! garbage by definition.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::email::{Notifier, Recipient};
use crate::media::recorder;
use crate::store::{Mailbox, MailboxId, MessageKind, NewMessage, StoreError};

/// What a deposit needs besides the audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolMeta {
    pub mailbox_id: String,
    pub mailbox_address: String,
    pub mailbox_name: Option<String>,
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    pub call_id: String,
    pub received_unix_ms: u64,
    /// Recordings shorter than this become a missed-call notice.
    pub min_message_ms: u64,
    pub notify_target: Option<String>,
    /// `NotifyEmail`: where the message's e-mail notice goes (absent in older entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_email: Option<Recipient>,
}

impl SpoolMeta {
    pub fn received(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.received_unix_ms)
    }
}

/// The spool directory and the emptied files kept for reuse.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    free_dir: PathBuf,
    free: Mutex<Vec<PathBuf>>,
    next_free_name: AtomicU64,
}

/// Emptied files kept beyond this many are deleted (after a burst of calls).
const MAX_FREE: usize = 16_384;

impl Spool {
    /// Opens (creating) the spool at `dir` and takes stock of its free files.
    pub fn open(dir: &Path) -> std::io::Result<Arc<Spool>> {
        let free_dir = dir.join("free");
        fs::create_dir_all(&free_dir)?;
        // Metadata a crash (or a full disk) left half-written: never an entry.
        for e in fs::read_dir(dir)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".meta.tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        let mut free = Vec::new();
        let mut next = 0;
        for e in fs::read_dir(&free_dir)?.flatten() {
            let name = e.file_name();
            let n = name.to_str().and_then(|n| n.parse::<u64>().ok());
            // A gateway that died while recycling may have left a file unemptied.
            match n {
                Some(n) if free.len() < MAX_FREE && empty(&e.path()).is_ok() => {
                    next = next.max(n + 1);
                    free.push(e.path());
                }
                _ => {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(Arc::new(Spool {
            dir: dir.to_owned(),
            free_dir,
            free: Mutex::new(free),
            next_free_name: AtomicU64::new(next),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates an entry: the metadata is on disk (fsynced, renamed into place) before any
    /// audio, and the (empty) WAV file exists.
    pub fn create(self: &Arc<Self>, id: &str, meta: &SpoolMeta) -> std::io::Result<SpoolEntry> {
        let text = toml::to_string(meta).map_err(std::io::Error::other)?;
        let meta_path = self.dir.join(format!("{id}.meta"));
        let tmp = self.dir.join(format!(".{id}.meta.tmp"));
        self.reuse_as(&tmp);
        let written = fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, &meta_path));
        if let Err(e) = written {
            // A full disk fails here: leave no half-written metadata behind.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::File::open(&self.dir)?.sync_all()?;
        let wav = self.dir.join(format!("{id}.wav"));
        self.reuse_as(&wav);
        Ok(SpoolEntry {
            id: id.to_owned(),
            wav,
            meta_path,
            spool: Arc::clone(self),
        })
    }

    /// Moves a free (empty) file to `path`, if there is one; else `path` is created by its
    /// writer as usual.
    fn reuse_as(&self, path: &Path) {
        loop {
            let Some(file) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
                return;
            };
            // A file an operator removed is simply skipped.
            if fs::rename(&file, path).is_ok() {
                return;
            }
        }
    }

    /// Moves `path` out of the spool (atomically: the entry sees it gone, as with a delete),
    /// empties it and keeps it for reuse; deletes it when enough are kept.
    fn recycle(&self, path: &Path) -> std::io::Result<()> {
        let full = self.free.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_FREE;
        if full {
            return fs::remove_file(path);
        }
        let name = self.next_free_name.fetch_add(1, Ordering::Relaxed);
        let target = self.free_dir.join(name.to_string());
        fs::rename(path, &target)?;
        // Only an emptied file joins the pool (`open` empties what a crash left in between).
        match empty(&target) {
            Ok(()) => self
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(target),
            Err(_) => {
                let _ = fs::remove_file(&target);
            }
        }
        Ok(())
    }
}

/// Cuts a file to nothing.
pub(super) fn empty(path: &Path) -> std::io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(0))
}

/// One recording in the spool.
#[derive(Debug)]
pub struct SpoolEntry {
    pub id: String,
    pub wav: PathBuf,
    meta_path: PathBuf,
    spool: Arc<Spool>,
}

impl SpoolEntry {
    fn marker(&self) -> PathBuf {
        self.meta_path.with_extension("retry")
    }

    /// Marks the entry for background delivery after a failed deposit. `crash`: the entry
    /// was left by a gateway that died, and its message says so.
    pub fn mark_pending(&self, crash: bool) -> std::io::Result<()> {
        let marker = self.marker();
        fs::write(&marker, if crash { "crash" } else { "retry" })?;
        // The marker must survive a crash too, or the entry would only go at the next start.
        fs::File::open(&marker)?.sync_all()
    }

    /// Removes the entry once its message is committed (or it is not worth keeping). The
    /// metadata goes last: while it exists the entry is recovered (idempotently).
    pub fn remove(&self) {
        let _ = self.spool.recycle(&self.wav);
        let _ = fs::remove_file(self.marker());
        if let Err(e) = self.spool.recycle(&self.meta_path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(path = %self.meta_path.display(), error = %e, "cannot remove spool entry");
            }
        }
    }
}

/// A message recovered at start-up, for the MWI that follows.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub mailbox_id: String,
    pub mailbox_address: String,
    pub notify_target: Option<String>,
    pub kind: MessageKind,
}

/// Deposits every spool entry left by a gateway that died mid-call. Entries that cannot be
/// deposited stay in the spool, marked for [`Retry`] (and are logged).
pub fn recover(
    spool: &Arc<Spool>,
    store: &dyn Mailbox,
    email: Option<&Notifier>,
) -> Vec<Recovered> {
    let mut out = Vec::new();
    for (entry, meta) in entries(spool, |_| true) {
        match deliver(&entry, meta, store, email, true) {
            Ok(r) => out.push(r),
            Err(e) => {
                error!(
                    error = %e, wav = %entry.wav.display(),
                    "cannot deposit a recovered recording; it stays in the spool and is retried"
                );
                if let Err(e) = entry.mark_pending(true) {
                    error!(error = %e, "cannot mark the spool entry for retry");
                }
            }
        }
    }
    out
}

/// The readable entries of the spool whose id passes `want`, oldest name first.
fn entries(spool: &Arc<Spool>, want: impl Fn(&str) -> bool) -> Vec<(SpoolEntry, SpoolMeta)> {
    let dir = spool.dir();
    let Ok(list) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut metas: Vec<PathBuf> = list
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "meta"))
        .collect();
    metas.sort();
    let mut out = Vec::new();
    for meta_path in metas {
        let Some(id) = meta_path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if !want(&id) {
            continue;
        }
        let meta: SpoolMeta = match fs::read_to_string(&meta_path)
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(e) => {
                error!(path = %meta_path.display(), error = %e, "unreadable spool entry left in place");
                continue;
            }
        };
        let entry = SpoolEntry {
            wav: dir.join(format!("{id}.wav")),
            id,
            meta_path,
            spool: Arc::clone(spool),
        };
        out.push((entry, meta));
    }
    out
}

/// Bytes of the header `Recorder` writes before the first sample.
const WAV_HEADER_LEN: u64 = 44;

/// Deposits one entry (its WAV repaired first) and removes it once the store committed.
fn deliver(
    entry: &SpoolEntry,
    meta: SpoolMeta,
    store: &dyn Mailbox,
    email: Option<&Notifier>,
    recovered: bool,
) -> Result<Recovered, StoreError> {
    // A WAV without even its header (the call died before the first flush, or during the
    // greeting, when the file is made but empty) holds no audio.
    let has_audio = fs::metadata(&entry.wav).is_ok_and(|m| m.len() > WAV_HEADER_LEN);
    let samples = if has_audio {
        recorder::repair(&entry.wav).map_err(|e| StoreError::Audio {
            path: entry.wav.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
    } else {
        0
    };
    let kind = if samples * 1000 >= meta.min_message_ms * 8000 && samples > 0 {
        MessageKind::VoiceMail
    } else {
        MessageKind::MissedCall
    };
    let msg = NewMessage {
        kind,
        caller: meta.caller.clone(),
        caller_name: meta.caller_name.clone(),
        mailbox_address: meta.mailbox_address.clone(),
        mailbox_name: meta.mailbox_name.clone(),
        received: meta.received(),
        duration: Duration::from_millis(samples / 8),
        call_id: meta.call_id.clone(),
        audio: (kind == MessageKind::VoiceMail).then(|| entry.wav.clone()),
        delivery_id: Some(entry.id.clone()),
        recovered,
        // Receive statistics live with the call; a message delivered later goes without.
        media_stats: None,
        cut_short: None,
        preview: None,
        forwarded: None,
        marks: crate::domain::Marks::default(),
    };
    let stored = MailboxId::new(&meta.mailbox_id).and_then(|id| store.deposit(&id, &msg))?;
    info!(
        id = %stored, mailbox = %meta.mailbox_id, call_id = %meta.call_id, ?kind, recovered,
        seconds = samples as f32 / 8000.0, "spooled recording delivered"
    );
    if let (Some(email), Some(to)) = (email, &meta.notify_email) {
        email.notify(to, &msg);
    }
    entry.remove();
    Ok(Recovered {
        mailbox_id: meta.mailbox_id,
        mailbox_address: meta.mailbox_address,
        notify_target: meta.notify_target,
        kind,
    })
}

/// Background delivery of entries whose deposit failed, with per-entry exponential back-off.
#[derive(Debug)]
pub struct Retry {
    initial: Duration,
    max: Duration,
    /// Entry id → (next attempt, current delay).
    due: HashMap<String, (Instant, Duration)>,
}

impl Retry {
    /// First retry after `initial`, doubling per failure up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Retry {
        Retry {
            initial,
            max: max.max(initial),
            due: HashMap::new(),
        }
    }

    /// One pass over the marked entries: delivers those that are due; returns what was
    /// delivered (for MWI).
    pub fn pass(
        &mut self,
        spool: &Arc<Spool>,
        store: &dyn Mailbox,
        email: Option<&Notifier>,
        now: Instant,
    ) -> Vec<Recovered> {
        let mut delivered = Vec::new();
        let mut seen = Vec::new();
        let dir = spool.dir();
        let pending = entries(spool, |id| dir.join(format!("{id}.retry")).exists());
        for (entry, meta) in pending {
            seen.push(entry.id.clone());
            let initial = self.initial;
            let (at, delay) = *self
                .due
                .entry(entry.id.clone())
                .or_insert((now + initial, initial));
            if at > now {
                continue;
            }
            let crash = fs::read_to_string(entry.marker()).is_ok_and(|t| t.trim() == "crash");
            match deliver(&entry, meta, store, email, crash) {
                Ok(r) => {
                    self.due.remove(&entry.id);
                    delivered.push(r);
                }
                Err(e) => {
                    let next = (delay * 2).min(self.max);
                    warn!(
                        error = %e, spool = %entry.id, retry_in_ms = next.as_millis() as u64,
                        "spooled recording still not delivered"
                    );
                    self.due.insert(entry.id.clone(), (now + next, next));
                }
            }
        }
        // Forget entries that went away (delivered by a restart, removed by an operator).
        self.due.retain(|id, _| seen.contains(id));
        delivered
    }

    /// Entries waiting for a retry.
    pub fn pending(&self) -> usize {
        self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::G711;
    use crate::media::recorder::Recorder;
    use crate::media::rtp::RtpPacket;
    use crate::store::{GreetingKind, Maildir};

    /// A spool and a Maildir store in a fresh directory.
    fn fixture() -> (tempfile::TempDir, Arc<Spool>, Maildir) {
        let t = tempfile::tempdir().unwrap();
        let spool = Spool::open(&t.path().join("spool")).unwrap();
        let store = Maildir::with_host(t.path().join("mail"), "gw").unwrap();
        (t, spool, store)
    }

    /// Names in the spool directory besides `free/`.
    fn left(spool: &Spool) -> Vec<String> {
        fs::read_dir(spool.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "free")
            .collect()
    }

    fn meta() -> SpoolMeta {
        SpoolMeta {
            mailbox_id: "alice".into(),
            mailbox_address: "sip:alice@contoso.com".into(),
            mailbox_name: None,
            caller: Some("+14255550199".into()),
            caller_name: None,
            call_id: "c1".into(),
            received_unix_ms: 1_700_000_000_000,
            min_message_ms: 1000,
            notify_target: None,
            notify_email: None,
        }
    }

    /// A recorder at `wav` that has recorded two seconds of audio.
    fn two_seconds(wav: &Path) -> Recorder {
        let mut rec = Recorder::create(wav).unwrap();
        let payload = [0x20u8; 160];
        for i in 0..100u16 {
            let p = RtpPacket {
                marker: false,
                payload_type: 0,
                sequence: i,
                timestamp: u32::from(i) * 160,
                ssrc: 1,
                payload: &payload,
            };
            rec.push(G711::Pcmu, &p).unwrap();
        }
        rec
    }

    #[test]
    fn crashed_recording_is_deposited_once_and_marked() {
        let (_t, spool, store) = fixture();
        let entry = spool.create("alice-0001", &meta()).unwrap();
        let mut rec = two_seconds(&entry.wav);
        rec.flush().unwrap();
        std::mem::forget(rec); // killed

        // A crash after the deposit but before the spool was cleared: recovery must not
        // store the message twice.
        let first = recover(&spool, &store, None);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].kind, MessageKind::VoiceMail);
        let entry = spool.create("alice-0001", &meta()).unwrap();
        Recorder::create(&entry.wav).unwrap().finish(None).unwrap();
        recover(&spool, &store, None);
        let mb = MailboxId::new("alice").unwrap();
        let list = store.list(&mb).unwrap();
        assert_eq!(list.len(), 1, "delivered exactly once");
        let raw = store.read(&mb, &list[0].id).unwrap();
        let parsed = crate::store::message::parse(&raw).unwrap();
        assert!(parsed
            .headers
            .iter()
            .any(|(k, v)| k == "X-UMGW-Recovered" && v == "crash"));
        assert!(parsed.audio_wav.is_some());
        assert_eq!(left(&spool), Vec::<String>::new(), "spool emptied");
    }

    #[test]
    fn a_recovered_recording_gets_its_e_mail_notice_once() {
        let (t, spool, store) = fixture();
        let with_email = SpoolMeta {
            notify_email: Some(Recipient {
                address: "alice@mail.test".into(),
                attach_audio: None,
            }),
            ..meta()
        };
        // Older spool entries have no notify_email: they still load.
        let old: SpoolMeta = toml::from_str(&toml::to_string(&meta()).unwrap()).unwrap();
        assert_eq!(old.notify_email, None);
        let entry = spool.create("alice-0003", &with_email).unwrap();
        let mut rec = two_seconds(&entry.wav);
        rec.flush().unwrap();
        std::mem::forget(rec); // killed
                               // A server nobody listens on: the notice stays in the outbox.
        let cfg = crate::config::EmailConfig {
            smtp_server: "127.0.0.1:9".into(),
            tls: "none".into(),
            from: "vm@contoso.com".into(),
            ..Default::default()
        };
        let email = Notifier::start(&cfg, t.path(), Default::default())
            .unwrap()
            .unwrap();
        assert_eq!(recover(&spool, &store, Some(&email)).len(), 1);
        email.stop();
        let outbox = crate::email::outbox::Outbox::open(&t.path().join("outbox")).unwrap();
        let names = outbox.list().unwrap();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(
            names[0].ends_with("-alice-0003"),
            "named by the delivery id"
        );
        let notice = outbox.read(&names[0]).unwrap();
        assert_eq!(notice.to, "alice@mail.test");
        let parsed = crate::store::message::parse(&notice.message).unwrap();
        assert!(parsed.audio_wav.is_some());
    }

    #[test]
    fn half_written_metadata_is_gone_at_the_next_start() {
        let (_t, spool, store) = fixture();
        // A crash (or a full disk) between creating the metadata and renaming it into place.
        fs::write(spool.dir().join(".alice-0009.meta.tmp"), "").unwrap();
        fs::write(
            spool.dir().join(".alice-0010.meta.tmp"),
            "mailbox_id = \"al",
        )
        .unwrap();
        let reopened = Spool::open(spool.dir()).unwrap();
        assert_eq!(left(&reopened), Vec::<String>::new());
        assert!(recover(&reopened, &store, None).is_empty());
    }

    #[test]
    fn call_killed_before_its_first_flush_becomes_a_missed_call() {
        let (_t, spool, store) = fixture();
        let entry = spool.create("alice-0002", &meta()).unwrap();
        std::mem::forget(Recorder::create(&entry.wav).unwrap()); // killed: header never written
        assert_eq!(fs::metadata(&entry.wav).unwrap().len(), 0);
        let recovered = recover(&spool, &store, None);
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].kind, MessageKind::MissedCall);
        assert_eq!(left(&spool), Vec::<String>::new(), "spool emptied");
    }

    #[test]
    fn removed_entries_are_emptied_and_their_files_reused() {
        use std::os::unix::fs::MetadataExt;
        let (_t, spool, store) = fixture();
        let inode = |p: &Path| fs::metadata(p).unwrap().ino();
        let first = spool.create("alice-0003", &meta()).unwrap();
        let rec = two_seconds(&first.wav);
        rec.finish(None).unwrap();
        let mut used = vec![inode(&first.wav), inode(&first.meta_path)];
        first.remove();
        assert!(left(&spool).is_empty(), "{:?}", left(&spool));
        let free: Vec<fs::Metadata> = fs::read_dir(spool.dir().join("free"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap())
            .collect();
        assert_eq!(free.len(), 2);
        assert!(free.iter().all(|m| m.len() == 0), "emptied before reuse");

        let second = spool.create("alice-0004", &meta()).unwrap();
        let mut reused = vec![inode(&second.wav), inode(&second.meta_path)];
        used.sort();
        reused.sort();
        assert_eq!(used, reused, "no new inode for a new entry");
        assert_eq!(fs::metadata(&second.wav).unwrap().len(), 0);
        // Killed now: the entry is a missed call, never the first call's audio.
        let recovered = recover(&spool, &store, None);
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].kind, MessageKind::MissedCall);
        // A gateway that died between moving a file to free/ and emptying it: the next start
        // empties it before it can be reused.
        let free_dir = spool.dir().join("free");
        let stale = fs::read_dir(&free_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        fs::write(&stale, b"another call's audio").unwrap();
        let reopened = Spool::open(spool.dir()).unwrap();
        assert_eq!(reopened.free.lock().unwrap().len(), 2);
        assert_eq!(fs::metadata(&stale).unwrap().len(), 0);
        let third = reopened.create("alice-0005", &meta()).unwrap();
        assert!(used.contains(&inode(&third.wav)));
    }

    /// A store that is down while `down` is set.
    struct Flaky {
        inner: Maildir,
        down: std::sync::atomic::AtomicBool,
    }

    impl Mailbox for Flaky {
        fn check(&self) -> Result<(), StoreError> {
            self.inner.check()
        }
        fn deposit(&self, m: &MailboxId, msg: &NewMessage) -> Result<String, StoreError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable {
                    server: "mail:143".into(),
                    reason: "connection refused".into(),
                });
            }
            self.inner.deposit(m, msg)
        }
        fn counts(&self, m: &MailboxId) -> Result<crate::store::Counts, StoreError> {
            self.inner.counts(m)
        }
        fn list(&self, m: &MailboxId) -> Result<Vec<crate::store::StoredMessage>, StoreError> {
            self.inner.list(m)
        }
        fn read(&self, m: &MailboxId, id: &str) -> Result<Vec<u8>, StoreError> {
            self.inner.read(m, id)
        }
        fn greeting(
            &self,
            m: &MailboxId,
            kind: GreetingKind,
        ) -> Result<Option<PathBuf>, StoreError> {
            self.inner.greeting(m, kind)
        }
        fn set_seen(&self, m: &MailboxId, id: &str, seen: bool) -> Result<(), StoreError> {
            self.inner.set_seen(m, id, seen)
        }
        fn delete(&self, m: &MailboxId, id: &str) -> Result<(), StoreError> {
            self.inner.delete(m, id)
        }
        fn set_deleted(&self, m: &MailboxId, id: &str, on: bool) -> Result<(), StoreError> {
            self.inner.set_deleted(m, id, on)
        }
        fn purge(&self, m: &MailboxId, id: &str) -> Result<(), StoreError> {
            self.inner.purge(m, id)
        }
        fn save_greeting(
            &self,
            m: &MailboxId,
            kind: GreetingKind,
            wav: &Path,
        ) -> Result<(), StoreError> {
            self.inner.save_greeting(m, kind, wav)
        }
        fn delete_greeting(&self, m: &MailboxId, kind: GreetingKind) -> Result<(), StoreError> {
            self.inner.delete_greeting(m, kind)
        }
        fn pin_state(
            &self,
            m: &MailboxId,
            policy: &crate::store::pin::PinPolicy,
        ) -> Result<crate::store::pin::PinStore, StoreError> {
            self.inner.pin_state(m, policy)
        }
        fn log_on(
            &self,
            m: &MailboxId,
            pin: &str,
            policy: &crate::store::pin::PinPolicy,
        ) -> Result<crate::store::pin::LogOn, StoreError> {
            self.inner.log_on(m, pin, policy)
        }
        fn set_pin(
            &self,
            m: &MailboxId,
            pin: &str,
            extension: &str,
            policy: &crate::store::pin::PinPolicy,
            by: crate::store::pin::PinSetter,
        ) -> Result<(), StoreError> {
            self.inner.set_pin(m, pin, extension, policy, by)
        }
        fn unlock(
            &self,
            m: &MailboxId,
            policy: &crate::store::pin::PinPolicy,
        ) -> Result<(u32, bool), StoreError> {
            self.inner.unlock(m, policy)
        }
    }

    #[test]
    fn retry_delivers_marked_entries_with_back_off_and_leaves_others() {
        let (_t, spool, inner) = fixture();
        let store = Flaky {
            inner,
            down: true.into(),
        };
        let failed = spool.create("alice-failed", &meta()).unwrap();
        Recorder::create(&failed.wav).unwrap().finish(None).unwrap();
        failed.mark_pending(false).unwrap();
        // A recording still in progress has no marker: never touched.
        let live = spool.create("alice-live", &meta()).unwrap();

        let ms = Duration::from_millis;
        let mut r = Retry::new(ms(100), ms(300));
        let t0 = Instant::now();
        assert!(
            r.pass(&spool, &store, None, t0).is_empty(),
            "first sight: wait"
        );
        assert_eq!(r.pending(), 1);
        assert!(
            r.pass(&spool, &store, None, t0 + ms(100)).is_empty(),
            "store down"
        );
        assert!(
            r.pass(&spool, &store, None, t0 + ms(250)).is_empty(),
            "backing off (200 ms)"
        );
        assert!(
            r.pass(&spool, &store, None, t0 + ms(300)).is_empty(),
            "still down"
        );
        store.down.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(
            r.pass(&spool, &store, None, t0 + ms(500)).is_empty(),
            "capped at 300 ms"
        );
        let done = r.pass(&spool, &store, None, t0 + ms(600));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].kind, MessageKind::MissedCall, "empty recording");
        assert!(r.pass(&spool, &store, None, t0 + ms(5000)).is_empty());
        assert_eq!(r.pending(), 0);
        let mb = MailboxId::new("alice").unwrap();
        assert_eq!(store.list(&mb).unwrap().len(), 1);
        assert!(!failed.wav.exists() && !failed.marker().exists());
        assert!(live.meta_path.exists(), "the live entry stays");
    }
}
