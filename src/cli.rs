//! Command-line interface: the clap definitions of every subcommand and flag.
//!
//! These are raw parsed values; `main` merges them with the configuration file and the
//! environment into a validated [`crate::config::Config`].

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::clock::{parse_duration, parse_instant};
use crate::db::schema::Partition;
use crate::sim::scope::Shard;
use crate::sink::kind::SinkKind;

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
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true, value_parser = seed_arg)]
    pub seed: Option<u64>,
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
    /// Remove data older than a horizon from the database, as a stream's retention does.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Keep this much behind the newest data in the database (`30d`, `12h`) [default:
    /// [retention] days].
    #[arg(long, value_name = "DURATION", value_parser = every_arg)]
    pub older_than: Option<i64>,
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
        /// A key of yours for this injection: the same command repeated with it (a retry)
        /// finds the episode it made instead of injecting another.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
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
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub start: Option<i64>,
    /// Last evaluation time [default: the newest SCADA record].
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub end: Option<i64>,
    /// Time between evaluations: 15m, 1h, 1d, ... (at least a minute).
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = every_arg)]
    pub every: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: EvaluateFormat,
    /// Pool the reports of earlier runs (`--format json` files: several seeds or rates) into
    /// one, their counts summed, instead of evaluating a database.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["start", "end", "every"])]
    pub pool: Vec<std::path::PathBuf>,
    /// Also write the report as one self-contained HTML page: a bar chart per pattern, and
    /// the traces of every labelled episode and false alarm with the detectors' flags.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Create the tables, indexes and views in the configured database, or bring an older
    /// genims database (or one made with the original GenIMS package's DDL) up to date, in
    /// one transaction (idempotent).
    Apply {
        /// Layout of sensor_data and scada_machine_data [default: the existing layout, else [postgres] partition].
        #[arg(long, value_enum)]
        partition: Option<Partition>,
        /// Say what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the SQL that `schema apply` runs.
    Print {
        /// Layout of sensor_data and scada_machine_data.
        #[arg(long, value_enum, default_value = "none")]
        partition: Partition,
    },
}

/// Where `seed` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeedOut {
    /// One JSON document with a key per master table.
    Json,
    /// INSERT statements for `psql -v ON_ERROR_STOP=1 -f FILE`.
    Sql,
    /// Straight into the configured PostgreSQL database.
    Db,
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

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Days of history (when --start is not given), 1 to 3660.
    #[arg(long, default_value = "7", allow_negative_numbers = true, value_parser = days_arg)]
    pub days: i64,
    /// Share of machines that suffer a fault episode in the window (0 to 1).
    #[arg(long, default_value = "0.05", allow_negative_numbers = true, value_parser = fault_rate_arg)]
    pub fault_rate: f64,
    /// Output [default: csv files under the output directory].
    #[arg(long, value_parser = bulk_sink())]
    pub out: Option<SinkKind>,
    /// Output directory for file outputs.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Window start (RFC 3339 or YYYY-MM-DD) [default: --end minus --days].
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub start: Option<i64>,
    /// Window end (RFC 3339 or YYYY-MM-DD) [default: now, rounded down to the minute].
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub end: Option<i64>,
    /// Generate only shard i of n (machines split deterministically), e.g. 1/3.
    #[arg(long, value_name = "i/n", value_parser = shard_arg)]
    pub shard: Option<Shard>,
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
    /// Simulated seconds per wall-clock second, up to 1e6 (1 = real time on the wall-clock
    /// grid), or "max".
    #[arg(long, default_value = "1", allow_negative_numbers = true, value_parser = speed_arg)]
    pub speed: Speed,
    /// Comma-separated sinks: postgres, kafka, mqtt, stdout, null (encodes and discards) [default: [stream] sinks].
    #[arg(long, value_delimiter = ',', value_name = "SINK,...", value_parser = live_sink())]
    pub sink: Vec<SinkKind>,
    /// Start here instead of where the stream (or a backfill) stopped (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub start: Option<i64>,
    /// Stop after this instant, once everything before it is delivered [default: run until stopped].
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub end: Option<i64>,
    /// Share of machines that start a fault episode per week, 0 to 1 [default: [stream] fault_rate].
    #[arg(long, allow_negative_numbers = true, value_parser = fault_rate_arg)]
    pub fault_rate: Option<f64>,
    /// Generate only shard i of n (machines split as in backfill), e.g. 1/3.
    #[arg(long, value_name = "i/n", value_parser = shard_arg)]
    pub shard: Option<Shard>,
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

/// A flag the command cannot use, found after parsing: a combination of flags, or a value
/// that the plant or the configuration rules out. Reported like clap's usage errors: one
/// line, exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Marks an error as a [`Usage`] error.
pub fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    Usage(e.to_string()).into()
}

/// The fastest `--speed` short of `max` (11.6 simulated days a second): beyond it a pace is
/// meaningless; `max` goes as fast as the sinks take.
pub const MAX_SPEED: f64 = 1e6;

/// `--speed`: simulated seconds per wall-clock second, `None` for `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(pub Option<f64>);

fn speed_arg(s: &str) -> Result<Speed, String> {
    match s.trim() {
        "max" => Ok(Speed(None)),
        v => match v.parse::<f64>() {
            Ok(x) if x > 0.0 && x <= MAX_SPEED => Ok(Speed(Some(x))),
            Ok(x) if x > MAX_SPEED => Err(format!(
                "at most {MAX_SPEED:e} simulated seconds per second; use max for as fast as the sinks take"
            )),
            _ => Err("expected a positive number of simulated seconds per second, or max".to_owned()),
        },
    }
}

