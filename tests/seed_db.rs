//! `genims seed` into a real PostgreSQL: exact counts, every per-parent range of the spec,
//! every id reference resolvable, ordered thresholds, refusing to mix master data, and the
//! SQL file loading through psql to the same content.

use crate::common;

use common::{genims, ok, run, tempdir, TestDb, MASTER_COUNTS};

fn schema(db: &TestDb) {
    ok(genims(tempdir().path()).args(["--postgres-url", &db.url, "schema", "apply"]));
}

fn seed_db(db: &TestDb, extra: &[&str]) -> (std::process::Output, String) {
    let mut args = vec!["--postgres-url", db.url.as_str(), "seed", "--out", "db"];
    args.extend_from_slice(extra);
    run(genims(tempdir().path()).args(&args))
}

/// Asserts a query returns zero, printing `what` otherwise.
fn none(db: &TestDb, what: &str, sql: &str) {
    let n: i64 = db.scalar(sql);
    assert_eq!(n, 0, "{what}: {n} offending rows ({sql})");
}

#[test]
fn seeded_database_meets_every_count_and_range() {
    let db = TestDb::new("seed");
    schema(&db);
    let (out, err) = seed_db(&db, &[]);
    assert!(out.status.success(), "{err}");
    for (table, n) in MASTER_COUNTS {
        let got: i64 = db.scalar(&format!("SELECT count(*) FROM {table}"));
        assert_eq!(got, n, "rows in {table}");
    }
    none(&db, "factories outside 4-6 lines", "SELECT count(*) FROM (SELECT factory_id, count(*) c FROM production_lines GROUP BY 1) x WHERE c NOT BETWEEN 4 AND 6");
    none(
        &db,
        "lines outside 8-15 machines",
        "SELECT count(*) FROM (SELECT line_id, count(*) c FROM machines GROUP BY 1) x WHERE c NOT BETWEEN 8 AND 15",
    );
    none(
        &db,
        "machines outside 5-10 sensors",
        "SELECT count(*) FROM (SELECT machine_id, count(*) c FROM sensors GROUP BY 1) x WHERE c NOT BETWEEN 5 AND 10",
    );
    none(&db, "factories outside 2000-4000 employees", "SELECT count(*) FROM (SELECT factory_id, count(*) c FROM employees GROUP BY 1) x WHERE c NOT BETWEEN 2000 AND 4000");
    none(&db, "factories without 6 shifts", "SELECT count(*) FROM (SELECT f.factory_id, count(s.*) c FROM factories f LEFT JOIN shifts s USING (factory_id) GROUP BY 1) x WHERE c <> 6");
    none(&db, "lines outside 1-3 products", "SELECT count(*) FROM (SELECT l.line_id, count(m.*) c FROM production_lines l LEFT JOIN line_product_mapping m USING (line_id) GROUP BY 1) x WHERE c NOT BETWEEN 1 AND 3");
    none(&db, "lines without exactly one primary product", "SELECT count(*) FROM (SELECT line_id, count(*) FILTER (WHERE is_primary_line) c FROM line_product_mapping GROUP BY 1) x WHERE c <> 1");
    none(&db, "customers outside 3-8 products", "SELECT count(*) FROM (SELECT c.customer_id, count(m.*) n FROM customers c LEFT JOIN customer_product_mapping m USING (customer_id) GROUP BY 1) x WHERE n NOT BETWEEN 3 AND 8");
    none(&db, "line products of another category", "SELECT count(*) FROM line_product_mapping m JOIN production_lines l USING (line_id) JOIN products p USING (product_id) WHERE p.product_category <> l.product_category");
    let per_category: String = db.scalar("SELECT string_agg(product_category || '=' || n, ',' ORDER BY product_category) FROM (SELECT product_category, count(*) n FROM products GROUP BY 1) x");
    assert_eq!(per_category, "brake=5,electrical=5,steering=3,suspension=5,transmission=2");
    none(
        &db,
        "employee roles off their share (more than one per factory from exact)",
        "SELECT count(*) FROM (VALUES
        ('operator', 0.45), ('technician', 0.15), ('quality_inspector', 0.10), ('supervisor', 0.08),
        ('maintenance_engineer', 0.07), ('production_engineer', 0.05), ('planning_coordinator', 0.04),
        ('logistics_coordinator', 0.03), ('manager', 0.02), ('quality_engineer', 0.01)) AS s(role, share)
        WHERE abs((SELECT count(*) FROM employees e WHERE e.role = s.role) - 11948 * share) > 4",
    );
    none(
        &db,
        "production staff without a line, or office staff with one",
        "SELECT count(*) FROM employees WHERE
        (role IN ('operator','technician','quality_inspector','supervisor')) <> (line_id IS NOT NULL)",
    );
    none(&db, "machine types not of their line type", "SELECT count(*) FROM machines m JOIN production_lines l USING (line_id) WHERE NOT (
        (l.line_type = 'assembly' AND m.machine_type IN ('robot_arm','screw_driver','press_fit','conveyor','pick_place')) OR
        (l.line_type = 'machining' AND m.machine_type IN ('cnc_mill','cnc_lathe','drill_press','grinding_machine','boring_machine')) OR
        (l.line_type = 'testing' AND m.machine_type IN ('leak_tester','torque_tester','dimension_scanner','ultrasonic_tester','x_ray')) OR
        (l.line_type = 'painting' AND m.machine_type IN ('spray_booth','powder_coating','curing_oven','surface_prep','inspection_booth')) OR
        (l.line_type = 'welding' AND m.machine_type IN ('spot_welder','arc_welder','laser_welder','robot_welder','mig_welder')))");
}

