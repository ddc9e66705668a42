use serde_json::json;

use super::*;

#[test]
fn minimal_config_gets_defaults() {
    let config = PrometheusConfig::from_json(json!({"url": "http://prom:9090"})).unwrap();
    assert_eq!(config.auth, PrometheusAuth::None);
    assert_eq!(config.timeout, Duration::from_secs(30));
    assert_eq!(config.max_range_points, 11_000);
    assert_eq!(config.max_series, 200);
    assert_eq!(config.rate_window, Duration::from_secs(60));
    assert!(!config.tls_insecure_skip_verify);
    assert_eq!(config.base_url().unwrap().as_str(), "http://prom:9090/");
}

#[test]
fn full_config() {
    let org = aurora_core::ids::OrgId::new();
    let config = PrometheusConfig::from_json(json!({
        "url": "https://example.com/prometheus",
        "auth": {"type": "basic", "username": "aurora", "secret_ref": format!("secret://{org}/prom")},
        "timeout": "1m 30s",
        "headers": {"X-Scope-OrgID": "team-a"},
        "max_range_points": 5000,
        "rate_window": 120,
    }))
    .unwrap();
    assert_eq!(config.timeout, Duration::from_secs(90));
    assert_eq!(config.rate_window, Duration::from_secs(120));
    assert_eq!(
        config.base_url().unwrap().as_str(),
        "https://example.com/prometheus/"
    );
    assert_eq!(
        config.auth.secret_ref().map(ToString::to_string),
        Some(format!("secret://{org}/prom"))
    );
    let creds = config
        .auth
        .credentials(Some(SecretString::from("hunter2")))
        .unwrap();
    assert!(!format!("{creds:?}").contains("hunter2"));
    assert!(config.auth.credentials(None).is_err());
}

#[test]
fn timeout_as_seconds() {
    let config =
        PrometheusConfig::from_json(json!({"url": "http://prom:9090", "timeout": 2.5})).unwrap();
    assert_eq!(config.timeout, Duration::from_millis(2500));
}

fn error(value: serde_json::Value) -> String {
    PrometheusConfig::from_json(value).unwrap_err().to_string()
}

#[test]
fn clear_validation_errors() {
    let cases = [
        (
            json!({"url": "http://p", "timout": "5s"}),
            "unknown field `timout`",
        ),
        (json!({}), "missing field `url`"),
        (json!({"url": "ftp://p"}), "use http or https"),
        (json!({"url": "not a url"}), "is not a URL"),
        (
            json!({"url": "http://u:p@prom"}),
            "use auth with a secret_ref",
        ),
        (
            json!({"url": "http://p", "timeout": "soon"}),
            "is not a duration",
        ),
        (
            json!({"url": "http://p", "timeout": 0}),
            "use between 1s and 10m",
        ),
        (
            json!({"url": "http://p", "max_range_points": 20000}),
            "use 1 to 11000",
        ),
        (
            json!({"url": "http://p", "headers": {"Authorization": "Bearer x"}}),
            "use auth with a secret_ref",
        ),
        (
            json!({"url": "http://p", "ca_pem": "garbage"}),
            "ca_pem holds no PEM",
        ),
        (
            json!({"url": "http://p", "auth": {"type": "bearer", "secret_ref": "plain"}}),
            "secret",
        ),
        (
            json!({"url": "http://p", "auth": {"type": "token"}}),
            "unknown variant `token`",
        ),
    ];
    for (value, expected) in cases {
        let message = error(value.clone());
        assert!(message.starts_with("prometheus config: "), "{message}");
        assert!(message.contains(expected), "{value}: {message}");
    }
}
