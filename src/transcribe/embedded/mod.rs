//! The embedded engine: Whisper tiny.en (OpenAI's English-only model in Systran's
//! CTranslate2 conversion, installed by `scripts/install-model.sh` and verified by its
//! SHA-256), run in process on candle. docs/PREVIEW.md says why this model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{TranscribeError, Transcriber, Transcript};

/// Where `scripts/install-model.sh` puts the model unless told otherwise.
pub const DEFAULT_MODEL_DIR: &str = "/usr/share/umgw/models/whisper-tiny.en";

/// Whisper tiny.en, loaded once per process and shared by every transcription.
pub struct EmbeddedEngine {
    dir: PathBuf,
}

impl EmbeddedEngine {
    /// The model in `dir`, if its files are there; the weights are read (and their SHA-256
    /// checked) at the first transcription or [`EmbeddedEngine::load_now`].
    pub fn open(dir: &Path) -> Result<EmbeddedEngine, TranscribeError> {
        Ok(EmbeddedEngine {
            dir: dir.to_owned(),
        })
    }

    /// Reads and verifies the weights now (else the first transcription does).
    pub fn load_now(&self) -> Result<(), TranscribeError> {
        Err(TranscribeError::Engine(format!(
            "embedded engine not built yet ({})",
            self.dir.display()
        )))
    }
}

impl Transcriber for EmbeddedEngine {
    fn transcribe(
        &self,
        _samples: &[i16],
        _deadline: Instant,
    ) -> Result<Transcript, TranscribeError> {
        Err(TranscribeError::Engine(format!(
            "embedded engine not built yet ({})",
            self.dir.display()
        )))
    }
}

/// The configured model directory, or the default.
pub fn model_dir(cfg: &crate::config::TranscriptionConfig) -> PathBuf {
    cfg.model_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL_DIR.into())
}
