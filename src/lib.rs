//! umgw: a unified-messaging voice-mail gateway.
//!
//! A library first: the binary (`src/main.rs`) only parses the command line. Protocol logic
//! (`sip`, `sdp`, `media`, `flows`) is sans-IO; `net` and `gateway` are the tokio shell.

pub mod config;
pub mod mwi;
pub mod sip;
pub mod store;
