//! The stream's source: the shared engine run minute by minute, delivered as ticks.
//!
//! Each machine of the shard keeps a [`DayRun`] (the same unit generation backfill uses, so
//! a stream over a window emits exactly the backfill of that window) that is advanced one
//! block at a time — a tick ahead of the clock, the rest of the minute behind it: every
//! minute is simulated once, whatever the number of sinks, and each
//! row is encoded for every format the sinks take straight into the tick its release instant
//! falls in — ticks of 10 s (`iot`, `all`) or 60 s (`scada`); tables the stream does not
//! publish are not encoded.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::buffer::Batch;
use super::console::Console;
use super::opcua::Feed;
use crate::clock::{instant_string, DAY, HOUR, SCADA_STEP};
use crate::encode::{encode, Format};
use crate::rows::{Emit, Row, Table};
use crate::sim::episodes::Episode;
use crate::sim::unit::{Counters, DayRun, UnitSpec};
use crate::sim::Engine;

/// What a stream generates.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Tables the stream publishes.
    pub tables: Vec<Table>,
    /// Seconds per tick.
    pub step: i64,
    /// Encodings the sinks need, each generated once.
    pub formats: Vec<Format>,
    /// Machines of the shard.
    pub machines: Vec<usize>,
    /// `[start, end)`; `start` is a whole minute.
    pub window: (i64, i64),
    /// Whether SCADA counters matter (published, so kept across restarts).
    pub counters: bool,
    /// Whether every block is one tick, even behind the clock: a shard whose minute of rows
    /// would be large ([`Plan::large`]). Otherwise a block is one tick ahead of the clock
    /// and the rest of the minute behind it. The ticks are the same either way.
    pub ticks_only: bool,
    /// On a large plant (with `ticks_only`): each tick is generated and released in parts,
    /// runs of machines with about this many sensors, so that memory holds a part of a
    /// tick's rows at a time instead of all of them.
    pub part_sensors: Option<usize>,
    /// Every sink holds the stream up to the window's start (a restart): the episodes in
    /// progress there were labelled by the run before ([`UnitSpec::continues`]).
    pub continues: bool,
}

impl Plan {
    /// `(ticks_only, part_sensors)` for a shard of `sensors` sensors and `[stream]
    /// tick_part_sensors` (`limit`): a shard of more sensors than it generates a tick at a
    /// time (the rows held at once, encoded for every sink format, are a sixth of a
    /// minute's) and each tick in parts of about `limit` sensors (at the default 50,000 a
    /// ×1000 plant's tick comes in 35 parts of 29 MB of JSON instead of a gigabyte).
    pub fn large(sensors: usize, limit: usize) -> (bool, Option<usize>) {
        let large = sensors > limit;
        (large, large.then_some(limit))
    }

    /// Runs of plan machines (indices into `machines`) of about `part_sensors` sensors each,
    /// in order, covering them all; one run when ticks are not generated in parts.
    pub fn parts(&self, sensors_of: impl Fn(usize) -> usize) -> Vec<std::ops::Range<usize>> {
        let Some(limit) = self.part_sensors.filter(|_| self.ticks_only) else {
            return std::iter::once(0..self.machines.len()).collect();
        };
        let mut parts = Vec::new();
        let (mut start, mut held) = (0, 0);
        for (k, &m) in self.machines.iter().enumerate() {
            held += sensors_of(m);
            if held >= limit {
                parts.push(start..k + 1);
                (start, held) = (k + 1, 0);
            }
        }
        if start < self.machines.len() || parts.is_empty() {
            parts.push(start..self.machines.len());
        }
        parts
    }
}

/// One tick's rows, or on a large plant one part of them: one batch per format, in
/// [`Plan::formats`] order (a part's batches are `open` but its last's).
pub struct Tick {
    pub first: i64,
    /// The tick's end (on each of its parts).
    pub through: i64,
    pub batches: Vec<Batch>,
    /// The plant's status at the block's minute (on a block's first tick; on a tick in
    /// parts, its last part).
    pub status: Option<PlantStatus>,
}

impl Tick {
    /// Whether more parts of this tick follow.
    pub fn open(&self) -> bool {
        self.batches.first().is_some_and(|b| b.open)
    }
}

