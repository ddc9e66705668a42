use std::collections::BTreeMap;
use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use aurora_core::grouping::{MAX_RULES_PER_ORG, NewGroupingRule};
use aurora_core::ids::{IncidentId, OrgId, SourceId};
use aurora_core::incident::{
    Actor, AlertFilter, DETAIL_ALERTS, DETAIL_EVENTS, EventFilter, EventKind, IncidentChange,
    IncidentFilter, IncidentStatus,
};
use aurora_core::job::{self, JobFilter, JobStatus};
use aurora_core::model::{Email, Role};
use aurora_core::ports::{AccountStore, JobQueue, NewUser, SignalStore};
use aurora_core::secrets::SecretRef;
use aurora_core::source::{
    DeliveryMeta, DeliveryOutcome, IngestRules, NewAlertSource, SourceOptions,
};
use aurora_store::SqlStore;
use time::OffsetDateTime;

use crate::harness::each_backend;

async fn new_source(store: &SqlStore, org: OrgId, name: &str) -> SourceId {
    let id = SourceId::new();
    store
        .create_source(
            org,
            NewAlertSource {
                id,
                kind: SourceKind::Alertmanager,
                name: name.into(),
                secret: SecretRef::new(org, &format!("sources/{id}/1")).unwrap(),
                options: SourceOptions::default(),
            },
        )
        .await
        .unwrap();
    id
}

fn alert(fingerprint: &str, service: &str, env: &str, severity: Severity) -> Alert {
    Alert {
        source_kind: SourceKind::Alertmanager,
        fingerprint: Fingerprint::parse(fingerprint).unwrap(),
        status: AlertStatus::Firing,
        severity,
        title: format!("{service} {fingerprint} is failing"),
        description: String::new(),
        labels: BTreeMap::from([
            ("service".into(), service.into()),
            ("env".into(), env.into()),
        ]),
        annotations: BTreeMap::new(),
        service: Some(service.into()),
        environment: Some(env.into()),
        starts_at: time::macros::datetime!(2026-05-04 10:00 UTC),
        ends_at: None,
        link: None,
        raw: serde_json::json!({"fingerprint": fingerprint}),
    }
}

fn resolved(mut alert: Alert) -> Alert {
    alert.status = AlertStatus::Resolved;
    alert.ends_at = Some(time::macros::datetime!(2026-05-04 10:05 UTC));
    alert
}

fn delivery(body: &str, at: OffsetDateTime) -> DeliveryMeta {
    DeliveryMeta {
        received_at: at,
        body_sha256: format!("{body:0>64}"),
    }
}

async fn ingest(
    store: &SqlStore,
    org: OrgId,
    source: SourceId,
    alerts: &[Alert],
    body: &str,
) -> aurora_core::source::IngestOutcome {
    store
        .ingest(
            org,
            source,
            alerts,
            &delivery(body, OffsetDateTime::now_utc()),
            &IngestRules::default(),
        )
        .await
        .unwrap()
}

