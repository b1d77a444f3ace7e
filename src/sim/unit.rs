//! One unit of work: every row one machine produces on one UTC day of a window.
//!
//! A unit simulates its machine from 12 hours before the day (so shift counters and thermal
//! lags are settled, identically for every window) and emits, in order: the sensor readings
//! (tick by tick), the SCADA records (minute by minute), the hourly sensor health, and the
//! events that start in the unit — fault labels, machine faults with their corrective
//! maintenance, preventive maintenance, and (for a line's last machine) the production runs
//! that end in it.
//!
//! A [`DayRun`] holds a unit's state between steps: backfill runs it to the day's end in one
//! step, the stream one minute at a time, and both get the same rows (the engine's state
//! carries over, nothing is recomputed per step). Rows go to an [`Emit`] receiver with the
//! instant each may be released; the engine knows nothing of encodings.

use std::fmt::Write as _;

use rand::Rng as _;

use super::calendar::SHIFT_CODES;
use super::episodes::{DriftMode, Ending, Episode};
use super::machine::{State, Timeline};
use super::quality::{Defect, MachineDefects, SensorDefects, DUPLICATE_ID_OFFSET, INVALID_VALUE};
use super::records::*;
use super::signal::{Lags, SensorDay};
use super::Engine;
use crate::clock::{day_tag, DAY, HOUR, ID_EPOCH, SCADA_STEP, SENSOR_STEP};
use crate::plant::id;
use crate::rng;
use crate::rows::{Emit, Row, Table};

/// Lookback before a unit's day: covers the longest shift and thermal lags.
pub const LOOKBACK: i64 = 12 * HOUR;
/// Readings in the rolling statistics window (the current one and five before it).
const STATS_WINDOW: usize = 6;
/// Minutes a machine must have run before its signals count as steady (drive lags settle).
const STEADY_MINUTES: i64 = 3;
/// Minutes of the past a day in progress keeps (the steady-running check looks back
/// [`STEADY_MINUTES`]); older minutes are dropped once an hour's worth has passed.
const KEEP_MINUTES: i64 = STEADY_MINUTES + 2;
/// Smallest noise (value units) at which six equal readings mean a stuck sensor: 30
/// steps of the 0.0001 resolution.
const FLAT_MIN_NOISE: f64 = 0.003;

/// What a unit covers: the part of a window on one machine's UTC day.
///
/// Every row is a function of (seed, machine, time) alone, except two things that belong to
/// the window: fault labels (one per episode touching the window, in the unit holding the
/// later of its onset and the window start) and sensor health (every hour ending inside the
/// window, each in full).
#[derive(Debug, Clone, Copy)]
pub struct UnitSpec {
    pub machine: usize,
    /// UTC midnight of the unit's day.
    pub day: i64,
    /// The whole window `[a, b)`.
    pub window: (i64, i64),
}

impl UnitSpec {
    /// The whole day `day` of `window` for `machine`.
    pub fn new(machine: usize, day: i64, window: (i64, i64)) -> UnitSpec {
        UnitSpec { machine, day, window }
    }

    /// The instants this unit generates: window ∩ day.
    pub fn span(&self) -> (i64, i64) {
        (self.window.0.max(self.day), self.window.1.min(self.day + DAY))
    }

    /// Whether the health rows of the hour starting at `hour` belong to this unit's window:
    /// those of every hour that ends inside it (so consecutive windows split at any minute
    /// each summarise an hour once, whole).
    fn health_hour(&self, hour: i64) -> bool {
        hour + HOUR > self.window.0 && hour + HOUR <= self.window.1
    }

    /// Whether this unit emits any sensor health row (an emitted hour ends inside the span).
    fn emits_health(&self) -> bool {
        let (from, to) = self.span();
        let mut end = from - from.rem_euclid(HOUR) + HOUR;
        while end <= to {
            if self.health_hour(end - HOUR) {
                return true;
            }
            end += HOUR;
        }
        false
    }
}

/// Cumulative counters of a machine at an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub parts: i64,
    pub energy_kwh: f64,
}

/// Emits rows with release instants held inside the step being generated.
struct Step<'o, E> {
    out: &'o mut E,
    span: (i64, i64),
}

