//! The SCADA record of each minute of a unit: state, counters, OEE, set points and the
//! alarms its sensors raised, and the shift totals carried from minute to minute.

use super::*;

/// What a minute's SCADA row reports of the readings of its first tick: alarm and warning
/// codes, and the controlled temperature and pressure the machine shows.
#[derive(Default)]
pub(super) struct MinuteReadings {
    pub(super) alarm_codes: String,
    pub(super) warning_codes: String,
    pub(super) alarms: i32,
    pub(super) temp: Option<f64>,
    pub(super) pressure: Option<f64>,
}

/// A shift's running totals (seconds for time).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ShiftTotals {
    pub(super) parts: i64,
    pub(super) rejects: i64,
    pub(super) up: i64,
    pub(super) planned: i64,
}

impl MinuteReadings {
    /// A new minute (the codes' buffers are kept).
    pub(super) fn clear(&mut self) {
        self.alarm_codes.clear();
        self.warning_codes.clear();
        self.alarms = 0;
        self.temp = None;
        self.pressure = None;
    }

    /// Sensor `s` of machine `m` read `value` with `status` and its threshold `flags`.
    pub(super) fn add(
        &mut self,
        engine: &Engine,
        m: usize,
        s: usize,
        code: &str,
        (value, status, flags): (f64, &str, [bool; 4]),
    ) {
        if status == "critical" || status == "fault" {
            self.alarms += 1;
            let sep = if self.alarm_codes.is_empty() { "" } else { "," };
            let _ = write!(self.alarm_codes, "{sep}{code}-{}", if flags[3] { "HH" } else { "LL" });
        } else if status == "warning" {
            let sep = if self.warning_codes.is_empty() { "" } else { "," };
            let _ = write!(self.warning_codes, "{sep}{code}-{}", if flags[1] { "H" } else { "L" });
        }
        if Some(s) == engine.machines[m].temp_sensor {
            self.temp = Some(value);
        }
        if Some(s) == engine.machines[m].pressure_sensor {
            self.pressure = Some(value);
        }
    }
}

impl ShiftTotals {
    pub(super) fn add(&mut self, mi: &crate::sim::machine::Minute) {
        self.parts += i64::from(mi.parts);
        self.rejects += i64::from(mi.rejects);
        self.up += i64::from(mi.state == State::Running) * 60;
        self.planned += i64::from(mi.planned) * 60;
    }
}

impl DayRun<'_> {
    /// The SCADA row of minute `t`, then the counters and shift totals carried past it.
    pub(super) fn scada_row<E: Emit>(&mut self, t: i64, minute: &MinuteReadings, out: &mut Step<'_, E>) {
        let engine = self.engine;
        let (spec, tl) = (self.spec, &self.tl);
        let m = spec.machine;
        let plant = &engine.plant;
        let machine = &plant.machines[m];
        let (machine_id, line_id, factory_id) = engine.place(machine);
        let k = tl.minute_index(t);
        let mi = &tl.minutes[k];
        if mi.shift.start != self.cur_shift {
            self.cur_shift = mi.shift.start;
            self.shift = ShiftTotals::default();
        }
        let shift = self.shift;
        let run = &tl.runs[mi.run as usize];
        let load = engine.load(tl, mi.run);
        let lpm = &plant.line_products[run.lpm];
        let product = &plant.products[lpm.product];
        let ep = mi.episode.map(|i| &tl.episodes[i as usize]);
        let pattern = ep.map(|e| &engine.catalogue.patterns[e.pattern]);
        let faulted = mi.state == State::Fault;
        let params = &engine.machines[m];
        let running = mi.state == State::Running;
        let program = format!("PRG-{}", product.spec.code);
        let shift_idx = machine.factory * 6 + usize::from(mi.shift.code);
        let shift_id = id("SHF", shift_idx);
        let ops = &engine.lines[machine.line].operators[usize::from(mi.shift.code)];
        let operator = crate::sim::pick(ops, m + (mi.shift.start / HOUR) as usize);
        let tool = params.spindle_rpm.map(|_| {
            let last_change = tl
                .episodes
                .iter()
                .filter(|e| e.ending == Ending::ToolChange && e.repair_end <= t)
                .map(|e| e.id)
                .max()
                .unwrap_or(0);
            1 + ((run.lpm as i64 * 7 + last_change * 13) % 24) as i32
        });
        let row = ScadaRow {
            id: (t - ID_EPOCH) / SCADA_STEP * plant.machines.len() as i64 + m as i64 + 1,
            machine: machine_id,
            line: line_id,
            factory: factory_id,
            ts: t,
            state: mi.state.name(),
            mode: match mi.state {
                State::Setup | State::Maintenance => "manual",
                _ => "auto",
            },
            fault_code: faulted.then(|| pattern.map(|p| p.code.as_str())).flatten(),
            fault_description: faulted.then(|| pattern.map(|p| p.description.as_str())).flatten(),
            cumulative: self.cum.parts,
            parts_shift: shift.parts as i32,
            rejected_shift: shift.rejects as i32,
            target_cycle: lpm.cycle_time_s as i32,
            actual_cycle: running.then_some(round2(mi.actual_cycle)),
            oee: oee(shift.up, shift.planned, shift.parts, shift.rejects, lpm.cycle_time_s as f64),
            // Heavier work turns slower and feeds harder (on a realistic plant; load 0 otherwise).
            spindle_rpm: params.spindle_rpm.map(|r| {
                if running {
                    (f64::from(r) * (1.0 - 0.15 * load)).round() as i32
                } else {
                    0
                }
            }),
            feed_rate: params.feed_rate.map(|f| if running { f * (1.0 + 0.2 * load) } else { 0.0 }),
            tool,
            program: &program,
            power_kw: round2(mi.power_kw),
            energy_kwh: self.cum.energy_kwh,
            temperature: params
                .temp_sensor
                .zip(minute.temp)
                .map(|(s, v)| (round2(engine.sensors[s].setpoint), round2(v))),
            pressure: params
                .pressure_sensor
                .zip(minute.pressure)
                .map(|(s, v)| (round2(engine.sensors[s].setpoint), round2(v))),
            downtime_shift: (shift.planned - shift.up).max(0) as i32,
            last_fault: self.fault_times.iter().copied().filter(|&f| f <= t).max(),
            uptime_shift: shift.up as i32,
            active_alarms: minute.alarms + i32::from(faulted),
            alarm_codes: (!minute.alarm_codes.is_empty()).then_some(minute.alarm_codes.as_str()),
            warning_codes: (!minute.warning_codes.is_empty()).then_some(minute.warning_codes.as_str()),
            shift: &shift_id,
            operator: operator.as_ref().map(EmployeeId::as_str),
            quality: if mi.uncertain { "uncertain" } else { "good" },
        };
        out.push(&row);
        self.cum.parts += i64::from(mi.parts);
        self.cum.energy_kwh = step_energy(self.cum.energy_kwh, mi.power_kw);
        self.shift.add(mi);
    }
}
