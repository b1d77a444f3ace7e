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
