//! The media side of an interactive call (subscriber access, auto attendant): prompts paced
//! out on the 20 ms clock, DTMF and audio in, SRTP both ways. The flows decide; this moves
//! packets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::debug;

use super::call::CallSetup;
use crate::media::session::{MediaEvent, Session};

/// Media of an interactive call: its session and the call's RTP socket registered with the
/// reactor (a deposit that follows reads the socket on a media worker instead, with the same
/// session).
pub(super) struct Interactive {
    pub socket: tokio::net::UdpSocket,
    pub media: Session,
    /// One packet at the call's ptime, with room for the SRTP authentication tag.
    tx_buf: Box<[u8]>,
    rx_buf: [u8; 1500],
}

/// How long an interactive call waits when neither a prompt nor its flow needs a tick.
const IDLE_WAKE: Duration = Duration::from_secs(1);

impl Interactive {
    pub fn new(s: &CallSetup, media: Session) -> std::io::Result<Self> {
        Ok(Self {
            socket: tokio::net::UdpSocket::from_std(s.socket.try_clone()?)?,
            tx_buf: vec![0; media.packet_room()].into_boxed_slice(),
            media,
            rx_buf: [0; 1500],
        })
    }

    /// The session, for the flow that takes the call over (the socket's reactor
    /// registration goes).
    pub fn into_session(self) -> Session {
        self.media
    }

    /// The next instant a packet is due, or `flow` needs a tick if sooner.
    pub fn next_wakeup(&self, flow: Option<Instant>) -> Instant {
        let media = self
            .media
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        flow.map_or(media, |t| t.min(media))
    }

    /// Sends every packet due at `now`.
    pub async fn send_due(&mut self, now: Instant) {
        while let Some(t) = self.media.poll_transmit(now, &mut self.tx_buf) {
            if let Err(e) = self
                .socket
                .send_to(&self.tx_buf[..t.len], t.destination)
                .await
            {
                debug!(error = %e, "RTP send failed");
            }
        }
    }

    /// Waits for the next datagram and hands it to the session.
    pub async fn receive(&mut self) {
        if let Ok((n, from)) = self.socket.recv_from(&mut self.rx_buf).await {
            self.media
                .handle_datagram(Instant::now(), from, &mut self.rx_buf[..n]);
        }
    }

    /// The next thing the media reported.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.media.poll_event()
    }

    /// The peer moved its media (re-INVITE).
    pub fn remote_moved(&mut self, s: &mut CallSetup, addr: SocketAddr) {
        s.remote_media = addr;
        self.media.set_remote(Instant::now(), addr);
    }
}

/// A transfer this call asked for, until it is known to have worked or failed: a REFER, and
/// when the caller's side does not do REFER, a second leg bridged by us (B2BUA).
pub(super) struct PendingTransfer {
    pub target: String,
    refer_to: String,
    referred_by: String,
    deadline: Instant,
    bridging: bool,
}

/// What became of a pending transfer.
#[derive(Debug)]
pub(super) enum TransferResult {
    /// The call server moved the caller (REFER): our part is over.
    Done,
    Failed,
    /// The target answered our second leg: relay media until one side hangs up.
    Bridged(BridgeLeg),
}

/// The answered second leg of a bridged transfer.
#[derive(Debug)]
pub(super) struct BridgeLeg {
    pub leg: crate::sip::endpoint::CallId,
    pub socket: tokio::net::UdpSocket,
    pub remote: SocketAddr,
}

/// REFER refusals that mean "this peer does not do REFER" (rather than "not this target"):
/// worth a bridged second leg.
const NO_REFER: [u16; 4] = [405, 420, 489, 501];

impl PendingTransfer {
    /// How long a transfer the peer accepted may take before it counts as failed (the
    /// target's phone rings out in about 30 s on Lync and most PBXs).
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

