//! The audio attached to a voice mail: 16-bit PCM WAV (default) or IMA ADPCM WAV
//! (`store.audio_format = "ima-adpcm"`, 4 bits a sample, a quarter of the size).
//!
//! IMA ADPCM in WAV (format tag 0x0011, 256-byte blocks of 505 samples) was chosen over Opus,
//! MP3 and GSM 6.10 because it needs no C library (this file is the codec), the attachment
//! stays `audio/wav` that Windows/Outlook, macOS and VLC play, and the gateway reads it back
//! for subscriber playback with [`wav_samples`]; docs/ARCHITECTURE.md has the measured size
//! and CPU figures. Decoding never panics on hostile bytes.

pub use crate::audio::AudioFormat;

impl AudioFormat {
    /// The attachment bytes for a recording (a 16-bit PCM WAV file's bytes). A WAV that
    /// cannot be re-encoded is attached as it is: audio is never dropped.
    pub fn encode(self, wav: Vec<u8>) -> Vec<u8> {
        match self {
            AudioFormat::Wav => wav,
            AudioFormat::ImaAdpcm => match pcm_samples(&wav) {
                Some(samples) => encode_ima_wav(&samples),
                None => wav,
            },
        }
    }
}

const STEPS: [i32; 89] = [
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66,
    73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449,
    494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272,
    2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493,
    10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767,
];
const INDEX_ADJUST: [i32; 8] = [-1, -1, -1, -1, 2, 4, 6, 8];
/// Bytes per block (mono): 4-byte header + 252 bytes of nibbles.
const BLOCK: usize = 256;
/// Samples per block: the header's sample plus two per data byte.
const BLOCK_SAMPLES: usize = 1 + (BLOCK - 4) * 2;

/// One ADPCM channel state.
#[derive(Clone, Copy)]
struct State {
    predictor: i32,
    index: i32,
}

impl State {
    /// Applies `nibble` (what the decoder does; the encoder tracks the decoder exactly).
    fn step(&mut self, nibble: u8) -> i16 {
        let step = STEPS[self.index as usize];
        let mut diff = step >> 3;
        if nibble & 4 != 0 {
            diff += step;
        }
        if nibble & 2 != 0 {
            diff += step >> 1;
        }
        if nibble & 1 != 0 {
            diff += step >> 2;
        }
        self.predictor = if nibble & 8 != 0 {
            self.predictor - diff
        } else {
            self.predictor + diff
        }
        .clamp(-32768, 32767);
        self.index = (self.index + INDEX_ADJUST[(nibble & 7) as usize]).clamp(0, 88);
        self.predictor as i16
    }

    fn encode(&mut self, sample: i16) -> u8 {
        let step = STEPS[self.index as usize];
        let mut diff = i32::from(sample) - self.predictor;
        let mut nibble = 0u8;
        if diff < 0 {
            nibble = 8;
            diff = -diff;
        }
        let mut s = step;
        for bit in [4u8, 2, 1] {
            if diff >= s {
                nibble |= bit;
                diff -= s;
            }
            s >>= 1;
        }
        self.step(nibble);
        nibble
    }
}

