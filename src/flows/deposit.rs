//! The voice-mail deposit call flow as a sans-IO state machine.
//!
//! greeting → beep → record → store → farewell → hang up. The flow never touches audio, disk or
//! the network: it takes [`Input`]s with the time they happened and pushes [`Command`]s for the
//! call shell to execute (play a prompt, start/stop the recorder, store, hang up). Only the
//! recording step reacts to `#`. During the greeting, as in Exchange UM and every voice-mail
//! system: `#` skips to the tone, `*` signs in to this mailbox (subscriber access, PIN asked),
//! `0` transfers to the plan's operator (back to the tone if that fails).
//!
//! `#` during the recording opens the caller's options before the message is sent (Exchange's
//! "press the pound key for more options", Asterisk's `review`): 1 listen, 2 re-record, 3 mark
//! urgent, 4 mark private, `#` send. Nothing is lost there: a hang-up, the call's time limit
//! or InputFailuresBeforeDisconnect wrong keys and time-outs send the message as it stands.
//! A recording ended any other way (hang-up, silence, maximum length) is sent at once.
//!
//! A fax's calling tone (CNG) heard in the greeting or the recording (the shell listens for it
//! in the plan's FaxDetectionWindow) transfers the call to the plan's fax server, or without
//! one hangs up leaving a missed-call notice: no screech is recorded.

use std::time::{Duration, Instant};

use crate::domain::{Marks, MessageKind};

/// Limits of one deposit, taken from the dial plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositLimits {
    /// Recording stops here (Exchange MaxRecordingDuration, default 20 min).
    pub max_recording: Duration,
    /// This long without speech ends the recording (RecordingIdleTimeout, default 5 s).
    pub idle_timeout: Duration,
    /// Shorter recordings become a missed-call notice (default 1 s).
    pub min_message: Duration,
    /// The whole call ends here, greeting included (MaxCallDuration, default 30 min).
    pub max_call: Duration,
    /// Wrong keys and time-outs in the caller's options before the message is sent anyway
    /// (InputFailuresBeforeDisconnect, default 3).
    pub input_failures: u32,
    /// How long the options wait for a key once said (5 s, as the other menus).
    pub digit_timeout: Duration,
    /// `#` offers the caller's options (CallerReviewEnabled); else it sends at once.
    pub review: bool,
}

impl Default for DepositLimits {
    fn default() -> Self {
        Self {
            max_recording: Duration::from_secs(20 * 60),
            idle_timeout: Duration::from_secs(5),
            min_message: Duration::from_secs(1),
            max_call: Duration::from_secs(30 * 60),
            input_failures: 3,
            digit_timeout: Duration::from_secs(5),
            review: true,
        }
    }
}

/// Prompts the flow asks for; the shell maps them to audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The mailbox's own greeting, or the default one built from shipped prompts.
    Greeting,
    Beep,
    /// "Your message has been saved. Goodbye."
    Saved,
    /// "Sorry, your message could not be saved. Goodbye."
    NotSaved,
    /// "Goodbye."
    Goodbye,
    /// "Sorry, the mailbox ... is full and cannot take a message. Please try again later."
    MailboxFull,
    /// The caller's options after `#`: "To listen to your message, press 1. ..."
    ReviewOptions,
    /// The caller's own recording, played back from the spool.
    Recording,
    /// "Marked urgent." / "Urgent removed."
    Urgent(bool),
    /// "Marked private." / "Private removed."
    Private(bool),
    /// "Sorry, that is not a valid choice."
    Invalid,
}

/// Why the recording ended (logged, and kept in the message metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Pound,
    CallerHungUp,
    IdleTimeout,
    MaxLength,
    /// The recording could not be written (disk full, I/O error).
    StorageError,
    /// The mailbox is over its quota: nothing was recorded.
    MailboxFull,
    /// The caller pressed `*` in the greeting to sign in to the mailbox: no message.
    SignIn,
    /// The caller pressed `0` in the greeting and reached the operator: no message.
    Transferred,
    /// The caller is a fax machine (CNG heard): sent to the fax server, or hung up on with a
    /// missed-call notice.
    Fax,
}

