//! SRTP tests: RFC 3711 vectors, libsrtp's packet, replay, rollover, SSRC slots, wiping.

use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// RFC 3711 Appendix B.3 master key and salt (also libsrtp's self-test key).
const MASTER_KEY: [u8; 16] = [
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
];
const MASTER_SALT: [u8; 14] = [
    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
];

fn ctx(suite: SrtpSuite) -> SrtpContext {
    SrtpContext::new(suite, MASTER_KEY, MASTER_SALT)
}

/// RTP packet: V=2, PT 0, `seq`, ts, `ssrc`, then `payload`; buffer has 16 spare bytes.
fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> (Vec<u8>, usize) {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    let len = p.len();
    p.resize(len + 16, 0);
    (p, len)
}

#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let aes = Aes128::new(hex("2B7E151628AED2A6ABF7158809CF4F3C")[..].into());
    let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
    let iv = packet_iv(&salt, 0, 0);
    assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
    // The RFC's whole segment: 65282 blocks, first three and last three given.
    let mut ks = vec![0u8; 65282 * 16];
    keystream_xor(&aes, &iv, &mut ks);
    assert_eq!(
        ks[..48].to_vec(),
        hex(
            "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
             41E95B3BB0A2E8DD477901E4FCA894C0"
        )
    );
    assert_eq!(
        ks[ks.len() - 48..].to_vec(),
        hex(
            "EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE
             6A2CC3787889374FBEB4C81B17BA6C44"
        )
    );
}

#[test]
fn rfc3711_b3_key_derivation() {
    let mut key = [0u8; 16];
    let mut salt = [0u8; 14];
    let mut auth = [0u8; 94];
    derive(&MASTER_KEY, &MASTER_SALT, 0, &mut key);
    derive(&MASTER_KEY, &MASTER_SALT, 2, &mut salt);
    derive(&MASTER_KEY, &MASTER_SALT, 1, &mut auth);
    assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    // The RFC lists 94 bytes of the auth keystream; SHA1 uses the first 20.
    assert_eq!(
        auth.to_vec(),
        hex(
            "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
        )
    );
}

/// libsrtp's `srtp_validate` vector: B.3 keys, SSRC 0xcafebabe, seq 0x1234, ROC 0.
const PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const CIPHER_80: &str =
    "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb";

#[test]
fn libsrtp_known_packet_80_and_32() {
    for (suite, tag) in [
        (SrtpSuite::AesCm128HmacSha1_80, 10),
        (SrtpSuite::AesCm128HmacSha1_32, 4),
    ] {
        let expected = hex(CIPHER_80)[..28 + tag].to_vec();
        let mut buf = hex(PLAIN);
        buf.resize(40, 0xee);
        let n = ctx(suite).protect(&mut buf, 28).unwrap();
        assert_eq!(n, 28 + tag);
        assert_eq!(buf[..n], expected[..], "{suite}");
        assert_eq!(buf[n..], vec![0xee; 40 - n][..], "wrote past the tag");

        let mut rx = ctx(suite);
        let mut pkt = expected.clone();
        assert_eq!(rx.unprotect(&mut pkt), Ok(28));
        assert_eq!(pkt[..28], hex(PLAIN)[..]);
    }
}

#[test]
fn round_trip_with_csrc_extension_and_padding() {
    // V=2 P=1 X=1 CC=2, M=1 PT=8; 2 CSRCs, 1-word extension, 3 bytes payload + 1 padding.
    let mut p = hex("b288 0007 00000460 11223344 aaaaaaaa bbbbbbbb bede0001 10ff0000");
    p.extend_from_slice(&[1, 2, 3, 2]);
    let plain = p.clone();
    let len = p.len();
    p.resize(len + 10, 0);
    let mut tx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let n = tx.protect(&mut p, len).unwrap();
    assert_eq!(p[..28], plain[..28], "header must stay in clear");
    assert_ne!(p[28..len], plain[28..], "payload must be encrypted");
    let mut rx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    assert_eq!(rx.unprotect(&mut p[..n]), Ok(len));
    assert_eq!(p[..len], plain[..]);
}

