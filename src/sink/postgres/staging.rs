//! Load, then index, then put in place: how PostgreSQL loads fastest, kept all or nothing.
//!
//! The big time-series tables are loaded into standalone tables with no index
//! (`genims_load_<token>_<n>`), through several COPY streams at once; their keys and indexes
//! — the target's own definitions, read from the catalogue, a user's index included — are
//! built once their rows are all there, and the load's final transaction puts them in place:
//!
//! - **daily partitions** ([`Part::Day`]): each day of the window that has no partition yet
//!   has its own table, with a CHECK constraint on the day's bounds; it is indexed while the
//!   next day loads, and attached as the day's partition. The CHECK constraint spares ATTACH
//!   its validation scan; the indexes built beforehand become the partition's.
//! - **an empty unpartitioned table** ([`Part::Whole`]) that holds nothing genims cannot
//!   rebuild exactly (no grants, comments, triggers, policies, rules, dependent views or
//!   foreign keys, other constraints, inheritance, publications, storage options or extended
//!   statistics, and owned by the loading role) is replaced: the staging table, indexed
//!   under temporary names, takes its name, its keys' and indexes' names and its id
//!   sequence. Its indexes are built in [`BUILD_SESSIONS`] sessions at once, its primary key
//!   as one of them (a unique index that becomes the key). Any other table is loaded through
//!   its indexes, as before.
//!
//! Tables, partitions and indexes end up named exactly as `schema apply` and `CREATE TABLE …
//! PARTITION OF` name them. Until the final transaction commits the target tables are
//! untouched. A load that fails drops its staging tables; one that is killed leaves them,
//! and the next load (or `backfill --finalize`) drops them — never another live load's: each
//! load holds a session advisory lock on its token while its tables exist. When the target
//! changed under the load (a concurrent shard put its day or table in place first, or a
//! stream wrote rows), the staged rows are moved in with `INSERT … SELECT` instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Result};
use deadpool_postgres::Pool;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::GenericClient;

use super::LOCK_PARTITIONS;
use crate::clock::{date_string, day_tag, DAY};
use crate::db;
use crate::rows::Table;

/// First key of the two-key advisory lock a load holds on its token ("geni").
const LOAD_LOCK: i32 = 0x6765_6e69;
/// Names of staging tables: `genims_load_<token as 8 hex digits>_<n>`.
const PREFIX: &str = "genims_load_";
/// The staging table's CHECK constraint on the day's bounds.
const BOUNDS: &str = "genims_load_bounds";
/// What an index build may use, as for the ceiling it is measured against (raised only).
const INDEX_MEMORY: &str = "512MB";
/// How long the final transaction waits for a table lock before it gives up.
const FINAL_LOCK_TIMEOUT: &str = "60s";

/// The big time-series tables, loaded through staging tables.
pub const STAGED: [Table; 2] = [Table::ScadaMachineData, Table::SensorData];

/// What a staging table becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The daily partition of the UTC day starting at this instant.
    Day(i64),
    /// The whole (empty, unpartitioned) table.
    Whole,
}

/// One key or index of a target table: its name, and how to build it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    name: String,
    /// A constraint (`PRIMARY KEY (…)`, `UNIQUE (…)`), else an index.
    constraint: bool,
    unique: bool,
    /// The constraint's definition, or the index's ` USING …` clause.
    def: String,
}

/// The keys and indexes of `$1`, by name.
const KEYS: &str = "
    SELECT conname::text, true, false, pg_get_constraintdef(oid)
      FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype IN ('p', 'u')
    UNION ALL
    SELECT c.relname::text, false, i.indisunique, substring(pg_get_indexdef(i.indexrelid) FROM ' USING .*$')
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = $1::text::regclass
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    ORDER BY 1";

