//! Live fault injections as data: the journal entries that the stream's control plane
//! appends (`inject`, `clear`) and `genims backfill --injections` replays, the checks an
//! injection must pass, and the episodes the entries make in the engine.
//!
//! An injected episode is an ordinary [`Episode`] — its parameters drawn from
//! (seed, "injection", id) the way a catalogue episode's are, its length and severity fixed
//! when the request gives them — so it takes the catalogue's path through the engine:
//! signatures, states, machine_faults, maintenance_events and a fault label (marked
//! `"source": "injected"`). Catalogue episodes that would start during it give way; one
//! already under way is a conflict. Replaying the same journal gives the same episodes, so
//! a stream with injections is reproduced by a backfill of the journal.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::episodes::Episode;
use super::Engine;
use crate::clock::{duration_text, instant_string, parse_instant, HOUR, SCADA_STEP};

/// Injected episode ids start here, far above the catalogue's (epoch × machines + machine).
pub const ID_BASE: i64 = 1 << 40;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    /// An episode of `pattern` on `machine_id` from `at` (its onset).
    Inject {
        id: i64,
        machine_id: String,
        pattern: String,
        at: String,
        /// The degradation's length in seconds (drawn when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_s: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<String>,
        /// The client's idempotency key, if it gave one: a request repeated with it finds
        /// this entry instead of injecting again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Injected episode `id` ends at `at`: the machine is repaired — at once when another
    /// injection `replaced` it.
    Clear {
        id: i64,
        at: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replaced: bool,
    },
}

/// Why an injection or a clear is refused (the control plane's status codes follow).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// An unknown machine, pattern or episode: 404.
    NotFound(String),
    /// A request the catalogue does not allow: 400.
    Invalid(String),
    /// The machine is in another episode: 409.
    Conflict(String),
    /// An idempotency key already used for another request: 422.
    KeyReused(String),
    /// The journal could not be written: 500.
    Failed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound(m)
            | Refusal::Invalid(m)
            | Refusal::Conflict(m)
            | Refusal::KeyReused(m)
            | Refusal::Failed(m) => f.write_str(m),
        }
    }
}

/// The next whole minute at or after `t`.
pub fn ceil_minute(t: i64) -> i64 {
    t + (SCADA_STEP - t.rem_euclid(SCADA_STEP)) % SCADA_STEP
}

/// A corrective repair after a clear: 30 to 60 minutes, drawn from the episode's id.
fn repair_after_clear(seed: u64, id: i64) -> i64 {
    use rand::Rng as _;
    let mut r = crate::rng::stream(seed, &[crate::rng::label("injection-clear"), id as u64]);
    r.random_range(30..=60) * 60
}

impl Engine {
    /// The injected episodes in effect in this engine.
    pub fn injected(&self) -> Arc<Vec<Episode>> {
        Arc::clone(&self.injected.read().expect("injections are never poisoned"))
    }

    /// Makes the episodes of a whole journal (in order), checking each entry as the
    /// control plane does; replaces the engine's injected episodes only if all pass.
    pub fn apply_injections(&self, entries: &[Entry]) -> std::result::Result<(), Refusal> {
        let mut eps: Vec<Episode> = Vec::new();
        for e in entries {
            self.apply_one(&mut eps, e)?;
        }
        *self.injected.write().expect("injections are never poisoned") = Arc::new(eps);
        Ok(())
    }

    fn apply_one(&self, eps: &mut Vec<Episode>, entry: &Entry) -> std::result::Result<(), Refusal> {
        match entry {
            Entry::Inject { id, machine_id, pattern, at, duration_s, severity, .. } => {
                let at = parse_instant(at).map_err(|e| Refusal::Invalid(format!("at: {e}")))?;
                let ep = self.injection(*id, machine_id, pattern, ceil_minute(at), *duration_s, severity.as_deref())?;
                // An hour apart, as catalogue episodes are; a cleared one makes room at once.
                let gap = |o: &Episode| if o.cleared_at.is_some() { 0 } else { HOUR };
                if let Some(other) = eps
                    .iter()
                    .find(|o| o.machine == ep.machine && o.onset < ep.end() + gap(o) && ep.onset < o.end() + gap(o))
                {
                    return Err(Refusal::Conflict(format!(
                        "{machine_id} is in injected episode {} from {} to {}: clear it, or ask to replace it",
                        other.id,
                        instant_string(other.onset),
                        instant_string(other.end())
                    )));
                }
                let source = self.episodes().with_injected(Arc::new(eps.clone()));
                if let Some(c) = source.catalogue_conflict(ep.machine, ep.onset) {
                    return Err(Refusal::Conflict(format!(
                        "{machine_id} is in catalogue episode {} ({}) from {} to {} (or within the hour after it): \
                         inject at {} or later",
                        c.id,
                        self.catalogue.patterns[c.pattern].name,
                        instant_string(c.onset),
                        instant_string(c.end()),
                        instant_string(c.end() + HOUR)
                    )));
                }
                eps.push(ep);
                Ok(())
            }
            Entry::Clear { id, at, replaced } => {
                let at = ceil_minute(parse_instant(at).map_err(|e| Refusal::Invalid(format!("at: {e}")))?);
                let i = eps
                    .iter()
                    .position(|e| e.id == *id)
                    .ok_or_else(|| Refusal::NotFound(format!("no injected episode {id}")))?;
                let repair = if *replaced { 0 } else { repair_after_clear(self.seed, *id) };
                if !eps[i].clear(at, repair) {
                    eps.remove(i);
                }
                Ok(())
            }
        }
    }

