//! umgw-load: a SIP/RTP load generator for umgw (docs/PERFORMANCE.md).
//!
//! Places `--calls` deposit calls at `--rate` per second: INVITE → 200 → ACK, then streams a
//! PCMU tone for `--hold` seconds while receiving the gateway's prompt, then BYE. One thread,
//! one SIP socket and one RTP socket for all calls (the gateway's media source address tells
//! the calls apart), batched RTP with sendmmsg/recvmmsg and kernel receive timestamps, so the
//! pacing figures measure the gateway, not this tool's scheduling. Prints one table row.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Parser;
use umgw::media::g711::G711;
use umgw::media::rtp::{self, RtpHeader};
use umgw::media::udp_batch::{self, Batch};
use umgw::sip::message::{Message, Method};

#[derive(Parser, Debug)]
#[command(about = "SIP/RTP load generator for umgw deposit calls")]
struct Args {
    /// The gateway's SIP UDP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
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
    /// Seconds each call streams audio after the ACK before hanging up.
    #[arg(long, default_value_t = 10.0)]
    hold: f64,
    /// The mailbox called (History-Info target). `{n}` in it becomes the call's number
    /// modulo `--mailboxes`, spreading the calls over that many mailboxes.
    #[arg(long, default_value = "sip:alice@contoso.com")]
    mailbox: String,
    #[arg(long, default_value_t = 1)]
    mailboxes: usize,
    /// The gateway's process id, for CPU and RSS figures.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// The gateway's admin address, for its RTP counters (/metrics).
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Print the table header line before the row.
    #[arg(long)]
    header: bool,
    /// Only write a greeting WAV of `--greeting-ms` (a tone) to this path and exit.
    #[arg(long)]
    write_greeting: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    greeting_ms: u32,
}

const T1: Duration = Duration::from_millis(500);
/// Give up on a transaction after 64·T1 (RFC 3261 Timer B/F).
const TX_TIMEOUT: Duration = Duration::from_secs(32);
/// RTP packets per sendmmsg/recvmmsg call.
const BATCH: usize = 64;
/// Each call sends in one of 20 1-ms slots so the load is spread over the 20 ms frame.
const SLOTS: u64 = 20;

/// CPU seconds and RSS KiB of a process.
type Usage = Option<(f64, u64)>;
/// The gateway's RTP (received, lost) counters, its active calls and its late media ticks.
type Counters = Option<(u64, u64, u64, u64)>;
/// Most concurrent calls seen, when, and the gateway's usage then.
type Peak = Option<(usize, Instant, Usage)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Inviting,
    Talking,
    Byeing,
    Done,
    Failed,
}

struct Call {
    phase: Phase,
    call_id: String,
    /// The request being retransmitted (INVITE, then BYE) and when next.
    pending: Option<String>,
    retransmit_at: Instant,
    interval: Duration,
    tx_started: Instant,
    /// To header with the gateway's tag.
    to: String,
    media: Option<SocketAddr>,
    seq: u16,
    ts: u32,
    talk_until: Instant,
    invited: Instant,
    /// Last prompt packet received: (sequence, timestamp, kernel arrival ns).
    last_rx: Option<(u16, u32, i64)>,
}

#[derive(Default)]
struct Totals {
    completed: u64,
    failed: u64,
    answered: u64,
    ended_by_gateway: u64,
    rtp_sent: u64,
    rtp_received: u64,
    rtp_rx_gaps: u64,
    first_invite: Option<Instant>,
    last_answer: Option<Instant>,
    setup_ms: Histogram,
    pacing_ms: Histogram,
}

/// Fixed-bucket histogram, 10 µs buckets up to 1 s (no allocation after creation).
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 100_001],
            count: 0,
        }
    }
}

impl Histogram {
    fn record_ms(&mut self, ms: f64) {
        let i = ((ms.abs() * 100.0) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return i as f64 / 100.0;
            }
        }
        f64::NAN
    }
}

/// CPU seconds (user + system) and RSS KiB of a process, from /proc.
fn proc_usage(pid: &str) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some((ticks / hz, rss))
}

