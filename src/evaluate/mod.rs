//! `genims evaluate`: scores the detection views against the ground truth in a backfilled
//! database, beside two baselines.
//!
//! At each evaluation time (spread over three database sessions at once) it runs
//! `genims_machine_health(at)` — every pattern's reference detector (`genims_detect`) and the
//! dashboard status — and each pattern's static-threshold baseline (`genims_threshold`, see
//! [`baseline`]), draws the random baseline, and compares the machines each detector flags with
//! `fault_labels`. A machine is *positive* for a pattern after its episode's warning time (at
//! that instant no detector can have seen any of the warning phase) until the episode ends;
//! from onset to warning a detection is early, not false. Scores are reported per (machine,
//! evaluation time) and per episode (caught at any time before the episode ends), with the lead
//! time before the labelled fault, beside the plant's state shares and the band shares of
//! affected sensors, during their episodes and over the whole window. With `--pool` it reads
//! the JSON reports of earlier runs instead and sums them into one ([`pool`]).

pub mod baseline;
mod figures;
mod html;
pub mod pool;
mod svg;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

use crate::cli::{EvaluateArgs, EvaluateFormat};
use crate::clock::{instant_string, DAY, HOUR};
use crate::config::Config;
use crate::db;

/// Targets by documented detectability (issue 5): (recall, precision).
fn target(pattern: &str) -> (f64, f64) {
    match pattern {
        "tool_wear" | "welding_quality" | "robot_positioning" | "sensor_drift" => (0.80, 0.80),
        _ => (0.95, 0.90),
    }
}

struct Label {
    episode_id: i64,
    machine: String,
    pattern: String,
    onset: i64,
    warning: i64,
    critical: i64,
    fault: i64,
    fault_end: Option<i64>,
    end: i64,
    reaches_fault: bool,
    /// The sensors the episode affects, comma-separated.
    affected: String,
}

/// One detector's score for one pattern: per (machine, evaluation time) without point
/// adjustment, and per episode. The counts are what [`DetectorScore::finish`] derives the
/// ratios from, so reports of several runs pool exactly (see [`pool`]).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DetectorScore {
    pub episodes_caught: usize,
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub early: u64,
    /// False positives on a machine under another pattern's episode at the time (a drifting
    /// sensor that trips a threshold, say): counted in `fp` like every other.
    pub fp_other_episode: u64,
    /// Precision with those left out: what the detector does among machines no other
    /// labelled fault disturbs.
    pub precision_other_episodes_excluded: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub episode_recall: Option<f64>,
    pub median_lead_hours: Option<f64>,
    /// Each caught episode's lead time before its labelled fault, in hours, ascending.
    #[serde(default)]
    pub lead_hours: Vec<f64>,
}

