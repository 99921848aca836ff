//! Checks across plans (and across the tables of one plan): unique names,
//! ids, numbers, addresses and pilots; operator extensions; peer addresses.
//!
//! Scope of uniqueness. Plan names, mailbox ids (store keys), E.164 numbers
//! and SIP addresses are global. Extensions and extension-form pilots only
//! need to be unique among plans that can receive the same call: an
//! extension may repeat in another plan when both plans list `[[Peer]]`
//! entries and no address is in both (the peer then says which plan a call
//! is for; see `route`). A plan without peers is reachable from any peer.

use std::collections::HashMap;
use std::path::Path;

use super::model::{Diagnostic, DialPlan, Severity};
use super::number::{mailbox_keys, pilot_key, Key};
use super::parse::{ParsedPlan, Pos};
use super::route::{attendant_targets, mailboxes_for};

/// True unless both plans list peers and none overlaps.
pub(crate) fn may_share_calls(a: &DialPlan, b: &DialPlan) -> bool {
    std::ptr::eq(a, b)
        || a.peers.is_empty()
        || b.peers.is_empty()
        || a.peers
            .iter()
            .any(|p| b.peers.iter().any(|q| p.overlaps(q)))
}

/// What must be unique, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Name(String),
    Id(String),
    /// An attendant name within plan `.0`.
    Attendant(usize, String),
    /// A way to call someone: a mailbox's address/number/extension or a pilot.
    Addr(Key),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner<'a> {
    Plan,
    Mailbox(&'a str),
    Pilot,
    Attendant(&'a str),
}

struct Item<'a> {
    plan: usize,
    slot: Slot,
    /// As written in the file.
    value: &'a str,
    /// What the value is: "extension", "E164", "PilotIdentifiers"...
    label: &'static str,
    pos: Pos,
    owner: Owner<'a>,
}

impl Item<'_> {
    fn is_pilot(&self) -> bool {
        matches!(self.owner, Owner::Pilot | Owner::Attendant(_)) && self.label == "PilotIdentifiers"
    }
}

fn owner_text(plans: &[ParsedPlan], it: &Item<'_>) -> String {
    match it.owner {
        Owner::Plan => format!("plan \"{}\"", it.value),
        Owner::Mailbox(id) => format!("mailbox \"{id}\""),
        Owner::Pilot => format!("subscriber access of plan \"{}\"", plans[it.plan].plan.name),
        Owner::Attendant(name) => format!("auto attendant \"{name}\""),
    }
}

fn items<'a>(plans: &'a [ParsedPlan]) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    for (i, pp) in plans.iter().enumerate() {
        let plan = &pp.plan;
        if !plan.name.is_empty() {
            let slot = Slot::Name(plan.name.clone());
            out.push(Item {
                plan: i,
                slot,
                value: &plan.name,
                label: "Name",
                pos: pp.name_pos,
                owner: Owner::Plan,
            });
        }
        for (m, pos) in plan.mailboxes.iter().zip(&pp.mailbox_pos) {
            let owner = Owner::Mailbox(&m.id);
            out.push(Item {
                plan: i,
                slot: Slot::Id(m.id.clone()),
                value: &m.id,
                label: "Id",
                pos: pos.id,
                owner,
            });
            for key in mailbox_keys(m) {
                let (value, label, pos) = match &key {
                    Key::Sip(_) => (
                        m.sip_address.as_deref().unwrap_or(""),
                        "SipAddress",
                        pos.sip_address,
                    ),
                    Key::E164(_) => (m.e164.as_deref().unwrap_or(""), "E164", pos.e164),
                    Key::Digits(_) => (m.extension.as_str(), "extension", pos.extension),
                };
                out.push(Item {
                    plan: i,
                    slot: Slot::Addr(key),
                    value,
                    label,
                    pos,
                    owner,
                });
            }
        }
        let pilots = |list: &'a [String], pos: &[Pos], owner: Owner<'a>| {
            let mut v = Vec::new();
            for (p, pos) in list.iter().zip(pos) {
                if let Some(key) = pilot_key(plan, p) {
                    let slot = Slot::Addr(key);
                    v.push(Item {
                        plan: i,
                        slot,
                        value: p.as_str(),
                        label: "PilotIdentifiers",
                        pos: *pos,
                        owner,
                    });
                }
            }
            v
        };
        out.extend(pilots(&plan.pilot_identifiers, &pp.pilot_pos, Owner::Pilot));
        for (a, pos) in plan.auto_attendants.iter().zip(&pp.attendant_pos) {
            let owner = Owner::Attendant(&a.name);
            let slot = Slot::Attendant(i, a.name.clone());
            out.push(Item {
                plan: i,
                slot,
                value: &a.name,
                label: "AutoAttendant Name",
                pos: pos.name,
                owner,
            });
            out.extend(pilots(&a.pilot_identifiers, &pos.pilots, owner));
        }
    }
    out
}

