//! The Via header: the parts the transaction layer needs, and the RFC 3581 / RFC 3261 §18.2.1
//! stamp a server adds before answering.

use std::net::{IpAddr, SocketAddr};

use super::names::is_token_char;
use super::{split_header_list, Message};

/// The parts of a Via header value the transaction layer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub sent_by: String,
    pub branch: Option<String>,
}

impl Message {
    /// The topmost Via (first value of the first Via header).
    pub fn top_via(&self) -> Option<Via> {
        let v = self.header("Via")?;
        let first = split_header_list(v).into_iter().next()?;
        parse_via(first)
    }

    /// Records where a request came from in its top Via, as a server does before it answers
    /// (RFC 3261 §18.2.1, RFC 3581 §4): `received=<source IP>` when the sent-by host is not
    /// that address or when the Via asks for `rport`, and `rport=<source port>` for an `rport`
    /// without a value. Responses copy the Via, so every one of them carries it. A Via that
    /// needs neither, or does not parse, is left as it is.
    pub fn stamp_top_via(&mut self, source: SocketAddr) {
        let Some((_, value)) = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("Via"))
        else {
            return;
        };
        let Some(first) = split_header_list(value).into_iter().next() else {
            return;
        };
        // The first value is the start of the (trimmed) header value.
        let start = value.len() - value.trim_start().len();
        let end = start + first.len();
        if let Some(stamped) = stamp_via(first, source) {
            value.replace_range(start..end, &stamped);
        }
    }
}

pub(super) fn parse_via(v: &str) -> Option<Via> {
    // LWS may surround each `/` (RFC 4475 wsinv: `SIP  /   2.0 /UDP`).
    let (name, rest) = v.split_once('/')?;
    let (version, rest) = rest.split_once('/')?;
    let (transport, rest) = rest.trim_start().split_once(char::is_whitespace)?;
    if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
        return None;
    }
    if transport.is_empty() || !transport.bytes().all(is_token_char) {
        return None;
    }
    let mut params = rest.split(';');
    let sent_by = params.next()?.trim().to_owned();
    let branch = params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("branch")
            .then(|| v.trim().to_owned())
    });
    Some(Via {
        transport: transport.to_ascii_uppercase(),
        sent_by,
        branch,
    })
}

/// One Via value with `received`/`rport` filled in for a request from `source`, or `None`
/// when nothing needs adding (see [`Message::stamp_top_via`]).
fn stamp_via(via: &str, source: SocketAddr) -> Option<String> {
    let sent_by = parse_via(via)?.sent_by;
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; the peer knows itself as a.b.c.d.
    let ip = source.ip().to_canonical();
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None if sent_by.matches(':').count() == 1 => sent_by.split(':').next().unwrap_or(""),
        None => sent_by.as_str(),
    };
    let same_host = host.parse::<IpAddr>().is_ok_and(|h| h.to_canonical() == ip);
    let mut params = via.split(';');
    let mut out = params.next()?.trim_end().to_owned();
    let mut rport = false;
    for p in params {
        let name = p.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("rport") && !p.contains('=') {
            rport = true;
            out.push_str(&format!(";rport={}", source.port()));
        } else if name.eq_ignore_ascii_case("received") {
            // Ours replaces whatever the sender put there.
        } else {
            out.push(';');
            out.push_str(p);
        }
    }
    if same_host && !rport {
        return None;
    }
    out.push_str(&format!(";received={ip}"));
    Some(out)
}
