//! `backfill --out parquet` read back by two independent readers (pyarrow and DuckDB, from
//! PyPI): every file and row count equals the CSV of the same window, and every value of a
//! sample of rows (all rows of the small files); DuckDB reads each table's Hive-partitioned
//! dataset as one table, agrees with the CSV per day, and reads one day's file for a query
//! of one day. The column types are pinned, the files are deterministic and the same in
//! either layout, and appear only when the run succeeded.

use crate::common;

use std::path::{Path, PathBuf};

use common::{genims, ok, run, tempdir};

const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n";
/// Twelve hours over a UTC midnight: two day files of each big table, faults at rate 1.
const WINDOW: [&str; 6] = ["--fault-rate", "1", "--start", "2026-03-04T18:00:00Z", "--end", "2026-03-05T06:00:00Z"];

fn backfill(dir: &Path, out: &str, path: &Path) {
    ok(genims(dir).args(["backfill", "--out", out, "--path"]).arg(path).args(WINDOW));
}

fn names_in(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(ext).map(str::to_owned))
        .collect();
    v.sort();
    v
}

/// Every Parquet file under `dir`, flat or in Hive-partitioned datasets, by its flat name
/// (`sensor_data/date=2026-03-04/part-0.parquet` → `sensor_data_20260304`).
fn dataset(dir: &Path) -> std::collections::BTreeMap<String, PathBuf> {
    let mut out = std::collections::BTreeMap::new();
    for p in common::files_under(dir) {
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        let Some(rel) = rel.strip_suffix(".parquet") else { continue };
        let parts: Vec<&str> = rel.split('/').collect();
        let name = match parts.as_slice() {
            [flat] => (*flat).to_owned(),
            [table, rest @ .., _part] => {
                let days = rest.iter().filter_map(|p| p.strip_prefix("date=")).map(|d| d.replace('-', ""));
                std::iter::once((*table).to_owned()).chain(days).collect::<Vec<_>>().join("_")
            }
            [] => unreachable!(),
        };
        out.insert(name, p);
    }
    out
}

