//! How genims reaches Kafka: the brokers, TLS, SASL and client id of `[kafka]` (librdkafka's
//! names) turned into an rskafka client, and a failed connection turned into one line that
//! names the brokers and the cause.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::messenger::{Messenger, RequestError};
use rskafka::protocol::messages::{ReadVersionedType, RequestBody, WriteVersionedType};
use rskafka::BackoffConfig;
use tokio::io::{AsyncRead, AsyncWrite};

use super::settings::{KafkaConfig, SaslMechanism, SecurityProtocol};
use crate::sink::Fatal;
use crate::tls::{self, Roots, Verify};

/// How long to try reaching the brokers at start-up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause between two attempts to reach the brokers at start-up.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The settings behind Kafka's TLS, for messages.
const NAMES: tls::Names =
    tls::Names { roots: "ssl_ca_location", cert: "ssl_certificate_location", key: "ssl_key_location" };

/// Everything needed to open a connection; secrets never shown.
#[derive(Clone)]
pub struct Access {
    brokers: Vec<String>,
    protocol: SecurityProtocol,
    client_id: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<SaslConfig>,
    /// The SASL user and mechanism, for messages.
    login: Option<(String, &'static str)>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Access({})", self.shown())
    }
}

impl Access {
    /// Checks the settings and reads the files they name (CA, client certificate and key,
    /// password file).
    pub fn new(cfg: &KafkaConfig) -> Result<Access> {
        if cfg.brokers.is_empty() {
            bail!("no Kafka brokers configured: set [kafka] brokers in config.toml, GENIMS_KAFKA_BROKERS, or --kafka-brokers");
        }
        let sec = cfg;
        check_combination(sec)?;
        let tls = if sec.protocol.tls() { Some(Arc::new(tls_config(sec)?)) } else { None };
        let sasl = if sec.protocol.sasl() { Some(sasl_config(sec)?) } else { None };
        let login = sasl.as_ref().and_then(|_| Some((sec.sasl_username.clone()?, sec.sasl_mechanism?.name())));
        Ok(Access {
            brokers: cfg.brokers.clone(),
            protocol: sec.protocol,
            client_id: cfg.client_id.clone(),
            tls,
            sasl,
            login,
        })
    }

    /// The brokers and protocol, for messages: `b1:9093,b2:9093 (sasl_ssl)`.
    pub fn shown(&self) -> String {
        format!("{} ({})", self.brokers.join(","), self.protocol.name())
    }

    fn builder(&self, deadline: Duration) -> ClientBuilder {
        let backoff = BackoffConfig { deadline: Some(deadline), ..BackoffConfig::default() };
        let mut b = ClientBuilder::new(self.brokers.clone()).client_id(self.client_id.as_str()).backoff_config(backoff);
        if let Some(t) = &self.tls {
            b = b.tls_config(Arc::clone(t));
        }
        if let Some(s) = &self.sasl {
            b = b.sasl_config(s.clone());
        }
        b
    }

    /// A client whose requests retry for `deadline`. A connection that cannot be made
    /// fails within [`CONNECT_TIMEOUT`] with the last cause the brokers gave.
    pub async fn connect(&self, deadline: Duration) -> Result<Client> {
        self.probe().await?;
        self.build(deadline).await
    }

    /// Reaches the brokers one attempt at a time until one succeeds, the brokers refuse for
    /// good (a login, a certificate: reported at once), or [`CONNECT_TIMEOUT`] has passed.
    /// rskafka retries a failed connection until its deadline and only then says why, so a
    /// refusal would be lost to the timeout whenever its attempts take long — a SCRAM
    /// exchange on a loaded host takes seconds; single attempts keep each cause, and the
    /// timeout reports the last one.
    async fn probe(&self) -> Result<()> {
        let start = Instant::now();
        let mut last = None;
        loop {
            let left = CONNECT_TIMEOUT.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, self.builder(Duration::ZERO).build()).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => {
                    let refused = self.refused(&e);
                    if !crate::sink::retryable(&refused) {
                        return Err(refused);
                    }
                    last = Some(refused);
                }
                Err(_) => break,
            }
            if start.elapsed() + RETRY_PAUSE >= CONNECT_TIMEOUT {
                break;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        match last {
            Some(refused) => Err(refused),
            None => Err(self.unreachable().await),
        }
    }

