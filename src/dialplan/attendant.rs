//! The `[[AutoAttendant]]` table of a plan: pilots, schedule, menus and key mappings.
//!
//! ```toml
//! [[AutoAttendant]]
//! Name = "Contoso Main"
//! PilotIdentifiers = ["+14255550150"]
//! TimeZone = "America/Los_Angeles"
//! BusinessHoursSchedule = ["Mon-Fri 08:00-17:30"]
//! HolidaySchedule = ["2026-12-25 Christmas Day"]
//! BusinessHoursMenuPrompt = "aa-main-menu"
//! BusinessHoursKeyMapping = [
//!     { Key = "1", Action = "Transfer", Target = "1001" },
//!     { Key = "2", Action = "Menu", Target = "Sales" },
//! ]
//! [[AutoAttendant.Menu]]
//! Name = "Sales"
//! KeyMapping = [{ Key = "1", Action = "Mailbox", Target = "1002" }]
//! ```
//!
//! Targets that must be mailboxes are checked against the plan in `lint`, which sees them all.

use std::ops::Range;

use jiff::tz::TimeZone;
use toml::Spanned;

use super::items::{array_of_tables, check_pilot, Entries};
use super::model::{AttendantMenu, AutoAttendant, KeyAction, KeyMapping, LanguageKey, NameMatch};
use super::parse::{AttendantPos, Ctx, Node, Table, TargetPos};
use super::schedule::{self, Schedule};

const ATTENDANT_KEYS: &[&str] = &[
    "Name",
    "PilotIdentifiers",
    "OperatorExtension",
    "TimeZone",
    "BusinessHoursSchedule",
    "HolidaySchedule",
    "BusinessHoursGreeting",
    "BusinessHoursMenuPrompt",
    "BusinessHoursKeyMapping",
    "AfterHoursGreeting",
    "AfterHoursMenuPrompt",
    "AfterHoursKeyMapping",
    "HolidayGreeting",
    "Language",
    "NameLookupEnabled",
    "CallSomeoneEnabled",
    "SendVoiceMsgEnabled",
    "Menu",
];

const MENU_KEYS: &[&str] = &["Name", "Prompt", "KeyMapping"];
const MAPPING_KEYS: &[&str] = &["Key", "Action", "Target"];
const ACTIONS: &[&str] = &[
    "Transfer",
    "Mailbox",
    "Menu",
    "Operator",
    "DialByExtension",
    "DialByName",
    "MainMenu",
];

