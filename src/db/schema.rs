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

/// The table that records the schema version (created before an upgrade records anything).
pub const VERSION: (&str, &str) = ("sql/05_schema_version.sql", include_str!("../../sql/05_schema_version.sql"));
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
    vec![VERSION, MASTER, EVENTS, ts, LABELS, VIEWS]
}

/// The whole script `schema apply` runs on a new database, as one text: the DDL, then the
/// record of every migration it already includes.
pub fn script(partition: Partition) -> String {
    let mut out = String::new();
    for (name, sql) in files(partition) {
        out.push_str(&format!("-- ===== {name} =====\n"));
        out.push_str(sql);
        out.push('\n');
    }
    out.push_str(&format!("-- ===== schema version {} =====\n", super::upgrade::LATEST));
    for m in super::upgrade::MIGRATIONS {
        out.push_str(&format!(
            "INSERT INTO genims_schema_version (version, name) VALUES ({}, '{}') ON CONFLICT DO NOTHING;\n",
            m.version, m.name
        ));
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

/// Chooses the time-series layout: the one `requested`, else the existing one, else
/// `default` for a new database; a request that contradicts the existing layout is refused.
pub async fn layout(client: &Client, requested: Option<Partition>, default: Partition) -> Result<Partition> {
    let existing = current_partition(client).await?;
    Ok(match (requested, existing) {
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
    })
}

/// Fails naming every column of the existing tables that genims cannot write as they are,
/// before a command writes anything (a load into a changed column would fail on a row, in
/// the server's words), and refuses a database of a newer schema. A role that may not
/// create the scratch schema the check needs is not checked.
pub async fn require_columns(client: &mut Client) -> Result<()> {
    super::upgrade::require_known_version(client).await?;
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
    if differences.iter().all(|d| d.fix.is_some()) && !differences.is_empty() {
        let list: Vec<String> = differences.iter().map(|d| d.what.clone()).collect();
        bail!(
            "the existing tables differ from genims' schema (nothing was written):\n  {}\n\
             `genims schema apply` brings them in line in place",
            list.join("\n  ")
        );
    }
    refuse_differences(&differences, "nothing was written")
}

/// Fails naming every difference no statement can mend.
pub fn refuse_differences(differences: &[Difference], outcome: &str) -> Result<()> {
    let list: Vec<&str> = differences.iter().filter(|d| d.fix.is_none()).map(|d| d.what.as_str()).collect();
    if list.is_empty() {
        return Ok(());
    }
    bail!(
        "the existing tables differ from genims' schema ({outcome}):\n  {}\n\
         restore these columns, or drop the tables and run `genims schema apply` again",
        list.join("\n  ")
    )
}

/// A way an existing table differs from what genims writes, and the statement that mends
/// it in place, when one does.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub what: String,
    pub fix: Option<String>,
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

/// The decimal scale of each column of `table`, from the DDL (`DECIMAL(10,4)` → 4, 0 for a
/// column of another type): what a decimal's digits are when only its value is held (the
/// tagged cells that the console and MQTT spell as JSON). Read from the DDL once per table.
pub fn decimal_scales(table: crate::rows::Table) -> &'static [u8] {
    static SCALES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    let all = SCALES.get_or_init(|| {
        crate::rows::Table::ALL
            .iter()
            .map(|t| {
                declared_columns(t.name())
                    .into_iter()
                    .map(|(_, sql)| {
                        let inner = sql.split_once('(').and_then(|(_, r)| r.strip_suffix(')'));
                        inner.and_then(|i| i.split_once(',')).and_then(|(_, s)| s.trim().parse().ok()).unwrap_or(0)
                    })
                    .collect()
            })
            .collect()
    });
    &all[table.index()]
}

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

/// A column as the catalogue has it.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    /// The type as `format_type` prints it: `character varying(50)`, `numeric(15,4)`.
    ty: String,
    not_null: bool,
    has_default: bool,
}

/// Columns of every table of a schema (the current one when `None`): (table, column) →
/// [`Column`]. Partitions are left out (their parent stands for them).
async fn columns_in(
    tx: &tokio_postgres::Transaction<'_>,
    schema: Option<&str>,
) -> Result<BTreeMap<(String, String), Column>> {
    let rows = tx
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = coalesce($1, current_schema()) AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND a.attnum > 0 AND NOT a.attisdropped",
            &[&schema],
        )
        .await
        .map_err(|e| anyhow!("cannot inspect the schema: {}", db::cause(&e)))?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), Column { ty: r.get(2), not_null: r.get(3), has_default: r.get(4) }))
        .collect())
}

/// Every way the existing tables differ from what the DDL makes, in what genims writes
/// (tables not there yet are not compared). The DDL is run in a scratch schema inside a
/// savepoint (rolled back), so the expectation is the DDL itself, never a second list to
/// keep in step. What holds everything genims writes is no difference: a wider varchar, a
/// `text` column, a wider integer or numeric, a column genims does not write that may be
/// left empty.
pub async fn compare_columns(tx: &tokio_postgres::Transaction<'_>, partition: Partition) -> Result<Vec<Difference>> {
    let expected = expected_columns(tx, partition).await?;
    let actual = columns_in(tx, None).await?;
    let present: std::collections::BTreeSet<&String> = actual.keys().map(|(t, _)| t).collect();
    let expected_tables: std::collections::BTreeSet<&String> = expected.keys().map(|(t, _)| t).collect();
    let mut differences = Vec::new();
    for ((table, column), want) in expected.iter().filter(|((t, _), _)| present.contains(t)) {
        let Some(got) = actual.get(&(table.clone(), column.clone())) else {
            differences.push(Difference { what: format!("{table} lacks column {column} ({})", want.ty), fix: None });
            continue;
        };
        differences.extend(column_difference(table, column, got, want));
    }
    for ((table, column), got) in actual
        .iter()
        .filter(|((t, c), _)| expected_tables.contains(t) && !expected.contains_key(&(t.clone(), c.clone())))
    {
        if got.not_null && !got.has_default {
            differences.push(Difference {
                what: format!("{table}.{column} is NOT NULL without a default, and genims does not write it"),
                fix: None,
            });
        }
    }
    Ok(differences)
}

