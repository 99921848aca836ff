//! Calls the gateway places on its own: play on phone (Exchange's "Play on Phone" from
//! Outlook). The driver locates the call server and opens the transport; the core offers
//! media (RTP/SAVP when the user's plan requires SRTP, like a delayed-offer call's 200),
//! places the INVITE, and when the user answers starts a `Call` with the play flow, which
//! from then on runs like any other call.

use std::net::SocketAddr;
use std::time::Instant;

use rand::Rng;
use tracing::{info, info_span, warn};
use zeroize::Zeroizing;

use super::{CoreAction, Env, GatewayCore};
use crate::gateway::call::play::PlayTarget;
use crate::gateway::call::{Call, CallContext, CallStart, FlowSetup};
use crate::gateway::pending::{self, PendingMedia};
use crate::media::ice::IceCredentials;
use crate::sdp::MediaSecurity;
use crate::sip::endpoint::CallId;
use crate::sip::{Remote, Transport, Uri};
use crate::telemetry;

/// A play-on-phone call to place: whom to call, through where, and what to play.
#[derive(Debug, Clone)]
pub(crate) struct PhoneCall {
    pub play: PlayTarget,
    /// The Request-URI: the user's number or SIP URI at the call server.
    pub to: Uri,
    /// Who the call is from (the plan's subscriber-access pilot, as Exchange's calls are).
    pub from: Uri,
    /// The call server's address, located by the driver.
    pub dest: SocketAddr,
    pub security: MediaSecurity,
}

/// A placed call until it is answered or fails.
pub(super) struct Outbound<S> {
    play: PlayTarget,
    socket: Option<S>,
    dest: SocketAddr,
    srtp_key: Option<Zeroizing<[u8; 30]>>,
    span: tracing::Span,
}

impl<E: Env> GatewayCore<E> {
    /// The call that plays `message` of `mailbox` to `to`, as the current dial plans say
    /// (its `dest` is the driver's to find). `to` must reach the mailbox's own user: its
    /// Extension, E164 or SipAddress in any form the plan resolves.
    pub fn phone_call(&self, mailbox: &str, message: &str, to: &str) -> Result<PhoneCall, String> {
        let found = self
            .plans
            .mailbox(mailbox)
            .ok_or_else(|| format!("no mailbox {mailbox:?} in the dial plans"))?;
        let (plan, entry) = (found.plan, found.mailbox);
        let own = self
            .plans
            .resolve(to)
            .is_some_and(|r| r.mailbox.id == entry.id);
        if !own {
            return Err(format!(
                "{to:?} is not a number or address of mailbox {mailbox}: play on phone calls the user's own phone"
            ));
        }
        let domain = plan.domain.as_deref().ok_or_else(|| {
            format!(
                "dial plan {} has no Domain to call {to:?} through",
                plan.name
            )
        })?;
        let uri = |s: &str| -> Result<Uri, String> {
            let text = if s.starts_with("sip:") || s.starts_with("sips:") {
                s.to_owned()
            } else {
                let digits: String = s
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect();
                format!("sip:{digits}@{domain};user=phone")
            };
            text.parse()
                .map_err(|_| format!("{s:?} is not a number or SIP URI"))
        };
        let from = plan
            .pilot_identifiers
            .first()
            .map_or_else(|| uri(&format!("sip:voicemail@{domain}")), |p| uri(p))?;
        Ok(PhoneCall {
            play: PlayTarget {
                mailbox: entry.clone(),
                message_id: message.to_owned(),
                digit_timeout: std::time::Duration::from_secs(5),
                input_failures: plan.input_failures_before_disconnect,
            },
            to: uri(to)?,
            from,
            dest: SocketAddr::from(([0, 0, 0, 0], 0)),
            security: crate::gateway::admission::media_policy(plan.voip_security),
        })
    }

