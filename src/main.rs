//! genims: one executable that simulates a global auto-parts manufacturer's machines and
//! sensors and delivers fault-labelled operational data to PostgreSQL, Kafka and files.
//!
//! `main` is thin: parse flags, load the configuration, run the subcommand, and turn an
//! error into one clear message and a deliberate exit code.

mod backfill;
mod cli;
mod config;
mod db;
mod faults;
mod output;
mod plant;
mod rng;
mod rows;
mod schema;
mod seed;
mod sim;
mod sink;
mod value;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser as _;

use cli::{Cli, Command, SchemaAction};
use config::{Config, Overrides};

/// An error that exits with status 2: a feature this build does not have yet.
#[derive(Debug)]
struct NotYetAvailable(&'static str);

impl std::fmt::Display for NotYetAvailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`genims {}` is not yet available in this build", self.0)
    }
}

impl std::error::Error for NotYetAvailable {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GENIMS_LOG").unwrap_or_else(|_| "warn,rskafka=error".into()),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genims: error: {e:#}");
            if e.downcast_ref::<NotYetAvailable>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let overrides = Overrides {
        config: cli.config.clone(),
        postgres_url: cli.postgres_url.clone(),
        kafka_brokers: cli.kafka_brokers.clone(),
        seed: cli.seed,
    };
    let cfg = Config::load(&overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Schema { action: SchemaAction::Print { partition } } => {
            print!("{}", schema::script(partition));
            Ok(())
        }
        Command::Schema { action: SchemaAction::Apply { partition } } => runtime.block_on(async {
            let mut client = db::connect(cfg.postgres_url()?).await?;
            let used = schema::apply(&mut client, partition, cfg.postgres.partition).await?;
            eprintln!(
                "genims: schema applied (16 tables and fault_labels; time series {})",
                if used == config::Partition::Daily { "partitioned by day" } else { "unpartitioned" }
            );
            Ok(())
        }),
        Command::Seed(a) => runtime.block_on(seed::run(&cfg, a.out, a.path, a.replace)),
        Command::Backfill(a) => {
            drop(runtime);
            backfill::run(&cfg, &a)
        }
        Command::Stream(_) => Err(NotYetAvailable("stream").into()),
    }
}
