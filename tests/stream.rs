//! `genims stream` end to end, against the real PostgreSQL, private PostgreSQL clusters and
//! private tansu brokers: it emits exactly what backfill writes, continues a backfill and
//! itself after SIGTERM, and loses nothing while a database or broker is away.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{
    backfill_db, digest_at, genims, http_get, ok, python, run, signal, tempdir, topic_of, wait_for, Broker, Cluster,
    StreamArgs, TestDb, TABLES,
};

const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n\
                           [kafka]\npartitions = 3\n\n[stream]\nstats_interval_s = 1\nbuffer_mb = 1\nlinger_ms = 50\n";

fn plant_dir() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    dir
}

/// A private cluster (one the test may stop and start) with a `genims` database holding the
/// schema (`schema apply` with `extra` flags); its URL.
fn cluster_with_schema(dir: &std::path::Path, extra: &[&str]) -> (Cluster, String) {
    let cluster = Cluster::start_new();
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls).unwrap();
    admin.batch_execute("CREATE DATABASE genims").unwrap();
    let url = cluster.url("genims");
    ok(genims(dir).args(["--postgres-url", &url, "schema", "apply"]).args(extra));
    (cluster, url)
}

/// A child process killed when dropped, so a failing test leaves no daemon behind.
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `genims stream` with stderr in `<dir>/<log>`.
fn spawn(dir: &std::path::Path, log: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> Running {
    let err = std::fs::File::create(dir.join(log)).unwrap();
    Running(genims(dir).args(args).stdout(Stdio::null()).stderr(err).spawn().expect("genims starts"))
}

fn log(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// A database with the schema, for `url` on any server.
fn prepared(dir: &std::path::Path, url: &str) {
    ok(genims(dir).args(["--postgres-url", url, "schema", "apply"]));
}

#[test]
fn stream_at_max_speed_emits_exactly_the_backfill() {
    let dir = plant_dir();
    // Starts inside an hour, crosses midnight, ends inside an hour.
    stream_equals_backfill(dir.path(), ["--start", "2026-03-04T22:17:00Z", "--end", "2026-03-05T01:43:00Z"], 100_000);
}

/// The same on a realistic plant (`[faults] difficulty`): product loads, ageing since the last
/// maintenance and the hall's temperature are functions of time, not of where a run starts.
#[test]
fn a_realistic_stream_emits_exactly_the_backfill() {
    let dir = plant_dir();
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[faults]\ndifficulty = \"realistic\"\n")).unwrap();
    stream_equals_backfill(dir.path(), ["--start", "2026-03-04T23:31:00Z", "--end", "2026-03-05T00:29:00Z"], 20_000);
}

/// A stream at maximum speed over `window` emits exactly the rows (at least `min_rows`) the
/// backfill of the window writes, compared as sorted JSON lines.
fn stream_equals_backfill(dir: &std::path::Path, window: [&str; 4], min_rows: usize) {
    let mut args = vec!["stream", "all", "--sink", "stdout", "--speed", "max", "--state-dir", "state"];
    args.extend(window);
    let streamed = ok(genims(dir).args(&args).args(["--fault-rate", "1"]));
    let mut args = vec!["backfill", "--out", "jsonl", "--path", "bf", "--fault-rate", "1"];
    args.extend(window);
    ok(genims(dir).args(&args));
    let mut expected: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir.join("bf")).unwrap() {
        expected.extend(std::fs::read_to_string(e.unwrap().path()).unwrap().lines().map(str::to_owned));
    }
    let mut got: Vec<String> = String::from_utf8(streamed.stdout).unwrap().lines().map(str::to_owned).collect();
    assert!(expected.len() > min_rows, "the window holds a real amount of data ({} rows)", expected.len());
    assert!(expected.iter().any(|l| l.contains("\"episode_id\"")), "the window holds fault episodes");
    expected.sort();
    got.sort();
    assert_eq!(got.len(), expected.len(), "stream and backfill emit as many rows");
    let first_diff = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        first_diff.is_none(),
        "stream and backfill differ first at\n  stream:   {}\n  backfill: {}",
        got[first_diff.unwrap()],
        expected[first_diff.unwrap()]
    );
}

