//! The media side of an interactive call (subscriber access, auto attendant): prompts paced
//! out on the 20 ms clock, DTMF and audio in, SRTP both ways. The flows decide; this moves
//! packets.

use std::net::SocketAddr;
use std::time::Instant;

use rand::Rng;
use tracing::debug;

use super::call::CallSetup;
use crate::media::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::media::pacer::{RtpSender, PACKET_LEN};
use crate::media::player::Player;
use crate::media::rtp::{self, RtpPacket};
use crate::media::srtp::SrtpContext;

/// What a received datagram carried.
pub(super) enum Heard<'a> {
    /// A new DTMF digit (RFC 4733, deduplicated).
    Digit(char),
    /// Audio in the negotiated codec.
    Audio(RtpPacket<'a>),
    /// Nothing usable: another source, bad SRTP, a repeat of a digit, comfort noise.
    Nothing,
}

pub(super) struct Interactive {
    pub sender: RtpSender,
    pub player: Player,
    dtmf: DtmfReceiver,
    /// (inbound, outbound) SRTP contexts.
    srtp: Option<(SrtpContext, SrtpContext)>,
    /// Room for the SRTP authentication tag after the RTP packet.
    tx_buf: [u8; PACKET_LEN + 16],
    pub rx_buf: [u8; 1500],
}

impl Interactive {
    pub fn new(s: &CallSetup, started: Instant) -> Self {
        let (ssrc, seq, ts) = {
            let mut rng = rand::thread_rng();
            (rng.gen(), rng.gen(), rng.gen())
        };
        Self {
            sender: RtpSender::new(started, s.codec, ssrc, seq, ts),
            player: Player::new(),
            dtmf: DtmfReceiver::new(),
            srtp: s.srtp.as_ref().map(|k| (k.inbound(), k.outbound())),
            tx_buf: [0; PACKET_LEN + 16],
            rx_buf: [0; 1500],
        }
    }

    /// The next instant a packet is due, or `flow` needs a tick if sooner.
    pub fn next_wakeup(&self, flow: Option<Instant>) -> Instant {
        let media = self.sender.poll_timeout();
        flow.map_or(media, |t| t.min(media))
    }

    /// Sends every packet due at `now`. True if the playback finished with them.
    pub async fn send_due(&mut self, s: &CallSetup, now: Instant) -> bool {
        let was_playing = self.player.is_playing();
        while let Some(mut n) = self
            .sender
            .poll_transmit(now, &mut self.player, &mut self.tx_buf)
        {
            if let Some((_, outbound)) = self.srtp.as_mut() {
                match outbound.protect(&mut self.tx_buf, n) {
                    Ok(len) => n = len,
                    Err(_) => continue,
                }
            }
            if let Err(e) = s.socket.send_to(&self.tx_buf[..n], s.remote_media).await {
                debug!(error = %e, "RTP send failed");
            }
        }
        was_playing && !self.player.is_playing()
    }

    /// Interprets `n` bytes received into `rx_buf` from `from`.
    pub fn heard(&mut self, s: &CallSetup, n: usize, from: SocketAddr) -> Heard<'_> {
        // Only the peer's media address may feed the call (its port may differ).
        if from.ip() != s.remote_media.ip() {
            return Heard::Nothing;
        }
        let mut n = n;
        if let Some((inbound, _)) = self.srtp.as_mut() {
            match inbound.unprotect(&mut self.rx_buf[..n]) {
                Ok(len) => n = len,
                Err(_) => return Heard::Nothing,
            }
        }
        let Ok(pkt) = rtp::parse(&self.rx_buf[..n]) else {
            return Heard::Nothing;
        };
        if Some(pkt.payload_type) == s.telephone_event {
            if let Ok(ev) = TelephoneEvent::parse(pkt.payload) {
                if let Some(digit) = self.dtmf.handle(pkt.ssrc, pkt.timestamp, &ev) {
                    debug!(%digit, "DTMF");
                    return Heard::Digit(digit);
                }
            }
            Heard::Nothing
        } else if pkt.payload_type == s.payload_type {
            Heard::Audio(pkt)
        } else {
            Heard::Nothing
        }
    }
}

/// A transfer (REFER) this call asked for, until it is known to have worked or failed.
pub(super) struct PendingTransfer {
    pub target: String,
    deadline: Instant,
}

/// What became of a pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TransferResult {
    Done,
    Failed,
}

impl PendingTransfer {
    /// How long a transfer the peer accepted may take before it counts as failed (the
    /// target's phone rings out in about 30 s on Lync and most PBXs).
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

    /// Asks the core to REFER the caller to `refer_to`, and starts watching for the outcome.
    pub async fn start(s: &CallSetup, target: String, refer_to: String, referred_by: &str) -> Self {
        tracing::info!(%target, %refer_to, "transferring the caller (REFER)");
        let cmd = super::CoreCmd::Transfer {
            call: s.call,
            refer_to,
            referred_by: referred_by.to_owned(),
        };
        let _ = s.commands.send(cmd).await;
        Self {
            target,
            deadline: Instant::now() + Self::TIMEOUT,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The outcome a core update tells, if it tells one.
    pub fn update(&self, update: super::call::TransferUpdate) -> Option<TransferResult> {
        use super::call::TransferUpdate::{Accepted, Progress, Refused};
        let result = match update {
            Accepted | Progress(100..=199) => return None,
            Progress(200..=299) => TransferResult::Done,
            Progress(code) | Refused(Some(code)) => {
                tracing::info!(target = %self.target, code, "transfer failed");
                TransferResult::Failed
            }
            Refused(None) => {
                tracing::info!(target = %self.target, "transfer failed: REFER not answered");
                TransferResult::Failed
            }
        };
        if result == TransferResult::Done {
            tracing::info!(target = %self.target, "transfer completed");
        }
        Some(result)
    }

    /// True once the transfer has taken too long.
    pub fn expired(&self, now: Instant) -> bool {
        if now >= self.deadline {
            tracing::warn!(target = %self.target, "transfer not completed in time");
            return true;
        }
        false
    }
}

/// The URI a transfer to `target` goes to: a mailbox's SIP address (Lync users), else its
/// number or the number itself at the plan's domain (or the pilot's host), `user=phone`.
pub(super) fn refer_target(
    plan: &crate::dialplan::DialPlan,
    target: &str,
    pilot_uri: &str,
) -> String {
    let host = plan
        .domain
        .clone()
        .unwrap_or_else(|| uri_host(pilot_uri).to_owned());
    if let Some(m) = plan.mailbox_for_target(target) {
        if let Some(sip) = &m.sip_address {
            return sip.clone();
        }
        let number = m.e164.as_deref().unwrap_or(&m.extension);
        return format!("sip:{number}@{host};user=phone");
    }
    let lower = target.to_ascii_lowercase();
    if ["sip:", "sips:", "tel:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return target.to_owned();
    }
    let number: String = target
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    format!("sip:{number}@{host};user=phone")
}

/// `host[:port]` of a `sip:user@host;params` URI (empty if there is none).
fn uri_host(uri: &str) -> &str {
    let after_user = uri
        .rsplit_once('@')
        .map_or_else(|| uri.split_once(':').map_or(uri, |(_, r)| r), |(_, r)| r);
    after_user
        .split([';', '>', '?'])
        .next()
        .unwrap_or(after_user)
}
