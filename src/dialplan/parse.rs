//! Reading one plan file into a validated `DialPlan`, collecting every error.
//!
//! serde's `deny_unknown_fields` stops at the first problem, and an operator
//! fixing a file one error per run is the failure we want to avoid. So the
//! TOML is first read into a generic tree that keeps a span on every key and
//! value (`toml::Spanned`), and the schema — required keys, unknown keys
//! (the `deny_unknown_fields` rule), types, value checks — is applied by hand,
//! reporting all findings with their line and column.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::model::{Diagnostic, DialPlan, MailboxEntry, Severity, UriType};
use super::resolve::{parse_sip_uri, same_sip_address};

/// A TOML value with spans on every nested key and value.
#[derive(Debug)]
enum Node {
    Str(String),
    Int(i64),
    Other(&'static str),
    Array(Vec<Spanned<Node>>),
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Other(k) => k,
            Node::Array(_) => "an array",
            Node::Table(_) => "a table",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Other("an integer out of range"), Node::Int))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other("a float"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other("a boolean"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Spanned<Node>>()? {
            out.push(v);
        }
        Ok(Node::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            out.push((k, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Table(out))
    }
}

/// Byte offset → 1-based (line, column in characters).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Position of one checked value, for cross-file duplicate reports.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Positions of a mailbox's unique keys: Id, Extension, E164, SipAddress.
#[derive(Debug, Clone, Default)]
pub(crate) struct MailboxPos {
    pub id: Pos,
    pub extension: Pos,
    pub e164: Pos,
    pub sip_address: Pos,
}

/// A plan with the positions the cross-plan checks need.
#[derive(Debug)]
pub(crate) struct ParsedPlan {
    /// False if the file had errors: use `plan` for duplicate checks only.
    pub ok: bool,
    pub plan: DialPlan,
    pub name_pos: Pos,
    pub mailbox_pos: Vec<MailboxPos>,
}

/// Collects diagnostics for one file.
struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn pos(&self, span: Range<usize>) -> Pos {
        let (line, column) = line_col(self.text, span.start);
        Pos { line, column }
    }

    fn report(&mut self, severity: Severity, span: Range<usize>, message: String) {
        let Pos { line, column } = self.pos(span);
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            severity,
            message,
        });
    }

    fn error(&mut self, span: Range<usize>, message: String) {
        self.report(Severity::Error, span, message);
    }
}

/// The keys of one TOML table, consumed by name; leftovers are unknown keys.
struct Table<'n> {
    what: &'static str,
    span: Range<usize>,
    entries: Vec<(&'n Spanned<String>, &'n Spanned<Node>, bool)>,
}

impl<'n> Table<'n> {
    fn new(
        what: &'static str,
        span: Range<usize>,
        entries: &'n [(Spanned<String>, Spanned<Node>)],
    ) -> Self {
        let entries = entries.iter().map(|(k, v)| (k, v, false)).collect();
        Table {
            what,
            span,
            entries,
        }
    }

    fn take(&mut self, key: &str) -> Option<&'n Spanned<Node>> {
        let e = self
            .entries
            .iter_mut()
            .find(|(k, _, _)| k.get_ref() == key)?;
        e.2 = true;
        Some(e.1)
    }

    fn string(&mut self, cx: &mut Ctx<'_>, key: &str, required: bool) -> Option<Spanned<String>> {
        match self.take(key) {
            Some(v) => match v.get_ref() {
                Node::Str(s) => Some(Spanned::new(v.span(), s.clone())),
                other => {
                    let msg = format!("{key} must be a string, found {}", other.kind());
                    cx.error(v.span(), msg);
                    None
                }
            },
            None => {
                if required {
                    let msg = format!("missing required key {key}{}", self.what);
                    cx.error(self.span.clone(), msg);
                }
                None
            }
        }
    }

    fn int(&mut self, cx: &mut Ctx<'_>, key: &str, required: bool) -> Option<Spanned<i64>> {
        match self.take(key) {
            Some(v) => match v.get_ref() {
                Node::Int(i) => Some(Spanned::new(v.span(), *i)),
                other => {
                    let msg = format!("{key} must be an integer, found {}", other.kind());
                    cx.error(v.span(), msg);
                    None
                }
            },
            None => {
                if required {
                    let msg = format!("missing required key {key}{}", self.what);
                    cx.error(self.span.clone(), msg);
                }
                None
            }
        }
    }

    fn finish(self, cx: &mut Ctx<'_>, known: &[&str]) {
        for (k, _, used) in self.entries {
            if !used {
                let msg = format!(
                    "unknown key {}{}; expected one of {}",
                    k.get_ref(),
                    self.what,
                    known.join(", ")
                );
                cx.error(k.span(), msg);
            }
        }
    }
}

