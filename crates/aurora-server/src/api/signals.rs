//! `/api/v1/sources` (alert sources), `/api/v1/webhooks/{source_id}` (deliveries) and
//! `/api/v1/incidents`.

use aurora_core::StoreError;
use aurora_core::alert::{Severity, SourceKind};
use aurora_core::ids::{IncidentId, SourceId, UserId};
use aurora_core::incident::{
    Actor, EventFilter, EventPage, IncidentChange, IncidentDetail, IncidentEvent, IncidentFilter,
    IncidentPage, IncidentStatus, MAX_COMMENT_LEN,
};
use aurora_core::model::Role;
use aurora_core::source::{AlertSource, DeliveryRecord, IngestOutcome, SourceOptions};
use aurora_signals::ParseError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::signals::{IssuedSecret, SignalError, WEBHOOK_PATH_PREFIX, auth_instructions};
use crate::state::AppState;

impl From<SignalError> for ApiError {
    fn from(err: SignalError) -> Self {
        let message = err.to_string();
        match err {
            SignalError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            SignalError::UnknownSource | SignalError::Store(StoreError::NotFound(_)) => {
                source_not_found()
            }
            SignalError::NotImplemented(_) => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", message)
            }
            SignalError::UnsupportedMediaType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            ),
            SignalError::Auth(err) => ApiError::new(StatusCode::UNAUTHORIZED, err.code(), message),
            SignalError::Challenge(err) => {
                ApiError::new(StatusCode::UNAUTHORIZED, err.code(), message)
                    .with_challenge("Basic realm=\"aurora\"")
            }
            SignalError::Unavailable(_) => {
                tracing::warn!(error = %message, "delivery refused: a peer could not be reached");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "sns_unavailable",
                    format!("{message}; the delivery was not stored, send it again"),
                )
            }
            SignalError::Parse(err @ ParseError::MalformedJson { .. }) => {
                ApiError::bad_request(err.code(), message)
            }
            SignalError::Parse(err) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, err.code(), message)
            }
            SignalError::Store(err) => err.into(),
            SignalError::Secret(err) => ApiError::internal(&err),
        }
    }
}

fn source_not_found() -> ApiError {
    ApiError::not_found(
        "source_not_found",
        "no such alert source: check the id in the webhook URL",
    )
}

fn incident_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "incident_not_found",
        format!("your organisation has no incident {id}"),
    )
}

/// A source as the API shows it: never its secrets, always where to send deliveries.
#[derive(Serialize)]
pub struct SourceView {
    #[serde(flatten)]
    source: AlertSource,
    webhook_path: String,
    /// `server.public_url` + `webhook_path`, when the public URL is configured.
    webhook_url: Option<String>,
    authentication: &'static str,
}

impl SourceView {
    fn new(state: &AppState, source: AlertSource) -> Self {
        let webhook_path = format!("{WEBHOOK_PATH_PREFIX}{}", source.id);
        let webhook_url = state
            .config()
            .server
            .public_url
            .as_deref()
            .map(|base| format!("{}{webhook_path}", base.trim_end_matches('/')));
        Self {
            authentication: auth_instructions(source.kind),
            source,
            webhook_path,
            webhook_url,
        }
    }
}

#[derive(Serialize)]
pub struct SourceWithSecret {
    #[serde(flatten)]
    source: SourceView,
    /// The source's secret. It is shown only in this response.
    secret: String,
}

impl SourceWithSecret {
    fn new(state: &AppState, issued: IssuedSecret) -> Self {
        Self {
            source: SourceView::new(state, issued.source),
            secret: issued.secret.expose_secret().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSource {
    kind: SourceKind,
    name: String,
    #[serde(default)]
    options: SourceOptions,
}

pub async fn create_source(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateSource>,
) -> Result<(StatusCode, Json<SourceWithSecret>), ApiError> {
    user.require(Role::Admin)?;
    let issued = state
        .signals()
        .create_source(user.0.org_id(), body.kind, &body.name, body.options)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SourceWithSecret::new(&state, issued)),
    ))
}

pub async fn list_sources(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<SourceView>>, ApiError> {
    let sources = state.signals().list_sources(user.0.org_id()).await?;
    Ok(Json(
        sources
            .into_iter()
            .map(|source| SourceView::new(&state, source))
            .collect(),
    ))
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<SourceWithSecret>, ApiError> {
    user.require(Role::Admin)?;
    let id: SourceId = id.parse().map_err(|_| source_not_found())?;
    let issued = state.signals().rotate_secret(user.0.org_id(), id).await?;
    Ok(Json(SourceWithSecret::new(&state, issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    limit: Option<u32>,
}

/// The source's most recent deliveries with their outcome, newest first.
pub async fn list_deliveries(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<DeliveryRecord>>, ApiError> {
    let query: DeliveriesQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|err| {
        ApiError::bad_request("invalid_request", format!("invalid query: {err}"))
    })?;
    let id: SourceId = id.parse().map_err(|_| source_not_found())?;
    let deliveries = state
        .signals()
        .list_deliveries(user.0.org_id(), id, query.limit.unwrap_or(20))
        .await?;
    Ok(Json(deliveries))
}

/// A delivery from an alert source. Authenticated by the source's secret, not by a session or
/// API token; answered only after its alerts are committed.
pub async fn webhook(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestOutcome>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(state.signals().max_delivery_bytes())
        } else {
            ApiError::bad_request("invalid_body", rejection.body_text())
        }
    })?;
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value)))
        .collect();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let outcome = state
        .signals()
        .receive(&source_id, &pairs, content_type, &body)
        .await?;
    Ok(Json(outcome))
}

