//! Dialog state (RFC 3261 §12): who the peers are, where in-dialog requests go, our Contact,
//! and our session description with its RFC 3264 §8 version.

use std::ops::Range;

use super::key::TxKey;
use crate::sip::message::{Message, Method};
use crate::sip::uri::{Scheme, Uri};
use crate::sip::{Remote, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DialogState {
    /// INVITE received, no final response yet.
    Early,
    /// 200 sent, waiting for ACK.
    Answered,
    Confirmed,
    /// We sent BYE.
    Ending,
    /// Rejected, cancelled or hung up by the peer; removed when its transactions end.
    Terminated,
}

#[derive(Debug)]
pub(super) struct Dialog {
    pub(super) state: DialogState,
    pub(super) invite: Message,
    pub(super) invite_tx: TxKey,
    pub(super) remote: Remote,
    pub(super) call_id: String,
    pub(super) local_tag: String,
    pub(super) remote_tag: String,
    pub(super) local_cseq: u32,
    /// Our session description: the answer (or, on an outgoing leg, the offer) last sent.
    pub(super) local_sdp: Option<LocalSdp>,
    /// Our side of the dialog as our requests carry it in From (with our tag).
    pub(super) local_party: String,
    /// The peer's side as our requests carry it in To (with its tag, once known).
    pub(super) remote_party: String,
    /// Where our in-dialog requests go: the peer's Contact.
    pub(super) remote_target: Uri,
    /// Route headers for our in-dialog requests (RFC 3261 §12.1).
    pub(super) route_set: Vec<String>,
    /// Our Contact in this dialog: a `sips:` URI when the dialog was set up with one (RFC 3261
    /// §12.1.1, §8.1.1.8), for the 2xx and for every request we send in it.
    pub(super) local_contact: Uri,
    /// We sent the INVITE (the bridged leg of a transfer).
    pub(super) outgoing: bool,
    /// Our ACK for the 2xx of an outgoing call, resent for its retransmissions.
    pub(super) ack: Option<Vec<u8>>,
}

impl Dialog {
    /// A request within the dialog, as far as every one needs: Via with `branch`,
    /// Max-Forwards, the route set, From, To, Call-ID and CSeq.
    pub(super) fn request(&self, method: Method, branch: &str, cseq: u32) -> Message {
        let cseq = format!("{cseq} {}", method.as_str());
        let mut req = Message::request(method, self.remote_target.to_string());
        req.push("Via", via(self.remote, branch));
        req.push("Max-Forwards", "70");
        for route in &self.route_set {
            req.push("Route", route.clone());
        }
        req.push("From", self.local_party.clone());
        req.push("To", self.remote_party.clone());
        req.push("Call-ID", self.call_id.clone());
        req.push("CSeq", cseq);
        req
    }

    /// Our Contact header value.
    pub(super) fn contact_header(&self) -> String {
        format!("<{}>", self.local_contact)
    }
}

/// Our Via for a request on `remote`'s transport.
pub(super) fn via(remote: Remote, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {};branch={branch};rport",
        remote.transport.via_name(),
        remote.transport.local()
    )
}

/// The gateway's own URI on `remote`'s transport: `sip:umgw@<local address>`.
pub(super) fn local_uri(remote: Remote) -> Uri {
    let local = remote.transport.local();
    Uri::sip(Some("umgw"), local.ip().into(), Some(local.port()))
}

/// Our Contact for a dialog on `remote`'s transport: `sips:` when `secure` (the dialog was
/// set up with a SIPS URI), whose transport is TLS by definition, so no `transport` parameter
/// (RFC 5630 §3.2 deprecates `transport=tls`).
pub(super) fn contact(remote: Remote, secure: bool) -> Uri {
    let uri = local_uri(remote);
    if secure {
        return uri.with_scheme(Scheme::Sips);
    }
    let transport = match remote.transport {
        Transport::Udp { .. } => "udp",
        Transport::Tcp { .. } => "tcp",
        Transport::Tls { .. } => "tls",
    };
    uri.with_param("transport", Some(transport))
}

/// Our session description in a dialog, under RFC 3264 §8: a description that changed goes out
/// with the `o=` session version one above the last one sent; an unchanged one keeps it, so the
/// peer can tell a new offer or answer from a repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LocalSdp {
    body: Vec<u8>,
}

impl LocalSdp {
    pub(super) fn new(body: Vec<u8>) -> LocalSdp {
        LocalSdp { body }
    }

