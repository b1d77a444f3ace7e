//! The Kafka sink's settings (`[kafka]`, librdkafka's names): brokers, topics, compression,
//! TLS and SASL, and the rules a topic prefix must follow.

use std::path::PathBuf;

use serde::Deserializer;

use crate::secrets::Secret;
use crate::setting;

/// The `[kafka]` settings, with librdkafka's names (`security.protocol`, `sasl.mechanism`,
/// ... written with underscores).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` (a list, or one comma-separated string).
    #[serde(deserialize_with = "setting::list")]
    pub brokers: Vec<String>,
    /// Partitions of each topic genims creates.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 1000>")]
    pub partitions: i32,
    /// Topics are `<prefix>.sensor.data`, `<prefix>.scada.data`, ...
    #[serde(deserialize_with = "topic_prefix")]
    pub topic_prefix: String,
    /// How long a backfill keeps retrying one produce request before it fails (librdkafka's
    /// `message.timeout.ms`, shorter by default).
    #[serde(deserialize_with = "setting::int::<_, _, 1_000, 3_600_000>")]
    pub message_timeout_ms: u64,
    /// How record batches are compressed on the wire and in the broker.
    #[serde(deserialize_with = "setting::parsed")]
    pub compression: KafkaCompression,
    /// The client id the brokers see (librdkafka's `client.id`).
    #[serde(deserialize_with = "client_id")]
    pub client_id: String,
    #[serde(rename = "security_protocol", deserialize_with = "setting::parsed")]
    pub protocol: SecurityProtocol,
    #[serde(deserialize_with = "setting::maybe")]
    pub sasl_mechanism: Option<SaslMechanism>,
    #[serde(deserialize_with = "setting::maybe")]
    pub sasl_username: Option<String>,
    #[serde(deserialize_with = "setting::maybe")]
    pub sasl_password: Option<Secret>,
    /// Read when connecting, unless `sasl_password` (or `GENIMS_KAFKA_SASL_PASSWORD`) is set.
    #[serde(deserialize_with = "setting::maybe")]
    pub sasl_password_file: Option<PathBuf>,
    /// A PEM file of the roots to trust, or `system`; unset: the operating system's roots.
    #[serde(deserialize_with = "setting::maybe")]
    pub ssl_ca_location: Option<String>,
    #[serde(deserialize_with = "setting::maybe")]
    pub ssl_certificate_location: Option<PathBuf>,
    #[serde(deserialize_with = "setting::maybe")]
    pub ssl_key_location: Option<PathBuf>,
    /// `ssl_endpoint_identification_algorithm = https` (the default): the broker's host name
    /// must match its certificate; `none`: only the chain is verified.
    #[serde(rename = "ssl_endpoint_identification_algorithm", deserialize_with = "endpoint_identification")]
    pub verify_hostname: bool,
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            brokers: Vec::new(),
            partitions: 6,
            topic_prefix: "genims".to_owned(),
            message_timeout_ms: 60_000,
            compression: KafkaCompression::Zstd,
            client_id: "genims".to_owned(),
            protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            sasl_password_file: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            verify_hostname: true,
        }
    }
}

fn topic_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    setting::checked(d, check_topic_prefix)
}

fn client_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    setting::checked(d, |id| {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(format!("`{id}` is not a client id: use letters, digits, `.`, `_` and `-`"));
        }
        Ok(())
    })
}

/// librdkafka's `ssl.endpoint.identification.algorithm`: `https` verifies the host name.
fn endpoint_identification<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = setting::checked(d, |s| match s.to_ascii_lowercase().as_str() {
        "https" | "none" => Ok(()),
        other => Err(format!("`{other}` is not one of https, none")),
    })?;
    Ok(s.eq_ignore_ascii_case("https"))
}

/// Each enum's setting: its name, in any case where librdkafka allows it.
macro_rules! from_setting {
    ($t:ty, $extra:expr) => {
        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<$t, String> {
                <$t>::parse(s).ok_or_else(|| format!("{}{}", setting::not_one_of(s, &<$t>::NAMES), $extra))
            }
        }
    };
}
from_setting!(SecurityProtocol, "");
from_setting!(SaslMechanism, " (GSSAPI and OAUTHBEARER are not supported)");
from_setting!(KafkaCompression, "");

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
