//! The Alertmanager connector against a real Alertmanager: alerts posted to it, silences
//! created through the mutating tool and read back through the tools and the raw API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_connectors::alertmanager::{
    AlertmanagerClient, AlertmanagerConfig, AlertmanagerError, Credentials, check, tools,
};
use aurora_connectors::ssrf::UrlPolicy;
use aurora_connectors::timespec::{format_time, now};
use aurora_core::tool::{Tool, ToolEffect, ToolError, ToolOutput};
use serde_json::{Value, json};

use crate::peers::{self, Alertmanager};

fn client(url: &str, timeout: Duration, policy: &UrlPolicy) -> AlertmanagerClient {
    let config = AlertmanagerConfig {
        url: url.to_owned(),
        timeout,
        ..AlertmanagerConfig::default()
    };
    AlertmanagerClient::new(&config, Credentials::None, policy).expect("client")
}

fn tool<'a>(tools: &'a [Arc<dyn Tool>], name: &str) -> &'a Arc<dyn Tool> {
    tools
        .iter()
        .find(|t| t.spec().name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

async fn call(tools: &[Arc<dyn Tool>], name: &str, args: Value) -> ToolOutput {
    tool(tools, name)
        .call(args.clone())
        .await
        .unwrap_or_else(|e| panic!("{name} {args}: {e}"))
}

async fn start() -> Option<Alertmanager> {
    match peers::alertmanager_binary() {
        Ok(binary) => Some(Alertmanager::start(&binary).await),
        Err(why) => {
            eprintln!("skipping: {why} (set it to /usr/bin/prometheus-alertmanager)");
            None
        }
    }
}

fn test_alert(name: &str, service: &str) -> Value {
    json!({
        "labels": {"alertname": name, "service": service, "severity": "critical"},
        "annotations": {"summary": format!("{name} on {service}"), "runbook_url": "http://runbooks/x"},
        "startsAt": format_time(now() - 120.0),
        "endsAt": format_time(now() + 3600.0),
        "generatorURL": "http://prometheus/graph"
    })
}

#[tokio::test]
async fn silences_created_through_the_tool_are_listed_and_silence_alerts() {
    let Some(am) = start().await else { return };
    let client = Arc::new(client(
        &am.url,
        Duration::from_secs(10),
        &UrlPolicy::default(),
    ));

    let health = check(&client).await.expect("healthcheck");
    assert!(health.ready, "{health:?}");
    assert!(
        health
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("0.")),
        "{health:?}"
    );

    am.post_alerts(json!([
        test_alert("HighLatency", "checkout"),
        test_alert("HighErrorRate", "payments"),
    ]))
    .await;
    let tools = tools(Arc::clone(&client), "test");

    // Both alerts, then only checkout's.
    let out = call(&tools, "alertmanager_alerts", json!({})).await;
    assert_eq!(out.content["count"], 2, "{}", out.content);
    assert!(
        out.source
            .starts_with("alertmanager \"test\" at http://127.0.0.1:"),
        "{}",
        out.source
    );
    let out = call(
        &tools,
        "alertmanager_alerts",
        json!({"filter": ["service=\"checkout\""]}),
    )
    .await;
    assert_eq!(out.content["count"], 1, "{}", out.content);
    let alert = &out.content["alerts"][0];
    assert_eq!(alert["alertname"], "HighLatency");
    assert_eq!(alert["state"], "active");
    assert_eq!(alert["summary"], "HighLatency on checkout");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert!(alert["fingerprint"].as_str().is_some_and(|f| !f.is_empty()));
    assert!(
        alert["starts_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("20"))
    );

    // Silence checkout's alert for 2 hours.
    let create = tool(&tools, "alertmanager_create_silence");
    assert_eq!(create.spec().effect, ToolEffect::Mutating);
    let before = now();
    let out = call(
        &tools,
        "alertmanager_create_silence",
        json!({
            "matchers": [
                {"name": "alertname", "value": "HighLatency"},
                {"name": "service", "value": "check.*", "is_regex": true}
            ],
            "duration": "2h",
            "comment": "INC-1: deploying the fix"
        }),
    )
    .await;
    let id = out.content["silence_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no silence id: {}", out.content))
        .to_owned();
    assert!(!id.is_empty());
    assert_eq!(out.content["duration"], "2h");
    assert_eq!(out.content["created_by"], "aurora");
    assert_eq!(
        out.content["link"],
        format!("{}/#/silences/{id}", am.url),
        "{}",
        out.content
    );

    // The tool lists it...
    let out = call(&tools, "alertmanager_silences", json!({})).await;
    assert_eq!(out.content["count"], 1, "{}", out.content);
    let silence = &out.content["silences"][0];
    assert_eq!(silence["id"], id.as_str());
    assert_eq!(silence["state"], "active");
    assert_eq!(silence["created_by"], "aurora");
    assert_eq!(silence["comment"], "INC-1: deploying the fix");
    assert_eq!(
        silence["matchers"],
        json!(["alertname=\"HighLatency\"", "service=~\"check.*\""])
    );

    // ...and so does Alertmanager's own API, with the times the tool computed.
    let raw = am.get(&format!("api/v2/silence/{id}")).await;
    assert_eq!(raw["createdBy"], "aurora", "{raw}");
    assert_eq!(raw["comment"], "INC-1: deploying the fix");
    assert_eq!(raw["status"]["state"], "active");
    assert_eq!(raw["matchers"][1]["isRegex"], true);
    assert_eq!(raw["matchers"][1]["isEqual"], true);
    let starts = parse(&raw["startsAt"]);
    let ends = parse(&raw["endsAt"]);
    assert!((ends - starts - 7200.0).abs() < 2.0, "{raw}");
    assert!(
        starts >= before.floor() - 1.0 && starts <= now() + 1.0,
        "{raw}"
    );
    let all = am.get("api/v2/silences").await;
    assert!(
        all.as_array()
            .is_some_and(|s| s.iter().any(|s| s["id"] == id.as_str())),
        "{all}"
    );

    // The alert is now suppressed by the silence; the other one is not.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = call(
            &tools,
            "alertmanager_alerts",
            json!({"filter": "alertname=\"HighLatency\""}),
        )
        .await;
        let alert = &out.content["alerts"][0];
        if alert["state"] == "suppressed" {
            assert_eq!(alert["silenced_by"], json!([id]), "{}", out.content);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not silenced: {}\n{}",
            out.content,
            am.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = call(&tools, "alertmanager_alerts", json!({"silenced": false})).await;
    assert_eq!(out.content["count"], 1, "{}", out.content);
    assert_eq!(out.content["alerts"][0]["alertname"], "HighErrorRate");

    // Filters of silences, and expired ones are left out by default.
    let out = call(
        &tools,
        "alertmanager_silences",
        json!({"filter": ["service=\"payments\""]}),
    )
    .await;
    assert_eq!(out.content["count"], 0, "{}", out.content);
    let out = call(&tools, "alertmanager_silences", json!({"state": "expired"})).await;
    assert_eq!(out.content["count"], 0, "{}", out.content);
}

