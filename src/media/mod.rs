//! Media plane: G.711, RTP, RFC 4733 DTMF, silence detection, prompt playout on a 20 ms clock,
//! WAV recording and prompt loading.
//!
//! Everything on the per-packet path ([`rtp::parse`], [`g711::G711::decode`],
//! [`dtmf::DtmfReceiver::handle`], [`pacer::RtpSender::poll_transmit`],
//! [`recorder::Recorder::push`]) is allocation-free; the state machines never read the clock.

pub mod cng;
pub mod dtmf;
pub mod g711;
pub mod ice;
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
pub mod stun;
pub mod vad;
pub mod voices;

pub use crate::audio::{FRAME, FRAME_SAMPLES, SAMPLE_RATE};
