//! SRTP (RFC 3711) for SDES-keyed calls (RFC 4568): AES_CM_128_HMAC_SHA1_80 and _32.
//!
//! Own implementation on RustCrypto (`aes`, `ctr`, `hmac`, `sha1`, `subtle`) rather than
//! `rtc-srtp` 0.21.1, which DESIGN.md names. Reading its source showed that it allocates per
//! packet: `Context::encrypt_rtp`/`decrypt_rtp` return a fresh `BytesMut`
//! (`BytesMut::with_capacity(plaintext.len() + tag_len)` in `cipher_aes_cm_hmac_sha1.rs`, then
//! copies the packet into it), and parse the header into `rtp::Header`, whose CSRC and extension
//! lists are `Vec`s. It also pulls in `ring` through `rtc-crypto`. The media path must not
//! allocate per packet (src/media/mod.rs), so this module transforms the caller's buffer in place.
//!
//! Scope: SRTP only (no SRTCP: the gateway does not consume RTCP), key derivation rate 0, no MKI
//! (the SDP layer refuses crypto lines that need one). One [`SrtpContext`] per direction, as the
//! keys differ: inbound with the offerer's key, outbound with ours.

use aes::cipher::{KeyInit, StreamCipher, StreamCipherCoreWrapper};
use aes::Aes128;
use ctr::cipher::InnerIvInit;
use ctr::flavors::Ctr128BE;
use ctr::CtrCore;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// SDES crypto suites we implement (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit tag (SRTP only; SRTCP keeps 80).
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// Name as written in `a=crypto`.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// Parses an `a=crypto` suite name (case-sensitive, as RFC 4568 registers them).
    pub fn from_name(name: &str) -> Option<SrtpSuite> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(SrtpSuite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(SrtpSuite::AesCm128HmacSha1_32),
            _ => None,
        }
    }

    /// Authentication tag length in bytes that SRTP packets carry.
    pub fn tag_len(self) -> usize {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => 10,
            SrtpSuite::AesCm128HmacSha1_32 => 4,
        }
    }
}

impl std::fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a packet could not be protected or unprotected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// Shorter than an RTP header (plus tag, when unprotecting).
    #[error("packet of {len} bytes is too short for SRTP (needs at least {min})")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
    /// Version is not 2, or CSRC/extension lengths run past the packet.
    #[error("not a valid RTP packet: {why}")]
    BadHeader {
        /// What is wrong.
        why: &'static str,
    },
    /// `protect` needs `len + tag` bytes of buffer.
    #[error("buffer of {have} bytes cannot hold the {need}-byte SRTP packet")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Buffer size.
        have: usize,
    },
    /// Tag mismatch: wrong key, tampering, or a ROC guess the sender did not use.
    #[error("SRTP authentication failed (ssrc {ssrc:#010x}, seq {seq})")]
    AuthFailed {
        /// Packet SSRC.
        ssrc: u32,
        /// Packet sequence number.
        seq: u16,
    },
    /// Already received (RFC 3711 §3.3.2).
    #[error("replayed SRTP packet (ssrc {ssrc:#010x}, seq {seq})")]
    Replayed {
        /// Packet SSRC.
        ssrc: u32,
        /// Packet sequence number.
        seq: u16,
    },
    /// Behind the 64-packet replay window, so a replay cannot be ruled out.
    #[error("SRTP stream {ssrc:#010x} refused: every stream slot holds a live stream")]
    TooManyStreams {
        /// The stream that was refused.
        ssrc: u32,
    },
    #[error("SRTP packet too old for the replay window (ssrc {ssrc:#010x}, seq {seq})")]
    TooOld {
        /// Packet SSRC.
        ssrc: u32,
        /// Packet sequence number.
        seq: u16,
    },
    /// 2^48 packets under one key (RFC 3711 §9.2): the session must be rekeyed.
    #[error("SRTP packet index space of this key is exhausted")]
    KeyExhausted,
}

/// Streams (SSRCs) tracked per context. A call has one audio SSRC per direction; some peers send
/// RFC 4733 events or restart with another SSRC, so keep a few and recycle the least recent
/// that has gone quiet.
const MAX_STREAMS: usize = 4;
/// Packets this context handled since a stream's last one before the stream counts as gone
/// (10 s of one 20 ms stream). Until then its replay state is kept: a new SSRC beyond the
/// slots is refused rather than let it evict a live stream's window (which would make that
/// stream's recent packets replayable).
const STALE_AFTER: u64 = 500;
/// Replay window size in packets (RFC 3711 §3.3.2 minimum).
const WINDOW: u64 = 64;
const RTP_HEADER: usize = 12;
/// Largest packet index: 48 bits.
const MAX_INDEX: u64 = (1 << 48) - 1;

#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    ssrc: u32,
    in_use: bool,
    /// Highest authenticated packet index (ROC << 16 | s_l).
    highest: u64,
    /// Bit i set: index `highest - i` was received.
    window: u64,
    /// Recency stamp for eviction.
    last_used: u64,
}

