//! Subscriber-access scenarios on a fake clock.

use super::*;
use crate::flows::directory;

struct Sim {
    flow: Subscriber,
    now: Instant,
}

impl Sim {
    fn new(mailbox: Option<&str>) -> Self {
        Self {
            flow: Subscriber::new(SubscriberLimits::default(), mailbox.map(str::to_owned)),
            now: Instant::now(),
        }
    }
    fn send(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        self.flow.handle(self.now, input, &mut out);
        out
    }
    /// Keys after the current prompt finished playing.
    fn keys(&mut self, keys: &str) -> Vec<Command> {
        let mut out = self.send(Input::PlaybackDone);
        for c in keys.chars() {
            out.extend(self.send(Input::Dtmf(c)));
        }
        out
    }
    /// Answered for a caller whose caller ID names `mailbox`; the session is open.
    fn at_pin_prompt(mailbox: &str) -> Self {
        let mut s = Sim::new(Some(mailbox));
        s.send(Input::Answered);
        s.send(Input::Session(true));
        s
    }
    /// The envelope and the audio of the current message played: its menu plays.
    fn hear_to_menu(&mut self) {
        self.send(Input::PlaybackDone);
        self.send(Input::PlaybackDone);
    }
    /// Logged in, listening to `list` (new messages): the first one's envelope plays.
    fn listening(list: Vec<MessageRef>) -> Self {
        let mut s = Sim::logged_in("alice");
        s.keys("1");
        s.send(Input::Messages(list));
        s
    }
    fn logged_in(mailbox: &str) -> Self {
        let mut s = Sim::at_pin_prompt(mailbox);
        s.keys("135790#");
        s.send(Input::Pin(PinCheck::Ok));
        s.send(Input::Counts { new: 2, saved: 1 });
        s
    }
}

fn msg(id: &str) -> MessageRef {
    MessageRef {
        id: id.into(),
        caller: Some("+14255550199".into()),
        received: SystemTime::UNIX_EPOCH,
        duration: Duration::from_secs(5),
    }
}

/// The audio of message `index` from `from_s` seconds on.
fn audio(index: usize, from_s: u64) -> Command {
    audio_ms(index, from_s * 1000)
}

fn audio_ms(index: usize, from_ms: u64) -> Command {
    Command::Play(vec![Say::Audio {
        index,
        from: Duration::from_millis(from_ms),
    }])
}

/// "That PIN is not allowed ... at least 6 digits ...", then the new-PIN question again.
fn pin_rules_then_new_pin() -> Command {
    Command::Play(vec![
        Say::Prompt("sa-pin-rejected"),
        Say::Number(6),
        Say::Prompt("sa-pin-digits"),
        Say::Prompt("sa-new-pin"),
    ])
}

