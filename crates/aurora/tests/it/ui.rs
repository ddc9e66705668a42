//! The incident and settings pages over HTTP, as a browser without JavaScript sees them, and the
//! live event stream the incident list listens to.

use std::time::Duration;

use aurora_core::model::{Role, User};
use aurora_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, client, hidden_field, spawn_app};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FIRING: &str =
    include_str!("../../../aurora-signals/tests/fixtures/alertmanager/firing_group.json");

/// One Alertmanager alert of its own alert name, service and severity.
fn one_alert(name: &str, service: &str, severity: &str) -> String {
    let mut body: Value = serde_json::from_str(FIRING).unwrap();
    let mut alert = body["alerts"][0].clone();
    alert["labels"]["alertname"] = json!(name);
    alert["labels"]["service"] = json!(service);
    alert["labels"]["severity"] = json!(severity);
    alert["annotations"]["summary"] = json!(format!("{name} on {service}"));
    alert["fingerprint"] = json!(format!("{name}-{service}"));
    body["alerts"] = json!([alert]);
    body["groupKey"] = json!(name);
    body.to_string()
}

struct Setup {
    app: TestApp,
    admin: User,
    token: String,
    source_id: String,
    secret: String,
    /// Signed in as the admin.
    browser: reqwest::Client,
}

