//! The attendant flow on a fake clock: one test per key action, the period's menu, failures.

use super::*;
use crate::dialplan::schedule::Schedule;
use crate::dialplan::KeyMapping;

fn keys(list: &[(char, KeyAction)]) -> Vec<KeyMapping> {
    list.iter()
        .map(|(key, action)| KeyMapping {
            key: *key,
            action: action.clone(),
        })
        .collect()
}

fn attendant() -> AutoAttendant {
    AutoAttendant {
        name: "Main".into(),
        pilot_identifiers: vec!["5000".into()],
        operator_extension: Some("1999".into()),
        schedule: Schedule::default(),
        business_hours: AttendantMenu {
            name: "BusinessHours".into(),
            greeting: Some("aa-welcome".into()),
            prompt: None,
            keys: keys(&[
                ('1', KeyAction::Transfer("1001".into())),
                ('2', KeyAction::Menu("sales".into())),
                ('3', KeyAction::Mailbox("1002".into())),
                ('9', KeyAction::DialByExtension),
                ('0', KeyAction::Operator),
            ]),
        },
        after_hours: AttendantMenu {
            name: "AfterHours".into(),
            greeting: None,
            prompt: Some("aa-closed-menu".into()),
            keys: keys(&[('1', KeyAction::Mailbox("1001".into()))]),
        },
        holiday_greeting: None,
        language: Default::default(),
        menus: vec![AttendantMenu {
            name: "Sales".into(),
            greeting: None,
            prompt: Some("aa-sales-menu".into()),
            keys: keys(&[
                ('1', KeyAction::Transfer("1003".into())),
                ('*', KeyAction::MainMenu),
            ]),
        }],
        name_lookup_enabled: true,
        name_match: Some(NameMatch::Transfer),
        line: 1,
    }
}

struct Harness {
    flow: Attendant,
    now: Instant,
}

impl Harness {
    fn new(period: Period) -> Self {
        Self {
            flow: Attendant::new(
                &attendant(),
                period,
                Some("1000"),
                AttendantLimits::default(),
            ),
            now: Instant::now(),
        }
    }
    fn feed(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        self.flow.handle(self.now, input, &mut out);
        out
    }
    /// Answers and lets the greeting and menu play out.
    fn answered(period: Period) -> (Self, Vec<Command>) {
        let mut h = Self::new(period);
        let first = h.feed(Input::Answered);
        h.feed(Input::PlaybackDone);
        (h, first)
    }
    fn advance(&mut self, d: Duration) -> Vec<Command> {
        self.now += d;
        self.feed(Input::Tick)
    }
}

fn played(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .flat_map(|c| match c {
            Command::Play(s) => s.clone(),
            _ => Vec::new(),
        })
        .map(|s| match s {
            Say::Prompt(p) => p,
            Say::Digits(d) => format!("<{d}>"),
            Say::RecordedName(id) => format!("[{id}]"),
        })
        .collect()
}

#[test]
fn business_hours_greets_and_composes_the_menu_from_its_keys() {
    let (_, first) = Harness::answered(Period::BusinessHours);
    let said = played(&first);
    assert_eq!(
        said,
        [
            "aa-welcome",
            "w-for",
            "w-extension",
            "<1001>",
            "w-press",
            "digit-1",
            "w-for",
            "aa-more-options",
            "w-press",
            "digit-2",
            "aa-leave-message-for",
            "<1002>",
            "w-press",
            "digit-3",
            "aa-know-extension",
            "w-press",
            "digit-9",
            "w-for",
            "aa-the-operator",
            "w-press",
            "digit-0",
        ]
    );
}

#[test]
fn after_hours_and_holiday_use_the_after_hours_menu() {
    let (mut h, first) = Harness::answered(Period::AfterHours);
    assert_eq!(played(&first), ["aa-after-hours", "aa-closed-menu"]);
    // Key 1 after hours leaves a message for 1001 (in business hours it transfers).
    assert_eq!(
        h.feed(Input::Dtmf('1')),
        [Command::Deposit {
            target: "1001".into()
        }]
    );
    assert!(h.flow.is_done());
    let (_, first) = Harness::answered(Period::Holiday);
    assert_eq!(played(&first), ["aa-holiday", "aa-closed-menu"]);
}

#[test]
fn transfer_key_transfers_and_ends_when_done() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    let out = h.feed(Input::Dtmf('1'));
    assert_eq!(played(&out), ["aa-transferring"]);
    assert!(out.contains(&Command::Transfer {
        target: "1001".into()
    }));
    // Keys during the transfer do nothing.
    assert!(h.feed(Input::Dtmf('5')).is_empty());
    h.feed(Input::Transferred);
    assert!(h.flow.is_done());
}

