//! The engine's promises, on synthetic data.

use super::*;
use crate::frame::{LogLevel, LogRecord, MetricKind, MetricSeries, Span, TimeRange};

/// Deterministic jitter in [-0.5, 0.5).
fn jitter(i: usize, salt: usize) -> f64 {
    ((i * 7919 + salt * 104_729) % 1000) as f64 / 1000.0 - 0.5
}

fn series(service: &str, metric: &str, f: impl Fn(usize) -> f64) -> MetricSeries {
    MetricSeries {
        name: format!("{service}_{metric}"),
        service: service.into(),
        kind: MetricKind::infer(metric),
        unit: String::new(),
        times: (0..600).map(|i| i as f64).collect(),
        values: (0..600).map(f).collect(),
    }
}

fn window_at(onset: f64, end: f64) -> Window {
    Window {
        normal: vec![TimeRange::new(0.0, onset)],
        incident: TimeRange::new(onset, end),
        onset: Some(onset),
        alert_service: None,
        alert_metric: None,
    }
}

#[test]
fn a_latency_step_in_one_service_ranks_it_first() {
    let mut frame = TelemetryFrame::default();
    for (k, svc) in ["alpha", "beta", "gamma", "delta"].iter().enumerate() {
        frame
            .series
            .push(series(svc, "cpu", |i| 10.0 + jitter(i, k)));
        frame.series.push(series(svc, "lat_90", |i| {
            let step = if *svc == "gamma" && i >= 300 {
                40.0
            } else {
                0.0
            };
            50.0 + 5.0 * jitter(i, k + 10) + step
        }));
    }
    let r = rank(&frame, &window_at(300.0, 600.0), &Topology::default()).expect("ranking");
    assert_eq!(r.suspects[0].service, "gamma");
    let ev = &r.suspects[0].evidence[0];
    assert_eq!(ev.subject, "gamma_lat_90");
    assert!(ev.since.is_some_and(|t| (300.0..310.0).contains(&t)));
}

/// A trace: frontend calls backend, which calls db. `slow` adds to db's own time.
fn trace(id: usize, start: f64, db_extra: f64) -> Vec<Span> {
    let tid = format!("t{id}");
    let db = 0.010 + 0.001 * jitter(id, 1) + db_extra;
    let backend = 0.005 + 0.001 * jitter(id, 2) + db + 0.001;
    let front = 0.002 + 0.0005 * jitter(id, 3) + backend + 0.001;
    let sp = |sid: &str, parent: Option<&str>, svc: &str, off: f64, d: f64| Span {
        trace_id: tid.clone(),
        span_id: sid.into(),
        parent_id: parent.map(str::to_string),
        service: svc.into(),
        operation: format!("{svc}-op"),
        start: start + off,
        duration: d,
        error: false,
    };
    vec![
        sp("a", None, "frontend", 0.0, front),
        sp("b", Some("a"), "backend", 0.0005, backend),
        sp("c", Some("b"), "db", 0.001, db),
    ]
}

#[test]
fn a_slow_callee_outranks_its_caller() {
    let mut frame = TelemetryFrame::default();
    for i in 0..400 {
        let t = i as f64;
        let extra = if t >= 200.0 { 0.050 } else { 0.0 };
        frame.spans.extend(trace(i, t, extra));
    }
    let topo = Topology::from_spans(&frame.spans);
    assert!(topo.edges.contains(&("backend".into(), "db".into())));
    let r = rank(&frame, &window_at(200.0, 400.0), &topo).expect("ranking");
    let pos = |s: &str| r.position(s).expect("ranked");
    assert_eq!(r.suspects[0].service, "db", "{:#?}", r.suspects);
    assert!(pos("db") < pos("backend") && pos("db") < pos("frontend"));
}

#[test]
fn a_new_error_template_outranks_noisy_services() {
    let mut frame = TelemetryFrame::default();
    let log = |t: f64, svc: &str, level: LogLevel, msg: String| LogRecord {
        time: t,
        service: svc.into(),
        level,
        message: msg,
    };
    for i in 0..600 {
        let t = i as f64;
        // Noisy services log errors all the time, at the same rate before and after.
        frame.logs.push(log(
            t,
            "noisy-a",
            LogLevel::Error,
            format!("ERROR timeout talking to cache node {}", i % 7),
        ));
        frame.logs.push(log(
            t + 0.5,
            "noisy-b",
            LogLevel::Warn,
            format!("WARN retrying request {i} after 3 ms"),
        ));
        frame.logs.push(log(
            t,
            "quiet",
            LogLevel::Info,
            format!("INFO served order {i} in 12 ms"),
        ));
        if t >= 300.0 && i % 5 == 0 {
            frame.logs.push(log(
                t + 0.2,
                "quiet",
                LogLevel::Error,
                format!(
                    "ERROR NullPointerException in PaymentHandler line {}",
                    40 + i % 3
                ),
            ));
        }
    }
    let r = rank(&frame, &window_at(300.0, 600.0), &Topology::default()).expect("ranking");
    assert_eq!(r.suspects[0].service, "quiet", "{:#?}", r.suspects);
    assert_eq!(r.suspects[0].evidence[0].source, Source::Log);
}

