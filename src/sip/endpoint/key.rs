//! The transaction key: how a request or its response finds its transaction (RFC 3261 §17.2.3).

use crate::sip::message::{Message, Method};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct TxKey {
    pub(super) branch: String,
    pub(super) sent_by: String,
    pub(super) method: String,
}

impl TxKey {
    /// RFC 3261 §17.2.3 (ACK matches the INVITE transaction). Requests without an RFC 3261
    /// branch get a key from the fields RFC 2543 matching used.
    pub(super) fn of(msg: &Message) -> Option<TxKey> {
        let via = msg.top_via()?;
        let (cseq, method) = msg.cseq()?;
        let method = match method {
            Method::Ack => Method::Invite,
            m => m,
        };
        // A bare magic cookie (RFC 4475 badbranch) identifies nothing: fall back to RFC 2543.
        let branch = match via.branch {
            Some(b) if b.starts_with("z9hG4bK") && b.len() > "z9hG4bK".len() => b,
            _ => format!(
                "2543:{}:{}:{}",
                msg.call_id().unwrap_or(""),
                cseq,
                msg.from_tag().unwrap_or("")
            ),
        };
        Some(TxKey {
            branch,
            sent_by: via.sent_by,
            method: method.as_str().to_owned(),
        })
    }
}
