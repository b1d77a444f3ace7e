//! The integration tests, one module per suite, in one test binary (one link instead of
//! nineteen; `scripts/run-tests.sh` runs them). Each suite runs the real `genims` binary
//! against real servers; `common` holds what they share.

// An end-to-end scenario reads best as one story; the 100-line rule is for src/.
#![allow(clippy::too_many_lines)]

mod common;

mod backfill;
mod backfill_db;
mod broker;
mod cli;
mod console;
mod deploy;
mod evaluate;
mod full_disk;
mod golden;
mod inject;
mod kafka;
mod kafka_tls;
mod layers;
mod ml;
mod mqtt;
mod opcua;
mod parquet;
mod postgres_tls;
mod quality;
mod reliability;
mod restarts;
mod retention;
mod schema_db;
mod seed_db;
mod shards;
mod stream;
mod upgrade_db;