    pub(super) fn body(&self) -> &[u8] {
        &self.body
    }

    /// Replaces the description by `new`, whose own `o=` version is ignored: it keeps the
    /// current version when nothing else differs, else gets the current version + 1. A
    /// description without a readable `o=` version is taken as it is.
    pub(super) fn replace(&mut self, new: Vec<u8>) {
        let Some(current) = session_version(&self.body) else {
            self.body = new;
            return;
        };
        match with_session_version(&new, current) {
            Some(same) if same == self.body => {}
            Some(_) => {
                self.body = with_session_version(&new, current.saturating_add(1)).unwrap_or(new);
            }
            None => self.body = new,
        }
    }
}

/// Where the `o=` line's `<sess-version>` is (RFC 4566 §5.2: `o=<username> <sess-id>
/// <sess-version> <nettype> <addrtype> <unicast-address>`), and its value.
fn version_field(sdp: &[u8]) -> Option<(Range<usize>, u64)> {
    let mut line_start = 0;
    for line in sdp.split(|&b| b == b'\n') {
        if line.starts_with(b"o=") {
            let mut fields = Vec::with_capacity(3);
            let mut at = line_start + 2;
            for field in line[2..].split(|&b| b == b' ') {
                fields.push(at..at + field.len());
                at += field.len() + 1;
                if fields.len() == 3 {
                    break;
                }
            }
            let range = fields.get(2)?.clone();
            let text = std::str::from_utf8(&sdp[range.clone()]).ok()?;
            let text = text.trim_end_matches('\r');
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let value = text.parse().ok()?;
            return Some((range.start..range.start + text.len(), value));
        }
        line_start += line.len() + 1;
    }
    None
}

fn session_version(sdp: &[u8]) -> Option<u64> {
    version_field(sdp).map(|(_, v)| v)
}

/// `sdp` with its `o=` session version set to `version`.
fn with_session_version(sdp: &[u8], version: u64) -> Option<Vec<u8>> {
    let (range, _) = version_field(sdp)?;
    let mut out = Vec::with_capacity(sdp.len() + 2);
    out.extend_from_slice(&sdp[..range.start]);
    out.extend_from_slice(version.to_string().as_bytes());
    out.extend_from_slice(&sdp[range.end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\no=umgw 42 42 IN IP4 10.0.0.5\r\ns=umgw\r\nc=IN IP4 10.0.0.5\r\n\
                          t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n";

    #[test]
    fn the_session_version_moves_only_when_the_description_changes() {
        let mut sdp = LocalSdp::new(ANSWER.into());
        assert_eq!(session_version(sdp.body()), Some(42));
        // The same description (whatever version it claims) keeps version 42.
        sdp.replace(ANSWER.replace(" 42 IN", " 7 IN").into_bytes());
        assert_eq!(sdp.body(), ANSWER.as_bytes());
        // A new port is a new description: version 43, nothing else touched.
        sdp.replace(ANSWER.replace("40000", "40002").into_bytes());
        let want = ANSWER.replace("40000", "40002").replace(" 42 IN", " 43 IN");
        assert_eq!(String::from_utf8_lossy(sdp.body()), want);
        sdp.replace(want.clone().into_bytes());
        assert_eq!(session_version(sdp.body()), Some(43));
        // Bodies without a readable version are taken as they are, and never panic.
        for odd in [
            "v=0\r\n",
            "o=a b\r\n",
            "o=a b c\r\n",
            "o=a b 99999999999999999999 x\r\n",
            "",
        ] {
            let mut sdp = LocalSdp::new(ANSWER.into());
            sdp.replace(odd.into());
            assert_eq!(sdp.body(), odd.as_bytes());
            sdp.replace(ANSWER.into());
            assert_eq!(sdp.body(), ANSWER.as_bytes());
        }
        assert_eq!(session_version(b"v=0\no=- 1 5 IN IP4 1.2.3.4\n"), Some(5));
        assert_eq!(session_version(&ANSWER.as_bytes()[..14]), None);
    }

    #[test]
    fn contacts() {
        let udp = Remote {
            transport: Transport::Udp {
                local: "10.0.0.5:5060".parse().unwrap(),
            },
            addr: "10.0.0.1:5060".parse().unwrap(),
        };
        assert_eq!(
            contact(udp, false).to_string(),
            "sip:umgw@10.0.0.5:5060;transport=udp"
        );
        assert_eq!(contact(udp, true).to_string(), "sips:umgw@10.0.0.5:5060");
    }
}
