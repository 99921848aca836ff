//! `[transcription]`: the Voice Mail Preview engine and its limits (docs/CONFIG.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Voice Mail Preview: which engine transcribes voice mails, and its limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscriptionConfig {
    /// `embedded` (the speech model installed with the gateway), `server` (an
    /// OpenAI-compatible transcription server) or `none` (no previews).
    pub engine: String,
    /// The embedded engine's model directory (Whisper tiny.en in CTranslate2 layout, as
    /// `scripts/install-model.sh` installs it).
    pub model_dir: Option<PathBuf>,
    /// Base URL of the server (`http://gpu1:8000`); `/v1/audio/transcriptions` is appended.
    pub url: String,
    /// The `model` field sent to the server.
    pub model: String,
    /// PEM CA certificates an `https` server's certificate must chain to (required for https).
    pub ca: Option<PathBuf>,
    /// File whose first line is the server's API key (sent as a bearer token).
    pub api_key_file: Option<PathBuf>,
    /// Environment variable holding the API key (when `api_key_file` is unset).
    pub api_key_env: Option<String>,
    /// Longest wait for one request to the server (ms).
    pub timeout_ms: u64,
    /// Transcriptions running at once (threads of their own); more wait in the queue (up to
    /// the deadline).
    pub max_concurrent: usize,
    /// Messages waiting for a transcription at most; beyond it a message is delivered at
    /// once without a preview.
    pub queue_limit: usize,
    /// From hang-up: past this the message is delivered without a preview (ms).
    pub deadline_ms: u64,
    /// Only the first this many seconds of a recording are transcribed.
    pub max_seconds: u64,
    /// Spoken language as an ISO 639-1 code (`en`); unset: the server detects it.
    pub language: Option<String>,
}

impl Default for TranscriptionConfig {
    fn default() -> Self {
        Self {
            engine: "embedded".into(),
            model_dir: None,
            url: String::new(),
            model: "whisper-1".into(),
            ca: None,
            api_key_file: None,
            api_key_env: None,
            timeout_ms: 30_000,
            max_concurrent: 4,
            queue_limit: 1000,
            deadline_ms: 60_000,
            max_seconds: 75,
            language: None,
        }
    }
}

impl TranscriptionConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        match self.engine.as_str() {
            "none" => return Ok(()),
            "server" => {}
            "embedded" => return self.validate_limits(),
            other => {
                return Err(format!(
                    "transcription.engine {other:?} must be embedded, server or none"
                ))
            }
        }
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(format!(
                "transcription.url {:?} must be an http:// or https:// URL (the server's base, e.g. http://gpu1:8000)",
                self.url
            ));
        }
        if url.starts_with("https://") && self.ca.is_none() {
            return Err("transcription.url is https: transcription.ca (the CA that signs the server) is required".into());
        }
        if self.model.trim().is_empty() {
            return Err("transcription.model must name the server's model".into());
        }
        if self.timeout_ms == 0 {
            return Err("transcription.timeout_ms must be > 0".into());
        }
        self.validate_limits()
    }

    /// What every engine shares: deadline, threads, queue, length cap, language.
    fn validate_limits(&self) -> Result<(), String> {
        if self.deadline_ms == 0 {
            return Err("transcription.deadline_ms must be > 0".into());
        }
        if !(1..=256).contains(&self.max_concurrent) {
            return Err("transcription.max_concurrent must be between 1 and 256".into());
        }
        if !(1..=100_000).contains(&self.queue_limit) {
            return Err("transcription.queue_limit must be between 1 and 100000".into());
        }
        if !(1..=600).contains(&self.max_seconds) {
            return Err("transcription.max_seconds must be between 1 and 600".into());
        }
        if let Some(lang) = &self.language {
            if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(format!(
                    "transcription.language {lang:?} must be an ISO 639-1 code such as \"en\""
                ));
            }
        }
        Ok(())
    }
}
