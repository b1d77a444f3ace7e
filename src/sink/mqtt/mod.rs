//! MQTT output (`backfill --out mqtt`, `stream --sink mqtt`) through rumqttc to any MQTT
//! 3.1.1 broker, in one of two payload modes (`[mqtt] mode`):
//!
//! - [`uns`]: a Unified Namespace topic tree with the rows as JSON objects;
//! - [`sparkplug`]: Sparkplug B 3.0, an edge node per line and a device per machine.
//!
//! The sink takes the engine's typed cells ([`Format::Cells`]) and builds topics and
//! payloads itself. At QoS 1 (the default) a commit waits until the broker acknowledged
//! every message published before it; the stream's progress is then written to a file
//! beside its spool (as for Kafka: delivery is at least once, and a repeated message has
//! the same topic and content). A failed connection is replaced on the stream's reset —
//! Sparkplug's births go out first on every new connection — and the uncommitted batch is
//! published again.

mod conn;
pub mod settings;
pub mod sparkplug;
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod sparkplug_b;
pub mod uns;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};

use super::{Bulk, Live, Progress, Sink};
use crate::encode::cells::Cell;
use crate::encode::Format;
use crate::plant::Plant;
use crate::rows::Table;
use crate::secrets::Secret;
use crate::tls::{self, Roots, Verify};
use settings::{MqttConfig, MqttMode};

/// The settings behind MQTT's TLS, for messages.
const NAMES: tls::Names = tls::Names { roots: "[mqtt] ca_file", cert: "[mqtt] cert_file", key: "[mqtt] key_file" };

/// How to open a connection to the broker; secrets never shown.
#[derive(Clone)]
pub struct Access {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    username: Option<String>,
    password: Option<Secret>,
    /// The client id's stem.
    client_id: String,
    pub qos: QoS,
    inflight: u16,
    /// `mqtt://host:port` or `mqtts://host:port`, for messages.
    pub shown: Arc<str>,
    /// Sparkplug's primary host application, if the edge nodes follow one.
    pub primary_host: Option<String>,
}

impl Access {
    /// Checks the settings and reads the files they name (CA, client certificate and key,
    /// password file).
    pub fn new(cfg: &MqttConfig) -> Result<Access> {
        let url = cfg.url.as_deref().ok_or_else(|| {
            anyhow!("no MQTT broker configured: set [mqtt] url in config.toml or GENIMS_MQTT_URL (mqtt://host:1883)")
        })?;
        let (secure, host, port) = settings::parse_mqtt_url(url).map_err(|e| anyhow!("[mqtt] url: {e}"))?;
        let tls = if secure {
            let roots = match cfg.ca_file.as_deref() {
                None | Some("system") => Roots::System,
                Some(path) => Roots::File(PathBuf::from(path)),
            };
            let verify = if cfg.verify_hostname { Verify::ChainAndName } else { Verify::Chain };
            let client = tls::Client {
                verify,
                roots: Some(roots),
                cert: cfg.cert_file.as_deref(),
                key: cfg.key_file.as_deref(),
                names: NAMES,
            };
            Some(Arc::new(tls::client_config(&client)?))
        } else {
            if cfg.cert_file.is_some() || cfg.key_file.is_some() || cfg.ca_file.is_some() {
                bail!("[mqtt] ca_file, cert_file and key_file need TLS: write the url as mqtts://{host}:{port}");
            }
            None
        };
        let password = match (&cfg.password, &cfg.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(file)) => Some(crate::secrets::read_secret_file(file, "[mqtt] password_file")?),
            (None, None) => None,
        };
        if password.is_some() && cfg.username.is_none() {
            bail!("[mqtt] password is set but username is not (MQTT sends a password only with a user name)");
        }
        let qos = if cfg.qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
        let scheme = if secure { "mqtts" } else { "mqtt" };
        Ok(Access {
            primary_host: cfg.primary_host_id.clone(),
            shown: format!("{scheme}://{host}:{port}").into(),
            host,
            port,
            tls,
            username: cfg.username.clone(),
            password,
            client_id: cfg.client_id.clone(),
            qos,
            inflight: cfg.inflight,
        })
    }

    /// Options of one connection, its client id `<client_id>-<suffix>`.
    pub fn options(&self, suffix: &str) -> MqttOptions {
        let mut o = MqttOptions::new(format!("{}-{suffix}", self.client_id), self.host.clone(), self.port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_clean_session(true);
        o.set_inflight(self.inflight);
        o.set_max_packet_size(16 << 20, 16 << 20);
        if let Some(t) = &self.tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::clone(t))));
        }
        if let Some(user) = &self.username {
            o.set_credentials(user.clone(), self.password.as_ref().map_or(String::new(), |p| p.0.clone()));
        }
        o
    }
}

