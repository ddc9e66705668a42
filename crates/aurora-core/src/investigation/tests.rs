use serde_json::json;
use time::macros::datetime;

use super::*;

fn step(seq: u32, kind: StepKind) -> Step {
    Step {
        investigation_id: InvestigationId::new(),
        seq,
        kind,
        payload: json!({}),
        created_at: datetime!(2026-05-04 10:00 UTC),
        duration_ms: None,
        usage: Usage::default(),
        cost_usd: 0.0,
    }
}

fn steps() -> Vec<Step> {
    vec![
        step(1, StepKind::Plan),
        step(2, StepKind::Analysis),
        step(3, StepKind::ToolCall),
        step(4, StepKind::ToolResult),
        step(5, StepKind::Finding),
    ]
}

fn evidence(claim: &str, steps: &[u32]) -> EvidenceItem {
    EvidenceItem {
        claim: claim.into(),
        steps: steps.to_vec(),
        source: "prometheus \"prod\"".into(),
    }
}

fn report() -> Report {
    Report {
        summary: "Checkout errors after the 10:02 deploy of payments.".into(),
        root_cause: Some("payments v2.3 exhausts its connection pool".into()),
        confidence: Confidence::Confirmed,
        suspects: vec![
            ReportSuspect {
                service: "cart|legacy".into(),
                score: 0.41,
                rank: 2,
                evidence: vec!["latency up".into()],
            },
            ReportSuspect {
                service: "payments".into(),
                score: 0.873,
                rank: 1,
                evidence: vec!["error rate 12%".into(), "deploy at 10:02".into()],
            },
        ],
        evidence: vec![
            evidence("payments 5xx rose from 0.1% to 12%", &[4, 2]),
            evidence("the rise follows the deploy", &[5]),
        ],
        impact: "About 8% of checkouts failed for 14 minutes.".into(),
        timeline: vec![
            TimelineEntry {
                at: datetime!(2026-05-04 10:05 UTC),
                text: "errors peak".into(),
                step: Some(4),
            },
            TimelineEntry {
                at: datetime!(2026-05-04 10:02 UTC),
                text: "payments v2.3 deployed".into(),
                step: None,
            },
        ],
        next_steps: vec!["Roll back payments to v2.2".into()],
        method: "agent".into(),
    }
}

#[test]
fn a_report_citing_existing_steps_is_valid() {
    assert_eq!(report().validate(&steps()), Ok(()));
}

#[test]
fn evidence_must_cite_steps_that_exist() {
    let mut report = report();
    report.evidence.push(evidence("uncited", &[]));
    report.evidence.push(evidence("made up", &[9]));
    report.timeline[0].step = Some(12);
    let err = report.validate(&steps()).unwrap_err();
    assert!(
        err.contains("evidence 3 (\"uncited\") cites no step"),
        "{err}"
    );
    assert!(
        err.contains("evidence 4 cites step 9, which does not exist"),
        "{err}"
    );
    assert!(
        err.contains("timeline entry \"errors peak\" cites step 12"),
        "{err}"
    );
}

#[test]
fn confirmed_needs_evidence_from_a_tool_result_or_the_analysis() {
    let mut report = report();
    report.evidence = vec![evidence("the agent thinks so", &[1, 5])];
    let err = report.validate(&steps()).unwrap_err();
    assert!(err.contains("lower the confidence to likely"), "{err}");
    report.confidence = Confidence::Likely;
    assert_eq!(report.validate(&steps()), Ok(()));
    report.confidence = Confidence::Confirmed;
    report.evidence = vec![evidence("the analysis ranks it first", &[2])];
    assert_eq!(report.validate(&steps()), Ok(()));
}

#[test]
fn an_empty_summary_is_refused() {
    let mut report = report();
    report.summary = "  ".into();
    assert!(
        report
            .validate(&steps())
            .unwrap_err()
            .contains("summary is empty")
    );
}

#[test]
fn markdown_has_headings_a_ranked_suspect_table_and_step_citations() {
    let markdown = report().to_markdown();
    let expected = "\
# Root-cause report

**Confidence:** Confirmed · **Method:** agent

## Summary

Checkout errors after the 10:02 deploy of payments.

## Root cause

payments v2.3 exhausts its connection pool

## Suspects

| Rank | Service | Score | Evidence |
|---:|---|---:|---|
| 1 | payments | 0.873 | error rate 12%; deploy at 10:02 |
| 2 | cart\\|legacy | 0.410 | latency up |

## Evidence

- payments 5xx rose from 0.1% to 12% [step 2] [step 4] (source: prometheus \"prod\")
- the rise follows the deploy [step 5] (source: prometheus \"prod\")

## Impact

About 8% of checkouts failed for 14 minutes.

## Timeline

- 2026-05-04T10:02:00Z — payments v2.3 deployed
- 2026-05-04T10:05:00Z — errors peak [step 4]

## Next steps

1. Roll back payments to v2.2
";
    assert_eq!(markdown, expected);
}

#[test]
fn markdown_leaves_out_empty_sections() {
    let report = Report {
        summary: "Nothing conclusive.".into(),
        root_cause: None,
        confidence: Confidence::Inconclusive,
        suspects: vec![],
        evidence: vec![],
        impact: String::new(),
        timeline: vec![],
        next_steps: vec![],
        method: "evidence".into(),
    };
    assert_eq!(
        report.to_markdown(),
        "# Root-cause report\n\n**Confidence:** Inconclusive · **Method:** evidence\n\n\
         ## Summary\n\nNothing conclusive.\n"
    );
}

#[test]
fn text_enums_round_trip_and_name_the_accepted_values() {
    for kind in StepKind::ALL {
        assert_eq!(kind.as_str().parse::<StepKind>().unwrap(), *kind);
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    for status in InvestigationStatus::ALL {
        assert_eq!(
            status.as_str().parse::<InvestigationStatus>().unwrap(),
            *status
        );
    }
    assert_eq!(StepKind::ToolResult.as_str(), "tool_result");
    let err = "done".parse::<InvestigationStatus>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown investigation status \"done\": use queued, running, completed, failed, cancelled"
    );
    assert!(InvestigationStatus::Cancelled.is_final());
    assert!(!InvestigationStatus::Running.is_final());
}

#[test]
fn reports_and_settings_survive_json() {
    let report = report();
    let back: Report = serde_json::from_value(serde_json::to_value(&report).unwrap()).unwrap();
    assert_eq!(back, report);
    let settings: LlmSettings = serde_json::from_value(json!({
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": null,
        "api_key_ref": "secret://0190c6a4-5b7e-7cc0-8000-000000000001/llm/openai",
        "updated_at": "2026-05-04T10:00:00Z",
    }))
    .unwrap();
    assert_eq!(settings.max_steps, 12);
    assert_eq!(settings.max_tokens_per_investigation, 200_000);
    assert_eq!(
        settings.api_key_ref.unwrap().to_string(),
        "secret://0190c6a4-5b7e-7cc0-8000-000000000001/llm/openai"
    );
}

#[test]
fn tool_result_payloads_carry_the_output_or_the_error() {
    let failed = ToolResultPayload {
        call_id: "c1".into(),
        output: None,
        error: Some(ToolError::Timeout(30)),
        truncated: false,
    };
    assert_eq!(
        serde_json::to_value(&failed).unwrap(),
        json!({"call_id": "c1", "error": {"kind": "timeout", "message": 30}, "truncated": false})
    );
}
