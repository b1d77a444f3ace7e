//! genims against Kafka over TLS, and against a broker that requires SASL.
//!
//! tansu 0.6.0 cannot serve TLS itself (its `--cert` and `--key` flags exclude each other),
//! so a TLS terminator sits in front of it: socat's OpenSSL listener, with a CA and server
//! certificate made at test time, and the broker advertising the terminator's address. Over
//! it, backfill and a stream (through an outage of the TLS endpoint) deliver every record,
//! and kafka-python — an independent client — reads them back over TLS; a terminator that
//! demands a client certificate gets one; each bad input fails with one line naming the
//! broker and the cause, within the connect timeout.
//!
//! SASL: tansu 0.6.0's only storage engine in the prebuilt broker keeps no SCRAM
//! credentials, so no login can succeed against it; what can be tested against the real
//! broker is that SCRAM and PLAIN exchanges that it refuses fail clearly.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::certs::{ca, expired, signed};
use common::{free_port, genims, ok, python, run, slow_link, tempdir, topic_of, wait_for, Broker, StreamArgs, TABLES};

const PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n\n\
     [stream]\nstats_interval_s = 1\nbuffer_mb = 1\nlinger_ms = 50\n";

/// socat's OpenSSL listener on `port` forwarding to `upstream`, killed when dropped.
struct Terminator {
    child: Child,
    port: u16,
}

