//! Live fault injection through the running daemon's control plane, end to end: `genims
//! fault` and curl against `genims stream`, PostgreSQL and a tansu broker as sinks.
//!
//! Injected episodes take the catalogue's path (signatures, machine_faults, maintenance,
//! labels marked injected); the journal survives kill -9, and the stream equals a
//! `backfill --injections` of its journal, table by table.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{free_port, genims, http, ok, run, signal, tempdir, wait_for, Broker, StreamArgs, TestDb, TABLES};

const PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n\
                     [kafka]\npartitions = 3\n\n[stream]\nstats_interval_s = 1\nlinger_ms = 50\n";
const A: &str = "2026-03-05T00:00:00Z";
const C: &str = "2026-03-05T03:00:00Z";
/// A cnc_lathe and a drill_press of the default plant.
const LATHE: &str = "MCH-000002";
const DRILL: &str = "MCH-000005";

/// `genims fault …` against `control`: its stdout, insisting on success.
fn fault(dir: &std::path::Path, control: &str, args: &[&str]) -> String {
    let out = ok(genims(dir).args(["fault", "--control", control]).args(args));
    String::from_utf8(out.stdout).unwrap()
}

/// `stream all --sink null --speed 60` over [A, C) in `d` (its configuration there), serving
/// its control plane on a free port: the process, and the plane's URL once it answers.
fn null_stream_with_plane(d: &std::path::Path) -> (std::process::Child, String) {
    let port = free_port();
    let control = format!("http://127.0.0.1:{port}");
    let child = genims(d)
        .args(StreamArgs::all().sink("null").speed("60").window(A, C).build())
        .args(["--state-dir", "state", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    await_plane(&control);
    (child, control)
}

/// Waits until the control plane answers.
fn await_plane(control: &str) {
    for _ in 0..100 {
        if http(&["-sS", &format!("{control}/healthz")]).0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the control plane at {control} never answered");
}

/// Two injections (one cleared mid-way), a kill -9 right after the second and a restart: the
/// stream's database equals `backfill --injections` of its journal, table by table; the
/// injected machine's readings follow the signature from onset on and are untouched before;
/// the labels say `injected`, in PostgreSQL and in Kafka.
#[test]
fn injections_survive_kill_9_and_a_backfill_of_the_journal_reproduces_the_stream() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), PLANT).unwrap();
    let broker = Broker::start();
    let (streamed, replayed, plain) = (TestDb::new("inj_stream"), TestDb::new("inj_replay"), TestDb::new("inj_plain"));
    for db in [&streamed, &replayed, &plain] {
        ok(genims(d).args(["--postgres-url", &db.url, "schema", "apply"]));
    }
    let port = free_port();
    let control = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let args = StreamArgs::all()
        .postgres(&streamed.url)
        .kafka(&broker.addr)
        .sink("postgres,kafka")
        .speed("300")
        .window(A, C)
        .state()
        .flag("--listen", &listen)
        .build();
    let log = std::fs::File::create(d.join("first.log")).unwrap();
    let mut first = genims(d).args(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    await_plane(&control);
    let one = fault(
        d,
        &control,
        &[
            "inject",
            "--machine",
            LATHE,
            "--pattern",
            "coolant_failure",
            "--at",
            "2026-03-05T00:30:00Z",
            "--duration",
            "3h",
        ],
    );
    assert!(one.starts_with("injected episode ") && one.contains("coolant_failure on MCH-000002"), "{one}");
    // The second through curl, with the JSON the CLI sends; kill -9 as soon as it answers.
    let (code, body) = http(&[
        "-sS",
        "-XPOST",
        &format!("{control}/faults"),
        "-d",
        &format!("{{\"machine_id\":\"{DRILL}\",\"pattern\":\"electrical_fault\",\"at\":\"2026-03-05T00:50:00Z\",\"duration\":\"20m\"}}"),
    ]);
    assert_eq!(code, 201, "{body}");
    signal(first.id(), "KILL");
    let _ = first.wait();
    let journal = std::fs::read_to_string(d.join("state/all.injections.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 2, "both injections were journaled before their 201: {journal}");

    // The restart re-applies the journal; the first injection is cleared part way.
    let log = std::fs::File::create(d.join("second.log")).unwrap();
    let mut second = genims(d).args(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    await_plane(&control);
    let second_log = || std::fs::read_to_string(d.join("second.log")).unwrap_or_default();
    assert!(second_log().contains("injections re-applied"), "{}", second_log());
    let id = one.split_whitespace().nth(2).unwrap().trim_end_matches(':').to_owned();
    // Wait until the episode has begun, then clear it.
    loop {
        let list = fault(d, &control, &["list", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&list).unwrap();
        let at = v["at"].as_str().unwrap_or("");
        if at >= "2026-03-05T01:00:00Z" {
            break;
        }
        assert!(second.try_wait().unwrap().is_none(), "the stream ended early: {}", second_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let cleared = fault(d, &control, &["clear", &id]);
    assert!(cleared.starts_with(&format!("cleared episode {id}")), "{cleared}");
    let status = wait_for(&mut second, Duration::from_secs(180)).expect("the stream finishes");
    assert!(status.success(), "{}", second_log());

    // The journal replayed as history equals the stream, table by table.
    let journal = std::fs::read_to_string(d.join("state/all.injections.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 3, "{journal}");
    ok(genims(d).args([
        "--postgres-url",
        &replayed.url,
        "backfill",
        "--out",
        "db",
        "--start",
        A,
        "--end",
        C,
        "--injections",
        "state/all.injections.jsonl",
    ]));
    for table in TABLES {
        assert_eq!(streamed.digest(table), replayed.digest(table), "{table}: the stream equals backfill --injections");
    }

    // PostgreSQL kept the journal with the records: a daemon that lost its state directory
    // restores it from there (here a rerun of the finished window, which has nothing to do).
    let kept: i64 = streamed.scalar("SELECT count(*) FROM genims_injections WHERE stream = 'all'");
    assert_eq!(kept, 3, "the journal is in genims_injections");
    std::fs::remove_dir_all(d.join("state")).unwrap();
    ok(genims(d).args(&args));
    let restored = std::fs::read_to_string(d.join("state/all.injections.jsonl")).unwrap();
    assert_eq!(restored, journal, "the journal file restored from PostgreSQL");

    // The labels: both injected, the first cleared; a fault and its corrective maintenance.
    let labels: i64 = streamed.scalar(
        "SELECT count(*) FROM fault_labels WHERE parameters::jsonb->>'source' = 'injected' AND machine_id IN ('MCH-000002','MCH-000005')",
    );
    assert_eq!(labels, 2, "two injected labels");
    let cleared_at: String =
        streamed.scalar(&format!("SELECT parameters::jsonb->>'cleared_at' FROM fault_labels WHERE episode_id = {id}"));
    assert!(cleared_at.as_str() >= "2026-03-05T01:00:00Z", "cleared at {cleared_at}");
    let repairs: i64 = streamed.scalar(&format!(
        "SELECT count(*) FROM maintenance_events WHERE machine_id = '{LATHE}' AND maintenance_type IN ('corrective', 'breakdown') \
         AND actual_start >= '2026-03-05T01:00:00Z'"
    ));
    assert!(repairs >= 1, "a corrective maintenance follows the clear");

    // Readings: the same as without injections before the onset, not after it.
    ok(genims(d).args(["--postgres-url", &plain.url, "backfill", "--out", "db", "--start", A, "--end", C]));
    let q = |db: &TestDb, cond: &str| -> String {
        db.scalar(&format!(
            "SELECT md5(string_agg(sensor_id || measurement_value::text, ',' ORDER BY sensor_id, \"timestamp\")) FROM sensor_data \
             WHERE machine_id = '{LATHE}' AND {cond}"
        ))
    };
    let before = "\"timestamp\" < '2026-03-05T00:30:00Z'";
    let during = "\"timestamp\" >= '2026-03-05T00:40:00Z' AND \"timestamp\" < '2026-03-05T01:00:00Z'";
    assert_eq!(q(&streamed, before), q(&plain, before), "nothing changes before the onset");
    assert_ne!(q(&streamed, during), q(&plain, during), "the readings follow the signature after the onset");

    // Kafka: the labels arrive there too, marked injected.
    let tool = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/kafka_read.py");
    let out = std::process::Command::new(common::python())
        .args([tool.to_str().unwrap(), &broker.addr, "genims.fault.labels"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let injected: std::collections::BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let params: serde_json::Value = serde_json::from_str(v["value"]["parameters"].as_str()?).ok()?;
            (params["source"] == "injected").then(|| v["value"]["machine_id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(injected, [LATHE.to_owned(), DRILL.to_owned()].into(), "injected labels in Kafka");
}

/// Every refusal: one status and a JSON body naming the cause; with a token, changes need it.
#[test]
fn the_control_plane_refuses_bad_injections_with_the_right_status() {
    let dir = tempdir();
    let d = dir.path();
    let token = "s3cret-token-0123456789";
    std::fs::write(d.join("config.toml"), format!("{PLANT}control_token = \"{token}\"\n")).unwrap();
    let (mut child, control) = null_stream_with_plane(d);
    let post = |body: &str, auth: Option<&str>| {
        let mut args =
            vec!["-sS".to_owned(), "-XPOST".to_owned(), format!("{control}/faults"), "-d".to_owned(), body.to_owned()];
        if let Some(t) = auth {
            args.extend(["-H".to_owned(), format!("Authorization: Bearer {t}")]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        http(&refs)
    };
    let good = format!("{{\"machine_id\":\"{LATHE}\",\"pattern\":\"coolant_failure\",\"duration\":\"1h\"}}");
    for (body, auth, status, cause) in [
        (good.as_str(), None, 401, "Authorization: Bearer"),
        (good.as_str(), Some("wrong-token-wrong-token"), 401, "not this daemon's control token"),
        ("{\"machine_id\":\"MCH-999999\",\"pattern\":\"coolant_failure\"}", Some(token), 404, "no machine MCH-999999"),
        ("{\"machine_id\":\"MCH-000002\",\"pattern\":\"warp_drive\"}", Some(token), 404, "no fault pattern warp_drive"),
        (
            "{\"machine_id\":\"MCH-000002\",\"pattern\":\"welding_quality\"}",
            Some(token),
            400,
            "does not apply to MCH-000002",
        ),
        (
            "{\"machine_id\":\"MCH-000002\",\"pattern\":\"coolant_failure\",\"duration\":\"9h\"}",
            Some(token),
            400,
            "lasts 0.25 to 4 hours",
        ),
        (
            "{\"machine_id\":\"MCH-000002\",\"pattern\":\"coolant_failure\",\"severity\":\"apocalyptic\"}",
            Some(token),
            400,
            "severity apocalyptic",
        ),
        (
            "{\"machine_id\":\"MCH-000002\",\"pattern\":\"coolant_failure\",\"at\":\"2020-01-01T00:00:00Z\"}",
            Some(token),
            400,
            "in the stream's past",
        ),
        ("{\"machine\":\"MCH-000002\"}", Some(token), 400, "unknown field `machine`"),
        ("not json", Some(token), 400, "not JSON"),
        (good.as_str(), Some(token), 201, "\"source\":\"injected\""),
        (good.as_str(), Some(token), 409, "is in injected episode"),
    ] {
        let (code, text) = post(body, auth);
        assert_eq!(code, status, "{body}: {text}");
        assert!(text.contains(cause), "{body}: the cause `{cause}` is named: {text}");
        if status >= 400 {
            let v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON error body: {text}"));
            assert!(v["error"].is_string(), "{text}");
        }
    }
    // Replacing makes room; clearing an unknown or catalogue episode is a 404.
    let replace = format!("{{\"machine_id\":\"{LATHE}\",\"pattern\":\"coolant_failure\",\"replace\":true}}");
    assert_eq!(post(&replace, Some(token)).0, 201);
    let (code, text) =
        http(&["-sS", "-XDELETE", &format!("{control}/faults/42"), "-H", &format!("Authorization: Bearer {token}")]);
    assert!(code == 404 && text.contains("no injected episode 42"), "{code} {text}");
    // Reading stays open without the token; the CLI reads the token from the configuration.
    assert_eq!(http(&["-sS", &format!("{control}/faults")]).0, 200);
    let (out, err) = run(genims(d).args(["fault", "--control", &control, "clear", "7"]));
    assert!(!out.status.success() && err.contains("404") && err.contains("no injected episode 7"), "{err}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Clients retry: an injection repeated with its idempotency key finds the episode it made
/// (200, nothing journaled), the key reused for another request is a 422, and clearing an
/// episode already cleared changes nothing (200, its end as the first clear set it). Each
/// change is listed by `GET /faults` as soon as it is answered.
#[test]
fn retried_requests_change_nothing_and_a_change_is_listed_at_once() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), PLANT).unwrap();
    let (mut child, control) = null_stream_with_plane(d);
    let journal = || std::fs::read_to_string(d.join("state/all.injections.jsonl")).unwrap_or_default();
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or_else(|_| panic!("JSON: {text}"));
    let post = |body: &str, key: &str| {
        http(&["-sS", "-XPOST", &format!("{control}/faults"), "-H", &format!("Idempotency-Key: {key}"), "-d", body])
    };
    let listed = |id: i64| {
        let (_, text) = http(&["-sS", &format!("{control}/faults")]);
        json(&text)["episodes"].as_array().unwrap().iter().find(|e| e["id"] == id).cloned()
    };
    let body = format!("{{\"machine_id\":\"{LATHE}\",\"pattern\":\"coolant_failure\",\"duration\":\"1h\"}}");
    let (code, text) = post(&body, "retry-1");
    assert_eq!(code, 201, "{text}");
    let first = json(&text);
    let id = first["id"].as_i64().unwrap();
    assert!(listed(id).is_some(), "GET /faults lists the injection at once");
    let (code, text) = post(&body, "retry-1");
    assert_eq!(code, 200, "a retry finds the episode: {text}");
    assert_eq!(json(&text)["id"], id, "the same episode");
    assert_eq!(journal().lines().count(), 1, "a retry journals nothing: {}", journal());
    let other = format!("{{\"machine_id\":\"{DRILL}\",\"pattern\":\"electrical_fault\"}}");
    let (code, text) = post(&other, "retry-1");
    assert!(code == 422 && text.contains("was used for another request"), "{code} {text}");
    // The CLI sends its key too.
    let again = fault(
        d,
        &control,
        &[
            "inject",
            "--machine",
            LATHE,
            "--pattern",
            "coolant_failure",
            "--duration",
            "1h",
            "--idempotency-key",
            "retry-1",
        ],
    );
    assert!(again.starts_with("already injected"), "{again}");

    // Once it has begun, clear it, twice.
    while listed(id).is_none_or(|e| e["phase"] == "upcoming") {
        assert!(child.try_wait().unwrap().is_none(), "the stream ended early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let delete = || http(&["-sS", "-XDELETE", &format!("{control}/faults/{id}")]);
    let (code, text) = delete();
    assert_eq!(code, 200, "{text}");
    let end = json(&text)["end"].clone();
    assert_eq!(listed(id).map(|e| e["end"].clone()), Some(end.clone()), "GET /faults shows the clear at once");
    std::thread::sleep(Duration::from_secs(2));
    let (code, text) = delete();
    assert_eq!(code, 200, "a retried clear is answered as the episode stands: {text}");
    assert_eq!(json(&text)["end"], end, "a retried clear does not cut the repair short");
    let clears = journal().lines().filter(|l| l.contains("\"op\":\"clear\"")).count();
    assert_eq!(clears, 1, "one clear journaled: {}", journal());
    let _ = child.kill();
    let _ = child.wait();
}