#[test]
fn tampering_is_rejected_and_does_not_move_state() {
    let mut tx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let mut rx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let (mut p, len) = rtp(100, 7, &[0x55; 160]);
    let n = tx.protect(&mut p, len).unwrap();
    for at in [1, 3, 11, 12, 100, n - 1] {
        let mut bad = p[..n].to_vec();
        bad[at] ^= 0x01;
        assert!(
            matches!(rx.unprotect(&mut bad), Err(SrtpError::AuthFailed { .. })),
            "flip at {at}"
        );
    }
    // Wrong key.
    let mut other = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, [9; 16], MASTER_SALT);
    assert!(matches!(
        other.unprotect(&mut p[..n].to_vec()),
        Err(SrtpError::AuthFailed { .. })
    ));
    // The forgeries did not consume seq 100.
    assert_eq!(rx.unprotect(&mut p[..n]), Ok(len));
    assert_eq!(p[12..len], [0x55; 160]);
}

#[test]
fn replay_window() {
    let mut tx = ctx(SrtpSuite::AesCm128HmacSha1_32);
    let mut rx = ctx(SrtpSuite::AesCm128HmacSha1_32);
    let pkts: Vec<Vec<u8>> = (1000u16..1100)
        .map(|seq| {
            let (mut p, len) = rtp(seq, 1, &[seq as u8; 20]);
            let n = tx.protect(&mut p, len).unwrap();
            p.truncate(n);
            p
        })
        .collect();
    let mut get = |i: usize| rx.unprotect(&mut pkts[i].clone());
    assert_eq!(get(0), Ok(32));
    assert_eq!(get(0), Err(SrtpError::Replayed { ssrc: 1, seq: 1000 }));
    assert_eq!(get(70), Ok(32));
    // Out of order but inside the window: accepted once.
    assert_eq!(get(10), Ok(32));
    assert_eq!(get(10), Err(SrtpError::Replayed { ssrc: 1, seq: 1010 }));
    assert_eq!(get(7), Ok(32)); // delta 63: last slot of the window
    assert_eq!(get(6), Err(SrtpError::TooOld { ssrc: 1, seq: 1006 }));
    assert_eq!(get(0), Err(SrtpError::TooOld { ssrc: 1, seq: 1000 }));
    assert_eq!(get(70), Err(SrtpError::Replayed { ssrc: 1, seq: 1070 }));
    assert_eq!(get(99), Ok(32));
}

#[test]
fn sequence_wrap_moves_the_roc() {
    let mut tx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let mut rx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let mut sent = Vec::new();
    for k in 0..20u32 {
        let seq = (65530 + k) as u16; // 65530..=65535, then 0..=13 with ROC 1
        let (mut p, len) = rtp(seq, 0xdead, &[k as u8; 40]);
        let n = tx.protect(&mut p, len).unwrap();
        p.truncate(n);
        sent.push(p);
    }
    // Deliver the post-wrap ones first except one late pre-wrap packet.
    let late = sent.remove(4); // seq 65534, ROC 0
    for (k, p) in sent.iter().enumerate() {
        let mut p = p.clone();
        assert_eq!(rx.unprotect(&mut p), Ok(52), "packet {k}");
        let k = if k >= 4 { k + 1 } else { k };
        assert_eq!(p[12..52], [k as u8; 40]);
    }
    let mut late = late;
    assert_eq!(rx.unprotect(&mut late), Ok(52));
    assert_eq!(late[12..52], [4; 40]);
    // A receiver that would use ROC 0 for seq 5 fails authentication: the ROC is in the tag.
    let mut fresh = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let mut p = sent[10].clone();
    assert!(matches!(
        fresh.unprotect(&mut p),
        Err(SrtpError::AuthFailed { seq: 5, .. })
    ));
}

#[test]
fn several_ssrcs_are_tracked_apart() {
    let mut tx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let mut rx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    for seq in 0..10u16 {
        for ssrc in 1..=MAX_STREAMS as u32 {
            let (mut p, len) = rtp(seq.wrapping_add(ssrc as u16 * 5000), ssrc, &[3; 8]);
            let n = tx.protect(&mut p, len).unwrap();
            assert_eq!(rx.unprotect(&mut p[..n]), Ok(len), "ssrc {ssrc} seq {seq}");
        }
    }
}

