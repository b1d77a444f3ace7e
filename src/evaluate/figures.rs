//! What the HTML report draws beside the scores (`genims evaluate --html`): for each labelled
//! episode, the traces of the sensors it affects from a day before its onset to its end, its
//! phases, and the evaluation times each detector flagged the machine for its pattern; for
//! each of the dashboard's false alarms, the traces of the machine's sensors that were out of
//! band around it. Every trace is read by one SQL statement, kept with the figure so that a
//! reader can run it again.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use tokio_postgres::Client;

use super::{baseline, Fired, HealthyFlag, Label, Report};
use crate::clock::{instant_string, parse_instant, DAY, HOUR, SCADA_STEP};
use crate::db;
use crate::faults::Catalogue;
use crate::plant::roles;

/// Sensors drawn per figure at most.
const SENSORS_DRAWN: usize = 3;

/// Points per trace at most: the window is read in buckets of equal length (min, mean, max).
const POINTS: i64 = 240;

/// False alarms drawn at most (the table lists them all).
pub const ALARMS_DRAWN: usize = 40;

/// A sensor's limits and name, from `sensors`.
#[derive(Debug, Clone, Default)]
pub struct SensorInfo {
    pub name: String,
    pub unit: String,
    pub warning: (Option<f64>, Option<f64>),
    pub critical: (Option<f64>, Option<f64>),
}

/// One sensor's readings over a figure's window: (bucket start, min, mean, max).
#[derive(Debug, Clone)]
pub struct Trace {
    pub sensor_id: String,
    pub info: SensorInfo,
    pub points: Vec<(i64, f64, f64, f64)>,
}

/// The detectors a figure shows the flags of, in the order drawn.
pub const DETECTORS: [&str; 3] = ["reference", "static threshold", "random"];

/// One labelled episode's figure.
#[derive(Debug, Clone)]
pub struct EpisodeFigure {
    pub episode_id: i64,
    pub machine: String,
    pub pattern: String,
    pub onset: i64,
    pub warning: i64,
    pub critical: i64,
    pub fault: i64,
    pub fault_end: Option<i64>,
    pub end: i64,
    pub reaches_fault: bool,
    /// Whether an evaluation time fell in its positive stretch (it counts in the scores).
    pub scored: bool,
    pub from: i64,
    pub to: i64,
    pub traces: Vec<Trace>,
    /// Per detector (as [`DETECTORS`]), the evaluation times in the window it flagged the
    /// machine for the pattern.
    pub flags: [Vec<i64>; 3],
    pub sql: String,
}

impl EpisodeFigure {
    /// The first evaluation time from onset to end at which detector `k` flagged the
    /// machine (what catches the episode), and its lead before the fault in hours.
    pub fn caught(&self, k: usize) -> Option<(i64, Option<f64>)> {
        let first = self.flags[k].iter().copied().find(|&t| t >= self.onset && t < self.end)?;
        let lead = (self.reaches_fault && first <= self.fault).then(|| (self.fault - first) as f64 / HOUR as f64);
        Some((first, lead))
    }
}

/// One false alarm's figure.
#[derive(Debug, Clone)]
pub struct AlarmFigure {
    pub flag: HealthyFlag,
    pub at: i64,
    pub from: i64,
    pub to: i64,
    pub traces: Vec<Trace>,
    pub sql: String,
}

/// Everything the report draws from the database; empty for a pooled report.
#[derive(Debug, Default)]
pub struct Figures {
    pub episodes: Vec<EpisodeFigure>,
    pub alarms: Vec<AlarmFigure>,
}

/// What the evaluation saw, for the figures: the evaluation times and the machines each
/// detector flagged at each.
pub struct Flags<'a> {
    pub times: &'a [i64],
    pub reference: &'a Fired,
    pub static_threshold: &'a Fired,
}

/// Reads the figures of every labelled episode and the first [`ALARMS_DRAWN`] false alarms.
/// `data` is the span of the database's readings: a figure's window is cut to it.
pub async fn read(
    client: &Client,
    catalogue: &Catalogue,
    report: &Report,
    labels: &[Label],
    flags: &Flags<'_>,
    data: (i64, i64),
) -> Result<Figures> {
    let sensors = sensors(client).await?;
    let mut figures = Figures::default();
    for mut ep in labels.iter().map(episode) {
        ep.figure.from = ep.figure.from.max(data.0);
        ep.figure.to = ep.figure.to.min(data.1 + SCADA_STEP).max(ep.figure.from + SCADA_STEP);
        let rate = report.patterns.iter().find(|p| p.pattern == ep.figure.pattern).map_or(0.0, |p| p.random_rate);
        ep.figure.flags = episode_flags(&ep.figure, flags, rate);
        ep.figure.scored = flags.times.iter().any(|&t| t > ep.figure.warning && t < ep.figure.end);
        let ids = drawn_sensors(catalogue, &ep.figure.pattern, &ep.affected, &sensors);
        (ep.figure.traces, ep.figure.sql) =
            traces(client, &sensors, &ep.figure.machine, &ids, ep.figure.from, ep.figure.to).await?;
        figures.episodes.push(ep.figure);
    }
    for flag in report.healthy_flagged.iter().take(ALARMS_DRAWN) {
        figures.alarms.push(alarm(client, &sensors, flag, data).await?);
    }
    Ok(figures)
}

