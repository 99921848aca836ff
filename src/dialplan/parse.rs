//! Reading one plan file into a validated `DialPlan`, collecting every error.
//!
//! serde's `deny_unknown_fields` stops at the first problem, and an operator
//! fixing a file one error per run is the failure we want to avoid. So the
//! TOML is first read into a generic tree that keeps a span on every key and
//! value (`toml::Spanned`), and the schema — required keys, unknown keys
//! (the `deny_unknown_fields` rule), types, value checks — is applied by hand,
//! reporting all findings with their line and column.

use std::ops::RangeInclusive;
use std::path::Path;

use jiff::tz::TimeZone;
use toml::Spanned;

use super::attendant::parse_attendant;
use super::items::{array_of_tables, parse_mailbox, parse_peer, PlanDefaults};
use super::model::{AudioCodec, Diagnostic, DialPlan, NameOrder, Severity, UriType, VoipSecurity};
use super::resolve::parse_sip_uri;
pub(crate) use super::table::{Ctx, Node, Pos, Table};
use super::table::{MILLIS, MINUTES, SECONDS};
use crate::domain::PinPolicy;

/// Positions of a mailbox's unique keys: Id, Extension, E164, SipAddress.
#[derive(Debug, Clone, Default)]
pub(crate) struct MailboxPos {
    pub id: Pos,
    pub extension: Pos,
    pub e164: Pos,
    pub sip_address: Pos,
}

/// Positions of an attendant's name, pilots (one per kept pilot) and operator.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttendantPos {
    pub name: Pos,
    pub pilots: Vec<Pos>,
    pub operator: Pos,
    /// Every `Target` of a `Transfer` or `Mailbox` key, for the mailbox checks.
    pub targets: Vec<TargetPos>,
}

/// Where a key mapping's target is written, and whether it must be a mailbox.
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetPos {
    pub pos: Pos,
    pub target: String,
    /// `Mailbox` action: the target must be exactly one mailbox of the plan.
    pub must_be_mailbox: bool,
}

/// A plan with the positions the cross-plan checks need.
#[derive(Debug)]
pub(crate) struct ParsedPlan {
    /// False if the file had errors: use `plan` for duplicate checks only.
    pub ok: bool,
    pub plan: DialPlan,
    pub name_pos: Pos,
    pub mailbox_pos: Vec<MailboxPos>,
    /// One per `plan.pilot_identifiers` entry.
    pub pilot_pos: Vec<Pos>,
    pub attendant_pos: Vec<AttendantPos>,
    /// Position of each peer's `Address` value.
    pub peer_pos: Vec<Pos>,
    pub operator_pos: Pos,
}

const PLAN_KEYS: &[&str] = &[
    "Name",
    "UriType",
    "NumberOfDigitsInExtension",
    "CountryOrRegionCode",
    "NationalNumberPrefix",
    "InternationalAccessCode",
    "OutsideLineAccessCode",
    "Domain",
    "PilotIdentifiers",
    "VoIPSecurity",
    "MaxCallDuration",
    "MaxRecordingDuration",
    "RecordingIdleTimeout",
    "MinimumMessageDuration",
    "InputFailuresBeforeDisconnect",
    "MinPINLength",
    "PINHistoryCount",
    "AllowCommonPatterns",
    "MaxLogonAttempts",
    "PINLifetime",
    "OperatorExtension",
    "DefaultLanguage",
    "TimeZone",
    "AudioCodec",
    "VoiceMailPreviewEnabled",
    "DialByNamePrimary",
    "DialByNameSecondary",
    "ConfiguredInCountryOrRegionGroups",
    "ConfiguredInternationalGroups",
    "AllowedInCountryOrRegionGroups",
    "AllowedInternationalGroups",
    "CallerReviewEnabled",
    "FaxServerURI",
    "FaxDetectionWindow",
    "Mailbox",
    "AutoAttendant",
    "Peer",
];

/// `"secured"` for `"Secured"`: the hint for a wrong-case enum value.
fn case_hint(s: &str, names: &[&str]) -> String {
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(s))
        .map_or(String::new(), |n| format!("; did you mean \"{n}\"?"))
}

