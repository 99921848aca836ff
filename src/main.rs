//! `umgw`: command line of the voice-mail gateway.
#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::info;

use umgw::admin::Admin;
use umgw::config::Config;
use umgw::gateway::{self, Resources};
use umgw::supervise::Supervisor;

const LONG_ABOUT: &str = "\
umgw answers calls that a call server (Lync / Skype for Business, an SBC, a PBX) forwards \
when a user does not pick up: it plays the user's greeting, records the caller and drops the \
message into the user's Maildir as a MIME message with a WAV attachment, then lights the \
message-waiting lamp (SIP NOTIFY).

The configuration file (TOML, see docs/CONFIG.md) names the listeners, the trusted peers, the \
dial-plan directory and the data directory. Without --config every command uses the embedded \
default: loopback listeners, the sample dial plans and ./umgw-data (or $UMGW_DATA_DIR). \
Packaged installs keep it in /etc/umgw/umgw.toml: pass --config /etc/umgw/umgw.toml to every \
command so they all see the same data directory.";

const EXAMPLES: &str = "\
EXAMPLES:
    umgw run --config /etc/umgw/umgw.toml
    umgw check --config /etc/umgw/umgw.toml
    umgw reload --config /etc/umgw/umgw.toml
    umgw status --config /etc/umgw/umgw.toml
    umgw mailbox list --config /etc/umgw/umgw.toml
    umgw mailbox show alice
    umgw mailbox export alice --out /tmp/alice
    umgw mailbox delete alice 1764236400.M52P901R7f3a.gw1
    umgw play alice 1764236400.M52P901R7f3a.gw1 --out /tmp/msg.wav
    umgw mailbox set-pin alice < pin.txt
    umgw mailbox reset-pin alice
    umgw mailbox unlock alice
    umgw transcribe /tmp/msg.wav

ENVIRONMENT:
    UMGW_LOG        log filter (error, warn, info, debug, trace; e.g. umgw=debug);
                    RUST_LOG is read when UMGW_LOG is not set
    UMGW_LOG_FORMAT log line format: text or json (overrides log.format)
    UMGW_DATA_DIR   data directory when the configuration does not set paths.data_dir

EXIT STATUS:
    0 on success, 1 on any error (the message says what and where).";

