//! The database schema: the DDL files in `sql/` (compiled in) and what every part of genims
//! reads from them (the columns a table declares, the time-series tables and their layout),
//! the script `schema print` shows, an idempotent `schema apply`, and the check of an
//! existing database's columns that every load makes first.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use tokio_postgres::Client;

use crate::db;

/// How the two time-series tables are laid out in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Partition {
    /// Plain tables.
    None,
    /// Range-partitioned by day on "timestamp".
    Daily,
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Partition, String> {
        match s {
            "none" => Ok(Partition::None),
            "daily" => Ok(Partition::Daily),
            _ => Err(crate::setting::not_one_of(s, &["none", "daily"])),
        }
    }
}

const MASTER: (&str, &str) = ("sql/10_master.sql", include_str!("../../sql/10_master.sql"));
const EVENTS: (&str, &str) = ("sql/20_events.sql", include_str!("../../sql/20_events.sql"));
const TIMESERIES: (&str, &str) = ("sql/30_timeseries.sql", include_str!("../../sql/30_timeseries.sql"));
const TIMESERIES_DAILY: (&str, &str) =
    ("sql/30_timeseries_daily.sql", include_str!("../../sql/30_timeseries_daily.sql"));
const LABELS: (&str, &str) = ("sql/40_labels.sql", include_str!("../../sql/40_labels.sql"));
const VIEWS: (&str, &str) = ("sql/50_views.sql", include_str!("../../sql/50_views.sql"));

/// The time-series tables whose layout `--partition` chooses.
pub const TIMESERIES_TABLES: &[&str] = &["scada_machine_data", "sensor_data"];

/// The DDL files to apply, in order.
pub fn files(partition: Partition) -> Vec<(&'static str, &'static str)> {
    let ts = match partition {
        Partition::None => TIMESERIES,
        Partition::Daily => TIMESERIES_DAILY,
    };
    vec![MASTER, EVENTS, ts, LABELS, VIEWS]
}

/// The whole script `schema apply` runs, as one text.
pub fn script(partition: Partition) -> String {
    let mut out = String::new();
    for (name, sql) in files(partition) {
        out.push_str(&format!("-- ===== {name} =====\n"));
        out.push_str(sql);
        out.push('\n');
    }
    out
}

/// How the time-series tables are laid out now, if they exist.
pub async fn current_partition(client: &Client) -> Result<Option<Partition>> {
    let rows = client
        .query(
            "SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = ANY($1)",
            &[&TIMESERIES_TABLES],
        )
        .await
        .map_err(|e| anyhow!("cannot inspect the schema: {}", db::cause(&e)))?;
    let mut found: Option<Partition> = None;
    for r in rows {
        let (name, kind): (String, String) = (r.get(0), r.get(1));
        let p = if kind == "p" { Partition::Daily } else { Partition::None };
        if found.is_some_and(|f| f != p) {
            bail!("scada_machine_data and sensor_data have different layouts ({name} is {kind:?}); drop one and apply again");
        }
        found = Some(p);
    }
    Ok(found)
}

/// Applies the schema in one transaction. `requested` None keeps the existing layout, or
/// uses `default` for a new database. Returns the layout in force.
pub async fn apply(client: &mut Client, requested: Option<Partition>, default: Partition) -> Result<Partition> {
    let existing = current_partition(client).await?;
    let partition = match (requested, existing) {
        (Some(r), Some(e)) if r != e => bail!(
            "sensor_data and scada_machine_data already exist {}; `--partition {}` cannot convert them \
             (drop both tables first, or apply with --partition {})",
            if e == Partition::Daily { "partitioned by day" } else { "unpartitioned" },
            if r == Partition::Daily { "daily" } else { "none" },
            if e == Partition::Daily { "daily" } else { "none" },
        ),
        (Some(r), _) => r,
        (None, Some(e)) => e,
        (None, None) => default,
    };
    let tx = client.transaction().await.map_err(|e| anyhow!("cannot start a transaction: {}", db::cause(&e)))?;
    // Serialise concurrent `schema apply` runs on one database.
    tx.batch_execute("SELECT pg_advisory_xact_lock(8137201)").await.map_err(|e| anyhow!("{}", db::cause(&e)))?;
    // Checked before anything runs, so a changed column is named (not a view or index
    // that reads it).
    refuse_differences(compare_columns(&tx, partition).await?, "nothing was changed")?;
    for (name, sql) in files(partition) {
        tx.batch_execute(sql).await.map_err(|e| anyhow!("{name} failed: {}", db::cause(&e)))?;
    }
    tx.commit().await.map_err(|e| anyhow!("cannot commit the schema: {}", db::cause(&e)))?;
    Ok(partition)
}