    async fn build(&self, deadline: Duration) -> Result<Client> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.builder(deadline).build()).await {
            Err(_) => Err(self.unreachable().await),
            Ok(Err(e)) => Err(self.refused(&e)),
            Ok(Ok(c)) => Ok(c),
        }
    }

    /// The brokers answered a connection with an error: [`Fatal`] when retrying cannot mend
    /// it (a refused login, a certificate that does not verify), in plain words.
    fn refused(&self, e: &rskafka::client::error::Error) -> anyhow::Error {
        let (chain, why) = (chain(e), cause(e));
        let at = self.shown();
        if let (true, Some((user, mechanism))) = (chain.contains("Sasl handshake failed"), &self.login) {
            let lower = chain.to_lowercase();
            // The broker's or the SASL library's own last word: `unknown user`, `invalid proof`.
            let why = chain.rsplit(": ").next().unwrap_or(&why);
            return Fatal(
                if lower.contains("unsupported sasl mechanism") || lower.contains("invalid sasl mechanism") {
                    format!(
                    "Kafka at {at} does not offer SASL mechanism {mechanism} ({why}): set [kafka] sasl_mechanism to \
                     one it offers, or security_protocol = plaintext or ssl if the listener takes no login"
                )
                } else {
                    format!(
                    "Kafka at {at} refused the SASL login of user `{user}` with {mechanism} ({why}): a wrong password, \
                     an unknown user, or no {mechanism} credential for that user on the broker"
                )
                },
            )
            .into();
        }
        if chain.contains("invalid peer certificate") {
            return Fatal(format!("cannot connect to Kafka at {at}: {why}")).into();
        }
        anyhow!("cannot connect to Kafka at {at}: {why}{}", self.hint(&chain))
    }

    /// No broker answered within [`CONNECT_TIMEOUT`].
    async fn unreachable(&self) -> anyhow::Error {
        anyhow!("cannot reach Kafka at {} within {} s{}", self.shown(), CONNECT_TIMEOUT.as_secs(), self.silence().await)
    }

    /// What a connection cut at once may mean: a plaintext request sent to a TLS port is
    /// answered by closing the connection.
    fn hint(&self, error: &str) -> &'static str {
        let cut = ["early eof", "Connection reset", "connection reset"].iter().any(|s| error.contains(s));
        match (cut, self.protocol.tls(), self.protocol.sasl()) {
            (true, false, false) => {
                " (the broker closed the connection: does the listener want a SASL login — \
                 security_protocol = sasl_plaintext — or TLS — ssl or sasl_ssl?)"
            }
            (true, false, true) => " (the broker closed the connection: a TLS port? then security_protocol = sasl_ssl)",
            _ => "",
        }
    }

    /// Why a broker may have stayed silent: a TLS handshake sent to a plaintext port is
    /// read by the broker as the start of a huge request, and never answered.
    async fn silence(&self) -> &'static str {
        if !self.protocol.tls() {
            return "";
        }
        let probe = Duration::from_secs(1);
        for b in &self.brokers {
            if let Ok(Ok(_)) = tokio::time::timeout(probe, tokio::net::TcpStream::connect(b.as_str())).await {
                return ": the broker accepted the connection but never answered the TLS handshake \
                        (a plaintext port? then security_protocol = plaintext or sasl_plaintext)";
            }
        }
        ""
    }
}

/// A byte stream to a broker: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

/// One connection for administrative requests rskafka's client does not make (see
/// `admin`), logged in like the producer's.
pub struct AdminConnection {
    messenger: Messenger<Box<dyn Stream>>,
    /// `host:port` as dialled.
    addr: String,
}

impl AdminConnection {
    /// Sends one request and waits for its answer.
    pub async fn request<R>(&self, msg: R) -> Result<R::ResponseBody, RequestError>
    where
        R: RequestBody + Send + WriteVersionedType<Vec<u8>>,
        R::ResponseBody: ReadVersionedType<std::io::Cursor<Vec<u8>>>,
    {
        self.messenger.request(msg).await
    }

    /// Whether this is the connection to `host:port`.
    pub fn reached(&self, host: &str, port: i32) -> bool {
        self.addr == format!("{host}:{port}")
    }
}

impl Access {
    /// An [`AdminConnection`] to `to`, or else to the first bootstrap broker that answers.
    pub async fn admin(&self, to: Option<String>) -> Result<AdminConnection> {
        let candidates = to.map_or_else(|| self.brokers.clone(), |a| vec![a]);
        let mut last = None;
        for addr in candidates {
            match tokio::time::timeout(CONNECT_TIMEOUT, self.dial(&addr)).await {
                Ok(Ok(messenger)) => return Ok(AdminConnection { messenger, addr }),
                Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
                Err(_) => last = Some(format!("{addr}: no answer within {} s", CONNECT_TIMEOUT.as_secs())),
            }
        }
        Err(anyhow!("cannot reach Kafka at {} for its topic settings: {}", self.shown(), last.unwrap_or_default()))
    }

    /// Connects, negotiates versions and logs in.
    async fn dial(&self, addr: &str) -> Result<Messenger<Box<dyn Stream>>> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(cfg) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']']);
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())?;
                Box::new(tokio_rustls::TlsConnector::from(Arc::clone(cfg)).connect(name, tcp).await?)
            }
        };
        let mut messenger = Messenger::new(stream, 100 * 1024 * 1024, self.client_id.as_str().into());
        messenger.sync_versions().await?;
        if let Some(sasl) = &self.sasl {
            messenger.do_sasl(sasl.clone()).await?;
        }
        Ok(messenger)
    }
}

