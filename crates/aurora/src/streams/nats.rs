//! The NATS JetStream consumer: a durable pull consumer on one stream and subject filter. Each
//! message's payload is a webhook payload (its format in the [`KIND_HEADER`] header, else the
//! source's kind), attributed to the configured source. Messages are handled one at a time, in
//! order, and acknowledged (with the server's confirmation) only after the ingest committed;
//! unreadable ones are terminated (`AckKind::Term`), never redelivered; store failures are
//! NAKed with a delay. After a restart the durable consumer resumes where it stopped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use aurora_core::ids::SourceId;
use aurora_server::signals::Signals;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Disposition, KIND_HEADER, Shutdown, StreamConsumer, stopped};

/// How long the server waits for an acknowledgement before it redelivers a message.
const ACK_WAIT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `[streams.nats]`: consume alerts from a NATS JetStream stream.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL, e.g. `nats://nats.example:4222` (several: comma-separated).
    pub url: String,
    /// The JetStream stream. Created, capturing `subject`, if it does not exist.
    pub stream: String,
    /// The consumer's subject filter, e.g. `aurora.alerts.>`.
    pub subject: String,
    /// The durable consumer's name: where Aurora resumes after a restart. Processes sharing it
    /// share the work.
    pub durable: String,
    /// The id of the alert source the alerts are attributed to (create one with
    /// `POST /api/v1/sources`; its secret is not used by the stream).
    pub source: String,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "AURORA_ALERTS".into(),
            subject: "aurora.alerts.>".into(),
            durable: "aurora".into(),
            source: String::new(),
        }
    }
}

impl NatsConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.source.parse::<SourceId>().is_err() {
            problems.push(format!(
                "streams.nats.source: {:?} is not a source id; create a source (POST /api/v1/sources) and use its id",
                self.source
            ));
        }
        for (key, value) in [
            ("url", &self.url),
            ("stream", &self.stream),
            ("subject", &self.subject),
            ("durable", &self.durable),
        ] {
            if value.trim().is_empty() {
                problems.push(format!("streams.nats.{key}: must not be empty"));
            }
        }
        // NATS names may not contain these (stream and consumer names are subject tokens).
        for (key, value) in [("stream", &self.stream), ("durable", &self.durable)] {
            if value.contains(['.', '*', '>', ' ', '/', '\\']) {
                problems.push(format!(
                    "streams.nats.{key}: {value:?} must not contain '.', '*', '>', '/', '\\' or spaces"
                ));
            }
        }
        problems
    }
}

pub struct NatsConsumer {
    config: NatsConfig,
}

impl NatsConsumer {
    pub fn new(config: NatsConfig) -> Self {
        Self { config }
    }

    /// Connects and consumes until shutdown (`Ok`) or a failure (`Err`, to be retried).
    async fn session(
        &self,
        source: SourceId,
        signals: &Signals,
        shutdown: &mut Shutdown,
    ) -> anyhow::Result<()> {
        let config = &self.config;
        let client = async_nats::ConnectOptions::new()
            .name("aurora")
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(config.url.as_str())
            .await
            .with_context(|| format!("cannot connect to {}", config.url))?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![config.subject.clone()],
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot open the stream {}", config.stream))?;
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &config.durable,
                consumer::pull::Config {
                    durable_name: Some(config.durable.clone()),
                    filter_subject: config.subject.clone(),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("cannot open the durable consumer {}", config.durable))?;
        let mut messages = consumer.messages().await.context("cannot pull messages")?;
        tracing::info!(
            url = %config.url, stream = %config.stream, subject = %config.subject,
            durable = %config.durable, %source, "consuming alerts from NATS JetStream"
        );
        let outcome = loop {
            let next = tokio::select! {
                biased;
                () = stopped(shutdown) => break Ok(()),
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => handle(signals, source, &message).await,
                Some(Err(err)) => break Err(anyhow::Error::new(err).context("pulling messages")),
                None => break Err(anyhow::anyhow!("the message stream ended")),
            }
        };
        // Terminations and NAKs are plain publishes: send them before the connection goes.
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, client.flush()).await;
        outcome
    }
}

/// Ingests one message and settles it by its [`Disposition`].
async fn handle(signals: &Signals, source: SourceId, message: &jetstream::Message) {
    let kind = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(KIND_HEADER))
        .map(|value| value.as_str().to_owned());
    let result = signals
        .receive_from_stream(source, kind.as_deref(), &message.payload)
        .await;
    let disposition = Disposition::of(&result);
    match (&result, disposition) {
        (Ok(outcome), _) => tracing::debug!(
            subject = %message.subject, alerts = outcome.alerts, replayed = outcome.replayed,
            "stream message ingested"
        ),
        (Err(err), Disposition::Terminate) => tracing::warn!(
            subject = %message.subject, error = %err,
            "stream message cannot be read: recorded as a rejected delivery and not redelivered"
        ),
        (Err(err), _) => tracing::warn!(
            subject = %message.subject, error = %err, ?disposition,
            "stream message not stored now: it will be redelivered"
        ),
    }
    let settled = match disposition {
        // Confirmed by the server, so that a committed message is not redelivered needlessly;
        // if the confirmation is lost, the redelivery is recognised as a retry.
        Disposition::Ack => message.double_ack().await,
        Disposition::Terminate => message.ack_with(AckKind::Term).await,
        Disposition::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
    };
    if let Err(err) = settled {
        tracing::warn!(
            subject = %message.subject, error = %err, ?disposition,
            "could not settle a stream message; the server will redeliver it"
        );
    }
}

impl StreamConsumer for NatsConsumer {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn run(
        self: Box<Self>,
        signals: Arc<Signals>,
        mut shutdown: Shutdown,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let Ok(source) = self.config.source.parse::<SourceId>() else {
                // Settings validation refuses this; kept so that a bad id cannot panic.
                tracing::error!(source = %self.config.source, "streams.nats.source is not a source id");
                return;
            };
            let mut backoff = Duration::from_secs(1);
            loop {
                match self.session(source, &signals, &mut shutdown).await {
                    Ok(()) => return,
                    Err(err) => tracing::warn!(
                        error = format!("{err:#}"), retry_in = ?backoff,
                        "NATS stream consumer stopped; reconnecting"
                    ),
                }
                tokio::select! {
                    () = stopped(&mut shutdown) => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        })
    }
}
