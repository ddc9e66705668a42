use aurora_core::alert::{AlertStatus, Severity, SourceKind};
use time::macros::datetime;

use crate::{alerts, assert_well_formed};

#[test]
fn a_firing_group_yields_one_alert_per_member() {
    let alerts = alerts(SourceKind::Alertmanager, "alertmanager/firing_group.json");
    assert_eq!(alerts.len(), 3);
    let first = &alerts[0];
    assert_well_formed(first);
    assert_eq!(first.source_kind, SourceKind::Alertmanager);
    assert_eq!(first.fingerprint.as_str(), "1a30ba71cca2921f");
    assert_eq!(first.status, AlertStatus::Firing);
    assert_eq!(first.title, "Instance 10.0.0.1:9100 down");
    assert!(first.description.contains("down for more than 1 minute"));
    assert_eq!(first.labels["instance"], "10.0.0.1:9100");
    assert_eq!(
        first.annotations["runbook_url"],
        "https://runbooks.example/instance-down"
    );
    assert_eq!(first.service.as_deref(), Some("checkout"));
    assert_eq!(first.environment.as_deref(), Some("shop-prod"));
    assert_eq!(
        first.starts_at,
        datetime!(2026-05-04 10:00:00.123456789 UTC)
    );
    assert_eq!(first.ends_at, None, "Go's zero time means not set");
    assert!(
        first
            .link
            .as_deref()
            .is_some_and(|l| l.starts_with("http://prometheus.example:9090/"))
    );
    assert_eq!(first.raw["fingerprint"], "1a30ba71cca2921f");
    // The raw part is the alert's own object, not the whole group.
    assert!(first.raw.get("groupKey").is_none());

    let severities: Vec<Severity> = alerts.iter().map(|a| a.severity).collect();
    assert_eq!(
        severities,
        [Severity::Critical, Severity::Warning, Severity::Critical]
    );
    let fingerprints: std::collections::BTreeSet<_> =
        alerts.iter().map(|a| a.fingerprint.clone()).collect();
    assert_eq!(fingerprints.len(), 3);
}

#[test]
fn a_resolved_group_closes_the_same_alert() {
    let firing = &alerts(SourceKind::Alertmanager, "alertmanager/firing_group.json")[0];
    let resolved = alerts(SourceKind::Alertmanager, "alertmanager/resolved.json");
    assert_eq!(resolved.len(), 1);
    let resolved = &resolved[0];
    assert_well_formed(resolved);
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(resolved.fingerprint, firing.fingerprint);
    assert_eq!(resolved.ends_at, Some(datetime!(2026-05-04 10:05 UTC)));
}

#[test]
fn fingerprints_are_stable_across_deliveries() {
    let a = alerts(SourceKind::Alertmanager, "alertmanager/firing_group.json");
    let b = alerts(SourceKind::Alertmanager, "alertmanager/firing_group.json");
    assert_eq!(a, b);
}

#[test]
fn a_missing_fingerprint_falls_back_to_the_label_set() {
    let body = br#"{"version":"4","status":"firing","alerts":[
        {"status":"firing","labels":{"alertname":"A","instance":"x"}},
        {"status":"firing","labels":{"instance":"x","alertname":"A"}},
        {"status":"firing","labels":{"alertname":"A","instance":"y"}}]}"#;
    let alerts = crate::parse(SourceKind::Alertmanager, body).into_alerts();
    assert_eq!(alerts[0].fingerprint, alerts[1].fingerprint);
    assert_ne!(alerts[0].fingerprint, alerts[2].fingerprint);
    assert_eq!(alerts[0].title, "A");
    assert_eq!(alerts[0].severity, Severity::Warning, "no severity label");
    assert_eq!(alerts[0].starts_at, crate::RECEIVED_AT, "no startsAt");
}

#[test]
fn fingerprint_override_uses_the_named_labels() {
    let options = crate::options().with_fingerprint_labels(["alertname".to_owned()]);
    let body = crate::fixture("alertmanager/firing_group.json");
    let alerts = aurora_signals::parse(SourceKind::Alertmanager, &body, &options)
        .unwrap()
        .into_alerts();
    assert!(alerts[0].fingerprint.as_str().starts_with("labels:"));
    // All three share alertname, so the override merges them into one identity.
    assert!(
        alerts
            .iter()
            .all(|a| a.fingerprint == alerts[0].fingerprint)
    );

    // An alert with none of the override labels keeps the source's own identity.
    let options = crate::options().with_fingerprint_labels(["team".to_owned()]);
    let alerts = aurora_signals::parse(SourceKind::Alertmanager, &body, &options)
        .unwrap()
        .into_alerts();
    assert_eq!(alerts[0].fingerprint.as_str(), "1a30ba71cca2921f");
}

#[test]
fn other_payload_versions_are_unsupported() {
    let err = aurora_signals::parse(
        SourceKind::Alertmanager,
        br#"{"version":"3","alerts":[]}"#,
        &crate::options(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unsupported_payload");
    assert!(err.to_string().contains("\"3\""));
}
