//! Settings: `config.toml`, overridden by `GENIMS_*` environment variables, overridden by
//! command-line flags, merged into one validated [`Config`] that the rest of genims receives.
//!
//! The file is checked completely before anything runs: every unknown key (with a
//! suggestion when one is close) and every bad value is reported with the file, line and key.

use std::path::{Path, PathBuf};

use crate::clock::Date;
use anyhow::{anyhow, bail, Context as _, Result};

use crate::db::schema::Partition;
use crate::db::target::PostgresConfig;
use crate::faults::Catalogue;
use crate::plant::Sizes;
use crate::secrets::Secret;
use crate::sim::Engine;
use crate::sink::kafka::settings::{
    check_topic_prefix, KafkaCompression, KafkaConfig, KafkaSecurity, SaslMechanism, SecurityProtocol,
};
use crate::sink::kind::SinkKind;
use crate::sink::mqtt::settings::{check_mqtt_prefix, parse_mqtt_url, MqttConfig, MqttMode};

/// Settings of the stream daemon.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Sinks when `--sink` is not given: postgres, kafka, mqtt, stdout, null.
    pub sinks: Vec<SinkKind>,
    pub fault_rate: f64,
    /// Progress files (Kafka) and spool directories.
    pub state_dir: PathBuf,
    /// Memory each sink's queue may hold before spooling to disk (MiB).
    pub buffer_mb: usize,
    /// Disk each sink's spool may hold during an outage (MiB); when full, generation waits.
    pub spool_max_mb: usize,
    /// Rows per flush at most.
    pub batch_rows: u64,
    /// How long a sink waits for more ticks before flushing a small batch (ms).
    pub linger_ms: u64,
    /// Seconds between statistics lines.
    pub stats_interval_s: u64,
    /// Seconds a stopping daemon keeps delivering (systemd's TimeoutStopSec must be longer).
    pub shutdown_grace_s: u64,
    /// Address of the HTTP control plane (`/metrics`, `/healthz`, `/readyz`); `None`: off.
    pub listen: Option<std::net::SocketAddr>,
    /// Bearer token for changes through the control plane; required off loopback.
    pub control_token: Option<Secret>,
}

/// The control plane's default address: loopback, a fixed port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9872";

/// Parses a control-plane address: `ip:port`, or empty for off.
pub fn parse_listen(v: &str) -> std::result::Result<Option<std::net::SocketAddr>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        format!("`{v}` is not an address and port such as {DEFAULT_LISTEN} or [::1]:9872 (\"\" turns the endpoint off)")
    })
}

/// Checks a control token: long enough to resist guessing.
fn parse_token(v: &str) -> std::result::Result<Secret, String> {
    let v = v.trim();
    if v.chars().count() < 16 {
        return Err("a control token needs at least 16 characters".to_owned());
    }
    Ok(Secret(v.to_owned()))
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            sinks: vec![SinkKind::Stdout],
            fault_rate: 0.05,
            state_dir: PathBuf::from("./genims-state"),
            buffer_mb: 16,
            spool_max_mb: 1024,
            batch_rows: 50_000,
            linger_ms: 250,
            stats_interval_s: 60,
            shutdown_grace_s: 8,
            listen: Some(DEFAULT_LISTEN.parse().expect("a valid address")),
            control_token: None,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
    pub seed: u64,
    pub reference_date: Date,
    pub sizes: Sizes,
    pub postgres: PostgresConfig,
    pub kafka: KafkaConfig,
    pub mqtt: MqttConfig,
    pub output_dir: PathBuf,
    pub faults_dir: Option<PathBuf>,
    /// How hard the plant is on detectors (`[faults] difficulty`).
    pub difficulty: crate::sim::realism::Difficulty,
    /// Data-quality defects (`[quality]`): the rates, and whether they are on (`None`: on
    /// for a realistic plant, off for an easy one).
    pub quality: crate::sim::quality::Quality,
    pub quality_enabled: Option<bool>,
    pub stream: StreamConfig,
    /// Worker threads (`GENIMS_THREADS`; `None`: one per core). Output does not depend on it.
    pub threads: Option<usize>,
}