#[test]
fn a_new_ssrc_never_evicts_a_live_streams_replay_state() {
    let mut tx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let mut rx = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let send = |tx: &mut SrtpContext, seq: u16, ssrc: u32| {
        let (mut p, len) = rtp(seq, ssrc, &[ssrc as u8; 8]);
        let n = tx.protect(&mut p, len).unwrap();
        p.truncate(n);
        p
    };
    // Four live streams fill the slots; keep a packet of stream 1 to replay later.
    let mut kept = Vec::new();
    for seq in 0..20u16 {
        for ssrc in 1..=MAX_STREAMS as u32 {
            let p = send(&mut tx, seq, ssrc);
            if ssrc == 1 && seq == 19 {
                kept = p.clone();
            }
            assert!(rx.unprotect(&mut p.clone()).is_ok());
        }
    }
    // An authentic fifth SSRC is refused, however many packets it sends...
    let mut tx5 = ctx(SrtpSuite::AesCm128HmacSha1_80);
    for seq in 0..50u16 {
        let mut p = send(&mut tx5, seq, 99);
        assert_eq!(
            rx.unprotect(&mut p),
            Err(SrtpError::TooManyStreams { ssrc: 99 })
        );
    }
    // ...so stream 1's window still knows the packet it already took.
    assert_eq!(
        rx.unprotect(&mut kept.clone()),
        Err(SrtpError::Replayed { ssrc: 1, seq: 19 })
    );
    // Once streams 2-4 have gone quiet for long enough, a new SSRC takes a slot.
    for seq in 20..20 + STALE_AFTER as u16 + 2 {
        let mut p = send(&mut tx, seq, 1);
        assert!(rx.unprotect(&mut p).is_ok());
    }
    let mut p = send(&mut tx5, 50, 99);
    assert_eq!(rx.unprotect(&mut p), Ok(20));
    assert_eq!(
        rx.unprotect(&mut kept),
        Err(SrtpError::TooOld { ssrc: 1, seq: 19 }),
        "the live stream kept its slot"
    );
}

#[test]
fn dropping_a_context_wipes_its_keys() {
    let mut c = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let keyed_salt = c.salt;
    assert_ne!(keyed_salt, [0; 14]);
    c.wipe();
    assert_eq!(c.salt, [0; 14]);
    // The wiped context no longer encrypts like the keyed one.
    let (mut a, len) = rtp(1, 1, &[7; 8]);
    let mut b = a.clone();
    ctx(SrtpSuite::AesCm128HmacSha1_80)
        .protect(&mut a, len)
        .unwrap();
    c.protect(&mut b, len).unwrap();
    assert_ne!(a, b);
}

#[test]
fn bad_input_errors() {
    let mut c = ctx(SrtpSuite::AesCm128HmacSha1_80);
    let (mut p, len) = rtp(1, 1, &[0; 4]);
    assert_eq!(
        c.protect(&mut p[..len + 9], len),
        Err(SrtpError::BufferTooSmall { need: 26, have: 25 })
    );
    assert_eq!(
        c.unprotect(&mut [0x80; 21]),
        Err(SrtpError::TooShort { len: 21, min: 22 })
    );
    p[0] = 0x40;
    assert!(matches!(
        c.protect(&mut p, len),
        Err(SrtpError::BadHeader { .. })
    ));
    p[0] = 0x8f; // 15 CSRCs in a 16-byte packet
    assert!(matches!(
        c.protect(&mut p, len),
        Err(SrtpError::BadHeader { .. })
    ));
    assert!(matches!(
        c.unprotect(&mut [0x90; 30]),
        Err(SrtpError::BadHeader { .. })
    ));
    assert_eq!(estimate_index(5, 65000), None);
    assert_eq!(estimate_index(0x1_0005, 65000), Some(65000));
    assert_eq!(estimate_index(65000, 5), Some(0x1_0005));
    assert!(!format!("{c:?}").contains("salt"));
}

proptest! {
    #[test]
    fn round_trip(seq: u16, ssrc: u32, payload in proptest::collection::vec(any::<u8>(), 0..300),
                  short in any::<bool>()) {
        let suite = if short { SrtpSuite::AesCm128HmacSha1_32 } else { SrtpSuite::AesCm128HmacSha1_80 };
        let (mut p, len) = rtp(seq, ssrc, &payload);
        let n = ctx(suite).protect(&mut p, len).unwrap();
        prop_assert_eq!(n, len + suite.tag_len());
        let mut rx = ctx(suite);
        prop_assert_eq!(rx.unprotect(&mut p[..n]), Ok(len));
        prop_assert_eq!(&p[12..len], &payload[..]);
    }

    #[test]
    fn unprotect_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut c = ctx(SrtpSuite::AesCm128HmacSha1_80);
        let _ = c.unprotect(&mut bytes);
        let len = bytes.len();
        bytes.resize(len + 10, 0);
        let _ = c.protect(&mut bytes, len);
    }
}