fn play(names: &[&'static str]) -> Command {
    Command::Play(names.iter().map(|n| Say::Prompt(n)).collect())
}

#[test]
fn caller_id_then_pin_then_counts_and_menu() {
    let mut s = Sim::new(Some("alice"));
    assert_eq!(
        s.send(Input::Answered),
        [Command::OpenSession {
            mailbox: "alice".into()
        }]
    );
    assert_eq!(s.send(Input::Session(true)), [play(&["sa-enter-pin"])]);
    assert_eq!(
        s.keys("135790#"),
        [Command::VerifyPin {
            mailbox: "alice".into(),
            pin: Pin("135790".into())
        }]
    );
    assert_eq!(s.send(Input::Pin(PinCheck::Ok)), [Command::LoadCounts]);
    assert_eq!(
        s.send(Input::Counts { new: 2, saved: 1 }),
        [Command::Play(vec![
            Say::Counts { new: 2, saved: 1 },
            Say::Prompt("sa-main-menu")
        ])]
    );
}

#[test]
fn unknown_caller_is_asked_for_the_extension() {
    let mut s = Sim::new(None);
    assert_eq!(s.send(Input::Answered), [play(&["sa-enter-extension"])]);
    assert_eq!(s.keys("1001#"), [Command::LookupExtension("1001".into())]);
    assert_eq!(
        s.send(Input::Extension(None)),
        [play(&["sa-invalid", "sa-enter-extension"])]
    );
    s.keys("1002#");
    assert_eq!(
        s.send(Input::Extension(Some("bob".into()))),
        [Command::OpenSession {
            mailbox: "bob".into()
        }]
    );
    assert_eq!(s.send(Input::Session(true)), [play(&["sa-enter-pin"])]);
    assert_eq!(s.flow.mailbox(), Some("bob"));
}

#[test]
fn wrong_pins_disconnect_and_a_locked_mailbox_says_so() {
    let mut s = Sim::at_pin_prompt("alice");
    s.keys("111111#");
    assert_eq!(
        s.send(Input::Pin(PinCheck::Wrong)),
        [play(&["sa-pin-wrong", "sa-enter-pin"])]
    );
    s.keys("222222#");
    s.send(Input::Pin(PinCheck::Wrong));
    s.keys("333333#");
    assert_eq!(s.send(Input::Pin(PinCheck::Wrong)), [play(&["vm-goodbye"])]);
    assert_eq!(s.send(Input::PlaybackDone), [Command::HangUp]);
    assert!(s.flow.is_done());

    let mut s = Sim::at_pin_prompt("alice");
    s.keys("111111#");
    assert_eq!(s.send(Input::Pin(PinCheck::Locked)), [play(&["sa-locked"])]);
}

#[test]
fn listen_delete_save_with_mwi_updates() {
    let mut s = Sim::logged_in("alice");
    assert_eq!(s.keys("1"), [Command::LoadMessages(Folder::New)]);
    // The envelope, then the audio, then the message menu.
    assert_eq!(
        s.send(Input::Messages(vec![msg("a"), msg("b")])),
        [Command::Play(vec![Say::Envelope(0)])]
    );
    assert_eq!(s.send(Input::PlaybackDone), [audio(0, 0)]);
    assert_eq!(s.send(Input::PlaybackDone), [play(&["sa-message-menu"])]);
    assert_eq!(s.keys("3"), [Command::Delete { id: "a".into() }]);
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [
            Command::UpdateMwi,
            Command::Play(vec![Say::Prompt("sa-message-deleted"), Say::Envelope(1)])
        ]
    );
    assert_eq!(
        s.send(Input::Dtmf('2')),
        [
            Command::StopPlayback,
            Command::SetSeen {
                id: "b".into(),
                seen: true
            }
        ]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [
            Command::UpdateMwi,
            play(&["sa-message-saved", "sa-no-more-messages"]),
            Command::LoadCounts
        ]
    );
    // The delete is pending: it is purged when the call ends.
    assert_eq!(
        s.send(Input::CallerHungUp),
        [Command::Purge {
            ids: vec!["a".into()]
        }]
    );
}

#[test]
fn keys_barge_in_on_prompts() {
    let mut s = Sim::logged_in("alice");
    // The main menu is still playing when the caller presses 1.
    assert_eq!(
        s.send(Input::Dtmf('1')),
        [Command::StopPlayback, Command::LoadMessages(Folder::New)]
    );
}

#[test]
fn silence_reprompts_then_disconnects() {
    let mut s = Sim::logged_in("alice");
    s.send(Input::PlaybackDone);
    assert_eq!(s.flow.poll_timeout(), Some(s.now + Duration::from_secs(5)));
    s.now += Duration::from_secs(5);
    let out = s.send(Input::Tick);
    assert_eq!(
        out,
        [Command::Play(vec![
            Say::Prompt("sa-invalid"),
            Say::Counts { new: 2, saved: 1 },
            Say::Prompt("sa-main-menu")
        ])]
    );
    for _ in 0..2 {
        s.send(Input::PlaybackDone);
        s.now += Duration::from_secs(5);
        s.send(Input::Tick);
    }
    assert_eq!(s.send(Input::PlaybackDone), [Command::HangUp]);
}

#[test]
fn digits_without_pound_are_submitted_when_the_caller_stops() {
    let mut s = Sim::new(None);
    s.send(Input::Answered);
    s.keys("1001");
    s.now += Duration::from_secs(5);
    assert_eq!(
        s.send(Input::Tick),
        [Command::LookupExtension("1001".into())]
    );
}

