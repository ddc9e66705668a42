-- Keyword search's own inverted index (see keyword_index.rs), in place of FTS5: FTS5's bm25()
-- looked up every matching chunk's size, 60-75 ms for a common query over 100,000 chunks.
-- Each row packs up to 256 postings of one term: per chunk its id, the term's frequency in it
-- and its length in terms. The chunks of existing documents are indexed when the store is
-- migrated.
CREATE TABLE keyword_postings (
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    term        TEXT NOT NULL,
    first_chunk INTEGER NOT NULL,
    last_chunk  INTEGER NOT NULL,
    postings    INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (org_id, term, first_chunk)
) WITHOUT ROWID;

-- Per organisation, the chunks indexed and their total length in terms (BM25's statistics).
CREATE TABLE keyword_stats (
    org_id TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    chunks INTEGER NOT NULL,
    tokens INTEGER NOT NULL
);

DROP TRIGGER document_chunks_ai;
DROP TRIGGER document_chunks_ad;
DROP TABLE document_chunks_fts;
