//! The Kafka sink's settings (`[kafka]`, librdkafka's names): brokers, topics, compression,
//! TLS and SASL, and the rules a topic prefix must follow.

use std::path::PathBuf;

use crate::secrets::Secret;

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: Vec<String>,
    pub partitions: i32,
    pub topic_prefix: String,
    /// How long a backfill keeps retrying one produce request before it fails (librdkafka's
    /// `message.timeout.ms`, shorter by default).
    pub message_timeout_ms: u64,
    /// How record batches are compressed on the wire and in the broker.
    pub compression: KafkaCompression,
    /// The client id the brokers see (librdkafka's `client.id`).
    pub client_id: String,
    /// TLS and SASL (librdkafka's names).
    pub security: KafkaSecurity,
}

/// How genims authenticates to Kafka and protects the connection, with librdkafka's names
/// (`security.protocol`, `sasl.mechanism`, ... written with underscores).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// Read when connecting, unless `sasl_password` (or `GENIMS_KAFKA_SASL_PASSWORD`) is set.
    pub sasl_password_file: Option<PathBuf>,
    /// A PEM file of the roots to trust, or `system`; unset: the operating system's roots.
    pub ssl_ca_location: Option<String>,
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    /// `ssl_endpoint_identification_algorithm = https` (the default): the broker's host name
    /// must match its certificate; `none`: only the chain is verified.
    pub verify_hostname: bool,
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const NAMES: [&'static str; 4] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
    const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Case-insensitive, as librdkafka.
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        Self::NAMES.iter().position(|n| n.eq_ignore_ascii_case(s)).map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|p| *p == self).expect("every protocol is listed")]
    }

    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// librdkafka's `sasl.mechanism` values genims speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub const NAMES: [&'static str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
    const ALL: [SaslMechanism; 3] = [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];

    pub fn parse(s: &str) -> Option<SaslMechanism> {
        Self::NAMES.iter().position(|n| n.eq_ignore_ascii_case(s)).map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|m| *m == self).expect("every mechanism is listed")]
    }
}

/// Kafka record-batch compression (librdkafka's `compression.type` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaCompression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl KafkaCompression {
    pub const NAMES: [&'static str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
    const ALL: [KafkaCompression; 5] = [
        KafkaCompression::None,
        KafkaCompression::Gzip,
        KafkaCompression::Snappy,
        KafkaCompression::Lz4,
        KafkaCompression::Zstd,
    ];

    pub fn parse(s: &str) -> Option<KafkaCompression> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }
}

/// The longest topic suffix genims appends to `[kafka] topic_prefix`.
const LONGEST_TOPIC_SUFFIX: &str = ".maintenance.events";

/// Kafka's rules for topic names, applied to a prefix with every suffix genims appends:
/// ASCII letters, digits, `.`, `_` and `-`, at most 249 characters in all.
pub fn check_topic_prefix(prefix: &str) -> std::result::Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty (topics are named <prefix>.sensor.data, ...)".to_owned());
    }
    if let Some(bad) = prefix.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!(
            "{:?} is not allowed in a Kafka topic name: use ASCII letters, digits, '.', '_' and '-'",
            bad
        ));
    }
    let max = 249 - LONGEST_TOPIC_SUFFIX.len();
    if prefix.len() > max {
        return Err(format!(
            "{} characters is too long: a Kafka topic name holds at most 249, so the prefix at most {max} (with `{LONGEST_TOPIC_SUFFIX}`)",
            prefix.len()
        ));
    }
    Ok(())
}
