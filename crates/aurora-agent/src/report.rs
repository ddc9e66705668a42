//! Reports: the one the evidence pass alone supports ([`evidence_report`]), written in plain
//! prose from the recorded ranking, and the one the agent concludes with
//! ([`parse_agent_report`]), read from the JSON object its final answer ends with and checked
//! against the recorded steps.
//!
//! The evidence report never says `confirmed`: a statistical ranking points at a service, it
//! does not prove the cause. It says `likely` when the top suspect's evidence is strong and
//! clearly ahead of the next one, `inconclusive` otherwise.

use aurora_analysis::MetricKind;
use aurora_core::incident::IncidentDetail;
use aurora_core::investigation::{
    Confidence, EvidenceItem, Report, ReportSuspect, Step, StepKind, TimelineEntry,
};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::evidence::{Fact, RankingSummary, SuspectSummary, clock};

/// The report method of a report written from the evidence pass alone.
pub const METHOD_EVIDENCE: &str = "evidence";
/// The report method of a report the agent wrote.
pub const METHOD_AGENT: &str = "agent";
/// How far ahead of the second suspect the first must score to be named the root cause.
/// Default 1.2: a 20 % lead, beyond the spread of scores between merely affected services.
pub const CLEAR_LEAD: f64 = 1.2;
/// The robust z-score from which a suspect's strongest fact counts as strong evidence.
/// Default 5: a shift noise alone rarely produces.
pub const STRONG_Z: f64 = 5.0;
/// The z-score from which a fact is listed. Default 1: below it the change is within noise.
const NOTABLE_Z: f64 = 1.0;
/// How many suspects the report lists.
const LISTED_SUSPECTS: usize = 5;
/// How many suspects get their own evidence item.
const CITED_SUSPECTS: usize = 3;
/// How many facts a suspect lists.
const FACTS_PER_SUSPECT: usize = 4;

/// What the report tells besides the ranking: the incident, and why the agent stopped early.
#[derive(Clone, Debug, Default)]
pub struct ReportContext<'a> {
    /// The incident investigated, if any.
    pub incident: Option<&'a IncidentDetail>,
    /// Why the investigation ended before the agent concluded, in words for a person.
    pub stopped: Option<String>,
}

/// The seq of the evidence pass's ranking step, and the ranking.
#[derive(Clone, Copy, Debug)]
pub struct Ranked<'a> {
    /// The recorded ranking.
    pub summary: &'a RankingSummary,
    /// The seq of its `analysis` step.
    pub step: u32,
}

/// The report the evidence pass alone supports.
pub fn evidence_report(ranked: Ranked<'_>, steps: &[Step], context: &ReportContext<'_>) -> Report {
    let summary = ranked.summary;
    let top = summary.suspects.first();
    let second = summary.suspects.get(1);
    let clear = top.is_some_and(|t| {
        t.score > 0.0 && second.is_none_or(|s| t.score >= CLEAR_LEAD * s.score.max(0.0))
    });
    let strong = top.is_some_and(|t| strongest(t).is_some_and(|f| f.z >= STRONG_Z));
    let confidence = if clear && strong {
        Confidence::Likely
    } else {
        Confidence::Inconclusive
    };
    let root_cause = top.filter(|_| clear).map(root_cause_text);
    let text = summary_text(summary, clear, strong, context);

    let mut evidence = Vec::new();
    for source in &summary.sources {
        let claim = match &source.error {
            Some(error) => format!("{} could not be read: {error}", source.source),
            None => format!(
                "{} returned {} series, {} log lines and {} call edges for {} to {}",
                source.source,
                source.series,
                source.logs,
                source.edges,
                clock(summary.start),
                clock(summary.end)
            ),
        };
        evidence.push(EvidenceItem {
            claim,
            steps: vec![source.step],
            source: source.source.clone(),
        });
    }
    for (i, suspect) in summary.suspects.iter().take(CITED_SUSPECTS).enumerate() {
        let facts: Vec<String> = notable(suspect).into_iter().map(Fact::describe).collect();
        let claim = if facts.is_empty() {
            format!(
                "{} ranks #{} with score {:.3}",
                suspect.service,
                i + 1,
                suspect.score
            )
        } else {
            format!(
                "{} ranks #{} with score {:.3}: {}",
                suspect.service,
                i + 1,
                suspect.score,
                facts.join("; ")
            )
        };
        evidence.push(EvidenceItem {
            claim,
            steps: vec![ranked.step],
            source: summary.source_names(),
        });
    }
    if let Some(note) = &summary.note {
        evidence.push(EvidenceItem {
            claim: capitalize(note),
            steps: vec![ranked.step],
            source: "analysis".to_owned(),
        });
    }

    Report {
        summary: text,
        root_cause,
        confidence,
        suspects: summary
            .suspects
            .iter()
            .take(LISTED_SUSPECTS)
            .enumerate()
            .map(|(i, s)| ReportSuspect {
                service: s.service.clone(),
                score: s.score,
                rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
                evidence: notable(s).into_iter().map(Fact::describe).collect(),
            })
            .collect(),
        evidence,
        impact: impact(summary, context),
        timeline: timeline(ranked, steps, context),
        next_steps: next_steps(summary, context),
        method: METHOD_EVIDENCE.to_owned(),
    }
}

