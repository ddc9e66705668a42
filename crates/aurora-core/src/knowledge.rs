//! The knowledge base: documents (uploaded runbooks and postmortems, finished investigation
//! reports, conversations), their chunks, and hybrid search over them.
//!
//! Search runs two rankings in the store — nearest vectors and full-text keywords — and fuses
//! them here with reciprocal rank fusion, so every backend ranks the same way. Without an
//! embedding model the keyword ranking alone answers, and the result says so.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{DocumentId, IncidentId, InvestigationId, OrgId};

/// The job kind that extracts, chunks, embeds and indexes a document; payload
/// `{"document_id": "<id>"}`.
pub const INDEX_DOCUMENT: &str = "index_document";

/// The largest original a user may upload.
pub const MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

/// What a document is; search can be narrowed to some kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Runbook,
    Postmortem,
    Architecture,
    /// Any other reference material; the default for uploads.
    Reference,
    /// A finished investigation report.
    Incident,
    /// A chat conversation.
    Chat,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 6] = [
        DocumentKind::Runbook,
        DocumentKind::Postmortem,
        DocumentKind::Architecture,
        DocumentKind::Reference,
        DocumentKind::Incident,
        DocumentKind::Chat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Runbook => "runbook",
            DocumentKind::Postmortem => "postmortem",
            DocumentKind::Architecture => "architecture",
            DocumentKind::Reference => "reference",
            DocumentKind::Incident => "incident",
            DocumentKind::Chat => "chat",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown document kind {s:?}: use one of runbook, postmortem, architecture, \
                     reference, incident, chat"
                )
            })
    }
}

/// Where a document is in its indexing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Stored; text extraction, chunking and embedding are queued or running.
    Processing,
    /// Searchable.
    Indexed,
    /// Could not be indexed; `error` says why.
    Failed,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Processing => "processing",
            DocumentStatus::Indexed => "indexed",
            DocumentStatus::Failed => "failed",
        }
    }
}

impl FromStr for DocumentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "processing" => Ok(DocumentStatus::Processing),
            "indexed" => Ok(DocumentStatus::Indexed),
            "failed" => Ok(DocumentStatus::Failed),
            other => Err(format!("unknown document status {other:?}")),
        }
    }
}

/// A document of the knowledge base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: DocumentId,
    pub org_id: OrgId,
    pub title: String,
    pub kind: DocumentKind,
    /// The uploaded file's name, when it was an upload.
    pub filename: Option<String>,
    /// The detected format (`pdf`, `docx`, `markdown`, `html`, `text`), once known.
    pub format: Option<String>,
    pub size_bytes: u64,
    /// Hex SHA-256 of the original: an identical re-upload is recognised by it.
    pub sha256: String,
    /// Key of the original in the blob store.
    pub blob_key: String,
    pub tags: Vec<String>,
    pub status: DocumentStatus,
    /// Why indexing failed, in words a person can act on.
    pub error: Option<String>,
    pub chunk_count: u32,
    /// The embedding model the chunks' vectors came from; `None` when indexed keyword-only.
    pub embedding_model: Option<String>,
    /// The incident a report or conversation belongs to.
    pub incident_id: Option<IncidentId>,
    pub investigation_id: Option<InvestigationId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub indexed_at: Option<OffsetDateTime>,
}

/// A document to record; its original is already in the blob store under `blob_key`.
#[derive(Clone, Debug)]
pub struct NewDocument {
    pub title: String,
    pub kind: DocumentKind,
    pub filename: Option<String>,
    pub size_bytes: u64,
    pub sha256: String,
    pub blob_key: String,
    pub tags: Vec<String>,
    pub incident_id: Option<IncidentId>,
    pub investigation_id: Option<InvestigationId>,
}

/// Which documents to list.
#[derive(Clone, Debug, Default)]
pub struct DocumentFilter {
    pub kind: Option<DocumentKind>,
    pub status: Option<DocumentStatus>,
    pub incident: Option<IncidentId>,
    pub limit: Option<u32>,
}

