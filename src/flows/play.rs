//! Play on phone as a sans-IO state machine: the gateway has called the user (Exchange's
//! "Play on Phone" from Outlook) and plays one message: a short introduction with the
//! message's envelope (who, when, how long), the recording, then a menu (1 replay, # or *
//! goodbye) until the user hangs up, says goodbye or lets it time out.
//!
//! The shell loads the message when the call is answered ([`Command::Load`]) and renders what
//! is said; like the other flows this one touches no store, audio or network.

use std::time::{Duration, Instant};

/// What to say; the shell renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// A prompt by name.
    Prompt(&'static str),
    /// The message's envelope ("Message from ..., received ..., N seconds").
    Envelope,
    /// The message's recording.
    Audio,
}

/// Something that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The user answered our call.
    Answered,
    /// Answer to [`Command::Load`]: whether the message was found and has audio.
    Loaded(bool),
    PlaybackDone,
    Dtmf(char),
    Tick,
    /// The user hung up.
    HungUp,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read the message from the store.
    Load,
    Play(Vec<Say>),
    StopPlayback,
    HangUp,
}

/// Prompt names this flow uses.
pub const INTRO: &str = "pon-intro";
pub const MENU: &str = "pon-menu";
pub const GONE: &str = "pon-message-gone";
pub const GOODBYE: &str = "vm-goodbye";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Loading,
    /// The introduction and the message are playing.
    Playing,
    /// The menu was said: waiting for a key until `deadline` (set when the prompt ends).
    Menu {
        deadline: Option<Instant>,
    },
    Goodbye,
    Done,
}

/// The play-on-phone flow. Feed it with [`PlayOnPhone::handle`]; read the commands it
/// returns.
#[derive(Debug)]
pub struct PlayOnPhone {
    state: State,
    /// How long the menu waits for a key.
    digit_timeout: Duration,
    /// Menu time-outs left before goodbye (InputFailuresBeforeDisconnect).
    timeouts_left: u32,
}

