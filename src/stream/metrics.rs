//! The daemon's metrics registry: what it generated and what each sink delivered, queued and
//! spooled, in Prometheus form (`genims_` prefix, `_total` counters, seconds and bytes).
//!
//! The release loop and the delivery tasks update it; the statistics line and the control
//! plane's `/metrics` read it through a [`View`], which also samples what is not counted as
//! it happens (queue depths, lag behind the clock). [`Metrics::encode`] renders it in the
//! OpenMetrics text format. The sinks themselves never see it.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use std::sync::Arc;

use prometheus_client::metrics::info::Info;

use super::buffer::{Buffer, Depth};
use super::generate::{EpisodeView, PlantStatus};
use super::pace::Pace;
use crate::rows::Table;
use crate::sim::machine::State;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkTableLabels {
    sink: &'static str,
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PatternLabels {
    pattern: String,
}

type IntGauge = Gauge<i64, AtomicI64>;

/// Every metric of one stream.
pub struct Metrics {
    registry: Registry,
    generated: Family<TableLabels, Counter>,
    delivered: Family<SinkTableLabels, Counter>,
    errors: Family<SinkLabels, Counter>,
    retrying: Family<SinkLabels, IntGauge>,
    through: Family<SinkLabels, IntGauge>,
    in_hand: Family<SinkLabels, IntGauge>,
    queued_rows: Family<SinkLabels, IntGauge>,
    queued_bytes: Family<SinkLabels, IntGauge>,
    spooled_rows: Family<SinkLabels, IntGauge>,
    spooled_bytes: Family<SinkLabels, IntGauge>,
    lag: Family<SinkLabels, IntGauge>,
    simulated: IntGauge,
    machines: Family<StateLabels, IntGauge>,
    episodes: Family<PatternLabels, IntGauge>,
    retention_rows: Family<TableLabels, Counter>,
    retention_partitions: Counter,
    retention_runs: Counter,
    retention_errors: Counter,
    retention_horizon: IntGauge,
    retention_days: IntGauge,
    /// Catalogue pattern names, in catalogue order.
    patterns: Vec<String>,
}

impl Metrics {
    /// A registry for a stream over a catalogue with these pattern names.
    pub fn new(patterns: Vec<String>) -> Metrics {
        let mut registry = Registry::with_prefix("genims");
        let m = Metrics {
            registry: Registry::default(),
            generated: Family::default(),
            delivered: Family::default(),
            errors: Family::default(),
            retrying: Family::default(),
            through: Family::default(),
            in_hand: Family::default(),
            queued_rows: Family::default(),
            queued_bytes: Family::default(),
            spooled_rows: Family::default(),
            spooled_bytes: Family::default(),
            lag: Family::default(),
            simulated: IntGauge::default(),
            machines: Family::default(),
            episodes: Family::default(),
            retention_rows: Family::default(),
            retention_partitions: Counter::default(),
            retention_runs: Counter::default(),
            retention_errors: Counter::default(),
            retention_horizon: IntGauge::default(),
            retention_days: IntGauge::default(),
            patterns,
        };
        registry.register("rows_generated", "Rows the engine generated and released, per table", m.generated.clone());
        registry.register("rows_delivered", "Rows a sink committed, per sink and table", m.delivered.clone());
        registry.register("delivery_errors", "Failed delivery attempts (each is retried), per sink", m.errors.clone());
        registry.register("sink_retrying", "1 while a sink is retrying after a failure", m.retrying.clone());
        registry.register_with_unit(
            "sink_delivered_through",
            "Every record before this simulated instant (Unix time) is committed in the sink",
            Unit::Seconds,
            m.through.clone(),
        );
        registry.register(
            "sink_batch_rows",
            "Rows a sink has taken from its queue and not yet committed",
            m.in_hand.clone(),
        );
        registry.register("queue_rows", "Rows queued in memory for a sink", m.queued_rows.clone());
        registry.register_with_unit("queue", "Memory held by a sink's queue", Unit::Bytes, m.queued_bytes.clone());
        registry.register("spool_rows", "Rows spooled to disk for a sink", m.spooled_rows.clone());
        registry.register_with_unit("spool", "Disk held by a sink's spool", Unit::Bytes, m.spooled_bytes.clone());
        registry.register_with_unit(
            "simulated_time",
            "The simulated instant (Unix time) of the last released tick",
            Unit::Seconds,
            m.simulated.clone(),
        );
        registry.register_with_unit(
            "sink_lag",
            "How far a sink's delivered records trail the simulated clock's target (real-time streams)",
            Unit::Seconds,
            m.lag.clone(),
        );
        registry.register(
            "machines",
            "Machines of the stream's shard per state, at the last released minute",
            m.machines.clone(),
        );
        registry.register(
            "episodes_active",
            "Fault episodes in effect (onset to end of repair) per pattern, at the last released minute",
            m.episodes.clone(),
        );
        register_retention(&mut registry, &m);
        registry.register("build", "The genims build", Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]));
        for t in Table::ALL {
            let _ = m.generated.get_or_create(&TableLabels { table: t.name() });
        }
        for st in State::ALL {
            let _ = m.machines.get_or_create(&StateLabels { state: st.name() });
        }
        for p in &m.patterns {
            let _ = m.episodes.get_or_create(&PatternLabels { pattern: p.clone() });
        }
        Metrics { registry, ..m }
    }

    /// The simulated instant of the last released tick (Unix time; 0 before the first).
    pub fn simulated(&self) -> i64 {
        self.simulated.get()
    }

    /// Records a retention run that removed everything before `horizon`.
    pub fn retained(&self, removed: &crate::db::retention::Removed, horizon: i64, days: u32) {
        for (table, rows) in &removed.rows {
            self.retention_rows.get_or_create(&TableLabels { table }).inc_by(*rows);
        }
        self.retention_partitions.inc_by(removed.partitions.len() as u64);
        self.retention_runs.inc();
        self.retention_horizon.set(horizon);
        self.retention_days.set(i64::from(days));
    }

    /// Counts a retention run that failed (it is tried again an hour later).
    pub fn retention_failed(&self) {
        self.retention_errors.inc();
    }

    /// Records the shard's machines per state and episodes per pattern.
    pub fn set_plant(&self, status: &PlantStatus) {
        for (st, n) in State::ALL.iter().zip(status.states) {
            self.machines.get_or_create(&StateLabels { state: st.name() }).set(n as i64);
        }
        for (p, n) in self.patterns.iter().zip(&status.episodes) {
            self.episodes.get_or_create(&PatternLabels { pattern: p.clone() }).set(*n as i64);
        }
    }

    /// The handles one sink's worker updates (no lookups on the delivery path).
    pub fn sink(&self, sink: &'static str) -> SinkMetrics {
        SinkMetrics {
            delivered: Table::ALL
                .map(|t| self.delivered.get_or_create(&SinkTableLabels { sink, table: t.name() }).clone()),
            errors: self.errors.get_or_create(&SinkLabels { sink }).clone(),
            retrying: self.retrying.get_or_create(&SinkLabels { sink }).clone(),
            through: self.through.get_or_create(&SinkLabels { sink }).clone(),
            in_hand: self.in_hand.get_or_create(&SinkLabels { sink }).clone(),
        }
    }

    /// Counts rows released from the engine.
    pub fn generated(&self, table: Table, rows: u64) {
        self.generated.get_or_create(&TableLabels { table: table.name() }).inc_by(rows);
    }

    pub fn generated_total(&self) -> u64 {
        Table::ALL.iter().map(|t| self.generated.get_or_create(&TableLabels { table: t.name() }).get()).sum()
    }

    pub fn set_simulated(&self, t: i64) {
        self.simulated.set(t);
    }

    /// Records a sink's queue and spool.
    pub fn set_depth(&self, sink: &'static str, d: &Depth) {
        let l = SinkLabels { sink };
        self.queued_rows.get_or_create(&l).set(d.mem_rows as i64);
        self.queued_bytes.get_or_create(&l).set(d.mem_bytes as i64);
        self.spooled_rows.get_or_create(&l).set(d.spooled_rows as i64);
        self.spooled_bytes.get_or_create(&l).set(d.spooled_bytes as i64);
    }

    /// The registry in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Registers what retention removed and keeps.
