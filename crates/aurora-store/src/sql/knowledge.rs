//! The knowledge base on the SQL store. Documents, chunks and the keyword index
//! (`keyword_index`) are portable SQL; vector search uses each backend's own engine: sign bits
//! in memory (`sign_index`) with sqlite-vec's cosine distance on SQLite, pgvector (HNSW) on
//! PostgreSQL. Vectors of each dimension get their own table, made on first use.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::ids::{DocumentId, OrgId};
use aurora_core::knowledge::{
    ChunkHit, Document, DocumentFilter, DocumentIndex, DocumentStatus, KeywordQuery,
    KnowledgeStore, NewDocument, SearchFilter, VectorQuery,
};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};
use time::OffsetDateTime;

use super::keyword_index::{self, KeywordChanges};
use super::sign_index::{SignIndex, VectorChanges, sign_bytes};
use super::signals::{json_column, opt_parse, opt_text, opt_time, stored, text, time_at, to_json};
use super::{Backend, SqlStore, conflict_or, db_error, parse_column, to_millis};

macro_rules! document_columns {
    () => {
        "d.id, d.org_id, d.title, d.kind, d.filename, d.format, d.size_bytes, d.sha256, \
         d.blob_key, d.tags, d.status, d.error, d.chunk_count, d.embedding_model, d.incident_id, \
         d.investigation_id, d.created_at, d.indexed_at"
    };
}

macro_rules! hit_columns {
    () => {
        "c.id AS chunk_id, c.document_id, d.title, d.kind, d.incident_id, c.ordinal, c.context, \
         c.text"
    };
}

/// Rows per multi-row insert: 5 parameters each, within the 200-parameter statements that keep
/// SQLite's by-name binding cheap.
const CHUNK_ROWS_PER_INSERT: usize = 40;

/// Candidates from the sign-bit scan per result wanted, and at least this many: enough for the
/// cosine re-ranking to find the true nearest (see `bench_search` for the recall). At most
/// `SQLITE_MAX_CANDIDATES`, whose full vectors (1.5 KB each at 384 dimensions) the re-ranking
/// reads.
const SQLITE_CANDIDATES_PER_RESULT: usize = 10;
const SQLITE_MIN_CANDIDATES: usize = 200;
const SQLITE_MAX_CANDIDATES: usize = 4096;

/// Keyword results ranked beyond the k asked for, in case some belong to documents that are
/// being re-indexed (their chunks are hidden until they are indexed again).
const KEYWORD_SPARE: usize = 16;

/// Ranked chunk ids looked up by the first query of `hits_by_ids`, and the most by any one.
const HITS_FIRST_PAGE: usize = 150;
const HITS_MAX_PAGE: usize = 10_000;

/// Rows of `chunk_signs` per page when loading them into memory.
const SIGN_LOAD_PAGE: usize = 16_384;

/// The widest vector accepted (OpenAI's largest embeddings have 3,072 dimensions).
const MAX_DIMENSION: usize = 4096;

fn document_from_row(row: &AnyRow) -> Result<Document, StoreError> {
    Ok(Document {
        id: parse_column(&text(row, "id")?, "document id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        title: text(row, "title")?,
        kind: parse_column(&text(row, "kind")?, "document kind")?,
        filename: opt_text(row, "filename")?,
        format: opt_text(row, "format")?,
        size_bytes: u64::try_from(int(row, "size_bytes")?).unwrap_or(0),
        sha256: text(row, "sha256")?,
        blob_key: text(row, "blob_key")?,
        tags: json_column(row, "tags")?,
        status: parse_column(&text(row, "status")?, "document status")?,
        error: opt_text(row, "error")?,
        chunk_count: u32::try_from(int(row, "chunk_count")?).unwrap_or(0),
        embedding_model: opt_text(row, "embedding_model")?,
        incident_id: opt_parse(row, "incident_id", "incident id")?,
        investigation_id: opt_parse(row, "investigation_id", "investigation id")?,
        created_at: time_at(row, "created_at")?,
        indexed_at: opt_time(row, "indexed_at")?,
    })
}

fn hit_from_row(row: &AnyRow) -> Result<ChunkHit, StoreError> {
    Ok(ChunkHit {
        chunk_id: int(row, "chunk_id")?,
        document_id: parse_column(&text(row, "document_id")?, "document id")?,
        title: text(row, "title")?,
        kind: parse_column(&text(row, "kind")?, "document kind")?,
        incident_id: opt_parse(row, "incident_id", "incident id")?,
        ordinal: u32::try_from(int(row, "ordinal")?).unwrap_or(0),
        context: text(row, "context")?,
        text: text(row, "text")?,
    })
}

fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col).map_err(db_error)
}