/// The shard's machines per state and episodes in effect per pattern at a minute, for the
/// daemon's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantStatus {
    /// Machines per state, indexed as [`crate::sim::machine::State::ALL`].
    pub states: [u64; 5],
    /// Episodes in effect per pattern, indexed as the catalogue.
    pub episodes: Vec<u64>,
    /// Episodes in effect or starting within the next hour, by machine order.
    pub near: Vec<EpisodeView>,
}

/// An episode as the control plane shows it (`GET /faults`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpisodeView {
    /// The episode's id (also its machine_faults id and fault label).
    pub id: i64,
    pub machine_id: String,
    pub pattern: String,
    /// For sensor-scoped patterns: the sensor.
    pub sensor_id: Option<String>,
    /// Where it stands at the minute shown: upcoming, onset, warning, critical, fault, repair.
    pub phase: &'static str,
    pub onset: String,
    pub warning: String,
    pub critical: String,
    pub fault: String,
    /// The end of the episode, its repair included.
    pub end: String,
    /// `catalogue` (drawn from the fault catalogue) or `injected`.
    pub source: &'static str,
}

impl EpisodeView {
    /// Episode `e` as seen at instant `t`.
    pub fn of(engine: &Engine, e: &Episode, t: i64) -> EpisodeView {
        let phase = if t < e.onset {
            "upcoming"
        } else if t >= e.fault_at {
            if t < e.fault_end {
                "fault"
            } else {
                "repair"
            }
        } else if t < e.warning_at {
            "onset"
        } else if t < e.critical_at {
            "warning"
        } else {
            "critical"
        };
        EpisodeView {
            id: e.id,
            machine_id: engine.plant.machines[e.machine].id.clone(),
            pattern: engine.catalogue.patterns[e.pattern].name.clone(),
            sensor_id: e.sensor.map(|s| engine.plant.sensors[s].id.clone()),
            phase,
            onset: instant_string(e.onset),
            warning: instant_string(e.warning_at.min(e.fault_at)),
            critical: instant_string(e.critical_at.min(e.fault_at)),
            fault: instant_string(e.fault_at),
            end: instant_string(e.end()),
            source: if e.injected { "injected" } else { "catalogue" },
        }
    }
}

impl PlantStatus {
    fn new(patterns: usize) -> PlantStatus {
        PlantStatus { states: [0; 5], episodes: vec![0; patterns], near: Vec::new() }
    }

    fn add(&mut self, other: PlantStatus) {
        for (a, b) in self.states.iter_mut().zip(other.states) {
            *a += b;
        }
        for (a, b) in self.episodes.iter_mut().zip(&other.episodes) {
            *a += b;
        }
        self.near.extend(other.near);
    }
}

/// One table's rows of one tick in one format: encoded bytes and row count.
type Cell = (Vec<u8>, u64);
/// The same across threads: one part per thread, and the row count.
type Parts = (Vec<Bytes>, u64);

/// Generates the blocks of a plan in order.
pub struct Generator<'e> {
    engine: &'e Engine,
    plan: Plan,
    /// Per plan machine: its counters at `next`, and its day in progress (set up when the
    /// machine's first minute of a day is generated).
    machines: Vec<(Counters, Option<DayRun<'e>>)>,
    /// Per plan machine: its counters at the start of its day in progress (to set the day up
    /// again after an injection).
    day_starts: Vec<Counters>,
    next: i64,
    threads: usize,
    /// The live views shown the rows as they are generated.
    taps: Taps,
    /// The machines' counters at the start of the current minute, which every batch of the
    /// minute carries (when they matter).
    minute_counters: Option<(i64, Arc<BTreeMap<String, Counters>>)>,
    /// Per thread, per format and table: the largest tick's bytes in the last block, so
    /// the next block's buffers are allocated once at about their size instead of grown.
    sizes: Vec<Vec<usize>>,
    /// The runs of machines a tick is generated in ([`Plan::parts`]), the next one's index
    /// (0 between ticks) and the tick's status so far, from its earlier parts.
    parts: Vec<std::ops::Range<usize>>,
    part: usize,
    status: Option<PlantStatus>,
}

