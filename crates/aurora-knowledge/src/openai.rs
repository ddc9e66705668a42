//! An OpenAI-compatible embeddings endpoint (`POST {base_url}/embeddings`): OpenAI itself,
//! Azure-style gateways, Ollama, vLLM, LocalAI, text-embeddings-inference…

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aurora_core::knowledge::{EmbedError, Embedder};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::embed::normalize;

/// The input length assumed when none is configured (OpenAI's models read 8191 tokens; most
/// self-hosted ones at least 512).
pub const DEFAULT_MAX_TOKENS: usize = 512;
/// How long one request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Texts sent in one request (OpenAI accepts up to 2048).
pub const REQUEST_BATCH: usize = 256;

/// How to reach the endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiOptions {
    /// Up to and including the API version, e.g. `https://api.openai.com/v1`; `/embeddings` is
    /// appended.
    pub base_url: String,
    /// The model's name, sent with every request and recorded with every vector.
    pub model: String,
    /// Sent as a bearer token; never logged nor put in errors.
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
    /// The vector length; learned from the first response when `None`.
    pub dimension: Option<usize>,
    /// The longest input in the model's tokens; chunks are sized to it.
    pub max_tokens: usize,
}

impl OpenAiOptions {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiOptions {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            dimension: None,
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// Embeddings from an OpenAI-compatible service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OpenAiEmbedder {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<SecretString>,
    max_tokens: usize,
    /// 0 until configured or learned.
    dimension: Arc<AtomicUsize>,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [&'a str],
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

impl OpenAiEmbedder {
    pub fn new(options: OpenAiOptions) -> Result<Self, EmbedError> {
        let base = options.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(EmbedError::Model(format!(
                "the embeddings base URL {base:?} must start with http:// or https://"
            )));
        }
        if options.model.trim().is_empty() {
            return Err(EmbedError::Model(
                "no embedding model name is configured".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| EmbedError::Model(format!("building the HTTP client: {e}")))?;
        Ok(OpenAiEmbedder {
            client,
            url: format!("{base}/embeddings"),
            model: options.model,
            api_key: options.api_key,
            max_tokens: options.max_tokens,
            dimension: Arc::new(AtomicUsize::new(options.dimension.unwrap_or(0))),
        })
    }

    /// The endpoint requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The vector length, once configured or learned from a response.
    pub fn known_dimension(&self) -> Option<usize> {
        match self.dimension.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Embeds a short text to learn (or check) the vector length and that the service answers.
    pub async fn probe(&self) -> Result<usize, EmbedError> {
        let v = self.request(&["dimension probe"]).await?;
        v.first()
            .map(Vec::len)
            .ok_or_else(|| EmbedError::Model("the embedding service returned no vector".into()))
    }

    async fn request(&self, input: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut request = self.client.post(&self.url).json(&Request {
            model: &self.model,
            input,
        });
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| {
            EmbedError::Unavailable(format!("POST {}: {}", self.url, e.without_url()))
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            EmbedError::Unavailable(format!(
                "reading the response of {}: {}",
                self.url,
                e.without_url()
            ))
        })?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            let detail: String = detail.chars().take(300).collect();
            let message = format!("{} answered HTTP {status}: {detail}", self.url);
            return Err(match status.as_u16() {
                401 | 403 => {
                    EmbedError::Model(format!("{message} (check the embedding service's API key)"))
                }
                408 | 429 => EmbedError::Unavailable(message),
                s if s >= 500 => EmbedError::Unavailable(message),
                _ => EmbedError::Model(message),
            });
        }
        let parsed: Response = serde_json::from_slice(&body).map_err(|e| {
            EmbedError::Model(format!(
                "{} did not answer in the OpenAI embeddings format: {e}",
                self.url
            ))
        })?;
        if parsed.data.len() != input.len() {
            return Err(EmbedError::Model(format!(
                "{} returned {} vectors for {} inputs",
                self.url,
                parsed.data.len(),
                input.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; input.len()];
        for datum in parsed.data {
            let slot = out.get_mut(datum.index).ok_or_else(|| {
                EmbedError::Model(format!(
                    "{} returned a vector for input {} of {}",
                    self.url,
                    datum.index,
                    input.len()
                ))
            })?;
            *slot = Some(datum.embedding);
        }
        let mut vectors = Vec::with_capacity(out.len());
        for (i, v) in out.into_iter().enumerate() {
            let mut v = v.ok_or_else(|| {
                EmbedError::Model(format!("{} returned no vector for input {i}", self.url))
            })?;
            self.check_dimension(v.len())?;
            normalize(&mut v);
            vectors.push(v);
        }
        Ok(vectors)
    }

    fn check_dimension(&self, len: usize) -> Result<(), EmbedError> {
        if len == 0 {
            return Err(EmbedError::Model(format!(
                "{} returned an empty vector",
                self.url
            )));
        }
        match self
            .dimension
            .compare_exchange(0, len, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(known) if known == len => Ok(()),
            Err(known) => Err(EmbedError::Model(format!(
                "{} returned vectors of length {len}, but the model's dimension is {known}",
                self.url
            ))),
        }
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    /// 0 until configured or learned from the first response (see [`OpenAiEmbedder::probe`]).
    fn dimension(&self) -> usize {
        self.dimension.load(Ordering::Relaxed)
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(REQUEST_BATCH) {
            // OpenAI rejects empty strings; a blank embeds the same as nothing for our purposes.
            let input: Vec<&str> = batch
                .iter()
                .map(|t| if t.is_empty() { " " } else { t.as_str() })
                .collect();
            out.extend(self.request(&input).await?);
        }
        Ok(out)
    }
}
