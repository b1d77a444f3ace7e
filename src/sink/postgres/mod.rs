//! PostgreSQL bulk load: binary COPY over several pooled connections.
//!
//! sensor_data streams through several connections at once (units dealt round-robin),
//! scada_machine_data and sensor_health through one each, and the small event tables
//! through one more at the end. Every COPY runs inside its own transaction; all are
//! committed together only after every one succeeded, so a failed load leaves no rows.
//! Rows carry explicit ids; the id sequences are advanced past them afterwards. The big
//! tables' new daily partitions, or the tables themselves when empty, are loaded unindexed,
//! indexed, and put in place in the final transaction ([`staging`]).
//!
//! A live sink (the stream) instead holds each batch and writes it in one transaction on
//! one connection, with the stream's progress row, so the database holds every record
//! exactly once whatever fails when.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use deadpool_postgres::Pool;
use futures_util::SinkExt as _;
use tokio::sync::{mpsc, oneshot};

use super::{Bulk, Fatal, Live, Progress, Sink};
use crate::clock::{date_string, day_tag, DAY};
use crate::db;
use crate::db::schema;
use crate::db::schema::Partition;
use crate::encode::{Format, PG_COPY_HEADER, PG_COPY_TRAILER};
use crate::rows::Table;
use crate::sim::inject::SharedEntries;
use crate::sim::unit::Counters;

pub mod identity;
mod staging;

pub use identity::PlantIdentity;
use staging::{Part, Staging};

/// Buffers queued per COPY stream before the producer waits.
const QUEUE: usize = 4;

/// A finished COPY: its row count, the sender of the commit decision, and the receiver of
/// the commit's result.
type CopyDone = Result<(u64, oneshot::Sender<bool>, oneshot::Receiver<Result<()>>)>;

struct Stream {
    tx: mpsc::Sender<Bytes>,
    done: tokio::task::JoinHandle<CopyDone>,
}

/// Where a bulk COPY stream goes: a table (`None`), or one of its staging tables.
type Route = (Table, Option<Part>, usize);

pub struct PostgresSink {
    /// The command's runtime.
    rt: tokio::runtime::Handle,
    pool: Pool,
    streams: BTreeMap<Route, Stream>,
    sensor_streams: usize,
    next_sensor: usize,
    /// Small tables, loaded at the end.
    held: BTreeMap<Table, Vec<u8>>,
    /// The staging tables of the big tables (new daily partitions, or empty tables).
    staging: Option<Staging>,
    /// The staged day each partitioned table is loading now.
    open_day: BTreeMap<Table, i64>,
}

/// The stream's PostgreSQL sink: the batch being assembled and the partitions known to exist.
pub struct PostgresLive {
    pool: Pool,
    batch: BTreeMap<Table, Vec<Bytes>>,
    /// The earliest UTC day the batch touches.
    first_day: Option<i64>,
    days: BTreeSet<i64>,
    partitioned: bool,
    /// The stream's injection journal, and how many of its entries the table holds.
    journal: Option<(String, SharedEntries)>,
    stored_injections: usize,
    /// A shard's machine ids: where its stored history ends is where its own machines' ends
    /// (`None`: the whole plant).
    machines: Option<Vec<String>>,
}

/// The longest one live transaction may take before it counts as failed.
const LIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Advisory lock keys ("genims" and a step) that serialize the once-only steps between
/// processes loading the same database at once — shards above all: creating partitions
/// (concurrent `CREATE TABLE IF NOT EXISTS … PARTITION OF` can fail on each other), advancing
/// id sequences, refreshing statistics.
const LOCK_PARTITIONS: i64 = 0x67_656e_696d_7301;
const LOCK_SEQUENCES: i64 = 0x67_656e_696d_7302;
const LOCK_ANALYZE: i64 = 0x67_656e_696d_7303;

