//! Sensor signals: the healthy physical process of each sensor, and the fault signatures
//! layered on it.
//!
//! A reading is `base + smooth noise + white noise + fault offset`. The base follows the
//! machine's state through the role's behaviour (with a first-order lag for temperatures and
//! drives); the smooth noise interpolates seeded knots every two minutes, so consecutive
//! readings follow each other; white noise and packet loss come from a per-(sensor, day)
//! ChaCha stream at a fixed position per reading, so any reading can be recomputed alone.
//! Fault episodes move the affected roles along the catalogue signature: through the warning
//! band at progress 1/3, the critical band at 2/3, to the failure value at 1. On a realistic
//! plant ([`super::realism`]) the level also carries the sensor's individuality, the product's
//! load, ageing, start-up surges and the hall's temperature, and a pattern's detectability
//! scales its signature.

use rand::RngCore as _;

use super::episodes::{DriftMode, Ending, Episode};
use super::machine::Timeline;
use super::physics::Behaviour;
use super::Engine;
use crate::clock::{DAY, SCADA_STEP, SENSOR_STEP};
use crate::faults::Signature;
use crate::plant::roles::Role;
use crate::rng;

/// Seconds between smooth-noise knots.
const KNOT: i64 = 120;
const KNOTS_PER_DAY: usize = (DAY / KNOT) as usize;
/// Words of the tick stream used per reading: two for white noise, one for packet loss,
/// one for sensor faults.
const WORDS_PER_TICK: usize = 4;

fn unit(x: u32) -> f64 {
    f64::from(x) / 4_294_967_296.0
}

/// Share of an erratic drift's readings that spike out of range.
const SPIKE_SHARE: f64 = 0.01;

