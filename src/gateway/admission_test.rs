use super::*;
use crate::sip::Transport;
use std::path::Path;

/// Two plans: a SIP-name plan with a mailbox, a subscriber-access pilot and an attendant, and
/// a Secured one (TLS and SRTP) with a mailbox of its own.
fn plans() -> DialPlans {
    let open = "Name = \"open\"\nUriType = \"SipName\"\nNumberOfDigitsInExtension = 4\n\
        CountryOrRegionCode = \"1\"\nDomain = \"contoso.com\"\nPilotIdentifiers = [\"5000\"]\n\
        [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5100\"]\n\
        BusinessHoursKeyMapping = [{ Key = \"1\", Action = \"Transfer\", Target = \"1001\" }]\n\
        [[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n";
    let secured = "Name = \"secure\"\nUriType = \"SipName\"\nNumberOfDigitsInExtension = 4\n\
        CountryOrRegionCode = \"1\"\nDomain = \"fabrikam.com\"\nVoIPSecurity = \"Secured\"\n\
        [[Mailbox]]\nId = \"dave\"\nExtension = \"2001\"\nSipAddress = \"sip:dave@fabrikam.com\"\n";
    crate::dialplan::load_files([
        (Path::new("open.toml"), open),
        (Path::new("secure.toml"), secured),
    ])
    .unwrap()
}

const PLAIN: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
    m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

const SRTP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
    m=audio 4000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
    a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

fn invite(ruri: &str, headers: &str, ctype: &str, body: &str) -> Message {
    invite_from("\"Bob\" <sip:+14255550199@x>", ruri, headers, ctype, body)
}

fn invite_from(from: &str, ruri: &str, headers: &str, ctype: &str, body: &str) -> Message {
    let text = format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
         From: {from};tag=1\r\nTo: <{ruri}>\r\nCall-ID: c\r\n\
         CSeq: 1 INVITE\r\n{headers}Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Message::parse(text.as_bytes()).unwrap()
}

fn over(tls: bool) -> Remote {
    let local = "127.0.0.1:5060".parse().unwrap();
    Remote {
        transport: if tls {
            Transport::Tls { conn: 1, local }
        } else {
            Transport::Udp { local }
        },
        addr: "127.0.0.1:40000".parse().unwrap(),
    }
}

#[test]
fn calls_are_admitted_or_refused_by_table() {
    let plans = plans();
    let config = Config::default();
    let ok = Conditions::default();
    let alice = "sip:alice@contoso.com";
    let hi = "History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D480>;index=1, \
              <sip:vm@contoso.com>;index=1.1\r\n";
    struct Case {
        what: &'static str,
        request: Message,
        tls: bool,
        conditions: Conditions,
        want: Result<&'static str, u16>,
    }
    let case = |what, request, tls, conditions, want| Case {
        what,
        request,
        tls,
        conditions,
        want,
    };
    let full = Conditions {
        draining: false,
        spool_free: Some(1024),
    };
    let draining = Conditions {
        draining: true,
        spool_free: None,
    };
    let sdp = "application/sdp";
    let cases = [
        case(
            "direct",
            invite(alice, "", sdp, PLAIN),
            false,
            ok,
            Ok("alice"),
        ),
        case(
            "History-Info",
            invite("sip:vm@contoso.com", hi, sdp, PLAIN),
            false,
            ok,
            Ok("alice"),
        ),
        case(
            "pilot",
            invite("sip:5000@contoso.com", "", sdp, PLAIN),
            false,
            ok,
            Ok("subscriber-access"),
        ),
        case(
            "attendant",
            invite("sip:5100@contoso.com", "", sdp, PLAIN),
            false,
            ok,
            Ok("auto-attendant"),
        ),
        case(
            "unknown user",
            invite("sip:nobody@contoso.com", "", sdp, PLAIN),
            false,
            ok,
            Err(404),
        ),
        case(
            "draining",
            invite(alice, "", sdp, PLAIN),
            false,
            draining,
            Err(503),
        ),
        case(
            "disk full",
            invite(alice, "", sdp, PLAIN),
            false,
            full,
            Err(503),
        ),
        case(
            "Secured plan over UDP",
            invite("sip:dave@fabrikam.com", "", sdp, SRTP),
            false,
            ok,
            Err(403),
        ),
        case(
            "Secured plan, plain RTP",
            invite("sip:dave@fabrikam.com", "", sdp, PLAIN),
            true,
            ok,
            Err(488),
        ),
        case(
            "Secured plan, TLS and SRTP",
            invite("sip:dave@fabrikam.com", "", sdp, SRTP),
            true,
            ok,
            Ok("dave"),
        ),
        // A delayed offer: admitted, and our 200 makes the offer.
        case(
            "no offer",
            invite(alice, "", sdp, ""),
            false,
            ok,
            Ok("alice"),
        ),
        case(
            "not SDP",
            invite(alice, "", "text/plain", "hello"),
            false,
            ok,
            Err(415),
        ),
        case(
            "no common codec",
            invite(
                alice,
                "",
                sdp,
                &PLAIN.replace("RTP/AVP 0 101", "RTP/AVP 18"),
            ),
            false,
            ok,
            Err(488),
        ),
    ];
    for c in cases {
        let got = admit(&c.request, &over(c.tls), &plans, &config, c.conditions);
        match (got, c.want) {
            (Ok(plan), Ok(label)) => assert_eq!(plan.label, label, "{}", c.what),
            (Err(r), Err(code)) => assert_eq!(r.code, code, "{}", c.what),
            (got, want) => panic!("{}: got {got:?}, want {want:?}", c.what),
        }
    }
}

