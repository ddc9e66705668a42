//! Who is calling: the `authenticate` middleware resolves a bearer token or a session cookie into
//! an [`Identity`] for the handlers, and enforces CSRF protection on cookie-authenticated state
//! changes. Requests with a bearer token are not exposed to CSRF: browsers never add that header
//! on their own. Webhook deliveries (`/api/v1/webhooks/…`) pass through anonymously: they carry
//! their source's credentials, which the webhook handler checks.

use std::net::SocketAddr;

use aurora_core::credentials::constant_time_eq;
use aurora_core::model::{AuthMethod, Principal, Role};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::accounts::AccountError;
use crate::config::SecureCookies;
use crate::error::ApiError;
use crate::signals::WEBHOOK_PATH_PREFIX;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "aurora_session";
/// Double-submit cookie protecting the sign-in and setup forms, which have no session yet.
pub const FORM_CSRF_COOKIE: &str = "aurora_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "_csrf";

/// The caller of a request, as established by [`authenticate`].
#[derive(Clone, Debug)]
pub enum Identity {
    Anonymous,
    /// A session cookie was sent, but the session has expired or was ended.
    Expired,
    User(Principal),
}

pub async fn authenticate(
    State(state): State<AppState>,
    jar: CookieJar,
    mut req: Request,
    next: Next,
) -> Response {
    // Webhook deliveries authenticate with their source's secret (checked by the handler), and
    // their `Authorization` header is not an Aurora API token.
    if req.uri().path().starts_with(WEBHOOK_PATH_PREFIX) {
        req.extensions_mut().insert(Identity::Anonymous);
        return next.run(req).await;
    }
    let identity = match identify(&state, &jar, req.headers()).await {
        Ok(identity) => identity,
        Err(err) => return err.into_response(),
    };
    if let Identity::User(Principal {
        via: AuthMethod::Session { csrf_token },
        ..
    }) = &identity
        && is_state_changing(req.method())
    {
        req = match check_csrf(req, csrf_token, state.config().server.max_body_bytes).await {
            Ok(req) => req,
            Err(err) => return err.into_response(),
        };
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

async fn identify(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
) -> Result<Identity, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::invalid_token)?;
        return match state.accounts().token_principal(token).await {
            Ok(principal) => Ok(Identity::User(principal)),
            Err(err) => Err(err.into()),
        };
    }
    match jar.get(SESSION_COOKIE) {
        Some(cookie) => Ok(state
            .accounts()
            .session_principal(cookie.value())
            .await?
            .map_or(Identity::Expired, Identity::User)),
        None => Ok(Identity::Anonymous),
    }
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Accepts the token from the `X-CSRF-Token` header (htmx, fetch) or from the `_csrf` field of
/// a url-encoded form (plain HTML forms, which work without JavaScript).
async fn check_csrf(req: Request, expected: &str, limit: usize) -> Result<Request, ApiError> {
    if let Some(sent) = req.headers().get(CSRF_HEADER) {
        return if constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            Ok(req)
        } else {
            Err(ApiError::csrf())
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ApiError::csrf());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::payload_too_large(limit))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let sent = fields
        .iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.as_str());
    match sent {
        Some(sent) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(ApiError::csrf()),
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::InvalidCredentials => ApiError::invalid_credentials(),
            AccountError::InvalidToken => ApiError::invalid_token(),
            AccountError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            AccountError::Store(err) => err.into(),
            AccountError::Hashing(_) => ApiError::internal(&err),
        }
    }
}

/// A signed-in caller, for API handlers: 401 otherwise.
pub struct CurrentUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::User(principal)) => Ok(Self(principal.clone())),
            Some(Identity::Expired) => Err(ApiError::session_expired()),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

impl CurrentUser {
    /// Refuses callers whose role lacks `required`.
    pub fn require(&self, required: Role) -> Result<(), ApiError> {
        if self.0.user.role.allows(required) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {required} role; you are {}",
                self.0.user.role
            )))
        }
    }
}

/// A signed-in person, for UI pages: others are sent to the sign-in page and come back after.
pub struct UiUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::User(principal)) => Ok(Self(principal.clone())),
            _ => {
                let next = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
                let target = format!("/login?next={}", form_encode(next));
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

impl UiUser {
    pub fn csrf_token(&self) -> &str {
        match &self.0.via {
            AuthMethod::Session { csrf_token } => csrf_token,
            AuthMethod::ApiToken { .. } => "",
        }
    }
}

fn form_encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// Where to go after signing in: only paths on this site, never another origin.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

/// The client's address, for rate limits.
fn client_address(parts_extensions: &axum::http::Extensions) -> String {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "unknown".to_owned(),
            |ConnectInfo(addr)| addr.ip().to_string(),
        )
}

fn use_secure_cookies(state: &AppState, headers: &HeaderMap) -> bool {
    match state.config().auth.secure_cookies {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            state
                .config()
                .server
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
                || headers
                    .get("x-forwarded-proto")
                    .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
        }
    }
}

pub fn session_cookie(state: &AppState, headers: &HeaderMap, value: String) -> Cookie<'static> {
    let ttl = state.config().auth.session_ttl.as_secs();
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(use_secure_cookies(state, headers))
        .path("/")
        .max_age(time::Duration::seconds(
            i64::try_from(ttl).unwrap_or(i64::MAX),
        ))
        .build()
}

pub fn form_csrf_cookie(state: &AppState, headers: &HeaderMap, value: String) -> Cookie<'static> {
    Cookie::build((FORM_CSRF_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(use_secure_cookies(state, headers))
        .path("/")
        .build()
}

pub fn removal(name: &'static str) -> Cookie<'static> {
    Cookie::build((name, "")).path("/").build()
}

/// The client's address, for rate limits: the peer of the connection.
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(&parts.extensions)))
    }
}
