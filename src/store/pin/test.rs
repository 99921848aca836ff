//! PIN policy, hashing, PIN files, lockout and the cross-process lock.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn check(pin: &str) -> Result<(), PinError> {
    PinPolicy::default().check(pin, "1001", &[])
}

#[test]
fn policy_accepts_a_good_pin() {
    check("582914").unwrap();
    check("90817263").unwrap();
}

#[test]
fn policy_rules() {
    assert!(matches!(check("58291"), Err(PinError::TooShort { min: 6 })));
    assert!(matches!(check(""), Err(PinError::NotDigits)));
    assert!(matches!(check("58a914"), Err(PinError::NotDigits)));
    assert!(matches!(check(" 582914"), Err(PinError::NotDigits)));
    assert!(matches!(
        check(&"5829146".repeat(4)),
        Err(PinError::TooLong { max: 24 })
    ));
    for same in ["000000", "777777", "11111111"] {
        assert!(
            matches!(check(same), Err(PinError::RepeatedDigit)),
            "{same}"
        );
    }
    for run in ["123456", "654321", "890123", "321098", "0123456789"] {
        assert!(matches!(check(run), Err(PinError::Sequence)), "{run}");
    }
    // Not a run: mixed direction.
    check("123454").unwrap();
    for pin in ["100158", "271001", "581001"] {
        let r = PinPolicy::default().check(pin, "1001", &[]);
        assert!(matches!(r, Err(PinError::Extension)), "{pin}");
    }
    assert!(matches!(
        PinPolicy::default().check("512345", "5432", &[]),
        Err(PinError::Extension)
    ));
    let lax = PinPolicy {
        allow_common_patterns: true,
        min_length: 4,
        ..PinPolicy::default()
    };
    lax.check("1111", "1111", &[]).unwrap();
}

#[test]
fn errors_never_contain_the_pin() {
    let pin = "58291";
    let e = check(pin).unwrap_err().to_string();
    assert!(!e.contains(pin), "{e}");
}

#[test]
fn hash_is_argon2id_phc_and_verifies() {
    let h = hash("582914").unwrap();
    assert!(h.starts_with("$argon2id$v=19$"), "{h}");
    assert!(!h.contains("582914"));
    assert!(verify("582914", &h));
    assert!(!verify("582915", &h));
    assert!(!verify("582914", "not a hash"));
    // Random salt: the same PIN hashes differently.
    assert_ne!(h, hash("582914").unwrap());
}

#[test]
fn history_refuses_recent_pins_only() {
    let policy = PinPolicy {
        history: 2,
        ..PinPolicy::default()
    };
    let hs: Vec<String> = ["582914", "730162", "914273"]
        .iter()
        .map(|p| hash(p).unwrap())
        .collect();
    assert!(matches!(
        policy.check("914273", "", &hs),
        Err(PinError::Reused { history: 2 })
    ));
    assert!(matches!(
        policy.check("730162", "", &hs),
        Err(PinError::Reused { .. })
    ));
    // Older than the history window: allowed again.
    policy.check("582914", "", &hs).unwrap();
}

#[test]
fn store_set_save_load_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("mailboxes").join("alice");
    let policy = PinPolicy::default();
    let mut s = PinStore::load(&dir).unwrap();
    assert_eq!(s, PinStore::default());
    s.set("582914", "1001", &policy).unwrap();
    assert_eq!(
        s.log_on("111111", &policy),
        LogOn::Refused { failed_attempts: 1 }
    );
    s.save(&dir).unwrap();

    let text = fs::read_to_string(dir.join(PIN_FILE)).unwrap();
    assert!(PasswordHash::new(text.trim()).is_ok());
    assert!(!text.contains("582914"));
    for f in [PIN_FILE, HISTORY_FILE, STATE_FILE] {
        let mode = fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let mode = fs::metadata(dir.join(LOCK_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "lock file");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        4,
        "the three files and the lock, no tmp files left"
    );

    let mut back = PinStore::load(&dir).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.failed_attempts, 1);
    assert!(back.verify("582914"));
    assert!(!back.verify("582915"));
    // Same PIN again: refused by history.
    assert!(matches!(
        back.set("582914", "1001", &policy),
        Err(PinError::Reused { .. })
    ));
    back.set("730162", "1001", &policy).unwrap();
    assert_eq!(back.history.len(), 2);
    assert_eq!(back.failed_attempts, 0);
}

#[test]
fn history_is_trimmed_to_policy() {
    let policy = PinPolicy {
        history: 2,
        ..PinPolicy::default()
    };
    let mut s = PinStore::default();
    for pin in ["582914", "730162", "914273", "284619"] {
        s.set(pin, "", &policy).unwrap();
    }
    assert_eq!(s.history.len(), 2);
    assert_eq!(s.history.last(), s.hash.as_ref());
    // Two PINs back is outside the window again.
    s.set("730162", "", &policy).unwrap();
}

