//! German (`audio/de-DE/`): units before tens ("ein-und-zwanzig" as three prompts), "eins"
//! alone but "ein" before "und", "Uhr" and in compounds, "eine" before a feminine noun
//! ("eine Nachricht", "eine Minute"), the 24-hour clock ("um 14 Uhr 5") and dates with the
//! dative ordinal ("am siebten Dezember").

use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;

use super::{calendar, digits, Speaker, MONTHS, WEEKDAYS};

/// The German speaker.
#[derive(Debug, Clone, Copy)]
pub struct DeDe;

/// German words beyond the names of `audio/prompts.txt`.
const OWN_WORDS: &[&str] = &[
    // "ein" in "einundzwanzig", "ein Uhr"; "eine" before a feminine noun.
    "n-ein",
    "n-eine",
    // "Millionen" (n-million is the singular "Million").
    "n-millions",
    // "am" before a weekday or date.
    "w-on",
    // "keine neuen", "keine gespeicherten" (the adjective declines after "keine").
    "w-no-new",
    "w-no-saved",
];

impl Speaker for DeDe {
    fn number(&self, n: u64) -> Vec<String> {
        if n == 0 {
            return vec!["n-0".to_owned()];
        }
        cardinal(n, true)
    }

    fn counts(&self, new: u32, saved: u32) -> Vec<String> {
        let mut out = vec!["w-you-have".to_owned()];
        out.extend(messages(new, "w-no-new", "w-new"));
        out.push("w-and".to_owned());
        out.extend(messages(saved, "w-no-saved", "w-saved"));
        out
    }

    fn duration(&self, d: Duration) -> Vec<String> {
        let secs = (d.as_millis() as u64 + 500) / 1000;
        let (m, s) = (secs / 60, secs % 60);
        let mut out = Vec::new();
        if m > 0 {
            out.extend(feminine(self, m));
            out.push(if m == 1 { "w-minute" } else { "w-minutes" }.to_owned());
        }
        if s > 0 || m == 0 {
            out.extend(feminine(self, s));
            out.push(if s == 1 { "w-second" } else { "w-seconds" }.to_owned());
        }
        out
    }

    /// "heute um 14 Uhr 5", "gestern um ...", "am Dienstag um ...", "am siebten Dezember um ...".
    fn when(&self, t: SystemTime, now: SystemTime, zone: &TimeZone) -> Vec<String> {
        let (c, days_ago) = calendar(t, now, zone);
        let mut out = Vec::new();
        match days_ago {
            0 => out.push("w-today".to_owned()),
            1 => out.push("w-yesterday".to_owned()),
            2..=6 => out.extend([
                "w-on".to_owned(),
                format!(
                    "day-{}",
                    WEEKDAYS[c.weekday().to_monday_zero_offset() as usize]
                ),
            ]),
            _ => out.extend([
                "w-on".to_owned(),
                // ord-N is the dative ordinal in German: "siebten".
                format!("ord-{}", c.day()),
                format!("month-{}", MONTHS[(c.month() - 1) as usize]),
            ]),
        }
        out.push("w-at".to_owned());
        out.extend(time_of_day(c.hour() as u32, c.minute() as u32));
        out
    }

    fn own_words(&self) -> &'static [&'static str] {
        OWN_WORDS
    }
}

/// 24-hour clock: 14:05 → vierzehn Uhr fünf; 1:00 → ein Uhr; 0:30 → null Uhr dreißig.
pub fn time_of_day(hour: u32, minute: u32) -> Vec<String> {
    let mut out = match hour {
        0 => vec!["n-0".to_owned()],
        h => cardinal(u64::from(h), false),
    };
    out.push("t-oclock".to_owned());
    if minute > 0 {
        out.extend(DeDe.number(u64::from(minute)));
    }
    out
}

/// The number before a feminine noun: "eine" for 1, else the cardinal.
fn feminine(speaker: &DeDe, n: u64) -> Vec<String> {
    if n == 1 {
        vec!["n-eine".to_owned()]
    } else {
        speaker.number(n)
    }
}

