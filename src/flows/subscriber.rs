//! Subscriber access (Outlook Voice Access / VoiceMailMain) as a sans-IO state machine:
//! identify the user (caller ID, else the extension), check the PIN, then menus to listen to,
//! save, delete and call back messages, record the greeting, the away greeting and the name,
//! and change the PIN.
//!
//! Like the deposit flow it never touches the store, audio or the network: it asks the shell
//! through [`Command`]s (look up an extension, open a session on the mailbox, verify a PIN,
//! load messages, mark seen, delete, save the greeting, send MWI) and gets the answers back as
//! [`Input`]s. Digits typed while a
//! prompt plays stop it and count (barge-in), as callers expect.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use crate::domain::{GreetingKind, PinChange};
use crate::flows::directory::{self, Directory, DirectorySettings, Listing};
use compose::Compose;
use listening::{Mark, Part};

/// Limits from the dial plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberLimits {
    /// InputFailuresBeforeDisconnect (bad choices and time-outs; default 3).
    pub input_failures: u32,
    /// How long to wait for a key after a prompt ends.
    pub digit_timeout: Duration,
    /// Longest greeting (Exchange: 5 minutes).
    pub max_greeting: Duration,
    /// MinPINLength of the plan, said when a new PIN is refused.
    pub min_pin_length: u32,
}

impl Default for SubscriberLimits {
    fn default() -> Self {
        Self {
            input_failures: 3,
            digit_timeout: Duration::from_secs(5),
            max_greeting: Duration::from_secs(300),
            min_pin_length: 6,
        }
    }
}

/// A PIN on its way to the shell: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(pub String);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// One message as the menus need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    pub id: String,
    pub caller: Option<String>,
    pub received: SystemTime,
    pub duration: Duration,
}

/// Which messages to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    New,
    Saved,
}

/// Outcome of a PIN check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    Ok,
    /// The PIN is right, but the user must choose a new one before anything else.
    MustChange(PinChange),
    Wrong,
    /// Too many failures: the mailbox is locked (an administrator resets it).
    Locked,
}

