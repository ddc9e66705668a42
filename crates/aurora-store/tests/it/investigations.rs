use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use aurora_core::ids::{ConnectorId, IncidentId, InvestigationId, OrgId, SourceId, UserId};
use aurora_core::investigation::{
    ApprovalStatus, Confidence, ConnectorCheck, EvidenceItem, InvestigationStatus, LlmSettings,
    NewConnector, NewStep, Report, StepKind, TRIGGER_INCIDENT_OPENED, TRIGGER_MANUAL,
};
use aurora_core::job;
use aurora_core::llm::Usage;
use aurora_core::model::{Email, Role};
use aurora_core::ports::{AccountStore, InvestigationStore, JobQueue, NewUser, SignalStore};
use aurora_core::secrets::SecretRef;
use aurora_core::source::{DeliveryMeta, IngestRules, NewAlertSource, SourceOptions};
use aurora_store::SqlStore;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::harness::each_backend;

const T0: OffsetDateTime = datetime!(2026-05-04 10:00 UTC);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) async fn user(store: &SqlStore, org: OrgId, email: &str) -> UserId {
    store
        .create_user(
            org,
            NewUser {
                email: Email::parse(email).unwrap(),
                name: "Ed".into(),
                role: Role::Editor,
                password_hash: "x".into(),
            },
        )
        .await
        .unwrap()
        .id
}

/// An open incident of `org`, made the way incidents are made: by an alert.
pub(crate) async fn incident(store: &SqlStore, org: OrgId, fingerprint: &str) -> IncidentId {
    let source = SourceId::new();
    store
        .create_source(
            org,
            NewAlertSource {
                id: source,
                kind: SourceKind::Alertmanager,
                name: format!("am {fingerprint}"),
                secret: SecretRef::new(org, &format!("sources/{source}/1")).unwrap(),
                options: SourceOptions::default(),
            },
        )
        .await
        .unwrap();
    let alert = Alert {
        source_kind: SourceKind::Alertmanager,
        fingerprint: Fingerprint::parse(fingerprint).unwrap(),
        status: AlertStatus::Firing,
        severity: Severity::High,
        title: "checkout is failing".into(),
        description: String::new(),
        labels: BTreeMap::from([("service".into(), format!("checkout-{fingerprint}"))]),
        annotations: BTreeMap::new(),
        service: Some(format!("checkout-{fingerprint}")),
        environment: Some("prod".into()),
        starts_at: T0,
        ends_at: None,
        link: None,
        raw: json!({}),
    };
    let delivery = DeliveryMeta {
        received_at: OffsetDateTime::now_utc(),
        body_sha256: format!("{fingerprint:0>64}"),
    };
    store
        .ingest(org, source, &[alert], &delivery, &IngestRules::default())
        .await
        .unwrap()
        .new_incidents[0]
}

fn step(kind: StepKind, input: u64, output: u64, cost: f64) -> NewStep {
    NewStep {
        kind,
        payload: json!({"text": kind.as_str()}),
        duration_ms: Some(12),
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
        },
        cost_usd: cost,
    }
}

fn report(steps: &[u32]) -> Report {
    Report {
        summary: "payments ran out of connections".into(),
        root_cause: Some("pool size 5 after the deploy".into()),
        confidence: Confidence::Likely,
        suspects: vec![],
        evidence: vec![EvidenceItem {
            claim: "5xx rose".into(),
            steps: steps.to_vec(),
            source: "prometheus".into(),
        }],
        impact: "checkout".into(),
        timeline: vec![],
        next_steps: vec!["roll back".into()],
        method: "agent".into(),
    }
}

