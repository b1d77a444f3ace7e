//! The daemon's metrics registry: what it generated and what each sink delivered, queued and
//! spooled, in Prometheus form (`genims_` prefix, `_total` counters, seconds and bytes).
//!
//! The release loop and the delivery workers update it; the statistics line reads it, and
//! [`Metrics::encode`] renders it in the Prometheus text format for a scrape endpoint. The
//! sinks themselves never see it.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::buffer::Depth;
use crate::rows::Table;

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
    simulated: IntGauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
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
            simulated: IntGauge::default(),
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
        Metrics { registry, ..m }
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

/// One sink's delivery metrics.
#[derive(Clone)]
pub struct SinkMetrics {
    delivered: [Counter; 7],
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
        let m = Metrics::new();
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
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
    }
}
