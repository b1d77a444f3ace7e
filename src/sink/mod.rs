//! Sinks: where generated rows go. Every output (files, PostgreSQL, Kafka, stdout, null)
//! implements [`Sink`] and one or both delivery interfaces: [`Bulk`] for backfill (write
//! everything, finish once) and [`Live`] for the stream (commit batches with progress,
//! resume, retry). The backfill driver and the stream daemon know nothing else about them.

pub mod files;
pub mod kafka;
pub mod postgres;
pub mod stdout;

use std::collections::BTreeMap;

use anyhow::Result;
use bytes::Bytes;

use crate::encode::Format;
use crate::rows::Table;
use crate::sim::unit::Counters;

/// Where a stream stands in one destination: every record before `through` is delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The stream's name (`iot`, `scada`, `all`, with a shard suffix when sharded).
    pub stream: String,
    pub through: i64,
    /// Machine counters at an instant at or before `through` (instant, machine id →
    /// counters), so a destination without SCADA history (Kafka) can continue them after a
    /// restart.
    pub counters: Option<(i64, std::sync::Arc<BTreeMap<String, Counters>>)>,
}

/// A failure that retrying cannot mend (a schema mismatch, a rejected row): the stream
/// stops with it instead of retrying.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// Whether an error may go away by itself (an unreachable server) rather than be [`Fatal`].
pub fn retryable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Fatal>().is_none()
}

/// A destination for encoded rows: what both kinds of delivery share.
pub trait Sink: Send {
    /// What the sink is, for messages: `postgres`, `kafka`, `stdout`, `csv files`.
    fn name(&self) -> &'static str;
    /// The encoding this sink takes (its encoder, see `encode`).
    fn format(&self) -> Format;
    /// One unit's (or one batch's) rows of `table` for the UTC day starting at `day`.
    fn write(&mut self, day: i64, table: Table, bytes: Bytes, rows: u64) -> Result<()>;
    /// Counters the destination already holds for machines just before `at` (machine id →
    /// (instant of the stored record, counters then)), so a new window continues them.
    fn checkpoints(&mut self, _at: i64) -> Result<BTreeMap<String, (i64, Counters)>> {
        Ok(BTreeMap::new())
    }
}

/// Bulk delivery (backfill): every unit's rows in a fixed order (day by day, and within a
/// day machine by machine), then [`Bulk::finish`] once. Dropped without `finish`, a sink
/// leaves nothing behind (temporary files removed, transactions rolled back).
pub trait Bulk: Sink {
    /// Makes everything durable and visible.
    fn finish(&mut self) -> Result<()>;
}

/// Live delivery (stream): a batch of ticks is written, then committed with the stream's
/// progress; after a failure the batch is forgotten with [`Live::reset`] and written again.
pub trait Live: Sink {
    /// Makes the rows written since the last commit durable together with the stream's
    /// progress: atomically where the destination allows (PostgreSQL), else progress only
    /// after the rows are acknowledged (Kafka).
    fn commit(&mut self, progress: &Progress) -> Result<()>;
    /// Where `stream` stopped in this destination, if it knows: its saved progress, else
    /// the end of the history it holds (a backfill).
    fn resume(&mut self, _stream: &str) -> Result<Option<Progress>> {
        Ok(None)
    }
    /// Forgets uncommitted writes and re-establishes the connection after a failure.
    fn reset(&mut self) -> Result<()> {
        Ok(())
    }
    /// The stream has ended: the last housekeeping (flush, id sequences).
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Takes rows in a format (backfill: CSV, stream: JSON Lines) and writes nothing: measures
/// the engine and the encoder alone.
pub struct Discard(pub Format);

impl Sink for Discard {
    fn name(&self) -> &'static str {
        "null"
    }
    fn format(&self) -> Format {
        self.0
    }
    fn write(&mut self, _day: i64, _table: Table, _bytes: Bytes, _rows: u64) -> Result<()> {
        Ok(())
    }
}

impl Bulk for Discard {
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl Live for Discard {
    fn commit(&mut self, _progress: &Progress) -> Result<()> {
        Ok(())
    }
}
