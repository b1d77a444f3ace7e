//! `genims seed`: the master data as a JSON file, a psql-loadable SQL file, or straight into
//! PostgreSQL (COPY, in one transaction), with the record of the plant they came from.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use futures_util::SinkExt as _;

use crate::cli::SeedOut;
use crate::config::Config;
use crate::db;
use crate::output::atomic::AtomicFile;
use crate::output::master;
use crate::plant::tables::{TableRows, MASTER_TABLES};
use crate::plant::Plant;
use crate::sink::postgres::PlantIdentity;

/// Generates the plant described by the configuration.
pub fn plant(cfg: &Config) -> Result<Plant> {
    let faults = cfg.fault_catalogue()?;
    Plant::generate(&cfg.plant, &faults)
}

/// Runs `genims seed`.
pub async fn run(cfg: &Config, out: SeedOut, path: Option<PathBuf>, replace: bool) -> Result<()> {
    // Check the cheap things a user can get wrong before generating anything.
    if out == SeedOut::Db {
        if path.is_some() {
            bail!("--path names a file; it cannot be used with --out db");
        }
        cfg.postgres.target()?;
    } else if replace {
        return Err(crate::cli::usage("--replace only applies to --out db"));
    }
    let plant = plant(cfg)?;
    let tables = plant.master_tables();
    let identity = PlantIdentity::new(&cfg.plant, &tables);
    let summary = summary(&tables);
    match out {
        SeedOut::Db => {
            load_db(&cfg.postgres.target()?, &tables, &identity, replace).await?;
            eprintln!("genims: loaded master data into PostgreSQL: {summary}");
        }
        SeedOut::Json | SeedOut::Sql => {
            let text = if out == SeedOut::Json {
                master::json(&tables)
            } else {
                let header = format!(
                    "genims master data (seed {}, reference date {}).\nLoad into a schema made by `genims schema apply`:\n  psql -v ON_ERROR_STOP=1 -f FILE",
                    cfg.plant.seed, cfg.plant.reference_date
                );
                let record = format!(
                    "-- The plant these rows came from: loads of operational data check it.\n{}",
                    identity.upsert_sql()
                );
                master::sql(&tables, &header, &record)
            };
            let target = write_text(cfg, out, path, &text)?;
            if let Some(t) = target {
                eprintln!("genims: wrote {}: {summary}", t.display());
            }
        }
    }
    Ok(())
}

/// Writes to `path` (`-` is stdout) or the default file under the output directory.
/// Returns the file written, if any.
fn write_text(cfg: &Config, out: SeedOut, path: Option<PathBuf>, text: &[u8]) -> Result<Option<PathBuf>> {
    let target = match path {
        Some(p) if p.as_os_str() == "-" => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text).and_then(|()| stdout.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(e).context("cannot write to stdout")
                }
                _ => return Ok(None),
            }
        }
        Some(p) => p,
        None => {
            std::fs::create_dir_all(&cfg.output.dir)
                .with_context(|| format!("cannot create output directory {}", cfg.output.dir.display()))?;
            let name = if out == SeedOut::Json { "genims_master_data.json" } else { "genims_master_data_inserts.sql" };
            cfg.output.dir.join(name)
        }
    };
    let mut file = AtomicFile::create(&target)?;
    file.write_all(text)?;
    file.commit()?;
    Ok(Some(target))
}

fn summary(tables: &[TableRows]) -> String {
    tables.iter().map(|t| format!("{} {}", t.rows.len(), t.name)).collect::<Vec<_>>().join(", ")
}

/// Loads every master table by COPY in one transaction. Refuses to mix with existing master
/// rows unless `replace`, which empties the ten tables first (in the same transaction).
async fn load_db(target: &db::Target, tables: &[TableRows], identity: &PlantIdentity, replace: bool) -> Result<()> {
    let mut client = db::connect(target).await?;
    let mut required = MASTER_TABLES.to_vec();
    required.push("genims_plant");
    db::require_tables(&client, &required).await?;
    crate::db::schema::require_columns(&mut client).await?;
    let err = |what: &str, e: tokio_postgres::Error| anyhow!("{what}: {}", db::cause(&e));
    let tx = client.transaction().await.map_err(|e| err("cannot start a transaction", e))?;
    let list = MASTER_TABLES.join(", ");
    tx.batch_execute(&format!("LOCK TABLE {list} IN SHARE ROW EXCLUSIVE MODE"))
        .await
        .map_err(|e| err("cannot lock the master tables", e))?;
    let count_sql = MASTER_TABLES
        .iter()
        .map(|t| format!("SELECT '{t}'::text, count(*) FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let present: Vec<String> = tx
        .query(&count_sql, &[])
        .await
        .map_err(|e| err("cannot count existing master rows", e))?
        .iter()
        .filter(|r| r.get::<_, i64>(1) > 0)
        .map(|r| format!("{} {}", r.get::<_, i64>(1), r.get::<_, String>(0)))
        .collect();
    if !present.is_empty() {
        if !replace {
            bail!("the database already holds master data ({}); pass --replace to replace it", present.join(", "));
        }
        tx.batch_execute(&format!("TRUNCATE {list}")).await.map_err(|e| err("cannot empty the master tables", e))?;
    }
    for t in tables {
        let stmt = format!("COPY {} ({}) FROM STDIN (FORMAT csv)", t.name, t.columns.join(", "));
        let sink = tx.copy_in::<_, Bytes>(&stmt).await.map_err(|e| err(&format!("COPY into {} failed", t.name), e))?;
        futures_util::pin_mut!(sink);
        sink.send(Bytes::from(master::csv(t))).await.map_err(|e| err(&format!("COPY into {} failed", t.name), e))?;
        sink.finish().await.map_err(|e| err(&format!("COPY into {} failed", t.name), e))?;
    }
    tx.batch_execute(&identity.upsert_sql()).await.map_err(|e| err("cannot record the plant", e))?;
    tx.commit().await.map_err(|e| err("cannot commit the master data", e))?;
    Ok(())
}
