//! The daemon's HTTP control plane on `[stream] listen`: `GET /` (the live console: its page,
//! `/api/plant` and `/api/machines/{id}/series`, see [`super::console`]), `/metrics` (OpenMetrics text),
//! `/healthz` (the process is alive), `/readyz` (every sink delivers), `GET /faults` (the
//! episodes in effect and those starting within the hour), `POST /faults` (inject an
//! episode; an `Idempotency-Key` header makes a retry find the episode it made) and `DELETE
//! /faults/{id}` (end an injected one; again, changing nothing). With `[stream] control_token`
//! set, the two that change anything need `Authorization: Bearer <token>`.
//!
//! It runs on the daemon's runtime, apart from generation and release, which never wait on
//! it. hyper serves the connections and axum routes the requests. A slow or abusive client
//! gets bounded resources: at most [`MAX_CONNECTIONS`] connections are served at once (more
//! wait in the kernel's backlog), request headers must arrive within [`HEADER_TIMEOUT`],
//! request bodies are capped at [`MAX_BODY`], a request target at [`MAX_TARGET`] bytes, and a connection lives at most
//! [`CONNECTION_LIFETIME`] (then it is closed gracefully and a scraper reconnects).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;

use super::console::{api, assets};
use super::deliver::Control;
use super::inject::{Command, InjectRequest, Reply};
use super::metrics::View;
use crate::clock::parse_duration;
use crate::secrets::Secret;
use crate::sim::inject::Refusal;

/// How long a change waits for the generator to apply it.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection is kept, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest request target (path and query) accepted; longer ones get 414.
pub const MAX_TARGET: usize = 2048;

/// What the handlers read.
pub struct Plane {
    view: Arc<View>,
    ctl: Arc<Control>,
    /// To the generator thread.
    commands: std::sync::Mutex<std::sync::mpsc::Sender<Command>>,
    token: Option<Secret>,
    /// The stream's name and speed, as the console shows them.
    stream: String,
    speed: Option<f64>,
}

impl Plane {
    pub fn new(
        view: Arc<View>,
        ctl: Arc<Control>,
        commands: std::sync::mpsc::Sender<Command>,
        token: Option<Secret>,
        stream: &str,
        speed: Option<f64>,
    ) -> Plane {
        Plane { view, ctl, commands: std::sync::Mutex::new(commands), token, stream: stream.to_owned(), speed }
    }
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
fn router(plane: Plane) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/console.js", get(script))
        .route("/console.css", get(style))
        .route("/api/plant", get(api_plant))
        .route("/api/machines/{id}/series", get(api_series))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/faults", get(faults).post(inject))
        .route("/faults/{id}", delete(clear))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(bounded_target))
        .with_state(Arc::new(plane))
}

/// Refuses a request target longer than [`MAX_TARGET`] with 414.
async fn bounded_target(req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > MAX_TARGET {
        return error(StatusCode::URI_TOO_LONG, format!("the request target has {len} bytes; at most {MAX_TARGET}"));
    }
    next.run(req).await
}

/// An embedded asset, with the console's security headers.
fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, kind)], body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(assets::CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The console is off: one line saying how to turn it on.
fn console_off() -> Response {
    error(StatusCode::NOT_FOUND, "the console is off: set [stream] console_minutes above 0 (60 by default)")
}

/// `GET /`: the console's page.
async fn page(State(p): State<Arc<Plane>>) -> Response {
    if p.view.console.is_none() {
        return console_off();
    }
    asset("text/html; charset=utf-8", assets::INDEX)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", assets::SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", assets::STYLE)
}

/// `GET /api/plant`.
async fn api_plant(State(p): State<Arc<Plane>>) -> Response {
    let Some(console) = &p.view.console else { return console_off() };
    let (_, episodes) = p.view.faults();
    let failing = p.view.failing();
    let sinks = p.view.lanes.iter().map(|l| (l.name, failing.contains(&l.name), l.stats.through())).collect();
    let episodes = sorted(&episodes);
    let ctx = api::Context {
        stream: &p.stream,
        speed: p.speed,
        token_required: p.token.is_some(),
        sinks,
        episodes: &episodes,
    };
    no_store(Json(api::plant(console, &ctx)).into_response())
}

