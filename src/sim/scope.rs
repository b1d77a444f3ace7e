//! What a run covers, as the engine takes it — a shard of the plant's machines, whole
//! minutes — and where the machines' counters stand when it starts (continued from what a
//! destination holds, or estimated). The commands turn flags and the environment into these
//! (the `request` module).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, Result};

use super::unit::{Counters, UnitSpec};
use super::Engine;
use crate::clock::{DAY, SCADA_STEP};

/// The longest window one run covers, in days (ten years). Longer histories are loaded as
/// consecutive windows, which continue each other exactly.
pub const MAX_DAYS: u32 = 3_660;

/// One of `count` disjoint parts of the plant (1-based `index`): every `count`-th machine
/// starting at `index - 1`. The union of all shards is the whole plant, row for row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Parses `i/n` or `i-of-n` (a systemd instance name, `genims@2-of-4`).
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || anyhow!("`{s}` is not a shard: expected i/n (or i-of-n) with 1 <= i <= n, e.g. 1/3");
        let (i, n) = s.split_once('/').or_else(|| s.split_once("-of-")).ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard's machines among `total`.
    pub fn machines(self, total: usize) -> Vec<usize> {
        (0..total).filter(|m| m % self.count == self.index - 1).collect()
    }
}

/// A whole minute at or before `t`.
pub fn floor_minute(t: i64) -> i64 {
    t - t.rem_euclid(SCADA_STEP)
}

/// `f` over `items` on `threads` threads, results in item order.
fn par_map<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= items.len() {
                    break;
                }
                let r = f(&items[k]);
                out.lock().expect("no panics while holding the lock")[k] = Some(r);
            });
        }
    });
    out.into_inner().expect("no poisoned lock").into_iter().map(|r| r.expect("every item computed")).collect()
}

/// Counters a destination already holds: machine id → (instant of the stored record, its
/// counters then).
pub type Known = BTreeMap<String, (i64, Counters)>;

impl Engine {
    /// Counters stored at `at` (the SCADA row of that minute) carried forward to `to`.
    pub fn carry(&self, m: usize, at: i64, to: i64, counters: Counters) -> Counters {
        let mut c = counters;
        let mut t = at;
        while t < to {
            let day = t - t.rem_euclid(DAY);
            let until = to.min(day + DAY);
            c = Engine::advance(&self.unit_timeline(m, day), t, until, c);
            t = until;
        }
        c
    }

    /// Machine `m`'s counters at `t`: continued from what a destination holds (at or before
    /// `t`), else estimated.
    pub fn counters_at(&self, m: usize, t: i64, known: &Known) -> Counters {
        match known.get(&self.plant.machines[m].id) {
            Some(&(at, c)) if at <= t => self.carry(m, at, t, c),
            _ => self.initial_counters(m, t),
        }
    }

    /// The counters of each of `machines` at `t`, computed in parallel.
    pub fn counters_of(&self, machines: &[usize], t: i64, known: &Known) -> Vec<Counters> {
        par_map(self.threads, machines, |&m| self.counters_at(m, t, known))
    }

    /// The counters of each of `machines` at the start of each day's span of `window`:
    /// `[machine slot][day]`.
    pub fn day_counters(
        &self,
        machines: &[usize],
        window: (i64, i64),
        days: &[i64],
        known: &Known,
    ) -> Vec<Vec<Counters>> {
        par_map(self.threads, machines, |&m| {
            let mut c = self.counters_at(m, window.0, known);
            days.iter()
                .map(|&day| {
                    let start = c;
                    let (from, to) = UnitSpec::new(m, day, window).span();
                    c = Engine::advance(&self.unit_timeline(m, day), from, to, c);
                    start
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_validate() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["4/3", "0/3", "1/0", "x", "1-3"] {
            assert!(Shard::parse(bad).is_err(), "{bad} must be refused");
        }
        let all: Vec<usize> = (1..=3).flat_map(|i| Shard { index: i, count: 3 }.machines(10)).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "shards partition the machines");
    }
}
