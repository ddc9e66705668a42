//! The investigation runtime end to end: a real SQLite store, synthetic incidents delivered as
//! alerts, their telemetry served from a case directory, and the scripted LLM server.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aurora_agent::llm::Provider;
use aurora_agent::{Budget, Resources};
use aurora_core::events::{DomainEvent, EventBus, Received};
use aurora_core::investigation::{
    Confidence, InvestigationStatus, Report, Step, StepKind, ToolResultPayload,
};
use aurora_core::ports::Store;
use aurora_core::tool::ToolEffect;
use aurora_testkit::llm::{ScriptedLlm, ScriptedTurn};
use serde_json::json;

use crate::harness::{Env, TestTool, arc, model, options, snapshot};

fn report_of(steps: &[Step]) -> Report {
    let step = steps
        .iter()
        .rev()
        .find(|s| s.kind == StepKind::Report)
        .unwrap();
    serde_json::from_value(step.payload.clone()).unwrap()
}

fn cites_existing_steps(report: &Report, steps: &[Step]) {
    report.validate(steps).unwrap();
    for item in &report.evidence {
        assert!(!item.steps.is_empty(), "{item:?} cites nothing");
        for seq in &item.steps {
            assert!(
                steps.iter().any(|s| s.seq == *seq),
                "{item:?} cites a missing step"
            );
        }
    }
}

fn seqs_are_gapless(steps: &[Step]) {
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step.seq as usize, i + 1);
    }
}

#[tokio::test]
async fn the_evidence_pass_alone_names_the_injected_root_cause() {
    let mut hits = 0;
    let seeds = [1u64, 2, 3, 4, 5, 6];
    for seed in seeds {
        // One organisation per incident, so that ingest does not group them.
        let env = Env::new().await;
        let investigator = env.investigator(options());
        let (incident, inc, case) = env.synth_incident(seed).await;
        let id = env.investigation(Some(incident)).await;
        let mut events = env.events.subscribe(env.org);
        let done = investigator
            .run(env.org, id, Resources::evidence_only(vec![snapshot(&case)]))
            .await
            .unwrap();
        assert_eq!(done.status, InvestigationStatus::Completed);
        let report = done.report.clone().unwrap();
        let steps = env.steps(id).await;
        seqs_are_gapless(&steps);
        assert_eq!(report, report_of(&steps));
        assert_eq!(report.method, "evidence");
        assert_ne!(report.confidence, Confidence::Confirmed);
        cites_existing_steps(&report, &steps);
        assert!(!report.next_steps.is_empty());
        assert!(!report.timeline.is_empty());
        assert!(
            report.impact.contains(&inc.alert.service),
            "{}",
            report.impact
        );
        let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::ToolCall,
                StepKind::ToolResult,
                StepKind::Analysis,
                StepKind::Report
            ]
        );
        // The expression came from the generatorURL.
        assert_eq!(
            steps[0].payload["arguments"]["alert_expr"].as_str(),
            Some(inc.alert.expr.as_str())
        );
        let top = &report.suspects[0].service;
        eprintln!(
            "seed {seed}: root cause {} ({}), top {top}, confidence {}, {:?}",
            inc.root_cause,
            inc.fault,
            report.confidence,
            report
                .suspects
                .iter()
                .map(|s| (&s.service, s.score))
                .collect::<Vec<_>>()
        );
        if *top == inc.root_cause {
            hits += 1;
        }
        if report.confidence == Confidence::Likely {
            assert!(report.root_cause.is_some());
        }
        // Every step was announced.
        let mut announced = 0;
        while let Ok(Some(Received::Event(event))) =
            tokio::time::timeout(Duration::from_millis(50), events.next()).await
        {
            if event
                == (DomainEvent::InvestigationUpdated {
                    investigation: id,
                    incident: Some(incident),
                })
            {
                announced += 1;
            }
        }
        assert!(
            announced >= steps.len(),
            "{announced} events for {} steps",
            steps.len()
        );
    }
    assert_eq!(
        hits,
        seeds.len(),
        "the top suspect is the injected root cause"
    );
}

