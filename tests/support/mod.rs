//! Test support: the real `umgw` binary on loopback, a small SIP/RTP user agent, and audio
//! helpers. No mocks: every test talks to the gateway over real sockets.
#![allow(dead_code)]

pub mod dovecot;
pub mod kamailio;
pub mod pcap;
pub mod sipp;
pub mod smtp;
pub mod stun;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use umgw::media::g711::G711;
use umgw::media::{dtmf, rtp};
use umgw::sip::message::{Message, Method};
use umgw::store::message::{parse, ParsedMessage};
use umgw::store::{MessageKind, NewMessage};

pub const CALLER: &str = "\"Bob Caller\" <sip:+14255550199@127.0.0.1>";

/// Gateway knobs a test may turn.
pub struct GatewayOptions {
    /// Dial-plan file text (one plan).
    pub plan: String,
    pub answer_delay_ms: u64,
    pub trusted: Vec<String>,
    /// Custom greetings to install: (mailbox id, samples).
    pub greetings: Vec<(String, Vec<i16>)>,
    /// Serve SIP over TLS with test certificates (mutual TLS, peer name pool01.contoso.com).
    pub tls: bool,
    /// More config text, appended (start it with a [section] header).
    pub extra_config: String,
    /// `call.min_free_disk_mb`.
    pub min_free_disk_mb: Option<u64>,
    /// Ports in the gateway's RTP range (even ones are used: 40 gives 20 calls).
    pub rtp_port_count: u16,
    /// Put the spool on a tmpfs of this many KiB (a disk that fills up); needs root and mount
    /// permission, as CI has.
    pub spool_tmpfs_kib: Option<u64>,
    /// More environment for the process (after `UMGW_LOG=debug`, so it may replace it).
    pub env: Vec<(String, String)>,
    /// Address of the SIP listeners (UDP and TCP); media stays on 127.0.0.1.
    pub sip_ip: Ipv4Addr,
    /// A Maildir root shared with other gateways (a cluster's store, `paths.mailboxes`), while
    /// the spool stays in this gateway's own data directory.
    pub shared_mailboxes: Option<PathBuf>,
    /// `call.shutdown_grace_ms`.
    pub shutdown_grace_ms: u64,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            plan: test_plan(5, 1200, None),
            answer_delay_ms: 0,
            trusted: vec!["127.0.0.1".into(), "127.0.0.2".into()],
            greetings: Vec::new(),
            tls: false,
            extra_config: String::new(),
            min_free_disk_mb: None,
            rtp_port_count: 40,
            spool_tmpfs_kib: None,
            env: Vec::new(),
            sip_ip: Ipv4Addr::LOCALHOST,
            shared_mailboxes: None,
            shutdown_grace_ms: 10_000,
        }
    }
}

/// Test PKI made with rcgen at run time (no committed keys): a CA, the gateway's server
/// certificate (umgw.test), a client certificate for the trusted pool (pool01.contoso.com),
/// one for an unlisted name from the same CA, and one from another CA.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl Pki {
    pub fn create(dir: &Path) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        };
        fs::create_dir_all(dir).unwrap();
        let make_ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (cert, key)
        };
        let (ca, ca_key) = make_ca("umgw test CA");
        let (other_ca, other_key) = make_ca("someone else's CA");
        let leaf = |name: &str,
                    usage: Vec<ExtendedKeyUsagePurpose>,
                    issuer: &rcgen::Certificate,
                    issuer_key: &KeyPair,
                    file: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = usage;
            let cert = params.signed_by(&key, issuer, issuer_key).unwrap();
            fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
            fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        };
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        // Like Exchange UM's certificate: server and client authentication (it opens TLS to
        // the pool for NOTIFY). The pool's certificate likewise.
        leaf(
            "umgw.test",
            vec![ServerAuth, ClientAuth],
            &ca,
            &ca_key,
            "server",
        );
        leaf(
            "pool01.contoso.com",
            vec![ServerAuth, ClientAuth],
            &ca,
            &ca_key,
            "client",
        );
        leaf(
            "rogue.contoso.com",
            vec![ClientAuth],
            &ca,
            &ca_key,
            "unlisted",
        );
        leaf(
            "pool01.contoso.com",
            vec![ClientAuth],
            &other_ca,
            &other_key,
            "foreign",
        );
        fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki {
            dir: dir.to_owned(),
            ca: dir.join("ca.pem"),
        }
    }

    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
}

/// A one-plan dial plan with alice (1001) and carol (1003, no notify target). `#` sends at
/// once (`CallerReviewEnabled = false`): the tests of the caller's options turn them on.
pub fn test_plan(idle_s: u32, max_s: u32, notify_port: Option<u16>) -> String {
    let notify = notify_port
        .map(|p| format!("NotifyTarget = \"sip:mwi@127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    format!(
        "Name = \"test\"\nUriType = \"SipName\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\n\
         MaxRecordingDuration = {max_s}\nRecordingIdleTimeout = {idle_s}\n\
         MinimumMessageDuration = 1000\n\
         CallerReviewEnabled = false\n\n\
         [[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\n\
         SipAddress = \"sip:alice@contoso.com\"\nDisplayName = \"Alice Anders\"\n{notify}\n\
         [[Mailbox]]\nId = \"carol\"\nExtension = \"1003\"\nSipAddress = \"sip:carol@contoso.com\"\n"
    )
}

/// Stores a voice mail from +14255550199 for alice straight into `gw`'s Maildir, its audio
/// `signal`, received at 1 795 700 000 s; its message id.
pub fn seed_voice_mail(gw: &Gateway, signal: &[i16]) -> String {
    use umgw::store::Mailbox;
    let store = umgw::store::Maildir::open(gw.dir.path().join("data/mailboxes")).unwrap();
    let wav = gw.dir.path().join("seed.wav");
    write_wav(&wav, signal);
    store
        .deposit(
            &umgw::store::MailboxId::new("alice").unwrap(),
            &voice_mail_for_alice(
                Some("+14255550199"),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_700_000),
                &wav,
                "seed",
            ),
        )
        .unwrap()
}

