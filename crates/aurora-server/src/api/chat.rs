//! `/api/v1/chat`: sessions over REST (list, create, read, rename, delete, messages, ask, stop),
//! the WebSocket protocol at `/api/v1/chat/ws` (documented in `docs/chat-protocol.md`), and the
//! audit log at `/api/v1/audit`.
//!
//! One connection is attached to at most one session at a time; `create` and `open` attach it.
//! A refused message gets an `error` frame and changes nothing else: the connection, and every
//! other session, go on. Frames larger than [`MAX_FRAME_BYTES`] are refused the same way;
//! beyond [`MAX_WIRE_BYTES`] the WebSocket layer closes the connection (1009, message too big).

use std::num::NonZeroU32;
use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::chat::{ChatMode, ChatSession, ClientMessage, ProtocolErrorCode, ServerMessage};
use aurora_core::ids::{ApprovalId, ChatSessionId, IncidentId};
use aurora_core::investigation::AuditEntry;
use aurora_core::model::{AuthMethod, Principal, Role};
use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::CurrentUser;
use crate::chat::{Attached, ChatError, Frame};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::investigations::InvestigationError;
use crate::state::AppState;

/// Largest client frame the protocol accepts. 64 KiB: a question is at most 16 KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest message the WebSocket layer reads at all; larger ones close the connection.
pub const MAX_WIRE_BYTES: usize = 1024 * 1024;
/// Messages one connection may send per second, sustained; bursts of [`BURST`] pass.
const PER_SECOND: u32 = 10;
const BURST: u32 = 20;
/// How often an idle connection is pinged, so that proxies keep it and dead peers are noticed.
const PING_EVERY: Duration = Duration::from_secs(30);

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            ChatError::Busy => ApiError::conflict("session_busy", ChatError::Busy.to_string()),
            ChatError::Store(StoreError::NotFound("incident"))
            | ChatError::Investigation(InvestigationError::Store(StoreError::NotFound(
                "incident",
            ))) => ApiError::not_found(
                "incident_not_found",
                "your organisation has no such incident",
            ),
            ChatError::Store(StoreError::NotFound(_)) => ApiError::not_found(
                "chat_session_not_found",
                "your organisation has no such chat session",
            ),
            ChatError::Store(err) => err.into(),
            ChatError::Investigation(err) => err.into(),
        }
    }
}

/// The protocol error for a failed request.
fn protocol_error(err: ChatError) -> ServerMessage {
    use ProtocolErrorCode as Code;
    let (code, message) = match err {
        ChatError::Invalid(message) => (Code::Invalid, message),
        ChatError::Busy => (Code::Busy, ChatError::Busy.to_string()),
        ChatError::Store(StoreError::NotFound(what))
        | ChatError::Investigation(InvestigationError::Store(StoreError::NotFound(what))) => (
            Code::NotFound,
            format!("your organisation has no such {what}"),
        ),
        ChatError::Store(StoreError::Conflict(message))
        | ChatError::Investigation(InvestigationError::Store(StoreError::Conflict(message))) => {
            (Code::Conflict, message)
        }
        ChatError::Investigation(InvestigationError::Invalid(message)) => (Code::Invalid, message),
        other => {
            tracing::error!(error = %other, "chat request failed");
            (
                Code::Unavailable,
                "the server could not do this now; try again".to_owned(),
            )
        }
    };
    ServerMessage::error(code, message)
}

fn session_id(raw: &str) -> Result<ChatSessionId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::not_found(
            "chat_session_not_found",
            "your organisation has no such chat session",
        )
    })
}

/// A session as the REST API shows it.
#[derive(Serialize)]
pub struct SessionView {
    #[serde(flatten)]
    session: ChatSession,
    /// A question is being answered.
    running: bool,
}

fn view(state: &AppState, session: ChatSession) -> SessionView {
    let running = state.chat().is_running(session.id);
    SessionView { session, running }
}

/// `GET /api/v1/chat/sessions`: most recently used first.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.chat().list(user.0.org_id()).await?;
    Ok(Json(
        sessions.into_iter().map(|s| view(&state, s)).collect(),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    title: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    incident_id: Option<String>,
}

fn parse_mode(raw: &str) -> Result<ChatMode, ApiError> {
    raw.parse()
        .map_err(|err: aurora_core::chat::UnknownChatMode| {
            ApiError::bad_request("invalid_request", err.to_string())
        })
}

fn parse_incident(raw: &str) -> Result<IncidentId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::not_found(
            "incident_not_found",
            "your organisation has no such incident",
        )
    })
}

