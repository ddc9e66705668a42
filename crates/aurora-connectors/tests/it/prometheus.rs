//! The Prometheus connector against a real Prometheus scraping node_exporter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_connectors::prometheus::{
    Credentials, PrometheusClient, PrometheusConfig, PrometheusError, PrometheusTelemetry, check,
    tools,
};
use aurora_connectors::ssrf::UrlPolicy;
use aurora_connectors::timespec::now;
use aurora_core::telemetry::{EvidenceRequest, TelemetrySource};
use aurora_core::tool::{Tool, ToolError, ToolOutput};
use serde_json::{Value, json};

use crate::peers::{self, ALERT_NAME, Stack};

fn client(url: &str, timeout: Duration) -> PrometheusClient {
    let config = PrometheusConfig {
        url: url.to_owned(),
        timeout,
        ..PrometheusConfig::default()
    };
    PrometheusClient::new(&config, Credentials::None, &UrlPolicy::default()).expect("client")
}

async fn call(tools: &[Arc<dyn Tool>], name: &str, args: Value) -> ToolOutput {
    let tool = tools
        .iter()
        .find(|t| t.spec().name == name)
        .unwrap_or_else(|| panic!("no tool {name}"));
    tool.call(args.clone())
        .await
        .unwrap_or_else(|e| panic!("{name} {args}: {e}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn prometheus_connector_against_a_real_server() {
    let (prometheus, node_exporter) = match peers::binaries() {
        Ok(b) => b,
        Err(why) => {
            eprintln!(
                "skipping: {why} (set it to /usr/bin/prometheus and /usr/bin/prometheus-node-exporter)"
            );
            return;
        }
    };
    let stack = Stack::start(&prometheus, &node_exporter).await;
    let client = Arc::new(client(&stack.url, Duration::from_secs(10)));

    let health = check(&client).await.expect("healthcheck");
    assert!(health.ready);
    assert!(
        health
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with('2')),
        "{health:?}"
    );

    // A baseline, then the condition: the gauge changes and the alert fires.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let changed_at = now();
    stack.set(1.0, 0.9, 100.0);
    stack
        .wait_for(
            "the alert to fire",
            Duration::from_secs(30),
            |body| body.contains(ALERT_NAME) && body.contains("\"firing\""),
            "api/v1/alerts",
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let tools = tools(Arc::clone(&client), "test");

    let out = call(
        &tools,
        "prometheus_query",
        json!({"query": "aurora_test_condition"}),
    )
    .await;
    assert_eq!(out.content["result_type"], "vector");
    assert_eq!(out.content["result"][0]["value"], 1.0, "{}", out.content);
    assert_eq!(out.content["result"][0]["labels"]["service"], "checkout");
    assert!(
        out.source
            .starts_with("prometheus \"test\" at http://127.0.0.1:"),
        "{}",
        out.source
    );

    let out = call(
        &tools,
        "prometheus_query_range",
        json!({"query": "aurora_test_condition", "start": "-60s", "step": "1s"}),
    )
    .await;
    assert_eq!(out.series.len(), 1, "{}", out.content);
    let points = &out.series[0].points;
    assert!(
        points.iter().any(|(t, v)| *v == 0.0 && *t < changed_at),
        "{points:?}"
    );
    assert!(
        points.iter().any(|(t, v)| *v == 1.0 && *t >= changed_at),
        "{points:?}"
    );
    assert_eq!(out.content["series"][0]["min"], 0.0);
    assert_eq!(out.content["series"][0]["max"], 1.0);
    assert_eq!(out.content["step"], "1s");

    // A range at 1 s over two days would be 172 801 points: the step is widened, and said so.
    let out = call(
        &tools,
        "prometheus_query_range",
        json!({"query": "up", "start": "-2d", "step": 1}),
    )
    .await;
    assert!(
        out.content["note"]
            .as_str()
            .is_some_and(|n| n.contains("exceed the limit of 11000")),
        "{}",
        out.content
    );

    let out = call(
        &tools,
        "prometheus_metrics",
        json!({"contains": "AURORA_TEST"}),
    )
    .await;
    assert_eq!(strings(&out.content["metrics"]), ["aurora_test_condition"]);
    let out = call(&tools, "prometheus_metrics", json!({"limit": 3})).await;
    assert_eq!(out.content["truncated"], true);
    assert_eq!(strings(&out.content["metrics"]).len(), 3);

    let out = call(&tools, "prometheus_labels", json!({})).await;
    assert!(strings(&out.content["labels"]).contains(&"service".to_owned()));
    let out = call(&tools, "prometheus_labels", json!({"label": "service"})).await;
    assert_eq!(strings(&out.content["values"]), ["checkout"]);
    let out = call(
        &tools,
        "prometheus_labels",
        json!({"label": "__name__", "match": "{service=\"checkout\"}"}),
    )
    .await;
    assert!(strings(&out.content["values"]).contains(&"checkout_requests_total".to_owned()));

    let out = call(
        &tools,
        "prometheus_service_series",
        json!({"service": "checkout"}),
    )
    .await;
    let metrics: Vec<&str> = out.content["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["metric"].as_str())
        .collect();
    for expected in [
        "aurora_test_condition",
        "checkout_request_latency_seconds",
        "checkout_requests_total",
    ] {
        assert!(metrics.contains(&expected), "{expected} in {metrics:?}");
    }
    assert_eq!(
        out.content["metrics"][0]["selector"],
        json!(format!("{}{{service=\"checkout\"}}", metrics[0]))
    );

    let out = call(&tools, "prometheus_alerts", json!({"state": "firing"})).await;
    assert_eq!(out.content["count"], 1, "{}", out.content);
    assert_eq!(out.content["alerts"][0]["labels"]["alertname"], ALERT_NAME);
    assert_eq!(out.content["alerts"][0]["labels"]["service"], "checkout");
    let out = call(&tools, "prometheus_alerts", json!({"state": "pending"})).await;
    assert_eq!(out.content["count"], 0);

    let out = call(&tools, "prometheus_rules", json!({"type": "alert"})).await;
    let rule = &out.content["groups"][0]["rules"][0];
    assert_eq!(rule["name"], ALERT_NAME);
    assert_eq!(rule["state"], "firing");
    assert_eq!(rule["query"], "aurora_test_condition > 0");
    let out = call(&tools, "prometheus_rules", json!({"type": "record"})).await;
    assert_eq!(
        out.content["groups"][0]["rules"][0]["name"],
        "checkout:latency:max"
    );
    assert_eq!(out.content["rule_count"], 1);

    let bad = tools[0].call(json!({"query": "sum("})).await.unwrap_err();
    assert!(
        matches!(&bad, ToolError::InvalidArguments(m) if m.contains("parse error")),
        "{bad:?}"
    );

    // The evidence pass: the alert's signal and the series sharing its labels.
    let source = PrometheusTelemetry::new(Arc::clone(&client), "test");
    assert_eq!(source.describe(), "prometheus \"test\"");
    let end = now();
    let alert_labels: BTreeMap<String, String> = [
        ("alertname", ALERT_NAME),
        ("service", "checkout"),
        ("job", "node"),
        ("severity", "critical"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let request = EvidenceRequest {
        alert_labels,
        alert_expr: Some("aurora_test_condition > 0".to_owned()),
        services: vec!["checkout".to_owned()],
        start: end - 60.0,
        end,
        onset: changed_at,
        step: 1.0,
        ..EvidenceRequest::default()
    };
    let bundle = source.gather(&request).await.expect("evidence");
    let names: Vec<(String, String)> = bundle
        .series
        .iter()
        .map(|s| (s.service.clone(), s.metric.clone()))
        .collect();
    for (service, metric) in [
        ("checkout", "aurora_test_condition"),
        ("checkout", "checkout_request_latency_seconds"),
        ("checkout", "rate(checkout_requests_total)"),
        ("node", "node_load1"),
    ] {
        assert!(
            names.contains(&(service.to_owned(), metric.to_owned())),
            "{service}/{metric} in {names:?}"
        );
    }
    assert!(
        names.iter().all(|(_, m)| !m.starts_with("ALERTS")),
        "{names:?}"
    );
    assert_eq!(
        bundle.queries[0], "aurora_test_condition",
        "{:?}",
        bundle.queries
    );
    assert!(
        bundle
            .queries
            .contains(&"{service=\"checkout\"}".to_owned())
    );
    assert!(bundle.queries.contains(&"{job=\"node\"}".to_owned()));
    let latency = bundle
        .series
        .iter()
        .find(|s| s.metric == "checkout_request_latency_seconds")
        .expect("latency series");
    assert!(latency.series.points.iter().any(|(_, v)| *v == 0.1));
    assert!(latency.series.points.iter().any(|(_, v)| *v == 0.9));

    // A small budget: truncated, and the bundle says so.
    let small = PrometheusConfig {
        url: stack.url.clone(),
        max_series: 3,
        ..PrometheusConfig::default()
    };
    let small = PrometheusClient::new(&small, Credentials::None, &UrlPolicy::default()).unwrap();
    let bundle = PrometheusTelemetry::new(Arc::new(small), "small")
        .gather(&request)
        .await
        .expect("evidence");
    assert_eq!(bundle.series.len(), 3);
    assert!(
        bundle
            .queries
            .iter()
            .any(|q| q.starts_with("# truncated: the 3-series limit")),
        "{:?}",
        bundle.queries
    );
}

#[tokio::test]
async fn unreachable_prometheus_fails_clearly_within_the_timeout() {
    // Refused: nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = client(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2))
        .query("up", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PrometheusError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("check the url and that prometheus is running")
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Silent: the connection is accepted (backlog) and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let client = Arc::new(client(&url, Duration::from_secs(1)));
    let started = Instant::now();
    let err = check(&client).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("did not answer within 1 s; check that it is up and reachable"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let tool_err = tools(Arc::clone(&client), "silent")[0]
        .call(json!({"query": "up"}))
        .await
        .unwrap_err();
    assert_eq!(tool_err, ToolError::Timeout(1));
    let evidence_err = PrometheusTelemetry::new(client, "silent")
        .gather(&EvidenceRequest {
            alert_expr: Some("up == 0".to_owned()),
            start: now() - 60.0,
            end: now(),
            step: 15.0,
            ..EvidenceRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(evidence_err, ToolError::Timeout(1));
    drop(silent);
}

#[tokio::test]
async fn ssrf_guard_refuses_the_metadata_endpoint() {
    let config = PrometheusConfig {
        url: "http://169.254.169.254/".to_owned(),
        ..PrometheusConfig::default()
    };
    let err = PrometheusClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap_err();
    assert!(matches!(err, PrometheusError::Refused(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "refused to connect to 169.254.169.254: cloud metadata endpoint; \
         list the host in connectors.allowed_hosts to allow it"
    );
    let link_local = PrometheusConfig {
        url: "http://169.254.1.2:9090/".to_owned(),
        ..PrometheusConfig::default()
    };
    let err = PrometheusClient::new(&link_local, Credentials::None, &UrlPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("set connectors.allow_link_local = true"),
        "{err}"
    );
    let allowed = UrlPolicy {
        allow_link_local: true,
        ..UrlPolicy::default()
    };
    assert!(PrometheusClient::new(&link_local, Credentials::None, &allowed).is_ok());
}
