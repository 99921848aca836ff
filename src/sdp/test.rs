//! SDP parse, offer/answer, SDES and Lync body tests.
use super::*;
use std::net::{IpAddr, SocketAddr};

use crate::media::g711::G711;
use crate::media::srtp::{SrtpContext, SrtpSuite};
use proptest::prelude::*;

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));

/// SIPp's built-in uac offer.
const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn sipp_default_offer() {
    let n = negotiate(SIPP, LOCAL, 40000, 42).unwrap();
    assert_eq!(
        (n.payload_type, n.codec, n.telephone_event),
        (0, G711::Pcmu, None)
    );
    assert_eq!(n.remote, "127.0.0.1:6000".parse().unwrap());
    assert_eq!(
        n.answer,
        "v=0\r\no=umgw 42 42 IN IP4 192.0.2.10\r\ns=umgw\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
}

#[test]
fn pcma_with_telephone_event_and_media_level_c() {
    let offer = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=call\nc=IN IP4 10.0.0.1\nt=0 0\n\
                 m=audio 49170 RTP/AVP 8 101\nc=IN IP4 198.51.100.7\na=rtpmap:8 PCMA/8000\n\
                 a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=sendonly\n";
    let n = negotiate(offer, LOCAL, 40002, 7).unwrap();
    assert_eq!(
        (n.payload_type, n.codec, n.telephone_event),
        (8, G711::Pcma, Some(101))
    );
    assert_eq!(n.remote, "198.51.100.7:49170".parse().unwrap());
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(n.answer.contains("m=audio 40002 RTP/AVP 8 101\r\n"));
    assert!(n
        .answer
        .contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"));
    assert!(n.answer.ends_with("a=recvonly\r\n"));
    // The answer parses back and says what we negotiated.
    let back = parse(&n.answer).unwrap();
    assert_eq!(back.connection, Some(LOCAL));
    assert_eq!(back.media.len(), 1);
    let m = &back.media[0];
    assert_eq!((m.port, m.proto.as_str()), (40002, "RTP/AVP"));
    assert_eq!(m.formats, vec!["8", "101"]);
    assert_eq!(m.rtpmap(8).unwrap().encoding, "PCMA");
    assert_eq!(m.fmtps, vec![("101".to_string(), "0-15".to_string())]);
    assert_eq!(
        (m.ptime, m.direction),
        (Some(20), Some(Direction::RecvOnly))
    );
}

#[test]
fn g729_only_is_no_common_codec() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                 m=audio 5004 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let e = negotiate(offer, LOCAL, 1, 1).unwrap_err();
    assert_eq!(
        e,
        SdpError::NoCommonCodec {
            offered: "RTP/AVP 18(G729/8000)".to_string()
        }
    );
    assert_eq!(e.status_code(), 488);
}

#[test]
fn dynamic_pcmu_preference_order_and_ipv6() {
    let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
                 m=audio 7078 RTP/AVP 9 96 0 97\r\na=rtpmap:96 pcmu/8000\r\n\
                 a=rtpmap:97 telephone-event/8000\r\na=inactive\r\n";
    let local: IpAddr = "2001:db8::99".parse().unwrap();
    let n = negotiate(offer, local, 30000, 5).unwrap();
    assert_eq!(
        (n.payload_type, n.codec, n.telephone_event),
        (96, G711::Pcmu, Some(97))
    );
    assert_eq!(n.remote, "[2001:db8::1]:7078".parse().unwrap());
    assert!(n.answer.contains("o=umgw 5 5 IN IP6 2001:db8::99\r\n"));
    assert!(n.answer.contains("c=IN IP6 2001:db8::99\r\n"));
    assert!(n.answer.contains("a=rtpmap:96 PCMU/8000\r\n"));
    assert!(n.answer.ends_with("a=inactive\r\n"));
    assert_eq!(parse(&n.answer).unwrap().connection, Some(local));
}

#[test]
fn lync_like_savp_then_avp_and_extra_streams() {
    // SRTP-only: refused with a reason the operator can act on.
    let savp = "v=0\r\no=- 0 1 IN IP4 10.1.1.1\r\ns=session\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
                m=audio 50018 RTP/SAVP 114 9 0 8 101\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:abc\r\n\
                a=rtpmap:114 x-msrta/16000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let e = negotiate(savp, LOCAL, 1, 1).unwrap_err();
    let SdpError::NoCommonCodec { offered } = e else {
        panic!("{e:?}")
    };
    assert!(
        offered.contains("RTP/SAVP") && offered.ends_with("(SRTP not configured)"),
        "{offered}"
    );
    // Rejected port-0 audio, then video, then a usable audio stream.
    let offer = "v=0\r\no=- 0 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
                 m=audio 0 RTP/AVP 0\r\nm=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                 m=audio 5008 RTP/AVP 8\r\n";
    let n = negotiate(offer, LOCAL, 40000, 1).unwrap();
    assert_eq!((n.payload_type, n.remote.port()), (8, 5008));
    let back = parse(&n.answer).unwrap();
    let ports: Vec<u16> = back.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, vec![0, 0, 40000]);
}