/// `POST /api/v1/chat/sessions`.
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    user.require(Role::Editor)?;
    let mode = body
        .mode
        .as_deref()
        .map(parse_mode)
        .transpose()?
        .unwrap_or_default();
    let incident = body
        .incident_id
        .as_deref()
        .map(parse_incident)
        .transpose()?;
    let session = state
        .chat()
        .create(
            user.0.org_id(),
            &user.0.user,
            body.title.as_deref(),
            mode,
            incident,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, session))))
}

/// `GET /api/v1/chat/sessions/{id}`.
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let session = state.chat().get(user.0.org_id(), session_id(&id)?).await?;
    Ok(Json(view(&state, session)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSession {
    title: Option<String>,
    mode: Option<String>,
}

/// `PATCH /api/v1/chat/sessions/{id}`: rename, or switch between ask and agent mode.
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSession>,
) -> Result<Json<SessionView>, ApiError> {
    user.require(Role::Editor)?;
    let mode = body.mode.as_deref().map(parse_mode).transpose()?;
    let session = state
        .chat()
        .update(
            user.0.org_id(),
            session_id(&id)?,
            body.title.as_deref(),
            mode,
        )
        .await?;
    Ok(Json(view(&state, session)))
}

/// `DELETE /api/v1/chat/sessions/{id}`: stops its turn, deletes its messages.
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Editor)?;
    state
        .chat()
        .delete(user.0.org_id(), session_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    after: Option<u32>,
}

/// `GET /api/v1/chat/sessions/{id}/messages?after=N`: the recorded messages after `seq` N,
/// as the WebSocket sends them.
pub async fn messages(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<ServerMessage>>, ApiError> {
    let q: MessagesQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|err| ApiError::bad_request("invalid_request", format!("invalid query: {err}")))?;
    Ok(Json(
        state
            .chat()
            .messages(user.0.org_id(), session_id(&id)?, q.after.unwrap_or(0))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    content: String,
}

/// `POST /api/v1/chat/sessions/{id}/messages`: asks a question; the answer is recorded in the
/// background (read it from `messages`, or follow it on the WebSocket). 409 while the session
/// answers another.
pub async fn ask(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Ask>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Editor)?;
    state
        .chat()
        .ask(
            user.0.org_id(),
            &user.0.user,
            session_id(&id)?,
            &body.content,
        )
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Serialize)]
pub struct Stopped {
    /// Whether a turn was running.
    stopped: bool,
}

