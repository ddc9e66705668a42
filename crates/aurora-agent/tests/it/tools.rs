//! The tool runtime: unique names, output limits, timeouts and errors as data.

use std::time::Duration;

use aurora_agent::tools::{ToolLimits, Toolset, model_message};
use aurora_core::tool::{ToolEffect, ToolError};
use serde_json::{Value, json};

use crate::harness::{TestTool, arc};

#[tokio::test]
async fn a_large_result_is_cut_with_a_visible_note() {
    let big = TestTool::new("dump", ToolEffect::ReadOnly, json!("x".repeat(100_000)));
    let set = Toolset::new(
        vec![arc(big)],
        ToolLimits {
            max_output_bytes: 1000,
            ..ToolLimits::default()
        },
    );
    let outcome = set.call("c1", "dump", json!({})).await;
    assert!(outcome.payload.truncated);
    let content = outcome.payload.output.clone().unwrap().content;
    let text = content.as_str().unwrap();
    assert!(text.len() < 1100);
    assert!(text.contains("[truncated: 1000 of "), "{text}");
    let message: Value = serde_json::from_str(&model_message(9, "dump", &outcome.payload)).unwrap();
    assert_eq!(message["step"], 9);
    assert_eq!(message["source"], "test tool dump");
    assert!(message["result"].as_str().unwrap().contains("[truncated:"));
}

#[tokio::test]
async fn a_slow_tool_times_out_and_the_error_is_data() {
    let slow = TestTool::series("slow").delayed(Duration::from_secs(10));
    let set = Toolset::new(
        vec![arc(slow)],
        ToolLimits {
            timeout: Duration::from_millis(100),
            ..ToolLimits::default()
        },
    );
    let outcome = set.call("c1", "slow", json!({})).await;
    assert!(matches!(outcome.payload.error, Some(ToolError::Timeout(_))));
    assert!(outcome.duration < Duration::from_secs(5));
    let message: Value = serde_json::from_str(&model_message(3, "slow", &outcome.payload)).unwrap();
    assert!(message["error"].as_str().unwrap().contains("timed out"));
}

#[tokio::test]
async fn duplicate_names_get_a_suffix_and_unknown_tools_are_an_error() {
    let set = Toolset::new(
        vec![
            arc(TestTool::series("query")),
            arc(TestTool::series("query")),
        ],
        ToolLimits::default(),
    );
    let names: Vec<String> = set.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["query", "query_2"]);
    let outcome = set.call("c1", "nope", json!({})).await;
    let error = outcome.payload.error.unwrap().to_string();
    assert!(error.contains("query, query_2"), "{error}");
    assert!(
        set.call("c2", "query_2", json!({}))
            .await
            .payload
            .output
            .is_some()
    );
}

#[tokio::test]
async fn a_snapshot_returns_only_the_requested_window() {
    use aurora_agent::SnapshotTelemetry;
    use aurora_agent::snapshot::SnapshotError;
    use aurora_analysis::synth::{SynthOptions, generate, write_case};
    use aurora_core::telemetry::TelemetrySource;

    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        SnapshotTelemetry::open(dir.path()),
        Err(SnapshotError::NoCase(_))
    ));
    let inc = generate(&SynthOptions::default());
    write_case(&inc, dir.path()).unwrap();
    let snap = SnapshotTelemetry::open(dir.path()).unwrap();
    let window = snap.window();
    assert_eq!(window.onset, inc.onset);
    let all = snap.gather(&window.request()).await.unwrap();
    assert_eq!(all.series.len(), inc.frame.series.len());
    assert!(!all.logs.is_empty() && !all.edges.is_empty());
    assert!(all.queries.iter().any(|q| q.ends_with("data.csv")));
    let mut late = window.request();
    late.start = window.onset;
    late.normal.clear();
    let part = snap.gather(&late).await.unwrap();
    let first = part.series[0].series.points[0].0;
    assert!(first >= window.onset);
    assert!(part.logs.iter().all(|l| l.time >= window.onset));
    let series = &part.series[0];
    assert_eq!(series.series.labels["service"], series.service);

    // A normal period the request names outside its window comes too (a case's reference).
    let mut with_reference = late.clone();
    with_reference.normal = vec![(window.start, window.start + 600.0)];
    let both = snap.gather(&with_reference).await.unwrap();
    let points = &both.series[0].series.points;
    assert!(points.iter().any(|(t, _)| *t < window.start + 600.0));
    assert!(
        !points
            .iter()
            .any(|(t, _)| *t >= window.start + 600.0 && *t < window.onset)
    );
}