/// `GET /api/machines/{id}/series?minutes=N`.
async fn api_series(State(p): State<Arc<Plane>>, Path(id): Path<String>, uri: Uri) -> Response {
    let Some(console) = &p.view.console else { return console_off() };
    let (_, episodes) = p.view.faults();
    console.note_episodes(episodes.iter());
    let answer =
        api::series_minutes(uri.query(), console.minutes).and_then(|minutes| api::series(console, &id, minutes));
    match answer {
        Ok(v) => no_store(Json(v).into_response()),
        Err(api::Refused::BadRequest(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(api::Refused::NotFound(e)) => error(StatusCode::NOT_FOUND, e),
    }
}

/// Episodes by onset, then id.
fn sorted(episodes: &[super::generate::EpisodeView]) -> Vec<super::generate::EpisodeView> {
    let mut list = episodes.to_vec();
    list.sort_by(|a, b| (&a.onset, a.id).cmp(&(&b.onset, b.id)));
    list
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A JSON error body naming the cause.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Equal secrets, compared in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `None` when the request may change things; else the 401 to send.
fn unauthorized(p: &Plane, headers: &HeaderMap) -> Option<Response> {
    let token = p.token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if same_secret(g.as_bytes(), token.0.as_bytes()) => None,
        Some(_) => Some(error(StatusCode::UNAUTHORIZED, "the bearer token is not this daemon's control token")),
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "changes need `Authorization: Bearer <token>` with [stream] control_token",
        )),
    }
}

/// Sends a command to the generator and waits for its answer.
async fn apply(p: &Plane, make: impl FnOnce(tokio::sync::oneshot::Sender<Reply>) -> Command) -> Response {
    if p.ctl.stopping() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the stream is stopping");
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    if p.commands.lock().expect("never poisoned").send(make(tx)).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the stream is no longer generating");
    }
    match tokio::time::timeout(APPLY_TIMEOUT, rx).await {
        Ok(Ok(Ok(a))) => (if a.created { StatusCode::CREATED } else { StatusCode::OK }, Json(a.body)).into_response(),
        Ok(Ok(Err(r))) => {
            let status = match r {
                Refusal::NotFound(_) => StatusCode::NOT_FOUND,
                Refusal::Invalid(_) => StatusCode::BAD_REQUEST,
                Refusal::Conflict(_) => StatusCode::CONFLICT,
                Refusal::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Refusal::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, r.to_string())
        }
        Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, "the stream stopped before applying the change"),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the stream did not apply the change in time (is it waiting on a sink?)",
        ),
    }
}

/// `POST /faults`: starts an episode now or at a simulated time ahead; 201 with the episode.
async fn inject(State(p): State<Arc<Plane>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(r) = unauthorized(&p, &headers) {
        return r;
    }
    let req = match parse_inject(&body).and_then(|r| Ok(InjectRequest { key: idempotency_key(&headers)?, ..r })) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    apply(&p, |tx| Command::Inject(req, tx)).await
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
    key.map(|k| Some(k.to_owned()))
        .ok_or_else(|| "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned())
}

/// `DELETE /faults/{id}`: ends an injected episode now; the machine is repaired.
async fn clear(State(p): State<Arc<Plane>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = unauthorized(&p, &headers) {
        return r;
    }
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, format!("`{id}` is not an episode id (a number, as GET /faults shows)"));
    };
    apply(&p, |tx| Command::Clear(id, tx)).await
}

/// The body of `POST /faults`, every problem named.
fn parse_inject(body: &[u8]) -> Result<InjectRequest, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the body must be a JSON object")?;
    const KEYS: [&str; 6] = ["machine_id", "pattern", "at", "duration", "severity", "replace"];
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown field `{k}`; the fields are {}", KEYS.join(", ")));
    }
    let text = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("`{k}` must be a string, not {other}")),
        }
    };
    let machine_id = text("machine_id")?.ok_or("`machine_id` is required, e.g. \"MCH-000017\"")?;
    let pattern = text("pattern")?.ok_or("`pattern` is required, e.g. \"bearing_failure\"")?;
    let at = text("at")?.map(|t| crate::clock::parse_instant(&t).map_err(|e| format!("`at`: {e}"))).transpose()?;
    let duration_s = match obj.get("duration") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(parse_duration(s).map_err(|e| format!("`duration`: {e}"))?),
        Some(serde_json::Value::Number(n)) => Some(n.as_i64().ok_or("`duration` in seconds must be a whole number")?),
        Some(other) => return Err(format!("`duration` must be like \"6h\" or a number of seconds, not {other}")),
    };
    let replace = match obj.get("replace") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => return Err(format!("`replace` must be true or false, not {other}")),
    };
    Ok(InjectRequest { machine_id, pattern, at, duration_s, severity: text("severity")?, replace, key: None })
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
    let at = (at > 0).then(|| crate::clock::instant_string(at));
    Json(json!({ "at": at, "episodes": sorted(&episodes) })).into_response()
}

async fn not_found(uri: Uri) -> Response {
    let error = format!(
        "no such endpoint: {}; try /, /api/plant, /api/machines/{{id}}/series, /metrics, /healthz, /readyz, /faults or /faults/{{id}}",
        uri.path()
    );
    (StatusCode::NOT_FOUND, Json(json!({ "error": error }))).into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> Response {
    let error = format!("{method} is not allowed on {}", uri.path());
    (StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "error": error }))).into_response()
}

/// Serves the control plane on `listener` until the task is aborted.
pub async fn serve(listener: std::net::TcpListener, plane: Plane) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("the control plane cannot start: {e}");
            return;
        }
    };
    let app = router(plane);
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