    /// Places `call` on `transport` (ready: connected for TCP/TLS); the SIP Call-ID of the
    /// INVITE sent.
    pub fn place_call(
        &mut self,
        now: Instant,
        call: PhoneCall,
        transport: Transport,
    ) -> Result<String, String> {
        let span = info_span!(
            "call",
            call_id = tracing::field::Empty,
            mailbox = %call.play.mailbox.id
        );
        let _in_call = span.clone().entered();
        if self.draining.is_some() {
            return Err("the gateway is shutting down".into());
        }
        let (socket, local) = self
            .bind_rtp(now)
            .map_err(|e| format!("no RTP port: {e}"))?;
        let session_id = self.rng.gen_range(1..u32::MAX as u64);
        let mut key = Zeroizing::new([0u8; 30]);
        self.rng.fill(&mut key[..]);
        let described = pending::describe(
            None,
            local,
            session_id,
            call.security,
            &key,
            &IceCredentials::random(&mut self.rng),
            self.config.call.silence_threshold_dbfs,
        );
        let (srtp_key, offer) = match described {
            Ok((PendingMedia::Offered { srtp_key }, offer)) => (srtp_key, offer),
            Ok(_) | Err(_) => {
                self.ports.release(local.port(), now);
                return Err("cannot describe our media".into());
            }
        };
        let remote = Remote {
            transport,
            addr: call.dest,
        };
        let leg = self
            .endpoint
            .invite_to(now, remote, &call.to, &call.from, offer.into_bytes());
        let sip_call_id = self.endpoint.sip_call_id(leg).unwrap_or_default();
        span.record("call_id", sip_call_id.as_str());
        info!(?leg, to = %call.to, dest = %call.dest, message = %call.play.message_id, "play on phone: calling");
        self.call_ports.insert(leg, vec![local.port()]);
        self.outbound.insert(
            leg,
            Outbound {
                play: call.play,
                socket: Some(socket),
                dest: call.dest,
                srtp_key,
                span: span.clone(),
            },
        );
        self.process(now);
        Ok(sip_call_id)
    }

    /// Our call was answered: it runs as a call from now on. False if `leg` is not ours.
    pub(super) fn outbound_answered(&mut self, now: Instant, leg: CallId, answer: &[u8]) -> bool {
        let Some(mut out) = self.outbound.remove(&leg) else {
            return false;
        };
        let _in_call = out.span.clone().entered();
        let media = std::str::from_utf8(answer)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(|a| {
                pending::accept_answer(
                    a,
                    out.srtp_key.as_deref(),
                    self.config.call.silence_threshold_dbfs,
                )
                .map_err(|e| e.to_string())
            });
        let (media, socket) = match (media, out.socket.take()) {
            (Ok(media), Some(socket)) => (media, socket),
            (Err(e), _) => {
                warn!(error = %e, "play on phone: the answer's SDP is not usable: BYE");
                self.endpoint.hangup(now, leg);
                self.release(now, leg);
                return true;
            }
            (Ok(_), None) => return true,
        };
        let sip_call_id = self.endpoint.sip_call_id(leg).unwrap_or_default();
        self.board.call_started(
            leg.0,
            telemetry::CallStatus {
                sip_call_id: sip_call_id.clone(),
                mailbox: out.play.mailbox.id.clone(),
                since: std::time::Instant::now(),
            },
        );
        let context = CallContext {
            id: leg,
            sip_call_id,
            peer: out.dest,
            caller: None,
            caller_name: None,
            media,
            shared: self.shared.clone(),
            beep: self.beep.clone(),
        };
        let start = CallStart {
            context,
            flow: FlowSetup::Play(out.play),
            prepared: None,
            streams: [self.rng.gen(), self.rng.gen()],
            seed: self.rng.gen(),
            span: out.span,
        };
        let built = Call::new(now, start);
        self.running.insert(leg);
        self.actions.push_back(CoreAction::Start {
            call: Box::new(built),
            socket,
        });
        true
    }

    /// Our call failed (refused, not answered). False if `leg` is not ours.
    pub(super) fn outbound_failed(
        &mut self,
        now: Instant,
        leg: CallId,
        status: Option<u16>,
    ) -> bool {
        let Some(out) = self.outbound.remove(&leg) else {
            return false;
        };
        out.span
            .in_scope(|| info!(?status, "play on phone: the call was not answered"));
        self.release(now, leg);
        true
    }

    fn release(&mut self, now: Instant, leg: CallId) {
        for port in self.call_ports.remove(&leg).unwrap_or_default() {
            self.ports.release(port, now);
        }
    }
}
