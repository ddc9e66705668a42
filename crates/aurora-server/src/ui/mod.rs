//! The server-rendered UI: askama templates, htmx for partial updates, assets embedded in the
//! binary under a content-hashed path so browsers can cache them for good.
//!
//! Every page works without JavaScript; with htmx, forms swap only the part they change. A
//! handler serves both: it renders the partial when the request comes from htmx.

mod assets;
mod chat;
mod connectors;
mod incidents;
mod investigation;
mod knowledge;
mod pages;
mod sources;

use askama::Template;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub use assets::AssetUrls;

pub fn routes() -> Router<AppState> {
    let page_headers = [
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ];
    let mut router = Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/setup", get(pages::setup_form).post(pages::setup))
        .route("/account", get(pages::account))
        .route("/account/tokens", post(pages::create_token))
        .route("/account/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/incidents", get(incidents::list))
        .route("/incidents/events", get(incidents::events))
        .route(
            "/incidents/{id}",
            get(incidents::show).post(incidents::update),
        )
        .route("/incidents/{id}/comments", post(incidents::comment))
        .route("/incidents/{id}/similar", get(knowledge::similar))
        .route("/chat", get(chat::page).post(chat::create))
        .route("/chat/{id}", get(chat::show).post(chat::update))
        .route("/chat/{id}/delete", post(chat::delete))
        .route("/knowledge", get(knowledge::page))
        .route("/knowledge/documents", get(knowledge::documents))
        .route("/knowledge/{id}/delete", post(knowledge::delete))
        .route("/knowledge/{id}/reindex", post(knowledge::reindex))
        .route("/incidents/{id}/merge", post(incidents::merge))
        .route(
            "/incidents/{id}/investigations",
            post(investigation::reinvestigate),
        )
        .route(
            "/incidents/{id}/investigations/{investigation}/cancel",
            post(investigation::cancel),
        )
        .route(
            "/incidents/{id}/approvals/{approval}/approve",
            post(investigation::approve),
        )
        .route(
            "/incidents/{id}/approvals/{approval}/reject",
            post(investigation::reject),
        )
        .route("/settings", get(sources::settings))
        .route("/settings/sources", post(sources::create))
        .route("/settings/sources/{id}/rotate", post(sources::rotate))
        .route(
            "/settings/connectors",
            get(connectors::list).post(connectors::create),
        )
        .route("/settings/connectors/{id}/test", post(connectors::test))
        .route("/settings/connectors/{id}/delete", post(connectors::delete))
        .route(
            "/settings/llm",
            get(connectors::llm).post(connectors::save_llm),
        )
        .route("/{section}", get(pages::section));
    for (name, value) in page_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    router.route("/static/{version}/{file}", get(assets::serve))
}

/// Renders a template, or an error page if rendering fails.
fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => UiError(ApiError::internal(&err)).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    assets: &'static AssetUrls,
    status: u16,
    title: &'a str,
    message: &'a str,
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        assets: assets::urls(),
        status: status.as_u16(),
        title,
        message,
    };
    (status, render(&page)).into_response()
}

/// An [`ApiError`] shown to a person as a page.
pub struct UiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = match self.0.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "Too large",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            status if status.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        error_page(self.0.status, title, &self.0.message)
    }
}
