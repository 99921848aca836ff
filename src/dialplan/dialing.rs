//! Dialing rules: which numbers outside the plan voice mail may call (subscriber call-back,
//! auto-attendant transfers), and the number actually dialled — after Exchange UM's dial-plan
//! `ConfiguredInCountryOrRegionGroups` / `ConfiguredInternationalGroups` with
//! `AllowedInCountryOrRegionGroups` / `AllowedInternationalGroups`.
//!
//! ```toml
//! ConfiguredInCountryOrRegionGroups = [
//!     { Name = "Local", NumberMask = "425xxxxxxx", DialedNumber = "9425xxxxxxx", Comment = "Seattle" },
//!     { Name = "Local", NumberMask = "206xxxxxxx", DialedNumber = "9206xxxxxxx" },
//! ]
//! ConfiguredInternationalGroups = [{ Name = "UK", NumberMask = "44*", DialedNumber = "901144*" }]
//! AllowedInCountryOrRegionGroups = ["Local"]
//! AllowedInternationalGroups = []
//! ```
//!
//! Exchange writes each entry as `GroupName,NumberMask,DialedNumber,Comment`; we keep those
//! four fields as keys. A group is every entry with its `Name`. In a `NumberMask`, `x` is any
//! one digit and a final `*` any rest (possibly none); other characters are digits that must
//! match. In-country masks are matched against the national number (the E.164 number without
//! `+` and `CountryOrRegionCode`: `4255550123`), international ones against the number with
//! its country code (`442079460123`). The `DialedNumber` is what the REFER or second leg
//! dials: its `x`s take the digits the mask's `x`s matched, in order, its `*` the rest (so
//! both have as many `x`s, and a `*` in both or neither); a leading `+` is kept.
//!
//! Numbers within the plan are always allowed, unchanged: a mailbox (any of its forms) or
//! `NumberOfDigitsInExtension` digits (an extension), as are SIP URIs whose user is not a number.
//! Anything else must match an entry of an allowed group. A plan that configures no groups at
//! all leaves outside dialling unrestricted, as before these keys existed.

use toml::Spanned;

use super::items::array_of_tables;
use super::model::DialPlan;
use super::number::{dialled_number, read_number, Reading};
use super::parse::{Ctx, Node, Table};
use super::resolve::normalise;

/// One entry of a dialing-rule group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialingRule {
    /// `Name`: the group the entry belongs to.
    pub group: String,
    /// `NumberMask`: digits, `x` for any digit, a final `*` for any rest.
    pub number_mask: String,
    /// `DialedNumber`: what is dialled, `x`/`*` filled from the mask.
    pub dialed_number: String,
    /// `Comment`.
    pub comment: Option<String>,
}

impl DialingRule {
    /// The number to dial for `number` (digits only), if the mask matches it.
    fn rewrite(&self, number: &str) -> Option<String> {
        let mut xs = Vec::new();
        let mut rest = "";
        let mut digits = number.char_indices();
        for m in self.number_mask.chars() {
            if m == '*' {
                rest = digits.next().map_or("", |(i, _)| &number[i..]);
                break;
            }
            let (_, d) = digits.next()?;
            match m {
                'x' | 'X' => xs.push(d),
                _ if m == d => {}
                _ => return None,
            }
        }
        if !self.number_mask.ends_with('*') && digits.next().is_some() {
            return None;
        }
        let mut xs = xs.into_iter();
        let mut out = String::new();
        for c in self.dialed_number.chars() {
            match c {
                'x' | 'X' => out.push(xs.next()?),
                '*' => out.push_str(rest),
                c => out.push(c),
            }
        }
        Some(out)
    }
}

