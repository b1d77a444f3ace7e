//! Data-quality defects: what happens to readings between the plant and the data store.
//!
//! A real historian does not receive what the sensors measured. Gateways go silent for
//! minutes, their clocks drift, a stale cache serves the same record again and again, a
//! message is retried and stored twice, arrives after its successors, or carries a spike or
//! the gateway's error value. `[quality]` turns these on; this module draws them — per
//! machine and per sensor for each UTC day, from seeded streams, so any window, shard or
//! stream step sees the same defects — and `unit` applies them to the `sensor_data` rows it
//! delivers and records each in `data_quality_labels`.
//!
//! Defects change only what `sensor_data` receives. The plant's own view — SCADA records,
//! the hourly `sensor_health` of its condition monitoring, events and fault labels — is
//! computed from what the sensors really measured, so comparing the two is itself a signal.

use rand::Rng as _;

use super::Engine;
use crate::clock::{DAY, HOUR, SCADA_STEP, SENSOR_STEP};
use crate::rng;
use crate::setting;

/// The error value a gateway stores for a reading it could not convert: a 16-bit analog
/// input's wire-break value (a NaN cannot be held by `measurement_value`, a DECIMAL(15,4)
/// column). It lies outside every sensor's measurement range, so the reading is flagged
/// `out_of_range`.
pub const INVALID_VALUE: f64 = -32768.0;
/// Added to a reading's id to give its duplicate an id of its own.
pub const DUPLICATE_ID_OFFSET: i64 = 1 << 52;

/// Rates and sizes of the defects (`[quality]`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quality {
    /// Whether delivered readings carry the defects; unset: on for a realistic plant, off
    /// for an easy one (see `Config::quality_defects`). The engine reads only the rates.
    pub enabled: Option<bool>,
    /// Chance that a machine's gateway falls silent once on a day.
    #[serde(deserialize_with = "setting::fraction")]
    pub gaps_per_machine_day: f64,
    /// Longest gap, minutes (each lasts 1 to this many).
    #[serde(deserialize_with = "setting::int::<_, _, 1, 600>")]
    pub gap_minutes_max: i64,
    /// Chance that a machine's gateway clock runs off for a few hours on a day.
    #[serde(deserialize_with = "setting::fraction")]
    pub clock_skews_per_machine_day: f64,
    /// Largest clock offset, seconds.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 3600>")]
    pub clock_skew_max_s: i64,
    /// Chance that a sensor's record goes stale (the gateway repeats its cached record) once on a day.
    #[serde(deserialize_with = "setting::fraction")]
    pub stale_per_sensor_day: f64,
    /// Longest stale stretch, minutes.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 600>")]
    pub stale_minutes_max: i64,
    /// Share of readings stored twice (a retried message).
    #[serde(deserialize_with = "setting::fraction")]
    pub duplicate_rate: f64,
    /// Share of readings that arrive after later ones (the stream publishes them late).
    #[serde(deserialize_with = "setting::fraction")]
    pub late_rate: f64,
    /// Longest delay of a late reading, seconds; a reading is never published after its minute.
    #[serde(deserialize_with = "setting::int::<_, _, 10, 50>")]
    pub max_lateness_s: i64,
    /// Share of readings that carry a single-sample spike.
    #[serde(deserialize_with = "setting::fraction")]
    pub spike_rate: f64,
    /// Share of readings the gateway could not convert: stored as [`INVALID_VALUE`].
    #[serde(deserialize_with = "setting::fraction")]
    pub invalid_rate: f64,
}

impl Default for Quality {
    /// A realistic day of the default plant: about 60 gateway gaps, 10 clock skews, 17 stale
    /// stretches, 3,000 duplicates, 15,000 late readings, 300 spikes and 150 invalid values
    /// among its 14.8 million readings.
    fn default() -> Quality {
        Quality {
            enabled: None,
            gaps_per_machine_day: 0.25,
            gap_minutes_max: 15,
            clock_skews_per_machine_day: 0.05,
            clock_skew_max_s: 20,
            stale_per_sensor_day: 0.01,
            stale_minutes_max: 15,
            duplicate_rate: 0.0002,
            late_rate: 0.001,
            max_lateness_s: 50,
            spike_rate: 0.00002,
            invalid_rate: 0.00001,
        }
    }
}

/// The kinds of defect, as `data_quality_labels.defect` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The machine's gateway sent nothing: its readings are lost.
    Gap,
    /// The gateway's clock was off: readings carry a shifted timestamp.
    ClockSkew,
    /// The gateway served a sensor's cached record: value, status and statistics repeat.
    Stale,
    /// A reading stored twice, the copy with an id of its own.
    Duplicate,
    /// A reading published after later ones (event time kept in the row).
    Late,
    /// A single-sample spike on the value.
    Spike,
    /// The gateway's error value instead of the reading.
    Invalid,
}