/// The backfill of `[a, b)` at fault rate 1 as JSON Lines: table → sorted lines.
fn backfill_lines(dir: &std::path::Path, a: &str, b: &str) -> BTreeMap<String, Vec<String>> {
    ok(genims(dir).args(["backfill", "--out", "jsonl", "--path", "bf", "--fault-rate", "1", "--start", a, "--end", b]));
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in std::fs::read_dir(dir.join("bf")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let table = TABLES.iter().find(|t| name.starts_with(*t)).unwrap_or_else(|| panic!("{name}: not a table file"));
        out.entry((*table).to_owned())
            .or_default()
            .extend(std::fs::read_to_string(&p).unwrap().lines().map(str::to_owned));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// One stream with three sinks simulates each minute once and encodes it for each: every
/// sink ends with exactly the backfill of the window (PostgreSQL table by table, Kafka record
/// for record with key and timestamp, stdout line for line).
#[test]
fn one_stream_to_postgres_kafka_and_stdout_delivers_the_backfill_to_each() {
    let dir = plant_dir();
    let broker = Broker::start();
    let (streamed, whole) = (TestDb::new("three"), TestDb::new("three_ref"));
    for db in [&streamed, &whole] {
        prepared(dir.path(), &db.url);
    }
    let (a, b) = ("2026-03-04T23:20:00Z", "2026-03-05T00:40:00Z");
    let args = StreamArgs::all()
        .postgres(&streamed.url)
        .kafka(&broker.addr)
        .sink("postgres,kafka,stdout")
        .speed("max")
        .fault_rate("1")
        .window(a, b)
        .state()
        .build();
    let out = ok(genims(dir.path()).args(args));
    backfill_db(dir.path(), &whole.url, a, b);
    for table in TABLES {
        assert_eq!(streamed.digest(table), whole.digest(table), "postgres sink, {table}: the backfill's rows");
    }
    let expected = backfill_lines(dir.path(), a, b);
    assert!(expected.values().map(Vec::len).sum::<usize>() > 50_000, "the window holds a real amount of data");
    assert!(!expected["fault_labels"].is_empty(), "the window holds fault episodes");
    let mut stdout: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    stdout.sort();
    let mut all: Vec<String> = expected.values().flatten().cloned().collect();
    all.sort();
    assert!(stdout == all, "stdout sink: {} lines, the backfill {}", stdout.len(), all.len());
    let (got, _) = consume_all(&broker.addr);
    for table in TABLES {
        let mut values: Vec<String> = got[table].iter().map(|r| r.2.clone()).collect();
        values.sort();
        assert!(
            values == expected[table],
            "kafka sink, {table}: {} records, the backfill {}",
            values.len(),
            expected[table].len()
        );
        for (key, ts, value) in &got[table] {
            let v: serde_json::Value = serde_json::from_str(value).unwrap();
            if let Some(m) = v["machine_id"].as_str() {
                assert_eq!(m, key, "{table}: keyed by machine");
            }
            assert!(*ts > 0, "{table}: a record timestamp");
        }
    }
}

/// A large plant's ticks come in parts (`[stream] tick_part_sensors`, here 100 of the small
/// plant's 250 sensors: three parts a tick), each released as it is ready. Stopped by SIGTERM
/// three times and restarted, a stream to PostgreSQL and Kafka delivers every record exactly
/// once: a stop finishes the tick it is in, and PostgreSQL commits only whole ticks.
#[test]
fn a_large_plants_ticks_in_parts_reach_postgres_and_kafka_once_across_sigterms() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), format!("{SMALL_PLANT}tick_part_sensors = 100\n")).unwrap();
    let broker = Broker::start();
    let (streamed, whole) = (TestDb::new("parts"), TestDb::new("parts_ref"));
    for db in [&streamed, &whole] {
        prepared(dir.path(), &db.url);
    }
    let (a, c) = ("2026-03-04T23:40:00Z", "2026-03-05T00:40:00Z");
    let args = |speed: &str| {
        StreamArgs::all()
            .postgres(&streamed.url)
            .kafka(&broker.addr)
            .sink("postgres,kafka")
            .speed(speed)
            .fault_rate("1")
            .window(a, c)
            .state()
            .build()
    };
    for k in 0..3 {
        let name = format!("run{k}.log");
        let mut child = spawn(dir.path(), &name, &args("150"));
        std::thread::sleep(Duration::from_millis(2_500));
        signal(child.id(), "TERM");
        let status = wait_for(&mut child, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no exit within 10 s of SIGTERM: {}", log(dir.path(), &name)));
        assert!(status.success(), "SIGTERM exits 0: {}", log(dir.path(), &name));
        let text = log(dir.path(), &name);
        assert!(text.contains("a tick at a time, in 3 parts of about"), "ticks in three parts: {text}");
    }
    let through: String = streamed.scalar("SELECT through::text FROM genims_stream_progress WHERE stream = 'all'");
    assert!(through.as_str() < "2026-03-05 00:40:00", "the runs stopped part way, at {through}");
    ok(genims(dir.path()).args(args("max")));
    backfill_db(dir.path(), &whole.url, a, c);
    for table in TABLES {
        assert_eq!(streamed.digest(table), whole.digest(table), "postgres, {table}: the backfill's rows once");
    }
    kafka_holds_once(&broker.addr, &backfill_lines(dir.path(), a, c), "after three SIGTERMs");
}