/// The facts worth a reader's time: those at least one robust standard deviation out, or the
/// strongest one when none is.
fn notable(suspect: &SuspectSummary) -> Vec<&Fact> {
    let mut facts: Vec<&Fact> = suspect
        .evidence
        .iter()
        .filter(|f| f.z >= NOTABLE_Z)
        .take(FACTS_PER_SUSPECT)
        .collect();
    if facts.is_empty() {
        facts.extend(strongest(suspect));
    }
    facts
}

fn strongest(suspect: &SuspectSummary) -> Option<&Fact> {
    suspect.evidence.iter().max_by(|a, b| a.z.total_cmp(&b.z))
}

fn root_cause_text(top: &SuspectSummary) -> String {
    match strongest(top) {
        Some(fact) => format!(
            "{} is the most likely origin; its strongest signal: {}",
            top.service,
            fact.describe()
        ),
        None => format!("{} is the most likely origin", top.service),
    }
}

fn summary_text(
    summary: &RankingSummary,
    clear: bool,
    strong: bool,
    context: &ReportContext<'_>,
) -> String {
    let what = match context.incident {
        Some(detail) => format!("Incident \"{}\"", detail.incident.title),
        None => "The incident".to_owned(),
    };
    let mut text = match (summary.suspects.first(), summary.suspects.get(1)) {
        (None, _) => format!(
            "{what} could not be traced to a service: {}.",
            summary
                .note
                .as_deref()
                .unwrap_or("the analysis found no service whose telemetry changed")
        ),
        (Some(top), second) => {
            let lead = match second {
                Some(s) => format!(
                    "it scores {:.3} against {:.3} for {}, the next suspect",
                    top.score, s.score, s.service
                ),
                None => format!("it is the only suspect, with score {:.3}", top.score),
            };
            let verdict = match (clear, strong) {
                (true, true) => format!("most likely started in {}", top.service),
                (true, false) => format!("points to {}, but its evidence is weak", top.service),
                (false, _) => format!(
                    "has no clear origin; {} ranks first but not clearly ahead",
                    top.service
                ),
            };
            let fact = strongest(top)
                .map(|f| format!(" Its strongest signal: {}.", f.describe()))
                .unwrap_or_default();
            format!(
                "{what} {verdict} ({lead}), after comparing {} series and {} log lines from \
                 {} services before and after the onset at {}.{fact}",
                summary.series,
                summary.logs,
                summary.services,
                clock(summary.onset)
            )
        }
    };
    if let Some(stopped) = &context.stopped {
        text.push_str(&format!(" The agent stopped early: {stopped}."));
    }
    text
}

fn impact(summary: &RankingSummary, context: &ReportContext<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(detail) = context.incident {
        let firing: Vec<String> = detail
            .alerts
            .iter()
            .map(|a| match &a.alert.service {
                Some(service) => format!("{} ({service})", a.alert.title),
                None => a.alert.title.clone(),
            })
            .collect();
        if !firing.is_empty() {
            parts.push(format!(
                "{} alert{}: {}.",
                firing.len(),
                if firing.len() == 1 { "" } else { "s" },
                firing.join("; ")
            ));
        }
        parts.push(format!(
            "Severity {}{}.",
            detail.incident.severity.as_str(),
            detail
                .incident
                .service
                .as_deref()
                .map(|s| format!(", service {s}"))
                .unwrap_or_default()
        ));
    }
    if let Some(service) = &summary.alert_service {
        parts.push(format!("The symptom shows on {service}."));
    }
    let affected: Vec<&str> = summary
        .suspects
        .iter()
        .filter(|s| s.evidence.iter().any(|f| f.z >= STRONG_Z))
        .map(|s| s.service.as_str())
        .collect();
    if !affected.is_empty() {
        parts.push(format!(
            "Services whose telemetry changed strongly (as cause or effect): {}.",
            affected.join(", ")
        ));
    }
    parts.join(" ")
}

