//! The OpenAI-compatible embedder against a local server speaking the documented format.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_core::knowledge::{EmbedError, Embedder};
use aurora_knowledge::openai::{OpenAiEmbedder, OpenAiOptions};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::SecretString;
use serde_json::{Value, json};

/// The authorization header and body of each request.
type Requests = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[derive(Clone, Default)]
struct Seen {
    requests: Requests,
}

/// Answers like OpenAI: `data` in reverse order (clients must sort by `index`), vectors not
/// normalised, 3 dimensions: [len, 1, 0] for each input.
async fn embeddings(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    seen.requests
        .lock()
        .unwrap()
        .push((auth.clone(), body.clone()));
    if auth.as_deref() != Some("Bearer sk-test-secret") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": {"message": "Incorrect API key provided: sk-tes*****cret.",
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
            ),
        );
    }
    let inputs = body["input"].as_array().unwrap();
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let len = text.as_str().unwrap().len() as f32;
            json!({"object": "embedding", "index": i, "embedding": [len, 1.0, 0.0]})
        })
        .collect();
    data.reverse();
    (
        StatusCode::OK,
        Json(json!({
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": 8, "total_tokens": 8}
        })),
    )
}

async fn serve() -> (String, Seen) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1/"), seen)
}

fn options(base: &str, key: &str) -> OpenAiOptions {
    let mut options = OpenAiOptions::new(base, "text-embedding-3-small");
    options.api_key = Some(SecretString::from(key.to_string()));
    options.timeout = Duration::from_secs(5);
    options
}

#[tokio::test]
async fn embeds_in_order_normalised_and_learns_the_dimension() {
    let (base, seen) = serve().await;
    let embedder = OpenAiEmbedder::new(options(&base, "sk-test-secret")).unwrap();
    assert_eq!(embedder.url(), format!("{}embeddings", base));
    assert_eq!(embedder.dimension(), 0);
    assert_eq!(embedder.max_tokens(), 512);
    assert_eq!(embedder.model(), "text-embedding-3-small");

    let texts = vec!["abc".to_string(), String::new(), "abcdefg".into()];
    let v = embedder.embed(&texts).await.unwrap();
    assert_eq!(embedder.dimension(), 3);
    assert_eq!(v.len(), 3);
    for (v, len) in v.iter().zip([3.0f32, 1.0, 7.0]) {
        let n = (len * len + 1.0).sqrt();
        assert!((v[0] - len / n).abs() < 1e-6, "{v:?}");
        assert!((v[1] - 1.0 / n).abs() < 1e-6, "{v:?}");
        assert_eq!(v[2], 0.0);
    }

    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (auth, body) = &requests[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-secret"));
    assert_eq!(
        body,
        &json!({"model": "text-embedding-3-small", "input": ["abc", " ", "abcdefg"]})
    );
}

#[tokio::test]
async fn a_configured_dimension_is_checked() {
    let (base, _) = serve().await;
    let mut options = options(&base, "sk-test-secret");
    options.dimension = Some(1536);
    options.max_tokens = 8191;
    let embedder = OpenAiEmbedder::new(options).unwrap();
    assert_eq!(embedder.dimension(), 1536);
    assert_eq!(embedder.max_tokens(), 8191);
    let err = embedder.embed(&["x".to_string()]).await.unwrap_err();
    assert!(err.to_string().contains("1536"), "{err}");
}

#[tokio::test]
async fn probe_learns_the_dimension() {
    let (base, _) = serve().await;
    let embedder = OpenAiEmbedder::new(options(&base, "sk-test-secret")).unwrap();
    assert_eq!(embedder.probe().await.unwrap(), 3);
    assert_eq!(embedder.known_dimension(), Some(3));
}

#[tokio::test]
async fn a_rejected_key_is_reported_without_the_key() {
    let (base, _) = serve().await;
    let embedder = OpenAiEmbedder::new(options(&base, "sk-wrong-key-123")).unwrap();
    let err = embedder.embed(&["x".to_string()]).await.unwrap_err();
    assert!(matches!(err, EmbedError::Model(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("Incorrect API key"), "{text}");
    assert!(text.contains("API key"), "{text}");
    assert!(!text.contains("sk-wrong-key-123"), "{text}");
    assert!(!format!("{embedder:?}").contains("sk-wrong-key-123"));
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let embedder =
        OpenAiEmbedder::new(options(&format!("http://{addr}/v1"), "sk-test-secret")).unwrap();
    let err = embedder.embed(&["x".to_string()]).await.unwrap_err();
    assert!(matches!(err, EmbedError::Unavailable(_)), "{err:?}");
}

#[test]
fn bad_options_are_refused() {
    assert!(OpenAiEmbedder::new(OpenAiOptions::new("api.openai.com/v1", "m")).is_err());
    assert!(OpenAiEmbedder::new(OpenAiOptions::new("https://api.openai.com/v1", " ")).is_err());
}
