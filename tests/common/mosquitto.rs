//! A private Mosquitto broker for a test, and an independent subscriber (paho-mqtt, in
//! tests/tools/mqtt_sub.py) that records every message it receives.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, python, signal, wait_for};

/// A private Mosquitto on a free loopback port, its sessions persisted in its directory
/// (so a restart keeps a subscriber's queued QoS 1 messages), queues unbounded.
pub struct Mosquitto {
    pub child: Child,
    pub port: u16,
    pub conf: PathBuf,
}

fn mosquitto_bin() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").is_file() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

impl Mosquitto {
    pub fn start(dir: &Path) -> Mosquitto {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        let data = dir.join("mosquitto-data");
        std::fs::create_dir_all(&data).unwrap();
        // Run as root, Mosquitto would switch to its own user, which cannot write here.
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
                 max_queued_messages 0\nmax_inflight_messages 0\nuser {}\n",
                data.display(),
                user.trim()
            ),
        )
        .unwrap();
        let child = Mosquitto::spawn(&conf, port);
        Mosquitto { child, port, conf }
    }

    /// Starts Mosquitto with `conf` and waits until it listens on `port`.
    pub fn spawn(conf: &Path, port: u16) -> Child {
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (make test installs it)");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "mosquitto did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Stops the broker (SIGTERM: it saves its sessions), and starts it again after `down`.
    pub fn restart(&mut self, down: Duration) {
        signal(self.child.id(), "TERM");
        assert!(wait_for(&mut self.child, Duration::from_secs(10)).is_some(), "mosquitto did not stop");
        std::thread::sleep(down);
        self.child = Mosquitto::spawn(&self.conf, self.port);
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The independent subscriber, running until [`Subscriber::finish`].
pub struct Subscriber {
    child: Child,
    out: PathBuf,
    port: u16,
    /// A topic its filter matches: a message there ends it.
    end: String,
}

/// Subscribes to `filter` at QoS 1 and waits until the subscription holds; `end` is a topic
/// the filter matches, where [`Subscriber::finish`] publishes the message that ends it. With
/// a client id the session is persistent (a broker restart loses nothing queued for it).
pub fn subscribe(
    dir: &Path,
    port: u16,
    filter: &str,
    end: &str,
    sparkplug: bool,
    client_id: Option<&str>,
) -> Subscriber {
    let n = std::fs::read_dir(dir).unwrap().count();
    let out = dir.join(format!("received-{n}.jsonl"));
    let mut cmd = Command::new(python());
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/mqtt_sub.py"))
        .args(["sub", "127.0.0.1", &port.to_string(), filter])
        .arg(&out)
        .args(["--end-topic", end]);
    if sparkplug {
        cmd.arg("--sparkplug");
    }
    if let Some(id) = client_id {
        cmd.args(["--client-id", id]);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "ready", "the subscriber did not subscribe");
    Subscriber { child, out, port, end: end.to_owned() }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Subscriber {
    /// Every message received, in order. Call it once the broker acknowledged everything
    /// the test waits for: the end message queues behind those, so it arrives last.
    pub fn finish(mut self) -> Vec<Value> {
        let sent = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1", "-t", &self.end, "-m", "end"])
            .status()
            .expect("mosquitto_pub runs (package mosquitto-clients)");
        assert!(sent.success(), "could not publish the end message");
        // A subscriber working through a backlog (a loaded machine) keeps writing: wait while
        // it makes progress.
        let mut size = 0;
        let st = loop {
            if let Some(st) = wait_for(&mut self.child, Duration::from_secs(60)) {
                break st;
            }
            let now = std::fs::metadata(&self.out).map_or(0, |m| m.len());
            assert!(now > size, "the subscriber made no progress for 60 s");
            size = now;
        };
        assert!(st.success(), "the subscriber failed: {st}");
        std::fs::read_to_string(&self.out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}
