//! A sensor's readings within a unit: what the sensor measures at a tick, its status,
//! flags, rolling statistics and anomaly score, and how a gateway delivers it when
//! data-quality defects are on (gaps, stale and clock-skewed stretches, duplicates, late,
//! spiked and invalid readings) with the labels that record each defect.

use super::*;

/// Per-sensor state while a unit runs.
pub(super) struct SensorState {
    pub(super) day: SensorDay,
    /// Present readings of the last minute: (instant, value).
    pub(super) recent: Vec<(i64, f64)>,
    // Hourly accumulators for sensor_health.
    pub(super) present: u32,
    pub(super) missing: u32,
    pub(super) out_of_range: u32,
    pub(super) stuck: bool,
    pub(super) erratic: bool,
    pub(super) std_sum: f64,
    pub(super) last_seen: Option<i64>,
    /// Missing and out-of-range readings per hour of the day over the last 24 hours (for
    /// the 24-hour figures): today's hours up to the current one, the previous day's after it.
    pub(super) day_missing: HourCounts,
    pub(super) day_oor: HourCounts,
    /// The sensor's data-quality defects on the day (`None` when `[quality]` is off).
    pub(super) dq: Option<SensorDefects>,
    /// In a stale stretch: the record the gateway repeats (boxed: rare, and 88 bytes).
    pub(super) frozen: Option<Box<Reading>>,
}

/// One present reading with its rolling statistics and classification.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    pub(super) value: f64,
    pub(super) status: &'static str,
    pub(super) quality: &'static str,
    pub(super) flags: [bool; 4],
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) avg: f64,
    pub(super) std: f64,
    pub(super) score: f64,
}

/// Counts per hour of the day over the last 24 hours: an hour's slot is reset when the hour
/// starts, so it holds the previous day's count until then (at most 360 readings an hour).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct HourCounts([u16; 24]);

impl HourCounts {
    /// Counts one more in the hour of the day holding `t` (`day` its UTC midnight),
    /// starting the hour's slot afresh at its first reading.
    #[inline]
    pub(super) fn count(&mut self, day: i64, t: i64, yes: bool) {
        let h = ((t - day) / HOUR) as usize;
        if t.rem_euclid(HOUR) == 0 {
            self.0[h] = 0;
        }
        self.0[h] += u16::from(yes);
    }

    /// Counts one more in hour slot `h`, if `yes`, without starting it afresh.
    #[inline]
    pub(super) fn add(&mut self, h: usize, yes: bool) {
        self.0[h] += u16::from(yes);
    }

    /// The count over the last 24 hours.
    pub(super) fn total(&self) -> u32 {
        self.0.iter().map(|&n| u32::from(n)).sum()
    }
}

impl SensorState {
    pub(super) fn new(day: SensorDay) -> SensorState {
        SensorState {
            day,
            recent: Vec::with_capacity(STATS_WINDOW),
            present: 0,
            missing: 0,
            out_of_range: 0,
            stuck: false,
            erratic: false,
            std_sum: 0.0,
            last_seen: None,
            day_missing: HourCounts::default(),
            day_oor: HourCounts::default(),
            dq: None,
            frozen: None,
        }
    }
}

impl Reading {
    /// The reading as `sensor`'s `sensor_data` row `id` at `t` on its machine, line and factory.
    pub(super) fn row<'a>(
        &self,
        id: i64,
        sensor: &'a crate::plant::Sensor,
        (machine, line, factory): (&'a str, &'a str, &'a str),
        t: i64,
    ) -> SensorRow<'a> {
        SensorRow {
            id,
            sensor: &sensor.id,
            machine,
            line,
            factory,
            ts: t,
            value: self.value,
            unit: sensor.role.unit,
            status: self.status,
            quality: self.quality,
            flags: self.flags,
            min: self.lo,
            max: self.hi,
            avg: self.avg,
            std: self.std,
            anomaly: (self.score * 10_000.0).round() / 10_000.0,
            is_anomaly: self.score >= 0.7,
            protocol: sensor.protocol,
        }
    }
}

/// Status, quality and the four threshold flags of a value for a role.
pub(super) fn classify(v: f64, r: &crate::plant::roles::Role) -> (&'static str, [bool; 4]) {
    let flags = [v < r.warning.0, v > r.warning.1, v < r.critical.0, v > r.critical.1];
    let status = if flags[2] || flags[3] {
        "critical"
    } else if flags[0] || flags[1] {
        "warning"
    } else {
        "normal"
    };
    (status, flags)
}

