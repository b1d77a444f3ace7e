//! Fault episodes: when each machine degrades, which pattern strikes, and how the episode
//! unfolds (onset, warning, critical, trip, repair).
//!
//! Episodes are a pure function of (seed, machine, time): time is cut into 7-day epochs from
//! 2020-01-01, and in each epoch a machine suffers an episode with probability `fault_rate`,
//! its trip time uniform in the epoch. So any window, any shard and any restart sees the same
//! episodes, long ones (a 21-day bearing failure) are caught mid-progression, and a daemon
//! left running for months keeps producing them at the configured rate.
//!
//! A machine's degradation advances with its operation: while the machine is stopped for a
//! planned preventive maintenance the episode pauses, and every later phase comes that much
//! later (the windows are themselves a pure function of the seed, see [`PlannedStops`]).
//! A sensor's drift ends at the first calibration of the plant's programme after its onset
//! (see `calibration`): the technician finds it.

use rand::Rng as _;

use crate::clock::{DAY, HOUR, ID_EPOCH};
use crate::faults::{Catalogue, Pattern, Progression};
use crate::plant::Plant;
use crate::rng::{self, Rng};

/// Length of an episode epoch: `fault_rate` is the share of machines per 7 days.
pub const EPOCH: i64 = 7 * DAY;
/// Epochs resolved together when deciding which candidate episodes may overlap.
pub const BLOCK: i64 = 8;

/// How an episode ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The machine trips to `fault`, then is repaired (corrective maintenance).
    Fault,
    /// The tool is changed (a short setup); no fault state.
    ToolChange,
    /// No machine effect at the end (sensor drift).
    None,
}

/// Drawn parameters of one signature of the episode's pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigDraw {
    /// +1 or -1 for `either` signatures.
    pub sign: f64,
    pub increase: f64,
}

/// The drift mode of a sensor-scoped episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    Offset,
    Stuck,
    Erratic,
}

/// One episode on one machine (or one sensor of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Unique and stable: epoch × machines + machine + 1. Also the machine_faults id.
    pub id: i64,
    pub machine: usize,
    /// Index of the pattern in the catalogue.
    pub pattern: usize,
    /// Global sensor index, for sensor-scoped patterns.
    pub sensor: Option<usize>,
    pub onset: i64,
    pub warning_at: i64,
    pub critical_at: i64,
    /// The trip (or the end of degradation); earlier than `planned_fault` when an injected
    /// episode was cleared.
    pub fault_at: i64,
    /// Where the degradation was heading: the end of its progression.
    pub planned_fault: i64,
    /// End of the fault state (== fault_at when there is none).
    pub fault_end: i64,
    /// End of the corrective maintenance or tool change (== fault_end when none).
    pub repair_end: i64,
    pub ending: Ending,
    pub severity: String,
    /// "sudden" or "gradual" for patterns that have both, else the shape.
    pub variant: String,
    pub sigs: Vec<SigDraw>,
    pub cycle_time_pct: f64,
    pub power_pct: f64,
    pub reject_pct: f64,
    pub drift_mode: DriftMode,
    pub drift_pct_per_day: f64,
    pub packet_loss: f64,
    /// Planned stops inside `[onset, fault_at)` during which the degradation does not
    /// advance, in time order (machine-level episodes only).
    pub pauses: Vec<(i64, i64)>,
    /// Injected through the control plane (or `backfill --injections`), not drawn.
    pub injected: bool,
    /// When an injected episode was cleared (`DELETE /faults/{id}`).
    pub cleared_at: Option<i64>,
}

/// The plan an episode meets: planned stops of machines (preventive maintenance windows) and
/// the calibrations of sensors.
pub trait PlannedStops {
    /// Windows `(start, end)` of machine `m` starting in `[a, b)`, in time order.
    fn stops(&self, m: usize, a: i64, b: i64) -> Vec<(i64, i64)>;
    /// When the first calibration of sensor `s` begun in `[a, b)` ends, if any.
    fn calibrated(&self, s: usize, a: i64, b: i64) -> Option<i64>;
}

impl Episode {
    /// Whether the episode affects anything in `[a, b)`.
    pub fn overlaps(&self, a: i64, b: i64) -> bool {
        self.onset < b && self.repair_end.max(self.fault_at) > a
    }

