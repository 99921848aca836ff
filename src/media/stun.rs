//! The STUN (RFC 5389) an ICE-lite agent needs: telling STUN from RTP on the call's port
//! (RFC 7983), reading a Binding request's ICE attributes (RFC 8445 §7.1.1: USERNAME,
//! PRIORITY, USE-CANDIDATE, ICE-CONTROLLING/-CONTROLLED), checking its MESSAGE-INTEGRITY
//! (short-term credentials: the key is our `ice-pwd`) and FINGERPRINT, and writing the Binding
//! success response (XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT).
//!
//! Sans-IO and allocation-free: a request borrows the datagram, a response is written into the
//! caller's buffer. Attributes we do not know are skipped whatever their range (Microsoft's
//! ICE peers add their own, e.g. [MS-ICE2]'s MS-IMPLEMENTATION-VERSION, and their Direct
//! Routing interop guide asks ICE-lite peers to ignore what they do not recognise).

use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// RFC 5389 §6.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_PRIORITY: u16 = 0x0024;
const ATTR_USE_CANDIDATE: u16 = 0x0025;
const ATTR_FINGERPRINT: u16 = 0x8028;
const ATTR_ICE_CONTROLLED: u16 = 0x8029;
const ATTR_ICE_CONTROLLING: u16 = 0x802A;

/// RFC 5389 §15.5: CRC-32 of the message XOR this.
const FINGERPRINT_XOR: u32 = 0x5354_554E;
const MI_LEN: usize = 20;

/// The longest response [`write_binding_success`] writes: header, XOR-MAPPED-ADDRESS for IPv6,
/// MESSAGE-INTEGRITY, FINGERPRINT.
pub const MAX_RESPONSE_LEN: usize = HEADER_LEN + (4 + 20) + (4 + MI_LEN) + (4 + 4);

/// Why a datagram that looks like STUN is not a Binding request we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    #[error("truncated or badly framed STUN message")]
    Malformed,
    #[error("STUN message is not a Binding request")]
    NotBindingRequest,
    #[error("Binding request without USERNAME or MESSAGE-INTEGRITY")]
    MissingCredentials,
    #[error("STUN FINGERPRINT does not match")]
    BadFingerprint,
    #[error("STUN MESSAGE-INTEGRITY does not match")]
    BadIntegrity,
}

/// Whether a datagram on the RTP port is STUN: first two bits zero (RFC 7983 §7: 0-3 is STUN,
/// 128-191 RTP/RTCP) and the magic cookie in place.
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes[0] < 4
        && u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) == MAGIC_COOKIE
}

/// A Binding request, borrowed from the datagram. Integrity is not checked yet: see
/// [`BindingRequest::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingRequest<'a> {
    pub transaction_id: [u8; 12],
    /// `USERNAME`: `<receiver's ufrag>:<sender's ufrag>` in ICE.
    pub username: &'a [u8],
    /// `PRIORITY`: the peer-reflexive priority the sender would give this path.
    pub priority: Option<u32>,
    /// `USE-CANDIDATE`: the controlling agent nominates this pair.
    pub use_candidate: bool,
    /// `ICE-CONTROLLING` present (the sender is the controlling agent).
    pub controlling: bool,
    /// `ICE-CONTROLLED` present.
    pub controlled: bool,
    message: &'a [u8],
    /// Offset of the MESSAGE-INTEGRITY attribute's header.
    integrity_at: usize,
    /// Offset of the FINGERPRINT attribute's header, when there is one.
    fingerprint_at: Option<usize>,
}

