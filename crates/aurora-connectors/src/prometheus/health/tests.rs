use std::time::Duration;

use super::*;
use crate::prometheus::config::{Credentials, PrometheusConfig};
use crate::ssrf::UrlPolicy;
use crate::test_http::serve;

fn client(url: &str) -> PrometheusClient {
    let config = PrometheusConfig {
        url: url.to_owned(),
        timeout: Duration::from_secs(5),
        ..PrometheusConfig::default()
    };
    PrometheusClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap()
}

#[tokio::test]
async fn ready_prometheus_with_its_version() {
    let (url, server) = serve(vec![
        (200, "Prometheus Server is Ready.\n"),
        (
            200,
            r#"{"status":"success","data":{"version":"2.42.0","revision":"x"}}"#,
        ),
    ])
    .await;
    let report = check(&client(&url)).await.unwrap();
    assert_eq!(
        report,
        HealthReport {
            version: Some("2.42.0".into()),
            ready: true
        }
    );
    let requests = server.await.unwrap();
    assert!(requests[0].starts_with("GET /-/ready "));
}

#[tokio::test]
async fn starting_prometheus_is_not_ready() {
    let (url, _server) = serve(vec![
        (503, "Service Unavailable"),
        (
            200,
            r#"{"status":"success","data":{"version":"2.42.0","revision":"x"}}"#,
        ),
    ])
    .await;
    let report = check(&client(&url)).await.unwrap();
    assert!(!report.ready);
}

#[tokio::test]
async fn compatible_api_without_ready_endpoint() {
    let (url, server) = serve(vec![
        (404, "404 page not found"),
        (
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#,
        ),
        (404, "404 page not found"),
    ])
    .await;
    let report = check(&client(&url)).await.unwrap();
    assert_eq!(
        report,
        HealthReport {
            version: None,
            ready: true
        }
    );
    let requests = server.await.unwrap();
    assert!(requests[1].starts_with("POST /api/v1/query "));
}

#[tokio::test]
async fn wrong_credentials_fail_the_check() {
    let (url, _server) = serve(vec![(401, "Unauthorized")]).await;
    let err = check(&client(&url)).await.unwrap_err();
    assert!(
        matches!(err, PrometheusError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
}
