//! SIP parser: never panics; whatever it accepts, it can write back and read again, and so can
//! the URI parser (`sip::Uri`) for every URI in the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umgw::sip::message::{frame_length, Message};
use umgw::sip::Uri;

/// Whatever parses as a URI prints as text that parses back to the same URI.
fn uri_round_trips(text: &str) {
    if let Ok(uri) = text.parse::<Uri>() {
        let printed = uri.to_string();
        assert_eq!(printed.parse::<Uri>().as_ref(), Ok(&uri), "{text:?} printed as {printed:?}");
        assert!(uri.equivalent(&uri));
        let _ = (uri.target(), uri.cause(), uri.phone_context(), uri.host_port());
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Message::parse_unvalidated(data);
    let _ = Message::has_unsupported_version(data);
    if let Ok(text) = std::str::from_utf8(data) {
        uri_round_trips(text.trim());
    }
    if let Ok(Some(n)) = frame_length(data, 65535) {
        assert!(n <= data.len());
    }
    if let Ok(msg) = Message::parse(data) {
        let bytes = msg.to_bytes();
        let back = Message::parse(&bytes).expect("re-parse of a serialised accepted message");
        assert_eq!(back.start, msg.start);
        assert_eq!(back.body, msg.body);
        // Serialising is a fixed point after one round.
        assert_eq!(back.to_bytes(), bytes);
        let _ = msg.top_via();
        let _ = msg.cseq();
        let _ = (msg.from_tag(), msg.to_tag());
        for (_, v) in msg.headers() {
            let _ = umgw::sip::message::split_header_list(v);
            let _ = umgw::sip::message::display_name_of(v);
            uri_round_trips(umgw::sip::message::uri_of(v));
        }
        uri_round_trips(msg.request_uri().unwrap_or_default());
        let values: Vec<&str> = msg.headers_named("History-Info").collect();
        let _ = umgw::sip::headers::parse_history_info(&values);
        let values: Vec<&str> = msg.headers_named("Diversion").collect();
        let _ = umgw::sip::headers::parse_diversion(&values);
    }
});
