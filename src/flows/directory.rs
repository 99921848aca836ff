//! Dial by name: the caller spells a name on the keypad (2=ABC … 9=WXYZ) and picks the user
//! from the matches. A sans-IO sub-flow that a parent flow embeds (the auto attendant, the
//! deposit greeting, a subscriber's forward): the parent creates a
//! [`Directory`], sends it [`Input::Start`], forwards its own inputs while the directory runs,
//! carries out its [`Command`]s, and acts on [`Command::Finished`] — transfer to the chosen
//! mailbox, leave it a message, forward to it — so the directory never decides that itself.
//!
//! Spelling ends with `#`, or with a pause after at least one key; `*` starts the spelling
//! again, or, with nothing spelled, gives up ([`Outcome::Cancelled`]). One match is chosen at
//! once; several are read out, up to eight a page ("For NAME, press 1 …"), `9` for the next
//! page. Each match is said as the user's recorded name where the shell reports one
//! ([`Command::FindRecordedNames`]), else spelled with letter prompts. No match, a wrong key or
//! silence counts as a failure; after InputFailuresBeforeDisconnect of them the directory
//! finishes with [`Outcome::TooManyFailures`].
//!
//! Names come from the dial plan's `DisplayName`s, listed once per plan (`DialPlan::directory`;
//! see [`Listing::new`] for how they split into first and last name); mailboxes without one
//! are not in the directory.

use std::time::{Duration, Instant};

use std::sync::Arc;

pub use crate::dialplan::directory::Listing;
use crate::dialplan::{DialPlan, NameOrder};

/// Matches read out per page; `9` is the key for the next page.
const PAGE: usize = 8;
/// Longest spelling kept (a name longer than this is matched on its first letters).
const MAX_SPELLING: usize = 32;

/// The key a letter is on (ITU E.161: 2=ABC, 3=DEF, …, 7=PQRS, 9=WXYZ).
pub fn keypad_digit(letter: char) -> Option<char> {
    let d = match letter.to_ascii_uppercase() {
        'A'..='C' => '2',
        'D'..='F' => '3',
        'G'..='I' => '4',
        'J'..='L' => '5',
        'M'..='O' => '6',
        'P'..='S' => '7',
        'T'..='V' => '8',
        'W'..='Z' => '9',
        _ => return None,
    };
    Some(d)
}

/// `listing`'s name spelled out, one letter prompt each.
fn spelled(listing: &Listing) -> Vec<Say> {
    listing
        .letters()
        .map(|c| Say::Prompt(format!("letter-{}", c.to_ascii_lowercase())))
        .collect()
}

fn keys(letters: &str) -> String {
    letters.chars().filter_map(keypad_digit).collect()
}

/// How the directory searches and how patient it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectorySettings {
    /// `DialByNamePrimary`: what the caller is asked to spell.
    pub primary: NameOrder,
    /// `DialByNameSecondary`: also searched; its matches follow the primary ones.
    pub secondary: Option<NameOrder>,
    /// InputFailuresBeforeDisconnect: no matches, wrong keys and silences before giving up.
    pub input_failures: u32,
    /// How long to wait for a key (and the pause that ends a spelling).
    pub digit_timeout: Duration,
}

impl DirectorySettings {
    /// The plan's `DialByNamePrimary`/`Secondary` and InputFailuresBeforeDisconnect.
    pub fn for_plan(plan: &DialPlan, digit_timeout: Duration) -> Self {
        Self {
            primary: plan.dial_by_name_primary,
            secondary: plan.dial_by_name_secondary,
            input_failures: plan.input_failures_before_disconnect,
            digit_timeout,
        }
    }
}

/// Something to say: a shipped prompt, or the recorded name of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    Prompt(String),
    /// The mailbox's recorded name (`GreetingKind::Name`), by mailbox `Id`.
    RecordedName(String),
}

/// Something that happened, forwarded by the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin: ask for the spelling.
    Start,
    PlaybackDone,
    Dtmf(char),
    Tick,
    /// Answer to [`Command::FindRecordedNames`]: per mailbox asked, whether it has a
    /// recorded name.
    RecordedNames(Vec<bool>),
}

/// What the parent must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Play(Vec<Say>),
    StopPlayback,
    /// Which of these mailboxes (by `Id`) have a recorded name? Answer with
    /// [`Input::RecordedNames`], in the same order.
    FindRecordedNames(Vec<String>),
    /// The directory's part is over.
    Finished(Outcome),
}

/// What the directory asks of its parent while it runs: its [`Command`]s but `Finished`, for
/// parents whose own commands convert from it ([`Directory::step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Play(Vec<Say>),
    StopPlayback,
    FindRecordedNames(Vec<String>),
}

/// How a directory search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The caller chose this mailbox (`Id`); `name` says who it is (recorded or spelled),
    /// for the parent's "Transferring your call to NAME".
    Chosen { mailbox: String, name: Vec<Say> },
    /// `*` with nothing spelled: back to the parent's menu.
    Cancelled,
    /// InputFailuresBeforeDisconnect reached.
    TooManyFailures,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Spelling {
        digits: String,
    },
    /// Waiting for the shell to say which matches on `page` have recorded names.
    Looking {
        matches: Vec<usize>,
        page: usize,
    },
    /// Matches read out; waiting for the caller's pick.
    Choosing {
        matches: Vec<usize>,
        page: usize,
        recorded: Vec<bool>,
    },
    Done,
}

