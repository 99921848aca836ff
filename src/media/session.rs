//! One call's media, sans-IO: the only media pipeline of the gateway.
//!
//! Receive: SRTP unprotect (in place) → [`rtp::parse`] (borrows) → [`SourceLatch`] → RFC 3550
//! jitter → [`JitterBuffer`] (reorder) → RFC 4733 digits, or the recording tap
//! ([`Recorder`]) and silence detection in 20 ms frames. Transmit: [`Player`] → [`RtpSender`]
//! (the packet clock) → SRTP protect. Shaped like str0m's `Rtc` and quinn-proto's
//! `Connection`: inputs with the time they happened ([`Session::handle_datagram`],
//! [`Session::handle_relay`]), outputs polled ([`Session::poll_transmit`],
//! [`Session::poll_event`], [`Session::poll_timeout`]), and commands ([`Session::play`],
//! [`Session::record_to`], [`Session::stop_recording`]). It never reads a clock or a socket;
//! the recording tap writes through the recorder's buffer (about once every half second).
//! With ICE, STUN checks on the same socket go to the ICE-lite agent ([`IceLite`]) before
//! SRTP, their answers come out of [`Session::poll_transmit`] first, and the path they select
//! becomes where media goes and whom the latch expects.
//!
//! Drain [`Session::poll_event`] after each input: digits and audio frames are reported in
//! the order the reorder buffer releases them. Nothing here allocates per packet; events wait
//! in a queue allocated once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::cng::CngDetector;
use super::dtmf::{DtmfReceiver, TelephoneEvent};
use super::g711::G711;
use super::ice::{Check, IceLite};
use super::jitter::JitterBuffer;
use super::latch::SourceLatch;
use super::pacer::RtpSender;
use super::player::Player;
use super::recorder::Recorder;
use super::rtp;
use super::srtp::SrtpContext;
use super::stats::{JitterEstimator, MediaStats};
use super::stun;
use super::vad::SilenceDetector;
use super::{FRAME_SAMPLES, SAMPLE_RATE};

/// Room after an RTP packet for the SRTP authentication tag (80-bit tags and below).
pub const SRTP_TAG_ROOM: usize = 16;

/// Events a call's media reports, in the order they happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A new RFC 4733 digit (each key press once).
    Digit(char),
    /// 20 ms of the caller's audio went into the recording: `silent` by the level detector,
    /// `recorded` the recording's length in samples up to the end of this frame.
    Audio { silent: bool, recorded: u64 },
    /// Everything queued with [`Session::play`] has been sent.
    PlaybackDone,
    /// The recording could not be written (disk full or failing): it takes nothing more;
    /// what was written stays ([`Session::stop_recording`] hands it back).
    RecordFailed,
    /// The caller's audio carries a fax calling tone (CNG, [`Session::listen_for_fax`]).
    FaxTone,
}

/// A packet [`Session::poll_transmit`] wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub len: usize,
}

/// What a session is set up with: the negotiated stream and our own stream's start.
#[derive(Debug)]
pub struct SessionParams {
    pub codec: G711,
    /// The negotiated audio payload type (the offer's number for PCMU/PCMA).
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
    /// Packet time we send in (ms).
    pub ptime_ms: u32,
    /// The peer's media address from its SDP.
    pub remote: SocketAddr,
    /// (inbound, outbound) SRTP contexts when the call uses SRTP.
    pub srtp: Option<(SrtpContext, SrtpContext)>,
    /// The ICE-lite agent when the peer does ICE: STUN checks are answered, and media goes to
    /// the path they select ([`super::ice`]).
    pub ice: Option<IceLite>,
    pub silence_threshold_dbfs: f32,
    /// Our SSRC, first sequence number and first timestamp (random per call).
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
}

