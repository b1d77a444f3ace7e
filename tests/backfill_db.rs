//! A backfill loaded into a real PostgreSQL by binary COPY, checked with SQL: counters,
//! OEE, energy, fault intervals, maintenance, threshold flags, rolling statistics, packet
//! loss and exact row counts. Each check names what broke.

use crate::common;

use common::{genims, ok, run, tempdir, TestDb, DUPLICATE_ID_OFFSET};

const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n";
const START: &str = "2026-03-04T18:00:00Z";
const END: &str = "2026-03-05T06:00:00Z";
/// Four hours across midnight, for the tests of how rows are loaded rather than of what they
/// hold: two days, so two daily partitions, at a third of the rows.
const NIGHT_START: &str = "2026-03-04T22:00:00Z";
const NIGHT_END: &str = "2026-03-05T02:00:00Z";

fn loaded(tag: &str, partition: &str) -> TestDb {
    loaded_with(tag, partition, &["--fault-rate", "1", "--start", START, "--end", END])
}

fn loaded_with(tag: &str, partition: &str, backfill: &[&str]) -> TestDb {
    let db = TestDb::new(tag);
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    let url = db.url.clone();
    ok(genims(dir.path()).args(["--postgres-url", &url, "schema", "apply", "--partition", partition]));
    ok(genims(dir.path()).args(["--postgres-url", &url, "seed", "--out", "db"]));
    let mut args = vec!["--postgres-url", url.as_str(), "backfill", "--out", "db"];
    args.extend_from_slice(backfill);
    ok(genims(dir.path()).args(&args));
    db
}

fn none(db: &TestDb, what: &str, sql: &str) {
    let n: i64 = db.scalar(sql);
    assert_eq!(n, 0, "{what}: {n} offending rows\n{sql}");
}

fn some(db: &TestDb, what: &str, sql: &str) -> i64 {
    let n: i64 = db.scalar(sql);
    assert!(n > 0, "{what}: expected some rows\n{sql}");
    n
}