/// A standard normal from two uniform words (Box–Muller).
fn normal(a: u32, b: u32) -> f64 {
    let u1 = (f64::from(a) + 1.0) / 4_294_967_297.0;
    let u2 = unit(b);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The random material of one sensor for one UTC day, drawn as it is read.
///
/// Knots and tick words sit at fixed positions of two ChaCha streams, so reading them in
/// time order draws each once, and any other instant is one seek away: a day in progress
/// costs a few hundred bytes per sensor, not the day's 140 KB.
pub struct SensorDay {
    pub day: i64,
    /// The first knot of the next day (closes the day's last knot segment).
    next_day_knot: f64,
    knots: std::cell::RefCell<Cursor<(usize, f64, f64)>>,
    ticks: std::cell::RefCell<Cursor<(usize, [u32; WORDS_PER_TICK])>>,
}

/// A stream positioned at `pos` (in words) and the last item read from it. The ChaCha
/// generator itself (300 bytes with its block buffer) is made when first read and dropped
/// when parked: a stream's day in progress parks its sensors between steps.
struct Cursor<T> {
    /// What the stream is made from ([`rng::stream_state`]).
    state: u64,
    rng: Option<Box<rng::Rng>>,
    pos: u128,
    last: Option<T>,
}

impl<T> Cursor<T> {
    fn new(state: u64) -> Cursor<T> {
        Cursor { state, rng: None, pos: 0, last: None }
    }

    /// The `N` words at `at`, seeking only when not already there.
    fn words<const N: usize>(&mut self, at: u128) -> [u32; N] {
        let r = match &mut self.rng {
            Some(r) => {
                if at != self.pos {
                    r.set_word_pos(at);
                }
                r
            }
            None => {
                let mut r = Box::new(rng::from_state(self.state));
                r.set_word_pos(at);
                self.rng.insert(r)
            }
        };
        let mut w = [0u32; N];
        for x in &mut w {
            *x = r.next_u32();
        }
        self.pos = at + N as u128;
        w
    }

    /// Drops the generator, keeping the position (the next read makes it again).
    fn park(&mut self) {
        self.rng = None;
    }
}

impl SensorDay {
    /// Drops the random generators until the next read (a day in progress between steps
    /// keeps 300 bytes less per stream); what is read stays the same.
    pub fn park(&self) {
        self.knots.borrow_mut().park();
        self.ticks.borrow_mut().park();
    }

    /// Knots `j` and `j + 1` of the day.
    fn knot_pair(&self, j: usize) -> (f64, f64) {
        let mut c = self.knots.borrow_mut();
        if let Some((k, k0, k1)) = c.last {
            if k == j {
                return (k0, k1);
            }
        }
        let k0 = match c.last {
            Some((k, _, k1)) if k + 1 == j => k1,
            _ => {
                let [a, b] = c.words::<2>(2 * j as u128);
                normal(a, b)
            }
        };
        let k1 = if j + 1 < KNOTS_PER_DAY {
            let [a, b] = c.words::<2>(2 * (j + 1) as u128);
            normal(a, b)
        } else {
            self.next_day_knot
        };
        c.last = Some((j, k0, k1));
        (k0, k1)
    }

    /// The words of tick `i` of the day.
    fn tick_words(&self, i: usize) -> [u32; WORDS_PER_TICK] {
        let mut c = self.ticks.borrow_mut();
        match c.last {
            Some((k, w)) if k == i => w,
            _ => {
                let w = c.words::<WORDS_PER_TICK>((i * WORDS_PER_TICK) as u128);
                c.last = Some((i, w));
                w
            }
        }
    }
}

/// One raw reading before statistics.
#[derive(Debug, Clone, Copy)]
pub struct Raw {
    pub value: f64,
    pub missing: bool,
    pub out_of_range: bool,
}

/// Lagged activity per behaviour over a timeline, one value per minute boundary, computed
/// forward as far as asked ([`Lags::full`] for a whole timeline, [`Lags::extend_to`] for a
/// day in progress, which also forgets what lies behind it).
pub struct Lags {
    /// Per behaviour: its smoothing factors (rising, falling) and the values from the
    /// timeline's start.
    entries: Vec<(Behaviour, [f64; 2], Vec<f64>)>,
}

/// The per-minute smoothing factor of a first-order lag with time constant `tau` minutes.
fn smoothing(tau: f64) -> f64 {
    if tau > 0.0 {
        1.0 - (-1.0 / tau).exp()
    } else {
        1.0
    }
}

impl Lags {
    /// The first boundary of each behaviour only.
    pub fn new(tl: &Timeline, behaviours: impl Iterator<Item = Behaviour>) -> Lags {
        let mut entries: Vec<(Behaviour, [f64; 2], Vec<f64>)> = Vec::new();
        for b in behaviours {
            if entries.iter().any(|(e, _, _)| *e == b) {
                continue;
            }
            let alpha = [smoothing(b.tau_min()), smoothing(b.cooling_tau_min())];
            entries.push((b, alpha, vec![tl.minutes.first().map_or(0.0, |m| b.activity(m.state))]));
        }
        Lags { entries }
    }

    /// Every boundary of the timeline.
    #[cfg(test)]
    pub fn full(tl: &Timeline, behaviours: impl Iterator<Item = Behaviour>) -> Lags {
        let mut lags = Lags::new(tl, behaviours);
        lags.extend_to(tl, tl.minutes.len());
        lags
    }

    /// Computes the boundaries up to index `k` (the timeline's minutes permitting).
    pub fn extend_to(&mut self, tl: &Timeline, k: usize) {
        for (b, alpha, v) in &mut self.entries {
            while v.len() <= k && v.len() <= tl.minutes.len() {
                let a = *v.last().expect("the first boundary is always there");
                let target = b.activity(tl.minutes[v.len() - 1].state);
                v.push(a + (target - a) * alpha[usize::from(target < a)]);
            }
        }
    }

    /// Drops the first `n` minute boundaries, with the timeline's first `n` minutes.
    pub fn forget(&mut self, n: usize) {
        for (_, _, v) in &mut self.entries {
            v.drain(..n.min(v.len().saturating_sub(1)));
            if v.capacity() > 2 * v.len() + 16 {
                v.shrink_to_fit();
            }
        }
    }

    /// Activity of behaviour `b` at `t`: linear within the minute while it moves with a lag;
    /// without lag in the direction it moves (a held process value, a position, a pump
    /// switched on) it switches with the minute's state instead of ramping through it.
    fn at(&self, b: Behaviour, tl: &Timeline, t: i64) -> f64 {
        let v = &self.entries.iter().find(|(e, _, _)| *e == b).expect("lag computed for every behaviour").2;
        debug_assert!(
            ((t - tl.start) / SCADA_STEP) as usize + 1 < v.len() || v.len() == tl.minutes.len() + 1,
            "lags computed up to {t}"
        );
        let k = ((t - tl.start) / SCADA_STEP) as usize;
        let (a, b2) = (v[k.min(v.len() - 1)], v[(k + 1).min(v.len() - 1)]);
        let lag = if b2 < a { b.cooling_tau_min() } else { b.tau_min() };
        if lag <= 0.0 {
            return b2;
        }
        let f = ((t - tl.start) % SCADA_STEP) as f64 / SCADA_STEP as f64;
        a + (b2 - a) * f
    }
}

/// Linear interpolation through (0, p0), (1/3, p1), (2/3, p2), (1, p3) at progress `p`.
fn through(points: [f64; 4], p: f64) -> f64 {
    let x = (p.clamp(0.0, 1.0) * 3.0).min(2.999_999);
    let i = x.floor() as usize;
    points[i] + (points[i + 1] - points[i]) * (x - i as f64)
}

/// How far into the warning band a drifting signature is when the labelled warning phase
/// begins, as a share of the band. The label's warning time then marks a reading *in* the
/// band, not one at its edge that noise, averaging and a machine's thermal lag put on
/// either side of the limit. The critical point stays on the critical edge, so the
/// signature never reaches the critical band before the labelled critical time.
const WARNING_MARGIN: f64 = 0.15;

/// The offset and extra scatter a signature adds at progress `p`.
fn signature_effect(
    sig: &Signature,
    sign: f64,
    increase: f64,
    role: &Role,
    setpoint: f64,
    hw: f64,
    p: f64,
) -> (f64, f64) {
    let base_scatter = sig.scatter_pct.map_or(hw * 0.3, |s| s / 100.0 * setpoint.abs().max(hw));
    match (sig.direction.as_str(), sig.warning, sig.critical) {
        ("scatter", Some(w), Some(c)) => {
            let to_warn = (w[1] - setpoint).min(setpoint - w[0]).max(base_scatter);
            let to_crit = (c[1] - setpoint).min(setpoint - c[0]).max(to_warn);
            (0.0, through([base_scatter, base_scatter * 1.5, to_warn, to_crit], p))
        }
        ("scatter", _, _) => (0.0, base_scatter * (1.0 + 2.0 * p)),
        (dir, Some(w), Some(c)) => {
            let [start, warn, crit, fail] = match dir {
                "down" => [setpoint, w[1], c[1], sig.failure.unwrap_or(c[0])],
                "either" if sign < 0.0 => [setpoint, role.warning.0, role.critical.0, c[0]],
                "either" => [setpoint, role.warning.1, role.critical.1, c[1]],
                _ => [setpoint, w[0], c[0], sig.failure.unwrap_or(c[1])],
            };
            let warn_inside = warn + (crit - warn) * WARNING_MARGIN;
            (through([start, warn_inside, crit, fail], p) - setpoint, 0.0)
        }
        _ if sig.increase_pct.is_some() => (setpoint * increase / 100.0 * p, 0.0),
        _ => (increase * p, 0.0),
    }
}

impl Engine {
    /// The random material of sensor `s` on the UTC day starting at `day`.
    pub fn sensor_day(&self, s: usize, day: i64) -> SensorDay {
        let knots = rng::stream_state(self.seed, &[rng::label("knots"), s as u64, day as u64]);
        let mut next = rng::stream(self.seed, &[rng::label("knots"), s as u64, (day + DAY) as u64]);
        let next_day_knot = normal(next.next_u32(), next.next_u32());
        let ticks = rng::stream_state(self.seed, &[rng::label("ticks"), s as u64, day as u64]);
        SensorDay {
            day,
            next_day_knot,
            knots: std::cell::RefCell::new(Cursor::new(knots)),
            ticks: std::cell::RefCell::new(Cursor::new(ticks)),
        }
    }

    /// The tick's words for `t` alone (packet loss and spikes need no smooth noise).
    fn words_at(&self, s: usize, sd: &SensorDay, t: i64) -> [u32; WORDS_PER_TICK] {
        let day = t - t.rem_euclid(DAY);
        let i = ((t - day) / SENSOR_STEP) as usize;
        if day == sd.day {
            return sd.tick_words(i);
        }
        let mut r = rng::stream(self.seed, &[rng::label("ticks"), s as u64, day as u64]);
        r.set_word_pos((i * WORDS_PER_TICK) as u128);
        let mut w = [0u32; WORDS_PER_TICK];
        for x in &mut w {
            *x = r.next_u32();
        }
        w
    }

    /// Smooth noise and the tick's words for `t`, from `sd` when `t` is on its day, else
    /// recomputed by seeking the other day's streams.
    fn noise_at(&self, s: usize, sd: &SensorDay, t: i64) -> (f64, [u32; WORDS_PER_TICK]) {
        let day = t - t.rem_euclid(DAY);
        let off = t - day;
        let j = (off / KNOT) as usize;
        let f = (off % KNOT) as f64 / KNOT as f64;
        let smooth_f = f * f * (3.0 - 2.0 * f);
        let i = (off / SENSOR_STEP) as usize;
        if day == sd.day {
            let (k0, k1) = sd.knot_pair(j);
            return (k0 + (k1 - k0) * smooth_f, sd.tick_words(i));
        }
        let mut k = rng::stream(self.seed, &[rng::label("knots"), s as u64, day as u64]);
        k.set_word_pos(2 * j as u128);
        let k0 = normal(k.next_u32(), k.next_u32());
        let k1 = if j + 1 < KNOTS_PER_DAY {
            normal(k.next_u32(), k.next_u32())
        } else {
            let mut n = rng::stream(self.seed, &[rng::label("knots"), s as u64, (day + DAY) as u64]);
            normal(n.next_u32(), n.next_u32())
        };
        (k0 + (k1 - k0) * smooth_f, self.words_at(s, sd, t))
    }

    /// The raw reading of sensor `s` at `t` on a timeline of its machine.
    pub fn raw_reading(&self, s: usize, t: i64, tl: &Timeline, lags: &Lags, sd: &SensorDay) -> Raw {
        let sensor = &self.plant.sensors[s];
        let role = sensor.role;
        let p = &self.sensors[s];
        let minute = tl.at(t).expect("reading inside its timeline");
        let (smooth, w) = self.noise_at(s, sd, t);
        let white = normal(w[0], w[1]);
        let a = lags.at(p.behaviour, tl, t);
        let ctx = self.context(s, t, tl, minute.run);
        let ambient = self.ambient[sensor.factory] + ctx.ambient;
        let setpoint = p.setpoint + ctx.shift;
        let (base, noise_scale) = match p.behaviour {
            Behaviour::Drive { off, .. } => {
                let level = off + (setpoint - off) * a + (setpoint - off) * ctx.surge;
                (level, (level.abs() / p.setpoint.abs().max(1e-9)).clamp(0.01, 1.0))
            }
            Behaviour::Thermal { .. } => (ambient + (setpoint - ambient) * a, 0.3 + 0.7 * a),
            Behaviour::Pump | Behaviour::Hold => (setpoint * a, a.max(0.01)),
            Behaviour::Position => (setpoint, 0.1 + 0.9 * a),
            Behaviour::Supply | Behaviour::Static => (setpoint, 1.0),
        };
        let noise_scale = noise_scale * ctx.noise;
        let mut value = base + smooth * p.smooth_amp * noise_scale;
        let mut scatter = 0.0;
        let mut miss_prob = p.miss_prob;
        // Machine-level episode: move this role along its signature while the machine is
        // degrading (until the fault state ends).
        if let Some(ep) = minute.episode.map(|i| &tl.episodes[i as usize]) {
            let pattern = &self.catalogue.patterns[ep.pattern];
            let live = match ep.ending {
                Ending::Fault => t < ep.fault_end,
                _ => t < ep.fault_at,
            };
            if live {
                if let Some((j, sig)) = pattern.signature.iter().enumerate().find(|(_, g)| g.role == role.name) {
                    let prog = ep.progress(t);
                    let d = ep.sigs[j];
                    let (offset, extra) =
                        signature_effect(sig, d.sign, d.increase, role, p.setpoint, p.half_width, prog);
                    let gain = match p.behaviour {
                        Behaviour::Supply | Behaviour::Static => 1.0,
                        _ => a,
                    };
                    let gain = match self.realism {
                        Some(_) => gain * super::realism::tier_gain(super::realism::warning_share(pattern), prog),
                        None => gain,
                    };
                    value += offset * gain;
                    scatter += extra * gain;
                    if let Some(fl) = sig.fluctuation {
                        value += fl * prog * smooth * gain;
                    }
                }
            }
        }
        value += white * (p.white_amp * noise_scale + scatter);
        // Sensor-scoped episode (drift) on this very sensor.
        if let Some(ep) = tl.episodes.iter().find(|e| e.sensor == Some(s) && t >= e.onset && t < e.fault_at) {
            let reference = p.setpoint.abs().max(p.half_width);
            let days = (t - ep.onset) as f64 / DAY as f64;
            let offset = reference * ep.drift_pct_per_day / 100.0 * days;
            miss_prob = miss_prob.max(ep.packet_loss);
            match ep.drift_mode {
                DriftMode::Stuck if t >= ep.onset + (ep.planned_fault - ep.onset) * 2 / 5 => {
                    let frozen_days = (ep.planned_fault - ep.onset) as f64 * 0.4 / DAY as f64;
                    value = round4(p.setpoint + reference * ep.drift_pct_per_day / 100.0 * frozen_days);
                }
                DriftMode::Erratic => {
                    value += offset + white * p.smooth_amp * 3.0 * ep.progress(t).max(0.3);
                    let u = unit(w[3]);
                    if u < SPIKE_SHARE {
                        let span = role.range.1 - role.range.0;
                        value = if u < 0.005 {
                            role.range.1 + 0.05 * span * (u * 200.0)
                        } else {
                            role.range.0 - 0.05 * span * ((u - 0.005) * 200.0)
                        };
                    }
                }
                _ => value += offset,
            }
        }
        let sensor_fault = tl.episodes.iter().any(|e| e.sensor == Some(s) && t >= e.onset && t < e.fault_at);
        if role.range.0 >= 0.0 && value < 0.0 && !sensor_fault {
            value = 0.0;
        }
        let out_of_range = value < role.range.0 || value > role.range.1;
        Raw { value: round4(value), missing: unit(w[2]) < miss_prob, out_of_range }
    }

    /// The packet loss of sensor `s` at `t`: its own, or the first of its drift episodes'
    /// in effect if that is higher.
    fn loss_prob<'a>(&self, s: usize, t: i64, episodes: impl IntoIterator<Item = &'a Episode>) -> f64 {
        let p = self.sensors[s].miss_prob;
        episodes
            .into_iter()
            .find(|e| e.sensor == Some(s) && t >= e.onset && t < e.fault_at)
            .map_or(p, |e| p.max(e.packet_loss))
    }

    /// Whether an erratic drift of sensor `s` is in effect at `t` (its readings then spike
    /// out of range when their fault word falls below [`SPIKE_SHARE`]).
    fn erratic_at<'a>(s: usize, t: i64, episodes: impl IntoIterator<Item = &'a Episode>) -> bool {
        episodes
            .into_iter()
            .any(|e| e.sensor == Some(s) && e.drift_mode == DriftMode::Erratic && t >= e.onset && t < e.fault_at)
    }

    /// Whether sensor `s` misses the reading at `t` (packet loss), without computing its value.
    pub fn reading_missing(&self, s: usize, t: i64, episodes: &[Episode], sd: &SensorDay) -> bool {
        unit(self.words_at(s, sd, t)[2]) < self.loss_prob(s, t, episodes)
    }

    /// Calls `f(t, missing, out_of_range)` for every tick `t` of `[a, b)` (inside one UTC
    /// day) in order, with what [`Engine::reading_missing`] and
    /// [`Engine::reading_out_of_range`] say of it: the day's tick words read straight from
    /// their stream, for the 24-hour health figures' counts of a whole day.
    pub fn losses(&self, s: usize, (a, b): (i64, i64), episodes: &[Episode], mut f: impl FnMut(i64, bool, bool)) {
        let day = a - a.rem_euclid(DAY);
        debug_assert!(a.rem_euclid(SENSOR_STEP) == 0 && b <= day + DAY, "ticks of one day");
        if a >= b {
            return;
        }
        // The sensor's own episodes touching the stretch: the only ones the rules read.
        let own: Vec<&Episode> =
            episodes.iter().filter(|e| e.sensor == Some(s) && e.onset < b && a < e.fault_at).collect();
        let mut r = rng::stream(self.seed, &[rng::label("ticks"), s as u64, day as u64]);
        r.set_word_pos(((a - day) / SENSOR_STEP) as u128 * WORDS_PER_TICK as u128);
        let mut w = [0u32; WORDS_PER_TICK];
        let mut t = a;
        while t < b {
            for x in &mut w {
                *x = r.next_u32();
            }
            let missing = unit(w[2]) < self.loss_prob(s, t, own.iter().copied());
            let spike = Engine::erratic_at(s, t, own.iter().copied()) && unit(w[3]) < SPIKE_SHARE;
            f(t, missing, spike);
            t += SENSOR_STEP;
        }
    }

    /// Whether a reading at `t` is an out-of-range spike of an erratic drift episode.
    pub fn reading_out_of_range(&self, s: usize, t: i64, episodes: &[Episode], sd: &SensorDay) -> bool {
        Engine::erratic_at(s, t, episodes) && unit(self.words_at(s, sd, t)[3]) < SPIKE_SHARE
    }
}

