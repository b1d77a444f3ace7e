//! Certificates made at test time with the openssl command: certificate authorities, server
//! and client certificates they sign, and an expired one.

use std::path::Path;
use std::process::Command;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`<name>-ca.crt`) and a certificate it signs for `cn` with the DNS name `san`.
pub fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.crt"),
        ],
    );
}

/// A new key (`<name>.key`) and a certificate request for it (`<name>.csr`) with CN `cn`.
fn key_and_request(dir: &Path, name: &str, cn: &str) {
    let subject = format!("/CN={cn}");
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out", &csr]);
}

pub fn signed(dir: &Path, ca: &str, name: &str, cn: &str, san: Option<&str>) {
    key_and_request(dir, name, cn);
    let ext = dir.join(format!("{name}.ext"));
    // Extensions make an X.509 v3 certificate (rustls accepts no other): a server's name, or a
    // client's purpose.
    let ext_text = san.map_or("extendedKeyUsage=clientAuth\n".to_owned(), |s| format!("subjectAltName=DNS:{s}\n"));
    std::fs::write(&ext, ext_text).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}-ca.crt"),
            "-CAkey",
            &format!("{ca}-ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            ext.to_str().unwrap(),
        ],
    );
}

/// A server certificate for `san` signed by `<ca>-ca`, valid only in 2020 (expired), as
/// `<name>.crt` / `<name>.key`; `openssl ca` is the command that sets explicit dates.
pub fn expired(dir: &Path, ca: &str, name: &str, san: &str) {
    key_and_request(dir, name, san);
    let db = dir.join(format!("{name}-db"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("index.txt"), "").unwrap();
    std::fs::write(db.join("serial"), "1000\n").unwrap();
    let cnf = dir.join(format!("{name}-ca.cnf"));
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca = test\n[test]\ndir = {db}\ndatabase = $dir/index.txt\nserial = $dir/serial\n\
             new_certs_dir = $dir\ndefault_md = sha256\npolicy = any\nx509_extensions = ext\nunique_subject = no\n\
             [any]\ncommonName = supplied\n[ext]\nsubjectAltName = DNS:{san}\n",
            db = db.display()
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            cnf.to_str().unwrap(),
            "-cert",
            &format!("{ca}-ca.crt"),
            "-keyfile",
            &format!("{ca}-ca.key"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.crt"),
            "-notext",
        ],
    );
}
