//! Small value parsers for plan keys: durations with units, IP/CIDR, host
//! names and language tags. Pure functions; the messages are the tail of a
//! diagnostic (the caller names the key).

use std::net::IpAddr;
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

/// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n` into the network
/// address (host bits must be zero, so a typo such as `10.0.0.1/8` is caught)
/// and prefix length.
pub(crate) fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            format!("\"{s}\" is not an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/24)")
        })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("\"{s}\": prefix length must be 0 to {max}")),
        },
    };
    if mask(ip, len) != ip {
        return Err(format!(
            "\"{s}\" has host bits set; the network is {}/{len}",
            mask(ip, len)
        ));
    }
    Ok((ip, len))
}

/// `ip` with all but the first `len` bits cleared.
fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (dual-stack sockets report those).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    canonical(a).is_ipv4() == canonical(b).is_ipv4()
}

/// True if `ip` is in `net/len`; families must match (after unmapping).
pub(crate) fn cidr_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    let ip = canonical(ip);
    same_family(net, ip) && mask(ip, len) == mask(net, len)
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
    fn cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_cidr("10.0.0.5").unwrap(), (ip("10.0.0.5"), 32));
        assert_eq!(parse_cidr("10.1.0.0/16").unwrap(), (ip("10.1.0.0"), 16));
        assert_eq!(parse_cidr("2001:db8::/32").unwrap(), (ip("2001:db8::"), 32));
        assert_eq!(parse_cidr("[::1]").unwrap(), (ip("::1"), 128));
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap(), (ip("0.0.0.0"), 0));
        assert_eq!(
            parse_cidr("10.0.0.1/8").unwrap_err(),
            "\"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8"
        );
        assert_eq!(
            parse_cidr("10.0.0.0/33").unwrap_err(),
            "\"10.0.0.0/33\": prefix length must be 0 to 32"
        );
        assert!(parse_cidr("lync.contoso.com").is_err());
        assert!(parse_cidr("10.0.0/8").is_err());

        assert!(cidr_contains(ip("10.1.0.0"), 16, ip("10.1.255.7")));
        assert!(!cidr_contains(ip("10.1.0.0"), 16, ip("10.2.0.1")));
        assert!(cidr_contains(ip("127.0.0.1"), 32, ip("::ffff:127.0.0.1")));
        assert!(!cidr_contains(ip("127.0.0.1"), 32, ip("127.0.0.2")));
        assert!(cidr_contains(ip("0.0.0.0"), 0, ip("192.0.2.1")));
        assert!(!cidr_contains(ip("0.0.0.0"), 0, ip("2001:db8::1")));
        assert!(cidr_contains(ip("2001:db8::"), 32, ip("2001:db8:ffff::1")));
        assert!(!cidr_contains(ip("2001:db8::"), 33, ip("2001:db8:8000::1")));
        assert!(!cidr_contains(ip("::1"), 128, ip("127.0.0.1")));
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
            let _ = parse_cidr(&s);
        }

        #[test]
        fn v4_contains_matches_prefix(a: u32, b: u32, len in 0u8..=32) {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let net = IpAddr::V4((a & m).into());
            let inside = (a & m) == (b & m);
            proptest::prop_assert_eq!(cidr_contains(net, len, IpAddr::V4(b.into())), inside);
        }
    }
}
