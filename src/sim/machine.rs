//! A machine's minute-by-minute life: its state, what it produces and rejects, its cycle
//! time and power draw.
//!
//! The state of a minute follows a fixed priority: a fault episode's trip and repair, then
//! planned maintenance, then the line's setup at a run start, then breaks, shift handovers
//! and short stoppages (idle), else running. Everything is derived from the plans, the
//! episodes and seeded per-hour draws, so a timeline can start anywhere and agree with any
//! other timeline of the same machine.

use rand::RngCore as _;

use super::calendar::{shift_at, ShiftSpan};
use super::episodes::{Ending, Episode};
use super::plan::{Preventive, Run};
use super::Engine;
use crate::clock::{DAY, HOUR, SCADA_STEP};
use crate::rng;

/// A machine state (SCADA `machine_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Idle,
    Fault,
    Maintenance,
    Setup,
}

impl State {
    /// Every state, in the order of their indices (`state as usize`).
    pub const ALL: [State; 5] = [State::Running, State::Idle, State::Fault, State::Maintenance, State::Setup];

    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Idle => "idle",
            State::Fault => "fault",
            State::Maintenance => "maintenance",
            State::Setup => "setup",
        }
    }
}

/// One minute of a machine.
#[derive(Debug, Clone, Copy)]
pub struct Minute {
    pub state: State,
    pub shift: MinuteShift,
    /// Index into [`Timeline::runs`].
    pub run: u32,
    /// Index into [`Timeline::episodes`] of the machine-level episode in effect.
    pub episode: Option<u32>,
    /// Parts finished and rejected during the minute.
    pub parts: u32,
    pub rejects: u32,
    pub actual_cycle: f64,
    pub power_kw: f64,
    /// Counts toward planned production time (false during breaks).
    pub planned: bool,
    /// The PLC flagged this minute's data as uncertain.
    pub uncertain: bool,
}

/// The shift a minute belongs to (kept small: a stream holds a day of minutes per machine).
#[derive(Debug, Clone, Copy)]
pub struct MinuteShift {
    /// UTC start of the shift.
    pub start: i64,
    /// Index into [`super::calendar::SHIFT_CODES`].
    pub code: u8,
}

/// A stretch of one machine's minutes.
///
/// Its minutes are simulated forward on demand ([`Engine::extend_timeline`]) and forgotten
/// behind ([`Timeline::forget_before`]), so a day in progress holds only the minutes around
/// the instant being generated; [`Engine::timeline`] simulates the whole stretch at once.
pub struct Timeline {
    /// UTC instant of the first minute held.
    pub start: i64,
    /// The minutes simulated and not forgotten, from `start`.
    pub minutes: Vec<Minute>,
    pub episodes: Vec<Episode>,
    pub runs: Vec<Run>,
    pub preventive: Vec<Preventive>,
    /// Ends of the machine's planned preventive windows from 100 days before the timeline,
    /// in order: its service history, for ageing (realistic plants only, else empty).
    pub services: Vec<i64>,
    /// The shifts over the stretch, in order (the first holds its first minute).
    shifts: Vec<ShiftSpan>,
    /// The whole stretch `[from, to)`, whatever has been simulated or forgotten of it.
    span: (i64, i64),
    /// Where the simulation of the next minute resumes.
    cursor: Cursor,
}

/// The state carried from one simulated minute to the next: the machine, the shift and
/// production run in force, and the work done in the shift towards the next part.
struct Cursor {
    machine: usize,
    shift: usize,
    brk: (i64, i64),
    work: f64,
    run: usize,
}

impl Timeline {
    /// The minute holding instant `t`, if simulated and not forgotten.
    pub fn at(&self, t: i64) -> Option<&Minute> {
        let i = (t - self.start).div_euclid(SCADA_STEP);
        usize::try_from(i).ok().and_then(|i| self.minutes.get(i))
    }

    pub fn minute_index(&self, t: i64) -> usize {
        ((t - self.start) / SCADA_STEP) as usize
    }

    /// The shift code (index into [`super::calendar::SHIFT_CODES`]) of the minute holding
    /// `t`, for any `t` of the stretch, simulated or not.
    pub fn shift_code_at(&self, t: i64) -> Option<u8> {
        if t < self.span.0 || t >= self.span.1 {
            return None;
        }
        let minute = t - (t - self.span.0).rem_euclid(SCADA_STEP);
        let i = self.shifts.partition_point(|s| s.end <= minute).min(self.shifts.len() - 1);
        Some(self.shifts[i].code as u8)
    }

    /// The first instant not yet simulated.
    fn simulated_to(&self) -> i64 {
        self.start + self.minutes.len() as i64 * SCADA_STEP
    }

    /// Drops the minutes before `t` (a whole minute inside the timeline); returns how many.
    pub fn forget_before(&mut self, t: i64) -> usize {
        let n = self.minute_index(t).min(self.minutes.len());
        self.minutes.drain(..n);
        if self.minutes.capacity() > 2 * self.minutes.len() + 16 {
            self.minutes.shrink_to_fit();
        }
        self.start += n as i64 * SCADA_STEP;
        n
    }
}