/// Parses and checks one file. Returns the (possibly partial, see
/// `ParsedPlan::ok`) plan unless the TOML itself is unreadable, and all
/// diagnostics (errors and warnings).
pub(crate) fn parse_plan(file: &Path, text: &str) -> (Option<ParsedPlan>, Vec<Diagnostic>) {
    let mut cx = Ctx {
        file,
        text,
        diags: Vec::new(),
    };
    let root = match toml::from_str::<Node>(text) {
        Ok(Node::Table(t)) => t,
        Ok(_) => Vec::new(),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            // toml's messages can span lines; keep one diagnostic per line.
            let msg = e.message().trim().replace('\n', "; ");
            let msg = if msg.contains("$__toml_private_datetime") {
                "dates and times are not dial-plan values; quote the value".to_string()
            } else {
                format!("TOML syntax: {msg}")
            };
            cx.error(span, msg);
            return (None, cx.diags);
        }
    };
    let mut t = Table::new("", 0..0, &root);
    let name = t.string(&mut cx, "Name", true);
    let uri_type_s = t.string(&mut cx, "UriType", true);
    let digits = t.int(&mut cx, "NumberOfDigitsInExtension", true);
    let cc = t.string(&mut cx, "CountryOrRegionCode", true);
    let nnp = t.string(&mut cx, "NationalNumberPrefix", false);
    let iac = t.string(&mut cx, "InternationalAccessCode", false);
    let olac = t.string(&mut cx, "OutsideLineAccessCode", false);
    let domain = t.string(&mut cx, "Domain", false);
    let pilots = t
        .string_list(&mut cx, "PilotIdentifiers")
        .unwrap_or_default();
    let security = t.string(&mut cx, "VoIPSecurity", false);
    let (max_call, call_span) = t.duration(&mut cx, "MaxCallDuration", 1..=120, 30, MINUTES);
    let (max_rec, rec_span) = t.duration(&mut cx, "MaxRecordingDuration", 1..=6000, 1200, SECONDS);
    let (idle, _) = t.duration(&mut cx, "RecordingIdleTimeout", 1..=300, 5, SECONDS);
    let (min_msg, _) = t.duration(&mut cx, "MinimumMessageDuration", 0..=60_000, 1000, MILLIS);
    let failures = t.int(&mut cx, "InputFailuresBeforeDisconnect", false);
    // Exchange UM mailbox-policy PIN settings, with Exchange's defaults and limits.
    let defaults = PinPolicy::default();
    let pin_policy = PinPolicy {
        min_length: t.int_in(&mut cx, "MinPINLength", 4..=24, 6) as usize,
        history: t.int_in(&mut cx, "PINHistoryCount", 1..=20, 5) as usize,
        allow_common_patterns: t.bool(&mut cx, "AllowCommonPatterns", false),
        max_failed_attempts: t.int_in(&mut cx, "MaxLogonAttempts", 1..=999, 15) as u32,
        // Days; 0 (Exchange's "Unlimited") never expires.
        lifetime_days: t.int_in(&mut cx, "PINLifetime", 0..=999, 60) as u32,
        ..defaults
    };
    let operator = t.string(&mut cx, "OperatorExtension", false);
    let language = t.language(&mut cx, "DefaultLanguage").unwrap_or_default();
    let time_zone = t.time_zone(&mut cx, "TimeZone").unwrap_or(TimeZone::UTC);
    let codec = t.string(&mut cx, "AudioCodec", false);
    let preview = t.bool(&mut cx, "VoiceMailPreviewEnabled", true);
    let by_name_primary = name_order(&mut cx, &mut t, "DialByNamePrimary", false);
    let by_name_secondary = name_order(&mut cx, &mut t, "DialByNameSecondary", true);
    let dialing_rules = super::dialing::parse_dialing_rules(&mut cx, &mut t);
    // The caller's side of a deposit: options after `#`, and where a fax goes.
    let caller_review = t.bool(&mut cx, "CallerReviewEnabled", true);
    let fax_server = t.string(&mut cx, "FaxServerURI", false);
    let (fax_window, _) = t.duration(&mut cx, "FaxDetectionWindow", 0..=60, 10, SECONDS);
    if let Some(f) = fax_server
        .as_ref()
        .filter(|f| parse_sip_uri(f.get_ref()).is_none())
    {
        let msg = format!(
            "FaxServerURI \"{}\" is not a sip: or sips: URI",
            f.get_ref()
        );
        cx.error(f.span(), msg);
    }
    let mailbox_node = t.take("Mailbox");
    let attendant_node = t.take("AutoAttendant");
    let peer_node = t.take("Peer");
    t.finish(&mut cx, PLAN_KEYS);

    if let Some(n) = &name {
        check_id(&mut cx, "Name", n);
    }
    let uri_type = uri_type_s.as_ref().and_then(|u| {
        let parsed = UriType::from_name(u.get_ref());
        if parsed.is_none() {
            let msg = format!(
                "UriType \"{}\" is not one of TelExtn, E164, SipName{}",
                u.get_ref(),
                case_hint(u.get_ref(), &["TelExtn", "E164", "SipName"])
            );
            cx.error(u.span(), msg);
        }
        parsed
    });
    if let (Some(UriType::SipName), None, Some(u)) = (uri_type, &domain, &uri_type_s) {
        let msg = "UriType SipName needs Domain, the SIP domain of the plan's users".to_string();
        cx.error(u.span(), msg);
    }
    let digits = digits.and_then(|d| {
        let ok = (1..=20).contains(d.get_ref());
        if !ok {
            let msg = format!(
                "NumberOfDigitsInExtension {} must be between 1 and 20",
                d.get_ref()
            );
            cx.error(d.span(), msg);
        }
        ok.then(|| *d.get_ref() as usize)
    });
    if let Some(c) = &cc {
        check_digits(&mut cx, "CountryOrRegionCode", c, 1..=3);
    }
    for (key, v) in [
        ("NationalNumberPrefix", &nnp),
        ("InternationalAccessCode", &iac),
        ("OutsideLineAccessCode", &olac),
    ] {
        if let Some(v) = v {
            check_digits(&mut cx, key, v, 1..=4);
        }
    }
    if let Some(d) = &domain {
        if !super::values::is_host_name(d.get_ref()) {
            cx.error(
                d.span(),
                format!("Domain \"{}\" is not a host name", d.get_ref()),
            );
        }
    }
    let voip_security = security
        .as_ref()
        .and_then(|s| {
            let parsed = VoipSecurity::from_name(s.get_ref());
            if parsed.is_none() {
                let msg = format!(
                    "VoIPSecurity \"{}\" is not one of {}{}",
                    s.get_ref(),
                    VoipSecurity::NAMES.join(", "),
                    case_hint(s.get_ref(), &VoipSecurity::NAMES)
                );
                cx.error(s.span(), msg);
            }
            parsed
        })
        .unwrap_or_default();
    if let Some(c) = &codec {
        if !matches!(c.get_ref().as_str(), "Wav" | "G711") {
            let msg = format!(
                "AudioCodec \"{}\" is not supported: umgw records WAV (G.711 decoded to 16-bit PCM); use \"Wav\" or \"G711\"",
                c.get_ref()
            );
            cx.error(c.span(), msg);
        }
    }
    if max_rec > max_call {
        if let Some(span) = call_span.or(rec_span) {
            let msg = format!(
                "MaxRecordingDuration ({} s) is longer than MaxCallDuration ({} s); the call limit ends recordings first",
                max_rec.as_secs(),
                max_call.as_secs()
            );
            cx.report(Severity::Warning, span, msg);
        }
    }
    let failures = failures.map_or(3, |f| match u32::try_from(*f.get_ref()) {
        Ok(n) if (1..=99).contains(&n) => n,
        _ => {
            let msg = format!(
                "InputFailuresBeforeDisconnect {} must be between 1 and 99",
                f.get_ref()
            );
            cx.error(f.span(), msg);
            3
        }
    });
    let mut pilot_identifiers = Vec::new();
    let mut pilot_pos = Vec::new();
    for p in pilots {
        if super::items::check_pilot(&mut cx, "PilotIdentifiers", &p) {
            pilot_pos.push(cx.pos(p.span()));
            pilot_identifiers.push(p.into_inner());
        }
    }

    let mut mailboxes = Vec::new();
    let mut mailbox_pos = Vec::new();
    let defaults = PlanDefaults {
        zone: &time_zone,
        preview,
        language,
    };
    for (span, entries) in array_of_tables(&mut cx, "Mailbox", mailbox_node) {
        if let Some((m, p)) = parse_mailbox(&mut cx, span, entries, digits, cc.as_ref(), &defaults)
        {
            mailboxes.push(m);
            mailbox_pos.push(p);
        }
    }
    if mailboxes.is_empty() && mailbox_node.is_none() {
        cx.report(
            Severity::Warning,
            0..0,
            "plan has no [[Mailbox]] entries".to_string(),
        );
    }
    let mut auto_attendants = Vec::new();
    let mut attendant_pos = Vec::new();
    for (span, entries) in array_of_tables(&mut cx, "AutoAttendant", attendant_node) {
        if let Some((a, p)) = parse_attendant(&mut cx, span, entries, &time_zone, language) {
            auto_attendants.push(a);
            attendant_pos.push(p);
        }
    }
    let mut peers = Vec::new();
    let mut peer_pos = Vec::new();
    for (span, entries) in array_of_tables(&mut cx, "Peer", peer_node) {
        if let Some((p, pos)) = parse_peer(&mut cx, span, entries, voip_security) {
            peers.push(p);
            peer_pos.push(pos);
        }
    }

    // A plan with errors is still returned (marked) so that duplicates
    // against its valid parts are reported in the same run.
    let ok = !cx.diags.iter().any(|d| d.severity == Severity::Error);
    let name_pos = name.as_ref().map(|n| cx.pos(n.span())).unwrap_or_default();
    let operator_pos = operator
        .as_ref()
        .map(|o| cx.pos(o.span()))
        .unwrap_or_default();
    let plan = ParsedPlan {
        ok,
        name_pos,
        plan: DialPlan {
            name: name.map(Spanned::into_inner).unwrap_or_default(),
            uri_type: uri_type.unwrap_or(UriType::TelExtn),
            number_of_digits_in_extension: digits.unwrap_or(0),
            country_or_region_code: cc.map(Spanned::into_inner).unwrap_or_default(),
            national_number_prefix: nnp.map(Spanned::into_inner),
            international_access_code: iac.map(Spanned::into_inner),
            outside_line_access_code: olac.map(Spanned::into_inner),
            domain: domain.map(|d| d.into_inner().to_ascii_lowercase()),
            pilot_identifiers,
            voip_security,
            max_call_duration: max_call,
            max_recording_duration: max_rec,
            recording_idle_timeout: idle,
            minimum_message_duration: min_msg,
            input_failures_before_disconnect: failures,
            pin_policy,
            operator_extension: operator.map(Spanned::into_inner),
            default_language: language,
            time_zone,
            audio_codec: AudioCodec::Wav,
            voice_mail_preview_enabled: preview,
            dial_by_name_primary: by_name_primary.flatten().unwrap_or(NameOrder::LastFirst),
            dial_by_name_secondary: by_name_secondary.unwrap_or(Some(NameOrder::SmtpAddress)),
            dialing_rules,
            caller_review_enabled: caller_review,
            fax_server_uri: fax_server.map(Spanned::into_inner),
            fax_detection_window: fax_window,
            directory: super::directory::listings(&mailboxes).into(),
            mailboxes,
            auto_attendants,
            peers,
            source: file.to_path_buf(),
        },
        mailbox_pos,
        pilot_pos,
        attendant_pos,
        peer_pos,
        operator_pos,
    };
    (Some(plan), cx.diags)
}

