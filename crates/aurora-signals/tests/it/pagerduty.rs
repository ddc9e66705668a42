use aurora_core::alert::{AlertStatus, Severity, SourceKind};
use aurora_signals::Delivery;
use time::macros::datetime;

use crate::{alerts, assert_well_formed, fixture};

#[test]
fn an_incident_triggered_event_fires() {
    let alerts = alerts(SourceKind::Pagerduty, "pagerduty/incident_triggered.json");
    let alert = &alerts[0];
    assert_well_formed(alert);
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(
        alert.fingerprint.as_str(),
        "d3640fbd41094207a1c11e58e46b1662"
    );
    assert_eq!(
        alert.severity,
        Severity::Critical,
        "priority P1 wins over urgency"
    );
    assert_eq!(alert.title, "A little bump in the road");
    assert_eq!(alert.service.as_deref(), Some("API Service"));
    assert_eq!(alert.labels["incident_id"], "PGR0VU2");
    assert_eq!(alert.labels["teams"], "Engineering");
    assert_eq!(
        alert.link.as_deref(),
        Some("https://acme.pagerduty.com/incidents/PGR0VU2")
    );
    assert_eq!(alert.starts_at, datetime!(2020-04-09 15:16:27 UTC));
    assert_eq!(alert.raw["event_type"], "incident.triggered");
}

#[test]
fn an_incident_resolved_event_resolves_the_same_alert() {
    let resolved = &alerts(SourceKind::Pagerduty, "pagerduty/incident_resolved.json")[0];
    let firing = &alerts(SourceKind::Pagerduty, "pagerduty/incident_triggered.json")[0];
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(resolved.fingerprint, firing.fingerprint);
    assert_eq!(
        resolved.ends_at,
        Some(datetime!(2020-04-09 15:46:27.512 UTC))
    );
}

#[test]
fn events_without_incident_state_are_ignored() {
    let delivery = crate::parse(
        SourceKind::Pagerduty,
        &fixture("pagerduty/incident_annotated.json"),
    );
    assert!(matches!(delivery, Delivery::Ignored { .. }), "{delivery:?}");
    let ping = br#"{"event":{"id":"1","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"2026-01-01T00:00:00Z","data":{"type":"ping","message":"Hello from your friend Pagey!"}}}"#;
    assert!(matches!(
        crate::parse(SourceKind::Pagerduty, ping),
        Delivery::Ignored { .. }
    ));
}

#[test]
fn urgency_maps_when_there_is_no_priority() {
    let body = br#"{"event":{"event_type":"incident.acknowledged","resource_type":"incident","data":{"id":"P1","type":"incident","title":"t","urgency":"low","priority":null}}}"#;
    let alert = &crate::parse(SourceKind::Pagerduty, body).into_alerts()[0];
    assert_eq!(alert.severity, Severity::Low);
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(
        alert.fingerprint.as_str(),
        "P1",
        "no incident_key: the incident id"
    );
}
