//! Validated dial-plan types and diagnostics.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::acl::{self, IpNet};
use crate::media::speech::Language;

/// How the call server addresses users in this plan (Exchange UM `UriType`).
/// Informational for resolution, which accepts every form (see `resolve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriType {
    /// Extension numbers from a PBX (`TelExtn`).
    TelExtn,
    /// E.164 numbers (`E164`).
    E164,
    /// SIP URIs, as Lync / Skype for Business uses (`SipName`).
    SipName,
}

impl UriType {
    /// Parses the TOML spelling.
    pub fn from_name(s: &str) -> Option<UriType> {
        match s {
            "TelExtn" => Some(UriType::TelExtn),
            "E164" => Some(UriType::E164),
            "SipName" => Some(UriType::SipName),
            _ => None,
        }
    }
}

/// Exchange UM `VoIPSecurity`: what the plan's peers must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoipSecurity {
    /// SIP over TCP/UDP, RTP (`Unsecured`, the default).
    #[default]
    Unsecured,
    /// SIP over mutual TLS, RTP (`SIPSecured`).
    SipSecured,
    /// SIP over mutual TLS, SRTP (`Secured`; what Lync pools require by default).
    Secured,
}

impl VoipSecurity {
    /// The TOML (Exchange) spellings, in order.
    pub const NAMES: [&'static str; 3] = ["Unsecured", "SIPSecured", "Secured"];

    /// Parses the Exchange spelling.
    pub fn from_name(s: &str) -> Option<VoipSecurity> {
        match s {
            "Unsecured" => Some(VoipSecurity::Unsecured),
            "SIPSecured" => Some(VoipSecurity::SipSecured),
            "Secured" => Some(VoipSecurity::Secured),
            _ => None,
        }
    }

    /// The Exchange spelling.
    pub fn name(self) -> &'static str {
        match self {
            VoipSecurity::Unsecured => "Unsecured",
            VoipSecurity::SipSecured => "SIPSecured",
            VoipSecurity::Secured => "Secured",
        }
    }

    /// True for the modes that need mutual TLS with every peer.
    pub fn needs_tls(self) -> bool {
        self != VoipSecurity::Unsecured
    }
}

/// Exchange UM `AudioCodec`: how messages are recorded. umgw records WAV only
/// (G.711 decoded to 16-bit PCM), which Exchange calls `G711`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioCodec {
    /// `Wav` or `G711`.
    #[default]
    Wav,
}

/// A prompt language as a plan names it: `DefaultLanguage` of the plan, `Language` of a
/// mailbox or auto attendant (which inherit the plan's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LanguageKey {
    /// The language (default en-US).
    pub language: Language,
    /// 1-based line of the key that names it in the plan file (for an inherited language,
    /// the plan's `DefaultLanguage`); 0 where no key names it (the en-US default).
    pub line: usize,
}

/// One `[[AutoAttendant]]` of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoAttendant {
    /// `Name` (unique within the plan).
    pub name: String,
    /// `PilotIdentifiers`: numbers or URIs that reach this attendant, as written.
    pub pilot_identifiers: Vec<String>,
    /// `OperatorExtension`: where "0" transfers; falls back to the plan's.
    pub operator_extension: Option<String>,
    /// `TimeZone` (default: the plan's), `BusinessHoursSchedule`, `HolidaySchedule`.
    pub schedule: super::schedule::Schedule,
    /// The business-hours menu (`BusinessHoursGreeting`, `BusinessHoursMenuPrompt`,
    /// `BusinessHoursKeyMapping`).
    pub business_hours: AttendantMenu,
    /// The after-hours menu (`AfterHours*`), also used on holidays.
    pub after_hours: AttendantMenu,
    /// `HolidayGreeting`: played instead of the after-hours greeting on a holiday.
    pub holiday_greeting: Option<String>,
    /// `Language`: the prompts callers hear; the attendant's own key, else the plan's.
    pub language: LanguageKey,
    /// `[[AutoAttendant.Menu]]`: submenus a key can open, by `Name`.
    pub menus: Vec<AttendantMenu>,
    /// `NameLookupEnabled` (default true): `DialByName` keys may be mapped.
    pub name_lookup_enabled: bool,
    /// What a dial-by-name match does: `CallSomeoneEnabled` (default true) transfers to the
    /// user, else `SendVoiceMsgEnabled` leaves a message; `None` when both are off.
    pub name_match: Option<NameMatch>,
    /// 1-based line of the `[[AutoAttendant]]` header.
    pub line: usize,
}

