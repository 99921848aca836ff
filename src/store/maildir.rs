//! Maildir backend: one Maildir per mailbox under a store root.
//!
//! Layout: `<root>/<mailbox>/{tmp,new,cur}` (mode 0700, created on first deposit) and the user's
//! greeting at `<root>/<mailbox>/greeting.wav`. A deposit is written to `tmp/`, synced, renamed into
//! `new/` and the `new/` directory is synced: readers (this code, Dovecot, a MUA) never see a
//! partial message. Message ids follow the Maildir convention
//! `<secs>.M<micros>P<pid>R<random>.<host>`, unique across processes and hosts sharing the store.
//!
//! Flags follow the Maildir `:2,` info suffix on names in `cur/`: `S` seen, `T` trashed (ignored).
//! Everything in `new/` is unseen. Dotfiles are ignored.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::message::{self, H_CALLER, H_KIND, H_RECEIVED};
use super::pin::{LogOn, PinPolicy, PinSetter, PinStore};
use super::{
    valid_delivery_id, Counts, GreetingKind, IdRng, Mailbox, MailboxId, MessageKind, NewMessage,
    StoreError, StoredMessage,
};

/// Most header bytes read to classify a message (ours are about 1 KiB).
const HEADER_READ_MAX: usize = 64 * 1024;
/// Scans repeated when a message moved under us (a MUA or IMAP server marking it seen).
const SCAN_ATTEMPTS: usize = 3;
/// Longest accepted message id (a file name).
const ID_MAX: usize = 255;

/// A Maildir++-style store rooted at one directory.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    host: String,
    audio_format: super::audio::AudioFormat,
    ids: IdRng,
}