#[test]
fn record_greeting() {
    let mut s = Sim::logged_in("alice");
    assert_eq!(
        s.keys("3"),
        [Command::Play(vec![
            Say::Prompt("sa-record-greeting"),
            Say::Beep
        ])]
    );
    assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
    assert!(s.flow.is_recording());
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::SaveGreeting(GreetingKind::Personal)]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [play(&["sa-greeting-saved"]), Command::LoadCounts]
    );
    // The greeting has a maximum length.
    let mut s = Sim::logged_in("alice");
    s.keys("3");
    s.send(Input::PlaybackDone);
    s.now += Duration::from_secs(300);
    assert_eq!(
        s.send(Input::Tick),
        [Command::SaveGreeting(GreetingKind::Personal)]
    );
}

#[test]
fn change_pin_with_policy_refusal() {
    let mut s = Sim::logged_in("alice");
    assert_eq!(s.keys("5"), [play(&["sa-new-pin"])]);
    assert_eq!(s.keys("123456#"), [Command::SetPin(Pin("123456".into()))]);
    assert_eq!(s.send(Input::PinSet(false)), [pin_rules_then_new_pin()]);
    s.keys("975318#");
    assert_eq!(
        s.send(Input::PinSet(true)),
        [play(&["sa-pin-changed"]), Command::LoadCounts]
    );
}

#[test]
fn pins_never_print() {
    let c = Command::VerifyPin {
        mailbox: "alice".into(),
        pin: Pin("135790".into()),
    };
    let text = format!("{c:?}");
    assert!(!text.contains("135790"), "{text}");
    assert!(!format!("{:?}", Command::SetPin(Pin("975318".into()))).contains("975318"));
}

#[test]
fn away_greeting_on_and_off_and_recorded_name() {
    let mut s = Sim::logged_in("alice");
    assert_eq!(
        s.keys("4"),
        [Command::Play(vec![
            Say::Prompt("sa-record-away"),
            Say::Beep
        ])]
    );
    assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::SaveGreeting(GreetingKind::Away)]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [play(&["sa-away-on"]), Command::LoadCounts]
    );
    s.send(Input::Counts { new: 0, saved: 0 });
    assert_eq!(s.keys("7"), [Command::DeleteGreeting(GreetingKind::Away)]);
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [play(&["sa-away-off"]), Command::LoadCounts]
    );
    s.send(Input::Counts { new: 0, saved: 0 });
    assert_eq!(
        s.keys("6"),
        [Command::Play(vec![
            Say::Prompt("sa-record-name"),
            Say::Beep
        ])]
    );
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::SaveGreeting(GreetingKind::Name)]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [play(&["sa-name-saved"]), Command::LoadCounts]
    );
}

#[test]
fn call_back_transfers_and_a_failure_returns_to_the_message() {
    let mut s = Sim::logged_in("alice");
    s.keys("1");
    s.send(Input::Messages(vec![msg("m1")]));
    s.hear_to_menu();
    let out = s.keys("4");
    assert_eq!(
        out,
        [
            Command::CallBack {
                number: "+14255550199".into()
            },
            play(&["aa-transferring"])
        ]
    );
    // Refused: "That line is not available", and the message menu again.
    assert_eq!(
        s.send(Input::TransferFailed),
        [
            Command::StopPlayback,
            play(&["aa-line-unavailable", "sa-message-menu"])
        ]
    );
    // The message is still the current one: 3 deletes it.
    assert_eq!(s.keys("3"), [Command::Delete { id: "m1".into() }]);
    // A number the dialing rules refuse: "Sorry, that number cannot be dialled", the menu.
    let mut s = Sim::listening(vec![msg("m1")]);
    s.hear_to_menu();
    s.keys("4");
    assert_eq!(
        s.send(Input::CallBackRefused),
        [
            Command::StopPlayback,
            play(&["dial-refused", "sa-message-menu"])
        ]
    );
    assert!(!s.flow.is_done());
    // Success ends subscriber access.
    let mut s = Sim::logged_in("alice");
    s.keys("1");
    s.send(Input::Messages(vec![msg("m1")]));
    s.hear_to_menu();
    s.keys("4");
    assert_eq!(s.send(Input::Transferred), [Command::HangUp]);
    assert!(s.flow.is_done());
}

#[test]
fn call_back_without_caller_id_says_so() {
    let mut s = Sim::logged_in("alice");
    s.keys("1");
    let mut anonymous = msg("m1");
    anonymous.caller = None;
    s.send(Input::Messages(vec![anonymous]));
    s.hear_to_menu();
    assert_eq!(s.keys("4"), [play(&["sa-no-caller-id", "sa-message-menu"])]);
}

