//! The events of a unit: fault labels, machine faults with their corrective maintenance,
//! the recalibration that ends a sensor's drift, the calibration programme's work orders and
//! preventive maintenance.

use super::*;

/// Comma-separated ids of the sensors an episode moves.
pub(super) fn affected_sensors(engine: &Engine, ep: &Episode, sensors: std::ops::Range<usize>) -> String {
    if let Some(s) = ep.sensor {
        return engine.plant.sensors[s].id.clone();
    }
    let pattern = &engine.catalogue.patterns[ep.pattern];
    sensors
        .filter(|&s| pattern.signature.iter().any(|g| g.role == engine.plant.sensors[s].role.name))
        .map(|s| engine.plant.sensors[s].id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The notes of a recalibration work order: the sensor by id and name — `SNS-… (Name)`,
/// which the sensor_drift detector looks for — and what the technician found.
pub(super) fn calibration_notes(ep: &Episode, sensor: &crate::plant::Sensor, root_cause: &str) -> String {
    let days = (ep.fault_at - ep.onset) as f64 / DAY as f64;
    let found = match ep.drift_mode {
        DriftMode::Stuck => "stuck at one value".to_owned(),
        DriftMode::Erratic => "erratic readings".to_owned(),
        DriftMode::Offset => format!("reading {:.1} % off", ep.drift_pct_per_day * days),
    };
    format!(
        "Sensor {} ({}) found {found}, {:.0} % packet loss. Root cause: {root_cause}",
        sensor.id,
        sensor.role.label,
        ep.packet_loss * 100.0
    )
}

pub(super) fn parts_cost(ep: &Episode) -> f64 {
    let base = match ep.severity.as_str() {
        "critical" => 2400.0,
        "major" => 900.0,
        _ => 250.0,
    };
    round2(base * (1.0 + (ep.id % 7) as f64 / 10.0))
}

/// `YYYYMMDDHHMM` of an instant.
pub(super) fn compact_time(t: i64) -> String {
    let m = t.rem_euclid(DAY) / 60;
    format!("{}{:02}{:02}", day_tag(t), m / 60, m % 60)
}

impl Engine {
    /// The events starting in `[from, to)` of unit `spec`.
    pub(super) fn event_rows<E: Emit>(&self, spec: UnitSpec, window: (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
        self.label_rows(spec, window, tl, out);
        self.fault_rows(spec, window, tl, out);
        self.recalibration_rows(spec, window, tl, out);
        self.calibration_rows(spec, window, tl, out);
        self.preventive_rows(spec, window, tl, out);
        if self.lines[self.plant.machines[spec.machine].line].output_machine == spec.machine {
            self.run_rows(spec.machine, window, tl, out);
        }
    }

    /// The ground-truth labels of the unit's episodes.
    pub(super) fn label_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        (from, to): (i64, i64),
        tl: &Timeline,
        out: &mut Step<'_, E>,
    ) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let sensors = self.sensors_of(m);
        // Ground-truth labels: every episode touching the window, once, in the unit holding
        // the later of its onset and the window start — an injected episode's in its last
        // minute (it may be cleared early), or the window's last minute. A clear that ends
        // an episode at once (after its trip, or replaced by another) puts its label at the
        // clear: a stream applies a clear at a minute it has not generated yet.
        for ep in &tl.episodes {
            let anchor = if ep.injected {
                (ep.end() - 60).max(ep.cleared_at.unwrap_or(i64::MIN)).min(spec.window.1 - 60).max(spec.window.0)
            } else {
                ep.onset.max(spec.window.0)
            };
            if !(anchor >= from && anchor < to && ep.overlaps(spec.window.0, spec.window.1)) {
                continue;
            }
            if spec.continues && !ep.injected && ep.onset < spec.window.0 {
                // Labelled by the window this one continues.
                continue;
            }
            let pattern = &self.catalogue.patterns[ep.pattern];
            let affected = affected_sensors(self, ep, sensors.clone());
            let params = serde_json::json!({
                "shape": pattern.progression.shape,
                "variant": ep.variant,
                "cycle_time_pct": round2(ep.cycle_time_pct),
                "power_pct": round2(ep.power_pct),
                "reject_pct": round2(ep.reject_pct),
                "drift_mode": ep.sensor.map(|_| format!("{:?}", ep.drift_mode).to_lowercase()),
                "drift_pct_per_day": ep.sensor.map(|_| (ep.drift_pct_per_day * 10_000.0).round() / 10_000.0),
                "packet_loss_pct": ep.sensor.map(|_| round2(ep.packet_loss * 100.0)),
                "paused_minutes": ep.paused_secs() / 60,
                "source": if ep.injected { "injected" } else { "catalogue" },
                "cleared_at": ep.cleared_at.map(crate::clock::instant_string),
            })
            .to_string();
            let reaches = ep.ending == Ending::Fault;
            let row = LabelRow {
                id: ep.id,
                machine: &machine.id,
                line: line_id,
                factory: factory_id,
                pattern: &pattern.name,
                code: &pattern.code,
                severity: &ep.severity,
                variant: &ep.variant,
                onset: ep.onset,
                warning: ep.warning_at.min(ep.fault_at),
                critical: ep.critical_at.min(ep.fault_at),
                fault: ep.fault_at,
                fault_end: reaches.then_some(ep.fault_end),
                end: ep.repair_end.max(ep.fault_at),
                reaches_fault: reaches,
                sensors: &affected,
                parameters: &params,
            };
            if ep.injected {
                out.push_at(&row, anchor);
            } else {
                out.push(&row);
            }
            out.out.labelled(ep.pattern);
        }
    }

    /// Faults that trip in the unit, each with its corrective maintenance.
    pub(super) fn fault_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        (from, to): (i64, i64),
        tl: &Timeline,
        out: &mut Step<'_, E>,
    ) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let sensors = self.sensors_of(m);
        let lp = &self.lines[machine.line];
        let staff = |list: &[Vec<u32>; 6], t: i64, salt: usize| self.on_shift(tl, list, t, salt + m);
        // Faults that trip in this unit, each with its corrective maintenance.
        for ep in tl.episodes.iter().filter(|e| e.ending == Ending::Fault && e.fault_at >= from && e.fault_at < to) {
            let pattern = &self.catalogue.patterns[ep.pattern];
            let affected = affected_sensors(self, ep, sensors.clone());
            let ticket = format!("CM-{:010}", ep.id);
            let technician = staff(&lp.technicians, ep.fault_end, ep.id as usize);
            let supervisor = staff(&lp.supervisors, ep.fault_end, ep.id as usize);
            let cycle = tl
                .at(ep.fault_at)
                .map_or(300.0, |mi| plant.line_products[tl.runs[mi.run as usize].lpm].cycle_time_s as f64);
            let downtime_min = (ep.repair_end - ep.fault_at) / 60;
            let parts_cost = parts_cost(ep);
            let warned = ep.fault_at - ep.warning_at;
            let predicted = warned >= HOUR;
            out.push(&FaultRow {
                id: ep.id,
                machine: &machine.id,
                line: line_id,
                factory: factory_id,
                code: &pattern.code,
                category: &pattern.category,
                severity: &ep.severity,
                description: &pattern.description,
                start: ep.fault_at,
                end: ep.fault_end,
                loss_units: (downtime_min as f64 * 60.0 / cycle) as i32,
                downtime_minutes: downtime_min as i32,
                cost: round2(downtime_min as f64 / 60.0 * (150.0 + machine.asset_value_usd * 0.0004) + parts_cost),
                root_cause_category: &pattern.category,
                root_cause: &pattern.root_cause,
                sensors: &affected,
                resolution: &pattern.resolution,
                ticket: &ticket,
                resolved_by: technician.as_ref().map(EmployeeId::as_str),
                detection: if predicted { "sensor_threshold" } else { "automatic" },
                predicted,
                advance_hours: if predicted { round2(warned as f64 / HOUR as f64) } else { 0.0 },
            });
            let parts = pattern.parts.join(", ");
            let notes = format!("Root cause: {}", pattern.root_cause);
            out.push(&MaintenanceRow {
                id: &ticket,
                machine: &machine.id,
                line: line_id,
                factory: factory_id,
                kind: if ep.severity == "critical" { "breakdown" } else { "corrective" },
                category: &pattern.maintenance_category,
                priority: match ep.severity.as_str() {
                    "critical" => "critical",
                    "major" => "high",
                    "minor" => "medium",
                    _ => "low",
                },
                scheduled: ep.fault_end,
                actual: Some((ep.fault_end, ep.repair_end)),
                description: &pattern.resolution,
                parts: (!parts.is_empty()).then_some(parts.as_str()),
                parts_cost,
                labor_hours: round2((ep.repair_end - ep.fault_end) as f64 / HOUR as f64 * 1.5),
                technician: technician.as_ref().map(EmployeeId::as_str),
                supervisor: supervisor.as_ref().map(EmployeeId::as_str),
                related_fault: Some(ep.id),
                status: "completed",
                notes: &notes,
                follow_up: ep.severity == "critical",
                next_due_day: None,
            });
        }
    }

    /// Drifting sensors recalibrated in the unit.
    pub(super) fn recalibration_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        (from, to): (i64, i64),
        tl: &Timeline,
        out: &mut Step<'_, E>,
    ) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let lp = &self.lines[machine.line];
        let staff = |list: &[Vec<u32>; 6], t: i64, salt: usize| self.on_shift(tl, list, t, salt + m);
        // Sensors recalibrated in this unit: a drift episode ends with the work order that
        // ended it, naming the sensor and what the technician found.
        for ep in tl.episodes.iter().filter(|e| e.ending == Ending::None && e.fault_at >= from && e.fault_at < to) {
            let (Some(s), pattern) = (ep.sensor, &self.catalogue.patterns[ep.pattern]) else { continue };
            let sensor = &plant.sensors[s];
            // Found at a scheduled calibration, the work is that calibration's; else it is
            // called for, 20–60 minutes.
            let (scheduled, start) = match self.calibrations(s, ep.onset, ep.fault_at).first() {
                Some(c) if c.done + c.labour == ep.fault_at => (c.due, c.done),
                _ => {
                    let mut r = rng::stream(self.seed, &[rng::label("calibration"), ep.id as u64]);
                    let start = ep.fault_at - r.random_range(2..=6) * 600;
                    (start, start)
                }
            };
            let labour = ep.fault_at - start;
            let ticket = format!("CM-{:010}", ep.id);
            let parts = pattern.parts.join(", ");
            let notes = calibration_notes(ep, sensor, &pattern.root_cause);
            let technician = staff(&lp.technicians, start, ep.id as usize);
            let supervisor = staff(&lp.supervisors, start, ep.id as usize);
            let row = MaintenanceRow {
                id: &ticket,
                machine: &machine.id,
                line: line_id,
                factory: factory_id,
                kind: "corrective",
                category: &pattern.maintenance_category,
                priority: if ep.severity == "minor" { "medium" } else { "high" },
                scheduled,
                actual: Some((start, ep.fault_at)),
                description: &pattern.resolution,
                parts: (!parts.is_empty()).then_some(parts.as_str()),
                parts_cost: round2(40.0 * (1.0 + (ep.id % 7) as f64 / 10.0)),
                labor_hours: round2(labour as f64 / HOUR as f64),
                technician: technician.as_ref().map(EmployeeId::as_str),
                supervisor: supervisor.as_ref().map(EmployeeId::as_str),
                related_fault: None,
                status: "completed",
                notes: &notes,
                follow_up: false,
                next_due_day: Some(self.calibration(s, self.last_calibration(s, ep.fault_at).k + 1).due_day),
            };
            // Known when the work is done.
            out.push_at(&row, ep.fault_at);
        }
    }

    /// The work orders of the calibration programme begun in `[from, to)` on the sensors of
    /// unit `spec`'s machine — but for one that found a drift, whose corrective work order
    /// (above) records it.
    pub(super) fn calibration_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        (from, to): (i64, i64),
        tl: &Timeline,
        out: &mut Step<'_, E>,
    ) {
        let plant = &self.plant;
        let machine = &plant.machines[spec.machine];
        let lp = &self.lines[machine.line];
        for s in self.sensors_of(spec.machine) {
            for c in self.calibrations(s, from, to) {
                if tl.episodes.iter().any(|e| e.sensor == Some(s) && e.fault_at == c.done + c.labour) {
                    continue;
                }
                let sensor = &plant.sensors[s];
                let id = format!("CAL-{}-{}", sensor.id, compact_time(c.done));
                let description = format!("Scheduled calibration of the {} sensor", sensor.role.label);
                let late = match c.late_days() {
                    0 => String::new(),
                    n => format!(" {n} days after it fell due"),
                };
                let notes = format!(
                    "Sensor {} ({}) as found within tolerance; adjusted and certified{late}",
                    sensor.id, sensor.role.label
                );
                let technician = self.on_shift(tl, &lp.technicians, c.done, s);
                let supervisor = self.on_shift(tl, &lp.supervisors, c.done, s);
                let row = MaintenanceRow {
                    id: &id,
                    machine: &machine.id,
                    line: &plant.lines[machine.line].id,
                    factory: &plant.factories[machine.factory].id,
                    kind: "preventive",
                    category: "calibration",
                    priority: "low",
                    scheduled: c.due,
                    actual: Some((c.done, c.done + c.labour)),
                    description: &description,
                    parts: None,
                    parts_cost: 0.0,
                    labor_hours: round2(c.labour as f64 / HOUR as f64),
                    technician: technician.as_ref().map(EmployeeId::as_str),
                    supervisor: supervisor.as_ref().map(EmployeeId::as_str),
                    related_fault: None,
                    status: "completed",
                    notes: &notes,
                    follow_up: false,
                    next_due_day: Some(self.calibration(s, c.k + 1).due_day),
                };
                out.push_at(&row, c.done);
            }
        }
    }

    /// Preventive maintenance planned in the unit.
    pub(super) fn preventive_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        (from, to): (i64, i64),
        tl: &Timeline,
        out: &mut Step<'_, E>,
    ) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let lp = &self.lines[machine.line];
        let staff = |list: &[Vec<u32>; 6], t: i64, salt: usize| self.on_shift(tl, list, t, salt + m);
        // Preventive maintenance planned in this unit.
        for pm in tl.preventive.iter().filter(|p| p.start >= from && p.start < to) {
            let id = format!("PM-{}-{}", machine.id, compact_time(pm.start));
            let schedule = machine.maintenance_schedule;
            let (category, parts, cost) = match schedule {
                "daily" => ("lubrication", None, 15.0),
                "weekly" => ("lubrication", Some("lubricant, filters"), 60.0),
                "monthly" => ("calibration", Some("filters, seals"), 240.0),
                _ => ("mechanical", Some("filters, belts, seals, bearings"), 900.0),
            };
            let description = format!("Scheduled {schedule} preventive maintenance");
            let (technician, supervisor) = (staff(&lp.technicians, pm.start, 1), staff(&lp.supervisors, pm.start, 1));
            out.push(&MaintenanceRow {
                id: &id,
                machine: &machine.id,
                line: line_id,
                factory: factory_id,
                kind: "preventive",
                category,
                priority: if machine.criticality == "critical" { "high" } else { "medium" },
                scheduled: pm.start,
                actual: (!pm.deferred).then_some((pm.start, pm.end)),
                description: &description,
                parts,
                parts_cost: if pm.deferred { 0.0 } else { cost },
                labor_hours: if pm.deferred { 0.0 } else { round2((pm.end - pm.start) as f64 / HOUR as f64) },
                technician: technician.as_ref().map(EmployeeId::as_str),
                supervisor: supervisor.as_ref().map(EmployeeId::as_str),
                related_fault: None,
                status: if pm.deferred { "deferred" } else { "completed" },
                notes: if pm.deferred {
                    "Deferred: the machine was down for a fault repair"
                } else {
                    "Completed as planned"
                },
                follow_up: pm.deferred,
                next_due_day: Some(pm.next_start.div_euclid(DAY)),
            });
        }
    }

    /// One of the staff list's people on shift at `t` (by the machine's timeline), picked by `salt`.
    pub(super) fn on_shift(&self, tl: &Timeline, list: &[Vec<u32>; 6], t: i64, salt: usize) -> Option<EmployeeId> {
        let code = tl.shift_code_at(t).map_or(0, usize::from);
        crate::sim::pick(&list[code], salt)
    }
}
