//! Config parsing and validation tests.

use super::*;

#[test]
fn empty_file_is_the_loopback_default() {
    let c = Config::parse(Path::new("x.toml"), "").unwrap();
    assert_eq!(c.sip.udp, vec!["127.0.0.1:5060".parse().unwrap()]);
    assert_eq!(c.media.rtp_port_min, 20000);
}

#[test]
fn unknown_key_names_line_and_column() {
    let err = Config::parse(Path::new("gw.toml"), "[sip]\nt1_ms = 500\nbogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("gw.toml:3:1: unknown field `bogus`"),
        "{err}"
    );
}

#[test]
fn bad_peer_is_rejected() {
    let err = Config::parse(
        Path::new("gw.toml"),
        "[peers]\ntrusted = [\"10.0.0.0/33\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "gw.toml: peers.trusted: \"10.0.0.0/33\": prefix length must be 0 to 32"
    );
}

#[test]
fn worker_slice_is_zero_or_within_the_kernels_range() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[media]\n{v}\n"));
    assert_eq!(parse("").unwrap().media.worker_slice_us, 100);
    assert_eq!(
        parse("worker_slice_us = 0").unwrap().media.worker_slice_us,
        0
    );
    let err = parse("worker_slice_us = 50").unwrap_err().to_string();
    assert!(
        err.contains(
            "media.worker_slice_us (50) must be 0 (kernel default) or between 100 and 100000"
        ),
        "{err}"
    );
}

#[test]
fn rtp_ports_need_an_even_port_and_a_sane_reuse_delay() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[media]\n{v}\n"));
    assert_eq!(parse("").unwrap().media.rtp_port_reuse_delay_ms, 5000);
    assert!(parse("rtp_port_min = 40000\nrtp_port_max = 40000").is_ok());
    let err = parse("rtp_port_min = 40001\nrtp_port_max = 40001")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no even port"), "{err}");
    let err = parse("rtp_port_reuse_delay_ms = 10")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("media.rtp_port_reuse_delay_ms (10) must be between 1000 and 60000"),
        "{err}"
    );
}

#[test]
fn server_name_may_be_empty_but_not_several_lines() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[sip]\n{v}\n"));
    assert!(parse("").unwrap().sip.server_name.starts_with("umgw/"));
    assert_eq!(parse("server_name = \"\"").unwrap().sip.server_name, "");
    let err = parse("server_name = \"umgw\\r\\nX-Evil: 1\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sip.server_name \"umgw\\r\\nX-Evil: 1\" must be one line"),
        "{err}"
    );
}

#[test]
fn fqdn_is_a_host_name_or_empty_for_this_hosts() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[sip]\n{v}\n"));
    let c = parse("fqdn = \"umgw01.contoso.com\"").unwrap();
    assert_eq!(c.sip.own_fqdn(), "umgw01.contoso.com");
    // Unset: the host's name, whatever it is, never empty.
    assert!(!parse("").unwrap().sip.own_fqdn().is_empty());
    for bad in [
        "*.contoso.com",
        "umgw01..contoso.com",
        "-umgw.contoso.com",
        "umgw 01",
    ] {
        let err = parse(&format!("fqdn = {bad:?}")).unwrap_err().to_string();
        assert!(
            err.contains(&format!("sip.fqdn {bad:?} must be a host name")),
            "{bad}: {err}"
        );
    }
}

#[test]
fn trusted_peer_with_host_bits_is_an_error_naming_key_and_value() {
    let parse = |v: &str| {
        Config::parse(
            Path::new("gw.toml"),
            &format!("[peers]\ntrusted = [\"192.0.2.7\", {v:?}]\n"),
        )
    };
    let err = parse("10.0.0.1/8").unwrap_err().to_string();
    assert_eq!(
        err,
        "gw.toml: peers.trusted: \"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8"
    );
    let ok = parse("10.0.0.0/8").unwrap();
    let nets = ok.trusted_peers().unwrap();
    assert!(acl::any_contains(&nets, "10.200.0.1".parse().unwrap()));
    assert!(acl::any_contains(&nets, "192.0.2.7".parse().unwrap()));
    assert!(!acl::any_contains(&nets, "192.0.2.8".parse().unwrap()));
}

