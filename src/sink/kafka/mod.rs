//! Kafka output (rskafka, reached through [`access`]: TLS and SASL with librdkafka's
//! setting names): one topic per table, created when missing; key = machine_id
//! (line_id for production runs), value = the row as a JSON object with the table's column
//! names, record timestamp = the row's time.
//!
//! Records are batched per partition and several produce calls are kept in flight, bounded
//! by a semaphore (rskafka's producer applies no back-pressure itself). Retries use
//! rskafka's backoff with a deadline, and every request is bounded by a timeout of its own
//! (rskafka's retry loops nest); after that the run fails with the broker's error.
//!
//! As a stream's sink it also keeps the stream's progress in a small file beside its spool
//! (Kafka has no transaction to hold it), written only after every record before it was
//! acknowledged: delivery is at least once, and a repeated record has the same key and
//! content. After a failure it reconnects and recreates topics a restarted broker lost.
//!
//! Topics are only ever created here, with `[kafka] partitions`, after listing the topics
//! that exist (a request that cannot create one). rskafka asks the broker to auto-create
//! a topic it looks up, so produce retries are kept short and abandoned as soon as a batch
//! fails, before the sink re-lists and recreates the topics itself. A topic that exists with
//! another partition count — made by someone else, or auto-created by a broker regardless —
//! is used as it is: key → partition is FNV-1a(key) mod *the topic's* partition count, so
//! one machine's records stay in order on one partition; genims says so once per topic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::Record;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod access;
mod admin;
pub mod settings;

use access::{Access, CONNECT_TIMEOUT};
use admin::TopicRetention;

use super::{Bulk, Live, Progress, Sink};
use crate::encode::{next_frame, Format};
use crate::rows::Table;
use settings::{KafkaCompression, KafkaConfig};

/// Records per produce request at most.
const BATCH_RECORDS: usize = 2_000;
/// Uncompressed key and value bytes per produce request at most: librdkafka's default
/// `batch.size`. Consumers decompress a batch whole, and some (kafka-python) refuse a zstd
/// batch that inflates beyond 1 MiB.
const BATCH_BYTES: usize = 1_000_000;
/// Produce requests in flight at once.
const IN_FLIGHT: usize = 16;
/// How long a stream's sink retries a request (a backfill's: `[kafka] message_timeout_ms`);
/// the stream then retries on its own, reconnecting and re-listing topics. Short, because rskafka's own retries look topics up in ways that let a restarted
/// broker auto-create them with its default partition count.
const LIVE_RETRY_DEADLINE: Duration = Duration::from_secs(2);

/// rskafka's codec for a configured compression.
fn compression(c: KafkaCompression) -> Compression {
    match c {
        KafkaCompression::None => Compression::NoCompression,
        KafkaCompression::Gzip => Compression::Gzip,
        KafkaCompression::Snappy => Compression::Snappy,
        KafkaCompression::Lz4 => Compression::Lz4,
        KafkaCompression::Zstd => Compression::Zstd,
    }
}

/// The topic of a table: `<prefix>.sensor.data`, `<prefix>.scada.data`, ...
pub fn topic(prefix: &str, table: Table) -> String {
    let suffix = match table {
        Table::SensorData => "sensor.data",
        Table::ScadaMachineData => "scada.data",
        Table::MachineFaults => "machine.faults",
        Table::MaintenanceEvents => "maintenance.events",
        Table::ProductionRuns => "production.runs",
        Table::SensorHealth => "sensor.health",
        Table::FaultLabels => "fault.labels",
        Table::QualityLabels => "quality.labels",
    };
    format!("{prefix}.{suffix}")
}

/// The partition of a key: FNV-1a, stable across runs and hosts.
pub fn partition_of(key: &[u8], partitions: i32) -> i32 {
    (crate::rng::label(std::str::from_utf8(key).unwrap_or("")) % partitions as u64) as i32
}

pub struct KafkaSink {
    /// The command's runtime.
    rt: tokio::runtime::Handle,
    /// Brokers, TLS and SASL.
    access: Access,
    prefix: String,
    deadline: Duration,
    /// A stream's progress file.
    state: Option<super::progress::ProgressFile>,
    /// `[kafka] partitions`: the count topics are created with.
    partitions: i32,
    /// A stream's `[retention]`: the settings topics are created with.
    retention: Option<TopicRetention>,
    /// `[kafka] compression`.
    compression: Compression,
    /// Topics open now: each table's partition count and clients.
    topics: Topics,
    pending: BTreeMap<(Table, i32), Batch>,
    inflight: JoinSet<Result<()>>,
    permits: Arc<Semaphore>,
    /// Topics already reported with another partition count.
    warned: BTreeSet<String>,
}

