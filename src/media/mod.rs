//! Media plane: G.711, RTP, RFC 4733 DTMF, silence detection, prompt playout on a 20 ms clock,
//! WAV recording and prompt loading.
//!
//! Everything on the per-packet path ([`rtp::parse`], [`g711::G711::decode`],
//! [`dtmf::DtmfReceiver::handle`], [`pacer::RtpSender::poll_transmit`],
//! [`recorder::Recorder::push`]) is allocation-free; the state machines never read the clock.

pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod latch;
pub mod pacer;
pub mod player;
pub mod prompts;
pub mod recorder;
pub mod rtp;
pub mod session;
pub mod speech;
pub mod srtp;
pub mod stats;
pub mod udp_batch;
pub mod vad;

/// Sampling rate of all telephony audio handled here (G.711 narrowband).
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms packet at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 160;
/// Packetisation interval (ptime) of every stream we send.
pub const FRAME: std::time::Duration = std::time::Duration::from_millis(20);
