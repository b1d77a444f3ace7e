//! Settings: `config.toml`, overridden by `GENIMS_*` environment variables, overridden by
//! command-line flags, merged into one [`Config`] that the rest of genims receives.
//!
//! Each `[section]` is a serde struct beside the code that owns it, every key a field with
//! its doc comment and the rule that reads it ([`crate::setting`]); [`Config`] composes
//! them. The file is checked completely before anything runs: every unknown key (with a
//! suggestion when one is close) and every bad value is reported with the file, line and
//! key, all at once.

mod opcua;
mod stream;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::de::DeserializeOwned;

use crate::db::target::PostgresConfig;
use crate::secrets::Secret;
use crate::setting::split_list;
use crate::sim::quality::Quality;
use crate::sim::realism::{Difficulty, FaultSettings};
use crate::sink::kafka::settings::KafkaConfig;
use crate::sink::mqtt::settings::{parse_mqtt_url, MqttConfig};
#[cfg_attr(not(feature = "opcua"), allow(unused_imports))]
pub use opcua::{OpcUaConfig, Policy};
pub use stream::{parse_listen, StreamConfig};

/// The validated configuration: one struct per `[section]`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
    pub plant: crate::plant::Settings,
    pub postgres: PostgresConfig,
    pub kafka: KafkaConfig,
    pub mqtt: MqttConfig,
    pub output: crate::output::Settings,
    pub faults: FaultSettings,
    pub quality: Quality,
    pub stream: StreamConfig,
    pub retention: crate::db::retention::Settings,
    pub opcua: OpcUaConfig,
    /// Worker threads (`GENIMS_THREADS`; `None`: one per core). Output does not depend on it.
    pub threads: Option<usize>,
}

/// Values given on the command line; each wins over the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub postgres_url: Option<String>,
    pub kafka_brokers: Option<String>,
    pub seed: Option<u64>,
}

