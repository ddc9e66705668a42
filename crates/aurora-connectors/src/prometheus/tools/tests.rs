use std::time::Duration;

use aurora_core::tool::ToolEffect;

use super::*;
use crate::prometheus::config::{Credentials, PrometheusConfig};
use crate::ssrf::UrlPolicy;

fn offline_tools() -> Vec<Arc<dyn Tool>> {
    // Nothing listens on port 9: argument errors must come before any request.
    let config = PrometheusConfig {
        url: "http://127.0.0.1:9".to_owned(),
        timeout: Duration::from_secs(2),
        ..PrometheusConfig::default()
    };
    let client = PrometheusClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap();
    tools(Arc::new(client), "prod")
}

fn tool(name: &str) -> Arc<dyn Tool> {
    offline_tools()
        .into_iter()
        .find(|t| t.spec().name == name)
        .unwrap()
}

#[test]
fn specs_are_read_only_and_well_formed() {
    let names: Vec<String> = offline_tools()
        .iter()
        .map(|t| t.spec().name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "prometheus_query",
            "prometheus_query_range",
            "prometheus_metrics",
            "prometheus_labels",
            "prometheus_service_series",
            "prometheus_alerts",
            "prometheus_rules"
        ]
    );
    for t in offline_tools() {
        let spec = t.spec();
        assert_eq!(spec.effect, ToolEffect::ReadOnly);
        assert!(spec.name.len() <= 64);
        assert!(
            spec.description.contains("Prometheus \"prod\""),
            "{}",
            spec.description
        );
        assert_eq!(spec.parameters["type"], "object");
        assert_eq!(spec.parameters["additionalProperties"], false);
        assert!(spec.parameters["properties"].is_object());
    }
}

async fn invalid(name: &str, args: Value) -> String {
    match tool(name).call(args).await {
        Err(ToolError::InvalidArguments(message)) => message,
        other => panic!("{name}: expected invalid arguments, got {other:?}"),
    }
}

#[tokio::test]
async fn arguments_are_validated_before_any_request() {
    let cases = [
        ("prometheus_query", json!({}), "missing field `query`"),
        (
            "prometheus_query",
            json!({"query": " "}),
            "query must not be empty",
        ),
        (
            "prometheus_query",
            json!({"query": "up", "at": 1}),
            "unknown field `at`",
        ),
        (
            "prometheus_query",
            json!({"query": "up", "time": "yesterday"}),
            "time: \"yesterday\" is not a time",
        ),
        (
            "prometheus_query_range",
            json!({"query": "up", "start": "-1h", "end": "-2h"}),
            "is before start",
        ),
        (
            "prometheus_query_range",
            json!({"query": "up", "step": "fast"}),
            "step: \"fast\" is not a duration",
        ),
        (
            "prometheus_query_range",
            json!({"query": "up", "step": 0}),
            "step must be positive",
        ),
        (
            "prometheus_metrics",
            json!({"limit": 0}),
            "limit 0 is out of range",
        ),
        (
            "prometheus_labels",
            json!({"label": "bad label"}),
            "is not a label name",
        ),
        (
            "prometheus_service_series",
            json!({}),
            "missing field `service`",
        ),
        (
            "prometheus_alerts",
            json!({"state": "resolved"}),
            "use \"firing\" or \"pending\"",
        ),
        (
            "prometheus_rules",
            json!({"type": "alerting"}),
            "use \"alert\" or \"record\"",
        ),
        ("prometheus_query", json!("up"), "invalid type"),
    ];
    for (name, args, expected) in cases {
        let message = invalid(name, args.clone()).await;
        assert!(message.contains(expected), "{name} {args}: {message}");
    }
}

#[tokio::test]
async fn unreachable_prometheus_is_a_failure_not_a_panic() {
    match tool("prometheus_alerts").call(Value::Null).await {
        Err(ToolError::Failed(message)) => {
            assert!(message.contains("could not reach prometheus"), "{message}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn range_series_are_summarized() {
    let series = Series {
        labels: [("__name__".to_owned(), "up".to_owned())].into(),
        points: (0..100)
            .map(|i| (1_700_000_000.0 + f64::from(i), f64::from(i)))
            .collect(),
    };
    let (content, out) = data_content(&QueryData::Matrix(vec![series]));
    assert_eq!(out.len(), 1);
    let summary = &content["series"][0];
    assert_eq!(summary["points"], 100);
    assert_eq!(summary["min"], 0.0);
    assert_eq!(summary["max"], 99.0);
    assert_eq!(summary["mean"], 49.5);
    assert_eq!(summary["first"][0], "2023-11-14T22:13:20Z");
    assert!(summary["samples"].as_array().unwrap().len() <= SAMPLES_PER_SERIES);
    assert_eq!(number(f64::NAN), json!("NaN"));
    assert_eq!(number(f64::INFINITY), json!("+Inf"));
}