/// Asserts that the broker at `addr` holds exactly `expected` (table → sorted JSON lines):
/// each record once.
fn kafka_holds_once(addr: &str, expected: &BTreeMap<String, Vec<String>>, when: &str) {
    let (got, _) = consume_all(addr);
    for table in TABLES {
        let mut values: Vec<String> = got[table].iter().map(|r| r.2.clone()).collect();
        values.sort();
        let dupes = values.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(
            values == expected[table],
            "kafka, {table} {when}: {} records ({dupes} repeated), the backfill {}",
            values.len(),
            expected[table].len()
        );
    }
}

/// A stream resumed on a whole minute labels no episode twice: the episodes in progress there
/// were labelled by the run before (each window labels every episode touching it, which
/// PostgreSQL merges but Kafka would have received again).
#[test]
fn a_stream_resumed_on_a_minute_labels_the_episodes_in_progress_once() {
    let dir = plant_dir();
    let broker = Broker::start();
    let (a, m, c) = ("2026-03-04T22:00:00Z", "2026-03-04T23:00:00Z", "2026-03-04T23:30:00Z");
    let run = |end: &str| {
        let args =
            StreamArgs::all().kafka(&broker.addr).sink("kafka").speed("max").fault_rate("1").window(a, end).state();
        ok(genims(dir.path()).args(args.build()));
    };
    run(m);
    let (first, _) = consume_all(&broker.addr);
    let later = backfill_lines(dir.path(), m, c);
    let spanning = first["fault_labels"].iter().filter(|r| later["fault_labels"].contains(&r.2)).count();
    assert!(spanning > 0, "an episode is in progress at {m}: {:?}", first["fault_labels"]);
    std::fs::remove_dir_all(dir.path().join("bf")).unwrap();
    run(c);
    let when = format!("after resuming at {m} ({spanning} labels of episodes in progress there)");
    kafka_holds_once(&broker.addr, &backfill_lines(dir.path(), a, c), &when);
}

