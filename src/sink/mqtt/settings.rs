//! The MQTT sink's settings (`[mqtt]`): the broker's address, the payload mode, topics, QoS,
//! credentials and TLS, and the rules an address and a topic root must follow.

use std::path::PathBuf;

use serde::Deserializer;

use crate::secrets::Secret;
use crate::setting;

/// How rows travel as MQTT messages (`[mqtt] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttMode {
    /// A Unified Namespace topic tree with JSON payloads.
    Uns,
    /// Sparkplug B 3.0: protobuf payloads, an edge node per line, a device per machine.
    Sparkplug,
}

/// The MQTT sink's settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host[:1883]` or `mqtts://host[:8883]` (TLS). Unset: no broker.
    #[serde(deserialize_with = "url")]
    pub url: Option<String>,
    #[serde(deserialize_with = "setting::parsed")]
    pub mode: MqttMode,
    /// The root of the Unified Namespace topic tree.
    #[serde(deserialize_with = "topic_prefix")]
    pub topic_prefix: String,
    /// 0 (at most once) or 1 (at least once: every message acknowledged by the broker).
    #[serde(deserialize_with = "setting::int::<_, _, 0, 1>")]
    pub qos: u8,
    /// The MQTT client id's stem (a suffix tells connections apart).
    #[serde(deserialize_with = "client_id")]
    pub client_id: String,
    #[serde(deserialize_with = "setting::maybe")]
    pub username: Option<String>,
    #[serde(deserialize_with = "setting::maybe")]
    pub password: Option<Secret>,
    /// Read when connecting, unless `password` (or `GENIMS_MQTT_PASSWORD`) is set.
    #[serde(deserialize_with = "setting::maybe")]
    pub password_file: Option<PathBuf>,
    /// A PEM file of the roots to trust, or `system`; unset: the operating system's roots.
    #[serde(deserialize_with = "setting::maybe")]
    pub ca_file: Option<String>,
    /// A client certificate and its key (PEM), for mutual TLS.
    #[serde(deserialize_with = "setting::maybe")]
    pub cert_file: Option<PathBuf>,
    #[serde(deserialize_with = "setting::maybe")]
    pub key_file: Option<PathBuf>,
    /// Whether the broker's host name must be in its certificate.
    #[serde(deserialize_with = "setting::flag")]
    pub verify_hostname: bool,
    /// Messages a connection keeps unacknowledged at once (QoS 1).
    #[serde(deserialize_with = "setting::int::<_, _, 1, 65_535>")]
    pub inflight: u16,
    /// Sparkplug B 3.0: the primary host application whose `spBv1.0/STATE/<id>` the edge
    /// nodes follow (no births while it is offline; NDEATH and disconnect when it goes
    /// away). Unset: the edge nodes publish regardless of any host.
    #[serde(deserialize_with = "primary_host_id")]
    pub primary_host_id: Option<String>,
}

impl Default for MqttConfig {
    fn default() -> MqttConfig {
        MqttConfig {
            url: None,
            mode: MqttMode::Uns,
            topic_prefix: "genims".to_owned(),
            qos: 1,
            client_id: "genims".to_owned(),
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            verify_hostname: true,
            inflight: 1000,
            primary_host_id: None,
        }
    }
}

fn url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = setting::checked(d, |u| if u.is_empty() { Ok(()) } else { parse_mqtt_url(u).map(|_| ()) })?;
    Ok(Some(url).filter(|u| !u.is_empty()))
}

fn topic_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    setting::checked(d, check_mqtt_prefix)
}

fn primary_host_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = setting::checked(d, |id| {
        if id.contains(['/', '+', '#', '\0']) {
            Err(format!("`{id}`: a host id is one topic level: no /, + or #"))
        } else {
            Ok(())
        }
    })?;
    Ok(Some(id).filter(|i| !i.is_empty()))
}

fn client_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    setting::checked(d, |id| if id.is_empty() { Err("must not be empty".to_owned()) } else { Ok(()) })
}

impl std::str::FromStr for MqttMode {
    type Err = String;

    fn from_str(s: &str) -> Result<MqttMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "uns" => Ok(MqttMode::Uns),
            "sparkplug" => Ok(MqttMode::Sparkplug),
            other => Err(setting::not_one_of(other, &["uns", "sparkplug"])),
        }
    }
}

/// An MQTT broker's address: (TLS?, host, port) of `mqtt://host[:port]` (1883) or
/// `mqtts://host[:port]` (8883).
pub fn parse_mqtt_url(url: &str) -> std::result::Result<(bool, String, u16), String> {
    let bad = || {
        let url = crate::secrets::redact(url);
        format!("`{url}` is not a broker address such as mqtt://127.0.0.1:1883 or mqtts://broker:8883")
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")) {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://").or_else(|| url.strip_prefix("ssl://")) {
        (true, r)
    } else {
        return Err(bad());
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '@', '?']) {
        return Err(format!("{}: give only the host and port (credentials go in [mqtt] username/password)", bad()));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?)
        }
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((tls, host.to_owned(), port))
}

/// MQTT's rules for the topic root genims publishes under: not empty, no wildcards
/// (`+`, `#`), no leading `$` (reserved for brokers), no empty level.
pub fn check_mqtt_prefix(prefix: &str) -> std::result::Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty (topics are <prefix>/<factory>/<line>/<machine>/...)".to_owned());
    }
    if prefix.contains(['+', '#', '\0']) {
        return Err(format!("`{prefix}`: MQTT topic names may not contain + or # (they are wildcards)"));
    }
    if prefix.starts_with('$') {
        return Err(format!("`{prefix}`: topics starting with $ are reserved for the broker"));
    }
    if prefix.split('/').any(str::is_empty) {
        return Err(format!("`{prefix}`: no empty topic levels (a leading, trailing or double /)"));
    }
    Ok(())
}
