//! The operator commands (`umgw mailbox ...`, `umgw play`, `umgw status`) run as the real binary
//! against a data directory filled through the store's own deposit path; the admin HTTP
//! endpoint's connection cap and its accept loop when the process runs out of descriptors;
//! supervision by systemd (readiness, watchdog, reload, stop over a test `NOTIFY_SOCKET`) and
//! JSON log lines a pipeline can group by call.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

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
            cut_short: None,
            preview: None,
            forwarded: None,
            marks: umgw::domain::Marks::default(),
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

/// A gateway with its admin endpoint on a free loopback port and `admin.max_connections`.
fn gateway_with_admin(max_connections: usize) -> (support::Gateway, SocketAddr) {
    let admin = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = support::Gateway::start(support::GatewayOptions {
        extra_config: format!(
            "[admin]\nlisten = \"{admin}\"\nmax_connections = {max_connections}\n"
        ),
        ..Default::default()
    });
    gw.wait_log("admin endpoint", Duration::from_secs(5));
    (gw, admin)
}

/// Sends `GET path` on `stream` and reads the whole answer.
fn get_on(mut stream: TcpStream, path: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: umgw\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

fn get(addr: SocketAddr, path: &str) -> String {
    get_on(TcpStream::connect(addr).unwrap(), path)
}

/// How many times the gateway's log has a line containing `needle`.
fn log_lines(gw: &support::Gateway, needle: &str) -> usize {
    gw.log().lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn admin_endpoint_answers_503_beyond_its_connection_cap_and_serves_again_after() {
    let (gw, admin) = gateway_with_admin(4);
    assert!(get(admin, "/health").starts_with("HTTP/1.0 200 OK\r\n"));

    // Four clients that connect and say nothing hold every place (each has 5 s to speak).
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(admin).unwrap()).collect();
    // The backlog is accepted in order, so the fifth and sixth find the cap reached: each is
    // told 503 at once, without sending anything, and closed.
    for _ in 0..2 {
        let mut refused = TcpStream::connect(admin).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut answer = String::new();
        refused.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.0 503 Service Unavailable\r\n"),
            "{answer:?}"
        );
    }
    assert_eq!(
        log_lines(&gw, "answering 503 until one closes"),
        1,
        "one warning per burst of refusals:\n{}",
        gw.log()
    );

    // The held connections are served when they speak, and closing them frees their places.
    let mut held = held.into_iter();
    let first = held.next().unwrap();
    assert!(get_on(first, "/health").ends_with("\r\n\r\nok\n"));
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut answers = Vec::new();
    for _ in 0..6 {
        let answer = loop {
            let a = get(admin, "/health");
            if a.starts_with("HTTP/1.0 200 OK\r\n") || Instant::now() > deadline {
                break a;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        answers.push(answer);
    }
    for a in &answers {
        assert!(a.starts_with("HTTP/1.0 200 OK\r\n"), "{answers:?}");
    }
}

/// The lowest descriptor number process `pid` does not use: with RLIMIT_NOFILE at this
/// value, every new descriptor (an accepted connection too) fails with EMFILE.
fn lowest_free_fd(pid: u32) -> u64 {
    let used: std::collections::BTreeSet<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !used.contains(n)).unwrap()
}

/// Sets the soft RLIMIT_NOFILE of `pid`; returns the previous soft limit.
fn set_nofile(pid: u32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to rlimit structs; a null new limit only reads the current one.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(rc, 0, "prlimit read: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit set: {}", std::io::Error::last_os_error());
    old.rlim_cur
}

/// CPU time (user + system) process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name in parentheses; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((fields[0] + fields[1]) * 1000 / ticks)
}

