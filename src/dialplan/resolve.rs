//! Called-party normalisation and mailbox resolution.
//!
//! This is the peer-blind lookup; [`DialPlans::route`] (in `route`) is the
//! full one, with peer-selected plans, pilots and more dialled forms.
//!
//! Order (first hit wins; ids, E.164s and SIP addresses are unique across
//! plans, so the order only matters between KINDS of match):
//! 1. SIP address: `sip:`/`sips:` equivalent, host case-insensitive, port
//!    ignored, user exact (RFC 3261 §19.1.4 compares users case-sensitively).
//! 2. E.164: `+` numbers exactly; numbers without `+` through every plan's
//!    dialled forms (international `IAC + CC + N`, national `NNP + N` with the
//!    plan's CC, `CC + N` at full length), since the caller may sit in any
//!    plan. Only an exact E164 match counts; if the readings hit two
//!    different mailboxes the number is ambiguous and resolves to nothing.
//! 3. Extension: exactly `NumberOfDigitsInExtension` digits; an extension that
//!    repeats in two plans (allowed for peer-disjoint plans) resolves to
//!    nothing, as only the peer could tell. The last N digits
//!    of a longer number are never taken as an extension: a mailbox's own
//!    E164 already matches in step 2, and anything else would be a guess.
//!
//! `UriType` does not restrict resolution: call servers mix forms (Lync sends
//! SIP URIs but a PBX leg may send `tel:`), and all forms are unambiguous.

use super::model::{DialPlan, DialPlans, MailboxEntry, Resolved};
use crate::sip::Uri;

/// A `sip:`/`sips:` URI reduced to what identifies a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SipUri {
    /// Percent-decoded user part without password or user parameters.
    pub user: Option<String>,
    /// Lower-cased host without port.
    pub host: String,
}

/// A `sip:`/`sips:` URI ([`Uri`]) reduced to what identifies a user. `None` for other
/// schemes, an invalid URI or an empty user.
pub(crate) fn parse_sip_uri(s: &str) -> Option<SipUri> {
    let uri: Uri = s.trim().parse().ok()?;
    sip_uri(&uri)
}

fn sip_uri(uri: &Uri) -> Option<SipUri> {
    let host = uri.host()?;
    let user = match uri.user_base() {
        Some(user)
            if user.is_empty()
                || user.contains(|c: char| c.is_whitespace() || "<>\"".contains(c)) =>
        {
            return None
        }
        user => user.map(|u| u.into_owned()),
    };
    Some(SipUri {
        user,
        host: host.to_string().to_ascii_lowercase(),
    })
}

