//! `/api/v1/jobs`: the organisation's background jobs (queued, running, done, failed) and the
//! retry of a failed one.

use aurora_core::StoreError;
use aurora_core::ids::JobId;
use aurora_core::job::{Job, JobCounts, JobFilter, JobStatus};
use aurora_core::model::Role;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;

fn job_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "job_not_found",
        format!("your organisation has no job {id}"),
    )
}

/// The query of `GET /api/v1/jobs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobQuery {
    status: Option<String>,
    limit: Option<u32>,
}

fn job_filter(query: Option<&str>) -> Result<JobFilter, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_request", message);
    let query: JobQuery = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|err| invalid(format!("invalid query: {err}")))?;
    Ok(JobFilter {
        status: query
            .status
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<JobStatus>())
            .transpose()
            .map_err(|err| invalid(err.to_string()))?,
        limit: query.limit.unwrap_or(0),
    })
}

#[derive(Serialize)]
pub struct JobList {
    /// Newest first.
    jobs: Vec<Job>,
    /// All of the organisation's jobs per status, whatever the filter.
    counts: JobCounts,
}

pub async fn list_jobs(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Json<JobList>, ApiError> {
    user.require(Role::Editor)?;
    let filter = job_filter(query.as_deref())?;
    let org = user.0.org_id();
    let jobs = state.store().list_jobs(org, &filter).await?;
    let counts = state.store().count_jobs(org).await?;
    Ok(Json(JobList { jobs, counts }))
}

/// Queues a failed job again, with its attempts reset.
pub async fn retry_job(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    user.require(Role::Admin)?;
    let job: JobId = id.parse().map_err(|_| job_not_found(&id))?;
    state
        .store()
        .retry_job(user.0.org_id(), job, OffsetDateTime::now_utc())
        .await
        .map(Json)
        .map_err(|err| match err {
            StoreError::NotFound(_) => job_not_found(&id),
            StoreError::Conflict(message) => ApiError::conflict("job_not_failed", message),
            other => other.into(),
        })
}
