//! The endpoint as a UAS: new calls, requests within their dialogs (BYE, re-INVITE, the NOTIFYs
//! about our REFER, ACK, CANCEL), and the application's answer, refusal or hang-up.

use std::time::Instant;

use tracing::debug;

use super::dialog::{contact, Dialog, DialogState, LocalSdp};
use super::key::TxKey;
use super::stateless::warning;
use super::{CallId, Endpoint, EndpointEvent, Explanation, InviteEntry, OtherEntry};
use crate::sip::headers::MS_DIAGNOSTICS;
use crate::sip::message::{self, Message, Method};
use crate::sip::transaction::{ServerInvite, ServerNonInvite};
use crate::sip::{Remote, StatusCode, Uri};

impl Endpoint {
    /// Answers a non-INVITE request through a server transaction (absorbs retransmissions).
    pub(super) fn respond(
        &mut self,
        now: Instant,
        remote: Remote,
        req: &Message,
        key: TxKey,
        status: StatusCode,
        extra: impl FnOnce(&mut Message),
    ) {
        let resp = self.response(remote, req, status, extra);
        let mut tx = ServerNonInvite::new(remote.transport.is_reliable(), self.config.timers);
        tx.send_response(now, status.0, resp.to_bytes());
        self.others.insert(
            key.clone(),
            OtherEntry {
                tx,
                remote,
                armed: None,
            },
        );
        self.drain_other(&key);
    }

    /// Our response to `req` outside any dialog of ours: a fresh To tag, our headers, `extra`.
    fn response(
        &mut self,
        remote: Remote,
        req: &Message,
        status: StatusCode,
        extra: impl FnOnce(&mut Message),
    ) -> Message {
        let tag = self.token();
        let mut resp = Message::response_to(req, status.0, status.reason(), Some(&tag));
        self.decorate(&mut resp, status, remote);
        extra(&mut resp);
        resp
    }

    /// A final error response through the right kind of server transaction: an INVITE one
    /// (retransmitted until ACKed, absorbs the ACK) for INVITE, a non-INVITE one otherwise.
    pub(super) fn refuse(
        &mut self,
        now: Instant,
        remote: Remote,
        req: &Message,
        key: TxKey,
        status: StatusCode,
        extra: impl FnOnce(&mut Message),
    ) {
        if req.method() != Some(&Method::Invite) {
            return self.respond(now, remote, req, key, status, extra);
        }
        // The transaction needs a call handle; no dialog exists for it, so none is reported.
        let call = CallId(self.next_id);
        self.next_id += 1;
        let resp = self.response(remote, req, status, extra);
        let mut tx = ServerInvite::new(remote.transport.is_reliable(), self.config.timers);
        tx.send_response(now, status.0, resp.to_bytes());
        self.insert_invite(key.clone(), tx, call, remote);
        self.drain_invite(now, &key);
    }

    pub(super) fn new_call(&mut self, now: Instant, remote: Remote, msg: Message, key: TxKey) {
        let call = CallId(self.next_id);
        self.next_id += 1;
        let local_tag = self.token();
        let call_id = msg.call_id().unwrap_or_default().to_owned();
        let remote_tag = msg.from_tag().unwrap_or_default().to_owned();
        let mut tx = ServerInvite::new(remote.transport.is_reliable(), self.config.timers);
        let trying = StatusCode::TRYING;
        let mut resp = Message::response_to(&msg, trying.0, trying.reason(), None);
        self.decorate(&mut resp, trying, remote);
        tx.send_response(now, trying.0, resp.to_bytes());
        self.insert_invite(key.clone(), tx, call, remote);
        self.dialog_index.insert(
            (call_id.clone(), local_tag.clone(), remote_tag.clone()),
            call,
        );
        let uri_in = |header: Option<&str>| message::uri_of(header?).parse::<Uri>().ok();
        // The peer's Contact; else its From; else (neither is a URI) the address the INVITE
        // came from, where our in-dialog requests go anyway.
        let remote_target = uri_in(msg.header("Contact"))
            .or_else(|| uri_in(msg.header("From")))
            .unwrap_or_else(|| {
                debug!(peer = %remote.addr, "INVITE without a usable Contact or From URI");
                Uri::sip(None, remote.addr.ip().into(), Some(remote.addr.port()))
            });
        // RFC 3261 §12.1.1: a SIPS Request-URI, or top Record-Route (else Contact), means a
        // SIPS Contact in the response and for the dialog's life.
        let is_sips = |uri: Option<Uri>| uri.is_some_and(|u| u.is_sips());
        let secure = is_sips(msg.request_uri().and_then(|u| u.parse().ok()))
            || match msg.header("Record-Route") {
                Some(rr) => is_sips(uri_in(Some(rr))),
                None => remote_target.is_sips(),
            };
        self.calls.insert(
            call,
            Dialog {
                state: DialogState::Early,
                local_party: format!("{};tag={local_tag}", msg.header("To").unwrap_or("")),
                remote_party: msg.header("From").unwrap_or("").to_owned(),
                remote_target,
                // A UAS uses the Record-Route set in order (RFC 3261 §12.1.1).
                route_set: msg
                    .headers_named("Record-Route")
                    .map(str::to_owned)
                    .collect(),
                local_contact: contact(remote, secure),
                outgoing: false,
                ack: None,
                invite: msg.clone(),
                invite_tx: key.clone(),
                remote,
                call_id,
                local_tag,
                remote_tag,
                local_cseq: 0,
                local_sdp: None,
            },
        );
        self.drain_invite(now, &key);
        self.events.push_back(EndpointEvent::IncomingCall {
            call,
            request: Box::new(msg),
            remote,
        });
    }

