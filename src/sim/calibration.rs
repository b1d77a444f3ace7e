//! The plant's sensor calibration programme.
//!
//! Every sensor is recalibrated every `calibration_frequency_days` after the master data's
//! `calibration_date` (calibration 0): on the day it falls due, or — one time in four — up to
//! three weeks late, during its factory's morning (08:00–14:00 local). It is a pure function
//! of (seed, sensor, k), so any instant's last calibration is found without looking back:
//! sensor_health counts its days since calibration from it (due while late), a sensor_drift
//! episode ends at the first calibration after its onset (the technician finds the drift),
//! and `maintenance_events` holds a work order for each.

use rand::Rng as _;

use super::Engine;
use crate::clock::{DAY, HOUR};
use crate::rng;

/// Latest a scheduled calibration is done, in days after it falls due.
pub const MAX_LATE_DAYS: i64 = 21;

/// Share of calibrations done more than two days late.
const LATE_SHARE: f64 = 0.25;

/// One calibration of one sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    /// Its index in the sensor's programme: 0 is the master data's `calibration_date`.
    pub k: i64,
    /// The day it fell due (days since 1970-01-01).
    pub due_day: i64,
    /// When it fell due (08:00 local on that day).
    pub due: i64,
    /// When the work began (calibration 0: midnight UTC of `calibration_date`).
    pub done: i64,
    /// How long the work took, in seconds (0 for calibration 0).
    pub labour: i64,
}

impl Calibration {
    /// Whole days it was done after falling due.
    pub fn late_days(&self) -> i64 {
        (self.done - self.due).div_euclid(DAY)
    }
}

impl Engine {
    /// The master data's calibration day of sensor `s` and its interval, in days.
    fn programme(&self, s: usize) -> (i64, i64) {
        let c = &self.plant.sensors[s].calibration_date;
        let day = crate::clock::day_number(*c);
        (day, self.plant.sensors[s].calibration_frequency_days.max(1))
    }

    /// Calibration `k` of sensor `s`.
    pub fn calibration(&self, s: usize, k: i64) -> Calibration {
        let (first, every) = self.programme(s);
        if k == 0 {
            return Calibration { k, due_day: first, due: first * DAY, done: first * DAY, labour: 0 };
        }
        let zone = &self.zones[self.plant.sensors[s].factory];
        let day = first + k * every;
        let mut r = rng::stream(self.seed, &[rng::label("calibration programme"), s as u64, k as u64]);
        let late = if r.random_bool(LATE_SHARE) { r.random_range(3..=MAX_LATE_DAYS) } else { r.random_range(0..=2) };
        // Never so late that the next one would come first (intervals are 90 days or more).
        let late = late.min(every - 3).max(0);
        let minute = r.random_range(0..6 * 60);
        Calibration {
            k,
            due_day: day,
            due: zone.utc_of(day, 8 * HOUR),
            done: zone.utc_of(day + late, 8 * HOUR + minute * 60),
            labour: r.random_range(3..=9) * 5 * 60,
        }
    }

    /// The last calibration of sensor `s` begun at or before `t`.
    pub fn last_calibration(&self, s: usize, t: i64) -> Calibration {
        let (first, every) = self.programme(s);
        // Calibration k begins within a day before day first + k·every and at most
        // MAX_LATE_DAYS + 2 days after it, and an interval is longer than that: the last one
        // begun is the k-th of t's interval, the one after, or one of the two before.
        let k0 = (t.div_euclid(DAY) - first).div_euclid(every);
        (k0 - 2..=k0 + 1)
            .rev()
            .filter(|&k| Self::may_begin(first + k * every, i64::MIN, t + 1))
            .map(|k| self.calibration(s, k))
            .find(|c| c.done <= t)
            .expect("an interval is longer than a calibration is late")
    }

    /// The calibrations of sensor `s` begun in `[a, b)`, in time order.
    pub fn calibrations(&self, s: usize, a: i64, b: i64) -> Vec<Calibration> {
        let (first, every) = self.programme(s);
        // Calibration k begins between a day before day first + k·every and
        // MAX_LATE_DAYS + 2 days after it: only those k can fall in [a, b), and a short
        // window (a stream's step) draws none most of the time.
        let lo = (a.div_euclid(DAY) - MAX_LATE_DAYS - 3 - first).div_euclid(every);
        let hi = (b.div_euclid(DAY) + 1 - first).div_euclid(every);
        (lo..=hi)
            .filter(|&k| Self::may_begin(first + k * every, a, b))
            .map(|k| self.calibration(s, k))
            .filter(|c| c.done >= a && c.done < b)
            .collect()
    }

