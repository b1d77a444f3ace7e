//! Regression tests for the defects a hostile user found, each named after what it pins:
//! special output paths, secrets in connection errors, master data from another seed, a
//! schema changed under genims, Kafka topic names, negative numbers on flags, a stream
//! restarted with the same `--start`, and back-pressure with a tiny state directory.

use crate::common;

use std::time::Duration;

use common::{backfill_db, genims, ok, run, tempdir, wait_for, StreamArgs, TestDb, TABLES};

const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n\
                           [stream]\nstats_interval_s = 1\nbuffer_mb = 1\nlinger_ms = 50\n";

fn plant_dir() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    dir
}

#[cfg(unix)]
#[test]
fn seed_path_writes_through_dev_null_fifos_and_symlinks() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = plant_dir();
    ok(genims(dir.path()).args(["seed", "--out", "json", "--path", "/dev/null"]));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null must stay a device");
    // A symlink: the file it names is written, the link stays.
    std::fs::write(dir.path().join("real.json"), "old").unwrap();
    std::os::unix::fs::symlink("real.json", dir.path().join("link.json")).unwrap();
    ok(genims(dir.path()).args(["seed", "--out", "json", "--path", "link.json"]));
    assert!(
        std::fs::symlink_metadata(dir.path().join("link.json")).unwrap().file_type().is_symlink(),
        "the link must stay"
    );
    let real = std::fs::read_to_string(dir.path().join("real.json")).unwrap();
    assert!(real.starts_with('{') && real.contains("\"machines\""), "the link's target gets the JSON");
    // A FIFO: a reader on the other end gets the SQL.
    let fifo = dir.path().join("pipe.sql");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    ok(genims(dir.path()).args(["seed", "--out", "sql", "--path", "pipe.sql"]));
    let sql = reader.join().unwrap();
    assert!(
        sql.contains("INSERT INTO machines") && sql.trim_end().ends_with("COMMIT;"),
        "the whole script went through the FIFO"
    );
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO must stay a FIFO");
    // `-` is still stdout.
    let out = ok(genims(dir.path()).args(["seed", "--out", "json", "--path", "-"]));
    assert!(out.stdout.starts_with(b"{"));
}