    pub(super) fn find_dialog(&self, msg: &Message) -> Option<CallId> {
        let key = (
            msg.call_id()?.to_owned(),
            msg.to_tag()?.to_owned(),
            msg.from_tag().unwrap_or_default().to_owned(),
        );
        self.dialog_index.get(&key).copied()
    }

    pub(super) fn handle_in_dialog(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: Message,
        key: TxKey,
        method: Method,
    ) {
        let Some(call) = self.find_dialog(&msg) else {
            return self.refuse(
                now,
                remote,
                &msg,
                key,
                StatusCode::CALL_DOES_NOT_EXIST,
                |_| {},
            );
        };
        match method {
            Method::Bye => {
                self.respond(now, remote, &msg, key, StatusCode::OK, |_| {});
                // BYE in an early dialog (after our 180): the INVITE still needs its final
                // response, or its transaction waits forever (RFC 3261 §15.1.2; found by
                // fuzz/endpoint_ops).
                if self.calls.get(&call).map(|d| d.state) == Some(DialogState::Early) {
                    self.final_response(now, call, StatusCode::REQUEST_TERMINATED, |_| {});
                }
                if let Some(d) = self.calls.get_mut(&call) {
                    if d.state != DialogState::Terminated {
                        d.state = DialogState::Terminated;
                        self.events.push_back(EndpointEvent::RemoteHangup { call });
                    }
                }
                self.forget_call_if_idle(call);
            }
            Method::Invite => self.handle_reinvite(now, remote, msg, key, call),
            Method::Notify => self.handle_refer_notify(now, remote, msg, key, call),
            Method::Options | Method::Info => {
                self.respond(now, remote, &msg, key, StatusCode::OK, |_| {})
            }
            _ => self.respond(now, remote, &msg, key, unhandled(&method), |_| {}),
        }
    }

    /// A NOTIFY about a REFER we sent (RFC 3515 §2.4.4): its `message/sipfrag` body carries
    /// the status line of the transfer's INVITE.
    pub(super) fn handle_refer_notify(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: Message,
        key: TxKey,
        call: CallId,
    ) {
        let event = msg.header("Event").unwrap_or("");
        let package = event.split(';').next().unwrap_or("").trim();
        if !package.eq_ignore_ascii_case("refer") {
            return self.respond(now, remote, &msg, key, StatusCode::BAD_EVENT, |r| {
                r.push("Allow-Events", "refer")
            });
        }
        let status = sipfrag_status(&msg.body);
        self.respond(now, remote, &msg, key, StatusCode::OK, |_| {});
        match status {
            Some(status) => self
                .events
                .push_back(EndpointEvent::TransferProgress { call, status }),
            None => debug!(?call, "REFER NOTIFY without a status line"),
        }
    }