    /// Progress 0..=1 through the degradation at `t` (0 before onset, 1 at and after the trip):
    /// 1/3 when the signal enters its warning band, 2/3 when it enters the critical band.
    /// It stands still during a pause.
    pub fn progress(&self, t: i64) -> f64 {
        // A cleared episode's degradation stops where it stood.
        if self.fault_at < self.planned_fault && t >= self.fault_at {
            return self.planned_progress(self.fault_at);
        }
        self.planned_progress(t)
    }

    /// Progress along the planned degradation, up to `planned_fault`.
    fn planned_progress(&self, t: i64) -> f64 {
        let seg = |t0: i64, t1: i64, p0: f64| {
            let (o0, o1) = (self.operating(t0), self.operating(t1));
            let span = (o1 - o0).max(1) as f64;
            p0 + ((self.operating(t) - o0) as f64 / span).clamp(0.0, 1.0) / 3.0
        };
        if t <= self.onset {
            0.0
        } else if t < self.warning_at {
            seg(self.onset, self.warning_at, 0.0)
        } else if t < self.critical_at {
            seg(self.warning_at, self.critical_at, 1.0 / 3.0)
        } else if t < self.planned_fault {
            seg(self.critical_at, self.planned_fault, 2.0 / 3.0)
        } else {
            1.0
        }
    }

    /// `t` on the degradation's own clock: wall time less the pauses before it.
    fn operating(&self, t: i64) -> i64 {
        t - self.pauses.iter().map(|&(a, b)| (t.min(b) - a).max(0)).sum::<i64>()
    }

    /// Pauses the degradation for the planned stops `windows` (in time order) that fall
    /// between onset and trip: each moves every later phase by the time the machine stood.
    fn pause_for(&mut self, windows: &[(i64, i64)]) {
        for &(s, e) in windows {
            if e <= self.onset || s >= self.fault_at {
                continue;
            }
            let from = s.max(self.onset);
            let len = e - from;
            for x in [
                &mut self.warning_at,
                &mut self.critical_at,
                &mut self.fault_at,
                &mut self.planned_fault,
                &mut self.fault_end,
                &mut self.repair_end,
            ] {
                if *x >= from {
                    *x += len;
                }
            }
            self.pauses.push((from, e));
        }
    }

    /// Ends an injected episode at `c` (a whole minute): from then on the machine is
    /// repaired — a corrective maintenance of `repair` seconds for a pattern that ends in a
    /// fault, a tool change for one that ends in one — and its signals return to normal. What
    /// came before `c` stays as it was. Returns false when the episode had not begun (it
    /// then never happens) .
    pub fn clear(&mut self, c: i64, repair: i64) -> bool {
        if c <= self.onset {
            return false;
        }
        if c >= self.end() {
            return true;
        }
        self.cleared_at = Some(c);
        if c < self.fault_at {
            self.fault_at = c;
            self.fault_end = c;
            self.repair_end = match self.ending {
                Ending::Fault => c + repair,
                Ending::ToolChange => c + repair.min(15 * 60),
                Ending::None => c,
            };
            self.pauses.retain(|&(a, _)| a < c);
        } else {
            // Tripped already: the repair ends now (the fault state first, if still on).
            self.fault_end = self.fault_end.min(c);
            self.repair_end = c;
        }
        true
    }

    /// Ends a sensor's drift at `t` (a calibration found it): from then on it reads true.
    fn end_drift_at(&mut self, t: i64) {
        self.warning_at = self.warning_at.min(t);
        self.critical_at = self.critical_at.min(t);
        self.fault_at = t;
        self.planned_fault = t;
        self.fault_end = t;
        self.repair_end = t;
    }

    /// Total time the degradation stood still.
    pub fn paused_secs(&self) -> i64 {
        self.pauses.iter().map(|(a, b)| b - a).sum()
    }

    /// When the episode stops affecting its machine.
    pub fn end(&self) -> i64 {
        self.repair_end.max(self.fault_at)
    }

    /// Whether the degradation is in effect at `t` (from onset until the repair ends).
    pub fn active(&self, t: i64) -> bool {
        t >= self.onset && t < self.repair_end.max(self.fault_at)
    }
}

