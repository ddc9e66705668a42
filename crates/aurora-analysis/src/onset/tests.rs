use super::*;
use crate::frame::MetricSeries;

#[test]
fn ln_gamma_matches_known_values() {
    assert!((ln_gamma(1.0)).abs() < 1e-12);
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-10);
    assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-10);
}

#[test]
fn finds_a_step_in_noise() {
    // Deterministic pseudo-noise so the test is stable.
    let xs: Vec<f64> = (0..300)
        .map(|i| {
            let noise = ((i * 7919) % 97) as f64 / 97.0 - 0.5;
            if i < 200 { noise } else { 6.0 + noise }
        })
        .collect();
    let (start, p) = current_regime_start(&xs, &BocpdParams::default()).expect("regime");
    assert!((198..=202).contains(&start), "start {start}");
    assert!(p > 0.1);
}

#[test]
fn detects_onset_from_a_latency_series() {
    let times: Vec<f64> = (0..400).map(|i| 1000.0 + f64::from(i)).collect();
    let values: Vec<f64> = (0..400)
        .map(|i| {
            let noise = ((i * 31) % 13) as f64 / 13.0;
            if i < 250 { 10.0 + noise } else { 30.0 + noise }
        })
        .collect();
    let frame = TelemetryFrame {
        series: vec![MetricSeries {
            name: "svc_lat_90".into(),
            service: "svc".into(),
            kind: MetricKind::Latency,
            unit: String::new(),
            times,
            values,
        }],
        ..TelemetryFrame::default()
    };
    let onset = detect_onset(
        &frame,
        TimeRange::new(1000.0, 1400.0),
        &BocpdParams::default(),
        3.0,
    )
    .expect("onset");
    assert!((onset.time - 1250.0).abs() <= 3.0, "{onset:?}");
}

#[test]
fn constant_and_tiny_series_give_no_onset() {
    assert!(current_regime_start(&[1.0, 1.0], &BocpdParams::default()).is_none());
    let frame = TelemetryFrame {
        series: vec![MetricSeries {
            name: "c_lat".into(),
            service: "c".into(),
            kind: MetricKind::Latency,
            unit: String::new(),
            times: (0..50).map(f64::from).collect(),
            values: vec![5.0; 50],
        }],
        ..TelemetryFrame::default()
    };
    assert!(
        detect_onset(
            &frame,
            TimeRange::new(0.0, 50.0),
            &BocpdParams::default(),
            3.0
        )
        .is_none()
    );
}
