//! Tests for prompt loading (a sibling file to keep `prompts.rs` short).

use super::*;
use std::f64::consts::TAU;
use std::process::Command;

fn write_wav(path: &Path, rate: u32, channels: u16, seconds: f64, freq: f64) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (rate as f64 * seconds) as usize;
    for i in 0..n {
        let s = (16000.0 * (TAU * freq * i as f64 / rate as f64).sin()) as i16;
        for _ in 0..channels {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// Sign changes (ignoring exact zeros), about 2 per cycle of a tone.
fn zero_crossings(s: &[i16]) -> usize {
    let mut last = 0i16;
    let mut n = 0;
    for &x in s.iter().filter(|&&x| x != 0) {
        if last != 0 && (x > 0) != (last > 0) {
            n += 1;
        }
        last = x;
    }
    n
}

/// Asserts that `s` is ~`seconds` of a `freq` tone at 8 kHz with peak near `peak`.
fn assert_tone(s: &[i16], seconds: f64, freq: f64, peak: f64) {
    assert_tone_within(s, seconds, 0.01, freq, peak)
}

/// As [`assert_tone`], with a length tolerance (a fraction of `seconds`).
fn assert_tone_within(s: &[i16], seconds: f64, len_tolerance: f64, freq: f64, peak: f64) {
    let want_len = 8000.0 * seconds;
    assert!(
        (s.len() as f64 - want_len).abs() <= want_len * len_tolerance,
        "length {} vs {want_len}",
        s.len()
    );
    // Measure in the middle to keep clear of filter edges.
    let mid = &s[s.len() / 10..s.len() * 9 / 10];
    let secs = mid.len() as f64 / 8000.0;
    let freq_est = zero_crossings(mid) as f64 / 2.0 / secs;
    assert!(
        (freq_est - freq).abs() < freq * 0.01,
        "frequency {freq_est} Hz"
    );
    // Amplitude from RMS (robust to codec overshoot): a sine's peak is RMS * sqrt(2).
    let rms = (mid.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
    let amp = rms * std::f64::consts::SQRT_2;
    assert!(
        (amp - peak).abs() < peak * 0.05,
        "amplitude {amp} vs {peak}"
    );
}

#[test]
fn fast_path_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.wav");
    write_wav(&path, 8000, 1, 0.5, 440.0);
    let want: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(load(&path).unwrap(), want);
}

#[test]
fn wav_16k_stereo_resamples_to_8k_mono() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hq.wav");
    write_wav(&path, 16000, 2, 1.0, 1000.0);
    let s = load(&path).unwrap();
    assert_tone(&s, 1.0, 1000.0, 16000.0);
}

#[test]
fn wav_8k_stereo_downmixes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("st.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for (l, r) in [(1000i16, 3000i16), (-4000, 0), (100, -100)] {
        w.write_sample(l).unwrap();
        w.write_sample(r).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(load(&path).unwrap(), vec![2000, -2000, 0]);
}

#[test]
fn wav_float_44k_resamples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..(44100 * 2) {
        w.write_sample((0.25 * (TAU * 500.0 * i as f64 / 44100.0).sin()) as f32)
            .unwrap();
    }
    w.finalize().unwrap();
    assert_tone(&load(&path).unwrap(), 2.0, 500.0, 8192.0);
}

