//! Aurora against real peers: Debian's Prometheus, Alertmanager and node_exporter send a real
//! alert through Alertmanager's webhook receiver; Debian's NATS server with JetStream carries
//! alerts across a restart of Aurora. Each test skips, saying why, when its binaries are not
//! named by `AURORA_PROMETHEUS`, `AURORA_ALERTMANAGER` and `AURORA_NODE_EXPORTER`, or by
//! `AURORA_NATS_SERVER`.

use std::time::{Duration, Instant};

use aurora::streams::nats::NatsConfig;
use aurora_core::ids::SourceId;
use aurora_core::ports::SignalStore;
use aurora_core::source::DeliveryOutcome;
use aurora_testkit::peers::{
    NatsServer, PrometheusBinaries, PrometheusStack, TEST_ALERT_NAME, TEST_ALERT_SERVICE,
    WebhookReceiver, nats_server_from_env,
};
use aurora_testkit::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a peer gets to deliver what the test waits for.
const WAIT: Duration = Duration::from_secs(60);

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// Polls `check` every 250 ms until it returns `Some`, for at most [`WAIT`]; `context` says
/// what was awaited (and the peers' logs) when it does not come.
async fn wait_for<T, F, Fut>(what: &str, context: impl Fn() -> String, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: not after {WAIT:?}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_prometheus_alert_opens_an_incident_through_alertmanager_and_resolves_it() {
    let binaries = match PrometheusBinaries::from_env() {
        Ok(binaries) => binaries,
        Err(why) => {
            eprintln!("skipping the Prometheus/Alertmanager test: {why}");
            return;
        }
    };
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let created: Value = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "real alertmanager"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let receiver = WebhookReceiver {
        url: app.url(created["webhook_path"].as_str().unwrap()),
        bearer: created["secret"].as_str().unwrap().to_owned(),
    };
    let peers = PrometheusStack::start(&binaries, &receiver).await;
    let logs = || peers.logs();

    peers.set_condition(1.0);
    let incident = wait_for("an open incident", logs, || async {
        let list = get_json(&app, &token, "/api/v1/incidents?status=open").await;
        list["incidents"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["service"], TEST_ALERT_SERVICE);
    let id = incident["id"].as_str().unwrap().to_owned();
    let detail = get_json(&app, &token, &format!("/api/v1/incidents/{id}")).await;
    let alerts = detail["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["labels"]["alertname"], TEST_ALERT_NAME);
    assert_eq!(alerts[0]["status"], "firing");

    peers.set_condition(0.0);
    let detail = wait_for("the incident resolved", logs, || async {
        let detail = get_json(&app, &token, &format!("/api/v1/incidents/{id}")).await;
        (detail["status"] == "resolved").then_some(detail)
    })
    .await;
    assert_eq!(detail["alerts"][0]["status"], "resolved");
    let list = get_json(&app, &token, "/api/v1/incidents").await;
    assert_eq!(
        list["incidents"].as_array().unwrap().len(),
        1,
        "one incident in all: {list}"
    );
}

/// Alerts published to the stream: half while Aurora consumes, half while it is stopped.
const STREAM_ALERTS: usize = 10;
const STREAM: &str = "AURORA_TEST";
const SUBJECT: &str = "aurora.alerts.test";

/// One Alertmanager webhook payload with one firing alert of its own (no service: each alert
/// opens an incident of its own).
fn stream_alert(i: usize) -> String {
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"StreamTest{i}\"}}"),
        "status": "firing",
        "receiver": "aurora",
        "groupLabels": {"alertname": format!("StreamTest{i}")},
        "commonLabels": {"alertname": format!("StreamTest{i}")},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": format!("StreamTest{i}"), "severity": "warning"},
            "annotations": {"summary": format!("stream alert {i}")},
            "startsAt": "2026-05-04T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": format!("{i:016x}")
        }]
    })
    .to_string()
}

async fn publish(js: &async_nats::jetstream::Context, body: String, kind: Option<&str>) {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(kind) = kind {
        headers.insert(aurora::streams::KIND_HEADER, kind);
    }
    js.publish_with_headers(SUBJECT, headers, body.into())
        .await
        .unwrap()
        .await
        .expect("the stream stored the message");
}

