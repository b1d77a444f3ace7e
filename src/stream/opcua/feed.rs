//! The values the OPC UA server publishes, taken from the rows the sinks get.
//!
//! A [`FeedTap`] in front of the generator's tick buffers turns each served machine's rows
//! into variable updates and keeps them until the release loop releases their instant
//! ([`Feed::release`]); they are then written to the address space, which notifies the
//! subscriptions. A client sees a value when the sinks do, never before.
//!
//! Each value carries its reading's timestamp as its source timestamp and a status code
//! from the data-quality defects (docs/usage/opcua.md):
//!
//! | the reading | status |
//! |---|---|
//! | in a stale stretch (the gateway repeats its cached record) | `Uncertain_LastUsableValue` |
//! | the gateway's error value (an invalid reading) | `Bad_SensorFailure` |
//! | outside the sensor's measurement range | `Uncertain_EngineeringUnitsExceeded` |
//! | flagged `uncertain` (a flat line while running) | `Uncertain_SensorNotAccurate` |
//! | otherwise | `Good` |
//!
//! A gateway gap sends nothing: at its start every sensor of the machine keeps its last
//! value, stamped with the gap's start, as `Uncertain_NoCommunicationLastUsableValue`, until
//! readings come back. A SCADA row's values are `Good`, or `Uncertain` when the row's
//! `data_quality` says so.

use std::sync::{Arc, Mutex, MutexGuard};

use opcua::server::node_manager::memory::InMemoryNodeManager;
use opcua::server::{ServerHandle, SubscriptionCache};
use opcua::types::{DataValue, DateTime, NodeId, StatusCode, UAString, Variant};

use super::events::{self, AllCells, PlantEvent};
use super::history::History;
use super::manager::PlantManager;
use super::space::{state_columns, MachineNodes};
use crate::encode::text::scaled;
use crate::rows::{Cells, Emit, Row, Table};
use crate::sim::quality::INVALID_VALUE;
use crate::stream::console::{Pick, PlantInfo, SensorInfo};

/// A value to write when its instant is released.
struct Update {
    /// The release instant of the row it came from.
    at: i64,
    /// The variable: an index into the machine's [`MachineNodes`].
    node: u16,
    value: DataValue,
}

/// One machine's values not yet released, and what the rows so far said of its defects.
#[derive(Default)]
struct Pending {
    updates: Vec<Update>,
    /// Events not yet released: (release instant, event time, event).
    events: Vec<(i64, i64, PlantEvent)>,
    /// The last SCADA state seen, for state changes.
    state: Option<String>,
    /// Events published so far (their ids are numbered).
    published: u64,
    /// Stale stretches `(sensor, from, to)` not yet over.
    stale: Vec<(usize, i64, i64)>,
    /// Each sensor's last value, for a gap's start.
    last: Vec<Option<f64>>,
}

/// What the server publishes of the machines the stream generates.
pub struct Feed {
    manager: Arc<InMemoryNodeManager<PlantManager>>,
    history: Arc<History>,
    subscriptions: Arc<SubscriptionCache>,
    handle: ServerHandle,
    plant: PlantInfo,
    /// Per plant machine: its variables (empty when not served).
    machines: Vec<MachineNodes>,
    /// Per plant machine: its pending values, when served.
    pending: Vec<Option<Mutex<Pending>>>,
    /// Per SCADA column position: the index of its `State` variable among the state
    /// columns, if it is one.
    state_slot: Vec<Option<usize>>,
    /// The position of `data_quality` among the SCADA columns.
    quality_column: usize,
    /// The namespace's index, and the `GroundTruth` object when ground truth is published.
    ns: u16,
    ground_truth: Option<NodeId>,
}

impl Feed {
    pub(super) fn new(
        manager: Arc<InMemoryNodeManager<PlantManager>>,
        handle: ServerHandle,
        plant: PlantInfo,
        machines: Vec<MachineNodes>,
        history: Arc<History>,
        (ns, ground_truth): (u16, Option<NodeId>),
    ) -> Feed {
        let pending = machines
            .iter()
            .map(|n| {
                (!n.nodes.is_empty()).then(|| Mutex::new(Pending { last: vec![None; n.sensors], ..Default::default() }))
            })
            .collect();
        let columns = Table::ScadaMachineData.columns();
        let mut state_slot = vec![None; columns.len()];
        for (k, (i, _, _)) in state_columns().into_iter().enumerate() {
            state_slot[i] = Some(k);
        }
        let quality_column = columns.iter().position(|c| *c == "data_quality").expect("scada has data_quality");
        Feed {
            subscriptions: Arc::clone(handle.subscriptions()),
            manager,
            history,
            handle,
            plant,
            machines,
            pending,
            state_slot,
            quality_column,
            ns,
            ground_truth,
        }
    }