#[test]
fn connection_errors_never_show_a_password_in_any_form() {
    let dir = plant_dir();
    // Port 1: nothing listens there (a random free port could be taken meanwhile by a
    // server another test starts).
    let port = 1;
    let forms = [
        format!("postgresql://u:S3cret@127.0.0.1:{port}/x"),
        format!("postgresql://u:S3c@ret@127.0.0.1:{port}/x"),
        format!("postgresql://127.0.0.1:{port}/x?user=u&password=S3cret"),
        format!("host=127.0.0.1 port={port} user=u password=S3cret dbname=x"),
        format!("host=127.0.0.1 port={port} user=u password='S3 cret' dbname=x"),
    ];
    for url in &forms {
        for args in
            [vec!["schema", "apply"], vec!["seed", "--out", "db"], vec!["backfill", "--out", "db", "--days", "1"]]
        {
            let (out, err) = run(genims(dir.path()).env("GENIMS_POSTGRES_URL", url).args(&args));
            assert!(!out.status.success(), "{args:?} against a closed port must fail");
            assert!(err.contains("cannot connect to PostgreSQL"), "{args:?} with {url}: {err}");
            assert!(!err.contains("S3c") && !err.contains("cret"), "{args:?}: the password shows in: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "one line (no WARN before it): {err}");
        }
    }
    // Not exactly a recognised form: white space around it, another scheme or its case, an
    // escaped space in a key=value password. Refused or not reached, never shown.
    let odd = [
        format!(" postgresql://u:S3cret@127.0.0.1:{port}/x"),
        format!("\tpostgresql://u:S3cret@127.0.0.1:{port}/x"),
        format!("postgresql+psycopg2://u:S3cret@127.0.0.1:{port}/x"),
        format!("POSTGRESQL://u:S3cret@127.0.0.1:{port}/x"),
        format!("postgress://u:S3cret@127.0.0.1:{port}/x"),
        format!("mysql://u:S3cret@127.0.0.1:{port}/x"),
        format!("host=127.0.0.1 port={port} user=u password=S3cret\\ more dbname=x"),
        format!("postgresql://127.0.0.1:{port}/x?sslpassword=S3cret"),
        format!("postgresql://127.0.0.1:{port}/x?bogus=1&password=S3cret"),
    ];
    for url in &odd {
        let (out, err) = run(genims(dir.path()).env("GENIMS_POSTGRES_URL", url).args(["schema", "apply"]));
        assert!(!out.status.success(), "{url:?} must fail");
        assert!(!err.contains("S3c") && !err.contains("cret") && !err.contains("more"), "{url:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{url:?}: one line: {err}");
    }
    let (_, err) = run(genims(dir.path()).env("GENIMS_POSTGRES_URL", &odd[8]).args(["schema", "apply"]));
    assert!(err.contains("bogus"), "an unknown key is named: {err}");
    let (_, err) = run(genims(dir.path()).env("GENIMS_POSTGRES_URL", &odd[7]).args(["schema", "apply"]));
    assert!(err.contains("sslpassword"), "an unknown key is named: {err}");
    // Other clients' URLs: an MQTT broker's, the control plane's.
    let (out, err) = run(genims(dir.path())
        .env("GENIMS_MQTT_URL", "mqtt://u:S3cret@127.0.0.1:1")
        .args(["backfill", "--days", "1", "--out", "mqtt"]));
    assert!(!out.status.success() && err.contains("mqtt://u:***@127.0.0.1:1"), "{err}");
    assert!(!err.contains("S3c"), "{err}");
    let (out, err) = run(genims(dir.path()).args(["fault", "--control", "http://admin:S3cret@127.0.0.1:1", "list"]));
    assert!(!out.status.success() && err.contains("http://admin:***@127.0.0.1:1"), "{err}");
    assert!(!err.contains("S3c"), "{err}");
}

#[test]
fn a_backfill_with_another_seed_is_refused_naming_both() {
    let db = TestDb::new("mixed_seed");
    let dir = plant_dir();
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    let window = ["--start", "2026-03-04T00:00:00Z", "--end", "2026-03-04T00:10:00Z"];
    let (out, err) = run(genims(dir.path())
        .args(["--seed", "42", "--postgres-url", &db.url, "backfill", "--out", "db"])
        .args(window));
    assert!(!out.status.success(), "another seed must be refused");
    assert!(
        err.contains("came from another plant") && err.contains("seed 20251219") && err.contains("seed 42"),
        "{err}"
    );
    let rows: i64 = db.scalar("SELECT count(*) FROM sensor_data");
    assert_eq!(rows, 0, "nothing may be written");
    let (out, err) = run(genims(dir.path())
        .args(["--seed", "42", "--postgres-url", &db.url, "stream", "all", "--sink", "postgres", "--speed", "max"])
        .args(window));
    assert!(!out.status.success() && err.contains("came from another plant"), "the stream refuses too: {err}");
    // The same plant loads; master data loaded from the SQL file carries the record too.
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(window));
    ok(genims(dir.path()).args(["--seed", "42", "seed", "--out", "sql", "--path", "m42.sql"]));
    let sql = std::fs::read_to_string(dir.path().join("m42.sql")).unwrap();
    assert!(
        sql.contains("INSERT INTO genims_plant") && sql.contains("VALUES (true, 42,"),
        "the SQL file records its plant"
    );
}