impl AutoAttendant {
    /// Every prompt name the attendant plays (greetings and menu prompts).
    pub fn prompt_names(&self) -> impl Iterator<Item = &str> {
        [&self.business_hours, &self.after_hours]
            .into_iter()
            .chain(&self.menus)
            .flat_map(|m| [&m.greeting, &m.prompt])
            .chain([&self.holiday_greeting])
            .filter_map(|p| p.as_deref())
    }

    /// The submenu called `name` (case-insensitive, as Exchange names are).
    pub fn menu(&self, name: &str) -> Option<&AttendantMenu> {
        self.menus
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }
}

/// One menu of an auto attendant: what it says and what each key does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttendantMenu {
    /// `BusinessHours`, `AfterHours` or the submenu's `Name`.
    pub name: String,
    /// Prompt played once when the call arrives (top-level menus only).
    pub greeting: Option<String>,
    /// Prompt that lists the choices; repeated after a wrong key or a time-out.
    pub prompt: Option<String>,
    /// Key mappings in file order; keys are unique within a menu.
    pub keys: Vec<KeyMapping>,
}

impl AttendantMenu {
    /// What `key` does in this menu.
    pub fn action(&self, key: char) -> Option<&KeyAction> {
        self.keys.iter().find(|k| k.key == key).map(|k| &k.action)
    }
}

/// One key of a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMapping {
    /// `0`-`9`, `*` or `#`.
    pub key: char,
    pub action: KeyAction,
}

/// What a key does (`Action` in a `KeyMapping` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// `Transfer`: to an extension, number or SIP URI; if the target is a mailbox of the plan,
    /// a failed transfer leaves a message there.
    Transfer(String),
    /// `Mailbox`: leave a message for this mailbox (an extension, number or URI of one).
    Mailbox(String),
    /// `Menu`: open the submenu of this name.
    Menu(String),
    /// `Operator`: transfer to the attendant's (else the plan's) OperatorExtension.
    Operator,
    /// `DialByExtension`: ask for an extension and transfer to it.
    DialByExtension,
    /// `DialByName`: spell a name and reach the user it finds (the attendant's `NameMatch`).
    DialByName,
    /// `MainMenu`: back to the top-level menu.
    MainMenu,
}

/// What reaching a user found by name does (Exchange's auto-attendant features).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMatch {
    /// `CallSomeoneEnabled`: transfer to the user; a failed transfer leaves a message.
    Transfer,
    /// `SendVoiceMsgEnabled` alone: leave the user a message without ringing.
    LeaveMessage,
}

/// How the directory spells a user (Exchange's `DialByNamePrimary`/`DialByNameSecondary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameOrder {
    /// `LastFirst`: last name, then first name.
    LastFirst,
    /// `FirstLast`: first name, then last name.
    FirstLast,
    /// `SMTPAddress`: the alias, the user part of the mailbox's `SipAddress` (Lync users'
    /// SIP address is their e-mail address), else its `Id`.
    SmtpAddress,
}

impl NameOrder {
    /// The Exchange spellings, in order.
    pub const NAMES: [&'static str; 3] = ["LastFirst", "FirstLast", "SMTPAddress"];

    /// Parses the Exchange spelling.
    pub fn from_name(s: &str) -> Option<NameOrder> {
        match s {
            "LastFirst" => Some(NameOrder::LastFirst),
            "FirstLast" => Some(NameOrder::FirstLast),
            "SMTPAddress" => Some(NameOrder::SmtpAddress),
            _ => None,
        }
    }
}

/// One `[[Peer]]`: an IP gateway or pool that routes calls into the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// `Address`: an IP (a /32 or /128) or a CIDR block without host bits (`crate::acl`).
    pub network: IpNet,
    /// `Name`.
    pub name: Option<String>,
    /// `CertificateName`: the FQDN the peer's TLS certificate must carry.
    pub certificate_name: Option<String>,
    /// 1-based line of the `[[Peer]]` header.
    pub line: usize,
}

impl PeerEntry {
    /// True if `ip` is inside this entry. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`, what a dual-stack socket reports) counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        acl::contains(&self.network, ip)
    }

    /// True if some address is inside both entries.
    pub fn overlaps(&self, other: &PeerEntry) -> bool {
        self.network.contains(&other.network) || other.network.contains(&self.network)
    }
}

impl fmt::Display for PeerEntry {
    /// `10.0.0.0/8`, or the bare address for a single host.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.network.prefix_len() == self.network.max_prefix_len() {
            write!(f, "{}", self.network.addr())
        } else {
            write!(f, "{}", self.network)
        }
    }
}

