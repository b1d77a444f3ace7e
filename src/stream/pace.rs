//! Pacing: when a tick of simulated time may be released.
//!
//! At `--speed 1` simulated time is wall-clock time: a tick is released when the clock
//! reaches it (readings at :00, :10, :20 …), and ticks already in the past (catching up
//! after a stop) go at once. At `--speed N` simulated time runs N times faster from the
//! start; at `--speed max` nothing waits.

use std::time::Duration;

pub struct Pace {
    speed: Option<f64>,
    sim0: i64,
    wall0: f64,
}

impl Pace {
    /// Pacing from simulated instant `sim0` at wall-clock `wall0` (Unix seconds).
    pub fn new(speed: Option<f64>, sim0: i64, wall0: f64) -> Pace {
        Pace { speed, sim0, wall0 }
    }

    /// The wall-clock instant (Unix seconds) at which simulated `t` is due.
    pub fn due(&self, t: i64) -> f64 {
        match self.speed {
            None => f64::NEG_INFINITY,
            Some(1.0) => t as f64,
            Some(s) => self.wall0 + (t - self.sim0) as f64 / s,
        }
    }

    /// How long to wait before releasing `t`, or `None` when it is due.
    pub fn wait_for(&self, t: i64) -> Option<Duration> {
        self.wait_at(t, super::now_secs())
    }

    /// The wall-clock time `secs` simulated seconds take; `None` at max speed.
    pub fn period(&self, secs: i64) -> Option<Duration> {
        self.speed.map(|s| Duration::from_secs_f64(secs as f64 / s))
    }

    /// How far (wall-clock seconds) delivery through `t` trails the pace; `None` at max speed.
    pub fn lag(&self, t: i64, now: f64) -> Option<f64> {
        self.speed.map(|_| (now - self.due(t)).max(0.0))
    }

    fn wait_at(&self, t: i64, now: f64) -> Option<Duration> {
        let due = self.due(t);
        (now < due).then(|| Duration::from_secs_f64(due - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_follows_the_wall_clock_grid() {
        let p = Pace::new(Some(1.0), 1_000, 5_000.0);
        assert_eq!(
            p.wait_at(1_010, 1_005.5),
            Some(Duration::from_secs_f64(4.5)),
            "a future tick waits for its instant"
        );
        assert_eq!(p.wait_at(990, 1_005.5), None, "a tick in the past goes at once (catching up)");
    }

    #[test]
    fn faster_speeds_scale_from_the_start_and_max_never_waits() {
        let p = Pace::new(Some(60.0), 1_000, 5_000.0);
        assert_eq!(p.wait_at(1_600, 5_000.0), Some(Duration::from_secs(10)), "ten minutes at 60x take ten seconds");
        assert_eq!(p.wait_at(1_600, 5_010.0), None);
        assert_eq!(Pace::new(None, 1_000, 5_000.0).wait_at(9_999_999, 0.0), None);
        assert_eq!(p.period(600), Some(Duration::from_secs(10)), "ten minutes at 60x take ten seconds");
        assert_eq!(Pace::new(Some(1.0), 0, 0.0).period(10), Some(Duration::from_secs(10)), "a tick of real time");
        assert_eq!(Pace::new(None, 1_000, 5_000.0).period(10), None, "max speed paces nothing");
    }
}
