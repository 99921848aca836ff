//! SIP over TLS with mutual authentication (rustls on both sides; certificates made by rcgen
//! at run time), and SIPp deposits over TCP and over TLS (stunnel in front of SIPp, whose
//! Debian build has no TLS).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::*;
use umgw::store::MessageKind;

static SIPP: Mutex<()> = Mutex::new(());

fn client_config(pki: &Pki, identity: Option<&str>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(name) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(pki.cert(name))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(pki.key(name)).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Sends OPTIONS over TLS with the given client identity; the response text, or the error.
fn options_over_tls(gw: &Gateway, identity: Option<&str>) -> Result<String, String> {
    let pki = gw.pki.as_ref().unwrap();
    let tls_addr = gw.tls.unwrap();
    let conn = rustls::ClientConnection::new(
        client_config(pki, identity),
        ServerName::try_from("umgw.test").unwrap(),
    )
    .unwrap();
    let sock = TcpStream::connect(tls_addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let local = sock.local_addr().unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let req = format!(
        "OPTIONS sip:umgw@umgw.test SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls1\r\n\
         From: <sip:pool01@contoso.com>;tag=t\r\nTo: <sip:umgw@umgw.test>\r\nCall-ID: tls-1\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn mutual_tls_accepts_the_listed_peer() {
    let gw = Gateway::start(GatewayOptions {
        tls: true,
        ..GatewayOptions::default()
    });
    let resp = options_over_tls(&gw, Some("client")).unwrap();
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
    assert!(resp.contains("Via: SIP/2.0/TLS"), "{resp}");
}

#[test]
fn mutual_tls_refuses_other_peers() {
    let gw = Gateway::start(GatewayOptions {
        tls: true,
        ..GatewayOptions::default()
    });
    // No client certificate at all.
    assert!(options_over_tls(&gw, None).is_err());
    // Signed by a CA we do not trust.
    assert!(options_over_tls(&gw, Some("foreign")).is_err());
    // Our CA, but a name that is not a configured peer.
    assert!(options_over_tls(&gw, Some("unlisted")).is_err());
    gw.wait_log(
        "TLS peer certificate name not allowed",
        Duration::from_secs(3),
    );
    // And the listed peer still works afterwards.
    assert!(options_over_tls(&gw, Some("client"))
        .unwrap()
        .starts_with("SIP/2.0 200"));
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Stunnel(Child);

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// stunnel in client mode: plain TCP on the returned port, TLS with our client certificate to
/// the gateway.
fn stunnel(gw: &Gateway, work: &Path) -> (Stunnel, SocketAddr) {
    let pki = gw.pki.as_ref().unwrap();
    let port = free_port();
    let conf = work.join("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\ndebug = 4\n[sip]\nclient = yes\naccept = 127.0.0.1:{port}\n\
             connect = {}\ncert = {}\nkey = {}\nCAfile = {}\nverifyChain = yes\ncheckHost = umgw.test\n",
            gw.tls.unwrap(),
            pki.cert("client").display(),
            pki.key("client").display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    // Wrapped at once so Drop kills and reaps it on every path.
    let stunnel = Stunnel(
        Command::new("stunnel4")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel4 (scripts/install-test-deps.sh installs it)"),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            return (stunnel, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("stunnel did not start");
}

/// The deposit scenario over a stream transport; returns sipp's success and log.
fn sipp_deposit(target: SocketAddr, work: &Path, listen_ms: u64) -> (bool, String) {
    let rtp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_rx.local_addr().unwrap().port().to_string();
    let sf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/deposit_history_info.xml");
    let out = Command::new("sipp")
        .current_dir(work)
        .arg(target.to_string())
        .arg("-sf")
        .arg(&sf)
        .args([
            "-t",
            "t1",
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args([
            "-mp",
            &free_port().to_string(),
            "-timeout",
            "60s",
            "-timeout_error",
            "-nostdin",
        ])
        .args([
            "-key",
            "called",
            "sip:alice@contoso.com",
            "-key",
            "rtp_port",
            &rtp_port,
        ])
        .args(["-d", &listen_ms.to_string()])
        .output()
        .expect("sipp (scripts/install-test-deps.sh installs sip-tester)");
    drop(rtp_rx);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

fn check_deposit(gw: &Gateway, spoken: &[i16]) {
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    assert!(
        (audio.len() as i64 - spoken.len() as i64).abs() <= 320,
        "{} samples recorded",
        audio.len()
    );
    let (corr, _) = best_correlation(&through_pcmu(spoken), &audio, 400);
    assert!(corr > 0.95, "correlation {corr}");
}

#[test]
fn sipp_deposit_over_tcp() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 500, 0.3))],
        ..GatewayOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    let spoken = test_signal(2000);
    pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &spoken).unwrap();
    let (ok, log) = sipp_deposit(gw.sip, work.path(), 1200);
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    check_deposit(&gw, &spoken);
    assert!(gw.log().contains("stream connection"));
}

#[test]
fn sipp_deposit_over_mutual_tls() {
    let _one = SIPP.lock().unwrap_or_else(|e| e.into_inner());
    let gw = Gateway::start(GatewayOptions {
        tls: true,
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 500, 0.3))],
        ..GatewayOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    let (_stunnel, plain) = stunnel(&gw, work.path());
    let spoken = test_signal(2000);
    pcap::write_deposit_pcap(&work.path().join("deposit.pcap"), &spoken).unwrap();
    let (ok, log) = sipp_deposit(plain, work.path(), 1200);
    assert!(ok, "sipp failed:\n{log}\n--- umgw log ---\n{}", gw.log());
    check_deposit(&gw, &spoken);
    assert!(
        gw.log().contains("TLS connection established"),
        "{}",
        gw.log()
    );
}

#[test]
fn mwi_notify_over_mutual_tls_through_a_static_route() {
    use std::net::TcpListener;
    let pool = TcpListener::bind("127.0.0.1:0").unwrap();
    let pool_addr = pool.local_addr().unwrap();
    // The pool as Lync's NotifyTarget names it: a host, no user.
    let plan = test_plan(5, 1200, Some(1)).replace(
        "sip:mwi@127.0.0.1:1",
        "sip:pool01.contoso.com;transport=tls",
    );
    let gw = Gateway::start(GatewayOptions {
        tls: true,
        plan,
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
        extra_config: format!(
            "[[sip.routes]]\ndomain = \"pool01.contoso.com\"\naddress = \"{pool_addr}\"\ntransport = \"tls\"\n"
        ),
        ..GatewayOptions::default()
    });
    let pki = gw.pki.as_ref().unwrap();

    // The pool: a TLS server that requires the gateway's client certificate.
    let server_config = {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain: Vec<_> = CertificateDer::pem_file_iter(pki.cert("client"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(pki.key("client")).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap(),
        )
    };
    // Each NOTIFY comes on its own connection: the start-up refresh (0/0) first, then the
    // deposit's (1/0).
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        loop {
            let (sock, _) = pool.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let conn = rustls::ServerConnection::new(server_config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = tls.read(&mut buf).unwrap();
                assert!(n > 0, "closed before a whole NOTIFY");
                got.extend_from_slice(&buf[..n]);
                if let Ok(Some(len)) = umgw::sip::message::frame_length(&got, 65535) {
                    got.truncate(len);
                    break;
                }
            }
            let peer_cert = tls.conn.peer_certificates().unwrap()[0].clone();
            let gateway_end = tls.sock.peer_addr().unwrap();
            let notify = umgw::sip::message::Message::parse(&got).unwrap();
            let ok = umgw::sip::message::Message::response_to(&notify, 200, "OK", Some("pool"));
            tls.write_all(&ok.to_bytes()).unwrap();
            let summary =
                umgw::mwi::parse_message_summary(std::str::from_utf8(&notify.body).unwrap())
                    .unwrap();
            seen.push((summary.voice_new, summary.voice_old));
            if summary.voice_new > 0 {
                return (got, gateway_end, notify, peer_cert, seen);
            }
        }
    });

    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite("sip:alice@contoso.com", "", &offer);
    let ok = ua.final_response(Duration::from_secs(5));
    ua.ack(&ok);
    let media = Ua::media_target(&ok);
    ua.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(3));
    let (mut seq, mut ts) = (1u16, 0u32);
    ua.send_audio(media, &test_signal(1200), 9, &mut seq, &mut ts);
    ua.bye();

    let joined = server.join();
    if joined.is_err() {
        panic!("pool server failed; gateway log:\n{}", gw.log());
    }
    let (got, gateway_end, notify, peer_cert, seen) = joined.unwrap();
    assert_eq!(seen, [(0, 0), (1, 0)], "start-up refresh, then the deposit");
    // Byte for byte the NOTIFY of tests/data/lync/mwi-notify-exchange.sip: addressed to the
    // user as Exchange UM addresses it, the pool only where it went.
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/lync/mwi-notify-exchange.sip"
    ))
    .unwrap();
    let (head, body) = sample.split_once("\n\n").unwrap();
    let body = body.replace('\n', "\r\n");
    let want = format!("{head}\n\n")
        .replace('\n', "\r\n")
        .replace("{local}", &gateway_end.to_string())
        .replace("{branch}", &notify.top_via().unwrap().branch.unwrap())
        .replace("{tag}", notify.from_tag().unwrap())
        .replace("{call_id}", notify.call_id().unwrap())
        .replace("{server}", &format!("umgw/{}", env!("CARGO_PKG_VERSION")))
        .replace("{len}", &body.len().to_string())
        + &body;
    assert_eq!(String::from_utf8_lossy(&got), want);
    let summary =
        umgw::mwi::parse_message_summary(std::str::from_utf8(&notify.body).unwrap()).unwrap();
    assert_eq!((summary.voice_new, summary.voice_old), (1, 0));
    // The gateway authenticated with its own certificate.
    assert!(umgw::net::tls::peer_name_allowed(
        &peer_cert,
        &["umgw.test".into()]
    ));
    gw.wait_log("NOTIFY accepted", Duration::from_secs(3));
}