/// The dial plan's dialing-rule groups and which of them its users may call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialingRules {
    /// `ConfiguredInCountryOrRegionGroups`.
    pub in_country: Vec<DialingRule>,
    /// `ConfiguredInternationalGroups`.
    pub international: Vec<DialingRule>,
    /// `AllowedInCountryOrRegionGroups`: group names of `in_country`.
    pub allowed_in_country: Vec<String>,
    /// `AllowedInternationalGroups`: group names of `international`.
    pub allowed_international: Vec<String>,
}

impl DialingRules {
    /// False when the plan configures no group: outside dialling is not restricted.
    pub fn restricts(&self) -> bool {
        !self.in_country.is_empty() || !self.international.is_empty()
    }
}

/// Where a transfer or call-back may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialing {
    /// A mailbox, an extension or a SIP user: dialled as it is.
    Inside,
    /// The plan configures no dialing rules: dialled as it is.
    Unrestricted,
    /// An outside number an allowed group matched: dial `number`.
    Allowed { group: String, number: String },
}

/// Why a number may not be dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialRefused {
    #[error("{number} is not a number the plan can place")]
    Unknown { number: String },
    #[error("{number} is in no allowed in-country/region group")]
    InCountry { number: String },
    #[error("{number} is in no allowed international group")]
    International { number: String },
}

impl DialPlan {
    /// May voice mail call `target` (an extension, number or URI of a transfer or call-back),
    /// and what number does it dial? The one check every outside transfer passes.
    pub fn outside_dialing(&self, target: &str) -> Result<Dialing, DialRefused> {
        if self.mailbox_for_target(target).is_some() {
            return Ok(Dialing::Inside);
        }
        let Some(number) = dialled_number(target) else {
            // A SIP user by name (sip:desk@pbx): not a telephone number.
            return match normalise(target).sip {
                Some(_) => Ok(Dialing::Inside),
                None => Err(DialRefused::Unknown {
                    number: target.to_owned(),
                }),
            };
        };
        if !number.starts_with('+') && number.len() == self.number_of_digits_in_extension {
            return Ok(Dialing::Inside);
        }
        if !self.dialing_rules.restricts() {
            return Ok(Dialing::Unrestricted);
        }
        let e164 = match read_number(self, &number) {
            Reading::Extension(_) => return Ok(Dialing::Inside),
            Reading::E164(e) => e,
            Reading::Unknown => return Err(DialRefused::Unknown { number }),
        };
        let digits = &e164[1..];
        let rules = &self.dialing_rules;
        let (national, entries, allowed) = match digits.strip_prefix(&self.country_or_region_code) {
            Some(national) if !self.country_or_region_code.is_empty() => {
                (Some(national), &rules.in_country, &rules.allowed_in_country)
            }
            _ => (None, &rules.international, &rules.allowed_international),
        };
        let matched = national.unwrap_or(digits);
        entries
            .iter()
            .filter(|r| allowed.iter().any(|a| a.eq_ignore_ascii_case(&r.group)))
            .find_map(|r| {
                r.rewrite(matched).map(|number| Dialing::Allowed {
                    group: r.group.clone(),
                    number,
                })
            })
            .ok_or(match national {
                Some(_) => DialRefused::InCountry {
                    number: e164.clone(),
                },
                None => DialRefused::International {
                    number: e164.clone(),
                },
            })
    }
}

/// The plan-level keys, in `PLAN_KEYS` order.
pub(crate) const KEYS: [&str; 4] = [
    "ConfiguredInCountryOrRegionGroups",
    "ConfiguredInternationalGroups",
    "AllowedInCountryOrRegionGroups",
    "AllowedInternationalGroups",
];
const RULE_KEYS: &[&str] = &["Name", "NumberMask", "DialedNumber", "Comment"];