pub(crate) fn parse_attendant(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    entries: &Entries,
    plan_zone: &TimeZone,
    plan_language: LanguageKey,
) -> Option<(AutoAttendant, AttendantPos)> {
    let mut t = Table::new(" in [[AutoAttendant]]", span.clone(), entries);
    let name = t.string(cx, "Name", true);
    let pilots = t.string_list(cx, "PilotIdentifiers");
    let operator = t.string(cx, "OperatorExtension", false);
    let time_zone = t.time_zone(cx, "TimeZone");
    let hours = t.string_list(cx, "BusinessHoursSchedule");
    let holidays = t.string_list(cx, "HolidaySchedule").unwrap_or_default();
    let bh_greeting = prompt(cx, &mut t, "BusinessHoursGreeting");
    let bh_prompt = prompt(cx, &mut t, "BusinessHoursMenuPrompt");
    let bh_keys = t.take("BusinessHoursKeyMapping");
    let ah_greeting = prompt(cx, &mut t, "AfterHoursGreeting");
    let ah_prompt = prompt(cx, &mut t, "AfterHoursMenuPrompt");
    let ah_keys = t.take("AfterHoursKeyMapping");
    let holiday_greeting = prompt(cx, &mut t, "HolidayGreeting");
    let language = t.language(cx, "Language").unwrap_or(plan_language);
    // Exchange's directory switches: dial by name at all, and what a match does.
    let name_lookup_enabled = t.bool(cx, "NameLookupEnabled", true);
    let call_someone = t.bool(cx, "CallSomeoneEnabled", true);
    let send_voice_msg = t.bool(cx, "SendVoiceMsgEnabled", false);
    let name_match = match (call_someone, send_voice_msg) {
        (true, _) => Some(NameMatch::Transfer),
        (false, true) => Some(NameMatch::LeaveMessage),
        (false, false) => None,
    };
    let by_name = Keys {
        no_dial_by_name: match (name_lookup_enabled, name_match) {
            (false, _) => Some("NameLookupEnabled is false"),
            (true, None) => Some("CallSomeoneEnabled and SendVoiceMsgEnabled are both false"),
            (true, Some(_)) => None,
        },
    };
    let menus_node = t.take("Menu");
    t.finish(cx, ATTENDANT_KEYS);
    if let Some(n) = &name {
        let s = n.get_ref();
        if s.trim().is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
            let msg = format!(
                "AutoAttendant Name \"{s}\" must be 1-64 characters without control characters"
            );
            cx.error(n.span(), msg);
        }
    }
    let mut pos = AttendantPos {
        name: name.as_ref().map(|n| cx.pos(n.span())).unwrap_or_default(),
        pilots: Vec::new(),
        operator: operator
            .as_ref()
            .map(|o| cx.pos(o.span()))
            .unwrap_or_default(),
        targets: Vec::new(),
    };
    let mut pilot_identifiers = Vec::new();
    match pilots {
        None => cx.error(
            span.clone(),
            "missing required key PilotIdentifiers in [[AutoAttendant]]".to_string(),
        ),
        Some(list) => {
            if list.is_empty() {
                cx.error(
                    span.clone(),
                    "PilotIdentifiers of an AutoAttendant must not be empty".to_string(),
                );
            }
            for p in list {
                if check_pilot(cx, "PilotIdentifiers", &p) {
                    pos.pilots.push(cx.pos(p.span()));
                    pilot_identifiers.push(p.into_inner());
                }
            }
        }
    }
    let time_zone = time_zone.unwrap_or_else(|| plan_zone.clone());
    let schedule = parse_schedule(cx, time_zone, hours, holidays);

    let mut menus = Vec::new();
    // Menu targets of the kept submenus, reported after those of the top-level mappings,
    // which come first in the file.
    let mut submenu_refs = Vec::new();
    for (mspan, mentries) in array_of_tables(cx, "Menu", menus_node) {
        let mut mt = Table::new(" in [[AutoAttendant.Menu]]", mspan.clone(), mentries);
        let mname = mt.string(cx, "Name", true);
        let mprompt = prompt(cx, &mut mt, "Prompt");
        let keys = mt.take("KeyMapping");
        mt.finish(cx, MENU_KEYS);
        let mut refs = Vec::new();
        let keys = key_mappings(
            cx,
            "KeyMapping",
            keys,
            &mut pos.targets,
            &mut refs,
            &by_name,
        );
        let Some(mname) = mname else { continue };
        submenu_refs.append(&mut refs);
        let s = mname.get_ref();
        let clash = menus
            .iter()
            .any(|m: &AttendantMenu| m.name.eq_ignore_ascii_case(s));
        if s.trim().is_empty() || s.chars().any(char::is_control) || clash {
            let why = if clash {
                "is used by another menu of this attendant"
            } else {
                "must be a non-empty name"
            };
            cx.error(mname.span(), format!("Menu Name \"{s}\" {why}"));
        }
        menus.push(AttendantMenu {
            name: mname.into_inner(),
            greeting: None,
            prompt: mprompt,
            keys,
        });
    }
    let mut menu_refs = Vec::new();
    let business_hours = AttendantMenu {
        name: "BusinessHours".into(),
        greeting: bh_greeting,
        prompt: bh_prompt,
        keys: key_mappings(
            cx,
            "BusinessHoursKeyMapping",
            bh_keys,
            &mut pos.targets,
            &mut menu_refs,
            &by_name,
        ),
    };
    let after_hours = AttendantMenu {
        name: "AfterHours".into(),
        greeting: ah_greeting,
        prompt: ah_prompt,
        keys: key_mappings(
            cx,
            "AfterHoursKeyMapping",
            ah_keys,
            &mut pos.targets,
            &mut menu_refs,
            &by_name,
        ),
    };
    menu_refs.append(&mut submenu_refs);
    check_menu_references(cx, &menus, &menu_refs);

    let attendant = AutoAttendant {
        name: name?.into_inner(),
        pilot_identifiers,
        operator_extension: operator.map(Spanned::into_inner),
        schedule,
        business_hours,
        after_hours,
        holiday_greeting,
        language,
        menus,
        name_lookup_enabled,
        name_match,
        line: cx.pos(span).line,
    };
    Some((attendant, pos))
}

