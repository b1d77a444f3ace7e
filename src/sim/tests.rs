//! Engine invariants that range over the whole catalogue: every fault pattern, injected on a
//! machine it applies to, shows its documented signature in the sensor data, and healthy
//! readings stay inside their bands.

use super::episodes::{DriftMode, Ending, Episode, EPOCH};
use super::machine::State;
use super::signal::Lags;
use super::Engine;
use crate::clock::{DAY, HOUR, ID_EPOCH};

fn engine() -> Engine {
    engine_with(1.0, super::realism::Difficulty::Easy)
}

/// The default plant of seed 7 at fault rate `rate`, as hard as `difficulty`.
fn engine_with(rate: f64, difficulty: super::realism::Difficulty) -> Engine {
    let mut e = super::seed_7_engine_at(rate);
    e.set_difficulty(difficulty);
    e
}

/// The first episode of `pattern` (scanning machines and epochs), with the variant wanted.
fn find(e: &Engine, pattern: &str, variant: Option<&str>) -> Episode {
    let src = e.episodes();
    let pi = e.catalogue.patterns.iter().position(|p| p.name == pattern).unwrap();
    for epoch in 320..420 {
        for m in 0..e.plant.machines.len() {
            if let Some(ep) = src.episode(m, epoch) {
                if ep.pattern == pi && variant.is_none_or(|v| ep.variant == v) {
                    return ep;
                }
            }
        }
    }
    panic!("no {pattern} episode found");
}

/// Readings of `sensor` at every `step` in `[a, b)` while the machine runs: (t, value).
fn readings(e: &Engine, ep: &Episode, sensor: usize, a: i64, b: i64, step: i64) -> Vec<(i64, f64)> {
    let m = ep.machine;
    let from = a - 12 * HOUR - (a - 12 * HOUR).rem_euclid(60);
    let to = b + 60 - b.rem_euclid(60);
    let eps = e.episodes().for_machine(m, from - DAY, to + DAY);
    let tl = e.timeline(m, from, to, eps);
    let lags = Lags::full(&tl, e.sensors_of(m).map(|s| e.sensors[s].behaviour));
    let mut day = e.sensor_day(sensor, a - a.rem_euclid(DAY));
    let mut out = Vec::new();
    let mut t = a - a.rem_euclid(10);
    while t < b {
        if t - t.rem_euclid(DAY) != day.day {
            day = e.sensor_day(sensor, t - t.rem_euclid(DAY));
        }
        if tl.at(t).is_some_and(|mi| mi.state == State::Running) {
            out.push((t, e.raw_reading(sensor, t, &tl, &lags, &day).value));
        }
        t += step;
    }
    out
}

fn sensor_with_role(e: &Engine, m: usize, role: &str) -> usize {
    e.sensors_of(m)
        .find(|&s| e.plant.sensors[s].role.name == role)
        .unwrap_or_else(|| panic!("machine {m} lacks {role}"))
}

fn status(e: &Engine, s: usize, v: f64) -> &'static str {
    let r = e.plant.sensors[s].role;
    if v < r.critical.0 || v > r.critical.1 {
        "critical"
    } else if v < r.warning.0 || v > r.warning.1 {
        "warning"
    } else {
        "normal"
    }
}

