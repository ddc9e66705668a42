//! `/api/v1/grouping-rules`: the organisation's label-based grouping rules (see
//! [`aurora_core::grouping`]). Everyone reads them; admins add and delete them.

use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::grouping::{GroupingRule, NewGroupingRule};
use aurora_core::ids::GroupingRuleId;
use aurora_core::model::Role;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

fn rule_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "grouping_rule_not_found",
        format!("your organisation has no grouping rule {id}"),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    name: String,
    /// Label names whose values must be equal, e.g. `["cluster", "alertname"]`.
    labels: Vec<String>,
    /// How long after an incident opened alerts may still join it by this rule.
    window_seconds: u64,
}

pub async fn list_rules(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<GroupingRule>>, ApiError> {
    Ok(Json(
        state.store().list_grouping_rules(user.0.org_id()).await?,
    ))
}

pub async fn create_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateRule>,
) -> Result<(StatusCode, Json<GroupingRule>), ApiError> {
    user.require(Role::Admin)?;
    let rule = NewGroupingRule::parse(
        &body.name,
        &body.labels,
        Duration::from_secs(body.window_seconds),
    )
    .map_err(|err| ApiError::bad_request("invalid_request", err.to_string()))?;
    let created = state
        .store()
        .create_grouping_rule(user.0.org_id(), &rule, OffsetDateTime::now_utc())
        .await
        .map_err(|err| match err {
            StoreError::Conflict(message) => ApiError::conflict("too_many_grouping_rules", message),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn delete_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Admin)?;
    let rule: GroupingRuleId = id.parse().map_err(|_| rule_not_found(&id))?;
    state
        .store()
        .delete_grouping_rule(user.0.org_id(), rule)
        .await
        .map_err(|err| match err {
            StoreError::NotFound(_) => rule_not_found(&id),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