#[test]
fn admin_accept_loop_pauses_while_out_of_descriptors_and_recovers() {
    let (gw, admin) = gateway_with_admin(64);
    assert!(get(admin, "/health").starts_with("HTTP/1.0 200 OK\r\n"));
    let pid = gw.pid();

    let old = set_nofile(pid, lowest_free_fd(pid));
    // Connections the kernel completes but the gateway cannot accept: the listener stays
    // readable the whole time, which is what made the old loop spin.
    let waiting: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(admin).unwrap()).collect();
    let cpu_before = cpu_time(pid);
    std::thread::sleep(Duration::from_millis(2500));
    let cpu = cpu_time(pid) - cpu_before;
    let warnings = log_lines(&gw, "cannot accept connections");
    set_nofile(pid, old);

    // A spinning loop burns a core (about 2.5 s here); pausing costs a few wake-ups.
    assert!(
        cpu < Duration::from_millis(500),
        "the gateway used {cpu:?} of CPU in 2.5 s while out of descriptors"
    );
    assert_eq!(
        warnings,
        1,
        "one warning per burst of failures:\n{}",
        gw.log()
    );

    // With descriptors again, the waiting connections are accepted (within the longest pause)
    // and answered, and so is a new one.
    for stream in waiting {
        let answer = get_on(stream, "/health");
        assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer:?}");
    }
    assert!(get(admin, "/health").starts_with("HTTP/1.0 200 OK\r\n"));
    assert_eq!(
        log_lines(&gw, "accepting connections again"),
        1,
        "{}",
        gw.log()
    );
}

/// A unix datagram socket standing in for systemd's `NOTIFY_SOCKET`.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        NotifySocket {
            sock,
            path,
            _dir: dir,
        }
    }

    /// The environment systemd gives a `Type=notify` service (`WatchdogSec` as
    /// `WATCHDOG_USEC`, when set).
    fn env(&self, watchdog_usec: Option<u64>) -> Vec<(String, String)> {
        let mut env = vec![("NOTIFY_SOCKET".into(), self.path.display().to_string())];
        if let Some(usec) = watchdog_usec {
            env.push(("WATCHDOG_USEC".into(), usec.to_string()));
        }
        env
    }

    /// The next notification within `timeout`.
    fn recv(&self, timeout: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.sock.recv(&mut buf).ok()?;
        Some(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    /// Notifications up to the first with the line `line` (the last one returned).
    fn until(&self, line: &str, timeout: Duration, gw: &support::Gateway) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(m) = self.recv(left) else { break };
            let found = m.lines().any(|l| l == line);
            seen.push(m);
            if found {
                return seen;
            }
        }
        panic!("no {line} in {timeout:?}; got {seen:?}; log:\n{}", gw.log());
    }
}

#[test]
fn systemd_hears_ready_after_the_listener_then_watchdog_pings_reload_and_stopping() {
    let notify = NotifySocket::new();
    let mut gw = support::Gateway::spawn(support::GatewayOptions {
        env: notify.env(Some(400_000)),
        ..Default::default()
    });
    let before = notify.until("READY=1", Duration::from_secs(15), &gw);
    // The moment READY=1 arrives the SIP listener answers: it was bound before.
    let ua = support::Ua::new("127.0.0.1", gw.sip);
    ua.send_options();
    let answer = ua.recv(Duration::from_secs(2));
    assert_eq!(
        answer.and_then(|a| a.status()),
        Some(200),
        "OPTIONS unanswered when READY=1 arrived; log:\n{}",
        gw.log()
    );
    assert!(
        before.last().unwrap().contains("STATUS=serving"),
        "{before:?}"
    );
    assert!(gw.log().contains("umgw ready"), "{}", gw.log());

    // WATCHDOG_USEC = 400 ms: a ping every 200 ms, with the calls in progress.
    let watched = Instant::now();
    let mut pings = Vec::new();
    while watched.elapsed() < Duration::from_millis(1500) {
        if let Some(m) = notify.recv(Duration::from_millis(500)) {
            if m.lines().any(|l| l == "WATCHDOG=1") {
                pings.push(m);
            }
        }
    }
    assert!((4..=10).contains(&pings.len()), "{pings:?}");
    assert!(
        pings
            .iter()
            .all(|p| p.contains("STATUS=serving; calls in progress: 0")),
        "{pings:?}"
    );

    // SIGHUP: RELOADING=1 (with the monotonic time systemd wants), READY=1 once the plans
    // are in.
    gw.sighup();
    let reloading = notify.until("RELOADING=1", Duration::from_secs(5), &gw);
    assert!(
        reloading.last().unwrap().contains("MONOTONIC_USEC="),
        "{reloading:?}"
    );
    notify.until("READY=1", Duration::from_secs(5), &gw);

    // SIGTERM: STOPPING=1 as the drain starts, then a clean exit.
    gw.sigterm();
    notify.until("STOPPING=1", Duration::from_secs(5), &gw);
    assert!(gw.wait_exit(Duration::from_secs(15)).success());
}

