//! `sip::Uri`: the forms peers send, errors, RFC 3261 §19.1.4 comparison, and round trips.

use super::*;
use proptest::prelude::*;

fn uri(s: &str) -> Uri {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn lync_voicemail_uri() {
    let u = uri("sip:alice@contoso.com;opaque=app:voicemail");
    assert_eq!(u.scheme(), Scheme::Sip);
    assert_eq!(u.user().as_deref(), Some("alice"));
    assert_eq!(u.host(), Some(&Host::Name("contoso.com".into())));
    assert_eq!(u.port(), None);
    assert!(u.is_voicemail());
    assert!(uri("sips:bob@contoso.com;transport=tls;OPAQUE=app:VoiceMail").is_voicemail());
    assert!(!uri("sip:alice@contoso.com;opaque=app:conf").is_voicemail());
    // `;opaque` in the user part is a user parameter, not the URI's.
    assert!(!uri("sip:alice;opaque=app:voicemail@contoso.com").is_voicemail());
    assert!(!uri("sip:alice@contoso.com?x=;opaque=app:voicemail").is_voicemail());
    assert_eq!(u.to_string(), "sip:alice@contoso.com;opaque=app:voicemail");
}

#[test]
fn rfc4458_target_and_cause() {
    let u = uri("sip:voicemail@um.example.com;target=sip:alice%40example.com;cause=486");
    assert_eq!(u.target().as_deref(), Some("sip:alice@example.com"));
    assert_eq!(u.cause(), Some(486));
    // An unescaped URI in the parameter (seen in the field) is the parameter's, not a user.
    let u = uri("sip:um.example.com;target=sip:alice@contoso.com");
    assert_eq!(
        (u.user(), u.host_port().as_deref()),
        (None, Some("um.example.com"))
    );
    assert_eq!(u.target().as_deref(), Some("sip:alice@contoso.com"));
    let u = uri("sip:vm@um.example.com;target=sip:alice@contoso.com");
    assert_eq!(u.user().as_deref(), Some("vm"));
    assert_eq!(u.target().as_deref(), Some("sip:alice@contoso.com"));
    assert_eq!(
        uri("sip:vm@um;Target=tel:%2B14255551001")
            .target()
            .as_deref(),
        Some("tel:+14255551001")
    );
    assert_eq!(uri("sip:vm@um?target=x").target(), None);
    assert_eq!(uri("sip:vm@um;target=").target(), None);
    assert_eq!(uri("sip:a;target=b@um").target(), None);
}

#[test]
fn parts_of_every_form() {
    let u = uri("sips:al%69ce:pw%21@[2001:DB8::1]:5061;transport=tcp;lr;maddr=239.255.255.1;user=ip?Reason=SIP%3Bcause%3D486&x=y");
    assert!(u.is_sips());
    assert_eq!(u.user().as_deref(), Some("alice"));
    assert_eq!(u.user_escaped(), Some("al%69ce"));
    assert_eq!(u.password().as_deref(), Some("pw!"));
    assert_eq!(u.host(), Some(&Host::Ipv6("2001:db8::1".parse().unwrap())));
    assert_eq!(u.host().unwrap().unbracketed(), "2001:db8::1");
    assert_eq!(u.port(), Some(5061));
    assert_eq!(u.transport().as_deref(), Some("tcp"));
    assert!(u.is_loose_router());
    assert_eq!(u.maddr().as_deref(), Some("239.255.255.1"));
    assert_eq!(u.user_param().as_deref(), Some("ip"));
    assert_eq!(u.header("reason").as_deref(), Some("SIP;cause=486"));
    assert_eq!(u.header("X").as_deref(), Some("y"));
    assert_eq!(u.clone().without_headers().headers(), &[]);
    assert_eq!(u.host_port().as_deref(), Some("[2001:db8::1]:5061"));

    let u = uri("sip:10.0.0.1");
    assert_eq!(u.user(), None);
    assert_eq!(u.host(), Some(&Host::Ipv4("10.0.0.1".parse().unwrap())));
    // Escaped parameter names (RFC 4475 esc01) answer to their plain names.
    let u = uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    assert_eq!(u.user().as_deref(), Some("caller"));
    assert!(u.is_loose_router());
    assert_eq!(u.param_value("name").as_deref(), Some("value%41"));
    // Upper-case scheme; the name's case is kept.
    let u = uri("SIP:Alice@AtLanTa.CoM");
    assert_eq!(u.to_string(), "sip:Alice@AtLanTa.CoM");
}

#[test]
fn telephone_numbers() {
    let u = uri("tel:+1-425-555-1001;phone-context=example.com");
    assert_eq!(u.scheme(), Scheme::Tel);
    assert_eq!(u.user().as_deref(), Some("+1-425-555-1001"));
    assert_eq!(u.host(), None);
    assert_eq!(u.phone_context().as_deref(), Some("example.com"));
    assert_eq!(
        u.to_string(),
        "tel:+1-425-555-1001;phone-context=example.com"
    );
    // A telephone number in a SIP URI carries its phone-context as a user parameter.
    let u = uri("sip:5550199;phone-context=+1-425@gw.example.com;user=phone");
    assert_eq!(u.user_base().as_deref(), Some("5550199"));
    assert_eq!(u.phone_context().as_deref(), Some("+1-425"));
    assert_eq!(u.host_port().as_deref(), Some("gw.example.com"));
    assert_eq!(u.telephone_number().as_deref(), Some("5550199"));
    let u = uri("sip:+1425;phone-context=x@gw");
    assert_eq!(
        (u.user_base().as_deref(), u.host_port().as_deref()),
        (Some("+1425"), Some("gw"))
    );
    assert_eq!(uri("sip:bob@x").telephone_number(), None);
    assert_eq!("tel:".parse::<Uri>(), Err(UriError::NoNumber));
}

#[test]
fn caller_ids() {
    assert_eq!(
        Uri::caller_id("sip:+14255550100@x;user=phone").as_deref(),
        Some("+14255550100")
    );
    assert_eq!(
        Uri::caller_id("sip:bob@contoso.com").as_deref(),
        Some("sip:bob@contoso.com")
    );
    assert_eq!(Uri::caller_id("tel:1001").as_deref(), Some("1001"));
    assert_eq!(Uri::caller_id("not a uri").as_deref(), Some("not a uri"));
    assert_eq!(Uri::caller_id(""), None);
}

#[test]
fn the_rfc_4475_request_uris() {
    // The oddest legal user and password (intmeth).
    let u = uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
    assert_eq!(
        u.user().as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        u.password().as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(u.host_port().as_deref(), Some("example.com"));
    // esc01: an escaped sips URI is a user, not a scheme.
    let u = uri("sip:sips%3Auser%40example.com@example.net");
    assert_eq!(u.user().as_deref(), Some("sips:user@example.com"));
    assert_eq!(u.host_port().as_deref(), Some("example.net"));
    // semiuri: `;` in the user part.
    let u = uri("sip:user;par=u%40example.net@example.com");
    assert_eq!(u.user().as_deref(), Some("user;par=u@example.net"));
    assert!(u.params().is_empty());
    // RFC 5118.
    assert_eq!(uri("sip:[2001:db8::10:5070]").port(), None);
    assert_eq!(uri("sip:[2001:db8::10]:5070").port(), Some(5070));
    assert_eq!(
        uri("sip:user@[2001:db8::192.0.2.1]").host_port().as_deref(),
        Some("[2001:db8::c000:201]")
    );
    assert_eq!(
        uri("sip:ted@[::ffff:192.0.2.2]").host().and_then(Host::ip),
        Some("::ffff:192.0.2.2".parse().unwrap())
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let table: &[(&str, UriError)] = &[
        ("", UriError::NoScheme),
        ("alice@contoso.com", UriError::NoScheme),
        ("<sip:user@example.com>", UriError::BadScheme),
        ("sip:a\"b@h", UriError::Delimiter),
        ("sip:a@h;x=<y>", UriError::Delimiter),
        ("1sip:a@b", UriError::BadScheme),
        ("s_p:a@b", UriError::BadScheme),
        ("http://x", UriError::UnsupportedScheme),
        (
            "nobodyKnowsThisScheme:totallyopaquecontent",
            UriError::UnsupportedScheme,
        ),
        ("sip:user@example.com; lr", UriError::Whitespace),
        ("sip:a b@h", UriError::Whitespace),
        ("sip:a@h\u{7f}", UriError::Whitespace),
        ("sip:2001:db8::10", UriError::UnbracketedIpv6),
        ("sip:user@[2001:db8:::192.0.2.1]", UriError::Ipv6),
        ("sip:user@[2001:db8::1", UriError::UnterminatedIpv6),
        ("sip:user@[2001:db8::1]5060", UriError::Port),
        ("sip:a@", UriError::Host),
        ("sip:a@host!", UriError::Host),
        ("sip:", UriError::Host),
        ("sip:a@host:99999", UriError::Port),
        ("sip:a@host:", UriError::Port),
        ("sip:a@host:000005060", UriError::Port),
        ("tel:", UriError::NoNumber),
    ];
    for (text, want) in table {
        assert_eq!(text.parse::<Uri>().as_ref(), Err(want), "{text:?}");
    }
    assert_eq!(
        UriError::UnbracketedIpv6.to_string(),
        "IPv6 address without brackets"
    );
}

#[test]
fn rfc_3261_comparison_examples() {
    // §19.1.4: equivalent pairs.
    for (a, b) in [
        (
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp",
        ),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        (
            "sip:carol@chicago.com;newparam=5",
            "sip:carol@chicago.com;security=on",
        ),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
        ("sip:bob@[2001:db8::1]", "sip:bob@[2001:DB8:0::1]"),
        ("tel:+1-425-555-0100", "tel:+14255550100"),
    ] {
        assert!(uri(a).equivalent(&uri(b)), "{a} = {b}");
        assert!(uri(b).equivalent(&uri(a)), "{b} = {a}");
    }
    // §19.1.4: pairs that differ.
    for (a, b) in [
        (
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP",
        ),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        (
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com:6000;transport=tcp",
        ),
        (
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting",
        ),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        (
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off",
        ),
        ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
        ("tel:1001", "sip:1001@x"),
    ] {
        assert!(!uri(a).equivalent(&uri(b)), "{a} != {b}");
        assert!(!uri(b).equivalent(&uri(a)), "{b} != {a}");
    }
}

#[test]
fn built_uris_escape_what_they_must() {
    let u = Uri::sip(Some("a b@c"), Host::Name("contoso.com".into()), Some(5060))
        .with_param("transport", Some("tcp"))
        .with_param("target", Some("sip:x@y;z"));
    assert_eq!(
        u.to_string(),
        "sip:a%20b%40c@contoso.com:5060;transport=tcp;target=sip:x%40y%3Bz"
    );
    assert_eq!(u.user().as_deref(), Some("a b@c"));
    assert_eq!(u.target().as_deref(), Some("sip:x@y;z"));
    assert_eq!(uri(&u.to_string()), u);
    let local: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
    let u = Uri::sip(Some("umgw"), local.into(), Some(5061)).with_scheme(Scheme::Sips);
    assert_eq!(u.to_string(), "sips:umgw@10.0.0.5:5061");
    assert_eq!(uri("tel:1").with_scheme(Scheme::Sip).scheme(), Scheme::Tel);
}

#[test]
fn text_comparison_is_the_printed_form() {
    let u = uri("sip:alice@10.0.0.5?Reason=SIP%3Bcause%3D486");
    assert_eq!(u.clone().without_headers(), "sip:alice@10.0.0.5");
    assert_eq!(
        u,
        String::from("sip:alice@10.0.0.5?Reason=SIP%3Bcause%3D486")
    );
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}".prop_map(|n| match n.parse::<Ipv4Addr>() {
            Ok(ip) => Host::Ipv4(ip),
            Err(_) => Host::Name(n),
        }),
        any::<Ipv4Addr>().prop_map(Host::Ipv4),
        any::<Ipv6Addr>().prop_map(Host::Ipv6),
    ]
}

