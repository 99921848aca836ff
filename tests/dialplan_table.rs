//! Dial-plan routing across three plans, table-driven, and the loader's
//! diagnostics for each rule, as exact `file:line:col: severity: message` lines.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use umgw::dialplan::{
    e164_to_extension, load_files, normalise_to_e164, DialPlans, Route, VoipSecurity,
};

/// Lync / Skype for Business, SIP URIs, reached from its pool (v4 and v6).
const LYNC: &str = r#"
Name = "lync"
UriType = "SipName"
NumberOfDigitsInExtension = 4
CountryOrRegionCode = "1"
NationalNumberPrefix = "1"
InternationalAccessCode = "011"
OutsideLineAccessCode = "9"
Domain = "contoso.com"
PilotIdentifiers = ["+14255550100", "sip:subscriberaccess@contoso.com"]
VoIPSecurity = "Secured"
OperatorExtension = "sip:bob@contoso.com"

[[AutoAttendant]]
Name = "Main"
PilotIdentifiers = ["+14255550000"]

[[Peer]]
Address = "10.1.0.0/24"
Name = "pool"
CertificateName = "pool.contoso.com"

[[Peer]]
Address = "2001:db8:1::/48"
CertificateName = "pool6.contoso.com"

[[Mailbox]]
Id = "alice"
Extension = "1001"
E164 = "+14255551001"
SipAddress = "sip:alice@contoso.com"

[[Mailbox]]
Id = "bob"
Extension = "1002"
E164 = "+14255551002"
SipAddress = "sips:bob@contoso.com"

[[Mailbox]]
Id = "erin"
Extension = "0123"
E164 = "+14255550123"
SipAddress = "sip:erin@contoso.com"
"#;

/// A London PBX: 5-digit extensions, 0 national, 00 international, 9 outside line.
const PBX: &str = r#"
Name = "pbx"
UriType = "TelExtn"
NumberOfDigitsInExtension = 5
CountryOrRegionCode = "44"
NationalNumberPrefix = "0"
InternationalAccessCode = "00"
OutsideLineAccessCode = "9"
PilotIdentifiers = ["20000", "+442079460000"]

[[AutoAttendant]]
Name = "Reception"
PilotIdentifiers = ["29999"]
OperatorExtension = "20002"

[[Peer]]
Address = "192.0.2.10"
Name = "pbx"

[[Mailbox]]
Id = "carol"
Extension = "20001"
E164 = "+442079460001"

[[Mailbox]]
Id = "dave"
Extension = "20002"
E164 = "+442079460002"
"#;

/// A French SBC sending E.164; extension 20001 repeats the PBX's (allowed:
/// both plans list peers and share none).
const SBC: &str = r#"
Name = "sbc"
UriType = "E164"
NumberOfDigitsInExtension = 5
CountryOrRegionCode = "33"
NationalNumberPrefix = "0"
InternationalAccessCode = "00"
PilotIdentifiers = ["+33140000000"]

[[AutoAttendant]]
Name = "Accueil"
PilotIdentifiers = ["+33 1 40 00 00 01"]

[[Peer]]
Address = "198.51.100.0/24"

[[Mailbox]]
Id = "gina"
Extension = "20001"
E164 = "+33140002001"

[[Mailbox]]
Id = "hugo"
Extension = "20002"
E164 = "+33140002002"
"#;

fn plans() -> DialPlans {
    let plans = load_files([
        (Path::new("lync.toml"), LYNC),
        (Path::new("pbx.toml"), PBX),
        (Path::new("sbc.toml"), SBC),
    ])
    .unwrap();
    assert!(plans.warnings().is_empty(), "{:?}", plans.warnings());
    plans
}

/// `mailbox id`, `SA:plan`, `AA:attendant` or `NotFound`.
fn show(route: Route<'_>) -> String {
    match route {
        Route::Deposit(r) => r.mailbox.id.clone(),
        Route::SubscriberAccess { plan } => format!("SA:{}", plan.name),
        Route::AutoAttendant { attendant, .. } => format!("AA:{}", attendant.name),
        Route::NotFound => "NotFound".to_string(),
    }
}

