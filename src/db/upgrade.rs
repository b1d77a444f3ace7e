//! Bringing a database to this genims' schema: the schema version it records
//! (`genims_schema_version`), the numbered migrations of `sql/migrations/`, and the columns
//! of an older or foreign schema (the original GenIMS package's DDL) mended in place.
//! `schema apply` runs all of it in one transaction, under an advisory lock, and says each
//! step; `--dry-run` says them and rolls back.
//!
//! A new database takes the DDL, which already is the latest shape, and records every
//! migration at once. An existing one takes the migrations it lacks, in order, then the
//! mends, then the DDL (which adds what is missing: tables, indexes, views).

use anyhow::{anyhow, bail, Result};
use tokio_postgres::{Client, Transaction};

use super::schema::{self, Partition};
use crate::db;

/// A numbered forward migration: `sql/migrations/NNNN_name.sql`.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order; the last one's number is the schema version of this genims.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_original_widths",
    sql: include_str!("../../sql/migrations/0001_original_widths.sql"),
}];

/// The schema version this genims writes.
pub const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// What `schema apply` did (or, dry, would do).
pub struct Applied {
    pub partition: Partition,
    /// The version the database had (`None`: none recorded) and has now.
    pub from: Option<i32>,
    pub to: i32,
    /// Each change, in the order made.
    pub steps: Vec<String>,
}

/// Applies the schema in one transaction (rolled back when `dry`). `requested` None keeps
/// the existing layout, or uses `default` for a new database.
pub async fn apply(
    client: &mut Client,
    requested: Option<Partition>,
    default: Partition,
    dry: bool,
) -> Result<Applied> {
    let partition = schema::layout(client, requested, default).await?;
    let tx = client.transaction().await.map_err(|e| anyhow!("cannot start a transaction: {}", db::cause(&e)))?;
    // Serialise concurrent `schema apply` runs on one database.
    run(&tx, "SELECT pg_advisory_xact_lock(8137201)", "the schema lock").await?;
    let from = version(&tx).await?;
    refuse_newer(from)?;
    let before = tables(&tx).await?;
    let mut steps = Vec::new();
    let existing = before.iter().any(|t| GENIMS_TABLES.contains(&t.as_str()));
    if existing {
        upgrade(&tx, partition, from, &mut steps).await?;
    }
    for (name, sql) in schema::files(partition) {
        run(&tx, sql, name).await?;
    }
    let created: Vec<String> = tables(&tx).await?.into_iter().filter(|t| !before.contains(t)).collect();
    if existing {
        steps.extend(created.iter().map(|t| format!("created table {t}")));
    } else {
        steps.push(format!("created the schema: {} tables", created.len()));
    }
    for m in MIGRATIONS {
        record(&tx, m).await?;
    }
    if dry {
        tx.rollback().await.map_err(|e| anyhow!("cannot roll back: {}", db::cause(&e)))?;
    } else {
        tx.commit().await.map_err(|e| anyhow!("cannot commit the schema: {}", db::cause(&e)))?;
    }
    Ok(Applied { partition, from, to: LATEST, steps })
}

/// An existing database: the migrations it lacks, then every column mended in place; each
/// difference nothing can mend is refused before anything changed.
async fn upgrade(tx: &Transaction<'_>, partition: Partition, from: Option<i32>, steps: &mut Vec<String>) -> Result<()> {
    run(tx, schema::VERSION.1, schema::VERSION.0).await?;
    for m in MIGRATIONS.iter().filter(|m| m.version > from.unwrap_or(0)) {
        run(tx, m.sql, m.name).await?;
        record(tx, m).await?;
        steps.push(format!("migration {}", m.name));
    }
    let differences = schema::compare_columns(tx, partition).await?;
    schema::refuse_differences(&differences, "nothing was changed")?;
    for d in &differences {
        let fix = d.fix.as_deref().expect("every difference left has a fix");
        run(tx, fix, &d.what).await?;
        steps.push(format!("{fix} ({})", d.what));
    }
    Ok(())
}

/// Refuses, in one line, a database of a newer schema than this genims knows.
pub async fn require_known_version(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await.map_err(|e| anyhow!("cannot start a transaction: {}", db::cause(&e)))?;
    refuse_newer(version(&tx).await?)
}

fn refuse_newer(found: Option<i32>) -> Result<()> {
    match found {
        Some(v) if v > LATEST => bail!(
            "the database's schema is version {v}, newer than this genims knows (version {LATEST}): use a genims at least as new as the one that upgraded it"
        ),
        _ => Ok(()),
    }
}

/// The tables genims makes (the version table aside): one of them marks a genims database.
const GENIMS_TABLES: &[&str] =
    &["factories", "machines", "sensors", "sensor_data", "scada_machine_data", "fault_labels"];

/// The database's schema version: `None` when it records none.
async fn version(tx: &Transaction<'_>) -> Result<Option<i32>> {
    let fail = |e: tokio_postgres::Error| anyhow!("cannot read the schema version: {}", db::cause(&e));
    let exists: bool =
        tx.query_one("SELECT to_regclass('genims_schema_version') IS NOT NULL", &[]).await.map_err(fail)?.get(0);
    if !exists {
        return Ok(None);
    }
    Ok(tx.query_one("SELECT max(version) FROM genims_schema_version", &[]).await.map_err(fail)?.get(0))
}

/// The tables (not partitions) of the current schema.
async fn tables(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| anyhow!("cannot list the tables: {}", db::cause(&e)))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn record(tx: &Transaction<'_>, m: &Migration) -> Result<()> {
    tx.execute(
        "INSERT INTO genims_schema_version (version, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&m.version, &m.name],
    )
    .await
    .map_err(|e| anyhow!("cannot record migration {}: {}", m.name, db::cause(&e)))?;
    Ok(())
}

async fn run(tx: &Transaction<'_>, sql: &str, what: &str) -> Result<()> {
    tx.batch_execute(sql).await.map_err(|e| anyhow!("{what} failed: {}", db::cause(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migrations are numbered 1, 2, ... in order, each named after its file.
    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{}", m.name);
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/migrations");
        let files = std::fs::read_dir(dir).unwrap().count();
        assert_eq!(files, MIGRATIONS.len(), "every file of sql/migrations/ is listed in MIGRATIONS");
    }
}
