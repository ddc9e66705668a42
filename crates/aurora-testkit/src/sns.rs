//! A stand-in for Amazon SNS: serves the test signing certificate
//! (`crates/aurora-signals/tests/fixtures/sns/test-signing-cert.pem`) for any certificate URL and
//! records every request, so tests can sign SNS messages with the matching key and check what
//! Aurora fetched.

use std::sync::Mutex;

use async_trait::async_trait;
use aurora_server::sns::{FetchError, SnsFetcher};

/// The certificate [`TestSnsFetcher`] serves.
pub const TEST_SNS_CERTIFICATE: &str =
    include_str!("../../aurora-signals/tests/fixtures/sns/test-signing-cert.pem");
/// The private key of [`TEST_SNS_CERTIFICATE`], to sign test messages with.
pub const TEST_SNS_SIGNING_KEY: &str =
    include_str!("../../aurora-signals/tests/fixtures/sns/test-signing-key.pem");

#[derive(Default)]
pub struct TestSnsFetcher {
    certificates: Mutex<Vec<String>>,
    confirmations: Mutex<Vec<String>>,
}

impl TestSnsFetcher {
    /// The certificate URLs fetched so far, in order.
    pub fn certificate_fetches(&self) -> Vec<String> {
        self.certificates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The `SubscribeURL`s requested so far, in order.
    pub fn confirmations(&self) -> Vec<String> {
        self.confirmations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait]
impl SnsFetcher for TestSnsFetcher {
    async fn fetch_certificate(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.certificates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(url.to_owned());
        Ok(TEST_SNS_CERTIFICATE.as_bytes().to_vec())
    }

    async fn confirm_subscription(&self, url: &str) -> Result<(), FetchError> {
        self.confirmations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(url.to_owned());
        Ok(())
    }
}
