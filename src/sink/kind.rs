//! Every kind of sink by the name flags and `[stream] sinks` use, with the deliveries it
//! offers (backfill, stream): what the settings and the command line need to know of sinks.
//! How each opens is the registry's (`registry`).

use clap::builder::PossibleValue;

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

    /// Whether the kind delivers a backfill (bulk) and a stream (live); the registry opens
    /// exactly these (a test holds the two together).
    pub fn deliveries(self) -> (bool, bool) {
        match self {
            SinkKind::Postgres | SinkKind::Kafka | SinkKind::Mqtt | SinkKind::Null => (true, true),
            SinkKind::Csv | SinkKind::Jsonl | SinkKind::Sql | SinkKind::Parquet => (true, false),
            SinkKind::Stdout => (false, true),
        }
    }

    /// The kinds a backfill can write to.
    pub fn bulk() -> impl Iterator<Item = SinkKind> {
        Self::ALL.into_iter().filter(|k| k.deliveries().0)
    }

    /// The kinds a stream can deliver to.
    pub fn live() -> impl Iterator<Item = SinkKind> {
        Self::ALL.into_iter().filter(|k| k.deliveries().1)
    }

    /// A stream's sink by name (`db` is PostgreSQL too).
    pub fn live_named(name: &str) -> Result<SinkKind, String> {
        let name = name.trim();
        let found = Self::from_value(name).filter(|k| k.deliveries().1);
        found.ok_or_else(|| {
            format!("`{name}` is not a sink; use {}", Self::live().map(SinkKind::name).collect::<Vec<_>>().join(", "))
        })
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