#[test]
fn errors() {
    assert_eq!(
        negotiate(
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 1 RTP/AVP 96\r\n",
            LOCAL,
            1,
            1
        ),
        Err(SdpError::NoAudio)
    );
    assert_eq!(
        negotiate(
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n",
            LOCAL,
            1,
            1
        ),
        Err(SdpError::NoAudio)
    );
    let e = parse("v=0\r\no=x\r\nc=IN IP4 999.1.1.1\r\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "SDP line 3: c= address \"999.1.1.1\" is not an IP literal"
    );
    assert_eq!(e.status_code(), 400);
    assert!(matches!(
        parse("o=x\r\n"),
        Err(SdpError::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        parse(""),
        Err(SdpError::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        parse("v=0\r\nm=audio x RTP/AVP 0\r\n"),
        Err(SdpError::Malformed { line: 2, .. })
    ));
    assert!(matches!(
        parse("v=0\r\nc=IN IP6 1.2.3.4\r\n"),
        Err(SdpError::Malformed { line: 2, .. })
    ));
    assert!(matches!(
        parse("v=0\r\nnonsense\r\n"),
        Err(SdpError::Malformed { line: 2, .. })
    ));
    let e = negotiate("v=0\r\nm=audio 5 RTP/AVP 0\r\n", LOCAL, 1, 1).unwrap_err();
    assert_eq!(e.to_string(), "SDP line 2: no c= line for the audio stream");
    // A garbage attribute in a stream we use does not fail the call.
    assert!(negotiate(
        "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:zz\r\na=ptime:x\r\n",
        LOCAL,
        1,
        1
    )
    .is_ok());
}

/// A fixture: `Content-Type: ...`, a blank line, then the body (LF; `crlf` converts).
fn fixture(text: &str, crlf: bool) -> (String, Vec<u8>) {
    let (head, body) = text.split_once("\n\n").unwrap();
    let ct = head
        .strip_prefix("Content-Type:")
        .unwrap()
        .trim()
        .to_string();
    let body = if crlf {
        body.replace('\n', "\r\n")
    } else {
        body.to_string()
    };
    (ct, body.into_bytes())
}

const MULTIPART: &str = include_str!("../../tests/data/sdp/lync-multipart.txt");
const SAVP_SINGLE: &str = include_str!("../../tests/data/sdp/lync-savp-single.txt");
const WIDEBAND_FIRST: &str = include_str!("../../tests/data/sdp/lync-wideband-first.txt");
const OUR_KEY: [u8; 30] = [0x42; 30];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn lync_multipart_picks_the_ice_part_and_answers_srtp() {
    for crlf in [false, true] {
        let (ct, body) = fixture(MULTIPART, crlf);
        let offer = select_offer(&ct, &body).unwrap();
        assert!(offer.contains("m=audio 19884 RTP/SAVP"), "{offer}");
        assert!(!offer.contains("ms-proxy-2007fallback") && !offer.contains("Content-"));
        for policy in [MediaSecurity::SrtpRequired, MediaSecurity::SrtpOptional] {
            let n = negotiate_secure(&offer, LOCAL, 40000, 77, policy, &OUR_KEY).unwrap();
            assert_eq!(n.media.remote, "10.20.30.41:19884".parse().unwrap());
            assert_eq!(
                (n.media.payload_type, n.media.codec, n.media.telephone_event),
                (0, G711::Pcmu, Some(101))
            );
            let k = n.srtp.clone().unwrap();
            // Tag 2 needs MKI 1:1; tag 3 is the same suite without MKI.
            assert_eq!((k.tag, k.suite), (3, SrtpSuite::AesCm128HmacSha1_80));
            assert_eq!(
                k.remote_key.to_vec(),
                unhex("293065c4db167dbba6ccfdf796ef2898d96fd461aba3699a91b6223e88fb")
            );
            assert_eq!(k.local_key, OUR_KEY);
            assert_eq!(
                n.media.answer,
                "v=0\r\no=umgw 77 77 IN IP4 192.0.2.10\r\ns=umgw\r\nc=IN IP4 192.0.2.10\r\n\
                 t=0 0\r\nm=audio 40000 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
                 a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\r\n\
                 a=ptime:20\r\na=sendrecv\r\n"
            );
            // The answer's key parses back to ours.
            let back = parse(&n.media.answer).unwrap();
            assert_eq!(back.media[0].crypto[0].key_salt, OUR_KEY);
        }
        // Without SRTP configured this body cannot be served, and the reason says why.
        let offer = select_offer_for(&ct, &body, MediaSecurity::RtpOnly).unwrap();
        assert!(offer.contains("m=audio 19884 RTP/SAVP"), "{offer}");
        let e = negotiate(&offer, LOCAL, 1, 1).unwrap_err();
        assert_eq!(e.status_code(), 488);
        assert!(e.to_string().contains("(SRTP not configured)"), "{e}");
    }
}

#[test]
fn negotiated_keys_build_working_contexts() {
    let (ct, body) = fixture(MULTIPART, true);
    let offer = select_offer(&ct, &body).unwrap();
    let n = negotiate_secure(&offer, LOCAL, 1, 1, MediaSecurity::SrtpRequired, &OUR_KEY).unwrap();
    let keys = n.srtp.unwrap();
    let (mut inbound, mut outbound) = (keys.inbound(), keys.outbound());
    // The Lync side encrypts with its offered key and decrypts with the one we answered.
    let mut lync_tx = SrtpContext::from_key_salt(keys.suite, &keys.remote_key);
    let mut lync_rx = SrtpContext::from_key_salt(keys.suite, &OUR_KEY);
    let mut pkt = [0u8; 12 + 160 + 10];
    pkt[0] = 0x80;
    pkt[12..172].fill(0xff);
    let n1 = lync_tx.protect(&mut pkt, 172).unwrap();
    assert_eq!(inbound.unprotect(&mut pkt[..n1]), Ok(172));
    assert_eq!(pkt[12..172], [0xff; 160]);
    let n2 = outbound.protect(&mut pkt, 172).unwrap();
    assert!(inbound.unprotect(&mut pkt[..n2].to_vec()).is_err());
    assert_eq!(lync_rx.unprotect(&mut pkt[..n2]), Ok(172));
    assert!(
        !format!("{keys:?}").contains("66"),
        "keys must not be logged"
    );
}

#[test]
fn lync_single_savp_with_32_bit_tag() {
    let (ct, body) = fixture(SAVP_SINGLE, true);
    let offer = select_offer(&ct, &body).unwrap();
    assert_eq!(offer.as_bytes(), &body[..]);
    let m = &parse(&offer).unwrap().media[0];
    assert_eq!(m.crypto.iter().map(|c| c.tag).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(m.crypto[0].mki, Some((1, 1)));
    assert_eq!(m.crypto[1].lifetime, Some(1 << 31));
    assert!(m.crypto_skipped[0].contains("unsupported crypto suite AES_256_CM_HMAC_SHA1_80"));
    let n = negotiate_secure(
        &offer,
        LOCAL,
        40000,
        1,
        MediaSecurity::SrtpOptional,
        &OUR_KEY,
    )
    .unwrap();
    let k = n.srtp.unwrap();
    assert_eq!((k.tag, k.suite), (3, SrtpSuite::AesCm128HmacSha1_32));
    assert_eq!(
        k.remote_key.to_vec(),
        unhex("4ecec3cb9a496b5b9cd0dcb18efc0ef7fcf122db7f8e65b78d2c89d1e059")
    );
    assert!(n.media.answer.contains("m=audio 40000 RTP/SAVP 8 101\r\n"));
    assert!(n
        .media
        .answer
        .contains("\r\na=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:"));
    assert!(!n.media.answer.contains("ice") && !n.media.answer.contains("candidate"));
    // Only the MKI line and the unknown suite left: SRTP required fails with both reasons.
    let no_usable = offer.replace("a=crypto:3", "a=x-removed:3");
    let e = negotiate_secure(
        &no_usable,
        LOCAL,
        1,
        1,
        MediaSecurity::SrtpRequired,
        &OUR_KEY,
    )
    .unwrap_err();
    let SdpError::NoSecureMedia { ref offered } = e else {
        panic!("{e:?}")
    };
    assert!(offered.contains("tag 2 needs MKI 1:1"), "{offered}");
    assert!(offered.contains("AES_256_CM_HMAC_SHA1_80"), "{offered}");
    assert_eq!(e.status_code(), 488);
}

#[test]
fn wideband_only_part_falls_back_to_the_g711_part() {
    let (ct, body) = fixture(WIDEBAND_FIRST, false);
    let offer = select_offer(&ct, &body).unwrap();
    assert!(offer.contains("m=audio 21002 RTP/AVP 9 8 0 101"), "{offer}");
    let n = negotiate(&offer, LOCAL, 4000, 3).unwrap();
    assert_eq!((n.payload_type, n.remote.port()), (8, 21002));
    // Nothing servable: the preferred (non-fallback) part, whose answer says why.
    let offer = select_offer_for(&ct, &body, MediaSecurity::SrtpRequired).unwrap();
    assert!(offer.contains("m=audio 21000 RTP/AVP"), "{offer}");
    let e =
        negotiate_secure(&offer, LOCAL, 1, 1, MediaSecurity::SrtpRequired, &OUR_KEY).unwrap_err();
    assert!(
        matches!(&e, SdpError::NoSecureMedia { offered } if offered.contains("(SRTP required)")),
        "{e:?}"
    );
}

#[test]
fn policy_decides_between_avp_and_savp_streams() {
    let key = "KTBlxNsWfbumzP33lu8omNlv1GGro2makbYiPoj7";
    let offer = format!(
        "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/SAVP 0\r\n\
         a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{key} WSH=64 KDR=0\r\n"
    );
    let run = |p| negotiate_secure(&offer, LOCAL, 4000, 1, p, &OUR_KEY);
    let plain = run(MediaSecurity::RtpOnly).unwrap();
    assert_eq!(
        (plain.media.remote.port(), plain.srtp.clone()),
        (5000, None)
    );
    let ports = |n: &NegotiatedSecure| -> Vec<(u16, String)> {
        let sd = parse(&n.media.answer).unwrap();
        sd.media.iter().map(|m| (m.port, m.proto.clone())).collect()
    };
    assert_eq!(
        ports(&plain),
        [(4000, "RTP/AVP".into()), (0, "RTP/SAVP".into())]
    );
    for p in [MediaSecurity::SrtpOptional, MediaSecurity::SrtpRequired] {
        let n = run(p).unwrap();
        assert_eq!(
            (n.media.remote.port(), n.srtp.as_ref().unwrap().tag),
            (5002, 7)
        );
        assert_eq!(
            ports(&n),
            [(0, "RTP/AVP".into()), (4000, "RTP/SAVP".into())]
        );
    }
    // Plain-only offers: optional falls back to RTP, required refuses.
    let n = negotiate_secure(SIPP, LOCAL, 1, 1, MediaSecurity::SrtpOptional, &OUR_KEY).unwrap();
    assert_eq!(n.srtp, None);
    let e = negotiate_secure(SIPP, LOCAL, 1, 1, MediaSecurity::SrtpRequired, &OUR_KEY);
    assert_eq!(
        e,
        Err(SdpError::NoSecureMedia {
            offered: "RTP/AVP 0(PCMU/8000) (SRTP required)".into()
        })
    );
    // Session parameters that change the transform make a line unusable.
    for bad in [
        "KDR=4",
        "UNENCRYPTED_SRTP",
        "UNAUTHENTICATED_SRTP",
        "FEC_KEY=inline:x",
    ] {
        let o = offer.replace("KDR=0", bad);
        let e =
            negotiate_secure(&o, LOCAL, 1, 1, MediaSecurity::SrtpRequired, &OUR_KEY).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
    }
    let o = offer.replace("WSH=64", "|2^10");
    assert!(o.contains(&format!("{key} |2^10")));
    let o = offer.replace(" WSH=64", "|1024");
    let e = negotiate_secure(&o, LOCAL, 1, 1, MediaSecurity::SrtpRequired, &OUR_KEY);
    assert!(e.unwrap_err().to_string().contains("lifetime 1024"));
}

#[test]
fn crypto_attribute_syntax() {
    let key = "KTBlxNsWfbumzP33lu8omNlv1GGro2makbYiPoj7";
    let c: CryptoAttribute =
        format!("1 AES_CM_128_HMAC_SHA1_32 inline:{key}|1099511627776|12:4 WSH=64")
            .parse()
            .unwrap();
    assert_eq!(c.lifetime, Some(1 << 40));
    assert_eq!(c.mki, Some((12, 4)));
    assert_eq!(c.session_params, ["WSH=64"]);
    assert_eq!(
        c.to_string(),
        format!("1 AES_CM_128_HMAC_SHA1_32 inline:{key}|2^40|12:4 WSH=64")
    );
    assert!(!format!("{c:?}").contains("key_salt"));
    for (bad, why) in [
        ("1 AES_CM_128_HMAC_SHA1_80", "needs <tag>"),
        ("x AES_CM_128_HMAC_SHA1_80 inline:{k}", "tag \"x\""),
        (
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:{k}",
            "1-9 digits",
        ),
        (
            "1 F8_128_HMAC_SHA1_80 inline:{k}",
            "unsupported crypto suite F8_128",
        ),
        ("1 AES_CM_128_HMAC_SHA1_80 uri:{k}", "not inline"),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:{k}|1:1;inline:{k}|2:1",
            "several keys",
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD",
            "3 bytes, expected 30",
        ),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:@@@@", "not base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^64", "lifetime"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|x", "lifetime"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|1:0", "MKI length"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:{k}|a:1", "MKI value"),
    ] {
        let e = bad
            .replace("{k}", key)
            .parse::<CryptoAttribute>()
            .unwrap_err();
        assert!(e.why.contains(why), "{bad}: {e}");
    }
}

#[test]
fn body_selection_errors_and_shapes() {
    let sdp = SIPP.as_bytes();
    let e = select_offer("text/plain", b"hi").unwrap_err();
    assert_eq!(
        (e.status_code(), e.to_string().contains("text/plain")),
        (415, true)
    );
    let e = select_offer("multipart/alternative", b"").unwrap_err();
    assert_eq!(e.status_code(), 400);
    let e = select_offer("multipart/mixed;boundary=b", b"--b\r\n\r\nhi\r\n--b--").unwrap_err();
    assert_eq!(e.status_code(), 415, "{e}");
    let e = select_offer("multipart/mixed;boundary=b", b"no parts").unwrap_err();
    assert_eq!(e.status_code(), 400, "{e}");
    let e = select_offer("application/sdp", b"v=0\r\n\xff\r\n").unwrap_err();
    assert!(matches!(e, SdpError::Malformed { line: 2, .. }), "{e:?}");
    assert_eq!(
        select_offer("Application/SDP; charset=x", sdp).unwrap(),
        SIPP
    );
    // multipart/mixed around multipart/alternative, a non-SDP part, folded headers,
    // parameters in any case, and no closing delimiter.
    let inner = format!(
        "--in\nContent-Type: text/plain\n\nignore me\n--in\nContent-Type:\n application/sdp\n\n{}",
        SIPP.replace("\r\n", "\n")
    );
    let body = format!(
        "--out\r\nContent-Type: multipart/alternative; BOUNDARY=\"in\"\r\n\r\n{inner}\r\n--out--\r\n"
    );
    let got = select_offer("multipart/mixed; Boundary=out", body.as_bytes()).unwrap();
    assert_eq!(parse(&got).unwrap(), parse(SIPP).unwrap());
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC*", lines in proptest::collection::vec("[vocmat]=[ -~]{0,30}", 0..12)) {
        let _ = negotiate(&s, LOCAL, 1, 1);
        let text = lines.join("\r\n");
        let _ = negotiate(&format!("v=0\r\n{text}"), LOCAL, 1, 1);
    }

    #[test]
    fn select_offer_never_panics(
        ct in prop::sample::select(vec!["application/sdp", "multipart/alternative;boundary=b",
            "multipart/mixed; boundary=\"b\"", "multipart/x", "text/plain", ""]),
        body in proptest::collection::vec(any::<u8>(), 0..400),
        lines in proptest::collection::vec(
            "(--b(--)?|Content-Type: (application/sdp|multipart/mixed;boundary=b)|\
              Content-Disposition: session; ms-proxy-2007fallback|v=0|c=IN IP4 1.2.3.4|\
              m=audio 5 RTP/S?AVP 0|a=crypto:[0-9] AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/|:^]{0,50}|)",
            0..20),
    ) {
        let _ = select_offer(ct, &body);
        let text = lines.join("\r\n");
        for p in [MediaSecurity::RtpOnly, MediaSecurity::SrtpOptional, MediaSecurity::SrtpRequired] {
            let _ = select_offer_for(ct, text.as_bytes(), p);
        }
    }

    #[test]
    fn crypto_round_trip(tag in 0u32..1_000_000_000, short: bool, key_salt: [u8; 30],
                         lifetime in prop::option::of(prop_oneof![(0u32..64).prop_map(|e| 1u64 << e), any::<u64>()]),
                         mki in prop::option::of((any::<u64>(), 1u8..=128)),
                         params in proptest::collection::vec("[A-Z_]{1,8}(=[0-9]{1,3})?", 0..3)) {
        let c = CryptoAttribute {
            tag,
            suite: if short { SrtpSuite::AesCm128HmacSha1_32 } else { SrtpSuite::AesCm128HmacSha1_80 },
            key_salt, lifetime, mki, session_params: params,
        };
        let text = c.to_string();
        prop_assert_eq!(text.parse::<CryptoAttribute>(), Ok(c.clone()));
        let sd = parse(&format!("v=0\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:{text}\r\n")).unwrap();
        prop_assert_eq!(&sd.media[0].crypto, &vec![c]);
    }

    #[test]
    fn answer_parses_back(port in 1u16.., pt in prop::sample::select(vec![0u8, 8]), te in 96u8..128) {
        let offer = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio {port} RTP/AVP {pt} {te}\r\na=rtpmap:{te} telephone-event/8000\r\n");
        let n = negotiate(&offer, LOCAL, 4000, 9).unwrap();
        prop_assert_eq!((n.payload_type, n.telephone_event, n.remote.port()), (pt, Some(te), port));
        let back = parse(&n.answer).unwrap();
        prop_assert_eq!(back.media[0].formats.clone(), vec![pt.to_string(), te.to_string()]);
    }
}