#[tokio::test]
async fn an_investigation_runs_from_queued_to_completed_with_its_report() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let ed = user(&store, org, "ed@a.io").await;
        let eve = user(&store, other, "eve@b.io").await;
        let incident = incident(&store, org, "a").await;
        let others_incident = self::incident(&store, other, "b").await;

        let first = store
            .create_investigation(org, Some(incident), TRIGGER_INCIDENT_OPENED, None)
            .await
            .unwrap();
        assert_eq!(first.status, InvestigationStatus::Queued);
        assert_eq!(first.trigger, TRIGGER_INCIDENT_OPENED);
        assert_eq!(first.usage, Usage::default());
        assert!(!first.cancel_requested && first.report.is_none());
        assert_eq!(store.get_investigation(org, first.id).await.unwrap(), first);
        let second = store
            .create_investigation(org, Some(incident), TRIGGER_MANUAL, Some(ed))
            .await
            .unwrap();
        let unrelated = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap();

        // Newest first; by incident; the latest one.
        let ids = |list: Vec<aurora_core::investigation::Investigation>| {
            list.into_iter().map(|i| i.id).collect::<Vec<_>>()
        };
        let all = store.list_investigations(org, None, 50).await.unwrap();
        assert_eq!(ids(all), [unrelated.id, second.id, first.id]);
        let of_incident = store.list_investigations(org, Some(incident), 50).await;
        assert_eq!(ids(of_incident.unwrap()), [second.id, first.id]);
        assert_eq!(
            ids(store.list_investigations(org, None, 1).await.unwrap()).len(),
            1
        );
        let latest = store.latest_for_incident(org, incident).await.unwrap();
        assert_eq!(latest.unwrap().id, second.id);
        assert_eq!(latest_none(&store, org, others_incident).await, None);

        // Another organisation's incident, user or investigation is not found.
        let refused = store
            .create_investigation(org, Some(others_incident), TRIGGER_MANUAL, None)
            .await;
        assert!(matches!(refused, Err(StoreError::NotFound("incident"))));
        let refused = store
            .create_investigation(org, None, TRIGGER_MANUAL, Some(eve))
            .await;
        assert!(matches!(refused, Err(StoreError::NotFound("user"))));
        for (incident, user) in [(Some(IncidentId::new()), None), (None, Some(UserId::new()))] {
            let unknown = store
                .create_investigation(org, incident, TRIGGER_MANUAL, user)
                .await;
            assert!(
                matches!(unknown, Err(StoreError::NotFound(_))),
                "{unknown:?}"
            );
        }
        assert!(matches!(
            store.get_investigation(other, first.id).await,
            Err(StoreError::NotFound("investigation"))
        ));
        assert!(
            store
                .list_investigations(other, None, 50)
                .await
                .unwrap()
                .is_empty()
        );

        // Start, resume, finish.
        let started = store
            .start_investigation(org, first.id, Some("openai/gpt-4o-mini".into()), T0)
            .await
            .unwrap();
        assert_eq!(started.status, InvestigationStatus::Running);
        assert_eq!(started.started_at, Some(T0));
        assert_eq!(started.model.as_deref(), Some("openai/gpt-4o-mini"));
        let resumed = store
            .start_investigation(org, first.id, None, T0 + secs(60))
            .await
            .unwrap();
        assert_eq!(resumed.status, InvestigationStatus::Running);
        assert_eq!(resumed.started_at, Some(T0));
        assert_eq!(resumed.model.as_deref(), Some("openai/gpt-4o-mini"));
        assert!(matches!(
            store.start_investigation(other, first.id, None, T0).await,
            Err(StoreError::NotFound("investigation"))
        ));

        let analysis = store
            .append_step(org, first.id, step(StepKind::Analysis, 0, 0, 0.0), T0)
            .await
            .unwrap();
        let report = report(&[analysis.seq]);
        let not_final = store
            .finish_investigation(org, first.id, InvestigationStatus::Running, None, None, T0)
            .await;
        assert!(matches!(not_final, Err(StoreError::Conflict(_))));
        let done = store
            .finish_investigation(
                org,
                first.id,
                InvestigationStatus::Completed,
                Some(&report),
                None,
                T0 + secs(120),
            )
            .await
            .unwrap();
        assert_eq!(done.status, InvestigationStatus::Completed);
        assert_eq!(done.finished_at, Some(T0 + secs(120)));
        assert_eq!(done.report.as_ref(), Some(&report));
        assert_eq!(store.get_investigation(org, first.id).await.unwrap(), done);

        let again = store
            .finish_investigation(
                org,
                first.id,
                InvestigationStatus::Failed,
                None,
                Some("x"),
                T0,
            )
            .await;
        match again {
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("completed"), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(matches!(
            store.start_investigation(org, first.id, None, T0).await,
            Err(StoreError::Conflict(_))
        ));

        let failed = store
            .finish_investigation(
                org,
                second.id,
                InvestigationStatus::Failed,
                None,
                Some("the model is unreachable"),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(failed.status, InvestigationStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("the model is unreachable"));
        assert_eq!(failed.report, None);
    })
    .await;
}