/// Rounds to the 4 decimals of `measurement_value`.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default plant of seed 7 at fault rate `rate`.
    fn seed_7(rate: f64) -> Engine {
        crate::sim::seed_7_engine_at(rate)
    }

    /// A day read out of order (backwards, jumping, repeating), parked or not, gives the
    /// words and knots a sequential draw of its streams gives, at their fixed positions.
    #[test]
    fn a_day_reads_alike_in_any_order() {
        let e = seed_7(1.0);
        let (s, day) = (3, 1_772_323_200);
        let mut ticks = rng::stream(7, &[rng::label("ticks"), s as u64, day as u64]);
        let words: Vec<u32> = (0..400 * WORDS_PER_TICK).map(|_| ticks.next_u32()).collect();
        let mut knots = rng::stream(7, &[rng::label("knots"), s as u64, day as u64]);
        let ks: Vec<f64> = (0..40).map(|_| normal(knots.next_u32(), knots.next_u32())).collect();
        let sd = e.sensor_day(s, day);
        let order = [0usize, 1, 2, 399, 5, 5, 4, 3, 200, 201, 17, 16, 398, 0, 1, 2, 3];
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(sd.tick_words(i)[..], words[i * WORDS_PER_TICK..(i + 1) * WORDS_PER_TICK], "tick {i}");
            let j = i % 39;
            assert_eq!(sd.knot_pair(j), (ks[j], ks[j + 1]), "knots {j}, {}", j + 1);
            // Parked between some reads (as a stream's day between steps): the same words.
            if k % 3 == 0 {
                sd.park();
            }
        }
        let mut next = rng::stream(7, &[rng::label("knots"), s as u64, (day + DAY) as u64]);
        assert_eq!(
            sd.knot_pair(KNOTS_PER_DAY - 1).1,
            normal(next.next_u32(), next.next_u32()),
            "the last knot is the next day's first"
        );
    }

    #[test]
    fn interpolation_hits_the_band_edges() {
        let pts = [10.0, 15.0, 20.0, 40.0];
        assert_eq!(through(pts, 0.0), 10.0);
        assert!((through(pts, 1.0 / 3.0) - 15.0).abs() < 1e-9);
        assert!((through(pts, 2.0 / 3.0) - 20.0).abs() < 1e-9);
        assert!((through(pts, 1.0) - 40.0).abs() < 1e-4);
    }

    fn drift(direction: &str, warning: [f64; 2], critical: [f64; 2], failure: f64) -> Signature {
        Signature {
            role: "r".into(),
            direction: direction.into(),
            normal: [0.0, 0.0],
            warning: Some(warning),
            critical: Some(critical),
            failure: Some(failure),
            rate_per_hour: None,
            fluctuation: None,
            scatter_pct: None,
            increase_pct: None,
            increase_abs: None,
        }
    }

    #[test]
    fn warning_phase_starts_inside_the_band_and_critical_at_its_edge() {
        let role = crate::plant::roles::role("hydraulic_pressure").expect("role");
        let at = |sig: &Signature, setpoint: f64, p: f64| {
            setpoint + signature_effect(sig, 1.0, 0.0, role, setpoint, 1.0, p).0
        };
        // Bearing vibration rises from 10 through warning 15–20 and critical 20–40.
        let up = drift("up", [15.0, 20.0], [20.0, 40.0], 45.0);
        let (w, c) = (at(&up, 10.0, 1.0 / 3.0), at(&up, 10.0, 2.0 / 3.0));
        assert!(w > 15.5 && w < 20.0, "warning-phase start {w} must be well inside the warning band 15–20");
        assert!((c - 20.0).abs() < 1e-6, "critical-phase start {c} must be the critical edge 20");
        // Hydraulic pressure falls from 135 through warning 100–120 and critical 80–100.
        let down = drift("down", [100.0, 120.0], [80.0, 100.0], 80.0);
        let (w, c) = (at(&down, 135.0, 1.0 / 3.0), at(&down, 135.0, 2.0 / 3.0));
        assert!(w < 119.0 && w > 100.0, "warning-phase start {w} must be well inside the warning band 100–120");
        assert!((c - 100.0).abs() < 1e-6, "critical-phase start {c} must be the critical edge 100");
    }

    /// A motor winding heats with its time constant and cools, once its shaft slows, with
    /// [`super::super::physics::STANDSTILL_COOLING`] times it: after an hour's running and 12
    /// idle minutes it keeps over 80 % of its running heat (with one constant both ways it
    /// kept under 68 %).
    #[test]
    fn a_motor_winding_cools_slower_than_it_heats() {
        use super::super::machine::State;
        let e = seed_7(0.0);
        let winding = super::super::physics::behaviour("motor_temperature");
        let idle = winding.activity(State::Idle);
        let (heat, cool) = ((-1.0f64).exp(), (-12.0 / winding.cooling_tau_min()).exp());
        assert_eq!(winding.tau_min(), 25.0, "the winding heats with the 25-minute constant the test reads over");
        let start = 1_772_323_200;
        let (mut rises, mut falls, mut kept) = (0, 0, Vec::new());
        let motors = (0..e.plant.machines.len())
            .filter(|&m| e.sensors_of(m).any(|s| e.plant.sensors[s].role.name == "motor_temperature"));
        for m in motors.take(12) {
            let tl = e.timeline(m, start, start + 2 * DAY, e.episodes().for_machine(m, start - DAY, start + 3 * DAY));
            let lags = Lags::full(&tl, std::iter::once(winding));
            let v = &lags.entries[0].2;
            let st: Vec<State> = tl.minutes.iter().map(|x| x.state).collect();
            let all = |a: usize, b: usize, s: State| st[a..b].iter().all(|&x| x == s);
            for k in 60..st.len().saturating_sub(25) {
                if all(k, k + 25, State::Running) && v[k] < 0.9 {
                    let share = (v[k + 25] - v[k]) / (1.0 - v[k]);
                    assert!((share - (1.0 - heat)).abs() < 1e-9, "machine {m}, minute {k}: heated {share} in 25 min");
                    rises += 1;
                }
                if all(k, k + 12, State::Idle) && st[k - 1] == State::Running {
                    let share = (v[k] - v[k + 12]) / (v[k] - idle);
                    assert!((share - (1.0 - cool)).abs() < 1e-9, "machine {m}, minute {k}: cooled {share} in 12 min");
                    falls += 1;
                    if all(k - 60, k, State::Running) {
                        kept.push(v[k + 12]);
                    }
                }
            }
        }
        assert!(rises > 0 && falls > 0 && !kept.is_empty(), "the motors heat and cool: {rises} rises, {falls} falls");
        assert!(kept.iter().all(|&a| a > 0.8), "a winding keeps its heat through 12 idle minutes: {kept:?}");
    }

    /// A pump delivers from the first reading of a minute its machine is powered in, back
    /// from maintenance or a fault: no coolant flow below its warning limit as it restarts
    /// (with a minute's lag the first reading read nothing and the next half the flow).
    /// Switched off, it coasts down over the minute: the first reading of a stop still
    /// shows it running.
    #[test]
    fn a_pump_delivers_from_its_first_powered_minute() {
        use super::super::machine::State;
        let e = seed_7(0.0);
        let pump = super::super::physics::behaviour("coolant_flow");
        let start = 1_772_323_200;
        let mut restarts = 0;
        let coolant = (0..e.plant.machines.len())
            .filter_map(|m| e.sensors_of(m).find(|&s| e.plant.sensors[s].role.name == "coolant_flow").map(|s| (m, s)));
        for (m, s) in coolant {
            let tl = e.timeline(m, start, start + 4 * DAY, e.episodes().for_machine(m, start - DAY, start + 5 * DAY));
            let lags = Lags::full(&tl, std::iter::once(pump));
            let down = |k: usize| matches!(tl.minutes[k].state, State::Fault | State::Maintenance);
            for k in 1..tl.minutes.len() {
                let t = tl.start + k as i64 * SCADA_STEP;
                if down(k) && !down(k - 1) {
                    assert_eq!(lags.at(pump, &tl, t), 1.0, "machine {m}: the pump still runs as it stops at {t}");
                    let later = lags.at(pump, &tl, t + 30);
                    assert!(later < 1.0 && later > 0.0, "machine {m}: the pump coasts down after {t}: {later}");
                }
                if !down(k - 1) || down(k) {
                    continue;
                }
                restarts += 1;
                assert_eq!(lags.at(pump, &tl, t), 1.0, "machine {m}: the pump is on at {t}");
                let sd = e.sensor_day(s, t - t.rem_euclid(DAY));
                let flow = e.raw_reading(s, t, &tl, &lags, &sd).value;
                let limit = e.plant.sensors[s].role.warning.0;
                assert!(flow > limit, "machine {m} back at {t}: coolant flow {flow} below its warning limit {limit}");
            }
        }
        assert!(restarts >= 10, "the plant's coolant pumps restart after maintenance: {restarts}");
    }

    #[test]
    fn states_matter_for_drives() {
        use super::super::machine::State;
        let d = Behaviour::Drive { idle_frac: 0.1, off: 3.0 };
        assert_eq!(d.activity(State::Running), 1.0);
        assert_eq!(d.activity(State::Fault), 0.0);
    }
}
