//! `/api/v1` for investigations and their steps and reports, approvals of mutating tool calls,
//! connectors, and the organisation's LLM settings and usage. Secret values are accepted here
//! and never returned: connectors show their secret fields by name, LLM settings only
//! `has_api_key`.

use std::collections::BTreeMap;

use aurora_core::StoreError;
use aurora_core::ids::{ApprovalId, ConnectorId, IncidentId, InvestigationId};
use aurora_core::investigation::{
    Approval, Connector, ConnectorCheck, Investigation, LlmSettings, Step,
};
use aurora_core::model::Role;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::investigations::{
    ConnectorForm, ConnectorKindInfo, InvestigationError, LlmForm, UsagePeriod,
};
use crate::state::AppState;

/// Maps a failure to the API error; `not_found` names what was asked for, when the store does
/// not say.
fn api_error(err: InvestigationError) -> ApiError {
    match err {
        InvestigationError::Invalid(message) => ApiError::bad_request("invalid_request", message),
        InvestigationError::Config(message) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_connector_config",
            message,
        ),
        InvestigationError::Store(StoreError::NotFound(what)) => match what {
            "incident" => ApiError::not_found(
                "incident_not_found",
                "your organisation has no such incident",
            ),
            "approval" => ApiError::not_found(
                "approval_not_found",
                "your organisation has no such approval",
            ),
            "connector" => ApiError::not_found(
                "connector_not_found",
                "your organisation has no such connector",
            ),
            _ => ApiError::not_found(
                "investigation_not_found",
                "your organisation has no such investigation",
            ),
        },
        InvestigationError::Store(StoreError::Conflict(message)) => {
            ApiError::conflict("conflict", message)
        }
        InvestigationError::Store(err) => err.into(),
        InvestigationError::Secret(err) => ApiError::internal(&err),
    }
}

impl From<InvestigationError> for ApiError {
    fn from(err: InvestigationError) -> Self {
        api_error(err)
    }
}

fn parse<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| api_error(InvestigationError::Store(StoreError::NotFound(what))))
}

fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|err| ApiError::bad_request("invalid_request", format!("invalid query: {err}")))
}

// ---------------------------------------------------------------------------------------------
// Investigations

/// `GET /api/v1/incidents/{id}/investigations`: newest first.
pub async fn list_for_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<Investigation>>, ApiError> {
    let incident: IncidentId = parse(&id, "incident")?;
    Ok(Json(
        state
            .investigations()
            .list_for_incident(user.0.org_id(), incident)
            .await?,
    ))
}

/// `POST /api/v1/incidents/{id}/investigations`: queues a new investigation.
pub async fn reinvestigate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Investigation>), ApiError> {
    user.require(Role::Editor)?;
    let incident: IncidentId = parse(&id, "incident")?;
    let investigation = state
        .investigations()
        .reinvestigate(user.0.org_id(), incident, user.0.user.id)
        .await?;
    Ok((StatusCode::CREATED, Json(investigation)))
}

