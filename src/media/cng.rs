//! Fax calling-tone (CNG) detection: ITU-T T.30's 1100 Hz ± 38 Hz, on for 0.5 s, off for 3 s.
//!
//! A fax machine calling a voice-mail number sends CNG until something answers with fax
//! tones; recording it would leave a screech in the mailbox. The detector runs a Goertzel
//! filter at 1100 Hz over 10 ms blocks of the caller's audio and compares the power in that
//! bin with the block's energy: a block is "tone" when nearly all of its energy is at 1100 Hz
//! (speech and DTMF spread theirs over many frequencies, DTMF's nearest tones, 941 and 1209
//! Hz, fall near the bin's nulls). A burst of 350-700 ms of tone blocks followed by a block
//! without it is CNG; a tone that goes on longer is something else.
//!
//! 10 ms blocks make the bin 100 Hz wide, so a tone 38 Hz off centre (T.30's tolerance)
//! still puts about 60 % of its power in it, while 20 ms blocks would halve that. The cost is
//! one multiply-add per sample and no allocation: cheap on the per-packet path.

use super::SAMPLE_RATE;

/// The CNG frequency (T.30).
pub const CNG_HZ: f32 = 1100.0;

/// Samples per Goertzel block (10 ms at 8 kHz).
const BLOCK: usize = 80;

/// Share of a block's energy the 1100 Hz bin must hold for the block to count as tone. A pure
/// tone at 1100 Hz gives 1.0, one at 1100 ± 38 Hz about 0.6.
const MIN_SHARE: f32 = 0.4;

/// Quietest block that can be tone: mean square of -45 dBFS (an amplitude of about 180).
const MIN_MEAN_SQUARE: f32 = 184.0 * 184.0;

/// Tone blocks a CNG burst lasts: T.30's 0.5 s ± 15 %, widened for lost packets (fewer
/// blocks arrive) and block edges.
const BURST_BLOCKS: std::ops::RangeInclusive<u32> = 35..=70;

/// Listens for CNG in the caller's audio. Feed it with [`CngDetector::push`].
#[derive(Debug, Clone)]
pub struct CngDetector {
    /// `2 cos(2π f / fs)`, the Goertzel recurrence's coefficient.
    coeff: f32,
    s1: f32,
    s2: f32,
    /// Sum of squares of the block so far.
    energy: f32,
    /// Samples of the block so far.
    n: usize,
    /// Tone blocks in a row.
    run: u32,
    detected: bool,
}

impl Default for CngDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl CngDetector {
    pub fn new() -> Self {
        let w = std::f32::consts::TAU * CNG_HZ / SAMPLE_RATE as f32;
        CngDetector {
            coeff: 2.0 * w.cos(),
            s1: 0.0,
            s2: 0.0,
            energy: 0.0,
            n: 0,
            run: 0,
            detected: false,
        }
    }