impl Maildir {
    /// Opens (creating with mode 0700 if needed) the store at `root`; the host part of message
    /// ids is this machine's host name.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::with_host(root, &system_hostname())
    }

    /// Like [`Maildir::open`] with an explicit host name (for ids and `Message-ID`).
    pub fn with_host(root: impl Into<PathBuf>, host: &str) -> Result<Self, StoreError> {
        let root = root.into();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(StoreError::io("create store root", &root))?;
        Ok(Maildir {
            root,
            host: maildir_host(host),
            audio_format: Default::default(),
            ids: IdRng::default(),
        })
    }

    /// Attaches recordings in `format` (`store.audio_format`).
    pub fn with_audio_format(mut self, format: super::audio::AudioFormat) -> Self {
        self.audio_format = format;
        self
    }

    /// Draws unique names, boundaries and `Message-ID`s from a generator seeded with `seed`
    /// (tests that compare them; the default is seeded from the OS).
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.ids = IdRng::seeded(seed);
        self
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Maildir of `mailbox` (may not exist yet).
    pub fn mailbox_dir(&self, mailbox: &MailboxId) -> PathBuf {
        self.root.join(mailbox.as_str())
    }

    /// Creates the mailbox's `tmp`, `new` and `cur` if missing; makes new entries durable.
    fn ensure_dirs(&self, mailbox: &MailboxId) -> Result<PathBuf, StoreError> {
        let dir = self.mailbox_dir(mailbox);
        if dir.join("new").is_dir() && dir.join("tmp").is_dir() && dir.join("cur").is_dir() {
            return Ok(dir);
        }
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for sub in ["tmp", "new", "cur"] {
            let p = dir.join(sub);
            builder
                .create(&p)
                .map_err(StoreError::io("create directory", &p))?;
        }
        // New directory entries are only durable once their parents are synced.
        fsync_dir(&dir)?;
        fsync_dir(&self.root)?;
        Ok(dir)
    }

    /// A fresh Maildir unique name for time `now`.
    fn unique_name(&self, now: SystemTime) -> String {
        let d = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        format!(
            "{}.M{}P{}R{:016x}.{}",
            d.as_secs(),
            d.subsec_micros(),
            std::process::id(),
            self.ids.next_u64(),
            self.host
        )
    }

    /// The id of a message in `new/` or `cur/` whose name contains `marker`.
    fn find_by_marker(&self, dir: &Path, marker: &str) -> Result<Option<String>, StoreError> {
        for sub in ["new", "cur"] {
            let d = dir.join(sub);
            let entries = match fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("read directory", &d)(e)),
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.contains(marker) {
                    return Ok(Some(name.split(':').next().unwrap_or(&name).to_owned()));
                }
            }
        }
        Ok(None)
    }

    /// One pass over `new/` and `cur/`; the flag is true if a message vanished mid-scan.
    fn scan_once(&self, mailbox: &MailboxId) -> Result<(Vec<StoredMessage>, bool), StoreError> {
        let dir = self.mailbox_dir(mailbox);
        // Keyed by id: a message moved new/ → cur/ during the scan is seen twice; cur/ wins.
        let mut found: HashMap<String, StoredMessage> = HashMap::new();
        let mut vanished = false;
        for (sub, in_cur) in [("new", false), ("cur", true)] {
            let d = dir.join(sub);
            let entries = match fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("read directory", &d)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(StoreError::io("read directory", &d))?;
                let name = entry.file_name();
                // Names that are not UTF-8 or start with '.' are not messages of ours.
                let Some(name) = name.to_str() else { continue };
                if name.starts_with('.') {
                    continue;
                }
                let (id, flags) = if in_cur { split_info(name) } else { (name, "") };
                if flags.contains('T') {
                    continue;
                }
                let path = entry.path();
                let info = match read_header_info(&path) {
                    Ok(Some(info)) => info,
                    // Not a regular file: not a message.
                    Ok(None) => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        vanished = true;
                        continue;
                    }
                    Err(e) => return Err(StoreError::io("read message", &path)(e)),
                };
                found.insert(
                    id.to_owned(),
                    StoredMessage {
                        id: id.to_owned(),
                        kind: info.kind,
                        seen: in_cur && flags.contains('S'),
                        urgent: info.urgent,
                        caller: info.caller,
                        received: info.received,
                        size: info.size,
                    },
                );
            }
        }
        let mut list: Vec<StoredMessage> = found.into_values().collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((list, vanished))
    }

    /// Sets (`on`) or clears Maildir flag `flag` of message `id`, moving it into `cur/`.
    fn set_flag(
        &self,
        mailbox: &MailboxId,
        id: &str,
        flag: char,
        on: bool,
    ) -> Result<(), StoreError> {
        validate_id(id)?;
        let dir = self.mailbox_dir(mailbox);
        let Some(path) = self.locate(mailbox, id)? else {
            return Err(StoreError::NotFound {
                mailbox: mailbox.to_string(),
                id: id.chars().take(80).collect(),
            });
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(id)
            .to_owned();
        let (base, flags) = split_info(&name);
        // Maildir flags are kept sorted (ASCII order).
        let mut flags: Vec<char> = flags.chars().filter(|&c| c != flag).collect();
        if on {
            flags.push(flag);
        }
        flags.sort_unstable();
        let flags: String = flags.into_iter().collect();
        let target = dir.join("cur").join(format!("{base}:2,{flags}"));
        if target != path {
            fs::rename(&path, &target).map_err(StoreError::io("rename", &path))?;
            sync_dir(&dir.join("cur"))?;
        }
        Ok(())
    }

    /// Finds the file of message `id` in `new/` or `cur/`.
    fn locate(&self, mailbox: &MailboxId, id: &str) -> Result<Option<PathBuf>, StoreError> {
        let dir = self.mailbox_dir(mailbox);
        let p = dir.join("new").join(id);
        if p.is_file() {
            return Ok(Some(p));
        }
        let cur = dir.join("cur");
        let entries = match fs::read_dir(&cur) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read directory", &cur)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(StoreError::io("read directory", &cur))?;
            if let Some(name) = entry.file_name().to_str() {
                if split_info(name).0 == id {
                    return Ok(Some(entry.path()));
                }
            }
        }
        Ok(None)
    }
}

impl Mailbox for Maildir {
    fn check(&self) -> Result<(), StoreError> {
        // Every mailbox lives below the root: a root that cannot be listed (unmounted, its
        // permissions changed) fails every deposit.
        std::fs::read_dir(&self.root)
            .map(drop)
            .map_err(StoreError::io("list store root", &self.root))
    }