/// The anomaly detector: uses only the reading, its recent history, the sensor's bands and
/// the machine's (observable) state. Inside the warning limits scores 0; between warning and
/// critical limits 0.4–0.7; beyond the critical limits 0.7–1; a jump of more than six noise
/// widths from the recent mean, or a flat-lined signal, while the machine runs steadily
/// scores at least 0.75.
pub(super) fn anomaly(v: f64, r: &crate::plant::roles::Role, jump: bool, flat: bool) -> f64 {
    let band = if v > r.critical.1 || v < r.critical.0 {
        let over = if v > r.critical.1 { v - r.critical.1 } else { r.critical.0 - v };
        let span = (r.critical.1 - r.critical.0).max(1e-9);
        0.7 + 0.3 * (over / (0.25 * span)).min(1.0)
    } else if v > r.warning.1 {
        0.4 + 0.3 * (v - r.warning.1) / (r.critical.1 - r.warning.1).max(1e-9)
    } else if v < r.warning.0 {
        0.4 + 0.3 * (r.warning.0 - v) / (r.warning.0 - r.critical.0).max(1e-9)
    } else {
        0.0
    };
    let jump = if jump { 0.75 } else { 0.0 };
    let flat = if flat { 0.75 } else { 0.0 };
    band.max(jump).max(flat).min(1.0)
}

/// The id of sensor `s`'s reading at `t` (of `n_sensors` in the plant).
pub(super) fn reading_id(t: i64, s: usize, n_sensors: i64) -> i64 {
    (t - ID_EPOCH) / SENSOR_STEP * n_sensors + s as i64 + 1
}

/// Delivers reading `row` of sensor `s` (taken at `row.ts`) through its machine's gateway,
/// with the data-quality defects of the gateway (`md`) and of the sensor (`st.dq`), and
/// labels each single-reading defect. A reading in a gateway gap is lost (the gap's label
/// counts it); one in a stale stretch is the gateway's cached record. A late reading, and a
/// duplicate, go to `held` with their release instant: they follow that tick's readings.
pub(super) fn deliver<'e, E: Emit>(
    engine: &'e Engine,
    s: usize,
    st: &SensorState,
    mut row: SensorRow<'e>,
    md: &MachineDefects,
    held: &mut Vec<(i64, SensorRow<'e>)>,
    out: &mut Step<'_, E>,
) {
    let t = row.ts;
    if md.silent(t) {
        return;
    }
    let Some(dq) = st.dq.as_ref() else { return out.push(&row) };
    let frozen = st.frozen.as_deref().copied().filter(|_| dq.stale_at(t).is_some());
    if let Some(f) = frozen {
        row = f.row(row.id, &engine.plant.sensors[s], (row.machine, row.line, row.factory), t);
    }
    let points = dq.points_at(t);
    let point = |kind: Defect| points.iter().find(|p| p.kind == kind);
    let label = |kind: Defect, record_id: i64, detail: &str, out: &mut Step<'_, E>| {
        let l = QualityLabelRow {
            id: kind.label_id(reading_id(t, s, engine.plant.sensors.len() as i64)),
            defect: kind.name(),
            machine: row.machine,
            line: row.line,
            factory: row.factory,
            sensor: Some(row.sensor),
            start: t,
            end: t + SENSOR_STEP,
            records: 1,
            record_id: Some(record_id),
            detail,
        };
        out.push_at(&l, t);
    };
    let role = engine.plant.sensors[s].role;
    if frozen.is_none() {
        let altered = if point(Defect::Invalid).is_some() {
            Some((
                INVALID_VALUE,
                Defect::Invalid,
                format!("the gateway's error value {INVALID_VALUE} instead of {}", row.value),
            ))
        } else {
            point(Defect::Spike).map(|p| {
                let v = crate::sim::signal::round4(row.value + p.x * engine.sensors[s].half_width);
                (v, Defect::Spike, format!("spike of {:+.1} half-widths: {} instead of {}", p.x, v, row.value))
            })
        };
        if let Some((v, kind, detail)) = altered {
            row.value = v;
            (row.status, row.flags) = classify(v, role);
            if v < role.range.0 || v > role.range.1 {
                (row.status, row.quality) = ("fault", "out_of_range");
            }
            label(kind, row.id, &detail, out);
        }
    }
    row.ts = t + md.skew(t);
    match point(Defect::Late) {
        Some(p) => {
            held.push((t + p.x as i64, row));
            label(Defect::Late, row.id, &format!("published {} s after its event time", p.x), out);
        }
        None => out.push_at(&row, t),
    }
    if let Some(p) = point(Defect::Duplicate) {
        let copy = SensorRow { id: row.id + DUPLICATE_ID_OFFSET, ..row };
        match p.x as i64 {
            0 => out.push_at(&copy, t),
            delay => held.push((t + delay, copy)),
        }
        label(Defect::Duplicate, copy.id, &format!("a copy of reading {}, stored {} s later", row.id, p.x), out);
    }
}