#[tokio::test]
async fn without_telemetry_the_report_is_inconclusive_and_says_to_connect_prometheus() {
    let env = Env::new().await;
    let (incident, _, _) = env.synth_incident(11).await;
    let id = env.investigation(Some(incident)).await;
    let done = env
        .investigator(options())
        .run(env.org, id, Resources::default())
        .await
        .unwrap();
    let report = done.report.unwrap();
    assert_eq!(done.status, InvestigationStatus::Completed);
    assert_eq!(report.confidence, Confidence::Inconclusive);
    assert!(report.root_cause.is_none());
    assert!(
        report.next_steps[0].contains("Connect Prometheus"),
        "{:?}",
        report.next_steps
    );
    cites_existing_steps(&report, &env.steps(id).await);
}

#[tokio::test]
async fn an_offline_case_is_investigated_from_its_own_window() {
    let env = Env::new().await;
    let (_, inc, case) = env.synth_incident(21).await;
    let window = aurora_agent::SnapshotTelemetry::window_of(&case).unwrap();
    assert!(window.start < window.onset && window.onset < window.end);
    let id = env.investigation(None).await;
    let resources = Resources {
        request: Some(window.request()),
        ..Resources::evidence_only(vec![snapshot(&case)])
    };
    let done = env
        .investigator(options())
        .run(env.org, id, resources)
        .await
        .unwrap();
    let report = done.report.unwrap();
    assert_eq!(report.suspects[0].service, inc.root_cause);
}

/// The final answer of the scripted agent: cites the ranking (3) and the tool result (7).
fn final_answer() -> String {
    format!(
        "The checkout latency comes from the database.\n```json\n{}\n```",
        json!({
            "summary": "payments slowed down after its pool shrank",
            "root_cause": "payments ran out of database connections",
            "confidence": "confirmed",
            "evidence": [
                {"claim": "payments ranks first", "steps": [3]},
                {"claim": "p95 latency rose from 0.1 to 2.3 s", "steps": [7]}
            ],
            "next_steps": ["raise the pool size"]
        })
    )
}

