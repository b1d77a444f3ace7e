//! The OPC UA server of `genims stream` (`[opcua] listen`), checked with an independent
//! client (asyncua, tests/tools/opcua_check.py): the tree is the master data, subscriptions
//! through a stream get what a backfill of the window holds (values, source timestamps and
//! the data-quality status codes), security refuses what it should and accepts what it
//! should, and bad settings fail the start with one line.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use common::{free_port, genims, ok, run, tempdir, wait_for, StreamArgs};

const START: &str = "2026-03-01T06:00:00Z";
/// The window the subscriptions are checked over (the stream runs three minutes longer, 6 s
/// at ×30, so the server is still up while a slow client reads the last tick's values).
const END: &str = "2026-03-01 06:10:00";
const STREAM_END: &str = "2026-03-01T06:13:00Z";

/// A realistic plant whose data-quality defects are frequent enough that a 10-minute window
/// holds stale stretches, invalid readings and gateway gaps.
fn config(port: u16, opcua: &str) -> String {
    format!(
        "[faults]\ndifficulty = \"realistic\"\n\n\
         [quality]\nenabled = true\ngaps_per_machine_day = 1.0\ngap_minutes_max = 5\nstale_per_sensor_day = 1.0\n\
         stale_minutes_max = 20\ninvalid_rate = 0.002\n\n\
         [output]\ndir = \"bf\"\n\n\
         [opcua]\nlisten = \"127.0.0.1:{port}\"\n{opcua}"
    )
}

fn checker(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(common::python());
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/opcua_check.py")).args(args);
    c
}

fn check(args: &[&str]) -> Output {
    checker(args).output().expect("run tests/tools/opcua_check.py")
}

