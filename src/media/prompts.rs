//! Prompt loading: any common audio file in, 8 kHz mono 16-bit samples out.
//!
//! 8 kHz mono 16-bit WAV (the format operators are told to supply) takes a fast path through
//! hound. Everything else (other WAV layouts, MP3, FLAC, Ogg Vorbis) is decoded by symphonia,
//! downmixed to mono and resampled with rubato. WMA is recognised and refused with a
//! conversion hint, because no pure-Rust WMA decoder exists.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rubato::{
    Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use thiserror::Error;

use super::SAMPLE_RATE;

/// First 8 bytes of the ASF header object GUID (75B22630-668E-11CF-A6D9-00AA0062CE6C).
const ASF_GUID_PREFIX: [u8; 8] = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11];

/// File extensions [`PromptLibrary::load_dir`] picks up.
pub const EXTENSIONS: [&str; 4] = ["wav", "mp3", "flac", "ogg"];

/// Prompt loading failure; always names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Opening or reading the file (or listing the directory) failed.
    #[error("prompt {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A WMA/ASF file.
    #[error(
        "prompt {path}: WMA/ASF audio is not supported; convert it to 8 kHz mono 16-bit WAV, \
         e.g. `ffmpeg -i in.wma -ar 8000 -ac 1 -sample_fmt s16 out.wav`"
    )]
    Wma {
        /// The file.
        path: PathBuf,
    },
    /// The container or codec could not be decoded.
    #[error("prompt {path}: cannot decode audio: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
    /// The file decoded to no samples.
    #[error("prompt {path}: contains no audio")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Resampling to 8 kHz failed.
    #[error("prompt {path}: cannot resample from {rate} Hz to 8000 Hz: {reason}")]
    Resample {
        /// The file.
        path: PathBuf,
        /// The file's sample rate.
        rate: u32,
        /// What rubato reported.
        reason: String,
    },
}