/// One direction's SRTP crypto context (RFC 3711 §3.2) with derived session keys.
#[derive(Clone)]
pub struct SrtpContext {
    suite: SrtpSuite,
    cipher: Aes128,
    /// HMAC keyed with the session auth key; cloned per packet so the key pads are hashed once.
    mac: HmacSha1,
    salt: [u8; 14],
    streams: [Stream; MAX_STREAMS],
    clock: u64,
}

impl std::fmt::Debug for SrtpContext {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// Overwrites the session keys (cipher round keys, HMAC pad state, salt) with those of an
    /// all-zero key, so a dropped call's keys do not linger in freed memory.
    fn wipe(&mut self) {
        use zeroize::Zeroize;
        self.cipher = Aes128::new(&[0u8; 16].into());
        self.mac = <HmacSha1 as Mac>::new_from_slice(&[0u8; 20])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        self.salt.zeroize();
        // The context is freed right after this: without a read, the stores above are dead
        // and the compiler may drop them. `black_box` makes them observable.
        std::hint::black_box(&self.cipher);
        std::hint::black_box(&self.mac);
    }
}

impl Drop for SrtpContext {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// RFC 3711 §4.3.1 key derivation with kdr 0: AES-CM keystream under the master key, IV =
/// (master_salt XOR label·2^48)·2^16.
fn derive(master_key: &[u8; 16], master_salt: &[u8; 14], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    let aes = Aes128::new(master_key.into());
    keystream_xor(&aes, &iv, out);
}

/// XORs the AES-CM keystream that starts at counter `iv` into `buf`.
fn keystream_xor(aes: &Aes128, iv: &[u8; 16], buf: &mut [u8]) {
    // Aes128 is a plain struct of round keys: cloning it copies, never allocates.
    let core = CtrCore::<Aes128, Ctr128BE>::inner_iv_init(aes.clone(), iv.into());
    StreamCipherCoreWrapper::from_core(core).apply_keystream(buf);
}

/// RFC 3711 §4.1.1: IV = (k_s·2^16) XOR (SSRC·2^64) XOR (i·2^16).
fn packet_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= s;
    }
    iv
}

