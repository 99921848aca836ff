//! Listening to a message: its envelope, then its audio, then the message menu, and the keys
//! that work all along (pause, skip back and forward, save, delete and undelete, mark unread,
//! call back, next).
//!
//! The flow keeps the position in the audio itself, from the clock: the audio started at
//! `from` when the envelope ended, so at `now` it is at `from + (now - started)`. Skipping or
//! resuming plays the audio again from the new position (`Say::Audio { from }`), so the shell
//! needs no seekable player.

use std::time::{Duration, Instant};

use super::{Command, Held, MessageRef, Pending, Say, State, Subscriber};

/// How far 7 and 9 move in the message (Exchange and most voice-mail systems: 5 s).
pub(super) const SKIP: Duration = Duration::from_secs(5);
/// Longest pause: then the message goes on by itself.
pub(super) const PAUSE_MAX: Duration = Duration::from_secs(60);

/// Where the playback of the current message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// The envelope (and what leads it) plays; the audio follows.
    Envelope,
    /// The audio plays, from `from` on, since `started`.
    Audio { from: Duration, started: Instant },
    /// Paused at `at` in the audio (8 again resumes).
    Paused { at: Duration },
    /// The audio ended: the message menu plays, or the flow waits for a key.
    Menu,
}

impl Part {
    /// The position in the audio of a message `duration` long.
    fn position(self, now: Instant, duration: Duration) -> Duration {
        match self {
            Part::Envelope => Duration::ZERO,
            Part::Audio { from, started } => from + now.saturating_duration_since(started),
            Part::Paused { at } => at,
            Part::Menu => duration,
        }
        .min(duration)
    }
}

/// What the flow notes of a message once the store did what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    Nothing,
    /// Deleted (pending until the call ends).
    Deleted,
    /// Deleted no more.
    Restored,
}

impl Subscriber {
    /// Message `index` of `list` from its envelope (`lead` said first).
    pub(super) fn message(
        &mut self,
        list: Vec<MessageRef>,
        index: usize,
        lead: Option<&'static str>,
        out: &mut Vec<Command>,
    ) {
        let envelope = Say::Envelope(index);
        self.message_part(list, index, lead, envelope, Part::Envelope, out);
    }

    /// Plays `lead` (if any) and `say` as `part` of message `index`; the message menu is what
    /// a time-out or a wrong key repeats.
    fn message_part(
        &mut self,
        list: Vec<MessageRef>,
        index: usize,
        lead: Option<&'static str>,
        say: Say,
        part: Part,
        out: &mut Vec<Command>,
    ) {
        let mut all: Vec<Say> = lead.map(Say::Prompt).into_iter().collect();
        all.push(say);
        self.reprompt = vec![Say::Prompt("sa-message-menu")];
        self.play(all, out);
        self.state = State::Listening { list, index, part };
    }

    /// The audio of message `index` from `from` on.
    fn message_audio(
        &mut self,
        now: Instant,
        list: Vec<MessageRef>,
        index: usize,
        from: Duration,
        out: &mut Vec<Command>,
    ) {
        self.play(vec![Say::Audio { index, from }], out);
        self.state = State::Listening {
            list,
            index,
            part: Part::Audio { from, started: now },
        };
    }

    /// The message menu for message `index` (`lead` said first).
    pub(super) fn message_menu(
        &mut self,
        list: Vec<MessageRef>,
        index: usize,
        lead: Option<&'static str>,
        out: &mut Vec<Command>,
    ) {
        let menu = Say::Prompt("sa-message-menu");
        self.message_part(list, index, lead, menu, Part::Menu, out);
    }