#[test]
fn lockout_after_max_failures() {
    let policy = PinPolicy {
        max_failed_attempts: 3,
        ..PinPolicy::default()
    };
    let mut s = PinStore::default();
    s.set("582914", "", &policy).unwrap();
    s.log_on("111111", &policy);
    s.log_on("111111", &policy);
    assert!(!s.locked);
    assert_eq!(s.log_on("582914", &policy), LogOn::Accepted);
    assert_eq!(s.failed_attempts, 0, "a success resets the count");
    for n in 1..3 {
        assert_eq!(
            s.log_on("111111", &policy),
            LogOn::Refused { failed_attempts: n }
        );
    }
    assert_eq!(
        s.log_on("111111", &policy),
        LogOn::LockedOut { failed_attempts: 3 }
    );
    assert!(s.locked);
    // Locked: the right PIN is refused, and nothing more is counted.
    assert_eq!(
        s.log_on("582914", &policy),
        LogOn::Locked { failed_attempts: 3 }
    );
    assert_eq!(s.failed_attempts, 3);
    assert!(!s.verify("582914"), "locked mailbox never verifies");
    s.set("730162", "", &policy).unwrap();
    assert!(!s.locked && s.verify("730162"));
}

#[test]
fn unlock_clears_the_count_and_keeps_the_pin() {
    let t = tempfile::tempdir().unwrap();
    let policy = PinPolicy {
        max_failed_attempts: 2,
        ..PinPolicy::default()
    };
    let mut s = PinStore::default();
    s.set("582914", "", &policy).unwrap();
    s.save(t.path()).unwrap();
    for _ in 0..2 {
        PinStore::update(t.path(), |p| Ok(p.log_on("111111", &policy))).unwrap();
    }
    assert!(PinStore::load(t.path()).unwrap().locked);
    PinStore::update(t.path(), |p| {
        p.unlock();
        Ok(())
    })
    .unwrap();
    let back = PinStore::load(t.path()).unwrap();
    assert_eq!((back.failed_attempts, back.locked), (0, false));
    assert_eq!(back.hash, s.hash, "the PIN is unchanged");
    assert!(back.verify("582914"));
}

#[test]
fn update_that_fails_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let policy = PinPolicy::default();
    let mut s = PinStore::default();
    s.set("582914", "", &policy).unwrap();
    s.log_on("111111", &policy);
    s.save(t.path()).unwrap();
    let r = PinStore::update(t.path(), |p| p.set("123456", "", &policy));
    assert!(matches!(r, Err(PinError::Sequence)));
    assert_eq!(PinStore::load(t.path()).unwrap(), s);
}

/// Threads counting failures on one mailbox: no update is lost (without the lock, two
/// threads read the same count and one increment vanishes).
#[test]
fn parallel_updates_lose_no_count() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("alice");
    // No PIN set: every attempt fails without an argon2 run, so the threads race on the
    // files alone. The limit is out of reach: every attempt is counted.
    let policy = PinPolicy {
        max_failed_attempts: 10_000,
        ..PinPolicy::default()
    };
    let (threads, each) = (8, 25);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..each {
                    let r = PinStore::update(&dir, |p| Ok(p.log_on("111111", &policy)));
                    assert!(matches!(r, Ok(LogOn::Refused { .. })), "{r:?}");
                }
            });
        }
    });
    let s = PinStore::load(&dir).unwrap();
    assert_eq!(s.failed_attempts, threads * each);
    assert!(!s.locked);
}

/// Threads guessing in parallel: exactly MaxLogonAttempts wrong PINs are checked and
/// counted, one of them locks the mailbox, every later attempt is refused unchecked.
#[test]
fn parallel_guessing_locks_at_exactly_the_limit() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("alice");
    let policy = PinPolicy {
        max_failed_attempts: 5,
        ..PinPolicy::default()
    };
    let mut s = PinStore::default();
    s.set("582914", "", &policy).unwrap();
    s.save(&dir).unwrap();
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                for _ in 0..3 {
                    let r = PinStore::update(&dir, |p| Ok(p.log_on("111111", &policy)));
                    outcomes.lock().unwrap().push(r.unwrap());
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let count = |f: fn(&LogOn) -> bool| outcomes.iter().filter(|o| f(o)).count();
    assert_eq!(count(|o| matches!(o, LogOn::Refused { .. })), 4);
    assert_eq!(count(|o| matches!(o, LogOn::LockedOut { .. })), 1);
    assert_eq!(
        count(|o| *o == LogOn::Locked { failed_attempts: 5 }),
        18 - 5
    );
    // Each counted failure saw its own number: 1, 2, 3, 4 refused, 5 locked out.
    let mut numbers: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match o {
            LogOn::Refused { failed_attempts } | LogOn::LockedOut { failed_attempts } => {
                Some(*failed_attempts)
            }
            _ => None,
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let s = PinStore::load(&dir).unwrap();
    assert_eq!((s.failed_attempts, s.locked), (5, true));
}

/// The lock excludes a second holder until the first lets go. Two opens of the lock file
/// are two open files, so this is what another process sees too.
#[test]
fn the_lock_holds_off_updates_until_released() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_owned();
    let held = PinLock::acquire(&dir).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let r = PinStore::update(&dir, |p| {
                p.unlock();
                p.failed_attempts = 7;
                Ok(())
            });
            tx.send(r.is_ok()).unwrap();
        })
    };
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "update ran while the lock was held"
    );
    drop(held);
    assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap());
    waiter.join().unwrap();
    assert_eq!(PinStore::load(&dir).unwrap().failed_attempts, 7);
}