    /// The episode of one injection, after the catalogue's checks.
    fn injection(
        &self,
        id: i64,
        machine_id: &str,
        pattern: &str,
        at: i64,
        duration_s: Option<i64>,
        severity: Option<&str>,
    ) -> std::result::Result<Episode, Refusal> {
        let m = self
            .plant
            .machines
            .iter()
            .position(|mc| mc.id == machine_id)
            .ok_or_else(|| Refusal::NotFound(format!("no machine {machine_id}")))?;
        let pi =
            self.catalogue.patterns.iter().position(|p| p.name == pattern || p.code == pattern).ok_or_else(|| {
                let known: Vec<&str> = self.catalogue.patterns.iter().map(|p| p.name.as_str()).collect();
                Refusal::NotFound(format!("no fault pattern {pattern} (known: {})", known.join(", ")))
            })?;
        let p = &self.catalogue.patterns[pi];
        let ty = self.plant.machines[m].machine_type;
        if !p.applies_to(ty) {
            return Err(Refusal::Invalid(format!("{pattern} does not apply to {machine_id}, a {ty}")));
        }
        if let Some(d) = duration_s {
            let (lo, hi) = ((p.duration.min_hours * 3600.0) as i64, (p.duration.max_hours * 3600.0).ceil() as i64);
            if d < lo || d > hi {
                return Err(Refusal::Invalid(format!(
                    "duration {}: {pattern} lasts {} to {} hours",
                    duration_text(d),
                    p.duration.min_hours,
                    p.duration.max_hours
                )));
            }
        }
        if let Some(s) = severity {
            let allowed = p.severities();
            if !allowed.contains(&s) {
                return Err(Refusal::Invalid(format!("severity {s}: {pattern} has {}", allowed.join(", "))));
            }
        }
        Ok(self.episodes().injected_episode(id, m, pi, at, duration_s, severity))
    }
}

/// Reads a journal: one JSON entry per line (blank lines skipped).
pub fn read_journal(path: &Path) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read injection journal {}: {e}", path.display())),
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: Entry = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}:{}: not an injection journal entry: {e}", path.display(), n + 1))?;
        out.push(e);
    }
    Ok(out)
}

/// A journal's entries as the sinks see them (PostgreSQL keeps a copy with its commits).
pub type SharedEntries = Arc<std::sync::RwLock<Vec<Entry>>>;

/// The stream's journal file, appended to and flushed to disk before an injection is
/// acknowledged.
pub struct Journal {
    path: PathBuf,
    pub entries: Vec<Entry>,
    shared: SharedEntries,
}

impl Journal {
    /// The journal of stream `name` in `state_dir` (empty when there is none yet).
    pub fn open(state_dir: &Path, name: &str) -> Result<Journal> {
        let path = state_dir.join(format!("{name}.injections.jsonl"));
        let entries = read_journal(&path)?;
        let shared = Arc::new(std::sync::RwLock::new(entries.clone()));
        Ok(Journal { path, entries, shared })
    }

    /// The entries, kept current, for the sinks.
    pub fn shared(&self) -> SharedEntries {
        Arc::clone(&self.shared)
    }