    /// Feeds `samples` of the caller's audio (any length, in order); true once a CNG burst has
    /// been heard (and from then on).
    pub fn push(&mut self, mut samples: &[i16]) -> bool {
        while !samples.is_empty() {
            if self.n == 0 && samples.len() >= 2 * BLOCK {
                // Two whole blocks (a 20 ms frame): their chains run interleaved, so the
                // processor overlaps them instead of waiting on one serial recurrence.
                let (a, b) = samples.split_at(BLOCK);
                let [ga, gb] = self.goertzel_pair(a, &b[..BLOCK]);
                self.block(ga, energy(a));
                self.block(gb, energy(&b[..BLOCK]));
                samples = &samples[2 * BLOCK..];
                continue;
            }
            let take = (BLOCK - self.n).min(samples.len());
            let (part, rest) = samples.split_at(take);
            let (mut s1, mut s2) = (self.s1, self.s2);
            for &x in part {
                let s = f32::from(x) + self.coeff * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            (self.s1, self.s2) = (s1, s2);
            self.energy += energy(part);
            self.n += take;
            if self.n == BLOCK {
                let (s1, s2, e) = (self.s1, self.s2, self.energy);
                (self.s1, self.s2, self.energy, self.n) = (0.0, 0.0, 0.0, 0);
                self.block((s1, s2), e);
            }
            samples = rest;
        }
        self.detected
    }

    /// Whether CNG has been heard.
    pub fn detected(&self) -> bool {
        self.detected
    }

    /// The Goertzel states `(s1, s2)` after blocks `a` and `b` (each from a zero state).
    fn goertzel_pair(&self, a: &[i16], b: &[i16]) -> [(f32, f32); 2] {
        let c = self.coeff;
        let (mut a1, mut a2, mut b1, mut b2) = (0f32, 0f32, 0f32, 0f32);
        for (&x, &y) in a.iter().zip(b) {
            let sa = f32::from(x) + c * a1 - a2;
            let sb = f32::from(y) + c * b1 - b2;
            (a2, a1, b2, b1) = (a1, sa, b1, sb);
        }
        [(a1, a2), (b1, b2)]
    }

    /// One finished block: its Goertzel state and energy decide whether it is tone, and the
    /// run of tone blocks whether a burst ended.
    fn block(&mut self, (s1, s2): (f32, f32), energy: f32) {
        let power = s1 * s1 + s2 * s2 - self.coeff * s1 * s2;
        // A pure tone in the bin has power (N·A/2)² against an energy of N·A²/2.
        let tone = energy >= MIN_MEAN_SQUARE * BLOCK as f32
            && 2.0 * power >= MIN_SHARE * BLOCK as f32 * energy;
        if tone {
            self.run = self.run.saturating_add(1);
        } else {
            if BURST_BLOCKS.contains(&self.run) {
                self.detected = true;
            }
            self.run = 0;
        }
    }
}

/// Sum of squares (in integers, which vectorise).
fn energy(samples: &[i16]) -> f32 {
    let sum: i64 = samples
        .iter()
        .map(|&x| i64::from(i32::from(x) * i32::from(x)))
        .sum();
    sum as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = SAMPLE_RATE as f64;

    fn sine(freq: f64, ms: u32, amplitude: f64, phase: f64) -> Vec<i16> {
        let n = (ms as f64 * RATE / 1000.0) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / RATE;
                (amplitude * (std::f64::consts::TAU * freq * t + phase).sin()) as i16
            })
            .collect()
    }

    fn silence(ms: u32) -> Vec<i16> {
        vec![0; (ms * 8) as usize]
    }

    /// T.30 CNG: `cycles` of 0.5 s of `freq` and 3 s of silence.
    fn cng(freq: f64, cycles: usize) -> Vec<i16> {
        let mut out = Vec::new();
        for _ in 0..cycles {
            out.extend(sine(freq, 500, 8000.0, 0.3));
            out.extend(silence(3000));
        }
        out
    }

    /// Feeds `audio` in 20 ms frames; the sample at which CNG was reported, if it was.
    fn detect(audio: &[i16]) -> Option<usize> {
        let mut d = CngDetector::new();
        for (k, frame) in audio.chunks(160).enumerate() {
            if d.push(frame) {
                return Some(k * 160 + frame.len());
            }
        }
        None
    }

    #[test]
    fn cng_is_heard_at_the_end_of_its_first_burst() {
        let at = detect(&cng(1100.0, 2)).expect("CNG detected");
        // Within a frame of the burst's end (4000 samples).
        assert!((4000..=4000 + 160).contains(&at), "at sample {at}");
    }

    #[test]
    fn the_t30_tolerance_of_38_hz_is_heard_and_levels_down_to_minus_40_dbfs() {
        for freq in [1062.0, 1080.0, 1100.0, 1120.0, 1138.0] {
            assert!(detect(&cng(freq, 1)).is_some(), "{freq} Hz");
        }
        // -40 dBFS: an amplitude of 328.
        let mut quiet = sine(1100.0, 500, 328.0, 0.0);
        quiet.extend(silence(100));
        assert!(detect(&quiet).is_some());
        // Over the audio of a phone line: CNG with noise 20 dB below it.
        let mut noisy = cng(1100.0, 1);
        let mut seed = 7u32;
        for x in &mut noisy {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *x = x.saturating_add(((seed >> 16) as i16) / 40);
        }
        assert!(detect(&noisy).is_some());
        // Chunks of odd sizes (10 ms and 30 ms packets) change nothing.
        let audio = cng(1100.0, 1);
        for size in [80, 240, 77] {
            let mut d = CngDetector::new();
            assert!(audio.chunks(size).any(|c| d.push(c)), "chunks of {size}");
        }
    }

    #[test]
    fn tones_outside_the_band_and_without_the_cadence_are_not_cng() {
        // 1000 and 1200 Hz bursts: not CNG.
        assert_eq!(detect(&cng(1000.0, 2)), None);
        assert_eq!(detect(&cng(1200.0, 2)), None);
        // A steady 1100 Hz tone (a test tone, a modem's answer tone is 2100 Hz): no cadence.
        assert_eq!(detect(&sine(1100.0, 3000, 8000.0, 0.0)), None);
        // Blips of 1100 Hz far shorter than a burst.
        let mut blips = Vec::new();
        for _ in 0..10 {
            blips.extend(sine(1100.0, 200, 8000.0, 0.0));
            blips.extend(silence(200));
        }
        assert_eq!(detect(&blips), None);
        // Too quiet to be a fax on the line (-60 dBFS).
        let mut faint = sine(1100.0, 500, 33.0, 0.0);
        faint.extend(silence(100));
        assert_eq!(detect(&faint), None);
    }

    #[test]
    fn dtmf_is_not_cng() {
        const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
        const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
        for low in LOW {
            for high in HIGH {
                // Held for half a second, the length of a CNG burst, and repeated.
                let mut audio = Vec::new();
                for _ in 0..3 {
                    let a = sine(low, 500, 6000.0, 0.0);
                    let b = sine(high, 500, 6000.0, 1.0);
                    audio.extend(a.iter().zip(&b).map(|(x, y)| x.saturating_add(*y)));
                    audio.extend(silence(300));
                }
                assert_eq!(detect(&audio), None, "{low}+{high} Hz");
            }
        }
    }

    #[test]
    fn speech_like_audio_is_not_cng() {
        // Voiced speech: harmonics of a gliding pitch (one of them crosses 1100 Hz), under a
        // syllable envelope, with pauses of half a second between words.
        let mut audio = Vec::new();
        for word in 0..12 {
            let n = 8 * 600;
            for i in 0..n {
                let t = i as f64 / RATE;
                let f0 = 180.0 + 60.0 * (t * 3.0 + word as f64).sin();
                let envelope = (std::f64::consts::PI * i as f64 / n as f64).sin();
                let s: f64 = (1..=15)
                    .map(|h| (std::f64::consts::TAU * f0 * h as f64 * t).sin() / h as f64)
                    .sum();
                audio.push((s * envelope * 5000.0) as i16);
            }
            audio.extend(silence(500));
        }
        assert_eq!(detect(&audio), None);
        // A sung vowel held on 220 Hz: its fifth harmonic sits on 1100 Hz, among the others.
        let mut vowel = Vec::new();
        for i in 0..(8 * 500) {
            let t = i as f64 / RATE;
            let s: f64 = [1.0, 0.8, 0.6, 0.5, 0.7, 0.4, 0.3]
                .iter()
                .enumerate()
                .map(|(h, a)| a * (std::f64::consts::TAU * 220.0 * (h + 1) as f64 * t).sin())
                .sum();
            vowel.push((s * 3000.0) as i16);
        }
        vowel.extend(silence(3000));
        assert_eq!(detect(&vowel), None);
        // White noise.
        let mut seed = 1u32;
        let noise: Vec<i16> = (0..8 * 4000)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 16) as i16 / 4
            })
            .collect();
        assert_eq!(detect(&noise), None);
    }
}