/// The JSON report of one of the independent readers in tests/tools/ (`who`, for messages).
fn reader(tool: &str, args: &[&std::ffi::OsStr], who: &str) -> serde_json::Value {
    let out = std::process::Command::new(common::python())
        .arg(root().join("tests/tools").join(tool))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{who} could not read the files: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn parquet_files_equal_the_csv_with_pinned_types() {
    let dir = tempdir();
    let d = dir.path();
    // With data-quality defects, so data_quality_labels has rows (NULL sensors and record ids).
    std::fs::write(d.join("config.toml"), format!("{SMALL_PLANT}[quality]\nenabled = true\n")).unwrap();
    let (csv, parquet, flat) = (d.join("csv"), d.join("parquet"), d.join("flat"));
    backfill(d, "csv", &csv);
    backfill(d, "parquet", &parquet);
    let flat_config = d.join("flat.toml");
    let config = std::fs::read_to_string(d.join("config.toml")).unwrap();
    std::fs::write(&flat_config, format!("{config}\n[output]\nparquet_layout = \"flat\"\n")).unwrap();
    ok(genims(d)
        .env("GENIMS_CONFIG", &flat_config)
        .args(["backfill", "--out", "parquet", "--path"])
        .arg(&flat)
        .args(WINDOW));

    let files = dataset(&parquet);
    let names: Vec<String> = files.keys().cloned().collect();
    assert_eq!(names, names_in(&csv, ".csv"), "one Parquet file for each CSV file");
    assert_eq!(names_in(&flat, ".parquet"), names, "the flat layout has the same files, named as the CSV");
    assert!(files.contains_key("sensor_data_20260305") && files.len() == 10, "{names:?}");
    assert!(
        files["sensor_data_20260305"].ends_with("sensor_data/date=2026-03-05/part-0.parquet")
            && files["fault_labels"].ends_with("fault_labels/part-0.parquet"),
        "Hive layout: {files:?}"
    );
    for (name, path) in &files {
        let (a, b) = (std::fs::read(path).unwrap(), std::fs::read(flat.join(format!("{name}.parquet"))).unwrap());
        assert!(a == b, "{name}: two runs of the same seed and window wrote different files (hive and flat layout)");
    }
    for p in files.values() {
        let dir = p.parent().unwrap();
        assert!(std::fs::read_dir(dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
    }

    let report = reader("parquet_check.py", &[parquet.as_os_str(), csv.as_os_str()], "pyarrow");
    assert_eq!(report["mismatches"], serde_json::json!([]), "values differ from the CSV");
    let files = report["files"].as_object().unwrap();
    assert_eq!(files.len(), 10);
    for (name, f) in files {
        assert_eq!(f["rows"], f["csv_rows"], "{name}: row count");
        assert_eq!(f["columns"], f["csv_columns"], "{name}: columns");
        assert!(
            f["compared"].as_u64().unwrap() >= f["rows"].as_u64().unwrap().min(5_000),
            "{name}: too few rows compared"
        );
        assert_eq!(f["columns"], f["csv_columns"], "{name}: columns");
        assert_eq!(f["codecs"], serde_json::json!(["ZSTD"]), "{name}: every column chunk zstd");
        assert!(f["row_groups"].as_array().unwrap().iter().all(|n| n.as_u64().unwrap() <= 262_144), "{name}");
    }
    let sensor = &files["sensor_data_20260304.parquet"];
    assert!(sensor["rows"].as_u64().unwrap() > 50_000, "{sensor}");
    let types = &sensor["schema"];
    for (column, want) in [
        ("sensor_data_id", "int64"),
        ("sensor_id", "string"),
        ("timestamp", "timestamp[us, tz=UTC]"),
        ("measurement_value", "double"),
        ("is_anomaly", "bool"),
        ("created_at", "timestamp[us, tz=UTC]"),
    ] {
        assert_eq!(types[column], want, "sensor_data.{column}");
    }
    let scada = &files["scada_machine_data_20260304.parquet"]["schema"];
    assert_eq!(scada["parts_produced_shift"], "int32", "{scada}");
    assert_eq!(scada["parts_produced_cumulative"], "int64", "{scada}");
    let labels = &files["data_quality_labels.parquet"];
    assert!(labels["rows"].as_u64().unwrap() > 100, "{labels}");
    assert_eq!(labels["schema"]["records"], "int32", "{labels}");
    assert_eq!(labels["schema"]["record_id"], "int64", "{labels}");
    let maintenance = &files["maintenance_events.parquet"]["schema"];
    assert_eq!(maintenance["next_maintenance_due"], "date32[day]", "{maintenance}");

    let duck = reader("parquet_duckdb.py", &[parquet.as_os_str(), csv.as_os_str(), "2026-03-05".as_ref()], "DuckDB");
    assert_eq!(duck["mismatches"], serde_json::json!([]), "DuckDB reads other values than the CSV holds");
    let tables = duck["tables"].as_object().unwrap();
    assert_eq!(tables.len(), 8, "a dataset per table: {tables:?}");
    for (table, t) in tables {
        assert_eq!(t["rows"], t["csv_rows"], "{table}: DuckDB's row count of the dataset");
    }
    assert_eq!(tables["sensor_data"]["days"], 2, "two days of sensor_data");
    assert_eq!(tables["sensor_data"]["date_type"], "DATE", "the partition column reads as a date");
    let pruned = &duck["pruned"];
    assert!(pruned["rows"].as_u64().unwrap() > 50_000, "{pruned}");
    let plan = pruned["plan"].as_str().unwrap();
    assert!(plan.contains("Total Files Read: 1"), "a one-day query reads one file of two: {plan}");
}

#[test]
fn a_parquet_run_that_fails_leaves_no_file() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), SMALL_PLANT).unwrap();
    let blocked = d.join("out");
    std::fs::create_dir(&blocked).unwrap();
    // A directory where a day file must go: the run fails when it reaches that file.
    let day = blocked.join("sensor_data/date=2026-03-05");
    std::fs::create_dir_all(day.join("part-0.parquet")).unwrap();
    let (out, err) = run(genims(d).args(["backfill", "--out", "parquet", "--path"]).arg(&blocked).args(WINDOW));
    assert!(!out.status.success(), "the run must fail");
    assert!(
        err.contains("sensor_data/date=2026-03-05/part-0.parquet") && err.trim().lines().count() == 1,
        "one line naming the file: {err}"
    );
    let left: Vec<String> = dataset(&blocked).into_keys().collect();
    assert!(left.is_empty(), "no file appeared: {left:?}");
    let mut dirs: Vec<String> =
        std::fs::read_dir(&blocked).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    dirs.sort();
    assert_eq!(dirs, ["sensor_data"], "no directory genims made is left behind: {dirs:?}");
    assert_eq!(std::fs::read_dir(blocked.join("sensor_data")).unwrap().count(), 1, "only the blocked day's directory");
    assert!(std::fs::read_dir(&day).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}
