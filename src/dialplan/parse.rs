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
use super::items::{array_of_tables, parse_mailbox, parse_peer};
use super::model::{AudioCodec, Diagnostic, DialPlan, Severity, UriType, VoipSecurity};
use super::resolve::parse_sip_uri;
pub(crate) use super::table::{Ctx, Node, Pos, Table};
use super::table::{MILLIS, MINUTES, SECONDS};
use super::values::is_language_tag;
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
    "OperatorExtension",
    "DefaultLanguage",
    "TimeZone",
    "AudioCodec",
    "VoiceMailPreviewEnabled",
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
        ..defaults
    };
    let operator = t.string(&mut cx, "OperatorExtension", false);
    let language = t.string(&mut cx, "DefaultLanguage", false);
    let time_zone = t.time_zone(&mut cx, "TimeZone").unwrap_or(TimeZone::UTC);
    let codec = t.string(&mut cx, "AudioCodec", false);
    let preview = t.bool(&mut cx, "VoiceMailPreviewEnabled", true);
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
    if let Some(l) = &language {
        if !is_language_tag(l.get_ref()) {
            let msg = format!(
                "DefaultLanguage \"{}\" is not a language tag such as \"en-US\"",
                l.get_ref()
            );
            cx.error(l.span(), msg);
        }
    }
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
    for (span, entries) in array_of_tables(&mut cx, "Mailbox", mailbox_node) {
        if let Some((m, p)) = parse_mailbox(
            &mut cx,
            span,
            entries,
            digits,
            cc.as_ref(),
            &time_zone,
            preview,
        ) {
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
        if let Some((a, p)) = parse_attendant(&mut cx, span, entries, &time_zone) {
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
            default_language: language.map_or_else(|| "en-US".to_string(), Spanned::into_inner),
            time_zone,
            audio_codec: AudioCodec::Wav,
            voice_mail_preview_enabled: preview,
            caller_review_enabled: caller_review,
            fax_server_uri: fax_server.map(Spanned::into_inner),
            fax_detection_window: fax_window,
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
mod tests {
    use crate::dialplan::{load_files, load_str, AudioCodec, UriType, VoipSecurity};
    use std::path::Path;
    use std::time::Duration;

    const HEAD: &str = "Name = \"contoso\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n";

    /// Lints `text` (named `p.toml`) and renders every diagnostic.
    fn lint(text: &str) -> Vec<String> {
        match load_str(Path::new("p.toml"), text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn good_plan_with_defaults() {
        let text = format!("{HEAD}Domain = \"Contoso.COM\"\n\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sip:alice@contoso.com\"\nDisplayName = \"Alice\"\nNotifyTarget = \"sip:127.0.0.1:5099\"\n");
        let p = load_str(Path::new("p.toml"), &text).unwrap();
        assert_eq!(
            (p.name.as_str(), p.uri_type, p.number_of_digits_in_extension),
            ("contoso", UriType::TelExtn, 4)
        );
        assert_eq!(p.domain.as_deref(), Some("contoso.com"));
        assert_eq!(p.max_recording_duration, Duration::from_secs(1200));
        assert_eq!(p.recording_idle_timeout, Duration::from_secs(5));
        assert_eq!(p.minimum_message_duration, Duration::from_millis(1000));
        let m = &p.mailboxes[0];
        assert_eq!(
            (m.id.as_str(), m.extension.as_str(), m.line),
            ("alice", "1001", 7)
        );
        assert_eq!(m.notify_target.as_deref(), Some("sip:127.0.0.1:5099"));
    }

    #[test]
    fn semantic_errors_all_reported_with_positions() {
        let text = format!(
            "{HEAD}Colour = \"blue\"\nMaxRecordingDuration = 0\n\n[[Mailbox]]\nId = \"../x\"\nExtension = \"101\"\nE164 = \"14255551001\"\nSipAddress = \"alice@contoso.com\"\n\n[[Mailbox]]\nId = \"bob\"\nExtension = \"10a2\"\nNotifyTarget = \"mailto:bob\"\nDisplayName = \"Bob\\r\\nX-Evil: 1\"\nPin = 1234\n\n[[Mailbox]]\nExtension = 1003\n"
        );
        assert_eq!(
            lint(&text),
            vec![
                "p.toml:5:1: error: unknown key Colour; expected one of Name, UriType, NumberOfDigitsInExtension, CountryOrRegionCode, NationalNumberPrefix, InternationalAccessCode, OutsideLineAccessCode, Domain, PilotIdentifiers, VoIPSecurity, MaxCallDuration, MaxRecordingDuration, RecordingIdleTimeout, MinimumMessageDuration, InputFailuresBeforeDisconnect, MinPINLength, PINHistoryCount, AllowCommonPatterns, MaxLogonAttempts, OperatorExtension, DefaultLanguage, TimeZone, AudioCodec, VoiceMailPreviewEnabled, CallerReviewEnabled, FaxServerURI, FaxDetectionWindow, Mailbox, AutoAttendant, Peer".to_string(),
                "p.toml:6:24: error: MaxRecordingDuration 0 must be between 1 and 6000 (seconds)".to_string(),
                "p.toml:9:6: error: Id \"../x\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'".to_string(),
                "p.toml:10:13: error: extension \"101\" has 3 digits; NumberOfDigitsInExtension is 4".to_string(),
                "p.toml:11:8: error: E164 \"14255551001\" must be + followed by 8 to 15 digits".to_string(),
                "p.toml:12:14: error: SipAddress \"alice@contoso.com\" is not a sip: or sips: URI with user@host".to_string(),
                "p.toml:16:13: error: extension \"10a2\" must contain only digits 0-9".to_string(),
                "p.toml:17:16: error: NotifyTarget \"mailto:bob\" is not a sip: or sips: URI".to_string(),
                "p.toml:18:15: error: DisplayName must not contain control characters".to_string(),
                "p.toml:19:1: error: unknown key Pin in [[Mailbox]]; expected one of Id, Extension, E164, SipAddress, DisplayName, NotifyTarget, TimeZone, VoiceMailPreviewEnabled".to_string(),
                "p.toml:21:1: error: missing required key Id in [[Mailbox]]".to_string(),
                "p.toml:22:13: error: Extension must be a string, found an integer".to_string(),
            ]
        );
    }

    #[test]
    fn plan_level_errors() {
        let text =
            "Name = \"a b\"\nUriType = \"Tel\"\nNumberOfDigitsInExtension = \"4\"\nMailbox = 3\n";
        assert_eq!(
            lint(text),
            vec![
                "p.toml:1:1: error: missing required key CountryOrRegionCode",
                "p.toml:1:8: error: Name \"a b\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'",
                "p.toml:2:11: error: UriType \"Tel\" is not one of TelExtn, E164, SipName",
                "p.toml:3:29: error: NumberOfDigitsInExtension must be an integer, found a string",
                "p.toml:4:11: error: Mailbox must be an array of tables ([[Mailbox]]), found an integer",
            ]
        );
    }

    #[test]
    fn syntax_error_position() {
        assert_eq!(
            lint("Name = \"contoso\nUriType = 1\n"),
            vec!["p.toml:1:16: error: TOML syntax: invalid basic string"]
        );
        assert_eq!(
            lint(&format!("{HEAD}[[Mailbox]]\nId = \"a\"\nId = \"b\"\n")),
            vec!["p.toml:7:1: error: TOML syntax: duplicate key `Id` in table `Mailbox`"]
        );
        assert_eq!(
            lint(&format!("{HEAD}When = 2024-01-01\n")),
            vec!["p.toml:5:8: error: dates and times are not dial-plan values; quote the value"]
        );
    }

    #[test]
    fn new_keys_defaults() {
        let p = load_str(
            Path::new("p.toml"),
            &format!("{HEAD}[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n"),
        )
        .unwrap();
        assert_eq!(p.voip_security, VoipSecurity::Unsecured);
        assert_eq!(p.max_call_duration, Duration::from_secs(30 * 60));
        assert_eq!(p.input_failures_before_disconnect, 3);
        assert_eq!(p.default_language, "en-US");
        assert_eq!(p.audio_codec, AudioCodec::Wav);
        assert!(
            p.pilot_identifiers.is_empty() && p.peers.is_empty() && p.auto_attendants.is_empty()
        );
        assert_eq!(
            (
                p.outside_line_access_code.as_deref(),
                p.operator_extension.as_deref()
            ),
            (None, None)
        );
    }

    #[test]
    fn new_keys_values_and_units() {
        let text = format!(
            "{HEAD}OutsideLineAccessCode = \"9\"\nPilotIdentifiers = [\"+14255550100\", \"sip:sa@contoso.com\"]\nVoIPSecurity = \"SIPSecured\"\nMaxCallDuration = \"1h\"\nMaxRecordingDuration = \"20m\"\nRecordingIdleTimeout = \"10s\"\nMinimumMessageDuration = \"1s 500ms\"\nInputFailuresBeforeDisconnect = 5\nOperatorExtension = \"1001\"\nDefaultLanguage = \"fr-CA\"\nAudioCodec = \"G711\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[AutoAttendant]]\nName = \"Main Menu\"\nPilotIdentifiers = \"+14255550000\"\n[[Peer]]\nAddress = \"10.1.0.0/16\"\nName = \"pool\"\nCertificateName = \"Pool.Contoso.com\"\n"
        );
        let p = load_str(Path::new("p.toml"), &text).unwrap();
        assert_eq!(p.outside_line_access_code.as_deref(), Some("9"));
        assert_eq!(p.pilot_identifiers, ["+14255550100", "sip:sa@contoso.com"]);
        assert_eq!(p.voip_security, VoipSecurity::SipSecured);
        assert_eq!(p.max_call_duration, Duration::from_secs(3600));
        assert_eq!(p.max_recording_duration, Duration::from_secs(1200));
        assert_eq!(p.recording_idle_timeout, Duration::from_secs(10));
        assert_eq!(p.minimum_message_duration, Duration::from_millis(1500));
        assert_eq!(p.input_failures_before_disconnect, 5);
        assert_eq!(p.operator_extension.as_deref(), Some("1001"));
        assert_eq!(p.default_language, "fr-CA");
        let aa = &p.auto_attendants[0];
        assert_eq!(
            (aa.name.as_str(), aa.pilot_identifiers.as_slice(), aa.line),
            ("Main Menu", &["+14255550000".to_string()][..], 19)
        );
        let peer = &p.peers[0];
        assert_eq!(peer.to_string(), "10.1.0.0/16");
        assert_eq!(
            (
                peer.name.as_deref(),
                peer.certificate_name.as_deref(),
                peer.line
            ),
            (Some("pool"), Some("pool.contoso.com"), 22)
        );
        // Integers keep each key's unit: minutes, seconds, seconds, ms.
        let ints = format!("{HEAD}MaxCallDuration = 45\nMaxRecordingDuration = 90\nRecordingIdleTimeout = 7\nMinimumMessageDuration = 250\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n");
        let p = load_str(Path::new("p.toml"), &ints).unwrap();
        assert_eq!(
            [
                p.max_call_duration,
                p.max_recording_duration,
                p.recording_idle_timeout,
                p.minimum_message_duration
            ],
            [
                Duration::from_secs(2700),
                Duration::from_secs(90),
                Duration::from_secs(7),
                Duration::from_millis(250)
            ]
        );
    }

    #[test]
    fn new_key_errors() {
        let text = format!(
            "{HEAD}OutsideLineAccessCode = \"9x\"\nPilotIdentifiers = [\"+1425\", \"main\", 3]\nVoIPSecurity = \"secured\"\nMaxCallDuration = 121\nMaxRecordingDuration = \"20 minutes\"\nRecordingIdleTimeout = \"1h\"\nMinimumMessageDuration = true\nInputFailuresBeforeDisconnect = 0\nDefaultLanguage = \"English\"\nAudioCodec = \"Mp3\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[AutoAttendant]]\nPilotIdentifiers = []\nColour = 1\n[[Peer]]\nAddress = \"10.0.0.1/8\"\nCertificateName = \"*.contoso.com\"\n[[Peer]]\nName = \"x\"\nPeer = 1\n"
        );
        assert_eq!(
            lint(&text),
            vec![
                "p.toml:5:25: error: OutsideLineAccessCode \"9x\" must be 1 to 4 digits",
                "p.toml:6:21: error: PilotIdentifiers entry \"+1425\" is not a valid E.164 number (+ and 8 to 15 digits)",
                "p.toml:6:30: error: PilotIdentifiers entry \"main\" is not a number or a sip:/sips:/tel: URI with a user",
                "p.toml:6:38: error: PilotIdentifiers must be an array of strings, found an integer",
                "p.toml:7:16: error: VoIPSecurity \"secured\" is not one of Unsecured, SIPSecured, Secured; did you mean \"Secured\"?",
                "p.toml:8:19: error: MaxCallDuration 121 must be between 1 and 120 (minutes)",
                "p.toml:9:24: error: MaxRecordingDuration \"20 minutes\" is not a duration: write a whole number and a unit (ms, s, m, h), e.g. \"20m\" or \"90s\"",
                "p.toml:10:24: error: RecordingIdleTimeout \"1h\" must be between 1s and 300s",
                "p.toml:11:26: error: MinimumMessageDuration must be an integer (milliseconds) or a string with a unit such as \"1000ms\", found a boolean",
                "p.toml:12:33: error: InputFailuresBeforeDisconnect 0 must be between 1 and 99",
                "p.toml:13:19: error: DefaultLanguage \"English\" is not a language tag such as \"en-US\"",
                "p.toml:14:14: error: AudioCodec \"Mp3\" is not supported: umgw records WAV (G.711 decoded to 16-bit PCM); use \"Wav\" or \"G711\"",
                "p.toml:18:1: error: missing required key Name in [[AutoAttendant]]",
                "p.toml:18:1: error: PilotIdentifiers of an AutoAttendant must not be empty",
                "p.toml:20:1: error: unknown key Colour in [[AutoAttendant]]; expected one of Name, PilotIdentifiers, OperatorExtension, TimeZone, BusinessHoursSchedule, HolidaySchedule, BusinessHoursGreeting, BusinessHoursMenuPrompt, BusinessHoursKeyMapping, AfterHoursGreeting, AfterHoursMenuPrompt, AfterHoursKeyMapping, HolidayGreeting, Menu",
                "p.toml:22:11: error: Peer Address \"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8",
                "p.toml:23:19: error: CertificateName \"*.contoso.com\" must be the peer's FQDN, without wildcards (Lync and Exchange reject wildcard certificates)",
                "p.toml:24:1: error: missing required key Address in [[Peer]]",
                "p.toml:26:1: error: unknown key Peer in [[Peer]]; expected one of Address, Name, CertificateName",
            ]
        );
    }

    #[test]
    fn caller_options_and_fax_keys() {
        let mailbox = "[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n";
        let p = load_str(Path::new("p.toml"), &format!("{HEAD}{mailbox}")).unwrap();
        assert!(p.caller_review_enabled);
        assert_eq!(
            (p.fax_server_uri, p.fax_detection_window),
            (None, Duration::from_secs(10))
        );
        let set = format!(
            "{HEAD}CallerReviewEnabled = false\nFaxServerURI = \"sip:fax@contoso.com\"\n\
             FaxDetectionWindow = 0\n{mailbox}"
        );
        let p = load_str(Path::new("p.toml"), &set).unwrap();
        assert!(!p.caller_review_enabled);
        assert_eq!(p.fax_server_uri.as_deref(), Some("sip:fax@contoso.com"));
        assert_eq!(p.fax_detection_window, Duration::ZERO);
        let bad = format!(
            "{HEAD}CallerReviewEnabled = 1\nFaxServerURI = \"fax.contoso.com\"\n\
             FaxDetectionWindow = 61\n{mailbox}"
        );
        assert_eq!(
            lint(&bad),
            vec![
                "p.toml:5:23: error: CallerReviewEnabled must be true or false, found an integer",
                "p.toml:6:16: error: FaxServerURI \"fax.contoso.com\" is not a sip: or sips: URI",
                "p.toml:7:22: error: FaxDetectionWindow 61 must be between 0 and 60 (seconds)",
            ]
        );
    }

    #[test]
    fn sip_name_needs_domain_and_secured_peers_need_certificates() {
        let text = "Name = \"lync\"\nUriType = \"SipName\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n";
        assert_eq!(lint(text), vec!["p.toml:2:11: error: UriType SipName needs Domain, the SIP domain of the plan's users"]);
        let text = format!("{HEAD}VoIPSecurity = \"Secured\"\nMaxCallDuration = 10\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[Peer]]\nAddress = \"192.0.2.10\"\nCertificateName = \"pool.contoso.com\"\n[[Peer]]\nAddress = \"2001:db8::/64\"\n");
        let plans = load_files([(Path::new("p.toml"), text.as_str())]).unwrap();
        let w: Vec<String> = plans.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            vec![
                "p.toml:6:19: warning: MaxRecordingDuration (1200 s) is longer than MaxCallDuration (600 s); the call limit ends recordings first",
                "p.toml:13:1: warning: Peer 2001:db8::/64 has no CertificateName; VoIPSecurity \"Secured\" needs mutual TLS, so name the FQDN its certificate carries",
            ]
        );
    }

    #[test]
    fn warnings_do_not_fail() {
        let a = format!(
            "{HEAD}[[Mailbox]]\nId = \"x\"\nExtension = \"1001\"\nE164 = \"+442079460001\"\n"
        );
        let plans = load_files([(Path::new("a.toml"), a.as_str())]).unwrap();
        let w: Vec<String> = plans.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(w, vec!["a.toml:8:8: warning: E164 \"+442079460001\" does not start with CountryOrRegionCode 1; national dialled forms will not reach it"]);
    }

    #[test]
    fn time_zones_of_the_plan_its_mailboxes_and_attendants() {
        let zone = |name: &str| crate::dialplan::schedule::parse_time_zone(name).unwrap();
        let text = format!(
            "{HEAD}TimeZone = \"America/Los_Angeles\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nTimeZone = \"Europe/Berlin\"\n[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = \"5000\"\n[[AutoAttendant]]\nName = \"Tokyo\"\nPilotIdentifiers = \"5001\"\nTimeZone = \"Asia/Tokyo\"\n"
        );
        let p = load_str(Path::new("p.toml"), &text).unwrap();
        assert_eq!(p.time_zone, zone("America/Los_Angeles"));
        // A mailbox without its own TimeZone lives in the plan's; an override wins.
        assert_eq!(p.mailboxes[0].time_zone, zone("America/Los_Angeles"));
        assert_eq!(p.mailboxes[1].time_zone, zone("Europe/Berlin"));
        // So does an attendant.
        let (main, tokyo) = (&p.auto_attendants[0], &p.auto_attendants[1]);
        assert_eq!(main.schedule.time_zone, zone("America/Los_Angeles"));
        assert_eq!(main.schedule.time_zone_name, "America/Los_Angeles");
        assert_eq!(tokyo.schedule.time_zone_name, "Asia/Tokyo");
        // Without the key: UTC, as before.
        let p = load_str(
            Path::new("p.toml"),
            &format!("{HEAD}[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n"),
        )
        .unwrap();
        assert_eq!(p.time_zone, jiff::tz::TimeZone::UTC);
        assert_eq!(p.mailboxes[0].time_zone, jiff::tz::TimeZone::UTC);
    }

    #[test]
    fn unknown_time_zones_are_errors_at_their_value() {
        let text = format!(
            "{HEAD}TimeZone = \"Pacific Standard Time\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nTimeZone = \"America/Seatle\"\n[[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nTimeZone = -8\n"
        );
        let known = "is not a known IANA time zone name (e.g. \"America/Los_Angeles\", \"Europe/Berlin\", \"UTC\")";
        assert_eq!(
            lint(&text),
            [
                "p.toml:5:12: error: TimeZone \"Pacific Standard Time\" is a Windows time zone name; write the IANA name, here \"America/Los_Angeles\"".to_string(),
                format!("p.toml:9:12: error: TimeZone \"America/Seatle\" {known}"),
                "p.toml:13:12: error: TimeZone must be a string, found an integer".to_string(),
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*", lines in proptest::collection::vec("(Name|Id|Extension|E164|\\[\\[Mailbox\\]\\]|UriType|X|PilotIdentifiers|\\[\\[Peer\\]\\]|Address|\\[\\[AutoAttendant\\]\\]|OperatorExtension|MaxCallDuration|VoIPSecurity|TimeZone) ?= ?(\"[0-9a-z+:@./]{0,12}\"|[0-9]{1,3}|\\[)?", 0..12)) {
            let _ = load_str(Path::new("p.toml"), &s);
            let _ = load_str(Path::new("p.toml"), &format!("{HEAD}{}", lines.join("\n")));
        }
    }

    #[test]
    fn pin_policy_keys() {
        let p = load_str(
            Path::new("p.toml"),
            &format!("{HEAD}MinPINLength = 8\nPINHistoryCount = 2\nAllowCommonPatterns = true\nMaxLogonAttempts = 4\n"),
        )
        .unwrap();
        assert_eq!(p.pin_policy.min_length, 8);
        assert_eq!(p.pin_policy.history, 2);
        assert!(p.pin_policy.allow_common_patterns);
        assert_eq!(p.pin_policy.max_failed_attempts, 4);
        let d = load_str(Path::new("p.toml"), HEAD).unwrap().pin_policy;
        assert_eq!(d, crate::domain::PinPolicy::default());
        assert_eq!(
            lint(&format!("{HEAD}MinPINLength = 3\nPINHistoryCount = 0\nAllowCommonPatterns = \"no\"\nMaxLogonAttempts = 1000\n")),
            [
                "p.toml:1:1: warning: plan has no [[Mailbox]] entries",
                "p.toml:5:16: error: MinPINLength 3 must be between 4 and 24",
                "p.toml:6:19: error: PINHistoryCount 0 must be between 1 and 20",
                "p.toml:7:23: error: AllowCommonPatterns must be true or false, found a string",
                "p.toml:8:20: error: MaxLogonAttempts 1000 must be between 1 and 999",
            ]
        );
    }

    #[test]
    fn voice_mail_preview_is_on_by_default_per_plan_and_per_mailbox() {
        let mailboxes = "[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nVoiceMailPreviewEnabled = true\n[[Mailbox]]\nId = \"c\"\nExtension = \"1003\"\nVoiceMailPreviewEnabled = false\n";
        let on = |text: &str| {
            let p = load_str(Path::new("p.toml"), text).unwrap();
            let m: Vec<bool> = p.mailboxes.iter().map(|m| m.voice_mail_preview).collect();
            (p.voice_mail_preview_enabled, m)
        };
        assert_eq!(
            on(&format!("{HEAD}{mailboxes}")),
            (true, vec![true, true, false])
        );
        assert_eq!(
            on(&format!(
                "{HEAD}VoiceMailPreviewEnabled = false\n{mailboxes}"
            )),
            (false, vec![false, true, false])
        );
        assert_eq!(
            lint(&format!("{HEAD}VoiceMailPreviewEnabled = \"yes\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nVoiceMailPreviewEnabled = 1\n")),
            [
                "p.toml:5:27: error: VoiceMailPreviewEnabled must be true or false, found a string",
                "p.toml:9:27: error: VoiceMailPreviewEnabled must be true or false, found an integer",
            ]
        );
    }
}