/// Records waiting for one partition, and their key and value bytes.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    bytes: usize,
}

/// Every table's topic: its partition count and a client per partition.
#[derive(Default)]
struct Topics {
    /// Every topic that existed before this connection created any.
    found: BTreeSet<String>,
    partitions: BTreeMap<Table, i32>,
    clients: BTreeMap<(Table, i32), Arc<PartitionClient>>,
}

/// Connects and opens every partition of every topic, creating the topics that are missing
/// with `partitions` (and `retention`'s settings, if any). `warned` holds the topics already
/// reported with another count.
async fn open(
    access: &Access,
    prefix: &str,
    (partitions, retention): (i32, Option<TopicRetention>),
    deadline: Duration,
    warned: &mut BTreeSet<String>,
) -> Result<Topics> {
    let client = access.connect(deadline).await?;
    let mut existing = list(&client).await?;
    let found: BTreeSet<String> = existing.keys().cloned().collect();
    let missing: Vec<String> =
        Table::ALL.iter().map(|&t| topic(prefix, t)).filter(|n| !existing.contains_key(n)).collect();
    if !missing.is_empty() {
        match retention {
            Some(r) => create_with_settings(access, &missing, partitions, r, &mut existing).await?,
            None => create(&client, &missing, partitions, &mut existing).await?,
        }
        existing.extend(list(&client).await?);
    }
    let mut topics = Topics { found, ..Topics::default() };
    for table in Table::ALL {
        let name = topic(prefix, table);
        let n =
            *existing.get(&name).ok_or_else(|| anyhow!("Kafka topic {name} is missing right after it was created"))?;
        if n != partitions && warned.insert(name.clone()) {
            tracing::warn!(
                "Kafka topic {name} has {n} partitions where [kafka] partitions says {partitions}: genims publishes to its {n} \
                 (key → partition = FNV-1a(key) mod {n}); delete the topic to have it recreated with {partitions}"
            );
        }
        topics.partitions.insert(table, n);
        for p in 0..n {
            let pc = client
                .partition_client(name.clone(), p, UnknownTopicHandling::Retry)
                .await
                .with_context(|| format!("cannot open partition {p} of {name}"))?;
            topics.clients.insert((table, p), Arc::new(pc));
        }
    }
    Ok(topics)
}

/// Creates `missing` with rskafka's controller client (the broker's default settings).
/// A topic created meanwhile (another shard, a broker's auto-creation) is used as it is.
async fn create(
    client: &Client,
    missing: &[String],
    partitions: i32,
    existing: &mut BTreeMap<String, i32>,
) -> Result<()> {
    let controller = client.controller_client().context("no Kafka controller")?;
    for name in missing {
        match controller.create_topic(name.clone(), partitions, 1, 5_000).await {
            Ok(()) => {
                existing.insert(name.clone(), partitions);
            }
            Err(rskafka::client::error::Error::ServerError {
                protocol_error: rskafka::client::error::ProtocolError::TopicAlreadyExists,
                ..
            }) => {}
            Err(e) => return Err(anyhow!("cannot create Kafka topic {name}: {e}")),
        }
    }
    Ok(())
}

/// Creates `missing` with `retention.ms` and `segment.ms` ([`admin`]).
async fn create_with_settings(
    access: &Access,
    missing: &[String],
    partitions: i32,
    retention: TopicRetention,
    existing: &mut BTreeMap<String, i32>,
) -> Result<()> {
    for (name, error) in admin::create(access, missing, partitions, retention).await? {
        match error {
            None => {
                existing.insert(name, partitions);
            }
            Some(rskafka::protocol::error::Error::TopicAlreadyExists) => {}
            Some(e) => return Err(anyhow!("cannot create Kafka topic {name}: {e}")),
        }
    }
    Ok(())
}

/// Says once, in one line, which of the topics genims found (rather than created) keep
/// records for another time than `retention` asks: genims leaves their settings alone.
async fn warn_other_retention(access: &Access, found: &[String], retention: TopicRetention, days: u32) {
    if found.is_empty() {
        return;
    }
    let want = retention.retention_ms.to_string();
    match admin::retention_of(access, found).await {
        Ok(kept) => {
            let other: Vec<String> = kept
                .into_iter()
                .filter(|(_, v)| v.as_deref() != Some(want.as_str()))
                .map(|(t, v)| {
                    format!("{t} ({})", v.map_or("the broker's default".into(), |v| format!("retention.ms={v}")))
                })
                .collect();
            if !other.is_empty() {
                tracing::warn!(
                    "Kafka topics that genims did not create keep their own retention, not the {days} days of \
                     [retention] days: {}; genims leaves them as they are (set retention.ms={want} on them, or delete \
                     them to have them recreated)",
                    other.join(", ")
                );
            }
        }
        Err(e) => tracing::warn!("cannot check the retention of the existing Kafka topics: {e}"),
    }
}

