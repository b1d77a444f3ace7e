//! The row structs of the seven operational tables, each listing its cells in column order
//! (see `rows::Table::columns`). Identifiers borrow from the plant, so building a row
//! allocates nothing.

use crate::rows::{Cells, Row, Table};

#[derive(Clone, Copy)]
pub struct SensorRow<'a> {
    pub id: i64,
    pub sensor: &'a str,
    pub machine: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub ts: i64,
    pub value: f64,
    pub unit: &'a str,
    pub status: &'static str,
    pub quality: &'static str,
    /// below warning, above warning, below critical, above critical
    pub flags: [bool; 4],
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub std: f64,
    pub anomaly: f64,
    pub is_anomaly: bool,
    pub protocol: &'a str,
}

impl Row for SensorRow<'_> {
    const TABLE: Table = Table::SensorData;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.ts
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.int8(self.id);
        c.text(self.sensor);
        c.text(self.machine);
        c.text(self.line);
        c.text(self.factory);
        c.ts(self.ts);
        c.dec(self.value, 4);
        c.text(self.unit);
        c.text(self.status);
        c.text(self.quality);
        for f in self.flags {
            c.boolean(f);
        }
        c.dec(self.min, 4);
        c.dec(self.max, 4);
        c.dec(self.avg, 4);
        c.dec(self.std, 4);
        c.dec(self.anomaly, 4);
        c.boolean(self.is_anomaly);
        c.text("IoT");
        c.text(self.protocol);
        c.ts(self.ts);
    }
}

pub struct ScadaRow<'a> {
    pub id: i64,
    pub machine: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub ts: i64,
    pub state: &'static str,
    pub mode: &'static str,
    pub fault_code: Option<&'a str>,
    pub fault_description: Option<&'a str>,
    pub cumulative: i64,
    pub parts_shift: i32,
    pub rejected_shift: i32,
    pub target_cycle: i32,
    pub actual_cycle: Option<f64>,
    /// availability, performance, quality, oee (NULL before any planned time elapsed)
    pub oee: Option<[f64; 4]>,
    pub spindle_rpm: Option<i32>,
    pub feed_rate: Option<f64>,
    pub tool: Option<i32>,
    pub program: &'a str,
    pub power_kw: f64,
    pub energy_kwh: f64,
    pub temperature: Option<(f64, f64)>,
    pub pressure: Option<(f64, f64)>,
    pub downtime_shift: i32,
    pub last_fault: Option<i64>,
    pub uptime_shift: i32,
    pub active_alarms: i32,
    pub alarm_codes: Option<&'a str>,
    pub warning_codes: Option<&'a str>,
    pub shift: &'a str,
    pub operator: Option<&'a str>,
    pub quality: &'static str,
}

impl Row for ScadaRow<'_> {
    const TABLE: Table = Table::ScadaMachineData;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.ts
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.int8(self.id);
        c.text(self.machine);
        c.text(self.line);
        c.text(self.factory);
        c.ts(self.ts);
        c.text(self.state);
        c.text(self.mode);
        c.opt_text(self.fault_code);
        c.opt_text(self.fault_description);
        c.int8(self.cumulative);
        c.int4(self.parts_shift);
        c.int4(self.rejected_shift);
        c.int4(self.target_cycle);
        c.opt_dec(self.actual_cycle, 2);
        for i in 0..4 {
            c.opt_dec(self.oee.map(|o| o[i]), 2);
        }
        c.opt_int4(self.spindle_rpm);
        c.opt_dec(self.feed_rate, 2);
        c.opt_int4(self.tool);
        c.text(self.program);
        c.dec(self.power_kw, 2);
        c.dec(self.energy_kwh, 4);
        c.opt_dec(self.temperature.map(|t| t.0), 2);
        c.opt_dec(self.temperature.map(|t| t.1), 2);
        c.opt_dec(self.pressure.map(|p| p.0), 2);
        c.opt_dec(self.pressure.map(|p| p.1), 2);
        c.int4(self.downtime_shift);
        c.opt_ts(self.last_fault);
        c.int4(self.uptime_shift);
        c.int4(self.active_alarms);
        c.opt_text(self.alarm_codes);
        c.opt_text(self.warning_codes);
        c.text(self.shift);
        c.opt_text(self.operator);
        c.text("PLC");
        c.text(self.quality);
        c.ts(self.ts);
    }
}

