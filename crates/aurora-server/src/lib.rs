//! Aurora's HTTP edge: the REST API under `/api`, health and metrics endpoints, and the
//! server-rendered UI. Handlers are thin: they extract and parse the request, call
//! [`Accounts`](accounts::Accounts), [`Signals`](signals::Signals),
//! [`Investigations`](investigations::Investigations) or a port, and render. There
//! is no SQL here.

pub mod accounts;
mod api;
mod auth;
pub mod chat;
pub mod config;
pub mod error;
mod extract;
pub mod investigations;
pub mod knowledge;
mod middleware;
pub mod signals;
pub mod sns;
mod state;
mod ui;

pub use api::{ApiRoute, api_routes};
pub use state::{AppState, BuildInfo, Config};

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: API, UI, health and metrics, with authentication, limits, request ids,
/// metrics and tracing applied.
pub fn router(state: AppState) -> Router {
    let config = &state.config().server;
    let cors = cors_layer(&config.cors_allowed_origins);
    Router::new()
        .merge(api::routes(state.signals().max_delivery_bytes()))
        .merge(ui::routes())
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::limits,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(cors)
        .layer(middleware::trace_layer())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    if allowed.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ])
        .max_age(Duration::from_secs(3600))
}
