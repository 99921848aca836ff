//! SDES (RFC 4568): the `a=crypto` attribute and the keys agreed for one call.

use base64::Engine as _;

use crate::media::srtp::{SrtpContext, SrtpSuite};

/// Shortest SDES key lifetime (packets) we accept: we never rekey, and a 30 min call
/// (MaxCallDuration) at 50 packets/s is 90 000 packets, under 2^17. 2^20 leaves room.
const MIN_KEY_LIFETIME: u64 = 1 << 20;

/// Base64 as RFC 4568 uses it; padding is optional in the wild (30 bytes need none anyway).
pub(super) const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// An `a=crypto` line that could not be parsed or names a suite we do not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a=crypto {value:?}: {why}")]
pub struct CryptoError {
    /// The attribute value after `a=crypto:`.
    pub value: String,
    /// What is wrong.
    pub why: String,
}

/// `a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len] [session params]`
/// (RFC 4568 §9.1) for a suite we implement, with one inline key.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// Tag the answer must echo.
    pub tag: u32,
    /// Crypto suite.
    pub suite: SrtpSuite,
    /// 16-byte master key followed by the 14-byte master salt.
    pub key_salt: [u8; 30],
    /// Key lifetime in packets (`2^31` is stored as 2147483648).
    pub lifetime: Option<u64>,
    /// `MKI value : MKI length in bytes`.
    pub mki: Option<(u64, u8)>,
    /// Session parameters as written (`KDR=0`, `WSH=64`, `UNENCRYPTED_SRTP`...).
    pub session_params: Vec<String>,
}

impl std::fmt::Debug for CryptoAttribute {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoAttribute")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("lifetime", &self.lifetime)
            .field("mki", &self.mki)
            .field("session_params", &self.session_params)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for CryptoAttribute {
    type Err = CryptoError;

    /// Parses the value after `a=crypto:`.
    fn from_str(value: &str) -> Result<CryptoAttribute, CryptoError> {
        let bad = |why: String| CryptoError {
            value: value.to_string(),
            why,
        };
        let mut it = value.split_ascii_whitespace();
        let (Some(tag), Some(suite), Some(key_params)) = (it.next(), it.next(), it.next()) else {
            return Err(bad("needs <tag> <suite> <key-params>".to_string()));
        };
        let tag = tag
            .parse()
            .ok()
            .filter(|_| tag.len() <= 9 && tag.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(format!("tag {tag:?} is not 1-9 digits")))?;
        let suite = SrtpSuite::from_name(suite)
            .ok_or_else(|| bad(format!("unsupported crypto suite {suite}")))?;
        if key_params.contains(';') {
            return Err(bad("several keys in one line (needs MKI)".to_string()));
        }
        let info = match key_params.split_once(':') {
            Some((method, info)) if method.eq_ignore_ascii_case("inline") => info,
            _ => return Err(bad("key method is not inline:".to_string())),
        };
        let mut fields = info.split('|');
        let b64 = fields.next().unwrap_or_default();
        let mut raw = [0u8; 48];
        let key_salt = match B64.decode_slice(b64, &mut raw) {
            Ok(30) => {
                let mut k = [0u8; 30];
                k.copy_from_slice(&raw[..30]);
                k
            }
            Ok(n) => return Err(bad(format!("key||salt is {n} bytes, expected 30"))),
            Err(_) => return Err(bad("key||salt is not base64".to_string())),
        };
        let (mut lifetime, mut mki) = (None, None);
        for f in fields {
            if let Some((v, len)) = f.split_once(':') {
                let v = v.parse().map_err(|_| bad(format!("MKI value {v:?}")))?;
                let len = len
                    .parse()
                    .ok()
                    .filter(|l| (1..=128).contains(l))
                    .ok_or_else(|| bad(format!("MKI length {len:?} is not 1-128")))?;
                mki = Some((v, len));
            } else if let Some(exp) = f.strip_prefix("2^") {
                let exp: u32 = exp
                    .parse()
                    .ok()
                    .filter(|&e| e < 64)
                    .ok_or_else(|| bad(format!("lifetime {f:?}")))?;
                lifetime = Some(1u64 << exp);
            } else {
                lifetime = Some(f.parse().map_err(|_| bad(format!("lifetime {f:?}")))?);
            }
        }
        Ok(CryptoAttribute {
            tag,
            suite,
            key_salt,
            lifetime,
            mki,
            session_params: it.map(str::to_string).collect(),
        })
    }
}

impl std::fmt::Display for CryptoAttribute {
    /// The value after `a=crypto:`, which parses back to `self`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = B64.encode(self.key_salt);
        write!(f, "{} {} inline:{key}", self.tag, self.suite)?;
        match self.lifetime {
            Some(l) if l.is_power_of_two() => write!(f, "|2^{}", l.trailing_zeros())?,
            Some(l) => write!(f, "|{l}")?,
            None => {}
        }
        if let Some((v, len)) = self.mki {
            write!(f, "|{v}:{len}")?;
        }
        for p in &self.session_params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl CryptoAttribute {
    /// Why we cannot use this line, if we cannot.
    pub(super) fn unusable(&self) -> Option<String> {
        // An MKI field in every packet is a format our SRTP transform does not parse.
        if let Some((v, len)) = self.mki {
            return Some(format!("tag {} needs MKI {v}:{len}", self.tag));
        }
        if let Some(l) = self.lifetime.filter(|&l| l < MIN_KEY_LIFETIME) {
            return Some(format!("tag {} key lifetime {l} needs rekeying", self.tag));
        }
        // These change the transform; others (WSH, FEC_ORDER, vendor ones) are safe to ignore.
        for p in &self.session_params {
            let upper = p.to_ascii_uppercase();
            let changes = match upper.split_once('=') {
                Some(("KDR", v)) => v != "0",
                Some(("FEC_KEY", _)) => true,
                _ => upper == "UNENCRYPTED_SRTP" || upper == "UNAUTHENTICATED_SRTP",
            };
            if changes {
                return Some(format!(
                    "tag {} session parameter {p} not supported",
                    self.tag
                ));
            }
        }
        None
    }
}

/// SDES keys agreed for one call: build an inbound and an outbound [`SrtpContext`] from them.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The offer's crypto tag that the answer echoes.
    pub tag: u32,
    /// Suite of the chosen crypto line (the same both ways).
    pub suite: SrtpSuite,
    /// The offerer's key||salt: decrypts what it sends us.
    pub remote_key: [u8; 30],
    /// Our key||salt, as put in the answer: encrypts what we send.
    pub local_key: [u8; 30],
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Drop for SrtpKeys {
    // Master keys must not outlive the call in freed memory.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.remote_key.zeroize();
        self.local_key.zeroize();
    }
}

impl SrtpKeys {
    /// Context that unprotects packets from the peer.
    pub fn inbound(&self) -> SrtpContext {
        SrtpContext::from_key_salt(self.suite, &self.remote_key)
    }

    /// Context that protects packets we send.
    pub fn outbound(&self) -> SrtpContext {
        SrtpContext::from_key_salt(self.suite, &self.local_key)
    }
}
