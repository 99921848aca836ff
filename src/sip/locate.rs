//! Locating SIP servers for requests we originate (MWI NOTIFY, transfers): RFC 3263 §4.
//!
//! The selection rules are pure functions over the DNS answers ([`order_naptr`], [`order_srv`]);
//! the [`Locator`] consults the static routes from the config, which win over DNS, then asks a
//! [`Resolver`] for NAPTR, SRV and A/AAAA records: [`SystemResolver`] (hickory-resolver with the
//! system's configuration) in the gateway, a table in the tests. The SRV weighted order draws
//! from a seedable RNG.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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

/// A DNS lookup that found nothing or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnsError(pub String);

/// The DNS lookups RFC 3263 needs. Names are absolute, without the trailing dot.
pub trait Resolver: Send + Sync {
    /// NAPTR records of `name` (RFC 3403).
    fn naptr(&self, name: &str) -> impl Future<Output = Result<Vec<Naptr>, DnsError>> + Send;
    /// SRV records of `name` (`_sip._udp.example.com`, RFC 2782).
    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<Srv>, DnsError>> + Send;
    /// A and AAAA records of `host`.
    fn ips(&self, host: &str) -> impl Future<Output = Result<Vec<IpAddr>, DnsError>> + Send;
}

/// hickory-resolver with the system's DNS configuration (`/etc/resolv.conf`).
pub struct SystemResolver(TokioResolver);

impl SystemResolver {
    pub fn from_system_conf() -> Result<SystemResolver, DnsError> {
        let builder = TokioResolver::builder_tokio().map_err(|e| DnsError(e.to_string()))?;
        Ok(SystemResolver(builder.build()))
    }
}

impl Resolver for SystemResolver {
    async fn naptr(&self, name: &str) -> Result<Vec<Naptr>, DnsError> {
        let answer = self
            .0
            .lookup(name, RecordType::NAPTR)
            .await
            .map_err(|e| DnsError(e.to_string()))?;
        Ok(answer
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
            .collect())
    }

    async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let answer = self
            .0
            .srv_lookup(name)
            .await
            .map_err(|e| DnsError(e.to_string()))?;
        Ok(answer
            .iter()
            .map(|s| Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_string(),
            })
            .collect())
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let answer = self
            .0
            .lookup_ip(host)
            .await
            .map_err(|e| DnsError(e.to_string()))?;
        Ok(answer.iter().collect())
    }
}

/// Resolves SIP URIs to targets: static routes first, then RFC 3263 over DNS.
pub struct Locator<R = SystemResolver> {
    routes: Vec<StaticRoute>,
    /// `None` when the system has no resolver configuration.
    dns: Option<R>,
    /// Draws the SRV weighted order.
    rng: Mutex<StdRng>,
}

impl Locator {
    /// A locator with the system's DNS configuration (`/etc/resolv.conf`).
    pub fn new(routes: Vec<StaticRoute>) -> Self {
        Self {
            routes,
            dns: SystemResolver::from_system_conf().ok(),
            rng: Mutex::new(StdRng::from_entropy()),
        }
    }
}

impl<R: Resolver> Locator<R> {
    /// A locator asking `dns`, its SRV order drawn from an RNG seeded with `rng_seed`.
    pub fn with_resolver(routes: Vec<StaticRoute>, dns: R, rng_seed: u64) -> Self {
        Self {
            routes,
            dns: Some(dns),
            rng: Mutex::new(StdRng::seed_from_u64(rng_seed)),
        }
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
            return address_targets(dns, &t.host, port, transport, uri).await;
        }
        let mut srv_names: Vec<(TransportKind, String)> = Vec::new();
        // §4.1: NAPTR unless the URI names a transport (a sips: URI's TLS is no choice made:
        // its NAPTR records are read for the SIPS services).
        if t.transport.is_none() || t.secure {
            if let Ok(records) = dns.naptr(&t.host).await {
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
            let Ok(records) = dns.srv(&name).await else {
                continue;
            };
            // The lock is not held across an await: the order is drawn at once.
            let ordered = {
                let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                order_srv(&records, &mut *rng)
            };
            for (host, port) in ordered {
                if let Ok(mut found) = address_targets(dns, &host, port, transport, uri).await {
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
        address_targets(dns, &t.host, transport.default_port(), transport, uri).await
    }
}

/// Every address of `host` on `port`.
async fn address_targets(
    dns: &impl Resolver,
    host: &str,
    port: u16,
    transport: TransportKind,
    uri: &str,
) -> Result<Vec<Target>, LocateError> {
    let not_found = |why: String| LocateError::NotFound {
        uri: uri.to_owned(),
        why,
    };
    let ips = dns.ips(host).await.map_err(|e| not_found(e.to_string()))?;
    if ips.is_empty() {
        return Err(not_found(format!("{host} has no addresses")));
    }
    Ok(ips
        .into_iter()
        .map(|ip| Target {
            addr: SocketAddr::new(ip, port),
            transport,
        })
        .collect())
}

#[cfg(test)]
mod test;