/// Escaped text as a parser would keep it: characters legal in the part, and escapes.
fn escaped(chars: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::string::string_regex(chars).unwrap(),
            1 => "%[0-9A-F]{2}",
        ],
        1..6,
    )
    .prop_map(|v| v.concat())
}

fn param() -> impl Strategy<Value = Param> {
    (
        escaped("[a-zA-Z0-9_.!~*'()+-]{1,6}"),
        proptest::option::of(escaped("[a-zA-Z0-9_.!~*'()\\[\\]/:&+$-]{0,8}")),
    )
        .prop_map(|(name, value)| Param { name, value })
}

fn any_uri() -> impl Strategy<Value = Uri> {
    let user = escaped("[a-zA-Z0-9_.!~*'()&=+$,/-]{1,8}");
    let password = escaped("[a-zA-Z0-9_.!~*'()&=+$,-]{0,8}");
    let header = (
        escaped("[a-zA-Z0-9_.-]{1,6}"),
        escaped("[a-zA-Z0-9_./:+-]{0,8}"),
    );
    let sip = (
        prop_oneof![Just(Scheme::Sip), Just(Scheme::Sips)],
        proptest::option::of((user, proptest::option::of(password))),
        host(),
        proptest::option::of(any::<u16>()),
        proptest::collection::vec(param(), 0..4),
        proptest::collection::vec(header, 0..3),
    )
        .prop_map(|(scheme, userinfo, host, port, params, headers)| Uri {
            scheme,
            user: userinfo.as_ref().map(|(u, _)| u.clone()),
            password: userinfo.and_then(|(_, p)| p),
            host: Some(host),
            port,
            params,
            headers,
        });
    let tel = (
        "\\+?[0-9][0-9().-]{0,14}",
        proptest::collection::vec(param(), 0..3),
    )
        .prop_map(|(number, params)| Uri {
            scheme: Scheme::Tel,
            user: Some(number),
            password: None,
            host: None,
            port: None,
            params,
            headers: Vec::new(),
        });
    prop_oneof![3 => sip, 1 => tel]
}

proptest! {
    #[test]
    fn parse_of_print_is_the_uri(u in any_uri()) {
        let text = u.to_string();
        prop_assert_eq!(text.parse::<Uri>(), Ok(u.clone()), "{}", text);
        prop_assert!(u.equivalent(&u));
    }

    #[test]
    fn arbitrary_text_never_panics_and_what_parses_round_trips(
        s in "\\PC{0,60}",
        t in "(sips?|tel|SIP):[a-z0-9@:;=?&%.\\[\\]+-]{0,40}",
    ) {
        for text in [&s, &t] {
            if let Ok(u) = text.parse::<Uri>() {
                let printed = u.to_string();
                prop_assert_eq!(printed.parse::<Uri>(), Ok(u.clone()), "{} -> {}", text, printed);
                let _ = (u.target(), u.cause(), u.phone_context(), u.telephone_number(), u.host_port());
                prop_assert!(u.equivalent(&u));
            }
            let _ = Uri::caller_id(text);
            let _ = percent_decode(text);
        }
    }
}