/// Reads a Binding request (framing, attributes); [`BindingRequest::verify`] checks it.
pub fn parse_binding_request(bytes: &[u8]) -> Result<BindingRequest<'_>, StunError> {
    if !is_stun(bytes) {
        return Err(StunError::Malformed);
    }
    let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
    let body_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if body_len % 4 != 0 || HEADER_LEN + body_len != bytes.len() {
        return Err(StunError::Malformed);
    }
    if kind != BINDING_REQUEST {
        return Err(StunError::NotBindingRequest);
    }
    let mut transaction_id = [0u8; 12];
    transaction_id.copy_from_slice(&bytes[8..HEADER_LEN]);
    let mut req = BindingRequest {
        transaction_id,
        username: &[],
        priority: None,
        use_candidate: false,
        controlling: false,
        controlled: false,
        message: bytes,
        integrity_at: 0,
        fingerprint_at: None,
    };
    let mut at = HEADER_LEN;
    let mut integrity = None;
    while at < bytes.len() {
        let header = bytes.get(at..at + 4).ok_or(StunError::Malformed)?;
        let kind = u16::from_be_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let value = bytes
            .get(at + 4..at + 4 + len)
            .ok_or(StunError::Malformed)?;
        // RFC 5389 §15: only FINGERPRINT may follow MESSAGE-INTEGRITY, and nothing follows it.
        if req.fingerprint_at.is_some() || (integrity.is_some() && kind != ATTR_FINGERPRINT) {
            return Err(StunError::Malformed);
        }
        match kind {
            ATTR_USERNAME => req.username = value,
            ATTR_PRIORITY => {
                let v: [u8; 4] = value.try_into().map_err(|_| StunError::Malformed)?;
                req.priority = Some(u32::from_be_bytes(v));
            }
            ATTR_USE_CANDIDATE => req.use_candidate = true,
            ATTR_ICE_CONTROLLING => req.controlling = true,
            ATTR_ICE_CONTROLLED => req.controlled = true,
            ATTR_MESSAGE_INTEGRITY if len == MI_LEN => integrity = Some(at),
            ATTR_FINGERPRINT if len == 4 => req.fingerprint_at = Some(at),
            ATTR_MESSAGE_INTEGRITY | ATTR_FINGERPRINT => return Err(StunError::Malformed),
            _ => {}
        }
        at += 4 + len.next_multiple_of(4);
    }
    if at != bytes.len() {
        return Err(StunError::Malformed);
    }
    match integrity {
        Some(i) if !req.username.is_empty() => req.integrity_at = i,
        _ => return Err(StunError::MissingCredentials),
    }
    Ok(req)
}

impl BindingRequest<'_> {
    /// Checks FINGERPRINT (when present) and MESSAGE-INTEGRITY under `password` (our ICE
    /// password: short-term credentials, RFC 5389 §15.4).
    pub fn verify(&self, password: &[u8]) -> Result<(), StunError> {
        if let Some(fp) = self.fingerprint_at {
            let v = &self.message[fp + 4..fp + 8];
            let want = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            if fingerprint(&self.message[..fp]) != want {
                return Err(StunError::BadFingerprint);
            }
        }
        let mi = self.integrity_at;
        // `verify_slice` compares in constant time: a forger learns nothing from how much of
        // its MAC was right.
        integrity_mac(password, &self.message[..mi], mi + 4 + MI_LEN)
            .verify_slice(&self.message[mi + 4..mi + 4 + MI_LEN])
            .map_err(|_| StunError::BadIntegrity)
    }
}

/// Writes the Binding success response to `req` into `out` (at least [`MAX_RESPONSE_LEN`]
/// bytes): XOR-MAPPED-ADDRESS `mapped` (where the request came from), MESSAGE-INTEGRITY under
/// `password`, FINGERPRINT. Returns its length.
pub fn write_binding_success(
    transaction_id: &[u8; 12],
    mapped: SocketAddr,
    password: &[u8],
    out: &mut [u8],
) -> usize {
    out[0..2].copy_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out[8..HEADER_LEN].copy_from_slice(transaction_id);
    let mut at = HEADER_LEN;

    // RFC 5389 §15.2: port XOR the cookie's top half, address XOR cookie (|| transaction id).
    let (family, addr_len) = match mapped.ip() {
        IpAddr::V4(_) => (1u8, 4),
        IpAddr::V6(_) => (2u8, 16),
    };
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(transaction_id);
    let octets = match mapped.ip() {
        IpAddr::V4(ip) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&ip.octets());
            o
        }
        IpAddr::V6(ip) => ip.octets(),
    };
    let port = mapped.port() ^ (MAGIC_COOKIE >> 16) as u16;
    at = put_attr_header(out, at, ATTR_XOR_MAPPED_ADDRESS, 4 + addr_len);
    out[at] = 0;
    out[at + 1] = family;
    out[at + 2..at + 4].copy_from_slice(&port.to_be_bytes());
    for i in 0..addr_len {
        out[at + 4 + i] = octets[i] ^ mask[i];
    }
    at += 4 + addr_len;

    let mi_at = at;
    let mac = integrity(password, &out[..mi_at], mi_at + 4 + MI_LEN);
    at = put_attr_header(out, at, ATTR_MESSAGE_INTEGRITY, MI_LEN);
    out[at..at + MI_LEN].copy_from_slice(&mac);
    at += MI_LEN;

    let fp_at = at;
    set_length(out, fp_at + 8);
    let crc = fingerprint(&out[..fp_at]);
    at = put_attr_header(out, at, ATTR_FINGERPRINT, 4);
    out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    at + 4
}

