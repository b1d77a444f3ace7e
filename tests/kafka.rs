//! `genims backfill --out kafka` against a private tansu broker: every row arrives once, on
//! the topic of its table, keyed by machine, with the row's time as record timestamp.

use crate::common;

use std::collections::BTreeMap;

use common::{genims, ok, run, tempdir, Broker};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;

const SMALL_PLANT: &str = "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n[kafka]\npartitions = 3\n";
const WINDOW: [&str; 6] = ["--start", "2026-03-04T23:30:00Z", "--end", "2026-03-05T00:30:00Z", "--fault-rate", "1"];

/// Every record of a topic: (partition, key, timestamp ms, JSON value).
fn consume(addr: &str, topic: &str, partitions: i32) -> Vec<(i32, String, i64, serde_json::Value)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = ClientBuilder::new(vec![addr.to_owned()]).build().await.unwrap();
        let mut out = Vec::new();
        for p in 0..partitions {
            let pc = client.partition_client(topic, p, UnknownTopicHandling::Retry).await.unwrap();
            let end = pc.get_offset(OffsetAt::Latest).await.unwrap();
            let mut offset = pc.get_offset(OffsetAt::Earliest).await.unwrap();
            while offset < end {
                let (records, _) = pc.fetch_records(offset, 1..5_000_000, 1_000).await.unwrap();
                assert!(!records.is_empty(), "{topic}/{p}: no records at offset {offset} before {end}");
                for r in records {
                    offset = r.offset + 1;
                    let key = String::from_utf8(r.record.key.unwrap()).unwrap();
                    let value: serde_json::Value = serde_json::from_slice(&r.record.value.unwrap()).unwrap();
                    out.push((p, key, r.record.timestamp.timestamp_millis(), value));
                }
            }
        }
        out
    })
}

#[test]
fn backfill_publishes_every_row_keyed_by_machine() {
    let broker = Broker::start();
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    let mut args = vec!["backfill", "--out", "kafka"];
    args.extend_from_slice(&WINDOW);
    ok(genims(dir.path()).env("GENIMS_KAFKA_BROKERS", &broker.addr).args(&args));
    let mut args = vec!["backfill", "--out", "csv", "--path", "csv"];
    args.extend_from_slice(&WINDOW);
    ok(genims(dir.path()).args(&args));
    let csv_rows = |prefix: &str| -> usize {
        std::fs::read_dir(dir.path().join("csv"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .map(|p| std::fs::read_to_string(p).unwrap().lines().count() - 1)
            .sum()
    };
    for (topic, prefix, time_col) in [
        ("genims.scada.data", "scada_machine_data", "timestamp"),
        ("genims.sensor.data", "sensor_data", "timestamp"),
        ("genims.fault.labels", "fault_labels", "onset_time"),
    ] {
        let records = consume(&broker.addr, topic, 3);
        assert_eq!(records.len(), csv_rows(prefix), "{topic}: every row once");
        let mut per_machine_partition: BTreeMap<String, i32> = BTreeMap::new();
        for (p, key, ts, v) in &records {
            assert_eq!(v["machine_id"].as_str(), Some(key.as_str()), "{topic}: key is the machine id");
            let t = v[time_col].as_str().unwrap();
            let secs = chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
            assert_eq!(*ts, secs * 1000, "{topic}: record timestamp is the row's time");
            assert_eq!(
                *per_machine_partition.entry(key.clone()).or_insert(*p),
                *p,
                "{topic}: one machine, one partition"
            );
        }
    }
}

#[test]
fn unreachable_broker_is_one_clear_error() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    // Port 1: nothing listens there (a random free port could be taken meanwhile by a
    // server another test starts).
    let (out, err) = run(genims(dir.path())
        .env("GENIMS_KAFKA_BROKERS", "127.0.0.1:1")
        .args(["backfill", "--out", "kafka", "--days", "1"]));
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("Kafka at 127.0.0.1"), "{err}");
    let (out, err) = run(genims(dir.path()).args(["backfill", "--out", "kafka", "--days", "1"]));
    assert!(!out.status.success());
    assert!(err.contains("no Kafka brokers configured"), "{err}");
}

/// Regression: a broker killed in the middle of a backfill left the run hanging for good
/// (rskafka's nested retries, then workers blocked on the unit channel after the error).
/// Now the run ends with one line once the broker has failed a request for
/// `[kafka] message_timeout_ms` (5 s here) and the connect timeout.
#[test]
fn a_broker_dying_mid_backfill_ends_the_run_with_one_line() {
    let mut broker = Broker::start();
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), format!("{SMALL_PLANT}message_timeout_ms = 5000\n")).unwrap();
    let mut child = genims(dir.path())
        .env("GENIMS_KAFKA_BROKERS", &broker.addr)
        .args(["backfill", "--out", "kafka", "--start", "2026-03-01", "--end", "2026-03-03"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    broker.kill();
    let status = common::wait_for(&mut child, std::time::Duration::from_secs(150));
    if status.is_none() {
        let _ = child.kill();
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let status = status.unwrap_or_else(|| panic!("the backfill still runs 150 s after its broker died: {err}"));
    assert!(!status.success(), "a backfill whose broker died must fail: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("Kafka"), "{err}");
}

/// A record as compared: partition, key, timestamp ms, JSON text.
type Record = (i32, String, i64, String);

/// Each codec of `[kafka] compression` delivers the same records, read back by a client
/// that decompresses them (zstd, the default, is what every other Kafka test reads too).
#[test]
fn every_compression_delivers_the_same_records() {
    let mut seen: Vec<(&str, Vec<Record>)> = Vec::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let broker = Broker::start();
        let dir = tempdir();
        std::fs::write(dir.path().join("config.toml"), format!("{SMALL_PLANT}compression = \"{codec}\"\n")).unwrap();
        let mut args = vec!["backfill", "--out", "kafka"];
        args.extend_from_slice(&WINDOW);
        ok(genims(dir.path()).env("GENIMS_KAFKA_BROKERS", &broker.addr).args(&args));
        let mut records: Vec<Record> = consume(&broker.addr, "genims.sensor.data", 3)
            .into_iter()
            .map(|(p, k, t, v)| (p, k, t, v.to_string()))
            .collect();
        records.sort();
        assert!(!records.is_empty(), "{codec}: records arrive");
        seen.push((codec, records));
    }
    for (codec, records) in &seen[1..] {
        assert!(*records == seen[0].1, "{codec}: the same records as without compression");
    }
}
