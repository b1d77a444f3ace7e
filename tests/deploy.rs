//! The deployment files are valid and agree with each other and with genims: the systemd
//! units pass `systemd-analyze verify`; the Kubernetes manifests parse (PyYAML, offline),
//! the names they refer to exist, the shard counts agree, the config they mount is one genims
//! accepts, and every shard index the orchestrators hand out selects a distinct shard.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use common::{genims, ok, python, run, tempdir};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `systemd-analyze verify` of `unit` as instance `instance`, with ExecStart pointing at the
/// binary under test (it checks that the command exists); warnings count as failures.
fn verify_unit(unit: &str, instance: &str) {
    let dir = tempdir();
    let text = std::fs::read_to_string(root().join("deploy").join(unit)).unwrap();
    let text = text.replace("/usr/local/bin/genims", env!("CARGO_BIN_EXE_genims"));
    std::fs::write(dir.path().join(unit), text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join(instance))
        .output()
        .expect("systemd-analyze runs (Debian's systemd package)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{unit} as {instance}: {err}");
}

#[test]
fn the_systemd_units_verify() {
    verify_unit("genims.service", "genims.service");
    verify_unit("genims@.service", "genims@2-of-4.service");
    let text = std::fs::read_to_string(root().join("deploy/genims@.service")).unwrap();
    for line in
        ["Environment=GENIMS_SHARD=%i", "Environment=GENIMS_STATE_DIR=/var/lib/genims/%i", "StateDirectory=genims/%i"]
    {
        assert!(text.lines().any(|l| l == line), "the template unit has `{line}`");
    }
    for unit in ["genims.service", "genims@.service", "kubernetes/stream-statefulset.yaml"] {
        let text = std::fs::read_to_string(root().join("deploy").join(unit)).unwrap();
        let days = text
            .lines()
            .skip_while(|l| !l.contains("GENIMS_RETENTION_DAYS"))
            .take(2)
            .flat_map(|l| l.split(['=', '"']).map(str::trim))
            .find_map(|w| w.parse::<u32>().ok());
        assert!(days.is_some_and(|d| d > 0), "{unit} sets a retention horizon (GENIMS_RETENTION_DAYS)");
    }
}

/// Every manifest of the kustomization: kind/name → document.
fn manifests() -> BTreeMap<String, Value> {
    let dir = root().join("deploy/kubernetes");
    let kustomization = dir.join("kustomization.yaml");
    let parse = |files: &[PathBuf]| -> Vec<Value> {
        let out = Command::new(python())
            .arg(root().join("tests/tools/yaml_json.py"))
            .args(files)
            .output()
            .expect("python runs");
        assert!(out.status.success(), "the manifests parse as YAML: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap().into_iter().map(|d| d["doc"].clone()).collect()
    };
    let k = parse(&[kustomization]).remove(0);
    assert_eq!(k["kind"], "Kustomization");
    let files: Vec<PathBuf> =
        k["resources"].as_array().unwrap().iter().map(|r| dir.join(r.as_str().unwrap())).collect();
    for f in &files {
        assert!(f.is_file(), "kustomization resource {} exists", f.display());
    }
    let mut out = BTreeMap::new();
    for d in parse(&files) {
        let key = format!("{}/{}", d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap());
        out.insert(key, d);
    }
    out
}

/// A container's environment variable by name.
fn env_of<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("env {name}"))
}

/// The checks both workloads share: config and secret references, the shard count.
fn check_pod(m: &BTreeMap<String, Value>, workload: &Value, shards: u64) -> Value {
    let pod = &workload["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(env_of(c, "GENIMS_SHARD_COUNT")["value"], shards.to_string(), "GENIMS_SHARD_COUNT = the shard count");
    let secret = c["envFrom"][0]["secretRef"]["name"].as_str().unwrap();
    assert!(m.contains_key(&format!("Secret/{secret}")), "the Secret {secret} exists");
    let config = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "config").unwrap();
    let cm = config["configMap"]["name"].as_str().unwrap();
    assert!(m.contains_key(&format!("ConfigMap/{cm}")), "the ConfigMap {cm} exists");
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&args[..2], ["--config", "/etc/genims/config.toml"]);
    c.clone()
}

#[test]
fn the_kubernetes_manifests_agree_with_each_other_and_with_genims() {
    let m = manifests();
    // The config genims reads in the pods is one it accepts.
    let dir = tempdir();
    let toml = m["ConfigMap/genims-config"]["data"]["config.toml"].as_str().unwrap();
    std::fs::write(dir.path().join("config.toml"), toml).unwrap();
    ok(genims(dir.path()).args(["--config", "config.toml", "schema", "print"]));
    // The secret names the variables genims reads.
    let secret = &m["Secret/genims-credentials"]["stringData"];
    for k in ["GENIMS_POSTGRES_URL", "GENIMS_KAFKA_BROKERS", "GENIMS_CONTROL_TOKEN"] {
        assert!(secret[k].is_string(), "the Secret sets {k}");
    }

    // The backfill: an Indexed Job, as many completions as shards, all at once.
    let job = &m["Job/genims-backfill"];
    let shards = job["spec"]["completions"].as_u64().unwrap();
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["parallelism"].as_u64(), Some(shards));
    let c = check_pod(&m, job, shards);
    assert!(c["args"].as_array().unwrap().iter().any(|a| a == "backfill"));

    // The stream: a StatefulSet of as many replicas as shards, the pod index as the shard.
    let sts = &m["StatefulSet/genims-stream"];
    let replicas = sts["spec"]["replicas"].as_u64().unwrap();
    let c = check_pod(&m, sts, replicas);
    assert_eq!(
        env_of(&c, "GENIMS_SHARD_INDEX")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    let service = sts["spec"]["serviceName"].as_str().unwrap();
    assert!(m.contains_key(&format!("Service/{service}")), "the Service {service} exists");
    let listen = env_of(&c, "GENIMS_LISTEN")["value"].as_str().unwrap();
    let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(port), "the container port is GENIMS_LISTEN's");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let state = env_of(&c, "GENIMS_STATE_DIR")["value"].as_str().unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let claim = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as_str().unwrap();
    assert!(
        mounts.iter().any(|v| v["name"] == claim && v["mountPath"] == state),
        "the state directory is the pod's volume"
    );
    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    for (k, v) in sts["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the selector matches the pods");
    }

    // Every index a pod may get selects a distinct shard, as genims reads the environment.
    let shard_of = |vars: &[(&str, String)]| -> String {
        let mut cmd = genims(dir.path());
        cmd.env_remove("HOSTNAME").env_remove("JOB_COMPLETION_INDEX");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let (out, err) = run(cmd.args([
            "backfill",
            "--out",
            "null",
            "--start",
            "2026-03-05T00:00:00Z",
            "--end",
            "2026-03-05T00:01:00Z",
        ]));
        assert!(out.status.success(), "{vars:?}: {err}");
        let line = err.lines().find(|l| l.contains("shard")).unwrap_or_else(|| panic!("the shard is reported: {err}"));
        line.to_owned()
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..shards {
        let line = shard_of(&[("GENIMS_SHARD_COUNT", shards.to_string()), ("JOB_COMPLETION_INDEX", i.to_string())]);
        assert!(line.contains(&format!("{}/{shards}", i + 1)), "index {i}: {line}");
        assert!(seen.insert(line), "index {i} selects a shard of its own");
    }
    let line = shard_of(&[("GENIMS_SHARD_COUNT", replicas.to_string()), ("HOSTNAME", "genims-stream-2".to_owned())]);
    assert!(line.contains(&format!("3/{replicas}")), "{line}");
}