fn vector_table(dim: usize) -> Result<String, StoreError> {
    if dim == 0 || dim > MAX_DIMENSION {
        return Err(StoreError::Conflict(format!(
            "an embedding of {dim} dimensions cannot be stored: use a model with 1 to \
             {MAX_DIMENSION}"
        )));
    }
    Ok(format!("chunk_vectors_{dim}"))
}

/// A vector as sqlite-vec's compact form: little-endian `f32`s.
fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector as pgvector's text form, `[0.1,0.2]`.
fn vector_text(v: &[f32]) -> String {
    let mut out = String::with_capacity(v.len() * 12 + 2);
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Non-finite values cannot be stored; a model never produces them after normalisation.
        let x = if x.is_finite() { *x } else { 0.0 };
        out.push_str(&x.to_string());
    }
    out.push(']');
    out
}

/// SQL conditions (on `d` for documents and `c` for chunks) for `filter`, with their values,
/// numbered from `$first`.
fn filter_sql(backend: Backend, filter: &SearchFilter, first: usize) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let mut next = first;
    let mut placeholders = |values: &[String], binds: &mut Vec<String>| {
        let list: Vec<String> = values
            .iter()
            .map(|value| {
                binds.push(value.clone());
                let p = format!("${next}");
                next += 1;
                p
            })
            .collect();
        list.join(", ")
    };
    if !filter.kinds.is_empty() {
        let kinds: Vec<String> = filter.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        sql.push_str(&format!(
            " AND d.kind IN ({})",
            placeholders(&kinds, &mut binds)
        ));
    }
    if !filter.documents.is_empty() {
        let ids: Vec<String> = filter.documents.iter().map(ToString::to_string).collect();
        sql.push_str(&format!(
            " AND d.id IN ({})",
            placeholders(&ids, &mut binds)
        ));
    }
    if !filter.tags.is_empty() {
        let list = placeholders(&filter.tags, &mut binds);
        match backend {
            Backend::Sqlite => sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM json_each(d.tags) t WHERE t.value IN ({list}))"
            )),
            Backend::Postgres => sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(d.tags::jsonb) t \
                 WHERE t IN ({list}))"
            )),
        }
    }
    if let Some(incident) = filter.exclude_incident {
        let list = placeholders(&[incident.to_string()], &mut binds);
        sql.push_str(&format!(
            " AND (d.incident_id IS NULL OR d.incident_id <> {list})"
        ));
    }
    (sql, binds)
}