    fn deposit(&self, mailbox: &MailboxId, msg: &NewMessage) -> Result<String, StoreError> {
        // Read the audio first: a failure here leaves nothing behind, and the source file is
        // only ever read, never moved or deleted.
        let audio = super::attachment(msg, self.audio_format)?;
        let bytes = message::render(msg, audio.as_deref(), &self.host, &mut self.ids.fork());
        let dir = self.ensure_dirs(mailbox)?;
        let id = match &msg.delivery_id {
            Some(delivery) => {
                if !valid_delivery_id(delivery) {
                    return Err(StoreError::InvalidMessageId {
                        id: delivery.chars().take(80).collect(),
                    });
                }
                // Already delivered (a retry after a crash): the same message, once.
                let marker = format!(".U{delivery}.");
                if let Some(existing) = self.find_by_marker(&dir, &marker)? {
                    return Ok(existing);
                }
                let d = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO);
                format!("{}{marker}{}", d.as_secs(), self.host)
            }
            None => self.unique_name(SystemTime::now()),
        };
        commit(&dir, &id, &bytes)?;
        Ok(id)
    }

    fn counts(&self, mailbox: &MailboxId) -> Result<Counts, StoreError> {
        let mut c = Counts::default();
        for m in self.list(mailbox)? {
            if m.kind != MessageKind::VoiceMail {
                continue;
            }
            let slot = if m.seen { &mut c.old } else { &mut c.new };
            *slot = slot.saturating_add(1);
            if m.urgent {
                let slot = if m.seen {
                    &mut c.urgent_old
                } else {
                    &mut c.urgent_new
                };
                *slot = slot.saturating_add(1);
            }
        }
        Ok(c)
    }

    fn list(&self, mailbox: &MailboxId) -> Result<Vec<StoredMessage>, StoreError> {
        let mut attempt = 1;
        loop {
            let (list, vanished) = self.scan_once(mailbox)?;
            // Still racing with a busy client after the last attempt: report what was read.
            if !vanished || attempt == SCAN_ATTEMPTS {
                return Ok(list);
            }
            attempt += 1;
        }
    }

    fn read(&self, mailbox: &MailboxId, id: &str) -> Result<Vec<u8>, StoreError> {
        if id.is_empty()
            || id.len() > ID_MAX
            || id.starts_with('.')
            || id.contains(['/', '\0', ':'])
        {
            return Err(StoreError::InvalidMessageId {
                id: id.chars().take(80).collect(),
            });
        }
        // A flag change renames the file in cur/; retry if it moved between locate and read.
        for _ in 0..SCAN_ATTEMPTS {
            let Some(path) = self.locate(mailbox, id)? else {
                break;
            };
            let read = open_regular(&path).and_then(|f| {
                let mut buf = Vec::new();
                match f {
                    Some(mut f) => f.read_to_end(&mut buf).map(|_| Some(buf)),
                    None => Ok(None),
                }
            });
            match read {
                Ok(Some(b)) => return Ok(b),
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("read message", &path)(e)),
            }
        }
        Err(StoreError::NotFound {
            mailbox: mailbox.to_string(),
            id: id.to_owned(),
        })
    }

    fn greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
    ) -> Result<Option<PathBuf>, StoreError> {
        let p = self.mailbox_dir(mailbox).join(kind.file_name());
        match fs::metadata(&p) {
            Ok(m) if m.is_file() => Ok(Some(p)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("stat greeting", &p)(e)),
        }
    }

    fn set_seen(&self, mailbox: &MailboxId, id: &str, seen: bool) -> Result<(), StoreError> {
        self.set_flag(mailbox, id, 'S', seen)
    }

    fn set_deleted(&self, mailbox: &MailboxId, id: &str, deleted: bool) -> Result<(), StoreError> {
        self.set_flag(mailbox, id, 'T', deleted)
    }

    fn purge(&self, mailbox: &MailboxId, id: &str) -> Result<(), StoreError> {
        validate_id(id)?;
        let Some(path) = self.locate(mailbox, id)? else {
            return Ok(());
        };
        let trashed = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            path.parent().is_some_and(|p| p.ends_with("cur")) && split_info(n).1.contains('T')
        });
        if !trashed {
            return Ok(());
        }
        self.delete(mailbox, id)
    }

    fn delete(&self, mailbox: &MailboxId, id: &str) -> Result<(), StoreError> {
        validate_id(id)?;
        match self.locate(mailbox, id)? {
            Some(path) => match fs::remove_file(&path) {
                Ok(()) => sync_dir(path.parent().unwrap_or(&self.root)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io("remove", &path)(e)),
            },
            None => Ok(()),
        }
    }

    fn save_greeting(
        &self,
        mailbox: &MailboxId,
        kind: GreetingKind,
        wav: &Path,
    ) -> Result<(), StoreError> {
        let dir = self.ensure_dirs(mailbox)?;
        let bytes = fs::read(wav).map_err(|source| StoreError::Audio {
            path: wav.to_owned(),
            source,
        })?;
        let tmp = dir.join(format!(".{}.tmp", kind.file_name()));
        let target = dir.join(kind.file_name());
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            StoreError::io("write greeting", &target)(e)
        })
    }

    fn delete_greeting(&self, mailbox: &MailboxId, kind: GreetingKind) -> Result<(), StoreError> {
        let dir = self.mailbox_dir(mailbox);
        let path = dir.join(kind.file_name());
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove", &path)(e)),
        }
    }

    fn pin_state(&self, mailbox: &MailboxId, _policy: &PinPolicy) -> Result<PinStore, StoreError> {
        Ok(PinStore::load(&self.mailbox_dir(mailbox))?)
    }

    fn log_on(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        policy: &PinPolicy,
    ) -> Result<LogOn, StoreError> {
        // Check and count under the mailbox's lock: parallel calls (and `umgw mailbox` beside
        // the gateway) cannot lose a count or verify past the limit.
        Ok(PinStore::update(&self.mailbox_dir(mailbox), |p| {
            Ok(p.log_on(pin, policy))
        })?)
    }

    fn set_pin(
        &self,
        mailbox: &MailboxId,
        pin: &str,
        extension: &str,
        policy: &PinPolicy,
        by: PinSetter,
    ) -> Result<(), StoreError> {
        Ok(PinStore::update(&self.mailbox_dir(mailbox), |p| {
            p.set(pin, extension, policy)?;
            p.must_change = by == PinSetter::Administrator;
            Ok(())
        })?)
    }

    fn unlock(&self, mailbox: &MailboxId, _policy: &PinPolicy) -> Result<(u32, bool), StoreError> {
        Ok(PinStore::update(&self.mailbox_dir(mailbox), |p| {
            let before = (p.failed_attempts, p.locked);
            p.unlock();
            Ok(before)
        })?)
    }
}

