//! The console's JSON: `GET /api/plant` (the hierarchy with each machine's state and each
//! line's OEE, the sinks, the episodes) and `GET /api/machines/{id}/series?minutes=N` (one
//! machine's traces). Both read only released rows, and both are bounded: the plant lists
//! at most [`MAX_MACHINES`] machines, a series at most the configured minutes.

use serde_json::{json, Value};

use super::{Console, EVENT_AGE};
use crate::clock::{instant_string, SCADA_STEP, SENSOR_STEP};
use crate::stream::generate::EpisodeView;

/// Machines `/api/plant` lists at most (the rest are counted, not listed).
pub const MAX_MACHINES: usize = 10_000;
/// Minutes a series shows when `minutes` is not given (or fewer if the console keeps fewer).
pub const DEFAULT_MINUTES: usize = 60;

/// A request the endpoints refuse: the status and the message.
#[derive(Debug, PartialEq)]
pub enum Refused {
    BadRequest(String),
    NotFound(String),
}

/// What the plant endpoint adds from the rest of the daemon.
pub struct Context<'a> {
    pub stream: &'a str,
    pub speed: Option<f64>,
    pub token_required: bool,
    /// Per sink: name, failing, delivered through (Unix time).
    pub sinks: Vec<(&'static str, bool, i64)>,
    /// The episodes `GET /faults` shows.
    pub episodes: &'a [EpisodeView],
}

/// A machine's tile.
#[derive(serde::Serialize)]
struct Tile<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    machine_type: &'a str,
    state: &'static str,
    oee: Option<f64>,
    episode: Option<Mark<'a>>,
}

/// The episode a machine is in (ground truth).
#[derive(serde::Serialize)]
struct Mark<'a> {
    id: i64,
    pattern: &'a str,
    phase: &'a str,
}

#[derive(serde::Serialize)]
struct LineView<'a> {
    id: &'a str,
    name: &'a str,
    /// The mean of its machines' OEE.
    oee: Option<f64>,
    machines: Vec<Tile<'a>>,
}

#[derive(serde::Serialize)]
struct FactoryView<'a> {
    id: &'a str,
    name: &'a str,
    lines: Vec<LineView<'a>>,
}

#[derive(serde::Serialize)]
struct SinkState {
    name: &'static str,
    failing: bool,
    through: Option<String>,
}

#[derive(serde::Serialize)]
struct ControlState {
    token_required: bool,
}

/// The body of `GET /api/plant`.
#[derive(serde::Serialize)]
pub struct PlantView<'a> {
    stream: &'a str,
    at: Option<String>,
    /// The minute whose SCADA rows the states are.
    states_at: Option<String>,
    speed: Option<f64>,
    history_minutes: usize,
    control: ControlState,
    sinks: Vec<SinkState>,
    /// Machines this stream generates.
    machines: usize,
    /// Whether some were left out ([`MAX_MACHINES`]).
    truncated: bool,
    factories: Vec<FactoryView<'a>>,
    patterns: &'a [super::PatternInfo],
    episodes: &'a [EpisodeView],
}

/// `GET /api/plant`.
pub fn plant<'a>(c: &'a Console, ctx: &Context<'a>) -> PlantView<'a> {
    let through = c.released();
    // The newest minute whose SCADA rows are released.
    let minute = (through - 1).div_euclid(SCADA_STEP) * SCADA_STEP;
    // Each machine's episode in progress, found once (not per machine over every episode).
    let mut in_progress: std::collections::HashMap<&str, &EpisodeView> = std::collections::HashMap::new();
    for e in ctx.episodes.iter().filter(|e| e.phase != "upcoming") {
        in_progress.entry(e.machine_id.as_str()).or_insert(e);
    }
    let tile = |m: usize| -> Option<Tile<'a>> {
        let t = c.trace(m)?;
        let mc = &c.plant.machines[m];
        Some(Tile {
            id: &mc.id,
            name: &mc.name,
            machine_type: mc.machine_type,
            state: c.state(m, minute).map_or("unknown", |s| s.name()),
            oee: t.scada_before(through).and_then(|r| r.oee),
            episode: in_progress.get(mc.id.as_str()).map(|e| Mark { id: e.id, pattern: &e.pattern, phase: e.phase }),
        })
    };
    let held = (0..c.plant.machines.len()).filter(|&m| c.holds(m)).count();
    let mut listed = 0;
    let mut factories = Vec::new();
    for (fi, (fid, fname)) in c.plant.factories.iter().enumerate() {
        let mut lines = Vec::new();
        for &li in &c.plant.factory_lines[fi] {
            let mut machines = Vec::new();
            for &m in &c.plant.line_machines[li] {
                if listed < MAX_MACHINES {
                    if let Some(t) = tile(m) {
                        listed += 1;
                        machines.push(t);
                    }
                }
            }
            if machines.is_empty() {
                continue;
            }
            let oees: Vec<f64> = machines.iter().filter_map(|t| t.oee).collect();
            let oee = (!oees.is_empty()).then(|| round2(oees.iter().sum::<f64>() / oees.len() as f64));
            let (lid, lname, _) = &c.plant.lines[li];
            lines.push(LineView { id: lid, name: lname, oee, machines });
        }
        if !lines.is_empty() {
            factories.push(FactoryView { id: fid, name: fname, lines });
        }
    }
    PlantView {
        stream: ctx.stream,
        at: (through > 0).then(|| instant_string(through)),
        states_at: (through > 0).then(|| instant_string(minute)),
        speed: ctx.speed,
        history_minutes: c.minutes,
        control: ControlState { token_required: ctx.token_required },
        sinks: ctx
            .sinks
            .iter()
            .map(|&(name, failing, at)| SinkState { name, failing, through: (at > 0).then(|| instant_string(at)) })
            .collect(),
        machines: held,
        truncated: held > listed,
        factories,
        patterns: &c.plant.patterns,
        episodes: ctx.episodes,
    }
}

