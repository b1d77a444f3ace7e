//! Retention in compressed time: a tiny plant streamed into PostgreSQL at top speed with
//! `[retention] days` set. The partitions, the database size and the daemon's memory level
//! off once the horizon is reached, the state directory stays small, nothing is logged as
//! an error, and what remains equals a backfill of the window pruned the same way.
//! `make test` runs the short form (four days keeping one, daily partitions; two days
//! keeping one, unpartitioned); `make soak` sets `GENIMS_SOAK_DAYS` and `GENIMS_SOAK_KEEP`
//! (10 days, 2 kept) and checks everything of both.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{genims, ok, run, tempdir, wait_for, StreamArgs, TestDb, TABLES};

/// The smallest plant the plant model allows (one factory of four lines).
const TINY_PLANT: &str = "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 170\nemployees = 2000\n\
    products = 3\ncustomers = 2\nline_products = 4\ncustomer_products = 6\n\n[faults]\ndifficulty = \"easy\"\n";

fn env_days(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One sample of a running stream: simulated time, partitions, database bytes, RSS bytes.
#[derive(Debug, Clone, Copy)]
struct Sample {
    through: i64,
    partitions: i64,
    db_bytes: i64,
    rss: i64,
}

fn rss_of(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: i64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn sample(db: &TestDb, pid: u32) -> Option<Sample> {
    let mut c = db.client();
    let through: Option<i64> = c
        .query_opt("SELECT extract(epoch FROM through)::bigint FROM genims_stream_progress WHERE stream = 'all'", &[])
        .ok()??
        .get(0);
    let partitions: i64 =
        c.query_one("SELECT count(*) FROM pg_inherits WHERE inhparent = 'sensor_data'::regclass", &[]).ok()?.get(0);
    let db_bytes: i64 = c.query_one("SELECT pg_database_size(current_database())", &[]).ok()?.get(0);
    Some(Sample { through: through?, partitions, db_bytes, rss: rss_of(pid)? })
}

fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// Streams `days` simulated days into a database of `layout` keeping `keep` days, sampling
/// as it goes; returns the samples and the stream's log.
fn soak(dir: &std::path::Path, db: &TestDb, layout: &str, days: i64, keep: i64) -> (Vec<Sample>, String) {
    std::fs::write(dir.join("config.toml"), format!("{TINY_PLANT}\n[retention]\ndays = {keep}\n")).unwrap();
    ok(genims(dir).args(["--postgres-url", &db.url, "schema", "apply", "--partition", layout]));
    ok(genims(dir).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    let end = format!("2026-03-{:02}T00:00:00Z", 1 + days);
    let args = StreamArgs::all()
        .postgres(&db.url)
        .sink("postgres")
        .speed("max")
        .fault_rate("0.3")
        .window("2026-03-01T00:00:00Z", &end)
        .state()
        .build();
    let log = std::fs::File::create(dir.join("stream.log")).unwrap();
    let mut child = genims(dir).args(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let mut samples = Vec::new();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(120 * days as u64), "the soak runs too long");
        if let Some(s) = sample(db, child.id()) {
            samples.push(s);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = wait_for(&mut child, Duration::from_secs(5)).unwrap();
    let log = std::fs::read_to_string(dir.join("stream.log")).unwrap();
    assert!(status.success(), "the soak stream ends well: {log}");
    (samples, log)
}

/// What remains of the stream equals a backfill of its window, each pruned by `genims prune`
/// to the same horizon. (The backfill starts where the stream started: SCADA's running
/// totals count from there.)
fn remains_equal_a_backfill(dir: &std::path::Path, db: &TestDb, layout: &str, days: i64, keep: i64) {
    let older = format!("{keep}d");
    ok(genims(dir).args(["--postgres-url", &db.url, "prune", "--older-than", &older]));
    let reference = TestDb::new("retention_ref");
    ok(genims(dir).args(["--postgres-url", &reference.url, "schema", "apply", "--partition", layout]));
    ok(genims(dir).args(["--postgres-url", &reference.url, "seed", "--out", "db"]));
    let from = "2026-03-01T00:00:00Z".to_owned();
    let end = format!("2026-03-{:02}T00:00:00Z", 1 + days);
    std::fs::write(dir.join("config.toml"), TINY_PLANT).unwrap();
    let backfill = ["backfill", "--out", "db", "--fault-rate", "0.3", "--start", &from, "--end", &end];
    ok(genims(dir).args(["--postgres-url", &reference.url]).args(backfill));
    ok(genims(dir).args(["--postgres-url", &reference.url, "prune", "--older-than", &older]));
    for table in TABLES {
        assert_eq!(db.digest(table), reference.digest(table), "{layout}, {table}: the stream's rows after retention");
    }
}

/// Checks the samples taken after the horizon was first reached and before the last hour
/// (the final drain frees the daemon's buffers): a daily-partitioned database holds at most
/// the days kept, today's and tomorrow's partitions, its size saw-tooths (a day grows, a day
/// is dropped) with the same peak each day, and the daemon's memory stays level.
fn check_plateau(samples: &[Sample], layout: &str, (start, end): (i64, i64), keep: i64) {
    const DAY: i64 = 86_400;
    let after: Vec<&Sample> =
        samples.iter().filter(|s| s.through >= start + (keep + 1) * DAY && s.through <= end - 3600).collect();
    assert!(after.len() >= 4, "{layout}: too few samples after the horizon: {samples:?}");
    // Memory does not creep up (it may fall: the allocator gives pages back now and then).
    let mut rss: Vec<i64> = after.iter().map(|s| s.rss).collect();
    rss.sort_unstable();
    let median = rss[rss.len() / 2] as f64;
    let last = after[after.len() - 1].rss as f64;
    assert!(last <= median * 1.10, "{layout}: RSS does not grow: last {last}, median {median}: {after:?}");
    if layout != "daily" {
        return;
    }
    let most = after.iter().map(|s| s.partitions).max().unwrap();
    assert!(most <= keep + 2, "{layout}: partitions beyond the horizon are dropped: {after:?}");
    let peak = |day: i64| after.iter().filter(|s| s.through.div_euclid(DAY) == day).map(|s| s.db_bytes).max();
    let first_day = after[0].through.div_euclid(DAY);
    let last_day = after[after.len() - 1].through.div_euclid(DAY);
    assert!(last_day > first_day, "{layout}: two simulated days after the horizon are needed: {after:?}");
    let (a, b) = (peak(first_day).unwrap() as f64, peak(last_day).unwrap() as f64);
    assert!(b <= a * 1.2, "{layout}: the database stops growing (daily peaks {a} → {b} bytes): {after:?}");
}

/// What a soak checks besides the log, the state directory and the oldest reading.
struct Checks {
    /// The level after the horizon (needs two simulated days after it).
    plateau: bool,
    /// What remains against a backfill of the window.
    backfill: bool,
}

fn soak_layout(layout: &str, days: i64, keep: i64, checks: &Checks) {
    let dir = tempdir();
    let db = TestDb::new(&format!("soak_{layout}"));
    let (samples, log) = soak(dir.path(), &db, layout, days, keep);
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "no error or warning: {log}");
    assert!(du(&dir.path().join("state")) < 1 << 20, "the state directory stays small");
    let start = 1_772_323_200; // 2026-03-01T00:00:00Z
    let end = start + days * 86_400;
    if checks.plateau {
        check_plateau(&samples, layout, (start, end), keep);
    }
    let oldest: Option<i64> = db.scalar("SELECT extract(epoch FROM min(timestamp))::bigint FROM sensor_data");
    assert!(
        oldest.is_some_and(|o| o >= end - (keep + 1) * 86_400 - 3600),
        "{layout}: readings older than the horizon are gone (oldest {oldest:?})"
    );
    if checks.backfill {
        remains_equal_a_backfill(dir.path(), &db, layout, days, keep);
    }
}

/// `make soak` sets the length: everything is checked then.
fn full_length() -> bool {
    std::env::var_os("GENIMS_SOAK_DAYS").is_some()
}

/// Four days keeping one: the partitions, the size and the memory level off.
#[test]
fn retention_keeps_a_daily_partitioned_database_level() {
    let checks = Checks { plateau: true, backfill: full_length() };
    soak_layout("daily", env_days("GENIMS_SOAK_DAYS", 4), env_days("GENIMS_SOAK_KEEP", 1), &checks);
}

/// Two days keeping one: the batched deletes leave exactly a backfill pruned the same way.
#[test]
fn retention_deletes_in_batches_from_unpartitioned_tables() {
    let checks = Checks { plateau: full_length(), backfill: true };
    soak_layout("none", env_days("GENIMS_SOAK_DAYS", 2), env_days("GENIMS_SOAK_KEEP", 1), &checks);
}

#[test]
fn prune_needs_a_horizon_and_names_what_it_removed() {
    let dir = tempdir();
    let db = TestDb::new("prune_cli");
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "prune"]));
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("give --older-than (such as 30d), or set [retention] days"), "{err}");
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "prune", "--older-than", "5s"]));
    assert_eq!(out.status.code(), Some(2), "{err}");
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "prune", "--older-than", "2d"]));
    assert!(out.status.success() && err.contains("nothing to do"), "an empty database: {err}");
}