    /// Asks the core to REFER the caller to `refer_to`, and starts watching for the outcome.
    pub async fn start(s: &CallSetup, target: String, refer_to: String, referred_by: &str) -> Self {
        tracing::info!(%target, %refer_to, "transferring the caller (REFER)");
        let cmd = super::CoreCmd::Transfer {
            call: s.call,
            refer_to: refer_to.clone(),
            referred_by: referred_by.to_owned(),
        };
        let _ = s.commands.send(cmd).await;
        Self {
            target,
            refer_to,
            referred_by: referred_by.to_owned(),
            deadline: Instant::now() + Self::TIMEOUT,
            bridging: false,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The outcome a REFER update tells, if it tells one. A peer that does not do REFER gets
    /// a bridged second leg instead (`bridge` then reports).
    pub async fn update(
        &mut self,
        s: &CallSetup,
        update: super::call::TransferUpdate,
    ) -> Option<TransferResult> {
        use super::call::TransferUpdate::{Accepted, Progress, Refused};
        let target = &self.target;
        match update {
            Accepted | Progress(100..=199) => None,
            Progress(200..=299) => {
                tracing::info!(%target, "transfer completed");
                Some(TransferResult::Done)
            }
            Refused(Some(code)) if NO_REFER.contains(&code) && !self.bridging => {
                tracing::info!(%target, code, "the peer does not accept REFER: bridging a second leg");
                self.bridging = true;
                self.deadline = Instant::now() + Self::TIMEOUT;
                let cmd = super::CoreCmd::Bridge {
                    call: s.call,
                    target: self.refer_to.clone(),
                    from: self.referred_by.clone(),
                    encoding: s.codec.encoding_name(),
                };
                let _ = s.commands.send(cmd).await;
                None
            }
            Progress(code) | Refused(Some(code)) => {
                tracing::info!(%target, code, "transfer failed");
                Some(TransferResult::Failed)
            }
            Refused(None) => {
                tracing::info!(%target, "transfer failed: REFER not answered");
                Some(TransferResult::Failed)
            }
        }
    }

    /// The outcome news of the second leg tells.
    pub fn bridge(&mut self, update: super::call::BridgeUpdate) -> Option<TransferResult> {
        use super::call::BridgeUpdate::{Answered, Ended, Failed};
        let target = &self.target;
        match update {
            Answered {
                leg,
                socket,
                remote,
            } => match tokio::net::UdpSocket::from_std(socket) {
                Ok(socket) => {
                    tracing::info!(%target, "transfer completed on a bridged leg");
                    Some(TransferResult::Bridged(BridgeLeg {
                        leg,
                        socket,
                        remote,
                    }))
                }
                Err(e) => {
                    tracing::error!(%target, error = %e, "cannot relay the bridged leg's media");
                    Some(TransferResult::Failed)
                }
            },
            Failed(status) => {
                tracing::info!(%target, ?status, "transfer failed: second leg not answered");
                Some(TransferResult::Failed)
            }
            Ended => Some(TransferResult::Failed),
        }
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

/// Relays media between the caller and a bridged second leg until either hangs up. SRTP on
/// the caller's side is removed and applied by the caller's session; the second leg is plain
/// RTP on the operator's network, with a session of its own (its source latched alike).
pub(super) async fn relay(s: &mut CallSetup, mut media: Interactive, leg: BridgeLeg) {
    let started = Instant::now();
    let (mut to_leg, mut to_caller) = (0u64, 0u64);
    let mut leg_media = s.leg_session(started, leg.remote);
    let mut from_caller = [0u8; 1500 + crate::media::session::SRTP_TAG_ROOM];
    let mut from_leg = [0u8; 1500 + crate::media::session::SRTP_TAG_ROOM];
    loop {
        tokio::select! {
            r = media.socket.recv_from(&mut from_caller[..1500]) => {
                let Ok((n, from)) = r else { continue };
                let now = Instant::now();
                let Some(len) = media.media.handle_relay(now, from, &mut from_caller[..n]) else {
                    continue;
                };
                let Some(t) = leg_media.relay_transmit(&mut from_caller, len) else { continue };
                if leg.socket.send_to(&from_caller[..t.len], t.destination).await.is_ok() {
                    to_leg += 1;
                }
            }
            r = leg.socket.recv_from(&mut from_leg[..1500]) => {
                let Ok((n, from)) = r else { continue };
                let now = Instant::now();
                let Some(len) = leg_media.handle_relay(now, from, &mut from_leg[..n]) else {
                    continue;
                };
                let Some(t) = media.media.relay_transmit(&mut from_leg, len) else { continue };
                if media.socket.send_to(&from_leg[..t.len], t.destination).await.is_ok() {
                    to_caller += 1;
                }
            }
            sig = s.signals.recv() => match sig {
                Some(super::call::CallSignal::RemoteMedia(addr)) => media.remote_moved(s, addr),
                Some(super::call::CallSignal::Bridge(super::call::BridgeUpdate::Ended)) => {
                    let _ = s.commands.send(super::CoreCmd::HangUp(s.call)).await;
                    break;
                }
                Some(super::call::CallSignal::Hangup | super::call::CallSignal::Cancelled) | None => {
                    break; // the core hangs up the second leg when this call finishes
                }
                Some(_) => {}
            },
        }
    }
    tracing::info!(
        ?leg.leg,
        to_leg,
        to_caller,
        foreign = media.media.foreign() + leg_media.foreign(),
        seconds = started.elapsed().as_secs_f32(),
        "bridged transfer ended"
    );
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
fn uri_host(uri: &str) -> String {
    uri.parse::<crate::sip::Uri>()
        .ok()
        .and_then(|u| u.host_port())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::refer_target;

    #[test]
    fn refer_targets() {
        let text = "Name = \"c\"\nUriType = \"TelExtn\"\nNumberOfDigitsInExtension = 4\nCountryOrRegionCode = \"1\"\n[[Mailbox]]\nId = \"alice\"\nExtension = \"1001\"\nSipAddress = \"sip:alice@contoso.com\"\n[[Mailbox]]\nId = \"bob\"\nExtension = \"1002\"\nE164 = \"+14255551002\"\n[[Mailbox]]\nId = \"carol\"\nExtension = \"1003\"\n";
        let plan = crate::dialplan::load_str(std::path::Path::new("p.toml"), text).unwrap();
        let pilot = "sip:5000@pbx.example.net:5060;user=phone";
        assert_eq!(refer_target(&plan, "1001", pilot), "sip:alice@contoso.com");
        assert_eq!(
            refer_target(&plan, "bob", pilot),
            "sip:+14255551002@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "1003", pilot),
            "sip:1003@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "+1 425 555 0199", pilot),
            "sip:+14255550199@pbx.example.net:5060;user=phone"
        );
        assert_eq!(
            refer_target(&plan, "sip:desk@elsewhere.net", pilot),
            "sip:desk@elsewhere.net"
        );
    }
}
