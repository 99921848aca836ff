//! `[email]`: e-mail notification of new voice mail over SMTP, for mailboxes with a
//! `NotifyEmail` address in their dial plan (docs/CONFIG.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// The SMTP server new-message notices are sent through, and how.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `host:port` of the submission server; empty: no e-mail notification (a dial plan's
    /// `NotifyEmail` is then only a warning in `umgw check`).
    pub smtp_server: String,
    /// `starttls` (submission, port 587: the connection must upgrade to TLS), `tls` (implicit
    /// TLS, port 465) or `none` (plain SMTP: loopback or a trusted relay only).
    pub tls: String,
    /// PEM CA certificates the server's certificate must chain to; unset: the system's roots.
    pub ca: Option<PathBuf>,
    /// Name checked against the server certificate; default: the host part of `smtp_server`.
    pub server_name: Option<String>,
    /// SMTP AUTH user (PLAIN or LOGIN, over TLS only); unset: no authentication.
    pub user: Option<String>,
    /// Password of `user` (prefer `password_file` or `password_env`).
    pub password: Option<Secret>,
    /// File whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// `From:` of the notices and the envelope sender, e.g. `Voice Mail <voicemail@contoso.com>`.
    pub from: String,
    /// Attach the recording (as the mailbox's copy has it); a mailbox's
    /// `NotifyEmailAttachAudio` overrides it.
    pub attach_audio: bool,
    /// Longest wait for the server, per command (ms).
    pub timeout_ms: u64,
    /// First retry of a notice the server did not take (ms); doubles per failure.
    pub retry_initial_ms: u64,
    /// Longest wait between retries (ms).
    pub retry_max_ms: u64,
    /// A notice still not sent after this long is given up (moved to `outbox/failed`) (hours).
    pub give_up_hours: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_server: String::new(),
            tls: "starttls".into(),
            ca: None,
            server_name: None,
            user: None,
            password: None,
            password_file: None,
            password_env: None,
            from: String::new(),
            attach_audio: true,
            timeout_ms: 30_000,
            retry_initial_ms: 5_000,
            retry_max_ms: 600_000,
            give_up_hours: 72,
        }
    }
}

impl EmailConfig {
    /// Whether notices are sent at all.
    pub fn enabled(&self) -> bool {
        !self.smtp_server.trim().is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        self.host_port()?;
        if !matches!(self.tls.as_str(), "starttls" | "tls" | "none") {
            return Err(format!(
                "email.tls {:?} must be starttls, tls or none",
                self.tls
            ));
        }
        if self.tls == "none" && self.user.is_some() {
            return Err(
                "email.user is set with email.tls = \"none\": the password would cross the network in clear; use starttls or tls"
                    .into(),
            );
        }
        if self.user.is_some()
            && self.password.is_none()
            && self.password_file.is_none()
            && self.password_env.is_none()
        {
            return Err(
                "email.user is set: give its password (password_file, password_env or password)"
                    .into(),
            );
        }
        if self.from.trim().is_empty() {
            return Err(
                "email.from must be set, e.g. \"Voice Mail <voicemail@contoso.com>\"".into(),
            );
        }
        if crate::email::parse_mailbox(&self.from).is_none() {
            return Err(format!(
                "email.from {:?} is not an e-mail address (\"name@domain\" or \"Name <name@domain>\")",
                self.from
            ));
        }
        if self.timeout_ms == 0 {
            return Err("email.timeout_ms must be > 0".into());
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err("email.retry_initial_ms must be > 0 and email.retry_max_ms >= it".into());
        }
        if self.give_up_hours == 0 {
            return Err("email.give_up_hours must be > 0".into());
        }
        Ok(())
    }

    /// Host and port of `smtp_server` (`[v6]:port` allowed).
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let s = self.smtp_server.trim();
        let bad = || {
            format!(
                "email.smtp_server {:?} must be host:port, e.g. \"smtp.contoso.com:587\"",
                self.smtp_server
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|&p| p > 0).ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok((host.to_owned(), port))
    }
}
