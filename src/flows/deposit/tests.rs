use super::*;

struct Sim {
    flow: Deposit,
    now: Instant,
    recorded: u64,
    out: Vec<Command>,
}

impl Sim {
    fn new() -> Self {
        Self {
            flow: Deposit::new(DepositLimits::default()),
            now: Instant::now(),
            recorded: 0,
            out: Vec::new(),
        }
    }
    fn send(&mut self, input: Input) -> Vec<Command> {
        self.out.clear();
        self.flow.handle(self.now, input, &mut self.out);
        std::mem::take(&mut self.out)
    }
    /// Feeds `ms` of audio frames, then returns every command emitted.
    fn audio(&mut self, ms: u64, silent: bool) -> Vec<Command> {
        let mut all = Vec::new();
        for _ in 0..ms / 20 {
            if !self.flow.is_recording() {
                break;
            }
            self.now += Duration::from_millis(20);
            self.recorded += 160;
            all.extend(self.send(Input::Audio {
                silent,
                recorded: self.recorded,
            }));
        }
        all
    }
    /// The store answers `ok`: the caller hears `prompt`, then the gateway hangs up.
    fn farewell(&mut self, ok: bool, prompt: Prompt) {
        assert_eq!(self.send(Input::Stored { ok }), [Command::Play(prompt)]);
        assert_eq!(self.send(Input::PlaybackDone), [Command::HangUp]);
    }
    fn enter_recording(&mut self) {
        assert_eq!(
            self.send(Input::Answered),
            [Command::Play(Prompt::Greeting)]
        );
        assert_eq!(
            self.send(Input::PlaybackDone),
            [Command::Play(Prompt::Beep)]
        );
        assert_eq!(self.send(Input::PlaybackDone), [Command::StartRecording]);
        assert!(self.flow.is_recording());
    }
}

/// Records 3 s and presses `#`: the options.
fn enter_review(s: &mut Sim) {
    s.enter_recording();
    assert!(s.audio(3000, false).is_empty());
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::StopRecording { keep_samples: None },
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    assert!(!s.flow.is_recording());
    assert!(s.send(Input::PlaybackDone).is_empty());
}

#[test]
fn pound_offers_the_options_and_pound_again_sends() {
    let mut s = Sim::new();
    enter_review(&mut s);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::Store(MessageKind::VoiceMail)]
    );
    s.farewell(true, Prompt::Saved);
    assert!(s.flow.is_done());
    assert_eq!(s.flow.end_reason(), Some(EndReason::Pound));
    assert_eq!(s.flow.marks(), Marks::default());
}

#[test]
fn listen_plays_the_recording_then_the_options_again() {
    let mut s = Sim::new();
    enter_review(&mut s);
    assert_eq!(s.send(Input::Dtmf('1')), [Command::Play(Prompt::Recording)]);
    assert_eq!(
        s.flow.poll_timeout(),
        Some(s.now + DepositLimits::default().max_call - Duration::from_secs(3)),
        "no key time-out while the recording plays"
    );
    assert_eq!(
        s.send(Input::PlaybackDone),
        [Command::Play(Prompt::ReviewOptions)]
    );
    s.send(Input::PlaybackDone);
    // A key during the playback cuts it short.
    s.send(Input::Dtmf('1'));
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::VoiceMail)
        ]
    );
}

