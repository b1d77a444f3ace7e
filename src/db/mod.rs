//! PostgreSQL connections and the checks every database command shares: connect (through
//! the one connector of [`target`]: TLS, passwords) with an error that names the server,
//! pools, and verify the schema is in place before writing.

pub mod target;

use anyhow::{anyhow, bail, Context as _, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Client;

pub use target::Target;

/// Connection-string keywords whose values are secrets (libpq's names).
const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

/// Hides every secret in a PostgreSQL connection string, in each form libpq accepts: the
/// password of a URL's user info (which may itself hold `@` or `:`), `password=` and
/// `sslpassword=` parameters of a URL's query, and `password=…` (quoted or not) in a
/// key=value string. What remains names the server, for messages.
pub fn redact(conn: &str) -> String {
    let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    let masked = if is_url { redact_userinfo(conn) } else { conn.to_owned() };
    redact_keywords(&masked, is_url)
}

/// `scheme://user:secret@host…` → `scheme://user:***@host…`. The user info ends at the last
/// `@` (a password may contain `@`), provided the user name before its `:` holds no `/`,
/// `?` or `#` (then that `@` lies in the path or query, and there is no password).
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some(at) = rest.rfind('@') else { return url.to_owned() };
    let userinfo = &rest[..at];
    let Some(colon) = userinfo.find(':') else { return url.to_owned() };
    if userinfo[..colon].contains(['/', '?', '#']) {
        return url.to_owned();
    }
    format!("{scheme}://{}:***{}", &userinfo[..colon], &rest[at..])
}

/// Masks the value of every secret keyword: `password=x` (URL query: up to `&`; key=value:
/// up to white space, or a quoted value with `\'` escapes).
fn redact_keywords(s: &str, is_url: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let bytes = s.as_bytes();
    'scan: while i < s.len() {
        let boundary = i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'?' | b'&');
        if boundary {
            for key in SECRET_KEYS {
                let end = i + key.len();
                if end > s.len() || !s.is_char_boundary(end) || !s[i..end].eq_ignore_ascii_case(key) {
                    continue;
                }
                let mut j = end;
                while j < s.len() && bytes[j].is_ascii_whitespace() && !is_url {
                    j += 1;
                }
                if j >= s.len() || bytes[j] != b'=' {
                    continue;
                }
                j += 1;
                while j < s.len() && bytes[j].is_ascii_whitespace() && !is_url {
                    j += 1;
                }
                let value_end = value_end(s, j, is_url);
                out.push_str(&s[i..j]);
                out.push_str("***");
                i = value_end;
                continue 'scan;
            }
        }
        let ch = s[i..].chars().next().expect("inside the string");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Where the value starting at `j` ends.
fn value_end(s: &str, j: usize, is_url: bool) -> usize {
    let bytes = s.as_bytes();
    if is_url {
        return s[j..].find(['&', '#']).map_or(s.len(), |k| j + k);
    }
    if bytes.get(j) == Some(&b'\'') {
        let mut k = j + 1;
        while k < s.len() {
            match bytes[k] {
                b'\\' => k += 2,
                b'\'' => return k + 1,
                _ => k += 1,
            }
        }
        return s.len();
    }
    s[j..].find(|c: char| c.is_ascii_whitespace()).map_or(s.len(), |k| j + k)
}

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
    use super::redact;

    /// Every form libpq accepts, each with its expected masked text; the secret never shows.
    #[test]
    fn passwords_are_hidden_in_every_form() {
        let cases = [
            ("postgresql://u:S3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
            ("postgres://u:S3cret@h/db", "postgres://u:***@h/db"),
            ("postgresql://u@h/db", "postgresql://u@h/db"),
            ("postgresql://h:5432/db", "postgresql://h:5432/db"),
            // A password holding '@' and ':' (libpq takes the last '@').
            ("postgresql://u:S3c@ret:x@h/db", "postgresql://u:***@h/db"),
            (
                "postgresql://u:S3cret@h/db?password=S3cret&sslmode=require",
                "postgresql://u:***@h/db?password=***&sslmode=require",
            ),
            ("postgresql://h/db?user=u&password=S3cret", "postgresql://h/db?user=u&password=***"),
            ("postgresql://h/db?sslpassword=S3cret", "postgresql://h/db?sslpassword=***"),
            ("postgresql://h/db?application_name=a@b", "postgresql://h/db?application_name=a@b"),
            ("host=h password=S3cret dbname=x", "host=h password=*** dbname=x"),
            ("host=h password = S3cret dbname=x", "host=h password = *** dbname=x"),
            ("host=h password='S3 cr\\'et' dbname=x", "host=h password=*** dbname=x"),
            ("password=S3cret", "password=***"),
            ("host=h PASSWORD=S3cret", "host=h PASSWORD=***"),
            ("host=h sslpassword=S3cret user=u", "host=h sslpassword=*** user=u"),
            ("host=h passfile=/x user=u", "host=h passfile=/x user=u"),
        ];
        for (given, want) in cases {
            let got = redact(given);
            assert_eq!(got, want, "redact({given:?})");
            assert!(!got.contains("S3c") && !got.contains("ret'"), "a secret shows in {got:?}");
        }
    }
}
