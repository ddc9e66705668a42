//! Investigations, approvals, connectors and LLM settings over HTTP. Investigation steps,
//! reports and approvals are written through the store port, as the investigation runtime
//! writes them; every response is checked against the OpenAPI document.

use aurora_core::ids::{IncidentId, InvestigationId};
use aurora_core::investigation::{
    Confidence, EvidenceItem, InvestigationStatus, NewStep, Report, ReportSuspect, StepKind,
};
use aurora_core::model::Role;
use aurora_core::ports::InvestigationStore;
use aurora_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, client, hidden_field, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::openapi::{check, fetch_document};

const FIRING: &str =
    include_str!("../../../aurora-signals/tests/fixtures/alertmanager/firing_group.json");

/// Calls the API as `token`; checks the response against the document when it is JSON.
struct Api<'a> {
    app: &'a TestApp,
    doc: Value,
}

impl Api<'_> {
    async fn call(
        &self,
        method: Method,
        token: &str,
        path: &str,
        template: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .request(method.clone(), self.app.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return (status, Value::Null);
        }
        let body: Value = response.json().await.unwrap();
        check(&self.doc, method.as_str(), template, status, &body);
        (status, body)
    }
}

/// Delivers an Alertmanager alert; returns the incident it opened.
pub(crate) async fn open_incident(app: &TestApp, token: &str) -> IncidentId {
    let source: Value = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(token)
        .json(&json!({"kind": "alertmanager", "name": "prod"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivered = app
        .client
        .post(app.url(&format!(
            "/api/v1/webhooks/{}",
            source["id"].as_str().unwrap()
        )))
        .bearer_auth(source["secret"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(FIRING)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), StatusCode::OK);
    let page: Value = app
        .client
        .get(app.url("/api/v1/incidents?limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A thought, a tool call with its result (a series), and a finding: steps 1 to 4.
async fn record_steps(app: &TestApp, org: aurora_core::ids::OrgId, id: InvestigationId) {
    let now = OffsetDateTime::now_utc();
    let steps = [
        NewStep::new(
            StepKind::Thought,
            json!({"text": "checkout errors rose; look at its latency first"}),
        ),
        NewStep::new(
            StepKind::ToolCall,
            json!({"call_id": "c1", "tool": "prometheus_query_range", "arguments": {"query": "rate(http_requests_total{service=\"checkout\"}[1m])"}}),
        ),
        NewStep::new(
            StepKind::ToolResult,
            json!({"call_id": "c1", "output": {"source": "prometheus \"prod\"", "content": {"resultType": "matrix"}, "series": [
                {"labels": {"__name__": "http_requests_total", "service": "checkout"}, "points": [[1767225000.0, 1.5], [1767225015.0, 9.25]]}
            ]}, "truncated": false}),
        ),
        NewStep::new(
            StepKind::Finding,
            json!({"text": "checkout's error rate jumped at 10:02"}),
        ),
    ];
    for step in steps {
        app.store.append_step(org, id, step, now).await.unwrap();
    }
}

fn report() -> Report {
    Report {
        summary: "Checkout failed after a bad deploy.".into(),
        root_cause: Some("The 10:01 deploy of checkout.".into()),
        confidence: Confidence::Likely,
        suspects: vec![ReportSuspect {
            service: "checkout".into(),
            score: 0.91,
            rank: 1,
            evidence: vec!["error rate x6".into()],
        }],
        evidence: vec![EvidenceItem {
            claim: "The error rate rose six-fold.".into(),
            steps: vec![3],
            source: "prometheus \"prod\"".into(),
        }],
        impact: "Checkout unavailable for 5% of users.".into(),
        timeline: Vec::new(),
        next_steps: vec!["Roll back checkout.".into()],
        method: "agent".into(),
    }
}

#[tokio::test]
async fn investigations_steps_reports_and_roles_over_the_api() {
    let app = spawn_app().await;
    let api = Api {
        doc: fetch_document(&app).await,
        app: &app,
    };
    let admin = app.create_admin().await;
    let admin_token = app.token_for(&admin).await;
    let editor = app
        .create_user(&admin, "ed@example.com", Role::Editor)
        .await;
    let editor_token = app.token_for(&editor).await;
    let viewer = app
        .create_user(&admin, "vi@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let incident = open_incident(&app, &admin_token).await;
    let list_path = format!("/api/v1/incidents/{incident}/investigations");
    let list_template = "/api/v1/incidents/{id}/investigations";

    // A viewer reads but cannot start one.
    let (status, before) = api
        .call(Method::GET, &viewer_token, &list_path, list_template, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api
        .call(Method::POST, &viewer_token, &list_path, list_template, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (status, created) = api
        .call(Method::POST, &editor_token, &list_path, list_template, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["trigger"], "manual");
    assert_eq!(created["requested_by"], json!(editor.id));
    assert_eq!(created["incident_id"], json!(incident));
    let id: InvestigationId = created["id"].as_str().unwrap().parse().unwrap();

    let (_, after) = api
        .call(Method::GET, &viewer_token, &list_path, list_template, None)
        .await;
    assert_eq!(
        after.as_array().unwrap().len(),
        before.as_array().unwrap().len() + 1
    );
    assert_eq!(after[0]["id"], created["id"], "newest first");

    // Steps, as the runtime records them.
    app.store
        .start_investigation(
            admin.org_id,
            id,
            Some("openai/gpt-4o-mini".into()),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    record_steps(&app, admin.org_id, id).await;
    let steps_template = "/api/v1/investigations/{id}/steps";
    let (status, steps) = api
        .call(
            Method::GET,
            &viewer_token,
            &format!("/api/v1/investigations/{id}/steps"),
            steps_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let seqs: Vec<u64> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(steps[1]["kind"], "tool_call");
    assert_eq!(steps[1]["payload"]["tool"], "prometheus_query_range");
    let (_, later) = api
        .call(
            Method::GET,
            &viewer_token,
            &format!("/api/v1/investigations/{id}/steps?after=2"),
            steps_template,
            None,
        )
        .await;
    assert_eq!(later.as_array().unwrap().len(), 2);
    assert_eq!(later[0]["seq"], 3);
    let (status, _) = api
        .call(
            Method::GET,
            &viewer_token,
            &format!("/api/v1/investigations/{id}/steps?after=minus"),
            steps_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // No report yet.
    let markdown_path = format!("/api/v1/investigations/{id}/report.md");
    let response = app
        .client
        .get(app.url(&markdown_path))
        .bearer_auth(&viewer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "report_not_found");

    app.store
        .finish_investigation(
            admin.org_id,
            id,
            InvestigationStatus::Completed,
            Some(&report()),
            None,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let (status, done) = api
        .call(
            Method::GET,
            &viewer_token,
            &format!("/api/v1/investigations/{id}"),
            "/api/v1/investigations/{id}",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["report"]["confidence"], "likely");
    assert_eq!(done["report"]["evidence"][0]["steps"], json!([3]));

    let response = app
        .client
        .get(app.url(&markdown_path))
        .bearer_auth(&viewer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let markdown = response.text().await.unwrap();
    assert_eq!(markdown, report().to_markdown());
    assert!(markdown.contains("[step 3]"), "{markdown}");

    // Cancel: viewers may not; a queued investigation is cancelled at once.
    let (_, queued) = api
        .call(Method::POST, &admin_token, &list_path, list_template, None)
        .await;
    let cancel_path = format!(
        "/api/v1/investigations/{}/cancel",
        queued["id"].as_str().unwrap()
    );
    let cancel_template = "/api/v1/investigations/{id}/cancel";
    let (status, _) = api
        .call(
            Method::POST,
            &viewer_token,
            &cancel_path,
            cancel_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, cancelled) = api
        .call(
            Method::POST,
            &editor_token,
            &cancel_path,
            cancel_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");

    // Unknown and malformed ids.
    for path in [
        format!("/api/v1/investigations/{}", InvestigationId::new()),
        "/api/v1/investigations/not-an-id".to_owned(),
    ] {
        let (status, body) = api
            .call(
                Method::GET,
                &viewer_token,
                &path,
                "/api/v1/investigations/{id}",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "investigation_not_found");
    }
    let (status, body) = api
        .call(
            Method::GET,
            &viewer_token,
            &format!("/api/v1/incidents/{}/investigations", IncidentId::new()),
            list_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "incident_not_found");

    // Another organisation sees none of it.
    let other = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other).await;
    for (path, template) in [
        (
            format!("/api/v1/investigations/{id}"),
            "/api/v1/investigations/{id}",
        ),
        (format!("/api/v1/investigations/{id}/steps"), steps_template),
        (list_path.clone(), list_template),
    ] {
        let (status, _) = api
            .call(Method::GET, &other_token, &path, template, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = api
        .call(Method::POST, &other_token, &list_path, list_template, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn approvals_record_who_decided_and_stay_in_their_organisation() {
    let app = spawn_app().await;
    let api = Api {
        doc: fetch_document(&app).await,
        app: &app,
    };
    let admin = app.create_admin().await;
    let admin_token = app.token_for(&admin).await;
    let editor = app
        .create_user(&admin, "ed@example.com", Role::Editor)
        .await;
    let editor_token = app.token_for(&editor).await;
    let viewer = app
        .create_user(&admin, "vi@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let incident = open_incident(&app, &admin_token).await;
    let (investigation, _) = app
        .store
        .enqueue_investigation(admin.org_id, Some(incident), "manual", None)
        .await
        .unwrap();
    record_steps(&app, admin.org_id, investigation.id).await;
    let arguments = json!({"deployment": "checkout", "replicas": 4});
    let first = app
        .store
        .create_approval(
            admin.org_id,
            investigation.id,
            2,
            "kubernetes_scale",
            &arguments,
        )
        .await
        .unwrap();

    let (status, pending) = api
        .call(
            Method::GET,
            &viewer_token,
            "/api/v1/approvals?status=pending",
            "/api/v1/approvals",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["tool"], "kubernetes_scale");
    assert_eq!(pending[0]["arguments"], arguments);

    let approve = format!("/api/v1/approvals/{}/approve", first.id);
    let reject = format!("/api/v1/approvals/{}/reject", first.id);
    let (status, _) = api
        .call(
            Method::POST,
            &viewer_token,
            &approve,
            "/api/v1/approvals/{id}/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another organisation cannot see or decide it.
    let other = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other).await;
    let (_, theirs) = api
        .call(
            Method::GET,
            &other_token,
            "/api/v1/approvals",
            "/api/v1/approvals",
            None,
        )
        .await;
    assert_eq!(theirs, json!([]));
    let (status, body) = api
        .call(
            Method::POST,
            &other_token,
            &approve,
            "/api/v1/approvals/{id}/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "approval_not_found");

    let (status, rejected) = api
        .call(
            Method::POST,
            &editor_token,
            &reject,
            "/api/v1/approvals/{id}/reject",
            Some(json!({"reason": "not during peak traffic"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decided_by"], json!(editor.id));
    assert_eq!(rejected["reason"], "not during peak traffic");
    let stored = app
        .store
        .get_approval(admin.org_id, first.id)
        .await
        .unwrap();
    assert_eq!(stored.decided_by, Some(editor.id));

    let (status, body) = api
        .call(
            Method::POST,
            &admin_token,
            &approve,
            "/api/v1/approvals/{id}/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "approval_decided");

    // An approval without a body.
    let call = app
        .store
        .append_step(
            admin.org_id,
            investigation.id,
            NewStep::new(
                StepKind::ToolCall,
                json!({"call_id": "c2", "tool": "kubernetes_restart", "arguments": {}}),
            ),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let second = app
        .store
        .create_approval(
            admin.org_id,
            investigation.id,
            call.seq,
            "kubernetes_restart",
            &json!({}),
        )
        .await
        .unwrap();
    let (status, approved) = api
        .call(
            Method::POST,
            &editor_token,
            &format!("/api/v1/approvals/{}/approve", second.id),
            "/api/v1/approvals/{id}/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    let (_, pending) = api
        .call(
            Method::GET,
            &viewer_token,
            "/api/v1/approvals",
            "/api/v1/approvals",
            None,
        )
        .await;
    assert_eq!(pending, json!([]));
}

#[tokio::test]
async fn connectors_keep_their_secrets_and_are_checked_before_use() {
    let app = spawn_app().await;
    let api = Api {
        doc: fetch_document(&app).await,
        app: &app,
    };
    let admin = app.create_admin().await;
    let admin_token = app.token_for(&admin).await;
    let editor = app
        .create_user(&admin, "ed@example.com", Role::Editor)
        .await;
    let editor_token = app.token_for(&editor).await;

    let (status, kinds) = api
        .call(
            Method::GET,
            &editor_token,
            "/api/v1/connector-kinds",
            "/api/v1/connector-kinds",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prometheus", "alertmanager", "snapshot"]);

    // A snapshot directory with one recorded case.
    let snapshots = tempfile::tempdir().unwrap();
    let case = aurora_analysis::synth::generate(&aurora_analysis::synth::SynthOptions {
        seed: 3,
        ..Default::default()
    });
    aurora_analysis::synth::write_case(&case, &snapshots.path().join(case.case_name())).unwrap();
    let create = |body: Value, token: &str| {
        let token = token.to_owned();
        let api = &api;
        async move {
            api.call(
                Method::POST,
                &token,
                "/api/v1/connectors",
                "/api/v1/connectors",
                Some(body),
            )
            .await
        }
    };
    let snapshot_body =
        json!({"kind": "snapshot", "name": "recorded", "config": {"path": snapshots.path()}});
    let (status, _) = create(snapshot_body.clone(), &editor_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let (status, snapshot) = create(snapshot_body.clone(), &admin_token).await;
    assert_eq!(status, StatusCode::CREATED, "{snapshot}");
    let (status, body) = create(snapshot_body, &admin_token).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "connector_exists");

    let test_template = "/api/v1/connectors/{id}/test";
    let (status, tested) = api
        .call(
            Method::POST,
            &editor_token,
            &format!(
                "/api/v1/connectors/{}/test",
                snapshot["id"].as_str().unwrap()
            ),
            test_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tested["last_check"]["ok"], true, "{tested}");
    assert!(
        tested["last_check"]["message"]
            .as_str()
            .unwrap()
            .contains("1 case"),
        "{tested}"
    );

    // A directory without cases fails its test with a message saying so.
    let empty = tempfile::tempdir().unwrap();
    let (_, hollow) = create(
        json!({"kind": "snapshot", "name": "empty", "config": {"path": empty.path()}}),
        &admin_token,
    )
    .await;
    let (_, tested) = api
        .call(
            Method::POST,
            &editor_token,
            &format!("/api/v1/connectors/{}/test", hollow["id"].as_str().unwrap()),
            test_template,
            None,
        )
        .await;
    assert_eq!(tested["last_check"]["ok"], false, "{tested}");

    // The outbound URL guard refuses the cloud metadata endpoint before anything is stored.
    let (status, body) = create(
        json!({"kind": "prometheus", "name": "meta", "config": {"url": "http://169.254.169.254"}}),
        &admin_token,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_connector_config");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("169.254.169.254"),
        "{body}"
    );
    let (status, body) = create(
        json!({"kind": "prometheus", "name": "bad", "config": {"url": "ftp://prom"}}),
        &admin_token,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("url"));
    let (status, body) = create(
        json!({"kind": "graphite", "name": "g", "config": {}}),
        &admin_token,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prometheus")
    );

    // A bearer token goes to the secret store; no response carries it.
    const TOKEN: &str = "prom-token-do-not-show";
    let (status, prom) = create(
        json!({"kind": "prometheus", "name": "prod", "config": {"url": "http://127.0.0.1:9", "timeout": "2s"}, "secrets": {"token": TOKEN}}),
        &admin_token,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{prom}");
    assert_eq!(prom["secret_fields"], json!(["token"]));
    assert_eq!(prom["config"]["auth"]["type"], "bearer");
    assert!(!prom.to_string().contains(TOKEN));
    let prom_id = prom["id"].as_str().unwrap().to_owned();
    let stored = app
        .store
        .get_connector(admin.org_id, prom_id.parse().unwrap())
        .await
        .unwrap();
    let secret_ref = stored.secret_refs["token"].clone();
    assert_eq!(
        secret_ref.to_string(),
        format!("secret://{}/connectors/{prom_id}/token", admin.org_id)
    );
    let (_, tested) = api
        .call(
            Method::POST,
            &editor_token,
            &format!("/api/v1/connectors/{prom_id}/test"),
            test_template,
            None,
        )
        .await;
    assert_eq!(
        tested["last_check"]["ok"], false,
        "nothing listens on port 9"
    );
    assert!(
        tested["last_check"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{tested}"
    );
    let (_, listed) = api
        .call(
            Method::GET,
            &editor_token,
            "/api/v1/connectors",
            "/api/v1/connectors",
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(!listed.to_string().contains(TOKEN));

    // Deleting removes the connector and its secret.
    let delete = |id: String, token: String| {
        let app = &app;
        async move {
            app.client
                .delete(app.url(&format!("/api/v1/connectors/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        delete(prom_id.clone(), editor_token.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(prom_id.clone(), admin_token.clone()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(prom_id.clone(), admin_token.clone()).await,
        StatusCode::NOT_FOUND
    );
    let secrets = &app.secrets;
    assert!(
        secrets.get(admin.org_id, &secret_ref).await.is_err(),
        "the token is gone from the secret store"
    );

    // Another organisation cannot test or delete them.
    let other = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other).await;
    let (status, _) = api
        .call(
            Method::POST,
            &other_token,
            &format!(
                "/api/v1/connectors/{}/test",
                snapshot["id"].as_str().unwrap()
            ),
            test_template,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        delete(snapshot["id"].as_str().unwrap().to_owned(), other_token).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn llm_settings_keep_the_key_out_of_responses_and_usage_adds_up() {
    let app = spawn_app().await;
    let api = Api {
        doc: fetch_document(&app).await,
        app: &app,
    };
    let admin = app.create_admin().await;
    let admin_token = app.token_for(&admin).await;
    let viewer = app
        .create_user(&admin, "vi@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let path = "/api/v1/settings/llm";

    let (status, unset) = api.call(Method::GET, &viewer_token, path, path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unset["configured"], false);
    assert_eq!(unset["has_api_key"], false);

    const KEY: &str = "sk-test-key-do-not-show";
    let body = json!({"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:8080/v1", "api_key": KEY, "max_steps": 8, "max_cost_per_day_usd": 5.0});
    let (status, _) = api
        .call(Method::PUT, &viewer_token, path, path, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, saved) = api
        .call(Method::PUT, &admin_token, path, path, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["has_api_key"], true);
    assert_eq!(saved["max_steps"], 8);
    assert_eq!(saved["max_cost_per_day_usd"], 5.0);
    assert!(!saved.to_string().contains(KEY));
    let (_, read) = api.call(Method::GET, &viewer_token, path, path, None).await;
    assert_eq!(read, saved);
    assert_eq!(read["provider"], "openai");

    let stored = app
        .store
        .get_llm_settings(admin.org_id)
        .await
        .unwrap()
        .unwrap();
    let key_ref = stored.api_key_ref.clone().unwrap();
    let secret = app.secrets.get(admin.org_id, &key_ref).await.unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), KEY);

    // Saving without a key keeps the stored one; clear_api_key forgets it.
    let (_, kept) = api
        .call(
            Method::PUT,
            &admin_token,
            path,
            path,
            Some(json!({"provider": "anthropic", "model": "claude-sonnet"})),
        )
        .await;
    assert_eq!(kept["has_api_key"], true);
    assert_eq!(kept["max_steps"], 12, "unset limits are the defaults");
    let (status, body) = api
        .call(
            Method::PUT,
            &admin_token,
            path,
            path,
            Some(json!({"provider": "openai", "model": "m", "base_url": "file:///etc"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("base_url")
    );
    let (_, cleared) = api
        .call(
            Method::PUT,
            &admin_token,
            path,
            path,
            Some(json!({"provider": "ollama", "model": "llama3", "clear_api_key": true})),
        )
        .await;
    assert_eq!(cleared["has_api_key"], false);
    assert!(app.secrets.get(admin.org_id, &key_ref).await.is_err());

    // Usage: the steps' tokens and cost, per organisation.
    let (investigation, _) = app
        .store
        .enqueue_investigation(admin.org_id, None, "cli", None)
        .await
        .unwrap();
    let mut step = NewStep::new(StepKind::Thought, json!({"text": "thinking"}));
    step.usage.input_tokens = 1200;
    step.usage.output_tokens = 300;
    step.cost_usd = 0.25;
    app.store
        .append_step(
            admin.org_id,
            investigation.id,
            step,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let (status, usage) = api
        .call(
            Method::GET,
            &viewer_token,
            "/api/v1/usage?days=1",
            "/api/v1/usage",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["days"], 1);
    assert_eq!(usage["investigations"], 1);
    assert_eq!(usage["usage"]["input_tokens"], 1200);
    assert_eq!(usage["usage"]["output_tokens"], 300);
    assert_eq!(usage["cost_usd"], 0.25);
    let other = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other).await;
    let (_, theirs) = api
        .call(
            Method::GET,
            &other_token,
            "/api/v1/usage",
            "/api/v1/usage",
            None,
        )
        .await;
    assert_eq!(theirs["investigations"], 0);
    assert_eq!(theirs["days"], 30);
    let (status, _) = api
        .call(
            Method::GET,
            &viewer_token,
            "/api/v1/usage?days=0",
            "/api/v1/usage",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A signed-in browser without JavaScript: the page's text and the CSRF token of its forms.
async fn page(browser: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = browser.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_incident_page_shows_the_investigation_its_approvals_and_its_report() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    app.create_user(&admin, "vi@example.com", Role::Viewer)
        .await;
    let incident = open_incident(&app, &token).await;
    let browser = client();
    app.login(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let viewer = client();
    app.login(&viewer, "vi@example.com", ADMIN_PASSWORD).await;
    let path = format!("/incidents/{incident}");

    let (status, html) = page(&viewer, &app, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"incident-investigation\""));
    assert!(
        html.contains("sse:investigation_updated"),
        "the section follows the live events"
    );
    assert!(
        !html.contains("id=\"reinvestigate\""),
        "viewers cannot start one"
    );

    // Re-investigate through the page's form, as a browser without JavaScript does.
    let (_, html) = page(&browser, &app, &path).await;
    let csrf = hidden_field(&html, "_csrf").unwrap();
    let response = browser
        .post(app.url(&format!("{path}/investigations")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let latest = app
        .store
        .latest_for_incident(admin.org_id, incident)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.trigger, "manual");
    assert_eq!(latest.requested_by, Some(admin.id));
    record_steps(&app, admin.org_id, latest.id).await;
    let approval = app
        .store
        .create_approval(
            admin.org_id,
            latest.id,
            2,
            "kubernetes_scale",
            &json!({"replicas": 4}),
        )
        .await
        .unwrap();

    let (_, html) = page(&browser, &app, &path).await;
    for step in 1..=4 {
        assert!(html.contains(&format!("id=\"step-{step}\"")), "step {step}");
    }
    assert!(html.contains("checkout errors rose; look at its latency first"));
    assert!(html.contains("prometheus_query_range"));
    assert!(
        html.contains("<details id=\"step-2-detail\">"),
        "calls are collapsible"
    );
    assert!(
        html.contains("class=\"series-chart\" data-series=\""),
        "a chart of the series"
    );
    assert!(html.contains("/static/") && html.contains("uPlot.iife.min.js"));
    assert!(html.contains(&format!("id=\"approval-{}\"", approval.id)));
    assert!(html.contains("class=\"btn btn-primary btn-small approve\""));
    let (_, seen_by_viewer) = page(&viewer, &app, &path).await;
    assert!(seen_by_viewer.contains(&format!("id=\"approval-{}\"", approval.id)));
    assert!(!seen_by_viewer.contains("btn-small approve"));

    // Reject through the page.
    let response = browser
        .post(app.url(&format!("{path}/approvals/{}/reject", approval.id)))
        .form(&[("_csrf", csrf.as_str()), ("reason", "not now")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let decided = app
        .store
        .get_approval(admin.org_id, approval.id)
        .await
        .unwrap();
    assert_eq!(decided.decided_by, Some(admin.id));
    assert_eq!(decided.reason.as_deref(), Some("not now"));
    let viewer_csrf = hidden_field(&seen_by_viewer, "_csrf").unwrap();
    let response = viewer
        .post(app.url(&format!("{path}/investigations")))
        .form(&[("_csrf", viewer_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The report, its citations linked to the steps.
    let mut with_citation = report();
    with_citation.summary = "Checkout failed after a bad deploy [step 4].".into();
    app.store
        .finish_investigation(
            admin.org_id,
            latest.id,
            InvestigationStatus::Completed,
            Some(&with_citation),
            None,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let (_, html) = page(&viewer, &app, &path).await;
    assert!(html.contains("id=\"investigation-report\""));
    assert!(html.contains("<a href=\"#step-4\" class=\"cite\">[step 4]</a>"));
    assert!(html.contains("<a href=\"#step-3\" class=\"cite\">[step 3]</a>"));
    assert!(html.contains("Roll back checkout."));
    assert!(html.contains(&format!("/api/v1/investigations/{}/report.md", latest.id)));
}

#[tokio::test]
async fn connectors_and_llm_settings_pages_work_without_javascript() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let browser = client();
    app.login(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app.create_user(&admin, "vi@example.com", Role::Viewer)
        .await;
    let viewer = client();
    app.login(&viewer, "vi@example.com", ADMIN_PASSWORD).await;

    let (status, html) = page(&browser, &app, "/settings/connectors").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"add-prometheus\"") && html.contains("id=\"add-snapshot\""));
    assert!(
        html.contains("http://prometheus.monitoring:9090"),
        "the example config"
    );
    let csrf = hidden_field(&html, "_csrf").unwrap();

    // A refused URL comes back with the form as it was and what to fix.
    let response = browser
        .post(app.url("/settings/connectors"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "prometheus"),
            ("name", "meta"),
            ("config", r#"{"url": "http://169.254.169.254"}"#),
            ("secret_token", "tok-never-shown"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("169.254.169.254") && html.contains("connector-error"));
    assert!(!html.contains("tok-never-shown"));

    let snapshots = tempfile::tempdir().unwrap();
    let case = aurora_analysis::synth::generate(&aurora_analysis::synth::SynthOptions::default());
    aurora_analysis::synth::write_case(&case, &snapshots.path().join(case.case_name())).unwrap();
    let config = json!({"path": snapshots.path()}).to_string();
    let response = browser
        .post(app.url("/settings/connectors"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "snapshot"),
            ("name", "recorded"),
            ("config", config.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let connector = app.store.list_connectors(admin.org_id).await.unwrap();
    assert_eq!(connector.len(), 1);
    let id = connector[0].id;
    let response = browser
        .post(app.url(&format!("/settings/connectors/{id}/test")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&browser, &app, "/settings/connectors").await;
    assert!(html.contains("✓ OK"), "{html}");
    let (_, seen_by_viewer) = page(&viewer, &app, "/settings/connectors").await;
    assert!(seen_by_viewer.contains("recorded"));
    assert!(!seen_by_viewer.contains("delete-connector"));
    let response = browser
        .post(app.url(&format!("/settings/connectors/{id}/delete")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        app.store
            .list_connectors(admin.org_id)
            .await
            .unwrap()
            .is_empty()
    );

    // LLM settings: the key is stored, never shown.
    let (status, html) = page(&browser, &app, "/settings/llm").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"llm-unset\""));
    assert!(html.contains("Last 30 days"));
    let response = browser
        .post(app.url("/settings/llm"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("provider", "openai"),
            ("model", "gpt-4o-mini"),
            ("base_url", ""),
            ("api_key", "sk-page-key-never-shown"),
            ("max_steps", "9"),
            ("max_tokens_per_investigation", "100000"),
            ("max_cost_per_investigation_usd", "0.5"),
            ("max_cost_per_day_usd", "10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&browser, &app, "/settings/llm?saved=1").await;
    assert!(html.contains("id=\"llm-saved\""));
    assert!(html.contains("value=\"gpt-4o-mini\"") && html.contains("value=\"9\""));
    assert!(html.contains("<span id=\"llm-key-state\">stored</span>"));
    assert!(!html.contains("sk-page-key-never-shown"));
    let response = browser
        .post(app.url("/settings/llm"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("provider", "openai"),
            ("model", "gpt-4o-mini"),
            ("api_key", "sk-another-never-shown"),
            ("max_steps", "lots"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("Max steps must be a number"));
    assert!(!html.contains("sk-another-never-shown"));
    let viewer_csrf = hidden_field(&seen_by_viewer, "_csrf").unwrap();
    let response = viewer
        .post(app.url("/settings/llm"))
        .form(&[
            ("_csrf", viewer_csrf.as_str()),
            ("provider", "x"),
            ("model", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