/// Draws episodes for machines of a plant.
pub struct EpisodeSource<'a> {
    seed: u64,
    fault_rate: f64,
    plant: &'a Plant,
    catalogue: &'a Catalogue,
    /// Longest time an episode can reach back from its trip, or on after its epoch: the
    /// longest degradation plus two days (repair, and the pauses of planned stops, at most
    /// half a day in 21 days of daily maintenance).
    reach: i64,
    /// Patterns allowed to strike (empty: all).
    enabled: &'a [bool],
    /// The plan: planned stops that pause machine-level degradation and the calibrations that
    /// end a drift (none: never paused, never ended early).
    stops: Option<&'a dyn PlannedStops>,
    /// Injected episodes (all machines), which displace the catalogue's that would start
    /// during them.
    injected: std::sync::Arc<Vec<Episode>>,
}

fn range(rng: &mut Rng, r: [f64; 2]) -> f64 {
    if r[1] > r[0] {
        rng.random_range(r[0]..=r[1])
    } else {
        r[0]
    }
}

impl<'a> EpisodeSource<'a> {
    pub fn new(seed: u64, fault_rate: f64, plant: &'a Plant, catalogue: &'a Catalogue) -> EpisodeSource<'a> {
        let longest = catalogue.patterns.iter().map(|p| p.duration.max_hours).fold(0.0, f64::max);
        EpisodeSource {
            seed,
            fault_rate,
            plant,
            catalogue,
            reach: (longest * HOUR as f64) as i64 + 2 * DAY,
            enabled: &[],
            stops: None,
            injected: Default::default(),
        }
    }

    /// Adds injected episodes.
    pub fn with_injected(mut self, injected: std::sync::Arc<Vec<Episode>>) -> Self {
        self.injected = injected;
        self
    }

    /// The injected episodes of machine `m`.
    fn injected_of(&self, m: usize) -> impl Iterator<Item = &Episode> {
        self.injected.iter().filter(move |i| i.machine == m)
    }

    /// Whether a catalogue episode gives way to an injected one: it would start during the
    /// injected episode or within the hour after it. One that began before an injection
    /// ([`Self::catalogue_conflict`]) is not displaced: what it already did stays.
    fn displaced(&self, ep: &Episode) -> bool {
        self.injected_of(ep.machine).any(|i| ep.onset >= i.onset && ep.onset < i.end() + HOUR)
    }

    /// The catalogue episode of machine `m` that began before `t` and is still in effect
    /// then, or ended less than an hour before: an injection starting at `t` would collide
    /// with it.
    pub fn catalogue_conflict(&self, m: usize, t: i64) -> Option<Episode> {
        let first = Self::epoch_of(t - self.reach);
        let last = Self::epoch_of(t);
        (first..=last).filter_map(|e| self.episode(m, e)).find(|ep| ep.onset < t && ep.end() + HOUR > t)
    }

    /// An injected episode: pattern `pi` on machine `m` from `onset`, its parameters drawn
    /// from (seed, "injection", id) as a catalogue episode's are, with the degradation's
    /// length and the severity fixed when given.
    pub fn injected_episode(
        &self,
        id: i64,
        m: usize,
        pi: usize,
        onset: i64,
        duration: Option<i64>,
        severity: Option<&str>,
    ) -> Episode {
        let p = &self.catalogue.patterns[pi];
        let mut r = rng::stream(self.seed, &[rng::label("injection"), id as u64]);
        let mut ep = self.unfold_for(&mut r, m, 0, pi, p, onset, duration);
        let shift = onset - ep.onset;
        for x in [
            &mut ep.onset,
            &mut ep.warning_at,
            &mut ep.critical_at,
            &mut ep.fault_at,
            &mut ep.planned_fault,
            &mut ep.fault_end,
            &mut ep.repair_end,
        ] {
            *x += shift;
        }
        if let Some(s) = severity {
            s.clone_into(&mut ep.severity);
        }
        ep.id = id;
        ep.injected = true;
        self.meet_the_plan(&mut ep);
        ep
    }

    /// Restricts the patterns that may strike.
    pub fn only(mut self, enabled: &'a [bool]) -> Self {
        self.enabled = enabled;
        self
    }

    /// Pauses machine-level episodes for the machines' planned stops, and ends drifts at the
    /// sensors' calibrations.
    pub fn paused_by(mut self, stops: &'a dyn PlannedStops) -> Self {
        self.stops = Some(stops);
        self
    }

    /// The epoch index holding `t`.
    pub fn epoch_of(t: i64) -> i64 {
        (t - ID_EPOCH).div_euclid(EPOCH)
    }

    /// The candidate episode of machine `m` in epoch `e`, before overlap resolution.
    fn candidate(&self, m: usize, e: i64) -> Option<Episode> {
        let machine = &self.plant.machines[m];
        let mut r = rng::stream(self.seed, &[rng::label("episode"), m as u64, e as u64]);
        if r.random::<f64>() >= self.fault_rate {
            return None;
        }
        let applicable: Vec<(usize, &Pattern)> = self
            .catalogue
            .patterns
            .iter()
            .enumerate()
            .filter(|(i, p)| self.enabled.get(*i).copied().unwrap_or(true) && p.applies_to(machine.machine_type))
            .collect();
        if applicable.is_empty() {
            return None;
        }
        let total: f64 = applicable.iter().map(|(_, p)| p.weight).sum();
        let mut pick = r.random::<f64>() * total;
        let (pi, p) = *applicable
            .iter()
            .find(|(_, p)| {
                pick -= p.weight;
                pick < 0.0
            })
            .unwrap_or(applicable.last()?);
        let fault_at = ID_EPOCH + e * EPOCH + r.random_range(0..EPOCH / 60) * 60;
        let mut ep = self.unfold(&mut r, m, e, pi, p, fault_at);
        self.meet_the_plan(&mut ep);
        Some(ep)
    }

    /// A machine's degradation pauses for its planned stops; a sensor's drift ends at its
    /// first calibration after the onset.
    fn meet_the_plan(&self, ep: &mut Episode) {
        let Some(plan) = self.stops else { return };
        match ep.sensor {
            Some(s) => {
                if let Some(t) = plan.calibrated(s, ep.onset, ep.fault_at) {
                    ep.end_drift_at(t.max(ep.onset + 60).min(ep.fault_at));
                }
            }
            // Planned stops add at most a few hours to a degradation: two days covers them.
            None => ep.pause_for(&plan.stops(ep.machine, ep.onset - DAY, ep.fault_at + 2 * DAY)),
        }
    }

    /// Draws the episode's timing and parameters.
    fn unfold(&self, r: &mut Rng, m: usize, e: i64, pi: usize, p: &Pattern, fault_at: i64) -> Episode {
        self.unfold_for(r, m, e, pi, p, fault_at, None)
    }

    /// [`Self::unfold`], with the degradation's length fixed to `duration` when given.
    #[allow(clippy::too_many_arguments)]
    fn unfold_for(
        &self,
        r: &mut Rng,
        m: usize,
        e: i64,
        pi: usize,
        p: &Pattern,
        fault_at: i64,
        duration: Option<i64>,
    ) -> Episode {
        let (variant, d) = draw_length(r, p, duration);
        let onset = fault_at - d;
        let (w, c) = draw_phases(r, &p.progression, variant, onset, d, fault_at);
        let (ending, severity, fault_end, repair_end) = draw_ending(r, p, fault_at);
        let sigs = p
            .signature
            .iter()
            .map(|s| SigDraw {
                sign: if s.direction == "either" && r.random_bool(0.5) { -1.0 } else { 1.0 },
                increase: s.increase_pct.or(s.increase_abs).map_or(0.0, |x| range(r, x)),
            })
            .collect();
        let (sensor, drift_mode, drift_pct_per_day, packet_loss) = self.draw_drift(r, m, p);
        Episode {
            id: e * self.plant.machines.len() as i64 + m as i64 + 1,
            machine: m,
            pattern: pi,
            sensor,
            onset,
            warning_at: w,
            critical_at: c,
            fault_at,
            planned_fault: fault_at,
            fault_end,
            repair_end,
            ending,
            severity,
            variant: variant.to_owned(),
            sigs,
            cycle_time_pct: range(r, p.effects.cycle_time_pct),
            power_pct: range(r, p.effects.power_pct),
            reject_pct: range(r, p.effects.reject_pct),
            drift_mode,
            drift_pct_per_day,
            packet_loss,
            pauses: Vec::new(),
            injected: false,
            cleared_at: None,
        }
    }

    /// A sensor-scoped pattern's sensor and drift: its mode, offset per day and packet loss.
    fn draw_drift(&self, r: &mut Rng, m: usize, p: &Pattern) -> (Option<usize>, DriftMode, f64, f64) {
        match &p.drift {
            Some(dr) if p.is_sensor_scoped() => {
                let ids: Vec<usize> = self.plant.sensors_of(m).collect();
                let sensor = ids[r.random_range(0..ids.len())];
                let u = r.random::<f64>();
                let mode = if u < dr.stuck_share {
                    DriftMode::Stuck
                } else if u < dr.stuck_share + dr.erratic_share {
                    DriftMode::Erratic
                } else {
                    DriftMode::Offset
                };
                let per_day = range(r, dr.offset_pct_per_month) * dr.acceleration / 30.0;
                (Some(sensor), mode, per_day, range(r, dr.packet_loss_pct) / 100.0)
            }
            _ => (None, DriftMode::Offset, 0.0, 0.0),
        }
    }

    /// The episode of machine `m` in epoch `e`, if its candidate is accepted: a machine
    /// suffers one episode at a time. Epochs are resolved in blocks of [`BLOCK`]: within a
    /// block a candidate must not overlap the block's earlier accepted episode; and no
    /// candidate of a block may overlap any candidate of the epochs just before the block.
    /// So acceptance depends on a bounded, fixed set of epochs, whoever asks.
    pub fn episode(&self, m: usize, e: i64) -> Option<Episode> {
        let start = e - e.rem_euclid(BLOCK);
        let back = self.reach / EPOCH + 1;
        let before: Vec<Episode> = ((start - back)..start).filter_map(|p| self.candidate(m, p)).collect();
        let mut last_end: Option<i64> = None;
        for k in start..=e {
            let Some(c) = self.candidate(m, k) else { continue };
            let clear_before = before.iter().all(|q| q.end() + HOUR <= c.onset);
            let clear_block = last_end.is_none_or(|end| end + HOUR <= c.onset);
            if clear_before && clear_block {
                if k == e {
                    return Some(c);
                }
                last_end = Some(c.end());
            }
        }
        None
    }

    /// Every episode of machine `m` that affects `[a, b)`, in time order.
    pub fn for_machine(&self, m: usize, a: i64, b: i64) -> Vec<Episode> {
        let first = Self::epoch_of(a - self.reach);
        let last = Self::epoch_of(b + self.reach);
        let mut eps: Vec<Episode> = (first..=last)
            .filter_map(|e| self.episode(m, e))
            .filter(|ep| ep.overlaps(a, b) && !self.displaced(ep))
            .collect();
        if self.injected.is_empty() {
            return eps;
        }
        eps.extend(self.injected_of(m).filter(|ep| ep.overlaps(a, b)).cloned());
        eps.sort_by_key(|ep| ep.onset);
        eps
    }

    /// Trip instants of machine `m` before `t`, looking back eight epochs, ascending.
    pub fn fault_times_before(&self, m: usize, t: i64) -> Vec<i64> {
        let e = Self::epoch_of(t);
        let mut times: Vec<i64> = ((e - 8)..=e)
            .filter_map(|e| self.episode(m, e))
            .filter(|ep| ep.ending == Ending::Fault && ep.fault_at < t && !self.displaced(ep))
            .map(|ep| ep.fault_at)
            .collect();
        let from = ID_EPOCH + (e - 8) * EPOCH;
        times.extend(
            self.injected_of(m)
                .filter(|ep| ep.ending == Ending::Fault && ep.fault_at < t && ep.fault_at >= from)
                .map(|ep| ep.fault_at),
        );
        times.sort_unstable();
        times
    }
}