#[test]
fn failed_transfer_to_a_user_leaves_a_message_in_their_mailbox() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    h.feed(Input::Dtmf('1'));
    let out = h.feed(Input::TransferFailed { has_mailbox: true });
    assert!(out.contains(&Command::Deposit {
        target: "1001".into()
    }));
    assert!(h.flow.is_done());
}

#[test]
fn failed_transfer_without_a_mailbox_returns_to_the_menu() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    h.feed(Input::Dtmf('2')); // Sales
    h.feed(Input::PlaybackDone);
    h.feed(Input::Dtmf('1'));
    let out = h.feed(Input::TransferFailed { has_mailbox: false });
    assert_eq!(played(&out), ["aa-line-unavailable", "aa-sales-menu"]);
    assert!(!h.flow.is_done());
}

#[test]
fn mailbox_key_hands_the_call_to_the_deposit_flow() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    assert_eq!(
        h.feed(Input::Dtmf('3')),
        [Command::Deposit {
            target: "1002".into()
        }]
    );
}

#[test]
fn submenu_and_back_to_the_main_menu() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    let out = h.feed(Input::Dtmf('2'));
    assert_eq!(played(&out), ["aa-sales-menu"]);
    h.feed(Input::PlaybackDone);
    let out = h.feed(Input::Dtmf('1'));
    assert!(out.contains(&Command::Transfer {
        target: "1003".into()
    }));
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    h.feed(Input::Dtmf('2'));
    let out = h.feed(Input::Dtmf('*')); // barge-in, back to the main menu
    assert_eq!(out[0], Command::StopPlayback);
    assert_eq!(played(&out)[0], "w-for");
}

#[test]
fn operator_key_uses_the_attendant_operator_else_the_plan_one() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    assert!(h.feed(Input::Dtmf('0')).contains(&Command::Transfer {
        target: "1999".into()
    }));
    let mut a = attendant();
    a.operator_extension = None;
    let mut flow = Attendant::new(
        &a,
        Period::BusinessHours,
        Some("1000"),
        AttendantLimits::default(),
    );
    let mut out = Vec::new();
    let now = Instant::now();
    flow.handle(now, Input::Answered, &mut out);
    flow.handle(now, Input::PlaybackDone, &mut out);
    out.clear();
    flow.handle(now, Input::Dtmf('0'), &mut out);
    assert!(out.contains(&Command::Transfer {
        target: "1000".into()
    }));
}

#[test]
fn dial_by_extension_looks_up_and_transfers() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    assert_eq!(played(&h.feed(Input::Dtmf('9'))), ["aa-enter-extension"]);
    h.feed(Input::PlaybackDone);
    for d in "1004".chars() {
        assert!(h.feed(Input::Dtmf(d)).is_empty());
    }
    assert_eq!(
        h.feed(Input::Dtmf('#')),
        [Command::LookupExtension("1004".into())]
    );
    assert!(h.feed(Input::Extension(true)).contains(&Command::Transfer {
        target: "1004".into()
    }));
}

#[test]
fn dial_by_extension_unknown_asks_again_and_the_timeout_submits() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    h.feed(Input::Dtmf('9'));
    h.feed(Input::PlaybackDone);
    h.feed(Input::Dtmf('7'));
    h.feed(Input::Dtmf('#'));
    let out = h.feed(Input::Extension(false));
    assert_eq!(played(&out), ["sa-invalid", "aa-enter-extension"]);
    h.feed(Input::PlaybackDone);
    h.feed(Input::Dtmf('1'));
    h.feed(Input::Dtmf('0'));
    // No '#': the inter-digit time-out takes "10" as entered.
    let out = h.advance(Duration::from_secs(6));
    assert_eq!(out, [Command::LookupExtension("10".into())]);
}

#[test]
fn wrong_keys_and_silence_repeat_the_menu_then_say_goodbye() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    let out = h.feed(Input::Dtmf('7'));
    assert_eq!(played(&out)[..2], ["sa-invalid", "w-for"]);
    h.feed(Input::PlaybackDone);
    let out = h.advance(Duration::from_secs(6));
    assert_eq!(played(&out)[0], "sa-invalid");
    h.feed(Input::PlaybackDone);
    let out = h.feed(Input::Dtmf('8'));
    assert_eq!(played(&out), ["vm-goodbye"]);
    assert_eq!(h.feed(Input::PlaybackDone), [Command::HangUp]);
    assert!(h.flow.is_done());
}

