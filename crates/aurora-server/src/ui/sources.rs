//! The settings page: alert sources with their webhook URL and recent deliveries, and for
//! admins a form to create one and a button to rotate its secret. A new secret is shown once,
//! inside a copy-ready configuration snippet for the sending system.

use askama::Template;
use aurora_core::alert::SourceKind;
use aurora_core::ids::SourceId;
use aurora_core::model::Role;
use aurora_core::source::{AlertSource, DeliveryRecord, SourceOptions};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::pages::{Layout, SECTIONS, capitalise, is_htmx, when};
use super::{AssetUrls, UiError, assets, render};
use crate::auth::UiUser;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::signals::{BASIC_AUTH_USER, IssuedSecret, WEBHOOK_PATH_PREFIX, auth_instructions};
use crate::state::AppState;

/// Recent deliveries shown per source.
const SHOWN_DELIVERIES: u32 = 5;

/// The kinds a source can be created with here.
const KINDS: [(SourceKind, &str); 7] = [
    (SourceKind::Alertmanager, "Prometheus Alertmanager"),
    (SourceKind::Grafana, "Grafana alerting"),
    (SourceKind::Datadog, "Datadog"),
    (SourceKind::Pagerduty, "PagerDuty"),
    (SourceKind::Opsgenie, "Opsgenie"),
    (SourceKind::Cloudwatch, "AWS CloudWatch alarms (SNS)"),
    (SourceKind::Generic, "Generic JSON (HMAC-signed)"),
];

struct DeliveryRow {
    at: String,
    outcome: &'static str,
    alerts: u64,
    error: String,
}

struct SourceRow {
    id: String,
    name: String,
    kind: &'static str,
    webhook_url: String,
    created: String,
    last_delivery: String,
    rotation_ends: Option<String>,
    deliveries: Vec<DeliveryRow>,
}

/// A secret just issued, with how to use it.
struct Issued {
    name: String,
    kind: &'static str,
    rotated: bool,
    secret: String,
    webhook_url: String,
    snippet: String,
    how: String,
}

struct KindChoice {
    value: &'static str,
    label: &'static str,
}

struct SourcesView {
    csrf: String,
    is_admin: bool,
    rows: Vec<SourceRow>,
    issued: Option<Issued>,
    error: Option<String>,
    kinds: Vec<KindChoice>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    assets: &'static AssetUrls,
    layout: Layout,
    description: &'static str,
    sources: SourcesView,
}

#[derive(Template)]
#[template(path = "_sources.html")]
struct SourcesPartial {
    sources: SourcesView,
}

fn kind_name(kind: SourceKind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("AWS CloudWatch (SNS)", |(_, label)| label)
}