async fn set_up() -> Setup {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let source: Value = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "prod alertmanager"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = client();
    app.login(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    Setup {
        source_id: source["id"].as_str().unwrap().to_owned(),
        secret: source["secret"].as_str().unwrap().to_owned(),
        app,
        admin,
        token,
        browser,
    }
}

impl Setup {
    /// Delivers `body` and returns the first new incident's id, if one opened.
    async fn deliver(&self, body: &str) -> Option<String> {
        let response = client()
            .post(
                self.app
                    .url(&format!("/api/v1/webhooks/{}", self.source_id)),
            )
            .bearer_auth(&self.secret)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let outcome: Value = response.json().await.unwrap();
        outcome["new_incidents"][0].as_str().map(str::to_owned)
    }

    async fn page(&self, client: &reqwest::Client, path: &str) -> (StatusCode, String) {
        let response = client.get(self.app.url(path)).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn signed_in(&self, email: &str, role: Role) -> reqwest::Client {
        self.app.create_user(&self.admin, email, role).await;
        let browser = client();
        self.app.login(&browser, email, ADMIN_PASSWORD).await;
        browser
    }
}

#[tokio::test]
async fn the_incident_list_filters_pages_and_serves_its_partial_to_htmx() {
    let s = set_up().await;
    let (status, empty) = s.page(&s.browser, "/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty.contains("No incidents"), "{empty}");
    assert!(empty.contains("sse-connect=\"/incidents/events\""));

    s.deliver(&one_alert("DiskFull", "checkout", "critical"))
        .await
        .unwrap();
    s.deliver(&one_alert("HighLatency", "payments", "warning"))
        .await
        .unwrap();

    let (_, all) = s.page(&s.browser, "/incidents").await;
    assert!(all.contains("DiskFull on checkout"), "{all}");
    assert!(all.contains("HighLatency on payments"));
    assert!(all.contains("badge sev sev-critical"));
    assert!(all.contains("badge st st-open"));

    let (_, payments) = s.page(&s.browser, "/incidents?service=payments").await;
    assert!(payments.contains("HighLatency on payments"));
    assert!(!payments.contains("DiskFull on checkout"));
    assert!(
        payments.contains("value=\"payments\""),
        "the form keeps the filter"
    );

    let (_, critical) = s.page(&s.browser, "/incidents?severity=critical").await;
    assert!(critical.contains("DiskFull on checkout"));
    assert!(!critical.contains("HighLatency on payments"));

    let (_, text) = s.page(&s.browser, "/incidents?q=latency&status=").await;
    assert!(text.contains("HighLatency on payments"));
    assert!(!text.contains("DiskFull on checkout"));

    let (_, none) = s.page(&s.browser, "/incidents?status=resolved").await;
    assert!(none.contains("No matching incidents"));

    let (status, _) = s.page(&s.browser, "/incidents?status=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // htmx gets only the list, for the live refresh.
    let partial = s
        .browser
        .get(s.app.url("/incidents?service=payments"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        partial
            .trim_start()
            .starts_with("<div id=\"incident-list\">")
    );
    assert!(partial.contains("HighLatency on payments"));
    assert!(!partial.contains("<html"));

    // A page of one has an "Older" link to the next page.
    let (_, first) = s.page(&s.browser, "/incidents?cursor=").await;
    assert!(!first.contains("id=\"older\""));
    let cursor_page = s
        .browser
        .get(s.app.url("/api/v1/incidents?limit=1"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let next = cursor_page["next"].as_str().unwrap();
    let (_, older) = s
        .page(&s.browser, &format!("/incidents?cursor={next}"))
        .await;
    assert!(older.contains("DiskFull on checkout"), "{older}");
    assert!(!older.contains("HighLatency on payments"));
    assert!(older.contains(">Newest</a>"));

    // The dashboard counts open incidents.
    let (_, dashboard) = s.page(&s.browser, "/").await;
    assert!(
        dashboard.contains("id=\"count-open\"><span class=\"stat-n\">2</span>"),
        "{dashboard}"
    );

    // Signed out, the list sends you to sign in.
    let anonymous = client().get(s.app.url("/incidents")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_alert_storm_incident_page_shows_the_first_alerts_and_says_how_many_there_are() {
    let s = set_up().await;
    let mut body: Value = serde_json::from_str(FIRING).unwrap();
    let template = body["alerts"][0].clone();
    body["alerts"] = (0..250)
        .map(|i| {
            let mut alert = template.clone();
            alert["labels"]["instance"] = json!(format!("10.0.{i}.1:9100"));
            alert["fingerprint"] = json!(format!("storm-{i:03}"));
            alert
        })
        .collect();
    let id = s.deliver(&body.to_string()).await.unwrap();

    let (status, page) = s.page(&s.browser, &format!("/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Alerts <span class=\"count\">250</span>"),
        "{page}"
    );
    assert_eq!(page.matches("class=\"alert-row\"").count(), 200);
    assert!(page.contains("The first 200 of 250 alerts."));
    assert!(page.contains(&format!("GET /api/v1/alerts?incident={id}")));
    // 251 timeline entries: all shown, so no note about the timeline.
    assert!(!page.contains("id=\"timeline-cut\""));
}

#[tokio::test]
async fn the_incident_page_shows_alerts_and_timeline_and_editors_change_it() {
    let s = set_up().await;
    let id = s.deliver(FIRING).await.unwrap();
    let path = format!("/incidents/{id}");

    let (status, page) = s.page(&s.browser, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"incident-title\""));
    assert!(page.contains("10.0.0.1:9100"), "labels are shown");
    assert!(page.contains("https://runbooks.example/instance-down"));
    assert!(page.contains("prod alertmanager"), "the source by name");
    assert!(page.contains(">Opened</strong>"));
    assert!(page.contains("id=\"incident-controls\""));
    assert!(page.contains(">checkout<"));

    let csrf = hidden_field(&page, "_csrf").unwrap();
    let changed = s
        .browser
        .post(s.app.url(&path))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("status", "investigating"),
            ("severity", "critical"),
            ("assignee", &s.admin.id.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let comment = s
        .browser
        .post(s.app.url(&format!("{path}/comments")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("text", "<script>alert(1)</script> restarted the node"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), StatusCode::SEE_OTHER);

    let (_, page) = s.page(&s.browser, &path).await;
    assert!(page.contains("id=\"incident-status\">investigating<"));
    assert!(page.contains("id=\"incident-assignee\">Ada Admin<"));
    assert!(page.contains("open → investigating"));
    assert!(page.contains("nobody → Ada Admin"));
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62; restarted the node"));
    assert!(!page.contains("<script>alert(1)"));

    // With htmx, the change answers with the incident part only.
    let partial = s
        .browser
        .post(s.app.url(&path))
        .header("hx-request", "true")
        .header("x-csrf-token", &csrf)
        .form(&[("status", "mitigated")])
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::OK);
    let partial = partial.text().await.unwrap();
    assert!(partial.starts_with("<div id=\"incident\""), "{partial}");
    assert!(partial.contains("id=\"incident-status\">mitigated<"));

    // Without the CSRF token, nothing changes.
    let forged = s
        .browser
        .post(s.app.url(&path))
        .form(&[("status", "resolved")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // An empty comment is refused with the reason on the page.
    let empty = s
        .browser
        .post(s.app.url(&format!("{path}/comments")))
        .form(&[("_csrf", csrf.as_str()), ("text", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(empty.text().await.unwrap().contains("alert-error"));

    let (status, _) = s.page(&s.browser, "/incidents/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn viewers_read_incidents_only_and_other_organisations_see_none() {
    let s = set_up().await;
    let id = s.deliver(FIRING).await.unwrap();
    let path = format!("/incidents/{id}");

    let viewer = s.signed_in("viewer@example.com", Role::Viewer).await;
    let (status, page) = s.page(&viewer, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"read-only\""));
    assert!(!page.contains("id=\"incident-controls\""));
    let csrf = hidden_field(&page, "_csrf").unwrap();
    let refused = viewer
        .post(s.app.url(&path))
        .form(&[("_csrf", csrf.as_str()), ("status", "resolved")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = viewer
        .post(s.app.url(&format!("{path}/comments")))
        .form(&[("_csrf", csrf.as_str()), ("text", "hello")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (_, settings) = s.page(&viewer, "/settings").await;
    assert!(settings.contains("prod alertmanager"));
    assert!(!settings.contains("id=\"create-source\""));
    assert!(!settings.contains("Rotate secret"));

    s.app
        .create_org_admin("Globex", "hank@globex.example")
        .await;
    let other = client();
    s.app
        .login(&other, "hank@globex.example", ADMIN_PASSWORD)
        .await;
    let (status, _) = s.page(&other, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = s.page(&other, "/incidents").await;
    assert!(!list.contains(&id));
    assert!(list.contains("No incidents"));
    let (_, settings) = s.page(&other, "/settings").await;
    assert!(!settings.contains("prod alertmanager"));
    let deliveries = other
        .get(
            s.app
                .url(&format!("/api/v1/sources/{}/deliveries", s.source_id)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deliveries.status(), StatusCode::NOT_FOUND);
}

/// Reads the stream until `want` has arrived, for at most ten seconds.
async fn read_until(response: reqwest::Response, want: &str) -> String {
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains(want) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    seen
}

#[tokio::test]
async fn the_event_stream_tells_the_organisation_about_a_delivery() {
    let s = set_up().await;
    let events = s
        .browser
        .get(s.app.url("/incidents/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    // Another organisation's stream stays quiet.
    s.app
        .create_org_admin("Globex", "hank@globex.example")
        .await;
    let other = client();
    s.app
        .login(&other, "hank@globex.example", ADMIN_PASSWORD)
        .await;
    let theirs = other
        .get(s.app.url("/incidents/events"))
        .send()
        .await
        .unwrap();

    let id = s.deliver(FIRING).await.unwrap();
    let seen = read_until(events, "event: alert_received").await;
    // Opening with `resync` makes a page re-read what it shows: nothing published between its
    // render and its subscription is missed.
    assert!(seen.starts_with("event: resync\ndata: {}\n\n"), "{seen}");
    assert!(
        seen.contains(&format!(
            "event: incident_opened\ndata: {{\"kind\":\"incident_opened\",\"incident\":\"{id}\"}}"
        )),
        "{seen}"
    );
    assert!(seen.contains("event: alert_received"), "{seen}");

    // A stream for one incident leaves out the others'.
    let one = s
        .browser
        .get(s.app.url(&format!("/incidents/events?incident={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    let bad = s
        .browser
        .get(s.app.url("/incidents/events?incident=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
    let other_incident = s
        .deliver(&one_alert("DiskFull", "payments", "low"))
        .await
        .unwrap();
    let seen = read_until(one, "event: alert_received").await;
    assert!(!seen.contains(&other_incident), "{seen}");
    assert!(!seen.contains("incident_opened"), "{seen}");

    let mut quiet = theirs.bytes_stream();
    let opening = tokio::time::timeout(Duration::from_secs(5), quiet.next()).await;
    let opening = String::from_utf8_lossy(&opening.unwrap().unwrap().unwrap()).into_owned();
    assert_eq!(opening, "event: resync\ndata: {}\n\n");
    let nothing = tokio::time::timeout(Duration::from_millis(300), quiet.next()).await;
    assert!(nothing.is_err(), "another organisation got {nothing:?}");

    // Signed out, there is no stream.
    let anonymous = client()
        .get(s.app.url("/incidents/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);

    // A person's change through the API is published too.
    let follow = s
        .browser
        .get(s.app.url(&format!("/incidents/events?incident={id}")))
        .send()
        .await
        .unwrap();
    let patched = client()
        .patch(s.app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&s.token)
        .json(&json!({"status": "investigating"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let seen = read_until(follow, "event: incident_updated").await;
    assert!(seen.contains(&format!("\"incident\":\"{id}\"")), "{seen}");

    // Shutting down ends open streams rather than waiting for them.
    let open = s
        .browser
        .get(s.app.url("/incidents/events"))
        .send()
        .await
        .unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), s.app.stop()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    let rest = tokio::time::timeout(Duration::from_secs(5), open.bytes()).await;
    assert!(rest.is_ok(), "the stream did not end");
}

#[tokio::test]
async fn the_settings_page_creates_and_rotates_sources_and_lists_deliveries() {
    let s = set_up().await;
    let (status, page) = s.page(&s.browser, "/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("prod alertmanager"));
    assert!(page.contains("No deliveries yet"));
    assert!(page.contains("Language models and budgets"));
    let csrf = hidden_field(&page, "_csrf").unwrap();

    let created = s
        .browser
        .post(s.app.url("/settings/sources"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "generic"),
            ("name", "ci <pipeline>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let created = created.text().await.unwrap();
    assert!(
        created.contains("Source “ci &#60;pipeline&#62;” created"),
        "{created}"
    );
    assert!(created.contains("X-Aurora-Signature: sha256=$sig"));
    let secret = created
        .split("<code id=\"new-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(
        created.contains(&format!("-hmac &#39;{secret}&#39;")),
        "{created}"
    );

    // The existing source's secret is rotated; the snippet is the Alertmanager receiver.
    let rotated = s
        .browser
        .post(
            s.app
                .url(&format!("/settings/sources/{}/rotate", s.source_id)),
        )
        .header("hx-request", "true")
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rotated.starts_with("<section class=\"card\" id=\"sources\">"));
    assert!(rotated.contains("New secret for “prod alertmanager”"));
    assert!(rotated.contains("receivers:"));
    assert!(rotated.contains("authorization:"));
    assert!(rotated.contains(&format!("/api/v1/webhooks/{}", s.source_id)));

    // The old secret still works during the grace period; deliveries are listed.
    s.deliver(FIRING).await.unwrap();
    let (_, page) = s.page(&s.browser, "/settings").await;
    assert!(page.contains("badge out-accepted"), "{page}");
    let deliveries: Value = s
        .browser
        .get(
            s.app
                .url(&format!("/api/v1/sources/{}/deliveries", s.source_id)),
        )
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries.as_array().unwrap().len(), 1, "{deliveries}");
    assert_eq!(deliveries[0]["outcome"], "accepted");
    assert_eq!(deliveries[0]["alert_count"], 3);

    // A bad kind is explained on the page.
    let bad = s
        .browser
        .post(s.app.url("/settings/sources"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "carrier-pigeon"),
            ("name", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("alert-error"));

    let editor = s.signed_in("editor@example.com", Role::Editor).await;
    let (_, page) = s.page(&editor, "/settings").await;
    let csrf = hidden_field(&page, "_csrf").unwrap();
    let refused = editor
        .post(s.app.url("/settings/sources"))
        .form(&[("_csrf", csrf.as_str()), ("kind", "generic"), ("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
