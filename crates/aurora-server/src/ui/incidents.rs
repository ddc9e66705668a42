//! The incident pages: the list with its filters and cursor pages, kept live by an SSE stream
//! of the organisation's events, and one incident with its alerts, timeline and controls.
//!
//! The list re-fetches its partial when an event arrives; events carry ids only, so the page
//! always shows what the store says. Without JavaScript the filters are a plain GET form and
//! the controls plain POST forms.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use aurora_core::StoreError;
use aurora_core::alert::Severity;
use aurora_core::events::Received;
use aurora_core::ids::{IncidentId, UserId};
use aurora_core::incident::{
    Actor, EventKind, Incident, IncidentChange, IncidentDetail, IncidentEvent, IncidentStatus,
    MAX_COMMENT_LEN, StoredAlert,
};
use aurora_core::model::Role;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

use super::investigation::{self, InvestigationView};
use super::pages::{Layout, capitalise, is_htmx, see_other, when};
use super::{AssetUrls, UiError, assets, render};
use crate::api::incident_filter;
use crate::auth::UiUser;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::state::AppState;

/// How often an idle event stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Labels and annotations shown per alert; the rest are counted.
const MAX_SHOWN_PAIRS: usize = 40;
/// Longest label or annotation value shown; longer ones are cut with an ellipsis.
const MAX_SHOWN_VALUE: usize = 300;

/// The SSE events on which the list re-fetches itself; `resync` follows missed events.
pub const LIST_TRIGGERS: &str =
    "sse:incident_opened, sse:incident_updated, sse:alert_received, sse:resync";

// ---------------------------------------------------------------------------------------------
// List

struct IncidentRow {
    id: String,
    title: String,
    status: &'static str,
    severity: &'static str,
    service: String,
    environment: String,
    opened: String,
}

/// The current filters, to fill the form and build links.
#[derive(Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

impl ListQuery {
    fn filtered(&self) -> bool {
        [&self.status, &self.severity, &self.service, &self.q]
            .iter()
            .any(|v| !v.trim().is_empty())
    }

    /// The query string of these filters (without the cursor), then `cursor` if given.
    fn href(&self, cursor: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = [
            ("status", self.status.as_str()),
            ("severity", self.severity.as_str()),
            ("service", self.service.as_str()),
            ("q", self.q.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor));
        }
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if query.is_empty() {
            "/incidents".to_owned()
        } else {
            format!("/incidents?{query}")
        }
    }
}

