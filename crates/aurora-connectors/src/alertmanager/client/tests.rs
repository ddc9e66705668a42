use std::time::Duration;

use super::*;
use crate::test_http::serve;

fn client(url: &str) -> AlertmanagerClient {
    let config = AlertmanagerConfig {
        url: url.to_owned(),
        timeout: Duration::from_secs(5),
        ..AlertmanagerConfig::default()
    };
    AlertmanagerClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap()
}

#[test]
fn error_messages_come_from_strings_objects_or_text() {
    assert_eq!(
        error_message(r#""bad matcher format: foo""#),
        "bad matcher format: foo"
    );
    assert_eq!(
        error_message(r#"{"code":602,"message":"matchers in body is required"}"#),
        "matchers in body is required"
    );
    assert_eq!(error_message("  plain text\n"), "plain text");
}

#[test]
fn matchers_in_text_notation() {
    let m = |is_equal, is_regex| Matcher {
        name: "service".into(),
        value: "check\"out".into(),
        is_regex,
        is_equal,
    };
    assert_eq!(m(true, false).to_text(), r#"service="check\"out""#);
    assert_eq!(m(false, false).to_text(), r#"service!="check\"out""#);
    assert_eq!(m(true, true).to_text(), r#"service=~"check\"out""#);
    assert_eq!(m(false, true).to_text(), r#"service!~"check\"out""#);
}

#[test]
fn a_metadata_url_is_refused_before_any_request() {
    let config = AlertmanagerConfig {
        url: "http://169.254.169.254/".to_owned(),
        ..AlertmanagerConfig::default()
    };
    let err =
        AlertmanagerClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap_err();
    assert!(matches!(err, AlertmanagerError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("169.254.169.254"), "{err}");
}

#[tokio::test]
async fn alerts_send_filters_and_flags() {
    let (url, server) = serve(vec![(
        200,
        r#"[{"labels":{"alertname":"A"},"annotations":{},"startsAt":"2024-05-01T12:00:00Z",
            "endsAt":"2024-05-01T13:00:00Z","updatedAt":"2024-05-01T12:00:00Z",
            "generatorURL":"http://prom/graph","fingerprint":"abc","receivers":[{"name":"r"}],
            "status":{"state":"active","silencedBy":[],"inhibitedBy":[]}}]"#,
    )])
    .await;
    let alerts = client(&url)
        .alerts(&AlertQuery {
            filter: vec!["service=\"checkout\"".into()],
            silenced: Some(false),
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].fingerprint, "abc");
    assert_eq!(alerts[0].status.state, "active");
    assert_eq!(alerts[0].generator_url, "http://prom/graph");
    let requests = server.await.unwrap();
    assert!(
        requests[0]
            .starts_with("GET /api/v2/alerts?filter=service%3D%22checkout%22&silenced=false "),
        "{}",
        requests[0]
    );
}

#[tokio::test]
async fn a_refused_silence_is_a_bad_request_with_alertmanagers_reason() {
    let (url, _server) = serve(vec![(
        400,
        r#""silence invalid: invalid label matcher 0: invalid regular expression""#,
    )])
    .await;
    let silence = NewSilence {
        matchers: vec![Matcher {
            name: "alertname".into(),
            value: "(".into(),
            is_regex: true,
            is_equal: true,
        }],
        starts_at: "2024-05-01T12:00:00Z".into(),
        ends_at: "2024-05-01T13:00:00Z".into(),
        created_by: "aurora".into(),
        comment: "test".into(),
    };
    let err = client(&url).create_silence(&silence).await.unwrap_err();
    assert!(
        matches!(&err, AlertmanagerError::BadRequest(m) if m.contains("invalid regular expression")),
        "{err:?}"
    );
    assert!(matches!(
        ToolError::from(err),
        ToolError::InvalidArguments(_)
    ));
}

#[tokio::test]
async fn a_silence_without_matchers_is_never_sent() {
    let err = client("http://127.0.0.1:9")
        .create_silence(&NewSilence {
            matchers: Vec::new(),
            starts_at: String::new(),
            ends_at: String::new(),
            created_by: "aurora".into(),
            comment: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("every alert"), "{err}");
}

#[tokio::test]
async fn statuses_map_to_errors_that_say_what_to_check() {
    let (url, _server) = serve(vec![(401, ""), (404, "not found"), (500, "boom")]).await;
    let client = client(&url);
    assert!(matches!(
        client.silences(&[]).await.unwrap_err(),
        AlertmanagerError::Unauthorized { status: 401, .. }
    ));
    assert!(matches!(
        client.silences(&[]).await.unwrap_err(),
        AlertmanagerError::NotFound { .. }
    ));
    let err = client.silences(&[]).await.unwrap_err();
    assert!(
        matches!(&err, AlertmanagerError::Http { status: 500, body, .. } if body == "boom"),
        "{err:?}"
    );
}
