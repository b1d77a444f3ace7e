//! The Sparkplug B 3.0 mode (`[mqtt] mode = "sparkplug"`): protobuf payloads
//! (`proto/sparkplug_b.proto`, the specification's), the plant mapped as
//!
//! - group = factory id, edge node = line id, device = machine id (a run of one table or a
//!   shard is an edge node of its own, `<line>-<run>`, so runs never share a node's state);
//! - one MQTT connection per edge node, its will an `NDEATH` carrying the connection's
//!   `bdSeq`; `NBIRTH` (`bdSeq`, `Node Control/Rebirth`, the line's events) and a `DBIRTH`
//!   per machine, naming every metric with its alias and datatype, before any data;
//! - device metrics `Sensors/<sensor>/<column>` (every sensor_data column but ids and
//!   time), `State/<column>` (scada_machine_data likewise) and `Events/<table>` (the row
//!   as JSON); `DDATA` carries one machine's readings of one instant by alias, each metric
//!   stamped with the reading's time (`is_historical` in a backfill);
//! - `seq` 0–255 per edge node over every message but `NDEATH`, `NBIRTH` at 0;
//! - an `NCMD` with `Node Control/Rebirth` = true re-sends the births; a new connection
//!   (after a broker restart) increments `bdSeq` and sends them too;
//! - with `[mqtt] primary_host_id`, each edge node follows its primary host application's
//!   `spBv1.0/STATE/<id>` (Sparkplug 3.0): no births until the host is online; when it goes
//!   offline (a STATE not older than its last online one), `NDEATH` and a disconnect at the
//!   end of the batch, a new connection (the next `bdSeq`) that waits for the host, and
//!   births when it is back. The stream holds the readings meanwhile (its queue and spool)
//!   and publishes them after the rebirth with `is_historical`, until it has caught up.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use prost::Message as _;
use rumqttc::{LastWill, QoS};
use tokio::sync::{mpsc, Mutex, Notify};

use super::conn::Conn;
use super::sparkplug_b::payload::{metric, Metric};
use super::sparkplug_b::Payload;
use super::{Access, Layout, Scope};
use crate::encode::cells::{replay, Cell, Reader};
use crate::encode::{encode_fields, Format};
use crate::rows::Table;
use crate::sink::parquet::Kind;

/// The topic namespace of Sparkplug B.
pub const NAMESPACE: &str = "spBv1.0";
/// The node control metric a host application sets to ask for births.
pub const REBIRTH: &str = "Node Control/Rebirth";

/// Sparkplug B datatypes genims uses.
pub mod datatype {
    pub const INT32: u32 = 3;
    pub const INT64: u32 = 4;
    pub const DOUBLE: u32 = 10;
    pub const BOOLEAN: u32 = 11;
    pub const STRING: u32 = 12;
    pub const DATETIME: u32 = 13;
}

/// The Sparkplug datatype of a column kind (dates and times of day as strings).
fn datatype_of(kind: Kind) -> u32 {
    match kind {
        Kind::Text | Kind::Date | Kind::Time => datatype::STRING,
        Kind::Int32 => datatype::INT32,
        Kind::Int64 => datatype::INT64,
        Kind::Double => datatype::DOUBLE,
        Kind::Bool => datatype::BOOLEAN,
        Kind::Timestamp => datatype::DATETIME,
    }
}

/// A metric as births declare it.
#[derive(Debug, Clone)]
struct MetricDef {
    name: String,
    alias: u64,
    datatype: u32,
}

/// The columns of `table` that become metrics (not ids, not the row's time) and their
/// datatypes: (column position, column name, datatype).
fn metric_columns(table: Table) -> Vec<(usize, String, u32)> {
    super::value_columns(table).into_iter().map(|(i, name, kind)| (i, name, datatype_of(kind))).collect()
}

/// One machine: its metrics and where each row's cells go.
struct Device {
    id: String,
    metrics: Vec<MetricDef>,
    /// Sensor id → alias of its first metric (the others follow in column order).
    sensors: HashMap<String, u64>,
    /// Alias of the first State metric.
    state: u64,
    /// Alias of `Events/<table>` by table index.
    events: [Option<u64>; Table::COUNT],
}

