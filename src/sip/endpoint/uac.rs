//! The endpoint as a UAC: an outgoing INVITE (the second leg of a bridged transfer, when the
//! caller's side does not accept REFER; a call the gateway places itself, play on phone), its
//! dialog, and CANCEL.
//!
//! A second leg goes to the peer the first call came from (the call server routes it, as it
//! would have routed the REFER's INVITE), so no DNS and no new trust decision is involved; a
//! call of our own goes where the driver located and connected it.

use std::time::Instant;

use super::dialog::{contact, via, LocalSdp};
use super::stateless::push_product;
use super::{
    arm, CallId, Dialog, DialogState, Endpoint, EndpointEvent, Purpose, TimerOf, TxKey, ALLOW,
};
use crate::sip::message::{self, Message, Method};
use crate::sip::transaction::{ClientInvite, ClientNonInvite, TxEvent};
use crate::sip::{Remote, Transmit, Uri};

/// An INVITE we sent and its transaction.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) tx: ClientInvite,
    call: CallId,
    remote: Remote,
    request: Message,
    pub(super) armed: Option<Instant>,
}

impl Endpoint {
    /// Calls `target` through the peer `first_leg` came from, offering `sdp`, as `from`.
    /// Progress arrives as `Outgoing*` events; `hangup` cancels or ends it.
    pub fn invite_via(
        &mut self,
        now: Instant,
        first_leg: CallId,
        target: &Uri,
        from: &Uri,
        sdp: Vec<u8>,
    ) -> Option<CallId> {
        let remote = self.calls.get(&first_leg)?.remote;
        Some(self.invite_to(now, remote, target, from, sdp))
    }

    /// Calls `target` through `remote` (a call the gateway places on its own: play on
    /// phone), offering `sdp`, as `from`. Progress arrives as `Outgoing*` events.
    pub fn invite_to(
        &mut self,
        now: Instant,
        remote: Remote,
        target: &Uri,
        from: &Uri,
        sdp: Vec<u8>,
    ) -> CallId {
        let call = CallId(self.next_id);
        self.next_id += 1;
        let local_tag = self.token();
        let call_id = format!("{}@umgw", self.token());
        let branch = format!("z9hG4bK{}", self.token());
        let local_party = format!("<{from}>;tag={local_tag}");
        let remote_party = format!("<{target}>");
        let mut req = Message::request(Method::Invite, target.to_string());
        req.push("Via", via(remote, &branch));
        req.push("Max-Forwards", "70");
        req.push("From", local_party.clone());
        req.push("To", remote_party.clone());
        req.push("Call-ID", call_id.clone());
        req.push("CSeq", "1 INVITE");
        // RFC 3261 §8.1.1.8: a SIPS Request-URI needs a SIPS Contact.
        let local_contact = contact(remote, target.is_sips());
        req.push("Contact", format!("<{local_contact}>"));
        req.push("Allow", ALLOW);
        push_product(&mut req, &self.config.server_name);
        req.push("Content-Type", "application/sdp");
        req.body = sdp.clone();
        let tx = ClientInvite::new(
            now,
            req.to_bytes(),
            remote.transport.is_reliable(),
            self.config.timers,
        );
        self.calls.insert(
            call,
            Dialog {
                state: DialogState::Early,
                invite: req.clone(),
                // Unused for an outgoing call: its transaction is in `outgoing`.
                invite_tx: TxKey {
                    branch: branch.clone(),
                    sent_by: String::new(),
                    method: "INVITE".into(),
                },
                remote,
                call_id,
                local_tag,
                remote_tag: String::new(),
                local_cseq: 1,
                local_sdp: Some(LocalSdp::new(sdp)),
                local_party,
                remote_party,
                remote_target: target.clone(),
                route_set: Vec::new(),
                local_contact,
                outgoing: true,
                ack: None,
            },
        );
        self.outgoing.insert(
            branch.clone(),
            Outgoing {
                tx,
                call,
                remote,
                request: req,
                armed: None,
            },
        );
        self.drain_outgoing(now, &branch);
        call
    }

    /// A response to one of our INVITEs; false if it is not for one.
    pub(super) fn handle_outgoing_response(
        &mut self,
        now: Instant,
        branch: &str,
        msg: Message,
    ) -> bool {
        let Some(out) = self.outgoing.get_mut(branch) else {
            return false;
        };
        let Some(code) = msg.status() else {
            return true;
        };
        let request = &out.request;
        out.tx
            .handle_response(now, code, || failure_ack(request, &msg).to_bytes());
        if (200..300).contains(&code) {
            let call = out.call;
            self.answered(now, call, &msg);
        }
        self.drain_outgoing(now, branch);
        true
    }

