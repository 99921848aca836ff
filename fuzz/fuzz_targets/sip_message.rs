//! SIP parser: never panics; whatever it accepts, it can write back and read again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umgw::sip::message::{frame_length, Message};

fuzz_target!(|data: &[u8]| {
    let _ = Message::parse_unvalidated(data);
    let _ = Message::has_unsupported_version(data);
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
            let _ = umgw::sip::message::uri_host_port(umgw::sip::message::uri_of(v));
        }
        let values: Vec<&str> = msg.headers_named("History-Info").collect();
        let _ = umgw::sip::headers::parse_history_info(&values);
        let values: Vec<&str> = msg.headers_named("Diversion").collect();
        let _ = umgw::sip::headers::parse_diversion(&values);
    }
});
