//! `/api/v1/knowledge`: documents (upload, list, read, re-index, delete), search, and the past
//! incidents like an incident.
//!
//! An upload is the file itself as the request body (`curl --data-binary @runbook.pdf`), with
//! its name, kind and tags in the query string; its type is detected from the content.

use aurora_core::StoreError;
use aurora_core::ids::{DocumentId, IncidentId};
use aurora_core::knowledge::{
    BlobError, Document, DocumentFilter, DocumentKind, DocumentStatus, MAX_UPLOAD_BYTES,
    SearchError, SearchRequest, SearchResults,
};
use aurora_core::model::Role;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::knowledge::{Added, KnowledgeError, KnowledgeStatus, NewUpload, SimilarIncident};
use crate::state::AppState;

/// The path documents are uploaded to; its body limit is [`MAX_UPLOAD_BYTES`].
pub const UPLOAD_PATH: &str = "/api/v1/knowledge/documents";

impl From<KnowledgeError> for ApiError {
    fn from(err: KnowledgeError) -> Self {
        match err {
            KnowledgeError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            KnowledgeError::TooLarge { limit, .. } => {
                ApiError::payload_too_large(usize::try_from(limit).unwrap_or(usize::MAX))
            }
            KnowledgeError::Search(SearchError::EmptyQuery) => ApiError::bad_request(
                "empty_query",
                "the query has no words to search for: ask with at least one word",
            ),
            KnowledgeError::Search(SearchError::Embed(err)) => {
                ApiError::unavailable(format!("{err}; keyword search still works"))
            }
            KnowledgeError::Search(SearchError::Store(err)) | KnowledgeError::Store(err) => {
                match err {
                    StoreError::NotFound("incident") => ApiError::not_found(
                        "incident_not_found",
                        "your organisation has no such incident",
                    ),
                    StoreError::NotFound(_) => ApiError::not_found(
                        "document_not_found",
                        "your organisation has no such document",
                    ),
                    StoreError::Conflict(message) => ApiError::conflict("conflict", message),
                    other => other.into(),
                }
            }
            KnowledgeError::Blob(BlobError::NotFound(_)) => ApiError::not_found(
                "original_not_found",
                "the document's original is missing from the blob store",
            ),
            KnowledgeError::Blob(err) => ApiError::unavailable(err.to_string()),
        }
    }
}

fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|err| ApiError::bad_request("invalid_request", format!("invalid query: {err}")))
}

/// A document id from a path; one that does not parse is as unknown as one that is not there.
pub(crate) fn document_id(raw: &str) -> Result<DocumentId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::not_found(
            "document_not_found",
            "your organisation has no such document",
        )
    })
}

/// An incident id from a path, likewise.
pub(crate) fn incident_id(raw: &str) -> Result<IncidentId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::not_found(
            "incident_not_found",
            "your organisation has no such incident",
        )
    })
}

fn kind(raw: &str) -> Result<DocumentKind, ApiError> {
    raw.parse()
        .map_err(|message: String| ApiError::bad_request("invalid_request", message))
}

/// `GET /api/v1/knowledge/status`: whether search is hybrid or keyword-only, and the limits.
pub async fn status(State(state): State<AppState>, _user: CurrentUser) -> Json<KnowledgeStatus> {
    Json(state.knowledge().status())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    filename: Option<String>,
    title: Option<String>,
    kind: Option<String>,
    /// Comma-separated.
    tags: Option<String>,
}

/// `POST /api/v1/knowledge/documents?filename=…&kind=…&tags=a,b`: the body is the file. 202 with
/// the document (status `processing`), or 200 with the existing document when identical content
/// is already there.
pub async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Added>), ApiError> {
    user.require(Role::Editor)?;
    let q: UploadQuery = query(raw.as_deref())?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(usize::try_from(MAX_UPLOAD_BYTES).unwrap_or(usize::MAX))
        } else {
            ApiError::bad_request("invalid_body", rejection.body_text())
        }
    })?;
    let kind = q.kind.as_deref().map(kind).transpose()?;
    let added = state
        .knowledge()
        .add(
            user.0.org_id(),
            NewUpload {
                filename: q.filename,
                title: q.title,
                kind: kind.unwrap_or(DocumentKind::Reference),
                tags: q
                    .tags
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
                bytes: body.to_vec(),
            },
        )
        .await?;
    let status = if added.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(added)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<String>,
    status: Option<String>,
    incident: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/knowledge/documents?kind=&status=&incident=&limit=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Document>>, ApiError> {
    let q: ListQuery = query(raw.as_deref())?;
    let filter = DocumentFilter {
        kind: q.kind.as_deref().map(kind).transpose()?,
        status: q
            .status
            .as_deref()
            .map(|s| {
                s.parse::<DocumentStatus>()
                    .map_err(|m| ApiError::bad_request("invalid_request", m))
            })
            .transpose()?,
        incident: q
            .incident
            .as_deref()
            .map(|s| {
                s.parse::<IncidentId>().map_err(|_| {
                    ApiError::bad_request("invalid_request", "incident must be an incident id")
                })
            })
            .transpose()?,
        limit: q.limit,
    };
    Ok(Json(
        state.knowledge().list(user.0.org_id(), &filter).await?,
    ))
}

/// `GET /api/v1/knowledge/documents/{id}`.
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Document>, ApiError> {
    let id = document_id(&id)?;
    Ok(Json(state.knowledge().get(user.0.org_id(), id).await?))
}

/// `GET /api/v1/knowledge/documents/{id}/original`: the file as uploaded, as an attachment.
pub async fn original(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = document_id(&id)?;
    let (document, bytes) = state.knowledge().original(user.0.org_id(), id).await?;
    let name: String = document
        .filename
        .unwrap_or_else(|| format!("{}.txt", document.id))
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /api/v1/knowledge/documents/{id}/reindex`.
pub async fn reindex(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    user.require(Role::Editor)?;
    let id = document_id(&id)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(state.knowledge().reindex(user.0.org_id(), id).await?),
    ))
}

/// `DELETE /api/v1/knowledge/documents/{id}`: with its chunks, vectors and original.
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Editor)?;
    let id = document_id(&id)?;
    state.knowledge().delete(user.0.org_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/knowledge/search`: `{"query": "…", "filter": {"kinds": [], "tags": [],
/// "documents": []}, "k": 10}`.
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<Json<SearchResults>, ApiError> {
    Ok(Json(
        state.knowledge().search(user.0.org_id(), &request).await?,
    ))
}

/// `GET /api/v1/incidents/{id}/similar`: up to three past incidents whose reports read most
/// like this one.
pub async fn similar_incidents(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<SimilarIncident>>, ApiError> {
    let incident = incident_id(&id)?;
    Ok(Json(
        state
            .knowledge()
            .similar_incidents(user.0.org_id(), incident)
            .await?,
    ))
}