/// Words drawn per minute from the machine's hourly stream.
const WORDS_PER_MINUTE: usize = 4;

fn unit(x: u32) -> f64 {
    f64::from(x) / 4_294_967_296.0
}

impl Engine {
    /// A short stoppage of machine `m` starting in the hour at `hour`: (start, end).
    fn microstop(&self, m: usize, hour: i64) -> Option<(i64, i64)> {
        let mut r = rng::stream(self.seed, &[rng::label("microstop"), m as u64, hour as u64]);
        if unit(r.next_u32()) >= 0.2 {
            return None;
        }
        let start = hour + i64::from(r.next_u32() % 60) * 60;
        let len = 2 + i64::from(r.next_u32() % 11);
        Some((start, start + len * 60))
    }

    /// The planned break of a shift on `line`: (start, end).
    pub fn break_of(&self, line: usize, s: &ShiftSpan) -> (i64, i64) {
        let mid = s.start + (s.end - s.start) / 2 + self.lines[line].break_offset_min[s.code] * 60;
        (mid - s.break_secs / 2, mid + s.break_secs / 2)
    }

    /// Simulates machine `m` over `[from, to)` (minute-aligned).
    pub fn timeline(&self, m: usize, from: i64, to: i64, episodes: Vec<Episode>) -> Timeline {
        let mut tl = self.timeline_from(m, from, to, episodes);
        self.extend_timeline(&mut tl, to);
        tl
    }

    /// Machine `m`'s stretch `[from, to)` (minute-aligned) with its plans and shifts and no
    /// minute simulated yet: [`Engine::extend_timeline`] simulates them as far as asked.
    pub fn timeline_from(&self, m: usize, from: i64, to: i64, episodes: Vec<Episode>) -> Timeline {
        let machine = &self.plant.machines[m];
        let zone = &self.zones[machine.factory];
        let runs = self.runs(machine.line, from, to);
        let preventive = self.preventive(m, from - 2 * 86_400, to, &episodes);
        let services = if self.realism.is_some() { self.services(m, from - 100 * DAY, to) } else { Vec::new() };
        // A minute past its shift's end starts the next shift, as the minutes are simulated.
        let mut shifts = vec![shift_at(zone, from)];
        loop {
            let end = shifts.last().expect("one at least").end;
            let next = from + ((end - from).max(0) + SCADA_STEP - 1) / SCADA_STEP * SCADA_STEP;
            if next >= to {
                break;
            }
            shifts.push(shift_at(zone, next));
        }
        let brk = self.break_of(machine.line, &shifts[0]);
        let cursor = Cursor { machine: m, shift: 0, brk, work: 0.0, run: 0 };
        let n = ((to - from) / SCADA_STEP).max(0) as usize;
        let minutes = Vec::with_capacity(n.min(16));
        Timeline { start: from, minutes, episodes, runs, preventive, services, shifts, span: (from, to), cursor }
    }