/// Something that happened on the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// The call is up (ACK received).
    Answered,
    /// The prompt queue ran dry.
    PlaybackDone,
    Dtmf(char),
    /// One 20 ms frame was recorded; `silent` per the level detector; `recorded` is the total
    /// number of samples in the recording so far.
    Audio {
        silent: bool,
        recorded: u64,
    },
    /// Time passes (the shell calls this at least every 20 ms while recording).
    Tick,
    CallerHungUp,
    /// The recorder cannot write (disk full, I/O error).
    RecordFailed,
    /// The store finished with the message.
    Stored {
        ok: bool,
    },
    /// The transfer to the operator went through.
    Transferred,
    /// The transfer to the operator failed (refused, not answered).
    TransferFailed,
    /// The caller's audio carries a fax calling tone (CNG).
    FaxTone,
}

/// What the shell must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Play(Prompt),
    StopPlayback,
    StartRecording,
    /// Finish the recording file, keeping only the first `keep_samples` if set (trailing
    /// silence after an idle timeout is trimmed).
    StopRecording {
        keep_samples: Option<u64>,
    },
    /// Discard the recording (nothing worth keeping).
    DiscardRecording,
    /// Discard the stopped recording and make its file ready to record again (the caller
    /// chose to re-record); `StartRecording` follows after the beep.
    Rerecord,
    /// Deposit a message of this kind (with the recording for a voice mail).
    Store(MessageKind),
    /// The caller signs in to this mailbox (subscriber access); the deposit is over without a
    /// message.
    SignIn,
    /// Transfer the caller to the plan's operator; `Transferred` or `TransferFailed` follows.
    TransferToOperator,
    /// Transfer the (fax) caller to the plan's fax server; `Transferred` or `TransferFailed`
    /// follows.
    TransferToFax,
    HangUp,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ringing,
    Greeting,
    /// The caller pressed `0`: waiting to hear whether the operator took the call.
    Transferring,
    /// A fax: waiting to hear whether the fax server took the call.
    FaxTransferring,
    Beep,
    Recording(Recording),
    /// The caller's options after `#`: the recording is stopped and kept.
    Review(Review),
    Storing {
        farewell: bool,
    },
    Farewell,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Recording {
    started: Instant,
    last_voice: Instant,
    recorded: u64,
    /// Samples recorded up to the end of the last non-silent frame.
    voiced_until: u64,
}

/// Where the caller's options are.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Review {
    /// Wrong keys and time-outs so far.
    failures: u32,
    step: ReviewStep,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ReviewStep {
    /// The options (or a confirmation before them) are being said.
    Saying,
    /// The recording plays back; the options follow.
    Listening,
    /// The options were said at this instant; waiting for a key.
    Waiting(Instant),
}

/// The deposit flow. Feed it with [`Deposit::handle`]; read `out` after each call.
#[derive(Debug)]
pub struct Deposit {
    limits: DepositLimits,
    /// When the call was answered; MaxCallDuration counts from here.
    answered: Option<Instant>,
    state: State,
    end_reason: Option<EndReason>,
    kind: Option<MessageKind>,
    /// Over quota: answer with "mailbox full", record nothing.
    full: bool,
    /// The plan has an operator `0` can reach.
    operator: bool,
    /// What the caller marked the message as in the options.
    marks: Marks,
    /// The plan has a fax server a fax caller is transferred to.
    fax_server: bool,
    /// A fax caller is hung up on once its missed-call notice is stored.
    hang_up_after_store: bool,
}

/// Samples of trailing silence kept after the last speech when trimming (200 ms).
const TRIM_TAIL: u64 = 1600;

/// How far past the maximum length the wall clock may run when audio stops arriving.
const MAX_SLACK: Duration = Duration::from_secs(1);

impl Deposit {
    pub fn new(limits: DepositLimits) -> Self {
        Self {
            limits,
            answered: None,
            state: State::Ringing,
            end_reason: None,
            kind: None,
            full: false,
            operator: false,
            marks: Marks::default(),
            fax_server: false,
            hang_up_after_store: false,
        }
    }

    /// The plan has an operator (call before `Answered`): `0` in the greeting transfers there.
    pub fn set_operator(&mut self) {
        self.operator = true;
    }

    /// The plan has a fax server (call before `Answered`): a fax caller is transferred there.
    pub fn set_fax_server(&mut self) {
        self.fax_server = true;
    }

