//! `genims evaluate --pool`: one report from the JSON reports of several runs (seeds, fault
//! rates, databases), their counts summed.
//!
//! A week at the default fault rate holds one or two episodes of a pattern, a few dozen
//! positive (machine, time) pairs, so one nuisance reading moves its precision by ten points.
//! Summed over runs, the true and false positives, misses and episodes of every detector say
//! what it does; the ratios, verdicts and median lead time are derived again from the sums
//! (each report carries the lead time of every caught episode). The plant's shares (states,
//! bands) and the random baseline's rate are averaged, weighted by each run's evaluation
//! times; the dashboard's worst share is the worst of any run, and its false alarms are
//! listed with the report they come from.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::{DetectorScore, PatternScore, Report};

/// Reads a `genims evaluate --format json` report.
pub fn read(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow!("{}: not a `genims evaluate --format json` report ({e})", path.display()))
}

/// Pools `reports`, each named by where it came from.
pub fn pool(reports: Vec<(String, Report)>) -> Result<Report> {
    let Some((_, first)) = reports.first() else {
        bail!("nothing to pool: name the reports of `genims evaluate --format json`");
    };
    let same_every = reports.iter().all(|(_, r)| r.every_s == first.every_s);
    let mut out = Report {
        start: reports.iter().map(|(_, r)| r.start.clone()).min().unwrap_or_default(),
        end: reports.iter().map(|(_, r)| r.end.clone()).max().unwrap_or_default(),
        every_s: if same_every { first.every_s } else { 0 },
        machines: reports.iter().map(|(_, r)| r.machines).max().unwrap_or(0),
        ..Report::default()
    };
    let times = |r: &Report| r.evaluation_times as f64;
    let total_times: f64 = reports.iter().map(|(_, r)| times(r)).sum();
    let weight = |r: &Report| if total_times > 0.0 { times(r) / total_times } else { 0.0 };
    // Counts and weighted random rates are summed; the ratios and verdicts are derived after.
    let mut patterns: Vec<PatternScore> = Vec::new();
    for (name, r) in &reports {
        out.evaluation_times += r.evaluation_times;
        out.healthy_flagged_max = out.healthy_flagged_max.max(r.healthy_flagged_max);
        out.healthy_flagged_mean += r.healthy_flagged_mean * weight(r);
        out.healthy_flagged.extend(
            r.healthy_flagged
                .iter()
                .map(|f| super::HealthyFlag { run: Some(f.run.clone().unwrap_or_else(|| name.clone())), ..f.clone() }),
        );
        for (into, from) in [
            (&mut out.state_shares, &r.state_shares),
            (&mut out.band_shares, &r.band_shares),
            (&mut out.band_shares_window, &r.band_shares_window),
        ] {
            for (k, v) in from {
                *into.entry(k.clone()).or_default() += v * weight(r);
            }
        }
        for p in &r.patterns {
            let Some(q) = patterns.iter_mut().find(|q| q.pattern == p.pattern) else {
                patterns.push(PatternScore { random_rate: p.random_rate * weight(r), ..p.clone() });
                continue;
            };
            if q.detectability != p.detectability || q.static_rule != p.static_rule {
                bail!(
                    "{name}: {} is {} with the static rule \"{}\" here, {} with \"{}\" in an earlier report: \
                     pool reports of one fault catalogue",
                    p.pattern,
                    p.detectability,
                    p.static_rule,
                    q.detectability,
                    q.static_rule
                );
            }
            q.episodes += p.episodes;
            q.random_rate += p.random_rate * weight(r);
            add(&mut q.reference, &p.reference);
            add(&mut q.static_threshold, &p.static_threshold);
            add(&mut q.random, &p.random);
        }
        out.pooled_from.push(name.clone());
    }
    for p in &mut patterns {
        for d in [&mut p.reference, &mut p.static_threshold, &mut p.random] {
            d.finish(p.episodes as u64);
        }
        p.judge();
    }
    out.patterns = patterns;
    Ok(out)
}

/// Adds `b`'s counts and lead times to `a` (the ratios are derived later).
fn add(a: &mut DetectorScore, b: &DetectorScore) {
    a.episodes_caught += b.episodes_caught;
    a.tp += b.tp;
    a.fp += b.fp;
    a.fn_ += b.fn_;
    a.early += b.early;
    a.fp_other_episode += b.fp_other_episode;
    a.lead_hours.extend(&b.lead_hours);
}

