//! Wiring: builds the store, secret store, services and router from [`Settings`], binds the
//! listener, and serves until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aurora_agent::chat::ChatOptions;
use aurora_core::events::EventBus;
use aurora_core::job;
use aurora_core::knowledge::BlobStore;
use aurora_core::knowledge::INDEX_DOCUMENT;
use aurora_core::ports::Store;
use aurora_core::secrets::SecretStore;
use aurora_server::AppState;
use aurora_server::accounts::Accounts;
use aurora_server::chat::Chat;
use aurora_server::investigations::Investigations;
use aurora_server::knowledge::Knowledge;
use aurora_server::signals::Signals;
use aurora_server::sns::SnsFetcher;
use aurora_store::{
    InProcessEventBus, LocalSecretStore, ObjectBlobStore, SECRET_KEY_ENV, SqlStore,
};
use axum::serve::ListenerExt;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::chat::AgentChat;
use crate::connectors::BuiltinConnectors;
use crate::investigate::{InvestigateJob, OrgResources};
use crate::knowledge::{IndexDocumentJob, Indexer, open_embedder};
use crate::settings::Settings;
use crate::sns::HttpSnsFetcher;
use crate::telemetry::metrics_handle;
use crate::worker::{JobWakingEvents, Worker};

/// How often expired sessions are removed.
const SESSION_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);
/// How often idle sign-in rate-limit entries are dropped.
const RATE_LIMIT_PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// How often the metrics recorder drains its histogram buffers.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The store and services, ready to serve or to be used by a CLI command.
pub struct Services {
    pub store: Arc<SqlStore>,
    pub secrets: Arc<dyn SecretStore>,
    /// Domain events for live views; in-process (one Aurora per database for now). Publishing
    /// an event that means a job was enqueued also wakes [`Services::jobs_wake`].
    pub events: Arc<dyn EventBus>,
    /// Wakes this process's idle job workers.
    pub jobs_wake: Arc<Notify>,
    pub accounts: Arc<Accounts>,
    pub signals: Arc<Signals>,
    /// Investigations, approvals, connectors and LLM settings.
    pub investigations: Arc<Investigations>,
    /// The connector kinds of this build.
    pub connectors: Arc<BuiltinConnectors>,
    /// Originals of knowledge-base documents.
    pub blobs: Arc<dyn BlobStore>,
    /// Turns originals into searchable chunks.
    pub indexer: Arc<Indexer>,
    /// The knowledge base as the API and UI see it.
    pub knowledge: Arc<Knowledge>,
    /// Chat sessions and the hub that streams them.
    pub chat: Arc<Chat>,
}

impl Services {
    /// What investigations of an organisation may use: its connectors and chat model.
    pub fn resources(&self) -> Arc<OrgResources> {
        Arc::new(OrgResources::new(
            self.store.clone(),
            self.secrets.clone(),
            self.connectors.clone(),
            self.indexer.embedder().cloned(),
        ))
    }

    /// Opens the data directory, the database (applying migrations) and the secret store.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        Self::open_with(settings, Arc::new(HttpSnsFetcher::new()?)).await
    }

    /// [`Services::open`] with the given client for Amazon SNS (tests pass one that needs no
    /// network).
    pub async fn open_with(settings: &Settings, sns: Arc<dyn SnsFetcher>) -> anyhow::Result<Self> {
        prepare_data_dir(&settings.data_dir)?;
        let store = SqlStore::connect(&settings.database_url(), &settings.database).await?;
        store.migrate().await?;
        let store = Arc::new(store);
        let secrets = open_secrets(settings)?;
        let accounts = Arc::new(Accounts::new(
            store.clone() as Arc<dyn Store>,
            settings.auth.session_ttl,
            settings.auth.token_cache_ttl,
        ));
        let jobs_wake = Arc::new(Notify::new());
        let events: Arc<dyn EventBus> = Arc::new(JobWakingEvents::new(
            Arc::new(InProcessEventBus::default()),
            jobs_wake.clone(),
        ));
        let signals = Arc::new(
            Signals::new(
                store.clone() as Arc<dyn Store>,
                secrets.clone(),
                events.clone(),
                settings.signals.clone(),
            )
            .with_sns_fetcher(sns),
        );
        let connectors = Arc::new(BuiltinConnectors::new(
            secrets.clone(),
            settings.connectors.clone(),
        ));
        let investigations = Arc::new(Investigations::new(
            store.clone() as Arc<dyn Store>,
            secrets.clone(),
            events.clone(),
            connectors.clone(),
        ));
        let blobs: Arc<dyn BlobStore> = Arc::new(ObjectBlobStore::open(
            &settings.blobs,
            &settings.data_dir.join("blobs"),
        )?);
        let knowledge_config = settings.knowledge.clone();
        let data_dir = settings.data_dir.clone();
        let embedding =
            tokio::task::spawn_blocking(move || open_embedder(&knowledge_config, &data_dir))
                .await
                .context("loading the embedding model")??;
        if let Some(note) = &embedding.note {
            tracing::warn!("{note}");
        }
        let indexer = Arc::new(Indexer::new(
            store.clone() as Arc<dyn Store>,
            blobs.clone(),
            &embedding,
            &settings.knowledge,
            events.clone(),
        ));
        let knowledge = Arc::new(Knowledge::new(
            store.clone() as Arc<dyn Store>,
            blobs.clone(),
            embedding.embedder.clone(),
            events.clone(),
        ));
        let resolver = Arc::new(OrgResources::new(
            store.clone(),
            secrets.clone(),
            connectors.clone(),
            indexer.embedder().cloned(),
        ));
        let runner = Arc::new(AgentChat::new(
            store.clone() as Arc<dyn Store>,
            resolver,
            ChatOptions::default(),
            indexer.clone(),
        ));
        let chat = Arc::new(Chat::new(
            store.clone() as Arc<dyn Store>,
            investigations.clone(),
            runner,
        ));
        Ok(Self {
            store,
            secrets,
            events,
            jobs_wake,
            accounts,
            signals,
            investigations,
            connectors,
            blobs,
            indexer,
            knowledge,
            chat,
        })
    }
}

fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the data directory {}; set data_dir to a writable place",
            dir.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict permissions of {}", dir.display()))?;
    }
    Ok(())
}

fn open_secrets(settings: &Settings) -> anyhow::Result<Arc<dyn SecretStore>> {
    let env_key = std::env::var(SECRET_KEY_ENV).ok().map(SecretString::from);
    let key_file = settings
        .secrets
        .key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("secret.key"));
    let store = LocalSecretStore::open(settings.data_dir.join("secrets.json"), env_key, &key_file)?;
    Ok(Arc::new(store))
}

/// A bound, ready-to-serve Aurora.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    services: Services,
    /// The job workers `run_until` starts; register handlers before.
    worker: Worker,
    settings: Settings,
    started: Instant,
}

impl Application {
    /// Opens everything and binds `server.listen` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Arc::new(HttpSnsFetcher::new()?)).await
    }

    /// [`Application::build`] with the given client for Amazon SNS.
    pub async fn build_with(settings: Settings, sns: Arc<dyn SnsFetcher>) -> anyhow::Result<Self> {
        let started = Instant::now();
        let services = Services::open_with(&settings, sns).await?;
        let state = AppState::new(
            services.store.clone(),
            services.secrets.clone(),
            services.accounts.clone(),
            services.signals.clone(),
            services.investigations.clone(),
            services.knowledge.clone(),
            services.chat.clone(),
            aurora_server::Config {
                server: settings.server.clone(),
                auth: settings.auth.clone(),
            },
            metrics_handle(),
            crate::BUILD,
        );
        let router = aurora_server::router(state.clone());
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; set server.listen to a free address",
                    settings.server.listen
                )
            })?;
        let mut worker = Worker::new(services.store.clone(), settings.workers.clone())
            .with_waker(services.jobs_wake.clone());
        worker.register(
            job::INVESTIGATE,
            Arc::new(
                InvestigateJob::new(
                    services.store.clone(),
                    services.events.clone(),
                    services.resources(),
                )
                .remembering(services.indexer.clone()),
            ),
        );
        worker.register(
            INDEX_DOCUMENT,
            Arc::new(IndexDocumentJob::new(services.indexer.clone())),
        );
        Ok(Self {
            listener,
            router,
            state,
            services,
            worker,
            settings,
            started,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.settings.server.listen)
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The job workers, to register handlers on before [`Application::run_until`].
    pub fn worker_mut(&mut self) -> &mut Worker {
        &mut self.worker
    }

    /// Time from [`Application::build`] to now.
    pub fn startup_time(&self) -> Duration {
        self.started.elapsed()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish for up to
    /// `server.shutdown_grace`.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let background = self.spawn_background();
        let workers = self.worker.start();
        let stop_workers = workers.stopper();
        let grace = self.settings.server.shutdown_grace;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let (streams_stop, streams_shutdown) = tokio::sync::watch::channel(false);
        let events = self.services.events.clone();
        let streams = crate::streams::spawn(
            &self.settings.streams,
            &self.services.signals,
            &streams_shutdown,
        );
        // Small frames (a streamed chat token, an SSE event) go out at once instead of waiting
        // for the peer's acknowledgement of the previous one (Nagle's algorithm).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "cannot set TCP_NODELAY on a connection");
            }
        });
        let server = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            stop_workers();
            let _ = streams_stop.send(true);
            // Ends the live pages' event streams, which would otherwise hold the server open.
            events.close();
            let _ = stopping_tx.send(());
        });
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let outcome = tokio::select! {
            served = server.into_future() => served.context("server failed"),
            () = deadline => {
                tracing::warn!(?grace, "requests still running after the shutdown grace period; stopping anyway");
                Ok(())
            }
        };
        crate::streams::join(streams, grace).await;
        workers.shutdown(grace).await;
        for task in background {
            task.abort();
        }
        self.services.store.close().await;
        outcome
    }

    fn spawn_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let accounts = self.services.accounts.clone();
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(SESSION_SWEEP_INTERVAL);
            loop {
                every.tick().await;
                match accounts.sweep_sessions().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "expired sessions removed"),
                    Err(err) => tracing::warn!(error = %err, "could not remove expired sessions"),
                }
            }
        });
        let handle = metrics_handle();
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
        let state = self.state.clone();
        let pruner = tokio::spawn(async move {
            let mut every = tokio::time::interval(RATE_LIMIT_PRUNE_INTERVAL);
            loop {
                every.tick().await;
                state.prune_rate_limits();
            }
        });
        vec![sweeper, upkeep, pruner]
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // The handlers are installed now, not when the future is first polled, so a signal that
    // arrives while the server is still starting is not lost (nor fatal by default action).
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