#[test]
fn postgres_stream_continues_a_backfill_and_survives_sigterm() {
    let dir = plant_dir();
    let (streamed, whole) = (TestDb::new("stream"), TestDb::new("whole"));
    for db in [&streamed, &whole] {
        prepared(dir.path(), &db.url);
    }
    let (a, b, c) = ("2026-03-04T22:00:00Z", "2026-03-04T23:30:00Z", "2026-03-05T01:00:00Z");
    backfill_db(dir.path(), &streamed.url, a, b);
    // The stream picks up where the backfill ended; stopped by SIGTERM part way.
    let args =
        StreamArgs::all().postgres(&streamed.url).sink("postgres").speed("400").fault_rate("1").end(c).state().build();
    let mut child = spawn(dir.path(), "first.log", &args);
    std::thread::sleep(Duration::from_secs(4));
    let sent = Instant::now();
    signal(child.id(), "TERM");
    let status = wait_for(&mut child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no exit within 10 s of SIGTERM: {}", log(dir.path(), "first.log")));
    assert!(status.success(), "SIGTERM exits 0: {}", log(dir.path(), "first.log"));
    assert!(sent.elapsed() < Duration::from_secs(10));
    // Flushes that merge labels through their staging table log nothing of it.
    let first = log(dir.path(), "first.log");
    assert!(first.contains("stream starting") && !first.contains("NOTICE"), "no server notices in the log: {first}");
    let through: String = streamed.scalar("SELECT through::text FROM genims_stream_progress WHERE stream = 'all'");
    assert!(
        through.as_str() > "2026-03-04 23:30:00" && through.as_str() < "2026-03-05 01:00:00",
        "stopped part way, at {through}"
    );
    // A restart continues exactly there.
    let args =
        StreamArgs::all().postgres(&streamed.url).sink("postgres").speed("max").fault_rate("1").end(c).state().build();
    ok(genims(dir.path()).args(args));
    backfill_db(dir.path(), &whole.url, a, c);
    for table in TABLES {
        assert_eq!(
            streamed.digest(table),
            whole.digest(table),
            "{table}: backfill + stream + SIGTERM + stream must equal one backfill"
        );
    }
}

#[test]
fn postgres_outage_is_buffered_spooled_and_delivered_once() {
    let dir = plant_dir();
    // Daily partitions: the stream creates the next day's as it crosses midnight.
    let (cluster, url) = cluster_with_schema(dir.path(), &["--partition", "daily"]);
    let (a, c) = ("2026-03-04T23:30:00Z", "2026-03-05T01:00:00Z");
    let args =
        StreamArgs::all().postgres(&url).sink("postgres").speed("300").fault_rate("1").window(a, c).state().build();
    let mut child = spawn(dir.path(), "stream.log", &args);
    std::thread::sleep(Duration::from_secs(3));
    cluster.stop();
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon keeps running while PostgreSQL is down: {}",
        log(dir.path(), "stream.log")
    );
    cluster.start();
    let status = wait_for(&mut child, Duration::from_secs(120)).expect("the stream finishes after PostgreSQL returns");
    let text = log(dir.path(), "stream.log");
    assert!(status.success(), "{text}");
    assert!(text.contains("delivery failed, will retry"), "the outage was noticed: {text}");
    let spooled = text
        .lines()
        .filter_map(|l| l.split("spooled ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(spooled > 0, "the memory bound was reached and rows spooled to disk: {text}");
    let whole = TestDb::new("outage");
    prepared(dir.path(), &whole.url);
    backfill_db(dir.path(), &whole.url, a, c);
    for table in TABLES {
        assert_eq!(digest_at(&url, table), whole.digest(table), "{table}: every record exactly once after the outage");
    }
}

/// SIGTERM while PostgreSQL is away: the delivery task is cancelled when the grace period
/// runs out (it does not wait out its retries), the process exits, and a restart after the
/// server is back delivers every record exactly once.
#[test]
fn a_signal_during_an_outage_gives_up_after_the_grace_period_and_a_restart_loses_nothing() {
    let dir = plant_dir();
    let grace = 2;
    let config = format!("{SMALL_PLANT}shutdown_grace_s = {grace}\n");
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let (cluster, url) = cluster_with_schema(dir.path(), &[]);
    let (a, c) = ("2026-03-04T06:00:00Z", "2026-03-04T07:00:00Z");
    let stream = StreamArgs::all().postgres(&url).sink("postgres").speed("60").fault_rate("1").window(a, c).state();
    let mut child = spawn(dir.path(), "first.log", &stream.build());
    std::thread::sleep(Duration::from_secs(3));
    cluster.stop();
    let noticed = std::time::Instant::now();
    while !log(dir.path(), "first.log").contains("delivery failed, will retry") {
        assert!(noticed.elapsed() < Duration::from_secs(60), "the outage is noticed: {}", log(dir.path(), "first.log"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let signalled = std::time::Instant::now();
    signal(child.id(), "TERM");
    let status = wait_for(&mut child, Duration::from_secs(grace + 8))
        .unwrap_or_else(|| panic!("no exit within the grace period of SIGTERM: {}", log(dir.path(), "first.log")));
    let took = signalled.elapsed();
    let text = log(dir.path(), "first.log");
    assert!(status.success(), "a signal ends the stream without an error: {text}");
    assert!(
        took >= Duration::from_secs(grace) - Duration::from_millis(300),
        "the grace period is used to retry ({took:?}): {text}"
    );
    assert!(text.contains("stopped before delivering every queued row"), "what was given up is reported: {text}");
    assert!(!text.contains("did not finish within the grace period"), "the cancelled task ended at once: {text}");

    cluster.start();
    let mut again = spawn(dir.path(), "second.log", &stream.speed("max").build());
    let status = wait_for(&mut again, Duration::from_secs(120)).expect("the restarted stream finishes its window");
    assert!(status.success(), "{}", log(dir.path(), "second.log"));
    let whole = TestDb::new("giveup");
    prepared(dir.path(), &whole.url);
    backfill_db(dir.path(), &whole.url, a, c);
    for table in TABLES {
        assert_eq!(
            digest_at(&url, table),
            whole.digest(table),
            "{table}: given up, restarted: every record exactly once"
        );
    }
}

/// The control plane's metrics, parsed by an independent OpenMetrics parser (Python's
/// prometheus-client): (name, labels as `k=v,...` sorted) → value. Panics, showing the text,
/// if the exposition does not parse.
fn scrape(base: &str) -> BTreeMap<(String, String), f64> {
    let (code, text) = http_get(&format!("{base}/metrics"));
    assert_eq!(code, 200, "GET /metrics: {text}");
    const PARSE: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse
for fam in parse(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}\t{labels}\t{s.value}")
"#;
    let mut child = std::process::Command::new(python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "/metrics is not valid OpenMetrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let (name, labels, value) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            ((name.to_owned(), labels.to_owned()), value.parse().unwrap())
        })
        .collect()
}

fn metric(m: &BTreeMap<(String, String), f64>, name: &str, labels: &str) -> f64 {
    *m.get(&(name.to_owned(), labels.to_owned())).unwrap_or_else(|| panic!("no {name}{{{labels}}} in {m:?}"))
}

/// Polls `url` until it answers `code`; the body then.
fn await_status(url: &str, code: u16, limit: Duration, what: &str) -> String {
    let since = Instant::now();
    loop {
        let (got, body) = http_get(url);
        if got == code {
            return body;
        }
        assert!(since.elapsed() < limit, "{what}: {url} answered {got} {body} for {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The control plane of a running stream: metrics that validate as OpenMetrics and move as
/// rows flow, readiness that turns 503 naming PostgreSQL while its server is away and 200
/// again after, JSON errors; a taken port and an exposed address without a token refuse to
/// start.
#[test]
fn the_control_plane_serves_metrics_and_readiness_through_an_outage() {
    let dir = plant_dir();
    let (cluster, url) = cluster_with_schema(dir.path(), &[]);
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}");
    let args = StreamArgs::all()
        .postgres(&url)
        .sink("postgres")
        .speed("60")
        .fault_rate("1")
        .window("2026-03-04T06:00:00Z", "2026-03-04T09:00:00Z")
        .state()
        .flag("--listen", &listen)
        .build();
    let mut child = spawn(dir.path(), "stream.log", &args);
    await_status(&format!("{base}/healthz"), 200, Duration::from_secs(60), "the daemon comes up");
    await_status(&format!("{base}/readyz"), 200, Duration::from_secs(10), "every sink delivers");

    let first = scrape(&base);
    std::thread::sleep(Duration::from_secs(3));
    let second = scrape(&base);
    let sensor = "sink=postgres,table=sensor_data";
    assert!(
        metric(&second, "genims_rows_delivered_total", sensor) > metric(&first, "genims_rows_delivered_total", sensor),
        "delivered rows grow as the stream runs"
    );
    let machines: f64 = ["running", "idle", "fault", "maintenance", "setup"]
        .iter()
        .map(|s| metric(&second, "genims_machines", &format!("state={s}")))
        .sum();
    assert_eq!(machines, 32.0, "every machine of the plant is in one state");
    assert_eq!(metric(&second, "genims_build_info", &format!("version={}", env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(metric(&second, "genims_simulated_time_seconds", "") >= 1_772_604_000.0, "simulated time is in the window");
    assert!(second.contains_key(&("genims_episodes_active".to_owned(), "pattern=bearing_failure".to_owned())));
    assert_eq!(metric(&second, "genims_sink_retrying", "sink=postgres"), 0.0);

    // /faults agrees with the ground truth the sink receives: once the stream has delivered
    // past the minute shown, every episode begun by then has its label, field for field.
    let (code, body) = http_get(&format!("{base}/faults"));
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let episodes = doc["episodes"].as_array().unwrap();
    assert!(!episodes.is_empty(), "at fault rate 1 some episode is in effect or near: {body}");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let at: f64 = db
        .query_one("SELECT extract(epoch FROM $1::text::timestamptz)::float8", &[&doc["at"].as_str().unwrap()])
        .unwrap()
        .get(0);
    let since = Instant::now();
    while metric(&scrape(&base), "genims_sink_delivered_through_seconds", "sink=postgres") <= at + 60.0 {
        assert!(since.elapsed() < Duration::from_secs(30), "the stream delivers past the minute /faults showed");
        std::thread::sleep(Duration::from_millis(250));
    }
    let fmt = |c: &str| format!("to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    let sql = format!(
        "SELECT machine_id, pattern, {}, {}, {}, {} FROM fault_labels WHERE episode_id = $1",
        fmt("onset_time"),
        fmt("warning_time"),
        fmt("critical_time"),
        fmt("fault_time")
    );
    let mut begun = 0;
    for e in episodes {
        let phase = e["phase"].as_str().unwrap();
        assert!(["upcoming", "onset", "warning", "critical", "fault", "repair"].contains(&phase), "{e}");
        assert_eq!(e["source"], "catalogue");
        if phase == "upcoming" {
            continue;
        }
        begun += 1;
        let row = db.query_opt(&sql, &[&e["id"].as_i64().unwrap()]).unwrap();
        let row = row.unwrap_or_else(|| panic!("episode {e} has no label in the database"));
        let got: Vec<String> = (0..6).map(|i| row.get::<_, String>(i)).collect();
        let want: Vec<&str> = ["machine_id", "pattern", "onset", "warning", "critical", "fault"]
            .iter()
            .map(|k| e[*k].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "/faults and fault_labels agree on episode {}", e["id"]);
    }
    assert!(begun > 0, "some episode is in effect: {body}");

    let (code, body) = http_get(&format!("{base}/nowhere"));
    assert_eq!((code, body.contains("\"error\"")), (404, true), "an unknown path: {body}");
    let (code, body) = common::http(&["-sS", "-X", "DELETE", &format!("{base}/metrics")]);
    assert_eq!((code, body.contains("\"error\"")), (405, true), "a wrong method: {body}");

    // A second daemon on the same address refuses to start, naming it.
    let (out, err) = run(genims(dir.path()).args(["stream", "iot", "--sink", "null", "--listen", &listen]));
    assert!(!out.status.success() && err.contains(&listen) && err.contains("[stream] listen"), "{err}");
    // An address other hosts reach needs a control token.
    let (out, err) = run(genims(dir.path()).args(["stream", "iot", "--sink", "null", "--listen", "0.0.0.0:1"]));
    assert!(!out.status.success() && err.contains("control_token"), "{err}");

    cluster.stop();
    let body =
        await_status(&format!("{base}/readyz"), 503, Duration::from_secs(30), "an outage makes the daemon unready");
    assert!(body.contains("postgres"), "the failing sink is named: {body}");
    let during = scrape(&base);
    assert_eq!(metric(&during, "genims_sink_retrying", "sink=postgres"), 1.0);
    assert!(metric(&during, "genims_delivery_errors_total", "sink=postgres") >= 1.0);
    cluster.start();
    await_status(&format!("{base}/readyz"), 200, Duration::from_secs(60), "ready again once PostgreSQL is back");

    signal(child.id(), "TERM");
    let status = wait_for(&mut child, Duration::from_secs(20)).expect("the daemon stops on SIGTERM");
    assert!(status.success(), "{}", log(dir.path(), "stream.log"));
}

/// Records per table: (key, timestamp ms, JSON text).
type Records = BTreeMap<String, Vec<(String, i64, String)>>;

/// Every record of the stream's topics (table → (key, timestamp ms, JSON text) multiset),
/// read from every partition the topic has until a fetch comes back empty (tansu's end
/// offsets can undercount), and each topic's partition count.
fn consume_all(addr: &str) -> (Records, BTreeMap<String, usize>) {
    use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = rskafka::client::ClientBuilder::new(vec![addr.to_owned()]).build().await.unwrap();
        let counts: BTreeMap<String, usize> =
            client.list_topics().await.unwrap().into_iter().map(|t| (t.name, t.partitions.len())).collect();
        let mut out = BTreeMap::new();
        for table in TABLES {
            let topic = topic_of(table);
            let mut rows = Vec::new();
            for p in 0..counts.get(topic).copied().unwrap_or(0) as i32 {
                let pc = client.partition_client(topic, p, UnknownTopicHandling::Error).await.unwrap();
                let mut offset = pc.get_offset(OffsetAt::Earliest).await.unwrap();
                loop {
                    let (records, _) = pc.fetch_records(offset, 1..5_000_000, 500).await.unwrap();
                    if records.is_empty() {
                        break;
                    }
                    for r in records {
                        offset = r.offset + 1;
                        let key = String::from_utf8(r.record.key.unwrap()).unwrap();
                        rows.push((
                            key,
                            r.record.timestamp.timestamp_millis(),
                            String::from_utf8(r.record.value.unwrap()).unwrap(),
                        ));
                    }
                }
            }
            out.insert(table.to_owned(), rows);
        }
        (out, counts)
    })
}

/// Regression: a broker killed and restarted (memory storage: it comes back empty) used to
/// auto-create the topics with its own partition count while the daemon retried, after
/// which the daemon exited on the mismatch and never recovered. Twice here, with
/// `[kafka] partitions = 6`: the daemon never exits, every topic exists again, and every
/// record from the last restart on arrives.
#[test]
fn kafka_broker_restarts_recreate_topics_and_deliver_what_they_missed() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT.replace("partitions = 3", "partitions = 6")).unwrap();
    let mut broker = Broker::start();
    let addr = broker.addr.clone();
    let port = broker.port();
    let (a, c) = ("2026-03-05T00:00:00Z", "2026-03-05T01:30:00Z");
    let args = StreamArgs::all().kafka(&addr).sink("kafka").speed("200").fault_rate("1").window(a, c).state().build();
    let mut child = spawn(dir.path(), "stream.log", &args);
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(4));
        // The broker dies with everything it held and comes back empty on the same port.
        broker.kill();
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon keeps running while the broker is down: {}",
            log(dir.path(), "stream.log")
        );
        broker = Broker::start_on(port);
    }
    let status = wait_for(&mut child, Duration::from_secs(180)).expect("the stream finishes after the broker returns");
    let text = log(dir.path(), "stream.log");
    assert!(status.success(), "{text}");
    assert!(text.contains("delivery failed, will retry"), "the outages were noticed: {text}");
    let (got, counts) = consume_all(&broker.addr);
    for table in TABLES {
        assert!(
            counts.contains_key(topic_of(table)),
            "topic {} exists after the restarts: {counts:?}",
            topic_of(table)
        );
    }
    // What the restarted broker holds must be every record from some instant on, to the end.
    ok(genims(dir.path()).args([
        "backfill",
        "--out",
        "jsonl",
        "--path",
        "bf",
        "--fault-rate",
        "1",
        "--start",
        a,
        "--end",
        c,
    ]));
    let sensor = &got["sensor_data"];
    assert!(!sensor.is_empty(), "records reach the restarted broker");
    let resumed = sensor.iter().map(|r| r.1).min().unwrap() / 1000;
    assert!(resumed > 1_772_668_800, "records sent before the broker died are gone with it (first kept: {resumed})");
    for table in ["sensor_data", "scada_machine_data"] {
        let mut expected: BTreeSet<String> = BTreeSet::new();
        for e in std::fs::read_dir(dir.path().join("bf")).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with(table) {
                for l in std::fs::read_to_string(&p).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    let t = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap().timestamp();
                    if t >= resumed + 60 {
                        expected.insert(l.to_owned());
                    }
                }
            }
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (key, ts, value) in &got[table] {
            let v: serde_json::Value = serde_json::from_str(value).unwrap();
            assert_eq!(v["machine_id"].as_str(), Some(key.as_str()), "{table}: keyed by machine");
            let t = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap().timestamp();
            assert_eq!(*ts, t * 1000, "{table}: record timestamp is the reading's time");
            *seen.entry(value.as_str()).or_default() += 1;
        }
        let missing: Vec<&String> = expected.iter().filter(|l| !seen.contains_key(l.as_str())).collect();
        assert!(
            missing.is_empty(),
            "{table}: {} records after the restart are missing, e.g. {}",
            missing.len(),
            missing[0]
        );
        let foreign = seen
            .keys()
            .filter(|v| !expected.contains(**v))
            .filter(|v| {
                let t = serde_json::from_str::<serde_json::Value>(v).unwrap()["timestamp"].as_str().unwrap().to_owned();
                chrono::DateTime::parse_from_rfc3339(&t).unwrap().timestamp() >= resumed + 60
            })
            .count();
        assert_eq!(foreign, 0, "{table}: nothing but the backfill's records (duplicates repeat them exactly)");
    }
}

#[test]
fn unreachable_sinks_fail_at_start_unless_degraded() {
    let dir = plant_dir();
    // Port 1: nothing listens there (a random free port could be taken meanwhile by a
    // server another test starts).
    let dead_pg = "postgresql://postgres@127.0.0.1:1/x".to_owned();
    let dead_kafka = "127.0.0.1:1".to_owned();
    let (out, err) = run(genims(dir.path())
        .args(StreamArgs::all().postgres(&dead_pg).kafka(&dead_kafka).sink("postgres,kafka,stdout").state().build()));
    assert!(!out.status.success(), "unreachable sinks are refused");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("sink ")).collect();
    assert!(lines.iter().any(|l| l.contains("sink postgres") && l.contains("cannot connect to PostgreSQL")), "{err}");
    assert!(lines.iter().any(|l| l.contains("sink kafka") && l.contains("Kafka at 127.0.0.1")), "{err}");
    assert!(err.contains("--allow-degraded"), "the way out is named: {err}");
    // Allowed to degrade, the stream runs with what works.
    let out = ok(genims(dir.path()).args([
        "--postgres-url",
        &dead_pg,
        "stream",
        "scada",
        "--sink",
        "postgres,stdout",
        "--allow-degraded",
        "--speed",
        "max",
        "--start",
        "2026-03-05T00:00:00Z",
        "--end",
        "2026-03-05T00:10:00Z",
        "--state-dir",
        "state",
    ]));
    let lines = String::from_utf8(out.stdout).unwrap().lines().count();
    assert_eq!(lines, 32 * 10, "every SCADA record of ten minutes reaches stdout");
    // Bad flags are one clear line each.
    for (args, want) in [
        (vec!["stream", "iot", "--speed", "0"], "'0' for '--speed <SPEED>'"),
        (vec!["stream", "iot", "--sink", "files"], "invalid value 'files' for '--sink <SINK,...>'"),
        (vec!["stream", "iot", "--start", "2026-03-05", "--end", "2026-03-04"], "the window is empty"),
        (vec!["stream", "iot", "--sink", "postgres"], "no PostgreSQL database configured"),
    ] {
        let (out, err) = run(genims(dir.path()).args(&args));
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
    }
}