/// One chunk to store, with its vector when a model embedded it.
#[derive(Clone, Debug)]
pub struct NewChunk {
    pub ordinal: u32,
    /// Headings above the chunk ("Payments › Failover"), shown with it and searched with it.
    pub context: String,
    pub text: String,
    pub embedding: Option<Vec<f32>>,
}

/// The indexed content of a document.
#[derive(Clone, Debug)]
pub struct DocumentIndex {
    pub format: String,
    /// Replaces the title when the text names a better one (a Markdown `# heading`, a PDF title).
    pub title: Option<String>,
    pub embedding_model: Option<String>,
    pub chunks: Vec<NewChunk>,
}

/// What search may return.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    #[serde(default)]
    pub kinds: Vec<DocumentKind>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub documents: Vec<DocumentId>,
    /// Leave out the documents of this incident (similar-incident search skips the incident
    /// itself).
    #[serde(default)]
    pub exclude_incident: Option<IncidentId>,
}

impl SearchFilter {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
            && self.tags.is_empty()
            && self.documents.is_empty()
            && self.exclude_incident.is_none()
    }
}

/// A chunk found by one ranking.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkHit {
    pub chunk_id: i64,
    pub document_id: DocumentId,
    pub title: String,
    pub kind: DocumentKind,
    pub incident_id: Option<IncidentId>,
    pub ordinal: u32,
    pub context: String,
    pub text: String,
}

/// Nearest chunks to a vector, by cosine distance, among chunks embedded by `model`.
#[derive(Clone, Debug)]
pub struct VectorQuery<'a> {
    pub embedding: &'a [f32],
    pub model: &'a str,
    pub k: usize,
    pub filter: &'a SearchFilter,
}

/// Chunks matching any of the terms, best full-text rank first.
#[derive(Clone, Debug)]
pub struct KeywordQuery<'a> {
    pub terms: &'a [String],
    pub k: usize,
    pub filter: &'a SearchFilter,
}

/// Documents, chunks and the two rankings.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the organisation already has a document with
    /// the same SHA-256.
    async fn create_document(&self, org: OrgId, doc: &NewDocument) -> Result<Document, StoreError>;
    async fn find_document_by_hash(
        &self,
        org: OrgId,
        sha256: &str,
    ) -> Result<Option<Document>, StoreError>;
    async fn get_document(&self, org: OrgId, id: DocumentId) -> Result<Document, StoreError>;
    /// Newest first.
    async fn list_documents(
        &self,
        org: OrgId,
        filter: &DocumentFilter,
    ) -> Result<Vec<Document>, StoreError>;
    /// Marks a document processing again (re-index) or failed with a reason.
    async fn set_document_status(
        &self,
        org: OrgId,
        id: DocumentId,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Replaces the document's chunks and vectors with `index` and marks it indexed, in one
    /// transaction.
    async fn index_document(
        &self,
        org: OrgId,
        id: DocumentId,
        index: &DocumentIndex,
    ) -> Result<Document, StoreError>;
    /// Deletes the document with its chunks and vectors; returns it so the caller can remove
    /// the original from the blob store.
    async fn delete_document(&self, org: OrgId, id: DocumentId) -> Result<Document, StoreError>;
    async fn vector_search(
        &self,
        org: OrgId,
        query: &VectorQuery<'_>,
    ) -> Result<Vec<ChunkHit>, StoreError>;
    async fn keyword_search(
        &self,
        org: OrgId,
        query: &KeywordQuery<'_>,
    ) -> Result<Vec<ChunkHit>, StoreError>;
}

/// Errors of the blob store.
#[derive(Debug, Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(String),
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// Originals of uploaded documents: local disk or any S3-compatible store.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// `local` or `s3`.
    fn backend(&self) -> &'static str;
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError>;
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError>;
    /// Deleting a missing blob succeeds.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
}

/// The blob key of an organisation's original with this hash.
pub fn blob_key(org: OrgId, sha256: &str) -> String {
    format!("documents/{org}/{sha256}")
}