const LYNC_POOL: &str = "10.1.0.5";
const LYNC_V6: &str = "2001:db8:1::7";
const PBX_PEER: &str = "192.0.2.10";
const SBC_PEER: &str = "198.51.100.7";
const UNKNOWN: &str = "203.0.113.9";

#[rustfmt::skip]
const ROUTES: &[(&str, &str, Option<&str>, &str)] = &[
    // Lync voice-mail URIs: deposit for that user, whatever else matches.
    (LYNC_POOL, "sip:alice@contoso.com;opaque=app:voicemail", None, "alice"),
    (LYNC_POOL, "<sip:bob@Contoso.COM;opaque=app:voicemail>", None, "bob"),
    (LYNC_POOL, "sip:mallory@contoso.com;opaque=app:voicemail", None, "NotFound"),
    // SIP addresses: sips: = sip:, host case-insensitive, port/params ignored, user exact.
    (LYNC_POOL, "sips:alice@CONTOSO.com", None, "alice"),
    (LYNC_POOL, "sip:alice@contoso.com:5061;transport=tls", None, "alice"),
    (LYNC_POOL, "sip:bob@contoso.com", None, "bob"),
    (LYNC_POOL, "sip:Alice@contoso.com", None, "NotFound"),
    (LYNC_V6, "sip:alice@contoso.com", None, "alice"),
    ("::ffff:10.1.0.5", "1001", None, "alice"),
    // Subscriber-access pilot in every form.
    (LYNC_POOL, "sip:+14255550100@pool.contoso.com;user=phone", None, "SA:lync"),
    (LYNC_POOL, "tel:+1-425-555-0100", None, "SA:lync"),
    (LYNC_POOL, "+14255550100", None, "SA:lync"),
    (LYNC_POOL, "14255550100", None, "SA:lync"),
    (LYNC_POOL, "(425) 555-0100", None, "SA:lync"),
    (LYNC_POOL, "9 1 425 555 0100", None, "SA:lync"),
    (LYNC_POOL, "sip:subscriberaccess@contoso.com", None, "SA:lync"),
    (LYNC_POOL, "tel:5550100;phone-context=+1-425", None, "SA:lync"),
    // Auto attendant.
    (LYNC_POOL, "tel:+14255550000", None, "AA:Main"),
    (LYNC_POOL, "011 1 425 555 0000", None, "AA:Main"),
    // Diverted calls: the diverted-from user or nothing, never the pilot.
    (LYNC_POOL, "sip:+14255550100@pool.contoso.com;user=phone", Some("sip:alice@contoso.com"), "alice"),
    (LYNC_POOL, "tel:+14255550100", Some("sip:mallory@contoso.com"), "NotFound"),
    (LYNC_POOL, "sip:vm@um.contoso.com", Some("<tel:1002>"), "bob"),
    (LYNC_POOL, "sip:vm@um.contoso.com", Some(""), "NotFound"),
    // Numbers for users, dialled every way the lync plan allows.
    (LYNC_POOL, "tel:+14255551001", None, "alice"),
    (LYNC_POOL, "+1 (425) 555-1002", None, "bob"),
    (LYNC_POOL, "sip:+14255551001@gw.contoso.com;user=phone", None, "alice"),
    (LYNC_POOL, "1001", None, "alice"),
    (LYNC_POOL, "tel:1001;phone-context=contoso.com", None, "alice"),
    (LYNC_POOL, "tel:5551001;phone-context=+1-425", None, "alice"),
    (LYNC_POOL, "5550123", None, "erin"),
    (LYNC_POOL, "9 555 0123", None, "erin"),
    (LYNC_POOL, "5551002", None, "bob"),
    (LYNC_POOL, "4255550123", None, "erin"),
    (LYNC_POOL, "5559999", None, "NotFound"),
    (LYNC_POOL, "+14255559999", None, "NotFound"),
    // The lync pool sees only the lync plan.
    (LYNC_POOL, "20001", None, "NotFound"),
    (LYNC_POOL, "+442079460001", None, "NotFound"),
    // PBX: extensions, national, international, outside line.
    (PBX_PEER, "tel:20001", None, "carol"),
    (PBX_PEER, "sip:20002@192.0.2.10;user=phone", None, "dave"),
    (PBX_PEER, "020 7946 0001", None, "carol"),
    (PBX_PEER, "00 44 20 7946 0002", None, "dave"),
    (PBX_PEER, "9 020 7946 0001", None, "carol"),
    (PBX_PEER, "+442079460001", None, "carol"),
    (PBX_PEER, "442079460002", None, "dave"),
    (PBX_PEER, "20000", None, "SA:pbx"),
    (PBX_PEER, "+44 20 7946 0000", None, "SA:pbx"),
    (PBX_PEER, "02079460000", None, "SA:pbx"),
    (PBX_PEER, "29999", None, "AA:Reception"),
    (PBX_PEER, "tel:20001", Some("tel:20002"), "dave"),
    (PBX_PEER, "sip:alice@contoso.com", None, "NotFound"),
    // SBC: the same extension 20001 is gina here.
    (SBC_PEER, "20001", None, "gina"),
    (SBC_PEER, "tel:+33 1 40 00 20 01", None, "gina"),
    (SBC_PEER, "01 40 00 20 02", None, "hugo"),
    (SBC_PEER, "0033140002001", None, "gina"),
    (SBC_PEER, "+33140000000", None, "SA:sbc"),
    (SBC_PEER, "0140000001", None, "AA:Accueil"),
    (SBC_PEER, "sip:20001@sbc.example.net", Some("tel:20002"), "hugo"),
    (SBC_PEER, "sip:vm@um", Some("sip:alice@contoso.com"), "NotFound"),
    // A peer no plan lists sees every plan: unique forms still route,
    // the repeated extension is ambiguous and goes nowhere.
    (UNKNOWN, "20001", None, "NotFound"),
    (UNKNOWN, "tel:20001", Some("tel:20001"), "NotFound"),
    (UNKNOWN, "+442079460001", None, "carol"),
    (UNKNOWN, "0140002001", None, "gina"),
    (UNKNOWN, "sip:alice@contoso.com", None, "alice"),
    (UNKNOWN, "+14255550100", None, "SA:lync"),
    (UNKNOWN, "20000", None, "SA:pbx"),
    (UNKNOWN, "sip:nobody@example.com", None, "NotFound"),
    (UNKNOWN, "", None, "NotFound"),
    (UNKNOWN, "tel:", None, "NotFound"),
];

