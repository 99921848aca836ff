//! The voice-mail vocabulary every layer shares: what a message is, which greetings a user
//! keeps, the MWI counts, the PIN policy.
//!
//! These types sit here, not in the store, so that the call flows (`flows`), MWI (`mwi`) and
//! the dial plans (`dialplan`) can speak of messages, greetings and PIN rules without
//! depending on the store that keeps them. Behaviour that needs the store stays there:
//! [`PinPolicy::check`] compares a new PIN with the hashes `store::pin` keeps.

/// What a stored message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A recorded voice message; counted in MWI `Voice-Message`.
    VoiceMail,
    /// A missed-call notice (caller hung up before recording); not counted in MWI.
    MissedCall,
}

impl MessageKind {
    /// The `X-UMGW-Kind` header value.
    pub fn as_header(self) -> &'static str {
        match self {
            MessageKind::VoiceMail => "voice-mail",
            MessageKind::MissedCall => "missed-call",
        }
    }

    /// Parses an `X-UMGW-Kind` header value (case-insensitive, surrounding blanks ignored).
    pub fn from_header(value: &str) -> Option<Self> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("voice-mail") {
            Some(MessageKind::VoiceMail)
        } else if v.eq_ignore_ascii_case("missed-call") {
            Some(MessageKind::MissedCall)
        } else {
            None
        }
    }
}

/// What the caller marked a voice mail as in the options after `#` (Exchange's caller
/// options, Asterisk's `review`): the stored message's `Importance`/`Priority` and
/// `Sensitivity` headers, and the urgent counts of MWI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Urgent (high importance); counted in the lamp's urgent counts.
    pub urgent: bool,
    /// Private (sensitivity private): mail clients refuse to forward it.
    pub private: bool,
}

/// The recordings a user keeps besides messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GreetingKind {
    /// The personal greeting callers hear.
    Personal,
    /// The extended-absence (away) greeting: while present, callers hear it instead.
    Away,
    /// The user's recorded name, spoken in the default greeting ("Alice Anders is not
    /// available...").
    Name,
    /// The busy greeting: callers diverted because the user was on the phone (Diversion
    /// `reason=user-busy`, cause 486) hear it instead of the personal greeting.
    Busy,
}

impl GreetingKind {
    /// File name of the recording in a mailbox directory (Maildir layout).
    pub fn file_name(self) -> &'static str {
        match self {
            GreetingKind::Personal => "greeting.wav",
            GreetingKind::Away => "away.wav",
            GreetingKind::Name => "name.wav",
            GreetingKind::Busy => "busy.wav",
        }
    }
}

/// Message counts for MWI (RFC 3842 `Voice-Message: new/old`).
///
/// Only voice mails count: `new` = unseen voice mails, `old` = seen voice mails. Missed-call
/// notices and trashed messages are not counted, so a missed call never lights the lamp.
/// The urgent counts (`Voice-Message: new/old (urgent_new/urgent_old)`) are the part of each
/// that the caller marked urgent ([`Marks::urgent`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Unseen voice mails.
    pub new: u32,
    /// Seen voice mails.
    pub old: u32,
    /// Unseen voice mails marked urgent (part of `new`).
    pub urgent_new: u32,
    /// Seen voice mails marked urgent (part of `old`).
    pub urgent_old: u32,
}

/// Rules a new PIN must satisfy (Exchange UM mailbox policy names in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinPolicy {
    /// Fewest digits \[MinPINLength\]; default 6.
    pub min_length: usize,
    /// Most digits accepted; default 24 (Exchange's maximum).
    pub max_length: usize,
    /// How many previous PINs may not be reused \[PINHistoryCount\]; default 5.
    pub history: usize,
    /// Accept trivial PINs (one repeated digit, ascending/descending runs, the extension)
    /// \[AllowCommonPatterns\]; default false.
    pub allow_common_patterns: bool,
    /// Failed log-ons before the mailbox locks \[MaxLogonAttempts\]; default 15.
    pub max_failed_attempts: u32,
    /// Days a PIN lasts before the user must change it at log-on \[PINLifetime\]; default
    /// 60; 0: it never expires.
    pub lifetime_days: u32,
}

/// Why a user must choose a new PIN at this log-on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinChange {
    /// Older than the plan's PINLifetime.
    Expired,
    /// Set by an administrator (`umgw mailbox set-pin`, `reset-pin`): the user chooses their own.
    SetByAdministrator,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self {
            min_length: 6,
            max_length: 24,
            history: 5,
            allow_common_patterns: false,
            max_failed_attempts: 15,
            lifetime_days: 60,
        }
    }
}

/// A voice mail's Voice Mail Preview (Exchange's name): what speech recognition made of the
/// recording, ready to print at the top of the message. Words the engine was unsure of are
/// already marked in `text` (in brackets).
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// The transcript, uncertain stretches `[in brackets]`.
    pub text: String,
    /// The engine's overall confidence was low: the message says so.
    pub low_confidence: bool,
}