#[test]
fn every_pattern_moves_its_sensors_out_of_the_normal_band() {
    let e = engine();
    for p in e.catalogue.patterns.clone() {
        let ep = find(&e, &p.name, None);
        let sensors: Vec<usize> = match ep.sensor {
            Some(s) => vec![s],
            None => e
                .sensors_of(ep.machine)
                .filter(|&s| p.signature.iter().any(|g| g.role == e.plant.sensors[s].role.name))
                .collect(),
        };
        assert!(
            !sensors.is_empty(),
            "{}: no affected sensors on {}",
            p.name,
            e.plant.machines[ep.machine].machine_type
        );
        if ep.sensor.is_some() {
            continue; // sensor drift is checked on its own below
        }
        // Healthy before onset: almost every running reading is normal.
        let mut healthy = 0usize;
        let mut normal = 0usize;
        for &s in &sensors {
            for (_, v) in readings(&e, &ep, s, ep.onset - 6 * HOUR, ep.onset, 60) {
                healthy += 1;
                normal += usize::from(status(&e, s, v) == "normal");
            }
        }
        assert!(
            healthy > 0 && normal as f64 >= 0.97 * healthy as f64,
            "{}: only {normal}/{healthy} healthy readings normal",
            p.name
        );
        // Between the critical phase and the trip, the signature shows.
        let (a, b) = (ep.critical_at, ep.fault_at.max(ep.critical_at + 60));
        let step = ((b - a) / 200).max(10);
        let mut abnormal = 0usize;
        let mut seen = 0usize;
        for &s in &sensors {
            for (_, v) in readings(&e, &ep, s, a, b, step) {
                seen += 1;
                abnormal += usize::from(status(&e, s, v) != "normal");
            }
        }
        if seen > 0 {
            assert!(
                abnormal * 4 >= seen,
                "{} ({}): only {abnormal}/{seen} readings out of normal in the critical phase",
                p.name,
                ep.variant
            );
        } else {
            assert!(
                ep.critical_at == ep.fault_at || ep.fault_at - ep.critical_at < 120,
                "{}: no running readings in a long critical phase",
                p.name
            );
        }
    }
}

#[test]
fn bearing_vibration_crosses_15_then_20_before_the_trip() {
    let e = engine();
    let ep = find(&e, "bearing_failure", None);
    let s = sensor_with_role(&e, ep.machine, "spindle_bearing_vibration");
    let r = readings(&e, &ep, s, ep.onset, ep.fault_at, 300);
    // A sustained crossing: six running readings in a row above the limit.
    let first = |x: f64| r.windows(6).find(|w| w.iter().all(|(_, v)| *v > x)).map(|w| w[0].0);
    let (w, c) = (first(15.0).expect("vibration exceeds 15 mm/s"), first(20.0).expect("vibration exceeds 20 mm/s"));
    assert!(w < c && c < ep.fault_at, "crossings out of order: 15 at {w}, 20 at {c}, trip at {}", ep.fault_at);
    assert!(
        ep.fault_at - c <= 50 * HOUR,
        "critical phase lasts at most about 48 h, was {} h",
        (ep.fault_at - c) / HOUR
    );
    assert!(c - w >= 24 * HOUR, "the warning phase lasts days, was {} h", (c - w) / HOUR);
    let temp = sensor_with_role(&e, ep.machine, "spindle_bearing_temperature");
    let late = readings(&e, &ep, temp, ep.critical_at, ep.fault_at, 300);
    assert!(late.iter().any(|(_, v)| *v > 75.0), "bearing temperature rises into its critical band with the vibration");
}

#[test]
fn weld_current_scatters_beyond_15_percent() {
    let e = engine();
    let ep = find(&e, "welding_quality", None);
    let s = sensor_with_role(&e, ep.machine, "weld_current");
    let set = e.sensors[s].setpoint;
    let r = readings(&e, &ep, s, ep.warning_at, ep.fault_at, 30);
    let wide = r.iter().filter(|(_, v)| ((v - set) / set).abs() > 0.15).count();
    assert!(wide * 10 >= r.len(), "weld current beyond +-15 % in only {wide}/{} readings", r.len());
    let before = readings(&e, &ep, s, ep.onset - 4 * HOUR, ep.onset, 30);
    let wide_before = before.iter().filter(|(_, v)| ((v - set) / set).abs() > 0.15).count();
    assert_eq!(wide_before, 0, "healthy welds stay within +-15 %");
}

