//! The REST API (`/api/v1`) and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).

mod accounts;
mod alerts;
mod chat;
mod grouping;
mod investigations;
mod jobs;
mod knowledge;
mod openapi;
mod ops;
mod signals;

pub(crate) use accounts::token_lifetime;
pub(crate) use knowledge::{UPLOAD_PATH as KNOWLEDGE_UPLOAD_PATH, document_id, incident_id};
pub(crate) use signals::incident_filter;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, get};

use crate::state::AppState;

/// `max_delivery_bytes` is the body limit of webhook deliveries (`signals.max_delivery_bytes`);
/// every other route keeps the router's `server.max_body_bytes`.
pub fn routes(max_delivery_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(api_v1(max_delivery_bytes).router)
}

/// Every `/api/v1` route, `{param}` segments as in the router: what the OpenAPI document
/// (`openapi.json`) must describe. Read from the same registrations that build the router, so it
/// cannot miss one.
pub fn api_routes() -> Vec<ApiRoute> {
    api_v1(0).table
}

/// The `/api/v1` routes. Register them here, through [`ApiRoutes`], and describe them in
/// `openapi.json`: the integration tests fail otherwise.
fn api_v1(max_delivery_bytes: usize) -> ApiRoutes {
    ApiRoutes::default()
        .get("/api/v1/openapi.json", openapi::document)
        .get("/api/v1/me", accounts::me)
        .get("/api/v1/tokens", accounts::list_tokens)
        .post("/api/v1/tokens", accounts::create_token)
        .delete("/api/v1/tokens/{id}", accounts::revoke_token)
        .get("/api/v1/users", accounts::list_users)
        .post("/api/v1/users", accounts::create_user)
        .get("/api/v1/sources", signals::list_sources)
        .post("/api/v1/sources", signals::create_source)
        .post("/api/v1/sources/{id}/rotate", signals::rotate_secret)
        .get("/api/v1/sources/{id}/deliveries", signals::list_deliveries)
        .on(
            Method::POST,
            "/api/v1/webhooks/{source_id}",
            signals::webhook,
            |route| route.layer(DefaultBodyLimit::max(max_delivery_bytes)),
        )
        .get("/api/v1/incidents", signals::list_incidents)
        .get("/api/v1/incidents/{id}", signals::get_incident)
        .patch("/api/v1/incidents/{id}", signals::update_incident)
        .get("/api/v1/incidents/{id}/timeline", signals::list_timeline)
        .post("/api/v1/incidents/{id}/comments", signals::add_comment)
        .post("/api/v1/incidents/{id}/merge", signals::merge_incident)
        .get("/api/v1/alerts", alerts::list_alerts)
        .get("/api/v1/grouping-rules", grouping::list_rules)
        .post("/api/v1/grouping-rules", grouping::create_rule)
        .delete("/api/v1/grouping-rules/{id}", grouping::delete_rule)
        .get("/api/v1/jobs", jobs::list_jobs)
        .post("/api/v1/jobs/{id}/retry", jobs::retry_job)
        .get(
            "/api/v1/incidents/{id}/investigations",
            investigations::list_for_incident,
        )
        .post(
            "/api/v1/incidents/{id}/investigations",
            investigations::reinvestigate,
        )
        .get(
            "/api/v1/investigations/{id}",
            investigations::get_investigation,
        )
        .get(
            "/api/v1/investigations/{id}/steps",
            investigations::list_steps,
        )
        .get(
            "/api/v1/investigations/{id}/report.md",
            investigations::report_markdown,
        )
        .post("/api/v1/investigations/{id}/cancel", investigations::cancel)
        .get("/api/v1/approvals", investigations::list_approvals)
        .post("/api/v1/approvals/{id}/approve", investigations::approve)
        .post("/api/v1/approvals/{id}/reject", investigations::reject)
        .get("/api/v1/connectors", investigations::list_connectors)
        .post("/api/v1/connectors", investigations::create_connector)
        .get("/api/v1/connector-kinds", investigations::connector_kinds)
        .post(
            "/api/v1/connectors/{id}/test",
            investigations::test_connector,
        )
        .delete("/api/v1/connectors/{id}", investigations::delete_connector)
        .get("/api/v1/settings/llm", investigations::get_llm)
        .put("/api/v1/settings/llm", investigations::put_llm)
        .get("/api/v1/usage", investigations::usage)
        .get("/api/v1/knowledge/status", knowledge::status)
        .get("/api/v1/knowledge/documents", knowledge::list)
        .on(
            Method::POST,
            knowledge::UPLOAD_PATH,
            knowledge::upload,
            |route| {
                route.layer(DefaultBodyLimit::max(
                    usize::try_from(aurora_core::knowledge::MAX_UPLOAD_BYTES).unwrap_or(usize::MAX),
                ))
            },
        )
        .get("/api/v1/knowledge/documents/{id}", knowledge::get)
        .delete("/api/v1/knowledge/documents/{id}", knowledge::delete)
        .get(
            "/api/v1/knowledge/documents/{id}/original",
            knowledge::original,
        )
        .post(
            "/api/v1/knowledge/documents/{id}/reindex",
            knowledge::reindex,
        )
        .post("/api/v1/knowledge/search", knowledge::search)
        .get(
            "/api/v1/incidents/{id}/similar",
            knowledge::similar_incidents,
        )
        .get("/api/v1/chat/ws", chat::ws)
        .get("/api/v1/chat/sessions", chat::list)
        .post("/api/v1/chat/sessions", chat::create)
        .get("/api/v1/chat/sessions/{id}", chat::get)
        .patch("/api/v1/chat/sessions/{id}", chat::update)
        .delete("/api/v1/chat/sessions/{id}", chat::delete)
        .get("/api/v1/chat/sessions/{id}/messages", chat::messages)
        .post("/api/v1/chat/sessions/{id}/messages", chat::ask)
        .post("/api/v1/chat/sessions/{id}/stop", chat::stop)
        .get("/api/v1/audit", chat::audit)
}

/// One method on one path of the REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
}

/// A router that records what it registers, so that [`api_routes`] lists exactly what is served.
#[derive(Default)]
struct ApiRoutes {
    router: Router<AppState>,
    table: Vec<ApiRoute>,
}

impl ApiRoutes {
    /// `wrap` adds layers to the route, e.g. its own body limit.
    fn on<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        handler: H,
        wrap: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let Ok(filter) = MethodFilter::try_from(method.clone()) else {
            panic!("{method} {path}: axum cannot route this method");
        };
        // A second method on a path merges with the first (axum panics on the same one twice).
        self.router = self
            .router
            .route(path, wrap(axum::routing::on(filter, handler)));
        self.table.push(ApiRoute { method, path });
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.on(Method::GET, path, handler, |route| route)
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.on(Method::POST, path, handler, |route| route)
    }

    fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.on(Method::PUT, path, handler, |route| route)
    }

    fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.on(Method::PATCH, path, handler, |route| route)
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.on(Method::DELETE, path, handler, |route| route)
    }
}