/// What to say; the shell renders it from prompts (and `media::speech`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    Prompt(&'static str),
    /// "You have N new messages and M saved messages."
    Counts {
        new: u32,
        saved: u32,
    },
    /// The envelope of message `i` of the current list (caller, when, how long).
    Envelope(usize),
    /// The audio of message `index` of the current list, from `from` on (skip and resume).
    Audio {
        index: usize,
        from: Duration,
    },
    /// A number, spoken ("twelve").
    Number(u32),
    Beep,
    /// What the directory says (dial by name): its prompts and recorded names.
    Directory(Vec<directory::Say>),
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Answered,
    PlaybackDone,
    Dtmf(char),
    Tick,
    CallerHungUp,
    /// Answer to [`Command::LookupExtension`]: the mailbox id, if the extension is one.
    Extension(Option<String>),
    /// Answer to [`Command::OpenSession`]: false when the mailbox already has as many
    /// subscriber-access calls as it may.
    Session(bool),
    Pin(PinCheck),
    Counts {
        new: u32,
        saved: u32,
    },
    Messages(Vec<MessageRef>),
    /// Answer to [`Command::SetPin`]: false when the PIN policy refused it.
    PinSet(bool),
    /// A store operation (seen, delete, greeting) finished.
    StoreDone(bool),
    /// Answer to [`Command::LookupRecipient`] and [`Command::LookupSender`]: the mailbox id,
    /// if there is one.
    Recipient(Option<String>),
    /// The call-back transfer went through.
    Transferred,
    /// The call-back transfer failed (refused, not answered).
    TransferFailed,
    /// The call-back number is outside the plan and its dialing rules refuse it: it was not
    /// dialled.
    CallBackRefused,
    /// Answer to [`Command::FindRecordedNames`], in its order.
    RecordedNames(Vec<bool>),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Play(Vec<Say>),
    StopPlayback,
    LookupExtension(String),
    /// The caller named this mailbox (caller ID or extension): take one of its
    /// subscriber-access sessions, held until the call ends, before asking for the PIN.
    OpenSession {
        mailbox: String,
    },
    VerifyPin {
        mailbox: String,
        pin: Pin,
    },
    LoadCounts,
    LoadMessages(Folder),
    SetSeen {
        id: String,
        seen: bool,
    },
    /// Delete a message, pending until the call ends: it stops counting (MWI, lists) at once
    /// and can be restored with [`Command::Undelete`] until then.
    Delete {
        id: String,
    },
    /// Restore a message deleted during this call.
    Undelete {
        id: String,
    },
    /// The call is over: remove the messages still deleted for good.
    Purge {
        ids: Vec<String>,
    },
    /// Load these messages (the ones deleted during this call) as the list to listen to.
    LoadDeleted(Vec<String>),
    StartRecording,
    /// Stop and store the recording as the mailbox's recording of this kind.
    SaveGreeting(GreetingKind),
    /// Remove a recording (the away greeting: turn it off).
    DeleteGreeting(GreetingKind),
    /// The mailbox of the plan with this extension, to forward to.
    LookupRecipient(String),
    /// The mailbox of the plan this caller (a message's sender) is, to reply to.
    LookupSender(String),
    /// Forward message `index` of the current list to mailbox `to` as a new voice mail from
    /// the user; with `comment`, the recording (stopped now) goes first.
    Forward {
        index: usize,
        to: String,
        comment: bool,
    },
    /// Stop the recording and deposit it in mailbox `to` (the sender of the message being
    /// heard) as a voice mail from the user.
    Reply {
        to: String,
    },
    /// Transfer the user to the caller of the message being heard (REFER).
    CallBack {
        number: String,
    },
    /// Which of these mailboxes (by `Id`) have a recorded name? Answer with
    /// [`Input::RecordedNames`].
    FindRecordedNames(Vec<String>),
    SetPin(Pin),
    /// Counts changed: send the message-waiting NOTIFY now.
    UpdateMwi,
    HangUp,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Ringing,
    /// Collecting `#`-terminated digits for `purpose`.
    Entry {
        purpose: Entry,
        digits: String,
    },
    /// Waiting for the shell's answer to a command.
    Waiting,
    MainMenu,
    /// Message `index` of `list`: its envelope, audio or menu ([`Part`]).
    Listening {
        list: Vec<MessageRef>,
        index: usize,
        part: Part,
    },
    /// The record prompt and beep are playing.
    GreetingPrompt {
        kind: GreetingKind,
    },
    RecordingGreeting {
        started: Instant,
        kind: GreetingKind,
    },
    /// The record prompt (and beep) of a forward's comment or a reply plays.
    ComposePrompt {
        purpose: Compose,
        to: String,
    },
    /// Recording a forward's comment or a reply.
    ComposeRecording {
        purpose: Compose,
        to: String,
        started: Instant,
    },
    /// Dial by name for a forward's recipient: the directory has the call
    /// (`Subscriber::directory`).
    Directory,
    /// Calling back the sender of message `index`.
    CallingBack {
        list: Vec<MessageRef>,
        index: usize,
    },
    Goodbye,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Extension,
    Pin,
    NewPin,
    /// The extension of the mailbox to forward to.
    Recipient,
}

/// The message a forward or a reply is about, held to come back to its menu.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    list: Vec<MessageRef>,
    index: usize,
}

/// What a store operation in flight leads to.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    /// After save/delete/undelete/mark unread: say `said`, then the next message of `list`
    /// after `index`; `mark` is what the flow notes of the message once the store agreed.
    NextMessage {
        list: Vec<MessageRef>,
        index: usize,
        said: &'static str,
        mark: Mark,
    },
    Greeting(GreetingKind),
    AwayOff,
    /// A lookup for a forward or a reply is out.
    Recipient(Compose),
    /// A forward or a reply is being stored.
    Sent(Compose),
}

