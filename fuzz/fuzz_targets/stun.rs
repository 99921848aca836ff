//! STUN on the RTP port: the ICE-lite agent never panics on arbitrary bytes; a check it accepts
//! is answered once, to where it came from, with a Binding success response for the same
//! transaction, and moves media there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umgw::media::ice::{IceCredentials, IceLite};
use umgw::media::stun;

fuzz_target!(|data: &[u8]| {
    let mut ice = IceLite::new(IceCredentials {
        ufrag: "gwUF".into(),
        pwd: "gateway-password-0123456".into(),
    });
    let from = "192.0.2.7:5000".parse().unwrap();
    let accepted = ice.handle(from, data).is_ok();
    let mut buf = [0u8; stun::MAX_RESPONSE_LEN];
    match ice.poll_reply(&mut buf) {
        Some((to, len)) => {
            assert!(accepted);
            assert_eq!(to, from);
            assert!(stun::is_stun(&buf[..len]));
            assert_eq!(&buf[..2], &[0x01, 0x01]);
            assert_eq!(&buf[8..20], &data[8..20]);
            assert_eq!(ice.destination(), Some(from));
        }
        None => assert!(!accepted),
    }
    assert!(ice.poll_reply(&mut buf).is_none());
});
