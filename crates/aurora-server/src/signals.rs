//! Alert sources and webhook deliveries as a service: creating sources with a random secret
//! (kept in the secret store, shown once), rotating it with a grace period, and receiving a
//! delivery: authenticate it by the scheme of its source's kind, parse it with
//! `aurora-signals`, and ingest it in one transaction before anything is answered. Incident
//! reads and changes go through here too, so that every committed change is published on the
//! [`EventBus`] for live views.
//!
//! | kind | authentication |
//! |---|---|
//! | `alertmanager`, `grafana`, `datadog` | `Authorization: Bearer <secret>`, or basic auth with user [`BASIC_AUTH_USER`] and the secret as password |
//! | `opsgenie` | `Authorization: Bearer <secret>` (a custom header of the integration) |
//! | `pagerduty` | `X-PagerDuty-Signature` (the secret is the subscription's signing secret) |
//! | `generic` | `X-Aurora-Signature: sha256=<hex HMAC-SHA256 of the body>` |
//! | `cloudwatch` | basic auth with user [`BASIC_AUTH_USER`] and the secret, put in the SNS subscription URL (`https://aurora:<secret>@host/…`), then the SNS message signature ([`crate::sns`]) |
//!
//! SNS sends the credentials of the subscription URL only after a `401` that carries a
//! `WWW-Authenticate` challenge, so a CloudWatch source answers missing or wrong credentials
//! with one ([`SignalError::Challenge`]). The basic credentials come first so that a stranger
//! cannot make Aurora fetch certificates; a verified `SubscriptionConfirmation` is confirmed by
//! requesting its `SubscribeURL` and recorded as a delivery without alerts, as is an
//! `UnsubscribeConfirmation` (ignored).

use std::sync::Arc;

use aurora_core::alert::SourceKind;
use aurora_core::credentials;
use aurora_core::events::{DomainEvent, EventBus, EventSubscription};
use aurora_core::ids::{IncidentId, OrgId, SourceId};
use aurora_core::incident::{
    Actor, Incident, IncidentChange, IncidentDetail, IncidentEvent, IncidentFilter, IncidentPage,
};
use aurora_core::ports::Store;
use aurora_core::secrets::{SecretRef, SecretStore};
use aurora_core::source::{
    AlertSource, DeliveryMeta, DeliveryRecord, IngestOutcome, IngestRules, NewAlertSource,
    SourceOptions,
};
use aurora_core::{SecretError, StoreError};
use aurora_signals::sns::SnsMessage;
use aurora_signals::{AuthError, Delivery, ParseError, ParseOptions, auth};
use moka::sync::Cache;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::SignalsConfig;
use crate::sns::{NoSnsFetcher, Sns, SnsError, SnsFetcher};

/// The user name of basic authentication for the kinds that accept it.
pub const BASIC_AUTH_USER: &str = "aurora";
/// Where a source's deliveries go; followed by the source id.
pub const WEBHOOK_PATH_PREFIX: &str = "/api/v1/webhooks/";
const MAX_NAME_LEN: usize = 200;
const MAX_LABEL_NAME_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("{0}")]
    Invalid(String),
    #[error("no alert source has this webhook URL: copy the URL shown when the source was created")]
    UnknownSource,
    #[error(
        "{0} payloads cannot come from an event stream: SNS messages are verified over HTTPS; subscribe the source's webhook URL to the SNS topic"
    )]
    NotImplemented(SourceKind),
    #[error("send the delivery as JSON (`Content-Type: application/json`), not {0:?}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Missing or wrong basic credentials where the sender (SNS) needs a `WWW-Authenticate`
    /// challenge before it sends them.
    #[error("{0}: put `{BASIC_AUTH_USER}:<secret>@` in the subscription URL")]
    Challenge(AuthError),
    /// A peer Aurora depends on (Amazon SNS) could not be reached: worth a retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secret store: {0}")]
    Secret(#[from] SecretError),
}

/// A newly created or rotated secret, to show once.
pub struct IssuedSecret {
    pub source: AlertSource,
    pub secret: SecretString,
}

pub struct Signals {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
    events: Arc<dyn EventBus>,
    config: SignalsConfig,
    sns: Sns,
    /// Sources by id for the webhook path, which reads one per delivery. Rotating a secret here
    /// forgets its entry; another process sees a rotation within [`SOURCE_CACHE_TTL`], during
    /// which the previous secret stays valid anyway (`signals.rotation_grace`).
    sources: Cache<SourceId, AlertSource>,
}

