//! The generator's media threads: each owns a share of the calls (call `i` is thread
//! `i % threads`'s), one RTP socket and a 1 ms clock.
//!
//! A call's packet `k` is due `k`·20 ms after its 2xx arrived; the thread keeps its calls on a
//! wheel of 20 one-millisecond slots, so each tick touches only the calls due then, and sends
//! them with `sendmmsg`. A thread that was held off the CPU sends what fell due meanwhile at
//! once, so the server gets every packet the run is nominally worth whatever the generator's
//! luck with the scheduler (an A/B of two gateways then offers both the same load); the
//! send-lag histogram says how late they left. Only a packet more than [`LATE_MS`] behind (a
//! stopped or starved process) is skipped rather than sent in a burst: its timestamp advances,
//! its sequence number does not, so the server sees a pause, not a loss, and "RTP nominal"
//! (sent + skipped) against "RTP sent" shows it. Prompt packets are read with `recvmmsg`
//! and timed by their kernel arrival, so the pacing figures are the server's, not this
//! thread's scheduling.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use umgw::media::g711::G711;
use umgw::media::rtp::{self, RtpHeader};
use umgw::media::srtp::{SrtpContext, SrtpError};
use umgw::net::udp_batch::{self, Batch};

use crate::sip::MediaStart;
use crate::stats::Histogram;

/// RTP packets per sendmmsg/recvmmsg call.
const BATCH: usize = 64;
const SLOTS: usize = 20;
/// A packet this late is skipped rather than sent in a burst (10 packets per call at most).
const LATE_MS: u64 = 200;

/// From the SIP thread to a media thread.
pub enum Command {
    Start(Box<MediaStart>),
    /// The call ended early: send no more.
    Stop(usize),
    /// Every call is over: report and exit.
    Finish,
}

/// From a media thread to the SIP thread: the call sent its last packet.
pub struct TalkDone(pub usize);

/// What a media thread counted.
#[derive(Default)]
pub struct Totals {
    /// Packets the kernel took.
    pub sent: u64,
    /// Packets handed to sendmmsg (the kernel may refuse some).
    pub queued: u64,
    /// Packets not sent because they were more than [`LATE_MS`] late.
    pub skipped: u64,
    pub received: u64,
    pub rx_gaps: u64,
    pub pacing_ms: Histogram,
    /// How late each packet left, against its due time.
    pub send_lag_ms: Histogram,
    pub srtp_auth_failures: u64,
    /// Other unprotect errors (replay, too old) and protect errors.
    pub srtp_errors: u64,
}

impl Totals {
    pub fn merge(&mut self, o: &Totals) {
        self.sent += o.sent;
        self.queued += o.queued;
        self.skipped += o.skipped;
        self.received += o.received;
        self.rx_gaps += o.rx_gaps;
        self.pacing_ms.merge(&o.pacing_ms);
        self.send_lag_ms.merge(&o.send_lag_ms);
        self.srtp_auth_failures += o.srtp_auth_failures;
        self.srtp_errors += o.srtp_errors;
    }
}

struct Call {
    call: usize,
    media: SocketAddr,
    ssrc: u32,
    seq: u16,
    ts: u32,
    /// Tick (ms since the epoch) the next packet is due.
    next_due: u64,
    frames_left: u32,
    /// Frames sent so far: where in `Worker::audio` the next one starts.
    frames_sent: u32,
    sending: bool,
    srtp: Option<(SrtpContext, SrtpContext)>,
    /// Last prompt packet received: (sequence, timestamp, kernel arrival ns).
    last_rx: Option<(u16, u32, i64)>,
}

pub struct Worker {
    threads: usize,
    socket: UdpSocket,
    /// Tick 0; shared by all threads and the SIP side.
    epoch: Instant,
    /// By local index `call / threads`.
    calls: Vec<Option<Call>>,
    wheel: [Vec<u32>; SLOTS],
    by_media: HashMap<SocketAddr, u32>,
    /// Next tick to run.
    cursor: u64,
    /// What the callers say, PCMU, whole 160-byte frames, looped.
    audio: Arc<[u8]>,
    tx: Batch,
    rx: Batch,
    totals: Totals,
}

