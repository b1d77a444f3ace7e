//! The daemon's HTTP control plane on `[stream] listen`: `/metrics` (OpenMetrics text),
//! `/healthz` (the process is alive), `/readyz` (every sink delivers) and `/faults` (the
//! episodes in effect and those starting within the hour).
//!
//! It runs on the daemon's runtime, apart from generation and release, which never wait on
//! it. hyper serves the connections and axum routes the requests. A slow or abusive client
//! gets bounded resources: at most [`MAX_CONNECTIONS`] connections are served at once (more
//! wait in the kernel's backlog), request headers must arrive within [`HEADER_TIMEOUT`],
//! request bodies are capped at [`MAX_BODY`], and a connection lives at most
//! [`CONNECTION_LIFETIME`] (then it is closed gracefully and a scraper reconnects).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;

use super::deliver::Control;
use super::metrics::View;
use crate::config::Secret;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection is kept, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// What the handlers read.
struct Plane {
    view: Arc<View>,
    ctl: Arc<Control>,
}

/// Refuses to expose the control plane beyond this host without a token: one line saying
/// how to fix it.
pub fn check_exposure(addr: SocketAddr, token: Option<&Secret>) -> Result<()> {
    if !addr.ip().is_loopback() && token.is_none() {
        bail!(
            "[stream] listen = {addr} is reachable from other hosts, but no control token is set: \
             set [stream] control_token (or GENIMS_CONTROL_TOKEN), or listen on 127.0.0.1"
        );
    }
    Ok(())
}

/// Binds the address now, so a taken port fails the start with one clear line.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot serve the control plane on {addr}: {e}; set [stream] listen (or --listen) to a free address, \
             or \"\" to turn it off"
        )
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The routes.
fn router(view: Arc<View>, ctl: Arc<Control>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/faults", get(faults))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Plane { view, ctl }))
}

async fn metrics(State(p): State<Arc<Plane>>) -> Response {
    p.view.refresh(super::now_secs());
    let body = p.view.metrics.encode();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({ "status": "alive" }))).into_response()
}

/// 200 while every sink delivers; 503 naming the sinks in an outage, or while stopping.
async fn readyz(State(p): State<Arc<Plane>>) -> Response {
    let failing = p.view.failing();
    if !failing.is_empty() {
        let error = format!("sink {} is failing to deliver (retrying)", failing.join(", "));
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "failing_sinks": failing, "error": error })),
        )
            .into_response();
    }
    if p.ctl.stopping() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "stopping", "error": "the stream is stopping" })),
        )
            .into_response();
    }
    (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
}

/// Episodes in effect at the last released minute, and those starting within the hour
/// after it, by onset.
async fn faults(State(p): State<Arc<Plane>>) -> Response {
    let (at, episodes) = p.view.faults();
    let mut list: Vec<&super::generate::EpisodeView> = episodes.iter().collect();
    list.sort_by(|a, b| (&a.onset, a.id).cmp(&(&b.onset, b.id)));
    let at = (at > 0).then(|| crate::sim::clock::instant_string(at));
    Json(json!({ "at": at, "episodes": list })).into_response()
}

async fn not_found(uri: Uri) -> Response {
    let error = format!("no such endpoint: {}; try /metrics, /healthz, /readyz or /faults", uri.path());
    (StatusCode::NOT_FOUND, Json(json!({ "error": error }))).into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> Response {
    let error = format!("{method} is not allowed on {}", uri.path());
    (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": error }))).into_response()
}

/// Serves the control plane on `listener` until the task is aborted.
pub async fn serve(listener: std::net::TcpListener, view: Arc<View>, ctl: Arc<Control>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("the control plane cannot start: {e}");
            return;
        }
    };
    let app = router(view, ctl);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&slots).acquire_owned().await.expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning.
                tracing::debug!("control plane accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = tokio::time::sleep(CONNECTION_LIFETIME) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_open_without_a_token() {
        let token = Secret("0123456789abcdef".into());
        assert!(check_exposure("127.0.0.1:9872".parse().unwrap(), None).is_ok());
        assert!(check_exposure("[::1]:9872".parse().unwrap(), None).is_ok());
        let e = check_exposure("0.0.0.0:9872".parse().unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("control_token") && e.contains("0.0.0.0:9872"), "{e}");
        assert!(check_exposure("192.168.1.5:9872".parse().unwrap(), None).is_err());
        assert!(check_exposure("0.0.0.0:9872".parse().unwrap(), Some(&token)).is_ok());
    }
}