impl<'e> Generator<'e> {
    /// Starts at the window's start with the machines' counters then (one per plan machine).
    pub fn new(engine: &'e Engine, plan: Plan, counters: Vec<Counters>, threads: usize) -> Generator<'e> {
        assert_eq!(plan.window.0.rem_euclid(SCADA_STEP), 0, "a stream starts on a whole minute");
        assert_eq!(counters.len(), plan.machines.len());
        let next = plan.window.0;
        let day_starts = counters.clone();
        let machines = counters.into_iter().map(|c| (c, None)).collect();
        let threads = threads.max(1);
        let parts = plan.parts(|m| engine.plant.sensors_of(m).len());
        Generator {
            engine,
            plan,
            machines,
            day_starts,
            next,
            threads,
            taps: Taps::default(),
            minute_counters: None,
            sizes: Vec::new(),
            parts,
            part: 0,
            status: None,
        }
    }

    /// Every row generated from now on is also shown to `taps`.
    pub fn with_taps(mut self, taps: Taps) -> Generator<'e> {
        self.taps = taps;
        self
    }

    /// Whether machine `m` is one this stream generates.
    pub fn holds(&self, m: usize) -> bool {
        self.plan.machines.contains(&m)
    }

    /// Sets machine `m`'s day in progress up again from the engine as it is now (after an
    /// injection), generating its minutes before the next one into nothing: they are the
    /// same as before, since an injection changes nothing before its onset.
    pub fn rebuild(&mut self, m: usize) {
        let Some(k) = self.plan.machines.iter().position(|&x| x == m) else { return };
        let (counters, run) = &mut self.machines[k];
        let Some(old) = run.as_ref() else { return };
        let spec = UnitSpec::new(m, old.day(), self.plan.window).continuing(self.plan.continues);
        let mut fresh = DayRun::new(self.engine, spec, self.day_starts[k]);
        fresh.run_until(self.next, &mut Discard);
        debug_assert_eq!(fresh.counters(), *counters, "the minutes before an injection do not change");
        *run = Some(fresh);
    }

    /// The start of the next block, or `None` past the window's end (a tick in parts: its
    /// start until its last part is out).
    pub fn next_start(&self) -> Option<i64> {
        (self.next < self.plan.window.1).then_some(self.next)
    }

    /// Whether some parts of the tick at [`Generator::next_start`] are out and others not.
    pub fn mid_tick(&self) -> bool {
        self.part > 0
    }

    /// The next whole minute not yet generated in part, or `None` past the window's end:
    /// where an injection or a clear takes effect (the next block's start, unless blocks
    /// are ticks and one of the minute's is out).
    pub fn next_minute(&self) -> Option<i64> {
        let from = self.next + i64::from(self.mid_tick());
        let t = from + (SCADA_STEP - from.rem_euclid(SCADA_STEP)) % SCADA_STEP;
        (t < self.plan.window.1).then_some(t)
    }

    /// The next block's ticks, or `None` past the window's end: one tick's when `ahead` of
    /// the clock (the rows held at once are a tick's) or on a large plant (there the next
    /// part of a tick, when ticks come in parts), else the rest of the minute's (fewer,
    /// larger blocks when catching up or at `--speed max`).
    pub fn next_block(&mut self, ahead: bool) -> Option<Vec<Tick>> {
        let a = self.next;
        if a >= self.plan.window.1 {
            return None;
        }
        let len = if ahead || self.plan.ticks_only { self.plan.step } else { SCADA_STEP - a.rem_euclid(SCADA_STEP) };
        let b = (a + len).min(self.plan.window.1);
        let part = self.parts[self.part].clone();
        let last = self.part + 1 == self.parts.len();
        let first_part = self.part == 0;
        (self.part, self.next) = if last { (0, b) } else { (self.part + 1, a) };
        let on_minute = a.rem_euclid(SCADA_STEP) == 0;
        if on_minute && first_part {
            self.minute_counters = self.plan.counters.then(|| {
                let map: BTreeMap<String, Counters> = self
                    .plan
                    .machines
                    .iter()
                    .zip(&self.machines)
                    .map(|(&m, (c, _))| (self.engine.plant.machines[m].id.clone(), *c))
                    .collect();
                (a, Arc::new(map))
            });
        }
        let mut chunks = self.generate(part, a, b, on_minute, ahead);
        let status = self.status.get_or_insert_with(|| PlantStatus::new(self.engine.catalogue.patterns.len()));
        for c in &mut chunks {
            status.add(std::mem::replace(&mut c.status, PlantStatus::new(0)));
        }
        let mut ticks = self.ticks(a, b, chunks, !last);
        // Every batch carries the counters at its minute's start (one shared map), so the
        // progress any commit saves can continue them, whichever ticks a sink skipped or
        // coalesced.
        for batch in ticks.iter_mut().flat_map(|t| t.batches.iter_mut()) {
            batch.counters = self.minute_counters.clone();
        }
        let status = if last { self.status.take() } else { None };
        if let Some(first) = ticks.first_mut().filter(|_| on_minute) {
            first.status = status;
        }
        Some(ticks)
    }