impl Engine {
    /// Labels the gateway gaps and clock skews of machine `m`, and the stale stretches of
    /// its sensors, that start at `t` — or, at the `first` instant of a unit's span, that are
    /// under way then (as fault labels, one per stretch touching the window). A stale stretch
    /// takes the record it repeats when it starts.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stretch_labels<E: Emit>(
        &self,
        m: usize,
        t: i64,
        first: bool,
        md: &MachineDefects,
        states: &mut [SensorState],
        (tl, lags): (&Timeline, &Lags),
        (machine, line, factory): (&str, &str, &str),
        out: &mut Step<'_, E>,
    ) {
        let n = self.plant.sensors.len() as i64;
        let sensors = self.sensors_of(m);
        // Readings of sensor `s` taken in `w` (those lost in a gap left out when `skip_gaps`).
        let delivered = |sd: &SensorDay, s: usize, w: &crate::sim::quality::Window, skip_gaps: bool| -> i32 {
            (w.from..w.to)
                .step_by(SENSOR_STEP as usize)
                .filter(|&u| !((skip_gaps && md.silent(u)) || self.reading_missing(s, u, &tl.episodes, sd)))
                .count() as i32
        };
        let starts = |w: &crate::sim::quality::Window| w.from == t || (first && w.holds(t));
        let stretch =
            |kind: Defect, sensor: Option<usize>, w: &crate::sim::quality::Window, records: i32| QualityLabelRow {
                id: kind.label_id(reading_id(w.from, sensor.unwrap_or(sensors.start), n)),
                defect: kind.name(),
                machine,
                line,
                factory,
                sensor: sensor.map(|s| self.plant.sensors[s].id.as_str()),
                start: w.from,
                end: w.to,
                records,
                record_id: None,
                detail: "",
            };
        for w in md.gaps.iter().filter(|w| starts(w)) {
            let lost: i32 = sensors.clone().enumerate().map(|(k, s)| delivered(&states[k].day, s, w, false)).sum();
            let detail = format!("the gateway sent nothing for {} min", (w.to - w.from) / SCADA_STEP);
            out.push_at(&QualityLabelRow { detail: &detail, ..stretch(Defect::Gap, None, w, lost) }, t);
        }
        for w in md.skews.iter().filter(|w| starts(w)) {
            let shifted: i32 = sensors.clone().enumerate().map(|(k, s)| delivered(&states[k].day, s, w, true)).sum();
            let detail = format!("the gateway clock ran {:+} s off", w.skew);
            out.push_at(&QualityLabelRow { detail: &detail, ..stretch(Defect::ClockSkew, None, w, shifted) }, t);
        }
        for (k, s) in sensors.clone().enumerate() {
            let Some(w) = states[k].dq.as_ref().and_then(|d| d.stale.iter().find(|w| starts(w))).copied() else {
                continue;
            };
            // Set up when the span starts inside the stretch (`DayRun::new`).
            let frozen =
                if w.from == t { self.record_before(s, t, tl, lags).map(Box::new) } else { states[k].frozen.take() };
            if let Some(f) = frozen.as_deref() {
                let detail = format!("the gateway repeated its cached record (value {})", f.value);
                let records = delivered(&states[k].day, s, &w, true);
                out.push_at(&QualityLabelRow { detail: &detail, ..stretch(Defect::Stale, Some(s), &w, records) }, t);
            }
            states[k].frozen = frozen;
        }
    }

    /// Sensor `s`'s last reading before `t` (looking back a minute), with the rolling
    /// statistics and classification it was delivered with.
    pub(super) fn record_before(&self, s: usize, t: i64, tl: &Timeline, lags: &Lags) -> Option<Reading> {
        let day = t - t.rem_euclid(DAY);
        let mut scratch = SensorState::new(self.sensor_day(s, day));
        (1..=2 * STATS_WINDOW as i64 - 1)
            .rev()
            .map(|k| t - k * SENSOR_STEP)
            .filter_map(|u| self.read_sensor(s, u, tl, lags, &mut scratch).map(|r| (u, r)))
            .last()
            .filter(|(u, _)| *u >= t - STATS_WINDOW as i64 * SENSOR_STEP)
            .map(|(_, r)| r)
    }

    /// Reads sensor `s` at `t`: updates its rolling window and hourly accumulators, and
    /// returns the reading, or `None` when the reading is lost.
    pub(super) fn read_sensor(
        &self,
        s: usize,
        t: i64,
        tl: &Timeline,
        lags: &Lags,
        st: &mut SensorState,
    ) -> Option<Reading> {
        let role = self.plant.sensors[s].role;
        let raw = self.raw_reading(s, t, tl, lags, &st.day);
        if raw.missing {
            st.missing += 1;
            return None;
        }
        let v = raw.value;
        st.recent.retain(|&(ts, _)| ts > t - STATS_WINDOW as i64 * SENSOR_STEP);
        let prev_mean =
            (!st.recent.is_empty()).then(|| st.recent.iter().map(|r| r.1).sum::<f64>() / st.recent.len() as f64);
        st.recent.push((t, v));
        let n = st.recent.len() as f64;
        let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for &(_, x) in &st.recent {
            lo = lo.min(x);
            hi = hi.max(x);
            sum += x;
        }
        let avg = sum / n;
        let var = st.recent.iter().map(|&(_, x)| (x - avg) * (x - avg)).sum::<f64>() / n;
        let std = var.sqrt();
        // Stuck and erratic signals only mean something while the machine runs steadily:
        // starts and stops move signals fast, and a de-energised sensor reads flat.
        let steady =
            (0..=STEADY_MINUTES).all(|k| tl.at(t - k * SCADA_STEP).is_some_and(|mi| mi.state == State::Running));
        let noise = self.sensors[s].white_amp * 2.0 + self.sensors[s].smooth_amp;
        // A flat line is suspicious only where the signal's noise is well above the 4-decimal
        // resolution of measurement_value; below it, rounding alone can repeat a value.
        let flat = steady && st.recent.len() == STATS_WINDOW && hi == lo && noise >= FLAT_MIN_NOISE;
        let jump = steady && prev_mean.is_some_and(|m| (v - m).abs() > 6.0 * noise.max(1e-9));
        let (mut status, flags) = classify(v, role);
        let quality = if raw.out_of_range {
            status = "fault";
            "out_of_range"
        } else if flat {
            "uncertain"
        } else {
            "good"
        };
        let score = anomaly(v, role, jump, flat);
        st.present += 1;
        st.std_sum += std / self.sensors[s].half_width.max(1e-9);
        st.last_seen = Some(t);
        st.stuck |= flat;
        st.erratic |= jump;
        if raw.out_of_range {
            st.out_of_range += 1;
        }
        Some(Reading { value: v, status, quality, flags, lo, hi, avg, std, score })
    }

    /// The last reading sensor `s` delivered before `t`, looking back at most a day.
    pub(super) fn last_contact_before(
        &self,
        s: usize,
        t: i64,
        tl: &Timeline,
        sd: &crate::sim::signal::SensorDay,
    ) -> Option<i64> {
        (1..=DAY / SENSOR_STEP).map(|k| t - k * SENSOR_STEP).find(|&u| !self.reading_missing(s, u, &tl.episodes, sd))
    }
}