/// Same user: sip/sips equivalent, host case-insensitive, port ignored.
#[cfg(test)]
pub(crate) fn same_sip_address(a: &str, b: &str) -> bool {
    match (parse_sip_uri(a), parse_sip_uri(b)) {
        (Some(a), Some(b)) => a.user.is_some() && a == b,
        _ => false,
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The called party in comparable form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Called {
    /// User and host if the party was a SIP URI with a user.
    pub sip: Option<SipUri>,
    /// `+digits` or `digits`, visual separators removed.
    pub number: Option<String>,
    /// RFC 3966 `phone-context` of a telephone number (a tel URI's parameter, a SIP URI user's).
    pub phone_context: Option<String>,
}

/// Normalises `sip:`/`sips:`/`tel:` URIs (optionally in `<...>`) and bare
/// numbers or `user@host`. URI parameters and headers (`;user=phone`,
/// Lync's `;opaque=app:voicemail`) are dropped; `phone-context` is kept apart.
pub(crate) fn normalise(called: &str) -> Called {
    let mut s = called.trim();
    if let Some(open) = s.find('<') {
        let inner = &s[open + 1..];
        s = &inner[..inner.find('>').unwrap_or(inner.len())];
    }
    let s = s.trim();
    let context = |u: &Uri| u.phone_context().map(|c| c.into_owned());
    if strip_prefix_ci(s, "sip:").is_some() || strip_prefix_ci(s, "sips:").is_some() {
        let Ok(uri) = s.parse::<Uri>() else {
            return Called::default();
        };
        let sip = sip_uri(&uri);
        let number = sip
            .as_ref()
            .and_then(|u| u.user.as_deref())
            .and_then(as_number);
        let phone_context = context(&uri);
        return Called {
            sip,
            number,
            phone_context,
        };
    }
    if let Some(rest) = strip_prefix_ci(s, "tel:") {
        return match s.parse::<Uri>() {
            Ok(uri) => Called {
                sip: None,
                number: uri.user().as_deref().and_then(as_number),
                phone_context: context(&uri),
            },
            // `tel:+1 425 555 1001`: no URI, but a number all the same.
            Err(_) => normalise(rest),
        };
    }
    if s.contains('@') {
        return normalise(&format!("sip:{s}"));
    }
    // A bare number reads as a tel URI without its scheme (`5550199;phone-context=+1-425`);
    // one written with spaces (`+1 (425) 555-1002`) is no URI, but still a number.
    if let Ok(uri) = format!("tel:{s}").parse::<Uri>() {
        return Called {
            sip: None,
            number: uri.user_escaped().and_then(as_number),
            phone_context: context(&uri),
        };
    }
    let end = s.find(';').unwrap_or(s.len());
    Called {
        sip: None,
        number: as_number(&s[..end]),
        phone_context: None,
    }
}

/// `+1 (425) 555-1001` → `+14255551001`; `None` unless digits (after an optional `+`).
fn as_number(s: &str) -> Option<String> {
    let n: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' ' | '\t'))
        .collect();
    let digits = n.strip_prefix('+').unwrap_or(&n);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(n)
}

/// E.164 forms of a number dialled without `+` under `plan`'s prefixes.
fn dialled_forms(plan: &DialPlan, digits: &str) -> Vec<String> {
    let cc = plan.country_or_region_code.as_str();
    let mut out = Vec::new();
    if let Some(rest) = plan
        .international_access_code
        .as_deref()
        .and_then(|iac| digits.strip_prefix(iac))
    {
        out.push(format!("+{rest}"));
    }
    if let Some(rest) = plan
        .national_number_prefix
        .as_deref()
        .and_then(|nnp| digits.strip_prefix(nnp))
    {
        out.push(format!("+{cc}{rest}"));
    }
    if digits.starts_with(cc) {
        out.push(format!("+{digits}"));
    }
    out
}

impl DialPlans {
    /// The mailbox a call to `called_uri` is for (see the module docs for the
    /// rules), or `None` if no mailbox matches.
    pub fn resolve(&self, called_uri: &str) -> Option<Resolved<'_>> {
        resolve_in(&self.plans, called_uri)
    }
}

