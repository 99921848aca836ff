//! The operator commands (`umgw mailbox ...`, `umgw play`, `umgw status`) run as the real binary
//! against a data directory filled through the store's own deposit path.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use umgw::store::{Mailbox, MailboxId, Maildir, MessageKind, NewMessage};

/// A config file pointing at the shipped dial plans and a temporary data directory.
struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Site {
    fn new(extra_config: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let config = root.join("umgw.toml");
        fs::write(
            &config,
            format!(
                "[paths]\ndialplans = \"{}/dialplans\"\ndata_dir = \"data\"\n{extra_config}",
                env!("CARGO_MANIFEST_DIR")
            ),
        )
        .unwrap();
        Site {
            _dir: dir,
            root,
            config,
        }
    }

    fn store(&self) -> Maildir {
        Maildir::with_host(self.root.join("data/mailboxes"), "gw1").unwrap()
    }

    fn mailbox_dir(&self, id: &str) -> PathBuf {
        self.root.join("data/mailboxes").join(id)
    }

    /// Deposits a message as the gateway would; returns its id.
    fn deposit(
        &self,
        mailbox: &str,
        kind: MessageKind,
        caller: &str,
        audio: Option<&[i16]>,
    ) -> String {
        let audio_path = audio.map(|samples| {
            let p = self.root.join(format!("rec-{}.wav", samples.len()));
            write_wav(&p, samples);
            p
        });
        let msg = NewMessage {
            kind,
            caller: Some(caller.to_owned()),
            caller_name: Some("Bob Caller".into()),
            mailbox_address: format!("sip:{mailbox}@contoso.com"),
            mailbox_name: None,
            received: UNIX_EPOCH + Duration::from_secs(1_795_000_000), // 2026-11-18 11:06:40 UTC
            duration: Duration::from_millis(if audio.is_some() { 3_000 } else { 400 }),
            call_id: "call-1@test".into(),
            audio: audio_path,
            delivery_id: None,
            recovered: false,
            media_stats: None,
        };
        self.store()
            .deposit(&MailboxId::new(mailbox).unwrap(), &msg)
            .unwrap()
    }

    /// Marks a message seen the Maildir way: moved to cur/ with `:2,S`.
    fn mark_seen(&self, mailbox: &str, id: &str) {
        let d = self.mailbox_dir(mailbox);
        fs::rename(
            d.join("new").join(id),
            d.join("cur").join(format!("{id}:2,S")),
        )
        .unwrap();
    }

    fn umgw(&self, args: &[&str]) -> Output {
        self.umgw_stdin(args, None)
    }

    fn umgw_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_umgw"));
        cmd.args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("UMGW_DATA_DIR")
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn tone(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| ((i as f64 * 0.3).sin() * 8000.0) as i16)
        .collect()
}

/// The whitespace-separated cells of the line starting with `first`.
fn row(text: &str, first: &str) -> Vec<String> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{text}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn list_counts_new_old_and_missed_for_every_mailbox() {
    let site = Site::new("");
    let a = site.deposit(
        "alice",
        MessageKind::VoiceMail,
        "+14255550199",
        Some(&tone(24_000)),
    );
    site.deposit(
        "alice",
        MessageKind::VoiceMail,
        "+14255550198",
        Some(&tone(8_000)),
    );
    site.deposit("alice", MessageKind::MissedCall, "+14255550197", None);
    site.deposit(
        "carol",
        MessageKind::VoiceMail,
        "+442079460000",
        Some(&tone(800)),
    );
    site.mark_seen("alice", &a);

    let out = ok(&site.umgw(&["mailbox", "list"]));
    assert!(out.starts_with("MAILBOX"), "{out}");
    assert_eq!(
        row(&out, "alice")[..6],
        ["alice", "contoso", "1001", "1", "1", "1"]
    );
    assert_eq!(
        row(&out, "bob")[..6],
        ["bob", "contoso", "1002", "0", "0", "0"]
    );
    assert_eq!(
        row(&out, "carol")[..6],
        ["carol", "pbx-london", "20001", "1", "0", "0"]
    );
    assert_eq!(
        row(&out, "dave")[..6],
        ["dave", "pbx-london", "20002", "0", "0", "0"]
    );
    // --config before the subcommand works too (a global option of `mailbox`).
    let out2 = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["mailbox", "--config"])
        .arg(&site.config)
        .arg("list")
        .env_remove("UMGW_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(ok(&out2), out);
}

