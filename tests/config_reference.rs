//! `docs/CONFIG.md` cannot drift from the parser: every key `Config` serialises is documented
//! with its default, every documented key exists, and the complete example parses.

use std::collections::BTreeMap;
use std::path::Path;

use umgw::config::{Config, StaticRoute};

const DOC: &str = include_str!("../docs/CONFIG.md");

/// Every key path (`sip.t1_ms`, `sip.routes.domain`, ...) of `value`, with its TOML rendering.
fn key_paths(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                // Sections are tables; keys below them are what the reference documents.
                if matches!(v, toml::Value::Table(_)) && !prefix.is_empty() {
                    out.insert(path.clone(), v.to_string());
                }
                key_paths(&path, v, out);
            }
        }
        toml::Value::Array(items) if items.iter().any(|i| i.is_table()) => {
            out.insert(prefix.to_owned(), value.to_string());
            for item in items {
                key_paths(prefix, item, out);
            }
        }
        _ if !prefix.is_empty() => {
            out.insert(prefix.to_owned(), value.to_string());
        }
        _ => {}
    }
}

fn keys_of(config: &Config) -> BTreeMap<String, String> {
    let value = toml::Value::try_from(config).unwrap();
    let mut out = BTreeMap::new();
    key_paths("", &value, &mut out);
    out
}

/// The default config plus one with every optional key set, so `Option` fields and the
/// `[[sip.routes]]` table appear too.
fn populated() -> Config {
    let mut c = Config::default();
    c.sip.routes.push(StaticRoute {
        domain: "pool01.contoso.com".into(),
        address: "10.1.0.21:5061".parse().unwrap(),
        transport: "tls".into(),
    });
    c.tls.certificate = Some("/etc/umgw/umgw.pem".into());
    c.tls.private_key = Some("/etc/umgw/umgw.key".into());
    c.tls.ca = Some("/etc/umgw/ca.pem".into());
    c.paths.dialplans = Some("/etc/umgw/dialplans".into());
    c.paths.prompts = Some("/usr/share/umgw/audio".into());
    c.paths.data_dir = Some("/var/lib/umgw".into());
    c.paths.mailboxes = Some("/srv/voicemail/mailboxes".into());
    c.admin.listen = Some("127.0.0.1:9060".parse().unwrap());
    c.admin.token_file = Some("/etc/umgw/admin.token".into());
    c.imap.ca = Some("/etc/umgw/mail-ca.pem".into());
    c.imap.server_name = Some("mail.contoso.com".into());
    c.imap.password = Some(umgw::config::Secret("x".into()));
    c.imap.password_file = Some("/etc/umgw/imap.password".into());
    c.imap.password_env = Some("UMGW_IMAP_PASSWORD".into());
    c.transcription.ca = Some("/etc/umgw/gpu-ca.pem".into());
    c.transcription.api_key_file = Some("/etc/umgw/transcription.key".into());
    c.transcription.api_key_env = Some("UMGW_TRANSCRIPTION_KEY".into());
    c.transcription.language = Some("en".into());
    c.transcription.model_dir = Some("/opt/umgw/whisper-tiny.en".into());
    c.email.ca = Some("/etc/umgw/mail-ca.pem".into());
    c.email.server_name = Some("smtp.contoso.com".into());
    c.email.user = Some("umgw@contoso.com".into());
    c.email.password = Some(umgw::config::Secret("x".into()));
    c.email.password_file = Some("/etc/umgw/smtp.password".into());
    c.email.password_env = Some("UMGW_SMTP_PASSWORD".into());
    c
}

/// The reference table row documenting `key`, split into cells.
fn row(key: &str) -> Option<Vec<&'static str>> {
    let needle = format!("| `{key}` |");
    DOC.lines()
        .find(|l| l.starts_with(&needle))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
}