fn timeline(ranked: Ranked<'_>, steps: &[Step], context: &ReportContext<'_>) -> Vec<TimelineEntry> {
    let summary = ranked.summary;
    let mut out = Vec::new();
    if let Some(detail) = context.incident {
        for a in &detail.alerts {
            out.push(TimelineEntry {
                at: a.alert.starts_at,
                text: format!("alert started: {}", a.alert.title),
                step: None,
            });
        }
        out.push(TimelineEntry {
            at: detail.incident.created_at,
            text: "incident opened".to_owned(),
            step: None,
        });
    }
    if let Some(at) = from_unix(summary.onset) {
        out.push(TimelineEntry {
            at,
            text: format!("onset used by the analysis ({})", summary.onset_source),
            step: Some(ranked.step),
        });
    }
    if let Some(since) = summary
        .suspects
        .first()
        .and_then(strongest)
        .and_then(|f| f.since.map(|t| (t, f)))
        && let Some(at) = from_unix(since.0)
    {
        out.push(TimelineEntry {
            at,
            text: format!(
                "{} {} began to change",
                summary.suspects.first().map_or("", |s| s.service.as_str()),
                since.1.subject
            ),
            step: Some(ranked.step),
        });
    }
    for step in steps {
        let text = match step.kind {
            StepKind::ToolResult => summary
                .sources
                .iter()
                .find(|s| s.step == step.seq)
                .map(|s| format!("telemetry gathered from {}", s.source)),
            StepKind::Analysis if step.seq == ranked.step => Some(match summary.suspects.first() {
                Some(top) => format!("analysis ranked {} first", top.service),
                None => "analysis found no suspect".to_owned(),
            }),
            _ => None,
        };
        if let Some(text) = text {
            out.push(TimelineEntry {
                at: step.created_at,
                text,
                step: Some(step.seq),
            });
        }
    }
    out.sort_by_key(|e| e.at);
    out
}

fn next_steps(summary: &RankingSummary, context: &ReportContext<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if summary.sources.is_empty() {
        out.push(
            "Connect Prometheus (Settings → Connectors) so that Aurora can read the metrics \
             around the next incident, then investigate this one again."
                .to_owned(),
        );
    } else if summary.sources.iter().all(|s| s.error.is_some()) {
        out.push(
            "Fix the telemetry connectors that failed (see their errors above and run their \
             health checks), then investigate again."
                .to_owned(),
        );
    } else if summary.suspects.is_empty() {
        out.push(
            "Check that the connected sources hold the alerting service's metrics for the \
             incident's window (labels service, job or pod), then investigate again."
                .to_owned(),
        );
    }
    if let Some(top) = summary.suspects.first() {
        let service = &top.service;
        let at = clock(summary.onset);
        match strongest(top) {
            Some(fact) => out.push(advice(service, fact, &at)),
            None => out.push(format!(
                "Look at {service}'s dashboards and logs around {at}."
            )),
        }
        out.push(format!(
            "Check what changed on {service} shortly before {at}: deploys, config or feature \
             flag changes, scaling events; roll back if one lines up."
        ));
        if let Some(second) = summary.suspects.get(1) {
            out.push(format!(
                "If {service} looks healthy, look at {} next (ranked #2).",
                second.service
            ));
        }
    }
    if let Some(stopped) = &context.stopped {
        out.push(format!(
            "The agent stopped early ({stopped}); raise the limit in the LLM settings or \
             investigate again to let it finish."
        ));
    }
    out
}

fn advice(service: &str, fact: &Fact, at: &str) -> String {
    match fact.source.as_str() {
        "log" => format!(
            "Read {service}'s logs from {at} on for the message \"{}\": its count jumped; \
             find the first occurrence and what the service did just before.",
            fact.subject
        ),
        "trace" => format!(
            "Compare {service}'s traces before and after {at} for {}: the time is spent inside \
             the service itself, so look at its own work (queries, locks, CPU).",
            fact.subject
        ),
        "edge" => format!(
            "Check the network path and connection pools on {}: the time is lost between the \
             services rather than inside either.",
            fact.subject
        ),
        _ => match MetricKind::infer(&fact.subject) {
            MetricKind::Cpu => format!(
                "Check {service}'s CPU usage against its limits and throttling since {at}, and \
                 what else runs on its nodes (a batch job, a noisy neighbour)."
            ),
            MetricKind::Memory => format!(
                "Check {service} for a memory leak: memory growth since {at}, garbage \
                 collection pauses, OOM kills and restarts."
            ),
            MetricKind::Latency => format!(
                "Find what slowed {service} down from {at}: its slowest endpoints and queries, \
                 its dependencies' latency, and its saturation (threads, connection pools)."
            ),
            MetricKind::ErrorRate | MetricKind::SuccessRate => format!(
                "Read {service}'s error logs from {at} on and the status codes it returns; \
                 check its last deploy or config change."
            ),
            _ => format!(
                "Look at {service}'s {} from {at} on: it moved the most of any signal.",
                fact.subject
            ),
        },
    }
}

