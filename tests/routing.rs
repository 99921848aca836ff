//! Dial-plan routing at the gateway: pilots, VoIPSecurity, and dial-plan peers in the ACL.

mod support;

use std::time::Duration;

use support::*;

fn plan_with(extra_top: &str, extra_tail: &str) -> String {
    let base = test_plan(5, 1200, None);
    let (head, mailboxes) = base.split_once("[[Mailbox]]").unwrap();
    format!("{head}{extra_top}\n[[Mailbox]]{mailboxes}\n{extra_tail}")
}

fn invite(gw: &Gateway, from_ip: &str, ruri: &str) -> u16 {
    let mut ua = Ua::new(from_ip, gw.sip);
    let offer = ua.g711_offer();
    ua.invite(ruri, "", &offer);
    let r = ua.final_response(Duration::from_secs(5));
    ua.ack(&r);
    if r.status() == Some(200) {
        ua.bye();
    }
    r.status().unwrap()
}

#[test]
fn subscriber_access_pilot_is_recognised() {
    let gw = Gateway::start(GatewayOptions {
        plan: plan_with("PilotIdentifiers = [\"+14255550100\"]", ""),
        ..GatewayOptions::default()
    });
    // Any dialled form of the pilot reaches subscriber access (tests/subscriber.rs goes on
    // to log in); the pilot is not anyone's mailbox.
    let pilot = format!("sip:+1-425-555-0100@{};user=phone", gw.sip);
    assert_eq!(invite(&gw, "127.0.0.1", &pilot), 200);
    assert!(
        gw.log().contains("mailbox=subscriber-access"),
        "{}",
        gw.log()
    );
    assert_eq!(invite(&gw, "127.0.0.1", "sip:alice@contoso.com"), 200);
    assert!(gw.log().contains("mailbox=alice"));
}

#[test]
fn secured_plan_refuses_unencrypted_signalling() {
    let gw = Gateway::start(GatewayOptions {
        plan: plan_with("VoIPSecurity = \"Secured\"", ""),
        ..GatewayOptions::default()
    });
    assert_eq!(invite(&gw, "127.0.0.1", "sip:alice@contoso.com"), 403);
    assert!(gw.log().contains("dial plan requires TLS"), "{}", gw.log());
}

#[test]
fn dial_plan_peers_are_trusted_and_select_the_plan() {
    let gw = Gateway::start(GatewayOptions {
        // The config trusts only 127.0.0.2; the plan adds 127.0.0.3 as its gateway.
        trusted: vec!["127.0.0.2".into()],
        plan: plan_with("", "[[Peer]]\nAddress = \"127.0.0.3\"\nName = \"pbx\"\n"),
        ..GatewayOptions::default()
    });
    assert_eq!(invite(&gw, "127.0.0.3", "sip:alice@contoso.com"), 200);
    assert_eq!(invite(&gw, "127.0.0.4", "sip:alice@contoso.com"), 403);
}