/// Where each machine and line sits in the plant: what topics and edge nodes are built of.
pub struct Places {
    /// Machine id → (factory id, line id).
    pub machines: HashMap<String, (Arc<str>, Arc<str>)>,
    /// Line id → factory id.
    pub lines: HashMap<String, Arc<str>>,
}

impl Places {
    pub fn of(plant: &Plant) -> Places {
        let factories: Vec<Arc<str>> = plant.factories.iter().map(|f| Arc::from(f.id.as_str())).collect();
        let lines: Vec<Arc<str>> = plant.lines.iter().map(|l| Arc::from(l.id.as_str())).collect();
        Places {
            machines: plant
                .machines
                .iter()
                .map(|m| (m.id.clone(), (Arc::clone(&factories[m.factory]), Arc::clone(&lines[m.line]))))
                .collect(),
            lines: plant.lines.iter().map(|l| (l.id.clone(), Arc::clone(&factories[l.factory]))).collect(),
        }
    }
}

/// The column holding a row's time (what `Row::time` returns): the instant of a reading,
/// the start of a fault, the scheduled start of maintenance, the end of a production run,
/// the onset of a labelled episode, the start of a data-quality defect.
pub fn time_column(table: Table) -> &'static str {
    match table {
        Table::SensorData | Table::ScadaMachineData | Table::SensorHealth => "timestamp",
        Table::MachineFaults => "fault_start_time",
        Table::MaintenanceEvents => "scheduled_start",
        Table::ProductionRuns => "run_end_time",
        Table::FaultLabels => "onset_time",
        Table::QualityLabels => "start_time",
    }
}

/// Where a table's ids and time sit among its cells.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub columns: usize,
    pub machine: Option<usize>,
    pub line: Option<usize>,
    pub sensor: Option<usize>,
    pub time: usize,
}

impl Layout {
    pub fn of(table: Table) -> Layout {
        let cols = table.columns();
        let at = |name: &str| cols.iter().position(|c| *c == name);
        Layout {
            columns: cols.len(),
            machine: at("machine_id"),
            line: at("line_id"),
            sensor: at("sensor_id"),
            time: at(time_column(table)).expect("every table has its time column"),
        }
    }
}

/// The columns of `table` that carry a row's values, not its ids or time (the metrics of a
/// Sparkplug device, the variables of an OPC UA machine): (column position, name, kind).
pub fn value_columns(table: Table) -> Vec<(usize, String, crate::sink::parquet::Kind)> {
    let l = Layout::of(table);
    let skip = |i: usize, name: &str| {
        Some(i) == l.machine
            || Some(i) == l.line
            || Some(i) == l.sensor
            || i == l.time
            || Some(name) == table.serial()
            || matches!(name, "factory_id" | "created_at" | "updated_at")
    };
    crate::sink::parquet::columns(table)
        .into_iter()
        .enumerate()
        .filter(|(i, (name, _))| !skip(*i, name))
        .map(|(i, (name, kind))| (i, name, kind))
        .collect()
}