fn from_unix(t: f64) -> Option<OffsetDateTime> {
    if !t.is_finite() {
        return None;
    }
    OffsetDateTime::from_unix_timestamp_nanos((t * 1e9) as i128).ok()
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The JSON object the agent ends its final answer with.
#[derive(Clone, Debug, Deserialize)]
struct Conclusion {
    summary: String,
    #[serde(default)]
    root_cause: Option<String>,
    #[serde(default)]
    confidence: Option<String>,
    #[serde(default)]
    evidence: Vec<ConclusionItem>,
    #[serde(default)]
    next_steps: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct ConclusionItem {
    claim: String,
    #[serde(default)]
    steps: Vec<u32>,
    #[serde(default)]
    source: Option<String>,
}

/// The schema the system prompt asks the final answer to end with.
pub const REPORT_SCHEMA: &str = r#"{
  "summary": "what happened, in two or three sentences",
  "root_cause": "the cause, or null when the evidence does not single one out",
  "confidence": "confirmed | likely | inconclusive",
  "evidence": [{"claim": "one observation", "steps": [3, 7]}],
  "next_steps": ["a concrete action for the on-call engineer"]
}"#;

/// Reads the agent's report from its final answer: the last JSON object in `text` with a
/// `summary`. Suspects, impact and timeline come from `base` (the evidence report). The report
/// is checked with [`Report::validate`] against `steps`; a `confirmed` one that cites no tool
/// result or analysis step is lowered to `likely`. The error says what is wrong, worded for
/// the model to fix.
pub fn parse_agent_report(text: &str, steps: &[Step], base: &Report) -> Result<Report, String> {
    let conclusion = last_json_object(text).ok_or_else(|| {
        format!(
            "your answer does not end with the JSON report; end it with one JSON object of \
             this shape: {REPORT_SCHEMA}"
        )
    })?;
    let confidence = conclusion
        .confidence
        .as_deref()
        .map(|c| c.trim().to_ascii_lowercase())
        .and_then(|c| c.parse::<Confidence>().ok())
        .unwrap_or(Confidence::Inconclusive);
    let mut report = Report {
        summary: conclusion.summary.trim().to_owned(),
        root_cause: conclusion
            .root_cause
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty() && r != "null"),
        confidence,
        suspects: base.suspects.clone(),
        evidence: conclusion
            .evidence
            .into_iter()
            .map(|item| EvidenceItem {
                claim: item.claim,
                steps: item.steps,
                source: item.source.unwrap_or_default(),
            })
            .collect(),
        impact: base.impact.clone(),
        timeline: base.timeline.clone(),
        next_steps: if conclusion.next_steps.is_empty() {
            base.next_steps.clone()
        } else {
            conclusion.next_steps
        },
        method: METHOD_AGENT.to_owned(),
    };
    let observed = |seq: &u32| {
        steps
            .iter()
            .any(|s| s.seq == *seq && matches!(s.kind, StepKind::ToolResult | StepKind::Analysis))
    };
    if report.confidence == Confidence::Confirmed
        && !report
            .evidence
            .iter()
            .any(|item| item.steps.iter().any(observed))
    {
        report.confidence = Confidence::Likely;
    }
    report.validate(steps)?;
    Ok(report)
}

/// The evidence report with the agent's unparsed conclusion added as a finding citing the
/// step that recorded it.
pub fn with_agent_text(mut base: Report, text: &str, step: u32) -> Report {
    const MAX_CHARS: usize = 2000;
    let text = text.trim();
    if !text.is_empty() {
        let shown: String = text.chars().take(MAX_CHARS).collect();
        let more = if text.chars().count() > MAX_CHARS {
            "…"
        } else {
            ""
        };
        base.evidence.push(EvidenceItem {
            claim: format!("The agent concluded (not in the report format): {shown}{more}"),
            steps: vec![step],
            source: "agent".to_owned(),
        });
    }
    base
}

