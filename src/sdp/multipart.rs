//! Picking the SDP to answer out of an INVITE body: `application/sdp`, or the
//! `multipart/alternative` (possibly inside `multipart/mixed`) bodies Lync sends.

use std::net::{IpAddr, Ipv4Addr};

use super::answer::{negotiate_secure, MediaSecurity};
use super::SdpError;

/// Returns the SDP to answer from an INVITE body, for [`MediaSecurity::SrtpOptional`].
///
/// See [`select_offer_for`].
pub fn select_offer(content_type: &str, body: &[u8]) -> Result<String, SdpError> {
    select_offer_for(content_type, body, MediaSecurity::SrtpOptional)
}

/// Returns the SDP to answer under `policy` from an INVITE body.
///
/// `application/sdp`: the body. `multipart/*` (Lync sends `multipart/alternative` with two SDP
/// parts): the `application/sdp` parts, those not marked `ms-proxy-2007fallback` first (that one
/// exists for OCS 2007 peers), and of these the first that [`negotiate_secure`] can answer. When
/// none can, the most preferred part: answering it yields the error (and SIP status) under the
/// caller's own policy. Errors here are about the body itself (415 not SDP, 400 bad multipart).
pub fn select_offer_for(
    content_type: &str,
    body: &[u8],
    policy: MediaSecurity,
) -> Result<String, SdpError> {
    let mut parts = Vec::new();
    collect_sdp(content_type, body, 0, &mut parts)?;
    if parts.is_empty() {
        return Err(SdpError::UnsupportedBody {
            content_type: content_type.to_string(),
        });
    }
    // Stable: keeps the body's order within each group.
    parts.sort_by_key(|p| p.0);
    let local = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let servable = parts
        .iter()
        .position(|(_, text)| negotiate_secure(text, local, 9, 0, policy, &[0; 30]).is_ok());
    let (_, text) = parts.swap_remove(servable.unwrap_or(0));
    Ok(text)
}

/// Nesting depth of multipart bodies we follow (multipart/mixed around multipart/alternative).
const MAX_MULTIPART_DEPTH: usize = 3;

/// Appends `(is_fallback, sdp)` for each SDP in `body`.
fn collect_sdp(
    content_type: &str,
    body: &[u8],
    depth: usize,
    out: &mut Vec<(bool, String)>,
) -> Result<(), SdpError> {
    let mut params = content_type.split(';');
    let mime = params.next().unwrap_or_default().trim();
    if mime.eq_ignore_ascii_case("application/sdp") {
        let text = std::str::from_utf8(body).map_err(|e| SdpError::Malformed {
            line: 1 + body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            why: "SDP is not UTF-8".to_string(),
        })?;
        out.push((false, text.to_string()));
        return Ok(());
    }
    // `get` and not `[..10]`: a hostile Content-Type may put a multi-byte character there.
    let is_multipart = mime.len() > 10
        && mime
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/"));
    if !is_multipart || depth >= MAX_MULTIPART_DEPTH {
        // A non-SDP part inside a multipart body is skipped; a non-SDP body is refused.
        return if depth == 0 {
            Err(SdpError::UnsupportedBody {
                content_type: content_type.to_string(),
            })
        } else {
            Ok(())
        };
    }
    let boundary = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| SdpError::BadMultipart {
            why: format!("no boundary parameter in {content_type:?}"),
        })?;
    let parts = split_multipart(body, boundary.as_bytes());
    if parts.is_empty() {
        return Err(SdpError::BadMultipart {
            why: format!("no part delimited by --{boundary}"),
        });
    }
    for part in parts {
        let (headers, part_body) = split_part(&part);
        let mut ctype = "text/plain"; // RFC 2046 §5.1 default
        let mut fallback = false;
        for (name, value) in &headers {
            if name.eq_ignore_ascii_case("content-type") {
                ctype = value;
            } else if name.eq_ignore_ascii_case("content-disposition") {
                fallback = value
                    .split(';')
                    .any(|p| p.trim().eq_ignore_ascii_case("ms-proxy-2007fallback"));
            }
        }
        let before = out.len();
        collect_sdp(ctype, &part_body, depth + 1, out)?;
        for p in &mut out[before..] {
            p.0 |= fallback;
        }
    }
    Ok(())
}

/// Lines of `body` (LF or CRLF) without their line ends.
fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The parts between `--boundary` lines (RFC 2046 §5.1.1), each as lines; stops at `--boundary--`.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<Vec<&'a [u8]>> {
    let mut parts = Vec::new();
    let mut current: Option<Vec<&[u8]>> = None;
    for line in body_lines(body) {
        let rest = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary));
        if let Some(rest) = rest {
            let closing = rest.starts_with(b"--");
            let rest = if closing { &rest[2..] } else { rest };
            if rest.iter().all(|b| b.is_ascii_whitespace()) {
                parts.extend(current.take());
                if closing {
                    return parts;
                }
                current = Some(Vec::new());
                continue;
            }
        }
        if let Some(c) = current.as_mut() {
            c.push(line);
        }
    }
    // No closing delimiter: keep what we have rather than fail a call on a truncated epilogue.
    parts.extend(current);
    parts
}

/// A part's headers (folded lines joined) and its body with CRLF line ends.
fn split_part(lines: &[&[u8]]) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        i += 1;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if text.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
        } else if let Some((n, v)) = text.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    for line in &lines[i.min(lines.len())..] {
        body.extend_from_slice(line);
        body.extend_from_slice(b"\r\n");
    }
    (headers, body)
}