impl Config {
    /// Loads the file (`--config`, `GENIMS_CONFIG`, or `./config.toml` when present), then
    /// applies the environment, then the flags.
    pub fn load(o: &Overrides) -> Result<Config> {
        let mut cfg = Config::default();
        let path = match &o.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("config.toml")).filter(|p| p.is_file()),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read configuration file {}", path.display()))?;
            cfg.apply_file(&path, &text)?;
            cfg.source = Some(path);
        }
        cfg.apply_env(|k| std::env::var(k).ok())?;
        over(&mut cfg.postgres.url, o.postgres_url.clone().map(Some));
        over(&mut cfg.kafka.brokers, o.kafka_brokers.as_deref().map(split_list));
        over(&mut cfg.plant.seed, o.seed);
        Ok(cfg)
    }

    /// Applies one file's settings, reporting every problem with its line.
    pub fn apply_file(&mut self, path: &Path, text: &str) -> Result<()> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(1, |at| text[..at.start].matches('\n').count() + 1);
            let why: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            anyhow!("{}:{line}: {}", path.display(), why.join(": "))
        })?;
        let mut check = Check { path, text, problems: Vec::new() };
        for (section, value) in &doc {
            let Some(table) = value.as_table() else {
                let known = SECTIONS.join(", ");
                check.say("", Some(section), format!("`{section}` must be a [section]; known sections: {known}"));
                continue;
            };
            match section.as_str() {
                "plant" => check.section(section, table, &mut self.plant),
                "postgres" => check.section(section, table, &mut self.postgres),
                "kafka" => check.section(section, table, &mut self.kafka),
                "mqtt" => check.section(section, table, &mut self.mqtt),
                "output" => check.section(section, table, &mut self.output),
                "faults" => check.section(section, table, &mut self.faults),
                "quality" => check.section(section, table, &mut self.quality),
                "stream" => check.section(section, table, &mut self.stream),
                "retention" => check.section(section, table, &mut self.retention),
                "opcua" => check.section(section, table, &mut self.opcua),
                _ => {
                    let hint = suggest(section, SECTIONS.iter().copied());
                    check.say(section, None, format!("unknown section [{section}]{hint}"));
                }
            }
        }
        check.verdict()
    }

    /// The data-quality defects delivered readings carry, or `None` when `[quality]` is off
    /// (by default, on for a realistic plant and off for an easy one).
    pub fn quality_defects(&self) -> Option<Quality> {
        let on = self.quality.enabled.unwrap_or(self.faults.difficulty == Difficulty::Realistic);
        on.then(|| self.quality.clone())
    }

    /// Applies `GENIMS_*` environment variables (an empty one is unset, except
    /// `GENIMS_LISTEN=""`, which turns the control plane off).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        let set = |k: &str| get(k).filter(|s| !s.trim().is_empty());
        let checked = |k: &str, check: fn(&str) -> std::result::Result<(), String>| -> Result<Option<String>> {
            let v = set(k);
            v.as_deref().map(check).transpose().map_err(|e| anyhow!("{k}: {e}"))?;
            Ok(v)
        };
        let path = |k: &str| set(k).map(PathBuf::from);
        over(&mut self.postgres.url, set("GENIMS_POSTGRES_URL").map(Some));
        over(&mut self.kafka.brokers, set("GENIMS_KAFKA_BROKERS").map(|b| split_list(&b)));
        over(&mut self.kafka.sasl_username, set("GENIMS_KAFKA_SASL_USERNAME").map(Some));
        over(&mut self.kafka.sasl_password, set("GENIMS_KAFKA_SASL_PASSWORD").map(|p| Some(Secret(p))));
        over(&mut self.mqtt.url, checked("GENIMS_MQTT_URL", |u| parse_mqtt_url(u).map(|_| ()))?.map(Some));
        over(&mut self.mqtt.username, set("GENIMS_MQTT_USERNAME").map(Some));
        over(&mut self.mqtt.password, set("GENIMS_MQTT_PASSWORD").map(|p| Some(Secret(p))));
        over(&mut self.output.dir, path("GENIMS_OUTPUT_DIR"));
        over(&mut self.faults.dir, path("GENIMS_FAULTS_DIR").map(Some));
        over(&mut self.stream.state_dir, path("GENIMS_STATE_DIR"));
        let token = checked("GENIMS_CONTROL_TOKEN", |t| stream::parse_token(t).map(|_| ()))?;
        over(&mut self.stream.control_token, token.map(|t| Some(Secret(t.trim().to_owned()))));
        if let Some(l) = get("GENIMS_LISTEN") {
            self.stream.listen = parse_listen(&l).map_err(|e| anyhow!("GENIMS_LISTEN: {e}"))?;
        }
        if let Some(l) = get("GENIMS_OPCUA_LISTEN") {
            self.opcua.listen = opcua::parse_listen(&l).map_err(|e| anyhow!("GENIMS_OPCUA_LISTEN: {e}"))?;
        }
        if let Some(d) = set("GENIMS_RETENTION_DAYS") {
            self.retention.days = d.trim().parse().ok().filter(|&d| d <= 36_500).ok_or_else(|| {
                anyhow!("GENIMS_RETENTION_DAYS: `{d}` is not a number of days from 0 (keep everything) to 36500")
            })?;
        }
        if let Some(s) = get("GENIMS_SEED") {
            self.plant.seed =
                s.trim().parse().map_err(|_| anyhow!("GENIMS_SEED: `{s}` is not a non-negative integer"))?;
        }
        if let Some(t) = set("GENIMS_THREADS") {
            let n = t.trim().parse::<usize>().ok().filter(|&n| n > 0);
            self.threads = Some(n.ok_or_else(|| anyhow!("GENIMS_THREADS: `{t}` is not a positive number of threads"))?);
        }
        Ok(())
    }
}

/// Puts `value`, when there is one, in `slot`.
fn over<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The sections a configuration file may hold.
const SECTIONS: [&str; 10] =
    ["plant", "postgres", "kafka", "mqtt", "output", "faults", "quality", "stream", "retention", "opcua"];

/// The problems found in one configuration file, each with its line.
struct Check<'a> {
    path: &'a Path,
    text: &'a str,
    problems: Vec<(usize, String)>,
}