/// Message ids are file names inside the mailbox: no separators, no flags, no dotfiles.
fn validate_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > ID_MAX || id.starts_with('.') || id.contains(['/', '\0', ':']) {
        return Err(StoreError::InvalidMessageId {
            id: id.chars().take(80).collect(),
        });
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io("sync directory", dir))
}

/// Writes `bytes` to `dir/tmp/id`, syncs it, renames it to `dir/new/id` and syncs `new/`.
/// On failure before the rename the tmp file is removed.
fn commit(dir: &Path, id: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join("tmp").join(id);
    let new = dir.join("new").join(id);
    // create_new: never clobber (or later delete) a file that is not ours.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(StoreError::io("create", &tmp))?;
    let written = file
        .write_all(bytes)
        .map_err(StoreError::io("write", &tmp))
        .and_then(|()| file.sync_all().map_err(StoreError::io("fsync", &tmp)));
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, &new) {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("rename into new/", &new)(e));
    }
    // The message is visible now; if this sync fails the caller gets an error although the
    // message may survive: a possible duplicate is better than a silently lost message.
    fsync_dir(&dir.join("new"))
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io("fsync directory", dir))
}

/// `id:2,FLAGS` → (`id`, `FLAGS`); a name without `:2,` has no flags.
fn split_info(name: &str) -> (&str, &str) {
    match name.rfind(":2,") {
        Some(i) => (&name[..i], &name[i + 3..]),
        None => match name.find(':') {
            // Experimental `:1,` info or garbage: keep the id, no flags.
            Some(i) => (&name[..i], ""),
            None => (name, ""),
        },
    }
}

struct HeaderInfo {
    kind: MessageKind,
    caller: Option<String>,
    received: Option<SystemTime>,
    urgent: bool,
    size: u64,
}

/// Opens `path` for reading if it is a regular file. Non-blocking open, so a FIFO planted in
/// the Maildir cannot hang a scan.
fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    Ok(file.metadata()?.is_file().then_some(file))
}

/// Reads just the header section of a message file to classify it.
///
/// A message whose kind cannot be read counts as a voice mail: a lit lamp for a message the user
/// can see is better than a hidden one.
/// `Ok(None)` if `path` is not a regular file.
fn read_header_info(path: &Path) -> io::Result<Option<HeaderInfo>> {
    let Some(mut file) = open_regular(path)? else {
        return Ok(None);
    };
    let mut info = HeaderInfo {
        kind: MessageKind::VoiceMail,
        caller: None,
        received: None,
        urgent: false,
        size: file.metadata()?.len(),
    };
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_len = loop {
        let n = file.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(len) = message::header_section_len(&buf) {
            break len;
        }
        if n == 0 || buf.len() >= HEADER_READ_MAX {
            // No blank line: use the complete lines we have.
            break buf
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(buf.len(), |p| p + 1);
        }
    };
    let Ok(headers) = message::parse_header_section(&buf[..head_len]) else {
        return Ok(Some(info));
    };
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(kind) = get(H_KIND).and_then(MessageKind::from_header) {
        info.kind = kind;
    }
    info.caller = get(H_CALLER).map(str::to_owned);
    // Counting reads these headers anyway (for the kind): urgency costs no further I/O.
    info.urgent = message::marks_from_headers(get).urgent;
    info.received = get(H_RECEIVED)
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    Ok(Some(info))
}

/// Host part of ids: Maildir escapes `/` and `:`; anything unprintable is dropped.
fn maildir_host(host: &str) -> String {
    let mut out = String::new();
    for c in host.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c if c.is_ascii_graphic() => out.push(c),
            _ => {}
        }
    }
    if out.is_empty() {
        "localhost".to_owned()
    } else {
        out
    }
}

fn system_hostname() -> String {
    crate::net::os::hostname().unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod test;
