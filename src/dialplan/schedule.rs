//! Business hours and holidays of an auto attendant, evaluated in the attendant's time zone.
//!
//! Written the way operators write them in a plan file:
//! `BusinessHoursSchedule = ["Mon-Fri 08:00-17:30", "Sat 09:00-12:00"]`,
//! `HolidaySchedule = ["2026-12-25 Christmas Day", "2026-12-31..2027-01-01 New Year"]`.
//! The time zone is an IANA name; the zone database is compiled in (jiff's bundled tzdb) so
//! a host without `tzdata` still knows when its office is open.

use std::time::SystemTime;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Days as written in a schedule, Monday first (jiff's `Weekday` offset order).
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One `Days HH:MM-HH:MM` range: open on the days of `days` (bit 0 = Monday) from `start`
/// to `end`, in minutes after local midnight (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRange {
    pub days: u8,
    pub start: u16,
    pub end: u16,
}

/// A holiday: closed all day from `first` to `last` inclusive (local dates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub first: Date,
    pub last: Date,
    pub name: String,
}

/// When an attendant offers its business-hours menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The zone's IANA name, its own or inherited from the plan (`UTC` by default).
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    /// `None`: no `BusinessHoursSchedule` key, open around the clock. `Some(empty)`: never open.
    pub hours: Option<Vec<OpenRange>>,
    pub holidays: Vec<Holiday>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            time_zone_name: "UTC".into(),
            time_zone: TimeZone::UTC,
            hours: None,
            holidays: Vec::new(),
        }
    }
}

/// Which menu a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    BusinessHours,
    AfterHours,
    /// A holiday of `HolidaySchedule` (the after-hours menu, with the holiday greeting).
    Holiday,
}

impl Schedule {
    /// The period `at` falls in, in the attendant's time zone.
    pub fn period(&self, at: SystemTime) -> Period {
        let Ok(ts) = Timestamp::try_from(at) else {
            return Period::BusinessHours;
        };
        let local = ts.to_zoned_datetime(self.time_zone.clone());
        let date = local.date();
        if self
            .holidays
            .iter()
            .any(|h| h.first <= date && date <= h.last)
        {
            return Period::Holiday;
        }
        let Some(hours) = &self.hours else {
            return Period::BusinessHours;
        };
        let day_bit = 1u8 << (local.weekday().to_monday_zero_offset() as u8);
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let open = hours
            .iter()
            .any(|r| r.days & day_bit != 0 && r.start <= minute && minute < r.end);
        if open {
            Period::BusinessHours
        } else {
            Period::AfterHours
        }
    }
}

/// Looks up an IANA time zone name. A Windows name, as Exchange writes them ("Pacific
/// Standard Time"), is refused with the IANA name to write instead where
/// [`WINDOWS_ZONES`] knows it: the mapping is not one-to-one (a Windows zone covers
/// regions whose rules differ, historically or now), so the operator chooses.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        let windows = WINDOWS_ZONES
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(name.trim()));
        match windows {
            Some((_, iana)) => format!(
                "TimeZone \"{name}\" is a Windows time zone name; write the IANA name, here \"{iana}\""
            ),
            None if name.ends_with(" Time") => format!(
                "TimeZone \"{name}\" looks like a Windows time zone name; write the IANA name (Area/City, e.g. \"America/Los_Angeles\" for \"Pacific Standard Time\")"
            ),
            None => format!(
                "TimeZone \"{name}\" is not a known IANA time zone name (e.g. \"America/Los_Angeles\", \"Europe/Berlin\", \"UTC\")"
            ),
        }
    })
}

/// Windows time zone names (what Exchange's `UMAutoAttendant.TimeZone` and
/// `Set-MailboxRegionalConfiguration` take) and the IANA zone CLDR's `windowsZones.xml`
/// gives for each (its "001" territory), for the hint in [`parse_time_zone`]'s error. Only
/// the common ones; any other name ending in " Time" gets a general hint.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Eastern Standard Time", "America/New_York"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("GMT Standard Time", "Europe/London"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("India Standard Time", "Asia/Kolkata"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
];