/// The gateway's RTP counters (received, lost) from its Prometheus endpoint.
fn scrape(addr: SocketAddr) -> Counters {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: umgw\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let value = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Some((
        value("umgw_rtp_packets_received_total"),
        value("umgw_rtp_packets_lost_total"),
        value("umgw_calls_active"),
        value("umgw_media_ticks_late_total"),
    ))
}

struct Load {
    args: Args,
    sip: UdpSocket,
    rtp: UdpSocket,
    calls: Vec<Call>,
    by_media: HashMap<SocketAddr, usize>,
    totals: Totals,
    tone: [u8; 160],
    run: u32,
}

impl Load {
    fn sip_local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap_or(self.args.gateway)
    }

    fn send_sip(&self, text: &str) {
        // A full send buffer loses this copy; the retransmit timer sends it again.
        let _ = self.sip.send_to(text.as_bytes(), self.args.gateway);
    }

    fn invite(&mut self, i: usize, now: Instant) {
        let local = self.sip_local();
        let rtp = self.rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let ip = self.args.local;
        let gw = self.args.gateway;
        let call_id = format!("load-{}-{i}@umgw-load", self.run);
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {rtp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        );
        let text = format!(
            "INVITE sip:vm@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+14255550199@{ip}>;tag=lt{i}\r\nTo: <sip:vm@{gw}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:load@{local}>\r\n\
             History-Info: <{mb}?Reason=SIP%3Bcause%3D480>;index=1, <sip:vm@{gw}>;index=1.1\r\n\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            mb = self
                .args
                .mailbox
                .replace("{n}", &(i % self.args.mailboxes.max(1)).to_string()),
            len = sdp.len()
        );
        self.send_sip(&text);
        let c = &mut self.calls[i];
        c.phase = Phase::Inviting;
        c.call_id = call_id;
        c.pending = Some(text);
        c.invited = now;
        c.tx_started = now;
        c.retransmit_at = now + T1;
        c.interval = T1;
        self.totals.first_invite.get_or_insert(now);
    }

    fn in_dialog(&self, i: usize, method: &str, cseq: u32, branch: u32) -> String {
        let c = &self.calls[i];
        format!(
            "{method} sip:umgw@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-{cid}-{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+14255550199@{ip}>;tag=lt{i}\r\nTo: {to}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            gw = self.args.gateway,
            l = self.sip_local(),
            ip = self.args.local,
            to = c.to,
            cid = c.call_id,
        )
    }

    fn on_sip(&mut self, msg: &Message, now: Instant) {
        let Some(i) = msg
            .call_id()
            .and_then(|c| c.strip_suffix("@umgw-load"))
            .and_then(|c| c.rsplit('-').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&i| i < self.calls.len())
        else {
            return;
        };
        if let Some(method) = msg.method() {
            // The gateway hung up (time limit) or sent something else in the dialog.
            let resp = Message::response_to(msg, 200, "OK", None);
            let _ = self.sip.send_to(&resp.to_bytes(), self.args.gateway);
            if *method == Method::Bye && self.calls[i].phase == Phase::Talking {
                self.calls[i].phase = Phase::Done;
                self.calls[i].pending = None;
                self.totals.completed += 1;
                self.totals.ended_by_gateway += 1;
            }
            return;
        }
        let Some(status) = msg.status() else { return };
        let is_invite = msg.header("CSeq").is_some_and(|c| c.ends_with("INVITE"));
        let phase = self.calls[i].phase;
        match (is_invite, status) {
            (true, 100..=199) => self.calls[i].retransmit_at = now + TX_TIMEOUT,
            (true, 200..=299) => {
                self.calls[i].to = msg.header("To").unwrap_or_default().to_owned();
                let ack = self.in_dialog(i, "ACK", 1, 2);
                self.send_sip(&ack);
                if phase != Phase::Inviting {
                    return; // a retransmitted 200: ACKed again
                }
                let body = std::str::from_utf8(&msg.body).unwrap_or_default();
                let port = body
                    .lines()
                    .find_map(|l| l.strip_prefix("m=audio "))
                    .and_then(|r| r.split(' ').next())
                    .and_then(|p| p.parse::<u16>().ok());
                let Some(port) = port else {
                    self.fail(i);
                    return;
                };
                let media = SocketAddr::new(self.args.gateway.ip(), port);
                self.by_media.insert(media, i);
                let hold = Duration::from_secs_f64(self.args.hold);
                let c = &mut self.calls[i];
                c.media = Some(media);
                c.phase = Phase::Talking;
                c.pending = None;
                c.talk_until = now + hold;
                self.totals.answered += 1;
                self.totals.last_answer = Some(now);
                let ms = now.duration_since(c.invited).as_secs_f64() * 1000.0;
                self.totals.setup_ms.record_ms(ms);
            }
            (true, _) if phase == Phase::Inviting => {
                // The ACK of a failure belongs to the INVITE transaction (its branch, 1).
                self.calls[i].to = msg.header("To").unwrap_or_default().to_owned();
                let ack = self.in_dialog(i, "ACK", 1, 1);
                self.send_sip(&ack);
                self.fail(i);
            }
            (false, 200..=299) if phase == Phase::Byeing => {
                self.calls[i].phase = Phase::Done;
                self.calls[i].pending = None;
                self.totals.completed += 1;
            }
            (false, 300..) if phase == Phase::Byeing => self.fail(i),
            _ => {}
        }
    }

    fn fail(&mut self, i: usize) {
        let c = &mut self.calls[i];
        if matches!(c.phase, Phase::Done | Phase::Failed) {
            return;
        }
        c.phase = Phase::Failed;
        c.pending = None;
        self.totals.failed += 1;
    }

    fn on_rtp(&mut self, from: SocketAddr, bytes: &[u8], stamp: i64) {
        let Some(&i) = self.by_media.get(&from) else {
            return;
        };
        let Ok(p) = rtp::parse(bytes) else { return };
        self.totals.rtp_received += 1;
        let c = &mut self.calls[i];
        if let Some((seq, ts, at)) = c.last_rx {
            let step = p.sequence.wrapping_sub(seq);
            if step == 1 && stamp != 0 && at != 0 {
                // RFC 3550 D(i-1, i): arrival spacing minus timestamp spacing.
                let arrival_ms = (stamp - at) as f64 / 1e6;
                let media_ms = f64::from(p.timestamp.wrapping_sub(ts)) / 8.0;
                self.totals.pacing_ms.record_ms(arrival_ms - media_ms);
            } else if step > 1 && step < 3000 {
                self.totals.rtp_rx_gaps += u64::from(step - 1);
            }
        }
        c.last_rx = Some((p.sequence, p.timestamp, stamp));
    }

    /// Timers: retransmissions, time-outs, end of talk.
    fn timers(&mut self, now: Instant) {
        for i in 0..self.calls.len() {
            let c = &mut self.calls[i];
            match c.phase {
                Phase::Talking if now >= c.talk_until => {
                    c.phase = Phase::Byeing;
                    let bye = self.in_dialog(i, "BYE", 2, 3);
                    self.send_sip(&bye);
                    let c = &mut self.calls[i];
                    c.pending = Some(bye);
                    c.tx_started = now;
                    c.retransmit_at = now + T1;
                    c.interval = T1;
                }
                Phase::Inviting | Phase::Byeing if now >= c.retransmit_at => {
                    if now.duration_since(c.tx_started) >= TX_TIMEOUT {
                        self.fail(i);
                        continue;
                    }
                    c.interval = (c.interval * 2).min(Duration::from_secs(4));
                    c.retransmit_at = now + c.interval;
                    if let Some(text) = &c.pending {
                        let _ = self.sip.send_to(text.as_bytes(), self.args.gateway);
                    }
                }
                _ => {}
            }
        }
    }

    /// Sends the audio packet of every talking call whose 1 ms slot this is.
    fn send_audio(&mut self, slot: u64, tx: &mut Batch) {
        let fd = self.rtp.as_raw_fd();
        for i in (slot as usize..self.calls.len()).step_by(SLOTS as usize) {
            let c = &mut self.calls[i];
            let (Phase::Talking, Some(media)) = (c.phase, c.media) else {
                continue;
            };
            let (seq, ts) = (c.seq, c.ts);
            c.seq = c.seq.wrapping_add(1);
            c.ts = c.ts.wrapping_add(160);
            let tone = &self.tone;
            self.totals.rtp_sent += tx.queue(fd, media, |buf| {
                let h = RtpHeader {
                    marker: false,
                    payload_type: 0,
                    sequence: seq,
                    timestamp: ts,
                    ssrc: 0x10AD_0000 | i as u32,
                }
                .write(buf);
                buf[h..h + 160].copy_from_slice(tone);
                h + 160
            });
        }
        self.totals.rtp_sent += tx.flush(fd);
    }

    fn busy(&self) -> bool {
        self.calls
            .iter()
            .any(|c| !matches!(c.phase, Phase::Done | Phase::Failed))
    }

    fn active(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.phase == Phase::Talking)
            .count()
    }
}

