//! What is logged and how: the filter and the line format, chosen from the environment and
//! `[log]`. Lines go to stderr (the journal under systemd).
//!
//! - Filter: `UMGW_LOG`, else `RUST_LOG` (the Rust ecosystem's name), else `log.level`, else
//!   `info`. `UMGW_LOG` wins because it names this program, while `RUST_LOG` may be set for a
//!   whole host or container. An empty variable counts as unset; one that is not a filter is
//!   skipped with a warning.
//! - Format: `UMGW_LOG_FORMAT`, else `log.format`: `text` lines, or `json`, one object per
//!   line carrying the fields of the call's span (`span.call_id`, `span.mailbox`), so a log
//!   pipeline can group a call's lines.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// How a log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` or `json` (`log.format`, `UMGW_LOG_FORMAT`).
    pub fn from_config(name: &str) -> Option<LogFormat> {
        match name {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The environment variables logging reads.
#[derive(Debug, Clone, Default)]
pub struct LogEnv {
    pub umgw_log: Option<String>,
    pub rust_log: Option<String>,
    pub umgw_log_format: Option<String>,
}

impl LogEnv {
    /// This process's.
    pub fn from_process() -> LogEnv {
        let var = |name| std::env::var(name).ok();
        LogEnv {
            umgw_log: var("UMGW_LOG"),
            rust_log: var("RUST_LOG"),
            umgw_log_format: var("UMGW_LOG_FORMAT"),
        }
    }
}

/// What logging will use, and what was wrong on the way (logged once logging is up).
#[derive(Debug)]
pub struct LogSettings {
    /// Where the filter came from: `UMGW_LOG`, `RUST_LOG`, `log.level` or `default`.
    pub filter_source: &'static str,
    pub filter: String,
    pub format: LogFormat,
    pub warnings: Vec<String>,
}

/// Chooses the filter and the format (see the module docs for the order). `config` is the
/// `[log]` of `umgw run --config`, if any.
pub fn settings(env: &LogEnv, config: Option<&LogConfig>) -> LogSettings {
    let mut warnings = Vec::new();
    let candidates = [
        ("UMGW_LOG", env.umgw_log.as_deref()),
        ("RUST_LOG", env.rust_log.as_deref()),
        ("log.level", config.map(|c| c.level.as_str())),
    ];
    let mut chosen = ("default", "info".to_owned());
    for (source, value) in candidates {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        match EnvFilter::try_new(value) {
            Ok(_) => {
                chosen = (source, value.to_owned());
                break;
            }
            Err(e) => warnings.push(format!(
                "{source}={value:?} is not a log filter ({e}); ignored"
            )),
        }
    }
    let configured = config.map(|c| c.format.as_str());
    let format = match env.umgw_log_format.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => LogFormat::from_config(name).unwrap_or_else(|| {
            warnings.push(format!(
                "UMGW_LOG_FORMAT={name:?} is not text or json; ignored"
            ));
            configured
                .and_then(LogFormat::from_config)
                .unwrap_or_default()
        }),
        // `log.format` was validated with the config.
        _ => configured
            .and_then(LogFormat::from_config)
            .unwrap_or_default(),
    };
    LogSettings {
        filter_source: chosen.0,
        filter: chosen.1,
        format,
        warnings,
    }
}

/// Installs the process's logger on stderr as `settings` say, then logs their warnings.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(umgw: Option<&str>, rust: Option<&str>, format: Option<&str>) -> LogEnv {
        LogEnv {
            umgw_log: umgw.map(Into::into),
            rust_log: rust.map(Into::into),
            umgw_log_format: format.map(Into::into),
        }
    }

    fn config(level: &str, format: &str) -> LogConfig {
        LogConfig {
            level: level.into(),
            format: format.into(),
        }
    }

    #[test]
    fn umgw_log_wins_over_rust_log_which_wins_over_the_config() {
        let c = config("warn", "text");
        let s = settings(&env(Some("debug"), Some("trace"), None), Some(&c));
        assert_eq!((s.filter_source, s.filter.as_str()), ("UMGW_LOG", "debug"));
        let s = settings(&env(None, Some("umgw::sip=trace"), None), Some(&c));
        assert_eq!(
            (s.filter_source, s.filter.as_str()),
            ("RUST_LOG", "umgw::sip=trace")
        );
        let s = settings(&env(None, None, None), Some(&c));
        assert_eq!((s.filter_source, s.filter.as_str()), ("log.level", "warn"));
        let s = settings(&env(None, None, None), None);
        assert_eq!((s.filter_source, s.filter.as_str()), ("default", "info"));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn empty_variables_count_as_unset_and_bad_filters_are_skipped_with_a_warning() {
        let c = config("warn", "text");
        let s = settings(&env(Some(""), Some("debug"), None), Some(&c));
        assert_eq!((s.filter_source, s.filter.as_str()), ("RUST_LOG", "debug"));
        assert!(s.warnings.is_empty());
        let s = settings(&env(Some("umgw=loud"), None, None), Some(&c));
        assert_eq!((s.filter_source, s.filter.as_str()), ("log.level", "warn"));
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(
            s.warnings[0].starts_with("UMGW_LOG=\"umgw=loud\""),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn format_from_the_environment_then_the_config() {
        let json = config("info", "json");
        assert_eq!(
            settings(&env(None, None, None), Some(&json)).format,
            LogFormat::Json
        );
        assert_eq!(
            settings(&env(None, None, None), None).format,
            LogFormat::Text
        );
        let s = settings(&env(None, None, Some("text")), Some(&json));
        assert_eq!(s.format, LogFormat::Text);
        let s = settings(&env(None, None, Some("json")), None);
        assert_eq!(s.format, LogFormat::Json);
        let s = settings(&env(None, None, Some("xml")), Some(&json));
        assert_eq!(s.format, LogFormat::Json);
        assert!(
            s.warnings[0].contains("UMGW_LOG_FORMAT"),
            "{:?}",
            s.warnings
        );
    }
}
