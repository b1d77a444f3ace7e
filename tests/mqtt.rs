//! The MQTT sink against a real Mosquitto (a private one per test, on a free port), read by
//! an independent client: paho-mqtt, Sparkplug B payloads decoded with the module protoc
//! generates from the specification's `proto/sparkplug_b.proto` (tests/tools/mqtt_sub.py).

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mosquitto::{subscribe, Mosquitto};
use common::*;
use serde_json::Value;

fn config(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("genims.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// The JSON Lines backfill of the window: table → rows (normalised JSON).
fn reference(dir: &Path, start: &str, end: &str) -> BTreeMap<String, BTreeSet<String>> {
    let files = dir.join("reference");
    ok(genims(dir).args(["backfill", "--start", start, "--end", end, "--out", "jsonl", "--path"]).arg(&files));
    let mut rows = BTreeMap::new();
    jsonl_values(&files, &mut rows);
    rows
}

/// The table of a Unified Namespace topic, checked against the row it carries.
fn uns_table(topic: &str, row: &Value) -> String {
    let s = |k: &str| row[k].as_str().unwrap_or("").to_owned();
    let parts: Vec<&str> = topic.split('/').collect();
    let (machine, factory, line) = (s("machine_id"), s("factory_id"), s("line_id"));
    let expect_head = |n: usize| {
        if !factory.is_empty() {
            assert_eq!(parts[1], factory, "{topic}: factory level");
            assert_eq!(parts[2], line, "{topic}: line level");
        }
        if n > 3 {
            assert_eq!(parts[3], machine, "{topic}: machine level");
        }
    };
    assert_eq!(parts[0], "plant", "{topic}: the configured prefix");
    if parts[parts.len() - 2] == "events" {
        if parts.len() == 6 {
            expect_head(4);
        } else {
            assert_eq!(parts.len(), 5, "{topic}");
            expect_head(3);
        }
        return parts[parts.len() - 1].to_owned();
    }
    if parts.len() == 5 && parts[4] == "state" {
        expect_head(4);
        return "scada_machine_data".into();
    }
    if parts.len() == 5 {
        expect_head(4);
        assert_eq!(parts[4], s("sensor_id"), "{topic}: sensor level");
        return "sensor_data".into();
    }
    panic!("{topic}: not a topic of the Unified Namespace")
}

#[test]
fn uns_delivers_every_row_under_the_plant_topics_and_retains_each_machines_last_state() {
    let dir = tempdir();
    let broker = Mosquitto::start(dir.path());
    let cfg = config(dir.path(), &format!("[mqtt]\nurl = \"{}\"\ntopic_prefix = \"plant\"\n", broker.url()));
    let sub = subscribe(dir.path(), broker.port, "plant/#", "plant/test-end", false, None);
    let (start, end) = ("2026-03-01T06:00:00Z", "2026-03-01T06:10:00Z");
    ok(genims(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(["backfill", "--start", start, "--end", end, "--out", "mqtt"]));
    let got = sub.finish();

    let mut by_table: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        let table = uns_table(m["topic"].as_str().unwrap(), &m["payload"]);
        *count.entry(table.clone()).or_default() += 1;
        by_table.entry(table).or_default().insert(m["payload"].to_string());
    }
    let want = reference(dir.path(), start, end);
    for (table, rows) in &want {
        let have = by_table.remove(table).unwrap_or_default();
        assert_eq!(count.get(table).copied().unwrap_or(0), rows.len(), "{table}: one message per row");
        let missing = rows.difference(&have).count();
        let extra = have.difference(rows).count();
        assert!(missing == 0 && extra == 0, "{table}: {missing} rows missing, {extra} not in the backfill");
    }
    assert!(by_table.is_empty(), "topics of no table: {:?}", by_table.keys());
    assert!(want["sensor_data"].len() > 100_000, "a real window: {} readings", want["sensor_data"].len());

    // A subscriber that comes later learns every machine's last state from retained messages.
    let late = subscribe(dir.path(), broker.port, "plant/+/+/+/state", "plant/test/end/x/state", false, None);
    let retained = late.finish();
    let mut last: HashMap<String, Value> = HashMap::new();
    for row in &want["scada_machine_data"] {
        let row: Value = serde_json::from_str(row).unwrap();
        let m = row["machine_id"].as_str().unwrap().to_owned();
        if last.get(&m).is_none_or(|r| r["timestamp"].as_str() < row["timestamp"].as_str()) {
            last.insert(m, row);
        }
    }
    assert_eq!(retained.len(), last.len(), "one retained state per machine");
    for m in &retained {
        assert_eq!(m["retain"], true, "{}: a retained message", m["topic"]);
        let row = &m["payload"];
        assert_eq!(row, &last[row["machine_id"].as_str().unwrap()], "{}: the machine's last state", m["topic"]);
    }
}

/// What a Sparkplug subscriber saw, checked message by message as the specification asks.
#[derive(Default)]
struct Sparkplug {
    /// (sensor, time ms) → measurement_value, from DDATA by alias.
    readings: HashMap<(String, u64), f64>,
    /// Edge node → bdSeq of each NBIRTH, in order.
    births: BTreeMap<String, Vec<u64>>,
    /// Whether some node's seq went from 255 to 0 within one birth.
    wrapped: bool,
    messages: usize,
}

fn check_sparkplug(messages: &[Value]) -> Sparkplug {
    let mut seen = Sparkplug { messages: messages.len(), ..Sparkplug::default() };
    // Per edge node: last seq; per device: alias → metric name since its DBIRTH.
    let mut seq: HashMap<String, u64> = HashMap::new();
    let mut devices: HashMap<String, HashMap<u64, String>> = HashMap::new();
    let mut node_born: BTreeSet<String> = BTreeSet::new();
    // A QoS 1 message the broker delivers again (its acknowledgement lost in the restart).
    let mut delivered: BTreeSet<u64> = BTreeSet::new();
    for m in messages {
        let topic = m["topic"].as_str().unwrap();
        let p = &m["payload"];
        let digest = {
            use std::hash::{Hash as _, Hasher as _};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (topic, p.to_string()).hash(&mut h);
            h.finish()
        };
        if !delivered.insert(digest) {
            continue;
        }
        let parts: Vec<&str> = topic.split('/').collect();
        assert_eq!(parts[0], "spBv1.0", "{topic}");
        let node = format!("{}/{}", parts[1], parts[3]);
        let kind = parts[2];
        if kind == "NCMD" {
            continue; // the test's own rebirth request
        }
        if kind == "NDEATH" {
            assert!(p["seq"].is_null(), "{topic}: NDEATH carries no seq");
            node_born.remove(&node);
            continue;
        }
        let s = p["seq"].as_u64().unwrap_or_else(|| panic!("{topic}: no seq"));
        assert!(s <= 255, "{topic}: seq {s} beyond 255");
        if kind == "NBIRTH" {
            assert_eq!(s, 0, "{topic}: NBIRTH has seq 0");
            let metrics = p["metrics"].as_array().unwrap();
            let bd =
                metrics.iter().find(|x| x["name"] == "bdSeq").expect("NBIRTH has bdSeq")["value"].as_u64().unwrap();
            assert!(metrics.iter().any(|x| x["name"] == "Node Control/Rebirth"), "{topic}: NBIRTH offers rebirth");
            seen.births.entry(node.clone()).or_default().push(bd);
            node_born.insert(node.clone());
            devices.retain(|d, _| !d.starts_with(&format!("{node}/")));
        } else {
            assert!(node_born.contains(&node), "{topic}: {kind} before the node's NBIRTH");
            let prev = seq[&node];
            assert_eq!(s, (prev + 1) % 256, "{topic}: seq follows {prev}");
            if prev == 255 {
                seen.wrapped = true;
            }
        }
        seq.insert(node.clone(), s);
        if kind == "DBIRTH" {
            let names = p["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    assert!(x["datatype"].is_u64(), "{topic}: a birth gives every datatype");
                    (x["alias"].as_u64().expect("a birth gives every alias"), x["name"].as_str().unwrap().to_owned())
                })
                .collect();
            devices.insert(format!("{node}/{}", parts[4]), names);
        }
        if kind == "DDATA" {
            assert!(!p["metrics"].as_array().unwrap().is_empty(), "{topic}: DDATA without metrics");
            let names = devices
                .get(&format!("{node}/{}", parts[4]))
                .unwrap_or_else(|| panic!("{topic}: DDATA before its DBIRTH"));
            for x in p["metrics"].as_array().unwrap() {
                assert!(x["name"].is_null(), "{topic}: data metrics go by alias");
                let name = &names[&x["alias"].as_u64().unwrap()];
                if let Some(sensor) = name.strip_prefix("Sensors/").and_then(|n| n.strip_suffix("/measurement_value")) {
                    let key = (sensor.to_owned(), x["timestamp"].as_u64().unwrap());
                    let v = x["value"].as_f64().unwrap();
                    if let Some(old) = seen.readings.insert(key.clone(), v) {
                        assert_eq!(old, v, "{key:?}: a repeated reading has the same value");
                    }
                }
            }
        }
    }
    seen
}

/// The sensor readings of a JSON Lines backfill: (sensor, time ms) → value.
fn readings(rows: &BTreeSet<String>) -> HashMap<(String, u64), f64> {
    rows.iter()
        .map(|r| {
            let r: Value = serde_json::from_str(r).unwrap();
            let ts = r["timestamp"].as_str().unwrap();
            let ms = (time_of(ts) * 1000) as u64;
            ((r["sensor_id"].as_str().unwrap().to_owned(), ms), r["measurement_value"].as_f64().unwrap())
        })
        .collect()
}

/// Unix seconds of an RFC 3339 UTC time (`2026-03-01T06:00:10Z`).
fn time_of(ts: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
fn sparkplug_stream_births_before_data_seq_wraps_rebirths_on_request_and_after_a_broker_restart_loses_nothing() {
    let dir = tempdir();
    let mut broker = Mosquitto::start(dir.path());
    let cfg = config(dir.path(), &format!("[mqtt]\nurl = \"{}\"\nmode = \"sparkplug\"\n", broker.url()));
    let sub = subscribe(dir.path(), broker.port, "spBv1.0/#", "spBv1.0/test-end", true, Some("genims-test-host"));
    let (start, end) = ("2026-03-01T06:00:00Z", "2026-03-01T06:20:00Z");
    let mut stream = genims(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(StreamArgs::all().sink("mqtt").window(start, end).speed("80").build())
        .env("GENIMS_STATE_DIR", dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let asked = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/mqtt_sub.py"))
        .args(["rebirth", "127.0.0.1", &broker.port.to_string(), "FAC-000001", "LINE-000001"])
        .status()
        .unwrap();
    assert!(asked.success(), "the rebirth request was not published");
    std::thread::sleep(Duration::from_secs(3));
    broker.restart(Duration::from_secs(2));
    let st = wait_for(&mut stream, Duration::from_secs(90)).expect("the stream ends at --end");
    let mut log = String::new();
    std::io::Read::read_to_string(stream.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(st.success(), "the stream failed: {log}");
    assert!(log.contains("mqtt"), "{log}");
    let got = sub.finish();

    let seen = check_sparkplug(&got);
    assert!(seen.wrapped, "seq wraps from 255 to 0 in a 20-minute window ({} messages)", seen.messages);
    let first = &seen.births["FAC-000001/LINE-000001"];
    assert!(first.windows(2).any(|w| w[0] == w[1]), "a rebirth request re-sends NBIRTH with the same bdSeq: {first:?}");
    for (node, bd) in &seen.births {
        assert!(bd.iter().any(|b| *b >= 1), "{node}: a new connection (bdSeq ≥ 1) after the broker restart: {bd:?}");
    }
    let want = readings(&reference(dir.path(), start, end)["sensor_data"]);
    let missing: Vec<_> = want.keys().filter(|k| !seen.readings.contains_key(*k)).collect();
    let span = (missing.iter().map(|k| k.1).min(), missing.iter().map(|k| k.1).max());
    assert!(
        missing.is_empty(),
        "{} readings never received (of {}), times (ms) {span:?}: {:?}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(5)]
    );
    for (k, v) in &seen.readings {
        assert_eq!(want.get(k), Some(v), "{k:?}: a reading the backfill of the window has not");
    }
}

/// Publishes the STATE of primary host `host` (retained, QoS 1) as a host application would.
fn host_state(port: u16, host: &str, online: bool, ts: u64) {
    let st = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/mqtt_sub.py"))
        .args(["state", "127.0.0.1", &port.to_string(), host, &online.to_string(), &ts.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "the STATE was not published");
}

/// Sparkplug 3.0 primary host awareness, a host application (paho) setting its STATE:
/// offline at start, no birth; online, births; a stale offline (older than the online)
/// changes nothing; offline, an NDEATH per edge node and no data until online again, then a
/// rebirth with the next bdSeq. Every reading of the window arrives exactly once, those
/// held back first flagged `is_historical`, the live ones at the end not.
#[test]
fn sparkplug_edge_nodes_follow_their_primary_host() {
    let dir = tempdir();
    let broker = Mosquitto::start(dir.path());
    let host = "scada-1";
    let cfg = config(
        dir.path(),
        &format!("[mqtt]\nurl = \"{}\"\nmode = \"sparkplug\"\nprimary_host_id = \"{host}\"\n", broker.url()),
    );
    host_state(broker.port, host, false, 1_000);
    let sub = subscribe(dir.path(), broker.port, "spBv1.0/#", "spBv1.0/test-end", true, Some("genims-test-host-app"));
    let (start, end) = ("2026-03-01T06:00:00Z", "2026-03-01T06:12:00Z");
    let mut stream = genims(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(StreamArgs::iot().sink("mqtt").window(start, end).speed("30").build())
        .env("GENIMS_STATE_DIR", dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = StderrTail::of(&mut stream);
    let pause = |s| std::thread::sleep(Duration::from_secs(s));
    // Each time the host comes online, readings have been held for it (the sink says so
    // when a batch first waits), so the first data after the births is history.
    let holding = "holding readings until the primary host";
    log.wait_for(holding, 1, Duration::from_secs(90));
    host_state(broker.port, host, true, 2_000);
    pause(4);
    host_state(broker.port, host, false, 1_500);
    pause(3);
    let before = log.count(holding);
    host_state(broker.port, host, false, 3_000);
    log.wait_for(holding, before + 1, Duration::from_secs(90));
    host_state(broker.port, host, true, 4_000);
    let st = wait_for(&mut stream, Duration::from_secs(120)).expect("the stream ends at --end");
    let log = log.finish();
    assert!(st.success(), "the stream failed: {log}");
    let got = sub.finish();

    // The broker's order: each STATE, then what the edge nodes did about it.
    let mut states = 0;
    let (mut births, mut deaths) = (Vec::new(), Vec::new());
    let mut after_stale = Vec::new();
    let mut historical_first = Vec::new();
    let mut last_live = None;
    let mut fresh = false;
    for m in &got {
        let topic = m["topic"].as_str().unwrap();
        let kind = topic.split('/').nth(2).unwrap_or("");
        if topic.contains("/STATE/") {
            states += 1;
            continue;
        }
        let bd = || {
            m["payload"]["metrics"].as_array().unwrap().iter().find(|x| x["name"] == "bdSeq").unwrap()["value"]
                .as_u64()
                .unwrap()
        };
        match (states, kind) {
            (1, _) => panic!("{topic} while the primary host was offline at start"),
            (_, "NBIRTH") => {
                births.push((states, bd()));
                fresh = true;
            }
            (_, "NDEATH") => {
                deaths.push((states, bd()));
                if states == 3 {
                    after_stale.push(topic.to_owned());
                }
            }
            (_, "DDATA") => {
                let flags: Vec<bool> =
                    m["payload"]["metrics"].as_array().unwrap().iter().map(|x| x["is_historical"] == true).collect();
                if fresh {
                    historical_first.push((states, flags.iter().all(|h| *h)));
                    fresh = false;
                }
                last_live = Some(flags.iter().all(|h| !*h));
            }
            _ => {}
        }
    }
    assert_eq!(states, 5, "the five STATE messages were seen");
    assert!(after_stale.is_empty(), "a stale offline STATE made nodes leave: {after_stale:?}");
    let nodes = births.iter().filter(|b| b.0 == 2).count();
    assert!(nodes >= 1, "births once the host was online: {births:?}");
    let left: Vec<u64> = deaths.iter().filter(|d| d.0 == 4).map(|d| d.1).collect();
    assert_eq!(left.len(), nodes, "an NDEATH per edge node once the host went offline: {deaths:?}");
    let reborn: Vec<u64> = births.iter().filter(|b| b.0 == 5).map(|b| b.1).collect();
    assert_eq!(reborn.len(), nodes, "a rebirth per edge node when the host was back: {births:?}");
    for bd in &reborn {
        assert!(left.iter().any(|l| l + 1 == *bd), "a rebirth's bdSeq {bd} follows an NDEATH's {left:?}");
    }
    assert!(
        historical_first.iter().all(|h| h.1),
        "the first data after each birth was held back: {historical_first:?}"
    );
    assert_eq!(last_live, Some(true), "the stream caught up: its last data is live");
    let reference_rows = reference(dir.path(), start, end);
    let seen = check_sparkplug(
        &got.iter().filter(|m| !m["topic"].as_str().unwrap().contains("/STATE/")).cloned().collect::<Vec<_>>(),
    );
    let want = readings(&reference_rows["sensor_data"]);
    assert_eq!(seen.readings.len(), want.len(), "every reading of the window arrives");
    for (k, v) in &seen.readings {
        assert_eq!(want.get(k), Some(v), "{k:?}: a reading the backfill of the window has not");
    }
    let mut count: HashMap<(String, u64), usize> = HashMap::new();
    let mut names: HashMap<String, HashMap<u64, String>> = HashMap::new();
    for m in &got {
        let topic = m["topic"].as_str().unwrap();
        if topic.contains("/DBIRTH/") {
            let n = m["payload"]["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (x["alias"].as_u64().unwrap(), x["name"].as_str().unwrap().to_owned()))
                .collect();
            names.insert(topic.replace("/DBIRTH/", "/DDATA/"), n);
        } else if topic.contains("/DDATA/") {
            for x in m["payload"]["metrics"].as_array().unwrap() {
                let name = &names[topic][&x["alias"].as_u64().unwrap()];
                if let Some(sensor) = name.strip_prefix("Sensors/").and_then(|n| n.strip_suffix("/measurement_value")) {
                    *count.entry((sensor.to_owned(), x["timestamp"].as_u64().unwrap())).or_default() += 1;
                }
            }
        }
    }
    // Exactly once: as often as the backfill holds the reading (a `duplicate` data-quality
    // defect stores some twice).
    let mut rows: HashMap<(String, u64), usize> = HashMap::new();
    for r in &reference_rows["sensor_data"] {
        let r: Value = serde_json::from_str(r).unwrap();
        let ms = (time_of(r["timestamp"].as_str().unwrap()) * 1000) as u64;
        *rows.entry((r["sensor_id"].as_str().unwrap().to_owned(), ms)).or_default() += 1;
    }
    let wrong: Vec<_> = count.iter().filter(|(k, n)| rows.get(*k) != Some(n)).take(3).collect();
    assert!(wrong.is_empty(), "readings published another number of times than the backfill holds them: {wrong:?}");
}

#[test]
fn a_broker_that_cannot_be_reached_or_refuses_fails_with_one_line() {
    let dir = tempdir();
    let port = free_port();
    let cfg = config(dir.path(), &format!("[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n"));
    let t = Instant::now();
    let (out, err) =
        run(genims(dir.path()).arg("--config").arg(&cfg).args(["backfill", "--days", "1", "--out", "mqtt"]));
    assert!(!out.status.success());
    assert!(err.contains(&format!("cannot reach the MQTT broker at mqtt://127.0.0.1:{port}")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(t.elapsed() < Duration::from_secs(30));

    // A broker that insists on a password refuses genims's wrong one, without showing it.
    let broker_dir = dir.path().join("auth");
    std::fs::create_dir_all(&broker_dir).unwrap();
    let passwd = broker_dir.join("passwd");
    let st = Command::new("mosquitto_passwd").arg("-b").arg("-c").arg(&passwd).args(["plant", "right-secret"]).status();
    if !st.is_ok_and(|s| s.success()) {
        panic!("mosquitto_passwd is needed (package mosquitto)");
    }
    let port = free_port();
    let conf = broker_dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n", passwd.display()),
    )
    .unwrap();
    let mut auth = Mosquitto { child: Mosquitto::spawn(&conf, port), port, conf };
    let cfg = config(
        dir.path(),
        &format!("[mqtt]\nurl = \"{}\"\nusername = \"plant\"\npassword = \"wrong-secret-xyz\"\n", auth.url()),
    );
    let (out, err) =
        run(genims(dir.path()).arg("--config").arg(&cfg).args(["backfill", "--days", "1", "--out", "mqtt"]));
    assert!(!out.status.success());
    assert!(
        err.contains("refused the connection: bad user name or password") || err.contains("not authorized"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-xyz"), "the password must never be shown: {err}");
    let cfg = config(dir.path(), &format!("[mqtt]\nurl = \"{}\"\nusername = \"plant\"\nqos = 0\n", auth.url()));
    let mut cmd = genims(dir.path());
    cmd.env("GENIMS_MQTT_PASSWORD", "right-secret").arg("--config").arg(&cfg);
    ok(cmd.args(["backfill", "--start", "2026-03-01T00:00:00Z", "--end", "2026-03-01T00:01:00Z", "--out", "mqtt"]));
    auth.child.kill().ok();
}

#[test]
fn tls_to_the_broker_is_verified_and_delivers() {
    let dir = tempdir();
    let d = dir.path();
    certs::ca(d, "mq");
    certs::signed(d, "mq", "broker", "localhost", Some("localhost"));
    certs::ca(d, "other");
    let (plain, secure) = (free_port(), free_port());
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let conf = d.join("tls.conf");
    std::fs::write(
        &conf,
        format!(
            "user {}\nallow_anonymous true\nmax_queued_messages 0\nlistener {plain} 127.0.0.1\nlistener {secure}\n\
             cafile {dir}/mq-ca.crt\ncertfile {dir}/broker.crt\nkeyfile {dir}/broker.key\n",
            user.trim(),
            dir = d.display()
        ),
    )
    .unwrap();
    let broker = Mosquitto { child: Mosquitto::spawn(&conf, secure), port: plain, conf };
    let sub = subscribe(d, broker.port, "genims/#", "genims/test-end", false, None);
    let tls = |ca: &str| {
        config(d, &format!("[mqtt]\nurl = \"mqtts://localhost:{secure}\"\nca_file = \"{}/{ca}-ca.crt\"\n", d.display()))
    };
    let window = ["--start", "2026-03-01T00:00:00Z", "--end", "2026-03-01T00:01:00Z"];
    let out = ok(genims(d).arg("--config").arg(tls("mq")).arg("backfill").args(window).args(["--out", "mqtt"]));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let rows: usize = err
        .lines()
        .filter_map(|l| l.split_whitespace().collect::<Vec<_>>().get(1).and_then(|n| n.parse::<usize>().ok()))
        .sum();
    let got = sub.finish();
    assert!(rows > 10_000, "a minute of the plant: {err}");
    assert_eq!(got.len(), rows, "every row over TLS reaches a subscriber: {err}");

    let (out, err) =
        run(genims(d).arg("--config").arg(tls("other")).arg("backfill").args(window).args(["--out", "mqtt"]));
    assert!(!out.status.success());
    assert!(err.contains(&format!("TLS with the MQTT broker at mqtts://localhost:{secure} failed")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    drop(broker);
}