/// "keine neuen Nachrichten", "eine neue Nachricht", "zwei neue Nachrichten".
fn messages(n: u32, none: &str, adjective: &str) -> Vec<String> {
    let mut out = match n {
        0 => vec![none.to_owned()],
        n => {
            let mut v = feminine(&DeDe, u64::from(n));
            v.push(adjective.to_owned());
            v
        }
    };
    out.push(if n == 1 { "w-message" } else { "w-messages" }.to_owned());
    out
}

/// A cardinal above zero. `alone`: a final 1 is "eins" (the number said on its own,
/// "hunderteins"); otherwise "ein" ("ein Uhr", "hunderteintausend").
fn cardinal(n: u64, alone: bool) -> Vec<String> {
    if n >= 1_000_000_000_000 {
        // Beyond the billions: say the digits (never reached by call data).
        return digits(&n.to_string());
    }
    let mut out = Vec::new();
    let (millions, rest) = (n / 1_000_000, n % 1_000_000);
    match millions {
        0 => {}
        1 => out.extend(["n-eine".to_owned(), "n-million".to_owned()]),
        m => {
            out.extend(cardinal(m, false));
            out.push("n-millions".to_owned());
        }
    }
    let (thousands, rest) = (rest / 1000, rest % 1000);
    match thousands {
        0 => {}
        // "tausend", not "eintausend", as said in speech.
        1 => out.push("n-thousand".to_owned()),
        t => {
            out.extend(below_thousand(t, false));
            out.push("n-thousand".to_owned());
        }
    }
    out.extend(below_thousand(rest, alone));
    out
}