    /// Simulates `tl`'s minutes up to `until` (clipped to its stretch).
    pub fn extend_timeline(&self, tl: &mut Timeline, until: i64) {
        let until = until.min(tl.span.1);
        let mut t = tl.simulated_to();
        if t >= until {
            return;
        }
        let Timeline { minutes, episodes, runs, preventive, shifts, cursor: c, .. } = tl;
        let m = c.machine;
        let machine = &self.plant.machines[m];
        let line = machine.line;
        let params = &self.machines[m];
        let rated = machine.power_rating_kw;
        minutes.reserve(((until - t) / SCADA_STEP) as usize);
        // The hour's words, drawn in order from the minute the simulation resumes at.
        let mut words: Option<rng::Rng> = None;
        let mut hour_key = i64::MIN;
        let mut stops: [Option<(i64, i64)>; 2] = [None, None];
        while t < until {
            if t >= shifts[c.shift].end {
                c.shift += 1;
                c.brk = self.break_of(line, &shifts[c.shift]);
                c.work = 0.0;
            }
            let shift = &shifts[c.shift];
            let brk = c.brk;
            let hour = t - t.rem_euclid(HOUR);
            if hour != hour_key {
                hour_key = hour;
                let mut r = rng::stream(self.seed, &[rng::label("minute"), m as u64, hour as u64]);
                r.set_word_pos(((t - hour) / 60 * WORDS_PER_MINUTE as i64) as u128);
                words = Some(r);
                stops = [self.microstop(m, hour - HOUR), self.microstop(m, hour)];
            }
            let r = words.as_mut().expect("drawn at the first minute");
            let w: [u32; WORDS_PER_MINUTE] = std::array::from_fn(|_| r.next_u32());
            while c.run + 1 < runs.len() && runs[c.run].end <= t {
                c.run += 1;
            }
            let run_i = c.run;
            let run = &runs[run_i];
            let lpm = &self.plant.line_products[run.lpm];

            // The machine-level episode in effect, if any.
            let ep_i =
                episodes.iter().position(|e| !self.catalogue.patterns[e.pattern].is_sensor_scoped() && e.active(t));
            let ep = ep_i.map(|i| &episodes[i]);
            let progress = ep.map_or(0.0, |e| e.progress(t));
            let in_break = t >= brk.0 && t < brk.1;
            let state = match ep {
                Some(e) if e.ending == Ending::Fault && t >= e.fault_at && t < e.fault_end => State::Fault,
                Some(e) if e.ending == Ending::Fault && t >= e.fault_end && t < e.repair_end => State::Maintenance,
                Some(e) if e.ending == Ending::ToolChange && t >= e.fault_at && t < e.repair_end => State::Setup,
                _ if preventive.iter().any(|p| !p.deferred && t >= p.start && t < p.end) => State::Maintenance,
                _ if t < run.start + run.setup_secs => State::Setup,
                _ if in_break => State::Idle,
                _ if t < shift.start + 5 * 60 => State::Idle,
                _ if stops.iter().flatten().any(|&(a, b)| t >= a && t < b) => State::Idle,
                _ => State::Running,
            };
            let fault_slow = ep.map_or(0.0, |e| e.cycle_time_pct * progress / 100.0);
            let wobble = (unit(w[3]) - 0.5) * 0.02;
            let actual_cycle = lpm.cycle_time_s as f64 * (1.0 + params.speed_loss + wobble) * (1.0 + fault_slow);
            let (mut parts, mut rejects) = (0u32, 0u32);
            if state == State::Running {
                let before = c.work.floor();
                c.work += SCADA_STEP as f64 / actual_cycle;
                parts = (c.work.floor() - before) as u32;
                let reject_rate = (100.0 - lpm.yield_pct) / 200.0 + ep.map_or(0.0, |e| e.reject_pct * progress / 100.0);
                for &word in w.iter().take(parts.min(3) as usize) {
                    if unit(word) < reject_rate {
                        rejects += 1;
                    }
                }
            }
            let load = match state {
                State::Running => 0.7 + 0.1 * unit(w[3]) + ep.map_or(0.0, |e| 0.7 * e.power_pct * progress / 100.0),
                State::Idle => 0.3,
                State::Setup => 0.2,
                State::Fault => 0.05,
                State::Maintenance => 0.02,
            };
            minutes.push(Minute {
                state,
                shift: MinuteShift { start: shift.start, code: shift.code as u8 },
                run: run_i as u32,
                episode: ep_i.map(|i| i as u32),
                parts,
                rejects,
                actual_cycle,
                power_kw: rated * load,
                planned: !in_break,
                uncertain: unit(w[2]) < 0.002,
            });
            t += SCADA_STEP;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &Minute, b: &Minute) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    /// A timeline simulated piece by piece (a minute, then uneven stretches, forgetting
    /// behind) holds the minutes of the whole stretch simulated at once, and knows the shift
    /// of any instant of the stretch, simulated yet or not, as the minutes carry it.
    #[test]
    fn a_timeline_simulated_in_pieces_is_the_whole() {
        let mut e = crate::sim::seed_7_engine();
        e.set_difficulty(crate::sim::realism::Difficulty::Realistic);
        // 2026-03-28 00:00 UTC: the stretch crosses Europe's change to summer time.
        let (from, to) = (1_774_656_000 - 12 * HOUR, 1_774_656_000 + 2 * DAY);
        for m in (0..e.plant.machines.len()).step_by(9) {
            let eps = e.episodes().for_machine(m, from - DAY, to + DAY);
            let whole = e.timeline(m, from, to, eps.clone());
            assert_eq!(whole.minutes.len() as i64, (to - from) / SCADA_STEP);
            let mut part = e.timeline_from(m, from, to, eps);
            let mut t = from;
            for (k, len) in [1, 7, 59, 60, 61, 480, 3].iter().cycle().enumerate() {
                if t >= to {
                    break;
                }
                for probe in [t, t + 7 * HOUR, to - 1, to, from - 1] {
                    let expect = whole.at(probe).map(|mi| mi.shift.code);
                    assert_eq!(part.shift_code_at(probe), expect, "machine {m}: shift at {probe}");
                }
                t = (t + len * SCADA_STEP).min(to);
                e.extend_timeline(&mut part, t);
                if k % 2 == 1 {
                    part.forget_before(t - 5 * SCADA_STEP);
                }
                let mut u = part.start;
                while u < t {
                    let (a, b) = (part.at(u).expect("simulated"), whole.at(u).expect("inside"));
                    assert!(same(a, b), "machine {m} at {u}: {a:?} against the whole's {b:?}");
                    u += SCADA_STEP;
                }
                assert!(part.at(t).is_none() || t >= to, "machine {m}: nothing simulated past {t}");
            }
        }
    }
}