#[test]
fn urgent_and_private_toggle_and_reach_the_message() {
    let mut s = Sim::new();
    enter_review(&mut s);
    assert_eq!(
        s.send(Input::Dtmf('3')),
        [
            Command::Play(Prompt::Urgent(true)),
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    assert_eq!(
        s.send(Input::Dtmf('3')),
        [
            Command::StopPlayback,
            Command::Play(Prompt::Urgent(false)),
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    s.send(Input::Dtmf('3'));
    assert_eq!(
        s.send(Input::Dtmf('4')),
        [
            Command::StopPlayback,
            Command::Play(Prompt::Private(true)),
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.flow.marks(),
        Marks {
            urgent: true,
            private: true
        }
    );
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::Store(MessageKind::VoiceMail)]
    );
    assert!(s.flow.marks().urgent);
}

#[test]
fn rerecord_discards_beeps_and_records_again() {
    let mut s = Sim::new();
    enter_review(&mut s);
    s.send(Input::Dtmf('3'));
    assert_eq!(
        s.send(Input::Dtmf('2')),
        [
            Command::StopPlayback,
            Command::Rerecord,
            Command::Play(Prompt::Beep)
        ]
    );
    assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
    assert!(s.flow.is_recording());
    s.recorded = 0;
    assert!(s.audio(2000, false).is_empty());
    // The second take ends in the options too; the mark is kept.
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::StopRecording { keep_samples: None },
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    assert!(s.flow.marks().urgent);
    // Hanging up in the second take keeps it as a voice mail, no farewell.
    let mut s = Sim::new();
    enter_review(&mut s);
    s.send(Input::Dtmf('2'));
    s.send(Input::PlaybackDone);
    s.recorded = 0;
    s.audio(2000, false);
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::StopRecording { keep_samples: None },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
}

#[test]
fn hangup_during_a_rerecord_before_the_tone_is_a_missed_call_never_an_empty_message() {
    let mut s = Sim::new();
    enter_review(&mut s);
    s.send(Input::Dtmf('2'));
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::MissedCall)
        ]
    );
    // A take too short to keep, likewise.
    let mut s = Sim::new();
    enter_review(&mut s);
    s.send(Input::Dtmf('2'));
    s.send(Input::PlaybackDone);
    s.recorded = 0;
    s.audio(400, false);
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::DiscardRecording,
            Command::Store(MessageKind::MissedCall)
        ]
    );
}

#[test]
fn hangup_in_the_options_sends_the_message_as_it_stands() {
    // While the options are said, while waiting, while listening.
    for setup in ["saying", "waiting", "listening"] {
        let mut s = Sim::new();
        s.enter_recording();
        s.audio(3000, false);
        s.send(Input::Dtmf('#'));
        s.send(Input::Dtmf('4'));
        match setup {
            "saying" => {}
            "waiting" => {
                s.send(Input::PlaybackDone);
            }
            _ => {
                s.send(Input::Dtmf('1'));
            }
        }
        let out = s.send(Input::CallerHungUp);
        assert_eq!(
            out,
            [
                Command::StopPlayback,
                Command::Store(MessageKind::VoiceMail)
            ],
            "{setup}"
        );
        assert!(s.flow.marks().private);
        assert!(s.send(Input::Stored { ok: true }).is_empty(), "no farewell");
        assert!(s.flow.is_done());
    }
}

#[test]
fn time_outs_and_wrong_keys_in_the_options_send_after_input_failures() {
    let mut s = Sim::new();
    enter_review(&mut s);
    let limits = DepositLimits::default();
    assert_eq!(s.flow.poll_timeout(), Some(s.now + limits.digit_timeout));
    // Not yet.
    s.now += limits.digit_timeout - Duration::from_millis(20);
    assert!(s.send(Input::Tick).is_empty());
    s.now += Duration::from_millis(20);
    assert_eq!(
        s.send(Input::Tick),
        [
            Command::Play(Prompt::Invalid),
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    s.send(Input::PlaybackDone);
    // A wrong key counts too.
    assert_eq!(
        s.send(Input::Dtmf('9')),
        [
            Command::Play(Prompt::Invalid),
            Command::Play(Prompt::ReviewOptions)
        ]
    );
    s.send(Input::PlaybackDone);
    s.now += limits.digit_timeout;
    // The third failure: sent, with the farewell.
    assert_eq!(
        s.send(Input::Tick),
        [Command::Store(MessageKind::VoiceMail)]
    );
    s.farewell(true, Prompt::Saved);
}

#[test]
fn max_call_duration_in_the_options_sends() {
    let mut s = Sim::new();
    s.flow = Deposit::new(DepositLimits {
        max_call: Duration::from_secs(10),
        ..DepositLimits::default()
    });
    s.enter_recording();
    s.audio(3000, false);
    s.send(Input::Dtmf('#'));
    s.send(Input::Dtmf('1'));
    s.now += Duration::from_secs(8);
    assert_eq!(
        s.send(Input::Tick),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::VoiceMail)
        ]
    );
}

