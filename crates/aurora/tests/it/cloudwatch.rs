//! CloudWatch alarms through an SNS HTTPS subscription, end to end: basic credentials in the
//! subscription URL, SNS message signatures (signed here with the test key whose certificate the
//! testkit's stand-in for SNS serves), the subscription handshake, and alarms opening and
//! resolving incidents.

use aurora_signals::sns::SnsMessage;
use aurora_testkit::sns::TEST_SNS_SIGNING_KEY;
use aurora_testkit::{TestApp, spawn_app};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};

const ALARM: &str = include_str!("../../../aurora-signals/tests/fixtures/cloudwatch/alarm.json");
const OK: &str = include_str!("../../../aurora-signals/tests/fixtures/cloudwatch/ok.json");
const SUBSCRIPTION: &str = include_str!(
    "../../../aurora-signals/tests/fixtures/cloudwatch/subscription_confirmation.json"
);

/// The fixture `body` with `edit` applied, signed as SNS does (SignatureVersion 2).
fn signed(body: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut doc: Value = serde_json::from_str(body).unwrap();
    edit(&mut doc);
    doc["SignatureVersion"] = json!("2");
    let message = SnsMessage::parse(doc.to_string().as_bytes()).unwrap();
    let key = RsaPrivateKey::from_pkcs8_pem(TEST_SNS_SIGNING_KEY).unwrap();
    let signature = SigningKey::<sha2::Sha256>::new(key)
        .sign(message.string_to_sign().unwrap().as_bytes())
        .to_vec();
    doc["Signature"] = json!(STANDARD.encode(signature));
    doc
}

struct Source {
    id: String,
    secret: String,
}

async fn set_up() -> (TestApp, String, Source) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let response = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "cloudwatch", "name": "aws prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["authentication"]
            .as_str()
            .unwrap()
            .contains("https://aurora:<secret>@")
    );
    let source = Source {
        id: body["id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
    };
    (app, token, source)
}

/// Posts `body` as SNS does: `text/plain`, with the basic credentials of the subscription URL.
async fn deliver(
    app: &TestApp,
    source: &Source,
    password: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let request = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(body.to_owned());
    let request = match password {
        Some(password) => request.basic_auth("aurora", Some(password)),
        None => request,
    };
    request.send().await.unwrap()
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_verified_subscription_confirmation_requests_its_subscribe_url_once() {
    let (app, token, source) = set_up().await;
    let confirmation = signed(SUBSCRIPTION, |_| {});

    let response = deliver(
        &app,
        &source,
        Some(&source.secret),
        &confirmation.to_string(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["alerts"], 0);
    assert_eq!(
        app.sns.confirmations(),
        [confirmation["SubscribeURL"].as_str().unwrap()]
    );
    assert_eq!(
        app.sns.certificate_fetches(),
        [confirmation["SigningCertURL"].as_str().unwrap()]
    );

    // An unsubscribe confirmation is recorded and otherwise ignored.
    let unsubscribe = signed(SUBSCRIPTION, |doc| {
        doc["Type"] = json!("UnsubscribeConfirmation");
        doc["MessageId"] = json!("5b1f0b0c-6a1e-4c59-9d0a-0d6f0e2f1a77");
    });
    let response = deliver(
        &app,
        &source,
        Some(&source.secret),
        &unsubscribe.to_string(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.sns.confirmations().len(), 1);
    // The certificate came from the cache.
    assert_eq!(app.sns.certificate_fetches().len(), 1);

    let deliveries = get_json(
        &app,
        &token,
        &format!("/api/v1/sources/{}/deliveries", source.id),
    )
    .await;
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d["outcome"] == "accepted" && d["alert_count"] == 0),
        "{deliveries:?}"
    );
    let incidents = get_json(&app, &token, "/api/v1/incidents").await;
    assert!(incidents["incidents"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_alarm_opens_an_incident_and_ok_resolves_it() {
    let (app, token, source) = set_up().await;

    let response = deliver(
        &app,
        &source,
        Some(&source.secret),
        &signed(ALARM, |_| {}).to_string(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["alerts"], 1);
    let incident = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    let detail = get_json(&app, &token, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["status"], "open");
    assert_eq!(detail["severity"], "high");
    assert_eq!(detail["title"], "web-cpu-high");

    // SNS posts JSON as text/plain; application/json is accepted too.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{}", source.id)))
        .header("content-type", "application/json")
        .basic_auth("aurora", Some(&source.secret))
        .body(signed(OK, |_| {}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["resolved_incidents"][0], incident.as_str());
    let detail = get_json(&app, &token, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["status"], "resolved");
    // One certificate fetch for both messages.
    assert_eq!(app.sns.certificate_fetches().len(), 1);
}

#[tokio::test]
async fn unsigned_tampered_or_unauthenticated_messages_get_401_and_store_nothing() {
    let (app, token, source) = set_up().await;
    let secret = Some(source.secret.as_str());

    // A certificate URL off SNS is refused before anything is fetched.
    let elsewhere = signed(ALARM, |doc| {
        doc["SigningCertURL"] = json!("https://attacker.example/SimpleNotificationService-1.pem");
    });
    let (status, code) =
        error_of(deliver(&app, &source, secret, &elsewhere.to_string()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "untrusted_certificate_url")
    );
    assert!(app.sns.certificate_fetches().is_empty());

    // Without the source's credentials, nothing is fetched either, and SNS is asked for them.
    let good = signed(ALARM, |_| {});
    let response = deliver(&app, &source, None, &good.to_string()).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"aurora\""
    );
    let (status, code) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_signature")
    );
    let (status, code) =
        error_of(deliver(&app, &source, Some("wrong"), &good.to_string()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let confirmation = signed(SUBSCRIPTION, |_| {});
    let (status, _) = error_of(deliver(&app, &source, None, &confirmation.to_string()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(app.sns.certificate_fetches().is_empty());
    assert!(app.sns.confirmations().is_empty());

    // A body changed after signing.
    let mut tampered = good.clone();
    tampered["Message"] = json!(good["Message"].as_str().unwrap().replace("ALARM", "OK"));
    let (status, code) =
        error_of(deliver(&app, &source, secret, &tampered.to_string()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_signature")
    );

    // Another message's signature.
    let mut wrong = good.clone();
    wrong["Signature"] = signed(OK, |_| {})["Signature"].clone();
    let (status, code) = error_of(deliver(&app, &source, secret, &wrong.to_string()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_signature")
    );

    // A forged subscription confirmation is not confirmed.
    let mut forged = confirmation.clone();
    forged["SubscribeURL"] =
        json!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=forged");
    let (status, code) = error_of(deliver(&app, &source, secret, &forged.to_string()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_signature")
    );
    assert!(app.sns.confirmations().is_empty());

    let deliveries = get_json(
        &app,
        &token,
        &format!("/api/v1/sources/{}/deliveries", source.id),
    )
    .await;
    assert!(deliveries.as_array().unwrap().is_empty(), "{deliveries}");
    let incidents = get_json(&app, &token, "/api/v1/incidents").await;
    assert!(incidents["incidents"].as_array().unwrap().is_empty());
}
