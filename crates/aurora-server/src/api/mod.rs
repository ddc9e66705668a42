//! The REST API (`/api/v1`) and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).

mod accounts;
mod ops;

pub(crate) use accounts::token_lifetime;

use axum::Router;
use axum::routing::{delete, get};

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
}