#[test]
fn a_refusal_explains_itself() {
    let plans = plans();
    let config = Config::default();
    let r = admit(
        &invite("sip:alice@contoso.com", "", "text/plain", "hello"),
        &over(false),
        &plans,
        &config,
        Conditions::default(),
    )
    .unwrap_err();
    assert_eq!(
        (r.code, r.status().reason()),
        (415, "Unsupported Media Type")
    );
    assert_eq!(r.why.accept, Some(sdp::ACCEPT));
    let r = admit(
        &invite(
            "sip:alice@contoso.com",
            "",
            "application/sdp",
            &PLAIN.replace("RTP/AVP 0 101", "RTP/AVP 18"),
        ),
        &over(false),
        &plans,
        &config,
        Conditions::default(),
    )
    .unwrap_err();
    assert_eq!(r.code, 488);
    assert_eq!(r.why.warning.map(|w| w.0), Some(305));
}

#[test]
fn the_admitted_call_says_who_called_and_for_whom() {
    let plans = plans();
    let plan = admit(
        &invite("sip:alice@contoso.com", "", "application/sdp", PLAIN),
        &over(false),
        &plans,
        &Config::default(),
        Conditions::default(),
    )
    .unwrap();
    assert_eq!(plan.caller.as_deref(), Some("+14255550199"));
    assert_eq!(plan.caller_name.as_deref(), Some("Bob"));
    assert_eq!(plan.called, "sip:alice@contoso.com");
    assert_eq!(plan.plan_name, "open");
    assert!(matches!(plan.flow, FlowSetup::Deposit { .. }));
}

fn invite_with(headers: &str) -> Message {
    invite(
        "sip:vm@umgw.contoso.com;opaque=app:voicemail",
        headers,
        "application/sdp",
        "",
    )
}

#[test]
fn called_party_precedence() {
    let hi = invite_with(
        "History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D480>;index=1,\
         <sip:vm@umgw.contoso.com>;index=1.1\r\nDiversion: <tel:+14255551002>;reason=no-answer\r\n",
    );
    let user = |r: &Message| diverted_from(r).map(|d| d.user);
    assert_eq!(user(&hi).as_deref(), Some("sip:alice@contoso.com"));
    let div = invite_with(
        "Diversion: <tel:1002>;reason=no-answer;counter=1\r\nDiversion: <tel:1001>;reason=unconditional\r\n",
    );
    assert_eq!(user(&div).as_deref(), Some("tel:1002"));
    assert_eq!(diverted_from(&invite_with("")), None);
}