    /// What was playing of the current message ended: envelope → audio → menu → wait.
    pub(super) fn message_part_done(&mut self, now: Instant, out: &mut Vec<Command>) {
        let State::Listening { list, index, part } =
            std::mem::replace(&mut self.state, State::Waiting)
        else {
            return;
        };
        match part {
            Part::Envelope => self.message_audio(now, list, index, Duration::ZERO, out),
            Part::Audio { .. } => self.message_menu(list, index, None, out),
            Part::Paused { .. } | Part::Menu => {
                self.state = State::Listening { list, index, part };
                if part == Part::Menu {
                    self.input_deadline = Some(now + self.limits.digit_timeout);
                }
            }
        }
    }

    /// A key while message `index` is being heard (any part of it).
    pub(super) fn message_key(
        &mut self,
        now: Instant,
        list: Vec<MessageRef>,
        index: usize,
        part: Part,
        key: char,
        out: &mut Vec<Command>,
    ) {
        let id = list[index].id.clone();
        let at = part.position(now, list[index].duration);
        let deleted = self.deleted.iter().any(|m| m.id == id);
        let mut store = |s: &mut Self, cmd: Command, said: &'static str, mark: Mark| {
            out.push(cmd);
            s.pending = Some(Pending::NextMessage {
                list: list.clone(),
                index,
                said,
                mark,
            });
        };
        match key {
            '1' => self.message(list, index, None, out),
            '2' => store(
                self,
                Command::SetSeen { id, seen: true },
                "sa-message-saved",
                Mark::Nothing,
            ),
            '3' if deleted => store(
                self,
                Command::Undelete { id },
                "sa-message-restored",
                Mark::Restored,
            ),
            '3' => store(
                self,
                Command::Delete { id },
                "sa-message-deleted",
                Mark::Deleted,
            ),
            '0' => store(
                self,
                Command::SetSeen { id, seen: false },
                "sa-message-unread",
                Mark::Nothing,
            ),
            '4' => match list[index].caller.clone() {
                Some(number) => {
                    out.push(Command::CallBack { number });
                    self.play(vec![Say::Prompt("aa-transferring")], out);
                    self.state = State::CallingBack { list, index };
                }
                None => {
                    self.state = State::Listening { list, index, part };
                    self.failure("sa-no-caller-id", out);
                }
            },
            '5' => self.reply(Held { list, index }, out),
            '6' => self.choose_recipient(Held { list, index }, out),
            '7' => self.message_audio(now, list, index, at.saturating_sub(SKIP), out),
            '8' => match part {
                Part::Paused { at } => self.message_audio(now, list, index, at, out),
                _ => {
                    // The key stopped what played (barge-in); nothing more until 8 again.
                    self.state = State::Listening {
                        list,
                        index,
                        part: Part::Paused { at },
                    };
                    self.input_deadline = Some(now + PAUSE_MAX);
                }
            },
            '9' => self.message_audio(now, list, index, at + SKIP, out),
            '#' => self.next_message(list, index, None, out),
            '*' => out.push(Command::LoadCounts),
            _ => {
                self.state = State::Listening { list, index, part };
                self.failure("sa-invalid", out);
            }
        }
    }

    /// A paused message that waited [`PAUSE_MAX`] goes on; true if that happened.
    pub(super) fn paused_too_long(&mut self, now: Instant, out: &mut Vec<Command>) -> bool {
        let State::Listening {
            part: Part::Paused { at },
            ..
        } = self.state
        else {
            return false;
        };
        if self.input_deadline.is_none_or(|d| now < d) {
            return true;
        }
        self.input_deadline = None;
        if let State::Listening { list, index, .. } =
            std::mem::replace(&mut self.state, State::Waiting)
        {
            self.message_audio(now, list, index, at, out);
        }
        true
    }

    /// Notes what the store did to `m` (a delete to purge at the end, or not any more).
    pub(super) fn note(&mut self, mark: Mark, m: &MessageRef) {
        match mark {
            Mark::Nothing => {}
            Mark::Deleted => self.deleted.push(m.clone()),
            Mark::Restored => self.deleted.retain(|d| d.id != m.id),
        }
    }

    /// The message after `index`, or the main menu after the last.
    pub(super) fn next_message(
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
}