    /// Whether machine `m` is served.
    pub fn holds(&self, m: usize) -> bool {
        self.pending.get(m).is_some_and(Option::is_some)
    }

    /// Machine `m`'s rows go through the returned receiver, in front of `inner`.
    pub fn tap<'f, E: Emit>(&'f self, m: usize, inner: &'f mut E) -> FeedTap<'f, E> {
        let pending = self.pending[m].as_ref().expect("a served machine").lock().expect("no poisoned lock");
        FeedTap { inner, feed: self, pending, sensors: &self.plant.machines[m].sensors }
    }

    /// Writes every value whose instant is before `through` to the address space.
    pub fn release(&self, through: i64) {
        let now = DateTime::now();
        for (m, p) in self.pending.iter().enumerate() {
            let Some(p) = p else { continue };
            let (ready, events, seq) = {
                let mut p = p.lock().expect("no poisoned lock");
                let ready: Vec<Update> = if p.updates.iter().any(|u| u.at < through) {
                    let (ready, later) = std::mem::take(&mut p.updates).into_iter().partition(|u| u.at < through);
                    p.updates = later;
                    ready
                } else {
                    Vec::new()
                };
                let events: Vec<(i64, i64, PlantEvent)> = if p.events.iter().any(|e| e.0 < through) {
                    let (now, later) = std::mem::take(&mut p.events).into_iter().partition(|e| e.0 < through);
                    p.events = later;
                    now
                } else {
                    Vec::new()
                };
                let seq = p.published;
                p.published += events.len() as u64;
                (ready, events, seq)
            };
            if !ready.is_empty() {
                self.history.record(m, ready.iter().map(|u| (usize::from(u.node), &u.value)), through);
                self.write(m, ready, now);
            }
            if !events.is_empty() {
                self.publish(m, events, seq);
            }
        }
    }

    /// Writes machine `m`'s values in order: a variable updated twice is written twice, so
    /// a subscription sees both values.
    fn write(&self, m: usize, ready: Vec<Update>, now: DateTime) {
        let nodes = &self.machines[m].nodes;
        let mut seen = vec![false; nodes.len()];
        let mut round: Vec<(&NodeId, Option<&opcua::types::NumericRange>, DataValue)> = Vec::new();
        for mut u in ready {
            let k = usize::from(u.node);
            if std::mem::replace(&mut seen[k], true) {
                self.set(std::mem::take(&mut round));
                seen.fill(false);
                seen[k] = true;
            }
            u.value.server_timestamp = Some(now);
            round.push((&nodes[k], None, u.value));
        }
        self.set(round);
    }

    fn set(&self, round: Vec<(&NodeId, Option<&opcua::types::NumericRange>, DataValue)>) {
        if round.is_empty() {
            return;
        }
        if let Err(e) = self.manager.set_values(&self.subscriptions, round.into_iter()) {
            tracing::warn!(status = %e, "OPC UA: a value could not be written");
        }
    }

    /// Publishes machine `m`'s events: what a control system sees from the machine and the
    /// `Server` object, ground truth from `GroundTruth` only.
    fn publish(&self, m: usize, mut events: Vec<(i64, i64, PlantEvent)>, seq: u64) {
        events.sort_by_key(|e| e.1);
        let id = &self.plant.machines[m].id;
        let machine = self.manager.address_space().read().find(&NodeId::new(self.ns, id.clone())).is_some();
        if !machine {
            return;
        }
        let node = NodeId::new(self.ns, id.clone());
        let server: NodeId = opcua::types::ObjectId::Server.into();
        let built: Vec<(Box<dyn opcua::nodes::Event + Send>, bool)> = events
            .iter()
            .enumerate()
            .map(|(k, (_, ts, e))| (e.build(self.ns, (&node, id), *ts, seq + k as u64), e.is_truth()))
            .collect();
        let mut to: Vec<(&dyn opcua::nodes::Event, &NodeId)> = Vec::new();
        for (e, truth) in &built {
            match (truth, &self.ground_truth) {
                (true, Some(gt)) => to.push((e.as_ref(), gt)),
                (true, None) => {}
                (false, _) => {
                    to.push((e.as_ref(), &node));
                    to.push((e.as_ref(), &server));
                }
            }
        }
        self.subscriptions.notify_events(to.into_iter());
    }

