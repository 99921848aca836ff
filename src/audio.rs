//! Telephony audio as every layer counts it: the sample rate, the 20 ms frame, and the format
//! a recording is attached to a message in.
//!
//! Here rather than in `media` so that the store (which encodes attachments) and the config
//! (which names the format) do not depend on the media plane. The IMA ADPCM encoder behind
//! [`AudioFormat::encode`] lives with the attachments it writes, in `store::audio`.

/// Sampling rate of all telephony audio handled here (G.711 narrowband).
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms packet at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 160;
/// Packetisation interval (ptime) of every stream we send.
pub const FRAME: std::time::Duration = std::time::Duration::from_millis(20);

/// Attachment format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudioFormat {
    /// The recording as made: 8 kHz 16-bit PCM WAV (128 kb/s).
    #[default]
    Wav,
    /// IMA ADPCM WAV, 8 kHz mono (about 32 kb/s).
    ImaAdpcm,
}

impl AudioFormat {
    /// Parses `store.audio_format` (`wav` or `ima-adpcm`).
    pub fn from_config(s: &str) -> Option<AudioFormat> {
        match s {
            "wav" => Some(AudioFormat::Wav),
            "ima-adpcm" => Some(AudioFormat::ImaAdpcm),
            _ => None,
        }
    }
}
