//! Sharded streams at once: four shards started together into one PostgreSQL database (daily
//! partitions, created as the window crosses midnight by whichever shard gets there) and one
//! broker, one of them killed (-9) and restarted midway, end with exactly the rows of one
//! unsharded backfill of the window — table by table in PostgreSQL, record for record by key
//! and content in Kafka (read by kafka-python).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{
    backfill_db, genims, ok, python, signal, tempdir, topic_of, wait_for, Broker, StreamArgs, TestDb, TABLES,
};

const PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n\
                     [kafka]\npartitions = 3\n\n[stream]\nstats_interval_s = 1\nlinger_ms = 50\n";
const A: &str = "2026-03-04T23:00:00Z";
const C: &str = "2026-03-05T01:00:00Z";

#[test]
fn four_shards_at_once_one_killed_and_restarted_equal_one_backfill() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), PLANT).unwrap();
    let broker = Broker::start();
    let (sharded, whole) = (TestDb::new("shards"), TestDb::new("shards_ref"));
    ok(genims(d).args(["--postgres-url", &sharded.url, "schema", "apply", "--partition", "daily"]));
    ok(genims(d).args(["--postgres-url", &whole.url, "schema", "apply"]));
    let start = |i: usize, log: &str| -> Child {
        let err = std::fs::File::create(d.join(log)).unwrap();
        genims(d)
            .args(["--postgres-url", &sharded.url, "--kafka-brokers", &broker.addr, "stream", "all"])
            .args(["--sink", "postgres,kafka", "--speed", "200", "--fault-rate", "1", "--start", A, "--end", C])
            .args(["--state-dir", &format!("state-{i}")])
            // The shard from the environment, as an orchestrator sets it.
            .env("GENIMS_SHARD", format!("{i}-of-4"))
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap()
    };
    let mut shards: Vec<Child> = (1..=4).map(|i| start(i, &format!("shard-{i}.log"))).collect();
    std::thread::sleep(Duration::from_secs(5));
    signal(shards[1].id(), "KILL");
    let _ = shards[1].wait();
    shards[1] = start(2, "shard-2-again.log");
    for (k, child) in shards.iter_mut().enumerate() {
        let status = wait_for(child, Duration::from_secs(240)).expect("every shard finishes");
        let log = std::fs::read_to_string(d.join(format!("shard-{}.log", k + 1))).unwrap_or_default();
        assert!(status.success(), "shard {}: {log}", k + 1);
    }
    let progress: i64 = sharded.scalar("SELECT count(*) FROM genims_stream_progress WHERE stream LIKE 'all-_of4'");
    assert_eq!(progress, 4, "each shard keeps its own progress row");

    backfill_db(d, &whole.url, A, C);
    for table in TABLES {
        assert_eq!(sharded.digest(table), whole.digest(table), "{table}: four shards equal one backfill");
    }
    let days: i64 = sharded.scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = 'sensor_data'::regclass");
    assert_eq!(days, 2, "the two days' partitions, made once");

    // Kafka: every record of the window, by key and content, nothing else.
    ok(genims(d).args(["backfill", "--out", "jsonl", "--path", "bf", "--fault-rate", "1", "--start", A, "--end", C]));
    let mut by_table = BTreeMap::new();
    common::jsonl_values(&d.join("bf"), &mut by_table);
    let expected: BTreeMap<String, BTreeSet<String>> =
        by_table.into_iter().map(|(t, v)| (topic_of(&t).to_owned(), v)).collect();
    let topics: Vec<String> = TABLES.iter().map(|t| topic_of(t).to_owned()).collect();
    let out = std::process::Command::new(python())
        .arg(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/kafka_read.py"))
        .arg(&broker.addr)
        .args(&topics)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if let Some(m) = v["value"]["machine_id"].as_str() {
            assert_eq!(v["key"].as_str(), Some(m), "keyed by machine");
        }
        got.entry(v["topic"].as_str().unwrap().to_owned()).or_default().insert(v["value"].to_string());
    }
    for t in &topics {
        let (g, e) = (got.get(t).cloned().unwrap_or_default(), expected.get(t).cloned().unwrap_or_default());
        assert!(
            g == e,
            "{t}: {} distinct records, the backfill {} ({} missing, {} foreign)",
            g.len(),
            e.len(),
            e.difference(&g).count(),
            g.difference(&e).count()
        );
    }
}

/// A shard that starts after another has stored its records, and has no progress of its
/// own yet, starts at `--start`: where the stored history ends is where its own machines'
/// ends, not the other shard's (a shard killed before its first commit and restarted once
/// skipped the minutes the others had stored by then).
#[test]
fn a_shard_starting_after_another_starts_at_its_start() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), PLANT).unwrap();
    let (sharded, whole) = (TestDb::new("shard_late"), TestDb::new("shard_late_ref"));
    for db in [&sharded, &whole] {
        ok(genims(d).args(["--postgres-url", &db.url, "schema", "apply"]));
    }
    let end = "2026-03-04T23:20:00Z";
    for shard in ["1/2", "2/2"] {
        ok(genims(d).args(StreamArgs::all().postgres(&sharded.url).sink("postgres").speed("max").build()).args([
            "--fault-rate",
            "1",
            "--start",
            A,
            "--end",
            end,
            "--shard",
            shard,
        ]));
    }
    backfill_db(d, &whole.url, A, end);
    for table in TABLES {
        assert_eq!(
            sharded.digest(table),
            whole.digest(table),
            "{table}: two shards one after the other equal one backfill"
        );
    }
}
