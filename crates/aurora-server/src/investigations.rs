//! Investigations, approvals, connectors and LLM settings as a service: what the API and the UI
//! show and change of them. Reads go straight to the [`Store`]; every change that a live page
//! shows is published on the [`EventBus`] as [`DomainEvent::InvestigationUpdated`].
//!
//! What only the binary can do (knowing each connector kind's configuration and reaching the
//! system behind it) comes through the [`ConnectorCatalog`] port. Connector secrets and the LLM
//! API key go to the [`SecretStore`] (`secret://<org>/connectors/<id>/<field>`,
//! `secret://<org>/llm/api_key`); only their references are stored, and nothing here returns a
//! secret value.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::events::{DomainEvent, EventBus};
use aurora_core::ids::{ApprovalId, ConnectorId, IncidentId, InvestigationId, OrgId, UserId};
use aurora_core::investigation::{
    Approval, Connector, ConnectorCheck, Investigation, LlmSettings, NewConnector, Step,
    TRIGGER_MANUAL, UsageSummary,
};
use aurora_core::ports::Store;
use aurora_core::secrets::{SecretRef, SecretStore};
use aurora_core::{SecretError, StoreError};
use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;

const MAX_NAME_LEN: usize = 200;
const MAX_REASON_LEN: usize = 2000;
/// Most investigations listed per incident.
const MAX_LISTED: u32 = 50;
/// Longest usage period asked for, in days.
pub const MAX_USAGE_DAYS: u32 = 366;

/// One kind of connector the binary knows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectorKindInfo {
    /// The kind as stored, e.g. `prometheus`.
    pub kind: String,
    /// Its name for people.
    pub title: String,
    /// A configuration to start from.
    pub config_example: serde_json::Value,
    /// The secrets it takes, by field name (given apart from the configuration).
    pub secret_fields: Vec<String>,
}

/// The connector kinds the binary implements: their configuration and health check.
#[async_trait]
pub trait ConnectorCatalog: Send + Sync {
    /// Every kind a connector can be created with.
    fn kinds(&self) -> Vec<ConnectorKindInfo>;

    /// Checks `config` for `kind`, with the references where the given secrets will be stored
    /// (by field), and returns the configuration to store (secret values never in it). The
    /// error says what to fix.
    fn validate(
        &self,
        kind: &str,
        config: &serde_json::Value,
        secrets: &BTreeMap<String, SecretRef>,
    ) -> Result<serde_json::Value, String>;

    /// Checks that the system behind the connector answers as configured.
    async fn test(&self, org: OrgId, connector: &Connector) -> ConnectorCheck;
}

/// Why an investigation, approval, connector or settings request failed.
#[derive(Debug, thiserror::Error)]
pub enum InvestigationError {
    /// The request is malformed; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The connector's configuration is not usable; the message says what to fix.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secret store: {0}")]
    Secret(#[from] SecretError),
}

type Result<T, E = InvestigationError> = std::result::Result<T, E>;

/// A connector to create, as a person gave it.
pub struct ConnectorForm {
    pub kind: String,
    pub name: String,
    pub config: serde_json::Value,
    /// Secret values by field (e.g. `token`).
    pub secrets: BTreeMap<String, SecretString>,
}

/// LLM settings as a person gave them.
pub struct LlmForm {
    pub provider: String,
    pub model: String,
    pub base_url: Option<String>,
    /// A new API key; `None` keeps the stored one.
    pub api_key: Option<SecretString>,
    /// Forget the stored API key.
    pub clear_api_key: bool,
    pub max_steps: Option<u32>,
    pub max_tokens_per_investigation: Option<u64>,
    pub max_cost_per_investigation_usd: Option<f64>,
    pub max_cost_per_day_usd: Option<f64>,
}

/// Usage over a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsagePeriod {
    pub days: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(flatten)]
    pub summary: UsageSummary,
}

pub struct Investigations {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
    events: Arc<dyn EventBus>,
    catalog: Arc<dyn ConnectorCatalog>,
}

