use std::collections::BTreeMap;

use super::*;

#[test]
fn quotes_and_escapes() {
    assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(quote("x\ny"), r#""x\ny""#);
    assert_eq!(regex_escape("a.b+c"), r"a\.b\+c");
    assert_eq!(selector("job", "api"), r#"{job="api"}"#);
    assert_eq!(
        service_selectors("web.v2").last().unwrap(),
        r#"{pod=~"web\\.v2(-.+)?"}"#
    );
}

#[test]
fn attributes_series_to_services() {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        service_of(&labels(&[("service", "checkout"), ("job", "node")])).as_deref(),
        Some("checkout")
    );
    assert_eq!(
        service_of(&labels(&[("job", "node"), ("app", "x")])).as_deref(),
        Some("node")
    );
    assert_eq!(
        service_of(&labels(&[("pod", "checkout-7d9f8b6c5-x2x4z")])).as_deref(),
        Some("checkout")
    );
    assert_eq!(service_of(&labels(&[("instance", "a:1")])), None);
}

#[test]
fn pod_workloads() {
    assert_eq!(pod_workload("checkout-7d9f8b6c5-x2x4z"), "checkout");
    assert_eq!(pod_workload("payment-api-5f6b7c8d9f-k8zqp"), "payment-api");
    assert_eq!(pod_workload("db-0"), "db");
    assert_eq!(pod_workload("node-exporter-x2x4z"), "node-exporter");
    assert_eq!(pod_workload("frontend"), "frontend");
    assert_eq!(pod_workload("cart-service"), "cart-service");
    assert_eq!(pod_workload("web-proxy"), "web-proxy");
}
