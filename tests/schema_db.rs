//! `genims schema apply` against a real PostgreSQL: the exact tables, columns, types and
//! indexes of the spec, idempotence, and the daily-partitioned layout.

use crate::common;

use common::{genims, ok, run, tempdir, TestDb, ONE_LINE_OF_EACH_TYPE};

/// Every column of the public schema as "table.column type", sorted.
fn columns(db: &TestDb) -> Vec<String> {
    db.client()
        .query(
            "SELECT table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '') \
             || CASE WHEN data_type = 'numeric' THEN '(' || numeric_precision || ',' || numeric_scale || ')' ELSE '' END \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN \
             (SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn indexes(db: &TestDb) -> Vec<String> {
    db.client()
        .query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn apply(db: &TestDb, extra: &[&str]) -> (std::process::Output, String) {
    let dir = tempdir();
    let mut args = vec!["--postgres-url", db.url.as_str(), "schema", "apply"];
    args.extend_from_slice(extra);
    run(genims(dir.path()).args(&args))
}

#[test]
fn apply_creates_the_sixteen_tables_with_spec_types_and_is_idempotent() {
    let db = TestDb::new("schema");
    let (out, err) = apply(&db, &[]);
    assert!(out.status.success(), "{err}");
    let tables: i64 = db.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    assert_eq!(
        tables, 22,
        "16 tables of the spec, fault_labels, data_quality_labels, genims_stream_progress, genims_injections, genims_plant and genims_schema_version"
    );
    let views: String = db.scalar("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.views WHERE table_schema = 'public'");
    assert_eq!(
        views,
        "bearing_failure_detection,bearing_failure_early_warning,coolant_failure_detection,electrical_fault_detection,\
         hydraulic_leak_detection,machine_health_dashboard,motor_overheating_detection,pneumatic_leak_detection,\
         robot_positioning_detection,sensor_drift_detection,tool_wear_detection,welding_quality_detection",
        "the detection views, including the two the original package promised"
    );
    let empty: i64 = db.scalar("SELECT count(*) FROM machine_health_dashboard");
    assert_eq!(empty, 0, "views work on an empty database");
    let cols = columns(&db);
    for expect in [
        "factories.timezone character varying(50)",
        "machines.current_age_years numeric(5,2)",
        "sensors.critical_threshold_max numeric(15,4)",
        "sensor_data.measurement_value numeric(15,4)",
        "sensor_data.sensor_data_id bigint",
        "scada_machine_data.energy_consumed_kwh numeric(15,4)",
        "scada_machine_data.parts_produced_cumulative bigint",
        "machine_faults.advance_warning_hours numeric(8,2)",
        "maintenance_events.related_fault_id bigint",
        "production_runs.run_id character varying(50)",
        "sensor_health.packet_loss_percentage numeric(5,2)",
        "shifts.start_time time without time zone",
        "employees.hire_date date",
    ] {
        assert!(cols.iter().any(|c| c == expect), "missing column {expect}");
    }
    let before = (cols, indexes(&db));
    let (out, err) = apply(&db, &[]);
    assert!(out.status.success(), "second apply must succeed: {err}");
    assert_eq!((columns(&db), indexes(&db)), before, "a second apply must change nothing");
    let fks: i64 =
        db.scalar("SELECT count(*) FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY'");
    assert_eq!(fks, 0, "no foreign keys");
}

#[test]
fn evidence_modes_are_checked_and_an_older_signature_is_replaced() {
    let db = TestDb::new("evidence");
    // A database applied by an earlier genims holds the boolean form of genims_evidence.
    db.client()
        .batch_execute(
            "CREATE FUNCTION genims_evidence(p_at timestamp, p_sensor text, p_span interval, p_running_only boolean DEFAULT true) \
             RETURNS TABLE (machine_id varchar) LANGUAGE sql AS $$ SELECT NULL::varchar $$",
        )
        .unwrap();
    let (out, err) = apply(&db, &[]);
    assert!(out.status.success(), "{err}");
    let forms: String = db.scalar(
        "SELECT string_agg(pg_get_function_identity_arguments(oid), ' | ') FROM pg_proc WHERE proname = 'genims_evidence'",
    );
    assert_eq!(
        forms, "p_at timestamp without time zone, p_sensor text, p_span interval, p_states text",
        "one form of genims_evidence"
    );
    for mode in ["running", "powered", "any"] {
        let n: i64 = db.scalar(&format!(
            "SELECT count(*) FROM genims_evidence(now()::timestamp, NULL, interval '1 hour', '{mode}')"
        ));
        assert_eq!(n, 0, "mode {mode} works on an empty database");
    }
    // An unknown mode is refused by name, not read as an empty window. (It is checked per
    // minute read, so the database needs a machine with a running minute.)
    db.client()
        .batch_execute(
            "INSERT INTO machines (machine_id, line_id, factory_id, machine_name) VALUES ('M1', 'L1', 'F1', 'm');
             INSERT INTO sensors (sensor_id, machine_id, line_id, factory_id, sensor_name) VALUES ('S1', 'M1', 'L1', 'F1', 'Coolant Flow');
             INSERT INTO scada_machine_data (machine_id, line_id, factory_id, timestamp, machine_state) VALUES ('M1', 'L1', 'F1', '2026-03-01 10:00', 'running');
             INSERT INTO sensor_data (sensor_id, machine_id, line_id, factory_id, timestamp, measurement_value, measurement_unit)
                  VALUES ('S1', 'M1', 'L1', 'F1', '2026-03-01 10:00:10', 50, 'L/min');",
        )
        .unwrap();
    let n: i64 = db.scalar(
        "SELECT count(*) FROM genims_evidence('2026-03-01 10:05', 'Coolant Flow', interval '5 minutes', 'powered')",
    );
    assert_eq!(n, 1, "the running minute is evidence");
    // A sensor that sensor_health found erratic with impossible readings in the last whole
    // hour is a faulty sensor, not evidence; erratic alone (a real sag jumps too) still counts.
    let health = |erratic: bool, out_of_range: i32| {
        db.client()
            .batch_execute(&format!(
                "DELETE FROM sensor_health;
                 INSERT INTO sensor_health (sensor_id, machine_id, timestamp, erratic_readings_detected, out_of_range_readings_24h)
                      VALUES ('S1', 'M1', '2026-03-01 09:00', {erratic}, {out_of_range});"
            ))
            .unwrap()
    };
    let evidence =
        "SELECT count(*) FROM genims_evidence('2026-03-01 10:05', 'Coolant Flow', interval '5 minutes', 'powered')";
    health(true, 0);
    assert_eq!(db.scalar::<i64>(evidence), 1, "an erratic sensor with readings in range is still evidence");
    health(true, 3);
    assert_eq!(db.scalar::<i64>(evidence), 0, "an erratic sensor with out-of-range readings is not evidence");
    let err = db
        .client()
        .query("SELECT * FROM genims_evidence('2026-03-01 10:05', 'Coolant Flow', interval '5 minutes', 'idle')", &[])
        .expect_err("an unknown mode must be refused");
    let msg = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_else(|| err.to_string());
    assert!(msg.contains("unknown p_states 'idle'"), "{msg}");
}

/// sensor_drift reads the last whole hour of sensor_health, unless a completed calibration
/// work order naming the sensor ended since that hour began (and by the time asked).
#[test]
fn sensor_drift_ends_with_the_work_order_that_recalibrated_the_sensor() {
    let db = TestDb::new("recalibrated");
    let (out, err) = apply(&db, &[]);
    assert!(out.status.success(), "{err}");
    db.client()
        .batch_execute(
            "INSERT INTO machines (machine_id, line_id, factory_id, machine_name) VALUES ('M1', 'L1', 'F1', 'm');
             INSERT INTO sensor_health (sensor_id, machine_id, timestamp, calibration_drift_detected, packet_loss_percentage)
                  VALUES ('SNS-000001', 'M1', '2026-03-01 09:00', true, 0);",
        )
        .unwrap();
    let order = |end: &str, notes: &str| {
        db.client()
            .batch_execute(&format!(
                "DELETE FROM maintenance_events;
                 INSERT INTO maintenance_events (maintenance_id, machine_id, line_id, factory_id, maintenance_type,
                        maintenance_category, scheduled_start, actual_start, actual_end, completion_status, notes)
                 VALUES ('CM-1', 'M1', 'L1', 'F1', 'corrective', 'calibration', timestamp '{end}' - interval '30 minutes',
                        timestamp '{end}' - interval '30 minutes', '{end}', 'completed', '{notes}');"
            ))
            .unwrap()
    };
    let detected = || db.scalar::<i64>("SELECT count(*) FROM genims_detect('sensor_drift', '2026-03-01 10:20')");
    assert_eq!(detected(), 1, "a drifting sensor in the last whole hour is detected");
    let named = "Sensor SNS-000001 (Coolant Flow) found reading 3.1 % off";
    order("2026-03-01 09:40", named);
    assert_eq!(detected(), 0, "recalibrated after the hour began: the sensor reads true again");
    order("2026-03-01 10:10", named);
    assert_eq!(detected(), 0, "recalibrated since the hour ended");
    order("2026-03-01 10:30", named);
    assert_eq!(detected(), 1, "a work order ending after the time asked is not known yet");
    order("2026-03-01 08:50", named);
    assert_eq!(detected(), 1, "a recalibration before the hour does not explain its drift");
    order("2026-03-01 10:10", "Sensor SNS-0000012 (Coolant Flow) found stuck at one value");
    assert_eq!(detected(), 1, "a work order naming another sensor of the machine");
}

#[test]
fn time_series_access_paths_are_indexed() {
    let db = TestDb::new("idx");
    assert!(apply(&db, &[]).0.status.success());
    let idx = indexes(&db).join("\n");
    for needle in [
        "sensor_data USING btree (sensor_id, \"timestamp\" DESC)",
        "sensor_data USING btree (is_anomaly, \"timestamp\" DESC)",
        "scada_machine_data USING btree (machine_id, \"timestamp\" DESC)",
        "scada_machine_data USING btree (fault_code) WHERE (fault_code IS NOT NULL)",
        "machine_faults USING btree (fault_severity, fault_start_time DESC)",
        "sensor_health USING btree (overall_status, \"timestamp\" DESC)",
        "production_runs USING btree (product_id, run_start_time DESC)",
        "maintenance_events USING btree (maintenance_type, scheduled_start DESC)",
    ] {
        assert!(idx.contains(needle), "no index {needle}\n{idx}");
    }
}

#[test]
fn daily_partitioning_and_refusing_to_convert() {
    let db = TestDb::new("part");
    let (out, err) = apply(&db, &["--partition", "daily"]);
    assert!(out.status.success(), "{err}");
    let kinds: String = db.scalar(
        "SELECT string_agg(relname || '=' || relkind::text, ',' ORDER BY relname) FROM pg_class \
         WHERE relname IN ('sensor_data', 'scada_machine_data')",
    );
    assert_eq!(kinds, "scada_machine_data=p,sensor_data=p");
    // Without a flag the existing layout is kept.
    assert!(apply(&db, &[]).0.status.success());
    let (out, err) = apply(&db, &["--partition", "none"]);
    assert!(!out.status.success());
    assert!(err.contains("already exist partitioned by day") && err.contains("cannot convert"), "{err}");
}

#[test]
fn sql_files_load_with_psql_directly() {
    let db = TestDb::new("psql");
    let dir = tempdir();
    let script = ok(genims(dir.path()).args(["schema", "print"])).stdout;
    std::fs::write(dir.path().join("schema.sql"), &script).unwrap();
    for _ in 0..2 {
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f", "schema.sql"])
            .current_dir(dir.path())
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    let version: i32 = db.scalar("SELECT max(version) FROM genims_schema_version");
    assert_eq!(version, 1, "the printed script records the schema version it makes");
    let tables: i64 = db.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    assert_eq!(
        tables, 22,
        "16 tables of the spec, fault_labels, data_quality_labels, genims_stream_progress, genims_injections, genims_plant and genims_schema_version"
    );
}

/// A database with the schema and the master data of a small plant (one line of each type).
fn seeded_small_plant(name: &str) -> (tempfile::TempDir, TestDb) {
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), ONE_LINE_OF_EACH_TYPE).unwrap();
    let db = TestDb::new(name);
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "schema", "apply"]));
    ok(genims(dir.path()).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    (dir, db)
}

