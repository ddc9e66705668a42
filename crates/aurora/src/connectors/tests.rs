use std::collections::BTreeMap;
use std::sync::Arc;

use aurora_connectors::ssrf::UrlPolicy;
use aurora_core::ids::{ConnectorId, OrgId};
use aurora_core::investigation::Connector;
use aurora_core::secrets::SecretRef;
use aurora_server::investigations::ConnectorCatalog;
use aurora_store::LocalSecretStore;
use aurora_testkit::peers::{PrometheusBinaries, PrometheusStack, WebhookReceiver};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{
    ALERTMANAGER, BuiltinConnectors, alertmanager_config, prometheus_config, snapshot_config,
};

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

#[test]
fn alertmanager_takes_a_token_or_password_like_prometheus() {
    let org = OrgId::new();
    let refs = token_ref(org);
    let policy = UrlPolicy::default();
    let config = alertmanager_config(
        &json!({"url": "http://alertmanager:9093", "timeout": "10s"}),
        &refs,
        &policy,
    )
    .unwrap();
    assert_eq!(config["auth"]["type"], "bearer");
    assert_eq!(config["auth"]["secret_ref"], refs["token"].to_string());
    let config =
        alertmanager_config(&json!({"url": "http://am:9093"}), &BTreeMap::new(), &policy).unwrap();
    assert_eq!(config["auth"]["type"], "none");

    let none = BTreeMap::new();
    let cases = [
        (json!({"url": "http://169.254.169.254/"}), "169.254.169.254"),
        (json!({"url": "http://am:9093/api/v2"}), "without /api/v2"),
        (
            json!({"url": "http://am", "auth": {"type": "bearer"}}),
            "secrets.token",
        ),
        (
            json!({"url": "http://am", "auth": {"type": "digest"}}),
            "alertmanager config: auth type \"digest\"",
        ),
        (
            json!({"url": "http://am", "receiver": "x"}),
            "unknown field `receiver`",
        ),
        (
            json!("http://am"),
            "alertmanager config must be a JSON object",
        ),
    ];
    for (config, want) in cases {
        let err = alertmanager_config(&config, &none, &policy).unwrap_err();
        assert!(err.contains(want), "{config}: {err}");
    }
}

fn catalog() -> (BuiltinConnectors, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secrets = LocalSecretStore::open(
        dir.path().join("secrets.json"),
        None,
        &dir.path().join("secret.key"),
    )
    .unwrap();
    (
        BuiltinConnectors::new(Arc::new(secrets), UrlPolicy::default()),
        dir,
    )
}

fn connector(org: OrgId, kind: &str, config: Value) -> Connector {
    Connector {
        id: ConnectorId::new(),
        org_id: org,
        kind: kind.to_owned(),
        name: "am".to_owned(),
        config,
        secret_refs: BTreeMap::new(),
        created_at: OffsetDateTime::now_utc(),
        updated_at: OffsetDateTime::now_utc(),
        last_check: None,
    }
}

#[test]
fn alertmanager_is_a_known_kind_with_a_valid_example() {
    let (catalog, _dir) = catalog();
    let kinds = catalog.kinds();
    let kind = kinds.iter().find(|k| k.kind == ALERTMANAGER).unwrap();
    assert_eq!(kind.secret_fields, ["token", "password"]);
    catalog
        .validate(ALERTMANAGER, &kind.config_example, &BTreeMap::new())
        .unwrap();
}

#[tokio::test]
async fn alertmanager_check_fails_clearly_on_a_dead_port() {
    let (catalog, _dir) = catalog();
    let port = aurora_testkit::peers::free_port();
    let org = OrgId::new();
    let check = catalog
        .test(
            org,
            &connector(
                org,
                ALERTMANAGER,
                json!({"url": format!("http://127.0.0.1:{port}"), "timeout": "2s"}),
            ),
        )
        .await;
    assert!(!check.ok);
    assert!(
        check
            .message
            .contains("could not reach alertmanager at http://127.0.0.1:"),
        "{}",
        check.message
    );
}

#[tokio::test]
async fn alertmanager_check_against_a_real_alertmanager() {
    let binaries = match PrometheusBinaries::from_env() {
        Ok(binaries) => binaries,
        Err(why) => {
            eprintln!("skipping the Alertmanager connector check: {why}");
            return;
        }
    };
    // Nobody receives its notifications; the check only reads its status.
    let receiver = WebhookReceiver {
        url: format!("http://127.0.0.1:{}/", aurora_testkit::peers::free_port()),
        bearer: "unused".to_owned(),
    };
    let stack = PrometheusStack::start(&binaries, &receiver).await;
    let (catalog, _dir) = catalog();
    let org = OrgId::new();
    let check = catalog
        .test(
            org,
            &connector(org, ALERTMANAGER, json!({"url": stack.alertmanager_url()})),
        )
        .await;
    assert!(check.ok, "{}\n{}", check.message, stack.logs());
    assert!(
        check
            .message
            .starts_with("alertmanager answers and is ready (version "),
        "{}",
        check.message
    );
}
