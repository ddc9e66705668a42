//! Cross-cutting layers: body size and time limits, request metrics, tracing, and the answers
//! for unknown routes (JSON under `/api`, HTML elsewhere).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api::KNOWLEDGE_UPLOAD_PATH;
use crate::error::ApiError;
use crate::signals::WEBHOOK_PATH_PREFIX;
use aurora_core::knowledge::MAX_UPLOAD_BYTES;

/// How long an upload of a knowledge-base document may take.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
use crate::state::AppState;
use crate::ui;

/// Refuses a declared body over the limit before reading it, and bounds the handling time.
/// Bodies without a declared length are bounded by `DefaultBodyLimit` as they are read.
/// Webhook deliveries have their own, larger limits ([`body_limit`], [`time_limit`]).
pub async fn limits(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = body_limit(&state, req.uri());
    let timeout = time_limit(&state, req.uri());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return ApiError::payload_too_large(limit).into_response();
    }
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}

/// The body limit of a request: `signals.max_delivery_bytes` for webhook deliveries (one
/// delivery may carry 10,000 alerts), `server.max_body_bytes` for everything else. The router
/// gives the webhook route the same limit through its own `DefaultBodyLimit`.
pub fn body_limit(state: &AppState, uri: &Uri) -> usize {
    if uri.path().starts_with(WEBHOOK_PATH_PREFIX) {
        state.signals().max_delivery_bytes()
    } else if uri.path() == KNOWLEDGE_UPLOAD_PATH {
        usize::try_from(MAX_UPLOAD_BYTES).unwrap_or(usize::MAX)
    } else {
        state.config().server.max_body_bytes
    }
}

/// The time limit of a request: `signals.delivery_timeout` for webhook deliveries (10,000
/// alerts are written in one transaction), `server.request_timeout` for everything else.
pub fn time_limit(state: &AppState, uri: &Uri) -> std::time::Duration {
    if uri.path().starts_with(WEBHOOK_PATH_PREFIX) {
        state.signals().delivery_timeout()
    } else if uri.path() == KNOWLEDGE_UPLOAD_PATH {
        // 100 MB over a slow link.
        state.config().server.request_timeout.max(UPLOAD_TIMEOUT)
    } else {
        state.config().server.request_timeout
    }
}

/// `http_requests_total` and `http_request_duration_seconds` by method, route template and
/// status. Routes are the templates (`/api/v1/tokens/{id}`), so label cardinality stays bounded.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

/// A span per request carrying its id; one line per response at debug level, server errors at
/// error level.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, impl Fn(&Request) -> tracing::Span + Clone>
{
    TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        })
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_failure(DefaultOnFailure::new().level(Level::ERROR))
}

fn is_api(uri: &Uri) -> bool {
    uri.path() == "/api" || uri.path().starts_with("/api/")
}

pub async fn not_found(uri: Uri) -> Response {
    if is_api(&uri) {
        ApiError::not_found(
            "route_not_found",
            format!("no API route {}: see /api/v1", uri.path()),
        )
        .into_response()
    } else {
        ui::error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )
    }
}

pub async fn method_not_allowed(uri: Uri) -> Response {
    let message = format!("{} does not accept this method", uri.path());
    if is_api(&uri) {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
        .into_response()
    } else {
        ui::error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            &message,
        )
    }
}
