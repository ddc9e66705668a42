//! Payloads are the examples of Prometheus's HTTP API documentation,
//! <https://prometheus.io/docs/prometheus/latest/querying/api/>.

use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::test_http::serve;

#[test]
fn parses_documented_vector() {
    let data = json!({
        "resultType": "vector",
        "result": [
            {"metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
             "value": [1435781451.781, "1"]},
            {"metric": {"__name__": "up", "job": "node", "instance": "localhost:9100"},
             "value": [1435781451.781, "0"]}
        ]
    });
    let QueryData::Vector(samples) = parse_query_data(data).unwrap() else {
        panic!("expected a vector");
    };
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].labels["job"], "prometheus");
    assert_eq!(samples[0].time, 1435781451.781);
    assert_eq!(samples[0].value, 1.0);
    assert_eq!(samples[1].value, 0.0);
}

#[test]
fn parses_documented_matrix_and_drops_non_finite_points() {
    let data = json!({
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
             "values": [[1435781430.781, "1"], [1435781445.781, "NaN"], [1435781460.781, "+Inf"],
                        [1435781475.781, "1e+00"]]},
            {"metric": {"__name__": "up", "job": "node", "instance": "localhost:9091"},
             "values": [[1435781430.781, "0"], [1435781445.781, "0"], [1435781460.781, "1"]]}
        ]
    });
    let QueryData::Matrix(series) = parse_query_data(data).unwrap() else {
        panic!("expected a matrix");
    };
    assert_eq!(series[0].name(), "up");
    assert_eq!(
        series[0].points,
        vec![(1435781430.781, 1.0), (1435781475.781, 1.0)]
    );
    assert_eq!(series[1].points.len(), 3);
}

#[test]
fn parses_scalar_and_string() {
    assert_eq!(
        parse_query_data(json!({"resultType": "scalar", "result": [1435781451.781, "-Inf"]})),
        Ok(QueryData::Scalar(1435781451.781, f64::NEG_INFINITY))
    );
    assert_eq!(
        parse_query_data(json!({"resultType": "string", "result": [1435781451.781, "hello"]})),
        Ok(QueryData::String(1435781451.781, "hello".into()))
    );
    assert!(
        parse_query_data(json!({"resultType": "vector", "result": [
            {"metric": {}, "value": [1, "one"]}
        ]}))
        .unwrap_err()
        .contains("bad sample value")
    );
    assert!(parse_query_data(json!({"resultType": "table", "result": []})).is_err());
}

#[test]
fn parses_documented_alerts_and_rules() {
    let alerts: RawAlerts = serde_json::from_value(json!({
        "alerts": [{
            "activeAt": "2018-07-04T20:27:12.60602144+02:00",
            "annotations": {},
            "labels": {"alertname": "my-alert"},
            "state": "firing",
            "value": "1e+00"
        }]
    }))
    .unwrap();
    assert_eq!(alerts.alerts[0].state, "firing");
    assert_eq!(
        alerts.alerts[0].active_at.as_deref(),
        Some("2018-07-04T20:27:12.60602144+02:00")
    );
    let rules: RawRules = serde_json::from_value(json!({
        "groups": [{
            "rules": [
                {
                    "alerts": [{
                        "activeAt": "2018-07-04T20:27:12.60602144+02:00",
                        "annotations": {"summary": "High request latency"},
                        "labels": {"alertname": "HighRequestLatency", "severity": "page"},
                        "state": "firing",
                        "value": "1e+00"
                    }],
                    "annotations": {"summary": "High request latency"},
                    "duration": 600,
                    "health": "ok",
                    "labels": {"severity": "page"},
                    "name": "HighRequestLatency",
                    "query": "job:request_latency_seconds:mean5m{job=\"myjob\"} > 0.5",
                    "type": "alerting"
                },
                {
                    "health": "ok",
                    "name": "job:http_inprogress_requests:sum",
                    "query": "sum by (job) (http_inprogress_requests)",
                    "type": "recording"
                }
            ],
            "file": "/rules.yaml",
            "interval": 60,
            "limit": 0,
            "name": "example"
        }]
    }))
    .unwrap();
    let group = &rules.groups[0];
    assert_eq!(group.interval, Some(60.0));
    assert_eq!(group.rules[0].kind, "alerting");
    assert_eq!(group.rules[0].duration, Some(600.0));
    assert_eq!(group.rules[0].alerts.len(), 1);
    assert_eq!(group.rules[1].kind, "recording");
}

#[test]
fn step_is_widened_to_the_point_limit() {
    assert_eq!(fit_step(0.0, 3600.0, 15.0, 11_000).unwrap(), (15.0, None));
    let (step, note) = fit_step(0.0, 86_400.0, 1.0, 11_000).unwrap();
    assert_eq!(step, 8.0);
    let note = note.unwrap();
    assert!(
        note.contains("86401 points per series exceed the limit of 11000"),
        "{note}"
    );
    assert!(fit_step(10.0, 0.0, 1.0, 11_000).is_err());
    assert!(fit_step(0.0, 10.0, 0.0, 11_000).is_err());
    assert!(fit_step(0.0, f64::NAN, 1.0, 11_000).is_err());
}