#[test]
fn backfilled_database_keeps_every_invariant() {
    let db = loaded("inv", "none");
    // Exact counts: SCADA one row per machine per minute.
    let scada: i64 = db.scalar("SELECT count(*) FROM scada_machine_data");
    assert_eq!(scada, 32 * 12 * 60, "SCADA rows");
    // The plant's own packet loss is what its sensors failed to send; the data-quality
    // defects (on by default) come on top of it, so the hours a gateway gap or clock skew
    // touches, and the duplicated copies, are left out (tests/quality.rs accounts for them).
    none(
        &db,
        "sensor readings plus recorded gaps must fill every 10 s tick of every full hour",
        &format!(
            "SELECT count(*) FROM sensor_health h JOIN sensors s USING (sensor_id)
          WHERE 360 - (SELECT count(*) FROM sensor_data d WHERE d.sensor_id = h.sensor_id
                         AND d.timestamp >= h.timestamp AND d.timestamp < h.timestamp + interval '1 hour'
                         AND d.sensor_data_id < {DUPLICATE_ID_OFFSET})
                <> round(h.packet_loss_percentage * 3.6)
            AND NOT EXISTS (SELECT 1 FROM data_quality_labels q
                             WHERE q.machine_id = s.machine_id AND q.defect IN ('gap', 'clock_skew')
                               AND q.start_time < h.timestamp + interval '1 hour 1 minute'
                               AND q.end_time > h.timestamp - interval '1 minute')"
        ),
    );
    some(
        &db,
        "the default plant's data-quality defects reach the database",
        "SELECT count(*) FROM data_quality_labels",
    );
    let health: i64 = db.scalar("SELECT count(*) FROM sensor_health");
    assert_eq!(health, 250 * 12, "one health row per sensor per hour");

    // Counters.
    let lagged = "SELECT s.*, lag(parts_produced_cumulative) OVER w AS pc, lag(parts_produced_shift) OVER w AS ps,
        lag(energy_consumed_kwh) OVER w AS pe, lag(power_consumption_kw) OVER w AS pp, lag(timestamp) OVER w AS pt
        FROM scada_machine_data s WINDOW w AS (PARTITION BY machine_id ORDER BY timestamp)";
    none(
        &db,
        "cumulative parts decreased",
        &format!("SELECT count(*) FROM ({lagged}) x WHERE parts_produced_cumulative < pc"),
    );
    none(&db, "energy not growing by power x time",
        &format!("SELECT count(*) FROM ({lagged}) x WHERE pe IS NOT NULL AND abs(energy_consumed_kwh - pe - pp / 60.0) > 0.0002"));
    none(
        &db,
        "shift counter moved apart from the cumulative counter outside a shift start",
        &format!(
            "SELECT count(*) FROM ({lagged}) x WHERE ps IS NOT NULL AND parts_produced_shift <> 0
                  AND parts_produced_shift - ps <> parts_produced_cumulative - pc"
        ),
    );
    let resets = some(&db, "shift counters reset at local shift starts",
        &format!("SELECT count(*) FROM ({lagged}) x JOIN factories f USING (factory_id) WHERE ps > 0 AND parts_produced_shift = 0
                  AND ((timestamp AT TIME ZONE 'UTC') AT TIME ZONE f.timezone)::time IN ('06:00', '14:00', '22:00', '18:00')"));
    none(&db, "shift counter reset away from a local shift start",
        &format!("SELECT count(*) FROM ({lagged}) x JOIN factories f USING (factory_id) WHERE ps > 0 AND parts_produced_shift = 0
                  AND ((timestamp AT TIME ZONE 'UTC') AT TIME ZONE f.timezone)::time NOT IN ('06:00', '14:00', '22:00', '18:00')"));
    assert!(resets >= 32, "every machine resets at least once in 12 h");
    none(
        &db,
        "rejected > produced",
        "SELECT count(*) FROM scada_machine_data WHERE parts_rejected_shift > parts_produced_shift",
    );
    none(&db, "OEE is not availability x performance x quality",
        "SELECT count(*) FROM scada_machine_data WHERE oee_percentage IS NOT NULL AND
         abs(oee_percentage - round(availability_percentage * performance_percentage * quality_percentage / 10000, 2)) > 0.011");
    none(
        &db,
        "fault_code set iff state = fault",
        "SELECT count(*) FROM scada_machine_data WHERE (fault_code IS NOT NULL) <> (machine_state = 'fault')",
    );

    // Faults agree with the SCADA fault intervals and each has its corrective maintenance.
    some(&db, "faults in the window", "SELECT count(*) FROM machine_faults");
    none(&db, "fault interval differs from the SCADA fault minutes",
        "SELECT count(*) FROM machine_faults f WHERE f.fault_end_time <= (SELECT max(timestamp) FROM scada_machine_data) AND
         (SELECT count(*) FROM scada_machine_data s WHERE s.machine_id = f.machine_id AND s.machine_state = 'fault'
            AND s.timestamp >= f.fault_start_time AND s.timestamp < f.fault_end_time) * 60 <> f.fault_duration_seconds");
    none(&db, "fault state outside a machine_faults interval",
        "SELECT count(*) FROM scada_machine_data s WHERE s.machine_state = 'fault' AND s.timestamp >= (SELECT min(fault_start_time) FROM machine_faults)
         AND NOT EXISTS (SELECT 1 FROM machine_faults f WHERE f.machine_id = s.machine_id AND s.timestamp >= f.fault_start_time AND s.timestamp < f.fault_end_time)");
    none(&db, "fault without corrective maintenance",
        "SELECT count(*) FROM machine_faults f WHERE NOT EXISTS (SELECT 1 FROM maintenance_events m WHERE m.related_fault_id = f.fault_id
         AND m.maintenance_type IN ('corrective', 'breakdown') AND m.actual_start >= f.fault_end_time)");
    none(
        &db,
        "contributing sensors not of the machine",
        "SELECT count(*) FROM machine_faults f, unnest(string_to_array(f.contributing_sensors, ',')) AS c(id)
         WHERE NOT EXISTS (SELECT 1 FROM sensors s WHERE s.sensor_id = c.id AND s.machine_id = f.machine_id)",
    );
    some(
        &db,
        "preventive maintenance",
        "SELECT count(*) FROM maintenance_events WHERE maintenance_type = 'preventive'",
    );
    none(
        &db,
        "machine not in maintenance during completed preventive work",
        "SELECT count(*) FROM maintenance_events m JOIN scada_machine_data s ON s.machine_id = m.machine_id
         AND s.timestamp >= m.actual_start AND s.timestamp < m.actual_end
         WHERE m.maintenance_type = 'preventive' AND m.maintenance_id LIKE 'PM-%' AND m.completion_status = 'completed'
           AND s.machine_state <> 'maintenance'",
    );
    // The sensors' calibration programme: an order per calibration, of a sensor of its
    // machine, which sensor_health counts from; a drift ends with its recalibration.
    some(&db, "scheduled calibrations", "SELECT count(*) FROM maintenance_events WHERE maintenance_id LIKE 'CAL-%'");
    none(&db, "calibration order not of a sensor of its machine",
        "SELECT count(*) FROM maintenance_events m WHERE m.maintenance_id LIKE 'CAL-%' AND NOT EXISTS (
            SELECT 1 FROM sensors s WHERE s.machine_id = m.machine_id AND m.maintenance_id LIKE 'CAL-' || s.sensor_id || '-%'
              AND m.notes LIKE 'Sensor ' || s.sensor_id || ' (%')");
    none(
        &db,
        "sensor_health not counting from a calibration",
        "SELECT count(*) FROM maintenance_events m JOIN sensor_health h ON h.machine_id = m.machine_id
            AND m.maintenance_id LIKE 'CAL-' || h.sensor_id || '-%' AND h.timestamp = date_trunc('hour', m.actual_start)
         WHERE h.days_since_calibration <> 0",
    );
    none(&db, "drift ended without a recalibration naming its sensor",
        "SELECT count(*) FROM fault_labels l WHERE l.pattern = 'sensor_drift' AND l.end_time < (SELECT max(timestamp) FROM scada_machine_data)
            AND NOT EXISTS (SELECT 1 FROM maintenance_events m WHERE m.machine_id = l.machine_id AND m.maintenance_type = 'corrective'
                AND m.maintenance_category = 'calibration' AND m.actual_end = l.end_time AND m.notes LIKE 'Sensor ' || l.affected_sensors || ' (%')");

    // Sensor flags and statuses agree with the bands.
    none(&db, "threshold flags disagree with the sensor's bands",
        "SELECT count(*) FROM sensor_data d JOIN sensors s USING (sensor_id) WHERE
            d.is_below_warning <> (d.measurement_value < s.warning_threshold_min) OR d.is_above_warning <> (d.measurement_value > s.warning_threshold_max)
         OR d.is_below_critical <> (d.measurement_value < s.critical_threshold_min) OR d.is_above_critical <> (d.measurement_value > s.critical_threshold_max)");
    none(&db, "status disagrees with the flags",
        "SELECT count(*) FROM sensor_data WHERE status <> 'fault' AND status <> CASE WHEN is_below_critical OR is_above_critical THEN 'critical'
            WHEN is_below_warning OR is_above_warning THEN 'warning' ELSE 'normal' END");
    none(
        &db,
        "anomaly flag disagrees with its score",
        "SELECT count(*) FROM sensor_data WHERE is_anomaly <> (anomaly_score >= 0.7)",
    );
    // Rolling statistics from the readings of the last minute (what the sensor measured: a
    // minute a labelled data-quality defect touches is left out, and so are duplicated copies).
    none(&db, "1-minute statistics differ from the sensor's previous readings",
        &format!("SELECT count(*) FROM (SELECT d.*, min(measurement_value) OVER w AS mn, max(measurement_value) OVER w AS mx,
            avg(measurement_value) OVER w AS av, stddev_pop(measurement_value) OVER w AS sd
          FROM sensor_data d WHERE sensor_id IN ('SNS-000001', 'SNS-000002', 'SNS-000100', 'SNS-000200')
            AND sensor_data_id < {DUPLICATE_ID_OFFSET}
          WINDOW w AS (PARTITION BY sensor_id ORDER BY timestamp RANGE BETWEEN interval '50 seconds' PRECEDING AND CURRENT ROW)) x
         WHERE timestamp >= TIMESTAMP '2026-03-04 18:01:00' AND (abs(min_value_1min - mn) > 0.0001 OR abs(max_value_1min - mx) > 0.0001
            OR abs(avg_value_1min - av) > 0.0001 OR abs(std_dev_1min - sd) > 0.0001)
           AND NOT EXISTS (SELECT 1 FROM data_quality_labels q
                            WHERE q.machine_id = x.machine_id AND coalesce(q.sensor_id, x.sensor_id) = x.sensor_id
                              AND q.start_time <= x.timestamp + interval '20 seconds'
                              AND q.end_time >= x.timestamp - interval '80 seconds')"));

    // Production runs count what the line's last machine produced.
    none(&db, "run quantities differ from the line's output machine",
        "SELECT count(*) FROM production_runs r WHERE r.run_start_time >= TIMESTAMP '2026-03-04 18:00' AND r.actual_quantity <>
         (SELECT coalesce(sum(s2.parts_produced_cumulative - s1.parts_produced_cumulative), 0) FROM scada_machine_data s1
          JOIN scada_machine_data s2 ON s2.machine_id = s1.machine_id AND s2.timestamp = r.run_end_time - interval '1 minute'
          WHERE s1.timestamp = r.run_start_time AND s1.machine_id = (SELECT max(machine_id) FROM machines m WHERE m.line_id = r.line_id))");

    // Labels do not leak into observable columns.
    none(
        &db,
        "a fault code shows outside the fault state",
        "SELECT count(*) FROM scada_machine_data WHERE machine_state <> 'fault' AND fault_code IS NOT NULL",
    );
    none(
        &db,
        "codes of episodes that never trip appear in observable tables",
        "SELECT count(*) FROM scada_machine_data WHERE fault_code IN ('SENS-001', 'TOOL-001')
            OR alarm_codes ~ '(SENS|TOOL|BEAR|HYD|ELEC)-' OR warning_codes ~ '(SENS|TOOL|BEAR|HYD|ELEC)-'",
    );
    let ids: i64 =
        db.scalar("SELECT count(*) FROM (SELECT sensor_data_id FROM sensor_data GROUP BY 1 HAVING count(*) > 1) x");
    assert_eq!(ids, 0, "sensor_data ids are unique");
    let next: i64 = db.scalar("SELECT nextval(pg_get_serial_sequence('sensor_data', 'sensor_data_id')) - (SELECT max(sensor_data_id) FROM sensor_data)");
    assert_eq!(next, 1, "the id sequence continues after the explicit ids");
}

#[test]
fn detectors_find_degrading_machines_and_spare_healthy_ones() {
    // Slow faults only, so that some machine is deep in its critical phase at the end.
    let db = loaded_with(
        "detect",
        "none",
        &[
            "--fault-rate",
            "1",
            "--patterns",
            "bearing_failure,tool_wear,hydraulic_leak,pneumatic_leak",
            "--start",
            "2026-03-03T18:00:00Z",
            "--end",
            "2026-03-04T06:00:00Z",
        ],
    );
    let at = "TIMESTAMP '2026-03-04 05:59:00'";
    for p in [
        "bearing_failure",
        "motor_overheating",
        "hydraulic_leak",
        "tool_wear",
        "welding_quality",
        "pneumatic_leak",
        "coolant_failure",
        "robot_positioning",
        "electrical_fault",
        "sensor_drift",
    ] {
        let _: i64 = db.scalar(&format!("SELECT count(*) FROM genims_detect('{p}', {at})"));
    }
    // Machines running deep in the critical phase of a slowly developing fault are flagged.
    let due = some(&db, "episodes in their critical phase at the evaluation time",
        &format!("SELECT count(*) FROM fault_labels WHERE pattern IN ('bearing_failure', 'tool_wear', 'hydraulic_leak', 'pneumatic_leak')
                  AND critical_time < {at} - interval '2 hours' AND fault_time > {at}"));
    let found: i64 = db.scalar(&format!(
        "SELECT count(*) FROM fault_labels l WHERE l.pattern IN ('bearing_failure', 'tool_wear', 'hydraulic_leak', 'pneumatic_leak')
         AND l.critical_time < {at} - interval '2 hours' AND l.fault_time > {at}
         AND EXISTS (SELECT 1 FROM genims_detect(l.pattern, {at}) d WHERE d.machine_id = l.machine_id)"));
    assert_eq!(found, due, "every machine in the critical phase of a slow fault is detected by its pattern's detector");
    // Machines without any episode near the evaluation time are not flagged by any detector.
    let false_alarms: i64 = db.scalar(&format!(
        "SELECT count(*) FROM genims_machine_health({at}) h WHERE h.detections IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM fault_labels l WHERE l.machine_id = h.machine_id AND l.onset_time < {at} AND l.end_time > {at} - interval '1 day')"));
    assert_eq!(false_alarms, 0, "healthy machines flagged by a detector");
    let machines: i64 = db.scalar(&format!("SELECT count(*) FROM genims_machine_health({at})"));
    assert_eq!(machines, 32, "the dashboard has one row per machine");
}

#[test]
fn partitioned_load_and_duplicate_window_is_refused_whole() {
    let db = loaded("part", "daily");
    let parts: i64 = db.scalar("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname LIKE 'sensor_data_p2%'");
    assert_eq!(parts, 2, "one daily partition for each day the 12-hour window touches");
    let before: i64 = db.scalar("SELECT count(*) FROM sensor_data");
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    let (out, err) = run(genims(dir.path()).args([
        "--postgres-url",
        &db.url,
        "backfill",
        "--out",
        "db",
        "--fault-rate",
        "1",
        "--start",
        START,
        "--end",
        END,
    ]));
    assert!(!out.status.success(), "loading the same window twice must fail");
    assert!(err.contains("duplicate key"), "{err}");
    let after: i64 = db.scalar("SELECT count(*) FROM sensor_data");
    assert_eq!(before, after, "a failed load leaves nothing behind");
}

#[test]
fn csv_and_sql_files_load_into_postgres_as_documented() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    let window = ["--start", "2026-03-04T23:00:00Z", "--end", "2026-03-05T01:00:00Z", "--fault-rate", "1"];
    let mut args = vec!["backfill", "--out", "csv", "--path", "csv"];
    args.extend_from_slice(&window);
    ok(genims(dir.path()).args(&args));
    let mut args = vec!["backfill", "--out", "sql", "--path", "sql"];
    args.extend_from_slice(&window);
    ok(genims(dir.path()).args(&args));
    let psql = |db: &TestDb, cmd: &[&str]| {
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url])
            .args(cmd)
            .current_dir(dir.path())
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (via_csv, via_sql) = (TestDb::new("csvload"), TestDb::new("sqlload"));
    for db in [&via_csv, &via_sql] {
        ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("csv"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    for name in &names {
        let table = name.trim_end_matches(".csv").trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches('_');
        psql(&via_csv, &["-c", &format!("\\copy {table} FROM 'csv/{name}' CSV HEADER")]);
        psql(&via_sql, &["-f", &format!("sql/{}", name.replace(".csv", ".sql"))]);
    }
    for table in [
        "sensor_data",
        "scada_machine_data",
        "machine_faults",
        "maintenance_events",
        "production_runs",
        "sensor_health",
        "fault_labels",
    ] {
        assert_eq!(via_csv.digest(table), via_sql.digest(table), "{table}: CSV and SQL files must load the same rows");
    }
    let scada: i64 = via_sql.scalar("SELECT count(*) FROM scada_machine_data");
    assert_eq!(scada, 32 * 120);
}

#[test]
fn consecutive_windows_continue_exactly_like_one_window() {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    let (split, whole) = (TestDb::new("split"), TestDb::new("whole"));
    for db in [&split, &whole] {
        ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    }
    let load = |db: &TestDb, start: &str, end: &str| {
        ok(genims(dir.path()).args([
            "--postgres-url",
            &db.url,
            "backfill",
            "--out",
            "db",
            "--fault-rate",
            "1",
            "--start",
            start,
            "--end",
            end,
        ]));
    };
    // Across the 22:00 shift change and midnight.
    load(&split, "2026-03-04T21:00:00Z", "2026-03-05T00:00:00Z");
    load(&split, "2026-03-05T00:00:00Z", "2026-03-05T01:00:00Z");
    load(&split, "2026-03-05T01:00:00Z", "2026-03-05T02:00:00Z");
    load(&whole, "2026-03-04T21:00:00Z", "2026-03-05T02:00:00Z");
    for table in [
        "scada_machine_data",
        "sensor_data",
        "sensor_health",
        "machine_faults",
        "maintenance_events",
        "production_runs",
        "fault_labels",
    ] {
        assert_eq!(
            split.digest(table),
            whole.digest(table),
            "{table}: three consecutive windows must equal one window"
        );
    }
}

/// Backfills `window` into `db` as shards 1/2 and 2/2 running at the same time.
fn two_shards_at_once(d: &std::path::Path, db: &TestDb, window: &[&str]) {
    let shards: Vec<_> = ["1/2", "2/2"]
        .iter()
        .map(|s| {
            genims(d)
                .args(["--postgres-url", &db.url, "backfill", "--out", "db", "--shard", s])
                .args(window)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in shards {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a shard failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Every index and key definition of the two big tables, in order.
fn index_defs(db: &TestDb) -> String {
    db.scalar(
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (
           SELECT indexdef AS d FROM pg_indexes WHERE tablename IN ('sensor_data', 'scada_machine_data')
           UNION ALL
           SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid IN ('sensor_data'::regclass, 'scada_machine_data'::regclass)) x",
    )
}

/// An empty table is loaded unindexed and replaced whole (load-then-index): it keeps every
/// index and key (a user's own too, under their names) and its id sequence, and holds the
/// same rows as tables loaded through their indexes — tables that already hold rows, or that
/// carry what genims would not rebuild (a grant, a user's view), or two shards loading the
/// same empty table at once. A load killed midway (-9) leaves the tables as they were —
/// empty, every index in place — and its staging tables for the next load to drop.
#[test]
fn a_load_keeps_every_index_and_a_killed_load_leaves_the_tables_as_they_were() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), SMALL_PLANT).unwrap();
    let (fresh, killed, refilled) = (TestDb::new("lti_fresh"), TestDb::new("lti_killed"), TestDb::new("lti_refilled"));
    let (granted, sharded) = (TestDb::new("lti_granted"), TestDb::new("lti_sharded"));
    for db in [&fresh, &killed, &refilled, &granted, &sharded] {
        ok(genims(d).args(["--postgres-url", &db.url, "schema", "apply"]));
        ok(genims(d).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
        db.client()
            .batch_execute("CREATE INDEX users_own_idx ON sensor_data (measurement_value) WHERE is_anomaly")
            .unwrap();
    }
    let before = index_defs(&fresh);
    assert!(before.contains("users_own_idx") && before.contains("sensor_data_pkey"), "{before}");

    let window = ["--fault-rate", "1", "--start", NIGHT_START, "--end", NIGHT_END];
    ok(genims(d).args(["--postgres-url", &fresh.url, "backfill", "--out", "db"]).args(window));
    assert_eq!(index_defs(&fresh), before, "the same indexes and keys after a load");
    let rows: i64 = fresh.scalar("SELECT count(*) FROM sensor_data");
    assert!(rows > 100_000, "{rows} rows");
    assert_eq!(staging_tables(&fresh), 0, "staging tables left behind");
    let owned: String = fresh.scalar("SELECT pg_get_serial_sequence('sensor_data', 'sensor_data_id')");
    let next: i64 = fresh.scalar(&format!("SELECT nextval('{owned}')"));
    let max: i64 = fresh.scalar("SELECT max(sensor_data_id) FROM sensor_data");
    assert!(next > max, "the id sequence is the table's and past its ids ({next} <= {max})");

    // What genims would not rebuild keeps the table: loaded through its indexes, the grant
    // and the view still there.
    granted
        .client()
        .batch_execute(
            "GRANT SELECT ON sensor_data TO PUBLIC;
             CREATE VIEW users_view AS SELECT sensor_id, measurement_value FROM scada_machine_data m
               JOIN sensor_data s USING (machine_id, timestamp)",
        )
        .unwrap();
    ok(genims(d).args(["--postgres-url", &granted.url, "backfill", "--out", "db"]).args(window));
    let kept: bool = granted.scalar(
        "SELECT has_table_privilege('public', 'sensor_data', 'SELECT') AND to_regclass('users_view') IS NOT NULL",
    );
    assert!(kept, "a grant or a user's view was lost");
    two_shards_at_once(d, &sharded, &window);
    let want: Vec<String> = common::TABLES.iter().map(|t| fresh.digest(t)).collect();
    for db in [&granted, &sharded] {
        assert_eq!(index_defs(db), before, "the same indexes and keys");
        assert_eq!(staging_tables(db), 0, "staging tables left behind");
        for (table, want) in common::TABLES.iter().zip(&want) {
            assert_eq!(&db.digest(table), want, "{table}: rows differ from the load-then-index's");
        }
    }

    // Killed midway: rolled back whole, indexes and keys in place.
    let mut child = genims(d)
        .args([
            "--postgres-url",
            &killed.url,
            "backfill",
            "--out",
            "db",
            "--start",
            "2026-03-01",
            "--end",
            "2026-03-05",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(child.try_wait().unwrap().is_none(), "the load was still running when killed");
    common::signal(child.id(), "KILL");
    let _ = child.wait();
    // The server notices the dropped connection and rolls back.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let left: i64 = killed.scalar("SELECT count(*) FROM sensor_data");
    assert_eq!(left, 0, "nothing of the killed load stays");
    assert_eq!(index_defs(&killed), before, "every index and key is still there");
    ok(genims(d).args(["--postgres-url", &killed.url, "backfill", "--finalize"]));
    assert_eq!(staging_tables(&killed), 0, "--finalize drops the killed load's staging tables");

    // A user's unique index that the new rows break, built beside the others: the load fails
    // naming it, and leaves the tables as they were.
    killed.client().batch_execute("CREATE UNIQUE INDEX users_unique ON sensor_data (sensor_id)").unwrap();
    let (out, err) = run(genims(d).args(["--postgres-url", &killed.url, "backfill", "--out", "db"]).args(window));
    assert!(!out.status.success(), "a load whose rows break a user's unique index must fail");
    assert!(err.contains("users_unique") && err.trim().lines().count() == 1, "one line naming the index:\n{err}");
    assert!(
        err.contains("Key (sensor_id)=(") && err.contains("is duplicated") && !err.contains("genims_load"),
        "the line says which value repeats, not the temporary index's name:\n{err}"
    );
    assert_eq!(killed.scalar::<i64>("SELECT count(*) FROM sensor_data"), 0, "the refused load left rows");
    assert_eq!(staging_tables(&killed), 0, "the refused load dropped its staging tables");
    killed.client().batch_execute("DROP INDEX users_unique").unwrap();
    assert_eq!(index_defs(&killed), before, "every index and key is still there");

    // Into tables that already hold rows: the indexed path, the same result.
    ok(genims(d).args(["--postgres-url", &refilled.url, "backfill", "--out", "db", "--fault-rate", "1"]).args([
        "--start",
        "2026-03-04T21:00:00Z",
        "--end",
        NIGHT_START,
    ]));
    ok(genims(d).args(["--postgres-url", &refilled.url, "backfill", "--out", "db"]).args(window));
    assert_eq!(index_defs(&refilled), before);
    for table in ["sensor_data", "scada_machine_data"] {
        let q = format!("SELECT count(*) FROM {table} WHERE \"timestamp\" >= '{NIGHT_START}'");
        let (a, b): (i64, i64) = (fresh.scalar(&q), refilled.scalar(&q));
        assert_eq!(a, b, "{table}: the same rows either way");
    }
}

/// The daily partitions of the two big tables as the catalogue describes them: bounds,
/// indexes (names included), constraints, and whether every index is attached and valid.
fn partition_layout(db: &TestDb) -> String {
    db.scalar(
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (
           SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) AS d
             FROM pg_class c WHERE c.relispartition AND c.relkind = 'r'
           UNION ALL
           SELECT indexdef || ' parent=' || coalesce((SELECT inhparent::regclass::text FROM pg_inherits
                                                       WHERE inhrelid = (schemaname || '.' || indexname)::regclass), '-')
             FROM pg_indexes WHERE tablename ~ '_p[0-9]{8}$'
           UNION ALL
           SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid::regclass::text ~ '_p[0-9]{8}$'
           UNION ALL
           SELECT 'INVALID ' || indexrelid::regclass FROM pg_index WHERE NOT indisvalid) x",
    )
}

/// Staging tables genims left in a database.
fn staging_tables(db: &TestDb) -> i64 {
    db.scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'genims\\_load\\_%' AND relkind = 'r'")
}

fn daily_db(tag: &str, d: &std::path::Path) -> TestDb {
    let db = TestDb::new(tag);
    ok(genims(d).args(["--postgres-url", &db.url, "schema", "apply", "--partition", "daily"]));
    ok(genims(d).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    db.client()
        .batch_execute(
            "CREATE INDEX users_own_idx ON sensor_data (measurement_value) WHERE is_anomaly;
             ALTER TABLE sensor_data ADD CONSTRAINT users_own_check CHECK (sensor_data_id > 0)",
        )
        .unwrap();
    db
}

/// New days of a partitioned schema are loaded into standalone tables, indexed, and
/// attached: the result is exactly what a load into partitions made by `CREATE TABLE …
/// PARTITION OF` gives — the same rows, partitions, index names, keys and a user's own index
/// and constraint — with nothing left over. Two shards loading the same new days at once
/// (one attaches, the other moves its rows in) give the same database again.
#[test]
fn new_daily_partitions_are_loaded_unindexed_then_attached_as_if_created() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), SMALL_PLANT).unwrap();
    let (staged, created, sharded) =
        (daily_db("att_staged", d), daily_db("att_created", d), daily_db("att_sharded", d));
    for day in ["2026-03-04", "2026-03-05"] {
        let next = if day == "2026-03-04" { "2026-03-05" } else { "2026-03-06" };
        for t in ["sensor_data", "scada_machine_data"] {
            let tag = day.replace('-', "");
            created
                .client()
                .batch_execute(&format!(
                    "CREATE TABLE {t}_p{tag} PARTITION OF {t} FOR VALUES FROM ('{day}') TO ('{next}')"
                ))
                .unwrap();
        }
    }
    let window = ["--fault-rate", "1", "--start", NIGHT_START, "--end", NIGHT_END];
    for db in [&staged, &created] {
        ok(genims(d).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(window));
    }
    two_shards_at_once(d, &sharded, &window);

    let layout = partition_layout(&created);
    assert!(layout.contains("sensor_data_p20260304_pkey") && layout.contains("users_own_check"), "{layout}");
    assert!(!layout.contains("INVALID") && !layout.contains("parent=-"), "an index is not attached:\n{layout}");
    assert_eq!(partition_layout(&staged), layout, "staged partitions differ from created ones");
    assert_eq!(partition_layout(&sharded), layout, "partitions loaded by two shards at once differ");
    for table in common::TABLES {
        let want = created.digest(table);
        assert_eq!(staged.digest(table), want, "{table}: staged rows differ from the indexed load's");
        assert_eq!(sharded.digest(table), want, "{table}: two shards' rows differ from one load's");
    }
    for db in [&staged, &sharded] {
        assert_eq!(staging_tables(db), 0, "staging tables left behind");
    }
}

/// A partitioned load killed midway (-9) attaches nothing, and the next load drops what it
/// left; a load the server refuses (a user's constraint its rows break) fails with the
/// server's reason and leaves nothing either.
#[test]
fn a_killed_or_failed_partitioned_load_leaves_no_partition_and_no_table_behind() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), SMALL_PLANT).unwrap();
    let db = daily_db("att_killed", d);
    let mut child = genims(d)
        .args(["--postgres-url", &db.url, "backfill", "--out", "db", "--start", "2026-03-01", "--end", "2026-03-05"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the first staging table has rows, then a little longer.
    let started = std::time::Instant::now();
    while staging_tables(&db) == 0 && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the load was still running when killed");
    common::signal(child.id(), "KILL");
    let _ = child.wait();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let partitions = "SELECT count(*) FROM pg_class WHERE relispartition AND relkind = 'r'";
    assert_eq!(db.scalar::<i64>(partitions), 0, "a killed load attached a partition");
    assert_eq!(db.scalar::<i64>("SELECT count(*) FROM sensor_data"), 0, "a killed load left rows");
    assert!(staging_tables(&db) > 0, "the killed load's tables are there to be dropped");

    db.client().batch_execute("ALTER TABLE sensor_data ADD CONSTRAINT no_rows CHECK (sensor_data_id < 0)").unwrap();
    let window = ["--start", NIGHT_START, "--end", NIGHT_END];
    let (out, err) = run(genims(d).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(window));
    assert!(!out.status.success(), "a load the server refuses must fail");
    assert!(err.contains("no_rows") && err.trim().lines().count() == 1, "one line naming the cause:\n{err}");
    assert_eq!(db.scalar::<i64>(partitions), 0, "a failed load attached a partition");
    assert_eq!(staging_tables(&db), 0, "the failed load dropped its tables, and the killed load's");

    db.client().batch_execute("ALTER TABLE sensor_data DROP CONSTRAINT no_rows").unwrap();
    ok(genims(d).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(window));
    assert_eq!(db.scalar::<i64>(partitions), 4, "two days of two tables attached");
    assert_eq!(staging_tables(&db), 0);
}