async fn latest_none(
    store: &SqlStore,
    org: OrgId,
    incident: IncidentId,
) -> Option<InvestigationId> {
    store
        .latest_for_incident(org, incident)
        .await
        .unwrap()
        .map(|i| i.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_get_dense_unique_seqs_and_add_up_their_usage() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let investigation = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        store
            .start_investigation(org, investigation, None, T0)
            .await
            .unwrap();
        let mut appenders = tokio::task::JoinSet::new();
        for n in 0..20u64 {
            let store = store.clone();
            appenders.spawn(async move {
                store
                    .append_step(
                        org,
                        investigation,
                        step(StepKind::Thought, 100 + n, n, 0.125),
                        T0 + secs(n),
                    )
                    .await
                    .unwrap()
                    .seq
            });
        }
        let mut seqs = Vec::new();
        while let Some(seq) = appenders.join_next().await {
            seqs.push(seq.unwrap());
        }
        let unique: BTreeSet<u32> = seqs.iter().copied().collect();
        assert_eq!(seqs.len(), unique.len(), "two appends got the same seq");
        assert_eq!(unique, (1..=20).collect::<BTreeSet<u32>>());

        let steps = store.list_steps(org, investigation, None).await.unwrap();
        let listed: Vec<u32> = steps.iter().map(|s| s.seq).collect();
        assert_eq!(listed, (1..=20).collect::<Vec<u32>>());
        assert!(steps.iter().all(|s| s.kind == StepKind::Thought
            && s.duration_ms == Some(12)
            && s.payload == json!({"text": "thought"})
            && s.investigation_id == investigation));
        let after: Vec<u32> = store
            .list_steps(org, investigation, Some(17))
            .await
            .unwrap()
            .iter()
            .map(|s| s.seq)
            .collect();
        assert_eq!(after, [18, 19, 20]);
        assert!(
            store
                .list_steps(org, investigation, Some(20))
                .await
                .unwrap()
                .is_empty()
        );

        let totals = store.get_investigation(org, investigation).await.unwrap();
        let input: u64 = (0..20).map(|n| 100 + n).sum();
        let output: u64 = (0..20).sum();
        assert_eq!(
            totals.usage,
            Usage {
                input_tokens: input,
                output_tokens: output
            }
        );
        assert_eq!(totals.cost_usd, 2.5);
        let step_input: u64 = steps.iter().map(|s| s.usage.input_tokens).sum();
        assert_eq!(step_input, input);
        let step_cost: f64 = steps.iter().map(|s| s.cost_usd).sum();
        assert_eq!(step_cost, 2.5);
    })
    .await;
}

#[tokio::test]
async fn steps_are_scoped_to_their_organisation() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let investigation = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        let first = store
            .append_step(org, investigation, step(StepKind::Plan, 10, 5, 0.5), T0)
            .await
            .unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.created_at, T0);
        assert!(matches!(
            store
                .append_step(other, investigation, step(StepKind::Plan, 1, 1, 1.0), T0)
                .await,
            Err(StoreError::NotFound("investigation"))
        ));
        assert!(matches!(
            store.list_steps(other, investigation, None).await,
            Err(StoreError::NotFound("investigation"))
        ));
        assert!(matches!(
            store.list_steps(org, InvestigationId::new(), None).await,
            Err(StoreError::NotFound("investigation"))
        ));
        // The refused append added nothing.
        let totals = store.get_investigation(org, investigation).await.unwrap();
        assert_eq!(totals.usage.total(), 15);
        assert_eq!(totals.cost_usd, 0.5);
        assert_eq!(
            store.list_steps(org, investigation, None).await.unwrap(),
            [first]
        );
    })
    .await;
}