/// [`DialPlans::resolve`] among `plans` only (a call's own plan: who sent a message, for a
/// reply).
pub fn resolve_in<'a>(
    plans: &'a [std::sync::Arc<DialPlan>],
    called_uri: &str,
) -> Option<Resolved<'a>> {
    let find = |pred: &dyn Fn(&MailboxEntry) -> bool| {
        plans.iter().find_map(|plan| {
            let mailbox = plan.mailboxes.iter().find(|m| pred(m))?;
            Some(Resolved { plan, mailbox })
        })
    };
    let called = normalise(called_uri);
    if let Some(c) = called.sip.as_ref().filter(|c| c.user.is_some()) {
        let hit = find(&|m| {
            m.sip_address
                .as_deref()
                .and_then(parse_sip_uri)
                .is_some_and(|u| &u == c)
        });
        if hit.is_some() {
            return hit;
        }
    }
    let number = called.number?;
    if number.starts_with('+') {
        return find(&|m| m.e164.as_deref() == Some(number.as_str()));
    }
    // Every plan's prefixes may apply (a caller can sit in any plan), so
    // collect all E.164 readings; two different mailboxes is ambiguous.
    let forms: Vec<String> = plans
        .iter()
        .flat_map(|p| dialled_forms(p, &number))
        .collect();
    let mut hits = plans.iter().flat_map(|plan| {
        plan.mailboxes
            .iter()
            .filter(|m| m.e164.as_ref().is_some_and(|e| forms.contains(e)))
            .map(move |mailbox| Resolved { plan, mailbox })
    });
    if let Some(first) = hits.next() {
        return hits.next().is_none().then_some(first);
    }
    // Extensions may repeat across plans with disjoint peers (see `lint`);
    // without the peer, such an extension is ambiguous.
    let mut hits = plans.iter().flat_map(|plan| {
        plan.mailboxes
            .iter()
            .filter(|m| number.len() == plan.number_of_digits_in_extension && m.extension == number)
            .map(move |mailbox| Resolved { plan, mailbox })
    });
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::load_files;
    use std::path::Path;

    const CONTOSO: &str = r#"
Name = "contoso"
UriType = "SipName"
Domain = "contoso.com"
NumberOfDigitsInExtension = 4
CountryOrRegionCode = "1"
NationalNumberPrefix = "1"
InternationalAccessCode = "011"
[[Mailbox]]
Id = "alice"
Extension = "1001"
E164 = "+14255551001"
SipAddress = "sip:alice@contoso.com"
[[Mailbox]]
Id = "bob"
Extension = "1002"
E164 = "+14255551002"
SipAddress = "sips:bob@Contoso.com"
"#;
    const PBX: &str = r#"
