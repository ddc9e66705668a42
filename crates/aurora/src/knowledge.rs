//! The knowledge base in this process: the `[knowledge]` settings, the embedding model they
//! choose, and the indexer that turns a stored original into searchable chunks (the
//! `index_document` job, `aurora kb add`, and the memory of finished investigation reports).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::chat::{ChatSession, ServerMessage, transcript};
use aurora_core::events::{DomainEvent, EventBus};
use aurora_core::ids::{DocumentId, IncidentId, InvestigationId, OrgId};
use aurora_core::investigation::Investigation;
use aurora_core::job::{Job, JobError, JobHandler, NewJob};
use aurora_core::knowledge::{
    BlobStore, Document, DocumentFilter, DocumentIndex, DocumentKind, DocumentStatus, Embedder,
    INDEX_DOCUMENT, NewChunk, NewDocument, blob_key,
};
use aurora_core::ports::Store;
use aurora_knowledge::chunk::{ChunkConfig, Chunker, Sizer};
use aurora_knowledge::embed::MiniLm;
use aurora_knowledge::extract::{self, Limits};
use aurora_knowledge::openai::{OpenAiEmbedder, OpenAiOptions};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The folder, under the data directory, `aurora models install` puts the built-in model in.
pub const MODEL_SUBDIR: &str = "models/all-MiniLM-L6-v2";

/// Chunks embedded per call: large enough to batch well, small enough to report progress.
const EMBED_BATCH: usize = 64;

/// `[knowledge]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// `builtin` (all-MiniLM-L6-v2 in-process, installed by `aurora models install`), `openai`
    /// (an OpenAI-compatible embeddings endpoint, `[knowledge.openai]`) or `none` (keyword
    /// search only).
    pub embedding: EmbeddingBackend,
    /// Folder of the built-in model. Unset: `models/all-MiniLM-L6-v2` in the data directory.
    pub model_dir: Option<PathBuf>,
    /// Tokens per chunk. Unset: the model's maximum sequence length (256 for the built-in
    /// model); 500 suits longer-context models.
    pub chunk_tokens: Option<usize>,
    /// Tokens shared by neighbouring chunks. Unset: about 10 % of `chunk_tokens`.
    pub chunk_overlap: Option<usize>,
    /// How long extracting one document's text may take, e.g. `"60s"`.
    #[serde(with = "humantime_serde")]
    pub extract_timeout: Duration,
    pub openai: OpenAiEmbeddingConfig,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            embedding: EmbeddingBackend::Builtin,
            model_dir: None,
            chunk_tokens: None,
            chunk_overlap: None,
            extract_timeout: Duration::from_secs(60),
            openai: OpenAiEmbeddingConfig::default(),
        }
    }
}

impl PartialEq for KnowledgeConfig {
    fn eq(&self, other: &Self) -> bool {
        self.embedding == other.embedding
            && self.model_dir == other.model_dir
            && self.chunk_tokens == other.chunk_tokens
            && self.chunk_overlap == other.chunk_overlap
            && self.extract_timeout == other.extract_timeout
            && self.openai.base_url == other.openai.base_url
            && self.openai.model == other.openai.model
            && self.openai.dimension == other.openai.dimension
            && self.openai.max_tokens == other.openai.max_tokens
    }
}

impl Eq for KnowledgeConfig {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingBackend {
    Builtin,
    Openai,
    None,
}

/// `[knowledge.openai]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiEmbeddingConfig {
    /// Up to the API version, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub model: String,
    /// Best given as `AURORA__KNOWLEDGE__OPENAI__API_KEY`. Never printed.
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// The vector length; learned from the first answer when unset.
    pub dimension: Option<usize>,
    pub max_tokens: usize,
}

impl Default for OpenAiEmbeddingConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            model: "text-embedding-3-small".into(),
            api_key: None,
            dimension: None,
            max_tokens: 512,
        }
    }
}

impl KnowledgeConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(tokens) = self.chunk_tokens
            && !(16..=8192).contains(&tokens)
        {
            problems.push(format!(
                "knowledge.chunk_tokens: {tokens} is out of range; use 16 to 8192 (256 for \
                 all-MiniLM-L6-v2)"
            ));
        }
        if let (Some(overlap), tokens) = (self.chunk_overlap, self.chunk_tokens.unwrap_or(256))
            && overlap >= tokens / 2
        {
            problems.push(format!(
                "knowledge.chunk_overlap: {overlap} must be under half of chunk_tokens ({tokens})"
            ));
        }
        if self.extract_timeout.is_zero() {
            problems.push(
                "knowledge.extract_timeout: must be longer than zero, e.g. \"60s\"".to_owned(),
            );
        }
        if self.embedding == EmbeddingBackend::Openai
            && !(self.openai.base_url.starts_with("http://")
                || self.openai.base_url.starts_with("https://"))
        {
            problems.push(format!(
                "knowledge.openai.base_url: {:?} must start with http:// or https://",
                self.openai.base_url
            ));
        }
        problems
    }

    pub fn model_dir(&self, data_dir: &std::path::Path) -> PathBuf {
        self.model_dir
            .clone()
            .unwrap_or_else(|| data_dir.join(MODEL_SUBDIR))
    }
}