impl DayRun<'_> {
    /// Every sensor's reading at tick `t` (delivered as the gateway would when defects are
    /// on), then the readings held back until now; on a whole minute, what the SCADA row
    /// reports of them goes into `minute`.
    pub(super) fn readings<E: Emit>(
        &mut self,
        t: i64,
        on_minute: bool,
        minute: &mut MinuteReadings,
        out: &mut Step<'_, E>,
    ) {
        let engine = self.engine;
        let (spec, tl, lags) = (self.spec, &self.tl, &self.lags);
        let m = spec.machine;
        let plant = &engine.plant;
        let place = engine.place(&plant.machines[m]);
        let n_sensors = plant.sensors.len() as i64;
        for (k, s) in engine.sensors_of(m).enumerate() {
            let st = &mut self.states[k];
            let sensor = &plant.sensors[s];
            // The 24-hour out-of-range figure counts the sensor's out-of-range spikes, sent or lost.
            st.day_oor.count(spec.day, t, engine.reading_out_of_range(s, t, &tl.episodes, &st.day));
            let read = engine.read_sensor(s, t, tl, lags, st);
            st.day_missing.count(spec.day, t, read.is_none());
            let Some(r) = read else { continue };
            let Reading { value: v, status, flags, .. } = r;
            let row = r.row(reading_id(t, s, n_sensors), sensor, place, t);
            match self.dq.as_ref() {
                Some(md) => deliver(engine, s, st, row, md, &mut self.held, out),
                None => out.push(&row),
            }
            if on_minute {
                minute.add(engine, m, s, sensor.role.code, (v, status, flags));
            }
        }
        // Readings held back until now follow the tick's own.
        if !self.held.is_empty() {
            for (at, row) in self.held.iter().filter(|h| h.0 <= t) {
                out.push_at(row, *at);
            }
            self.held.retain(|h| h.0 > t);
        }
    }
}