/// How long a source read for a delivery is reused.
pub const SOURCE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
const SOURCE_CACHE_CAPACITY: u64 = 10_000;

/// Most deliveries [`Signals::list_deliveries`] returns.
pub const MAX_DELIVERIES: u32 = 100;

impl Signals {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretStore>,
        events: Arc<dyn EventBus>,
        config: SignalsConfig,
    ) -> Self {
        Self {
            store,
            secrets,
            events,
            config,
            sns: Sns::new(Arc::new(NoSnsFetcher)),
            sources: Cache::builder()
                .max_capacity(SOURCE_CACHE_CAPACITY)
                .time_to_live(SOURCE_CACHE_TTL)
                .build(),
        }
    }

    /// Uses `fetcher` for the HTTPS requests to Amazon SNS (certificates, confirmations).
    /// Without one, CloudWatch deliveries are answered `503`.
    pub fn with_sns_fetcher(mut self, fetcher: Arc<dyn SnsFetcher>) -> Self {
        self.sns = Sns::new(fetcher);
        self
    }

    /// The organisation's live events (see [`DomainEvent`]).
    pub fn subscribe(&self, org: OrgId) -> Box<dyn EventSubscription> {
        self.events.subscribe(org)
    }

    /// Largest webhook delivery accepted, in bytes (`signals.max_delivery_bytes`).
    pub fn max_delivery_bytes(&self) -> usize {
        self.config.max_delivery_bytes
    }

    /// Longest time a webhook delivery may take (`signals.delivery_timeout`).
    pub fn delivery_timeout(&self) -> std::time::Duration {
        self.config.delivery_timeout
    }

    fn rules(&self) -> IngestRules {
        IngestRules {
            grouping_window: self.config.grouping_window,
            auto_resolve: self.config.auto_resolve,
            idempotency_window: self.config.idempotency_window,
        }
    }

    /// Creates a source with a fresh random secret, returned once.
    pub async fn create_source(
        &self,
        org: OrgId,
        kind: SourceKind,
        name: &str,
        options: SourceOptions,
    ) -> Result<IssuedSecret, SignalError> {
        let name = validate_name(name)?;
        validate_options(&options)?;
        let id = SourceId::new();
        let (secret_ref, secret) = self.new_secret(org, id).await?;
        let created = self
            .store
            .create_source(
                org,
                NewAlertSource {
                    id,
                    kind,
                    name,
                    secret: secret_ref.clone(),
                    options,
                },
            )
            .await;
        match created {
            Ok(source) => Ok(IssuedSecret { source, secret }),
            Err(err) => {
                self.forget(org, &secret_ref).await;
                Err(err.into())
            }
        }
    }

    pub async fn list_sources(&self, org: OrgId) -> Result<Vec<AlertSource>, SignalError> {
        Ok(self.store.list_sources(org).await?)
    }

    /// Gives the source a new secret, returned once; the previous one keeps working for
    /// `signals.rotation_grace`.
    pub async fn rotate_secret(
        &self,
        org: OrgId,
        id: SourceId,
    ) -> Result<IssuedSecret, SignalError> {
        let (secret_ref, secret) = self.new_secret(org, id).await?;
        let grace_ends = OffsetDateTime::now_utc() + self.config.rotation_grace;
        match self
            .store
            .rotate_source_secret(org, id, secret_ref.clone(), grace_ends)
            .await
        {
            Ok((source, dropped)) => {
                self.sources.invalidate(&id);
                if let Some(dropped) = dropped {
                    self.forget(org, &dropped).await;
                }
                Ok(IssuedSecret { source, secret })
            }
            Err(err) => {
                self.forget(org, &secret_ref).await;
                Err(err.into())
            }
        }
    }

    async fn new_secret(
        &self,
        org: OrgId,
        id: SourceId,
    ) -> Result<(SecretRef, SecretString), SignalError> {
        let name = format!("sources/{id}/{}", uuid::Uuid::now_v7());
        let value = credentials::random_token();
        let secret_ref = self
            .secrets
            .put(org, &name, SecretString::from(value.clone()))
            .await?;
        Ok((secret_ref, SecretString::from(value)))
    }

    /// Deletes a secret no longer referenced; a failure leaves an orphan, which is logged.
    async fn forget(&self, org: OrgId, secret: &SecretRef) {
        if let Err(err) = self.secrets.delete(org, secret).await {
            tracing::warn!(error = %err, %secret, "could not delete an unused source secret");
        }
    }

    /// Authenticates, parses and stores one webhook delivery. Nothing is stored unless it
    /// authenticates; a delivery that authenticates but cannot be read is recorded as rejected
    /// (without its body). The outcome is returned after the transaction committed.
    pub async fn receive(
        &self,
        source_id: &str,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<IngestOutcome, SignalError> {
        let id: SourceId = source_id.parse().map_err(|_| SignalError::UnknownSource)?;
        let source = self.find_source(id).await?;
        let now = OffsetDateTime::now_utc();
        let secrets = self.valid_secrets(&source, now).await?;
        if source.kind == SourceKind::Cloudwatch {
            return self
                .receive_sns(&source, headers, content_type, body, &secrets, now)
                .await;
        }
        authenticate(source.kind, headers, body, &secrets)?;
        if let Some(content_type) = content_type.filter(|ct| !is_json(ct)) {
            return Err(SignalError::UnsupportedMediaType(content_type.to_owned()));
        }
        self.parse_and_ingest(&source, source.kind, body, now).await
    }

    /// An SNS delivery: basic credentials, then the message signature, before anything is
    /// stored. A body that is not an SNS message is refused without being recorded: until its
    /// signature is checked, nothing says it came from SNS.
    async fn receive_sns(
        &self,
        source: &AlertSource,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
        secrets: &[SecretString],
        now: OffsetDateTime,
    ) -> Result<IngestOutcome, SignalError> {
        auth::verify_basic(headers, BASIC_AUTH_USER, secrets).map_err(SignalError::Challenge)?;
        // SNS posts its JSON as `text/plain; charset=UTF-8`.
        if let Some(content_type) = content_type.filter(|ct| !is_json(ct) && !is_text(ct)) {
            return Err(SignalError::UnsupportedMediaType(content_type.to_owned()));
        }
        let message = SnsMessage::parse(body)?;
        self.sns.verify(&message).await?;
        self.parse_and_ingest(source, SourceKind::Cloudwatch, body, now)
            .await
    }

    /// Parses and stores one message of an event stream (see `aurora::streams`), attributed to
    /// `source_id`. The stream's connection is what is trusted: messages carry no per-message
    /// secret. `kind` names the payload's format (a message header); without it the source's
    /// own kind is assumed. A message that cannot be read, or names a kind Aurora cannot read
    /// from a stream, is recorded as a rejected delivery. The outcome is returned after the
    /// transaction committed.
    pub async fn receive_from_stream(
        &self,
        source_id: SourceId,
        kind: Option<&str>,
        body: &[u8],
    ) -> Result<IngestOutcome, SignalError> {
        let source = self.find_source(source_id).await?;
        let now = OffsetDateTime::now_utc();
        let kind = match kind
            .map(str::parse::<SourceKind>)
            .unwrap_or(Ok(source.kind))
        {
            // CloudWatch payloads need SNS signature checks, which a stream does not carry.
            Ok(SourceKind::Cloudwatch) => Err((
                "not_implemented",
                SignalError::NotImplemented(SourceKind::Cloudwatch),
            )),
            Ok(kind) => Ok(kind),
            Err(err) => Err(("unsupported_kind", SignalError::Invalid(err.to_string()))),
        };
        match kind {
            Ok(kind) => self.parse_and_ingest(&source, kind, body, now).await,
            Err((code, err)) => {
                self.record_rejected(&source, &delivery_meta(body, now), code)
                    .await;
                Err(err)
            }
        }
    }

    async fn record_rejected(&self, source: &AlertSource, delivery: &DeliveryMeta, code: &str) {
        if let Err(store_err) = self
            .store
            .record_rejected_delivery(source.org_id, source.id, delivery, code)
            .await
        {
            tracing::warn!(error = %store_err, "could not record a rejected delivery");
        }
    }

    /// Parses an authenticated delivery as `kind` and ingests it in one transaction; a delivery
    /// that cannot be read is recorded as rejected (without its body).
    async fn parse_and_ingest(
        &self,
        source: &AlertSource,
        kind: SourceKind,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<IngestOutcome, SignalError> {
        let delivery = delivery_meta(body, now);
        let options = ParseOptions::new(now)
            .with_fingerprint_labels(source.options.fingerprint_labels.iter().cloned());
        let alerts = match aurora_signals::parse(kind, body, &options) {
            Ok(Delivery::Alerts(alerts)) => alerts,
            Ok(Delivery::Ignored { reason }) => {
                tracing::debug!(source = %source.id, %reason, "delivery carries no alert state");
                Vec::new()
            }
            // Only CloudWatch (SNS) webhook deliveries carry a subscription handshake, and only
            // once their signature is verified. Recorded as a delivery without alerts.
            Ok(Delivery::SnsSubscriptionConfirmation(confirmation)) => {
                self.sns.confirm(&confirmation).await?;
                Vec::new()
            }
            Err(err) => {
                self.record_rejected(source, &delivery, err.code()).await;
                return Err(err.into());
            }
        };
        let outcome = self
            .store
            .ingest(source.org_id, source.id, &alerts, &delivery, &self.rules())
            .await?;
        self.publish_outcome(source.org_id, source.id, &outcome)
            .await;
        Ok(outcome)
    }

    /// Tells live views what a committed delivery changed. Incidents that alerts joined are not
    /// in the outcome: `alert_received` stands for them.
    async fn publish_outcome(&self, org: OrgId, source: SourceId, outcome: &IngestOutcome) {
        if outcome.replayed || outcome.alerts == 0 {
            return;
        }
        for &incident in &outcome.new_incidents {
            self.events
                .publish(org, DomainEvent::IncidentOpened { incident })
                .await;
        }
        for &incident in &outcome.resolved_incidents {
            self.events
                .publish(org, DomainEvent::IncidentUpdated { incident })
                .await;
        }
        self.events
            .publish(
                org,
                DomainEvent::AlertReceived {
                    source,
                    delivery: outcome.delivery_id,
                },
            )
            .await;
    }

    /// The source's most recent deliveries (at most [`MAX_DELIVERIES`]), newest first.
    pub async fn list_deliveries(
        &self,
        org: OrgId,
        source: SourceId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, SignalError> {
        // Fails with NotFound for another organisation's source.
        self.store.get_source(org, source).await?;
        Ok(self
            .store
            .list_deliveries(org, source, limit.clamp(1, MAX_DELIVERIES))
            .await?)
    }

    pub async fn list_incidents(
        &self,
        org: OrgId,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        self.store.list_incidents(org, filter).await
    }

    pub async fn get_incident(
        &self,
        org: OrgId,
        id: IncidentId,
    ) -> Result<IncidentDetail, StoreError> {
        self.store.get_incident(org, id).await
    }

    /// Applies a person's change and publishes `incident_updated`.
    pub async fn update_incident(
        &self,
        org: OrgId,
        id: IncidentId,
        actor: Actor,
        change: &IncidentChange,
    ) -> Result<Incident, StoreError> {
        let incident = self
            .store
            .update_incident(org, id, actor, change, OffsetDateTime::now_utc())
            .await?;
        self.events
            .publish(org, DomainEvent::IncidentUpdated { incident: id })
            .await;
        Ok(incident)
    }

    /// Adds a comment to the timeline and publishes `incident_updated`.
    pub async fn add_comment(
        &self,
        org: OrgId,
        id: IncidentId,
        actor: Actor,
        text: &str,
    ) -> Result<IncidentEvent, StoreError> {
        let event = self
            .store
            .add_comment(org, id, actor, text, OffsetDateTime::now_utc())
            .await?;
        self.events
            .publish(org, DomainEvent::IncidentUpdated { incident: id })
            .await;
        Ok(event)
    }

    /// Merges incident `from` into `into` (see [`SignalStore::merge_incidents`]) and publishes
    /// `incident_updated` for both.
    ///
    /// [`SignalStore::merge_incidents`]: aurora_core::ports::SignalStore::merge_incidents
    pub async fn merge_incidents(
        &self,
        org: OrgId,
        from: IncidentId,
        into: IncidentId,
        actor: Actor,
    ) -> Result<(Incident, Incident), StoreError> {
        let merged = self
            .store
            .merge_incidents(org, from, into, actor, OffsetDateTime::now_utc())
            .await?;
        for incident in [from, into] {
            self.events
                .publish(org, DomainEvent::IncidentUpdated { incident })
                .await;
        }
        Ok(merged)
    }

    /// The source a delivery names, read at most once per [`SOURCE_CACHE_TTL`].
    async fn find_source(&self, id: SourceId) -> Result<AlertSource, SignalError> {
        if let Some(source) = self.sources.get(&id) {
            return Ok(source);
        }
        let source = self
            .store
            .find_source(id)
            .await?
            .ok_or(SignalError::UnknownSource)?;
        self.sources.insert(id, source.clone());
        Ok(source)
    }

    /// The current secret and, during its grace period, the previous one.
    async fn valid_secrets(
        &self,
        source: &AlertSource,
        now: OffsetDateTime,
    ) -> Result<Vec<SecretString>, SignalError> {
        let mut values = Vec::with_capacity(2);
        for secret in source.valid_secrets(now) {
            match self.secrets.get(source.org_id, secret).await {
                Ok(value) => values.push(value),
                // A missing previous secret only shortens its grace period.
                Err(SecretError::NotFound(_)) if *secret != source.secret => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(values)
    }
}

fn delivery_meta(body: &[u8], now: OffsetDateTime) -> DeliveryMeta {
    DeliveryMeta {
        received_at: now,
        body_sha256: hex::encode(Sha256::digest(body)),
    }
}

fn authenticate(
    kind: SourceKind,
    headers: &[(&str, &str)],
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), AuthError> {
    match kind {
        SourceKind::Alertmanager | SourceKind::Grafana | SourceKind::Datadog => {
            auth::verify_bearer_or_basic(headers, BASIC_AUTH_USER, secrets)
        }
        SourceKind::Opsgenie => auth::verify_bearer(headers, secrets),
        SourceKind::Pagerduty => auth::verify_pagerduty(headers, body, secrets),
        SourceKind::Generic => auth::verify_hmac_sha256(headers, body, secrets),
        // Handled by `Signals::receive_sns`; kept so that the match stays exhaustive.
        SourceKind::Cloudwatch => auth::verify_basic(headers, BASIC_AUTH_USER, secrets),
    }
}

/// `application/json`, or any `+json` type, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// `text/plain`, with or without parameters (what SNS sends).
fn is_text(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("text/plain")
}

impl From<SnsError> for SignalError {
    fn from(err: SnsError) -> Self {
        match err {
            SnsError::Auth(err) => SignalError::Auth(err),
            unavailable @ SnsError::Unavailable(_) => {
                SignalError::Unavailable(unavailable.to_string())
            }
        }
    }
}

/// How a sender authenticates to a source of `kind`, for the person setting it up.
pub fn auth_instructions(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Alertmanager => {
            "send `Authorization: Bearer <secret>` (Alertmanager: webhook_configs[].http_config.authorization.credentials), or basic auth with user `aurora` and the secret as password"
        }
        SourceKind::Grafana => {
            "set the webhook contact point's Authorization header to `Bearer <secret>`, or basic auth with user `aurora` and the secret as password"
        }
        SourceKind::Datadog => {
            "add a custom header `Authorization: Bearer <secret>` to the Datadog webhook, or basic auth with user `aurora` and the secret as password"
        }
        SourceKind::Opsgenie => {
            "add the custom header `Authorization: Bearer <secret>` to the Opsgenie webhook integration"
        }
        SourceKind::Pagerduty => {
            "use the secret as the webhook subscription's signing secret: PagerDuty signs each delivery in `X-PagerDuty-Signature`"
        }
        SourceKind::Generic => {
            "sign each body: `X-Aurora-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>`"
        }
        SourceKind::Cloudwatch => {
            "subscribe the webhook URL with basic auth in it, `https://aurora:<secret>@<host>/api/v1/webhooks/<id>`, to the SNS topic (protocol HTTPS); Aurora verifies each message's SNS signature and confirms the subscription itself"
        }
    }
}

fn validate_name(raw: &str) -> Result<String, SignalError> {
    let name = raw.trim();
    if name.is_empty() {
        Err(SignalError::Invalid("name is required".into()))
    } else if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        Err(SignalError::Invalid(format!(
            "name must be at most {MAX_NAME_LEN} printable characters"
        )))
    } else {
        Ok(name.to_owned())
    }
}

fn validate_options(options: &SourceOptions) -> Result<(), SignalError> {
    let labels = &options.fingerprint_labels;
    if labels.len() > SourceOptions::MAX_FINGERPRINT_LABELS {
        return Err(SignalError::Invalid(format!(
            "options.fingerprint_labels: at most {} label names",
            SourceOptions::MAX_FINGERPRINT_LABELS
        )));
    }
    if let Some(bad) = labels.iter().find(|label| {
        label.trim().is_empty()
            || label.len() > MAX_LABEL_NAME_LEN
            || label.chars().any(char::is_control)
    }) {
        return Err(SignalError::Invalid(format!(
            "options.fingerprint_labels: {bad:?} is not a label name (1-{MAX_LABEL_NAME_LEN} printable characters)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