    /// Stops the server: sessions are told it is shutting down.
    pub fn stop(&self) {
        self.handle.cancel();
    }
}

/// An [`Emit`] receiver that keeps one machine's new values and hands every row on.
pub struct FeedTap<'f, E: Emit> {
    inner: &'f mut E,
    feed: &'f Feed,
    pending: MutexGuard<'f, Pending>,
    sensors: &'f [SensorInfo],
}

impl<E: Emit> FeedTap<'_, E> {
    fn reading<R: Row>(&mut self, row: &R, at: i64) {
        let mut pick = Pick::new(self.sensors);
        row.visit(&mut pick);
        let (Some(s), Some(ts), Some(v)) = (pick.sensor, pick.ts, pick.value) else { return };
        let p = &mut *self.pending;
        p.stale.retain(|w| w.2 > ts);
        let stale = p.stale.iter().any(|&(x, from, to)| x == s && from <= ts && ts < to);
        let status = status_of(v, pick.quality, stale);
        p.last[s] = Some(v);
        p.updates.push(Update { at, node: s as u16, value: value_at(Variant::Double(v), status, ts) });
    }

    fn state<R: Row>(&mut self, row: &R, at: i64) {
        let mut cells =
            StateCells { col: 0, feed: self.feed, ts: 0, values: Vec::new(), uncertain: false, state: None };
        row.visit(&mut cells);
        if let Some(state) = cells.state.take() {
            match self.pending.state.replace(state.clone()) {
                Some(previous) if previous != state => {
                    self.pending.events.push((at, cells.ts, PlantEvent::State { previous, state }));
                }
                _ => {}
            }
        }
        let status = if cells.uncertain { StatusCode::Uncertain } else { StatusCode::Good };
        let first = self.sensors.len();
        for (k, v) in cells.values {
            let node = (first + k) as u16;
            self.pending.updates.push(Update { at, node, value: value_at(v, status, cells.ts) });
        }
    }

    /// A data-quality label (defect 1, sensor_id 5, start 6, end 7; rare rows, read whole).
    fn label<R: Row>(&mut self, row: &R, at: i64) {
        let mut l = AllCells::default();
        row.visit(&mut l);
        let (start, end) = (l.int(6).unwrap_or(at), l.int(7).unwrap_or(at));
        let p = &mut *self.pending;
        match (l.text(1), l.text(5)) {
            ("stale", id) if !id.is_empty() => {
                if let Some(s) = self.sensors.iter().position(|x| x.id == id) {
                    p.stale.push((s, start, end));
                }
            }
            ("gap", "") => {
                for (s, last) in p.last.iter().enumerate() {
                    let value = last.map_or(Variant::Empty, Variant::Double);
                    let dv = value_at(value, StatusCode::UncertainNoCommunicationLastUsableValue, start);
                    p.updates.push(Update { at, node: s as u16, value: dv });
                }
            }
            _ => {}
        }
    }
}

impl<E: Emit> FeedTap<'_, E> {
    /// Faults, work orders and (as ground truth) fault labels: their events.
    fn record<R: Row>(&mut self, row: &R, at: i64) {
        let mut cells = AllCells::default();
        row.visit(&mut cells);
        for (t, e) in events::of_row(R::TABLE, &cells, at, self.feed.ground_truth.is_some()) {
            self.pending.events.push((at.max(t), t, e));
        }
    }
}

impl<E: Emit> Emit for FeedTap<'_, E> {
    #[inline]
    fn emit<R: Row>(&mut self, row: &R, at: i64) {
        match R::TABLE {
            Table::SensorData => self.reading(row, at),
            Table::ScadaMachineData => self.state(row, at),
            Table::QualityLabels => self.label(row, at),
            Table::MachineFaults | Table::MaintenanceEvents | Table::FaultLabels => self.record(row, at),
            _ => {}
        }
        self.inner.emit(row, at);
    }

    fn labelled(&mut self, pattern: usize) {
        self.inner.labelled(pattern);
    }

    fn expect(&mut self, table: Table, rows: usize) {
        self.inner.expect(table, rows);
    }
}

