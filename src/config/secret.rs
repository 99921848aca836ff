//! Passwords in the config: kept out of `Debug` output and logs, read from the config, a
//! file or the environment.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A secret (password) that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A password from `password`, `password_file` (its first line) or `password_env`, in that
/// order (`[imap]`, `[email]`).
pub fn resolve_password(
    password: Option<&Secret>,
    password_file: Option<&Path>,
    password_env: Option<&str>,
) -> Result<String, String> {
    if let Some(p) = password {
        return Ok(p.0.clone());
    }
    if let Some(path) = password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("password_file {}: {e}", path.display()))?;
        return Ok(text.lines().next().unwrap_or("").to_owned());
    }
    if let Some(var) = password_env {
        return std::env::var(var).map_err(|_| format!("password_env {var} is not set"));
    }
    Err("no password: set password, password_file or password_env".into())
}
