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
pub struct Timeline {
    /// UTC instant of the first minute.
    pub start: i64,
    pub minutes: Vec<Minute>,
    pub episodes: Vec<Episode>,
    pub runs: Vec<Run>,
    pub preventive: Vec<Preventive>,
    /// Ends of the machine's planned preventive windows from 100 days before the timeline,
    /// in order: its service history, for ageing (realistic plants only, else empty).
    pub services: Vec<i64>,
}

impl Timeline {
    /// The minute holding instant `t`, if inside the timeline.
    pub fn at(&self, t: i64) -> Option<&Minute> {
        let i = (t - self.start).div_euclid(SCADA_STEP);
        usize::try_from(i).ok().and_then(|i| self.minutes.get(i))
    }

    pub fn minute_index(&self, t: i64) -> usize {
        ((t - self.start) / SCADA_STEP) as usize
    }

    /// Drops the minutes before `t` (a whole minute inside the timeline); returns how many.
    pub fn forget_before(&mut self, t: i64) -> usize {
        let n = self.minute_index(t).min(self.minutes.len());
        self.minutes.drain(..n);
        self.minutes.shrink_to_fit();
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
        let machine = &self.plant.machines[m];
        let line = machine.line;
        let zone = &self.zones[machine.factory];
        let runs = self.runs(line, from, to);
        let preventive = self.preventive(m, from - 2 * 86_400, to, &episodes);
        let params = &self.machines[m];
        let rated = machine.power_rating_kw;
        let n = ((to - from) / SCADA_STEP).max(0) as usize;
        let mut minutes = Vec::with_capacity(n);
        let mut shift = shift_at(zone, from);
        let mut brk = self.break_of(line, &shift);
        let mut work = 0.0f64;
        let mut hour_words: Vec<u32> = Vec::new();
        let mut hour_key = i64::MIN;
        let mut stops: [Option<(i64, i64)>; 2] = [None, None];
        let mut run_i = 0usize;
        for k in 0..n {
            let t = from + k as i64 * SCADA_STEP;
            if t >= shift.end {
                shift = shift_at(zone, t);
                brk = self.break_of(line, &shift);
                work = 0.0;
            }
            let hour = t - t.rem_euclid(HOUR);
            if hour != hour_key {
                hour_key = hour;
                let mut r = rng::stream(self.seed, &[rng::label("minute"), m as u64, hour as u64]);
                hour_words = (0..60 * WORDS_PER_MINUTE).map(|_| r.next_u32()).collect();
                stops = [self.microstop(m, hour - HOUR), self.microstop(m, hour)];
            }
            let w = &hour_words[((t - hour) / 60) as usize * WORDS_PER_MINUTE..][..WORDS_PER_MINUTE];
            while run_i + 1 < runs.len() && runs[run_i].end <= t {
                run_i += 1;
            }
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
                let before = work.floor();
                work += SCADA_STEP as f64 / actual_cycle;
                parts = (work.floor() - before) as u32;
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
        }
        let services = if self.realism.is_some() { self.services(m, from - 100 * DAY, to) } else { Vec::new() };
        Timeline { start: from, minutes, episodes, runs, preventive, services }
    }
}