#[test]
fn multibyte_content_type_in_a_part_is_not_a_panic() {
    // Found by the `sdp` fuzz target: byte 10 of the part's type falls inside 'é'.
    let body = "--b\r\nContent-Type: multipartéx/y\r\n\r\nv=0\r\n--b--\r\n";
    let _ = select_offer("multipart/alternative; boundary=b", body.as_bytes());
    let _ = select_offer("multipartéx/alternative; boundary=b", body.as_bytes());
}

#[test]
fn bridge_offer_reads_back_as_the_same_codec() {
    let text = offer("192.0.2.7".parse().unwrap(), 40002, 9, &[G711::Pcma], None);
    let n = negotiate(&text, "192.0.2.1".parse().unwrap(), 5000, 1).unwrap();
    assert_eq!((n.codec, n.payload_type), (G711::Pcma, 8));
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(n.remote, "192.0.2.7:40002".parse().unwrap());
}

/// A delayed offer round trip: our offer, answered by an answerer (our own `negotiate_secure`,
/// standing in for the caller), read back with both keys and the answerer's address.
#[test]
fn our_offer_is_answered_and_the_answer_read_back() {
    let ours = [7u8; 30];
    let theirs = [9u8; 30];
    let both = [G711::Pcmu, G711::Pcma];
    let text = offer(LOCAL, 4000, 1, &both, Some(&ours));
    assert!(text.contains("m=audio 4000 RTP/SAVP 0 8 101\r\n"), "{text}");
    assert!(
        text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{text}"
    );
    let peer: IpAddr = "198.51.100.9".parse().unwrap();
    let answered = negotiate_secure(&text, peer, 5000, 2, MediaSecurity::SrtpRequired, &theirs)
        .unwrap()
        .media
        .answer;
    let got = accept_answer(&answered, &both, Some(&ours)).unwrap();
    assert_eq!(got.media.remote, SocketAddr::new(peer, 5000));
    assert_eq!((got.media.codec, got.media.payload_type), (G711::Pcmu, 0));
    assert_eq!(got.media.telephone_event, Some(101));
    assert_eq!(got.media.direction, Direction::SendRecv);
    let k = got.srtp.unwrap();
    assert_eq!((k.tag, k.suite), (OFFER_CRYPTO_TAG, OFFER_SUITE));
    assert_eq!((k.remote_key, k.local_key), (theirs, ours));

    // Plain: an answer choosing PCMA (the answerer's pick among ours) at 30 ms, receive-only.
    let text = offer(LOCAL, 4000, 1, &both, None);
    assert!(text.contains("m=audio 4000 RTP/AVP 0 8 101\r\n"), "{text}");
    let answer = "v=0\r\nc=IN IP4 198.51.100.9\r\nt=0 0\r\nm=audio 5002 RTP/AVP 8 101\r\n\
                  a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n\
                  a=recvonly\r\n";
    let got = accept_answer(answer, &both, None).unwrap();
    assert_eq!((got.media.codec, got.media.ptime_ms), (G711::Pcma, 30));
    assert_eq!(got.media.direction, Direction::SendOnly);
    assert!(got.srtp.is_none());
}

