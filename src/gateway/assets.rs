//! Files the binary carries so `umgw run` works with no configuration: the sample dial plans
//! and the shipped prompts (audio/*.wav, 8 kHz mono 16-bit).

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use crate::dialplan::{self, Diagnostic, DialPlans};
use crate::media::prompts::{PromptError, PromptLibrary};

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
];

/// Loads the embedded sample dial plans.
pub fn dialplans() -> Result<DialPlans, Vec<Diagnostic>> {
    dialplan::load_files(DIALPLANS.iter().map(|(p, t)| (Path::new(*p), *t)))
}

/// Decodes the embedded prompts.
pub fn prompts() -> Result<PromptLibrary, PromptError> {
    let mut lib = PromptLibrary::new();
    for (name, bytes) in PROMPTS {
        let samples = decode_wav(name, bytes)?;
        lib.insert(name, Arc::from(samples));
    }
    Ok(lib)
}

fn decode_wav(name: &str, bytes: &[u8]) -> Result<Vec<i16>, PromptError> {
    let bad = |why: String| PromptError::Decode {
        path: Path::new("audio").join(format!("{name}.wav")),
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
}
