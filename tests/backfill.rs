//! `genims backfill` end to end on a small plant: deterministic files whatever the thread
//! count, shards whose union is the whole, and one clear error for each bad input.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{genims, ok, run, tempdir};

/// A small plant (1 factory, 4 lines, 32 machines) so tests stay quick.
pub const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n";

fn small(dir: &Path) {
    std::fs::write(dir.join("config.toml"), SMALL_PLANT).unwrap();
}

const WINDOW: [&str; 4] = ["--start", "2026-03-01T22:00:00Z", "--end", "2026-03-02T04:00:00Z"];

fn backfill(dir: &Path, out: &str, extra: &[&str], threads: &str) {
    let mut args = vec!["backfill", "--fault-rate", "0.5", "--path", out];
    args.extend_from_slice(&WINDOW);
    args.extend_from_slice(extra);
    ok(genims(dir).env("GENIMS_THREADS", threads).args(&args));
}

/// Every file of a directory: name → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_files_whatever_the_thread_count() {
    let dir = tempdir();
    small(dir.path());
    backfill(dir.path(), "a", &[], "1");
    backfill(dir.path(), "b", &[], "3");
    let (a, b) = (files(&dir.path().join("a")), files(&dir.path().join("b")));
    let names: Vec<&String> = a.keys().collect();
    assert_eq!(
        names,
        [
            "data_quality_labels.csv",
            "fault_labels.csv",
            "machine_faults.csv",
            "maintenance_events.csv",
            "production_runs.csv",
            "scada_machine_data_20260301.csv",
            "scada_machine_data_20260302.csv",
            "sensor_data_20260301.csv",
            "sensor_data_20260302.csv",
            "sensor_health.csv"
        ]
    );
    for (name, bytes) in &a {
        assert!(Some(bytes) == b.get(name), "{name} differs between a 1-thread and a 3-thread run");
    }
    let scada = String::from_utf8(a["scada_machine_data_20260301.csv"].clone()).unwrap();
    assert_eq!(scada.lines().count(), 1 + 32 * 120, "header plus one row per machine per minute (2 h on day one)");
}

#[test]
fn union_of_shards_equals_the_whole_row_for_row() {
    let dir = tempdir();
    small(dir.path());
    backfill(dir.path(), "all", &[], "2");
    for i in 1..=3 {
        backfill(dir.path(), &format!("s{i}"), &["--shard", &format!("{i}/3")], "2");
    }
    let whole = files(&dir.path().join("all"));
    for (name, bytes) in &whole {
        let mut want: Vec<&[u8]> = bytes.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty()).collect();
        let shard_files: Vec<Vec<u8>> =
            (1..=3).map(|i| std::fs::read(dir.path().join(format!("s{i}")).join(name)).unwrap_or_default()).collect();
        let mut got: Vec<&[u8]> =
            shard_files.iter().flat_map(|f| f.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty())).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert!(
            want == got,
            "{name}: the shards' rows differ from the unsharded rows ({} vs {})",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn jsonl_and_sql_outputs_parse() {
    let dir = tempdir();
    small(dir.path());
    backfill(dir.path(), "j", &["--out", "jsonl"], "2");
    let text = std::fs::read_to_string(dir.path().join("j/scada_machine_data_20260302.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["timestamp"], "2026-03-02T00:00:00Z");
    assert!(first["oee_percentage"].is_number() || first["oee_percentage"].is_null());
    backfill(dir.path(), "q", &["--out", "sql"], "2");
    let sql = std::fs::read_to_string(dir.path().join("q/machine_faults.sql")).unwrap();
    assert!(sql.contains("BEGIN;") && sql.trim_end().ends_with("COMMIT;"), "{sql}");
}

fn one_line_error(dir: &Path, args: &[&str], expect: &str) {
    let (out, err) = run(genims(dir).args(args));
    assert!(!out.status.success(), "{args:?} must fail");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?} must give one line: {err}");
    assert!(err.contains(expect), "{args:?}: expected `{expect}` in: {err}");
}

#[test]
fn bad_input_gives_one_clear_error_and_writes_nothing() {
    let dir = tempdir();
    small(dir.path());
    one_line_error(dir.path(), &["backfill", "--days", "0", "--path", "x"], "'0' for '--days <DAYS>'");
    one_line_error(dir.path(), &["backfill", "--shard", "4/3", "--path", "x"], "'4/3' for '--shard <i/n>'");
    one_line_error(
        dir.path(),
        &["backfill", "--fault-rate", "2", "--path", "x"],
        "'2' for '--fault-rate <FAULT_RATE>'",
    );
    one_line_error(
        dir.path(),
        &["backfill", "--start", "yesterday", "--path", "x"],
        "'yesterday' for '--start <TIME>': `yesterday` is not a time",
    );
    one_line_error(dir.path(), &["backfill", "--out", "db"], "no PostgreSQL database configured");
    one_line_error(
        dir.path(),
        &["--postgres-url", "postgresql://postgres@127.0.0.1:1/x", "backfill", "--out", "db"],
        "cannot connect to PostgreSQL",
    );
    assert!(!dir.path().join("x").exists(), "nothing is written for refused requests");
    std::fs::write(dir.path().join("afile"), "").unwrap();
    one_line_error(
        dir.path(),
        &["backfill", "--path", "afile/out", "--days", "1"],
        "cannot create output directory afile/out",
    );
}

#[test]
fn patterns_can_be_restricted_and_unknown_ones_are_refused() {
    let dir = tempdir();
    small(dir.path());
    one_line_error(
        dir.path(),
        &["backfill", "--days", "1", "--patterns", "bearing_failure,gremlins", "--path", "x"],
        "unknown fault pattern `gremlins`",
    );
    assert!(!dir.path().join("x").exists());
    let mut args = vec!["backfill", "--fault-rate", "1", "--patterns", "BEAR-001,coolant_failure", "--path", "p"];
    args.extend_from_slice(&WINDOW);
    ok(genims(dir.path()).args(&args));
    let labels = std::fs::read_to_string(dir.path().join("p/fault_labels.csv")).unwrap();
    let patterns: std::collections::BTreeSet<&str> =
        labels.lines().skip(1).map(|l| l.split(',').nth(4).unwrap()).collect();
    assert!(!patterns.is_empty(), "a fault rate of 1 on machining lines gives episodes");
    assert!(patterns.iter().all(|p| ["bearing_failure", "coolant_failure"].contains(p)), "{patterns:?}");
}

#[test]
fn a_failed_run_leaves_no_half_written_files() {
    let dir = tempdir();
    // A fault catalogue that cannot load fails after the output directory exists.
    small(dir.path());
    let faults = dir.path().join("faults");
    std::fs::create_dir(&faults).unwrap();
    std::fs::write(faults.join("broken.toml"), "name = \"broken\"\n").unwrap();
    let (out, err) =
        run(genims(dir.path()).env("GENIMS_FAULTS_DIR", &faults).args(["backfill", "--days", "1", "--path", "o"]));
    assert!(!out.status.success());
    assert!(err.contains("broken.toml"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("o")).map(|d| d.count()).into_iter().collect();
    assert!(left.iter().all(|&n| n == 0), "no files may remain: {left:?}");
}
