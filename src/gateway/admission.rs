//! Whether and how to take a new call: a pure function of the INVITE, where it came from, the
//! dial plans, the config and the gateway's conditions (draining, free disk). The peer ACL
//! was applied by the endpoint already (untrusted peers get a stateless 403 there).
//!
//! In order: shutting down (503), disk (503), who the call is for and the dial-plan route
//! (404), the plan's transport security (403), the SDP offer (415 / 488 with what was wrong).
//! A refusal carries its status and explanation headers, among them the `ms-diagnostics` reason
//! (`sip::endpoint::Diagnostic`: one code per reason, tabled in docs/OPERATIONS.md); reason
//! phrases come from `sip::StatusCode`, the one place for them.

use tracing::{error, info, warn};

use super::call::{deposit_limits, FlowSetup};
use crate::config::Config;
use crate::dialplan::{DialPlans, Route, VoipSecurity};
use crate::sdp;
use crate::sip::endpoint::{Diagnostic, Explanation};
use crate::sip::headers;
use crate::sip::message::{self, Message};
use crate::sip::{Remote, StatusCode, Uri};

/// What the gateway's state says about taking calls now.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Conditions {
    /// Shutting down: no new calls.
    pub draining: bool,
    /// Free bytes on the spool's file system, if known.
    pub spool_free: Option<u64>,
}

/// A call the gateway takes, and what for.
#[derive(Debug, Clone)]
pub(crate) struct CallPlan {
    pub flow: FlowSetup,
    /// How the call's log lines name it: the mailbox, or the service.
    pub label: String,
    pub plan_name: String,
    pub called: String,
    pub caller: Option<String>,
    pub caller_name: Option<String>,
    /// Diverted because the called user was busy: a deposit plays the busy greeting.
    pub busy: bool,
    /// How media must be protected under the plan's VoIPSecurity.
    pub policy: sdp::MediaSecurity,
    /// The SDP offer to answer (one part of a Lync multipart body); `None` for an INVITE
    /// without a body (a delayed offer: our 200 offers, the ACK answers).
    pub offer: Option<String>,
}

/// A call the gateway refuses: the final response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reject {
    pub code: u16,
    pub why: Explanation,
}

impl Reject {
    pub(crate) fn new(code: u16) -> Self {
        Reject {
            code,
            why: Explanation::default(),
        }
    }

    /// A refusal with `code` for the reason `diagnostic` names.
    fn because(code: u16, diagnostic: Diagnostic) -> Self {
        Reject {
            code,
            why: Explanation {
                diagnostic: Some(diagnostic),
                ..Explanation::default()
            },
        }
    }

    /// The status to send.
    pub fn status(&self) -> StatusCode {
        StatusCode(self.code)
    }

    /// A refused offer: 488 with a Warning saying what was wrong with it, 415 with the
    /// bodies we take, 400 for a body that does not parse.
    fn offer(e: &sdp::SdpError) -> Self {
        let code = e.status_code();
        info!(error = %e, code, "SDP offer refused");
        let diagnostic = match e {
            sdp::SdpError::Malformed { .. } | sdp::SdpError::BadMultipart { .. } => {
                Diagnostic::MalformedSdp
            }
            sdp::SdpError::UnsupportedBody { .. } => Diagnostic::NotSdp,
            // Admission reads offers only; an answer's error has no refusal of its own.
            sdp::SdpError::BadAnswer { .. } => Diagnostic::for_status(StatusCode(code)),
            sdp::SdpError::NoAudio => Diagnostic::NoAudio,
            sdp::SdpError::NoCommonCodec { .. } => Diagnostic::NoCommonCodec,
            sdp::SdpError::NoSecureMedia { .. } => Diagnostic::NoSecureMedia,
        };
        Reject {
            code,
            why: Explanation {
                warning: e.warning(),
                accept: (code == 415).then_some(sdp::ACCEPT),
                diagnostic: Some(diagnostic),
            },
        }
    }
}