/// One edge node's fixed definition: what its births declare.
struct NodeDef {
    group: String,
    id: String,
    /// Metrics of NBIRTH after bdSeq.
    metrics: Vec<MetricDef>,
    /// Alias of `Events/production_runs`.
    runs: u64,
    devices: Vec<Device>,
}

impl NodeDef {
    fn topic(&self, kind: &str, device: Option<&str>) -> String {
        match device {
            Some(d) => format!("{NAMESPACE}/{}/{kind}/{}/{d}", self.group, self.id),
            None => format!("{NAMESPACE}/{}/{kind}/{}", self.group, self.id),
        }
    }
}

/// How long a batch waits for the primary host before the delivery retries.
const HOST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One edge node's live state: its connection, `seq` and `bdSeq`, and what it knows of
/// the primary host.
struct Link {
    conn: Option<Conn>,
    seq: u8,
    bd_seq: u8,
    /// The births of this connection are out.
    birthed: bool,
    /// The primary host, when the node follows one.
    host: Option<Host>,
}

/// What an edge node knows of its primary host application (its STATE messages).
#[derive(Debug, Clone, Default)]
struct Host {
    topic: String,
    online: bool,
    /// The timestamp of the last online STATE: an offline one older than it is stale.
    online_since: u64,
    /// The host went away while the node was born: NDEATH and disconnect at the batch's end.
    leave: bool,
}

/// A STATE message's payload (Sparkplug 3.0: `{"online": bool, "timestamp": ms}`).
pub fn parse_state(payload: &[u8]) -> Option<(bool, u64)> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    Some((v.get("online")?.as_bool()?, v.get("timestamp")?.as_u64()?))
}

impl Link {
    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn.as_mut().ok_or_else(|| anyhow!("the MQTT connection is closed"))
    }

    /// Publishes `payload` with the node's next `seq`.
    async fn send(&mut self, topic: String, mut payload: Payload) -> Result<()> {
        payload.seq = Some(u64::from(self.seq));
        self.seq = self.seq.wrapping_add(1);
        self.conn()?.publish(topic, false, payload.encode_to_vec()).await
    }

    /// Whether births may go out: no primary host, or it is online.
    fn may_birth(&self) -> bool {
        self.host.as_ref().is_none_or(|h| h.online)
    }

    /// NBIRTH (seq 0), then a DBIRTH per device.
    async fn births(&mut self, def: &NodeDef) -> Result<()> {
        self.birthed = true;
        let now = wall_millis();
        self.seq = 0;
        let mut metrics = vec![bd_seq_metric(self.bd_seq, now)];
        metrics.extend(def.metrics.iter().map(|m| birth_metric(m, now)));
        if let Some(rebirth) = metrics.iter_mut().find(|m| m.name.as_deref() == Some(REBIRTH)) {
            rebirth.is_null = None;
            rebirth.value = Some(metric::Value::BooleanValue(false));
        }
        self.send(def.topic("NBIRTH", None), Payload { timestamp: Some(now), metrics, ..Payload::default() }).await?;
        for d in &def.devices {
            let metrics = d.metrics.iter().map(|m| birth_metric(m, now)).collect();
            self.send(
                def.topic("DBIRTH", Some(&d.id)),
                Payload { timestamp: Some(now), metrics, ..Payload::default() },
            )
            .await?;
        }
        Ok(())
    }
}

fn wall_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn bd_seq_metric(bd_seq: u8, now: u64) -> Metric {
    Metric {
        name: Some("bdSeq".to_owned()),
        timestamp: Some(now),
        datatype: Some(datatype::INT64),
        value: Some(metric::Value::LongValue(u64::from(bd_seq))),
        ..Metric::default()
    }
}

fn birth_metric(m: &MetricDef, now: u64) -> Metric {
    Metric {
        name: Some(m.name.clone()),
        alias: Some(m.alias),
        timestamp: Some(now),
        datatype: Some(m.datatype),
        is_null: Some(true),
        ..Metric::default()
    }
}

