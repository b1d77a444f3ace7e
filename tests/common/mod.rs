//! Shared helpers for the integration tests: run the real `genims` binary in a temporary
//! directory with a clean environment, and give each test its own PostgreSQL database.

#![allow(dead_code)]

pub mod certs;
pub mod mosquitto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A plant of one line of each type (assembly, machining, testing, painting, welding), so
/// every pattern has machines it applies to: a machining line with several cutters, a
/// painting line with a curing oven. With seed 2 and a fault rate of 1, 2026-03-01 .. 03-04
/// holds an episode of each of the ten patterns.
pub const ONE_LINE_OF_EACH_TYPE: &str =
    "[plant]\nfactories = 1\nlines = 5\nmachines = 40\nsensors = 300\nemployees = 2000\nline_products = 6\nseed = 2\n";

/// The default plant's master tables and their row counts (the original package's).
pub const MASTER_COUNTS: [(&str, i64); 10] = [
    ("factories", 4),
    ("production_lines", 20),
    ("machines", 228),
    ("sensors", 1716),
    ("employees", 11948),
    ("shifts", 24),
    ("products", 20),
    ("customers", 10),
    ("line_product_mapping", 27),
    ("customer_product_mapping", 45),
];

/// The id of a duplicated reading's copy: the original's plus this (`[quality]` duplicates).
pub const DUPLICATE_ID_OFFSET: i64 = 1 << 52;

/// The server the tests use (a real PostgreSQL, started by `make test`).
pub fn admin_url() -> String {
    std::env::var("GENIMS_TEST_PG").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A `genims` command with no GENIMS_* variables inherited, run in `dir`. Streams serve no
/// control plane (tests run in parallel; its default port is fixed) unless a test passes
/// `--listen`.
pub fn genims(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_genims"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GENIMS_") {
            c.env_remove(k);
        }
    }
    c.env("GENIMS_LISTEN", "");
    c.current_dir(dir);
    c
}

/// The Python of the test clients' environment (`make test` creates it and passes its path
/// in GENIMS_PYTHON).
pub fn python() -> PathBuf {
    let p = std::env::var("GENIMS_PYTHON").map(PathBuf::from).unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        PathBuf::from(home).join(".cache/genims/py/bin/python")
    });
    assert!(p.is_file(), "the test clients' Python not found at {}: run `make test`, which creates it", p.display());
    p
}

/// GET `url` with curl (an independent HTTP client): status and body.
pub fn http_get(url: &str) -> (u16, String) {
    http(&["-sS", url])
}