/// One dial plan (one `dialplans/*.toml` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    /// `Name`.
    pub name: String,
    /// `UriType`.
    pub uri_type: UriType,
    /// `NumberOfDigitsInExtension`.
    pub number_of_digits_in_extension: usize,
    /// `CountryOrRegionCode`, digits without `+`.
    pub country_or_region_code: String,
    /// `NationalNumberPrefix` (trunk prefix, e.g. `0` or `1`).
    pub national_number_prefix: Option<String>,
    /// `InternationalAccessCode` (e.g. `011`, `00`).
    pub international_access_code: Option<String>,
    /// `OutsideLineAccessCode` (e.g. `9`): dialled before an external number.
    pub outside_line_access_code: Option<String>,
    /// `Domain`: SIP domain of the users (required for `SipName`).
    pub domain: Option<String>,
    /// `PilotIdentifiers`: subscriber-access numbers or URIs, as written.
    pub pilot_identifiers: Vec<String>,
    /// `VoIPSecurity` (default `Unsecured`).
    pub voip_security: VoipSecurity,
    /// `MaxCallDuration` (TOML integer: minutes, default 30).
    pub max_call_duration: Duration,
    /// `MaxRecordingDuration` (TOML integer: seconds, default 1200).
    pub max_recording_duration: Duration,
    /// `RecordingIdleTimeout` (TOML integer: seconds, default 5).
    pub recording_idle_timeout: Duration,
    /// `MinimumMessageDuration` (TOML integer: ms, default 1000); shorter recordings
    /// become a missed-call notice.
    pub minimum_message_duration: Duration,
    /// `InputFailuresBeforeDisconnect` (default 3).
    pub input_failures_before_disconnect: u32,
    /// `MinPINLength` (4-24, default 6), `PINHistoryCount` (1-20, default 5),
    /// `AllowCommonPatterns` (default false), `MaxLogonAttempts` (default 15): Exchange UM's
    /// mailbox-policy PIN settings, for every mailbox of the plan.
    pub pin_policy: crate::domain::PinPolicy,
    /// `OperatorExtension`: a mailbox of this plan (checked at load).
    pub operator_extension: Option<String>,
    /// `DefaultLanguage` (default `en-US`): the prompts of subscriber access before log-on,
    /// and of mailboxes and auto attendants without a `Language` of their own.
    pub default_language: LanguageKey,
    /// `TimeZone` (an IANA name; default UTC): the zone the plan's users live in, which
    /// mailboxes and auto attendants without a `TimeZone` of their own inherit.
    pub time_zone: TimeZone,
    /// `AudioCodec` (default and only value: WAV).
    pub audio_codec: AudioCodec,
    /// `VoiceMailPreviewEnabled` (default true): voice mails get a transcript preview when
    /// a `[transcription]` engine is configured; mailboxes may override it.
    pub voice_mail_preview_enabled: bool,
    /// `DialByNamePrimary` (default `LastFirst`) and `DialByNameSecondary` (default
    /// `SMTPAddress`; `None` turns it off): what a caller spells to find a user.
    pub dial_by_name_primary: NameOrder,
    pub dial_by_name_secondary: Option<NameOrder>,
    /// `ConfiguredInCountryOrRegionGroups`, `ConfiguredInternationalGroups` and the
    /// `Allowed*Groups`: where call-back and transfers may dial outside the plan.
    pub dialing_rules: super::dialing::DialingRules,
    /// The plan's users as dial by name finds them (every mailbox with a `DisplayName`),
    /// listed once at load and shared by every search.
    pub directory: std::sync::Arc<[super::directory::Listing]>,
    /// `CallerReviewEnabled` (default true): `#` ending a recording offers the caller's
    /// options (listen, re-record, urgent, private, send) as Exchange UM does; false sends at
    /// once (Asterisk's `review=no`).
    pub caller_review_enabled: bool,
    /// `FaxServerURI` (Exchange's fax partner): a call whose caller sends the CNG fax tone is
    /// transferred here; without one it is hung up with a missed-call notice.
    pub fax_server_uri: Option<String>,
    /// `FaxDetectionWindow` (TOML integer: seconds, 0-60, default 10; 0 turns detection
    /// off): how long from the answer the caller's audio is listened to for the CNG tone.
    pub fax_detection_window: Duration,
    /// `[[Mailbox]]` entries in file order.
    pub mailboxes: Vec<MailboxEntry>,
    /// `[[AutoAttendant]]` entries in file order.
    pub auto_attendants: Vec<AutoAttendant>,
    /// `[[Peer]]` entries in file order; none means "any peer".
    pub peers: Vec<PeerEntry>,
    /// File the plan was read from.
    pub source: PathBuf,
}

