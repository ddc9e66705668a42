use std::time::Duration;

use super::*;
use crate::alertmanager::config::{AlertmanagerConfig, Credentials};
use crate::ssrf::UrlPolicy;
use crate::test_http::serve;

fn client(url: &str) -> AlertmanagerClient {
    let config = AlertmanagerConfig {
        url: url.to_owned(),
        timeout: Duration::from_secs(5),
        ..AlertmanagerConfig::default()
    };
    AlertmanagerClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap()
}

#[tokio::test]
async fn ready_alertmanager_with_its_version() {
    let (url, server) = serve(vec![
        (200, "OK"),
        (
            200,
            r#"{"cluster":{"status":"disabled","peers":[]},"versionInfo":{"version":"0.25.0"},
                "config":{"original":""},"uptime":"2024-05-01T12:00:00Z"}"#,
        ),
    ])
    .await;
    let report = check(&client(&url)).await.unwrap();
    assert_eq!(
        report,
        HealthReport {
            version: Some("0.25.0".into()),
            ready: true,
            cluster: Some("disabled".into()),
        }
    );
    let requests = server.await.unwrap();
    assert!(requests[0].starts_with("GET /-/ready "));
    assert!(requests[1].starts_with("GET /api/v2/status "));
}

#[tokio::test]
async fn without_ready_endpoint_the_status_decides() {
    let (url, _server) = serve(vec![
        (404, "404 page not found"),
        (200, r#"{"versionInfo":{"version":"mimir"}}"#),
    ])
    .await;
    let report = check(&client(&url)).await.unwrap();
    assert!(report.ready);
    assert_eq!(report.version.as_deref(), Some("mimir"));
}

#[tokio::test]
async fn a_wrong_url_is_not_found() {
    let (url, _server) = serve(vec![(404, ""), (404, "")]).await;
    let err = check(&client(&url)).await.unwrap_err();
    assert!(matches!(err, AlertmanagerError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("/api/v2/status"), "{err}");
}