/// `DialByNamePrimary`/`DialByNameSecondary`: `None` when absent (or wrong), `Some(None)` for
/// the secondary's `"None"`.
fn name_order(
    cx: &mut Ctx<'_>,
    t: &mut Table<'_>,
    key: &str,
    may_be_none: bool,
) -> Option<Option<NameOrder>> {
    let v = t.string(cx, key, false)?;
    let s = v.get_ref();
    if may_be_none && s == "None" {
        return Some(None);
    }
    let parsed = NameOrder::from_name(s);
    if parsed.is_none() {
        let mut names = NameOrder::NAMES.to_vec();
        if may_be_none {
            names.push("None");
        }
        let msg = format!(
            "{key} \"{s}\" is not one of {}{}",
            names.join(", "),
            case_hint(s, &names)
        );
        cx.error(v.span(), msg);
    }
    parsed.map(Some)
}

fn check_digits(cx: &mut Ctx<'_>, key: &str, v: &Spanned<String>, len: RangeInclusive<usize>) {
    let s = v.get_ref();
    if !len.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        let msg = format!(
            "{key} \"{s}\" must be {} to {} digits",
            len.start(),
            len.end()
        );
        cx.error(v.span(), msg);
    }
}

/// Ids name mailbox directories: no separators, no hidden or `..` names.
pub(crate) fn check_id(cx: &mut Ctx<'_>, key: &str, v: &Spanned<String>) -> bool {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        let msg = format!("{key} \"{s}\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'");
        cx.error(v.span(), msg);
    }
    ok
}

#[cfg(test)]
mod tests;
