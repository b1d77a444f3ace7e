//! End-to-end checks of the command line that need no server: determinism of the master
//! data files, and one clear error (with a non-zero exit and nothing half-written) for each
//! kind of bad input.

use crate::common;

use common::{genims, ok, run, tempdir, MASTER_COUNTS};

#[test]
fn seed_json_has_the_default_counts_and_is_byte_identical_across_runs() {
    let dir = tempdir();
    ok(genims(dir.path()).args(["seed", "--out", "json", "--path", "a.json"]));
    ok(genims(dir.path()).args(["seed", "--out", "json", "--path", "b.json"]));
    let a = std::fs::read(dir.path().join("a.json")).unwrap();
    let b = std::fs::read(dir.path().join("b.json")).unwrap();
    assert!(a == b, "the same seed must give byte-identical JSON");
    let doc: serde_json::Value = serde_json::from_slice(&a).unwrap();
    let expect = MASTER_COUNTS;
    assert_eq!(doc.as_object().unwrap().len(), expect.len(), "one key per master table");
    for (table, n) in expect {
        assert_eq!(doc[table].as_array().map(Vec::len), Some(n as usize), "row count of {table}");
    }
    assert_eq!(doc["factories"][2]["timezone"], "Europe/Berlin");
    assert_eq!(doc["factories"][0]["created_at"].as_str().unwrap().len(), "YYYY-MM-DD HH:MM:SS".len());
}

#[test]
fn seed_sql_is_deterministic_and_another_seed_differs() {
    let dir = tempdir();
    ok(genims(dir.path()).args(["seed", "--out", "sql", "--path", "a.sql"]));
    ok(genims(dir.path()).args(["seed", "--out", "sql", "--path", "b.sql"]));
    ok(genims(dir.path()).args(["--seed", "7", "seed", "--out", "sql", "--path", "c.sql"]));
    let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    assert!(read("a.sql") == read("b.sql"), "the same seed must give byte-identical SQL");
    assert!(read("a.sql") != read("c.sql"), "a different seed must give different data");
}

