//! genims: one executable that simulates a global auto-parts manufacturer's machines and
//! sensors and delivers fault-labelled operational data to PostgreSQL, Kafka and files.
//!
//! `main` is thin: parse flags, load the configuration, run the subcommand, and turn an
//! error into one clear message and a deliberate exit code.

mod backfill;
mod cli;
mod clock;
mod config;
mod db;
mod encode;
mod evaluate;
mod fault;
mod faults;
mod output;
mod plant;
mod prune;
mod request;
mod rng;
mod rows;
mod secrets;
mod seed;
mod setting;
mod sim;
mod sink;
mod stream;
mod tls;
mod value;

use std::process::ExitCode;

/// mimalloc, not glibc's malloc: a live stream frees a block's encoded rows every tick and
/// a machine's day scratch every midnight between long-lived allocations, and glibc's
/// arenas kept those pages (×20 in real time: 173 MB of RSS against mimalloc's 91 MB, the
/// same rows). BENCHMARKS.md has the runs, glibc's and jemalloc's. The `system-alloc`
/// feature keeps glibc's, for heap profilers that hook malloc (heaptrack).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;

use cli::{Cli, Command, SchemaAction};
use config::{Config, Overrides};

fn main() -> ExitCode {
    let cli = cli::parse();
    init_logging(&cli);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genims: error: {e:#}");
            // A flag the command cannot use exits as clap's usage errors do.
            if e.downcast_ref::<cli::Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Logs to stderr through tracing: text, or one JSON object per line. `GENIMS_LOG` sets
/// the filter; the daemon logs at info (its statistics lines), other commands at warn.
fn init_logging(cli: &Cli) {
    // rskafka and deadpool log every retry and lost connection at warn; genims reports the
    // failures that matter itself, in one line (a retry loop, or the error it exits with).
    // async-opcua logs each session and certificate step at info: its warnings stay.
    let default = if matches!(cli.command, Command::Stream(_)) {
        "info,rskafka=error,deadpool=error,opcua_server=warn,opcua_crypto=warn,opcua_core=warn"
    } else {
        "warn,rskafka=error,deadpool=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GENIMS_LOG").unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match cli.log_format {
        cli::LogFormat::Json => builder.json().with_current_span(false).init(),
        cli::LogFormat::Text => builder.init(),
    }
}

/// `genims schema apply`: each change on its own line, then what the database now holds.
async fn schema_apply(cfg: &Config, partition: Option<db::schema::Partition>, dry: bool) -> Result<()> {
    let mut client = db::connect(&cfg.postgres.target()?).await?;
    let done = db::upgrade::apply(&mut client, partition, cfg.postgres.partition, dry).await?;
    let verb = if dry { "would" } else { "did" };
    for step in &done.steps {
        eprintln!("genims: schema apply {verb}: {step}");
    }
    let from = done.from.map_or("none recorded".to_owned(), |v| format!("version {v}"));
    let layout = if done.partition == db::schema::Partition::Daily { "partitioned by day" } else { "unpartitioned" };
    if dry {
        eprintln!(
            "genims: schema apply --dry-run: {} change(s); nothing was changed (schema {from}, time series {layout})",
            done.steps.len()
        );
    } else {
        eprintln!(
            "genims: schema applied: version {} (was {from}; 16 tables, labels, stream progress, injections, plant record, detection views; time series {layout})",
            done.to
        );
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let overrides = Overrides {
        config: cli.config.clone(),
        postgres_url: cli.postgres_url.clone(),
        kafka_brokers: cli.kafka_brokers.clone(),
        seed: cli.seed,
    };
    let cfg = Config::load(&overrides)?;
    // The command's one runtime: every sink's I/O, the signal watcher and the database
    // commands run on it.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = match cli.command {
        Command::Schema { action: SchemaAction::Print { partition } } => {
            print!("{}", db::schema::script(partition));
            Ok(())
        }
        Command::Schema { action: SchemaAction::Apply { partition, dry_run } } => {
            runtime.block_on(schema_apply(&cfg, partition, dry_run))
        }
        Command::Seed(a) => runtime.block_on(seed::run(&cfg, a.out, a.path, a.replace)),
        Command::Backfill(a) => backfill::run(&cfg, &a, runtime.handle()),
        Command::Evaluate(a) => runtime.block_on(evaluate::run(&cfg, &a)),
        Command::Stream(a) => stream::run(&cfg, &a, runtime.handle()),
        Command::Fault(a) => runtime.block_on(fault::run(&cfg, &a)),
        Command::Prune(a) => runtime.block_on(prune::run(&cfg, &a)),
    };
    // A sink call abandoned at the end of a stream's grace period must not hold up the exit.
    runtime.shutdown_background();
    result
}