/// umgw: a unified-messaging voice-mail gateway (SIP in, greeting out, voice mail into a mailbox).
#[derive(Parser)]
#[command(version, about, long_about = LONG_ABOUT, after_long_help = EXAMPLES)]
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
    /// Inspect and manage mailboxes: counts, messages, export, delete, PIN, log-on lock.
    #[command(
        long_about = "Inspect and manage the mailboxes of the dial plans. These commands read \
and change the same Maildir store the gateway writes (<data_dir>/mailboxes/<id>/), so they are \
safe beside a running gateway: only committed messages are seen, and a deletion is one unlink.",
        after_long_help = "EXAMPLES:
    umgw mailbox list --config /etc/umgw/umgw.toml
    umgw mailbox show alice --config /etc/umgw/umgw.toml
    umgw mailbox export alice --out /tmp/alice-mail
    umgw mailbox delete alice 1764236400.M52P901R7f3a.gw1
    printf '582914\\n' | umgw mailbox set-pin alice
    umgw mailbox reset-pin alice
    umgw mailbox unlock alice
    umgw mailbox migrate-state"
    )]
    Mailbox {
        /// Gateway configuration file (TOML), to find the dial plans and the data directory.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: MailboxCmd,
    },
    /// Write the recording of one message to a WAV file (8 kHz, 16-bit mono) to listen to.
    #[command(after_long_help = "EXAMPLE:
    umgw play alice 1764236400.M52P901R7f3a.gw1 --out /tmp/msg.wav && aplay /tmp/msg.wav")]
    Play {
        /// Mailbox id (as in the dial plan's [[Mailbox]] Id).
        mailbox: String,
        /// Message id, as `umgw mailbox show` prints it.
        message: String,
        /// WAV file to write.
        #[arg(long, short)]
        out: PathBuf,
        /// Gateway configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Call a user and play one of their messages (Exchange's Play on Phone): asks the running
    /// gateway over its admin endpoint (POST /play-on-phone with the bearer token of
    /// admin.token_file). The number or SIP URI must be the mailbox's own.
    #[command(after_long_help = "EXAMPLE:
    umgw play-on-phone alice 1764236400.M52P901R7f3a.gw1 --to +14255551001 --config /etc/umgw/umgw.toml")]
    PlayOnPhone {
        /// Mailbox id (as in the dial plan's [[Mailbox]] Id).
        mailbox: String,
        /// Message id, as `umgw mailbox show` prints it.
        message: String,
        /// The number or SIP URI to call (the user's Extension, E164 or SipAddress).
        #[arg(long)]
        to: String,
        /// Gateway configuration file (TOML), for [admin].
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Transcribe audio files with the configured Voice Mail Preview engine and print the
    /// preview each would get (WAV, MP3, FLAC or OGG; resampled to 8 kHz as a call is).
    #[command(after_long_help = "EXAMPLE:
    umgw transcribe --config /etc/umgw/umgw.toml /tmp/msg.wav")]
    Transcribe {
        /// Audio files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Gateway configuration file (TOML), for [transcription].
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Ask the running gateway for its status (HTTP GET http://<admin.listen>/status) and
    /// print the answer: calls in progress, and so on. Needs [admin] listen in the config.
    #[command(after_long_help = "EXAMPLE:
    umgw status --config /etc/umgw/umgw.toml")]
    Status {
        /// Gateway configuration file (TOML), to find admin.listen.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum MailboxCmd {
    /// Every mailbox of the dial plans with its new/old voice-mail and missed-call counts, its
    /// failed log-on attempts and whether it is locked.
    List,
    /// Whether the mailbox has a PIN, its failed log-on attempts and whether it is locked,
    /// then its messages: id, kind, caller, received time (UTC), duration, seen.
    Show {
        /// Mailbox id.
        mailbox: String,
    },
    /// Copy every message of a mailbox, as raw RFC 5322 `<message id>.eml` files, into DIR.
    Export {
        /// Mailbox id.
        mailbox: String,
        /// Directory to write to (created if missing).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Remove one message (seen or not) from a mailbox. The lamp is brought up to date at the
    /// gateway's next MWI NOTIFY for the mailbox (the next deposit or restart).
    Delete {
        /// Mailbox id.
        mailbox: String,
        /// Message id, as `umgw mailbox show` prints it.
        message: String,
    },
    /// Set the mailbox's PIN, read from standard input (never from the command line, where
    /// other users could see it). On a terminal it asks twice without echo. The PIN must
    /// have at least 6 digits, not be one digit repeated or a run like 123456 or 987654, not
    /// contain the mailbox's extension, and differ from the last 5 PINs. Only an argon2id
    /// hash is stored (<data_dir>/mailboxes/<id>/pin, mode 0600, or on the IMAP server with
    /// store.backend = "imap"); the PIN is never logged. The user must choose a new PIN at
    /// the first log-on unless --no-change-required.
    SetPin {
        /// Mailbox id.
        mailbox: String,
        /// Let the user keep this PIN: by default they must choose a new one at the first
        /// log-on (Exchange's Set-UMMailboxPIN -PinExpired $false).
        #[arg(long)]
        no_change_required: bool,
    },
    /// Give the mailbox a random PIN that meets its dial plan's PIN policy and print it once
    /// (it is stored only as a hash and never logged); the user must choose a new PIN at the
    /// first log-on. Also unlocks a locked mailbox.
    ResetPin {
        /// Mailbox id.
        mailbox: String,
    },
    /// Unlock a mailbox locked after too many failed log-ons (MaxLogonAttempts): clears the
    /// failed-attempt count and the lock, and leaves the PIN as it is. Safe beside a running
    /// gateway (it takes the lock the gateway's PIN checks take).
    Unlock {
        /// Mailbox id.
        mailbox: String,
    },
    /// With store.backend = "imap": copy the PIN files and greetings this host keeps under
    /// <data_dir>/mailboxes/<id>/ (from versions that kept them per host) to the IMAP server,
    /// where every gateway node finds them. Whatever the server has already is left as it is,
    /// so running it again (or on every node) changes nothing; the local files are not removed.
    MigrateState {
        /// Mailbox id; every mailbox of the dial plans when omitted.
        mailbox: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The environment wins; else the config's [log] (for `run`): umgw::logging.
    let configured = match &cli.command {
        Cmd::Run { config: Some(path) } => Config::load(path).map(|c| c.log).ok(),
        _ => None,
    };
    umgw::logging::init(&umgw::logging::settings(
        &umgw::logging::LogEnv::from_process(),
        configured.as_ref(),
    ));
    let result = match cli.command {
        Cmd::Run { config } => run(config),
        Cmd::Check { config, dialplans } => check(config, dialplans),
        Cmd::Reload { config } => reload(config),
        Cmd::Mailbox { config, command } => mailbox(config, command),
        Cmd::Play {
            mailbox,
            message,
            out,
            config,
        } => play(config, &mailbox, &message, &out),
        Cmd::Status { config } => status(config),
        Cmd::PlayOnPhone {
            mailbox,
            message,
            to,
            config,
        } => play_on_phone(config, &mailbox, &message, &to),
        Cmd::Transcribe { files, config } => transcribe(config, &files),
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

/// Threads of the runtime's blocking pool (storage, file I/O).
const BLOCKING_THREADS: usize = 32;

fn run(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let resources = Resources::load(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Storage work queues rather than growing to hundreds of runnable threads after a
        // wave of calls ends, which would crowd out the media workers. Enough for the IMAP
        // pool (`imap.pool_size`) and the spool with room to spare.
        .max_blocking_threads(BLOCKING_THREADS.max(2 * config.imap.pool_size))
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
        let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        // The listeners are bound; ready (and READY=1 to systemd) once the store answers.
        let supervisor = Supervisor::new(running.probe());
        supervisor.spawn_watchdog();
        let (udp, tcp, tls) = (
            running.udp.clone(),
            running.tcp.clone(),
            running.tls.clone(),
        );
        let readiness = supervisor.spawn_readiness(move || {
            info!(udp = ?udp, tcp = ?tcp, tls = ?tls, data_dir = %data.display(), "umgw ready");
        });
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { info!("interrupted: stopping"); break; }
                _ = term.recv() => { info!("SIGTERM: stopping"); break; }
                _ = hup.recv() => {
                    info!("SIGHUP: reloading dial plans");
                    supervisor.reload(running.reload()).await;
                }
            }
        }
        readiness.abort();
        supervisor.stopping();
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
    if let Err(e) = umgw::net::os::send_hangup(pid) {
        anyhow::bail!(
            "cannot signal gateway pid {pid} ({}): {e}",
            pid_file.display()
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
    // What start-up would refuse: an API key or CA the server engine cannot read.
    match umgw::transcribe::Previewer::from_config(&config.transcription) {
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
        // Not an error: the gateway runs, without previews.
        Ok(None) if config.transcription.engine != "none" => eprintln!(
            "warning: Voice Mail Preview is off: the embedded speech model is not installed \
             (scripts/install-model.sh, or /usr/share/umgw/install-model.sh from the package)"
        ),
        Ok(_) => {}
    }
    // What start-up would refuse: an SMTP CA or password that cannot be read.
    if let Err(e) = umgw::email::check(&config.email) {
        eprintln!("{e:#}");
        return Ok(ExitCode::FAILURE);
    }
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
            let unsent = umgw::email::unsent_notices(&config.email, &plans);
            for w in &unsent {
                eprintln!("{w}");
            }
            let prompts = match gateway::prompt_library(&config) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e:#}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let missing = gateway::missing_prompts(&plans, &prompts);
            if !missing.is_empty() {
                for m in &missing {
                    eprintln!("{m}");
                }
                eprintln!("{} error(s)", missing.len());
                return Ok(ExitCode::FAILURE);
            }
            let mailboxes: usize = plans.plans().iter().map(|p| p.mailboxes.len()).sum();
            println!(
                "ok: {} dial plan(s), {} mailbox(es){}",
                plans.plans().len(),
                mailboxes,
                match plans.warnings().len() + unsent.len() {
                    0 => String::new(),
                    n => format!(", {n} warning(s)"),
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

fn mailbox(config_path: Option<PathBuf>, command: MailboxCmd) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let admin = Admin::open(&config)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        MailboxCmd::List => admin.list(&mut out)?,
        MailboxCmd::Show { mailbox } => admin.show(&mailbox, &mut out)?,
        MailboxCmd::Export { mailbox, out: dir } => {
            let n = admin.export(&mailbox, &dir)?;
            writeln!(out, "exported {n} message(s) to {}", dir.display())?;
        }
        MailboxCmd::Delete { mailbox, message } => {
            let path = admin.delete(&mailbox, &message)?;
            writeln!(out, "deleted {}", path.display())?;
        }
        MailboxCmd::SetPin {
            mailbox,
            no_change_required,
        } => {
            let pin = read_pin()?;
            admin.set_pin(&mailbox, &pin, !no_change_required)?;
            let then = match no_change_required {
                true => "",
                false => "; the user must choose a new PIN at the first log-on",
            };
            writeln!(out, "PIN set for mailbox {mailbox}{then}")?;
        }
        MailboxCmd::ResetPin { mailbox } => {
            let pin = admin.reset_pin(&mailbox)?;
            writeln!(
                out,
                "new PIN for mailbox {mailbox}: {pin}\n(the user must choose a new PIN at the first log-on)"
            )?;
        }
        MailboxCmd::Unlock { mailbox } => {
            let (failed, locked) = admin.unlock(&mailbox)?;
            let was = if locked { "locked" } else { "not locked" };
            writeln!(
                out,
                "mailbox {mailbox} unlocked (it was {was}, {failed} failed log-on(s)); the PIN is unchanged"
            )?;
        }
        MailboxCmd::MigrateState { mailbox } => {
            admin.migrate_state(mailbox.as_deref(), &mut out)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn play(
    config_path: Option<PathBuf>,
    mailbox: &str,
    message: &str,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    Admin::open(&config)?.play(mailbox, message, out)?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn transcribe(config_path: Option<PathBuf>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let cfg = &config.transcription;
    let engine = umgw::transcribe::engine_from_config(cfg)
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no transcription engine: [transcription] engine is \"none\", or the embedded \
                 model is not installed (scripts/install-model.sh)"
            )
        })?;
    let cap = usize::try_from(cfg.max_seconds)? * umgw::audio::SAMPLE_RATE as usize;
    for file in files {
        let mut samples = umgw::media::prompts::load(file)?;
        samples.truncate(cap);
        let started = std::time::Instant::now();
        let deadline = started + std::time::Duration::from_millis(cfg.deadline_ms);
        let t = engine
            .transcribe(&samples, deadline)
            .with_context(|| format!("{}", file.display()))?;
        let audio = samples.len() as f64 / f64::from(umgw::audio::SAMPLE_RATE);
        println!(
            "{}: {audio:.1} s of audio in {:.1} s, confidence {}",
            file.display(),
            started.elapsed().as_secs_f64(),
            t.confidence.map_or("unknown".into(), |c| format!("{c:.2}"))
        );
        match t.preview() {
            Some(p) => println!(
                "  {}{}",
                p.text,
                if p.low_confidence {
                    " (low confidence)"
                } else {
                    ""
                }
            ),
            None => println!("  (nothing recognised)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let body = umgw::admin::status(&config)?;
    print!("{body}");
    if !body.is_empty() && !body.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn play_on_phone(
    config_path: Option<PathBuf>,
    mailbox: &str,
    message: &str,
    to: &str,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    print!(
        "{}",
        umgw::admin::play_on_phone(&config, mailbox, message, to)?
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a PIN from standard input: on a terminal twice, without echo; otherwise the first line.
fn read_pin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = prompt_hidden("New PIN: ")?;
        let second = prompt_hidden("Repeat the PIN: ")?;
        if first != second {
            anyhow::bail!("the two PINs differ; nothing changed");
        }
        return Ok(first);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the PIN from standard input")?;
    let pin = line.trim_end_matches(['\r', '\n']).to_owned();
    if pin.is_empty() {
        anyhow::bail!("no PIN on standard input (write it as the first line)");
    }
    Ok(pin)
}

/// Prompts on stderr and reads one line from the terminal with echo off.
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let echo_off = umgw::net::os::EchoOff::stdin().context("cannot turn terminal echo off")?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo_off);
    read.context("reading the PIN")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