/// The embedding model the settings choose, and the sizer its chunks are measured with.
pub struct EmbeddingSetup {
    pub embedder: Option<Arc<dyn Embedder>>,
    pub sizer: Sizer,
    pub max_tokens: usize,
    /// Why there is no model, for the log and the UI.
    pub note: Option<String>,
}

/// Loads the configured model. A missing built-in model is not an error: search is then
/// keyword-only, and the note says how to install it.
pub fn open_embedder(
    config: &KnowledgeConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<EmbeddingSetup> {
    match config.embedding {
        EmbeddingBackend::None => Ok(EmbeddingSetup {
            embedder: None,
            sizer: Sizer::Chars,
            max_tokens: 256,
            note: Some("knowledge.embedding = \"none\": keyword search only".into()),
        }),
        EmbeddingBackend::Builtin => {
            let dir = config.model_dir(data_dir);
            if !dir.join("model.safetensors").exists() {
                return Ok(EmbeddingSetup {
                    embedder: None,
                    sizer: Sizer::Chars,
                    max_tokens: 256,
                    note: Some(format!(
                        "no embedding model in {}: knowledge search is keyword-only until \
                         `aurora models install` puts all-MiniLM-L6-v2 there",
                        dir.display()
                    )),
                });
            }
            let model = MiniLm::load(&dir)
                .with_context(|| format!("cannot load the embedding model in {}", dir.display()))?;
            let max_tokens = model.max_tokens();
            Ok(EmbeddingSetup {
                sizer: Sizer::Tokens(model.tokenizer()),
                embedder: Some(Arc::new(model)),
                max_tokens,
                note: None,
            })
        }
        EmbeddingBackend::Openai => {
            let mut options =
                OpenAiOptions::new(config.openai.base_url.clone(), config.openai.model.clone());
            options.api_key = config.openai.api_key.clone();
            options.dimension = config.openai.dimension;
            options.max_tokens = config.openai.max_tokens;
            let embedder = OpenAiEmbedder::new(options).context("knowledge.openai")?;
            Ok(EmbeddingSetup {
                embedder: Some(Arc::new(embedder)),
                sizer: Sizer::Chars,
                max_tokens: config.openai.max_tokens,
                note: None,
            })
        }
    }
}

/// Why indexing a document failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The document cannot be indexed as it is; recorded on it as `failed`.
    #[error("{0}")]
    Unindexable(String),
    /// A passing failure (store, blob store or embedding service): worth another try.
    #[error("{0}")]
    Unavailable(String),
    #[error("document no longer exists")]
    Gone,
}

/// Extracts, chunks, embeds and stores documents.
pub struct Indexer {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    embedder: Option<Arc<dyn Embedder>>,
    chunker: Arc<Chunker>,
    events: Arc<dyn EventBus>,
    limits: Limits,
}