/// The query of `GET /api/v1/incidents`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    status: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    /// Text in the title.
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub(crate) fn incident_filter(query: Option<&str>) -> Result<IncidentFilter, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_request", message);
    let query: IncidentQuery = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|err| invalid(format!("invalid query: {err}")))?;
    let nonempty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    Ok(IncidentFilter {
        status: nonempty(query.status)
            .map(|s| s.parse::<IncidentStatus>())
            .transpose()
            .map_err(|err| invalid(err.to_string()))?,
        severity: nonempty(query.severity)
            .map(|s| s.parse::<Severity>())
            .transpose()
            .map_err(|err| invalid(err.to_string()))?,
        service: nonempty(query.service),
        text: nonempty(query.q),
        after: nonempty(query.cursor)
            .map(|c| c.parse())
            .transpose()
            .map_err(|err: aurora_core::incident::InvalidCursor| invalid(err.to_string()))?,
        limit: query.limit.unwrap_or(0),
    })
}

pub async fn list_incidents(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Json<IncidentPage>, ApiError> {
    let filter = incident_filter(query.as_deref())?;
    Ok(Json(
        state
            .signals()
            .list_incidents(user.0.org_id(), &filter)
            .await?,
    ))
}

fn incident_id(raw: &str) -> Result<IncidentId, ApiError> {
    raw.parse().map_err(|_| incident_not_found(raw))
}

fn incident_error(err: StoreError, id: &str) -> ApiError {
    match err {
        StoreError::NotFound("user") => ApiError::bad_request(
            "invalid_request",
            "assignee is not a user of your organisation",
        ),
        StoreError::NotFound(_) => incident_not_found(id),
        other => other.into(),
    }
}

pub async fn get_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let incident = incident_id(&id)?;
    state
        .signals()
        .get_incident(user.0.org_id(), incident)
        .await
        .map(Json)
        .map_err(|err| incident_error(err, &id))
}

/// The query of `GET /api/v1/incidents/{id}/timeline`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/incidents/{id}/timeline`: the whole timeline, newest first, a page at a time
/// (the incident's detail carries only the latest entries).
pub async fn list_timeline(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<EventPage>, ApiError> {
    let incident = incident_id(&id)?;
    let invalid = |message: String| ApiError::bad_request("invalid_request", message);
    let query: TimelineQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|err| invalid(format!("invalid query: {err}")))?;
    let filter = EventFilter {
        after: super::alerts::cursor(query.cursor)?,
        limit: query.limit.unwrap_or(0),
    };
    state
        .store()
        .list_events(user.0.org_id(), incident, &filter)
        .await
        .map(Json)
        .map_err(|err| incident_error(err, &id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateIncident {
    status: Option<IncidentStatus>,
    severity: Option<Severity>,
    /// Absent: unchanged; `null`: nobody; a user id: that user.
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<UserId>>,
}

/// Tells a field sent as `null` (`Some(None)`) from an absent one (`None`, via `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<UserId>>, D::Error> {
    Option::<UserId>::deserialize(d).map(Some)
}

pub async fn update_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateIncident>,
) -> Result<Json<aurora_core::incident::Incident>, ApiError> {
    user.require(Role::Editor)?;
    let incident = incident_id(&id)?;
    let change = IncidentChange {
        status: body.status,
        severity: body.severity,
        assignee: body.assignee,
    };
    if change.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "nothing to change: send status, severity or assignee",
        ));
    }
    state
        .signals()
        .update_incident(
            user.0.org_id(),
            incident,
            Actor::User(user.0.user.id),
            &change,
        )
        .await
        .map(Json)
        .map_err(|err| incident_error(err, &id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeIncident {
    /// The incident that receives the alerts and timeline.
    into: String,
}

/// Both incidents after a merge.
#[derive(Serialize)]
pub struct Merged {
    /// The incident merged away: resolved, with `merged_into` set.
    merged: aurora_core::incident::Incident,
    /// The incident that now holds the alerts and timeline.
    into: aurora_core::incident::Incident,
}

/// Merges the incident into another of the organisation's (editors).
pub async fn merge_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeIncident>,
) -> Result<Json<Merged>, ApiError> {
    user.require(Role::Editor)?;
    let from = incident_id(&id)?;
    let into = incident_id(&body.into)?;
    if from == into {
        return Err(ApiError::bad_request(
            "invalid_request",
            "an incident cannot be merged into itself: name another incident in `into`",
        ));
    }
    let (merged, into) = state
        .signals()
        .merge_incidents(user.0.org_id(), from, into, Actor::User(user.0.user.id))
        .await
        .map_err(|err| match err {
            StoreError::Conflict(message) => ApiError::conflict("incident_merged", message),
            StoreError::NotFound(_) => ApiError::not_found(
                "incident_not_found",
                "your organisation has no such incident: check both ids",
            ),
            other => other.into(),
        })?;
    Ok(Json(Merged { merged, into }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    text: String,
}

pub async fn add_comment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewComment>,
) -> Result<(StatusCode, Json<IncidentEvent>), ApiError> {
    user.require(Role::Editor)?;
    let incident = incident_id(&id)?;
    let text = body.text.trim();
    if text.is_empty() || text.len() > MAX_COMMENT_LEN {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("text must be 1 to {MAX_COMMENT_LEN} bytes"),
        ));
    }
    let event = state
        .signals()
        .add_comment(user.0.org_id(), incident, Actor::User(user.0.user.id), text)
        .await
        .map_err(|err| incident_error(err, &id))?;
    Ok((StatusCode::CREATED, Json(event)))
}
