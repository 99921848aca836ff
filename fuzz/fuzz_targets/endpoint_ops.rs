//! A byte-driven sequence of operations on one Endpoint (in the style of quinn's `streams`
//! target): requests built from templates so transactions and dialogs really match, raw
//! datagrams, gateway decisions and clock steps. Nothing may panic, everything the endpoint
//! sends must parse, and calls must all be gone once every timer has run out.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use umgw::acl;
use umgw::sip::endpoint::{CallId, Endpoint, EndpointConfig, EndpointEvent};
use umgw::sip::message::Message;
use umgw::sip::transaction::TimerConfig;
use umgw::sip::{Remote, StatusCode, Transport, Uri};

#[derive(Arbitrary, Debug)]
enum Kind {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    ReInvite,
    /// The caller's report on our REFER (RFC 3515 NOTIFY with a sipfrag).
    Notify,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A request of `kind` for dialog `call % 4`, branch `branch % 4`.
    Request {
        kind: Kind,
        call: u8,
        branch: u8,
        require: bool,
        reliable: bool,
    },
    /// A response to the last request we sent (BYE, REFER, our INVITE, CANCEL).
    Response {
        code: u16,
    },
    /// Any bytes at all.
    Raw(Vec<u8>),
    /// Advance the clock.
    Wait {
        ms: u16,
    },
    Answer {
        call: u8,
    },
    Reject {
        call: u8,
        code: u16,
    },
    Hangup {
        call: u8,
    },
    Ringing {
        call: u8,
    },
    /// Ask the caller's side to transfer call `call` (REFER).
    Refer {
        call: u8,
    },
    /// Place a second leg for call `call` (bridged transfer).
    Bridge {
        call: u8,
    },
    /// Hang up second leg `leg`.
    HangupLeg {
        leg: u8,
    },
    /// Send an MWI NOTIFY (to a sips: target when `sips`).
    Mwi {
        sips: bool,
    },
    /// Replace call `call`'s session description (what its re-INVITEs are answered with).
    SetSdp {
        call: u8,
        port: u16,
    },
}

fn uri(text: &str) -> Uri {
    text.parse().expect("a fixed, valid URI")
}

fn remote(reliable: bool) -> Remote {
    let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    Remote {
        transport: if reliable {
            Transport::Tcp { conn: 1, local }
        } else {
            Transport::Udp { local }
        },
        addr: SocketAddr::from(([127, 0, 0, 1], 5070)),
    }
}

struct State {
    ep: Endpoint,
    now: Instant,
    calls: Vec<CallId>,
    /// To header (with our tag) of the last response per dialog index.
    to: [Option<String>; 4],
    /// The last request we sent, to answer.
    last_request: Option<Message>,
    legs: Vec<CallId>,
}

impl State {
    fn drain(&mut self) {
        while let Some(t) = self.ep.poll_transmit() {
            let msg = Message::parse(&t.bytes).expect("everything we send parses");
            if msg.is_request() {
                self.last_request = Some(msg.clone());
            }
            if let (Some(to), Some(cid)) = (msg.header("To"), msg.call_id()) {
                if msg.to_tag().is_some() {
                    if let Some(i) = cid
                        .strip_prefix("fz-")
                        .and_then(|s| s.parse::<usize>().ok())
                    {
                        self.to[i % 4] = Some(to.to_owned());
                    }
                }
            }
        }
        while let Some(ev) = self.ep.poll_event() {
            if let EndpointEvent::IncomingCall { call, .. } = ev {
                self.calls.push(call);
            }
        }
    }

    fn call(&self, i: u8) -> Option<CallId> {
        (!self.calls.is_empty()).then(|| self.calls[i as usize % self.calls.len()])
    }
}

fn request(kind: &Kind, call: u8, branch: u8, require: bool, to: Option<&str>) -> String {
    let i = call % 4;
    let (method, cseq, in_dialog) = match kind {
        Kind::Invite => ("INVITE", 1, false),
        Kind::Ack => ("ACK", 1, true),
        Kind::Bye => ("BYE", 2, true),
        Kind::Cancel => ("CANCEL", 1, false),
        Kind::Options => ("OPTIONS", 3, false),
        Kind::Info => ("INFO", 4, true),
        Kind::ReInvite => ("INVITE", 5, true),
        Kind::Notify => ("NOTIFY", 6, true),
    };
    let to = match (in_dialog, to) {
        (true, Some(to)) => to.to_owned(),
        _ => "<sip:vm@127.0.0.1>".to_owned(),
    };
    let body = match method {
        "INVITE" => "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        "NOTIFY" => "SIP/2.0 200 OK\r\n",
        _ => "",
    };
    let ct = match method {
        "INVITE" => "Content-Type: application/sdp\r\n",
        "NOTIFY" => "Event: refer\r\nContent-Type: message/sipfrag\r\n",
        _ => "",
    };
    let req = if require { "Require: 100rel\r\n" } else { "" };
    format!(
        "{method} sip:vm@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{i}x{}\r\n\
         From: <sip:caller@127.0.0.1>;tag=c{i}\r\nTo: {to}\r\nCall-ID: fz-{i}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n{req}{ct}Content-Length: {}\r\n\r\n{body}",
        branch % 4,
        body.len()
    )
}