/// Caller ID names a mailbox that has its maximum of sessions: told so and disconnected
/// before the PIN prompt, whatever time passes meanwhile.
#[test]
fn a_busy_mailbox_by_caller_id_is_refused_before_the_pin_prompt() {
    let mut s = Sim::new(Some("alice"));
    assert_eq!(
        s.send(Input::Answered),
        [Command::OpenSession {
            mailbox: "alice".into()
        }]
    );
    // Waiting for the answer asks for no time-out and none fires.
    assert_eq!(s.flow.poll_timeout(), None);
    s.now += Duration::from_secs(30);
    assert_eq!(s.send(Input::Tick), []);
    assert_eq!(s.send(Input::Session(false)), [play(&["sa-mailbox-busy"])]);
    // Keys now change nothing: no PIN is asked or checked.
    assert_eq!(s.send(Input::Dtmf('1')), []);
    s.now += Duration::from_secs(2);
    assert_eq!(s.send(Input::PlaybackDone), [Command::HangUp]);
    assert!(s.flow.is_done());
}

#[test]
fn a_busy_mailbox_by_extension_is_refused_before_the_pin_prompt() {
    let mut s = Sim::new(None);
    s.send(Input::Answered);
    s.keys("1001#");
    assert_eq!(
        s.send(Input::Extension(Some("alice".into()))),
        [Command::OpenSession {
            mailbox: "alice".into()
        }]
    );
    s.now += Duration::from_secs(1);
    assert_eq!(s.send(Input::Session(false)), [play(&["sa-mailbox-busy"])]);
    // A digit typed over the goodbye does not reach a PIN check either.
    let out = s.send(Input::Dtmf('5'));
    assert!(
        !out.iter().any(|c| matches!(c, Command::VerifyPin { .. })),
        "{out:?}"
    );
    assert_eq!(s.send(Input::PlaybackDone), [Command::HangUp]);
    assert!(s.flow.is_done());
}

#[test]
fn skip_back_and_forward_five_seconds_from_the_position_in_the_audio() {
    let mut long = msg("a");
    long.duration = Duration::from_secs(30);
    let mut s = Sim::listening(vec![long]);
    // The envelope ends; the audio plays from its start.
    assert_eq!(s.send(Input::PlaybackDone), [audio(0, 0)]);
    s.now += Duration::from_millis(3200);
    // 9 at 3.2 s: the audio again from 8.2 s.
    assert_eq!(
        s.send(Input::Dtmf('9')),
        [Command::StopPlayback, audio_ms(0, 8200)]
    );
    s.now += Duration::from_millis(1000);
    // 7 at 9.2 s: from 4.2 s.
    assert_eq!(
        s.send(Input::Dtmf('7')),
        [Command::StopPlayback, audio_ms(0, 4200)]
    );
    // 7 near the start goes back to the start, not before it.
    s.now += Duration::from_millis(500);
    s.send(Input::Dtmf('7'));
    assert_eq!(
        s.send(Input::Dtmf('7')),
        [Command::StopPlayback, audio(0, 0)]
    );
    // 9 during the envelope skips 5 s into the audio.
    s.send(Input::Dtmf('1'));
    assert_eq!(
        s.send(Input::Dtmf('9')),
        [Command::StopPlayback, audio(0, 5)]
    );
}

#[test]
fn skips_after_the_audio_count_from_its_end() {
    let mut long = msg("a");
    long.duration = Duration::from_secs(12);
    let mut s = Sim::listening(vec![long]);
    s.hear_to_menu();
    // The menu plays: 7 replays the last 5 s.
    assert_eq!(
        s.send(Input::Dtmf('7')),
        [Command::StopPlayback, audio(0, 7)]
    );
    // The end of the audio is the end, whatever the clock says.
    s.now += Duration::from_secs(30);
    assert_eq!(
        s.send(Input::Dtmf('9')),
        [Command::StopPlayback, audio(0, 17)]
    );
    // Past the end the shell plays nothing and says it is done: the menu again.
    assert_eq!(s.send(Input::PlaybackDone), [play(&["sa-message-menu"])]);
}