    /// A re-INVITE (RFC 3261 §14.2): answered by the dialog itself with our current session
    /// description (RFC 3264 §8: unchanged, so with the same `o=` version); a new offer's
    /// audio address is reported as `MediaUpdate`. 500 while the previous INVITE is unACKed.
    pub(super) fn handle_reinvite(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: Message,
        key: TxKey,
        call: CallId,
    ) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let mut tx = ServerInvite::new(remote.transport.is_reliable(), self.config.timers);
        let status = match (d.state, &d.local_sdp) {
            (DialogState::Confirmed, Some(_)) => StatusCode::OK,
            // RFC 3261 §14.2: a re-INVITE while the previous one is pending.
            (DialogState::Answered, _) => StatusCode::SERVER_INTERNAL_ERROR,
            _ => StatusCode::CALL_DOES_NOT_EXIST,
        };
        let mut resp = Message::response_to(&msg, status.0, status.reason(), None);
        self.decorate(&mut resp, status, remote);
        match (status, &d.local_sdp) {
            (StatusCode::OK, Some(sdp)) => {
                resp.push("Contact", d.contact_header());
                resp.push("Content-Type", "application/sdp");
                resp.body = sdp.body().to_vec();
            }
            (StatusCode::SERVER_INTERNAL_ERROR, _) => resp.push("Retry-After", "1"),
            _ => {}
        }
        tx.send_response(now, status.0, resp.to_bytes());
        self.insert_invite(key.clone(), tx, call, remote);
        if status == StatusCode::OK {
            if let Some(d) = self.calls.get_mut(&call) {
                d.invite_tx = key.clone();
            }
            if !msg.body.is_empty() {
                match offered_audio(&msg) {
                    Some(remote) => self
                        .events
                        .push_back(EndpointEvent::MediaUpdate { call, remote }),
                    None => debug!(?call, "re-INVITE offer without a usable audio address"),
                }
            }
        }
        self.drain_invite(now, &key);
    }

    pub(super) fn handle_ack(&mut self, now: Instant, msg: &Message, key: &TxKey) {
        // ACK for a non-2xx shares the INVITE's branch; ACK for a 2xx is matched by dialog.
        if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(key) {
            tx.handle_ack(now);
            return self.drain_invite(now, key);
        }
        let Some(call) = self.find_dialog(msg) else {
            return debug!(call_id = ?msg.call_id(), "ACK matches nothing");
        };
        let Some(tx_key) = self.calls.get(&call).map(|d| d.invite_tx.clone()) else {
            return;
        };
        if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(&tx_key) {
            // The first ACK's SDP answers the offer our 2xx made (the INVITE had none); it is
            // reported before `Acked`, which starts the call.
            if tx.awaits_ack() && !msg.body.is_empty() {
                match sdp_part(msg) {
                    Some(sdp) => self
                        .events
                        .push_back(EndpointEvent::AckAnswer { call, sdp }),
                    None => debug!(?call, "ACK body holds no SDP"),
                }
            }
            tx.handle_ack(now);
            self.drain_invite(now, &tx_key);
        }
    }

    pub(super) fn handle_cancel(
        &mut self,
        now: Instant,
        remote: Remote,
        msg: &Message,
        key: TxKey,
    ) {
        if let Some(OtherEntry { tx, .. }) = self.others.get_mut(&key) {
            tx.handle_retransmitted_request();
            return self.drain_other(&key);
        }
        let invite_key = TxKey {
            method: "INVITE".into(),
            ..key.clone()
        };
        let Some(InviteEntry { tx, call, .. }) = self.invites.get(&invite_key) else {
            return self.respond(
                now,
                remote,
                msg,
                key,
                StatusCode::CALL_DOES_NOT_EXIST,
                |_| {},
            );
        };
        let (is_final, call) = (tx.is_final(), *call);
        self.respond(now, remote, msg, key, StatusCode::OK, |_| {});
        if !is_final {
            self.final_response(now, call, StatusCode::REQUEST_TERMINATED, |_| {});
            if let Some(d) = self.calls.get_mut(&call) {
                d.state = DialogState::Terminated;
            }
            self.events.push_back(EndpointEvent::Cancelled { call });
        }
    }

    /// Sends a response on the call's INVITE transaction.
    pub(super) fn final_response(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        extra: impl FnOnce(&mut Message),
    ) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let (code, reason) = (status.0, status.reason());
        let mut resp = Message::response_to(&d.invite, code, reason, Some(&d.local_tag));
        self.decorate(&mut resp, status, d.remote);
        extra(&mut resp);
        let key = d.invite_tx.clone();
        if let Some(InviteEntry { tx, .. }) = self.invites.get_mut(&key) {
            tx.send_response(now, code, resp.to_bytes());
        }
        self.drain_invite(now, &key);
    }

    /// 180 Ringing for a call not yet answered.
    pub fn ringing(&mut self, now: Instant, call: CallId) {
        if self.calls.get(&call).map(|d| d.state) == Some(DialogState::Early) {
            self.final_response(now, call, StatusCode::RINGING, |_| {});
        }
    }

    /// Answers the call with our SDP.
    pub fn answer(&mut self, now: Instant, call: CallId, sdp: Vec<u8>) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.state != DialogState::Early {
            return;
        }
        d.state = DialogState::Answered;
        d.local_sdp = Some(LocalSdp::new(sdp.clone()));
        let contact = d.contact_header();
        self.final_response(now, call, StatusCode::OK, move |r| {
            r.push("Contact", contact);
            r.push("Supported", "");
            r.push("Content-Type", "application/sdp");
            r.body = sdp;
        });
    }

    /// Replaces the session description the call's dialog offers and answers with from now on
    /// (re-INVITEs are answered with it): after the call's media moved, say. Its `o=` version
    /// continues from the last one sent, one higher if anything else changed (RFC 3264 §8).
    pub fn set_local_sdp(&mut self, call: CallId, sdp: Vec<u8>) {
        if let Some(d) = self.calls.get_mut(&call) {
            match &mut d.local_sdp {
                Some(current) => current.replace(sdp),
                None => d.local_sdp = Some(LocalSdp::new(sdp)),
            }
        }
    }

    /// Refuses the call with a final error response.
    pub fn reject(&mut self, now: Instant, call: CallId, status: StatusCode) {
        self.reject_with(now, call, status, Explanation::default());
    }

    /// Refuses the call with a final error response and the headers that say why.
    pub fn reject_with(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        why: Explanation,
    ) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.state != DialogState::Early {
            return;
        }
        d.state = DialogState::Terminated;
        // warn-agent: the address the peer reached us at, as in our Contact.
        let remote = d.remote;
        let agent = remote.transport.local();
        let diagnostics = why
            .diagnostic
            .and_then(|diagnostic| self.ms_diagnostics(remote, diagnostic));
        self.final_response(now, call, status, |r| {
            if let Some((warn_code, text)) = &why.warning {
                r.push("Warning", warning(*warn_code, agent, text));
            }
            if let Some(accept) = why.accept {
                r.push("Accept", accept);
            }
            // More specific than the status's own, which `decorate` gave it.
            if let Some(diagnostics) = diagnostics {
                r.set(MS_DIAGNOSTICS, diagnostics);
            }
        });
    }

    /// Ends the call from our side: BYE once answered, 480 before.
    pub fn hangup(&mut self, now: Instant, call: CallId) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.outgoing && d.state == DialogState::Early {
            self.cancel_outgoing(now, call);
            return;
        }
        match d.state {
            DialogState::Early => self.reject(now, call, StatusCode::TEMPORARILY_UNAVAILABLE),
            DialogState::Answered | DialogState::Confirmed => {
                d.state = DialogState::Ending;
                self.send_bye(now, call);
            }
            DialogState::Ending | DialogState::Terminated => {}
        }
    }
}

/// 501 for a method we do not know, 405 for one we know but do not take where it came.
pub(super) fn unhandled(method: &Method) -> StatusCode {
    match method {
        Method::Other(_) => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::METHOD_NOT_ALLOWED,
    }
}

/// Where a re-INVITE's offer wants our audio sent: its SDP read by
/// [`crate::sdp::remote_audio`].
fn offered_audio(msg: &Message) -> Option<std::net::SocketAddr> {
    crate::sdp::remote_audio(&sdp_part(msg)?)
}

/// A message's SDP: its body, or the part we would answer of a multipart one.
fn sdp_part(msg: &Message) -> Option<String> {
    let content_type = msg.header("Content-Type").unwrap_or("application/sdp");
    crate::sdp::select_offer(content_type, &msg.body).ok()
}

/// The status code of a `message/sipfrag` body (`SIP/2.0 200 OK`).
pub(super) fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    (100..700).contains(&code).then_some(code)
}
