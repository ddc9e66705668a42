//! The REST API (`/api/v1`) and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).

mod accounts;
mod jobs;
mod ops;
mod signals;

pub(crate) use accounts::token_lifetime;
pub(crate) use signals::incident_filter;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/me", get(accounts::me))
        .route(
            "/api/v1/tokens",
            get(accounts::list_tokens).post(accounts::create_token),
        )
        .route("/api/v1/tokens/{id}", delete(accounts::revoke_token))
        .route(
            "/api/v1/users",
            get(accounts::list_users).post(accounts::create_user),
        )
        .route(
            "/api/v1/sources",
            get(signals::list_sources).post(signals::create_source),
        )
        .route("/api/v1/sources/{id}/rotate", post(signals::rotate_secret))
        .route(
            "/api/v1/sources/{id}/deliveries",
            get(signals::list_deliveries),
        )
        .route("/api/v1/webhooks/{source_id}", post(signals::webhook))
        .route("/api/v1/incidents", get(signals::list_incidents))
        .route(
            "/api/v1/incidents/{id}",
            get(signals::get_incident).patch(signals::update_incident),
        )
        .route(
            "/api/v1/incidents/{id}/comments",
            post(signals::add_comment),
        )
        .route("/api/v1/jobs", get(jobs::list_jobs))
        .route("/api/v1/jobs/{id}/retry", post(jobs::retry_job))
}
