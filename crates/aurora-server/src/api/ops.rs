//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and its schema is current.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store().ready().await.map_err(|err| {
        tracing::warn!(error = %err, "not ready");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            err.to_string(),
        )
    })?;
    Ok(Json(
        json!({ "status": "ready", "database": state.store().backend() }),
    ))
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let build = state.build();
    let mut body = state.metrics().render();
    body.push_str(&format!(
        "# HELP aurora_build_info Version of the running Aurora build.\n\
         # TYPE aurora_build_info gauge\n\
         aurora_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
        build.version, build.commit
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
