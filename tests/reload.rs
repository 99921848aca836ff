//! Dial-plan reload (SIGHUP and `umgw reload`): calls in flight survive, new plans take effect,
//! and a broken file leaves the old plans serving.

mod support;

use std::time::Duration;

use support::*;
use umgw::sip::message::Method;
use umgw::store::MessageKind;

fn call(gw: &Gateway, uri: &str) -> (Ua, umgw::sip::message::Message) {
    let mut ua = Ua::new("127.0.0.1", gw.sip);
    let offer = ua.g711_offer();
    ua.invite(uri, "", &offer);
    let resp = ua.final_response(Duration::from_secs(5));
    ua.ack(&resp);
    (ua, resp)
}

#[test]
fn reload_keeps_calls_and_refuses_broken_plans() {
    let gw = Gateway::start(GatewayOptions {
        greetings: vec![("alice".into(), umgw::media::prompts::tone(700.0, 300, 0.3))],
        ..GatewayOptions::default()
    });
    let (_, resp) = call(&gw, "sip:erin@contoso.com");
    assert_eq!(resp.status(), Some(404), "erin is not in the first plan");

    // A call to alice is recording while the plans change.
    let (mut alice_call, ok) = call(&gw, "sip:alice@contoso.com");
    assert_eq!(ok.status(), Some(200));
    let media = Ua::media_target(&ok);
    alice_call.recv_rtp_until_quiet(Duration::from_millis(200), Duration::from_secs(3));
    let spoken = test_signal(1500);
    let (mut seq, mut ts) = (1u16, 0u32);
    alice_call.send_audio(media, &spoken[..6000], 0x42, &mut seq, &mut ts);

    let plan = std::fs::read_to_string(gw.plan_path()).unwrap();
    let with_erin = format!(
        "{plan}\n[[Mailbox]]\nId = \"erin\"\nExtension = \"1005\"\nSipAddress = \"sip:erin@contoso.com\"\n"
    );
    std::fs::write(gw.plan_path(), &with_erin).unwrap();
    gw.sighup();
    gw.wait_log("reload: dial plans loaded", Duration::from_secs(5));

    alice_call.send_audio(media, &spoken[6000..], 0x42, &mut seq, &mut ts);
    alice_call.bye();
    assert_eq!(
        alice_call.final_response(Duration::from_secs(2)).status(),
        Some(200)
    );
    let msgs = gw.wait_messages("alice", 1, Duration::from_secs(5));
    assert_eq!(msgs[0].kind, MessageKind::VoiceMail);
    let audio = read_wav(msgs[0].audio_wav.as_ref().unwrap());
    assert!(
        (audio.len() as i64 - 12000).abs() <= 320,
        "{} samples",
        audio.len()
    );

    let (mut erin_call, ok) = call(&gw, "sip:erin@contoso.com");
    assert_eq!(ok.status(), Some(200), "erin reachable after reload");
    erin_call.bye();
    let _ = erin_call.final_response(Duration::from_secs(2));

    // A broken plan, reloaded with the CLI: refused with file:line, old plans keep serving.
    let broken = with_erin.replace("Extension = \"1005\"", "Extension = \"105\"");
    std::fs::write(gw.plan_path(), broken).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_umgw"))
        .args(["reload", "--config"])
        .arg(gw.dir.path().join("umgw.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gw.wait_log(
        "reload failed: keeping the dial plans already loaded",
        Duration::from_secs(5),
    );
    let log = gw.log();
    assert!(
        log.contains("test.toml:") && log.contains("has 3 digits"),
        "diagnostic with file and line in the log:\n{log}"
    );
    let (mut again, ok) = call(&gw, "sip:erin@contoso.com");
    assert_eq!(ok.status(), Some(200), "old plans still serve erin");
    again.bye();
    let r = again.recv(Duration::from_secs(2));
    assert!(r.is_some_and(|m| m.status() == Some(200) || m.method() == Some(&Method::Bye)));
}
