//! Requests the endpoint originates: BYE and REFER within a dialog, and out-of-dialog ones
//! (the unsolicited MWI NOTIFY). Each gets its client transaction here; callers never build one.

use std::time::Instant;

use super::dialog::{via, DialogState};
use super::stateless::push_product;
use super::{CallId, ClientEntry, Endpoint, Purpose, RequestId};
use crate::sip::message::{Message, Method};
use crate::sip::transaction::ClientNonInvite;
use crate::sip::uri::{Scheme, Uri};
use crate::sip::Remote;

impl Endpoint {
    pub(super) fn send_bye(&mut self, now: Instant, call: CallId) {
        self.in_dialog_request(now, call, Method::Bye, Purpose::Bye(call), |_| {});
    }

    /// Asks the caller's side to transfer the call to `refer_to` (RFC 3515 REFER within the
    /// dialog). Only for an established call; the outcome arrives as `RequestDone` for the
    /// REFER, then `TransferProgress` for each NOTIFY the peer sends about it.
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallId,
        refer_to: &Uri,
        referred_by: &Uri,
    ) -> Option<RequestId> {
        if self.calls.get(&call).map(|d| d.state) != Some(DialogState::Confirmed) {
            return None;
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.in_dialog_request(now, call, Method::Refer, Purpose::Request(id), |r| {
            r.push("Refer-To", format!("<{refer_to}>"));
            r.push("Referred-By", format!("<{referred_by}>"));
        });
        Some(id)
    }

    /// Sends a request within the call's dialog, as the UAS that accepted it.
    pub(super) fn in_dialog_request(
        &mut self,
        now: Instant,
        call: CallId,
        method: Method,
        purpose: Purpose,
        extra: impl FnOnce(&mut Message),
    ) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        d.local_cseq += 1;
        let mut req = d.request(method, &branch, d.local_cseq);
        req.push("Contact", d.contact_header());
        push_product(&mut req, &self.config.server_name);
        extra(&mut req);
        // The next hop is the peer the call came from: a trusted pool, SBC or proxy.
        let remote = d.remote;
        self.start_client(now, remote, branch, &req, purpose);
    }

    /// Sends an unsolicited NOTIFY (no subscription: `Subscription-State: terminated`) about
    /// `account` toward `target`, shaped as Exchange UM sends MWI to a Lync pool: the user
    /// (`account` as a URI) is From, To and Contact, and the Request-URI as well when `target`
    /// names only a host (a pool, `sip:pool01.contoso.com;transport=tls`: where the NOTIFY
    /// goes, not whom it is about); a target with a user part (a PBX's `sip:1001@pbx`) is the
    /// Request-URI itself. An account that is not a URI (a number) leaves the target in the
    /// user's place. Its outcome arrives as `RequestDone`.
    pub fn send_notify(
        &mut self,
        now: Instant,
        remote: Remote,
        target: &Uri,
        account: &str,
        content: Notification,
    ) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let branch = format!("z9hG4bK{}", self.token());
        let user = account.parse::<Uri>().ok();
        let request_uri = match &user {
            Some(user) if target.user().is_none() => user.clone(),
            _ => target.clone(),
        };
        // RFC 3261 §8.1.1.8: a SIPS Request-URI needs a SIPS Contact; a sips: target is TLS
        // on every hop, so the request for the user it carries is SIPS too.
        let scheme = if target.is_sips() {
            Scheme::Sips
        } else {
            request_uri.scheme()
        };
        let request_uri = request_uri.with_scheme(scheme);
        let user = user.unwrap_or_else(|| target.clone()).with_scheme(scheme);
        let mut req = Message::request(Method::Notify, request_uri.to_string());
        req.push("Via", via(remote, &branch));
        req.push("Max-Forwards", "70");
        req.push("From", format!("<{user}>;tag={}", self.token()));
        req.push("To", format!("<{user}>"));
        req.push("Call-ID", format!("{}@umgw", self.token()));
        req.push("CSeq", "1 NOTIFY");
        req.push("Contact", format!("<{user}>"));
        req.push("Event", content.event);
        req.push("Subscription-State", "terminated");
        req.push("Content-Type", content.content_type);
        push_product(&mut req, &self.config.server_name);
        req.body = content.body;
        self.start_client(now, remote, branch, &req, Purpose::Request(id));
        id
    }

    /// Starts the client transaction of a request we send (its Via carries `branch`).
    fn start_client(
        &mut self,
        now: Instant,
        remote: Remote,
        branch: String,
        req: &Message,
        purpose: Purpose,
    ) {
        let tx = ClientNonInvite::new(
            now,
            req.to_bytes(),
            remote.transport.is_reliable(),
            self.config.timers,
        );
        let entry = ClientEntry {
            tx,
            remote,
            purpose,
            armed: None,
        };
        self.clients.insert(branch.clone(), entry);
        self.drain_client(&branch);
    }
}

/// What an unsolicited NOTIFY carries: its event package and body (for MWI,
/// [`crate::mwi::notification`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The `Event` package, e.g. `message-summary`.
    pub event: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}