const PLAN_KEYS: &[&str] = &[
    "Name",
    "UriType",
    "NumberOfDigitsInExtension",
    "CountryOrRegionCode",
    "NationalNumberPrefix",
    "InternationalAccessCode",
    "Domain",
    "MaxRecordingDuration",
    "RecordingIdleTimeout",
    "MinimumMessageDuration",
    "Mailbox",
];

const MAILBOX_KEYS: &[&str] = &[
    "Id",
    "Extension",
    "E164",
    "SipAddress",
    "DisplayName",
    "NotifyTarget",
];

/// Parses and checks one file. Returns the (possibly partial, see
/// `ParsedPlan::ok`) plan unless the TOML itself is unreadable, and all
/// diagnostics (errors and warnings).
pub(crate) fn parse_plan(file: &Path, text: &str) -> (Option<ParsedPlan>, Vec<Diagnostic>) {
    let mut cx = Ctx {
        file,
        text,
        diags: Vec::new(),
    };
    let root = match toml::from_str::<Node>(text) {
        Ok(Node::Table(t)) => t,
        Ok(_) => Vec::new(),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            // toml's messages can span lines; keep one diagnostic per line.
            let msg = e.message().trim().replace('\n', "; ");
            let msg = if msg.contains("$__toml_private_datetime") {
                "dates and times are not dial-plan values; quote the value".to_string()
            } else {
                format!("TOML syntax: {msg}")
            };
            cx.error(span, msg);
            return (None, cx.diags);
        }
    };
    let mut t = Table::new("", 0..0, &root);
    let name = t.string(&mut cx, "Name", true);
    let uri_type = t.string(&mut cx, "UriType", true);
    let digits = t.int(&mut cx, "NumberOfDigitsInExtension", true);
    let cc = t.string(&mut cx, "CountryOrRegionCode", true);
    let nnp = t.string(&mut cx, "NationalNumberPrefix", false);
    let iac = t.string(&mut cx, "InternationalAccessCode", false);
    let domain = t.string(&mut cx, "Domain", false);
    let max_rec = t.int(&mut cx, "MaxRecordingDuration", false);
    let idle = t.int(&mut cx, "RecordingIdleTimeout", false);
    let min_msg = t.int(&mut cx, "MinimumMessageDuration", false);
    let mailbox_node = t.take("Mailbox");
    t.finish(&mut cx, PLAN_KEYS);

    if let Some(n) = &name {
        check_id(&mut cx, "Name", n);
    }
    let uri_type = uri_type.and_then(|u| {
        let parsed = UriType::from_name(u.get_ref());
        if parsed.is_none() {
            let msg = format!(
                "UriType \"{}\" is not one of TelExtn, E164, SipName",
                u.get_ref()
            );
            cx.error(u.span(), msg);
        }
        parsed
    });
    let digits = digits.and_then(|d| {
        let ok = (1..=20).contains(d.get_ref());
        if !ok {
            let msg = format!(
                "NumberOfDigitsInExtension {} must be between 1 and 20",
                d.get_ref()
            );
            cx.error(d.span(), msg);
        }
        ok.then(|| *d.get_ref() as usize)
    });
    if let Some(c) = &cc {
        check_digits(&mut cx, "CountryOrRegionCode", c, 1..=3);
    }
    for (key, v) in [
        ("NationalNumberPrefix", &nnp),
        ("InternationalAccessCode", &iac),
    ] {
        if let Some(v) = v {
            check_digits(&mut cx, key, v, 1..=4);
        }
    }
    if let Some(d) = &domain {
        let ok = !d.get_ref().is_empty()
            && d.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !ok {
            cx.error(
                d.span(),
                format!("Domain \"{}\" is not a host name", d.get_ref()),
            );
        }
    }
    let max_rec = duration(
        &mut cx,
        "MaxRecordingDuration",
        max_rec,
        1..=6000,
        1200,
        Duration::from_secs,
    );
    let idle = duration(
        &mut cx,
        "RecordingIdleTimeout",
        idle,
        1..=300,
        5,
        Duration::from_secs,
    );
    let min_msg = duration(
        &mut cx,
        "MinimumMessageDuration",
        min_msg,
        0..=60_000,
        1000,
        Duration::from_millis,
    );

    let mut mailboxes = Vec::new();
    let mut mailbox_pos = Vec::new();
    match mailbox_node.map(|n| (n.span(), n.get_ref())) {
        None => {}
        Some((_, Node::Array(items))) => {
            for item in items {
                let entries = match item.get_ref() {
                    Node::Table(e) => e,
                    other => {
                        let msg = format!("each Mailbox must be a table, found {}", other.kind());
                        cx.error(item.span(), msg);
                        continue;
                    }
                };
                if let Some((m, p)) =
                    parse_mailbox(&mut cx, item.span(), entries, digits, cc.as_ref())
                {
                    mailboxes.push(m);
                    mailbox_pos.push(p);
                }
            }
        }
        Some((span, other)) => {
            let msg = format!(
                "Mailbox must be an array of tables ([[Mailbox]]), found {}",
                other.kind()
            );
            cx.error(span, msg);
        }
    }
    if mailboxes.is_empty() && mailbox_node.is_none() {
        cx.report(
            Severity::Warning,
            0..0,
            "plan has no [[Mailbox]] entries".to_string(),
        );
    }

    // A plan with errors is still returned (marked) so that duplicates
    // against its valid parts are reported in the same run.
    let ok = !cx.diags.iter().any(|d| d.severity == Severity::Error);
    let name_pos = name.as_ref().map(|n| cx.pos(n.span())).unwrap_or_default();
    let plan = ParsedPlan {
        ok,
        name_pos,
        plan: DialPlan {
            name: name.map(Spanned::into_inner).unwrap_or_default(),
            uri_type: uri_type.unwrap_or(UriType::TelExtn),
            number_of_digits_in_extension: digits.unwrap_or(0),
            country_or_region_code: cc.map(Spanned::into_inner).unwrap_or_default(),
            national_number_prefix: nnp.map(Spanned::into_inner),
            international_access_code: iac.map(Spanned::into_inner),
            domain: domain.map(|d| d.into_inner().to_ascii_lowercase()),
            max_recording_duration: max_rec,
            recording_idle_timeout: idle,
            minimum_message_duration: min_msg,
            mailboxes,
            source: file.to_path_buf(),
        },
        mailbox_pos,
    };
    (Some(plan), cx.diags)
}

