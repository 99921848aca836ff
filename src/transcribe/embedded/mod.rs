//! The embedded engine: Whisper tiny.en (OpenAI's English-only model in Systran's
//! CTranslate2 conversion, installed by `scripts/install-model.sh`), run in process on
//! candle. docs/PREVIEW.md says why this model and how it was measured.
//!
//! The weights are read once per process, at the first transcription, after their SHA-256
//! is checked against the one published for them; every transcription shares them. Each
//! transcription runs its tensor kernels on one thread of its own at low CPU priority, so
//! `transcription.max_concurrent` bounds the cores used and the media workers always win.

mod ct2;
mod decode;
mod mel;
mod model;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tracing::info;

use super::{Segment, TranscribeError, Transcriber, Transcript};

/// Where `scripts/install-model.sh` puts the model unless told otherwise.
pub const DEFAULT_MODEL_DIR: &str = "/usr/share/umgw/models/whisper-tiny.en";

/// SHA-256 of `model.bin` as Hugging Face publishes it for Systran/faster-whisper-tiny.en
/// (revision 0d3d19a32d3338f10357c0889762bd8d64bbdeba).
const MODEL_SHA256: &str = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a";

const FILES: [&str; 3] = ["model.bin", "config.json", "vocabulary.txt"];

/// Whisper reads 30 s at a time; longer messages are cut at a pause near the end of each.
const WINDOW_SECONDS: usize = 30;
/// Tokens one window may produce (Whisper's own limit: half the decoder's context), and per
/// second of its audio: fast speech is under 6 tokens a second, so more is a decoding loop,
/// and the budget bounds what a loop costs.
const MAX_TOKENS: usize = 224;
const TOKENS_PER_SECOND: usize = 8;

/// Whisper tiny.en, loaded once per process and shared by every transcription.
pub struct EmbeddedEngine {
    dir: PathBuf,
    loaded: OnceLock<Result<Loaded, String>>,
}

struct Loaded {
    model: model::Whisper,
    vocab: decode::Vocabulary,
    mel: mel::MelBank,
}

impl EmbeddedEngine {
    /// The model in `dir`, if its files are there; the weights are read (and their SHA-256
    /// checked) at the first transcription or [`EmbeddedEngine::load_now`].
    pub fn open(dir: &Path) -> Result<EmbeddedEngine, TranscribeError> {
        if let Some(missing) = FILES.iter().find(|f| !dir.join(f).is_file()) {
            return Err(TranscribeError::Engine(format!(
                "no speech model in {}: {missing} is missing (scripts/install-model.sh installs it)",
                dir.display()
            )));
        }
        Ok(EmbeddedEngine {
            dir: dir.to_owned(),
            loaded: OnceLock::new(),
        })
    }

    /// Reads and verifies the weights now (else the first transcription does).
    pub fn load_now(&self) -> Result<(), TranscribeError> {
        self.loaded().map(|_| ())
    }

    fn loaded(&self) -> Result<&Loaded, TranscribeError> {
        self.loaded
            .get_or_init(|| load(&self.dir))
            .as_ref()
            .map_err(|e| TranscribeError::Engine(e.clone()))
    }
}

fn load(dir: &Path) -> Result<Loaded, String> {
    let started = Instant::now();
    let path = dir.join("model.bin");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != MODEL_SHA256 {
        return Err(format!(
            "{}: SHA-256 {digest} is not the published {MODEL_SHA256}; refusing to load it \
             (scripts/install-model.sh installs the right file)",
            path.display()
        ));
    }
    let variables = ct2::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    drop(bytes);
    let model = model::Whisper::from_variables(variables)?;
    let vocab = decode::Vocabulary::load(dir, model.vocab)?;
    info!(
        dir = %dir.display(),
        seconds = started.elapsed().as_secs_f64(),
        "speech model loaded (Whisper tiny.en)"
    );
    Ok(Loaded {
        model,
        vocab,
        mel: mel::MelBank::new(),
    })
}

