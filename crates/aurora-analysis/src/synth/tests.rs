use super::*;
use crate::loaders::discover;

fn opts(seed: u64) -> SynthOptions {
    SynthOptions {
        seed,
        ..Default::default()
    }
}

#[test]
fn same_seed_same_incident() {
    let a = generate(&opts(3));
    let b = generate(&opts(3));
    assert_eq!(a, b);
}

#[test]
fn different_seeds_differ() {
    let incs: Vec<SynthIncident> = (0..8).map(|s| generate(&opts(s))).collect();
    for (i, a) in incs.iter().enumerate() {
        for b in &incs[i + 1..] {
            assert_ne!(a.frame, b.frame);
        }
    }
    let roots: std::collections::BTreeSet<&str> =
        incs.iter().map(|i| i.root_cause.as_str()).collect();
    let faults: std::collections::BTreeSet<FaultKind> = incs.iter().map(|i| i.fault).collect();
    let onsets: std::collections::BTreeSet<u64> = incs.iter().map(|i| i.onset as u64).collect();
    let graphs: std::collections::BTreeSet<Vec<(String, String)>> = incs
        .iter()
        .map(|i| i.topology.edges.iter().cloned().collect())
        .collect();
    assert!(roots.len() >= 4, "{roots:?}");
    assert!(faults.len() >= 3, "{faults:?}");
    assert!(onsets.len() >= 6, "{onsets:?}");
    assert_eq!(graphs.len(), incs.len());
}

#[test]
fn incident_is_well_formed() {
    for seed in 0..10 {
        let inc = generate(&opts(seed));
        let o = &inc.options;
        let services = inc.frame.services();
        assert_eq!(services.len(), o.services, "seed {seed}");
        assert!(services.contains(&inc.root_cause));
        assert_ne!(inc.root_cause, inc.entry);
        // Every service is reachable from the entry.
        let reach = crate::topology::downstream(&inc.topology, &inc.entry);
        assert_eq!(reach, services, "seed {seed}");
        // The alert fires after the onset, before the end, upstream of the root cause.
        assert!(inc.alert.starts_at > inc.onset && inc.alert.starts_at <= o.end);
        let up = crate::topology::downstream(&inc.topology, &inc.alert.service);
        assert!(up.contains(&inc.root_cause), "seed {seed}");
        assert!(inc.onset >= o.end - o.incident && inc.onset < o.end - o.incident * 0.75);
        for s in &inc.frame.series {
            assert!(
                s.values.iter().all(|v| v.is_finite() && *v >= 0.0),
                "{}",
                s.name
            );
        }
        // Metrics from the onset on hold the window's incident samples.
        assert_eq!(inc.window.onset, Some(inc.onset));
        assert!(inc.frame.logs.len() > 1000 && inc.frame.spans.len() > 1000);
        assert!(inc.frame.logs.iter().all(|l| l.time <= o.end));
        let hook = inc.alert.webhook();
        assert_eq!(
            hook["alerts"][0]["labels"]["service"],
            inc.alert.service.as_str()
        );
        assert_eq!(hook["status"], "firing");
    }
}

#[test]
fn root_cause_metric_shifts() {
    for seed in 0..12 {
        let inc = generate(&opts(seed));
        let metric = match inc.fault {
            FaultKind::Cpu => "cpu",
            FaultKind::Memory => "mem",
            FaultKind::Latency => "latency_mean",
            FaultKind::ErrorRate => "error_rate",
        };
        let name = format!("{}_{metric}", inc.root_cause);
        let s = inc.frame.series.iter().find(|s| s.name == name);
        let Some(s) = s else { panic!("no {name}") };
        let median_where = |keep: &dyn Fn(f64) -> bool| {
            median_of(
                s.times
                    .iter()
                    .zip(&s.values)
                    .filter(|(t, _)| keep(**t))
                    .map(|(_, v)| *v),
            )
        };
        let before = median_where(&|t| t < inc.onset);
        let after = median_where(&|t| t >= inc.onset + 300.0);
        assert!(
            after > 1.5 * before,
            "seed {seed} {name}: {before} -> {after}"
        );
    }
}

