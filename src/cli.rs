//! Command-line interface: the clap definitions of every subcommand and flag.
//!
//! These are raw parsed values; `main` merges them with the configuration file and the
//! environment into a validated [`crate::config::Config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Partition;
use crate::seed::SeedOut;

#[derive(Debug, Parser)]
#[command(
    name = "genims",
    version,
    about = "Simulates the machines and sensors of a global auto-parts manufacturer and delivers \
             fault-labelled operational data to PostgreSQL, Kafka and files.",
    after_help = "Settings come from config.toml (--config or GENIMS_CONFIG), overridden by GENIMS_* \
                  environment variables, overridden by flags. See README.md."
)]
pub struct Cli {
    /// Configuration file [default: ./config.toml when present].
    #[arg(long, global = true, env = "GENIMS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PostgreSQL connection URL (overrides [postgres] url and GENIMS_POSTGRES_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Kafka bootstrap brokers, comma-separated (overrides [kafka] brokers and GENIMS_KAFKA_BROKERS).
    #[arg(long, global = true, value_name = "HOST:PORT,...")]
    pub kafka_brokers: Option<String>,
    /// Seed of every random stream (overrides [plant] seed and GENIMS_SEED).
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<String>,
    /// Log format on stderr: text for terminals, json (one object per line) for journald and log shippers.
    #[arg(long, global = true, value_enum, env = "GENIMS_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or print the database schema (master and operational tables, indexes).
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Generate the plant's master data: factories, lines, machines, sensors, people, products.
    Seed(SeedArgs),
    /// Generate operational history (SCADA, sensors, faults, maintenance, runs, health).
    Backfill(BackfillArgs),
    /// Run the live daemon: publish readings as they happen.
    Stream(StreamArgs),
    /// Score the detection views against the fault labels of a backfilled database.
    Evaluate(EvaluateArgs),
    /// List, inject and clear fault episodes of a running `genims stream` (its control plane).
    Fault(FaultArgs),
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    #[command(subcommand)]
    pub action: FaultAction,
    /// The stream's control plane [default: http://<[stream] listen>].
    #[arg(long, global = true, value_name = "URL")]
    pub control: Option<String>,
    /// Output: human-readable, or the control plane's JSON for scripts.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub format: EvaluateFormat,
}