impl Investigations {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretStore>,
        events: Arc<dyn EventBus>,
        catalog: Arc<dyn ConnectorCatalog>,
    ) -> Self {
        Self {
            store,
            secrets,
            events,
            catalog,
        }
    }

    async fn publish(&self, investigation: &Investigation) {
        self.events
            .publish(
                investigation.org_id,
                DomainEvent::InvestigationUpdated {
                    investigation: investigation.id,
                    incident: investigation.incident_id,
                },
            )
            .await;
    }

    // -----------------------------------------------------------------------------------------
    // Investigations

    /// The incident's investigations, newest first. [`StoreError::NotFound`] when the incident
    /// is not the organisation's.
    pub async fn list_for_incident(
        &self,
        org: OrgId,
        incident: IncidentId,
    ) -> Result<Vec<Investigation>> {
        self.store.get_incident(org, incident).await?;
        Ok(self
            .store
            .list_investigations(org, Some(incident), MAX_LISTED)
            .await?)
    }

    /// Queues a new investigation of the incident in `user`'s name.
    pub async fn reinvestigate(
        &self,
        org: OrgId,
        incident: IncidentId,
        user: UserId,
    ) -> Result<Investigation> {
        let (investigation, _job) = self
            .store
            .enqueue_investigation(org, Some(incident), TRIGGER_MANUAL, Some(user))
            .await?;
        self.publish(&investigation).await;
        Ok(investigation)
    }

    pub async fn get(&self, org: OrgId, id: InvestigationId) -> Result<Investigation> {
        Ok(self.store.get_investigation(org, id).await?)
    }

    /// The steps after `after` (all when `None`), in order.
    pub async fn steps(
        &self,
        org: OrgId,
        id: InvestigationId,
        after: Option<u32>,
    ) -> Result<Vec<Step>> {
        Ok(self.store.list_steps(org, id, after).await?)
    }

    /// Asks the investigation to stop (a queued one is cancelled at once).
    pub async fn cancel(&self, org: OrgId, id: InvestigationId) -> Result<Investigation> {
        let investigation = self.store.request_cancel(org, id).await?;
        self.publish(&investigation).await;
        Ok(investigation)
    }

    // -----------------------------------------------------------------------------------------
    // Approvals

    /// The organisation's approvals waiting for a decision, oldest first.
    pub async fn pending_approvals(&self, org: OrgId) -> Result<Vec<Approval>> {
        Ok(self.store.list_pending_approvals(org).await?)
    }

    /// Records `user`'s decision and publishes it for the investigation's live view.
    pub async fn decide(
        &self,
        org: OrgId,
        id: ApprovalId,
        approve: bool,
        user: UserId,
        reason: Option<&str>,
    ) -> Result<Approval> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.len() > MAX_REASON_LEN) {
            return Err(InvestigationError::Invalid(format!(
                "reason must be at most {MAX_REASON_LEN} bytes"
            )));
        }
        let approval = self
            .store
            .decide_approval(org, id, approve, user, reason, OffsetDateTime::now_utc())
            .await?;
        let investigation = self
            .store
            .get_investigation(org, approval.investigation_id)
            .await?;
        self.publish(&investigation).await;
        Ok(approval)
    }

    // -----------------------------------------------------------------------------------------
    // Connectors

    pub fn connector_kinds(&self) -> Vec<ConnectorKindInfo> {
        self.catalog.kinds()
    }

    pub async fn list_connectors(&self, org: OrgId) -> Result<Vec<Connector>> {
        Ok(self.store.list_connectors(org).await?)
    }

    /// Validates and creates a connector; its secrets go to the secret store first and are
    /// removed again if the connector cannot be stored.
    pub async fn create_connector(&self, org: OrgId, form: ConnectorForm) -> Result<Connector> {
        let name = validate_name(&form.name)?;
        let kinds = self.catalog.kinds();
        let Some(kind) = kinds.iter().find(|k| k.kind == form.kind.trim()) else {
            let known: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
            return Err(InvestigationError::Invalid(format!(
                "unknown connector kind {:?}: use {}",
                form.kind,
                known.join(", ")
            )));
        };
        let id = ConnectorId::new();
        let mut refs = BTreeMap::new();
        for field in form.secrets.keys() {
            if !kind.secret_fields.contains(field) {
                return Err(InvestigationError::Invalid(format!(
                    "a {} connector takes no secret {field:?}; its secrets are: {}",
                    kind.kind,
                    if kind.secret_fields.is_empty() {
                        "none".to_owned()
                    } else {
                        kind.secret_fields.join(", ")
                    }
                )));
            }
            let secret_ref = SecretRef::new(org, &connector_secret_name(id, field))?;
            refs.insert(field.clone(), secret_ref);
        }
        let config = self
            .catalog
            .validate(&kind.kind, &form.config, &refs)
            .map_err(InvestigationError::Config)?;
        let mut stored = Vec::new();
        for (field, value) in form.secrets {
            match self
                .secrets
                .put(org, &connector_secret_name(id, &field), value)
                .await
            {
                Ok(secret_ref) => stored.push(secret_ref),
                Err(err) => {
                    self.forget(org, &stored).await;
                    return Err(err.into());
                }
            }
        }
        let created = self
            .store
            .create_connector(
                org,
                NewConnector {
                    id,
                    kind: kind.kind.clone(),
                    name,
                    config,
                    secret_refs: refs,
                },
            )
            .await;
        match created {
            Ok(connector) => Ok(connector),
            Err(err) => {
                self.forget(org, &stored).await;
                Err(err.into())
            }
        }
    }

    /// Runs the connector's health check and records its outcome.
    pub async fn test_connector(&self, org: OrgId, id: ConnectorId) -> Result<Connector> {
        let connector = self.store.get_connector(org, id).await?;
        let check = self.catalog.test(org, &connector).await;
        Ok(self.store.update_connector_check(org, id, &check).await?)
    }

    /// Deletes the connector and its secrets.
    pub async fn delete_connector(&self, org: OrgId, id: ConnectorId) -> Result<Connector> {
        let connector = self.store.delete_connector(org, id).await?;
        let refs: Vec<SecretRef> = connector.secret_refs.values().cloned().collect();
        self.forget(org, &refs).await;
        Ok(connector)
    }

    /// Best effort: a secret left behind is unreferenced, not exposed.
    async fn forget(&self, org: OrgId, refs: &[SecretRef]) {
        for secret in refs {
            if let Err(err) = self.secrets.delete(org, secret).await {
                tracing::warn!(%secret, error = %err, "could not delete a connector secret");
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // LLM settings and usage

    pub async fn llm_settings(&self, org: OrgId) -> Result<Option<LlmSettings>> {
        Ok(self.store.get_llm_settings(org).await?)
    }

    /// Validates and saves the settings; a new API key replaces the stored one.
    pub async fn put_llm_settings(&self, org: OrgId, form: LlmForm) -> Result<LlmSettings> {
        let invalid = |m: String| InvestigationError::Invalid(m);
        let provider = form.provider.trim().to_ascii_lowercase();
        if provider.is_empty()
            || provider.len() > 64
            || !provider
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Err(invalid(
                "provider is required: e.g. openai, anthropic, gemini, ollama".to_owned(),
            ));
        }
        let model = form.model.trim();
        if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
            return Err(invalid(
                "model is required: the provider's model name, e.g. gpt-4o-mini".to_owned(),
            ));
        }
        let base_url = form
            .base_url
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if let Some(url) = &base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(format!(
                "base_url {url:?} must start with http:// or https://"
            )));
        }
        let now = OffsetDateTime::now_utc();
        let previous = self.store.get_llm_settings(org).await?;
        let mut settings = LlmSettings::new(&provider, model, now);
        settings.base_url = base_url;
        settings.api_key_ref = previous.as_ref().and_then(|p| p.api_key_ref.clone());
        if let Some(steps) = form.max_steps {
            if steps == 0 || steps > 200 {
                return Err(invalid("max_steps must be between 1 and 200".to_owned()));
            }
            settings.max_steps = steps;
        }
        if let Some(tokens) = form.max_tokens_per_investigation {
            if tokens == 0 {
                return Err(invalid(
                    "max_tokens_per_investigation must be at least 1".to_owned(),
                ));
            }
            settings.max_tokens_per_investigation = tokens;
        }
        for (name, value, slot) in [
            (
                "max_cost_per_investigation_usd",
                form.max_cost_per_investigation_usd,
                &mut settings.max_cost_per_investigation_usd,
            ),
            (
                "max_cost_per_day_usd",
                form.max_cost_per_day_usd,
                &mut settings.max_cost_per_day_usd,
            ),
        ] {
            if let Some(value) = value {
                if !value.is_finite() || value < 0.0 {
                    return Err(invalid(format!(
                        "{name} must be a number of US dollars, 0 or more"
                    )));
                }
                *slot = value;
            }
        }
        if form.clear_api_key
            && let Some(old) = settings.api_key_ref.take()
        {
            self.forget(org, &[old]).await;
        }
        if let Some(key) = form.api_key {
            settings.api_key_ref = Some(self.secrets.put(org, LLM_API_KEY_SECRET, key).await?);
        }
        self.store.put_llm_settings(org, &settings).await?;
        // As stored (the store may keep fewer digits of the time).
        Ok(self.store.get_llm_settings(org).await?.unwrap_or(settings))
    }

    /// What the organisation's investigations used in the last `days` days (1 = since the
    /// start of today, UTC).
    pub async fn usage(&self, org: OrgId, days: u32) -> Result<UsagePeriod> {
        if days == 0 || days > MAX_USAGE_DAYS {
            return Err(InvestigationError::Invalid(format!(
                "days must be between 1 and {MAX_USAGE_DAYS}"
            )));
        }
        let today = OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
        let since = today - time::Duration::days(i64::from(days) - 1);
        let summary = self.store.usage_since(org, since).await?;
        Ok(UsagePeriod {
            days,
            since,
            summary,
        })
    }
}

/// Where the LLM API key is stored within the organisation.
pub const LLM_API_KEY_SECRET: &str = "llm/api_key";

fn connector_secret_name(id: ConnectorId, field: &str) -> String {
    format!("connectors/{id}/{field}")
}

fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        Err(InvestigationError::Invalid("name is required".into()))
    } else if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        Err(InvestigationError::Invalid(format!(
            "name must be at most {MAX_NAME_LEN} printable characters"
        )))
    } else {
        Ok(name.to_owned())
    }
}
