//! Why we refused a request, as a Lync administrator's logging tool reads it: one
//! `ms-diagnostics` code per distinct reason ([MS-OCER] 2.2.1.1), the table of them kept in
//! docs/OPERATIONS.md ("ms-diagnostics codes") and checked against it by a test here.
//!
//! Every error response to a trusted peer carries one: the admission's refusals name their own
//! ([`super::Explanation::diagnostic`]), every other error response gets the one for its status
//! ([`Diagnostic::for_status`]). Untrusted sources get none: [MS-OCER] 2.2.1.2 keeps the full
//! header inside the enterprise boundary, and the stateless 403 stays as bare as it was.

use crate::sip::StatusCode;

/// A reason we refuse a request for. Codes are 15800-15899: Lync reserves 15000-15999 for
/// Exchange UM, the role umgw plays, and its own Exchange UM routing uses the low end of that
/// block, so ours keep to the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnostic {
    /// 400: the request does not parse (its reason phrase says where).
    MalformedRequest,
    /// 513: larger than `sip.max_message_bytes`.
    MessageTooLarge,
    /// 505: not SIP/2.0.
    VersionNotSupported,
    /// 416: a Request-URI scheme other than sip, sips or tel.
    UnsupportedUriScheme,
    /// 420: `Require` names an extension we lack.
    ExtensionNotSupported,
    /// 406: the INVITE's `Accept` rules out SDP.
    SdpNotAccepted,
    /// 481: no dialog or transaction for the request.
    NoSuchCall,
    /// 405: a method we know but do not take there.
    MethodNotAllowed,
    /// 501: a method we do not know.
    MethodNotImplemented,
    /// 500: a re-INVITE while our answer to the previous INVITE is not yet acknowledged.
    PreviousInvitePending,
    /// 487: the caller cancelled (or hung up) before the call was answered.
    CallerCancelled,
    /// 489: a NOTIFY in a call that is not about our REFER.
    EventNotSupported,
    /// 480: the gateway ended the call before answering it.
    EndedBeforeAnswer,
    /// 503: shutting down (SIGTERM); calls in progress finish.
    ShuttingDown,
    /// 503: free space on the spool's disk below `call.min_free_disk_mb`.
    DiskFull,
    /// 503: no RTP port free, or the call's recording could not be prepared.
    Unavailable,
    /// 404: no mailbox, subscriber access or auto attendant for the called party.
    NoMailbox,
    /// 403: the dial plan's VoIPSecurity needs TLS; the call came unencrypted.
    TlsRequired,
    /// 415: the body is not SDP (nor a multipart holding SDP).
    NotSdp,
    /// 400: the SDP offer or its multipart body does not parse.
    MalformedSdp,
    /// 488: the offer has no audio stream.
    NoAudio,
    /// 488: no codec in common (we serve PCMU and PCMA).
    NoCommonCodec,
    /// 488: the plan requires SRTP and no audio stream offers it in a form we serve.
    NoSecureMedia,
    /// Any other error response (none is sent today).
    Refused,
}

impl Diagnostic {
    /// Every diagnostic, in code order (for the table in docs/OPERATIONS.md).
    pub const ALL: [Diagnostic; 24] = [
        Diagnostic::MalformedRequest,
        Diagnostic::MessageTooLarge,
        Diagnostic::VersionNotSupported,
        Diagnostic::UnsupportedUriScheme,
        Diagnostic::ExtensionNotSupported,
        Diagnostic::SdpNotAccepted,
        Diagnostic::NoSuchCall,
        Diagnostic::MethodNotAllowed,
        Diagnostic::MethodNotImplemented,
        Diagnostic::PreviousInvitePending,
        Diagnostic::CallerCancelled,
        Diagnostic::EventNotSupported,
        Diagnostic::EndedBeforeAnswer,
        Diagnostic::ShuttingDown,
        Diagnostic::DiskFull,
        Diagnostic::Unavailable,
        Diagnostic::NoMailbox,
        Diagnostic::TlsRequired,
        Diagnostic::NotSdp,
        Diagnostic::MalformedSdp,
        Diagnostic::NoAudio,
        Diagnostic::NoCommonCodec,
        Diagnostic::NoSecureMedia,
        Diagnostic::Refused,
    ];

    /// The `ms-diagnostics` ErrorId.
    pub fn code(self) -> u32 {
        self.entry().0
    }

