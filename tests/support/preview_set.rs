//! The Voice Mail Preview test set: tests/data/preview/messages.tsv (reference texts and key
//! words) and its audio, made by scripts/make-preview-set.sh. Shared by benches/preview.rs and
//! tests/preview.rs (included with `#[path]`, next to wer.rs).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One message of the set.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    /// ENGINE:VOICE, e.g. `flite:slt`.
    pub voice: String,
    /// `clean` or `noisy`.
    pub line: String,
    /// `pcmu` or `pcma`.
    pub codec: String,
    /// What the voice says.
    pub text: String,
    /// Ten words or phrases a preview must carry.
    pub key_words: Vec<String>,
}

impl Message {
    /// The synthesiser: espeak-ng, flite or festival.
    pub fn engine(&self) -> &str {
        self.voice.split(':').next().unwrap_or("")
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The messages of tests/data/preview/messages.tsv, in file order.
pub fn messages() -> Vec<Message> {
    let path = manifest_dir().join("tests/data/preview/messages.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("id\tvoice\tline\tcodec\ttext\tkeywords"),
        "{}: header",
        path.display()
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "{}: {l}", path.display());
            Message {
                id: f[0].into(),
                voice: f[1].into(),
                line: f[2].into(),
                codec: f[3].into(),
                text: f[4].into(),
                key_words: f[5].split('|').map(str::to_owned).collect(),
            }
        })
        .collect()
}

/// Where the set's audio goes: `$CARGO_TARGET_DIR/preview-set` (else target/preview-set).
pub fn audio_dir() -> PathBuf {
    target_dir().join("preview-set")
}

pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest_dir().join(dir),
        None => manifest_dir().join("target"),
    }
}

/// Makes (or brings up to date) the audio of the messages `ids` (all when empty) in `dir`
/// with scripts/make-preview-set.sh.
pub fn make(dir: &Path, ids: &[&str]) -> Result<(), String> {
    // Tests of one binary run in parallel; one maker at a time.
    static MAKING: Mutex<()> = Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let script = manifest_dir().join("scripts/make-preview-set.sh");
    let out = Command::new(&script)
        .arg(dir)
        .args(ids)
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The message's audio as the gateway records it: 8 kHz mono 16-bit samples.
pub fn samples(dir: &Path, id: &str) -> Result<Vec<i16>, String> {
    let path = dir.join(format!("{id}.wav"));
    let reader = hound::WavReader::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = reader.spec();
    if (spec.sample_rate, spec.channels, spec.bits_per_sample) != (8000, 1, 16) {
        return Err(format!(
            "{}: not 8 kHz mono 16-bit: {spec:?}",
            path.display()
        ));
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The embedded engine's model: `$UMGW_MODEL_DIR`, else where scripts/install-model.sh puts it.
pub fn model_dir() -> PathBuf {
    std::env::var_os("UMGW_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| umgw::transcribe::embedded::DEFAULT_MODEL_DIR.into())
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_set_is_what_issue_19_asks_for() {
        let set = super::messages();
        assert!(set.len() >= 40, "{} messages", set.len());
        let mut ids: Vec<&str> = set.iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), set.len(), "ids are unique");
        for m in &set {
            assert!(["clean", "noisy"].contains(&m.line.as_str()), "{m:?}");
            assert!(["pcmu", "pcma"].contains(&m.codec.as_str()), "{m:?}");
            assert!(
                ["espeak-ng", "flite", "festival"].contains(&m.engine()),
                "{m:?}"
            );
        }
        let noisy = set.iter().filter(|m| m.line == "noisy").count();
        assert!(noisy * 5 >= set.len(), "{noisy} noisy of {}", set.len());
        for engine in ["espeak-ng", "flite", "festival"] {
            assert!(
                set.iter().filter(|m| m.engine() == engine).count() >= 8,
                "{engine}"
            );
        }
    }

    #[test]
    fn every_key_word_is_in_its_reference() {
        for m in super::messages() {
            assert_eq!(m.key_words.len(), 10, "{}", m.id);
            let missing = crate::wer::missed_key_words(&m.key_words, &m.text);
            assert!(missing.is_empty(), "{}: {missing:?} not in its text", m.id);
        }
    }
}