#[test]
fn pause_and_resume_where_it_stopped() {
    let mut s = Sim::listening(vec![msg("a")]);
    s.send(Input::PlaybackDone);
    s.now += Duration::from_millis(2500);
    assert_eq!(s.send(Input::Dtmf('8')), [Command::StopPlayback]);
    // Paused: time passes without prompts or time-outs.
    s.now += Duration::from_secs(20);
    assert_eq!(s.send(Input::Tick), []);
    assert_eq!(s.send(Input::Dtmf('8')), [audio_ms(0, 2500)]);
    // Paused too long, it goes on by itself.
    s.now += Duration::from_millis(1000);
    assert_eq!(s.send(Input::Dtmf('8')), [Command::StopPlayback]);
    assert_eq!(s.flow.poll_timeout(), Some(s.now + listening::PAUSE_MAX));
    s.now += listening::PAUSE_MAX;
    assert_eq!(s.send(Input::Tick), [audio_ms(0, 3500)]);
    // Keys work while paused: 3 deletes.
    s.send(Input::Dtmf('8'));
    assert_eq!(
        s.send(Input::Dtmf('3')),
        [Command::Delete { id: "a".into() }]
    );
}

#[test]
fn mark_unread_keeps_the_message_new_and_moves_on() {
    let mut s = Sim::logged_in("alice");
    s.keys("2");
    s.send(Input::Messages(vec![msg("a"), msg("b")]));
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.send(Input::Dtmf('0')),
        [
            Command::StopPlayback,
            Command::SetSeen {
                id: "a".into(),
                seen: false
            }
        ]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [
            Command::UpdateMwi,
            Command::Play(vec![Say::Prompt("sa-message-unread"), Say::Envelope(1)])
        ]
    );
}

#[test]
fn deleted_messages_are_restorable_until_the_call_ends() {
    let mut s = Sim::listening(vec![msg("a"), msg("b")]);
    s.send(Input::Dtmf('3'));
    s.send(Input::StoreDone(true));
    s.send(Input::Dtmf('3'));
    s.send(Input::StoreDone(true));
    // Back at the main menu: 8 lists the messages deleted in this call.
    s.send(Input::Counts { new: 0, saved: 0 });
    assert_eq!(
        s.keys("8"),
        [Command::LoadDeleted(vec!["a".into(), "b".into()])]
    );
    s.send(Input::Messages(vec![msg("a"), msg("b")]));
    // 3 on a deleted message restores it.
    assert_eq!(
        s.send(Input::Dtmf('3')),
        [Command::StopPlayback, Command::Undelete { id: "a".into() }]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [
            Command::UpdateMwi,
            Command::Play(vec![Say::Prompt("sa-message-restored"), Say::Envelope(1)])
        ]
    );
    // A restore the store refused leaves the message deleted.
    s.send(Input::Dtmf('3'));
    s.send(Input::StoreDone(false));
    // Goodbye: only what is still deleted is purged, after the goodbye.
    s.send(Input::Counts { new: 1, saved: 0 });
    s.keys("*");
    assert_eq!(
        s.send(Input::PlaybackDone),
        [
            Command::Purge {
                ids: vec!["b".into()]
            },
            Command::HangUp
        ]
    );
}

#[test]
fn a_delete_the_store_refused_is_not_purged() {
    let mut s = Sim::listening(vec![msg("a")]);
    s.send(Input::Dtmf('3'));
    assert_eq!(
        s.send(Input::StoreDone(false)),
        [
            Command::UpdateMwi,
            play(&["vm-not-saved", "sa-no-more-messages"]),
            Command::LoadCounts
        ]
    );
    assert_eq!(s.send(Input::CallerHungUp), []);
}

#[test]
fn next_message_key_skips_to_the_next() {
    let mut s = Sim::listening(vec![msg("a"), msg("b")]);
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::StopPlayback, Command::Play(vec![Say::Envelope(1)])]
    );
}

