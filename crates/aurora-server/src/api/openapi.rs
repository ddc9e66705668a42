//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the REST API, public.
//!
//! The document is written by hand (`openapi.json`) rather than derived from the types: most
//! response types are `aurora-core`'s domain types, which stay free of HTTP concerns. It is kept
//! honest by the integration tests (`crates/aurora/tests/it/openapi.rs`): every route that
//! [`super::api_routes`] registers must be in it, every operation in it must be routed, and real
//! responses must validate against its schemas.

use axum::http::header;
use axum::response::IntoResponse;

const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
