//! The investigation section of the incident page: the newest investigation's status, its steps
//! in order (tool calls and results collapsible, returned series drawn as charts), pending
//! approvals with Approve and Reject, and the report with every `[step N]` citation linked to
//! its step. The incident page re-reads the section on `investigation_updated` events; the
//! buttons are plain POST forms that also work without JavaScript.

use std::collections::HashMap;

use aurora_core::ids::{ApprovalId, IncidentId, InvestigationId};
use aurora_core::investigation::{
    Approval, Investigation, Report, Step, StepKind, ToolCallPayload, ToolResultPayload,
};
use aurora_core::tool::Series;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::UiError;
use super::incidents::{after_change, parse_id, require_editor};
use super::pages::when;
use crate::auth::UiUser;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::state::AppState;

/// Longest text or JSON shown per step; the API has the rest.
const MAX_SHOWN_TEXT: usize = 20_000;
/// Most series drawn per tool result.
const MAX_CHART_SERIES: usize = 8;
/// Most points per drawn series.
const MAX_CHART_POINTS: usize = 2_000;

/// A piece of text, or a link to the step it cites.
pub(super) struct Part {
    pub(super) text: String,
    pub(super) step: Option<u32>,
}

/// Splits `text` at its `[step N]` citations.
pub(super) fn cite(text: &str) -> Vec<Part> {
    fn plain(parts: &mut Vec<Part>, text: &str) {
        match parts.last_mut() {
            Some(last) if last.step.is_none() => last.text.push_str(text),
            _ if text.is_empty() => {}
            _ => parts.push(Part {
                text: text.to_owned(),
                step: None,
            }),
        }
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[step ") {
        let after = &rest[start + 6..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let closes = after[digits.len()..].starts_with(']');
        match digits.parse::<u32>() {
            Ok(seq) if closes => {
                plain(&mut parts, &rest[..start]);
                parts.push(Part {
                    text: format!("[step {seq}]"),
                    step: Some(seq),
                });
                rest = &after[digits.len() + 1..];
            }
            _ => {
                plain(&mut parts, &rest[..start + 6]);
                rest = after;
            }
        }
    }
    plain(&mut parts, rest);
    parts
}

pub(super) struct StepRow {
    pub(super) seq: u32,
    pub(super) kind: &'static str,
    pub(super) label: String,
    pub(super) at: String,
    pub(super) duration: String,
    /// The step's words (a thought, a finding, an error).
    pub(super) text: String,
    /// A tool call's tool, or the tool a result answers.
    pub(super) tool: String,
    /// Pretty JSON: a call's arguments, a result's content, other steps' payload.
    pub(super) detail: String,
    /// Where a result's data came from.
    pub(super) source: String,
    pub(super) error: String,
    /// `[{"name", "points": [[t, v], …]}]` for the chart, when the result has series.
    pub(super) series: Option<String>,
    /// Collapsed by default (calls, results, long payloads).
    pub(super) collapsible: bool,
    /// The seq of the call's result, or of the result's call.
    pub(super) pair: Option<u32>,
    pub(super) needs_approval: bool,
}

pub(super) struct ApprovalCard {
    pub(super) id: String,
    pub(super) step: u32,
    pub(super) tool: String,
    pub(super) arguments: String,
    pub(super) requested: String,
}

pub(super) struct SuspectRow {
    pub(super) rank: u32,
    pub(super) service: String,
    pub(super) score: String,
    pub(super) evidence: String,
}

pub(super) struct EvidenceRow {
    pub(super) claim: Vec<Part>,
    pub(super) steps: Vec<u32>,
    pub(super) source: String,
}

pub(super) struct TimelineItem {
    pub(super) at: String,
    pub(super) text: Vec<Part>,
    pub(super) step: Option<u32>,
}

pub(super) struct ReportView {
    pub(super) summary: Vec<Part>,
    pub(super) root_cause: Option<Vec<Part>>,
    pub(super) confidence: &'static str,
    pub(super) method: String,
    pub(super) suspects: Vec<SuspectRow>,
    pub(super) evidence: Vec<EvidenceRow>,
    pub(super) impact: Vec<Part>,
    pub(super) timeline: Vec<TimelineItem>,
    pub(super) next_steps: Vec<Vec<Part>>,
}

pub(super) struct InvestigationView {
    pub(super) id: String,
    pub(super) status: &'static str,
    pub(super) trigger: String,
    pub(super) model: String,
    pub(super) started: String,
    pub(super) finished: String,
    pub(super) error: String,
    pub(super) tokens: u64,
    pub(super) cost: String,
    pub(super) running: bool,
    pub(super) cancel_requested: bool,
    pub(super) steps: Vec<StepRow>,
    pub(super) approvals: Vec<ApprovalCard>,
    pub(super) report: Option<ReportView>,
    /// Earlier investigations of the incident.
    pub(super) earlier: usize,
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn pretty(value: &Value) -> String {
    shorten(&serde_json::to_string_pretty(value).unwrap_or_default())
}

/// The words of a step's payload, by the fields the runtime uses.
fn words(payload: &Value) -> Option<String> {
    ["text", "content", "summary", "reason", "error", "message"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .map(shorten)
}

fn chart_json(series: &[Series]) -> Option<String> {
    let drawn: Vec<Value> = series
        .iter()
        .filter(|s| !s.points.is_empty())
        .take(MAX_CHART_SERIES)
        .map(|s| {
            let name = if s.labels.is_empty() {
                "series".to_owned()
            } else {
                let others: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("{}{{{}}}", s.name(), others.join(", "))
            };
            let points: Vec<[f64; 2]> = s
                .points
                .iter()
                .take(MAX_CHART_POINTS)
                .map(|(t, v)| [*t, *v])
                .collect();
            serde_json::json!({"name": name, "points": points})
        })
        .collect();
    (!drawn.is_empty()).then(|| Value::Array(drawn).to_string())
}

fn step_label(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Plan => "Plan",
        StepKind::Thought => "Thought",
        StepKind::ToolCall => "Tool call",
        StepKind::ToolResult => "Result",
        StepKind::Analysis => "Analysis",
        StepKind::Finding => "Finding",
        StepKind::Message => "Message",
        StepKind::Report => "Report",
        StepKind::Error => "Error",
        StepKind::Approval => "Approval",
    }
}

fn step_rows(steps: &[Step], approvals: &HashMap<u32, Approval>) -> Vec<StepRow> {
    let calls: HashMap<String, (u32, String)> = steps
        .iter()
        .filter(|s| s.kind == StepKind::ToolCall)
        .filter_map(|s| {
            let call: ToolCallPayload = serde_json::from_value(s.payload.clone()).ok()?;
            Some((call.call_id, (s.seq, call.tool)))
        })
        .collect();
    let results: HashMap<String, u32> = steps
        .iter()
        .filter(|s| s.kind == StepKind::ToolResult)
        .filter_map(|s| {
            let id = s.payload.get("call_id")?.as_str()?;
            Some((id.to_owned(), s.seq))
        })
        .collect();
    steps
        .iter()
        .map(|step| {
            let mut row = StepRow {
                seq: step.seq,
                kind: step.kind.as_str(),
                label: step_label(step.kind).to_owned(),
                at: when(Some(step.created_at), ""),
                duration: step
                    .duration_ms
                    .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                    .unwrap_or_default(),
                text: String::new(),
                tool: String::new(),
                detail: String::new(),
                source: String::new(),
                error: String::new(),
                series: None,
                collapsible: false,
                pair: None,
                needs_approval: false,
            };
            match step.kind {
                StepKind::ToolCall => {
                    row.collapsible = true;
                    match serde_json::from_value::<ToolCallPayload>(step.payload.clone()) {
                        Ok(call) => {
                            row.pair = results.get(&call.call_id).copied();
                            row.tool = call.tool;
                            row.detail = pretty(&call.arguments);
                            row.needs_approval = approvals.contains_key(&step.seq);
                        }
                        Err(_) => row.detail = pretty(&step.payload),
                    }
                }
                StepKind::ToolResult => {
                    row.collapsible = true;
                    match serde_json::from_value::<ToolResultPayload>(step.payload.clone()) {
                        Ok(result) => {
                            if let Some((seq, tool)) = calls.get(&result.call_id) {
                                row.pair = Some(*seq);
                                row.tool.clone_from(tool);
                            }
                            if let Some(output) = &result.output {
                                row.source.clone_from(&output.source);
                                row.detail = pretty(&output.content);
                                row.series = chart_json(&output.series);
                            }
                            if let Some(error) = &result.error {
                                row.error = error.to_string();
                            }
                            if result.truncated {
                                row.text = "The output was cut to the size limit.".to_owned();
                            }
                        }
                        Err(_) => row.detail = pretty(&step.payload),
                    }
                }
                StepKind::Thought
                | StepKind::Finding
                | StepKind::Error
                | StepKind::Plan
                | StepKind::Approval => match words(&step.payload) {
                    Some(text) => row.text = text,
                    None => {
                        row.detail = pretty(&step.payload);
                        row.collapsible = true;
                    }
                },
                StepKind::Message => {
                    // The prompt Aurora wrote is long and the same each time: collapsed.
                    row.collapsible =
                        step.payload.get("role").and_then(Value::as_str) == Some("user");
                    match words(&step.payload) {
                        Some(text) if row.collapsible => row.detail = text,
                        Some(text) => row.text = text,
                        None => {
                            row.detail = pretty(&step.payload);
                            row.collapsible = true;
                        }
                    }
                }
                StepKind::Analysis | StepKind::Report => {
                    row.collapsible = true;
                    row.detail = pretty(&step.payload);
                }
            }
            row
        })
        .collect()
}

fn report_view(report: &Report) -> ReportView {
    let mut suspects: Vec<SuspectRow> = report
        .suspects
        .iter()
        .map(|s| SuspectRow {
            rank: s.rank,
            service: s.service.clone(),
            score: format!("{:.3}", s.score),
            evidence: s.evidence.join("; "),
        })
        .collect();
    suspects.sort_by_key(|s| s.rank);
    ReportView {
        summary: cite(&report.summary),
        root_cause: report.root_cause.as_deref().map(cite),
        confidence: report.confidence.as_str(),
        method: report.method.clone(),
        suspects,
        evidence: report
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                claim: cite(&e.claim),
                steps: e.steps.clone(),
                source: e.source.clone(),
            })
            .collect(),
        impact: cite(&report.impact),
        timeline: report
            .timeline
            .iter()
            .map(|t| TimelineItem {
                at: when(Some(t.at), ""),
                text: cite(&t.text),
                step: t.step,
            })
            .collect(),
        next_steps: report.next_steps.iter().map(|s| cite(s)).collect(),
    }
}

/// The incident's newest investigation, for the incident page.
pub(super) async fn view(
    state: &AppState,
    user: &UiUser,
    incident: IncidentId,
) -> Result<Option<InvestigationView>, UiError> {
    let org = user.0.org_id();
    let service = state.investigations();
    let all = service.list_for_incident(org, incident).await?;
    let Some(investigation) = all.first().cloned() else {
        return Ok(None);
    };
    let steps = service.steps(org, investigation.id, None).await?;
    let pending: Vec<Approval> = service
        .pending_approvals(org)
        .await?
        .into_iter()
        .filter(|a| a.investigation_id == investigation.id)
        .collect();
    let by_step: HashMap<u32, Approval> = pending.iter().map(|a| (a.step_seq, a.clone())).collect();
    Ok(Some(investigation_view(
        investigation,
        &steps,
        pending,
        &by_step,
        all.len() - 1,
    )))
}

fn investigation_view(
    investigation: Investigation,
    steps: &[Step],
    pending: Vec<Approval>,
    by_step: &HashMap<u32, Approval>,
    earlier: usize,
) -> InvestigationView {
    InvestigationView {
        id: investigation.id.to_string(),
        status: investigation.status.as_str(),
        trigger: investigation.trigger.replace('_', " "),
        model: investigation.model.unwrap_or_default(),
        started: when(investigation.started_at, ""),
        finished: when(investigation.finished_at, ""),
        error: investigation.error.unwrap_or_default(),
        tokens: investigation.usage.total(),
        cost: format!("${:.4}", investigation.cost_usd),
        running: !investigation.status.is_final(),
        cancel_requested: investigation.cancel_requested,
        steps: step_rows(steps, by_step),
        approvals: pending
            .into_iter()
            .map(|a| ApprovalCard {
                id: a.id.to_string(),
                step: a.step_seq,
                tool: a.tool,
                arguments: pretty(&a.arguments),
                requested: when(Some(a.requested_at), ""),
            })
            .collect(),
        report: investigation.report.as_ref().map(report_view),
        earlier,
    }
}

/// `POST /incidents/{id}/investigations`: investigate again.
pub async fn reinvestigate(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let incident = parse_id(&id)?;
    let outcome = state
        .investigations()
        .reinvestigate(user.0.org_id(), incident, user.0.user.id)
        .await
        .map(|_| ())
        .map_err(UiError::from);
    after_change(&state, user, &headers, &id, outcome, String::new()).await
}

/// `POST /incidents/{id}/investigations/{investigation}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path((id, investigation)): Path<(String, String)>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    parse_id(&id)?;
    let investigation: InvestigationId = investigation.parse().map_err(|_| {
        ApiError::not_found(
            "investigation_not_found",
            "Your organisation has no such investigation.",
        )
    })?;
    let outcome = state
        .investigations()
        .cancel(user.0.org_id(), investigation)
        .await
        .map(|_| ())
        .map_err(UiError::from);
    after_change(&state, user, &headers, &id, outcome, String::new()).await
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    reason: String,
}