Name = "pbx"
UriType = "TelExtn"
NumberOfDigitsInExtension = 5
CountryOrRegionCode = "44"
NationalNumberPrefix = "0"
InternationalAccessCode = "00"
[[Mailbox]]
Id = "carol"
Extension = "20001"
E164 = "+442079460001"
[[Mailbox]]
Id = "dave"
Extension = "20002"
E164 = "+442079460002"
"#;

    fn plans() -> DialPlans {
        load_files([(Path::new("a.toml"), CONTOSO), (Path::new("b.toml"), PBX)]).unwrap()
    }

    #[test]
    fn resolution_table() {
        let plans = plans();
        let table: &[(&str, Option<&str>)] = &[
            ("sip:alice@contoso.com", Some("alice")),
            ("sips:alice@CONTOSO.com", Some("alice")),
            (
                "<sip:alice@contoso.com;opaque=app:voicemail>",
                Some("alice"),
            ),
            ("sip:alice@contoso.com:5061;transport=tls", Some("alice")),
            ("sip:bob@contoso.com?subject=x", Some("bob")),
            ("alice@contoso.com", Some("alice")),
            ("sip:Alice@contoso.com", None),
            ("sip:alice@fabrikam.com", None),
            ("tel:+1-425-555-1001", Some("alice")),
            ("+1 (425) 555-1002", Some("bob")),
            ("sip:+14255551001@gw.contoso.com;user=phone", Some("alice")),
            ("14255551001", Some("alice")),
            ("011 1 425 555 1002", Some("bob")),
            ("0014255551001", Some("alice")),
            ("1001", Some("alice")),
            ("tel:1002;phone-context=contoso.com", Some("bob")),
            ("sip:1001@pbx.example.com", Some("alice")),
            ("20001", Some("carol")),
            ("sip:20002@10.0.0.1;user=phone", Some("dave")),
            ("+442079460001", Some("carol")),
            ("020 7946 0002", Some("dave")),
            ("00442079460001", Some("carol")),
            ("011 44 20 7946 0001", Some("carol")),
            ("442079460002", Some("dave")),
            ("+14255559999", None),
            ("5551001", None),
            ("+15551231001", None),
            ("100", None),
            ("sip:contoso.com", None),
            ("", None),
            ("tel:", None),
        ];
        for (called, want) in table {
            let got = plans.resolve(called).map(|r| r.mailbox.id.as_str());
            assert_eq!(got, *want, "called {called:?}");
        }
        let r = plans.resolve("20001").unwrap();
        assert_eq!(r.plan.name, "pbx");
    }

    #[test]
    fn ambiguous_dialled_number_resolves_to_nothing() {
        // "12345678901" is +1 2345678901 (CC form) in plan x and, via plan y's
        // national prefix "1", +44 2345678901: two mailboxes, so no guess.
        let x = "Name=\"x\"\nUriType=\"E164\"\nNumberOfDigitsInExtension=4\nCountryOrRegionCode=\"1\"\n[[Mailbox]]\nId=\"p\"\nExtension=\"1000\"\nE164=\"+12345678901\"\n";
        let y = "Name=\"y\"\nUriType=\"E164\"\nNumberOfDigitsInExtension=4\nCountryOrRegionCode=\"44\"\nNationalNumberPrefix=\"1\"\n[[Mailbox]]\nId=\"q\"\nExtension=\"2000\"\nE164=\"+442345678901\"\n";
        let plans = load_files([(Path::new("x.toml"), x), (Path::new("y.toml"), y)]).unwrap();
        assert!(plans.resolve("12345678901").is_none());
        assert_eq!(plans.resolve("+442345678901").unwrap().mailbox.id, "q");
        // A repeated extension (peer-disjoint plans) is ambiguous without the peer.
        let x = x.replace(
            "E164=\"+12345678901\"\n",
            "[[Peer]]\nAddress=\"10.0.0.1\"\n",
        );
        let y = y.replace("\"2000\"", "\"1000\"").replace(
            "E164=\"+442345678901\"\n",
            "[[Peer]]\nAddress=\"10.0.0.2\"\n",
        );
        let plans = load_files([
            (Path::new("x.toml"), x.as_str()),
            (Path::new("y.toml"), y.as_str()),
        ])
        .unwrap();
        assert!(plans.resolve("1000").is_none());
        let x_ip = "10.0.0.1".parse().unwrap();
        assert_eq!(
            plans.route(x_ip, "1000", None),
            crate::dialplan::Route::Deposit(plans.mailbox("p").unwrap())
        );
    }

    #[test]
    fn sip_uri_parts() {
        let u = parse_sip_uri("sip:al%69ce:pw@[2001:db8::1]:5060;transport=tcp").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.host.as_str()),
            (Some("alice"), "[2001:db8::1]")
        );
        let u = parse_sip_uri("sip:vm@um.example.com;target=sip:alice@contoso.com").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.host.as_str()),
            (Some("vm"), "um.example.com")
        );
        let u = parse_sip_uri("sip:um.example.com;target=sip:alice@contoso.com").unwrap();
        assert_eq!((u.user, u.host.as_str()), (None, "um.example.com"));
        let u = parse_sip_uri("sip:+1425;phone-context=x@gw").unwrap();
        assert_eq!((u.user.as_deref(), u.host.as_str()), (Some("+1425"), "gw"));
        assert!(parse_sip_uri("sip:a@host:99999").is_none());
        assert!(parse_sip_uri("sip:a@").is_none());
        assert!(parse_sip_uri("sip:a b@h").is_none());
        assert!(parse_sip_uri("http://x").is_none());
        assert!(same_sip_address("sip:a@X.com", "sips:a@x.com:5061"));
        assert!(!same_sip_address("sip:a@x.com", "sip:A@x.com"));
    }

    proptest::proptest! {
        #[test]
        fn resolve_never_panics(s in "\\PC*", t in "[sipte:l<>@;+0-9a-z()\\-. %\\[\\]]{0,30}") {
            let plans = plans();
            let _ = plans.resolve(&s);
            let _ = plans.resolve(&t);
        }
    }
}
