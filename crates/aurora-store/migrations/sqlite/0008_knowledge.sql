-- The knowledge base: documents (uploads, finished reports, conversations) and their chunks,
-- with a full-text index (FTS5) over the chunks. Vectors live in one sqlite-vec table per
-- embedding dimension (chunk_vectors_<dim>), created when a model of that dimension first
-- indexes a document.

CREATE TABLE documents (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    kind             TEXT NOT NULL
        CHECK (kind IN ('runbook', 'postmortem', 'architecture', 'reference', 'incident', 'chat')),
    filename         TEXT,
    format           TEXT,
    size_bytes       INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    blob_key         TEXT NOT NULL,
    -- JSON array of strings.
    tags             TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL CHECK (status IN ('processing', 'indexed', 'failed')),
    error            TEXT,
    chunk_count      INTEGER NOT NULL DEFAULT 0,
    embedding_model  TEXT,
    embedding_dim    INTEGER,
    incident_id      TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    investigation_id TEXT,
    created_at       INTEGER NOT NULL,
    indexed_at       INTEGER,
    UNIQUE (org_id, sha256)
);
CREATE INDEX documents_org_created ON documents (org_id, created_at, id);
CREATE INDEX documents_org_incident ON documents (org_id, incident_id);

CREATE TABLE document_chunks (
    id          INTEGER PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    context     TEXT NOT NULL,
    text        TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);

-- External-content FTS5 index over the chunks, kept in step by triggers.
CREATE VIRTUAL TABLE document_chunks_fts USING fts5 (
    context, text,
    content = 'document_chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER document_chunks_ai AFTER INSERT ON document_chunks BEGIN
    INSERT INTO document_chunks_fts (rowid, context, text) VALUES (new.id, new.context, new.text);
END;
CREATE TRIGGER document_chunks_ad AFTER DELETE ON document_chunks BEGIN
    INSERT INTO document_chunks_fts (document_chunks_fts, rowid, context, text)
        VALUES ('delete', old.id, old.context, old.text);
END;