/// SQL creating the daily partitions of `days`, in one implicit transaction that holds the
/// partition lock: concurrent shards take turns, and a failure leaves nothing half made.
fn partitions_sql(days: &[i64]) -> String {
    let mut sql = format!("SELECT pg_advisory_xact_lock({LOCK_PARTITIONS});");
    for &day in days {
        for t in schema::TIMESERIES_TABLES {
            sql += &partition_sql(t, day);
            sql.push(';');
        }
    }
    sql
}

/// The daily partition of time-series table `t` for the UTC day starting at `day`.
fn partition_sql(t: &str, day: i64) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t}_p{} PARTITION OF {t} FOR VALUES FROM ('{}') TO ('{}')",
        day_tag(day),
        date_string(day),
        date_string(day + DAY)
    )
}

/// Labels of an episode (or a data-quality stretch) that spans consecutive windows arrive
/// with each window: they are staged, then merged keeping the first copy.
fn merges(table: Table) -> bool {
    matches!(table, Table::FaultLabels | Table::QualityLabels)
}

/// Classifies a PostgreSQL error: lost connections, shutdowns, overload and serialisation
/// failures may pass; anything else the server refused (a missing table, a duplicate key)
/// will not, and is [`Fatal`].
fn classify(what: &str, e: tokio_postgres::Error) -> anyhow::Error {
    let msg = format!("{what}: {}", db::cause(&e));
    match e.code().map(|c| c.code()) {
        None => anyhow!(msg),
        Some("23505") => Fatal(format!(
            "{msg}: the database already holds records of this window (a backfill, or another stream under another name); \
             start after them (--start), or delete them first"
        ))
        .into(),
        Some(c) if c.starts_with("08") || c.starts_with("57") || c.starts_with("53") || c == "40001" || c == "40P01" => anyhow!(msg),
        Some(_) => Fatal(msg).into(),
    }
}

/// A connection the pool could not open. A refused login (SQLSTATE class 28) or a database
/// that does not exist (3D000) is [`Fatal`]: retrying cannot mend it, so it is said at once.
/// A server that is away may come back.
fn pool_error(e: deadpool_postgres::PoolError) -> anyhow::Error {
    if let deadpool_postgres::PoolError::Backend(pg) = &e {
        let msg = format!("cannot connect to PostgreSQL: {}", db::cause(pg));
        return match pg.code().map(|c| c.code()) {
            Some(c) if c.starts_with("28") || c == "3D000" => Fatal(msg).into(),
            _ => anyhow!(msg),
        };
    }
    anyhow!("cannot get a PostgreSQL connection: {e}")
}

fn pg_err(what: &str, table: Table, e: tokio_postgres::Error) -> anyhow::Error {
    anyhow!("{what} {}: {}", table.name(), db::cause(&e))
}

/// Where a COPY failed: the step, and the server's error.
struct CopyError {
    what: String,
    err: tokio_postgres::Error,
}

/// The one COPY path of both modes: `table`'s rows in binary COPY format from `parts`, into
/// the open transaction `tx`. Fault labels of an episode that spans consecutive windows
/// arrive with each window: they are staged and merged, keeping the first copy.
async fn copy_into(
    tx: &tokio_postgres::Transaction<'_>,
    table: Table,
    into: &str,
    parts: impl futures_util::Stream<Item = Bytes>,
) -> Result<u64, CopyError> {
    let merge = merges(table);
    let stage = format!("{}_stage", table.name());
    let fail = |what: &str| {
        let what = format!("{what} {}", table.name());
        move |err| CopyError { what, err }
    };
    if merge {
        // Quietly: the server's notice that the table exists (every flush after the first)
        // is not news.
        tx.batch_execute(&format!(
            "SET LOCAL client_min_messages = warning; \
             CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {into} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; \
             RESET client_min_messages"
        ))
        .await
        .map_err(fail("cannot stage"))?;
    }
    let target = if merge { stage.as_str() } else { into };
    let stmt = format!("COPY {target} ({}) FROM STDIN (FORMAT binary)", table.columns().join(", "));
    let sink = tx.copy_in::<_, Bytes>(&stmt).await.map_err(fail("COPY failed for"))?;
    futures_util::pin_mut!(sink);
    futures_util::pin_mut!(parts);
    sink.send(Bytes::from_static(PG_COPY_HEADER)).await.map_err(fail("COPY failed for"))?;
    while let Some(b) = futures_util::StreamExt::next(&mut parts).await {
        sink.send(b).await.map_err(fail("COPY failed for"))?;
    }
    sink.send(Bytes::from_static(PG_COPY_TRAILER)).await.map_err(fail("COPY failed for"))?;
    let n = sink.finish().await.map_err(fail("COPY failed for"))?;
    if merge {
        let key = table.columns()[0];
        tx.batch_execute(&format!("INSERT INTO {into} SELECT * FROM {stage} ON CONFLICT ({key}) DO NOTHING"))
            .await
            .map_err(fail("cannot merge"))?;
    }
    Ok(n)
}