impl PlayOnPhone {
    pub fn new(digit_timeout: Duration, input_failures: u32) -> Self {
        Self {
            state: State::Ringing,
            digit_timeout,
            timeouts_left: input_failures.max(1),
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// When the flow next needs a [`Input::Tick`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Menu { deadline } => deadline,
            _ => None,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        match (self.state, input) {
            (State::Done, _) => {}
            (_, Input::HungUp) => self.state = State::Done,
            (State::Ringing, Input::Answered) => {
                self.state = State::Loading;
                out.push(Command::Load);
            }
            (State::Loading, Input::Loaded(true)) => self.play_message(&mut out),
            (State::Loading, Input::Loaded(false)) => {
                self.state = State::Goodbye;
                out.push(Command::Play(vec![Say::Prompt(GONE), Say::Prompt(GOODBYE)]));
            }
            (State::Playing, Input::PlaybackDone) => {
                self.state = State::Menu { deadline: None };
                out.push(Command::Play(vec![Say::Prompt(MENU)]));
            }
            (State::Menu { deadline: None }, Input::PlaybackDone) => {
                self.state = State::Menu {
                    deadline: Some(now + self.digit_timeout),
                };
            }
            (State::Playing | State::Menu { .. }, Input::Dtmf(key)) => match key {
                '1' => {
                    out.push(Command::StopPlayback);
                    self.play_message(&mut out);
                }
                '#' | '*' => {
                    out.push(Command::StopPlayback);
                    self.goodbye(&mut out);
                }
                // Other keys while the message plays are ignored (a user fumbling for `1`
                // must not lose the message); in the menu they repeat it.
                _ if matches!(self.state, State::Menu { .. }) => {
                    out.push(Command::StopPlayback);
                    self.state = State::Menu { deadline: None };
                    out.push(Command::Play(vec![Say::Prompt(MENU)]));
                }
                _ => {}
            },
            (State::Menu { deadline: Some(d) }, Input::Tick) if now >= d => {
                self.timeouts_left -= 1;
                if self.timeouts_left == 0 {
                    self.goodbye(&mut out);
                } else {
                    self.state = State::Menu { deadline: None };
                    out.push(Command::Play(vec![Say::Prompt(MENU)]));
                }
            }
            (State::Goodbye, Input::PlaybackDone) => {
                self.state = State::Done;
                out.push(Command::HangUp);
            }
            _ => {}
        }
        out
    }

    fn play_message(&mut self, out: &mut Vec<Command>) {
        self.state = State::Playing;
        out.push(Command::Play(vec![
            Say::Prompt(INTRO),
            Say::Envelope,
            Say::Audio,
        ]));
    }

    fn goodbye(&mut self, out: &mut Vec<Command>) {
        self.state = State::Goodbye;
        out.push(Command::Play(vec![Say::Prompt(GOODBYE)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn answered(t0: Instant) -> PlayOnPhone {
        let mut f = PlayOnPhone::new(T, 3);
        assert_eq!(f.handle(t0, Input::Answered), [Command::Load]);
        f
    }

    fn message() -> Command {
        Command::Play(vec![Say::Prompt(INTRO), Say::Envelope, Say::Audio])
    }

    #[test]
    fn plays_the_message_then_the_menu_and_says_goodbye_on_pound() {
        let t0 = Instant::now();
        let mut f = answered(t0);
        assert_eq!(f.handle(t0, Input::Loaded(true)), [message()]);
        assert_eq!(
            f.handle(t0, Input::PlaybackDone),
            [Command::Play(vec![Say::Prompt(MENU)])]
        );
        assert!(f.handle(t0, Input::PlaybackDone).is_empty());
        assert_eq!(f.poll_timeout(), Some(t0 + T));
        assert_eq!(
            f.handle(t0, Input::Dtmf('#')),
            [
                Command::StopPlayback,
                Command::Play(vec![Say::Prompt(GOODBYE)])
            ]
        );
        assert_eq!(f.handle(t0, Input::PlaybackDone), [Command::HangUp]);
        assert!(f.is_done());
    }

    #[test]
    fn one_replays_even_during_the_message_and_other_keys_do_not_cut_it() {
        let t0 = Instant::now();
        let mut f = answered(t0);
        f.handle(t0, Input::Loaded(true));
        assert!(f.handle(t0, Input::Dtmf('5')).is_empty(), "message goes on");
        assert_eq!(
            f.handle(t0, Input::Dtmf('1')),
            [Command::StopPlayback, message()]
        );
        f.handle(t0, Input::PlaybackDone);
        f.handle(t0, Input::PlaybackDone);
        assert_eq!(
            f.handle(t0, Input::Dtmf('7')),
            [
                Command::StopPlayback,
                Command::Play(vec![Say::Prompt(MENU)])
            ]
        );
        assert_eq!(
            f.handle(t0, Input::Dtmf('1')),
            [Command::StopPlayback, message()]
        );
    }

    #[test]
    fn menu_timeouts_repeat_it_then_say_goodbye() {
        let t0 = Instant::now();
        let mut f = PlayOnPhone::new(T, 2);
        f.handle(t0, Input::Answered);
        f.handle(t0, Input::Loaded(true));
        f.handle(t0, Input::PlaybackDone);
        f.handle(t0, Input::PlaybackDone);
        assert!(f.handle(t0 + T / 2, Input::Tick).is_empty());
        assert_eq!(
            f.handle(t0 + T, Input::Tick),
            [Command::Play(vec![Say::Prompt(MENU)])]
        );
        let t1 = t0 + T;
        f.handle(t1, Input::PlaybackDone);
        assert_eq!(
            f.handle(t1 + T, Input::Tick),
            [Command::Play(vec![Say::Prompt(GOODBYE)])]
        );
        assert_eq!(f.handle(t1 + T, Input::PlaybackDone), [Command::HangUp]);
    }

    #[test]
    fn a_missing_message_is_said_and_the_call_ends() {
        let t0 = Instant::now();
        let mut f = answered(t0);
        assert_eq!(
            f.handle(t0, Input::Loaded(false)),
            [Command::Play(vec![Say::Prompt(GONE), Say::Prompt(GOODBYE)])]
        );
        assert_eq!(f.handle(t0, Input::PlaybackDone), [Command::HangUp]);
    }

    #[test]
    fn hang_up_ends_it_anywhere() {
        let t0 = Instant::now();
        let mut f = answered(t0);
        f.handle(t0, Input::Loaded(true));
        assert!(f.handle(t0, Input::HungUp).is_empty());
        assert!(f.is_done());
        assert!(f.handle(t0, Input::PlaybackDone).is_empty());
    }
}