fn kinds(detail: &aurora_core::incident::IncidentDetail) -> Vec<EventKind> {
    detail.timeline.iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn sources_are_scoped_to_their_org_and_rotate_with_a_grace_period() {
    each_backend(|store: SqlStore| async move {
        let a = store.create_org("A").await.unwrap();
        let b = store.create_org("B").await.unwrap();
        let id = new_source(&store, a.id, "prod alertmanager").await;

        let listed = store.list_sources(a.id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "prod alertmanager");
        assert!(store.list_sources(b.id).await.unwrap().is_empty());
        assert!(matches!(
            store.get_source(b.id, id).await,
            Err(StoreError::NotFound(_))
        ));
        let found = store.find_source(id).await.unwrap().unwrap();
        assert_eq!(found, listed[0]);
        assert!(store.find_source(SourceId::new()).await.unwrap().is_none());

        let now = OffsetDateTime::now_utc();
        let second = SecretRef::new(a.id, &format!("sources/{id}/2")).unwrap();
        let (after, dropped) = store
            .rotate_source_secret(a.id, id, second.clone(), now + Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(dropped, None);
        assert_eq!(after.secret, second);
        assert_eq!(after.previous_secret, Some(found.secret.clone()));
        assert_eq!(store.get_source(a.id, id).await.unwrap(), after);
        assert_eq!(after.valid_secrets(now).len(), 2);
        assert_eq!(
            after.valid_secrets(now + Duration::from_secs(61)),
            vec![&second]
        );

        let third = SecretRef::new(a.id, &format!("sources/{id}/3")).unwrap();
        let (_, dropped) = store
            .rotate_source_secret(a.id, id, third.clone(), now)
            .await
            .unwrap();
        assert_eq!(dropped, Some(found.secret));
        assert!(matches!(
            store.rotate_source_secret(b.id, id, third, now).await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn a_firing_alert_opens_an_incident_and_enqueues_an_investigation() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let outcome = ingest(
            &store,
            org.id,
            source,
            &[alert("fp1", "checkout", "prod", Severity::High)],
            "1",
        )
        .await;
        assert_eq!((outcome.alerts, outcome.new_alerts), (1, 1));
        assert_eq!(outcome.new_incidents.len(), 1);
        assert!(!outcome.replayed);

        let detail = store
            .get_incident(org.id, outcome.new_incidents[0])
            .await
            .unwrap();
        assert_eq!(detail.incident.status, IncidentStatus::Open);
        assert_eq!(detail.incident.severity, Severity::High);
        assert_eq!(detail.incident.title, "checkout fp1 is failing");
        assert_eq!(detail.incident.service.as_deref(), Some("checkout"));
        assert_eq!(detail.alerts.len(), 1);
        assert_eq!(detail.alerts[0].alert.labels["env"], "prod");
        assert_eq!(detail.alerts[0].repeat_count, 0);
        assert_eq!(
            kinds(&detail),
            vec![EventKind::Opened, EventKind::AlertAttached]
        );
        assert_eq!(detail.timeline[0].actor, Actor::Source(source));

        let jobs = store
            .list_jobs(org.id, &JobFilter::default())
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, job::INVESTIGATE);
        assert_eq!(jobs[0].status, JobStatus::Queued);
        assert_eq!(
            jobs[0].payload["incident_id"],
            outcome.new_incidents[0].to_string()
        );

        let deliveries = store.list_deliveries(org.id, source, 10).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].outcome, DeliveryOutcome::Accepted);
        assert_eq!(deliveries[0].alert_count, 1);
    })
    .await;
}

#[tokio::test]
async fn repeats_are_counted_and_changes_update_the_alert() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let first = alert("fp1", "checkout", "prod", Severity::Warning);
        let opened = ingest(&store, org.id, source, std::slice::from_ref(&first), "1").await;
        let incident = opened.new_incidents[0];

        let again = ingest(&store, org.id, source, std::slice::from_ref(&first), "2").await;
        assert_eq!((again.repeats, again.new_alerts, again.updated), (1, 0, 0));
        assert!(again.new_incidents.is_empty());

        let mut changed = first.clone();
        changed.severity = Severity::Critical;
        changed.description = "now worse".into();
        let updated = ingest(&store, org.id, source, &[changed], "3").await;
        assert_eq!(updated.updated, 1);

        let detail = store.get_incident(org.id, incident).await.unwrap();
        assert_eq!(detail.alerts.len(), 1, "never stored twice");
        assert_eq!(detail.alerts[0].repeat_count, 1);
        assert_eq!(detail.alerts[0].alert.description, "now worse");
        assert_eq!(detail.incident.severity, Severity::Critical);
        assert_eq!(
            kinds(&detail),
            vec![
                EventKind::Opened,
                EventKind::AlertAttached,
                EventKind::AlertUpdated,
                EventKind::SeverityChanged,
            ]
        );
        assert_eq!(
            detail.timeline[2].detail["changed"],
            serde_json::json!(["description", "severity"])
        );
        assert_eq!(
            store
                .list_jobs(org.id, &JobFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn alerts_group_by_fingerprint_then_service_and_environment_within_the_window() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let other_source = new_source(&store, org.id, "am replica").await;
        let now = OffsetDateTime::now_utc();
        let rules = IngestRules::default();
        let at = |body: &str, minutes: u64| delivery(body, now + Duration::from_secs(minutes * 60));

        let opened = store
            .ingest(
                org.id,
                source,
                &[
                    alert("a", "checkout", "prod", Severity::Warning),
                    alert("b", "checkout", "prod", Severity::Critical),
                    alert("c", "checkout", "staging", Severity::Low),
                ],
                &at("1", 0),
                &rules,
            )
            .await
            .unwrap();
        assert_eq!(opened.new_incidents.len(), 2, "prod and staging");
        let prod = opened.new_incidents[0];
        let detail = store.get_incident(org.id, prod).await.unwrap();
        assert_eq!(detail.alerts.len(), 2);
        assert_eq!(detail.incident.severity, Severity::Critical);

        // The same fingerprint from another source joins the open incident, even later.
        let replica = store
            .ingest(
                org.id,
                other_source,
                &[alert("a", "checkout", "prod", Severity::Warning)],
                &at("2", 30),
                &rules,
            )
            .await
            .unwrap();
        assert!(replica.new_incidents.is_empty());
        assert_eq!(
            store.get_incident(org.id, prod).await.unwrap().alerts.len(),
            3
        );

        // A new fingerprint of the same service after the window opens a new incident.
        let late = store
            .ingest(
                org.id,
                source,
                &[alert("d", "checkout", "prod", Severity::Warning)],
                &at("3", 30),
                &rules,
            )
            .await
            .unwrap();
        assert_eq!(late.new_incidents.len(), 1);

        // Without a service, alerts are not grouped by service.
        let mut bare = alert("e", "x", "prod", Severity::Info);
        bare.service = None;
        let mut bare2 = alert("f", "x", "prod", Severity::Info);
        bare2.service = None;
        let bare = store
            .ingest(org.id, source, &[bare, bare2], &at("4", 31), &rules)
            .await
            .unwrap();
        assert_eq!(bare.new_incidents.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_incident_resolves_when_all_its_alerts_resolve() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let a = alert("a", "checkout", "prod", Severity::High);
        let b = alert("b", "checkout", "prod", Severity::High);
        let incident = ingest(&store, org.id, source, &[a.clone(), b.clone()], "1")
            .await
            .new_incidents[0];

        let one = ingest(&store, org.id, source, &[resolved(a.clone())], "2").await;
        assert!(one.resolved_incidents.is_empty());
        let detail = store.get_incident(org.id, incident).await.unwrap();
        assert_eq!(detail.incident.status, IncidentStatus::Open);
        assert_eq!(detail.alerts[0].alert.status, AlertStatus::Resolved);
        assert!(detail.alerts[0].alert.ends_at.is_some());

        let all = ingest(&store, org.id, source, &[resolved(b.clone())], "3").await;
        assert_eq!(all.resolved_incidents, vec![incident]);
        let detail = store.get_incident(org.id, incident).await.unwrap();
        assert_eq!(detail.incident.status, IncidentStatus::Resolved);
        assert!(detail.incident.resolved_at.is_some());
        let last = detail.timeline.last().unwrap();
        assert_eq!(
            (last.kind, last.actor),
            (EventKind::StatusChanged, Actor::System)
        );
        assert_eq!(last.detail["reason"], "all alerts resolved");

        // Firing again after the incident resolved opens a new one.
        let refire = ingest(&store, org.id, source, &[a], "4").await;
        assert_eq!(refire.new_incidents.len(), 1);
        assert_ne!(refire.new_incidents[0], incident);

        // A resolve for an alert never seen opens nothing.
        let unknown = ingest(
            &store,
            org.id,
            source,
            &[resolved(alert("z", "checkout", "prod", Severity::High))],
            "5",
        )
        .await;
        assert_eq!((unknown.new_alerts, unknown.new_incidents.len()), (1, 0));
    })
    .await;
}

#[tokio::test]
async fn auto_resolve_can_be_turned_off() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let rules = IngestRules {
            auto_resolve: false,
            ..IngestRules::default()
        };
        let a = alert("a", "checkout", "prod", Severity::High);
        let now = OffsetDateTime::now_utc();
        let opened = store
            .ingest(
                org.id,
                source,
                std::slice::from_ref(&a),
                &delivery("1", now),
                &rules,
            )
            .await
            .unwrap();
        store
            .ingest(org.id, source, &[resolved(a)], &delivery("2", now), &rules)
            .await
            .unwrap();
        let detail = store
            .get_incident(org.id, opened.new_incidents[0])
            .await
            .unwrap();
        assert_eq!(detail.incident.status, IncidentStatus::Open);
        assert_eq!(kinds(&detail).last(), Some(&EventKind::AlertResolved));
    })
    .await;
}