/// Encodes 8 kHz mono samples as an IMA ADPCM WAV file. The last block is padded with
/// silence; the `fact` chunk holds the true sample count.
pub fn encode_ima_wav(samples: &[i16]) -> Vec<u8> {
    let blocks = samples.len().div_ceil(BLOCK_SAMPLES).max(1);
    let data_len = blocks * BLOCK;
    let mut out = Vec::with_capacity(60 + data_len);
    let sample_rate = crate::audio::SAMPLE_RATE;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((4 + 28 + 12 + 8 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&20u32.to_le_bytes());
    out.extend_from_slice(&0x0011u16.to_le_bytes()); // WAVE_FORMAT_IMA_ADPCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    let byte_rate = sample_rate as usize * BLOCK / BLOCK_SAMPLES;
    out.extend_from_slice(&(byte_rate as u32).to_le_bytes());
    out.extend_from_slice(&(BLOCK as u16).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&2u16.to_le_bytes()); // extra bytes
    out.extend_from_slice(&(BLOCK_SAMPLES as u16).to_le_bytes());
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    let mut st = State {
        predictor: 0,
        index: 0,
    };
    for b in 0..blocks {
        let start = b * BLOCK_SAMPLES;
        let at = |i: usize| samples.get(start + i).copied().unwrap_or(0);
        // Each block restarts from an exact sample; the step index carries over.
        st.predictor = i32::from(at(0));
        out.extend_from_slice(&at(0).to_le_bytes());
        out.push(st.index as u8);
        out.push(0);
        for pair in 0..(BLOCK - 4) {
            let lo = st.encode(at(1 + 2 * pair));
            let hi = st.encode(at(2 + 2 * pair));
            out.push(lo | (hi << 4));
        }
    }
    out
}

/// The samples of a WAV attachment: 16-bit PCM or IMA ADPCM, mono. `None` for anything else
/// or a malformed file.
pub fn wav_samples(bytes: &[u8]) -> Option<Vec<i16>> {
    pcm_samples(bytes).or_else(|| decode_ima_wav(bytes))
}

fn pcm_samples(bytes: &[u8]) -> Option<Vec<i16>> {
    let r = hound::WavReader::new(bytes).ok()?;
    let spec = r.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 {
        return None;
    }
    r.into_samples::<i16>().collect::<Result<Vec<_>, _>>().ok()
}

/// Decodes a mono IMA ADPCM WAV (as [`encode_ima_wav`] writes, or another writer's).
pub fn decode_ima_wav(bytes: &[u8]) -> Option<Vec<i16>> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut fmt, mut fact, mut data) = (None, None, None);
    let mut i = 12usize;
    while let Some(head) = bytes.get(i..i.checked_add(8)?) {
        let len = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
        let body_start = i + 8;
        let body = bytes.get(body_start..body_start.checked_add(len)?.min(bytes.len()))?;
        match &head[0..4] {
            b"fmt " => fmt = Some(body),
            b"fact" => {
                fact = body
                    .get(0..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            b"data" => data = Some(body),
            _ => {}
        }
        // Chunks are padded to even lengths.
        i = body_start.checked_add(len)?.checked_add(len & 1)?;
    }
    let fmt = fmt?;
    let u16_at = |o: usize| fmt.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    if u16_at(0)? != 0x0011 || u16_at(2)? != 1 {
        return None;
    }
    let block = usize::from(u16_at(12)?);
    if block <= 4 {
        return None;
    }
    let data = data?;
    let mut out = Vec::with_capacity(data.len() * 2);
    for blk in data.chunks(block) {
        if blk.len() < 4 {
            break;
        }
        let mut st = State {
            predictor: i32::from(i16::from_le_bytes([blk[0], blk[1]])),
            index: i32::from(blk[2]).min(88),
        };
        out.push(st.predictor as i16);
        for &byte in &blk[4..] {
            out.push(st.step(byte & 0x0f));
            out.push(st.step(byte >> 4));
        }
    }
    if let Some(n) = fact {
        out.truncate(n as usize);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn speechlike(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let env = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
                (env * 9000.0
                    * ((2.0 * std::f64::consts::PI * 220.0 * t).sin()
                        + 0.4 * (2.0 * std::f64::consts::PI * 1170.0 * t).sin()))
                    as i16
            })
            .collect()
    }

    fn snr_db(a: &[i16], b: &[i16]) -> f64 {
        let (mut sig, mut noise) = (0f64, 0f64);
        for (x, y) in a.iter().zip(b) {
            sig += f64::from(*x).powi(2);
            noise += (f64::from(*x) - f64::from(*y)).powi(2);
        }
        10.0 * (sig / noise.max(1.0)).log10()
    }

    #[test]
    fn round_trip_keeps_length_and_quality_at_a_quarter_of_the_size() {
        let pcm = speechlike(8000 * 10 + 123);
        let enc = encode_ima_wav(&pcm);
        let dec = decode_ima_wav(&enc).unwrap();
        assert_eq!(dec.len(), pcm.len(), "fact chunk trims the padding");
        let snr = snr_db(&pcm, &dec);
        assert!(snr > 20.0, "SNR {snr:.1} dB");
        let pcm_wav_len = 44 + pcm.len() * 2;
        let ratio = pcm_wav_len as f64 / enc.len() as f64;
        assert!(ratio > 3.9, "compression {ratio:.2}x");
        assert_eq!(wav_samples(&enc).unwrap(), dec);
    }

    #[test]
    fn an_independent_decoder_reads_it() {
        // symphonia's IMA ADPCM decoder (the prompt loader) must hear the same audio.
        let pcm = speechlike(8000 * 2);
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("m.wav");
        std::fs::write(&path, encode_ima_wav(&pcm)).unwrap();
        let theirs = crate::media::prompts::load(&path).unwrap();
        let ours = decode_ima_wav(&std::fs::read(&path).unwrap()).unwrap();
        assert!(theirs.len() >= ours.len() && theirs.len() < ours.len() + BLOCK_SAMPLES);
        let snr = snr_db(&ours, &theirs[..ours.len()]);
        let snr_src = snr_db(&pcm, &theirs[..ours.len()]);
        // Implementations differ in the last bits of the step arithmetic (exact multiply vs
        // shifts); both must give the source back.
        assert!(
            snr > 40.0 && snr_src > 20.0,
            "the two decoders differ: {snr:.1} dB; theirs vs source {snr_src:.1} dB; {:?} vs {:?}",
            &ours[..8],
            &theirs[..8]
        );
    }

    #[test]
    fn encode_picks_the_format_and_never_drops_audio() {
        let mut pcm_wav = Vec::new();
        {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut pcm_wav), spec).unwrap();
            for s in speechlike(4000) {
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
        }
        assert_eq!(AudioFormat::Wav.encode(pcm_wav.clone()), pcm_wav);
        let adpcm = AudioFormat::ImaAdpcm.encode(pcm_wav.clone());
        assert!(adpcm.len() * 3 < pcm_wav.len());
        assert_eq!(wav_samples(&adpcm).unwrap().len(), 4000);
        assert_eq!(AudioFormat::ImaAdpcm.encode(b"junk".to_vec()), b"junk");
        assert_eq!(
            AudioFormat::from_config("ima-adpcm"),
            Some(AudioFormat::ImaAdpcm)
        );
        assert_eq!(AudioFormat::from_config("mp3"), None);
        assert_eq!(encode_ima_wav(&[]).len(), 60 + BLOCK);
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = wav_samples(&bytes);
            let mut wav = encode_ima_wav(&[1, 2, 3]);
            let cut = bytes.len() % wav.len();
            wav.truncate(cut);
            wav.extend_from_slice(&bytes);
            let _ = decode_ima_wav(&wav);
        }
    }
}