/// One `[[Mailbox]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    /// `Id`: the store key, `[A-Za-z0-9._-]`, not starting with `.`.
    pub id: String,
    /// `Extension`: exactly `NumberOfDigitsInExtension` digits.
    pub extension: String,
    /// `E164`: `+` and 8-15 digits.
    pub e164: Option<String>,
    /// `SipAddress`: `sip:user@host`.
    pub sip_address: Option<String>,
    /// `DisplayName`.
    pub display_name: Option<String>,
    /// `NotifyTarget`: where the MWI NOTIFY goes.
    pub notify_target: Option<String>,
    /// `TimeZone`: where the user lives, in which subscriber access tells when a message
    /// came; the mailbox's own key, else the plan's (resolved at load).
    pub time_zone: TimeZone,
    /// `VoiceMailPreviewEnabled`: the mailbox's own key, else the plan's (resolved at load).
    pub voice_mail_preview: bool,
    /// `NotifyEmail` (and `NotifyEmailAttachAudio`): where a copy of each new message is
    /// e-mailed (`[email]`).
    pub notify_email: Option<crate::email::Recipient>,
    /// `Language`: what callers depositing here and the signed-in user hear; the mailbox's
    /// own key, else the plan's `DefaultLanguage` (resolved at load).
    pub language: LanguageKey,
    /// 1-based line of the `[[Mailbox]]` header in the plan file.
    pub line: usize,
}

/// A resolved called party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// The plan the mailbox belongs to.
    pub plan: &'a DialPlan,
    /// The mailbox.
    pub mailbox: &'a MailboxEntry,
}

/// Where [`DialPlans::route`] sends a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Leave a message for this mailbox (a diverted call, or a direct call to the user's voice-mail URI).
    Deposit(Resolved<'a>),
    /// The call is for a subscriber-access pilot of this plan.
    SubscriberAccess {
        /// The plan whose pilot was called.
        plan: &'a DialPlan,
    },
    /// The call is for an auto attendant.
    AutoAttendant {
        /// The attendant's plan.
        plan: &'a DialPlan,
        /// The attendant whose pilot was called.
        attendant: &'a AutoAttendant,
    },
    /// Nothing matches (the gateway answers 404).
    NotFound,
}

/// All plans of a directory. Mailbox ids, E.164 numbers and SIP addresses are
/// unique across them; extensions and extension-form pilots are unique across
/// plans that can receive the same call (see `DialPlan::peers`); checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlans {
    /// Shared: a call keeps the plan it was routed by (cheaply) across a reload.
    pub(crate) plans: Vec<std::sync::Arc<DialPlan>>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl DialPlans {
    /// Plans in file-name order.
    pub fn plans(&self) -> &[std::sync::Arc<DialPlan>] {
        &self.plans
    }

    /// `plan` (one of these plans, as a route or resolution returned it), to keep.
    pub fn shared(&self, plan: &DialPlan) -> Option<std::sync::Arc<DialPlan>> {
        self.plans
            .iter()
            .find(|p| std::ptr::eq(p.as_ref(), plan))
            .cloned()
    }

    /// Non-fatal findings from loading (e.g. an E.164 outside the plan's country).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Every `[[Peer]]` of every plan, in plan then file order.
    pub fn peers(&self) -> impl Iterator<Item = (&DialPlan, &PeerEntry)> {
        self.plans
            .iter()
            .flat_map(|plan| plan.peers.iter().map(move |peer| (&**plan, peer)))
    }

    /// Mailbox by store `Id` (for MWI re-sends and subscriber access).
    pub fn mailbox(&self, id: &str) -> Option<Resolved<'_>> {
        self.plans.iter().find_map(|plan| {
            let mailbox = plan.mailboxes.iter().find(|m| m.id == id)?;
            Some(Resolved { plan, mailbox })
        })
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The plan set is not loaded.
    Error,
    /// Loaded, but probably not what the operator meant.
    Warning,
}

/// A finding about a dial-plan file, with a 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or directory) concerned.
    pub file: PathBuf,
    /// 1-based line; 0 when the finding has no position (e.g. unreadable file).
    pub line: usize,
    /// 1-based column in characters; 0 with `line` 0.
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, quoting the value.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error: message`, the format editors and CI jump to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {sev}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {sev}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for Diagnostic {}