#[test]
fn slow_pneumatic_leak_loses_about_half_a_bar_per_hour() {
    let e = engine();
    let ep = find(&e, "pneumatic_leak", Some("gradual"));
    let s = sensor_with_role(&e, ep.machine, "pneumatic_pressure");
    let r = readings(&e, &ep, s, ep.onset, ep.critical_at, 120);
    let n = r.len() as f64;
    let (mt, mv) = (r.iter().map(|x| x.0 as f64).sum::<f64>() / n, r.iter().map(|x| x.1).sum::<f64>() / n);
    let slope = r.iter().map(|(t, v)| (*t as f64 - mt) * (v - mv)).sum::<f64>()
        / r.iter().map(|(t, _)| (*t as f64 - mt).powi(2)).sum::<f64>();
    let per_hour = slope * HOUR as f64;
    assert!((-0.8..=-0.3).contains(&per_hour), "pressure falls {per_hour:.3} bar/h, expected about -0.5");
}

#[test]
fn sensor_drift_offsets_the_sensor_and_drops_readings() {
    let e = engine();
    let ep = find(&e, "sensor_drift", None);
    let s = ep.sensor.unwrap();
    assert!(ep.packet_loss >= 0.05, "packet loss above 5 %");
    let m = ep.machine;
    let from = ep.fault_at - DAY;
    let eps = e.episodes().for_machine(m, from - 2 * DAY, ep.fault_at + DAY);
    let tl = e.timeline(m, from - 12 * HOUR, ep.fault_at, eps.clone());
    let day = e.sensor_day(s, from - from.rem_euclid(DAY));
    let mut missing = 0;
    let mut n = 0;
    let mut t = from - from.rem_euclid(DAY);
    while t < from - from.rem_euclid(DAY) + DAY && t < ep.fault_at {
        if t >= from {
            n += 1;
            missing += usize::from(e.reading_missing(s, t, &eps, &day));
        }
        t += 10;
    }
    let _ = tl;
    assert!(n > 0 && missing as f64 >= 0.03 * n as f64, "drifting sensor lost {missing}/{n} readings");
}

/// The day's losses read straight from the tick stream are those reading_missing and
/// reading_out_of_range give one reading at a time, in and around an erratic drift (its
/// packet loss and spikes) and on a sensor with no episode.
#[test]
fn a_days_losses_counted_at_once_are_those_read_one_by_one() {
    let e = engine();
    let src = &e.episodes();
    let ep = (320..420)
        .flat_map(|epoch| (0..e.plant.machines.len()).filter_map(move |m| src.episode(m, epoch)))
        .find(|ep| ep.drift_mode == DriftMode::Erratic)
        .expect("an erratic drift episode");
    let s = ep.sensor.unwrap();
    let other = e.sensors_of(ep.machine).find(|&x| x != s).unwrap();
    let eps = e.episodes().for_machine(ep.machine, ep.onset - 2 * DAY, ep.fault_at + 2 * DAY);
    let (mut lost, mut spikes) = (0, 0);
    for sensor in [s, other] {
        let mut day = ep.onset - ep.onset.rem_euclid(DAY) - DAY;
        while day <= ep.fault_at {
            let sd = e.sensor_day(sensor, day);
            // Odd stretches of the day, as a backlog counts them a share at a time.
            for (a, b) in [(day, day + 4_210), (day + 4_210, day + 50_000), (day + 50_000, day + DAY)] {
                let mut t = a;
                e.losses(sensor, (a, b), &eps, |u, missing, oor| {
                    assert_eq!(u, t, "ticks in order");
                    assert_eq!(missing, e.reading_missing(sensor, u, &eps, &sd), "sensor {sensor} missing at {u}");
                    assert_eq!(
                        oor,
                        e.reading_out_of_range(sensor, u, &eps, &sd),
                        "sensor {sensor} out of range at {u}"
                    );
                    lost += usize::from(missing);
                    spikes += usize::from(oor);
                    t += 10;
                });
                assert_eq!(t, b, "every tick of [{a}, {b})");
            }
            day += DAY;
        }
    }
    assert!(lost > 0 && spikes > 0, "the days hold losses ({lost}) and spikes ({spikes})");
}

