//! The gateway's side of ICE: an ICE-lite agent (RFC 8445 §2.5) with one host candidate, the
//! call's RTP socket.
//!
//! A lite agent gathers nothing and checks nothing: the peer (a Lync client, or the A/V Edge
//! relaying a remote user's media) is the controlling full agent, sends Binding requests to
//! our candidate from each of its candidates, and nominates one pair with USE-CANDIDATE
//! ("regular" nomination, as Microsoft's media stack does). We answer every request that
//! carries our credentials (RFC 8445 §7.3, with MESSAGE-INTEGRITY under our `ice-pwd` and a
//! FINGERPRINT) and send media to:
//!
//! 1. the nominated pair's remote address, once there is one (the highest-priority one if the
//!    peer nominates more than one, RFC 8445 §8.1.1);
//! 2. until then, the highest-priority address whose check succeeded (what Microsoft's Direct
//!    Routing guide asks of ICE-lite peers before nomination);
//! 3. before any check, the SDP's `c=`/`m=` address (the peer's default candidate).
//!
//! A request that does not carry our ufrag or fails its integrity or fingerprint is dropped
//! without an answer (an error response would tell a prober which part was wrong) and counted.
//! Sans-IO and allocation-free per packet: answers wait in a queue allocated once.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use rand::Rng;

use super::stun::{self, StunError};

/// `ice-char` (RFC 8839 §5.4): what ufrags and passwords are made of.
const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// 48 bits of ufrag, 144 bits of password (RFC 8445 §5.3 asks for at least 24 and 128).
const UFRAG_LEN: usize = 8;
const PWD_LEN: usize = 24;
/// Answers waiting for the next transmit poll; the peer retransmits what does not fit.
const REPLY_ROOM: usize = 8;

/// One side's ICE credentials (`a=ice-ufrag`, `a=ice-pwd`).
#[derive(Clone, PartialEq, Eq)]
pub struct IceCredentials {
    pub ufrag: String,
    pub pwd: String,
}

impl IceCredentials {
    /// A peer's credentials if well formed (RFC 8839 §5.4: ufrag 4-256, password 22-256
    /// `ice-char`s).
    pub fn checked(ufrag: &str, pwd: &str) -> Option<IceCredentials> {
        let ice_chars = |s: &str, min: usize| {
            (min..=256).contains(&s.len()) && s.bytes().all(|b| ICE_CHARS.contains(&b))
        };
        (ice_chars(ufrag, 4) && ice_chars(pwd, 22)).then(|| IceCredentials {
            ufrag: ufrag.to_owned(),
            pwd: pwd.to_owned(),
        })
    }

    /// Fresh random credentials for one call.
    pub fn random(rng: &mut impl Rng) -> IceCredentials {
        let mut pick = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(ICE_CHARS[rng.gen_range(0..ICE_CHARS.len())]))
                .collect()
        };
        let ufrag = pick(UFRAG_LEN);
        let pwd = pick(PWD_LEN);
        IceCredentials { ufrag, pwd }
    }
}

impl fmt::Debug for IceCredentials {
    /// The password authenticates checks: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceCredentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

/// A Binding response waiting to be sent.
#[derive(Clone, Copy)]
struct Reply {
    to: SocketAddr,
    len: usize,
    bytes: [u8; stun::MAX_RESPONSE_LEN],
}

/// What a Binding request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Answered; media goes where it did.
    Answered,
    /// Answered, and media now goes to this address (a nomination, or a better checked path).
    MediaMoved(SocketAddr),
}

/// Why a datagram that looked like STUN was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckRefused {
    #[error(transparent)]
    Stun(#[from] StunError),
    #[error("Binding request for another ufrag")]
    WrongUsername,
}

/// One call's ICE-lite agent.
pub struct IceLite {
    local: IceCredentials,
    /// `USERNAME` a check for us carries starts with this: `<our ufrag>:`.
    username_prefix: Vec<u8>,
    /// Best (highest PRIORITY) address whose check we answered.
    checked: Option<(SocketAddr, u32)>,
    nominated: Option<(SocketAddr, u32)>,
    replies: VecDeque<Reply>,
    answered: u64,
    refused: u64,
}

impl fmt::Debug for IceLite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceLite")
            .field("local", &self.local)
            .field("checked", &self.checked)
            .field("nominated", &self.nominated)
            .field("answered", &self.answered)
            .field("refused", &self.refused)
            .finish()
    }
}

impl IceLite {
    /// An agent answering checks made with `local` (our credentials from our SDP).
    pub fn new(local: IceCredentials) -> IceLite {
        let mut username_prefix = local.ufrag.clone().into_bytes();
        username_prefix.push(b':');
        IceLite {
            local,
            username_prefix,
            checked: None,
            nominated: None,
            replies: VecDeque::with_capacity(REPLY_ROOM),
            answered: 0,
            refused: 0,
        }
    }

    /// A STUN datagram (see [`stun::is_stun`]) from `from` on the call's socket.
    pub fn handle(&mut self, from: SocketAddr, bytes: &[u8]) -> Result<Check, CheckRefused> {
        let result = self.check(from, bytes);
        match result {
            Ok(_) => self.answered += 1,
            Err(_) => self.refused += 1,
        }
        result
    }

