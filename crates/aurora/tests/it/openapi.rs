//! The OpenAPI document at `/api/v1/openapi.json` is written by hand; these tests keep it honest.
//! Every route the router registers under `/api/v1` (as `aurora_server::api_routes()` records
//! them) is documented, every documented operation is routed and asks for the credentials it
//! says, real responses validate against the documented schemas, with no undocumented fields,
//! and every error code the server spells out is listed. The schemas are checked by a small
//! validator for the JSON Schema keywords the document uses; a test fails if the document starts
//! using one it does not know.

use std::collections::{BTreeSet, HashSet};

use aurora_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const FIRING: &str =
    include_str!("../../../aurora-signals/tests/fixtures/alertmanager/firing_group.json");

/// An id no route knows, for path parameters.
const UNKNOWN_ID: &str = "01900000-0000-7000-8000-000000000000";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

pub(crate) async fn fetch_document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the document is public");
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            assert!(
                METHODS.contains(&method.as_str()),
                "{path}: `{method}` is not an operation this API uses"
            );
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn the_document_is_public_openapi_3_1_and_its_references_resolve() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["cookieAuth"]["in"], "cookie");
    assert_eq!(schemes["cookieAuth"]["name"], "aurora_session");
    assert_eq!(schemes["csrfToken"]["in"], "header");
    assert_eq!(schemes["csrfToken"]["name"], "X-CSRF-Token");

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        assert!(
            resolve(&doc, &reference).is_some(),
            "{reference} points nowhere"
        );
    }

    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        check_keywords(schema, &format!("components.schemas.{name}"));
    }
    for (method, path) in documented_operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let id = operation["operationId"].as_str();
        assert!(id.is_some(), "{method} {path} has no operationId");
        let mut schemas = Vec::new();
        collect_schemas(operation, &mut schemas);
        for schema in schemas {
            check_keywords(schema, &format!("{method} {path}"));
        }
        // Every path parameter is declared.
        let declared: HashSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| deref(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    declared.contains(name),
                    "{method} {path}: path parameter `{name}` is not declared"
                );
            }
        }
    }

    // The error shape.
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error"]));
    assert_eq!(
        error["properties"]["error"]["required"],
        json!(["code", "message"])
    );
}

#[tokio::test]
async fn every_api_route_is_documented_and_every_operation_is_routed() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let documented = documented_operations(&doc);
    let registered: BTreeSet<(String, String)> = aurora_server::api_routes()
        .into_iter()
        .map(|route| (route.method.as_str().to_owned(), route.path.to_owned()))
        .collect();
    assert!(
        registered
            .iter()
            .all(|(_, path)| path.starts_with("/api/v1/"))
    );

    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from crates/aurora-server/src/api/openapi.json: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unrouted.is_empty(),
        "documented operations that no route serves: {unrouted:?}"
    );

    // Each documented operation is really served, and asks for what its `security` says:
    // anonymous callers get `authentication_required` unless the operation needs none.
    for (method, path) in &documented {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let security = operation.get("security").unwrap_or(&doc["security"]);
        let url = app.url(&fill_path(path, UNKNOWN_ID));
        let response = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code != "route_not_found" && code != "method_not_allowed",
            "{method} {path} is documented but not routed: {status} {body}"
        );
        if security.as_array().is_some_and(Vec::is_empty) {
            assert_ne!(code, "authentication_required", "{method} {path}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(code, "authentication_required", "{method} {path}");
        }
        assert_documented_status(&doc, method, path, status);
    }
}