/// A one-second voice mail for alice of [`test_plan`], to seed straight into a store: from
/// `caller` (an unknown caller if `None`), received at `received`, its audio the WAV `wav`.
pub fn voice_mail_for_alice(
    caller: Option<&str>,
    received: SystemTime,
    wav: &Path,
    call_id: &str,
) -> NewMessage {
    NewMessage {
        kind: MessageKind::VoiceMail,
        caller: caller.map(str::to_owned),
        caller_name: None,
        mailbox_address: "sip:alice@contoso.com".into(),
        mailbox_name: None,
        received,
        duration: Duration::from_secs(1),
        call_id: call_id.to_owned(),
        audio: Some(wav.to_owned()),
        delivery_id: None,
        recovered: false,
        media_stats: None,
        cut_short: None,
        preview: None,
        forwarded: None,
        marks: umgw::domain::Marks::default(),
    }
}

/// Next MWI NOTIFY body as (new, old), answering it; retransmissions are skipped.
pub fn next_mwi(sock: &UdpSocket, seen: &mut Vec<String>) -> (u32, u32) {
    let s = next_mwi_summary(sock, seen);
    (s.voice_new, s.voice_old)
}

/// Next MWI NOTIFY body, parsed (urgent counts too), answering it; retransmissions skipped.
pub fn next_mwi_summary(sock: &UdpSocket, seen: &mut Vec<String>) -> umgw::mwi::MessageSummary {
    let mut buf = [0u8; 4096];
    loop {
        let (n, from) = sock.recv_from(&mut buf).expect("MWI NOTIFY");
        let notify = Message::parse(&buf[..n]).unwrap();
        let ok = Message::response_to(&notify, 200, "OK", Some("mwi"));
        sock.send_to(&ok.to_bytes(), from).unwrap();
        let call_id = notify.call_id().unwrap().to_owned();
        if seen.contains(&call_id) {
            continue; // a retransmission
        }
        seen.push(call_id);
        return umgw::mwi::parse_message_summary(std::str::from_utf8(&notify.body).unwrap())
            .unwrap();
    }
}

/// Calls the gateway's voice mail as a call to `user` (a URI) diverted there with History-Info
/// cause `cause` (480 unavailable, 486 busy), expects 200 and ACKs it; returns the gateway's
/// RTP address and the greeting and beep heard.
pub fn diverted_call(
    gw: &Gateway,
    ua: &mut Ua,
    user: &str,
    cause: u16,
) -> (SocketAddr, Vec<OwnedRtp>) {
    let offer = ua.g711_offer();
    ua.invite(
        &format!("sip:vm@{}", gw.sip),
        &format!(
            "History-Info: <{user}?Reason=SIP%3Bcause%3D{cause}>;index=1, <sip:vm@{}>;index=1.1\r\n",
            gw.sip
        ),
        &offer,
    );
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    let heard = ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(5));
    (media, heard)
}

/// Calls `ruri` from 127.0.0.1, expects 200 and ACKs it; the UA and the gateway's RTP address.
pub fn answered_call(gw: &Gateway, ruri: &str) -> (Ua, SocketAddr) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(ruri, "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    (ua, media)
}

/// Whether something at `sip` answers OPTIONS from 127.0.0.1 within `within`. Any answer
/// means the listener is up (a gateway says 403 when 127.0.0.1 is not trusted).
pub fn answers_options(sip: SocketAddr, within: Duration) -> bool {
    let ua = Ua::new("127.0.0.1", sip);
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        ua.send_options();
        if ua.recv(Duration::from_millis(100)).is_some() {
            return true;
        }
    }
    false
}

/// A running `umgw` process with its own data directory.
pub struct Gateway {
    child: Child,
    config_path: PathBuf,
    pub sip: SocketAddr,
    /// TLS listener, when started with `tls: true`.
    pub tls: Option<SocketAddr>,
    pub pki: Option<Pki>,
    /// The tmpfs mounted on the spool, unmounted when the gateway goes.
    spool_mount: Option<PathBuf>,
    env: Vec<(String, String)>,
    /// The Maildir root: `data/mailboxes`, or the shared one (`paths.mailboxes`).
    mailboxes: PathBuf,
    pub dir: tempfile::TempDir,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn free_port() -> u16 {
    free_port_on(Ipv4Addr::LOCALHOST)
}

/// A port free for both UDP and TCP on `ip`.
pub fn free_port_on(ip: Ipv4Addr) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

fn spawn_gateway(config_path: &Path, dir: &Path, env: &[(String, String)]) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("umgw.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["run", "--config"])
        .arg(config_path)
        .env("UMGW_LOG", "debug")
        .env("NO_COLOR", "1")
        // Hermetic: the test runner's own supervisor and log format are not the gateway's.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("UMGW_LOG_FORMAT")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn umgw")
}

impl Gateway {
    /// kill -9, then start again on the same config and data directory.
    pub fn crash_and_restart(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        self.child = spawn_gateway(&self.config_path, self.dir.path(), &self.env);
        self.wait_ready();
    }

