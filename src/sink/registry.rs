//! The one table of sinks: how every [`SinkKind`] opens for a backfill ([`Bulk`]) and for
//! a stream ([`Live`]). A new sink is a module of its own (with its `open_bulk` and/or
//! `open_live`), a variant of [`SinkKind`] and its row in [`SinkKind::openers`]; the
//! commands only ask this table.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::kafka::settings::KafkaConfig;
use super::kind::SinkKind;
use super::mqtt::settings::MqttConfig;
use super::{Bulk, Discard, Live};
use crate::db::target::PostgresConfig;
use crate::encode::Format;
use crate::plant::Settings as PlantSettings;
use crate::sim::scope::Shard;
use crate::sim::Engine;

/// What opening a sink needs to know of the run.
pub struct Run<'a> {
    pub engine: &'a Engine,
    pub rt: &'a tokio::runtime::Handle,
    /// `backfill` (`backfill-2of4` for a shard) or the stream's name (`all`, `iot-2of4`).
    pub name: &'a str,
    pub shard: Shard,
    /// The window a backfill covers.
    pub window: (i64, i64),
    /// A backfill's output directory, or a stream's state directory.
    pub dir: &'a Path,
    /// The plant's seed, reference date and sizes (the record a database's master data
    /// must match).
    pub plant: &'a PlantSettings,
    /// The PostgreSQL settings: the server, and the connections a bulk load may open.
    pub postgres: &'a PostgresConfig,
    pub kafka: &'a KafkaConfig,
    pub mqtt: &'a MqttConfig,
    /// `[retention] days`: what a stream keeps (0: everything). A stream's Kafka topics
    /// are created with it; a backfill never removes history.
    pub retention_days: u32,
    /// `[output] parquet_layout`.
    pub parquet_layout: crate::output::ParquetLayout,
}

type OpenBulk = fn(&Run) -> Result<Box<dyn Bulk>>;
type OpenLive = fn(&Run) -> Result<Box<dyn Live>>;

impl SinkKind {
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
            assert_eq!((bulk.is_some(), live.is_some()), k.deliveries(), "{k}: its deliveries are the ones registered");
        }
        let names = |it: &mut dyn Iterator<Item = SinkKind>| it.map(SinkKind::name).collect::<Vec<_>>().join(",");
        assert_eq!(names(&mut SinkKind::bulk()), "postgres,csv,jsonl,sql,parquet,kafka,mqtt,null");
        assert_eq!(names(&mut SinkKind::live()), "postgres,kafka,mqtt,stdout,null");
        assert_eq!(SinkKind::live_named("db"), Ok(SinkKind::Postgres));
        assert!(SinkKind::live_named("csv").unwrap_err().contains("use postgres, kafka, mqtt, stdout, null"));
    }
}