fn diag(file: &Path, pos: Pos, severity: Severity, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: pos.line,
        column: pos.column,
        severity,
        message,
    }
}

/// Every cross-table and cross-plan finding, unsorted.
pub(crate) fn check_plans(plans: &[ParsedPlan]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let items = items(plans);
    let mut seen: HashMap<&Slot, Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        let in_scope = |j: &&usize| {
            let first = &items[**j];
            match &it.slot {
                Slot::Addr(Key::Digits(_)) => {
                    may_share_calls(&plans[first.plan].plan, &plans[it.plan].plan)
                }
                _ => true,
            }
        };
        let earlier = seen.entry(&it.slot).or_default();
        if let Some(&j) = earlier.iter().find(in_scope) {
            diags.push(conflict(plans, &items[j], it));
        } else {
            earlier.push(i);
        }
    }
    diags.extend(check_operators(plans));
    diags.extend(check_peers(plans));
    diags
}

/// The report for `later` repeating `first`'s slot.
fn conflict(plans: &[ParsedPlan], first: &Item<'_>, later: &Item<'_>) -> Diagnostic {
    let file_of = |it: &Item<'_>| plans[it.plan].plan.source.as_path();
    let at = |it: &Item<'_>| format!("{}:{}", file_of(it).display(), it.pos.line);
    // A pilot that is also a user's number: report at the pilot, whichever came first.
    let (pilot, user) = match (first.is_pilot(), later.is_pilot()) {
        (true, false) => (Some(first), later),
        (false, true) => (Some(later), first),
        _ => (None, later),
    };
    if let (Some(p), Owner::Mailbox(id)) = (pilot, user.owner) {
        let msg = format!(
            "PilotIdentifiers \"{}\" of {} is also the {} of mailbox \"{id}\" at {}",
            p.value,
            owner_text(plans, p),
            user.label,
            at(user)
        );
        return diag(file_of(p), p.pos, Severity::Error, msg);
    }
    let what = match later.owner {
        Owner::Mailbox(id) => format!(" (mailbox \"{id}\")"),
        Owner::Plan => String::new(),
        _ => format!(" ({})", owner_text(plans, later)),
    };
    let mut msg = format!(
        "duplicate {} \"{}\"{what}; first used by {} at {}",
        later.label,
        later.value,
        owner_text(plans, first),
        at(first)
    );
    if matches!(later.slot, Slot::Addr(Key::Digits(_))) && first.plan != later.plan {
        let (a, b) = (&plans[first.plan].plan, &plans[later.plan].plan);
        if a.peers.is_empty() || b.peers.is_empty() {
            msg.push_str("; an extension may repeat in another plan only if both plans list [[Peer]] entries and share none");
        } else {
            msg.push_str(&format!(
                "; plans \"{}\" and \"{}\" share a peer address, so a call from it could be for either",
                a.name, b.name
            ));
        }
    }
    diag(file_of(later), later.pos, Severity::Error, msg)
}