/// The death certificate of a connection with `bd_seq`.
fn death(bd_seq: u8) -> Vec<u8> {
    Payload {
        timestamp: Some(wall_millis()),
        metrics: vec![bd_seq_metric(bd_seq, wall_millis())],
        ..Payload::default()
    }
    .encode_to_vec()
}

/// An edge node: its definition and its live state, shared with the task that answers
/// rebirth requests and follows the primary host.
struct Node {
    def: Arc<NodeDef>,
    link: Arc<Mutex<Link>>,
    /// Notified when births go out.
    born: Arc<Notify>,
}

/// A DDATA (or NDATA) being filled: node, device (None: the node), instant (ms), metrics.
struct Pending {
    node: usize,
    device: Option<usize>,
    at: i64,
    metrics: Vec<Metric>,
}

pub struct Sparkplug {
    access: Access,
    run: String,
    historical: bool,
    nodes: Vec<Node>,
    /// Machine id → (node, device).
    machines: HashMap<String, (usize, usize)>,
    /// Line id → node.
    lines: HashMap<String, usize>,
    layouts: Vec<Layout>,
    /// Metric columns of sensor_data and scada_machine_data.
    sensor_columns: Vec<(usize, String, u32)>,
    state_columns: Vec<(usize, String, u32)>,
    pending: Option<Pending>,
    json: Vec<u8>,
    /// Readings were held back for the primary host: they go out `is_historical` while
    /// the stream works through its backlog.
    held: bool,
    /// The batch being written is part of a backlog ([`crate::sink::Live::backlog`]).
    behind: bool,
    /// The last write failed only because the primary host was offline: the stream's
    /// reset then keeps the connections (and the births the host's return brought).
    holding: bool,
}

/// The edge nodes of a run, and which node (and device) each line and machine is.
struct Nodes {
    defs: Vec<NodeDef>,
    /// Machine id → (node, device).
    machines: HashMap<String, (usize, usize)>,
    /// Line id → node.
    lines: HashMap<String, usize>,
}

/// The edge nodes of `scope`: the lines of its machines, each with those machines.
fn define(scope: &Scope) -> Nodes {
    let plant = scope.plant;
    let suffix = match scope.run {
        "all" | "backfill" => String::new(),
        run => format!("-{run}"),
    };
    let sensor_columns = metric_columns(Table::SensorData);
    let state_columns = metric_columns(Table::ScadaMachineData);
    let device_events =
        [Table::MachineFaults, Table::MaintenanceEvents, Table::SensorHealth, Table::FaultLabels, Table::QualityLabels];
    let mut nodes: Vec<NodeDef> = Vec::new();
    let mut by_line: HashMap<usize, usize> = HashMap::new();
    let mut machines = HashMap::new();
    for &m in scope.machines {
        let machine = &plant.machines[m];
        let n = *by_line.entry(machine.line).or_insert_with(|| {
            let line = &plant.lines[machine.line];
            let metrics = vec![
                MetricDef { name: REBIRTH.to_owned(), alias: 0, datatype: datatype::BOOLEAN },
                MetricDef { name: "Events/production_runs".to_owned(), alias: 1, datatype: datatype::STRING },
            ];
            nodes.push(NodeDef {
                group: plant.factories[line.factory].id.clone(),
                id: format!("{}{suffix}", line.id),
                metrics,
                runs: 1,
                devices: Vec::new(),
            });
            nodes.len() - 1
        });
        let node = &mut nodes[n];
        let mut next =
            node.metrics.len() as u64 + node.devices.iter().map(|d: &Device| d.metrics.len() as u64).sum::<u64>();
        let mut alias = || {
            next += 1;
            next - 1
        };
        let mut device = Device {
            id: machine.id.clone(),
            metrics: Vec::new(),
            sensors: HashMap::new(),
            state: 0,
            events: [None; Table::COUNT],
        };
        for s in plant.sensors.iter().filter(|s| s.machine == m) {
            for (k, (_, column, datatype)) in sensor_columns.iter().enumerate() {
                let a = alias();
                if k == 0 {
                    device.sensors.insert(s.id.clone(), a);
                }
                device.metrics.push(MetricDef {
                    name: format!("Sensors/{}/{column}", s.id),
                    alias: a,
                    datatype: *datatype,
                });
            }
        }
        for (k, (_, column, datatype)) in state_columns.iter().enumerate() {
            let a = alias();
            if k == 0 {
                device.state = a;
            }
            device.metrics.push(MetricDef { name: format!("State/{column}"), alias: a, datatype: *datatype });
        }
        for t in device_events {
            let a = alias();
            device.events[t.index()] = Some(a);
            device.metrics.push(MetricDef {
                name: format!("Events/{}", t.name()),
                alias: a,
                datatype: datatype::STRING,
            });
        }
        machines.insert(machine.id.clone(), (n, node.devices.len()));
        node.devices.push(device);
    }
    let lines = by_line.into_iter().map(|(l, n)| (plant.lines[l].id.clone(), n)).collect();
    Nodes { defs: nodes, machines, lines }
}