/// Serves the IMAP a readiness check needs on `listener`: greeting, `NOOP`, `LOGOUT`.
fn answer_imap_checks(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = conn.write_all(b"* OK fake IMAP ready\r\n");
            let mut lines = BufReader::new(conn.try_clone().unwrap()).lines();
            while let Some(Ok(line)) = lines.next() {
                let (tag, verb) = line.split_once(' ').unwrap_or((&line, ""));
                let reply = match verb {
                    "NOOP" => format!("{tag} OK NOOP completed\r\n"),
                    "LOGOUT" => format!("* BYE\r\n{tag} OK LOGOUT completed\r\n"),
                    _ => format!("{tag} BAD not in this test\r\n"),
                };
                let _ = conn.write_all(reply.as_bytes());
            }
        }
    });
}

#[test]
fn a_store_that_does_not_answer_holds_back_ready_until_it_does() {
    // An IMAP store on a port where nothing listens yet.
    let imap_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let notify = NotifySocket::new();
    let gw = support::Gateway::start(support::GatewayOptions {
        extra_config: format!(
            "[store]\nbackend = \"imap\"\n\
             [imap]\nserver = \"127.0.0.1:{imap_port}\"\npassword = \"not-used\"\n\
             connect_timeout_ms = 200\n"
        ),
        env: notify.env(None),
        ..Default::default()
    });
    // SIP answers (start waited for OPTIONS), but the node is not ready.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(m) = notify.recv(left) {
            seen.push(m);
        }
    }
    assert!(
        !seen.iter().any(|m| m.lines().any(|l| l == "READY=1")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.starts_with(&format!(
            "STATUS=waiting for the store: mail server 127.0.0.1:{imap_port} unavailable"
        ))),
        "{seen:?}"
    );
    assert_eq!(
        log_lines(&gw, "the store does not answer: not ready"),
        1,
        "{}",
        gw.log()
    );
    assert!(!gw.log().contains("umgw ready"), "{}", gw.log());

    // The server comes up: READY=1 at the next check (at most 5 s apart).
    answer_imap_checks(TcpListener::bind(("127.0.0.1", imap_port)).unwrap());
    notify.until("READY=1", Duration::from_secs(10), &gw);
    gw.wait_log("the store answers", Duration::from_secs(1));
    gw.wait_log("umgw ready", Duration::from_secs(1));
}

#[test]
fn json_log_lines_carry_the_call_id_and_mailbox_of_their_call() {
    let gw = support::Gateway::start(support::GatewayOptions {
        extra_config: "[log]\nformat = \"json\"\n".into(),
        ..Default::default()
    });
    let (mut ua, _media) = support::answered_call(&gw, "sip:alice@contoso.com");
    std::thread::sleep(Duration::from_millis(300));
    ua.bye();
    assert_eq!(
        ua.final_response(Duration::from_secs(5)).status(),
        Some(200)
    );
    gw.wait_log("call ended", Duration::from_secs(5));

    let log = gw.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\nlog:\n{log}"))
        })
        .collect();
    for l in &lines {
        for key in ["timestamp", "level", "target"] {
            assert!(l.get(key).is_some(), "no {key} in {l}");
        }
    }
    let of_call: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["call_id"] == ua.call_id.as_str())
        .collect();
    assert!(of_call.len() >= 2, "lines of the call:\n{log}");
    assert!(
        of_call.iter().any(|l| l["span"]["mailbox"] == "alice"),
        "no line of the call names its mailbox:\n{log}"
    );
    assert!(
        of_call.iter().any(|l| l["message"] == "call ended"),
        "the call's end is one of its lines:\n{log}"
    );
}
