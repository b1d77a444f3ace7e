//! What a run asks for, as backfill and stream both read it: the window from `--days`,
//! `--start` and `--end`, the shard from `--shard` or the environment orchestrators set, each
//! checked against the plant. The engine takes the typed result ([`crate::sim::scope`]); the
//! messages here name the flags and variables, so a window or a shard means the same thing
//! (and is refused with the same line) in either command.

use anyhow::{anyhow, bail, Result};

use crate::clock::{date_string, day_number, DAY};
use crate::config::Config;
use crate::faults::Catalogue;
use crate::sim::scope::{floor_minute, Shard, MAX_DAYS};
use crate::sim::Engine;

/// The shard a process runs, from its flag and its environment — a pure function of
/// both, so that orchestrators pick shards without a coordinator:
///
/// 1. `--shard i/n`;
/// 2. `GENIMS_SHARD=i/n` (a systemd template unit passes its instance, `2-of-4`);
/// 3. `GENIMS_SHARD_COUNT=n` with a 0-based index from `JOB_COMPLETION_INDEX` (a
///    Kubernetes Indexed Job), else `GENIMS_SHARD_INDEX` (a StatefulSet's
///    `apps.kubernetes.io/pod-index` label through the downward API), else the ordinal
///    that ends the pod's `HOSTNAME` (`genims-stream-3`);
/// 4. the whole plant.
pub fn shard(flag: Option<Shard>, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
    if let Some(f) = flag {
        return Ok(f);
    }
    let get = |k: &str| env(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(s) = get("GENIMS_SHARD") {
        return Shard::parse(&s).map_err(|_| anyhow!("GENIMS_SHARD={s}: expected i/n (or i-of-n) with 1 <= i <= n"));
    }
    let Some(count) = get("GENIMS_SHARD_COUNT") else { return Ok(Shard::WHOLE) };
    let count: usize = count
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| anyhow!("GENIMS_SHARD_COUNT={count}: expected a positive number of shards"))?;
    let (source, index) = if let Some(i) = get("JOB_COMPLETION_INDEX") {
        ("JOB_COMPLETION_INDEX", i)
    } else if let Some(i) = get("GENIMS_SHARD_INDEX") {
        ("GENIMS_SHARD_INDEX", i)
    } else if let Some(h) = get("HOSTNAME") {
        let ordinal = h.rsplit('-').next().filter(|o| o.chars().all(|c| c.is_ascii_digit()) && !o.is_empty());
        let o = ordinal.ok_or_else(|| {
            anyhow!(
                "GENIMS_SHARD_COUNT={count} but no shard index: set JOB_COMPLETION_INDEX (Indexed Job), GENIMS_SHARD_INDEX, \
                 or run as a StatefulSet pod (HOSTNAME {h} has no ordinal)"
            )
        })?;
        ("the HOSTNAME ordinal", o.to_owned())
    } else {
        bail!("GENIMS_SHARD_COUNT={count} but no shard index: set JOB_COMPLETION_INDEX, GENIMS_SHARD_INDEX or GENIMS_SHARD");
    };
    let i: usize = index.parse().map_err(|_| anyhow!("{source} = {index}: expected a 0-based shard index"))?;
    if i >= count {
        bail!("{source} = {i} but GENIMS_SHARD_COUNT = {count}: the index must be below the count (0-based)");
    }
    Ok(Shard { index: i + 1, count })
}

/// The backfill window: `end` defaults to `now`, `start` to `end` minus `days`; both are
/// floored to whole minutes. At least a minute and at most [`MAX_DAYS`] long.
pub fn window(days: i64, start: Option<i64>, end: Option<i64>, now: i64) -> Result<(i64, i64)> {
    let b = floor_minute(end.unwrap_or(now));
    let a = floor_minute(start.unwrap_or(b - days * DAY));
    check_window(a, b)?;
    let max = i64::from(MAX_DAYS) * DAY;
    if b - a > max {
        bail!(
            "the window holds {:.1} days; one run covers at most {MAX_DAYS} days (ten years): load a longer history as consecutive windows, which continue each other exactly",
            (b - a) as f64 / DAY as f64
        );
    }
    Ok((a, b))
}

/// A window must hold at least one minute.
pub fn check_window(a: i64, b: i64) -> Result<()> {
    if a >= b {
        bail!("the window is empty: --start must lie before --end");
    }
    Ok(())
}

/// A run's window must begin once the plant exists (its first factory opened): before that
/// its machines have no history to simulate.
pub fn check_start(engine: &Engine, start: i64) -> Result<()> {
    let opened = engine.plant.factories.iter().map(|f| f.operational_since).min();
    let Some(opened) = opened else { return Ok(()) };
    let first = day_number(opened) * DAY;
    if start < first {
        bail!(
            "--start {} lies before the plant existed: its first factory opened on {opened} \
             (the plant's history is placed by [plant] reference_date)",
            date_string(start)
        );
    }
    Ok(())
}

