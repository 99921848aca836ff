//! Number normalisation within one plan: dialled forms ⇄ E.164 ⇄ extension.
//!
//! A number without `+` is read in the plan's dialling context, first rule wins:
//! 1. exactly `NumberOfDigitsInExtension` digits that are a mailbox's
//!    `Extension`: that mailbox;
//! 2. `OutsideLineAccessCode` (e.g. `9`) is stripped when the number is longer
//!    than the code plus an extension, and what follows is external (step 1
//!    no longer applies);
//! 3. `InternationalAccessCode` + CC + NSN → `+CC NSN`;
//! 4. `NationalNumberPrefix` + NSN → `+plan-CC NSN`;
//! 5. a local form: a proper suffix of a mailbox's national number that is
//!    longer than an extension and ends in that mailbox's `Extension` (so
//!    `5550123` reaches `+14255550123` only if its extension is `0123`);
//! 6. CC + NSN without a prefix, 10 to 15 digits (`14255550123`);
//! 7. NSN without the trunk prefix, 10 to 15 digits with the CC
//!    (`4255550123`, North American ten-digit dialling).
//!
//! The result must be `+` and 8 to 15 digits. Step 1 before the others keeps
//! a user's extension from being read as a (shorter) external number; the
//! length floors in 6 and 7 keep short unknown numbers from becoming bogus
//! E.164s.

use super::model::{DialPlan, MailboxEntry};
use super::resolve::normalise;

/// What a number means in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reading<'a> {
    /// A mailbox's extension.
    Extension(&'a MailboxEntry),
    /// An E.164 number (`+digits`).
    E164(String),
    /// Nothing this plan can place.
    Unknown,
}

/// How a user, pilot or called party is compared: sip URIs as `user@host`
/// (host lower-cased), numbers as E.164 where the plan can tell, else as the
/// dialled digits (extension form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    Sip(String),
    E164(String),
    Digits(String),
}

/// The number in a called party (URI or bare), separators removed; a
/// `tel:`/`sip:` local number with a global `;phone-context=+CC...` (RFC 3966
/// §5.1.5) becomes global. `None` for non-numeric SIP users.
pub(crate) fn dialled_number(dialled: &str) -> Option<String> {
    let called = normalise(dialled);
    let n = called.number?;
    if n.starts_with('+') {
        return Some(n);
    }
    let Some(digits) = called
        .phone_context
        .as_deref()
        .and_then(|c| c.strip_prefix('+'))
    else {
        return Some(n); // none, or a domain name context: the number stays local
    };
    let digits: String = digits.chars().filter(|c| !"-.()".contains(*c)).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(n);
    }
    Some(format!("+{digits}{n}"))
}

fn e164(digits: &str) -> Reading<'static> {
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Reading::E164(format!("+{digits}"))
    } else {
        Reading::Unknown
    }
}

/// Reads `number` (`+digits` or `digits`, see [`dialled_number`]) in `plan`'s
/// dialling context (module docs).
pub(crate) fn read_number<'a>(plan: &'a DialPlan, number: &str) -> Reading<'a> {
    if let Some(d) = number.strip_prefix('+') {
        return e164(d);
    }
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Reading::Unknown;
    }
    let n = plan.number_of_digits_in_extension;
    if number.len() == n {
        if let Some(m) = plan.mailboxes.iter().find(|m| m.extension == number) {
            return Reading::Extension(m);
        }
    }
    let r = match plan.outside_line_access_code.as_deref() {
        Some(o) if number.len() > o.len() + n => number.strip_prefix(o).unwrap_or(number),
        _ => number,
    };
    let cc = plan.country_or_region_code.as_str();
    if let Some(rest) = plan
        .international_access_code
        .as_deref()
        .and_then(|iac| r.strip_prefix(iac))
    {
        return e164(rest);
    }
    if let Some(rest) = plan
        .national_number_prefix
        .as_deref()
        .and_then(|nnp| r.strip_prefix(nnp))
    {
        return e164(&format!("{cc}{rest}"));
    }
    if let Some(e) = local_form(plan, r) {
        return Reading::E164(e);
    }
    if cc.is_empty() {
        return Reading::Unknown;
    }
    if r.starts_with(cc) && (10..=15).contains(&r.len()) {
        return e164(r);
    }
    if (10..=15).contains(&(cc.len() + r.len())) {
        return e164(&format!("{cc}{r}"));
    }
    Reading::Unknown
}