impl Worker {
    /// `audio`: the callers' PCMU (whole frames; see [`pcmu_frames`]), or `None` for a tone.
    pub fn new(
        socket: UdpSocket,
        threads: usize,
        calls: usize,
        epoch: Instant,
        audio: Option<Arc<[u8]>>,
    ) -> Worker {
        udp_batch::configure(socket.as_raw_fd(), 8 << 20);
        let share = calls.div_ceil(threads.max(1));
        Worker {
            threads: threads.max(1),
            socket,
            epoch,
            calls: (0..share).map(|_| None).collect(),
            wheel: Default::default(),
            by_media: HashMap::with_capacity(share),
            cursor: 0,
            audio: audio.unwrap_or_else(|| Arc::from(&tone()[..])),
            tx: Batch::new(BATCH, 256),
            rx: Batch::new(BATCH, 256),
            totals: Totals::default(),
        }
    }

    fn tick_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn start(&mut self, s: MediaStart) {
        let local = s.call / self.threads;
        // The first packet is due when the 2xx arrived (rounded up to the next tick).
        let due = s.due.saturating_duration_since(self.epoch);
        let tick = due.as_millis() as u64 + u64::from(due.subsec_nanos() % 1_000_000 != 0);
        let next_due = tick.max(self.cursor);
        // An arbitrary start, as RFC 3550 wants, that wraps within the call for some calls.
        let seq = (s.call as u16).wrapping_mul(40_503);
        self.calls[local] = Some(Call {
            call: s.call,
            media: s.media,
            ssrc: 0x10AD_0000 ^ s.call as u32,
            seq,
            ts: (s.call as u32).wrapping_mul(2_654_435_761),
            next_due,
            frames_left: s.frames,
            frames_sent: 0,
            sending: true,
            srtp: s.srtp,
            last_rx: None,
        });
        self.wheel[(next_due % SLOTS as u64) as usize].push(local as u32);
        self.by_media.insert(s.media, local as u32);
    }

    fn stop(&mut self, call: usize) {
        if let Some(Some(c)) = self.calls.get_mut(call / self.threads) {
            c.sending = false;
        }
    }

    /// Runs tick `t` (wall time `now`): sends the packets of the calls due then.
    fn tick(&mut self, t: u64, now: Instant, done: &Sender<TalkDone>) {
        let due_at = self.epoch + Duration::from_millis(t);
        let lag_ms = now.saturating_duration_since(due_at).as_secs_f64() * 1000.0;
        let late = lag_ms > LATE_MS as f64;
        let slot = (t % SLOTS as u64) as usize;
        let mut list = std::mem::take(&mut self.wheel[slot]);
        let fd = self.socket.as_raw_fd();
        list.retain(|&local| {
            let Some(c) = self.calls[local as usize].as_mut() else {
                return false;
            };
            if !c.sending {
                return false;
            }
            if c.next_due > t {
                return true;
            }
            if c.frames_left == 0 {
                c.sending = false;
                let _ = done.send(TalkDone(c.call));
                return false;
            }
            let (seq, ts) = (c.seq, c.ts);
            c.ts = c.ts.wrapping_add(160);
            c.next_due += SLOTS as u64;
            c.frames_left -= 1;
            if late {
                self.totals.skipped += 1;
            } else {
                c.seq = c.seq.wrapping_add(1);
                self.totals.queued += 1;
                self.totals.send_lag_ms.record_ms(lag_ms);
                let frames = (self.audio.len() / 160).max(1) as u32;
                let at = (c.frames_sent % frames) as usize * 160;
                c.frames_sent = c.frames_sent.wrapping_add(1);
                let (frame, ssrc) = (&self.audio[at..at + 160], c.ssrc);
                let srtp = c.srtp.as_mut().map(|(out, _)| out);
                let errors = &mut self.totals.srtp_errors;
                self.totals.sent += self.tx.queue(fd, c.media, |buf| {
                    let h = RtpHeader {
                        marker: false,
                        payload_type: 0,
                        sequence: seq,
                        timestamp: ts,
                        ssrc,
                    }
                    .write(buf);
                    buf[h..h + 160].copy_from_slice(frame);
                    match srtp.map(|ctx| ctx.protect(buf, h + 160)) {
                        Some(Ok(n)) => n,
                        Some(Err(_)) => {
                            *errors += 1;
                            h + 160
                        }
                        None => h + 160,
                    }
                });
            }
            if c.frames_left == 0 {
                // The last packet is out: hang up now, not a frame later.
                c.sending = false;
                let _ = done.send(TalkDone(c.call));
                return false;
            }
            true
        });
        self.wheel[slot] = list;
    }

