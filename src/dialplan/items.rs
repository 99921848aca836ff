//! The `[[Mailbox]]` and `[[Peer]]` tables of a plan,
//! and pilot identifier checks.

use std::ops::Range;

use jiff::tz::TimeZone;
use toml::Spanned;

use super::model::{LanguageKey, MailboxEntry, PeerEntry, Severity, VoipSecurity};
use super::parse::{check_id, Ctx, MailboxPos, Node, Pos, Table};
use super::resolve::{normalise, parse_sip_uri};
use super::values::is_host_name;
use crate::acl;

const MAILBOX_KEYS: &[&str] = &[
    "Id",
    "Extension",
    "E164",
    "SipAddress",
    "DisplayName",
    "NotifyTarget",
    "TimeZone",
    "VoiceMailPreviewEnabled",
    "NotifyEmail",
    "NotifyEmailAttachAudio",
    "Language",
];

const PEER_KEYS: &[&str] = &["Address", "Name", "CertificateName"];

pub(crate) type Entries = [(Spanned<String>, Spanned<Node>)];

/// The tables of a `[[key]]` array; anything else is reported.
pub(crate) fn array_of_tables<'n>(
    cx: &mut Ctx<'_>,
    key: &str,
    node: Option<&'n Spanned<Node>>,
) -> Vec<(Range<usize>, &'n Entries)> {
    let mut out = Vec::new();
    match node.map(|n| (n.span(), n.get_ref())) {
        None => {}
        Some((_, Node::Array(items))) => {
            for item in items {
                match item.get_ref() {
                    Node::Table(e) => out.push((item.span(), e.as_slice())),
                    other => {
                        let msg = format!("each {key} must be a table, found {}", other.kind());
                        cx.error(item.span(), msg);
                    }
                }
            }
        }
        Some((span, other)) => {
            let msg = format!(
                "{key} must be an array of tables ([[{key}]]), found {}",
                other.kind()
            );
            cx.error(span, msg);
        }
    }
    out
}

/// A pilot is a number (`+E.164` or digits, separators allowed) or a
/// `sip:`/`sips:`/`tel:` URI. Reports and returns false otherwise.
pub(crate) fn check_pilot(cx: &mut Ctx<'_>, key: &str, p: &Spanned<String>) -> bool {
    let s = p.get_ref();
    let c = normalise(s);
    let problem = if c.number.is_none() && c.sip.as_ref().is_none_or(|u| u.user.is_none()) {
        Some("is not a number or a sip:/sips:/tel: URI with a user")
    } else if c.number.as_deref().is_some_and(|n| {
        n.strip_prefix('+')
            .is_some_and(|d| !(8..=15).contains(&d.len()))
    }) {
        Some("is not a valid E.164 number (+ and 8 to 15 digits)")
    } else {
        None
    };
    if let Some(problem) = problem {
        cx.error(p.span(), format!("{key} entry \"{s}\" {problem}"));
    }
    problem.is_none()
}

/// What a mailbox takes from its plan where it has no key of its own.
pub(crate) struct PlanDefaults<'a> {
    /// `TimeZone`.
    pub zone: &'a TimeZone,
    /// `VoiceMailPreviewEnabled`.
    pub preview: bool,
    /// `DefaultLanguage`.
    pub language: LanguageKey,
}