/// Reads the dialing-rule keys of a plan's top-level table `t`, reporting every mistake.
pub(crate) fn parse_dialing_rules(cx: &mut Ctx<'_>, t: &mut Table<'_>) -> DialingRules {
    let in_country = parse_group_entries(cx, KEYS[0], t.take(KEYS[0]));
    let international = parse_group_entries(cx, KEYS[1], t.take(KEYS[1]));
    let allowed_in_country = t.string_list(cx, KEYS[2]).unwrap_or_default();
    let allowed_international = t.string_list(cx, KEYS[3]).unwrap_or_default();
    let mut check = |key: &str, list: Vec<Spanned<String>>, rules: &[DialingRule], other: &str| {
        let mut names = Vec::new();
        for name in list {
            let known = |r: &DialingRule| r.group.eq_ignore_ascii_case(name.get_ref());
            if !rules.iter().any(known) {
                let msg = format!(
                    "{key} entry \"{}\" is not the Name of an entry of {other}",
                    name.get_ref()
                );
                cx.error(name.span(), msg);
            }
            names.push(name.into_inner());
        }
        names
    };
    let allowed_in_country = check(KEYS[2], allowed_in_country, &in_country, KEYS[0]);
    let allowed_international = check(KEYS[3], allowed_international, &international, KEYS[1]);
    DialingRules {
        in_country,
        international,
        allowed_in_country,
        allowed_international,
    }
}

fn parse_group_entries(
    cx: &mut Ctx<'_>,
    key: &str,
    node: Option<&Spanned<Node>>,
) -> Vec<DialingRule> {
    let mut out = Vec::new();
    for (span, entries) in array_of_tables(cx, key, node) {
        let what = if key == KEYS[0] {
            " in a ConfiguredInCountryOrRegionGroups entry"
        } else {
            " in a ConfiguredInternationalGroups entry"
        };
        let mut t = Table::new(what, span, entries);
        let name = t.string(cx, "Name", true);
        let mask = t.string(cx, "NumberMask", true);
        let dialed = t.string(cx, "DialedNumber", true);
        let comment = t.string(cx, "Comment", false);
        t.finish(cx, RULE_KEYS);
        if let Some(n) = &name {
            let s = n.get_ref();
            if s.trim().is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
                let msg =
                    format!("Name \"{s}\" must be 1-64 characters without control characters");
                cx.error(n.span(), msg);
            }
        }
        let (Some(name), Some(mask), Some(dialed)) = (name, mask, dialed) else {
            continue;
        };
        let mask_ok = check_pattern(cx, "NumberMask", &mask, false);
        let dialed_ok = check_pattern(cx, "DialedNumber", &dialed, true);
        if mask_ok && dialed_ok {
            let xs = |s: &str| s.chars().filter(|c| matches!(c, 'x' | 'X')).count();
            let (m, d) = (mask.get_ref(), dialed.get_ref());
            if xs(m) != xs(d) || m.ends_with('*') != d.ends_with('*') {
                let msg = format!(
                    "DialedNumber \"{d}\" must have as many x as NumberMask \"{m}\" ({}) and end in * exactly when it does: they carry the dialled digits over",
                    xs(m)
                );
                cx.error(dialed.span(), msg);
            }
        }
        out.push(DialingRule {
            group: name.into_inner(),
            number_mask: mask.into_inner(),
            dialed_number: dialed.into_inner(),
            comment: comment.map(Spanned::into_inner),
        });
    }
    out
}

/// Digits and `x`, at most 32, a final `*` allowed; a leading `+` where `plus`.
fn check_pattern(cx: &mut Ctx<'_>, key: &str, v: &Spanned<String>, plus: bool) -> bool {
    let s = v.get_ref();
    let body = if plus {
        s.strip_prefix('+').unwrap_or(s)
    } else {
        s
    };
    let body = body.strip_suffix('*').unwrap_or(body);
    let ok = !s.is_empty()
        && s.len() <= 32
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'x' | 'X'));
    if !ok {
        let plus = if plus { "an optional leading +, " } else { "" };
        let msg = format!(
            "{key} \"{s}\" must be {plus}digits and x (any digit), with an optional final * (any rest)"
        );
        cx.error(v.span(), msg);
    }
    ok
}

#[cfg(test)]
mod tests;