#[tokio::test]
async fn cancelling_stops_a_queued_investigation_at_once_and_flags_a_running_one() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let queued = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        let running = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        store
            .start_investigation(org, running, None, T0)
            .await
            .unwrap();
        assert!(!store.is_cancel_requested(org, running).await.unwrap());

        assert!(matches!(
            store.request_cancel(other, queued).await,
            Err(StoreError::NotFound("investigation"))
        ));
        assert!(matches!(
            store.is_cancel_requested(other, queued).await,
            Err(StoreError::NotFound("investigation"))
        ));

        let cancelled = store.request_cancel(org, queued).await.unwrap();
        assert_eq!(cancelled.status, InvestigationStatus::Cancelled);
        assert!(cancelled.cancel_requested);
        assert!(cancelled.finished_at.is_some());
        assert!(matches!(
            store.start_investigation(org, queued, None, T0).await,
            Err(StoreError::Conflict(_))
        ));

        let flagged = store.request_cancel(org, running).await.unwrap();
        assert_eq!(flagged.status, InvestigationStatus::Running);
        assert!(flagged.cancel_requested);
        assert_eq!(flagged.finished_at, None);
        assert!(store.is_cancel_requested(org, running).await.unwrap());
        let stopped = store
            .finish_investigation(org, running, InvestigationStatus::Cancelled, None, None, T0)
            .await
            .unwrap();
        assert_eq!(stopped.status, InvestigationStatus::Cancelled);

        // A final investigation is returned as it is.
        let completed = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        let done = store
            .finish_investigation(
                org,
                completed,
                InvestigationStatus::Completed,
                None,
                None,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(store.request_cancel(org, completed).await.unwrap(), done);
        assert!(!store.is_cancel_requested(org, completed).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn an_approval_is_decided_once_by_a_person_of_its_organisation() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let ed = user(&store, org, "ed@a.io").await;
        let eve = user(&store, other, "eve@b.io").await;
        let investigation = store
            .create_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        let thought = store
            .append_step(org, investigation, step(StepKind::Thought, 0, 0, 0.0), T0)
            .await
            .unwrap();
        let args = json!({"deployment": "payments", "replicas": 4});
        let call = store
            .append_step(
                org,
                investigation,
                NewStep::new(
                    StepKind::ToolCall,
                    json!({"call_id": "c1", "tool": "scale_deployment", "arguments": args}),
                ),
                T0,
            )
            .await
            .unwrap();

        // Only an existing tool call step of the organisation.
        for (org, seq) in [(org, thought.seq), (org, 99), (other, call.seq)] {
            assert!(matches!(
                store
                    .create_approval(org, investigation, seq, "scale_deployment", &args)
                    .await,
                Err(StoreError::NotFound("tool call step"))
            ));
        }
        let approval = store
            .create_approval(org, investigation, call.seq, "scale_deployment", &args)
            .await
            .unwrap();
        assert_eq!(approval.status, ApprovalStatus::Pending);
        assert_eq!(approval.arguments, args);
        assert_eq!(approval.step_seq, call.seq);
        assert!(matches!(
            store
                .create_approval(org, investigation, call.seq, "scale_deployment", &args)
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.get_approval(org, approval.id).await.unwrap(),
            approval
        );
        assert_eq!(
            store.list_pending_approvals(org).await.unwrap(),
            std::slice::from_ref(&approval)
        );
        assert_eq!(
            store
                .approval_for_step(org, investigation, call.seq)
                .await
                .unwrap(),
            Some(approval.clone())
        );
        assert_eq!(
            store
                .approval_for_step(org, investigation, thought.seq)
                .await
                .unwrap(),
            None
        );

        // Another organisation sees nothing and decides nothing.
        assert!(matches!(
            store.get_approval(other, approval.id).await,
            Err(StoreError::NotFound("approval"))
        ));
        assert!(
            store
                .list_pending_approvals(other)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .approval_for_step(other, investigation, call.seq)
                .await
                .unwrap(),
            None
        );
        assert!(matches!(
            store
                .decide_approval(other, approval.id, true, eve, None, T0)
                .await,
            Err(StoreError::NotFound("approval"))
        ));
        // Nor may its user, or someone unknown, decide this organisation's approval.
        assert!(matches!(
            store
                .decide_approval(org, approval.id, true, UserId::new(), None, T0)
                .await,
            Err(StoreError::NotFound("user"))
        ));
        assert!(matches!(
            store
                .decide_approval(org, approval.id, true, eve, None, T0)
                .await,
            Err(StoreError::NotFound("user"))
        ));
        assert_eq!(
            store.get_approval(org, approval.id).await.unwrap().status,
            ApprovalStatus::Pending
        );

        let decided = store
            .decide_approval(
                org,
                approval.id,
                false,
                ed,
                Some("not during peak"),
                T0 + secs(5),
            )
            .await
            .unwrap();
        assert_eq!(decided.status, ApprovalStatus::Rejected);
        assert_eq!(decided.decided_by, Some(ed));
        assert_eq!(decided.decided_at, Some(T0 + secs(5)));
        assert_eq!(decided.reason.as_deref(), Some("not during peak"));
        assert!(store.list_pending_approvals(org).await.unwrap().is_empty());

        match store
            .decide_approval(org, approval.id, true, ed, None, T0 + secs(6))
            .await
        {
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("rejected"), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.get_approval(org, approval.id).await.unwrap(), decided);
    })
    .await;
}

