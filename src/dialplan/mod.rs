//! Dial plans: operator-edited TOML files (one plan per `dialplans/*.toml`),
//! loaded with line-accurate diagnostics, and call routing.
//!
//! Two entry points for calls: [`DialPlans::route`] (peer-selected plans,
//! pilots for subscriber access and auto attendants, mailboxes) and the older
//! [`DialPlans::resolve`] (mailbox only, all plans). Number forms are
//! described in `number` ([`normalise_to_e164`]).
//!
//! Keys use the Exchange UM parameter names (`NumberOfDigitsInExtension`,
//! `CountryOrRegionCode`, ...) so Exchange operators recognise them; see
//! `dialplans/*.toml` for commented samples. Unknown keys are errors (the
//! `deny_unknown_fields` rule, applied by hand so that every error in every
//! file is reported in one run — see `parse`).

mod attendant;
mod dialing;
pub mod directory;
mod items;
mod lint;
mod model;
mod number;
mod parse;
mod resolve;
pub use resolve::resolve_in;
mod route;
pub mod schedule;
mod table;
mod values;

use std::path::Path;

pub use dialing::{DialRefused, Dialing, DialingRule, DialingRules};
pub use model::{
    AttendantMenu, AudioCodec, AutoAttendant, Diagnostic, DialPlan, DialPlans, KeyAction,
    KeyMapping, LanguageKey, MailboxEntry, NameMatch, NameOrder, PeerEntry, Resolved, Route,
    Severity, UriType, VoipSecurity,
};
pub use number::{e164_to_extension, normalise_to_e164};

use lint::check_plans;
use parse::parse_plan;

/// Loads every `*.toml` file in `dir` (sorted by file name) as one plan each.
///
/// All errors of all files are collected, including duplicates across files;
/// an empty directory is an error. Warnings are kept in [`DialPlans::warnings`].
pub fn load_dir(dir: &Path) -> Result<DialPlans, Vec<Diagnostic>> {
    let no_pos = |message: String| Diagnostic {
        file: dir.to_path_buf(),
        line: 0,
        column: 0,
        severity: Severity::Error,
        message,
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| vec![no_pos(format!("cannot read dial-plan directory: {e}"))])?;
    let mut paths = Vec::new();
    let mut diags = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                    paths.push(p);
                }
            }
            Err(e) => diags.push(no_pos(format!("cannot list dial-plan directory: {e}"))),
        }
    }
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        match std::fs::read_to_string(&p) {
            Ok(text) => files.push((p, text)),
            Err(e) => diags.push(Diagnostic {
                file: p,
                ..no_pos(format!("cannot read dial plan: {e}"))
            }),
        }
    }
    if files.is_empty() && diags.is_empty() {
        diags.push(no_pos(
            "no dial plans: the directory has no *.toml files".to_string(),
        ));
    }
    let loaded = load_files(files.iter().map(|(p, t)| (p.as_path(), t.as_str())));
    match loaded {
        Ok(plans) if diags.is_empty() => Ok(plans),
        Ok(plans) => Err(diags.into_iter().chain(plans.warnings).collect()),
        Err(mut more) => {
            diags.append(&mut more);
            Err(diags)
        }
    }
}

/// Loads plans from in-memory `(path, text)` pairs, in the given order, with the
/// same checks as [`load_dir`] (for tests and embedders). No files is an error.
pub fn load_files<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a str)>,
) -> Result<DialPlans, Vec<Diagnostic>> {
    let mut parsed = Vec::new();
    let mut diags = Vec::new();
    let mut order = Vec::new();
    for (path, text) in files {
        order.push(path.to_path_buf());
        let (plan, mut d) = parse_plan(path, text);
        diags.append(&mut d);
        parsed.extend(plan);
    }
    if order.is_empty() {
        diags.push(Diagnostic {
            file: Default::default(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            message: "no dial plans".to_string(),
        });
    }
    diags.extend(check_plans(&parsed));
    // Stable: file order as given, then position.
    diags.sort_by_key(|d| (order.iter().position(|f| *f == d.file), d.line, d.column));
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(diags);
    }
    Ok(DialPlans {
        plans: parsed
            .into_iter()
            .filter(|p| p.ok)
            .map(|p| std::sync::Arc::new(p.plan))
            .collect(),
        warnings: diags,
    })
}