/// Runs one COPY in its own transaction, reports the row count, then waits for the decision
/// to commit or roll back.
async fn copy_and_hold(
    client: &mut tokio_postgres::Client,
    table: Table,
    into: &str,
    mut rx: mpsc::Receiver<Bytes>,
    count_tx: oneshot::Sender<Result<u64>>,
    decide_rx: oneshot::Receiver<bool>,
    result_tx: oneshot::Sender<Result<()>>,
) {
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(e) => {
            let _ = count_tx.send(Err(pg_err("cannot start a transaction for", table, e)));
            return;
        }
    };
    let parts = futures_util::stream::poll_fn(|cx| rx.poll_recv(cx));
    let copied = copy_into(&tx, table, into, parts)
        .await
        .map_err(|CopyError { what, err }| anyhow!("{what}: {}", db::cause(&err)));
    match copied {
        Ok(n) => {
            let _ = count_tx.send(Ok(n));
            let r = if decide_rx.await.unwrap_or(false) {
                tx.commit().await.map_err(|e| pg_err("cannot commit", table, e))
            } else {
                let _ = tx.rollback().await;
                Ok(())
            };
            let _ = result_tx.send(r);
        }
        Err(e) => {
            let _ = count_tx.send(Err(e));
        }
    }
}

async fn copy_stream(pool: Pool, table: Table, into: String, rx: mpsc::Receiver<Bytes>) -> CopyDone {
    let client = pool.get().await.map_err(pool_error)?;
    let (decide_tx, decide_rx) = oneshot::channel::<bool>();
    let (result_tx, result_rx) = oneshot::channel::<Result<()>>();
    let (count_tx, count_rx) = oneshot::channel::<Result<u64>>();
    // A dedicated task owns the connection and its transaction until told to commit or abort.
    tokio::spawn(async move {
        let mut client = client;
        copy_and_hold(&mut client, table, &into, rx, count_tx, decide_rx, result_tx).await;
    });
    let n = count_rx.await.map_err(|_| anyhow!("the COPY task for {} stopped", table.name()))??;
    Ok((n, decide_tx, result_rx))
}

impl PostgresSink {
    /// Connects and checks the schema, and prepares the staging tables ([`staging`]): with
    /// daily partitions one for each day of `window` that has no partition yet, else one for
    /// each big table that is empty. Refuses a database whose master data
    /// came from another plant than `plant`.
    pub fn new(
        rt: tokio::runtime::Handle,
        target: &db::Target,
        pool_size: usize,
        window: (i64, i64),
        plant: &PlantIdentity,
    ) -> Result<PostgresSink> {
        let sensor_streams = pool_size.saturating_sub(2).max(1);
        // Streams into existing tables and into one staged day at a time, and the index
        // builds of both staged tables, each in up to BUILD_SESSIONS sessions.
        let builds = staging::STAGED.len() * staging::BUILD_SESSIONS;
        let pool = db::pool(target, 2 * sensor_streams + Table::ALL.len() + builds, Duration::from_secs(10))?;
        let staging = rt.block_on(async {
            let mut client = db::connect(target).await?;
            let mut tables: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            tables.extend(crate::plant::tables::MASTER_TABLES);
            tables.push("genims_plant");
            db::require_tables(&client, &tables).await?;
            schema::require_columns(&mut client).await?;
            plant.check(&client).await?;
            let partitioned = schema::current_partition(&client).await? == Some(Partition::Daily);
            let first = window.0 - window.0.rem_euclid(DAY);
            let days: Vec<i64> = (0..).map(|k| first + k * DAY).take_while(|&d| d < window.1).collect();
            Ok::<_, anyhow::Error>(Some(Staging::begin(target, &days, partitioned).await?))
        })?;
        Ok(PostgresSink {
            rt,
            pool,
            streams: BTreeMap::new(),
            sensor_streams,
            next_sensor: 0,
            held: BTreeMap::new(),
            staging,
            open_day: BTreeMap::new(),
        })
    }
}

