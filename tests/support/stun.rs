//! A full ICE agent's side of a connectivity check, written from RFC 5389/8445 independently
//! of the gateway's `media::stun`: the tests check the gateway's answers with it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

const COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// CRC-32 (IEEE 802.3, reflected), as zlib computes it.
fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB88320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn push_attr(m: &mut Vec<u8>, kind: u16, value: &[u8]) {
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&(value.len() as u16).to_be_bytes());
    m.extend_from_slice(value);
    while m.len() % 4 != 0 {
        m.push(0);
    }
}

fn set_len(m: &mut [u8], body: usize) {
    m[2..4].copy_from_slice(&(body as u16).to_be_bytes());
}

/// A Binding request from the controlling agent: USERNAME `<gateway ufrag>:<our ufrag>`,
/// PRIORITY, ICE-CONTROLLING, USE-CANDIDATE when `nominate`, MESSAGE-INTEGRITY keyed with
/// the gateway's `ice-pwd`, FINGERPRINT.
pub fn binding_request(
    username: &str,
    password: &str,
    priority: u32,
    nominate: bool,
    tid: [u8; 12],
) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0, 0];
    m.extend_from_slice(&COOKIE);
    m.extend_from_slice(&tid);
    push_attr(&mut m, 0x0006, username.as_bytes());
    push_attr(&mut m, 0x0024, &priority.to_be_bytes());
    push_attr(&mut m, 0x802A, &0x0102_0304_0506_0708u64.to_be_bytes());
    // Microsoft's own attribute ([MS-ICE2] MS-IMPLEMENTATION-VERSION 2): must be skipped.
    push_attr(&mut m, 0x8070, &2u32.to_be_bytes());
    if nominate {
        push_attr(&mut m, 0x0025, &[]);
    }
    let body = m.len() - 20 + 24;
    set_len(&mut m, body);
    let mac = hmac_sha1(password.as_bytes(), &m);
    push_attr(&mut m, 0x0008, &mac);
    let body = m.len() - 20 + 8;
    set_len(&mut m, body);
    let crc = crc32(&m) ^ 0x5354_554E;
    push_attr(&mut m, 0x8028, &crc.to_be_bytes());
    m
}

/// Checks a Binding success response to the request `tid`: MESSAGE-INTEGRITY under
/// `password` and FINGERPRINT verified, FINGERPRINT last. Returns its XOR-MAPPED-ADDRESS.
pub fn check_success(resp: &[u8], tid: [u8; 12], password: &str) -> Result<SocketAddr, String> {
    if resp.len() < 20 || resp[..2] != [0x01, 0x01] || resp[4..8] != COOKIE {
        return Err(format!("not a Binding success response: {resp:02x?}"));
    }
    if resp[8..20] != tid {
        return Err("transaction id differs".into());
    }
    let body = usize::from(u16::from_be_bytes([resp[2], resp[3]]));
    if body + 20 != resp.len() {
        return Err(format!("length field {body} for {} bytes", resp.len()));
    }
    let (mut mapped, mut integrity, mut fingerprint) = (None, None, None);
    let mut at = 20;
    while at + 4 <= resp.len() {
        let kind = u16::from_be_bytes([resp[at], resp[at + 1]]);
        let len = usize::from(u16::from_be_bytes([resp[at + 2], resp[at + 3]]));
        let value = resp
            .get(at + 4..at + 4 + len)
            .ok_or("attribute past the end")?;
        match kind {
            0x0020 => mapped = Some(value.to_vec()),
            0x0008 => integrity = Some((at, value.to_vec())),
            0x8028 => fingerprint = Some((at, value.to_vec())),
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    let (fp_at, fp) = fingerprint.ok_or("no FINGERPRINT")?;
    if fp_at + 8 != resp.len() {
        return Err("FINGERPRINT is not last".into());
    }
    let want = (crc32(&resp[..fp_at]) ^ 0x5354_554E).to_be_bytes();
    if fp != want {
        return Err(format!("FINGERPRINT {fp:02x?}, computed {want:02x?}"));
    }
    let (mi_at, mi) = integrity.ok_or("no MESSAGE-INTEGRITY")?;
    let mut signed = resp[..mi_at].to_vec();
    set_len(&mut signed, mi_at + 24 - 20);
    if mi != hmac_sha1(password.as_bytes(), &signed) {
        return Err("MESSAGE-INTEGRITY does not verify under the answer's ice-pwd".into());
    }
    let x = mapped.ok_or("no XOR-MAPPED-ADDRESS")?;
    let port = u16::from_be_bytes([x[2], x[3]]) ^ 0x2112;
    let mut mask = COOKIE.to_vec();
    mask.extend_from_slice(&tid);
    let ip = match x[1] {
        1 => IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(
                (0..4)
                    .map(|i| x[4 + i] ^ mask[i])
                    .collect::<Vec<_>>()
                    .as_slice(),
            )
            .map_err(|_| "short IPv4")?,
        )),
        2 => IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(
                (0..16)
                    .map(|i| x[4 + i] ^ mask[i])
                    .collect::<Vec<_>>()
                    .as_slice(),
            )
            .map_err(|_| "short IPv6")?,
        )),
        f => return Err(format!("address family {f}")),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Whether a datagram is STUN (RFC 7983: first byte 0-3, magic cookie).
pub fn is_stun(d: &[u8]) -> bool {
    d.len() >= 20 && d[0] < 4 && d[4..8] == COOKIE
}
