//! The OPC UA server's settings (`[opcua]`): where it listens, which security policies and
//! identities it accepts, where its certificates live, and how many sessions,
//! subscriptions and monitored items it serves. Beside `[stream]`'s, with the configuration
//! (the server, `stream::opcua`, is a layer above); read whether or not genims was built
//! with the server (the feature `opcua`), so a configuration is checked the same everywhere.
#![cfg_attr(not(feature = "opcua"), allow(dead_code))]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context as _, Result};
use serde::Deserializer;

use crate::secrets::Secret;
use crate::setting;

/// A security policy the server offers (`[opcua] security`). Each policy but `none` is
/// offered in both modes, Sign and SignAndEncrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    /// No signing, no encryption: for demonstrations on one host.
    None,
    Basic256Sha256,
    Aes256Sha256RsaPss,
}

impl Policy {
    pub const NAMES: [&'static str; 3] = ["none", "basic256sha256", "aes256_sha256_rsapss"];

    pub fn name(self) -> &'static str {
        Policy::NAMES[self as usize]
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Policy::None),
            "basic256sha256" => Ok(Policy::Basic256Sha256),
            "aes256_sha256_rsapss" => Ok(Policy::Aes256Sha256RsaPss),
            other => Err(setting::not_one_of(other, &Policy::NAMES)),
        }
    }
}

/// The OPC UA server's settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpcUaConfig {
    /// `host:port` the server listens on (`opc.tcp://host:port/`); empty: no server.
    #[serde(deserialize_with = "listen")]
    pub listen: Option<SocketAddr>,
    /// Security policies offered: none, basic256sha256, aes256_sha256_rsapss.
    #[serde(deserialize_with = "policies")]
    pub security: Vec<Policy>,
    /// Serve policy `none` alone on an address other hosts can reach.
    #[serde(deserialize_with = "setting::flag")]
    pub allow_insecure: bool,
    /// Accept sessions without a user identity.
    #[serde(deserialize_with = "setting::flag")]
    pub anonymous: bool,
    /// A file of `user:password` lines (only its owner may read it): the users who may open
    /// a session.
    #[serde(deserialize_with = "setting::maybe")]
    pub users_file: Option<PathBuf>,
    /// The certificate store: `own/` (the server's certificate, made on first start when
    /// `certificate` is unset), `private/`, `trusted/` (client certificates accepted) and
    /// `rejected/`. Unset: `opcua-pki` in `[stream] state_dir`.
    #[serde(deserialize_with = "setting::maybe")]
    pub pki_dir: Option<PathBuf>,
    /// The server's certificate (DER) and private key (PEM), instead of a generated pair.
    #[serde(deserialize_with = "setting::maybe")]
    pub certificate: Option<PathBuf>,
    #[serde(deserialize_with = "setting::maybe")]
    pub private_key: Option<PathBuf>,
    /// Sessions open at once.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 10_000>")]
    pub max_sessions: usize,
    /// Subscriptions per session.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 10_000>")]
    pub max_subscriptions_per_session: usize,
    /// Monitored items per subscription.
    #[serde(deserialize_with = "setting::int::<_, _, 1, 10_000_000>")]
    pub max_monitored_items_per_subscription: usize,
    /// Minutes of simulated time every variable's values are kept for `HistoryRead`; 0:
    /// none. Memory: about 70 bytes a value (~75 MB for the default plant's hour).
    #[serde(deserialize_with = "setting::int::<_, _, 0, 10_080>")]
    pub history_minutes: usize,
    /// Publish the fault episodes' phases (labels) under a `GroundTruth` object; off, no
    /// node or event carries a label.
    #[serde(deserialize_with = "setting::flag")]
    pub ground_truth: bool,
}

impl Default for OpcUaConfig {
    fn default() -> OpcUaConfig {
        OpcUaConfig {
            listen: None,
            security: vec![Policy::None, Policy::Basic256Sha256, Policy::Aes256Sha256RsaPss],
            allow_insecure: false,
            anonymous: false,
            users_file: None,
            pki_dir: None,
            certificate: None,
            private_key: None,
            max_sessions: 20,
            max_subscriptions_per_session: 10,
            max_monitored_items_per_subscription: 100_000,
            history_minutes: 60,
            ground_truth: false,
        }
    }
}

impl OpcUaConfig {
    /// The certificate store's directory.
    pub fn pki_dir(&self, state_dir: &Path) -> PathBuf {
        self.pki_dir.clone().unwrap_or_else(|| state_dir.join("opcua-pki"))
    }