/// Parses `Mon-Fri 08:00-17:30` (days: a day, a range `Mon-Fri`, or a list `Mon,Wed,Fri`).
pub fn parse_open_range(s: &str) -> Result<OpenRange, String> {
    let (days, times) = s
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("\"{s}\" must look like \"Mon-Fri 08:00-17:30\""))?;
    let mut mask = 0u8;
    for part in days.split(',') {
        mask |= match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                // Mon-Fri, or a range that wraps over the week's end (Fri-Mon).
                let mut m = 0u8;
                let mut d = a;
                loop {
                    m |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
                m
            }
            None => 1 << day(part)?,
        };
    }
    let (start, end) = times
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("\"{s}\": hours must be HH:MM-HH:MM"))?;
    let (start, end) = (clock(start)?, clock(end)?);
    if start >= end {
        return Err(format!(
            "\"{s}\": the range ends before it starts; split a range that crosses midnight in two"
        ));
    }
    Ok(OpenRange {
        days: mask,
        start,
        end,
    })
}

/// Parses `2026-12-25`, `2026-12-24..2026-12-26`, each optionally followed by a name.
pub fn parse_holiday(s: &str) -> Result<Holiday, String> {
    let s = s.trim();
    let (dates, name) = s
        .split_once(char::is_whitespace)
        .map_or((s, ""), |(d, n)| (d, n.trim()));
    let (first, last) = dates.split_once("..").unwrap_or((dates, dates));
    let first = date(first)?;
    let last = date(last)?;
    if last < first {
        return Err(format!("holiday \"{s}\" ends before it starts"));
    }
    Ok(Holiday {
        first,
        last,
        name: name.to_owned(),
    })
}

