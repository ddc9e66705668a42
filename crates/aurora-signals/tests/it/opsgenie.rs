use aurora_core::alert::{AlertStatus, Severity, SourceKind};

use crate::{alerts, assert_well_formed};

#[test]
fn a_create_action_fires() {
    let alert = &alerts(SourceKind::Opsgenie, "opsgenie/create.json")[0];
    assert_well_formed(alert);
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.fingerprint.as_str(), "payment-api-latency");
    assert_eq!(alert.severity, Severity::High, "P2");
    assert_eq!(alert.title, "Payment API latency above 2s");
    assert_eq!(alert.labels["region"], "eu-west-1", "details become labels");
    assert_eq!(alert.labels["payments"], "", "plain tags are kept");
    assert_eq!(alert.service.as_deref(), Some("payment-api"));
    assert_eq!(alert.environment.as_deref(), Some("prod"));
    assert_eq!(alert.starts_at.unix_timestamp(), 1_714_816_800);
    assert_eq!(alert.annotations["action"], "Create");
}

#[test]
fn a_close_action_resolves_the_same_alert() {
    let created = &alerts(SourceKind::Opsgenie, "opsgenie/create.json")[0];
    let closed = &alerts(SourceKind::Opsgenie, "opsgenie/close.json")[0];
    assert_eq!(closed.status, AlertStatus::Resolved);
    assert_eq!(closed.fingerprint, created.fingerprint);
    assert_eq!(
        closed.ends_at.map(|t| t.unix_timestamp()),
        Some(1_714_817_700)
    );
}

#[test]
fn without_an_alias_the_alert_id_identifies() {
    let body =
        br#"{"action":"Acknowledge","alert":{"alertId":"abc-123","message":"m","priority":"P5"}}"#;
    let alert = &crate::parse(SourceKind::Opsgenie, body).into_alerts()[0];
    assert_eq!(alert.fingerprint.as_str(), "abc-123");
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(alert.status, AlertStatus::Firing);
}
