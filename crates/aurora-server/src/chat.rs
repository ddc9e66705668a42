//! Chat as a service: sessions (create, list, rename, delete), questions, stopping a turn,
//! decisions on a session's approvals, and the hub that fans a session's output out to every
//! WebSocket attached to it.
//!
//! The hub keeps one [`Live`] entry per session that has an attached connection or a running
//! turn. A turn's output reaches it through a [`ChatSink`]: each recorded step becomes one
//! durable frame, each streamed piece of text a token frame, serialised once and broadcast to
//! every attached connection. Attaching reads the log after the client's last `seq` from the
//! store, and subscribes and snapshots the streaming answer under the lock that publishing
//! takes, so that a client misses nothing and, by skipping frames at or below the last `seq`
//! it was sent, sees nothing twice.
//!
//! Running the model is the binary's part (the [`ChatRunner`] port): resolving the
//! organisation's model and tools, the agent loop, remembering the conversation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::chat::{
    ChatMode, ChatSession, ChatSessionUpdate, ChatSink, MAX_QUESTION_LEN, MAX_TITLE_LEN,
    NewChatSession, ServerMessage, TurnOutcome, title_from_question,
};
use aurora_core::ids::{ApprovalId, ChatSessionId, IncidentId, OrgId};
use aurora_core::investigation::{Approval, NewStep, Step, StepKind};
use aurora_core::model::User;
use aurora_core::ports::Store;
use axum::extract::ws::Utf8Bytes;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::investigations::{InvestigationError, Investigations};

/// Frames a slow connection may fall behind by before it is resynchronised from the store.
const CHANNEL_CAPACITY: usize = 256;
/// The title of a session until its first question names it.
pub const UNTITLED: &str = "New conversation";
/// Most sessions listed.
const MAX_LISTED: u32 = 100;

/// Runs a chat turn: the binary resolves the organisation's model and tools and runs the agent.
#[async_trait]
pub trait ChatRunner: Send + Sync {
    /// Answers the session's last question, recording the turn's steps (the last one its
    /// `turn_end`) and handing each to `sink`; `stop` ends the turn early. `Err` when the turn
    /// could not run at all (the organisation's model cannot be set up): the message says why,
    /// and the hub records it as the turn's end.
    async fn answer(
        &self,
        session: &ChatSession,
        sink: &dyn ChatSink,
        stop: &CancellationToken,
    ) -> Result<TurnOutcome, String>;
}

/// Why a chat request failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The request is malformed; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The session is answering a question.
    #[error("the session is answering a question: wait for its turn_end, or stop it")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Investigation(#[from] InvestigationError),
}

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// One frame for attached connections: serialised once, shared by all of them.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The recorded step's `seq` for a durable message; for a token, the `seq` its answer will
    /// have; `None` otherwise.
    pub seq: Option<u32>,
    /// Whether the frame is a recorded step (replayed after a reconnect).
    pub durable: bool,
    pub text: Utf8Bytes,
}

impl Frame {
    pub fn of(message: &ServerMessage) -> Self {
        let durable = message.durable_seq();
        let seq = match message {
            ServerMessage::Token { seq, .. } | ServerMessage::Partial { seq, .. } => Some(*seq),
            _ => durable,
        };
        Self {
            seq,
            durable: durable.is_some(),
            text: Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default()),
        }
    }
}

/// A turn in progress.
struct Turn {
    /// Tells this turn from the session's next one.
    id: u64,
    stop: CancellationToken,
    /// The `seq` the streaming answer will be recorded as, and its text so far.
    answer_seq: u32,
    partial: String,
}

#[derive(Default)]
struct LiveState {
    turn: Option<Turn>,
    /// The id of the last turn started.
    turns: u64,
}

/// A session with attached connections or a running turn.
struct Live {
    tx: broadcast::Sender<Frame>,
    state: Mutex<LiveState>,
}