#[test]
fn alert_fires_on_its_metric() {
    for seed in 0..10 {
        let inc = generate(&opts(seed));
        let a = &inc.alert;
        let name = format!("{}_{}", a.service, a.metric);
        let s = inc.frame.series.iter().find(|s| s.name == name);
        let Some(s) = s else { panic!("no {name}") };
        let at = |t: f64| s.times.iter().position(|x| *x == t).map(|i| s.values[i]);
        // Over the threshold for the minute before it fired, under it in normal times.
        let fired = a.starts_at - 60.0;
        assert!(at(fired).is_some_and(|v| v > a.threshold), "seed {seed}");
        let normal = median_of(
            s.times
                .iter()
                .zip(&s.values)
                .filter(|(t, _)| **t < inc.onset)
                .map(|(_, v)| *v),
        );
        assert!(normal < a.threshold, "seed {seed}");
        assert!(a.expr.contains(&format!("service=\"{}\"", a.service)));
        assert_eq!(a.labels["service"], a.service);
        assert_eq!(inc.window.alert_metric.as_deref(), Some(a.metric.as_str()));
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn written_case_loads_back() {
    let inc = generate(&SynthOptions {
        seed: 11,
        services: 6,
        baseline: 1200.0,
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(inc.case_name());
    write_case(&inc, &dir).unwrap();
    let cases = discover(tmp.path()).unwrap();
    assert_eq!(cases.len(), 1);
    let case = cases[0].load().unwrap();
    assert_eq!(case.label.as_deref(), Some(inc.root_cause.as_str()));
    assert_eq!(case.fault.as_deref(), Some(inc.fault.as_str()));
    assert_eq!(case.window.onset, Some(inc.onset));
    assert_eq!(case.topology, inc.topology);
    let (a, b) = (&case.frame, &inc.frame);
    assert_eq!(a.series, b.series);
    assert_eq!(a.logs, b.logs);
    assert_eq!(a.spans.len(), b.spans.len());
    for (x, y) in a.spans.iter().zip(&b.spans) {
        assert_eq!(
            (
                &x.trace_id,
                &x.span_id,
                &x.parent_id,
                &x.service,
                &x.operation,
                x.error
            ),
            (
                &y.trace_id,
                &y.span_id,
                &y.parent_id,
                &y.service,
                &y.operation,
                y.error
            )
        );
        assert!(
            close(x.start, y.start) && close(x.duration, y.duration),
            "{x:?} {y:?}"
        );
    }
    let hook: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("alert.json")).unwrap()).unwrap();
    assert_eq!(hook, inc.alert.webhook());
}

/// Where the engine ranks the root cause over seeds `0..n`, given the window a live incident
/// would give: known onset and alerting service, with (`.2`) and without (`.3`) the alert's
/// metric.
fn positions(n: u64) -> Vec<(u64, FaultKind, Option<usize>, Option<usize>)> {
    (0..n)
        .map(|seed| {
            let inc = generate(&opts(seed));
            let with = crate::rank(&inc.frame, &inc.window, &inc.topology).unwrap();
            let mut w = inc.window.clone();
            w.alert_metric = None;
            let without = crate::rank(&inc.frame, &w, &inc.topology).unwrap();
            (
                seed,
                inc.fault,
                with.position(&inc.root_cause),
                without.position(&inc.root_cause),
            )
        })
        .collect()
}

#[test]
fn engine_finds_the_injected_root_cause() {
    let pos = positions(30);
    for (label, get) in [
        (
            "with alert metric",
            (|p| p.2) as fn(&(u64, FaultKind, Option<usize>, Option<usize>)) -> Option<usize>,
        ),
        ("without alert metric", |p| p.3),
    ] {
        let top1 = pos.iter().filter(|p| get(p) == Some(1)).count();
        let misses: Vec<_> = pos.iter().filter(|p| get(p) != Some(1)).collect();
        assert!(top1 >= 27, "{label}: top-1 {top1}/30; misses {misses:?}");
        assert!(
            pos.iter().all(|p| get(p).is_some_and(|x| x <= 3)),
            "{label}: misses {misses:?}"
        );
    }
}
