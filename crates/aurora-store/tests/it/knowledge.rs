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
        // Words that are FTS5 syntax are words.
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
