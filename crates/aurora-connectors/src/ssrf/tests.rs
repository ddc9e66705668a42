use super::*;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn refused_key(result: Result<(), SsrfError>) -> Option<&'static str> {
    match result {
        Err(SsrfError::Refused { allowed_by, .. }) => allowed_by,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn default_allows_private_and_public_and_refuses_link_local() {
    let policy = UrlPolicy::default();
    for ok in [
        "http://127.0.0.1:9090",
        "http://10.1.2.3",
        "https://172.16.0.1",
        "http://192.168.1.10:9090/prometheus/",
        "http://100.64.0.1",
        "http://[::1]:9090",
        "http://[fd12:3456::1]",
        "https://8.8.8.8",
        "https://[2001:4860:4860::8888]",
        "http://prometheus.internal:9090",
    ] {
        assert_eq!(policy.check_url(&url(ok)), Ok(()), "{ok}");
    }
    assert_eq!(
        refused_key(policy.check_url(&url("http://169.254.10.1/"))),
        Some("connectors.allow_link_local")
    );
    assert_eq!(
        refused_key(policy.check_url(&url("http://[fe80::1]/"))),
        Some("connectors.allow_link_local")
    );
}

#[test]
fn metadata_endpoints_need_an_explicit_host() {
    let policy = UrlPolicy {
        allow_link_local: true,
        ..UrlPolicy::default()
    };
    for bad in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
    ] {
        assert_eq!(
            refused_key(policy.check_url(&url(bad))),
            Some("connectors.allowed_hosts"),
            "{bad}"
        );
    }
    let listed = UrlPolicy {
        allowed_hosts: vec!["169.254.169.254".into()],
        ..UrlPolicy::default()
    };
    assert_eq!(listed.check_url(&url("http://169.254.169.254/")), Ok(()));
}

#[test]
fn never_allowed_addresses() {
    let policy = UrlPolicy {
        allow_private: true,
        allow_link_local: true,
        allowed_hosts: vec!["0.0.0.0".into(), "224.0.0.1".into()],
    };
    for bad in [
        "http://0.0.0.0:9090",
        "http://0.1.2.3",
        "http://255.255.255.255",
        "http://224.0.0.1",
        "http://240.0.0.1",
        "http://[::]:9090",
        "http://[ff02::1]",
        "http://[::ffff:0.0.0.0]",
    ] {
        assert_eq!(refused_key(policy.check_url(&url(bad))), None, "{bad}");
    }
}

#[test]
fn private_can_be_refused() {
    let policy = UrlPolicy {
        allow_private: false,
        ..UrlPolicy::default()
    };
    for bad in [
        "http://127.0.0.1",
        "http://10.0.0.1",
        "http://[::1]",
        "http://[fc00::1]",
        "http://[::ffff:192.168.0.1]",
        "http://[2002:c0a8:0001::1]",
    ] {
        assert_eq!(
            refused_key(policy.check_url(&url(bad))),
            Some("connectors.allow_private"),
            "{bad}"
        );
    }
}

#[test]
fn scheme_and_user_info_are_checked() {
    let policy = UrlPolicy::default();
    assert_eq!(
        policy.check_url(&url("file:///etc/passwd")),
        Err(SsrfError::Scheme("file".into()))
    );
    assert_eq!(
        policy.check_url(&url("gopher://127.0.0.1")),
        Err(SsrfError::Scheme("gopher".into()))
    );
    assert_eq!(
        policy.check_url(&url("http://user:pw@127.0.0.1")),
        Err(SsrfError::UserInfo)
    );
}

#[test]
fn refusal_message_names_the_address_and_the_setting() {
    let policy = UrlPolicy::default();
    let err = policy
        .check_url(&url("http://169.254.1.1:9090"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused to connect to 169.254.1.1: link-local address; \
         set connectors.allow_link_local = true to allow it"
    );
    let err = policy
        .check_addr("evil.example", "169.254.169.254".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("169.254.169.254 (resolved from \"evil.example\")"),
        "{err}"
    );
    assert!(err.contains("connectors.allowed_hosts"), "{err}");
    let err = policy
        .check_url(&url("http://metadata.google.internal/computeMetadata/v1/"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refused to connect to metadata.google.internal: cloud metadata endpoint; \
         list the host in connectors.allowed_hosts to allow it"
    );
}

#[test]
fn policy_deserializes_with_defaults() {
    let policy: UrlPolicy = serde_json::from_str(r#"{"allow_link_local": true}"#).unwrap();
    assert!(policy.allow_private);
    assert!(policy.allow_link_local);
    let err = serde_json::from_str::<UrlPolicy>(r#"{"allow_linklocal": true}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[tokio::test]
async fn resolver_checks_every_resolved_address() {
    let strict = UrlPolicy {
        allow_private: false,
        ..UrlPolicy::default()
    };
    let err = strict.resolve("localhost", 80).await.unwrap_err();
    assert!(
        matches!(
            err,
            SsrfError::Refused {
                allowed_by: Some("connectors.allow_private"),
                ..
            }
        ),
        "{err:?}"
    );
    let addrs = UrlPolicy::default()
        .check_url_resolved(&url("http://localhost:9090"))
        .await
        .unwrap();
    assert!(
        addrs
            .iter()
            .all(|a| a.port() == 9090 && a.ip().is_loopback())
    );
}

#[tokio::test]
async fn guarded_client_refuses_through_reqwest() {
    let strict = UrlPolicy {
        allow_private: false,
        ..UrlPolicy::default()
    };
    let client = strict.client_builder().build().unwrap();
    let err = client.get("http://localhost:1/").send().await.unwrap_err();
    let refusal = find_refusal(&err).expect("refusal in the error chain");
    assert!(refusal.to_string().contains("connectors.allow_private"));
}
