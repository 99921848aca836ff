//! A transfer a call asked for (attendant keys, the operator, dial by extension, subscriber
//! call-back), until it is known to have worked or failed: a REFER, and when the caller's
//! side does not do REFER, a second leg bridged by us (B2BUA). The one place that decides
//! what a REFER answer, a transfer NOTIFY or a second leg's fate means. Sans-IO: it asks for
//! what it needs through [`CallRequest`]s.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{BridgeUpdate, CallRequest, Event, TransferUpdate};
use crate::dialplan::{DialPlan, DialRefused, Dialing};
use crate::media::g711::G711;
use crate::sip::endpoint::CallId;

/// A transfer in progress.
#[derive(Debug)]
pub(crate) struct PendingTransfer {
    pub target: String,
    refer_to: String,
    referred_by: String,
    deadline: Instant,
    bridging: bool,
}

/// What became of a pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferResult {
    /// The call server moved the caller (REFER): our part is over.
    Done,
    Failed,
    /// The target answered our second leg: relay media until one side hangs up.
    Bridged {
        leg: CallId,
        remote: SocketAddr,
    },
}

/// REFER refusals that mean "this peer does not do REFER" (rather than "not this target"):
/// worth a bridged second leg.
const NO_REFER: [u16; 4] = [405, 420, 489, 501];

impl PendingTransfer {
    /// How long a transfer the peer accepted may take before it counts as failed (the
    /// target's phone rings out in about 30 s on Lync and most PBXs).
    const TIMEOUT: Duration = Duration::from_secs(60);

    /// Transfers the caller to `target` (an extension, number or URI of `plan`) if the plan's
    /// dialing rules allow it: the one check every transfer to an outside number passes
    /// (attendant keys, subscriber call-back). An allowed outside number is dialled as its
    /// group rewrites it; a refused one is logged and never dialled.
    pub fn place(
        now: Instant,
        plan: &DialPlan,
        target: String,
        pilot_uri: &str,
        out: &mut Vec<CallRequest>,
    ) -> Result<Self, DialRefused> {
        let refer_to = match plan.outside_dialing(&target) {
            Ok(Dialing::Allowed { group, number }) => {
                tracing::info!(%target, %group, dialled = %number, "outside number allowed by the dialing rules");
                number_uri(plan, &number, pilot_uri)
            }
            Ok(Dialing::Inside | Dialing::Unrestricted) => refer_target(plan, &target, pilot_uri),
            Err(why) => {
                tracing::warn!(%target, %why, plan = %plan.name, "transfer refused by the dial plan's dialing rules: not dialled");
                return Err(why);
            }
        };
        Ok(Self::start(now, target, refer_to, pilot_uri, out))
    }

    /// Asks for the caller to be referred to `refer_to` (the transfer of `target`).
    pub fn start(
        now: Instant,
        target: String,
        refer_to: String,
        referred_by: &str,
        out: &mut Vec<CallRequest>,
    ) -> Self {
        tracing::info!(%target, %refer_to, "transferring the caller (REFER)");
        out.push(CallRequest::Transfer {
            refer_to: refer_to.clone(),
            referred_by: referred_by.to_owned(),
        });
        Self {
            target,
            refer_to,
            referred_by: referred_by.to_owned(),
            deadline: now + Self::TIMEOUT,
            bridging: false,
        }
    }

    /// The earlier of a flow's own deadline and that of `transfer`, if one is pending.
    pub fn earliest(flow: Option<Instant>, transfer: Option<&PendingTransfer>) -> Option<Instant> {
        match (flow, transfer) {
            (Some(a), Some(t)) => Some(a.min(t.deadline)),
            (a, t) => a.or(t.map(|t| t.deadline)),
        }
    }

    /// News of the transfer pending in `slot` (if any): its outcome, once known.
    pub fn news(
        slot: &mut Option<PendingTransfer>,
        now: Instant,
        codec: G711,
        news: Event,
        out: &mut Vec<CallRequest>,
    ) -> Option<TransferResult> {
        let t = slot.as_mut()?;
        match news {
            Event::Transfer(update) => t.update(now, codec, update, out),
            Event::Bridge(update) => t.bridge(update),
            _ => None,
        }
    }

    /// The outcome a REFER update tells, if it tells one. A peer that does not do REFER gets
    /// a bridged second leg instead (`bridge` then reports).
    pub fn update(
        &mut self,
        now: Instant,
        codec: G711,
        update: TransferUpdate,
        out: &mut Vec<CallRequest>,
    ) -> Option<TransferResult> {
        use TransferUpdate::{Accepted, Progress, Refused};
        let target = &self.target;
        match update {
            Accepted | Progress(100..=199) => None,
            Progress(200..=299) => {
                tracing::info!(%target, "transfer completed");
                Some(TransferResult::Done)
            }
            Refused(Some(code)) if NO_REFER.contains(&code) && !self.bridging => {
                tracing::info!(%target, code, "the peer does not accept REFER: bridging a second leg");
                self.bridging = true;
                self.deadline = now + Self::TIMEOUT;
                out.push(CallRequest::Bridge {
                    target: self.refer_to.clone(),
                    from: self.referred_by.clone(),
                    codec,
                });
                None
            }
            Progress(code) | Refused(Some(code)) => {
                tracing::info!(%target, code, "transfer failed");
                Some(TransferResult::Failed)
            }
            Refused(None) => {
                tracing::info!(%target, "transfer failed: REFER not answered");
                Some(TransferResult::Failed)
            }
        }
    }