fn last_json_object(text: &str) -> Option<Conclusion> {
    let mut found = None;
    for (i, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Conclusion>();
        if let Some(Ok(conclusion)) = stream.next() {
            found = Some(conclusion);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::{RANKING_KIND, SourceSummary};

    fn suspect(service: &str, score: f64, z: f64) -> SuspectSummary {
        SuspectSummary {
            service: service.into(),
            score,
            evidence: vec![Fact {
                source: "metric".into(),
                subject: format!("{service}_latency_p95"),
                normal: Some(0.1),
                observed: Some(2.0),
                z,
                since: Some(1000.0),
                note: String::new(),
            }],
        }
    }

    fn ranking(suspects: Vec<SuspectSummary>) -> RankingSummary {
        RankingSummary {
            kind: RANKING_KIND.into(),
            start: 0.0,
            end: 2000.0,
            onset: 1000.0,
            onset_source: "known".into(),
            alert_service: Some("frontend".into()),
            alert_metric: None,
            sources: vec![SourceSummary {
                source: "prometheus \"prod\"".into(),
                step: 2,
                series: 10,
                logs: 0,
                edges: 3,
                error: None,
            }],
            services: 3,
            series: 10,
            logs: 0,
            edges: 3,
            suspects,
            note: None,
        }
    }

    fn report(suspects: Vec<SuspectSummary>) -> Report {
        let summary = ranking(suspects);
        evidence_report(
            Ranked {
                summary: &summary,
                step: 3,
            },
            &[],
            &ReportContext::default(),
        )
    }

    #[test]
    fn a_strong_clear_leader_is_likely_and_named() {
        let r = report(vec![suspect("db", 5.0, 20.0), suspect("api", 2.0, 3.0)]);
        assert_eq!(r.confidence, Confidence::Likely);
        assert!(r.root_cause.as_deref().is_some_and(|c| c.starts_with("db")));
        assert!(
            r.next_steps[0].contains("slowed db down"),
            "{:?}",
            r.next_steps
        );
        assert_eq!(r.method, METHOD_EVIDENCE);
    }

    #[test]
    fn a_close_race_or_weak_evidence_is_inconclusive() {
        let close = report(vec![suspect("db", 5.0, 20.0), suspect("api", 4.8, 19.0)]);
        assert_eq!(close.confidence, Confidence::Inconclusive);
        assert!(close.root_cause.is_none());
        let weak = report(vec![suspect("db", 5.0, 2.0), suspect("api", 1.0, 1.0)]);
        assert_eq!(weak.confidence, Confidence::Inconclusive);
        assert!(weak.summary.contains("weak"), "{}", weak.summary);
    }

    #[test]
    fn an_agent_report_cannot_confirm_without_an_observation() {
        let base = report(vec![suspect("db", 5.0, 20.0)]);
        let step = |seq, kind| Step {
            investigation_id: aurora_core::ids::InvestigationId::new(),
            seq,
            kind,
            payload: serde_json::Value::Null,
            created_at: OffsetDateTime::UNIX_EPOCH,
            duration_ms: None,
            usage: Default::default(),
            cost_usd: 0.0,
        };
        let steps = [
            step(1, StepKind::Message),
            step(2, StepKind::ToolResult),
            step(3, StepKind::Analysis),
        ];
        let text = r#"{"summary": "db", "confidence": "confirmed", "evidence": [{"claim": "x", "steps": [1]}]}"#;
        let r = parse_agent_report(text, &steps, &base).expect("valid");
        assert_eq!(r.confidence, Confidence::Likely);
        let text = r#"{"summary": "db", "confidence": "confirmed", "evidence": [{"claim": "x", "steps": [2]}]}"#;
        let r = parse_agent_report(text, &steps, &base).expect("valid");
        assert_eq!(r.confidence, Confidence::Confirmed);
        let text = r#"{"summary": "db", "evidence": [{"claim": "x", "steps": [9]}]}"#;
        let err = parse_agent_report(text, &steps, &base).expect_err("missing step");
        assert!(err.contains("step 9"), "{err}");
    }

    #[test]
    fn the_last_json_object_is_the_report() {
        let text = "I looked at {\"a\": 1}. Report:\n```json\n{\"summary\": \"db slow\", \
                    \"confidence\": \"likely\", \"evidence\": [{\"claim\": \"x\", \"steps\": [1]}]}\n```";
        let c = last_json_object(text).expect("report");
        assert_eq!(c.summary, "db slow");
        assert_eq!(c.evidence[0].steps, vec![1]);
        assert!(last_json_object("no json here").is_none());
    }
}
