use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::server::{multipart, parse_response};
use super::*;

#[test]
fn multipart_has_the_fields_and_the_wav_untouched() {
    let wav = b"RIFF\x00\x01\r\n--b\r\nbinary";
    let body = multipart("b0undary", wav, "whisper-1", "verbose_json", Some("en"));
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("--b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b0undary\r\n"));
    assert!(text.contains(
        "Content-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n"
    ));
    assert!(text.contains("name=\"language\"\r\n\r\nen\r\n"));
    let file_head = "Content-Disposition: form-data; name=\"file\"; filename=\"voicemail.wav\"\r\nContent-Type: audio/wav\r\n\r\n";
    let at = text.find(file_head).unwrap() + file_head.len();
    assert_eq!(&body[at..at + wav.len()], wav);
    assert_eq!(&body[at + wav.len()..], b"\r\n--b0undary--\r\n");
    let plain = multipart("x", wav, "m", "json", None);
    assert!(!String::from_utf8_lossy(&plain).contains("language"));
}

#[test]
fn verbose_json_gives_segments_and_a_weighted_confidence() {
    let t = parse_response(
        r#"{"text":" Call me back. Soon","segments":[
            {"start":0.0,"end":3.0,"text":" Call me back.","avg_logprob":-0.2,"no_speech_prob":0.0},
            {"start":3.0,"end":4.0,"text":" Soon","avg_logprob":-2.0,"no_speech_prob":0.5}]}"#,
    )
    .unwrap();
    assert_eq!(t.segments.len(), 2);
    let c0 = (-0.2f64).exp() as f32;
    let c1 = ((-2.0f64).exp() * 0.5) as f32;
    assert!((t.segments[0].confidence.unwrap() - c0).abs() < 1e-4);
    assert!((t.segments[1].confidence.unwrap() - c1).abs() < 1e-4);
    let overall = (3.0 * c0 + c1) / 4.0;
    assert!((t.confidence.unwrap() - overall).abs() < 1e-4);
    let p = t.preview().unwrap();
    assert_eq!(p.text, "Call me back. [Soon]");
    assert!(!p.low_confidence);
}

