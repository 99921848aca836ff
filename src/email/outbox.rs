//! The outbox: e-mail notices waiting for the SMTP server, one file each, so that a notice
//! survives a server that is down and a gateway that restarts.
//!
//! A notice is written to `.NAME.tmp`, synced and renamed to `NAME.eml` (never half there);
//! it is removed once the server took it, or moved to `failed/` when the server refused it
//! for good or it could not be sent for `give_up` long. Each file is the message as sent with
//! one header of our own in front, `X-UMGW-Envelope-To`, naming the recipient (so the file is
//! itself a readable RFC 5322 message). Names start with the arrival time in milliseconds,
//! so notices go out in the order messages came.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The header carrying the envelope recipient in an outbox file (stripped before sending).
const ENVELOPE_TO: &str = "X-UMGW-Envelope-To: ";

/// The outbox directory and its `failed/` subdirectory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    failed: PathBuf,
}

/// One notice read back.
#[derive(Debug)]
pub struct Notice {
    pub to: String,
    pub message: Vec<u8>,
    /// When it was queued (the file's modification time).
    pub queued: SystemTime,
}

impl Outbox {
    /// Opens (creating) the outbox at `dir`; temporary files a crash left are removed.
    pub fn open(dir: &Path) -> std::io::Result<Outbox> {
        let failed = dir.join("failed");
        fs::create_dir_all(&failed)?;
        for e in fs::read_dir(dir)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Outbox {
            dir: dir.to_owned(),
            failed,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queues `message` for `to` as `name` (`[A-Za-z0-9_-]`; a notice of the same name is
    /// replaced: a message delivered again after a crash is notified once).
    pub fn put(&self, name: &str, to: &str, message: &[u8]) -> std::io::Result<()> {
        if !valid_name(name) || to.contains(['\r', '\n']) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad outbox name or recipient",
            ));
        }
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(format!("{ENVELOPE_TO}{to}\r\n").as_bytes())?;
            f.write_all(message)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(format!("{name}.eml")))?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Names of the queued notices, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".eml")?;
                valid_name(stem).then(|| stem.to_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// The notice `name`; a file without the envelope header is an error (`InvalidData`).
    pub fn read(&self, name: &str) -> std::io::Result<Notice> {
        let path = self.path(name);
        let bytes = fs::read(&path)?;
        let queued = fs::metadata(&path)?
            .modified()
            .unwrap_or_else(|_| SystemTime::now());
        let line_end = bytes.windows(2).position(|w| w == b"\r\n");
        let to = line_end.and_then(|end| {
            std::str::from_utf8(&bytes[..end])
                .ok()?
                .strip_prefix(ENVELOPE_TO)
                .map(str::to_owned)
        });
        match (to, line_end) {
            (Some(to), Some(end)) => Ok(Notice {
                to,
                message: bytes[end + 2..].to_vec(),
                queued,
            }),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: no {ENVELOPE_TO:?} line", path.display()),
            )),
        }
    }

    /// The server took it.
    pub fn remove(&self, name: &str) -> std::io::Result<()> {
        fs::remove_file(self.path(name))
    }

    /// Moves it to `failed/`, where an operator can look at it (and move it back to retry).
    pub fn give_up(&self, name: &str) -> std::io::Result<()> {
        fs::rename(self.path(name), self.failed.join(format!("{name}.eml")))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.eml"))
    }
}

/// An outbox name: `[A-Za-z0-9_-]{1,100}`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_read_remove_give_up() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox
            .put("0002-b", "bob@example.com", b"Subject: b\r\n\r\nB")
            .unwrap();
        outbox
            .put("0001-a", "alice@example.com", b"Subject: a\r\n\r\nA")
            .unwrap();
        assert_eq!(outbox.list().unwrap(), ["0001-a", "0002-b"]);
        let a = outbox.read("0001-a").unwrap();
        assert_eq!(a.to, "alice@example.com");
        assert_eq!(a.message, b"Subject: a\r\n\r\nA");
        // The same name again replaces (a message notified once).
        outbox
            .put("0001-a", "alice@example.com", b"Subject: a2\r\n\r\nA")
            .unwrap();
        assert_eq!(outbox.list().unwrap().len(), 2);
        outbox.remove("0001-a").unwrap();
        outbox.give_up("0002-b").unwrap();
        assert!(outbox.list().unwrap().is_empty());
        assert!(dir.path().join("failed/0002-b.eml").exists());
    }

    #[test]
    fn refuses_bad_names_and_header_injection_and_cleans_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".x.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("junk.eml"), b"no envelope\r\n").unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        assert!(!dir.path().join(".x.tmp").exists());
        assert!(outbox.put("../x", "a@b.c", b"m").is_err());
        assert!(outbox.put("ok", "a@b.c\r\nBcc: x@y.z", b"m").is_err());
        assert_eq!(
            outbox.read("junk").unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