impl PostgresLive {
    /// A sink for the stream: checks the server and schema (one clear error when either is
    /// missing), then writes each committed batch in one transaction.
    /// `machines`: a shard's machine ids (`None` for the whole plant).
    pub fn new(
        rt: tokio::runtime::Handle,
        target: &db::Target,
        plant: &PlantIdentity,
        machines: Option<Vec<String>>,
    ) -> Result<PostgresLive> {
        let pool = db::pool(target, 1, Duration::from_secs(5))?;
        let partitioned = rt.block_on(async {
            let mut client = tokio::time::timeout(Duration::from_secs(10), db::connect(target))
                .await
                .map_err(|_| anyhow!("cannot connect to PostgreSQL at {}: no answer within 10 s", target.shown))??;
            let mut tables: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            tables.extend(["genims_stream_progress", "genims_injections", "genims_plant", "sensors"]);
            db::require_tables(&client, &tables).await?;
            schema::require_columns(&mut client).await?;
            plant.check(&client).await?;
            Ok::<_, anyhow::Error>(schema::current_partition(&client).await? == Some(Partition::Daily))
        })?;
        Ok(PostgresLive {
            pool,
            batch: BTreeMap::new(),
            first_day: None,
            days: BTreeSet::new(),
            partitioned,
            journal: None,
            stored_injections: 0,
            machines,
        })
    }
}

impl Sink for PostgresLive {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn format(&self) -> Format {
        Format::PgBinary
    }
}

#[async_trait::async_trait]
impl Live for PostgresLive {
    /// Rows and progress commit in one transaction: exactly once only on a tick's end.
    fn whole_ticks(&self) -> bool {
        true
    }

    async fn checkpoints(&mut self, at: i64) -> Result<BTreeMap<String, (i64, Counters)>> {
        stored_counters(&self.pool, at).await
    }

    async fn write(&mut self, day: i64, table: Table, bytes: Bytes, _rows: u64) -> Result<()> {
        if !bytes.is_empty() {
            self.batch.entry(table).or_default().push(bytes);
            self.first_day = Some(self.first_day.map_or(day, |d| d.min(day)));
        }
        Ok(())
    }

    /// Writes the batch and the progress row in one transaction.
    /// What the server refused for good ([`Fatal`]: a refused login, a missing database or
    /// table, a rejected row, duplicate keys) is final; a lost connection, a shutdown,
    /// overload or a serialisation failure may pass.
    fn is_permanent(&self, e: &anyhow::Error) -> bool {
        !super::retryable(e)
    }