/// A metric's value from a cell; None for a null.
fn value_of(cell: &Cell) -> Option<metric::Value> {
    use metric::Value;
    Some(match *cell {
        Cell::Null => return None,
        Cell::Text(b) => Value::StringValue(String::from_utf8_lossy(b).into_owned()),
        Cell::Int4(v) => Value::IntValue(v as u32),
        Cell::Int8(v) => Value::LongValue(v as u64),
        Cell::Dec(v) => Value::DoubleValue(v),
        Cell::Bool(b) => Value::BooleanValue(b),
        Cell::Ts(t) => Value::LongValue((t * 1000) as u64),
        Cell::Date(d) => {
            let (y, m, d) = crate::clock::civil_from_days(d);
            Value::StringValue(format!("{y:04}-{m:02}-{d:02}"))
        }
        Cell::Time(s) => Value::StringValue(format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)),
    })
}

/// A data metric: by alias, stamped with the row's time.
fn data_metric(alias: u64, at: i64, cell: &Cell, historical: bool) -> Metric {
    let value = value_of(cell);
    Metric {
        alias: Some(alias),
        timestamp: Some(at as u64),
        is_historical: historical.then_some(true),
        is_null: value.is_none().then_some(true),
        value,
        ..Metric::default()
    }
}

/// The data metrics of one row: its metric `columns` by alias from `first` on.
fn data_metrics(columns: &[(usize, String, u32)], first: u64, at: i64, row: &[Cell], historical: bool) -> Vec<Metric> {
    columns.iter().enumerate().map(|(k, (i, _, _))| data_metric(first + k as u64, at, &row[*i], historical)).collect()
}

/// Opens one edge node's connection (its will the NDEATH of `bd_seq`), subscribes to its
/// NCMD topic (and its primary host's STATE), sends its births unless it waits for the
/// host, and starts the task that answers rebirth requests and follows the host.
async fn connect(access: &Access, run: &str, node: &Node) -> Result<()> {
    let (def, link) = (&node.def, &node.link);
    let mut guard = link.lock().await;
    guard.conn = None;
    guard.birthed = false;
    let bd_seq = guard.bd_seq;
    let mut opts = access.options(&format!("{run}-{}", def.id));
    opts.set_last_will(LastWill::new(def.topic("NDEATH", None), death(bd_seq), QoS::AtLeastOnce, false));
    let (tx, rx) = mpsc::unbounded_channel();
    let conn = Conn::open(opts, access.qos, Arc::clone(&access.shown), Some(tx)).await?;
    conn.subscribe(def.topic("NCMD", None)).await?;
    if let Some(host) = &mut guard.host {
        // Its retained STATE arrives at once; until then the host counts as offline.
        host.online = false;
        host.leave = false;
        conn.subscribe(host.topic.clone()).await?;
    }
    guard.conn = Some(conn);
    if guard.may_birth() {
        guard.births(def).await?;
        node.born.notify_waiters();
    }
    drop(guard);
    tokio::spawn(answer(rx, Arc::clone(def), Arc::clone(link), Arc::clone(&node.born)));
    Ok(())
}