pub struct FaultRow<'a> {
    pub id: i64,
    pub machine: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub code: &'a str,
    pub category: &'a str,
    pub severity: &'a str,
    pub description: &'a str,
    pub start: i64,
    pub end: i64,
    pub loss_units: i32,
    pub downtime_minutes: i32,
    pub cost: f64,
    pub root_cause_category: &'a str,
    pub root_cause: &'a str,
    pub sensors: &'a str,
    pub resolution: &'a str,
    pub ticket: &'a str,
    pub resolved_by: Option<&'a str>,
    pub detection: &'static str,
    pub predicted: bool,
    pub advance_hours: f64,
}

impl Row for FaultRow<'_> {
    const TABLE: Table = Table::MachineFaults;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.start
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.int8(self.id);
        c.text(self.machine);
        c.text(self.line);
        c.text(self.factory);
        c.text(self.code);
        c.text(self.category);
        c.text(self.severity);
        c.text(self.description);
        c.ts(self.start);
        c.ts(self.end);
        c.int4((self.end - self.start) as i32);
        c.int4(self.loss_units);
        c.int4(self.downtime_minutes);
        c.dec(self.cost, 2);
        c.text(self.root_cause_category);
        c.text(self.root_cause);
        c.text(self.sensors);
        c.text(self.resolution);
        c.text(self.ticket);
        c.opt_text(self.resolved_by);
        c.text(self.detection);
        c.boolean(self.predicted);
        c.dec(self.advance_hours, 2);
        c.text("resolved");
        c.ts(self.start);
        c.ts(self.end);
    }
}

pub struct MaintenanceRow<'a> {
    pub id: &'a str,
    pub machine: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub kind: &'static str,
    pub category: &'a str,
    pub priority: &'static str,
    pub scheduled: i64,
    /// Actual start and end (None when deferred).
    pub actual: Option<(i64, i64)>,
    pub description: &'a str,
    pub parts: Option<&'a str>,
    pub parts_cost: f64,
    pub labor_hours: f64,
    pub technician: Option<&'a str>,
    pub supervisor: Option<&'a str>,
    pub related_fault: Option<i64>,
    pub status: &'static str,
    pub notes: &'a str,
    pub follow_up: bool,
    pub next_due_day: Option<i64>,
}

/// Loaded labour cost per hour, USD.
pub const LABOR_RATE: f64 = 65.0;

impl Row for MaintenanceRow<'_> {
    const TABLE: Table = Table::MaintenanceEvents;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.scheduled
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.text(self.id);
        c.text(self.machine);
        c.text(self.line);
        c.text(self.factory);
        c.text(self.kind);
        c.text(self.category);
        c.text(self.priority);
        c.ts(self.scheduled);
        c.opt_ts(self.actual.map(|a| a.0));
        c.opt_ts(self.actual.map(|a| a.1));
        c.opt_int4(self.actual.map(|a| ((a.1 - a.0) / 60) as i32));
        c.text(self.description);
        c.opt_text(self.parts);
        c.dec(self.parts_cost, 2);
        c.dec(self.labor_hours, 2);
        let labor = (self.labor_hours * LABOR_RATE * 100.0).round() / 100.0;
        c.dec(labor, 2);
        c.dec(labor + (self.parts_cost * 100.0).round() / 100.0, 2);
        c.opt_text(self.technician);
        c.opt_text(self.supervisor);
        match self.related_fault {
            Some(f) => c.int8(f),
            None => c.null(),
        }
        c.text(self.status);
        c.text(self.notes);
        c.boolean(self.follow_up);
        match self.next_due_day {
            Some(d) => c.date(d),
            None => c.null(),
        }
        c.ts(self.scheduled);
        c.ts(self.actual.map_or(self.scheduled, |a| a.1));
    }
}

pub struct RunRow<'a> {
    pub id: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub product: &'a str,
    pub number: i32,
    pub batch: &'a str,
    pub work_order: &'a str,
    pub customer: Option<&'a str>,
    pub start: i64,
    pub end: i64,
    pub target: i32,
    pub actual: i32,
    pub rejected: i32,
    pub scrapped: i32,
    pub rework: i32,
    pub fpy: f64,
    pub defect_ppm: i32,
    pub grade: &'static str,
    /// availability, performance, quality, oee
    pub oee: [f64; 4],
    pub previous_product: Option<&'a str>,
    pub changeover_minutes: i32,
    pub shift: &'a str,
    pub supervisor: Option<&'a str>,
}