/// Errors of an embedding model.
#[derive(Debug, Error)]
pub enum EmbedError {
    #[error("embedding model: {0}")]
    Model(String),
    #[error("embedding service unavailable: {0}")]
    Unavailable(String),
}

/// Turns text into unit-length vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name, recorded with every vector it made.
    fn model(&self) -> &str;
    fn dimension(&self) -> usize;
    /// The longest input, in the model's tokens, it reads whole; chunks are sized to it.
    fn max_tokens(&self) -> usize;
    /// One vector per text, in order, each of length [`Embedder::dimension`] and L2 norm 1.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Errors of search.
#[derive(Debug, Error)]
pub enum SearchError {
    #[error("the query has no words to search for")]
    EmptyQuery,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// A question to the knowledge base.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default)]
    pub filter: SearchFilter,
    /// How many results; 1 to [`MAX_SEARCH_RESULTS`], 10 by default.
    #[serde(default)]
    pub k: Option<usize>,
}

pub const MAX_SEARCH_RESULTS: usize = 50;

/// How a search was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    Hybrid,
    /// No embedding model is configured: full-text ranking only.
    KeywordOnly,
}

/// A fused result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub document_id: DocumentId,
    pub title: String,
    pub kind: DocumentKind,
    pub incident_id: Option<IncidentId>,
    pub chunk_id: i64,
    pub ordinal: u32,
    pub context: String,
    pub text: String,
    pub snippet: Snippet,
    /// Reciprocal-rank-fusion score: higher is better.
    pub score: f64,
    /// 1-based rank in the vector ranking, when it was there.
    pub vector_rank: Option<usize>,
    /// 1-based rank in the keyword ranking, when it was there.
    pub keyword_rank: Option<usize>,
}

/// Search results and how they were found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub mode: SearchMode,
    pub hits: Vec<SearchHit>,
}

/// The constant of reciprocal rank fusion (Cormack et al.): a rank r scores 1 / (K + r).
pub const RRF_K: f64 = 60.0;

/// Searches with both rankings (or keywords alone without an embedder) and fuses them.
pub async fn hybrid_search(
    store: &dyn KnowledgeStore,
    embedder: Option<&dyn Embedder>,
    org: OrgId,
    request: &SearchRequest,
) -> Result<SearchResults, SearchError> {
    let k = request.k.unwrap_or(10).clamp(1, MAX_SEARCH_RESULTS);
    let terms = query_terms(&request.query);
    let has_text = request.query.chars().any(char::is_alphanumeric);
    if !has_text {
        return Err(SearchError::EmptyQuery);
    }
    // Each ranking contributes more candidates than are returned, so fusion can promote a
    // chunk that only one of them ranks highly.
    let depth = (k * 4).max(40);
    let keyword = async {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        store
            .keyword_search(
                org,
                &KeywordQuery {
                    terms: &terms,
                    k: depth,
                    filter: &request.filter,
                },
            )
            .await
            .map_err(SearchError::from)
    };
    let vector = async {
        let Some(embedder) = embedder else {
            return Ok((SearchMode::KeywordOnly, Vec::new()));
        };
        let embedding = embedder
            .embed(std::slice::from_ref(&request.query))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| EmbedError::Model("no vector returned for the query".into()))?;
        let hits = store
            .vector_search(
                org,
                &VectorQuery {
                    embedding: &embedding,
                    model: embedder.model(),
                    k: depth,
                    filter: &request.filter,
                },
            )
            .await?;
        Ok::<_, SearchError>((SearchMode::Hybrid, hits))
    };
    // The two rankings run side by side: the query's embedding and the vector search need not
    // wait for the keyword search.
    let (keyword, vector) = futures::join!(keyword, vector);
    let (keyword, (mode, vector)) = (keyword?, vector?);
    Ok(SearchResults {
        mode,
        hits: fuse(vector, keyword, &terms, k),
    })
}