async fn agent_run(provider: Provider) {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(31).await;
    let id = env.investigation(Some(incident)).await;
    let server = ScriptedLlm::start([
        ScriptedTurn::TextThenTools(
            "Let me check the latency.".into(),
            vec![("get_series".into(), json!({"service": "payments"}))],
        ),
        ScriptedTurn::text(final_answer()),
    ])
    .await;
    let tool = TestTool::series("get_series");
    let calls = tool.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(tool)],
        model: Some(model(&server, provider)),
        budget: Budget::default(),
        request: None,
    };
    let done = env
        .investigator(options())
        .run(env.org, id, resources)
        .await
        .unwrap();
    assert_eq!(
        done.status,
        InvestigationStatus::Completed,
        "{:?}",
        done.error
    );
    let steps = env.steps(id).await;
    seqs_are_gapless(&steps);
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StepKind::ToolCall,
            StepKind::ToolResult,
            StepKind::Analysis,
            StepKind::Message,
            StepKind::Thought,
            StepKind::ToolCall,
            StepKind::ToolResult,
            StepKind::Message,
            StepKind::Report
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let report = done.report.unwrap();
    assert_eq!(report.method, "agent");
    assert_eq!(report.confidence, Confidence::Confirmed);
    assert_eq!(
        report.root_cause.as_deref(),
        Some("payments ran out of database connections")
    );
    assert_eq!(report.evidence[1].steps, vec![7]);
    assert!(
        !report.suspects.is_empty(),
        "suspects come from the ranking"
    );
    cites_existing_steps(&report, &steps);

    // Usage and cost per model turn, and in the totals.
    let turns: Vec<&Step> = steps.iter().filter(|s| s.usage.total() > 0).collect();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].seq, 5);
    assert_eq!(turns[1].seq, 8);
    assert!(turns.iter().all(|s| s.cost_usd > 0.0));
    assert_eq!(
        done.usage.total(),
        turns.iter().map(|s| s.usage.total()).sum::<u64>()
    );
    let cost: f64 = turns.iter().map(|s| s.cost_usd).sum();
    assert!((done.cost_usd - cost).abs() < 1e-9);

    // The second request carried the tool result, labelled with its step and source.
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = requests[0].body.to_string();
    assert!(
        first.contains("never instructions"),
        "the system prompt warns about tool output"
    );
    assert!(first.contains("Statistical ranking"));
    let second = requests[1].body.to_string();
    assert!(second.contains("marker-4242"), "{second}");
    assert!(second.contains("test tool get_series"));
    let result: ToolResultPayload = serde_json::from_value(steps[6].payload.clone()).unwrap();
    assert_eq!(
        result.call_id,
        steps[5].payload["call_id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn the_agent_calls_a_tool_and_concludes_over_openai() {
    agent_run(Provider::OpenAi).await;
}

#[tokio::test]
async fn the_agent_calls_a_tool_and_concludes_over_anthropic() {
    agent_run(Provider::Anthropic).await;
}

#[tokio::test]
async fn a_final_answer_without_json_falls_back_to_the_evidence_report() {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(32).await;
    let id = env.investigation(Some(incident)).await;
    let server = ScriptedLlm::start([
        ScriptedTurn::text("I think it is the database."),
        ScriptedTurn::text("Still the database, no JSON, sorry."),
    ])
    .await;
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        model: Some(model(&server, Provider::OpenAi)),
        ..Resources::default()
    };
    let done = env
        .investigator(options())
        .run(env.org, id, resources)
        .await
        .unwrap();
    let report = done.report.unwrap();
    assert_eq!(report.method, "evidence");
    assert_ne!(report.confidence, Confidence::Confirmed);
    let last = report.evidence.last().unwrap();
    assert!(last.claim.contains("Still the database"), "{last:?}");
    // The model was asked once to fix its report.
    assert_eq!(server.requests().len(), 2);
    cites_existing_steps(&report, &env.steps(id).await);
}

#[tokio::test]
async fn a_restarted_run_resumes_without_repeating_recorded_work() {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(41).await;
    let id = env.investigation(Some(incident)).await;

    // First worker: the model asks for a tool, which hangs; the worker dies mid-call.
    let first_server = ScriptedLlm::start([ScriptedTurn::tool_call(
        "get_series",
        json!({"service": "payments"}),
    )])
    .await;
    let hanging = TestTool::series("get_series").delayed(Duration::from_secs(3600));
    let hanging_calls = hanging.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(hanging)],
        model: Some(model(&first_server, Provider::OpenAi)),
        ..Resources::default()
    };
    let investigator = Arc::new(env.investigator(options()));
    let worker = {
        let investigator = investigator.clone();
        let org = env.org;
        tokio::spawn(async move { investigator.run(org, id, resources).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while hanging_calls.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the tool never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.abort();
    let _ = worker.await;
    let before = env.steps(id).await;
    assert_eq!(before.last().unwrap().kind, StepKind::ToolCall);
    assert_eq!(first_server.requests().len(), 1);

    // Second worker: only the unanswered call runs again, and only the next turn is asked.
    let second_server = ScriptedLlm::start([ScriptedTurn::text(final_answer())]).await;
    let tool = TestTool::series("get_series");
    let calls = tool.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(tool)],
        model: Some(model(&second_server, Provider::OpenAi)),
        ..Resources::default()
    };
    let done = investigator.run(env.org, id, resources).await.unwrap();
    assert_eq!(done.status, InvestigationStatus::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let requests = second_server.requests();
    assert_eq!(requests.len(), 1, "the recorded turn is not asked again");
    assert!(requests[0].body.to_string().contains("marker-4242"));
    let steps = env.steps(id).await;
    seqs_are_gapless(&steps);
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.kind == StepKind::Analysis)
            .count(),
        1
    );
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.kind == StepKind::ToolCall)
            .count(),
        2
    );
    assert_eq!(done.report.unwrap().method, "agent");

    // Running a finished investigation again changes nothing.
    let again = investigator
        .run(env.org, id, Resources::default())
        .await
        .unwrap();
    assert_eq!(again.status, InvestigationStatus::Completed);
    assert_eq!(env.steps(id).await.len(), steps.len());
}