#[test]
fn label_names_are_checked() {
    assert!(is_label_name("__name__"));
    assert!(is_label_name("job"));
    assert!(!is_label_name("1job"));
    assert!(!is_label_name("job/../../x"));
    assert!(!is_label_name(""));
}

fn client(url: &str, credentials: Credentials) -> PrometheusClient {
    let config = PrometheusConfig {
        url: url.to_owned(),
        timeout: Duration::from_secs(5),
        max_range_points: 100,
        ..PrometheusConfig::default()
    };
    PrometheusClient::new(&config, credentials, &UrlPolicy::default()).unwrap()
}

#[tokio::test]
async fn sends_credentials_and_parses_answers() {
    let (url, server) = serve(vec![
        (200, r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"2"]},"warnings":["careful"]}"#),
        (200, r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#),
        (200, r#"{"status":"success","data":{"version":"2.13.1","revision":"cb7cbad5f9a2823a622aaa668833ca04f50a0ea7","branch":"master","buildUser":"julius@desktop","buildDate":"20191102-16:19:59","goVersion":"go1.13.1"}}"#),
    ])
    .await;
    let client = client(&url, Credentials::Bearer(SecretString::from("tok3n")));
    let result = client.query("1+1", Some(1435781451.781)).await.unwrap();
    assert_eq!(result.data, QueryData::Scalar(1435781451.781, 2.0));
    assert_eq!(result.warnings, vec!["careful".to_owned()]);
    let range = client.query_range("up", 0.0, 1000.0, 1.0).await.unwrap();
    assert_eq!(range.step, 11.0);
    assert!(range.note.is_some());
    assert_eq!(client.build_info().await.unwrap().version, "2.13.1");
    let requests = server.await.unwrap();
    assert!(
        requests[0].starts_with("POST /api/v1/query "),
        "{}",
        requests[0]
    );
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer tok3n")
    );
    assert!(requests[0].contains("query=1%2B1"), "{}", requests[0]);
    assert!(requests[1].contains("step=11"), "{}", requests[1]);
    assert!(requests[2].starts_with("GET /api/v1/status/buildinfo "));
}

#[tokio::test]
async fn maps_errors_to_readable_messages() {
    let (url, server) = serve(vec![
        (400, r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}"#),
        (401, "Unauthorized"),
        (404, "404 page not found"),
        (502, "<html>bad gateway</html>"),
        (200, "<html>not prometheus</html>"),
    ])
    .await;
    let client = client(&format!("{url}/prefix"), Credentials::None);
    let bad = client.query("sum(", None).await.unwrap_err();
    assert!(matches!(bad, PrometheusError::Api { ref error_type, .. } if error_type == "bad_data"));
    let tool: ToolError = bad.into();
    assert!(
        matches!(&tool, ToolError::InvalidArguments(m) if m.contains("parse error") && m.contains("fix the PromQL")),
        "{tool:?}"
    );
    let unauthorized = client.alerts().await.unwrap_err().to_string();
    assert!(
        unauthorized.contains("refused the credentials (HTTP 401)"),
        "{unauthorized}"
    );
    let not_found = client.rules(None).await.unwrap_err().to_string();
    assert!(
        not_found.contains("/prefix/ has no /api/v1/rules"),
        "{not_found}"
    );
    let gateway = client.alerts().await.unwrap_err().to_string();
    assert!(
        gateway.contains("HTTP 502: <html>bad gateway</html>"),
        "{gateway}"
    );
    let html = client.alerts().await.unwrap_err().to_string();
    assert!(html.contains("not Prometheus API JSON"), "{html}");
    let requests = server.await.unwrap();
    assert!(
        requests[2].starts_with("GET /prefix/api/v1/rules "),
        "{}",
        requests[2]
    );
}

#[tokio::test]
async fn refused_connection_names_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client(&format!("http://127.0.0.1:{port}"), Credentials::None);
    let err = client.query("up", None).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "could not reach prometheus at http://127.0.0.1:{port}/"
        )),
        "{err}"
    );
    assert!(err.contains("check the url"), "{err}");
}

#[test]
fn construction_refuses_guarded_urls() {
    let config = PrometheusConfig {
        url: "http://169.254.169.254/".to_owned(),
        ..PrometheusConfig::default()
    };
    let err = PrometheusClient::new(&config, Credentials::None, &UrlPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refused to connect to 169.254.169.254"),
        "{err}"
    );
}

#[tokio::test]
async fn unresolvable_host_is_unreachable() {
    let client = client("http://no-such-host.invalid:9090", Credentials::None);
    let err = client.query("up", None).await.unwrap_err();
    assert!(
        matches!(err, PrometheusError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("could not resolve host \"no-such-host.invalid\""),
        "{err}"
    );
}