impl Defect {
    pub fn name(self) -> &'static str {
        match self {
            Defect::Gap => "gap",
            Defect::ClockSkew => "clock_skew",
            Defect::Stale => "stale",
            Defect::Duplicate => "duplicate",
            Defect::Late => "late",
            Defect::Spike => "spike",
            Defect::Invalid => "invalid",
        }
    }

    /// A label's id: the affected reading's id (of its first reading, and of the machine's
    /// first sensor for machine-wide defects) times 8 plus the kind, unique per defect.
    pub fn label_id(self, reading_id: i64) -> i64 {
        reading_id * 8 + self as i64
    }
}

/// A stretch `[from, to)` of a day; `skew` seconds for a clock skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub skew: i64,
}

impl Window {
    pub fn holds(&self, t: i64) -> bool {
        self.from <= t && t < self.to
    }
}

/// A machine's gateway defects on one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineDefects {
    pub gaps: Vec<Window>,
    pub skews: Vec<Window>,
}

impl MachineDefects {
    /// Whether the gateway is silent at `t`.
    pub fn silent(&self, t: i64) -> bool {
        self.gaps.iter().any(|w| w.holds(t))
    }

    /// The gateway clock's offset at `t`, seconds.
    pub fn skew(&self, t: i64) -> i64 {
        self.skews.iter().find(|w| w.holds(t)).map_or(0, |w| w.skew)
    }
}

/// A defect of one reading: at `t`, with `x` its size (spike: half-widths, signed; late and
/// duplicate: delay, seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub kind: Defect,
    pub x: f64,
}

/// A sensor's defects on one day: its stale stretches and its single-reading defects, in
/// time order. A day in progress holds the single-reading defects of the stretch it is
/// generating (drawn again from the day's stream for each stretch, [`Quality::sensor_within`]),
/// not the rest of its day: at midnight, 250 bytes a sensor less.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensorDefects {
    pub stale: Vec<Window>,
    pub points: Vec<Point>,
    /// `points` holds every single-reading defect before this instant (from the last
    /// [`SensorDefects::forget_before`] on).
    pub through: i64,
}

impl SensorDefects {
    pub fn stale_at(&self, t: i64) -> Option<&Window> {
        self.stale.iter().find(|w| w.holds(t))
    }

    /// Drops the single-reading defects before `t` (read only at their own instant).
    pub fn forget_before(&mut self, t: i64) {
        let n = self.points.partition_point(|p| p.t < t);
        if n > 0 {
            self.points.drain(..n);
            if self.points.capacity() > 2 * self.points.len() + 8 {
                self.points.shrink_to_fit();
            }
        }
    }

    /// The single-reading defects at `t`.
    pub fn points_at(&self, t: i64) -> &[Point] {
        let i = self.points.partition_point(|p| p.t < t);
        let j = i + self.points[i..].iter().take_while(|p| p.t == t).count();
        &self.points[i..j]
    }
}

/// A window of 1..=`max_min` minutes inside `[day + 1 h, day + 23 h)`, on a reading's tick.
fn window(r: &mut rng::Rng, day: i64, max_min: i64, skew: i64) -> Window {
    let len = r.random_range(1..=max_min.max(1)) * SCADA_STEP;
    let room = (22 * HOUR - len) / SENSOR_STEP;
    let from = day + HOUR + r.random_range(0..room.max(1)) * SENSOR_STEP;
    Window { from, to: from + len, skew }
}

/// Tick indices of a day hit at `rate`, drawn by geometric skips (work in proportion to the hits).
fn hits(r: &mut rng::Rng, rate: f64) -> Vec<i64> {
    let ticks = DAY / SENSOR_STEP;
    let mut out = Vec::new();
    if rate <= 0.0 {
        return out;
    }
    let ln = (1.0 - rate.min(0.999_999)).ln();
    let mut i = -1i64;
    loop {
        let u: f64 = r.random_range(f64::MIN_POSITIVE..1.0);
        i += 1 + (u.ln() / ln).floor() as i64;
        if i >= ticks {
            return out;
        }
        out.push(i);
    }
}

