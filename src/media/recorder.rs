//! Recording received G.711 RTP into an 8 kHz mono 16-bit PCM WAV file.
//!
//! Writes go through hound's `BufWriter`, so a packet costs a memcpy, not a syscall (unbuffered
//! writes are a known cause of recording throughput collapse). RTP sequence numbers and
//! timestamps are used to drop duplicates and late packets and to fill lost packets with
//! silence, so the file's duration matches the call's.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use super::g711::G711;
use super::rtp::RtpPacket;
use super::SAMPLE_RATE;

/// Largest forward timestamp gap filled with silence (1 s). A larger jump is taken as a new
/// timestamp base (sender restart, re-INVITE, or a long hold), not as loss.
pub const MAX_GAP_FILL: u32 = SAMPLE_RATE;

/// Samples decoded and written per step (60 ms, a common maximum ptime).
const CHUNK: usize = 480;

/// Sequence numbers this far behind the last one are a restart, not a late packet.
const MAX_MISORDER: i16 = 100;
/// Sequence numbers this far ahead are a restart, not loss.
const MAX_DROPOUT: i16 = 3000;

/// Recording failure; always names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Creating, writing or finalising the WAV failed.
    #[error("recording {path}: {source}")]
    Wav {
        /// The recording file.
        path: PathBuf,
        /// hound's error.
        source: hound::Error,
    },
    /// Post-processing (truncate, fsync) failed.
    #[error("recording {path}: {source}")]
    Io {
        /// The recording file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The finalised file is not a WAV layout we can truncate.
    #[error("recording {path}: cannot truncate, {why}")]
    Layout {
        /// The recording file.
        path: PathBuf,
        /// What was wrong.
        why: &'static str,
    },
}

/// What [`Recorder::finish`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// Samples in the file (after truncation).
    pub samples: u64,
}

/// Position in the RTP stream of the last packet written.
#[derive(Debug, Clone, Copy)]
struct StreamPos {
    ssrc: u32,
    sequence: u16,
    /// Timestamp just past the last written sample.
    next_ts: u32,
}

/// An open recording.
pub struct Recorder {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    pos: Option<StreamPos>,
    samples: u64,
    packets: u64,
    lost: u64,
    discarded: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .field("packets", &self.packets)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// The WAV format of every recording.
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl Recorder {
    /// Creates (truncating) the WAV file at `path`.
    pub fn create(path: &Path) -> Result<Self, RecordError> {
        let writer =
            hound::WavWriter::create(path, wav_spec()).map_err(|source| RecordError::Wav {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Recorder {
            path: path.to_path_buf(),
            writer,
            pos: None,
            samples: 0,
            packets: 0,
            lost: 0,
            discarded: 0,
        })
    }

    /// Appends one audio packet, decoded with `codec`.
    ///
    /// Duplicates and packets older than the last one written are discarded; a forward
    /// timestamp gap of up to [`MAX_GAP_FILL`] is filled with silence.
    pub fn push(&mut self, codec: G711, pkt: &RtpPacket<'_>) -> Result<(), RecordError> {
        let n = pkt.payload.len() as u32;
        let mut payload = pkt.payload;
        if let Some(pos) = self.pos {
            let seq_delta = pkt.sequence.wrapping_sub(pos.sequence) as i16;
            // RFC 3550 appendix A.1 limits: beyond them the source restarted (new SSRC or
            // sequence base), so nothing is late or lost; the timestamp decides about fill.
            let restart =
                pkt.ssrc != pos.ssrc || !(-MAX_MISORDER..=MAX_DROPOUT).contains(&seq_delta);
            if !restart {
                if seq_delta <= 0 {
                    // Duplicate or reordered-late packet: its slot is already on disk.
                    self.discarded += 1;
                    return Ok(());
                }
                self.lost += (seq_delta - 1) as u64;
            }
            let ts_delta = pkt.timestamp.wrapping_sub(pos.next_ts) as i32;
            if ts_delta > 0 && ts_delta as u32 <= MAX_GAP_FILL {
                self.write_silence(ts_delta as u32)?;
            } else if ts_delta < 0 && ts_delta.unsigned_abs() <= MAX_GAP_FILL {
                // Overlaps audio already written (sender clock jitter): keep only the new tail.
                let overlap = ts_delta.unsigned_abs() as usize;
                if overlap >= payload.len() {
                    self.discarded += 1;
                    return Ok(());
                }
                payload = &payload[overlap..];
            }
            // Larger jumps either way: new timestamp base, append without fill.
        }
        self.write_g711(codec, payload)?;
        self.pos = Some(StreamPos {
            ssrc: pkt.ssrc,
            sequence: pkt.sequence,
            next_ts: pkt.timestamp.wrapping_add(n),
        });
        self.packets += 1;
        Ok(())
    }

    fn write_g711(&mut self, codec: G711, payload: &[u8]) -> Result<(), RecordError> {
        // Stack buffer: no allocation per packet whatever the ptime.
        let mut buf = [0i16; CHUNK];
        for chunk in payload.chunks(CHUNK) {
            let out = &mut buf[..chunk.len()];
            codec.decode(chunk, out);
            self.write_samples(out)?;
        }
        Ok(())
    }

    fn write_silence(&mut self, n: u32) -> Result<(), RecordError> {
        let zeros = [0i16; CHUNK];
        let mut left = n as usize;
        while left > 0 {
            let k = left.min(CHUNK);
            self.write_samples(&zeros[..k])?;
            left -= k;
        }
        Ok(())
    }

    /// Appends at most [`CHUNK`] samples through hound's 16-bit fast path, whose internal
    /// buffer is allocated once and reused.
    fn write_samples(&mut self, samples: &[i16]) -> Result<(), RecordError> {
        let mut w = self.writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w.write_sample(s);
        }
        // Exactly `samples.len()` were written, so flush's completeness check holds.
        w.flush().map_err(|e| self.wav_err(e))?;
        self.samples += samples.len() as u64;
        Ok(())
    }

    fn wav_err(&self, source: hound::Error) -> RecordError {
        RecordError::Wav {
            path: self.path.clone(),
            source,
        }
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples written so far (audio plus loss fill).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Recorded duration.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.samples * 1_000_000_000 / SAMPLE_RATE as u64)
    }