fn put_attr_header(out: &mut [u8], at: usize, kind: u16, len: usize) -> usize {
    out[at..at + 2].copy_from_slice(&kind.to_be_bytes());
    // Attribute values here are at most 24 bytes.
    out[at + 2..at + 4].copy_from_slice(&(len as u16).to_be_bytes());
    at + 4
}

/// Sets the header's length field for a message that will end at `end`.
fn set_length(message: &mut [u8], end: usize) {
    let len = (end - HEADER_LEN) as u16;
    message[2..4].copy_from_slice(&len.to_be_bytes());
}

/// RFC 5389 §15.4: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, its length field set as
/// if the message ended right after MESSAGE-INTEGRITY (`mi_end`).
fn integrity_mac(password: &[u8], before_mi: &[u8], mi_end: usize) -> HmacSha1 {
    let mut mac = <HmacSha1 as Mac>::new_from_slice(password)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&before_mi[..2]);
    mac.update(&((mi_end - HEADER_LEN) as u16).to_be_bytes());
    mac.update(&before_mi[4..]);
    mac
}

fn integrity(password: &[u8], before_mi: &[u8], mi_end: usize) -> [u8; MI_LEN] {
    integrity_mac(password, before_mi, mi_end)
        .finalize()
        .into_bytes()
        .into()
}

