//! The HTTP routes: the Open Inference Protocol's health, metadata and
//! inference endpoints, its repository extension's load (a reload), and
//! Prometheus metrics. Every error answers `{"error": "..."}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

use super::batcher::{Job, SubmitError};
use super::protocol;
use super::registry::Registry;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub timeout: Duration,
}

pub fn router(state: AppState, max_body: usize) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/repository/models/{name}/load", post(load))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint".to_string()) })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn error(code: StatusCode, message: String) -> Response {
    (code, axum::Json(json!({ "error": message }))).into_response()
}

fn unknown_model(registry: &Registry, name: &str) -> Response {
    let known: Vec<&str> = registry.models.keys().map(String::as_str).collect();
    error(
        StatusCode::NOT_FOUND,
        format!("unknown model `{name}` (served: {})", known.join(", ")),
    )
}

async fn server_metadata() -> Response {
    axum::Json(json!({
        "name": "nnspec",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["model_repository"],
    }))
    .into_response()
}

async fn live() -> Response {
    axum::Json(json!({ "live": true })).into_response()
}

async fn ready() -> Response {
    axum::Json(json!({ "ready": true })).into_response()
}

async fn model_metadata(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.registry.models.get(&name) {
        Some(served) => axum::Json(served.signature.metadata(&name)).into_response(),
        None => unknown_model(&state.registry, &name),
    }
}

async fn model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.registry.models.get(&name) {
        Some(_) => axum::Json(json!({ "name": name, "ready": true })).into_response(),
        None => unknown_model(&state.registry, &name),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.registry.metrics.render(),
    )
        .into_response()
}

async fn load(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if !state.registry.models.contains_key(&name) {
        return unknown_model(&state.registry, &name);
    }
    match state.registry.reload(&name).await {
        Ok(()) => axum::Json(json!({ "name": name, "loaded": true })).into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let response = answer(&state, &name, body).await;
    let code = response.status();
    // Unknown models are counted under "" so a scan of names cannot grow the metrics.
    let label = if state.registry.models.contains_key(&name) {
        name.as_str()
    } else {
        ""
    };
    state
        .registry
        .metrics
        .request(label, code.as_u16(), started.elapsed().as_secs_f64());
    if code.is_server_error() || code == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!(
            model = label,
            code = code.as_u16(),
            "inference request failed"
        );
    } else if code.is_client_error() {
        tracing::debug!(model = label, code = code.as_u16(), "bad inference request");
    }
    response
}

async fn answer(state: &AppState, name: &str, body: Result<Bytes, BytesRejection>) -> Response {
    let Some(served) = state.registry.models.get(name) else {
        return unknown_model(&state.registry, name);
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let request = match protocol::parse_infer(&body, &served.signature, state.registry.max_batch) {
        Ok(request) => request,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (reply, answer) = oneshot::channel();
    let job = Job {
        rows: request.rows,
        samples: request.samples,
        reply,
    };
    match served.batcher.submit(job) {
        Ok(()) => {}
        Err(SubmitError::Full) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the queue of model `{name}` is full; retry shortly"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
        Err(SubmitError::Closed) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down".to_string(),
            );
        }
    }
    match tokio::time::timeout(state.timeout, answer).await {
        Ok(Ok(Err(message))) => error(StatusCode::INTERNAL_SERVER_ERROR, message),
        Ok(Ok(Ok(outputs))) => axum::Json(protocol::infer_response(
            name,
            request.id,
            &served.signature,
            request.samples,
            outputs,
        ))
        .into_response(),
        Ok(Err(_)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the batcher stopped before answering".to_string(),
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "no answer within {} ms (--timeout-ms)",
                state.timeout.as_millis()
            ),
        ),
    }
}
