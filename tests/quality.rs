//! Data-quality defects (`[quality]`) end to end: a stream and a backfill of the same window
//! deliver the same defective readings and the same `data_quality_labels`; against the same
//! window without defects, the labels account for every reading lost in a gateway gap and
//! every duplicate; and in the stream's publish order, every reading that arrives after a
//! later one of its sensor is a labelled late reading, a duplicate or a clock skew.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use common::{genims, ok, tempdir, DUPLICATE_ID_OFFSET};
use serde_json::Value;

const PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n";
/// Far more defects than the defaults, so that four hours of 32 machines hold every kind.
const DENSE: &str = "[quality]\nenabled = true\ngaps_per_machine_day = 1.0\nclock_skews_per_machine_day = 1.0\n\
                     stale_per_sensor_day = 0.3\nduplicate_rate = 0.002\nlate_rate = 0.01\nspike_rate = 0.001\n\
                     invalid_rate = 0.001\n";
const WINDOW: [&str; 4] = ["--start", "2026-03-04T08:00:00Z", "--end", "2026-03-04T12:00:00Z"];

fn plant(config: &str) -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    dir
}

/// Seconds since the epoch of an RFC 3339 UTC instant as genims writes it.
fn secs(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

/// The JSON Lines backfill of the window: (sensor_data lines, data_quality_labels lines).
fn backfill(dir: &Path) -> (Vec<String>, Vec<String>) {
    ok(genims(dir).args(["backfill", "--out", "jsonl", "--path", "bf", "--fault-rate", "0.5"]).args(WINDOW));
    let (mut readings, mut labels) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(dir.join("bf")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let lines = std::fs::read_to_string(&p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>();
        if name.starts_with("sensor_data") {
            readings.extend(lines);
        } else if name.starts_with("data_quality_labels") {
            labels.extend(lines);
        }
    }
    (readings, labels)
}

fn parse(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn stream_and_backfill_deliver_the_same_defects_and_the_labels_account_for_them() {
    let dirty = plant(&format!("{PLANT}\n{DENSE}"));
    let clean = plant(&format!("{PLANT}\n[quality]\nenabled = false\n"));
    // The stream: readings and labels in publish order.
    let mut args =
        vec!["stream", "iot", "--sink", "stdout", "--speed", "max", "--state-dir", "state", "--fault-rate", "0.5"];
    args.extend(WINDOW);
    let streamed: Vec<String> =
        String::from_utf8(ok(genims(dirty.path()).args(&args)).stdout).unwrap().lines().map(str::to_owned).collect();
    let (readings, labels) = backfill(dirty.path());
    let (truth, none) = backfill(clean.path());
    assert!(none.is_empty(), "with [quality] off nothing is labelled");
    assert!(truth.len() > 300_000, "the window holds a real amount of data ({})", truth.len());

    // 1. The stream publishes exactly the backfill's readings and labels.
    let mut want: Vec<&String> = readings.iter().chain(&labels).collect();
    let mut got: Vec<&String> = streamed.iter().collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len(), "stream and backfill publish as many rows");
    assert!(got == want, "stream and backfill deliver the same defective readings and labels");

    // 2. Every kind of defect is in the window, and labelled.
    let labels = parse(&labels);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &labels {
        *kinds.entry(l["defect"].as_str().unwrap()).or_default() += 1;
    }
    for kind in ["gap", "clock_skew", "stale", "duplicate", "late", "spike", "invalid"] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind} in the window: {kinds:?}");
    }
    let of = |kind: &'static str| labels.iter().filter(move |l| l["defect"] == kind);

    // 3. Gaps: the readings missing against the clean plant all lie in a gap of their
    // machine, and the labels of the gaps inside the window count them (a gap crossing the
    // window's edge is labelled with all its readings, some outside the window).
    let dirty_rows = parse(&readings);
    let ids: BTreeSet<i64> = dirty_rows.iter().map(|r| r["sensor_data_id"].as_i64().unwrap()).collect();
    let (a, b) = (secs(&WINDOW[1][..19]), secs(&WINDOW[3][..19]));
    let inside = |g: &Value| a <= secs(g["start_time"].as_str().unwrap()) && secs(g["end_time"].as_str().unwrap()) <= b;
    let mut lost = 0;
    for r in parse(&truth) {
        if ids.contains(&r["sensor_data_id"].as_i64().unwrap()) {
            continue;
        }
        let t = secs(r["timestamp"].as_str().unwrap());
        let gap = of("gap").find(|g| {
            g["machine_id"] == r["machine_id"]
                && secs(g["start_time"].as_str().unwrap()) <= t
                && t < secs(g["end_time"].as_str().unwrap())
        });
        let gap = gap.unwrap_or_else(|| panic!("reading {} is missing outside any labelled gap", r["sensor_data_id"]));
        lost += i64::from(inside(gap));
    }
    let gap_records: i64 = of("gap").filter(|g| inside(g)).map(|g| g["records"].as_i64().unwrap()).sum();
    assert!(lost > 0);
    assert_eq!(gap_records, lost, "the gap labels count every lost reading");

    // 4. Duplicates: one extra record per duplicate label, each a copy with its own id.
    let copies: BTreeSet<i64> = ids.iter().copied().filter(|&i| i >= DUPLICATE_ID_OFFSET).collect();
    let labelled: BTreeSet<i64> = of("duplicate").map(|l| l["record_id"].as_i64().unwrap()).collect();
    assert_eq!(copies, labelled, "every duplicate, and only they, is labelled");
    assert!(copies.iter().all(|c| ids.contains(&(c - DUPLICATE_ID_OFFSET))), "a duplicate copies a delivered reading");

    // 5. Out of order: in publish order, a reading whose time is before one already published
    // for its sensor is a labelled late reading, a duplicate, or in a clock skew.
    let late: BTreeSet<i64> = of("late").map(|l| l["record_id"].as_i64().unwrap()).collect();
    let skews: Vec<(&Value, i64, i64)> = of("clock_skew")
        .map(|l| (&l["machine_id"], secs(l["start_time"].as_str().unwrap()), secs(l["end_time"].as_str().unwrap())))
        .collect();
    let mut newest: HashMap<String, i64> = HashMap::new();
    let (mut out_of_order, mut late_seen) = (0usize, 0usize);
    for line in &streamed {
        let r: Value = serde_json::from_str(line).unwrap();
        let Some(id) = r["sensor_data_id"].as_i64() else { continue };
        let t = secs(r["timestamp"].as_str().unwrap());
        let newest = newest.entry(r["sensor_id"].as_str().unwrap().to_owned()).or_insert(i64::MIN);
        if t < *newest {
            out_of_order += 1;
            late_seen += usize::from(late.contains(&id));
            let skewed = skews.iter().any(|(m, a, b)| **m == r["machine_id"] && a - 60 <= t && t <= b + 60);
            assert!(
                late.contains(&id) || id >= DUPLICATE_ID_OFFSET || skewed,
                "reading {id} arrived after a later one of its sensor, unlabelled"
            );
        }
        *newest = (*newest).max(t);
    }
    // A late reading arrives after its sensor's next one unless that one was lost.
    assert!(late_seen * 10 >= late.len() * 9, "{late_seen} of {} late readings arrived out of order", late.len());
    assert!(out_of_order >= late_seen);
}

