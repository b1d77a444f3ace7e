//! A full disk is one clear error, a non-zero exit, and no half-written file. The test
//! mounts a 2 MB tmpfs (it needs root, as CI and the developers' machines have).

use crate::common;

use common::{genims, run, tempdir};

struct TinyFs(std::path::PathBuf);

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_one_line_and_leaves_no_partial_files() {
    let dir = tempdir();
    let mnt = dir.path().join("tiny");
    std::fs::create_dir(&mnt).unwrap();
    let mounted =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"]).arg(&mnt).status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "mounting a tmpfs needs root: run the tests as root (make test in CI does)"
    );
    let _guard = TinyFs(mnt.clone());
    std::fs::write(
        dir.path().join("config.toml"),
        "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n",
    )
    .unwrap();
    let out_dir = mnt.join("out");
    let (out, err) = run(genims(dir.path()).arg("backfill").args(["--days", "1", "--path"]).arg(&out_dir));
    assert!(!out.status.success(), "a full disk must fail the run");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "no partial files may remain: {left:?}");
    // Parquet too, its cause said once (the writer's error wraps the I/O error).
    let pq = mnt.join("pq");
    let (out, err) =
        run(genims(dir.path()).arg("backfill").args(["--days", "1", "--out", "parquet", "--path"]).arg(&pq));
    assert!(!out.status.success(), "a full disk must fail the Parquet run");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(err.matches("No space left on device").count(), 1, "the cause once: {err}");
    let left: Vec<_> = std::fs::read_dir(&pq).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "no partial Parquet files may remain: {left:?}");
    let (out, err) =
        run(genims(dir.path()).args(["--config", "/dev/null", "seed", "--path"]).arg(mnt.join("big.json")));
    // The master JSON (about 7 MB) cannot fit either.
    assert!(!out.status.success() && err.contains("No space left on device"), "{err}");
    assert!(!mnt.join("big.json").exists());
}

/// The smallest plant the plant model allows (one factory of four lines).
const TINY_PLANT: &str = "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 170\nemployees = 2000\n\
    products = 3\ncustomers = 2\nline_products = 4\ncustomer_products = 6\n\n[faults]\ndifficulty = \"easy\"\n";

/// PostgreSQL's data disk fills while a stream writes to it: the stream keeps its records
/// (queue, then back-pressure), logs the server's message with what to do — not once per
/// retry — and, when space returns, delivers everything exactly once by itself. The
/// database lives in a tablespace on a 96 MB tmpfs that a ballast file mostly fills; the
/// write-ahead log stays on the main disk, as on a server whose data volume fills.
#[test]
fn a_full_database_disk_holds_the_stream_until_space_returns_and_nothing_is_lost() {
    use common::{ok, wait_for, Cluster, StreamArgs, TestDb, TABLES};
    use std::time::{Duration, Instant};
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), TINY_PLANT).unwrap();
    let cluster = Cluster::start_new();
    let mnt = cluster.dir.path().join("tiny");
    std::fs::create_dir(&mnt).unwrap();
    let mounted =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=96m", "tmpfs"]).arg(&mnt).status();
    assert!(mounted.is_ok_and(|s| s.success()), "mounting a tmpfs needs root: run the tests as root");
    let _guard = TinyFs(mnt.clone());
    cluster.own(&mnt);
    let mut admin = postgres::Client::connect(&cluster.socket("postgres"), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE TABLESPACE tiny LOCATION '{}'", mnt.display())).unwrap();
    admin.batch_execute("CREATE DATABASE genims TABLESPACE tiny").unwrap();
    let url = cluster.url("genims");
    ok(genims(d).args(["--postgres-url", &url, "schema", "apply"]));
    ok(genims(d).args(["--postgres-url", &url, "seed", "--out", "db"]));
    // Leave about 12 MB: less than an hour of the tiny plant's readings with their indexes.
    let free = nix_free(&mnt);
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![1u8; (free - 12 * 1024 * 1024) as usize]).unwrap();
    let (a, b) = ("2026-03-04T06:00:00Z", "2026-03-04T08:00:00Z");
    let args =
        StreamArgs::all().postgres(&url).sink("postgres").speed("max").fault_rate("1").window(a, b).state().build();
    let log = std::fs::File::create(d.join("stream.log")).unwrap();
    let mut child = genims(d).args(&args).stdout(std::process::Stdio::null()).stderr(log).spawn().unwrap();
    let read_log = || std::fs::read_to_string(d.join("stream.log")).unwrap_or_default();
    let started = Instant::now();
    while !read_log().contains("delivery failed, will retry") {
        assert!(child.try_wait().unwrap().is_none(), "the stream must wait for space, not end: {}", read_log());
        assert!(started.elapsed() < Duration::from_secs(120), "the disk never filled: {}", read_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Some retries pass while the disk stays full.
    std::thread::sleep(Duration::from_secs(6));
    assert!(child.try_wait().unwrap().is_none(), "still waiting: {}", read_log());
    let text = read_log();
    assert!(text.contains("No space left on device"), "the server's own message: {text}");
    assert!(text.contains("out of disk space") && text.contains("genims prune"), "what to do: {text}");
    assert!(text.matches("delivery failed").count() <= 4, "not a line per retry: {text}");
    std::fs::remove_file(&ballast).unwrap();
    let status = wait_for(&mut child, Duration::from_secs(180)).expect("the stream finishes once space returns");
    assert!(status.success(), "{}", read_log());
    assert!(read_log().contains("delivering again"), "{}", read_log());
    let whole = TestDb::new("disk_full_ref");
    ok(genims(d).args(["--postgres-url", &whole.url, "schema", "apply"]));
    ok(genims(d).args(["--postgres-url", &whole.url, "seed", "--out", "db"]));
    common::backfill_db(d, &whole.url, a, b);
    for table in TABLES {
        assert_eq!(
            common::digest_at(&url, table),
            whole.digest(table),
            "{table}: a stream through a full disk equals one backfill"
        );
    }
}

/// Bytes free on the file system holding `path`.
fn nix_free(path: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df").args(["-B1", "--output=avail"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}
