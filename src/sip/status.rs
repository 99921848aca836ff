//! SIP response status codes and their reason phrases: the one place the phrases are written.

use std::fmt;

/// A SIP status code (RFC 3261 §21). Open: any code a peer sends is representable, the ones
/// we use have names, and every code has a reason phrase (an unknown one its class's x00
/// phrase, as RFC 3261 §8.1.3.2 has a UA treat it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

/// Named codes and their phrases, in one table so a phrase cannot drift from its code.
macro_rules! status_codes {
    ($($name:ident = $code:literal, $reason:literal;)*) => {
        impl StatusCode {
            $(pub const $name: StatusCode = StatusCode($code);)*

            /// The phrase RFC 3261 (or the RFC that defines the code) gives it.
            fn known_reason(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($reason),)*
                    _ => None,
                }
            }
        }
    };
}

status_codes! {
    TRYING = 100, "Trying";
    RINGING = 180, "Ringing";
    SESSION_PROGRESS = 183, "Session Progress";
    OK = 200, "OK";
    ACCEPTED = 202, "Accepted";
    MULTIPLE_CHOICES = 300, "Multiple Choices";
    MOVED_TEMPORARILY = 302, "Moved Temporarily";
    BAD_REQUEST = 400, "Bad Request";
    UNAUTHORIZED = 401, "Unauthorized";
    FORBIDDEN = 403, "Forbidden";
    NOT_FOUND = 404, "Not Found";
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed";
    NOT_ACCEPTABLE = 406, "Not Acceptable";
    PROXY_AUTHENTICATION_REQUIRED = 407, "Proxy Authentication Required";
    REQUEST_TIMEOUT = 408, "Request Timeout";
    GONE = 410, "Gone";
    REQUEST_ENTITY_TOO_LARGE = 413, "Request Entity Too Large";
    UNSUPPORTED_MEDIA_TYPE = 415, "Unsupported Media Type";
    UNSUPPORTED_URI_SCHEME = 416, "Unsupported URI Scheme";
    BAD_EXTENSION = 420, "Bad Extension";
    TEMPORARILY_UNAVAILABLE = 480, "Temporarily Unavailable";
    CALL_DOES_NOT_EXIST = 481, "Call/Transaction Does Not Exist";
    LOOP_DETECTED = 482, "Loop Detected";
    TOO_MANY_HOPS = 483, "Too Many Hops";
    BUSY_HERE = 486, "Busy Here";
    REQUEST_TERMINATED = 487, "Request Terminated";
    NOT_ACCEPTABLE_HERE = 488, "Not Acceptable Here";
    BAD_EVENT = 489, "Bad Event";
    REQUEST_PENDING = 491, "Request Pending";
    SERVER_INTERNAL_ERROR = 500, "Server Internal Error";
    NOT_IMPLEMENTED = 501, "Not Implemented";
    SERVICE_UNAVAILABLE = 503, "Service Unavailable";
    VERSION_NOT_SUPPORTED = 505, "Version Not Supported";
    MESSAGE_TOO_LARGE = 513, "Message Too Large";
    BUSY_EVERYWHERE = 600, "Busy Everywhere";
    DECLINE = 603, "Decline";
}

impl StatusCode {
    /// The reason phrase for this code; for one we have no name for, its class's x00 phrase
    /// ("Server Internal Error" for an unknown 5xx).
    pub fn reason(self) -> &'static str {
        self.known_reason()
            .or_else(|| StatusCode(self.0 / 100 * 100).known_reason())
            .unwrap_or("Unknown")
    }

    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// 1xx.
    pub fn is_provisional(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// 2xx.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 200 to 699: ends a transaction.
    pub fn is_final(self) -> bool {
        (200..700).contains(&self.0)
    }
}

impl From<StatusCode> for u16 {
    fn from(s: StatusCode) -> u16 {
        s.0
    }
}

impl From<u16> for StatusCode {
    fn from(code: u16) -> StatusCode {
        StatusCode(code)
    }
}

/// `486 Busy Here`: the status line's code and phrase.
impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases() {
        assert_eq!(
            StatusCode::NOT_ACCEPTABLE_HERE.reason(),
            "Not Acceptable Here"
        );
        assert_eq!(StatusCode(503).reason(), "Service Unavailable");
        assert_eq!(
            StatusCode::CALL_DOES_NOT_EXIST.to_string(),
            "481 Call/Transaction Does Not Exist"
        );
        // Unknown codes read as their class's x00 (RFC 3261 §8.1.3.2).
        assert_eq!(StatusCode(499).reason(), "Bad Request");
        assert_eq!(StatusCode(599).reason(), "Server Internal Error");
        assert_eq!(StatusCode(199).reason(), "Trying");
        assert_eq!(StatusCode(42).reason(), "Unknown");
        assert!(StatusCode::RINGING.is_provisional() && !StatusCode::RINGING.is_final());
        assert!(StatusCode::OK.is_success() && StatusCode::DECLINE.is_final());
        assert_eq!(u16::from(StatusCode::BUSY_HERE), 486);
    }
}
