//! Call routing across several plans: which plans a peer may reach, then
//! pilots (subscriber access, auto attendants) and mailboxes.
//!
//! Ambiguity is never resolved by guessing: two matching mailboxes (or two
//! pilots) is `NotFound`, because a message in the wrong user's mailbox is the
//! worst failure a voice-mail system has. The loader rejects plan sets where
//! this can happen for a listed peer (see `lint`); it remains possible for an
//! unlisted peer, which sees every plan.

use std::net::IpAddr;

use super::model::{DialPlan, DialPlans, MailboxEntry, Resolved, Route};
use super::number::{called_keys, dialled_number, pilot_key, read_number, Reading};
use super::resolve::{normalise, parse_sip_uri};
use crate::sip::Uri;

/// True for Lync's voice-mail URI form `sip:user@domain;opaque=app:voicemail` (optionally in
/// `<...>`).
pub(crate) fn is_voicemail_uri(uri: &str) -> bool {
    let mut s = uri.trim();
    if let Some(open) = s.find('<') {
        let inner = &s[open + 1..];
        s = &inner[..inner.find('>').unwrap_or(inner.len())];
    }
    s.parse::<Uri>().is_ok_and(|u| u.is_voicemail())
}

/// The mailboxes of `plans` that `called` names; a number is read in each
/// plan's dialling context, its E.164 looked up in all of `plans`.
/// The mailboxes of `plan` an attendant target names: a mailbox `Id`, else what
/// [`mailboxes_for`] finds for it as a number or URI.
pub(crate) fn attendant_targets<'a>(plan: &'a DialPlan, target: &str) -> Vec<&'a MailboxEntry> {
    if let Some(m) = plan.mailboxes.iter().find(|m| m.id == target) {
        return vec![m];
    }
    mailboxes_for(&[plan], target)
        .into_iter()
        .map(|r| r.mailbox)
        .collect()
}

impl DialPlan {
    /// The one mailbox an attendant target (`Transfer`/`Mailbox` `Target`, an extension typed
    /// for dial-by-extension, the operator) names, if exactly one.
    pub fn mailbox_for_target(&self, target: &str) -> Option<&MailboxEntry> {
        match attendant_targets(self, target).as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

pub(crate) fn mailboxes_for<'a>(plans: &[&'a DialPlan], called: &str) -> Vec<Resolved<'a>> {
    let mut hits: Vec<Resolved<'a>> = Vec::new();
    let mut push = |r: Resolved<'a>| {
        if !hits.iter().any(|h| std::ptr::eq(h.mailbox, r.mailbox)) {
            hits.push(r);
        }
    };
    let c = normalise(called);
    if let Some(sip) = c.sip.as_ref().filter(|u| u.user.is_some()) {
        for &plan in plans {
            for mailbox in &plan.mailboxes {
                let same = mailbox
                    .sip_address
                    .as_deref()
                    .and_then(parse_sip_uri)
                    .is_some_and(|u| &u == sip);
                if same {
                    push(Resolved { plan, mailbox });
                }
            }
        }
    }
    if let Some(number) = dialled_number(called) {
        for &ctx in plans {
            match read_number(ctx, &number) {
                Reading::Extension(mailbox) => push(Resolved { plan: ctx, mailbox }),
                Reading::E164(e) => {
                    for &plan in plans {
                        for mailbox in &plan.mailboxes {
                            if mailbox.e164.as_deref() == Some(e.as_str()) {
                                push(Resolved { plan, mailbox });
                            }
                        }
                    }
                }
                Reading::Unknown => {}
            }
        }
    }
    hits
}

impl DialPlans {
    /// Routes an INVITE.
    ///
    /// `peer`: source IP of the call. `request_uri`: the INVITE's Request-URI. `diverted_from`: the
    /// user the call was for when History-Info/Diversion named one (or RFC 4458 `target=`).
    ///
    /// Candidate plans are those with a `[[Peer]]` containing `peer`, or all
    /// plans if none lists it. With `diverted_from` the call is a deposit for
    /// that user or `NotFound` (never the pilot). Otherwise: a voice-mail URI
    /// (`;opaque=app:voicemail`) is a deposit for its user; a plan pilot is
    /// subscriber access; an attendant pilot is that attendant; a user's
    /// address or number is a deposit; anything else, or anything matching
    /// two different targets, is `NotFound`.
    pub fn route(&self, peer: IpAddr, request_uri: &str, diverted_from: Option<&str>) -> Route<'_> {
        let listed: Vec<&DialPlan> = self
            .plans
            .iter()
            .filter(|p| p.peers.iter().any(|e| e.contains(peer)))
            .map(|p| &**p)
            .collect();
        let candidates = if listed.is_empty() {
            self.plans.iter().map(|p| &**p).collect()
        } else {
            listed
        };
        let deposit = |called: &str| match mailboxes_for(&candidates, called).as_slice() {
            [one] => Route::Deposit(*one),
            _ => Route::NotFound,
        };
        if let Some(user) = diverted_from {
            return deposit(user);
        }
        if is_voicemail_uri(request_uri) {
            return deposit(request_uri);
        }
        let keys = called_keys(&candidates, request_uri);
        let is_hit = |plan: &DialPlan, pilots: &[String]| {
            pilots
                .iter()
                .any(|p| pilot_key(plan, p).is_some_and(|k| keys.contains(&k)))
        };
        let mut pilots = Vec::new();
        for &plan in &candidates {
            if is_hit(plan, &plan.pilot_identifiers) {
                pilots.push(Route::SubscriberAccess { plan });
            }
            for attendant in &plan.auto_attendants {
                if is_hit(plan, &attendant.pilot_identifiers) {
                    pilots.push(Route::AutoAttendant { plan, attendant });
                }
            }
        }
        match pilots.as_slice() {
            [] => deposit(request_uri),
            [one] => *one,
            _ => Route::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::load_files;
    use std::path::Path;

    const CONTOSO: &str = include_str!("../../dialplans/contoso-lync.toml");
    const PBX: &str = include_str!("../../dialplans/pbx-extensions.toml");

    proptest::proptest! {
        #[test]
        fn route_never_panics(
            ip: std::net::IpAddr,
            s in "\\PC*",
            t in "[sipte:l<>@;=+0-9a-z()\\-. %]{0,30}",
            d in proptest::option::of("[sipte:l<>@;+0-9a-z]{0,20}"),
        ) {
            let plans = load_files([
                (Path::new("a.toml"), CONTOSO),
                (Path::new("b.toml"), PBX),
            ]).unwrap();
            let _ = plans.route(ip, &s, d.as_deref());
            let _ = plans.route(ip, &t, None);
        }
    }

    #[test]
    fn voicemail_uri() {
        assert!(is_voicemail_uri(
            "sip:alice@contoso.com;opaque=app:voicemail"
        ));
        assert!(is_voicemail_uri(
            "<sips:bob@contoso.com;transport=tls;OPAQUE=app:VoiceMail>"
        ));
        assert!(!is_voicemail_uri("sip:alice@contoso.com"));
        assert!(!is_voicemail_uri("sip:alice@contoso.com;opaque=app:conf"));
        assert!(!is_voicemail_uri(
            "sip:alice;opaque=app:voicemail@contoso.com"
        ));
        assert!(!is_voicemail_uri(
            "sip:alice@contoso.com?x=;opaque=app:voicemail"
        ));
    }
}