/// Whether an NCMD payload asks for a rebirth.
pub fn asks_rebirth(payload: &[u8]) -> bool {
    let Ok(p) = Payload::decode(payload) else { return false };
    p.metrics.iter().any(|m| {
        (m.name.as_deref() == Some(REBIRTH) || (m.name.is_none() && m.alias == Some(0)))
            && m.value == Some(metric::Value::BooleanValue(true))
    })
}

/// Re-sends the births on every rebirth request, and follows the primary host's STATE,
/// until the connection is gone.
async fn answer(
    mut rx: mpsc::UnboundedReceiver<rumqttc::Publish>,
    def: Arc<NodeDef>,
    link: Arc<Mutex<Link>>,
    born: Arc<Notify>,
) {
    while let Some(p) = rx.recv().await {
        let mut link = link.lock().await;
        let is_state = link.host.as_ref().is_some_and(|h| h.topic == p.topic);
        if is_state {
            let Some((online, ts)) = parse_state(&p.payload) else {
                tracing::warn!(topic = %p.topic, "a STATE message that is not Sparkplug 3.0 JSON: ignored");
                continue;
            };
            follow_host(&mut link, &def, online, ts, &born).await;
        } else if asks_rebirth(&p.payload) && link.birthed {
            tracing::info!(group = %def.group, node = %def.id, "Sparkplug rebirth requested: sending NBIRTH and DBIRTHs");
            // A failure shows on the connection; the stream's reset sends births anew.
            let _ = link.births(&def).await;
        }
    }
}

/// Applies one STATE of the primary host: births when it comes online, the node's leave
/// (at the batch's end) when it goes offline; an offline STATE older than the last online
/// one is stale and ignored.
async fn follow_host(link: &mut Link, def: &NodeDef, online: bool, ts: u64, born: &Notify) {
    let birthed = link.birthed;
    let Some(host) = link.host.as_mut() else { return };
    if online {
        host.online = true;
        host.online_since = host.online_since.max(ts);
        if !birthed && link.conn.is_some() {
            tracing::info!(group = %def.group, node = %def.id, "primary host online: sending NBIRTH and DBIRTHs");
            let _ = link.births(def).await;
            born.notify_waiters();
        }
    } else if ts >= host.online_since {
        host.online = false;
        if birthed {
            tracing::info!(group = %def.group, node = %def.id, "primary host offline: NDEATH and disconnect after this batch");
            host.leave = true;
        }
    } else {
        tracing::info!(group = %def.group, node = %def.id, ts, since = host.online_since, "a stale offline STATE of the primary host: ignored");
    }
}

impl Sparkplug {
    pub async fn open(access: Access, scope: &Scope<'_>) -> Result<Sparkplug> {
        let Nodes { defs, machines, lines } = define(scope);
        let mut nodes = Vec::new();
        let host =
            access.primary_host.as_ref().map(|id| Host { topic: format!("{NAMESPACE}/STATE/{id}"), ..Host::default() });
        for def in defs {
            let link = Link { conn: None, seq: 0, bd_seq: 0, birthed: false, host: host.clone() };
            let node = Node { def: Arc::new(def), link: Arc::new(Mutex::new(link)), born: Arc::new(Notify::new()) };
            connect(&access, scope.run, &node).await?;
            nodes.push(node);
        }
        Ok(Sparkplug {
            access,
            run: scope.run.to_owned(),
            historical: scope.historical,
            nodes,
            machines,
            lines,
            layouts: Table::ALL.iter().map(|t| Layout::of(*t)).collect(),
            sensor_columns: metric_columns(Table::SensorData),
            state_columns: metric_columns(Table::ScadaMachineData),
            pending: None,
            json: Vec::new(),
            held: false,
            holding: false,
            behind: false,
        })
    }

