//! The spool: recordings in progress, each a WAV plus a small metadata file, so that a gateway
//! killed mid-call can deposit what it had recorded when it starts again.
//!
//! Life of an entry: `create` (metadata written atomically, then the WAV is recorded) →
//! the message is deposited with the entry's id as its delivery id → `remove`. A crash at any
//! point leaves the entry; `recover` deposits it (idempotently: the store skips a delivery id
//! it already holds) and removes it. Exactly one message per recording, never a partial one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::media::recorder;
use crate::store::{Mailbox, MailboxId, MessageKind, NewMessage};

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
}

impl SpoolMeta {
    pub fn received(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.received_unix_ms)
    }
}

/// One recording in the spool.
#[derive(Debug)]
pub struct SpoolEntry {
    pub id: String,
    pub wav: PathBuf,
    meta_path: PathBuf,
}

/// Creates an entry: the metadata is on disk (fsynced, renamed into place) before any audio.
pub fn create(dir: &Path, id: &str, meta: &SpoolMeta) -> std::io::Result<SpoolEntry> {
    let text = toml::to_string(meta).map_err(std::io::Error::other)?;
    let meta_path = dir.join(format!("{id}.meta"));
    let tmp = dir.join(format!(".{id}.meta.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &meta_path)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(SpoolEntry {
        id: id.to_owned(),
        wav: dir.join(format!("{id}.wav")),
        meta_path,
    })
}

impl SpoolEntry {
    /// Removes the entry once its message is committed (or it is not worth keeping).
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.wav);
        if let Err(e) = fs::remove_file(&self.meta_path) {
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
/// deposited stay in the spool (and are logged) for the next start.
pub fn recover(dir: &Path, store: &dyn Mailbox) -> Vec<Recovered> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut metas: Vec<PathBuf> = entries
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
        };
        let samples = if entry.wav.exists() {
            match recorder::repair(&entry.wav) {
                Ok(n) => n,
                Err(e) => {
                    error!(error = %e, "spooled recording cannot be repaired; left in place");
                    continue;
                }
            }
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
            recovered: true,
            media_stats: None,
        };
        let deposited = MailboxId::new(&meta.mailbox_id).and_then(|id| store.deposit(&id, &msg));
        match deposited {
            Ok(stored) => {
                info!(
                    id = %stored, mailbox = %meta.mailbox_id, call_id = %meta.call_id, ?kind,
                    seconds = samples as f32 / 8000.0, "recovered a recording cut off by a restart"
                );
                entry.remove();
                out.push(Recovered {
                    mailbox_id: meta.mailbox_id,
                    mailbox_address: meta.mailbox_address,
                    notify_target: meta.notify_target,
                    kind,
                });
            }
            Err(e) => error!(
                error = %e, wav = %entry.wav.display(),
                "cannot deposit a recovered recording; it stays in the spool"
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::G711;
    use crate::media::recorder::Recorder;
    use crate::media::rtp::RtpPacket;
    use crate::store::Maildir;

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
        }
    }

    #[test]
    fn crashed_recording_is_deposited_once_and_marked() {
        let t = tempfile::tempdir().unwrap();
        let spool = t.path().join("spool");
        fs::create_dir_all(&spool).unwrap();
        let store = Maildir::with_host(t.path().join("mail"), "gw").unwrap();
        let entry = create(&spool, "alice-0001", &meta()).unwrap();
        let mut rec = Recorder::create(&entry.wav).unwrap();
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
        rec.flush().unwrap();
        std::mem::forget(rec); // killed

        // A crash after the deposit but before the spool was cleared: recovery must not
        // store the message twice.
        let first = recover(&spool, &store);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].kind, MessageKind::VoiceMail);
        let entry = create(&spool, "alice-0001", &meta()).unwrap();
        Recorder::create(&entry.wav).unwrap().finish(None).unwrap();
        recover(&spool, &store);
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
        assert_eq!(fs::read_dir(&spool).unwrap().count(), 0, "spool emptied");
    }
}
