//! Kamailio (Debian `kamailio`, installed by scripts/install-test-deps.sh) in front of test
//! gateways, running packaging/kamailio/kamailio.cfg exactly as shipped: the dispatcher list,
//! the probe interval and the runtime files come in as command-line defines and flags; log
//! (stderr), pid file and runtime directory live in a temporary directory; stopped on Drop.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Gateway, Ua};

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
        Kamailio::start_with(ip, nodes, probe_interval_s, &[])
    }

    /// [`Kamailio::start`] with more of the configuration's defines (`-A NAME=VALUE`), e.g.
    /// `PIKE_EXEMPT="127.0.0.3/32"`.
    pub fn start_with(
        ip: Ipv4Addr,
        nodes: &[SocketAddr],
        probe_interval_s: u32,
        defines: &[&str],
    ) -> Kamailio {
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
            .args(defines.iter().flat_map(|d| ["-A", d]))
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

    /// Kamailio's log and every node's, for a failing assertion.
    pub fn logs_with(&self, nodes: &[Gateway]) -> String {
        let mut out = format!("kamailio:\n{}\n", self.log());
        for (i, n) in nodes.iter().enumerate() {
            out.push_str(&format!("node {i} ({}):\n{}\n", n.sip, n.log()));
        }
        out
    }

    /// Calls `ruri` through Kamailio from `caller_ip` with a G.711 offer: expects a 200 from
    /// one of `nodes` within `timeout` and ACKs it through Kamailio by the recorded route.
    pub fn call(
        &self,
        caller_ip: &str,
        ruri: &str,
        nodes: &[Gateway],
        timeout: Duration,
    ) -> Answered {
        let mut ua = Ua::new(caller_ip, self.addr);
        let offer = ua.g711_offer();
        let start = Instant::now();
        ua.invite(ruri, "", &offer);
        let ok = ua.final_response(timeout);
        let answered_in = start.elapsed();
        assert_eq!(ok.status(), Some(200), "{}", self.logs_with(nodes));
        assert!(
            !ua.route_set.is_empty(),
            "Kamailio stays in the dialog (Record-Route)"
        );
        ua.ack(&ok);
        // The 200's Contact (the dialog's remote target) is the node that answered.
        let target = ua.remote_target.clone().expect("Contact in the 200");
        let node = nodes
            .iter()
            .position(|n| target.contains(&format!("@{};", n.sip)))
            .unwrap_or_else(|| panic!("answered by no node: {target}"));
        Answered {
            media: Ua::media_target(&ok),
            ua,
            node,
            answered_in,
        }
    }
}

/// A call answered by a node through Kamailio ([`Kamailio::call`]).
pub struct Answered {
    pub ua: Ua,
    /// Index of the node that answered.
    pub node: usize,
    /// The node's RTP address.
    pub media: SocketAddr,
    /// From INVITE to 200.
    pub answered_in: Duration,
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
