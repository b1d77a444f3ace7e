//! The operational data model: the tables genims writes, their columns, and the typed rows
//! the engine emits.
//!
//! This is the seam between the engine and the sinks. The engine builds a typed row (one
//! struct per table, in `sim::records`) and hands it to an [`Emit`] receiver with the
//! instant at which it may be released; a row lists its cells in column order through the
//! [`Cells`] visitor. The engine knows nothing of encodings: the receivers that turn rows
//! into CSV, JSON, SQL, PostgreSQL binary COPY or Kafka records live in `encode`, chosen
//! by each sink.

/// The operational tables genims writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    SensorData,
    ScadaMachineData,
    MachineFaults,
    MaintenanceEvents,
    ProductionRuns,
    SensorHealth,
    FaultLabels,
    QualityLabels,
}

impl Table {
    /// How many tables there are.
    pub const COUNT: usize = 8;
    pub const ALL: [Table; Table::COUNT] = [
        Table::SensorData,
        Table::ScadaMachineData,
        Table::MachineFaults,
        Table::MaintenanceEvents,
        Table::ProductionRuns,
        Table::SensorHealth,
        Table::FaultLabels,
        Table::QualityLabels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::SensorData => "sensor_data",
            Table::ScadaMachineData => "scada_machine_data",
            Table::MachineFaults => "machine_faults",
            Table::MaintenanceEvents => "maintenance_events",
            Table::ProductionRuns => "production_runs",
            Table::SensorHealth => "sensor_health",
            Table::FaultLabels => "fault_labels",
            Table::QualityLabels => "data_quality_labels",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Large tables get one file (and partition) per UTC day.
    pub fn split_by_day(self) -> bool {
        matches!(self, Table::SensorData | Table::ScadaMachineData)
    }

    /// The columns genims writes, in order: every column of the table, so files load with a
    /// plain `COPY table FROM file CSV HEADER`. created_at/updated_at hold when the record
    /// came into being in simulated time (never the wall clock), keeping output deterministic.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::SensorData => SENSOR_DATA,
            Table::ScadaMachineData => SCADA,
            Table::MachineFaults => FAULTS,
            Table::MaintenanceEvents => MAINTENANCE,
            Table::ProductionRuns => RUNS,
            Table::SensorHealth => HEALTH,
            Table::FaultLabels => LABELS,
            Table::QualityLabels => QUALITY_LABELS,
        }
    }

    /// The id column whose sequence must be advanced after explicit ids are loaded.
    pub fn serial(self) -> Option<&'static str> {
        match self {
            Table::SensorData => Some("sensor_data_id"),
            Table::ScadaMachineData => Some("scada_id"),
            Table::MachineFaults => Some("fault_id"),
            Table::SensorHealth => Some("health_id"),
            _ => None,
        }
    }
}

pub const SENSOR_DATA: &[&str] = &[
    "sensor_data_id",
    "sensor_id",
    "machine_id",
    "line_id",
    "factory_id",
    "timestamp",
    "measurement_value",
    "measurement_unit",
    "status",
    "quality",
    "is_below_warning",
    "is_above_warning",
    "is_below_critical",
    "is_above_critical",
    "min_value_1min",
    "max_value_1min",
    "avg_value_1min",
    "std_dev_1min",
    "anomaly_score",
    "is_anomaly",
    "data_source",
    "protocol",
    "created_at",
];
pub const SCADA: &[&str] = &[
    "scada_id",
    "machine_id",
    "line_id",
    "factory_id",
    "timestamp",
    "machine_state",
    "operation_mode",
    "fault_code",
    "fault_description",
    "parts_produced_cumulative",
    "parts_produced_shift",
    "parts_rejected_shift",
    "target_cycle_time_seconds",
    "actual_cycle_time_seconds",
    "availability_percentage",
    "performance_percentage",
    "quality_percentage",
    "oee_percentage",
    "spindle_speed_rpm",
    "feed_rate_mm_min",
    "tool_number",
    "program_number",
    "power_consumption_kw",
    "energy_consumed_kwh",
    "temperature_setpoint_c",
    "temperature_actual_c",
    "pressure_setpoint_bar",
    "pressure_actual_bar",
    "downtime_seconds_shift",
    "last_fault_timestamp",
    "uptime_seconds_shift",
    "active_alarms",
    "alarm_codes",
    "warning_codes",
    "shift_id",
    "operator_id",
    "data_source",
    "data_quality",
    "created_at",
];
pub const FAULTS: &[&str] = &[
    "fault_id",
    "machine_id",
    "line_id",
    "factory_id",
    "fault_code",
    "fault_category",
    "fault_severity",
    "fault_description",
    "fault_start_time",
    "fault_end_time",
    "fault_duration_seconds",
    "production_loss_units",
    "downtime_minutes",
    "estimated_cost_usd",
    "root_cause_category",
    "root_cause_description",
    "contributing_sensors",
    "resolution_action",
    "maintenance_ticket_id",
    "resolved_by",
    "detection_method",
    "predicted_in_advance",
    "advance_warning_hours",
    "status",
    "created_at",
    "updated_at",
];
pub const MAINTENANCE: &[&str] = &[
    "maintenance_id",
    "machine_id",
    "line_id",
    "factory_id",
    "maintenance_type",
    "maintenance_category",
    "priority",
    "scheduled_start",
    "actual_start",
    "actual_end",
    "duration_minutes",
    "work_description",
    "parts_replaced",
    "parts_cost_usd",
    "labor_hours",
    "labor_cost_usd",
    "total_cost_usd",
    "technician_id",
    "supervisor_id",
    "related_fault_id",
    "completion_status",
    "notes",
    "follow_up_required",
    "next_maintenance_due",
    "created_at",
    "updated_at",
];
pub const RUNS: &[&str] = &[
    "run_id",
    "line_id",
    "factory_id",
    "product_id",
    "run_number",
    "batch_number",
    "work_order_number",
    "customer_id",
    "run_start_time",
    "run_end_time",
    "planned_duration_minutes",
    "actual_duration_minutes",
    "target_quantity",
    "actual_quantity",
    "rejected_quantity",
    "scrapped_quantity",
    "rework_quantity",
    "first_pass_yield_percentage",
    "defect_rate_ppm",
    "quality_grade",
    "oee_percentage",
    "availability_percentage",
    "performance_percentage",
    "quality_percentage",
    "previous_product_id",
    "changeover_time_minutes",
    "shift_id",
    "supervisor_id",
    "status",
    "created_at",
    "updated_at",
];
pub const HEALTH: &[&str] = &[
    "health_id",
    "sensor_id",
    "machine_id",
    "timestamp",
    "health_score",
    "drift_percentage",
    "noise_level",
    "days_since_calibration",
    "is_calibration_due",
    "calibration_drift_detected",
    "packet_loss_percentage",
    "average_latency_ms",
    "last_communication",
    "communication_failures_24h",
    "battery_percentage",
    "is_low_battery",
    "stuck_value_detected",
    "erratic_readings_detected",
    "out_of_range_readings_24h",
    "overall_status",
    "created_at",
];
pub const QUALITY_LABELS: &[&str] = &[
    "defect_id",
    "defect",
    "machine_id",
    "line_id",
    "factory_id",
    "sensor_id",
    "start_time",
    "end_time",
    "records",
    "record_id",
    "detail",
];
pub const LABELS: &[&str] = &[
    "episode_id",
    "machine_id",
    "line_id",
    "factory_id",
    "pattern",
    "fault_code",
    "severity",
    "variant",
    "onset_time",
    "warning_time",
    "critical_time",
    "fault_time",
    "fault_end_time",
    "end_time",
    "reaches_fault",
    "affected_sensors",
    "parameters",
];