/// The subscriber-access flow. Feed it with [`Subscriber::handle`].
#[derive(Debug)]
pub struct Subscriber {
    limits: SubscriberLimits,
    state: State,
    mailbox: Option<String>,
    failures: u32,
    playing: bool,
    /// When the caller's time to answer runs out (set when a prompt ends).
    input_deadline: Option<Instant>,
    /// The question to repeat after a time-out or a wrong key.
    reprompt: Vec<Say>,
    pending: Option<Pending>,
    /// Messages deleted during this call, oldest deletion first: restorable until it ends,
    /// then purged.
    deleted: Vec<MessageRef>,
    /// The message a forward or a reply is about.
    held: Option<Held>,
    /// Dial by name for a forward's recipient: the plan's users and how to search them
    /// (`None`: the plan lists no names).
    directory_source: Option<(Arc<[Listing]>, DirectorySettings)>,
    /// The search in progress (in `State::Directory`).
    directory: Option<Directory>,
}

impl Subscriber {
    /// `mailbox`: the user found by caller ID, if any (then only the PIN is asked).
    pub fn new(limits: SubscriberLimits, mailbox: Option<String>) -> Self {
        Self {
            limits,
            state: State::Ringing,
            mailbox,
            failures: 0,
            playing: false,
            input_deadline: None,
            reprompt: Vec::new(),
            pending: None,
            deleted: Vec::new(),
            held: None,
            directory_source: None,
            directory: None,
        }
    }

