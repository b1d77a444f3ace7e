//! Retention: removing what lies before a horizon from a genims database, without blocking
//! the stream that writes to it.
//!
//! - Daily partitions of `sensor_data` and `scada_machine_data` whose whole day lies before
//!   the horizon are detached (`DETACH PARTITION … CONCURRENTLY`: inserts into other
//!   partitions go on) and dropped. A detach left pending by an interruption is finished.
//! - Unpartitioned operational tables lose their rows before the horizon by their time
//!   column, machine by machine (or line by line) through the indexes that lead with it, at
//!   most [`BATCH_ROWS`] rows a transaction.
//! - A fault or data-quality label goes when its whole episode (or stretch) ends before the
//!   horizon, so that no label outlives the data it describes by more than its episode.
//! - Master data, `genims_plant`, `genims_stream_progress`, `genims_injections` and
//!   `genims_schema_version` are never touched: resume and replay stay exact.

use anyhow::{anyhow, Result};
use tokio_postgres::Client;

use super::schema::TIMESERIES_TABLES;
use crate::clock::instant_string;
use crate::db;
use crate::setting;

/// The `[retention]` settings.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Days of data a database keeps behind the newest (a stream: behind its simulated
    /// clock; the Kafka topics a stream creates get it as `retention.ms`); 0 keeps
    /// everything.
    #[serde(deserialize_with = "setting::int::<_, _, 0, 36_500>")]
    pub days: u32,
}

/// Rows a delete removes in one transaction at most.
pub const BATCH_ROWS: i64 = 50_000;

/// A table retention deletes from: the column naming the machine (or line) its index
/// leads with, the time column, and what else a row must satisfy to go.
struct Pruned {
    table: &'static str,
    key: Key,
    time: &'static str,
    also: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
enum Key {
    Machine,
    Line,
}

/// Every table retention deletes rows from, in the order it does.
const TABLES: [Pruned; 8] = [
    Pruned { table: "sensor_data", key: Key::Machine, time: "timestamp", also: "" },
    Pruned { table: "scada_machine_data", key: Key::Machine, time: "timestamp", also: "" },
    Pruned { table: "sensor_health", key: Key::Machine, time: "timestamp", also: "" },
    Pruned { table: "machine_faults", key: Key::Machine, time: "fault_start_time", also: "" },
    Pruned { table: "maintenance_events", key: Key::Machine, time: "scheduled_start", also: "" },
    Pruned { table: "production_runs", key: Key::Line, time: "run_start_time", also: "" },
    Pruned { table: "fault_labels", key: Key::Machine, time: "onset_time", also: " AND end_time < {h}" },
    Pruned { table: "data_quality_labels", key: Key::Machine, time: "start_time", also: " AND end_time < {h}" },
];

/// What one retention run removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Removed {
    /// Rows deleted per table (dropped partitions not counted here).
    pub rows: Vec<(&'static str, u64)>,
    /// Partitions dropped, by name.
    pub partitions: Vec<String>,
}

impl Removed {
    pub fn total_rows(&self) -> u64 {
        self.rows.iter().map(|r| r.1).sum()
    }
}

/// The plant's machine and line ids whose rows a run removes.
pub struct Scope<'a> {
    pub machines: &'a [&'a str],
    pub lines: &'a [&'a str],
}

/// Removes everything before `horizon` (Unix seconds) that retention removes. Each delete
/// and each detach is its own transaction, so a stream writing meanwhile is never blocked
/// for longer than one batch.
pub async fn prune(client: &Client, horizon: i64, scope: &Scope<'_>) -> Result<Removed> {
    let mut removed = Removed::default();
    let mut partitioned = Vec::new();
    for t in TIMESERIES_TABLES {
        if is_partitioned(client, t).await? {
            removed.partitions.extend(drop_partitions(client, t, horizon).await?);
            partitioned.push(*t);
        }
    }
    let h = format!("TIMESTAMP '{}'", instant_string(horizon).trim_end_matches('Z').replace('T', " "));
    for t in &TABLES {
        if partitioned.contains(&t.table) {
            continue;
        }
        let also = t.also.replace("{h}", &h);
        let sql = format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {key} = $1 AND {time} < {h}{also} LIMIT {BATCH_ROWS}))",
            table = t.table,
            key = if t.key == Key::Machine { "machine_id" } else { "line_id" },
            time = t.time,
        );
        let statement = client.prepare(&sql).await.map_err(|e| fail(t.table, &e))?;
        let ids = if t.key == Key::Machine { scope.machines } else { scope.lines };
        let mut rows = 0;
        for id in ids {
            loop {
                let n = client.execute(&statement, &[id]).await.map_err(|e| fail(t.table, &e))?;
                rows += n;
                if n < BATCH_ROWS as u64 {
                    break;
                }
            }
        }
        removed.rows.push((t.table, rows));
    }
    Ok(removed)
}