/// A prompt name: a file stem of the prompt library (`aa-main-menu`), no path.
fn prompt(cx: &mut Ctx<'_>, t: &mut Table<'_>, key: &str) -> Option<String> {
    let v = t.string(cx, key, false)?;
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.');
    if !ok {
        let msg = format!(
            "{key} \"{s}\" must be a prompt name (a file stem like \"aa-main-menu\", [A-Za-z0-9._-])"
        );
        cx.error(v.span(), msg);
        return None;
    }
    Some(v.into_inner())
}

fn parse_schedule(
    cx: &mut Ctx<'_>,
    time_zone: TimeZone,
    hours: Option<Vec<Spanned<String>>>,
    holidays: Vec<Spanned<String>>,
) -> Schedule {
    let mut s = Schedule {
        time_zone_name: time_zone.iana_name().unwrap_or("UTC").to_owned(),
        time_zone,
        ..Schedule::default()
    };
    s.hours = hours.map(|list| {
        list.iter()
            .filter_map(|h| {
                schedule::parse_open_range(h.get_ref())
                    .map_err(|e| cx.error(h.span(), format!("BusinessHoursSchedule entry {e}")))
                    .ok()
            })
            .collect()
    });
    s.holidays = holidays
        .iter()
        .filter_map(|h| {
            schedule::parse_holiday(h.get_ref())
                .map_err(|e| cx.error(h.span(), format!("HolidaySchedule entry {e}")))
                .ok()
        })
        .collect();
    s
}

/// What the attendant's settings allow its key mappings.
struct Keys {
    /// Why a `DialByName` key would do nothing, if it would.
    no_dial_by_name: Option<&'static str>,
}

