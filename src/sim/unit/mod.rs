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
//!
//! This module holds the unit, its run and its counters; what it produces is in one module
//! each: `readings` (sensor_data, and the data-quality labels of what a gateway delivers),
//! `scada` (scada_machine_data), `health` (sensor_health), `events` (fault labels,
//! machine_faults, maintenance) and `runs` (production_runs).

use std::fmt::Write as _;

use rand::Rng as _;

use crate::clock::{day_tag, DAY, HOUR, ID_EPOCH, SCADA_STEP, SENSOR_STEP};
use crate::plant::{id, EmployeeId};
use crate::rng;
use crate::rows::{Emit, Row, Table};
use crate::sim::calendar::SHIFT_CODES;
use crate::sim::episodes::{DriftMode, Ending, Episode};
use crate::sim::machine::{State, Timeline};
use crate::sim::quality::{Defect, MachineDefects, SensorDefects, DUPLICATE_ID_OFFSET, INVALID_VALUE};
use crate::sim::records::*;
use crate::sim::signal::{Lags, SensorDay};
use crate::sim::Engine;

mod events;
mod health;
mod readings;
mod runs;
mod scada;

use readings::{HourCounts, SensorState};
use scada::{MinuteReadings, ShiftTotals};

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
    /// The window continues an earlier one its destinations hold (a stream resumed): an
    /// episode already in progress at its start was labelled there and is not again, unless
    /// injected (whose label comes with its end).
    pub continues: bool,
}

impl UnitSpec {
    /// The whole day `day` of `window` for `machine`.
    pub fn new(machine: usize, day: i64, window: (i64, i64)) -> UnitSpec {
        UnitSpec { machine, day, window, continues: false }
    }