#[test]
fn schema_apply_reports_every_changed_column() {
    let db = TestDb::new("changed_schema");
    let dir = plant_dir();
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    db.client()
        .batch_execute("ALTER TABLE sensor_data DROP COLUMN anomaly_score; ALTER TABLE machines ALTER COLUMN power_rating_kw TYPE text; ALTER TABLE sensors ADD COLUMN mine int")
        .unwrap();
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    assert!(!out.status.success(), "a changed schema must not be reported as applied: {err}");
    assert!(err.contains("sensor_data lacks column anomaly_score (numeric(8,4))"), "{err}");
    assert!(err.contains("machines.power_rating_kw is text; genims writes numeric(10,2)"), "{err}");
    assert!(!err.contains("mine"), "a column the user added is left alone: {err}");
    assert!(!err.contains("schema applied"), "{err}");
    let leftover: i64 = db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'genims_expected%'");
    assert_eq!(leftover, 0, "the scratch schema is rolled back");
}

/// A column that a view, an index or a load reads — renamed, or of another type — is named
/// as the cause, by `schema apply` and by a load, not the SQL file or the row that failed.
#[test]
fn a_changed_column_that_views_read_is_named() {
    let db = TestDb::new("changed_viewed_column");
    let dir = plant_dir();
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    db.client()
        .batch_execute(
            "DO $$DECLARE v record; BEGIN FOR v IN SELECT viewname FROM pg_views WHERE schemaname = current_schema() \
             LOOP EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', v.viewname); END LOOP; END$$; \
             ALTER TABLE sensor_data ALTER measurement_value TYPE text; \
             ALTER TABLE fault_labels RENAME pattern TO pattern_name",
        )
        .unwrap();
    let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("sensor_data.measurement_value is text; genims writes numeric(15,4)"), "{err}");
    assert!(err.contains("fault_labels lacks column pattern (character varying(100))"), "{err}");
    assert!(!err.contains(".sql failed"), "the column is the cause, not a file: {err}");
    let window = ["--start", "2026-03-04T00:00:00Z", "--end", "2026-03-04T00:10:00Z"];
    for args in [vec!["seed", "--out", "db"], [&["backfill", "--out", "db"][..], &window[..]].concat()] {
        let (out, err) = run(genims(dir.path()).args(["--postgres-url", &db.url]).args(&args));
        assert!(!out.status.success(), "{args:?} into a changed schema must be refused");
        assert!(err.contains("sensor_data.measurement_value is text"), "{args:?}: the column is named: {err}");
        assert!(err.contains("nothing was written"), "{args:?}: {err}");
    }
}

