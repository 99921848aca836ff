//! The server engine: an OpenAI-compatible `POST {url}/v1/audio/transcriptions` (what
//! whisper.cpp's server, faster-whisper servers, vLLM and LocalAI expose), over `ureq`
//! (blocking, rustls with ring; `https` trusts only `transcription.ca`).
//!
//! The request is `multipart/form-data`: `file` (the 8 kHz WAV as recorded: servers
//! resample), `model`, `response_format=verbose_json` (segments with `avg_logprob` and
//! `no_speech_prob`, from which the preview marks uncertain stretches) and `language` if
//! configured. A server that refuses `verbose_json` with a 4xx is asked once more for `json`
//! (`{"text": ...}`, no confidences).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Segment, TranscribeError, Transcript};
use crate::config::TranscriptionConfig;

/// Longest error text from a server that goes into a log line.
const MESSAGE_MAX_CHARS: usize = 200;

/// An OpenAI-compatible transcription server.
pub struct ServerEngine {
    agent: ureq::Agent,
    /// `{url}/v1/audio/transcriptions`.
    endpoint: String,
    model: String,
    language: Option<String>,
    /// Sent as a bearer token; never logged.
    api_key: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for ServerEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEngine")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl ServerEngine {
    /// From `[transcription]`; the API key is read now (file first line, or environment).
    pub fn from_config(cfg: &TranscriptionConfig) -> Result<ServerEngine, String> {
        let api_key = match (&cfg.api_key_file, &cfg.api_key_env) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("transcription.api_key_file {}: {e}", path.display()))?;
                Some(text.lines().next().unwrap_or("").trim().to_owned())
            }
            (None, Some(var)) => Some(
                std::env::var(var)
                    .map_err(|_| format!("transcription.api_key_env {var} is not set"))?,
            ),
            (None, None) => None,
        };
        // Only `transcription.ca` is trusted (no built-in root list: webpki-roots' licence is
        // not one deny.toml allows, and a site's GPU box has a site certificate anyway).
        let roots = match &cfg.ca {
            Some(ca) => crate::net::tls::load_certs(ca)
                .map_err(|e| format!("transcription.ca {}: {e}", ca.display()))?
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                .collect(),
            None => Vec::new(),
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build();
        let agent = ureq::Agent::config_builder()
            // Statuses are answers to read (the server's error message), not errors.
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(ServerEngine {
            agent,
            endpoint: format!("{}/v1/audio/transcriptions", cfg.url.trim_end_matches('/')),
            model: cfg.model.clone(),
            language: cfg.language.clone(),
            api_key: api_key.filter(|k| !k.is_empty()),
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    fn post(
        &self,
        wav: &[u8],
        format: &str,
        deadline: Instant,
    ) -> Result<Result<Transcript, (u16, String)>, TranscribeError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = self.timeout.min(left);
        let timed_out = || TranscribeError::Timeout {
            url: self.endpoint.clone(),
            ms: timeout.as_millis() as u64,
        };
        if timeout.is_zero() {
            return Err(timed_out());
        }
        let boundary = format!("umgw-{:032x}", rand::random::<u128>());
        let body = multipart(
            &boundary,
            wav,
            &self.model,
            format,
            self.language.as_deref(),
        );
        let mut req = self.agent.post(&self.endpoint).header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(key) = &self.api_key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let sent = req
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(&body[..]);
        let mut resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => return Err(timed_out()),
            Err(e) => {
                return Err(TranscribeError::Connect {
                    url: self.endpoint.clone(),
                    why: e.to_string(),
                })
            }
        };
        let status = resp.status().as_u16();
        let text = match resp.body_mut().read_to_string() {
            Ok(t) => t,
            Err(ureq::Error::Timeout(_)) => return Err(timed_out()),
            Err(e) => {
                return Err(TranscribeError::BadResponse {
                    url: self.endpoint.clone(),
                    why: e.to_string(),
                })
            }
        };
        if !(200..300).contains(&status) {
            return Ok(Err((status, error_message(&text))));
        }
        parse_response(&text)
            .map(Ok)
            .map_err(|why| TranscribeError::BadResponse {
                url: self.endpoint.clone(),
                why,
            })
    }
}

impl super::Transcriber for ServerEngine {
    fn transcribe(
        &self,
        samples: &[i16],
        deadline: Instant,
    ) -> Result<Transcript, TranscribeError> {
        let wav = wav_bytes(samples);
        let mut answer = self.post(&wav, "verbose_json", deadline)?;
        if matches!(answer, Err((400..=499, _))) {
            // Not every server does verbose_json; plain json still gives the text.
            answer = self.post(&wav, "json", deadline)?;
        }
        answer.map_err(|(status, message)| TranscribeError::Status {
            url: self.endpoint.clone(),
            status,
            message,
        })
    }
}

/// The recording as a WAV file (the spool's format: 8 kHz mono 16-bit).
fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing to memory fails only past WAV's 4 GiB, far beyond `max_seconds`.
    if let Ok(mut w) = hound::WavWriter::new(&mut out, crate::media::recorder::wav_spec()) {
        for &s in samples {
            let _ = w.write_sample(s);
        }
        let _ = w.finalize();
    }
    out.into_inner()
}

/// The `multipart/form-data` body (RFC 7578) of a transcription request.
pub(crate) fn multipart(
    boundary: &str,
    wav: &[u8],
    model: &str,
    format: &str,
    language: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(wav.len() + 512);
    let mut field = |name: &str, value: &str| {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    };
    field("model", model);
    field("response_format", format);
    if let Some(lang) = language {
        field("language", lang);
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"voicemail.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(wav);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// A `json` or `verbose_json` answer. A segment's confidence is the probability of its
/// tokens (`exp(avg_logprob)`) times that it is speech at all (`1 - no_speech_prob`); the
/// overall confidence is the segments' mean weighted by their length.
pub(crate) fn parse_response(text: &str) -> Result<Transcript, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let full = v
        .get("text")
        .and_then(Value::as_str)
        .ok_or("no \"text\" string")?
        .to_owned();
    let mut segments = Vec::new();
    let (mut weighted, mut weight) = (0.0f64, 0.0f64);
    for s in v
        .get("segments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(text) = s.get("text").and_then(Value::as_str) else {
            return Err("a segment without a \"text\" string".into());
        };
        let logprob = s.get("avg_logprob").and_then(Value::as_f64);
        let no_speech = s
            .get("no_speech_prob")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let confidence =
            logprob.map(|lp| (lp.min(0.0).exp() * (1.0 - no_speech.clamp(0.0, 1.0))) as f32);
        if let Some(c) = confidence {
            let start = s.get("start").and_then(Value::as_f64).unwrap_or(0.0);
            let end = s.get("end").and_then(Value::as_f64).unwrap_or(start);
            let w = (end - start).max(0.01);
            weighted += f64::from(c) * w;
            weight += w;
        }
        segments.push(Segment {
            text: text.to_owned(),
            confidence,
        });
    }
    Ok(Transcript {
        text: full,
        confidence: (weight > 0.0).then(|| (weighted / weight) as f32),
        segments,
    })
}

/// The server's own words for an error: OpenAI's `{"error": {"message": ...}}`, else the
/// body's start.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let e = v.get("error")?;
        e.get("message")
            .and_then(Value::as_str)
            .or_else(|| e.as_str())
            .map(str::to_owned)
    });
    let text = from_json.unwrap_or_else(|| body.to_owned());
    // One log line.
    super::tidy(&text).chars().take(MESSAGE_MAX_CHARS).collect()
}