/// All incidents with their alerts, through the API.
async fn incidents_and_alerts(app: &TestApp, token: &str) -> (usize, Vec<Value>) {
    let list = get_json(app, token, "/api/v1/incidents?limit=200").await;
    let incidents = list["incidents"].as_array().unwrap();
    let mut alerts = Vec::new();
    for incident in incidents {
        let id = incident["id"].as_str().unwrap();
        let detail = get_json(app, token, &format!("/api/v1/incidents/{id}")).await;
        alerts.extend(detail["alerts"].as_array().unwrap().iter().cloned());
    }
    (incidents.len(), alerts)
}

#[tokio::test]
async fn alerts_published_to_nats_jetstream_arrive_once_across_a_restart_of_aurora() {
    let binary = match nats_server_from_env() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipping the NATS JetStream test: {why}");
            return;
        }
    };
    let nats = NatsServer::start(&binary).await;
    let data_dir = tempfile::tempdir().unwrap();

    // The first run only creates the admin and the source the stream's alerts belong to.
    let data = data_dir.path().to_owned();
    let app = spawn_app_with(|settings| settings.data_dir = data).await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let created: Value = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "alerts stream"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source: SourceId = created["id"].as_str().unwrap().parse().unwrap();
    let database_url = app.settings.database.url.clone();
    app.stop().await.unwrap();

    let nats_config = NatsConfig {
        url: nats.url().to_owned(),
        stream: STREAM.into(),
        subject: "aurora.alerts.>".into(),
        durable: "aurora-test".into(),
        source: source.to_string(),
    };
    let configure = |settings: &mut aurora::settings::Settings| {
        settings.data_dir = data_dir.path().to_owned();
        settings.database.url = database_url.clone();
        settings.streams.nats = Some(nats_config.clone());
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    // The publisher's side creates the stream (Aurora would create the same one if missing).
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["aurora.alerts.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();

    // Second run: it consumes the first half as it is published (half of them say their kind).
    let app = spawn_app_with(configure).await;
    let logs = || nats.log();
    let half = STREAM_ALERTS / 2;
    for i in 0..half {
        publish(&js, stream_alert(i), (i % 2 == 0).then_some("alertmanager")).await;
    }
    wait_for("the first half ingested", logs, || async {
        let (incidents, _) = incidents_and_alerts(&app, &token).await;
        (incidents == half).then_some(())
    })
    .await;
    app.stop().await.unwrap();

    // Published while Aurora is stopped, with two messages that can never be read among them:
    // one not JSON, one of a kind Aurora does not know.
    for i in half..STREAM_ALERTS {
        publish(&js, stream_alert(i), None).await;
        if i == half {
            publish(&js, "{not json".to_owned(), None).await;
            publish(&js, stream_alert(99), Some("no-such-kind")).await;
        }
    }

    // Third run: the durable consumer resumes where the second stopped.
    let app = spawn_app_with(configure).await;
    wait_for(
        "every alert ingested and every message settled",
        logs,
        || async {
            let (incidents, _) = incidents_and_alerts(&app, &token).await;
            let info = js
                .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                    "aurora-test",
                    STREAM,
                )
                .await
                .ok()?
                .cached_info()
                .clone();
            (incidents >= STREAM_ALERTS && info.num_pending == 0 && info.num_ack_pending == 0)
                .then_some(())
        },
    )
    .await;
    // Give a doubled delivery time to show itself before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (incidents, alerts) = incidents_and_alerts(&app, &token).await;
    assert_eq!(incidents, STREAM_ALERTS, "one incident per alert");
    assert_eq!(alerts.len(), STREAM_ALERTS, "nothing lost, nothing doubled");
    let mut names: Vec<&str> = alerts
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), STREAM_ALERTS, "{names:?}");
    assert!(
        alerts.iter().all(|a| a["repeat_count"] == 0),
        "no alert was delivered twice: {alerts:?}"
    );

    // The unreadable messages were recorded as rejected deliveries and are not redelivered.
    let org = admin.org_id;
    let deliveries = app.store.list_deliveries(org, source, 50).await.unwrap();
    let rejected: Vec<_> = deliveries
        .iter()
        .filter(|d| d.outcome == DeliveryOutcome::Rejected)
        .collect();
    let mut codes: Vec<_> = rejected
        .iter()
        .map(|d| d.error_code.as_deref().unwrap_or_default())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        ["malformed_json", "unsupported_kind"],
        "{deliveries:?}"
    );
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d.outcome == DeliveryOutcome::Accepted)
            .count(),
        STREAM_ALERTS
    );
    app.stop().await.unwrap();
}