/// Parses a `KeyMapping` array; records mailbox-bearing targets in `targets` and the
/// `Target`s of kept `Menu` mappings in `menu_refs`, for their error positions.
fn key_mappings(
    cx: &mut Ctx<'_>,
    key: &str,
    node: Option<&Spanned<Node>>,
    targets: &mut Vec<TargetPos>,
    menu_refs: &mut Vec<Spanned<String>>,
    by_name: &Keys,
) -> Vec<KeyMapping> {
    let mut out: Vec<KeyMapping> = Vec::new();
    for (span, entries) in array_of_tables(cx, key, node) {
        let mut t = Table::new(" in a KeyMapping entry", span.clone(), entries);
        let k = t.string(cx, "Key", true);
        let action = t.string(cx, "Action", true);
        let target = t.string(cx, "Target", false);
        t.finish(cx, MAPPING_KEYS);
        let digit = k.as_ref().and_then(|k| {
            let s = k.get_ref();
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c @ ('0'..='9' | '*' | '#')), None) => {
                    if out.iter().any(|m| m.key == c) {
                        cx.error(k.span(), format!("Key \"{c}\" is mapped twice in {key}"));
                        None
                    } else {
                        Some(c)
                    }
                }
                _ => {
                    let msg = format!("Key \"{s}\" must be one of 0-9, * or #");
                    cx.error(k.span(), msg);
                    None
                }
            }
        });
        let Some(action) = action else { continue };
        let known = ACTIONS.contains(&action.get_ref().as_str());
        let needs_target = matches!(action.get_ref().as_str(), "Transfer" | "Mailbox" | "Menu");
        let target_text = match (&target, needs_target) {
            _ if !known => target.as_ref().map(|t| t.get_ref().clone()),
            (Some(t), true) if !t.get_ref().trim().is_empty() => Some(t.get_ref().clone()),
            (None, true) | (Some(_), true) => {
                let msg = format!("Action \"{}\" needs a Target", action.get_ref());
                cx.error(span.clone(), msg);
                None
            }
            (Some(t), false) => {
                let msg = format!("Action \"{}\" takes no Target", action.get_ref());
                cx.error(t.span(), msg);
                None
            }
            (None, false) => None,
        };
        let parsed = match (action.get_ref().as_str(), target_text) {
            ("Transfer", Some(t)) => Some(KeyAction::Transfer(t)),
            ("Mailbox", Some(t)) => Some(KeyAction::Mailbox(t)),
            ("Menu", Some(t)) => Some(KeyAction::Menu(t)),
            ("Operator", None) => Some(KeyAction::Operator),
            ("DialByExtension", None) => Some(KeyAction::DialByExtension),
            ("DialByName", None) => match by_name.no_dial_by_name {
                Some(why) => {
                    cx.error(
                        action.span(),
                        format!("Action \"DialByName\" is mapped but {why}"),
                    );
                    None
                }
                None => Some(KeyAction::DialByName),
            },
            ("MainMenu", None) => Some(KeyAction::MainMenu),
            (a, _) if !ACTIONS.contains(&a) => {
                let hint = ACTIONS
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(a))
                    .map_or(String::new(), |n| format!("; did you mean \"{n}\"?"));
                let msg = format!("Action \"{a}\" is not one of {}{hint}", ACTIONS.join(", "));
                cx.error(action.span(), msg);
                None
            }
            _ => None,
        };
        if let (Some(KeyAction::Transfer(t) | KeyAction::Mailbox(t)), Some(ts)) = (&parsed, &target)
        {
            targets.push(TargetPos {
                pos: cx.pos(ts.span()),
                target: t.clone(),
                must_be_mailbox: matches!(parsed, Some(KeyAction::Mailbox(_))),
            });
        }
        if let (Some(key), Some(action)) = (digit, parsed) {
            if let (KeyAction::Menu(_), Some(ts)) = (&action, &target) {
                menu_refs.push(ts.clone());
            }
            out.push(KeyMapping { key, action });
        }
    }
    out
}

