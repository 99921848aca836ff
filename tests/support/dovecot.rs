//! A private Dovecot (Debian `dovecot-imapd`, installed by scripts/install-test-deps.sh) on a
//! free loopback port: config, users, mail and log in a temporary directory; stopped on Drop.
//!
//! Users: each test user `u` has the password `u-pw`; the gateway logs in as `u*umgw` with the
//! master user `umgw` / `gw-secret`. Run as root (CI), mail belongs to `nobody`; run as another
//! user, Dovecot runs rootless as that user.
//!
//! [`RawImap`] is the tests' own minimal IMAP reader, independent of `umgw::store::imap`, so a
//! bug there cannot hide itself.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MASTER: &str = "umgw";
pub const MASTER_PASSWORD: &str = "gw-secret";

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    /// Plain IMAP (STARTTLS offered when started with TLS).
    pub addr: SocketAddr,
    /// IMAPS (implicit TLS) and the CA that signs the server's certificate (`umgw.test`),
    /// when started with [`Dovecot::start_tls`].
    pub tls: Option<(SocketAddr, PathBuf)>,
    child: Option<Child>,
}

fn dovecot_bin() -> &'static str {
    assert!(
        Path::new("/usr/sbin/dovecot").exists(),
        "dovecot not found: run scripts/install-test-deps.sh (Debian package dovecot-imapd)"
    );
    "/usr/sbin/dovecot"
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Dovecot {
    /// Starts Dovecot with `users` (each gets an empty INBOX on first login).
    pub fn start(users: &[&str]) -> Dovecot {
        Self::start_with(users, false)
    }

    /// Like [`Dovecot::start`], also serving IMAPS and STARTTLS with a test certificate for
    /// `umgw.test` signed by a test CA.
    pub fn start_tls(users: &[&str]) -> Dovecot {
        Self::start_with(users, true)
    }

    fn start_with(users: &[&str], tls: bool) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (uid, gid) = if is_root() {
            (65534, 65534) // nobody: Dovecot refuses to give mail processes root
        } else {
            // SAFETY: getuid/getgid have no preconditions.
            unsafe { (libc::getuid(), libc::getgid()) }
        };
        let mail = root.join("mail");
        fs::create_dir_all(&mail).unwrap();
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&mail, Some(uid), Some(gid)).unwrap();
        }
        let mut passwd = String::new();
        for u in users {
            passwd.push_str(&format!(
                "{u}:{{PLAIN}}{u}-pw:{uid}:{gid}::{}::\n",
                mail.join(u).display()
            ));
        }
        fs::write(root.join("users"), passwd).unwrap();
        fs::write(
            root.join("master-users"),
            format!("{MASTER}:{{PLAIN}}{MASTER_PASSWORD}\n"),
        )
        .unwrap();
        let port = super::free_port();
        let rootless = if is_root() {
            String::new()
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            format!("default_login_user = {me}\ndefault_internal_user = {me}\n")
        };
        let r = root.display();
        let (ssl, imaps, tls_info) = if tls {
            let pki = super::Pki::create(&root.join("pki"));
            let imaps = super::free_port();
            let ssl = format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                pki.cert("server").display(),
                pki.key("server").display()
            );
            let addr = SocketAddr::from(([127, 0, 0, 1], imaps));
            (ssl, imaps, Some((addr, pki.ca)))
        } else {
            ("ssl = no\n".to_owned(), 0, None)
        };
        let conf = format!(
            "base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
             listen = 127.0.0.1\nprotocols = imap\n{ssl}disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nauth_master_user_separator = *\n\
             mail_location = maildir:{r}/mail/%u\nfirst_valid_uid = 1\n{rootless}\
             mail_fsync = never\n\
             protocol imap {{\n  mail_max_userip_connections = 100\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = {r}/master-users\n  master = yes\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = {r}/users\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = {r}/users\n}}\n"
        );
        fs::write(root.join("dovecot.conf"), conf).unwrap();
        let mut d = Dovecot {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls: tls_info,
            dir,
            child: None,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let out = fs::File::create(self.dir.path().join("dovecot.out")).unwrap();
        use std::os::unix::process::CommandExt;
        // Its own process group: stopping signals the session processes too, which outlive
        // the master otherwise (a stopped server would keep answering on open connections).
        let child = Command::new(dovecot_bin())
            .process_group(0)
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn dovecot");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) {
                let mut greeting = [0u8; 64];
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if matches!(s.read(&mut greeting), Ok(n) if n > 0) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not start; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGTERM, as an operator's restart does) and waits for it to exit and
    /// release its port.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group this fixture created.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Then the rest of the group (signal 0 only checks for members).
        // SAFETY: as above.
        while unsafe { libc::kill(-pgid, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The port is free once nothing accepts on it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again on the same port, config and mail.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        s.push_str(&fs::read_to_string(self.dir.path().join("dovecot.out")).unwrap_or_default());
        s
    }

    /// The gateway's `[store]` and `[imap]` sections for this server; `store_keys` are more
    /// `[store]` keys (quotas, audio format).
    pub fn store_config(&self, store_keys: &str) -> String {
        format!(
            "[store]\nbackend = \"imap\"\nretry_initial_ms = 200\nretry_max_ms = 1000\n{store_keys}\
             [imap]\nserver = \"{}\"\nuser = \"{MASTER}\"\npassword = \"{MASTER_PASSWORD}\"\n\
             connect_timeout_ms = 1000\nio_timeout_ms = 15000\nreconnect_max_ms = 500\n",
            self.addr
        )
    }

    /// `[imap]` for building a store in the test process.
    pub fn imap_config(&self) -> umgw::config::ImapConfig {
        umgw::config::ImapConfig {
            server: self.addr.to_string(),
            user: MASTER.into(),
            password: Some(umgw::config::Secret(MASTER_PASSWORD.into())),
            reconnect_max_ms: 200,
            ..Default::default()
        }
    }

    /// A test IMAP session logged in as `user` (its own password, as a mail client would).
    pub fn client(&self, user: &str) -> RawImap {
        RawImap::login(self.addr, user, &format!("{user}-pw"))
    }

    /// Every message in `user`'s INBOX, read over IMAP (not flagged seen).
    pub fn messages(&self, user: &str) -> Vec<Vec<u8>> {
        let mut c = self.client(user);
        c.ok("SELECT INBOX");
        let (_, literals) = c.ok("UID FETCH 1:* (BODY.PEEK[])");
        literals
    }

    /// Waits until `user`'s INBOX holds `n` messages; returns them.
    pub fn wait_messages(&self, user: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages(user);
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minimal IMAP client for tests: tagged commands, literals collected in order.
pub struct RawImap {
    io: BufReader<TcpStream>,
    tag: u32,
}

impl RawImap {
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> RawImap {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = RawImap {
            io: BufReader::new(s),
            tag: 0,
        };
        let mut greeting = String::new();
        c.io.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c.ok(&format!("LOGIN \"{user}\" \"{password}\""));
        c
    }

    /// Runs `line`; asserts a tagged OK; returns the text lines and the literals.
    pub fn ok(&mut self, line: &str) -> (Vec<String>, Vec<Vec<u8>>) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.io
            .get_mut()
            .write_all(format!("{tag} {line}\r\n").as_bytes())
            .unwrap();
        let (mut lines, mut literals) = (Vec::new(), Vec::new());
        loop {
            let mut l = String::new();
            let n = self
                .io
                .read_line(&mut l)
                .unwrap_or_else(|e| panic!("{line}: no answer: {e}; so far: {lines:?}"));
            assert!(n > 0, "{line}: connection closed");
            if let Some(n) = l
                .trim_end()
                .strip_suffix('}')
                .and_then(|s| s.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut buf = vec![0u8; n];
                self.io.read_exact(&mut buf).unwrap();
                literals.push(buf);
            }
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{line}: {rest}");
                return (lines, literals);
            }
            lines.push(l);
        }
    }
}

/// Where a user's Maildir is inside the Dovecot directory (for inspecting files directly).
pub fn maildir_of(d: &Dovecot, user: &str) -> PathBuf {
    d.dir.path().join("mail").join(user)
}

/// Which store a gateway test runs on: the same scenarios on both backends.
pub enum Backend {
    Maildir,
    Imap(Dovecot),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Maildir => "maildir",
            Backend::Imap(_) => "imap",
        }
    }

    /// Starts a gateway on this backend; `store_extra` are more `[store]` keys;
    /// `opts.extra_config` follows.
    pub fn gateway(&self, mut opts: super::GatewayOptions, store_extra: &str) -> super::Gateway {
        let store = match self {
            Backend::Maildir => format!("[store]\nbackend = \"maildir\"\n{store_extra}"),
            Backend::Imap(dc) => dc.store_config(store_extra),
        };
        opts.extra_config = format!("{store}{}", opts.extra_config);
        super::Gateway::start(opts)
    }

    /// The store the gateway uses, opened from the test process (to seed or inspect it).
    pub fn store(&self, gw: &super::Gateway) -> Box<dyn umgw::store::Mailbox> {
        let local = gw.dir.path().join("data/mailboxes");
        match self {
            Backend::Maildir => Box::new(umgw::store::Maildir::open(local).unwrap()),
            Backend::Imap(dc) => {
                Box::new(umgw::store::Imap::open(&dc.imap_config(), local).unwrap())
            }
        }
    }

    /// `mailbox`'s messages as stored, parsed (Maildir: read from disk; IMAP: read over IMAP
    /// with the tests' own client).
    pub fn messages(&self, gw: &super::Gateway, mailbox: &str) -> Vec<umgw::store::ParsedMessage> {
        match self {
            Backend::Maildir => {
                let dir = gw.mailbox_dir(mailbox);
                let mut paths: Vec<PathBuf> = ["new", "cur"]
                    .iter()
                    .flat_map(|sub| fs::read_dir(dir.join(sub)).into_iter().flatten())
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                paths.sort();
                paths
                    .iter()
                    .map(|p| umgw::store::message::parse(&fs::read(p).unwrap()).unwrap())
                    .collect()
            }
            Backend::Imap(dc) => dc
                .messages(mailbox)
                .iter()
                .map(|m| umgw::store::message::parse(m).unwrap())
                .collect(),
        }
    }

    /// Waits until `mailbox` holds `n` messages (fails with the gateway log).
    pub fn wait_messages(
        &self,
        gw: &super::Gateway,
        mailbox: &str,
        n: usize,
    ) -> Vec<umgw::store::ParsedMessage> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = self.messages(gw, mailbox);
            if m.len() >= n || Instant::now() > deadline {
                assert_eq!(m.len(), n, "{} messages; log:\n{}", self.name(), gw.log());
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