    /// The rows of the plan machines `part` (all of them unless ticks come in parts) in
    /// `[a, b)` in every format, straight into per-tick buffers: one [`TickRows`] per
    /// thread, each holding a run of machines in order. Advances the machines' days and
    /// counters. The plant's status is taken at a block starting a minute; `ahead` of the
    /// clock or on a large plant, the days park their sensors' generators between blocks
    /// (two of 320 bytes per sensor: 1.1 GB at ×1000, which a large plant would otherwise
    /// hold while it catches up after its start).
    fn generate(
        &mut self,
        part: std::ops::Range<usize>,
        a: i64,
        b: i64,
        on_minute: bool,
        ahead: bool,
    ) -> Vec<TickRows> {
        let engine = self.engine;
        let plan = &self.plan;
        let park = ahead || plan.ticks_only;
        let day = a - a.rem_euclid(DAY);
        let chunk = part.len().div_ceil(self.threads).max(1);
        let ticks = ((b - a) + plan.step - 1) / plan.step;
        let mut out: Vec<TickRows> = Vec::with_capacity(self.threads);
        let taps = &self.taps;
        let sizes = &self.sizes;
        std::thread::scope(|s| {
            let handles: Vec<_> = plan.machines[part.clone()]
                .chunks(chunk)
                .zip(self.machines[part.clone()].chunks_mut(chunk))
                .zip(self.day_starts[part].chunks_mut(chunk))
                .enumerate()
                .map(|(k, ((ids, states), starts))| {
                    s.spawn(move || {
                        let patterns = engine.catalogue.patterns.len();
                        let mut rows = TickRows::new(plan, a, ticks as usize, patterns, sizes.get(k));
                        for ((&m, (counters, run)), start) in ids.iter().zip(states.iter_mut()).zip(starts.iter_mut()) {
                            if run.as_ref().is_none_or(|r| r.day() != day) {
                                *start = *counters;
                                let previous = run.take().and_then(|r| r.day_counts());
                                let spec = UnitSpec::new(m, day, plan.window).continuing(plan.continues);
                                *run = Some(DayRun::following(engine, spec, *counters, previous));
                            }
                            let run = run.as_mut().expect("set up above");
                            if on_minute {
                                rows.status_of(engine, run, a);
                            }
                            taps.run(m, a, b, run, &mut rows);
                            *counters = run.counters();
                            if park {
                                // Until its next block the day needs no generators (they are
                                // remade where they stood).
                                run.park();
                            }
                        }
                        rows
                    })
                })
                .collect();
            for h in handles {
                out.push(h.join().expect("generation does not panic"));
            }
        });
        self.sizes = out.iter().map(TickRows::sizes).collect();
        out
    }

    /// The block's ticks: per format, each table's rows as one part per thread, in machine
    /// order (no copy); `open` when it is a part of a tick that others follow.
    fn ticks(&self, a: i64, b: i64, chunks: Vec<TickRows>, open: bool) -> Vec<Tick> {
        let step = self.plan.step;
        let n = ((b - a) + step - 1) / step;
        let mut ticks: Vec<Tick> = (0..n)
            .map(|k| Tick {
                first: a + k * step,
                through: (a + (k + 1) * step).min(b),
                batches: Vec::with_capacity(self.plan.formats.len()),
                status: None,
            })
            .collect();
        // [format][tick][table] → parts and rows.
        let mut parts: Vec<Vec<Vec<Parts>>> =
            vec![vec![vec![(Vec::new(), 0); self.plan.tables.len()]; n as usize]; self.plan.formats.len()];
        for chunk in chunks {
            for (f, per_tick) in chunk.cells.into_iter().enumerate() {
                for (k, per_table) in per_tick.into_iter().enumerate() {
                    for (ti, (bytes, rows)) in per_table.into_iter().enumerate() {
                        if rows > 0 {
                            let slot = &mut parts[f][k][ti];
                            slot.0.push(Bytes::from(bytes));
                            slot.1 += rows;
                        }
                    }
                }
            }
        }
        for per_tick in parts {
            for (tick, per_table) in ticks.iter_mut().zip(per_tick) {
                let tables = self
                    .plan
                    .tables
                    .iter()
                    .zip(per_table)
                    .filter(|(_, (_, rows))| *rows > 0)
                    .map(|(&t, (bytes, rows))| (t, bytes, rows))
                    .collect();
                let through = if open { tick.first } else { tick.through };
                tick.batches.push(Batch { first: tick.first, through, open, tables, counters: None });
            }
        }
        ticks
    }
}

