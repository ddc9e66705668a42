use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn alert() -> Alert {
    Alert {
        source_kind: SourceKind::Generic,
        fingerprint: Fingerprint::parse("fp").unwrap(),
        status: AlertStatus::Firing,
        severity: Severity::Warning,
        title: "Disk full".to_owned(),
        description: String::new(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        service: None,
        environment: None,
        starts_at: OffsetDateTime::UNIX_EPOCH,
        ends_at: None,
        link: None,
        raw: serde_json::Value::Null,
    }
}

#[test]
fn severities_are_ordered_and_round_trip() {
    assert!(Severity::Critical > Severity::High);
    assert!(Severity::High > Severity::Warning);
    assert!(Severity::Warning > Severity::Low);
    assert!(Severity::Low > Severity::Info);
    for severity in Severity::ALL {
        assert_eq!(severity.to_string().parse::<Severity>().unwrap(), severity);
    }
    assert_eq!(" Medium ".parse::<Severity>().unwrap(), Severity::Warning);
    assert_eq!("CRITICAL".parse::<Severity>().unwrap(), Severity::Critical);
    assert!(
        "p1".parse::<Severity>()
            .unwrap_err()
            .to_string()
            .contains("critical, high")
    );
    assert_eq!(serde_json::to_string(&Severity::High).unwrap(), "\"high\"");
}

#[test]
fn statuses_and_source_kinds_round_trip() {
    for status in [AlertStatus::Firing, AlertStatus::Resolved] {
        assert_eq!(status.as_str().parse::<AlertStatus>().unwrap(), status);
    }
    assert!("open".parse::<AlertStatus>().is_err());
    for kind in SourceKind::ALL {
        assert_eq!(kind.to_string().parse::<SourceKind>().unwrap(), kind);
    }
    assert!(
        "nagios"
            .parse::<SourceKind>()
            .unwrap_err()
            .to_string()
            .contains("alertmanager")
    );
}

#[test]
fn fingerprints_keep_short_identities_and_hash_odd_ones() {
    assert_eq!(
        Fingerprint::from_identity(" 1a30ba71cca2921f ")
            .unwrap()
            .as_str(),
        "1a30ba71cca2921f"
    );
    assert!(Fingerprint::from_identity("  ").is_none());
    let long = "x".repeat(500);
    let hashed = Fingerprint::from_identity(&long).unwrap();
    assert!(hashed.as_str().starts_with("sha256:"));
    assert_eq!(hashed, Fingerprint::from_identity(&long).unwrap());
    assert!(
        Fingerprint::from_identity("a\nb")
            .unwrap()
            .as_str()
            .starts_with("sha256:")
    );
    assert!(Fingerprint::parse("").is_err());
    assert!(Fingerprint::parse(&long).is_err());
    assert_eq!(
        Fingerprint::from_parts(["123", "", "host:a"])
            .unwrap()
            .as_str(),
        "123/host:a"
    );
    assert!(Fingerprint::from_parts(["", " "]).is_none());
    let json = serde_json::to_string(&Fingerprint::parse("abc").unwrap()).unwrap();
    assert_eq!(
        serde_json::from_str::<Fingerprint>(&json).unwrap().as_str(),
        "abc"
    );
    assert!(serde_json::from_str::<Fingerprint>("\"\"").is_err());
}

#[test]
fn label_fingerprints_depend_on_named_values_only() {
    let names = vec!["alertname".to_owned(), "instance".to_owned()];
    let a = labels(&[("alertname", "Down"), ("instance", "a"), ("pod", "x-1")]);
    let b = labels(&[("alertname", "Down"), ("instance", "a"), ("pod", "x-2")]);
    let c = labels(&[("alertname", "Down"), ("instance", "b")]);
    let fa = Fingerprint::from_labels(&a, &names).unwrap();
    assert_eq!(fa, Fingerprint::from_labels(&b, &names).unwrap());
    assert_ne!(fa, Fingerprint::from_labels(&c, &names).unwrap());
    assert!(fa.as_str().starts_with("labels:"));
    assert!(Fingerprint::from_labels(&labels(&[("pod", "x")]), &names).is_none());
    // A missing label and an empty one are different identities.
    let missing = Fingerprint::from_labels(&labels(&[("alertname", "Down")]), &names).unwrap();
    let empty =
        Fingerprint::from_labels(&labels(&[("alertname", "Down"), ("instance", "")]), &names)
            .unwrap();
    assert_ne!(missing, empty);
}

#[test]
fn service_and_environment_come_from_common_labels() {
    let (service, env) = derive_service_environment(&labels(&[
        ("job", "node"),
        ("app.kubernetes.io/name", "checkout"),
        ("namespace", "shop-prod"),
        ("env", "prod"),
    ]));
    assert_eq!(service.as_deref(), Some("checkout"));
    assert_eq!(env.as_deref(), Some("prod"));
    let (service, env) = derive_service_environment(&labels(&[("job", "node"), ("service", " ")]));
    assert_eq!(service.as_deref(), Some("node"));
    assert_eq!(env, None);
}

#[test]
fn normalize_fills_service_but_keeps_explicit_values() {
    let mut a = alert();
    a.labels = labels(&[("service", "api"), ("environment", "staging")]);
    a.environment = Some("prod".to_owned());
    a.normalize(&AlertLimits::DEFAULT);
    assert_eq!(a.service.as_deref(), Some("api"));
    assert_eq!(a.environment.as_deref(), Some("prod"));
}

#[test]
fn huge_text_is_truncated_visibly() {
    let text = "é".repeat(1000); // 2000 bytes
    let cut = bound_text(&text, 100, true);
    assert!(cut.len() <= 100, "{} bytes", cut.len());
    assert!(cut.contains(TRUNCATION_MARKER));
    assert!(cut.ends_with(" bytes]"));
    assert_eq!(bound_text("short", 100, true), "short");
    assert_eq!(bound_text("a\u{0}b\nc", 100, true), "a\u{FFFD}b\u{FFFD}c");
    assert_eq!(bound_text("a\nb", 100, false), "a\nb");
}

#[test]
fn huge_or_many_labels_are_bounded_and_reported() {
    let limits = AlertLimits {
        max_labels: 10,
        ..AlertLimits::DEFAULT
    };
    let mut a = alert();
    for i in 0..100 {
        a.labels.insert(format!("label_{i:03}"), "v".to_owned());
    }
    a.labels.insert("k".repeat(10_000), "v".repeat(100_000));
    a.title = "t".repeat(10_000);
    a.description = "d".repeat(1_000_000);
    a.normalize(&limits);
    assert_eq!(a.labels.len(), 10);
    assert_eq!(
        a.labels[DROPPED_KEY],
        "92 of 101 entries dropped (limit 10)"
    );
    assert!(a.title.len() <= limits.max_title_len);
    assert!(a.description.len() <= limits.max_description_len);
    assert!(a.description.contains(TRUNCATION_MARKER));

    let mut b = alert();
    b.labels.insert("k".repeat(10_000), "v".repeat(100_000));
    b.labels
        .insert("odd\u{7}key".to_owned(), "line1\nline2".to_owned());
    b.normalize(&AlertLimits::DEFAULT);
    assert_eq!(b.labels.len(), 2);
    for (k, v) in &b.labels {
        assert!(k.len() <= AlertLimits::DEFAULT.max_key_len);
        assert!(v.len() <= AlertLimits::DEFAULT.max_label_value_len);
    }
    assert_eq!(b.labels["odd\u{FFFD}key"], "line1\u{FFFD}line2");
}

#[test]
fn keys_that_truncate_to_the_same_text_are_not_overwritten() {
    let limits = AlertLimits {
        max_key_len: 40,
        ..AlertLimits::DEFAULT
    };
    let mut a = alert();
    let base = "x".repeat(100);
    a.labels.insert(format!("{base}1"), "first".to_owned());
    a.labels.insert(format!("{base}2"), "second".to_owned());
    a.normalize(&limits);
    assert_eq!(a.labels.len(), 2);
    assert!(a.labels.values().any(|v| v == "first"));
    assert!(a.labels[DROPPED_KEY].starts_with("1 of 2"));
}

#[test]
fn alerts_serialize_with_rfc3339_times() {
    let mut a = alert();
    a.ends_at = Some(OffsetDateTime::UNIX_EPOCH);
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["starts_at"], "1970-01-01T00:00:00Z");
    assert_eq!(json["source_kind"], "generic");
    let back: Alert = serde_json::from_value(json).unwrap();
    assert_eq!(back, a);
}

#[test]
fn only_web_links_are_kept_as_links() {
    let mut a = alert();
    a.link = Some(" https://grafana.example/d/1 ".to_owned());
    a.normalize(&AlertLimits::DEFAULT);
    assert_eq!(a.link.as_deref(), Some("https://grafana.example/d/1"));
    let mut b = alert();
    b.link = Some("javascript:alert(1)".to_owned());
    b.normalize(&AlertLimits::DEFAULT);
    assert_eq!(b.link, None);
    assert_eq!(b.annotations[UNSAFE_LINK_KEY], "javascript:alert(1)");
}
