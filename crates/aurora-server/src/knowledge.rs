//! The knowledge base as a service: adding documents (the original to the [`BlobStore`], the
//! record to the store, an `index_document` job for the workers), listing, deleting, searching,
//! and the past incidents most like an incident.
//!
//! Extraction, chunking and embedding run in the workers (the binary's job handler); this side
//! only needs the [`Embedder`] to embed questions, and searches keyword-only without one.

use std::collections::HashSet;
use std::sync::Arc;

use aurora_core::StoreError;
use aurora_core::events::{DomainEvent, EventBus};
use aurora_core::ids::{DocumentId, IncidentId, OrgId};
use aurora_core::job::NewJob;
use aurora_core::knowledge::{
    BlobError, BlobStore, Document, DocumentFilter, DocumentKind, DocumentStatus, Embedder,
    INDEX_DOCUMENT, MAX_UPLOAD_BYTES, NewDocument, SearchError, SearchFilter, SearchMode,
    SearchRequest, SearchResults, blob_key, hybrid_search,
};
use aurora_core::ports::Store;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const MAX_TITLE_LEN: usize = 300;
const MAX_TAGS: usize = 20;
const MAX_TAG_LEN: usize = 64;
const MAX_QUERY_LEN: usize = 2000;
/// How many past incidents an incident page shows.
pub const SIMILAR_INCIDENTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("{0}")]
    Invalid(String),
    #[error("the document is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

pub type Result<T, E = KnowledgeError> = std::result::Result<T, E>;

/// A document to add.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub filename: Option<String>,
    /// Unset: the filename without its extension (an indexed Markdown `# title` or PDF title
    /// replaces it).
    pub title: Option<String>,
    pub kind: DocumentKind,
    pub tags: Vec<String>,
    pub bytes: Vec<u8>,
}

/// The outcome of an upload.
#[derive(Clone, Debug, Serialize)]
pub struct Added {
    pub document: Document,
    /// The organisation already had a document with identical content; it is returned as is.
    pub duplicate: bool,
}

/// What the knowledge base can do here, for the UI and `GET /api/v1/knowledge/status`.
#[derive(Clone, Debug, Serialize)]
pub struct KnowledgeStatus {
    pub mode: SearchMode,
    /// The embedding model, when one is configured.
    pub embedding_model: Option<String>,
    pub blob_backend: &'static str,
    pub max_upload_bytes: u64,
}

/// A past incident like the one asked about.
#[derive(Clone, Debug, Serialize)]
pub struct SimilarIncident {
    pub incident_id: IncidentId,
    pub document_id: DocumentId,
    pub title: String,
    pub snippet: String,
    pub score: f64,
}

pub struct Knowledge {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    embedder: Option<Arc<dyn Embedder>>,
    events: Arc<dyn EventBus>,
}

