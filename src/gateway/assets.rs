//! Files the binary carries so `umgw run` works with no configuration: the sample dial plans
//! and the shipped prompts (audio/*.wav, 8 kHz mono 16-bit: en-US; audio/<tag>/*.wav: the
//! other languages, listed by build.rs).

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use crate::dialplan::{self, Diagnostic, DialPlans};
use crate::media::prompts::{PromptError, PromptLibrary};
use crate::media::speech::Language;
use crate::media::voices::PromptSets;

/// The sample dial plans in `dialplans/`, by file name.
pub const DIALPLANS: &[(&str, &str)] = &[
    (
        "dialplans/contoso-lync.toml",
        include_str!("../../dialplans/contoso-lync.toml"),
    ),
    (
        "dialplans/pbx-extensions.toml",
        include_str!("../../dialplans/pbx-extensions.toml"),
    ),
];

macro_rules! prompts {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../audio/", $name, ".wav")))),*]
    };
}

/// The shipped prompts, by name (file stem).
pub const PROMPTS: &[(&str, &[u8])] = prompts![
    "vm-person-at-extension",
    "vm-not-available",
    "vm-default-greeting",
    "vm-saved",
    "vm-not-saved",
    "vm-goodbye",
    "vm-mailbox-full",
    "vm-review-options",
    "vm-marked-urgent",
    "vm-urgent-removed",
    "vm-marked-private",
    "vm-private-removed",
    "digit-0",
    "digit-1",
    "digit-2",
    "digit-3",
    "digit-4",
    "digit-5",
    "digit-6",
    "digit-7",
    "digit-8",
    "digit-9",
    "n-0",
    "n-1",
    "n-2",
    "n-3",
    "n-4",
    "n-5",
    "n-6",
    "n-7",
    "n-8",
    "n-9",
    "n-10",
    "n-11",
    "n-12",
    "n-13",
    "n-14",
    "n-15",
    "n-16",
    "n-17",
    "n-18",
    "n-19",
    "n-20",
    "n-30",
    "n-40",
    "n-50",
    "n-60",
    "n-70",
    "n-80",
    "n-90",
    "n-hundred",
    "n-thousand",
    "n-million",
    "ord-1",
    "ord-2",
    "ord-3",
    "ord-4",
    "ord-5",
    "ord-6",
    "ord-7",
    "ord-8",
    "ord-9",
    "ord-10",
    "ord-11",
    "ord-12",
    "ord-13",
    "ord-14",
    "ord-15",
    "ord-16",
    "ord-17",
    "ord-18",
    "ord-19",
    "ord-20",
    "ord-21",
    "ord-22",
    "ord-23",
    "ord-24",
    "ord-25",
    "ord-26",
    "ord-27",
    "ord-28",
    "ord-29",
    "ord-30",
    "ord-31",
    "day-monday",
    "day-tuesday",
    "day-wednesday",
    "day-thursday",
    "day-friday",
    "day-saturday",
    "day-sunday",
    "month-january",
    "month-february",
    "month-march",
    "month-april",
    "month-may",
    "month-june",
    "month-july",
    "month-august",
    "month-september",
    "month-october",
    "month-november",
    "month-december",
    "t-am",
    "t-pm",
    "t-oclock",
    "t-oh",
    "w-minute",
    "w-minutes",
    "w-second",
    "w-seconds",
    "w-at",
    "w-and",
    "w-message",
    "w-messages",
    "w-new",
    "w-saved",
    "w-from",
    "w-received",
    "w-today",
    "w-yesterday",
    "w-unknown-caller",
    "w-you-have",
    "w-no",
    "sa-enter-extension",
    "sa-enter-pin",
    "sa-pin-wrong",
    "sa-locked",
    "sa-mailbox-busy",
    "sa-main-menu",
    "sa-message-menu",
    "sa-no-more-messages",
    "sa-message-deleted",
    "sa-message-saved",
    "sa-record-greeting",
    "sa-greeting-saved",
    "sa-new-pin",
    "sa-pin-changed",
    "sa-pin-rejected",
    "sa-pin-digits",
    "sa-record-away",
    "sa-record-name",
    "sa-away-on",
    "sa-away-off",
    "sa-name-saved",
    "sa-record-busy",
    "sa-busy-saved",
    "sa-no-caller-id",
    "pon-intro",
    "pon-menu",
    "pon-message-gone",
    "sa-message-restored",
    "sa-message-unread",
    "sa-forward-extension",
    "sa-forward-by-name",
    "sa-forward-comment",
    "sa-message-forwarded",
    "sa-record-reply",
    "sa-reply-sent",
    "sa-reply-external",
    "sa-pin-expired",
    "sa-pin-must-change",
    "sa-invalid",
    "aa-enter-extension",
    "aa-transferring",
    "aa-after-hours",
    "aa-transfer-failed",
    "aa-welcome",
    "aa-holiday",
    "aa-line-unavailable",
    "aa-the-operator",
    "aa-more-options",
    "aa-know-extension",
    "aa-main-menu-return",
    "aa-leave-message-for",
    "w-for",
    "w-extension",
    "w-press",
    "key-star",
    "key-pound",
    // Dial by name (flows::directory) and dialing rules.
    "aa-know-name",
    "dir-spell-last",
    "dir-spell-first",
    "dir-spell-alias",
    "dir-no-match",
    "dir-more",
    "dir-spell-again",
    "dir-transferring-to",
    "dial-refused",
    "letter-a",
    "letter-b",
    "letter-c",
    "letter-d",
    "letter-e",
    "letter-f",
    "letter-g",
    "letter-h",
    "letter-i",
    "letter-j",
    "letter-k",
    "letter-l",
    "letter-m",
    "letter-n",
    "letter-o",
    "letter-p",
    "letter-q",
    "letter-r",
    "letter-s",
    "letter-t",
    "letter-u",
    "letter-v",
    "letter-w",
    "letter-x",
    "letter-y",
    "letter-z",
];

