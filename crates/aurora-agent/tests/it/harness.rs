//! A real SQLite store, an in-process event bus, synthetic incidents delivered as alerts, and
//! small tools for the investigation tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aurora_agent::llm::{GenaiModel, LlmConfig, Provider};
use aurora_agent::{Investigator, InvestigatorOptions, SnapshotTelemetry};
use aurora_analysis::synth::{SynthIncident, SynthOptions, generate, write_case};
use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use aurora_core::events::EventBus;
use aurora_core::ids::{IncidentId, InvestigationId, OrgId, SourceId, UserId};
use aurora_core::investigation::{Step, TRIGGER_MANUAL};
use aurora_core::llm::ChatModel;
use aurora_core::model::{Email, Role};
use aurora_core::ports::{AccountStore, InvestigationStore, NewUser, SignalStore, Store};
use aurora_core::secrets::SecretRef;
use aurora_core::source::{DeliveryMeta, IngestRules, NewAlertSource, SourceOptions};
use aurora_core::telemetry::TelemetrySource;
use aurora_core::tool::{Series, Tool, ToolEffect, ToolError, ToolOutput, ToolSpec};
use aurora_store::{DatabaseConfig, InProcessEventBus, SqlStore};
use aurora_testkit::llm::ScriptedLlm;
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A fresh store and bus, with one organisation and one user.
pub struct Env {
    pub store: Arc<SqlStore>,
    pub events: Arc<InProcessEventBus>,
    pub org: OrgId,
    pub user: UserId,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("aurora.db").display());
        let store = SqlStore::connect(&url, &DatabaseConfig::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let org = store.create_org("Acme").await.unwrap().id;
        let user = store
            .create_user(
                org,
                NewUser {
                    email: Email::parse("oncall@acme.io").unwrap(),
                    name: "Ona Call".into(),
                    role: Role::Editor,
                    password_hash: "x".into(),
                },
            )
            .await
            .unwrap()
            .id;
        Self {
            store: Arc::new(store),
            events: Arc::new(InProcessEventBus::new(1024)),
            org,
            user,
            dir,
        }
    }

    pub fn investigator(&self, options: InvestigatorOptions) -> Investigator {
        let store: Arc<dyn Store> = self.store.clone();
        let events: Arc<dyn EventBus> = self.events.clone();
        Investigator::new(store, events, options)
    }

    /// A synthetic incident: its telemetry written as a case directory, its alert ingested.
    pub async fn synth_incident(
        &self,
        seed: u64,
    ) -> (IncidentId, SynthIncident, std::path::PathBuf) {
        let inc = generate(&SynthOptions {
            seed,
            ..Default::default()
        });
        // Named neutrally: the directory must not give the root cause away.
        let case = self.dir.path().join(format!("case-{seed}"));
        write_case(&inc, &case).unwrap();
        let webhook = inc.alert.webhook();
        let item = webhook["alerts"][0].clone();
        let source = SourceId::new();
        self.store
            .create_source(
                self.org,
                NewAlertSource {
                    id: source,
                    kind: SourceKind::Alertmanager,
                    name: format!("am {seed}"),
                    secret: SecretRef::new(self.org, &format!("sources/{source}/1")).unwrap(),
                    options: SourceOptions::default(),
                },
            )
            .await
            .unwrap();
        let alert = Alert {
            source_kind: SourceKind::Alertmanager,
            fingerprint: Fingerprint::parse(item["fingerprint"].as_str().unwrap()).unwrap(),
            status: AlertStatus::Firing,
            severity: Severity::High,
            title: inc.alert.summary.clone(),
            description: inc.alert.description.clone(),
            labels: inc.alert.labels.clone(),
            annotations: BTreeMap::from([("summary".into(), inc.alert.summary.clone())]),
            service: Some(inc.alert.service.clone()),
            environment: None,
            starts_at: OffsetDateTime::from_unix_timestamp(inc.alert.starts_at as i64).unwrap(),
            ends_at: None,
            link: item["generatorURL"].as_str().map(str::to_owned),
            raw: item,
        };
        let delivery = DeliveryMeta {
            received_at: OffsetDateTime::now_utc(),
            body_sha256: format!("{seed:0>64}"),
        };
        let incident = self
            .store
            .ingest(
                self.org,
                source,
                &[alert],
                &delivery,
                &IngestRules::default(),
            )
            .await
            .unwrap()
            .new_incidents[0];
        (incident, inc, case)
    }

    pub async fn investigation(&self, incident: Option<IncidentId>) -> InvestigationId {
        self.store
            .create_investigation(self.org, incident, TRIGGER_MANUAL, None)
            .await
            .unwrap()
            .id
    }

    pub async fn steps(&self, id: InvestigationId) -> Vec<Step> {
        self.store.list_steps(self.org, id, None).await.unwrap()
    }
}

pub fn snapshot(case: &std::path::Path) -> Arc<dyn TelemetrySource> {
    Arc::new(SnapshotTelemetry::open(case).unwrap())
}

pub fn model(server: &ScriptedLlm, provider: Provider) -> Arc<dyn ChatModel> {
    let name = match provider {
        Provider::Anthropic => "claude-sonnet-4-20250514",
        _ => "gpt-4o-mini",
    };
    let config = LlmConfig::new(provider, name)
        .with_base_url(server.base_url())
        .with_api_key(SecretString::from(ScriptedLlm::API_KEY))
        .with_stream(false)
        .with_timeout(Duration::from_secs(10));
    Arc::new(GenaiModel::new(config).unwrap())
}

/// Fast polling for tests.
pub fn options() -> InvestigatorOptions {
    InvestigatorOptions {
        approval_poll: Duration::from_millis(20),
        cancel_poll: Duration::from_millis(20),
        ..Default::default()
    }
}

/// A small tool: what it returns, how long it takes, whether it changes anything; counts calls.
pub struct TestTool {
    pub spec: ToolSpec,
    pub calls: Arc<AtomicUsize>,
    pub delay: Duration,
    pub content: Value,
}

impl TestTool {
    pub fn new(name: &str, effect: ToolEffect, content: Value) -> Self {
        Self {
            spec: ToolSpec {
                name: name.into(),
                description: format!("test tool {name}"),
                parameters: json!({"type": "object", "properties": {"service": {"type": "string"}}}),
                effect,
            },
            calls: Arc::new(AtomicUsize::new(0)),
            delay: Duration::ZERO,
            content,
        }
    }

    pub fn series(name: &str) -> Self {
        Self::new(
            name,
            ToolEffect::ReadOnly,
            json!({"series": "checkout p95 latency", "points": [[0, 0.1], [60, 2.3]], "marker": "marker-4242"}),
        )
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn calls(&self) -> Arc<AtomicUsize> {
        self.calls.clone()
    }
}

#[async_trait]
impl Tool for TestTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: Value) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(ToolOutput {
            source: format!("test tool {}", self.spec.name),
            content: json!({"args": args, "data": self.content}),
            series: vec![Series::default()],
        })
    }
}

pub fn arc(tool: TestTool) -> Arc<dyn Tool> {
    Arc::new(tool)
}