fn parse(value: &Value) -> f64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    aurora_connectors::timespec::parse_time(text, 0.0).expect("RFC 3339")
}

#[tokio::test]
async fn bad_arguments_are_refused_and_nothing_is_created() {
    let Some(am) = start().await else { return };
    let client = Arc::new(client(
        &am.url,
        Duration::from_secs(10),
        &UrlPolicy::default(),
    ));
    let tools = tools(client, "test");
    let m = json!([{"name": "alertname", "value": "HighLatency"}]);
    let cases = [
        (
            json!({"matchers": [], "duration": "1h", "comment": "c"}),
            "would silence every alert",
        ),
        (
            json!({"duration": "1h", "comment": "c"}),
            "matchers is required",
        ),
        (
            json!({"matchers": m, "duration": "for a while", "comment": "c"}),
            "is not a duration",
        ),
        (
            json!({"matchers": m, "duration": "30d", "comment": "c"}),
            "from 1m to 7d",
        ),
        (
            json!({"matchers": m, "duration": "1h"}),
            "comment is required",
        ),
        (
            json!({"matchers": m, "duration": "1h", "comment": ""}),
            "comment is required",
        ),
        // Alertmanager would accept this one and silence every other alert.
        (
            json!({"matchers": [{"name": "alertname", "value": "Foo", "is_regex": true, "is_equal": false}], "duration": "1h", "comment": "c"}),
            "cover nearly every alert",
        ),
        // Passes Aurora's checks; Alertmanager refuses the regular expression.
        (
            json!({"matchers": [{"name": "alertname", "value": "(", "is_regex": true}], "duration": "1h", "comment": "c"}),
            "alertmanager refused the request",
        ),
    ];
    for (args, want) in cases {
        let err = tool(&tools, "alertmanager_create_silence")
            .call(args.clone())
            .await
            .unwrap_err();
        match &err {
            ToolError::InvalidArguments(message) => {
                assert!(
                    message.contains(want),
                    "{args}: {message} (wanted {want:?})"
                );
            }
            other => panic!("{args}: expected invalid arguments, got {other:?}"),
        }
    }
    let silences = am.get("api/v2/silences").await;
    assert_eq!(silences, json!([]), "a silence was created");

    // A filter Alertmanager cannot parse, and a bad state.
    let err = tool(&tools, "alertmanager_alerts")
        .call(json!({"filter": ["service~\"x\""]}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidArguments(m) if m.contains("bad matcher format")),
        "{err:?}"
    );
    let err = tool(&tools, "alertmanager_silences")
        .call(json!({"state": "gone"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments(_)), "{err:?}");
}

#[tokio::test]
async fn a_dead_port_fails_the_healthcheck_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Arc::new(client(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(2),
        &UrlPolicy::default(),
    ));
    let started = Instant::now();
    let err = check(&client).await.unwrap_err();
    assert!(
        matches!(err, AlertmanagerError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("check the url and that alertmanager is running"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = tools(client, "dead")[0].call(json!({})).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("could not reach alertmanager")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_url_guard_refuses_metadata_and_link_local_addresses() {
    let policy = UrlPolicy::default();
    let config = |url: &str| AlertmanagerConfig {
        url: url.to_owned(),
        ..AlertmanagerConfig::default()
    };
    let err = AlertmanagerClient::new(
        &config("http://169.254.169.254/"),
        Credentials::None,
        &policy,
    )
    .unwrap_err();
    assert!(matches!(err, AlertmanagerError::Refused(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "refused to connect to 169.254.169.254: cloud metadata endpoint; \
         list the host in connectors.allowed_hosts to allow it"
    );
    let err = AlertmanagerClient::new(
        &config("http://169.254.1.2:9093/"),
        Credentials::None,
        &policy,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("set connectors.allow_link_local = true"),
        "{err}"
    );
    let err = AlertmanagerClient::new(
        &config("http://metadata.google.internal/"),
        Credentials::None,
        &policy,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cloud metadata endpoint"), "{err}");

    // A host name is checked when it resolves, on every request: with private addresses
    // refused, `localhost` is refused before anything is sent.
    let strict = UrlPolicy {
        allow_private: false,
        ..UrlPolicy::default()
    };
    let client = Arc::new(client(
        "http://localhost:9093",
        Duration::from_secs(2),
        &strict,
    ));
    let err = check(&client).await.unwrap_err();
    assert!(matches!(err, AlertmanagerError::Refused(_)), "{err:?}");
    let err = tool(&tools(client, "strict"), "alertmanager_create_silence")
        .call(json!({
            "matchers": [{"name": "alertname", "value": "X"}],
            "duration": "1h",
            "comment": "c"
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("loopback or private address")),
        "{err:?}"
    );
}