/// A 425 Hz tone at about -12 dBFS in PCMU: loud enough never to count as silence.
fn tone() -> [u8; 160] {
    let pcm: Vec<i16> = (0..160)
        .map(|n| ((n as f64 * 2.0 * std::f64::consts::PI * 425.0 / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let mut out = [0u8; 160];
    G711::Pcmu.encode(&pcm, &mut out);
    out
}

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
    if args.calls == 0 || args.rate <= 0.0 {
        bail!("--calls and --rate must be positive");
    }
    let sip = UdpSocket::bind((args.local, 0)).context("binding the SIP socket")?;
    let rtp = UdpSocket::bind((args.local, 0)).context("binding the RTP socket")?;
    sip.set_nonblocking(true)?;
    rtp.set_nonblocking(true)?;
    udp_batch::configure(rtp.as_raw_fd(), 8 << 20);
    // A burst of responses while the loop is sending media must not be dropped, or the
    // set-up figures measure our retransmissions.
    udp_batch::configure(sip.as_raw_fd(), 8 << 20);
    let mut tx = Batch::new(BATCH, 256);
    let mut rx = Batch::new(BATCH, 256);
    let now = Instant::now();
    let calls = (0..args.calls)
        .map(|_| Call {
            phase: Phase::Idle,
            call_id: String::new(),
            pending: None,
            retransmit_at: now,
            interval: T1,
            tx_started: now,
            to: String::new(),
            media: None,
            seq: 0,
            ts: 0,
            talk_until: now,
            invited: now,
            last_rx: None,
        })
        .collect();
    let mut load = Load {
        sip,
        rtp,
        calls,
        by_media: HashMap::with_capacity(args.calls),
        totals: Totals::default(),
        tone: tone(),
        run: std::process::id(),
        args,
    };
    let pid = load.args.gateway_pid.map(|p| p.to_string());
    let gw_before = pid.as_deref().and_then(proc_usage);
    let self_before = proc_usage("self");
    let metrics_before = load.args.metrics.and_then(scrape);

    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / load.args.rate);
    let mut started = 0usize;
    let mut sip_rx = Batch::new(16, 65_535);
    let mut next_ms = start;
    let mut ms_count = 0u64;
    // CPU and RSS at the plateau (all calls up), or at the busiest moment seen.
    let mut peak: Peak = None;
    while started < load.calls.len() || load.busy() {
        let now = Instant::now();
        while started < load.calls.len() && start + interval * started as u32 <= now {
            load.invite(started, now);
            started += 1;
        }
        // Responses are timed by their kernel arrival, not by when this loop gets to them:
        // at thousands of streams the loop lags, and the set-up figures must be the
        // gateway's answer time, not that lag.
        let (clock, wall) = (Instant::now(), SystemTime::now());
        sip_rx.drain(load.sip.as_raw_fd(), |sip_rx, k| {
            let arrived = sip_rx.arrival(k, clock, wall);
            if let Ok(msg) = Message::parse(sip_rx.datagram(k)) {
                load.on_sip(&msg, arrived);
            }
        });
        rx.drain(load.rtp.as_raw_fd(), |rx, k| {
            let (from, stamp) = (rx.source(k), rx.stamp_ns(k));
            load.on_rtp(from, rx.datagram(k), stamp);
        });
        while next_ms <= now {
            load.send_audio(ms_count % SLOTS, &mut tx);
            ms_count += 1;
            next_ms += Duration::from_millis(1);
            if ms_count % SLOTS == 0 {
                load.timers(now);
                let active = load.active();
                if peak.is_none_or(|(n, _, _)| active > n) {
                    peak = Some((active, now, pid.as_deref().and_then(proc_usage)));
                }
            }
        }
        // Sleep until the next 1 ms slot or a packet, whichever comes first.
        let wait = next_ms.saturating_duration_since(Instant::now());
        let mut fds = [
            libc::pollfd {
                fd: load.sip.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: load.rtp.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: wait.subsec_nanos().into(),
        };
        // SAFETY: fds is a valid array of two pollfd; ts a valid timeout (sub-millisecond
        // precision: poll's whole milliseconds would round to a busy loop).
        unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &ts, std::ptr::null()) };
    }
    let end = Instant::now();
    let gw_after = pid.as_deref().and_then(proc_usage);
    let self_after = proc_usage("self");
    // The gateway counts a call's RTP when the call task ends (after the BYE and the store).
    let mut metrics_after = None;
    for _ in 0..100 {
        metrics_after = load.args.metrics.and_then(scrape);
        if metrics_after.is_none_or(|(_, _, active, _)| active == 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    report(
        &load,
        start,
        end,
        peak,
        (gw_before, gw_after),
        (self_before, self_after),
        (metrics_before, metrics_after),
    );
    Ok(())
}

fn report(
    load: &Load,
    start: Instant,
    end: Instant,
    peak: Peak,
    gw: (Usage, Usage),
    me: (Usage, Usage),
    metrics: (Counters, Counters),
) {
    let t = &load.totals;
    let wall = end.duration_since(start).as_secs_f64();
    let cps = match (t.first_invite, t.last_answer) {
        (Some(a), Some(b)) if b > a && t.answered > 1 => {
            t.answered as f64 / b.duration_since(a).as_secs_f64()
        }
        _ => f64::NAN,
    };
    let cpu_pct = |u: (Usage, Usage)| match u {
        (Some((a, _)), Some((b, _))) => format!("{:.0}", (b - a) / wall * 100.0),
        _ => "-".into(),
    };
    let (peak_calls, rss_per_call) = match (peak, gw.0) {
        (Some((n, _, Some((_, rss)))), Some((_, idle))) if n > 0 => (
            n,
            format!("{:.1}", rss.saturating_sub(idle) as f64 / n as f64),
        ),
        (Some((n, _, _)), _) => (n, "-".into()),
        _ => (0, "-".into()),
    };
    let (gw_rx, gw_lost, gw_late) = match metrics {
        (Some((r0, l0, _, k0)), Some((r1, l1, _, k1))) => (
            (r1.saturating_sub(r0)).to_string(),
            (l1.saturating_sub(l0)).to_string(),
            (k1.saturating_sub(k0)).to_string(),
        ),
        _ => ("-".into(), "-".into(), "-".into()),
    };
    if load.args.header {
        println!(
            "| calls | rate/s | hold s | peak concurrent | completed | failed | setups/s | setup p99 ms \
             | RTP sent | gw RTP rx | gw lost | prompt RTP rx | prompt gaps | pacing p50 ms | pacing p99 ms \
             | gw late ticks | gw CPU % | gw RSS/call KiB | loadgen CPU % |"
        );
        println!("|{}", "---|".repeat(19));
    }
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} |",
        load.args.calls,
        load.args.rate,
        load.args.hold,
        peak_calls,
        t.completed,
        t.failed,
        cps,
        t.setup_ms.quantile_ms(0.99),
        t.rtp_sent,
        gw_rx,
        gw_lost,
        t.rtp_received,
        t.rtp_rx_gaps,
        t.pacing_ms.quantile_ms(0.5),
        t.pacing_ms.quantile_ms(0.99),
        gw_late,
        cpu_pct(gw),
        rss_per_call,
        cpu_pct(me),
    );
    eprintln!(
        "umgw-load: {wall:.1} s wall, {} answered, {} ended by the gateway's BYE",
        t.answered, t.ended_by_gateway
    );
}
