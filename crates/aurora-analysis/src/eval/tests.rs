//! Harness tests: the arithmetic of AC@k, and a small real subset end to end.

use super::*;

fn result(fault: &str, position: Option<usize>, seconds: f64) -> CaseResult {
    CaseResult {
        dataset: "d".into(),
        id: "c".into(),
        fault: fault.into(),
        label: Some("x".into()),
        position,
        top: Vec::new(),
        seconds,
        error: None,
    }
}

#[test]
fn ac_at_k_and_avg5_are_computed_from_positions() {
    let rs = [
        result("cpu", Some(1), 1.0),
        result("cpu", Some(2), 1.0),
        result("mem", Some(4), 2.0),
        result("mem", None, 4.0),
    ];
    let s = Scores::from_results(rs.iter());
    assert_eq!(s.cases, 4);
    assert_eq!(s.ac1, 0.25);
    assert_eq!(s.ac3, 0.5);
    assert_eq!(s.ac5, 0.75);
    // AC@1..5 = .25, .5, .5, .75, .75
    assert!((s.avg5 - 0.55).abs() < 1e-12);
    assert_eq!(s.mean_seconds, 2.0);
    let pf = per_fault(&rs.iter().collect::<Vec<_>>());
    assert_eq!(pf["cpu"].ac1, 0.5);
    assert_eq!(pf["mem"].ac5, 0.5);
    assert_eq!(Scores::from_results(std::iter::empty()).cases, 0);
}

#[test]
fn small_subset_end_to_end() {
    let d = default_datasets_dir();
    if !d.is_dir() {
        println!("skipping: shared datasets not found at {}", d.display());
        return;
    }
    let dirs = vec![
        d.join("rcd-sockshop/payment_mem"),
        d.join("petshop/temporal_traffic2"),
        d.join("no-such-dataset"),
    ];
    let mut started = 0;
    let mut done = 0;
    let report = run_eval(&dirs, &EvalOptions::default(), &mut |p| match p {
        Progress::Started { total } => started = total,
        Progress::CaseDone { .. } => done += 1,
    });
    assert_eq!(started, 7);
    assert_eq!(done, 7);
    assert_eq!(report.scores.cases, 7);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let per = report.per_dataset.as_ref().expect("per dataset");
    assert_eq!(per["payment_mem"].scores.cases, 5);
    assert_eq!(per["temporal_traffic2"].scores.cases, 2);
    // Figures must agree with the positions they summarise.
    let hits1 = report
        .results
        .iter()
        .filter(|r| r.position == Some(1))
        .count();
    assert!((report.scores.ac1 - hits1 as f64 / 7.0).abs() < 1e-12);
    assert!(report.scores.ac1 <= report.scores.ac3 && report.scores.ac3 <= report.scores.ac5);
    let json = serde_json::to_value(&report).expect("json");
    for k in [
        "cases",
        "ac1",
        "ac3",
        "ac5",
        "avg5",
        "mean_seconds",
        "per_fault",
        "per_dataset",
        "failures",
    ] {
        assert!(json.get(k).is_some(), "missing {k}");
    }
    assert!(report.to_string().contains("AC@1"));
    // One directory: no per_dataset.
    let single = run_eval(
        &dirs[..1],
        &EvalOptions {
            method: Method::Baro,
            ..EvalOptions::default()
        },
        &mut |_| {},
    );
    assert!(
        serde_json::to_value(&single)
            .expect("json")
            .get("per_dataset")
            .is_none()
    );
}
