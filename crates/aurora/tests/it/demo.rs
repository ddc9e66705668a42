//! Aurora's main job end to end: an alert arrives, the in-process worker investigates the
//! incident with the organisation's connectors, and the report names the service the fault was
//! injected into. Also the quickstart (`aurora demo`) and `aurora investigate --data`.

use std::process::Command;
use std::time::{Duration, Instant};

use aurora_analysis::synth::{self, SynthOptions};
use aurora_testkit::spawn_app_with;
use serde_json::{Value, json};

fn run(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(args)
        .current_dir(dir)
        .env_remove("AURORA_CONFIG")
        .env("AURORA__LOG__LEVEL", "warn")
        .output()
        .expect("run aurora");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_investigates_its_generated_incident_and_names_the_injected_service() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(
        &[
            "demo",
            "--seed",
            "7",
            "--no-serve",
            "--listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert!(ok, "demo failed:\n{out}\n{err}");
    assert!(
        out.contains("Sign in as admin@demo.aurora.local with password"),
        "{out}"
    );
    let injected = out
        .lines()
        .find_map(|l| l.strip_prefix("Injected fault: "))
        .expect("the demo says which fault it injected");
    let service = injected.rsplit(" in ").next().unwrap();
    let root_cause = out
        .split("## Root cause")
        .nth(1)
        .expect("the report has a root cause section");
    assert!(
        root_cause.trim_start().starts_with(service),
        "the report should name {service}:\n{out}"
    );
    assert!(
        out.contains("/incidents/"),
        "the demo says where to watch: {out}"
    );
    assert!(
        err.contains("analysis"),
        "steps are printed as they come: {err}"
    );
    assert!(
        dir.path().join("aurora-demo").is_dir(),
        "its own data directory"
    );
}

#[test]
fn investigate_data_reports_on_an_offline_snapshot_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let incident = synth::generate(&SynthOptions {
        seed: 21,
        end: 1_790_000_000.0,
        ..SynthOptions::default()
    });
    let case = dir.path().join(incident.case_name());
    synth::write_case(&incident, &case).unwrap();

    let (ok, out, err) = run(
        &["investigate", "--data", case.to_str().unwrap(), "--json"],
        dir.path(),
    );
    assert!(ok, "investigate failed:\n{out}\n{err}");
    let report: Value = serde_json::from_str(&out).expect("the report as JSON");
    assert_eq!(
        report["suspects"][0]["service"],
        incident.root_cause.as_str()
    );
    assert_ne!(
        report["confidence"], "confirmed",
        "never from the evidence alone"
    );
    assert!(
        report["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["steps"].as_array().unwrap().is_empty()),
        "every evidence item cites a step: {report}"
    );

    let (ok, _, err) = run(&["investigate", "--data", "/nonexistent/case"], dir.path());
    assert!(!ok);
    assert!(err.contains("/nonexistent/case"), "says which path: {err}");
}

#[tokio::test]
async fn an_alert_is_investigated_by_the_in_process_worker_with_the_orgs_connector() {
    let app = spawn_app_with(|settings| settings.workers.concurrency = 2).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let client = reqwest::Client::new();
    let incident = synth::generate(&SynthOptions {
        seed: 5,
        end: time::OffsetDateTime::now_utc().unix_timestamp() as f64,
        ..SynthOptions::default()
    });
    let case = tempfile::tempdir().unwrap();
    synth::write_case(&incident, case.path()).unwrap();

    let connector = client
        .post(app.url("/api/v1/connectors"))
        .bearer_auth(&token)
        .json(&json!({"kind": "snapshot", "name": "recorded", "config": {"path": case.path()}}))
        .send()
        .await
        .unwrap();
    assert!(
        connector.status().is_success(),
        "{:?}",
        connector.text().await
    );
    let source: Value = client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "am"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivered = client
        .post(app.url(&format!(
            "/api/v1/webhooks/{}",
            source["id"].as_str().unwrap()
        )))
        .bearer_auth(source["secret"].as_str().unwrap())
        .json(&incident.alert.webhook())
        .send()
        .await
        .unwrap();
    assert!(delivered.status().is_success());
    let outcome: Value = delivered.json().await.unwrap();
    let incident_id = outcome["new_incidents"][0].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(60);
    let investigation = loop {
        let list: Value = client
            .get(app.url(&format!("/api/v1/incidents/{incident_id}/investigations")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let first = list[0].clone();
        if first["status"] == "completed" || first["status"] == "failed" {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "no report within a minute: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(investigation["status"], "completed", "{investigation}");
    assert_eq!(investigation["trigger"], "incident_opened");
    let report = &investigation["report"];
    assert_eq!(
        report["suspects"][0]["service"],
        incident.root_cause.as_str(),
        "{report}"
    );
    let markdown = client
        .get(app.url(&format!(
            "/api/v1/investigations/{}/report.md",
            investigation["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(markdown.contains(&incident.root_cause), "{markdown}");
}
