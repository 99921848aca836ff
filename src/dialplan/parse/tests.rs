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
            "p.toml:5:1: error: unknown key Colour; expected one of Name, UriType, NumberOfDigitsInExtension, CountryOrRegionCode, NationalNumberPrefix, InternationalAccessCode, OutsideLineAccessCode, Domain, PilotIdentifiers, VoIPSecurity, MaxCallDuration, MaxRecordingDuration, RecordingIdleTimeout, MinimumMessageDuration, InputFailuresBeforeDisconnect, MinPINLength, PINHistoryCount, AllowCommonPatterns, MaxLogonAttempts, PINLifetime, OperatorExtension, DefaultLanguage, TimeZone, AudioCodec, VoiceMailPreviewEnabled, DialByNamePrimary, DialByNameSecondary, ConfiguredInCountryOrRegionGroups, ConfiguredInternationalGroups, AllowedInCountryOrRegionGroups, AllowedInternationalGroups, CallerReviewEnabled, FaxServerURI, FaxDetectionWindow, Mailbox, AutoAttendant, Peer".to_string(),
            "p.toml:6:24: error: MaxRecordingDuration 0 must be between 1 and 6000 (seconds)".to_string(),
            "p.toml:9:6: error: Id \"../x\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'".to_string(),
            "p.toml:10:13: error: extension \"101\" has 3 digits; NumberOfDigitsInExtension is 4".to_string(),
            "p.toml:11:8: error: E164 \"14255551001\" must be + followed by 8 to 15 digits".to_string(),
            "p.toml:12:14: error: SipAddress \"alice@contoso.com\" is not a sip: or sips: URI with user@host".to_string(),
            "p.toml:16:13: error: extension \"10a2\" must contain only digits 0-9".to_string(),
            "p.toml:17:16: error: NotifyTarget \"mailto:bob\" is not a sip: or sips: URI".to_string(),
            "p.toml:18:15: error: DisplayName must not contain control characters".to_string(),
            "p.toml:19:1: error: unknown key Pin in [[Mailbox]]; expected one of Id, Extension, E164, SipAddress, DisplayName, NotifyTarget, TimeZone, VoiceMailPreviewEnabled, NotifyEmail, NotifyEmailAttachAudio, Language".to_string(),
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
    assert_eq!(p.default_language, crate::dialplan::LanguageKey::default());
    assert_eq!(p.audio_codec, AudioCodec::Wav);
    assert!(p.pilot_identifiers.is_empty() && p.peers.is_empty() && p.auto_attendants.is_empty());
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
        "{HEAD}OutsideLineAccessCode = \"9\"\nPilotIdentifiers = [\"+14255550100\", \"sip:sa@contoso.com\"]\nVoIPSecurity = \"SIPSecured\"\nMaxCallDuration = \"1h\"\nMaxRecordingDuration = \"20m\"\nRecordingIdleTimeout = \"10s\"\nMinimumMessageDuration = \"1s 500ms\"\nInputFailuresBeforeDisconnect = 5\nOperatorExtension = \"1001\"\nDefaultLanguage = \"de-DE\"\nAudioCodec = \"G711\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[AutoAttendant]]\nName = \"Main Menu\"\nPilotIdentifiers = \"+14255550000\"\n[[Peer]]\nAddress = \"10.1.0.0/16\"\nName = \"pool\"\nCertificateName = \"Pool.Contoso.com\"\n"
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
    assert_eq!(
        (p.default_language.language.tag(), p.default_language.line),
        ("de-DE", 14)
    );
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
            "p.toml:20:1: error: unknown key Colour in [[AutoAttendant]]; expected one of Name, PilotIdentifiers, OperatorExtension, TimeZone, BusinessHoursSchedule, HolidaySchedule, BusinessHoursGreeting, BusinessHoursMenuPrompt, BusinessHoursKeyMapping, AfterHoursGreeting, AfterHoursMenuPrompt, AfterHoursKeyMapping, HolidayGreeting, Language, NameLookupEnabled, CallSomeoneEnabled, SendVoiceMsgEnabled, Menu",
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
    assert_eq!(
        lint(text),
        vec![
            "p.toml:2:11: error: UriType SipName needs Domain, the SIP domain of the plan's users"
        ]
    );
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
    let a =
        format!("{HEAD}[[Mailbox]]\nId = \"x\"\nExtension = \"1001\"\nE164 = \"+442079460001\"\n");
    let plans = load_files([(Path::new("a.toml"), a.as_str())]).unwrap();
    let w: Vec<String> = plans.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w, vec!["a.toml:8:8: warning: E164 \"+442079460001\" does not start with CountryOrRegionCode 1; national dialled forms will not reach it"]);
}

