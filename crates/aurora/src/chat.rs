//! Chat turns in this process: the server's [`ChatRunner`] port, run by the agent with the
//! organisation's model and tools (as investigations get them), the incident a session is
//! about as context, and each answered conversation remembered in the knowledge base.

use std::sync::Arc;

use async_trait::async_trait;
use aurora_agent::ResourceResolver;
use aurora_agent::chat::{ChatAgent, ChatContext, ChatOptions};
use aurora_core::chat::{ChatSession, ChatSink, TurnOutcome};
use aurora_core::ports::Store;
use aurora_server::chat::ChatRunner;
use tokio_util::sync::CancellationToken;

use crate::knowledge::Indexer;

/// Answers chat questions with the agent.
pub struct AgentChat {
    store: Arc<dyn Store>,
    resolver: Arc<dyn ResourceResolver>,
    agent: ChatAgent,
    memory: Arc<Indexer>,
    remembering: tokio::sync::Mutex<()>,
}

impl AgentChat {
    pub fn new(
        store: Arc<dyn Store>,
        resolver: Arc<dyn ResourceResolver>,
        options: ChatOptions,
        memory: Arc<Indexer>,
    ) -> Self {
        Self {
            agent: ChatAgent::new(store.clone(), options),
            store,
            resolver,
            memory,
            remembering: tokio::sync::Mutex::new(()),
        }
    }

    /// The incident the session is about and its latest report; nothing when it has none or
    /// it cannot be read (the conversation goes on without it).
    async fn context(&self, session: &ChatSession) -> ChatContext {
        let Some(incident) = session.incident_id else {
            return ChatContext::default();
        };
        let org = session.org_id;
        let detail = match self.store.get_incident(org, incident).await {
            Ok(detail) => Some(detail),
            Err(err) => {
                tracing::warn!(%err, "the chat's incident cannot be read");
                None
            }
        };
        let report = match self.store.latest_for_incident(org, incident).await {
            Ok(latest) => latest.and_then(|i| i.report),
            Err(err) => {
                tracing::warn!(%err, "the chat's incident report cannot be read");
                None
            }
        };
        ChatContext {
            incident: detail,
            report,
        }
    }
}

#[async_trait]
impl ChatRunner for AgentChat {
    async fn answer(
        &self,
        session: &ChatSession,
        sink: &dyn ChatSink,
        stop: &CancellationToken,
    ) -> Result<TurnOutcome, String> {
        let resources = self
            .resolver
            .resolve(session.org_id)
            .await
            .map_err(|err| err.0)?;
        let context = self.context(session).await;
        let outcome = self
            .agent
            .answer(session, &resources, &context, sink, stop)
            .await
            .map_err(|err| format!("the chat could not be recorded: {err}"))?;
        if outcome == TurnOutcome::Answered {
            // The session is free again (its turn_end is out); one conversation at a time is
            // written to the knowledge base, so that a version never outlives a later one.
            let _one_at_a_time = self.remembering.lock().await;
            let remembered = match self
                .store
                .get_chat_session(session.org_id, session.id)
                .await
            {
                Ok(session) => self.memory.remember_chat(&session).await.map(|_| ()),
                // Deleted in the meantime: nothing to remember.
                Err(_) => Ok(()),
            };
            if let Err(err) = remembered {
                tracing::warn!(%err, "the conversation could not be added to the knowledge base");
            }
        }
        Ok(outcome)
    }
}