/// Whether `$1` is an empty plain table holding nothing but what [`Part::Whole`] rebuilds.
const REPLACEABLE: &str = "
    SELECT c.relkind = 'r' AND c.relpersistence = 'p' AND NOT c.relispartition
       AND c.relacl IS NULL AND c.reloptions IS NULL AND NOT c.relrowsecurity
       AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
       AND obj_description(c.oid, 'pg_class') IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                        AND (a.attacl IS NOT NULL OR a.attstattarget >= 0
                             OR EXISTS (SELECT 1 FROM unnest(a.attoptions) o WHERE starts_with(o, 'n_distinct'))
                             OR col_description(c.oid, a.attnum) IS NOT NULL))
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass
                        AND d.refobjid = c.oid AND d.deptype = 'n')
       AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_statistic_ext WHERE stxrelid = c.oid)
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                        WHERE (k.conrelid = c.oid AND k.contype NOT IN ('p', 'u')) OR k.confrelid = c.oid)
    FROM pg_class c WHERE c.oid = $1::text::regclass";

/// One load's staging tables.
pub struct Staging {
    /// The session that holds the load's advisory lock, and runs its final transaction.
    holder: tokio_postgres::Client,
    tables: BTreeMap<(Table, Part), Staged>,
}

struct Staged {
    name: String,
    /// The target's keys and indexes when the load began.
    keys: Vec<Key>,
    indexing: Option<JoinHandle<Result<()>>>,
}

/// The day's partition of `table`.
fn partition_name(table: Table, day: i64) -> String {
    format!("{}_p{}", table.name(), day_tag(day))
}

/// `s` as an SQL identifier.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// How a staging table's keys and indexes are built: `indexes` spread over `sessions`
/// sessions at once (each its own transaction), then `constraints` in one more transaction,
/// which needs the table to itself.
#[derive(Debug)]
struct Build {
    indexes: Vec<Step>,
    constraints: Vec<Step>,
    sessions: usize,
}

/// One statement of a build, and the target's key or index it builds (named in errors).
#[derive(Debug, Clone)]
struct Step {
    key: String,
    sql: String,
}

/// How many sessions build a whole table's indexes at once. A build spends part of its time
/// writing sorted runs, WAL and index pages; a second session sorts meanwhile (seven default
/// days' sensor_data on this project's 2-core machine: the seven keys 415 s in one session,
/// 367–404 s in two; BENCHMARKS.md, 2026-12-03, e7e68ae). A daily partition's keys are built in one
/// session while the next day loads.
pub const BUILD_SESSIONS: usize = 2;

/// The columns of a constraint `def` that an index built beforehand can take over (`PRIMARY
/// KEY (…)` or `UNIQUE (…)` over plain columns, nothing else): the keyword and the list.
fn index_backed(def: &str) -> Option<(&str, &str)> {
    ["PRIMARY KEY", "UNIQUE"].into_iter().find_map(|kind| {
        let list = def.strip_prefix(kind)?.strip_prefix(' ')?;
        let inner = list.strip_prefix('(')?.strip_suffix(')')?;
        (!inner.contains(['(', ')'])).then_some((kind, list))
    })
}

/// How to build `keys` on staging table `name`: under the names PostgreSQL chooses (a
/// partition's, renamed after the attach; one session), or under temporary names
/// `<name>_k<i>` (a whole table's, renamed to the originals after the swap). A whole table's
/// primary key and unique constraints are built as unique indexes beside the others, and
/// become constraints at the end (`ADD CONSTRAINT … USING INDEX`, which takes no scan).
fn build_plan(name: &str, keys: &[Key], part: Part) -> Build {
    let sessions = if part == Part::Whole { BUILD_SESSIONS } else { 1 };
    let mut plan = Build { indexes: Vec::new(), constraints: Vec::new(), sessions };
    for (i, k) in keys.iter().enumerate() {
        let step = |sql: String| Step { key: k.name.clone(), sql };
        let unique = if k.unique { "UNIQUE " } else { "" };
        match part {
            Part::Day(_) if k.constraint => plan.constraints.push(step(format!("ALTER TABLE {name} ADD {}", k.def))),
            Part::Day(_) => plan.indexes.push(step(format!("CREATE {unique}INDEX ON {name}{}", k.def))),
            Part::Whole => {
                let temp = format!("{name}_k{i}");
                match (k.constraint, index_backed(&k.def)) {
                    (true, Some((kind, list))) => {
                        plan.indexes.push(step(format!("CREATE UNIQUE INDEX {temp} ON {name} USING btree {list}")));
                        plan.constraints
                            .push(step(format!("ALTER TABLE {name} ADD CONSTRAINT {temp} {kind} USING INDEX {temp}")));
                    }
                    (true, None) => {
                        plan.constraints.push(step(format!("ALTER TABLE {name} ADD CONSTRAINT {temp} {}", k.def)))
                    }
                    (false, _) => plan.indexes.push(step(format!("CREATE {unique}INDEX {temp} ON {name}{}", k.def))),
                }
            }
        }
    }
    plan
}

