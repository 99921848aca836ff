//! Speaking numbers, durations, dates and times by chaining shipped prompts (audio/n-*, ord-*,
//! day-*, month-*, t-*, w-*), so the gateway can read out a message envelope without
//! text-to-speech at run time. Pure functions: they return prompt names; [`render`] joins them.
//! Dates and times are told in a time zone (jiff's, with its compiled-in tzdb: the dial plan's
//! `TimeZone`, see `dialplan::schedule::parse_time_zone`).
//!
//! Each [`Language`] has a [`Speaker`] that knows its rules (word order, "ein"/"eins", the
//! clock); the prompt names are shared, the audio behind them is the language's
//! (`audio/` for en-US, `audio/<tag>/` for the others: [`super::voices`]). A new language is
//! one file here implementing [`Speaker`], a variant of [`Language`], and its prompt folder.

mod de_de;
mod en_us;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::prompts::PromptLibrary;

pub use de_de::DeDe;
pub use en_us::EnUs;

/// A prompt language the gateway ships (`DefaultLanguage` of a dial plan, `Language` of a
/// mailbox or auto attendant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Language {
    /// US English, the base set (`audio/*.wav`) every other language falls back to.
    #[default]
    EnUs,
    /// German (`audio/de-DE/`).
    DeDe,
}

impl Language {
    /// Every shipped language, base first.
    pub const ALL: [Language; 2] = [Language::EnUs, Language::DeDe];

    /// The BCP 47 tag as Exchange writes it (`de-DE`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::EnUs => "en-US",
            Language::DeDe => "de-DE",
        }
    }

    /// The language of `tag`, compared case-insensitively as BCP 47 tags are; `None` if it
    /// is not shipped.
    pub fn from_tag(tag: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(tag))
    }

    /// The shipped tags, for error messages: `en-US, de-DE`.
    pub fn shipped() -> String {
        let tags: Vec<&str> = Language::ALL.iter().map(|l| l.tag()).collect();
        tags.join(", ")
    }

    /// The rules for numbers, dates and times in this language.
    pub fn speaker(self) -> &'static dyn Speaker {
        match self {
            Language::EnUs => &EnUs,
            Language::DeDe => &DeDe,
        }
    }

    /// Index into per-language tables ([`Language::ALL`] order).
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// How one language says numbers, counts, durations and dates: prompt names in order.
pub trait Speaker: Sync {
    /// A cardinal number said on its own ("one", "eins").
    fn number(&self, n: u64) -> Vec<String>;

    /// "You have 2 new messages and 1 saved message."
    fn counts(&self, new: u32, saved: u32) -> Vec<String>;

    /// A message length: "2 minutes 5 seconds" (rounded to whole seconds).
    fn duration(&self, d: Duration) -> Vec<String>;

    /// When `t` was, relative to `now`, in `zone`: "today at 4 oh 5 P M".
    fn when(&self, t: SystemTime, now: SystemTime, zone: &TimeZone) -> Vec<String>;

    /// Prompts this language's rules use beyond the names of `audio/prompts.txt` (German
    /// "ein", "am"); its prompt folder must have them.
    fn own_words(&self) -> &'static [&'static str];

    /// A message envelope: "message from 4 2 5 5 5 5 0 1 9 9, received today at 4 oh 5 P M,
    /// 2 minutes 5 seconds", the time told in the mailbox's `zone`.
    fn envelope(
        &self,
        caller: Option<&str>,
        received: SystemTime,
        length: Duration,
        now: SystemTime,
        zone: &TimeZone,
    ) -> Vec<String> {
        let mut out = vec!["w-message".to_owned(), "w-from".to_owned()];
        match caller.map(digits).filter(|d| !d.is_empty()) {
            Some(d) => out.extend(d),
            None => out.push("w-unknown-caller".to_owned()),
        }
        out.push("w-received".to_owned());
        out.extend(self.when(received, now, zone));
        out.extend(self.duration(length));
        out
    }
}

/// Each digit of a number or phone number ("+1 425..." → one four two five...); other
/// characters are skipped.
pub fn digits(s: &str) -> Vec<String> {
    s.chars()
        .filter(char::is_ascii_digit)
        .map(|d| format!("digit-{d}"))
        .collect()
}

/// The wall-clock time of `t` in `zone` (its offset at that instant, so summer time counts).
/// A time beyond jiff's range (years ±9999, only from a corrupt message) is clamped to it.
fn local(t: SystemTime, zone: &TimeZone) -> DateTime {
    let ts = Timestamp::try_from(t).unwrap_or(if t >= UNIX_EPOCH {
        Timestamp::MAX
    } else {
        Timestamp::MIN
    });
    zone.to_datetime(ts)
}

/// `t` on the wall clock of `zone`, and how many of the zone's calendar days before `now`'s
/// it fell: "yesterday" is the local date before today's, whatever summer time did overnight.
fn calendar(t: SystemTime, now: SystemTime, zone: &TimeZone) -> (DateTime, i64) {
    let (c, today) = (local(t, zone), local(now, zone));
    // Whole days between two local dates (a civil difference: no 23- or 25-hour days).
    let days_ago = today.date().duration_since(c.date()).as_secs() / 86_400;
    (c, days_ago)
}

/// Weekday prompt stems (`day-monday`), Monday first.
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Month prompt stems (`month-january`).
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Where [`render`] finds prompts: one library, or a language's voice with its fallback.
pub trait PromptSource {
    /// The prompt called `name`.
    fn prompt(&self, name: &str) -> Option<Arc<[i16]>>;
}

impl PromptSource for PromptLibrary {
    fn prompt(&self, name: &str) -> Option<Arc<[i16]>> {
        self.get(name)
    }
}

/// Samples of silence [`render`] puts between two prompts (80 ms).
pub const GAP: usize = 640;

/// Joins the named prompts with 80 ms pauses; `Err(name)` for the first one missing.
pub fn render(lib: &(impl PromptSource + ?Sized), names: &[String]) -> Result<Arc<[i16]>, String> {
    let mut out: Vec<i16> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let p = lib.prompt(name).ok_or_else(|| name.clone())?;
        if i > 0 {
            out.resize(out.len() + GAP, 0);
        }
        out.extend_from_slice(&p);
    }
    Ok(Arc::from(out))
}
