//! US English: the base language (`audio/*.wav`). 12-hour clock, "March third", "twenty one".

use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;

#[cfg(test)]
use super::render;
use super::{calendar, digits, Speaker, MONTHS, WEEKDAYS};
#[cfg(test)]
use jiff::Timestamp;
#[cfg(test)]
use std::time::UNIX_EPOCH;

/// The US English speaker.
#[derive(Debug, Clone, Copy)]
pub struct EnUs;

impl Speaker for EnUs {
    fn number(&self, n: u64) -> Vec<String> {
        number(n)
    }

    fn counts(&self, new: u32, saved: u32) -> Vec<String> {
        counts(new, saved)
    }

    fn duration(&self, d: Duration) -> Vec<String> {
        duration(d)
    }

    fn when(&self, t: SystemTime, now: SystemTime, zone: &TimeZone) -> Vec<String> {
        when(t, now, zone)
    }

    fn own_words(&self) -> &'static [&'static str] {
        &[]
    }
}

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

/// When, relative to `now`, as the user in `zone` lives it: today / yesterday / a weekday
/// within the last week / "March third"; then "at" and the time. Days are the zone's calendar
/// days, so "yesterday" is the local date before today's, whatever summer time did overnight.
pub fn when(t: SystemTime, now: SystemTime, zone: &TimeZone) -> Vec<String> {
    let (c, days_ago) = calendar(t, now, zone);
    let mut out = Vec::new();
    match days_ago {
        0 => out.push("w-today".to_owned()),
        1 => out.push("w-yesterday".to_owned()),
        2..=6 => out.push(format!(
            "day-{}",
            WEEKDAYS[c.weekday().to_monday_zero_offset() as usize]
        )),
        _ => {
            out.push(format!("month-{}", MONTHS[(c.month() - 1) as usize]));
            out.push(format!("ord-{}", c.day()));
        }
    }
    out.push("w-at".to_owned());
    out.extend(time_of_day(c.hour() as u32, c.minute() as u32));
    out
}

