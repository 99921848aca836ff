//! The plan's directory: its users as dial by name (`flows::directory`) finds them, one
//! [`Listing`] per mailbox with a `DisplayName`, built once when the plan loads
//! ([`DialPlan::directory`](super::DialPlan::directory)) so that a call that may search it
//! does not build it again.

use super::MailboxEntry;
use crate::dialplan::NameOrder;

/// One user the directory can find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The mailbox `Id`: what the directory returns.
    pub mailbox: String,
    /// The `DisplayName` as written.
    pub display_name: String,
    /// Letters of the first name, the last name and the alias, upper case, A-Z only.
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) alias: String,
}

impl Listing {
    /// A user called `display_name`, reached as `mailbox`, with e-mail alias `alias`.
    ///
    /// "Last, First" (a comma) is taken as written; otherwise the last word is the last name
    /// and every word before it the first name, so "Mary Ann Evans" is first name "Mary Ann"
    /// (spelled MARYANN) and last name "Evans", and "Ludwig van Beethoven" has last name
    /// "Beethoven". One word is a last name. Letters are folded to A-Z (é → E, ß → SS);
    /// anything else (spaces, hyphens, apostrophes, digits) is skipped when spelling.
    pub fn new(mailbox: &str, display_name: &str, alias: &str) -> Self {
        let (first, last) = match display_name.split_once(',') {
            Some((last, first)) => (first, last),
            None => {
                let trimmed = display_name.trim();
                match trimmed.rsplit_once(char::is_whitespace) {
                    Some((first, last)) => (first, last),
                    None => ("", trimmed),
                }
            }
        };
        Self {
            mailbox: mailbox.to_owned(),
            display_name: display_name.to_owned(),
            first: folded(first),
            last: folded(last),
            alias: folded(alias),
        }
    }

    /// The letters a caller spells for this user in `order`.
    pub(crate) fn spelling(&self, order: NameOrder) -> String {
        match order {
            NameOrder::LastFirst => format!("{}{}", self.last, self.first),
            NameOrder::FirstLast => format!("{}{}", self.first, self.last),
            NameOrder::SmtpAddress => self.alias.clone(),
        }
    }

    /// How matches in `order` are sorted: by last then first name (or the reverse), so
    /// every Smit comes before the Smiths.
    pub(crate) fn sort_key(&self, order: NameOrder) -> (&str, &str) {
        match order {
            NameOrder::LastFirst => (&self.last, &self.first),
            NameOrder::FirstLast => (&self.first, &self.last),
            NameOrder::SmtpAddress => (&self.alias, ""),
        }
    }

    /// The letters of the name as it is spelled out to a caller: first name, then last name.
    pub(crate) fn letters(&self) -> impl Iterator<Item = char> + '_ {
        self.first.chars().chain(self.last.chars())
    }
}

/// The listings of a plan's `mailboxes`: every mailbox with a `DisplayName`, in file order.
/// The alias is the user part of the mailbox's `SipAddress` (Lync's SIP address is the e-mail
/// address), else its `Id`.
pub(crate) fn listings(mailboxes: &[MailboxEntry]) -> Vec<Listing> {
    mailboxes
        .iter()
        .filter_map(|m| {
            let name = m.display_name.as_deref()?;
            let alias = m
                .sip_address
                .as_deref()
                .and_then(|s| s.split_once(':'))
                .and_then(|(_, rest)| rest.split_once('@'))
                .map_or(m.id.as_str(), |(user, _)| user);
            Some(Listing::new(&m.id, name, alias))
        })
        .collect()
}

/// `s` as upper-case A-Z letters, accents folded, everything else dropped.
fn folded(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let folded = match c {
            'À'..='Å' | 'à'..='å' => "A",
            'Æ' | 'æ' => "AE",
            'Ç' | 'ç' => "C",
            'È'..='Ë' | 'è'..='ë' => "E",
            'Ì'..='Ï' | 'ì'..='ï' => "I",
            'Ñ' | 'ñ' => "N",
            'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' => "O",
            'Ù'..='Ü' | 'ù'..='ü' => "U",
            'Ý' | 'ý' | 'ÿ' => "Y",
            'ß' => "SS",
            c if c.is_ascii_alphabetic() => {
                out.push(c.to_ascii_uppercase());
                continue;
            }
            _ => continue,
        };
        out.push_str(folded);
    }
    out
}
