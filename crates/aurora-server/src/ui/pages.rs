//! Page handlers: sign-in, first-run setup, dashboard, sections, account and API tokens.

use askama::Template;
use aurora_core::credentials::{self, MIN_PASSWORD_LEN, constant_time_eq};
use aurora_core::ids::TokenId;
use aurora_core::incident::{IncidentFilter, IncidentStatus};
use aurora_core::model::{ApiToken, Principal, User};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{AssetUrls, UiError, assets, render};
use crate::accounts::{AccountError, UserForm};
use crate::api::token_lifetime;
use crate::auth::{
    self, ClientAddr, FORM_CSRF_COOKIE, Identity, SESSION_COOKIE, UiUser, safe_next,
};
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::state::AppState;

pub(super) struct NavItem {
    pub(super) href: &'static str,
    pub(super) label: &'static str,
    pub(super) active: bool,
}

/// What every signed-in page shows around its content.
pub(super) struct Layout {
    pub(super) csrf: String,
    pub(super) user_name: String,
    pub(super) role: &'static str,
    pub(super) version: &'static str,
    pub(super) nav: Vec<NavItem>,
}

pub(super) struct Section {
    pub(super) slug: &'static str,
    pub(super) title: &'static str,
    pub(super) empty_title: &'static str,
    pub(super) description: &'static str,
}

pub(super) const SECTIONS: [Section; 6] = [
    Section {
        slug: "incidents",
        title: "Incidents",
        empty_title: "No incidents",
        description: "Incidents open here when alerts arrive from your alert sources. Each one is investigated in the background and its report appears on the incident page.",
    },
    Section {
        slug: "chat",
        title: "Chat",
        empty_title: "No conversations",
        description: "Ask questions about your systems in plain language, on their own or about an incident. Any action that would change a system waits for your approval.",
    },
    Section {
        slug: "knowledge",
        title: "Knowledge",
        empty_title: "No documents",
        description: "Runbooks, postmortems and architecture notes uploaded here are searched by every investigation and chat.",
    },
    Section {
        slug: "services",
        title: "Services",
        empty_title: "No services discovered",
        description: "Services and their dependencies appear here as a graph once telemetry connectors are set up.",
    },
    Section {
        slug: "connectors",
        title: "Connectors",
        empty_title: "No connectors",
        description: "Connectors give investigations access to metrics, logs, traces, Kubernetes, cloud APIs and deploys. Their credentials are kept in the secret store.",
    },
    Section {
        slug: "settings",
        title: "Settings",
        empty_title: "Organisation settings",
        description: "Alert sources, language model providers and usage budgets are configured here.",
    },
];

impl Layout {
    pub(super) fn new(state: &AppState, user: &UiUser, active: &str) -> Self {
        let mut nav = vec![NavItem {
            href: "/",
            label: "Dashboard",
            active: active.is_empty(),
        }];
        nav.extend(SECTIONS.iter().map(|s| NavItem {
            href: section_href(s.slug),
            label: s.title,
            active: s.slug == active,
        }));
        Self {
            csrf: user.csrf_token().to_owned(),
            user_name: user.0.user.name.clone(),
            role: user.0.user.role.as_str(),
            version: state.build().version,
            nav,
        }
    }
}

fn section_href(slug: &str) -> &'static str {
    match slug {
        "incidents" => "/incidents",
        "chat" => "/chat",
        "knowledge" => "/knowledge",
        "services" => "/services",
        "connectors" => "/settings/connectors",
        _ => "/settings",
    }
}

pub(super) fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ---------------------------------------------------------------------------------------------
// Sign-in, sign-out and first-run setup

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    assets: &'static AssetUrls,
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Renders a pre-session form page with a fresh double-submit CSRF cookie.
fn with_form_csrf(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    status: StatusCode,
    page: impl FnOnce(&str) -> Response,
) -> Response {
    // Keep an existing token: a second tab, or a stray request such as a favicon fetch, must not
    // invalidate a form that is already open.
    if let Some(existing) = jar.get(FORM_CSRF_COOKIE).map(|c| c.value().to_owned())
        && !existing.is_empty()
    {
        return (status, page(&existing)).into_response();
    }
    let token = credentials::random_token();
    let response = page(&token);
    let jar = jar.add(auth::form_csrf_cookie(state, headers, token));
    (status, jar, response).into_response()
}