impl SqlStore {
    /// Makes the vector table of this dimension if it is missing.
    async fn ensure_vector_table(
        &self,
        tx: &mut Transaction<'static, Any>,
        dim: usize,
    ) -> Result<String, StoreError> {
        let table = vector_table(dim)?;
        match self.kind() {
            Backend::Sqlite => {
                if !dim.is_multiple_of(8) {
                    return Err(StoreError::Conflict(format!(
                        "an embedding of {dim} dimensions cannot be indexed on SQLite: use a \
                         model whose dimension is a multiple of 8"
                    )));
                }
                // The vectors themselves; their sign bits go to `chunk_signs`: search scans
                // the bits (Hamming distance, 32 times less than the floats) in memory for
                // candidates, then ranks those by cosine distance of the full vectors.
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE TABLE IF NOT EXISTS {table} (\
                     chunk_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
                )))
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                self.convert_legacy_bits(tx, dim).await?;
            }
            Backend::Postgres => {
                let statements = [
                    "CREATE EXTENSION IF NOT EXISTS vector".to_owned(),
                    format!(
                        "CREATE TABLE IF NOT EXISTS {table} (\
                         chunk_id BIGINT PRIMARY KEY REFERENCES document_chunks (id) \
                         ON DELETE CASCADE, org_id TEXT NOT NULL, \
                         embedding vector({dim}) NOT NULL)"
                    ),
                    format!(
                        "CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} \
                         USING hnsw (embedding vector_cosine_ops)"
                    ),
                ];
                for statement in statements {
                    sqlx::query(AssertSqlSafe(statement))
                        .execute(&mut **tx)
                        .await
                        .map_err(|err| match err {
                            sqlx::Error::Database(db) => StoreError::Backend(format!(
                                "cannot create the vector table {table}: {db}; install the \
                                 pgvector extension on the PostgreSQL server (or let Aurora's \
                                 database user run CREATE EXTENSION vector)"
                            )),
                            other => db_error(other),
                        })?;
                }
            }
        }
        Ok(table)
    }

    /// Removes a document's chunks and their vectors, noting the removed vectors in `changes`
    /// and the removed chunks in `keywords`.
    async fn delete_chunks(
        &self,
        tx: &mut Transaction<'static, Any>,
        org: OrgId,
        id: DocumentId,
        changes: &mut VectorChanges,
        keywords: &mut KeywordChanges,
    ) -> Result<(), StoreError> {
        let removed = sqlx::query(
            "SELECT id, context, text FROM document_chunks WHERE org_id = $1 AND document_id = $2",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_all(&mut **tx)
        .await
        .map_err(db_error)?;
        let mut removed_ids = Vec::with_capacity(removed.len());
        for row in &removed {
            let chunk = int(row, "id")?;
            keywords.remove(chunk, &text(row, "context")?, &text(row, "text")?);
            removed_ids.push(chunk);
        }
        let dim: Option<i64> =
            sqlx::query("SELECT embedding_dim FROM documents WHERE org_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
                .map(|row| row.try_get::<Option<i64>, _>("embedding_dim"))
                .transpose()
                .map_err(db_error)?
                .flatten();
        // On PostgreSQL the vectors go with their chunks (ON DELETE CASCADE); on SQLite the
        // in-memory sign bits need the ids, and the vector tables have no foreign keys.
        if let (Some(dim), Backend::Sqlite) = (dim, self.kind()) {
            let dim = usize::try_from(dim).unwrap_or(0);
            let table = vector_table(dim)?;
            if !removed_ids.is_empty() {
                changes.dim(dim).removed.extend(removed_ids);
            }
            for from in [table, "chunk_signs".to_owned()] {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {from} WHERE chunk_id IN \
                     (SELECT id FROM document_chunks WHERE org_id = $1 AND document_id = $2)"
                )))
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
        }
        sqlx::query("DELETE FROM document_chunks WHERE org_id = $1 AND document_id = $2")
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Writes the vectors of freshly inserted chunks, one multi-row statement per table, noting
    /// them in `changes`.
    async fn insert_vectors(
        &self,
        tx: &mut Transaction<'static, Any>,
        table: &str,
        org: OrgId,
        vectors: &[(i64, &[f32])],
        changes: &mut VectorChanges,
    ) -> Result<(), StoreError> {
        if vectors.is_empty() {
            return Ok(());
        }
        let rows = |width: usize, row: &dyn Fn(usize) -> String| {
            (0..vectors.len())
                .map(|i| row(i * width))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.kind() {
            Backend::Sqlite => {
                let blobs: Vec<Vec<u8>> = vectors.iter().map(|(_, v)| vector_blob(v)).collect();
                let values = rows(2, &|p| format!("(${}, ${})", p + 1, p + 2));
                let mut query = sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {table} (chunk_id, embedding) VALUES {values}"
                )));
                for ((chunk_id, _), blob) in vectors.iter().zip(blobs) {
                    query = query.bind(*chunk_id).bind(blob);
                }
                query.execute(&mut **tx).await.map_err(db_error)?;
                let dim = vectors.first().map_or(0, |(_, v)| v.len());
                let signs: Vec<(i64, Vec<u8>)> =
                    vectors.iter().map(|(id, v)| (*id, sign_bytes(v))).collect();
                let values = rows(4, &|p| {
                    format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4)
                });
                let mut query = sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO chunk_signs (chunk_id, org_id, dim, bits) VALUES {values}"
                )));
                for (chunk_id, bits) in &signs {
                    query = query
                        .bind(*chunk_id)
                        .bind(org.to_string())
                        .bind(i64::try_from(dim).unwrap_or(0))
                        .bind(bits.clone());
                }
                query.execute(&mut **tx).await.map_err(db_error)?;
                changes.dim(dim).added.extend(signs);
            }
            Backend::Postgres => {
                let values = rows(3, &|p| {
                    format!("(${}, ${}, ${}::vector)", p + 1, p + 2, p + 3)
                });
                let mut query = sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {table} (chunk_id, org_id, embedding) VALUES {values}"
                )));
                for (chunk_id, vector) in vectors {
                    query = query
                        .bind(*chunk_id)
                        .bind(org.to_string())
                        .bind(vector_text(vector));
                }
                query.execute(&mut **tx).await.map_err(db_error)?;
            }
        }
        Ok(())
    }

    /// Converts the sign bits of a database made before `chunk_signs`, kept in a sqlite-vec
    /// `vec0` table `chunk_vectors_<dim>_bits`, into `chunk_signs` (recomputed from the full
    /// vectors, the authoritative copy), raises the affected counters and drops the old table.
    /// Once per dimension and database; a no-op when there is no such table.
    async fn convert_legacy_bits(
        &self,
        tx: &mut Transaction<'static, Any>,
        dim: usize,
    ) -> Result<(), StoreError> {
        let table = vector_table(dim)?;
        let legacy = format!("{table}_bits");
        let exists: Option<AnyRow> =
            sqlx::query("SELECT 1 AS present FROM sqlite_master WHERE name = $1")
                .bind(legacy.clone())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
        if exists.is_none() {
            return Ok(());
        }
        let dim = i64::try_from(dim).unwrap_or(0);
        let statements = [
            format!(
                "INSERT OR IGNORE INTO chunk_signs (chunk_id, org_id, dim, bits) \
                 SELECT v.chunk_id, c.org_id, $1, vec_quantize_binary(v.embedding) \
                 FROM {table} v JOIN document_chunks c ON c.id = v.chunk_id"
            ),
            "INSERT INTO vector_index_versions (org_id, dim, version) \
             SELECT DISTINCT org_id, $1, 1 FROM chunk_signs WHERE dim = $1 \
             ON CONFLICT (org_id, dim) DO UPDATE SET version = version + 1"
                .to_owned(),
        ];
        for statement in statements {
            sqlx::query(AssertSqlSafe(statement))
                .bind(dim)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {legacy}")))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Raises the `vector_index_versions` counter of each dimension `changes` touched, in the
    /// writing transaction; returns the new values, for `SignIndexes::apply` after commit.
    async fn bump_vector_versions(
        &self,
        tx: &mut Transaction<'static, Any>,
        org: OrgId,
        changes: &VectorChanges,
    ) -> Result<Vec<(usize, i64)>, StoreError> {
        let mut versions = Vec::new();
        if self.kind() != Backend::Sqlite {
            return Ok(versions);
        }
        for (dim, dim_changes) in &changes.dims {
            if dim_changes.removed.is_empty() && dim_changes.added.is_empty() {
                continue;
            }
            let row = sqlx::query(
                "INSERT INTO vector_index_versions (org_id, dim, version) VALUES ($1, $2, 1) \
                 ON CONFLICT (org_id, dim) DO UPDATE SET version = version + 1 \
                 RETURNING version",
            )
            .bind(org.to_string())
            .bind(i64::try_from(*dim).unwrap_or(0))
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
            versions.push((*dim, int(&row, "version")?));
        }
        Ok(versions)
    }

    /// The `vector_index_versions` counter of `(org, dim)`: 0 before any vector was written.
    async fn vector_version<'e, E>(
        &self,
        executor: E,
        org: OrgId,
        dim: usize,
    ) -> Result<i64, StoreError>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        sqlx::query("SELECT version FROM vector_index_versions WHERE org_id = $1 AND dim = $2")
            .bind(org.to_string())
            .bind(i64::try_from(dim).unwrap_or(0))
            .fetch_optional(executor)
            .await
            .map_err(db_error)?
            .map_or(Ok(0), |row| int(&row, "version"))
    }

    /// The organisation's sign bits of this dimension, as of the current counter: the loaded
    /// index when it is current, otherwise read afresh from `chunk_signs` (converting a
    /// pre-`chunk_signs` database first).
    async fn sign_index(&self, org: OrgId, dim: usize) -> Result<Arc<SignIndex>, StoreError> {
        let version = self.vector_version(self.pool(), org, dim).await?;
        if let Some(index) = self.signs.current(org, dim, version) {
            return Ok(index);
        }
        // One load at a time: concurrent searches on a stale index wait for it, then use it.
        let _loading = self.signs.loading().await;
        if let Some(index) = self.signs.current(org, dim, version) {
            return Ok(index);
        }
        let legacy: Option<AnyRow> =
            sqlx::query("SELECT 1 AS present FROM sqlite_master WHERE name = $1")
                .bind(format!("{}_bits", vector_table(dim)?))
                .fetch_optional(self.pool())
                .await
                .map_err(db_error)?;
        if legacy.is_some() {
            let mut tx = self.writer().begin().await.map_err(db_error)?;
            self.convert_legacy_bits(&mut tx, dim).await?;
            tx.commit().await.map_err(db_error)?;
        }
        // One read transaction: the counter and the rows of the same snapshot.
        let mut tx = self.pool().begin().await.map_err(db_error)?;
        let version = self.vector_version(&mut *tx, org, dim).await?;
        let mut index = SignIndex::new(version, dim);
        // Pages of rows folded into one row each (ids as text, bits as hex): the driver's
        // per-row cost made reading 100,000 rows one by one take 0.4 to 0.9 s, this ~0.15 s.
        let mut after = i64::MIN;
        loop {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, MAX(chunk_id) AS last, \
                 COALESCE(group_concat(chunk_id), '') AS ids, \
                 COALESCE(group_concat(hex(bits), ''), '') AS bits \
                 FROM (SELECT chunk_id, bits FROM chunk_signs \
                 WHERE org_id = $1 AND dim = $2 AND chunk_id > $3 ORDER BY chunk_id LIMIT $4)",
            )
            .bind(org.to_string())
            .bind(i64::try_from(dim).unwrap_or(0))
            .bind(after)
            .bind(i64::try_from(SIGN_LOAD_PAGE).unwrap_or(i64::MAX))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            let count = usize::try_from(int(&row, "n")?).unwrap_or(0);
            if count == 0 {
                break;
            }
            after = int(&row, "last")?;
            let ids = text(&row, "ids")?;
            let bits = text(&row, "bits")?;
            index.push_page(&ids, &bits, count)?;
            if count < SIGN_LOAD_PAGE {
                break;
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(self.signs.store(org, index))
    }

    async fn hits_by_ids(
        &self,
        org: OrgId,
        ranked: &[i64],
        filter: &SearchFilter,
        model: Option<&str>,
        k: usize,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let mut hits = Vec::with_capacity(ranked.len().min(k));
        // Vector hits must come from documents embedded by the query's model.
        let (model_condition, list_param) = match model {
            Some(_) => (" AND d.embedding_model = $2", 3),
            None => ("", 2),
        };
        // The ids travel as one JSON array.
        let ids_in = match self.kind() {
            Backend::Sqlite => format!("SELECT value FROM json_each(${list_param})"),
            Backend::Postgres => {
                format!("SELECT value::bigint FROM jsonb_array_elements_text(${list_param}::jsonb)")
            }
        };
        let (conditions, binds) = filter_sql(self.kind(), filter, list_param + 1);
        let sql = format!(
            concat!(
                "SELECT ",
                hit_columns!(),
                // CROSS JOIN keeps the chunks looked up by id as the outer loop on SQLite,
                // which may otherwise walk every chunk of the organisation's documents.
                " FROM document_chunks c CROSS JOIN documents d \
                 WHERE d.id = c.document_id AND c.id IN ({}) AND c.org_id = $1 \
                 AND d.org_id = $1 AND d.status = 'indexed'{}{}"
            ),
            ids_in, model_condition, conditions
        );
        // Pages grow, so a filter that few of the ranked chunks pass costs a few queries.
        let mut rest = ranked;
        let mut page = HITS_FIRST_PAGE;
        while !rest.is_empty() && hits.len() < k {
            let (ids, after) = rest.split_at(page.min(rest.len()));
            rest = after;
            page = (page * 4).min(HITS_MAX_PAGE);
            let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let mut query = sqlx::query(AssertSqlSafe(sql.clone())).bind(org.to_string());
            if let Some(model) = model {
                query = query.bind(model.to_owned());
            }
            query = query.bind(format!("[{}]", list.join(",")));
            for value in &binds {
                query = query.bind(value.clone());
            }
            let rows = query.fetch_all(self.pool()).await.map_err(db_error)?;
            let mut found: Vec<ChunkHit> =
                rows.iter().map(hit_from_row).collect::<Result<_, _>>()?;
            // Back into the ranking's order.
            let position: HashMap<i64, usize> =
                ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            found.sort_by_key(|hit| position.get(&hit.chunk_id).copied());
            hits.extend(found);
        }
        hits.truncate(k);
        Ok(hits)
    }
}

