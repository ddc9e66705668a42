//! The HTTPS client behind [`SnsFetcher`]: fetches SNS signing certificates and confirms SNS
//! subscriptions. Every request is bounded: connect and total timeouts, a response size cap,
//! and redirects followed only on the same `https` host (at most [`MAX_REDIRECTS`]). The URLs
//! themselves were checked by the caller to be `https` on `sns.<region>.amazonaws.com`, which
//! keeps these requests from reaching anything else.

use std::time::Duration;

use async_trait::async_trait;
use aurora_server::sns::{FetchError, SnsFetcher};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// SNS certificates are about 2 KiB.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// The `ConfirmSubscriptionResponse` XML is under 1 KiB; it is read only to finish the request.
const MAX_CONFIRMATION_BYTES: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 3;

/// [`SnsFetcher`] over reqwest (rustls with ring, the web PKI roots).
pub struct HttpSnsFetcher {
    client: reqwest::Client,
}

impl HttpSnsFetcher {
    pub fn new() -> anyhow::Result<Self> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let same_host = attempt
                .previous()
                .first()
                .is_some_and(|first| first.host_str() == attempt.url().host_str());
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if same_host && attempt.url().scheme() == "https" {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(redirects)
            .https_only(true)
            .user_agent(concat!("aurora/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        let failed = |err: &dyn std::fmt::Display| FetchError(format!("GET {url}: {err}"));
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|err| failed(&err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(&format!("answered {status}")));
        }
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(failed(&format!("response larger than {limit} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| failed(&err))? {
            if body.len() + chunk.len() > limit {
                return Err(failed(&format!("response larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait]
impl SnsFetcher for HttpSnsFetcher {
    async fn fetch_certificate(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.get(url, MAX_CERTIFICATE_BYTES).await
    }

    async fn confirm_subscription(&self, url: &str) -> Result<(), FetchError> {
        self.get(url, MAX_CONFIRMATION_BYTES).await.map(drop)
    }
}
