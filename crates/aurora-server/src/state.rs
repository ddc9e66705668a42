//! Shared state of every handler.

use std::num::NonZeroU32;
use std::sync::Arc;

use aurora_core::ports::Store;
use aurora_core::secrets::SecretStore;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::accounts::Accounts;
use crate::chat::Chat;
use crate::config::{AuthConfig, ServerConfig};
use crate::investigations::Investigations;
use crate::knowledge::Knowledge;
use crate::signals::Signals;

/// What `/metrics` and the UI footer say about this build.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    pub version: &'static str,
    pub commit: &'static str,
}

/// The configuration sections the handlers read.
#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
    accounts: Arc<Accounts>,
    signals: Arc<Signals>,
    investigations: Arc<Investigations>,
    knowledge: Arc<Knowledge>,
    chat: Arc<Chat>,
    config: Config,
    metrics: PrometheusHandle,
    build: BuildInfo,
    login_by_client: DefaultKeyedRateLimiter<String>,
    login_by_account: DefaultKeyedRateLimiter<String>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)] // one per service; built once, by the binary
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretStore>,
        accounts: Arc<Accounts>,
        signals: Arc<Signals>,
        investigations: Arc<Investigations>,
        knowledge: Arc<Knowledge>,
        chat: Arc<Chat>,
        config: Config,
        metrics: PrometheusHandle,
        build: BuildInfo,
    ) -> Self {
        let per_minute =
            NonZeroU32::new(config.auth.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute);
        Self(Arc::new(Inner {
            store,
            secrets,
            accounts,
            signals,
            investigations,
            knowledge,
            chat,
            config,
            metrics,
            build,
            login_by_client: RateLimiter::keyed(quota),
            login_by_account: RateLimiter::keyed(quota),
        }))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.0.secrets
    }

    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    pub fn signals(&self) -> &Signals {
        &self.0.signals
    }

    pub fn investigations(&self) -> &Investigations {
        &self.0.investigations
    }

    pub fn knowledge(&self) -> &Knowledge {
        &self.0.knowledge
    }

    pub fn chat(&self) -> &Chat {
        &self.0.chat
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn metrics(&self) -> &PrometheusHandle {
        &self.0.metrics
    }

    pub fn build(&self) -> &BuildInfo {
        &self.0.build
    }

    /// Whether another sign-in attempt from `client` for `account` is allowed now; if not, how
    /// many seconds to wait.
    pub fn check_login_rate(&self, client: &str, account: &str) -> Result<(), u64> {
        let clock = governor::clock::DefaultClock::default();
        for (limiter, key) in [
            (&self.0.login_by_client, client),
            (&self.0.login_by_account, account),
        ] {
            // Bounded keys: an attacker cannot grow the table with huge made-up e-mails.
            let key: String = key.chars().take(MAX_LIMIT_KEY_CHARS).collect();
            if let Err(not_until) = limiter.check_key(&key) {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&clock));
                return Err(wait.as_secs().max(1));
            }
        }
        Ok(())
    }

    /// Forgets rate-limit state of clients and accounts that have been quiet long enough to be
    /// back at full allowance, so the tables do not grow without bound. Run periodically.
    pub fn prune_rate_limits(&self) {
        self.0.login_by_client.retain_recent();
        self.0.login_by_account.retain_recent();
    }
}

const MAX_LIMIT_KEY_CHARS: usize = 256;