/// Where senders deliver: the public URL when configured, else this request's host.
fn webhook_url(state: &AppState, headers: &HeaderMap, id: SourceId) -> String {
    let path = format!("{WEBHOOK_PATH_PREFIX}{id}");
    if let Some(base) = state.config().server.public_url.as_deref() {
        return format!("{}{path}", base.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("aurora.example.com");
    format!("http://{host}{path}")
}

/// A copy-ready configuration for the sending system.
fn snippet(kind: SourceKind, url: &str, secret: &str) -> String {
    match kind {
        SourceKind::Alertmanager => format!(
            "receivers:\n  - name: aurora\n    webhook_configs:\n      - url: {url}\n        send_resolved: true\n        http_config:\n          authorization:\n            credentials: {secret}\n"
        ),
        SourceKind::Grafana => format!(
            "Alerting → Contact points → Add contact point → Integration: Webhook\n  URL: {url}\n  HTTP method: POST\n  Optional Webhook settings → Authorization header\n    scheme: Bearer\n    credentials: {secret}\n(or basic auth: user {BASIC_AUTH_USER}, password {secret})\n"
        ),
        SourceKind::Datadog => format!(
            "Integrations → Webhooks → New\n  Name: aurora\n  URL: {url}\n  Custom headers: {{\"Authorization\": \"Bearer {secret}\"}}\n  Payload: the template in crates/aurora-signals/src/datadog.rs\nThen mention @webhook-aurora in your monitors.\n"
        ),
        SourceKind::Opsgenie => format!(
            "Settings → Integrations → Add integration → Webhook\n  Webhook URL: {url}\n  Add Alert Description / Details: on\n  Custom headers: Authorization = Bearer {secret}\n"
        ),
        SourceKind::Pagerduty => format!(
            "Integrations → Generic Webhooks (v3) → New Webhook\n  Webhook URL: {url}\n  Event subscription: incident.triggered, incident.resolved, incident.acknowledged\n  Signing secret: {secret}\nPagerDuty signs each delivery in X-PagerDuty-Signature.\n"
        ),
        SourceKind::Generic => format!(
            "body='{{\"title\": \"Checkout error rate above 5%\", \"severity\": \"high\", \"labels\": {{\"service\": \"checkout\", \"env\": \"prod\"}}}}'\nsig=$(printf '%s' \"$body\" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')\ncurl -X POST '{url}' \\\n  -H 'Content-Type: application/json' \\\n  -H \"X-Aurora-Signature: sha256=$sig\" \\\n  --data \"$body\"\n"
        ),
        SourceKind::Cloudwatch => {
            // SNS takes the basic credentials from the URL and delivers only over HTTPS.
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or(url);
            format!(
                "aws sns subscribe --topic-arn <your alarms' topic ARN> --protocol https \\\n  --notification-endpoint 'https://{BASIC_AUTH_USER}:{secret}@{rest}'\nAurora confirms the subscription itself and verifies each message's SNS signature.\n"
            )
        }
    }
}

fn delivery_row(delivery: DeliveryRecord) -> DeliveryRow {
    DeliveryRow {
        at: when(Some(delivery.received_at), ""),
        outcome: delivery.outcome.as_str(),
        alerts: delivery.alert_count,
        error: delivery.error_code.unwrap_or_default(),
    }
}

async fn source_row(
    state: &AppState,
    headers: &HeaderMap,
    source: AlertSource,
) -> Result<SourceRow, UiError> {
    let deliveries = state
        .signals()
        .list_deliveries(source.org_id, source.id, SHOWN_DELIVERIES)
        .await?;
    let now = time::OffsetDateTime::now_utc();
    Ok(SourceRow {
        id: source.id.to_string(),
        webhook_url: webhook_url(state, headers, source.id),
        kind: kind_name(source.kind),
        created: when(Some(source.created_at), ""),
        last_delivery: when(source.last_delivery_at, "never"),
        rotation_ends: source
            .previous_secret_expires_at
            .filter(|until| *until > now)
            .map(|until| when(Some(until), "")),
        deliveries: deliveries.into_iter().map(delivery_row).collect(),
        name: source.name,
    })
}

async fn sources_view(
    state: &AppState,
    user: &UiUser,
    headers: &HeaderMap,
    issued: Option<IssuedSecret>,
    rotated: bool,
    error: Option<String>,
) -> Result<SourcesView, UiError> {
    let sources = state.signals().list_sources(user.0.org_id()).await?;
    let mut rows = Vec::with_capacity(sources.len());
    for source in sources {
        rows.push(source_row(state, headers, source).await?);
    }
    let issued = issued.map(|issued| {
        let url = webhook_url(state, headers, issued.source.id);
        let secret = issued.secret.expose_secret().to_owned();
        Issued {
            name: issued.source.name.clone(),
            kind: kind_name(issued.source.kind),
            rotated,
            snippet: snippet(issued.source.kind, &url, &secret),
            // The instructions are written for Markdown; the page shows them as plain text.
            how: auth_instructions(issued.source.kind).replace('`', ""),
            secret,
            webhook_url: url,
        }
    });
    Ok(SourcesView {
        csrf: user.csrf_token().to_owned(),
        is_admin: user.0.user.role.allows(Role::Admin),
        rows,
        issued,
        error,
        kinds: KINDS
            .iter()
            .map(|(kind, label)| KindChoice {
                value: kind.as_str(),
                label,
            })
            .collect(),
    })
}

/// The settings page, or only its sources card for htmx.
async fn settings_response(
    state: &AppState,
    user: UiUser,
    headers: &HeaderMap,
    status: StatusCode,
    issued: Option<(IssuedSecret, bool)>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let rotated = issued.as_ref().is_some_and(|(_, rotated)| *rotated);
    let sources = sources_view(
        state,
        &user,
        headers,
        issued.map(|(i, _)| i),
        rotated,
        error,
    )
    .await?;
    let body = if is_htmx(headers) {
        render(&SourcesPartial { sources })
    } else {
        let description = SECTIONS
            .iter()
            .find(|s| s.slug == "settings")
            .map_or("", |s| s.description);
        render(&SettingsPage {
            assets: assets::urls(),
            layout: Layout::new(state, &user, "settings"),
            description,
            sources,
        })
    };
    Ok((status, body).into_response())
}

pub async fn settings(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    settings_response(&state, user, &headers, StatusCode::OK, None, None).await
}

fn require_admin(user: &UiUser) -> Result<(), UiError> {
    if user.0.user.role.allows(Role::Admin) {
        Ok(())
    } else {
        Err(UiError(ApiError::forbidden(format!(
            "managing alert sources needs the admin role; you are {}",
            user.0.user.role
        ))))
    }
}

#[derive(Deserialize)]
pub struct NewSourceForm {
    kind: String,
    name: String,
}

/// `POST /settings/sources`.
pub async fn create(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    ApiForm(form): ApiForm<NewSourceForm>,
) -> Result<Response, UiError> {
    require_admin(&user)?;
    let kind = form
        .kind
        .parse::<SourceKind>()
        .map_err(|err| ApiError::bad_request("invalid_request", err.to_string()));
    let outcome = match kind {
        Ok(kind) => state
            .signals()
            .create_source(user.0.org_id(), kind, &form.name, SourceOptions::default())
            .await
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    match outcome {
        Ok(issued) => {
            settings_response(
                &state,
                user,
                &headers,
                StatusCode::OK,
                Some((issued, false)),
                None,
            )
            .await
        }
        Err(err) if err.status.is_client_error() => {
            let status = if is_htmx(&headers) {
                StatusCode::OK
            } else {
                err.status
            };
            let message = Some(capitalise(&err.message));
            settings_response(&state, user, &headers, status, None, message).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /settings/sources/{id}/rotate`.
pub async fn rotate(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    require_admin(&user)?;
    let id: SourceId = id
        .parse()
        .map_err(|_| ApiError::not_found("source_not_found", "No such alert source."))?;
    let issued = state.signals().rotate_secret(user.0.org_id(), id).await?;
    settings_response(
        &state,
        user,
        &headers,
        StatusCode::OK,
        Some((issued, true)),
        None,
    )
    .await
}