/// Step 5: the one mailbox E.164 that `r` is a local (shortened) form of.
fn local_form(plan: &DialPlan, r: &str) -> Option<String> {
    if r.len() <= plan.number_of_digits_in_extension {
        return None;
    }
    let prefix = format!("+{}", plan.country_or_region_code);
    let mut hits = plan.mailboxes.iter().filter_map(|m| {
        let e = m.e164.as_deref()?;
        let national = e.strip_prefix(prefix.as_str())?;
        let ok = national.len() > r.len() && national.ends_with(r) && r.ends_with(&m.extension);
        ok.then(|| e.to_string())
    });
    let first = hits.next()?;
    // Two users sharing the digits: a guess either way.
    hits.next().is_none().then_some(first)
}

/// The E.164 form of `dialled` (a number with or without separators, or a
/// `tel:`/`sip:` URI with a numeric user) in `plan`'s dialling context:
/// `"9 1 (425) 555-0123"`, `"tel:+1-425-555-0123"`, `"0123"` (an extension
/// whose mailbox has an E164) all give `"+14255550123"`. `None` for what the
/// plan cannot place (module docs give the rules).
pub fn normalise_to_e164(plan: &DialPlan, dialled: &str) -> Option<String> {
    let number = dialled_number(dialled)?;
    match read_number(plan, &number) {
        Reading::Extension(m) => m.e164.clone(),
        Reading::E164(e) => Some(e),
        Reading::Unknown => None,
    }
}

/// The extension of the mailbox of `plan` whose E164 is `e164` (any form
/// [`normalise_to_e164`] accepts). `None` if no mailbox of the plan has that
/// number: the last digits of an arbitrary number are not an extension.
pub fn e164_to_extension(plan: &DialPlan, e164: &str) -> Option<String> {
    let e = normalise_to_e164(plan, e164)?;
    plan.mailboxes
        .iter()
        .find(|m| m.e164.as_deref() == Some(e.as_str()))
        .map(|m| m.extension.clone())
}

/// The key a pilot identifier is compared by in its plan.
pub(crate) fn pilot_key(plan: &DialPlan, pilot: &str) -> Option<Key> {
    let c = normalise(pilot);
    if c.number.is_none() {
        let u = c.sip?;
        return Some(Key::Sip(format!("{}@{}", u.user?, u.host)));
    }
    let n = dialled_number(pilot)?;
    Some(match read_number(plan, &n) {
        Reading::E164(e) => Key::E164(e),
        _ if n.starts_with('+') => Key::E164(n),
        _ => Key::Digits(n),
    })
}

/// The keys of a mailbox: SipAddress, E164, Extension.
pub(crate) fn mailbox_keys(m: &MailboxEntry) -> Vec<Key> {
    let mut keys = Vec::new();
    if let Some(u) = m
        .sip_address
        .as_deref()
        .and_then(super::resolve::parse_sip_uri)
    {
        if let Some(user) = u.user {
            keys.push(Key::Sip(format!("{user}@{}", u.host)));
        }
    }
    keys.extend(m.e164.clone().map(Key::E164));
    keys.push(Key::Digits(m.extension.clone()));
    keys
}