fn register_retention(registry: &mut Registry, m: &Metrics) {
    registry.register("retention_rows_removed", "Rows retention deleted, per table", m.retention_rows.clone());
    registry.register(
        "retention_partitions_dropped",
        "Daily partitions retention detached and dropped",
        m.retention_partitions.clone(),
    );
    registry.register("retention_runs", "Retention runs that finished", m.retention_runs.clone());
    registry.register(
        "retention_errors",
        "Retention runs that failed (tried again an hour later)",
        m.retention_errors.clone(),
    );
    registry.register_with_unit(
        "retention_horizon",
        "Everything before this simulated instant (Unix time) has been removed from PostgreSQL",
        Unit::Seconds,
        m.retention_horizon.clone(),
    );
    registry.register(
        "retention_days",
        "Days of data PostgreSQL keeps behind the simulated clock (0: all)",
        m.retention_days.clone(),
    );
}

/// One sink as the statistics see it.
pub struct SinkView {
    pub name: &'static str,
    pub queue: Arc<Buffer>,
    pub stats: SinkMetrics,
}

/// A running stream as the statistics line and the control plane read it.
pub struct View {
    pub metrics: Arc<Metrics>,
    pub pace: Arc<Pace>,
    pub lanes: Vec<SinkView>,
    /// The last released minute and the episodes in effect or starting within an hour then.
    pub faults: std::sync::Mutex<(i64, Arc<Vec<EpisodeView>>)>,
    /// Injections and clears applied since (minute applied at, episode id, its view; `None`
    /// when it was cancelled), so `GET /faults` shows a change as soon as it is answered —
    /// until a released minute's own list includes it.
    changes: std::sync::Mutex<Vec<(i64, i64, Option<EpisodeView>)>>,
    /// The console's memory of the recent rows, when it is served.
    pub console: Option<Arc<super::console::Console>>,
}