/// An HTTP request with curl's arguments `args` (the URL among them): status and body.
pub fn http(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs (the tests need it as an independent HTTP client)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
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

/// Loads a backfill of `[start, end)` at fault rate 1 into the database at `url`: the
/// reference the stream tests compare with, table by table.
pub fn backfill_db(dir: &Path, url: &str, start: &str, end: &str) {
    ok(genims(dir).args([
        "--postgres-url",
        url,
        "backfill",
        "--out",
        "db",
        "--fault-rate",
        "1",
        "--start",
        start,
        "--end",
        end,
    ]));
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
        digest_at(&self.url, table)
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

/// [`TestDb::digest`] of a table in any database.
pub fn digest_at(url: &str, table: &str) -> String {
    let sql = format!(
        "SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {table} x"
    );
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| panic!("{url}: {e}"));
    c.query_one(&sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// The eight operational tables genims writes.
pub const TABLES: [&str; 8] = [
    "scada_machine_data",
    "sensor_data",
    "sensor_health",
    "machine_faults",
    "maintenance_events",
    "production_runs",
    "fault_labels",
    "data_quality_labels",
];

/// The topic genims publishes a table to (default prefix).
pub fn topic_of(table: &str) -> &'static str {
    match table {
        "scada_machine_data" => "genims.scada.data",
        "sensor_data" => "genims.sensor.data",
        "sensor_health" => "genims.sensor.health",
        "machine_faults" => "genims.machine.faults",
        "maintenance_events" => "genims.maintenance.events",
        "production_runs" => "genims.production.runs",
        "data_quality_labels" => "genims.quality.labels",
        _ => "genims.fault.labels",
    }
}

/// The JSON Lines files of a backfill under `dir`, added to `out`: table → each line
/// normalised (parsed and printed again), so that another client's JSON compares equal.
pub fn jsonl_values(dir: &Path, out: &mut std::collections::BTreeMap<String, std::collections::BTreeSet<String>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let table = TABLES.iter().find(|t| name.starts_with(*t)).unwrap_or_else(|| panic!("{name}: not a table file"));
        let set = out.entry((*table).to_owned()).or_default();
        for l in std::fs::read_to_string(&p).unwrap().lines() {
            set.insert(serde_json::from_str::<serde_json::Value>(l).unwrap().to_string());
        }
    }
}

/// Sends a signal (TERM, INT, KILL) to a process.
pub fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap();
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// Waits for a child to exit, at most `limit`; `None` when it is still running.
pub fn wait_for(child: &mut std::process::Child, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if std::time::Instant::now() >= until {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A child's standard error read as it comes, so a test can wait for the program to say
/// something (its progress, not a guess of wall-clock seconds) and read the whole log after.
pub struct StderrTail {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl StderrTail {
    /// Takes `child`'s piped standard error.
    pub fn of(child: &mut std::process::Child) -> StderrTail {
        use std::io::BufRead as _;
        let err = child.stderr.take().expect("the child's stderr is piped");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = text.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut t = sink.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
            }
        });
        StderrTail { text, reader: Some(reader) }
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.text.lock().unwrap().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until at least `n` lines contain `needle`; panics with the log after `limit`.
    pub fn wait_for(&self, needle: &str, n: usize, limit: std::time::Duration) {
        let until = std::time::Instant::now() + limit;
        while self.count(needle) < n {
            assert!(
                std::time::Instant::now() < until,
                "the program did not log `{needle}` {n} times in {limit:?}:\n{}",
                self.text.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The whole log, once the child has exited (its end of the pipe closed).
    pub fn finish(mut self) -> String {
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.text.lock().unwrap().clone()
    }
}

/// A private PostgreSQL 15 cluster (initdb in a temporary directory, on a free port) that a
/// test can stop and start again. Run as the `postgres` user when the test runs as root.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Cluster {
    fn bin(name: &str) -> String {
        format!("/usr/lib/postgresql/15/bin/{name}")
    }

    fn as_owner(args: &[&str]) -> Command {
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        let mut c = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]);
            c.args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    }

    pub fn start_new() -> Cluster {
        let c = Cluster::init_new();
        c.start();
        c
    }

    /// A cluster initialised but not started, so that a test can configure it first.
    pub fn init_new() -> Cluster {
        let dir = tempfile::Builder::new().prefix("genims-pg").tempdir_in("/tmp").unwrap();
        let _ = Command::new("chown").args(["-R", "postgres:postgres", dir.path().to_str().unwrap()]).status();
        let data = dir.path().join("data");
        let st = Self::as_owner(&[
            &Self::bin("initdb"),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .status()
        .unwrap();
        assert!(st.success(), "initdb failed");
        Cluster { dir, port: free_port() }
    }

    /// Appends `conf` to postgresql.conf and replaces pg_hba.conf with `hba`; files the
    /// server reads (certificates, keys) go under [`Cluster::dir`] through [`Cluster::own`].
    pub fn configure(&self, conf: &str, hba: &str) {
        use std::io::Write as _;
        let data = self.dir.path().join("data");
        let mut f = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).unwrap();
        f.write_all(conf.as_bytes()).unwrap();
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        self.own(&data);
    }

    /// Gives `path` to the server's user (the tests may run as root).
    pub fn own(&self, path: &Path) {
        let _ = Command::new("chown").args(["-R", "postgres:postgres", path.to_str().unwrap()]).status();
    }

    /// A key=value connection string over the cluster's Unix socket, as `postgres`.
    pub fn socket(&self, db: &str) -> String {
        format!("host={} port={} user=postgres dbname={db}", self.dir.path().display(), self.port)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn start(&self) {
        let data = self.dir.path().join("data");
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        let st = Self::as_owner(&[
            &Self::bin("pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &opts,
            "-w",
            "start",
        ])
        .status()
        .unwrap();
        assert!(st.success(), "pg_ctl start failed; see {}", log.display());
    }

    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let st = Self::as_owner(&[&Self::bin("pg_ctl"), "-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"])
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl stop failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Self::as_owner(&[&Self::bin("pg_ctl"), "-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .status();
    }
}

/// Every file under `dir` and its subdirectories, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
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
        Broker::start_on(free_port())
    }

    /// A broker on a given port (a restart after [`Broker::kill`]: topics start empty).
    pub fn start_on(port: u16) -> Broker {
        let addr = format!("127.0.0.1:{port}");
        Broker::start_advertised(port, &addr)
    }

    /// A broker on `port` that tells clients to reach it at `advertised` (`host:port`: a
    /// TLS terminator in front of it, say).
    pub fn start_advertised(port: u16, advertised: &str) -> Broker {
        Broker::start_with(port, advertised, &[])
    }

    /// [`Broker::start_advertised`] with more of tansu's flags (`--authentication`).
    pub fn start_with(port: u16, advertised: &str, flags: &[&str]) -> Broker {
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(tansu_path())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{addr}"),
                "--advertised-listener-url",
                &format!("tcp://{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .args(flags)
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

impl Broker {
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A relay on a free loopback port that forwards each way to `upstream` after holding every
/// chunk for `delay`: a link with a long round trip (a broker in another region), so that a
/// login takes seconds. Its threads end with the connections; the listener lives as long
/// as the test process.
pub fn slow_link(upstream: &str, delay: std::time::Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
            for (from, to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                std::thread::spawn(move || relay(from, to, delay));
            }
        }
    });
    addr
}

fn relay(mut from: std::net::TcpStream, mut to: std::net::TcpStream, delay: std::time::Duration) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        std::thread::sleep(delay);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// The arguments of a `genims stream` run, built from what a test sets: server addresses go
/// before the subcommand, the stream's own flags after it.
///
/// ```ignore
/// let args = StreamArgs::all().postgres(&db.url).sink("postgres").speed("max").window(a, b).build();
/// ```
#[derive(Clone, Debug)]
pub struct StreamArgs {
    global: Vec<String>,
    own: Vec<String>,
    what: &'static str,
}

impl StreamArgs {
    /// `stream all`: every table.
    pub fn all() -> StreamArgs {
        StreamArgs { global: Vec::new(), own: Vec::new(), what: "all" }
    }

    /// `stream iot`: sensor readings only.
    pub fn iot() -> StreamArgs {
        StreamArgs { what: "iot", ..StreamArgs::all() }
    }

    /// `stream scada`: SCADA machine data only.
    pub fn scada() -> StreamArgs {
        StreamArgs { what: "scada", ..StreamArgs::all() }
    }

    /// A flag of the stream (`--sink`, `--speed`, ...) with its value; set again, the new
    /// value replaces the old.
    pub fn flag(mut self, name: &str, value: &str) -> StreamArgs {
        match self.own.iter().position(|a| a == name) {
            Some(i) => self.own[i + 1] = value.to_owned(),
            None => self.own.extend([name.to_owned(), value.to_owned()]),
        }
        self
    }

    pub fn postgres(mut self, url: &str) -> StreamArgs {
        self.global.extend(["--postgres-url".to_owned(), url.to_owned()]);
        self
    }

    pub fn kafka(mut self, addr: &str) -> StreamArgs {
        self.global.extend(["--kafka-brokers".to_owned(), addr.to_owned()]);
        self
    }

    pub fn sink(self, sinks: &str) -> StreamArgs {
        self.flag("--sink", sinks)
    }

    pub fn speed(self, speed: &str) -> StreamArgs {
        self.flag("--speed", speed)
    }

    pub fn fault_rate(self, rate: &str) -> StreamArgs {
        self.flag("--fault-rate", rate)
    }

    pub fn start(self, at: &str) -> StreamArgs {
        self.flag("--start", at)
    }

    pub fn end(self, at: &str) -> StreamArgs {
        self.flag("--end", at)
    }

    /// `--start a --end b`.
    pub fn window(self, a: &str, b: &str) -> StreamArgs {
        self.start(a).end(b)
    }

    /// `--state-dir state`, the directory every stream test keeps its state in.
    pub fn state(self) -> StreamArgs {
        self.flag("--state-dir", "state")
    }

    /// The command line.
    pub fn build(&self) -> Vec<String> {
        let mut v = self.global.clone();
        v.extend(["stream".to_owned(), self.what.to_owned()]);
        v.extend(self.own.iter().cloned());
        v
    }
}