fuzz_target!(|ops: Vec<Op>| {
    let mut s = State {
        ep: Endpoint::new(EndpointConfig {
            timers: TimerConfig::default(),
            trusted: vec![acl::parse_network("127.0.0.0/8").unwrap()],
            server_name: "fuzz".into(),
            rng_seed: 1,
        }),
        now: Instant::now(),
        calls: Vec::new(),
        to: Default::default(),
        last_request: None,
        legs: Vec::new(),
    };
    for op in ops.iter().take(256) {
        match op {
            Op::Request {
                kind,
                call,
                branch,
                require,
                reliable,
            } => {
                let to = s.to[(call % 4) as usize].clone();
                let req = request(kind, *call, *branch, *require, to.as_deref());
                s.ep.handle(s.now, remote(*reliable), req.as_bytes());
            }
            Op::Response { code } => {
                if let Some(req) = s.last_request.clone() {
                    let code = 100 + code % 600;
                    let mut resp = Message::response_to(&req, code, "X", Some("y"));
                    if (200..300).contains(&code) {
                        resp.push("Contact", "<sip:leg@127.0.0.1:5070>");
                    }
                    s.ep.handle(s.now, remote(false), &resp.to_bytes());
                }
            }
            Op::Refer { call } => {
                if let Some(c) = s.call(*call) {
                    s.ep.refer(s.now, c, &uri("sip:target@127.0.0.1"), &uri("sip:vm@127.0.0.1"));
                }
            }
            Op::Bridge { call } => {
                if let Some(c) = s.call(*call) {
                    let leg = s.ep.invite_via(
                        s.now,
                        c,
                        &uri("sip:target@127.0.0.1"),
                        &uri("sip:vm@127.0.0.1"),
                        b"v=0\r\n".to_vec(),
                    );
                    s.legs.extend(leg);
                }
            }
            Op::HangupLeg { leg } => {
                if !s.legs.is_empty() {
                    let l = s.legs[*leg as usize % s.legs.len()];
                    s.ep.hangup(s.now, l);
                }
            }
            Op::Raw(bytes) => s.ep.handle(s.now, remote(false), bytes),
            Op::Mwi { sips } => {
                let target = if *sips { "sips:mwi@127.0.0.1" } else { "sip:mwi@127.0.0.1:5070" };
                let body = "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n".to_owned();
                let content = umgw::mwi::notification(body);
                s.ep.send_notify(s.now, remote(false), &uri(target), "sip:a@b", content);
            }
            Op::SetSdp { call, port } => {
                if let Some(c) = s.call(*call) {
                    let sdp = format!("v=0\r\no=umgw 1 1 IN IP4 127.0.0.1\r\nm=audio {port} RTP/AVP 0\r\n");
                    s.ep.set_local_sdp(c, sdp.into_bytes());
                }
            }
            Op::Wait { ms } => {
                s.now += Duration::from_millis(u64::from(*ms));
                s.ep.handle_timeout(s.now);
            }
            Op::Answer { call } => {
                if let Some(c) = s.call(*call) {
                    s.ep.answer(s.now, c, b"v=0\r\n".to_vec());
                }
            }
            Op::Reject { call, code } => {
                if let Some(c) = s.call(*call) {
                    s.ep.reject(s.now, c, StatusCode(300 + code % 400));
                }
            }
            Op::Hangup { call } => {
                if let Some(c) = s.call(*call) {
                    s.ep.hangup(s.now, c);
                }
            }
            Op::Ringing { call } => {
                if let Some(c) = s.call(*call) {
                    s.ep.ringing(s.now, c);
                }
            }
        }
        s.drain();
        if let Some(t) = s.ep.poll_timeout() {
            assert!(
                t + Duration::from_secs(3600) > s.now,
                "timer far in the past"
            );
        }
    }
    // Run every timer out: an unanswered call stays (the gateway must decide), everything
    // else ends, and no transaction outlives its timers.
    for c in s.calls.clone().into_iter().chain(s.legs.clone()) {
        s.ep.hangup(s.now, c);
    }
    for _ in 0..200 {
        s.drain();
        let Some(t) = s.ep.poll_timeout() else { break };
        s.now = s.now.max(t);
        s.ep.handle_timeout(s.now);
    }
    s.drain();
    assert_eq!(s.ep.transactions(), 0, "transactions outlived their timers");
});
