//! New daily partitions, loaded the way PostgreSQL loads fastest: load, then index, then
//! attach.
//!
//! With a daily-partitioned schema, every day of the window whose partition does not exist
//! yet is loaded into a standalone table with no index (`genims_load_<token>_<n>`, with a
//! CHECK constraint on the day's bounds). When the day is complete its keys and indexes are
//! built — the parent's own definitions, read from the catalogue, so a user's index is built
//! too — while the next day loads. The load's final transaction attaches each table as the
//! day's partition: the CHECK constraint spares ATTACH its validation scan, and the indexes
//! built beforehand become the partition's (nothing is built twice). The tables and their
//! indexes are then named as `CREATE TABLE … PARTITION OF` would have named them.
//!
//! All or nothing: until that transaction commits the partitioned tables are untouched. A
//! load that fails drops its tables; one that is killed leaves them behind, and the next
//! load (or `backfill --finalize`) drops them — never another live load's: each load holds a
//! session advisory lock on its token while its tables exist.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use deadpool_postgres::Pool;
use tokio::task::JoinHandle;

use super::LOCK_PARTITIONS;
use crate::db;
use crate::rows::Table;
use crate::sim::clock::{date_string, day_tag, DAY};

/// First key of the two-key advisory lock a load holds on its token ("geni").
const LOAD_LOCK: i32 = 0x6765_6e69;
/// Names of staging tables: `genims_load_<token as 8 hex digits>_<n>`.
const PREFIX: &str = "genims_load_";
/// The staging table's CHECK constraint on the day's bounds.
const BOUNDS: &str = "genims_load_bounds";
/// What an index build may use, as for the ceiling it is measured against (raised only).
const INDEX_MEMORY: &str = "512MB";
/// How long the final transaction waits for a lock before it gives up (never forever).
const ATTACH_LOCK_TIMEOUT: &str = "60s";

/// The time-series tables that are partitioned by day.
pub const PARTITIONED: [Table; 2] = [Table::ScadaMachineData, Table::SensorData];

/// One load's staging tables.
pub struct Staging {
    /// The session that holds the load's advisory lock, and runs its final transaction.
    holder: tokio_postgres::Client,
    tables: BTreeMap<(Table, i64), Staged>,
}

struct Staged {
    name: String,
    indexing: Option<JoinHandle<Result<()>>>,
}

/// The day's partition of `table`.
fn partition_name(table: Table, day: i64) -> String {
    format!("{}_p{}", table.name(), day_tag(day))
}

/// Catalogue query: the statements that give staging table `$2` the keys and indexes of
/// partitioned table `$1` (constraints from their definitions, other indexes from theirs).
const INDEX_DEFINITIONS: &str = "
    SELECT 'ALTER TABLE ' || quote_ident($2) || ' ADD ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype IN ('p', 'u')
    UNION ALL
    SELECT 'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ON ' || quote_ident($2)
           || substring(pg_get_indexdef(i.indexrelid) FROM ' USING .*$')
      FROM pg_index i
     WHERE i.indrelid = $1::text::regclass
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)";

