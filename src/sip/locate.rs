//! Locating SIP servers for requests we originate (MWI NOTIFY, transfers): RFC 3263 §4.
//!
//! The selection rules are pure functions over the DNS answers (tested without DNS); the
//! [`Locator`] asks hickory-resolver for NAPTR, SRV and A/AAAA records, after consulting the
//! static routes from the config, which win over DNS.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rand::Rng;

use super::Uri;
use crate::config::StaticRoute;

/// Transport of a located target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
    Tls,
}

impl TransportKind {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Some(Self::Udp),
            "tcp" => Some(Self::Tcp),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Tls => 5061,
            _ => 5060,
        }
    }
}

/// One place to try, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub transport: TransportKind,
}

/// Why a target could not be located.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{0:?} is not a sip: or sips: URI")]
    NotSipUri(String),
    #[error("{uri}: no DNS records ({why})")]
    NotFound { uri: String, why: String },
    #[error("DNS resolver unavailable: {0}")]
    Resolver(String),
}

/// What the URI itself says (RFC 3263 §4.1, §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTarget {
    pub host: String,
    pub port: Option<u16>,
    /// From `;transport=`, or TLS for `sips:`.
    pub transport: Option<TransportKind>,
    pub secure: bool,
}

/// The host, port, transport and scheme of a SIP URI.
pub fn uri_target(uri: &str) -> Result<UriTarget, LocateError> {
    let not_sip = || LocateError::NotSipUri(uri.to_owned());
    let parsed: Uri = uri.parse().map_err(|_| not_sip())?;
    let host = parsed.host().ok_or_else(not_sip)?;
    let secure = parsed.is_sips();
    let transport = parsed
        .transport()
        .and_then(|t| TransportKind::parse(&t))
        .or(secure.then_some(TransportKind::Tls));
    Ok(UriTarget {
        host: host.unbracketed(),
        port: parsed.port(),
        transport,
        secure,
    })
}

/// A NAPTR record as far as RFC 3263 uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

/// NAPTR records we can use, best first: (transport, SRV name). RFC 3263 §4.1: order, then
/// preference; only "s" flag records with SIP+D2U / SIP+D2T / SIPS+D2T; SIPS only when secure.
pub fn order_naptr(records: &[Naptr], secure: bool) -> Vec<(TransportKind, String)> {
    let mut usable: Vec<&Naptr> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .collect();
    usable.sort_by_key(|r| (r.order, r.preference));
    usable
        .into_iter()
        .filter_map(|r| {
            let t = match r.services.to_ascii_uppercase().as_str() {
                "SIP+D2U" if !secure => TransportKind::Udp,
                "SIP+D2T" if !secure => TransportKind::Tcp,
                "SIPS+D2T" => TransportKind::Tls,
                _ => return None,
            };
            Some((t, r.replacement.trim_end_matches('.').to_owned()))
        })
        .collect()
}

/// An SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// RFC 2782 ordering: ascending priority; within a priority, weighted random order.
pub fn order_srv(records: &[Srv], rng: &mut impl Rng) -> Vec<(String, u16)> {
    let mut by_priority: Vec<&Srv> = records.iter().filter(|r| r.target != ".").collect();
    by_priority.sort_by_key(|r| r.priority);
    let mut out = Vec::new();
    let mut i = 0;
    while i < by_priority.len() {
        let prio = by_priority[i].priority;
        let mut group: Vec<&Srv> = by_priority[i..]
            .iter()
            .take_while(|r| r.priority == prio)
            .copied()
            .collect();
        i += group.len();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                let mut roll = rng.gen_range(0..=total);
                group
                    .iter()
                    .position(|r| {
                        let w = u32::from(r.weight);
                        if roll <= w {
                            true
                        } else {
                            roll -= w;
                            false
                        }
                    })
                    .unwrap_or(group.len() - 1)
            };
            let r = group.remove(pick);
            out.push((r.target.trim_end_matches('.').to_owned(), r.port));
        }
    }
    out
}

/// Resolves SIP URIs to targets: static routes first, then RFC 3263 over DNS.
pub struct Locator {
    routes: Vec<StaticRoute>,
    dns: Option<TokioResolver>,
}

impl Locator {
    /// A locator with the system's DNS configuration (`/etc/resolv.conf`).
    pub fn new(routes: Vec<StaticRoute>) -> Self {
        let dns = TokioResolver::builder_tokio().ok().map(|b| b.build());
        Self { routes, dns }
    }