/// `GET /api/v1/investigations/{id}`: with its report once it has one.
pub async fn get_investigation(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Investigation>, ApiError> {
    let id: InvestigationId = parse(&id, "investigation")?;
    Ok(Json(state.investigations().get(user.0.org_id(), id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepsQuery {
    after: Option<u32>,
}

/// `GET /api/v1/investigations/{id}/steps?after=N`: the steps after seq N, in order.
pub async fn list_steps(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Step>>, ApiError> {
    let q: StepsQuery = query(raw.as_deref())?;
    let id: InvestigationId = parse(&id, "investigation")?;
    Ok(Json(
        state
            .investigations()
            .steps(user.0.org_id(), id, q.after)
            .await?,
    ))
}

/// `GET /api/v1/investigations/{id}/report.md`: the report as Markdown.
pub async fn report_markdown(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: InvestigationId = parse(&id, "investigation")?;
    let investigation = state.investigations().get(user.0.org_id(), id).await?;
    let report = investigation.report.ok_or_else(|| {
        ApiError::not_found(
            "report_not_found",
            format!(
                "the investigation has no report yet (it is {}): try again when it has completed",
                investigation.status
            ),
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        report.to_markdown(),
    )
        .into_response())
}

/// `POST /api/v1/investigations/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Investigation>, ApiError> {
    user.require(Role::Editor)?;
    let id: InvestigationId = parse(&id, "investigation")?;
    Ok(Json(
        state.investigations().cancel(user.0.org_id(), id).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Approvals

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsQuery {
    status: Option<String>,
}

/// `GET /api/v1/approvals?status=pending`: the approvals waiting for a decision.
pub async fn list_approvals(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Approval>>, ApiError> {
    let q: ApprovalsQuery = query(raw.as_deref())?;
    if let Some(status) = q.status.as_deref().filter(|s| *s != "pending") {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("status {status:?} is not listed: use status=pending"),
        ));
    }
    Ok(Json(
        state
            .investigations()
            .pending_approvals(user.0.org_id())
            .await?,
    ))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    reason: Option<String>,
}

/// The optional JSON body of a decision: empty, or `{"reason": "..."}`.
fn decision(body: &[u8]) -> Result<Option<Decision>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|err| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("the body must be empty or {{\"reason\": \"...\"}}: {err}"),
        )
    })
}

async fn decide(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    approve: bool,
    decision: Option<Decision>,
) -> Result<Json<Approval>, ApiError> {
    user.require(Role::Editor)?;
    let id: ApprovalId = parse(id, "approval")?;
    let reason = decision.unwrap_or_default().reason;
    state
        .investigations()
        .decide(
            user.0.org_id(),
            id,
            approve,
            user.0.user.id,
            reason.as_deref(),
        )
        .await
        .map(Json)
        .map_err(|err| match err {
            InvestigationError::Store(StoreError::Conflict(message)) => {
                ApiError::conflict("approval_decided", message)
            }
            other => other.into(),
        })
}

/// `POST /api/v1/approvals/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Approval>, ApiError> {
    decide(&state, &user, &id, true, decision(&body)?).await
}

/// `POST /api/v1/approvals/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Approval>, ApiError> {
    decide(&state, &user, &id, false, decision(&body)?).await
}

// ---------------------------------------------------------------------------------------------
// Connectors

/// A connector as the API shows it: its secrets by field name only.
#[derive(Serialize)]
pub struct ConnectorView {
    id: ConnectorId,
    kind: String,
    name: String,
    config: serde_json::Value,
    /// The fields that have a stored secret.
    secret_fields: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    last_check: Option<ConnectorCheck>,
}

impl From<Connector> for ConnectorView {
    fn from(c: Connector) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            name: c.name,
            config: c.config,
            secret_fields: c.secret_refs.into_keys().collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            last_check: c.last_check,
        }
    }
}

