//! Health, readiness, metrics, request ids, errors and limits.

use aurora_testkit::spawn_app;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let expected = if std::env::var(aurora_testkit::DATABASE_URL_ENV).is_ok() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready["database"], expected);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_an_incoming_one_is_kept() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.client.get(app.url("/healthz")).send().await.unwrap();
    }
    app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains("route=\"/healthz\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no /healthz counter in:\n{text}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
    assert!(
        text.contains("route=\"/api/v1/me\"") && text.contains("status=\"401\""),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "a histogram: {text}"
    );
    assert!(text.contains("aurora_build_info{version="), "{text}");
}

#[tokio::test]
async fn unknown_api_routes_answer_json_and_pages_answer_html() {
    let app = spawn_app().await;
    let api = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "route_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nope")
    );

    let page = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("Page not found"));

    let wrong_method = app.client.put(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        wrong_method.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let app = aurora_testkit::spawn_app_with(|s| s.server.max_body_bytes = 1024).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(4096));
    let response = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );

    // Without a declared length the body is cut off while it is read.
    let stream = futures_stream(big);
    let response = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was created.
    let tokens: Value = app
        .client
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
}

fn futures_stream(
    body: String,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(512)
        .map(|c| Ok(c.to_vec()))
        .collect();
    futures::stream::iter(chunks)
}

#[tokio::test]
async fn malformed_bodies_get_specific_codes() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            "{not json",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "{\"nam\": \"x\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "name=x",
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "{\"name\": \"\"}",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "{\"name\": \"x\", \"expires_in_days\": 0}",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = post(body, content_type).await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_the_server_stop_cleanly() {
    let app = spawn_app().await;
    let url = app.url("/healthz");
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.stop().await.expect("clean stop");
    assert!(
        aurora_testkit::client().get(&url).send().await.is_err(),
        "still serving after stop"
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = aurora_testkit::spawn_app_with(|s| {
        s.server.cors_allowed_origins = vec!["https://ops.example.com".into()]
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://ops.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://ops.example.com"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_request_that_takes_too_long_is_stopped_with_503() {
    let app = aurora_testkit::spawn_app_with(|s| {
        s.server.request_timeout = std::time::Duration::from_millis(2)
    })
    .await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    // Creating a user hashes a password with argon2id, which takes far longer than 2 ms.
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"email": "slow@example.com", "name": "S", "role": "viewer", "password": "long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "request_timeout"
    );
}