/// Reciprocal rank fusion of the two rankings, best first, with snippets around `terms`.
pub fn fuse(
    vector: Vec<ChunkHit>,
    keyword: Vec<ChunkHit>,
    terms: &[String],
    k: usize,
) -> Vec<SearchHit> {
    struct Entry {
        hit: ChunkHit,
        score: f64,
        vector_rank: Option<usize>,
        keyword_rank: Option<usize>,
    }
    let mut by_chunk: HashMap<i64, Entry> = HashMap::new();
    for (i, hit) in vector.into_iter().enumerate() {
        let rank = i + 1;
        by_chunk.entry(hit.chunk_id).or_insert(Entry {
            hit,
            score: 1.0 / (RRF_K + rank as f64),
            vector_rank: Some(rank),
            keyword_rank: None,
        });
    }
    for (i, hit) in keyword.into_iter().enumerate() {
        let rank = i + 1;
        let add = 1.0 / (RRF_K + rank as f64);
        match by_chunk.get_mut(&hit.chunk_id) {
            Some(entry) if entry.keyword_rank.is_none() => {
                entry.score += add;
                entry.keyword_rank = Some(rank);
            }
            Some(_) => {}
            None => {
                by_chunk.insert(
                    hit.chunk_id,
                    Entry {
                        hit,
                        score: add,
                        vector_rank: None,
                        keyword_rank: Some(rank),
                    },
                );
            }
        }
    }
    let mut entries: Vec<Entry> = by_chunk.into_values().collect();
    entries.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.hit.chunk_id.cmp(&b.hit.chunk_id))
    });
    entries.truncate(k);
    entries
        .into_iter()
        .map(|e| SearchHit {
            snippet: snippet(&e.hit.text, terms, SNIPPET_CHARS),
            document_id: e.hit.document_id,
            title: e.hit.title,
            kind: e.hit.kind,
            incident_id: e.hit.incident_id,
            chunk_id: e.hit.chunk_id,
            ordinal: e.hit.ordinal,
            context: e.hit.context,
            text: e.hit.text,
            score: e.score,
            vector_rank: e.vector_rank,
            keyword_rank: e.keyword_rank,
        })
        .collect()
}

/// Words too common to rank by.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "but", "by", "can", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if",
    "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "should",
    "so", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your",
];

/// Whether a lower-cased word is too common to rank by.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word)
}

/// The distinct, lower-cased words of a query worth matching: letters and digits only (no
/// query syntax reaches a full-text engine), stopwords left out, at most 32.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if is_stopword(&word) || terms.contains(&word) {
            continue;
        }
        terms.push(word);
        if terms.len() == 32 {
            break;
        }
    }
    terms
}

/// Characters of text a snippet shows.
pub const SNIPPET_CHARS: usize = 240;

/// A passage of a chunk with the query's terms marked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    pub text: String,
    /// Byte ranges of `text` that matched a term, in order, not overlapping.
    pub highlights: Vec<(usize, usize)>,
}

