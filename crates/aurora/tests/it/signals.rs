//! Alert sources, webhook deliveries and incidents over HTTP, with Alertmanager webhook v4
//! payloads from the aurora-signals fixtures.

use aurora_core::ids::SourceId;
use aurora_core::model::Role;
use aurora_core::ports::{AccountStore, JobQueue, SignalStore};
use aurora_testkit::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FIRING: &str =
    include_str!("../../../aurora-signals/tests/fixtures/alertmanager/firing_group.json");

/// The firing group with every alert resolved.
fn resolved_group() -> String {
    let mut body: Value = serde_json::from_str(FIRING).unwrap();
    body["status"] = json!("resolved");
    for alert in body["alerts"].as_array_mut().unwrap() {
        alert["status"] = json!("resolved");
        alert["endsAt"] = json!("2026-05-04T10:05:00Z");
    }
    body.to_string()
}

/// The firing group with a different envelope: the same alerts in a new delivery.
fn firing_again() -> String {
    let mut body: Value = serde_json::from_str(FIRING).unwrap();
    body["receiver"] = json!("aurora-again");
    body.to_string()
}

struct Source {
    id: String,
    secret: String,
}

/// An Alertmanager source created by `token`'s user.
async fn create_source(app: &TestApp, token: &str) -> Source {
    let response = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(token)
        .json(&json!({"kind": "alertmanager", "name": "prod alertmanager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["kind"], "alertmanager");
    assert_eq!(body["webhook_path"], format!("/api/v1/webhooks/{id}"));
    assert!(body["authentication"].as_str().unwrap().contains("Bearer"));
    Source {
        id,
        secret: body["secret"].as_str().unwrap().to_owned(),
    }
}

async fn deliver(app: &TestApp, source: &Source, secret: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .bearer_auth(secret)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// An app with an admin, their token and an Alertmanager source.
async fn set_up() -> (TestApp, aurora_core::model::User, String, Source) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let source = create_source(&app, &token).await;
    (app, admin, token, source)
}

#[tokio::test]
async fn alerts_open_an_incident_repeats_are_counted_and_a_resolve_resolves_it() {
    let (app, _, token, source) = set_up().await;

    let response = deliver(&app, &source, &source.secret, FIRING).await;
    assert_eq!(response.status(), StatusCode::OK);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["alerts"], 3);
    assert_eq!(outcome["new_incidents"].as_array().unwrap().len(), 1);
    let incident = outcome["new_incidents"][0].as_str().unwrap().to_owned();

    let (status, list) = get_json(&app, &token, "/api/v1/incidents?status=open").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(list["incidents"][0]["id"], incident.as_str());
    assert_eq!(list["incidents"][0]["severity"], "critical");
    assert_eq!(list["incidents"][0]["service"], "checkout");

    // The same alerts in a new delivery are counted, not stored again.
    let again: Value = deliver(&app, &source, &source.secret, &firing_again())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["repeats"].as_u64(), again["new_alerts"].as_u64()),
        (Some(3), Some(0))
    );
    assert!(again["new_incidents"].as_array().unwrap().is_empty());
    let (_, detail) = get_json(&app, &token, &format!("/api/v1/incidents/{incident}")).await;
    let alerts = detail["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(alerts.iter().all(|a| a["repeat_count"] == 1), "{alerts:?}");
    assert_eq!(alerts[0]["labels"]["instance"], "10.0.0.1:9100");
    assert_eq!(detail["timeline"][0]["kind"], "opened");
    assert_eq!(
        detail["timeline"][0]["actor"],
        format!("source:{}", source.id)
    );

    let resolved: Value = deliver(&app, &source, &source.secret, &resolved_group())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["resolved_incidents"][0], incident.as_str());
    let (_, detail) = get_json(&app, &token, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["status"], "resolved");
    assert!(detail["resolved_at"].is_string());
    assert_eq!(
        detail["timeline"].as_array().unwrap().last().unwrap()["actor"],
        "system"
    );

    // One investigation was queued, for the one new incident.
    let org = app.store.list_orgs().await.unwrap()[0].id;
    let jobs = app.store.list_jobs(org, &Default::default()).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, "investigate");
}

#[tokio::test]
async fn a_retried_delivery_is_answered_again_and_stored_once() {
    let (app, _, token, source) = set_up().await;
    let first: Value = deliver(&app, &source, &source.secret, FIRING)
        .await
        .json()
        .await
        .unwrap();
    let retry = deliver(&app, &source, &source.secret, FIRING).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["replayed"], true);
    assert_eq!(retry["new_incidents"], first["new_incidents"]);
    assert_eq!(retry["delivery_id"], first["delivery_id"]);

    let (_, list) = get_json(&app, &token, "/api/v1/incidents").await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    let incident = list["incidents"][0]["id"].as_str().unwrap();
    let (_, detail) = get_json(&app, &token, &format!("/api/v1/incidents/{incident}")).await;
    assert!(
        detail["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["repeat_count"] == 0)
    );
}