    /// Refuses what cannot work or would expose the plant: one line naming the setting.
    pub fn check(&self) -> Result<()> {
        let Some(addr) = self.listen else { return Ok(()) };
        if self.security.is_empty() {
            bail!("[opcua] security lists no policy: name at least one of {}", Policy::NAMES.join(", "));
        }
        if !addr.ip().is_loopback() && self.security == [Policy::None] && !self.allow_insecure {
            bail!(
                "[opcua] listen = {addr} is reachable from other hosts, but [opcua] security offers only `none` \
                 (no signing, no encryption): add basic256sha256 or aes256_sha256_rsapss, set \
                 [opcua] allow_insecure = true, or listen on 127.0.0.1"
            );
        }
        if !self.anonymous && self.users_file.is_none() {
            bail!(
                "[opcua] accepts nobody: set [opcua] anonymous = true, or [opcua] users_file to a file of \
                 user:password lines"
            );
        }
        if self.certificate.is_some() != self.private_key.is_some() {
            bail!("[opcua] certificate and [opcua] private_key are set together or not at all");
        }
        Ok(())
    }

    /// The users of `users_file`: `user:password` per line; blank lines and `#` comments
    /// skipped. The file must be private to its owner; errors name the file and line, never a
    /// password.
    pub fn users(&self) -> Result<Vec<(String, Secret)>> {
        let Some(path) = &self.users_file else { return Ok(Vec::new()) };
        crate::secrets::check_private(path, "[opcua] users_file")?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("[opcua] users_file: cannot read {}", path.display()))?;
        parse_users(&text).map_err(|(line, why)| anyhow::anyhow!("[opcua] users_file {}:{line}: {why}", path.display()))
    }
}

/// `user:password` lines (see [`OpcUaConfig::users`]); an error is (line, reason).
pub fn parse_users(text: &str) -> Result<Vec<(String, Secret)>, (usize, String)> {
    let mut users: Vec<(String, Secret)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, pass)) = line.split_once(':') else {
            return Err((i + 1, "expected user:password".to_owned()));
        };
        let user = user.trim();
        if user.is_empty() || pass.is_empty() {
            return Err((i + 1, "a user needs a name and a password".to_owned()));
        }
        if users.iter().any(|(u, _)| u == user) {
            return Err((i + 1, format!("user `{user}` is listed twice")));
        }
        users.push((user.to_owned(), Secret(pass.to_owned())));
    }
    if users.is_empty() {
        return Err((1, "the file lists no user".to_owned()));
    }
    Ok(users)
}

/// Parses the server's address: `host:port`, or empty for off.
pub fn parse_listen(v: &str) -> Result<Option<SocketAddr>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("`{v}` is not an address and port such as 127.0.0.1:4840 (\"\" turns the server off)"))
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    parse_listen(&setting::parsed::<_, String>(d)?).map_err(serde::de::Error::custom)
}

fn policies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Policy>, D::Error> {
    let mut list: Vec<Policy> = setting::list(d)?;
    list.sort_unstable();
    list.dedup();
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut OpcUaConfig)) -> OpcUaConfig {
        let mut c =
            OpcUaConfig { listen: Some("127.0.0.1:4840".parse().unwrap()), anonymous: true, ..Default::default() };
        f(&mut c);
        c
    }

    #[test]
    fn an_exposed_server_without_security_is_refused_unless_allowed() {
        let open = with(|c| {
            c.listen = Some("0.0.0.0:4840".parse().unwrap());
            c.security = vec![Policy::None];
        });
        let e = open.check().unwrap_err().to_string();
        assert!(e.contains("0.0.0.0:4840") && e.contains("allow_insecure"), "{e}");
        assert!(with(|c| {
            c.listen = open.listen;
            c.security = vec![Policy::None];
            c.allow_insecure = true;
        })
        .check()
        .is_ok());
        assert!(with(|c| c.listen = open.listen).check().is_ok(), "secure policies are offered by default");
        assert!(with(|c| c.security = vec![Policy::None]).check().is_ok(), "loopback may offer none alone");
    }

    #[test]
    fn a_server_nobody_may_enter_is_refused() {
        let e = with(|c| c.anonymous = false).check().unwrap_err().to_string();
        assert!(e.contains("anonymous") && e.contains("users_file"), "{e}");
        assert!(OpcUaConfig::default().check().is_ok(), "no listen address: no server to check");
    }

    #[test]
    fn users_files_are_read_strictly_and_never_echo_a_password() {
        let users = parse_users("# operators\nalice:s3cret:with:colons\n\n bob : pw\n").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!((users[0].0.as_str(), users[0].1 .0.as_str()), ("alice", "s3cret:with:colons"));
        assert_eq!(users[1].0, "bob");
        let (line, why) = parse_users("alice:pw\nhunter2\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(!why.contains("hunter2"), "{why}");
        assert!(parse_users("alice:pw\nalice:other\n").unwrap_err().1.contains("twice"));
        assert!(parse_users("# nobody\n").is_err());
        assert!(parse_users("carol:\n").is_err());
    }

    #[test]
    fn policies_parse_by_name() {
        assert_eq!("Basic256Sha256".parse::<Policy>(), Ok(Policy::Basic256Sha256));
        assert_eq!("aes256_sha256_rsapss".parse::<Policy>().map(Policy::name), Ok("aes256_sha256_rsapss"));
        let e = "basic128rsa15".parse::<Policy>().unwrap_err();
        assert!(e.contains("none, basic256sha256, aes256_sha256_rsapss"), "{e}");
    }
}