impl Live {
    fn new() -> Self {
        Self {
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
            state: Mutex::new(LiveState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, message: &ServerMessage) {
        // No receiver is not an error: nobody is watching right now.
        let _ = self.tx.send(Frame::of(message));
    }
}

/// Hands one turn's output to the hub.
struct LiveSink {
    live: Arc<Live>,
    turn: u64,
}

impl LiveSink {
    /// Ends the turn unless a later one already started.
    fn finish(&self) {
        let mut state = self.live.lock();
        if state.turn.as_ref().is_some_and(|t| t.id == self.turn) {
            state.turn = None;
        }
    }
}

impl ChatSink for LiveSink {
    fn token(&self, seq: u32, text: &str) {
        let mut state = self.live.lock();
        if let Some(turn) = state.turn.as_mut().filter(|t| t.id == self.turn) {
            if turn.answer_seq != seq {
                turn.answer_seq = seq;
                turn.partial.clear();
            }
            turn.partial.push_str(text);
        }
        self.live.send(&ServerMessage::Token {
            seq,
            text: text.to_owned(),
        });
    }

    fn step(&self, step: &Step) {
        let Some(message) = ServerMessage::from_step(step) else {
            return;
        };
        let mut state = self.live.lock();
        if let Some(turn) = state.turn.as_mut().filter(|t| t.id == self.turn) {
            if matches!(message, ServerMessage::TurnEnd { .. }) {
                // Free before anyone hears of the end, so that a question sent on seeing it
                // is taken, not refused as busy.
                state.turn = None;
            } else if turn.answer_seq <= step.seq {
                turn.partial.clear();
            }
        }
        self.live.send(&message);
    }
}

/// What attaching to a session gives a connection.
pub struct Attached {
    pub session: ChatSession,
    /// The session message, the recorded steps after the client's `seq`, and the streaming
    /// answer so far, in the order to send them.
    pub backlog: Vec<Frame>,
    /// Everything the session produces from now on.
    pub rx: broadcast::Receiver<Frame>,
}

pub struct Chat {
    store: Arc<dyn Store>,
    investigations: Arc<Investigations>,
    runner: Arc<dyn ChatRunner>,
    live: Arc<Sessions>,
}

type Sessions = Mutex<HashMap<ChatSessionId, Arc<Live>>>;

fn lock_sessions(sessions: &Sessions) -> MutexGuard<'_, HashMap<ChatSessionId, Arc<Live>>> {
    sessions.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forgets the session's live entry when nothing uses it any more.
fn release(sessions: &Sessions, id: ChatSessionId) {
    let mut sessions = lock_sessions(sessions);
    if let Some(live) = sessions.get(&id)
        && live.tx.receiver_count() == 0
        && live.lock().turn.is_none()
    {
        sessions.remove(&id);
    }
}

impl Chat {
    pub fn new(
        store: Arc<dyn Store>,
        investigations: Arc<Investigations>,
        runner: Arc<dyn ChatRunner>,
    ) -> Self {
        Self {
            store,
            investigations,
            runner,
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<ChatSessionId, Arc<Live>>> {
        lock_sessions(&self.live)
    }

    fn live(&self, id: ChatSessionId) -> Arc<Live> {
        Arc::clone(
            self.sessions()
                .entry(id)
                .or_insert_with(|| Arc::new(Live::new())),
        )
    }

    fn existing(&self, id: ChatSessionId) -> Option<Arc<Live>> {
        self.sessions().get(&id).cloned()
    }

    /// Forgets the session's live entry when nothing uses it any more: a connection calls it
    /// when it detaches.
    pub fn release(&self, id: ChatSessionId) {
        release(&self.live, id);
    }

    /// How many sessions have attached connections or a running turn.
    pub fn live_sessions(&self) -> usize {
        self.sessions().len()
    }

    /// Whether the session is answering a question.
    pub fn is_running(&self, id: ChatSessionId) -> bool {
        self.existing(id)
            .is_some_and(|live| live.lock().turn.is_some())
    }

    pub async fn create(
        &self,
        org: OrgId,
        user: &User,
        title: Option<&str>,
        mode: ChatMode,
        incident: Option<IncidentId>,
    ) -> Result<ChatSession> {
        let title = match title.map(str::trim).filter(|t| !t.is_empty()) {
            Some(title) => validate_title(title)?,
            None => UNTITLED.to_owned(),
        };
        Ok(self
            .store
            .create_chat_session(
                org,
                NewChatSession {
                    title,
                    mode,
                    incident,
                    created_by: Some(user.id),
                },
                OffsetDateTime::now_utc(),
            )
            .await?)
    }

    pub async fn get(&self, org: OrgId, id: ChatSessionId) -> Result<ChatSession> {
        Ok(self.store.get_chat_session(org, id).await?)
    }

    pub async fn list(&self, org: OrgId) -> Result<Vec<ChatSession>> {
        Ok(self.store.list_chat_sessions(org, MAX_LISTED).await?)
    }

    /// The session's recorded messages after `after`.
    pub async fn messages(
        &self,
        org: OrgId,
        id: ChatSessionId,
        after: u32,
    ) -> Result<Vec<ServerMessage>> {
        let session = self.store.get_chat_session(org, id).await?;
        Ok(self
            .store
            .list_steps(org, session.investigation_id, Some(after))
            .await?
            .iter()
            .filter_map(ServerMessage::from_step)
            .collect())
    }

    /// Renames the session or changes its mode; attached connections get the new session.
    pub async fn update(
        &self,
        org: OrgId,
        id: ChatSessionId,
        title: Option<&str>,
        mode: Option<ChatMode>,
    ) -> Result<ChatSession> {
        let title = title.map(validate_title).transpose()?;
        let session = self
            .store
            .update_chat_session(
                org,
                id,
                &ChatSessionUpdate { title, mode },
                OffsetDateTime::now_utc(),
            )
            .await?;
        self.announce(&session);
        Ok(session)
    }

    /// Stops the session's turn, tells attached connections, and deletes it.
    pub async fn delete(&self, org: OrgId, id: ChatSessionId) -> Result<ChatSession> {
        self.store.get_chat_session(org, id).await?;
        if let Some(live) = self.existing(id) {
            if let Some(turn) = live.lock().turn.as_ref() {
                turn.stop.cancel();
            }
            live.send(&ServerMessage::error(
                aurora_core::chat::ProtocolErrorCode::NotFound,
                "this session was deleted",
            ));
        }
        let session = self.store.delete_chat_session(org, id).await?;
        self.sessions().remove(&id);
        Ok(session)
    }

    /// Attaches to the session: what was recorded after `after`, the answer streaming now,
    /// and a receiver for what follows.
    pub async fn attach(&self, org: OrgId, id: ChatSessionId, after: u32) -> Result<Attached> {
        let session = self.store.get_chat_session(org, id).await?;
        let live = self.live(id);
        let (rx, running, partial) = {
            let state = live.lock();
            let rx = live.tx.subscribe();
            let partial = state
                .turn
                .as_ref()
                .filter(|t| !t.partial.is_empty())
                .map(|t| (t.answer_seq, t.partial.clone()));
            (rx, state.turn.is_some(), partial)
        };
        let steps = match self
            .store
            .list_steps(org, session.investigation_id, Some(after))
            .await
        {
            Ok(steps) => steps,
            Err(err) => {
                drop(rx);
                self.release(id);
                return Err(err.into());
            }
        };
        let mut backlog = vec![Frame::of(&ServerMessage::Session {
            session: session.clone(),
            running,
        })];
        let mut last = after;
        for step in &steps {
            if let Some(message) = ServerMessage::from_step(step) {
                last = step.seq;
                backlog.push(Frame::of(&message));
            }
        }
        if let Some((seq, text)) = partial
            && seq > last
        {
            backlog.push(Frame::of(&ServerMessage::Partial { seq, text }));
        }
        Ok(Attached {
            session,
            backlog,
            rx,
        })
    }

    /// Records `user`'s question and starts answering it in the background.
    /// [`ChatError::Busy`] while the session answers another.
    pub async fn ask(
        &self,
        org: OrgId,
        user: &User,
        id: ChatSessionId,
        content: &str,
    ) -> Result<()> {
        let content = content.trim();
        if content.is_empty() {
            return Err(ChatError::Invalid("the question is empty".into()));
        }
        if content.len() > MAX_QUESTION_LEN {
            return Err(ChatError::Invalid(format!(
                "the question is {} bytes; the limit is {MAX_QUESTION_LEN}",
                content.len()
            )));
        }
        let session = self.store.get_chat_session(org, id).await?;
        let live = self.live(id);
        let stop = CancellationToken::new();
        let turn = {
            let mut state = live.lock();
            if state.turn.is_some() {
                return Err(ChatError::Busy);
            }
            state.turns += 1;
            state.turn = Some(Turn {
                id: state.turns,
                stop: stop.clone(),
                answer_seq: 0,
                partial: String::new(),
            });
            state.turns
        };
        let sink = LiveSink {
            live: Arc::clone(&live),
            turn,
        };
        let recorded = self
            .store
            .append_step(
                org,
                session.investigation_id,
                NewStep::new(
                    StepKind::Message,
                    json!({"role": "user", "content": content, "by": user.name, "user_id": user.id}),
                ),
                OffsetDateTime::now_utc(),
            )
            .await;
        let step = match recorded {
            Ok(step) => step,
            Err(err) => {
                sink.finish();
                self.release(id);
                return Err(err.into());
            }
        };
        sink.step(&step);
        let update = ChatSessionUpdate {
            title: (session.title == UNTITLED).then(|| title_from_question(content)),
            mode: None,
        };
        let session = match self
            .store
            .update_chat_session(org, id, &update, OffsetDateTime::now_utc())
            .await
        {
            Ok(updated) => {
                if update.title.is_some() {
                    self.announce(&updated);
                }
                updated
            }
            Err(err) => {
                tracing::warn!(%err, "cannot touch the chat session");
                session
            }
        };
        let runner = Arc::clone(&self.runner);
        let store = Arc::clone(&self.store);
        let sessions = Arc::clone(&self.live);
        tokio::spawn(async move {
            let outcome = runner.answer(&session, &sink, &stop).await;
            if let Err(message) = outcome {
                let end = store
                    .append_step(
                        session.org_id,
                        session.investigation_id,
                        NewStep::new(
                            StepKind::Finding,
                            json!({"kind": "turn_end", "outcome": TurnOutcome::Failed, "message": message}),
                        ),
                        OffsetDateTime::now_utc(),
                    )
                    .await;
                match end {
                    Ok(step) => sink.step(&step),
                    Err(err) => tracing::error!(%err, "cannot record the end of a chat turn"),
                }
            }
            // The turn's end freed the session already, unless the turn could not record it.
            sink.finish();
            drop(sink);
            release(&sessions, id);
        });
        Ok(())
    }

    /// Asks the session's running turn to stop. `false` when none runs.
    pub async fn stop(&self, org: OrgId, id: ChatSessionId) -> Result<bool> {
        self.store.get_chat_session(org, id).await?;
        Ok(match self.existing(id) {
            Some(live) => match live.lock().turn.as_ref() {
                Some(turn) => {
                    turn.stop.cancel();
                    true
                }
                None => false,
            },
            None => false,
        })
    }

    /// Records `user`'s decision on an approval of the session. [`StoreError::NotFound`] when
    /// the approval is not the session's.
    pub async fn decide(
        &self,
        org: OrgId,
        session: &ChatSession,
        approval: ApprovalId,
        approve: bool,
        user: &User,
        reason: Option<&str>,
    ) -> Result<Approval> {
        let found = self.store.get_approval(org, approval).await?;
        if found.investigation_id != session.investigation_id {
            return Err(StoreError::NotFound("approval").into());
        }
        Ok(self
            .investigations
            .decide(org, approval, approve, user.id, reason)
            .await?)
    }

    fn announce(&self, session: &ChatSession) {
        if let Some(live) = self.existing(session.id) {
            let running = live.lock().turn.is_some();
            live.send(&ServerMessage::Session {
                session: session.clone(),
                running,
            });
        }
    }
}

fn validate_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ChatError::Invalid("the title is empty".into()));
    }
    if title.len() > MAX_TITLE_LEN {
        return Err(ChatError::Invalid(format!(
            "the title must be at most {MAX_TITLE_LEN} bytes"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(ChatError::Invalid(
            "the title must not contain control characters".into(),
        ));
    }
    Ok(title.to_owned())
}