/// The episode's variant (`sudden`, `gradual`, or the progression's shape) and the length
/// of its degradation in whole minutes: `duration` when given, else drawn from the pattern's
/// hours — a gradual decline at a documented rate takes what that rate needs.
fn draw_length<'p>(r: &mut Rng, p: &'p Pattern, duration: Option<i64>) -> (&'p str, i64) {
    let g = &p.progression;
    let (variant, hours) = match g.shape.as_str() {
        "sudden_or_gradual" => {
            if r.random::<f64>() < g.sudden_share.unwrap_or(0.5) {
                ("sudden", g.sudden_hours.unwrap_or([p.duration.min_hours, p.duration.max_hours]))
            } else {
                ("gradual", g.gradual_hours.unwrap_or([p.duration.min_hours, p.duration.max_hours]))
            }
        }
        s => (s, [p.duration.min_hours, p.duration.max_hours]),
    };
    let mut duration_h = range(r, hours);
    // A signature with a documented rate fixes the duration of a gradual decline.
    if variant != "sudden" {
        if let Some(s) = p.signature.iter().find(|s| s.rate_per_hour.is_some()) {
            let rate = range(r, s.rate_per_hour.unwrap());
            let role = crate::plant::roles::role(&s.role).expect("validated role");
            let start = (role.normal.0 + role.normal.1) / 2.0;
            let end = s.failure.unwrap_or(if s.direction == "down" { role.critical.0 } else { role.critical.1 });
            if rate > 0.0 {
                duration_h = ((end - start).abs() / rate).clamp(hours[0], hours[1]);
            }
        }
    }
    // Whole minutes, so episode phases line up with the SCADA grid.
    let d = duration.map_or(((duration_h * 60.0).round() as i64).max(1) * 60, |d| (d / 60).max(1) * 60);
    (variant, d)
}