    /// Targets to try for `uri`, best first.
    pub async fn locate(&self, uri: &str) -> Result<Vec<Target>, LocateError> {
        let t = uri_target(uri)?;
        if let Some(route) = self
            .routes
            .iter()
            .find(|r| r.domain.eq_ignore_ascii_case(&t.host))
        {
            let transport = TransportKind::parse(&route.transport).unwrap_or(TransportKind::Udp);
            return Ok(vec![Target {
                addr: route.address,
                transport,
            }]);
        }
        // §4.1/4.2: a numeric host or an explicit port means no NAPTR/SRV.
        if let Ok(ip) = t.host.parse::<IpAddr>() {
            let transport = t.transport.unwrap_or(TransportKind::Udp);
            let port = t.port.unwrap_or(transport.default_port());
            return Ok(vec![Target {
                addr: SocketAddr::new(ip, port),
                transport,
            }]);
        }
        let dns = self
            .dns
            .as_ref()
            .ok_or_else(|| LocateError::Resolver("no resolver configuration".into()))?;
        if let Some(port) = t.port {
            let transport = t.transport.unwrap_or(TransportKind::Udp);
            return self
                .address_targets(dns, &t.host, port, transport, uri)
                .await;
        }
        let mut srv_names: Vec<(TransportKind, String)> = Vec::new();
        if t.transport.is_none() {
            if let Ok(answer) = dns.lookup(t.host.as_str(), RecordType::NAPTR).await {
                let records: Vec<Naptr> = answer
                    .iter()
                    .filter_map(|r| match r {
                        RData::NAPTR(n) => Some(Naptr {
                            order: n.order(),
                            preference: n.preference(),
                            flags: String::from_utf8_lossy(n.flags()).into_owned(),
                            services: String::from_utf8_lossy(n.services()).into_owned(),
                            replacement: n.replacement().to_string(),
                        }),
                        _ => None,
                    })
                    .collect();
                srv_names = order_naptr(&records, t.secure);
            }
        }
        if srv_names.is_empty() {
            let candidates: &[(TransportKind, &str)] = match (t.transport, t.secure) {
                (_, true) | (Some(TransportKind::Tls), _) => &[(TransportKind::Tls, "_sips._tcp")],
                (Some(TransportKind::Tcp), _) => &[(TransportKind::Tcp, "_sip._tcp")],
                (Some(TransportKind::Udp), _) => &[(TransportKind::Udp, "_sip._udp")],
                (None, false) => &[
                    (TransportKind::Udp, "_sip._udp"),
                    (TransportKind::Tcp, "_sip._tcp"),
                    (TransportKind::Tls, "_sips._tcp"),
                ],
            };
            srv_names = candidates
                .iter()
                .map(|(tr, prefix)| (*tr, format!("{prefix}.{}", t.host)))
                .collect();
        }
        let mut targets = Vec::new();
        for (transport, name) in srv_names {
            let Ok(answer) = dns.srv_lookup(name.as_str()).await else {
                continue;
            };
            let records: Vec<Srv> = answer
                .iter()
                .map(|s| Srv {
                    priority: s.priority(),
                    weight: s.weight(),
                    port: s.port(),
                    target: s.target().to_string(),
                })
                .collect();
            let ordered = order_srv(&records, &mut rand::thread_rng());
            for (host, port) in ordered {
                if let Ok(mut found) = self.address_targets(dns, &host, port, transport, uri).await
                {
                    targets.append(&mut found);
                }
            }
            if !targets.is_empty() {
                return Ok(targets);
            }
        }
        // §4.2: no SRV records: the host's addresses on the default port.
        let transport = t.transport.unwrap_or(if t.secure {
            TransportKind::Tls
        } else {
            TransportKind::Udp
        });
        self.address_targets(dns, &t.host, transport.default_port(), transport, uri)
            .await
    }

    async fn address_targets(
        &self,
        dns: &TokioResolver,
        host: &str,
        port: u16,
        transport: TransportKind,
        uri: &str,
    ) -> Result<Vec<Target>, LocateError> {
        let ips = dns
            .lookup_ip(host)
            .await
            .map_err(|e| LocateError::NotFound {
                uri: uri.to_owned(),
                why: e.to_string(),
            })?;
        Ok(ips
            .iter()
            .map(|ip| Target {
                addr: SocketAddr::new(ip, port),
                transport,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

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
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
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
}