/// The columns the DDL makes, read from a scratch schema the savepoint then rolls back.
async fn expected_columns(
    tx: &tokio_postgres::Transaction<'_>,
    partition: Partition,
) -> Result<BTreeMap<(String, String), Column>> {
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
    Ok(expected)
}

/// How one existing column differs from the one genims declares, if it does in a way that
/// matters to what genims writes.
fn column_difference(table: &str, column: &str, got: &Column, want: &Column) -> Vec<Difference> {
    let mut out = Vec::new();
    match holds(&got.ty, &want.ty) {
        Holds::Yes => {}
        Holds::Widen => out.push(Difference {
            what: format!("{table}.{column} is {}; genims writes {}", got.ty, want.ty),
            fix: Some(format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE {}", want.ty)),
        }),
        Holds::No => out
            .push(Difference { what: format!("{table}.{column} is {}; genims writes {}", got.ty, want.ty), fix: None }),
    }
    if got.not_null && !want.not_null {
        out.push(Difference {
            what: format!("{table}.{column} is NOT NULL; genims leaves it empty where it has no value"),
            fix: Some(format!("ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")),
        });
    }
    out
}

/// Whether a column of type `got` holds every value genims writes as `want`.
#[derive(Debug, PartialEq)]
enum Holds {
    Yes,
    /// Narrower, and widening it in place mends that.
    Widen,
    No,
}

fn holds(got: &str, want: &str) -> Holds {
    if got == want {
        return Holds::Yes;
    }
    let integers = ["smallint", "integer", "bigint"];
    let rank = |t: &str| integers.iter().position(|i| *i == t);
    if let (Some(g), Some(w)) = (rank(got), rank(want)) {
        return if g >= w { Holds::Yes } else { Holds::Widen };
    }
    if let Some(w) = sized(want, "character varying") {
        return match (got, sized(got, "character varying")) {
            ("text" | "character varying", _) => Holds::Yes,
            (_, Some(g)) if g.0 >= w.0 => Holds::Yes,
            (_, Some(_)) => Holds::Widen,
            _ => Holds::No,
        };
    }
    if let Some((wp, ws)) = sized(want, "numeric") {
        return match (got, sized(got, "numeric")) {
            ("numeric", _) => Holds::Yes,
            (_, Some((gp, gs))) if gs >= ws && gp - gs >= wp - ws => Holds::Yes,
            (_, Some((gp, gs))) if gs <= ws && gp - gs <= wp - ws => Holds::Widen,
            _ => Holds::No,
        };
    }
    Holds::No
}

/// The length, or precision and scale, of `name(n)` / `name(p,s)`.
fn sized(ty: &str, name: &str) -> Option<(i64, i64)> {
    let args = ty.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')?;
    let mut it = args.split(',').map(|a| a.trim().parse::<i64>());
    let first = it.next()?.ok()?;
    let second = it.next().transpose().ok()?.unwrap_or(0);
    Some((first, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_scales_come_from_the_ddl() {
        let cols = crate::rows::Table::SensorData.columns();
        let s = decimal_scales(crate::rows::Table::SensorData);
        let at = |c: &str| s[cols.iter().position(|x| *x == c).unwrap()];
        assert_eq!(s.len(), cols.len());
        assert!(at("measurement_value") > 0, "measurement_value is a decimal with a scale");
        assert_eq!(at("sensor_id"), 0);
        assert_eq!(at("timestamp"), 0);
    }

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
    fn a_column_holds_what_genims_writes_when_it_is_as_wide_or_wider() {
        for (got, want, verdict) in [
            ("character varying(50)", "character varying(20)", Holds::Yes),
            ("text", "character varying(20)", Holds::Yes),
            ("character varying(20)", "character varying(50)", Holds::Widen),
            ("bigint", "integer", Holds::Yes),
            ("integer", "bigint", Holds::Widen),
            ("numeric(15,4)", "numeric(10,2)", Holds::Yes),
            ("numeric", "numeric(10,2)", Holds::Yes),
            ("numeric(8,2)", "numeric(10,2)", Holds::Widen),
            ("numeric(10,1)", "numeric(10,2)", Holds::No),
            ("integer", "character varying(20)", Holds::No),
            ("timestamp with time zone", "timestamp without time zone", Holds::No),
        ] {
            assert_eq!(holds(got, want), verdict, "{got} for {want}");
        }
    }

    #[test]
    fn script_covers_the_sixteen_tables_the_labels_and_stream_progress() {
        let s = script(Partition::None);
        assert_eq!(s.matches("CREATE TABLE IF NOT EXISTS").count(), 22);
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_schema_version"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS data_quality_labels"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_injections"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_plant"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS fault_labels"));
        assert!(s.contains("CREATE TABLE IF NOT EXISTS genims_stream_progress"));
    }
}
