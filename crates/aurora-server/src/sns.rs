//! Amazon SNS deliveries (CloudWatch alarms): checking a message's signature and confirming a
//! subscription, which both need HTTPS requests to SNS. Those requests go through one port,
//! [`SnsFetcher`], which the binary implements (tests use one that serves a fixture
//! certificate).
//!
//! Before anything is fetched, the URL must pass [`validate_signing_cert_url`] or
//! [`validate_subscribe_url`]: `https` on `sns.<region>.amazonaws.com(.cn)`, no port, no
//! credentials. That check is the guard against server-side request forgery: a delivery cannot
//! make Aurora request any other host. Certificates are cached by URL for
//! [`CERTIFICATE_TTL`], so a steady stream of alarms costs one fetch per certificate.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aurora_signals::sns::{
    SnsMessage, validate_signing_cert_url, validate_subscribe_url, verify_signature,
};
use aurora_signals::{AuthError, SnsConfirmation};
use moka::sync::Cache;

/// How long a fetched signing certificate is trusted before it is fetched again.
pub const CERTIFICATE_TTL: Duration = Duration::from_secs(3600);
/// How many certificates are kept (SNS uses one per region at a time).
const MAX_CACHED_CERTIFICATES: u64 = 64;

/// Why an outbound SNS request failed. The message names the URL and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// The outbound HTTPS requests SNS deliveries need. Implementations bound every request in
/// time and size and do not follow redirects to other hosts; callers pass only URLs that
/// passed [`validate_signing_cert_url`] or [`validate_subscribe_url`].
#[async_trait]
pub trait SnsFetcher: Send + Sync {
    /// `GET` the PEM signing certificate at `url`.
    async fn fetch_certificate(&self, url: &str) -> Result<Vec<u8>, FetchError>;
    /// `GET` the `SubscribeURL` of a subscription confirmation, which confirms it.
    async fn confirm_subscription(&self, url: &str) -> Result<(), FetchError>;
}

/// The fetcher of a [`crate::signals::Signals`] built without one: every request fails, so SNS
/// deliveries are refused (503) rather than trusted.
pub struct NoSnsFetcher;

#[async_trait]
impl SnsFetcher for NoSnsFetcher {
    async fn fetch_certificate(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError(format!(
            "cannot fetch {url}: this Aurora has no outbound HTTPS client configured"
        )))
    }

    async fn confirm_subscription(&self, url: &str) -> Result<(), FetchError> {
        Err(FetchError(format!(
            "cannot request {url}: this Aurora has no outbound HTTPS client configured"
        )))
    }
}

/// Why an SNS message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    /// The message is not signed by SNS (or names an untrusted URL): 401.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// SNS could not be reached to verify or confirm: worth a retry.
    #[error("Amazon SNS could not be reached: {0}")]
    Unavailable(#[from] FetchError),
}

/// Verifies SNS messages and confirms subscriptions, with a certificate cache.
pub struct Sns {
    fetcher: Arc<dyn SnsFetcher>,
    certificates: Cache<String, Arc<Vec<u8>>>,
}

impl Sns {
    pub fn new(fetcher: Arc<dyn SnsFetcher>) -> Self {
        Self {
            fetcher,
            certificates: Cache::builder()
                .max_capacity(MAX_CACHED_CERTIFICATES)
                .time_to_live(CERTIFICATE_TTL)
                .build(),
        }
    }

    /// Checks the message's signature against the certificate at its `SigningCertURL`, which
    /// must be an SNS URL; nothing is fetched otherwise.
    pub async fn verify(&self, message: &SnsMessage) -> Result<(), SnsError> {
        let url = message.signing_cert_url.as_str();
        validate_signing_cert_url(url)?;
        let certificate = match self.certificates.get(url) {
            Some(certificate) => certificate,
            None => {
                let fetched = Arc::new(self.fetcher.fetch_certificate(url).await?);
                let verified = verify_signature(message, &fetched);
                // A certificate that cannot be read is not kept: the next message fetches again.
                if !matches!(verified, Err(AuthError::InvalidCertificate(_))) {
                    self.certificates.insert(url.to_owned(), fetched);
                }
                return Ok(verified?);
            }
        };
        Ok(verify_signature(message, &certificate)?)
    }

    /// Confirms a (verified) subscription by requesting its `SubscribeURL`, which must be an
    /// SNS URL; nothing is requested otherwise.
    pub async fn confirm(&self, confirmation: &SnsConfirmation) -> Result<(), SnsError> {
        validate_subscribe_url(&confirmation.subscribe_url)?;
        self.fetcher
            .confirm_subscription(&confirmation.subscribe_url)
            .await?;
        tracing::info!(topic = %confirmation.topic_arn, "SNS subscription confirmed");
        Ok(())
    }
}
