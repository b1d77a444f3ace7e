//! The one table of sinks: every kind by the name flags and `[stream] sinks` use, and how it
//! opens for a backfill ([`Bulk`]) and for a stream ([`Live`]). A new sink is a module of
//! its own (with its `open_bulk` and/or `open_live`), a variant here and its row in
//! [`SinkKind::openers`]; the commands only ask this table.

use std::path::Path;

use anyhow::{anyhow, Result};
use clap::builder::PossibleValue;

use super::{Bulk, Discard, Live};
use crate::config::Config;
use crate::encode::Format;
use crate::sim::scope::Shard;
use crate::sim::Engine;

/// Every kind of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkKind {
    /// PostgreSQL: binary COPY (backfill, `--out db`), a transaction per batch (stream).
    Postgres,
    /// CSV files with a header row.
    Csv,
    /// JSON Lines files.
    Jsonl,
    /// psql-loadable INSERT scripts.
    Sql,
    /// Parquet files (zstd, typed columns).
    Parquet,
    /// Kafka topics.
    Kafka,
    /// An MQTT broker: a Unified Namespace or Sparkplug B.
    Mqtt,
    /// JSON Lines on standard output.
    Stdout,
    /// Generate and encode, write nothing.
    Null,
}

/// What opening a sink needs to know of the run.
pub struct Run<'a> {
    pub cfg: &'a Config,
    pub engine: &'a Engine,
    pub rt: &'a tokio::runtime::Handle,
    /// `backfill` (`backfill-2of4` for a shard) or the stream's name (`all`, `iot-2of4`).
    pub name: &'a str,
    pub shard: Shard,
    /// The window a backfill covers.
    pub window: (i64, i64),
    /// A backfill's output directory, or a stream's state directory.
    pub dir: &'a Path,
}

type OpenBulk = fn(&Run) -> Result<Box<dyn Bulk>>;
type OpenLive = fn(&Run) -> Result<Box<dyn Live>>;

impl SinkKind {
    pub const ALL: [SinkKind; 9] = [
        SinkKind::Postgres,
        SinkKind::Csv,
        SinkKind::Jsonl,
        SinkKind::Sql,
        SinkKind::Parquet,
        SinkKind::Kafka,
        SinkKind::Mqtt,
        SinkKind::Stdout,
        SinkKind::Null,
    ];

    /// The registry: how the kind opens for a backfill and for a stream (`None`: it has no
    /// such delivery).
    fn openers(self) -> (Option<OpenBulk>, Option<OpenLive>) {
        match self {
            SinkKind::Postgres => (Some(super::postgres::open_bulk), Some(super::postgres::open_live)),
            SinkKind::Csv => (Some(|run| super::files::open(run, Format::Csv)), None),
            SinkKind::Jsonl => (Some(|run| super::files::open(run, Format::Jsonl)), None),
            SinkKind::Sql => (Some(|run| super::files::open(run, Format::Sql)), None),
            SinkKind::Parquet => (Some(super::parquet::open_bulk), None),
            SinkKind::Kafka => (Some(super::kafka::open_bulk), Some(super::kafka::open_live)),
            SinkKind::Mqtt => (Some(super::mqtt::open_bulk), Some(super::mqtt::open_live)),
            SinkKind::Stdout => (None, Some(|_| Ok(Box::new(super::stdout::StdoutSink::new())))),
            SinkKind::Null => {
                (Some(|_| Ok(Box::new(Discard(Format::Csv)))), Some(|_| Ok(Box::new(Discard(Format::Jsonl)))))
            }
        }
    }