#[tokio::test]
async fn a_retried_delivery_returns_the_earlier_outcome_and_stores_nothing() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let alerts = [alert("a", "checkout", "prod", Severity::High)];
        let now = OffsetDateTime::now_utc();
        let rules = IngestRules::default();
        let first = store
            .ingest(org.id, source, &alerts, &delivery("1", now), &rules)
            .await
            .unwrap();
        let retry = store
            .ingest(org.id, source, &alerts, &delivery("1", now), &rules)
            .await
            .unwrap();
        assert!(retry.replayed);
        assert_eq!(
            aurora_core::source::IngestOutcome {
                replayed: false,
                ..retry
            },
            first
        );
        let detail = store
            .get_incident(org.id, first.new_incidents[0])
            .await
            .unwrap();
        assert_eq!(detail.alerts[0].repeat_count, 0);
        assert_eq!(
            store
                .list_deliveries(org.id, source, 10)
                .await
                .unwrap()
                .len(),
            1
        );

        // After the window the same body is a new delivery: an identical repeat.
        let later = now + rules.idempotency_window + Duration::from_secs(1);
        let repeat = store
            .ingest(org.id, source, &alerts, &delivery("1", later), &rules)
            .await
            .unwrap();
        assert!(!repeat.replayed);
        assert_eq!(repeat.repeats, 1);
    })
    .await;
}

