//! Output pinned byte for byte: digests of a fixed window in every file format, in
//! PostgreSQL, from a `stream all --speed max` and from a `backfill --injections` replay,
//! compared with the digests recorded in `tests/golden/digests.txt`. A change meant to keep
//! the output (a refactoring) must leave every line as it is; a change meant to alter it
//! records the new digests with `GENIMS_BLESS=1` and says why in its commit.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{digest_at, genims, ok, tempdir, TestDb, ONE_LINE_OF_EACH_TYPE, TABLES};

const WINDOW: [&str; 4] = ["--start", "2026-03-01T20:00:00Z", "--end", "2026-03-02T02:00:00Z"];
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/digests.txt");

/// sha256 of bytes, by coreutils (an independent implementation).
fn sha256(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// One digest per file under `dir` and its subdirectories (by relative path), so a
/// difference names its file.
fn files(dir: &Path, kind: &str, out: &mut BTreeMap<String, String>) {
    for p in common::files_under(dir) {
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        out.insert(format!("{kind}/{rel}"), sha256(&std::fs::read(&p).unwrap()));
    }
}

#[test]
fn every_output_is_byte_for_byte_what_it_was() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), ONE_LINE_OF_EACH_TYPE).unwrap();
    let mut got = BTreeMap::new();
    let rate = ["--fault-rate", "1"];
    for out in ["csv", "jsonl", "sql", "parquet"] {
        ok(genims(d).args(["backfill", "--out", out, "--path", out]).args(rate).args(WINDOW));
        files(&d.join(out), out, &mut got);
    }
    for out in ["json", "sql"] {
        ok(genims(d).args(["seed", "--out", out, "--path", &format!("master.{out}")]));
        got.insert(format!("seed/{out}"), sha256(&std::fs::read(d.join(format!("master.{out}"))).unwrap()));
    }
    let db = TestDb::new("golden");
    ok(genims(d).args(["--postgres-url", &db.url, "schema", "apply", "--partition", "daily"]));
    ok(genims(d).args(["--postgres-url", &db.url, "seed", "--out", "db"]));
    ok(genims(d).args(["--postgres-url", &db.url, "backfill", "--out", "db"]).args(rate).args(WINDOW));
    for table in TABLES {
        got.insert(format!("postgres/{table}"), digest_at(&db.url, table));
    }
    let streamed =
        ok(genims(d).args(["stream", "all", "--sink", "stdout", "--speed", "max"]).args(rate).args(WINDOW)).stdout;
    // A slow reader makes the queue merge ticks per table, so the order of lines depends on
    // timing; their content does not. The digest is of the sorted lines.
    let mut lines: Vec<&[u8]> = streamed.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    got.insert("stream/all-stdout".to_owned(), sha256(&lines.join(&b'\n')));
    let journal = "{\"op\":\"inject\",\"id\":1099511627777,\"machine_id\":\"MCH-000003\",\
                   \"pattern\":\"electrical_fault\",\"at\":\"2026-03-01T21:00:00Z\"}\n";
    std::fs::write(d.join("journal.jsonl"), journal).unwrap();
    ok(genims(d)
        .args(["backfill", "--out", "csv", "--path", "replay", "--injections", "journal.jsonl"])
        .args(rate)
        .args(WINDOW));
    files(&d.join("replay"), "replay", &mut got);

    let text: String = got.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    if std::env::var_os("GENIMS_BLESS").is_some() {
        std::fs::write(GOLDEN, &text).unwrap();
        return;
    }
    let want: BTreeMap<String, String> = std::fs::read_to_string(GOLDEN)
        .expect("tests/golden/digests.txt (GENIMS_BLESS=1 records it)")
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let differ: Vec<&String> = want
        .keys()
        .chain(got.keys())
        .filter(|k| want.get(*k) != got.get(*k))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(differ.is_empty(), "output changed in {} of {} digests: {differ:?}", differ.len(), want.len());
}
