//! Where and how to reach PostgreSQL: a connection string (URL or key=value) with libpq's
//! TLS settings and password sources applied, turned into one connector that every
//! command and pool uses.
//!
//! TLS follows libpq: `sslmode` = `disable`, `prefer` (the default: TLS when the server
//! offers it, unverified), `require` (TLS, unverified — verified against `sslrootcert` when
//! one is given, as libpq does), `verify-ca` (the chain against `sslrootcert`),
//! `verify-full` (the chain and the host name). `sslrootcert` is a PEM file or `system`
//! (the operating system's roots); without it, verification uses `~/.postgresql/root.crt`
//! when present. `sslcert` + `sslkey` present a client certificate. The settings come from
//! the connection string, else from `[postgres]` keys. TLS is [`crate::tls`]: rustls, so no
//! OpenSSL is needed at build or run time.
//!
//! The password comes from the connection string, else `PGPASSWORD`, else `[postgres]
//! password_file` (a file only its owner may read). It is never printed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::schema::Partition;
use crate::secrets::redact;
use crate::setting;
use crate::tls::{self, Roots, Verify};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const NAMES: [&'static str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

impl std::str::FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<SslMode, String> {
        SslMode::parse(s).ok_or_else(|| setting::not_one_of(s, &SslMode::NAMES))
    }
}

/// The `[postgres]` settings. TLS and password settings apply where the connection string
/// has none of its own.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// The connection string (URL or key=value); unset: no database.
    #[serde(deserialize_with = "setting::maybe")]
    pub url: Option<String>,
    /// Connections a backfill or stream opens at most.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 64>")]
    pub pool_size: usize,
    /// How the time-series tables are laid out.
    #[serde(deserialize_with = "setting::parsed")]
    pub partition: Partition,
    #[serde(deserialize_with = "setting::maybe")]
    pub sslmode: Option<SslMode>,
    /// A PEM file of the roots to trust, or `system`.
    #[serde(deserialize_with = "setting::maybe")]
    pub sslrootcert: Option<String>,
    /// A client certificate and its key (PEM).
    #[serde(deserialize_with = "setting::maybe")]
    pub sslcert: Option<PathBuf>,
    #[serde(deserialize_with = "setting::maybe")]
    pub sslkey: Option<PathBuf>,
    /// A file holding the password (mode 600), when neither the URL nor `PGPASSWORD` has one.
    #[serde(deserialize_with = "setting::maybe")]
    pub password_file: Option<PathBuf>,
}

impl Default for PostgresConfig {
    fn default() -> PostgresConfig {
        PostgresConfig {
            url: None,
            pool_size: 4,
            partition: Partition::None,
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            password_file: None,
        }
    }
}

impl PostgresConfig {
    /// The server these settings name, with TLS and password settings applied; the one-line
    /// error every database command gives when none is configured.
    pub fn target(&self) -> Result<Target> {
        let url = self.url.as_deref().ok_or_else(|| {
            anyhow!("no PostgreSQL database configured: set [postgres] url in config.toml, GENIMS_POSTGRES_URL, or --postgres-url")
        })?;
        Target::new(url, self, |k| std::env::var(k).ok())
    }
}

/// A PostgreSQL server to connect to.
#[derive(Clone)]
pub struct Target {
    pub pg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    /// The connection string with secrets masked, for messages.
    pub shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.shown)
    }
}