impl Indexer {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        setup: &EmbeddingSetup,
        config: &KnowledgeConfig,
        events: Arc<dyn EventBus>,
    ) -> Self {
        let mut chunks = ChunkConfig::for_model(config.chunk_tokens.unwrap_or(setup.max_tokens));
        if let Some(overlap) = config.chunk_overlap {
            chunks.overlap_tokens = overlap;
        }
        Self {
            store,
            blobs,
            embedder: setup.embedder.clone(),
            chunker: Arc::new(Chunker::new(setup.sizer.clone(), chunks)),
            events,
            limits: Limits {
                timeout: config.extract_timeout,
                ..Limits::default()
            },
        }
    }

    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.embedder.as_ref()
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Indexes the document; `progress` hears (chunks embedded, chunks). A document that
    /// cannot be indexed is marked failed with the reason, and that is an [`IndexError`] too.
    pub async fn index(
        &self,
        org: OrgId,
        id: DocumentId,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Document, IndexError> {
        let document = match self.store.get_document(org, id).await {
            Ok(document) => document,
            Err(StoreError::NotFound(_)) => return Err(IndexError::Gone),
            Err(err) => return Err(IndexError::Unavailable(err.to_string())),
        };
        let result = self.build_index(&document, progress).await;
        let outcome = match result {
            Ok(index) => match self.store.index_document(org, id, &index).await {
                Ok(document) => Ok(document),
                Err(StoreError::NotFound(_)) => Err(IndexError::Gone),
                Err(err) => Err(IndexError::Unavailable(err.to_string())),
            },
            Err(IndexError::Unindexable(reason)) => {
                tracing::info!(document = %id, %reason, "document cannot be indexed");
                self.store
                    .set_document_status(org, id, DocumentStatus::Failed, Some(&reason))
                    .await
                    .map_err(|err| IndexError::Unavailable(err.to_string()))?;
                Err(IndexError::Unindexable(reason))
            }
            Err(other) => Err(other),
        };
        self.events
            .publish(org, DomainEvent::DocumentUpdated { document: id })
            .await;
        outcome
    }

    async fn build_index(
        &self,
        document: &Document,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<DocumentIndex, IndexError> {
        let bytes = self
            .blobs
            .get(&document.blob_key)
            .await
            .map_err(|err| IndexError::Unavailable(err.to_string()))?;
        let filename = document.filename.clone();
        let limits = self.limits.clone();
        let chunker = self.chunker.clone();
        let (extracted, chunks) = tokio::task::spawn_blocking(move || {
            let extracted = extract::extract(&bytes, filename.as_deref(), &limits)?;
            let chunks = chunker.chunk(&extracted);
            Ok::<_, extract::ExtractError>((extracted, chunks))
        })
        .await
        .map_err(|err| IndexError::Unindexable(format!("text extraction failed: {err}")))?
        .map_err(|err| IndexError::Unindexable(err.to_string()))?;
        if chunks.is_empty() {
            return Err(IndexError::Unindexable(
                "the document has no text to index (a scanned PDF needs OCR first)".into(),
            ));
        }
        let total = chunks.len();
        progress(0, total);
        let embeddings: Vec<Option<Vec<f32>>> = match &self.embedder {
            Some(embedder) => {
                let mut out = Vec::with_capacity(total);
                for batch in chunks.chunks(EMBED_BATCH) {
                    let inputs: Vec<String> = batch.iter().map(|c| c.embedding_input()).collect();
                    let vectors = embedder
                        .embed(&inputs)
                        .await
                        .map_err(|err| IndexError::Unavailable(err.to_string()))?;
                    out.extend(vectors.into_iter().map(Some));
                    progress(out.len(), total);
                }
                out
            }
            None => vec![None; total],
        };
        Ok(DocumentIndex {
            format: extracted.format.as_str().to_owned(),
            title: extracted.title.filter(|t| !t.trim().is_empty()),
            embedding_model: self.embedder.as_ref().map(|e| e.model().to_owned()),
            chunks: chunks
                .into_iter()
                .zip(embeddings)
                .map(|(chunk, embedding)| NewChunk {
                    ordinal: chunk.ordinal,
                    context: chunk.context,
                    text: chunk.text,
                    embedding,
                })
                .collect(),
        })
    }

    /// Adds a finished investigation's report to the knowledge base (kind `incident`), so later
    /// incidents find it. Queued for indexing like an upload.
    pub async fn remember_report(
        &self,
        investigation: &Investigation,
    ) -> Result<Option<Document>, IndexError> {
        let Some(report) = &investigation.report else {
            return Ok(None);
        };
        let org = investigation.org_id;
        let title = match investigation.incident_id {
            Some(incident) => match self.store.get_incident(org, incident).await {
                Ok(detail) => format!("Incident: {}", detail.incident.title),
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(err) => return Err(IndexError::Unavailable(err.to_string())),
            },
            None => "Investigation report".to_owned(),
        };
        let markdown = format!("# {title}\n\n{}", report.to_markdown());
        self.remember(
            org,
            Generated {
                title,
                kind: DocumentKind::Incident,
                filename: format!("report-{}.md", investigation.id),
                markdown,
                incident: investigation.incident_id,
                investigation: investigation.id,
            },
        )
        .await
    }

    /// Adds a chat conversation to the knowledge base (kind `chat`), replacing the version an
    /// earlier turn of the same session added, so that later questions and investigations
    /// find what was asked and answered.
    pub async fn remember_chat(
        &self,
        session: &ChatSession,
    ) -> Result<Option<Document>, IndexError> {
        let org = session.org_id;
        let unavailable = |err: StoreError| IndexError::Unavailable(err.to_string());
        let steps = self
            .store
            .list_steps(org, session.investigation_id, None)
            .await
            .map_err(unavailable)?;
        let answered = steps.iter().any(|s| {
            matches!(
                ServerMessage::from_step(s),
                Some(ServerMessage::Assistant { ref content, .. }) if !content.trim().is_empty()
            )
        });
        if !answered {
            return Ok(None);
        }
        let earlier: Vec<Document> = self
            .store
            .list_documents(
                org,
                &DocumentFilter {
                    kind: Some(DocumentKind::Chat),
                    limit: Some(1000),
                    ..DocumentFilter::default()
                },
            )
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|d| d.investigation_id == Some(session.investigation_id))
            .collect();
        let added = self
            .remember(
                org,
                Generated {
                    title: format!("Chat: {}", session.title),
                    kind: DocumentKind::Chat,
                    filename: format!("chat-{}.md", session.id),
                    markdown: transcript(session, &steps),
                    incident: session.incident_id,
                    investigation: session.investigation_id,
                },
            )
            .await?;
        for old in earlier {
            if added.as_ref().is_some_and(|d| d.id == old.id) {
                continue;
            }
            let deleted = self.store.delete_document(org, old.id).await;
            match deleted {
                Ok(doc) => {
                    if let Err(err) = self.blobs.delete(&doc.blob_key).await {
                        tracing::warn!(%err, "cannot delete an earlier version of a conversation's original");
                    }
                }
                Err(StoreError::NotFound(_)) => {}
                Err(err) => return Err(unavailable(err)),
            }
        }
        Ok(added)
    }

    /// Stores a document Aurora wrote (its original, its record) and queues its indexing; an
    /// identical one already stored is returned instead.
    async fn remember(&self, org: OrgId, doc: Generated) -> Result<Option<Document>, IndexError> {
        let Generated {
            title,
            kind,
            filename,
            markdown,
            incident,
            investigation,
        } = doc;
        let bytes = markdown.into_bytes();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(existing) = self
            .store
            .find_document_by_hash(org, &sha256)
            .await
            .map_err(|err| IndexError::Unavailable(err.to_string()))?
        {
            return Ok(Some(existing));
        }
        let key = blob_key(org, &sha256);
        let size = bytes.len() as u64;
        self.blobs
            .put(&key, bytes)
            .await
            .map_err(|err| IndexError::Unavailable(err.to_string()))?;
        let document = match self
            .store
            .create_document(
                org,
                &NewDocument {
                    title,
                    kind,
                    filename: Some(filename),
                    size_bytes: size,
                    sha256: sha256.clone(),
                    blob_key: key,
                    tags: Vec::new(),
                    incident_id: incident,
                    investigation_id: Some(investigation),
                },
            )
            .await
        {
            Ok(document) => document,
            Err(StoreError::Conflict(_)) => {
                return self
                    .store
                    .find_document_by_hash(org, &sha256)
                    .await
                    .map_err(|err| IndexError::Unavailable(err.to_string()));
            }
            Err(err) => return Err(IndexError::Unavailable(err.to_string())),
        };
        self.store
            .enqueue(
                org,
                NewJob {
                    kind: INDEX_DOCUMENT.to_owned(),
                    payload: serde_json::json!({ "document_id": document.id }),
                    run_at: OffsetDateTime::now_utc(),
                },
            )
            .await
            .map_err(|err| IndexError::Unavailable(err.to_string()))?;
        self.events
            .publish(
                org,
                DomainEvent::DocumentUpdated {
                    document: document.id,
                },
            )
            .await;
        Ok(Some(document))
    }
}

/// A document Aurora wrote, to remember.
struct Generated {
    title: String,
    kind: DocumentKind,
    filename: String,
    markdown: String,
    incident: Option<IncidentId>,
    investigation: InvestigationId,
}

#[derive(Deserialize)]
struct Payload {
    document_id: DocumentId,
}

/// Runs `index_document` jobs.
pub struct IndexDocumentJob {
    indexer: Arc<Indexer>,
}

impl IndexDocumentJob {
    pub fn new(indexer: Arc<Indexer>) -> Self {
        Self { indexer }
    }
}

#[async_trait]
impl JobHandler for IndexDocumentJob {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let payload: Payload = serde_json::from_value(job.payload.clone()).map_err(|e| {
            JobError::Permanent(format!("index_document job payload is not understood: {e}"))
        })?;
        match self
            .indexer
            .index(job.org_id, payload.document_id, &|_, _| {})
            .await
        {
            Ok(_) | Err(IndexError::Gone) => Ok(()),
            // Recorded on the document; trying again would fail the same way.
            Err(IndexError::Unindexable(_)) => Ok(()),
            Err(IndexError::Unavailable(reason)) => Err(JobError::Retryable(reason)),
        }
    }
}