/// Header length of the RTP packet `p` (fixed header, CSRCs, extension).
fn header_len(p: &[u8]) -> Result<usize, SrtpError> {
    if p.len() < RTP_HEADER {
        return Err(SrtpError::TooShort {
            len: p.len(),
            min: RTP_HEADER,
        });
    }
    if p[0] >> 6 != 2 {
        return Err(SrtpError::BadHeader {
            why: "version is not 2",
        });
    }
    let mut len = RTP_HEADER + 4 * usize::from(p[0] & 0x0f);
    if p[0] & 0x10 != 0 {
        let ext = p.get(len + 2..len + 4).ok_or(SrtpError::BadHeader {
            why: "extension header runs past the packet",
        })?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    if len > p.len() {
        return Err(SrtpError::BadHeader {
            why: "CSRC list or extension runs past the packet",
        });
    }
    Ok(len)
}

/// RFC 3711 §3.3.1 / Appendix A: the packet index for `seq` given the highest index seen.
/// `None` if the guess would fall before index 0.
fn estimate_index(highest: u64, seq: u16) -> Option<u64> {
    let roc = highest >> 16;
    let s_l = (highest & 0xffff) as i64;
    let seq_i = i64::from(seq);
    let v = if s_l < 32768 {
        if seq_i - s_l > 32768 {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if s_l - 32768 > seq_i {
        roc + 1
    } else {
        roc
    };
    Some((v << 16) | u64::from(seq))
}

impl SrtpContext {
    /// Context for one direction from the SDES master key and salt (`inline:` key||salt).
    pub fn new(suite: SrtpSuite, master_key: [u8; 16], master_salt: [u8; 14]) -> SrtpContext {
        let mut key = [0u8; 16];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; 14];
        derive(&master_key, &master_salt, 0x00, &mut key);
        derive(&master_key, &master_salt, 0x01, &mut auth);
        derive(&master_key, &master_salt, 0x02, &mut salt);
        SrtpContext {
            suite,
            cipher: Aes128::new(&key.into()),
            mac: <HmacSha1 as Mac>::new_from_slice(&auth)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
            salt,
            streams: [Stream::default(); MAX_STREAMS],
            clock: 0,
        }
    }

    /// Context from the 30-byte `inline:` key material (16-byte key then 14-byte salt).
    pub fn from_key_salt(suite: SrtpSuite, key_salt: &[u8; 30]) -> SrtpContext {
        let mut key = [0u8; 16];
        let mut salt = [0u8; 14];
        key.copy_from_slice(&key_salt[..16]);
        salt.copy_from_slice(&key_salt[16..]);
        SrtpContext::new(suite, key, salt)
    }

    /// The suite this context uses.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Bytes `protect` appends.
    pub fn tag_len(&self) -> usize {
        self.suite.tag_len()
    }

    fn stream(&self, ssrc: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.in_use && s.ssrc == ssrc)
    }

    /// Slot for a new SSRC: a free one, else the least recently used one that has gone
    /// quiet; `None` while every slot holds a live stream.
    fn new_slot(&self, ssrc: u32) -> Result<usize, SrtpError> {
        let mut best = 0;
        for (i, s) in self.streams.iter().enumerate() {
            if !s.in_use {
                return Ok(i);
            }
            if s.last_used < self.streams[best].last_used {
                best = i;
            }
        }
        if self.clock.saturating_sub(self.streams[best].last_used) > STALE_AFTER {
            Ok(best)
        } else {
            Err(SrtpError::TooManyStreams { ssrc })
        }
    }

    /// Writes the truncated HMAC over `auth` || ROC into `tag`.
    fn tag(&self, auth: &[u8], roc: u32, tag: &mut [u8]) {
        let mut mac = self.mac.clone();
        mac.update(auth);
        mac.update(&roc.to_be_bytes());
        let full = mac.finalize().into_bytes();
        tag.copy_from_slice(&full[..tag.len()]);
    }

    /// Encrypts the RTP packet in `packet[..len]` in place and appends the tag.
    ///
    /// `packet` must have room for `len + tag_len()` bytes. Returns the SRTP length.
    pub fn protect(&mut self, packet: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let need = len + self.tag_len();
        if packet.len() < need {
            return Err(SrtpError::BufferTooSmall {
                need,
                have: packet.len(),
            });
        }
        let hlen = header_len(&packet[..len])?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        // The sender tracks its ROC with the same estimate: it sends in order, so the guess is
        // exact, and a retransmitted old sequence number keeps its old ROC.
        let slot = match self.stream(ssrc) {
            Some(i) => Ok(i),
            None => Err(self.new_slot(ssrc)?),
        };
        let index = match slot {
            Ok(i) => estimate_index(self.streams[i].highest, seq).unwrap_or(u64::from(seq)),
            Err(_) => u64::from(seq),
        };
        if index > MAX_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        let iv = packet_iv(&self.salt, ssrc, index);
        keystream_xor(&self.cipher, &iv, &mut packet[hlen..len]);
        let (auth, tag) = packet[..need].split_at_mut(len);
        self.tag(auth, (index >> 16) as u32, tag);
        self.clock += 1;
        let s = &mut self.streams[slot.unwrap_or_else(|new| new)];
        if slot.is_err() {
            *s = Stream {
                ssrc,
                in_use: true,
                highest: index,
                window: 1,
                last_used: 0,
            };
        }
        s.highest = s.highest.max(index);
        s.last_used = self.clock;
        Ok(need)
    }

    /// Authenticates and decrypts the SRTP packet that fills `packet`, in place.
    ///
    /// Checks the tag in constant time before anything else is trusted, then the replay window;
    /// state changes only for authentic packets. Returns the RTP length (tag stripped).
    pub fn unprotect(&mut self, packet: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.tag_len();
        let min = RTP_HEADER + tag_len;
        if packet.len() < min {
            return Err(SrtpError::TooShort {
                len: packet.len(),
                min,
            });
        }
        let len = packet.len() - tag_len;
        let hlen = header_len(&packet[..len])?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        // Ok: the stream's slot; Err: the slot a new stream would take.
        let slot = match self.stream(ssrc) {
            Some(i) => Ok(i),
            None => Err(self.new_slot(ssrc)?),
        };
        let index = match slot {
            Ok(i) => {
                let s = &self.streams[i];
                let index =
                    estimate_index(s.highest, seq).ok_or(SrtpError::TooOld { ssrc, seq })?;
                if index <= s.highest {
                    let delta = s.highest - index;
                    if delta >= WINDOW {
                        return Err(SrtpError::TooOld { ssrc, seq });
                    }
                    if s.window & (1 << delta) != 0 {
                        return Err(SrtpError::Replayed { ssrc, seq });
                    }
                }
                index
            }
            // First packet of a stream: SDES starts the ROC at 0 (RFC 4568 §6.4).
            Err(_) => u64::from(seq),
        };
        if index > MAX_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        let mut expected = [0u8; 10];
        let expected = &mut expected[..tag_len];
        self.tag(&packet[..len], (index >> 16) as u32, expected);
        if !bool::from(expected.ct_eq(&packet[len..])) {
            return Err(SrtpError::AuthFailed { ssrc, seq });
        }
        let iv = packet_iv(&self.salt, ssrc, index);
        keystream_xor(&self.cipher, &iv, &mut packet[hlen..len]);
        self.clock += 1;
        let s = &mut self.streams[slot.unwrap_or_else(|new| new)];
        if slot.is_err() {
            *s = Stream {
                ssrc,
                in_use: true,
                highest: index,
                window: 0,
                last_used: 0,
            };
        }
        if index > s.highest {
            let shift = index - s.highest;
            s.window = if shift >= WINDOW {
                0
            } else {
                s.window << shift
            };
            s.highest = index;
        }
        s.window |= 1 << (s.highest - index);
        s.last_used = self.clock;
        Ok(len)
    }
}

#[cfg(test)]
mod test;