/// Fails naming every column of the existing tables that differs from genims' schema,
/// before a command writes anything (a load into a changed column would fail on a row, in
/// the server's words). A role that may not create the scratch schema the check needs is
/// not checked.
pub async fn require_columns(client: &mut Client) -> Result<()> {
    let partition = current_partition(client).await?.unwrap_or(Partition::None);
    let tx = client.transaction().await.map_err(|e| anyhow!("cannot start a transaction: {}", db::cause(&e)))?;
    let differences = match compare_columns(&tx, partition).await {
        Ok(d) => d,
        Err(e) if e.downcast_ref::<NotAllowed>().is_some() => {
            tracing::debug!("the columns are not checked: {e}");
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    refuse_differences(differences, "nothing was written")
}

fn refuse_differences(differences: Vec<String>, outcome: &str) -> Result<()> {
    if differences.is_empty() {
        return Ok(());
    }
    bail!(
        "the existing tables differ from genims' schema ({outcome}):\n  {}\n\
         restore these columns, or drop the tables and run `genims schema apply` again",
        differences.join("\n  ")
    )
}

/// The role may not create the scratch schema that [`compare_columns`] needs.
#[derive(Debug)]
struct NotAllowed(String);

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAllowed {}

/// The columns of `table` as its DDL declares them, in order: (name, SQL type as written,
/// e.g. `VARCHAR(50)`, `DECIMAL(15,4)`, `BIGSERIAL`). Outputs that need column types
/// (Parquet) read them here, so the DDL stays their one definition.
pub fn declared_columns(table: &str) -> Vec<(String, String)> {
    let sql = script(Partition::None);
    let head = format!("CREATE TABLE IF NOT EXISTS {table} (");
    let Some(start) = sql.find(&head) else { return Vec::new() };
    let body = &sql[start + head.len()..];
    let body = &body[..body.find("\n)").unwrap_or(body.len())];
    let clauses = ["--", "PRIMARY KEY", "UNIQUE", "CONSTRAINT", "CHECK", "FOREIGN KEY"];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !clauses.iter().any(|c| l.starts_with(c)))
        .filter_map(|l| {
            let (name, rest) = l.split_once(char::is_whitespace)?;
            let mut depth = 0;
            let end = rest
                .trim_start()
                .char_indices()
                .find(|&(_, c)| {
                    depth += i32::from(c == '(') - i32::from(c == ')');
                    depth == 0 && (c == ',' || c.is_whitespace())
                })
                .map_or(rest.trim_start().len(), |(i, _)| i);
            Some((name.to_owned(), rest.trim_start()[..end].to_owned()))
        })
        .collect()
}

/// Columns of every genims table: (table, column) → type as `format_type` prints it.
async fn columns_in(
    tx: &tokio_postgres::Transaction<'_>,
    schema: Option<&str>,
) -> Result<BTreeMap<(String, String), String>> {
    let rows = tx
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = coalesce($1, current_schema()) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
            &[&schema],
        )
        .await
        .map_err(|e| anyhow!("cannot inspect the schema: {}", db::cause(&e)))?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect())
}