/// The machines of `line` with a Cutting Tool Vibration sensor, in id order.
fn cutters_of(c: &mut postgres::Client, line: &str) -> Vec<String> {
    c.query(
        "SELECT machine_id FROM sensors WHERE line_id = $1 AND sensor_name = 'Cutting Tool Vibration' ORDER BY 1",
        &[&line],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The dashboard reads a machine's line: a whole line past a limit (a heavy product) is
/// healthy, one machine apart from its line is not; a curing oven below its band in the
/// hours after a maintenance is warming up, and after three hours of running it is not.
#[test]
fn the_dashboard_reads_the_machines_line_and_lets_an_oven_warm_up() {
    let (_dir, db) = seeded_small_plant("dashboard");
    let line: String = db.scalar(
        "SELECT line_id FROM sensors WHERE sensor_name = 'Cutting Tool Vibration' GROUP BY 1 HAVING count(*) >= 3 LIMIT 1",
    );
    let mut c = db.client();
    // Four hours of running, 06:00 .. 10:00, for the line's cutters; readings of their
    // cutting vibration every 10 s over the last hour, all 0.5 above the warning limit.
    c.batch_execute(&format!(
        "INSERT INTO scada_machine_data (machine_id, line_id, factory_id, timestamp, machine_state)
           SELECT DISTINCT s.machine_id, s.line_id, s.factory_id, t, 'running' FROM sensors s,
                  generate_series('2026-03-02 06:00'::timestamp, '2026-03-02 10:00', '1 minute') t
            WHERE s.line_id = '{line}' AND s.sensor_name = 'Cutting Tool Vibration';
         INSERT INTO sensor_data (sensor_id, machine_id, line_id, factory_id, timestamp, measurement_value, measurement_unit,
                                  is_above_warning, is_below_warning, is_above_critical, is_below_critical)
           SELECT s.sensor_id, s.machine_id, s.line_id, s.factory_id, t, s.warning_threshold_max + 0.5, s.measurement_unit,
                  true, false, false, false FROM sensors s,
                  generate_series('2026-03-02 09:00'::timestamp, '2026-03-02 10:00', '10 seconds') t
            WHERE s.line_id = '{line}' AND s.sensor_name = 'Cutting Tool Vibration';"
    ))
    .unwrap();
    let health = |c: &mut postgres::Client, m: &str| -> (i64, i64, String) {
        let r = c
            .query_one(
                "SELECT sensors_warning, sensors_critical, health_status FROM genims_machine_health('2026-03-02 10:00') WHERE machine_id = $1",
                &[&m],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    let cutters = cutters_of(&mut c, &line);
    for m in &cutters {
        assert_eq!(
            health(&mut c, m),
            (0, 0, "HEALTHY".into()),
            "{m}: its whole line {line} is past the limit together"
        );
    }
    // One cutter a whole normal band above the others: it stands apart.
    let apart = &cutters[0];
    c.execute(
        "UPDATE sensor_data d SET measurement_value = measurement_value + (s.normal_operating_max - s.normal_operating_min)
           FROM sensors s WHERE s.sensor_id = d.sensor_id AND s.sensor_name = 'Cutting Tool Vibration' AND d.machine_id = $1",
        &[apart],
    )
    .unwrap();
    let (warning, _, status) = health(&mut c, apart);
    assert!(warning == 1 && status != "HEALTHY", "{apart} stands apart from its line: {warning} sensors, {status}");
    assert_eq!(health(&mut c, &cutters[1]), (0, 0, "HEALTHY".into()), "the rest of the line is still healthy");

    // An oven: maintenance 07:30 .. 08:59, then running; its air 100 °C (below its critical
    // band) over the last hour. One hour after the restart it is warming up.
    let oven: String =
        db.scalar("SELECT machine_id FROM sensors WHERE sensor_name = 'Oven Air Temperature' ORDER BY 1 LIMIT 1");
    c.batch_execute(&format!(
        "INSERT INTO scada_machine_data (machine_id, line_id, factory_id, timestamp, machine_state)
           SELECT m.machine_id, m.line_id, m.factory_id, t,
                  CASE WHEN t >= '2026-03-02 07:30' AND t < '2026-03-02 09:00' THEN 'maintenance' ELSE 'running' END
             FROM machines m, generate_series('2026-03-02 06:00'::timestamp, '2026-03-02 10:00', '1 minute') t
            WHERE m.machine_id = '{oven}';
         INSERT INTO sensor_data (sensor_id, machine_id, line_id, factory_id, timestamp, measurement_value, measurement_unit,
                                  is_above_warning, is_below_warning, is_above_critical, is_below_critical)
           SELECT s.sensor_id, s.machine_id, s.line_id, s.factory_id, t, 100, s.measurement_unit, false, true, false, true
             FROM sensors s, generate_series('2026-03-02 09:00'::timestamp, '2026-03-02 10:00', '10 seconds') t
            WHERE s.machine_id = '{oven}' AND s.sensor_name = 'Oven Air Temperature';"
    ))
    .unwrap();
    assert_eq!(health(&mut c, &oven), (0, 0, "HEALTHY".into()), "{oven} is warming up an hour after its maintenance");
    // The same oven without the maintenance: four hours of running and still cold.
    c.execute("UPDATE scada_machine_data SET machine_state = 'running' WHERE machine_id = $1", &[&oven]).unwrap();
    let (_, critical, status) = health(&mut c, &oven);
    assert!(
        critical == 1 && status == "CRITICAL",
        "{oven} running for hours below its band: {critical} sensors, {status}"
    );
}

/// tool_wear reads how a cutter's gap to its line's median has widened since a day before: a
/// cutter 0.4 half-widths above its line's median (under the 0.7 of a worn tool) that stood
/// 0.4 below it a day before is wearing; one that merely caught up with its line, or stands
/// as far above it as it did a day before, is not. Without the day before, none is flagged.
#[test]
fn tool_wear_reads_a_gap_that_widened_since_a_day_before() {
    let (_dir, db) = seeded_small_plant("toolwear");
    let line: String = db.scalar(
        "SELECT line_id FROM sensors WHERE sensor_name = 'Cutting Tool Vibration' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    );
    let mut c = db.client();
    let cutters = cutters_of(&mut c, &line);
    assert!(cutters.len() >= 5, "line {line} has {} cutters; the test needs five", cutters.len());
    // (machine, mm/s a day before, mm/s now) on a band of 8..12 mm/s (half-width 2); the
    // rest of the line runs at 10.
    let (wearing, caught_up, steady) = (&cutters[0], &cutters[1], &cutters[2]);
    let levels = [(wearing, 9.2, 10.8), (caught_up, 8.4, 10.2), (steady, 11.2, 11.2)];
    let value = |m: &String, now: bool| levels.iter().find(|l| l.0 == m).map_or(10.0, |l| if now { l.2 } else { l.1 });
    for m in &cutters {
        for (day, now) in [("2026-03-01", false), ("2026-03-02", true)] {
            c.batch_execute(&format!(
                "INSERT INTO scada_machine_data (machine_id, line_id, factory_id, timestamp, machine_state)
                   SELECT m.machine_id, m.line_id, m.factory_id, t, 'running' FROM machines m,
                          generate_series('{day} 06:00'::timestamp, '{day} 10:00', '1 minute') t WHERE m.machine_id = '{m}';
                 INSERT INTO sensor_data (sensor_id, machine_id, line_id, factory_id, timestamp, measurement_value, measurement_unit,
                                          is_above_warning, is_below_warning, is_above_critical, is_below_critical)
                   SELECT s.sensor_id, s.machine_id, s.line_id, s.factory_id, t, {v}, s.measurement_unit, false, false, false, false
                     FROM sensors s, generate_series('{day} 09:00'::timestamp, '{day} 10:00', '10 seconds') t
                    WHERE s.machine_id = '{m}' AND s.sensor_name = 'Cutting Tool Vibration';",
                v = value(m, now)
            ))
            .unwrap();
        }
    }
    let flagged = |c: &mut postgres::Client| -> Vec<(String, String)> {
        c.query("SELECT machine_id::text, evidence FROM genims_detect('tool_wear', '2026-03-02 10:00')", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    let hits = flagged(&mut c);
    assert_eq!(hits.len(), 1, "only {wearing} is wearing: {hits:?}");
    assert_eq!(&hits[0].0, wearing, "{hits:?}");
    assert!(hits[0].1.contains("a day before"), "the evidence says what it compared: {}", hits[0].1);
    c.execute("DELETE FROM sensor_data WHERE timestamp < '2026-03-02'", &[]).unwrap();
    assert_eq!(flagged(&mut c), vec![], "without the day before, a gap under 0.7 half-widths is not wear");
}