/// Parses one plan; `name_for_errors` is the path diagnostics name.
/// Duplicates within the plan are errors; warnings are dropped on success.
pub fn load_str(name_for_errors: &Path, text: &str) -> Result<DialPlan, Vec<Diagnostic>> {
    let mut plans = load_files([(name_for_errors, text)])?;
    plans
        .plans
        .pop()
        .map(std::sync::Arc::unwrap_or_clone)
        .ok_or_else(Vec::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTOSO: &str = include_str!("../../dialplans/contoso-lync.toml");
    const PBX: &str = include_str!("../../dialplans/pbx-extensions.toml");

    #[test]
    fn shipped_samples_load_and_resolve() {
        let plans = load_files([
            (Path::new("contoso-lync.toml"), CONTOSO),
            (Path::new("pbx-extensions.toml"), PBX),
        ])
        .unwrap();
        assert!(plans.warnings().is_empty(), "{:?}", plans.warnings());
        for (called, id) in [
            ("sip:alice@contoso.com;opaque=app:voicemail", "alice"),
            ("sip:bob@contoso.com", "bob"),
            ("tel:20001", "carol"),
            ("+442079460002", "dave"),
        ] {
            assert_eq!(plans.resolve(called).unwrap().mailbox.id, id, "{called}");
        }
        // The samples ship NotifyTarget commented out: the embedded default gateway sends no
        // NOTIFY to a peer that is not there (tests/cli.rs checks it starts quiet).
        for id in ["alice", "bob", "carol", "dave"] {
            assert_eq!(
                plans.mailbox(id).unwrap().mailbox.notify_target,
                None,
                "{id}"
            );
        }
        assert_eq!(plans.mailbox("carol").unwrap().plan.name, "pbx-london");
        // Time zones: the plan's, or the mailbox's own; the attendant inherits its plan's.
        let zone = |id: &str| plans.mailbox(id).unwrap().mailbox.time_zone.iana_name();
        assert_eq!(zone("alice"), Some("America/Los_Angeles"));
        assert_eq!(zone("carol"), Some("Europe/London"));
        assert_eq!(zone("dave"), Some("Europe/Paris"));
        let attendant = &plans.plans()[0].auto_attendants[0];
        assert_eq!(attendant.schedule.time_zone_name, "America/Los_Angeles");
        assert!(plans.mailbox("nobody").is_none());
    }

    #[test]
    fn shipped_samples_route() {
        let plans = load_files([
            (Path::new("contoso-lync.toml"), CONTOSO),
            (Path::new("pbx-extensions.toml"), PBX),
        ])
        .unwrap();
        let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let pbx: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        let show = |r: Route<'_>| match r {
            Route::Deposit(r) => r.mailbox.id.clone(),
            Route::SubscriberAccess { plan } => format!("SA:{}", plan.name),
            Route::AutoAttendant { attendant, .. } => format!("AA:{}", attendant.name),
            Route::NotFound => "NotFound".into(),
        };
        // The README's SIPp demo: loopback, History-Info naming alice.
        let vm = "sip:voicemail@127.0.0.1:5060";
        assert_eq!(
            show(plans.route(lo, vm, Some("sip:alice@contoso.com"))),
            "alice"
        );
        assert_eq!(
            show(plans.route(lo, "sip:alice@contoso.com", None)),
            "alice"
        );
        assert_eq!(
            show(plans.route(lo, "tel:+14255550100", None)),
            "SA:contoso"
        );
        assert_eq!(show(plans.route(lo, "+1 425 555 0000", None)), "AA:Main");
        assert_eq!(show(plans.route(pbx, "tel:20001", None)), "carol");
        assert_eq!(show(plans.route(pbx, "9 020 7946 0002", None)), "dave");
        let c = &plans.plans()[0];
        assert_eq!(c.voip_security, VoipSecurity::Unsecured);
        assert_eq!(c.max_call_duration, std::time::Duration::from_secs(1800));
        assert_eq!(
            c.max_recording_duration,
            std::time::Duration::from_secs(1200)
        );
        assert_eq!(plans.peers().count(), 2);
    }

    #[test]
    fn load_dir_sorted_and_collects_errors_from_all_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.toml"), PBX).unwrap();
        std::fs::write(dir.path().join("a.toml"), CONTOSO).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let plans = load_dir(dir.path()).unwrap();
        let names: Vec<_> = plans.plans().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["contoso", "pbx-london"]);
        assert_eq!(plans.plans()[0].source, dir.path().join("a.toml"));

        // Break both files: every error is reported, file order kept.
        std::fs::write(
            dir.path().join("a.toml"),
            CONTOSO.replace("\nExtension = \"1002\"", "\nExtension = \"102\""),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.toml"),
            PBX.replace("Id = \"dave\"", "Id = \"alice\""),
        )
        .unwrap();
        let err = load_dir(dir.path()).unwrap_err();
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        let got: Vec<String> = err.iter().map(ToString::to_string).collect();
        let line_of =
            |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let bad_ext = CONTOSO[..CONTOSO.find("\nExtension = \"1002\"").unwrap()]
            .lines()
            .count()
            + 1;
        let dave = line_of(PBX, "Id = \"dave\"");
        let alice = line_of(CONTOSO, "Id = \"alice\"");
        assert_eq!(
            got,
            vec![
                format!("{}:{bad_ext}:13: error: extension \"102\" has 3 digits; NumberOfDigitsInExtension is 4", a.display()),
                format!(
                    "{}:{dave}:6: error: duplicate Id \"alice\" (mailbox \"alice\"); first used by mailbox \"alice\" at {}:{alice}",
                    b.display(),
                    a.display()
                ),
            ]
        );
    }

    #[test]
    fn empty_or_missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_dir(dir.path()).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            format!(
                "{}: error: no dial plans: the directory has no *.toml files",
                dir.path().display()
            )
        );
        let missing = dir.path().join("nope");
        let err = load_dir(&missing).unwrap_err();
        assert!(
            err[0]
                .message
                .starts_with("cannot read dial-plan directory: "),
            "{}",
            err[0]
        );
        assert!(load_files([]).is_err());
    }
}
