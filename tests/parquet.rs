//! `backfill --out parquet` read back by an independent reader (pyarrow, from PyPI): every
//! file and row count equals the CSV of the same window, and every value of a sample of
//! rows (all rows of the small files); the column types are pinned, the files are
//! deterministic and appear only when the run succeeded.

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

fn names(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(ext).map(str::to_owned))
        .collect();
    v.sort();
    v
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
    let (csv, parquet, again) = (d.join("csv"), d.join("parquet"), d.join("again"));
    backfill(d, "csv", &csv);
    backfill(d, "parquet", &parquet);
    backfill(d, "parquet", &again);

    let files = names(&parquet, ".parquet");
    assert_eq!(files, names(&csv, ".csv"), "one Parquet file for each CSV file");
    assert!(files.contains(&"sensor_data_20260305".to_owned()) && files.len() == 10, "{files:?}");
    for f in &files {
        let name = format!("{f}.parquet");
        let (a, b) = (std::fs::read(parquet.join(&name)).unwrap(), std::fs::read(again.join(&name)).unwrap());
        assert!(a == b, "{name}: two runs of the same seed and window wrote different files");
    }
    assert!(std::fs::read_dir(&parquet).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));

    let out = std::process::Command::new(common::python())
        .arg(root().join("tests/tools/parquet_check.py"))
        .args([&parquet, &csv])
        .output()
        .unwrap();
    assert!(out.status.success(), "pyarrow could not read the files: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mismatches"], serde_json::json!([]), "values differ from the CSV");
    let files = report["files"].as_object().unwrap();
    assert_eq!(files.len(), 10);
    for (name, f) in files {
        assert_eq!(f["rows"], f["csv_rows"], "{name}: row count");
        assert!(
            f["compared"].as_u64().unwrap() >= f["rows"].as_u64().unwrap().min(5_000),
            "{name}: too few rows compared"
        );
        assert_eq!(f["columns"], f["csv_columns"], "{name}: columns");
        assert_eq!(f["codecs"], serde_json::json!(["ZSTD"]), "{name}: every column chunk zstd");
        assert!(f["row_groups"].as_array().unwrap().iter().all(|n| n.as_u64().unwrap() <= 524_288), "{name}");
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
}

#[test]
fn a_parquet_run_that_fails_leaves_no_file() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), SMALL_PLANT).unwrap();
    let blocked = d.join("out");
    std::fs::create_dir(&blocked).unwrap();
    // A directory where a day file must go: the run fails when it reaches that file.
    std::fs::create_dir(blocked.join("sensor_data_20260305.parquet")).unwrap();
    let (out, err) = run(genims(d).args(["backfill", "--out", "parquet", "--path"]).arg(&blocked).args(WINDOW));
    assert!(!out.status.success(), "the run must fail");
    assert!(
        err.contains("sensor_data_20260305.parquet") && err.trim().lines().count() == 1,
        "one line naming the file: {err}"
    );
    let left = names(&blocked, ".parquet");
    assert_eq!(left, ["sensor_data_20260305"], "no other file appeared: {left:?}");
    assert!(std::fs::read_dir(&blocked).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}