/// Decides about the INVITE `request` that `remote` sent.
pub(crate) fn admit(
    request: &Message,
    remote: &Remote,
    plans: &DialPlans,
    config: &Config,
    conditions: Conditions,
) -> Result<CallPlan, Reject> {
    if conditions.draining {
        info!("shutting down: 503 for a new call");
        return Err(Reject::because(503, Diagnostic::ShuttingDown));
    }
    let min_free = config.call.min_free_disk_mb.saturating_mul(1024 * 1024);
    if let Some(free) = conditions.spool_free {
        if free < min_free {
            error!(
                free_mb = free / (1024 * 1024),
                min_mb = config.call.min_free_disk_mb,
                "disk almost full: 503 for a new call"
            );
            return Err(Reject::because(503, Diagnostic::DiskFull));
        }
    }
    let ruri = request.request_uri().unwrap_or_default().to_owned();
    let divert = diverted_from(request);
    let busy = divert.as_ref().is_some_and(|d| d.busy);
    let diverted = divert.map(|d| d.user);
    let called = diverted.clone().unwrap_or_else(|| ruri.clone());
    let caller_header = request
        .header("P-Asserted-Identity")
        .or_else(|| request.header("From"))
        .unwrap_or("");
    let caller = caller_number(message::uri_of(caller_header));
    let caller_name = message::display_name_of(caller_header);
    let (plan, flow) = match plans.route(remote.addr.ip(), &ruri, diverted.as_deref()) {
        // A user calling their own voice mail (Lync's "Call Voice Mail": their own
        // `;opaque=app:voicemail` URI, nothing diverting from someone else) signs in, as with
        // Exchange UM: subscriber access for that mailbox, PIN asked.
        Route::Deposit(resolved) if diverted.is_none() && is_own(plans, &caller, &resolved) => {
            info!(mailbox = %resolved.mailbox.id, "a user calling their own voice mail: subscriber access");
            let flow = FlowSetup::Subscriber {
                plan: shared(plans, resolved.plan),
                known: Some(resolved.mailbox.clone()),
                pilot_uri: ruri.clone(),
            };
            (resolved.plan, flow)
        }
        Route::Deposit(resolved) => (
            resolved.plan,
            FlowSetup::Deposit {
                mailbox: resolved.mailbox.clone(),
                limits: deposit_limits(resolved.plan),
                plan: shared(plans, resolved.plan),
                called: ruri.clone(),
            },
        ),
        Route::SubscriberAccess { plan } => {
            // Caller ID that is one of this plan's users skips the extension question.
            let known = caller
                .as_deref()
                .and_then(|c| plans.resolve(c))
                .filter(|r| r.plan.name == plan.name)
                .map(|r| r.mailbox.clone());
            let flow = FlowSetup::Subscriber {
                plan: shared(plans, plan),
                known,
                pilot_uri: ruri.clone(),
            };
            (plan, flow)
        }
        Route::AutoAttendant { plan, attendant } => {
            let index = plan
                .auto_attendants
                .iter()
                .position(|a| std::ptr::eq(a, attendant))
                .unwrap_or_default();
            let flow = FlowSetup::Attendant {
                plan: shared(plans, plan),
                index,
                pilot_uri: ruri.clone(),
            };
            (plan, flow)
        }
        Route::NotFound => {
            info!(%called, %ruri, peer = %remote.addr, "no mailbox for called party: 404");
            return Err(Reject::because(404, Diagnostic::NoMailbox));
        }
    };
    let (security, plan_name) = (plan.voip_security, plan.name.clone());
    if security.needs_tls() && !remote.transport.is_secure() {
        info!(
            plan = %plan_name, security = security.name(), peer = %remote.addr,
            "dial plan requires TLS; call arrived unencrypted: 403"
        );
        return Err(Reject::because(403, Diagnostic::TlsRequired));
    }
    let label = match &flow {
        FlowSetup::Deposit { mailbox, .. } => mailbox.id.clone(),
        FlowSetup::Subscriber { .. } => "subscriber-access".to_owned(),
        FlowSetup::Attendant { .. } => "auto-attendant".to_owned(),
        // Never admitted from an INVITE: the gateway places these calls itself.
        FlowSetup::Play(t) => t.mailbox.id.clone(),
    };
    // Every later line of this call carries the mailbox.
    tracing::Span::current().record("mailbox", label.as_str());
    let policy = media_policy(security);
    let offer = sdp_offer(request, policy).map_err(|e| Reject::offer(&e))?;
    // Whether the offer can be answered at all; the answer itself is written once the call
    // has its port.
    if let Some(offer) = &offer {
        sdp::negotiate_secure(offer, config.media.address, 0, 0, policy, &[0; 30])
            .map_err(|e| Reject::offer(&e))?;
    }
    Ok(CallPlan {
        flow,
        label,
        plan_name,
        called,
        caller,
        caller_name,
        busy,
        policy,
        offer,
    })
}

