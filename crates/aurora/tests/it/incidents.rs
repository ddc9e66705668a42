//! Label-based grouping rules, incident merges and the alerts API over HTTP.

use aurora_core::model::Role;
use aurora_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Source {
    id: String,
    secret: String,
}

async fn create_source(app: &TestApp, token: &str) -> Source {
    let response = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(token)
        .json(&json!({"kind": "alertmanager", "name": "prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    Source {
        id: body["id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
    }
}

/// An Alertmanager alert with the given fingerprint and labels.
fn am_alert(fingerprint: &str, labels: Value) -> Value {
    json!({
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": format!("alert {fingerprint}")},
        "startsAt": "2026-05-04T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
        "fingerprint": fingerprint,
    })
}

/// Delivers `alerts` in one Alertmanager webhook; returns the outcome.
async fn deliver(app: &TestApp, source: &Source, alerts: Vec<Value>) -> Value {
    let body = json!({
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "aurora",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    });
    let response = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .bearer_auth(&source.secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn admins_manage_grouping_rules_that_group_alerts_by_label_values() {
    use reqwest::Method;
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let editor = app
        .create_user(&admin, "editor@example.com", Role::Editor)
        .await;
    let editor_token = app.token_for(&editor).await;
    let source = create_source(&app, &token).await;

    let rule =
        json!({"name": "per cluster", "labels": ["cluster", "alertname"], "window_seconds": 600});
    let (status, body) = send(
        &app,
        Method::POST,
        &editor_token,
        "/api/v1/grouping-rules",
        Some(rule.clone()),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let bad = json!({"name": "x", "labels": [], "window_seconds": 600});
    let (status, body) = send(
        &app,
        Method::POST,
        &token,
        "/api/v1/grouping-rules",
        Some(bad),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, created) = send(
        &app,
        Method::POST,
        &token,
        "/api/v1/grouping-rules",
        Some(rule),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["labels"], json!(["alertname", "cluster"]));
    assert_eq!(created["window_seconds"], 600);
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, list) = send(
        &app,
        Method::GET,
        &editor_token,
        "/api/v1/grouping-rules",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([created]));

    // Two services in one cluster with the same alertname: one incident.
    let outcome = deliver(
        &app,
        &source,
        vec![
            am_alert(
                "f1",
                json!({"alertname": "Down", "cluster": "eu-1", "service": "checkout"}),
            ),
            am_alert(
                "f2",
                json!({"alertname": "Down", "cluster": "eu-1", "service": "payments"}),
            ),
            am_alert(
                "f3",
                json!({"alertname": "Down", "cluster": "us-1", "service": "search"}),
            ),
        ],
    )
    .await;
    assert_eq!(
        outcome["new_incidents"].as_array().unwrap().len(),
        2,
        "{outcome}"
    );

    // Deleting: admins only, org-scoped ids, then gone.
    let path = format!("/api/v1/grouping-rules/{id}");
    let (status, _) = send(&app, Method::DELETE, &editor_token, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other_admin = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other_admin).await;
    let (status, body) = send(&app, Method::DELETE, &other_token, &path, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "grouping_rule_not_found")
    );
    let (status, _) = send(&app, Method::DELETE, &token, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(&app, Method::DELETE, &token, &path, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "grouping_rule_not_found")
    );
    let (_, list) = send(&app, Method::GET, &token, "/api/v1/grouping-rules", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn editors_merge_incidents_within_their_org() {
    use reqwest::Method;
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let source = create_source(&app, &token).await;
    let outcome = deliver(
        &app,
        &source,
        vec![
            am_alert(
                "m1",
                json!({"alertname": "Down", "service": "checkout", "severity": "critical"}),
            ),
            am_alert(
                "m2",
                json!({"alertname": "Slow", "service": "payments", "severity": "warning"}),
            ),
        ],
    )
    .await;
    let from = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    let into = outcome["new_incidents"][1].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{from}/merge");

    let (status, body) = send(
        &app,
        Method::POST,
        &viewer_token,
        &path,
        Some(json!({"into": into})),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = send(
        &app,
        Method::POST,
        &token,
        &path,
        Some(json!({"into": from})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    // Another organisation's incident is not found, either way round.
    let other_admin = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other_admin).await;
    let other_source = create_source(&app, &other_token).await;
    let foreign = deliver(
        &app,
        &other_source,
        vec![am_alert("o1", json!({"alertname": "Down", "service": "x"}))],
    )
    .await["new_incidents"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = send(
        &app,
        Method::POST,
        &token,
        &path,
        Some(json!({"into": foreign})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "incident_not_found")
    );
    let (status, body) = send(
        &app,
        Method::POST,
        &other_token,
        &path,
        Some(json!({"into": foreign})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "incident_not_found")
    );

    let (status, merged) = send(
        &app,
        Method::POST,
        &token,
        &path,
        Some(json!({"into": into})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["merged"]["status"], "resolved");
    assert_eq!(merged["merged"]["merged_into"], into.as_str());
    assert_eq!(merged["into"]["severity"], "critical");

    let (_, detail) = send(
        &app,
        Method::GET,
        &token,
        &format!("/api/v1/incidents/{into}"),
        None,
    )
    .await;
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 2);
    let merge_event = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "merged")
        .unwrap();
    assert_eq!(merge_event["actor"], format!("user:{}", admin.id));
    let (_, gone) = send(
        &app,
        Method::GET,
        &token,
        &format!("/api/v1/incidents/{from}"),
        None,
    )
    .await;
    assert_eq!(gone["alerts"], json!([]));
    assert_eq!(gone["timeline"][0]["kind"], "merged");

    // Once only.
    let (status, body) = send(
        &app,
        Method::POST,
        &token,
        &path,
        Some(json!({"into": into})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "incident_merged")
    );
}

#[tokio::test]
async fn alerts_are_listed_filtered_and_paged_within_the_org() {
    use reqwest::Method;
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let source = create_source(&app, &token).await;
    let outcome = deliver(
        &app,
        &source,
        vec![
            am_alert(
                "l1",
                json!({"alertname": "Down", "service": "checkout", "severity": "critical"}),
            ),
            am_alert(
                "l2",
                json!({"alertname": "Slow", "service": "checkout", "severity": "warning"}),
            ),
            am_alert(
                "l3",
                json!({"alertname": "Slow", "service": "search", "severity": "warning"}),
            ),
        ],
    )
    .await;
    let search_incident = outcome["new_incidents"][1].as_str().unwrap().to_owned();
    let other_admin = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other_admin).await;
    let other_source = create_source(&app, &other_token).await;
    deliver(
        &app,
        &other_source,
        vec![am_alert(
            "o1",
            json!({"alertname": "Down", "service": "checkout"}),
        )],
    )
    .await;

    let fingerprints = |page: &Value| -> Vec<String> {
        let mut out: Vec<String> = page["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["fingerprint"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    let (status, all) = send(&app, Method::GET, &viewer_token, "/api/v1/alerts", None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(fingerprints(&all), ["l1", "l2", "l3"]);
    assert_eq!(all["next"], Value::Null);
    let (_, theirs) = send(&app, Method::GET, &other_token, "/api/v1/alerts", None).await;
    assert_eq!(fingerprints(&theirs), ["o1"]);

    for (query, expected) in [
        ("severity=critical", vec!["l1"]),
        ("service=search", vec!["l3"]),
        ("status=resolved", vec![]),
        ("status=firing&service=checkout", vec!["l1", "l2"]),
        (&*format!("incident={search_incident}"), vec!["l3"]),
        (&*format!("source={}", source.id), vec!["l1", "l2", "l3"]),
        (&*format!("source={}", other_source.id), vec![]),
    ] {
        let (status, page) = send(
            &app,
            Method::GET,
            &token,
            &format!("/api/v1/alerts?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(fingerprints(&page), expected, "{query}");
    }

    let (_, first) = send(&app, Method::GET, &token, "/api/v1/alerts?limit=2", None).await;
    assert_eq!(first["alerts"].as_array().unwrap().len(), 2);
    let cursor = first["next"].as_str().unwrap();
    let (_, second) = send(
        &app,
        Method::GET,
        &token,
        &format!("/api/v1/alerts?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(second["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(second["next"], Value::Null);
    let mut seen = fingerprints(&first);
    seen.extend(fingerprints(&second));
    seen.sort();
    assert_eq!(seen, ["l1", "l2", "l3"]);

    for bad in ["status=burning", "source=nope", "cursor=x", "colour=red"] {
        let (status, body) = send(
            &app,
            Method::GET,
            &token,
            &format!("/api/v1/alerts?{bad}"),
            None,
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn editors_merge_from_the_incident_page_with_its_csrf_token() {
    use aurora_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, client, hidden_field};
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let source = create_source(&app, &token).await;
    let outcome = deliver(
        &app,
        &source,
        vec![
            am_alert("u1", json!({"alertname": "Down", "service": "checkout"})),
            am_alert("u2", json!({"alertname": "Slow", "service": "payments"})),
        ],
    )
    .await;
    let from = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    let into = outcome["new_incidents"][1].as_str().unwrap().to_owned();
    let browser = client();
    app.login(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = browser
        .get(app.url(&format!("/incidents/{from}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"merge-form\""), "{page}");
    let csrf = hidden_field(&page, "_csrf").unwrap();
    let merge = app.url(&format!("/incidents/{from}/merge"));

    // Without the CSRF token nothing happens; a bad id is shown on the page.
    let forged = browser
        .post(&merge)
        .form(&[("into", into.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let bad = browser
        .post(&merge)
        .form(&[("_csrf", csrf.as_str()), ("into", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("is not an incident id"));

    let merged = browser
        .post(&merge)
        .form(&[("_csrf", csrf.as_str()), ("into", into.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(merged.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        merged.headers()["location"].to_str().unwrap(),
        format!("/incidents/{into}")
    );
    let page = browser
        .get(app.url(&format!("/incidents/{from}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"incident-merged-into\""), "{page}");
    assert!(!page.contains("id=\"merge-form\""));
    let page = browser
        .get(app.url(&format!("/incidents/{into}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(">Merged</strong>"), "{page}");
}