    /// The mailbox is over its quota (call before `Answered`): the caller hears "mailbox
    /// full" and goodbye, nothing is recorded, and a missed-call notice is stored.
    pub fn set_mailbox_full(&mut self) {
        self.full = true;
    }

    /// True once the flow has nothing more to do.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// True while audio should be recorded.
    pub fn is_recording(&self) -> bool {
        matches!(self.state, State::Recording(_))
    }

    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    /// The kind of message stored (or being stored).
    pub fn kind(&self) -> Option<MessageKind> {
        self.kind
    }

    /// What the caller marked the message as (urgent, private) in the options.
    pub fn marks(&self) -> Marks {
        self.marks
    }

    /// The next instant the flow needs a `Tick` (idle or maximum-length deadline).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let call_end = self.answered.map(|a| a + self.limits.max_call);
        let recording = match self.state {
            State::Recording(r) => Some(
                (r.last_voice + self.limits.idle_timeout)
                    .min(r.started + self.limits.max_recording + MAX_SLACK),
            ),
            State::Review(Review {
                step: ReviewStep::Waiting(since),
                ..
            }) => Some(since + self.limits.digit_timeout),
            _ => None,
        };
        match (call_end, recording) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        let hung_up = input == Input::CallerHungUp;
        let call_over = self
            .answered
            .is_some_and(|a| now >= a + self.limits.max_call);
        self.state = match (self.state, input) {
            (State::Done, _) => State::Done,
            (State::Ringing, Input::Answered) if self.full => {
                self.answered = Some(now);
                out.push(Command::Play(Prompt::MailboxFull));
                self.kind = Some(MessageKind::MissedCall);
                self.end_reason = Some(EndReason::MailboxFull);
                out.push(Command::Store(MessageKind::MissedCall));
                // The goodbye follows the prompt once the notice is stored.
                State::Storing { farewell: true }
            }
            (State::Ringing, Input::Answered) => {
                self.answered = Some(now);
                out.push(Command::Play(Prompt::Greeting));
                State::Greeting
            }
            // MaxCallDuration: a recording is kept as if the caller had pressed '#'.
            (State::Recording(r), Input::Tick) if call_over => {
                self.stop(r, EndReason::MaxLength, out)
            }
            // Out of time in the options: the message goes as it stands.
            (State::Review(_), Input::Tick) if call_over => {
                out.push(Command::StopPlayback);
                self.send(out, true)
            }
            (
                State::Greeting | State::Transferring | State::FaxTransferring | State::Beep,
                Input::Tick,
            ) if call_over => {
                out.push(Command::StopPlayback);
                self.kind = Some(MessageKind::MissedCall);
                self.end_reason = Some(EndReason::MaxLength);
                out.push(Command::Store(MessageKind::MissedCall));
                State::Storing { farewell: true }
            }
            (
                State::Ringing
                | State::Greeting
                | State::Transferring
                | State::FaxTransferring
                | State::Beep,
                Input::CallerHungUp,
            ) => {
                // Hung up before the tone: a missed call, never an empty voice mail.
                out.push(Command::StopPlayback);
                self.kind = Some(MessageKind::MissedCall);
                self.end_reason = Some(EndReason::CallerHungUp);
                out.push(Command::Store(MessageKind::MissedCall));
                State::Storing { farewell: false }
            }
            (State::Greeting | State::Beep | State::Recording(_), Input::FaxTone) => self.fax(out),
            (State::FaxTransferring, Input::Transferred) => State::Done,
            // The fax server could not be reached: hang up, noting the call.
            (State::FaxTransferring, Input::TransferFailed) => self.fax_missed(out),
            (State::Greeting, Input::Dtmf('#')) => {
                out.push(Command::StopPlayback);
                out.push(Command::Play(Prompt::Beep));
                State::Beep
            }
            (State::Greeting, Input::Dtmf('*')) => {
                out.push(Command::StopPlayback);
                out.push(Command::SignIn);
                self.end_reason = Some(EndReason::SignIn);
                State::Done
            }
            (State::Greeting, Input::Dtmf('0')) if self.operator => {
                out.push(Command::StopPlayback);
                out.push(Command::TransferToOperator);
                State::Transferring
            }
            (State::Transferring, Input::Transferred) => {
                self.end_reason = Some(EndReason::Transferred);
                State::Done
            }
            // The operator could not be reached: the caller leaves a message after all.
            (State::Transferring, Input::TransferFailed) => {
                out.push(Command::Play(Prompt::Beep));
                State::Beep
            }
            (State::Greeting, Input::PlaybackDone) => {
                out.push(Command::Play(Prompt::Beep));
                State::Beep
            }
            (State::Beep, Input::PlaybackDone) => {
                out.push(Command::StartRecording);
                State::Recording(Recording {
                    started: now,
                    last_voice: now,
                    recorded: 0,
                    voiced_until: 0,
                })
            }
            (State::Recording(mut r), input) => match input {
                Input::Audio { silent, recorded } => {
                    r.recorded = recorded;
                    if !silent {
                        r.last_voice = now;
                        r.voiced_until = recorded;
                    }
                    self.check_limits(now, r, out)
                }
                Input::Tick => self.check_limits(now, r, out),
                Input::Dtmf('#') => self.review(r, out),
                Input::RecordFailed => self.stop(r, EndReason::StorageError, out),
                Input::CallerHungUp => self.stop(r, EndReason::CallerHungUp, out),
                _ => State::Recording(r),
            },
            (State::Review(review), input) => self.handle_review(now, review, input, out),
            (State::Storing { farewell }, Input::Stored { ok }) => {
                if !farewell {
                    if self.hang_up_after_store {
                        out.push(Command::HangUp);
                    }
                    State::Done
                } else {
                    let storage_failed = self.end_reason == Some(EndReason::StorageError);
                    let prompt = match (ok && !storage_failed, self.kind) {
                        (false, _) => Prompt::NotSaved,
                        (true, Some(MessageKind::VoiceMail)) => Prompt::Saved,
                        (true, _) => Prompt::Goodbye,
                    };
                    out.push(Command::Play(prompt));
                    State::Farewell
                }
            }
            (State::Storing { .. }, Input::CallerHungUp) => {
                self.hang_up_after_store = false;
                State::Storing { farewell: false }
            }
            (State::Farewell, Input::PlaybackDone | Input::CallerHungUp) => {
                if !hung_up {
                    out.push(Command::HangUp);
                }
                State::Done
            }
            (state, _) => state,
        };
    }

    /// CNG heard: no recording; the fax server, else a missed-call notice and hang up.
    fn fax(&mut self, out: &mut Vec<Command>) -> State {
        out.push(Command::StopPlayback);
        if self.is_recording() {
            out.push(Command::DiscardRecording);
        }
        self.end_reason = Some(EndReason::Fax);
        if self.fax_server {
            out.push(Command::TransferToFax);
            State::FaxTransferring
        } else {
            self.fax_missed(out)
        }
    }

    /// A fax call that ends here: a missed-call notice, then hang up.
    fn fax_missed(&mut self, out: &mut Vec<Command>) -> State {
        self.kind = Some(MessageKind::MissedCall);
        self.hang_up_after_store = true;
        out.push(Command::Store(MessageKind::MissedCall));
        State::Storing { farewell: false }
    }

    /// `#` ended the recording: the caller's options, unless it is too short to be a message
    /// (then a missed call, as before).
    fn review(&mut self, r: Recording, out: &mut Vec<Command>) -> State {
        let min_samples = self.limits.min_message.as_millis() as u64 * 8;
        if !self.limits.review || r.recorded < min_samples {
            return self.stop(r, EndReason::Pound, out);
        }
        self.end_reason = Some(EndReason::Pound);
        out.push(Command::StopRecording { keep_samples: None });
        out.push(Command::Play(Prompt::ReviewOptions));
        State::Review(Review {
            failures: 0,
            step: ReviewStep::Saying,
        })
    }

    fn handle_review(
        &mut self,
        now: Instant,
        mut review: Review,
        input: Input,
        out: &mut Vec<Command>,
    ) -> State {
        match (review.step, input) {
            // Nothing is lost: a caller who hangs up in the options sends the message.
            (_, Input::CallerHungUp) => {
                out.push(Command::StopPlayback);
                self.send(out, false)
            }
            (ReviewStep::Listening, Input::PlaybackDone) => {
                out.push(Command::Play(Prompt::ReviewOptions));
                review.step = ReviewStep::Saying;
                State::Review(review)
            }
            (ReviewStep::Saying, Input::PlaybackDone) => {
                review.step = ReviewStep::Waiting(now);
                State::Review(review)
            }
            (ReviewStep::Waiting(since), Input::Tick)
                if now >= since + self.limits.digit_timeout =>
            {
                self.review_failure(review, out)
            }
            (step, Input::Dtmf(key)) => {
                // A key cuts short whatever is being said (barge-in).
                if !matches!(step, ReviewStep::Waiting(_)) {
                    out.push(Command::StopPlayback);
                }
                match key {
                    '1' => {
                        out.push(Command::Play(Prompt::Recording));
                        review.step = ReviewStep::Listening;
                        State::Review(review)
                    }
                    '2' => {
                        out.push(Command::Rerecord);
                        out.push(Command::Play(Prompt::Beep));
                        self.end_reason = None;
                        State::Beep
                    }
                    '3' => {
                        self.marks.urgent = !self.marks.urgent;
                        out.push(Command::Play(Prompt::Urgent(self.marks.urgent)));
                        out.push(Command::Play(Prompt::ReviewOptions));
                        review.step = ReviewStep::Saying;
                        State::Review(review)
                    }
                    '4' => {
                        self.marks.private = !self.marks.private;
                        out.push(Command::Play(Prompt::Private(self.marks.private)));
                        out.push(Command::Play(Prompt::ReviewOptions));
                        review.step = ReviewStep::Saying;
                        State::Review(review)
                    }
                    '#' => self.send(out, true),
                    _ => self.review_failure(review, out),
                }
            }
            (_, _) => State::Review(review),
        }
    }

    /// A wrong key or a time-out in the options: say them again, or after
    /// InputFailuresBeforeDisconnect send the message and say goodbye.
    fn review_failure(&mut self, mut review: Review, out: &mut Vec<Command>) -> State {
        review.failures += 1;
        if review.failures >= self.limits.input_failures {
            return self.send(out, true);
        }
        out.push(Command::Play(Prompt::Invalid));
        out.push(Command::Play(Prompt::ReviewOptions));
        review.step = ReviewStep::Saying;
        State::Review(review)
    }

    /// Sends the reviewed (stopped, kept) recording.
    fn send(&mut self, out: &mut Vec<Command>, farewell: bool) -> State {
        self.kind = Some(MessageKind::VoiceMail);
        out.push(Command::Store(MessageKind::VoiceMail));
        State::Storing { farewell }
    }

    fn check_limits(&mut self, now: Instant, r: Recording, out: &mut Vec<Command>) -> State {
        // The limit is on recorded audio; the wall clock (with slack for a late first packet)
        // only backs it up when media stalls.
        let max_samples = self.limits.max_recording.as_millis() as u64 * 8;
        if r.recorded >= max_samples || now >= r.started + self.limits.max_recording + MAX_SLACK {
            self.stop(r, EndReason::MaxLength, out)
        } else if now >= r.last_voice + self.limits.idle_timeout {
            self.stop(r, EndReason::IdleTimeout, out)
        } else {
            State::Recording(r)
        }
    }

    fn stop(&mut self, r: Recording, reason: EndReason, out: &mut Vec<Command>) -> State {
        self.end_reason = Some(reason);
        let max_samples = self.limits.max_recording.as_millis() as u64 * 8;
        let keep = match reason {
            EndReason::IdleTimeout => Some((r.voiced_until + TRIM_TAIL).min(r.recorded)),
            EndReason::MaxLength if r.recorded > max_samples => Some(max_samples),
            _ => None,
        };
        let kept = keep.unwrap_or(r.recorded);
        let min_samples = self.limits.min_message.as_millis() as u64 * 8;
        let kind = if kept >= min_samples {
            out.push(Command::StopRecording { keep_samples: keep });
            MessageKind::VoiceMail
        } else {
            out.push(Command::DiscardRecording);
            MessageKind::MissedCall
        };
        self.kind = Some(kind);
        out.push(Command::Store(kind));
        State::Storing {
            farewell: reason != EndReason::CallerHungUp,
        }
    }
}

#[cfg(test)]
mod tests {
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
}
