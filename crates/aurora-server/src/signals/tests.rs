use super::*;

#[test]
fn json_content_types_are_recognised() {
    for ok in [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/vnd.pagerduty+json",
    ] {
        assert!(is_json(ok), "{ok}");
    }
    for bad in ["text/plain", "application/x-www-form-urlencoded", ""] {
        assert!(!is_json(bad), "{bad}");
    }
}

#[test]
fn source_names_and_options_are_validated() {
    assert_eq!(validate_name("  prod  ").unwrap(), "prod");
    assert!(validate_name(" ").is_err());
    assert!(validate_name("a\u{7}b").is_err());
    assert!(validate_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());

    let options = |labels: &[&str]| SourceOptions {
        fingerprint_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
    };
    assert!(validate_options(&options(&["alertname", "service"])).is_ok());
    assert!(validate_options(&options(&[""])).is_err());
    assert!(validate_options(&options(&["a"; 17])).is_err());
}

#[test]
fn every_kind_says_how_to_authenticate() {
    for kind in SourceKind::ALL {
        assert!(!auth_instructions(kind).is_empty());
    }
}
