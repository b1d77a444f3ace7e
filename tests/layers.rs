//! The shape of `src/`, checked from the source: no top-level module imports one that imports
//! it (directly or through others), and the engine (`sim`, `plant`, `faults`) imports no
//! configuration, database, sink or command, reads no environment variable and names no flag.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its code (not its tests or comments) names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in crate::common::files_under(&src) {
        if p.extension().is_none_or(|x| x != "rs") || p.file_name().unwrap() == "main.rs" {
            continue;
        }
        let rel = p.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        let entry = out.entry(top.clone()).or_default();
        for name in crate_paths(&code_of(&std::fs::read_to_string(&p).unwrap())) {
            if name != top {
                entry.insert(name);
            }
        }
    }
    out
}

/// A file's code without its unit tests and comments.
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first segment of every `crate::…` path in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(i, _)| {
            let rest = &code[i + "crate::".len()..];
            rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())].to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let deps = imports();
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            if m == to {
                return true;
            }
            for n in deps.get(&m).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        false
    };
    let circles: Vec<String> = deps
        .iter()
        .flat_map(|(a, bs)| bs.iter().filter(|b| reaches(b, a)).map(move |b| format!("{a} → {b} → … → {a}")))
        .collect();
    assert!(circles.is_empty(), "import circles among src/ modules: {circles:?}");
}

#[test]
fn the_engine_knows_no_settings_database_sink_command_environment_or_flag() {
    let deps = imports();
    let upper = ["config", "db", "sink", "cli", "request", "backfill", "stream", "seed", "evaluate", "fault", "output"];
    for engine in ["sim", "plant", "faults"] {
        let bad: Vec<&String> = deps[engine].iter().filter(|d| upper.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "{engine} imports {bad:?}: the engine sits below them");
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for dir in ["sim", "plant"] {
        let mut stack = vec![src.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let code = code_of(&std::fs::read_to_string(&p).unwrap());
                assert!(!code.contains("env::var"), "{}: the engine reads no environment variable", p.display());
                let flag = code
                    .match_indices("\"--")
                    .find(|(i, _)| code[i + 3..].starts_with(|c: char| c.is_ascii_lowercase()));
                assert!(flag.is_none(), "{}: the engine names no flag", p.display());
            }
        }
    }
}
