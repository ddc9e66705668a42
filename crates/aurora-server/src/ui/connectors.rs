//! Settings → Connectors and Settings → LLM: the organisation's connectors with a form per kind
//! (prefilled with the kind's example configuration), a Test button that records the health
//! check, and Delete; and the chat model, its API key (write-only), budgets, and what
//! investigations used today and in the last 30 days. Plain forms: each change redirects back
//! to its page, or shows the page again with what to fix.

use askama::Template;
use aurora_core::ids::ConnectorId;
use aurora_core::model::Role;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::pages::{Layout, capitalise, see_other, when};
use super::{AssetUrls, UiError, assets, render};
use crate::auth::UiUser;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::investigations::{ConnectorForm, LlmForm};
use crate::state::AppState;

/// Prefix of a connector form's secret inputs: `secret_token` is the secret `token`.
const SECRET_FIELD_PREFIX: &str = "secret_";

struct ConnectorRow {
    id: String,
    name: String,
    kind: String,
    config: String,
    secret_fields: String,
    created: String,
    check: Option<CheckRow>,
}

struct CheckRow {
    ok: bool,
    at: String,
    message: String,
}

struct KindForm {
    kind: String,
    title: String,
    example: String,
    secret_fields: Vec<String>,
}

#[derive(Template)]
#[template(path = "settings_connectors.html")]
struct ConnectorsPage {
    assets: &'static AssetUrls,
    layout: Layout,
    csrf: String,
    is_admin: bool,
    can_test: bool,
    rows: Vec<ConnectorRow>,
    kinds: Vec<KindForm>,
    error: Option<String>,
    notice: Option<String>,
    /// The form as it was sent, kept when it failed: (kind, name, config).
    kept: Option<(String, String, String)>,
}

#[derive(Default, Deserialize)]
struct Notice {
    #[serde(default)]
    tested: String,
    #[serde(default)]
    created: String,
    #[serde(default)]
    deleted: String,
}