impl Staging {
    /// Takes a token, drops what killed loads left behind, and creates a staging table for
    /// each of `days` (UTC midnights) whose partition does not exist yet.
    pub async fn begin(target: &db::Target, days: &[i64]) -> Result<Staging> {
        let holder = db::connect(target).await?;
        let fail = |e: tokio_postgres::Error| anyhow!("cannot prepare the new daily partitions: {}", db::cause(&e));
        let mut token = std::process::id();
        while !holder
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOAD_LOCK, &(token as i32)])
            .await
            .map_err(fail)?
            .get::<_, bool>(0)
        {
            token = token.wrapping_add(0x9e37_79b9);
        }
        sweep(&holder, Some(token)).await?;
        let wanted: Vec<String> =
            days.iter().flat_map(|&d| PARTITIONED.iter().map(move |&t| partition_name(t, d))).collect();
        let missing: Vec<String> = holder
            .query_one(
                "SELECT coalesce(array_agg(p), '{}') FROM unnest($1::text[]) AS p WHERE to_regclass(p) IS NULL",
                &[&wanted],
            )
            .await
            .map_err(fail)?
            .get(0);
        let mut tables = BTreeMap::new();
        let mut sql = String::new();
        for &day in days {
            for table in PARTITIONED {
                if !missing.contains(&partition_name(table, day)) {
                    continue;
                }
                let name = format!("{PREFIX}{token:08x}_{}", tables.len());
                sql += &format!(
                    "CREATE TABLE {name} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, \
                     CONSTRAINT {BOUNDS} CHECK (\"timestamp\" >= '{from}' AND \"timestamp\" < '{to}'));",
                    t = table.name(),
                    from = date_string(day),
                    to = date_string(day + DAY),
                );
                tables.insert((table, day), Staged { name, indexing: None });
            }
        }
        // One implicit transaction: all the tables, or none.
        holder.batch_execute(&sql).await.map_err(fail)?;
        Ok(Staging { holder, tables })
    }

    /// The staging table that takes `table`'s rows of `day`, if that day is staged.
    pub fn table(&self, table: Table, day: i64) -> Option<&str> {
        self.tables.get(&(table, day)).map(|s| s.name.as_str())
    }

    /// Starts building the keys and indexes of `table`'s staged `day`, whose rows are all
    /// committed; the build runs while the load goes on.
    pub fn index(&mut self, rt: &tokio::runtime::Handle, pool: &Pool, table: Table, day: i64) {
        if let Some(s) = self.tables.get_mut(&(table, day)) {
            if s.indexing.is_none() {
                s.indexing = Some(rt.spawn(build_indexes(pool.clone(), table, s.name.clone())));
            }
        }
    }

    /// Starts the builds not started yet (days that received no rows).
    pub fn index_rest(&mut self, rt: &tokio::runtime::Handle, pool: &Pool) {
        let keys: Vec<(Table, i64)> = self.tables.keys().copied().collect();
        for (table, day) in keys {
            self.index(rt, pool, table, day);
        }
    }

    /// Waits for every index build; the first failure is the result.
    pub async fn indexed(&mut self) -> Result<()> {
        let mut first = None;
        for ((table, _), s) in &mut self.tables {
            if let Some(h) = s.indexing.take() {
                let r = h
                    .await
                    .unwrap_or_else(|e| Err(anyhow!("indexing the new partition of {} failed: {e}", table.name())));
                first = first.or(r.err());
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The load's final transaction, on the holder's session: attaches every staged day as
    /// its partition (or, when a concurrent load attached that day first, moves its rows
    /// in), then runs `commit_others` (the load's other transactions) and commits last. If
    /// anything fails, nothing is attached and `commit_others` does not run.
    pub async fn attach(&mut self, commit_others: impl std::future::Future<Output = Result<()>>) -> Result<()> {
        let fail = |e: tokio_postgres::Error| anyhow!("cannot attach the new daily partitions: {}", db::cause(&e));
        let tx = self.holder.transaction().await.map_err(fail)?;
        // Concurrent loads (shards) take turns; each turn is short, so the wait is not timed.
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({LOCK_PARTITIONS}); SET LOCAL lock_timeout = '{ATTACH_LOCK_TIMEOUT}'"
        ))
        .await
        .map_err(fail)?;
        for ((table, day), s) in &self.tables {
            let (t, name, partition) = (table.name(), &s.name, partition_name(*table, *day));
            let exists: bool =
                tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&partition]).await.map_err(fail)?.get(0);
            if exists {
                tx.batch_execute(&format!("INSERT INTO {t} SELECT * FROM {name}; DROP TABLE {name}"))
                    .await
                    .map_err(fail)?;
                continue;
            }
            tx.batch_execute(&format!(
                "ALTER TABLE {t} ATTACH PARTITION {name} FOR VALUES FROM ('{}') TO ('{}');
                 ALTER TABLE {name} DROP CONSTRAINT {BOUNDS};
                 ALTER TABLE {name} RENAME TO {partition}",
                date_string(*day),
                date_string(day + DAY)
            ))
            .await
            .map_err(fail)?;
            let indexes = tx
                .query(
                    "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                      WHERE i.indrelid = $1::text::regclass",
                    &[&partition],
                )
                .await
                .map_err(fail)?;
            let mut renames = String::new();
            for r in indexes {
                let index: String = r.get(0);
                if let Some(rest) = index.strip_prefix(name.as_str()) {
                    renames += &format!("ALTER INDEX {index} RENAME TO {partition}{rest};");
                }
            }
            tx.batch_execute(&renames).await.map_err(fail)?;
        }
        commit_others.await?;
        tx.commit().await.map_err(|e| anyhow!("cannot commit the new daily partitions: {}", db::cause(&e)))
    }

    /// Drops the staging tables after a failed load (best effort: what remains, the next
    /// load drops).
    pub async fn abandon(&mut self) {
        for s in self.tables.values_mut() {
            if let Some(h) = s.indexing.take() {
                h.abort();
            }
        }
        let names: Vec<&str> = self.tables.values().map(|s| s.name.as_str()).collect();
        if names.is_empty() {
            return;
        }
        let sql = format!("SET lock_timeout = '5s'; DROP TABLE IF EXISTS {}", names.join(", "));
        if let Err(e) = self.holder.batch_execute(&sql).await {
            tracing::debug!(message = "staging tables left for the next load to drop", error = %db::cause(&e));
        }
    }
}

