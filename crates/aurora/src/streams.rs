//! Event streams as alert sources: consumers that read the same payloads webhooks carry from a
//! message broker and hand each message to the signals service, which parses and ingests it
//! exactly as it does a webhook delivery.
//!
//! Every consumer keeps one rule: a message is acknowledged only after its ingest committed.
//! [`Disposition::of`] decides, from the ingest's result, whether to acknowledge it, to end its
//! redelivery (it can never be read; the signals service recorded it as a rejected delivery), or
//! to have it redelivered later (the store could not commit it now). A redelivery of a message
//! that was committed but whose acknowledgement was lost is a retry within
//! `signals.idempotency_window` and stores nothing twice.
//!
//! [`nats`] is the NATS JetStream consumer. A Kafka consumer would be another
//! [`StreamConsumer`]: it would commit offsets where this one acknowledges, and send terminated
//! messages to a dead-letter topic.

pub mod nats;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::source::IngestOutcome;
use aurora_server::signals::{SignalError, Signals};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The header (NATS) or record header (Kafka) naming the payload's format: `alertmanager`,
/// `grafana`, `datadog`, `pagerduty`, `opsgenie` or `generic`. Without it a message is read as
/// its source's kind.
pub const KIND_HEADER: &str = "Aurora-Kind";

/// How long a message waits before redelivery when the store could not commit it.
pub const RETRY_DELAY: Duration = Duration::from_secs(5);
/// How long a message waits before redelivery when its configured source does not exist: a
/// configuration mistake to fix, not a reason to drop alerts.
pub const MISCONFIGURED_DELAY: Duration = Duration::from_secs(60);

/// `[streams]`: event streams Aurora consumes alerts from. None by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// `[streams.nats]`: a NATS JetStream durable pull consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<nats::NatsConfig>,
}

impl StreamsConfig {
    /// One line per problem, for settings validation.
    pub fn problems(&self) -> Vec<String> {
        self.nats
            .as_ref()
            .map(nats::NatsConfig::problems)
            .unwrap_or_default()
    }

    /// The consumers these settings configure.
    pub fn consumers(&self) -> Vec<Box<dyn StreamConsumer>> {
        let mut consumers: Vec<Box<dyn StreamConsumer>> = Vec::new();
        if let Some(config) = &self.nats {
            consumers.push(Box::new(nats::NatsConsumer::new(config.clone())));
        }
        consumers
    }
}

/// Starts the configured consumers, each on a task of its own.
pub fn spawn(
    config: &StreamsConfig,
    signals: &Arc<Signals>,
    shutdown: &Shutdown,
) -> Vec<tokio::task::JoinHandle<()>> {
    config
        .consumers()
        .into_iter()
        .map(|consumer| {
            tracing::debug!(consumer = consumer.name(), "starting a stream consumer");
            tokio::spawn(consumer.run(signals.clone(), shutdown.clone()))
        })
        .collect()
}

/// Waits up to `grace` for the consumers to settle the messages in hand and stop, then aborts
/// the rest (an unsettled message is redelivered).
pub async fn join(tasks: Vec<tokio::task::JoinHandle<()>>, grace: Duration) {
    let aborts: Vec<_> = tasks.iter().map(|task| task.abort_handle()).collect();
    if tokio::time::timeout(grace, futures::future::join_all(tasks))
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "stream consumers still busy after the shutdown grace period; stopping anyway"
        );
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

/// Becomes `true` when Aurora shuts down.
pub type Shutdown = watch::Receiver<bool>;

/// Completes once shutdown was requested (or whoever could request it is gone).
pub async fn stopped(shutdown: &mut Shutdown) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

/// One consumer of one stream. `run` connects (again, with backoff, after any failure), hands
/// each message to [`Signals::receive_from_stream`], settles it by its [`Disposition`], and
/// returns after shutdown once the message in hand is settled.
pub trait StreamConsumer: Send + 'static {
    /// For logs: `nats`, `kafka`.
    fn name(&self) -> &'static str;

    fn run(
        self: Box<Self>,
        signals: Arc<Signals>,
        shutdown: Shutdown,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// What a consumer does with a message once Aurora tried to ingest it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Committed, or a retry of a delivery already committed: acknowledge.
    Ack,
    /// It can never be ingested and was recorded as a rejected delivery: stop redelivering it.
    Terminate,
    /// Not committed now: redeliver it after this delay.
    Retry(Duration),
}

impl Disposition {
    pub fn of(result: &Result<IngestOutcome, SignalError>) -> Self {
        match result {
            Ok(_) => Disposition::Ack,
            Err(
                SignalError::Parse(_)
                | SignalError::Invalid(_)
                | SignalError::NotImplemented(_)
                | SignalError::UnsupportedMediaType(_)
                | SignalError::Auth(_)
                | SignalError::Challenge(_),
            ) => Disposition::Terminate,
            Err(SignalError::UnknownSource | SignalError::Store(StoreError::NotFound(_))) => {
                Disposition::Retry(MISCONFIGURED_DELAY)
            }
            Err(SignalError::Store(_) | SignalError::Secret(_) | SignalError::Unavailable(_)) => {
                Disposition::Retry(RETRY_DELAY)
            }
        }
    }
}

#[cfg(test)]
mod tests;