async fn connectors_page(
    state: &AppState,
    user: UiUser,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    kept: Option<(String, String, String)>,
) -> Result<Response, UiError> {
    let connectors = state
        .investigations()
        .list_connectors(user.0.org_id())
        .await?;
    let rows = connectors
        .into_iter()
        .map(|c| ConnectorRow {
            id: c.id.to_string(),
            config: serde_json::to_string_pretty(&c.config).unwrap_or_default(),
            secret_fields: c.secret_refs.keys().cloned().collect::<Vec<_>>().join(", "),
            created: when(Some(c.created_at), ""),
            check: c.last_check.map(|check| CheckRow {
                ok: check.ok,
                at: when(Some(check.at), ""),
                message: check.message,
            }),
            name: c.name,
            kind: c.kind,
        })
        .collect();
    let kinds = state
        .investigations()
        .connector_kinds()
        .into_iter()
        .map(|k| KindForm {
            example: serde_json::to_string_pretty(&k.config_example).unwrap_or_default(),
            kind: k.kind,
            title: k.title,
            secret_fields: k.secret_fields,
        })
        .collect();
    let page = ConnectorsPage {
        assets: assets::urls(),
        layout: Layout::new(state, &user, "connectors"),
        csrf: user.csrf_token().to_owned(),
        is_admin: user.0.user.role.allows(Role::Admin),
        can_test: user.0.user.role.allows(Role::Editor),
        rows,
        kinds,
        error,
        notice,
        kept,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /settings/connectors`.
pub async fn list(
    State(state): State<AppState>,
    user: UiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let notice: Notice =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let notice = if !notice.created.is_empty() {
        Some(format!("Connector “{}” added.", notice.created))
    } else if !notice.tested.is_empty() {
        Some(format!(
            "Tested “{}”: see its last check below.",
            notice.tested
        ))
    } else if !notice.deleted.is_empty() {
        Some(format!(
            "Connector “{}” and its secrets deleted.",
            notice.deleted
        ))
    } else {
        None
    };
    connectors_page(&state, user, StatusCode::OK, None, notice, None).await
}

fn require(user: &UiUser, role: Role, what: &str) -> Result<(), UiError> {
    if user.0.user.role.allows(role) {
        Ok(())
    } else {
        Err(UiError(ApiError::forbidden(format!(
            "{what} needs the {role} role; you are {}",
            user.0.user.role
        ))))
    }
}

fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// `POST /settings/connectors`: fields `kind`, `name`, `config` (JSON) and `secret_<field>`.
pub async fn create(
    State(state): State<AppState>,
    user: UiUser,
    ApiForm(fields): ApiForm<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    require(&user, Role::Admin, "adding connectors")?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (kind, name, config_text) = (field("kind"), field("name"), field("config"));
    let secrets = fields
        .iter()
        .filter_map(|(k, v)| {
            let secret = k.strip_prefix(SECRET_FIELD_PREFIX)?;
            (!v.is_empty()).then(|| (secret.to_owned(), SecretString::from(v.clone())))
        })
        .collect();
    let outcome =
        match serde_json::from_str::<serde_json::Value>(if config_text.trim().is_empty() {
            "{}"
        } else {
            &config_text
        }) {
            Err(err) => Err(ApiError::bad_request(
                "invalid_request",
                format!("the configuration is not valid JSON: {err}"),
            )),
            Ok(config) => state
                .investigations()
                .create_connector(
                    user.0.org_id(),
                    ConnectorForm {
                        kind: kind.clone(),
                        name: name.clone(),
                        config,
                        secrets,
                    },
                )
                .await
                .map_err(ApiError::from),
        };
    match outcome {
        Ok(connector) => Ok(see_other(&format!(
            "/settings/connectors?created={}",
            query_value(&connector.name)
        ))),
        Err(err) if err.status.is_client_error() => {
            let message = capitalise(&err.message);
            connectors_page(
                &state,
                user,
                err.status,
                Some(message),
                None,
                Some((kind, name, config_text)),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

fn connector_id(raw: &str) -> Result<ConnectorId, UiError> {
    raw.parse().map_err(|_| {
        UiError(ApiError::not_found(
            "connector_not_found",
            "Your organisation has no such connector.",
        ))
    })
}

/// `POST /settings/connectors/{id}/test`.
pub async fn test(
    State(state): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    require(&user, Role::Editor, "testing connectors")?;
    let connector = state
        .investigations()
        .test_connector(user.0.org_id(), connector_id(&id)?)
        .await?;
    Ok(see_other(&format!(
        "/settings/connectors?tested={}#connector-{id}",
        query_value(&connector.name)
    )))
}

/// `POST /settings/connectors/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    require(&user, Role::Admin, "deleting connectors")?;
    let connector = state
        .investigations()
        .delete_connector(user.0.org_id(), connector_id(&id)?)
        .await?;
    Ok(see_other(&format!(
        "/settings/connectors?deleted={}",
        query_value(&connector.name)
    )))
}

// ---------------------------------------------------------------------------------------------
// LLM

struct UsageRow {
    label: &'static str,
    investigations: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost: String,
}

#[derive(Template)]
#[template(path = "settings_llm.html")]
struct LlmPage {
    assets: &'static AssetUrls,
    layout: Layout,
    csrf: String,
    is_admin: bool,
    configured: bool,
    provider: String,
    model: String,
    base_url: String,
    has_api_key: bool,
    max_steps: String,
    max_tokens: String,
    max_cost_investigation: String,
    max_cost_day: String,
    updated: String,
    usage: Vec<UsageRow>,
    error: Option<String>,
    saved: bool,
}

#[derive(Default, Deserialize)]
pub struct LlmFormFields {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    clear_api_key: Option<String>,
    #[serde(default)]
    max_steps: String,
    #[serde(default)]
    max_tokens_per_investigation: String,
    #[serde(default)]
    max_cost_per_investigation_usd: String,
    #[serde(default)]
    max_cost_per_day_usd: String,
}

async fn llm_page(
    state: &AppState,
    user: UiUser,
    status: StatusCode,
    error: Option<String>,
    saved: bool,
    kept: Option<LlmFormFields>,
) -> Result<Response, UiError> {
    let org = user.0.org_id();
    let settings = state.investigations().llm_settings(org).await?;
    let mut usage = Vec::new();
    for (label, days) in [("Today", 1), ("Last 30 days", 30)] {
        let period = state.investigations().usage(org, days).await?;
        usage.push(UsageRow {
            label,
            investigations: period.summary.investigations,
            input_tokens: period.summary.usage.input_tokens,
            output_tokens: period.summary.usage.output_tokens,
            cost: format!("${:.4}", period.summary.cost_usd),
        });
    }
    let defaults =
        aurora_core::investigation::LlmSettings::new("", "", time::OffsetDateTime::UNIX_EPOCH);
    let current = settings.clone().unwrap_or(defaults);
    let kept = kept.unwrap_or_else(|| LlmFormFields {
        provider: current.provider.clone(),
        model: current.model.clone(),
        base_url: current.base_url.clone().unwrap_or_default(),
        api_key: String::new(),
        clear_api_key: None,
        max_steps: current.max_steps.to_string(),
        max_tokens_per_investigation: current.max_tokens_per_investigation.to_string(),
        max_cost_per_investigation_usd: current.max_cost_per_investigation_usd.to_string(),
        max_cost_per_day_usd: current.max_cost_per_day_usd.to_string(),
    });
    let page = LlmPage {
        assets: assets::urls(),
        layout: Layout::new(state, &user, "settings"),
        csrf: user.csrf_token().to_owned(),
        is_admin: user.0.user.role.allows(Role::Admin),
        configured: settings.is_some(),
        has_api_key: current.api_key_ref.is_some(),
        updated: settings
            .as_ref()
            .map(|s| when(Some(s.updated_at), ""))
            .unwrap_or_default(),
        provider: kept.provider,
        model: kept.model,
        base_url: kept.base_url,
        max_steps: kept.max_steps,
        max_tokens: kept.max_tokens_per_investigation,
        max_cost_investigation: kept.max_cost_per_investigation_usd,
        max_cost_day: kept.max_cost_per_day_usd,
        usage,
        error,
        saved,
    };
    Ok((status, render(&page)).into_response())
}

/// `GET /settings/llm`.
pub async fn llm(
    State(state): State<AppState>,
    user: UiUser,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let saved = query.as_deref() == Some("saved=1");
    llm_page(&state, user, StatusCode::OK, None, saved, None).await
}

fn number<T: std::str::FromStr>(text: &str, name: &str) -> Result<Option<T>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            format!("{name} must be a number, not {text:?}"),
        )
    })
}

