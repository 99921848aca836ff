//! Header names: compact forms and the canonical spelling of the long names we read.

/// Compact header forms and their long names: RFC 3261 §7.3.3 (c e f i k l m s t v) and the
/// later RFCs the IANA SIP header registry lists: a j d (RFC 3841), b (RFC 3892), n y (RFC 4474),
/// o u (RFC 6665, was 3265), r (RFC 3515), x (RFC 4028). Header names are case-insensitive, so
/// `L:` is Content-Length too.
const COMPACT: &[(&str, &str)] = &[
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("n", "Identity-Info"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
];

/// Further long names we read, in the capitalisation we store them with (those of `COMPACT`
/// count too), so that a header sent as `history-info` or `CSEQ` prints as the RFC spells it.
const LONG: &[&str] = &[
    "Accept",
    "Allow",
    "CSeq",
    "Diversion",
    "History-Info",
    "Max-Forwards",
    "P-Asserted-Identity",
    "Record-Route",
    "Require",
    "Route",
];

/// The long, canonically capitalised name of a header we know (compact form or long name in
/// any case); `None` for others.
pub(super) fn known_name(name: &str) -> Option<&'static str> {
    if name.len() == 1 {
        return COMPACT
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .map(|(_, long)| *long);
    }
    COMPACT
        .iter()
        .map(|(_, long)| long)
        .chain(LONG)
        .find(|long| long.eq_ignore_ascii_case(name))
        .copied()
}

pub(super) fn canonical_name(name: &str) -> String {
    known_name(name).unwrap_or(name).to_owned()
}

pub(super) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}
