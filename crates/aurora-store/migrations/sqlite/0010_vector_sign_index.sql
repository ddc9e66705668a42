-- The sign bits of every chunk vector (bit i set when component i > 0, sqlite-vec's
-- vec_quantize_binary layout), with their organisation and dimension. Vector search keeps them
-- in memory per (organisation, dimension), loaded from here, and ranks the full vectors of the
-- nearest by Hamming distance (chunk_vectors_<dim>). They replace the sqlite-vec vec0 tables
-- (chunk_vectors_<dim>_bits), whose brute-force scan took ~45 ms per 100,000 chunks and whose
-- rows take seconds per 100,000 to read back; an existing vec0 table is converted on first use.
CREATE TABLE chunk_signs (
    chunk_id INTEGER PRIMARY KEY REFERENCES document_chunks (id) ON DELETE CASCADE,
    org_id   TEXT NOT NULL,
    dim      INTEGER NOT NULL,
    bits     BLOB NOT NULL
);
CREATE INDEX chunk_signs_org_dim ON chunk_signs (org_id, dim);

-- One counter per (organisation, dimension), raised in the transaction of every write to its
-- vectors, so a process holding them in memory notices writes by another process (the CLI)
-- with one cheap read per search.
CREATE TABLE vector_index_versions (
    org_id  TEXT NOT NULL,
    dim     INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (org_id, dim)
);