/// One call's media.
#[derive(Debug)]
pub struct Session {
    codec: G711,
    payload_type: u8,
    telephone_event: Option<u8>,
    remote: SocketAddr,
    srtp: Option<(SrtpContext, SrtpContext)>,
    ice: Option<IceLite>,
    latch: SourceLatch,
    reorder: JitterBuffer,
    jitter: JitterEstimator,
    /// Origin of the sampling clock that RFC 3550 jitter compares arrival times against.
    clock_origin: Instant,
    dtmf: DtmfReceiver,
    vad: SilenceDetector,
    sender: RtpSender,
    player: Player,
    /// Whether the player had audio at the last transmit (so its end is reported once).
    playing: bool,
    recorder: Option<Recorder>,
    record_error: Option<String>,
    /// Listening for a fax's CNG in the caller's audio, while set.
    cng: Option<CngDetector>,
    events: VecDeque<MediaEvent>,
    packets_in: u64,
    srtp_failures: u64,
}

/// Events a receive batch can produce before the owner drains them (a 120 ms packet is six
/// frames; a batch is a few packets): the queue is allocated once with this room.
const EVENT_ROOM: usize = 64;

impl Session {
    /// A session whose packet clock starts at `now`.
    pub fn new(now: Instant, p: SessionParams) -> Session {
        Session {
            codec: p.codec,
            payload_type: p.payload_type,
            telephone_event: p.telephone_event,
            remote: p.remote,
            srtp: p.srtp,
            ice: p.ice,
            latch: SourceLatch::new(now, p.remote),
            reorder: JitterBuffer::default(),
            jitter: JitterEstimator::default(),
            clock_origin: now,
            dtmf: DtmfReceiver::new(),
            vad: SilenceDetector::new(p.silence_threshold_dbfs),
            sender: RtpSender::new(now, p.codec, p.ssrc, p.sequence, p.timestamp)
                .with_ptime(p.ptime_ms),
            player: Player::new(),
            playing: false,
            recorder: None,
            record_error: None,
            cng: None,
            events: VecDeque::with_capacity(EVENT_ROOM),
            packets_in: 0,
            srtp_failures: 0,
        }
    }

    // ---- inputs ----