    async fn commit(&mut self, progress: &Progress) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        let last = progress.through - 1 - (progress.through - 1).rem_euclid(DAY);
        let first = self.first_day.take().unwrap_or(last).min(last);
        let new_days: Vec<i64> = if self.partitioned {
            (0..).map(|k| first + k * DAY).take_while(|&d| d <= last).filter(|d| !self.days.contains(d)).collect()
        } else {
            Vec::new()
        };
        let pool = self.pool.clone();
        let stream = progress.stream.clone();
        let through = progress.through;
        // Journal entries the table lacks, written with this batch.
        let injections: Vec<(i32, String)> = match &self.journal {
            Some((_, j)) => j.read().expect("never poisoned")[self.stored_injections..]
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    ((self.stored_injections + k) as i32, serde_json::to_string(e).expect("entries serialize"))
                })
                .collect(),
            None => Vec::new(),
        };
        let journal_stream = self.journal.as_ref().map(|(s, _)| s.clone()).unwrap_or_default();
        let injected = injections.len();
        let work = async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            if !new_days.is_empty() {
                client
                    .batch_execute(&partitions_sql(&new_days))
                    .await
                    .map_err(|e| classify("cannot create the daily partitions", e))?;
            }
            let tx = client.transaction().await.map_err(|e| classify("cannot start a transaction", e))?;
            for (table, parts) in batch {
                copy_into(&tx, table, table.name(), futures_util::stream::iter(parts))
                    .await
                    .map_err(|CopyError { what, err }| classify(&what, err))?;
            }
            tx.execute(
                "INSERT INTO genims_stream_progress (stream, through, updated_at) VALUES ($1, to_timestamp($2::float8) AT TIME ZONE 'UTC', now())
                 ON CONFLICT (stream) DO UPDATE SET through = EXCLUDED.through, updated_at = now()",
                &[&stream, &(through as f64)],
            )
            .await
            .map_err(|e| classify("cannot record the stream's progress", e))?;
            for (seq, entry) in &injections {
                tx.execute(
                    "INSERT INTO genims_injections (stream, seq, entry) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&journal_stream, seq, entry],
                )
                .await
                .map_err(|e| classify("cannot record the injection journal", e))?;
            }
            tx.commit().await.map_err(|e| classify("cannot commit", e))?;
            Ok::<_, anyhow::Error>(new_days)
        };
        let days = tokio::time::timeout(LIVE_TIMEOUT, work)
            .await
            .map_err(|_| anyhow!("PostgreSQL did not finish a transaction within {} s", LIVE_TIMEOUT.as_secs()))??;
        self.days.extend(days);
        self.stored_injections += injected;
        Ok(())
    }

    async fn injections(&mut self, stream: &str) -> Result<Vec<crate::sim::inject::Entry>> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query("SELECT seq, entry FROM genims_injections WHERE stream = $1 ORDER BY seq", &[&stream])
            .await
            .map_err(|e| classify("cannot read the injection journal", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, row) in rows.iter().enumerate() {
            let (seq, text): (i32, String) = (row.get(0), row.get(1));
            if seq as usize != k {
                anyhow::bail!("genims_injections of stream {stream} lacks entry {k}");
            }
            out.push(
                serde_json::from_str(&text).map_err(|e| anyhow!("genims_injections entry {seq} of {stream}: {e}"))?,
            );
        }
        self.stored_injections = out.len();
        Ok(out)
    }

    fn keep_injections(&mut self, stream: &str, journal: SharedEntries) {
        self.journal = Some((stream.to_owned(), journal));
    }

    /// The stream's saved progress, else the end of the history the tables hold.
    async fn resume(&mut self, stream: &str) -> Result<Option<Progress>> {
        let stream = stream.to_owned();
        let client = self.pool.get().await.map_err(pool_error)?;
        let saved = client
            .query_opt(
                "SELECT extract(epoch FROM through)::bigint FROM genims_stream_progress WHERE stream = $1",
                &[&stream],
            )
            .await
            .map_err(|e| classify("cannot read the stream's progress", e))?;
        if let Some(row) = saved {
            return Ok(Some(Progress { stream, through: row.get(0), counters: None }));
        }
        // No stream ran yet: continue after the newest record of a backfill — of this shard's
        // machines (another shard's records, stored before this one started, say nothing
        // of where this one stands).
        let (table, step) = if stream.starts_with("iot") { ("sensor_data", 10) } else { ("scada_machine_data", 60) };
        let row = match &self.machines {
            None => {
                client.query_one(&format!("SELECT extract(epoch FROM max(timestamp))::bigint FROM {table}"), &[]).await
            }
            Some(ids) => {
                let sql = format!(
                    "SELECT extract(epoch FROM max(last))::bigint FROM unnest($1::text[]) AS m(id),
                     LATERAL (SELECT max(timestamp) AS last FROM {table} WHERE machine_id = m.id) x"
                );
                client.query_one(&sql, &[ids]).await
            }
        }
        .map_err(|e| classify("cannot find where the stored history ends", e))?;
        Ok(row.get::<_, Option<i64>>(0).map(|last| Progress { stream, through: last + step, counters: None }))
    }

    async fn reset(&mut self) -> Result<()> {
        self.batch.clear();
        self.first_day = None;
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        advance_sequences(&self.pool).await
    }
}