fn new_connector(org: OrgId, name: &str) -> NewConnector {
    let id = ConnectorId::new();
    NewConnector {
        id,
        kind: "prometheus".into(),
        name: name.into(),
        config: json!({"url": "http://prometheus:9090"}),
        secret_refs: BTreeMap::from([(
            "token".into(),
            SecretRef::new(org, &format!("connectors/{id}/token")).unwrap(),
        )]),
    }
}

#[tokio::test]
async fn connectors_have_unique_names_within_their_organisation() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let prod = store
            .create_connector(org, new_connector(org, "prod"))
            .await
            .unwrap();
        assert_eq!(prod.kind, "prometheus");
        assert_eq!(prod.last_check, None);
        let staging = store
            .create_connector(org, new_connector(org, "staging"))
            .await
            .unwrap();
        match store
            .create_connector(org, new_connector(org, "prod"))
            .await
        {
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("\"prod\" already exists"), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        // The name is free in another organisation.
        let theirs = store
            .create_connector(other, new_connector(other, "prod"))
            .await
            .unwrap();

        let listed = store.list_connectors(org).await.unwrap();
        assert_eq!(listed, [prod.clone(), staging.clone()]);
        assert_eq!(store.get_connector(org, prod.id).await.unwrap(), prod);
        assert!(matches!(
            store.get_connector(other, prod.id).await,
            Err(StoreError::NotFound("connector"))
        ));

        let check = ConnectorCheck {
            at: T0,
            ok: false,
            message: "connection refused: is prometheus:9090 reachable?".into(),
        };
        assert!(matches!(
            store.update_connector_check(other, prod.id, &check).await,
            Err(StoreError::NotFound("connector"))
        ));
        let checked = store
            .update_connector_check(org, prod.id, &check)
            .await
            .unwrap();
        assert_eq!(checked.last_check, Some(check));
        assert_eq!(store.get_connector(org, prod.id).await.unwrap(), checked);

        assert!(matches!(
            store.delete_connector(other, prod.id).await,
            Err(StoreError::NotFound("connector"))
        ));
        let deleted = store.delete_connector(org, prod.id).await.unwrap();
        assert_eq!(deleted, checked);
        assert_eq!(store.list_connectors(org).await.unwrap(), [staging]);
        assert_eq!(store.list_connectors(other).await.unwrap(), [theirs]);
        assert!(matches!(
            store.delete_connector(org, prod.id).await,
            Err(StoreError::NotFound("connector"))
        ));
    })
    .await;
}

