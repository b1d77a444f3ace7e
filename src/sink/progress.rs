//! A stream's progress kept in a small file beside its spool, for destinations without a
//! transaction to hold it (Kafka, MQTT): written atomically, and only after every record
//! before it was acknowledged, so a restart regenerates at most what was not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::Progress;
use crate::sim::unit::Counters;

/// A stream's progress file, written only when the progress moves: the parts of a large
/// plant's tick are committed one by one with the progress at the tick's start, which the
/// file already holds (at ×1000 it names 228,000 machines' counters).
#[derive(Debug)]
pub struct ProgressFile {
    path: PathBuf,
    /// The progress last written: `through` and the counters' instant.
    saved: Option<(i64, Option<i64>)>,
}

impl ProgressFile {
    pub fn new(path: PathBuf) -> ProgressFile {
        ProgressFile { path, saved: None }
    }

    /// Writes `progress` unless it is the one last written.
    pub fn save(&mut self, progress: &Progress) -> Result<()> {
        let key = (progress.through, progress.counters.as_ref().map(|(at, _)| *at));
        if self.saved != Some(key) {
            save(&self.path, progress)?;
            self.saved = Some(key);
        }
        Ok(())
    }

    /// As [`load`].
    pub fn load(&self, stream: &str, sink: &str) -> Result<Option<Progress>> {
        load(&self.path, stream, sink)
    }
}

/// Writes `progress` to `path` (atomically).
pub fn save(path: &Path, progress: &Progress) -> Result<()> {
    let counters = progress.counters.as_ref().map(|(at, map)| {
        let m: serde_json::Map<String, serde_json::Value> =
            map.iter().map(|(id, c)| (id.clone(), serde_json::json!([c.parts, c.energy_kwh]))).collect();
        serde_json::json!({ "at": at, "machines": m })
    });
    let doc = serde_json::json!({
        "stream": progress.stream,
        "through": progress.through,
        "through_utc": crate::clock::instant_string(progress.through),
        "counters": counters,
    });
    let mut f = crate::output::atomic::AtomicFile::create(path)?;
    f.write_all(doc.to_string().as_bytes())?;
    f.commit()
}

/// Reads `stream`'s progress from `path`, if the file exists; `sink` names the destination
/// in the message about a damaged file.
pub fn load(path: &Path, stream: &str, sink: &str) -> Result<Option<Progress>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    let bad = || anyhow!("{} is damaged; delete it to start the {sink} stream afresh", path.display());
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
    let through = doc["through"].as_i64().ok_or_else(bad)?;
    let counters = match doc["counters"].as_object() {
        Some(c) => {
            let at = c.get("at").and_then(|v| v.as_i64()).ok_or_else(bad)?;
            let mut map = BTreeMap::new();
            for (id, v) in c.get("machines").and_then(|v| v.as_object()).ok_or_else(bad)? {
                let parts = v[0].as_i64().ok_or_else(bad)?;
                let energy_kwh = v[1].as_f64().ok_or_else(bad)?;
                map.insert(id.clone(), Counters { parts, energy_kwh });
            }
            Some((at, Arc::new(map)))
        }
        None => None,
    };
    Ok(Some(Progress { stream: stream.to_owned(), through, counters }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_round_trip_and_a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iot.mqtt-progress.json");
        assert_eq!(load(&path, "iot", "MQTT").unwrap(), None, "no file: no progress");
        let mut machines = BTreeMap::new();
        machines.insert("MCH-001".to_owned(), Counters { parts: 12, energy_kwh: 3.5 });
        let p = Progress {
            stream: "iot".into(),
            through: 1_772_323_200,
            counters: Some((1_772_320_000, Arc::new(machines))),
        };
        save(&path, &p).unwrap();
        assert_eq!(load(&path, "iot", "MQTT").unwrap(), Some(p.clone()));
        // Saved again unmoved (a tick's later part), the file is not written.
        let mut file = ProgressFile::new(path.clone());
        file.save(&p).unwrap();
        std::fs::write(&path, "{}").unwrap();
        file.save(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}", "an unmoved progress is not written again");
        let moved = Progress { through: p.through + 10, ..p.clone() };
        file.save(&moved).unwrap();
        assert_eq!(load(&path, "iot", "MQTT").unwrap(), Some(moved), "a moved progress is written");
        std::fs::write(&path, "{").unwrap();
        let err = load(&path, "iot", "MQTT").unwrap_err().to_string();
        assert!(err.contains("is damaged; delete it to start the MQTT stream afresh"), "{err}");
    }
}