/// The text of a cell (an id), or "" for a cell that is not text.
pub fn text<'a>(cell: &Cell<'a>) -> &'a str {
    match cell {
        Cell::Text(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

/// The row's time in milliseconds.
pub fn millis(cell: &Cell) -> i64 {
    match cell {
        Cell::Ts(t) => t * 1000,
        _ => 0,
    }
}

enum Mode {
    Uns(uns::Uns),
    Sparkplug(sparkplug::Sparkplug),
}

pub struct MqttSink {
    rt: tokio::runtime::Handle,
    mode: Mode,
    /// A stream's progress file.
    state: Option<super::progress::ProgressFile>,
}

/// What the sink publishes for: the plant, the machines of this run, and a name that tells
/// this run's connections (and Sparkplug edge nodes) apart from other runs'.
pub struct Scope<'a> {
    pub plant: &'a Plant,
    pub machines: &'a [usize],
    /// `backfill`, `all`, `iot`, `scada-2of4`, ...
    pub run: &'a str,
    /// Whether the rows are history published after the fact (Sparkplug's `is_historical`).
    pub historical: bool,
}

impl MqttSink {
    /// A backfill's sink.
    pub fn new(rt: tokio::runtime::Handle, cfg: &MqttConfig, scope: &Scope) -> Result<MqttSink> {
        Self::build(rt, cfg, scope, None)
    }

    /// A stream's sink, keeping the stream's progress under `state_dir`.
    pub fn live(
        rt: tokio::runtime::Handle,
        cfg: &MqttConfig,
        scope: &Scope,
        state_dir: &std::path::Path,
    ) -> Result<MqttSink> {
        let state = super::progress::ProgressFile::new(state_dir.join(format!("{}.mqtt-progress.json", scope.run)));
        Self::build(rt, cfg, scope, Some(state))
    }

    fn build(
        rt: tokio::runtime::Handle,
        cfg: &MqttConfig,
        scope: &Scope,
        state: Option<super::progress::ProgressFile>,
    ) -> Result<MqttSink> {
        let access = Access::new(cfg)?;
        let mode = match cfg.mode {
            MqttMode::Uns => Mode::Uns(rt.block_on(uns::Uns::open(access, &cfg.topic_prefix, scope))?),
            MqttMode::Sparkplug => Mode::Sparkplug(rt.block_on(sparkplug::Sparkplug::open(access, scope))?),
        };
        Ok(MqttSink { rt, mode, state })
    }

    async fn push(&mut self, table: Table, bytes: &[u8]) -> Result<()> {
        match &mut self.mode {
            Mode::Uns(u) => u.push(table, bytes).await,
            Mode::Sparkplug(s) => s.push(table, bytes).await,
        }
    }

    async fn settle(&mut self) -> Result<()> {
        match &mut self.mode {
            Mode::Uns(u) => u.settle().await,
            Mode::Sparkplug(s) => s.settle().await,
        }
    }

    /// Waits for every acknowledgement, then closes the mode's connections (a backfill's
    /// end, a stream's).
    async fn close_mode(&mut self) -> Result<()> {
        self.settle().await?;
        match &mut self.mode {
            Mode::Uns(u) => u.close().await,
            Mode::Sparkplug(s) => s.close().await,
        }
    }
}

impl Sink for MqttSink {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn format(&self) -> Format {
        Format::Cells
    }
}

impl Bulk for MqttSink {
    fn write(&mut self, _day: i64, table: Table, bytes: bytes::Bytes, _rows: u64) -> Result<()> {
        let rt = self.rt.clone();
        rt.block_on(self.push(table, &bytes))
    }

    fn finish(&mut self) -> Result<()> {
        let rt = self.rt.clone();
        rt.block_on(self.close_mode())
    }
}

#[async_trait::async_trait]
impl Live for MqttSink {
    async fn write(&mut self, _day: i64, table: Table, bytes: bytes::Bytes, _rows: u64) -> Result<()> {
        self.push(table, &bytes).await
    }

    /// A connection the broker refused (credentials, client id, protocol: [`super::Fatal`],
    /// from `conn`) is final; a broker that is away or stalls may come back.
    fn is_permanent(&self, e: &anyhow::Error) -> bool {
        !super::retryable(e)
    }

    async fn commit(&mut self, progress: &Progress) -> Result<()> {
        self.settle().await?;
        if let Some(file) = &mut self.state {
            file.save(progress)?;
        }
        // Between batches: edge nodes whose primary host went offline leave now.
        if let Mode::Sparkplug(s) = &mut self.mode {
            s.leave_if_host_gone().await?;
        }
        Ok(())
    }

    async fn resume(&mut self, stream: &str) -> Result<Option<Progress>> {
        match &self.state {
            Some(file) => file.load(stream, "MQTT"),
            None => Ok(None),
        }
    }

    fn backlog(&mut self, behind: bool) {
        if let Mode::Sparkplug(s) = &mut self.mode {
            s.backlog(behind);
        }
    }

    async fn reset(&mut self) -> Result<()> {
        match &mut self.mode {
            Mode::Uns(u) => u.reconnect().await,
            Mode::Sparkplug(s) => s.reconnect().await,
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.close_mode().await
    }
}

/// The machines and run a connection publishes for.
fn scope_of<'a>(run: &'a super::registry::Run, machines: &'a [usize], historical: bool) -> Scope<'a> {
    Scope { plant: &run.engine.plant, machines, run: run.name, historical }
}

/// Opens the broker for a backfill: every data metric is historical (the registry's row).
pub fn open_bulk(run: &super::registry::Run) -> Result<Box<dyn super::Bulk>> {
    let machines = run.shard.machines(run.engine.plant.machines.len());
    Ok(Box::new(MqttSink::new(run.rt.clone(), run.mqtt, &scope_of(run, &machines, true))?))
}

/// Opens the broker for a stream, its progress file in the state directory (the registry's
/// row).
pub fn open_live(run: &super::registry::Run) -> Result<Box<dyn Live>> {
    super::create_state_dir(run.dir)?;
    let machines = run.shard.machines(run.engine.plant.machines.len());
    Ok(Box::new(MqttSink::live(run.rt.clone(), run.mqtt, &scope_of(run, &machines, false), run.dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_time_column_as_a_timestamp() {
        for t in Table::ALL {
            let l = Layout::of(t);
            let declared = crate::db::schema::declared_columns(t.name());
            assert_eq!(declared[l.time].0, time_column(t), "{}: time column position", t.name());
            assert!(declared[l.time].1.starts_with("TIMESTAMP"), "{}.{} is not a timestamp", t.name(), time_column(t));
            assert!(l.machine.is_some() || l.line.is_some(), "{}: rows must name a machine or a line", t.name());
        }
    }

    #[test]
    fn broker_addresses_are_checked() {
        let cfg = |url: &str| MqttConfig { url: Some(url.to_owned()), ..MqttConfig::default() };
        let a = Access::new(&cfg("mqtt://127.0.0.1")).unwrap();
        assert_eq!(&*a.shown, "mqtt://127.0.0.1:1883");
        assert_eq!(a.qos, QoS::AtLeastOnce, "QoS 1 by default");
        let err = Access::new(&MqttConfig::default()).err().unwrap().to_string();
        assert!(err.contains("no MQTT broker configured"), "{err}");
        let err = Access::new(&cfg("http://x:1")).err().unwrap().to_string();
        assert!(err.contains("not a broker address"), "{err}");
        let err = Access::new(&cfg("mqtt://user:secret@host:1883")).err().unwrap().to_string();
        assert!(err.contains("credentials go in [mqtt] username/password"), "{err}");
        let with_ca = MqttConfig { ca_file: Some("/ca.pem".into()), ..cfg("mqtt://h:1883") };
        let err = Access::new(&with_ca).err().unwrap().to_string();
        assert!(err.contains("need TLS: write the url as mqtts://h:1883"), "{err}");
        let no_user = MqttConfig { password: Some(Secret("pw".into())), ..cfg("mqtt://h") };
        let err = Access::new(&no_user).err().unwrap().to_string();
        assert!(err.contains("username is not") && !err.contains("pw"), "{err}");
    }
}
