//! The live console (`GET /` on the control plane) in a real browser, against `stream all
//! --speed 60` into PostgreSQL and a tansu broker: what the page shows is what PostgreSQL
//! holds, an injection through its form is refused without the token and lands with it, and
//! the page keeps working while a sink is down. Its JSON endpoints refuse bad requests.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{free_port, genims, http, ok, signal, tempdir, wait_for, Broker, StreamArgs, TestDb};

const TOKEN: &str = "console-test-token-0123456789";
const START: &str = "2026-03-05T00:00:00Z";

/// Two factories of four lines, so the page's grouping means something.
fn config() -> String {
    format!(
        "[plant]\nfactories = 2\nlines = 8\nmachines = 64\nsensors = 480\nemployees = 4000\nline_products = 12\n\n\
         [stream]\nstats_interval_s = 1\nlinger_ms = 50\ncontrol_token = \"{TOKEN}\"\n"
    )
}

/// The console's JSON at `path`.
fn get(control: &str, path: &str) -> (u16, serde_json::Value) {
    let (code, body) = http(&["-sS", &format!("{control}{path}")]);
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")))
}

/// Runs tests/tools/console_check.py with `args`; its report when it writes one.
fn browser(args: &[&str]) -> std::process::Output {
    let mut check = std::process::Command::new(common::python());
    check.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/console_check.py")).args(args);
    check.output().expect("run tests/tools/console_check.py")
}

