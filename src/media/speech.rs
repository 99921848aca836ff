//! Speaking numbers, durations, dates and times by chaining shipped prompts (audio/n-*, ord-*,
//! day-*, month-*, t-*, w-*), so the gateway can read out a message envelope without
//! text-to-speech at run time. Pure functions: they return prompt names; [`render`] joins them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::prompts::PromptLibrary;

/// US English cardinal number: 1234 → one thousand two hundred thirty four.
pub fn number(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    if n == 0 {
        out.push("n-0".to_owned());
        return out;
    }
    let mut rest = n;
    for (scale, name) in [
        (1_000_000_000_000u64, None),
        (1_000_000, Some("n-million")),
        (1_000, Some("n-thousand")),
    ] {
        if rest >= scale {
            let group = rest / scale;
            rest %= scale;
            match name {
                Some(name) => {
                    out.extend(below_thousand(group));
                    out.push(name.to_owned());
                }
                // Beyond the millions: say the digits (never reached by call data).
                None => return digits(&n.to_string()),
            }
        }
    }
    out.extend(below_thousand(rest));
    out
}

fn below_thousand(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        out.push(format!("n-{hundreds}"));
        out.push("n-hundred".to_owned());
    }
    match rest {
        0 => {}
        1..=19 => out.push(format!("n-{rest}")),
        _ => {
            out.push(format!("n-{}", rest / 10 * 10));
            if rest % 10 != 0 {
                out.push(format!("n-{}", rest % 10));
            }
        }
    }
    out
}

/// Each digit of a number or phone number ("+1 425..." → one four two five...); other
/// characters are skipped.
pub fn digits(s: &str) -> Vec<String> {
    s.chars()
        .filter(char::is_ascii_digit)
        .map(|d| format!("digit-{d}"))
        .collect()
}

/// "2 minutes 5 seconds", "1 minute", "45 seconds" (rounded to whole seconds).
pub fn duration(d: Duration) -> Vec<String> {
    let secs = (d.as_millis() as u64 + 500) / 1000;
    let (m, s) = (secs / 60, secs % 60);
    let mut out = Vec::new();
    if m > 0 {
        out.extend(number(m));
        out.push(if m == 1 { "w-minute" } else { "w-minutes" }.to_owned());
    }
    if s > 0 || m == 0 {
        out.extend(number(s));
        out.push(if s == 1 { "w-second" } else { "w-seconds" }.to_owned());
    }
    out
}

/// 12-hour clock: 16:05 → four oh five P M; 9:00 → nine o'clock A M; 0:30 → twelve thirty A M.
pub fn time_of_day(hour: u32, minute: u32) -> Vec<String> {
    let h12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    let mut out = number(u64::from(h12));
    match minute {
        0 => out.push("t-oclock".to_owned()),
        1..=9 => {
            out.push("t-oh".to_owned());
            out.extend(number(u64::from(minute)));
        }
        _ => out.extend(number(u64::from(minute))),
    }
    out.push(if hour < 12 { "t-am" } else { "t-pm" }.to_owned());
    out
}

/// A civil date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
    /// Days since 1970-01-01.
    pub days: i64,
}

/// The civil time of `t` at a fixed offset from UTC (seconds east).
pub fn civil(t: SystemTime, utc_offset_s: i64) -> CivilTime {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    } + utc_offset_s;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    CivilTime {
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        minute: (sod % 3600 / 60) as u32,
        // 1970-01-01 was a Thursday (3 when Monday is 0).
        weekday: (days + 3).rem_euclid(7) as u32,
        days,
    }
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
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

/// When, relative to `now`: today / yesterday / a weekday within the last week / "March
/// third"; then "at" and the time.
pub fn when(t: SystemTime, now: SystemTime, utc_offset_s: i64) -> Vec<String> {
    let (c, today) = (civil(t, utc_offset_s), civil(now, utc_offset_s));
    let mut out = Vec::new();
    match today.days - c.days {
        0 => out.push("w-today".to_owned()),
        1 => out.push("w-yesterday".to_owned()),
        2..=6 => out.push(format!("day-{}", WEEKDAYS[c.weekday as usize])),
        _ => {
            out.push(format!("month-{}", MONTHS[(c.month - 1) as usize]));
            out.push(format!("ord-{}", c.day));
        }
    }
    out.push("w-at".to_owned());
    out.extend(time_of_day(c.hour, c.minute));
    out
}

/// A message envelope: "message from 4 2 5 5 5 5 0 1 9 9, received today at 4 oh 5 P M,
/// 2 minutes 5 seconds".
pub fn envelope(
    caller: Option<&str>,
    received: SystemTime,
    length: Duration,
    now: SystemTime,
    utc_offset_s: i64,
) -> Vec<String> {
    let mut out = vec!["w-message".to_owned(), "w-from".to_owned()];
    match caller.map(digits).filter(|d| !d.is_empty()) {
        Some(d) => out.extend(d),
        None => out.push("w-unknown-caller".to_owned()),
    }
    out.push("w-received".to_owned());
    out.extend(when(received, now, utc_offset_s));
    out.extend(duration(length));
    out
}