impl<E: Emit> Step<'_, E> {
    #[inline]
    fn push<R: Row>(&mut self, row: &R) {
        self.push_at(row, row.time());
    }

    /// A row that becomes known at `at` rather than at its own time (an hourly summary is
    /// known after the hour's last reading).
    #[inline]
    fn push_at<R: Row>(&mut self, row: &R, at: i64) {
        self.out.emit(row, at.clamp(self.span.0, self.span.1 - 1));
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Energy after one more minute at `power_kw` (as reported, 2 decimals), kept at 4 decimals.
fn step_energy(kwh: f64, power_kw: f64) -> f64 {
    ((kwh + round2(power_kw) / 60.0) * 10_000.0).round() / 10_000.0
}

/// Availability, performance, quality and OEE (percent, 2 decimals, OEE from the rounded
/// factors so the identity holds exactly).
pub fn oee(uptime_s: i64, planned_s: i64, parts: i64, rejects: i64, ideal_cycle: f64) -> Option<[f64; 4]> {
    if planned_s <= 0 {
        return None;
    }
    let a = round2((uptime_s as f64 / planned_s as f64 * 100.0).min(100.0));
    let p = if uptime_s > 0 { round2((parts as f64 * ideal_cycle / uptime_s as f64 * 100.0).min(100.0)) } else { 0.0 };
    let q = if parts > 0 { round2((parts - rejects) as f64 / parts as f64 * 100.0) } else { 100.0 };
    Some([a, p, q, round2(a * p * q / 10_000.0)])
}

/// Status, quality and the four threshold flags of a value for a role.
fn classify(v: f64, r: &crate::plant::roles::Role) -> (&'static str, [bool; 4]) {
    let flags = [v < r.warning.0, v > r.warning.1, v < r.critical.0, v > r.critical.1];
    let status = if flags[2] || flags[3] {
        "critical"
    } else if flags[0] || flags[1] {
        "warning"
    } else {
        "normal"
    };
    (status, flags)
}

/// The anomaly detector: uses only the reading, its recent history, the sensor's bands and
/// the machine's (observable) state. Inside the warning limits scores 0; between warning and
/// critical limits 0.4–0.7; beyond the critical limits 0.7–1; a jump of more than six noise
/// widths from the recent mean, or a flat-lined signal, while the machine runs steadily
/// scores at least 0.75.
fn anomaly(v: f64, r: &crate::plant::roles::Role, jump: bool, flat: bool) -> f64 {
    let band = if v > r.critical.1 || v < r.critical.0 {
        let over = if v > r.critical.1 { v - r.critical.1 } else { r.critical.0 - v };
        let span = (r.critical.1 - r.critical.0).max(1e-9);
        0.7 + 0.3 * (over / (0.25 * span)).min(1.0)
    } else if v > r.warning.1 {
        0.4 + 0.3 * (v - r.warning.1) / (r.critical.1 - r.warning.1).max(1e-9)
    } else if v < r.warning.0 {
        0.4 + 0.3 * (r.warning.0 - v) / (r.warning.0 - r.critical.0).max(1e-9)
    } else {
        0.0
    };
    let jump = if jump { 0.75 } else { 0.0 };
    let flat = if flat { 0.75 } else { 0.0 };
    band.max(jump).max(flat).min(1.0)
}

/// Per-sensor state while a unit runs.
struct SensorState {
    day: SensorDay,
    /// Present readings of the last minute: (instant, value).
    recent: Vec<(i64, f64)>,
    // Hourly accumulators for sensor_health.
    present: u32,
    missing: u32,
    out_of_range: u32,
    stuck: bool,
    erratic: bool,
    std_sum: f64,
    last_seen: Option<i64>,
    /// Missing and out-of-range counts per hour of the previous day (for 24 h figures).
    prev_missing: [u32; 24],
    prev_oor: [u32; 24],
    hour_missing: [u32; 24],
    hour_oor: [u32; 24],
    /// The sensor's data-quality defects on the day (`None` when `[quality]` is off).
    dq: Option<SensorDefects>,
    /// In a stale stretch: the record the gateway repeats.
    frozen: Option<Reading>,
}

impl SensorState {
    fn new(day: SensorDay) -> SensorState {
        SensorState {
            day,
            recent: Vec::with_capacity(STATS_WINDOW),
            present: 0,
            missing: 0,
            out_of_range: 0,
            stuck: false,
            erratic: false,
            std_sum: 0.0,
            last_seen: None,
            prev_missing: [0; 24],
            prev_oor: [0; 24],
            hour_missing: [0; 24],
            hour_oor: [0; 24],
            dq: None,
            frozen: None,
        }
    }
}

/// One present reading with its rolling statistics and classification.
#[derive(Debug, Clone, Copy)]
struct Reading {
    value: f64,
    status: &'static str,
    quality: &'static str,
    flags: [bool; 4],
    lo: f64,
    hi: f64,
    avg: f64,
    std: f64,
    score: f64,
}

impl Reading {
    /// The reading as `sensor`'s `sensor_data` row `id` at `t` on its machine, line and factory.
    fn row<'a>(
        &self,
        id: i64,
        sensor: &'a crate::plant::Sensor,
        (machine, line, factory): (&'a str, &'a str, &'a str),
        t: i64,
    ) -> SensorRow<'a> {
        SensorRow {
            id,
            sensor: &sensor.id,
            machine,
            line,
            factory,
            ts: t,
            value: self.value,
            unit: sensor.role.unit,
            status: self.status,
            quality: self.quality,
            flags: self.flags,
            min: self.lo,
            max: self.hi,
            avg: self.avg,
            std: self.std,
            anomaly: (self.score * 10_000.0).round() / 10_000.0,
            is_anomaly: self.score >= 0.7,
            protocol: sensor.protocol,
        }
    }
}

/// What a minute's SCADA row reports of the readings of its first tick: alarm and warning
/// codes, and the controlled temperature and pressure the machine shows.
#[derive(Default)]
struct MinuteReadings {
    alarm_codes: String,
    warning_codes: String,
    alarms: i32,
    temp: Option<f64>,
    pressure: Option<f64>,
}

impl MinuteReadings {
    /// A new minute (the codes' buffers are kept).
    fn clear(&mut self) {
        self.alarm_codes.clear();
        self.warning_codes.clear();
        self.alarms = 0;
        self.temp = None;
        self.pressure = None;
    }