impl Config {
    /// The engine of this configuration's plant, with the run's fault rate.
    pub fn engine(&self, fault_rate: f64) -> Result<Engine> {
        let catalogue = self.fault_catalogue()?;
        let plant = crate::plant::Plant::generate(self.seed, &self.sizes, self.reference_date, &catalogue)?;
        let mut engine = Engine::new(self.seed, fault_rate, plant, catalogue)?;
        engine.set_difficulty(self.difficulty);
        engine.quality = self.quality_defects();
        if let Some(t) = self.threads {
            engine.threads = t;
        }
        Ok(engine)
    }
}

/// Values given on the command line; each wins over the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub postgres_url: Option<String>,
    pub kafka_brokers: Option<String>,
    pub seed: Option<u64>,
}

/// The default seed: the day the original package was generated.
pub const DEFAULT_SEED: u64 = 20_251_219;

impl Default for Config {
    fn default() -> Config {
        Config {
            source: None,
            seed: DEFAULT_SEED,
            reference_date: jiff::civil::date(2025, 12, 19),
            sizes: Sizes::default(),
            postgres: PostgresConfig { url: None, pool_size: 4, partition: Partition::None, tls: Default::default() },
            kafka: KafkaConfig {
                brokers: Vec::new(),
                partitions: 6,
                topic_prefix: "genims".to_owned(),
                message_timeout_ms: 60_000,
                compression: KafkaCompression::Zstd,
                client_id: "genims".to_owned(),
                security: KafkaSecurity { verify_hostname: true, ..KafkaSecurity::default() },
            },
            mqtt: MqttConfig::default(),
            output_dir: PathBuf::from("./genims-data"),
            faults_dir: None,
            difficulty: Default::default(),
            quality: Default::default(),
            quality_enabled: None,
            stream: StreamConfig::default(),
            threads: None,
        }
    }
}

/// A key's value from the file, read as its [`Kind`] says.
struct Setting<'a> {
    kind: Kind,
    v: &'a toml::Value,
}

impl Setting<'_> {
    fn int(&self) -> std::result::Result<i64, String> {
        let Kind::Int(lo, hi) = self.kind else { unreachable!("an integer key") };
        match self.v.as_integer() {
            Some(i) if (lo..=hi).contains(&i) => Ok(i),
            Some(i) => Err(format!("{i} is out of range {lo}..={hi}")),
            None => Err(format!("expected an integer, found {}", self.v.type_str())),
        }
    }

    fn usize(&self) -> std::result::Result<usize, String> {
        self.int().map(|i| i as usize)
    }

    fn string(&self) -> std::result::Result<String, String> {
        self.v.as_str().map(str::to_owned).ok_or_else(|| format!("expected a string, found {}", self.v.type_str()))
    }

    fn fraction(&self) -> std::result::Result<f64, String> {
        let x = self
            .v
            .as_float()
            .or_else(|| self.v.as_integer().map(|i| i as f64))
            .ok_or_else(|| format!("expected a number, found {}", self.v.type_str()))?;
        if !(0.0..=1.0).contains(&x) {
            return Err(format!("{x} must lie between 0 and 1"));
        }
        Ok(x)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// An integer in the given inclusive range.
    Int(i64, i64),
    Str,
    Date,
    Enum(&'static [&'static str]),
    /// A string or a list of strings.
    StrList,
    /// A number between 0 and 1.
    Fraction,
    Bool,
}

