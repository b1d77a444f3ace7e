//! Where data goes: files written atomically, and the master-data encoders.

pub mod atomic;
pub mod master;
