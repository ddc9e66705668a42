use std::collections::BTreeMap;

use aurora_connectors::ssrf::UrlPolicy;
use aurora_core::ids::{ConnectorId, OrgId};
use aurora_core::secrets::SecretRef;
use serde_json::json;

use super::{prometheus_config, snapshot_config};

fn token_ref(org: OrgId) -> BTreeMap<String, SecretRef> {
    let name = format!("connectors/{}/token", ConnectorId::new());
    BTreeMap::from([("token".to_owned(), SecretRef::new(org, &name).unwrap())])
}

#[test]
fn a_token_makes_bearer_auth_with_its_reference() {
    let org = OrgId::new();
    let refs = token_ref(org);
    let config = prometheus_config(
        &json!({"url": "http://prometheus:9090"}),
        &refs,
        &UrlPolicy::default(),
    )
    .unwrap();
    assert_eq!(config["auth"]["type"], "bearer");
    assert_eq!(config["auth"]["secret_ref"], refs["token"].to_string());
    assert_eq!(config["url"], "http://prometheus:9090");
}

#[test]
fn refusals_say_what_to_fix() {
    let org = OrgId::new();
    let policy = UrlPolicy::default();
    let none = BTreeMap::new();
    let cases = [
        (
            json!({"url": "http://p:9090", "auth": {"type": "bearer"}}),
            none.clone(),
            "secrets.token",
        ),
        (
            json!({"url": "http://p:9090", "auth": {"type": "bearer", "secret_ref": format!("secret://{org}/llm/api_key")}}),
            token_ref(org),
            "set by Aurora",
        ),
        (
            json!({"url": "http://169.254.169.254/"}),
            none.clone(),
            "169.254.169.254",
        ),
        (json!({"url": "gopher://p"}), none.clone(), "scheme"),
        (
            json!({"url": "http://p", "auth": {"type": "digest"}}),
            none.clone(),
            "digest",
        ),
        (json!("http://p"), none, "JSON object"),
    ];
    for (config, refs, want) in cases {
        let err = prometheus_config(&config, &refs, &policy).unwrap_err();
        assert!(err.contains(want), "{config}: {err}");
    }
}

#[test]
fn a_snapshot_names_its_directory_and_nothing_else() {
    assert!(snapshot_config(&json!({"path": "/var/lib/snap"})).is_ok());
    let err = snapshot_config(&json!({"path": "/x", "url": "http://p"}))
        .err()
        .unwrap();
    assert!(err.contains("unknown field"), "{err}");
    let err = snapshot_config(&json!({"path": ""})).err().unwrap();
    assert!(err.contains("path is empty"), "{err}");
}