#[tokio::test]
async fn llm_settings_round_trip_per_organisation() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        assert_eq!(store.get_llm_settings(org).await.unwrap(), None);

        let mut settings = LlmSettings::new("openai", "gpt-4o-mini", T0);
        settings.base_url = Some("http://llm:8080/v1".into());
        settings.api_key_ref = Some(SecretRef::new(org, "llm/openai").unwrap());
        settings.max_cost_per_investigation_usd = 0.75;
        store.put_llm_settings(org, &settings).await.unwrap();
        assert_eq!(
            store.get_llm_settings(org).await.unwrap(),
            Some(settings.clone())
        );
        assert_eq!(store.get_llm_settings(other).await.unwrap(), None);

        let replaced = LlmSettings {
            provider: "ollama".into(),
            model: "llama3.1".into(),
            base_url: None,
            api_key_ref: None,
            max_steps: 30,
            max_tokens_per_investigation: 5_000_000_000,
            max_cost_per_investigation_usd: 0.0,
            max_cost_per_day_usd: 12.5,
            updated_at: T0 + secs(60),
        };
        store.put_llm_settings(org, &replaced).await.unwrap();
        assert_eq!(store.get_llm_settings(org).await.unwrap(), Some(replaced));
    })
    .await;
}

#[tokio::test]
async fn usage_since_sums_the_investigations_created_since() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let start = OffsetDateTime::now_utc() - secs(1);
        let empty = store.usage_since(org, start).await.unwrap();
        assert_eq!(empty, Default::default());

        for (input, cost) in [(1_000, 0.25), (3_000, 1.5)] {
            let id = store
                .create_investigation(org, None, TRIGGER_MANUAL, None)
                .await
                .unwrap()
                .id;
            store
                .append_step(org, id, step(StepKind::Thought, input, 10, cost), T0)
                .await
                .unwrap();
            store
                .append_step(org, id, step(StepKind::Thought, input, 10, cost), T0)
                .await
                .unwrap();
        }
        let theirs = store
            .create_investigation(other, None, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id;
        store
            .append_step(other, theirs, step(StepKind::Thought, 7, 7, 7.0), T0)
            .await
            .unwrap();

        let summary = store.usage_since(org, start).await.unwrap();
        assert_eq!(summary.investigations, 2);
        assert_eq!(
            summary.usage,
            Usage {
                input_tokens: 8_000,
                output_tokens: 40
            }
        );
        assert_eq!(summary.cost_usd, 3.5);
        let later = OffsetDateTime::now_utc() + secs(3600);
        assert_eq!(
            store.usage_since(org, later).await.unwrap(),
            Default::default()
        );
    })
    .await;
}

#[tokio::test]
async fn enqueueing_an_investigation_queues_its_job_in_the_same_step() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let ed = user(&store, org, "ed@a.io").await;
        let incident = incident(&store, org, "a").await;
        let (investigation, job_id) = store
            .enqueue_investigation(org, Some(incident), TRIGGER_MANUAL, Some(ed))
            .await
            .unwrap();
        assert_eq!(investigation.status, InvestigationStatus::Queued);
        assert_eq!(investigation.requested_by, Some(ed));
        assert_eq!(
            store
                .get_investigation(org, investigation.id)
                .await
                .unwrap(),
            investigation
        );
        let (manual, manual_job) = store
            .enqueue_investigation(org, None, TRIGGER_MANUAL, None)
            .await
            .unwrap();

        // Claim every due job (ingest queued one for the incident too) and find ours.
        let mut claimed = BTreeMap::new();
        while let Some(job) = store
            .claim(
                "w1",
                &[job::INVESTIGATE],
                OffsetDateTime::now_utc(),
                secs(30),
            )
            .await
            .unwrap()
        {
            claimed.insert(job.id, job);
        }
        let queued = &claimed[&job_id];
        assert_eq!(queued.org_id, org);
        assert_eq!(queued.kind, job::INVESTIGATE);
        assert_eq!(
            queued.payload,
            json!({"investigation_id": investigation.id, "incident_id": incident})
        );
        assert_eq!(
            claimed[&manual_job].payload,
            json!({"investigation_id": manual.id, "incident_id": null})
        );

        // A refused enqueue leaves neither an investigation nor a job behind.
        assert!(matches!(
            store
                .enqueue_investigation(other, Some(incident), TRIGGER_MANUAL, None)
                .await,
            Err(StoreError::NotFound("incident"))
        ));
        assert!(
            store
                .list_investigations(other, None, 50)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count_jobs(other).await.unwrap().queued, 0);
        assert!(
            store
                .claim(
                    "w1",
                    &[job::INVESTIGATE],
                    OffsetDateTime::now_utc(),
                    secs(30)
                )
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}
