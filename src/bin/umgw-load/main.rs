//! umgw-load: a SIP/RTP load generator for voice-mail servers (docs/PERFORMANCE.md).
//!
//! Places `--calls` calls at `--rate` per second: INVITE → 200 → ACK, then streams a PCMU tone
//! for `--hold` seconds while receiving the server's prompt, then BYE. Built for umgw (the
//! History-Info of a Lync-style diversion names the mailbox), but valid SIP for any server
//! (`--called`, `--mailbox ''`), e.g. Asterisk's PJSIP with app_voicemail. `--srtp` offers
//! RTP/SAVP with an SDES key and encrypts and authenticates with the crate's own SRTP.
//!
//! Threads: one for SIP (`sip.rs`, sans-IO, driven here) and `--threads` media threads
//! (`media.rs`), each owning every `threads`-th call with its own RTP socket and 1 ms clock,
//! so the generator is not what limits a measurement. Prints one table row (`stats.rs`).
#![forbid(unsafe_code)]

mod media;
mod sip;
mod stats;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Parser;
use umgw::net::udp_batch::{self, Batch};

use media::{Command, TalkDone, Worker};
use sip::{Output, Uac};
use stats::{proc_usage, scrape_all, usage_of, Counters, Usage};

#[derive(Parser, Debug)]
#[command(about = "SIP/RTP load generator for voice-mail deposit calls")]
struct Args {
    /// The server's SIP UDP address (umgw, or another server with `scripts/load.sh --target`).
    #[arg(long, visible_alias = "target", default_value = "127.0.0.1:5060")]
    gateway: SocketAddr,
    /// Local address to send from (must be a trusted peer of the gateway).
    #[arg(long, default_value = "127.0.0.1")]
    local: IpAddr,
    /// Number of calls to place.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// New calls per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds each call streams audio after the answer before hanging up (50 packets a second).
    #[arg(long, default_value_t = 10.0)]
    hold: f64,
    /// Request-URI and To of the INVITEs (default `sip:vm@<gateway>`), e.g. `sip:1001@HOST`.
    #[arg(long)]
    called: Option<String>,
    /// From URI (default `sip:+14255550199@<local>`).
    #[arg(long)]
    caller: Option<String>,
    /// The mailbox called, as the History-Info target of a diversion. `{n}` in it becomes the
    /// call's number modulo `--mailboxes`, spreading the calls over that many mailboxes. An
    /// empty value sends no History-Info.
    #[arg(long, default_value = "sip:alice@contoso.com")]
    mailbox: String,
    #[arg(long, default_value_t = 1)]
    mailboxes: usize,
    /// Offer SRTP (RTP/SAVP, a=crypto AES_CM_128_HMAC_SHA1_80 with an SDES key); an answer
    /// that is not RTP/SAVP fails the call, and the run exits with an error.
    #[arg(long)]
    srtp: bool,
    /// Media threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// The gateway's process id, for CPU and RSS figures; repeated for a cluster's nodes
    /// (the figures are their sum).
    #[arg(long)]
    gateway_pid: Vec<u32>,
    /// The gateway's admin address, for its RTP counters (/metrics); repeated for a cluster's
    /// nodes (the counters are summed).
    #[arg(long)]
    metrics: Vec<SocketAddr>,
    /// Print the table header line before the row.
    #[arg(long)]
    header: bool,
    /// Only write a greeting WAV of `--greeting-ms` (a tone) to this path and exit.
    #[arg(long)]
    write_greeting: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    greeting_ms: u32,
    /// What the callers say: a recording (any format umgw plays as a prompt; resampled to
    /// 8 kHz), looped for the hold time. Default: a tone.
    #[arg(long)]
    speech: Option<PathBuf>,
}

/// Most concurrent calls seen, and the gateway's usage then.
type Peak = Option<(usize, Usage)>;