impl Row for RunRow<'_> {
    const TABLE: Table = Table::ProductionRuns;
    fn key(&self) -> &str {
        self.line
    }
    fn time(&self) -> i64 {
        self.end
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.text(self.id);
        c.text(self.line);
        c.text(self.factory);
        c.text(self.product);
        c.int4(self.number);
        c.text(self.batch);
        c.text(self.work_order);
        c.opt_text(self.customer);
        c.ts(self.start);
        c.ts(self.end);
        let minutes = ((self.end - self.start) / 60) as i32;
        c.int4(minutes);
        c.int4(minutes);
        c.int4(self.target);
        c.int4(self.actual);
        c.int4(self.rejected);
        c.int4(self.scrapped);
        c.int4(self.rework);
        c.dec(self.fpy, 2);
        c.int4(self.defect_ppm);
        c.text(self.grade);
        c.dec(self.oee[3], 2);
        c.dec(self.oee[0], 2);
        c.dec(self.oee[1], 2);
        c.dec(self.oee[2], 2);
        c.opt_text(self.previous_product);
        c.int4(self.changeover_minutes);
        c.text(self.shift);
        c.opt_text(self.supervisor);
        c.text("completed");
        c.ts(self.start);
        c.ts(self.end);
    }
}

pub struct HealthRow<'a> {
    pub id: i64,
    pub sensor: &'a str,
    pub machine: &'a str,
    pub ts: i64,
    pub score: f64,
    pub drift_pct: f64,
    pub noise: f64,
    pub days_since_calibration: i32,
    pub calibration_due: bool,
    pub drift_detected: bool,
    pub packet_loss_pct: f64,
    pub latency_ms: f64,
    pub last_communication: Option<i64>,
    pub failures_24h: i32,
    pub battery: Option<f64>,
    pub stuck: bool,
    pub erratic: bool,
    pub out_of_range_24h: i32,
    pub status: &'static str,
}

impl Row for HealthRow<'_> {
    const TABLE: Table = Table::SensorHealth;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.ts
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.int8(self.id);
        c.text(self.sensor);
        c.text(self.machine);
        c.ts(self.ts);
        c.dec(self.score, 2);
        c.dec(self.drift_pct, 4);
        c.dec(self.noise, 4);
        c.int4(self.days_since_calibration);
        c.boolean(self.calibration_due);
        c.boolean(self.drift_detected);
        c.dec(self.packet_loss_pct, 2);
        c.dec(self.latency_ms, 2);
        c.opt_ts(self.last_communication);
        c.int4(self.failures_24h);
        c.opt_dec(self.battery, 2);
        match self.battery {
            Some(b) => c.boolean(b < 20.0),
            None => c.null(),
        }
        c.boolean(self.stuck);
        c.boolean(self.erratic);
        c.int4(self.out_of_range_24h);
        c.text(self.status);
        // Written when the hour it summarises has ended.
        c.ts(self.ts + 3600);
    }
}

pub struct LabelRow<'a> {
    pub id: i64,
    pub machine: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub pattern: &'a str,
    pub code: &'a str,
    pub severity: &'a str,
    pub variant: &'a str,
    pub onset: i64,
    pub warning: i64,
    pub critical: i64,
    pub fault: i64,
    pub fault_end: Option<i64>,
    pub end: i64,
    pub reaches_fault: bool,
    pub sensors: &'a str,
    pub parameters: &'a str,
}

impl Row for LabelRow<'_> {
    const TABLE: Table = Table::FaultLabels;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.onset
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.int8(self.id);
        c.text(self.machine);
        c.text(self.line);
        c.text(self.factory);
        c.text(self.pattern);
        c.text(self.code);
        c.text(self.severity);
        c.text(self.variant);
        c.ts(self.onset);
        c.ts(self.warning);
        c.ts(self.critical);
        c.ts(self.fault);
        c.opt_ts(self.fault_end);
        c.ts(self.end);
        c.boolean(self.reaches_fault);
        c.text(self.sensors);
        c.text(self.parameters);
    }
}

/// One data-quality defect of the delivered readings (see `sim::quality`).
pub struct QualityLabelRow<'a> {
    pub id: i64,
    pub defect: &'static str,
    pub machine: &'a str,
    pub line: &'a str,
    pub factory: &'a str,
    pub sensor: Option<&'a str>,
    pub start: i64,
    pub end: i64,
    pub records: i32,
    pub record_id: Option<i64>,
    pub detail: &'a str,
}

impl Row for QualityLabelRow<'_> {
    const TABLE: Table = Table::QualityLabels;
    fn key(&self) -> &str {
        self.machine
    }
    fn time(&self) -> i64 {
        self.start
    }
    fn visit<C: Cells + ?Sized>(&self, c: &mut C) {
        c.int8(self.id);
        c.text(self.defect);
        c.text(self.machine);
        c.text(self.line);
        c.text(self.factory);
        c.opt_text(self.sensor);
        c.ts(self.start);
        c.ts(self.end);
        c.int4(self.records);
        match self.record_id {
            Some(id) => c.int8(id),
            None => c.null(),
        }
        c.text(self.detail);
    }
}
