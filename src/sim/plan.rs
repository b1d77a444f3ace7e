//! Plans that drive machine states: each line's production runs (with changeovers) and each
//! machine's preventive maintenance windows. Both are pure functions of the seed and the
//! factory's local calendar.
//!
//! Runs are re-planned every local week (Monday 06:00): the week's first run starts then, and
//! at each later shift start a changeover happens with probability 1/5. The first run of a
//! week picks its product without looking back, so any run can be found by scanning at most
//! two weeks.

use rand::Rng as _;

use super::calendar::{next_shift, shift_at, week_start};
use super::episodes::{Ending, Episode, PlannedStops};
use super::Engine;
use crate::clock::{Zone, DAY, HOUR};
use crate::rng;

/// Probability of a changeover at a shift start.
const CHANGEOVER_PROB: f64 = 0.2;

/// One production run of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub line: usize,
    pub start: i64,
    pub end: i64,
    /// Index into `plant.line_products`.
    pub lpm: usize,
    pub prev_lpm: Option<usize>,
    /// Setup at the start of the run (changeover or batch setup), seconds.
    pub setup_secs: i64,
    /// Ordinal: local week index × 100 + position in the week.
    pub number: i64,
}

/// One preventive maintenance window of a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Preventive {
    pub machine: usize,
    pub start: i64,
    pub end: i64,
    /// Overlaps a fault or its repair: not performed.
    pub deferred: bool,
    /// The next planned window's start (for next_maintenance_due).
    pub next_start: i64,
}

impl Engine {
    fn pick_product(&self, line: usize, key: u64, exclude: Option<usize>) -> usize {
        let products = &self.lines[line].products;
        let mut r = rng::stream(self.seed, &[rng::label("run-product"), line as u64, key]);
        let candidates: Vec<usize> =
            products.iter().copied().filter(|&p| Some(p) != exclude || products.len() == 1).collect();
        // The primary product is made about half the time.
        if candidates[0] == products[0] && r.random_bool(0.5) {
            return candidates[0];
        }
        candidates[r.random_range(0..candidates.len())]
    }

    /// The runs of the local week starting at `w` (Monday 06:00), in order.
    fn week_runs(&self, line: usize, w: i64, prev_last: Option<usize>) -> Vec<Run> {
        let zone = &self.zones[self.plant.lines[line].factory];
        let next_week = week_start(zone, w + 8 * DAY);
        let mut starts = vec![w];
        let mut s = next_shift(zone, &shift_at(zone, w));
        while s.start < next_week {
            let mut r = rng::stream(self.seed, &[rng::label("changeover"), line as u64, s.start as u64]);
            if r.random::<f64>() < CHANGEOVER_PROB {
                starts.push(s.start);
            }
            s = next_shift(zone, &s);
        }
        let week_index = (w / (7 * DAY)) * 100;
        let mut runs = Vec::with_capacity(starts.len());
        let mut prev = prev_last;
        for (k, &start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(next_week);
            let lpm = if k == 0 {
                self.pick_product(line, start as u64, None)
            } else {
                self.pick_product(line, start as u64, prev)
            };
            let m = &self.plant.line_products[lpm];
            let setup_min = if prev.is_some_and(|p| self.plant.line_products[p].product == m.product) {
                m.setup_minutes
            } else {
                m.changeover_minutes
            };
            runs.push(Run {
                line,
                start,
                end,
                lpm,
                prev_lpm: prev,
                setup_secs: setup_min * 60,
                number: week_index + k as i64 + 1,
            });
            prev = Some(lpm);
        }
        runs
    }

    /// Every run of `line` overlapping `[a, b)`.
    pub fn runs(&self, line: usize, a: i64, b: i64) -> Vec<Run> {
        let zone = &self.zones[self.plant.lines[line].factory];
        let mut w = week_start(zone, a);
        let before = self.week_runs(line, week_start(zone, w - DAY), None);
        let mut prev_last = before.last().map(|r| r.lpm);
        let mut out = Vec::new();
        while w < b {
            let runs = self.week_runs(line, w, prev_last);
            prev_last = runs.last().map(|r| r.lpm);
            out.extend(runs.into_iter().filter(|r| r.start < b && r.end > a));
            w = week_start(zone, w + 8 * DAY);
        }
        out
    }

    /// The planned preventive window of machine `m` on local day `day`, if any.
    fn preventive_on(&self, m: usize, zone: &Zone, day: i64) -> Option<(i64, i64)> {
        let p = &self.machines[m];
        let weekday = (day + 3).rem_euclid(7) as u8;
        let (_, month, dom) = crate::clock::civil_from_days(day);
        let minutes = match self.plant.machines[m].maintenance_schedule {
            "daily" => 20..=40,
            "weekly" if weekday == p.maintenance_weekday => 60..=120,
            "monthly" if dom == p.maintenance_day_of_month => 150..=240,
            "quarterly" if dom == p.maintenance_day_of_month && month % 3 == 1 => 360..=480,
            _ => return None,
        };
        let minutes: i64 =
            rng::stream(self.seed, &[rng::label("preventive"), m as u64, day as u64]).random_range(minutes);
        let start = zone.utc_of(day, 6 * HOUR + p.maintenance_slot_min * 60);
        Some((start, start + minutes * 60))
    }

    /// Ends of machine `m`'s planned preventive windows starting in `[a, b)`, in order: a pure
    /// function of the calendar (deferred windows too), so any timeline agrees on them.
    pub fn services(&self, m: usize, a: i64, b: i64) -> Vec<i64> {
        self.stops(m, a, b).into_iter().map(|(_, end)| end).collect()
    }

    /// Preventive maintenance windows of machine `m` starting in `[a, b)`; `faults` are the
    /// machine's episodes, which defer a window they overlap.
    pub fn preventive(&self, m: usize, a: i64, b: i64, faults: &[Episode]) -> Vec<Preventive> {
        let zone = &self.zones[self.plant.machines[m].factory];
        self.stops(m, a, b)
            .into_iter()
            .map(|(start, end)| {
                let deferred =
                    faults.iter().any(|e| e.ending != Ending::None && e.fault_at < end && e.repair_end > start);
                // Find the next planned window (at most a quarter ahead).
                let day = zone.local(start).day;
                let next_start = (day + 1..=day + 101)
                    .find_map(|d| self.preventive_on(m, zone, d))
                    .map_or(start + 92 * DAY, |(s, _)| s);
                Preventive { machine: m, start, end, deferred, next_start }
            })
            .collect()
    }
}

/// Planned preventive windows pause a machine's degradation; a sensor's calibration ends its
/// drift (see `episodes`).
impl PlannedStops for Engine {
    fn calibrated(&self, s: usize, a: i64, b: i64) -> Option<i64> {
        self.calibrations(s, a, b).first().map(|c| c.done + c.labour)
    }

    fn stops(&self, m: usize, a: i64, b: i64) -> Vec<(i64, i64)> {
        let zone = &self.zones[self.plant.machines[m].factory];
        (zone.local(a).day - 1..=zone.local(b).day + 1)
            .filter_map(|day| self.preventive_on(m, zone, day))
            .filter(|&(s, _)| s >= a && s < b)
            .collect()
    }
}