#[test]
fn fault_episodes_trip_the_machine_for_their_fault_interval() {
    let e = engine();
    for name in ["bearing_failure", "electrical_fault", "coolant_failure"] {
        let ep = find(&e, name, None);
        assert_eq!(ep.ending, Ending::Fault);
        let eps = e.episodes().for_machine(ep.machine, ep.fault_at - 2 * DAY, ep.repair_end + DAY);
        let tl = e.timeline(ep.machine, ep.fault_at - HOUR, ep.repair_end + HOUR, eps);
        let state = |t: i64| tl.at(t).unwrap().state;
        assert_ne!(state(ep.fault_at - 60), State::Fault, "{name}: not in fault before the trip");
        assert_eq!(state(ep.fault_at), State::Fault, "{name}: fault at the trip");
        assert_eq!(state(ep.fault_end - 60), State::Fault, "{name}: fault until the interval ends");
        assert_eq!(state(ep.fault_end), State::Maintenance, "{name}: corrective maintenance follows");
        assert_ne!(state(ep.repair_end), State::Maintenance, "{name}: back after the repair");
    }
}

#[test]
fn episodes_are_the_same_whatever_window_asks() {
    let e = engine();
    let src = e.episodes();
    let a = ID_EPOCH + 330 * EPOCH;
    for m in [0, 17, 101, 227] {
        let wide = src.for_machine(m, a, a + 4 * EPOCH);
        let narrow = src.for_machine(m, a + EPOCH, a + 2 * EPOCH);
        for ep in &narrow {
            assert!(wide.contains(ep), "an episode seen by a narrow window must be the same in a wide one");
        }
    }
}