impl Check<'_> {
    /// Records a problem at `[section]`'s `key` (or the section's header).
    fn say(&mut self, section: &str, key: Option<&str>, what: String) {
        let line = line_of(self.text, section, key);
        self.problems.push((line, format!("{}:{line}: {what}", self.path.display())));
    }

    /// Reads `[section]` into its struct: each key on its own, so that every bad one is
    /// reported, then the whole when all are good.
    fn section<S: DeserializeOwned>(&mut self, section: &str, table: &toml::Table, into: &mut S) {
        let known = keys_of::<S>();
        let before = self.problems.len();
        for (key, value) in table {
            if !known.contains(&key.as_str()) {
                let hint = suggest(key, known.iter().copied());
                self.say(section, Some(key), format!("unknown key `{section}.{key}`{hint}"));
                continue;
            }
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            if let Err(e) = toml::Value::Table(one).try_into::<S>() {
                self.say(section, Some(key), format!("{section}.{key}: {}", e.message()));
            }
        }
        if self.problems.len() == before {
            match toml::Value::Table(table.clone()).try_into::<S>() {
                Ok(read) => *into = read,
                Err(e) => self.say(section, None, format!("[{section}]: {}", e.message())),
            }
        }
    }

    /// Every problem in the file's order, or nothing.
    fn verdict(mut self) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|p| p.0);
        let lines: Vec<String> = self.problems.into_iter().map(|p| p.1).collect();
        bail!("invalid configuration:\n  {}", lines.join("\n  "))
    }
}

/// The keys a section's struct declares: serde's names of its fields, read by asking the
/// struct to deserialize itself from a source that only records what it is asked for.
pub fn keys_of<S: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Deserializer, Error as _, Visitor};
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("fields recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = S::deserialize(Fields(&mut fields));
    fields
}

/// The 1-based line where `key` is set in `[section]` (or where the section starts).
fn line_of(text: &str, section: &str, key: Option<&str>) -> usize {
    let mut current = "";
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix('[') {
            current = rest.trim_end_matches(']').trim();
            if key.is_none() && current == section {
                return i + 1;
            }
            continue;
        }
        if let Some(k) = key {
            if current == section {
                let lhs = line.split('=').next().unwrap_or("").trim().trim_matches('"');
                if line.contains('=') && lhs == k {
                    return i + 1;
                }
            }
        }
    }
    1
}

