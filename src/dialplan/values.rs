//! Small value parsers for plan keys: durations with units, host names and
//! language tags (peer networks: `crate::acl`). Pure functions; the messages are the tail of a
//! diagnostic (the caller names the key).

use std::time::Duration;

/// Parses `"20m"`, `"90s"`, `"1h"`, `"500ms"`, `"1h30m"`, `"1m 30s"`.
/// Whole numbers only, each followed by a unit (`ms`, `s`, `m`/`min`, `h`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("\"{s}\" is not a duration: write a whole number and a unit (ms, s, m, h), e.g. \"20m\" or \"90s\"")
    };
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ms" => Duration::from_millis(1),
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let part = u32::try_from(n)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = rest[u_end..].trim_start();
    }
    Ok(total)
}

/// A DNS host name: dot-separated labels of letters, digits and inner `-`.
pub(crate) fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A BCP 47 tag as Exchange uses them: `en-US`, `fr-CA`, `zh-Hans-CN`.
pub(crate) fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).unwrap();
        assert_eq!(d("20m"), Duration::from_secs(1200));
        assert_eq!(d("90s"), Duration::from_secs(90));
        assert_eq!(d("1h"), Duration::from_secs(3600));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d(" 1m 30s "), Duration::from_secs(90));
        assert_eq!(d("2min"), Duration::from_secs(120));
        for bad in [
            "",
            "20",
            "m",
            "1.5m",
            "20 minutes",
            "-1s",
            "5d",
            "99999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_duration("20").unwrap_err(),
            "\"20\" is not a duration: write a whole number and a unit (ms, s, m, h), e.g. \"20m\" or \"90s\""
        );
    }

    #[test]
    fn names() {
        assert!(is_host_name("lync-pool1.contoso.com"));
        assert!(!is_host_name("*.contoso.com"));
        assert!(!is_host_name("a..b"));
        assert!(!is_host_name("-a.b"));
        assert!(is_language_tag("en-US"));
        assert!(is_language_tag("zh-Hans-CN"));
        assert!(!is_language_tag("english"));
        assert!(!is_language_tag("en_US"));
    }

    proptest::proptest! {
        #[test]
        fn never_panic(s in "\\PC*") {
            let _ = parse_duration(&s);
        }
    }
}
