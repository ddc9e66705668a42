-- The knowledge base: documents (uploads, finished reports, conversations) and their chunks,
-- with full-text search over the chunks (a generated tsvector with a GIN index). Vectors live
-- in one pgvector table per embedding dimension (chunk_vectors_<dim>, HNSW-indexed), created
-- when a model of that dimension first indexes a document, so a server without pgvector still
-- serves keyword search.

CREATE TABLE documents (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    kind             TEXT NOT NULL
        CHECK (kind IN ('runbook', 'postmortem', 'architecture', 'reference', 'incident', 'chat')),
    filename         TEXT,
    format           TEXT,
    size_bytes       BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    blob_key         TEXT NOT NULL,
    -- JSON array of strings.
    tags             TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL CHECK (status IN ('processing', 'indexed', 'failed')),
    error            TEXT,
    chunk_count      BIGINT NOT NULL DEFAULT 0,
    embedding_model  TEXT,
    embedding_dim    BIGINT,
    incident_id      TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    investigation_id TEXT,
    created_at       BIGINT NOT NULL,
    indexed_at       BIGINT,
    UNIQUE (org_id, sha256)
);
CREATE INDEX documents_org_created ON documents (org_id, created_at, id);
CREATE INDEX documents_org_incident ON documents (org_id, incident_id);

CREATE TABLE document_chunks (
    id          BIGSERIAL PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     BIGINT NOT NULL,
    context     TEXT NOT NULL,
    text        TEXT NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('english', context || ' ' || text)) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX document_chunks_tsv ON document_chunks USING gin (tsv);
CREATE INDEX document_chunks_org ON document_chunks (org_id);
