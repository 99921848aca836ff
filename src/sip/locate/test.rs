//! RFC 3263 selection rules on their own, and the whole NAPTR → SRV → A path on a table of
//! DNS answers.

use super::*;
use std::collections::HashMap;

#[test]
fn uri_forms() {
    let t = uri_target("sip:mwi@127.0.0.1:5099;transport=tcp").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.transport),
        ("127.0.0.1", Some(5099), Some(TransportKind::Tcp))
    );
    let t = uri_target("sips:pool.contoso.com").unwrap();
    assert_eq!(t.transport, Some(TransportKind::Tls));
    assert!(t.secure);
    assert!(uri_target("tel:+1425").is_err());
}

#[test]
fn naptr_order_and_filter() {
    let n = |order, pref, svc: &str, repl: &str| Naptr {
        order,
        preference: pref,
        flags: "s".into(),
        services: svc.into(),
        replacement: repl.into(),
    };
    let records = vec![
        n(50, 50, "SIP+D2U", "_sip._udp.contoso.com."),
        n(10, 20, "SIP+D2T", "_sip._tcp.contoso.com."),
        n(10, 10, "SIPS+D2T", "_sips._tcp.contoso.com."),
        n(5, 5, "E2U+sip", "x."),
    ];
    assert_eq!(
        order_naptr(&records, false),
        vec![
            (TransportKind::Tls, "_sips._tcp.contoso.com".to_owned()),
            (TransportKind::Tcp, "_sip._tcp.contoso.com".to_owned()),
            (TransportKind::Udp, "_sip._udp.contoso.com".to_owned()),
        ]
    );
    // A sips: URI may only use TLS services.
    assert_eq!(order_naptr(&records, true).len(), 1);
}

#[test]
fn srv_priority_then_weight() {
    let s = |priority, weight, target: &str| Srv {
        priority,
        weight,
        port: 5060,
        target: target.into(),
    };
    let records = vec![s(20, 0, "backup."), s(10, 90, "a."), s(10, 10, "b.")];
    let mut rng = StdRng::seed_from_u64(1);
    let mut a_first = 0;
    for _ in 0..1000 {
        let order = order_srv(&records, &mut rng);
        assert_eq!(order.len(), 3);
        assert_eq!(order[2].0, "backup", "lower priority value is tried first");
        if order[0].0 == "a" {
            a_first += 1;
        }
    }
    // Weight 90 vs 10: "a" leads roughly 90% of the time.
    assert!((800..=980).contains(&a_first), "{a_first}");
    // "." means "no service".
    assert!(order_srv(&[s(1, 1, ".")], &mut rng).is_empty());
}

#[tokio::test]
async fn static_routes_and_ip_literals_skip_dns() {
    let loc = Locator::new(vec![StaticRoute {
        domain: "pool.contoso.com".into(),
        address: "127.0.0.1:5099".parse().unwrap(),
        transport: "tcp".into(),
    }]);
    assert_eq!(
        loc.locate("sip:alice@POOL.contoso.com").await.unwrap(),
        vec![Target {
            addr: "127.0.0.1:5099".parse().unwrap(),
            transport: TransportKind::Tcp
        }]
    );
    assert_eq!(
        loc.locate("sips:[::1]").await.unwrap(),
        vec![Target {
            addr: "[::1]:5061".parse().unwrap(),
            transport: TransportKind::Tls
        }]
    );
}

/// DNS answers from a table, and the questions asked, in order.
#[derive(Default)]
struct FakeDns {
    naptr: HashMap<String, Vec<Naptr>>,
    srv: HashMap<String, Vec<Srv>>,
    ips: HashMap<String, Vec<IpAddr>>,
    asked: Mutex<Vec<String>>,
}

impl FakeDns {
    fn naptr(mut self, name: &str, records: &[(u16, u16, &str, &str)]) -> Self {
        let records = records
            .iter()
            .map(|&(order, preference, services, replacement)| Naptr {
                order,
                preference,
                flags: "S".into(),
                services: services.into(),
                replacement: replacement.into(),
            })
            .collect();
        self.naptr.insert(name.into(), records);
        self
    }

    fn srv(mut self, name: &str, records: &[(u16, u16, u16, &str)]) -> Self {
        let records = records
            .iter()
            .map(|&(priority, weight, port, target)| Srv {
                priority,
                weight,
                port,
                target: target.into(),
            })
            .collect();
        self.srv.insert(name.into(), records);
        self
    }

    fn host(mut self, name: &str, ips: &[&str]) -> Self {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        self.ips.insert(name.into(), ips);
        self
    }

    fn answer<T: Clone>(
        &self,
        kind: &str,
        table: &HashMap<String, Vec<T>>,
        name: &str,
    ) -> Result<Vec<T>, DnsError> {
        self.asked.lock().unwrap().push(format!("{kind} {name}"));
        table
            .get(name)
            .cloned()
            .ok_or_else(|| DnsError(format!("{kind} {name}: NXDOMAIN")))
    }
}