impl Quality {
    /// Machine `m`'s gateway defects on the UTC day starting at `day`.
    pub fn machine(&self, seed: u64, m: usize, day: i64) -> MachineDefects {
        let mut r = rng::stream(seed, &[rng::label("quality-gateway"), m as u64, day as u64]);
        let mut d = MachineDefects::default();
        if r.random::<f64>() < self.gaps_per_machine_day {
            d.gaps.push(window(&mut r, day, self.gap_minutes_max, 0));
        }
        if r.random::<f64>() < self.clock_skews_per_machine_day {
            // Off by 1..=max seconds, never a whole tick (the shifted readings fall between ticks).
            let max = self.clock_skew_max_s.max(1);
            let mut s = r.random_range(1..=max);
            if s % SENSOR_STEP == 0 {
                s -= 1;
            }
            let s = if s == 0 { 1 } else { s };
            let sign = if r.random::<bool>() { 1 } else { -1 };
            let hours = r.random_range(1..=3);
            d.skews.push(window(&mut r, day, hours * 60, sign * s));
        }
        d
    }

    /// Sensor `s`'s defects on the UTC day starting at `day`.
    #[cfg(test)]
    pub fn sensor(&self, seed: u64, s: usize, day: i64) -> SensorDefects {
        self.sensor_within(seed, s, day, (day, day + DAY))
    }

    /// Sensor `s`'s defects on the UTC day starting at `day`: its stale stretches, and its
    /// single-reading defects at instants within `[from, to)`. The day's stream is drawn
    /// whole either way (a few dozen words), so every stretch sees the same defects.
    pub fn sensor_within(&self, seed: u64, s: usize, day: i64, (from, to): (i64, i64)) -> SensorDefects {
        let mut r = rng::stream(seed, &[rng::label("quality-sensor"), s as u64, day as u64]);
        let mut d = SensorDefects { through: to, ..SensorDefects::default() };
        // Every draw is made whatever it lands on; only the points within are kept.
        let mut push = |p: Point| {
            if from <= p.t && p.t < to {
                d.points.push(p);
            }
        };
        if r.random::<f64>() < self.stale_per_sensor_day {
            d.stale.push(window(&mut r, day, self.stale_minutes_max, 0));
        }
        let tick = |i: i64| day + i * SENSOR_STEP;
        // Room left in the reading's minute: a delayed reading is published within it.
        let room = |t: i64| SCADA_STEP - SENSOR_STEP - t.rem_euclid(SCADA_STEP);
        for i in hits(&mut r, self.duplicate_rate) {
            let t = tick(i);
            let delay = (r.random_range(0..=room(t) / SENSOR_STEP) * SENSOR_STEP) as f64;
            push(Point { t, kind: Defect::Duplicate, x: delay });
        }
        for i in hits(&mut r, self.late_rate) {
            let t = tick(i);
            let most = room(t).min(self.max_lateness_s) / SENSOR_STEP;
            if most >= 1 {
                let delay = r.random_range(1..=most) * SENSOR_STEP;
                push(Point { t, kind: Defect::Late, x: delay as f64 });
            }
        }
        for i in hits(&mut r, self.spike_rate) {
            let size = r.random_range(4.0..8.0) * if r.random::<bool>() { 1.0 } else { -1.0 };
            push(Point { t: tick(i), kind: Defect::Spike, x: size });
        }
        for i in hits(&mut r, self.invalid_rate) {
            push(Point { t: tick(i), kind: Defect::Invalid, x: 0.0 });
        }
        d.points.sort_by_key(|p| (p.t, p.kind as u8));
        d
    }
}

impl Engine {
    /// Machine `m`'s gateway defects on `day`, when `[quality]` is on.
    pub fn machine_defects(&self, m: usize, day: i64) -> Option<MachineDefects> {
        self.quality.as_ref().map(|q| q.machine(self.seed, m, day))
    }

