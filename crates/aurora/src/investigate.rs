//! Investigations in this process: what an organisation's investigation may use (its
//! connectors as telemetry sources and tools, its chat model and budget), and the `investigate`
//! job that runs one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aurora_agent::knowledge::SearchKnowledge;
use aurora_agent::llm::{GenaiModel, LlmConfig, Provider};
use aurora_agent::{
    Budget, InvestigateError, Investigator, ResolveError, ResourceResolver, Resources,
    SnapshotTelemetry,
};
use aurora_connectors::alertmanager::{self, AlertmanagerClient};
use aurora_connectors::prometheus::{self, PrometheusClient, PrometheusTelemetry};
use aurora_core::StoreError;
use aurora_core::events::EventBus;
use aurora_core::ids::{ConnectorId, IncidentId, InvestigationId, OrgId};
use aurora_core::investigation::{
    Connector, Investigation, InvestigationStatus, LlmSettings, TRIGGER_INCIDENT_OPENED,
};
use aurora_core::job::{Job, JobError, JobHandler};
use aurora_core::knowledge::Embedder;
use aurora_core::ports::Store;
use aurora_core::secrets::SecretStore;
use aurora_core::telemetry::{EvidenceBundle, EvidenceRequest, TelemetrySource};
use aurora_core::tool::ToolError;
use moka::sync::Cache;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::connectors::{ALERTMANAGER, BuiltinConnectors, PROMETHEUS, SNAPSHOT, snapshot_path};
use crate::knowledge::Indexer;

/// How long a built model or connector client is reused. Building one reads the system's root
/// certificates and, for a model, the API key from the secret store: worth doing once, not at
/// every chat question. A change of the settings or the connector takes effect at once (it is
/// part of the key); a key rotated in the secret store alone, within this time.
const CLIENT_TTL: Duration = Duration::from_secs(600);
/// Most clients of each kind kept.
const MAX_CLIENTS: u64 = 1000;

fn client_cache<K, V>() -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(MAX_CLIENTS)
        .time_to_live(CLIENT_TTL)
        .build()
}

/// A connector's client, kept between resolutions.
#[derive(Clone)]
enum ConnectorClient {
    Prometheus(Arc<PrometheusClient>),
    Alertmanager(Arc<AlertmanagerClient>),
}

/// Puts together an organisation's resources from its connectors and LLM settings.
pub struct OrgResources {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
    connectors: Arc<BuiltinConnectors>,
    /// Embeds `search_knowledge` questions; keyword search without it.
    embedder: Option<Arc<dyn Embedder>>,
    /// Each organisation's model, with the version of the settings it was built from.
    models: Cache<OrgId, (OffsetDateTime, Arc<GenaiModel>)>,
    /// Connector clients by connector and version.
    clients: Cache<(ConnectorId, OffsetDateTime), ConnectorClient>,
}

impl OrgResources {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretStore>,
        connectors: Arc<BuiltinConnectors>,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Self {
        Self {
            store,
            secrets,
            connectors,
            embedder,
            models: client_cache(),
            clients: client_cache(),
        }
    }

    /// The connector's client, built once per version of the connector.
    async fn client(&self, org: OrgId, connector: &Connector) -> Result<ConnectorClient, String> {
        let key = (connector.id, connector.updated_at);
        if let Some(client) = self.clients.get(&key) {
            return Ok(client);
        }
        let client = match connector.kind.as_str() {
            PROMETHEUS => ConnectorClient::Prometheus(Arc::new(
                self.connectors.prometheus_client(org, connector).await?,
            )),
            ALERTMANAGER => ConnectorClient::Alertmanager(Arc::new(
                self.connectors.alertmanager_client(org, connector).await?,
            )),
            other => return Err(format!("this build has no connector of kind {other:?}")),
        };
        self.clients.insert(key, client.clone());
        Ok(client)
    }

    async fn add_connector(&self, org: OrgId, connector: &Connector, into: &mut Resources) {
        let name = connector.name.clone();
        let added = match connector.kind.as_str() {
            PROMETHEUS | ALERTMANAGER => {
                self.client(org, connector)
                    .await
                    .map(|client| match client {
                        ConnectorClient::Prometheus(client) => {
                            into.tools.extend(prometheus::tools(client.clone(), &name));
                            into.telemetry
                                .push(Arc::new(PrometheusTelemetry::new(client, &name)));
                        }
                        // Its tools only; `alertmanager_create_silence` is mutating, so the agent
                        // runtime asks a person to approve each call.
                        ConnectorClient::Alertmanager(client) => {
                            into.tools.extend(alertmanager::tools(client, &name));
                        }
                    })
            }
            SNAPSHOT => match snapshot_path(connector) {
                Ok(path) => tokio::task::spawn_blocking(move || SnapshotTelemetry::open(&path))
                    .await
                    .map_err(|e| format!("reading the snapshot stopped: {e}"))
                    .and_then(|opened| opened.map_err(|e| e.to_string()))
                    .map(|snapshot| into.telemetry.push(Arc::new(snapshot))),
                Err(err) => Err(err),
            },
            other => Err(format!("this build has no connector of kind {other:?}")),
        };
        if let Err(error) = added {
            // Recorded by the evidence pass as this source's failure, so the report says why
            // its data is missing.
            tracing::warn!(connector = %name, %error, "connector unusable for this investigation");
            into.telemetry.push(Arc::new(Unusable {
                name: format!("{} \"{name}\"", connector.kind),
                error,
            }));
        }
    }