async fn budget_run(budget: Budget, expect: &str) {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(51).await;
    let id = env.investigation(Some(incident)).await;
    let server = ScriptedLlm::with_responder(|_| {
        ScriptedTurn::tool_call("get_series", json!({"service": "payments"}))
    })
    .await;
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(TestTool::series("get_series"))],
        model: Some(model(&server, Provider::OpenAi)),
        budget,
        request: None,
    };
    let done = env
        .investigator(options())
        .run(env.org, id, resources)
        .await
        .unwrap();
    assert_eq!(done.status, InvestigationStatus::Completed);
    let report = done.report.unwrap();
    assert_eq!(report.method, "evidence");
    assert!(
        report.summary.contains("stopped early"),
        "{}",
        report.summary
    );
    assert!(report.summary.contains(expect), "{}", report.summary);
    let steps = env.steps(id).await;
    assert!(steps.iter().any(|s| s.kind == StepKind::Finding));
    cites_existing_steps(&report, &steps);
}

#[tokio::test]
async fn max_steps_stops_the_loop_with_a_report_saying_so() {
    let budget = Budget {
        max_steps: 3,
        ..Budget::default()
    };
    budget_run(budget, "max steps").await;
}

#[tokio::test]
async fn max_tokens_stops_the_loop_with_a_report_saying_so() {
    let budget = Budget {
        max_tokens: 200,
        ..Budget::default()
    };
    budget_run(budget, "max tokens").await;
}