impl Knowledge {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        embedder: Option<Arc<dyn Embedder>>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            store,
            blobs,
            embedder,
            events,
        }
    }

    pub fn status(&self) -> KnowledgeStatus {
        KnowledgeStatus {
            mode: if self.embedder.is_some() {
                SearchMode::Hybrid
            } else {
                SearchMode::KeywordOnly
            },
            embedding_model: self.embedder.as_ref().map(|e| e.model().to_owned()),
            blob_backend: self.blobs.backend(),
            max_upload_bytes: MAX_UPLOAD_BYTES,
        }
    }

    async fn publish(&self, org: OrgId, document: DocumentId) {
        self.events
            .publish(org, DomainEvent::DocumentUpdated { document })
            .await;
    }

    /// Stores the original, records the document and queues its indexing. Identical content
    /// already in the organisation's knowledge base is recognised by its SHA-256 and returned
    /// instead.
    pub async fn add(&self, org: OrgId, upload: NewUpload) -> Result<Added> {
        let size = upload.bytes.len() as u64;
        if size > MAX_UPLOAD_BYTES {
            return Err(KnowledgeError::TooLarge {
                size,
                limit: MAX_UPLOAD_BYTES,
            });
        }
        if upload.bytes.is_empty() {
            return Err(KnowledgeError::Invalid(
                "the file is empty: upload a document with content".into(),
            ));
        }
        let tags = clean_tags(upload.tags)?;
        let filename = upload
            .filename
            .map(|name| base_name(&name))
            .filter(|name| !name.is_empty());
        let title = match upload.title.map(|t| t.trim().to_owned()) {
            Some(title) if !title.is_empty() => title,
            _ => filename
                .as_deref()
                .map(|name| {
                    name.rsplit_once('.')
                        .map_or(name, |(stem, _)| stem)
                        .to_owned()
                })
                .filter(|stem| !stem.is_empty())
                .unwrap_or_else(|| "Untitled document".into()),
        };
        if title.chars().count() > MAX_TITLE_LEN {
            return Err(KnowledgeError::Invalid(format!(
                "title must be at most {MAX_TITLE_LEN} characters"
            )));
        }
        let sha256 = hex::encode(Sha256::digest(&upload.bytes));
        if let Some(document) = self.store.find_document_by_hash(org, &sha256).await? {
            return Ok(Added {
                document,
                duplicate: true,
            });
        }
        let key = blob_key(org, &sha256);
        self.blobs.put(&key, upload.bytes).await?;
        let created = self
            .store
            .create_document(
                org,
                &NewDocument {
                    title,
                    kind: upload.kind,
                    filename,
                    size_bytes: size,
                    sha256: sha256.clone(),
                    blob_key: key,
                    tags,
                    incident_id: None,
                    investigation_id: None,
                },
            )
            .await;
        let document = match created {
            Ok(document) => document,
            // Another upload of the same content won the race; its document stands.
            Err(StoreError::Conflict(_)) => {
                if let Some(document) = self.store.find_document_by_hash(org, &sha256).await? {
                    return Ok(Added {
                        document,
                        duplicate: true,
                    });
                }
                return Err(StoreError::Conflict(
                    "the document was added and deleted concurrently: upload it again".into(),
                )
                .into());
            }
            Err(err) => return Err(err.into()),
        };
        self.enqueue_index(org, document.id).await?;
        Ok(Added {
            document,
            duplicate: false,
        })
    }

    async fn enqueue_index(&self, org: OrgId, id: DocumentId) -> Result<()> {
        self.store
            .enqueue(
                org,
                NewJob {
                    kind: INDEX_DOCUMENT.to_owned(),
                    payload: serde_json::json!({ "document_id": id }),
                    run_at: OffsetDateTime::now_utc(),
                },
            )
            .await?;
        self.publish(org, id).await;
        Ok(())
    }

    /// Indexes the document again (after a model change or a failure).
    pub async fn reindex(&self, org: OrgId, id: DocumentId) -> Result<Document> {
        self.store
            .set_document_status(org, id, DocumentStatus::Processing, None)
            .await?;
        self.enqueue_index(org, id).await?;
        Ok(self.store.get_document(org, id).await?)
    }

    pub async fn list(&self, org: OrgId, filter: &DocumentFilter) -> Result<Vec<Document>> {
        Ok(self.store.list_documents(org, filter).await?)
    }

    pub async fn get(&self, org: OrgId, id: DocumentId) -> Result<Document> {
        Ok(self.store.get_document(org, id).await?)
    }

    /// The original as uploaded.
    pub async fn original(&self, org: OrgId, id: DocumentId) -> Result<(Document, Vec<u8>)> {
        let document = self.store.get_document(org, id).await?;
        let bytes = self.blobs.get(&document.blob_key).await?;
        Ok((document, bytes))
    }

    /// Deletes the document, its chunks and vectors, and its original.
    pub async fn delete(&self, org: OrgId, id: DocumentId) -> Result<Document> {
        let document = self.store.delete_document(org, id).await?;
        self.blobs.delete(&document.blob_key).await?;
        self.publish(org, id).await;
        Ok(document)
    }

    pub async fn search(&self, org: OrgId, request: &SearchRequest) -> Result<SearchResults> {
        if request.query.len() > MAX_QUERY_LEN {
            return Err(KnowledgeError::Invalid(format!(
                "query must be at most {MAX_QUERY_LEN} bytes"
            )));
        }
        Ok(hybrid_search(self.store.as_ref(), self.embedder.as_deref(), org, request).await?)
    }

    /// The past incidents whose reports read most like this incident (its title, services
    /// and alerts), best first, at most [`SIMILAR_INCIDENTS`].
    pub async fn similar_incidents(
        &self,
        org: OrgId,
        incident: IncidentId,
    ) -> Result<Vec<SimilarIncident>> {
        let detail = self.store.get_incident(org, incident).await?;
        let mut query = detail.incident.title.clone();
        if let Some(service) = &detail.incident.service {
            query.push(' ');
            query.push_str(service);
        }
        for alert in detail.alerts.iter().take(5) {
            query.push_str(". ");
            query.push_str(&alert.alert.title);
        }
        let query: String = query.chars().take(MAX_QUERY_LEN / 2).collect();
        let request = SearchRequest {
            query,
            filter: SearchFilter {
                kinds: vec![DocumentKind::Incident],
                exclude_incident: Some(incident),
                ..SearchFilter::default()
            },
            k: Some(20),
        };
        let results = match self.search(org, &request).await {
            Ok(results) => results,
            Err(KnowledgeError::Search(SearchError::EmptyQuery)) => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut seen = HashSet::new();
        Ok(results
            .hits
            .into_iter()
            .filter_map(|hit| {
                let incident_id = hit.incident_id?;
                seen.insert(incident_id).then(|| SimilarIncident {
                    incident_id,
                    document_id: hit.document_id,
                    title: hit.title,
                    snippet: hit.snippet.to_html(),
                    score: hit.score,
                })
            })
            .take(SIMILAR_INCIDENTS)
            .collect())
    }
}

/// The last path segment of an uploaded file's name, without control characters.
fn base_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn clean_tags(tags: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || out.contains(&tag) {
            continue;
        }
        if tag.chars().count() > MAX_TAG_LEN
            || !tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
        {
            return Err(KnowledgeError::Invalid(format!(
                "tag {tag:?} is not valid: use up to {MAX_TAG_LEN} letters, digits and - _ . : /"
            )));
        }
        out.push(tag);
    }
    if out.len() > MAX_TAGS {
        return Err(KnowledgeError::Invalid(format!(
            "at most {MAX_TAGS} tags per document"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_lose_their_folders() {
        assert_eq!(base_name("C:\\docs\\runbook.pdf"), "runbook.pdf");
        assert_eq!(base_name("../../etc/passwd"), "passwd");
        assert_eq!(base_name("a\u{0}b.md"), "ab.md");
    }

    #[test]
    fn tags_are_normalised_and_checked() {
        assert_eq!(
            clean_tags(vec![" Payments ".into(), "payments".into(), "db".into()]).ok(),
            Some(vec!["payments".to_owned(), "db".to_owned()])
        );
        assert!(clean_tags(vec!["two words".into()]).is_err());
    }
}