fn assert_checked(what: &str, out: &Output, stream: &mut Child) {
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let _ = stream.kill();
        panic!("{what}:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    eprint!("{text}");
}

/// The first line a child writes to its standard output, read byte by byte so that nothing
/// after it is taken from the pipe (empty if the child ends first).
fn first_line(out: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap_or(0) == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

fn spawn_stream(d: &Path, args: &StreamArgs) -> Child {
    genims(d)
        .args(args.build())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stream.log")).unwrap())
        .spawn()
        .expect("spawn genims stream")
}

/// Browsing finds one node per machine and sensor where the master data puts them, with
/// units and ranges; 20 sensors (stale, invalid and gap-hit ones among them) and 5 machines'
/// SCADA variables subscribed through a 10-minute `stream all` at ×30 receive exactly the
/// backfill's values, source timestamps and status codes, and every reading from the
/// subscription's start on.
#[test]
fn the_tree_is_the_master_data_and_subscriptions_get_the_backfill() {
    let dir = tempdir();
    let d = dir.path();
    let port = free_port();
    std::fs::write(d.join("config.toml"), config(port, "anonymous = true\n")).unwrap();
    ok(genims(d).args(["backfill", "--start", START, "--end", STREAM_END, "--out", "csv"]));
    ok(genims(d).args(["seed", "--out", "json"]));
    let args = StreamArgs::all().sink("null").speed("30").window(START, STREAM_END).state();
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let bf = d.join("bf");
    let bf = bf.to_str().unwrap();
    // The subscriber reads the backfill first and says so; the stream starts then, so that
    // the subscriptions see most of a 20 s stream even on a loaded machine.
    let mut subscriber =
        checker(&["subscribe", &url, bf, END]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let said = first_line(subscriber.stdout.as_mut().unwrap());
    let mut stream = spawn_stream(d, &args);
    // Two sessions at once: one browses the tree while the other's subscriptions run.
    let browsing = checker(&["browse", &url, bf]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut sub = subscriber.wait_with_output().unwrap();
    sub.stdout = [said.into_bytes(), sub.stdout].concat();
    assert_checked("subscriptions through the stream", &sub, &mut stream);
    let text = String::from_utf8_lossy(&sub.stdout);
    assert!(
        text.contains("stale") && text.contains("invalid") && text.contains("gap"),
        "every defect's status: {text}"
    );
    let tree = browsing.wait_with_output().unwrap();
    assert_checked("browsing the tree", &tree, &mut stream);
    let status = wait_for(&mut stream, Duration::from_secs(60)).expect("the stream ends at --end");
    let log = std::fs::read_to_string(d.join("stream.log")).unwrap();
    assert!(status.success(), "stream failed: {log}");
    assert!(log.contains("serving the plant over OPC UA"), "{log}");
}

/// A small realistic plant: its stream to stdout stays small at ×300.
const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 200\nemployees = 2000\nline_products = 4\n\n";

/// Once a ×120 stream is past 07:00, `HistoryRead` of 06:00–07:00 for 20 sensors and 5
/// machines' SCADA variables equals the backfill (also read in pages through continuation
/// points); `InjectFault` through a method call makes an episode (a second is refused); the
/// stream's rows then equal `backfill --injections` of its journal, the episode's label
/// among them. Ground-truth phases are expected from the stream's clock at the
/// subscription on (a loaded machine connects late).
#[test]
fn history_is_the_backfill_and_a_method_injection_replays() {
    let dir = tempdir();
    let d = dir.path();
    let port = free_port();
    let cfg = config(port, "anonymous = true\nhistory_minutes = 120\nground_truth = true\n")
        .replace("[faults]", &format!("{SMALL_PLANT}[faults]"));
    std::fs::write(d.join("config.toml"), cfg).unwrap();
    let (a, b) = ("2026-03-01T06:00:00Z", "2026-03-01T07:40:00Z");
    // At fault rate 1 the window holds phases of episodes under way (one turns critical at 06:53).
    ok(genims(d).args(["backfill", "--start", a, "--end", b, "--out", "csv", "--fault-rate", "1"]));
    ok(genims(d).args(["seed", "--out", "json"]));
    let master: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("bf/genims_master_data.json")).unwrap()).unwrap();
    let machine = master["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["machine_type"] == "cnc_lathe" || m["machine_type"] == "cnc_mill")
        .expect("the plant has a CNC machine")["machine_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // ×120: the 100-minute window lasts 50 s, so that a client slowed by a loaded machine (it
    // subscribed 11 s in, at 06:57, at ×300) still sees the hour it checks go by.
    let args = StreamArgs::all().sink("stdout").speed("120").window(a, b).fault_rate("1").state();
    let mut stream = genims(d)
        .args(args.build())
        .stdout(std::fs::File::create(d.join("stream.jsonl")).unwrap())
        .stderr(std::fs::File::create(d.join("stream.log")).unwrap())
        .spawn()
        .unwrap();
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let bf = d.join("bf");
    let out = check(&[
        "history",
        &url,
        bf.to_str().unwrap(),
        "2026-03-01 06:00:00",
        "2026-03-01 07:00:00",
        &machine,
        "bearing_failure",
    ]);
    assert_checked("history and methods", &out, &mut stream);
    let text = String::from_utf8_lossy(&out.stdout);
    let episode: i64 =
        text.lines().find_map(|l| l.strip_prefix("EPISODE ")).expect("an episode id").trim().parse().unwrap();
    let status = wait_for(&mut stream, Duration::from_secs(120)).expect("the stream ends at --end");
    assert!(status.success(), "{}", std::fs::read_to_string(d.join("stream.log")).unwrap());
    let journal = std::fs::read_to_string(d.join("state/all.injections.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1, "the method's injection is journaled: {journal}");
    ok(genims(d)
        .args(["backfill", "--out", "jsonl", "--path", "replay", "--start", a, "--end", b, "--fault-rate", "1"])
        .args(["--injections", "state/all.injections.jsonl"]));
    let mut replayed: Vec<String> = Vec::new();
    for e in std::fs::read_dir(d.join("replay")).unwrap() {
        replayed.extend(std::fs::read_to_string(e.unwrap().path()).unwrap().lines().map(str::to_owned));
    }
    let mut streamed: Vec<String> =
        std::fs::read_to_string(d.join("stream.jsonl")).unwrap().lines().map(str::to_owned).collect();
    replayed.sort();
    streamed.sort();
    let (only_streamed, only_replayed) = differences(&streamed, &replayed);
    assert!(
        only_streamed.is_empty() && only_replayed.is_empty(),
        "the stream ({} rows) and the replay ({} rows) differ: {} rows only streamed, e.g. {:?}; {} only replayed, e.g. {:?}",
        streamed.len(),
        replayed.len(),
        only_streamed.len(),
        only_streamed.first(),
        only_replayed.len(),
        only_replayed.first()
    );
    let label = format!("\"episode_id\":{episode},");
    assert!(
        streamed.iter().any(|l| l.contains(&label) && l.contains(&machine)),
        "the injected episode's label is streamed"
    );
}

/// Makes a file readable by its owner only, as a file of passwords must be.
fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The lines of each sorted list the other lacks (as multisets).
fn differences<'a>(a: &'a [String], b: &'a [String]) -> (Vec<&'a String>, Vec<&'a String>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => (i, j) = (i + 1, j + 1),
            (Some(x), Some(y)) if x < y => {
                only_a.push(x);
                i += 1;
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                only_b.push(y);
                j += 1;
            }
            (Some(x), None) => {
                only_a.push(x);
                i += 1;
            }
            (None, None) => break,
        }
    }
    (only_a, only_b)
}

/// With anonymous access off and a users file: a client certificate nobody trusted is
/// refused (and lands in the store's rejected/), is accepted once moved to trusted/, with
/// SignAndEncrypt under Basic256Sha256 and Aes256_Sha256_RsaPss; anonymous access and a
/// wrong password are refused. The server's certificate is made on first start.
#[test]
fn security_refuses_strangers_and_accepts_trusted_clients() {
    let dir = tempdir();
    let d = dir.path();
    let port = free_port();
    std::fs::write(d.join("users.txt"), "# who may connect\noperator:correct-horse-0123\n").unwrap();
    private(&d.join("users.txt"));
    std::fs::write(d.join("config.toml"), config(port, "users_file = \"users.txt\"\n")).unwrap();
    let args = StreamArgs::all().sink("null").speed("60").window(START, "2026-03-01T08:00:00Z").state();
    let mut stream = spawn_stream(d, &args);
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let pki = d.join("state/opcua-pki");
    let out = check(&["secure", &url, pki.to_str().unwrap(), "operator", "correct-horse-0123"]);
    assert_checked("security", &out, &mut stream);
    assert!(pki.join("own/cert.der").is_file(), "the server's certificate is made in the state directory");
    let _ = stream.kill();
    let _ = stream.wait();
    let log = std::fs::read_to_string(d.join("stream.log")).unwrap();
    assert!(!log.contains("correct-horse"), "a password in the log: {log}");
}

/// A taken port, an unreadable certificate, an unknown policy, an exposed server without
/// security and a server nobody may enter each fail the start with one line and exit 1,
/// before any sink opens.
#[test]
fn bad_opcua_settings_fail_the_start_with_one_line() {
    let dir = tempdir();
    let d = dir.path();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let free = free_port();
    let cases: [(String, &str); 6] = [
        (format!("listen = \"127.0.0.1:{busy}\"\nanonymous = true\n"), "cannot serve OPC UA on 127.0.0.1"),
        (
            format!("listen = \"127.0.0.1:{free}\"\nanonymous = true\ncertificate = \"nope.der\"\nprivate_key = \"nope.pem\"\n"),
            "[opcua] certificate nope.der: not a readable DER certificate",
        ),
        (
            format!("listen = \"127.0.0.1:{free}\"\nanonymous = true\nsecurity = [\"none\", \"basic128rsa15\"]\n"),
            "opcua.security: `basic128rsa15` is not one of none, basic256sha256, aes256_sha256_rsapss",
        ),
        (
            format!("listen = \"0.0.0.0:{free}\"\nanonymous = true\nsecurity = \"none\"\n"),
            "is reachable from other hosts, but [opcua] security offers only `none`",
        ),
        (format!("listen = \"127.0.0.1:{free}\"\n"), "[opcua] accepts nobody"),
        (
            format!("listen = \"127.0.0.1:{free}\"\nusers_file = \"open-users.txt\"\n"),
            "[opcua] users_file open-users.txt may be read by other users (mode 644): chmod 600 it",
        ),
    ];
    std::fs::write(d.join("open-users.txt"), "operator:secret-password-1\n").unwrap();
    std::fs::set_permissions(d.join("open-users.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    for (opcua, says) in cases {
        std::fs::write(d.join("config.toml"), format!("[opcua]\n{opcua}")).unwrap();
        let (out, stderr) =
            run(genims(d).args(StreamArgs::all().sink("stdout").window(START, STREAM_END).state().build()));
        assert_eq!(out.status.code(), Some(1), "{opcua}: {stderr}");
        assert!(stderr.contains(says), "{opcua}: expected `{says}` in: {stderr}");
        assert_eq!(stderr.matches("genims: error:").count(), 1, "one error for {opcua}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing written before the refusal: {}", String::from_utf8_lossy(&out.stdout));
        assert!(!stderr.contains("secret-password"), "a password in a message: {stderr}");
    }
    drop(taken);
}