/// `OperatorExtension` (plan and attendants) and attendant `Mailbox` targets must name a
/// mailbox of the plan; a `Transfer` target may be any number but not an ambiguous one.
fn check_operators(plans: &[ParsedPlan]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    // A plan with errors may have lost mailboxes: no false reports.
    for pp in plans.iter().filter(|pp| pp.ok) {
        let plan = &pp.plan;
        let mut check = |op: &Option<String>, pos: Pos, whose: String| {
            let Some(op) = op else { return };
            let n = mailboxes_for(&[plan], op).len();
            if n != 1 {
                let why = if n == 0 {
                    "is not a mailbox"
                } else {
                    "matches several mailboxes"
                };
                let msg = format!(
                    "OperatorExtension \"{op}\"{whose} {why} of plan \"{}\"",
                    plan.name
                );
                diags.push(diag(&plan.source, pos, Severity::Error, msg));
            }
        };
        check(&plan.operator_extension, pp.operator_pos, String::new());
        for (a, pos) in plan.auto_attendants.iter().zip(&pp.attendant_pos) {
            check(
                &a.operator_extension,
                pos.operator,
                format!(" of auto attendant \"{}\"", a.name),
            );
        }
        for (a, pos) in plan.auto_attendants.iter().zip(&pp.attendant_pos) {
            for t in &pos.targets {
                let n = attendant_targets(plan, &t.target).len();
                let why = match (n, t.must_be_mailbox) {
                    (0, true) => "is not a mailbox",
                    (2.., _) => "matches several mailboxes",
                    (0, false) => {
                        if let Err(refused) = plan.outside_dialing(&t.target) {
                            let msg = format!(
                                "Target \"{}\" of auto attendant \"{}\" cannot be dialled: {refused} of plan \"{}\"; the key will say so",
                                t.target, a.name, plan.name
                            );
                            diags.push(diag(&plan.source, t.pos, Severity::Warning, msg));
                        }
                        continue;
                    }
                    _ => continue,
                };
                let msg = format!(
                    "Target \"{}\" of auto attendant \"{}\" {why} of plan \"{}\"",
                    t.target, a.name, plan.name
                );
                diags.push(diag(&plan.source, t.pos, Severity::Error, msg));
            }
        }
    }
    diags
}

/// Overlapping peers: an error within a plan, a warning across plans (one
/// pool may serve several plans, told apart by the called number).
fn check_peers(plans: &[ParsedPlan]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let all: Vec<_> = plans
        .iter()
        .flat_map(|pp| {
            pp.plan
                .peers
                .iter()
                .zip(&pp.peer_pos)
                .map(move |(p, pos)| (pp, p, *pos))
        })
        .collect();
    for (k, (pp, peer, pos)) in all.iter().enumerate() {
        let Some((first, fpeer, fpos)) = all[..k].iter().find(|(_, q, _)| q.overlaps(peer)) else {
            continue;
        };
        let file = pp.plan.source.as_path();
        let at = format!("{}:{}", first.plan.source.display(), fpos.line);
        let same_plan = std::ptr::eq(*first, *pp);
        let (severity, msg) = if same_plan && fpeer.network == peer.network {
            (
                Severity::Error,
                format!("duplicate Peer Address \"{peer}\"; first used at {at}"),
            )
        } else if same_plan {
            (
                Severity::Error,
                format!(
                    "Peer Address \"{peer}\" overlaps Peer \"{fpeer}\" of the same plan at {at}"
                ),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "Peer Address \"{peer}\" overlaps Peer \"{fpeer}\" of plan \"{}\" at {at}; calls from it can reach both plans",
                    first.plan.name
                ),
            )
        };
        diags.push(diag(file, *pos, severity, msg));
    }
    diags
}

#[cfg(test)]
mod tests {
    use crate::dialplan::{load_files, Severity};
    use std::path::Path;

    const HEAD: &str = "Name = \"contoso\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n";

