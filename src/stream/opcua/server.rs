//! Starting the OPC UA server: the listener bound at once (a taken port fails the start),
//! the endpoints of each security policy, the identities accepted, the certificate store,
//! the limits, and the plant's address space.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use opcua::crypto::CertificateStore;
use opcua::crypto::SecurityPolicy;
use opcua::server::node_manager::memory::InMemoryNodeManager;
use opcua::server::{ServerBuilder, ServerEndpoint, ServerUserToken, ANONYMOUS_USER_TOKEN_ID};
use opcua::types::{BuildInfo, DateTime, MessageSecurityMode};

use super::feed::Feed;
use super::history::History;
use super::manager::{self, PlantManager, Shared};
use super::space::{self, NAMESPACE_URI};
use crate::config::{OpcUaConfig, Policy};
use crate::sim::Engine;
use crate::stream::console::PlantInfo;
use crate::stream::inject::Command;

/// Values a monitored item may queue (a client asks for its queue size up to this).
const MAX_QUEUE: usize = 10_000;

/// Notification messages a subscription keeps for a client behind on its Publish requests
/// before it drops the oldest (async-opcua's default, 20, is one second at a 50 ms publishing
/// interval: a client that pauses longer, on a loaded host, lost readings).
const MAX_QUEUED_MESSAGES: usize = 1_000;

/// Starts the server of `cfg` over `machines` (plant indices) on `rt`, or `None` when
/// `[opcua] listen` is empty. Its methods send their changes to `commands`.
pub fn start(
    cfg: &OpcUaConfig,
    state_dir: &Path,
    engine: &Engine,
    machines: &[usize],
    commands: std::sync::mpsc::Sender<Command>,
    rt: &tokio::runtime::Handle,
) -> Result<Option<Arc<Feed>>> {
    let Some(addr) = cfg.listen else { return Ok(None) };
    // The server's samplers are tokio tasks, spawned as it is built.
    let _guard = rt.enter();
    cfg.check()?;
    let users = cfg.users()?;
    check_certificate(cfg)?;
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let plant = PlantInfo::of(engine);
    let variables: Vec<usize> = {
        let state = space::state_columns().len();
        let mut n = vec![0; plant.machines.len()];
        for &m in machines {
            n[m] = plant.machines[m].sensors.len() + state;
        }
        n
    };
    let shared = Arc::new(Shared {
        history: Arc::new(History::new(cfg.history_minutes, &variables)),
        commands: Some(std::sync::Mutex::new(commands)),
        methods: std::sync::OnceLock::new(),
    });
    let builder = builder(cfg, state_dir, addr, &users)?.with_node_manager(manager::builder(Arc::clone(&shared)));
    let (server, handle) = builder.build().map_err(|e| anyhow!("cannot start the OPC UA server: {e}"))?;
    let secure = cfg.security.iter().any(|p| *p != Policy::None);
    if secure && (handle.info().server_certificate.is_none() || handle.info().server_pkey.is_none()) {
        bail!(
            "the OPC UA server has no usable certificate in {}: check that the directory is writable, or set \
             [opcua] certificate and private_key",
            cfg.pki_dir(state_dir).display()
        );
    }
    let manager =
        handle.node_managers().get_of_type::<InMemoryNodeManager<PlantManager>>().expect("the plant's node manager");
    let ns = handle.get_namespace_index(NAMESPACE_URI).expect("the plant's namespace");
    let built = {
        let mut space = manager.address_space().write();
        let offer = space::Offer { history: shared.history.on(), ground_truth: cfg.ground_truth };
        space::build(&mut space, ns, &plant, machines, offer)
    };
    let mut index = std::collections::HashMap::new();
    for (m, n) in built.machines.iter().enumerate() {
        index.extend(n.nodes.iter().enumerate().map(|(k, id)| (id.clone(), (m, k))));
    }
    shared.history.set_index(index);
    let _ = shared.methods.set(built.methods);
    let sensors: usize = machines.iter().map(|&m| plant.machines[m].sensors.len()).sum();
    let truth = (ns, built.ground_truth);
    let feed = Arc::new(Feed::new(manager, handle, plant, built.machines, Arc::clone(&shared.history), truth));
    let listener = tokio::net::TcpListener::from_std(listener)?;
    rt.spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            tracing::error!("the OPC UA server stopped: {e}");
        }
    });
    let policies: Vec<&str> = cfg.security.iter().map(|p| p.name()).collect();
    tracing::info!(
        url = %format!("opc.tcp://{addr}/"),
        namespace = NAMESPACE_URI,
        machines = machines.len(),
        sensors,
        security = %policies.join(","),
        anonymous = cfg.anonymous,
        users = users.len(),
        "serving the plant over OPC UA"
    );
    Ok(Some(feed))
}