impl PostgresSink {
    fn stream(&mut self, route: Route) -> &mut Stream {
        let pool = self.pool.clone();
        let rt = &self.rt;
        let (table, part, _) = route;
        let into = match (part, &self.staging) {
            (Some(part), Some(staging)) => staging.table(table, part).expect("a staged part").to_owned(),
            _ => table.name().to_owned(),
        };
        self.streams.entry(route).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let done = rt.spawn(copy_stream(pool, table, into, rx));
            Stream { tx, done }
        })
    }

    fn send(&mut self, route: Route, bytes: Vec<u8>) -> Result<()> {
        let tx = self.stream(route).tx.clone();
        if tx.blocking_send(Bytes::from(bytes)).is_err() {
            // The stream ended early: its error says why.
            let s = self.streams.remove(&route).expect("stream exists");
            return match self.rt.block_on(s.done) {
                Ok(Err(e)) => Err(e),
                Ok(Ok(_)) => bail!("COPY into {} ended early", route.0.name()),
                Err(e) => bail!("COPY into {} failed: {e}", route.0.name()),
            };
        }
        Ok(())
    }

    /// The route of `table`'s rows of `day`: a staging table when the table or day is staged
    /// (a new day means the table's previous staged day is complete: it is closed), else the
    /// table.
    fn route(&mut self, table: Table, day: i64, k: usize) -> Result<Route> {
        let part = self.staging.as_ref().and_then(|s| s.part(table, day));
        if part == Some(Part::Day(day)) {
            if let Some(prev) = self.open_day.insert(table, day).filter(|&p| p != day) {
                self.close(table, Part::Day(prev))?;
            }
        }
        Ok((table, part, k))
    }

    /// Commits the COPY streams of `table`'s staged `part`, then starts building its indexes.
    fn close(&mut self, table: Table, part: Part) -> Result<()> {
        let routes: Vec<Route> =
            self.streams.keys().filter(|(t, p, _)| *t == table && *p == Some(part)).copied().collect();
        for route in routes {
            let s = self.streams.remove(&route).expect("stream exists");
            drop(s.tx);
            let (_, decide, result) = self
                .rt
                .block_on(s.done)
                .map_err(|e| anyhow!("COPY of the new rows of {} failed: {e}", table.name()))??;
            let _ = decide.send(true);
            self.rt.block_on(result).map_err(|_| anyhow!("the transaction of {} was lost", table.name()))??;
        }
        if let Some(staging) = &mut self.staging {
            staging.index(&self.rt, &self.pool, table, part);
        }
        Ok(())
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn format(&self) -> Format {
        Format::PgBinary
    }
}

/// `genims backfill --finalize`: the once-only steps after shards loaded separately — id
/// sequences past every stored id, fresh planner statistics — and the staging tables of
/// interrupted loads dropped.
pub fn finalize(rt: &tokio::runtime::Handle, target: &db::Target) -> Result<()> {
    let pool = db::pool(target, 1, Duration::from_secs(10))?;
    rt.block_on(async {
        advance_sequences(&pool).await?;
        let mut client = pool.get().await.map_err(pool_error)?;
        staging::sweep(&client, None).await?;
        refresh_statistics(&mut client, true).await
    })
}

impl Bulk for PostgresSink {
    fn checkpoints(&mut self, at: i64) -> Result<BTreeMap<String, (i64, Counters)>> {
        self.rt.block_on(stored_counters(&self.pool, at))
    }