#[test]
fn every_key_is_documented_with_its_default() {
    let defaults = keys_of(&Config::default());
    let all = keys_of(&populated());
    // The walk itself must see nested and optional keys (38 keys in 8 sections today).
    assert!(all.len() >= 38, "walk found too few keys: {all:?}");
    for k in [
        "sip.routes.transport",
        "admin.listen",
        "tls.ca",
        "paths.data_dir",
        "sip.t1_ms",
    ] {
        assert!(all.contains_key(k), "{k} not walked: {all:?}");
    }
    let mut missing = Vec::new();
    for key in all.keys() {
        if row(key).is_none() {
            missing.push(key.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/CONFIG.md has no `| `key` |` table row for: {missing:?}"
    );
    for (key, default) in &defaults {
        let cells = row(key).unwrap();
        assert_eq!(cells.len(), 5, "{key}: row needs 5 columns: {cells:?}");
        if key == "sip.server_name" {
            assert_eq!(cells[2], "`\"umgw/<version>\"`");
            assert_eq!(default, &format!("\"umgw/{}\"", env!("CARGO_PKG_VERSION")));
            continue;
        }
        if key == "sip.routes" {
            assert!(cells[2].starts_with("`[]`"), "{cells:?}");
            continue;
        }
        assert_eq!(
            cells[2],
            format!("`{default}`"),
            "{key}: Default column differs from Config::default()"
        );
    }
    // A route with only its required keys shows the per-route defaults (transport).
    let route = Config::parse(
        Path::new("route.toml"),
        "[[sip.routes]]\ndomain = \"x\"\naddress = \"192.0.2.1:5060\"\n",
    )
    .unwrap();
    let route_keys = keys_of(&route);
    for (key, default) in route_keys
        .iter()
        .filter(|(k, _)| k.starts_with("sip.routes."))
    {
        let cells = row(key).unwrap();
        if key == "sip.routes.domain" || key == "sip.routes.address" {
            assert_eq!(cells[2], "required", "{key}");
        } else {
            assert_eq!(cells[2], format!("`{default}`"), "{key}: per-route default");
        }
    }
    // Keys that are unset by default say so (or say what the fallback is).
    for key in all
        .keys()
        .filter(|k| !defaults.contains_key(*k) && !route_keys.contains_key(*k))
    {
        let cells = row(key).unwrap();
        assert!(
            ["unset", "required"]
                .iter()
                .any(|w| cells[2].starts_with(w)),
            "{key}: Default column should start with unset/required: {cells:?}"
        );
    }
}

#[test]
fn every_documented_key_exists() {
    let all = keys_of(&populated());
    let sections = [
        "sip",
        "tls",
        "media",
        "peers",
        "paths",
        "call",
        "subscriber",
        "limits",
        "admin",
        "log",
        "store",
        "imap",
        "transcription",
        "email",
    ];
    for line in DOC.lines().filter(|l| l.starts_with("| `")) {
        let key = line.trim_start_matches("| `").split('`').next().unwrap();
        assert!(
            sections.contains(&key.split('.').next().unwrap()),
            "unknown section in {line}"
        );
        assert!(
            all.contains_key(key),
            "docs/CONFIG.md documents {key}, which the parser does not know"
        );
    }
}

#[test]
fn the_complete_example_parses_and_sets_every_key() {
    let start = DOC.find("## Complete example").expect("example section");
    let block = &DOC[start..];
    let body_start = block.find("```toml\n").expect("```toml block") + "```toml\n".len();
    let body = &block[body_start..];
    let body = &body[..body.find("```").expect("closing fence")];
    let config = Config::parse(Path::new("docs/CONFIG.md"), body).unwrap();
    assert_eq!(config.sip.routes.len(), 1);
    assert_eq!(config.admin.listen, Some("127.0.0.1:9060".parse().unwrap()));
    let in_example = keys_of(&config);
    let missing: Vec<String> = keys_of(&populated())
        .into_keys()
        .filter(|k| !in_example.contains_key(k))
        .collect();
    assert!(missing.is_empty(), "the example does not set {missing:?}");
}

#[test]
fn the_packaged_config_parses() {
    let text = include_str!("../packaging/umgw.toml");
    let c = Config::parse(Path::new("packaging/umgw.toml"), text).unwrap();
    assert_eq!(
        c.paths.data_dir.as_deref(),
        Some(Path::new("/var/lib/umgw"))
    );
    assert_eq!(
        c.paths.dialplans.as_deref(),
        Some(Path::new("/etc/umgw/dialplans"))
    );
    assert_eq!(
        c.paths.prompts.as_deref(),
        Some(Path::new("/usr/share/umgw/audio"))
    );
    // Loopback until an operator edits it.
    for a in c.sip.udp.iter().chain(&c.sip.tcp) {
        assert!(a.ip().is_loopback(), "{a}");
    }
}
