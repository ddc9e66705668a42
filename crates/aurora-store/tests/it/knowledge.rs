use aurora_core::StoreError;
use aurora_core::ids::OrgId;
use aurora_core::knowledge::{
    DocumentFilter, DocumentIndex, DocumentKind, DocumentStatus, KeywordQuery, KnowledgeStore,
    NewChunk, NewDocument, SearchFilter, VectorQuery, blob_key,
};
use aurora_core::ports::AccountStore;
use aurora_store::SqlStore;

use crate::harness::each_backend;

const MODEL: &str = "test-model";

fn new_doc(org: OrgId, sha: &str, kind: DocumentKind, tags: &[&str]) -> NewDocument {
    NewDocument {
        title: format!("doc {sha}"),
        kind,
        filename: Some(format!("{sha}.md")),
        size_bytes: 10,
        sha256: sha.to_owned(),
        blob_key: blob_key(org, sha),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        incident_id: None,
        investigation_id: None,
    }
}

/// A unit vector along axis `i` of 8 dimensions, tilted a little towards axis `j`.
fn axis(i: usize, j: usize) -> Vec<f32> {
    let mut v = [0.0; 8];
    v[i] = 1.0;
    v[j] += 0.1;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn chunk(ordinal: u32, text: &str, embedding: Vec<f32>) -> NewChunk {
    NewChunk {
        ordinal,
        context: "Runbook › Operations".into(),
        text: text.into(),
        embedding: Some(embedding),
    }
}

fn index(chunks: Vec<NewChunk>) -> DocumentIndex {
    DocumentIndex {
        format: "markdown".into(),
        title: Some("Payments runbook".into()),
        embedding_model: Some(MODEL.into()),
        chunks,
    }
}

async fn keyword(
    store: &SqlStore,
    org: OrgId,
    terms: &[&str],
    filter: &SearchFilter,
) -> Vec<String> {
    let terms: Vec<String> = terms.iter().map(|t| (*t).to_owned()).collect();
    store
        .keyword_search(
            org,
            &KeywordQuery {
                terms: &terms,
                k: 10,
                filter,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.text)
        .collect()
}

async fn nearest(store: &SqlStore, org: OrgId, v: &[f32], filter: &SearchFilter) -> Vec<String> {
    store
        .vector_search(
            org,
            &VectorQuery {
                embedding: v,
                model: MODEL,
                k: 3,
                filter,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.text)
        .collect()
}

#[tokio::test]
async fn documents_are_indexed_searched_and_deleted_per_organisation() {
    each_backend(|store| async move {
        let org = store.create_org("a").await.unwrap().id;
        let other = store.create_org("b").await.unwrap().id;
        let none = SearchFilter::default();

        let doc = store
            .create_document(
                org,
                &new_doc(org, "aa", DocumentKind::Runbook, &["payments"]),
            )
            .await
            .unwrap();
        assert_eq!(doc.status, DocumentStatus::Processing);
        // Identical content is one document per organisation, and may exist in another.
        let again = store
            .create_document(org, &new_doc(org, "aa", DocumentKind::Runbook, &[]))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        assert_eq!(
            store
                .find_document_by_hash(org, "aa")
                .await
                .unwrap()
                .map(|d| d.id),
            Some(doc.id)
        );
        let theirs = store
            .create_document(other, &new_doc(other, "aa", DocumentKind::Runbook, &[]))
            .await
            .unwrap();

        let indexed = store
            .index_document(
                org,
                doc.id,
                &index(vec![
                    chunk(
                        0,
                        "Fail over the payments database to the replica.",
                        axis(0, 1),
                    ),
                    chunk(
                        1,
                        "Restart the checkout pods when memory leaks.",
                        axis(2, 3),
                    ),
                    chunk(2, "Rotate the TLS certificates of the gateway.", axis(4, 5)),
                ]),
            )
            .await
            .unwrap();
        assert_eq!(indexed.status, DocumentStatus::Indexed);
        assert_eq!(indexed.chunk_count, 3);
        assert_eq!(indexed.title, "Payments runbook");
        assert_eq!(indexed.format.as_deref(), Some("markdown"));
        assert_eq!(indexed.embedding_model.as_deref(), Some(MODEL));
        store
            .index_document(
                other,
                theirs.id,
                &index(vec![chunk(0, "Their payments failover notes.", axis(0, 1))]),
            )
            .await
            .unwrap();

        // Keyword search stems ("leaking" finds "leaks") and stays in the organisation.
        assert_eq!(
            keyword(&store, org, &["memory", "leaking"], &none).await,
            ["Restart the checkout pods when memory leaks."]
        );
        let hits = keyword(&store, org, &["failover", "payments"], &none).await;
        assert_eq!(hits, ["Fail over the payments database to the replica."]);
        assert_eq!(
            keyword(&store, other, &["payments"], &none).await,
            ["Their payments failover notes."]
        );
        // Words that are search syntax elsewhere (NEAR, AND) are plain words here.
        assert!(
            keyword(&store, org, &["near", "and"], &none)
                .await
                .is_empty()
        );

        // Vector search ranks by cosine distance, within the organisation and the model.
        assert_eq!(
            nearest(&store, org, &axis(2, 0), &none).await[0],
            "Restart the checkout pods when memory leaks."
        );
        assert_eq!(nearest(&store, org, &axis(0, 2), &none).await.len(), 3);
        assert_eq!(
            nearest(&store, other, &axis(2, 0), &none).await,
            ["Their payments failover notes."]
        );
        let other_model = store
            .vector_search(
                org,
                &VectorQuery {
                    embedding: &axis(2, 0),
                    model: "another-model",
                    k: 3,
                    filter: &none,
                },
            )
            .await
            .unwrap();
        assert!(other_model.is_empty());

        // Filters: kind, tag, document.
        let postmortems = SearchFilter {
            kinds: vec![DocumentKind::Postmortem],
            ..SearchFilter::default()
        };
        assert!(
            nearest(&store, org, &axis(2, 0), &postmortems)
                .await
                .is_empty()
        );
        assert!(
            keyword(&store, org, &["memory"], &postmortems)
                .await
                .is_empty()
        );
        let tagged = SearchFilter {
            tags: vec!["payments".into()],
            ..SearchFilter::default()
        };
        assert_eq!(keyword(&store, org, &["memory"], &tagged).await.len(), 1);
        let untagged = SearchFilter {
            tags: vec!["network".into()],
            ..SearchFilter::default()
        };
        assert!(
            keyword(&store, org, &["memory"], &untagged)
                .await
                .is_empty()
        );
        let this_doc = SearchFilter {
            documents: vec![doc.id],
            ..SearchFilter::default()
        };
        assert_eq!(nearest(&store, org, &axis(4, 0), &this_doc).await.len(), 3);

        // Re-indexing replaces the chunks and their vectors.
        store
            .index_document(
                org,
                doc.id,
                &index(vec![chunk(0, "Scale the search cluster out.", axis(6, 7))]),
            )
            .await
            .unwrap();
        assert!(keyword(&store, org, &["memory"], &none).await.is_empty());
        assert_eq!(
            nearest(&store, org, &axis(2, 0), &none).await,
            ["Scale the search cluster out."]
        );

        // A failure is recorded with its reason.
        store
            .set_document_status(
                org,
                doc.id,
                DocumentStatus::Failed,
                Some("the PDF is encrypted"),
            )
            .await
            .unwrap();
        let failed = store.get_document(org, doc.id).await.unwrap();
        assert_eq!(failed.error.as_deref(), Some("the PDF is encrypted"));
        assert!(
            keyword(&store, org, &["search"], &none).await.is_empty(),
            "failed documents are not searched"
        );

        // Another organisation can neither read nor delete it.
        assert!(matches!(
            store.get_document(other, doc.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_document(other, doc.id).await,
            Err(StoreError::NotFound(_))
        ));

        // Deleting removes chunks and vectors; the content may then be added again.
        store.delete_document(org, doc.id).await.unwrap();
        assert!(nearest(&store, org, &axis(6, 7), &none).await.is_empty());
        assert!(
            store
                .list_documents(org, &DocumentFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
        store
            .create_document(org, &new_doc(org, "aa", DocumentKind::Runbook, &[]))
            .await
            .unwrap();
        // Their document is untouched.
        assert_eq!(
            nearest(&store, other, &axis(0, 1), &none).await,
            ["Their payments failover notes."]
        );
    })
    .await;
}

#[tokio::test]
async fn keyword_only_documents_and_listing() {
    each_backend(|store| async move {
        let org = store.create_org("a").await.unwrap().id;
        let doc = store
            .create_document(org, &new_doc(org, "bb", DocumentKind::Postmortem, &[]))
            .await
            .unwrap();
        store
            .index_document(
                org,
                doc.id,
                &DocumentIndex {
                    format: "text".into(),
                    title: None,
                    embedding_model: None,
                    chunks: vec![NewChunk {
                        ordinal: 0,
                        context: String::new(),
                        text: "Disk full on the ledger nodes.".into(),
                        embedding: None,
                    }],
                },
            )
            .await
            .unwrap();
        let got = store.get_document(org, doc.id).await.unwrap();
        assert_eq!(got.title, "doc bb", "no better title: the given one stays");
        assert_eq!(got.embedding_model, None);
        assert_eq!(
            keyword(&store, org, &["ledger"], &SearchFilter::default()).await,
            ["Disk full on the ledger nodes."]
        );
        let listed = store
            .list_documents(
                org,
                &DocumentFilter {
                    kind: Some(DocumentKind::Postmortem),
                    ..DocumentFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        let none = store
            .list_documents(
                org,
                &DocumentFilter {
                    status: Some(DocumentStatus::Failed),
                    ..DocumentFilter::default()
                },
            )
            .await
            .unwrap();
        assert!(none.is_empty());
    })
    .await;
}

/// Stores opened on one SQLite file, as the server and the `aurora kb add` CLI are: vector
/// search in one sees what the other indexed and deleted (its sign bits are cached in memory),
/// and stays within the organisation.
#[tokio::test]
async fn sqlite_vector_search_sees_writes_of_another_store_on_the_same_file() {
    use aurora_store::DatabaseConfig;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aurora.db").display());
    let open = || async {
        let store = SqlStore::connect(&url, &DatabaseConfig::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    };
    let writer = open().await;
    let reader = open().await;
    let none = SearchFilter::default();
    let org = writer.create_org("a").await.unwrap().id;
    let other = writer.create_org("b").await.unwrap().id;

    // Nothing indexed yet: the reader caches an empty index.
    assert!(nearest(&reader, org, &axis(0, 1), &none).await.is_empty());

    let add = |store: &SqlStore, org: OrgId, sha: &'static str, chunks: Vec<NewChunk>| {
        let store = store.clone();
        async move {
            let doc = store
                .create_document(org, &new_doc(org, sha, DocumentKind::Runbook, &[]))
                .await
                .unwrap();
            store
                .index_document(org, doc.id, &index(chunks))
                .await
                .unwrap();
            doc.id
        }
    };
    let first = add(
        &writer,
        org,
        "a1",
        vec![chunk(0, "Fail over the payments database.", axis(0, 1))],
    )
    .await;
    add(
        &writer,
        other,
        "b1",
        vec![chunk(0, "Their failover notes.", axis(0, 1))],
    )
    .await;
    assert_eq!(
        nearest(&reader, org, &axis(0, 1), &none).await,
        ["Fail over the payments database."],
        "the reader reloads after the writer's commit, and sees only its organisation"
    );
    assert_eq!(
        nearest(&reader, other, &axis(0, 1), &none).await,
        ["Their failover notes."]
    );

    // More writes while the reader holds a loaded index: a second document, then the first
    // one re-indexed, then deleted.
    add(
        &writer,
        org,
        "a2",
        vec![chunk(0, "Restart the checkout pods.", axis(2, 3))],
    )
    .await;
    assert_eq!(
        nearest(&reader, org, &axis(2, 3), &none).await[0],
        "Restart the checkout pods."
    );
    writer
        .index_document(
            org,
            first,
            &index(vec![chunk(
                0,
                "Rotate the gateway certificates.",
                axis(4, 5),
            )]),
        )
        .await
        .unwrap();
    let seen = nearest(&reader, org, &axis(4, 5), &none).await;
    assert_eq!(seen[0], "Rotate the gateway certificates.");
    assert!(!seen.contains(&"Fail over the payments database.".to_owned()));
    writer.delete_document(org, first).await.unwrap();
    assert_eq!(
        nearest(&reader, org, &axis(4, 5), &none).await,
        ["Restart the checkout pods."]
    );

    // The writer's own index follows its writes without a reload, and in the other direction.
    assert_eq!(
        nearest(&writer, org, &axis(4, 5), &none).await,
        ["Restart the checkout pods."]
    );
    add(
        &reader,
        org,
        "a3",
        vec![chunk(0, "Scale the search cluster out.", axis(6, 7))],
    )
    .await;
    assert_eq!(
        nearest(&writer, org, &axis(6, 7), &none).await[0],
        "Scale the search cluster out."
    );
    assert_eq!(
        nearest(&writer, other, &axis(6, 7), &none).await,
        ["Their failover notes."]
    );
    writer.close().await;
    reader.close().await;
}

/// Makes a SQLite database at `url` with one organisation and a document of two chunks (one
/// about failing over payments, one about restarting checkout pods); returns the organisation.
/// Runs `statements` on the SQLite database at `url` over a connection of its own, as an older
/// version of the schema would have left it.
async fn execute_outside_the_store(url: &str, statements: &[&'static str]) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    for statement in statements {
        sqlx::Executor::execute(&mut conn, *statement)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

async fn two_chunk_database(url: &str) -> OrgId {
    use aurora_store::DatabaseConfig;

    let store = SqlStore::connect(url, &DatabaseConfig::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let org = store.create_org("a").await.unwrap().id;
    let doc = store
        .create_document(org, &new_doc(org, "aa", DocumentKind::Runbook, &[]))
        .await
        .unwrap();
    store
        .index_document(
            org,
            doc.id,
            &index(vec![
                chunk(0, "Fail over the payments database.", axis(0, 1)),
                chunk(1, "Restart the checkout pods.", axis(2, 3)),
            ]),
        )
        .await
        .unwrap();
    store.close().await;
    org
}

/// A database from before `chunk_signs` kept the sign bits in a sqlite-vec `vec0` table; the
/// first search converts them.
#[tokio::test]
async fn sqlite_sign_bits_of_an_older_database_are_converted() {
    use aurora_store::DatabaseConfig;
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aurora.db");
    let url = format!("sqlite://{}", path.display());
    let org = two_chunk_database(&url).await;

    // Make it look like the older layout: bits in vec0, none in chunk_signs, no counters.
    execute_outside_the_store(
        &url,
        &[
            "DELETE FROM chunk_signs",
            "DELETE FROM vector_index_versions",
            "CREATE VIRTUAL TABLE chunk_vectors_8_bits USING vec0 (chunk_id INTEGER PRIMARY KEY, \
             org_id TEXT PARTITION KEY, embedding bit[8])",
        ],
    )
    .await;

    let store = SqlStore::connect(&url, &DatabaseConfig::default())
        .await
        .unwrap();
    assert_eq!(
        nearest(&store, org, &axis(2, 3), &SearchFilter::default()).await[0],
        "Restart the checkout pods."
    );
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let left: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE name = 'chunk_vectors_8_bits'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(left.is_empty(), "the vec0 table is dropped");
    conn.close().await.unwrap();
    store.close().await;
}

/// Words the stemmer leaves as they are, so the test can count terms the way the index does.
const WORDS: [&str; 12] = [
    "zork", "blat", "frim", "vext", "drum", "plox", "skav", "trun", "wemb", "glif", "snarp",
    "kwell",
];

/// A text of `len` words from `WORDS`, skewed towards the first ones; `seed` picks them.
fn skewed_text(seed: &mut u64, len: usize) -> String {
    let mut words = Vec::with_capacity(len);
    for _ in 0..len {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = (*seed >> 33) as usize;
        // Squaring a uniform draw favours low ranks: the first words are in most chunks.
        let u = (r % 1000) as f64 / 1000.0;
        words.push(WORDS[(u * u * WORDS.len() as f64) as usize]);
    }
    words.join(" ")
}

/// BM25 (k1 1.2, b 0.75, Lucene's idf) of every chunk for `terms`, by brute force.
fn brute_force_bm25(chunks: &[&str], terms: &[&str]) -> Vec<f32> {
    let lens: Vec<f32> = chunks.iter().map(|c| c.split(' ').count() as f32).collect();
    let n = chunks.len() as f64;
    let average = lens.iter().sum::<f32>() / chunks.len() as f32;
    let mut scores = vec![0.0f32; chunks.len()];
    for term in terms {
        let tf: Vec<usize> = chunks
            .iter()
            .map(|c| c.split(' ').filter(|w| w == term).count())
            .collect();
        let df = tf.iter().filter(|&&t| t > 0).count() as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32;
        for (i, &t) in tf.iter().enumerate() {
            if t > 0 {
                let t = t as f32;
                scores[i] += idf * t * 2.2 / (t + 1.2 * (0.25 + 0.75 * lens[i] / average));
            }
        }
    }
    scores
}

/// Keyword search ranks by BM25 over the organisation's live chunks only: after documents are
/// added, re-indexed and deleted, with terms whose postings fill many blocks.
#[tokio::test]
async fn keyword_ranking_is_bm25_of_the_organisations_live_chunks() {
    each_backend(|store| async move {
        let org = store.create_org("a").await.unwrap().id;
        let other = store.create_org("b").await.unwrap().id;
        let mut seed = 7u64;
        let texts = |count: usize, seed: &mut u64| -> Vec<String> {
            (0..count)
                .map(|i| skewed_text(seed, 5 + (i * 7) % 40))
                .collect()
        };
        let chunks = |texts: &[String]| DocumentIndex {
            format: "text".into(),
            title: None,
            embedding_model: None,
            chunks: texts
                .iter()
                .enumerate()
                .map(|(i, text)| NewChunk {
                    ordinal: i as u32,
                    context: String::new(),
                    text: text.clone(),
                    embedding: None,
                })
                .collect(),
        };
        // Another organisation's chunks, all of one word, must not move this one's statistics.
        let theirs = store
            .create_document(other, &new_doc(other, "k9", DocumentKind::Runbook, &[]))
            .await
            .unwrap();
        let flood: Vec<String> = (0..200).map(|_| "zork zork blat".to_owned()).collect();
        store
            .index_document(other, theirs.id, &chunks(&flood))
            .await
            .unwrap();
        // Three documents of 300 chunks: the common words have well over 256 postings each.
        let mut live: Vec<(String, Vec<String>)> = Vec::new();
        let mut ids = Vec::new();
        for sha in ["k1", "k2", "k3"] {
            let doc = store
                .create_document(org, &new_doc(org, sha, DocumentKind::Runbook, &[]))
                .await
                .unwrap();
            let body = texts(300, &mut seed);
            store
                .index_document(org, doc.id, &chunks(&body))
                .await
                .unwrap();
            ids.push(doc.id);
            live.push((sha.to_owned(), body));
        }
        // Re-index the last document (on SQLite its new chunks take the ids its old ones had)
        // and the first with new text; delete the second.
        for at in [2, 0] {
            let body = texts(120 + at * 50, &mut seed);
            store
                .index_document(org, ids[at], &chunks(&body))
                .await
                .unwrap();
            live[at].1 = body;
        }
        store.delete_document(org, ids[1]).await.unwrap();
        live.remove(1);

        let all: Vec<&str> = live
            .iter()
            .flat_map(|(_, b)| b.iter().map(String::as_str))
            .collect();
        for query in [
            &["zork"][..],
            &["blat", "snarp"],
            &["kwell", "glif", "zork"],
            &["trun"],
        ] {
            let expected = brute_force_bm25(&all, query);
            let mut best = expected.clone();
            best.sort_by(|a, b| b.total_cmp(a));
            let hits = store
                .keyword_search(
                    org,
                    &KeywordQuery {
                        terms: &query.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>(),
                        k: 10,
                        filter: &SearchFilter::default(),
                    },
                )
                .await
                .unwrap();
            assert_eq!(hits.len(), 10, "{query:?}");
            // The score of each hit, by brute force, is the next best score (ties in any order).
            for (rank, hit) in hits.iter().enumerate() {
                let (sha, body) = live
                    .iter()
                    .find(|(sha, _)| hit.title == format!("doc {sha}"))
                    .expect("a hit from this organisation's live documents");
                let offset: usize = live
                    .iter()
                    .take_while(|(s, _)| s != sha)
                    .map(|(_, b)| b.len())
                    .sum();
                assert_eq!(body[hit.ordinal as usize], hit.text);
                let score = expected[offset + hit.ordinal as usize];
                assert!(
                    (score - best[rank]).abs() < 1e-4,
                    "{query:?} rank {rank}: {score} where the best is {}",
                    best[rank]
                );
            }
        }
        // Filtered to one document, the hits are its best chunks, however far down the whole
        // ranking they are.
        let (sha, body) = &live[1];
        let only: Vec<&str> = body.iter().map(String::as_str).collect();
        let expected = brute_force_bm25(&all, &["zork"]);
        let offset = live[0].1.len();
        let mut best: Vec<f32> = expected[offset..offset + only.len()].to_vec();
        best.sort_by(|a, b| b.total_cmp(a));
        let filter = SearchFilter {
            documents: vec![ids[2]],
            ..SearchFilter::default()
        };
        let hits = store
            .keyword_search(
                org,
                &KeywordQuery {
                    terms: &["zork".to_owned()],
                    k: 10,
                    filter: &filter,
                },
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), 10);
        for (rank, hit) in hits.iter().enumerate() {
            assert_eq!(hit.title, format!("doc {sha}"));
            let score = expected[offset + hit.ordinal as usize];
            assert!((score - best[rank]).abs() < 1e-4, "filtered rank {rank}");
        }
        // Only this organisation's chunks, and none of the deleted document's.
        assert!(
            keyword(&store, other, &["kwell"], &SearchFilter::default())
                .await
                .is_empty()
        );
        store.delete_document(org, ids[0]).await.unwrap();
        store.delete_document(org, ids[2]).await.unwrap();
        assert!(
            keyword(&store, org, &["zork"], &SearchFilter::default())
                .await
                .is_empty()
        );
    })
    .await;
}

/// A database from before the keyword index gets its chunks indexed when it is migrated.
#[tokio::test]
async fn sqlite_chunks_of_an_older_database_are_indexed_for_keywords_on_migration() {
    use aurora_store::DatabaseConfig;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aurora.db").display());
    let org = two_chunk_database(&url).await;
    execute_outside_the_store(
        &url,
        &["DELETE FROM keyword_postings", "DELETE FROM keyword_stats"],
    )
    .await;

    let store = SqlStore::connect(&url, &DatabaseConfig::default())
        .await
        .unwrap();
    assert!(
        keyword(&store, org, &["checkout"], &SearchFilter::default())
            .await
            .is_empty()
    );
    store.migrate().await.unwrap();
    assert_eq!(
        keyword(
            &store,
            org,
            &["restarting", "checkout"],
            &SearchFilter::default()
        )
        .await,
        ["Restart the checkout pods."]
    );
    store.close().await;
}