    fn write(&mut self, day: i64, table: Table, bytes: Bytes, _rows: u64) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = bytes.into();
        match table {
            Table::SensorData => {
                let k = self.next_sensor;
                self.next_sensor = (k + 1) % self.sensor_streams;
                let route = self.route(table, day, k)?;
                self.send(route, bytes)
            }
            Table::ScadaMachineData | Table::SensorHealth => {
                let route = self.route(table, day, 0)?;
                self.send(route, bytes)
            }
            _ => {
                self.held.entry(table).or_default().extend_from_slice(&bytes);
                Ok(())
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        for (table, bytes) in std::mem::take(&mut self.held) {
            self.send((table, None, 0), bytes)?;
        }
        // The staged parts still loading are complete now.
        for (table, day) in std::mem::take(&mut self.open_day) {
            self.close(table, Part::Day(day))?;
        }
        for table in self.staging.as_ref().map(Staging::wholes).unwrap_or_default() {
            self.close(table, Part::Whole)?;
        }
        if let Some(staging) = &mut self.staging {
            staging.index_rest(&self.rt, &self.pool);
        }
        let streams = std::mem::take(&mut self.streams);
        let mut pending = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        for ((table, _, _), s) in streams {
            drop(s.tx);
            match self.rt.block_on(s.done) {
                Ok(Ok((_, decide, result))) => pending.push((table, decide, result)),
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(e) => failure = failure.or(Some(anyhow!("COPY into {} failed: {e}", table.name()))),
            }
        }
        let mut staging = self.staging.take();
        self.rt.block_on(settle(pending, failure, staging.as_mut()))?;
        self.rt.block_on(advance_sequences(&self.pool))?;
        self.analyze()
    }
}

impl Drop for PostgresSink {
    /// A load that ends without finishing (an error on the way) drops its staging tables;
    /// its open COPY transactions roll back as their connections go.
    fn drop(&mut self) {
        if let Some(mut staging) = self.staging.take() {
            self.streams.clear();
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), staging.abandon()).await });
        }
    }
}

/// A COPY transaction waiting for the decision: its table, the decision's sender, and the
/// receiver of the commit's result.
type Pending = (Table, oneshot::Sender<bool>, oneshot::Receiver<Result<()>>);

/// Ends a bulk load. Without staging tables: commits every COPY transaction, or, after a
/// `failure`, rolls them all back. With them: waits for their indexes, puts them in place in
/// the final transaction, commits the COPY transactions and then the final one — and after
/// any failure rolls back everything and drops the staging tables.
async fn settle(pending: Vec<Pending>, failure: Option<anyhow::Error>, staging: Option<&mut Staging>) -> Result<()> {
    let Some(staging) = staging else {
        return decide_all(pending, failure).await;
    };
    let failure = match failure {
        Some(e) => e,
        None => match staging.indexed().await {
            Err(e) => e,
            Ok(()) => {
                // Unless the staged rows are in place the COPY transactions are never told to
                // commit:
                // they roll back as their decisions are dropped.
                let result = staging.install(decide_all(pending, None)).await;
                if result.is_err() {
                    staging.abandon().await;
                }
                return result;
            }
        },
    };
    let result = decide_all(pending, Some(failure)).await;
    staging.abandon().await;
    result
}

/// Sends every pending transaction the same decision — commit unless there was a `failure`
/// — and collects the outcomes; the first error is the result.
async fn decide_all(pending: Vec<Pending>, mut failure: Option<anyhow::Error>) -> Result<()> {
    let commit = failure.is_none();
    let mut results = Vec::new();
    for (table, decide, result) in pending {
        let _ = decide.send(commit);
        results.push((table, result));
    }
    for (table, result) in results {
        match result.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some(anyhow!("the transaction of {} was lost", table.name()))),
        }
    }
    failure.map_or(Ok(()), Err)
}

