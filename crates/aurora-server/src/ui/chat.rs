//! The Chat page: the organisation's conversations on the left, one conversation on the right.
//!
//! The pages are server-rendered shells: the session list, the new-conversation form, and a
//! session's title, mode and controls (rename, delete) work without JavaScript. The
//! conversation itself is drawn by `chat.js` over the WebSocket protocol
//! (`docs/chat-protocol.md`): it opens the session, replays what was recorded, follows the
//! answer as it streams, shows tool calls as cards and takes approvals.

use askama::Template;
use aurora_core::chat::{ChatMode, ChatSession, MAX_QUESTION_LEN, MAX_TITLE_LEN};
use aurora_core::ids::{ChatSessionId, IncidentId};
use aurora_core::model::Role;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Layout, see_other, when};
use super::{AssetUrls, UiError, assets, render};
use crate::api::incident_id;
use crate::auth::UiUser;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::state::AppState;

/// A session in the list on the left.
struct SessionRow {
    id: String,
    title: String,
    mode: &'static str,
    updated: String,
    running: bool,
    active: bool,
    has_incident: bool,
}

/// The incident a new conversation will be about.
struct IncidentRef {
    id: String,
    title: String,
}

#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage {
    assets: &'static AssetUrls,
    layout: Layout,
    sessions: Vec<SessionRow>,
    can_edit: bool,
    csrf: String,
    /// `/chat?incident=…`: the new conversation is about this incident.
    incident: Option<IncidentRef>,
    modes: Vec<&'static str>,
    max_title_len: usize,
}

/// One conversation: the shell `chat.js` fills.
struct SessionView {
    id: String,
    title: String,
    mode: &'static str,
    created: String,
    incident: Option<IncidentRef>,
    running: bool,
    tokens: u64,
    cost: String,
}

#[derive(Template)]
#[template(path = "chat_session.html")]
struct ChatSessionPage {
    assets: &'static AssetUrls,
    layout: Layout,
    sessions: Vec<SessionRow>,
    session: SessionView,
    can_edit: bool,
    csrf: String,
    modes: Vec<&'static str>,
    max_title_len: usize,
    max_question_len: usize,
}

const MODES: [ChatMode; 2] = [ChatMode::Ask, ChatMode::Agent];

fn modes() -> Vec<&'static str> {
    MODES.iter().map(|m| m.as_str()).collect()
}

fn can_edit(user: &UiUser) -> bool {
    user.0.user.role.allows(Role::Editor)
}

fn require_editor(user: &UiUser) -> Result<(), UiError> {
    if can_edit(user) {
        Ok(())
    } else {
        Err(UiError(ApiError::forbidden(format!(
            "changing conversations needs the editor role; you are {}",
            user.0.user.role
        ))))
    }
}

fn session_id(raw: &str) -> Result<ChatSessionId, UiError> {
    raw.parse().map_err(|_| {
        UiError(ApiError::not_found(
            "chat_session_not_found",
            "your organisation has no such chat session",
        ))
    })
}

async fn session_rows(
    state: &AppState,
    user: &UiUser,
    active: Option<ChatSessionId>,
) -> Result<Vec<SessionRow>, UiError> {
    let sessions = state.chat().list(user.0.org_id()).await?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            running: state.chat().is_running(s.id),
            active: Some(s.id) == active,
            mode: s.mode.as_str(),
            updated: when(Some(s.updated_at), ""),
            has_incident: s.incident_id.is_some(),
            title: s.title,
        })
        .collect())
}

/// The incident's title, or its id when it cannot be read.
async fn incident_ref(state: &AppState, user: &UiUser, id: IncidentId) -> Option<IncidentRef> {
    match state.store().get_incident(user.0.org_id(), id).await {
        Ok(detail) => Some(IncidentRef {
            id: id.to_string(),
            title: detail.incident.title,
        }),
        Err(_) => None,
    }
}

#[derive(Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    incident: String,
}

