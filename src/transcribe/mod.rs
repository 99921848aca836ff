//! Voice Mail Preview: speech recognition of a finished voice mail, so its message carries a
//! text preview (Exchange 2013 UM's feature of that name).
//!
//! A [`Transcriber`] is an engine: 8 kHz mono samples in, a [`Transcript`] out, blocking.
//! [`Previewer`] is what a transcription thread calls: it reads the recording, caps it at
//! `transcription.max_seconds`, runs the engine within the deadline, counts the result, and
//! turns the transcript into a [`crate::domain::Preview`] (or `None`, with a warning saying
//! why: the message then goes without one). [`queue::PreviewQueue`] is what the deposit
//! calls: a bounded queue worked by `max_concurrent` threads of its own, after the call, never
//! on a media worker or the blocking job pool.
//!
//! Engines: [`embedded::EmbeddedEngine`] (Whisper tiny.en in process, the default) and
//! [`server::ServerEngine`] (an OpenAI-compatible `/v1/audio/transcriptions` server).

#[cfg(feature = "embedded-asr")]
pub mod embedded;
pub mod queue;
pub mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::audio::SAMPLE_RATE;
use crate::config::TranscriptionConfig;
use crate::domain::Preview;
use crate::telemetry;

/// What an engine heard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    /// The whole text.
    pub text: String,
    /// Overall confidence 0-1, if the engine gives one.
    pub confidence: Option<f32>,
    /// The text in pieces (segments or words) with their confidence, if the engine gives
    /// them; their concatenation is `text`.
    pub segments: Vec<Segment>,
}

/// One stretch of a transcript.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segment {
    pub text: String,
    /// 0-1, if known.
    pub confidence: Option<f32>,
}

/// Below this a segment is shown `[in brackets]`.
const UNSURE_SEGMENT: f32 = 0.5;
/// Below this the preview says it is of low confidence.
const LOW_OVERALL: f32 = 0.6;

impl Transcript {
    /// The preview text: segments the engine was unsure of in brackets, whitespace tidied.
    /// `None` when nothing was recognised.
    pub fn preview(&self) -> Option<Preview> {
        let text = if self.segments.is_empty() {
            tidy(&self.text)
        } else {
            let pieces: Vec<String> = self
                .segments
                .iter()
                .map(|s| (tidy(&s.text), s.confidence))
                .filter(|(t, _)| !t.is_empty())
                .map(|(t, c)| match c {
                    Some(c) if c < UNSURE_SEGMENT => format!("[{t}]"),
                    _ => t,
                })
                .collect();
            pieces.join(" ")
        };
        if text.is_empty() {
            return None;
        }
        Some(Preview {
            text,
            low_confidence: self.confidence.is_some_and(|c| c < LOW_OVERALL),
        })
    }
}

/// One line, single spaces, no control characters (the text goes into a mail body).
fn tidy(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why there is no transcript.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscribeError {
    #[error("recording {path}: {why}")]
    Audio { path: PathBuf, why: String },
    #[error("the deadline passed, or was too near for a transcription, while the message waited for a transcriber ({waited_ms} ms in the queue)")]
    Late { waited_ms: u64 },
    #[error("the preview queue is full ({limit} waiting: transcription.queue_limit)")]
    QueueFull { limit: usize },
    #[error("cannot reach the transcription server {url}: {why}")]
    Connect { url: String, why: String },
    #[error("the transcription server {url} did not answer within {ms} ms")]
    Timeout { url: String, ms: u64 },
    #[error("the transcription server {url} answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the transcription server {url} sent an answer that is not a transcript: {why}")]
    BadResponse { url: String, why: String },
    #[error("transcription engine: {0}")]
    Engine(String),
    #[error("the deadline passed before the transcript was done")]
    Deadline,
}

impl TranscribeError {
    /// The `result` label of the transcription counter.
    fn label(&self) -> &'static str {
        match self {
            TranscribeError::Late { .. }
            | TranscribeError::Timeout { .. }
            | TranscribeError::Deadline => "timed_out",
            TranscribeError::QueueFull { .. } => "skipped",
            _ => "failed",
        }
    }
}

/// A speech recognition engine. Blocking: it runs on the job pool.
pub trait Transcriber: Send + Sync {
    /// Transcribes `samples` (8 kHz mono 16-bit, already capped at the configured length),
    /// giving up at `deadline`.
    fn transcribe(&self, samples: &[i16], deadline: Instant)
        -> Result<Transcript, TranscribeError>;
}

