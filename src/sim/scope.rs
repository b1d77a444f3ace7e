//! What a run covers — its window, shard and fault rate — validated once for every command,
//! and where the machines' counters stand when it starts.
//!
//! Backfill and stream both build their request from these rules, so a shard, a window or a
//! fault rate means the same thing (and is refused with the same line) in either command.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Result};

use super::clock::{days_from_civil, DAY, SCADA_STEP};
use super::unit::{Counters, UnitSpec};
use super::Engine;
use crate::config::Config;

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

    /// The shard a process runs, from its flag and its environment — a pure function of
    /// both, so that orchestrators pick shards without a coordinator:
    ///
    /// 1. `--shard i/n`;
    /// 2. `GENIMS_SHARD=i/n` (a systemd template unit passes its instance, `2-of-4`);
    /// 3. `GENIMS_SHARD_COUNT=n` with a 0-based index from `JOB_COMPLETION_INDEX` (a
    ///    Kubernetes Indexed Job), else `GENIMS_SHARD_INDEX` (a StatefulSet's
    ///    `apps.kubernetes.io/pod-index` label through the downward API), else the ordinal
    ///    that ends the pod's `HOSTNAME` (`genims-stream-3`);
    /// 4. the whole plant.
    pub fn select(flag: Option<Shard>, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        if let Some(f) = flag {
            return Ok(f);
        }
        let get = |k: &str| env(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(s) = get("GENIMS_SHARD") {
            return Shard::parse(&s)
                .map_err(|_| anyhow!("GENIMS_SHARD={s}: expected i/n (or i-of-n) with 1 <= i <= n"));
        }
        let Some(count) = get("GENIMS_SHARD_COUNT") else { return Ok(Shard::WHOLE) };
        let count: usize = count
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| anyhow!("GENIMS_SHARD_COUNT={count}: expected a positive number of shards"))?;
        let (source, index) = if let Some(i) = get("JOB_COMPLETION_INDEX") {
            ("JOB_COMPLETION_INDEX", i)
        } else if let Some(i) = get("GENIMS_SHARD_INDEX") {
            ("GENIMS_SHARD_INDEX", i)
        } else if let Some(h) = get("HOSTNAME") {
            let ordinal = h.rsplit('-').next().filter(|o| o.chars().all(|c| c.is_ascii_digit()) && !o.is_empty());
            let o = ordinal.ok_or_else(|| {
                anyhow!(
                    "GENIMS_SHARD_COUNT={count} but no shard index: set JOB_COMPLETION_INDEX (Indexed Job), GENIMS_SHARD_INDEX, \
                     or run as a StatefulSet pod (HOSTNAME {h} has no ordinal)"
                )
            })?;
            ("the HOSTNAME ordinal", o.to_owned())
        } else {
            bail!("GENIMS_SHARD_COUNT={count} but no shard index: set JOB_COMPLETION_INDEX, GENIMS_SHARD_INDEX or GENIMS_SHARD");
        };
        let i: usize = index.parse().map_err(|_| anyhow!("{source} = {index}: expected a 0-based shard index"))?;
        if i >= count {
            bail!("{source} = {i} but GENIMS_SHARD_COUNT = {count}: the index must be below the count (0-based)");
        }
        Ok(Shard { index: i + 1, count })
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

/// The backfill window: `end` defaults to `now`, `start` to `end` minus `days`; both are
/// floored to whole minutes. At least a minute and at most [`MAX_DAYS`] long.
pub fn window(days: i64, start: Option<i64>, end: Option<i64>, now: i64) -> Result<(i64, i64)> {
    let b = floor_minute(end.unwrap_or(now));
    let a = floor_minute(start.unwrap_or(b - days * DAY));
    check_window(a, b)?;
    let max = i64::from(MAX_DAYS) * DAY;
    if b - a > max {
        bail!(
            "the window holds {:.1} days; one run covers at most {MAX_DAYS} days (ten years): load a longer history as consecutive windows, which continue each other exactly",
            (b - a) as f64 / DAY as f64
        );
    }
    Ok((a, b))
}

/// A window must hold at least one minute.
pub fn check_window(a: i64, b: i64) -> Result<()> {
    if a >= b {
        bail!("the window is empty: --start must lie before --end");
    }
    Ok(())
}

impl Engine {
    /// A run's window must begin once the plant exists (its first factory opened): before
    /// that its machines have no history to simulate.
    pub fn check_start(&self, start: i64) -> Result<()> {
        let opened = self.plant.factories.iter().map(|f| f.operational_since).min();
        let Some(opened) = opened else { return Ok(()) };
        let first = days_from_civil(opened.year(), opened.month() as u8, opened.day()) * DAY;
        if start < first {
            bail!(
                "--start {} lies before the plant existed: its first factory opened on {opened} \
                 (the plant's history is placed by [plant] reference_date)",
                super::clock::date_string(start)
            );
        }
        Ok(())
    }

    /// A shard must hold a machine.
    pub fn check_shard(&self, shard: Shard) -> Result<()> {
        let machines = self.plant.machines.len();
        if shard.count > machines {
            bail!(
                "--shard {}/{}: the plant has {machines} machines, so at most {machines} shards",
                shard.index,
                shard.count
            );
        }
        Ok(())
    }
}

/// Worker threads: `GENIMS_THREADS` when set, else one per core. Output does not depend on it.
pub fn threads() -> usize {
    std::env::var("GENIMS_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// `f` over `items` on [`threads`] threads, results in item order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads().min(items.len().max(1)) {
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
    /// The engine for a configuration, with the fault rate of the run and, if given, only
    /// the named fault patterns enabled.
    pub fn for_config(cfg: &Config, fault_rate: f64, patterns: &[String]) -> Result<Engine> {
        let catalogue = cfg.fault_catalogue()?;
        let plant = crate::plant::Plant::generate(cfg.seed, &cfg.sizes, cfg.reference_date, &catalogue)?;
        let mut engine = Engine::new(cfg.seed, fault_rate, plant, catalogue)?;
        engine.set_difficulty(cfg.difficulty);
        engine.quality = cfg.quality_defects();
        engine.restrict_patterns(patterns)?;
        Ok(engine)
    }

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
        par_map(machines, |&m| self.counters_at(m, t, known))
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
        par_map(machines, |&m| {
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

    #[test]
    fn window_defaults_and_errors() {
        let now = 1_772_366_437; // 2026-03-01T12:00:37Z
        let (a, b) = window(7, None, None, now).unwrap();
        assert_eq!(b, 1_772_366_400, "end is now rounded down to the minute");
        assert_eq!(b - a, 7 * DAY);
        let (mar1, mar2) = (1_772_323_200, 1_772_409_600);
        assert_eq!(window(1, Some(mar1 + 30), Some(mar2), now).unwrap(), (mar1, mar2), "floored to minutes");
        assert!(window(1, Some(mar2), Some(mar1), now).unwrap_err().to_string().contains("the window is empty"));
        let err = window(1, Some(946_684_800), Some(mar1), now).unwrap_err().to_string();
        assert!(err.contains("at most 3660 days"), "{err}");
    }

    #[test]
    fn a_run_starts_once_the_plant_exists_and_a_shard_holds_a_machine() {
        let e = super::super::seed_7_engine();
        let err = e.check_start(-2_208_988_800).unwrap_err().to_string(); // 1900-01-01
        assert!(err.starts_with("--start 1900-01-01 lies before the plant existed"), "{err}");
        assert!(e.check_start(1_772_323_200).is_ok());
        assert!(e.check_shard(Shard { index: 228, count: 228 }).is_ok());
        let err = e.check_shard(Shard { index: 999, count: 1000 }).unwrap_err().to_string();
        assert!(err.contains("the plant has 228 machines, so at most 228 shards"), "{err}");
    }
}