/// The live views fed from the generated rows: the control plane's console and the OPC UA
/// server. Each is shown a machine's rows in front of the sinks' tick buffers and shows them
/// once the release loop releases their instant.
#[derive(Clone, Default)]
pub struct Taps {
    pub console: Option<Arc<Console>>,
    pub opcua: Option<Arc<Feed>>,
}

impl Taps {
    /// Runs machine `m`'s day through `[a, b)` into `rows`, through every view that shows it.
    fn run<E: Emit>(&self, m: usize, a: i64, b: i64, run: &mut DayRun<'_>, rows: &mut E) {
        match self.opcua.as_deref().filter(|f| f.holds(m)) {
            Some(f) => self.run_console(m, a, b, run, &mut f.tap(m, rows)),
            None => self.run_console(m, a, b, run, rows),
        }
    }

    fn run_console<E: Emit>(&self, m: usize, a: i64, b: i64, run: &mut DayRun<'_>, rows: &mut E) {
        match self.console.as_deref().filter(|c| c.holds(m)) {
            Some(c) => run.run_until(b, &mut c.tap(m, a, b, rows).expect("held")),
            None => run.run_until(b, rows),
        }
    }

    /// Everything before `through` has been released to the sinks: the views show it too.
    pub fn release(&self, through: i64) {
        if let Some(c) = &self.console {
            c.release(through);
        }
        if let Some(f) = &self.opcua {
            f.release(through);
        }
    }
}

/// Rows nobody takes: a day set up again is run up to its next minute into this.
struct Discard;

impl Emit for Discard {
    fn emit<R: Row>(&mut self, _row: &R, _at: i64) {}
}

/// One thread's rows of a block, encoded in every format the sinks take, straight into
/// the buffer of the tick each row is released in; tables the stream does not publish are
/// not encoded at all.
struct TickRows {
    a: i64,
    step: i64,
    formats: Vec<Format>,
    /// Per table index: its slot among the plan's tables.
    slot: [Option<usize>; Table::COUNT],
    /// [format][tick][table slot]: bytes and rows.
    cells: Vec<Vec<Vec<Cell>>>,
    /// The thread's machines at the block's minute.
    status: PlantStatus,
}

impl TickRows {
    /// Counts `run`'s machine in the thread's status at `a`.
    fn status_of(&mut self, engine: &Engine, run: &DayRun<'_>, a: i64) {
        if let Some((state, patterns)) = run.status_at(a) {
            self.status.states[state as usize] += 1;
            for p in patterns {
                self.status.episodes[p] += 1;
            }
        }
        self.status.near.extend(run.episodes_near(a, HOUR).map(|e| EpisodeView::of(engine, e, a)));
    }

    /// A thread's buffers for `ticks` ticks from `a`, each allocated at `hint`'s size (per
    /// format and table, [`TickRows::sizes`] of the thread's last block) and an eighth more.
    fn new(plan: &Plan, a: i64, ticks: usize, patterns: usize, hint: Option<&Vec<usize>>) -> TickRows {
        assert!(!plan.formats.contains(&Format::Sql), "SQL statements are not streamed");
        let mut slot = [None; Table::COUNT];
        for (i, t) in plan.tables.iter().enumerate() {
            slot[t.index()] = Some(i);
        }
        let n = plan.tables.len();
        let cell = |f: usize, ti: usize| {
            let bytes = hint.and_then(|h| h.get(f * n + ti)).copied().unwrap_or(0);
            (Vec::with_capacity(bytes + bytes / 8), 0)
        };
        let cells = (0..plan.formats.len())
            .map(|f| (0..ticks).map(|_| (0..n).map(|ti| cell(f, ti)).collect()).collect())
            .collect();
        TickRows { a, step: plan.step, formats: plan.formats.clone(), slot, cells, status: PlantStatus::new(patterns) }
    }
}

