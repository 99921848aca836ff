//! Header value parsers: name-addr forms, History-Info, Diversion, RFC 4458.

use super::*;
use crate::sip::uri::percent_decode;
use proptest::prelude::*;

#[test]
fn name_addr_forms() {
    let n = parse_name_addr("To", r#""Smith, \"Al\"" <sip:al@b;lr>;tag=x;flag"#).unwrap();
    assert_eq!(n.display.as_deref(), Some(r#"Smith, "Al""#));
    assert_eq!(n.uri, "sip:al@b;lr");
    assert_eq!(n.param("tag"), Some(Some("x")));
    assert_eq!(n.param("FLAG"), Some(None));
    let n = parse_name_addr("To", "Bob <sip:bob@b>").unwrap();
    assert_eq!(
        (n.display.as_deref(), n.uri.to_string().as_str()),
        (Some("Bob"), "sip:bob@b")
    );
    let n = parse_name_addr("To", "sip:a@b;tag=x").unwrap();
    assert_eq!(n.uri, "sip:a@b");
    assert_eq!(n.params, vec![("tag".to_string(), Some("x".to_string()))]);
    assert!(parse_name_addr("To", "<sip:a@b").is_err());
    assert!(parse_name_addr("To", "\"x <sip:a@b>").is_err());
    assert!(parse_name_addr("To", "<sip:a@b> junk").is_err());
    assert!(parse_name_addr("To", "<>").is_err());
}

#[test]
fn split_respects_quotes_and_angles() {
    let v = r#""A, B" <sip:a@x;p=1,2>;q, <sip:c@y>,,"#;
    let parts = split_list("X", v).unwrap();
    assert_eq!(parts, vec![r#""A, B" <sip:a@x;p=1,2>;q"#, "<sip:c@y>"]);
    assert!(split_list("X", "<sip:a").is_err());
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("SIP%3Bcause%3D486"), "SIP;cause=486");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
    assert_eq!(percent_decode("%ff"), "\u{fffd}");
}

/// RFC 7044-style: alice (1.1) did not answer (486), proxy mapped to vm (1.2, mp=1.1).
#[test]
fn history_info_mp() {
    let v = [
        "<sip:alice@example.com>;index=1",
        "<sip:alice@10.0.0.5?Reason=SIP%3Bcause%3D486%3Btext%3D%22Busy%20Here%22>;index=1.1;rc=1, <sip:vm@um.example.com;target=sip:alice%40example.com>;index=1.2;mp=1",
    ];
    let e = parse_history_info(&v).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e[1].uri, "sip:alice@10.0.0.5");
    assert_eq!(e[1].cause, Some(486));
    assert_eq!(e[1].rc.as_deref(), Some("1"));
    assert_eq!(e[2].mp.as_deref(), Some("1"));
    assert_eq!(
        called_from_history_info(&e).unwrap().uri,
        "sip:alice@example.com"
    );
}

#[test]
fn history_info_cause_walk_back_and_sorting() {
    // Out of wire order on purpose; 1.10 sorts after 1.9, so 1.10 is the vm target.
    let v = [
        "<sip:vm@um>;index=1.10, <sip:bob@x?Reason=SIP%3Bcause%3D408>;index=1.2",
        "<sip:carol@x>;index=1.9, <sip:a@x>;index=1",
    ];
    let e = parse_history_info(&v).unwrap();
    assert_eq!(called_from_history_info(&e).unwrap().uri, "sip:bob@x");
}

#[test]
fn history_info_fallbacks() {
    let e = parse_history_info(&["<sip:a@x>;index=1, <sip:b@x>;index=1.1, <sip:vm@x>;index=1.1.1"])
        .unwrap();
    assert_eq!(called_from_history_info(&e).unwrap().uri, "sip:b@x");
    // mp pointing nowhere falls through to the rules below.
    let e = parse_history_info(&["<sip:a@x>;index=1, <sip:vm@x>;index=1.1;mp=7"]).unwrap();
    assert_eq!(called_from_history_info(&e).unwrap().uri, "sip:a@x");
    let e = parse_history_info(&["<sip:a@x>;index=1"]).unwrap();
    assert!(called_from_history_info(&e).is_none());
    assert!(called_from_history_info(&[]).is_none());
}

#[test]
fn history_info_q850_and_errors() {
    let e = parse_history_info(&["<sip:a@x?Reason=Q.850%3Bcause%3D17>;index=1"]).unwrap();
    assert_eq!(e[0].cause, None);
    // Lync style, lower-case header and ms- params, legacy no-index.
    let e = parse_history_info(&["<sip:bob@contoso.com>;ms-retarget-reason=forwarding, <sip:bob@contoso.com;opaque=app:voicemail>"]).unwrap();
    assert_eq!((e[0].index.as_str(), e[1].index.as_str()), ("1", "2"));
    assert_eq!(
        called_from_history_info(&e).unwrap().uri,
        "sip:bob@contoso.com"
    );
    assert!(matches!(
        parse_history_info(&["<sip:a@x>;index=1, <sip:b@x>"]),
        Err(HeaderError::MissingParam { param: "index", .. })
    ));
    assert!(matches!(
        parse_history_info(&["<sip:a@x>;index=1..2"]),
        Err(HeaderError::BadParam { param: "index", .. })
    ));
    assert!(parse_history_info(&["<sip:a@x>;index=1;mp=x"]).is_err());
}

#[test]
fn diversion_stacked_topmost_wins() {
    // bob forwarded to carol, carol did not answer → carol's voice mail.
    // The proxy that diverted most recently (carol's) added its entry on top.
    let v = [
        "<sip:carol@example.com>;reason=no-answer;counter=1;privacy=off",
        r#""Bob" <tel:+14255551002>;reason="user-busy";counter=1, <sip:x@y>;screen"#,
    ];
    let d = parse_diversion(&v).unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d[0].reason.as_deref(), Some("no-answer"));
    assert_eq!(d[0].counter, Some(1));
    assert_eq!(
        d[0].params,
        vec![("privacy".to_string(), Some("off".to_string()))]
    );
    assert_eq!(d[1].uri, "tel:+14255551002");
    assert_eq!(d[1].reason.as_deref(), Some("user-busy"));
    assert_eq!(d[2].params, vec![("screen".to_string(), None)]);
    assert_eq!(
        called_from_diversion(&d).unwrap().uri,
        "sip:carol@example.com"
    );
    assert!(called_from_diversion(&[]).is_none());
}

#[test]
fn diversion_lenient_counter_and_bare() {
    let d = parse_diversion(&["tel:10001;reason=no-answer;counter=lots"]).unwrap();
    assert_eq!(d[0].uri, "tel:10001");
    assert_eq!(d[0].counter, None);
    assert_eq!(
        d[0].params,
        vec![("counter".to_string(), Some("lots".to_string()))]
    );
}

#[test]
fn rfc4458_target() {
    let u = "sip:voicemail@um.example.com;target=sip:alice%40example.com;cause=486";
    assert_eq!(
        target_from_uri_params(u).as_deref(),
        Some("sip:alice@example.com")
    );
    assert_eq!(cause_from_uri_params(u), Some(486));
    let u = "<sip:vm@um;Target=tel:%2B14255551001>;tag=1";
    assert_eq!(
        target_from_uri_params(u).as_deref(),
        Some("tel:+14255551001")
    );
    assert_eq!(target_from_uri_params("sip:vm@um?target=x"), None);
    assert_eq!(target_from_uri_params("sip:vm@um;target="), None);
    assert_eq!(target_from_uri_params("sip:a;target=b@um"), None);
}

#[test]
fn ms_diagnostics_as_lync_and_we_write_it() {
    // Lync's own, with an extra parameter after the source.
    let d = parse_ms_diagnostics(
        "15000;reason=\"Unable to read the user properties publication\";\
         source=\"pool01.contoso.com\";appName=\"ExumRouting\"",
    )
    .unwrap();
    assert_eq!(
        d,
        MsDiagnostics {
            code: 15000,
            reason: "Unable to read the user properties publication".into(),
            source: Some("pool01.contoso.com".into()),
        }
    );
    // Ours: quotes and backslashes escaped, control characters gone, and back again.
    let ours = MsDiagnostics {
        code: 15844,
        reason: "offer has \"G729\" \\ nothing\r\nelse".into(),
        source: Some("umgw01.contoso.com".into()),
    };
    let text = ours.to_string();
    assert_eq!(
        text,
        "15844;reason=\"offer has \\\"G729\\\" \\\\ nothingelse\";source=\"umgw01.contoso.com\""
    );
    assert_eq!(
        parse_ms_diagnostics(&text).unwrap().reason,
        "offer has \"G729\" \\ nothingelse"
    );
    // ms-diagnostics-public (no source), and an older server's ErrorId.SubCode.
    let public = parse_ms_diagnostics("1003.2;reason=\"User does not exist\"").unwrap();
    assert_eq!((public.code, public.source), (1003, None));
    for bad in [
        "",
        "x;reason=\"a\"",
        "-1;reason=\"a\"",
        "15800",
        "15800;source=\"h\"",
        "1;reason=\"open",
    ] {
        assert!(parse_ms_diagnostics(bad).is_err(), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC*", t in "[<>\";,?=%@:a-z0-9. ]{0,40}") {
        for v in [s.as_str(), t.as_str()] {
            if let Ok(e) = parse_history_info(&[v, v]) { let _ = called_from_history_info(&e); }
            if let Ok(d) = parse_diversion(&[v]) { let _ = called_from_diversion(&d); }
            let _ = parse_name_addr("X", v);
            let _ = target_from_uri_params(v);
            let _ = cause_from_uri_params(v);
            let _ = percent_decode(v);
            let _ = parse_ms_diagnostics(v);
        }
    }

    #[test]
    fn ms_diagnostics_round_trip(code in any::<u32>(), reason in "\\PC{0,80}", fqdn in "[a-z0-9.-]{1,40}") {
        let d = MsDiagnostics { code, reason: reason.clone(), source: Some(fqdn) };
        let back = parse_ms_diagnostics(&d.to_string()).unwrap();
        // What a quoted-string cannot hold (control characters) is dropped; all else survives.
        let printable: String = reason.chars().filter(|c| !c.is_control()).collect();
        prop_assert_eq!(back, MsDiagnostics { reason: printable, ..d });
    }

    #[test]
    fn diversion_roundtrip(users in proptest::collection::vec("[a-z0-9]{1,8}", 1..5)) {
        let line = users.iter().map(|u| format!("<sip:{u}@h>;reason=no-answer")).collect::<Vec<_>>().join(", ");
        let d = parse_diversion(&[&line]).unwrap();
        prop_assert_eq!(d.len(), users.len());
        prop_assert_eq!(&called_from_diversion(&d).unwrap().uri, &format!("sip:{}@h", users[0]));
    }
}