#[test]
fn bad_topic_prefixes_and_negative_numbers_get_their_rule() {
    let dir = tempdir();
    for (prefix, why) in [("", "must not be empty"), ("bad prefix/../ü$x", "is not allowed in a Kafka topic name")] {
        std::fs::write(dir.path().join("k.toml"), format!("[kafka]\ntopic_prefix = \"{prefix}\"\n")).unwrap();
        let (out, err) = run(genims(dir.path()).args(["--config", "k.toml", "seed", "--path", "-"]));
        assert!(
            !out.status.success() && err.contains("k.toml:2: kafka.topic_prefix") && err.contains(why),
            "{prefix:?}: {err}"
        );
    }
    for (args, rule) in [
        (vec!["backfill", "--fault-rate", "-0.5"], "'-0.5' for '--fault-rate <FAULT_RATE>': must lie between 0 and 1"),
        (vec!["backfill", "--days", "-1"], "'-1' for '--days <DAYS>': expected a whole number of days from 1 to 3660"),
        (vec!["backfill", "--days", "100000"], "'100000' for '--days <DAYS>': one run covers at most 3660 days"),
        (vec!["--seed", "-1", "seed"], "must be an integer from 0"),
        (vec!["stream", "all", "--speed", "-5"], "'-5' for '--speed <SPEED>': expected a positive number"),
    ] {
        let (out, err) = run(genims(dir.path()).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error: {err}");
        assert!(err.contains(rule) && !err.contains("unexpected argument"), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line: {err}");
    }
}

/// A stream killed part way and started again with the same `--start`/`--end` (as a unit
/// with fixed arguments would be) resumes from its progress and finishes; a third run has
/// nothing to do and exits 0. The database then equals one backfill of the window.
#[test]
fn a_stream_restarted_with_the_same_start_finishes_its_window() {
    let dir = plant_dir();
    let (streamed, whole) = (TestDb::new("restart_start"), TestDb::new("restart_whole"));
    for db in [&streamed, &whole] {
        ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    }
    let (a, c) = ("2026-03-04T23:00:00Z", "2026-03-05T00:30:00Z");
    let stream =
        StreamArgs::all().postgres(&streamed.url).sink("postgres").speed("300").fault_rate("1").window(a, c).state();
    let mut child = genims(dir.path()).args(stream.build()).stderr(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    common::signal(child.id(), "KILL");
    let _ = wait_for(&mut child, Duration::from_secs(10));
    let through: String =
        streamed.scalar("SELECT coalesce((SELECT through::text FROM genims_stream_progress), 'none')");
    assert!(
        through.as_str() > "2026-03-04 23:00:00" && through.as_str() < "2026-03-05 00:30:00",
        "killed part way, at {through}"
    );
    let (out, err) = run(genims(dir.path()).args(stream.clone().speed("max").build()));
    assert!(out.status.success(), "the same command finishes the window: {err}");
    assert!(err.contains("resuming where it stopped"), "the log says it resumed: {err}");
    let (out, err) = run(genims(dir.path()).args(stream.build()));
    assert!(out.status.success() && err.contains("nothing to do"), "a finished window is not an error: {err}");
    backfill_db(dir.path(), &whole.url, a, c);
    for table in TABLES {
        assert_eq!(
            streamed.digest(table),
            whole.digest(table),
            "{table}: kill -9 + the same command again must equal one backfill"
        );
    }
}

/// At `--speed max` a healthy PostgreSQL that is slower than generation only makes
/// generation wait: with a 1 MiB memory queue and a state directory on a 256 KiB file
/// system, the queue fills, nothing spools, and the run ends with every record (before the
/// fix it spooled and died with "No space left on device"). A statement trigger that sleeps
/// makes the database the slow side, whatever the build.
#[test]
fn back_pressure_at_max_speed_needs_no_spool() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), format!("{SMALL_PLANT}batch_rows = 100\n")).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mounted =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(&state).status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "mounting a tmpfs needs root: run the tests as root (make test in CI does)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(state.clone());
    let (streamed, whole) = (TestDb::new("backpressure"), TestDb::new("backpressure_whole"));
    for db in [&streamed, &whole] {
        ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    }
    streamed
        .client()
        .batch_execute(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.03); RETURN NULL; END $$;
             CREATE TRIGGER slow AFTER INSERT ON sensor_data FOR EACH STATEMENT EXECUTE FUNCTION slow();",
        )
        .unwrap();
    let (a, c) = ("2026-03-04T23:30:00Z", "2026-03-05T00:30:00Z");
    let (out, err) = run(genims(dir.path())
        .args([
            "--postgres-url",
            &streamed.url,
            "stream",
            "all",
            "--sink",
            "postgres",
            "--speed",
            "max",
            "--fault-rate",
            "1",
            "--start",
            a,
            "--end",
            c,
            "--state-dir",
        ])
        .arg(&state));
    assert!(out.status.success(), "a healthy sink never exhausts the state directory: {err}");
    let most = |what: &str| {
        err.lines()
            .filter_map(|l| l.split(what).nth(1))
            .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    assert!(most("buffered ") > 4_000, "the memory queue filled (the sink was the slow side): {err}");
    assert_eq!(most("spooled "), 0, "nothing spools while PostgreSQL is healthy: {err}");
    backfill_db(dir.path(), &whole.url, a, c);
    for table in ["sensor_data", "scada_machine_data"] {
        assert_eq!(streamed.digest(table), whole.digest(table), "{table}: every record once");
    }
}
