//! Validated dial-plan types and diagnostics.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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
    /// `Domain`: SIP domain of the users.
    pub domain: Option<String>,
    /// `MaxRecordingDuration` (TOML: seconds, default 1200).
    pub max_recording_duration: Duration,
    /// `RecordingIdleTimeout` (TOML: seconds, default 5).
    pub recording_idle_timeout: Duration,
    /// `MinimumMessageDuration` (TOML: ms, default 1000); shorter recordings
    /// become a missed-call notice.
    pub minimum_message_duration: Duration,
    /// `[[Mailbox]]` entries in file order.
    pub mailboxes: Vec<MailboxEntry>,
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

/// All plans of a directory; mailbox ids, extensions, E.164 numbers and SIP
/// addresses are unique across them (checked at load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlans {
    pub(crate) plans: Vec<DialPlan>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl DialPlans {
    /// Plans in file-name order.
    pub fn plans(&self) -> &[DialPlan] {
        &self.plans
    }

    /// Non-fatal findings from loading (e.g. an E.164 outside the plan's country).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
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