/// Into PostgreSQL, in two stream runs split inside the window: the tables hold exactly the
/// readings and labels of one backfill of the whole window (a stretch under way at the split
/// is labelled by both runs and stored once), and the detectors read them.
#[test]
fn a_stream_split_in_two_stores_the_defects_of_one_backfill_in_postgres() {
    let dir = plant(&format!("{PLANT}\n{DENSE}"));
    let db = common::TestDb::new("quality");
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    let split = "2026-03-04T09:47:00Z";
    for (a, b) in [(WINDOW[1], split), (split, WINDOW[3])] {
        let args =
            ["stream", "iot", "--sink", "postgres", "--speed", "max", "--state-dir", "state", "--fault-rate", "0.5"];
        ok(genims(dir.path()).args(["--postgres-url", &db.url]).args(args).args(["--start", a, "--end", b]));
    }
    let (readings, labels) = backfill(dir.path());
    let count: i64 = db.scalar("SELECT count(*) FROM sensor_data");
    assert_eq!(count as usize, readings.len(), "sensor_data holds the backfill's readings");
    let ids: Vec<i64> = parse(&labels).iter().map(|l| l["defect_id"].as_i64().unwrap()).collect();
    let stored: i64 = db.scalar("SELECT count(*) FROM data_quality_labels");
    let sum: i64 = db.scalar("SELECT sum(defect_id % 1000003)::bigint FROM data_quality_labels");
    assert_eq!(stored as usize, ids.len(), "data_quality_labels holds the backfill's labels, each once");
    assert_eq!(sum, ids.iter().map(|i| i % 1_000_003).sum::<i64>(), "the same labels");
    let invalid: i64 = db.scalar(
        "SELECT count(*) FROM sensor_data d JOIN data_quality_labels l ON l.record_id = d.sensor_data_id
          WHERE l.defect = 'invalid' AND d.measurement_value = -32768 AND d.quality = 'out_of_range'",
    );
    assert_eq!(invalid, db.scalar::<i64>("SELECT count(*) FROM data_quality_labels WHERE defect = 'invalid'"));
    // The evidence the detectors read leaves the gateway's error values out.
    let flagged: i64 = db.scalar("SELECT count(*) FROM genims_evidence('2026-03-04 11:30', NULL, interval '1 hour', 'any') WHERE min_value = -32768");
    assert_eq!(flagged, 0, "no detector averages an invalid value");
}