/// 0-999; nothing for 0.
fn below_thousand(n: u64, alone: bool) -> Vec<String> {
    let mut out = Vec::new();
    let (hundreds, rest) = (n / 100, n % 100);
    match hundreds {
        0 => {}
        1 => out.push("n-hundred".to_owned()),
        h => out.extend([format!("n-{h}"), "n-hundred".to_owned()]),
    }
    let one = if alone { "n-1" } else { "n-ein" };
    match rest {
        0 => {}
        1 => out.push(one.to_owned()),
        2..=19 => out.push(format!("n-{rest}")),
        _ => {
            let (tens, units) = (rest / 10 * 10, rest % 10);
            match units {
                0 => {}
                1 => out.extend(["n-ein".to_owned(), "w-and".to_owned()]),
                u => out.extend([format!("n-{u}"), "w-and".to_owned()]),
            }
            out.push(format!("n-{tens}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use jiff::Timestamp;

    use super::*;

    #[test]
    fn numbers() {
        let table: &[(u64, &[&str])] = &[
            (0, &["n-0"]),
            (1, &["n-1"]),
            (2, &["n-2"]),
            (12, &["n-12"]),
            (17, &["n-17"]),
            (20, &["n-20"]),
            (21, &["n-ein", "w-and", "n-20"]),
            (42, &["n-2", "w-and", "n-40"]),
            (99, &["n-9", "w-and", "n-90"]),
            (100, &["n-hundred"]),
            (101, &["n-hundred", "n-1"]),
            (121, &["n-hundred", "n-ein", "w-and", "n-20"]),
            (200, &["n-2", "n-hundred"]),
            (1000, &["n-thousand"]),
            (1001, &["n-thousand", "n-1"]),
            (
                1999,
                &["n-thousand", "n-9", "n-hundred", "n-9", "w-and", "n-90"],
            ),
            (2026, &["n-2", "n-thousand", "n-6", "w-and", "n-20"]),
            (21_000, &["n-ein", "w-and", "n-20", "n-thousand"]),
            (101_000, &["n-hundred", "n-ein", "n-thousand"]),
            (1_000_000, &["n-eine", "n-million"]),
            (2_000_001, &["n-2", "n-millions", "n-1"]),
        ];
        for (n, want) in table {
            assert_eq!(DeDe.number(*n), *want, "{n}");
        }
    }

    #[test]
    fn counts_and_durations() {
        assert_eq!(
            DeDe.counts(2, 1),
            [
                "w-you-have",
                "n-2",
                "w-new",
                "w-messages",
                "w-and",
                "n-eine",
                "w-saved",
                "w-message"
            ]
        );
        assert_eq!(
            DeDe.counts(0, 21),
            [
                "w-you-have",
                "w-no-new",
                "w-messages",
                "w-and",
                "n-ein",
                "w-and",
                "n-20",
                "w-saved",
                "w-messages"
            ]
        );
        assert_eq!(
            DeDe.duration(Duration::from_secs(125)),
            ["n-2", "w-minutes", "n-5", "w-seconds"]
        );
        assert_eq!(
            DeDe.duration(Duration::from_secs(61)),
            ["n-eine", "w-minute", "n-eine", "w-second"]
        );
        assert_eq!(
            DeDe.duration(Duration::from_secs(21)),
            ["n-ein", "w-and", "n-20", "w-seconds"]
        );
        assert_eq!(DeDe.duration(Duration::ZERO), ["n-0", "w-seconds"]);
    }

    #[test]
    fn times_on_the_24_hour_clock() {
        let table: &[((u32, u32), &[&str])] = &[
            ((14, 5), &["n-14", "t-oclock", "n-5"]),
            ((14, 0), &["n-14", "t-oclock"]),
            ((0, 30), &["n-0", "t-oclock", "n-30"]),
            ((1, 0), &["n-ein", "t-oclock"]),
            ((1, 1), &["n-ein", "t-oclock", "n-1"]),
            (
                (21, 21),
                &[
                    "n-ein", "w-and", "n-20", "t-oclock", "n-ein", "w-and", "n-20",
                ],
            ),
            (
                (23, 59),
                &["n-3", "w-and", "n-20", "t-oclock", "n-9", "w-and", "n-50"],
            ),
        ];
        for ((h, m), want) in table {
            assert_eq!(time_of_day(*h, *m), *want, "{h}:{m}");
        }
    }

    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::try_from(rfc3339.parse::<Timestamp>().unwrap()).unwrap()
    }

    #[test]
    fn dates_in_berlin() {
        let berlin = crate::dialplan::schedule::parse_time_zone("Europe/Berlin").unwrap();
        // Monday 2026-12-14 15:00 CET (14:00 UTC).
        let now = at("2026-12-14T14:00:00Z");
        let said = |t: &str| DeDe.when(at(t), now, &berlin);
        // "heute um 14 Uhr 5": 13:05 UTC is 14:05 in Berlin (CET, UTC+1).
        assert_eq!(
            said("2026-12-14T13:05:00Z"),
            ["w-today", "w-at", "n-14", "t-oclock", "n-5"]
        );
        // 23:30 UTC on Sunday is already Monday 00:30 in Berlin: today, "null Uhr dreißig".
        assert_eq!(
            said("2026-12-13T23:30:00Z"),
            ["w-today", "w-at", "n-0", "t-oclock", "n-30"]
        );
        assert_eq!(
            said("2026-12-13T08:00:00Z"),
            ["w-yesterday", "w-at", "n-9", "t-oclock"]
        );
        // "am Dienstag um 8 Uhr 15".
        assert_eq!(
            said("2026-12-08T07:15:00Z"),
            ["w-on", "day-tuesday", "w-at", "n-8", "t-oclock", "n-15"]
        );
        // "am siebten Dezember um ein Uhr": a week ago and more, the date.
        assert_eq!(
            said("2026-12-07T00:00:00Z"),
            [
                "w-on",
                "ord-7",
                "month-december",
                "w-at",
                "n-ein",
                "t-oclock"
            ]
        );
        // Summer time: 2026-07-01 12:00 UTC is 14:00 CEST (UTC+2).
        assert_eq!(
            said("2026-07-01T12:00:00Z"),
            ["w-on", "ord-1", "month-july", "w-at", "n-14", "t-oclock"]
        );
        let e = DeDe.envelope(
            Some("+49 30 1"),
            at("2026-12-14T13:05:00Z"),
            Duration::from_secs(1),
            now,
            &berlin,
        );
        assert_eq!(
            e,
            [
                "w-message",
                "w-from",
                "digit-4",
                "digit-9",
                "digit-3",
                "digit-0",
                "digit-1",
                "w-received",
                "w-today",
                "w-at",
                "n-14",
                "t-oclock",
                "n-5",
                "n-eine",
                "w-second"
            ]
        );
        assert_eq!(
            DeDe.when(UNIX_EPOCH, now, &berlin)[..3],
            ["w-on", "ord-1", "month-january"]
        );
    }
}