#[test]
fn forward_with_a_comment_to_an_extension_then_back_to_the_message() {
    let mut s = Sim::listening(vec![msg("a"), msg("b")]);
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.send(Input::Dtmf('6')),
        [Command::StopPlayback, play(&["sa-forward-extension"])]
    );
    assert_eq!(s.keys("1003#"), [Command::LookupRecipient("1003".into())]);
    // Not a mailbox: said so, asked again.
    assert_eq!(
        s.send(Input::Recipient(None)),
        [play(&["sa-invalid", "sa-forward-extension"])]
    );
    s.keys("1002#");
    assert_eq!(
        s.send(Input::Recipient(Some("bob".into()))),
        [Command::Play(vec![
            Say::Prompt("sa-forward-comment"),
            Say::Beep
        ])]
    );
    assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
    assert!(s.flow.is_recording());
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::Forward {
            index: 0,
            to: "bob".into(),
            comment: true
        }]
    );
    // Stored: said so, and the same message's menu again.
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [play(&["sa-message-forwarded", "sa-message-menu"])]
    );
    assert_eq!(
        s.keys("2"),
        [Command::SetSeen {
            id: "a".into(),
            seen: true
        }]
    );
}

#[test]
fn forward_without_a_comment_and_a_comment_cut_at_the_longest() {
    let mut s = Sim::listening(vec![msg("a")]);
    s.hear_to_menu();
    s.keys("6");
    s.keys("1002#");
    s.send(Input::Recipient(Some("bob".into())));
    // # over the prompt: no comment.
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::StopPlayback,
            Command::Forward {
                index: 0,
                to: "bob".into(),
                comment: false
            }
        ]
    );
    assert_eq!(
        s.send(Input::StoreDone(false)),
        [play(&["vm-not-saved", "sa-message-menu"])]
    );
    // A comment as long as a greeting may be is sent when it reaches that length.
    s.keys("6");
    s.keys("1002#");
    s.send(Input::Recipient(Some("bob".into())));
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.flow.poll_timeout(),
        Some(s.now + Duration::from_secs(300))
    );
    s.now += Duration::from_secs(300);
    assert_eq!(
        s.send(Input::Tick),
        [Command::Forward {
            index: 0,
            to: "bob".into(),
            comment: true
        }]
    );
}

#[test]
fn reply_to_an_internal_sender_records_and_sends() {
    let mut s = Sim::listening(vec![msg("a")]);
    s.hear_to_menu();
    assert_eq!(s.keys("5"), [Command::LookupSender("+14255550199".into())]);
    assert_eq!(
        s.send(Input::Recipient(Some("bob".into()))),
        [Command::Play(vec![
            Say::Prompt("sa-record-reply"),
            Say::Beep
        ])]
    );
    assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::Reply { to: "bob".into() }]
    );
    assert_eq!(
        s.send(Input::StoreDone(true)),
        [play(&["sa-reply-sent", "sa-message-menu"])]
    );
}

#[test]
fn reply_to_an_outside_caller_is_refused() {
    let mut s = Sim::listening(vec![msg("a")]);
    s.hear_to_menu();
    s.keys("5");
    assert_eq!(
        s.send(Input::Recipient(None)),
        [play(&["sa-reply-external", "sa-message-menu"])]
    );
    // No caller ID at all: refused without a lookup.
    let mut anonymous = msg("b");
    anonymous.caller = None;
    let mut s = Sim::listening(vec![anonymous]);
    s.hear_to_menu();
    assert_eq!(
        s.keys("5"),
        [play(&["sa-reply-external", "sa-message-menu"])]
    );
    // # over the record prompt: nothing sent, back to the message.
    let mut s = Sim::listening(vec![msg("a")]);
    s.hear_to_menu();
    s.keys("5");
    s.send(Input::Recipient(Some("bob".into())));
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::StopPlayback, play(&["sa-message-menu"])]
    );
}

#[test]
fn a_pin_that_must_change_goes_straight_to_the_new_pin() {
    for (why, said) in [
        (PinChange::Expired, "sa-pin-expired"),
        (PinChange::SetByAdministrator, "sa-pin-must-change"),
    ] {
        let mut s = Sim::at_pin_prompt("alice");
        s.keys("135790#");
        assert_eq!(
            s.send(Input::Pin(PinCheck::MustChange(why))),
            [play(&[said, "sa-new-pin"])]
        );
        // No way round it: a menu key is not a PIN, and the question comes again.
        assert_eq!(s.keys("1"), []);
        s.now += Duration::from_secs(5);
        assert_eq!(s.send(Input::Tick), [Command::SetPin(Pin("1".into()))]);
        assert_eq!(s.send(Input::PinSet(false)), [pin_rules_then_new_pin()]);
        assert_eq!(s.keys("*"), [play(&["sa-invalid", "sa-new-pin"])]);
        // The third failure ends the call before any menu.
        s.keys("975318#");
        assert_eq!(s.send(Input::PinSet(false)), [play(&["vm-goodbye"])]);
        // A new PIN accepted: the counts and the main menu.
        let mut s = Sim::at_pin_prompt("alice");
        s.keys("135790#");
        s.send(Input::Pin(PinCheck::MustChange(why)));
        assert_eq!(s.keys("975318#"), [Command::SetPin(Pin("975318".into()))]);
        assert_eq!(
            s.send(Input::PinSet(true)),
            [play(&["sa-pin-changed"]), Command::LoadCounts]
        );
    }
}

