//! Dialing rules: patterns, rewriting, and refusals of premium and international numbers.

use super::*;
use crate::dialplan::load_str;
use std::path::Path;

const HEAD: &str = "Name = \"nanp\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\nNationalNumberPrefix = \"1\"\nInternationalAccessCode = \"011\"\nOutsideLineAccessCode = \"9\"\nDomain = \"contoso.com\"\n";
const MAILBOXES: &str =
    "[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\n";
const RULES: &str = "ConfiguredInCountryOrRegionGroups = [\n  { Name = \"Local\", NumberMask = \"425xxxxxxx\", DialedNumber = \"91425xxxxxxx\", Comment = \"Seattle\" },\n  { Name = \"TollFree\", NumberMask = \"8xx*\", DialedNumber = \"+18xx*\" },\n  { Name = \"Premium\", NumberMask = \"900*\", DialedNumber = \"91900*\" },\n]\nConfiguredInternationalGroups = [{ Name = \"UK\", NumberMask = \"44*\", DialedNumber = \"901144*\" }]\nAllowedInCountryOrRegionGroups = [\"Local\", \"tollfree\"]\n";

fn plan(rules: &str) -> DialPlan {
    load_str(Path::new("p.toml"), &format!("{HEAD}{rules}{MAILBOXES}")).unwrap()
}