#[test]
fn seed_writes_to_stdout_with_dash() {
    let dir = tempdir();
    let out = ok(genims(dir.path()).args(["seed", "--path", "-"]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON document");
    assert_eq!(doc["machines"].as_array().unwrap().len(), 228);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing else is written");
}

#[test]
fn default_output_goes_under_genims_data() {
    let dir = tempdir();
    ok(genims(dir.path()).args(["seed"]));
    assert!(dir.path().join("genims-data/genims_master_data.json").is_file());
}

fn one_line_error(args: &[&str], expect: &str) -> std::path::PathBuf {
    let dir = tempdir();
    let (out, err) = run(genims(dir.path()).args(args));
    assert!(!out.status.success(), "{args:?} must fail");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?} must give one line, got: {err}");
    assert!(err.contains(expect), "{args:?}: expected `{expect}` in: {err}");
    dir.keep()
}

#[test]
fn unwritable_path_is_one_line_and_leaves_nothing() {
    let dir = one_line_error(
        &["seed", "--out", "sql", "--path", "no/such/dir/x.sql"],
        "directory no/such/dir does not exist",
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn database_commands_without_a_database_say_so() {
    one_line_error(&["schema", "apply"], "no PostgreSQL database configured");
    one_line_error(&["seed", "--out", "db"], "no PostgreSQL database configured");
}

#[test]
fn unreachable_server_is_named() {
    one_line_error(
        &["--postgres-url", "postgresql://postgres:pw@127.0.0.1:1/x", "schema", "apply"],
        "cannot connect to PostgreSQL at postgresql://postgres:***@127.0.0.1:1/x",
    );
}

#[test]
fn bad_flags_exit_non_zero_and_name_the_value() {
    let dir = tempdir();
    let (out, err) = run(genims(dir.path()).args(["seed", "--out", "xml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("invalid value 'xml'") && err.contains("json"), "{err}");
    let (out, err) = run(genims(dir.path()).args(["seed", "--replace"]));
    assert_eq!(out.status.code(), Some(2), "--replace without --out db is a usage error: {err}");
}

#[test]
fn flags_the_plant_or_each_other_rule_out_are_usage_errors() {
    let dir = tempdir();
    for (args, want) in [
        (vec!["backfill", "--shard", "999/1000", "--out", "null"], "the plant has 228 machines, so at most 228 shards"),
        (
            vec!["backfill", "--start", "1900-01-01", "--end", "1900-01-02", "--out", "null"],
            "lies before the plant existed",
        ),
        (vec!["backfill", "--injections", "/nonexistent.jsonl", "--days", "1", "--out", "null"], "no such file"),
        (vec!["stream", "all", "--sink", "postgres,postgres"], "postgres is named twice"),
        (vec!["stream", "all", "--speed", "1e300"], "use max for as fast as the sinks take"),
        (vec!["backfill", "--out", "kafka", "--path", "x"], "cannot be used with --out kafka"),
    ] {
        let (out, err) = run(genims(dir.path()).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error: {err}");
        assert!(err.contains(want), "{args:?}: expected `{want}` in: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line: {err}");
    }
}

#[test]
fn malformed_config_names_file_line_and_key() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), "[plant]\nseed = 1\nmachnies = 3\n").unwrap();
    let (out, err) = run(genims(dir.path()).args(["seed"]));
    assert!(!out.status.success());
    assert!(err.contains("config.toml:3: unknown key `plant.machnies` (did you mean `machines`?)"), "{err}");
    assert!(!dir.path().join("genims-data").exists(), "nothing is written");
}

#[test]
fn infeasible_sizes_are_explained() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), "[plant]\nsensors = 100\n").unwrap();
    let (out, err) = run(genims(dir.path()).args(["seed"]));
    assert!(!out.status.success());
    assert!(err.contains("plant.sensors = 100 cannot be placed"), "{err}");
}

#[test]
fn config_env_and_flags_override_in_order() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), "[plant]\nseed = 1\n").unwrap();
    let read = |args: &[&str], env: Option<&str>| {
        let mut c = genims(dir.path());
        c.args(args);
        if let Some(s) = env {
            c.env("GENIMS_SEED", s);
        }
        ok(&mut c).stdout
    };
    let file = read(&["seed", "--path", "-"], None);
    let env = read(&["seed", "--path", "-"], Some("2"));
    let flag = read(&["--seed", "1", "seed", "--path", "-"], Some("2"));
    assert!(file != env, "GENIMS_SEED overrides the file");
    assert!(flag == file, "--seed overrides GENIMS_SEED");
}

#[test]
fn malformed_fault_file_is_refused_with_its_name() {
    let dir = tempdir();
    let faults = dir.path().join("myfaults");
    std::fs::create_dir(&faults).unwrap();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/faults");
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, faults.join(p.file_name().unwrap())).unwrap();
    }
    let bad = faults.join("tool_wear.toml");
    let text = std::fs::read_to_string(&bad).unwrap().replace("shape = \"gradual\"", "shape = \"wobbly\"");
    std::fs::write(&bad, text).unwrap();
    let (out, err) = run(genims(dir.path()).env("GENIMS_FAULTS_DIR", &faults).args(["seed"]));
    assert!(!out.status.success());
    assert!(err.contains("tool_wear.toml: progression.shape: `wobbly` is not one of"), "{err}");
}

#[test]
fn schema_print_shows_both_layouts() {
    let dir = tempdir();
    let plain = String::from_utf8(ok(genims(dir.path()).args(["schema", "print"])).stdout).unwrap();
    let daily =
        String::from_utf8(ok(genims(dir.path()).args(["schema", "print", "--partition", "daily"])).stdout).unwrap();
    assert_eq!(
        plain.matches("CREATE TABLE IF NOT EXISTS").count(),
        22,
        "16 tables, fault_labels, data_quality_labels, genims_stream_progress, genims_injections, genims_plant, genims_schema_version"
    );
    assert!(!plain.contains("PARTITION BY"));
    assert_eq!(daily.matches("PARTITION BY RANGE (timestamp)").count(), 2);
}