impl View {
    pub fn new(
        metrics: Arc<Metrics>,
        pace: Arc<Pace>,
        lanes: Vec<SinkView>,
        console: Option<Arc<super::console::Console>>,
    ) -> View {
        View {
            metrics,
            pace,
            lanes,
            console,
            faults: std::sync::Mutex::new((0, Arc::new(Vec::new()))),
            changes: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Records the plant's status at a released minute `at`: its list includes every change
    /// applied at or before `at`.
    pub fn set_plant(&self, at: i64, status: &PlantStatus) {
        self.metrics.set_plant(status);
        *self.faults.lock().expect("no poisoned lock") = (at, Arc::new(status.near.clone()));
        if let Some(c) = &self.console {
            c.note_episodes(&status.near);
        }
        self.changes.lock().expect("no poisoned lock").retain(|c| c.0 > at);
    }

    /// Records an injection or clear applied at minute `at` (not yet released).
    pub fn note_change(&self, at: i64, id: i64, episode: Option<EpisodeView>) {
        if let Some(c) = &self.console {
            match &episode {
                Some(e) => c.note_episodes([e]),
                None => c.forget(id),
            }
        }
        self.changes.lock().expect("no poisoned lock").push((at, id, episode));
    }

    /// The last released minute and its episodes, with the changes applied since.
    pub fn faults(&self) -> (i64, Arc<Vec<EpisodeView>>) {
        let (at, list) = self.faults.lock().expect("no poisoned lock").clone();
        let changes = self.changes.lock().expect("no poisoned lock");
        if changes.is_empty() {
            return (at, list);
        }
        let mut list = (*list).clone();
        for (_, id, episode) in changes.iter() {
            list.retain(|e| e.id != *id);
            list.extend(episode.clone());
        }
        (at, Arc::new(list))
    }

    /// Samples the queues and each sink's lag behind the clock into the registry.
    pub fn refresh(&self, now: f64) {
        for l in &self.lanes {
            self.metrics.set_depth(l.name, &l.queue.depth());
            if let Some(lag) = self.pace.lag(l.stats.through(), now) {
                self.metrics.lag.get_or_create(&SinkLabels { sink: l.name }).set(lag.round() as i64);
            }
        }
    }

    /// Sinks in an outage (retrying a failed delivery).
    pub fn failing(&self) -> Vec<&'static str> {
        self.lanes.iter().filter(|l| l.stats.retrying()).map(|l| l.name).collect()
    }
}

/// One sink's delivery metrics.
#[derive(Clone)]
pub struct SinkMetrics {
    delivered: [Counter; Table::COUNT],
    errors: Counter,
    retrying: IntGauge,
    through: IntGauge,
    in_hand: IntGauge,
}

impl SinkMetrics {
    /// A batch of `rows` was taken from the queue for delivery.
    pub fn taken(&self, rows: u64) {
        self.in_hand.set(rows as i64);
    }