#[test]
fn every_reference_resolves_and_thresholds_are_ordered() {
    let db = TestDb::new("refs");
    schema(&db);
    assert!(seed_db(&db, &[]).0.status.success());
    none(
        &db,
        "lines with unknown factory",
        "SELECT count(*) FROM production_lines l LEFT JOIN factories f USING (factory_id) WHERE f.factory_id IS NULL",
    );
    none(&db, "machines whose line or factory is wrong", "SELECT count(*) FROM machines m LEFT JOIN production_lines l USING (line_id) WHERE l.line_id IS NULL OR l.factory_id <> m.factory_id");
    none(&db, "sensors whose machine, line or factory is wrong", "SELECT count(*) FROM sensors s LEFT JOIN machines m USING (machine_id) WHERE m.machine_id IS NULL OR m.line_id <> s.line_id OR m.factory_id <> s.factory_id");
    none(
        &db,
        "employees with unknown factory",
        "SELECT count(*) FROM employees e LEFT JOIN factories f USING (factory_id) WHERE f.factory_id IS NULL",
    );
    none(
        &db,
        "employees on a line of another factory",
        "SELECT count(*) FROM employees e JOIN production_lines l USING (line_id) WHERE l.factory_id <> e.factory_id",
    );
    none(&db, "employees with a dangling line", "SELECT count(*) FROM employees e LEFT JOIN production_lines l USING (line_id) WHERE e.line_id IS NOT NULL AND l.line_id IS NULL");
    none(
        &db,
        "shifts with unknown factory",
        "SELECT count(*) FROM shifts s LEFT JOIN factories f USING (factory_id) WHERE f.factory_id IS NULL",
    );
    none(&db, "line mappings with dangling ids", "SELECT count(*) FROM line_product_mapping m LEFT JOIN production_lines l USING (line_id) LEFT JOIN products p USING (product_id) WHERE l.line_id IS NULL OR p.product_id IS NULL OR l.factory_id <> m.factory_id");
    none(&db, "customer mappings with dangling ids", "SELECT count(*) FROM customer_product_mapping m LEFT JOIN customers c USING (customer_id) LEFT JOIN products p USING (product_id) WHERE c.customer_id IS NULL OR p.product_id IS NULL");
    none(
        &db,
        "sensors with disordered thresholds",
        "SELECT count(*) FROM sensors WHERE NOT (
        measurement_range_min < critical_threshold_min AND critical_threshold_min <= warning_threshold_min
        AND warning_threshold_min <= normal_operating_min AND normal_operating_min < normal_operating_max
        AND normal_operating_max <= warning_threshold_max AND warning_threshold_max <= critical_threshold_max
        AND critical_threshold_max < measurement_range_max)",
    );
    none(&db, "bearing vibration sensors off the catalogue's bands", "SELECT count(*) FROM sensors WHERE sensor_name = 'Spindle Bearing Vibration'
        AND (normal_operating_min, normal_operating_max, warning_threshold_max, critical_threshold_max) <> (5, 15, 15, 20)");
    none(&db, "rotating machines without vibration and bearing temperature", "SELECT count(*) FROM machines m WHERE m.machine_type IN ('cnc_mill','cnc_lathe','grinding_machine')
        AND (SELECT count(*) FROM sensors s WHERE s.machine_id = m.machine_id AND s.sensor_name IN ('Spindle Bearing Vibration','Spindle Bearing Temperature')) <> 2");
    none(&db, "machines without supply voltage", "SELECT count(*) FROM machines m WHERE NOT EXISTS (SELECT 1 FROM sensors s WHERE s.machine_id = m.machine_id AND s.sensor_name = 'Supply Voltage')");
    let zones: String = db.scalar("SELECT string_agg(timezone, ',' ORDER BY factory_id) FROM factories");
    assert_eq!(zones, "Asia/Tokyo,America/Detroit,Europe/Berlin,Asia/Kolkata");
    let bad_zones: i64 = db.scalar(
        "SELECT count(*) FROM factories f LEFT JOIN pg_timezone_names z ON z.name = f.timezone WHERE z.name IS NULL",
    );
    assert_eq!(bad_zones, 0, "every factory time zone is a real IANA zone");
}

#[test]
fn seeding_twice_is_refused_unless_replace() {
    let db = TestDb::new("replace");
    schema(&db);
    assert!(seed_db(&db, &[]).0.status.success());
    let (out, err) = seed_db(&db, &[]);
    assert!(!out.status.success());
    assert!(err.contains("already holds master data") && err.contains("--replace"), "{err}");
    let (out, err) = seed_db(&db, &["--replace"]);
    assert!(out.status.success(), "{err}");
    let n: i64 = db.scalar("SELECT count(*) FROM sensors");
    assert_eq!(n, 1716, "replace leaves exactly one copy");
}

#[test]
fn seeding_without_schema_points_at_schema_apply() {
    let db = TestDb::new("noschema");
    let (out, err) = seed_db(&db, &[]);
    assert!(!out.status.success());
    assert!(err.contains("run `genims schema apply` first"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// A digest of every master table's content, independent of how it was loaded.
fn digest(db: &TestDb) -> String {
    let tables = [
        "factories",
        "production_lines",
        "machines",
        "sensors",
        "employees",
        "shifts",
        "products",
        "customers",
        "line_product_mapping",
        "customer_product_mapping",
    ];
    tables.iter().map(|t| format!("{t}:{}", db.digest(t))).collect::<Vec<_>>().join("\n")
}

#[test]
fn sql_file_loads_through_psql_to_the_same_content_as_db() {
    let via_db = TestDb::new("viadb");
    schema(&via_db);
    assert!(seed_db(&via_db, &[]).0.status.success());
    let via_sql = TestDb::new("viasql");
    schema(&via_sql);
    let dir = tempdir();
    ok(genims(dir.path()).args(["seed", "--out", "sql", "--path", "master.sql"]));
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &via_sql.url, "-f", "master.sql"])
        .current_dir(dir.path())
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(digest(&via_sql), digest(&via_db), "SQL file and COPY load must give identical tables");
    let quoted: i64 = via_sql.scalar("SELECT count(*) FROM employees WHERE last_name LIKE '%''%'");
    assert!(quoted > 0, "names with apostrophes survive quoting");
}