/// "You have 2 new messages and 1 saved message."
pub fn counts(new: u32, saved: u32) -> Vec<String> {
    let word = |n: u32| if n == 1 { "w-message" } else { "w-messages" };
    let mut names = vec!["w-you-have".to_owned()];
    names.extend(number(u64::from(new)));
    names.extend(["w-new".to_owned(), word(new).to_owned(), "w-and".to_owned()]);
    names.extend(number(u64::from(saved)));
    names.extend(["w-saved".to_owned(), word(saved).to_owned()]);
    names
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

    /// An instant written as RFC 3339 (`2026-03-08T09:59:00Z`).
    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::try_from(rfc3339.parse::<Timestamp>().unwrap()).unwrap()
    }

    /// What [`when`] says: the day words, "at", the time words.
    fn told(day: &[&str], time: &[&str]) -> Vec<String> {
        let mut v = s(day);
        v.push("w-at".into());
        v.extend(s(time));
        v
    }

    fn los_angeles() -> TimeZone {
        crate::dialplan::schedule::parse_time_zone("America/Los_Angeles").unwrap()
    }

    #[test]
    fn dates_weekdays_and_leap_days() {
        // Friday 2026-11-27 14:30 UTC.
        let now = at("2026-11-27T14:30:00Z");
        let utc = TimeZone::UTC;
        assert_eq!(
            when(at("2026-11-24T09:00:00Z"), now, &utc),
            s(&["day-tuesday", "w-at", "n-9", "t-oclock", "t-am"])
        );
        assert_eq!(when(at("2026-11-22T23:59:00Z"), now, &utc)[0], "day-sunday");
        assert_eq!(
            when(at("2000-02-29T12:00:00Z"), now, &utc)[..2],
            s(&["month-february", "ord-29"])
        );
        assert_eq!(
            when(UNIX_EPOCH, now, &utc)[..2],
            s(&["month-january", "ord-1"])
        );
        // A zone moves the day: at 14:30 UTC it is Saturday 01:30 in Sydney (AEDT, UTC+11),
        // so a message of Friday 12:30 UTC (23:30 there) came yesterday, not today.
        let sydney = crate::dialplan::schedule::parse_time_zone("Australia/Sydney").unwrap();
        let friday = at("2026-11-27T12:30:00Z");
        assert_eq!(when(friday, now, &utc)[0], "w-today");
        assert_eq!(
            when(friday, now, &sydney),
            s(&["w-yesterday", "w-at", "n-11", "n-30", "t-pm"])
        );
        // A corrupt received time far beyond jiff's range is told, not a panic.
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
        assert_eq!(when(far, now, &utc)[0], "month-december");
    }

    #[test]
    fn relative_days_and_envelope() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_789_800); // Fri 14:30 UTC
        let h = |x: u64| now - Duration::from_secs(x * 3600);
        let utc = TimeZone::UTC;
        assert_eq!(when(h(1), now, &utc)[0], "w-today");
        assert_eq!(when(h(20), now, &utc)[0], "w-yesterday");
        assert_eq!(when(h(72), now, &utc)[0], "day-tuesday");
        assert_eq!(
            when(h(24 * 30), now, &utc)[..2],
            s(&["month-october", "ord-28"])
        );
        let e = EnUs.envelope(
            Some("+1 (425) 555-0199"),
            h(1),
            Duration::from_secs(5),
            now,
            &utc,
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
            EnUs.envelope(None, h(1), Duration::ZERO, now, &utc)[2],
            "w-unknown-caller"
        );
        // The same message in Seattle (PST, UTC-8): 05:30 in the morning, the same Friday.
        let e = EnUs.envelope(None, h(1), Duration::ZERO, now, &los_angeles());
        assert_eq!(
            e[3..9],
            s(&["w-received", "w-today", "w-at", "n-5", "n-30", "t-am"])
        );
    }

    /// Spring forward in Seattle: Sunday 2026-03-08, 02:00 PST (10:00 UTC) becomes 03:00 PDT.
    #[test]
    fn spring_forward_in_los_angeles() {
        let la = los_angeles();
        let before = at("2026-03-08T09:59:00Z"); // 01:59 PST
        let after = at("2026-03-08T10:01:00Z"); // 03:01 PDT (02:01 does not exist)
        let at_1_59 = ["n-1", "n-50", "n-9", "t-am"];
        let at_3_01 = ["n-3", "t-oh", "n-1", "t-am"];
        let said = |t, now| when(t, now, &la);
        // "Now" just before the change: only the first message exists.
        assert_eq!(
            said(before, at("2026-03-08T09:59:30Z")),
            told(&["w-today"], &at_1_59)
        );
        // "Now" after it, the same local day.
        let now = at("2026-03-08T10:30:00Z"); // 03:30 PDT
        assert_eq!(said(before, now), told(&["w-today"], &at_1_59));
        assert_eq!(said(after, now), told(&["w-today"], &at_3_01));
        // Monday 00:30 PDT (07:30 UTC): yesterday for both. A fixed PST offset would still
        // call it Sunday 23:30 and say "today".
        let monday = at("2026-03-09T07:30:00Z");
        assert_eq!(said(before, monday), told(&["w-yesterday"], &at_1_59));
        assert_eq!(said(after, monday), told(&["w-yesterday"], &at_3_01));
        // Sunday had 23 hours: a message exactly 24 hours before Monday 00:30 PDT was left
        // on Saturday at 23:30 PST, two calendar days ago, so it is "Saturday", not "yesterday".
        assert_eq!(
            said(at("2026-03-08T07:30:00Z"), monday),
            told(&["day-saturday"], &["n-11", "n-30", "t-pm"])
        );
        // A week on, the date: March eighth.
        assert_eq!(
            said(after, at("2026-03-16T18:00:00Z")),
            told(&["month-march", "ord-8"], &at_3_01)
        );
    }

    /// Fall back in Seattle: Sunday 2026-11-01, 02:00 PDT (09:00 UTC) becomes 01:00 PST; the
    /// hour from 1 to 2 AM happens twice.
    #[test]
    fn fall_back_in_los_angeles() {
        let la = los_angeles();
        let before = at("2026-11-01T08:59:00Z"); // 01:59 PDT
        let after = at("2026-11-01T09:01:00Z"); // 01:01 PST, the second 1 AM
        let at_1_59 = ["n-1", "n-50", "n-9", "t-am"];
        let at_1_01 = ["n-1", "t-oh", "n-1", "t-am"];
        let said = |t, now| when(t, now, &la);
        assert_eq!(
            said(before, at("2026-11-01T08:59:30Z")),
            told(&["w-today"], &at_1_59)
        );
        let now = at("2026-11-01T09:30:00Z"); // 01:30 PST
        assert_eq!(said(before, now), told(&["w-today"], &at_1_59));
        assert_eq!(said(after, now), told(&["w-today"], &at_1_01));
        // 07:30 UTC on Monday is still Sunday 23:30 PST: today. The offset before the change
        // (PDT) would make it Monday 00:30 and say "yesterday".
        let sunday_night = at("2026-11-02T07:30:00Z");
        assert_eq!(said(before, sunday_night), told(&["w-today"], &at_1_59));
        assert_eq!(said(after, sunday_night), told(&["w-today"], &at_1_01));
        // An hour later it is Monday 00:30 PST: yesterday.
        let monday = at("2026-11-02T08:30:00Z");
        assert_eq!(said(before, monday), told(&["w-yesterday"], &at_1_59));
        assert_eq!(said(after, monday), told(&["w-yesterday"], &at_1_01));
        // Sunday had 25 hours: Saturday 00:30 PDT is 48 h 15 min before Sunday 23:45 PST, yet
        // only one calendar day: "yesterday", not "Saturday".
        assert_eq!(
            said(at("2026-10-31T07:30:00Z"), at("2026-11-02T07:45:00Z")),
            told(&["w-yesterday"], &["n-12", "n-30", "t-am"])
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
                    &EnUs.envelope(
                        Some("1002"),
                        t,
                        Duration::from_secs(days * 7),
                        now,
                        &TimeZone::UTC,
                    ),
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