impl DetectorScore {
    /// Derives the ratios and the median lead time from the counts, of `episodes` scored.
    fn finish(&mut self, episodes: u64) {
        self.episode_recall = ratio(self.episodes_caught as u64, episodes);
        self.lead_hours.sort_by(f64::total_cmp);
        self.median_lead_hours = (!self.lead_hours.is_empty()).then(|| self.lead_hours[self.lead_hours.len() / 2]);
        self.precision = ratio(self.tp, self.tp + self.fp);
        self.precision_other_episodes_excluded = ratio(self.tp, self.tp + self.fp - self.fp_other_episode);
        self.recall = ratio(self.tp, self.tp + self.fn_);
        // F1 = 2TP / (2TP + FP + FN): defined (0) when a detector flags nothing right.
        self.f1 = ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_);
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PatternScore {
    pub pattern: String,
    /// The catalogue's detectability: high, medium or low.
    pub detectability: String,
    pub episodes: usize,
    /// The reference detector (`genims_detect`), its fields at the top level.
    #[serde(flatten)]
    pub reference: DetectorScore,
    /// The static-threshold baseline and its rule in words.
    pub static_rule: String,
    pub static_threshold: DetectorScore,
    /// The random baseline and the rate it flags at (the labels' positive rate among the
    /// machines the pattern applies to).
    pub random_rate: f64,
    pub random: DetectorScore,
    pub target_recall: f64,
    pub target_precision: f64,
    pub meets_target: Option<bool>,
    /// The detectability tier's targets (see [`tier_targets_met`]).
    pub meets_tier_targets: Option<bool>,
}

impl PatternScore {
    /// Sets the verdicts from the scores: the reference detector against the pattern's
    /// documented targets, and the detectability tier's targets.
    fn judge(&mut self) {
        (self.target_recall, self.target_precision) = target(&self.pattern);
        let r = &self.reference;
        self.meets_target = match (r.recall, r.precision, r.episode_recall) {
            (Some(rc), Some(pr), Some(er)) => {
                Some(rc >= self.target_recall && er >= self.target_recall && pr >= self.target_precision)
            }
            _ => None,
        };
        self.meets_tier_targets = tier_targets_met(self);
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub start: String,
    pub end: String,
    pub every_s: i64,
    pub evaluation_times: usize,
    pub machines: usize,
    pub patterns: Vec<PatternScore>,
    /// Share of healthy machines the dashboard flags WARNING or CRITICAL: worst time, mean.
    pub healthy_flagged_max: f64,
    pub healthy_flagged_mean: f64,
    /// Every such flag — the dashboard's false alarms, to look at — in time order.
    pub healthy_flagged: Vec<HealthyFlag>,
    /// machine_state → share of SCADA records in the window.
    pub state_shares: BTreeMap<String, f64>,
    /// reading status → share of affected sensors' readings during episodes.
    pub band_shares: BTreeMap<String, f64>,
    /// reading status → share of affected sensors' readings over the whole window (the
    /// catalogue's guideline of time split on affected machines).
    pub band_shares_window: BTreeMap<String, f64>,
    /// The reports a pooled report sums (`--pool`); empty for one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pooled_from: Vec<String>,
}

/// A machine with data and no episode at an evaluation time that the dashboard flagged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthyFlag {
    /// In a pooled report, the report it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    pub time: String,
    pub machine: String,
    /// WARNING or CRITICAL.
    pub status: String,
    /// What the dashboard said (`genims_machine_health`'s detections; empty when only sensors
    /// out of band raised the status).
    pub detections: String,
    /// Sensors mostly beyond their warning / critical limits, standing apart from the line.
    pub sensors_warning: i64,
    pub sensors_critical: i64,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Runs `genims evaluate`.
pub async fn run(cfg: &Config, args: &EvaluateArgs) -> Result<()> {
    let catalogue = cfg.fault_catalogue()?;
    let rules: Vec<baseline::StaticRule> = catalogue.patterns.iter().map(baseline::StaticRule::of).collect();
    let named_rules: BTreeMap<String, baseline::StaticRule> =
        catalogue.patterns.iter().map(|p| p.name.clone()).zip(rules.iter().cloned()).collect();
    if !args.pool.is_empty() {
        let report = pool::run(&args.pool, args.format)?;
        return write_html(args.html.as_deref(), &report, &figures::Figures::default(), &named_rules);
    }
    let client = db::connect(&cfg.postgres.target()?).await?;
    let (first, last) = data_span(&client).await?;
    let every = args.every;
    let end = args.end.unwrap_or(last);
    // Detectors look back up to a week; by default start a day into the data.
    let start = args.start.unwrap_or((first + DAY).min(end));
    if start > end {
        return Err(crate::cli::usage("the evaluation window is empty: --start must not lie after --end"));
    }
    let times: Vec<i64> = (0..).map(|k| start + k * every).take_while(|&t| t <= end).collect();
    let machine_types = machine_types(&client).await?;
    let labels = read_labels(&client).await?;
    let seen = evaluate_all(cfg, &catalogue, &rules, &labels, &times).await?;
    let mut report = Report {
        start: instant_string(start),
        end: instant_string(end),
        every_s: every,
        evaluation_times: times.len(),
        machines: seen.machines.len(),
        healthy_flagged_max: seen.flagged_max,
        healthy_flagged_mean: seen.flagged_sum / times.len().max(1) as f64,
        ..Report::default()
    };
    for (p, rule) in catalogue.patterns.iter().zip(&rules) {
        report.patterns.push(score_pattern(p, rule, &labels, &times, &machine_types, &seen));
    }
    report.healthy_flagged = seen.flagged;
    add_shares(&client, &mut report, start, end).await?;
    let drawn = match args.html {
        Some(_) => {
            let flags = figures::Flags { times: &times, reference: &seen.fired, static_threshold: &seen.fired_static };
            figures::read(&client, &catalogue, &report, &labels, &flags, (first, last)).await?
        }
        None => figures::Figures::default(),
    };
    match args.format {
        EvaluateFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        EvaluateFormat::Table => print!("{}", table(&report)),
    }
    write_html(args.html.as_deref(), &report, &drawn, &named_rules)
}

/// Writes the HTML report to `path`, if given, whole or not at all.
fn write_html(
    path: Option<&std::path::Path>,
    report: &Report,
    drawn: &figures::Figures,
    rules: &BTreeMap<String, baseline::StaticRule>,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let mut file = crate::output::atomic::AtomicFile::create(path)?;
    file.write_all(html::render(report, drawn, rules).as_bytes())?;
    file.commit()
}

/// The first and last SCADA instants of a database that has the tables and detection views
/// `evaluate` reads.
async fn data_span(client: &tokio_postgres::Client) -> Result<(i64, i64)> {
    db::require_tables(client, &["machines", "scada_machine_data", "sensor_data", "fault_labels"]).await?;
    let has_views: bool = client
        .query_one("SELECT to_regprocedure('genims_machine_health(timestamp)') IS NOT NULL", &[])
        .await
        .map_err(|e| anyhow!("cannot inspect the schema: {}", db::cause(&e)))?
        .get(0);
    if !has_views {
        bail!("the database lacks the detection views: run `genims schema apply`");
    }
    let span = client
        .query_one("SELECT extract(epoch FROM min(timestamp))::bigint, extract(epoch FROM max(timestamp))::bigint FROM scada_machine_data", &[])
        .await
        .map_err(|e| anyhow!("cannot read the data's time span: {}", db::cause(&e)))?;
    let (Some(first), Some(last)): (Option<i64>, Option<i64>) = (span.get(0), span.get(1)) else {
        bail!("the database holds no operational data: run `genims backfill --out db` first");
    };
    Ok((first, last))
}

/// Every machine's type.
async fn machine_types(client: &tokio_postgres::Client) -> Result<BTreeMap<String, String>> {
    Ok(client
        .query("SELECT machine_id::text, coalesce(machine_type, '')::text FROM machines", &[])
        .await
        .map_err(|e| anyhow!("cannot read machines: {}", db::cause(&e)))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The fault labels: the ground truth, by pattern and onset.
async fn read_labels(client: &tokio_postgres::Client) -> Result<Vec<Label>> {
    let epoch = |c: &str| format!("extract(epoch FROM {c})::bigint");
    let sql = format!(
        "SELECT episode_id, machine_id::text, pattern::text, {}, {}, {}, {}, {}, {}, reaches_fault, coalesce(affected_sensors, '')::text \
         FROM fault_labels ORDER BY pattern, onset_time, episode_id",
        epoch("onset_time"),
        epoch("warning_time"),
        epoch("critical_time"),
        epoch("fault_time"),
        epoch("fault_end_time"),
        epoch("end_time"),
    );
    let rows = client.query(&sql, &[]).await.map_err(|e| anyhow!("cannot read fault_labels: {}", db::cause(&e)))?;
    Ok(rows
        .iter()
        .map(|r| Label {
            episode_id: r.get(0),
            machine: r.get(1),
            pattern: r.get(2),
            onset: r.get(3),
            warning: r.get(4),
            critical: r.get(5),
            fault: r.get(6),
            fault_end: r.get(7),
            end: r.get(8),
            reaches_fault: r.get(9),
            affected: r.get(10),
        })
        .collect())
}

/// What the detectors, the static rules and the dashboard said at every evaluation time.
struct Seen {
    fired: Fired,
    fired_static: Fired,
    machines: BTreeSet<String>,
    flagged_max: f64,
    flagged_sum: f64,
    flagged: Vec<HealthyFlag>,
}

/// Detections, dashboard status and static rules at every evaluation time. The times are
/// independent, so they are spread over a few sessions: the server's cores work at once.
async fn evaluate_all(
    cfg: &Config,
    catalogue: &crate::faults::Catalogue,
    rules: &[baseline::StaticRule],
    labels: &[Label],
    times: &[i64],
) -> Result<Seen> {
    let bar =
        std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| indicatif::ProgressBar::new(times.len() as u64));
    let sessions = SESSIONS.min(times.len()).max(1);
    let workers = (0..sessions).map(|i| {
        let mine: Vec<i64> = times.iter().copied().skip(i).step_by(sessions).collect();
        evaluate_times(cfg, catalogue, rules, labels, mine, bar.as_ref())
    });
    let mut results: Vec<(i64, AtTime)> =
        futures_util::future::try_join_all(workers).await?.into_iter().flatten().collect();
    results.sort_by_key(|(t, _)| *t);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut seen = Seen {
        fired: Fired::new(),
        fired_static: Fired::new(),
        machines: BTreeSet::new(),
        flagged_max: 0.0,
        flagged_sum: 0.0,
        flagged: Vec::new(),
    };
    for (t, at) in results {
        for (pattern, m) in at.detections {
            seen.fired.entry((t, pattern)).or_default().insert(m);
        }
        for (name, hits) in at.statics {
            seen.fired_static.insert((t, name), hits);
        }
        seen.machines.extend(at.machines);
        let share = ratio(at.flagged.len() as u64, at.healthy).unwrap_or(0.0);
        seen.flagged_max = seen.flagged_max.max(share);
        seen.flagged_sum += share;
        seen.flagged.extend(at.flagged);
    }
    Ok(seen)
}

/// One pattern's reference detector and both baselines, scored against its labels.
fn score_pattern(
    p: &crate::faults::Pattern,
    rule: &baseline::StaticRule,
    labels: &[Label],
    times: &[i64],
    machine_types: &BTreeMap<String, String>,
    seen: &Seen,
) -> PatternScore {
    let (mine, others): (Vec<&Label>, Vec<&Label>) = labels.iter().partition(|l| l.pattern == p.name);
    let machines = &seen.machines;
    let applicable: BTreeSet<String> =
        machines.iter().filter(|m| machine_types.get(*m).is_some_and(|ty| p.applies_to(ty))).cloned().collect();
    let rate = positive_rate(&mine, times, applicable.len());
    let mut fired_random = Fired::new();
    for &t in times {
        let hits = applicable.iter().filter(|m| baseline::random_flag(&p.name, m, t, rate)).cloned().collect();
        fired_random.insert((t, p.name.clone()), hits);
    }
    let mut s = PatternScore {
        pattern: p.name.clone(),
        detectability: p.detectability.clone(),
        episodes: scored_episodes(&mine, times),
        reference: score(&p.name, &mine, &others, times, machines, &seen.fired),
        static_rule: rule.describe(),
        static_threshold: score(&p.name, &mine, &others, times, machines, &seen.fired_static),
        random_rate: rate,
        random: score(&p.name, &mine, &others, times, machines, &fired_random),
        ..PatternScore::default()
    };
    s.judge();
    s
}

/// The plant's machine-state shares over the window, and the band shares of the sensors
/// episodes affect (during episodes, and over the window).
async fn add_shares(client: &tokio_postgres::Client, report: &mut Report, start: i64, end: i64) -> Result<()> {
    report.state_shares = shares(
        client,
        "SELECT machine_state::text, count(*) FROM scada_machine_data WHERE timestamp >= to_timestamp($1::float8) AT TIME ZONE 'UTC'
           AND timestamp < to_timestamp($2::float8) AT TIME ZONE 'UTC' GROUP BY 1",
        start,
        end,
    )
    .await?;
    report.band_shares = shares(
        client,
        "SELECT s.status::text, count(*) FROM fault_labels l
           JOIN sensor_data s ON s.machine_id = l.machine_id AND s.timestamp >= l.onset_time AND s.timestamp < l.end_time
            AND s.sensor_id = ANY (string_to_array(l.affected_sensors, ','))
          WHERE s.timestamp >= to_timestamp($1::float8) AT TIME ZONE 'UTC' AND s.timestamp < to_timestamp($2::float8) AT TIME ZONE 'UTC'
          GROUP BY 1",
        start,
        end,
    )
    .await?;
    report.band_shares_window = shares(
        client,
        "SELECT s.status::text, count(*) FROM sensor_data s
          WHERE s.sensor_id IN (SELECT unnest(string_to_array(affected_sensors, ',')) FROM fault_labels
                                 WHERE onset_time < to_timestamp($2::float8) AT TIME ZONE 'UTC' AND end_time > to_timestamp($1::float8) AT TIME ZONE 'UTC')
            AND s.timestamp >= to_timestamp($1::float8) AT TIME ZONE 'UTC' AND s.timestamp < to_timestamp($2::float8) AT TIME ZONE 'UTC'
          GROUP BY 1",
        start,
        end,
    )
    .await?;
    Ok(())
}

/// How many sessions `evaluate` spreads its evaluation times over.
const SESSIONS: usize = 3;

/// What one evaluation time gave.
struct AtTime {
    /// Each reference detection: (pattern, machine).
    detections: Vec<(String, String)>,
    /// The machines the dashboard listed.
    machines: Vec<String>,
    /// Machines with data and no episode at the time, and those of them the dashboard flagged.
    healthy: u64,
    flagged: Vec<HealthyFlag>,
    /// The machines each pattern's static rule flagged.
    statics: Vec<(String, BTreeSet<String>)>,
}

/// A session for the detectors. They are SQL functions called through prepared statements: a
/// generic plan cannot see which sensor or instant it reads (a full scan where a custom plan
/// probes an index), so every execution is planned for its parameters.
async fn detector_session(cfg: &Config) -> Result<tokio_postgres::Client> {
    let client = db::connect(&cfg.postgres.target()?).await?;
    client
        .batch_execute("SET plan_cache_mode = force_custom_plan")
        .await
        .map_err(|e| anyhow!("cannot configure the session: {}", db::cause(&e)))?;
    Ok(client)
}

/// Evaluates the detectors, the dashboard and the static rules at each of `times`, in one
/// session of its own.
async fn evaluate_times(
    cfg: &Config,
    catalogue: &crate::faults::Catalogue,
    rules: &[baseline::StaticRule],
    labels: &[Label],
    times: Vec<i64>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<Vec<(i64, AtTime)>> {
    let client = detector_session(cfg).await?;
    let health = client
        .prepare("SELECT machine_id::text, coalesce(detections, ''), health_status, sensors_warning, sensors_critical FROM genims_machine_health(to_timestamp($1::float8) AT TIME ZONE 'UTC')")
        .await
        .map_err(|e| anyhow!("cannot prepare the health query: {}", db::cause(&e)))?;
    let threshold = client
        .prepare("SELECT machine_id::text FROM genims_threshold($1, $2, to_timestamp($3::float8) AT TIME ZONE 'UTC')")
        .await
        .map_err(|e| anyhow!("cannot prepare the static-threshold query: {}", db::cause(&e)))?;
    let mut out = Vec::with_capacity(times.len());
    for t in times {
        let rows = client
            .query(&health, &[&(t as f64)])
            .await
            .map_err(|e| anyhow!("cannot evaluate the detectors at {}: {}", instant_string(t), db::cause(&e)))?;
        let mut at = AtTime {
            detections: Vec::new(),
            machines: Vec::new(),
            healthy: 0,
            flagged: Vec::new(),
            statics: Vec::new(),
        };
        for r in &rows {
            let m: String = r.get(0);
            let detections: String = r.get(1);
            let status: String = r.get(2);
            for d in detections.split(", ").filter(|d| !d.is_empty()) {
                let pattern = d.split(':').next().unwrap_or(d);
                at.detections.push((pattern.to_owned(), m.clone()));
            }
            if status != "NO DATA" && !labels.iter().any(|l| active_at(l, &m, t)) {
                at.healthy += 1;
                if status == "WARNING" || status == "CRITICAL" {
                    at.flagged.push(HealthyFlag {
                        run: None,
                        time: instant_string(t),
                        machine: m.clone(),
                        status,
                        detections,
                        sensors_warning: r.get(3),
                        sensors_critical: r.get(4),
                    });
                }
            }
            at.machines.push(m);
        }
        // The static rules of every pattern at this time, pipelined on the connection.
        let queries = catalogue.patterns.iter().zip(rules).map(|(p, rule)| {
            let (threshold, client) = (&threshold, &client);
            async move {
                let rows =
                    client.query(threshold, &[&rule.sensor, &rule.direction, &(t as f64)]).await.map_err(|e| {
                        anyhow!(
                            "cannot evaluate the static threshold of {} at {}: {}",
                            p.name,
                            instant_string(t),
                            db::cause(&e)
                        )
                    })?;
                Ok::<_, anyhow::Error>((
                    p.name.clone(),
                    rows.iter().map(|r| r.get::<_, String>(0)).collect::<BTreeSet<_>>(),
                ))
            }
        });
        at.statics = futures_util::future::try_join_all(queries).await?;
        if let Some(b) = bar {
            b.inc(1);
        }
        out.push((t, at));
    }
    Ok(out)
}

/// Machines each detector flagged, by (evaluation time, pattern).
type Fired = BTreeMap<(i64, String), BTreeSet<String>>;

/// Whether episode `l` is under way on machine `m` at `t` (from onset to end).
fn active_at(l: &Label, m: &str, t: i64) -> bool {
    l.machine == m && l.onset <= t && t < l.end
}

/// Whether a machine is positive for its episode `l` at `t`: after the warning time, before
/// the end. At the warning time itself the warning phase has not shown yet.
fn positive_at(l: &Label, t: i64) -> bool {
    t > l.warning && t < l.end
}

/// Whether an episode counts: an evaluation time falls in its positive stretch (`warning`, `end`).
fn scored(l: &Label, times: &[i64]) -> bool {
    times.iter().any(|&t| positive_at(l, t))
}

/// The episodes that count (see [`scored`]).
fn scored_episodes(mine: &[&Label], times: &[i64]) -> usize {
    mine.iter().filter(|l| scored(l, times)).count()
}

/// The share of (applicable machine, evaluation time) pairs that are positive.
fn positive_rate(mine: &[&Label], times: &[i64], applicable: usize) -> f64 {
    let positives: usize = times.iter().map(|&t| mine.iter().filter(|l| positive_at(l, t)).count()).sum();
    ratio(positives as u64, (times.len() * applicable) as u64).unwrap_or(0.0).min(1.0)
}

/// Scores one detector of pattern `p` (whose labels are `mine`; the other patterns' are
/// `others`) from what it flagged.
fn score(
    p: &str,
    mine: &[&Label],
    others: &[&Label],
    times: &[i64],
    machines: &BTreeSet<String>,
    fired: &Fired,
) -> DetectorScore {
    let empty = BTreeSet::new();
    let mut s = DetectorScore::default();
    for &t in times {
        let hits = fired.get(&(t, p.to_owned())).unwrap_or(&empty);
        for m in machines {
            let active = mine.iter().find(|l| active_at(l, m, t));
            let positive = active.is_some_and(|l| positive_at(l, t));
            match (hits.contains(m), positive, active.is_some()) {
                (true, true, _) => s.tp += 1,
                (true, false, true) => s.early += 1,
                (true, false, false) => {
                    s.fp += 1;
                    s.fp_other_episode += u64::from(others.iter().any(|l| active_at(l, m, t)));
                }
                (false, true, _) => s.fn_ += 1,
                _ => {}
            }
        }
    }
    let mut episodes = 0u64;
    for l in mine.iter().filter(|l| scored(l, times)) {
        episodes += 1;
        let first = times
            .iter()
            .copied()
            .filter(|&t| t >= l.onset && t < l.end)
            .find(|&t| fired.get(&(t, p.to_owned())).is_some_and(|h| h.contains(&l.machine)));
        if let Some(f) = first {
            s.episodes_caught += 1;
            if l.reaches_fault && f <= l.fault {
                s.lead_hours.push((l.fault - f) as f64 / HOUR as f64);
            }
        }
    }
    s.finish(episodes);
    s
}

/// The targets of the pattern's detectability tier (issue 19), on the default configuration:
/// a *high* pattern's static threshold keeps recall and precision >= 0.9 (dashboards keep
/// working); a *medium* or *low* pattern needs context: its static threshold reaches at most
/// F1 0.6 while the reference detector reaches F1 >= 0.85 and episode recall >= 0.9; both
/// detectors beat the random baseline's F1. `None` without positives to score.
pub fn tier_targets_met(s: &PatternScore) -> Option<bool> {
    let (r, st, rnd) = (&s.reference, &s.static_threshold, &s.random);
    let (ref_f1, st_f1, rnd_f1) = (r.f1?, st.f1?, rnd.f1.unwrap_or(0.0));
    (r.tp + r.fn_ > 0).then_some(())?;
    let beats_random = ref_f1 > rnd_f1 && st_f1 > rnd_f1;
    let tier = if s.detectability == "high" {
        st.recall? >= 0.9 && st.precision.unwrap_or(0.0) >= 0.9
    } else {
        st_f1 <= 0.6 && ref_f1 >= 0.85 && r.episode_recall? >= 0.9
    };
    Some(beats_random && tier)
}

async fn shares(client: &tokio_postgres::Client, sql: &str, a: i64, b: i64) -> Result<BTreeMap<String, f64>> {
    let rows = client
        .query(sql, &[&(a as f64), &(b as f64)])
        .await
        .map_err(|e| anyhow!("cannot compute shares: {}", db::cause(&e)))?;
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
    Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as f64 / total.max(1) as f64)).collect())
}

fn yes_no(x: Option<bool>) -> &'static str {
    match x {
        Some(true) => "yes",
        Some(false) => "no",
        None => "–",
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".to_owned(), |v| format!("{:.1}", v * 100.0))
}

/// The report as a Markdown table (pasteable into FIDELITY.md).
pub fn table(r: &Report) -> String {
    let every = match r.every_s {
        0 => "at the runs' intervals".to_owned(),
        s => format!("every {s} s"),
    };
    let mut out = format!(
        "genims evaluate: {} .. {} {every} ({} evaluation times, {} machines)\n",
        r.start, r.end, r.evaluation_times, r.machines
    );
    if !r.pooled_from.is_empty() {
        let n = r.pooled_from.len();
        out.push_str(&format!(
            "pooled from {n} report{}: {}\n",
            if n == 1 { "" } else { "s" },
            r.pooled_from.join(", ")
        ));
    }
    out.push('\n');
    out.push_str("| pattern | episodes | caught | episode recall % | recall % | precision % | early | median lead h | target R/P % | meets |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
    for p in &r.patterns {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0}/{:.0} | {} |\n",
            p.pattern,
            p.episodes,
            p.reference.episodes_caught,
            pct(p.reference.episode_recall),
            pct(p.reference.recall),
            pct(p.reference.precision),
            p.reference.early,
            p.reference.median_lead_hours.map_or("–".to_owned(), |h| format!("{h:.1}")),
            p.target_recall * 100.0,
            p.target_precision * 100.0,
            yes_no(p.meets_target)
        ));
    }
    out.push_str(
        "\nDetectors side by side, per (machine, evaluation time) without point adjustment: precision / recall / F1 %, episode recall %\n\n",
    );
    out.push_str("| pattern | detectability | random (rate %) | static threshold | reference | tier targets |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    let prf = |d: &DetectorScore| {
        let others = match d.fp_other_episode {
            0 => String::new(),
            n => format!(" ({n} FP under other episodes; P {} without)", pct(d.precision_other_episodes_excluded)),
        };
        format!("{} / {} / {}, ep {}{others}", pct(d.precision), pct(d.recall), pct(d.f1), pct(d.episode_recall))
    };
    for p in &r.patterns {
        out.push_str(&format!(
            "| {} | {} | {} ({:.2}) | {} | {} | {} |\n",
            p.pattern,
            p.detectability,
            prf(&p.random),
            p.random_rate * 100.0,
            prf(&p.static_threshold),
            prf(&p.reference),
            yes_no(p.meets_tier_targets)
        ));
    }
    out.push_str("\nstatic threshold rules: ");
    out.push_str(
        &r.patterns.iter().map(|p| format!("{}: {}", p.pattern, p.static_rule)).collect::<Vec<_>>().join("; "),
    );
    out.push_str(
        "\ntier targets: high — static recall and precision >= 90 %; medium/low — static F1 <= 60 %, reference F1 >= 85 % and episode recall >= 90 %; both beat random\n",
    );
    out.push_str(&format!(
        "\nhealthy machines flagged WARNING/CRITICAL by machine_health_dashboard: worst {:.2} %, mean {:.2} % (target ≤ 2 %)\n",
        r.healthy_flagged_max * 100.0,
        r.healthy_flagged_mean * 100.0
    ));
    out.push_str(&flag_lines(&r.healthy_flagged));
    let list = |m: &BTreeMap<String, f64>| {
        m.iter().map(|(k, v)| format!("{k} {:.1} %", v * 100.0)).collect::<Vec<_>>().join(", ")
    };
    out.push_str(&format!(
        "machine states (target running ≈ 88, idle ≈ 10, setup ≈ 2, fault < 1): {}\n",
        list(&r.state_shares)
    ));
    out.push_str(&format!(
        "affected sensors over the window (guideline normal ≈ 80, warning ≈ 15, critical ≈ 5): {}\n",
        list(&r.band_shares_window)
    ));
    out.push_str(&format!("affected sensors during their episodes: {}\n", list(&r.band_shares)));
    out
}