/// Binds the address now, so a taken port fails the start with one clear line.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        anyhow!("cannot serve OPC UA on {addr}: {e}; set [opcua] listen to a free address, or \"\" to turn it off")
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A configured certificate and key must be readable, and be a certificate and a key.
fn check_certificate(cfg: &OpcUaConfig) -> Result<()> {
    if let (Some(cert), Some(key)) = (&cfg.certificate, &cfg.private_key) {
        CertificateStore::read_cert(cert)
            .map_err(|e| anyhow!("[opcua] certificate {}: not a readable DER certificate: {e}", cert.display()))?;
        CertificateStore::read_pkey(key)
            .map_err(|e| anyhow!("[opcua] private_key {}: not a readable PEM private key: {e}", key.display()))?;
    }
    Ok(())
}

fn builder(
    cfg: &OpcUaConfig,
    state_dir: &Path,
    addr: SocketAddr,
    users: &[(String, crate::secrets::Secret)],
) -> Result<ServerBuilder> {
    let mut tokens: Vec<String> = Vec::new();
    if cfg.anonymous {
        tokens.push(ANONYMOUS_USER_TOKEN_ID.to_owned());
    }
    let mut b = ServerBuilder::new()
        .application_name("genims")
        .application_uri("urn:genims:server")
        .product_uri("urn:genims")
        .build_info(BuildInfo {
            product_uri: "urn:genims".into(),
            manufacturer_name: "genims".into(),
            product_name: "genims stream".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            build_number: "0".into(),
            build_date: DateTime::now(),
        })
        .host(addr.ip().to_string())
        .port(addr.port())
        .discovery_urls(vec![format!("opc.tcp://{addr}/")])
        .pki_dir(cfg.pki_dir(state_dir))
        .create_sample_keypair(cfg.certificate.is_none())
        .trust_client_certs(false)
        .diagnostics_enabled(false)
        .max_sessions(cfg.max_sessions);
    if let (Some(cert), Some(key)) = (&cfg.certificate, &cfg.private_key) {
        b = b.certificate_path(std::path::absolute(cert)?).private_key_path(std::path::absolute(key)?);
    }
    for (k, (user, pass)) in users.iter().enumerate() {
        let id = format!("user-{k}");
        b = b.add_user_token(
            &id,
            ServerUserToken { user: user.clone(), pass: Some(pass.0.clone()), ..Default::default() },
        );
        tokens.push(id);
    }
    for p in &cfg.security {
        let policy = match p {
            Policy::None => SecurityPolicy::None,
            Policy::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
            Policy::Aes256Sha256RsaPss => SecurityPolicy::Aes256Sha256RsaPss,
        };
        let modes: &[(MessageSecurityMode, &str)] = match p {
            Policy::None => &[(MessageSecurityMode::None, "")],
            _ => &[(MessageSecurityMode::Sign, "_sign"), (MessageSecurityMode::SignAndEncrypt, "_sign_encrypt")],
        };
        for (mode, suffix) in modes {
            b = b.add_endpoint(format!("{}{suffix}", p.name()), ServerEndpoint::new("/", policy, *mode, &tokens));
        }
    }
    let limits = b.limits_mut();
    limits.subscriptions.max_subscriptions_per_session = cfg.max_subscriptions_per_session;
    limits.subscriptions.max_monitored_items_per_sub = cfg.max_monitored_items_per_subscription;
    limits.subscriptions.max_monitored_item_queue_size = MAX_QUEUE;
    limits.subscriptions.max_queued_notifications = MAX_QUEUED_MESSAGES;
    // A sampling interval of 0 means every value: the plant's values change every 10 s of
    // simulated time, which at a high speed is more often than any wall-clock minimum.
    limits.subscriptions.min_sampling_interval_ms = 0.0;
    Ok(b)
}
