//! Whisper's input features: the log-mel spectrogram of 16 kHz audio, as OpenAI's
//! `whisper/audio.py` computes it (25 ms periodic Hann window, 10 ms hop, centred frames with
//! reflected edges, power spectrum, 80 Slaney mel bands, log10 clamped to 8 below the peak,
//! scaled to about -1..1).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use super::model::{N_FRAMES, N_MELS};

pub const RATE: usize = 16_000;
const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;

/// The window, FFT plan and filter bank, made once per engine.
pub struct MelBank {
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Per mel band: the first FFT bin it covers and its weights from there.
    filters: Vec<(usize, Vec<f32>)>,
}

impl MelBank {
    pub fn new() -> MelBank {
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / N_FFT as f32).cos())
            .collect();
        MelBank {
            window,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
            filters: slaney_filters(),
        }
    }

    /// `[N_MELS][N_FRAMES]` features of one 30 s window; `pcm` (16 kHz, -1..1) is padded
    /// with silence or cut to 30 s.
    pub fn features(&self, pcm: &[f32]) -> Vec<f32> {
        let n = N_FRAMES * HOP;
        let mut padded = vec![0f32; n + N_FFT];
        let half = N_FFT / 2;
        let audio = &pcm[..pcm.len().min(n)];
        padded[half..half + audio.len()].copy_from_slice(audio);
        // Reflect the edges as torch.stft(center=True, pad_mode="reflect") does.
        for i in 0..half {
            padded[half - 1 - i] = padded.get(half + 1 + i).copied().unwrap_or(0.0);
            let end = half + n;
            padded[end + i] = padded[end - 2 - i];
        }
        let mut mel = vec![0f32; N_MELS * N_FRAMES];
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; BINS];
        for t in 0..N_FRAMES {
            let start = t * HOP;
            for (i, f) in frame.iter_mut().enumerate() {
                *f = padded[start + i] * self.window[i];
            }
            if self
                .fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, (first, weights)) in self.filters.iter().enumerate() {
                let e: f32 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                mel[m * N_FRAMES + t] = e.max(1e-10).log10();
            }
        }
        let peak = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in &mut mel {
            *v = (v.max(peak - 8.0) + 4.0) / 4.0;
        }
        mel
    }
}

fn hz_to_mel(f: f64) -> f64 {
    let (f_sp, min_log_hz, min_log_mel, logstep) = (200.0 / 3.0, 1000.0, 15.0, 6.4f64.ln() / 27.0);
    if f < min_log_hz {
        f / f_sp
    } else {
        min_log_mel + (f / min_log_hz).ln() / logstep
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let (f_sp, min_log_hz, min_log_mel, logstep) = (200.0 / 3.0, 1000.0, 15.0, 6.4f64.ln() / 27.0);
    if m < min_log_mel {
        m * f_sp
    } else {
        min_log_hz * ((m - min_log_mel) * logstep).exp()
    }
}

/// librosa.filters.mel(sr=16000, n_fft=400, n_mels=80, htk=False, norm="slaney"), which
/// Whisper ships as `mel_filters.npz`; kept sparse (each band covers a few bins).
fn slaney_filters() -> Vec<(usize, Vec<f32>)> {
    let nyquist = (RATE / 2) as f64;
    let freqs: Vec<f64> = (0..BINS)
        .map(|i| i as f64 * nyquist / (BINS - 1) as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    (0..N_MELS)
        .map(|m| {
            let norm = 2.0 / (edges[m + 2] - edges[m]);
            let w: Vec<f32> = freqs
                .iter()
                .map(|&f| {
                    let up = (f - edges[m]) / (edges[m + 1] - edges[m]);
                    let down = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
                    (up.min(down).max(0.0) * norm) as f32
                })
                .collect();
            let first = w.iter().position(|&x| x > 0.0).unwrap_or(0);
            let last = w.iter().rposition(|&x| x > 0.0).map_or(first, |l| l + 1);
            (first, w[first..last.max(first)].to_vec())
        })
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_tone_lights_the_band_that_holds_it() {
        let bank = MelBank::new();
        let tone: Vec<f32> = (0..RATE)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / RATE as f32).sin())
            .collect();
        let mel = bank.features(&tone);
        assert_eq!(mel.len(), N_MELS * N_FRAMES);
        // Frame 50 is inside the tone: the loudest band is the one centred near 1 kHz
        // (15 Slaney mels; the 82 band edges are 0.559 mel apart, so band 26's centre is 15.1).
        let frame = 50;
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| mel[a * N_FRAMES + frame].total_cmp(&mel[b * N_FRAMES + frame]))
            .unwrap();
        assert!((25..=27).contains(&loudest), "{loudest}");
        // After the second of tone: silence, clamped to 8 below the peak, scaled.
        let quiet = mel[loudest * N_FRAMES + 2000];
        let peak = mel[loudest * N_FRAMES + frame];
        assert!((peak - quiet - 2.0).abs() < 1e-3, "{peak} {quiet}");
    }

    #[test]
    fn filters_match_librosa_at_a_few_points() {
        // Reference values: faster-whisper 1.x FeatureExtractor().mel_filters (librosa's).
        let f = slaney_filters();
        let at = |m: usize, bin: usize| {
            let (first, w) = &f[m];
            bin.checked_sub(*first)
                .and_then(|i| w.get(i))
                .copied()
                .unwrap_or(0.0)
        };
        assert!((at(0, 1) - 0.024_862_595).abs() < 1e-6, "{}", at(0, 1));
        assert!((at(40, 43) - 0.014_735_566).abs() < 1e-6, "{}", at(40, 43));
        assert!(at(79, 200) < 1e-6);
    }
}