/// Loads a prompt as 8 kHz mono 16-bit samples.
pub fn load(path: &Path) -> Result<Vec<i16>, PromptError> {
    let io_err = |source| PromptError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = [0u8; 12];
    let head_len = read_head(path, &mut head).map_err(io_err)?;
    let head = &head[..head_len];
    if head.starts_with(&ASF_GUID_PREFIX) || has_extension(path, "wma") {
        return Err(PromptError::Wma {
            path: path.to_path_buf(),
        });
    }
    let samples = if head.len() == 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        match load_wav_fast(path)? {
            Some(s) => s,
            None => load_decoded(path)?,
        }
    } else {
        load_decoded(path)?
    };
    if samples.is_empty() {
        return Err(PromptError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(samples)
}

fn read_head(path: &Path, head: &mut [u8]) -> io::Result<usize> {
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// The 8 kHz mono 16-bit WAV fast path; `None` if the WAV is in another format.
fn load_wav_fast(path: &Path) -> Result<Option<Vec<i16>>, PromptError> {
    let decode_err = |e: hound::Error| PromptError::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let reader = match hound::WavReader::open(path) {
        Ok(r) => r,
        Err(hound::Error::IoError(source)) => {
            return Err(PromptError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        // hound does not know every WAV flavour (µ-law, ADPCM); symphonia may, and reports
        // its own error if not.
        Err(_) => return Ok(None),
    };
    let spec = reader.spec();
    if spec.sample_rate != SAMPLE_RATE
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Ok(None);
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(decode_err)
}

/// Decodes any supported file with symphonia, then downmixes and resamples.
///
/// Third-party decoders are not guaranteed panic-free on hostile files, so a panic inside them
/// becomes a [`PromptError::Decode`] naming the file instead of taking the gateway down.
fn load_decoded(path: &Path) -> Result<Vec<i16>, PromptError> {
    std::panic::catch_unwind(|| load_decoded_inner(path)).unwrap_or_else(|_| {
        Err(PromptError::Decode {
            path: path.to_path_buf(),
            reason: "decoder panicked on this file".into(),
        })
    })
}

fn load_decoded_inner(path: &Path) -> Result<Vec<i16>, PromptError> {
    let (mono, rate) = decode_mono(path)?;
    let mono = if rate == SAMPLE_RATE {
        mono
    } else {
        resample(&mono, rate, SAMPLE_RATE).map_err(|reason| PromptError::Resample {
            path: path.to_path_buf(),
            rate,
            reason,
        })?
    };
    Ok(mono.iter().map(|&x| to_i16(x)).collect())
}

fn to_i16(x: f32) -> i16 {
    // Symphonia scales i16 by 1/32768, so this keeps 16-bit sources bit-exact.
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Decodes the default track to mono f32 samples and returns them with their sample rate.
fn decode_mono(path: &Path) -> Result<(Vec<f32>, u32), PromptError> {
    let decode_err = |reason: String| PromptError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| PromptError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            // Gapless: trims encoder delay/padding (Vorbis end packets, MP3 LAME headers).
            &FormatOptions {
                enable_gapless: true,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| decode_err(format!("unrecognised format ({e})")))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| decode_err("no audio track".into()))?;
    let track_id = track.id;
    let n_frames = track.codec_params.n_frames;
    let delay = track.codec_params.delay;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| decode_err(format!("unsupported codec ({e})")))?;

    let mut mono = Vec::new();
    let mut rate = None;
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            // Chained Ogg streams or a new track layout: keep what we have.
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(decode_err(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A corrupt frame (common at MP3 starts): skip it like players do.
            Err(SymError::DecodeError(_)) => continue,
            Err(e) => return Err(decode_err(e.to_string())),
        };
        let spec = *decoded.spec();
        match rate {
            None => rate = Some(spec.rate),
            Some(r) if r != spec.rate => {
                return Err(decode_err(format!(
                    "sample rate changes from {r} Hz to {} Hz mid-stream",
                    spec.rate
                )))
            }
            Some(_) => {}
        }
        let channels = spec.channels.count();
        if channels == 0 {
            return Err(decode_err("stream has no channels".into()));
        }
        let frames = decoded.capacity() as u64;
        // Reuse the buffer across packets; grow only when a packet is larger.
        let too_small = buf
            .as_ref()
            .is_none_or(|b| (b.capacity() as u64) < frames * channels as u64);
        if too_small {
            buf = Some(SampleBuffer::new(frames, spec));
        }
        let Some(b) = buf.as_mut() else { continue };
        b.copy_interleaved_ref(decoded);
        let scale = 1.0 / channels as f32;
        mono.extend(
            b.samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
    }
    // symphonia 0.5 does not always apply gapless trimming (Ogg Vorbis reports the encoder
    // delay but leaves it in the packets), so trim to the container's frame count ourselves.
    if let Some(n) = n_frames.and_then(|n| usize::try_from(n).ok()) {
        if mono.len() > n {
            let skip = delay.map_or(0, |d| d as usize).min(mono.len() - n);
            mono.drain(..skip);
            mono.truncate(n);
        }
    }
    let rate = rate.ok_or_else(|| decode_err("no decodable audio frames".into()))?;
    if rate == 0 {
        return Err(decode_err("sample rate 0".into()));
    }
    Ok((mono, rate))
}

/// Band-limited resampling of mono audio from `from` Hz to `to` Hz.
pub(crate) fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    let ratio = f64::from(to) / f64::from(from);
    let params = SincInterpolationParameters {
        sinc_len: 128,
        // Relative to the lower Nyquist (4 kHz for telephone audio): passes the telephone
        // band, stops aliasing.
        f_cutoff: 0.95,
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Linear,
        window: WindowFunction::BlackmanHarris2,
    };
    const CHUNK: usize = 1024;
    let mut r = SincFixedIn::<f32>::new(ratio, 1.0, params, CHUNK, 1).map_err(|e| e.to_string())?;
    let expected = (input.len() as f64 * ratio).round() as usize;
    let delay = r.output_delay();
    let mut out = Vec::with_capacity(expected + delay + CHUNK);
    let mut obuf = r.output_buffer_allocate(true);
    let mut pos = 0;
    while input.len() - pos >= r.input_frames_next() {
        let need = r.input_frames_next();
        let (_, n) = r
            .process_into_buffer(&[&input[pos..pos + need]], &mut obuf, None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&obuf[0][..n]);
        pos += need;
    }
    if pos < input.len() {
        let (_, n) = r
            .process_partial_into_buffer(Some(&[&input[pos..]]), &mut obuf, None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&obuf[0][..n]);
    }
    // Flush the filter delay with silence; bounded so a misbehaving resampler cannot loop.
    let mut guard = 0;
    while out.len() < expected + delay && guard < 64 {
        let (_, n) = r
            .process_partial_into_buffer(None::<&[&[f32]]>, &mut obuf, None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&obuf[0][..n]);
        guard += 1;
    }
    let start = delay.min(out.len());
    out.drain(..start);
    out.truncate(expected);
    Ok(out)
}

/// A sine beep at `freq_hz` for `duration_ms`, peak `amplitude` (0.0..=1.0 of full scale), with
/// 5 ms linear fades so it starts and stops without clicks.
pub fn tone(freq_hz: f32, duration_ms: u32, amplitude: f32) -> Vec<i16> {
    let n = (duration_ms as usize) * (SAMPLE_RATE as usize) / 1000;
    let fade = (SAMPLE_RATE as usize * 5 / 1000).min(n / 2).max(1);
    let peak = amplitude.clamp(0.0, 1.0) as f64 * 32767.0;
    let w = std::f64::consts::TAU * freq_hz as f64 / SAMPLE_RATE as f64;
    (0..n)
        .map(|i| {
            let gain = (i.min(n - 1 - i) as f64 / fade as f64).min(1.0);
            (peak * gain * (w * i as f64).sin()).round() as i16
        })
        .collect()
}

/// `duration_ms` of digital silence.
pub fn silence(duration_ms: u32) -> Vec<i16> {
    vec![0; (duration_ms as usize) * (SAMPLE_RATE as usize) / 1000]
}

/// Prompts decoded once at start-up and shared by all calls.
#[derive(Debug, Clone, Default)]
pub struct PromptLibrary {
    prompts: HashMap<String, Arc<[i16]>>,
}

impl PromptLibrary {
    /// An empty library.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.wav`, `*.mp3`, `*.flac` and `*.ogg` in `dir` (not recursive), keyed by
    /// file stem. A `*.wma` file is an error rather than silently ignored, so an operator who
    /// dropped one in learns how to convert it.
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let io_err = |path: &Path, source| PromptError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut lib = PromptLibrary::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
            let path = entry.map_err(|e| io_err(dir, e))?.path();
            let wanted =
                EXTENSIONS.iter().any(|e| has_extension(&path, e)) || has_extension(&path, "wma");
            if !wanted || !path.is_file() {
                continue;
            }
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let samples = load(&path)?;
            lib.insert(stem, samples.into());
        }
        Ok(lib)
    }

    /// Adds or replaces a prompt (e.g. a generated beep).
    pub fn insert(&mut self, name: &str, samples: Arc<[i16]>) {
        self.prompts.insert(name.to_owned(), samples);
    }

    /// The prompt called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<[i16]>> {
        self.prompts.get(name).cloned()
    }

    /// Prompt names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Bytes of decoded audio held (16-bit samples).
    pub fn sample_bytes(&self) -> usize {
        self.prompts.values().map(|p| p.len() * 2).sum()
    }

    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// True if no prompts are loaded.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

#[cfg(test)]
#[path = "prompts_test.rs"]
mod tests;