/// Settings that contradict the protocol: said once, clearly, rather than ignored.
fn check_combination(sec: &KafkaConfig) -> Result<()> {
    let p = sec.protocol.name();
    if !sec.protocol.sasl() {
        let set = [
            ("sasl_mechanism", sec.sasl_mechanism.is_some()),
            ("sasl_username", sec.sasl_username.is_some()),
            ("sasl_password", sec.sasl_password.is_some() || sec.sasl_password_file.is_some()),
        ];
        if let Some((k, _)) = set.iter().find(|s| s.1) {
            bail!("[kafka] {k} is set but security_protocol = {p} does not use SASL: use sasl_plaintext or sasl_ssl");
        }
    }
    if !sec.protocol.tls() {
        let set = [
            ("ssl_ca_location", sec.ssl_ca_location.is_some()),
            ("ssl_certificate_location", sec.ssl_certificate_location.is_some()),
            ("ssl_key_location", sec.ssl_key_location.is_some()),
        ];
        if let Some((k, _)) = set.iter().find(|s| s.1) {
            bail!("[kafka] {k} is set but security_protocol = {p} does not use TLS: use ssl or sasl_ssl");
        }
    }
    Ok(())
}

fn tls_config(sec: &KafkaConfig) -> Result<rustls::ClientConfig> {
    let roots = match sec.ssl_ca_location.as_deref() {
        None | Some("system") | Some("probe") => Roots::System,
        Some(path) => Roots::File(path.into()),
    };
    let verify = if sec.verify_hostname { Verify::ChainAndName } else { Verify::Chain };
    let client = tls::Client {
        verify,
        roots: Some(roots),
        cert: sec.ssl_certificate_location.as_deref(),
        key: sec.ssl_key_location.as_deref(),
        names: NAMES,
    };
    tls::client_config(&client).map_err(|e| anyhow!("[kafka] {e}"))
}

fn sasl_config(sec: &KafkaConfig) -> Result<SaslConfig> {
    let p = sec.protocol.name();
    let mechanism = sec.sasl_mechanism.ok_or_else(|| {
        anyhow!("security_protocol = {p} needs [kafka] sasl_mechanism: one of {}", SaslMechanism::NAMES.join(", "))
    })?;
    let username = sec.sasl_username.clone().ok_or_else(|| {
        anyhow!("security_protocol = {p} needs [kafka] sasl_username (or GENIMS_KAFKA_SASL_USERNAME)")
    })?;
    let password = match (&sec.sasl_password, &sec.sasl_password_file) {
        (Some(p), _) => p.0.clone(),
        (None, Some(file)) => crate::secrets::read_secret_file(Path::new(file), "[kafka] sasl_password_file")?.0,
        (None, None) => bail!(
            "security_protocol = {p} needs a password: GENIMS_KAFKA_SASL_PASSWORD, [kafka] sasl_password_file or sasl_password"
        ),
    };
    let credentials = Credentials::new(username, password);
    Ok(match mechanism {
        SaslMechanism::Plain => SaslConfig::Plain(credentials),
        SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
        SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
    })
}

/// Every message of an error's chain, joined.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// The reason of an rskafka error without its retry wrappers ("all retries failed: Retry
/// exceeded deadline. Source: …"), which tell the user nothing.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    let text = last.to_string();
    let text = if text.is_empty() { e.to_string() } else { text };
    match text.rsplit_once("Source: ") {
        Some((_, reason)) if !reason.is_empty() => reason.to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;

    fn kafka(f: impl FnOnce(&mut KafkaConfig)) -> KafkaConfig {
        let mut k = KafkaConfig { brokers: vec!["b1:9093".into()], ..KafkaConfig::default() };
        f(&mut k);
        k
    }

    #[test]
    fn contradictions_and_missing_settings_are_named() {
        let e = Access::new(&kafka(|s| s.sasl_username = Some("u".into()))).unwrap_err().to_string();
        assert!(e.contains("sasl_username is set but security_protocol = plaintext"), "{e}");
        let e = Access::new(&kafka(|s| s.ssl_ca_location = Some("/ca.pem".into()))).unwrap_err().to_string();
        assert!(e.contains("ssl_ca_location is set but security_protocol = plaintext"), "{e}");
        let e = Access::new(&kafka(|s| s.protocol = SecurityProtocol::SaslSsl)).unwrap_err().to_string();
        assert!(e.contains("needs [kafka] sasl_mechanism"), "{e}");
        let e = Access::new(&kafka(|s| {
            s.protocol = SecurityProtocol::SaslPlaintext;
            s.sasl_mechanism = Some(SaslMechanism::ScramSha512);
            s.sasl_username = Some("u".into());
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs a password"), "{e}");
        let e = Access::new(&kafka(|s| {
            s.protocol = SecurityProtocol::Ssl;
            s.ssl_ca_location = Some("/nonexistent/ca.pem".into());
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot read ssl_ca_location /nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn the_password_is_never_shown() {
        let a = Access::new(&kafka(|s| {
            s.protocol = SecurityProtocol::SaslPlaintext;
            s.sasl_mechanism = Some(SaslMechanism::Plain);
            s.sasl_username = Some("u".into());
            s.sasl_password = Some(Secret("Hunter2-very-secret".into()));
        }))
        .unwrap();
        let shown = format!("{a:?} {}", a.shown());
        assert!(!shown.contains("Hunter2"), "{shown}");
        assert_eq!(a.shown(), "b1:9093 (sasl_plaintext)");
    }
}
