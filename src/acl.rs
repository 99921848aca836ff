//! The one parser and matcher for the peer ACL: `peers.trusted` in the config and the dial
//! plans' `[[Peer]] Address` are read here, into `ipnet` networks, so both accept and refuse the
//! same text. A network written with host bits set (`10.0.0.1/8`) is an error, not a silent
//! `10.0.0.0/8`: the operator meant either one host or the network, and we cannot tell which.

use std::net::IpAddr;

pub use ipnet::IpNet;

/// Why a string is not a usable network. The text is the tail of a diagnostic: the caller
/// names the key (`peers.trusted: ...`, `Peer Address ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// Neither an IP address nor `address/prefix`.
    #[error("{0:?} is not an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/24)")]
    NotAnAddress(String),
    /// The prefix length is not a number within the address family's bits.
    #[error("{value:?}: prefix length must be 0 to {max}")]
    PrefixLength {
        /// The text as written.
        value: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// Bits below the prefix are set.
    #[error("{value:?} has host bits set; the network is {network}")]
    HostBits {
        /// The text as written.
        value: String,
        /// What the prefix covers.
        network: IpNet,
    },
}

/// Parses `10.0.0.5`, `10.0.0.0/24`, `::1`, `[::1]` or `2001:db8::/32`; a single address is a
/// /32 or /128 network.
pub fn parse_network(s: &str) -> Result<IpNet, NetworkError> {
    let text = s.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr = addr.strip_prefix('[').unwrap_or(addr);
    let addr = addr.strip_suffix(']').unwrap_or(addr);
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| NetworkError::NotAnAddress(s.to_owned()))?;
    let Some(prefix) = prefix else {
        return Ok(IpNet::from(addr));
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bad_prefix = || NetworkError::PrefixLength {
        value: s.to_owned(),
        max,
    };
    // Digits only: `u8::from_str` would take `+8`.
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_prefix());
    }
    let len: u8 = prefix.parse().map_err(|_| bad_prefix())?;
    let net = IpNet::new(addr, len).map_err(|_| bad_prefix())?;
    if net.trunc() != net {
        return Err(NetworkError::HostBits {
            value: s.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// Whether `ip` is inside `net`. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
/// dual-stack socket reports for an IPv4 peer) counts as IPv4.
pub fn contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip.to_canonical())
}

/// Whether `ip` is inside any of `nets`.
pub fn any_contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|net| contains(net, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        parse_network(s).unwrap()
    }

    #[test]
    fn addresses_and_networks() {
        assert_eq!(net("10.0.0.5").to_string(), "10.0.0.5/32");
        assert_eq!(net(" 10.1.0.0/16 ").to_string(), "10.1.0.0/16");
        assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("[::1]").to_string(), "::1/128");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn refusals_name_the_value() {
        let err = |s: &str| parse_network(s).unwrap_err().to_string();
        assert_eq!(
            err("10.0.0.1/8"),
            "\"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8"
        );
        assert_eq!(
            err("2001:db8::1/32"),
            "\"2001:db8::1/32\" has host bits set; the network is 2001:db8::/32"
        );
        assert_eq!(
            err("10.0.0.0/33"),
            "\"10.0.0.0/33\": prefix length must be 0 to 32"
        );
        assert_eq!(
            err("10.0.0.0/+8"),
            "\"10.0.0.0/+8\": prefix length must be 0 to 32"
        );
        assert_eq!(err("::/129"), "\"::/129\": prefix length must be 0 to 128");
        assert_eq!(
            err("lync.contoso.com"),
            "\"lync.contoso.com\" is not an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/24)"
        );
        assert!(parse_network("10.0.0/8").is_err());
        assert!(parse_network("").is_err());
        assert!(parse_network("10.0.0.0/").is_err());
    }

    #[test]
    fn matching() {
        assert!(contains(&net("10.1.0.0/16"), ip("10.1.255.7")));
        assert!(!contains(&net("10.1.0.0/16"), ip("10.2.0.1")));
        assert!(contains(&net("127.0.0.1"), ip("::ffff:127.0.0.1")));
        assert!(!contains(&net("127.0.0.1"), ip("127.0.0.2")));
        assert!(contains(&net("0.0.0.0/0"), ip("192.0.2.1")));
        assert!(!contains(&net("0.0.0.0/0"), ip("2001:db8::1")));
        assert!(contains(&net("2001:db8::/32"), ip("2001:db8:ffff::1")));
        assert!(!contains(&net("2001:db8::/33"), ip("2001:db8:8000::1")));
        assert!(!contains(&net("::1"), ip("127.0.0.1")));
        assert!(any_contains(
            &[net("192.0.2.0/24"), net("10.0.0.0/8")],
            ip("10.9.9.9")
        ));
        assert!(!any_contains(&[], ip("10.9.9.9")));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_network(&s);
        }

        #[test]
        fn v4_membership_is_the_prefix(a: u32, b: u32, len in 0u8..=32) {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let net = parse_network(&format!("{}/{len}", std::net::Ipv4Addr::from(a & m))).unwrap();
            let inside = (a & m) == (b & m);
            proptest::prop_assert_eq!(contains(&net, IpAddr::V4(b.into())), inside);
        }
    }
}