fn fail(table: &str, e: &tokio_postgres::Error) -> anyhow::Error {
    anyhow!("retention cannot prune {table}: {}", db::cause(e))
}

async fn is_partitioned(client: &Client, table: &str) -> Result<bool> {
    let row = client
        .query_opt(
            "SELECT c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = $1",
            &[&table],
        )
        .await
        .map_err(|e| fail(table, &e))?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// Detaches and drops every partition of `table` whose range ends at or before `horizon`.
/// Shards pruning at once take turns (an advisory lock); one that finds the lock taken
/// leaves the partitions to the holder.
async fn drop_partitions(client: &Client, table: &str, horizon: i64) -> Result<Vec<String>> {
    let err = |e: tokio_postgres::Error| fail(table, &e);
    let locked: bool = client.query_one("SELECT pg_try_advisory_lock(8137202)", &[]).await.map_err(err)?.get(0);
    if !locked {
        return Ok(Vec::new());
    }
    let result = drop_partitions_locked(client, table, horizon).await;
    client.batch_execute("SELECT pg_advisory_unlock(8137202)").await.map_err(err)?;
    result
}

async fn drop_partitions_locked(client: &Client, table: &str, horizon: i64) -> Result<Vec<String>> {
    let err = |e: tokio_postgres::Error| fail(table, &e);
    let rows = client
        .query(
            "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending \
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::text::regclass ORDER BY 1",
            &[&table],
        )
        .await
        .map_err(err)?;
    let mut dropped = Vec::new();
    for r in rows {
        let (name, bound, pending): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if upper_bound(&bound).is_none_or(|end| end > horizon) {
            continue;
        }
        let how = if pending { "FINALIZE" } else { "CONCURRENTLY" };
        client.batch_execute(&format!("ALTER TABLE {table} DETACH PARTITION {name} {how}")).await.map_err(err)?;
        client.batch_execute(&format!("DROP TABLE IF EXISTS {name}")).await.map_err(err)?;
        dropped.push(name);
    }
    Ok(dropped)
}

/// The end of a range partition's bound, `FOR VALUES FROM ('…') TO ('2026-03-05 00:00:00')`,
/// in Unix seconds.
fn upper_bound(bound: &str) -> Option<i64> {
    let to = bound.split(" TO ('").nth(1)?.split('\'').next()?;
    crate::clock::parse_instant(&format!("{}Z", to.replace(' ', "T"))).ok()
}

/// The horizon `keep` seconds before `newest`, at the start of its UTC hour: what lies
/// before it goes.
pub fn horizon(newest: i64, keep: i64) -> i64 {
    let h = newest - keep;
    h - h.rem_euclid(3600)
}

/// Where the time-series data in the database ends (what `prune` measures its horizon back
/// from): the end of the newest reading's 10 s or SCADA minute — for a stream, its
/// `through` — if it holds any.
pub async fn newest(client: &Client) -> Result<Option<i64>> {
    let row = client
        .query_one(
            "SELECT extract(epoch FROM greatest((SELECT max(timestamp) + interval '10 seconds' FROM sensor_data), \
             (SELECT max(timestamp) + interval '1 minute' FROM scada_machine_data)))::bigint",
            &[],
        )
        .await
        .map_err(|e| anyhow!("cannot read the newest data: {}", db::cause(&e)))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::DAY;

    #[test]
    fn a_partitions_upper_bound_is_read_from_its_expression() {
        let b = "FOR VALUES FROM ('2026-03-04 00:00:00') TO ('2026-03-05 00:00:00')";
        assert_eq!(upper_bound(b), Some(crate::clock::parse_instant("2026-03-05T00:00:00Z").unwrap()));
        assert_eq!(upper_bound("DEFAULT"), None);
    }

    #[test]
    fn the_horizon_is_whole_hours_behind_the_newest() {
        let t = crate::clock::parse_instant("2026-03-10T12:34:56Z").unwrap();
        assert_eq!(instant_string(horizon(t, 2 * DAY)), "2026-03-08T12:00:00Z");
        assert_eq!(horizon(t, 0), t - 34 * 60 - 56);
    }

    #[test]
    fn every_operational_and_label_table_is_pruned_and_nothing_else() {
        let pruned: Vec<&str> = TABLES.iter().map(|t| t.table).collect();
        for t in crate::rows::Table::ALL {
            assert!(pruned.contains(&t.name()), "{} is not pruned", t.name());
        }
        assert_eq!(pruned.len(), crate::rows::Table::ALL.len(), "only tables genims writes rows of");
    }
}