/// `minutes` from a series request's query string: `minutes=N`, nothing else.
pub fn series_minutes(query: Option<&str>, most: usize) -> Result<usize, Refused> {
    let mut minutes = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "minutes" {
            return Err(Refused::BadRequest(format!("unknown parameter `{k}`; the one parameter is minutes")));
        }
        let n: usize = v.parse().ok().filter(|n| (1..=most).contains(n)).ok_or_else(|| {
            Refused::BadRequest(format!("minutes must be a whole number from 1 to {most}, not `{v}`"))
        })?;
        minutes = Some(n);
    }
    Ok(minutes.unwrap_or(DEFAULT_MINUTES.min(most)))
}

/// `GET /api/machines/{id}/series`: the machine's last `minutes` before the released
/// instant: each sensor's readings (one per 10 s, `null` for none) with its limits, the SCADA
/// state per minute, the newest SCADA row, maintenance and fault records, quality marks and
/// the machine's episodes (those in effect, upcoming, or ended within the history shown).
pub fn series(c: &Console, id: &str, minutes: usize) -> Result<Value, Refused> {
    let m = c
        .plant
        .machines
        .iter()
        .position(|mc| mc.id == id)
        .ok_or_else(|| Refused::NotFound(format!("no machine {id}")))?;
    let t = c.trace(m).ok_or_else(|| Refused::NotFound(format!("machine {id} is not generated by this stream")))?;
    let through = c.released();
    let info = &c.plant.machines[m];
    let to = through - through.rem_euclid(SENSOR_STEP);
    let from = (to - minutes as i64 * SCADA_STEP).max(0);
    let sensors: Vec<Value> = info
        .sensors
        .iter()
        .enumerate()
        .map(|(s, si)| {
            let values: Vec<Option<f64>> = (from..to).step_by(SENSOR_STEP as usize).map(|ts| t.value(s, ts)).collect();
            let marks: Vec<Value> = t
                .marks
                .iter()
                .filter(|mk| mk.sensor as usize == s && mk.ts >= from && mk.ts < to)
                .map(|mk| json!([instant_string(mk.ts), super::QUALITIES[mk.quality as usize]]))
                .collect();
            json!({
                "id": si.id, "role": si.role.name, "label": si.role.label, "unit": si.role.unit, "range": si.role.range,
                "normal": si.role.normal, "warning": si.role.warning, "critical": si.role.critical,
                "values": values, "marks": marks,
            })
        })
        .collect();
    let states = state_strip(c, m, from, to);
    let line = &c.plant.lines[info.line];
    Ok(json!({
        "machine": { "id": info.id, "name": info.name, "type": info.machine_type, "line": line.0, "line_name": line.1,
                     "factory": c.plant.factories[line.2].0 },
        "at": (through > 0).then(|| instant_string(through)),
        "from": instant_string(from),
        "step_s": SENSOR_STEP,
        "sensors": sensors,
        "states": states,
        "scada": t.scada_before(through).map(|r| raw(&r.json())),
        "records": t.events.iter().filter(|r| r.at < through && r.at > through - EVENT_AGE).map(|r| json!({
            "table": r.table.name(), "row": raw(&r.json()),
        })).collect::<Vec<_>>(),
        "episodes": c.episodes_of(&info.id),
    }))
}

/// Per minute of `[from, to)`: the SCADA state's name, or `null`.
fn state_strip(c: &Console, m: usize, from: i64, to: i64) -> Vec<Option<&'static str>> {
    let first = from - from.rem_euclid(SCADA_STEP);
    (first..to).step_by(SCADA_STEP as usize).map(|t| c.state(m, t).map(|s| s.name())).collect()
}

/// A kept JSON record as a value.
fn raw(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_checked() {
        assert_eq!(series_minutes(None, 60), Ok(60));
        assert_eq!(series_minutes(None, 20), Ok(20), "never more than the console keeps");
        assert_eq!(series_minutes(Some("minutes=5"), 60), Ok(5));
        for bad in ["minutes=0", "minutes=61", "minutes=x", "minutes=", "minutes=-1"] {
            let Err(Refused::BadRequest(e)) = series_minutes(Some(bad), 60) else { panic!("{bad} accepted") };
            assert!(e.contains("from 1 to 60"), "{bad}: {e}");
        }
        let Err(Refused::BadRequest(e)) = series_minutes(Some("minutes=5&from=3"), 60) else { panic!() };
        assert!(e.contains("unknown parameter `from`"), "{e}");
    }
}