#[test]
fn real_time_stream_follows_the_clock_and_stops_on_sigint() {
    let dir = plant_dir();
    // Clean readings: a skewed gateway clock (a default data-quality defect) stamps readings
    // off the grid and up to 20 s ahead, which is what this test rules out for genims' own clock.
    std::fs::write(dir.path().join("config.toml"), format!("{SMALL_PLANT}\n[quality]\nenabled = false\n")).unwrap();
    let out = std::fs::File::create(dir.path().join("out.jsonl")).unwrap();
    let err = std::fs::File::create(dir.path().join("err.log")).unwrap();
    let mut child = Running(
        genims(dir.path())
            .args(["--log-format", "json", "stream", "iot", "--sink", "stdout", "--state-dir", "state"])
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(12));
    signal(child.id(), "INT");
    let status = wait_for(&mut child, Duration::from_secs(10)).expect("exits within 10 s of SIGINT");
    let errs = log(dir.path(), "err.log");
    assert!(status.success(), "{errs}");
    for l in errs.lines() {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("--log-format json writes JSON lines ({e}): {l}"));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let mut ticks = BTreeSet::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap().timestamp();
        assert!(t <= now && t > now - 90, "readings are of the current minute, none from the future: {t} vs now {now}");
        assert_eq!(t % 10, 0, "ticks on the 10 s grid");
        ticks.insert(t);
    }
    assert!(ticks.len() >= 2, "at least two ticks in 12 s of real time: {ticks:?}");
}