pub(crate) fn parse_mailbox(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    entries: &Entries,
    digits: Option<usize>,
    cc: Option<&Spanned<String>>,
    plan: &PlanDefaults<'_>,
) -> Option<(MailboxEntry, MailboxPos)> {
    let mut t = Table::new(" in [[Mailbox]]", span.clone(), entries);
    let id = t.string(cx, "Id", true);
    let ext = t.string(cx, "Extension", true);
    let e164 = t.string(cx, "E164", false);
    let sip = t.string(cx, "SipAddress", false);
    let display = t.string(cx, "DisplayName", false);
    let notify = t.string(cx, "NotifyTarget", false);
    let time_zone = t.time_zone(cx, "TimeZone");
    let preview = t.bool(cx, "VoiceMailPreviewEnabled", plan.preview);
    let email = t.string(cx, "NotifyEmail", false);
    let email_audio = t.optional_bool(cx, "NotifyEmailAttachAudio");
    let language = t.language(cx, "Language").unwrap_or(plan.language);
    t.finish(cx, MAILBOX_KEYS);

    if let Some(id) = &id {
        check_id(cx, "Id", id);
    }
    if let Some(x) = &ext {
        let s = x.get_ref();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            cx.error(
                x.span(),
                format!("extension \"{s}\" must contain only digits 0-9"),
            );
        } else if let Some(n) = digits.filter(|&n| n != s.len()) {
            let msg = format!(
                "extension \"{s}\" has {} digits; NumberOfDigitsInExtension is {n}",
                s.len()
            );
            cx.error(x.span(), msg);
        }
    }
    if let Some(e) = &e164 {
        let s = e.get_ref();
        let digits = s.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || s.len() == digits.len()
        {
            cx.error(
                e.span(),
                format!("E164 \"{s}\" must be + followed by 8 to 15 digits"),
            );
        } else if let Some(cc) = cc.filter(|cc| !digits.starts_with(cc.get_ref().as_str())) {
            let msg = format!("E164 \"{s}\" does not start with CountryOrRegionCode {}; national dialled forms will not reach it", cc.get_ref());
            cx.report(Severity::Warning, e.span(), msg);
        }
    }
    if let Some(s) = &sip {
        if parse_sip_uri(s.get_ref()).and_then(|u| u.user).is_none() {
            let msg = format!(
                "SipAddress \"{}\" is not a sip: or sips: URI with user@host",
                s.get_ref()
            );
            cx.error(s.span(), msg);
        }
    }
    if let Some(n) = &notify {
        if parse_sip_uri(n.get_ref()).is_none() {
            let msg = format!(
                "NotifyTarget \"{}\" is not a sip: or sips: URI",
                n.get_ref()
            );
            cx.error(n.span(), msg);
        }
    }
    if let Some(e) = &email {
        if !crate::email::is_address(e.get_ref()) {
            let msg = format!(
                "NotifyEmail \"{}\" is not an e-mail address (user@domain)",
                e.get_ref()
            );
            cx.error(e.span(), msg);
        }
    }
    if let (None, Some(a)) = (&email, &email_audio) {
        cx.report(
            Severity::Warning,
            a.span(),
            "NotifyEmailAttachAudio without NotifyEmail has no effect".to_string(),
        );
    }
    if let Some(d) = &display {
        // It is copied into SIP and MIME headers: CR/LF would inject headers.
        if d.get_ref().chars().any(char::is_control) {
            cx.error(
                d.span(),
                "DisplayName must not contain control characters".to_string(),
            );
        }
    }
    let (id, ext) = (id?, ext?);
    let pos = MailboxPos {
        id: cx.pos(id.span()),
        extension: cx.pos(ext.span()),
        e164: e164.as_ref().map(|e| cx.pos(e.span())).unwrap_or_default(),
        sip_address: sip.as_ref().map(|s| cx.pos(s.span())).unwrap_or_default(),
    };
    let entry = MailboxEntry {
        id: id.into_inner(),
        extension: ext.into_inner(),
        e164: e164.map(Spanned::into_inner),
        sip_address: sip.map(Spanned::into_inner),
        display_name: display.map(Spanned::into_inner),
        notify_target: notify.map(Spanned::into_inner),
        time_zone: time_zone.unwrap_or_else(|| plan.zone.clone()),
        voice_mail_preview: preview,
        notify_email: email.map(|e| crate::email::Recipient {
            address: e.into_inner(),
            attach_audio: email_audio.map(Spanned::into_inner),
        }),
        language,
        line: cx.pos(span).line,
    };
    Some((entry, pos))
}

pub(crate) fn parse_peer(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    entries: &Entries,
    security: VoipSecurity,
) -> Option<(PeerEntry, Pos)> {
    let mut t = Table::new(" in [[Peer]]", span.clone(), entries);
    let address = t.string(cx, "Address", true);
    let name = t.string(cx, "Name", false);
    let cert = t.string(cx, "CertificateName", false);
    t.finish(cx, PEER_KEYS);
    if let Some(n) = name
        .as_ref()
        .filter(|n| n.get_ref().chars().any(char::is_control))
    {
        cx.error(
            n.span(),
            "Peer Name must not contain control characters".to_string(),
        );
    }
    if let Some(c) = cert.as_ref().filter(|c| !is_host_name(c.get_ref())) {
        let msg = format!(
            "CertificateName \"{}\" must be the peer's FQDN, without wildcards (Lync and Exchange reject wildcard certificates)",
            c.get_ref()
        );
        cx.error(c.span(), msg);
    }
    let address = address?;
    let network = match acl::parse_network(address.get_ref()) {
        Ok(v) => v,
        Err(e) => {
            cx.error(address.span(), format!("Peer Address {e}"));
            return None;
        }
    };
    let peer = PeerEntry {
        network,
        name: name.map(Spanned::into_inner),
        certificate_name: cert.map(|c| c.into_inner().to_ascii_lowercase()),
        line: cx.pos(span.clone()).line,
    };
    if security.needs_tls() && peer.certificate_name.is_none() {
        let name = security.name();
        let msg = format!(
            "Peer {peer} has no CertificateName; VoIPSecurity \"{name}\" needs mutual TLS, so name the FQDN its certificate carries"
        );
        cx.report(Severity::Warning, span, msg);
    }
    Some((peer, cx.pos(address.span())))
}