/// Listening to one message, with a plan directory of two Smiths and Jane Smyth.
fn listening_with_directory() -> Sim {
    let mut s = Sim::new(Some("alice"));
    let listings = vec![
        directory::Listing::new("asmith", "Alice Smith", "asmith"),
        directory::Listing::new("bsmith", "Bob Smith", "bsmith"),
        directory::Listing::new("jsmyth", "Jane Smyth", "jsmyth"),
    ];
    let settings = DirectorySettings {
        primary: crate::dialplan::NameOrder::LastFirst,
        secondary: None,
        input_failures: 3,
        digit_timeout: Duration::from_secs(5),
    };
    s.flow = Subscriber::new(SubscriberLimits::default(), Some("alice".into()))
        .with_directory(listings, settings);
    s.send(Input::Answered);
    s.send(Input::Session(true));
    s.keys("135790#");
    s.send(Input::Pin(PinCheck::Ok));
    s.send(Input::Counts { new: 1, saved: 0 });
    s.keys("1");
    s.send(Input::Messages(vec![msg("a")]));
    s.hear_to_menu();
    s
}

fn directory_prompt(name: &str) -> Say {
    Say::Directory(vec![directory::Say::Prompt(name.into())])
}

#[test]
fn forward_to_a_user_found_by_name() {
    let mut s = listening_with_directory();
    // Asked for the extension, told star finds by name.
    assert_eq!(
        s.keys("6"),
        [play(&["sa-forward-extension", "sa-forward-by-name"])]
    );
    assert_eq!(
        s.keys("*"),
        [Command::Play(vec![directory_prompt("dir-spell-last")])]
    );
    // S-M-I: the two Smiths; 2 is Bob.
    let out = s.keys("764#");
    assert_eq!(
        out,
        [Command::FindRecordedNames(vec![
            "asmith".into(),
            "bsmith".into()
        ])]
    );
    let out = s.send(Input::RecordedNames(vec![true, false]));
    let Command::Play(list) = &out[0] else {
        panic!("{out:?}")
    };
    let Say::Directory(said) = &list[0] else {
        panic!("{list:?}")
    };
    assert!(said.contains(&directory::Say::RecordedName("asmith".into())));
    assert!(said.contains(&directory::Say::Prompt("letter-b".into())));
    assert_eq!(
        s.keys("2"),
        [Command::Play(vec![
            Say::Prompt("sa-forward-comment"),
            Say::Beep
        ])]
    );
    // `#` over the record prompt: forwarded without a comment.
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::StopPlayback,
            Command::Forward {
                index: 0,
                to: "bsmith".into(),
                comment: false
            }
        ]
    );
}

#[test]
fn star_in_the_directory_asks_for_the_extension_again_and_a_hang_up_ends_the_call() {
    let mut s = listening_with_directory();
    s.keys("6");
    s.keys("*");
    assert_eq!(
        s.keys("*"),
        [play(&["sa-forward-extension", "sa-forward-by-name"])]
    );
    // The extension still works.
    assert_eq!(s.keys("1002#"), [Command::LookupRecipient("1002".into())]);

    let mut s = listening_with_directory();
    s.keys("6");
    s.keys("*");
    s.keys("76");
    assert_eq!(s.send(Input::CallerHungUp), []);
    assert!(s.flow.is_done());
}

#[test]
fn without_names_in_the_plan_star_is_a_wrong_key_for_the_recipient() {
    let mut s = Sim::listening(vec![msg("a")]);
    s.hear_to_menu();
    s.keys("6");
    assert_eq!(s.keys("*"), [play(&["sa-invalid", "sa-forward-extension"])]);
}