#[test]
fn bad_values_degrade_instead_of_panicking() {
    let mut frame = TelemetryFrame::default();
    frame.series.push(series("nan", "cpu", |_| f64::NAN));
    frame.series.push(series("flat", "cpu", |_| 3.0));
    frame
        .series
        .push(series("zero", "mem", |i| if i >= 300 { 1.0 } else { 0.0 }));
    frame.series.push(series("mixed", "lat", |i| {
        if i % 3 == 0 { f64::NAN } else { 1.0 }
    }));
    frame.normalize();
    let r = rank(&frame, &window_at(300.0, 600.0), &Topology::default()).expect("ranking");
    assert_eq!(r.suspects[0].service, "zero");
    assert!(r.suspects.iter().all(|s| s.score.is_finite()));
    let baro = rank_with(
        &frame,
        &window_at(300.0, 600.0),
        &Topology::default(),
        &RankOptions {
            method: Method::Baro,
            ..RankOptions::default()
        },
    )
    .expect("baro ranking");
    assert_eq!(baro.suspects[0].service, "zero");
}

#[test]
fn empty_frames_and_missing_windows_are_errors_or_fallbacks() {
    let empty = TelemetryFrame::default();
    assert!(rank(&empty, &window_at(1.0, 2.0), &Topology::default()).is_err());
    // No normal window and no known onset: BOCPD finds the step, everything before is normal.
    let mut frame = TelemetryFrame::default();
    frame.series.push(series("a", "lat_90", |i| {
        if i >= 400 {
            30.0 + jitter(i, 1)
        } else {
            10.0 + jitter(i, 1)
        }
    }));
    frame
        .series
        .push(series("b", "lat_90", |i| 10.0 + jitter(i, 2)));
    let w = Window {
        normal: Vec::new(),
        incident: TimeRange::new(0.0, 600.0),
        onset: None,
        alert_service: None,
        alert_metric: None,
    };
    let r = rank(&frame, &w, &Topology::default()).expect("ranking");
    assert!(matches!(r.onset_source, OnsetSource::Detected { .. }));
    assert!((r.onset - 400.0).abs() <= 3.0, "onset {}", r.onset);
    assert_eq!(r.suspects[0].service, "a");
    // Incident before all data: nothing is normal, so nothing can be scored.
    let w2 = Window {
        normal: Vec::new(),
        incident: TimeRange::new(-10.0, 600.0),
        onset: Some(-10.0),
        alert_service: None,
        alert_metric: None,
    };
    assert!(rank(&frame, &w2, &Topology::default()).is_err());
}

#[test]
fn methods_parse() {
    assert_eq!("BARO".parse::<Method>(), Ok(Method::Baro));
    assert_eq!("aurora".parse::<Method>(), Ok(Method::Aurora));
    assert!("x".parse::<Method>().is_err());
}

/// A trace in which `backend` calls `db` through an exit (client) span; `wire` adds time on
/// the network between them, which only the client span sees.
fn trace_with_client(id: usize, start: f64, wire: f64) -> Vec<Span> {
    let tid = format!("w{id}");
    let db = 0.010 + 0.001 * jitter(id, 1);
    let client = db + 0.0005 + 0.0002 * jitter(id, 4) + wire;
    let backend = 0.004 + 0.001 * jitter(id, 2) + client;
    let front = 0.002 + 0.0005 * jitter(id, 3) + backend + 0.001;
    let sp = |sid: &str, parent: Option<&str>, svc: &str, op: &str, off: f64, d: f64| Span {
        trace_id: tid.clone(),
        span_id: sid.into(),
        parent_id: parent.map(str::to_string),
        service: svc.into(),
        operation: op.into(),
        start: start + off,
        duration: d,
        error: false,
    };
    vec![
        sp("a", None, "frontend", "page", 0.0, front),
        sp("b", Some("a"), "backend", "handle", 0.0005, backend),
        sp("c", Some("b"), "backend", "HTTP GET", 0.002, client),
        sp("d", Some("c"), "db", "query", 0.002 + wire / 2.0, db),
    ]
}

#[test]
fn a_slow_network_into_a_callee_blames_the_callee_not_the_waiting_caller() {
    let mut frame = TelemetryFrame::default();
    for i in 0..400 {
        let t = i as f64;
        let wire = if t >= 200.0 { 0.080 } else { 0.0 };
        frame.spans.extend(trace_with_client(i, t, wire));
    }
    let topo = Topology::from_spans(&frame.spans);
    let r = rank(&frame, &window_at(200.0, 400.0), &topo).expect("ranking");
    assert_eq!(r.suspects[0].service, "db", "{:#?}", r.suspects);
}

#[test]
fn a_metric_moving_in_one_service_outranks_one_exploding_in_many() {
    let mut frame = TelemetryFrame::default();
    for (k, svc) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        let k2 = k;
        // Client latency quantiles explode in half the services at once (a shared symptom).
        frame.series.push(series(svc, "client_lat_99", move |i| {
            let base = 0.005 + 0.0005 * jitter(i, k2);
            if i >= 300 && k2 % 2 == 0 {
                base + 30.0 + k2 as f64
            } else {
                base
            }
        }));
        // One service's CPU steps up, moderately.
        frame.series.push(series(svc, "cpu", move |i| {
            let step = if k2 == 3 && i >= 300 { 20.0 } else { 0.0 };
            10.0 + jitter(i, k2 + 20) + step
        }));
    }
    let r = rank(&frame, &window_at(300.0, 600.0), &Topology::default()).expect("ranking");
    assert_eq!(r.suspects[0].service, "d", "{:#?}", r.suspects);
}
