//! A real SMTP server for the e-mail notification tests: Debian's `python3-aiosmtpd`
//! (installed by scripts/install-test-deps.sh) on a loopback port, requiring STARTTLS (a test
//! certificate for `umgw.test`) and AUTH (PLAIN/LOGIN) before it takes mail. Each message it
//! takes is written to a directory with what the server saw in front of it as headers:
//! `X-Test-Mail-From`, `X-Test-Rcpt-To`, `X-Test-Auth` (the user) and `X-Test-TLS`.
//! Recipients starting with `reject` are refused with 550. Stopped on Drop.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Pki;

pub const SMTP_USER: &str = "umgw-notify";
pub const SMTP_PASSWORD: &str = "smtp-secret";

const SERVER: &str = r#"
import itertools, os, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, out, cert, key, user, password = sys.argv[1:8]
counter = itertools.count(1)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        login = session.auth_data.login.decode() if session.auth_data else ""
        head = "X-Test-Mail-From: %s\r\nX-Test-Rcpt-To: %s\r\nX-Test-Auth: %s\r\nX-Test-TLS: %s\r\n" % (
            envelope.mail_from, ",".join(envelope.rcpt_tos), login, session.ssl is not None)
        tmp = os.path.join(out, ".%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(head.encode())
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(out, "%04d.eml" % n))
        return "250 Message accepted"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
          and auth_data.password == password.encode())
    return AuthResult(success=ok, auth_data=auth_data if ok else None)

tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
controller = Controller(Handler(), hostname=host, port=int(port), ready_timeout=20,
                        tls_context=tls, require_starttls=True, auth_required=True,
                        auth_require_tls=True, authenticator=authenticator)
controller.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
"#;

pub struct SmtpServer {
    pub addr: SocketAddr,
    /// The CA that signs the server's certificate (`umgw.test`).
    pub ca: PathBuf,
    out: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

/// A server about to be started on a port the gateway is told about first.
pub struct Pending {
    dir: tempfile::TempDir,
    pki: Pki,
    port: u16,
}

impl Pending {
    pub fn new(port: u16) -> Pending {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(&dir.path().join("pki"));
        Pending { dir, pki, port }
    }

    /// The gateway's `[email]` section for this server.
    pub fn config(&self, extra: &str) -> String {
        email_config(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            &self.pki.ca,
            extra,
        )
    }

    pub fn start(self) -> SmtpServer {
        assert!(
            std::path::Path::new("/usr/lib/python3/dist-packages/aiosmtpd").exists(),
            "aiosmtpd not found: run scripts/install-test-deps.sh (Debian package python3-aiosmtpd)"
        );
        let out = self.dir.path().join("mail");
        fs::create_dir_all(&out).unwrap();
        let script = self.dir.path().join("smtp_server.py");
        fs::write(&script, SERVER).unwrap();
        // Debian's interpreter: the package installs aiosmtpd for it, not for any other python3
        // on the PATH.
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .args(["127.0.0.1", &self.port.to_string()])
            .arg(&out)
            .arg(self.pki.cert("server"))
            .arg(self.pki.key("server"))
            .args([SMTP_USER, SMTP_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the aiosmtpd test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP test server did not start");
        SmtpServer {
            addr: SocketAddr::from(([127, 0, 0, 1], self.port)),
            ca: self.pki.ca.clone(),
            out,
            _dir: self.dir,
            child,
        }
    }
}

/// `[email]` for a server at `addr` whose certificate `ca` signs: STARTTLS, AUTH with the test
/// user, the password from `UMGW_TEST_SMTP_PASSWORD`.
fn email_config(addr: SocketAddr, ca: &std::path::Path, extra: &str) -> String {
    format!(
        "[email]\nsmtp_server = \"{addr}\"\ntls = \"starttls\"\nca = \"{}\"\nserver_name = \"umgw.test\"\n\
         user = \"{SMTP_USER}\"\npassword_env = \"UMGW_TEST_SMTP_PASSWORD\"\n\
         from = \"Contoso Voice Mail <voicemail@contoso.com>\"\n{extra}",
        ca.display()
    )
}

impl SmtpServer {
    /// Starts the server on a free loopback port.
    pub fn start() -> SmtpServer {
        Pending::new(super::free_port()).start()
    }

    /// The gateway's `[email]` section for this server (STARTTLS, AUTH).
    pub fn config(&self, extra: &str) -> String {
        email_config(self.addr, &self.ca, extra)
    }

    /// The messages taken so far, in order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<PathBuf> = fs::read_dir(&self.out)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| fs::read(p).unwrap()).collect()
    }

    /// Waits until at least `n` messages were taken.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() > deadline {
                assert!(
                    got.len() >= n,
                    "{} of {n} e-mails within {timeout:?}",
                    got.len()
                );
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