/// Receives a row's cells in column order.
pub trait Cells {
    fn null(&mut self);
    fn text(&mut self, s: &str);
    fn int4(&mut self, v: i32);
    fn int8(&mut self, v: i64);
    /// A decimal with `scale` digits after the point.
    fn dec(&mut self, v: f64, scale: u8);
    fn boolean(&mut self, b: bool);
    /// A UTC timestamp, Unix seconds.
    fn ts(&mut self, t: i64);
    /// A date, days since 1970-01-01.
    fn date(&mut self, days: i64);
    /// A time of day, seconds since midnight.
    fn time(&mut self, secs: i64);

    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }
    fn opt_ts(&mut self, t: Option<i64>) {
        match t {
            Some(t) => self.ts(t),
            None => self.null(),
        }
    }
    fn opt_dec(&mut self, v: Option<f64>, scale: u8) {
        match v {
            Some(v) => self.dec(v, scale),
            None => self.null(),
        }
    }
    fn opt_int4(&mut self, v: Option<i32>) {
        match v {
            Some(v) => self.int4(v),
            None => self.null(),
        }
    }
}

/// A row of an operational table.
pub trait Row {
    const TABLE: Table;
    fn visit<C: Cells + ?Sized>(&self, c: &mut C);
    /// The message key for Kafka: the machine the row belongs to.
    fn key(&self) -> &str;
    /// When the row happened (Unix seconds): the Kafka record timestamp.
    fn time(&self) -> i64;
}

/// Receives the rows the engine emits for one unit of work (or one step of it).
///
/// `at` is the instant from which the row may be released to a live consumer: the row's own
/// time for readings and events, the end of the hour for an hourly summary, always held
/// inside the span the engine is generating. Backfill ignores it; the stream cuts ticks by it.
pub trait Emit {
    fn emit<R: Row>(&mut self, row: &R, at: i64);
    /// A ground-truth label for an episode of catalogue pattern `pattern` was emitted (for
    /// the run summary).
    fn labelled(&mut self, _pattern: usize) {}
    /// About `rows` rows of `table` follow (lets a receiver reserve room).
    fn expect(&mut self, _table: Table, _rows: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_are_the_tables_columns_in_ddl_order() {
        let ddl = [
            include_str!("../sql/20_events.sql"),
            include_str!("../sql/30_timeseries.sql"),
            include_str!("../sql/40_labels.sql"),
        ]
        .join("\n");
        for t in Table::ALL {
            let start = ddl
                .find(&format!("CREATE TABLE IF NOT EXISTS {} (", t.name()))
                .unwrap_or_else(|| panic!("{} not in DDL", t.name()));
            let end = start + ddl[start..].find("\n)").unwrap();
            let cols: Vec<&str> = ddl[start..end].lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
            assert_eq!(cols, t.columns(), "{}: writer columns must be every DDL column in order", t.name());
        }
    }
}