#[test]
fn plain_json_gives_the_text_without_confidence() {
    let t = parse_response(r#"{"text":"  Hello\r\n there\u0007 "}"#).unwrap();
    assert_eq!(t.confidence, None);
    assert!(t.segments.is_empty());
    let p = t.preview().unwrap();
    assert_eq!(p.text, "Hello there");
    assert!(!p.low_confidence);
    assert_eq!(parse_response(r#"{"text":"   "}"#).unwrap().preview(), None);
}

#[test]
fn low_overall_confidence_is_flagged() {
    let t = parse_response(
        r#"{"text":"mumble","segments":[{"start":0,"end":2,"text":"mumble","avg_logprob":-0.6,"no_speech_prob":0.3}]}"#,
    )
    .unwrap();
    let p = t.preview().unwrap();
    assert!(p.low_confidence, "{t:?}");
    assert_eq!(p.text, "[mumble]");
}

#[test]
fn garbage_answers_are_errors_not_panics() {
    for bad in [
        "",
        "not json",
        "[]",
        r#"{"txt":"x"}"#,
        r#"{"text":5}"#,
        r#"{"text":"x","segments":[{"avg_logprob":-0.1}]}"#,
        "{\"text\":\"\u{0}",
    ] {
        assert!(parse_response(bad).is_err(), "{bad:?}");
    }
    // Odd but harmless values are tolerated.
    let t = parse_response(
        r#"{"text":"x","segments":[{"text":"x","avg_logprob":3.0,"no_speech_prob":7}],"extra":null}"#,
    )
    .unwrap();
    assert_eq!(t.segments[0].confidence, Some(0.0));
}

/// Counts calls and sleeps; the previewer's and the queue's limits are checked against it.
pub(super) struct Slow {
    pub running: AtomicUsize,
    pub most: AtomicUsize,
    sleep: Duration,
}

impl Transcriber for Arc<Slow> {
    fn transcribe(&self, samples: &[i16], _: Instant) -> Result<Transcript, TranscribeError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.sleep);
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(Transcript {
            text: format!("{} samples", samples.len()),
            ..Transcript::default()
        })
    }
}

pub(super) fn slow(ms: u64) -> Arc<Slow> {
    Arc::new(Slow {
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        sleep: Duration::from_millis(ms),
    })
}

pub(super) fn wav(dir: &Path, seconds: u32) -> std::path::PathBuf {
    let path = dir.join("m.wav");
    let mut w = hound::WavWriter::create(&path, crate::media::recorder::wav_spec()).unwrap();
    for i in 0..seconds * 8000 {
        w.write_sample((i % 100) as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

#[test]
fn previewer_caps_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let path = wav(dir.path(), 3);
    let slow = slow(10);
    let p = Previewer::new(
        Box::new(slow.clone()),
        Duration::from_secs(10),
        Duration::from_secs(2),
    );
    let deadline = Instant::now() + p.deadline();
    assert_eq!(p.preview(&path, deadline).unwrap().text, "16000 samples");
    // An unreadable recording: no preview.
    assert_eq!(p.preview(&dir.path().join("missing.wav"), deadline), None);
    assert_eq!(slow.most.load(Ordering::SeqCst), 1);
}

/// A CA and a `localhost` certificate it signed, as PEM files in `dir`: (ca, cert, key).
fn localhost_pki(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// Enough of a request: its head and the multipart body up to its closing delimiter.
fn read_request(r: &mut impl std::io::Read) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"--\r\n") {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// An https transcription server on localhost answering one request with `body`.
fn tls_server(cert: &Path, key: &Path, body: &'static str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::Write;
    let chain = vec![CertificateDer::from_pem_file(cert).unwrap()];
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            read_request(&mut tls);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(answer.as_bytes());
            let _ = tls.flush();
        }
    });
    port
}

#[test]
fn https_trusts_the_configured_ca_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = localhost_pki(dir.path());
    let port = tls_server(&cert, &key, r#"{"text":"over TLS"}"#);
    let cfg = |ca: Option<std::path::PathBuf>| crate::config::TranscriptionConfig {
        engine: "server".into(),
        url: format!("https://localhost:{port}"),
        ca,
        timeout_ms: 5000,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let engine = server::ServerEngine::from_config(&cfg(Some(ca))).unwrap();
    let t = engine.transcribe(&[0i16; 800], deadline).unwrap();
    assert_eq!(t.text, "over TLS");
    // The server's own certificate is not a CA we were told to trust: a connect error.
    let engine = server::ServerEngine::from_config(&cfg(Some(cert.clone()))).unwrap();
    let err = engine.transcribe(&[0i16; 800], deadline).unwrap_err();
    assert!(matches!(err, TranscribeError::Connect { .. }), "{err}");
    // No CA at all (config validation refuses this; the engine must still not panic).
    let engine = server::ServerEngine::from_config(&cfg(None)).unwrap();
    let err = engine.transcribe(&[0i16; 800], deadline).unwrap_err();
    assert!(matches!(err, TranscribeError::Connect { .. }), "{err}");
    let missing = cfg(Some(dir.path().join("nope.pem")));
    let err = server::ServerEngine::from_config(&missing).unwrap_err();
    assert!(err.starts_with("transcription.ca "), "{err}");
}

/// A plain HTTP server answering its requests in turn with `answers` (status line, body);
/// returns its port and the `response_format` of each request.
fn http_server(answers: Vec<(&'static str, &'static str)>) -> (u16, Arc<Mutex<Vec<String>>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let formats = Arc::new(Mutex::new(Vec::new()));
    let seen = formats.clone();
    std::thread::spawn(move || {
        for (mut sock, (status, body)) in listener.incoming().flatten().zip(answers) {
            let got = read_request(&mut sock);
            let text = String::from_utf8_lossy(&got);
            let format = text
                .split("name=\"response_format\"\r\n\r\n")
                .nth(1)
                .and_then(|r| r.split("\r\n").next())
                .unwrap_or("")
                .to_owned();
            seen.lock().unwrap().push(format);
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(answer.as_bytes());
        }
    });
    (port, formats)
}

fn http_engine(port: u16) -> server::ServerEngine {
    server::ServerEngine::from_config(&crate::config::TranscriptionConfig {
        engine: "server".into(),
        url: format!("http://127.0.0.1:{port}/"),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_server_without_verbose_json_is_asked_for_json_and_errors_carry_its_message() {
    let (port, formats) = http_server(vec![
        (
            "400 Bad Request",
            r#"{"error":{"message":"response_format verbose_json is not supported"}}"#,
        ),
        ("200 OK", r#"{"text":"plain json"}"#),
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let t = http_engine(port).transcribe(&[0; 800], deadline).unwrap();
    assert_eq!(t.text, "plain json");
    assert_eq!(t.confidence, None);
    assert_eq!(*formats.lock().unwrap(), ["verbose_json", "json"]);

    let (port, _) = http_server(vec![
        ("401 Unauthorized", r#"{"error":{"message":"bad key"}}"#),
        ("401 Unauthorized", "no key\r\nat all"),
    ]);
    let err = http_engine(port)
        .transcribe(&[0; 800], deadline)
        .unwrap_err();
    assert!(
        matches!(&err, TranscribeError::Status { status: 401, message, .. } if message == "no key at all"),
        "{err:?}"
    );
    let (port, formats) = http_server(vec![("200 OK", "<html>oops</html>")]);
    let err = http_engine(port)
        .transcribe(&[0; 800], deadline)
        .unwrap_err();
    assert!(
        matches!(err, TranscribeError::BadResponse { .. }),
        "{err:?}"
    );
    assert_eq!(formats.lock().unwrap().len(), 1, "a 2xx is not asked again");
    // Nobody listening: a connect error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = http_engine(port)
        .transcribe(&[0; 800], deadline)
        .unwrap_err();
    assert!(matches!(err, TranscribeError::Connect { .. }), "{err:?}");
}