fn write_greeting(path: &PathBuf, ms: u32) -> Result<()> {
    let mut w = hound::WavWriter::create(path, umgw::media::recorder::wav_spec())
        .with_context(|| format!("creating {}", path.display()))?;
    for n in 0..(ms * 8) {
        let s = (f64::from(n) * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 6000.0;
        w.write_sample(s as i16)?;
    }
    w.finalize()?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.write_greeting {
        return write_greeting(path, args.greeting_ms);
    }
    if args.calls == 0 || args.rate <= 0.0 || args.hold < 0.0 {
        bail!("--calls and --rate must be positive, --hold not negative");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let speech = match &args.speech {
        Some(path) => {
            let samples = umgw::media::prompts::load(path)
                .with_context(|| format!("reading --speech {}", path.display()))?;
            Some(media::pcmu_frames(&samples))
        }
        None => None,
    };
    let sip = UdpSocket::bind((args.local, 0)).context("binding the SIP socket")?;
    sip.set_nonblocking(true)?;
    // A burst of responses while this thread is busy must not be dropped, or the set-up
    // figures measure our retransmissions.
    udp_batch::configure(sip.as_raw_fd(), 8 << 20);
    let local = sip.local_addr()?;

    let epoch = Instant::now();
    let (done_tx, done_rx) = mpsc::channel::<TalkDone>();
    let mut commands = Vec::new();
    let mut handles = Vec::new();
    let mut rtp_ports = Vec::new();
    for w in 0..threads {
        let rtp = UdpSocket::bind((args.local, 0)).context("binding an RTP socket")?;
        rtp.set_nonblocking(true)?;
        rtp_ports.push(rtp.local_addr()?.port());
        let (tx, rx) = mpsc::channel::<Command>();
        commands.push(tx);
        let worker = Worker::new(rtp, threads, args.calls, epoch, speech.clone());
        let done = done_tx.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("media{w}"))
                .spawn(move || worker.run(rx, done))
                .context("starting a media thread")?,
        );
    }
    let cfg = sip::Config {
        target: args.gateway,
        local,
        called: args
            .called
            .clone()
            .unwrap_or_else(|| format!("sip:vm@{}", args.gateway)),
        caller: args
            .caller
            .clone()
            .unwrap_or_else(|| format!("sip:+14255550199@{}", args.local)),
        mailbox: Some(args.mailbox.clone()).filter(|m| !m.is_empty()),
        mailboxes: args.mailboxes,
        srtp: args.srtp,
        frames: (args.hold * 50.0).round() as u32,
        rtp_ports,
        run: std::process::id(),
    };
    let mut uac = Uac::new(cfg, args.calls, epoch, None);

    let pids: Vec<String> = args.gateway_pid.iter().map(u32::to_string).collect();
    let gw_before = usage_of(&pids);
    let self_before = proc_usage("self");
    let metrics_before = scrape_all(&args.metrics);

    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut started = 0usize;
    let mut sip_rx = Batch::new(16, 65_535);
    let mut next_ms = start;
    let mut next_timers = start;
    // CPU and RSS at the plateau (all calls up), or at the busiest moment seen.
    let mut peak: Peak = None;
    loop {
        let now = Instant::now();
        while started < args.calls && start + interval.mul_f64(started as f64) <= now {
            uac.invite(started, now);
            started += 1;
        }
        // Responses are timed by their kernel arrival, not by when this loop gets to them, so
        // the set-up figures are the server's answer time.
        let (clock, wall) = (Instant::now(), SystemTime::now());
        sip_rx.drain(sip.as_raw_fd(), |b, k| {
            let (arrived, from) = (b.arrival(k, clock, wall), b.source(k));
            uac.handle_datagram(arrived, from, b.datagram(k));
        });
        while let Ok(TalkDone(call)) = done_rx.try_recv() {
            uac.talk_done(call, now);
        }
        if now >= next_timers {
            next_timers += Duration::from_millis(20);
            uac.handle_timeout(now);
            let active = uac.totals.talking;
            if peak.is_none_or(|(n, _)| active > n) {
                peak = Some((active, usage_of(&pids)));
            }
        }
        while let Some(o) = uac.poll_output() {
            match o {
                // A full send buffer loses this copy; the retransmit timer sends it again.
                Output::Send(to, bytes) => drop(sip.send_to(&bytes, to)),
                Output::Start(s) => drop(commands[s.worker].send(Command::Start(s))),
                Output::Stop { worker, call } => drop(commands[worker].send(Command::Stop(call))),
            }
        }
        if started == args.calls && !uac.busy() {
            break;
        }
        next_ms += Duration::from_millis(1);
        std::thread::sleep(next_ms.saturating_duration_since(Instant::now()));
    }
    let end = Instant::now();
    for c in &commands {
        let _ = c.send(Command::Finish);
    }
    let mut media = media::Totals::default();
    for h in handles {
        match h.join() {
            Ok(t) => media.merge(&t),
            Err(_) => bail!("a media thread panicked"),
        }
    }
    let gw_after = usage_of(&pids);
    let self_after = proc_usage("self");
    // The gateway counts a call's RTP when the call ends (after the BYE and the store).
    let mut metrics_after = None;
    for _ in 0..100 {
        metrics_after = scrape_all(&args.metrics);
        if metrics_after.is_none_or(|(_, _, active, _)| active == 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = Run {
        wall: end.duration_since(start).as_secs_f64(),
        threads,
        peak,
        gw: (gw_before, gw_after),
        me: (self_before, self_after),
        metrics: (metrics_before, metrics_after),
    };
    report(&args, &uac.totals, &media, &run);
    if uac.totals.wrong_transport > 0 {
        bail!(
            "{} of {} answers did not keep to the offered transport ({}): {}",
            uac.totals.wrong_transport,
            uac.totals.answered + uac.totals.wrong_transport,
            if args.srtp {
                "SRTP was offered"
            } else {
                "plain RTP was offered"
            },
            uac.totals
                .failures
                .keys()
                .filter(|k| k.starts_with("answered") || k.contains("a=crypto"))
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

/// The run's measurements outside the generator's own counters.
struct Run {
    wall: f64,
    threads: usize,
    peak: Peak,
    gw: (Usage, Usage),
    me: (Usage, Usage),
    metrics: (Counters, Counters),
}

fn report(args: &Args, sip: &sip::Totals, media: &media::Totals, run: &Run) {
    let cps = match (sip.first_invite, sip.last_answer) {
        (Some(a), Some(b)) if b > a && sip.answered > 1 => {
            sip.answered as f64 / b.duration_since(a).as_secs_f64()
        }
        _ => f64::NAN,
    };
    let cpu_pct = |u: (Usage, Usage)| match u {
        (Some((a, _)), Some((b, _))) => format!("{:.0}", (b - a) / run.wall * 100.0),
        _ => "-".into(),
    };
    let (peak_calls, rss_per_call) = match (run.peak, run.gw.0) {
        (Some((n, Some((_, rss)))), Some((_, idle))) if n > 0 => (
            n,
            format!("{:.1}", rss.saturating_sub(idle) as f64 / n as f64),
        ),
        (Some((n, _)), _) => (n, "-".into()),
        _ => (0, "-".into()),
    };
    let (gw_rx, gw_lost, gw_late) = match run.metrics {
        (Some((r0, l0, _, k0)), Some((r1, l1, _, k1))) => (
            (r1.saturating_sub(r0)).to_string(),
            (l1.saturating_sub(l0)).to_string(),
            (k1.saturating_sub(k0)).to_string(),
        ),
        _ => ("-".into(), "-".into(), "-".into()),
    };
    let auth_failures = if args.srtp {
        media.srtp_auth_failures.to_string()
    } else {
        "-".into()
    };
    if args.header {
        println!(
            "| calls | rate/s | hold s | peak concurrent | completed | failed | setups/s | setup p99 ms \
             | RTP sent | gw RTP rx | gw lost | prompt RTP rx | prompt gaps | pacing p50 ms | pacing p99 ms \
             | gw late ticks | gw CPU % | gw RSS/call KiB | loadgen CPU % | RTP nominal | loadgen lag p99 ms \
             | SRTP auth fail |"
        );
        println!("|{}", "---|".repeat(22));
    }
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {:.2} | {} |",
        args.calls,
        args.rate,
        args.hold,
        peak_calls,
        sip.completed,
        sip.failed(),
        cps,
        sip.setup_ms.quantile_ms(0.99),
        media.sent,
        gw_rx,
        gw_lost,
        media.received,
        media.rx_gaps,
        media.pacing_ms.quantile_ms(0.5),
        media.pacing_ms.quantile_ms(0.99),
        gw_late,
        cpu_pct(run.gw),
        rss_per_call,
        cpu_pct(run.me),
        media.queued + media.skipped,
        media.send_lag_ms.quantile_ms(0.99),
        auth_failures,
    );
    let failures: Vec<String> = sip
        .failures
        .iter()
        .map(|(why, n)| format!("{why} ×{n}"))
        .collect();
    eprintln!(
        "umgw-load: {:.1} s wall, {} media threads, {} answered, {} ended by the server's BYE; \
         RTP nominal {}, sent {} ({} skipped late, {} refused by the kernel), send lag p50 {:.2} ms; \
         SRTP auth failures {}, other SRTP errors {}; failures: {}",
        run.wall,
        run.threads,
        sip.answered,
        sip.ended_by_server,
        media.queued + media.skipped,
        media.sent,
        media.skipped,
        media.queued.saturating_sub(media.sent),
        media.send_lag_ms.quantile_ms(0.5),
        media.srtp_auth_failures,
        media.srtp_errors,
        if failures.is_empty() {
            "none".to_string()
        } else {
            failures.join(", ")
        }
    );
}