/// `--start`, `--end`: RFC 3339 or a date, as seconds since the epoch (UTC).
fn time_arg(s: &str) -> Result<i64, String> {
    parse_instant(s).map_err(|e| e.to_string())
}

fn days_arg(s: &str) -> Result<i64, String> {
    let max = i64::from(crate::sim::scope::MAX_DAYS);
    match s.trim().parse::<i64>() {
        Ok(d) if (1..=max).contains(&d) => Ok(d),
        Ok(d) if d > max => Err(format!(
            "one run covers at most {max} days (ten years): load a longer history as consecutive windows, which continue each other exactly"
        )),
        _ => Err(format!("expected a whole number of days from 1 to {max}")),
    }
}

fn fault_rate_arg(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("must lie between 0 and 1 (the share of machines with a fault episode per week)".to_owned()),
    }
}

fn shard_arg(s: &str) -> Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string())
}

/// `--every`: `15m`, `1h`, `1d`, … — at least a minute.
fn every_arg(s: &str) -> Result<i64, String> {
    match parse_duration(s) {
        Ok(secs) if secs >= 60 => Ok(secs),
        Ok(_) => Err("at least a minute: 15m, 1h, 1d, …".to_owned()),
        Err(e) => Err(e),
    }
}

/// `--out`: a kind of sink a backfill writes to (the sink registry's).
fn bulk_sink() -> impl clap::builder::TypedValueParser<Value = SinkKind> {
    clap::builder::PossibleValuesParser::new(SinkKind::bulk_values())
        .map(|v| SinkKind::from_value(&v).expect("a registered sink"))
}

/// `--sink`: a kind of sink a stream delivers to (the sink registry's).
fn live_sink() -> impl clap::builder::TypedValueParser<Value = SinkKind> {
    clap::builder::PossibleValuesParser::new(SinkKind::live_values())
        .map(|v| SinkKind::from_value(&v).expect("a registered sink"))
}

/// `--seed`: any integer from 0 to 2^64 - 1 (a negative number reaches this rule, not
/// clap's "unexpected argument").
fn seed_arg(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| format!("must be an integer from 0 to {}", u64::MAX))
}

/// Parses the command line. A usage error is one line (`genims: error: …`, clap's tip
/// folded in) with exit status 2; `--help` and `--version` print as usual.
pub fn parse() -> Cli {
    Cli::try_parse().unwrap_or_else(|e| {
        use clap::error::ErrorKind;
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !e.use_stderr() {
            e.exit()
        }
        eprintln!("genims: error: {}", one_line(&e.to_string()));
        std::process::exit(2)
    })
}

/// clap's multi-line usage error as one line: its message and tips, without the usage
/// synopsis and the pointer to --help.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Negative and out-of-range numbers reach the flags' own rules, not clap's
    /// "unexpected argument": each is a usage error naming the rule.
    #[test]
    fn bad_values_are_usage_errors_naming_the_rule() {
        let err = |args: &[&str]| {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            e.to_string()
        };
        assert!(err(&["genims", "backfill", "--days", "-1"]).contains("from 1 to 3660"));
        assert!(err(&["genims", "backfill", "--days", "4000"]).contains("consecutive windows"));
        assert!(err(&["genims", "backfill", "--fault-rate", "-0.5"]).contains("between 0 and 1"));
        assert!(err(&["genims", "stream", "all", "--speed", "-5"]).contains("positive number"));
        assert!(err(&["genims", "stream", "all", "--speed", "1e300"]).contains("use max"));
        assert!(err(&["genims", "stream", "all", "--speed", "NaN"]).contains("positive number"));
        assert!(err(&["genims", "stream", "all", "--shard", "0/3"]).contains("1 <= i <= n"));
        assert!(
            err(&["genims", "stream", "all", "--sink", "kafka,files"]).contains("invalid value 'files' for '--sink")
        );
        assert!(err(&["genims", "backfill", "--out", "stdout"])
            .contains("[possible values: db, csv, jsonl, sql, parquet, kafka, mqtt, null]"));
        assert!(err(&["genims", "backfill", "--start", "yesterday"]).contains("is not a time"));
        assert!(err(&["genims", "evaluate", "--every", "30s"]).contains("at least a minute"));
        for bad in ["h", "10", "1w", ""] {
            assert!(err(&["genims", "evaluate", "--every", bad]).contains("not a duration"), "--every {bad}");
        }
        let cli = Cli::try_parse_from(["genims", "stream", "all", "--speed", "max", "--end", "9999-12-31T23:59:00Z"])
            .unwrap();
        let Command::Stream(a) = cli.command else { panic!("a stream") };
        assert_eq!(a.speed, Speed(None));
        assert_eq!(a.end, Some(253_402_300_740), "the last minute of year 9999 is a time");
        assert!(err(&["genims", "--seed", "-1", "seed"]).contains("must be an integer from 0 to 18446744073709551615"));
        let e = Cli::try_parse_from(["genims", "backfill", "--dyas", "3"]).unwrap_err();
        let line = one_line(&e.to_string());
        assert!(!line.contains('\n') && line.contains("unexpected argument '--dyas'"), "{line}");
        assert!(line.contains("tip: a similar argument exists: '--days'"), "the tip is kept: {line}");
    }
}