fn day(s: &str) -> Result<u8, String> {
    let lower = s.trim().to_ascii_lowercase();
    DAYS.iter()
        // `get`, not indexing: a multi-byte character in the first three bytes is no day.
        .position(|d| lower.get(..3).is_some_and(|p| d.starts_with(p)) && is_day_word(&lower))
        .map(|i| i as u8)
        .ok_or_else(|| format!("\"{s}\" is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

/// `mon`, `monday` and the like: the full English name or its first three letters.
fn is_day_word(lower: &str) -> bool {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    lower.len() == 3 || FULL.contains(&lower)
}

fn clock(s: &str) -> Result<u16, String> {
    let bad = || format!("\"{s}\" is not a time of day HH:MM (00:00 to 24:00)");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn date(s: &str) -> Result<Date, String> {
    s.parse::<Date>()
        .map_err(|_| format!("\"{s}\" is not a date YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(rfc3339: &str) -> SystemTime {
        let ts: Timestamp = rfc3339.parse().unwrap();
        UNIX_EPOCH + Duration::from_secs(ts.as_second() as u64)
    }

    fn seattle(hours: &[&str], holidays: &[&str]) -> Schedule {
        Schedule {
            time_zone_name: "America/Los_Angeles".into(),
            time_zone: parse_time_zone("America/Los_Angeles").unwrap(),
            hours: Some(hours.iter().map(|h| parse_open_range(h).unwrap()).collect()),
            holidays: holidays.iter().map(|h| parse_holiday(h).unwrap()).collect(),
        }
    }

    #[test]
    fn business_hours_follow_the_attendant_time_zone() {
        let s = seattle(&["Mon-Fri 08:00-17:30", "Sat 09:00-12:00"], &[]);
        // Friday 2026-11-27 09:00 in Seattle is 17:00 UTC (PST, UTC-8).
        assert_eq!(s.period(at("2026-11-27T17:00:00Z")), Period::BusinessHours);
        // 07:59 local: not yet open, although it is 15:59 UTC.
        assert_eq!(s.period(at("2026-11-27T15:59:00Z")), Period::AfterHours);
        // 17:30 local is closed (the end is exclusive), 17:29 open.
        assert_eq!(s.period(at("2026-11-28T01:29:00Z")), Period::BusinessHours);
        assert_eq!(s.period(at("2026-11-28T01:30:00Z")), Period::AfterHours);
        // Saturday 10:00 local open, 12:00 closed; Sunday closed all day.
        assert_eq!(s.period(at("2026-11-28T18:00:00Z")), Period::BusinessHours);
        assert_eq!(s.period(at("2026-11-28T20:00:00Z")), Period::AfterHours);
        assert_eq!(s.period(at("2026-11-29T18:00:00Z")), Period::AfterHours);
        // Summer time (PDT, UTC-7): 15:00 UTC is 08:00 local, open; in winter it was 07:00.
        assert_eq!(s.period(at("2026-07-01T15:00:00Z")), Period::BusinessHours);
        assert_eq!(s.period(at("2026-07-01T14:59:00Z")), Period::AfterHours);
    }

    #[test]
    fn holidays_win_over_business_hours() {
        let s = seattle(
            &["Mon-Fri 08:00-17:30"],
            &[
                "2026-12-25 Christmas Day",
                "2026-12-31..2027-01-01 New Year",
            ],
        );
        // Friday 2026-12-25 10:00 local.
        assert_eq!(s.period(at("2026-12-25T18:00:00Z")), Period::Holiday);
        // 2026-12-25 23:00 UTC is still the 25th in Seattle; 2026-12-26 09:00 UTC is the 26th.
        assert_eq!(s.period(at("2026-12-26T07:00:00Z")), Period::Holiday);
        assert_eq!(s.period(at("2026-12-24T18:00:00Z")), Period::BusinessHours);
        assert_eq!(s.period(at("2027-01-01T18:00:00Z")), Period::Holiday);
        assert_eq!(s.holidays[1].name, "New Year");
    }

    #[test]
    fn no_schedule_is_always_open_and_an_empty_one_never() {
        let always = Schedule::default();
        assert_eq!(
            always.period(at("2026-11-29T03:00:00Z")),
            Period::BusinessHours
        );
        let never = seattle(&[], &[]);
        assert_eq!(never.period(at("2026-11-27T17:00:00Z")), Period::AfterHours);
    }

    #[test]
    fn ranges_parse_days_lists_and_wrapping() {
        let r = parse_open_range("Fri-Mon 00:00-24:00").unwrap();
        assert_eq!(r.days, 0b111_0001);
        assert_eq!((r.start, r.end), (0, 1440));
        assert_eq!(parse_open_range("mon,Wed 9:05-10:00").unwrap().days, 0b101);
        assert_eq!(
            parse_open_range("Sunday 10:00-11:00").unwrap().days,
            0b100_0000
        );
    }

    #[test]
    fn bad_ranges_and_holidays_say_what_is_wrong() {
        for (s, want) in [
            ("Mon-Fri", "must look like"),
            ("Mon-Frx 08:00-17:00", "\"Frx\" is not a day"),
            ("Mo 08:00-17:00", "\"Mo\" is not a day"),
            // A multi-byte character inside the first three bytes (found by cargo fuzz).
            ("mo\u{fffd}n 08:00-17:00", "is not a day"),
            ("Mon 08:00", "HH:MM-HH:MM"),
            ("Mon 25:00-26:00", "not a time of day"),
            ("Mon 08:60-09:00", "not a time of day"),
            ("Mon 22:00-02:00", "crosses midnight"),
        ] {
            let e = parse_open_range(s).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
        assert!(parse_holiday("2026-02-30")
            .unwrap_err()
            .contains("not a date"));
        assert!(parse_holiday("2026-12-26..2026-12-25")
            .unwrap_err()
            .contains("ends before"));
        assert!(parse_time_zone("Mars/Olympus")
            .unwrap_err()
            .contains("not a known IANA"));
    }

    #[test]
    fn windows_names_are_refused_with_the_iana_name() {
        assert_eq!(
            parse_time_zone("Pacific Standard Time").unwrap_err(),
            "TimeZone \"Pacific Standard Time\" is a Windows time zone name; write the IANA name, here \"America/Los_Angeles\""
        );
        assert!(parse_time_zone("w. europe standard time")
            .unwrap_err()
            .ends_with("here \"Europe/Berlin\""));
        assert!(parse_time_zone("Cape Verde Standard Time")
            .unwrap_err()
            .contains("looks like a Windows time zone name; write the IANA name (Area/City"));
        // Every hint names a zone the compiled-in database knows, by its own name, and no
        // Windows name is one of them (that would make the hint unreachable).
        for (windows, iana) in WINDOWS_ZONES {
            let zone = parse_time_zone(iana).unwrap();
            assert_eq!(zone.iana_name(), Some(*iana), "{windows}");
            assert!(TimeZone::get(windows).is_err(), "{windows}");
        }
    }
}