    /// The outcome news of the second leg tells.
    pub fn bridge(&mut self, update: BridgeUpdate) -> Option<TransferResult> {
        let target = &self.target;
        match update {
            BridgeUpdate::Answered { leg, remote } => {
                tracing::info!(%target, "transfer completed on a bridged leg");
                Some(TransferResult::Bridged { leg, remote })
            }
            BridgeUpdate::Failed(status) => {
                tracing::info!(%target, ?status, "transfer failed: second leg not answered");
                Some(TransferResult::Failed)
            }
            BridgeUpdate::Ended => Some(TransferResult::Failed),
        }
    }

    /// True once the transfer has taken too long.
    pub fn expired(&self, now: Instant) -> bool {
        if now >= self.deadline {
            tracing::warn!(target = %self.target, "transfer not completed in time");
            return true;
        }
        false
    }
}

/// The URI a transfer to `target` goes to: a mailbox's SIP address (Lync users), else its
/// number or the number itself at the plan's domain (or the pilot's host), `user=phone`.
pub(crate) fn refer_target(plan: &DialPlan, target: &str, pilot_uri: &str) -> String {
    if let Some(m) = plan.mailbox_for_target(target) {
        if let Some(sip) = &m.sip_address {
            return sip.clone();
        }
        return number_uri(plan, m.e164.as_deref().unwrap_or(&m.extension), pilot_uri);
    }
    let lower = target.to_ascii_lowercase();
    if ["sip:", "sips:", "tel:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return target.to_owned();
    }
    number_uri(plan, target, pilot_uri)
}

/// `sip:NUMBER@host;user=phone` for `number` (separators dropped) at the plan's domain, else
/// the pilot's host.
fn number_uri(plan: &DialPlan, number: &str, pilot_uri: &str) -> String {
    let host = plan.domain.clone().unwrap_or_else(|| uri_host(pilot_uri));
    let number: String = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    format!("sip:{number}@{host};user=phone")
}

/// `host[:port]` of a `sip:user@host;params` URI (empty if there is none).
fn uri_host(uri: &str) -> String {
    uri.parse::<crate::sip::Uri>()
        .ok()
        .and_then(|u| u.host_port())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_targets() {
        let text = "Name = \"c\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n[[Mailbox]]\nId = \"bob\"\nExtension = \"1002\"\nE164 = \"+14255551002\"\n[[Mailbox]]\nId = \"carol\"\nExtension = \"1003\"\n";
        let plan = crate::dialplan::load_str(std::path::Path::new("p.toml"), text).unwrap();
        let pilot = "sip:5000@pbx.example.net:5060;user=phone";
        assert_eq!(refer_target(&plan, "1001", pilot), "sip:alice@contoso.com");
        assert_eq!(
            refer_target(&plan, "bob", pilot),
            "sip:+14255551002@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "1003", pilot),
            "sip:1003@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "+1 425 555 0199", pilot),
            "sip:+14255550199@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "sip:desk@elsewhere.net", pilot),
            "sip:desk@elsewhere.net"
        );
    }

    #[test]
    fn place_refers_allowed_numbers_rewritten_and_never_dials_refused_ones() {
        let text = "Name = \"c\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\nConfiguredInCountryOrRegionGroups = [{ Name = \"Local\", NumberMask = \"425xxxxxxx\", DialedNumber = \"91425xxxxxxx\" }]\nAllowedInCountryOrRegionGroups = [\"Local\"]\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n";
        let plan = crate::dialplan::load_str(std::path::Path::new("p.toml"), text).unwrap();
        let (t0, pilot) = (Instant::now(), "sip:5000@pbx.example.net");
        let mut out = Vec::new();
        let refer_to = |out: &mut Vec<CallRequest>| match out.pop() {
            Some(CallRequest::Transfer { refer_to, .. }) => refer_to,
            other => panic!("{other:?}"),
        };
        let t = PendingTransfer::place(t0, &plan, "+1 425 555 0123".into(), pilot, &mut out);
        assert_eq!(t.unwrap().target, "+1 425 555 0123");
        assert_eq!(
            refer_to(&mut out),
            "sip:914255550123@contoso.com;user=phone"
        );
        PendingTransfer::place(t0, &plan, "1001".into(), pilot, &mut out).unwrap();
        assert_eq!(refer_to(&mut out), "sip:alice@contoso.com");
        for refused in ["+442079460123", "+19005550123"] {
            assert!(PendingTransfer::place(t0, &plan, refused.into(), pilot, &mut out).is_err());
            assert!(out.is_empty(), "{refused} was dialled");
        }
    }

    #[test]
    fn a_peer_without_refer_gets_a_bridged_leg_and_its_answer_completes_the_transfer() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut t = PendingTransfer::start(
            t0,
            "1001".into(),
            "sip:alice@contoso.com".into(),
            "sip:aa@x",
            &mut out,
        );
        assert!(matches!(out.pop(), Some(CallRequest::Transfer { .. })));
        assert_eq!(
            t.update(t0, G711::Pcma, TransferUpdate::Refused(Some(501)), &mut out),
            None
        );
        assert!(matches!(
            out.pop(),
            Some(CallRequest::Bridge {
                codec: G711::Pcma,
                ..
            })
        ));
        let remote = "192.0.2.4:7000".parse().unwrap();
        assert_eq!(
            t.bridge(BridgeUpdate::Answered {
                leg: CallId(9),
                remote
            }),
            Some(TransferResult::Bridged {
                leg: CallId(9),
                remote
            })
        );
        assert!(!t.expired(t0 + Duration::from_secs(59)));
        assert!(t.expired(t0 + Duration::from_secs(61)));
    }
}