    /// Packets written.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets missing according to sequence-number gaps.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Duplicate or late packets discarded.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// Writes buffered audio to the file and updates the header to describe it, so a crash of
    /// the gateway loses at most what arrived since the last flush.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.writer.flush().map_err(|source| RecordError::Wav {
            path: self.path.clone(),
            source,
        })
    }

    /// Finalises the WAV header, optionally truncates to `keep_samples` (to trim trailing
    /// silence after an idle timeout), and fsyncs the file before returning.
    pub fn finish(self, keep_samples: Option<u64>) -> Result<RecordingInfo, RecordError> {
        let Recorder {
            path,
            writer,
            samples,
            ..
        } = self;
        // A disk that refused writes (full, failing) also refuses the last buffer here: keep
        // what reached the file, with a header that says how much that is.
        let samples = match writer.finalize() {
            Ok(()) => samples,
            Err(_) => repair(&path)?,
        };
        let io_err = |source| RecordError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err)?;
        let mut kept = samples;
        if let Some(keep) = keep_samples.filter(|&k| k < samples) {
            let data_at = find_data_chunk(&mut file).map_err(|e| match e {
                Found::Io(source) => RecordError::Io {
                    path: path.clone(),
                    source,
                },
                Found::Bad(why) => RecordError::Layout {
                    path: path.clone(),
                    why,
                },
            })?;
            truncate_data(&mut file, data_at, keep).map_err(io_err)?;
            kept = keep;
        }
        file.sync_all().map_err(io_err)?;
        Ok(RecordingInfo {
            path,
            samples: kept,
        })
    }
}

/// Makes a recording whose writer died (the gateway was killed mid-call) a valid WAV: the data
/// chunk runs to the end of the file, cut to whole samples. Returns the number of samples.
pub fn repair(path: &Path) -> Result<u64, RecordError> {
    let io_err = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    let data_at = find_data_chunk(&mut file).map_err(|e| match e {
        Found::Io(source) => RecordError::Io {
            path: path.to_path_buf(),
            source,
        },
        Found::Bad(why) => RecordError::Layout {
            path: path.to_path_buf(),
            why,
        },
    })?;
    let len = file.metadata().map_err(io_err)?.len();
    let samples = len.saturating_sub(data_at + 8) / 2;
    truncate_data(&mut file, data_at, samples).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(samples)
}

