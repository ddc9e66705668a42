//! The Knowledge page: drop files to upload them (with progress), the documents with their
//! indexing status (refreshed while any is processing), and search with highlighted snippets.
//! Also the "similar past incidents" card of an incident page.

use askama::Template;
use aurora_core::knowledge::{
    Document, DocumentFilter, DocumentKind, DocumentStatus, MAX_UPLOAD_BYTES, SearchMode,
    SearchRequest,
};
use aurora_core::model::Role;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::incidents::require_editor;
use super::pages::{Layout, is_htmx, see_other, when};
use super::{AssetUrls, UiError, assets, render};
use crate::api::{KNOWLEDGE_UPLOAD_PATH, document_id, incident_id};
use crate::auth::UiUser;
use crate::error::ApiError;
use crate::knowledge::{KnowledgeError, SimilarIncident};
use crate::state::AppState;

struct DocumentRow {
    id: String,
    title: String,
    kind: &'static str,
    filename: String,
    status: &'static str,
    error: String,
    chunks: u32,
    size: String,
    added: String,
}

impl From<Document> for DocumentRow {
    fn from(d: Document) -> Self {
        Self {
            id: d.id.to_string(),
            title: d.title,
            kind: d.kind.as_str(),
            filename: d.filename.unwrap_or_default(),
            status: d.status.as_str(),
            error: d.error.unwrap_or_default(),
            chunks: d.chunk_count,
            size: human_size(d.size_bytes),
            added: when(Some(d.created_at), ""),
        }
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

struct HitRow {
    document_id: String,
    title: String,
    kind: &'static str,
    context: String,
    snippet_html: String,
    score: String,
    how: String,
}

#[derive(Template)]
#[template(path = "_documents.html")]
struct DocumentList {
    rows: Vec<DocumentRow>,
    processing: bool,
    can_edit: bool,
    csrf: String,
}

#[derive(Template)]
#[template(path = "knowledge.html")]
struct KnowledgePage {
    assets: &'static AssetUrls,
    layout: Layout,
    list: DocumentList,
    can_edit: bool,
    keyword_only: bool,
    model: String,
    upload_path: &'static str,
    max_upload_bytes: u64,
    kinds: Vec<&'static str>,
    query: String,
    selected_kind: String,
    searched: bool,
    hits: Vec<HitRow>,
    search_error: Option<String>,
}

#[derive(Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
}

async fn document_list(state: &AppState, user: &UiUser) -> Result<DocumentList, UiError> {
    let documents = state
        .knowledge()
        .list(user.0.org_id(), &DocumentFilter::default())
        .await?;
    let processing = documents
        .iter()
        .any(|d| d.status == DocumentStatus::Processing);
    Ok(DocumentList {
        rows: documents.into_iter().map(DocumentRow::from).collect(),
        processing,
        can_edit: user.0.user.role.allows(Role::Editor),
        csrf: user.csrf_token().to_owned(),
    })
}

/// `GET /knowledge?q=…&kind=…`.
pub async fn page(
    State(state): State<AppState>,
    user: UiUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let q: PageQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default();
    let status = state.knowledge().status();
    let query = q.q.trim().to_owned();
    let mut hits = Vec::new();
    let mut search_error = None;
    if !query.is_empty() {
        let kinds = q
            .kind
            .parse::<DocumentKind>()
            .map(|k| vec![k])
            .unwrap_or_default();
        let request = SearchRequest {
            query: query.clone(),
            filter: aurora_core::knowledge::SearchFilter {
                kinds,
                ..Default::default()
            },
            k: Some(10),
        };
        match state.knowledge().search(user.0.org_id(), &request).await {
            Ok(results) => {
                hits = results
                    .hits
                    .into_iter()
                    .map(|h| HitRow {
                        document_id: h.document_id.to_string(),
                        title: h.title,
                        kind: h.kind.as_str(),
                        context: h.context,
                        snippet_html: h.snippet.to_html(),
                        score: format!("{:.4}", h.score),
                        how: match (h.vector_rank, h.keyword_rank) {
                            (Some(v), Some(k)) => format!("meaning #{v}, words #{k}"),
                            (Some(v), None) => format!("meaning #{v}"),
                            (None, Some(k)) => format!("words #{k}"),
                            (None, None) => String::new(),
                        },
                    })
                    .collect();
            }
            Err(err @ (KnowledgeError::Invalid(_) | KnowledgeError::Search(_))) => {
                search_error = Some(ApiError::from(err).message);
            }
            Err(err) => return Err(err.into()),
        }
    }
    let page = KnowledgePage {
        assets: assets::urls(),
        layout: Layout::new(&state, &user, "knowledge"),
        list: document_list(&state, &user).await?,
        can_edit: user.0.user.role.allows(Role::Editor),
        keyword_only: status.mode == SearchMode::KeywordOnly,
        model: status.embedding_model.unwrap_or_default(),
        upload_path: KNOWLEDGE_UPLOAD_PATH,
        max_upload_bytes: MAX_UPLOAD_BYTES,
        kinds: DocumentKind::ALL.iter().map(|k| k.as_str()).collect(),
        searched: !query.is_empty(),
        selected_kind: q.kind.clone(),
        query,
        hits,
        search_error,
    };
    Ok(render(&page))
}

/// `GET /knowledge/documents`: the document list alone, for live refresh.
pub async fn documents(State(state): State<AppState>, user: UiUser) -> Result<Response, UiError> {
    Ok(render(&document_list(&state, &user).await?))
}

/// What the document buttons do.
#[derive(Clone, Copy)]
enum DocumentAction {
    Delete,
    Reindex,
}

async fn act_on_document(
    state: &AppState,
    user: &UiUser,
    headers: &HeaderMap,
    id: &str,
    action: DocumentAction,
) -> Result<Response, UiError> {
    require_editor(user)?;
    let id = document_id(id)?;
    match action {
        DocumentAction::Delete => {
            state.knowledge().delete(user.0.org_id(), id).await?;
        }
        DocumentAction::Reindex => {
            state.knowledge().reindex(user.0.org_id(), id).await?;
        }
    }
    if is_htmx(headers) {
        return Ok(render(&document_list(state, user).await?));
    }
    Ok(see_other("/knowledge"))
}

/// `POST /knowledge/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    act_on_document(&state, &user, &headers, &id, DocumentAction::Delete).await
}

/// `POST /knowledge/{id}/reindex`.
pub async fn reindex(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    act_on_document(&state, &user, &headers, &id, DocumentAction::Reindex).await
}

#[derive(Template)]
#[template(path = "_similar.html")]
struct SimilarCard {
    similar: Vec<SimilarIncident>,
}

/// `GET /incidents/{id}/similar`: the card of past incidents like this one.
pub async fn similar(
    State(state): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = incident_id(&id)?;
    let similar = state
        .knowledge()
        .similar_incidents(user.0.org_id(), id)
        .await?;
    Ok(render(&SimilarCard { similar }).into_response())
}
