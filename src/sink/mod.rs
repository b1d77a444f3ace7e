//! Sinks: where generated rows go. Every output (files, PostgreSQL, Kafka, stdout)
//! implements the one narrow [`Sink`] trait; the backfill driver and the stream daemon know
//! nothing else about them.

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

/// A destination for encoded rows.
///
/// Backfill calls [`Sink::write`] with each unit's rows in a fixed order (day by day, and
/// within a day machine by machine), then [`Sink::finish`] once. The stream writes a batch
/// of ticks, then calls [`Sink::commit`]; after a failure it calls [`Sink::reset`] and
/// writes the same batch again. A sink dropped without `finish`/`commit` must leave nothing
/// behind (temporary files removed, transactions rolled back).
pub trait Sink: Send {
    /// What the sink is, for messages: `postgres`, `kafka`, `stdout`, `csv files`.
    fn name(&self) -> &'static str;
    /// The encoding the workers must produce for this sink.
    fn format(&self) -> Format;
    /// One unit's (or one batch's) rows of `table` for the UTC day starting at `day`.
    fn write(&mut self, day: i64, table: Table, bytes: Bytes, rows: u64) -> Result<()>;
    /// Makes everything durable and visible.
    fn finish(&mut self) -> Result<()>;
    /// Counters the destination already holds for machines just before `at` (machine id →
    /// (instant of the stored record, counters then)), so a new window continues them.
    fn checkpoints(&mut self, _at: i64) -> Result<BTreeMap<String, (i64, Counters)>> {
        Ok(BTreeMap::new())
    }
    /// Makes the rows written since the last commit durable together with the stream's
    /// progress: atomically where the destination allows (PostgreSQL), else progress only
    /// after the rows are acknowledged (Kafka).
    fn commit(&mut self, _progress: &Progress) -> Result<()> {
        self.finish()
    }
    /// Where `stream` stopped in this destination, if it knows: its saved progress, else
    /// the end of the history it holds (a backfill).
    fn resume(&mut self, _stream: &str) -> Result<Option<Progress>> {
        Ok(None)
    }
    /// Forgets uncommitted writes and re-establishes the connection after a failure.
    fn reset(&mut self) -> Result<()> {
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
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