/// `GET /chat` (and `/chat?incident=…`, which offers a conversation about that incident).
pub async fn page(
    State(state): State<AppState>,
    user: UiUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, UiError> {
    let q: ListQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default();
    let incident = match q.incident.trim() {
        "" => None,
        raw => {
            let id = incident_id(raw)?;
            Some(incident_ref(&state, &user, id).await.ok_or_else(|| {
                UiError(ApiError::not_found(
                    "incident_not_found",
                    "your organisation has no such incident",
                ))
            })?)
        }
    };
    let page = ChatPage {
        assets: assets::urls(),
        layout: Layout::new(&state, &user, "chat"),
        sessions: session_rows(&state, &user, None).await?,
        can_edit: can_edit(&user),
        csrf: user.csrf_token().to_owned(),
        incident,
        modes: modes(),
        max_title_len: MAX_TITLE_LEN,
    };
    Ok(render(&page))
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    incident: String,
}

fn parse_mode(raw: &str) -> Result<ChatMode, UiError> {
    match raw.trim() {
        "" => Ok(ChatMode::default()),
        raw => raw
            .parse()
            .map_err(|err: aurora_core::chat::UnknownChatMode| {
                UiError(ApiError::bad_request("invalid_request", err.to_string()))
            }),
    }
}

/// `POST /chat`: creates a conversation (about an incident when the form names one) and opens
/// it.
pub async fn create(
    State(state): State<AppState>,
    user: UiUser,
    ApiForm(form): ApiForm<CreateForm>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let mode = parse_mode(&form.mode)?;
    let incident = match form.incident.trim() {
        "" => None,
        raw => Some(incident_id(raw)?),
    };
    let title = Some(form.title.trim()).filter(|t| !t.is_empty());
    let session = state
        .chat()
        .create(user.0.org_id(), &user.0.user, title, mode, incident)
        .await?;
    Ok(see_other(&format!("/chat/{}", session.id)))
}

async fn session_view(state: &AppState, user: &UiUser, session: ChatSession) -> SessionView {
    let incident = match session.incident_id {
        Some(id) => Some(
            incident_ref(state, user, id)
                .await
                .unwrap_or_else(|| IncidentRef {
                    id: id.to_string(),
                    title: id.to_string(),
                }),
        ),
        None => None,
    };
    SessionView {
        id: session.id.to_string(),
        running: state.chat().is_running(session.id),
        mode: session.mode.as_str(),
        created: when(Some(session.created_at), ""),
        incident,
        tokens: session.usage.input_tokens + session.usage.output_tokens,
        cost: format!("${:.4}", session.cost_usd),
        title: session.title,
    }
}

/// `GET /chat/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = session_id(&id)?;
    let session = state.chat().get(user.0.org_id(), id).await?;
    let page = ChatSessionPage {
        assets: assets::urls(),
        layout: Layout::new(&state, &user, "chat"),
        sessions: session_rows(&state, &user, Some(id)).await?,
        session: session_view(&state, &user, session).await,
        can_edit: can_edit(&user),
        csrf: user.csrf_token().to_owned(),
        modes: modes(),
        max_title_len: MAX_TITLE_LEN,
        max_question_len: MAX_QUESTION_LEN,
    };
    Ok(render(&page))
}

#[derive(Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    mode: String,
}

/// `POST /chat/{id}`: renames the conversation or switches its mode.
pub async fn update(
    State(state): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<UpdateForm>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let id = session_id(&id)?;
    let title = Some(form.title.trim()).filter(|t| !t.is_empty());
    let mode = match form.mode.trim() {
        "" => None,
        raw => Some(parse_mode(raw)?),
    };
    state
        .chat()
        .update(user.0.org_id(), id, title, mode)
        .await?;
    Ok(see_other(&format!("/chat/{id}")))
}

/// `POST /chat/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let id = session_id(&id)?;
    state.chat().delete(user.0.org_id(), id).await?;
    Ok(see_other("/chat"))
}