#[test]
fn hang_up_ends_at_once() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    assert!(h.feed(Input::CallerHungUp).is_empty());
    assert!(h.flow.is_done());
}

/// The attendant with `8` for dial by name over three users, matches doing `name_match`.
fn by_name(name_match: NameMatch) -> Harness {
    let mut a = attendant();
    a.business_hours.keys.push(KeyMapping {
        key: '8',
        action: KeyAction::DialByName,
    });
    a.name_match = Some(name_match);
    let listings = vec![
        Listing::new("rjohnson", "Robert Johnson", "rj"),
        Listing::new("ljohnston", "Lisa Johnston", "lj"),
        Listing::new("bob", "Bob Baker", "bob"),
    ];
    let settings = DirectorySettings {
        primary: crate::dialplan::NameOrder::LastFirst,
        secondary: None,
        input_failures: 3,
        digit_timeout: Duration::from_secs(5),
    };
    let mut h = Harness {
        flow: Attendant::new(&a, Period::BusinessHours, None, AttendantLimits::default())
            .with_directory(listings, settings),
        now: Instant::now(),
    };
    let menu = h.feed(Input::Answered);
    assert!(played(&menu).ends_with(&["aa-know-name", "w-press", "digit-8"].map(String::from)));
    h.feed(Input::PlaybackDone);
    h
}

#[test]
fn dial_by_name_transfers_to_the_picked_user_with_their_recorded_name() {
    let mut h = by_name(NameMatch::Transfer);
    assert_eq!(played(&h.feed(Input::Dtmf('8'))), ["dir-spell-last"]);
    h.feed(Input::PlaybackDone);
    for k in "56467#".chars() {
        h.feed(Input::Dtmf(k));
    }
    // '#' asked the shell about recorded names; Lisa has one.
    let out = h.feed(Input::RecordedNames(vec![false, true]));
    assert!(played(&out).contains(&"[ljohnston]".to_string()));
    h.feed(Input::PlaybackDone);
    let out = h.feed(Input::Dtmf('2'));
    assert_eq!(
        out,
        [
            Command::Play(vec![
                Say::Prompt("dir-transferring-to".into()),
                Say::RecordedName("ljohnston".into())
            ]),
            Command::Transfer {
                target: "ljohnston".into()
            }
        ]
    );
    // A failed transfer to a user found by name leaves them a message, as other transfers.
    let out = h.feed(Input::TransferFailed { has_mailbox: true });
    assert!(out.contains(&Command::Deposit {
        target: "ljohnston".into()
    }));
    assert!(h.flow.is_done());
}

#[test]
fn dial_by_name_can_leave_a_message_directly_and_star_returns_to_the_menu() {
    let mut h = by_name(NameMatch::LeaveMessage);
    h.feed(Input::Dtmf('8'));
    h.feed(Input::PlaybackDone);
    for k in "22537#".chars() {
        h.feed(Input::Dtmf(k));
    }
    // One match: chosen at once, no ringing.
    let out = h.feed(Input::RecordedNames(vec![false]));
    assert_eq!(
        out,
        [Command::Deposit {
            target: "bob".into()
        }]
    );

    let mut h = by_name(NameMatch::Transfer);
    h.feed(Input::Dtmf('8'));
    h.feed(Input::PlaybackDone);
    let out = h.feed(Input::Dtmf('*'));
    assert_eq!(
        played(&out)[0],
        "w-for",
        "the menu again, without the greeting"
    );
    // The directory's time-outs drive the attendant's deadline while it runs.
    h.feed(Input::PlaybackDone);
    h.feed(Input::Dtmf('8'));
    h.feed(Input::PlaybackDone);
    assert_eq!(h.flow.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.advance(Duration::from_secs(5));
    h.feed(Input::PlaybackDone);
    h.advance(Duration::from_secs(5));
    h.feed(Input::PlaybackDone);
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(
        played(&out),
        ["vm-goodbye"],
        "too many failures end the call"
    );
}

#[test]
fn a_transfer_the_dialing_rules_refuse_says_so_and_returns_to_the_menu() {
    let (mut h, _) = Harness::answered(Period::BusinessHours);
    h.feed(Input::Dtmf('1'));
    let out = h.feed(Input::TransferRefused);
    assert_eq!(out[0], Command::StopPlayback);
    assert_eq!(played(&out)[..2], ["dial-refused", "w-for"]);
    assert!(!h.flow.is_done());
}