/// One dial-by-name search.
#[derive(Debug)]
pub struct Directory {
    listings: Arc<[Listing]>,
    settings: DirectorySettings,
    state: State,
    failures: u32,
    playing: bool,
    deadline: Option<Instant>,
}

impl Directory {
    /// A search of `listings` (the plan's `directory`, shared).
    pub fn new(listings: impl Into<Arc<[Listing]>>, settings: DirectorySettings) -> Self {
        Self {
            listings: listings.into(),
            settings,
            state: State::Idle,
            failures: 0,
            playing: false,
            deadline: None,
        }
    }

    /// True once [`Command::Finished`] has been given.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next instant the directory needs a `Tick`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Indexes of the listings whose spelling starts with `digits`: primary matches in
    /// alphabetical order (last name, then first name, for `LastFirst`), then the
    /// secondary-only ones likewise.
    fn matches(&self, digits: &str) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        for order in std::iter::once(self.settings.primary).chain(self.settings.secondary) {
            let mut hits: Vec<((&str, &str), usize)> = self
                .listings
                .iter()
                .enumerate()
                .filter(|(i, l)| {
                    !found.contains(i) && {
                        let s = l.spelling(order);
                        !s.is_empty() && keys(&s).starts_with(digits)
                    }
                })
                .map(|(i, l)| (l.sort_key(order), i))
                .collect();
            hits.sort();
            found.extend(hits.into_iter().map(|(_, i)| i));
        }
        found
    }

    fn spell_prompt(&self) -> Say {
        Say::Prompt(
            match self.settings.primary {
                NameOrder::LastFirst => "dir-spell-last",
                NameOrder::FirstLast => "dir-spell-first",
                NameOrder::SmtpAddress => "dir-spell-alias",
            }
            .to_owned(),
        )
    }

    fn play(&mut self, say: Vec<Say>, out: &mut Vec<Command>) {
        self.playing = true;
        self.deadline = None;
        out.push(Command::Play(say));
    }

    fn finish(&mut self, outcome: Outcome, out: &mut Vec<Command>) {
        self.state = State::Done;
        self.deadline = None;
        out.push(Command::Finished(outcome));
    }

    /// Asks for a (new) spelling after `lead`.
    fn ask(&mut self, mut lead: Vec<Say>, out: &mut Vec<Command>) {
        lead.push(self.spell_prompt());
        self.play(lead, out);
        self.state = State::Spelling {
            digits: String::new(),
        };
    }

    /// A failure: `then` is said after `why`, or the directory gives up.
    fn failure(&mut self, why: &str, then: Vec<Say>, out: &mut Vec<Command>) -> bool {
        self.failures += 1;
        if self.failures >= self.settings.input_failures {
            self.finish(Outcome::TooManyFailures, out);
            return false;
        }
        let mut say = vec![Say::Prompt(why.to_owned())];
        say.extend(then);
        self.play(say, out);
        true
    }

    fn search(&mut self, digits: &str, out: &mut Vec<Command>) {
        let matches = self.matches(digits);
        tracing::info!(keys = %digits, matches = matches.len(), "dial by name");
        if matches.is_empty() {
            let again = vec![self.spell_prompt()];
            if self.failure("dir-no-match", again, out) {
                self.state = State::Spelling {
                    digits: String::new(),
                };
            }
            return;
        }
        self.look(matches, 0, out);
    }

    /// Asks which matches of `page` have recorded names.
    fn look(&mut self, matches: Vec<usize>, page: usize, out: &mut Vec<Command>) {
        let ids = page_of(&matches, page)
            .iter()
            .map(|&i| self.listings[i].mailbox.clone())
            .collect();
        out.push(Command::FindRecordedNames(ids));
        self.state = State::Looking { matches, page };
    }

    fn name(&self, index: usize, recorded: bool) -> Vec<Say> {
        let l = &self.listings[index];
        if recorded {
            vec![Say::RecordedName(l.mailbox.clone())]
        } else {
            spelled(l)
        }
    }

    /// "For NAME, press 1. … For more names, press 9. To spell the name again, press star."
    fn page_prompt(&self, matches: &[usize], page: usize, recorded: &[bool]) -> Vec<Say> {
        let p = |s: &str| Say::Prompt(s.to_owned());
        let mut say = Vec::new();
        for (n, &i) in page_of(matches, page).iter().enumerate() {
            say.push(p("w-for"));
            say.extend(self.name(i, recorded.get(n).copied().unwrap_or(false)));
            say.extend([p("w-press"), p(&format!("digit-{}", n + 1))]);
        }
        if has_next(matches, page) {
            say.extend([p("dir-more"), p("w-press"), p("digit-9")]);
        }
        say.push(p("dir-spell-again"));
        say
    }

    /// [`Directory::handle`] for a parent flow: what the directory asks goes to `out` as the
    /// parent's own commands; the outcome comes back once the search is over.
    pub fn step<C: From<Asked>>(
        &mut self,
        now: Instant,
        input: Input,
        out: &mut Vec<C>,
    ) -> Option<Outcome> {
        let mut asked = Vec::new();
        self.handle(now, input, &mut asked);
        let mut finished = None;
        for cmd in asked {
            let asked = match cmd {
                Command::Play(say) => Asked::Play(say),
                Command::StopPlayback => Asked::StopPlayback,
                Command::FindRecordedNames(ids) => Asked::FindRecordedNames(ids),
                Command::Finished(outcome) => {
                    finished = Some(outcome);
                    continue;
                }
            };
            out.push(C::from(asked));
        }
        finished
    }

    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Command>) {
        match input {
            Input::PlaybackDone => {
                self.playing = false;
                if matches!(self.state, State::Spelling { .. } | State::Choosing { .. }) {
                    self.deadline = Some(now + self.settings.digit_timeout);
                }
                return;
            }
            Input::Tick => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.deadline = None;
                    self.timed_out(out);
                }
                return;
            }
            Input::Dtmf(_) if self.playing => {
                // Barge-in: the key counts, the prompt stops.
                out.push(Command::StopPlayback);
                self.playing = false;
            }
            _ => {}
        }
        self.deadline = None;
        match (std::mem::replace(&mut self.state, State::Idle), input) {
            (State::Idle, Input::Start) => self.ask(Vec::new(), out),
            (State::Spelling { mut digits }, Input::Dtmf(c)) => match c {
                '#' if digits.is_empty() => {
                    let again = vec![self.spell_prompt()];
                    if self.failure("sa-invalid", again, out) {
                        self.state = State::Spelling { digits };
                    }
                }
                '#' => self.search(&digits, out),
                '*' if digits.is_empty() => self.finish(Outcome::Cancelled, out),
                '*' => self.ask(Vec::new(), out),
                '0'..='9' => {
                    if digits.len() < MAX_SPELLING {
                        digits.push(c);
                    }
                    self.state = State::Spelling { digits };
                    self.deadline = Some(now + self.settings.digit_timeout);
                }
                _ => self.state = State::Spelling { digits },
            },
            (State::Looking { matches, page }, Input::RecordedNames(recorded)) => {
                if let [only] = matches[..] {
                    let name = self.name(only, recorded.first().copied().unwrap_or(false));
                    let mailbox = self.listings[only].mailbox.clone();
                    self.finish(Outcome::Chosen { mailbox, name }, out);
                    return;
                }
                self.failures = 0;
                let say = self.page_prompt(&matches, page, &recorded);
                self.play(say, out);
                self.state = State::Choosing {
                    matches,
                    page,
                    recorded,
                };
            }
            (
                State::Choosing {
                    matches,
                    page,
                    recorded,
                },
                Input::Dtmf(c),
            ) => {
                let shown = page_of(&matches, page);
                let pick = c
                    .to_digit(10)
                    .and_then(|d| (d as usize).checked_sub(1))
                    .filter(|&n| n < shown.len().min(PAGE));
                match (c, pick) {
                    (_, Some(n)) => {
                        let i = shown[n];
                        let name = self.name(i, recorded.get(n).copied().unwrap_or(false));
                        let mailbox = self.listings[i].mailbox.clone();
                        self.finish(Outcome::Chosen { mailbox, name }, out);
                    }
                    ('9', None) if has_next(&matches, page) => self.look(matches, page + 1, out),
                    ('*', None) => self.ask(Vec::new(), out),
                    _ => self.wrong_choice(matches, page, recorded, out),
                }
            }
            (state, _) => self.state = state,
        }
    }

    fn timed_out(&mut self, out: &mut Vec<Command>) {
        match std::mem::replace(&mut self.state, State::Idle) {
            // Keys without '#': the spelling is over when the caller stops typing.
            State::Spelling { digits } if !digits.is_empty() => self.search(&digits, out),
            State::Spelling { digits } => {
                let again = vec![self.spell_prompt()];
                if self.failure("sa-invalid", again, out) {
                    self.state = State::Spelling { digits };
                }
            }
            State::Choosing {
                matches,
                page,
                recorded,
            } => self.wrong_choice(matches, page, recorded, out),
            state => self.state = state,
        }
    }

    /// A wrong key or silence while choosing: the page again, or give up.
    fn wrong_choice(
        &mut self,
        matches: Vec<usize>,
        page: usize,
        recorded: Vec<bool>,
        out: &mut Vec<Command>,
    ) {
        let say = self.page_prompt(&matches, page, &recorded);
        if self.failure("sa-invalid", say, out) {
            self.state = State::Choosing {
                matches,
                page,
                recorded,
            };
        }
    }
}

fn page_of(matches: &[usize], page: usize) -> &[usize] {
    let start = (page * PAGE).min(matches.len());
    &matches[start..(start + PAGE).min(matches.len())]
}

fn has_next(matches: &[usize], page: usize) -> bool {
    matches.len() > (page + 1) * PAGE
}

#[cfg(test)]
mod tests;
