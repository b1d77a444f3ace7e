//! Shared helpers for the integration tests: run the real `genims` binary in a temporary
//! directory with a clean environment, and give each test its own PostgreSQL database.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The server the tests use (a real PostgreSQL, started by `make test`).
pub fn admin_url() -> String {
    std::env::var("GENIMS_TEST_PG").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A `genims` command with no GENIMS_* variables inherited, run in `dir`.
pub fn genims(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_genims"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GENIMS_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir);
    c
}

/// Runs and returns the output, with stderr as text for messages.
pub fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().expect("genims runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

/// Runs and insists on success.
pub fn ok(cmd: &mut Command) -> Output {
    let (out, err) = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed with {}: {err}", out.status);
    out
}

/// A database created for one test and dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        let name = format!("genims_t_{tag}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL at {} must be up (make test starts it): {e}", admin_url()));
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let base = admin_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        TestDb { name, url }
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// A digest of a table's content (row count and md5 of its sorted rows), independent
    /// of load order.
    pub fn digest(&self, table: &str) -> String {
        self.scalar(&format!("SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {table} x"))
    }

    /// One value of a query that returns one row and one column.
    pub fn scalar<T: for<'a> postgres::types::FromSql<'a>>(&self, sql: &str) -> T {
        self.client().query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A private tansu broker (Kafka-compatible, in-memory storage) on a free loopback port,
/// killed when dropped. `make test` installs tansu and passes its path in GENIMS_TANSU.
pub struct Broker {
    pub child: std::process::Child,
    pub addr: String,
}

pub fn tansu_path() -> PathBuf {
    let p = std::env::var("GENIMS_TANSU").map(PathBuf::from).unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        PathBuf::from(home).join(".cache/genims/tansu/bin/tansu")
    });
    assert!(p.is_file(), "tansu broker not found at {}: run `make test`, which installs it", p.display());
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Broker {
    pub fn start() -> Broker {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(tansu_path())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{addr}"),
                "--advertised-listener-url",
                &format!("tcp://{addr}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu starts");
        let broker = Broker { child, addr };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(&broker.addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not listen on {} within 20 s", broker.addr);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