/// Whether the caller is the user whose mailbox the call reached.
fn is_own(
    plans: &DialPlans,
    caller: &Option<String>,
    called: &crate::dialplan::Resolved<'_>,
) -> bool {
    caller
        .as_deref()
        .and_then(|c| plans.resolve(c))
        .is_some_and(|r| r.plan.name == called.plan.name && r.mailbox.id == called.mailbox.id)
}

/// The plan a route returned, shared with the call (the routes come from these plans).
fn shared(
    plans: &DialPlans,
    plan: &crate::dialplan::DialPlan,
) -> std::sync::Arc<crate::dialplan::DialPlan> {
    plans
        .shared(plan)
        .unwrap_or_else(|| std::sync::Arc::new(plan.clone()))
}

/// How media must be protected under a dial plan's VoIPSecurity. Secured demands SRTP (a plain
/// RTP offer gets 488). The other modes answer SRTP when that is all the peer offers, since a
/// Lync pool requires encryption by default and refusing it would fail every call.
pub(super) fn media_policy(security: VoipSecurity) -> sdp::MediaSecurity {
    match security {
        VoipSecurity::Secured => sdp::MediaSecurity::SrtpRequired,
        VoipSecurity::SipSecured | VoipSecurity::Unsecured => sdp::MediaSecurity::SrtpOptional,
    }
}

/// The SDP offer of an INVITE (one part of a Lync multipart body), `None` when it has no body
/// (a delayed offer), or why it cannot be had.
fn sdp_offer(
    request: &Message,
    policy: sdp::MediaSecurity,
) -> Result<Option<String>, sdp::SdpError> {
    if request.body.is_empty() {
        return Ok(None);
    }
    let ctype = request.header("Content-Type").unwrap_or("application/sdp");
    sdp::select_offer_for(ctype, &request.body, policy).map(Some)
}

/// Who a diverted call was for, and whether it was diverted because they were busy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diverted {
    /// The user's URI.
    pub user: String,
    /// The user was busy: History-Info cause 486 (the user's entry's Reason, or an RFC 4458
    /// `cause=` on a later entry), Diversion `reason=user-busy`, or the Request-URI's RFC 4458
    /// `cause=486`.
    pub busy: bool,
}

/// The user a diverted call was for: History-Info (RFC 7044), else Diversion (RFC 5806), else
/// the Request-URI's RFC 4458 `target`. `None` for a direct call (to a pilot, or to a user's
/// own voice-mail URI).
pub fn diverted_from(request: &Message) -> Option<Diverted> {
    let ruri = request.request_uri().unwrap_or_default();
    let ruri_busy = headers::cause_from_uri_params(ruri) == Some(headers::CAUSE_BUSY);
    let hi: Vec<&str> = request.headers_named("History-Info").collect();
    if !hi.is_empty() {
        match headers::parse_history_info(&hi) {
            Ok(entries) => {
                if let Some(e) = headers::called_from_history_info(&entries) {
                    let busy = e.cause == Some(headers::CAUSE_BUSY)
                        || entries
                            .iter()
                            .any(|x| x.uri.cause() == Some(headers::CAUSE_BUSY));
                    return Some(Diverted {
                        user: e.uri.to_string(),
                        busy: busy || ruri_busy,
                    });
                }
            }
            Err(e) => warn!(error = %e, "ignoring unparseable History-Info"),
        }
    }
    let div: Vec<&str> = request.headers_named("Diversion").collect();
    if !div.is_empty() {
        match headers::parse_diversion(&div) {
            Ok(entries) => {
                if let Some(e) = headers::called_from_diversion(&entries) {
                    let busy = e
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case(headers::REASON_USER_BUSY));
                    return Some(Diverted {
                        user: e.uri.to_string(),
                        busy: busy || ruri_busy,
                    });
                }
            }
            Err(e) => warn!(error = %e, "ignoring unparseable Diversion"),
        }
    }
    headers::target_from_uri_params(ruri).map(|user| Diverted {
        user,
        busy: ruri_busy,
    })
}

/// The caller as a number where the URI's user part is one, else the URI.
fn caller_number(uri: &str) -> Option<String> {
    Uri::caller_id(uri)
}

#[cfg(test)]
#[path = "admission_test.rs"]
mod tests;