/// `genims evaluate --pool FILE...`: prints the pooled report, and returns it.
pub fn run(files: &[std::path::PathBuf], format: crate::cli::EvaluateFormat) -> Result<Report> {
    let reports = files.iter().map(|f| Ok((f.display().to_string(), read(f)?))).collect::<Result<Vec<_>>>()?;
    let report = pool(reports)?;
    match format {
        crate::cli::EvaluateFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        crate::cli::EvaluateFormat::Table => print!("{}", super::table(&report)),
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(tp: u64, fp: u64, fn_: u64, caught: usize, leads: &[f64]) -> DetectorScore {
        let mut d =
            DetectorScore { tp, fp, fn_, episodes_caught: caught, lead_hours: leads.to_vec(), ..Default::default() };
        d.finish(1);
        d
    }

    fn report(bearing_static: DetectorScore, times: usize, running: f64) -> Report {
        let mut p = PatternScore {
            pattern: "bearing_failure".into(),
            detectability: "high".into(),
            episodes: 1,
            reference: detector(6, 0, 0, 1, &[40.0]),
            static_rule: "Spindle Bearing Vibration above its warning limit".into(),
            static_threshold: bearing_static,
            random_rate: 0.01,
            random: detector(0, 3, 6, 0, &[]),
            ..Default::default()
        };
        p.judge();
        Report {
            start: "2026-03-02T00:00:00Z".into(),
            end: "2026-03-08T00:00:00Z".into(),
            every_s: 3600,
            evaluation_times: times,
            machines: 228,
            patterns: vec![p],
            healthy_flagged_max: 0.0045,
            healthy_flagged_mean: 0.0002,
            state_shares: [("running".to_owned(), running), ("idle".to_owned(), 1.0 - running)].into(),
            ..Default::default()
        }
    }

    #[test]
    fn pooling_sums_the_counts_and_judges_again() {
        // One week: 5 true flags, one nuisance reading, one miss — 83 % precision, a miss
        // of the high tier's 90 %. Two weeks more with 40 true flags each and nothing false.
        let week = report(detector(5, 1, 1, 1, &[30.0]), 145, 0.9);
        assert_eq!(week.patterns[0].meets_tier_targets, Some(false));
        let good = || report(detector(40, 0, 2, 1, &[50.0]), 145, 0.8);
        let pooled = pool(vec![("a.json".into(), week), ("b.json".into(), good()), ("c.json".into(), good())]).unwrap();
        let p = &pooled.patterns[0];
        let st = &p.static_threshold;
        assert_eq!((p.episodes, st.tp, st.fp, st.fn_, st.episodes_caught), (3, 85, 1, 5, 3));
        assert_eq!(st.precision, Some(85.0 / 86.0));
        assert_eq!(st.f1, Some(170.0 / 176.0));
        assert_eq!(st.episode_recall, Some(1.0));
        assert_eq!(st.lead_hours, vec![30.0, 50.0, 50.0]);
        assert_eq!(st.median_lead_hours, Some(50.0));
        assert_eq!(p.meets_tier_targets, Some(true), "three weeks judge the rule: {p:?}");
        assert_eq!(p.reference.tp, 18);
        assert!((p.random_rate - 0.01).abs() < 1e-12);
        assert_eq!((pooled.evaluation_times, pooled.machines), (435, 228));
        assert_eq!(pooled.pooled_from, ["a.json", "b.json", "c.json"]);
        assert!((pooled.state_shares["running"] - (0.9 + 0.8 + 0.8) / 3.0).abs() < 1e-12);
        assert_eq!(pooled.healthy_flagged_max, 0.0045, "the worst time of any run");
    }

    #[test]
    fn the_flags_name_their_run_and_the_text_keeps_what_a_pooled_report_is() {
        let mut a = report(detector(1, 0, 0, 1, &[]), 10, 0.9);
        a.healthy_flagged.push(super::super::HealthyFlag {
            run: None,
            time: "2026-03-02T01:00:00Z".into(),
            machine: "MCH-000001".into(),
            status: "WARNING".into(),
            detections: String::new(),
            sensors_warning: 1,
            sensors_critical: 0,
        });
        let pooled = pool(vec![("seed7.json".into(), a)]).unwrap();
        assert_eq!(pooled.healthy_flagged[0].run.as_deref(), Some("seed7.json"));
        let json = serde_json::to_string(&pooled).unwrap();
        let again: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(again.pooled_from, ["seed7.json"], "a pooled report reads back");
        assert_eq!(again.patterns[0].static_threshold.tp, 1);
        let text = super::super::table(&pooled);
        assert!(text.contains("pooled from 1 report: seed7.json"), "{text}");
        assert!(text.contains("seed7.json 2026-03-02T01:00:00Z MCH-000001 WARNING"), "{text}");
    }

    #[test]
    fn reports_of_different_catalogues_are_refused() {
        let a = report(detector(1, 0, 0, 1, &[]), 10, 0.9);
        let mut b = report(detector(1, 0, 0, 1, &[]), 10, 0.9);
        b.patterns[0].detectability = "medium".into();
        let err = pool(vec![("a.json".into(), a), ("b.json".into(), b)]).unwrap_err().to_string();
        assert!(err.starts_with("b.json: bearing_failure is medium"), "{err}");
        assert!(pool(Vec::new()).unwrap_err().to_string().starts_with("nothing to pool"));
    }

    #[test]
    fn a_file_that_is_not_a_report_is_one_clear_line() {
        let dir = std::env::temp_dir().join(format!("genims-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"start\": 1}").unwrap();
        let err = read(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.json: not a `genims evaluate --format json` report"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = read(&dir.join("missing.json")).unwrap_err().to_string();
        assert!(err.starts_with("cannot read ") && err.contains("missing.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