/// The engine `[transcription]` names: `None` for `none`, or for `embedded` when its model is
/// not installed (a warning says so: voice mail works without previews).
pub fn engine_from_config(
    cfg: &TranscriptionConfig,
) -> Result<Option<Box<dyn Transcriber>>, String> {
    Ok(Some(match cfg.engine.as_str() {
        "none" => return Ok(None),
        "server" => Box::new(server::ServerEngine::from_config(cfg)?),
        #[cfg(feature = "embedded-asr")]
        "embedded" => match embedded::EmbeddedEngine::open(&embedded::model_dir(cfg)) {
            Ok(engine) => Box::new(engine),
            Err(e) => {
                warn!(error = %e, "Voice Mail Preview is off");
                return Ok(None);
            }
        },
        #[cfg(not(feature = "embedded-asr"))]
        "embedded" => {
            warn!("Voice Mail Preview is off: this build has no embedded speech engine");
            return Ok(None);
        }
        other => return Err(format!("transcription.engine {other:?} is not known")),
    }))
}

/// The deposit's side of transcription: engine, limits, metrics.
pub struct Previewer {
    engine: Box<dyn Transcriber>,
    /// From hang-up to the deposit.
    deadline: Duration,
    max_audio: Duration,
}

impl std::fmt::Debug for Previewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Previewer")
            .field("deadline", &self.deadline)
            .field("max_audio", &self.max_audio)
            .finish_non_exhaustive()
    }
}

impl Previewer {
    /// The configured engine; `None` for `engine = "none"`, or for `embedded` without its
    /// model (logged). Errors name the key at fault.
    pub fn from_config(cfg: &TranscriptionConfig) -> Result<Option<Previewer>, String> {
        Ok(engine_from_config(cfg)?.map(|engine| {
            Previewer::new(
                engine,
                Duration::from_millis(cfg.deadline_ms),
                Duration::from_secs(cfg.max_seconds),
            )
        }))
    }

    /// `engine`; a message is delivered `deadline` after its hang-up at the latest, with the
    /// first `max_audio` of its recording transcribed. How many run at once is the queue's.
    pub fn new(engine: Box<dyn Transcriber>, deadline: Duration, max_audio: Duration) -> Previewer {
        Previewer {
            engine,
            deadline,
            max_audio,
        }
    }

    /// From hang-up to the deposit, preview or not.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The preview of the recording `wav`, due by `deadline`; `None` (with a warning) when the
    /// engine failed or missed the deadline, or heard nothing.
    pub fn preview(&self, wav: &Path, deadline: Instant) -> Option<Preview> {
        let started = Instant::now();
        let result = self.transcribe(wav, deadline);
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok((t, audio_s, engine_s)) => {
                metrics::counter!(telemetry::TRANSCRIPTIONS, "result" => "done").increment(1);
                metrics::histogram!(telemetry::TRANSCRIBED_AUDIO).record(audio_s);
                if audio_s > 0.0 {
                    metrics::histogram!(telemetry::TRANSCRIPTION_RTF).record(engine_s / audio_s);
                }
                let preview = t.preview();
                info!(
                    seconds = took, engine_seconds = engine_s, audio_seconds = audio_s,
                    confidence = ?t.confidence, empty = preview.is_none(), "voice mail transcribed"
                );
                preview
            }
            Err(e) => {
                missed(&e, took);
                None
            }
        }
    }

    /// The transcript, the seconds of audio it covers and the seconds the engine took.
    /// The recording is read only now, and only up to the cap: queued deposits hold no audio
    /// in memory.
    fn transcribe(
        &self,
        wav: &Path,
        deadline: Instant,
    ) -> Result<(Transcript, f64, f64), TranscribeError> {
        let started = Instant::now();
        let cap = (self.max_audio.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
        let samples = read_samples(wav, cap).map_err(|why| TranscribeError::Audio {
            path: wav.to_owned(),
            why,
        })?;
        let t = self.engine.transcribe(&samples, deadline)?;
        let audio = samples.len() as f64 / f64::from(SAMPLE_RATE);
        Ok((t, audio, started.elapsed().as_secs_f64()))
    }
}

/// A message goes without a preview because of `e`, `seconds` after its transcription was
/// asked for: counted and logged.
fn missed(e: &TranscribeError, seconds: f64) {
    metrics::counter!(telemetry::TRANSCRIPTIONS, "result" => e.label()).increment(1);
    warn!(error = %e, seconds, "voice mail delivered without a preview");
}

/// The first `cap` samples of a recording (the spool's format: 8 kHz mono 16-bit PCM).
fn read_samples(wav: &Path, cap: usize) -> Result<Vec<i16>, String> {
    let reader = hound::WavReader::open(wav).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec != crate::media::recorder::wav_spec() {
        return Err(format!(
            "not an 8 kHz mono 16-bit PCM WAV ({} Hz, {} channel(s), {} bits)",
            spec.sample_rate, spec.channels, spec.bits_per_sample
        ));
    }
    reader
        .into_samples::<i16>()
        .take(cap)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod test;