impl Terminator {
    /// `client_ca`: demand a client certificate signed by it.
    fn start(port: u16, certs: &Path, name: &str, client_ca: Option<&str>, upstream: u16) -> Terminator {
        let f = |n: &str| certs.join(n).display().to_string();
        let verify = match client_ca {
            Some(ca) => format!("verify=1,cafile={}", f(ca)),
            None => "verify=0".to_owned(),
        };
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},{verify}",
            f(&format!("{name}.crt")),
            f(&format!("{name}.key"))
        );
        use std::os::unix::process::CommandExt as _;
        // Its own process group: socat serves each connection in a child of its own, and
        // stopping the terminator must cut the connections it serves too.
        let child = Command::new("socat")
            .args([&listen, &format!("TCP:127.0.0.1:{upstream}")])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat runs (make test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "socat did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Terminator { child, port }
    }

    fn stop(&mut self) {
        let _ =
            Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A broker behind a TLS terminator, with the certificates a client needs.
struct Site {
    certs: tempfile::TempDir,
    broker: Broker,
    tls: Terminator,
}

impl Site {
    fn start(client_ca: Option<&str>) -> Site {
        let certs = tempdir();
        let c = certs.path();
        ca(c, "good");
        ca(c, "other");
        signed(c, "good", "server", "localhost", Some("localhost"));
        signed(c, "good", "client", "genims", None);
        expired(c, "good", "stale", "localhost");
        let port = free_port();
        let broker = Broker::start_advertised(free_port(), &format!("localhost:{port}"));
        let tls = Terminator::start(port, c, "server", client_ca, broker.port());
        Site { certs, broker, tls }
    }

    fn file(&self, name: &str) -> String {
        self.certs.path().join(name).display().to_string()
    }

    fn bootstrap(&self) -> String {
        format!("localhost:{}", self.tls.port)
    }

    /// config.toml for TLS to `brokers`, trusting `ca`, with `extra` `[kafka]` lines.
    fn config(&self, dir: &Path, brokers: &str, ca: &str, extra: &str) {
        let text = format!(
            "{PLANT}\n[kafka]\nbrokers = [\"{brokers}\"]\npartitions = 3\nsecurity_protocol = \"ssl\"\n\
             ssl_ca_location = \"{}\"\n{extra}",
            self.file(ca)
        );
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }
}

/// Runs genims expecting a failure: one line, naming `broker` and `cause`, within the
/// connect timeout (generously bounded: the point is that nothing hangs).
fn refused(cmd: &mut Command, broker: &str, cause: &str) -> String {
    let t = Instant::now();
    let (out, err) = run(cmd);
    let took = t.elapsed();
    assert!(!out.status.success(), "expected a failure ({cause}), it worked");
    let line = err.trim();
    assert_eq!(line.lines().count(), 1, "one line for {cause}: {line}");
    assert!(line.contains(broker), "the broker {broker} is named: {line}");
    assert!(line.to_lowercase().contains(&cause.to_lowercase()), "the cause `{cause}` is named: {line}");
    assert!(took < Duration::from_secs(30), "{cause}: failed after {took:?}, not within the connect timeout");
    line.to_owned()
}

/// A refused login over a link with a long round trip still names its cause: each SCRAM
/// attempt takes seconds there, and the connect timeout must report the broker's refusal,
/// not "cannot reach".
#[test]
fn a_login_refused_over_a_slow_link_keeps_its_cause() {
    let port = free_port();
    let link = slow_link(&format!("127.0.0.1:{port}"), Duration::from_millis(250));
    let _broker = Broker::start_with(port, &link, &["--authentication"]);
    let dir = tempdir();
    refused(&mut sasl_backfill(dir.path(), &link, "SCRAM-SHA-512", "Not-the-pw-4242"), &link, "unknown user");
}

/// A backfill to Kafka at `broker` over SASL (plaintext) as user `genims` with `password`.
fn sasl_backfill(d: &Path, broker: &str, mechanism: &str, password: &str) -> Command {
    std::fs::write(
        d.join("config.toml"),
        format!(
            "{PLANT}\n[kafka]\nbrokers = [\"{broker}\"]\nsecurity_protocol = \"sasl_plaintext\"\n\
             sasl_mechanism = \"{mechanism}\"\nsasl_username = \"genims\"\n"
        ),
    )
    .unwrap();
    let mut cmd = genims(d);
    cmd.env("GENIMS_KAFKA_SASL_PASSWORD", password).args([
        "backfill",
        "--out",
        "kafka",
        "--end",
        "2026-03-05T00:05:00Z",
    ]);
    cmd
}

/// The backfill of `[a, b)` at fault rate 1 as JSON Lines, added to `out`: table → lines.
fn backfill_lines(dir: &Path, a: &str, b: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    let path = format!("bf-{}", a.replace(':', ""));
    ok(genims(dir).args([
        "backfill",
        "--out",
        "jsonl",
        "--path",
        &path,
        "--fault-rate",
        "1",
        "--start",
        a,
        "--end",
        b,
    ]));
    common::jsonl_values(&dir.join(&path), out);
}

/// Every record of the tables' topics, read by kafka-python over TLS: topic → (key, value).
fn read_back(site: &Site) -> BTreeMap<String, Vec<(String, serde_json::Value)>> {
    let tool = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/kafka_read.py");
    let topics: Vec<&str> = TABLES.iter().map(|t| topic_of(t)).collect();
    let out = Command::new(python())
        .arg(tool)
        .arg(site.bootstrap())
        .args(&topics)
        .args(["--protocol", "SSL", "--cafile", &site.file("good-ca.crt")])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "kafka-python reads over TLS: {}", String::from_utf8_lossy(&out.stderr));
    let mut got: BTreeMap<String, Vec<(String, serde_json::Value)>> = BTreeMap::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let key = v["key"].as_str().unwrap_or_default().to_owned();
        got.entry(v["topic"].as_str().unwrap().to_owned()).or_default().push((key, v["value"].clone()));
    }
    got
}

