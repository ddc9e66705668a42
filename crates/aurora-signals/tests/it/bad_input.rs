use std::fmt::Write as _;

use aurora_core::alert::{AlertLimits, DROPPED_KEY, SourceKind, TRUNCATION_MARKER};
use aurora_signals::{ParseError, ParseOptions};

fn parse_err(kind: SourceKind, body: &[u8]) -> ParseError {
    aurora_signals::parse(kind, body, &crate::options()).unwrap_err()
}

#[test]
fn malformed_json_is_reported_with_its_position() {
    for kind in SourceKind::ALL {
        let err = parse_err(kind, b"{\"alerts\": [\n  {\"status\": }]}");
        assert_eq!(err.code(), "malformed_json", "{kind}");
        assert!(err.to_string().contains("line 2"), "{kind}: {err}");
        assert_eq!(parse_err(kind, b"").code(), "malformed_json");
        assert_eq!(parse_err(kind, &[0xff, 0xfe]).code(), "malformed_json");
    }
}

#[test]
fn missing_fields_are_named() {
    let cases: [(SourceKind, &str, &str); 9] = [
        (SourceKind::Alertmanager, r#"{"version":"4"}"#, "alerts"),
        (
            SourceKind::Alertmanager,
            r#"{"alerts":[{"labels":{}}]}"#,
            "alerts[0].status",
        ),
        (
            SourceKind::Grafana,
            r#"{"alerts":[{"status":"firing"}]}"#,
            "alerts[0].fingerprint",
        ),
        (SourceKind::Datadog, r#"{"alert_id":"1"}"#, "alert_title"),
        (SourceKind::Pagerduty, r#"{"events":[]}"#, "event"),
        (
            SourceKind::Pagerduty,
            r#"{"event":{"event_type":"incident.triggered","data":{"id":"P1"}}}"#,
            "event.data.title",
        ),
        (
            SourceKind::Opsgenie,
            r#"{"action":"Create","alert":{"alertId":"1"}}"#,
            "alert.message",
        ),
        (
            SourceKind::Cloudwatch,
            r#"{"Type":"Notification","MessageId":"1","Message":"{}","Timestamp":"t"}"#,
            "TopicArn",
        ),
        (
            SourceKind::Generic,
            r#"{"alerts":[{"title":"a"},{"status":"firing"}]}"#,
            "alerts[1].title",
        ),
    ];
    for (kind, body, path) in cases {
        let err = parse_err(kind, body.as_bytes());
        assert_eq!(
            (err.code(), err.path()),
            ("missing_field", Some(path)),
            "{kind} {body}: {err}"
        );
        assert!(err.to_string().contains(path));
    }
}

#[test]
fn wrong_shapes_are_rejected_with_the_field_path() {
    let cases: [(SourceKind, &str, &str); 6] = [
        (SourceKind::Alertmanager, r#"[1,2]"#, "(document)"),
        (SourceKind::Alertmanager, r#"{"alerts":{"a":1}}"#, "alerts"),
        (
            SourceKind::Alertmanager,
            r#"{"alerts":[{"status":"firing","labels":"x"}]}"#,
            "alerts[0].labels",
        ),
        (SourceKind::Grafana, r#"{"alerts":["x"]}"#, "alerts[0]"),
        (SourceKind::Opsgenie, r#"{"action":1}"#, "action"),
        (
            SourceKind::Cloudwatch,
            r#"{"Type":"Notification","MessageId":"1","TopicArn":"t","Message":7,"Timestamp":"t"}"#,
            "Message",
        ),
    ];
    for (kind, body, path) in cases {
        let err = parse_err(kind, body.as_bytes());
        assert_eq!(
            (err.code(), err.path()),
            ("wrong_type", Some(path)),
            "{kind} {body}: {err}"
        );
    }
    let err = parse_err(
        SourceKind::Alertmanager,
        br#"{"alerts":[{"status":"pending"}]}"#,
    );
    assert_eq!(
        (err.code(), err.path()),
        ("invalid_value", Some("alerts[0].status"))
    );
    let err = parse_err(SourceKind::Cloudwatch, br#"{"Type":"Mystery"}"#);
    assert_eq!(err.code(), "unsupported_payload");
}

fn alertmanager_group(count: usize) -> String {
    let mut body =
        String::from(r#"{"version":"4","status":"firing","receiver":"aurora","alerts":["#);
    for i in 0..count {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"status":"firing","labels":{{"alertname":"Load","instance":"host-{i}:9100","severity":"warning"}},"annotations":{{"summary":"load high on host-{i}"}},"startsAt":"2026-05-04T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"{i:016x}"}}"#
        );
    }
    body.push_str("]}");
    body
}

#[test]
fn ten_thousand_alerts_parse_without_copying_the_delivery() {
    let body = alertmanager_group(10_000);
    let alerts =
        aurora_signals::parse(SourceKind::Alertmanager, body.as_bytes(), &crate::options())
            .unwrap()
            .into_alerts();
    assert_eq!(alerts.len(), 10_000);
    assert_eq!(
        alerts[9_999].fingerprint.as_str(),
        format!("{:016x}", 9_999)
    );
    assert_eq!(alerts[9_999].title, "load high on host-9999");
    // Each alert keeps only its own object as raw, so what is kept grows with the body, not
    // with alerts × body (which a per-alert copy of the delivery would cost).
    let kept: usize = alerts.iter().map(|a| a.raw.to_string().len()).sum();
    assert!(
        kept <= body.len(),
        "kept {kept} bytes of raw for a {} byte body",
        body.len()
    );
}

#[test]
fn too_many_alerts_are_refused_with_the_limit() {
    let options = ParseOptions {
        max_alerts: 100,
        ..crate::options()
    };
    let err = aurora_signals::parse(
        SourceKind::Alertmanager,
        alertmanager_group(101).as_bytes(),
        &options,
    )
    .unwrap_err();
    assert_eq!(err.code(), "too_many_alerts");
    assert!(err.to_string().contains("limit of 100"));
    let err = aurora_signals::parse(
        SourceKind::Generic,
        format!(
            r#"{{"alerts":[{}]}}"#,
            vec![r#"{"title":"t"}"#; 101].join(",")
        )
        .as_bytes(),
        &options,
    )
    .unwrap_err();
    assert_eq!(err.code(), "too_many_alerts");
}

#[test]
fn huge_and_odd_labels_are_bounded_and_visible() {
    let mut labels = String::new();
    for i in 0..500 {
        let _ = write!(labels, r#""label_{i:03}":"v","#);
    }
    let huge_value = "x".repeat(1_000_000);
    let huge_key = "k".repeat(10_000);
    let body = format!(
        r#"{{"alerts":[{{"status":"firing","fingerprint":"f","labels":{{{labels}"{huge_key}":"v","odd\u0007key":"line\nbreak","huge":"{huge_value}"}},"annotations":{{"description":"{huge_value}"}}}}]}}"#
    );
    let alert = &crate::parse(SourceKind::Alertmanager, body.as_bytes()).into_alerts()[0];
    let limits = AlertLimits::DEFAULT;
    assert_eq!(alert.labels.len(), limits.max_labels);
    assert!(alert.labels[DROPPED_KEY].contains("dropped"));
    for (key, value) in &alert.labels {
        assert!(
            key.len() <= limits.max_key_len,
            "key of {} bytes",
            key.len()
        );
        assert!(
            value.len() <= limits.max_label_value_len,
            "value of {} bytes",
            value.len()
        );
    }
    assert!(alert.description.len() <= limits.max_description_len);
    assert!(alert.description.contains(TRUNCATION_MARKER));

    // With room for every label, the huge ones are truncated, not dropped, and odd ones kept.
    let body = format!(
        r#"{{"alerts":[{{"status":"firing","fingerprint":"f","labels":{{"{huge_key}":"v","odd\u0007key":"line\nbreak","huge":"{huge_value}"}}}}]}}"#
    );
    let alert = &crate::parse(SourceKind::Alertmanager, body.as_bytes()).into_alerts()[0];
    assert_eq!(alert.labels.len(), 3);
    assert!(alert.labels["huge"].contains(TRUNCATION_MARKER));
    assert!(
        alert
            .labels
            .keys()
            .any(|k| k.starts_with("kkkk") && k.contains(TRUNCATION_MARKER))
    );
    assert_eq!(alert.labels["odd\u{FFFD}key"], "line\u{FFFD}break");
}
