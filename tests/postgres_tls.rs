//! genims against a PostgreSQL that requires TLS and SCRAM: a private cluster with a CA and
//! server certificate made for the test (`hostssl … scram-sha-256`, `cert` for one user,
//! plaintext refused). Every command works with `sslmode=verify-full`; each bad input fails
//! with one line naming the server and the cause, and no password ever shows.

use crate::common;

use std::path::{Path, PathBuf};

use common::certs::{ca, signed};
use common::{genims, ok, run, tempdir, Cluster, StreamArgs};

const SMALL_PLANT: &str =
    "[plant]\nfactories = 1\nlines = 4\nmachines = 32\nsensors = 250\nemployees = 2000\nline_products = 6\n";
const PASSWORD: &str = "S3cret-pw";

/// The TLS cluster and the files a client needs.
struct Tls {
    cluster: Cluster,
    certs: PathBuf,
}

impl Tls {
    fn start() -> Tls {
        let cluster = Cluster::init_new();
        let certs = cluster.dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        ca(&certs, "good");
        ca(&certs, "other");
        signed(&certs, "good", "server", "localhost", Some("localhost"));
        signed(&certs, "good", "client", "certuser", None);
        for f in ["server.key", "client.key"] {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(certs.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let c = |f: &str| certs.join(f).display().to_string();
        cluster.configure(
            &format!(
                "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nssl_ca_file = '{}'\npassword_encryption = 'scram-sha-256'\n",
                c("server.crt"),
                c("server.key"),
                c("good-ca.crt")
            ),
            "local all all trust\n\
             hostnossl all all 127.0.0.1/32 reject\n\
             hostssl all certuser 127.0.0.1/32 cert\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n",
        );
        cluster.own(&certs);
        // The client's copy of its key stays the test's (the server never reads it).
        cluster.start();
        let mut admin = postgres::Client::connect(&cluster.socket("postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "CREATE ROLE genims LOGIN SUPERUSER PASSWORD '{PASSWORD}'; CREATE ROLE certuser LOGIN SUPERUSER"
            ))
            .unwrap();
        admin.batch_execute("CREATE DATABASE genims OWNER genims").unwrap();
        Tls { cluster, certs }
    }

    fn file(&self, name: &str) -> String {
        self.certs.join(name).display().to_string()
    }

    /// A URL for `user[:password]@host` with query `q`.
    fn url(&self, userinfo: &str, host: &str, q: &str) -> String {
        format!("postgresql://{userinfo}@{host}:{}/genims?{q}", self.cluster.port)
    }

    fn verified(&self) -> String {
        self.url(
            &format!("genims:{PASSWORD}"),
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={}", self.file("good-ca.crt")),
        )
    }
}

/// Runs genims with `url`, expecting failure: its one-line message, checked for the server
/// and the secret.
fn refused(dir: &Path, url: &str, args: &[&str], cause: &str) -> String {
    let (out, err) = run(genims(dir).env("HOME", dir).args(["--postgres-url", url]).args(args));
    assert!(!out.status.success(), "{url}: expected a failure ({cause}), it worked");
    let line = err.trim();
    assert_eq!(line.lines().count(), 1, "one line for {cause}: {line}");
    assert!(line.to_lowercase().contains(&cause.to_lowercase()), "the cause `{cause}` is named: {line}");
    assert!(!line.contains(PASSWORD), "the password never shows: {line}");
    line.to_owned()
}

#[test]
fn every_command_works_over_verified_tls_and_every_bad_input_fails_clearly() {
    let tls = Tls::start();
    let dir = tempdir();
    std::fs::write(dir.path().join("config.toml"), SMALL_PLANT).unwrap();
    let d = dir.path();
    let url = tls.verified();

    // schema, seed, backfill and a stream, all over verify-full with SCRAM.
    ok(genims(d).args(["--postgres-url", &url, "schema", "apply"]));
    ok(genims(d).args(["--postgres-url", &url, "seed", "--out", "db"]));
    let (a, b) = ("2026-03-04T06:00:00Z", "2026-03-04T07:00:00Z");
    ok(genims(d).args(["--postgres-url", &url, "backfill", "--out", "db", "--start", a, "--end", b]));
    ok(genims(d).args(
        StreamArgs::all().postgres(&url).sink("postgres").speed("max").end("2026-03-04T07:30:00Z").state().build(),
    ));
    let mut admin = postgres::Client::connect(&tls.cluster.socket("genims"), postgres::NoTls).unwrap();
    let sensor: i64 = admin.query_one("SELECT count(*) FROM sensor_data", &[]).unwrap().get(0);
    let through: String = admin.query_one("SELECT through::text FROM genims_stream_progress", &[]).unwrap().get(0);
    assert!(sensor > 0 && through.starts_with("2026-03-04 07:30"), "rows {sensor}, stream through {through}");
    // (pg_hba refuses plaintext: every command above went over TLS.)

    // verify-ca checks the chain but not the name: an address the certificate does not name works.
    let ca_only = tls.url(
        &format!("genims:{PASSWORD}"),
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", tls.file("good-ca.crt")),
    );
    ok(genims(d).args(["--postgres-url", &ca_only, "schema", "apply"]));
    // The password from PGPASSWORD, and from a private password_file.
    let no_pw = tls.url("genims", "localhost", &format!("sslmode=verify-full&sslrootcert={}", tls.file("good-ca.crt")));
    ok(genims(d).env("PGPASSWORD", PASSWORD).args(["--postgres-url", &no_pw, "schema", "apply"]));
    let pw_file = d.join("pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(
        d.join("config.toml"),
        format!("{SMALL_PLANT}\n[postgres]\npassword_file = \"{}\"\n", pw_file.display()),
    )
    .unwrap();
    ok(genims(d).args(["--postgres-url", &no_pw, "schema", "apply"]));
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    refused(d, &no_pw, &["schema", "apply"], "chmod 600");
    std::fs::write(d.join("config.toml"), SMALL_PLANT).unwrap();
    // A client certificate (`cert` authentication), no password.
    let cert = tls.url(
        "certuser",
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            tls.file("good-ca.crt"),
            tls.file("client.crt"),
            tls.file("client.key")
        ),
    );
    ok(genims(d).args(["--postgres-url", &cert, "schema", "apply"]));

    // Bad inputs: one line each, naming the server and the cause.
    let host = format!("localhost:{}", tls.cluster.port);
    let line = refused(
        d,
        &tls.url(
            &format!("genims:{PASSWORD}"),
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={}", tls.file("other-ca.crt")),
        ),
        &["schema", "apply"],
        "UnknownIssuer",
    );
    assert!(line.contains(&host), "the server is named: {line}");
    let line = refused(
        d,
        &tls.url(
            &format!("genims:{PASSWORD}"),
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={}", tls.file("good-ca.crt")),
        ),
        &["schema", "apply"],
        "not valid for name",
    );
    assert!(line.contains("127.0.0.1"), "{line}");
    refused(
        d,
        &tls.url(&format!("genims:{PASSWORD}"), "localhost", "sslmode=disable"),
        &["schema", "apply"],
        "no encryption",
    );
    refused(
        d,
        &tls.url("genims:wrong-password", "localhost", "sslmode=require"),
        &["schema", "apply"],
        "password authentication failed",
    );
    refused(d, &tls.url("nobody:x", "localhost", "sslmode=require"), &["schema", "apply"], "authentication failed");
    let mismatched = tls.url(
        "certuser",
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            tls.file("good-ca.crt"),
            tls.file("client.crt"),
            tls.file("server.key")
        ),
    );
    refused(d, &mismatched, &["schema", "apply"], "do not go together");
    refused(
        d,
        &tls.url(&format!("genims:{PASSWORD}"), "localhost", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
        &["schema", "apply"],
        "cannot read sslrootcert /nonexistent/ca.pem",
    );
    refused(
        d,
        &tls.url(&format!("genims:{PASSWORD}"), "localhost", "sslmode=verify-full"),
        &["schema", "apply"],
        "needs a root certificate",
    );
    refused(
        d,
        &tls.url(&format!("genims:{PASSWORD}"), "localhost", "sslmode=sometimes"),
        &["schema", "apply"],
        "sslmode=sometimes",
    );

    // TLS to a server without it.
    let plain = Cluster::start_new();
    let line = refused(
        d,
        &format!("postgresql://postgres@127.0.0.1:{}/postgres?sslmode=require", plain.port),
        &["schema", "apply"],
        "TLS",
    );
    assert!(line.contains(&plain.port.to_string()), "{line}");
}