/// The TLS keywords genims handles itself (tokio-postgres knows only some of them).
const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl Target {
    /// A target from a connection string and `[postgres]` settings; `password` reads an
    /// environment variable (`PGPASSWORD`).
    pub fn new(conn: &str, settings: &PostgresConfig, env: impl Fn(&str) -> Option<String>) -> Result<Target> {
        let conn = conn.trim();
        let shown = redact(conn);
        let is_scheme = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if let Some((scheme, _)) = conn.split_once("://").filter(|(s, _)| is_scheme(s)) {
            if scheme != "postgresql" && scheme != "postgres" {
                bail!("invalid PostgreSQL connection string {shown}: the scheme must be postgresql:// or postgres://, not {scheme}://");
            }
        }
        let (rest, params) = take_params(conn, &TLS_KEYS);
        let mut pg: tokio_postgres::Config =
            rest.parse().map_err(|e| anyhow!("invalid PostgreSQL connection string {shown}: {}", super::cause(&e)))?;
        let param = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let mode = match param("sslmode") {
            Some(m) => SslMode::parse(&m)
                .ok_or_else(|| anyhow!("sslmode={m} in {shown}: expected one of {}", SslMode::NAMES.join(", ")))?,
            None => settings.sslmode.unwrap_or_default(),
        };
        let rootcert = param("sslrootcert").or_else(|| settings.sslrootcert.clone());
        let cert = param("sslcert").map(PathBuf::from).or_else(|| settings.sslcert.clone());
        let key = param("sslkey").map(PathBuf::from).or_else(|| settings.sslkey.clone());
        if pg.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
                pg.password(p);
            } else if let Some(file) = &settings.password_file {
                pg.password(crate::secrets::read_secret_file(file, "password_file")?.0);
            }
        }
        pg.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        });
        let config = client_config(mode, rootcert.as_deref(), cert.as_deref(), key.as_deref(), &env)?;
        Ok(Target { pg, tls: MakeRustlsConnect::new(config), shown })
    }

    /// A target from a bare connection string (tests).
    #[cfg(test)]
    pub fn parse(conn: &str) -> Result<Target> {
        Target::new(conn, &PostgresConfig::default(), |k| std::env::var(k).ok())
    }

    /// The connector for a pool or a connection.
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }
}

/// The rustls configuration of a mode.
fn client_config(
    mode: SslMode,
    rootcert: Option<&str>,
    cert: Option<&Path>,
    key: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<rustls::ClientConfig> {
    // libpq: `require` with a root certificate given verifies the chain (verify-ca).
    let mode = if mode == SslMode::Require && rootcert.is_some() { SslMode::VerifyCa } else { mode };
    let verify = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Verify::Nothing,
        SslMode::VerifyCa => Verify::Chain,
        SslMode::VerifyFull => Verify::ChainAndName,
    };
    let roots = if verify == Verify::Nothing { None } else { Some(roots(mode, rootcert, env)?) };
    tls::client_config(&tls::Client { verify, roots, cert, key, names: NAMES })
}

/// The settings behind PostgreSQL's TLS, for messages.
const NAMES: tls::Names = tls::Names { roots: "sslrootcert", cert: "sslcert", key: "sslkey" };

/// The roots to verify the server against: `sslrootcert` (a file or `system`), else
/// `~/.postgresql/root.crt` as libpq.
fn roots(mode: SslMode, rootcert: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Roots> {
    let name = if mode == SslMode::VerifyFull { "verify-full" } else { "verify-ca" };
    Ok(match rootcert {
        Some("system") => Roots::System,
        Some(path) => Roots::File(PathBuf::from(path)),
        None => {
            let home = env("HOME").map(PathBuf::from).unwrap_or_default();
            let default = home.join(".postgresql/root.crt");
            if !default.is_file() {
                bail!(
                    "sslmode={name} needs a root certificate to verify the server: set sslrootcert=/path/to/ca.pem \
                     (or sslrootcert=system for the operating system's roots)"
                );
            }
            Roots::File(default)
        }
    })
}

/// Splits the parameters named `keys` out of a connection string (URL query or key=value
/// pairs), decoded; returns the rest and the parameters.
fn take_params(conn: &str, keys: &[&str]) -> (String, Vec<(String, String)>) {
    let mut taken = Vec::new();
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else { return (conn.to_owned(), taken) };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if keys.contains(&percent_decode(k).as_str()) {
                taken.push((percent_decode(k), percent_decode(v)));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        return (rest, taken);
    }
    let mut kept = Vec::new();
    for (k, v, raw) in key_values(conn) {
        if keys.contains(&k.as_str()) {
            taken.push((k, v));
        } else {
            kept.push(raw);
        }
    }
    (kept.join(" "), taken)
}

/// The `key=value` pairs of a libpq keyword string: key, unquoted value, and the raw text.
fn key_values(s: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=');
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let (mut value, mut raw_value) = (String::new(), String::new());
        if chars.next_if_eq(&'\'').is_some() {
            raw_value.push('\'');
            while let Some(c) = chars.next() {
                raw_value.push(c);
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            raw_value.push(n);
                            value.push(n);
                        }
                    }
                    '\'' => break,
                    _ => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
                raw_value.push(c);
            }
        }
        let raw = format!("{key}={raw_value}");
        out.push((key, value, raw));
    }
}