#[tokio::test]
async fn a_cancelled_run_ends_as_cancelled() {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(61).await;
    let id = env.investigation(Some(incident)).await;
    let server = ScriptedLlm::with_responder(|_| {
        ScriptedTurn::tool_call("get_series", json!({})).delayed(Duration::from_millis(200))
    })
    .await;
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(TestTool::series("get_series"))],
        model: Some(model(&server, Provider::OpenAi)),
        ..Resources::default()
    };
    let store: Arc<dyn Store> = env.store.clone();
    let org = env.org;
    let canceller = tokio::spawn(async move {
        loop {
            let steps = store.list_steps(org, id, None).await.unwrap();
            if steps
                .iter()
                .any(|s| s.kind == StepKind::ToolResult && s.seq > 3)
            {
                store.request_cancel(org, id).await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        env.investigator(options()).run(env.org, id, resources),
    )
    .await
    .unwrap()
    .unwrap();
    canceller.await.unwrap();
    assert_eq!(done.status, InvestigationStatus::Cancelled);
    assert!(
        env.steps(id)
            .await
            .iter()
            .all(|s| s.kind != StepKind::Report)
    );
}

async fn approval_run(approve: bool) {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(71).await;
    let id = env.investigation(Some(incident)).await;
    let server = ScriptedLlm::start([
        ScriptedTurn::tool_call("restart_service", json!({"service": "payments"})),
        ScriptedTurn::text(final_answer()),
    ])
    .await;
    let tool = TestTool::new("restart_service", ToolEffect::Mutating, json!("restarted"));
    let calls = tool.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(tool)],
        model: Some(model(&server, Provider::OpenAi)),
        ..Resources::default()
    };
    let store: Arc<dyn Store> = env.store.clone();
    let (org, user) = (env.org, env.user);
    let probe = calls.clone();
    let decider = tokio::spawn(async move {
        loop {
            let pending = store.list_pending_approvals(org).await.unwrap();
            if let Some(approval) = pending.first() {
                // Nothing ran while the approval was pending.
                assert_eq!(probe.load(Ordering::SeqCst), 0);
                assert_eq!(approval.tool, "restart_service");
                assert_eq!(approval.step_seq, 6);
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert_eq!(probe.load(Ordering::SeqCst), 0);
                store
                    .decide_approval(
                        org,
                        approval.id,
                        approve,
                        user,
                        Some("not during peak hours"),
                        time::OffsetDateTime::now_utc(),
                    )
                    .await
                    .unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        env.investigator(options()).run(env.org, id, resources),
    )
    .await
    .unwrap()
    .unwrap();
    decider.await.unwrap();
    assert_eq!(done.status, InvestigationStatus::Completed);
    let steps = env.steps(id).await;
    let result: ToolResultPayload = serde_json::from_value(steps[6].payload.clone()).unwrap();
    let second = server.requests()[1].body.to_string();
    if approve {
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(result.output.is_some());
    } else {
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let error = result.error.unwrap().to_string();
        assert_eq!(error, "rejected by Ona Call: not during peak hours");
        assert!(
            second.contains("rejected by Ona Call: not during peak hours"),
            "{second}"
        );
    }
}

#[tokio::test]
async fn a_mutating_tool_runs_only_after_approval() {
    approval_run(true).await;
}

#[tokio::test]
async fn a_rejected_mutating_call_is_not_run_and_the_model_is_told() {
    approval_run(false).await;
}

#[tokio::test]
async fn a_resumed_mutating_call_runs_with_the_approval_recorded_before_the_restart() {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(81).await;
    let id = env.investigation(Some(incident)).await;
    let store: Arc<dyn Store> = env.store.clone();

    // First worker: asks for approval, then dies while waiting.
    let first_server = ScriptedLlm::start([ScriptedTurn::tool_call(
        "restart_service",
        json!({"service": "payments"}),
    )])
    .await;
    let first_tool = TestTool::new("restart_service", ToolEffect::Mutating, json!("restarted"));
    let first_calls = first_tool.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(first_tool)],
        model: Some(model(&first_server, Provider::OpenAi)),
        ..Resources::default()
    };
    let investigator = Arc::new(env.investigator(options()));
    let worker = {
        let investigator = investigator.clone();
        let org = env.org;
        tokio::spawn(async move { investigator.run(org, id, resources).await })
    };
    let approval = loop {
        if let Some(a) = store.list_pending_approvals(env.org).await.unwrap().pop() {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    worker.abort();
    let _ = worker.await;
    assert_eq!(first_calls.load(Ordering::SeqCst), 0);
    store
        .decide_approval(
            env.org,
            approval.id,
            true,
            env.user,
            None,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();

    // Second worker: finds the approval, runs the call once, asks only the next turn.
    let second_server = ScriptedLlm::start([ScriptedTurn::text(final_answer())]).await;
    let tool = TestTool::new("restart_service", ToolEffect::Mutating, json!("restarted"));
    let calls = tool.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(tool)],
        model: Some(model(&second_server, Provider::OpenAi)),
        ..Resources::default()
    };
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        investigator.run(env.org, id, resources),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(done.status, InvestigationStatus::Completed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_server.requests().len(), 1);
    assert_eq!(first_server.requests().len(), 1);
}

#[tokio::test]
async fn cancelling_while_an_approval_is_pending_ends_as_cancelled() {
    let env = Env::new().await;
    let (incident, _, case) = env.synth_incident(91).await;
    let id = env.investigation(Some(incident)).await;
    let server = ScriptedLlm::start([ScriptedTurn::tool_call("restart_service", json!({}))]).await;
    let tool = TestTool::new("restart_service", ToolEffect::Mutating, json!("restarted"));
    let calls = tool.calls();
    let resources = Resources {
        telemetry: vec![snapshot(&case)],
        tools: vec![arc(tool)],
        model: Some(model(&server, Provider::OpenAi)),
        ..Resources::default()
    };
    let store: Arc<dyn Store> = env.store.clone();
    let org = env.org;
    let canceller = tokio::spawn(async move {
        while store.list_pending_approvals(org).await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        store.request_cancel(org, id).await.unwrap();
    });
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        env.investigator(options()).run(env.org, id, resources),
    )
    .await
    .unwrap()
    .unwrap();
    canceller.await.unwrap();
    assert_eq!(done.status, InvestigationStatus::Cancelled);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
