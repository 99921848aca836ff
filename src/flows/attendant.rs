//! The auto attendant as a sans-IO state machine: greet, offer the menu of the period the call
//! arrived in (business hours, after hours, holiday), and act on the caller's key: transfer,
//! leave a message, open a submenu, reach the operator, or dial an extension.
//!
//! Like the other flows it touches no audio, store or network: it asks the shell through
//! [`Command`]s and hears back through [`Input`]s. A transfer the shell could not complete
//! comes back as [`Input::TransferFailed`]; if the target has a mailbox the caller leaves a
//! message there ([`Command::Deposit`]), the field failure to avoid being a failed transfer that
//! lands back in the attendant.
//!
//! A `DialByName` key hands the call to the [`Directory`] sub-flow; the user it finds is
//! transferred to (or, with the attendant's `NameMatch::LeaveMessage`, left a message).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dialplan::schedule::Period;
use crate::dialplan::{AttendantMenu, AutoAttendant, KeyAction, NameMatch};
use crate::flows::directory::{self, Directory, DirectorySettings, Listing};

/// Limits from the dial plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttendantLimits {
    /// InputFailuresBeforeDisconnect: wrong keys and time-outs before goodbye.
    pub input_failures: u32,
    /// How long to wait for a key once the menu has been said.
    pub digit_timeout: Duration,
}

impl Default for AttendantLimits {
    fn default() -> Self {
        Self {
            input_failures: 3,
            digit_timeout: Duration::from_secs(5),
        }
    }
}

/// Something to say; the shell renders prompts by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    Prompt(String),
    /// Digits spoken one by one ("one zero zero one").
    Digits(String),
    /// A mailbox's recorded name, by mailbox `Id` (dial by name).
    RecordedName(String),
}

impl From<directory::Say> for Say {
    fn from(s: directory::Say) -> Self {
        match s {
            directory::Say::Prompt(p) => Say::Prompt(p),
            directory::Say::RecordedName(id) => Say::RecordedName(id),
        }
    }
}

impl From<directory::Asked> for Command {
    fn from(asked: directory::Asked) -> Self {
        match asked {
            directory::Asked::Play(say) => Command::Play(say.into_iter().map(Say::from).collect()),
            directory::Asked::StopPlayback => Command::StopPlayback,
            directory::Asked::FindRecordedNames(ids) => Command::FindRecordedNames(ids),
        }
    }
}

fn prompt(name: &str) -> Say {
    Say::Prompt(name.to_owned())
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Answered,
    PlaybackDone,
    Dtmf(char),
    Tick,
    CallerHungUp,
    /// Answer to [`Command::LookupExtension`]: whether the extension is a user of the plan.
    Extension(bool),
    /// The transfer went through: the caller is now talking to the target.
    Transferred,
    /// The transfer failed; `has_mailbox` when the target is a mailbox of the plan.
    TransferFailed {
        has_mailbox: bool,
    },
    /// The transfer target is an outside number the dial plan's dialing rules refuse: it
    /// was not dialled.
    TransferRefused,
    /// Answer to [`Command::FindRecordedNames`], in its order.
    RecordedNames(Vec<bool>),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Play(Vec<Say>),
    StopPlayback,
    LookupExtension(String),
    /// Which of these mailboxes (by `Id`) have a recorded name? Answer with
    /// [`Input::RecordedNames`].
    FindRecordedNames(Vec<String>),
    /// Transfer the caller to `target` (an extension, number or URI of the plan).
    Transfer {
        target: String,
    },
    /// Leave a message for the mailbox `target` names; the attendant's part is over.
    Deposit {
        target: String,
    },
    HangUp,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Ringing,
    /// Waiting for a key in menu `menu` (`None`: the top-level menu of the period).
    Menu {
        menu: Option<usize>,
    },
    /// Collecting an extension for dial-by-extension.
    Extension {
        digits: String,
    },
    /// Dial by name: the directory has the call (`Attendant::directory`).
    Directory,
    /// Waiting for the shell (lookup or transfer).
    Waiting,
    Transferring {
        target: String,
    },
    Goodbye,
    Done,
}