impl Transcriber for EmbeddedEngine {
    fn transcribe(
        &self,
        samples: &[i16],
        deadline: Instant,
    ) -> Result<Transcript, TranscribeError> {
        let loaded = self.loaded()?;
        let narrow: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let wide =
            crate::media::prompts::resample(&narrow, crate::audio::SAMPLE_RATE, mel::RATE as u32)
                .map_err(TranscribeError::Engine)?;
        on_own_thread(|| loaded.transcribe(&wide, deadline)).map_err(|e| {
            if Instant::now() >= deadline {
                TranscribeError::Deadline
            } else {
                TranscribeError::Engine(e)
            }
        })
    }
}

impl Loaded {
    fn transcribe(&self, pcm: &[f32], deadline: Instant) -> Result<Transcript, String> {
        let mut segments = Vec::new();
        let (mut sum, mut count) = (0f32, 0usize);
        for window in windows(pcm) {
            let features = self.mel.features(window);
            let audio = self.model.encode(&features)?;
            let budget = MAX_TOKENS.min(16 + TOKENS_PER_SECOND * window.len() / mel::RATE);
            let Some(d) =
                decode::decode_window(&self.model, &self.vocab, &audio, budget, deadline)?
            else {
                continue;
            };
            sum += d.logprobs.iter().sum::<f32>();
            count += d.logprobs.len();
            segments.extend(self.words(&d.tokens, &d.logprobs));
        }
        let text = segments
            .iter()
            .map(|s: &Segment| s.text.trim())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            text,
            confidence: (count > 0).then(|| (sum / count as f32).exp()),
            segments,
        })
    }

    /// Words (tokens up to the next that starts with a space), each with the geometric mean
    /// of its tokens' probabilities.
    fn words(&self, tokens: &[u32], logprobs: &[f32]) -> Vec<Segment> {
        let mut words: Vec<(Vec<u32>, f32)> = Vec::new();
        for (&t, &lp) in tokens.iter().zip(logprobs) {
            match words.last_mut() {
                Some((w, sum)) if !self.vocab.starts_word(t) => {
                    w.push(t);
                    *sum += lp;
                }
                _ => words.push((vec![t], lp)),
            }
        }
        words
            .into_iter()
            .map(|(w, sum)| Segment {
                text: self.vocab.text(&w),
                confidence: Some((sum / w.len() as f32).exp()),
            })
            .filter(|s| !s.text.trim().is_empty())
            .collect()
    }
}

/// 30 s windows; a longer recording is cut at the quietest 50 ms of each window's last 5 s,
/// so a word is rarely split.
fn windows(pcm: &[f32]) -> Vec<&[f32]> {
    let full = WINDOW_SECONDS * mel::RATE;
    let frame = mel::RATE / 20;
    let mut out = Vec::new();
    let mut start = 0;
    while pcm.len() - start > full {
        let search_from = start + full - 5 * mel::RATE;
        let cut = (search_from..start + full - frame)
            .step_by(frame)
            .min_by(|&a, &b| energy(&pcm[a..a + frame]).total_cmp(&energy(&pcm[b..b + frame])))
            .map_or(start + full, |q| q + frame / 2);
        out.push(&pcm[start..cut]);
        start = cut;
    }
    // A tail shorter than a tenth of a second holds no word.
    if pcm.len() - start >= mel::RATE / 10 || out.is_empty() {
        out.push(&pcm[start..]);
    }
    out
}

fn energy(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum()
}

/// Runs `f` on this thread's single-threaded kernel pool (made on first use, its thread at
/// low CPU priority), so one transcription uses at most one core.
fn on_own_thread<T: Send>(f: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    thread_local! {
        static POOL: Result<rayon::ThreadPool, String> = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "umgw-asr".into())
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| format!("no thread for the speech model: {e}"));
    }
    POOL.with(|pool| match pool {
        Ok(pool) => pool.install(f),
        Err(e) => Err(e.clone()),
    })
}

/// Speech recognition yields the CPU to the media workers.
fn lower_priority() {
    if let Err(e) = crate::net::os::set_thread_fair(10, 0) {
        tracing::debug!(error = %e, "cannot lower the speech model thread's priority");
    }
}

/// The configured model directory, or the default.
pub fn model_dir(cfg: &crate::config::TranscriptionConfig) -> PathBuf {
    cfg.model_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL_DIR.into())
}

#[cfg(test)]
mod test;