    fn check(&mut self, from: SocketAddr, bytes: &[u8]) -> Result<Check, CheckRefused> {
        let req = stun::parse_binding_request(bytes)?;
        // RFC 8445 §7.3: the USERNAME's first part must be our ufrag. The peer's part is not
        // checked: MESSAGE-INTEGRITY under our password is what authenticates it.
        if !req.username.starts_with(&self.username_prefix) {
            return Err(CheckRefused::WrongUsername);
        }
        req.verify(self.local.pwd.as_bytes())?;
        if self.replies.len() < REPLY_ROOM {
            let mut reply = Reply {
                to: from,
                len: 0,
                bytes: [0; stun::MAX_RESPONSE_LEN],
            };
            reply.len = stun::write_binding_success(
                &req.transaction_id,
                from,
                self.local.pwd.as_bytes(),
                &mut reply.bytes,
            );
            self.replies.push_back(reply);
        }
        let before = self.destination();
        let priority = req.priority.unwrap_or(0);
        let better = |best: Option<(SocketAddr, u32)>| best.is_none_or(|(_, p)| priority > p);
        if better(self.checked) {
            self.checked = Some((from, priority));
        }
        // A lite agent is always controlled: only the controlling side nominates.
        if req.use_candidate && !req.controlled && better(self.nominated) {
            self.nominated = Some((from, priority));
        }
        Ok(match self.destination() {
            Some(now) if Some(now) != before => Check::MediaMoved(now),
            _ => Check::Answered,
        })
    }

    /// Where media goes by ICE, once a check succeeded: the nominated pair, else the best
    /// checked one.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.nominated.or(self.checked).map(|(addr, _)| addr)
    }

    /// Whether the peer has nominated a pair.
    pub fn nominated(&self) -> Option<SocketAddr> {
        self.nominated.map(|(addr, _)| addr)
    }

    /// The next answer to send, written into `buf` (at least [`stun::MAX_RESPONSE_LEN`]):
    /// its destination and length.
    pub fn poll_reply(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let r = self.replies.pop_front()?;
        let out = buf.get_mut(..r.len)?;
        out.copy_from_slice(&r.bytes[..r.len]);
        Some((r.to, r.len))
    }

    /// Checks answered.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// STUN datagrams dropped (not for us, forged, malformed).
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::stun::tests_support::binding_request;

    fn agent() -> IceLite {
        IceLite::new(IceCredentials {
            ufrag: "gwUF".into(),
            pwd: "gateway-password-0123456".into(),
        })
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn checks_are_answered_and_the_nominated_pair_carries_the_media() {
        let mut ice = agent();
        let pwd = b"gateway-password-0123456";
        let relay = addr("192.0.2.10:50000");
        let host = addr("10.1.1.5:6000");
        // A relayed path is checked first (lower priority): media may go there already.
        let req = binding_request(b"gwUF:peer", pwd, 100, false, [1; 12]);
        assert_eq!(ice.handle(relay, &req), Ok(Check::MediaMoved(relay)));
        // A better path checks: media follows the best checked one.
        let req = binding_request(b"gwUF:peer", pwd, 2000, false, [2; 12]);
        assert_eq!(ice.handle(host, &req), Ok(Check::MediaMoved(host)));
        // The peer nominates the relayed one after all: nomination wins over priority.
        let req = binding_request(b"gwUF:peer", pwd, 100, true, [3; 12]);
        assert_eq!(ice.handle(relay, &req), Ok(Check::MediaMoved(relay)));
        assert_eq!(ice.nominated(), Some(relay));
        // Every check got its answer, to where it came from, with its transaction id.
        let mut buf = [0u8; stun::MAX_RESPONSE_LEN];
        let mut answers = Vec::new();
        while let Some((to, len)) = ice.poll_reply(&mut buf) {
            assert_eq!(&buf[..2], &[0x01, 0x01]);
            answers.push((to, buf[8..20].to_vec(), len));
        }
        assert_eq!(
            answers.iter().map(|a| (a.0, a.1[0])).collect::<Vec<_>>(),
            vec![(relay, 1), (host, 2), (relay, 3)]
        );
        assert_eq!((ice.answered(), ice.refused()), (3, 0));
    }

    #[test]
    fn checks_with_another_ufrag_or_a_wrong_password_are_dropped_and_counted() {
        let mut ice = agent();
        let from = addr("10.1.1.5:6000");
        let other = binding_request(b"XXXX:peer", b"gateway-password-0123456", 1, true, [1; 12]);
        assert_eq!(ice.handle(from, &other), Err(CheckRefused::WrongUsername));
        let forged = binding_request(b"gwUF:peer", b"guessed-password", 1, true, [2; 12]);
        assert_eq!(
            ice.handle(from, &forged),
            Err(CheckRefused::Stun(StunError::BadIntegrity))
        );
        assert_eq!(ice.destination(), None);
        assert!(ice.poll_reply(&mut [0u8; 128]).is_none());
        assert_eq!((ice.answered(), ice.refused()), (0, 2));
    }

    #[test]
    fn random_credentials_are_ice_chars_of_the_required_length() {
        let mut rng = rand::rngs::mock::StepRng::new(7, 0x9E37_79B9_7F4A_7C15);
        let c = IceCredentials::random(&mut rng);
        assert_eq!((c.ufrag.len(), c.pwd.len()), (UFRAG_LEN, PWD_LEN));
        assert_eq!(IceCredentials::checked(&c.ufrag, &c.pwd).as_ref(), Some(&c));
        assert!(!format!("{c:?}").contains(&c.pwd));
    }
}