    async fn model(
        &self,
        org: OrgId,
        settings: &LlmSettings,
    ) -> Result<Arc<GenaiModel>, ResolveError> {
        if let Some((version, model)) = self.models.get(&org)
            && version == settings.updated_at
        {
            return Ok(model);
        }
        let provider: Provider = serde_json::from_value(settings.provider.clone().into())
            .map_err(|e| ResolveError(format!("LLM settings: provider: {e}")))?;
        let mut config = LlmConfig::new(provider, settings.model.clone());
        config.base_url = settings.base_url.clone();
        if let Some(key) = &settings.api_key_ref {
            let key = self.secrets.get(org, key).await.map_err(|e| {
                ResolveError(format!(
                    "cannot read the LLM API key from the secret store: {e}"
                ))
            })?;
            config = config.with_api_key(key);
        }
        let model = GenaiModel::new(config)
            .map(Arc::new)
            .map_err(|e| ResolveError(format!("LLM settings: {e}")))?;
        self.models
            .insert(org, (settings.updated_at, Arc::clone(&model)));
        Ok(model)
    }
}

#[async_trait]
impl ResourceResolver for OrgResources {
    async fn resolve(&self, org: OrgId) -> Result<Resources, ResolveError> {
        let store_error = |e: StoreError| ResolveError(e.to_string());
        let mut resources = Resources::default();
        resources.tools.push(Arc::new(SearchKnowledge::new(
            self.store.clone(),
            self.embedder.clone(),
            org,
        )));
        for connector in self.store.list_connectors(org).await.map_err(store_error)? {
            self.add_connector(org, &connector, &mut resources).await;
        }
        if let Some(settings) = self
            .store
            .get_llm_settings(org)
            .await
            .map_err(store_error)?
        {
            resources.model = Some(self.model(org, &settings).await?);
            resources.budget = Budget::from_settings(&settings);
        }
        Ok(resources)
    }
}

/// A configured connector that could not be set up: asked like any source, it answers why.
struct Unusable {
    name: String,
    error: String,
}

#[async_trait]
impl TelemetrySource for Unusable {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn gather(&self, _request: &EvidenceRequest) -> Result<EvidenceBundle, ToolError> {
        Err(ToolError::Failed(self.error.clone()))
    }
}

/// The `investigate` job's payload: from a new incident (`incident_id` only) or from a
/// requested investigation (`investigation_id`).
#[derive(Debug, Deserialize)]
struct Payload {
    investigation_id: Option<InvestigationId>,
    incident_id: Option<IncidentId>,
}

/// Runs `investigate` jobs.
pub struct InvestigateJob {
    store: Arc<dyn Store>,
    investigator: Investigator,
    resources: Arc<dyn ResourceResolver>,
    /// Where finished reports are remembered for later incidents.
    memory: Option<Arc<Indexer>>,
}

impl InvestigateJob {
    pub fn new(
        store: Arc<dyn Store>,
        events: Arc<dyn EventBus>,
        resources: Arc<dyn ResourceResolver>,
    ) -> Self {
        Self {
            investigator: Investigator::new(store.clone(), events, Default::default()),
            store,
            resources,
            memory: None,
        }
    }

    /// Adds every finished report to the knowledge base.
    pub fn remembering(mut self, indexer: Arc<Indexer>) -> Self {
        self.memory = Some(indexer);
        self
    }

    /// The investigation a job is about. A job from a new incident creates it the first time
    /// and finds it again when the job is retried.
    async fn investigation(&self, job: &Job) -> Result<Investigation, JobError> {
        let payload: Payload = serde_json::from_value(job.payload.clone()).map_err(|e| {
            JobError::Permanent(format!("investigate job payload is not understood: {e}"))
        })?;
        let org = job.org_id;
        match (payload.investigation_id, payload.incident_id) {
            (Some(id), _) => self
                .store
                .get_investigation(org, id)
                .await
                .map_err(store_failure),
            (None, Some(incident)) => {
                let earlier = self
                    .store
                    .list_investigations(org, Some(incident), 200)
                    .await
                    .map_err(store_failure)?
                    .into_iter()
                    .find(|i| i.trigger == TRIGGER_INCIDENT_OPENED);
                match earlier {
                    Some(found) => Ok(found),
                    None => self
                        .store
                        .create_investigation(org, Some(incident), TRIGGER_INCIDENT_OPENED, None)
                        .await
                        .map_err(store_failure),
                }
            }
            (None, None) => Err(JobError::Permanent(
                "investigate job payload names neither an investigation nor an incident".into(),
            )),
        }
    }
}

fn store_failure(err: StoreError) -> JobError {
    match err {
        StoreError::NotFound(what) => JobError::Permanent(format!("{what} no longer exists")),
        other => JobError::Retryable(other.to_string()),
    }
}

#[async_trait]
impl JobHandler for InvestigateJob {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let investigation = self.investigation(job).await?;
        self.investigator
            .run_resolved(job.org_id, investigation.id, self.resources.as_ref())
            .await
            .map_err(|InvestigateError::Store(err)| store_failure(err))?;
        if let Some(memory) = &self.memory {
            let finished = self
                .store
                .get_investigation(job.org_id, investigation.id)
                .await
                .map_err(store_failure)?;
            if finished.status == InvestigationStatus::Completed
                && let Err(err) = memory.remember_report(&finished).await
            {
                // The investigation stands; only its memory is missing.
                tracing::warn!(investigation = %finished.id, error = %err, "report not added to the knowledge base");
            }
        }
        Ok(())
    }
}