    /// The dialog is confirmed by a 2xx: learn the peer's tag, target and route set, ACK.
    fn answered(&mut self, now: Instant, call: CallId, resp: &Message) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.state == DialogState::Early || d.state == DialogState::Ending && d.ack.is_none() {
            d.remote_tag = resp.to_tag().unwrap_or_default().to_owned();
            d.remote_party = resp.header("To").unwrap_or("").to_owned();
            let contact = resp.header("Contact").map(message::uri_of);
            if let Some(c) = contact.and_then(|c| c.parse().ok()) {
                d.remote_target = c;
            }
            // A UAC uses the Record-Route set in reverse (RFC 3261 §12.1.2).
            let mut routes: Vec<String> = resp
                .headers_named("Record-Route")
                .map(str::to_owned)
                .collect();
            routes.reverse();
            d.route_set = routes;
            self.dialog_index.insert(
                (d.call_id.clone(), d.local_tag.clone(), d.remote_tag.clone()),
                call,
            );
        }
        let ack = match &d.ack {
            Some(ack) => ack.clone(),
            None => {
                // The ACK for a 2xx carries the INVITE's CSeq number (RFC 3261 §13.2.2.4).
                let bytes = d.request(Method::Ack, &branch, 1).to_bytes();
                d.ack = Some(bytes.clone());
                bytes
            }
        };
        let remote = d.remote;
        self.transmits.push_back(Transmit { remote, bytes: ack });
        match d.state {
            DialogState::Early => {
                d.state = DialogState::Confirmed;
                self.events.push_back(EndpointEvent::OutgoingAnswered {
                    call,
                    sdp: resp.body.clone(),
                });
            }
            // We hung up while it rang and the 2xx crossed our CANCEL: end it now.
            DialogState::Ending => {
                d.state = DialogState::Confirmed;
                self.hangup(now, call);
            }
            _ => {}
        }
    }

    /// Cancels our INVITE if it has no final response yet (RFC 3261 §9.1); true if it did.
    pub(super) fn cancel_outgoing(&mut self, now: Instant, call: CallId) -> bool {
        let Some((branch, out)) = self
            .outgoing
            .iter()
            .find(|(_, o)| o.call == call && o.tx.is_pending())
        else {
            return false;
        };
        let inv = &out.request;
        let mut cancel = Message::request(
            Method::Cancel,
            inv.request_uri().unwrap_or_default().to_owned(),
        );
        for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
            if let Some(v) = inv.header(name) {
                cancel.push(name, v.to_owned());
            }
        }
        cancel.push("CSeq", "1 CANCEL");
        let (remote, key) = (out.remote, format!("{branch}:cancel"));
        let tx = ClientNonInvite::new(
            now,
            cancel.to_bytes(),
            remote.transport.is_reliable(),
            self.config.timers,
        );
        self.clients.insert(
            key.clone(),
            super::ClientEntry {
                tx,
                remote,
                purpose: Purpose::Cancel,
                armed: None,
            },
        );
        self.drain_client(&key);
        if let Some(d) = self.calls.get_mut(&call) {
            d.state = DialogState::Ending;
        }
        true
    }

    pub(super) fn drain_outgoing(&mut self, now: Instant, branch: &str) {
        let Some(out) = self.outgoing.get_mut(branch) else {
            return;
        };
        let (call, remote) = (out.call, out.remote);
        while let Some(bytes) = out.tx.poll_transmit() {
            self.transmits.push_back(Transmit { remote, bytes });
        }
        let events: Vec<TxEvent> = std::iter::from_fn(|| out.tx.poll_event()).collect();
        for ev in events {
            match ev {
                TxEvent::Response(status @ 100..=199) => self
                    .events
                    .push_back(EndpointEvent::OutgoingProgress { call, status }),
                TxEvent::Response(200..=299) => {}
                TxEvent::Response(status) => self.outgoing_failed(call, Some(status)),
                TxEvent::Timeout => self.outgoing_failed(call, None),
                TxEvent::Terminated => {
                    self.outgoing.remove(branch);
                    self.forget_call_if_idle(call);
                }
                _ => {}
            }
        }
        if let Some(o) = self.outgoing.get_mut(branch) {
            arm(&mut self.timers, &mut o.armed, o.tx.poll_timeout(), || {
                TimerOf::Outgoing(branch.to_owned())
            });
        }
        let _ = now;
    }

    fn outgoing_failed(&mut self, call: CallId, status: Option<u16>) {
        if let Some(d) = self.calls.get_mut(&call) {
            d.state = DialogState::Terminated;
        }
        self.events
            .push_back(EndpointEvent::OutgoingFailed { call, status });
        self.forget_call_if_idle(call);
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's Request-URI, top
/// Via, From, Call-ID and Route, the response's To.
fn failure_ack(invite: &Message, resp: &Message) -> Message {
    let mut ack = Message::request(
        Method::Ack,
        invite.request_uri().unwrap_or_default().to_owned(),
    );
    for name in ["Via", "Max-Forwards", "From"] {
        if let Some(v) = invite.header(name) {
            ack.push(name, v.to_owned());
        }
    }
    ack.push("To", resp.header("To").unwrap_or("").to_owned());
    ack.push("Call-ID", invite.header("Call-ID").unwrap_or("").to_owned());
    ack.push("CSeq", "1 ACK");
    for r in invite.headers_named("Route") {
        ack.push("Route", r.to_owned());
    }
    ack
}