    /// The same, continuing an earlier window when `continues` ([`UnitSpec::continues`]).
    pub fn continuing(self, continues: bool) -> UnitSpec {
        UnitSpec { continues, ..self }
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
    /// are released at: a tick of their own minute, so never across a step of whole ticks.
    held: Vec<(i64, SensorRow<'e>)>,
    /// The next instant to generate.
    next: i64,
    /// Losses before the span not yet counted for the 24-hour health figures.
    backlog: Option<Box<Backlog>>,
}

/// The readings before a span that its 24-hour health figures count as lost (the previous
/// day's, and the day's own before the span), counted a share at each step rather than at
/// set-up, so that a stream's first rows come at once: at ×1000, a day of 1.7 million
/// sensors' words is minutes of CPU. Every one is counted by the step that closes the first
/// health hour; the figures are the same as when counted at set-up. The counts go straight
/// into each sensor's (no copy of them is held: 96 bytes a sensor for the first hour).
struct Backlog {
    /// Where counting began, the next instant to count and the end (the span's start).
    first: i64,
    next: i64,
    end: i64,
    /// The end of the first health hour.
    due: i64,
}

/// A finished day's missing and out-of-range readings per sensor and hour: what the next
/// day's 24-hour health figures need of it, handed over instead of counted again (a day
/// of every sensor's random words: at ×1000, minutes of CPU at each midnight).
pub struct DayCounts {
    day: i64,
    counts: Vec<(HourCounts, HourCounts)>,
}

impl<'e> DayRun<'e> {
    /// Sets up unit `spec` with the machine's counters `start` at the start of its span.
    pub fn new(engine: &'e Engine, spec: UnitSpec, start: Counters) -> DayRun<'e> {
        DayRun::following(engine, spec, start, None)
    }

    /// The same, taking the previous day's health counts from `previous` (its machine's
    /// [`DayRun::day_counts`]) when they are that day's: the rows are the same either way.
    pub fn following(engine: &'e Engine, spec: UnitSpec, start: Counters, previous: Option<DayCounts>) -> DayRun<'e> {
        let (from, to) = spec.span();
        let m = spec.machine;
        // The lookback up to the span's second minute now; the rest as the steps need it.
        let mut tl = engine.unit_stretch(m, spec.day);
        engine.extend_timeline(&mut tl, from + 2 * SCADA_STEP);
        let sensors = engine.sensors_of(m);
        let mut lags = Lags::new(&tl, sensors.clone().map(|s| engine.sensors[s].behaviour));
        lags.extend_to(&tl, tl.minute_index(from.max(tl.start)) + 2);
        let need_health = from < to && spec.emits_health();
        let mut states: Vec<SensorState> = sensors
            .clone()
            .map(|s| SensorState {
                dq: engine.sensor_defects(s, spec.day, (from, from)),
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
            backlog: None,
            tl,
        };
        if from >= to {
            return run;
        }
        let tl = &run.tl;
        let previous = previous.filter(|p| p.day + DAY == spec.day && p.counts.len() == states.len());
        if let Some(p) = previous.filter(|_| need_health) {
            for (st, (missing, oor)) in states.iter_mut().zip(p.counts) {
                (st.day_missing, st.day_oor) = (missing, oor);
            }
        } else if need_health {
            // The previous day's losses, and the day's own before the span.
            run.backlog = Some(Box::new(Backlog {
                first: spec.day - DAY,
                next: spec.day - DAY,
                end: from,
                due: from - from.rem_euclid(HOUR) + HOUR,
            }));
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
                states[k].frozen = engine.record_before(s, w0, tl, &run.lags).map(Box::new);
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
    /// [`KEEP_MINUTES`] before the next instant. With the minutes simulated only as far as
    /// each step needs, a day in progress holds a few minutes of its timeline.
    fn forget_past(&mut self) {
        let keep_from = self.next - self.next.rem_euclid(SCADA_STEP) - KEEP_MINUTES * SCADA_STEP;
        if keep_from > self.tl.start {
            let n = self.tl.forget_before(keep_from);
            self.lags.forget(n);
        }
        for dq in self.states.iter_mut().filter_map(|st| st.dq.as_mut()) {
            dq.forget_before(self.next);
        }
    }

    /// Makes each sensor's single-reading defects cover `[from, to)`: drawn again for the
    /// rest of the hour (or to `to`, if later) when they end sooner.
    fn draw_defects(&mut self, from: i64, to: i64) {
        let (day, m) = (self.spec.day, self.spec.machine);
        let until = (from - from.rem_euclid(HOUR) + HOUR).max(to).min(day + DAY);
        for (s, st) in self.engine.sensors_of(m).zip(self.states.iter_mut()) {
            if let Some(dq) = st.dq.as_mut().filter(|dq| dq.through < to) {
                *dq = self.engine.sensor_defects(s, day, (from, until)).expect("defects are on");
            }
        }
    }

    /// Counts the backlog's share for a step ending at `to`: in proportion to the way from
    /// the span's start to the first health hour's end, the whole of it by the step that
    /// closes that hour.
    ///
    /// The counts go into the sensors' own, which the steps so far have counted only in the
    /// span's first hour (`h0`, afresh from its first reading when the span starts on the
    /// hour): the previous day's hours but `h0` (which the day's own replaces), the day's
    /// hours before `h0` as the steps would have counted them, and the day's readings of
    /// `h0` before the span added to what the steps counted of it.
    fn count_backlog(&mut self, to: i64) {
        let Some(b) = self.backlog.as_deref_mut() else { return };
        let from = self.spec.span().0;
        let target = if to + SENSOR_STEP > b.due {
            b.end
        } else {
            let t = b.first + (b.end - b.first) * (to - from) / (b.due - from);
            t - t.rem_euclid(SENSOR_STEP)
        };
        let (engine, day, episodes) = (self.engine, self.spec.day, &self.tl.episodes);
        let (h0, h0_start) = (((from - day) / HOUR) as usize, from - from.rem_euclid(HOUR));
        while b.next < target {
            let until = target.min(b.next - b.next.rem_euclid(DAY) + DAY);
            let previous = b.next < day;
            for (s, st) in engine.sensors_of(self.spec.machine).zip(self.states.iter_mut()) {
                let (missing, oor) = (&mut st.day_missing, &mut st.day_oor);
                engine.losses(s, (b.next, until), episodes, |t, lost, spike| {
                    if previous {
                        let h = (t.rem_euclid(DAY) / HOUR) as usize;
                        if h != h0 {
                            missing.add(h, lost);
                            oor.add(h, spike);
                        }
                    } else if t >= h0_start {
                        missing.add(h0, lost);
                        oor.add(h0, spike);
                    } else {
                        missing.count(day, t, lost);
                        oor.count(day, t, spike);
                    }
                });
            }
            b.next = until;
        }
        if b.next >= b.end {
            self.backlog = None;
        }
    }

    /// The day's health counts for the next day of the machine, once the whole day has
    /// been generated with its health figures.
    pub fn day_counts(&self) -> Option<DayCounts> {
        // A span starting after midnight counted the day's earlier hours when it was set up.
        let to_midnight = self.spec.span().1 == self.spec.day + DAY;
        (to_midnight && self.need_health && self.done()).then(|| DayCounts {
            day: self.spec.day,
            counts: self.states.iter().map(|st| (st.day_missing, st.day_oor)).collect(),
        })
    }

    /// Drops each sensor's random generators until the next step reads them again (300
    /// bytes a stream; remade at their position, so the rows are the same): for a day in
    /// progress that waits between steps, at a small cost per step.
    pub fn park(&self) {
        for st in &self.states {
            st.day.park();
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
        self.engine.extend_timeline(&mut self.tl, to + SCADA_STEP);
        self.lags.extend_to(&self.tl, self.tl.minute_index(to) + 1);
        self.draw_defects(from, to);
        self.count_backlog(to);
        self.sensor_and_scada_rows(from, to, &mut step);
        self.engine.event_rows(self.spec, (from, to), &self.tl, &mut step);
        self.next = to;
        if !self.done() {
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
}

impl Engine {
    /// The ids a machine's rows carry: (machine, line, factory).
    fn place<'a>(&'a self, machine: &'a crate::plant::Machine) -> (&'a str, &'a str, &'a str) {
        let plant = &self.plant;
        (machine.id.as_str(), plant.lines[machine.line].id.as_str(), plant.factories[machine.factory].id.as_str())
    }

    /// The timeline a unit uses: from 12 hours before its day to the day's end.
    pub fn unit_timeline(&self, m: usize, day: i64) -> Timeline {
        let mut tl = self.unit_stretch(m, day);
        self.extend_timeline(&mut tl, day + DAY);
        tl
    }

    /// [`Engine::unit_timeline`] with no minute simulated yet.
    fn unit_stretch(&self, m: usize, day: i64) -> Timeline {
        let from = day - LOOKBACK;
        let to = day + DAY;
        let eps = self.episodes().for_machine(m, from - DAY, to + DAY);
        self.timeline_from(m, from, to, eps)
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
        let installed = crate::clock::day_number(mc.installation_date) * DAY;
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

    /// The stream generates a day step by step (parking the sensors' generators between
    /// some): the steps' rows, concatenated, must be the day's rows byte for byte (health hours whole, labels once, counters continuous), and
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

    /// Steps of odd lengths from inside an hour and from an hour's start (the losses before
    /// the span are counted a share per step into the sensors' own counts: added to the
    /// hour the steps began inside, left out of the one they began afresh) give the rows of
    /// the day generated whole.
    fn steps_concatenate(e: &Engine) {
        let day = 1_772_323_200; // 2026-03-01
        for start in [5 * HOUR + 30 * 60, 5 * HOUR] {
            steps_concatenate_from(e, (day + start, day + 2 * DAY));
        }
    }

    fn steps_concatenate_from(e: &Engine, window: (i64, i64)) {
        use crate::encode::{Encoded, Format};
        let ordered = e.quality.is_none();
        let day = window.0 - window.0.rem_euclid(DAY);
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
                if k % 2 == 0 {
                    run.park();
                }
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

    /// The next day set up with a finished day's health counts gives the rows it gives
    /// counting them again (the stream hands them over at midnight), defects on, for
    /// machines with and without sensor episodes.
    #[test]
    fn a_day_following_its_counted_day_gives_the_same_rows() {
        use crate::encode::{Encoded, Format};
        let mut e = engine();
        e.quality = Some(crate::sim::quality::Quality { gaps_per_machine_day: 1.0, ..Default::default() });
        let day = 1_772_323_200; // 2026-03-01
        let window = (day + 5 * HOUR + 30 * 60, day + 2 * DAY);
        let mut with_drift = 0;
        for m in (0..e.plant.machines.len()).step_by(7) {
            let first = UnitSpec::new(m, day, window);
            let mut run = DayRun::new(&e, first, e.initial_counters(m, window.0));
            run.run_until(day + DAY, &mut Discard);
            let counts = run.day_counts().expect("a finished day with health rows hands its counts on");
            let start = run.counters();
            let next = UnitSpec::new(m, day + DAY, window);
            let (mut counted, mut handed) = (Encoded::new(Format::Csv), Encoded::new(Format::Csv));
            DayRun::new(&e, next, start).run_until(day + 2 * DAY, &mut counted);
            DayRun::following(&e, next, start, Some(counts)).run_until(day + 2 * DAY, &mut handed);
            for t in Table::ALL {
                assert!(
                    counted.bufs[t.index()] == handed.bufs[t.index()],
                    "machine {m}, {}: rows differ with the handed-over counts",
                    t.name()
                );
            }
            with_drift += usize::from(e.unit_timeline(m, day).episodes.iter().any(|ep| ep.sensor.is_some()));
        }
        assert!(with_drift > 0, "some machine has a sensor episode (its losses count)");
    }

    /// Rows nobody takes.
    struct Discard;

    impl Emit for Discard {
        fn emit<R: Row>(&mut self, _row: &R, _at: i64) {}
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