/// A label as read, with the sensors it affects.
struct Labelled {
    figure: EpisodeFigure,
    affected: Vec<String>,
}

/// A label's figure, before its flags and traces are read.
fn episode(l: &Label) -> Labelled {
    Labelled {
        figure: EpisodeFigure {
            episode_id: l.episode_id,
            machine: l.machine.clone(),
            pattern: l.pattern.clone(),
            onset: l.onset,
            warning: l.warning,
            critical: l.critical,
            fault: l.fault,
            fault_end: l.fault_end,
            end: l.end,
            reaches_fault: l.reaches_fault,
            scored: false,
            from: l.onset - DAY,
            to: l.end + HOUR,
            traces: Vec::new(),
            flags: Default::default(),
            sql: String::new(),
        },
        affected: l.affected.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
    }
}

/// The evaluation times in the figure's window at which each detector flagged its machine.
fn episode_flags(f: &EpisodeFigure, flags: &Flags<'_>, random_rate: f64) -> [Vec<i64>; 3] {
    let window = flags.times.iter().copied().filter(|&t| t >= f.from && t <= f.to);
    let hit = |fired: &Fired, t: i64| fired.get(&(t, f.pattern.clone())).is_some_and(|m| m.contains(&f.machine));
    [
        window.clone().filter(|&t| hit(flags.reference, t)).collect(),
        window.clone().filter(|&t| hit(flags.static_threshold, t)).collect(),
        window.filter(|&t| baseline::random_flag(&f.pattern, &f.machine, t, random_rate)).collect(),
    ]
}

/// The affected sensors to draw: those of the pattern's signature roles first, in the
/// signature's order, then the rest, at most [`SENSORS_DRAWN`].
fn drawn_sensors(
    catalogue: &Catalogue,
    pattern: &str,
    affected: &[String],
    sensors: &BTreeMap<String, SensorInfo>,
) -> Vec<String> {
    let names: Vec<&str> = catalogue
        .patterns
        .iter()
        .find(|p| p.name == pattern)
        .map(|p| p.signature.iter().filter_map(|s| roles::role(&s.role).map(|r| r.label)).collect())
        .unwrap_or_default();
    let rank = |id: &String| {
        let name = sensors.get(id).map_or("", |s| s.name.as_str());
        names.iter().position(|n| *n == name).unwrap_or(names.len())
    };
    let mut ids = affected.to_vec();
    ids.sort_by_key(rank);
    ids.truncate(SENSORS_DRAWN);
    ids
}

/// Every sensor's name, unit and limits.
async fn sensors(client: &Client) -> Result<BTreeMap<String, SensorInfo>> {
    let rows = client
        .query(
            "SELECT sensor_id::text, sensor_name::text, coalesce(measurement_unit, '')::text, \
                    warning_threshold_min::float8, warning_threshold_max::float8, \
                    critical_threshold_min::float8, critical_threshold_max::float8 FROM sensors",
            &[],
        )
        .await
        .map_err(|e| anyhow!("cannot read sensors: {}", db::cause(&e)))?;
    Ok(rows
        .iter()
        .map(|r| {
            let info = SensorInfo {
                name: r.get(1),
                unit: r.get(2),
                warning: (r.get(3), r.get(4)),
                critical: (r.get(5), r.get(6)),
            };
            (r.get(0), info)
        })
        .collect())
}

/// A SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL timestamp literal of Unix seconds `t`.
fn timestamp(t: i64) -> String {
    format!("TIMESTAMP '{}'", instant_string(t).trim_end_matches('Z').replace('T', " "))
}

/// The statement that reads sensors `ids` of `machine` over [`from`, `to`) in buckets.
pub fn trace_sql(machine: &str, ids: &[String], from: i64, to: i64) -> String {
    let bucket = ((to - from) / POINTS).max(10);
    let list = ids.iter().map(|s| literal(s)).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT sensor_id, floor(extract(epoch FROM timestamp) / {bucket})::bigint * {bucket} AS bucket,\n       \
         min(measurement_value)::float8, avg(measurement_value)::float8, max(measurement_value)::float8\n  \
         FROM sensor_data\n WHERE machine_id = {} AND sensor_id IN ({list})\n   \
         AND timestamp >= {} AND timestamp < {}\n GROUP BY 1, 2 ORDER BY 1, 2",
        literal(machine),
        timestamp(from),
        timestamp(to),
    )
}

