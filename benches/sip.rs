//! SIP parsing (a message, a URI) and the endpoint's handling of an INVITE, per message.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use umgw::acl;
use umgw::sip::endpoint::{Endpoint, EndpointConfig};
use umgw::sip::message::Message;
use umgw::sip::transaction::TimerConfig;
use umgw::sip::{Remote, Transport, Uri};

const HEAD: &str = "INVITE sip:voicemail@10.0.0.5:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-524287-1---bb8e9a3c5d;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Bob Caller\" <sip:+14255550199@10.0.0.1>;tag=8f1c2a\r\n\
To: <sip:voicemail@10.0.0.5>\r\n\
Call-ID: 3c26700b2a5e-4f1d@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:bob@10.0.0.1:5060>\r\n\
History-Info: <sip:alice@contoso.com?Reason=SIP%3Bcause%3D480>;index=1\r\n\
History-Info: <sip:voicemail@10.0.0.5>;index=1.1;mp=1\r\n\
Content-Type: application/sdp\r\n";

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn parse(c: &mut Criterion) {
    let invite = format!("{HEAD}Content-Length: {}\r\n\r\n{SDP}", SDP.len());
    let invite = invite.as_str();
    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite", |b| {
        b.iter(|| Message::parse(black_box(invite.as_bytes())).ok())
    });
    let lync_uri = "sip:alice@contoso.com;opaque=app:voicemail";
    g.bench_function("parse_uri", |b| {
        b.iter(|| black_box(lync_uri).parse::<Uri>().ok())
    });
    let msg = Message::parse(invite.as_bytes()).unwrap();
    g.bench_function("serialise_invite", |b| {
        b.iter(|| black_box(&msg).to_bytes())
    });
    let untrusted = Remote {
        transport: Transport::Udp {
            local: "10.0.0.5:5060".parse::<SocketAddr>().unwrap(),
        },
        addr: "192.0.2.66:5060".parse().unwrap(),
    };
    let mut ep = Endpoint::new(EndpointConfig {
        timers: TimerConfig::default(),
        trusted: vec![acl::parse_network("10.0.0.0/8").unwrap()],
        server_name: "bench".into(),
        rng_seed: 1,
    });
    g.bench_function("reject_untrusted_invite", |b| {
        b.iter(|| {
            ep.handle(Instant::now(), untrusted, black_box(invite.as_bytes()));
            ep.poll_transmit()
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