#[test]
fn show_lists_each_message_with_kind_caller_time_duration_and_seen() {
    let site = Site::new("");
    let a = site.deposit(
        "alice",
        MessageKind::VoiceMail,
        "+14255550199",
        Some(&tone(24_000)),
    );
    let b = site.deposit("alice", MessageKind::MissedCall, "sip:evil\r\nX: 1@x", None);
    site.mark_seen("alice", &a);
    let out = ok(&site.umgw(&["mailbox", "show", "alice"]));
    let ra = row(&out, &a);
    assert_eq!(
        ra,
        [
            &a,
            "voice-mail",
            "+14255550199",
            "2026-11-18",
            "11:06:40",
            "0:03.0",
            "yes"
        ]
    );
    let rb = row(&out, &b);
    assert_eq!(rb[1], "missed-call");
    assert_eq!(rb[rb.len() - 2..], ["0:00.4", "no"]);
    assert!(
        !out.contains('\r'),
        "caller text is made printable: {out:?}"
    );

    let err = fails(&site.umgw(&["mailbox", "show", "nobody"]));
    assert!(err.contains("no mailbox \"nobody\""), "{err}");
    let err = fails(&site.umgw(&["mailbox", "show", "../etc"]));
    assert!(err.contains("invalid mailbox id"), "{err}");
}

