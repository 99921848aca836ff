//! What the endpoint answers without keeping state: untrusted peers (403), malformed requests
//! (400/505/513), and the checks that refuse a request before any method handling (416, 420,
//! 406); plus the headers every message of ours carries (an error response's `ms-diagnostics`).

use tracing::{debug, info};

use super::{Diagnostic, Endpoint, ALLOW, SUPPORTED};
use crate::sip::headers::{quoted_string, MsDiagnostics, MS_DIAGNOSTICS};
use crate::sip::message::{Message, Method, ParseError};
use crate::sip::uri::{Uri, UriError};
use crate::sip::{Remote, StatusCode, Transmit};

impl Endpoint {
    pub(super) fn reject_untrusted_unparsed(&mut self, remote: Remote, bytes: &[u8]) {
        if let Ok(mut msg) = Message::parse_unvalidated(bytes) {
            if msg.is_request() && msg.method() != Some(&Method::Ack) && msg.top_via().is_some() {
                msg.stamp_top_via(remote.addr);
                self.respond_stateless(remote, &msg, StatusCode::FORBIDDEN);
            }
        }
    }

    /// 400/513 with the parse error as reason (505 for a SIP version we do not speak), when
    /// there is enough to address a response: a request (not ACK) with a Via to copy. Its
    /// sent-by need not parse (a SIP/7.0 Via still gets its 505); the response goes back to the
    /// source address either way.
    pub(super) fn reject_malformed(&mut self, remote: Remote, bytes: &[u8], err: ParseError) {
        match Message::parse_unvalidated(bytes) {
            Ok(mut msg)
                if msg.is_request()
                    && msg.method() != Some(&Method::Ack)
                    && msg.header("Via").is_some() =>
            {
                info!(peer = %remote.addr, error = %err, "malformed request");
                msg.stamp_top_via(remote.addr);
                if err == ParseError::StartLine && Message::has_unsupported_version(bytes) {
                    return self.respond_stateless(remote, &msg, StatusCode::VERSION_NOT_SUPPORTED);
                }
                self.respond_stateless_with(remote, &msg, err.status(), &err.to_string());
            }
            _ => debug!(peer = %remote.addr, error = %err, "dropped unparseable message"),
        }
    }

    /// A response that leaves no state behind, with the status's own reason phrase.
    pub(super) fn respond_stateless(&mut self, remote: Remote, req: &Message, status: StatusCode) {
        self.respond_stateless_with(remote, req, status, status.reason());
    }

    /// A response that leaves no state behind, with `reason` as its phrase.
    fn respond_stateless_with(
        &mut self,
        remote: Remote,
        req: &Message,
        status: StatusCode,
        reason: &str,
    ) {
        let tag = self.token();
        let mut resp = Message::response_to(req, status.0, reason, Some(&tag));
        self.decorate(&mut resp, status, remote);
        self.transmits.push_back(Transmit {
            remote,
            bytes: resp.to_bytes(),
        });
    }

    /// Headers every response of ours to `remote` carries; an error response also says why in
    /// `ms-diagnostics` (the status's own reason, unless the caller sets a better one).
    pub(super) fn decorate(&self, resp: &mut Message, status: StatusCode, remote: Remote) {
        push_product(resp, &self.config.server_name);
        // RFC 4475 intmeth: a 501 lists the methods we do understand.
        let allow = [StatusCode::METHOD_NOT_ALLOWED, StatusCode::NOT_IMPLEMENTED];
        if allow.contains(&status) || status.is_success() {
            resp.push("Allow", ALLOW);
        }
        if status.0 >= 300 {
            if let Some(why) = self.ms_diagnostics(remote, Diagnostic::for_status(status)) {
                resp.push(MS_DIAGNOSTICS, why);
            }
        }
    }

    /// The `ms-diagnostics` value saying `why` to `remote`, with our FQDN (else the address it
    /// reached) as `source`; `None` for an untrusted source, which is outside the enterprise
    /// boundary [MS-OCER] 2.2.1.2 keeps the header within (and a scanner learns nothing).
    pub(super) fn ms_diagnostics(&self, remote: Remote, why: Diagnostic) -> Option<String> {
        if !self.is_trusted(remote.addr.ip()) {
            return None;
        }
        let source = if self.fqdn.is_empty() {
            remote.transport.local().ip().to_string()
        } else {
            self.fqdn.clone()
        };
        let value = MsDiagnostics {
            code: why.code(),
            reason: why.reason().to_owned(),
            source: Some(source),
        };
        Some(value.to_string())
    }
}

/// Why a request must be refused before any method handling: 416 for a Request-URI scheme we
/// do not serve, 420 for an option tag we lack, 406 for an INVITE whose Accept rules out SDP
/// (RFC 3261 §8.2.2.1, §8.2.2.3, §8.2.3; RFC 4475 unkscm, novelsc, bext01, sdp01).
pub(super) fn unacceptable(msg: &Message) -> Option<StatusCode> {
    let uri = msg.request_uri().unwrap_or_default().parse::<Uri>();
    if uri == Err(UriError::UnsupportedScheme) {
        return Some(StatusCode::UNSUPPORTED_URI_SCHEME);
    }
    if !unsupported_tags(msg).is_empty() {
        return Some(StatusCode::BAD_EXTENSION);
    }
    if msg.method() == Some(&Method::Invite) {
        // An empty Accept strictly means "no body"; we read it as no preference, as peers
        // that send one still expect SDP.
        let ranges: Vec<String> = msg
            .headers_named("Accept")
            .flat_map(|v| v.split(','))
            .map(|r| {
                r.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|r| !r.is_empty())
            .collect();
        let sdp = |r: &String| ["application/sdp", "application/*", "*/*"].contains(&r.as_str());
        if !ranges.is_empty() && !ranges.iter().any(sdp) {
            return Some(StatusCode::NOT_ACCEPTABLE);
        }
    }
    None
}

/// Option tags in `Require` that we do not support, in order.
pub(super) fn unsupported_tags(msg: &Message) -> Vec<&str> {
    msg.headers_named("Require")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect()
}

/// `Server` on a response, `User-Agent` on a request, with `sip.server_name`; no header at all
/// when that is empty (operators who do not announce the product to peers and scanners).
pub(super) fn push_product(msg: &mut Message, server_name: &str) {
    if server_name.is_empty() {
        return;
    }
    let header = if msg.is_request() {
        "User-Agent"
    } else {
        "Server"
    };
    msg.push(header, server_name);
}

/// A Warning value (RFC 3261 §20.43): `305 10.0.0.5:5060 "text"`, the text as a quoted string
/// (`"` and `\\` escaped, control characters dropped), at most 200 characters of it.
pub(super) fn warning(code: u16, agent: std::net::SocketAddr, text: &str) -> String {
    format!("{code} {agent} {}", quoted_string(text, 200))
}