/// The prompts of one shipped language besides en-US.
#[derive(Debug)]
pub struct LanguagePrompts {
    /// The language tag, the folder's name (`de-DE`).
    pub tag: &'static str,
    /// The WAVs, by name (file stem).
    pub prompts: &'static [(&'static str, &'static [u8])],
}

/// The other shipped languages: every `audio/<tag>/*.wav` (listed by build.rs).
pub const LANGUAGE_PROMPTS: &[LanguagePrompts] =
    include!(concat!(env!("OUT_DIR"), "/language_prompts.rs"));

/// Loads the embedded sample dial plans.
pub fn dialplans() -> Result<DialPlans, Vec<Diagnostic>> {
    dialplan::load_files(DIALPLANS.iter().map(|(p, t)| (Path::new(*p), *t)))
}

/// Decodes the embedded en-US prompts.
pub fn prompts() -> Result<PromptLibrary, PromptError> {
    decode_all(Path::new("audio"), PROMPTS)
}

/// Decodes the embedded prompts of every shipped language.
pub fn prompt_sets() -> Result<PromptSets, PromptError> {
    let mut sets = PromptSets::new(prompts()?);
    for shipped in LANGUAGE_PROMPTS {
        // A folder without a speaker is not a language (the test below keeps them in step).
        let Some(language) = Language::from_tag(shipped.tag) else {
            continue;
        };
        let dir = Path::new("audio").join(shipped.tag);
        sets.set(language, decode_all(&dir, shipped.prompts)?);
    }
    Ok(sets)
}

fn decode_all(dir: &Path, files: &[(&str, &[u8])]) -> Result<PromptLibrary, PromptError> {
    let mut lib = PromptLibrary::new();
    for (name, bytes) in files {
        let samples = decode_wav(&dir.join(format!("{name}.wav")), bytes)?;
        lib.insert(name, Arc::from(samples));
    }
    Ok(lib)
}

fn decode_wav(path: &Path, bytes: &[u8]) -> Result<Vec<i16>, PromptError> {
    let bad = |why: String| PromptError::Decode {
        path: path.to_path_buf(),
        reason: why,
    };
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(bad(format!(
            "shipped prompt must be 8 kHz mono 16-bit, is {} Hz {} ch {} bit",
            spec.sample_rate, spec.channels, spec.bits_per_sample
        )));
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_assets_load() {
        let plans = dialplans().expect("sample dial plans are valid");
        assert!(plans.mailbox("alice").is_some());
        let lib = prompts().unwrap();
        assert_eq!(lib.len(), PROMPTS.len());
        // Every prompt has audible content of a plausible length.
        for (name, _) in PROMPTS {
            let p = lib.get(name).unwrap();
            assert!(p.len() > 1000, "{name} too short");
            assert!(p.iter().any(|s| s.unsigned_abs() > 3000), "{name} silent");
        }
    }

    #[test]
    fn every_language_folder_is_a_complete_shipped_language() {
        let sets = prompt_sets().unwrap();
        let tags: Vec<&str> = LANGUAGE_PROMPTS.iter().map(|l| l.tag).collect();
        let others: Vec<&str> = Language::ALL[1..].iter().map(|l| l.tag()).collect();
        assert_eq!(
            tags, others,
            "audio/<tag>/ folders and media::speech::Language"
        );
        let shipped = PROMPTS.iter().map(|(n, _)| *n);
        for language in Language::ALL {
            assert_eq!(
                sets.missing(language, shipped.clone()),
                Vec::<String>::new(),
                "{language}"
            );
            for name in sets.library(language).names() {
                let p = sets.library(language).get(name).unwrap();
                assert!(p.len() > 1000, "{language} {name} too short");
                assert!(
                    p.iter().any(|s| s.unsigned_abs() > 3000),
                    "{language} {name} silent"
                );
            }
        }
    }
}