impl PostgresSink {
    /// Refreshes the planner statistics of every table after a bulk load, as pg_restore
    /// advises: autovacuum would get there eventually, but queries run straight after a
    /// backfill (the detection views, `genims evaluate`) would be planned on empty statistics.
    fn analyze(&mut self) -> Result<()> {
        let pool = self.pool.clone();
        self.rt.block_on(async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            refresh_statistics(&mut client, false).await
        })
    }
}

/// Refreshes the planner statistics of the operational tables — unless, when not asked to
/// `wait`, another process (a shard finishing at the same time) is doing it right now: no
/// shard waits for another.
pub async fn refresh_statistics(client: &mut deadpool_postgres::Object, wait: bool) -> Result<()> {
    let fail = |e: tokio_postgres::Error| anyhow!("cannot refresh the planner statistics: {}", db::cause(&e));
    let tx = client.transaction().await.map_err(fail)?;
    let mine: bool = if wait {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_ANALYZE]).await.map_err(fail)?;
        true
    } else {
        tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&LOCK_ANALYZE]).await.map_err(fail)?.get(0)
    };
    if mine {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        tx.batch_execute(&format!("ANALYZE {}", names.join(", "))).await.map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

/// Counters stored in scada_machine_data in the day before `at`, per machine: the latest
/// record's instant and counters.
async fn stored_counters(pool: &Pool, at: i64) -> Result<BTreeMap<String, (i64, Counters)>> {
    let client = pool.get().await.map_err(pool_error)?;
    let sql = format!(
        "SELECT DISTINCT ON (machine_id) machine_id::text, extract(epoch FROM timestamp)::bigint,
                parts_produced_cumulative, energy_consumed_kwh::float8
         FROM scada_machine_data
         WHERE timestamp < to_timestamp({at}) AT TIME ZONE 'UTC' AND timestamp >= to_timestamp({at}) AT TIME ZONE 'UTC' - interval '1 day'
           AND parts_produced_cumulative IS NOT NULL AND energy_consumed_kwh IS NOT NULL
         ORDER BY machine_id, timestamp DESC"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| anyhow!("cannot read the counters already stored: {}", db::cause(&e)))?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), (r.get::<_, i64>(1), Counters { parts: r.get(2), energy_kwh: r.get(3) })))
        .collect())
}

/// Advances the id sequences past the explicit ids genims wrote.
async fn advance_sequences(pool: &Pool) -> Result<()> {
    let client = pool.get().await.map_err(pool_error)?;
    // One implicit transaction under the sequence lock; a sequence only ever moves up, so
    // shards finishing in any order leave it past every id any of them stored.
    let mut sql = format!("SELECT pg_advisory_xact_lock({LOCK_SEQUENCES});");
    for t in Table::ALL {
        if let Some(col) = t.serial() {
            sql += &format!(
                "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), GREATEST((SELECT max({1}) FROM {0}), \
                 pg_sequence_last_value(pg_get_serial_sequence('{0}', '{1}')::regclass), 1));",
                t.name(),
                col
            );
        }
    }
    client.batch_execute(&sql).await.map_err(|e| anyhow!("cannot advance the id sequences: {}", db::cause(&e)))
}

/// The plant record the database's master data must match.
fn identity(run: &super::registry::Run) -> PlantIdentity {
    PlantIdentity::of(run.plant, &run.engine.plant)
}

/// Opens the database for a backfill's bulk load (the registry's row).
pub fn open_bulk(run: &super::registry::Run) -> Result<Box<dyn Bulk>> {
    let target = run.postgres.target()?;
    Ok(Box::new(PostgresSink::new(run.rt.clone(), &target, run.postgres.pool_size, run.window, &identity(run))?))
}

/// Opens the database for a stream; a shard's history ends where its own machines' does (the
/// registry's row).
pub fn open_live(run: &super::registry::Run) -> Result<Box<dyn Live>> {
    let target = run.postgres.target()?;
    let all = &run.engine.plant.machines;
    let ids =
        (run.shard.count > 1).then(|| run.shard.machines(all.len()).into_iter().map(|m| all[m].id.clone()).collect());
    Ok(Box::new(PostgresLive::new(run.rt.clone(), &target, &identity(run), ids)?))
}