impl Snippet {
    /// The snippet as HTML: text escaped, matches in `<mark>`.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + self.highlights.len() * 13);
        let mut at = 0;
        for &(start, end) in &self.highlights {
            escape_into(&mut out, &self.text[at..start]);
            out.push_str("<mark>");
            escape_into(&mut out, &self.text[start..end]);
            out.push_str("</mark>");
            at = end;
        }
        escape_into(&mut out, &self.text[at..]);
        out
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The passage of about `max_chars` characters around the first place a term matches (a word
/// starting with the term, case-insensitively), with every match in it marked.
pub fn snippet(text: &str, terms: &[String], max_chars: usize) -> Snippet {
    let words = word_spans(text);
    let matches: Vec<(usize, usize)> = words
        .iter()
        .copied()
        .filter(|&(s, e)| {
            let word = text[s..e].to_lowercase();
            terms.iter().any(|t| word.starts_with(t.as_str()))
        })
        .collect();
    // Start a little before the first match, on a character boundary.
    let first = matches.first().map_or(0, |m| m.0);
    let lead = max_chars / 4;
    let mut start = text[..first]
        .char_indices()
        .rev()
        .nth(lead)
        .map_or(0, |(i, _)| i);
    // Prefer to begin at a word.
    if start > 0
        && let Some(&(s, _)) = words.iter().find(|&&(s, _)| s >= start)
    {
        start = s.min(first);
    }
    let end = text[start..]
        .char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(i, _)| start + i);
    // End at a word boundary when one is near.
    let end = if end < text.len() {
        words
            .iter()
            .rev()
            .find(|&&(_, e)| e <= end && e > start)
            .map_or(end, |&(_, e)| e)
    } else {
        end
    };
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if end < text.len() { "…" } else { "" };
    let body = &text[start..end];
    let mut out = String::with_capacity(body.len() + 8);
    out.push_str(prefix);
    let offset = out.len();
    out.push_str(body);
    out.push_str(suffix);
    let highlights = matches
        .into_iter()
        .filter(|&(s, e)| s >= start && e <= end)
        .map(|(s, e)| (s - start + offset, e - start + offset))
        .collect();
    Snippet {
        text: out,
        highlights,
    }
}

/// Byte spans of the alphanumeric words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64) -> ChunkHit {
        ChunkHit {
            chunk_id: id,
            document_id: DocumentId::new(),
            title: format!("doc {id}"),
            kind: DocumentKind::Runbook,
            incident_id: None,
            ordinal: 0,
            context: String::new(),
            text: format!("chunk {id}"),
        }
    }

    #[test]
    fn fusion_rewards_agreement_between_rankings() {
        // Chunk 3 is second in both rankings; 1 and 5 are first in only one.
        let vector = vec![hit(1), hit(3), hit(4)];
        let keyword = vec![hit(5), hit(3), hit(6)];
        let fused = fuse(vector, keyword, &[], 10);
        let ids: Vec<i64> = fused.iter().map(|h| h.chunk_id).collect();
        assert_eq!(ids[0], 3, "{ids:?}");
        assert_eq!(fused[0].vector_rank, Some(2));
        assert_eq!(fused[0].keyword_rank, Some(2));
        assert_eq!(ids.len(), 5);
        let top = &fused[0];
        assert!((top.score - 2.0 / 62.0).abs() < 1e-12);
    }

    #[test]
    fn fusion_truncates_to_k() {
        let fused = fuse((0..20).map(hit).collect(), Vec::new(), &[], 3);
        assert_eq!(
            fused.iter().map(|h| h.chunk_id).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn query_terms_drop_syntax_and_stopwords() {
        assert_eq!(
            query_terms("How do I fail over the PAYMENTS db? \"NEAR\" (x) OR *"),
            ["fail", "over", "payments", "db", "near", "x"]
        );
        assert!(query_terms("  -- () ").is_empty());
    }

    #[test]
    fn snippet_marks_terms_and_escapes_html() {
        let text = "Restart <the> payment-service pods; payments recover after restart.";
        let s = snippet(text, &["payment".into(), "restart".into()], 240);
        let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
        assert_eq!(marked, ["Restart", "payment", "payments", "restart"]);
        assert_eq!(
            s.to_html(),
            "<mark>Restart</mark> &lt;the&gt; <mark>payment</mark>-service pods; \
             <mark>payments</mark> recover after <mark>restart</mark>."
        );
    }

    #[test]
    fn snippet_centres_on_a_late_match() {
        let text = format!(
            "{} the failover procedure starts here",
            "filler ".repeat(200)
        );
        let s = snippet(&text, &["failover".into()], 80);
        assert!(s.text.starts_with('…'), "{}", s.text);
        assert!(s.text.contains("failover"));
        assert_eq!(s.highlights.len(), 1);
        assert!(s.text.chars().count() <= 84, "{}", s.text);
    }

    #[test]
    fn snippet_handles_multibyte_text() {
        let text = "Überlastung im Zahlungsdienst — Neustart hilft. ".repeat(20);
        let s = snippet(&text, &["neustart".into()], 50);
        assert!(s.to_html().contains("<mark>Neustart</mark>"));
    }

    #[test]
    fn kinds_round_trip() {
        for kind in DocumentKind::ALL {
            assert_eq!(kind.as_str().parse::<DocumentKind>(), Ok(kind));
        }
        assert!("wiki".parse::<DocumentKind>().is_err());
    }
}