/// `GET /api/v1/connectors`.
pub async fn list_connectors(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<ConnectorView>>, ApiError> {
    let connectors = state
        .investigations()
        .list_connectors(user.0.org_id())
        .await?;
    Ok(Json(connectors.into_iter().map(Into::into).collect()))
}

/// `GET /api/v1/connector-kinds`.
pub async fn connector_kinds(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Json<Vec<ConnectorKindInfo>> {
    Json(state.investigations().connector_kinds())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnector {
    kind: String,
    name: String,
    #[serde(default = "empty_object")]
    config: serde_json::Value,
    #[serde(default)]
    secrets: BTreeMap<String, SecretString>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `POST /api/v1/connectors`.
pub async fn create_connector(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateConnector>,
) -> Result<(StatusCode, Json<ConnectorView>), ApiError> {
    user.require(Role::Admin)?;
    let connector = state
        .investigations()
        .create_connector(
            user.0.org_id(),
            ConnectorForm {
                kind: body.kind,
                name: body.name,
                config: body.config,
                secrets: body.secrets,
            },
        )
        .await
        .map_err(|err| match err {
            InvestigationError::Store(StoreError::Conflict(message)) => {
                ApiError::conflict("connector_exists", message)
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(connector.into())))
}

/// `POST /api/v1/connectors/{id}/test`: runs the health check and records it.
pub async fn test_connector(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ConnectorView>, ApiError> {
    user.require(Role::Editor)?;
    let id: ConnectorId = parse(&id, "connector")?;
    let connector = state
        .investigations()
        .test_connector(user.0.org_id(), id)
        .await?;
    Ok(Json(connector.into()))
}

/// `DELETE /api/v1/connectors/{id}`: the connector and its secrets.
pub async fn delete_connector(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Admin)?;
    let id: ConnectorId = parse(&id, "connector")?;
    state
        .investigations()
        .delete_connector(user.0.org_id(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// LLM settings and usage

/// LLM settings as the API shows them: whether a key is stored, never the key.
#[derive(Serialize)]
pub struct LlmView {
    configured: bool,
    provider: Option<String>,
    model: Option<String>,
    base_url: Option<String>,
    has_api_key: bool,
    max_steps: u32,
    max_tokens_per_investigation: u64,
    max_cost_per_investigation_usd: f64,
    max_cost_per_day_usd: f64,
    #[serde(with = "time::serde::rfc3339::option")]
    updated_at: Option<OffsetDateTime>,
}

impl From<Option<LlmSettings>> for LlmView {
    fn from(settings: Option<LlmSettings>) -> Self {
        match settings {
            Some(s) => Self {
                configured: true,
                has_api_key: s.api_key_ref.is_some(),
                provider: Some(s.provider),
                model: Some(s.model),
                base_url: s.base_url,
                max_steps: s.max_steps,
                max_tokens_per_investigation: s.max_tokens_per_investigation,
                max_cost_per_investigation_usd: s.max_cost_per_investigation_usd,
                max_cost_per_day_usd: s.max_cost_per_day_usd,
                updated_at: Some(s.updated_at),
            },
            None => Self {
                configured: false,
                provider: None,
                model: None,
                base_url: None,
                has_api_key: false,
                max_steps: LlmSettings::DEFAULT_MAX_STEPS,
                max_tokens_per_investigation: LlmSettings::DEFAULT_MAX_TOKENS_PER_INVESTIGATION,
                max_cost_per_investigation_usd: LlmSettings::DEFAULT_MAX_COST_PER_INVESTIGATION_USD,
                max_cost_per_day_usd: LlmSettings::DEFAULT_MAX_COST_PER_DAY_USD,
                updated_at: None,
            },
        }
    }
}

/// `GET /api/v1/settings/llm`.
pub async fn get_llm(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<LlmView>, ApiError> {
    let settings = state.investigations().llm_settings(user.0.org_id()).await?;
    Ok(Json(settings.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutLlm {
    provider: String,
    model: String,
    base_url: Option<String>,
    api_key: Option<SecretString>,
    #[serde(default)]
    clear_api_key: bool,
    max_steps: Option<u32>,
    max_tokens_per_investigation: Option<u64>,
    max_cost_per_investigation_usd: Option<f64>,
    max_cost_per_day_usd: Option<f64>,
}

impl From<PutLlm> for LlmForm {
    fn from(b: PutLlm) -> Self {
        Self {
            provider: b.provider,
            model: b.model,
            base_url: b.base_url,
            api_key: b.api_key,
            clear_api_key: b.clear_api_key,
            max_steps: b.max_steps,
            max_tokens_per_investigation: b.max_tokens_per_investigation,
            max_cost_per_investigation_usd: b.max_cost_per_investigation_usd,
            max_cost_per_day_usd: b.max_cost_per_day_usd,
        }
    }
}

/// `PUT /api/v1/settings/llm`.
pub async fn put_llm(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<PutLlm>,
) -> Result<Json<LlmView>, ApiError> {
    user.require(Role::Admin)?;
    let settings = state
        .investigations()
        .put_llm_settings(user.0.org_id(), body.into())
        .await?;
    Ok(Json(Some(settings).into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    days: Option<u32>,
}

/// `GET /api/v1/usage?days=N`: tokens and cost of the last N days (1 = today, UTC).
pub async fn usage(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<UsagePeriod>, ApiError> {
    let q: UsageQuery = query(raw.as_deref())?;
    Ok(Json(
        state
            .investigations()
            .usage(user.0.org_id(), q.days.unwrap_or(30))
            .await?,
    ))
}