/// `POST /api/v1/chat/sessions/{id}/stop`: stops the running turn.
pub async fn stop(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Stopped>, ApiError> {
    user.require(Role::Editor)?;
    let stopped = state.chat().stop(user.0.org_id(), session_id(&id)?).await?;
    Ok(Json(Stopped { stopped }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/audit?limit=N`: decisions people made (approvals), newest first. Admins only.
pub async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    user.require(Role::Admin)?;
    let q: AuditQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|err| ApiError::bad_request("invalid_request", format!("invalid query: {err}")))?;
    Ok(Json(
        state
            .store()
            .list_audit(user.0.org_id(), q.limit.unwrap_or(100))
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/// `GET /api/v1/chat/ws`: upgrades to the chat protocol. A browser session must come from this
/// site (its `Origin` must match `Host`), so that another site cannot open a socket with the
/// user's cookie.
pub async fn ws(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if matches!(user.0.via, AuthMethod::Session { .. }) && !same_origin(&headers) {
        return Err(ApiError::forbidden(
            "the WebSocket must be opened from this site's pages",
        ));
    }
    let principal = user.0;
    Ok(upgrade
        .max_message_size(MAX_WIRE_BYTES)
        .max_frame_size(MAX_WIRE_BYTES)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| Connection::new(state, principal).run(socket))
        .into_response())
}

fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/').eq_ignore_ascii_case(host)),
        // Not a browser: browsers always send Origin on a WebSocket handshake.
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// The session a connection is attached to.
struct Attachment {
    session: ChatSession,
    rx: tokio::sync::broadcast::Receiver<Frame>,
    /// The last durable `seq` sent.
    last: u32,
}

struct Connection {
    state: AppState,
    principal: Principal,
    attached: Option<Attachment>,
    limiter: governor::DefaultDirectRateLimiter,
}

/// What to send, or that the connection is done.
enum Out {
    Frames(Vec<Frame>),
    Close,
}

impl Connection {
    fn new(state: AppState, principal: Principal) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(PER_SECOND).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN));
        Self {
            state,
            principal,
            attached: None,
            limiter: RateLimiter::direct(quota),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut tx, mut rx) = socket.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let out = tokio::select! {
                incoming = rx.next() => match incoming {
                    Some(Ok(message)) => self.receive(message).await,
                    _ => Out::Close,
                },
                frame = next_frame(&mut self.attached) => self.forward(frame).await,
                _ = ping.tick() => {
                    if tx.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            match out {
                Out::Close => break,
                Out::Frames(frames) => {
                    let mut failed = false;
                    for frame in frames {
                        if let Some(a) = self.attached.as_mut()
                            && frame.durable
                        {
                            a.last = a.last.max(frame.seq.unwrap_or(0));
                        }
                        if tx.send(Message::Text(frame.text)).await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if failed {
                        break;
                    }
                }
            }
        }
        self.detach();
    }

    fn detach(&mut self) {
        if let Some(a) = self.attached.take() {
            let id = a.session.id;
            drop(a);
            self.state.chat().release(id);
        }
    }

    /// A frame from the attached session, filtered against what was already sent.
    async fn forward(&mut self, frame: Result<Frame, RecvError>) -> Out {
        let Some(a) = self.attached.as_ref() else {
            return Out::Frames(Vec::new());
        };
        match frame {
            Ok(frame) => {
                // A durable frame the backlog already had, or a token of an answer already
                // recorded.
                if frame.seq.is_some_and(|seq| seq <= a.last) {
                    return Out::Frames(Vec::new());
                }
                Out::Frames(vec![frame])
            }
            Err(RecvError::Lagged(_)) => {
                // Too slow for the live stream: start again from the store.
                let (id, last) = (a.session.id, a.last);
                self.attach(id, last).await
            }
            Err(RecvError::Closed) => {
                // The session was deleted; its hub entry is gone.
                self.detach();
                Out::Frames(Vec::new())
            }
        }
    }

    async fn receive(&mut self, message: Message) -> Out {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return error(
                    ProtocolErrorCode::BadFrame,
                    "send JSON objects in text frames, not binary frames",
                );
            }
            Message::Close(_) => return Out::Close,
            Message::Ping(_) | Message::Pong(_) => return Out::Frames(Vec::new()),
        };
        if text.len() > MAX_FRAME_BYTES {
            return error(
                ProtocolErrorCode::FrameTooLarge,
                format!(
                    "the frame is {} bytes; the limit is {MAX_FRAME_BYTES}",
                    text.len()
                ),
            );
        }
        if self.limiter.check().is_err() {
            return error(
                ProtocolErrorCode::RateLimited,
                format!(
                    "too many messages: at most {PER_SECOND} per second (bursts of {BURST}); \
                     this one was dropped"
                ),
            );
        }
        let message = match parse(text.as_str()) {
            Ok(message) => message,
            Err((code, why)) => return error(code, why),
        };
        self.handle(message).await
    }

    async fn handle(&mut self, message: ClientMessage) -> Out {
        let org = self.principal.org_id();
        let editor = self.principal.user.role.allows(Role::Editor);
        let needs_editor = !matches!(message, ClientMessage::Open { .. } | ClientMessage::Ping {});
        if needs_editor && !editor {
            return error(
                ProtocolErrorCode::Forbidden,
                format!(
                    "this needs the editor role; you are {}",
                    self.principal.user.role
                ),
            );
        }
        match message {
            ClientMessage::Ping {} => Out::Frames(vec![Frame::of(&ServerMessage::Pong)]),
            ClientMessage::Create {
                mode,
                incident,
                title,
            } => {
                let created = self
                    .state
                    .chat()
                    .create(org, &self.principal.user, title.as_deref(), mode, incident)
                    .await;
                match created {
                    Ok(session) => self.attach(session.id, 0).await,
                    Err(err) => Out::Frames(vec![Frame::of(&protocol_error(err))]),
                }
            }
            ClientMessage::Open { session, after } => self.attach(session, after).await,
            ClientMessage::Ask { content } => {
                let Some(id) = self.attached.as_ref().map(|a| a.session.id) else {
                    return no_session();
                };
                match self
                    .state
                    .chat()
                    .ask(org, &self.principal.user, id, &content)
                    .await
                {
                    Ok(()) => Out::Frames(Vec::new()),
                    Err(err) => Out::Frames(vec![Frame::of(&protocol_error(err))]),
                }
            }
            ClientMessage::Stop {} => {
                let Some(id) = self.attached.as_ref().map(|a| a.session.id) else {
                    return no_session();
                };
                match self.state.chat().stop(org, id).await {
                    Ok(_) => Out::Frames(Vec::new()),
                    Err(err) => Out::Frames(vec![Frame::of(&protocol_error(err))]),
                }
            }
            ClientMessage::Approve { approval, reason } => {
                self.decide(approval, true, reason).await
            }
            ClientMessage::Reject { approval, reason } => {
                self.decide(approval, false, reason).await
            }
        }
    }

    /// Records the decision on an approval of the attached session. The turn waiting for it
    /// goes on by itself; its `approval` frame shows the decision to every attached client.
    async fn decide(&mut self, approval: ApprovalId, approve: bool, reason: Option<String>) -> Out {
        let Some(session) = self.attached.as_ref().map(|a| a.session.clone()) else {
            return no_session();
        };
        let decided = self
            .state
            .chat()
            .decide(
                self.principal.org_id(),
                &session,
                approval,
                approve,
                &self.principal.user,
                reason.as_deref(),
            )
            .await;
        match decided {
            Ok(_) => Out::Frames(Vec::new()),
            Err(err) => Out::Frames(vec![Frame::of(&protocol_error(err))]),
        }
    }

    /// Attaches to the session, replacing any earlier attachment.
    async fn attach(&mut self, id: ChatSessionId, after: u32) -> Out {
        let org = self.principal.org_id();
        let previous = self.attached.as_ref().map(|a| a.session.id);
        let attached = self.state.chat().attach(org, id, after).await;
        match attached {
            Ok(Attached {
                session,
                backlog,
                rx,
            }) => {
                let old = self.attached.replace(Attachment {
                    session,
                    rx,
                    last: after,
                });
                drop(old);
                if let Some(previous) = previous.filter(|p| *p != id) {
                    self.state.chat().release(previous);
                }
                Out::Frames(backlog)
            }
            Err(err) => Out::Frames(vec![Frame::of(&protocol_error(err))]),
        }
    }
}

/// The next frame of the attached session; pending forever when none is attached.
async fn next_frame(attached: &mut Option<Attachment>) -> Result<Frame, RecvError> {
    match attached {
        Some(a) => a.rx.recv().await,
        None => std::future::pending().await,
    }
}

fn error(code: ProtocolErrorCode, message: impl Into<String>) -> Out {
    Out::Frames(vec![Frame::of(&ServerMessage::error(code, message))])
}

fn no_session() -> Out {
    error(
        ProtocolErrorCode::NoSession,
        "no session is attached: send create or open first",
    )
}

/// A client frame as a message, or the protocol error that says what is wrong with it.
fn parse(text: &str) -> Result<ClientMessage, (ProtocolErrorCode, String)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
        (
            ProtocolErrorCode::BadFrame,
            format!("the frame is not JSON: {err}"),
        )
    })?;
    let Some(kind) = value
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
    else {
        return Err((
            ProtocolErrorCode::BadFrame,
            "send a JSON object with a \"type\" field".to_owned(),
        ));
    };
    if !ClientMessage::TYPES.contains(&kind.as_str()) {
        return Err((
            ProtocolErrorCode::UnknownType,
            format!(
                "unknown message type {kind:?}: use one of {}",
                ClientMessage::TYPES.join(", ")
            ),
        ));
    }
    serde_json::from_value(value).map_err(|err| {
        (
            ProtocolErrorCode::Invalid,
            format!("a {kind} message: {err}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_parsed_or_refused_with_a_reason() {
        assert!(matches!(
            parse(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping {})
        ));
        let code = |text: &str| match parse(text) {
            Err((code, _)) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code("{not json"), ProtocolErrorCode::BadFrame);
        assert_eq!(code("[1,2]"), ProtocolErrorCode::BadFrame);
        assert_eq!(code(r#"{"type":"dance"}"#), ProtocolErrorCode::UnknownType);
        assert_eq!(
            code(r#"{"type":"open","session":"nope"}"#),
            ProtocolErrorCode::Invalid
        );
        assert_eq!(
            code(r#"{"type":"ask","content":1}"#),
            ProtocolErrorCode::Invalid
        );
    }

    #[test]
    fn only_this_sites_pages_may_use_the_session_cookie() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "aurora.example:8080".parse().unwrap());
            if let Some(origin) = origin {
                h.insert(header::ORIGIN, origin.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(Some("https://aurora.example:8080"))));
        assert!(!same_origin(&headers(Some("https://evil.example"))));
        assert!(same_origin(&headers(None)));
    }
}
