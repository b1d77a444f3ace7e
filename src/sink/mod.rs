//! Sinks: where generated rows go. Every output (files, PostgreSQL, Kafka) implements the
//! one narrow [`Sink`] trait; the engine and the backfill driver know nothing else about
//! them.

pub mod files;
pub mod kafka;
pub mod postgres;

use std::collections::BTreeMap;

use anyhow::Result;

use crate::rows::{Format, Table};
use crate::sim::unit::Counters;

/// A destination for encoded rows.
///
/// The driver calls [`Sink::write`] with each unit's rows in a fixed order (day by day, and
/// within a day machine by machine), then [`Sink::finish`] once. A sink dropped without
/// `finish` must leave nothing behind (temporary files removed, transactions rolled back).
pub trait Sink {
    /// The encoding the workers must produce for this sink.
    fn format(&self) -> Format;
    /// One unit's rows of `table` for the UTC day starting at `day`.
    fn write(&mut self, day: i64, table: Table, bytes: Vec<u8>, rows: u64) -> Result<()>;
    /// Makes everything durable and visible.
    fn finish(&mut self) -> Result<()>;
    /// Counters the destination already holds for machines just before `at` (machine id →
    /// (instant of the stored record, counters then)), so a new window continues them.
    fn checkpoints(&mut self, _at: i64) -> Result<BTreeMap<String, (i64, Counters)>> {
        Ok(BTreeMap::new())
    }
}

/// Generates and encodes everything, writes nothing: measures the engine alone.
pub struct Discard;

impl Sink for Discard {
    fn format(&self) -> Format {
        Format::Csv
    }
    fn write(&mut self, _day: i64, _table: Table, _bytes: Vec<u8>, _rows: u64) -> Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
