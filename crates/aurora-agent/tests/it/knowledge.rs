//! `search_knowledge` over a real store: passages with their documents, only the caller's
//! organisation, and argument errors the model can act on.

use std::sync::Arc;

use aurora_agent::knowledge::SearchKnowledge;
use aurora_core::knowledge::{
    DocumentIndex, DocumentKind, KnowledgeStore, NewChunk, NewDocument, blob_key,
};
use aurora_core::ports::AccountStore;
use aurora_core::tool::{Tool, ToolEffect, ToolError};
use serde_json::json;

use crate::harness::Env;

async fn runbook(env: &Env, org: aurora_core::ids::OrgId, sha: &str, title: &str, text: &str) {
    let store: &dyn KnowledgeStore = env.store.as_ref();
    let doc = store
        .create_document(
            org,
            &NewDocument {
                title: title.into(),
                kind: DocumentKind::Runbook,
                filename: None,
                size_bytes: text.len() as u64,
                sha256: sha.into(),
                blob_key: blob_key(org, sha),
                tags: Vec::new(),
                incident_id: None,
                investigation_id: None,
            },
        )
        .await
        .unwrap();
    store
        .index_document(
            org,
            doc.id,
            &DocumentIndex {
                format: "markdown".into(),
                title: None,
                embedding_model: None,
                chunks: vec![NewChunk {
                    ordinal: 0,
                    context: "Steps".into(),
                    text: text.into(),
                    embedding: None,
                }],
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn search_knowledge_returns_cited_passages_of_the_callers_organisation() {
    let env = Env::new().await;
    let other = env.store.create_org("Other").await.unwrap().id;
    runbook(
        &env,
        env.org,
        "a",
        "Payments failover",
        "Promote the payments replica with pg_ctl promote.",
    )
    .await;
    runbook(
        &env,
        other,
        "b",
        "Their failover",
        "Promote their payments replica.",
    )
    .await;

    let tool = SearchKnowledge::new(env.store.clone(), None, env.org);
    assert_eq!(tool.spec().name, "search_knowledge");
    assert_eq!(tool.spec().effect, ToolEffect::ReadOnly);
    let output = tool
        .call(json!({"query": "how to promote the payments replica", "kinds": ["runbook"]}))
        .await
        .unwrap();
    let passages = output.content["passages"].as_array().unwrap();
    assert_eq!(passages.len(), 1, "{}", output.content);
    assert_eq!(passages[0]["title"], "Payments failover");
    assert_eq!(passages[0]["section"], "Steps");
    assert!(passages[0]["document_id"].is_string());
    assert!(output.source.contains("knowledge base"));

    let none = tool
        .call(json!({"query": "promote replica", "kinds": ["postmortem"]}))
        .await
        .unwrap();
    assert!(none.content["passages"].as_array().unwrap().is_empty());

    for bad in [
        json!({}),
        json!({"query": "x", "kinds": ["wiki"]}),
        json!({"query": "?!"}),
    ] {
        let err = tool.call(bad.clone()).await.unwrap_err();
        assert!(
            matches!(err, ToolError::InvalidArguments(_)),
            "{bad}: {err:?}"
        );
    }
    let _: Arc<dyn Tool> = Arc::new(tool);
}
