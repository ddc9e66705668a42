use super::*;

#[test]
fn kinds_are_inferred_from_generic_words() {
    assert_eq!(MetricKind::infer("x_cpu"), MetricKind::Cpu);
    assert_eq!(MetricKind::infer("x_mem"), MetricKind::Memory);
    assert_eq!(MetricKind::infer("x_lat_90"), MetricKind::Latency);
    assert_eq!(
        MetricKind::infer("PodServerLatencyP90(s)"),
        MetricKind::Latency
    );
    assert_eq!(MetricKind::infer("SuccessRate(%)"), MetricKind::SuccessRate);
    assert_eq!(MetricKind::infer("x_lod"), MetricKind::Throughput);
    assert_eq!(MetricKind::infer("NetworkReceiveBytes"), MetricKind::Other);
    assert_eq!(unit_from_name("CpuUsage(m)"), "m");
    assert_eq!(unit_from_name("cpu"), "");
}

#[test]
fn pod_suffixes_are_stripped_only_when_generated() {
    assert_eq!(
        service_of_pod("ts-auth-service-7f8d7d756d-kzp47"),
        "ts-auth-service"
    );
    assert_eq!(
        service_of_pod("ts-ui-dashboard-5477b965f-lwprp"),
        "ts-ui-dashboard"
    );
    assert_eq!(service_of_pod("carts"), "carts");
    assert_eq!(service_of_pod("front-end"), "front-end");
    assert_eq!(service_of_pod("user-db"), "user-db");
}

#[test]
fn normalize_sorts_and_dedups() {
    let mut f = TelemetryFrame {
        series: vec![MetricSeries {
            name: "a".into(),
            service: "a".into(),
            kind: MetricKind::Other,
            unit: String::new(),
            times: vec![3.0, 1.0, f64::NAN, 1.0, 2.0],
            values: vec![30.0, 10.0, 0.0, 11.0, 20.0],
        }],
        ..TelemetryFrame::default()
    };
    f.normalize();
    assert_eq!(f.series[0].times, vec![1.0, 2.0, 3.0]);
    assert_eq!(f.series[0].values, vec![10.0, 20.0, 30.0]);
}

#[test]
fn levels_are_sniffed() {
    assert_eq!(
        LogLevel::sniff("19:50:59.971 ERROR t.s.X#457 boom"),
        LogLevel::Error
    );
    assert_eq!(LogLevel::sniff("[WARN] slow"), LogLevel::Warn);
    assert_eq!(LogLevel::sniff("hello world"), LogLevel::Info);
}