    /// Takes in the entries a destination kept (PostgreSQL) when they extend this journal
    /// (its file was lost or is behind); refuses two histories that disagree.
    pub fn adopt(&mut self, kept: &[Entry], source: &str) -> Result<usize> {
        let n = self.entries.len().min(kept.len());
        if self.entries[..n] != kept[..n] {
            anyhow::bail!(
                "the injection journal {} and the one {source} keeps disagree (entry {} differs): \
                 remove the one that belongs to another run",
                self.path.display(),
                (0..n).find(|&i| self.entries[i] != kept[i]).map_or(n, |i| i + 1)
            );
        }
        if kept.len() <= self.entries.len() {
            return Ok(0);
        }
        let missing = kept[self.entries.len()..].to_vec();
        self.append(&missing)?;
        Ok(missing.len())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id the next injection gets.
    pub fn next_id(&self) -> i64 {
        let last =
            self.entries.iter().filter_map(|e| if let Entry::Inject { id, .. } = e { Some(*id) } else { None }).max();
        last.map_or(ID_BASE + 1, |i| i + 1)
    }

    /// Appends entries durably (written and fsynced) and keeps them.
    pub fn append(&mut self, new: &[Entry]) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot open injection journal {}", self.path.display()))?;
        let mut text = String::new();
        for e in new {
            text += &serde_json::to_string(e).expect("entries serialize");
            text.push('\n');
        }
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.entries.extend_from_slice(new);
        self.shared.write().expect("never poisoned").extend_from_slice(new);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_as_json_lines() {
        let e = Entry::Inject {
            id: ID_BASE + 1,
            machine_id: "MCH-000017".into(),
            pattern: "bearing_failure".into(),
            at: "2026-03-05T00:10:00Z".into(),
            duration_s: Some(7200),
            severity: None,
            key: Some("retry-1".into()),
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.starts_with("{\"op\":\"inject\""), "{line}");
        assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), e);
        let c: Entry = serde_json::from_str("{\"op\":\"clear\",\"id\":5,\"at\":\"2026-03-05T01:00:00Z\"}").unwrap();
        assert_eq!(c, Entry::Clear { id: 5, at: "2026-03-05T01:00:00Z".into(), replaced: false });
    }

    /// Label rows of one machine's day: (episode id, fault time, release instant).
    #[derive(Default)]
    struct Labels(Vec<(String, String, i64)>);

    impl crate::rows::Emit for Labels {
        fn emit<R: crate::rows::Row>(&mut self, row: &R, at: i64) {
            if R::TABLE == crate::rows::Table::FaultLabels {
                let mut buf = Vec::new();
                crate::encode::encode(crate::encode::Format::Jsonl, row, &mut buf);
                let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
                self.0.push((v["episode_id"].to_string(), v["fault_time"].as_str().unwrap().to_owned(), at));
            }
        }
    }

    fn day_labels(engine: &Engine, m: usize, day: i64) -> Vec<(String, String, i64)> {
        let counters = engine.counters_of(&[m], day, &Default::default());
        let mut run = crate::sim::unit::DayRun::new(
            engine,
            crate::sim::unit::UnitSpec::new(m, day, (day, day + crate::clock::DAY)),
            counters[0],
        );
        let mut out = Labels::default();
        run.run_until(day + crate::clock::DAY, &mut out);
        out.0
    }

    /// A stream applies a clear at a minute it has not generated yet, so an episode a clear
    /// ends at once (after its trip) is labelled at the clear, not in the minute before.
    #[test]
    fn an_episode_cleared_after_its_trip_is_labelled_at_the_clear() {
        let engine = crate::sim::seed_7_engine_at(0.0);
        let m = engine.plant.machines.iter().position(|mc| mc.machine_type == "cnc_lathe").unwrap();
        let day = crate::clock::days_from_civil(2026, 3, 5) * crate::clock::DAY;
        let inject = Entry::Inject {
            id: ID_BASE + 1,
            machine_id: engine.plant.machines[m].id.clone(),
            pattern: "coolant_failure".into(),
            at: instant_string(day + 6 * HOUR),
            duration_s: Some(900),
            severity: None,
            key: None,
        };
        engine.apply_injections(std::slice::from_ref(&inject)).unwrap();
        let labels = day_labels(&engine, m, day);
        let [(id, fault, _)] = labels.as_slice() else { panic!("one label: {labels:?}") };
        assert_eq!(id, &(ID_BASE + 1).to_string());
        let c = parse_instant(fault).unwrap() + SCADA_STEP;
        let clear = Entry::Clear { id: ID_BASE + 1, at: instant_string(c), replaced: false };
        engine.apply_injections(&[inject, clear]).unwrap();
        let labels = day_labels(&engine, m, day);
        let [(_, _, at)] = labels.as_slice() else { panic!("one label: {labels:?}") };
        assert_eq!(*at, c, "the label is released at the clear, {}", instant_string(c));
    }
}