#[test]
fn corrupt_files_are_reported_with_path() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join(PIN_FILE), "1234\n").unwrap();
    let e = PinStore::load(t.path()).unwrap_err().to_string();
    assert!(e.contains("pin:") && !e.contains("1234"), "{e}");
    fs::remove_file(t.path().join(PIN_FILE)).unwrap();
    fs::write(t.path().join(STATE_FILE), "failed_attempts = x\n").unwrap();
    let e = PinStore::load(t.path()).unwrap_err().to_string();
    assert!(e.contains("pin-state"), "{e}");
}

#[test]
fn the_record_round_trips_and_refuses_what_is_not_a_hash() {
    let policy = PinPolicy::default();
    let mut pins = PinStore::default();
    pins.set("582914", "1001", &policy).unwrap();
    pins.set("730146", "1001", &policy).unwrap();
    let text = pins.record();
    // The PIN, two in the history, when it was set.
    assert_eq!(text.lines().count(), 4, "{text}");
    let back = PinStore::parse_record(&text, "imap:UMGW-State").unwrap();
    assert_eq!(back.hash, pins.hash);
    assert_eq!(back.history, pins.history);
    assert_eq!(back.set_at, pins.set_at);
    assert!(back.verify("730146") && !back.verify("582914"));
    assert_eq!(
        PinStore::parse_record("", "x").unwrap(),
        PinStore::default()
    );
    let e = PinStore::parse_record("pin = 123456\n", "imap:UMGW-State")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("imap:UMGW-State") && !e.contains("123456"),
        "{e}"
    );
    assert!(PinStore::parse_record("locked = true\n", "x").is_err());
}

#[test]
fn pin_lifetime_and_an_administrators_pin_require_a_change() {
    let policy = PinPolicy::default();
    let mut p = PinStore::default();
    p.set("582914", "1001", &policy).unwrap();
    let set_at = p.set_at.expect("the time a PIN is set is kept");
    let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    assert_eq!(p.change_required(at(set_at), &policy), None);
    assert_eq!(
        p.change_required(at(set_at + 60 * 86_400 - 1), &policy),
        None
    );
    assert_eq!(
        p.change_required(at(set_at + 60 * 86_400), &policy),
        Some(PinChange::Expired)
    );
    // PINLifetime 0: never.
    let forever = PinPolicy {
        lifetime_days: 0,
        ..PinPolicy::default()
    };
    assert_eq!(
        p.change_required(at(set_at + 9_999 * 86_400), &forever),
        None
    );
    // A PIN from before the time was kept does not expire.
    let mut legacy = p.clone();
    legacy.set_at = None;
    assert_eq!(legacy.change_required(at(u64::MAX / 2), &policy), None);
    // An administrator's PIN: changed at the first log-on; the user's own new PIN is theirs.
    p.must_change = true;
    assert_eq!(
        p.change_required(at(set_at), &policy),
        Some(PinChange::SetByAdministrator)
    );
    p.set("730162", "1001", &policy).unwrap();
    assert!(!p.must_change);
}

#[test]
fn set_at_and_must_change_survive_files_and_records() {
    let t = tempfile::tempdir().unwrap();
    let mut p = PinStore::default();
    p.set("582914", "1001", &PinPolicy::default()).unwrap();
    p.must_change = true;
    p.set_at = Some(1_700_000_000);
    p.save(t.path()).unwrap();
    assert_eq!(PinStore::load(t.path()).unwrap(), p);
    let back = PinStore::parse_record(&p.record(), "t").unwrap();
    assert_eq!((back.set_at, back.must_change), (Some(1_700_000_000), true));
    assert_eq!(back.hash, p.hash);
}

#[test]
fn random_pins_meet_the_policy() {
    let policy = PinPolicy {
        min_length: 8,
        ..PinPolicy::default()
    };
    for _ in 0..50 {
        let pin = random_pin(&policy, "1001");
        assert_eq!(pin.len(), 8);
        policy.check(&pin, "1001", &[]).unwrap();
    }
}