async fn keys_of(client: &impl GenericClient, table: &str) -> Result<Vec<Key>, tokio_postgres::Error> {
    Ok(client
        .query(KEYS, &[&table])
        .await?
        .iter()
        .map(|r| Key { name: r.get(0), constraint: r.get(1), unique: r.get(2), def: r.get(3) })
        .collect())
}

async fn replaceable(client: &impl GenericClient, table: &str) -> Result<bool, tokio_postgres::Error> {
    let plain: bool = client.query_one(REPLACEABLE, &[&table]).await?.get(0);
    if !plain {
        return Ok(false);
    }
    let empty: bool = client.query_one(&format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"), &[]).await?.get(0);
    Ok(empty)
}

impl Staging {
    /// Takes a token, drops what killed loads left behind, and creates the staging tables:
    /// with daily partitions one for each of `days` (UTC midnights) whose partition does not
    /// exist yet, else one for each big table that can be replaced whole.
    pub async fn begin(target: &db::Target, days: &[i64], partitioned: bool) -> Result<Staging> {
        let holder = db::connect(target).await?;
        let fail = |e: tokio_postgres::Error| anyhow!("cannot prepare the load's staging tables: {}", db::cause(&e));
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
        let mut parts = Vec::new();
        if partitioned {
            let wanted: Vec<String> =
                days.iter().flat_map(|&d| STAGED.iter().map(move |&t| partition_name(t, d))).collect();
            let missing: Vec<String> = holder
                .query_one(
                    "SELECT coalesce(array_agg(p), '{}') FROM unnest($1::text[]) AS p WHERE to_regclass(p) IS NULL",
                    &[&wanted],
                )
                .await
                .map_err(fail)?
                .get(0);
            for &day in days {
                parts.extend(
                    STAGED.iter().filter(|t| missing.contains(&partition_name(**t, day))).map(|&t| (t, Part::Day(day))),
                );
            }
        } else {
            for t in STAGED {
                if replaceable(&holder, t.name()).await.map_err(fail)? {
                    parts.push((t, Part::Whole));
                }
            }
        }
        let mut tables = BTreeMap::new();
        let mut sql = String::new();
        for (table, part) in parts {
            let name = format!("{PREFIX}{token:08x}_{}", tables.len());
            let t = table.name();
            sql += &match part {
                Part::Day(day) => format!(
                    "CREATE TABLE {name} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, \
                     CONSTRAINT {BOUNDS} CHECK (\"timestamp\" >= '{}' AND \"timestamp\" < '{}'));",
                    date_string(day),
                    date_string(day + DAY),
                ),
                Part::Whole => format!(
                    "CREATE TABLE {name} (LIKE {t} INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION);"
                ),
            };
            let keys = keys_of(&holder, t).await.map_err(fail)?;
            tables.insert((table, part), Staged { name, keys, indexing: None });
        }
        // One implicit transaction: all the tables, or none.
        holder.batch_execute(&sql).await.map_err(fail)?;
        Ok(Staging { holder, tables })
    }

    /// Where `table`'s rows of `day` go, if not into the table itself.
    pub fn part(&self, table: Table, day: i64) -> Option<Part> {
        [Part::Whole, Part::Day(day)].into_iter().find(|p| self.tables.contains_key(&(table, *p)))
    }

    /// The staging table of `table`'s `part`.
    pub fn table(&self, table: Table, part: Part) -> Option<&str> {
        self.tables.get(&(table, part)).map(|s| s.name.as_str())
    }

    /// The staged parts that take a whole table.
    pub fn wholes(&self) -> Vec<Table> {
        self.tables.keys().filter(|(_, p)| *p == Part::Whole).map(|(t, _)| *t).collect()
    }

    /// Starts building the keys and indexes of `table`'s staged `part`, whose rows are all
    /// committed; the build runs while the load goes on.
    pub fn index(&mut self, rt: &tokio::runtime::Handle, pool: &Pool, table: Table, part: Part) {
        if let Some(s) = self.tables.get_mut(&(table, part)) {
            if s.indexing.is_none() {
                let plan = build_plan(&s.name, &s.keys, part);
                s.indexing = Some(rt.spawn(build_keys(pool.clone(), table, plan)));
            }
        }
    }

    /// Starts the builds not started yet (parts that received no rows).
    pub fn index_rest(&mut self, rt: &tokio::runtime::Handle, pool: &Pool) {
        let keys: Vec<(Table, Part)> = self.tables.keys().copied().collect();
        for (table, part) in keys {
            self.index(rt, pool, table, part);
        }
    }

    /// Waits for every index build; the first failure is the result.
    pub async fn indexed(&mut self) -> Result<()> {
        let mut first = None;
        for ((table, _), s) in &mut self.tables {
            if let Some(h) = s.indexing.take() {
                let r =
                    h.await.unwrap_or_else(|e| Err(anyhow!("indexing the new rows of {} failed: {e}", table.name())));
                first = first.or(r.err());
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The load's final transaction, on the holder's session: puts every staging table in
    /// place (or, when its target changed meanwhile, moves its rows in), then runs
    /// `commit_others` (the load's other transactions) and commits last. If anything fails,
    /// nothing is put in place and `commit_others` does not run.
    pub async fn install(&mut self, commit_others: impl std::future::Future<Output = Result<()>>) -> Result<()> {
        let fail = |e: tokio_postgres::Error| anyhow!("cannot put the loaded rows in place: {}", db::cause(&e));
        let tx = self.holder.transaction().await.map_err(fail)?;
        // Concurrent loads (shards) take turns; each turn is short, so the wait is not timed.
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({LOCK_PARTITIONS}); SET LOCAL lock_timeout = '{FINAL_LOCK_TIMEOUT}'"
        ))
        .await
        .map_err(fail)?;
        for ((table, part), s) in &self.tables {
            let done = match part {
                Part::Day(day) => attach(&tx, *table, *day, s).await,
                Part::Whole => replace(&tx, *table, s).await,
            };
            if !done.map_err(fail)? {
                let (t, name) = (table.name(), &s.name);
                tx.batch_execute(&format!("INSERT INTO {t} SELECT * FROM {name}; DROP TABLE {name}"))
                    .await
                    .map_err(fail)?;
            }
        }
        commit_others.await?;
        tx.commit().await.map_err(|e| anyhow!("cannot commit the loaded rows: {}", db::cause(&e)))
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

/// Attaches staging table `s` as `table`'s partition of `day`, named as `CREATE TABLE …
/// PARTITION OF` names it; `false` if that partition exists by now.
async fn attach(
    tx: &tokio_postgres::Transaction<'_>,
    table: Table,
    day: i64,
    s: &Staged,
) -> Result<bool, tokio_postgres::Error> {
    let (t, name, partition) = (table.name(), &s.name, partition_name(table, day));
    if tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&partition]).await?.get::<_, bool>(0) {
        return Ok(false);
    }
    tx.batch_execute(&format!(
        "ALTER TABLE {t} ATTACH PARTITION {name} FOR VALUES FROM ('{}') TO ('{}');
         ALTER TABLE {name} DROP CONSTRAINT {BOUNDS};
         ALTER TABLE {name} RENAME TO {partition}",
        date_string(day),
        date_string(day + DAY)
    ))
    .await?;
    let indexes = tx
        .query(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = $1::text::regclass",
            &[&partition],
        )
        .await?;
    let mut renames = String::new();
    for r in indexes {
        let index: String = r.get(0);
        if let Some(rest) = index.strip_prefix(name.as_str()) {
            renames += &format!("ALTER INDEX {index} RENAME TO {partition}{rest};");
        }
    }
    tx.batch_execute(&renames).await?;
    Ok(true)
}

/// Replaces the empty `table` by staging table `s`, with the table's key, index and id
/// sequence names; `false` if the table no longer qualifies (rows arrived, its keys changed).
async fn replace(
    tx: &tokio_postgres::Transaction<'_>,
    table: Table,
    s: &Staged,
) -> Result<bool, tokio_postgres::Error> {
    let (t, name) = (table.name(), &s.name);
    tx.batch_execute(&format!("LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE")).await?;
    if !replaceable(tx, t).await? || keys_of(tx, t).await? != s.keys {
        return Ok(false);
    }
    let serials = tx
        .query(
            "SELECT a.attname::text, pg_get_serial_sequence($1, a.attname)::text FROM pg_attribute a
              WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
                AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
            &[&t],
        )
        .await?;
    let mut sql = String::new();
    for r in &serials {
        sql += &format!("ALTER SEQUENCE {} OWNED BY NONE;", r.get::<_, &str>(1));
    }
    sql += &format!("DROP TABLE {t}; ALTER TABLE {name} RENAME TO {t};");
    for (i, k) in s.keys.iter().enumerate() {
        sql += &if k.constraint {
            format!("ALTER TABLE {t} RENAME CONSTRAINT {name}_k{i} TO {};", ident(&k.name))
        } else {
            format!("ALTER INDEX {name}_k{i} RENAME TO {};", ident(&k.name))
        };
    }
    for r in &serials {
        sql += &format!("ALTER SEQUENCE {} OWNED BY {t}.{};", r.get::<_, &str>(1), ident(r.get(0)));
    }
    tx.batch_execute(&sql).await?;
    Ok(true)
}

/// Carries out `plan` (the keys and indexes of one staging table of `table`): its indexes
/// spread round robin over its sessions, then its constraints. After a failure the other
/// sessions stop before their next statement and roll back; the first failure is the result.
async fn build_keys(pool: Pool, table: Table, plan: Build) -> Result<()> {
    let sessions = plan.sessions.max(1);
    let mut groups = vec![Vec::new(); sessions];
    for (i, step) in plan.indexes.into_iter().enumerate() {
        groups[i % sessions].push(step);
    }
    let failed = Arc::new(AtomicBool::new(false));
    let mut running = tokio::task::JoinSet::new();
    for group in groups.into_iter().filter(|g| !g.is_empty()) {
        running.spawn(run_in_one_transaction(pool.clone(), table, group, failed.clone()));
    }
    let mut first = None;
    while let Some(done) = running.join_next().await {
        let done = done.unwrap_or_else(|e| Err(anyhow!("indexing the new rows of {} failed: {e}", table.name())));
        first = first.or(done.err());
    }
    match first {
        Some(e) => Err(e),
        None => run_in_one_transaction(pool, table, plan.constraints, failed).await,
    }
}

/// Runs `steps` on `table`'s staging table in one transaction of one pooled session, with
/// the index builds' memory; stops before the next step once `failed` (another session's
/// failure) is set, and sets it on its own.
async fn run_in_one_transaction(pool: Pool, table: Table, steps: Vec<Step>, failed: Arc<AtomicBool>) -> Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let result = run_steps(&pool, table, steps, &failed).await;
    if result.is_err() {
        failed.store(true, Ordering::Relaxed);
    }
    result
}

async fn run_steps(pool: &Pool, table: Table, steps: Vec<Step>, failed: &AtomicBool) -> Result<()> {
    let t = table.name();
    let fail = |e: tokio_postgres::Error| anyhow!("cannot index the new rows of {t}: {}", db::cause(&e));
    let mut client = pool.get().await.map_err(|e| anyhow!("cannot get a PostgreSQL connection: {e}"))?;
    let tx = client.transaction().await.map_err(fail)?;
    tx.batch_execute(&format!(
        "SELECT set_config('maintenance_work_mem', '{INDEX_MEMORY}', true)
          WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('{INDEX_MEMORY}')"
    ))
    .await
    .map_err(fail)?;
    for step in steps {
        if failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        tx.batch_execute(&step.sql)
            .await
            .map_err(|e| anyhow!("cannot build {} of {t} on the new rows: {}", step.key, build_failure(&e)))?;
    }
    tx.commit().await.map_err(fail)
}

/// Why a build failed, in the user's terms: for a unique key the new rows break, which value
/// repeats (the server's DETAIL, "Key (…)=(…) is duplicated"; its message names only the
/// temporary index).
fn build_failure(e: &tokio_postgres::Error) -> String {
    let repeated = e.as_db_error().filter(|d| *d.code() == SqlState::UNIQUE_VIOLATION).and_then(|d| d.detail());
    match repeated {
        Some(detail) => detail.trim_end_matches('.').replace('\n', " "),
        None => db::cause(e),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<Key> {
        vec![
            Key {
                name: "t_pkey".into(),
                constraint: true,
                unique: true,
                def: "PRIMARY KEY (id, \"timestamp\")".into(),
            },
            Key { name: "Users Idx".into(), constraint: false, unique: false, def: " USING btree (v) WHERE a".into() },
            Key { name: "u".into(), constraint: false, unique: true, def: " USING btree (w)".into() },
        ]
    }

    fn sql(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.sql.as_str()).collect()
    }

    /// A partition's keys take PostgreSQL's names (renamed after the attach) and one
    /// session; a whole table's take temporary names that the swap renames to the originals,
    /// and its primary key is a unique index, built beside the others, that becomes the key.
    /// Each step names the target's key it builds.
    #[test]
    fn keys_are_built_under_the_names_the_swap_expects() {
        let day = build_plan("s", &keys(), Part::Day(0));
        assert_eq!(
            sql(&day.indexes),
            ["CREATE INDEX ON s USING btree (v) WHERE a", "CREATE UNIQUE INDEX ON s USING btree (w)"]
        );
        assert_eq!(sql(&day.constraints), ["ALTER TABLE s ADD PRIMARY KEY (id, \"timestamp\")"]);
        assert_eq!(day.sessions, 1);
        let whole = build_plan("s", &keys(), Part::Whole);
        assert_eq!(
            sql(&whole.indexes),
            [
                "CREATE UNIQUE INDEX s_k0 ON s USING btree (id, \"timestamp\")",
                "CREATE INDEX s_k1 ON s USING btree (v) WHERE a",
                "CREATE UNIQUE INDEX s_k2 ON s USING btree (w)",
            ]
        );
        assert_eq!(sql(&whole.constraints), ["ALTER TABLE s ADD CONSTRAINT s_k0 PRIMARY KEY USING INDEX s_k0"]);
        assert_eq!(whole.sessions, BUILD_SESSIONS);
        let keys: Vec<&str> = whole.indexes.iter().chain(&whole.constraints).map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["t_pkey", "Users Idx", "u", "t_pkey"]);
        assert_eq!(ident("Users \"Idx\""), "\"Users \"\"Idx\"\"\"");
    }

    /// Only a key over plain columns is built as an index first; a deferrable one, one with
    /// options or an unusual column list is added as it was defined, after the indexes.
    #[test]
    fn only_plain_keys_are_built_as_indexes_first() {
        assert_eq!(index_backed("PRIMARY KEY (sensor_data_id)"), Some(("PRIMARY KEY", "(sensor_data_id)")));
        assert_eq!(index_backed("UNIQUE (a, \"b c\")"), Some(("UNIQUE", "(a, \"b c\")")));
        for def in [
            "UNIQUE (a) DEFERRABLE",
            "UNIQUE NULLS NOT DISTINCT (a)",
            "PRIMARY KEY (a) INCLUDE (b)",
            "PRIMARY KEY (a) USING INDEX TABLESPACE t",
            "UNIQUE (a) WITH (fillfactor='70')",
            "UNIQUE (\"a)\")",
            "CHECK (a > 0)",
        ] {
            assert_eq!(index_backed(def), None, "{def}");
        }
        let deferrable = Key { name: "u".into(), constraint: true, unique: true, def: "UNIQUE (a) DEFERRABLE".into() };
        let plan = build_plan("s", &[deferrable], Part::Whole);
        assert!(plan.indexes.is_empty());
        assert_eq!(sql(&plan.constraints), ["ALTER TABLE s ADD CONSTRAINT s_k0 UNIQUE (a) DEFERRABLE"]);
    }
}