/// `/api/v1` routes are registered only through `api_routes()`, whose list the test above checks:
/// a route added beside it with `.route("/api/v1/…")` or `.nest("/api…")` would escape that check.
#[test]
fn api_routes_are_registered_only_through_the_recorded_table() {
    let mut stray = Vec::new();
    for path in rust_files(&server_src()) {
        let text = std::fs::read_to_string(&path).unwrap();
        let flat: String = text.split_whitespace().collect();
        for needle in [".route(\"/api", ".nest(\"/api", ".route_service(\"/api"] {
            if flat.contains(needle) {
                stray.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(
        stray.is_empty(),
        "register /api routes through `ApiRoutes` in api/mod.rs so that the OpenAPI test sees \
         them: {stray:?}"
    );
}

/// Every stable error code the server spells out (`ApiError::new(…, "code", …)`,
/// `bad_request("code", …)`, …) is listed in the document's `Error.code`. The parsers' and
/// signature checks' codes are computed, and named there as a family instead.
#[tokio::test]
async fn every_error_code_is_documented() {
    // Codes only the server-rendered pages use: no `/api/v1` route answers them.
    const UI_ONLY: [&str; 2] = ["invalid_form", "page_not_found"];
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let documented: HashSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    let mut undocumented = BTreeSet::new();
    for file in rust_files(&server_src()) {
        let flat: String = std::fs::read_to_string(&file)
            .unwrap()
            .split_whitespace()
            .collect();
        for call in [
            "ApiError::new(",
            "ApiError::bad_request(",
            "ApiError::not_found(",
            "ApiError::conflict(",
            "Self::new(",
            "Self::bad_request(",
            "Self::not_found(",
            "Self::conflict(",
        ] {
            for (at, _) in flat.match_indices(call) {
                let rest = &flat[at + call.len()..];
                let window = &rest[..rest.len().min(60)];
                let Some(code) = window.split('"').nth(1) else {
                    continue;
                };
                let is_code =
                    !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                if is_code && !documented.contains(code) && !UI_ONLY.contains(&code) {
                    undocumented.insert(code.to_owned());
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "error codes missing from Error.code's examples in openapi.json: {undocumented:?}"
    );
}

fn server_src() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../aurora-server/src")
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[tokio::test]
async fn real_responses_validate_against_their_documented_schemas() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let call = |method: Method, path: String, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (status, me) = call(Method::GET, "/api/v1/me".into(), None).await;
    check(&doc, "GET", "/api/v1/me", status, &me);

    let (status, created) = call(
        Method::POST,
        "/api/v1/tokens".into(),
        Some(json!({"name": "ci", "expires_in_days": 30})),
    )
    .await;
    check(&doc, "POST", "/api/v1/tokens", status, &created);
    let (status, tokens) = call(Method::GET, "/api/v1/tokens".into(), None).await;
    check(&doc, "GET", "/api/v1/tokens", status, &tokens);
    let revoke = format!("/api/v1/tokens/{}", created["id"].as_str().unwrap());
    let (status, revoked) = call(Method::DELETE, revoke, None).await;
    check(&doc, "DELETE", "/api/v1/tokens/{id}", status, &revoked);

    let (status, user) = call(
        Method::POST,
        "/api/v1/users".into(),
        Some(json!({"email": "ed@example.com", "name": "Ed", "role": "editor", "password": "correct horse battery"})),
    )
    .await;
    check(&doc, "POST", "/api/v1/users", status, &user);
    let (status, users) = call(Method::GET, "/api/v1/users".into(), None).await;
    check(&doc, "GET", "/api/v1/users", status, &users);

    let (status, source) = call(
        Method::POST,
        "/api/v1/sources".into(),
        Some(
            json!({"kind": "alertmanager", "name": "prod", "options": {"fingerprint_labels": []}}),
        ),
    )
    .await;
    check(&doc, "POST", "/api/v1/sources", status, &source);
    let source_id = source["id"].as_str().unwrap().to_owned();
    let (status, sources) = call(Method::GET, "/api/v1/sources".into(), None).await;
    check(&doc, "GET", "/api/v1/sources", status, &sources);
    let (status, rotated) = call(
        Method::POST,
        format!("/api/v1/sources/{source_id}/rotate"),
        None,
    )
    .await;
    check(
        &doc,
        "POST",
        "/api/v1/sources/{id}/rotate",
        status,
        &rotated,
    );

    let delivery = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source_id}")))
        .bearer_auth(rotated["secret"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(FIRING)
        .send()
        .await
        .unwrap();
    let status = delivery.status();
    let outcome: Value = delivery.json().await.unwrap();
    check(
        &doc,
        "POST",
        "/api/v1/webhooks/{source_id}",
        status,
        &outcome,
    );
    let rejected = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source_id}")))
        .bearer_auth("wrong secret")
        .header("content-type", "application/json")
        .body(FIRING)
        .send()
        .await
        .unwrap();
    let status = rejected.status();
    let error: Value = rejected.json().await.unwrap();
    check(&doc, "POST", "/api/v1/webhooks/{source_id}", status, &error);

    let (status, deliveries) = call(
        Method::GET,
        format!("/api/v1/sources/{source_id}/deliveries?limit=5"),
        None,
    )
    .await;
    check(
        &doc,
        "GET",
        "/api/v1/sources/{id}/deliveries",
        status,
        &deliveries,
    );
    assert_eq!(
        deliveries.as_array().unwrap().len(),
        1,
        "the rejected one is not stored"
    );

    let (status, page) = call(Method::GET, "/api/v1/incidents?limit=1".into(), None).await;
    check(&doc, "GET", "/api/v1/incidents", status, &page);
    let incident = page["incidents"][0]["id"].as_str().unwrap().to_owned();
    let (status, detail) = call(Method::GET, format!("/api/v1/incidents/{incident}"), None).await;
    check(&doc, "GET", "/api/v1/incidents/{id}", status, &detail);
    assert!(!detail["alerts"].as_array().unwrap().is_empty());
    assert!(!detail["timeline"].as_array().unwrap().is_empty());
    let (status, changed) = call(
        Method::PATCH,
        format!("/api/v1/incidents/{incident}"),
        Some(json!({"status": "investigating", "assignee": admin.id})),
    )
    .await;
    check(&doc, "PATCH", "/api/v1/incidents/{id}", status, &changed);
    let (status, comment) = call(
        Method::POST,
        format!("/api/v1/incidents/{incident}/comments"),
        Some(json!({"text": "looking"})),
    )
    .await;
    check(
        &doc,
        "POST",
        "/api/v1/incidents/{id}/comments",
        status,
        &comment,
    );
    let (status, missing) =
        call(Method::GET, format!("/api/v1/incidents/{UNKNOWN_ID}"), None).await;
    assert_eq!(missing["error"]["code"], "incident_not_found");
    check(&doc, "GET", "/api/v1/incidents/{id}", status, &missing);
    let (status, bad) = call(
        Method::PATCH,
        format!("/api/v1/incidents/{incident}"),
        Some(json!({"status": "sleeping"})),
    )
    .await;
    check(&doc, "PATCH", "/api/v1/incidents/{id}", status, &bad);

    let (status, alerts) = call(
        Method::GET,
        format!("/api/v1/alerts?incident={incident}&limit=2"),
        None,
    )
    .await;
    check(&doc, "GET", "/api/v1/alerts", status, &alerts);

    // A second incident, for another service, to merge into the first.
    let mut other: Value = serde_json::from_str(FIRING).unwrap();
    let mut alert = other["alerts"][0].clone();
    alert["fingerprint"] = json!("9f00aa00bb00cc01");
    alert["labels"]["service"] = json!("billing");
    alert["labels"]["instance"] = json!("10.9.9.9:9100");
    other["alerts"] = json!([alert]);
    other["groupKey"] = json!("{}:{alertname=\"InstanceDown\", service=\"billing\"}");
    let delivered = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source_id}")))
        .bearer_auth(rotated["secret"].as_str().unwrap())
        .json(&other)
        .send()
        .await
        .unwrap();
    let status = delivered.status();
    let outcome: Value = delivered.json().await.unwrap();
    check(
        &doc,
        "POST",
        "/api/v1/webhooks/{source_id}",
        status,
        &outcome,
    );
    let second = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    let merge = format!("/api/v1/incidents/{second}/merge");
    let (status, merged) = call(Method::POST, merge.clone(), Some(json!({"into": incident}))).await;
    check(
        &doc,
        "POST",
        "/api/v1/incidents/{id}/merge",
        status,
        &merged,
    );
    assert_eq!(merged["merged"]["merged_into"], json!(incident));
    let (status, again) = call(Method::POST, merge, Some(json!({"into": incident}))).await;
    check(&doc, "POST", "/api/v1/incidents/{id}/merge", status, &again);
    let (status, itself) = call(
        Method::POST,
        format!("/api/v1/incidents/{incident}/merge"),
        Some(json!({"into": incident})),
    )
    .await;
    check(
        &doc,
        "POST",
        "/api/v1/incidents/{id}/merge",
        status,
        &itself,
    );

    let (status, rule) = call(
        Method::POST,
        "/api/v1/grouping-rules".into(),
        Some(json!({"name": "per cluster", "labels": ["cluster"], "window_seconds": 600})),
    )
    .await;
    check(&doc, "POST", "/api/v1/grouping-rules", status, &rule);
    let (status, rules) = call(Method::GET, "/api/v1/grouping-rules".into(), None).await;
    check(&doc, "GET", "/api/v1/grouping-rules", status, &rules);
    let deleted = app
        .client
        .delete(app.url(&format!(
            "/api/v1/grouping-rules/{}",
            rule["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_documented_status(
        &doc,
        "DELETE",
        "/api/v1/grouping-rules/{id}",
        deleted.status(),
    );

    let (status, jobs) = call(Method::GET, "/api/v1/jobs".into(), None).await;
    check(&doc, "GET", "/api/v1/jobs", status, &jobs);
    assert!(!jobs["jobs"].as_array().unwrap().is_empty());
    let (status, not_failed) = call(
        Method::POST,
        format!(
            "/api/v1/jobs/{}/retry",
            jobs["jobs"][0]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    check(&doc, "POST", "/api/v1/jobs/{id}/retry", status, &not_failed);

    let (status, session) = call(
        Method::POST,
        "/api/v1/chat/sessions".into(),
        Some(json!({"title": "Checkout", "mode": "agent"})),
    )
    .await;
    check(&doc, "POST", "/api/v1/chat/sessions", status, &session);
    let chat = session["id"].as_str().unwrap().to_owned();
    let (status, sessions) = call(Method::GET, "/api/v1/chat/sessions".into(), None).await;
    check(&doc, "GET", "/api/v1/chat/sessions", status, &sessions);
    let (status, renamed) = call(
        Method::PATCH,
        format!("/api/v1/chat/sessions/{chat}"),
        Some(json!({"title": "Checkout latency"})),
    )
    .await;
    check(
        &doc,
        "PATCH",
        "/api/v1/chat/sessions/{id}",
        status,
        &renamed,
    );
    // No model is configured: the question is recorded, its turn ends saying why.
    let asked = app
        .client
        .post(app.url(&format!("/api/v1/chat/sessions/{chat}/messages")))
        .bearer_auth(&token)
        .json(&json!({"content": "why?"}))
        .send()
        .await
        .unwrap();
    assert_documented_status(
        &doc,
        "POST",
        "/api/v1/chat/sessions/{id}/messages",
        asked.status(),
    );
    let started = std::time::Instant::now();
    let messages = loop {
        let (status, messages) = call(
            Method::GET,
            format!("/api/v1/chat/sessions/{chat}/messages?after=0"),
            None,
        )
        .await;
        check(
            &doc,
            "GET",
            "/api/v1/chat/sessions/{id}/messages",
            status,
            &messages,
        );
        if messages.as_array().unwrap().len() >= 2 || started.elapsed().as_secs() > 10 {
            break messages;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(messages[1]["type"], "turn_end", "{messages}");
    assert_eq!(messages[1]["outcome"], "failed");
    let (status, stopped) = call(
        Method::POST,
        format!("/api/v1/chat/sessions/{chat}/stop"),
        None,
    )
    .await;
    check(
        &doc,
        "POST",
        "/api/v1/chat/sessions/{id}/stop",
        status,
        &stopped,
    );
    let (status, one) = call(Method::GET, format!("/api/v1/chat/sessions/{chat}"), None).await;
    check(&doc, "GET", "/api/v1/chat/sessions/{id}", status, &one);
    let (status, audit) = call(Method::GET, "/api/v1/audit".into(), None).await;
    check(&doc, "GET", "/api/v1/audit", status, &audit);
}

/// The validator itself: it must reject what the document forbids, or the test above proves
/// nothing.
#[test]
fn the_validator_rejects_what_the_schemas_forbid() {
    let doc = json!({"components": {"schemas": {
        "T": {"type": ["string", "null"], "format": "date-time"},
        "A": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "minimum": 0}, "t": {"$ref": "#/components/schemas/T"}}},
        "B": {"allOf": [{"$ref": "#/components/schemas/A"}, {"type": "object", "properties": {"b": {"enum": ["x"]}}}]}
    }}});
    let b = json!({"$ref": "#/components/schemas/B"});
    let errors = |value: Value| {
        let mut errors = Vec::new();
        validate(&doc, &b, &value, "$", true, &mut errors);
        errors
    };
    assert!(errors(json!({"a": 1, "b": "x", "t": "2026-05-04T10:00:00Z"})).is_empty());
    assert!(errors(json!({"a": 1, "t": null})).is_empty());
    assert!(!errors(json!({"b": "x"})).is_empty(), "required");
    assert!(!errors(json!({"a": -1})).is_empty(), "minimum");
    assert!(!errors(json!({"a": "1"})).is_empty(), "type");
    assert!(!errors(json!({"a": 1, "b": "y"})).is_empty(), "enum");
    assert!(
        !errors(json!({"a": 1, "t": "yesterday"})).is_empty(),
        "format"
    );
    assert!(
        !errors(json!({"a": 1, "c": 1})).is_empty(),
        "undocumented field"
    );
}

fn fill_path(template: &str, id: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                id
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn assert_documented_status(doc: &Value, method: &str, path: &str, status: StatusCode) {
    let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
    assert!(
        responses.get(status.as_str()).is_some(),
        "{method} {path} answered {status}, which the document does not list"
    );
}

/// `body`, which `method path` answered with `status`, is what the document says it is.
pub(crate) fn check(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    assert_documented_status(doc, method, path, status);
    let response = deref(
        doc,
        &doc["paths"][path][method.to_lowercase()]["responses"][status.as_str()],
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    let mut errors = Vec::new();
    validate(doc, schema, body, "$", true, &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match the document:\n{}\n{body:#}",
        errors.join("\n")
    );
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The object itself, or what its `$ref` points to.
fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => resolve(doc, reference).unwrap(),
        None => value,
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                refs.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// The `schema`s in an operation: its parameters', request body's and responses'.
fn collect_schemas<'a>(value: &'a Value, schemas: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "schema" {
                    schemas.push(value);
                } else {
                    collect_schemas(value, schemas);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_schemas(v, schemas)),
        _ => {}
    }
}

/// The JSON Schema keywords that `validate` understands (or that only annotate).
const KEYWORDS: [&str; 15] = [
    "$ref",
    "type",
    "enum",
    "format",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "minimum",
    "maximum",
    "minLength",
    "description",
    "examples",
    "writeOnly",
];

fn check_keywords(schema: &Value, at: &str) {
    let Some(map) = schema.as_object() else {
        panic!("{at}: a schema must be an object");
    };
    for (key, value) in map {
        assert!(
            KEYWORDS.contains(&key.as_str()),
            "{at}: the test's validator does not know `{key}`: teach it, or say it otherwise"
        );
        match key.as_str() {
            "properties" => {
                for (name, property) in value.as_object().unwrap() {
                    check_keywords(property, &format!("{at}.{name}"));
                }
            }
            "items" => check_keywords(value, &format!("{at}[]")),
            "additionalProperties" if value.is_object() => {
                check_keywords(value, &format!("{at}.*"))
            }
            "allOf" => {
                for (i, part) in value.as_array().unwrap().iter().enumerate() {
                    check_keywords(part, &format!("{at}.allOf[{i}]"));
                }
            }
            "format" => assert!(
                ["date-time", "uuid", "email"].contains(&value.as_str().unwrap()),
                "{at}: unknown format {value}"
            ),
            _ => {}
        }
    }
}

/// The properties an object schema names, through `$ref` and `allOf`; `None` when it allows
/// any (`additionalProperties`) or says nothing about them.
fn known_properties(doc: &Value, schema: &Value) -> Option<HashSet<String>> {
    let schema = deref(doc, schema);
    if schema.get("additionalProperties").is_some() {
        return None;
    }
    let mut names: HashSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut constrained = schema.get("properties").is_some();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(known_properties(doc, part)?);
        constrained = true;
    }
    constrained.then_some(names)
}

/// Validates `value` against `schema`. `strict`: an object may not carry properties the schema
/// does not name (a response field the document forgot).
fn validate(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    strict: bool,
    errors: &mut Vec<String>,
) {
    if let Some(reference) = schema["$ref"].as_str() {
        match resolve(doc, reference) {
            Some(target) => validate(doc, target, value, at, strict, errors),
            None => errors.push(format!("{at}: unresolved {reference}")),
        }
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let matches = |kind: &str| match kind {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !kinds.iter().any(|k| matches(k)) {
            errors.push(format!("{at}: expected {kinds:?}, got {value}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(format), Some(text)) = (schema["format"].as_str(), value.as_str()) {
        let ok = match format {
            "date-time" => OffsetDateTime::parse(text, &Rfc3339).is_ok(),
            "uuid" => text.len() == 36 && text.split('-').map(str::len).eq([8, 4, 4, 4, 12]),
            "email" => text.contains('@'),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {text:?} is not a {format}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| n < min) {
            errors.push(format!("{at}: {n} is below the minimum"));
        }
        if schema["maximum"].as_f64().is_some_and(|max| n > max) {
            errors.push(format!("{at}: {n} is above the maximum"));
        }
    }
    if let (Some(min), Some(text)) = (schema["minLength"].as_u64(), value.as_str())
        && (text.chars().count() as u64) < min
    {
        errors.push(format!("{at}: shorter than {min}"));
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        validate(doc, part, value, at, false, errors);
    }
    if let Some(items) = value.as_array()
        && let Some(item_schema) = schema.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            validate(doc, item_schema, item, &format!("{at}[{i}]"), true, errors);
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}: `{name}` is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in object {
            let at = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(property) => validate(doc, property, field, &at, true, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{at}: not allowed")),
                    Some(extra) if extra.is_object() => {
                        validate(doc, extra, field, &at, true, errors);
                    }
                    _ => {}
                },
            }
        }
        if strict
            && schema.get("$ref").is_none()
            && let Some(known) = known_properties(doc, schema)
        {
            for name in object.keys().filter(|name| !known.contains(*name)) {
                errors.push(format!("{at}.{name}: not in the document"));
            }
        }
    }
}