    fn on_rtp(&mut self, k: usize) {
        let from = self.rx.source(k);
        let stamp = self.rx.stamp_ns(k);
        let Some(&local) = self.by_media.get(&from) else {
            return;
        };
        let Some(c) = self.calls[local as usize].as_mut() else {
            return;
        };
        let bytes = self.rx.datagram(k);
        let len = match c.srtp.as_mut().map(|(_, inbound)| inbound.unprotect(bytes)) {
            None => bytes.len(),
            Some(Ok(n)) => n,
            Some(Err(SrtpError::AuthFailed { .. })) => {
                self.totals.srtp_auth_failures += 1;
                return;
            }
            Some(Err(_)) => {
                self.totals.srtp_errors += 1;
                return;
            }
        };
        let Ok(p) = rtp::parse(&bytes[..len]) else {
            return;
        };
        self.totals.received += 1;
        if let Some((seq, ts, at)) = c.last_rx {
            let step = p.sequence.wrapping_sub(seq);
            if step == 1 && stamp != 0 && at != 0 {
                // RFC 3550 D(i-1, i): arrival spacing minus timestamp spacing.
                let arrival_ms = (stamp - at) as f64 / 1e6;
                let media_ms = f64::from(p.timestamp.wrapping_sub(ts)) / 8.0;
                self.totals.pacing_ms.record_ms(arrival_ms - media_ms);
            } else if step > 1 && step < 3000 {
                self.totals.rx_gaps += u64::from(step - 1);
            }
        }
        c.last_rx = Some((p.sequence, p.timestamp, stamp));
    }

    fn receive(&mut self) {
        let fd = self.socket.as_raw_fd();
        loop {
            let n = self.rx.recv(fd);
            for k in 0..n {
                self.on_rtp(k);
            }
            if n < self.rx.capacity() {
                break;
            }
        }
    }

    /// Runs until told to finish; returns what it counted.
    pub fn run(mut self, commands: Receiver<Command>, done: Sender<TalkDone>) -> Totals {
        self.cursor = self.tick_of(Instant::now());
        let mut finishing = false;
        loop {
            loop {
                match commands.try_recv() {
                    Ok(Command::Start(s)) => self.start(*s),
                    Ok(Command::Stop(call)) => self.stop(call),
                    Ok(Command::Finish) | Err(TryRecvError::Disconnected) => finishing = true,
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.receive();
            if finishing {
                break;
            }
            let now = Instant::now();
            let now_tick = self.tick_of(now);
            while self.cursor <= now_tick {
                self.tick(self.cursor, now, &done);
                self.cursor += 1;
            }
            self.totals.sent += self.tx.flush(self.socket.as_raw_fd());
            let next = self.epoch + Duration::from_millis(self.cursor);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        self.totals
    }
}

/// 8 kHz mono 16-bit samples as PCMU frames, the last one padded with silence.
pub fn pcmu_frames(samples: &[i16]) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(samples.len().div_ceil(160) * 160);
    for chunk in samples.chunks(160) {
        let mut pcm = [0i16; 160];
        pcm[..chunk.len()].copy_from_slice(chunk);
        let mut frame = [0u8; 160];
        G711::Pcmu.encode(&pcm, &mut frame);
        out.extend_from_slice(&frame);
    }
    out.into()
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