#[test]
fn export_copies_the_raw_messages() {
    let site = Site::new("");
    let a = site.deposit(
        "alice",
        MessageKind::VoiceMail,
        "+14255550199",
        Some(&tone(8_000)),
    );
    let b = site.deposit("alice", MessageKind::MissedCall, "+14255550198", None);
    site.mark_seen("alice", &b);
    let out_dir = site.root.join("export/alice");
    let out = ok(&site.umgw(&[
        "mailbox",
        "export",
        "alice",
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    assert!(out.contains("exported 2 message(s)"), "{out}");
    let store = site.store();
    let id = MailboxId::new("alice").unwrap();
    for m in [&a, &b] {
        let exported = fs::read(out_dir.join(format!("{m}.eml"))).unwrap();
        assert_eq!(exported, store.read(&id, m).unwrap());
        assert!(exported.windows(11).any(|w| w == b"X-UMGW-Kind"));
    }
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 2);
}

#[test]
fn delete_removes_one_message_from_new_or_cur() {
    let site = Site::new("");
    let a = site.deposit("alice", MessageKind::VoiceMail, "+1", Some(&tone(8_000)));
    let b = site.deposit("alice", MessageKind::VoiceMail, "+2", Some(&tone(8_000)));
    let c = site.deposit("alice", MessageKind::VoiceMail, "+3", Some(&tone(8_000)));
    site.mark_seen("alice", &b);
    let out = ok(&site.umgw(&["mailbox", "delete", "alice", &a]));
    assert!(out.contains(&format!("new/{a}")), "{out}");
    let out = ok(&site.umgw(&["mailbox", "delete", "alice", &b]));
    assert!(out.contains(&format!("cur/{b}:2,S")), "{out}");
    let left: Vec<String> = site
        .store()
        .list(&MailboxId::new("alice").unwrap())
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, [c]);

    let err = fails(&site.umgw(&["mailbox", "delete", "alice", &a]));
    assert!(err.contains("not found in mailbox alice"), "{err}");
    for bad in ["../../umgw.toml", ".hidden", "x:2,S"] {
        let err = fails(&site.umgw(&["mailbox", "delete", "alice", bad]));
        assert!(err.contains("invalid message id"), "{bad}: {err}");
    }
    assert!(site.config.exists());
}

#[test]
fn play_writes_the_recording_as_wav() {
    let site = Site::new("");
    let samples = tone(12_000);
    let a = site.deposit("alice", MessageKind::VoiceMail, "+1", Some(&samples));
    let m = site.deposit("alice", MessageKind::MissedCall, "+2", None);
    let wav = site.root.join("out.wav");
    ok(&site.umgw(&["play", "alice", &a, "--out", wav.to_str().unwrap()]));
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().sample_rate, 8000);
    let back: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(back, samples);

    let err = fails(&site.umgw(&["play", "alice", &m, "--out", "x.wav"]));
    assert!(err.contains("has no recording"), "{err}");
    let err = fails(&site.umgw(&["play", "alice", "1.M1P1R1.nohost", "--out", "x.wav"]));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn set_pin_enforces_policy_and_stores_only_an_argon2id_hash() {
    let site = Site::new("");
    let dir = site.mailbox_dir("alice");
    for (pin, why) in [
        ("12345", "at least 6 digits"),
        ("123456", "run of consecutive digits"),
        ("999999", "repeats one digit"),
        ("710015", "extension"), // alice is extension 1001
        ("58a914", "only digits"),
    ] {
        let out = site.umgw_stdin(&["mailbox", "set-pin", "alice"], Some(&format!("{pin}\n")));
        let err = fails(&out);
        assert!(err.contains(why), "{pin}: {err}");
        assert!(!err.contains(pin) && !String::from_utf8_lossy(&out.stdout).contains(pin));
        assert!(!dir.join("pin").exists());
    }
    let err = fails(&site.umgw_stdin(&["mailbox", "set-pin", "alice"], Some("")));
    assert!(err.contains("no PIN on standard input"), "{err}");

    let out = site.umgw_stdin(&["mailbox", "set-pin", "alice"], Some("582914\n"));
    let stdout = ok(&out);
    assert!(stdout.contains("PIN set for mailbox alice"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("582914"));

    let text = fs::read_to_string(dir.join("pin")).unwrap();
    let phc = argon2::password_hash::PasswordHash::new(text.trim()).unwrap();
    assert_eq!(phc.algorithm.as_str(), "argon2id");
    assert!(umgw::store::pin::verify("582914", text.trim()));
    let mode = fs::metadata(dir.join("pin")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    for f in fs::read_dir(&dir).unwrap() {
        let bytes = fs::read(f.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"582914"),
            "PIN in clear on disk"
        );
    }

    // The same PIN again is refused (history), a new one is accepted.
    let err = fails(&site.umgw_stdin(&["mailbox", "set-pin", "alice"], Some("582914\n")));
    assert!(err.contains("used recently"), "{err}");
    ok(&site.umgw_stdin(&["mailbox", "set-pin", "alice"], Some("730162\r\n")));
    let text2 = fs::read_to_string(dir.join("pin")).unwrap();
    assert!(umgw::store::pin::verify("730162", text2.trim()));
    let history = fs::read_to_string(dir.join("pin-history")).unwrap();
    assert_eq!(history.lines().count(), 2);

    let err = fails(&site.umgw_stdin(&["mailbox", "set-pin", "nobody"], Some("582914\n")));
    assert!(
        err.contains("no mailbox \"nobody\" in the dial plans"),
        "{err}"
    );
}

#[test]
fn status_prints_the_gateways_answer_or_says_why_not() {
    let site = Site::new("");
    let err = fails(&site.umgw(&["status"]));
    assert!(err.contains("admin.listen is not set"), "{err}");

    // Nothing listening: a port we bound and released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = Site::new(&format!("[admin]\nlisten = \"127.0.0.1:{port}\"\n"));
    let err = fails(&site.umgw(&["status"]));
    assert!(
        err.contains(&format!(
            "no gateway answers on http://127.0.0.1:{port}/status"
        )),
        "{err}"
    );

    // A stand-in for the gateway's /status.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "request head incomplete");
            req.extend_from_slice(&buf[..n]);
        }
        let req = String::from_utf8(req).unwrap();
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
              calls_active 2\nmailboxes 4\n",
        )
        .unwrap();
        req
    });
    let site = Site::new(&format!("[admin]\nlisten = \"{addr}\"\n"));
    let out = ok(&site.umgw(&["status"]));
    assert_eq!(out, "calls_active 2\nmailboxes 4\n");
    let req = server.join().unwrap();
    assert!(req.starts_with("GET /status HTTP/1."), "{req}");
}

#[test]
fn help_reads_like_a_manual() {
    let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .arg("--help")
        .output()
        .unwrap();
    let text = ok(&out);
    for needle in [
        "EXAMPLES:",
        "umgw mailbox list",
        "umgw play",
        "UMGW_LOG",
        "status",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["mailbox", "set-pin", "--help"])
        .output()
        .unwrap();
    assert!(ok(&out).contains("standard input"));
}
