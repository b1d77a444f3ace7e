//! `genims schema apply` upgrades what users already have: the oldest schema genims shipped
//! and the original GenIMS package's own DDL, each then seeded, backfilled, streamed and
//! evaluated; a database of a newer schema is refused in one line; `--dry-run` changes
//! nothing; a narrower column is named before a load and mended by `schema apply`.

use crate::common;

use common::{genims, ok, run, tempdir, StreamArgs, TestDb};

/// Runs every `.sql` file of `tests/fixtures/schema/<dir>` on the database, in name order.
fn load_fixture(db: &TestDb, dir: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut c = db.client();
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "sql")) {
        c.batch_execute(&std::fs::read_to_string(f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// Every column of the current schema's tables: "table.column type".
fn columns(db: &TestDb) -> Vec<String> {
    db.client()
        .query(
            "SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Seeds, backfills an hour, streams the next half hour and evaluates both: each succeeds.
fn seed_backfill_stream_evaluate(dir: &std::path::Path, url: &str) {
    ok(genims(dir).args(["--postgres-url", url, "seed", "--out", "db"]));
    let (a, b, c) = ("2026-03-04T06:00:00Z", "2026-03-04T06:20:00Z", "2026-03-04T06:40:00Z");
    ok(genims(dir).args([
        "--postgres-url",
        url,
        "backfill",
        "--out",
        "db",
        "--fault-rate",
        "1",
        "--start",
        a,
        "--end",
        b,
    ]));
    ok(genims(dir)
        .args(StreamArgs::all().postgres(url).sink("postgres").speed("max").fault_rate("1").end(c).state().build()));
    let out = ok(genims(dir).args(["--postgres-url", url, "evaluate", "--start", a, "--end", c]));
    assert!(!out.stdout.is_empty(), "evaluate reports");
}

fn version(db: &TestDb) -> i32 {
    db.scalar("SELECT max(version) FROM genims_schema_version")
}

#[test]
fn the_original_packages_ddl_takes_schema_apply_then_every_command() {
    let dir = tempdir();
    let db = TestDb::new("upgrade_original");
    load_fixture(&db, "genims-original");
    let before = columns(&db);
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply", "--dry-run"]));
    assert!(out.status.success(), "{err}");
    assert!(err.contains("would: ALTER TABLE employees ALTER COLUMN shift TYPE character varying(50)"), "{err}");
    assert!(err.contains("would: created table fault_labels") && err.contains("nothing was changed"), "{err}");
    assert_eq!(columns(&db), before, "--dry-run changes nothing");
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    assert!(out.status.success(), "the original package's DDL takes schema apply: {err}");
    // Only the four columns narrower than what genims writes change; the wider ones stay.
    let widened = ["employees.shift", "sensors.sensor_code", "shifts.shift_code", "shifts.shift_name"];
    for w in widened {
        assert!(err.contains(&format!("({w} is character varying(")), "{w} is widened: {err}");
    }
    assert_eq!(err.matches("ALTER TABLE").count(), widened.len(), "nothing else is altered: {err}");
    let after = columns(&db);
    assert!(after.contains(&"scada_machine_data.machine_state character varying(50)".to_owned()), "kept: {after:?}");
    assert!(after.contains(&"employees.shift character varying(50)".to_owned()), "widened: {after:?}");
    assert_eq!(version(&db), 1);
    seed_backfill_stream_evaluate(dir.path(), &db.url);
}

#[test]
fn the_oldest_genims_schema_upgrades_to_todays_then_every_command() {
    let dir = tempdir();
    let (old, fresh) = (TestDb::new("upgrade_first"), TestDb::new("upgrade_fresh"));
    load_fixture(&old, "first-round");
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &old.url, "schema", "apply"]));
    assert!(out.status.success(), "{err}");
    assert!(err.contains("did: migration 0001_original_widths"), "the migration is logged: {err}");
    assert!(err.contains("version 1 (was none recorded"), "{err}");
    ok(genims(dir.path()).args(["--postgres-url", &fresh.url, "schema", "apply"]));
    assert_eq!(columns(&old), columns(&fresh), "an upgraded database has the columns of a new one");
    assert_eq!((version(&old), version(&fresh)), (1, 1));
    seed_backfill_stream_evaluate(dir.path(), &old.url);
}

#[test]
fn a_newer_schema_is_refused_in_one_line() {
    let dir = tempdir();
    let db = TestDb::new("upgrade_newer");
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    db.client().batch_execute("INSERT INTO genims_schema_version (version, name) VALUES (99, '0099_future')").unwrap();
    for args in [
        vec!["--postgres-url", &db.url, "schema", "apply"],
        vec![
            "--postgres-url",
            &db.url,
            "backfill",
            "--out",
            "db",
            "--start",
            "2026-03-04T06:00:00Z",
            "--end",
            "2026-03-04T06:10:00Z",
        ],
    ] {
        let (out, err) = run(genims(dir.path()).args(&args));
        assert!(!out.status.success(), "{args:?} must refuse");
        let line = err.trim();
        assert!(
            line.contains("schema is version 99, newer than this genims knows (version 1)") && !line.contains('\n'),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_narrower_column_is_named_before_a_load_and_widened_by_schema_apply() {
    let dir = tempdir();
    let db = TestDb::new("upgrade_narrow");
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    db.client().batch_execute("ALTER TABLE scada_machine_data ALTER COLUMN operation_mode TYPE varchar(8)").unwrap();
    let window = ["--start", "2026-03-04T06:00:00Z", "--end", "2026-03-04T06:10:00Z"];
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(window));
    assert!(!out.status.success());
    assert!(
        err.contains("scada_machine_data.operation_mode is character varying(8); genims writes character varying(50)")
            && err.contains("`genims schema apply` brings them in line"),
        "{err}"
    );
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    assert!(out.status.success() && err.contains("ALTER COLUMN operation_mode TYPE character varying(50)"), "{err}");
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(window));
}