#[test]
fn pound_on_a_too_short_recording_is_a_missed_call_without_options() {
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(400, false);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::DiscardRecording,
            Command::Store(MessageKind::MissedCall)
        ]
    );
}

#[test]
fn without_review_pound_sends_at_once() {
    let mut s = Sim::new();
    s.flow = Deposit::new(DepositLimits {
        review: false,
        ..DepositLimits::default()
    });
    s.enter_recording();
    s.audio(3000, false);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [
            Command::StopRecording { keep_samples: None },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
    assert_eq!(
        s.send(Input::Stored { ok: true }),
        [Command::Play(Prompt::Saved)]
    );
}

#[test]
fn a_fax_tone_transfers_to_the_fax_server_without_a_message() {
    // In the greeting.
    let mut s = Sim::new();
    s.flow.set_fax_server();
    s.send(Input::Answered);
    assert_eq!(
        s.send(Input::FaxTone),
        [Command::StopPlayback, Command::TransferToFax]
    );
    assert!(s.send(Input::Dtmf('#')).is_empty(), "keys mean nothing now");
    assert!(s.send(Input::Transferred).is_empty());
    assert!(s.flow.is_done());
    assert_eq!(s.flow.end_reason(), Some(EndReason::Fax));
    assert_eq!(s.flow.kind(), None, "nothing stored");
    // In the recording: what was recorded is discarded.
    let mut s = Sim::new();
    s.flow.set_fax_server();
    s.enter_recording();
    s.audio(800, false);
    assert_eq!(
        s.send(Input::FaxTone),
        [
            Command::StopPlayback,
            Command::DiscardRecording,
            Command::TransferToFax
        ]
    );
    assert!(!s.flow.is_recording());
    // The fax server cannot be reached: a missed-call notice, then hang up.
    assert_eq!(
        s.send(Input::TransferFailed),
        [Command::Store(MessageKind::MissedCall)]
    );
    assert_eq!(s.send(Input::Stored { ok: true }), [Command::HangUp]);
    assert!(s.flow.is_done());
}

#[test]
fn a_fax_tone_without_a_fax_server_hangs_up_leaving_a_missed_call() {
    let mut s = Sim::new();
    s.send(Input::Answered);
    s.send(Input::PlaybackDone);
    assert_eq!(
        s.send(Input::FaxTone),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::MissedCall)
        ]
    );
    assert_eq!(s.send(Input::Stored { ok: true }), [Command::HangUp]);
    assert_eq!(s.flow.end_reason(), Some(EndReason::Fax));
    assert_eq!(s.flow.kind(), Some(MessageKind::MissedCall));
    // A fax that hangs up first is not hung up on again.
    let mut s = Sim::new();
    s.send(Input::Answered);
    s.send(Input::FaxTone);
    s.send(Input::CallerHungUp);
    assert!(s.send(Input::Stored { ok: true }).is_empty());
    // A tone after the recording stopped (in the options) changes nothing.
    let mut s = Sim::new();
    enter_review(&mut s);
    assert!(s.send(Input::FaxTone).is_empty());
}

#[test]
fn other_ends_of_the_recording_send_at_once() {
    // Idle time-out and maximum length are tested below; neither offers options.
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(2000, false);
    let out = s.audio(6000, true);
    assert!(matches!(
        out[..],
        [Command::StopRecording { .. }, Command::Store(_)]
    ));
}

#[test]
fn star_in_the_greeting_signs_in_without_a_message() {
    let mut s = Sim::new();
    s.send(Input::Answered);
    assert_eq!(
        s.send(Input::Dtmf('*')),
        [Command::StopPlayback, Command::SignIn]
    );
    assert!(s.flow.is_done());
    assert_eq!(s.flow.end_reason(), Some(EndReason::SignIn));
    assert_eq!(s.flow.kind(), None, "nothing stored");
}