/// How long one request (a produce, opening the topics) may take in all. rskafka's backoff
/// deadline applies per retry loop, and its loops nest (a produce retries a connection that
/// retries on its own), so a broker that died mid-run could keep a request waiting for
/// minutes; this bounds it.
fn request_limit(deadline: Duration) -> Duration {
    deadline + CONNECT_TIMEOUT
}

/// [`open`], bounded by [`request_limit`].
async fn open_within(
    access: &Access,
    prefix: &str,
    partitions: (i32, Option<TopicRetention>),
    deadline: Duration,
    warned: &mut BTreeSet<String>,
) -> Result<Topics> {
    let limit = request_limit(deadline);
    tokio::time::timeout(limit, open(access, prefix, partitions, deadline, warned))
        .await
        .map_err(|_| anyhow!("Kafka at {} did not open the topics within {} s", access.shown(), limit.as_secs()))?
}

/// The topics that exist and their partition counts. (A metadata request for all topics:
/// unlike a lookup by name, it never makes the broker create one.)
async fn list(client: &Client) -> Result<BTreeMap<String, i32>> {
    let topics = client.list_topics().await.context("cannot list Kafka topics")?;
    Ok(topics.into_iter().map(|t| (t.name, t.partitions.len() as i32)).collect())
}

impl KafkaSink {
    /// Connects and creates the topics that are missing (a backfill's sink: a request is
    /// retried for `[kafka] message_timeout_ms`).
    pub fn new(rt: tokio::runtime::Handle, cfg: &KafkaConfig) -> Result<KafkaSink> {
        Self::build(rt, cfg, Duration::from_millis(cfg.message_timeout_ms), None, 0)
    }

    /// A stream's sink, keeping the stream's progress under `state_dir`; the topics it
    /// creates keep `retention_days` days (`[retention] days`; 0: the broker's default).
    pub fn live(
        rt: tokio::runtime::Handle,
        cfg: &KafkaConfig,
        (state_dir, stream): (&std::path::Path, &str),
        retention_days: u32,
    ) -> Result<KafkaSink> {
        let state = super::progress::ProgressFile::new(state_dir.join(format!("{stream}.kafka-progress.json")));
        Self::build(rt, cfg, LIVE_RETRY_DEADLINE, Some(state), retention_days)
    }

    fn build(
        rt: tokio::runtime::Handle,
        cfg: &KafkaConfig,
        deadline: Duration,
        state: Option<super::progress::ProgressFile>,
        retention_days: u32,
    ) -> Result<KafkaSink> {
        let (prefix, partitions) = (&cfg.topic_prefix, cfg.partitions);
        let retention = TopicRetention::for_days(retention_days);
        let access = Access::new(cfg)?;
        let mut warned = BTreeSet::new();
        let topics = rt.block_on(open_within(&access, prefix, (partitions, retention), deadline, &mut warned))?;
        if let Some(r) = retention {
            let found: Vec<String> =
                Table::ALL.iter().map(|&t| topic(prefix, t)).filter(|n| topics.found.contains(n)).collect();
            rt.block_on(warn_other_retention(&access, &found, r, retention_days));
        }
        Ok(KafkaSink {
            rt,
            access,
            prefix: prefix.to_owned(),
            deadline,
            state,
            partitions,
            retention,
            compression: compression(cfg.compression),
            topics,
            warned,
            pending: BTreeMap::new(),
            inflight: JoinSet::new(),
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
        })
    }

    /// Writes the progress file (atomically, when it moved) after everything before it was
    /// acknowledged.
    fn save_progress(&mut self, progress: &Progress) -> Result<()> {
        match &mut self.state {
            Some(file) => file.save(progress),
            None => Ok(()),
        }
    }

    /// Reads the progress file, if any.
    fn load_progress(&self, stream: &str) -> Result<Option<Progress>> {
        match &self.state {
            Some(file) => file.load(stream, "Kafka"),
            None => Ok(None),
        }
    }