/// Every key the file may hold: (section, key, kind).
const KEYS: &[(&str, &str, Kind)] = &[
    ("plant", "seed", Kind::Int(0, i64::MAX)),
    ("plant", "reference_date", Kind::Date),
    ("plant", "factories", Kind::Int(1, 5000)),
    ("plant", "lines", Kind::Int(1, 25_000)),
    ("plant", "machines", Kind::Int(1, 250_000)),
    ("plant", "sensors", Kind::Int(1, 2_000_000)),
    ("plant", "employees", Kind::Int(1, 12_000_000)),
    ("plant", "products", Kind::Int(1, 20)),
    ("plant", "customers", Kind::Int(1, 10)),
    ("plant", "line_products", Kind::Int(1, 30_000)),
    ("plant", "customer_products", Kind::Int(1, 80)),
    ("postgres", "url", Kind::Str),
    ("postgres", "pool_size", Kind::Int(1, 64)),
    ("postgres", "partition", Kind::Enum(&["none", "daily"])),
    ("postgres", "sslmode", Kind::Enum(&crate::db::target::SslMode::NAMES)),
    ("postgres", "sslrootcert", Kind::Str),
    ("postgres", "sslcert", Kind::Str),
    ("postgres", "sslkey", Kind::Str),
    ("postgres", "password_file", Kind::Str),
    ("kafka", "brokers", Kind::StrList),
    ("kafka", "partitions", Kind::Int(1, 1000)),
    ("kafka", "topic_prefix", Kind::Str),
    ("kafka", "message_timeout_ms", Kind::Int(1_000, 3_600_000)),
    ("kafka", "compression", Kind::Enum(&KafkaCompression::NAMES)),
    ("kafka", "client_id", Kind::Str),
    ("kafka", "security_protocol", Kind::Enum(&SecurityProtocol::NAMES)),
    ("kafka", "sasl_mechanism", Kind::Enum(&SaslMechanism::NAMES)),
    ("kafka", "sasl_username", Kind::Str),
    ("kafka", "sasl_password", Kind::Str),
    ("kafka", "sasl_password_file", Kind::Str),
    ("kafka", "ssl_ca_location", Kind::Str),
    ("kafka", "ssl_certificate_location", Kind::Str),
    ("kafka", "ssl_key_location", Kind::Str),
    ("kafka", "ssl_endpoint_identification_algorithm", Kind::Enum(&["https", "none"])),
    ("mqtt", "url", Kind::Str),
    ("mqtt", "mode", Kind::Enum(&["uns", "sparkplug"])),
    ("mqtt", "topic_prefix", Kind::Str),
    ("mqtt", "qos", Kind::Int(0, 1)),
    ("mqtt", "client_id", Kind::Str),
    ("mqtt", "username", Kind::Str),
    ("mqtt", "password", Kind::Str),
    ("mqtt", "password_file", Kind::Str),
    ("mqtt", "ca_file", Kind::Str),
    ("mqtt", "cert_file", Kind::Str),
    ("mqtt", "key_file", Kind::Str),
    ("mqtt", "verify_hostname", Kind::Bool),
    ("mqtt", "inflight", Kind::Int(1, 65_535)),
    ("output", "dir", Kind::Str),
    ("faults", "dir", Kind::Str),
    ("faults", "difficulty", Kind::Enum(&crate::sim::realism::Difficulty::NAMES)),
    ("quality", "enabled", Kind::Bool),
    ("quality", "gaps_per_machine_day", Kind::Fraction),
    ("quality", "gap_minutes_max", Kind::Int(1, 600)),
    ("quality", "clock_skews_per_machine_day", Kind::Fraction),
    ("quality", "clock_skew_max_s", Kind::Int(1, 3600)),
    ("quality", "stale_per_sensor_day", Kind::Fraction),
    ("quality", "stale_minutes_max", Kind::Int(1, 600)),
    ("quality", "duplicate_rate", Kind::Fraction),
    ("quality", "late_rate", Kind::Fraction),
    ("quality", "max_lateness_s", Kind::Int(10, 50)),
    ("quality", "spike_rate", Kind::Fraction),
    ("quality", "invalid_rate", Kind::Fraction),
    ("stream", "sinks", Kind::StrList),
    ("stream", "fault_rate", Kind::Fraction),
    ("stream", "state_dir", Kind::Str),
    ("stream", "buffer_mb", Kind::Int(1, 65_536)),
    ("stream", "spool_max_mb", Kind::Int(0, 16_777_216)),
    ("stream", "batch_rows", Kind::Int(1, 10_000_000)),
    ("stream", "linger_ms", Kind::Int(0, 60_000)),
    ("stream", "stats_interval_s", Kind::Int(1, 86_400)),
    ("stream", "shutdown_grace_s", Kind::Int(1, 600)),
    ("stream", "listen", Kind::Str),
    ("stream", "control_token", Kind::Str),
];

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
        if let Some(url) = &o.postgres_url {
            cfg.postgres.url = Some(url.clone());
        }
        if let Some(b) = &o.kafka_brokers {
            cfg.kafka.brokers = split_list(b);
        }
        if let Some(seed) = o.seed {
            cfg.seed = seed;
        }
        Ok(cfg)
    }

    /// Applies one file's settings, reporting every problem with its line.
    pub fn apply_file(&mut self, path: &Path, text: &str) -> Result<()> {
        let doc: toml::Table =
            text.parse().map_err(|e: toml::de::Error| anyhow!("{}: {}", path.display(), one_line(&e.to_string())))?;
        // (line, message): reported in the file's order.
        let mut problems: Vec<(usize, String)> = Vec::new();
        let line = |section: &str, key: Option<&str>| line_of(text, section, key);
        let at = |section: &str, key: Option<&str>| format!("{}:{}", path.display(), line(section, key));
        for (section, value) in &doc {
            let Some(table) = value.as_table() else {
                problems.push((line("", Some(section)), format!("{}: `{section}` must be a [section]; known sections: plant, postgres, kafka, mqtt, output, faults, quality, stream", at("", Some(section)))));
                continue;
            };
            if !KEYS.iter().any(|k| k.0 == section) {
                let hint = suggest(section, KEYS.iter().map(|k| k.0));
                problems
                    .push((line(section, None), format!("{}: unknown section [{section}]{hint}", at(section, None))));
                continue;
            }
            for (key, v) in table {
                let Some(&(_, _, kind)) = KEYS.iter().find(|k| k.0 == section && k.1 == key) else {
                    let hint = suggest(key, KEYS.iter().filter(|k| k.0 == section).map(|k| k.1));
                    problems.push((
                        line(section, Some(key)),
                        format!("{}: unknown key `{section}.{key}`{hint}", at(section, Some(key))),
                    ));
                    continue;
                };
                if let Err(why) = self.set(section, key, kind, v) {
                    problems.push((
                        line(section, Some(key)),
                        format!("{}: {section}.{key}: {why}", at(section, Some(key))),
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            problems.sort_by_key(|p| p.0);
            let lines: Vec<String> = problems.into_iter().map(|p| p.1).collect();
            bail!("invalid configuration:\n  {}", lines.join("\n  "))
        }
    }

    fn set(&mut self, section: &str, key: &str, kind: Kind, v: &toml::Value) -> std::result::Result<(), String> {
        let x = Setting { kind, v };
        match section {
            "plant" => self.set_plant(key, &x),
            "postgres" => self.set_postgres(key, &x),
            "kafka" => self.set_kafka(key, &x),
            "mqtt" => self.set_mqtt(key, &x),
            "output" => self.set_output(key, &x),
            "faults" => self.set_faults(key, &x),
            "quality" => self.set_quality(key, &x),
            "stream" => self.set_stream(key, &x),
            _ => unreachable!("every section in KEYS is handled"),
        }
    }

    /// A key of `[plant]`.
    fn set_plant(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "seed" => self.seed = x.int()? as u64,
            "reference_date" => {
                let s = x.string()?;
                self.reference_date = parse_date(&s).ok_or_else(|| format!("`{s}` is not a date like 2025-12-19"))?;
            }
            "factories" => self.sizes.factories = x.usize()?,
            "lines" => self.sizes.lines = x.usize()?,
            "machines" => self.sizes.machines = x.usize()?,
            "sensors" => self.sizes.sensors = x.usize()?,
            "employees" => self.sizes.employees = x.usize()?,
            "products" => self.sizes.products = x.usize()?,
            "customers" => self.sizes.customers = x.usize()?,
            "line_products" => self.sizes.line_products = x.usize()?,
            "customer_products" => self.sizes.customer_products = x.usize()?,
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[postgres]`.
    fn set_postgres(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "url" => self.postgres.url = Some(x.string()?).filter(|s| !s.is_empty()),
            "pool_size" => self.postgres.pool_size = x.usize()?,
            "sslmode" => {
                let s = x.string()?;
                self.postgres.tls.sslmode =
                    Some(crate::db::target::SslMode::parse(&s).ok_or_else(|| {
                        format!("`{s}` is not one of {}", crate::db::target::SslMode::NAMES.join(", "))
                    })?);
            }
            "sslrootcert" => self.postgres.tls.sslrootcert = Some(x.string()?),
            "sslcert" => self.postgres.tls.sslcert = Some(PathBuf::from(x.string()?)),
            "sslkey" => self.postgres.tls.sslkey = Some(PathBuf::from(x.string()?)),
            "password_file" => self.postgres.tls.password_file = Some(PathBuf::from(x.string()?)),
            "partition" => {
                let Kind::Enum(allowed) = x.kind else { unreachable!() };
                let s = x.string()?;
                self.postgres.partition = match s.as_str() {
                    "none" => Partition::None,
                    "daily" => Partition::Daily,
                    _ => return Err(format!("`{s}` is not one of {}", allowed.join(", "))),
                };
            }
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[kafka]`.
    fn set_kafka(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "brokers" => self.kafka.brokers = str_list(x.v)?,
            "partitions" => self.kafka.partitions = x.int()? as i32,
            "message_timeout_ms" => self.kafka.message_timeout_ms = x.int()? as u64,
            "compression" => {
                let s = x.string()?;
                self.kafka.compression = KafkaCompression::parse(&s)
                    .ok_or_else(|| format!("`{s}` is not one of {}", KafkaCompression::NAMES.join(", ")))?;
            }
            "client_id" => {
                let id = x.string()?;
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                    return Err(format!("`{id}` is not a client id: use letters, digits, `.`, `_` and `-`"));
                }
                self.kafka.client_id = id;
            }
            "security_protocol" => {
                let s = x.string()?;
                self.kafka.security.protocol = SecurityProtocol::parse(&s)
                    .ok_or_else(|| format!("`{s}` is not one of {}", SecurityProtocol::NAMES.join(", ")))?;
            }
            "sasl_mechanism" => {
                let s = x.string()?;
                let m = SaslMechanism::parse(&s).ok_or_else(|| {
                    format!(
                        "`{s}` is not one of {} (GSSAPI and OAUTHBEARER are not supported)",
                        SaslMechanism::NAMES.join(", ")
                    )
                })?;
                self.kafka.security.sasl_mechanism = Some(m);
            }
            "sasl_username" => self.kafka.security.sasl_username = Some(x.string()?).filter(|s| !s.is_empty()),
            "sasl_password" => {
                self.kafka.security.sasl_password = Some(Secret(x.string()?)).filter(|s| !s.0.is_empty())
            }
            "sasl_password_file" => self.kafka.security.sasl_password_file = Some(PathBuf::from(x.string()?)),
            "ssl_ca_location" => self.kafka.security.ssl_ca_location = Some(x.string()?).filter(|s| !s.is_empty()),
            "ssl_certificate_location" => {
                self.kafka.security.ssl_certificate_location = Some(PathBuf::from(x.string()?))
            }
            "ssl_key_location" => self.kafka.security.ssl_key_location = Some(PathBuf::from(x.string()?)),
            "ssl_endpoint_identification_algorithm" => {
                self.kafka.security.verify_hostname = match x.string()?.to_ascii_lowercase().as_str() {
                    "https" => true,
                    "none" => false,
                    other => return Err(format!("`{other}` is not one of https, none")),
                };
            }
            "topic_prefix" => {
                let prefix = x.string()?;
                check_topic_prefix(&prefix)?;
                self.kafka.topic_prefix = prefix;
            }
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[mqtt]`.
    fn set_mqtt(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "url" => {
                let url = x.string()?;
                if !url.is_empty() {
                    parse_mqtt_url(&url)?;
                }
                self.mqtt.url = Some(url).filter(|s| !s.is_empty());
            }
            "mode" => {
                self.mqtt.mode = match x.string()?.to_ascii_lowercase().as_str() {
                    "uns" => MqttMode::Uns,
                    "sparkplug" => MqttMode::Sparkplug,
                    other => return Err(format!("`{other}` is not one of uns, sparkplug")),
                }
            }
            "topic_prefix" => {
                let prefix = x.string()?;
                check_mqtt_prefix(&prefix)?;
                self.mqtt.topic_prefix = prefix;
            }
            "qos" => self.mqtt.qos = x.int()? as u8,
            "client_id" => {
                let id = x.string()?;
                if id.is_empty() {
                    return Err("must not be empty".to_owned());
                }
                self.mqtt.client_id = id;
            }
            "username" => self.mqtt.username = Some(x.string()?).filter(|s| !s.is_empty()),
            "password" => self.mqtt.password = Some(Secret(x.string()?)).filter(|s| !s.0.is_empty()),
            "password_file" => self.mqtt.password_file = Some(PathBuf::from(x.string()?)),
            "ca_file" => self.mqtt.ca_file = Some(x.string()?).filter(|s| !s.is_empty()),
            "cert_file" => self.mqtt.cert_file = Some(PathBuf::from(x.string()?)),
            "key_file" => self.mqtt.key_file = Some(PathBuf::from(x.string()?)),
            "verify_hostname" => {
                self.mqtt.verify_hostname =
                    x.v.as_bool().ok_or_else(|| format!("expected true or false, found {}", x.v.type_str()))?
            }
            "inflight" => self.mqtt.inflight = x.int()? as u16,
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[output]`.
    fn set_output(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "dir" => self.output_dir = PathBuf::from(x.string()?),
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[faults]`.
    fn set_faults(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "dir" => self.faults_dir = Some(PathBuf::from(x.string()?)),
            "difficulty" => {
                let name = x.string()?;
                self.difficulty = crate::sim::realism::Difficulty::parse(&name).ok_or_else(|| {
                    format!("`{name}` is not one of {}", crate::sim::realism::Difficulty::NAMES.join(", "))
                })?;
            }
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[quality]`.
    fn set_quality(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "enabled" => {
                self.quality_enabled =
                    Some(x.v.as_bool().ok_or_else(|| format!("expected true or false, found {}", x.v.type_str()))?)
            }
            "gaps_per_machine_day" => self.quality.gaps_per_machine_day = x.fraction()?,
            "gap_minutes_max" => self.quality.gap_minutes_max = x.int()?,
            "clock_skews_per_machine_day" => self.quality.clock_skews_per_machine_day = x.fraction()?,
            "clock_skew_max_s" => self.quality.clock_skew_max_s = x.int()?,
            "stale_per_sensor_day" => self.quality.stale_per_sensor_day = x.fraction()?,
            "stale_minutes_max" => self.quality.stale_minutes_max = x.int()?,
            "duplicate_rate" => self.quality.duplicate_rate = x.fraction()?,
            "late_rate" => self.quality.late_rate = x.fraction()?,
            "max_lateness_s" => self.quality.max_lateness_s = x.int()?,
            "spike_rate" => self.quality.spike_rate = x.fraction()?,
            "invalid_rate" => self.quality.invalid_rate = x.fraction()?,
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// A key of `[stream]`.
    fn set_stream(&mut self, key: &str, x: &Setting) -> std::result::Result<(), String> {
        match key {
            "sinks" => {
                self.stream.sinks = str_list(x.v)?.iter().map(|s| SinkKind::live_named(s)).collect::<Result<_, _>>()?;
            }
            "fault_rate" => self.stream.fault_rate = x.fraction()?,
            "state_dir" => self.stream.state_dir = PathBuf::from(x.string()?),
            "buffer_mb" => self.stream.buffer_mb = x.usize()?,
            "spool_max_mb" => self.stream.spool_max_mb = x.usize()?,
            "batch_rows" => self.stream.batch_rows = x.int()? as u64,
            "linger_ms" => self.stream.linger_ms = x.int()? as u64,
            "stats_interval_s" => self.stream.stats_interval_s = x.int()? as u64,
            "shutdown_grace_s" => self.stream.shutdown_grace_s = x.int()? as u64,
            "listen" => self.stream.listen = parse_listen(&x.string()?)?,
            "control_token" => self.stream.control_token = Some(parse_token(&x.string()?)?),
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(())
    }

    /// The data-quality defects delivered readings carry, or `None` when `[quality]` is off
    /// (by default, on for a realistic plant and off for an easy one).
    pub fn quality_defects(&self) -> Option<crate::sim::quality::Quality> {
        let on = self.quality_enabled.unwrap_or(self.difficulty == crate::sim::realism::Difficulty::Realistic);
        on.then(|| self.quality.clone())
    }

    /// Applies `GENIMS_*` environment variables.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(url) = get("GENIMS_POSTGRES_URL").filter(|s| !s.is_empty()) {
            self.postgres.url = Some(url);
        }
        if let Some(b) = get("GENIMS_KAFKA_BROKERS").filter(|s| !s.is_empty()) {
            self.kafka.brokers = split_list(&b);
        }
        if let Some(s) = get("GENIMS_SEED") {
            self.seed = s.trim().parse().map_err(|_| anyhow!("GENIMS_SEED: `{s}` is not a non-negative integer"))?;
        }
        if let Some(d) = get("GENIMS_OUTPUT_DIR").filter(|s| !s.is_empty()) {
            self.output_dir = PathBuf::from(d);
        }
        if let Some(t) = get("GENIMS_THREADS").filter(|s| !s.trim().is_empty()) {
            let n = t.trim().parse::<usize>().ok().filter(|&n| n > 0);
            self.threads = Some(n.ok_or_else(|| anyhow!("GENIMS_THREADS: `{t}` is not a positive number of threads"))?);
        }
        if let Some(d) = get("GENIMS_FAULTS_DIR").filter(|s| !s.is_empty()) {
            self.faults_dir = Some(PathBuf::from(d));
        }
        if let Some(d) = get("GENIMS_STATE_DIR").filter(|s| !s.is_empty()) {
            self.stream.state_dir = PathBuf::from(d);
        }
        if let Some(l) = get("GENIMS_LISTEN") {
            self.stream.listen = parse_listen(&l).map_err(|e| anyhow!("GENIMS_LISTEN: {e}"))?;
        }
        if let Some(u) = get("GENIMS_KAFKA_SASL_USERNAME").filter(|s| !s.is_empty()) {
            self.kafka.security.sasl_username = Some(u);
        }
        if let Some(p) = get("GENIMS_KAFKA_SASL_PASSWORD").filter(|s| !s.is_empty()) {
            self.kafka.security.sasl_password = Some(Secret(p));
        }
        if let Some(u) = get("GENIMS_MQTT_URL").filter(|s| !s.is_empty()) {
            parse_mqtt_url(&u).map_err(|e| anyhow!("GENIMS_MQTT_URL: {e}"))?;
            self.mqtt.url = Some(u);
        }
        if let Some(u) = get("GENIMS_MQTT_USERNAME").filter(|s| !s.is_empty()) {
            self.mqtt.username = Some(u);
        }
        if let Some(p) = get("GENIMS_MQTT_PASSWORD").filter(|s| !s.is_empty()) {
            self.mqtt.password = Some(Secret(p));
        }
        if let Some(t) = get("GENIMS_CONTROL_TOKEN").filter(|s| !s.is_empty()) {
            self.stream.control_token = Some(parse_token(&t).map_err(|e| anyhow!("GENIMS_CONTROL_TOKEN: {e}"))?);
        }
        Ok(())
    }

    /// The PostgreSQL server with its TLS and password settings applied.
    pub fn postgres(&self) -> Result<crate::db::Target> {
        self.postgres.target()
    }

    /// What opening a sink needs of this configuration, for a run of `engine` named `name`
    /// over `window` (`dir`: a backfill's output directory, a stream's state directory).
    pub fn sink_run<'a>(
        &'a self,
        engine: &'a Engine,
        rt: &'a tokio::runtime::Handle,
        (name, shard): (&'a str, crate::sim::scope::Shard),
        window: (i64, i64),
        dir: &'a Path,
    ) -> crate::sink::Run<'a> {
        crate::sink::Run {
            engine,
            rt,
            name,
            shard,
            window,
            dir,
            seed: self.seed,
            sizes: &self.sizes,
            postgres: &self.postgres,
            kafka: &self.kafka,
            mqtt: &self.mqtt,
        }
    }

    /// The fault catalogue: the user's directory when configured, else the built-in one.
    pub fn fault_catalogue(&self) -> Result<Catalogue> {
        match &self.faults_dir {
            Some(dir) => Ok(Catalogue::load_dir(dir)?),
            None => Ok(Catalogue::builtin()),
        }
    }
}

/// A string of comma-separated items or a list of strings.
fn str_list(v: &toml::Value) -> std::result::Result<Vec<String>, String> {
    match v {
        toml::Value::String(s) => Ok(split_list(s)),
        toml::Value::Array(a) => {
            a.iter().map(|x| x.as_str().map(str::to_owned).ok_or("expected a list of strings".to_owned())).collect()
        }
        other => Err(format!("expected a string or a list of strings, found {}", other.type_str())),
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shaped.then(|| s.parse().ok()).flatten()
}

/// First line of toml's error, plus its closing reason line.
fn one_line(msg: &str) -> String {
    let head = msg.lines().next().unwrap_or("").trim();
    let reason = msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if reason == head {
        head.to_owned()
    } else {
        format!("{head}: {reason}")
    }
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
    let best = known.map(|k| (edit_distance(word, k), k)).min();
    match best {
        Some((d, k)) if d <= 2 => format!(" (did you mean `{k}`?)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/configuration.md lists every key genims reads, and no other, both ways.
    #[test]
    fn the_configuration_reference_lists_every_key_and_no_other() {
        let doc = include_str!("../docs/configuration.md");
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
        let read: std::collections::BTreeSet<(String, String)> =
            KEYS.iter().map(|(s, k, _)| ((*s).to_owned(), (*k).to_owned())).collect();
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
        use crate::sim::quality::Quality;
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
    fn difficulty_is_realistic_unless_set() {
        use crate::sim::realism::Difficulty;
        assert_eq!(Config::default().difficulty, Difficulty::Realistic);
        assert_eq!(apply("[faults]\ndifficulty = \"easy\"\n").unwrap().difficulty, Difficulty::Easy);
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
        let text = include_str!("../config.toml");
        let c = apply(text).unwrap();
        let d = Config::default();
        assert_eq!(c.sizes, d.sizes);
        assert_eq!(c.seed, d.seed);
        assert_eq!(c.reference_date, d.reference_date);
        assert_eq!(c.quality, d.quality, "config.toml's [quality] rates are the defaults");
        assert_eq!(c.difficulty, d.difficulty, "config.toml's difficulty is the default");
        assert_eq!(c.quality_defects(), d.quality_defects(), "the shipped plant delivers the default defects");
        assert!(c.postgres.url.is_none(), "the shipped config must run without a server");
    }

    #[test]
    fn kafka_security_takes_librdkafkas_names_and_values() {
        let c = apply(
            "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"scram-sha-512\"\nsasl_username = \"u\"\n\
             ssl_ca_location = \"/ca.pem\"\nssl_endpoint_identification_algorithm = \"none\"\nclient_id = \"plant-7\"\n",
        )
        .unwrap();
        let s = &c.kafka.security;
        assert_eq!((s.protocol, s.sasl_mechanism), (SecurityProtocol::SaslSsl, Some(SaslMechanism::ScramSha512)));
        assert!(
            !s.verify_hostname && s.ssl_ca_location.as_deref() == Some("/ca.pem") && c.kafka.client_id == "plant-7"
        );
        assert!(Config::default().kafka.security.verify_hostname, "host names are verified by default");
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
        assert_eq!(c.kafka.security.sasl_password, Some(Secret("pw-from-env".into())));
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
        assert!(err.starts_with("cfg.toml: TOML parse error at line 2"), "{err}");
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
        let err = Config::default().postgres().unwrap_err().to_string();
        assert!(err.starts_with("no PostgreSQL database configured") && !err.contains('\n'), "{err}");
    }
}
