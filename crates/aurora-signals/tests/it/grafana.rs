use aurora_core::alert::{AlertStatus, Severity, SourceKind};

use crate::{alerts, assert_well_formed};

#[test]
fn grafana_firing_alerts_carry_their_links_and_values() {
    let alerts = alerts(SourceKind::Grafana, "grafana/firing.json");
    assert_eq!(alerts.len(), 2);
    let memory = &alerts[0];
    assert_well_formed(memory);
    assert_eq!(memory.source_kind, SourceKind::Grafana);
    assert_eq!(memory.fingerprint.as_str(), "c6eadffa33fcdf37");
    assert_eq!(memory.status, AlertStatus::Firing);
    assert_eq!(memory.severity, Severity::High);
    assert_eq!(memory.title, "This alert was triggered for zone us-1");
    assert_eq!(memory.service.as_deref(), Some("billing"));
    assert_eq!(
        memory.link.as_deref(),
        Some("https://play.grafana.org/alerting/1afz29v7z/edit")
    );
    assert!(memory.annotations["grafana.silence_url"].starts_with("https://play.grafana.org/"));
    assert!(memory.annotations["grafana.values"].contains("44.2394"));
    assert!(
        !memory.annotations.contains_key("grafana.dashboard_url"),
        "empty URLs are skipped"
    );
    assert_eq!(alerts[1].severity, Severity::Warning);
    assert_eq!(alerts[1].fingerprint.as_str(), "bc97ff14869b13e3");
}

#[test]
fn grafana_resolved_alerts_end() {
    let alerts = alerts(SourceKind::Grafana, "grafana/resolved.json");
    assert!(
        alerts
            .iter()
            .all(|a| a.status == AlertStatus::Resolved && a.ends_at.is_some())
    );
    assert_eq!(alerts[0].fingerprint.as_str(), "c6eadffa33fcdf37");
    let ends = alerts[0].ends_at.unwrap();
    assert_eq!(ends.offset().whole_hours(), 2, "offsets are kept");
}