/// A reading's status code (see the module's table); `quality` indexes
/// [`crate::stream::console::QUALITIES`].
pub fn status_of(value: f64, quality: u8, stale: bool) -> StatusCode {
    match quality {
        _ if stale => StatusCode::UncertainLastUsableValue,
        2 if value == INVALID_VALUE => StatusCode::BadSensorFailure,
        0 => StatusCode::Good,
        1 => StatusCode::UncertainSensorNotAccurate,
        2 => StatusCode::UncertainEngineeringUnitsExceeded,
        _ => StatusCode::Uncertain,
    }
}

fn value_at(value: Variant, status: StatusCode, ts: i64) -> DataValue {
    DataValue { value: Some(value), status: Some(status), source_timestamp: Some(date_time(ts)), ..Default::default() }
}

/// A Unix instant as an OPC UA `DateTime`.
pub fn date_time(ts: i64) -> DateTime {
    DateTime::from(chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default())
}

/// A SCADA row's values, as its `State` variables hold them.
struct StateCells<'f> {
    col: usize,
    feed: &'f Feed,
    ts: i64,
    /// (state variable index, value)
    values: Vec<(usize, Variant)>,
    uncertain: bool,
    /// `machine_state`.
    state: Option<String>,
}

impl StateCells<'_> {
    fn put(&mut self, v: impl FnOnce() -> Variant) {
        if let Some(k) = self.feed.state_slot[self.col] {
            self.values.push((k, v()));
        }
        self.col += 1;
    }
}

impl Cells for StateCells<'_> {
    fn null(&mut self) {
        self.put(|| Variant::Empty);
    }
    fn text(&mut self, s: &str) {
        if self.col == self.feed.quality_column {
            self.uncertain = s == "uncertain";
        }
        if self.col == 5 {
            self.state = Some(s.to_owned());
        }
        self.put(|| Variant::String(UAString::from(s)));
    }
    fn int4(&mut self, v: i32) {
        self.put(|| Variant::Int32(v));
    }
    fn int8(&mut self, v: i64) {
        self.put(|| Variant::Int64(v));
    }
    fn dec(&mut self, v: f64, scale: u8) {
        // As the sinks print it.
        self.put(|| Variant::Double(scaled(v, scale) as f64 / 10f64.powi(i32::from(scale))));
    }
    fn boolean(&mut self, b: bool) {
        self.put(|| Variant::Boolean(b));
    }
    fn ts(&mut self, t: i64) {
        if self.col == 4 {
            self.ts = t;
        }
        self.put(|| Variant::from(date_time(t)));
    }
    fn date(&mut self, days: i64) {
        self.put(|| Variant::String(UAString::from(crate::clock::date_string(days * crate::clock::DAY))));
    }
    fn time(&mut self, secs: i64) {
        self.put(|| {
            Variant::String(UAString::from(format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{QUALITY_LABELS, SCADA};
    use crate::stream::console::QUALITIES;

    #[test]
    fn the_cells_read_are_the_columns_named() {
        assert_eq!([SCADA[4], SCADA[5]], ["timestamp", "machine_state"]);
        assert_eq!(
            [QUALITY_LABELS[1], QUALITY_LABELS[5], QUALITY_LABELS[6], QUALITY_LABELS[7]],
            ["defect", "sensor_id", "start_time", "end_time"]
        );
        assert_eq!(QUALITIES[..3], ["good", "uncertain", "out_of_range"]);
    }

    #[test]
    fn defects_map_to_status_codes() {
        assert_eq!(status_of(12.5, 0, false), StatusCode::Good);
        assert_eq!(status_of(12.5, 0, true), StatusCode::UncertainLastUsableValue, "a stale record");
        assert_eq!(status_of(INVALID_VALUE, 2, false), StatusCode::BadSensorFailure, "the gateway's error value");
        assert_eq!(status_of(9e9, 2, false), StatusCode::UncertainEngineeringUnitsExceeded);
        assert_eq!(status_of(1.0, 1, false), StatusCode::UncertainSensorNotAccurate);
    }
}