/// Backfill and a stream over verified TLS — the stream through a restart of the TLS
/// endpoint — deliver every row of their windows, which an independent client reads back
/// over TLS record for record.
#[test]
fn backfill_and_stream_deliver_over_tls_and_an_independent_client_reads_them_back() {
    let mut site = Site::start(None);
    let dir = tempdir();
    let d = dir.path();
    site.config(d, &site.bootstrap(), "good-ca.crt", "");
    let (a, b, c) = ("2026-03-05T00:00:00Z", "2026-03-05T00:30:00Z", "2026-03-05T01:30:00Z");
    ok(genims(d).args(["backfill", "--out", "kafka", "--fault-rate", "1", "--start", a, "--end", b]));
    let args = StreamArgs::all().sink("kafka").speed("200").fault_rate("1").window(b, c).state().build();
    let err = std::fs::File::create(d.join("stream.log")).unwrap();
    // With a horizon: the stream reads the settings of the topics the backfill made, over TLS.
    let mut child =
        genims(d).env("GENIMS_RETENTION_DAYS", "7").args(args).stdout(Stdio::null()).stderr(err).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let port = site.tls.port;
    site.tls.stop();
    // Longer than a produce request's retries: the daemon's own reconnection (over TLS,
    // re-listing the topics) must bring it back.
    std::thread::sleep(Duration::from_secs(10));
    site.tls = Terminator::start(port, site.certs.path(), "server", None, site.broker.port());
    let status = wait_for(&mut child, Duration::from_secs(180));
    let log = std::fs::read_to_string(d.join("stream.log")).unwrap();
    if status.is_none() {
        let _ = child.kill();
    }
    assert!(status.is_some_and(|s| s.success()), "the stream finishes after the TLS endpoint returns: {log}");
    assert!(log.contains("delivery failed, will retry"), "the outage was noticed: {log}");
    let other = log.lines().filter(|l| l.contains("keep their own retention")).collect::<Vec<_>>();
    assert!(
        other.len() == 1 && other[0].contains("genims.sensor.data (the broker's default)"),
        "one warning names the backfill's topics, read over TLS: {log}"
    );

    // Each run's own window (a stream that starts with no destination state estimates the
    // cumulative counters it starts from, so it is compared with a backfill that does too).
    let mut expected = BTreeMap::new();
    backfill_lines(d, a, b, &mut expected);
    backfill_lines(d, b, c, &mut expected);
    let got = read_back(&site);
    for table in TABLES {
        let records = got.get(topic_of(table)).cloned().unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (key, value) in &records {
            if let Some(m) = value["machine_id"].as_str() {
                assert_eq!(m, key, "{table}: keyed by machine");
            }
            seen.insert(value.to_string());
        }
        let want: BTreeSet<String> = expected.get(table).cloned().unwrap_or_default();
        let missing = want.difference(&seen).count();
        let foreign = seen.difference(&want).count();
        assert!(
            missing == 0 && foreign == 0,
            "{table}: {} records read over TLS, {missing} of the backfill's {} missing, {foreign} not the backfill's \
             (e.g. missing {:?}, not the backfill's {:?})",
            records.len(),
            want.len(),
            want.difference(&seen).next(),
            seen.difference(&want).next()
        );
    }
    assert!(expected["sensor_data"].len() > 10_000, "the window holds a real amount of data");
}

