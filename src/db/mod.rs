//! PostgreSQL connections and the checks every database command shares: connect (through
//! the one connector of [`target`]: TLS, passwords) with an error that names the server,
//! pools, and verify the schema is in place before writing.

pub mod retention;
pub mod schema;
pub mod target;
pub mod upgrade;

use anyhow::{anyhow, bail, Context as _, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Client;

pub use target::Target;

/// Connects and drives the connection on the runtime. The error names the server and cause.
pub async fn connect(target: &Target) -> Result<Client> {
    let (client, connection) = target
        .pg
        .connect(target.tls())
        .await
        .map_err(|e| anyhow!("cannot connect to PostgreSQL at {}: {}", target.shown, cause(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            // The query that needed the connection reports the failure; this is detail.
            tracing::debug!(message = "PostgreSQL connection closed with an error", error = %e);
        }
    });
    Ok(client)
}

/// A pool of at most `size` connections to `target`, each opened within `timeout`.
pub fn pool(target: &Target, size: usize, timeout: std::time::Duration) -> Result<Pool> {
    let mut pg = target.pg.clone();
    pg.connect_timeout(timeout);
    let mgr = Manager::from_config(pg, target.tls(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(mgr)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("cannot build the connection pool")
}

/// The innermost message of a tokio-postgres error, on one line.
pub fn cause(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        if *db.code() == tokio_postgres::error::SqlState::DISK_FULL {
            return format!(
                "{} (the database server is out of disk space: free some, for example with `genims prune --older-than 7d` \
                 or `[retention] days`; a stream keeps its records meanwhile and goes on by itself)",
                db.message()
            );
        }
        return db.message().to_owned();
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg.replace('\n', " ")
}

/// Fails with a pointer to `genims schema apply` unless all `tables` exist.
pub async fn require_tables(client: &Client, tables: &[&str]) -> Result<()> {
    let names: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
    let row = client
        .query_one(
            "SELECT coalesce(array_agg(t), '{}') FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL",
            &[&names],
        )
        .await
        .map_err(|e| anyhow!("cannot inspect the schema: {}", cause(&e)))?;
    let missing: Vec<String> = row.get(0);
    if !missing.is_empty() {
        bail!("the database lacks table(s) {}: run `genims schema apply` first", missing.join(", "));
    }
    Ok(())
}
