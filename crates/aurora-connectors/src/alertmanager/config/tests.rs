use serde_json::json;

use super::*;

#[test]
fn minimal_config_gets_defaults() {
    let config = AlertmanagerConfig::from_json(json!({"url": "http://am:9093"})).unwrap();
    assert_eq!(config.auth, AlertmanagerAuth::None);
    assert_eq!(config.timeout, Duration::from_secs(30));
    assert!(!config.tls_insecure_skip_verify);
    assert_eq!(config.base_url().unwrap().as_str(), "http://am:9093/");
}

#[test]
fn full_config_with_basic_auth() {
    let org = aurora_core::ids::OrgId::new();
    let config = AlertmanagerConfig::from_json(json!({
        "url": "https://example.com/alertmanager",
        "auth": {"type": "basic", "username": "aurora", "secret_ref": format!("secret://{org}/am")},
        "timeout": "1m 30s",
        "headers": {"X-Scope-OrgID": "team-a"},
    }))
    .unwrap();
    assert_eq!(config.timeout, Duration::from_secs(90));
    assert_eq!(
        config.base_url().unwrap().as_str(),
        "https://example.com/alertmanager/"
    );
    assert_eq!(
        config.auth.secret_ref().map(ToString::to_string),
        Some(format!("secret://{org}/am"))
    );
    let creds = config
        .credentials(Some(SecretString::from("hunter2")))
        .unwrap();
    assert!(!format!("{creds:?}").contains("hunter2"));
    let err = config.credentials(None).unwrap_err().to_string();
    assert!(err.starts_with("alertmanager config: "), "{err}");
    assert!(!err.contains("prometheus"), "{err}");
}

#[test]
fn timeout_as_seconds() {
    let config =
        AlertmanagerConfig::from_json(json!({"url": "http://am:9093", "timeout": 2.5})).unwrap();
    assert_eq!(config.timeout, Duration::from_millis(2500));
}

fn error(value: serde_json::Value) -> String {
    AlertmanagerConfig::from_json(value)
        .unwrap_err()
        .to_string()
}

#[test]
fn parse_errors_say_what_to_fix() {
    let cases = [
        (json!("http://am:9093"), "must be a JSON object"),
        (json!({}), "missing field `url`"),
        (json!({"url": "am:9093"}), "scheme"),
        (json!({"url": "not a url"}), "is not a URL"),
        (json!({"url": "ftp://am"}), "use http or https"),
        (
            json!({"url": "http://u:p@am:9093"}),
            "user name or password",
        ),
        (json!({"url": "http://am:9093/?x=1"}), "query or fragment"),
        (json!({"url": "http://am:9093/api/v2"}), "without /api/v2"),
        (json!({"url": "http://am", "timeout": 0}), "timeout"),
        (
            json!({"url": "http://am", "timeout": "11m"}),
            "between 1s and 10m",
        ),
        (
            json!({"url": "http://am", "timeout": "soon"}),
            "is not a duration",
        ),
        (
            json!({"url": "http://am", "auth": {"type": "digest"}}),
            "digest",
        ),
        (
            json!({"url": "http://am", "auth": {"type": "bearer"}}),
            "missing field `secret_ref`",
        ),
        (
            json!({"url": "http://am", "uri": "x"}),
            "unknown field `uri`",
        ),
        (
            json!({"url": "http://am", "headers": {"Authorization": "Bearer x"}}),
            "use auth",
        ),
        (
            json!({"url": "http://am", "headers": {"bad header": "x"}}),
            "not a header name",
        ),
        (json!({"url": "http://am", "ca_pem": "nope"}), "ca_pem"),
    ];
    for (value, want) in cases {
        let err = error(value.clone());
        assert!(err.starts_with("alertmanager config: "), "{value}: {err}");
        assert!(err.contains(want), "{value}: {err} (wanted {want:?})");
    }
}