#[tokio::test]
async fn bad_credentials_are_refused_and_store_nothing() {
    let (app, _, token, source) = set_up().await;
    let wrong = deliver(&app, &source, "not-the-secret", FIRING).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&wrong.json().await.unwrap()),
        "invalid_credentials"
    );

    // An Aurora API token is not a source credential either.
    let api_token = deliver(&app, &source, &token, FIRING).await;
    assert_eq!(api_token.status(), StatusCode::UNAUTHORIZED);

    let missing = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .header("content-type", "application/json")
        .body(FIRING)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&missing.json().await.unwrap()),
        "missing_signature"
    );

    let unknown = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", SourceId::new())))
        .bearer_auth(&source.secret)
        .body(FIRING)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_code(&unknown.json().await.unwrap()),
        "source_not_found"
    );

    let (_, list) = get_json(&app, &token, "/api/v1/incidents").await;
    assert!(list["incidents"].as_array().unwrap().is_empty());
    let source_id: SourceId = source.id.parse().unwrap();
    let org = app.store.list_orgs().await.unwrap()[0].id;
    assert!(
        app.store
            .list_deliveries(org, source_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unreadable_deliveries_get_the_parsers_code() {
    let (app, _, token, source) = set_up().await;
    let malformed = deliver(&app, &source, &source.secret, "{\"version\": ").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&malformed.json().await.unwrap()),
        "malformed_json"
    );

    let missing = deliver(&app, &source, &source.secret, r#"{"version": "4"}"#).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&missing.json().await.unwrap()), "missing_field");

    let form = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .bearer_auth(&source.secret)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(FIRING)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        error_code(&form.json().await.unwrap()),
        "unsupported_media_type"
    );

    let (_, list) = get_json(&app, &token, "/api/v1/incidents").await;
    assert!(list["incidents"].as_array().unwrap().is_empty());
    // Authenticated but unreadable deliveries are recorded with their code.
    let org = app.store.list_orgs().await.unwrap()[0].id;
    let codes: Vec<Option<String>> = app
        .store
        .list_deliveries(org, source.id.parse().unwrap(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.error_code)
        .collect();
    assert_eq!(codes.len(), 2);
    assert!(codes.contains(&Some("malformed_json".into())));
}

/// A delivery of `n` firing alerts of one service, each with its own instance and
/// fingerprint.
fn big_delivery(n: usize) -> String {
    let mut body: Value = serde_json::from_str(FIRING).unwrap();
    let template = body["alerts"][0].clone();
    let alerts = (0..n)
        .map(|i| {
            let mut alert = template.clone();
            alert["labels"]["instance"] = json!(format!("10.{}.{}.1:9100", i / 256, i % 256));
            alert["fingerprint"] = json!(format!("{i:016x}"));
            alert
        })
        .collect();
    body["alerts"] = Value::Array(alerts);
    body.to_string()
}

#[tokio::test]
async fn webhooks_have_their_own_body_limit_and_the_api_keeps_its_own() {
    let app = spawn_app_with(|s| {
        s.server.max_body_bytes = 1024;
        s.signals.max_delivery_bytes = 64 * 1024;
    })
    .await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let source = create_source(&app, &token).await;

    // Over the API's limit, under the webhooks': accepted.
    assert!(FIRING.len() > 1024);
    let response = deliver(&app, &source, &source.secret, FIRING).await;
    assert_eq!(response.status(), StatusCode::OK);

    // The rest of the API keeps `server.max_body_bytes`.
    let response = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "generic", "name": "x".repeat(2048)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Over the webhooks' limit: 413, declared or not, and nothing stored.
    let big = big_delivery(200);
    assert!(big.len() > 64 * 1024);
    let response = deliver(&app, &source, &source.secret, &big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "payload_too_large"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .as_bytes()
        .chunks(8 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let response = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .bearer_auth(&source.secret)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "payload_too_large"
    );
    let (_, deliveries) = get_json(
        &app,
        &token,
        &format!("/api/v1/sources/{}/deliveries", source.id),
    )
    .await;
    assert_eq!(deliveries.as_array().unwrap().len(), 1, "{deliveries}");
    let (_, incidents) = get_json(&app, &token, "/api/v1/incidents").await;
    let incident = &incidents["incidents"][0]["id"];
    let (_, detail) = get_json(
        &app,
        &token,
        &format!("/api/v1/incidents/{}", incident.as_str().unwrap()),
    )
    .await;
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 3);
}

/// Follows the `next` cursors from `path` (which has a query) and counts the items under `key`
/// on all the pages.
async fn count_pages(app: &TestApp, token: &str, path: &str, key: &str) -> usize {
    let mut items = 0;
    let mut url = path.to_owned();
    loop {
        let (status, page) = get_json(app, token, &url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        items += page[key].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(next) => url = format!("{path}&cursor={next}"),
            None => return items,
        }
    }
}

#[tokio::test]
async fn one_delivery_of_10000_alerts_is_accepted_and_stored_whole() {
    // Acceptance, not speed, is what this checks: a debug build on a loaded PostgreSQL may need
    // more than the default `signals.delivery_timeout` for 10,000 alerts in one transaction.
    let app =
        spawn_app_with(|s| s.signals.delivery_timeout = std::time::Duration::from_secs(600)).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let source = create_source(&app, &token).await;
    let body = big_delivery(10_000);
    // Far above the API's body limit, within the webhooks' default.
    assert!(body.len() > app.settings.server.max_body_bytes);
    assert!(body.len() < app.settings.signals.max_delivery_bytes);
    let response = deliver(&app, &source, &source.secret, &body).await;
    let status = response.status();
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["alerts"], 10_000);
    assert_eq!(outcome["new_alerts"], 10_000);
    // One service and environment: grouped into one incident.
    assert_eq!(outcome["new_incidents"].as_array().unwrap().len(), 1);
    let incident = outcome["new_incidents"][0].as_str().unwrap();
    let (status, detail) = get_json(&app, &token, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(status, StatusCode::OK);
    // The detail stays small: the first 200 alerts and the latest 500 timeline entries, with
    // the totals; the alerts list pages through the rest.
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 200);
    assert_eq!(detail["alerts_total"], 10_000);
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 500);
    assert_eq!(
        detail["timeline_total"], 10_001,
        "opened, then one entry per alert"
    );
    let alerts = format!("/api/v1/alerts?incident={incident}&limit=200");
    assert_eq!(count_pages(&app, &token, &alerts, "alerts").await, 10_000);
    let timeline = format!("/api/v1/incidents/{incident}/timeline?limit=500");
    assert_eq!(count_pages(&app, &token, &timeline, "events").await, 10_001);
    let (status, error) = get_json(
        &app,
        &token,
        &format!("/api/v1/incidents/{incident}/timeline?cursor=nonsense"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = get_json(
        &app,
        &token,
        &format!(
            "/api/v1/incidents/{}/timeline",
            aurora_core::ids::IncidentId::new()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sources_never_show_their_secret_again_and_rotation_keeps_the_old_one_for_a_while() {
    let (app, admin, token, source) = set_up().await;
    let (status, list) = get_json(&app, &token, "/api/v1/sources").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let text = list.to_string();
    assert!(
        !text.contains(&source.secret) && !text.contains("secret://"),
        "{text}"
    );

    let rotated = app
        .client
        .post(app.url(&format!("/api/v1/sources/{}/rotate", source.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, source.secret);
    assert!(rotated["previous_secret_expires_at"].is_string());

    let old = deliver(&app, &source, &source.secret, FIRING).await;
    assert_eq!(
        old.status(),
        StatusCode::OK,
        "the old secret is valid during the grace period"
    );
    let new = deliver(&app, &source, &new_secret, &firing_again()).await;
    assert_eq!(new.status(), StatusCode::OK);

    // Only admins create or rotate sources; unknown kinds and bad input are refused.
    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let refused = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&viewer_token)
        .json(&json!({"kind": "generic", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    for (body, status, code) in [
        (
            json!({"kind": "nagios", "name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            json!({"kind": "generic", "name": " "}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/sources"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(error_code(&response.json().await.unwrap()), code, "{body}");
    }
}

#[tokio::test]
async fn people_work_incidents_by_role_within_their_org() {
    let (app, admin, token, source) = set_up().await;
    let outcome: Value = deliver(&app, &source, &source.secret, FIRING)
        .await
        .json()
        .await
        .unwrap();
    let incident = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{incident}");

    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let (status, _) = get_json(&app, &viewer_token, &path).await;
    assert_eq!(status, StatusCode::OK, "viewers read");
    let patch = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&viewer_token)
        .json(&json!({"status": "investigating"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&patch.json().await.unwrap()), "forbidden");

    let editor = app
        .create_user(&admin, "editor@example.com", Role::Editor)
        .await;
    let editor_token = app.token_for(&editor).await;
    let patch = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&editor_token)
        .json(&json!({"status": "investigating", "assignee": editor.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::OK);
    let changed: Value = patch.json().await.unwrap();
    assert_eq!(changed["status"], "investigating");
    assert_eq!(changed["assignee"], editor.id.to_string());
    let comment = app
        .client
        .post(app.url(&format!("{path}/comments")))
        .bearer_auth(&editor_token)
        .json(&json!({"text": "looking at the node exporters"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), StatusCode::CREATED);
    let (_, detail) = get_json(&app, &token, &path).await;
    let by_editor: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == format!("user:{}", editor.id))
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(by_editor, ["status_changed", "assignee_changed", "comment"]);

    let empty = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&editor_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    // Another organisation cannot see or change it.
    let other = app.create_org_admin("Globex", "admin@globex.example").await;
    let other_token = app.token_for(&other).await;
    let (status, body) = get_json(&app, &other_token, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "incident_not_found");
    let (_, list) = get_json(&app, &other_token, "/api/v1/incidents").await;
    assert!(list["incidents"].as_array().unwrap().is_empty());
    let patch = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&other_token)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::NOT_FOUND);
    let (_, sources) = get_json(&app, &other_token, "/api/v1/sources").await;
    assert!(sources.as_array().unwrap().is_empty());

    let (status, body) = get_json(&app, &token, "/api/v1/incidents?severity=apocalyptic").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_request");
}