#[derive(Debug, Subcommand)]
pub enum FaultAction {
    /// The episodes in effect and those starting within the hour.
    List,
    /// Start an episode now (or at a simulated time ahead).
    Inject {
        /// The machine, e.g. MCH-000017.
        #[arg(long, value_name = "ID")]
        machine: String,
        /// The fault pattern (name or code), e.g. bearing_failure.
        #[arg(long, value_name = "NAME")]
        pattern: String,
        /// The onset (RFC 3339, simulated time) [default: the stream's next minute].
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The degradation's length, within the pattern's range: 6h, 90m, 1h30m [default: drawn].
        #[arg(long, value_name = "DURATION")]
        duration: Option<String>,
        /// The severity, one the pattern has [default: drawn].
        #[arg(long)]
        severity: Option<String>,
        /// End the machine's injected episode, if any, to make room.
        #[arg(long)]
        replace: bool,
    },
    /// End an injected episode now: the machine is repaired.
    Clear {
        /// The episode's id (as `genims fault list` shows it).
        id: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvaluateFormat {
    /// A Markdown table (as in FIDELITY.md).
    Table,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// First evaluation time (RFC 3339 or YYYY-MM-DD) [default: a day after the data starts].
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Last evaluation time [default: the newest SCADA record].
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Time between evaluations: 15m, 1h, 1d, ...
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub every: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: EvaluateFormat,
    /// Pool the reports of earlier runs (`--format json` files: several seeds or rates) into
    /// one, their counts summed, instead of evaluating a database.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["start", "end", "every"])]
    pub pool: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Create the 16 tables and their indexes in the configured database (idempotent).
    Apply {
        /// Layout of sensor_data and scada_machine_data [default: the existing layout, else [postgres] partition].
        #[arg(long, value_enum)]
        partition: Option<Partition>,
    },
    /// Print the SQL that `schema apply` runs.
    Print {
        /// Layout of sensor_data and scada_machine_data.
        #[arg(long, value_enum, default_value = "none")]
        partition: Partition,
    },
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Output: a JSON file, a psql-loadable SQL file, or the database.
    #[arg(long, value_enum, default_value = "json")]
    pub out: SeedOut,
    /// Output file for json/sql ('-' for stdout) [default: <output dir>/genims_master_data.json or _inserts.sql].
    #[arg(long, value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// With --out db: replace existing master data (in one transaction) instead of refusing.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackfillOut {
    /// PostgreSQL, by binary COPY.
    Db,
    /// CSV files with a header row (COPY ... CSV HEADER).
    Csv,
    /// JSON Lines files.
    Jsonl,
    /// psql-loadable INSERT scripts.
    Sql,
    /// Parquet files (zstd, typed columns), for pandas, polars, DuckDB and Spark.
    Parquet,
    /// Kafka topics.
    Kafka,
    /// An MQTT broker: a Unified Namespace with JSON payloads, or Sparkplug B ([mqtt] mode).
    Mqtt,
    /// Generate and encode, write nothing (to measure the engine).
    Null,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Days of history (when --start is not given), 1 to 3660.
    #[arg(long, default_value_t = 7, allow_negative_numbers = true)]
    pub days: i64,
    /// Share of machines that suffer a fault episode in the window (0 to 1).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub fault_rate: f64,
    /// Output [default: csv files under the output directory].
    #[arg(long, value_enum)]
    pub out: Option<BackfillOut>,
    /// Output directory for file outputs.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Window start (RFC 3339 or YYYY-MM-DD) [default: --end minus --days].
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Window end (RFC 3339 or YYYY-MM-DD) [default: now, rounded down to the minute].
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Generate only shard i of n (machines split deterministically), e.g. 1/3.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Inject only these fault patterns (names or codes, comma-separated) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub patterns: Vec<String>,

    /// Only the once-only database steps after shards loaded separately (id sequences,
    /// planner statistics), then exit; shards running at once need no finalize.
    #[arg(long)]
    pub finalize: bool,
    /// Replay a stream's injection journal (`<state-dir>/<stream>.injections.jsonl`): the
    /// episodes injected live, so the stream is reproduced as history.
    #[arg(long, value_name = "FILE")]
    pub injections: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamKind {
    /// Sensor readings, every 10 s.
    Iot,
    /// Machine (SCADA) records, every 60 s.
    Scada,
    /// Both, plus faults, maintenance, production runs, sensor health and fault labels as they occur.
    All,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Which records to publish.
    #[arg(value_enum)]
    pub kind: StreamKind,
    /// Simulated seconds per wall-clock second (1 = real time on the wall-clock grid), or "max".
    #[arg(long, default_value = "1", allow_negative_numbers = true)]
    pub speed: String,
    /// Comma-separated sinks: postgres, kafka, mqtt, stdout, null (encodes and discards) [default: [stream] sinks].
    #[arg(long, value_delimiter = ',', value_name = "SINK,...")]
    pub sink: Vec<String>,
    /// Start here instead of where the stream (or a backfill) stopped (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Stop after this instant, once everything before it is delivered [default: run until stopped].
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Share of machines that start a fault episode per week, 0 to 1 [default: [stream] fault_rate].
    #[arg(long, allow_negative_numbers = true)]
    pub fault_rate: Option<f64>,
    /// Generate only shard i of n (machines split as in backfill), e.g. 1/3.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Inject only these fault patterns (names or codes, comma-separated) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub patterns: Vec<String>,
    /// Start even when some sinks are unreachable (they are skipped for this run).
    #[arg(long)]
    pub allow_degraded: bool,
    /// Directory for progress files and the disk spool [default: [stream] state_dir].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serve /metrics, /healthz and /readyz on this address, "" for none [default: [stream] listen, 127.0.0.1:9872].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// `--seed`: any integer from 0 to 2^64 - 1 (a negative number reaches this rule, not
/// clap's "unexpected argument").
pub fn parse_seed(s: &str) -> anyhow::Result<u64> {
    s.trim().parse().map_err(|_| anyhow::anyhow!("--seed {s}: must be an integer from 0 to {}", u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Negative numbers reach the command's own checks, not clap's "unexpected argument".
    #[test]
    fn negative_numbers_are_values() {
        let cli = Cli::try_parse_from(["genims", "--seed", "-1", "backfill", "--days", "-1", "--fault-rate", "-0.5"])
            .unwrap();
        assert_eq!(cli.seed.as_deref(), Some("-1"));
        let Command::Backfill(a) = cli.command else { panic!("a backfill") };
        assert_eq!((a.days, a.fault_rate), (-1, -0.5));
        let cli = Cli::try_parse_from(["genims", "stream", "all", "--speed", "-5", "--fault-rate", "-1"]).unwrap();
        let Command::Stream(a) = cli.command else { panic!("a stream") };
        assert_eq!((a.speed.as_str(), a.fault_rate), ("-5", Some(-1.0)));
        let e = parse_seed("-1").unwrap_err().to_string();
        assert_eq!(e, "--seed -1: must be an integer from 0 to 18446744073709551615");
    }
}