/// RFC 5389 §15.5: CRC-32 (ISO HDLC, as zlib) of the message before FINGERPRINT, XOR
/// 0x5354554e. The length field must already count FINGERPRINT. Bitwise: a check is a few
/// dozen bytes, a handful of times per call.
fn fingerprint(before_fp: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in before_fp {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc ^ FINGERPRINT_XOR
}

/// Binding requests as a full ICE agent sends them, for the gateway's own tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A Binding request with USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE when
    /// `nominate`, MESSAGE-INTEGRITY under `password` and FINGERPRINT.
    pub fn binding_request(
        username: &[u8],
        password: &[u8],
        priority: u32,
        nominate: bool,
        transaction_id: [u8; 12],
    ) -> Vec<u8> {
        let mut m = Vec::with_capacity(128);
        m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&transaction_id);
        let attr = |m: &mut Vec<u8>, kind: u16, value: &[u8]| {
            m.extend_from_slice(&kind.to_be_bytes());
            m.extend_from_slice(&(value.len() as u16).to_be_bytes());
            m.extend_from_slice(value);
            m.resize(m.len().next_multiple_of(4), 0);
        };
        attr(&mut m, ATTR_USERNAME, username);
        attr(&mut m, ATTR_PRIORITY, &priority.to_be_bytes());
        attr(&mut m, ATTR_ICE_CONTROLLING, &[9; 8]);
        if nominate {
            attr(&mut m, ATTR_USE_CANDIDATE, &[]);
        }
        let mi_at = m.len();
        let mac = integrity(password, &m, mi_at + 4 + MI_LEN);
        attr(&mut m, ATTR_MESSAGE_INTEGRITY, &mac);
        let fp_at = m.len();
        set_length(&mut m, fp_at + 8);
        let crc = fingerprint(&m);
        attr(&mut m, ATTR_FINGERPRINT, &crc.to_be_bytes());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769 §2.1: sample request (ICE attributes, short-term credentials).
    const RFC5769_REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];
    const RFC5769_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

    #[test]
    fn the_rfc5769_sample_request_is_read_and_verified() {
        assert!(is_stun(&RFC5769_REQUEST));
        let req = parse_binding_request(&RFC5769_REQUEST).unwrap();
        assert_eq!(req.username, b"evtj:h6vY");
        assert_eq!(req.priority, Some(0x6e0001ff));
        assert!(req.controlled && !req.controlling && !req.use_candidate);
        assert_eq!(req.verify(RFC5769_PASSWORD), Ok(()));
        assert_eq!(req.verify(b"wrong"), Err(StunError::BadIntegrity));
    }

    #[test]
    fn a_changed_byte_fails_the_fingerprint_or_the_integrity() {
        let mut forged = RFC5769_REQUEST;
        forged[47] ^= 1; // inside PRIORITY
        let req = parse_binding_request(&forged).unwrap();
        assert_eq!(req.verify(RFC5769_PASSWORD), Err(StunError::BadFingerprint));
        // Without the fingerprint (length fixed up), MESSAGE-INTEGRITY catches it.
        let mut short = forged[..100].to_vec();
        short[3] = 0x50;
        let req = parse_binding_request(&short).unwrap();
        assert_eq!(req.verify(RFC5769_PASSWORD), Err(StunError::BadIntegrity));
    }

    #[test]
    fn our_response_carries_the_mapped_address_integrity_and_fingerprint() {
        let tid = [7u8; 12];
        for mapped in [
            "192.0.2.1:32853",
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
        ] {
            let mapped: SocketAddr = mapped.parse().unwrap();
            let mut out = [0u8; MAX_RESPONSE_LEN];
            let n = write_binding_success(&tid, mapped, b"pass", &mut out);
            let msg = &out[..n];
            assert_eq!(&msg[..2], &[0x01, 0x01]);
            assert_eq!(usize::from(u16::from_be_bytes([msg[2], msg[3]])), n - 20);
            // The fingerprint over everything before it.
            let fp = u32::from_be_bytes(msg[n - 4..].try_into().unwrap());
            assert_eq!(fingerprint(&msg[..n - 8]), fp);
            // The integrity over everything before it, length as if it ended the message.
            let mi_at = n - 8 - 24;
            let want = integrity(b"pass", &msg[..mi_at], mi_at + 24);
            assert_eq!(&msg[mi_at + 4..mi_at + 24], &want);
            // The mapped address, un-XORed.
            assert_eq!(&msg[20..22], &ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
            let port = u16::from_be_bytes([msg[26], msg[27]]) ^ 0x2112;
            assert_eq!(port, 32853);
            if let IpAddr::V4(ip) = mapped.ip() {
                let cookie = MAGIC_COOKIE.to_be_bytes();
                let x: [u8; 4] = std::array::from_fn(|i| msg[28 + i] ^ cookie[i]);
                assert_eq!(x, ip.octets());
            }
        }
    }

    #[test]
    fn the_rfc5769_sample_response_checks_out_with_our_crc_and_hmac() {
        // RFC 5769 §2.2 (IPv4 response): everything before its FINGERPRINT, and its value.
        let before: [u8; 72] = [
            0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
            0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
            0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
            0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
            0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
            0xe7, 0xd7,
        ];
        assert_eq!(fingerprint(&before), 0xc07d4c96);
        let mac = integrity(RFC5769_PASSWORD, &before[..48], 72);
        assert_eq!(&mac[..], &before[52..]);
    }

    #[test]
    fn rtp_and_garbage_are_not_stun_and_bad_framing_is_refused() {
        let mut rtp = [0u8; 172];
        rtp[0] = 0x80;
        assert!(!is_stun(&rtp));
        assert!(!is_stun(&RFC5769_REQUEST[..19]));
        let mut long = RFC5769_REQUEST.to_vec();
        long.push(0);
        assert_eq!(parse_binding_request(&long), Err(StunError::Malformed));
        let mut response = RFC5769_REQUEST;
        response[1] = 0x01;
        response[0] = 0x01;
        assert_eq!(
            parse_binding_request(&response),
            Err(StunError::NotBindingRequest)
        );
        // An attribute running past the end.
        let mut over = RFC5769_REQUEST;
        over[23] = 0xf0;
        assert_eq!(parse_binding_request(&over), Err(StunError::Malformed));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_after_a_stun_header_never_panic(
            tail in proptest::collection::vec(0u8..=255, 0..200)
        ) {
            let mut msg = RFC5769_REQUEST[..20].to_vec();
            msg[2..4].copy_from_slice(&(tail.len() as u16).to_be_bytes());
            msg.extend_from_slice(&tail);
            if let Ok(req) = parse_binding_request(&msg) {
                let _ = req.verify(b"x");
            }
        }
    }
}