struct ListView {
    rows: Vec<IncidentRow>,
    filters: ListQuery,
    filtered: bool,
    /// The same list again, for the live refresh.
    refresh_href: String,
    next_href: Option<String>,
    first_href: Option<String>,
    statuses: [&'static str; 4],
    severities: [&'static str; 5],
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    assets: &'static AssetUrls,
    layout: Layout,
    list: ListView,
    triggers: &'static str,
}

#[derive(Template)]
#[template(path = "_incident_list.html")]
struct IncidentListPartial {
    list: ListView,
}

fn incident_row(incident: Incident) -> IncidentRow {
    IncidentRow {
        id: incident.id.to_string(),
        opened: when(Some(incident.created_at), ""),
        title: incident.title,
        status: incident.status.as_str(),
        severity: incident.severity.as_str(),
        service: incident.service.unwrap_or_default(),
        environment: incident.environment.unwrap_or_default(),
    }
}

/// `GET /incidents`: the page, or only the list for htmx.
pub async fn list(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let filter = incident_filter(query.as_deref())?;
    let filters: ListQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let page = state
        .signals()
        .list_incidents(user.0.org_id(), &filter)
        .await?;
    let list = ListView {
        refresh_href: filters.href(non_empty(&filters.cursor)),
        next_href: page.next.map(|next| filters.href(Some(&next.to_string()))),
        first_href: non_empty(&filters.cursor).map(|_| filters.href(None)),
        filtered: filters.filtered(),
        rows: page.incidents.into_iter().map(incident_row).collect(),
        filters,
        statuses: IncidentStatus::ALL.map(IncidentStatus::as_str),
        severities: Severity::ALL.map(Severity::as_str),
    };
    if is_htmx(&headers) {
        return Ok(render(&IncidentListPartial { list }));
    }
    Ok(render(&IncidentsPage {
        assets: assets::urls(),
        layout: Layout::new(&state, &user, "incidents"),
        list,
        triggers: LIST_TRIGGERS,
    }))
}

fn non_empty(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.trim().is_empty())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this incident's events (and `alert_received`, which may concern it).
    incident: Option<String>,
}

/// `GET /incidents/events`: the organisation's events as server-sent events named after the
/// event (`incident_opened`, `incident_updated`, `alert_received`, `investigation_updated`),
/// each with its ids as JSON data, and `resync` when the stream opens and after missed events.
/// `?incident=<id>` leaves out other incidents' events.
pub async fn events(
    State(state): State<AppState>,
    user: UiUser,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let query: EventsQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|err| ApiError::bad_request("invalid_request", format!("invalid query: {err}")))?;
    let only = query.incident.as_deref().map(parse_id).transpose()?;
    let subscription = state.signals().subscribe(user.0.org_id());
    let stream = futures::stream::unfold(subscription, move |mut subscription| async move {
        let event = loop {
            match subscription.next().await? {
                Received::Event(event)
                    if only.is_some_and(|id| event.incident().is_some_and(|i| i != id)) => {}
                Received::Event(event) => {
                    break Event::default()
                        .event(event.name())
                        .json_data(event)
                        .unwrap_or_else(|_| Event::default().event("resync").data("{}"));
                }
                Received::Missed => break Event::default().event("resync").data("{}"),
            }
        };
        Some((Ok(event), subscription))
    });
    // The page re-reads itself on the opening `resync`: what changed between its render and
    // this subscription (or while a form's swap reconnected the stream) is not missed.
    let opening = futures::stream::once(async { Ok(Event::default().event("resync").data("{}")) });
    Ok(Sse::new(opening.chain(stream)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

// ---------------------------------------------------------------------------------------------
// One incident

struct Pair {
    name: String,
    value: String,
}

struct AlertRow {
    title: String,
    description: String,
    status: &'static str,
    severity: &'static str,
    source: String,
    fingerprint: String,
    first_seen: String,
    last_seen: String,
    repeats: u64,
    link: Option<String>,
    labels: Vec<Pair>,
    annotations: Vec<Pair>,
    hidden_pairs: usize,
}

struct TimelineRow {
    at: String,
    actor: String,
    kind: &'static str,
    label: &'static str,
    text: String,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct IncidentView {
    id: String,
    title: String,
    status: &'static str,
    severity: &'static str,
    service: String,
    environment: String,
    assignee: String,
    opened: String,
    updated: String,
    resolved: Option<String>,
    /// The incident this one was merged into.
    merged_into: Option<String>,
    alerts: Vec<AlertRow>,
    /// All the incident's alerts, of which `alerts` shows the first.
    alerts_total: u64,
    timeline: Vec<TimelineRow>,
    /// All the timeline's entries, of which `timeline` shows the latest.
    timeline_total: u64,
    can_edit: bool,
    csrf: String,
    statuses: Vec<Choice>,
    severities: Vec<Choice>,
    assignees: Vec<Choice>,
    error: Option<String>,
    comment: String,
    max_comment: usize,
    /// The newest investigation, if there is one.
    investigation: Option<InvestigationView>,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    assets: &'static AssetUrls,
    layout: Layout,
    incident: IncidentView,
}

#[derive(Template)]
#[template(path = "_incident.html")]
struct IncidentPartial {
    incident: IncidentView,
}

fn not_found(id: &str) -> UiError {
    UiError(ApiError::not_found(
        "incident_not_found",
        format!("Your organisation has no incident {id}."),
    ))
}

pub(super) fn parse_id(raw: &str) -> Result<IncidentId, UiError> {
    raw.parse().map_err(|_| not_found(raw))
}

fn store_error(err: StoreError, id: &str) -> UiError {
    match err {
        StoreError::NotFound("user") => UiError(ApiError::bad_request(
            "invalid_request",
            "the assignee is not a user of your organisation",
        )),
        StoreError::NotFound(_) => not_found(id),
        other => other.into(),
    }
}

/// Cuts `value` to [`MAX_SHOWN_VALUE`] characters.
fn shown(value: &str) -> String {
    if value.chars().count() > MAX_SHOWN_VALUE {
        let cut: String = value.chars().take(MAX_SHOWN_VALUE).collect();
        format!("{cut}…")
    } else {
        value.to_owned()
    }
}

/// Only web links are made clickable: a sender could put `javascript:` in an alert.
fn web_link(link: Option<&str>) -> Option<String> {
    link.filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .map(str::to_owned)
}

fn alert_row(alert: StoredAlert, sources: &HashMap<String, String>) -> AlertRow {
    let source_id = alert.source_id.to_string();
    let a = alert.alert;
    let total = a.labels.len() + a.annotations.len();
    let pairs = |map: &std::collections::BTreeMap<String, String>, room: usize| {
        map.iter()
            .take(room)
            .map(|(name, value)| Pair {
                name: shown(name),
                value: shown(value),
            })
            .collect::<Vec<_>>()
    };
    let labels = pairs(&a.labels, MAX_SHOWN_PAIRS);
    let annotations = pairs(&a.annotations, MAX_SHOWN_PAIRS - labels.len());
    AlertRow {
        hidden_pairs: total - labels.len() - annotations.len(),
        labels,
        annotations,
        source: sources.get(&source_id).cloned().unwrap_or(source_id),
        fingerprint: a.fingerprint.to_string(),
        title: shown(&a.title),
        description: shown(&a.description),
        status: a.status.as_str(),
        severity: a.severity.as_str(),
        first_seen: when(Some(alert.first_seen_at), ""),
        last_seen: when(Some(alert.last_seen_at), ""),
        repeats: alert.repeat_count,
        link: web_link(a.link.as_deref()),
    }
}

fn text_of(detail: &Value, key: &str) -> String {
    match detail.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn timeline_row(
    event: IncidentEvent,
    users: &HashMap<String, String>,
    sources: &HashMap<String, String>,
) -> TimelineRow {
    let actor = match event.actor {
        Actor::User(id) => users
            .get(&id.to_string())
            .cloned()
            .unwrap_or_else(|| "a former user".to_owned()),
        Actor::Source(id) => sources.get(&id.to_string()).map_or_else(
            || "an alert source".to_owned(),
            |name| format!("source {name}"),
        ),
        Actor::System => "Aurora".to_owned(),
    };
    let d = &event.detail;
    let person = |key: &str| match d.get(key).and_then(Value::as_str) {
        Some(id) => users.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        None => "nobody".to_owned(),
    };
    let with_reason = |text: String| match text_of(d, "reason") {
        reason if reason.is_empty() => text,
        reason => format!("{text} ({reason})"),
    };
    let (label, text) = match event.kind {
        EventKind::Opened => ("Opened", text_of(d, "title")),
        EventKind::AlertAttached => ("Alert attached", with_reason(text_of(d, "title"))),
        EventKind::AlertUpdated => {
            let changed = d
                .get("changed")
                .and_then(Value::as_array)
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            ("Alert updated", format!("changed: {changed}"))
        }
        EventKind::AlertResolved => ("Alert resolved", text_of(d, "title")),
        EventKind::StatusChanged => (
            "Status",
            with_reason(format!("{} → {}", text_of(d, "from"), text_of(d, "to"))),
        ),
        EventKind::SeverityChanged => (
            "Severity",
            with_reason(format!("{} → {}", text_of(d, "from"), text_of(d, "to"))),
        ),
        EventKind::AssigneeChanged => {
            ("Assignee", format!("{} → {}", person("from"), person("to")))
        }
        EventKind::Comment => ("Comment", text_of(d, "text")),
        EventKind::Merged => (
            "Merged",
            format!("{} → {}", text_of(d, "from"), text_of(d, "into")),
        ),
    };
    TimelineRow {
        at: when(Some(event.at), ""),
        actor,
        kind: event.kind.as_str(),
        label,
        text,
    }
}

fn choices<T: Copy + PartialEq>(all: &[T], current: T, name: fn(T) -> &'static str) -> Vec<Choice> {
    all.iter()
        .map(|&value| Choice {
            value: name(value).to_owned(),
            label: name(value).to_owned(),
            selected: value == current,
        })
        .collect()
}

async fn incident_view(
    state: &AppState,
    user: &UiUser,
    detail: IncidentDetail,
    error: Option<String>,
    comment: String,
) -> Result<IncidentView, UiError> {
    let org = user.0.org_id();
    let people = state.store().list_users(org).await?;
    let users: HashMap<String, String> = people
        .iter()
        .map(|u| (u.id.to_string(), u.name.clone()))
        .collect();
    let sources: HashMap<String, String> = state
        .signals()
        .list_sources(org)
        .await?
        .into_iter()
        .map(|s| (s.id.to_string(), s.name))
        .collect();
    let IncidentDetail {
        incident,
        alerts,
        alerts_total,
        timeline,
        timeline_total,
    } = detail;
    let investigation = investigation::view(state, user, incident.id).await?;
    let assignee_id = incident.assignee.map(|id| id.to_string());
    let mut assignees = vec![Choice {
        value: String::new(),
        label: "Nobody".to_owned(),
        selected: assignee_id.is_none(),
    }];
    assignees.extend(people.iter().map(|u| Choice {
        value: u.id.to_string(),
        label: u.name.clone(),
        selected: assignee_id.as_deref() == Some(&u.id.to_string()),
    }));
    Ok(IncidentView {
        id: incident.id.to_string(),
        assignee: assignee_id.as_ref().map_or_else(
            || "nobody".to_owned(),
            |id| users.get(id).cloned().unwrap_or_else(|| id.clone()),
        ),
        title: incident.title,
        status: incident.status.as_str(),
        severity: incident.severity.as_str(),
        service: incident.service.unwrap_or_default(),
        environment: incident.environment.unwrap_or_default(),
        opened: when(Some(incident.created_at), ""),
        updated: when(Some(incident.updated_at), ""),
        resolved: incident.resolved_at.map(|at| when(Some(at), "")),
        merged_into: incident.merged_into.map(|id| id.to_string()),
        alerts: alerts.into_iter().map(|a| alert_row(a, &sources)).collect(),
        alerts_total,
        timeline_total,
        timeline: timeline
            .into_iter()
            .rev()
            .map(|e| timeline_row(e, &users, &sources))
            .collect(),
        can_edit: user.0.user.role.allows(Role::Editor),
        csrf: user.csrf_token().to_owned(),
        statuses: choices(
            &IncidentStatus::ALL,
            incident.status,
            IncidentStatus::as_str,
        ),
        severities: choices(&Severity::ALL, incident.severity, Severity::as_str),
        assignees,
        error,
        comment,
        max_comment: MAX_COMMENT_LEN,
        investigation,
    })
}

/// The incident page, or only its main part for htmx.
async fn incident_response(
    state: &AppState,
    user: UiUser,
    headers: &HeaderMap,
    raw_id: &str,
    status: StatusCode,
    error: Option<String>,
    comment: String,
) -> Result<Response, UiError> {
    let id = parse_id(raw_id)?;
    let detail = state
        .signals()
        .get_incident(user.0.org_id(), id)
        .await
        .map_err(|err| store_error(err, raw_id))?;
    let incident = incident_view(state, &user, detail, error, comment).await?;
    let body = if is_htmx(headers) {
        render(&IncidentPartial { incident })
    } else {
        render(&IncidentPage {
            assets: assets::urls(),
            layout: Layout::new(state, &user, "incidents"),
            incident,
        })
    };
    Ok((status, body).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    incident_response(
        &state,
        user,
        &headers,
        &id,
        StatusCode::OK,
        None,
        String::new(),
    )
    .await
}

/// A failed change is shown on the page with the form as it was; htmx swaps only successful
/// responses by default, so for htmx it is sent as 200.
pub(super) async fn after_change(
    state: &AppState,
    user: UiUser,
    headers: &HeaderMap,
    id: &str,
    outcome: Result<(), UiError>,
    comment: String,
) -> Result<Response, UiError> {
    match outcome {
        Ok(()) if is_htmx(headers) => {
            incident_response(
                state,
                user,
                headers,
                id,
                StatusCode::OK,
                None,
                String::new(),
            )
            .await
        }
        Ok(()) => Ok(see_other(&format!("/incidents/{id}"))),
        Err(UiError(err))
            if err.status.is_client_error() && err.status != StatusCode::NOT_FOUND =>
        {
            let status = if is_htmx(headers) {
                StatusCode::OK
            } else {
                err.status
            };
            let message = Some(capitalise(&err.message));
            incident_response(state, user, headers, id, status, message, comment).await
        }
        Err(err) => Err(err),
    }
}

pub(super) fn require_editor(user: &UiUser) -> Result<(), UiError> {
    if user.0.user.role.allows(Role::Editor) {
        Ok(())
    } else {
        Err(UiError(ApiError::forbidden(format!(
            "changing incidents needs the editor role; you are {}",
            user.0.user.role
        ))))
    }
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    /// A user id, empty for nobody; absent leaves the assignee as it is.
    assignee: Option<String>,
}

fn parse_change(form: &ChangeForm) -> Result<IncidentChange, UiError> {
    let invalid = |message: String| UiError(ApiError::bad_request("invalid_request", message));
    let status = non_empty(&form.status)
        .map(str::parse::<IncidentStatus>)
        .transpose()
        .map_err(|err| invalid(err.to_string()))?;
    let severity = non_empty(&form.severity)
        .map(str::parse::<Severity>)
        .transpose()
        .map_err(|err| invalid(err.to_string()))?;
    let assignee = match form.assignee.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(id) => Some(Some(id.parse::<UserId>().map_err(|_| {
            invalid("the assignee is not a user of your organisation".to_owned())
        })?)),
    };
    Ok(IncidentChange {
        status,
        severity,
        assignee,
    })
}

/// `POST /incidents/{id}`: status, severity and assignee; fields left as they are change
/// nothing.
pub async fn update(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<ChangeForm>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let incident = parse_id(&id)?;
    let outcome = async {
        let mut change = parse_change(&form)?;
        // Only what differs from the incident now, so the timeline records real changes.
        let current = state
            .signals()
            .get_incident(user.0.org_id(), incident)
            .await
            .map_err(|err| store_error(err, &id))?
            .incident;
        if change.status == Some(current.status) {
            change.status = None;
        }
        if change.severity == Some(current.severity) {
            change.severity = None;
        }
        if change.assignee == Some(current.assignee) {
            change.assignee = None;
        }
        if change.is_empty() {
            return Ok(());
        }
        state
            .signals()
            .update_incident(
                user.0.org_id(),
                incident,
                Actor::User(user.0.user.id),
                &change,
            )
            .await
            .map(|_| ())
            .map_err(|err| store_error(err, &id))
    }
    .await;
    after_change(&state, user, &headers, &id, outcome, String::new()).await
}

#[derive(Deserialize)]
pub struct MergeForm {
    /// The id of the incident that receives this one's alerts and timeline.
    into: String,
}

/// `POST /incidents/{id}/merge`: merges this incident into another; on success the other one
/// is shown.
pub async fn merge(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<MergeForm>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let from = parse_id(&id)?;
    let invalid = |message: String| UiError(ApiError::bad_request("invalid_request", message));
    let into_raw = form.into.trim().to_owned();
    let outcome = match into_raw.parse::<IncidentId>() {
        Err(_) => Err(invalid(format!(
            "{into_raw:?} is not an incident id: copy it from the other incident's address"
        ))),
        Ok(into) if into == from => Err(invalid(
            "an incident cannot be merged into itself: give another incident's id".to_owned(),
        )),
        Ok(into) => state
            .signals()
            .merge_incidents(user.0.org_id(), from, into, Actor::User(user.0.user.id))
            .await
            .map(|_| into)
            .map_err(|err| match err {
                StoreError::NotFound(_) => invalid(format!(
                    "your organisation has no incident {into_raw} (or this one is gone)"
                )),
                StoreError::Conflict(message) => {
                    UiError(ApiError::conflict("incident_merged", message))
                }
                other => other.into(),
            }),
    };
    match outcome {
        Ok(into) => {
            let into = into.to_string();
            after_change(&state, user, &headers, &into, Ok(()), String::new()).await
        }
        Err(err) => after_change(&state, user, &headers, &id, Err(err), String::new()).await,
    }
}

#[derive(Deserialize)]
pub struct CommentForm {
    text: String,
}

/// `POST /incidents/{id}/comments`.
pub async fn comment(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<CommentForm>,
) -> Result<Response, UiError> {
    require_editor(&user)?;
    let incident = parse_id(&id)?;
    let text = form.text.trim();
    let outcome = if text.is_empty() || text.len() > MAX_COMMENT_LEN {
        Err(UiError(ApiError::bad_request(
            "invalid_request",
            format!("a comment has 1 to {MAX_COMMENT_LEN} bytes"),
        )))
    } else {
        state
            .signals()
            .add_comment(user.0.org_id(), incident, Actor::User(user.0.user.id), text)
            .await
            .map(|_| ())
            .map_err(|err| store_error(err, &id))
    };
    let kept = if outcome.is_ok() {
        String::new()
    } else {
        form.text.chars().take(MAX_COMMENT_LEN).collect()
    };
    after_change(&state, user, &headers, &id, outcome, kept).await
}