/// Decodes `%XX` escapes (and leaves malformed ones as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keywords_are_taken_out_of_both_forms() {
        let (rest, p) = take_params(
            "postgresql://u:pw@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
            &TLS_KEYS,
        );
        assert_eq!(rest, "postgresql://u:pw@h:5/db?application_name=x");
        assert_eq!(p, [("sslmode".into(), "verify-full".into()), ("sslrootcert".into(), "/etc/ca.pem".into())]);
        let (rest, p) = take_params("postgresql://h/db?sslmode=require", &TLS_KEYS);
        assert_eq!((rest.as_str(), p.len()), ("postgresql://h/db", 1));
        let (rest, p) =
            take_params("host=h sslmode = verify-ca password='a b\\'c' sslrootcert='/x y/ca.pem' dbname=d", &TLS_KEYS);
        assert_eq!(rest, "host=h password='a b\\'c' dbname=d");
        assert_eq!(p, [("sslmode".into(), "verify-ca".into()), ("sslrootcert".into(), "/x y/ca.pem".into())]);
    }

    #[test]
    fn settings_apply_unless_the_string_says_otherwise() {
        let none = |_: &str| None;
        let t = Target::new("postgresql://h/db", &PostgresConfig::default(), none).unwrap();
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Prefer, "libpq's default");
        let s = PostgresConfig { sslmode: Some(SslMode::Disable), ..Default::default() };
        let t = Target::new("postgresql://h/db", &s, none).unwrap();
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Disable);
        let t = Target::new("postgresql://h/db?sslmode=require", &s, none).unwrap();
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Require, "the connection string wins");
        let e = Target::new("postgresql://h/db?sslmode=verify-full", &PostgresConfig::default(), none).unwrap_err();
        assert!(e.to_string().contains("sslrootcert"), "{e}");
        let e = Target::new("postgresql://u:S3cret@h/db?sslmode=always", &PostgresConfig::default(), none).unwrap_err();
        assert!(e.to_string().contains("sslmode=always") && !e.to_string().contains("S3cret"), "{e}");
        let e =
            Target::new("postgresql://h/db?sslrootcert=/nonexistent/ca.pem&sslmode=verify-ca", &s, none).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    /// White space around a connection string is not part of it; another scheme, or an
    /// unknown key, is named as the cause.
    #[test]
    fn a_string_libpq_would_refuse_names_the_cause() {
        let none = |_: &str| None;
        let t = Target::new(" \tpostgresql://u:S3cret@h/db\n", &PostgresConfig::default(), none).unwrap();
        assert_eq!(t.shown, "postgresql://u:***@h/db");
        for (given, cause) in [
            (
                "postgresql+psycopg2://u:S3cret@h/db",
                "the scheme must be postgresql:// or postgres://, not postgresql+psycopg2://",
            ),
            ("POSTGRESQL://u:S3cret@h/db", "not POSTGRESQL://"),
            ("postgresql://u:S3cret@h/db?bogus=1", "unknown option `bogus`"),
        ] {
            let e = Target::new(given, &PostgresConfig::default(), none).unwrap_err().to_string();
            assert!(e.contains(cause) && !e.contains("S3cret"), "{given}: {e}");
        }
    }

    #[test]
    fn the_password_comes_from_the_string_then_pgpassword_then_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = PostgresConfig { password_file: Some(file.clone()), ..Default::default() };
        let pw = |t: &Target| t.pg.get_password().map(|p| String::from_utf8(p.to_vec()).unwrap());
        let env = |k: &str| (k == "PGPASSWORD").then(|| "from-env".to_owned());
        assert_eq!(pw(&Target::new("postgresql://u:inline@h/db", &s, env).unwrap()).as_deref(), Some("inline"));
        assert_eq!(pw(&Target::new("postgresql://u@h/db", &s, env).unwrap()).as_deref(), Some("from-env"));
        assert_eq!(pw(&Target::new("postgresql://u@h/db", &s, |_| None).unwrap()).as_deref(), Some("from-file"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Target::new("postgresql://u@h/db", &s, |_| None).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains("from-file"), "{e}");
    }
}
