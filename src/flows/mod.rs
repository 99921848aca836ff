//! Call flows as sans-IO state machines driven by call events and time.

pub mod attendant;
pub mod deposit;
pub mod directory;
pub mod play;
pub mod subscriber;