pub async fn login_form(
    State(state): State<AppState>,
    identity: axum::Extension<Identity>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Query(query): axum::extract::Query<NextQuery>,
) -> Result<Response, UiError> {
    let next = safe_next(query.next.as_deref());
    if let Identity::User(_) = identity.0 {
        return Ok(see_other(next));
    }
    if !state.accounts().is_set_up().await? {
        return Ok(see_other("/setup"));
    }
    Ok(with_form_csrf(
        &state,
        &headers,
        jar,
        StatusCode::OK,
        |csrf| {
            render(&LoginPage {
                assets: assets::urls(),
                csrf,
                next,
                email: "",
                error: None,
            })
        },
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    email: String,
    password: SecretString,
    next: Option<String>,
}

fn form_csrf_ok(jar: &CookieJar, sent: &str) -> bool {
    jar.get(FORM_CSRF_COOKIE).is_some_and(|cookie| {
        !sent.is_empty() && constant_time_eq(cookie.value().as_bytes(), sent.as_bytes())
    })
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    jar: CookieJar,
    ApiForm(form): ApiForm<LoginForm>,
) -> Result<Response, UiError> {
    let next = safe_next(form.next.as_deref()).to_owned();
    let retry = |status: StatusCode, message: &str, jar: CookieJar| {
        with_form_csrf(&state, &headers, jar, status, |csrf| {
            render(&LoginPage {
                assets: assets::urls(),
                csrf,
                next: &next,
                email: &form.email,
                error: Some(message),
            })
        })
    };
    if !form_csrf_ok(&jar, &form.csrf) {
        return Ok(retry(
            StatusCode::FORBIDDEN,
            "The form had expired. Please sign in again.",
            jar,
        ));
    }
    if let Err(wait) = state.check_login_rate(&client, &form.email.trim().to_lowercase()) {
        let message = format!("Too many sign-in attempts. Wait {wait} seconds and try again.");
        return Ok(retry(StatusCode::TOO_MANY_REQUESTS, &message, jar));
    }
    match state
        .accounts()
        .verify_login(&form.email, form.password.clone())
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.id, "signed in");
            sign_in(&state, &headers, jar, &user, &next).await
        }
        Err(AccountError::InvalidCredentials) => Ok(retry(
            StatusCode::UNAUTHORIZED,
            "Invalid e-mail or password.",
            jar,
        )),
        Err(err) => Err(err.into()),
    }
}

/// Opens a session for `user`, swaps the form's CSRF cookie for the session cookie, and goes
/// on to `next`.
async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    jar: CookieJar,
    user: &User,
    next: &str,
) -> Result<Response, UiError> {
    let (cookie_value, _) = state.accounts().start_session(user).await?;
    let jar = jar
        .remove(auth::removal(FORM_CSRF_COOKIE))
        .add(auth::session_cookie(
            state,
            headers,
            cookie_value.expose_secret().to_owned(),
        ));
    Ok((jar, see_other(next)).into_response())
}