fn duration(
    cx: &mut Ctx<'_>,
    key: &str,
    v: Option<Spanned<i64>>,
    range: std::ops::RangeInclusive<i64>,
    default: u64,
    unit: fn(u64) -> Duration,
) -> Duration {
    match v {
        None => unit(default),
        Some(v) if range.contains(v.get_ref()) => {
            unit(u64::try_from(*v.get_ref()).unwrap_or(default))
        }
        Some(v) => {
            let msg = format!(
                "{key} {} must be between {} and {}",
                v.get_ref(),
                range.start(),
                range.end()
            );
            cx.error(v.span(), msg);
            unit(default)
        }
    }
}

fn check_digits(
    cx: &mut Ctx<'_>,
    key: &str,
    v: &Spanned<String>,
    len: std::ops::RangeInclusive<usize>,
) {
    let s = v.get_ref();
    if !len.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        let msg = format!(
            "{key} \"{s}\" must be {} to {} digits",
            len.start(),
            len.end()
        );
        cx.error(v.span(), msg);
    }
}

/// Ids name mailbox directories: no separators, no hidden or `..` names.
fn check_id(cx: &mut Ctx<'_>, key: &str, v: &Spanned<String>) -> bool {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        let msg = format!("{key} \"{s}\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'");
        cx.error(v.span(), msg);
    }
    ok
}