#[test]
fn an_answer_that_does_not_fit_our_offer_is_refused() {
    let key = [7u8; 30];
    let answer = |proto: &str, pt: u8, extra: &str| {
        let name = if pt == 8 { "PCMA" } else { "PCMU" };
        format!(
            "v=0\r\nc=IN IP4 198.51.100.9\r\nt=0 0\r\nm=audio 5000 {proto} {pt}\r\n\
             a=rtpmap:{pt} {name}/8000\r\n{extra}"
        )
    };
    let crypto = |tag: u32, suite: &str| {
        format!("a=crypto:{tag} {suite} inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n")
    };
    let pcmu = [G711::Pcmu];
    let err = |a: &str, codecs: &[G711], key: Option<&[u8; 30]>| accept_answer(a, codecs, key);
    // SRTP offered, plain answered; plain offered, SRTP answered.
    assert!(matches!(
        err(&answer("RTP/AVP", 0, ""), &pcmu, Some(&key)),
        Err(SdpError::NoSecureMedia { .. })
    ));
    let savp = answer("RTP/SAVP", 0, &crypto(1, "AES_CM_128_HMAC_SHA1_80"));
    assert!(matches!(
        err(&savp, &pcmu, None),
        Err(SdpError::NoCommonCodec { .. })
    ));
    assert!(err(&savp, &pcmu, Some(&key)).is_ok());
    // A codec we did not offer; a crypto line that answers none of ours.
    let e = err(&answer("RTP/AVP", 8, ""), &pcmu, None).unwrap_err();
    assert!(e.to_string().contains("PCMA which we did not offer"), "{e}");
    for (tag, suite) in [
        (2, "AES_CM_128_HMAC_SHA1_80"),
        (1, "AES_CM_128_HMAC_SHA1_32"),
    ] {
        let a = answer("RTP/SAVP", 0, &crypto(tag, suite));
        let e = err(&a, &pcmu, Some(&key)).unwrap_err();
        assert!(
            matches!(e, SdpError::BadAnswer { .. }),
            "{tag} {suite}: {e}"
        );
        assert_eq!(e.warning(), None);
    }
    // No audio taken at all.
    let rejected = "v=0\r\nc=IN IP4 198.51.100.9\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(err(rejected, &pcmu, None).unwrap_err(), SdpError::NoAudio);
}