impl TickRows {
    /// Per format and table: the largest tick's bytes.
    fn sizes(&self) -> Vec<usize> {
        self.cells
            .iter()
            .flat_map(|per_tick| {
                let tables = per_tick.first().map_or(0, Vec::len);
                (0..tables).map(move |ti| per_tick.iter().map(|cells| cells[ti].0.len()).max().unwrap_or(0))
            })
            .collect()
    }
}

impl Emit for TickRows {
    #[inline]
    fn emit<R: Row>(&mut self, row: &R, at: i64) {
        let Some(ti) = self.slot[R::TABLE.index()] else { return };
        let k = ((at - self.a) / self.step) as usize;
        for (f, &fmt) in self.formats.iter().enumerate() {
            let cell = &mut self.cells[f][k][ti];
            encode(fmt, row, &mut cell.0);
            cell.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::days_from_civil;

    /// A SCADA stream's progress can be saved at any commit: every batch of every tick carries
    /// the machines' counters at its minute's start, and carried on to the next minute they
    /// are the counters the next block starts from (a restart anywhere continues them).
    #[test]
    fn every_batch_carries_the_counters_a_restart_continues() {
        let engine = crate::sim::seed_7_engine();
        let start = days_from_civil(2026, 3, 1) * DAY + 6 * HOUR;
        let machines: Vec<usize> = (0..6).collect();
        let plan = Plan {
            tables: vec![Table::ScadaMachineData, Table::SensorData],
            step: 10,
            formats: vec![Format::Jsonl],
            machines: machines.clone(),
            window: (start, start + 3 * SCADA_STEP),
            counters: true,
            ticks_only: false,
            part_sensors: None,
            continues: false,
        };
        let counters = engine.counters_of(&machines, start, &Default::default());
        let mut gen = Generator::new(&engine, plan, counters, 2);
        let mut previous: Option<(i64, Arc<BTreeMap<String, Counters>>)> = None;
        while let Some(block) = gen.next_block(false) {
            let first = block[0].first;
            assert_eq!(block.len(), 6, "six ticks of 10 s a minute");
            for tick in &block {
                let (at, map) = tick.batches[0].counters.clone().unwrap_or_else(|| {
                    panic!("the tick at {} carries no counters: a commit there would save none", tick.first)
                });
                assert_eq!(at, first, "the counters are the block's minute's");
                assert_eq!(map.len(), machines.len(), "every machine's counters");
            }
            if let Some((at, map)) = previous {
                for &m in &machines {
                    let id = &engine.plant.machines[m].id;
                    let carried = engine.carry(m, at, first, map[id]);
                    let next = block[0].batches[0].counters.as_ref().unwrap().1[id];
                    assert_eq!(carried, next, "{id}: the counters carried over a minute are the next minute's");
                }
            }
            previous = block[0].batches[0].counters.clone();
        }
    }

    /// A stream ahead of the clock, or on a large plant, generates a tick at a time (and one
    /// that falls behind finishes the minute in one block): every tick holds exactly the
    /// rows, bytes and counters a minute's block gives it (data-quality defects included,
    /// across an hour's end and midnight), and the plant's status comes with each minute's
    /// first.
    #[test]
    fn blocks_of_one_tick_fill_the_ticks_a_minute_block_fills() {
        let mut engine = crate::sim::seed_7_engine();
        engine.quality = Some(crate::sim::quality::Quality {
            gaps_per_machine_day: 2.0,
            clock_skews_per_machine_day: 2.0,
            stale_per_sensor_day: 0.5,
            duplicate_rate: 0.02,
            late_rate: 0.02,
            ..Default::default()
        });
        let start = days_from_civil(2026, 3, 2) * DAY - 3 * SCADA_STEP;
        let machines: Vec<usize> = (0..40).collect();
        // Parts joined to their tick's earlier parts.
        let parts = std::cell::Cell::new(0);
        let ticks_of = |ticks_only: bool, ahead: bool, part_sensors: Option<usize>| {
            let plan = Plan {
                tables: Table::ALL.to_vec(),
                step: 10,
                formats: vec![Format::Jsonl, Format::Csv],
                machines: machines.clone(),
                window: (start, start + 6 * SCADA_STEP),
                counters: true,
                ticks_only,
                part_sensors,
                continues: false,
            };
            let counters = engine.counters_of(&machines, start, &Default::default());
            let mut gen = Generator::new(&engine, plan, counters, 2);
            let mut ticks: Vec<Tick> = Vec::new();
            // Ahead of the clock for the first minute and a half, then behind it.
            while let Some(block) = gen.next_block(ahead && gen.next_start() < Some(start + 90)) {
                for tick in block {
                    // A tick's parts, joined as a sink's queue joins them.
                    match ticks.last_mut().filter(|t| t.open()) {
                        Some(open) => {
                            assert_eq!(
                                (open.first, open.through),
                                (tick.first, tick.through),
                                "a tick's parts in order"
                            );
                            assert!(open.status.is_none(), "the status comes with a tick's last part");
                            for (x, y) in open.batches.iter_mut().zip(tick.batches) {
                                assert_eq!(x.through, x.first, "an open part is through its tick's start only");
                                x.absorb(y);
                            }
                            open.status = tick.status;
                            parts.set(parts.get() + 1);
                        }
                        None => ticks.push(tick),
                    }
                }
            }
            ticks
        };
        let minutes = ticks_of(false, false, None);
        for ticks in [ticks_of(true, false, None), ticks_of(false, true, None)] {
            same_ticks(&minutes, &ticks);
        }
        assert_eq!(parts.get(), 0, "no parts unless asked for");
        // Parts of about 30 sensors (40 machines: about ten parts a tick).
        same_ticks(&minutes, &ticks_of(true, false, Some(30)));
        assert!(parts.get() >= 36 * 4, "every tick came in parts ({} parts after the first of each)", parts.get());
    }

    /// A large plant's runs of machines cover every machine once, in order, each reaching
    /// its sensors' share but by its last machine.
    #[test]
    fn a_ticks_parts_cover_the_machines_in_runs_of_about_the_sensors_asked() {
        let engine = crate::sim::seed_7_engine();
        let machines: Vec<usize> = (0..engine.plant.machines.len()).collect();
        let sensors = |m: usize| engine.plant.sensors_of(m).len();
        let plan = |part_sensors| Plan {
            tables: vec![Table::SensorData],
            step: 10,
            formats: vec![Format::Jsonl],
            machines: machines.clone(),
            window: (0, 60),
            counters: false,
            ticks_only: true,
            part_sensors,
            continues: false,
        };
        assert_eq!(plan(None).parts(sensors), std::iter::once(0..machines.len()).collect::<Vec<_>>());
        let parts = plan(Some(100)).parts(sensors);
        assert_eq!(parts.first().map(|p| p.start), Some(0));
        assert_eq!(parts.last().map(|p| p.end), Some(machines.len()));
        for (p, q) in parts.iter().zip(&parts[1..]) {
            assert_eq!(p.end, q.start, "runs follow each other");
            let held: usize = machines[p.clone()].iter().map(|&m| sensors(m)).sum();
            let but_last: usize = machines[p.start..p.end - 1].iter().map(|&m| sensors(m)).sum();
            assert!(held >= 100 && but_last < 100, "run {p:?}: {held} sensors, {but_last} without its last machine");
        }
        let total: usize = machines.iter().map(|&m| sensors(m)).sum();
        let most = machines.iter().map(|&m| sensors(m)).max().unwrap();
        assert!(
            (total / (100 + most)..=total / 100 + 1).contains(&parts.len()),
            "{} runs of {total} sensors",
            parts.len()
        );
    }

    fn same_ticks(minutes: &[Tick], ticks: &[Tick]) {
        assert_eq!(minutes.len(), 36, "six minutes of 10-s ticks");
        assert_eq!(ticks.len(), minutes.len(), "as many ticks in blocks of one tick");
        let mut rows = 0;
        for (a, b) in minutes.iter().zip(ticks) {
            assert_eq!((a.first, a.through), (b.first, b.through), "tick bounds");
            assert_eq!(a.status.is_some(), b.status.is_some(), "tick {}: the status with each minute's first", a.first);
            assert_eq!(a.status, b.status, "tick {}: the plant's status", a.first);
            for (f, (x, y)) in a.batches.iter().zip(&b.batches).enumerate() {
                let flat = |batch: &Batch| -> Vec<(Table, Vec<u8>, u64)> {
                    batch.tables.iter().map(|(t, parts, n)| (*t, parts.concat(), *n)).collect()
                };
                assert!(flat(x) == flat(y), "tick {} format {f}: the same rows in the same order", a.first);
                assert_eq!(x.counters, y.counters, "tick {}: the counters of its minute's start", a.first);
                rows += x.rows();
            }
        }
        assert!(rows > 40 * 6 * 6, "the ticks hold readings ({rows} rows)");
    }
}
