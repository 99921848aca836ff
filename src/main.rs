//! `umgw`: command line of the voice-mail gateway.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::info;

use umgw::config::Config;
use umgw::gateway::{self, Resources};

/// umgw: a unified-messaging voice-mail gateway (SIP in, greeting out, voice mail into a mailbox).
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway. Without --config it serves the embedded default: SIP on
    /// 127.0.0.1:5060 (UDP and TCP), the sample dial plans, the shipped prompts and a Maildir
    /// store under ./umgw-data (or $UMGW_DATA_DIR).
    Run {
        /// Gateway configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Tell the running gateway (found by the pid file in its data directory) to reload its
    /// dial plans, as SIGHUP does. Calls in progress are not affected; a plan with errors
    /// keeps the old plans serving (the gateway logs why). Run `umgw check` first.
    Reload {
        /// Gateway configuration file (TOML), to find the data directory.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Load the configuration and dial plans and report every error as file:line:column.
    /// Exits non-zero if there is any error.
    Check {
        /// Gateway configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Dial-plan directory to check (overrides the config's paths.dialplans).
        #[arg(long)]
        dialplans: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("UMGW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Cmd::Run { config } => run(config),
        Cmd::Check { config, dialplans } => check(config, dialplans),
        Cmd::Reload { config } => reload(config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("umgw: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(&p)?,
        None => Config::default(),
    })
}

fn run(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let resources = Resources::load(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let data = gateway::data_dir(&config);
        let running = gateway::start(config, resources).await?;
        let pid_file = data.join("umgw.pid");
        std::fs::write(&pid_file, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", pid_file.display()))?;
        info!(
            udp = ?running.udp, tcp = ?running.tcp, tls = ?running.tls,
            data_dir = %data.display(), "umgw ready"
        );
        let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { info!("interrupted: stopping"); break; }
                _ = term.recv() => { info!("SIGTERM: stopping"); break; }
                _ = hup.recv() => { info!("SIGHUP: reloading dial plans"); running.reload().await; }
            }
        }
        running.shutdown().await;
        let _ = std::fs::remove_file(&pid_file);
        Ok(ExitCode::SUCCESS)
    })
}

fn reload(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let pid_file = gateway::data_dir(&config).join("umgw.pid");
    let text = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("no running gateway: cannot read {}", pid_file.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("{}: not a process id", pid_file.display()))?;
    // SAFETY: kill(2) with a pid read from our own pid file and a constant signal number.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    if rc != 0 {
        anyhow::bail!(
            "cannot signal gateway pid {pid} ({}): {}",
            pid_file.display(),
            std::io::Error::last_os_error()
        );
    }
    println!("reload requested (pid {pid}); the gateway log reports the result");
    Ok(ExitCode::SUCCESS)
}

fn check(config_path: Option<PathBuf>, dialplans: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let dir = dialplans.or(config.paths.dialplans.clone());
    let loaded = match &dir {
        Some(dir) => umgw::dialplan::load_dir(dir),
        None => gateway::assets::dialplans(),
    };
    match loaded {
        Ok(plans) => {
            for w in plans.warnings() {
                eprintln!("{w}");
            }
            let mailboxes: usize = plans.plans().iter().map(|p| p.mailboxes.len()).sum();
            println!(
                "ok: {} dial plan(s), {} mailbox(es){}",
                plans.plans().len(),
                mailboxes,
                if plans.warnings().is_empty() {
                    String::new()
                } else {
                    format!(", {} warning(s)", plans.warnings().len())
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{} error(s)", diags.len());
            Ok(ExitCode::FAILURE)
        }
    }
}