async fn decide(
    state: AppState,
    user: UiUser,
    headers: HeaderMap,
    id: String,
    approval: String,
    approve: bool,
    reason: String,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    parse_id(&id)?;
    let approval: ApprovalId = approval.parse().map_err(|_| {
        ApiError::not_found(
            "approval_not_found",
            "Your organisation has no such approval.",
        )
    })?;
    let outcome = state
        .investigations()
        .decide(
            user.0.org_id(),
            approval,
            approve,
            user.0.user.id,
            Some(&reason),
        )
        .await
        .map(|_| ())
        .map_err(UiError::from);
    after_change(&state, user, &headers, &id, outcome, String::new()).await
}

/// `POST /incidents/{id}/approvals/{approval}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path((id, approval)): Path<(String, String)>,
    ApiForm(form): ApiForm<DecisionForm>,
) -> Result<Response, UiError> {
    decide(state, user, headers, id, approval, true, form.reason).await
}

/// `POST /incidents/{id}/approvals/{approval}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path((id, approval)): Path<(String, String)>,
    ApiForm(form): ApiForm<DecisionForm>,
) -> Result<Response, UiError> {
    decide(state, user, headers, id, approval, false, form.reason).await
}

#[cfg(test)]
mod tests {
    use super::cite;

    #[test]
    fn citations_become_links_and_the_rest_stays_text() {
        let parts = cite("Errors rose [step 3] after the deploy [step 12]. [step x] [step");
        let shown: Vec<(String, Option<u32>)> =
            parts.into_iter().map(|p| (p.text, p.step)).collect();
        assert_eq!(
            shown,
            [
                ("Errors rose ".to_owned(), None),
                ("[step 3]".to_owned(), Some(3)),
                (" after the deploy ".to_owned(), None),
                ("[step 12]".to_owned(), Some(12)),
                (". [step x] [step".to_owned(), None),
            ]
        );
    }
}