/// What the page shows equals PostgreSQL: every machine grouped as the master data says, each
/// tile's state the machine's SCADA row, each trace's last point the sensor's row; the
/// injection form is refused without the token, accepted with it, and the episode shows in
/// the timeline and in `/faults`, and — cleared by its button once it tripped — at its end
/// in `fault_labels`; with the broker killed the
/// page names the failing sink and goes on. Screenshots go to GENIMS_SCREENSHOTS if set.
#[test]
fn the_console_shows_what_postgresql_holds_and_injects_through_its_form() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), config()).unwrap();
    let db = TestDb::new("console");
    ok(genims(d).args(["--postgres-url", &db.url, "schema", "apply"]));
    ok(genims(d).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    let mut broker = Broker::start();
    let port = free_port();
    let control = format!("http://127.0.0.1:{port}");
    let args = StreamArgs::all()
        .postgres(&db.url)
        .kafka(&broker.addr)
        .sink("postgres,kafka")
        .speed("60")
        .start(START)
        .state()
        .flag("--listen", &format!("127.0.0.1:{port}"))
        .build();
    let log = std::fs::File::create(d.join("stream.log")).unwrap();
    let mut stream = genims(d).args(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let stream_log = || std::fs::read_to_string(d.join("stream.log")).unwrap_or_default();
    // Three simulated minutes in, every machine has a state.
    let began = Instant::now();
    loop {
        let (code, body) = http(&["-sS", &format!("{control}/api/plant")]);
        if code == 200
            && serde_json::from_str::<serde_json::Value>(&body).unwrap()["at"].as_str() >= Some("2026-03-05T00:03:00Z")
        {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(60), "the console never showed 3 minutes: {}", stream_log());
        assert!(stream.try_wait().unwrap().is_none(), "the stream ended: {}", stream_log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut pg = db.client();
    let machine: String = pg
        .query_one(
            "SELECT machine_id FROM machines WHERE machine_type IN ('cnc_mill','cnc_lathe','grinding_machine','drill_press','boring_machine') ORDER BY machine_id LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    let report_path = d.join("console.json");
    let out = browser(&["plant", &control, &machine, TOKEN, report_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "the browser check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();

    // Grouped as the master data says.
    let rows = pg
        .query(
            "SELECT l.factory_id, m.line_id, m.machine_id FROM machines m JOIN production_lines l USING (line_id) \
             ORDER BY l.factory_id, m.line_id, m.machine_id",
            &[],
        )
        .unwrap();
    let mut tree: Vec<(String, String, Vec<String>)> = Vec::new();
    for r in rows {
        let (f, l, m): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        match tree.last_mut() {
            Some(last) if last.1 == l => last.2.push(m),
            _ => tree.push((f, l, vec![m])),
        }
    }
    let shown: Vec<(String, String, Vec<String>)> = serde_json::from_value(report["tree"].clone()).unwrap();
    assert_eq!(shown, tree, "the page groups the machines as the master data does");
    assert!(tree.iter().map(|t| &t.0).collect::<std::collections::BTreeSet<_>>().len() == 2, "two factories");

    // Each tile's state is its machine's SCADA row at the minute shown.
    let at = report["at"].as_str().expect("the page says which minute its states are");
    let minute = format!("{} {}", &at[..10], &at[11..19]);
    let scada = wait_rows(&mut pg, &minute, &stream_log);
    let states: std::collections::BTreeMap<String, String> = serde_json::from_value(report["states"].clone()).unwrap();
    assert_eq!(states.len(), tree.iter().map(|t| t.2.len()).sum::<usize>(), "every machine has a tile");
    for (m, state) in &states {
        let expected = scada.get(m).map_or("unknown", String::as_str);
        assert_eq!(state, expected, "{m} at {minute}: the tile says {state}, PostgreSQL {expected}");
    }
    assert_eq!(report["colours_ok"], true, "every tile has its state's legend colour");

    // A trace's last point is the sensor's row in PostgreSQL.
    let series = report["series"].as_array().unwrap();
    assert!(!series.is_empty(), "{machine}'s sensors are drawn");
    for s in series {
        let (sensor, t, v) = (s["sensor"].as_str().unwrap(), s["t"].as_str().unwrap(), s["v"].as_str().unwrap());
        let v: f64 = v.parse().unwrap();
        let ts = format!("{} {}", &t[..10], &t[11..19]);
        let values = wait_values(&mut pg, sensor, &ts);
        assert!(values.contains(&v), "{sensor} at {ts}: the trace ends at {v}, PostgreSQL holds {values:?}");
        assert!(s["points"].as_u64().unwrap() >= 12, "{sensor}: at least two minutes drawn: {s}");
    }

    // The form: refused without the token, accepted with it, in the timeline at once.
    assert_eq!(report["refused"], 401, "without the token: {}", report["refused_text"]);
    assert!(
        report["refused_text"].as_str().unwrap().contains("Bearer"),
        "the refusal says why: {}",
        report["refused_text"]
    );
    assert_eq!(report["accepted"], 201, "with the token: {}", report["accepted_text"]);
    let episode = report["episode"].as_i64().expect("the episode's id is shown");
    assert_eq!(report["in_timeline"], true, "episode {episode} appears in the page's timeline and table");
    assert_eq!(report["errors"], serde_json::json!([]), "no errors in the browser's console");
    let listed = &report["listed"];
    assert!(listed["id"] == episode, "episode {episode} is in GET /faults while it runs: {listed}");
    assert_eq!(listed["source"], "injected");
    assert_eq!(listed["machine_id"], machine.as_str());
    assert_eq!(report["cleared"], 200, "its clear button, once it tripped: {}", report["cleared_text"]);

    // The bad requests the endpoints refuse.
    assert_eq!(http(&["-sS", &format!("{control}/api/machines/MCH-999999/series")]).0, 404);
    let (code, body) = http(&["-sS", &format!("{control}/api/machines/{machine}/series?minutes=100000")]);
    assert!(code == 400 && body.contains("from 1 to 60"), "{code} {body}");
    assert_eq!(http(&["-sS", &format!("{control}/api/machines/{machine}/series?since=1")]).0, 400);
    let huge = format!("{control}/api/plant?{}", "x".repeat(8000));
    let (code, _) = http(&["-sS", &huge]);
    assert!(code == 414 || code == 431, "a huge query string is refused: {code}");

    // Cleared after its trip, it ended at once: its label is in fault_labels, saying so.
    let began = Instant::now();
    loop {
        let rows = pg.query("SELECT parameters::text FROM fault_labels WHERE episode_id = $1", &[&episode]).unwrap();
        if let Some(r) = rows.first() {
            let params: serde_json::Value = serde_json::from_str(r.get(0)).unwrap();
            assert!(params["source"] == "injected" && params["cleared_at"].is_string(), "{params}");
            break;
        }
        let (_, plant) = get(&control, "/api/plant");
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "episode {episode} (cleared) not in fault_labels; the stream is at {}",
            plant["at"]
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The pictures in the docs: the plant and the machine, its cleared episode tinted.
    if let Ok(dir) = std::env::var("GENIMS_SCREENSHOTS") {
        let out = browser(&["shots", &control, &machine, &dir]);
        assert!(out.status.success(), "screenshots: {}", String::from_utf8_lossy(&out.stderr));
    }

    // A sink down: the page says so and goes on.
    broker.kill();
    let out = browser(&["outage", &control, "kafka"]);
    assert!(
        out.status.success(),
        "with the broker down: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, ready) = get(&control, "/readyz");
    assert_eq!(code, 503, "{ready}");
    assert_eq!(ready["failing_sinks"], serde_json::json!(["kafka"]));

    signal(stream.id(), "TERM");
    wait_for(&mut stream, Duration::from_secs(30)).expect("the stream stops on SIGTERM");
}

/// The machines' SCADA states at `minute`, once PostgreSQL holds that minute.
fn wait_rows(
    pg: &mut postgres::Client,
    minute: &str,
    log: &dyn Fn() -> String,
) -> std::collections::BTreeMap<String, String> {
    let began = Instant::now();
    let sql = "SELECT machine_id, machine_state FROM scada_machine_data WHERE timestamp = $1::text::timestamp";
    let later = "SELECT count(*) FROM scada_machine_data WHERE timestamp > $1::text::timestamp + interval '2 minutes'";
    loop {
        // Rows of a minute commit together with those after it: once later minutes are in, it is complete.
        let n: i64 = pg.query_one(later, &[&minute]).unwrap().get(0);
        if n > 0 {
            return pg.query(sql, &[&minute]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
        }
        assert!(began.elapsed() < Duration::from_secs(60), "PostgreSQL never got past {minute}: {}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `sensor`'s values at `ts` in PostgreSQL, waiting until there are some.
fn wait_values(pg: &mut postgres::Client, sensor: &str, ts: &str) -> Vec<f64> {
    let began = Instant::now();
    loop {
        let rows = pg
            .query(
                "SELECT measurement_value::float8 FROM sensor_data WHERE sensor_id = $1 AND timestamp = $2::text::timestamp",
                &[&sensor, &ts],
            )
            .unwrap();
        if !rows.is_empty() {
            return rows.iter().map(|r| r.get(0)).collect();
        }
        assert!(began.elapsed() < Duration::from_secs(60), "{sensor} has no row at {ts} in PostgreSQL");
        std::thread::sleep(Duration::from_millis(200));
    }
}