    /// A datagram that arrived at `now` from `from` on the call's socket. `bytes` is the
    /// caller's buffer: SRTP is removed in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &mut [u8]) {
        if self.handle_stun(now, from, bytes) {
            return;
        }
        let Some(len) = self.unprotect(bytes) else {
            return;
        };
        let Ok(pkt) = rtp::parse(&bytes[..len]) else {
            return;
        };
        // Only the call's own source feeds it (`media::latch`).
        if !self.latch.check(now, from, pkt.ssrc).accepted() {
            return;
        }
        self.packets_in += 1;
        if pkt.payload_type == self.payload_type {
            let arrival = now
                .saturating_duration_since(self.clock_origin)
                .as_secs_f64()
                * f64::from(SAMPLE_RATE);
            self.jitter.on_packet(arrival, pkt.timestamp);
        }
        // Every payload type goes through the reorder buffer: RFC 4733 events and comfort
        // noise share the audio's sequence space.
        self.reorder.push(&pkt);
        self.release();
    }

    /// A datagram to relay to the other leg of a bridged call (no reorder, no decoding): SRTP
    /// removed in place and the source checked. The plain RTP length, if it may be relayed.
    pub fn handle_relay(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &mut [u8],
    ) -> Option<usize> {
        if self.handle_stun(now, from, bytes) {
            return None;
        }
        let len = self.unprotect(bytes)?;
        let ssrc = rtp::parse(&bytes[..len]).ok()?.ssrc;
        if !self.latch.check(now, from, ssrc).accepted() {
            return None;
        }
        self.packets_in += 1;
        Some(len)
    }

    /// The peer moved its media (re-INVITE): send there, and latch its new address.
    pub fn set_remote(&mut self, now: Instant, remote: SocketAddr) {
        self.remote = remote;
        self.latch.set_offered(now, remote);
    }

    // ---- outputs ----

    /// The next packet due at `now`, written into `buf` (which must hold a packet at the
    /// call's ptime plus [`SRTP_TAG_ROOM`]); `None` once nothing more is due. Slots that
    /// pass while nothing plays advance the stream's clock without a packet.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((destination, len)) = self.ice.as_mut().and_then(|ice| ice.poll_reply(buf)) {
            return Some(Transmit { destination, len });
        }
        loop {
            let mut len = self.sender.poll_transmit(now, &mut self.player, buf)?;
            if self.playing && !self.player.is_playing() {
                self.playing = false;
                self.push_event(MediaEvent::PlaybackDone);
            }
            if let Some((_, outbound)) = self.srtp.as_mut() {
                match outbound.protect(buf, len) {
                    Ok(n) => len = n,
                    // Only a key at the end of its life fails here: the packet is not sent.
                    Err(_) => continue,
                }
            }
            return Some(Transmit {
                destination: self.remote,
                len,
            });
        }
    }

    /// SRTP-protects the `len`-byte RTP packet at the start of `buf` (relayed from the other
    /// leg) for this leg's peer.
    pub fn relay_transmit(&mut self, buf: &mut [u8], len: usize) -> Option<Transmit> {
        let len = match self.srtp.as_mut() {
            Some((_, outbound)) => outbound.protect(buf, len).ok()?,
            None => len,
        };
        Some(Transmit {
            destination: self.remote,
            len,
        })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// When the next packet is due, while something plays.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.player.is_playing().then(|| self.sender.poll_timeout())
    }

    // ---- commands ----

    /// Queues `audio` after whatever plays; empty audio finishes at once (a missing prompt
    /// must not leave the flow waiting).
    pub fn play(&mut self, audio: Arc<[i16]>) {
        if audio.is_empty() {
            self.push_event(MediaEvent::PlaybackDone);
            return;
        }
        self.player.enqueue(audio);
        self.playing = true;
    }

    /// Stops playback and drops what was queued (the caller barged in).
    pub fn stop_playback(&mut self) {
        self.player.clear();
        self.playing = false;
    }

    /// Bytes a transmit buffer needs: one packet at the call's ptime and the SRTP tag.
    pub fn packet_room(&self) -> usize {
        self.sender.packet_len() + SRTP_TAG_ROOM
    }

    /// Whether prompts are still being sent.
    pub fn is_playing(&self) -> bool {
        self.player.is_playing()
    }

    /// Listens (`true`) or stops listening for a fax's calling tone in the caller's audio,
    /// recorded or not; [`MediaEvent::FaxTone`] reports it once.
    pub fn listen_for_fax(&mut self, on: bool) {
        self.cng = on.then(CngDetector::new);
    }

    /// From now on the caller's audio is written to `recorder`.
    pub fn record_to(&mut self, recorder: Recorder) {
        self.record_error = None;
        self.recorder = Some(recorder);
    }

    /// Ends the recording: packets still waiting for a gap before them belong to it and are
    /// written first. The recorder, to finish (or discard) off the media path.
    pub fn stop_recording(&mut self) -> Option<Recorder> {
        if self.recorder.is_some() {
            self.reorder.flush();
            self.release();
        }
        self.recorder.take()
    }

    /// Drops the recording tap without flushing what waits in the reorder buffer (the
    /// recording is to be discarded).
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    // ---- state ----

    /// Samples in the recording so far (0 without one).
    pub fn recorded_samples(&self) -> u64 {
        self.recorder.as_ref().map_or(0, Recorder::samples)
    }

    /// Why the recording stopped taking audio, once it did.
    pub fn record_error(&self) -> Option<&str> {
        self.record_error.as_deref()
    }

    /// The negotiated codec.
    pub fn codec(&self) -> G711 {
        self.codec
    }

    /// Where our packets go (the peer's SDP address).
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Receive statistics so far.
    pub fn stats(&self) -> MediaStats {
        MediaStats::from_parts(self.reorder.counts(), &self.jitter, self.latch.foreign())
    }

    /// Packets accepted from the caller.
    pub fn packets_in(&self) -> u64 {
        self.packets_in
    }

    /// Packets sent.
    pub fn packets_out(&self) -> u64 {
        self.sender.packets_sent()
    }

    /// Packet slots skipped because the owner polled too late.
    pub fn skipped_slots(&self) -> u64 {
        self.sender.skipped_slots()
    }

    /// Packets that failed SRTP (forged, replayed, garbled).
    pub fn srtp_failures(&self) -> u64 {
        self.srtp_failures
    }

    /// Packets refused for coming from another source.
    pub fn foreign(&self) -> u64 {
        self.latch.foreign()
    }

    /// ICE connectivity checks answered and refused (not for us, forged, malformed); `None`
    /// when the call does no ICE.
    pub fn ice_checks(&self) -> Option<(u64, u64)> {
        self.ice.as_ref().map(|ice| (ice.answered(), ice.refused()))
    }

    // ---- internals ----

    /// Takes a STUN datagram for the ICE agent (RFC 7983 demultiplexing); `false` for
    /// anything else, and for everything when the call does no ICE.
    fn handle_stun(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> bool {
        let Some(ice) = self.ice.as_mut() else {
            return false;
        };
        if !stun::is_stun(bytes) {
            return false;
        }
        match ice.handle(from, bytes) {
            Ok(Check::MediaMoved(to)) => {
                let nominated = ice.nominated() == Some(to);
                tracing::info!(from = %self.remote, %to, nominated, "ICE: media path selected");
                self.remote = to;
                self.latch.set_offered(now, to);
            }
            Ok(Check::Answered) => {}
            Err(e) => tracing::debug!(%from, error = %e, "STUN dropped"),
        }
        true
    }

    fn unprotect(&mut self, bytes: &mut [u8]) -> Option<usize> {
        match self.srtp.as_mut() {
            Some((inbound, _)) => match inbound.unprotect(bytes) {
                Ok(len) => Some(len),
                Err(_) => {
                    // Forged, replayed or garbled: dropped, counted at call end.
                    self.srtp_failures += 1;
                    None
                }
            },
            None => Some(bytes.len()),
        }
    }

    fn push_event(&mut self, event: MediaEvent) {
        self.events.push_back(event);
    }

    /// Feeds what the reorder buffer releases to digit detection and the recording tap.
    fn release(&mut self) {
        let Session {
            codec,
            payload_type,
            telephone_event,
            reorder,
            dtmf,
            vad,
            recorder,
            record_error,
            cng,
            events,
            ..
        } = self;
        while let Some(pkt) = reorder.pop() {
            if Some(pkt.payload_type) == *telephone_event {
                if let Ok(ev) = TelephoneEvent::parse(pkt.payload) {
                    if let Some(digit) = dtmf.handle(pkt.ssrc, pkt.timestamp, &ev) {
                        events.push_back(MediaEvent::Digit(digit));
                    }
                }
                continue;
            }
            if pkt.payload_type != *payload_type {
                continue;
            }
            if let Some(detector) = cng.as_mut() {
                // Before the tone nothing is decoded for the recording: decode for the
                // detector (the first seconds of a call only).
                let mut frame = [0i16; FRAME_SAMPLES];
                for chunk in pkt.payload.chunks(FRAME_SAMPLES) {
                    let frame = &mut frame[..chunk.len()];
                    codec.decode(chunk, frame);
                    detector.push(frame);
                }
                if detector.detected() {
                    events.push_back(MediaEvent::FaxTone);
                    *cng = None;
                }
            }
            if record_error.is_some() {
                continue;
            }
            let Some(rec) = recorder.as_mut() else {
                continue;
            };
            // No periodic flush: the recorder's 8 KiB buffer reaches the page cache every half
            // second by itself, and recovery rebuilds the header from the file's length.
            if let Err(e) = rec.push(*codec, &pkt) {
                *record_error = Some(format!("write failed: {e}"));
                events.push_back(MediaEvent::RecordFailed);
                continue;
            }
            // The flow hears 20 ms frames whatever the packet time, so silence and the idle
            // time-out are judged alike for 10 ms and 120 ms packets.
            let total = rec.samples();
            let first = total.saturating_sub(pkt.payload.len() as u64);
            let mut frame = [0i16; FRAME_SAMPLES];
            for (i, chunk) in pkt.payload.chunks(FRAME_SAMPLES).enumerate() {
                let frame = &mut frame[..chunk.len()];
                codec.decode(chunk, frame);
                events.push_back(MediaEvent::Audio {
                    silent: vad.is_silent(frame),
                    recorded: first + (i * FRAME_SAMPLES + chunk.len()) as u64,
                });
            }
        }
    }
}

#[cfg(test)]
#[path = "session_test.rs"]
mod tests;