pub async fn logout(State(state): State<AppState>, jar: CookieJar) -> Result<Response, UiError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        state.accounts().end_session(cookie.value()).await?;
    }
    Ok((
        jar.remove(auth::removal(SESSION_COOKIE)),
        see_other("/login"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    assets: &'static AssetUrls,
    csrf: &'a str,
    org_name: &'a str,
    name: &'a str,
    email: &'a str,
    min_password: usize,
    error: Option<&'a str>,
}

pub async fn setup_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, UiError> {
    if state.accounts().is_set_up().await? {
        return Ok(see_other("/login"));
    }
    Ok(with_form_csrf(
        &state,
        &headers,
        jar,
        StatusCode::OK,
        |csrf| {
            render(&SetupPage {
                assets: assets::urls(),
                csrf,
                org_name: "",
                name: "",
                email: "",
                min_password: MIN_PASSWORD_LEN,
                error: None,
            })
        },
    ))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    org_name: String,
    name: String,
    email: String,
    password: SecretString,
    confirm: SecretString,
}

pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiForm(form): ApiForm<SetupForm>,
) -> Result<Response, UiError> {
    let retry = |status: StatusCode, message: &str, jar: CookieJar| {
        with_form_csrf(&state, &headers, jar, status, |csrf| {
            render(&SetupPage {
                assets: assets::urls(),
                csrf,
                org_name: &form.org_name,
                name: &form.name,
                email: &form.email,
                min_password: MIN_PASSWORD_LEN,
                error: Some(message),
            })
        })
    };
    if !form_csrf_ok(&jar, &form.csrf) {
        return Ok(retry(
            StatusCode::FORBIDDEN,
            "The form had expired. Please submit it again.",
            jar,
        ));
    }
    if form.password.expose_secret() != form.confirm.expose_secret() {
        return Ok(retry(
            StatusCode::BAD_REQUEST,
            "The passwords do not match.",
            jar,
        ));
    }
    let admin = UserForm {
        email: form.email.clone(),
        name: form.name.clone(),
        role: aurora_core::model::Role::Admin,
        password: form.password.clone(),
    };
    match state.accounts().set_up(&form.org_name, admin).await {
        Ok(user) => {
            tracing::info!(user = %user.id, "first admin created");
            sign_in(&state, &headers, jar, &user, "/").await
        }
        Err(AccountError::Invalid(message)) => {
            Ok(retry(StatusCode::BAD_REQUEST, &capitalise(&message), jar))
        }
        Err(AccountError::Store(aurora_core::StoreError::Conflict(_))) => Ok(see_other("/login")),
        Err(err) => Err(err.into()),
    }
}

pub(super) fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect::<String>() + ".")
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Dashboard and sections

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    assets: &'static AssetUrls,
    layout: Layout,
    org_name: String,
    database: &'static str,
    secrets: &'static str,
    active: Vec<StatusCount>,
}

/// How many incidents have one status, for the dashboard.
struct StatusCount {
    status: &'static str,
    /// The count, or `200+` past one page.
    count: String,
    zero: bool,
}

async fn active_counts(state: &AppState, user: &UiUser) -> Result<Vec<StatusCount>, UiError> {
    let mut counts = Vec::new();
    for status in IncidentStatus::ALL.into_iter().filter(|s| s.is_active()) {
        let filter = IncidentFilter {
            status: Some(status),
            limit: IncidentFilter::MAX_LIMIT,
            ..IncidentFilter::default()
        };
        let page = state
            .signals()
            .list_incidents(user.0.org_id(), &filter)
            .await?;
        let n = page.incidents.len();
        counts.push(StatusCount {
            status: status.as_str(),
            count: if page.next.is_some() {
                format!("{n}+")
            } else {
                n.to_string()
            },
            zero: n == 0,
        });
    }
    Ok(counts)
}

pub async fn dashboard(State(state): State<AppState>, user: UiUser) -> Result<Response, UiError> {
    let org = state.store().get_org(user.0.org_id()).await?;
    Ok(render(&DashboardPage {
        assets: assets::urls(),
        layout: Layout::new(&state, &user, ""),
        org_name: org.name,
        database: state.store().backend(),
        secrets: state.secrets().backend(),
        active: active_counts(&state, &user).await?,
    }))
}

#[derive(Template)]
#[template(path = "section.html")]
struct SectionPage {
    assets: &'static AssetUrls,
    layout: Layout,
    title: &'static str,
    empty_title: &'static str,
    description: &'static str,
}

pub async fn section(
    State(state): State<AppState>,
    user: UiUser,
    Path(slug): Path<String>,
) -> Result<Response, UiError> {
    let section = SECTIONS.iter().find(|s| s.slug == slug).ok_or_else(|| {
        ApiError::not_found("page_not_found", "There is nothing at this address.")
    })?;
    Ok(render(&SectionPage {
        assets: assets::urls(),
        layout: Layout::new(&state, &user, section.slug),
        title: section.title,
        empty_title: section.empty_title,
        description: section.description,
    }))
}