    /// The `reason` text.
    pub fn reason(self) -> &'static str {
        self.entry().1
    }

    /// The diagnostic of an error response nothing more specific was given for.
    pub fn for_status(status: StatusCode) -> Diagnostic {
        match status {
            StatusCode::BAD_REQUEST => Diagnostic::MalformedRequest,
            StatusCode::MESSAGE_TOO_LARGE => Diagnostic::MessageTooLarge,
            StatusCode::VERSION_NOT_SUPPORTED => Diagnostic::VersionNotSupported,
            StatusCode::UNSUPPORTED_URI_SCHEME => Diagnostic::UnsupportedUriScheme,
            StatusCode::BAD_EXTENSION => Diagnostic::ExtensionNotSupported,
            StatusCode::NOT_ACCEPTABLE => Diagnostic::SdpNotAccepted,
            StatusCode::CALL_DOES_NOT_EXIST => Diagnostic::NoSuchCall,
            StatusCode::METHOD_NOT_ALLOWED => Diagnostic::MethodNotAllowed,
            StatusCode::NOT_IMPLEMENTED => Diagnostic::MethodNotImplemented,
            StatusCode::SERVER_INTERNAL_ERROR => Diagnostic::PreviousInvitePending,
            StatusCode::REQUEST_TERMINATED => Diagnostic::CallerCancelled,
            StatusCode::BAD_EVENT => Diagnostic::EventNotSupported,
            StatusCode::TEMPORARILY_UNAVAILABLE => Diagnostic::EndedBeforeAnswer,
            StatusCode::SERVICE_UNAVAILABLE => Diagnostic::Unavailable,
            StatusCode::NOT_FOUND => Diagnostic::NoMailbox,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Diagnostic::NotSdp,
            _ => Diagnostic::Refused,
        }
    }

    /// (ErrorId, reason): the one table of both.
    fn entry(self) -> (u32, &'static str) {
        match self {
            Diagnostic::MalformedRequest => (15800, "Malformed request"),
            Diagnostic::MessageTooLarge => (15801, "Message too large"),
            Diagnostic::VersionNotSupported => (15802, "SIP version not supported"),
            Diagnostic::UnsupportedUriScheme => (15803, "Request-URI scheme not supported"),
            Diagnostic::ExtensionNotSupported => (15804, "Required SIP extension not supported"),
            Diagnostic::SdpNotAccepted => (15805, "The INVITE's Accept rules out SDP"),
            Diagnostic::NoSuchCall => (15806, "No such call or transaction"),
            Diagnostic::MethodNotAllowed => (15807, "Method not allowed here"),
            Diagnostic::MethodNotImplemented => (15808, "Method not implemented"),
            Diagnostic::PreviousInvitePending => (15809, "Previous INVITE not yet acknowledged"),
            Diagnostic::CallerCancelled => (15810, "Cancelled by the caller"),
            Diagnostic::EventNotSupported => (15811, "Only NOTIFYs about our REFER are taken"),
            Diagnostic::EndedBeforeAnswer => (15812, "Call ended before it was answered"),
            Diagnostic::ShuttingDown => (15820, "Voice mail gateway shutting down"),
            Diagnostic::DiskFull => (15821, "Voice mail gateway disk almost full"),
            Diagnostic::Unavailable => (15822, "Voice mail gateway cannot take the call now"),
            Diagnostic::NoMailbox => (15830, "No mailbox or service for the called party"),
            Diagnostic::TlsRequired => (15831, "Dial plan requires TLS"),
            Diagnostic::NotSdp => (15840, "Body is not SDP"),
            Diagnostic::MalformedSdp => (15841, "Malformed SDP offer"),
            Diagnostic::NoAudio => (15843, "SDP offer has no audio stream"),
            Diagnostic::NoCommonCodec => (15844, "No codec in common"),
            Diagnostic::NoSecureMedia => (15845, "Dial plan requires SRTP; none offered"),
            Diagnostic::Refused => (15899, "Request refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_ordered_and_in_our_block() {
        let codes: Vec<u32> = Diagnostic::ALL.iter().map(|d| d.code()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert!(codes.iter().all(|c| (15800..=15899).contains(c)));
        // Reasons go out as quoted-strings: no quotes, escapes or control characters to mangle.
        for d in Diagnostic::ALL {
            assert!(
                !d.reason().contains(['"', '\\']) && !d.reason().chars().any(char::is_control),
                "{d:?}"
            );
        }
    }

    /// docs/OPERATIONS.md lists every code with its status and reason, and no other.
    #[test]
    fn the_operations_table_matches() {
        let doc = include_str!("../../../docs/OPERATIONS.md");
        let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| 158")).collect();
        assert_eq!(rows.len(), Diagnostic::ALL.len(), "{rows:#?}");
        for d in Diagnostic::ALL {
            let prefix = format!("| {} |", d.code());
            let row = rows
                .iter()
                .find(|r| r.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no row for {d:?} ({prefix})"));
            assert!(row.contains(&format!("| {} |", d.reason())), "{d:?}: {row}");
        }
    }

    #[test]
    fn every_error_status_we_send_has_its_own_diagnostic() {
        for status in [
            400, 403, 404, 405, 406, 415, 416, 420, 480, 481, 487, 488, 489, 500,
        ]
        .into_iter()
        .chain([501, 503, 505, 513])
        {
            let d = Diagnostic::for_status(StatusCode(status));
            // 403 and 488 always come with the admission's own reason.
            let generic = matches!(status, 403 | 488);
            assert_eq!(d == Diagnostic::Refused, generic, "{status}: {d:?}");
        }
    }
}