/// The attendant flow of one call.
#[derive(Debug)]
pub struct Attendant {
    limits: AttendantLimits,
    top: AttendantMenu,
    menus: Vec<AttendantMenu>,
    operator: Option<String>,
    greeting: Option<String>,
    state: State,
    /// The menu to return to after a failed transfer or a dial-by-extension mistake.
    current: Option<usize>,
    failures: u32,
    playing: bool,
    input_deadline: Option<Instant>,
    /// The extension a lookup in flight is for.
    last_lookup: Option<String>,
    /// Dial by name: the plan's users, how to search them, what a match does.
    listings: Arc<[Listing]>,
    directory_settings: Option<DirectorySettings>,
    name_match: Option<NameMatch>,
    /// The search in progress (in `State::Directory`).
    directory: Option<Directory>,
}

impl Attendant {
    /// The flow for a call to `attendant` arriving in `period`; `plan_operator` is the
    /// plan's OperatorExtension, used when the attendant has none.
    pub fn new(
        attendant: &AutoAttendant,
        period: Period,
        plan_operator: Option<&str>,
        limits: AttendantLimits,
    ) -> Self {
        let (top, greeting) = match period {
            Period::BusinessHours => (
                &attendant.business_hours,
                attendant.business_hours.greeting.clone(),
            ),
            Period::AfterHours => (
                &attendant.after_hours,
                Some(
                    attendant
                        .after_hours
                        .greeting
                        .clone()
                        .unwrap_or_else(|| "aa-after-hours".into()),
                ),
            ),
            Period::Holiday => (
                &attendant.after_hours,
                Some(
                    attendant
                        .holiday_greeting
                        .clone()
                        .unwrap_or_else(|| "aa-holiday".into()),
                ),
            ),
        };
        Self {
            limits,
            top: top.clone(),
            menus: attendant.menus.clone(),
            operator: attendant
                .operator_extension
                .clone()
                .or(plan_operator.map(str::to_owned)),
            greeting,
            state: State::Ringing,
            current: None,
            failures: 0,
            playing: false,
            input_deadline: None,
            last_lookup: None,
            listings: Arc::from([]),
            directory_settings: None,
            name_match: attendant.name_match,
            directory: None,
        }
    }

    /// Gives `DialByName` keys the plan's directory (`DialPlan::directory`).
    pub fn with_directory(
        mut self,
        listings: impl Into<Arc<[Listing]>>,
        settings: DirectorySettings,
    ) -> Self {
        self.listings = listings.into();
        self.directory_settings = Some(settings);
        self
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next instant the flow needs a `Tick`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.directory {
            Some(d) => d.poll_timeout(),
            None => self.input_deadline,
        }
    }

    fn menu(&self, index: Option<usize>) -> &AttendantMenu {
        index.and_then(|i| self.menus.get(i)).unwrap_or(&self.top)
    }

    /// What menu `index` says: its recorded prompt, else one composed from its keys.
    fn menu_prompt(&self, index: Option<usize>) -> Vec<Say> {
        let menu = self.menu(index);
        if let Some(p) = &menu.prompt {
            return vec![prompt(p)];
        }
        let mut say = Vec::new();
        for k in &menu.keys {
            let lead: Vec<Say> = match &k.action {
                KeyAction::Transfer(t) => vec![prompt("w-for"), prompt("w-extension"), target(t)],
                KeyAction::Mailbox(t) => vec![prompt("aa-leave-message-for"), target(t)],
                KeyAction::Menu(_) => vec![prompt("w-for"), prompt("aa-more-options")],
                KeyAction::Operator => vec![prompt("w-for"), prompt("aa-the-operator")],
                KeyAction::DialByExtension => vec![prompt("aa-know-extension")],
                KeyAction::DialByName => vec![prompt("aa-know-name")],
                KeyAction::MainMenu => vec![prompt("aa-main-menu-return")],
            };
            say.extend(lead);
            say.push(prompt("w-press"));
            say.push(key_prompt(k.key));
        }
        say
    }

    fn play(&mut self, say: Vec<Say>, out: &mut Vec<Command>) {
        self.playing = true;
        self.input_deadline = None;
        out.push(Command::Play(say));
    }