#[test]
fn max_sessions_per_mailbox_is_between_1_and_100() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[subscriber]\n{v}\n"));
    assert_eq!(parse("").unwrap().subscriber.max_sessions_per_mailbox, 2);
    let twenty = parse("max_sessions_per_mailbox = 20").unwrap();
    assert_eq!(twenty.subscriber.max_sessions_per_mailbox, 20);
    for bad in [0, 101] {
        let err = parse(&format!("max_sessions_per_mailbox = {bad}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "subscriber.max_sessions_per_mailbox ({bad}) must be between 1 and 100"
            )),
            "{err}"
        );
    }
}

#[test]
fn admin_connection_cap_is_at_least_one() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[admin]\n{v}\n"));
    assert_eq!(parse("").unwrap().admin.max_connections, 64);
    assert_eq!(
        parse("max_connections = 4").unwrap().admin.max_connections,
        4
    );
    for bad in ["0", "5000"] {
        let err = parse(&format!("max_connections = {bad}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "admin.max_connections ({bad}) must be between 1 and 4096"
            )),
            "{err}"
        );
    }
}

#[test]
fn log_format_is_text_or_json() {
    let parse = |v: &str| Config::parse(Path::new("gw.toml"), &format!("[log]\n{v}\n"));
    assert_eq!(parse("").unwrap().log.format, "text");
    assert_eq!(parse("format = \"json\"").unwrap().log.format, "json");
    let err = parse("format = \"JSON lines\"").unwrap_err().to_string();
    assert!(
        err.contains("log.format \"JSON lines\" must be text or json"),
        "{err}"
    );
}