// ---------------------------------------------------------------------------------------------
// Account and API tokens

struct TokenRow {
    id: String,
    name: String,
    prefix: String,
    created: String,
    last_used: String,
    expires: String,
    status: &'static str,
}

struct CreatedToken {
    name: String,
    secret: String,
}

struct TokensView {
    csrf: String,
    rows: Vec<TokenRow>,
    created: Option<CreatedToken>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    assets: &'static AssetUrls,
    layout: Layout,
    email: String,
    tokens: TokensView,
}

#[derive(Template)]
#[template(path = "_tokens.html")]
struct TokensPartial {
    tokens: TokensView,
}

pub(super) fn when(at: Option<OffsetDateTime>, none: &str) -> String {
    at.and_then(|t| {
        t.format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .ok()
    })
    .unwrap_or_else(|| none.to_owned())
}

fn token_row(token: ApiToken, now: OffsetDateTime) -> TokenRow {
    let status = if token.revoked_at.is_some() {
        "revoked"
    } else if !token.is_active(now) {
        "expired"
    } else {
        "active"
    };
    TokenRow {
        id: token.id.to_string(),
        created: when(Some(token.created_at), ""),
        last_used: when(token.last_used_at, "never"),
        expires: when(token.expires_at, "never"),
        name: token.name,
        prefix: token.prefix,
        status,
    }
}

async fn tokens_view(
    state: &AppState,
    user: &UiUser,
    created: Option<CreatedToken>,
    error: Option<String>,
) -> Result<TokensView, UiError> {
    let now = OffsetDateTime::now_utc();
    let rows = state
        .accounts()
        .list_tokens(&user.0.user)
        .await?
        .into_iter()
        .map(|t| token_row(t, now))
        .collect();
    Ok(TokensView {
        csrf: user.csrf_token().to_owned(),
        rows,
        created,
        error,
    })
}

/// The account page, or only its tokens card for htmx.
async fn account_response(
    state: &AppState,
    user: UiUser,
    headers: &HeaderMap,
    status: StatusCode,
    created: Option<CreatedToken>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let tokens = tokens_view(state, &user, created, error).await?;
    let body = if is_htmx(headers) {
        render(&TokensPartial { tokens })
    } else {
        let Principal {
            user: ref person, ..
        } = user.0;
        render(&AccountPage {
            assets: assets::urls(),
            layout: Layout::new(state, &user, "account"),
            email: person.email.to_string(),
            tokens,
        })
    };
    Ok((status, body).into_response())
}

pub async fn account(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    account_response(&state, user, &headers, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    ApiForm(form): ApiForm<NewTokenForm>,
) -> Result<Response, UiError> {
    let days = match form.expires_in_days.trim() {
        "" => Ok(None),
        text => text.parse::<u32>().map(Some).map_err(|_| ()),
    };
    let lifetime = days
        .map_err(|()| ApiError::bad_request("invalid_request", "choose when the token expires"))
        .and_then(token_lifetime);
    let outcome = match lifetime {
        Ok(lifetime) => state
            .accounts()
            .create_token(&user.0.user, &form.name, lifetime)
            .await
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    match outcome {
        Ok((token, secret)) => {
            let created = CreatedToken {
                name: token.name,
                secret: secret.expose_secret().to_owned(),
            };
            account_response(&state, user, &headers, StatusCode::OK, Some(created), None).await
        }
        Err(err) if err.status.is_client_error() => {
            // htmx swaps only successful responses by default, so the form error is sent as 200.
            let status = if is_htmx(&headers) {
                StatusCode::OK
            } else {
                err.status
            };
            account_response(
                &state,
                user,
                &headers,
                status,
                None,
                Some(capitalise(&err.message)),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id: TokenId = id
        .parse()
        .map_err(|_| ApiError::not_found("token_not_found", "No such token."))?;
    state.accounts().revoke_token(&user.0.user, id).await?;
    if is_htmx(&headers) {
        account_response(&state, user, &headers, StatusCode::OK, None, None).await
    } else {
        Ok(see_other("/account"))
    }
}