impl Resolver for FakeDns {
    async fn naptr(&self, name: &str) -> Result<Vec<Naptr>, DnsError> {
        self.answer("NAPTR", &self.naptr, name)
    }

    async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        self.answer("SRV", &self.srv, name)
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        self.answer("A", &self.ips, host)
    }
}

fn target(addr: &str, transport: TransportKind) -> Target {
    Target {
        addr: addr.parse().unwrap(),
        transport,
    }
}

/// The targets for `uri`, and the questions asked to find them.
async fn locate(dns: FakeDns, uri: &str) -> (Result<Vec<Target>, String>, Vec<String>) {
    let loc = Locator::with_resolver(Vec::new(), dns, 7);
    let found = loc.locate(uri).await.map_err(|e| e.to_string());
    let asked = loc.dns.as_ref().unwrap().asked.lock().unwrap().clone();
    (found, asked)
}

/// A domain that publishes all three transports, TLS preferred.
fn contoso() -> FakeDns {
    FakeDns::default()
        .naptr(
            "contoso.com",
            &[
                (10, 10, "SIPS+D2T", "_sips._tcp.contoso.com."),
                (20, 10, "SIP+D2T", "_sip._tcp.contoso.com."),
                (30, 10, "SIP+D2U", "_sip._udp.contoso.com."),
            ],
        )
        .srv(
            "_sips._tcp.contoso.com",
            &[
                (20, 0, 5061, "backup.contoso.com."),
                (10, 0, 5061, "pool.contoso.com."),
            ],
        )
        .srv(
            "_sip._udp.contoso.com",
            &[(10, 0, 5060, "pool.contoso.com.")],
        )
        .host("pool.contoso.com", &["10.0.0.5", "2001:db8::5"])
        .host("backup.contoso.com", &["10.0.0.6"])
        .host("contoso.com", &["10.0.0.1"])
}

#[tokio::test]
async fn naptr_then_srv_then_addresses() {
    let (found, asked) = locate(contoso(), "sip:alice@contoso.com").await;
    assert_eq!(
        found.unwrap(),
        [
            target("10.0.0.5:5061", TransportKind::Tls),
            target("[2001:db8::5]:5061", TransportKind::Tls),
            target("10.0.0.6:5061", TransportKind::Tls),
        ]
    );
    assert_eq!(
        asked,
        [
            "NAPTR contoso.com",
            "SRV _sips._tcp.contoso.com",
            "A pool.contoso.com",
            "A backup.contoso.com",
        ]
    );
}

#[tokio::test]
async fn a_service_without_srv_records_falls_to_the_next_naptr() {
    // _sips._tcp and _sip._tcp have no SRV records: UDP, the third NAPTR choice, is used.
    let mut dns = contoso();
    dns.srv.remove("_sips._tcp.contoso.com");
    let (found, asked) = locate(dns, "sip:alice@contoso.com").await;
    assert_eq!(
        found.unwrap(),
        [
            target("10.0.0.5:5060", TransportKind::Udp),
            target("[2001:db8::5]:5060", TransportKind::Udp),
        ]
    );
    assert_eq!(
        asked[1..],
        [
            "SRV _sips._tcp.contoso.com",
            "SRV _sip._tcp.contoso.com",
            "SRV _sip._udp.contoso.com",
            "A pool.contoso.com",
        ]
    );
}

#[tokio::test]
async fn without_naptr_the_srv_names_are_tried_in_order_then_the_host() {
    let dns = FakeDns::default()
        .srv(
            "_sip._tcp.fabrikam.com",
            &[(0, 0, 5070, "sbc.fabrikam.com.")],
        )
        .host("sbc.fabrikam.com", &["192.0.2.10"]);
    let (found, asked) = locate(dns, "sip:bob@fabrikam.com").await;
    assert_eq!(
        found.unwrap(),
        [target("192.0.2.10:5070", TransportKind::Tcp)]
    );
    assert_eq!(
        asked,
        [
            "NAPTR fabrikam.com",
            "SRV _sip._udp.fabrikam.com",
            "SRV _sip._tcp.fabrikam.com",
            "A sbc.fabrikam.com",
        ]
    );
    // No SRV either: the host itself on the default port (RFC 3263 §4.2).
    let dns = FakeDns::default().host("fabrikam.com", &["192.0.2.1"]);
    let (found, asked) = locate(dns, "sip:bob@fabrikam.com").await;
    assert_eq!(
        found.unwrap(),
        [target("192.0.2.1:5060", TransportKind::Udp)]
    );
    assert_eq!(asked.len(), 5, "{asked:?}");
    let dns = FakeDns::default().host("fabrikam.com", &["192.0.2.1"]);
    let (found, _) = locate(dns, "sips:bob@fabrikam.com").await;
    assert_eq!(
        found.unwrap(),
        [target("192.0.2.1:5061", TransportKind::Tls)]
    );
    // Nothing at all.
    let (found, _) = locate(FakeDns::default(), "sip:bob@nowhere.example").await;
    let why = found.unwrap_err();
    assert!(why.contains("no DNS records"), "{why}");
}

