//! RFC 4733 telephone-events: parse/write round trip, and the receiver reports each
//! (SSRC, timestamp) event at most once however its packets are repeated or mixed.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use umgw::media::dtmf::{event_char, DtmfReceiver, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    let mut rx = DtmfReceiver::new();
    let mut reported = Vec::new();
    // Each 6-byte record: one event block plus a small SSRC and timestamp selector.
    for rec in data.chunks_exact(6) {
        // DTMF keys only, so that every new event is reported and the history is observable.
        let block = [rec[0] & 0x0f, rec[1], rec[2], rec[3]];
        let Ok(ev) = TelephoneEvent::parse(&block) else {
            continue;
        };
        let mut out = [0u8; 4];
        assert_eq!(ev.write(&mut out), 4);
        // The R bit (0x40) is not kept.
        assert_eq!(out, [block[0], block[1] & 0xbf, block[2], block[3]]);
        let (ssrc, ts) = (u32::from(rec[4] & 1), u32::from(rec[5] & 7) * 160);
        if let Some(c) = rx.handle(ssrc, ts, &ev) {
            assert_eq!(Some(c), event_char(ev.event));
            reported.push((ssrc, ts));
        }
    }
    // 16 possible keys and a memory of 8 events: a key comes back only after 8 others.
    let unique: HashSet<_> = reported.iter().collect();
    assert!(unique.len() <= 16);
    for (i, key) in reported.iter().enumerate() {
        let next8 = &reported[i + 1..reported.len().min(i + 9)];
        assert!(
            !next8.contains(key),
            "event reported twice within 8: {reported:?}"
        );
    }
});