#[test]
fn the_state_folder_is_a_folder_of_its_own() {
    let parse = |imap: &str| {
        Config::parse(
            Path::new("gw.toml"),
            &format!("[store]\nbackend = \"imap\"\n[imap]\npassword = \"x\"\n{imap}"),
        )
    };
    assert_eq!(parse("").unwrap().imap.state_folder, "UMGW-State");
    assert_eq!(
        parse("state_folder = \"Voicemail.State\"\n")
            .unwrap()
            .imap
            .state_folder,
        "Voicemail.State"
    );
    for bad in ["\"\"", "\"INBOX\"", "\"inbox\"", "\"a\\\"b\"", "\"a\\nb\""] {
        let err = parse(&format!("state_folder = {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("imap.state_folder"), "{bad}: {err}");
    }
    let err = parse("folder = \"Voicemail\"\nstate_folder = \"Voicemail\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("must be a folder of its own"), "{err}");
}

#[test]
fn mwi_poll_shares_cover_every_mailbox_once_and_bad_shares_are_refused() {
    use crate::config::PollShare;
    let ids: Vec<String> = (0..3000).map(|i| format!("user{i}")).collect();
    for n in [1u32, 2, 3, 7] {
        let shares: Vec<PollShare> = (1..=n).map(|k| PollShare { k, n }).collect();
        let mut sizes = vec![0usize; n as usize];
        for id in &ids {
            let owners: Vec<usize> = (0..shares.len())
                .filter(|&i| shares[i].covers(id))
                .collect();
            assert_eq!(owners.len(), 1, "{id} in {n} shares: {owners:?}");
            sizes[owners[0]] += 1;
        }
        // Roughly even: no share under half or over twice its due.
        let due = ids.len() / n as usize;
        assert!(
            sizes.iter().all(|&s| s > due / 2 && s < due * 2),
            "{sizes:?}"
        );
    }
    assert_eq!(PollShare::parse(" 2/3 "), Some(PollShare { k: 2, n: 3 }));
    for bad in ["0/3", "4/3", "3", "a/b", "1/1001", "/"] {
        assert_eq!(PollShare::parse(bad), None, "{bad}");
    }
    let err = Config::parse(Path::new("gw.toml"), "[store]\nmwi_poll_share = \"4/3\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.mwi_poll_share \"4/3\" must be k/n"),
        "{err}"
    );
}

#[test]
fn transcription_is_embedded_by_default_and_a_server_needs_a_url() {
    let parse = |t: &str| Config::parse(Path::new("gw.toml"), &format!("[transcription]\n{t}"));
    let d = parse("").unwrap().transcription;
    assert_eq!(
        (
            d.engine.as_str(),
            d.deadline_ms,
            d.max_seconds,
            d.queue_limit
        ),
        ("embedded", 60_000, 75, 1000)
    );
    let ok =
        parse("engine = \"server\"\nurl = \"http://gpu1:8000/\"\nlanguage = \"de\"\n").unwrap();
    assert_eq!(ok.transcription.url, "http://gpu1:8000/");
    for (bad, why) in [
        (
            "engine = \"whisper\"\n",
            "transcription.engine \"whisper\" must be embedded, server or none",
        ),
        (
            "engine = \"server\"\n",
            "transcription.url \"\" must be an http:// or https:// URL",
        ),
        (
            "engine = \"server\"\nurl = \"gpu1:8000\"\n",
            "transcription.url \"gpu1:8000\"",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\nmodel = \" \"\n",
            "transcription.model",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\nmax_concurrent = 0\n",
            "max_concurrent must be between 1 and 256",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\nqueue_limit = 0\n",
            "queue_limit must be between 1 and 100000",
        ),
        (
            "queue_limit = 100001\n",
            "queue_limit must be between 1 and 100000",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\nmax_seconds = 0\n",
            "max_seconds must be between 1 and 600",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\ndeadline_ms = 0\n",
            "deadline_ms must be > 0",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\nlanguage = \"English\"\n",
            "transcription.language \"English\" must be an ISO 639-1 code",
        ),
        (
            "engine = \"server\"\nurl = \"http://gpu1\"\nkey = \"x\"\n",
            "unknown field `key`",
        ),
        (
            "engine = \"server\"\nurl = \"https://gpu1\"\n",
            "transcription.ca (the CA that signs the server) is required",
        ),
    ] {
        let err = parse(bad).unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn email_is_off_by_default_and_refuses_what_would_leak_or_fail() {
    let parse = |t: &str| Config::parse(Path::new("gw.toml"), &format!("[email]\n{t}"));
    let d = parse("").unwrap().email;
    assert!(!d.enabled());
    assert_eq!((d.tls.as_str(), d.attach_audio), ("starttls", true));
    let base = "smtp_server = \"smtp.contoso.com:587\"\nfrom = \"Voice Mail <vm@contoso.com>\"\n";
    let ok = parse(&format!("{base}user = \"u\"\npassword_env = \"P\"\n")).unwrap();
    assert_eq!(
        ok.email.host_port().unwrap(),
        ("smtp.contoso.com".into(), 587)
    );
    for (bad, why) in [
        (
            "smtp_server = \"smtp.contoso.com\"\nfrom = \"vm@contoso.com\"\n",
            "email.smtp_server \"smtp.contoso.com\" must be host:port",
        ),
        (
            "smtp_server = \":587\"\nfrom = \"vm@contoso.com\"\n",
            "must be host:port",
        ),
        (
            "smtp_server = \"smtp:0\"\nfrom = \"vm@contoso.com\"\n",
            "must be host:port",
        ),
        (
            &format!("{base}tls = \"ssl\"\n"),
            "email.tls \"ssl\" must be starttls, tls or none",
        ),
        (
            &format!("{base}tls = \"none\"\nuser = \"u\"\npassword = \"p\"\n"),
            "in clear",
        ),
        (&format!("{base}user = \"u\"\n"), "give its password"),
        ("smtp_server = \"smtp:25\"\n", "email.from must be set"),
        (
            "smtp_server = \"smtp:25\"\nfrom = \"Voice Mail\"\n",
            "email.from \"Voice Mail\" is not an e-mail address",
        ),
        (
            "smtp_server = \"smtp:25\"\nfrom = \"a@b.c\\r\\nBcc: x@y.z\"\n",
            "is not an e-mail address",
        ),
        (
            &format!("{base}retry_initial_ms = 10\nretry_max_ms = 5\n"),
            "retry_max_ms >= it",
        ),
        (
            &format!("{base}give_up_hours = 0\n"),
            "give_up_hours must be > 0",
        ),
    ] {
        let e = parse(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
}