    /// Notes whether the next batch is part of a backlog; a batch that is not ends the
    /// historical flag of readings held for the host.
    pub fn backlog(&mut self, behind: bool) {
        self.behind = behind;
    }

    /// Waits (a while) until every edge node is born: whether they are, and whether the
    /// batch had to wait (its readings are then held back).
    async fn born(&mut self) -> (bool, bool) {
        let deadline = tokio::time::Instant::now() + HOST_WAIT;
        let mut waited = false;
        let mut ready = true;
        'nodes: for node in &self.nodes {
            loop {
                let notified = node.born.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let link = node.link.lock().await;
                    if link.birthed {
                        break;
                    }
                    if link.conn.is_none() {
                        // It left: the stream's reset connects it again.
                        ready = false;
                        break 'nodes;
                    }
                }
                waited = true;
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    ready = false;
                    break 'nodes;
                }
            }
        }
        self.held |= waited || !ready;
        (ready, waited)
    }

    /// Edge nodes whose primary host went offline send their NDEATH and disconnect (between
    /// batches, so no batch is cut); the stream's next batch waits, and its reset connects
    /// them again (the next `bdSeq`) to wait for the host.
    pub async fn leave_if_host_gone(&mut self) -> Result<()> {
        for node in &self.nodes {
            let mut link = node.link.lock().await;
            if !link.host.as_ref().is_some_and(|h| h.leave) {
                continue;
            }
            let bd_seq = link.bd_seq;
            if let Some(h) = link.host.as_mut() {
                h.leave = false;
            }
            link.birthed = false;
            if let Some(mut conn) = link.conn.take() {
                conn.publish_with(node.def.topic("NDEATH", None), QoS::AtLeastOnce, false, death(bd_seq)).await?;
                conn.close().await?;
            }
            self.held = true;
        }
        Ok(())
    }

    /// Publishes the message being filled, if any.
    async fn flush(&mut self) -> Result<()> {
        let Some(p) = self.pending.take() else { return Ok(()) };
        let node = &self.nodes[p.node];
        let (topic, payload) = match p.device {
            Some(d) => (node.def.topic("DDATA", Some(&node.def.devices[d].id)), p.metrics),
            None => (node.def.topic("NDATA", None), p.metrics),
        };
        let payload = Payload { timestamp: Some(p.at as u64), metrics: payload, ..Payload::default() };
        node.link.lock().await.send(topic, payload).await
    }

    /// The message a row's metrics go into: the one being filled when it is for the same
    /// node, device and instant, else a new one (after publishing the other).
    async fn target(&mut self, node: usize, device: Option<usize>, at: i64) -> Result<&mut Vec<Metric>> {
        let same = self.pending.as_ref().is_some_and(|p| p.node == node && p.device == device && p.at == at);
        if !same {
            self.flush().await?;
            self.pending = Some(Pending { node, device, at, metrics: Vec::new() });
        }
        Ok(&mut self.pending.as_mut().expect("just set").metrics)
    }

    /// Publishes every row of `bytes` (tagged cells of `table`).
    pub async fn push(&mut self, table: Table, bytes: &[u8]) -> Result<()> {
        let (ready, waited) = self.born().await;
        self.holding = !ready;
        if !ready {
            let host = self.access.primary_host.as_deref().unwrap_or("?");
            return Err(anyhow!("holding readings until the primary host `{host}` is online (its Sparkplug STATE)"));
        }
        // Held readings go out historical until a batch that neither waited nor lags.
        if self.held && !waited && !self.behind {
            self.held = false;
        }
        let l = self.layouts[table.index()];
        let mut cells = Reader::new(bytes);
        let mut row: Vec<Cell> = Vec::with_capacity(l.columns);
        let historical = self.historical || self.held;
        loop {
            row.clear();
            row.extend(cells.by_ref().take(l.columns));
            if row.is_empty() {
                break;
            }
            let at = super::millis(&row[l.time]);
            let machine = l.machine.map(|i| super::text(&row[i]));
            let (node, device) = match machine {
                Some(m) => {
                    let (n, d) = *self
                        .machines
                        .get(m)
                        .ok_or_else(|| anyhow!("{}: machine {m} is not streamed here", table.name()))?;
                    (n, Some(d))
                }
                None => {
                    let line = l.line.map_or("", |i| super::text(&row[i]));
                    (
                        *self
                            .lines
                            .get(line)
                            .ok_or_else(|| anyhow!("{}: line {line} is not streamed here", table.name()))?,
                        None,
                    )
                }
            };
            match table {
                Table::SensorData => {
                    let sensor = l.sensor.map_or("", |i| super::text(&row[i]));
                    let dev = &self.nodes[node].def.devices[device.expect("a machine's row")];
                    let first = *dev
                        .sensors
                        .get(sensor)
                        .ok_or_else(|| anyhow!("sensor {sensor} is not on machine {}", dev.id))?;
                    let metrics = data_metrics(&self.sensor_columns, first, at, &row, historical);
                    self.target(node, device, at).await?.extend(metrics);
                }
                Table::ScadaMachineData => {
                    let first = self.nodes[node].def.devices[device.expect("a machine's row")].state;
                    let metrics = data_metrics(&self.state_columns, first, at, &row, historical);
                    self.target(node, device, at).await?.extend(metrics);
                }
                _ => {
                    let def = &self.nodes[node].def;
                    let alias = match device {
                        Some(d) => def.devices[d].events[table.index()],
                        None => Some(def.runs),
                    }
                    .ok_or_else(|| anyhow!("{} has no Sparkplug metric", table.name()))?;
                    let mut json = std::mem::take(&mut self.json);
                    json.clear();
                    let scales = crate::db::schema::decimal_scales(table);
                    encode_fields(Format::Jsonl, table.columns(), true, &mut json, |c| replay(&row, scales, c));
                    let cell = Cell::Text(&json);
                    let metric = data_metric(alias, at, &cell, historical);
                    self.json = json;
                    self.target(node, device, at).await?.push(metric);
                }
            }
        }
        self.flush().await
    }

    /// Waits until the broker has every message published so far.
    pub async fn settle(&mut self) -> Result<()> {
        self.flush().await?;
        for node in &self.nodes {
            let link = node.link.lock().await;
            if let Some(conn) = &link.conn {
                conn.settle().await?;
            }
        }
        Ok(())
    }

    /// New connections in place of failed or closed ones: a new `bdSeq` and births on each
    /// (once the primary host, if any, is online). A healthy connection waiting for its host
    /// is kept.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.pending = None;
        for node in &self.nodes {
            {
                let mut link = node.link.lock().await;
                // A node waiting for the host, or born while the batch waited, keeps its session.
                let healthy = link.conn.as_ref().is_some_and(|c| c.failure().is_none());
                if healthy && (!link.birthed || self.holding) {
                    continue;
                }
                link.conn = None;
                link.bd_seq = link.bd_seq.wrapping_add(1);
            }
            connect(&self.access, &self.run, node).await?;
        }
        Ok(())
    }

    /// Sends each node's death certificate and disconnects (a clean disconnect does not
    /// fire the will).
    pub async fn close(&mut self) -> Result<()> {
        self.flush().await?;
        for node in &self.nodes {
            let mut link = node.link.lock().await;
            let bd_seq = link.bd_seq;
            if let Some(mut conn) = link.conn.take() {
                conn.publish_with(node.def.topic("NDEATH", None), QoS::AtLeastOnce, false, death(bd_seq)).await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_columns_leave_out_ids_and_time() {
        let names: Vec<String> = metric_columns(Table::SensorData).into_iter().map(|c| c.1).collect();
        assert!(names.contains(&"measurement_value".to_owned()) && names.contains(&"status".to_owned()), "{names:?}");
        for id in ["sensor_data_id", "sensor_id", "machine_id", "line_id", "factory_id", "timestamp", "created_at"] {
            assert!(!names.contains(&id.to_owned()), "{id} is carried by the topic or the metric's timestamp");
        }
        let state: Vec<(usize, String, u32)> = metric_columns(Table::ScadaMachineData);
        let find = |n: &str| state.iter().find(|c| c.1 == n).map(|c| c.2);
        assert_eq!(find("machine_state"), Some(datatype::STRING));
        assert!(matches!(find("parts_produced_cumulative"), Some(datatype::INT32 | datatype::INT64)), "{state:?}");
    }

    #[test]
    fn aliases_are_unique_per_edge_node_and_births_name_every_sensor() {
        let (plant, _) = crate::sim::seed_7_plant();
        let machines: Vec<usize> = (0..plant.machines.len()).collect();
        let scope = Scope { plant: &plant, machines: &machines, run: "all", historical: false };
        let Nodes { defs: nodes, machines: by_machine, lines } = define(&scope);
        assert_eq!(nodes.len(), plant.lines.len(), "one edge node per line");
        assert_eq!(by_machine.len(), plant.machines.len(), "one device per machine");
        assert_eq!(lines.len(), plant.lines.len());
        let per_sensor = metric_columns(Table::SensorData).len();
        for n in &nodes {
            let mut aliases: Vec<u64> = n.metrics.iter().map(|m| m.alias).collect();
            aliases.extend(n.devices.iter().flat_map(|d| d.metrics.iter().map(|m| m.alias)));
            let count = aliases.len();
            aliases.sort_unstable();
            aliases.dedup();
            assert_eq!(aliases.len(), count, "node {}: aliases must be unique", n.id);
            assert_eq!(aliases, (0..count as u64).collect::<Vec<_>>(), "node {}: aliases are dense", n.id);
            for d in &n.devices {
                assert_eq!(
                    d.sensors.len() * per_sensor + metric_columns(Table::ScadaMachineData).len() + 5,
                    d.metrics.len()
                );
                for (sensor, first) in &d.sensors {
                    let m = d.metrics.iter().find(|m| m.alias == *first).unwrap();
                    assert_eq!(m.name, format!("Sensors/{sensor}/{}", metric_columns(Table::SensorData)[0].1));
                }
            }
        }
        let shard = Scope { run: "iot-2of4", machines: &machines[..3], ..scope };
        let nodes = define(&shard).defs;
        assert!(nodes.iter().all(|n| n.id.ends_with("-iot-2of4")), "a partial run is an edge node of its own");
    }

    /// Sparkplug 3.0's STATE payload: JSON with `online` and `timestamp`; anything else is
    /// not a STATE.
    #[test]
    fn a_host_state_is_read_from_its_json() {
        assert_eq!(parse_state(br#"{"online": true, "timestamp": 1668114759262}"#), Some((true, 1_668_114_759_262)));
        assert_eq!(parse_state(br#"{"timestamp": 5, "online": false}"#), Some((false, 5)));
        assert_eq!(parse_state(b"ONLINE"), None, "Sparkplug 2.2's plain-text STATE is not 3.0's");
        assert_eq!(parse_state(br#"{"online": "yes", "timestamp": 5}"#), None);
        assert_eq!(parse_state(br#"{"online": true}"#), None, "a STATE without its timestamp");
    }

    #[test]
    fn a_rebirth_request_is_recognised_by_name_or_alias() {
        let ask = |name: Option<&str>, alias: Option<u64>, v: bool| {
            Payload {
                metrics: vec![Metric {
                    name: name.map(str::to_owned),
                    alias,
                    value: Some(metric::Value::BooleanValue(v)),
                    ..Metric::default()
                }],
                ..Payload::default()
            }
            .encode_to_vec()
        };
        assert!(asks_rebirth(&ask(Some(REBIRTH), None, true)));
        assert!(asks_rebirth(&ask(None, Some(0), true)));
        assert!(!asks_rebirth(&ask(Some(REBIRTH), None, false)));
        assert!(!asks_rebirth(&ask(Some("Node Control/Reboot"), None, true)));
        assert!(!asks_rebirth(b"not protobuf \xff\xff"));
    }
}