#[test]
fn zero_in_the_greeting_reaches_the_operator_or_falls_back_to_the_tone() {
    // Without an operator, 0 is just a key.
    let mut s = Sim::new();
    s.send(Input::Answered);
    assert!(s.send(Input::Dtmf('0')).is_empty());
    // With one: the transfer, then its outcome.
    for (outcome, done) in [(Input::Transferred, true), (Input::TransferFailed, false)] {
        let mut s = Sim::new();
        s.flow.set_operator();
        s.send(Input::Answered);
        assert_eq!(
            s.send(Input::Dtmf('0')),
            [Command::StopPlayback, Command::TransferToOperator]
        );
        // Keys mean nothing while the transfer is in progress.
        assert!(s.send(Input::Dtmf('#')).is_empty());
        let out = s.send(outcome);
        assert_eq!(s.flow.is_done(), done);
        if done {
            assert!(out.is_empty());
            assert_eq!(s.flow.end_reason(), Some(EndReason::Transferred));
        } else {
            assert_eq!(out, [Command::Play(Prompt::Beep)]);
            assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
        }
    }
    // Hanging up while being transferred leaves a missed call.
    let mut s = Sim::new();
    s.flow.set_operator();
    s.send(Input::Answered);
    s.send(Input::Dtmf('0'));
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::MissedCall)
        ]
    );
}

#[test]
fn other_digits_do_not_end_recording() {
    let mut s = Sim::new();
    s.enter_recording();
    assert!(s.send(Input::Dtmf('5')).is_empty());
    assert!(s.flow.is_recording());
}

#[test]
fn hangup_mid_recording_keeps_message_without_farewell() {
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(2000, false);
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::StopRecording { keep_samples: None },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
    assert!(s.send(Input::Stored { ok: true }).is_empty());
    assert!(s.flow.is_done());
}

#[test]
fn idle_timeout_trims_trailing_silence() {
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(2000, false);
    let cmds = s.audio(6000, true);
    assert_eq!(
        cmds,
        [
            Command::StopRecording {
                keep_samples: Some(16000 + TRIM_TAIL)
            },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
    assert_eq!(s.flow.end_reason(), Some(EndReason::IdleTimeout));
    // Exactly at 5 s of silence.
    assert_eq!(s.recorded, 16000 + 5 * 8000);
}

#[test]
fn idle_timeout_without_any_rtp_fires_on_tick() {
    let mut s = Sim::new();
    s.enter_recording();
    assert_eq!(s.flow.poll_timeout(), Some(s.now + Duration::from_secs(5)));
    s.now += Duration::from_secs(5);
    assert_eq!(
        s.send(Input::Tick),
        [
            Command::DiscardRecording,
            Command::Store(MessageKind::MissedCall)
        ]
    );
    assert_eq!(
        s.send(Input::Stored { ok: true }),
        [Command::Play(Prompt::Goodbye)]
    );
}

#[test]
fn max_length_stops_recording() {
    let mut s = Sim::new();
    s.flow = Deposit::new(DepositLimits {
        max_recording: Duration::from_secs(3),
        ..DepositLimits::default()
    });
    s.enter_recording();
    let cmds = s.audio(4000, false);
    assert_eq!(
        cmds,
        [
            Command::StopRecording { keep_samples: None },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
    assert_eq!(s.recorded, 3 * 8000);
    assert_eq!(s.flow.end_reason(), Some(EndReason::MaxLength));
}

#[test]
fn too_short_becomes_missed_call() {
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(600, false);
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::DiscardRecording,
            Command::Store(MessageKind::MissedCall)
        ]
    );
}

#[test]
fn hangup_during_greeting_is_missed_call() {
    let mut s = Sim::new();
    s.send(Input::Answered);
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::MissedCall)
        ]
    );
}