/// ` (did you mean `x`?)` when a known name is within two edits.
fn suggest<'a>(word: &str, known: impl Iterator<Item = &'a str>) -> String {
    let best = known.map(|k| (strsim::levenshtein(word, k), k)).min();
    match best {
        Some((d, k)) if d <= 2 => format!(" (did you mean `{k}`?)"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::kafka::settings::{check_topic_prefix, SaslMechanism, SecurityProtocol};
    use crate::sink::kind::SinkKind;
    use crate::sink::mqtt::settings::MqttMode;

    /// docs/configuration.md lists every key genims reads, and no other, both ways.
    #[test]
    fn the_configuration_reference_lists_every_key_and_no_other() {
        let doc = include_str!("../../docs/configuration.md");
        let mut documented = std::collections::BTreeSet::new();
        for row in doc.lines().filter(|l| l.starts_with("| `")) {
            let cell = row.split('|').nth(1).unwrap_or("");
            let mut section = None;
            for name in cell.split('`').skip(1).step_by(2) {
                let key = match name.split_once('.') {
                    Some((s, k)) => {
                        section = Some(s.to_owned());
                        k
                    }
                    None => name,
                };
                if let Some(s) = &section {
                    documented.insert((s.clone(), key.to_owned()));
                }
            }
        }
        let sections: [(&str, &[&str]); 10] = [
            ("plant", keys_of::<crate::plant::Settings>()),
            ("postgres", keys_of::<PostgresConfig>()),
            ("kafka", keys_of::<KafkaConfig>()),
            ("mqtt", keys_of::<MqttConfig>()),
            ("output", keys_of::<crate::output::Settings>()),
            ("faults", keys_of::<FaultSettings>()),
            ("quality", keys_of::<Quality>()),
            ("stream", keys_of::<StreamConfig>()),
            ("retention", keys_of::<crate::db::retention::Settings>()),
            ("opcua", keys_of::<OpcUaConfig>()),
        ];
        assert_eq!(sections.map(|s| s.0), SECTIONS, "every section is read");
        let read: std::collections::BTreeSet<(String, String)> =
            sections.iter().flat_map(|(s, keys)| keys.iter().map(|k| ((*s).to_owned(), (*k).to_owned()))).collect();
        assert_eq!(read.len(), 92, "the struct fields are found: {read:?}");
        let undocumented: Vec<_> = read.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&read).collect();
        assert!(
            undocumented.is_empty(),
            "keys genims reads that docs/configuration.md does not list: {undocumented:?}"
        );
        assert!(unknown.is_empty(), "keys docs/configuration.md lists that genims does not read: {unknown:?}");
    }

    fn apply(text: &str) -> Result<Config> {
        let mut c = Config::default();
        c.apply_file(Path::new("cfg.toml"), text)?;
        Ok(c)
    }

    #[test]
    fn quality_defects_follow_the_difficulty_unless_set() {
        assert_eq!(Config::default().quality_defects(), Some(Quality::default()), "the realistic default");
        let easy = apply("[faults]\ndifficulty = \"easy\"\n").unwrap();
        assert_eq!(easy.quality_defects(), None, "an easy plant delivers clean data");
        let real = apply("[faults]\ndifficulty = \"realistic\"\n").unwrap();
        assert_eq!(real.quality_defects(), Some(Quality::default()));
        let off = apply("[faults]\ndifficulty = \"realistic\"\n[quality]\nenabled = false\n").unwrap();
        assert_eq!(off.quality_defects(), None, "the off switch");
        let on = apply(
            "[faults]\ndifficulty = \"easy\"\n[quality]\nenabled = true\nlate_rate = 0.01\nmax_lateness_s = 30\n",
        )
        .unwrap();
        let q = on.quality_defects().expect("switched on for an easy plant");
        assert_eq!((q.late_rate, q.max_lateness_s), (0.01, 30));
        let err = apply("[quality]\nspike_rate = 2\nmax_lateness_s = 90\n").unwrap_err().to_string();
        assert!(err.contains("cfg.toml:2: quality.spike_rate: 2 must lie between 0 and 1"), "{err}");
        assert!(err.contains("cfg.toml:3: quality.max_lateness_s: 90 is out of range 10..=50"), "{err}");
    }

    #[test]
    fn a_plant_ten_thousand_times_the_default_is_admitted_and_no_larger() {
        let scaled = |k: usize| {
            format!(
                "[plant]\nfactories = {}\nlines = {}\nmachines = {}\nsensors = {}\nemployees = {}\nline_products = {}\n",
                4 * k,
                20 * k,
                228 * k,
                1716 * k,
                11948 * k,
                27 * k
            )
        };
        let c = apply(&scaled(10_000)).expect("×10,000 is admitted");
        assert_eq!((c.plant.machines, c.plant.sensors), (2_280_000, 17_160_000));
        let err = apply("[plant]\nmachines = 2500001\nsensors = 20000001\n").unwrap_err().to_string();
        assert!(err.contains("cfg.toml:2: plant.machines: 2500001 is out of range 1..=2500000"), "{err}");
        assert!(err.contains("cfg.toml:3: plant.sensors: 20000001 is out of range 1..=20000000"), "{err}");
    }

    #[test]
    fn difficulty_is_realistic_unless_set() {
        assert_eq!(Config::default().faults.difficulty, Difficulty::Realistic);
        assert_eq!(apply("[faults]\ndifficulty = \"easy\"\n").unwrap().faults.difficulty, Difficulty::Easy);
        let err = apply("[faults]\ndifficulty = \"hard\"\n").unwrap_err().to_string();
        assert!(err.contains("cfg.toml:2: faults.difficulty: `hard` is not one of easy, realistic"), "{err}");
    }

    #[test]
    fn mqtt_settings_are_checked_and_the_password_is_never_shown() {
        let c = apply(
            "[mqtt]\nurl = \"mqtts://broker.plant:8883\"\nmode = \"Sparkplug\"\nqos = 0\ntopic_prefix = \"acme/uns\"\n\
             username = \"genims\"\npassword = \"s3cret-pw\"\nverify_hostname = false\n",
        )
        .unwrap();
        let m = &c.mqtt;
        assert_eq!(
            (m.mode, m.qos, m.topic_prefix.as_str(), m.verify_hostname),
            (MqttMode::Sparkplug, 0, "acme/uns", false)
        );
        assert!(!format!("{m:?}").contains("s3cret-pw"), "Debug must redact the password");
        assert_eq!(parse_mqtt_url("mqtts://broker.plant"), Ok((true, "broker.plant".to_owned(), 8883)));
        assert_eq!(parse_mqtt_url("mqtt://[::1]:1884"), Ok((false, "::1".to_owned(), 1884)));
        let err = apply("[mqtt]\nmode = \"opcua\"\nqos = 2\ntopic_prefix = \"a/#\"\nurl = \"broker:1883\"\n")
            .unwrap_err()
            .to_string();
        for want in [
            "cfg.toml:2: mqtt.mode: `opcua` is not one of uns, sparkplug",
            "cfg.toml:3: mqtt.qos: 2 is out of range 0..=1",
            "cfg.toml:4: mqtt.topic_prefix: `a/#`: MQTT topic names may not contain + or #",
            "cfg.toml:5: mqtt.url: `broker:1883` is not a broker address",
        ] {
            assert!(err.contains(want), "{want}\n in: {err}");
        }
        let mut c = Config::default();
        c.apply_env(|k| (k == "GENIMS_MQTT_PASSWORD").then(|| "from-env".to_owned())).unwrap();
        assert_eq!(c.mqtt.password, Some(Secret("from-env".into())));
    }

    #[test]
    fn shipped_config_file_is_valid_and_matches_defaults() {
        let text = include_str!("../../config.toml");
        let c = apply(text).unwrap();
        let d = Config::default();
        assert_eq!(c.plant, d.plant, "config.toml's [plant] is the default plant");
        assert_eq!(c.quality, d.quality, "config.toml's [quality] rates are the defaults");
        assert_eq!(c.faults, d.faults, "config.toml's difficulty is the default");
        assert_eq!(c.quality_defects(), d.quality_defects(), "the shipped plant delivers the default defects");
        assert!(c.postgres.url.is_none(), "the shipped config must run without a server");
        assert_eq!(c.opcua, d.opcua, "config.toml's [opcua] is the default: off");
    }

    #[test]
    fn kafka_security_takes_librdkafkas_names_and_values() {
        let c = apply(
            "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"scram-sha-512\"\nsasl_username = \"u\"\n\
             ssl_ca_location = \"/ca.pem\"\nssl_endpoint_identification_algorithm = \"none\"\nclient_id = \"plant-7\"\n",
        )
        .unwrap();
        let s = &c.kafka;
        assert_eq!((s.protocol, s.sasl_mechanism), (SecurityProtocol::SaslSsl, Some(SaslMechanism::ScramSha512)));
        assert!(
            !s.verify_hostname && s.ssl_ca_location.as_deref() == Some("/ca.pem") && c.kafka.client_id == "plant-7"
        );
        assert!(Config::default().kafka.verify_hostname, "host names are verified by default");
        let err = apply("[kafka]\nsasl_mechanism = \"GSSAPI\"\nsecurity_protocol = \"tls\"\n").unwrap_err().to_string();
        assert!(
            err.contains("kafka.sasl_mechanism: `GSSAPI` is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
            "{err}"
        );
        assert!(
            err.contains("kafka.security_protocol: `tls` is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
            "{err}"
        );
        let mut c = Config::default();
        c.apply_env(|k| (k == "GENIMS_KAFKA_SASL_PASSWORD").then(|| "pw-from-env".to_owned())).unwrap();
        assert_eq!(c.kafka.sasl_password, Some(Secret("pw-from-env".into())));
        assert!(!format!("{c:?}").contains("pw-from-env"), "Debug never shows the password");
    }

    #[test]
    fn every_bad_line_is_reported() {
        let err = apply("[plant]\nseed = 1\nsede = 2\nmachines = \"many\"\n\n[postgress]\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cfg.toml:3: unknown key `plant.sede` (did you mean `seed`?)"), "{err}");
        assert!(err.contains("cfg.toml:4: plant.machines: expected an integer, found string"), "{err}");
        assert!(err.contains("cfg.toml:6: unknown section [postgress] (did you mean `postgres`?)"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let err = apply("[plant]\nseed = = 1\n").unwrap_err().to_string();
        assert!(err.starts_with("cfg.toml:2: ") && !err.contains('\n'), "{err}");
    }

    #[test]
    fn the_control_plane_address_and_token_are_checked_and_the_token_never_printed() {
        let c = apply("[stream]\nlisten = \"\"\n").unwrap();
        assert_eq!(c.stream.listen, None, "an empty address turns the endpoint off");
        let c = apply("[stream]\nlisten = \"[::1]:9000\"\ncontrol_token = \"0123456789abcdef-x\"\n").unwrap();
        assert_eq!(c.stream.listen, Some("[::1]:9000".parse().unwrap()));
        assert!(!format!("{c:?}").contains("0123456789abcdef"), "Debug output must not show the token");
        let err = format!("{:#}", apply("[stream]\nlisten = \"localhost\"\n").unwrap_err());
        assert!(err.contains("not an address and port"), "{err}");
        let err = format!("{:#}", apply("[stream]\ncontrol_token = \"short\"\n").unwrap_err());
        assert!(err.contains("at least 16 characters") && !err.contains("short\""), "{err}");
        let mut c = Config::default();
        c.apply_env(|k| (k == "GENIMS_LISTEN").then(String::new)).unwrap();
        assert_eq!(c.stream.listen, None, "GENIMS_LISTEN=\"\" turns it off");
        let err = c.apply_env(|k| (k == "GENIMS_CONTROL_TOKEN").then(|| "tiny".to_owned())).unwrap_err().to_string();
        assert!(err.starts_with("GENIMS_CONTROL_TOKEN:") && !err.contains("tiny"), "{err}");
    }

    #[test]
    fn environment_overrides_file_and_is_checked() {
        let mut c = apply("[postgres]\nurl = \"postgres://file\"\n").unwrap();
        c.apply_env(|k| (k == "GENIMS_POSTGRES_URL").then(|| "postgres://env".to_owned())).unwrap();
        assert_eq!(c.postgres.url.as_deref(), Some("postgres://env"));
        let err = c.apply_env(|k| (k == "GENIMS_SEED").then(|| "abc".to_owned())).unwrap_err().to_string();
        assert_eq!(err, "GENIMS_SEED: `abc` is not a non-negative integer");
    }

    #[test]
    fn stream_settings_are_checked() {
        let c = apply("[stream]\nsinks = \"postgres,kafka\"\nfault_rate = 0.3\nbuffer_mb = 4\n").unwrap();
        assert_eq!(c.stream.sinks, [SinkKind::Postgres, SinkKind::Kafka]);
        assert_eq!((c.stream.fault_rate, c.stream.buffer_mb), (0.3, 4));
        let err = apply("[stream]\nsinks = [\"postgres\", \"files\"]\nfault_rate = 2\nlinger_ms = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cfg.toml:2: stream.sinks: `files` is not a sink"), "{err}");
        assert!(err.contains("cfg.toml:3: stream.fault_rate: 2 must lie between 0 and 1"), "{err}");
        assert!(err.contains("cfg.toml:4: stream.linger_ms: -1 is out of range"), "{err}");
    }

    #[test]
    fn problems_are_listed_in_line_order() {
        let err = apply("[stream]\nlinger_ms = -1\n\n[plant]\nsede = 2\n\n[kafka]\npartitions = 0\n")
            .unwrap_err()
            .to_string();
        let lines: Vec<usize> =
            err.lines().skip(1).map(|l| l.trim().split(':').nth(1).unwrap().parse().unwrap()).collect();
        assert_eq!(lines, [2, 5, 8], "{err}");
    }

    #[test]
    fn topic_prefixes_follow_kafka_rules() {
        for good in ["genims", "plant-1.site_a", "G"] {
            apply(&format!("[kafka]\ntopic_prefix = \"{good}\"\n")).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        let long = "x".repeat(300);
        for (bad, why) in [
            ("", "must not be empty"),
            ("bad prefix/../ü$x", "' ' is not allowed"),
            ("a\\u0000b", "'\\0' is not allowed"),
            (long.as_str(), "300 characters is too long"),
        ] {
            let err = apply(&format!("[kafka]\ntopic_prefix = \"{bad}\"\n")).unwrap_err().to_string();
            assert!(err.contains("cfg.toml:2: kafka.topic_prefix: ") && err.contains(why), "{bad:?}: {err}");
        }
        assert!(check_topic_prefix(&"x".repeat(230)).is_ok(), "230 + 19 = 249 characters is allowed");
        assert!(check_topic_prefix(&"x".repeat(231)).is_err());
    }

    #[test]
    fn missing_database_is_one_clear_line() {
        let err = Config::default().postgres.target().unwrap_err().to_string();
        assert!(err.starts_with("no PostgreSQL database configured") && !err.contains('\n'), "{err}");
    }
}