#[test]
fn busy_diversions_are_told_apart() {
    let busy = |headers: &str| diverted_from(&invite_with(headers)).map(|d| d.busy);
    // History-Info: the user's entry failed with 486 (RFC 7044 Reason)...
    assert_eq!(
        busy("History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D486>;index=1,<sip:vm@u>;index=1.1\r\n"),
        Some(true)
    );
    assert_eq!(
        busy("History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D480>;index=1,<sip:vm@u>;index=1.1\r\n"),
        Some(false)
    );
    // ... or the voice-mail entry says why with RFC 4458's cause= (RFC 7044 section 9).
    assert_eq!(
        busy("History-Info: <sip:alice@contoso.com>;index=1,<sip:vm@u;target=alice;cause=486>;index=1.1;mp=1\r\n"),
        Some(true)
    );
    // A Q.850 cause is not SIP's 486.
    assert_eq!(
        busy("History-Info: <sip:alice@contoso.com?Reason=Q.850%3Bcause%3D486>;index=1,<sip:vm@u>;index=1.1\r\n"),
        Some(false)
    );
    // Diversion: the topmost entry's reason.
    assert_eq!(
        busy("Diversion: <tel:1002>;reason=user-busy\r\n"),
        Some(true)
    );
    assert_eq!(
        busy("Diversion: <tel:1002>;reason=\"User-Busy\";counter=1\r\n"),
        Some(true)
    );
    assert_eq!(
        busy(
            "Diversion: <tel:1002>;reason=no-answer\r\nDiversion: <tel:1001>;reason=user-busy\r\n"
        ),
        Some(false)
    );
    // RFC 4458 in the Request-URI.
    let r = invite(
        "sip:vm@umgw.contoso.com;target=sip:alice%40contoso.com;cause=486",
        "",
        "application/sdp",
        "",
    );
    assert_eq!(
        diverted_from(&r),
        Some(Diverted {
            user: "sip:alice@contoso.com".into(),
            busy: true
        })
    );
}

#[test]
fn caller_numbers() {
    assert_eq!(
        caller_number("sip:+14255550100@x;user=phone").as_deref(),
        Some("+14255550100")
    );
    assert_eq!(
        caller_number("sip:bob@contoso.com").as_deref(),
        Some("sip:bob@contoso.com")
    );
    assert_eq!(caller_number("tel:1001").as_deref(), Some("1001"));
    assert_eq!(caller_number(""), None);
}

#[test]
fn every_refusal_names_its_ms_diagnostics_reason() {
    let plans = plans();
    let config = Config::default();
    let alice = "sip:alice@contoso.com";
    let sdp = "application/sdp";
    let full = Conditions {
        draining: false,
        spool_free: Some(1024),
    };
    let draining = Conditions {
        draining: true,
        spool_free: None,
    };
    let no_audio = PLAIN.replace("m=audio", "m=video");
    let g729 = PLAIN.replace("RTP/AVP 0 101", "RTP/AVP 18");
    let cases = [
        (
            invite(alice, "", sdp, PLAIN),
            false,
            draining,
            Diagnostic::ShuttingDown,
        ),
        (
            invite(alice, "", sdp, PLAIN),
            false,
            full,
            Diagnostic::DiskFull,
        ),
        (
            invite("sip:nobody@contoso.com", "", sdp, PLAIN),
            false,
            Conditions::default(),
            Diagnostic::NoMailbox,
        ),
        (
            invite("sip:dave@fabrikam.com", "", sdp, SRTP),
            false,
            Conditions::default(),
            Diagnostic::TlsRequired,
        ),
        (
            invite("sip:dave@fabrikam.com", "", sdp, PLAIN),
            true,
            Conditions::default(),
            Diagnostic::NoSecureMedia,
        ),
        (
            invite(alice, "", "text/plain", "hello"),
            false,
            Conditions::default(),
            Diagnostic::NotSdp,
        ),
        (
            invite(alice, "", sdp, &g729),
            false,
            Conditions::default(),
            Diagnostic::NoCommonCodec,
        ),
        (
            invite(alice, "", sdp, &no_audio),
            false,
            Conditions::default(),
            Diagnostic::NoAudio,
        ),
        (
            invite(alice, "", sdp, "v=0\r\nm=audio x\r\n"),
            false,
            Conditions::default(),
            Diagnostic::MalformedSdp,
        ),
    ];
    for (request, tls, conditions, want) in cases {
        let r = admit(&request, &over(tls), &plans, &config, conditions).unwrap_err();
        assert_eq!(
            r.why.diagnostic,
            Some(want),
            "{} -> {}",
            want.reason(),
            r.code
        );
    }
}
