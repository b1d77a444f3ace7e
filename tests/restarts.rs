//! A stream to destinations without SCADA history (Kafka, MQTT) restarted at any instant —
//! after SIGTERM or kill -9, several times — continues the machines' running totals
//! (parts produced, energy consumed) exactly: every SCADA row delivered equals the
//! backfill's row of that machine and minute. Independent clients read them back:
//! kafka-python and paho-mqtt.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::mosquitto::{subscribe, Mosquitto};
use common::{genims, jsonl_values, ok, python, signal, tempdir, topic_of, wait_for, Broker, StreamArgs};
use serde_json::Value;

const PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n\
     [stream]\nstats_interval_s = 1\nbuffer_mb = 1\nlinger_ms = 50\n";

/// SCADA rows by (machine, timestamp), each with every distinct payload seen for it.
type Rows = BTreeMap<(String, String), Vec<Value>>;

fn add(rows: &mut Rows, row: Value) {
    let key = (row["machine_id"].as_str().unwrap().to_owned(), row["timestamp"].as_str().unwrap().to_owned());
    let seen = rows.entry(key).or_default();
    if !seen.contains(&row) {
        seen.push(row);
    }
}

/// The backfill's SCADA rows of `[a, b)`.
fn backfill(dir: &Path, a: &str, b: &str) -> Rows {
    ok(genims(dir).args(["backfill", "--out", "jsonl", "--path", "reference", "--start", a, "--end", b]));
    let mut tables = BTreeMap::new();
    jsonl_values(&dir.join("reference"), &mut tables);
    let mut rows = Rows::new();
    for line in &tables["scada_machine_data"] {
        add(&mut rows, serde_json::from_str(line).unwrap());
    }
    rows
}

/// Every record of the SCADA topic, read by kafka-python.
fn kafka_rows(bootstrap: &str) -> Rows {
    let out = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/kafka_read.py"))
        .args([bootstrap, topic_of("scada_machine_data")])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "kafka-python reads the topic: {}", String::from_utf8_lossy(&out.stderr));
    let mut rows = Rows::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        add(&mut rows, v["value"].clone());
    }
    rows
}

/// Every machine-minute of the backfill arrived, and nothing else: each with exactly the
/// backfill's row (a record sent again after a kill repeats it exactly).
fn assert_equal(sink: &str, got: &Rows, want: &Rows) {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{sink}: {} machine-minutes missing, e.g. {:?}", missing.len(), missing.first());
    let mut wrong = 0;
    let mut example = None;
    for (key, rows) in got {
        let Some(expected) = want.get(key) else { panic!("{sink}: a row the backfill lacks: {key:?}") };
        for row in rows.iter().filter(|r| *r != &expected[0]) {
            wrong += 1;
            example.get_or_insert_with(|| {
                let field = |k: &str| format!("{k} {} (backfill {})", row[k], expected[0][k]);
                format!("{key:?}: {}, {}", field("energy_consumed_kwh"), field("parts_produced_cumulative"))
            });
        }
    }
    assert_eq!(wrong, 0, "{sink}: {wrong} SCADA rows differ from the backfill, e.g. {}", example.unwrap_or_default());
}

#[test]
fn a_kafka_and_mqtt_stream_restarted_at_any_instant_continues_the_running_totals() {
    let dir = tempdir();
    let d = dir.path();
    let kafka = Broker::start();
    let mqtt = Mosquitto::start(d);
    std::fs::write(
        d.join("config.toml"),
        format!(
            "{PLANT}\n[kafka]\nbrokers = [\"{}\"]\n\n[mqtt]\nurl = \"{}\"\ntopic_prefix = \"plant\"\n",
            kafka.addr,
            mqtt.url()
        ),
    )
    .unwrap();
    let sub = subscribe(d, mqtt.port, "plant/+/+/+/state", "plant/end/x/y/state", false, Some("restart-reader"));
    let (a, b) = ("2026-03-01T05:00:00Z", "2026-03-01T05:40:00Z");
    let args = StreamArgs::all().sink("kafka,mqtt").speed("120").window(a, b).state().build();
    // Stopped part way four times, at instants that fall inside minutes and between them.
    for (k, (after, sig)) in
        [(3_300, "TERM"), (4_100, "KILL"), (2_700, "TERM"), (3_900, "KILL")].into_iter().enumerate()
    {
        let log = std::fs::File::create(d.join(format!("stream-{k}.log"))).unwrap();
        let mut child = genims(d).args(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(after));
        signal(child.id(), sig);
        let status = wait_for(&mut child, Duration::from_secs(30)).expect("the stream stops");
        let text = std::fs::read_to_string(d.join(format!("stream-{k}.log"))).unwrap();
        assert!(sig == "KILL" || status.success(), "SIGTERM stops cleanly: {text}");
        for sink in ["kafka", "mqtt"] {
            let file = d.join(format!("state/all.{sink}-progress.json"));
            let progress: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            assert!(
                progress["counters"].is_object(),
                "{sink}: the progress after stop {k} keeps the counters: {progress}"
            );
        }
    }
    let out = genims(d).args(args).output().unwrap();
    assert!(out.status.success(), "the last run finishes the window: {}", String::from_utf8_lossy(&out.stderr));

    let want = backfill(d, a, b);
    assert_eq!(want.len(), 32 * 40, "32 machines × 40 minutes");
    assert_equal("kafka", &kafka_rows(&kafka.addr), &want);
    let mut mqtt_rows = Rows::new();
    for m in sub.finish().into_iter().filter(|m| m["payload"].get("machine_id").is_some()) {
        add(&mut mqtt_rows, m["payload"].clone());
    }
    assert_equal("mqtt", &mqtt_rows, &want);
}