fn parse_mailbox(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    entries: &[(Spanned<String>, Spanned<Node>)],
    digits: Option<usize>,
    cc: Option<&Spanned<String>>,
) -> Option<(MailboxEntry, MailboxPos)> {
    let mut t = Table::new(" in [[Mailbox]]", span.clone(), entries);
    let id = t.string(cx, "Id", true);
    let ext = t.string(cx, "Extension", true);
    let e164 = t.string(cx, "E164", false);
    let sip = t.string(cx, "SipAddress", false);
    let display = t.string(cx, "DisplayName", false);
    let notify = t.string(cx, "NotifyTarget", false);
    t.finish(cx, MAILBOX_KEYS);

    if let Some(id) = &id {
        check_id(cx, "Id", id);
    }
    if let Some(x) = &ext {
        let s = x.get_ref();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            cx.error(
                x.span(),
                format!("extension \"{s}\" must contain only digits 0-9"),
            );
        } else if let Some(n) = digits.filter(|&n| n != s.len()) {
            let msg = format!(
                "extension \"{s}\" has {} digits; NumberOfDigitsInExtension is {n}",
                s.len()
            );
            cx.error(x.span(), msg);
        }
    }
    if let Some(e) = &e164 {
        let s = e.get_ref();
        let digits = s.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || s.len() == digits.len()
        {
            cx.error(
                e.span(),
                format!("E164 \"{s}\" must be + followed by 8 to 15 digits"),
            );
        } else if let Some(cc) = cc.filter(|cc| !digits.starts_with(cc.get_ref().as_str())) {
            let msg = format!("E164 \"{s}\" does not start with CountryOrRegionCode {}; national dialled forms will not reach it", cc.get_ref());
            cx.report(Severity::Warning, e.span(), msg);
        }
    }
    if let Some(s) = &sip {
        if parse_sip_uri(s.get_ref()).and_then(|u| u.user).is_none() {
            let msg = format!(
                "SipAddress \"{}\" is not a sip: or sips: URI with user@host",
                s.get_ref()
            );
            cx.error(s.span(), msg);
        }
    }
    if let Some(n) = &notify {
        if parse_sip_uri(n.get_ref()).is_none() {
            let msg = format!(
                "NotifyTarget \"{}\" is not a sip: or sips: URI",
                n.get_ref()
            );
            cx.error(n.span(), msg);
        }
    }
    if let Some(d) = &display {
        // It is copied into SIP and MIME headers: CR/LF would inject headers.
        if d.get_ref().chars().any(char::is_control) {
            cx.error(
                d.span(),
                "DisplayName must not contain control characters".to_string(),
            );
        }
    }
    let (id, ext) = (id?, ext?);
    let pos = MailboxPos {
        id: cx.pos(id.span()),
        extension: cx.pos(ext.span()),
        e164: e164.as_ref().map(|e| cx.pos(e.span())).unwrap_or_default(),
        sip_address: sip.as_ref().map(|s| cx.pos(s.span())).unwrap_or_default(),
    };
    let entry = MailboxEntry {
        id: id.into_inner(),
        extension: ext.into_inner(),
        e164: e164.map(Spanned::into_inner),
        sip_address: sip.map(Spanned::into_inner),
        display_name: display.map(Spanned::into_inner),
        notify_target: notify.map(Spanned::into_inner),
        line: cx.pos(span).line,
    };
    Some((entry, pos))
}

/// First occurrence of a unique value.
struct First<'a> {
    file: &'a Path,
    line: usize,
    owner: String,
}

