//! Kafka output (rskafka): one topic per table, created when missing; key = machine_id
//! (line_id for production runs), value = the row as a JSON object with the table's column
//! names, record timestamp = the row's time.
//!
//! Records are batched per partition and several produce calls are kept in flight, bounded
//! by a semaphore (rskafka's producer applies no back-pressure itself). Retries use
//! rskafka's backoff with a deadline, after which the run fails with the broker's error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::Sink;
use crate::rows::{next_frame, Format, Table};

/// Records per produce request.
const BATCH_RECORDS: usize = 2_000;
/// Produce requests in flight at once.
const IN_FLIGHT: usize = 16;
/// How long a request may be retried before the run fails.
const RETRY_DEADLINE: Duration = Duration::from_secs(60);
/// How long to try reaching the brokers at start-up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
    };
    format!("{prefix}.{suffix}")
}

/// The partition of a key: FNV-1a, stable across runs and hosts.
pub fn partition_of(key: &[u8], partitions: i32) -> i32 {
    (crate::rng::label(std::str::from_utf8(key).unwrap_or("")) % partitions as u64) as i32
}

pub struct KafkaSink {
    rt: tokio::runtime::Runtime,
    partitions: i32,
    clients: BTreeMap<(Table, i32), Arc<PartitionClient>>,
    pending: BTreeMap<(Table, i32), Vec<Record>>,
    inflight: JoinSet<Result<()>>,
    permits: Arc<Semaphore>,
}

async fn connect(brokers: &[String]) -> Result<Client> {
    let backoff = BackoffConfig { deadline: Some(RETRY_DEADLINE), ..BackoffConfig::default() };
    tokio::time::timeout(CONNECT_TIMEOUT, ClientBuilder::new(brokers.to_vec()).backoff_config(backoff).build())
        .await
        .map_err(|_| anyhow!("cannot reach Kafka at {} within {} s", brokers.join(","), CONNECT_TIMEOUT.as_secs()))?
        .map_err(|e| anyhow!("cannot connect to Kafka at {}: {e}", brokers.join(",")))
}

impl KafkaSink {
    /// Connects and creates the topics that are missing.
    pub fn new(brokers: &[String], prefix: &str, partitions: i32) -> Result<KafkaSink> {
        if brokers.is_empty() {
            anyhow::bail!("no Kafka brokers configured: set [kafka] brokers in config.toml, GENIMS_KAFKA_BROKERS, or --kafka-brokers");
        }
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let clients = rt.block_on(async {
            let client = connect(brokers).await?;
            let existing: BTreeMap<String, usize> =
                client.list_topics().await.context("cannot list Kafka topics")?.into_iter().map(|t| (t.name, t.partitions.len())).collect();
            let controller = client.controller_client().context("no Kafka controller")?;
            let mut clients = BTreeMap::new();
            for table in Table::ALL {
                let name = topic(prefix, table);
                let n = match existing.get(&name) {
                    Some(&n) if n as i32 != partitions => {
                        anyhow::bail!("Kafka topic {name} has {n} partitions, the configuration says {partitions}")
                    }
                    Some(_) => partitions,
                    None => {
                        controller
                            .create_topic(name.clone(), partitions, 1, 5_000)
                            .await
                            .with_context(|| format!("cannot create Kafka topic {name}"))?;
                        partitions
                    }
                };
                for p in 0..n {
                    let pc = client
                        .partition_client(name.clone(), p, UnknownTopicHandling::Retry)
                        .await
                        .with_context(|| format!("cannot open partition {p} of {name}"))?;
                    clients.insert((table, p), Arc::new(pc));
                }
            }
            Ok::<_, anyhow::Error>(clients)
        })?;
        Ok(KafkaSink {
            rt,
            partitions,
            clients,
            pending: BTreeMap::new(),
            inflight: JoinSet::new(),
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
        })
    }

    /// Sends one batch, waiting for a free slot first; reports failures of finished sends.
    fn send(&mut self, table: Table, p: i32, records: Vec<Record>) -> Result<()> {
        let client = Arc::clone(&self.clients[&(table, p)]);
        let permits = Arc::clone(&self.permits);
        let permit = self.rt.block_on(permits.acquire_owned()).expect("semaphore never closes");
        let _guard = self.rt.enter();
        self.inflight.spawn(async move {
            let _permit = permit;
            client
                .produce(records, Compression::NoCompression)
                .await
                .map(|_| ())
                .map_err(|e| anyhow!("cannot produce to Kafka topic {}: {e}", client.topic()))
        });
        while let Some(done) = self.inflight.try_join_next() {
            done.map_err(|e| anyhow!("a Kafka produce task failed: {e}"))??;
        }
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn format(&self) -> Format {
        Format::Kafka
    }

    fn write(&mut self, _day: i64, table: Table, bytes: Vec<u8>, _rows: u64) -> Result<()> {
        let mut rest = &bytes[..];
        while let Some((key, ts, value, next)) = next_frame(rest) {
            let p = partition_of(key, self.partitions);
            let record = Record {
                key: Some(key.to_vec()),
                value: Some(value.to_vec()),
                headers: BTreeMap::new(),
                timestamp: chrono::DateTime::from_timestamp_millis(ts).unwrap_or_default(),
            };
            let batch = self.pending.entry((table, p)).or_default();
            batch.push(record);
            if batch.len() >= BATCH_RECORDS {
                let full = std::mem::take(batch);
                self.send(table, p, full)?;
            }
            rest = next;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        for ((table, p), batch) in std::mem::take(&mut self.pending) {
            if !batch.is_empty() {
                self.send(table, p, batch)?;
            }
        }
        let mut inflight = std::mem::take(&mut self.inflight);
        self.rt.block_on(async {
            while let Some(done) = inflight.join_next().await {
                done.map_err(|e| anyhow!("a Kafka produce task failed: {e}"))??;
            }
            Ok(())
        })
    }
}