    fn lint(files: &[(&str, &str)]) -> Vec<String> {
        let files = files.iter().map(|(p, t)| (Path::new(*p), *t));
        match load_files(files) {
            Ok(p) => p.warnings().iter().map(ToString::to_string).collect(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn duplicates_across_plans() {
        let a = format!("{HEAD}[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sip:alice@contoso.com\"\n");
        let b = "Name = \"contoso\"\nUriType = \"E164\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sips:alice@CONTOSO.com\"\n";
        let err =
            load_files([(Path::new("a.toml"), a.as_str()), (Path::new("b.toml"), b)]).unwrap_err();
        let got: Vec<String> = err.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec![
                "b.toml:1:8: error: duplicate Name \"contoso\"; first used by plan \"contoso\" at a.toml:1",
                "b.toml:7:6: error: duplicate Id \"alice\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:6",
                "b.toml:8:13: error: duplicate extension \"1001\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:7; an extension may repeat in another plan only if both plans list [[Peer]] entries and share none",
                "b.toml:9:8: error: duplicate E164 \"+14255551001\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:8",
                "b.toml:10:14: error: duplicate SipAddress \"sips:alice@CONTOSO.com\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:9",
            ]
        );
        assert!(err.iter().all(|d| d.severity == Severity::Error));
    }

    #[test]
    fn extensions_repeat_only_across_peer_disjoint_plans() {
        let plan = |name: &str, peer: &str| {
            format!("Name = \"{name}\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"{name}-x\"\nExtension = \"1001\"\n{peer}")
        };
        let a = plan("a", "[[Peer]]\nAddress = \"10.1.0.0/16\"\n");
        let b = plan("b", "[[Peer]]\nAddress = \"10.2.0.5\"\n");
        assert!(lint(&[("a.toml", &a), ("b.toml", &b)]).is_empty());
        let b = plan("b", "[[Peer]]\nAddress = \"10.1.2.3\"\n");
        assert_eq!(
            lint(&[("a.toml", &a), ("b.toml", &b)]),
            vec![
                "b.toml:7:13: error: duplicate extension \"1001\" (mailbox \"b-x\"); first used by mailbox \"a-x\" at a.toml:7; plans \"a\" and \"b\" share a peer address, so a call from it could be for either",
                "b.toml:9:11: warning: Peer Address \"10.1.2.3\" overlaps Peer \"10.1.0.0/16\" of plan \"a\" at a.toml:9; calls from it can reach both plans",
            ]
        );
    }

    #[test]
    fn pilots_operators_and_peers() {
        let a = format!("{HEAD}PilotIdentifiers = [\"+14255551001\", \"5000\", \"tel:5000\"]\nOperatorExtension = \"1999\"\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sip:alice@contoso.com\"\n[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"sips:alice@CONTOSO.com\", \"1001\"]\nOperatorExtension = \"sip:alice@contoso.com\"\n[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = \"+1 425 555 0000\"\nOperatorExtension = \"+14255550000\"\n[[Peer]]\nAddress = \"10.0.0.0/8\"\n[[Peer]]\nAddress = \"10.0.0.0/8\"\n[[Peer]]\nAddress = \"10.9.0.0/16\"\n");
        assert_eq!(
            lint(&[("a.toml", &a)]),
            vec![
                "a.toml:5:21: error: PilotIdentifiers \"+14255551001\" of subscriber access of plan \"contoso\" is also the E164 of mailbox \"alice\" at a.toml:10",
                "a.toml:5:45: error: duplicate PilotIdentifiers \"tel:5000\" (subscriber access of plan \"contoso\"); first used by subscriber access of plan \"contoso\" at a.toml:5",
                "a.toml:6:21: error: OperatorExtension \"1999\" is not a mailbox of plan \"contoso\"",
                "a.toml:14:21: error: PilotIdentifiers \"sips:alice@CONTOSO.com\" of auto attendant \"Main\" is also the SipAddress of mailbox \"alice\" at a.toml:11",
                "a.toml:14:47: error: PilotIdentifiers \"1001\" of auto attendant \"Main\" is also the extension of mailbox \"alice\" at a.toml:9",
                "a.toml:17:8: error: duplicate AutoAttendant Name \"Main\" (auto attendant \"Main\"); first used by auto attendant \"Main\" at a.toml:13",
                "a.toml:19:21: error: OperatorExtension \"+14255550000\" of auto attendant \"Main\" is not a mailbox of plan \"contoso\"",
                "a.toml:23:11: error: duplicate Peer Address \"10.0.0.0/8\"; first used at a.toml:21",
                "a.toml:25:11: error: Peer Address \"10.9.0.0/16\" overlaps Peer \"10.0.0.0/8\" of the same plan at a.toml:21",
            ]
        );
    }
}
