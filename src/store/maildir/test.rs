//! Maildir store tests: atomic deposit, flags, ids, greetings, hostile names.

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
        preview: None,
        forwarded: None,
        marks: crate::domain::Marks::default(),
    }
}

/// Counts of `new` and `old` voice mails, none urgent.
fn voice_counts(new: u32, old: u32) -> Counts {
    Counts {
        new,
        old,
        ..Counts::default()
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
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(40, 0));
}

#[test]
fn a_seeded_store_repeats_its_random_parts() {
    let t = tempfile::tempdir().unwrap();
    let seeded = |dir: &str, seed: u64| {
        Maildir::with_host(t.path().join(dir), "gw1.example")
            .unwrap()
            .with_rng_seed(seed)
    };
    let mb = MailboxId::new("alice").unwrap();
    let deposit = |store: &Maildir| {
        let id = store
            .deposit(&mb, &msg(MessageKind::VoiceMail, None))
            .unwrap();
        let random = id.split_once('R').unwrap().1.to_owned();
        (random, store.read(&mb, &id).unwrap())
    };
    let (a, b, c) = (seeded("a", 5), seeded("b", 5), seeded("c", 6));
    let (first_a, first_b) = (deposit(&a), deposit(&b));
    // The unique name's random part, the MIME boundary and the Message-ID all repeat.
    assert_eq!(first_a, first_b);
    assert_ne!(deposit(&a), first_a);
    assert_ne!(deposit(&c).0, first_a.0);
}

#[test]
fn counts_follow_flags_and_kinds() {
    let (_t, store, mb, wav_path, _) = setup();
    assert_eq!(store.counts(&mb).unwrap(), Counts::default());
    let [a, b] = voice_mails(&store, &mb, &wav_path);
    let c = store
        .deposit(&mb, &msg(MessageKind::VoiceMail, None))
        .unwrap();
    let m = store
        .deposit(&mb, &msg(MessageKind::MissedCall, None))
        .unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(3, 0));

    let dir = store.mailbox_dir(&mb);
    let mv = |id: &str, info: &str| {
        fs::rename(
            dir.join("new").join(id),
            dir.join("cur").join(format!("{id}{info}")),
        )
        .unwrap()
    };
    mv(&a, ":2,S");
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(2, 1));
    mv(&b, ":2,"); // in cur/ but not seen: still new
    mv(&m, ":2,S"); // a seen missed call counts nowhere
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(2, 1));
    mv(&c, ":2,FST"); // trashed
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(1, 1));
    // Dotfiles and directories are not messages.
    fs::write(
        dir.join("new").join(".hidden"),
        b"X-UMGW-Kind: voice-mail\r\n\r\n",
    )
    .unwrap();
    fs::create_dir(dir.join("cur").join("subdir")).unwrap();
    crate::net::os::mkfifo(&dir.join("new").join("9.M1P1R1.fifo")).unwrap();
    assert!(matches!(
        store.read(&mb, "9.M1P1R1.fifo"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(1, 1));

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
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(2, 0));
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

/// Two voice mails with the recording `wav`: their ids.
fn voice_mails(store: &Maildir, mb: &MailboxId, wav: &Path) -> [String; 2] {
    [0, 1].map(|_| {
        store
            .deposit(mb, &msg(MessageKind::VoiceMail, Some(wav.to_owned())))
            .unwrap()
    })
}

/// A pending delete (subscriber access): out of counts and lists at once, still on disk
/// (a crash loses nothing and never brings it back as new), restorable, purged only while
/// still deleted.
#[test]
fn pending_delete_undelete_and_purge() {
    let (_t, store, mb, wav_path, _) = setup();
    let [a, b] = voice_mails(&store, &mb, &wav_path);
    store.set_seen(&mb, &b, true).unwrap();
    store.set_deleted(&mb, &a, true).unwrap();
    store.set_deleted(&mb, &b, true).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(0, 0));
    assert!(store.list(&mb).unwrap().is_empty());
    // Still stored (as a crash would leave it): readable, flagged T, in cur/.
    assert!(!store.read(&mb, &a).unwrap().is_empty());
    let cur: Vec<String> = fs::read_dir(store.mailbox_dir(&mb).join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(cur.contains(&format!("{a}:2,T")), "{cur:?}");
    assert!(cur.contains(&format!("{b}:2,ST")), "{cur:?}");
    // Undelete restores it as it was: a seen one stays seen, a new one new.
    store.set_deleted(&mb, &b, false).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(0, 1));
    store.set_deleted(&mb, &a, false).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(1, 1));
    // Purge removes only what is still deleted.
    store.set_deleted(&mb, &a, true).unwrap();
    store.purge(&mb, &a).unwrap();
    store.purge(&mb, &b).unwrap();
    assert!(matches!(
        store.read(&mb, &a),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(0, 1));
    // Gone already: not an error.
    store.purge(&mb, &a).unwrap();
}

#[test]
fn seen_delete_and_greeting_update_counts() {
    let (t, store, mb, wav_path, wav) = setup();
    let [a, b] = voice_mails(&store, &mb, &wav_path);
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(2, 0));
    store.set_seen(&mb, &a, true).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(1, 1));
    // Idempotent, and readable by id after the move to cur/.
    store.set_seen(&mb, &a, true).unwrap();
    assert!(!store.read(&mb, &a).unwrap().is_empty());
    store.set_seen(&mb, &a, false).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(2, 0));
    store.delete(&mb, &b).unwrap();
    store.delete(&mb, &b).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), voice_counts(1, 0));
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

#[test]
fn urgent_voice_mails_raise_the_urgent_counts_new_and_old() {
    let (_t, store, mb, wav_path, _) = setup();
    let urgent = |kind| NewMessage {
        marks: crate::domain::Marks {
            urgent: true,
            private: false,
        },
        ..msg(kind, Some(wav_path.clone()))
    };
    let a = store.deposit(&mb, &urgent(MessageKind::VoiceMail)).unwrap();
    store.deposit(&mb, &urgent(MessageKind::VoiceMail)).unwrap();
    store
        .deposit(&mb, &msg(MessageKind::VoiceMail, Some(wav_path.clone())))
        .unwrap();
    // A missed call is never urgent in the lamp, whatever its headers say.
    store
        .deposit(&mb, &urgent(MessageKind::MissedCall))
        .unwrap();
    let want = |new, old, urgent_new, urgent_old| Counts {
        new,
        old,
        urgent_new,
        urgent_old,
    };
    assert_eq!(store.counts(&mb).unwrap(), want(3, 0, 2, 0));
    store.set_seen(&mb, &a, true).unwrap();
    assert_eq!(store.counts(&mb).unwrap(), want(2, 1, 1, 1));
    let listed = store.list(&mb).unwrap();
    assert_eq!(listed.iter().filter(|m| m.urgent).count(), 3);
}