    /// The plan's directory: a forward's recipient can be found by name (`*` when asked for
    /// the extension). Without listings only the extension is asked.
    pub fn with_directory(
        mut self,
        listings: impl Into<Arc<[Listing]>>,
        settings: DirectorySettings,
    ) -> Self {
        let listings = listings.into();
        if !listings.is_empty() {
            self.directory_source = Some((listings, settings));
        }
        self
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The mailbox once identified.
    pub fn mailbox(&self) -> Option<&str> {
        self.mailbox.as_deref()
    }

    pub fn is_recording(&self) -> bool {
        matches!(
            self.state,
            State::RecordingGreeting { .. } | State::ComposeRecording { .. }
        )
    }

    /// The next instant the flow needs a `Tick`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::RecordingGreeting { started, .. } | State::ComposeRecording { started, .. } => {
                Some(started + self.limits.max_greeting)
            }
            State::Directory => self.directory.as_ref().and_then(Directory::poll_timeout),
            _ => self.input_deadline,
        }
    }

    fn play(&mut self, say: Vec<Say>, out: &mut Vec<Command>) {
        self.playing = true;
        self.input_deadline = None;
        out.push(Command::Play(say));
    }

    /// Plays a question; it is repeated after a time-out or a wrong key.
    fn ask(&mut self, say: Vec<Say>, out: &mut Vec<Command>) {
        self.reprompt = say.clone();
        self.play(say, out);
    }

    fn ask_entry(&mut self, purpose: Entry, out: &mut Vec<Command>) {
        let prompt = match purpose {
            Entry::Extension => "sa-enter-extension",
            Entry::Pin => "sa-enter-pin",
            Entry::NewPin => "sa-new-pin",
            Entry::Recipient => "sa-forward-extension",
        };
        let mut say = vec![Say::Prompt(prompt)];
        if purpose == Entry::Recipient && self.directory_source.is_some() {
            say.push(Say::Prompt("sa-forward-by-name"));
        }
        self.ask(say, out);
        self.state = State::Entry {
            purpose,
            digits: String::new(),
        };
    }

    fn goodbye(&mut self, prompt: &'static str, out: &mut Vec<Command>) {
        self.state = State::Goodbye;
        self.play(vec![Say::Prompt(prompt)], out);
    }

    /// A wrong key or a time-out: say so and repeat the question, or give up after
    /// InputFailuresBeforeDisconnect of them.
    fn failure(&mut self, lead: &'static str, out: &mut Vec<Command>) {
        self.failure_saying(vec![Say::Prompt(lead)], out);
    }

    fn failure_saying(&mut self, lead: Vec<Say>, out: &mut Vec<Command>) {
        self.failures += 1;
        if self.failures >= self.limits.input_failures {
            self.goodbye("vm-goodbye", out);
            return;
        }
        let mut say = lead;
        say.extend(self.reprompt.clone());
        self.play(say, out);
    }

    fn submit(&mut self, purpose: Entry, digits: String, out: &mut Vec<Command>) {
        self.state = State::Waiting;
        match purpose {
            Entry::Extension => out.push(Command::LookupExtension(digits)),
            Entry::Pin => out.push(Command::VerifyPin {
                mailbox: self.mailbox.clone().unwrap_or_default(),
                pin: Pin(digits),
            }),
            Entry::NewPin => out.push(Command::SetPin(Pin(digits))),
            Entry::Recipient => self.recipient_entered(digits, out),
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        if self.state == State::Directory && input != Input::CallerHungUp {
            self.directory_input(now, input, out);
            return;
        }
        match &input {
            Input::CallerHungUp => {
                self.end(out);
                return;
            }
            Input::PlaybackDone => {
                self.playing = false;
                if let State::Listening { .. } = self.state {
                    self.message_part_done(now, out);
                    return;
                }
                match self.state {
                    State::Goodbye => {
                        self.end(out);
                        out.push(Command::HangUp);
                    }
                    State::GreetingPrompt { kind } => {
                        self.state = State::RecordingGreeting { started: now, kind };
                        out.push(Command::StartRecording);
                    }
                    State::ComposePrompt { .. } => {
                        if let State::ComposePrompt { purpose, to } =
                            std::mem::replace(&mut self.state, State::Waiting)
                        {
                            self.compose_record(now, purpose, to, out);
                        }
                    }
                    State::Entry { .. } | State::MainMenu => {
                        self.input_deadline = Some(now + self.limits.digit_timeout);
                    }
                    _ => {}
                }
                return;
            }
            Input::Tick => {
                self.tick(now, out);
                return;
            }
            Input::Dtmf(_) if self.playing && self.state != State::Goodbye => {
                // Barge-in: the key stops the prompt and counts.
                out.push(Command::StopPlayback);
                self.playing = false;
            }
            _ => {}
        }
        self.input_deadline = None;
        let state = std::mem::replace(&mut self.state, State::Waiting);
        match (state, input) {
            (State::Ringing, Input::Answered) => match self.mailbox.clone() {
                Some(mailbox) => out.push(Command::OpenSession { mailbox }),
                None => self.ask_entry(Entry::Extension, out),
            },
            (
                State::Entry {
                    purpose,
                    mut digits,
                },
                Input::Dtmf(c),
            ) => match c {
                '#' if !digits.is_empty() => self.submit(purpose, digits, out),
                '*' if purpose == Entry::Recipient
                    && digits.is_empty()
                    && self.directory_source.is_some() =>
                {
                    self.find_recipient(now, out)
                }
                '0'..='9' if digits.len() < 32 => {
                    digits.push(c);
                    self.state = State::Entry { purpose, digits };
                    // Inter-digit time-out: the entry is taken as complete when it runs out.
                    self.input_deadline = Some(now + self.limits.digit_timeout);
                }
                _ => {
                    self.state = State::Entry {
                        purpose,
                        digits: String::new(),
                    };
                    self.failure("sa-invalid", out);
                }
            },
            (State::Waiting, Input::Extension(found)) => match found {
                Some(id) => {
                    self.mailbox = Some(id.clone());
                    out.push(Command::OpenSession { mailbox: id });
                }
                None => {
                    self.state = State::Entry {
                        purpose: Entry::Extension,
                        digits: String::new(),
                    };
                    self.failure("sa-invalid", out);
                }
            },
            (State::Waiting, Input::Session(opened)) => {
                if opened {
                    self.ask_entry(Entry::Pin, out);
                } else {
                    self.goodbye("sa-mailbox-busy", out);
                }
            }
            (State::Waiting, Input::Pin(check)) => match check {
                PinCheck::Ok => {
                    self.failures = 0;
                    out.push(Command::LoadCounts);
                }
                // Straight to the new PIN: the menus (and the messages) only after it is set,
                // and hanging up leaves the PIN to be changed at the next log-on.
                PinCheck::MustChange(why) => {
                    self.failures = 0;
                    let why = match why {
                        PinChange::Expired => "sa-pin-expired",
                        PinChange::SetByAdministrator => "sa-pin-must-change",
                    };
                    self.state = State::Entry {
                        purpose: Entry::NewPin,
                        digits: String::new(),
                    };
                    self.reprompt = vec![Say::Prompt("sa-new-pin")];
                    self.play(vec![Say::Prompt(why), Say::Prompt("sa-new-pin")], out);
                }
                PinCheck::Wrong => {
                    self.state = State::Entry {
                        purpose: Entry::Pin,
                        digits: String::new(),
                    };
                    self.failure("sa-pin-wrong", out);
                }
                PinCheck::Locked => self.goodbye("sa-locked", out),
            },
            (State::Waiting, Input::Counts { new, saved }) => {
                self.state = State::MainMenu;
                self.ask(
                    vec![Say::Counts { new, saved }, Say::Prompt("sa-main-menu")],
                    out,
                );
            }
            (State::MainMenu, Input::Dtmf(c)) => match c {
                '1' => out.push(Command::LoadMessages(Folder::New)),
                '2' => out.push(Command::LoadMessages(Folder::Saved)),
                '3' => self.record(GreetingKind::Personal, out),
                '4' => self.record(GreetingKind::Away, out),
                '5' => self.ask_entry(Entry::NewPin, out),
                '6' => self.record(GreetingKind::Name, out),
                '7' => {
                    self.pending = Some(Pending::AwayOff);
                    out.push(Command::DeleteGreeting(GreetingKind::Away));
                }
                '8' => out.push(Command::LoadDeleted(
                    self.deleted.iter().map(|m| m.id.clone()).collect(),
                )),
                '9' => self.record(GreetingKind::Busy, out),
                '*' => self.goodbye("vm-goodbye", out),
                _ => {
                    self.state = State::MainMenu;
                    self.failure("sa-invalid", out);
                }
            },
            (State::Waiting, Input::Messages(list)) => {
                if list.is_empty() {
                    self.play(vec![Say::Prompt("sa-no-more-messages")], out);
                    out.push(Command::LoadCounts);
                } else {
                    self.message(list, 0, None, out);
                }
            }
            (State::Listening { list, index, part }, Input::Dtmf(c)) => {
                self.message_key(now, list, index, part, c, out)
            }
            (State::Waiting, Input::Recipient(to)) => match self.pending.take() {
                Some(Pending::Recipient(purpose)) => self.recipient(purpose, to, out),
                other => self.pending = other,
            },
            (State::ComposePrompt { purpose, to }, Input::Dtmf(c)) => {
                self.compose_prompt_key(purpose, to, c, out)
            }
            (State::ComposeRecording { purpose, to, .. }, Input::Dtmf('#')) => {
                self.send(purpose, to, true, out)
            }
            (State::RecordingGreeting { kind, .. }, Input::Dtmf('#')) => {
                self.pending = Some(Pending::Greeting(kind));
                out.push(Command::SaveGreeting(kind));
            }
            (State::CallingBack { .. }, Input::Transferred) => {
                // The user is talking to the caller now; this call is over.
                self.end(out);
                out.push(Command::HangUp);
            }
            (State::CallingBack { list, index }, Input::TransferFailed) => {
                out.push(Command::StopPlayback);
                self.message_menu(list, index, Some("aa-line-unavailable"), out);
            }
            (State::CallingBack { list, index }, Input::CallBackRefused) => {
                out.push(Command::StopPlayback);
                self.message_menu(list, index, Some("dial-refused"), out);
            }
            (State::Waiting, Input::StoreDone(ok)) => match self.pending.take() {
                Some(Pending::NextMessage {
                    list,
                    index,
                    said,
                    mark,
                }) => {
                    out.push(Command::UpdateMwi);
                    let said = if ok {
                        self.note(mark, &list[index]);
                        said
                    } else {
                        "vm-not-saved"
                    };
                    self.next_message(list, index, Some(said), out);
                }
                Some(Pending::Greeting(kind)) => {
                    let said = match (ok, kind) {
                        (false, _) => "vm-not-saved",
                        (true, GreetingKind::Personal) => "sa-greeting-saved",
                        (true, GreetingKind::Away) => "sa-away-on",
                        (true, GreetingKind::Name) => "sa-name-saved",
                        (true, GreetingKind::Busy) => "sa-busy-saved",
                    };
                    self.play(vec![Say::Prompt(said)], out);
                    out.push(Command::LoadCounts);
                }
                Some(Pending::Sent(purpose)) => self.sent(purpose, ok, out),
                Some(Pending::AwayOff) => {
                    let said = if ok { "sa-away-off" } else { "vm-not-saved" };
                    self.play(vec![Say::Prompt(said)], out);
                    out.push(Command::LoadCounts);
                }
                Some(Pending::Recipient(_)) | None => {}
            },
            (State::Waiting, Input::PinSet(accepted)) => {
                if accepted {
                    self.play(vec![Say::Prompt("sa-pin-changed")], out);
                    out.push(Command::LoadCounts);
                } else {
                    self.state = State::Entry {
                        purpose: Entry::NewPin,
                        digits: String::new(),
                    };
                    // "That PIN is not allowed. Please choose a PIN of at least N digits..."
                    let rules = vec![
                        Say::Prompt("sa-pin-rejected"),
                        Say::Number(self.limits.min_pin_length),
                        Say::Prompt("sa-pin-digits"),
                    ];
                    self.failure_saying(rules, out);
                }
            }
            (state, _) => self.state = state,
        }
    }

    /// Record prompt for `kind`, then the beep; recording starts when they have played.
    fn record(&mut self, kind: GreetingKind, out: &mut Vec<Command>) {
        let prompt = match kind {
            GreetingKind::Personal => "sa-record-greeting",
            GreetingKind::Away => "sa-record-away",
            GreetingKind::Name => "sa-record-name",
            GreetingKind::Busy => "sa-record-busy",
        };
        self.play(vec![Say::Prompt(prompt), Say::Beep], out);
        self.state = State::GreetingPrompt { kind };
    }

    /// The flow is over (hang-up, goodbye, a call-back that went through): messages still
    /// deleted go for good.
    fn end(&mut self, out: &mut Vec<Command>) {
        self.state = State::Done;
        if !self.deleted.is_empty() {
            let ids = self.deleted.drain(..).map(|m| m.id).collect();
            out.push(Command::Purge { ids });
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Command>) {
        if self.paused_too_long(now, out) {
            return;
        }
        if let State::RecordingGreeting { started, kind } = self.state {
            if now >= started + self.limits.max_greeting {
                self.state = State::Waiting;
                self.pending = Some(Pending::Greeting(kind));
                out.push(Command::SaveGreeting(kind));
            }
            return;
        }
        if let State::ComposeRecording { started, .. } = self.state {
            if now >= started + self.limits.max_greeting {
                if let State::ComposeRecording { purpose, to, .. } =
                    std::mem::replace(&mut self.state, State::Waiting)
                {
                    self.send(purpose, to, true, out);
                }
            }
            return;
        }
        if self.input_deadline.is_none_or(|d| now < d) {
            return;
        }
        self.input_deadline = None;
        // A digit string without its '#' is taken as entered when the caller stops typing.
        if let State::Entry { purpose, digits } = &self.state {
            if !digits.is_empty() {
                let (purpose, digits) = (*purpose, digits.clone());
                self.submit(purpose, digits, out);
                return;
            }
        }
        self.failure("sa-invalid", out);
    }
}

mod compose;
mod listening;
#[cfg(test)]
mod tests;
