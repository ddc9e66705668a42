//! Promises of the alert explanation.

use super::*;
use crate::frame::{MetricSeries, TimeRange};

fn series(service: &str, metric: &str, kind: MetricKind, values: &[f64]) -> MetricSeries {
    MetricSeries {
        name: format!("{service}/{metric}"),
        service: service.into(),
        kind,
        unit: String::new(),
        times: (0..values.len()).map(|i| i as f64 * 300.0).collect(),
        values: values.to_vec(),
    }
}

/// front calls proxy and search; proxy is a thin client-side view of search with few calls.
/// search slows down: its mean latency rises a little on many calls, the proxy's a lot on few.
#[test]
fn the_service_whose_extra_time_accounts_for_the_alert_gets_the_largest_share() {
    let lat = MetricKind::Latency;
    let req = MetricKind::Throughput;
    let frame = TelemetryFrame {
        series: vec![
            series(
                "front",
                "latency/Average",
                lat,
                &[0.08, 0.08, 0.081, 0.11, 0.109],
            ),
            series(
                "front",
                "requests/Sum",
                req,
                &[700.0, 700.0, 690.0, 700.0, 690.0],
            ),
            series(
                "search",
                "latency/Average",
                lat,
                &[0.006, 0.006, 0.006, 0.020, 0.019],
            ),
            series(
                "search",
                "requests/Sum",
                req,
                &[1200.0, 1190.0, 1200.0, 1180.0, 1200.0],
            ),
            series(
                "proxy",
                "latency/Average",
                lat,
                &[0.012, 0.012, 0.012, 0.100, 0.09],
            ),
            series(
                "proxy",
                "requests/Sum",
                req,
                &[80.0, 80.0, 82.0, 80.0, 81.0],
            ),
            series(
                "db",
                "latency/Average",
                lat,
                &[0.01, 0.01, 0.011, 0.0105, 0.01],
            ),
            series(
                "db",
                "requests/Sum",
                req,
                &[1300.0, 1300.0, 1310.0, 1290.0, 1300.0],
            ),
        ],
        ..TelemetryFrame::default()
    };
    let mut topo = Topology::default();
    topo.add("front", "search");
    topo.add("front", "proxy");
    topo.add("search", "db");
    let window = Window {
        normal: vec![TimeRange::new(0.0, 900.0)],
        incident: TimeRange::new(900.0, 1500.0),
        onset: Some(900.0),
        alert_service: Some("front".into()),
        alert_metric: Some("latency/Average".into()),
    };
    let split = Split::new(&window, 900.0);
    let sh = shares(&frame, &split, &window, &topo).expect("shares");
    let best = sh
        .iter()
        .max_by(|a, b| a.1.share.total_cmp(&b.1.share))
        .map(|(k, _)| k.as_str());
    assert_eq!(best, Some("search"), "{sh:#?}");
    assert!(sh["front"].share < sh["search"].share);
    // Without a known alert metric there is nothing to explain.
    let w2 = Window {
        alert_metric: None,
        ..window.clone()
    };
    assert!(shares(&frame, &split, &w2, &topo).is_none());
}