    /// The name flags and settings use (a backfill's `--out` says `db` for PostgreSQL).
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Postgres => "postgres",
            SinkKind::Csv => "csv",
            SinkKind::Jsonl => "jsonl",
            SinkKind::Sql => "sql",
            SinkKind::Parquet => "parquet",
            SinkKind::Kafka => "kafka",
            SinkKind::Mqtt => "mqtt",
            SinkKind::Stdout => "stdout",
            SinkKind::Null => "null",
        }
    }

    /// The name a backfill's `--out` uses: `db` for PostgreSQL.
    pub fn bulk_name(self) -> &'static str {
        if self == SinkKind::Postgres {
            "db"
        } else {
            self.name()
        }
    }

    /// Whether it writes files under a backfill's `--path`.
    pub fn writes_files(self) -> bool {
        matches!(self, SinkKind::Csv | SinkKind::Jsonl | SinkKind::Sql | SinkKind::Parquet)
    }

    /// The kinds a backfill can write to.
    pub fn bulk() -> impl Iterator<Item = SinkKind> {
        Self::ALL.into_iter().filter(|k| k.openers().0.is_some())
    }

    /// The kinds a stream can deliver to.
    pub fn live() -> impl Iterator<Item = SinkKind> {
        Self::ALL.into_iter().filter(|k| k.openers().1.is_some())
    }

    /// A stream's sink by name (`db` is PostgreSQL too).
    pub fn live_named(name: &str) -> Result<SinkKind, String> {
        let name = name.trim();
        let found = Self::from_value(name).filter(|k| k.openers().1.is_some());
        found.ok_or_else(|| {
            format!("`{name}` is not a sink; use {}", Self::live().map(SinkKind::name).collect::<Vec<_>>().join(", "))
        })
    }

    /// Opens the kind for a backfill.
    pub fn open_bulk(self, run: &Run) -> Result<Box<dyn Bulk>> {
        let open = self.openers().0.ok_or_else(|| anyhow!("{} is not a backfill output", self.name()))?;
        open(run)
    }

    /// Opens the kind for a stream.
    pub fn open_live(self, run: &Run) -> Result<Box<dyn Live>> {
        let open = self.openers().1.ok_or_else(|| anyhow!("{} is not a stream sink", self.name()))?;
        open(run)
    }

    /// The values `--out` takes: every kind a backfill writes to, PostgreSQL as `db`.
    pub fn bulk_values() -> Vec<PossibleValue> {
        Self::bulk()
            .map(|k| match k {
                SinkKind::Postgres => PossibleValue::new(k.bulk_name()).alias("postgres").help(k.help()),
                _ => PossibleValue::new(k.name()).help(k.help()),
            })
            .collect()
    }

    /// The values `--sink` takes: every kind a stream delivers to.
    pub fn live_values() -> Vec<PossibleValue> {
        Self::live()
            .map(|k| match k {
                SinkKind::Postgres => PossibleValue::new(k.name()).alias("db").help(k.help()),
                _ => PossibleValue::new(k.name()).help(k.help()),
            })
            .collect()
    }

    fn help(self) -> &'static str {
        match self {
            SinkKind::Postgres => "PostgreSQL (binary COPY; a transaction per batch in a stream)",
            SinkKind::Csv => "CSV files with a header row (COPY ... CSV HEADER)",
            SinkKind::Jsonl => "JSON Lines files",
            SinkKind::Sql => "psql-loadable INSERT scripts",
            SinkKind::Parquet => "Parquet files (zstd, typed columns)",
            SinkKind::Kafka => "Kafka topics",
            SinkKind::Mqtt => "an MQTT broker: a Unified Namespace with JSON payloads, or Sparkplug B ([mqtt] mode)",
            SinkKind::Stdout => "JSON Lines on standard output",
            SinkKind::Null => "generate and encode, write nothing (to measure the engine)",
        }
    }

    /// The kind of a parsed `--out` or `--sink` value (`db` is PostgreSQL).
    pub fn from_value(v: &str) -> Option<SinkKind> {
        Self::ALL.into_iter().find(|k| k.name() == v || (v == "db" && *k == SinkKind::Postgres))
    }
}

impl std::fmt::Display for SinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind is registered for at least one delivery, and the two lists are what the
    /// docs promise.
    #[test]
    fn every_kind_opens_somewhere() {
        for k in SinkKind::ALL {
            let (bulk, live) = k.openers();
            assert!(bulk.is_some() || live.is_some(), "{k} opens for neither backfill nor stream");
        }
        let names = |it: &mut dyn Iterator<Item = SinkKind>| it.map(SinkKind::name).collect::<Vec<_>>().join(",");
        assert_eq!(names(&mut SinkKind::bulk()), "postgres,csv,jsonl,sql,parquet,kafka,mqtt,null");
        assert_eq!(names(&mut SinkKind::live()), "postgres,kafka,mqtt,stdout,null");
        assert_eq!(SinkKind::live_named("db"), Ok(SinkKind::Postgres));
        assert!(SinkKind::live_named("csv").unwrap_err().contains("use postgres, kafka, mqtt, stdout, null"));
    }
}