#[test]
fn wma_is_refused_with_conversion_hint() {
    let dir = tempfile::tempdir().unwrap();
    // By content, whatever the name.
    let path = dir.path().join("greeting.dat");
    let mut asf = vec![0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9];
    asf.extend_from_slice(&[0u8; 100]);
    std::fs::write(&path, &asf).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, PromptError::Wma { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("greeting.dat"), "{msg}");
    assert!(msg.contains("not supported"), "{msg}");
    assert!(msg.contains("ffmpeg -i in.wma -ar 8000 -ac 1"), "{msg}");
    // By extension, whatever the content.
    let path = dir.path().join("x.WMA");
    std::fs::write(&path, b"whatever").unwrap();
    assert!(matches!(load(&path), Err(PromptError::Wma { .. })));
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, PromptError::Io { .. }));
    assert!(err.to_string().contains("missing.wav"));

    let junk = dir.path().join("junk.mp3");
    std::fs::write(&junk, b"this is not audio at all, just text").unwrap();
    let err = load(&junk).unwrap_err();
    assert!(matches!(err, PromptError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.mp3"));

    // A truncated RIFF header must be an error, not a panic.
    let bad = dir.path().join("bad.wav");
    std::fs::write(&bad, b"RIFF\x10\0\0\0WAVEfmt ").unwrap();
    let err = load(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.wav"), "{err}");

    let empty = dir.path().join("empty.wav");
    write_wav(&empty, 8000, 1, 0.0, 0.0);
    assert!(matches!(load(&empty), Err(PromptError::Empty { .. })));
}

/// MP3, FLAC and Ogg Vorbis through symphonia, with fixtures made by sox (installed with
/// libsox-fmt-all by scripts/install-test-deps.sh; missing sox fails the test, never skips it).
#[test]
fn sox_fixtures_mp3_flac_and_ogg() {
    let sox = Path::new("/usr/bin/sox");
    assert!(
        sox.exists(),
        "sox is missing: run scripts/install-test-deps.sh (packages sox, libsox-fmt-all)"
    );
    let dir = tempfile::tempdir().unwrap();
    for ext in ["mp3", "flac", "ogg"] {
        let path = dir.path().join(format!("tone.{ext}"));
        let status = Command::new(sox)
            .args(["-n", "-r", "44100", "-c", "2"])
            .arg(&path)
            .args(["synth", "1.5", "sine", "1000", "vol", "0.5"])
            .status()
            .unwrap();
        assert!(status.success(), "sox failed to write {ext}");
        let s = load(&path).unwrap();
        // An MP3 without a gapless (LAME) header keeps the encoder's delay and padding:
        // up to ~2 frames of 1152 samples at 44.1 kHz, i.e. ~5% of 1.5 s.
        let tolerance = if ext == "mp3" { 0.05 } else { 0.01 };
        assert_tone_within(&s, 1.5, tolerance, 1000.0, 16384.0);
    }
    // WAV encodings hound refuses (µ-law, IMA ADPCM) go through symphonia.
    for enc in ["u-law", "ima-adpcm"] {
        let path = dir.path().join(format!("{enc}.wav"));
        let status = Command::new(sox)
            .args(["-n", "-r", "8000", "-c", "1", "-e", enc])
            .arg(&path)
            .args(["synth", "1", "sine", "1000", "vol", "0.5"])
            .status()
            .unwrap();
        assert!(status.success(), "sox failed to write {enc}");
        assert_tone(&load(&path).unwrap(), 1.0, 1000.0, 16384.0);
    }
}

#[test]
fn tone_and_silence() {
    let t = tone(1000.0, 200, 0.5);
    assert_eq!(t.len(), 1600);
    assert_eq!(t[0], 0);
    // Fade-in: the first 5 ms stay below the peak.
    let head_max = t[..20].iter().map(|&x| x.abs()).max().unwrap();
    assert!(head_max < 16384 / 2, "{head_max}");
    let max = t.iter().map(|&x| x.abs()).max().unwrap();
    assert!((16000..=16384).contains(&max), "{max}");
    assert!(t[1599].abs() < 200, "fade-out ends near zero");
    let f = zero_crossings(&t[200..1400]) as f64 / 2.0 / (1200.0 / 8000.0);
    assert!((f - 1000.0).abs() < 10.0, "{f}");
    assert_eq!(tone(440.0, 0, 1.0), Vec::<i16>::new());
    assert_eq!(tone(440.0, 1, 1.0).len(), 8);
    assert_eq!(silence(250), vec![0i16; 2000]);
}

#[test]
fn library_loads_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("greeting.wav"), 8000, 1, 0.1, 440.0);
    write_wav(&dir.path().join("beep.WAV"), 16000, 1, 0.1, 440.0);
    std::fs::write(dir.path().join("readme.txt"), b"text").unwrap();
    std::fs::create_dir(dir.path().join("sub.wav")).unwrap();
    let lib = PromptLibrary::load_dir(dir.path()).unwrap();
    assert_eq!(lib.names(), vec!["beep", "greeting"]);
    assert_eq!(lib.get("greeting").unwrap().len(), 800);
    assert_eq!(lib.get("beep").unwrap().len(), 800);
    assert!(lib.get("readme").is_none());

    std::fs::write(dir.path().join("old.wma"), b"x").unwrap();
    let err = PromptLibrary::load_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("old.wma"), "{err}");

    let err = PromptLibrary::load_dir(&dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
