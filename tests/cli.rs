//! The `umgw` command line: `check` reports dial-plan errors as file:line:column.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn umgw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_umgw"))
}

/// `umgw check --dialplans` on a directory holding one plan, `name`, with `text`; it must
/// fail (exit 1). Returns the directory (kept while the caller looks), the plan's path as
/// the errors name it, and stderr.
fn check_failing(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let out = umgw()
        .args(["check", "--dialplans"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (dir, file, stderr)
}

#[test]
fn check_passes_on_the_shipped_dial_plans() {
    let out = umgw()
        .args(["check", "--dialplans"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("ok: 2 dial plan(s), 4 mailbox(es)"),
        "{stdout}"
    );
    // Without flags it checks the embedded defaults, which are the same files.
    let out = umgw().arg("check").output().unwrap();
    assert!(out.status.success());
}

#[test]
fn check_reports_every_error_with_file_line_and_column() {
    let (_dir, file, stderr) = check_failing(
        "broken.toml",
        "Name = \"broken\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\n\n[[Mailbox]]\nId = \"x\"\nExtension = \"101\"\n\n\
         [[Mailbox]]\nId = \"y\"\nExtension = \"1002\"\nE164 = \"14255550100\"\n",
    );
    let file = file.display();
    assert!(
        stderr.contains(&format!(
            "{file}:8:13: error: extension \"101\" has 3 digits; NumberOfDigitsInExtension is 4"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:13:")),
        "E164 error on line 13: {stderr}"
    );
    assert!(stderr.trim_end().ends_with("2 error(s)"), "{stderr}");
}

#[test]
fn check_names_attendant_prompts_missing_from_the_library() {
    let (_dir, file, stderr) = check_failing(
        "aa.toml",
        "Name = \"aa\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"x\"\nExtension = \"1001\"\n\
         [[AutoAttendant]]\nName = \"Main\"\nPilotIdentifiers = [\"5000\"]\n\
         BusinessHoursGreeting = \"aa-welcome\"\nBusinessHoursMenuPrompt = \"aa-our-menu\"\n",
    );
    assert!(
        stderr.contains(&format!(
            "{}:8: error: prompt \"aa-our-menu\" of auto attendant \"Main\" is not in the prompt library",
            file.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("aa-welcome"), "a shipped prompt: {stderr}");
}

#[test]
fn check_reports_unknown_time_zones_with_file_line_and_column() {
    let (_dir, file, stderr) = check_failing(
        "tz.toml",
        "Name = \"tz\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\nTimeZone = \"Pacific Standard Time\"\n\
         [[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nTimeZone = \"America/Seatle\"\n\
         [[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nTimeZone = \"Europe/Berlin\"\n",
    );
    for want in [
        // Exchange's Windows name: the IANA name to write instead.
        "5:12: error: TimeZone \"Pacific Standard Time\" is a Windows time zone name; write the IANA name, here \"America/Los_Angeles\"",
        "9:12: error: TimeZone \"America/Seatle\" is not a known IANA time zone name",
    ] {
        let want = format!("{}:{want}", file.display());
        assert!(stderr.contains(&want), "missing {want:?} in\n{stderr}");
    }
    // Europe/Berlin is fine.
    assert!(stderr.trim_end().ends_with("2 error(s)"), "{stderr}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("umgw.toml");
    std::fs::write(&cfg, "[sip]\nudp = [\"127.0.0.1:5060\"]\nt1 = 3\n").unwrap();
    let out = umgw().args(["run", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:1: unknown field `t1`", cfg.display())),
        "{stderr}"
    );
}

#[test]
fn a_network_with_host_bits_is_an_error_in_config_and_dial_plans_alike() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    std::fs::write(
        plans.join("peers.toml"),
        "Name = \"peers\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"x\"\nExtension = \"1001\"\n\
         [[Peer]]\nAddress = \"10.0.0.1/8\"\n",
    )
    .unwrap();
    let out = umgw()
        .args(["check", "--dialplans"])
        .arg(&plans)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = plans.join("peers.toml");
    assert!(
        stderr.contains(&format!(
            "{}:9:11: error: Peer Address \"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8",
            file.display()
        )),
        "{stderr}"
    );

    // The same text in the config's trusted list is refused by the same parser, naming the key.
    let cfg = dir.path().join("umgw.toml");
    std::fs::write(&cfg, "[peers]\ntrusted = [\"10.0.0.1/8\"]\n").unwrap();
    let out = umgw()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: peers.trusted: \"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8",
            cfg.display()
        )),
        "{stderr}"
    );
}

/// `umgw run` in an empty directory, on the dial plans and prompts built into the binary,
/// logs no warning or error: the sample plans send no NOTIFY to a peer that is not there.
/// The config only moves SIP off port 5060 (which a developer's gateway may hold) and
/// shortens T1, so that a NOTIFY to nowhere would time out (Timer F, 64·T1 = 640 ms) while
/// the test watches, rather than after the default 32 s.
#[test]
fn the_embedded_default_starts_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("umgw.toml");
    std::fs::write(
        &config,
        format!("[sip]\nudp = [\"127.0.0.1:{port}\"]\ntcp = []\nt1_ms = 10\nt2_ms = 40\n"),
    )
    .unwrap();
    let log_path = dir.path().join("umgw.log");
    let mut child = umgw()
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("UMGW_DATA_DIR")
        .env_remove("UMGW_LOG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !log().contains("umgw ready") {
        assert!(Instant::now() < deadline, "not ready:\n{}", log());
        assert!(child.try_wait().unwrap().is_none(), "exited:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let log = log();
    assert!(status.success(), "{status:?}:\n{log}");
    let loud: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}\nlog:\n{log}");
    assert!(
        dir.path().join("umgw-data/mailboxes").is_dir(),
        "the data directory is made where it runs:\n{log}"
    );
}

#[test]
fn check_refuses_languages_that_are_not_shipped() {
    let (_dir, file, stderr) = check_failing(
        "lang.toml",
        "Name = \"lang\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"49\"\nDefaultLanguage = \"xx-YY\"\n\
         [[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nLanguage = \"de-DE\"\n\
         [[Mailbox]]\nId = \"b\"\nExtension = \"1002\"\nLanguage = \"Deutsch\"\n",
    );
    let file = file.display();
    for want in [
        format!("{file}:5:19: error: DefaultLanguage \"xx-YY\" is not a shipped prompt language; umgw has en-US, de-DE"),
        format!("{file}:13:12: error: Language \"Deutsch\" is not a language tag such as \"en-US\""),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in\n{stderr}");
    }
    assert!(stderr.trim_end().ends_with("2 error(s)"), "{stderr}");
}

/// A prompt the German callers would hear in English is named with the plan's line, and goes
/// away once the operator adds the translation under `[paths] prompts`/de-DE/.
#[test]
fn check_lists_prompts_missing_in_a_language_the_plans_use() {
    let dir = tempfile::tempdir().unwrap();
    let (plans, prompts) = (dir.path().join("plans"), dir.path().join("prompts"));
    std::fs::create_dir_all(prompts.join("de-DE")).unwrap();
    std::fs::create_dir(&plans).unwrap();
    support::write_wav(&prompts.join("aa-contoso.wav"), &support::test_signal(1000));
    let plan = plans.join("de.toml");
    std::fs::write(
        &plan,
        "Name = \"de\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\n\
         CountryOrRegionCode = \"49\"\nDefaultLanguage = \"en-US\"\n\
         [[Mailbox]]\nId = \"a\"\nExtension = \"1001\"\nLanguage = \"de-DE\"\n\
         [[AutoAttendant]]\nName = \"Zentrale\"\nPilotIdentifiers = [\"5000\"]\n\
         Language = \"de-DE\"\nBusinessHoursGreeting = \"aa-contoso\"\n",
    )
    .unwrap();
    let cfg = dir.path().join("umgw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[paths]\ndialplans = {:?}\nprompts = {:?}\n",
            plans.display().to_string(),
            prompts.display().to_string()
        ),
    )
    .unwrap();
    let check = || {
        umgw()
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The shipped German set is complete: only the operator's prompt is missing, named at
    // the attendant that plays it.
    let want = format!(
        "{}:10: error: prompt \"aa-contoso\" of auto attendant \"Zentrale\" is missing in language de-DE",
        plan.display()
    );
    assert!(stderr.contains(&want), "missing {want:?} in\n{stderr}");
    assert!(stderr.trim_end().ends_with("1 error(s)"), "{stderr}");
    support::write_wav(
        &prompts.join("de-DE").join("aa-contoso.wav"),
        &support::test_signal(1000),
    );
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
