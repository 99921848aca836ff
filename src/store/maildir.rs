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
use super::{
    valid_delivery_id, Counts, GreetingKind, Mailbox, MailboxId, MessageKind, NewMessage,
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
        })
    }

    /// Attaches recordings in `format` (`store.audio_format`).
    pub fn with_audio_format(mut self, format: super::audio::AudioFormat) -> Self {
        self.audio_format = format;
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
            rand::random::<u64>(),
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
    fn deposit(&self, mailbox: &MailboxId, msg: &NewMessage) -> Result<String, StoreError> {
        // Read the audio first: a failure here leaves nothing behind, and the source file is
        // only ever read, never moved or deleted.
        let audio = super::attachment(msg, self.audio_format)?;
        let bytes = message::render(msg, audio.as_deref(), &self.host);
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
        // Maildir flags are kept sorted (ASCII order); only S is ours to change.
        let mut flags: Vec<char> = flags.chars().filter(|&c| c != 'S').collect();
        if seen {
            flags.push('S');
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
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for `buf.len()` bytes; the result is read only up to the first
    // NUL (or the whole buffer if the name was truncated without one).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_owned();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::message::parse;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn msg(kind: MessageKind, audio: Option<PathBuf>) -> NewMessage {
        NewMessage {
            kind,
            caller: Some("+14255550123".into()),
            caller_name: Some("Bob".into()),
            mailbox_address: "sip:alice@contoso.com".into(),
            mailbox_name: None,
            received: UNIX_EPOCH + Duration::from_millis(1_700_000_000_456),
            duration: Duration::from_millis(4_321),
            call_id: "call-1".into(),
            audio,
            delivery_id: None,
            recovered: false,
            media_stats: None,
            cut_short: None,
        }
    }

    fn setup() -> (tempfile::TempDir, Maildir, MailboxId, PathBuf, Vec<u8>) {
        let t = tempfile::tempdir().unwrap();
        let store = Maildir::with_host(t.path().join("store"), "gw1.example").unwrap();
        let wav_path = t.path().join("rec.wav");
        let wav: Vec<u8> = b"RIFF\x24\0\0\0WAVEfmt "
            .iter()
            .copied()
            .chain(0..=255u8)
            .collect();
        fs::write(&wav_path, &wav).unwrap();
        (t, store, MailboxId::new("alice").unwrap(), wav_path, wav)
    }

    #[test]
    fn deposit_is_one_file_in_new_and_parses_back() {
        let (_t, store, mb, wav_path, wav) = setup();
        let id = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, Some(wav_path.clone())))
            .unwrap();
        let dir = store.mailbox_dir(&mb);
        assert_eq!(names(&dir.join("new")), vec![id.clone()]);
        assert!(names(&dir.join("tmp")).is_empty());
        assert!(names(&dir.join("cur")).is_empty());
        for sub in ["", "tmp", "new", "cur"] {
            let mode = fs::metadata(dir.join(sub)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{sub}");
        }
        let mode = fs::metadata(dir.join("new").join(&id))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The recording is the caller's to remove.
        assert_eq!(fs::read(&wav_path).unwrap(), wav);

        let raw = fs::read(dir.join("new").join(&id)).unwrap();
        assert_eq!(store.read(&mb, &id).unwrap(), raw);
        let p = parse(&raw).unwrap();
        assert_eq!(p.kind, MessageKind::VoiceMail);
        assert_eq!(p.caller.as_deref(), Some("+14255550123"));
        assert_eq!(p.mailbox_address, "sip:alice@contoso.com");
        assert_eq!(p.call_id, "call-1");
        assert_eq!(p.duration, Duration::from_millis(4_321));
        assert_eq!(
            p.received,
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_456)
        );
        assert_eq!(p.audio_wav.as_deref(), Some(&wav[..]));
        assert!(String::from_utf8_lossy(&raw).contains("@gw1.example>"));
    }

    #[test]
    fn ids_follow_maildir_convention_and_are_unique() {
        let (_t, store, mb, _, _) = setup();
        let store = Arc::new(store);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (store, mb) = (store.clone(), mb.clone());
                std::thread::spawn(move || {
                    (0..10)
                        .map(|_| {
                            store
                                .deposit(&mb, &msg(MessageKind::VoiceMail, None))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        for id in &ids {
            let (secs, rest) = id.split_once(".M").unwrap();
            assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{id}");
            let (micros, rest) = rest.split_once('P').unwrap();
            assert!(micros.parse::<u32>().unwrap() < 1_000_000);
            let (pid, rest) = rest.split_once('R').unwrap();
            assert_eq!(pid.parse::<u32>().unwrap(), std::process::id());
            let (rnd, host) = rest.split_once('.').unwrap();
            assert_eq!(rnd.len(), 16);
            assert!(rnd.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(host, "gw1.example");
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
        assert_eq!(names(&store.mailbox_dir(&mb).join("new")).len(), 40);
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 40, old: 0 });
    }

    #[test]
    fn counts_follow_flags_and_kinds() {
        let (_t, store, mb, wav_path, _) = setup();
        assert_eq!(store.counts(&mb).unwrap(), Counts::default());
        let a = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, Some(wav_path.clone())))
            .unwrap();
        let b = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, Some(wav_path.clone())))
            .unwrap();
        let c = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, None))
            .unwrap();
        let m = store
            .deposit(&mb, &msg(MessageKind::MissedCall, None))
            .unwrap();
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 3, old: 0 });

        let dir = store.mailbox_dir(&mb);
        let mv = |id: &str, info: &str| {
            fs::rename(
                dir.join("new").join(id),
                dir.join("cur").join(format!("{id}{info}")),
            )
            .unwrap()
        };
        mv(&a, ":2,S");
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 2, old: 1 });
        mv(&b, ":2,"); // in cur/ but not seen: still new
        mv(&m, ":2,S"); // a seen missed call counts nowhere
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 2, old: 1 });
        mv(&c, ":2,FST"); // trashed
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 1, old: 1 });
        // Dotfiles and directories are not messages.
        fs::write(
            dir.join("new").join(".hidden"),
            b"X-UMGW-Kind: voice-mail\r\n\r\n",
        )
        .unwrap();
        fs::create_dir(dir.join("cur").join("subdir")).unwrap();
        let fifo = std::ffi::CString::new(
            dir.join("new")
                .join("9.M1P1R1.fifo")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: `fifo` is a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            store.read(&mb, "9.M1P1R1.fifo"),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 1, old: 1 });

        let list = store.list(&mb).unwrap();
        let view: Vec<(&str, MessageKind, bool)> = list
            .iter()
            .map(|s| (s.id.as_str(), s.kind, s.seen))
            .collect();
        let mut want = vec![
            (a.as_str(), MessageKind::VoiceMail, true),
            (b.as_str(), MessageKind::VoiceMail, false),
            (m.as_str(), MessageKind::MissedCall, true),
        ];
        want.sort_by_key(|w| w.0);
        assert_eq!(view, want);
        assert_eq!(list[0].caller.as_deref(), Some("+14255550123"));
        assert_eq!(
            list[0].received,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_456))
        );
        // read() finds messages in cur/ by id whatever their flags.
        assert!(parse(&store.read(&mb, &a).unwrap()).is_ok());
    }

    #[test]
    fn classification_reads_only_headers_and_defaults_to_voice_mail() {
        let (_t, store, mb, _, _) = setup();
        store
            .deposit(&mb, &msg(MessageKind::MissedCall, None))
            .unwrap();
        let new = store.mailbox_dir(&mb).join("new");
        // A foreign message without X-UMGW-Kind, and one whose body is not even UTF-8.
        fs::write(new.join("1.M1P1R1.other"), b"Subject: hi\r\n\r\nhello\r\n").unwrap();
        let mut big = b"X-UMGW-Kind: missed-call\n\n".to_vec();
        big.resize(big.len() + 300_000, 0xff);
        fs::write(new.join("2.M1P1R1.other"), &big).unwrap();
        // Garbage headers count as voice mail rather than being hidden.
        fs::write(new.join("3.M1P1R1.other"), b"\x00\x01 no colon\n").unwrap();
        let list = store.list(&mb).unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 2, old: 0 });
        let big_entry = list.iter().find(|s| s.id == "2.M1P1R1.other").unwrap();
        assert_eq!(
            (big_entry.kind, big_entry.size),
            (MessageKind::MissedCall, big.len() as u64)
        );
    }

    #[test]
    fn unreadable_audio_leaves_nothing_behind() {
        let (t, store, mb, _, _) = setup();
        let missing = t.path().join("gone.wav");
        let err = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, Some(missing.clone())))
            .unwrap_err();
        assert!(matches!(&err, StoreError::Audio { path, .. } if *path == missing));
        assert!(err.to_string().contains("gone.wav"), "{err}");
        let dir = store.mailbox_dir(&mb);
        assert!(names(&dir.join("new")).is_empty());
        assert!(names(&dir.join("tmp")).is_empty());
        assert_eq!(store.counts(&mb).unwrap(), Counts::default());
    }

    #[test]
    fn failed_commit_cleans_tmp_and_never_shows_in_new() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        fs::create_dir(dir.join("tmp")).unwrap();
        // No new/: the rename fails after the message was fully written to tmp/.
        let err = commit(dir, "1.M2P3R4.h", b"X-UMGW-Kind: voice-mail\r\n\r\n").unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Io {
                    op: "rename into new/",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("1.M2P3R4.h"), "{err}");
        assert!(names(&dir.join("tmp")).is_empty());
        // An existing tmp file of the same name is never clobbered or removed.
        fs::create_dir(dir.join("new")).unwrap();
        fs::write(dir.join("tmp").join("x"), b"someone else's").unwrap();
        let err = commit(dir, "x", b"mine").unwrap_err();
        assert!(matches!(err, StoreError::Io { op: "create", .. }), "{err}");
        assert_eq!(
            fs::read(dir.join("tmp").join("x")).unwrap(),
            b"someone else's"
        );
        assert!(names(&dir.join("new")).is_empty());
    }

    #[test]
    fn read_validates_ids_and_reports_missing() {
        let (_t, store, mb, _, _) = setup();
        for bad in ["", ".x", "../../etc/passwd", "a/b", "a:2,S", "a\0b"] {
            assert!(
                matches!(
                    store.read(&mb, bad),
                    Err(StoreError::InvalidMessageId { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            store.read(&mb, "1.M1P1R1.h"),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn seen_delete_and_greeting_update_counts() {
        let (t, store, mb, wav_path, wav) = setup();
        let a = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, Some(wav_path.clone())))
            .unwrap();
        let b = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, Some(wav_path.clone())))
            .unwrap();
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 2, old: 0 });
        store.set_seen(&mb, &a, true).unwrap();
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 1, old: 1 });
        // Idempotent, and readable by id after the move to cur/.
        store.set_seen(&mb, &a, true).unwrap();
        assert!(!store.read(&mb, &a).unwrap().is_empty());
        store.set_seen(&mb, &a, false).unwrap();
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 2, old: 0 });
        store.delete(&mb, &b).unwrap();
        store.delete(&mb, &b).unwrap();
        assert_eq!(store.counts(&mb).unwrap(), Counts { new: 1, old: 0 });
        assert!(store.set_seen(&mb, &b, true).is_err());
        assert!(store.delete(&mb, "../x").is_err());

        store
            .save_greeting(&mb, GreetingKind::Personal, &wav_path)
            .unwrap();
        let g = store
            .greeting(&mb, GreetingKind::Personal)
            .unwrap()
            .unwrap();
        assert_eq!(fs::read(g).unwrap(), wav);
        assert!(wav_path.exists(), "the source recording stays");
        drop(t);
    }

    #[test]
    fn greeting_lookup() {
        let (_t, store, mb, _, _) = setup();
        assert_eq!(store.greeting(&mb, GreetingKind::Personal).unwrap(), None);
        let dir = store.mailbox_dir(&mb);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("greeting.wav"), b"RIFF").unwrap();
        assert_eq!(
            store.greeting(&mb, GreetingKind::Personal).unwrap(),
            Some(dir.join("greeting.wav"))
        );
        // The away greeting and the name are separate files; deleting one leaves the others.
        let wav = dir.join("src.wav");
        fs::write(&wav, b"RIFFaway").unwrap();
        store.save_greeting(&mb, GreetingKind::Away, &wav).unwrap();
        assert_eq!(fs::read(dir.join("away.wav")).unwrap(), b"RIFFaway");
        store.delete_greeting(&mb, GreetingKind::Away).unwrap();
        store.delete_greeting(&mb, GreetingKind::Away).unwrap();
        assert_eq!(store.greeting(&mb, GreetingKind::Away).unwrap(), None);
        assert!(store
            .greeting(&mb, GreetingKind::Personal)
            .unwrap()
            .is_some());
    }

    #[test]
    fn host_and_info_helpers() {
        assert_eq!(maildir_host("a/b:c d\n"), "a\\057b\\072cd");
        assert_eq!(maildir_host(""), "localhost");
        assert!(!system_hostname().contains('\0'));
        assert_eq!(split_info("1.M2P3.h:2,RS"), ("1.M2P3.h", "RS"));
        assert_eq!(split_info("1.M2P3.h"), ("1.M2P3.h", ""));
        assert_eq!(split_info("1.M2P3.h:1,x"), ("1.M2P3.h", ""));
    }

    #[test]
    fn open_creates_root_and_reports_errors_with_path() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("a/b/store");
        let s = Maildir::open(&root).unwrap();
        assert!(root.is_dir());
        assert_eq!(s.root(), root);
        let file = t.path().join("file");
        fs::write(&file, b"").unwrap();
        let err = Maildir::open(file.join("x")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("create store root") && text.contains("file/x"),
            "{text}"
        );
    }
}