/// A shard must hold a machine.
pub fn check_shard(engine: &Engine, shard: Shard) -> Result<()> {
    let machines = engine.plant.machines.len();
    if shard.count > machines {
        bail!(
            "--shard {}/{}: the plant has {machines} machines, so at most {machines} shards",
            shard.index,
            shard.count
        );
    }
    Ok(())
}

/// What the configuration gives the engine and the sinks of a run.
impl Config {
    /// The engine of this configuration's plant, with the run's fault rate.
    pub fn engine(&self, fault_rate: f64) -> Result<Engine> {
        self.engine_with(fault_rate, true)
    }

    /// The same engine, its plant without employee rows unless `employee_rows` (a run none
    /// of whose outputs writes or fingerprints the master data needs none).
    pub fn engine_with(&self, fault_rate: f64, employee_rows: bool) -> Result<Engine> {
        let catalogue = self.fault_catalogue()?;
        let plant = if employee_rows {
            crate::plant::Plant::generate(&self.plant, &catalogue)?
        } else {
            crate::plant::Plant::generate_without_employee_rows(&self.plant, &catalogue)?
        };
        let mut engine = Engine::new(self.plant.seed, fault_rate, plant, catalogue)?;
        engine.set_difficulty(self.faults.difficulty);
        engine.quality = self.quality_defects();
        if let Some(t) = self.threads {
            engine.threads = t;
        }
        Ok(engine)
    }

    /// What opening a sink needs of this configuration, for a run of `engine` named `name`
    /// over `window` (`dir`: a backfill's output directory, a stream's state directory).
    pub fn sink_run<'a>(
        &'a self,
        engine: &'a Engine,
        rt: &'a tokio::runtime::Handle,
        (name, shard): (&'a str, crate::sim::scope::Shard),
        window: (i64, i64),
        dir: &'a std::path::Path,
    ) -> crate::sink::Run<'a> {
        crate::sink::Run {
            engine,
            rt,
            name,
            shard,
            window,
            dir,
            plant: &self.plant,
            postgres: &self.postgres,
            kafka: &self.kafka,
            mqtt: &self.mqtt,
            retention_days: self.retention.days,
            parquet_layout: self.output.parquet_layout,
        }
    }

    /// The fault catalogue: the user's directory when configured, else the built-in one.
    pub fn fault_catalogue(&self) -> Result<Catalogue> {
        match &self.faults.dir {
            Some(dir) => Ok(Catalogue::load_dir(dir)?),
            None => Ok(Catalogue::builtin()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_defaults_and_errors() {
        let now = 1_772_366_437; // 2026-03-01T12:00:37Z
        let (a, b) = window(7, None, None, now).unwrap();
        assert_eq!(b, 1_772_366_400, "end is now rounded down to the minute");
        assert_eq!(b - a, 7 * DAY);
        let (mar1, mar2) = (1_772_323_200, 1_772_409_600);
        assert_eq!(window(1, Some(mar1 + 30), Some(mar2), now).unwrap(), (mar1, mar2), "floored to minutes");
        assert!(window(1, Some(mar2), Some(mar1), now).unwrap_err().to_string().contains("the window is empty"));
        let err = window(1, Some(946_684_800), Some(mar1), now).unwrap_err().to_string();
        assert!(err.contains("at most 3660 days"), "{err}");
    }

    #[test]
    fn a_run_starts_once_the_plant_exists_and_a_shard_holds_a_machine() {
        let e = crate::sim::seed_7_engine();
        let err = check_start(&e, -2_208_988_800).unwrap_err().to_string(); // 1900-01-01
        assert!(err.starts_with("--start 1900-01-01 lies before the plant existed"), "{err}");
        assert!(check_start(&e, 1_772_323_200).is_ok());
        assert!(check_shard(&e, Shard { index: 228, count: 228 }).is_ok());
        let err = check_shard(&e, Shard { index: 999, count: 1000 }).unwrap_err().to_string();
        assert!(err.contains("the plant has 228 machines, so at most 228 shards"), "{err}");
    }

    #[test]
    fn the_shard_comes_from_the_flag_then_the_orchestrators_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let two_of_three = Shard { index: 2, count: 3 };
        assert_eq!(shard(Some(two_of_three), env(&[("GENIMS_SHARD", "1/4")])).unwrap(), two_of_three);
        assert_eq!(shard(None, env(&[("GENIMS_SHARD", "2-of-3")])).unwrap(), two_of_three);
        const K8S: [(&str, &str); 2] = [("GENIMS_SHARD_COUNT", "3"), ("HOSTNAME", "genims-stream-1")];
        assert_eq!(shard(None, env(&K8S)).unwrap(), two_of_three, "the StatefulSet ordinal is 0-based");
        assert_eq!(shard(None, env(&[])).unwrap(), Shard::WHOLE);
        let err = shard(None, env(&[("GENIMS_SHARD_COUNT", "3"), ("JOB_COMPLETION_INDEX", "3")])).unwrap_err();
        assert!(err.to_string().contains("must be below the count"), "{err}");
    }
}
