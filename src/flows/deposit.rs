//! The voice-mail deposit call flow as a sans-IO state machine.
//!
//! greeting → beep → record → store → farewell → hang up. The flow never touches audio, disk or
//! the network: it takes [`Input`]s with the time they happened and pushes [`Command`]s for the
//! call shell to execute (play a prompt, start/stop the recorder, store, hang up). Only the
//! recording step reacts to `#`. During the greeting, as in Exchange UM and every voice-mail
//! system: `#` skips to the tone, `*` signs in to this mailbox (subscriber access, PIN asked),
//! `0` transfers to the plan's operator (back to the tone if that fails), `9` finds someone
//! else by name (the [`Directory`] sub-flow, when the plan lists names): the caller is
//! transferred to the user chosen, and leaves that user a message if the transfer fails; `*`
//! with nothing spelled comes back to the greeting.
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{Marks, MessageKind};
use crate::flows::directory::{self, Directory, DirectorySettings, Listing};

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
    /// The caller found someone else by name in the greeting (`9`): transferred to them,
    /// or handed to their mailbox. No message here.
    Redirected,
    /// The caller is a fax machine (CNG heard): sent to the fax server, or hung up on with a
    /// missed-call notice.
    Fax,
}

/// Something that happened on the call.
#[derive(Debug, Clone, PartialEq)]
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
    /// Answer to [`Command::FindRecordedNames`], in its order.
    RecordedNames(Vec<bool>),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Play(Prompt),
    /// Say what the directory says (prompts and recorded names).
    Say(Vec<directory::Say>),
    /// Which of these mailboxes (by `Id`) have a recorded name? Answer with
    /// [`Input::RecordedNames`].
    FindRecordedNames(Vec<String>),
    /// Transfer the caller to the user of mailbox `mailbox` (an `Id` of the plan), found by
    /// name; `Transferred` or `TransferFailed` follows.
    TransferToUser {
        mailbox: String,
    },
    /// The caller leaves a message for mailbox `mailbox` instead (its transfer failed);
    /// this deposit is over without one.
    DepositFor {
        mailbox: String,
    },
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

impl From<directory::Asked> for Command {
    fn from(asked: directory::Asked) -> Self {
        match asked {
            directory::Asked::Play(say) => Command::Say(say),
            directory::Asked::StopPlayback => Command::StopPlayback,
            directory::Asked::FindRecordedNames(ids) => Command::FindRecordedNames(ids),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ringing,
    Greeting,
    /// The caller pressed `0`: waiting to hear whether the operator took the call.
    Transferring,
    /// Dial by name: the directory has the call (`Deposit::directory`).
    Directory,
    /// The user found by name is being transferred to (`Deposit::chosen`).
    TransferringToUser,
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
    /// Dial by name from the greeting: the plan's users and how to search them (`None`: the
    /// plan lists no names, `9` means nothing).
    directory_source: Option<(Arc<[Listing]>, DirectorySettings)>,
    /// The search in progress (in `State::Directory`).
    directory: Option<Directory>,
    /// The mailbox found by name, while its user is being transferred to.
    chosen: Option<String>,
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
            directory_source: None,
            directory: None,
            chosen: None,
        }
    }

    /// The plan's directory (call before `Answered`): `9` in the greeting finds someone by
    /// name. Without listings the key means nothing.
    pub fn set_directory(
        &mut self,
        listings: impl Into<Arc<[Listing]>>,
        settings: DirectorySettings,
    ) {
        let listings = listings.into();
        if !listings.is_empty() {
            self.directory_source = Some((listings, settings));
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
            State::Directory => self.directory.as_ref().and_then(Directory::poll_timeout),
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
        if self.state == State::Directory && !hung_up && !call_over {
            let forwarded = match input {
                Input::PlaybackDone => directory::Input::PlaybackDone,
                Input::Dtmf(c) => directory::Input::Dtmf(c),
                Input::Tick => directory::Input::Tick,
                Input::RecordedNames(r) => directory::Input::RecordedNames(r),
                _ => return,
            };
            self.directory_step(now, forwarded, out);
            return;
        }
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
                State::Greeting
                | State::Transferring
                | State::FaxTransferring
                | State::Directory
                | State::TransferringToUser
                | State::Beep,
                Input::Tick,
            ) if call_over => {
                self.directory = None;
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
                | State::Directory
                | State::TransferringToUser
                | State::Beep,
                Input::CallerHungUp,
            ) => {
                self.directory = None;
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
            (State::Greeting, Input::Dtmf('9')) if self.directory_source.is_some() => {
                out.push(Command::StopPlayback);
                if let Some((listings, settings)) = &self.directory_source {
                    self.directory = Some(Directory::new(listings.clone(), *settings));
                }
                self.state = State::Directory;
                self.directory_step(now, directory::Input::Start, out);
                return;
            }
            (State::TransferringToUser, Input::Transferred) => {
                self.end_reason = Some(EndReason::Redirected);
                State::Done
            }
            // The user found could not be reached: the caller leaves them a message.
            (State::TransferringToUser, Input::TransferFailed) => {
                out.push(Command::StopPlayback);
                self.end_reason = Some(EndReason::Redirected);
                if let Some(mailbox) = self.chosen.take() {
                    out.push(Command::DepositFor { mailbox });
                }
                State::Done
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

    /// Feeds the directory; acts on what it found once it is done.
    fn directory_step(&mut self, now: Instant, input: directory::Input, out: &mut Vec<Command>) {
        let Some(d) = self.directory.as_mut() else {
            return;
        };
        if let Some(outcome) = d.step(now, input, out) {
            self.directory = None;
            self.state = self.found(outcome, out);
        }
    }

    /// What the directory found: the user to transfer to, back to the greeting, or (too
    /// many failures) goodbye with a missed-call notice for this mailbox.
    fn found(&mut self, outcome: directory::Outcome, out: &mut Vec<Command>) -> State {
        match outcome {
            directory::Outcome::Chosen { mailbox, name } => {
                let mut say = vec![directory::Say::Prompt("dir-transferring-to".into())];
                say.extend(name);
                out.push(Command::Say(say));
                out.push(Command::TransferToUser {
                    mailbox: mailbox.clone(),
                });
                self.chosen = Some(mailbox);
                State::TransferringToUser
            }
            directory::Outcome::Cancelled => {
                out.push(Command::Play(Prompt::Greeting));
                State::Greeting
            }
            directory::Outcome::TooManyFailures => {
                self.kind = Some(MessageKind::MissedCall);
                out.push(Command::Store(MessageKind::MissedCall));
                State::Storing { farewell: true }
            }
        }
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
mod tests;
