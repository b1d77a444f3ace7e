//! TLS client configuration (rustls with ring, so no OpenSSL at build or run time), shared
//! by the PostgreSQL connector and the Kafka sink: how much of the server to verify, which
//! roots to trust, and an optional client certificate.
//!
//! Each caller names its own settings (`sslrootcert` for PostgreSQL, `ssl_ca_location` for
//! Kafka, ...) so that a message points at the key the user wrote.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How much of the server's identity is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encryption only (libpq's `prefer`/`require`); handshake signatures are still checked.
    Nothing,
    /// The certificate chain must lead to a trusted root; the host name is not checked.
    Chain,
    /// The chain and the host name.
    ChainAndName,
}

/// Which roots to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's roots.
    System,
    /// A PEM file of one or more certificates.
    File(PathBuf),
}

/// The names of the settings behind a TLS configuration, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub roots: &'static str,
    pub cert: &'static str,
    pub key: &'static str,
}

/// What a client's TLS configuration is made of.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    pub verify: Verify,
    /// Required unless `verify` is [`Verify::Nothing`].
    pub roots: Option<Roots>,
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub names: Names,
}

/// The rustls configuration of a client.
pub fn client_config(c: &Client<'_>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("the TLS provider lacks the default protocol versions")?;
    let verifier: Arc<dyn ServerCertVerifier> = match c.verify {
        Verify::Nothing => Arc::new(Unverified(provider)),
        Verify::Chain | Verify::ChainAndName => {
            let roots = c.roots.as_ref().ok_or_else(|| anyhow!("verifying the server needs {}", c.names.roots))?;
            let roots = Arc::new(root_store(roots, c.names)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| anyhow!("cannot use the root certificates: {e}"))?;
            if c.verify == Verify::ChainAndName {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let n = c.names;
    match (c.cert, c.key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("cannot read {} {}: {e}", n.cert, cert.display()))?;
            if certs.is_empty() {
                bail!("{} {} holds no certificate", n.cert, cert.display());
            }
            let pk = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| anyhow!("cannot read {} {}: {e}", n.key, key.display()))?;
            builder.with_client_auth_cert(certs, pk).map_err(|e| {
                anyhow!("{} {} and {} {} do not go together: {e}", n.cert, cert.display(), n.key, key.display())
            })
        }
        (Some(_), None) => bail!("{} is set but {} is not: a client certificate needs its key", n.cert, n.key),
        (None, Some(_)) => bail!("{} is set but {} is not: a client key needs its certificate", n.key, n.cert),
    }
}

/// The roots to verify a server against.
fn root_store(roots: &Roots, names: Names) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let file = match roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!("{}: no root certificates found on this system", names.roots);
            }
            return Ok(store);
        }
        Roots::File(file) => file,
    };
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("cannot read {} {}: {e}", names.roots, file.display()))?;
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        bail!("{} {} holds no usable certificate", names.roots, file.display());
    }
    Ok(store)
}

/// Encryption without verifying who the server is. Handshake signatures are still checked.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names { roots: "ssl_ca_location", cert: "ssl_certificate_location", key: "ssl_key_location" };

    #[test]
    fn messages_name_the_callers_settings() {
        let c = Client { verify: Verify::ChainAndName, roots: None, cert: None, key: None, names: NAMES };
        let e = client_config(&c).unwrap_err().to_string();
        assert!(e.contains("ssl_ca_location"), "{e}");
        let missing = Roots::File(PathBuf::from("/nonexistent/ca.pem"));
        let c = Client { roots: Some(missing), ..c };
        let e = client_config(&c).unwrap_err().to_string();
        assert!(e.contains("ssl_ca_location /nonexistent/ca.pem"), "{e}");
        let c =
            Client { verify: Verify::Nothing, roots: None, cert: Some(Path::new("/x/c.pem")), key: None, names: NAMES };
        let e = client_config(&c).unwrap_err().to_string();
        assert!(e.contains("ssl_certificate_location is set but ssl_key_location is not"), "{e}");
        let c = Client { verify: Verify::Nothing, roots: None, cert: None, key: None, names: NAMES };
        assert!(client_config(&c).is_ok(), "encryption without verification needs no files");
    }
}