#[test]
fn store_failure_tells_the_caller() {
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(2000, false);
    s.send(Input::Dtmf('#'));
    s.send(Input::Dtmf('#'));
    assert_eq!(
        s.send(Input::Stored { ok: false }),
        [Command::Play(Prompt::NotSaved)]
    );
}

#[test]
fn recording_failure_keeps_what_was_written_and_tells_the_caller() {
    let mut s = Sim::new();
    s.enter_recording();
    s.audio(2000, false);
    assert_eq!(
        s.send(Input::RecordFailed),
        [
            Command::StopRecording { keep_samples: None },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
    assert_eq!(s.flow.end_reason(), Some(EndReason::StorageError));
    s.farewell(true, Prompt::NotSaved);
}

#[test]
fn max_call_duration_ends_the_call() {
    let mut s = Sim::new();
    s.flow = Deposit::new(DepositLimits {
        max_call: Duration::from_secs(10),
        ..DepositLimits::default()
    });
    s.enter_recording();
    s.audio(3000, false);
    assert_eq!(s.flow.poll_timeout(), Some(s.now + Duration::from_secs(5)));
    // Still talking at the call limit (idle never fires): stopped and kept.
    let mut cmds = Vec::new();
    for _ in 0..10 {
        cmds = s.audio(1000, false);
        if !cmds.is_empty() {
            break;
        }
    }
    assert!(
        cmds.is_empty(),
        "audio inputs do not end the call by themselves"
    );
    assert_eq!(
        s.send(Input::Tick),
        [
            Command::StopRecording { keep_samples: None },
            Command::Store(MessageKind::VoiceMail)
        ]
    );
}

#[test]
fn pound_skips_greeting() {
    let mut s = Sim::new();
    s.send(Input::Answered);
    assert_eq!(
        s.send(Input::Dtmf('#')),
        [Command::StopPlayback, Command::Play(Prompt::Beep)]
    );
}

#[test]
fn full_mailbox_says_so_records_nothing_and_notes_a_missed_call() {
    let mut s = Sim::new();
    s.flow.set_mailbox_full();
    assert_eq!(
        s.send(Input::Answered),
        [
            Command::Play(Prompt::MailboxFull),
            Command::Store(MessageKind::MissedCall)
        ]
    );
    assert!(!s.flow.is_recording());
    assert!(s.send(Input::Dtmf('#')).is_empty(), "no way to record");
    assert!(
        s.send(Input::PlaybackDone).is_empty(),
        "waits for the store"
    );
    s.farewell(true, Prompt::Goodbye);
    assert!(s.flow.is_done());
    assert_eq!(s.flow.kind(), Some(MessageKind::MissedCall));
    assert_eq!(s.flow.end_reason(), Some(EndReason::MailboxFull));
}

fn settings() -> DirectorySettings {
    DirectorySettings {
        primary: crate::dialplan::NameOrder::LastFirst,
        secondary: None,
        input_failures: 3,
        digit_timeout: Duration::from_secs(5),
    }
}

/// A deposit whose plan lists three users: two Smiths and Jane Smyth.
fn with_directory() -> Sim {
    let mut s = Sim::new();
    let listings = vec![
        Listing::new("asmith", "Alice Smith", "asmith"),
        Listing::new("bsmith", "Bob Smith", "bsmith"),
        Listing::new("jsmyth", "Jane Smyth", "jsmyth"),
    ];
    s.flow.set_directory(listings, settings());
    s.send(Input::Answered);
    s
}

fn says(out: &[Command]) -> Vec<directory::Say> {
    out.iter()
        .filter_map(|c| match c {
            Command::Say(say) => Some(say.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn nine_in_the_greeting_finds_someone_by_name_and_transfers_to_them() {
    let mut s = with_directory();
    let out = s.send(Input::Dtmf('9'));
    assert_eq!(out[0], Command::StopPlayback);
    assert_eq!(
        says(&out),
        [directory::Say::Prompt("dir-spell-last".into())]
    );
    for key in "769#".chars() {
        s.send(Input::Dtmf(key));
    }
    // S-M-Y: only Jane Smyth; is her name recorded?
    assert_eq!(
        s.flow.poll_timeout(),
        s.flow.answered.map(|a| a + s.flow.limits.max_call),
        "no key deadline while the shell looks"
    );
    let out = s.send(Input::RecordedNames(vec![true]));
    assert_eq!(
        out,
        [
            Command::Say(vec![
                directory::Say::Prompt("dir-transferring-to".into()),
                directory::Say::RecordedName("jsmyth".into()),
            ]),
            Command::TransferToUser {
                mailbox: "jsmyth".into()
            },
        ]
    );
    // Keys mean nothing while the transfer is in progress.
    assert!(s.send(Input::Dtmf('#')).is_empty());
    assert!(s.send(Input::Transferred).is_empty());
    assert!(s.flow.is_done());
    assert_eq!(s.flow.end_reason(), Some(EndReason::Redirected));
    assert_eq!(
        s.flow.kind(),
        None,
        "no message for the mailbox first called"
    );
}

#[test]
fn a_user_found_by_name_who_does_not_answer_is_left_a_message() {
    let mut s = with_directory();
    s.send(Input::Dtmf('9'));
    for key in "7648#".chars() {
        s.send(Input::Dtmf(key));
    }
    // Two Smiths: the list, then 2 picks Bob.
    let out = s.send(Input::RecordedNames(vec![false, false]));
    let list = says(&out);
    assert!(list.contains(&directory::Say::Prompt("letter-b".into())));
    s.send(Input::PlaybackDone);
    let out = s.send(Input::Dtmf('2'));
    assert_eq!(
        out.last(),
        Some(&Command::TransferToUser {
            mailbox: "bsmith".into()
        })
    );
    assert_eq!(
        s.send(Input::TransferFailed),
        [
            Command::StopPlayback,
            Command::DepositFor {
                mailbox: "bsmith".into()
            }
        ]
    );
    assert!(s.flow.is_done());
    assert_eq!(s.flow.end_reason(), Some(EndReason::Redirected));
}

#[test]
fn star_in_the_directory_returns_to_the_greeting_and_the_message_goes_on() {
    let mut s = with_directory();
    s.send(Input::Dtmf('9'));
    s.send(Input::PlaybackDone);
    assert_eq!(s.send(Input::Dtmf('*')), [Command::Play(Prompt::Greeting)]);
    assert_eq!(s.send(Input::PlaybackDone), [Command::Play(Prompt::Beep)]);
    assert_eq!(s.send(Input::PlaybackDone), [Command::StartRecording]);
}

#[test]
fn giving_up_in_the_directory_or_hanging_up_leaves_a_missed_call() {
    // Three spellings nobody has: goodbye, and the call is noted.
    let mut s = with_directory();
    s.send(Input::Dtmf('9'));
    let mut out = Vec::new();
    for _ in 0..3 {
        s.send(Input::Dtmf('2'));
        out = s.send(Input::Dtmf('#'));
    }
    assert_eq!(out, [Command::Store(MessageKind::MissedCall)]);
    s.farewell(true, Prompt::Goodbye);
    assert_eq!(s.flow.kind(), Some(MessageKind::MissedCall));

    let mut s = with_directory();
    s.send(Input::Dtmf('9'));
    assert_eq!(
        s.send(Input::CallerHungUp),
        [
            Command::StopPlayback,
            Command::Store(MessageKind::MissedCall)
        ]
    );
    // The call's time limit holds in the directory too.
    let mut s = with_directory();
    s.send(Input::Dtmf('9'));
    s.now += DepositLimits::default().max_call;
    let out = s.send(Input::Tick);
    assert_eq!(out.last(), Some(&Command::Store(MessageKind::MissedCall)));
}

#[test]
fn without_names_in_the_plan_nine_is_just_a_key() {
    let mut s = Sim::new();
    s.flow.set_directory(Vec::new(), settings());
    s.send(Input::Answered);
    assert!(s.send(Input::Dtmf('9')).is_empty());
    assert_eq!(s.send(Input::PlaybackDone), [Command::Play(Prompt::Beep)]);
}
