//! The OPC UA server of a live stream (`[opcua] listen`): the plant's machines and sensors
//! as an address space that historians, SCADA systems and gateways browse and subscribe
//! to, whatever sinks the stream delivers to (`null` included).
//!
//! - `space`: the nodes, from the plant's master data;
//! - `events`: state changes, faults and work orders as OPC UA events; ground truth apart;
//! - `feed`: the values, taken from the rows the sinks get and released with them;
//! - `history`: the values of the last `[opcua] history_minutes`, for `HistoryRead`;
//! - `manager`: the namespace's services: reads, monitored items, history, methods;
//! - `server`: the endpoints, identities, certificates and limits (async-opcua).
//!
//! Built with the default feature `opcua`; without it, a configured server is refused at
//! start with one line.

#[cfg(feature = "opcua")]
mod events;
#[cfg(feature = "opcua")]
mod feed;
#[cfg(feature = "opcua")]
mod history;
#[cfg(feature = "opcua")]
mod manager;
#[cfg(feature = "opcua")]
mod server;
#[cfg(feature = "opcua")]
mod space;

#[cfg(feature = "opcua")]
pub use feed::Feed;
#[cfg(feature = "opcua")]
pub use server::start;

#[cfg(not(feature = "opcua"))]
pub use absent::{start, Feed};

/// A build without the server: the same names, and a refusal when one is configured.
#[cfg(not(feature = "opcua"))]
mod absent {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::{bail, Result};

    use crate::config::OpcUaConfig;
    use crate::rows::{Emit, Row};
    use crate::sim::Engine;

    /// No server: never made.
    pub enum Feed {}

    /// No tap: never made.
    pub struct FeedTap<'f, E: Emit> {
        _inner: &'f mut E,
        never: Feed,
    }

    impl<E: Emit> Emit for FeedTap<'_, E> {
        fn emit<R: Row>(&mut self, _row: &R, _at: i64) {
            match self.never {}
        }
    }

    impl Feed {
        pub fn holds(&self, _m: usize) -> bool {
            match *self {}
        }
        pub fn tap<'f, E: Emit>(&'f self, _m: usize, _inner: &'f mut E) -> FeedTap<'f, E> {
            match *self {}
        }
        pub fn release(&self, _through: i64) {
            match *self {}
        }
        pub fn stop(&self) {
            match *self {}
        }
    }

    pub fn start(
        cfg: &OpcUaConfig,
        _state_dir: &Path,
        _engine: &Engine,
        _machines: &[usize],
        _commands: std::sync::mpsc::Sender<crate::stream::inject::Command>,
        _rt: &tokio::runtime::Handle,
    ) -> Result<Option<Arc<Feed>>> {
        if cfg.listen.is_some() {
            bail!("[opcua] listen is set, but this genims was built without OPC UA (the cargo feature `opcua`)");
        }
        Ok(None)
    }
}