/// A login the server refuses once the daemon runs (the password changed, the sessions
/// ended) cannot be mended by retrying: the stream stops at once with one line naming the
/// cause, as a refused Kafka or MQTT login does, instead of retrying for ever.
#[test]
fn a_login_refused_mid_stream_stops_the_stream_with_the_cause() {
    let dir = plant_dir();
    let cluster = Cluster::init_new();
    cluster.configure("", "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n");
    cluster.start();
    let mut admin = postgres::Client::connect(&cluster.socket("postgres"), postgres::NoTls).unwrap();
    admin.batch_execute("CREATE ROLE genims LOGIN SUPERUSER PASSWORD 'right-pw-1234'").unwrap();
    admin.batch_execute("CREATE DATABASE genims OWNER genims").unwrap();
    let url = format!("postgresql://genims@127.0.0.1:{}/genims", cluster.port);
    ok(genims(dir.path()).env("PGPASSWORD", "right-pw-1234").args(["--postgres-url", &url, "schema", "apply"]));
    let args = StreamArgs::all().postgres(&url).sink("postgres").speed("60").build();
    let window = ["--start", "2026-03-01T00:00:00Z", "--end", "2026-03-01T06:00:00Z"];
    let err = std::fs::File::create(dir.path().join("stream.log")).unwrap();
    let mut child = Running(
        genims(dir.path())
            .env("PGPASSWORD", "right-pw-1234")
            .args(args)
            .args(window)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(3));
    admin
        .batch_execute(
            "ALTER ROLE genims PASSWORD 'another-pw-5678'; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'genims'",
        )
        .unwrap();
    let status = wait_for(&mut child, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the stream kept retrying a refused login: {}", log(dir.path(), "stream.log")));
    let text = log(dir.path(), "stream.log");
    assert!(!status.success(), "{text}");
    assert!(text.contains("password authentication failed for user \"genims\""), "the cause is named: {text}");
    assert!(!text.contains("right-pw") && !text.contains("another-pw"), "{text}");
}