#[test]
fn planned_maintenance_pauses_a_degradation_and_the_machine_stands_still() {
    let e = engine();
    let src = e.episodes();
    let mut checked = 0;
    for m in (0..e.plant.machines.len()).step_by(3) {
        for ep in (330..336).filter_map(|k| src.episode(m, k)).filter(|ep| !ep.pauses.is_empty()) {
            let eps = src.for_machine(m, ep.onset - DAY, ep.repair_end + DAY);
            let (a, b) = (ep.pauses[0].0 - HOUR, ep.pauses.last().unwrap().1 + HOUR);
            let tl = e.timeline(m, a - a.rem_euclid(60), b - b.rem_euclid(60), eps);
            for &(s, t) in &ep.pauses {
                assert_eq!(ep.progress(s), ep.progress(t), "machine {m}: the degradation stands still in {s}..{t}");
                assert!(s < ep.fault_at && t <= ep.fault_at, "machine {m}: a pause precedes the trip");
                for u in (s..t).step_by(60) {
                    assert_eq!(
                        tl.at(u).unwrap().state,
                        State::Maintenance,
                        "machine {m}: in planned maintenance at {u} (pause {s}..{t})"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "found only {checked} paused episodes");
}

/// Running readings of `sensor` (machine `m`) every `step` in `[a, b)` with the load of the
/// run each falls in (as a realistic plant of the seed has it, whatever `e`'s difficulty):
/// (load, value).
fn loaded_readings(e: &Engine, m: usize, sensor: usize, a: i64, b: i64, step: i64) -> Vec<(f64, f64)> {
    let load = super::realism::Realism::new(e.seed, &e.plant, &e.catalogue).load;
    let eps = e.episodes().for_machine(m, a - 12 * HOUR - DAY, b + DAY);
    let tl = e.timeline(m, a - 12 * HOUR, b, eps);
    let lags = Lags::full(&tl, e.sensors_of(m).map(|s| e.sensors[s].behaviour));
    let mut day = e.sensor_day(sensor, a - a.rem_euclid(DAY));
    let mut out = Vec::new();
    let mut t = a;
    while t < b {
        if t - t.rem_euclid(DAY) != day.day {
            day = e.sensor_day(sensor, t - t.rem_euclid(DAY));
        }
        let mi = tl.at(t).expect("inside the timeline");
        // Skip the minutes after a stop (start-up surges) to see the steady level.
        let steady = (1..=3).all(|k| tl.at(t - k * 60).is_some_and(|x| x.state == State::Running));
        if mi.state == State::Running && steady {
            out.push((load[tl.runs[mi.run as usize].lpm], e.raw_reading(sensor, t, &tl, &lags, &day).value));
        }
        t += step;
    }
    out
}

/// Least-squares slope of value on load, pooled over machines after removing each machine's mean.
fn load_slope(e: &Engine, role: &str, machines: usize) -> (f64, usize) {
    let a = EPOCH + 400 * 7 * DAY;
    let (mut sxy, mut sxx, mut n) = (0.0, 0.0, 0);
    let with_role =
        (0..e.plant.machines.len()).filter(|&m| e.sensors_of(m).any(|s| e.plant.sensors[s].role.name == role));
    for m in with_role.take(machines) {
        let s = sensor_with_role(e, m, role);
        let r = loaded_readings(e, m, s, a, a + 7 * DAY, 300);
        let (ml, mv) = r.iter().fold((0.0, 0.0), |(l, v), x| (l + x.0, v + x.1));
        let (ml, mv) = (ml / r.len() as f64, mv / r.len() as f64);
        for (l, v) in &r {
            sxy += (l - ml) * (v - mv);
            sxx += (l - ml) * (l - ml);
            n += 1;
        }
    }
    assert!(n > 1000 && sxx > 1.0, "{role}: too little load variation to measure ({n} readings, sxx {sxx:.1})");
    (sxy / sxx, n)
}

fn healthy_engine(difficulty: super::realism::Difficulty) -> Engine {
    engine_with(0.0, difficulty)
}

/// On a realistic plant a healthy machine's cutting vibration follows the product's load
/// (0.9 half-widths, 1.8 mm/s per unit of load); on an easy plant it does not.
#[test]
fn realistic_levels_follow_the_products_load() {
    use super::realism::Difficulty;
    let (slope, n) = load_slope(&healthy_engine(Difficulty::Realistic), "tool_vibration", 12);
    assert!((1.3..2.3).contains(&slope), "realistic: {slope:.2} mm/s per unit of load over {n} readings, want ≈ 1.8");
    let (slope, n) = load_slope(&healthy_engine(Difficulty::Easy), "tool_vibration", 12);
    assert!(slope.abs() < 0.2, "easy: {slope:.2} mm/s per unit of load over {n} readings, want ≈ 0");
}

/// Healthy machines of one kind differ more from each other on a realistic plant: their own
/// offsets, noise and ageing spread their levels beyond the easy plant's.
#[test]
fn realistic_machines_differ_from_each_other() {
    use super::realism::Difficulty;
    let a = EPOCH + 400 * 7 * DAY;
    let spread = |e: &Engine| {
        let stats: Vec<(f64, f64)> = (0..e.plant.machines.len())
            .filter(|&m| e.sensors_of(m).any(|s| e.plant.sensors[s].role.name == "spindle_bearing_vibration"))
            .take(16)
            .map(|m| {
                let s = sensor_with_role(e, m, "spindle_bearing_vibration");
                let r = loaded_readings(e, m, s, a, a + DAY, 60);
                let mean = r.iter().map(|x| x.1).sum::<f64>() / r.len() as f64;
                let sd = (r.iter().map(|x| (x.1 - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
                (mean, sd)
            })
            .collect();
        let sds: Vec<f64> = stats.iter().map(|x| x.1).collect();
        let lo = sds.iter().copied().fold(f64::MAX, f64::min);
        let hi = sds.iter().copied().fold(f64::MIN, f64::max);
        hi / lo
    };
    let (easy, realistic) = (spread(&healthy_engine(Difficulty::Easy)), spread(&healthy_engine(Difficulty::Realistic)));
    assert!(realistic > 1.5 * easy, "noise spread between machines: easy {easy:.2}x, realistic {realistic:.2}x");
}

/// A medium pattern (tool wear) shows a fraction of its signature through the warning phase on
/// a realistic plant; a high one (bearing failure) all of it. Each rise is measured against
/// the same machine at the same instants without the episode (a plant with no faults).
#[test]
fn detectability_scales_the_warning_phase() {
    use super::realism::{Difficulty, MEDIUM_GAIN};
    let (easy, real) = (engine_with(1.0, Difficulty::Easy), engine_with(1.0, Difficulty::Realistic));
    let (easy0, real0) = (healthy_engine(Difficulty::Easy), healthy_engine(Difficulty::Realistic));
    let rise = |e: &Engine, healthy: &Engine, ep: &Episode, role: &str, at: i64| {
        let s = sensor_with_role(e, ep.machine, role);
        let mean = |e: &Engine| {
            let r = readings(e, ep, s, at - 20 * 60, at, 10);
            assert!(r.len() > 30, "{role}: the machine runs before {at}");
            r.iter().map(|x| x.1).sum::<f64>() / r.len() as f64
        };
        mean(e) - mean(healthy)
    };
    for (pattern, role, want) in
        [("tool_wear", "tool_vibration", MEDIUM_GAIN), ("bearing_failure", "spindle_bearing_vibration", 1.0)]
    {
        let ep = find(&easy, pattern, None);
        let at = ep.warning_at + (ep.critical_at - ep.warning_at) * 9 / 10;
        let e = rise(&easy, &easy0, &ep, role, at);
        let r = rise(&real, &real0, &ep, role, at);
        assert!(e > 1.0, "{pattern}: easy raises {role} by {e:.2} late in its warning phase");
        assert!((r / e - want).abs() < 0.1, "{pattern}: realistic shows {r:.2} of easy's {e:.2}, want {want} of it");
    }
}

/// On a realistic plant, healthy machines keep the thresholds of high patterns quiet: the
/// sensors a high pattern's static rule watches (bearing vibration, supply voltage, ...) read
/// beyond their warning limits on hardly any steady running reading, on every machine, for
/// all their individuality, load and ageing — a dashboard keeps working for high patterns.
#[test]
fn healthy_machines_keep_high_pattern_thresholds_quiet() {
    let e = healthy_engine(super::realism::Difficulty::Realistic);
    let a = EPOCH + 400 * 7 * DAY;
    for role in super::realism::threshold_roles(&e.catalogue) {
        let (mut beyond, mut n, mut worst) = (0usize, 0usize, (0.0f64, 0usize));
        let with_role =
            (0..e.plant.machines.len()).filter(|&m| e.sensors_of(m).any(|s| e.plant.sensors[s].role.name == role));
        for m in with_role {
            let s = sensor_with_role(&e, m, role);
            let w = e.plant.sensors[s].role.warning;
            let r = loaded_readings(&e, m, s, a, a + 3 * DAY, 300);
            let b = r.iter().filter(|x| x.1 < w.0 || x.1 > w.1).count();
            let share = b as f64 / r.len().max(1) as f64;
            if share > worst.0 {
                worst = (share, m);
            }
            (beyond, n) = (beyond + b, n + r.len());
        }
        let share = beyond as f64 / n as f64;
        let (pct, worst_pct) = (100.0 * share, 100.0 * worst.0);
        eprintln!("{role}: {beyond} of {n} beyond warning ({pct:.3} %), worst machine {} at {worst_pct:.2} %", worst.1);
        assert!(n > 5_000, "{role}: only {n} healthy readings");
        assert!(share < 0.0005, "{role}: {:.3} % of healthy readings beyond its warning limits", 100.0 * share);
        assert!(
            worst.0 < 0.01,
            "{role}: healthy machine {} reads beyond its warning limits {:.2} % of the time",
            worst.1,
            100.0 * worst.0
        );
    }
}