#[async_trait]
impl KnowledgeStore for SqlStore {
    async fn create_document(&self, org: OrgId, doc: &NewDocument) -> Result<Document, StoreError> {
        let now = stored(OffsetDateTime::now_utc());
        let created = Document {
            id: DocumentId::new(),
            org_id: org,
            title: doc.title.clone(),
            kind: doc.kind,
            filename: doc.filename.clone(),
            format: None,
            size_bytes: doc.size_bytes,
            sha256: doc.sha256.clone(),
            blob_key: doc.blob_key.clone(),
            tags: doc.tags.clone(),
            status: DocumentStatus::Processing,
            error: None,
            chunk_count: 0,
            embedding_model: None,
            incident_id: doc.incident_id,
            investigation_id: doc.investigation_id,
            created_at: now,
            indexed_at: None,
        };
        sqlx::query(
            "INSERT INTO documents (id, org_id, title, kind, filename, size_bytes, sha256, \
             blob_key, tags, status, incident_id, investigation_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'processing', $10, $11, $12)",
        )
        .bind(created.id.to_string())
        .bind(org.to_string())
        .bind(created.title.clone())
        .bind(created.kind.as_str())
        .bind(created.filename.clone())
        .bind(i64::try_from(created.size_bytes).unwrap_or(i64::MAX))
        .bind(created.sha256.clone())
        .bind(created.blob_key.clone())
        .bind(to_json(&created.tags)?)
        .bind(created.incident_id.map(|id| id.to_string()))
        .bind(created.investigation_id.map(|id| id.to_string()))
        .bind(to_millis(now))
        .execute(self.writer())
        .await
        .map_err(|err| {
            conflict_or(err, || {
                "a document with identical content is already in the knowledge base".to_owned()
            })
        })?;
        Ok(created)
    }