/// Reports duplicate plan names and mailbox keys across `plans` (in order),
/// at the second occurrence, naming the first's file:line.
pub(crate) fn check_duplicates(plans: &[ParsedPlan]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut seen: HashMap<(&'static str, String), First<'_>> = HashMap::new();
    let mut sips: Vec<(&str, First<'_>)> = Vec::new();
    for pp in plans {
        let file = pp.plan.source.as_path();
        let mut dup = |kind: &str, value: &str, pos: Pos, what: String, first: &First<'_>| {
            diags.push(Diagnostic {
                file: file.to_path_buf(),
                line: pos.line,
                column: pos.column,
                severity: Severity::Error,
                message: format!(
                    "duplicate {kind} \"{value}\"{what}; first used by {} at {}:{}",
                    first.owner,
                    first.file.display(),
                    first.line
                ),
            });
        };
        let mut keys = Vec::new();
        if !pp.plan.name.is_empty() {
            keys.push(("Name", pp.plan.name.as_str(), pp.name_pos, None));
        }
        for (m, pos) in pp.plan.mailboxes.iter().zip(&pp.mailbox_pos) {
            keys.push(("Id", m.id.as_str(), pos.id, Some(m.id.as_str())));
            keys.push((
                "extension",
                m.extension.as_str(),
                pos.extension,
                Some(m.id.as_str()),
            ));
            if let Some(e) = &m.e164 {
                keys.push(("E164", e.as_str(), pos.e164, Some(m.id.as_str())));
            }
            if let Some(s) = &m.sip_address {
                // sip:/sips: and host case do not make a different user.
                match sips.iter().find(|(other, _)| same_sip_address(other, s)) {
                    Some((_, first)) => dup(
                        "SipAddress",
                        s,
                        pos.sip_address,
                        format!(" (mailbox \"{}\")", m.id),
                        first,
                    ),
                    None => {
                        let owner = format!("mailbox \"{}\"", m.id);
                        sips.push((
                            s,
                            First {
                                file,
                                line: pos.sip_address.line,
                                owner,
                            },
                        ));
                    }
                }
            }
        }
        for (kind, value, pos, mailbox) in keys {
            let what = mailbox.map_or(String::new(), |id| format!(" (mailbox \"{id}\")"));
            match seen.get(&(kind, value.to_string())) {
                Some(first) => dup(kind, value, pos, what, first),
                None => {
                    let owner = match mailbox {
                        Some(id) => format!("mailbox \"{id}\""),
                        None => format!("plan \"{value}\""),
                    };
                    seen.insert(
                        (kind, value.to_string()),
                        First {
                            file,
                            line: pos.line,
                            owner,
                        },
                    );
                }
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use crate::dialplan::{load_files, load_str, Severity, UriType};
    use std::path::Path;
    use std::time::Duration;

    const HEAD: &str = "Name = \"contoso\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n";

    /// Lints `text` (named `p.toml`) and renders every diagnostic.
    fn lint(text: &str) -> Vec<String> {
        match load_str(Path::new("p.toml"), text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn good_plan_with_defaults() {
        let text = format!("{HEAD}Domain = \"Contoso.COM\"\n\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sip:alice@contoso.com\"\nDisplayName = \"Alice\"\nNotifyTarget = \"sip:127.0.0.1:5099\"\n");
        let p = load_str(Path::new("p.toml"), &text).unwrap();
        assert_eq!(
            (p.name.as_str(), p.uri_type, p.number_of_digits_in_extension),
            ("contoso", UriType::TelExtn, 4)
        );
        assert_eq!(p.domain.as_deref(), Some("contoso.com"));
        assert_eq!(p.max_recording_duration, Duration::from_secs(1200));
        assert_eq!(p.recording_idle_timeout, Duration::from_secs(5));
        assert_eq!(p.minimum_message_duration, Duration::from_millis(1000));
        let m = &p.mailboxes[0];
        assert_eq!(
            (m.id.as_str(), m.extension.as_str(), m.line),
            ("alice", "1001", 7)
        );
        assert_eq!(m.notify_target.as_deref(), Some("sip:127.0.0.1:5099"));
    }

    #[test]
    fn semantic_errors_all_reported_with_positions() {
        let text = format!(
            "{HEAD}Colour = \"blue\"\nMaxRecordingDuration = 0\n\n[[Mailbox]]\nId = \"../x\"\nExtension = \"101\"\nE164 = \"14255551001\"\nSipAddress = \"alice@contoso.com\"\n\n[[Mailbox]]\nId = \"bob\"\nExtension = \"10a2\"\nNotifyTarget = \"mailto:bob\"\nDisplayName = \"Bob\\r\\nX-Evil: 1\"\nPin = 1234\n\n[[Mailbox]]\nExtension = 1003\n"
        );
        assert_eq!(
            lint(&text),
            vec![
                "p.toml:5:1: error: unknown key Colour; expected one of Name, UriType, NumberOfDigitsInExtension, CountryOrRegionCode, NationalNumberPrefix, InternationalAccessCode, Domain, MaxRecordingDuration, RecordingIdleTimeout, MinimumMessageDuration, Mailbox".to_string(),
                "p.toml:6:24: error: MaxRecordingDuration 0 must be between 1 and 6000".to_string(),
                "p.toml:9:6: error: Id \"../x\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'".to_string(),
                "p.toml:10:13: error: extension \"101\" has 3 digits; NumberOfDigitsInExtension is 4".to_string(),
                "p.toml:11:8: error: E164 \"14255551001\" must be + followed by 8 to 15 digits".to_string(),
                "p.toml:12:14: error: SipAddress \"alice@contoso.com\" is not a sip: or sips: URI with user@host".to_string(),
                "p.toml:16:13: error: extension \"10a2\" must contain only digits 0-9".to_string(),
                "p.toml:17:16: error: NotifyTarget \"mailto:bob\" is not a sip: or sips: URI".to_string(),
                "p.toml:18:15: error: DisplayName must not contain control characters".to_string(),
                "p.toml:19:1: error: unknown key Pin in [[Mailbox]]; expected one of Id, Extension, E164, SipAddress, DisplayName, NotifyTarget".to_string(),
                "p.toml:21:1: error: missing required key Id in [[Mailbox]]".to_string(),
                "p.toml:22:13: error: Extension must be a string, found an integer".to_string(),
            ]
        );
    }

    #[test]
    fn plan_level_errors() {
        let text =
            "Name = \"a b\"\nUriType = \"Tel\"\nNumberOfDigitsInExtension = \"4\"\nMailbox = 3\n";
        assert_eq!(
            lint(text),
            vec![
                "p.toml:1:1: error: missing required key CountryOrRegionCode",
                "p.toml:1:8: error: Name \"a b\" must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'",
                "p.toml:2:11: error: UriType \"Tel\" is not one of TelExtn, E164, SipName",
                "p.toml:3:29: error: NumberOfDigitsInExtension must be an integer, found a string",
                "p.toml:4:11: error: Mailbox must be an array of tables ([[Mailbox]]), found an integer",
            ]
        );
    }

    #[test]
    fn syntax_error_position() {
        assert_eq!(
            lint("Name = \"contoso\nUriType = 1\n"),
            vec!["p.toml:1:16: error: TOML syntax: invalid basic string"]
        );
        assert_eq!(
            lint(&format!("{HEAD}[[Mailbox]]\nId = \"a\"\nId = \"b\"\n")),
            vec!["p.toml:7:1: error: TOML syntax: duplicate key `Id` in table `Mailbox`"]
        );
        assert_eq!(
            lint(&format!("{HEAD}When = 2024-01-01\n")),
            vec!["p.toml:5:8: error: dates and times are not dial-plan values; quote the value"]
        );
    }

    #[test]
    fn duplicates_across_plans() {
        let a = format!("{HEAD}[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sip:alice@contoso.com\"\n");
        let b = "Name = \"contoso\"\nUriType = \"E164\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nE164 = \"+14255551001\"\nSipAddress = \"sips:alice@CONTOSO.com\"\n";
        let err =
            load_files([(Path::new("a.toml"), a.as_str()), (Path::new("b.toml"), b)]).unwrap_err();
        let got: Vec<String> = err.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec![
                "b.toml:1:8: error: duplicate Name \"contoso\"; first used by plan \"contoso\" at a.toml:1",
                "b.toml:7:6: error: duplicate Id \"alice\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:6",
                "b.toml:8:13: error: duplicate extension \"1001\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:7",
                "b.toml:9:8: error: duplicate E164 \"+14255551001\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:8",
                "b.toml:10:14: error: duplicate SipAddress \"sips:alice@CONTOSO.com\" (mailbox \"alice\"); first used by mailbox \"alice\" at a.toml:9",
            ]
        );
        assert!(err.iter().all(|d| d.severity == Severity::Error));
    }

    #[test]
    fn warnings_do_not_fail() {
        let a = format!(
            "{HEAD}[[Mailbox]]\nId = \"x\"\nExtension = \"1001\"\nE164 = \"+442079460001\"\n"
        );
        let plans = load_files([(Path::new("a.toml"), a.as_str())]).unwrap();
        let w: Vec<String> = plans.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(w, vec!["a.toml:8:8: warning: E164 \"+442079460001\" does not start with CountryOrRegionCode 1; national dialled forms will not reach it"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*", lines in proptest::collection::vec("(Name|Id|Extension|E164|\\[\\[Mailbox\\]\\]|UriType|X) ?= ?(\"[0-9a-z+:@.]{0,12}\"|[0-9]{1,3}|\\[)?", 0..12)) {
            let _ = load_str(Path::new("p.toml"), &s);
            let _ = load_str(Path::new("p.toml"), &format!("{HEAD}{}", lines.join("\n")));
        }
    }
}