/// Builds, in one transaction, the keys and indexes of `table`'s partitioned parent on
/// staging table `name`.
async fn build_indexes(pool: Pool, table: Table, name: String) -> Result<()> {
    let t = table.name();
    let fail = |e: tokio_postgres::Error| anyhow!("cannot index the new partition of {t}: {}", db::cause(&e));
    let mut client = pool.get().await.map_err(|e| anyhow!("cannot get a PostgreSQL connection: {e}"))?;
    let tx = client.transaction().await.map_err(fail)?;
    tx.batch_execute(&format!(
        "SELECT set_config('maintenance_work_mem', '{INDEX_MEMORY}', true)
          WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('{INDEX_MEMORY}')"
    ))
    .await
    .map_err(fail)?;
    for r in tx.query(INDEX_DEFINITIONS, &[&t, &name]).await.map_err(fail)? {
        tx.batch_execute(r.get::<_, &str>(0)).await.map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

/// Drops the staging tables of loads that are gone (their token's lock is free), and those
/// of `own` token (a previous process that had the same token).
pub async fn sweep(client: &tokio_postgres::Client, own: Option<u32>) -> Result<()> {
    let fail = |e: tokio_postgres::Error| anyhow!("cannot drop the tables of an interrupted load: {}", db::cause(&e));
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c
              WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
                AND c.relname ~ '^genims_load_[0-9a-f]{8}_[0-9]+$'",
            &[],
        )
        .await
        .map_err(fail)?;
    let mut by_token: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for r in rows {
        let name: String = r.get(0);
        if let Ok(token) = u32::from_str_radix(&name[PREFIX.len()..PREFIX.len() + 8], 16) {
            by_token.entry(token).or_default().push(name);
        }
    }
    for (token, names) in by_token {
        let drop = format!("DROP TABLE IF EXISTS {}", names.join(", "));
        if Some(token) == own {
            client.batch_execute(&drop).await.map_err(fail)?;
            continue;
        }
        let free: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOAD_LOCK, &(token as i32)])
            .await
            .map_err(fail)?
            .get(0);
        if free {
            let dropped = client.batch_execute(&drop).await.map_err(fail);
            client.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOAD_LOCK, &(token as i32)]).await.map_err(fail)?;
            dropped?;
            tracing::info!(message = "dropped the staging tables of an interrupted load", tables = names.len());
        }
    }
    Ok(())
}