    /// Sends one batch, waiting for a free slot first; reports failures of finished sends.
    async fn send(&mut self, table: Table, p: i32, records: Vec<Record>) -> Result<()> {
        let client = Arc::clone(&self.topics.clients[&(table, p)]);
        let permit = Arc::clone(&self.permits).acquire_owned().await.expect("semaphore never closes");
        let limit = request_limit(self.deadline);
        let compression = self.compression;
        self.inflight.spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(limit, client.produce(records, compression)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(anyhow!("cannot produce to Kafka topic {}: {e}", client.topic())),
                Err(_) => Err(anyhow!(
                    "Kafka did not acknowledge records for topic {} within {} s",
                    client.topic(),
                    limit.as_secs()
                )),
            }
        });
        while let Some(done) = self.inflight.try_join_next() {
            let failed = done.map_err(|e| anyhow!("a Kafka produce task failed: {e}")).and_then(|r| r);
            if failed.is_err() {
                self.inflight.abort_all();
                return failed;
            }
        }
        Ok(())
    }

    /// Turns one write's Kafka frames into records, sending each partition's batch when full.
    async fn push(&mut self, table: Table, bytes: bytes::Bytes) -> Result<()> {
        let mut rest = &bytes[..];
        while let Some((key, ts, value, next)) = next_frame(rest) {
            let p = partition_of(key, self.topics.partitions[&table]);
            let record = Record {
                key: Some(key.to_vec()),
                value: Some(value.to_vec()),
                headers: BTreeMap::new(),
                timestamp: chrono::DateTime::from_timestamp_millis(ts).unwrap_or_default(),
            };
            let size = key.len() + value.len();
            let batch = self.pending.entry((table, p)).or_default();
            if batch.bytes + size > BATCH_BYTES && !batch.records.is_empty() {
                let full = std::mem::take(batch);
                self.send(table, p, full.records).await?;
            }
            let batch = self.pending.entry((table, p)).or_default();
            batch.records.push(record);
            batch.bytes += size;
            if batch.records.len() >= BATCH_RECORDS {
                let full = std::mem::take(batch);
                self.send(table, p, full.records).await?;
            }
            rest = next;
        }
        Ok(())
    }

    /// Sends what is pending and waits until the broker acknowledged every record.
    async fn flush(&mut self) -> Result<()> {
        for ((table, p), batch) in std::mem::take(&mut self.pending) {
            if !batch.records.is_empty() {
                self.send(table, p, batch.records).await?;
            }
        }
        let mut inflight = std::mem::take(&mut self.inflight);
        while let Some(done) = inflight.join_next().await {
            let failed = done.map_err(|e| anyhow!("a Kafka produce task failed: {e}")).and_then(|r| r);
            if failed.is_err() {
                // The others' retries would only look topics up on a broker that may be
                // restarting; the batch is sent again whole after a reset.
                inflight.abort_all();
                while inflight.join_next().await.is_some() {}
                return failed;
            }
        }
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn format(&self) -> Format {
        Format::Kafka
    }
}

impl Bulk for KafkaSink {
    fn write(&mut self, _day: i64, table: Table, bytes: bytes::Bytes, _rows: u64) -> Result<()> {
        let rt = self.rt.clone();
        rt.block_on(self.push(table, bytes))
    }

    fn finish(&mut self) -> Result<()> {
        let rt = self.rt.clone();
        rt.block_on(self.flush())
    }
}

#[async_trait::async_trait]
impl Live for KafkaSink {
    async fn write(&mut self, _day: i64, table: Table, bytes: bytes::Bytes, _rows: u64) -> Result<()> {
        self.push(table, bytes).await
    }

    /// A refused SASL login or a certificate that does not verify ([`super::Fatal`], from
    /// `access`) is final; a broker that is away, restarting or slow may come back.
    fn is_permanent(&self, e: &anyhow::Error) -> bool {
        !super::retryable(e)
    }

    async fn commit(&mut self, progress: &Progress) -> Result<()> {
        self.flush().await?;
        self.save_progress(progress)
    }

    async fn resume(&mut self, stream: &str) -> Result<Option<Progress>> {
        self.load_progress(stream)
    }

    async fn close(&mut self) -> Result<()> {
        self.flush().await
    }

    async fn reset(&mut self) -> Result<()> {
        self.pending.clear();
        self.inflight.abort_all();
        while self.inflight.join_next().await.is_some() {}
        self.topics =
            open_within(&self.access, &self.prefix, (self.partitions, self.retention), self.deadline, &mut self.warned)
                .await?;
        Ok(())
    }
}

/// Opens the topics for a backfill (the registry's row).
pub fn open_bulk(run: &super::registry::Run) -> Result<Box<dyn super::Bulk>> {
    Ok(Box::new(KafkaSink::new(run.rt.clone(), run.kafka)?))
}

/// Opens the topics for a stream, its progress file in the state directory (the registry's
/// row).
pub fn open_live(run: &super::registry::Run) -> Result<Box<dyn Live>> {
    super::create_state_dir(run.dir)?;
    Ok(Box::new(KafkaSink::live(run.rt.clone(), run.kafka, (run.dir, run.name), run.retention_days)?))
}