    /// Sensor `s` of machine `m` read `value` with `status` and its threshold `flags`.
    fn add(&mut self, engine: &Engine, m: usize, s: usize, code: &str, (value, status, flags): (f64, &str, [bool; 4])) {
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

/// One machine's day being generated, with everything carried from one step to the next:
/// its timeline, thermal lags, each sensor's random material and rolling statistics, the
/// shift and lifetime counters.
pub struct DayRun<'e> {
    engine: &'e Engine,
    spec: UnitSpec,
    tl: Timeline,
    lags: Lags,
    states: Vec<SensorState>,
    need_health: bool,
    cum: Counters,
    shift: ShiftTotals,
    cur_shift: i64,
    fault_times: Vec<i64>,
    /// The machine gateway's data-quality defects on the day (`None` when `[quality]` is off).
    dq: Option<MachineDefects>,
    /// Readings held back to be published late (or a second time), with the instant they
    /// are released at: always inside their minute, so never across a step.
    held: Vec<(i64, SensorRow<'e>)>,
    /// The next instant to generate.
    next: i64,
}

/// A shift's running totals (seconds for time).
#[derive(Debug, Default, Clone, Copy)]
struct ShiftTotals {
    parts: i64,
    rejects: i64,
    up: i64,
    planned: i64,
}

impl ShiftTotals {
    fn add(&mut self, mi: &super::machine::Minute) {
        self.parts += i64::from(mi.parts);
        self.rejects += i64::from(mi.rejects);
        self.up += i64::from(mi.state == State::Running) * 60;
        self.planned += i64::from(mi.planned) * 60;
    }
}

impl<'e> DayRun<'e> {
    /// Sets up unit `spec` with the machine's counters `start` at the start of its span.
    pub fn new(engine: &'e Engine, spec: UnitSpec, start: Counters) -> DayRun<'e> {
        let (from, to) = spec.span();
        let m = spec.machine;
        let tl = engine.unit_timeline(m, spec.day);
        let sensors = engine.sensors_of(m);
        let mut lags = Lags::new(&tl, sensors.clone().map(|s| engine.sensors[s].behaviour));
        lags.extend_to(&tl, tl.minute_index(from.max(tl.start)) + 2);
        let need_health = from < to && spec.emits_health();
        let mut states: Vec<SensorState> = sensors
            .clone()
            .map(|s| SensorState {
                dq: engine.sensor_defects(s, spec.day),
                ..SensorState::new(engine.sensor_day(s, spec.day))
            })
            .collect();
        let mut run = DayRun {
            engine,
            spec,
            lags,
            states: Vec::new(),
            need_health,
            cum: start,
            shift: ShiftTotals::default(),
            cur_shift: 0,
            fault_times: engine.episodes().fault_times_before(m, to),
            dq: engine.machine_defects(m, spec.day),
            held: Vec::new(),
            next: from,
            tl,
        };
        if from >= to {
            return run;
        }
        let tl = &run.tl;
        if need_health {
            // Previous day's losses for the 24-hour health figures.
            for (k, s) in sensors.clone().enumerate() {
                let prev = engine.sensor_day(s, spec.day - DAY);
                for i in 0..(DAY / SENSOR_STEP) {
                    let t = spec.day - DAY + i * SENSOR_STEP;
                    let h = (i * SENSOR_STEP / HOUR) as usize;
                    if engine.reading_missing(s, t, &tl.episodes, &prev) {
                        states[k].prev_missing[h] += 1;
                    }
                    if engine.reading_out_of_range(s, t, &tl.episodes, &prev) {
                        states[k].prev_oor[h] += 1;
                    }
                }
            }
            // Losses earlier on this day, before the span, count toward the 24-hour figures too.
            for (k, s) in sensors.clone().enumerate() {
                let mut t = spec.day;
                while t < from {
                    let h = ((t - spec.day) / HOUR) as usize;
                    states[k].hour_missing[h] += u32::from(engine.reading_missing(s, t, &tl.episodes, &states[k].day));
                    states[k].hour_oor[h] += u32::from(engine.reading_out_of_range(s, t, &tl.episodes, &states[k].day));
                    t += SENSOR_STEP;
                }
            }
        }
        // A span starting inside an hour whose health row it emits first reads that hour's
        // earlier readings silently, so the row covers the whole hour whatever the span.
        let hour = from - from.rem_euclid(HOUR);
        let silent_from = if spec.health_hour(hour) && hour + HOUR <= to { hour } else { from };
        // Seed the rolling windows with the readings just before the first one read.
        for (k, s) in sensors.clone().enumerate() {
            for back in (1..STATS_WINDOW as i64).rev() {
                let t = silent_from - back * SENSOR_STEP;
                let raw = engine.raw_reading(s, t, tl, &run.lags, &states[k].day);
                if !raw.missing {
                    states[k].recent.push((t, raw.value));
                }
            }
        }
        let mut t = silent_from;
        while t < from {
            for (k, s) in sensors.clone().enumerate() {
                engine.read_sensor(s, t, tl, &run.lags, &mut states[k]);
            }
            t += SENSOR_STEP;
        }
        // A span starting inside a stale stretch repeats the record from before the stretch.
        for (k, s) in sensors.clone().enumerate() {
            let stale = states[k].dq.as_ref().and_then(|d| d.stale_at(from)).map(|w| w.from);
            if let Some(w0) = stale.filter(|&w0| w0 < from) {
                states[k].frozen = engine.record_before(s, w0, tl, &run.lags);
            }
        }
        // Replay the current shift up to `from` (minutes inside the lookback).
        let first = tl.minute_index(from);
        let cur_shift = tl.minutes[first].shift.start;
        let mut shift = ShiftTotals::default();
        for mi in &tl.minutes[tl.minute_index(cur_shift.max(tl.start))..first] {
            shift.add(mi);
        }
        run.cur_shift = cur_shift;
        run.shift = shift;
        run.states = states;
        run.forget_past();
        run
    }

    /// Drops the timeline's minutes (and lags) that no later step reads: all but the last
    /// [`KEEP_MINUTES`] before the next instant. Keeps a stream's memory to the rest of the day.
    fn forget_past(&mut self) {
        let keep_from = self.next - self.next.rem_euclid(SCADA_STEP) - KEEP_MINUTES * SCADA_STEP;
        if keep_from > self.tl.start {
            let n = self.tl.forget_before(keep_from);
            self.lags.forget(n);
        }
    }

    /// The machine's counters at the next instant to generate.
    pub fn counters(&self) -> Counters {
        self.cum
    }

    /// UTC midnight of the run's day.
    pub fn day(&self) -> i64 {
        self.spec.day
    }

    /// The machine's state in the minute holding `t`, and the catalogue index of the pattern
    /// of each episode in effect then (from onset to the end of its repair), when `t` is a
    /// minute the run still holds (the next one to generate always is).
    pub fn status_at(&self, t: i64) -> Option<(State, impl Iterator<Item = usize> + '_)> {
        let minute = self.tl.at(t)?;
        let patterns = self.tl.episodes.iter().filter(move |e| e.onset <= t && t < e.repair_end).map(|e| e.pattern);
        Some((minute.state, patterns))
    }

    /// The episodes in effect at `t` or starting within `horizon` seconds after it, as the
    /// machine's timeline has them (it reaches a day past the run's day).
    pub fn episodes_near(&self, t: i64, horizon: i64) -> impl Iterator<Item = &Episode> + '_ {
        self.tl.episodes.iter().filter(move |e| e.onset < t + horizon && t < e.repair_end)
    }

    /// The next instant to generate.
    #[cfg(test)]
    pub fn next_instant(&self) -> i64 {
        self.next
    }

    /// Whether the whole span has been generated.
    pub fn done(&self) -> bool {
        self.next >= self.spec.span().1
    }

    /// Generates every row of `[next, until)` (clipped to the span) into `out`.
    pub fn run_until<E: Emit>(&mut self, until: i64, out: &mut E) {
        let from = self.next;
        let to = until.min(self.spec.span().1);
        if from >= to {
            return;
        }
        let mut step = Step { out, span: (from, to) };
        let sensors = self.engine.sensors_of(self.spec.machine).len();
        step.out.expect(Table::SensorData, sensors * ((to - from) / SENSOR_STEP) as usize);
        step.out.expect(Table::ScadaMachineData, ((to - from) / SCADA_STEP) as usize);
        self.lags.extend_to(&self.tl, self.tl.minute_index(to) + 1);
        self.sensor_and_scada_rows(from, to, &mut step);
        self.engine.event_rows(self.spec, (from, to), &self.tl, &mut step);
        self.next = to;
        if !self.done() && self.next - self.tl.start > HOUR {
            self.forget_past();
        }
    }

    fn sensor_and_scada_rows<E: Emit>(&mut self, from: i64, to: i64, out: &mut Step<'_, E>) {
        let mut minute = MinuteReadings::default();
        let mut t = from;
        while t < to {
            let on_minute = t.rem_euclid(SCADA_STEP) == 0;
            if let Some(md) = self.dq.as_ref() {
                let machine = &self.engine.plant.machines[self.spec.machine];
                let place = self.engine.place(machine);
                let first = t == self.spec.span().0;
                let tl_lags = (&self.tl, &self.lags);
                self.engine.stretch_labels(self.spec.machine, t, first, md, &mut self.states, tl_lags, place, out);
            }
            if on_minute {
                minute.clear();
            }
            self.readings(t, on_minute, &mut minute, out);
            // Hourly health after the hour's last reading.
            if self.need_health && (t + SENSOR_STEP).rem_euclid(HOUR) == 0 {
                self.close_health_hour(t + SENSOR_STEP - HOUR, out);
            }
            if on_minute {
                self.scada_row(t, &minute, out);
            }
            t += SENSOR_STEP;
        }
    }

    /// Every sensor's reading at tick `t` (delivered as the gateway would when defects are
    /// on), then the readings held back until now; on a whole minute, what the SCADA row
    /// reports of them goes into `minute`.
    fn readings<E: Emit>(&mut self, t: i64, on_minute: bool, minute: &mut MinuteReadings, out: &mut Step<'_, E>) {
        let engine = self.engine;
        let (spec, tl, lags) = (self.spec, &self.tl, &self.lags);
        let m = spec.machine;
        let plant = &engine.plant;
        let place = engine.place(&plant.machines[m]);
        let n_sensors = plant.sensors.len() as i64;
        for (k, s) in engine.sensors_of(m).enumerate() {
            let st = &mut self.states[k];
            let sensor = &plant.sensors[s];
            let h = ((t - spec.day) / HOUR) as usize;
            // The 24-hour out-of-range figure counts the sensor's out-of-range spikes, sent or lost.
            st.hour_oor[h] += u32::from(engine.reading_out_of_range(s, t, &tl.episodes, &st.day));
            let Some(r) = engine.read_sensor(s, t, tl, lags, st) else {
                st.hour_missing[h] += 1;
                continue;
            };
            let Reading { value: v, status, flags, .. } = r;
            let row = r.row(reading_id(t, s, n_sensors), sensor, place, t);
            match self.dq.as_ref() {
                Some(md) => deliver(engine, s, st, row, md, &mut self.held, out),
                None => out.push(&row),
            }
            if on_minute {
                minute.add(engine, m, s, sensor.role.code, (v, status, flags));
            }
        }
        // Readings held back until now follow the tick's own.
        if !self.held.is_empty() {
            for (at, row) in self.held.iter().filter(|h| h.0 <= t) {
                out.push_at(row, *at);
            }
            self.held.retain(|h| h.0 > t);
        }
    }

    /// The hour from `hour` is over: its health rows (when the unit reports that hour), and
    /// every sensor's hourly tallies start again.
    fn close_health_hour<E: Emit>(&mut self, hour: i64, out: &mut Step<'_, E>) {
        if self.spec.health_hour(hour) {
            self.engine.health_rows(self.spec, hour, &self.tl, &mut self.states, out);
        }
        for st in self.states.iter_mut() {
            st.present = 0;
            st.missing = 0;
            st.out_of_range = 0;
            st.stuck = false;
            st.erratic = false;
            st.std_sum = 0.0;
            st.last_seen = None;
        }
    }

    /// The SCADA row of minute `t`, then the counters and shift totals carried past it.
    fn scada_row<E: Emit>(&mut self, t: i64, minute: &MinuteReadings, out: &mut Step<'_, E>) {
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
        let operator = (!ops.is_empty())
            .then(|| plant.employees[ops[(m + (mi.shift.start / HOUR) as usize) % ops.len()]].id.as_str());
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
            operator,
            quality: if mi.uncertain { "uncertain" } else { "good" },
        };
        out.push(&row);
        self.cum.parts += i64::from(mi.parts);
        self.cum.energy_kwh = step_energy(self.cum.energy_kwh, mi.power_kw);
        self.shift.add(mi);
    }
}

/// The id of sensor `s`'s reading at `t` (of `n_sensors` in the plant).
fn reading_id(t: i64, s: usize, n_sensors: i64) -> i64 {
    (t - ID_EPOCH) / SENSOR_STEP * n_sensors + s as i64 + 1
}

/// Delivers reading `row` of sensor `s` (taken at `row.ts`) through its machine's gateway,
/// with the data-quality defects of the gateway (`md`) and of the sensor (`st.dq`), and
/// labels each single-reading defect. A reading in a gateway gap is lost (the gap's label
/// counts it); one in a stale stretch is the gateway's cached record. A late reading, and a
/// duplicate, go to `held` with their release instant: they follow that tick's readings.
fn deliver<'e, E: Emit>(
    engine: &'e Engine,
    s: usize,
    st: &SensorState,
    mut row: SensorRow<'e>,
    md: &MachineDefects,
    held: &mut Vec<(i64, SensorRow<'e>)>,
    out: &mut Step<'_, E>,
) {
    let t = row.ts;
    if md.silent(t) {
        return;
    }
    let Some(dq) = st.dq.as_ref() else { return out.push(&row) };
    let frozen = st.frozen.filter(|_| dq.stale_at(t).is_some());
    if let Some(f) = frozen {
        row = f.row(row.id, &engine.plant.sensors[s], (row.machine, row.line, row.factory), t);
    }
    let points = dq.points_at(t);
    let point = |kind: Defect| points.iter().find(|p| p.kind == kind);
    let label = |kind: Defect, record_id: i64, detail: &str, out: &mut Step<'_, E>| {
        let l = QualityLabelRow {
            id: kind.label_id(reading_id(t, s, engine.plant.sensors.len() as i64)),
            defect: kind.name(),
            machine: row.machine,
            line: row.line,
            factory: row.factory,
            sensor: Some(row.sensor),
            start: t,
            end: t + SENSOR_STEP,
            records: 1,
            record_id: Some(record_id),
            detail,
        };
        out.push_at(&l, t);
    };
    let role = engine.plant.sensors[s].role;
    if frozen.is_none() {
        let altered = if point(Defect::Invalid).is_some() {
            Some((
                INVALID_VALUE,
                Defect::Invalid,
                format!("the gateway's error value {INVALID_VALUE} instead of {}", row.value),
            ))
        } else {
            point(Defect::Spike).map(|p| {
                let v = super::signal::round4(row.value + p.x * engine.sensors[s].half_width);
                (v, Defect::Spike, format!("spike of {:+.1} half-widths: {} instead of {}", p.x, v, row.value))
            })
        };
        if let Some((v, kind, detail)) = altered {
            row.value = v;
            (row.status, row.flags) = classify(v, role);
            if v < role.range.0 || v > role.range.1 {
                (row.status, row.quality) = ("fault", "out_of_range");
            }
            label(kind, row.id, &detail, out);
        }
    }
    row.ts = t + md.skew(t);
    match point(Defect::Late) {
        Some(p) => {
            held.push((t + p.x as i64, row));
            label(Defect::Late, row.id, &format!("published {} s after its event time", p.x), out);
        }
        None => out.push_at(&row, t),
    }
    if let Some(p) = point(Defect::Duplicate) {
        let copy = SensorRow { id: row.id + DUPLICATE_ID_OFFSET, ..row };
        match p.x as i64 {
            0 => out.push_at(&copy, t),
            delay => held.push((t + delay, copy)),
        }
        label(Defect::Duplicate, copy.id, &format!("a copy of reading {}, stored {} s later", row.id, p.x), out);
    }
}