/// Joins the named prompts with 80 ms pauses; `Err(name)` for the first one missing.
pub fn render(lib: &PromptLibrary, names: &[String]) -> Result<Arc<[i16]>, String> {
    const GAP: usize = 640;
    let mut out: Vec<i16> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let p = lib.get(name).ok_or_else(|| name.clone())?;
        if i > 0 {
            out.resize(out.len() + GAP, 0);
        }
        out.extend_from_slice(&p);
    }
    Ok(Arc::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn numbers() {
        assert_eq!(number(0), s(&["n-0"]));
        assert_eq!(number(7), s(&["n-7"]));
        assert_eq!(number(13), s(&["n-13"]));
        assert_eq!(number(40), s(&["n-40"]));
        assert_eq!(number(42), s(&["n-40", "n-2"]));
        assert_eq!(number(100), s(&["n-1", "n-hundred"]));
        assert_eq!(
            number(1234),
            s(&["n-1", "n-thousand", "n-2", "n-hundred", "n-30", "n-4"])
        );
        assert_eq!(number(2_000_017), s(&["n-2", "n-million", "n-17"]));
        assert_eq!(number(20_000), s(&["n-20", "n-thousand"]));
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration(Duration::from_millis(23_400)),
            s(&["n-20", "n-3", "w-seconds"])
        );
        assert_eq!(
            duration(Duration::from_secs(125)),
            s(&["n-2", "w-minutes", "n-5", "w-seconds"])
        );
        assert_eq!(duration(Duration::from_secs(60)), s(&["n-1", "w-minute"]));
        assert_eq!(
            duration(Duration::from_millis(900)),
            s(&["n-1", "w-second"])
        );
        assert_eq!(duration(Duration::ZERO), s(&["n-0", "w-seconds"]));
    }

    #[test]
    fn times() {
        assert_eq!(time_of_day(16, 5), s(&["n-4", "t-oh", "n-5", "t-pm"]));
        assert_eq!(time_of_day(9, 0), s(&["n-9", "t-oclock", "t-am"]));
        assert_eq!(time_of_day(0, 30), s(&["n-12", "n-30", "t-am"]));
        assert_eq!(time_of_day(12, 45), s(&["n-12", "n-40", "n-5", "t-pm"]));
    }

    #[test]
    fn civil_dates() {
        // 2026-11-27 14:30:00 UTC is a Friday.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_789_800);
        let c = civil(t, 0);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2026, 11, 27, 14, 30)
        );
        assert_eq!(c.weekday, 4);
        // A leap day and the epoch.
        let c = civil(UNIX_EPOCH + Duration::from_secs(951_782_400), 0);
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
        assert_eq!(civil(UNIX_EPOCH, 0).weekday, 3);
        // An offset moves the day.
        let c = civil(t, 10 * 3600);
        assert_eq!((c.day, c.hour), (28, 0));
    }

    #[test]
    fn relative_days_and_envelope() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_789_800); // Fri 14:30
        let h = |x: u64| now - Duration::from_secs(x * 3600);
        assert_eq!(when(h(1), now, 0)[0], "w-today");
        assert_eq!(when(h(20), now, 0)[0], "w-yesterday");
        assert_eq!(when(h(72), now, 0)[0], "day-tuesday");
        assert_eq!(
            when(h(24 * 30), now, 0)[..2],
            s(&["month-october", "ord-28"])
        );
        let e = envelope(
            Some("+1 (425) 555-0199"),
            h(1),
            Duration::from_secs(5),
            now,
            0,
        );
        assert_eq!(
            e,
            s(&[
                "w-message",
                "w-from",
                "digit-1",
                "digit-4",
                "digit-2",
                "digit-5",
                "digit-5",
                "digit-5",
                "digit-5",
                "digit-0",
                "digit-1",
                "digit-9",
                "digit-9",
                "w-received",
                "w-today",
                "w-at",
                "n-1",
                "n-30",
                "t-pm",
                "n-5",
                "w-seconds"
            ])
        );
        assert_eq!(
            envelope(None, h(1), Duration::ZERO, now, 0)[2],
            "w-unknown-caller"
        );
    }

    #[test]
    fn every_name_used_is_shipped() {
        // The shipped prompts: what the gateway embeds (`gateway::assets`).
        let audio = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("audio");
        let lib = crate::media::prompts::PromptLibrary::load_dir(&audio).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_795_789_800);
        for n in [0u64, 5, 11, 19, 20, 99, 100, 999, 1000, 123_456, 7_654_321] {
            render(&lib, &number(n)).unwrap();
        }
        for days in 0..40u64 {
            for hour in [0u64, 1, 11, 12, 13, 23] {
                let t = now - Duration::from_secs(days * 86_400 + hour * 3600 + 7 * 60);
                render(
                    &lib,
                    &envelope(Some("1002"), t, Duration::from_secs(days * 7), now, 0),
                )
                .unwrap();
            }
        }
        let a = render(&lib, &s(&["n-1", "n-2"])).unwrap();
        assert_eq!(
            a.len(),
            lib.get("n-1").unwrap().len() + 640 + lib.get("n-2").unwrap().len()
        );
        assert_eq!(render(&lib, &s(&["nope"])).unwrap_err(), "nope");
    }
}
