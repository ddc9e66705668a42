use super::*;

#[test]
fn signal_drops_the_threshold() {
    assert_eq!(
        signal_of("rate(errors_total[5m]) > 0.1"),
        "rate(errors_total[5m])"
    );
    assert_eq!(
        signal_of(r#"histogram_quantile(0.99, sum by (le) (rate(x_bucket{a=~"b>c"}[5m]))) >= 2"#),
        r#"histogram_quantile(0.99, sum by (le) (rate(x_bucket{a=~"b>c"}[5m])))"#
    );
    assert_eq!(signal_of("up == 0"), "up");
    assert_eq!(signal_of(r#"up{job!="x"} != 1"#), r#"up{job!="x"}"#);
    assert_eq!(signal_of("up > bool 0"), "up > bool 0");
    assert_eq!(signal_of("absent(up)"), "absent(up)");
}

fn plan(name: &str, names: &[&str], summaries: &[&str]) -> Option<Plan> {
    let names: HashSet<&str> = names.iter().copied().collect();
    let summaries: HashSet<String> = summaries.iter().map(|s| s.to_string()).collect();
    plan_metric(
        name,
        &[r#"{job="api"}"#.to_owned(), r#"{service="api"}"#.to_owned()],
        &names,
        &summaries,
        "1m",
        "api".to_owned(),
    )
}

#[test]
fn plans_per_metric_kind() {
    let hist = [
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
    ];
    let p = plan("http_request_duration_seconds_bucket", &hist, &[]).unwrap();
    assert_eq!(
        p.query,
        r#"histogram_quantile(0.99, sum by (le, service, job, app, namespace, pod, instance) (rate(http_request_duration_seconds_bucket{job="api"}[1m]) or rate(http_request_duration_seconds_bucket{service="api"}[1m])))"#
    );
    assert_eq!(
        p.metric.as_deref(),
        Some("http_request_duration_seconds:p99")
    );
    let count = plan("http_request_duration_seconds_count", &hist, &[]).unwrap();
    assert_eq!(
        count.metric.as_deref(),
        Some("http_request:requests_per_second")
    );
    assert!(plan("http_request_duration_seconds_sum", &hist, &[]).is_none());

    let counter = plan("http_requests_total", &[], &[]).unwrap();
    assert_eq!(
        counter.query,
        r#"rate(http_requests_total{job="api"}[1m]) or rate(http_requests_total{service="api"}[1m])"#
    );
    assert_eq!(counter.metric.as_deref(), Some("rate(http_requests_total)"));
    assert_eq!(counter.priority, 1);

    let summary = plan(
        "rpc_latency",
        &["rpc_latency", "rpc_latency_sum"],
        &["rpc_latency"],
    )
    .unwrap();
    assert_eq!(
        summary.query,
        r#"rpc_latency{job="api",quantile="0.99"} or rpc_latency{service="api",quantile="0.99"}"#
    );
    assert!(plan("rpc_latency_sum", &[], &["rpc_latency"]).is_none());

    let gauge = plan("queue_depth", &[], &[]).unwrap();
    assert_eq!(
        gauge.query,
        r#"queue_depth{job="api"} or queue_depth{service="api"}"#
    );
    assert_eq!(gauge.priority, 2);
    assert!(plan("scrape_duration_seconds", &[], &[]).is_none());
    assert!(plan("ALERTS", &[], &[]).is_none());
}

#[test]
fn metric_names_keep_distinguishing_labels() {
    let labels: BTreeMap<String, String> = [
        ("__name__", "node_cpu_seconds_total"),
        ("job", "node"),
        ("cpu", "0"),
        ("instance", "a:9100"),
        ("mode", "idle"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        metric_name("rate(node_cpu_seconds_total)", &labels, REPLICA_LABELS),
        r#"rate(node_cpu_seconds_total){cpu="0",mode="idle"}"#
    );
    assert_eq!(
        metric_name("rate(node_cpu_seconds_total)", &labels, &[]),
        r#"rate(node_cpu_seconds_total){cpu="0",instance="a:9100",mode="idle"}"#
    );
    assert_eq!(metric_name("up", &BTreeMap::new(), &[]), "up");
    assert_eq!(
        metric_name(&"x".repeat(500), &BTreeMap::new(), &[]).len(),
        MAX_METRIC_NAME
    );
}

#[test]
fn latency_words_are_removed_from_request_rates() {
    assert_eq!(
        without_latency_words("http_request_duration_seconds"),
        "http_request"
    );
    assert_eq!(without_latency_words("latency_seconds"), "requests");
}