    /// Whether a calibration falling due on `day` may begin in `[a, b)`: it begins between a
    /// day before that day and MAX_LATE_DAYS + 2 days after it. Saves drawing it when it
    /// cannot.
    fn may_begin(day: i64, a: i64, b: i64) -> bool {
        (day - 1) * DAY < b && a < (day + MAX_LATE_DAYS + 3) * DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ID_EPOCH;

    fn engine() -> Engine {
        crate::sim::seed_7_engine()
    }

    /// The last calibration before an instant, and those begun in a window, agree with a
    /// walk over the whole programme; calibration 0 is the master data's date.
    #[test]
    fn the_last_calibration_is_the_programme_walked_from_the_start() {
        let e = engine();
        for s in (0..e.plant.sensors.len()).step_by(97) {
            let every = e.plant.sensors[s].calibration_frequency_days;
            let all: Vec<Calibration> = (-8..60).map(|k| e.calibration(s, k)).collect();
            assert!(all.windows(2).all(|w| w[0].done + w[0].labour < w[1].done), "sensor {s}: calibrations in order");
            let c = &e.plant.sensors[s].calibration_date;
            let day = crate::clock::day_number(*c);
            assert_eq!(e.calibration(s, 0).done, day * DAY, "sensor {s}: calibration 0 is the master data's");
            for c in &all[1..all.len() - 1] {
                assert_eq!(e.calibrations(s, c.done, c.done + 60), [*c], "sensor {s}: the minute it begins");
                assert!(e.calibrations(s, c.done - 60, c.done).is_empty(), "sensor {s}: the minute before");
            }
            let from = all[1].done;
            for t in (0..800).map(|i| from + i * 3 * DAY + i * 3_607) {
                let walked = all.iter().rev().find(|c| c.done <= t).unwrap();
                assert_eq!(&e.last_calibration(s, t), walked, "sensor {s} at {t}");
                let days = t.div_euclid(DAY) - walked.done.div_euclid(DAY);
                assert!(days <= every + MAX_LATE_DAYS, "sensor {s}: {days} days since calibration, every {every}");
                let (a, b) = (t, t + 40 * DAY);
                let within: Vec<Calibration> = all.iter().filter(|c| c.done >= a && c.done < b).copied().collect();
                assert_eq!(e.calibrations(s, a, b), within, "sensor {s} in [{a}, {b})");
            }
        }
    }

    /// Most calibrations are done on time: a sensor is overdue on a few days of its interval.
    #[test]
    fn a_few_sensors_are_overdue_at_any_time() {
        let e = engine();
        let t0 = ID_EPOCH + 2300 * DAY; // 2026-04-19
        let (mut due, mut n) = (0, 0);
        for s in 0..e.plant.sensors.len() {
            for d in (0..365).step_by(5) {
                let t = t0 + d * DAY;
                let days = t.div_euclid(DAY) - e.last_calibration(s, t).done.div_euclid(DAY);
                due += usize::from(days >= e.plant.sensors[s].calibration_frequency_days);
                n += 1;
            }
        }
        let share = due as f64 / n as f64;
        assert!((0.005..0.05).contains(&share), "overdue share {share:.4} of sensor-days");
    }

    /// A drift ends when the programme's next calibration after its onset ends: none begins
    /// inside a drift but the one that ended it.
    #[test]
    fn a_calibration_ends_a_drift() {
        let e = engine();
        let src = e.episodes();
        let (mut drifts, mut ended) = (0, 0);
        for m in 0..e.plant.machines.len() {
            for epoch in 320..340 {
                let Some(ep) = src.episode(m, epoch) else { continue };
                let Some(s) = ep.sensor else { continue };
                drifts += 1;
                let inside = e.calibrations(s, ep.onset, ep.fault_at);
                if let Some(c) = inside.first() {
                    assert_eq!(inside.len(), 1, "machine {m} epoch {epoch}: one calibration inside the drift");
                    assert_eq!(c.done + c.labour, ep.fault_at, "machine {m} epoch {epoch}: the drift ends with it");
                    assert!(ep.warning_at <= ep.fault_at && ep.critical_at <= ep.fault_at);
                    if ended == 0 {
                        the_order_is_the_calibrations(&e, &ep, c);
                    }
                    ended += 1;
                }
            }
        }
        assert!(ended >= 3 && ended < drifts / 2, "{ended} of {drifts} drifts ended by a calibration");
    }

    /// The day of a drift found at calibration `c` holds one work order for it: the drift's
    /// corrective order, over the calibration's time, and no scheduled order beside it.
    fn the_order_is_the_calibrations(e: &Engine, ep: &crate::sim::episodes::Episode, c: &Calibration) {
        use crate::encode::{Encoded, Format};
        use crate::rows::Table;
        use crate::sim::unit::UnitSpec;
        let day = c.done - c.done.rem_euclid(DAY);
        let mut out = Encoded::new(Format::Csv);
        e.generate_unit(
            UnitSpec::new(ep.machine, day, (day, day + DAY)),
            e.initial_counters(ep.machine, day),
            &mut out,
        );
        let csv = String::from_utf8_lossy(&out.bufs[Table::MaintenanceEvents.index()]).into_owned();
        let sensor = &e.plant.sensors[ep.sensor.unwrap()].id;
        let ts = |t: i64| crate::clock::instant_string(t).replace('T', " ").replace('Z', "");
        let orders: Vec<&str> = csv.lines().filter(|l| l.contains(&format!("Sensor {sensor} ("))).collect();
        assert_eq!(orders.len(), 1, "one order for {sensor} on the day:\n{csv}");
        let want = format!("{},{},{}", ts(c.due), ts(c.done), ts(ep.fault_at));
        assert!(orders[0].contains(",corrective,") && orders[0].contains(&want), "{want} in {}", orders[0]);
    }
}