#[tokio::test]
async fn ingest_and_rejections_are_refused_for_another_orgs_source() {
    each_backend(|store: SqlStore| async move {
        let a = store.create_org("A").await.unwrap();
        let b = store.create_org("B").await.unwrap();
        let source = new_source(&store, a.id, "am").await;
        let alerts = [alert("a", "checkout", "prod", Severity::High)];
        let now = OffsetDateTime::now_utc();
        let wrong = store
            .ingest(
                b.id,
                source,
                &alerts,
                &delivery("1", now),
                &IngestRules::default(),
            )
            .await;
        assert!(matches!(wrong, Err(StoreError::NotFound(_))), "{wrong:?}");
        let wrong = store
            .record_rejected_delivery(b.id, source, &delivery("1", now), "malformed_json")
            .await;
        assert!(matches!(wrong, Err(StoreError::NotFound(_))), "{wrong:?}");
        assert!(
            store
                .list_deliveries(a.id, source, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .list_jobs(b.id, &JobFilter::default())
                .await
                .unwrap()
                .is_empty()
        );

        store
            .record_rejected_delivery(a.id, source, &delivery("2", now), "malformed_json")
            .await
            .unwrap();
        let recorded = store.list_deliveries(a.id, source, 10).await.unwrap();
        assert_eq!(recorded[0].outcome, DeliveryOutcome::Rejected);
        assert_eq!(recorded[0].error_code.as_deref(), Some("malformed_json"));
    })
    .await;
}

#[tokio::test]
async fn incidents_are_filtered_and_paged_newest_first() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let other = store.create_org("B").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let start = OffsetDateTime::now_utc();
        let mut opened: Vec<IncidentId> = Vec::new();
        for (i, (service, severity)) in [
            ("checkout", Severity::Critical),
            ("payments", Severity::Warning),
            ("checkout", Severity::Warning),
            ("search_50%", Severity::Low),
            ("payments", Severity::High),
        ]
        .into_iter()
        .enumerate()
        {
            let at = start + Duration::from_secs(i as u64 * 600);
            let outcome = store
                .ingest(
                    org.id,
                    source,
                    &[alert(&format!("fp{i}"), service, "prod", severity)],
                    &delivery(&i.to_string(), at),
                    &IngestRules::default(),
                )
                .await
                .unwrap();
            opened.extend(outcome.new_incidents);
        }
        assert_eq!(opened.len(), 5);

        let list = |filter: IncidentFilter| {
            let store = store.clone();
            async move {
                store
                    .list_incidents(org.id, &filter)
                    .await
                    .unwrap()
                    .incidents
                    .into_iter()
                    .map(|i| i.id)
                    .collect::<Vec<_>>()
            }
        };
        let newest_first: Vec<IncidentId> = opened.iter().rev().copied().collect();
        assert_eq!(list(IncidentFilter::default()).await, newest_first);
        assert_eq!(
            list(IncidentFilter {
                service: Some("checkout".into()),
                ..IncidentFilter::default()
            })
            .await,
            vec![opened[2], opened[0]]
        );
        assert_eq!(
            list(IncidentFilter {
                severity: Some(Severity::Warning),
                ..IncidentFilter::default()
            })
            .await,
            vec![opened[2], opened[1]]
        );
        assert_eq!(
            list(IncidentFilter {
                text: Some("SEARCH_50%".into()),
                ..IncidentFilter::default()
            })
            .await,
            vec![opened[3]]
        );
        assert!(
            list(IncidentFilter {
                text: Some("t_f".into()),
                ..IncidentFilter::default()
            })
            .await
            .is_empty(),
            "LIKE wildcards in the text are literal (`checkout fp0` must not match)"
        );
        assert!(
            list(IncidentFilter {
                status: Some(IncidentStatus::Resolved),
                ..IncidentFilter::default()
            })
            .await
            .is_empty()
        );
        assert!(
            store
                .list_incidents(other.id, &IncidentFilter::default())
                .await
                .unwrap()
                .incidents
                .is_empty()
        );

        let mut seen = Vec::new();
        let mut filter = IncidentFilter {
            limit: 2,
            ..IncidentFilter::default()
        };
        loop {
            let page = store.list_incidents(org.id, &filter).await.unwrap();
            assert!(page.incidents.len() <= 2);
            seen.extend(page.incidents.iter().map(|i| i.id));
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, newest_first);
    })
    .await;
}