    /// Rows taken from the queue and not yet committed.
    pub fn in_hand(&self) -> u64 {
        self.in_hand.get() as u64
    }

    /// A batch committed: its rows per table and the instant it covers.
    pub fn delivered(&self, tables: impl Iterator<Item = (Table, u64)>, through: i64) {
        for (t, n) in tables {
            self.delivered[t.index()].inc_by(n);
        }
        self.through.set(through);
        self.retrying.set(0);
        self.in_hand.set(0);
    }

    /// A delivery attempt failed and will be retried.
    pub fn failed(&self) {
        self.errors.inc();
        self.retrying.set(1);
    }

    pub fn delivered_total(&self) -> u64 {
        self.delivered.iter().map(Counter::get).sum()
    }

    pub fn errors(&self) -> u64 {
        self.errors.get()
    }

    pub fn retrying(&self) -> bool {
        self.retrying.get() != 0
    }

    pub fn through(&self) -> i64 {
        self.through.get()
    }

    /// Where the sink starts (what it already holds).
    pub fn set_through(&self, t: i64) {
        self.through.set(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_reads_back_and_renders_prometheus_text() {
        let m = Metrics::new(vec!["bearing_failure".into(), "tool_wear".into()]);
        let pg = m.sink("postgres");
        m.generated(Table::SensorData, 10);
        m.generated(Table::ScadaMachineData, 2);
        pg.delivered([(Table::SensorData, 7), (Table::FaultLabels, 1)].into_iter(), 1_772_323_260);
        pg.failed();
        m.set_depth(
            "postgres",
            &Depth { mem_rows: 3, mem_bytes: 300, spooled_rows: 0, spooled_batches: 0, spooled_bytes: 0 },
        );
        m.set_simulated(1_772_323_270);
        m.set_plant(&PlantStatus { states: [5, 2, 1, 0, 0], episodes: vec![1, 0], near: Vec::new() });
        assert_eq!(m.generated_total(), 12);
        assert_eq!((pg.delivered_total(), pg.errors(), pg.retrying(), pg.through()), (8, 1, true, 1_772_323_260));
        let text = m.encode();
        for line in [
            "genims_rows_generated_total{table=\"sensor_data\"} 10",
            "genims_rows_delivered_total{sink=\"postgres\",table=\"sensor_data\"} 7",
            "genims_delivery_errors_total{sink=\"postgres\"} 1",
            "genims_sink_delivered_through_seconds{sink=\"postgres\"} 1772323260",
            "genims_queue_bytes{sink=\"postgres\"} 300",
            "genims_simulated_time_seconds 1772323270",
            "genims_machines{state=\"running\"} 5",
            "genims_machines{state=\"setup\"} 0",
            "genims_episodes_active{pattern=\"bearing_failure\"} 1",
            "genims_episodes_active{pattern=\"tool_wear\"} 0",
            format!("genims_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")).as_str(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }

    /// The shipped Grafana dashboard queries only metrics the registry serves.
    #[test]
    fn the_dashboard_queries_metrics_that_exist() {
        let m = Metrics::new(vec!["bearing_failure".into()]);
        let _ = m.sink("postgres");
        m.lag.get_or_create(&SinkLabels { sink: "postgres" }).set(0);
        m.set_depth("postgres", &Depth::default());
        let served: std::collections::BTreeSet<String> = m
            .encode()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
            .collect();
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/grafana-genims.json")).expect("the dashboard is JSON");
        let mut queried = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if word.starts_with("genims_") {
                        assert!(
                            served.contains(word),
                            "panel `{}` queries {word}, which is not served: {served:?}",
                            panel["title"]
                        );
                        queried += 1;
                    }
                }
            }
        }
        assert!(queried >= 12, "the dashboard queries the registry ({queried} references)");
    }
}