#[test]
fn languages_of_the_plan_its_mailboxes_and_attendants() {
    use crate::media::speech::Language;
    let text = format!(
        "{HEAD}DefaultLanguage = \"de-DE\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\n[[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nLanguage = \"en-us\"\n[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = \"5000\"\n[[AutoAttendant]]\nName = \"US\"\nPilotIdentifiers = \"5001\"\nLanguage = \"en-US\"\n"
    );
    let p = load_str(Path::new("p.toml"), &text).unwrap();
    let key = |k: crate::dialplan::LanguageKey| (k.language, k.line);
    assert_eq!(key(p.default_language), (Language::DeDe, 5));
    // Inherited: the plan's, and its line; an own key (any case) wins.
    assert_eq!(key(p.mailboxes[0].language), (Language::DeDe, 5));
    assert_eq!(key(p.mailboxes[1].language), (Language::EnUs, 12));
    assert_eq!(key(p.auto_attendants[0].language), (Language::DeDe, 5));
    assert_eq!(key(p.auto_attendants[1].language), (Language::EnUs, 19));
    let bad = format!(
        "{HEAD}DefaultLanguage = \"xx-YY\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nLanguage = \"German\"\n[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = \"5000\"\nLanguage = \"fr-FR\"\n"
    );
    assert_eq!(
        lint(&bad),
        vec![
            "p.toml:5:19: error: DefaultLanguage \"xx-YY\" is not a shipped prompt language; umgw has en-US, de-DE (docs/OPERATIONS.md: adding a language)",
            "p.toml:9:12: error: Language \"German\" is not a language tag such as \"en-US\"",
            "p.toml:13:12: error: Language \"fr-FR\" is not a shipped prompt language; umgw has en-US, de-DE (docs/OPERATIONS.md: adding a language)",
        ]
    );
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
        &format!("{HEAD}MinPINLength = 8\nPINHistoryCount = 2\nAllowCommonPatterns = true\nMaxLogonAttempts = 4\nPINLifetime = 0\n"),
    )
    .unwrap();
    assert_eq!(p.pin_policy.lifetime_days, 0);
    assert_eq!(p.pin_policy.min_length, 8);
    assert_eq!(p.pin_policy.history, 2);
    assert!(p.pin_policy.allow_common_patterns);
    assert_eq!(p.pin_policy.max_failed_attempts, 4);
    let d = load_str(Path::new("p.toml"), HEAD).unwrap().pin_policy;
    assert_eq!(d, crate::domain::PinPolicy::default());
    assert_eq!(
        lint(&format!("{HEAD}MinPINLength = 3\nPINHistoryCount = 0\nAllowCommonPatterns = \"no\"\nMaxLogonAttempts = 1000\nPINLifetime = 1000\n")),
        [
            "p.toml:1:1: warning: plan has no [[Mailbox]] entries",
            "p.toml:5:16: error: MinPINLength 3 must be between 4 and 24",
            "p.toml:6:19: error: PINHistoryCount 0 must be between 1 and 20",
            "p.toml:7:23: error: AllowCommonPatterns must be true or false, found a string",
            "p.toml:8:20: error: MaxLogonAttempts 1000 must be between 1 and 999",
            "p.toml:9:15: error: PINLifetime 1000 must be between 0 and 999",
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