enum Found {
    Io(io::Error),
    Bad(&'static str),
}

impl From<io::Error> for Found {
    fn from(e: io::Error) -> Self {
        Found::Io(e)
    }
}

/// Offset of the `data` chunk header (its 4-byte id) in a RIFF/WAVE file.
fn find_data_chunk(file: &mut File) -> Result<u64, Found> {
    let mut hdr = [0u8; 12];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut hdr)?;
    if &hdr[0..4] != b"RIFF" || &hdr[8..12] != b"WAVE" {
        return Err(Found::Bad("not a RIFF/WAVE file"));
    }
    let len = file.metadata()?.len();
    let mut at = 12u64;
    while at + 8 <= len {
        let mut ch = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut ch)?;
        if &ch[0..4] == b"data" {
            return Ok(at);
        }
        let size = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]) as u64;
        at += 8 + size + (size & 1);
    }
    Err(Found::Bad("no data chunk"))
}

/// Cuts the data chunk (the last chunk, as hound writes it) to `keep` 16-bit samples and fixes
/// the RIFF and data sizes.
fn truncate_data(file: &mut File, data_at: u64, keep: u64) -> io::Result<()> {
    let data_len = keep * 2;
    let end = data_at + 8 + data_len;
    let riff_size =
        u32::try_from(end - 8).map_err(|_| io::Error::other("WAV larger than 4 GiB"))?;
    file.set_len(end)?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff_size.to_le_bytes())?;
    file.seek(SeekFrom::Start(data_at + 4))?;
    file.write_all(&(data_len as u32).to_le_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::{alaw_decode, ulaw_decode};

    /// Records `packets` PCMU packets of 0x55 at `path`, flushing after `flush_after` of them
    /// if set, then dies (no finalize), repairs the file and checks what it holds: returns the
    /// samples recovered.
    fn killed_and_repaired(path: &Path, packets: u16, flush_after: Option<u16>) -> u64 {
        let mut rec = Recorder::create(path).unwrap();
        let payload = [0x55u8; 160];
        for i in 0..packets {
            if Some(i) == flush_after {
                rec.flush().unwrap();
            }
            rec.push(G711::Pcmu, &pkt(i, u32::from(i) * 160, &payload))
                .unwrap();
        }
        // The process dies: no finalize, the BufWriter's tail is lost, the header may lag.
        std::mem::forget(rec);
        let samples = repair(path).unwrap();
        let back = read(path);
        assert_eq!(back.len() as u64, samples);
        assert!(back.iter().all(|&x| x == ulaw_decode(0x55)));
        samples
    }

    #[test]
    fn flushed_recording_survives_a_dead_writer_and_repairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("killed.wav");
        let samples = killed_and_repaired(&path, 60, Some(50));
        assert!(samples >= 50 * 160, "{samples}");
        // Repairing twice changes nothing.
        assert_eq!(repair(&path).unwrap(), samples);
    }

    #[test]
    fn unflushed_recording_keeps_every_full_buffer() {
        // The deposit never calls flush: what its buffer wrote must be recoverable.
        let dir = tempfile::tempdir().unwrap();
        let samples = killed_and_repaired(&dir.path().join("killed.wav"), 100, None);
        // 2 s of audio is 32,000 bytes: at most one 8 KiB buffer is lost.
        assert!(samples >= (32_000 - 8192) / 2, "{samples}");
    }

    fn pkt(seq: u16, ts: u32, payload: &[u8]) -> RtpPacket<'_> {
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc: 7,
            payload,
        }
    }

    fn read(path: &Path) -> Vec<i16> {
        let mut r = hound::WavReader::open(path).unwrap();
        assert_eq!(r.spec(), wav_spec());
        r.samples::<i16>().map(|s| s.unwrap()).collect()
    }

    #[test]
    fn writes_decoded_samples_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav");
        let mut rec = Recorder::create(&path).unwrap();
        let a: Vec<u8> = (0..160).map(|i| i as u8).collect();
        let b: Vec<u8> = (0..160).map(|i| (255 - i) as u8).collect();
        rec.push(G711::Pcmu, &pkt(65535, u32::MAX - 159, &a))
            .unwrap();
        rec.push(G711::Pcma, &pkt(0, 0, &b)).unwrap(); // seq and ts wrap
        assert_eq!(rec.samples(), 320);
        assert_eq!(rec.packets(), 2);
        assert_eq!(rec.duration(), Duration::from_millis(40));
        let info = rec.finish(None).unwrap();
        assert_eq!(
            info,
            RecordingInfo {
                path: path.clone(),
                samples: 320
            }
        );
        let got = read(&path);
        let want: Vec<i16> = a
            .iter()
            .map(|&x| ulaw_decode(x))
            .chain(b.iter().map(|&x| alaw_decode(x)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn duplicates_late_and_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.wav");
        let mut rec = Recorder::create(&path).unwrap();
        let f = |v: u8| vec![v; 160];
        let (p1, p2, p4, p5) = (f(0x80), f(0x90), f(0xA0), f(0xB0));
        rec.push(G711::Pcmu, &pkt(10, 1000, &p1)).unwrap();
        rec.push(G711::Pcmu, &pkt(10, 1000, &p1)).unwrap(); // duplicate
        rec.push(G711::Pcmu, &pkt(11, 1160, &p2)).unwrap();
        // 12 lost; 13 arrives, then 12 late.
        rec.push(G711::Pcmu, &pkt(13, 1480, &p4)).unwrap();
        rec.push(G711::Pcmu, &pkt(12, 1320, &f(0xEE))).unwrap();
        assert_eq!(rec.lost(), 1);
        assert_eq!(rec.discarded(), 2);
        // 5 s jump (sender restarted its clock): no fill.
        rec.push(G711::Pcmu, &pkt(14, 1640 + 40_000, &p5)).unwrap();
        assert_eq!(rec.samples(), 160 * 5);
        assert_eq!(rec.packets(), 4);
        let info = rec.finish(None).unwrap();
        assert_eq!(info.samples, 800);
        let got = read(&path);
        assert_eq!(got.len(), 800);
        assert!(got[..160].iter().all(|&s| s == ulaw_decode(0x80)));
        assert!(got[160..320].iter().all(|&s| s == ulaw_decode(0x90)));
        assert!(
            got[320..480].iter().all(|&s| s == 0),
            "lost packet filled with silence"
        );
        assert!(got[480..640].iter().all(|&s| s == ulaw_decode(0xA0)));
        assert!(got[640..].iter().all(|&s| s == ulaw_decode(0xB0)));
    }

    #[test]
    fn overlap_keeps_new_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.wav");
        let mut rec = Recorder::create(&path).unwrap();
        rec.push(G711::Pcmu, &pkt(1, 0, &[0x80; 160])).unwrap();
        // Next packet starts 40 samples early.
        rec.push(G711::Pcmu, &pkt(2, 120, &[0x90; 160])).unwrap();
        assert_eq!(rec.samples(), 280);
        // Then continues at its own timestamp + 160 = 280, contiguous.
        rec.push(G711::Pcmu, &pkt(3, 280, &[0xA0; 160])).unwrap();
        assert_eq!(rec.finish(None).unwrap().samples, 440);
    }

    #[test]
    fn sequence_restart_is_not_late() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.wav");
        let mut rec = Recorder::create(&path).unwrap();
        rec.push(G711::Pcmu, &pkt(30000, 0, &[0x80; 160])).unwrap();
        // Sender restarted with a lower random sequence and a new clock.
        rec.push(G711::Pcmu, &pkt(5, 900_000, &[0x90; 160]))
            .unwrap();
        rec.push(G711::Pcmu, &pkt(6, 900_160, &[0x90; 160]))
            .unwrap();
        // New SSRC with the same sequence number: also a new stream.
        let mut other = pkt(6, 900_320, &[0xA0; 160]);
        other.ssrc = 99;
        rec.push(G711::Pcmu, &other).unwrap();
        assert_eq!((rec.packets(), rec.lost(), rec.discarded()), (4, 0, 0));
        assert_eq!(rec.finish(None).unwrap().samples, 640);
    }

    #[test]
    fn truncation_fixes_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let mut rec = Recorder::create(&path).unwrap();
        for i in 0..50u16 {
            let payload = [(i as u8).wrapping_mul(3); 160];
            rec.push(G711::Pcma, &pkt(i, i as u32 * 160, &payload))
                .unwrap();
        }
        let info = rec.finish(Some(1000)).unwrap();
        assert_eq!(info.samples, 1000);
        let got = read(&path);
        assert_eq!(got.len(), 1000);
        assert_eq!(got[999], alaw_decode(6u8.wrapping_mul(3)));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 44 + 2000);
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            36 + 2000
        );
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 2000);
        // keep >= samples is a no-op.
        let mut rec = Recorder::create(&path).unwrap();
        rec.push(G711::Pcma, &pkt(0, 0, &[0xD5; 160])).unwrap();
        assert_eq!(rec.finish(Some(5000)).unwrap().samples, 160);
        assert_eq!(read(&path).len(), 160);
    }

    #[test]
    fn create_error_names_file() {
        let err = Recorder::create(Path::new("/nonexistent-dir/x.wav")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.wav"), "{err}");
    }
}
