//! Kamailio (Debian `kamailio`, installed by scripts/install-test-deps.sh) in front of test
//! gateways, running packaging/kamailio/kamailio.cfg exactly as shipped: the dispatcher list,
//! the probe interval and the runtime files come in as command-line defines and flags; log
//! (stderr), pid file and runtime directory live in a temporary directory; stopped on Drop.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Kamailio {
    pub dir: tempfile::TempDir,
    /// Where callers send their INVITEs (UDP).
    pub addr: SocketAddr,
    child: Child,
}

fn kamailio_bin() -> &'static str {
    assert!(
        Path::new("/usr/sbin/kamailio").exists(),
        "kamailio not found: run scripts/install-test-deps.sh (Debian package kamailio)"
    );
    "/usr/sbin/kamailio"
}

impl Kamailio {
    /// Starts Kamailio on `ip` (a free UDP and TCP port) dispatching to `nodes`, probing each
    /// every `probe_interval_s`; waits until it answers OPTIONS.
    pub fn start(ip: Ipv4Addr, nodes: &[SocketAddr], probe_interval_s: u32) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let list: String = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        let list_path = root.join("dispatcher.list");
        fs::write(&list_path, list).unwrap();
        let port = super::free_port_on(ip);
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/kamailio/kamailio.cfg");
        let log = fs::File::create(root.join("kamailio.log")).unwrap();
        let child = Command::new(kamailio_bin())
            // Foreground, logging to stderr; two workers are plenty on loopback.
            .args(["-DD", "-E", "-n", "2", "-f"])
            .arg(&cfg)
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list_path.display()))
            .arg("-A")
            .arg(format!("PROBE_INTERVAL={probe_interval_s}"))
            .args(["-l", &format!("udp:{ip}:{port}")])
            .arg("-Y")
            .arg(root)
            .arg("-P")
            .arg(root.join("kamailio.pid"))
            .arg("-w")
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn kamailio");
        let k = Kamailio {
            dir,
            addr: SocketAddr::from((ip, port)),
            child,
        };
        if !super::answers_options(k.addr, Duration::from_secs(10)) {
            panic!("kamailio did not answer OPTIONS; log:\n{}", k.log());
        }
        k
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM: the main process stops its workers (SIGKILL would leave them running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