    fn offer_menu(&mut self, index: Option<usize>, lead: Vec<Say>, out: &mut Vec<Command>) {
        self.current = index;
        let mut say = lead;
        say.extend(self.menu_prompt(index));
        self.play(say, out);
        self.state = State::Menu { menu: index };
    }

    fn goodbye(&mut self, out: &mut Vec<Command>) {
        self.state = State::Goodbye;
        self.play(vec![prompt("vm-goodbye")], out);
    }

    /// A wrong key or a time-out: repeat the menu, or goodbye after too many.
    fn failure(&mut self, out: &mut Vec<Command>) {
        self.failures += 1;
        if self.failures >= self.limits.input_failures {
            self.goodbye(out);
        } else {
            self.offer_menu(self.current, vec![prompt("sa-invalid")], out);
        }
    }

    fn transfer(&mut self, target: String, out: &mut Vec<Command>) {
        self.transfer_saying(target, vec![prompt("aa-transferring")], out);
    }

    fn transfer_saying(&mut self, target: String, say: Vec<Say>, out: &mut Vec<Command>) {
        self.play(say, out);
        out.push(Command::Transfer {
            target: target.clone(),
        });
        self.state = State::Transferring { target };
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        if self.state == State::Directory {
            let forwarded = match input {
                Input::PlaybackDone => directory::Input::PlaybackDone,
                Input::Dtmf(c) => directory::Input::Dtmf(c),
                Input::Tick => directory::Input::Tick,
                Input::RecordedNames(r) => directory::Input::RecordedNames(r),
                Input::CallerHungUp => {
                    self.directory = None;
                    self.state = State::Done;
                    return;
                }
                _ => return,
            };
            self.directory_step(now, forwarded, out);
            return;
        }
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
                    State::Menu { .. } | State::Extension { .. } => {
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
            Input::Dtmf(_) if self.playing && matches!(self.state, State::Transferring { .. }) => {
                return; // keys during the transfer announcement mean nothing
            }
            Input::Dtmf(_) if self.playing && self.state != State::Goodbye => {
                out.push(Command::StopPlayback);
                self.playing = false;
            }
            _ => {}
        }
        self.input_deadline = None;
        let state = std::mem::replace(&mut self.state, State::Waiting);
        match (state, input) {
            (State::Ringing, Input::Answered) => {
                let lead = self.greeting.as_deref().map(prompt).into_iter().collect();
                self.offer_menu(None, lead, out);
            }
            (State::Menu { menu }, Input::Dtmf(c)) => {
                let Some(action) = self.menu(menu).action(c).cloned() else {
                    self.state = State::Menu { menu };
                    self.failure(out);
                    return;
                };
                self.failures = 0;
                match action {
                    KeyAction::Transfer(t) => self.transfer(t, out),
                    KeyAction::Mailbox(t) => {
                        self.state = State::Done;
                        out.push(Command::Deposit { target: t });
                    }
                    KeyAction::Menu(name) => {
                        let index = self
                            .menus
                            .iter()
                            .position(|m| m.name.eq_ignore_ascii_case(&name));
                        self.offer_menu(index, Vec::new(), out);
                    }
                    KeyAction::Operator => match self.operator.clone() {
                        Some(op) => self.transfer(op, out),
                        None => self.offer_menu(menu, vec![prompt("aa-line-unavailable")], out),
                    },
                    KeyAction::DialByExtension => {
                        self.play(vec![prompt("aa-enter-extension")], out);
                        self.state = State::Extension {
                            digits: String::new(),
                        };
                    }
                    KeyAction::MainMenu => self.offer_menu(None, Vec::new(), out),
                    KeyAction::DialByName => {
                        let settings = self.directory_settings.unwrap_or(DirectorySettings {
                            primary: crate::dialplan::NameOrder::LastFirst,
                            secondary: None,
                            input_failures: self.limits.input_failures,
                            digit_timeout: self.limits.digit_timeout,
                        });
                        self.directory = Some(Directory::new(self.listings.clone(), settings));
                        self.state = State::Directory;
                        self.directory_step(now, directory::Input::Start, out);
                    }
                }
            }
            (State::Extension { mut digits }, Input::Dtmf(c)) => match c {
                '#' if !digits.is_empty() => self.lookup(digits, out),
                '0'..='9' if digits.len() < 32 => {
                    digits.push(c);
                    self.state = State::Extension { digits };
                    self.input_deadline = Some(now + self.limits.digit_timeout);
                }
                '*' => self.offer_menu(self.current, Vec::new(), out),
                _ => {
                    self.state = State::Extension {
                        digits: String::new(),
                    };
                    self.extension_failure(out);
                }
            },
            (State::Waiting, Input::Extension(found)) => match (found, self.last_lookup.take()) {
                (true, Some(ext)) => self.transfer(ext, out),
                _ => {
                    self.state = State::Extension {
                        digits: String::new(),
                    };
                    self.extension_failure(out);
                }
            },
            (State::Transferring { .. }, Input::Transferred) => {
                self.state = State::Done;
            }
            (State::Transferring { .. }, Input::TransferRefused) => {
                out.push(Command::StopPlayback);
                self.offer_menu(self.current, vec![prompt("dial-refused")], out);
            }
            (State::Transferring { target }, Input::TransferFailed { has_mailbox }) => {
                if has_mailbox {
                    self.state = State::Done;
                    out.push(Command::StopPlayback);
                    out.push(Command::Deposit { target });
                } else {
                    out.push(Command::StopPlayback);
                    self.offer_menu(self.current, vec![prompt("aa-line-unavailable")], out);
                }
            }
            (state, _) => self.state = state,
        }
    }

