//! Bridged transfers: the second leg the core places when the peer refuses REFER, and its
//! answer handed to the call that asked for it.

use std::time::Instant;

use rand::Rng;
use tracing::{info, warn};

use super::{CoreAction, Env, GatewayCore};
use crate::gateway::call::{BridgeUpdate, CallSignal};
use crate::media::g711::G711;
use crate::sdp;
use crate::sip::endpoint::CallId;
use crate::sip::Uri;

impl<E: Env> GatewayCore<E> {
    /// Places the second leg of a bridged transfer for `call` through the peer it came from.
    pub(super) fn start_bridge(
        &mut self,
        now: Instant,
        call: CallId,
        target: &str,
        from: &str,
        codec: G711,
    ) {
        let (socket, local) = match self.bind_rtp(now) {
            Ok(bound) => bound,
            Err(e) => {
                warn!(error = %e, "no RTP port for the second leg");
                return self.signal(call, CallSignal::Bridge(BridgeUpdate::Failed(None)));
            }
        };
        // Released with the call the leg serves.
        self.call_ports.entry(call).or_default().push(local.port());
        let session_id = self.rng.gen_range(1..u32::MAX as u64);
        let offer = sdp::offer(local.ip(), local.port(), session_id, &[codec], None);
        let leg = target
            .parse()
            .ok()
            .zip(from.parse().ok())
            .and_then(|(to, from): (Uri, Uri)| {
                self.endpoint
                    .invite_via(now, call, &to, &from, offer.into_bytes())
            });
        match leg {
            Some(leg) => {
                info!(?call, ?leg, %target, "calling the transfer target on a second leg");
                self.bridges.insert(leg, (call, codec, Some(socket)));
            }
            None => self.signal(call, CallSignal::Bridge(BridgeUpdate::Failed(None))),
        }
    }

    /// The second leg answered: hand its socket and media address to the call.
    pub(super) fn bridge_answered(&mut self, now: Instant, leg: CallId, answer: &[u8]) {
        let Some((a, codec, socket)) = self.bridges.get_mut(&leg) else {
            return;
        };
        let (a, codec) = (*a, *codec);
        let remote = std::str::from_utf8(answer).ok().and_then(|text| {
            sdp::accept_answer(text, &[codec], None)
                .map_err(|e| warn!(?leg, error = %e, "second leg's answer refused"))
                .ok()
                .map(|n| n.media.remote)
        });
        match (remote, socket.take()) {
            (Some(remote), Some(socket)) => {
                info!(?leg, %remote, "second leg answered");
                self.actions.push_back(CoreAction::AttachLeg(a, socket));
                self.signal(
                    a,
                    CallSignal::Bridge(BridgeUpdate::Answered { leg, remote }),
                );
            }
            _ => {
                warn!(?leg, "second leg answered without usable SDP: hanging up");
                self.bridges.remove(&leg);
                self.endpoint.hangup(now, leg);
                self.signal(a, CallSignal::Bridge(BridgeUpdate::Failed(Some(488))));
            }
        }
    }
}
