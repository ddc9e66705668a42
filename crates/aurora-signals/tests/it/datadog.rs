use aurora_core::alert::{AlertStatus, Severity, SourceKind};

use crate::{alerts, assert_well_formed};

#[test]
fn a_triggered_monitor_becomes_a_firing_alert() {
    let alerts = alerts(SourceKind::Datadog, "datadog/triggered.json");
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_well_formed(alert);
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.fingerprint.as_str(), "9876543/host:web-1,role:web");
    assert_eq!(alert.severity, Severity::High, "P2");
    assert_eq!(alert.title, "CPU high");
    assert_eq!(alert.labels["host"], "web-1");
    assert_eq!(alert.labels["role"], "web");
    assert_eq!(alert.labels["monitor_id"], "9876543");
    assert_eq!(alert.service.as_deref(), Some("web"));
    assert_eq!(alert.environment.as_deref(), Some("prod"));
    assert_eq!(alert.starts_at.unix_timestamp(), 1_714_816_800);
    assert!(alert.description.contains("CPU above 90%"));
    assert!(
        alert
            .link
            .as_deref()
            .is_some_and(|l| l.starts_with("https://app.datadoghq.com/"))
    );
    assert_eq!(
        alert.annotations["query"],
        "avg(last_5m):avg:system.cpu.user{*} by {host} > 90"
    );
}

#[test]
fn a_recovered_monitor_resolves_the_same_alert() {
    let firing = &alerts(SourceKind::Datadog, "datadog/triggered.json")[0];
    let resolved = &alerts(SourceKind::Datadog, "datadog/recovered.json")[0];
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(resolved.fingerprint, firing.fingerprint);
    assert_eq!(
        resolved.title, firing.title,
        "the transition prefix is not part of the title"
    );
    assert_eq!(
        resolved.ends_at.map(|t| t.unix_timestamp()),
        Some(1_714_817_400)
    );
}

#[test]
fn the_default_payload_is_understood() {
    let alerts = alerts(SourceKind::Datadog, "datadog/default_payload.json");
    let alert = &alerts[0];
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.title, "Disk almost full");
    assert_eq!(alert.severity, Severity::High);
    assert!(alert.fingerprint.as_str().starts_with("title/"));
}

#[test]
fn datadog_severities_follow_priority_then_type() {
    let cases = [
        (r#""alert_priority":"P1""#, Severity::Critical),
        (r#""alert_priority":"P4""#, Severity::Low),
        (
            r#""alert_priority":"$ALERT_PRIORITY","alert_type":"warning""#,
            Severity::Warning,
        ),
        (r#""alert_type":"info""#, Severity::Info),
        (r#""alert_transition":"Warn""#, Severity::Warning),
        (r#""alert_transition":"Triggered""#, Severity::High),
    ];
    for (fields, expected) in cases {
        let body = format!(r#"{{"alert_id":"1","alert_title":"t",{fields}}}"#);
        let alert = &crate::parse(SourceKind::Datadog, body.as_bytes()).into_alerts()[0];
        assert_eq!(alert.severity, expected, "{fields}");
    }
}