/// The traces of sensors `ids` of `machine` over [`from`, `to`), and the SQL that read them.
async fn traces(
    client: &Client,
    sensors: &BTreeMap<String, SensorInfo>,
    machine: &str,
    ids: &[String],
    from: i64,
    to: i64,
) -> Result<(Vec<Trace>, String)> {
    let sql = trace_sql(machine, ids, from, to);
    if ids.is_empty() {
        return Ok((Vec::new(), sql));
    }
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| anyhow!("cannot read the readings of {machine}: {}", db::cause(&e)))?;
    let mut traces: Vec<Trace> = ids
        .iter()
        .map(|id| Trace {
            sensor_id: id.clone(),
            info: sensors.get(id).cloned().unwrap_or_default(),
            points: Vec::new(),
        })
        .collect();
    for r in &rows {
        let id: String = r.get(0);
        if let Some(t) = traces.iter_mut().find(|t| t.sensor_id == id) {
            t.points.push((r.get(1), r.get(2), r.get(3), r.get(4)));
        }
    }
    Ok((traces, sql))
}

/// A false alarm's figure: six hours before it to one after (within the data), the machine's sensors most
/// often beyond a warning limit in the hour before (its first sensors if none was).
async fn alarm(
    client: &Client,
    sensors: &BTreeMap<String, SensorInfo>,
    flag: &HealthyFlag,
    data: (i64, i64),
) -> Result<AlarmFigure> {
    let at = parse_instant(&flag.time).map_err(|e| anyhow!("a false alarm's time {}: {e}", flag.time))?;
    let rows = client
        .query(
            "SELECT s.sensor_id::text FROM sensors s LEFT JOIN sensor_data d ON d.sensor_id = s.sensor_id \
               AND d.timestamp >= to_timestamp($2::float8) AT TIME ZONE 'UTC' AND d.timestamp < to_timestamp($3::float8) AT TIME ZONE 'UTC' \
               AND (d.is_above_warning OR d.is_below_warning) \
             WHERE s.machine_id = $1 GROUP BY 1 ORDER BY count(d.sensor_id) DESC, 1 LIMIT $4",
            &[&flag.machine, &((at - HOUR) as f64), &(at as f64), &(SENSORS_DRAWN as i64)],
        )
        .await
        .map_err(|e| anyhow!("cannot read the sensors of {}: {}", flag.machine, db::cause(&e)))?;
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let (from, to) = ((at - 6 * HOUR).max(data.0), (at + HOUR).min(data.1 + SCADA_STEP));
    let (traces, sql) = traces(client, sensors, &flag.machine, &ids, from, to).await?;
    Ok(AlarmFigure { flag: flag.clone(), at, from, to, traces, sql })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_read_in_at_most_240_buckets_of_whole_seconds() {
        let sql = trace_sql("M'1", &["S1".into(), "S2".into()], 0, 2 * DAY);
        assert!(sql.contains("/ 720)::bigint * 720"), "two days in 720 s buckets: {sql}");
        assert!(sql.contains("machine_id = 'M''1'"), "quotes doubled: {sql}");
        assert!(sql.contains("sensor_id IN ('S1', 'S2')"), "{sql}");
        assert!(sql.contains("timestamp >= TIMESTAMP '1970-01-01 00:00:00'"), "{sql}");
        assert!(trace_sql("M", &[], 0, 60).contains("/ 10)"), "at least the 10 s of a reading");
    }

    #[test]
    fn an_episode_is_caught_at_its_first_flag_from_onset_and_leads_the_fault() {
        let f = EpisodeFigure {
            episode_id: 1,
            machine: "M".into(),
            pattern: "p".into(),
            onset: 10 * HOUR,
            warning: 20 * HOUR,
            critical: 30 * HOUR,
            fault: 40 * HOUR,
            fault_end: None,
            end: 41 * HOUR,
            reaches_fault: true,
            scored: true,
            from: 0,
            to: 42 * HOUR,
            traces: Vec::new(),
            flags: [vec![5 * HOUR, 25 * HOUR, 35 * HOUR], vec![], vec![41 * HOUR]],
            sql: String::new(),
        };
        assert_eq!(f.caught(0), Some((25 * HOUR, Some(15.0))), "a flag before onset does not catch it");
        assert_eq!(f.caught(1), None);
        assert_eq!(f.caught(2), None, "a flag at the end is after the episode");
    }
}
