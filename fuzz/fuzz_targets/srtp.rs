//! SRTP: unprotect with a fixed key never panics on arbitrary bytes; a packet we protect
//! unprotects back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umgw::media::rtp;
use umgw::media::srtp::{SrtpContext, SrtpSuite};

const KEY: [u8; 16] = *b"0123456789abcdef";
const SALT: [u8; 14] = *b"saltsaltsalt!!";

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let suite = if first & 1 == 0 {
        SrtpSuite::AesCm128HmacSha1_80
    } else {
        SrtpSuite::AesCm128HmacSha1_32
    };
    let mut rx = SrtpContext::new(suite, KEY, SALT);
    let _ = rx.unprotect(&mut rest.to_vec());

    if rtp::parse(rest).is_ok() {
        let mut tx = SrtpContext::new(suite, KEY, SALT);
        let mut buf = rest.to_vec();
        buf.resize(rest.len() + tx.tag_len(), 0);
        if let Ok(n) = tx.protect(&mut buf, rest.len()) {
            let mut rx = SrtpContext::new(suite, KEY, SALT);
            let len = rx
                .unprotect(&mut buf[..n])
                .expect("our own SRTP unprotects");
            assert_eq!(&buf[..len], rest);
        }
    }
});