fn lint(text: &str) -> Vec<String> {
    match load_str(Path::new("p.toml"), text) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

fn allowed(group: &str, number: &str) -> Result<Dialing, DialRefused> {
    Ok(Dialing::Allowed {
        group: group.into(),
        number: number.into(),
    })
}

#[test]
fn masks_match_digits_x_and_a_final_star_and_rewrite_into_the_dialed_number() {
    let rule = |mask: &str, dialed: &str| DialingRule {
        group: "g".into(),
        number_mask: mask.into(),
        dialed_number: dialed.into(),
        comment: None,
    };
    let local = rule("425xxxxxxx", "91425xxxxxxx");
    assert_eq!(local.rewrite("4255550123").as_deref(), Some("914255550123"));
    assert_eq!(local.rewrite("425555012"), None, "too short");
    assert_eq!(local.rewrite("42555501234"), None, "too long");
    assert_eq!(local.rewrite("2065550123"), None);
    let uk = rule("44*", "901144*");
    assert_eq!(
        uk.rewrite("442079460123").as_deref(),
        Some("9011442079460123")
    );
    assert_eq!(uk.rewrite("44").as_deref(), Some("901144"));
    assert_eq!(uk.rewrite("4"), None);
    // x digits carry over in order, whatever surrounds them.
    let swap = rule("1xx2x*", "x0x0x*");
    assert_eq!(swap.rewrite("1342567").as_deref(), Some("3040567"));
}

#[test]
fn numbers_within_the_plan_are_always_allowed() {
    let p = plan(RULES);
    for inside in [
        "1001",
        "alice",
        "+14255551001",
        "9 1 425 555 1001",
        "1999",
        "sip:desk@pbx.contoso.com",
    ] {
        assert_eq!(p.outside_dialing(inside), Ok(Dialing::Inside), "{inside}");
    }
}

#[test]
fn allowed_groups_rewrite_every_dialled_form() {
    let p = plan(RULES);
    for local in [
        "+14255550123",
        "tel:+1-425-555-0123",
        "sip:+14255550123@contoso.com;user=phone",
        "9 1 (425) 555-0123",
        "14255550123",
        "4255550123",
    ] {
        assert_eq!(
            p.outside_dialing(local),
            allowed("Local", "914255550123"),
            "{local}"
        );
    }
    // Allowed names are case-insensitive, as Exchange's are.
    assert_eq!(
        p.outside_dialing("+18005550100"),
        allowed("TollFree", "+18005550100")
    );
}

#[test]
fn premium_other_areas_and_international_numbers_are_refused() {
    let p = plan(RULES);
    // Premium is configured but not allowed; 206 is in no group.
    assert_eq!(
        p.outside_dialing("1 900 555 0123"),
        Err(DialRefused::InCountry {
            number: "+19005550123".into()
        })
    );
    assert!(matches!(
        p.outside_dialing("+12065550123"),
        Err(DialRefused::InCountry { .. })
    ));
    for uk in ["+442079460123", "011 44 20 7946 0123", "9011442079460123"] {
        assert_eq!(
            p.outside_dialing(uk),
            Err(DialRefused::International {
                number: "+442079460123".into()
            }),
            "{uk}"
        );
    }
    // Short codes and what the plan cannot read are refused too.
    assert!(matches!(
        p.outside_dialing("118"),
        Err(DialRefused::Unknown { .. })
    ));
    assert!(matches!(
        p.outside_dialing("the front desk"),
        Err(DialRefused::Unknown { .. })
    ));
    // Allowing the UK group lets the same number through, rewritten.
    let p = plan(&format!("{RULES}AllowedInternationalGroups = [\"UK\"]\n"));
    assert_eq!(
        p.outside_dialing("011 44 20 7946 0123"),
        allowed("UK", "9011442079460123")
    );
}

#[test]
fn without_groups_outside_dialling_is_unrestricted() {
    let p = plan("");
    assert!(!p.dialing_rules.restricts());
    assert_eq!(
        p.outside_dialing("+442079460123"),
        Ok(Dialing::Unrestricted)
    );
    assert_eq!(p.outside_dialing("1001"), Ok(Dialing::Inside));
}

#[test]
fn the_groups_parse_with_their_fields() {
    let p = plan(RULES);
    let r = &p.dialing_rules;
    assert_eq!(r.in_country.len(), 3);
    assert_eq!(r.in_country[0].comment.as_deref(), Some("Seattle"));
    assert_eq!(r.international[0].dialed_number, "901144*");
    assert_eq!(r.allowed_in_country, ["Local", "tollfree"]);
    assert!(r.allowed_international.is_empty());
}

#[test]
fn every_dialing_rule_error_has_its_position() {
    let text = format!(
        "{HEAD}ConfiguredInCountryOrRegionGroups = [\n  {{ Name = \"Local\", NumberMask = \"425-xxx\", DialedNumber = \"9425xxx\" }},\n  {{ Name = \"Bad\", NumberMask = \"4*5\", DialedNumber = \"45\" }},\n  {{ Name = \"Count\", NumberMask = \"425xx\", DialedNumber = \"9425x\" }},\n  {{ Name = \"Star\", NumberMask = \"425*\", DialedNumber = \"9425\" }},\n  {{ NumberMask = \"1\", DialedNumber = \"1\", Colour = \"red\" }},\n]\nConfiguredInternationalGroups = [{{ Name = \"UK\", NumberMask = \"44*\", DialedNumber = \"++44*\" }}]\nAllowedInCountryOrRegionGroups = [\"Local\", \"UK\"]\nAllowedInternationalGroups = \"Nowhere\"\n{MAILBOXES}"
    );
    assert_eq!(
        lint(&text),
        [
            "p.toml:10:34: error: NumberMask \"425-xxx\" must be digits and x (any digit), with an optional final * (any rest)",
            "p.toml:11:32: error: NumberMask \"4*5\" must be digits and x (any digit), with an optional final * (any rest)",
            "p.toml:12:58: error: DialedNumber \"9425x\" must have as many x as NumberMask \"425xx\" (2) and end in * exactly when it does: they carry the dialled digits over",
            "p.toml:13:56: error: DialedNumber \"9425\" must have as many x as NumberMask \"425*\" (0) and end in * exactly when it does: they carry the dialled digits over",
            "p.toml:14:3: error: missing required key Name in a ConfiguredInCountryOrRegionGroups entry",
            "p.toml:14:43: error: unknown key Colour in a ConfiguredInCountryOrRegionGroups entry; expected one of Name, NumberMask, DialedNumber, Comment",
            "p.toml:16:84: error: DialedNumber \"++44*\" must be an optional leading +, digits and x (any digit), with an optional final * (any rest)",
            "p.toml:17:44: error: AllowedInCountryOrRegionGroups entry \"UK\" is not the Name of an entry of ConfiguredInCountryOrRegionGroups",
            "p.toml:18:30: error: AllowedInternationalGroups entry \"Nowhere\" is not the Name of an entry of ConfiguredInternationalGroups",
        ]
    );
}

#[test]
fn attendant_transfers_the_rules_refuse_are_warned_about_at_their_target() {
    let text = format!(
        "{HEAD}{RULES}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\nBusinessHoursKeyMapping = [\n  {{ Key = \"1\", Action = \"Transfer\", Target = \"+442079460123\" }},\n  {{ Key = \"2\", Action = \"Transfer\", Target = \"+14255550123\" }},\n]\n{MAILBOXES}"
    );
    let plans = crate::dialplan::load_files([(Path::new("p.toml"), text.as_str())]).unwrap();
    let w: Vec<String> = plans.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        ["p.toml:20:46: warning: Target \"+442079460123\" of auto attendant \"Main\" cannot be dialled: +442079460123 is in no allowed international group of plan \"nanp\"; the key will say so"]
    );
}