#[test]
fn the_answer_states_the_packet_time_we_send() {
    let answer_ptime = |attrs: &str| {
        let offer =
            format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n{attrs}a=sendrecv\r\n");
        let n = negotiate(&offer, LOCAL, 5000, 1).unwrap();
        let back = parse(&n.answer).unwrap();
        assert_eq!(back.media[0].ptime, Some(n.ptime_ms));
        n.ptime_ms
    };
    assert_eq!(answer_ptime(""), 20);
    assert_eq!(answer_ptime("a=ptime:20\r\n"), 20);
    assert_eq!(answer_ptime("a=ptime:30\r\n"), 30);
    assert_eq!(answer_ptime("a=ptime:60\r\na=maxptime:150\r\n"), 60);
    assert_eq!(answer_ptime("a=maxptime:10\r\n"), 10);
    assert_eq!(answer_ptime("a=ptime:90\r\na=maxptime:40\r\n"), 40);
    assert_eq!(send_ptime(Some(0), None), 20);
    assert_eq!(send_ptime(Some(25), None), 20);
    assert_eq!(send_ptime(Some(500), None), 120);
}

#[test]
fn a_refused_offer_says_why_in_a_warning() {
    let video = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    let g729 = SIPP.replace(
        "RTP/AVP 0\r\na=rtpmap:0 PCMU/8000",
        "RTP/AVP 18\r\na=rtpmap:18 G729/8000",
    );
    let warn = |offer: &str, policy| {
        negotiate_secure(offer, LOCAL, 9, 0, policy, &[0; 30])
            .unwrap_err()
            .warning()
    };
    let (code, text) = warn(video, MediaSecurity::SrtpOptional).unwrap();
    assert_eq!(
        (code, text.as_str()),
        (304, "SDP offer has no audio stream")
    );
    let (code, text) = warn(&g729, MediaSecurity::SrtpOptional).unwrap();
    assert_eq!(code, 305);
    assert!(
        text.starts_with("no common codec: offer has RTP/AVP 18(G729/8000)"),
        "{text}"
    );
    let (code, text) = warn(SIPP, MediaSecurity::SrtpRequired).unwrap();
    assert_eq!(code, 305);
    assert!(
        text.contains("RTP/AVP 0(PCMU/8000) (SRTP required)"),
        "{text}"
    );
    // Not a 488: the status (400, 415) says it, or the Accept does.
    let not_sdp = select_offer("text/plain", b"hello").unwrap_err();
    assert_eq!((not_sdp.status_code(), not_sdp.warning()), (415, None));
    let garbled = negotiate_secure(
        "v=0\r\nm=audio x",
        LOCAL,
        9,
        0,
        MediaSecurity::SrtpOptional,
        &[0; 30],
    );
    assert_eq!(garbled.unwrap_err().warning(), None);
}
