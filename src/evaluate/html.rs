//! `genims evaluate --html FILE`: the report as one self-contained HTML page — inline SVG and
//! CSS, no script, nothing fetched. Per pattern, a bar chart of the three detectors' scores
//! with the numbers; per labelled episode, the traces behind them ([`super::figures`]); the
//! dashboard's false alarms with theirs; each figure with the SQL that reproduces it. Every
//! number printed carries `data-metric="<pattern>.<detector>.<field>"` (the JSON report's
//! names), so that a reader — or a test — can hold it against `--format json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::baseline::StaticRule;
use super::figures::{AlarmFigure, EpisodeFigure, Figures, DETECTORS};
use super::svg::{self, esc, Mark, Overlay, Span, DETECTOR_COLOURS};
use super::{DetectorScore, PatternScore, Report};
use crate::clock::instant_string;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#222}\
h1{font-size:22px}h2{margin-top:36px;border-bottom:1px solid #ccc}h3{margin:22px 0 6px}\
table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}\
td:first-child,th:first-child{text-align:left}figure{margin:14px 0 26px}figcaption{margin:4px 0}\
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}.tick{font-size:10px;fill:#555}\
.name{font-size:11px;fill:#222}.mark{font-size:10px}.key span{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px}\
.note{color:#666}.row{display:flex;flex-wrap:wrap;align-items:center;gap:12px}";

/// The three detectors' fields in the JSON report.
const DETECTOR_KEYS: [&str; 3] = ["reference", "static_threshold", "random"];

/// The phases painted behind an episode's traces.
const PHASES: [(&str, &str); 4] =
    [("onset", "#fbf3d5"), ("warning", "#fde0a6"), ("critical", "#f8b49b"), ("fault", "#e57373")];

/// The whole page. `rules` are the static-threshold rules by pattern, for the SQL shown.
pub fn render(report: &Report, figures: &Figures, rules: &BTreeMap<String, StaticRule>) -> String {
    let mut s = String::with_capacity(1 << 20);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>genims evaluate {} .. {}</title><style>{STYLE}</style></head><body>\n",
        esc(&report.start),
        esc(&report.end)
    );
    s.push_str(&header(report));
    s.push_str(&scores(report, rules));
    s.push_str(&episodes(report, figures));
    s.push_str(&alarms(report, figures));
    s.push_str(&shares(report));
    s.push_str("</body></html>\n");
    s
}

fn header(r: &Report) -> String {
    let every = match r.every_s {
        0 => "at the runs' intervals".to_owned(),
        s if s % 3600 == 0 => format!("every {} h", s / 3600),
        s if s % 60 == 0 => format!("every {} min", s / 60),
        s => format!("every {s} s"),
    };
    let mut s = format!(
        "<h1>genims evaluate</h1><p>{} .. {} {every}: <span data-metric=\"evaluation_times\">{}</span> evaluation times, \
         <span data-metric=\"machines\">{}</span> machines. Ground truth from <code>fault_labels</code>; the reference detectors \
         are <code>genims_detect</code>, the static threshold <code>genims_threshold</code>, the random baseline flags at the \
         labels' positive rate.</p>\n",
        esc(&r.start),
        esc(&r.end),
        r.evaluation_times,
        r.machines
    );
    if !r.pooled_from.is_empty() {
        let _ = writeln!(s, "<p>Pooled from {} reports: {}.</p>", r.pooled_from.len(), esc(&r.pooled_from.join(", ")));
    }
    s
}

/// A ratio for a table cell, tagged with its JSON path.
fn cell(metric: String, v: Option<f64>) -> String {
    let text = v.map_or("–".to_owned(), |v| format!("{v:.3}"));
    format!("<td data-metric=\"{}\">{text}</td>", esc(&metric))
}

fn detector(p: &PatternScore, k: usize) -> &DetectorScore {
    [&p.reference, &p.static_threshold, &p.random][k]
}

/// A bar chart and a table per pattern.
fn scores(r: &Report, rules: &BTreeMap<String, StaticRule>) -> String {
    let mut s = String::from("<h2>Scores by pattern</h2>\n<p class=\"key\">");
    for (name, colour) in DETECTORS.iter().zip(DETECTOR_COLOURS) {
        let _ = write!(s, "<span style=\"background:{colour}\"></span>{name}");
    }
    s.push_str(
        "</p><p class=\"note\">Per (machine, evaluation time), without point adjustment; episode recall counts an episode \
         caught when a detector flags its machine at any evaluation time from onset to end.</p>\n",
    );
    s.push_str(&overview(r));
    let metrics = ["precision", "recall", "f1", "episode_recall"];
    for p in &r.patterns {
        let values: Vec<[Option<f64>; 3]> =
            metrics.iter().map(|m| std::array::from_fn(|k| field(detector(p, k), m))).collect();
        let _ = write!(
            s,
            "<section class=\"pattern\" id=\"pattern-{0}\"><h3>{0}</h3><p>{1} detectability; episodes scored: <span data-metric=\"{0}.episodes\">{2}</span>. \
             Static rule: {3}.</p>\n<div class=\"row\">{4}\n",
            esc(&p.pattern),
            esc(&p.detectability),
            p.episodes,
            esc(&p.static_rule),
            svg::bars(&p.pattern, &["precision", "recall", "F1", "episodes"], &values)
        );
        s.push_str(&score_table(p, &metrics));
        s.push_str("</div>");
        s.push_str(&sql_details(&bars_sql(r, p, rules.get(&p.pattern))));
        s.push_str("</section>\n");
    }
    s
}

/// One line per pattern: its episodes, each detector's F1, and the verdicts.
fn overview(r: &Report) -> String {
    let mut s = String::from(
        "<table class=\"overview\"><tr><th>pattern</th><th>detectability</th><th>episodes</th><th>F1 reference</th>\
         <th>F1 static threshold</th><th>F1 random</th><th>episode recall</th><th>tier targets</th></tr>",
    );
    for p in &r.patterns {
        let _ = write!(
            s,
            "<tr><td><a href=\"#pattern-{0}\">{0}</a></td><td>{1}</td><td data-metric=\"{0}.episodes\">{2}</td>",
            esc(&p.pattern),
            esc(&p.detectability),
            p.episodes
        );
        for (k, key) in DETECTOR_KEYS.iter().enumerate() {
            s.push_str(&cell(format!("{}.{key}.f1", p.pattern), detector(p, k).f1));
        }
        s.push_str(&cell(format!("{}.reference.episode_recall", p.pattern), p.reference.episode_recall));
        let verdict = match p.meets_tier_targets {
            Some(true) => "met",
            Some(false) => "not met",
            None => "–",
        };
        let _ = write!(s, "<td>{verdict}</td></tr>");
    }
    s.push_str("</table>\n");
    s
}

fn field(d: &DetectorScore, metric: &str) -> Option<f64> {
    match metric {
        "precision" => d.precision,
        "recall" => d.recall,
        "f1" => d.f1,
        "episode_recall" => d.episode_recall,
        "median_lead_hours" => d.median_lead_hours,
        _ => None,
    }
}

fn score_table(p: &PatternScore, metrics: &[&str]) -> String {
    let mut s = String::from("<table><tr><th>detector</th>");
    for m in metrics.iter().chain(&["median_lead_hours"]) {
        let _ = write!(s, "<th>{}</th>", m.replace('_', " "));
    }
    s.push_str("<th>caught</th></tr>");
    for (k, key) in DETECTOR_KEYS.iter().enumerate() {
        let d = detector(p, k);
        let _ = write!(s, "<tr><td>{}</td>", DETECTORS[k]);
        for m in metrics.iter().chain(&["median_lead_hours"]) {
            s.push_str(&cell(format!("{}.{key}.{m}", p.pattern), field(d, m)));
        }
        let _ =
            write!(s, "<td data-metric=\"{}.{key}.episodes_caught\">{}</td></tr>", esc(&p.pattern), d.episodes_caught);
    }
    s.push_str("</table>\n");
    s
}

/// What `evaluate` ran at each evaluation time for a pattern's bars.
fn bars_sql(r: &Report, p: &PatternScore, rule: Option<&StaticRule>) -> String {
    let every = if r.every_s == 0 { "each run's interval".to_owned() } else { format!("{} seconds", r.every_s) };
    let mut s = format!(
        "-- At each evaluation time t from {} to {}, every {every}, against fault_labels:\n\
         -- reference: the machines whose detections name {}\n\
         SELECT machine_id, detections FROM genims_machine_health(t);\n",
        r.start, r.end, p.pattern
    );
    if let Some(rule) = rule {
        let sensor = rule.sensor.map_or("NULL".to_owned(), |n| format!("'{n}'"));
        let _ = write!(
            s,
            "-- static threshold: {}\nSELECT machine_id FROM genims_threshold({sensor}, '{}', t);\n",
            p.static_rule, rule.direction
        );
    }
    s
}

fn sql_details(sql: &str) -> String {
    format!("<details><summary>SQL</summary><pre>{}</pre></details>\n", esc(sql))
}

fn when(t: i64) -> String {
    instant_string(t).replace('T', " ").trim_end_matches('Z').to_owned()
}

/// One figure per labelled episode, by pattern.
fn episodes(r: &Report, f: &Figures) -> String {
    let mut s = String::from("<h2>Episodes</h2>\n");
    if !r.pooled_from.is_empty() {
        s.push_str("<p class=\"note\">A pooled report has no database to draw traces from: run <code>evaluate --html</code> on each database.</p>\n");
        return s;
    }
    let _ =
        write!(s, "<p><span data-metric=\"episodes_drawn\">{}</span> labelled episodes. Phases: ", f.episodes.len());
    s.push_str("<span class=\"key\">");
    for (name, colour) in PHASES {
        let _ = write!(s, "<span style=\"background:{colour}\"></span>{name}");
    }
    s.push_str("</span>. Each sensor: the mean of each bucket within its min–max band; warning limits dashed, critical solid. Under the panels, the evaluation times each detector flagged the machine for the pattern.</p>\n");
    let mut pattern = "";
    for e in &f.episodes {
        if e.pattern != pattern {
            pattern = &e.pattern;
            let _ = writeln!(s, "<h3 id=\"episodes-{0}\">{0}</h3>", esc(pattern));
        }
        s.push_str(&episode(e));
    }
    s
}

fn episode(e: &EpisodeFigure) -> String {
    let fault_end = e.fault_end.unwrap_or(e.end);
    let spans: Vec<Span> = vec![
        (e.onset, e.warning, PHASES[0].1, "onset"),
        (e.warning, e.critical, PHASES[1].1, "warning"),
        (e.critical, e.fault, PHASES[2].1, "critical"),
        (e.fault, if e.reaches_fault { fault_end } else { e.fault }, PHASES[3].1, "fault"),
    ];
    let mut marks: Vec<Mark> = Vec::new();
    let mut said = Vec::new();
    for (k, name) in DETECTORS.iter().enumerate() {
        match e.caught(k) {
            Some((t, lead)) => {
                let before = lead.map_or(String::new(), |h| format!(", {h:.1} h before the fault"));
                said.push(format!("{name} caught it at {}{before}", when(t)));
                if k == 0 {
                    let label = lead.map_or("caught".to_owned(), |h| format!("caught, {h:.1} h lead"));
                    marks.push((t, DETECTOR_COLOURS[0], label));
                }
            }
            None => said.push(format!("{name} missed it")),
        }
    }
    let rows: Vec<(&str, &str, &[i64])> =
        (0..3).map(|k| (DETECTORS[k], DETECTOR_COLOURS[k], e.flags[k].as_slice())).collect();
    let svg = svg::trace_figure(
        "trace",
        &e.episode_id.to_string(),
        e.from,
        e.to,
        &e.traces,
        &Overlay { spans: &spans, marks: &marks, rows: &rows },
    );
    let scored = if e.scored {
        String::new()
    } else {
        " Not scored: no evaluation time falls in its warning-to-end stretch.".to_owned()
    };
    format!(
        "<figure id=\"episode-{}\" data-pattern=\"{}\" data-scored=\"{}\">{svg}<figcaption>Episode {} on {}: onset {}, warning {}, critical {}, {}, end {}. {}.{scored}</figcaption>{}</figure>\n",
        e.episode_id,
        esc(&e.pattern),
        e.scored,
        e.episode_id,
        esc(&e.machine),
        when(e.onset),
        when(e.warning),
        when(e.critical),
        if e.reaches_fault { format!("fault {}", when(e.fault)) } else { "no fault (cleared or ended first)".to_owned() },
        when(e.end),
        esc(&said.join("; ")),
        sql_details(&e.sql)
    )
}

/// The dashboard's false alarms: a table of all, a figure of the first.
fn alarms(r: &Report, f: &Figures) -> String {
    let mut s = format!(
        "<h2>The dashboard's false alarms</h2><p>Healthy machines (no episode under way) that <code>machine_health_dashboard</code> \
         flagged WARNING or CRITICAL: worst <span data-metric=\"healthy_flagged_max\">{:.3}</span>, mean \
         <span data-metric=\"healthy_flagged_mean\">{:.3}</span> of the healthy machines at an evaluation time; \
         <span data-metric=\"healthy_flagged_count\">{}</span> in all.</p>\n",
        r.healthy_flagged_max,
        r.healthy_flagged_mean,
        r.healthy_flagged.len()
    );
    if r.healthy_flagged.is_empty() {
        return s;
    }
    s.push_str("<table><tr><th>time</th><th>machine</th><th>status</th><th>detections</th><th>sensors warning</th><th>sensors critical</th></tr>");
    for a in &r.healthy_flagged {
        let run = a.run.as_ref().map_or(String::new(), |r| format!("{r}: "));
        let _ = write!(
            s,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&run),
            esc(&a.time),
            esc(&a.machine),
            esc(&a.status),
            esc(&a.detections),
            a.sensors_warning,
            a.sensors_critical
        );
    }
    s.push_str("</table>\n");
    if f.alarms.len() < r.healthy_flagged.len() && r.pooled_from.is_empty() {
        let _ = writeln!(s, "<p class=\"note\">The first {} are drawn.</p>", f.alarms.len());
    }
    for a in &f.alarms {
        s.push_str(&alarm(a));
    }
    s
}

fn alarm(a: &AlarmFigure) -> String {
    let marks: Vec<Mark> = vec![(a.at, "#c62828", a.flag.status.clone())];
    let id = format!("{} {}", a.flag.machine, a.flag.time);
    let svg =
        svg::trace_figure("alarm", &id, a.from, a.to, &a.traces, &Overlay { spans: &[], marks: &marks, rows: &[] });
    let what =
        if a.flag.detections.is_empty() { "sensors out of band only".to_owned() } else { a.flag.detections.clone() };
    format!(
        "<figure class=\"false-alarm\">{svg}<figcaption>{} flagged {} at {}: {}.</figcaption>{}</figure>\n",
        esc(&a.flag.machine),
        esc(&a.flag.status),
        when(a.at),
        esc(&what),
        sql_details(&a.sql)
    )
}

fn shares(r: &Report) -> String {
    let mut s =
        String::from("<h2>Machine states and bands</h2><table><tr><th>share of</th><th>value</th><th>%</th></tr>");
    for (title, map) in [
        ("SCADA records in state", &r.state_shares),
        ("affected sensors' readings over the window", &r.band_shares_window),
        ("affected sensors' readings during episodes", &r.band_shares),
    ] {
        for (k, v) in map {
            let _ = write!(s, "<tr><td>{title}</td><td>{}</td><td>{:.1}</td></tr>", esc(k), v * 100.0);
        }
    }
    s.push_str("</table>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_score_is_printed_with_its_json_path_and_a_pool_says_it_has_no_traces() {
        let mut p = PatternScore {
            pattern: "bearing_wear".into(),
            detectability: "high".into(),
            episodes: 3,
            ..Default::default()
        };
        p.reference.precision = Some(0.5);
        p.reference.episodes_caught = 2;
        let r = Report { patterns: vec![p], pooled_from: vec!["a.json".into()], ..Default::default() };
        let html = render(&r, &Figures::default(), &BTreeMap::new());
        assert!(html.contains("<td data-metric=\"bearing_wear.reference.precision\">0.500</td>"), "{html}");
        assert!(html.contains("data-metric=\"bearing_wear.reference.episodes_caught\">2<"));
        assert!(html.contains("data-metric=\"bearing_wear.random.f1\">–<"), "no value, a dash");
        assert!(html.contains("no database to draw traces from"));
        assert_eq!(html.matches("<svg class=\"bars\"").count(), 1);
        assert!(!html.contains("<script"), "no script");
    }
}