/// The keys `called` may mean, read in each of `contexts`.
pub(crate) fn called_keys(contexts: &[&DialPlan], called: &str) -> Vec<Key> {
    let c = normalise(called);
    let mut keys = Vec::new();
    if c.number.is_none() {
        if let Some(u) = c.sip {
            keys.extend(u.user.map(|user| Key::Sip(format!("{user}@{}", u.host))));
        }
        return keys;
    }
    let Some(n) = dialled_number(called) else {
        return keys;
    };
    if !n.starts_with('+') {
        keys.push(Key::Digits(n.clone()));
    }
    for plan in contexts {
        match read_number(plan, &n) {
            Reading::E164(e) => keys.push(Key::E164(e)),
            Reading::Extension(m) => keys.extend(m.e164.clone().map(Key::E164)),
            Reading::Unknown => {}
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::load_str;
    use std::path::Path;

    const US: &str = "Name=\"us\"\nUriType=\"E164\"\nNumberOfDigitsInExtension=4\nCountryOrRegionCode=\"1\"\nNationalNumberPrefix=\"1\"\nInternationalAccessCode=\"011\"\nOutsideLineAccessCode=\"9\"\n[[Mailbox]]\nId=\"a\"\nExtension=\"0123\"\nE164=\"+14255550123\"\n[[Mailbox]]\nId=\"b\"\nExtension=\"7777\"\nE164=\"+14255551234\"\n[[Mailbox]]\nId=\"c\"\nExtension=\"9001\"\n";
    const UK: &str = "Name=\"uk\"\nUriType=\"TelExtn\"\nNumberOfDigitsInExtension=5\nCountryOrRegionCode=\"44\"\nNationalNumberPrefix=\"0\"\nInternationalAccessCode=\"00\"\nOutsideLineAccessCode=\"9\"\n[[Mailbox]]\nId=\"d\"\nExtension=\"60001\"\nE164=\"+442079460001\"\n";

    #[test]
    fn to_e164_us() {
        let p = load_str(Path::new("us.toml"), US).unwrap();
        let table: &[(&str, Option<&str>)] = &[
            ("+14255550123", Some("+14255550123")),
            ("tel:+1-425-555-0123", Some("+14255550123")),
            ("sip:+14255550123@gw;user=phone", Some("+14255550123")),
            ("14255550123", Some("+14255550123")),
            ("1 (425) 555-0123", Some("+14255550123")),
            ("4255550123", Some("+14255550123")),
            ("9 1 425 555 0123", Some("+14255550123")),
            ("9 425 555 0123", Some("+14255550123")),
            ("9 011 44 20 7946 0001", Some("+442079460001")),
            ("011 44 20 7946 0001", Some("+442079460001")),
            ("0123", Some("+14255550123")),
            ("5550123", Some("+14255550123")),
            ("95550123", Some("+14255550123")),
            ("tel:0123;phone-context=contoso.com", Some("+14255550123")),
            ("tel:5550199;phone-context=+1-425", Some("+14255550199")),
            // 1234 is not b's extension (7777): no local form.
            ("5551234", None),
            ("9001", None), // an extension without E164, not outside line + 001
            ("1009", None),
            ("+1425", None),
            ("sip:alice@contoso.com", None),
            ("", None),
        ];
        for (dialled, want) in table {
            assert_eq!(
                normalise_to_e164(&p, dialled).as_deref(),
                *want,
                "{dialled:?}"
            );
        }
    }

    #[test]
    fn to_e164_uk() {
        let p = load_str(Path::new("uk.toml"), UK).unwrap();
        let table: &[(&str, Option<&str>)] = &[
            ("020 7946 0001", Some("+442079460001")),
            ("00 44 20 7946 0001", Some("+442079460001")),
            ("00 1 425 555 0123", Some("+14255550123")),
            ("9 020 7946 0001", Some("+442079460001")),
            ("442079460001", Some("+442079460001")),
            ("2079460001", Some("+442079460001")),
            ("60001", Some("+442079460001")),
            ("79460001", Some("+442079460001")),
            ("0", None),
        ];
        for (dialled, want) in table {
            assert_eq!(
                normalise_to_e164(&p, dialled).as_deref(),
                *want,
                "{dialled:?}"
            );
        }
    }

    #[test]
    fn to_extension() {
        let us = load_str(Path::new("us.toml"), US).unwrap();
        let uk = load_str(Path::new("uk.toml"), UK).unwrap();
        assert_eq!(
            e164_to_extension(&us, "+14255550123").as_deref(),
            Some("0123")
        );
        assert_eq!(
            e164_to_extension(&us, "tel:+1 425 555 1234").as_deref(),
            Some("7777")
        );
        assert_eq!(e164_to_extension(&us, "+14255550124"), None);
        assert_eq!(
            e164_to_extension(&uk, "+442079460001").as_deref(),
            Some("60001")
        );
        assert_eq!(e164_to_extension(&uk, "+14255550123"), None);
        // Round trip for every mailbox with a number.
        for p in [&us, &uk] {
            for m in p.mailboxes.iter().filter(|m| m.e164.is_some()) {
                let e = normalise_to_e164(p, &m.extension).unwrap();
                assert_eq!(Some(&e), m.e164.as_ref());
                assert_eq!(e164_to_extension(p, &e).as_ref(), Some(&m.extension));
            }
        }
    }

    #[test]
    fn keys() {
        let us = load_str(Path::new("us.toml"), US).unwrap();
        assert_eq!(
            pilot_key(&us, "4255550100"),
            Some(Key::E164("+14255550100".into()))
        );
        assert_eq!(pilot_key(&us, "5000"), Some(Key::Digits("5000".into())));
        assert_eq!(
            pilot_key(&us, "sip:SA@Contoso.com"),
            Some(Key::Sip("SA@contoso.com".into()))
        );
        assert_eq!(
            called_keys(&[&us], "tel:0123"),
            vec![Key::E164("+14255550123".into()), Key::Digits("0123".into())]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[+0-9 ;=a-z:@.-]{0,24}") {
            let us = load_str(Path::new("us.toml"), US).unwrap();
            let _ = normalise_to_e164(&us, &s);
            let _ = e164_to_extension(&us, &s);
            let _ = called_keys(&[&us], &s);
        }

        #[test]
        fn e164_is_a_fixed_point(d in "[1-9][0-9]{7,14}") {
            let us = load_str(Path::new("us.toml"), US).unwrap();
            let e = format!("+{d}");
            proptest::prop_assert_eq!(normalise_to_e164(&us, &e), Some(e.clone()));
        }
    }
}
