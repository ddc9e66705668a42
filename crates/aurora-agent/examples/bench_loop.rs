//! Loop overhead per step: investigations whose model answers at once (a tool call per turn,
//! then a final report) and whose tool returns at once, on a SQLite store in a temporary
//! directory. What is left of each step's time is Aurora's: recording the step before acting,
//! usage and cost, events, the conversation, the tool runtime.
//!
//! `cargo run --release -p aurora-agent --example bench_loop [TURNS] [RUNS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use aurora_agent::{Budget, Investigator, Resources};
use aurora_core::events::EventBus;
use aurora_core::investigation::TRIGGER_CLI;
use aurora_core::llm::{
    ChatModel, ChatRequest, ChatResponse, DeltaSink, LlmError, StopReason, ToolCall, Usage,
};
use aurora_core::ports::Store;
use aurora_core::telemetry::EvidenceRequest;
use aurora_core::tool::{Tool, ToolEffect, ToolError, ToolOutput, ToolSpec};
use aurora_store::{DatabaseConfig, InProcessEventBus, SqlStore};
use serde_json::json;

/// Answers every turn at once: `turns` tool calls, then the final report.
struct InstantModel {
    turns: usize,
    asked: AtomicUsize,
}

#[async_trait]
impl ChatModel for InstantModel {
    fn name(&self) -> String {
        "bench/instant".into()
    }

    async fn chat(&self, _: &ChatRequest, _: DeltaSink<'_>) -> Result<ChatResponse, LlmError> {
        let turn = self.asked.fetch_add(1, Ordering::Relaxed) % (self.turns + 1);
        let usage = Usage {
            input_tokens: 1_000,
            output_tokens: 50,
        };
        if turn < self.turns {
            return Ok(ChatResponse {
                text: format!("Checking probe {turn}."),
                tool_calls: vec![ToolCall {
                    id: format!("call-{turn}"),
                    name: "probe".into(),
                    arguments: json!({"i": turn}),
                }],
                usage,
                stop: StopReason::ToolUse,
                model: "instant".into(),
            });
        }
        let report = json!({
            "summary": "Nothing found by the probes.",
            "root_cause": null,
            "confidence": "inconclusive",
            "evidence": [],
            "next_steps": ["Connect more telemetry."]
        });
        Ok(ChatResponse {
            text: format!("```json\n{report}\n```"),
            tool_calls: Vec::new(),
            usage,
            stop: StopReason::EndTurn,
            model: "instant".into(),
        })
    }
}

struct Probe(ToolSpec);

#[async_trait]
impl Tool for Probe {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, args: serde_json::Value) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput {
            source: "bench probe".into(),
            content: json!({"probe": args, "value": 42}),
            series: Vec::new(),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let turns: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(20), |a| a.parse())?;

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("aurora.db").display());
    let store = SqlStore::connect(&url, &DatabaseConfig::default()).await?;
    store.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let events: Arc<dyn EventBus> = Arc::new(InProcessEventBus::new(1024));
    let org = store.create_org("bench").await?.id;
    let investigator = Investigator::new(store.clone(), events, Default::default());
    let probe: Arc<dyn Tool> = Arc::new(Probe(ToolSpec {
        name: "probe".into(),
        description: "Returns a value at once.".into(),
        parameters: json!({"type": "object", "properties": {"i": {"type": "integer"}}}),
        effect: ToolEffect::ReadOnly,
    }));

    let mut per_step = Vec::with_capacity(runs);
    let mut steps_total = 0;
    for _ in 0..runs {
        let investigation = store
            .create_investigation(org, None, TRIGGER_CLI, None)
            .await?;
        let resources = Resources {
            tools: vec![probe.clone()],
            model: Some(Arc::new(InstantModel {
                turns,
                asked: AtomicUsize::new(0),
            })),
            budget: Budget {
                max_steps: turns as u32 + 5,
                max_tokens: u64::MAX,
                max_cost_usd: f64::MAX,
                max_cost_per_day_usd: None,
            },
            request: Some(EvidenceRequest {
                start: 0.0,
                end: 600.0,
                onset: 300.0,
                step: 15.0,
                ..Default::default()
            }),
            ..Resources::default()
        };
        let began = Instant::now();
        let done = investigator.run(org, investigation.id, resources).await?;
        let took = began.elapsed().as_secs_f64() * 1_000.0;
        let steps = store.list_steps(org, done.id, None).await?.len();
        steps_total += steps;
        per_step.push(took / steps as f64);
    }
    per_step.sort_by(f64::total_cmp);
    let pct = |q: f64| per_step[((per_step.len() - 1) as f64 * q).round() as usize];
    println!(
        "investigations            {runs} ({turns} tool calls each, {} steps on average)",
        steps_total / runs
    );
    println!(
        "loop overhead per step    p50 {:.2} ms  p90 {:.2} ms  max {:.2} ms (model and tool answer at once; SQLite)",
        pct(0.5),
        pct(0.9),
        pct(1.0)
    );
    Ok(())
}
