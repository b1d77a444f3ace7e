//! Sensor health within a unit: one `sensor_health` row per sensor and hour, summarising
//! the hour's readings (and those lost), calibration, battery and communication.

use super::*;

impl Engine {
    pub(super) fn health_rows<E: Emit>(
        &self,
        spec: UnitSpec,
        hour: i64,
        tl: &Timeline,
        states: &mut [SensorState],
        out: &mut Step<'_, E>,
    ) {
        let plant = &self.plant;
        for (k, s) in self.sensors_of(spec.machine).enumerate() {
            let st = &states[k];
            let sensor = &plant.sensors[s];
            let p = &self.sensors[s];
            let ticks = (HOUR / SENSOR_STEP) as f64;
            let loss = st.missing as f64 / ticks * 100.0;
            let (failures, oor) = (st.day_missing.total(), st.day_oor.total());
            // Calibrated during the hour: the hour counts it.
            let calibrated = self.last_calibration(s, hour + HOUR - 1);
            let days_since = (hour.div_euclid(DAY) - calibrated.done.div_euclid(DAY)) as i32;
            let drift = tl
                .episodes
                .iter()
                .find(|e| e.sensor == Some(s) && hour + HOUR > e.onset && hour < e.fault_at)
                .map_or(0.0, |e| e.drift_pct_per_day * ((hour + HOUR - e.onset) as f64 / DAY as f64).max(0.0));
            let drift_pct = drift + 0.0005 * f64::from(days_since.max(0));
            let noise = if st.present > 0 { st.std_sum / f64::from(st.present) } else { 0.0 };
            let battery = p.battery_phase.map(|ph| {
                let year = 365.0 * DAY as f64;
                let frac = ((hour as f64 / year) + ph).fract();
                round2(100.0 - 100.0 * frac)
            });
            let due = i64::from(days_since) >= sensor.calibration_frequency_days;
            let mut score = 100.0;
            score -= (loss * 1.5).min(30.0);
            score -= (drift_pct.abs() * 4.0).min(30.0);
            if st.stuck {
                score -= 30.0;
            }
            if st.erratic {
                score -= 25.0;
            }
            if due {
                score -= 10.0;
            }
            if battery.is_some_and(|b| b < 20.0) {
                score -= 5.0;
            }
            let score: f64 = round2(score.max(0.0));
            let status = if st.present == 0 {
                "failed"
            } else if score >= 85.0 {
                "healthy"
            } else if score >= 70.0 {
                "degraded"
            } else if score >= 40.0 {
                "critical"
            } else {
                "failed"
            };
            let row = HealthRow {
                id: (hour - ID_EPOCH) / HOUR * plant.sensors.len() as i64 + s as i64 + 1,
                sensor: &sensor.id,
                machine: &plant.machines[spec.machine].id,
                ts: hour,
                score,
                drift_pct: (drift_pct * 10_000.0).round() / 10_000.0,
                noise: (noise * 10_000.0).round() / 10_000.0,
                days_since_calibration: days_since,
                calibration_due: due,
                drift_detected: drift_pct.abs() > 2.0,
                packet_loss_pct: round2(loss),
                latency_ms: round2(p.latency_ms * (1.0 + loss / 20.0)),
                last_communication: st.last_seen.or_else(|| self.last_contact_before(s, hour, tl, &st.day)),
                failures_24h: failures as i32,
                battery,
                stuck: st.stuck,
                erratic: st.erratic,
                out_of_range_24h: oor as i32,
                status,
            };
            out.push_at(&row, hour + HOUR - SENSOR_STEP);
        }
    }
}

impl DayRun<'_> {
    /// The hour from `hour` is over: its health rows (when the unit reports that hour), and
    /// every sensor's hourly tallies start again.
    pub(super) fn close_health_hour<E: Emit>(&mut self, hour: i64, out: &mut Step<'_, E>) {
        if self.spec.health_hour(hour) {
            self.engine.health_rows(self.spec, hour, &self.tl, &mut self.states, out);
        }
        for st in self.states.iter_mut() {
            st.present = 0;
            st.missing = 0;
            st.out_of_range = 0;
            st.stuck = false;
            st.erratic = false;
            st.std_sum = 0.0;
            st.last_seen = None;
        }
    }
}
