//! The generic TOML tree with spans, and typed access to one table's keys
//! that records every problem (see `parse` for why not serde directly).

use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::model::{Diagnostic, LanguageKey, Severity};
use super::schedule::parse_time_zone;
use super::values::{is_language_tag, parse_duration};
use crate::media::speech::Language;

/// A TOML value with spans on every nested key and value.
#[derive(Debug)]
pub(crate) enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    Other(&'static str),
    Array(Vec<Spanned<Node>>),
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Bool(_) => "a boolean",
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
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
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

/// Collects diagnostics for one file.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub(crate) fn pos(&self, span: Range<usize>) -> Pos {
        let (line, column) = line_col(self.text, span.start);
        Pos { line, column }
    }

    pub(crate) fn report(&mut self, severity: Severity, span: Range<usize>, message: String) {
        let Pos { line, column } = self.pos(span);
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            severity,
            message,
        });
    }

    pub(crate) fn error(&mut self, span: Range<usize>, message: String) {
        self.report(Severity::Error, span, message);
    }
}

/// The keys of one TOML table, consumed by name; leftovers are unknown keys.
pub(crate) struct Table<'n> {
    what: &'static str,
    span: Range<usize>,
    entries: Vec<(&'n Spanned<String>, &'n Spanned<Node>, bool)>,
}

impl<'n> Table<'n> {
    pub(crate) fn new(
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

    pub(crate) fn take(&mut self, key: &str) -> Option<&'n Spanned<Node>> {
        let e = self
            .entries
            .iter_mut()
            .find(|(k, _, _)| k.get_ref() == key)?;
        e.2 = true;
        Some(e.1)
    }

    pub(crate) fn string(
        &mut self,
        cx: &mut Ctx<'_>,
        key: &str,
        required: bool,
    ) -> Option<Spanned<String>> {
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

    pub(crate) fn int(
        &mut self,
        cx: &mut Ctx<'_>,
        key: &str,
        required: bool,
    ) -> Option<Spanned<i64>> {
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

    pub(crate) fn finish(self, cx: &mut Ctx<'_>, known: &[&str]) {
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

impl<'n> Table<'n> {
    /// A string or an array of strings (a single string is a one-item list).
    /// An optional integer within `range`; out of range or mistyped: an error and `default`.
    pub(crate) fn int_in(
        &mut self,
        cx: &mut Ctx<'_>,
        key: &str,
        range: RangeInclusive<i64>,
        default: i64,
    ) -> i64 {
        match self.int(cx, key, false) {
            Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                let msg = format!(
                    "{key} {} must be between {} and {}",
                    v.get_ref(),
                    range.start(),
                    range.end()
                );
                cx.error(v.span(), msg);
                default
            }
            None => default,
        }
    }

    /// An optional `true`/`false`.
    pub(crate) fn bool(&mut self, cx: &mut Ctx<'_>, key: &str, default: bool) -> bool {
        self.optional_bool(cx, key)
            .map_or(default, Spanned::into_inner)
    }

    /// An optional `true`/`false` and where it was; mistyped: an error and `None`.
    pub(crate) fn optional_bool(&mut self, cx: &mut Ctx<'_>, key: &str) -> Option<Spanned<bool>> {
        let v = self.take(key)?;
        match v.get_ref() {
            Node::Bool(b) => Some(Spanned::new(v.span(), *b)),
            other => {
                let msg = format!("{key} must be true or false, found {}", other.kind());
                cx.error(v.span(), msg);
                None
            }
        }
    }

    /// An optional `TimeZone`: an IANA name, looked up in the compiled-in zone database
    /// (`schedule::parse_time_zone`, the one parser for zones). Unknown: an error and `None`.
    pub(crate) fn time_zone(&mut self, cx: &mut Ctx<'_>, key: &str) -> Option<TimeZone> {
        let name = self.string(cx, key, false)?;
        parse_time_zone(name.get_ref())
            .map_err(|e| cx.error(name.span(), e))
            .ok()
    }

    /// An optional `Language`/`DefaultLanguage`: a shipped language's tag (`de-DE`, compared
    /// case-insensitively). A malformed or not shipped tag: an error and `None`.
    pub(crate) fn language(&mut self, cx: &mut Ctx<'_>, key: &str) -> Option<LanguageKey> {
        let tag = self.string(cx, key, false)?;
        let s = tag.get_ref();
        let Some(language) = Language::from_tag(s) else {
            let msg = if is_language_tag(s) {
                format!(
                    "{key} \"{s}\" is not a shipped prompt language; umgw has {} (docs/OPERATIONS.md: adding a language)",
                    Language::shipped()
                )
            } else {
                format!("{key} \"{s}\" is not a language tag such as \"en-US\"")
            };
            cx.error(tag.span(), msg);
            return None;
        };
        let line = cx.pos(tag.span()).line;
        Some(LanguageKey { language, line })
    }

    pub(crate) fn string_list(
        &mut self,
        cx: &mut Ctx<'_>,
        key: &str,
    ) -> Option<Vec<Spanned<String>>> {
        let v = self.take(key)?;
        let bad = |cx: &mut Ctx<'_>, span: Range<usize>, kind: &str| {
            let msg = format!("{key} must be an array of strings, found {kind}");
            cx.error(span, msg);
        };
        match v.get_ref() {
            Node::Str(s) => Some(vec![Spanned::new(v.span(), s.clone())]),
            Node::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.get_ref() {
                        Node::Str(s) => out.push(Spanned::new(item.span(), s.clone())),
                        other => bad(cx, item.span(), other.kind()),
                    }
                }
                Some(out)
            }
            other => {
                bad(cx, v.span(), other.kind());
                None
            }
        }
    }

