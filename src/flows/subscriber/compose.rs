//! Forwarding the message being heard to another mailbox of the plan (with an optional spoken
//! comment put before it) and replying to its sender with a voice message.
//!
//! Both start from the message menu and come back to it: choose the recipient (forward: the
//! extension the user types, or, with `*`, the user found by name in the plan's directory;
//! reply: the sender, if the message's caller is a mailbox of the plan), then the record
//! prompt and the beep, then the recording up to `#`. The shell makes and stores the message
//! ([`Command::Forward`], [`Command::Reply`]).

use std::time::Instant;

use super::{Command, Entry, Held, Input, Pending, Say, State, Subscriber};
use crate::flows::directory::{self, Directory};

/// What the user is sending about the message being heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compose {
    /// The message itself to another mailbox, a comment first if one is recorded.
    Forward,
    /// A voice message of the user's to the message's sender.
    Reply,
}

impl Subscriber {
    /// 6 on a message: choose who gets it.
    ///
    /// This asks for an extension (`Entry::Recipient`, then [`Command::LookupRecipient`]);
    /// `*` there searches the directory by name instead ([`Subscriber::find_recipient`]).
    pub(super) fn choose_recipient(&mut self, held: Held, out: &mut Vec<Command>) {
        self.held = Some(held);
        self.ask_entry(Entry::Recipient, out);
    }

    /// `*` when asked for the extension: find the recipient by name instead.
    pub(super) fn find_recipient(&mut self, now: Instant, out: &mut Vec<Command>) {
        let Some((listings, settings)) = &self.directory_source else {
            return;
        };
        self.directory = Some(Directory::new(listings.clone(), *settings));
        self.state = State::Directory;
        self.directory_step(now, directory::Input::Start, out);
    }

    /// An input while the directory has the call (a hang-up is the flow's own).
    pub(super) fn directory_input(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        let forwarded = match input {
            Input::PlaybackDone => directory::Input::PlaybackDone,
            Input::Dtmf(c) => directory::Input::Dtmf(c),
            Input::Tick => directory::Input::Tick,
            Input::RecordedNames(r) => directory::Input::RecordedNames(r),
            _ => return,
        };
        self.directory_step(now, forwarded, out);
    }

    /// Feeds the directory; once it is done, the user found is the recipient, as if the
    /// extension had been typed.
    fn directory_step(&mut self, now: Instant, input: directory::Input, out: &mut Vec<Command>) {
        let Some(d) = self.directory.as_mut() else {
            return;
        };
        let Some(outcome) = d.step(now, input, out) else {
            return;
        };
        self.directory = None;
        self.playing = false;
        self.state = State::Waiting;
        match outcome {
            directory::Outcome::Chosen { mailbox, .. } => {
                self.recipient(Compose::Forward, Some(mailbox), out)
            }
            directory::Outcome::Cancelled => self.ask_entry(Entry::Recipient, out),
            directory::Outcome::TooManyFailures => self.goodbye("vm-goodbye", out),
        }
    }

    /// 5 on a message: a reply goes to its sender, if the sender is a mailbox of the plan.
    pub(super) fn reply(&mut self, held: Held, out: &mut Vec<Command>) {
        match held.list[held.index].caller.clone() {
            Some(caller) => {
                self.held = Some(held);
                self.pending = Some(Pending::Recipient(Compose::Reply));
                out.push(Command::LookupSender(caller));
            }
            None => self.message_menu(held.list, held.index, Some("sa-reply-external"), out),
        }
    }

    /// The digits typed for the recipient of a forward.
    pub(super) fn recipient_entered(&mut self, extension: String, out: &mut Vec<Command>) {
        self.pending = Some(Pending::Recipient(Compose::Forward));
        out.push(Command::LookupRecipient(extension));
    }

    /// The answer to a lookup: the mailbox id of the recipient, or none.
    pub(super) fn recipient(
        &mut self,
        purpose: Compose,
        to: Option<String>,
        out: &mut Vec<Command>,
    ) {
        match (to, purpose) {
            (Some(to), _) => {
                let prompt = match purpose {
                    Compose::Forward => "sa-forward-comment",
                    Compose::Reply => "sa-record-reply",
                };
                self.play(vec![Say::Prompt(prompt), Say::Beep], out);
                self.state = State::ComposePrompt { purpose, to };
            }
            (None, Compose::Forward) => {
                self.state = State::Entry {
                    purpose: Entry::Recipient,
                    digits: String::new(),
                };
                self.failure("sa-invalid", out);
            }
            (None, Compose::Reply) => self.back_to_message(Some("sa-reply-external"), out),
        }
    }

    /// A key during the record prompt: `#` forwards without a comment (a reply without
    /// words goes back to the message); the others are ignored.
    pub(super) fn compose_prompt_key(
        &mut self,
        purpose: Compose,
        to: String,
        key: char,
        out: &mut Vec<Command>,
    ) {
        match (key, purpose) {
            ('#', Compose::Forward) => self.send(purpose, to, false, out),
            ('#', Compose::Reply) => self.back_to_message(None, out),
            _ => self.state = State::ComposePrompt { purpose, to },
        }
    }

    /// The record prompt ended: record.
    pub(super) fn compose_record(
        &mut self,
        now: Instant,
        purpose: Compose,
        to: String,
        out: &mut Vec<Command>,
    ) {
        out.push(Command::StartRecording);
        self.state = State::ComposeRecording {
            purpose,
            to,
            started: now,
        };
    }

    /// `#` (or the longest recording): send what was recorded.
    pub(super) fn send(
        &mut self,
        purpose: Compose,
        to: String,
        recorded: bool,
        out: &mut Vec<Command>,
    ) {
        let Some(index) = self.held.as_ref().map(|h| h.index) else {
            self.state = State::MainMenu;
            return;
        };
        self.state = State::Waiting;
        self.pending = Some(Pending::Sent(purpose));
        out.push(match purpose {
            Compose::Forward => Command::Forward {
                index,
                to,
                comment: recorded,
            },
            Compose::Reply => Command::Reply { to },
        });
    }

    /// The store took (or refused) what was sent: say so, back to the message's menu.
    pub(super) fn sent(&mut self, purpose: Compose, ok: bool, out: &mut Vec<Command>) {
        let said = match (ok, purpose) {
            (false, _) => "vm-not-saved",
            (true, Compose::Forward) => "sa-message-forwarded",
            (true, Compose::Reply) => "sa-reply-sent",
        };
        self.back_to_message(Some(said), out);
    }

    /// The message menu of the message held while composing.
    fn back_to_message(&mut self, lead: Option<&'static str>, out: &mut Vec<Command>) {
        match self.held.take() {
            Some(Held { list, index }) => self.message_menu(list, index, lead, out),
            None => out.push(Command::LoadCounts),
        }
    }
}

impl From<directory::Asked> for Command {
    fn from(asked: directory::Asked) -> Self {
        match asked {
            directory::Asked::Play(say) => Command::Play(vec![Say::Directory(say)]),
            directory::Asked::StopPlayback => Command::StopPlayback,
            directory::Asked::FindRecordedNames(ids) => Command::FindRecordedNames(ids),
        }
    }
}
