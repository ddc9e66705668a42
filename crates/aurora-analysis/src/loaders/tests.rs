//! Loader tests: synthetic bad input everywhere, real layouts when the shared datasets exist.

use std::io::Write;

use super::*;

fn datasets() -> Option<PathBuf> {
    let d = crate::eval::default_datasets_dir();
    if d.is_dir() {
        Some(d)
    } else {
        println!("skipping: shared datasets not found at {}", d.display());
        None
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let mut f = std::fs::File::create(dir.join(name)).expect("create");
    f.write_all(text.as_bytes()).expect("write");
}

#[test]
fn time_cells_in_any_unit_or_format() {
    assert_eq!(to_unix_seconds(1_675_079_506.0), 1_675_079_506.0);
    assert_eq!(to_unix_seconds(1_675_079_506_000.0), 1_675_079_506.0);
    assert!((to_unix_seconds(1_675_079_459_971_622_667.0) - 1_675_079_459.971_622_7).abs() < 1e-3);
    assert_eq!(parse_time("2023-01-30 11:51:46"), Some(1_675_079_506.0));
    let go = parse_time("2023-01-30 11:39:52.948766709 +0000 UTC m=+0.125597034").expect("go time");
    assert!((go - 1_675_078_792.948_766_7).abs() < 1e-3);
    assert!(parse_time("2023-01-30T11:50:59.97125913Z").is_some());
    assert_eq!(parse_time(""), None);
    assert_eq!(parse_time("yesterday"), None);
}

#[test]
fn ragged_rows_nan_cells_and_unordered_times_load() {
    let root = tempfile::tempdir().expect("tempdir");
    let case = root.path().join("svc_cpu").join("1");
    std::fs::create_dir_all(&case).expect("mkdir");
    write(
        &case,
        "data.csv",
        "time,svc_cpu,svc-db_mem,other_lat_90\n3,1,2,3\n1,1,,3\n2,NaN,2\n4,9,2,3,99\n5,x,2,3\n",
    );
    write(&case, "inject_time.txt", "4\n");
    let found = discover(root.path()).expect("discover");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].layout, Layout::RcaEval);
    let c = found[0].load().expect("load");
    assert_eq!(c.label.as_deref(), Some("svc"));
    assert_eq!(c.fault.as_deref(), Some("cpu"));
    let cpu = c
        .frame
        .series
        .iter()
        .find(|s| s.name == "svc_cpu")
        .expect("svc_cpu");
    assert_eq!(cpu.times, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(cpu.values[1].is_nan());
    assert_eq!(
        c.frame
            .series
            .iter()
            .find(|s| s.name == "svc-db_mem")
            .map(|s| s.service.as_str()),
        Some("svc")
    );
    assert_eq!(c.window.onset, Some(4.0));
}

#[test]
fn missing_or_garbled_files_are_errors_not_panics() {
    let root = tempfile::tempdir().expect("tempdir");
    assert!(discover(&root.path().join("nope")).is_err());
    assert!(discover(root.path()).expect("discover").is_empty());
    let case = root.path().join("a_b");
    std::fs::create_dir_all(&case).expect("mkdir");
    write(&case, "data.csv", "time,a_cpu\n1,1\n");
    write(&case, "inject_time.txt", "not a time");
    let found = discover(root.path()).expect("discover");
    assert!(found[0].load().is_err());
    let pet = root.path().join("pet");
    std::fs::create_dir_all(&pet).expect("mkdir");
    write(
        &pet,
        "metrics.csv",
        "microservice,a\nmetric,latency\nstatistic,Average\n",
    );
    write(&pet, "target.json", "{\"target\": {}}");
    let found = discover(&pet).expect("discover");
    assert_eq!(found[0].layout, Layout::PetShop);
    assert!(found[0].load().is_err());
    let nz = root.path().join("nz");
    std::fs::create_dir_all(&nz).expect("mkdir");
    write(&nz, "x-fault_list.json", "[1, 2");
    assert!(discover(&nz).is_err());
}

#[test]
fn rcaeval_sockshop_case_loads() {
    let Some(d) = datasets() else { return };
    let cases = discover(&d.join("rcd-sockshop/carts_cpu")).expect("discover");
    assert_eq!(cases.len(), 5);
    let c = cases[0].load().expect("load");
    assert_eq!(c.label.as_deref(), Some("carts"));
    assert!(c.frame.series.len() > 30);
    assert!(
        c.frame
            .series
            .iter()
            .any(|s| s.kind == crate::frame::MetricKind::Latency)
    );
    assert!(c.window.onset.is_some() && !c.window.normal.is_empty());
}

#[test]
fn petshop_case_loads_with_graph_and_normal_period() {
    let Some(d) = datasets() else { return };
    let cases = discover(&d.join("petshop/low_traffic")).expect("discover");
    assert_eq!(cases.len(), 8);
    let c = cases[0].load().expect("load");
    assert!(c.label.is_some());
    assert!(c.window.alert_service.is_some());
    assert!(!c.topology.is_empty());
    assert_eq!(c.window.normal.len(), 2, "issue lead-in and noissue period");
    let temporal = discover(&d.join("petshop/temporal_traffic1")).expect("discover");
    let t = temporal[0].load().expect("load");
    assert_eq!(t.window.normal.len(), 1, "no noissue period here");
}

#[test]
fn nezha_day_loads_one_case_per_fault() {
    let Some(d) = datasets() else { return };
    let cases = discover(&d.join("nezha-trainticket")).expect("discover");
    assert_eq!(cases.len(), 17);
    let c = cases[0].load().expect("load");
    assert_eq!(c.label.as_deref(), Some("ts-contacts-service"));
    assert_eq!(c.fault.as_deref(), Some("network_delay"));
    assert!(!c.frame.logs.is_empty() && !c.frame.spans.is_empty());
    assert!(!c.topology.is_empty());
    assert!(c.window.incident.end - c.window.incident.start >= 60.0);
}