    /// kill -9, without starting it again (see [`Gateway::restart`]).
    pub fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    /// Starts the gateway again on the same config and data directory after it exited (a
    /// drained or killed node coming back).
    pub fn restart(&mut self) {
        let status = self.child.try_wait().unwrap();
        assert!(status.is_some(), "restart: the gateway is still running");
        self.child = spawn_gateway(&self.config_path, self.dir.path(), &self.env);
        self.wait_ready();
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not exit; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the gateway and waits until it answers OPTIONS.
    pub fn start(opts: GatewayOptions) -> Gateway {
        let gw = Gateway::spawn(opts);
        gw.wait_ready();
        gw
    }

    /// Starts the gateway without waiting for it (a test that watches the start itself).
    pub fn spawn(opts: GatewayOptions) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let plans = dir.path().join("dialplans");
        fs::create_dir_all(&plans).unwrap();
        fs::write(plans.join("test.toml"), &opts.plan).unwrap();
        let mailboxes = opts
            .shared_mailboxes
            .clone()
            .unwrap_or_else(|| dir.path().join("data/mailboxes"));
        for (mailbox, samples) in &opts.greetings {
            let mdir = mailboxes.join(mailbox);
            fs::create_dir_all(&mdir).unwrap();
            write_wav(&mdir.join("greeting.wav"), samples);
        }
        let ip = opts.sip_ip;
        let port = free_port_on(ip);
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let rtp_base = 40000 + ((std::process::id() % 40) * 400 + k * 40) % 20000;
        let trusted: Vec<String> = opts.trusted.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "[sip]\nudp = [\"{ip}:{port}\"]\ntcp = [\"{ip}:{port}\"]\n\
             [media]\naddress = \"127.0.0.1\"\nrtp_port_min = {rtp_base}\nrtp_port_max = {}\n\
             [peers]\ntrusted = [{}]\n\
             [paths]\ndialplans = \"dialplans\"\ndata_dir = \"data\"\n{}\
             [call]\nanswer_delay_ms = {}\nmin_free_disk_mb = {}\nshutdown_grace_ms = {}\n",
            rtp_base + u32::from(opts.rtp_port_count.max(1)) - 1,
            trusted.join(", "),
            opts.shared_mailboxes
                .as_ref()
                .map(|m| format!("mailboxes = \"{}\"\n", m.display()))
                .unwrap_or_default(),
            opts.answer_delay_ms,
            opts.min_free_disk_mb.unwrap_or(16),
            opts.shutdown_grace_ms,
        );
        let mut config = config;
        let (mut tls, mut pki) = (None, None);
        if opts.tls {
            let p = Pki::create(&dir.path().join("pki"));
            let tls_port = free_port();
            config.push_str(&format!(
                "[tls]\nlisten = [\"127.0.0.1:{tls_port}\"]\ncertificate = \"pki/server.pem\"\n\
                 private_key = \"pki/server.key\"\nca = \"pki/ca.pem\"\n\
                 peer_names = [\"pool01.contoso.com\"]\n"
            ));
            tls = Some(SocketAddr::from(([127, 0, 0, 1], tls_port)));
            pki = Some(p);
        }
        config.push_str(&opts.extra_config);
        if !opts.extra_config.contains("[transcription]") {
            // Voice Mail Preview costs seconds of CPU per message: only the tests of it
            // (tests/preview.rs) turn it on.
            config.push_str("[transcription]\nengine = \"none\"\n");
        }
        let config_path = dir.path().join("umgw.toml");
        fs::write(&config_path, config).unwrap();
        if !opts.greetings.is_empty() && opts.extra_config.contains("backend = \"imap\"") {
            // On IMAP greetings live on the server: move them there as an operator would.
            let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
                .args(["mailbox", "migrate-state", "--config"])
                .arg(&config_path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "umgw mailbox migrate-state: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let spool_mount = opts.spool_tmpfs_kib.map(|kib| {
            let spool = dir.path().join("data/spool");
            fs::create_dir_all(&spool).unwrap();
            let out = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "umgw-test"])
                .arg(&spool)
                .output()
                .expect("run mount");
            assert!(
                out.status.success(),
                "a small spool disk needs root and mount permission (CI runs as root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            spool
        });
        let child = spawn_gateway(&config_path, dir.path(), &opts.env);
        Gateway {
            child,
            config_path,
            sip: SocketAddr::from((ip, port)),
            tls,
            pki,
            spool_mount,
            env: opts.env,
            mailboxes,
            dir,
        }
    }

    /// Waits until the gateway answers OPTIONS.
    pub fn wait_ready(&self) {
        if !answers_options(self.sip, Duration::from_secs(15)) {
            panic!("gateway did not answer OPTIONS; log:\n{}", self.log());
        }
    }

    /// The gateway's process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGHUP (reload dial plans).
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "log never said {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Path of the dial-plan file the gateway was started with.
    pub fn plan_path(&self) -> PathBuf {
        self.dir.path().join("dialplans/test.toml")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("umgw.log")).unwrap_or_default()
    }

    /// Names in the spool besides `free/` (emptied files kept for reuse): the entries.
    pub fn spool_entries(&self) -> Vec<String> {
        fs::read_dir(self.dir.path().join("data/spool"))
            .map(|list| {
                list.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "free")
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn mailbox_dir(&self, mailbox: &str) -> PathBuf {
        self.mailboxes.join(mailbox)
    }

    /// Messages in `new/`, parsed.
    pub fn messages(&self, mailbox: &str) -> Vec<ParsedMessage> {
        let new = self.mailbox_dir(mailbox).join("new");
        let Ok(entries) = fs::read_dir(&new) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        paths
            .iter()
            .map(|p| parse(&fs::read(p).unwrap()).expect("message parses back"))
            .collect()
    }

    /// Waits until `n` messages are in `new/` (or fails with the gateway log).
    pub fn wait_messages(&self, mailbox: &str, n: usize, timeout: Duration) -> Vec<ParsedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = self.messages(mailbox);
            if msgs.len() >= n || Instant::now() > deadline {
                assert_eq!(msgs.len(), n, "messages in {mailbox}; log:\n{}", self.log());
                return msgs;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Files in the mailbox's tmp/ (must be empty between deposits).
    pub fn tmp_files(&self, mailbox: &str) -> usize {
        fs::read_dir(self.mailbox_dir(mailbox).join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(spool) = &self.spool_mount {
            let _ = Command::new("umount").arg("-l").arg(spool).status();
        }
    }
}

/// A minimal SIP user agent over UDP with an RTP socket.
pub struct Ua {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    pub gw: SocketAddr,
    pub call_id: String,
    pub from_tag: String,
    branch_seq: u32,
    /// To header of the dialog (with the gateway's tag) once answered.
    pub to: Option<String>,
    pub invite_branch: String,
    /// The last INVITE, retransmitted (Timer A, unreliable transport) until answered.
    last_invite: Option<String>,
    /// Sequence number of the next RFC 4733 packet.
    dtmf_seq: std::sync::atomic::AtomicU16,
    /// Who calls (the From header's name-addr); [`CALLER`] unless a test says otherwise.
    pub from: String,
    /// Through a proxy that recorded its route (Kamailio): the answer's Contact, which ACK
    /// and BYE are addressed to, and the route set they carry (RFC 3261 §12.1.2).
    pub remote_target: Option<String>,
    pub route_set: Vec<String>,
}

impl Ua {
    pub fn new(ip: &str, gw: SocketAddr) -> Ua {
        let sip = UdpSocket::bind((ip, 0)).unwrap();
        let rtp = UdpSocket::bind((ip, 0)).unwrap();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Ua {
            sip,
            rtp,
            gw,
            call_id: format!("test-{}-{n}@umgw-tests", std::process::id()),
            from_tag: format!("ft{n}"),
            branch_seq: 0,
            to: None,
            invite_branch: String::new(),
            last_invite: None,
            dtmf_seq: std::sync::atomic::AtomicU16::new(5000),
            from: CALLER.to_owned(),
            remote_target: None,
            route_set: Vec::new(),
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    fn branch(&mut self) -> String {
        self.branch_seq += 1;
        format!("z9hG4bK-{}-{}", self.from_tag, self.branch_seq)
    }

    pub fn send(&self, text: &str) {
        self.sip.send_to(text.as_bytes(), self.gw).unwrap();
    }

    pub fn send_options(&self) {
        let text = format!(
            "OPTIONS sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKopt{n}\r\n\
             From: <sip:pool@contoso.com>;tag=o1\r\nTo: <sip:umgw@{gw}>\r\nCall-ID: opt-{n}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            gw = self.gw,
            l = self.local(),
            n = NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.send(&text);
    }

    pub fn sdp_offer(&self, formats: &str, rtpmaps: &str) -> String {
        let addr = self.rtp.local_addr().unwrap();
        let (ip, port) = (addr.ip(), addr.port());
        format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {formats}\r\n{rtpmaps}a=sendrecv\r\n"
        )
    }

    /// A G.711 offer asking for `ms`-millisecond packets (`a=ptime`).
    pub fn g711_offer_ptime(&self, ms: u32) -> String {
        self.sdp_offer(
            "0 8 101",
            &format!(
                "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
                 a=fmtp:101 0-15\r\na=ptime:{ms}\r\n"
            ),
        )
    }

    /// An RTP/SAVP offer of PCMU and telephone-event with an SDES key (`key` is key||salt).
    pub fn srtp_offer(&self, key: &[u8; 30]) -> String {
        use base64::Engine as _;
        let inline = base64::engine::general_purpose::STANDARD.encode(key);
        self.sdp_offer(
            "0 101",
            &format!(
                "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
                 a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline}\r\n"
            ),
        )
        .replace("RTP/AVP", "RTP/SAVP")
    }

    pub fn g711_offer(&self) -> String {
        self.sdp_offer(
            "0 8 101",
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        )
    }

    /// Sends an INVITE for `ruri` with extra header lines (each ending in CRLF).
    pub fn invite(&mut self, ruri: &str, extra: &str, sdp: &str) {
        self.invite_branch = self.branch();
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={b}\r\nMax-Forwards: 70\r\n\
             From: {from};tag={ft}\r\nTo: <{ruri}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:bob@{l}>\r\n{extra}Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            l = self.local(),
            b = self.invite_branch,
            ft = self.from_tag,
            from = self.from,
            cid = self.call_id,
            len = sdp.len()
        );
        self.send(&text);
        self.last_invite = Some(text);
    }

    /// INVITEs `ruri` with a G.711 offer, checks the 200, ACKs it; returns the gateway's
    /// media address.
    pub fn call(&mut self, gw: &Gateway, ruri: &str, extra: &str) -> SocketAddr {
        let offer = self.g711_offer();
        self.invite(ruri, extra, &offer);
        let ok = self.final_response(Duration::from_secs(5));
        assert_eq!(ok.status(), Some(200), "log:\n{}", gw.log());
        self.ack(&ok);
        Ua::media_target(&ok)
    }

    /// Calls a menu (an auto attendant's pilot `ruri`) and returns the gateway's media address
    /// once the first packet of its greeting or menu has arrived: the menu is talking.
    pub fn call_menu(&mut self, gw: &Gateway, ruri: &str) -> SocketAddr {
        let media = self.call(gw, ruri, "");
        let mut buf = [0u8; 1500];
        self.rtp
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        self.rtp.recv_from(&mut buf).expect("menu audio");
        media
    }

    /// Accepts the gateway's `refer` (202) and reports the transfer done, as a transferee
    /// does (RFC 3515 NOTIFY with a `SIP/2.0 200 OK` sipfrag): the gateway then hangs up.
    pub fn transfer_done(&self, refer: &Message) {
        let accepted = Message::response_to(refer, 202, "Accepted", Some("uas"));
        self.sip.send_to(&accepted.to_bytes(), self.gw).unwrap();
        let to = self.to.clone().expect("in a dialog");
        let body = "SIP/2.0 200 OK\r\n";
        self.send(&format!(
            "NOTIFY sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-td-{ft}\r\n\
             Max-Forwards: 70\r\nFrom: {CALLER};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\n\
             CSeq: 3 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\n\
             Content-Type: message/sipfrag\r\nContent-Length: {len}\r\n\r\n{body}",
            gw = self.gw,
            l = self.local(),
            ft = self.from_tag,
            cid = self.call_id,
            len = body.len()
        ));
    }

    /// Presses `keys` as RFC 4733 events, each with its own timestamp (advancing `ts`).
    pub fn keys(&self, media: SocketAddr, keys: &str, ts: &mut u32) {
        for k in keys.chars() {
            *ts = ts.wrapping_add(1600);
            self.send_dtmf(media, k, *ts);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn recv(&self, timeout: Duration) -> Option<Message> {
        self.sip.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 65535];
        match self.sip.recv_from(&mut buf) {
            Ok((n, _)) => Some(Message::parse(&buf[..n]).expect("gateway sent valid SIP")),
            Err(_) => None,
        }
    }

    /// Next response that is final (skips 1xx); panics after `timeout`.
    pub fn final_response(&mut self, timeout: Duration) -> Message {
        let deadline = Instant::now() + timeout;
        let mut next_retransmit = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if Instant::now() >= next_retransmit {
                // RFC 3261 Timer A: the INVITE (or the answer) may have been lost.
                if let Some(invite) = &self.last_invite {
                    self.send(invite);
                }
                next_retransmit = Instant::now() + Duration::from_millis(500);
            }
            if let Some(m) = self.recv(Duration::from_millis(100)) {
                if m.cseq().is_some_and(|(_, method)| method == Method::Invite) {
                    self.last_invite = None; // any answer: the server has the INVITE
                }
                if let Some(code) = m.status() {
                    if code >= 200 {
                        if code < 300 {
                            self.to = m.header("To").map(str::to_owned);
                            self.learn_route(&m);
                        }
                        return m;
                    }
                }
            }
        }
        panic!("no final response");
    }

    /// Takes the dialog's route from a 2xx that a proxy recorded its route in.
    fn learn_route(&mut self, ok: &Message) {
        let mut routes: Vec<String> = ok
            .headers_named("Record-Route")
            .map(str::to_owned)
            .collect();
        if routes.is_empty() {
            return;
        }
        routes.reverse();
        self.route_set = routes;
        self.remote_target = ok.header("Contact").map(|c| {
            let c = c.trim();
            let inner = c.find('<').map_or(c, |i| &c[i + 1..]);
            inner.split('>').next().unwrap_or(inner).to_owned()
        });
    }

    /// Request-URI and Route lines of an in-dialog request (ACK for 2xx, BYE).
    fn in_dialog_target(&self) -> (String, String) {
        let ruri = self
            .remote_target
            .clone()
            .unwrap_or_else(|| format!("sip:umgw@{}", self.gw));
        let routes: String = self
            .route_set
            .iter()
            .map(|r| format!("Route: {r}\r\n"))
            .collect();
        (ruri, routes)
    }

    pub fn ack(&mut self, resp: &Message) {
        let to = resp.header("To").unwrap().to_owned();
        let (branch, ruri, routes) = if resp.status().is_some_and(|c| c >= 300) {
            // A non-2xx ACK belongs to the INVITE transaction, hop by hop.
            let ruri = format!("sip:umgw@{}", self.gw);
            (self.invite_branch.clone(), ruri, String::new())
        } else {
            let (ruri, routes) = self.in_dialog_target();
            (self.branch(), ruri, routes)
        };
        let text = format!(
            "ACK {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch}\r\nMax-Forwards: 70\r\n\
             {routes}From: {from};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n",
            l = self.local(),
            ft = self.from_tag,
            from = self.from,
            cid = self.call_id,
        );
        self.send(&text);
    }

    pub fn cancel(&mut self, ruri: &str) {
        let text = format!(
            "CANCEL {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={b}\r\nMax-Forwards: 70\r\n\
             From: {from};tag={ft}\r\nTo: <{ruri}>\r\nCall-ID: {cid}\r\nCSeq: 1 CANCEL\r\n\
             Content-Length: 0\r\n\r\n",
            l = self.local(),
            b = self.invite_branch,
            ft = self.from_tag,
            from = self.from,
            cid = self.call_id,
        );
        self.send(&text);
    }

    pub fn bye(&mut self) {
        let to = self.to.clone().expect("dialog established");
        let branch = self.branch();
        let (ruri, routes) = self.in_dialog_target();
        let text = format!(
            "BYE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch}\r\nMax-Forwards: 70\r\n\
             {routes}From: {from};tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 2 BYE\r\n\
             Content-Length: 0\r\n\r\n",
            l = self.local(),
            ft = self.from_tag,
            from = self.from,
            cid = self.call_id,
        );
        self.send(&text);
    }

    /// Answers a request from the gateway (BYE, NOTIFY) with 200.
    pub fn ok(&self, req: &Message) {
        let resp = Message::response_to(req, 200, "OK", Some("uas"));
        self.sip.send_to(&resp.to_bytes(), self.gw).unwrap();
    }

    /// Answers an INVITE the gateway sent us with 200 and PCMU (+ telephone-event) at `rtp`.
    pub fn answer_invite(&self, invite: &Message, rtp: &UdpSocket) {
        let addr = rtp.local_addr().unwrap();
        let sdp = format!(
            "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            addr.port()
        );
        let mut ok = Message::response_to(invite, 200, "OK", Some("leg-b"));
        ok.push("Contact", format!("<sip:alice@{}>", self.local()));
        ok.push("Content-Type", "application/sdp");
        ok.body = sdp.into_bytes();
        self.sip.send_to(&ok.to_bytes(), self.gw).unwrap();
    }

    /// Waits for a request with `method` (answering nothing); panics after `timeout`.
    pub fn expect_request(&self, method: Method, timeout: Duration) -> Message {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(m) = self.recv(Duration::from_millis(100)) {
                if m.method() == Some(&method) {
                    return m;
                }
            }
        }
        panic!("no {method} within {timeout:?}");
    }

    /// The gateway's RTP address from its SDP answer.
    pub fn media_target(resp: &Message) -> SocketAddr {
        let text = std::str::from_utf8(&resp.body).unwrap();
        let port: u16 = text
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|r| r.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The payloads of the next `count` PCMU packets the gateway sends, joined.
    pub fn pcmu_payloads(&self, count: usize) -> Vec<u8> {
        self.rtp
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 1500];
        let mut out = Vec::new();
        for _ in 0..count {
            let n = self.rtp.recv(&mut buf).expect("the gateway keeps talking");
            let p = rtp::parse(&buf[..n]).expect("valid RTP");
            assert_eq!(p.payload_type, 0, "PCMU");
            out.extend_from_slice(p.payload);
        }
        out
    }

    /// Drops the RTP packets waiting in the socket (prompts a key cut short).
    pub fn drain_rtp(&self) {
        self.rtp
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut buf = [0u8; 1500];
        while self.rtp.recv(&mut buf).is_ok() {}
    }

    /// Receives RTP until none has arrived for `quiet` (after at least one packet) or `max`.
    pub fn recv_rtp_until_quiet(&self, quiet: Duration, max: Duration) -> Vec<OwnedRtp> {
        let deadline = Instant::now() + max;
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            self.rtp.set_read_timeout(Some(quiet)).unwrap();
            match self.rtp.recv_from(&mut buf) {
                Ok((n, _)) => {
                    let p = rtp::parse(&buf[..n]).expect("gateway sent valid RTP");
                    out.push(OwnedRtp {
                        at: Instant::now(),
                        marker: p.marker,
                        payload_type: p.payload_type,
                        sequence: p.sequence,
                        timestamp: p.timestamp,
                        ssrc: p.ssrc,
                        payload: p.payload.to_vec(),
                    });
                }
                Err(_) if !out.is_empty() => break,
                Err(_) => {}
            }
        }
        out
    }

    /// Listens to the gateway's prompts until they stop (as [`Ua::recv_rtp_until_quiet`]) while
    /// sending silence to `to`, as a phone does from the moment it is answered; the stream
    /// (`ssrc`, `seq`, `ts`) then goes on with what the caller says.
    pub fn listen_sending_silence(
        &self,
        to: SocketAddr,
        ssrc: u32,
        seq: &mut u16,
        ts: &mut u32,
    ) -> Vec<OwnedRtp> {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let listener = scope.spawn(|| {
                let heard =
                    self.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(8));
                done.store(true, Ordering::Relaxed);
                heard
            });
            while !done.load(Ordering::Relaxed) {
                self.send_audio(to, &[0; 160], ssrc, seq, ts);
            }
            listener.join().unwrap()
        })
    }

    /// Streams `samples` as PCMU RTP in real time (20 ms packets) to `to`.
    pub fn send_audio(
        &self,
        to: SocketAddr,
        samples: &[i16],
        ssrc: u32,
        seq: &mut u16,
        ts: &mut u32,
    ) {
        self.send_audio_packets(to, samples, ssrc, seq, ts, 160);
    }

    /// Streams `samples` as PCMU RTP in real time in packets of `per_packet` samples (80 for
    /// 10 ms ... 960 for 120 ms), timestamps advancing by the same.
    pub fn send_audio_packets(
        &self,
        to: SocketAddr,
        samples: &[i16],
        ssrc: u32,
        seq: &mut u16,
        ts: &mut u32,
        per_packet: usize,
    ) {
        let order: Vec<usize> = (0..samples.len().div_ceil(per_packet)).collect();
        self.send_packets(to, samples, ssrc, seq, ts, &order, per_packet);
    }

    /// Like [`Ua::send_audio`] but sends the 20 ms frames in `order` (indices into the frames;
    /// leaving one out drops it, reordering reorders it), one per 20 ms.
    pub fn send_frames(
        &self,
        to: SocketAddr,
        samples: &[i16],
        ssrc: u32,
        seq: &mut u16,
        ts: &mut u32,
        order: &[usize],
    ) {
        self.send_packets(to, samples, ssrc, seq, ts, order, 160);
    }

    /// Sends the `per_packet`-sample packets of `samples` in `order`, one per packet time.
    #[allow(clippy::too_many_arguments)] // the stream's state, as the callers keep it
    fn send_packets(
        &self,
        to: SocketAddr,
        samples: &[i16],
        ssrc: u32,
        seq: &mut u16,
        ts: &mut u32,
        order: &[usize],
        per_packet: usize,
    ) {
        let start = Instant::now();
        let mut buf = vec![0u8; 12 + per_packet];
        let packets: Vec<&[i16]> = samples.chunks(per_packet).collect();
        for (i, &k) in order.iter().enumerate() {
            let payload = packets[k];
            let hdr = rtp::RtpHeader {
                marker: k == 0,
                payload_type: 0,
                sequence: seq.wrapping_add(k as u16),
                timestamp: ts.wrapping_add((per_packet * k) as u32),
                ssrc,
            };
            let h = hdr.write(&mut buf);
            G711::Pcmu.encode(payload, &mut buf[h..h + payload.len()]);
            self.rtp.send_to(&buf[..h + payload.len()], to).unwrap();
            let due = start + Duration::from_micros(125 * per_packet as u64 * (i as u64 + 1));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        *seq = seq.wrapping_add(packets.len() as u16);
        *ts = ts.wrapping_add(samples.len() as u32);
    }

    /// Sends one RFC 4733 event (3 packets, then 3 end packets) with its own SSRC; the
    /// events' sequence numbers go on from one key to the next, as a phone's do.
    pub fn send_dtmf(&self, to: SocketAddr, digit: char, ts: u32) {
        let first_seq = self.dtmf_seq.fetch_add(6, Ordering::Relaxed);
        let event = dtmf::char_event(digit).unwrap();
        let mut buf = [0u8; 16];
        for (i, (end, duration)) in [
            (false, 160u16),
            (false, 320),
            (false, 480),
            (true, 640),
            (true, 640),
            (true, 640),
        ]
        .into_iter()
        .enumerate()
        {
            let h = rtp::RtpHeader {
                marker: i == 0,
                payload_type: 101,
                sequence: first_seq.wrapping_add(i as u16),
                timestamp: ts,
                ssrc: 0xD7F0,
            }
            .write(&mut buf);
            let n = dtmf::TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .write(&mut buf[h..]);
            self.rtp.send_to(&buf[..h + n], to).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A caller's paced RTP stream, SRTP-protected when `srtp` is set: audio and RFC 4733 keys on
/// one SSRC and one sequence space, as phones send them.
pub struct RtpStream {
    pub srtp: Option<umgw::media::srtp::SrtpContext>,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
}

impl RtpStream {
    /// Sends one packet from `ua`'s RTP socket to `to`.
    pub fn send(&mut self, ua: &Ua, to: SocketAddr, pt: u8, payload: &[u8], marker: bool) {
        let mut buf = [0u8; 1500];
        let h = rtp::RtpHeader {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        }
        .write(&mut buf);
        buf[h..h + payload.len()].copy_from_slice(payload);
        let mut n = h + payload.len();
        if let Some(ctx) = self.srtp.as_mut() {
            n = ctx.protect(&mut buf, n).unwrap();
        }
        ua.rtp.send_to(&buf[..n], to).unwrap();
        self.seq = self.seq.wrapping_add(1);
    }

    /// `samples` in `codec`, 20 ms a packet, in real time.
    pub fn audio(&mut self, ua: &Ua, to: SocketAddr, codec: G711, samples: &[i16]) {
        let start = Instant::now();
        for (i, frame) in samples.chunks(160).enumerate() {
            let mut enc = [0u8; 160];
            codec.encode(frame, &mut enc);
            self.send(ua, to, codec.payload_type(), &enc[..frame.len()], i == 0);
            self.ts = self.ts.wrapping_add(160);
            let due = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
        }
    }

    /// One key as RFC 4733 (payload type 101): three updates and the end three times.
    pub fn key(&mut self, ua: &Ua, to: SocketAddr, digit: char) {
        for k in 0..6u16 {
            let mut ev = [0u8; 4];
            dtmf::TelephoneEvent {
                event: dtmf::char_event(digit).unwrap(),
                end: k >= 3,
                volume: 10,
                duration: 160 * (k + 1).min(4),
            }
            .write(&mut ev);
            self.send(ua, to, 101, &ev, k == 0);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.ts = self.ts.wrapping_add(640);
    }
}

/// An RTP packet the UA received.
#[derive(Debug, Clone)]
pub struct OwnedRtp {
    pub at: Instant,
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// A test signal with a distinctive envelope: two tones under a 1.5 Hz amplitude swell.
pub fn test_signal(ms: u32) -> Vec<i16> {
    let n = (ms * 8) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let env = 0.3 + 0.7 * (std::f64::consts::PI * 1.5 * t).sin().abs();
            let s = (2.0 * std::f64::consts::PI * 350.0 * t).sin()
                + 0.6 * (2.0 * std::f64::consts::PI * 620.0 * t).sin();
            (s * env * 9000.0) as i16
        })
        .collect()
}

/// The recording `wav` is as long as `sent` (within 40 ms) and its waveform correlates with
/// `sent` through PCMU above `min`.
pub fn assert_audio_matches(sent: &[i16], wav: &[u8], min: f64) {
    assert_samples_match(sent, &read_wav(wav), min);
}

/// `audio` is as long as `sent` (within 40 ms) and correlates with it through PCMU above `min`.
pub fn assert_samples_match(sent: &[i16], audio: &[i16], min: f64) {
    let diff_ms = (audio.len() as i64 - sent.len() as i64).abs() / 8;
    assert!(
        diff_ms <= 40,
        "recorded {} ms, sent {} ms",
        audio.len() / 8,
        sent.len() / 8
    );
    let (corr, lag) = best_correlation(&through_pcmu(sent), audio, 400);
    assert!(corr > min, "correlation {corr} at lag {lag}");
}

/// What `samples` sound like after a G.711 round trip.
pub fn through_pcmu(samples: &[i16]) -> Vec<i16> {
    let mut enc = vec![0u8; samples.len()];
    G711::Pcmu.encode(samples, &mut enc);
    let mut dec = vec![0i16; samples.len()];
    G711::Pcmu.decode(&enc, &mut dec);
    dec
}

/// Whether the audio bytes `needle` (e.g. PCMU) occur in `haystack`, byte for byte.
pub fn contains_audio(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Best normalised cross-correlation of `a` against `b` over lags in ±`max_lag` samples.
pub fn best_correlation(a: &[i16], b: &[i16], max_lag: usize) -> (f64, isize) {
    let mut best = (f64::MIN, 0isize);
    for lag in -(max_lag as isize)..=(max_lag as isize) {
        let (mut dot, mut ea, mut eb) = (0f64, 0f64, 0f64);
        for (i, &x) in a.iter().enumerate() {
            let j = i as isize + lag;
            if j < 0 || j as usize >= b.len() {
                continue;
            }
            let y = b[j as usize] as f64;
            let x = x as f64;
            dot += x * y;
            ea += x * x;
            eb += y * y;
        }
        if ea > 0.0 && eb > 0.0 {
            let c = dot / (ea.sqrt() * eb.sqrt());
            if c > best.0 {
                best = (c, lag);
            }
        }
    }
    best
}

/// The power of `samples` (8 kHz) at `hz`, by the Goertzel recurrence, scaled so that a pure
/// tone's equals its energy (the sum of its squared samples).
pub fn tone_power(samples: &[i16], hz: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    2.0 * (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len() as f64
}

/// Per-20 ms-frame RMS levels.
pub fn frame_energy(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(160)
        .map(|f| (f.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / f.len() as f64).sqrt())
        .collect()
}

pub fn read_wav(bytes: &[u8]) -> Vec<i16> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    reader.into_samples::<i16>().map(Result::unwrap).collect()
}

pub fn write_wav(path: &Path, samples: &[i16]) {
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

/// Decodes received PCMU packets into samples, in arrival order.
pub fn decode_pcmu(packets: &[OwnedRtp]) -> Vec<i16> {
    let mut out = Vec::new();
    for p in packets {
        let mut buf = vec![0i16; p.payload.len()];
        G711::Pcmu.decode(&p.payload, &mut buf);
        out.extend_from_slice(&buf);
    }
    out
}

/// GET `path` from a gateway's admin endpoint: the whole answer, head and body.
pub fn admin_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: umgw\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of one metric line of a `/metrics` page (exact name and labels as rendered), 0
/// when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
