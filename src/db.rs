//! PostgreSQL connections and the checks every database command shares: connect with an
//! error that names the server, and verify the schema is in place before writing.

use anyhow::{anyhow, bail, Result};
use tokio_postgres::{Client, NoTls};

/// Hides a password in a connection URL for messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_owned()
}

/// Connects and drives the connection on the runtime. The error names the server and cause.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| anyhow!("cannot connect to PostgreSQL at {}: {}", redact(url), cause(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(message = "PostgreSQL connection closed with an error", error = %e);
        }
    });
    Ok(client)
}

/// The innermost message of a tokio-postgres error, on one line.
pub fn cause(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
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

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden() {
        assert_eq!(super::redact("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
        assert_eq!(super::redact("postgresql://u@h/db"), "postgresql://u@h/db");
    }
}
