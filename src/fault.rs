//! `genims fault`: the client of a running stream's control plane — list the episodes
//! (`GET /faults`), inject one (`POST /faults`), clear one (`DELETE /faults/{id}`) — with
//! the control token from the configuration, human output or the plane's JSON.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use axum::body::Body;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::cli::{EvaluateFormat, FaultAction, FaultArgs};
use crate::config::Config;

/// How long the control plane may take to answer.
const TIMEOUT: Duration = Duration::from_secs(40);

/// Runs `genims fault`.
pub async fn run(cfg: &Config, args: &FaultArgs) -> Result<()> {
    let base = match &args.control {
        Some(u) => control_url(u)?,
        None => {
            let addr = cfg.stream.listen.ok_or_else(|| {
                anyhow!("[stream] listen is off (\"\"): say where the stream's control plane is with --control URL")
            })?;
            format!("http://{addr}")
        }
    };
    let token = cfg.stream.control_token.as_ref().map(|t| t.0.as_str());
    let mut key = None;
    let (what, method, path, body) = match &args.action {
        FaultAction::List => ("list", Method::GET, "/faults".to_owned(), None),
        FaultAction::Inject { machine, pattern, at, duration, severity, replace, idempotency_key } => {
            key = idempotency_key.as_deref();
            let body = json!({
                "machine_id": machine, "pattern": pattern, "at": at, "duration": duration,
                "severity": severity, "replace": replace,
            });
            ("inject", Method::POST, "/faults".to_owned(), Some(body))
        }
        FaultAction::Clear { id } => ("clear", Method::DELETE, format!("/faults/{id}"), None),
    };
    let (status, reply) = tokio::time::timeout(TIMEOUT, request(&base, method, &path, token, key, body))
        .await
        .map_err(|_| anyhow!("the control plane at {base} did not answer within {} s", TIMEOUT.as_secs()))??;
    if !(200..300).contains(&status) {
        let why = reply.get("error").and_then(Value::as_str).map_or_else(|| reply.to_string(), str::to_owned);
        bail!("fault {what}: {status}: {why}");
    }
    if args.format == EvaluateFormat::Json {
        println!("{reply}");
        return Ok(());
    }
    match &args.action {
        FaultAction::List => print_list(&reply),
        FaultAction::Inject { .. } if status == 200 => {
            println!("already injected (an earlier request with this key): {}", describe(&reply))
        }
        FaultAction::Inject { .. } => println!("injected {}", describe(&reply)),
        FaultAction::Clear { id } if reply.get("cancelled").is_some() => {
            println!("cleared episode {id} before its onset: it never happens")
        }
        FaultAction::Clear { .. } => println!("cleared {}", describe(&reply)),
    }
    Ok(())
}

/// The control plane's base URL from `--control`: `http://host:port[/prefix]`, with no
/// credentials (the token comes from the configuration); a refusal shows it redacted.
fn control_url(given: &str) -> Result<String> {
    let url = given.trim().trim_end_matches('/');
    let shown = crate::secrets::redact(url);
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--control {shown}: expected http://host:port (the stream's [stream] listen)");
    };
    if rest.split('/').next().is_some_and(|authority| authority.contains('@')) {
        bail!(
            "--control {shown}: credentials do not go in the URL; the control token comes from \
             [stream] control_token or GENIMS_CONTROL_TOKEN"
        );
    }
    Ok(url.to_owned())
}

/// One request to the control plane: status and JSON body.
async fn request(
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let rest = base.strip_prefix("http://").expect("checked by control_url");
    let (authority, prefix) = rest.split_once('/').map_or((rest, String::new()), |(a, p)| (a, format!("/{p}")));
    let stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(authority))
        .await
        .map_err(|_| anyhow!("cannot reach the control plane at {base} within 5 s"))?
        .map_err(|e| {
            anyhow!(
                "cannot reach the control plane at {base}: {e} (is `genims stream` running, serving [stream] listen?)"
            )
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake with the control plane")?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{prefix}{path}"))
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let resp = sender.send_request(req).await.with_context(|| format!("request to the control plane at {base}"))?;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(Body::new(resp.into_body()), 16 << 20)
        .await
        .context("reading the control plane's answer")?;
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "error": String::from_utf8_lossy(&bytes) }));
    Ok((status, value))
}

/// `episode 1099511627777: coolant_failure on MCH-000002, onset … → end …`.
fn describe(ep: &Value) -> String {
    let f = |k: &str| ep.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    format!(
        "episode {}: {} on {} ({}), onset {}, warning {}, critical {}, fault {}, end {}",
        ep.get("id").map_or_else(|| "?".to_owned(), Value::to_string),
        f("pattern"),
        f("machine_id"),
        f("phase"),
        f("onset"),
        f("warning"),
        f("critical"),
        f("fault"),
        f("end")
    )
}

fn print_list(reply: &Value) {
    let at = reply.get("at").and_then(Value::as_str).unwrap_or("(nothing released yet)");
    let list = reply.get("episodes").and_then(Value::as_array).cloned().unwrap_or_default();
    println!("episodes in effect or starting within the hour at {at}: {}", list.len());
    if list.is_empty() {
        return;
    }
    println!(
        "{:<16} {:<11} {:<18} {:<9} {:<20} {:<20} {:<20} source",
        "id", "machine", "pattern", "phase", "onset", "fault", "end"
    );
    for e in list {
        let f = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
        println!(
            "{:<16} {:<11} {:<18} {:<9} {:<20} {:<20} {:<20} {}",
            e.get("id").map_or_else(String::new, Value::to_string),
            f("machine_id"),
            f("pattern"),
            f("phase"),
            f("onset"),
            f("fault"),
            f("end"),
            f("source")
        );
    }
}