/// Every way the existing tables differ from what the DDL makes: a column missing or of
/// another type (tables not there yet are not compared). The DDL is run in a scratch
/// schema inside a savepoint (rolled back), so the expectation is the DDL itself, never a
/// second list to keep in step. Columns a user added are left alone.
async fn compare_columns(tx: &tokio_postgres::Transaction<'_>, partition: Partition) -> Result<Vec<String>> {
    let scratch = format!("genims_expected_{}", std::process::id());
    let fail = |e: tokio_postgres::Error| anyhow!("cannot check the schema: {}", db::cause(&e));
    tx.batch_execute(&format!("SAVEPOINT genims_expected; CREATE SCHEMA {scratch}; SET LOCAL search_path = {scratch}"))
        .await
        .map_err(|e| match e.code() {
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => NotAllowed(db::cause(&e)).into(),
            _ => fail(e),
        })?;
    for (name, sql) in files(partition).into_iter().filter(|(name, _)| *name != VIEWS.0) {
        tx.batch_execute(sql).await.map_err(|e| anyhow!("{name} failed: {}", db::cause(&e)))?;
    }
    let expected = columns_in(tx, Some(&scratch)).await?;
    tx.batch_execute("ROLLBACK TO SAVEPOINT genims_expected").await.map_err(fail)?;
    let actual = columns_in(tx, None).await?;
    let present: std::collections::BTreeSet<&String> = actual.keys().map(|(t, _)| t).collect();
    let mut differences = Vec::new();
    for ((table, column), want) in expected.iter().filter(|((t, _), _)| present.contains(t)) {
        match actual.get(&(table.clone(), column.clone())) {
            None => differences.push(format!("{table} lacks column {column} ({want})")),
            Some(got) if got != want => differences.push(format!("{table}.{column} is {got}; genims writes {want}")),
            Some(_) => {}
        }
    }
    Ok(differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(sql: &str, table: &str) -> Vec<String> {
        let start = sql.find(&format!("CREATE TABLE IF NOT EXISTS {table} (")).unwrap();
        let end = start + sql[start..].find("\n)").unwrap();
        let body = &sql[start..end];
        body.lines()
            .skip(1)
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with("PRIMARY KEY"))
            .map(|l| {
                let mut w = l.split_whitespace();
                let name = w.next().unwrap().to_owned();
                let ty = w.next().unwrap().trim_end_matches(',').replace("BIGSERIAL", "BIGINT");
                format!("{name} {ty}")
            })
            .collect()
    }

    /// The DDL declares exactly the columns genims writes, in the same order.
    #[test]
    fn declared_columns_are_the_columns_genims_writes() {
        for t in crate::rows::Table::ALL {
            let declared: Vec<String> = declared_columns(t.name()).into_iter().map(|(n, _)| n).collect();
            assert_eq!(declared, t.columns(), "{}", t.name());
        }
        let types: Vec<(String, String)> = declared_columns("sensor_data");
        assert_eq!(types[0], ("sensor_data_id".to_owned(), "BIGSERIAL".to_owned()));
        assert!(types.iter().any(|(n, t)| n == "measurement_value" && t == "DECIMAL(15,4)"), "{types:?}");
    }

    #[test]
    fn both_timeseries_layouts_have_identical_columns() {
        for t in TIMESERIES_TABLES {
            assert_eq!(columns(TIMESERIES.1, t), columns(TIMESERIES_DAILY.1, t), "{t} differs between layouts");
        }
    }

    #[test]
    fn script_covers_the_sixteen_tables_the_labels_and_stream_progress() {
        let s = script(Partition::None);
        assert_eq!(s.matches("CREATE TABLE IF NOT EXISTS").count(), 21);
        assert!(s.contains("CREATE TABLE IF NOT EXISTS data_quality_labels"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_injections"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_plant"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS fault_labels"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_stream_progress"));
    }
}