    /// Feeds the directory; acts on what it found once it is done.
    fn directory_step(&mut self, now: Instant, input: directory::Input, out: &mut Vec<Command>) {
        let Some(d) = self.directory.as_mut() else {
            return;
        };
        if let Some(outcome) = d.step(now, input, out) {
            self.directory = None;
            self.playing = false;
            self.found(outcome, out);
        }
    }

    /// What the directory found.
    fn found(&mut self, outcome: directory::Outcome, out: &mut Vec<Command>) {
        match outcome {
            directory::Outcome::Chosen { mailbox, name } => match self.name_match {
                Some(NameMatch::LeaveMessage) => {
                    self.state = State::Done;
                    out.push(Command::Deposit { target: mailbox });
                }
                // `umgw check` refuses DialByName keys with no NameMatch.
                Some(NameMatch::Transfer) | None => {
                    let mut say = vec![prompt("dir-transferring-to")];
                    say.extend(name.into_iter().map(Say::from));
                    self.transfer_saying(mailbox, say, out);
                }
            },
            directory::Outcome::Cancelled => self.offer_menu(self.current, Vec::new(), out),
            directory::Outcome::TooManyFailures => self.goodbye(out),
        }
    }

    fn lookup(&mut self, digits: String, out: &mut Vec<Command>) {
        self.last_lookup = Some(digits.clone());
        out.push(Command::LookupExtension(digits));
    }

    fn extension_failure(&mut self, out: &mut Vec<Command>) {
        self.failures += 1;
        if self.failures >= self.limits.input_failures {
            self.goodbye(out);
        } else {
            self.play(
                vec![prompt("sa-invalid"), prompt("aa-enter-extension")],
                out,
            );
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Command>) {
        if self.input_deadline.is_none_or(|d| now < d) {
            return;
        }
        self.input_deadline = None;
        match std::mem::replace(&mut self.state, State::Waiting) {
            // Digits without '#': taken as entered when the caller stops typing.
            State::Extension { digits } if !digits.is_empty() => self.lookup(digits, out),
            State::Extension { digits } => {
                self.state = State::Extension { digits };
                self.extension_failure(out);
            }
            state @ State::Menu { .. } => {
                self.state = state;
                self.failure(out);
            }
            state => self.state = state,
        }
    }
}

/// A target as spoken in a composed menu: its digits, or nothing for a URI.
fn target(t: &str) -> Say {
    Say::Digits(t.chars().filter(char::is_ascii_digit).collect())
}

fn key_prompt(key: char) -> Say {
    match key {
        '*' => prompt("key-star"),
        '#' => prompt("key-pound"),
        d => Say::Prompt(format!("digit-{d}")),
    }
}

#[cfg(test)]
mod tests;