#[test]
fn routing_table() {
    let plans = plans();
    let mut failures = Vec::new();
    for (peer, ruri, diverted, want) in ROUTES {
        let ip: IpAddr = peer.parse().unwrap();
        let got = show(plans.route(ip, ruri, *diverted));
        if got != *want {
            failures.push(format!(
                "{peer} {ruri:?} {diverted:?}: got {got}, want {want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ROUTES.len() >= 40);
}

#[test]
fn route_returns_the_plan_of_the_target() {
    let plans = plans();
    let pbx: IpAddr = PBX_PEER.parse().unwrap();
    let sbc: IpAddr = SBC_PEER.parse().unwrap();
    match (
        plans.route(pbx, "20001", None),
        plans.route(sbc, "20001", None),
    ) {
        (Route::Deposit(a), Route::Deposit(b)) => {
            assert_eq!(
                (a.plan.name.as_str(), a.mailbox.id.as_str()),
                ("pbx", "carol")
            );
            assert_eq!(
                (b.plan.name.as_str(), b.mailbox.id.as_str()),
                ("sbc", "gina")
            );
        }
        other => panic!("{other:?}"),
    }
    match plans.route(pbx, "29999", None) {
        Route::AutoAttendant { plan, attendant } => {
            assert_eq!(plan.name, "pbx");
            assert_eq!(attendant.operator_extension.as_deref(), Some("20002"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn peers_are_listed_with_their_plans() {
    let plans = plans();
    let got: Vec<String> = plans
        .peers()
        .map(|(plan, peer)| format!("{} {} {:?}", plan.name, peer, peer.certificate_name))
        .collect();
    assert_eq!(
        got,
        [
            "lync 10.1.0.0/24 Some(\"pool.contoso.com\")",
            "lync 2001:db8:1::/48 Some(\"pool6.contoso.com\")",
            "pbx 192.0.2.10 None",
            "sbc 198.51.100.0/24 None",
        ]
    );
    let (_, pool) = plans.peers().next().unwrap();
    for (ip, inside) in [
        ("10.1.0.0", true),
        ("10.1.0.255", true),
        ("10.1.1.0", false),
        ("::ffff:10.1.0.9", true),
        ("2001:db8:1::1", false),
    ] {
        assert_eq!(pool.contains(ip.parse().unwrap()), inside, "{ip}");
    }
    let (_, v6) = plans.peers().nth(1).unwrap();
    assert!(v6.contains("2001:db8:1:ffff::1".parse().unwrap()));
    assert!(!v6.contains("2001:db8:2::1".parse().unwrap()));
    assert_eq!(plans.plans()[0].voip_security, VoipSecurity::Secured);
}

#[test]
fn number_normalisation_both_ways() {
    let plans = plans();
    let [lync, pbx, sbc] = [0, 1, 2].map(|i| &plans.plans()[i]);
    #[rustfmt::skip]
    let table: &[(&umgw::dialplan::DialPlan, &str, Option<&str>)] = &[
        (lync, "+1 425 555 0123", Some("+14255550123")),
        (lync, "tel:+1-425-555-0123;phone-context=+1", Some("+14255550123")),
        (lync, "1 425 555 0123", Some("+14255550123")),
        (lync, "011 44 20 7946 0001", Some("+442079460001")),
        (lync, "9 011 44 20 7946 0001", Some("+442079460001")),
        (lync, "0123", Some("+14255550123")),
        (lync, "555 0123", Some("+14255550123")),
        (lync, "555 0199", None),
        (lync, "sip:erin@contoso.com", None),
        (pbx, "020 7946 0001", Some("+442079460001")),
        (pbx, "9 00 1 425 555 0123", Some("+14255550123")),
        (pbx, "20002", Some("+442079460002")),
        (pbx, "29999", None),
        (sbc, "01 40 00 20 01", Some("+33140002001")),
        (sbc, "00 44 20 7946 0001", Some("+442079460001")),
    ];
    for (plan, dialled, want) in table {
        assert_eq!(
            normalise_to_e164(plan, dialled).as_deref(),
            *want,
            "{} {dialled:?}",
            plan.name
        );
    }
    assert_eq!(
        e164_to_extension(lync, "+14255550123").as_deref(),
        Some("0123")
    );
    assert_eq!(
        e164_to_extension(pbx, "tel:+44-20-7946-0002").as_deref(),
        Some("20002")
    );
    assert_eq!(
        e164_to_extension(sbc, "+33140002001").as_deref(),
        Some("20001")
    );
    // Another plan's user, or no user: no extension.
    assert_eq!(e164_to_extension(sbc, "+442079460001"), None);
    assert_eq!(e164_to_extension(lync, "+14255550100"), None);
}

// ---- Diagnostics, one rule at a time ----

const HEAD: &str = "Name = \"p\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n";
const ALICE: &str = "[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sip:alice@contoso.com\"\n";

/// Loads `files` and renders errors (on failure) or warnings (on success).
fn lint(files: &[(&str, &str)]) -> Vec<String> {
    match load_files(files.iter().map(|(p, t)| (Path::new(*p), *t))) {
        Ok(p) => p.warnings().iter().map(ToString::to_string).collect(),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn lint_bad_extension_length_and_unknown_uri_type() {
    let text = "Name = \"p\"\nUriType = \"SIPName\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"a\"\nExtension = \"10001\"\n";
    assert_eq!(
        lint(&[("p.toml", text)]),
        [
            "p.toml:2:11: error: UriType \"SIPName\" is not one of TelExtn, E164, SipName; did you mean \"SipName\"?",
            "p.toml:7:13: error: extension \"10001\" has 5 digits; NumberOfDigitsInExtension is 4",
        ]
    );
}

#[test]
fn lint_sip_name_without_domain() {
    let text = format!("Name = \"p\"\nUriType = \"SipName\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n{ALICE}");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        ["p.toml:2:11: error: UriType SipName needs Domain, the SIP domain of the plan's users"]
    );
}

#[test]
fn lint_unknown_security_and_codec() {
    let text = format!("{HEAD}VoIPSecurity = \"TLS\"\nAudioCodec = \"Wma\"\n{ALICE}");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        [
            "p.toml:5:16: error: VoIPSecurity \"TLS\" is not one of Unsecured, SIPSecured, Secured",
            "p.toml:6:14: error: AudioCodec \"Wma\" is not supported: umgw records WAV (G.711 decoded to 16-bit PCM); use \"Wav\" or \"G711\"",
        ]
    );
}

#[test]
fn lint_bad_durations() {
    let text = format!("{HEAD}MaxCallDuration = \"3h\"\nRecordingIdleTimeout = \"5\"\n{ALICE}");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        [
            "p.toml:5:19: error: MaxCallDuration \"3h\" must be between 1m and 120m",
            "p.toml:6:24: error: RecordingIdleTimeout \"5\" is not a duration: write a whole number and a unit (ms, s, m, h), e.g. \"20m\" or \"90s\"",
        ]
    );
}

#[test]
fn lint_pilot_that_is_a_user() {
    let text = format!("{HEAD}PilotIdentifiers = [\"tel:+1 425 555 1001\"]\n{ALICE}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"1001\", \"sip:alice@CONTOSO.COM\"]\n");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        [
            "p.toml:5:21: error: PilotIdentifiers \"tel:+1 425 555 1001\" of subscriber access of plan \"p\" is also the E164 of mailbox \"alice\" at p.toml:9",
            "p.toml:13:21: error: PilotIdentifiers \"1001\" of auto attendant \"Main\" is also the extension of mailbox \"alice\" at p.toml:8",
            "p.toml:13:29: error: PilotIdentifiers \"sip:alice@CONTOSO.COM\" of auto attendant \"Main\" is also the SipAddress of mailbox \"alice\" at p.toml:10",
        ]
    );
    // Across plans too: the E.164 is global.
    let other = "Name = \"q\"\nUriType = \"E164\"\nNumberOfDigitsInExtension = 5\nCountryOrRegionCode = \"1\"\nNationalNumberPrefix = \"1\"\nPilotIdentifiers = \"1 425 555 1001\"\n";
    assert_eq!(
        lint(&[("p.toml", &format!("{HEAD}{ALICE}")), ("q.toml", other)]),
        [
            "q.toml:1:1: warning: plan has no [[Mailbox]] entries",
            "q.toml:6:20: error: PilotIdentifiers \"1 425 555 1001\" of subscriber access of plan \"q\" is also the E164 of mailbox \"alice\" at p.toml:8",
        ]
    );
}

#[test]
fn lint_operator_extension_must_be_a_mailbox() {
    let text = format!("{HEAD}OperatorExtension = \"1000\"\n{ALICE}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = \"5000\"\nOperatorExtension = \"+14255551001\"\n");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        ["p.toml:5:21: error: OperatorExtension \"1000\" is not a mailbox of plan \"p\""]
    );
}

#[test]
fn lint_bad_peer_address() {
    let text = format!("{HEAD}{ALICE}[[Peer]]\nAddress = \"pool.contoso.com\"\n[[Peer]]\nAddress = \"10.0.0.0/40\"\n");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        [
            "p.toml:11:11: error: Peer Address \"pool.contoso.com\" is not an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/24)",
            "p.toml:13:11: error: Peer Address \"10.0.0.0/40\": prefix length must be 0 to 32",
        ]
    );
}

#[test]
fn lint_duplicate_and_overlapping_peers() {
    let a = format!(
        "{HEAD}{ALICE}[[Peer]]\nAddress = \"10.0.0.0/8\"\n[[Peer]]\nAddress = \"10.2.0.0/16\"\n"
    );
    assert_eq!(
        lint(&[("a.toml", &a)]),
        ["a.toml:13:11: error: Peer Address \"10.2.0.0/16\" overlaps Peer \"10.0.0.0/8\" of the same plan at a.toml:11"]
    );
    // The same address in two plans: a warning (one pool may serve both).
    let a = format!("{HEAD}{ALICE}[[Peer]]\nAddress = \"10.0.0.5\"\n");
    let b = "Name = \"q\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 5\nCountryOrRegionCode = \"44\"\n[[Mailbox]]\nId = \"x\"\nExtension = \"20001\"\n[[Peer]]\nAddress = \"10.0.0.5\"\n";
    assert_eq!(
        lint(&[("a.toml", &a), ("b.toml", b)]),
        ["b.toml:9:11: warning: Peer Address \"10.0.0.5\" overlaps Peer \"10.0.0.5\" of plan \"p\" at a.toml:11; calls from it can reach both plans"]
    );
}

#[test]
fn lint_duplicate_extensions_across_plans() {
    let plan = |name: &str, id: &str, peers: &str| {
        format!("Name = \"{name}\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"{id}\"\nExtension = \"1001\"\n{peers}")
    };
    let peer = |a: &str| format!("[[Peer]]\nAddress = \"{a}\"\n");
    // Disjoint peers: allowed.
    let a = plan("a", "x", &peer("10.1.0.0/16"));
    let b = plan("b", "y", &peer("10.2.0.0/16"));
    assert!(lint(&[("a.toml", &a), ("b.toml", &b)]).is_empty());
    // A plan without peers can get any call.
    let b = plan("b", "y", "");
    assert_eq!(
        lint(&[("a.toml", &a), ("b.toml", &b)]),
        ["b.toml:7:13: error: duplicate extension \"1001\" (mailbox \"y\"); first used by mailbox \"x\" at a.toml:7; an extension may repeat in another plan only if both plans list [[Peer]] entries and share none"]
    );
    // A shared peer: an error, and the overlap warning.
    let b = plan(
        "b",
        "y",
        &format!("{}{}", peer("10.3.0.1"), peer("10.1.7.0/24")),
    );
    assert_eq!(
        lint(&[("a.toml", &a), ("b.toml", &b)]),
        [
            "b.toml:7:13: error: duplicate extension \"1001\" (mailbox \"y\"); first used by mailbox \"x\" at a.toml:7; plans \"a\" and \"b\" share a peer address, so a call from it could be for either",
            "b.toml:11:11: warning: Peer Address \"10.1.7.0/24\" overlaps Peer \"10.1.0.0/16\" of plan \"a\" at a.toml:9; calls from it can reach both plans",
        ]
    );
    // Within one plan: always an error.
    let one = format!("{HEAD}{ALICE}[[Mailbox]]\nId = \"bob\"\nExtension = \"1001\"\n");
    assert_eq!(
        lint(&[("p.toml", &one)]),
        ["p.toml:12:13: error: duplicate extension \"1001\" (mailbox \"bob\"); first used by mailbox \"alice\" at p.toml:7"]
    );
}

#[test]
fn lint_secured_peer_without_certificate_is_a_warning() {
    let text = format!("{HEAD}VoIPSecurity = \"SIPSecured\"\n{ALICE}[[Peer]]\nAddress = \"10.0.0.5\"\nCertificateName = \"pool.contoso.com\"\n[[Peer]]\nAddress = \"10.0.0.6\"\n");
    assert_eq!(
        lint(&[("p.toml", &text)]),
        ["p.toml:14:1: warning: Peer 10.0.0.6 has no CertificateName; VoIPSecurity \"SIPSecured\" needs mutual TLS, so name the FQDN its certificate carries"]
    );
}

#[test]
fn check_prints_warnings_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("{HEAD}VoIPSecurity = \"Secured\"\n{ALICE}[[Peer]]\nAddress = \"10.0.0.6\"\n");
    std::fs::write(dir.path().join("p.toml"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["check", "--dialplans"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let file = dir.path().join("p.toml");
    assert!(
        stderr.contains(&format!(
            "{}:11:1: warning: Peer 10.0.0.6 has no CertificateName",
            file.display()
        )),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("ok: 1 dial plan(s), 1 mailbox(es), 1 warning(s)"),
        "{stdout}"
    );
}