    async fn find_document_by_hash(
        &self,
        org: OrgId,
        sha256: &str,
    ) -> Result<Option<Document>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents d WHERE d.org_id = $1 AND d.sha256 = $2"
        ))
        .bind(org.to_string())
        .bind(sha256.to_owned())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(document_from_row)
        .transpose()
    }

    async fn get_document(&self, org: OrgId, id: DocumentId) -> Result<Document, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents d WHERE d.org_id = $1 AND d.id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(document_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("document"))
    }

    async fn list_documents(
        &self,
        org: OrgId,
        filter: &DocumentFilter,
    ) -> Result<Vec<Document>, StoreError> {
        let mut sql = String::from(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents d WHERE d.org_id = $1"
        ));
        let mut binds = Vec::new();
        if let Some(kind) = filter.kind {
            binds.push(kind.as_str().to_owned());
            sql.push_str(&format!(" AND d.kind = ${}", binds.len() + 1));
        }
        if let Some(status) = filter.status {
            binds.push(status.as_str().to_owned());
            sql.push_str(&format!(" AND d.status = ${}", binds.len() + 1));
        }
        if let Some(incident) = filter.incident {
            binds.push(incident.to_string());
            sql.push_str(&format!(" AND d.incident_id = ${}", binds.len() + 1));
        }
        let limit = filter.limit.unwrap_or(500).clamp(1, 5000);
        sql.push_str(&format!(
            " ORDER BY d.created_at DESC, d.id DESC LIMIT {limit}"
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(org.to_string());
        for value in binds {
            query = query.bind(value);
        }
        query
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?
            .iter()
            .map(document_from_row)
            .collect()
    }

    async fn set_document_status(
        &self,
        org: OrgId,
        id: DocumentId,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE documents SET status = $3, error = $4 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(error.map(str::to_owned))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("document"));
        }
        Ok(())
    }

    async fn index_document(
        &self,
        org: OrgId,
        id: DocumentId,
        index: &DocumentIndex,
    ) -> Result<Document, StoreError> {
        let dim = index
            .chunks
            .iter()
            .find_map(|chunk| chunk.embedding.as_ref().map(Vec::len));
        if let Some(dim) = dim
            && index
                .chunks
                .iter()
                .any(|chunk| chunk.embedding.as_ref().is_some_and(|v| v.len() != dim))
        {
            return Err(StoreError::Conflict(
                "the chunks' embeddings differ in dimension".to_owned(),
            ));
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // The document must exist in this organisation; this also takes its row lock on
        // PostgreSQL so concurrent re-indexing serialises.
        let exists =
            sqlx::query("UPDATE documents SET status = 'processing' WHERE org_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.rows_affected() == 0 {
            return Err(StoreError::NotFound("document"));
        }
        let mut changes = VectorChanges::default();
        let mut keywords = KeywordChanges::default();
        self.delete_chunks(&mut tx, org, id, &mut changes, &mut keywords)
            .await?;
        let table = match dim {
            Some(dim) => Some(self.ensure_vector_table(&mut tx, dim).await?),
            None => None,
        };
        for rows in index.chunks.chunks(CHUNK_ROWS_PER_INSERT) {
            let values: Vec<String> = (0..rows.len())
                .map(|i| {
                    let p = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO document_chunks (org_id, document_id, ordinal, context, text) \
                 VALUES {} RETURNING id, ordinal",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for chunk in rows {
                query = query
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .bind(i64::from(chunk.ordinal))
                    .bind(chunk.context.clone())
                    .bind(chunk.text.clone());
            }
            let inserted = query.fetch_all(&mut *tx).await.map_err(db_error)?;
            for row in &inserted {
                let ordinal = u32::try_from(int(row, "ordinal")?).unwrap_or(0);
                if let Some(chunk) = rows.iter().find(|c| c.ordinal == ordinal) {
                    keywords.add(int(row, "id")?, &chunk.context, &chunk.text);
                }
            }
            let Some(table) = &table else { continue };
            let mut vectors: Vec<(i64, &[f32])> = Vec::with_capacity(inserted.len());
            for row in &inserted {
                let ordinal = u32::try_from(int(row, "ordinal")?).unwrap_or(0);
                if let Some(embedding) = rows
                    .iter()
                    .find(|c| c.ordinal == ordinal)
                    .and_then(|c| c.embedding.as_deref())
                {
                    vectors.push((int(row, "id")?, embedding));
                }
            }
            self.insert_vectors(&mut tx, table, org, &vectors, &mut changes)
                .await?;
        }
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query(
            "UPDATE documents SET status = 'indexed', error = NULL, format = $3, \
             title = COALESCE($4, title), chunk_count = $5, embedding_model = $6, \
             embedding_dim = $7, indexed_at = $8 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(index.format.clone())
        .bind(index.title.clone())
        .bind(i64::try_from(index.chunks.len()).unwrap_or(i64::MAX))
        .bind(dim.and(index.embedding_model.clone()))
        .bind(dim.map(|d| i64::try_from(d).unwrap_or(0)))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        keyword_index::apply(&mut tx, self.kind(), org, keywords).await?;
        let versions = self.bump_vector_versions(&mut tx, org, &changes).await?;
        tx.commit().await.map_err(db_error)?;
        self.signs.apply(org, &changes, &versions);
        self.get_document(org, id).await
    }

    async fn delete_document(&self, org: OrgId, id: DocumentId) -> Result<Document, StoreError> {
        let document = self.get_document(org, id).await?;
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let mut changes = VectorChanges::default();
        let mut keywords = KeywordChanges::default();
        self.delete_chunks(&mut tx, org, id, &mut changes, &mut keywords)
            .await?;
        keyword_index::apply(&mut tx, self.kind(), org, keywords).await?;
        sqlx::query("DELETE FROM documents WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let versions = self.bump_vector_versions(&mut tx, org, &changes).await?;
        tx.commit().await.map_err(db_error)?;
        self.signs.apply(org, &changes, &versions);
        Ok(document)
    }

    async fn vector_search(
        &self,
        org: OrgId,
        query: &VectorQuery<'_>,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        let table = vector_table(query.embedding.len())?;
        // Filters apply after the nearest-neighbour scan, so a filtered search looks further.
        let depth = if query.filter.is_empty() {
            query.k
        } else {
            query.k.saturating_mul(10).max(200)
        };
        let ranked: Vec<i64> = match self.kind() {
            Backend::Sqlite => {
                // Candidates by Hamming distance of the sign bits, in memory and of this
                // organisation only; then the nearest of those by cosine distance of the full
                // vectors, read by rowid.
                let index = self.sign_index(org, query.embedding.len()).await?;
                let candidates = depth
                    .saturating_mul(SQLITE_CANDIDATES_PER_RESULT)
                    .clamp(SQLITE_MIN_CANDIDATES, SQLITE_MAX_CANDIDATES);
                let candidates = index.nearest(query.embedding, candidates);
                if candidates.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<String> = candidates.iter().map(ToString::to_string).collect();
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT chunk_id FROM {table} \
                     WHERE chunk_id IN (SELECT value FROM json_each($2)) \
                     ORDER BY vec_distance_cosine(embedding, $1), chunk_id LIMIT $3"
                )))
                .bind(vector_blob(query.embedding))
                .bind(format!("[{}]", ids.join(",")))
                .bind(i64::try_from(depth).unwrap_or(1))
                .fetch_all(self.pool())
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| int(row, "chunk_id"))
                .collect::<Result<_, _>>()?
            }
            Backend::Postgres => {
                let mut tx = self.pool().begin().await.map_err(db_error)?;
                let exists: Option<AnyRow> =
                    sqlx::query("SELECT 1 AS present FROM pg_class WHERE relname = $1")
                        .bind(table.clone())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                if exists.is_none() {
                    return Ok(Vec::new());
                }
                // The HNSW scan keeps going until enough rows of this organisation pass
                // (pgvector 0.8's iterative scans), with a search list wide enough for a
                // recall near exact search.
                for setting in [
                    "SET LOCAL hnsw.iterative_scan = relaxed_order",
                    "SET LOCAL hnsw.ef_search = 400",
                ] {
                    sqlx::query(setting)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "SELECT chunk_id FROM {table} WHERE org_id = $2 \
                     ORDER BY embedding <=> $1::vector LIMIT $3"
                )))
                .bind(vector_text(query.embedding))
                .bind(org.to_string())
                .bind(i64::try_from(depth).unwrap_or(1))
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                rows.iter()
                    .map(|row| int(row, "chunk_id"))
                    .collect::<Result<_, _>>()?
            }
        };
        self.hits_by_ids(org, &ranked, query.filter, Some(query.model), query.k)
            .await
    }

    async fn keyword_search(
        &self,
        org: OrgId,
        query: &KeywordQuery<'_>,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        // Unfiltered, the best k and a few spare for chunks of documents being re-indexed;
        // filtered, the whole ranking, read in order until k pass the filter.
        let limit = query
            .filter
            .is_empty()
            .then(|| query.k.saturating_add(KEYWORD_SPARE));
        let ranked: Vec<i64> =
            keyword_index::search(self.pool(), self.kind(), org, query.terms, limit)
                .await?
                .iter()
                .map(|scored| scored.chunk)
                .collect();
        self.hits_by_ids(org, &ranked, query.filter, None, query.k)
            .await
    }
}