#[tokio::test]
async fn people_change_incidents_and_comment_in_their_own_org() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let other = store.create_org("B").await.unwrap();
        let user = |email: &str| NewUser {
            email: Email::parse(email).unwrap(),
            name: "Ada".into(),
            role: Role::Editor,
            password_hash: "$argon2id$stub".into(),
        };
        let ada = store.create_user(org.id, user("ada@a.io")).await.unwrap();
        let eve = store.create_user(other.id, user("eve@b.io")).await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let incident = ingest(
            &store,
            org.id,
            source,
            &[alert("a", "checkout", "prod", Severity::High)],
            "1",
        )
        .await
        .new_incidents[0];
        let now = OffsetDateTime::now_utc();
        let actor = Actor::User(ada.id);

        let changed = store
            .update_incident(
                org.id,
                incident,
                actor,
                &IncidentChange {
                    status: Some(IncidentStatus::Investigating),
                    severity: Some(Severity::Critical),
                    assignee: Some(Some(ada.id)),
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(changed.status, IncidentStatus::Investigating);
        assert_eq!(changed.severity, Severity::Critical);
        assert_eq!(changed.assignee, Some(ada.id));

        let foreign = store
            .update_incident(
                org.id,
                incident,
                actor,
                &IncidentChange {
                    assignee: Some(Some(eve.id)),
                    ..IncidentChange::default()
                },
                now,
            )
            .await;
        assert!(
            matches!(foreign, Err(StoreError::NotFound("user"))),
            "{foreign:?}"
        );

        let resolved = store
            .update_incident(
                org.id,
                incident,
                actor,
                &IncidentChange {
                    status: Some(IncidentStatus::Resolved),
                    assignee: Some(None),
                    ..IncidentChange::default()
                },
                now,
            )
            .await
            .unwrap();
        assert!(resolved.resolved_at.is_some());
        assert_eq!(resolved.assignee, None);

        let comment = store
            .add_comment(org.id, incident, actor, "rolled back the deploy", now)
            .await
            .unwrap();
        assert_eq!(comment.detail["text"], "rolled back the deploy");

        let detail = store.get_incident(org.id, incident).await.unwrap();
        let by_ada: Vec<EventKind> = detail
            .timeline
            .iter()
            .filter(|e| e.actor == actor)
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            by_ada,
            vec![
                EventKind::StatusChanged,
                EventKind::SeverityChanged,
                EventKind::AssigneeChanged,
                EventKind::StatusChanged,
                EventKind::AssigneeChanged,
                EventKind::Comment,
            ]
        );

        // Another organisation sees nothing and changes nothing.
        assert!(matches!(
            store.get_incident(other.id, incident).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .update_incident(
                    other.id,
                    incident,
                    Actor::User(eve.id),
                    &IncidentChange {
                        status: Some(IncidentStatus::Open),
                        ..IncidentChange::default()
                    },
                    now,
                )
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .add_comment(other.id, incident, Actor::User(eve.id), "hi", now)
                .await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

/// An alert of `service` with the labels `cluster` and `alertname` (when given).
fn labelled(fingerprint: &str, service: &str, cluster: Option<&str>, name: &str) -> Alert {
    let mut alert = alert(fingerprint, service, "prod", Severity::Warning);
    alert.labels.insert("alertname".into(), name.into());
    if let Some(cluster) = cluster {
        alert.labels.insert("cluster".into(), cluster.into());
    }
    alert
}

#[tokio::test]
async fn label_rules_group_alerts_sharing_their_values_within_the_window() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let other = store.create_org("B").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let now = OffsetDateTime::now_utc();
        let rules = IngestRules::default();
        let at = |body: &str, minutes: u64| delivery(body, now + Duration::from_secs(minutes * 60));
        let rule = NewGroupingRule::parse(
            "cluster alerts",
            &["cluster".into(), "alertname".into()],
            Duration::from_secs(10 * 60),
        )
        .unwrap();
        let created = store
            .create_grouping_rule(org.id, &rule, now)
            .await
            .unwrap();
        assert_eq!(created.labels, ["alertname", "cluster"]);
        assert_eq!(
            store.list_grouping_rules(org.id).await.unwrap(),
            vec![created.clone()]
        );
        assert!(
            store
                .list_grouping_rules(other.id)
                .await
                .unwrap()
                .is_empty()
        );

        // Different services, same cluster and alertname: one incident, by the rule; another
        // cluster, or no cluster label, is not grouped by it.
        let first = store
            .ingest(
                org.id,
                source,
                &[
                    labelled("a", "checkout", Some("eu-1"), "Down"),
                    labelled("b", "payments", Some("eu-1"), "Down"),
                    labelled("c", "search", Some("us-1"), "Down"),
                    labelled("d", "cart", None, "Down"),
                ],
                &at("1", 0),
                &rules,
            )
            .await
            .unwrap();
        assert_eq!(first.new_incidents.len(), 3, "{first:?}");
        let eu = first.new_incidents[0];
        let detail = store.get_incident(org.id, eu).await.unwrap();
        assert_eq!(detail.alerts.len(), 2);
        let reasons: Vec<&serde_json::Value> = detail
            .timeline
            .iter()
            .filter(|e| e.kind == EventKind::AlertAttached)
            .map(|e| &e.detail["reason"])
            .collect();
        assert_eq!(reasons[1], "grouping rule \"cluster alerts\"");

        // The rule comes before the service and environment rule: a new alert of `search`
        // (which has the us-1 incident) in eu-1 joins the eu-1 incident.
        let later = store
            .ingest(
                org.id,
                source,
                &[labelled("e", "search", Some("eu-1"), "Down")],
                &at("2", 5),
                &rules,
            )
            .await
            .unwrap();
        assert!(later.new_incidents.is_empty());
        assert_eq!(
            store.get_incident(org.id, eu).await.unwrap().alerts.len(),
            3
        );

        // After the window, the same group opens a new incident.
        let late = store
            .ingest(
                org.id,
                source,
                &[labelled("f", "billing", Some("eu-1"), "Down")],
                &at("3", 11),
                &rules,
            )
            .await
            .unwrap();
        assert_eq!(late.new_incidents.len(), 1);

        // Rules are the organisation's own: another org's delete fails, the owner's works, and
        // then the rule no longer groups.
        assert!(matches!(
            store.delete_grouping_rule(other.id, created.id).await,
            Err(StoreError::NotFound(_))
        ));
        store
            .delete_grouping_rule(org.id, created.id)
            .await
            .unwrap();
        assert!(store.list_grouping_rules(org.id).await.unwrap().is_empty());
        let after = store
            .ingest(
                org.id,
                source,
                &[labelled("g", "auth", Some("eu-1"), "Down")],
                &at("4", 12),
                &rules,
            )
            .await
            .unwrap();
        assert_eq!(after.new_incidents.len(), 1);
        assert!(matches!(
            store.delete_grouping_rule(org.id, created.id).await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn an_org_has_a_bounded_number_of_grouping_rules() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let now = OffsetDateTime::now_utc();
        let rule =
            NewGroupingRule::parse("r", &["cluster".into()], Duration::from_secs(60)).unwrap();
        for _ in 0..MAX_RULES_PER_ORG {
            store
                .create_grouping_rule(org.id, &rule, now)
                .await
                .unwrap();
        }
        assert!(matches!(
            store.create_grouping_rule(org.id, &rule, now).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.list_grouping_rules(org.id).await.unwrap().len(),
            MAX_RULES_PER_ORG
        );
    })
    .await;
}

#[tokio::test]
async fn merging_moves_alerts_and_timeline_and_resolves_the_merged_incident() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let other = store.create_org("B").await.unwrap();
        let user = store
            .create_user(
                org.id,
                NewUser {
                    email: Email::parse("ed@example.com").unwrap(),
                    name: "Ed".into(),
                    role: Role::Editor,
                    password_hash: "x".into(),
                },
            )
            .await
            .unwrap();
        let source = new_source(&store, org.id, "am").await;
        let other_source = new_source(&store, other.id, "am").await;
        let opened = ingest(
            &store,
            org.id,
            source,
            &[
                alert("a", "checkout", "prod", Severity::Critical),
                alert("b", "payments", "prod", Severity::Low),
                alert("c", "search", "prod", Severity::Low),
            ],
            "1",
        )
        .await;
        let [from, into, third] = opened.new_incidents[..] else {
            panic!("{opened:?}")
        };
        let foreign = ingest(
            &store,
            other.id,
            other_source,
            &[alert("z", "checkout", "prod", Severity::Low)],
            "2",
        )
        .await
        .new_incidents[0];
        let now = OffsetDateTime::now_utc();
        let actor = Actor::User(user.id);

        assert!(matches!(
            store.merge_incidents(org.id, from, from, actor, now).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store
                .merge_incidents(org.id, from, foreign, actor, now)
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .merge_incidents(other.id, foreign, from, actor, now)
                .await,
            Err(StoreError::NotFound(_))
        ));

        let (merged, target) = store
            .merge_incidents(org.id, from, into, actor, now)
            .await
            .unwrap();
        assert_eq!(merged.status, IncidentStatus::Resolved);
        assert_eq!(merged.merged_into, Some(into));
        assert!(merged.resolved_at.is_some());
        assert_eq!(target.merged_into, None);
        assert_eq!(
            target.severity,
            Severity::Critical,
            "raised to the merged one's"
        );

        let gone = store.get_incident(org.id, from).await.unwrap();
        assert!(gone.alerts.is_empty());
        assert_eq!(kinds(&gone), vec![EventKind::Merged]);
        assert_eq!(gone.timeline[0].actor, actor);
        let detail = store.get_incident(org.id, into).await.unwrap();
        assert_eq!(detail.alerts.len(), 2);
        assert!(detail.alerts.iter().all(|a| a.incident_id == Some(into)));
        let kinds = kinds(&detail);
        assert_eq!(kinds.iter().filter(|k| **k == EventKind::Opened).count(), 2);
        assert!(kinds.contains(&EventKind::SeverityChanged));
        let merge_event = detail
            .timeline
            .iter()
            .find(|e| e.kind == EventKind::Merged)
            .unwrap();
        assert_eq!(merge_event.actor, actor);
        assert_eq!(merge_event.detail["from"], from.to_string());
        assert_eq!(merge_event.detail["into"], into.to_string());
        assert_eq!(merge_event.detail["alerts"], 1);

        // Merged once only, and not into a merged one.
        assert!(matches!(
            store.merge_incidents(org.id, from, third, actor, now).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.merge_incidents(org.id, third, from, actor, now).await,
            Err(StoreError::Conflict(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn an_alert_storm_incident_comes_with_its_first_alerts_and_latest_events() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let now = OffsetDateTime::now_utc();
        let rules = IngestRules::default();
        // Six deliveries of 100 alerts, a minute apart, all of one service: one incident.
        let mut incident = None;
        for d in 0..6u64 {
            let alerts: Vec<Alert> = (0..100)
                .map(|i| {
                    let n = d * 100 + i;
                    alert(&format!("storm{n:04}"), "checkout", "prod", Severity::Low)
                })
                .collect();
            let at = delivery(&format!("{d}"), now + Duration::from_secs(d * 60));
            let outcome = store
                .ingest(org.id, source, &alerts, &at, &rules)
                .await
                .unwrap();
            incident = incident.or(outcome.new_incidents.first().copied());
        }
        let incident = incident.expect("the first delivery opened an incident");
        let comment = store
            .add_comment(
                org.id,
                incident,
                Actor::System,
                "storm",
                now + Duration::from_secs(600),
            )
            .await
            .unwrap();

        let detail = store.get_incident(org.id, incident).await.unwrap();
        assert_eq!(detail.alerts.len(), DETAIL_ALERTS);
        assert_eq!(detail.alerts_total, 600);
        // The first seen: the first two deliveries' alerts, oldest first.
        let mut fingerprints: Vec<&str> = detail
            .alerts
            .iter()
            .map(|a| a.alert.fingerprint.as_str())
            .collect();
        assert!(
            detail
                .alerts
                .windows(2)
                .all(|w| w[0].first_seen_at <= w[1].first_seen_at)
        );
        fingerprints.sort_unstable();
        let first: Vec<String> = (0..DETAIL_ALERTS).map(|n| format!("storm{n:04}")).collect();
        assert_eq!(fingerprints, first);

        // Opened, 600 alerts attached, the comment: the latest 500, oldest first.
        assert_eq!(detail.timeline_total, 602);
        assert_eq!(detail.timeline.len(), DETAIL_EVENTS);
        assert_eq!(detail.timeline.last().map(|e| e.id), Some(comment.id));
        assert!(detail.timeline.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(!kinds(&detail).contains(&EventKind::Opened));

        // The timeline list pages through all 602, newest first.
        let mut listed = Vec::new();
        let mut filter = EventFilter {
            after: None,
            limit: 200,
        };
        loop {
            let page = store.list_events(org.id, incident, &filter).await.unwrap();
            assert!(page.events.len() <= 200);
            listed.extend(page.events);
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
        assert_eq!(listed.len(), 602);
        assert_eq!(listed[0].id, comment.id);
        assert_eq!(listed.last().map(|e| e.kind), Some(EventKind::Opened));
        assert!(
            listed
                .windows(2)
                .all(|w| (w[0].at, w[0].id.to_string()) > (w[1].at, w[1].id.to_string()))
        );
        let other = store.create_org("B").await.unwrap();
        assert!(matches!(
            store
                .list_events(other.id, incident, &EventFilter::default())
                .await,
            Err(StoreError::NotFound(_))
        ));

        // A small incident has everything, and totals that say so.
        let small = ingest(
            &store,
            org.id,
            source,
            &[alert("calm", "search", "prod", Severity::Low)],
            "calm",
        )
        .await;
        let detail = store
            .get_incident(org.id, small.new_incidents[0])
            .await
            .unwrap();
        assert_eq!((detail.alerts.len(), detail.alerts_total), (1, 1));
        assert_eq!((detail.timeline.len(), detail.timeline_total), (2, 2));
    })
    .await;
}

#[tokio::test]
async fn alerts_are_filtered_and_paged_newest_first_within_their_org() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let other = store.create_org("B").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let second = new_source(&store, org.id, "grafana").await;
        let foreign = new_source(&store, other.id, "am").await;
        let now = OffsetDateTime::now_utc();
        let rules = IngestRules::default();
        let at = |body: &str, minutes: u64| delivery(body, now + Duration::from_secs(minutes * 60));
        let first = store
            .ingest(
                org.id,
                source,
                &[
                    alert("a", "checkout", "prod", Severity::Critical),
                    alert("b", "checkout", "prod", Severity::Low),
                ],
                &at("1", 0),
                &rules,
            )
            .await
            .unwrap();
        store
            .ingest(
                org.id,
                second,
                &[alert("c", "search", "prod", Severity::Low)],
                &at("2", 1),
                &rules,
            )
            .await
            .unwrap();
        store
            .ingest(
                org.id,
                source,
                &[resolved(alert("d", "search", "prod", Severity::Low))],
                &at("3", 2),
                &rules,
            )
            .await
            .unwrap();
        store
            .ingest(
                other.id,
                foreign,
                &[alert("z", "checkout", "prod", Severity::Critical)],
                &at("4", 3),
                &rules,
            )
            .await
            .unwrap();
        let fingerprints = |page: &aurora_core::incident::AlertPage| -> Vec<String> {
            page.alerts
                .iter()
                .map(|a| a.alert.fingerprint.as_str().to_owned())
                .collect()
        };
        let list = |filter: AlertFilter| {
            let store = &store;
            async move { store.list_alerts(org.id, &filter).await.unwrap() }
        };

        let all = list(AlertFilter::default()).await;
        assert_eq!(fingerprints(&all).len(), 4);
        assert_eq!(fingerprints(&all)[0], "d", "newest first");
        assert!(all.next.is_none());
        let firing = list(AlertFilter {
            status: Some(AlertStatus::Firing),
            ..AlertFilter::default()
        })
        .await;
        assert_eq!(fingerprints(&firing).len(), 3);
        let critical = list(AlertFilter {
            severity: Some(Severity::Critical),
            ..AlertFilter::default()
        })
        .await;
        assert_eq!(fingerprints(&critical), ["a"]);
        let search = list(AlertFilter {
            service: Some("search".into()),
            ..AlertFilter::default()
        })
        .await;
        assert_eq!(fingerprints(&search), ["d", "c"]);
        let by_source = list(AlertFilter {
            source: Some(second),
            ..AlertFilter::default()
        })
        .await;
        assert_eq!(fingerprints(&by_source), ["c"]);
        let by_incident = list(AlertFilter {
            incident: Some(first.new_incidents[0]),
            ..AlertFilter::default()
        })
        .await;
        let mut in_incident = fingerprints(&by_incident);
        in_incident.sort();
        assert_eq!(in_incident, ["a", "b"]);

        // Pages of 3 then 1, nothing repeated or missed.
        let page = list(AlertFilter {
            limit: 3,
            ..AlertFilter::default()
        })
        .await;
        assert_eq!(page.alerts.len(), 3);
        let cursor = page.next.unwrap();
        let rest = list(AlertFilter {
            limit: 3,
            after: Some(cursor.to_string().parse().unwrap()),
            ..AlertFilter::default()
        })
        .await;
        assert_eq!(rest.alerts.len(), 1);
        assert!(rest.next.is_none());
        let mut seen = fingerprints(&page);
        seen.extend(fingerprints(&rest));
        seen.sort();
        assert_eq!(seen, ["a", "b", "c", "d"]);

        // The other organisation sees only its own.
        let theirs = store
            .list_alerts(other.id, &AlertFilter::default())
            .await
            .unwrap();
        assert_eq!(fingerprints(&theirs), ["z"]);
    })
    .await;
}

/// Concurrent deliveries are committed together; each must come out as if it had committed
/// alone, whatever batches they fall into.
#[tokio::test]
async fn concurrent_deliveries_group_commit_as_if_each_committed_alone() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let mut tasks = tokio::task::JoinSet::new();
        let spawn = |tasks: &mut tokio::task::JoinSet<_>, alerts: Vec<Alert>, body: String| {
            let store = store.clone();
            tasks.spawn(async move {
                store
                    .ingest(
                        org.id,
                        source,
                        &alerts,
                        &delivery(&body, OffsetDateTime::now_utc()),
                        &IngestRules::default(),
                    )
                    .await
            });
        };
        // 20 new alerts of 4 services: 4 incidents of 5 alerts each.
        for i in 0..20 {
            let a = alert(
                &format!("new{i}"),
                &format!("svc{}", i % 4),
                "prod",
                Severity::Warning,
            );
            spawn(&mut tasks, vec![a], format!("n{i}"));
        }
        // One alert repeated identically in 10 different deliveries: stored once.
        let dup = alert("dup", "dupsvc", "prod", Severity::Info);
        for i in 0..10 {
            spawn(&mut tasks, vec![dup.clone()], format!("d{i}"));
        }
        // One delivery sent 5 times: stored once, the others replay its outcome.
        let retried = alert("retried", "retrysvc", "prod", Severity::Critical);
        for _ in 0..5 {
            spawn(&mut tasks, vec![retried.clone()], "same".into());
        }
        // A 300-alert delivery among them.
        let many: Vec<Alert> = (0..300)
            .map(|i| alert(&format!("bulk{i}"), "bulk", "prod", Severity::Warning))
            .collect();
        spawn(&mut tasks, many, "bulk".into());

        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            outcomes.push(done.unwrap().unwrap());
        }
        let replays: Vec<_> = outcomes.iter().filter(|o| o.replayed).collect();
        assert_eq!(replays.len(), 4, "4 of the 5 identical deliveries replay");
        let original = outcomes
            .iter()
            .find(|o| !o.replayed && o.delivery_id == replays[0].delivery_id)
            .expect("the replays return the original delivery's outcome");
        assert_eq!(original.new_alerts, 1);
        let repeats: u64 = outcomes
            .iter()
            .filter(|o| !o.replayed)
            .map(|o| o.repeats)
            .sum();
        assert_eq!(repeats, 9, "the duplicate is new once and repeated 9 times");

        let incidents = store
            .list_incidents(
                org.id,
                &IncidentFilter {
                    limit: 100,
                    ..IncidentFilter::default()
                },
            )
            .await
            .unwrap()
            .incidents;
        assert_eq!(
            incidents.len(),
            4 + 1 + 1 + 1,
            "svc0..3, dupsvc, retrysvc, bulk"
        );
        for incident in &incidents {
            let detail = store.get_incident(org.id, incident.id).await.unwrap();
            let expected = match incident.service.as_deref() {
                Some("bulk") => 300,
                Some("dupsvc" | "retrysvc") => 1,
                _ => 5,
            };
            assert_eq!(detail.alerts_total, expected, "{:?}", incident.service);
            assert_eq!(detail.timeline_total as usize, detail.timeline.len());
            let attached = kinds(&detail)
                .into_iter()
                .filter(|k| *k == EventKind::AlertAttached)
                .count();
            assert_eq!(attached as u64, expected, "one attach event per alert");
            if incident.service.as_deref() == Some("dupsvc") {
                assert_eq!(detail.alerts[0].repeat_count, 9);
            }
        }
        let jobs = store
            .list_jobs(org.id, &JobFilter::default())
            .await
            .unwrap();
        assert_eq!(jobs.len(), 7, "one investigation per incident");
    })
    .await;
}

#[tokio::test]
async fn a_delivery_for_a_deleted_source_fails_alone_in_its_batch() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let source = new_source(&store, org.id, "am").await;
        let missing = SourceId::new();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..10 {
            let store = store.clone();
            let target = if i == 5 { missing } else { source };
            tasks.spawn(async move {
                let a = alert(&format!("f{i}"), "checkout", "prod", Severity::Warning);
                let result = store
                    .ingest(
                        org.id,
                        target,
                        &[a],
                        &delivery(&format!("b{i}"), OffsetDateTime::now_utc()),
                        &IngestRules::default(),
                    )
                    .await;
                (target, result)
            });
        }
        let mut accepted = 0;
        while let Some(done) = tasks.join_next().await {
            let (target, result) = done.unwrap();
            if target == missing {
                assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
            } else {
                assert_eq!(result.unwrap().new_alerts, 1);
                accepted += 1;
            }
        }
        assert_eq!(accepted, 9);
        let alerts = store
            .list_alerts(
                org.id,
                &AlertFilter {
                    limit: 100,
                    ..AlertFilter::default()
                },
            )
            .await
            .unwrap()
            .alerts;
        assert_eq!(alerts.len(), 9);
    })
    .await;
}