#[tokio::test]
async fn sips_uses_only_tls_services() {
    // The domain offers UDP first; a sips: URI may not use it (RFC 3263 §4.1).
    let dns = FakeDns::default()
        .naptr(
            "contoso.com",
            &[
                (10, 10, "SIP+D2U", "_sip._udp.contoso.com."),
                (20, 10, "SIPS+D2T", "_sips._tcp.contoso.com."),
            ],
        )
        .srv(
            "_sip._udp.contoso.com",
            &[(10, 0, 5060, "udp.contoso.com.")],
        )
        .srv(
            "_sips._tcp.contoso.com",
            &[(10, 0, 5061, "tls.contoso.com.")],
        )
        .host("udp.contoso.com", &["10.0.0.7"])
        .host("tls.contoso.com", &["10.0.0.8"]);
    let (found, asked) = locate(dns, "sips:alice@contoso.com").await;
    assert_eq!(
        found.unwrap(),
        [target("10.0.0.8:5061", TransportKind::Tls)]
    );
    assert!(!asked.iter().any(|q| q.contains("_udp")), "{asked:?}");
    // Only UDP published: the sips: SRV name is still tried, then the host on 5061.
    let dns = FakeDns::default()
        .naptr(
            "contoso.com",
            &[(10, 10, "SIP+D2U", "_sip._udp.contoso.com.")],
        )
        .host("contoso.com", &["10.0.0.1"]);
    let (found, asked) = locate(dns, "sips:alice@contoso.com").await;
    assert_eq!(
        found.unwrap(),
        [target("10.0.0.1:5061", TransportKind::Tls)]
    );
    assert_eq!(asked[1], "SRV _sips._tcp.contoso.com");
}

#[tokio::test]
async fn a_transport_or_a_port_in_the_uri_skips_what_it_decides() {
    // transport=: no NAPTR, that transport's SRV name.
    let dns = contoso().srv(
        "_sip._tcp.contoso.com",
        &[(10, 0, 5080, "pool.contoso.com.")],
    );
    let (found, asked) = locate(dns, "sip:alice@contoso.com;transport=tcp").await;
    assert_eq!(
        found.unwrap()[0],
        target("10.0.0.5:5080", TransportKind::Tcp)
    );
    assert_eq!(asked[0], "SRV _sip._tcp.contoso.com");
    // A port: neither NAPTR nor SRV, only the addresses (RFC 3263 §4.2).
    let (found, asked) = locate(contoso(), "sip:alice@pool.contoso.com:5099").await;
    assert_eq!(
        found.unwrap()[0],
        target("10.0.0.5:5099", TransportKind::Udp)
    );
    assert_eq!(asked, ["A pool.contoso.com"]);
    // An IP literal or a static route: no DNS at all.
    let (found, asked) = locate(contoso(), "sip:mwi@10.1.2.3;transport=tcp").await;
    assert_eq!(
        found.unwrap(),
        [target("10.1.2.3:5060", TransportKind::Tcp)]
    );
    assert!(asked.is_empty());
    let route = StaticRoute {
        domain: "contoso.com".into(),
        address: "127.0.0.1:5099".parse().unwrap(),
        transport: "tls".into(),
    };
    let loc = Locator::with_resolver(vec![route], contoso(), 1);
    let found = loc.locate("sip:alice@CONTOSO.com").await.unwrap();
    assert_eq!(found, [target("127.0.0.1:5099", TransportKind::Tls)]);
    assert!(loc.dns.as_ref().unwrap().asked.lock().unwrap().is_empty());
    // Not a SIP URI.
    let (found, _) = locate(contoso(), "tel:+14255550100").await;
    assert!(found.is_err());
}

#[tokio::test]
async fn the_srv_weighted_order_follows_the_seed() {
    let dns = || {
        FakeDns::default()
            .srv(
                "_sip._udp.contoso.com",
                &[
                    (10, 50, 5060, "a.contoso.com."),
                    (10, 50, 5060, "b.contoso.com."),
                ],
            )
            .host("a.contoso.com", &["10.0.0.1"])
            .host("b.contoso.com", &["10.0.0.2"])
    };
    let orders = |seed: u64| async move {
        let loc = Locator::with_resolver(Vec::new(), dns(), seed);
        let mut out = Vec::new();
        for _ in 0..16 {
            let found = loc.locate("sip:x@contoso.com;transport=udp").await.unwrap();
            out.push(found[0].addr);
        }
        out
    };
    let first = orders(42).await;
    assert_eq!(first, orders(42).await, "the same seed, the same order");
    // Equal weights: both lead sometimes.
    assert!(first.contains(&"10.0.0.1:5060".parse().unwrap()));
    assert!(first.contains(&"10.0.0.2:5060".parse().unwrap()));
}