    /// Sensor `s`'s defects on `day` with the single-reading ones within `[from, to)`
    /// ([`Quality::sensor_within`]), when `[quality]` is on.
    pub fn sensor_defects(&self, s: usize, day: i64, within: (i64, i64)) -> Option<SensorDefects> {
        self.quality.as_ref().map(|q| q.sensor_within(self.seed, s, day, within))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: i64 = 1_772_323_200; // 2026-03-01

    #[test]
    fn the_invalid_value_is_outside_every_measurement_range() {
        for r in crate::plant::roles::ROLES {
            assert!(INVALID_VALUE < r.range.0 || INVALID_VALUE > r.range.1, "{} measures {INVALID_VALUE}", r.name);
        }
    }

    #[test]
    fn defects_are_a_function_of_seed_entity_and_day() {
        let q = Quality::default();
        assert_eq!(q.sensor(7, 3, DAY0), q.sensor(7, 3, DAY0));
        assert_eq!(q.machine(7, 3, DAY0), q.machine(7, 3, DAY0));
        assert_ne!(q.sensor(7, 3, DAY0), q.sensor(7, 4, DAY0), "sensors differ");
        assert_ne!(q.sensor(7, 3, DAY0), q.sensor(8, 3, DAY0), "seeds differ");
    }

    #[test]
    fn a_day_drawn_in_stretches_holds_the_defects_of_the_day_drawn_whole() {
        let q = Quality { duplicate_rate: 0.01, late_rate: 0.02, stale_per_sensor_day: 0.5, ..Quality::default() };
        for s in 0..50 {
            let whole = q.sensor(5, s, DAY0);
            let cuts = [0, 7, HOUR, HOUR + 30, 5 * HOUR, 23 * HOUR + 50, DAY].map(|c| DAY0 + c);
            let mut points = Vec::new();
            for w in cuts.windows(2) {
                let part = q.sensor_within(5, s, DAY0, (w[0], w[1]));
                assert_eq!(part.stale, whole.stale, "sensor {s}: stale stretches are the day's");
                assert_eq!(part.through, w[1]);
                assert!(part.points.iter().all(|p| w[0] <= p.t && p.t < w[1]), "sensor {s}: points within {w:?}");
                points.extend(part.points);
            }
            assert_eq!(points, whole.points, "sensor {s}: the stretches' points are the day's");
        }
    }

    #[test]
    fn rates_hold_and_every_defect_stays_in_its_day_and_minute() {
        let q = Quality {
            duplicate_rate: 0.01,
            late_rate: 0.02,
            spike_rate: 0.005,
            invalid_rate: 0.002,
            ..Quality::default()
        };
        let sensors = 400;
        let mut counts = [0usize; 7];
        for s in 0..sensors {
            let d = q.sensor(1, s, DAY0);
            assert!(d.points.windows(2).all(|w| w[0].t <= w[1].t), "points in time order");
            for p in &d.points {
                counts[p.kind as usize] += 1;
                assert!(p.t >= DAY0 && p.t < DAY0 + DAY && p.t % SENSOR_STEP == 0);
                if matches!(p.kind, Defect::Late | Defect::Duplicate) {
                    let release = p.t + p.x as i64;
                    assert_eq!(release / SCADA_STEP, p.t / SCADA_STEP, "{p:?} is published within its minute");
                    assert!(p.x as i64 <= q.max_lateness_s || p.kind == Defect::Duplicate);
                }
            }
            for w in &d.stale {
                assert!(w.from >= DAY0 + HOUR && w.to <= DAY0 + 23 * HOUR && w.to > w.from);
            }
        }
        let readings = (sensors * (DAY / SENSOR_STEP) as usize) as f64;
        let near = |n: usize, rate: f64, share: f64| {
            let want = readings * rate * share;
            (n as f64 - want).abs() < 5.0 * want.sqrt() + 1.0
        };
        assert!(near(counts[Defect::Duplicate as usize], q.duplicate_rate, 1.0), "duplicates {counts:?}");
        // A late draw at a minute's last tick has no room and is dropped (1 in 6).
        let late = counts[Defect::Late as usize] as f64 / (readings * q.late_rate);
        assert!((0.78..0.88).contains(&late), "late share {late}");
        assert!(near(counts[Defect::Spike as usize], q.spike_rate, 1.0), "spikes {counts:?}");
        assert!(near(counts[Defect::Invalid as usize], q.invalid_rate, 1.0), "invalid {counts:?}");
    }

    #[test]
    fn skews_fall_between_ticks_and_gaps_last_whole_minutes() {
        let q = Quality { gaps_per_machine_day: 1.0, clock_skews_per_machine_day: 1.0, ..Quality::default() };
        for m in 0..200 {
            let d = q.machine(3, m, DAY0);
            let (g, s) = (d.gaps[0], d.skews[0]);
            assert_eq!((g.to - g.from) % SCADA_STEP, 0);
            assert!((g.to - g.from) / SCADA_STEP <= q.gap_minutes_max);
            assert!(s.skew != 0 && s.skew % SENSOR_STEP != 0 && s.skew.abs() <= q.clock_skew_max_s, "{s:?}");
            assert!(s.from + s.skew >= DAY0 && s.to + s.skew <= DAY0 + DAY, "a skewed reading stays in its day");
            assert!(d.silent(g.from) && !d.silent(g.to) && d.skew(s.from) == s.skew && d.skew(s.to) == 0);
        }
        let off = Quality { gaps_per_machine_day: 0.0, clock_skews_per_machine_day: 0.0, ..Quality::default() };
        assert_eq!(off.machine(3, 0, DAY0), MachineDefects::default());
    }
}
