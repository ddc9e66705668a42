use aurora_core::alert::{AlertStatus, Severity, SourceKind};
use time::macros::datetime;

use crate::{alerts, assert_well_formed};

#[test]
fn a_generic_batch_is_read_with_defaults() {
    let alerts = alerts(SourceKind::Generic, "generic/batch.json");
    assert_eq!(alerts.len(), 2);
    let first = &alerts[0];
    assert_well_formed(first);
    assert_eq!(first.fingerprint.as_str(), "checkout-error-rate");
    assert_eq!(first.severity, Severity::High);
    assert_eq!(first.labels["replicas"], "3", "numbers are taken as text");
    assert_eq!(first.service.as_deref(), Some("checkout"));
    assert_eq!(first.environment.as_deref(), Some("prod"));
    assert_eq!(first.starts_at, datetime!(2026-05-04 10:00 UTC));
    let second = &alerts[1];
    assert_eq!(second.status, AlertStatus::Firing);
    assert_eq!(second.severity, Severity::Warning, "medium");
    assert_eq!(second.starts_at, crate::RECEIVED_AT);
    assert!(second.fingerprint.as_str().starts_with("labels:"));
    assert_eq!(second.service.as_deref(), Some("backup"));
}

#[test]
fn a_single_generic_alert_resolves() {
    let alerts = alerts(SourceKind::Generic, "generic/resolved.json");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].status, AlertStatus::Resolved);
    assert_eq!(alerts[0].ends_at, Some(datetime!(2026-05-04 10:30 UTC)));
    assert_eq!(alerts[0].fingerprint.as_str(), "checkout-error-rate");
}

#[test]
fn the_default_fingerprint_is_title_and_labels() {
    let a = br#"{"title":"t","labels":{"a":"1","b":"2"}}"#;
    let b = br#"{"labels":{"b":"2","a":"1"},"title":"t","severity":"critical"}"#;
    let c = br#"{"title":"u","labels":{"a":"1","b":"2"}}"#;
    let fp = |body: &[u8]| {
        crate::parse(SourceKind::Generic, body).into_alerts()[0]
            .fingerprint
            .clone()
    };
    assert_eq!(fp(a), fp(b));
    assert_ne!(fp(a), fp(c));
}

#[test]
fn generic_values_are_checked() {
    for (body, code, path) in [
        (
            r#"{"title":"t","severity":"urgent"}"#,
            "invalid_value",
            "severity",
        ),
        (
            r#"{"title":"t","status":"open"}"#,
            "invalid_value",
            "status",
        ),
        (
            r#"{"alerts":[{"title":"t"},{"title":"t","starts_at":"yesterday"}]}"#,
            "invalid_value",
            "alerts[1].starts_at",
        ),
        (
            r#"{"alerts":[{"title":"t","labels":["a"]}]}"#,
            "wrong_type",
            "alerts[0].labels",
        ),
        (
            r#"{"alerts":[{"severity":"high"}]}"#,
            "missing_field",
            "alerts[0].title",
        ),
    ] {
        let err = aurora_signals::parse(SourceKind::Generic, body.as_bytes(), &crate::options())
            .unwrap_err();
        assert_eq!(
            (err.code(), err.path()),
            (code, Some(path)),
            "{body}: {err}"
        );
    }
}