/// Every `Menu` action names a submenu of the attendant; `refs` are the actions' `Target`s.
fn check_menu_references(cx: &mut Ctx<'_>, menus: &[AttendantMenu], refs: &[Spanned<String>]) {
    let known = |name: &str| menus.iter().any(|m| m.name.eq_ignore_ascii_case(name));
    for r in refs.iter().filter(|r| !known(r.get_ref())) {
        cx.error(
            r.span(),
            format!(
                "Menu \"{}\" is not a [[AutoAttendant.Menu]] of this attendant",
                r.get_ref()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::dialplan::schedule::Period;
    use crate::dialplan::{load_str, KeyAction};
    use std::path::Path;
    use std::time::{Duration, UNIX_EPOCH};

    const HEAD: &str = "Name = \"contoso\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\nOperatorExtension = \"1000\"\n[[Mailbox]]\nId = \"op\"\nExtension = \"1000\"\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n";

    fn lint(text: &str) -> Vec<String> {
        match load_str(Path::new("p.toml"), text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn full_attendant_parses() {
        let text = format!(
            "{HEAD}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\nTimeZone = \"Europe/Berlin\"\nBusinessHoursSchedule = [\"Mon-Fri 08:00-17:00\"]\nHolidaySchedule = [\"2026-12-25 Christmas\"]\nBusinessHoursGreeting = \"aa-welcome\"\nBusinessHoursKeyMapping = [\n  {{ Key = \"1\", Action = \"Transfer\", Target = \"sip:alice@contoso.com\" }},\n  {{ Key = \"2\", Action = \"Menu\", Target = \"sales\" }},\n  {{ Key = \"3\", Action = \"Mailbox\", Target = \"1001\" }},\n  {{ Key = \"4\", Action = \"Transfer\", Target = \"+14255550100\" }},\n  {{ Key = \"9\", Action = \"DialByExtension\" }},\n  {{ Key = \"0\", Action = \"Operator\" }},\n]\nAfterHoursMenuPrompt = \"aa-closed\"\nAfterHoursKeyMapping = [{{ Key = \"#\", Action = \"Mailbox\", Target = \"alice\" }}]\n[[AutoAttendant.Menu]]\nName = \"Sales\"\nPrompt = \"aa-sales\"\nKeyMapping = [{{ Key = \"*\", Action = \"MainMenu\" }}]\n"
        );
        let plan = load_str(Path::new("p.toml"), &text).unwrap();
        let a = &plan.auto_attendants[0];
        assert_eq!(a.schedule.time_zone_name, "Europe/Berlin");
        assert_eq!(a.business_hours.greeting.as_deref(), Some("aa-welcome"));
        assert_eq!(
            a.business_hours.action('1'),
            Some(&KeyAction::Transfer("sip:alice@contoso.com".into()))
        );
        assert_eq!(a.business_hours.action('0'), Some(&KeyAction::Operator));
        assert_eq!(
            a.after_hours.action('#'),
            Some(&KeyAction::Mailbox("alice".into()))
        );
        assert_eq!(
            a.menu("SALES").unwrap().action('*'),
            Some(&KeyAction::MainMenu)
        );
        // Friday 2026-11-27 12:00 UTC is 13:00 in Berlin: open; 17:00 UTC is 18:00: closed.
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(a.schedule.period(t(1_795_780_800)), Period::BusinessHours);
        assert_eq!(a.schedule.period(t(1_795_795_200)), Period::AfterHours);
    }

    #[test]
    fn every_attendant_error_has_its_position() {
        let text = format!(
            "{HEAD}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\nTimeZone = \"Mars/Base\"\nBusinessHoursSchedule = [\"Mon-Fri 18:00-08:00\"]\nHolidaySchedule = [\"2026-13-01\"]\nBusinessHoursGreeting = \"../etc/passwd\"\nBusinessHoursKeyMapping = [\n  {{ Key = \"1\", Action = \"transfer\", Target = \"1001\" }},\n  {{ Key = \"11\", Action = \"Operator\" }},\n  {{ Key = \"2\", Action = \"Mailbox\", Target = \"1777\" }},\n  {{ Key = \"3\", Action = \"Menu\", Target = \"Nope\" }},\n  {{ Key = \"3\", Action = \"Operator\" }},\n  {{ Key = \"4\", Action = \"Mailbox\" }},\n  {{ Key = \"5\", Action = \"Operator\", Target = \"1000\" }},\n  {{ Key = \"6\", Action = \"DialByExtension\", Colour = \"red\" }},\n]\n"
        );
        let got = lint(&text);
        let want = [
            "p.toml:16:12: error: TimeZone \"Mars/Base\" is not a known IANA time zone name",
            "p.toml:17:26: error: BusinessHoursSchedule entry \"Mon-Fri 18:00-08:00\": the range ends before it starts",
            "p.toml:18:20: error: HolidaySchedule entry \"2026-13-01\" is not a date YYYY-MM-DD",
            "p.toml:19:25: error: BusinessHoursGreeting \"../etc/passwd\" must be a prompt name",
            "p.toml:21:25: error: Action \"transfer\" is not one of Transfer, Mailbox, Menu, Operator, DialByExtension, DialByName, MainMenu; did you mean \"Transfer\"?",
            "p.toml:22:11: error: Key \"11\" must be one of 0-9, * or #",
            "p.toml:24:42: error: Menu \"Nope\" is not a [[AutoAttendant.Menu]] of this attendant",
            "p.toml:25:11: error: Key \"3\" is mapped twice in BusinessHoursKeyMapping",
            "p.toml:26:3: error: Action \"Mailbox\" needs a Target",
            "p.toml:27:46: error: Action \"Operator\" takes no Target",
            "p.toml:28:44: error: unknown key Colour in a KeyMapping entry",
        ];
        assert!(
            !got.iter()
                .any(|g| g.contains("takes no Target") && g.contains("transfer")),
            "an unknown action gets one error, not two"
        );
        for w in want {
            assert!(
                got.iter().any(|g| g.starts_with(w)),
                "missing {w:?} in\n{}",
                got.join("\n")
            );
        }
    }

    #[test]
    fn a_missing_menu_is_reported_at_each_target_that_names_it() {
        let text = format!(
            "{HEAD}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\nBusinessHoursKeyMapping = [{{ Key = \"1\", Action = \"Menu\", Target = \"Nope\" }}]\nAfterHoursKeyMapping = [{{ Key = \"1\", Action = \"Menu\", Target = \"Nope\" }}]\n"
        );
        assert_eq!(
            lint(&text),
            [
                "p.toml:16:67: error: Menu \"Nope\" is not a [[AutoAttendant.Menu]] of this attendant",
                "p.toml:17:64: error: Menu \"Nope\" is not a [[AutoAttendant.Menu]] of this attendant",
            ]
        );
    }

    #[test]
    fn mailbox_targets_must_be_mailboxes_of_the_plan() {
        let text = format!(
            "{HEAD}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\nBusinessHoursKeyMapping = [\n  {{ Key = \"1\", Action = \"Mailbox\", Target = \"1777\" }},\n  {{ Key = \"2\", Action = \"Transfer\", Target = \"1777\" }},\n]\n"
        );
        assert_eq!(
            lint(&text),
            ["p.toml:17:45: error: Target \"1777\" of auto attendant \"Main\" is not a mailbox of plan \"contoso\""]
        );
    }

    #[test]
    fn dial_by_name_keys_and_what_a_match_does() {
        use crate::dialplan::{NameMatch, NameOrder};
        let aa = |settings: &str| {
            format!("DialByNamePrimary = \"FirstLast\"\nDialByNameSecondary = \"None\"\n{HEAD}[[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\n{settings}BusinessHoursKeyMapping = [{{ Key = \"8\", Action = \"DialByName\" }}]\n")
        };
        let p = load_str(Path::new("p.toml"), &aa("")).unwrap();
        assert_eq!(p.dial_by_name_primary, NameOrder::FirstLast);
        assert_eq!(p.dial_by_name_secondary, None);
        let a = &p.auto_attendants[0];
        assert_eq!(a.business_hours.action('8'), Some(&KeyAction::DialByName));
        assert!(a.name_lookup_enabled);
        assert_eq!(a.name_match, Some(NameMatch::Transfer));
        let p = load_str(
            Path::new("p.toml"),
            &aa("CallSomeoneEnabled = false\nSendVoiceMsgEnabled = true\n"),
        )
        .unwrap();
        assert_eq!(
            p.auto_attendants[0].name_match,
            Some(NameMatch::LeaveMessage)
        );
        // Exchange's defaults: LastFirst, then the SMTP alias.
        let p = load_str(Path::new("p.toml"), HEAD).unwrap();
        assert_eq!(
            (p.dial_by_name_primary, p.dial_by_name_secondary),
            (NameOrder::LastFirst, Some(NameOrder::SmtpAddress))
        );
        assert_eq!(
            lint(&aa("NameLookupEnabled = false\n")),
            ["p.toml:19:50: error: Action \"DialByName\" is mapped but NameLookupEnabled is false"]
        );
        assert_eq!(
            lint(&aa("CallSomeoneEnabled = false\n")),
            ["p.toml:19:50: error: Action \"DialByName\" is mapped but CallSomeoneEnabled and SendVoiceMsgEnabled are both false"]
        );
        let text =
            format!("DialByNamePrimary = \"None\"\nDialByNameSecondary = \"smtpaddress\"\n{HEAD}");
        assert_eq!(
            lint(&text),
            [
                "p.toml:1:21: error: DialByNamePrimary \"None\" is not one of LastFirst, FirstLast, SMTPAddress",
                "p.toml:2:23: error: DialByNameSecondary \"smtpaddress\" is not one of LastFirst, FirstLast, SMTPAddress, None; did you mean \"SMTPAddress\"?",
            ]
        );
    }
}