/// When the warning and critical phases begin, on whole minutes, by the variant's shape.
fn draw_phases(r: &mut Rng, g: &Progression, variant: &str, onset: i64, d: i64, fault_at: i64) -> (i64, i64) {
    let (w, c) = match variant {
        "slow_then_rapid" => {
            let rapid = (range(r, g.rapid_hours.unwrap_or([24.0, 48.0])) * HOUR as f64) as i64;
            let critical_at = (fault_at - rapid).max(onset + d / 3);
            let warning_at = onset + ((critical_at - onset) as f64 * r.random_range(0.45..0.7)) as i64;
            (warning_at, critical_at)
        }
        "rapid" => (onset + d * 35 / 100, onset + d * 70 / 100),
        "sudden" => (onset + d * 85 / 100, onset + d * 93 / 100),
        "erratic" => (onset + d * 20 / 100, onset + d * 60 / 100),
        _ => (onset + d * 45 / 100, onset + d * 80 / 100),
    };
    let to_minute = |t: i64| t - t.rem_euclid(60);
    (to_minute(w), to_minute(c))
}

/// How the episode ends, its severity, and when the fault state and the repair end.
fn draw_ending(r: &mut Rng, p: &Pattern, fault_at: i64) -> (Ending, String, i64, i64) {
    let ending = match p.effects.ends_in.as_str() {
        "fault" => Ending::Fault,
        "tool_change" => Ending::ToolChange,
        _ => Ending::None,
    };
    let severities = p.severities();
    let severity = severities[r.random_range(0..severities.len())].to_owned();
    let (fault_end, repair_end) = match ending {
        Ending::Fault => {
            let response = r.random_range(5..=30) * 60;
            let repair_max = if severity == "critical" { 360 } else { 180 };
            let repair = r.random_range(30..=repair_max) * 60;
            (fault_at + response, fault_at + response + repair)
        }
        Ending::ToolChange => (fault_at, fault_at + r.random_range(5..=15) * 60),
        Ending::None => (fault_at, fault_at),
    };
    (ending, severity, fault_end, repair_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant() -> Plant {
        Plant::generate(&crate::plant::Settings { seed: 1, ..Default::default() }, &Catalogue::builtin()).unwrap()
    }

    #[test]
    fn phases_are_ordered_and_progress_is_monotone() {
        let (p, c) = (plant(), Catalogue::builtin());
        let src = EpisodeSource::new(9, 1.0, &p, &c);
        let mut n = 0;
        for m in 0..p.machines.len() {
            for e in 300..306 {
                let Some(ep) = src.episode(m, e) else { continue };
                n += 1;
                assert!(
                    ep.onset < ep.fault_at
                        && ep.onset <= ep.warning_at
                        && ep.warning_at <= ep.critical_at
                        && ep.critical_at <= ep.fault_at,
                    "{ep:?}"
                );
                assert!(ep.fault_at <= ep.fault_end && ep.fault_end <= ep.repair_end, "{ep:?}");
                let mut last = 0.0;
                for k in 0..=50 {
                    let t = ep.onset + (ep.fault_at - ep.onset) * k / 50;
                    let pr = ep.progress(t);
                    assert!(pr >= last - 1e-12, "progress must not go back");
                    last = pr;
                }
                assert_eq!(ep.progress(ep.fault_at), 1.0);
            }
        }
        assert!(n > 300, "a fault rate of 1 gives most machines an episode per epoch ({n})");
    }

    #[test]
    fn a_planned_stop_pauses_the_degradation() {
        let (p, c) = (plant(), Catalogue::builtin());
        let src = EpisodeSource::new(9, 1.0, &p, &c);
        let orig = (0..p.machines.len())
            .filter_map(|m| src.episode(m, 300))
            .find(|ep| ep.sensor.is_none() && ep.warning_at - ep.onset > 4 * HOUR)
            .expect("a machine-level episode with a long normal phase");
        let mid = orig.onset + (orig.warning_at - orig.onset) / 2;
        let (s, len) = (mid - mid.rem_euclid(60), 90 * 60);
        let mut ep = orig.clone();
        ep.pause_for(&[
            (orig.onset - DAY, orig.onset - DAY + HOUR),
            (s, s + len),
            (orig.repair_end + HOUR, orig.repair_end + 2 * HOUR),
        ]);
        assert_eq!(ep.pauses, vec![(s, s + len)], "only the stop inside the degradation pauses it");
        assert_eq!(ep.onset, orig.onset);
        for (a, b) in [
            (ep.warning_at, orig.warning_at),
            (ep.critical_at, orig.critical_at),
            (ep.fault_at, orig.fault_at),
            (ep.repair_end, orig.repair_end),
        ] {
            assert_eq!(a - b, len, "every phase after the stop comes {len} s later");
        }
        assert_eq!(ep.progress(s), ep.progress(s + len), "no progress while stopped");
        for t in [orig.onset + 60, s - 60, s + 600, orig.critical_at, orig.fault_at - 60] {
            let shifted = if t >= s { t + len } else { t };
            assert!((ep.progress(shifted) - orig.progress(t)).abs() < 1e-9, "progress at {t} must move with the stop");
        }
        // A stop under way at onset holds the degradation at zero until it ends.
        let mut ep = orig.clone();
        ep.pause_for(&[(orig.onset - 1800, orig.onset + HOUR)]);
        assert_eq!(ep.pauses, vec![(orig.onset, orig.onset + HOUR)]);
        assert_eq!(ep.progress(orig.onset + HOUR), 0.0);
        assert_eq!(ep.warning_at - orig.warning_at, HOUR);
    }

    #[test]
    fn a_cleared_episode_keeps_its_past_and_ends_in_a_repair() {
        let (p, c) = (plant(), Catalogue::builtin());
        let src = EpisodeSource::new(9, 1.0, &p, &c);
        let mut checked = 0;
        for m in 0..p.machines.len() {
            let Some(orig) = src.episode(m, 300) else { continue };
            for cut in [orig.onset + 60, orig.warning_at + 120, orig.critical_at + 60, orig.fault_at + 60] {
                let cut = cut - cut.rem_euclid(60);
                let mut ep = orig.clone();
                assert!(ep.clear(cut, 1800), "begun before {cut}: it stays");
                for k in 0..40 {
                    let t = orig.onset + (cut - orig.onset) * k / 40;
                    assert_eq!(ep.progress(t), orig.progress(t), "progress before the clear at {t}");
                }
                assert!(ep.end() <= cut.max(orig.fault_end) + 1800, "the repair follows the clear: {ep:?}");
                assert!(!ep.active(ep.end()), "the signals are normal after the repair");
                if cut < orig.fault_at {
                    assert_eq!((ep.fault_at, ep.planned_fault), (cut, orig.fault_at));
                }
                checked += 1;
            }
            let mut ep = orig.clone();
            assert!(!ep.clear(orig.onset, 1800), "cleared before its onset, it never happens");
        }
        assert!(checked > 100);
    }

    #[test]
    fn episodes_do_not_overlap_on_a_machine() {
        let (p, c) = (plant(), Catalogue::builtin());
        let src = EpisodeSource::new(4, 0.8, &p, &c);
        for m in 0..40 {
            let eps = src.for_machine(m, ID_EPOCH + 300 * EPOCH, ID_EPOCH + 310 * EPOCH);
            for w in eps.windows(2) {
                assert!(w[0].repair_end.max(w[0].fault_at) <= w[1].onset, "overlap on machine {m}: {w:?}");
            }
        }
    }

    #[test]
    fn rate_is_about_the_share_of_machines_per_week() {
        let (p, c) = (plant(), Catalogue::builtin());
        let src = EpisodeSource::new(11, 0.05, &p, &c);
        let mut hits = 0;
        for e in 300..340 {
            hits += (0..p.machines.len()).filter(|&m| src.candidate(m, e).is_some()).count();
        }
        let share = hits as f64 / (40.0 * p.machines.len() as f64);
        assert!((0.04..0.06).contains(&share), "share of machines with an episode per week: {share}");
    }
}
