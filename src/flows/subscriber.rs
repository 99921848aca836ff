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
use std::time::{Duration, Instant, SystemTime};

pub use crate::domain::GreetingKind;

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
    /// The audio of message `i`.
    Audio(usize),
    /// A number, spoken ("twelve").
    Number(u32),
    Beep,
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
    /// The call-back transfer went through.
    Transferred,
    /// The call-back transfer failed (refused, not answered).
    TransferFailed,
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
    Delete {
        id: String,
    },
    StartRecording,
    /// Stop and store the recording as the mailbox's recording of this kind.
    SaveGreeting(GreetingKind),
    /// Remove a recording (the away greeting: turn it off).
    DeleteGreeting(GreetingKind),
    /// Transfer the user to the caller of the message being heard (REFER).
    CallBack {
        number: String,
    },
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
    Listening {
        list: Vec<MessageRef>,
        index: usize,
    },
    /// The record prompt and beep are playing.
    GreetingPrompt {
        kind: GreetingKind,
    },
    RecordingGreeting {
        started: Instant,
        kind: GreetingKind,
    },
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
}

/// What a store operation in flight leads to.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    /// After save/delete: say `said`, then the next message of `list` after `index`.
    NextMessage {
        list: Vec<MessageRef>,
        index: usize,
        said: &'static str,
    },
    Greeting(GreetingKind),
    AwayOff,
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
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The mailbox once identified.
    pub fn mailbox(&self) -> Option<&str> {
        self.mailbox.as_deref()
    }

    pub fn is_recording(&self) -> bool {
        matches!(self.state, State::RecordingGreeting { .. })
    }

    /// The next instant the flow needs a `Tick`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::RecordingGreeting { started, .. } => Some(started + self.limits.max_greeting),
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
        };
        self.ask(vec![Say::Prompt(prompt)], out);
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

    fn message(
        &mut self,
        list: Vec<MessageRef>,
        index: usize,
        lead: Option<&'static str>,
        out: &mut Vec<Command>,
    ) {
        let mut say: Vec<Say> = lead.map(Say::Prompt).into_iter().collect();
        say.extend([Say::Envelope(index), Say::Audio(index)]);
        self.reprompt = vec![Say::Prompt("sa-message-menu")];
        say.push(Say::Prompt("sa-message-menu"));
        self.play(say, out);
        self.state = State::Listening { list, index };
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
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        match &input {
            Input::CallerHungUp => {
                self.state = State::Done;
                return;
            }
            Input::PlaybackDone => {
                self.playing = false;
                match self.state {
                    State::Goodbye => {
                        self.state = State::Done;
                        out.push(Command::HangUp);
                    }
                    State::GreetingPrompt { kind } => {
                        self.state = State::RecordingGreeting { started: now, kind };
                        out.push(Command::StartRecording);
                    }
                    State::Entry { .. } | State::MainMenu | State::Listening { .. } => {
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
                '8' => self.record(GreetingKind::Busy, out),
                '7' => {
                    self.pending = Some(Pending::AwayOff);
                    out.push(Command::DeleteGreeting(GreetingKind::Away));
                }
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
            (State::Listening { list, index }, Input::Dtmf(c)) => {
                let id = list[index].id.clone();
                match c {
                    '1' => self.message(list, index, None, out),
                    '2' => {
                        out.push(Command::SetSeen { id, seen: true });
                        self.pending = Some(Pending::NextMessage {
                            list,
                            index,
                            said: "sa-message-saved",
                        });
                    }
                    '3' => {
                        out.push(Command::Delete { id });
                        self.pending = Some(Pending::NextMessage {
                            list,
                            index,
                            said: "sa-message-deleted",
                        });
                    }
                    '4' => match list[index].caller.clone() {
                        Some(number) => {
                            out.push(Command::CallBack { number });
                            self.play(vec![Say::Prompt("aa-transferring")], out);
                            self.state = State::CallingBack { list, index };
                        }
                        None => {
                            self.state = State::Listening { list, index };
                            self.failure("sa-no-caller-id", out);
                        }
                    },
                    '#' => self.next_message(list, index, None, out),
                    '*' => out.push(Command::LoadCounts),
                    _ => {
                        self.state = State::Listening { list, index };
                        self.failure("sa-invalid", out);
                    }
                }
            }
            (State::RecordingGreeting { kind, .. }, Input::Dtmf('#')) => {
                self.pending = Some(Pending::Greeting(kind));
                out.push(Command::SaveGreeting(kind));
            }
            (State::CallingBack { .. }, Input::Transferred) => {
                // The user is talking to the caller now; this call is over.
                self.state = State::Done;
                out.push(Command::HangUp);
            }
            (State::CallingBack { list, index }, Input::TransferFailed) => {
                out.push(Command::StopPlayback);
                self.reprompt = vec![Say::Prompt("sa-message-menu")];
                self.play(
                    vec![
                        Say::Prompt("aa-line-unavailable"),
                        Say::Prompt("sa-message-menu"),
                    ],
                    out,
                );
                self.state = State::Listening { list, index };
            }
            (State::Waiting, Input::StoreDone(ok)) => match self.pending.take() {
                Some(Pending::NextMessage { list, index, said }) => {
                    out.push(Command::UpdateMwi);
                    let said = if ok { said } else { "vm-not-saved" };
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
                Some(Pending::AwayOff) => {
                    let said = if ok { "sa-away-off" } else { "vm-not-saved" };
                    self.play(vec![Say::Prompt(said)], out);
                    out.push(Command::LoadCounts);
                }
                None => {}
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

    fn next_message(
        &mut self,
        list: Vec<MessageRef>,
        index: usize,
        lead: Option<&'static str>,
        out: &mut Vec<Command>,
    ) {
        if index + 1 < list.len() {
            self.message(list, index + 1, lead, out);
        } else {
            let mut say: Vec<Say> = lead.map(Say::Prompt).into_iter().collect();
            say.push(Say::Prompt("sa-no-more-messages"));
            self.play(say, out);
            self.state = State::Waiting;
            out.push(Command::LoadCounts);
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Command>) {
        if let State::RecordingGreeting { started, kind } = self.state {
            if now >= started + self.limits.max_greeting {
                self.state = State::Waiting;
                self.pending = Some(Pending::Greeting(kind));
                out.push(Command::SaveGreeting(kind));
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

#[cfg(test)]
mod tests;
