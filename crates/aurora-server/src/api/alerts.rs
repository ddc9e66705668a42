//! `GET /api/v1/alerts`: the organisation's alerts, newest first, filtered and paged by cursor.

use aurora_core::alert::{AlertStatus, Severity};
use aurora_core::ids::{IncidentId, SourceId};
use std::str::FromStr;

use aurora_core::incident::{AlertFilter, AlertPage, Cursor, InvalidCursor};
use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;

/// The query of `GET /api/v1/alerts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertQuery {
    status: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    /// A source id.
    source: Option<String>,
    /// An incident id.
    incident: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn alert_filter(query: Option<&str>) -> Result<AlertFilter, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_request", message);
    let query: AlertQuery = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|err| invalid(format!("invalid query: {err}")))?;
    let nonempty =
        |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Ok(AlertFilter {
        status: nonempty(query.status)
            .map(|s| s.parse::<AlertStatus>())
            .transpose()
            .map_err(|err| invalid(err.to_string()))?,
        severity: nonempty(query.severity)
            .map(|s| s.parse::<Severity>())
            .transpose()
            .map_err(|err| invalid(err.to_string()))?,
        service: nonempty(query.service),
        source: nonempty(query.source)
            .map(|s| s.parse::<SourceId>())
            .transpose()
            .map_err(|_| invalid("source must be a source id".to_owned()))?,
        incident: nonempty(query.incident)
            .map(|s| s.parse::<IncidentId>())
            .transpose()
            .map_err(|_| invalid("incident must be an incident id".to_owned()))?,
        after: cursor(query.cursor)?,
        limit: query.limit.unwrap_or(0),
    })
}

/// A list's `?cursor=` (the previous page's `next`), trimmed; none when absent or blank.
pub(super) fn cursor<Id: FromStr>(raw: Option<String>) -> Result<Option<Cursor<Id>>, ApiError> {
    raw.map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .map(|c| c.parse())
        .transpose()
        .map_err(|err: InvalidCursor| ApiError::bad_request("invalid_request", err.to_string()))
}

pub async fn list_alerts(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Json<AlertPage>, ApiError> {
    let filter = alert_filter(query.as_deref())?;
    Ok(Json(
        state.store().list_alerts(user.0.org_id(), &filter).await?,
    ))
}
