-- Keyword search's own inverted index (see keyword_index.rs), in place of the chunks' tsvector:
-- ts_rank_cd() read the whole tsvector of every matching chunk, over 300 ms for a common query
-- over 100,000 chunks. Each row packs up to 256 postings of one term: per chunk its id, the
-- term's frequency in it and its length in terms. The chunks of existing documents are indexed
-- when the store is migrated.
CREATE TABLE keyword_postings (
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    term        TEXT NOT NULL,
    first_chunk BIGINT NOT NULL,
    last_chunk  BIGINT NOT NULL,
    postings    BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (org_id, term, first_chunk)
);

-- Per organisation, the chunks indexed and their total length in terms (BM25's statistics).
CREATE TABLE keyword_stats (
    org_id TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    chunks BIGINT NOT NULL,
    tokens BIGINT NOT NULL
);

ALTER TABLE document_chunks DROP COLUMN tsv;