    /// A duration: an integer in `unit`, or a string with units (`"20m"`),
    /// within `range` (in `unit`). Out of range or malformed: an error and the default.
    pub(crate) fn duration(
        &mut self,
        cx: &mut Ctx<'_>,
        key: &str,
        range: RangeInclusive<u64>,
        default: u64,
        unit: Unit,
    ) -> (Duration, Option<Range<usize>>) {
        let Some(v) = self.take(key) else {
            return ((unit.of)(default), None);
        };
        let (lo, hi) = ((unit.of)(*range.start()), (unit.of)(*range.end()));
        let got = match v.get_ref() {
            Node::Int(i) => match u64::try_from(*i).ok().filter(|i| range.contains(i)) {
                Some(i) => Ok((unit.of)(i)),
                None => Err(format!(
                    "{key} {i} must be between {} and {} ({})",
                    range.start(),
                    range.end(),
                    unit.name
                )),
            },
            Node::Str(s) => match parse_duration(s) {
                Ok(d) if (lo..=hi).contains(&d) => Ok(d),
                Ok(_) => Err(format!(
                    "{key} \"{s}\" must be between {}{} and {}{}",
                    range.start(),
                    unit.suffix,
                    range.end(),
                    unit.suffix
                )),
                Err(e) => Err(format!("{key} {e}")),
            },
            other => Err(format!(
                "{key} must be an integer ({}) or a string with a unit such as \"{}{}\", found {}",
                unit.name,
                default,
                unit.suffix,
                other.kind()
            )),
        };
        match got {
            Ok(d) => (d, Some(v.span())),
            Err(msg) => {
                cx.error(v.span(), msg);
                ((unit.of)(default), None)
            }
        }
    }
}

/// The unit of a duration key's plain integers.
#[derive(Clone, Copy)]
pub(crate) struct Unit {
    of: fn(u64) -> Duration,
    name: &'static str,
    suffix: &'static str,
}

pub(crate) const MINUTES: Unit = Unit {
    of: |m| Duration::from_secs(m.saturating_mul(60)),
    name: "minutes",
    suffix: "m",
};
pub(crate) const SECONDS: Unit = Unit {
    of: Duration::from_secs,
    name: "seconds",
    suffix: "s",
};
pub(crate) const MILLIS: Unit = Unit {
    of: Duration::from_millis,
    name: "milliseconds",
    suffix: "ms",
};