/// How many of the dashboard's false alarms the table lists (JSON lists them all).
const FLAGS_LISTED: usize = 5;

/// The first of the dashboard's false alarms, one line each, and how many more there are.
fn flag_lines(flags: &[HealthyFlag]) -> String {
    let mut out: String = flags
        .iter()
        .take(FLAGS_LISTED)
        .map(|f| {
            let what = if f.detections.is_empty() { "no detection" } else { &f.detections };
            let run = f.run.as_ref().map_or(String::new(), |r| format!("{r} "));
            format!(
                "  {run}{} {} {}: {what}; sensors out of band: {} warning, {} critical\n",
                f.time, f.machine, f.status, f.sensors_warning, f.sensors_critical
            )
        })
        .collect();
    if flags.len() > FLAGS_LISTED {
        out.push_str(&format!("  … and {} more (`--format json` lists every one)\n", flags.len() - FLAGS_LISTED));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(machine: &str, onset: i64) -> Label {
        Label {
            episode_id: onset,
            machine: machine.into(),
            pattern: "bearing_failure".into(),
            onset,
            warning: onset + 10,
            critical: onset + 15,
            fault: onset + 20,
            fault_end: None,
            end: onset + 30,
            reaches_fault: true,
            affected: String::new(),
        }
    }

    #[test]
    fn the_table_lists_the_first_false_alarms_and_counts_the_rest() {
        let flag = |i: usize| HealthyFlag {
            run: None,
            time: format!("2026-03-02T0{i}:00:00Z"),
            machine: format!("MCH-00000{i}"),
            status: "WARNING".to_owned(),
            detections: "bearing_failure:WARNING".to_owned(),
            sensors_warning: 1,
            sensors_critical: 0,
        };
        assert_eq!(flag_lines(&[]), "", "no false alarm, no line");
        let two: Vec<_> = (1..=2).map(flag).collect();
        assert_eq!(
            flag_lines(&two),
            "  2026-03-02T01:00:00Z MCH-000001 WARNING: bearing_failure:WARNING; sensors out of band: 1 warning, 0 critical\n  \
             2026-03-02T02:00:00Z MCH-000002 WARNING: bearing_failure:WARNING; sensors out of band: 1 warning, 0 critical\n"
        );
        let quiet = HealthyFlag { detections: String::new(), ..flag(3) };
        assert!(flag_lines(&[quiet]).contains("MCH-000003 WARNING: no detection; sensors out of band: 1 warning"));
        let seven: Vec<_> = (1..=7).map(flag).collect();
        let text = flag_lines(&seven);
        assert_eq!(text.lines().count(), FLAGS_LISTED + 1, "{text}");
        assert!(text.ends_with("… and 2 more (`--format json` lists every one)\n"), "{text}");
    }

    #[test]
    fn scoring_counts_each_case_once() {
        let labels = [label("M1", 0)];
        let machines: BTreeSet<String> = ["M1".to_owned(), "M2".to_owned()].into();
        let times = vec![5, 15, 25, 35];
        let mut fired: BTreeMap<(i64, String), BTreeSet<String>> = BTreeMap::new();
        let mut fire =
            |t: i64, m: &str| fired.entry((t, "bearing_failure".to_owned())).or_default().insert(m.to_owned());
        fire(5, "M1"); // early: before warning
        fire(15, "M1"); // true positive
        fire(35, "M2"); // false positive
        let mine: Vec<&Label> = labels.iter().collect();
        let s = score("bearing_failure", &mine, &[], &times, &machines, &fired);
        assert_eq!((s.tp, s.fp, s.fn_, s.early), (1, 1, 1, 1), "{s:?}");
        assert_eq!((scored_episodes(&mine, &times), s.episodes_caught), (1, 1));
        assert_eq!(s.f1, Some(0.5), "F1 = 2TP / (2TP + FP + FN)");
        // Positive at 15 and 25 of four times on one applicable machine.
        assert_eq!(positive_rate(&mine, &times, 1), 0.5);
        assert_eq!(positive_rate(&mine, &times, 2), 0.25);
        assert_eq!(s.median_lead_hours, Some(15.0 / 3600.0), "lead from the first (early) detection to the fault");
        assert_eq!(s.precision, Some(0.5));
        assert_eq!(s.recall, Some(0.5));
        assert_eq!((s.fp_other_episode, s.precision_other_episodes_excluded), (0, Some(0.5)));
        // M2 drifting from 30 to 40: its false positive at 35 falls under another episode.
        let drift = Label { machine: "M2".into(), pattern: "sensor_drift".into(), ..label("M2", 30) };
        let s = score("bearing_failure", &mine, &[&drift], &times, &machines, &fired);
        assert_eq!((s.fp, s.fp_other_episode), (1, 1), "still a false positive, and one under another episode");
        assert_eq!((s.precision, s.precision_other_episodes_excluded), (Some(0.5), Some(1.0)));
        // Evaluated only at its warning time, an episode has shown nothing yet: a detection
        // then is early, and the episode is not scored.
        let at_warning = [10];
        let mut fired = BTreeMap::new();
        fired.insert((10, "bearing_failure".to_owned()), BTreeSet::from(["M1".to_owned()]));
        let s = score("bearing_failure", &mine, &[], &at_warning, &machines, &fired);
        assert_eq!((s.tp, s.early, s.fn_), (0, 1, 0), "{s:?}");
        assert_eq!(scored_episodes(&mine, &at_warning), 0);
        assert_eq!(positive_rate(&mine, &at_warning, 1), 0.0);
    }

    fn detector(tp: u64, fp: u64, fn_: u64, caught: usize, episodes: u64) -> DetectorScore {
        DetectorScore {
            tp,
            fp,
            fn_,
            episodes_caught: caught,
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
            f1: ratio(2 * tp, 2 * tp + fp + fn_),
            episode_recall: ratio(caught as u64, episodes),
            ..DetectorScore::default()
        }
    }

    #[test]
    fn tier_targets_ask_context_of_medium_patterns_only() {
        let pattern = |detectability: &str, st: DetectorScore, reference: DetectorScore| PatternScore {
            detectability: detectability.into(),
            reference,
            static_threshold: st,
            random: detector(1, 99, 99, 1, 2),
            ..PatternScore::default()
        };
        // A threshold that works: right for a high pattern, too easy for a medium one.
        let easy = || detector(95, 5, 5, 2, 2);
        assert_eq!(tier_targets_met(&pattern("high", easy(), easy())), Some(true));
        assert_eq!(tier_targets_met(&pattern("medium", easy(), easy())), Some(false), "a threshold solves it");
        // A threshold that fails where the reference detector succeeds: right for medium.
        let weak = || detector(40, 60, 60, 1, 2);
        assert_eq!(tier_targets_met(&pattern("medium", weak(), easy())), Some(true));
        assert_eq!(tier_targets_met(&pattern("high", weak(), easy())), Some(false), "dashboards must keep working");
        // The reference detector must catch nine episodes in ten.
        assert_eq!(tier_targets_met(&pattern("medium", weak(), detector(95, 5, 5, 1, 2))), Some(false));
        // Both must beat random.
        let mut p = pattern("medium", detector(1, 99, 99, 1, 2), easy());
        p.random = detector(2, 98, 98, 1, 2);
        assert_eq!(tier_targets_met(&p), Some(false), "a static rule below random fails");
        // Nothing positive to score: no verdict.
        assert_eq!(tier_targets_met(&pattern("medium", detector(0, 3, 0, 0, 0), detector(0, 0, 0, 0, 0))), None);
    }
}