fn llm_form(fields: &LlmFormFields) -> Result<LlmForm, ApiError> {
    Ok(LlmForm {
        provider: fields.provider.clone(),
        model: fields.model.clone(),
        base_url: Some(fields.base_url.clone()),
        api_key: Some(fields.api_key.trim())
            .filter(|k| !k.is_empty())
            .map(|k| SecretString::from(k.to_owned())),
        clear_api_key: fields.clear_api_key.is_some(),
        max_steps: number(&fields.max_steps, "max steps")?,
        max_tokens_per_investigation: number(
            &fields.max_tokens_per_investigation,
            "max tokens per investigation",
        )?,
        max_cost_per_investigation_usd: number(
            &fields.max_cost_per_investigation_usd,
            "max cost per investigation",
        )?,
        max_cost_per_day_usd: number(&fields.max_cost_per_day_usd, "max cost per day")?,
    })
}

/// `POST /settings/llm`.
pub async fn save_llm(
    State(state): State<AppState>,
    user: UiUser,
    ApiForm(mut fields): ApiForm<LlmFormFields>,
) -> Result<Response, UiError> {
    require(&user, Role::Admin, "changing the language model")?;
    let outcome = match llm_form(&fields) {
        Ok(form) => state
            .investigations()
            .put_llm_settings(user.0.org_id(), form)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    match outcome {
        Ok(()) => Ok(see_other("/settings/llm?saved=1")),
        Err(err) if err.status.is_client_error() => {
            // The key is never sent back, not even in a form that failed.
            fields.api_key.clear();
            let message = capitalise(&err.message);
            llm_page(&state, user, err.status, Some(message), false, Some(fields)).await
        }
        Err(err) => Err(err.into()),
    }
}
