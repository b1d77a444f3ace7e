//! The `[stream]` settings: the daemon's default sinks and fault rate, its buffers, spool and
//! batching, and its control plane. They sit with the configuration rather than in `stream`
//! because the stream command reads [`super::Config`], which composes them: the command
//! layer above, its settings one layer below.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserializer;

use crate::secrets::Secret;
use crate::setting;
use crate::sink::kind::SinkKind;

/// Settings of the stream daemon.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Sinks when `--sink` is not given: postgres, kafka, mqtt, stdout, null.
    #[serde(deserialize_with = "sinks")]
    pub sinks: Vec<SinkKind>,
    /// Fault episodes per machine-month when `--fault-rate` is not given.
    #[serde(deserialize_with = "setting::fraction")]
    pub fault_rate: f64,
    /// Progress files (Kafka) and spool directories.
    #[serde(deserialize_with = "setting::parsed")]
    pub state_dir: PathBuf,
    /// Memory each sink's queue may hold before spooling to disk (MiB).
    #[serde(deserialize_with = "setting::int::<_, _, 1, 65_536>")]
    pub buffer_mb: usize,
    /// Disk each sink's spool may hold during an outage (MiB); when full, generation waits.
    #[serde(deserialize_with = "setting::int::<_, _, 0, 16_777_216>")]
    pub spool_max_mb: usize,
    /// Rows per flush at most.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 10_000_000>")]
    pub batch_rows: u64,
    /// How long a sink waits for more ticks before flushing a small batch (ms).
    #[serde(deserialize_with = "setting::int::<_, _, 0, 60_000>")]
    pub linger_ms: u64,
    /// Seconds between statistics lines.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 86_400>")]
    pub stats_interval_s: u64,
    /// Seconds a stopping daemon keeps delivering (systemd's TimeoutStopSec must be longer).
    #[serde(deserialize_with = "setting::int::<_, _, 1, 600>")]
    pub shutdown_grace_s: u64,
    /// Address of the HTTP control plane (`/metrics`, `/healthz`, `/readyz`); `None`: off.
    #[serde(deserialize_with = "listen")]
    pub listen: Option<SocketAddr>,
    /// Bearer token for changes through the control plane; required off loopback.
    #[serde(deserialize_with = "control_token")]
    pub control_token: Option<Secret>,
    /// Minutes of every sensor's readings the control plane's console keeps (`GET /`); 0
    /// turns the console off. Memory: 24 bytes per sensor and minute.
    #[serde(deserialize_with = "setting::int::<_, _, 0, 1_440>")]
    pub console_minutes: usize,
    /// Memory the console's readings may take (MiB): on a plant too large for
    /// `console_minutes` in it, the console keeps fewer minutes (at least one).
    #[serde(deserialize_with = "setting::int::<_, _, 1, 1_048_576>")]
    pub console_mb: usize,
    /// A shard of more sensors than this generates a tick (10 s) at a time, in parts of
    /// machines with about this many sensors, each released as it is ready: the encoded
    /// rows held at once are a part's (29 MB of JSON at the default) instead of a tick's
    /// (a gigabyte at ×1000).
    #[serde(deserialize_with = "setting::int::<_, _, 100, 1_000_000_000>")]
    pub tick_part_sensors: usize,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            sinks: vec![SinkKind::Stdout],
            fault_rate: 0.05,
            state_dir: PathBuf::from("./genims-state"),
            buffer_mb: 16,
            spool_max_mb: 1024,
            batch_rows: 50_000,
            linger_ms: 250,
            stats_interval_s: 60,
            shutdown_grace_s: 8,
            listen: Some(DEFAULT_LISTEN.parse().expect("a valid address")),
            control_token: None,
            console_minutes: 60,
            console_mb: 256,
            tick_part_sensors: 50_000,
        }
    }
}

/// The control plane's default address: loopback, a fixed port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9872";

/// Parses a control-plane address: `ip:port`, or empty for off.
pub fn parse_listen(v: &str) -> Result<Option<SocketAddr>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        format!("`{v}` is not an address and port such as {DEFAULT_LISTEN} or [::1]:9872 (\"\" turns the endpoint off)")
    })
}

/// Checks a control token: long enough to resist guessing.
pub fn parse_token(v: &str) -> Result<Secret, String> {
    let v = v.trim();
    if v.chars().count() < 16 {
        return Err("a control token needs at least 16 characters".to_owned());
    }
    Ok(Secret(v.to_owned()))
}

fn sinks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SinkKind>, D::Error> {
    let names: Vec<String> = setting::list(d)?;
    names.iter().map(|s| SinkKind::live_named(s)).collect::<Result<_, _>>().map_err(serde::de::Error::custom)
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    parse_listen(&setting::parsed::<_, String>(d)?).map_err(serde::de::Error::custom)
}

fn control_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    parse_token(&setting::parsed::<_, String>(d)?).map(Some).map_err(serde::de::Error::custom)
}
