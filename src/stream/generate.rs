//! The stream's source: the shared engine run minute by minute, cut into ticks.
//!
//! Each machine of the shard keeps a [`DayRun`] (the same unit generation backfill uses, so
//! a stream over a window emits exactly the backfill of that window) that is advanced one
//! minute per block: every minute is simulated once, whatever the number of sinks, and
//! encoded for each format the sinks need through a [`Fanout`]; the rows are then cut by
//! their release marks into ticks of 10 s (`iot`, `all`) or 60 s (`scada`).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::buffer::Batch;
use crate::encode::{Encoded, Fanout, Format};
use crate::rows::Table;
use crate::sim::clock::{DAY, SCADA_STEP};
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
}

/// One tick's rows: one batch per format, in [`Plan::formats`] order.
pub struct Tick {
    pub first: i64,
    pub through: i64,
    pub batches: Vec<Batch>,
}

/// One table's rows of one tick in one format: encoded bytes and row count.
type Cell = (Vec<u8>, u64);

/// Generates the blocks of a plan in order.
pub struct Generator<'e> {
    engine: &'e Engine,
    plan: Plan,
    /// Per plan machine: its counters at `next`, and its day in progress (set up when the
    /// machine's first minute of a day is generated).
    machines: Vec<(Counters, Option<DayRun<'e>>)>,
    next: i64,
    threads: usize,
}

impl<'e> Generator<'e> {
    /// Starts at the window's start with the machines' counters then (one per plan machine).
    pub fn new(engine: &'e Engine, plan: Plan, counters: Vec<Counters>, threads: usize) -> Generator<'e> {
        assert_eq!(plan.window.0.rem_euclid(SCADA_STEP), 0, "a stream starts on a whole minute");
        assert_eq!(counters.len(), plan.machines.len());
        let next = plan.window.0;
        let machines = counters.into_iter().map(|c| (c, None)).collect();
        Generator { engine, plan, machines, next, threads: threads.max(1) }
    }

    /// The start of the next block, or `None` past the window's end.
    pub fn next_start(&self) -> Option<i64> {
        (self.next < self.plan.window.1).then_some(self.next)
    }

    /// The next minute's ticks, or `None` past the window's end.
    pub fn next_block(&mut self) -> Option<Vec<Tick>> {
        let a = self.next;
        if a >= self.plan.window.1 {
            return None;
        }
        let b = (a + SCADA_STEP).min(self.plan.window.1);
        self.next = b;
        let snapshot = self.plan.counters.then(|| {
            let map: BTreeMap<String, Counters> = self
                .plan
                .machines
                .iter()
                .zip(&self.machines)
                .map(|(&m, (c, _))| (self.engine.plant.machines[m].id.clone(), *c))
                .collect();
            (a, Arc::new(map))
        });
        let units = self.generate(a, b);
        let mut ticks = self.cut(a, b, units);
        if let Some(first) = ticks.first_mut() {
            for batch in &mut first.batches {
                batch.counters = snapshot.clone();
            }
        }
        Some(ticks)
    }

    /// Every machine's rows of `[a, b)` in every format, in machine order; advances the
    /// machines' days and counters.
    fn generate(&mut self, a: i64, b: i64) -> Vec<Fanout> {
        let engine = self.engine;
        let plan = &self.plan;
        let day = a - a.rem_euclid(DAY);
        let chunk = plan.machines.len().div_ceil(self.threads).max(1);
        let mut out: Vec<Fanout> = Vec::with_capacity(plan.machines.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = plan
                .machines
                .chunks(chunk)
                .zip(self.machines.chunks_mut(chunk))
                .map(|(ids, states)| {
                    s.spawn(move || {
                        ids.iter()
                            .zip(states.iter_mut())
                            .map(|(&m, (counters, run))| {
                                if run.as_ref().is_none_or(|r| r.day() != day) {
                                    *run = Some(DayRun::new(engine, UnitSpec::new(m, day, plan.window), *counters));
                                }
                                let run = run.as_mut().expect("set up above");
                                let mut rows = Fanout(plan.formats.iter().map(|&f| Encoded::marked(f)).collect());
                                run.run_until(b, &mut rows);
                                *counters = run.counters();
                                rows
                            })
                            .collect::<Vec<Fanout>>()
                    })
                })
                .collect();
            for h in handles {
                out.extend(h.join().expect("generation does not panic"));
            }
        });
        out
    }

    /// Cuts the block's rows into ticks by their release marks.
    fn cut(&self, a: i64, b: i64, units: Vec<Fanout>) -> Vec<Tick> {
        let step = self.plan.step;
        let n = ((b - a) + step - 1) / step;
        let formats = self.plan.formats.len();
        let tables = self.plan.tables.len();
        // [format][tick][table]: bytes and rows.
        let mut bufs: Vec<Vec<Vec<Cell>>> = vec![vec![vec![(Vec::new(), 0); tables]; n as usize]; formats];
        // Each unit is freed as soon as it is cut, so a block is held about once, not twice.
        for unit in units {
            for (f, rows) in unit.0.into_iter().enumerate() {
                let marks = rows.marks.as_ref().expect("marked rows");
                for (ti, table) in self.plan.tables.iter().enumerate() {
                    let buf = &rows.bufs[table.index()];
                    let mut start = 0;
                    for &(at, end) in &marks[table.index()] {
                        let k = ((at - a) / step) as usize;
                        let slot = &mut bufs[f][k][ti];
                        slot.0.extend_from_slice(&buf[start..end]);
                        slot.1 += 1;
                        start = end;
                    }
                }
            }
        }
        let mut ticks: Vec<Tick> = (0..n)
            .map(|k| Tick {
                first: a + k * step,
                through: (a + (k + 1) * step).min(b),
                batches: Vec::with_capacity(formats),
            })
            .collect();
        for per_tick in bufs {
            for (tick, cells) in ticks.iter_mut().zip(per_tick) {
                let tables = self
                    .plan
                    .tables
                    .iter()
                    .zip(cells)
                    .filter(|(_, (_, rows))| *rows > 0)
                    .map(|(&t, (bytes, rows))| (t, vec![Bytes::from(bytes)], rows))
                    .collect();
                tick.batches.push(Batch { first: tick.first, through: tick.through, tables, counters: None });
            }
        }
        ticks
    }
}