/// A terminator that demands a client certificate accepts genims with one; each bad TLS
/// input fails with one line naming the broker and the cause.
#[test]
fn client_certificates_work_and_every_bad_tls_input_fails_clearly() {
    let site = Site::start(Some("good-ca.crt"));
    let dir = tempdir();
    let d = dir.path();
    let window = ["backfill", "--out", "kafka", "--start", "2026-03-05T00:00:00Z", "--end", "2026-03-05T00:05:00Z"];
    let client = format!(
        "ssl_certificate_location = \"{}\"\nssl_key_location = \"{}\"\n",
        site.file("client.crt"),
        site.file("client.key")
    );
    let boot = site.bootstrap();
    site.config(d, &boot, "good-ca.crt", &client);
    ok(genims(d).args(window));

    // Without a client certificate the terminator refuses the handshake.
    site.config(d, &boot, "good-ca.crt", "");
    refused(genims(d).args(window), &boot, "certificate");
    // A server certificate from a CA genims does not trust.
    site.config(d, &boot, "other-ca.crt", &client);
    refused(genims(d).args(window), &boot, "UnknownIssuer");
    // The host name is not the certificate's; without hostname verification it works.
    let by_ip = format!("127.0.0.1:{}", site.tls.port);
    site.config(d, &by_ip, "good-ca.crt", &client);
    refused(genims(d).args(window), &by_ip, "not valid for name");
    site.config(d, &by_ip, "good-ca.crt", &format!("{client}ssl_endpoint_identification_algorithm = \"none\"\n"));
    ok(genims(d).args(window));
    // A client key that is not the certificate's; a CA file that is not there.
    let wrong_key = format!(
        "ssl_certificate_location = \"{}\"\nssl_key_location = \"{}\"\n",
        site.file("client.crt"),
        site.file("server.key")
    );
    site.config(d, &boot, "good-ca.crt", &wrong_key);
    let (out, err) = run(genims(d).args(window));
    assert!(!out.status.success() && err.trim().lines().count() == 1 && err.contains("do not go together"), "{err}");
    let text = std::fs::read_to_string(d.join("config.toml"))
        .unwrap()
        .replace(&site.file("good-ca.crt"), "/nonexistent/ca.pem");
    std::fs::write(d.join("config.toml"), text).unwrap();
    let (out, err) = run(genims(d).args(window));
    assert!(!out.status.success() && err.contains("cannot read ssl_ca_location /nonexistent/ca.pem"), "{err}");

    // TLS to the broker's plaintext port.
    let plain = site.broker.addr.clone();
    site.config(d, &plain, "good-ca.crt", &client);
    refused(genims(d).args(window), &plain, "TLS");
    // Plaintext to the TLS port.
    std::fs::write(d.join("config.toml"), format!("{PLANT}\n[kafka]\nbrokers = [\"{boot}\"]\n")).unwrap();
    refused(genims(d).args(window), &boot, "TLS");
}

/// An expired server certificate is refused, naming the cause.
#[test]
fn an_expired_broker_certificate_is_refused() {
    let site = Site::start(None);
    let stale = Terminator::start(free_port(), site.certs.path(), "stale", None, site.broker.port());
    let dir = tempdir();
    let boot = format!("localhost:{}", stale.port);
    site.config(dir.path(), &boot, "good-ca.crt", "");
    refused(genims(dir.path()).args(["backfill", "--out", "kafka", "--end", "2026-03-05T00:05:00Z"]), &boot, "expired");
}

/// Against a broker that requires SASL, a login it refuses — an unknown SCRAM user or
/// a wrong password, a mechanism it does not offer — is one line naming the broker and the
/// cause, and never the password.
#[test]
fn sasl_logins_the_broker_refuses_fail_clearly() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _broker = Broker::start_with(port, &addr, &["--authentication"]);
    let dir = tempdir();
    let d = dir.path();
    let secret = "Not-the-pw-4242";
    for (mechanism, cause) in
        [("SCRAM-SHA-512", "unknown user"), ("SCRAM-SHA-256", "unknown user"), ("PLAIN", "refused the SASL login")]
    {
        let line = refused(&mut sasl_backfill(d, &addr, mechanism, secret), &addr, cause);
        assert!(!line.contains(secret), "{line}");
    }
    // Plaintext to the SASL listener: the broker closes the connection, and genims asks
    // whether it wants a login (or TLS), not only TLS.
    std::fs::write(d.join("config.toml"), format!("{PLANT}\n[kafka]\nbrokers = [\"{addr}\"]\n")).unwrap();
    let plain = genims(d).args(["backfill", "--out", "kafka", "--end", "2026-03-05T00:05:00Z"]).output().unwrap();
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success() && err.contains("sasl_plaintext"), "the SASL listener is suggested: {err}");
}
