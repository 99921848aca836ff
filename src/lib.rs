//! umgw: a unified-messaging voice-mail gateway.
//!
//! A library first: the binary (`src/main.rs`) only parses the command line. Protocol logic
//! (`sip`, `sdp`, `media`, `flows`, `dialplan`) is sans-IO; `net` and `gateway` are the tokio
//! shell that moves bytes, timers and files. `domain` (messages, greetings, counts, PIN
//! policy), `audio` (sample rate, frame, attachment format) and `acl` (peer networks) are the
//! small vocabulary the layers share, so that none of them imports another for a type.
//!
//! `unsafe` is allowed in `net` only (`net::os` wraps each OS call in a safe function,
//! `net::udp_batch` holds the batched socket calls); every other module forbids it.

#[forbid(unsafe_code)]
pub mod acl;
#[forbid(unsafe_code)]
pub mod admin;
#[forbid(unsafe_code)]
pub mod audio;
#[forbid(unsafe_code)]
pub mod config;
#[forbid(unsafe_code)]
pub mod dialplan;
#[forbid(unsafe_code)]
pub mod domain;
#[forbid(unsafe_code)]
pub mod email;
#[forbid(unsafe_code)]
pub mod flows;
#[forbid(unsafe_code)]
pub mod gateway;
#[forbid(unsafe_code)]
pub mod logging;
#[forbid(unsafe_code)]
pub mod media;
#[forbid(unsafe_code)]
pub mod mwi;
pub mod net;
#[forbid(unsafe_code)]
pub mod sdp;
#[forbid(unsafe_code)]
pub mod sip;
#[forbid(unsafe_code)]
pub mod store;
#[forbid(unsafe_code)]
pub mod supervise;
#[forbid(unsafe_code)]
pub mod telemetry;
#[forbid(unsafe_code)]
pub mod transcribe;
