//! umgw: a unified-messaging voice-mail gateway.
//!
//! A library first: the binary (`src/main.rs`) only parses the command line. Protocol logic
//! (`sip`, `sdp`, `media`, `flows`, `dialplan`) is sans-IO; `net` and `gateway` are the tokio
//! shell that moves bytes, timers and files.

pub mod acl;
pub mod admin;
pub mod audio;
pub mod config;
pub mod dialplan;
pub mod domain;
pub mod flows;
pub mod gateway;
pub mod media;
pub mod mwi;
pub mod net;
pub mod sdp;
pub mod sip;
pub mod store;
pub mod telemetry;