impl Engine {
    /// The ids a machine's rows carry: (machine, line, factory).
    fn place<'a>(&'a self, machine: &'a crate::plant::Machine) -> (&'a str, &'a str, &'a str) {
        let plant = &self.plant;
        (machine.id.as_str(), plant.lines[machine.line].id.as_str(), plant.factories[machine.factory].id.as_str())
    }

    /// Labels the gateway gaps and clock skews of machine `m`, and the stale stretches of
    /// its sensors, that start at `t` — or, at the `first` instant of a unit's span, that are
    /// under way then (as fault labels, one per stretch touching the window). A stale stretch
    /// takes the record it repeats when it starts.
    #[allow(clippy::too_many_arguments)]
    fn stretch_labels<E: Emit>(
        &self,
        m: usize,
        t: i64,
        first: bool,
        md: &MachineDefects,
        states: &mut [SensorState],
        (tl, lags): (&Timeline, &Lags),
        (machine, line, factory): (&str, &str, &str),
        out: &mut Step<'_, E>,
    ) {
        let n = self.plant.sensors.len() as i64;
        let sensors = self.sensors_of(m);
        // Readings of sensor `s` taken in `w` (those lost in a gap left out when `skip_gaps`).
        let delivered = |sd: &SensorDay, s: usize, w: &super::quality::Window, skip_gaps: bool| -> i32 {
            (w.from..w.to)
                .step_by(SENSOR_STEP as usize)
                .filter(|&u| !((skip_gaps && md.silent(u)) || self.reading_missing(s, u, &tl.episodes, sd)))
                .count() as i32
        };
        let starts = |w: &super::quality::Window| w.from == t || (first && w.holds(t));
        let stretch = |kind: Defect, sensor: Option<usize>, w: &super::quality::Window, records: i32| QualityLabelRow {
            id: kind.label_id(reading_id(w.from, sensor.unwrap_or(sensors.start), n)),
            defect: kind.name(),
            machine,
            line,
            factory,
            sensor: sensor.map(|s| self.plant.sensors[s].id.as_str()),
            start: w.from,
            end: w.to,
            records,
            record_id: None,
            detail: "",
        };
        for w in md.gaps.iter().filter(|w| starts(w)) {
            let lost: i32 = sensors.clone().enumerate().map(|(k, s)| delivered(&states[k].day, s, w, false)).sum();
            let detail = format!("the gateway sent nothing for {} min", (w.to - w.from) / SCADA_STEP);
            out.push_at(&QualityLabelRow { detail: &detail, ..stretch(Defect::Gap, None, w, lost) }, t);
        }
        for w in md.skews.iter().filter(|w| starts(w)) {
            let shifted: i32 = sensors.clone().enumerate().map(|(k, s)| delivered(&states[k].day, s, w, true)).sum();
            let detail = format!("the gateway clock ran {:+} s off", w.skew);
            out.push_at(&QualityLabelRow { detail: &detail, ..stretch(Defect::ClockSkew, None, w, shifted) }, t);
        }
        for (k, s) in sensors.clone().enumerate() {
            let Some(w) = states[k].dq.as_ref().and_then(|d| d.stale.iter().find(|w| starts(w))).copied() else {
                continue;
            };
            // Set up when the span starts inside the stretch (`DayRun::new`).
            let frozen = if w.from == t { self.record_before(s, t, tl, lags) } else { states[k].frozen };
            if let Some(f) = frozen {
                let detail = format!("the gateway repeated its cached record (value {})", f.value);
                let records = delivered(&states[k].day, s, &w, true);
                out.push_at(&QualityLabelRow { detail: &detail, ..stretch(Defect::Stale, Some(s), &w, records) }, t);
            }
            states[k].frozen = frozen;
        }
    }

    /// Sensor `s`'s last reading before `t` (looking back a minute), with the rolling
    /// statistics and classification it was delivered with.
    fn record_before(&self, s: usize, t: i64, tl: &Timeline, lags: &Lags) -> Option<Reading> {
        let day = t - t.rem_euclid(DAY);
        let mut scratch = SensorState::new(self.sensor_day(s, day));
        (1..=2 * STATS_WINDOW as i64 - 1)
            .rev()
            .map(|k| t - k * SENSOR_STEP)
            .filter_map(|u| self.read_sensor(s, u, tl, lags, &mut scratch).map(|r| (u, r)))
            .last()
            .filter(|(u, _)| *u >= t - STATS_WINDOW as i64 * SENSOR_STEP)
            .map(|(_, r)| r)
    }

    /// The timeline a unit uses: from 12 hours before its day to the day's end.
    pub fn unit_timeline(&self, m: usize, day: i64) -> Timeline {
        let from = day - LOOKBACK;
        let to = day + DAY;
        let eps = self.episodes().for_machine(m, from - DAY, to + DAY);
        self.timeline(m, from, to, eps)
    }

    /// Advances counters minute by minute over `[from, to)` of a unit timeline, exactly as the
    /// SCADA rows do (energy kept at the 4 decimals it is stored with), so counters carried
    /// across windows continue bit for bit.
    pub fn advance(tl: &Timeline, from: i64, to: i64, mut c: Counters) -> Counters {
        let (i, j) = (tl.minute_index(from), tl.minute_index(to));
        for mi in &tl.minutes[i..j] {
            c.parts += i64::from(mi.parts);
            c.energy_kwh = step_energy(c.energy_kwh, mi.power_kw);
        }
        c
    }

    /// Deterministic estimate of a machine's lifetime counters at `t`, for a window that does
    /// not continue an earlier one.
    pub fn initial_counters(&self, m: usize, t: i64) -> Counters {
        let mc = &self.plant.machines[m];
        let installed = crate::clock::days_from_civil(
            mc.installation_date.year(),
            u8::from(mc.installation_date.month()),
            mc.installation_date.day(),
        ) * DAY;
        let hours = ((t - installed) as f64 / HOUR as f64).max(0.0);
        let line = &self.lines[mc.line];
        let cycle = self.plant.line_products[line.products[0]].cycle_time_s.max(1) as f64;
        Counters {
            parts: (hours * 3600.0 / cycle * 0.8).floor() as i64,
            energy_kwh: (hours * mc.power_rating_kw * 0.55 * 100.0).round() / 100.0,
        }
    }

    /// Generates unit `spec` whole into `out`; `start` holds the machine's counters at the
    /// start of the unit's span.
    pub fn generate_unit<E: Emit>(&self, spec: UnitSpec, start: Counters, out: &mut E) {
        let mut run = DayRun::new(self, spec, start);
        run.run_until(spec.span().1, out);
    }

    /// Reads sensor `s` at `t`: updates its rolling window and hourly accumulators, and
    /// returns the reading, or `None` when the reading is lost.
    fn read_sensor(&self, s: usize, t: i64, tl: &Timeline, lags: &Lags, st: &mut SensorState) -> Option<Reading> {
        let role = self.plant.sensors[s].role;
        let raw = self.raw_reading(s, t, tl, lags, &st.day);
        if raw.missing {
            st.missing += 1;
            return None;
        }
        let v = raw.value;
        st.recent.retain(|&(ts, _)| ts > t - STATS_WINDOW as i64 * SENSOR_STEP);
        let prev_mean =
            (!st.recent.is_empty()).then(|| st.recent.iter().map(|r| r.1).sum::<f64>() / st.recent.len() as f64);
        st.recent.push((t, v));
        let n = st.recent.len() as f64;
        let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for &(_, x) in &st.recent {
            lo = lo.min(x);
            hi = hi.max(x);
            sum += x;
        }
        let avg = sum / n;
        let var = st.recent.iter().map(|&(_, x)| (x - avg) * (x - avg)).sum::<f64>() / n;
        let std = var.sqrt();
        // Stuck and erratic signals only mean something while the machine runs steadily:
        // starts and stops move signals fast, and a de-energised sensor reads flat.
        let steady =
            (0..=STEADY_MINUTES).all(|k| tl.at(t - k * SCADA_STEP).is_some_and(|mi| mi.state == State::Running));
        let noise = self.sensors[s].white_amp * 2.0 + self.sensors[s].smooth_amp;
        // A flat line is suspicious only where the signal's noise is well above the 4-decimal
        // resolution of measurement_value; below it, rounding alone can repeat a value.
        let flat = steady && st.recent.len() == STATS_WINDOW && hi == lo && noise >= FLAT_MIN_NOISE;
        let jump = steady && prev_mean.is_some_and(|m| (v - m).abs() > 6.0 * noise.max(1e-9));
        let (mut status, flags) = classify(v, role);
        let quality = if raw.out_of_range {
            status = "fault";
            "out_of_range"
        } else if flat {
            "uncertain"
        } else {
            "good"
        };
        let score = anomaly(v, role, jump, flat);
        st.present += 1;
        st.std_sum += std / self.sensors[s].half_width.max(1e-9);
        st.last_seen = Some(t);
        st.stuck |= flat;
        st.erratic |= jump;
        if raw.out_of_range {
            st.out_of_range += 1;
        }
        Some(Reading { value: v, status, quality, flags, lo, hi, avg, std, score })
    }

    /// The last reading sensor `s` delivered before `t`, looking back at most a day.
    fn last_contact_before(&self, s: usize, t: i64, tl: &Timeline, sd: &super::signal::SensorDay) -> Option<i64> {
        (1..=DAY / SENSOR_STEP).map(|k| t - k * SENSOR_STEP).find(|&u| !self.reading_missing(s, u, &tl.episodes, sd))
    }

    fn health_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        hour: i64,
        tl: &Timeline,
        states: &mut [SensorState],
        out: &mut Step<'_, E>,
    ) {
        let plant = &self.plant;
        let h = ((hour - spec.day) / HOUR) as usize;
        for (k, s) in self.sensors_of(spec.machine).enumerate() {
            let st = &states[k];
            let sensor = &plant.sensors[s];
            let p = &self.sensors[s];
            let ticks = (HOUR / SENSOR_STEP) as f64;
            let loss = st.missing as f64 / ticks * 100.0;
            let failures: u32 =
                st.hour_missing[..=h].iter().sum::<u32>() + st.prev_missing[h + 1..].iter().sum::<u32>();
            let oor: u32 = st.hour_oor[..=h].iter().sum::<u32>() + st.prev_oor[h + 1..].iter().sum::<u32>();
            // Calibrated during the hour: the hour counts it.
            let calibrated = self.last_calibration(s, hour + HOUR - 1);
            let days_since = (hour.div_euclid(DAY) - calibrated.done.div_euclid(DAY)) as i32;
            let drift = tl
                .episodes
                .iter()
                .find(|e| e.sensor == Some(s) && hour + HOUR > e.onset && hour < e.fault_at)
                .map_or(0.0, |e| e.drift_pct_per_day * ((hour + HOUR - e.onset) as f64 / DAY as f64).max(0.0));
            let drift_pct = drift + 0.0005 * f64::from(days_since.max(0));
            let noise = if st.present > 0 { st.std_sum / f64::from(st.present) } else { 0.0 };
            let battery = p.battery_phase.map(|ph| {
                let year = 365.0 * DAY as f64;
                let frac = ((hour as f64 / year) + ph).fract();
                round2(100.0 - 100.0 * frac)
            });
            let due = i64::from(days_since) >= sensor.calibration_frequency_days;
            let mut score = 100.0;
            score -= (loss * 1.5).min(30.0);
            score -= (drift_pct.abs() * 4.0).min(30.0);
            if st.stuck {
                score -= 30.0;
            }
            if st.erratic {
                score -= 25.0;
            }
            if due {
                score -= 10.0;
            }
            if battery.is_some_and(|b| b < 20.0) {
                score -= 5.0;
            }
            let score: f64 = round2(score.max(0.0));
            let status = if st.present == 0 {
                "failed"
            } else if score >= 85.0 {
                "healthy"
            } else if score >= 70.0 {
                "degraded"
            } else if score >= 40.0 {
                "critical"
            } else {
                "failed"
            };
            let row = HealthRow {
                id: (hour - ID_EPOCH) / HOUR * plant.sensors.len() as i64 + s as i64 + 1,
                sensor: &sensor.id,
                machine: &plant.machines[spec.machine].id,
                ts: hour,
                score,
                drift_pct: (drift_pct * 10_000.0).round() / 10_000.0,
                noise: (noise * 10_000.0).round() / 10_000.0,
                days_since_calibration: days_since,
                calibration_due: due,
                drift_detected: drift_pct.abs() > 2.0,
                packet_loss_pct: round2(loss),
                latency_ms: round2(p.latency_ms * (1.0 + loss / 20.0)),
                last_communication: st.last_seen.or_else(|| self.last_contact_before(s, hour, tl, &st.day)),
                failures_24h: failures as i32,
                battery,
                stuck: st.stuck,
                erratic: st.erratic,
                out_of_range_24h: oor as i32,
                status,
            };
            out.push_at(&row, hour + HOUR - SENSOR_STEP);
        }
    }

    /// One of the staff list's people on shift at `t` (by the machine's timeline), picked by `salt`.
    fn on_shift(&self, tl: &Timeline, list: &[Vec<usize>; 6], t: i64, salt: usize) -> Option<&str> {
        let code = tl.at(t).map_or(0, |mi| usize::from(mi.shift.code));
        let v = &list[code];
        (!v.is_empty()).then(|| self.plant.employees[v[salt % v.len()]].id.as_str())
    }

    /// The work orders of the calibration programme begun in `[from, to)` on the sensors of
    /// unit `spec`'s machine — but for one that found a drift, whose corrective work order
    /// (above) records it.
    fn calibration_rows<E: Emit>(&self, spec: UnitSpec, (from, to): (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
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
                    technician: self.on_shift(tl, &lp.technicians, c.done, s),
                    supervisor: self.on_shift(tl, &lp.supervisors, c.done, s),
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

    /// The events starting in `[from, to)` of unit `spec`.
    fn event_rows<E: Emit>(&self, spec: UnitSpec, window: (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
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
    fn label_rows<E: Emit>(&self, spec: UnitSpec, (from, to): (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let sensors = self.sensors_of(m);
        // Ground-truth labels: every episode touching the window, once, in the unit holding
        // the later of its onset and the window start — an injected episode's at its end
        // (it may be cleared early), or the window's last minute.
        for ep in &tl.episodes {
            let anchor = if ep.injected {
                (ep.end() - 60).min(spec.window.1 - 60).max(spec.window.0)
            } else {
                ep.onset.max(spec.window.0)
            };
            if !(anchor >= from && anchor < to && ep.overlaps(spec.window.0, spec.window.1)) {
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
    fn fault_rows<E: Emit>(&self, spec: UnitSpec, (from, to): (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let sensors = self.sensors_of(m);
        let lp = &self.lines[machine.line];
        let staff = |list: &[Vec<usize>; 6], t: i64, salt: usize| self.on_shift(tl, list, t, salt + m);
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
                resolved_by: technician,
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
                technician,
                supervisor,
                related_fault: Some(ep.id),
                status: "completed",
                notes: &notes,
                follow_up: ep.severity == "critical",
                next_due_day: None,
            });
        }
    }

    /// Drifting sensors recalibrated in the unit.
    fn recalibration_rows<E: Emit>(
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
        let staff = |list: &[Vec<usize>; 6], t: i64, salt: usize| self.on_shift(tl, list, t, salt + m);
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
                technician: staff(&lp.technicians, start, ep.id as usize),
                supervisor: staff(&lp.supervisors, start, ep.id as usize),
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

    /// Preventive maintenance planned in the unit.
    fn preventive_rows<E: Emit>(&self, spec: UnitSpec, (from, to): (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
        let m = spec.machine;
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let (_, line_id, factory_id) = self.place(machine);
        let lp = &self.lines[machine.line];
        let staff = |list: &[Vec<usize>; 6], t: i64, salt: usize| self.on_shift(tl, list, t, salt + m);
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
                technician: staff(&lp.technicians, pm.start, 1),
                supervisor: staff(&lp.supervisors, pm.start, 1),
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

    /// Production runs of the machine's line that end in this unit, counted at the line's
    /// last machine (this one).
    fn run_rows<E: Emit>(&self, m: usize, (from, to): (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let line = &plant.lines[machine.line];
        let lp = &self.lines[machine.line];
        for run in tl.runs.iter().filter(|r| r.end > from && r.end <= to) {
            let eps = self.episodes().for_machine(m, run.start - DAY, run.end + DAY);
            let rt = self.timeline(m, run.start, run.end, eps);
            let (mut parts, mut rejects, mut up, mut planned) = (0i64, 0i64, 0i64, 0i64);
            for mi in &rt.minutes {
                parts += i64::from(mi.parts);
                rejects += i64::from(mi.rejects);
                up += i64::from(mi.state == State::Running) * 60;
                planned += i64::from(mi.planned) * 60;
            }
            let lpm = &plant.line_products[run.lpm];
            let product = &plant.products[lpm.product];
            let factors = oee(up, planned, parts, rejects, lpm.cycle_time_s as f64).unwrap_or([0.0; 4]);
            let fpy = if parts > 0 { round2((parts - rejects) as f64 / parts as f64 * 100.0) } else { 100.0 };
            let scrapped = (rejects as f64 * 0.6).round() as i64;
            let tag = compact_time(run.start);
            let run_id = format!("RUN-{}-{tag}", line.id);
            let batch = format!("B{}-L{:02}-{}", &tag[2..8], line.number, run.number % 100);
            let work_order = format!("WO-{}-{}", line.number, run.number);
            let customers: Vec<&str> = plant
                .customer_products
                .iter()
                .filter(|c| c.product == lpm.product && c.is_active)
                .map(|c| plant.customers[c.customer].id.as_str())
                .collect();
            let start_shift = rt.minutes.first().map_or(0, |mi| usize::from(mi.shift.code));
            let shift_id = id("SHF", machine.factory * 6 + start_shift);
            let sups = &lp.supervisors[start_shift];
            out.push(&RunRow {
                id: &run_id,
                line: &line.id,
                factory: &plant.factories[line.factory].id,
                product: &product.id,
                number: run.number as i32,
                batch: &batch,
                work_order: &work_order,
                customer: (!customers.is_empty()).then(|| customers[(run.number as usize) % customers.len()]),
                start: run.start,
                end: run.end,
                target: (planned as f64 / lpm.cycle_time_s as f64 * 0.9) as i32,
                actual: parts as i32,
                rejected: rejects as i32,
                scrapped: scrapped as i32,
                rework: (rejects - scrapped) as i32,
                fpy,
                defect_ppm: if parts > 0 { (rejects as f64 / parts as f64 * 1e6).round() as i32 } else { 0 },
                grade: if fpy >= 98.0 {
                    "A"
                } else if fpy >= 95.0 {
                    "B"
                } else {
                    "C"
                },
                oee: factors,
                previous_product: run.prev_lpm.map(|p| plant.products[plant.line_products[p].product].id.as_str()),
                changeover_minutes: (run.setup_secs / 60) as i32,
                shift: &shift_id,
                supervisor: (!sups.is_empty())
                    .then(|| plant.employees[sups[run.number as usize % sups.len()]].id.as_str()),
            });
        }
        let _ = SHIFT_CODES;
    }
}

/// Comma-separated ids of the sensors an episode moves.
fn affected_sensors(engine: &Engine, ep: &Episode, sensors: std::ops::Range<usize>) -> String {
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
fn calibration_notes(ep: &Episode, sensor: &crate::plant::Sensor, root_cause: &str) -> String {
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

fn parts_cost(ep: &Episode) -> f64 {
    let base = match ep.severity.as_str() {
        "critical" => 2400.0,
        "major" => 900.0,
        _ => 250.0,
    };
    round2(base * (1.0 + (ep.id % 7) as f64 / 10.0))
}

/// `YYYYMMDDHHMM` of an instant.
fn compact_time(t: i64) -> String {
    let m = t.rem_euclid(DAY) / 60;
    format!("{}{:02}{:02}", day_tag(t), m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oee_is_the_product_of_its_rounded_factors() {
        let f = oee(25_000, 27_000, 400, 7, 60.0).unwrap();
        assert!((f[3] - round2(f[0] * f[1] * f[2] / 10_000.0)).abs() < 1e-9);
        assert!(f.iter().all(|x| (0.0..=100.0).contains(x)));
        assert_eq!(oee(0, 0, 0, 0, 60.0), None);
    }

    fn engine() -> Engine {
        crate::sim::seed_7_engine()
    }

    /// A run reports the state of the minute it is about to generate and the patterns of
    /// the episodes in effect then, as the labelled timeline has them.
    #[test]
    fn status_follows_the_timeline_and_its_episodes() {
        let e = engine();
        let day = 1_772_323_200; // 2026-03-01
        let mut seen_episode = false;
        for m in 0..e.plant.machines.len() {
            let tl = e.unit_timeline(m, day);
            let Some(ep) = tl.episodes.iter().find(|ep| ep.onset > day && ep.repair_end < day + DAY) else {
                continue;
            };
            let mut run = DayRun::new(&e, UnitSpec::new(m, day, (day, day + DAY)), Counters::default());
            let mut sink = crate::encode::Encoded::new(crate::encode::Format::Csv);
            for t in [ep.onset - 60, ep.onset, ep.fault_at, ep.repair_end] {
                let t = t - t.rem_euclid(60);
                run.run_until(t, &mut sink);
                let (state, patterns) = run.status_at(t).expect("the next minute is held");
                assert_eq!(state, tl.at(t).unwrap().state, "machine {m} at {t}: the timeline's state");
                let patterns: Vec<usize> = patterns.collect();
                let expect = tl.episodes.iter().filter(|x| x.onset <= t && t < x.repair_end).count();
                assert_eq!(patterns.len(), expect, "machine {m} at {t}: episodes in effect");
                assert_eq!(patterns.contains(&ep.pattern), ep.onset <= t && t < ep.repair_end, "machine {m} at {t}");
            }
            seen_episode = true;
            break;
        }
        assert!(seen_episode, "at fault rate 1 some machine has an episode inside the day");
    }

    /// The stream generates a day step by step: the steps' rows, concatenated, must be the
    /// day's rows byte for byte (health hours whole, labels once, counters continuous), and
    /// every release mark must lie in its step, in time order.
    /// CSV rows with each row's release instant and end offset, per table.
    struct Marked {
        enc: crate::encode::Encoded,
        marks: [Vec<(i64, usize)>; Table::COUNT],
    }

    impl Emit for Marked {
        fn emit<R: Row>(&mut self, row: &R, at: i64) {
            self.enc.emit(row, at);
            let t = R::TABLE.index();
            self.marks[t].push((at, self.enc.bufs[t].len()));
        }
    }

    #[test]
    fn steps_of_a_day_concatenate_to_the_day() {
        steps_concatenate(&engine());
    }

    /// With data-quality defects too: late readings and duplicates stay inside their minute.
    #[test]
    fn steps_of_a_day_with_defects_concatenate_to_the_day() {
        let mut e = engine();
        e.quality = Some(crate::sim::quality::Quality {
            gaps_per_machine_day: 1.0,
            clock_skews_per_machine_day: 1.0,
            stale_per_sensor_day: 0.5,
            duplicate_rate: 0.01,
            late_rate: 0.01,
            ..Default::default()
        });
        steps_concatenate(&e);
    }

    fn steps_concatenate(e: &Engine) {
        use crate::encode::{Encoded, Format};
        let ordered = e.quality.is_none();
        let day = 1_772_323_200; // 2026-03-01
        let window = (day + 5 * HOUR + 30 * 60, day + 2 * DAY);
        // Machines with a fault episode on the day, plus one without.
        let mut machines: Vec<usize> = (0..e.plant.machines.len())
            .filter(|&m| e.unit_timeline(m, day).episodes.iter().any(|ep| ep.overlaps(window.0, day + DAY)))
            .take(3)
            .collect();
        machines.push((0..e.plant.machines.len()).find(|&m| e.unit_timeline(m, day).episodes.is_empty()).unwrap_or(0));
        assert!(machines.len() >= 2, "the seed must give episodes on the day");
        for m in machines {
            let tl = e.unit_timeline(m, day);
            let spec = UnitSpec::new(m, day, window);
            let start = e.initial_counters(m, window.0);
            let mut whole = Encoded::new(Format::Csv);
            e.generate_unit(spec, start, &mut whole);
            let mut parts: [Vec<u8>; Table::COUNT] = Default::default();
            let (mut a, lengths) = (window.0, [60, 13 * 60, 61 * 60, 7 * 60]);
            let mut k = 0;
            let mut run = DayRun::new(e, spec, start);
            while !run.done() {
                let b = (a + lengths[k % lengths.len()]).min(day + DAY);
                assert_eq!(run.counters(), Engine::advance(&tl, window.0, a, start), "machine {m}: counters at {a}");
                let mut marked = Marked { enc: Encoded::new(Format::Csv), marks: Default::default() };
                run.run_until(b, &mut marked);
                let (rows, marks) = (&marked.enc, &marked.marks);
                for (t, buf) in rows.bufs.iter().enumerate() {
                    let ms = &marks[t];
                    assert_eq!(ms.len() as u64, rows.rows[t], "machine {m} table {t}: one mark per row");
                    assert!(
                        ms.iter().all(|&(at, _)| at >= a && at < b),
                        "machine {m} table {t}: marks inside [{a}, {b})"
                    );
                    assert_eq!(
                        ms.last().map_or(0, |x| x.1),
                        buf.len(),
                        "machine {m} table {t}: last mark ends the buffer"
                    );
                    if t == 1 || (t == 0 && ordered) {
                        assert!(ms.windows(2).all(|w| w[0].0 <= w[1].0), "machine {m} table {t}: marks in time order");
                    }
                    parts[t].extend_from_slice(buf);
                }
                a = b;
                k += 1;
            }
            for (t, part) in parts.iter().enumerate() {
                assert!(
                    *part == whole.bufs[t],
                    "machine {m}, table {}: steps differ from the whole day ({} vs {} bytes)",
                    Table::ALL[t].name(),
                    parts[t].len(),
                    whole.bufs[t].len()
                );
            }
        }
    }

    /// A sensor_drift episode ends with one completed calibration work order on its machine,
    /// ending when the drift ends and naming the sensor as `SNS-… (Name)` (the sensor_drift
    /// detector reads that), in the unit where the drift ends.
    #[test]
    fn a_drift_ends_with_a_calibration_work_order_naming_the_sensor() {
        use crate::encode::{Encoded, Format};
        let e = engine();
        let day = 1_772_323_200; // 2026-03-01
        let mut ended = 0;
        for m in 0..e.plant.machines.len() {
            let tl = e.unit_timeline(m, day);
            let drifts: Vec<&Episode> = tl
                .episodes
                .iter()
                .filter(|ep| ep.sensor.is_some() && ep.fault_at >= day && ep.fault_at < day + DAY)
                .collect();
            // Machines whose drift ends on the day, and a few without one.
            if drifts.is_empty() && m >= 12 {
                continue;
            }
            let mut out = Encoded::new(Format::Csv);
            e.generate_unit(UnitSpec::new(m, day, (day, day + DAY)), e.initial_counters(m, day), &mut out);
            let csv = String::from_utf8_lossy(&out.bufs[Table::MaintenanceEvents.index()]).into_owned();
            let orders: Vec<&str> =
                csv.lines().filter(|l| l.contains(",\"calibration\",") || l.contains(",calibration,")).collect();
            for ep in &drifts {
                let sensor = &e.plant.sensors[ep.sensor.unwrap()].id;
                let ticket = format!("CM-{:010}", ep.id);
                let end = crate::clock::instant_string(ep.fault_at).replace('T', " ").replace('Z', "");
                let mine: Vec<&&str> = orders.iter().filter(|l| l.contains(&ticket)).collect();
                assert_eq!(mine.len(), 1, "machine {m}: one work order {ticket} for the drift of {sensor}:\n{csv}");
                assert!(mine[0].contains(&format!("{sensor} (")), "machine {m}: {ticket} names {sensor}: {}", mine[0]);
                assert!(mine[0].contains(&end), "machine {m}: {ticket} ends with the drift at {end}: {}", mine[0]);
                assert!(mine[0].contains("corrective") && mine[0].contains("completed"), "{}", mine[0]);
                ended += 1;
            }
            let named = orders.iter().filter(|l| l.contains(",corrective,") && l.contains("Sensor SNS-")).count();
            assert_eq!(
                named,
                drifts.len(),
                "machine {m}: recalibration orders without a drift ending on the day:\n{csv}"
            );
        }
        assert!(ended >= 3, "seed 7 at rate 1 ends several drifts on the day ({ended})");
    }
}
