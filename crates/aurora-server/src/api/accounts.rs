//! `/api/v1/me`, `/api/v1/tokens` and `/api/v1/users`.

use std::time::Duration;

use aurora_core::ids::TokenId;
use aurora_core::model::{ApiToken, AuthMethod, Role, User};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::accounts::UserForm;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// Longest lifetime a token can be given, in days.
const MAX_TOKEN_DAYS: u32 = 3650;

#[derive(Serialize)]
pub struct Me {
    user: User,
    auth: &'static str,
}

pub async fn me(CurrentUser(principal): CurrentUser) -> Json<Me> {
    let auth = match principal.via {
        AuthMethod::Session { .. } => "session",
        AuthMethod::ApiToken { .. } => "api_token",
    };
    Json(Me {
        user: principal.user,
        auth,
    })
}

pub async fn list_tokens(
    State(state): State<AppState>,
    CurrentUser(principal): CurrentUser,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    Ok(Json(state.accounts().list_tokens(&principal.user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    /// Days until the token expires; absent: it never expires.
    expires_in_days: Option<u32>,
}

#[derive(Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    token: ApiToken,
    /// The token itself. It is shown only in this response.
    secret: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    CurrentUser(principal): CurrentUser,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let expires_in = token_lifetime(body.expires_in_days)?;
    let (token, secret) = state
        .accounts()
        .create_token(&principal.user, &body.name, expires_in)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            secret: secret.expose_secret().to_owned(),
        }),
    ))
}

pub fn token_lifetime(days: Option<u32>) -> Result<Option<Duration>, ApiError> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => {
            Ok(Some(Duration::from_secs(u64::from(d) * 86_400)))
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "expires_in_days must be between 1 and {MAX_TOKEN_DAYS}, or absent for no expiry"
            ),
        )),
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(principal): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "token_not_found",
            format!("you have no active API token {id}"),
        )
    };
    let id: TokenId = id.parse().map_err(|_| not_found())?;
    match state.accounts().revoke_token(&principal.user, id).await {
        Ok(token) => Ok(Json(token)),
        Err(crate::accounts::AccountError::Store(aurora_core::StoreError::NotFound(_))) => {
            Err(not_found())
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn list_users(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Vec<User>>, ApiError> {
    user.require(Role::Admin)?;
    Ok(Json(state.store().list_users(user.0.org_id()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    name: String,
    role: Role,
    password: SecretString,
}

pub async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    user.require(Role::Admin)?;
    let form = UserForm {
        email: body.email,
        name: body.name,
        role: body.role,
        password: body.password,
    };
    match state.accounts().create_user(user.0.org_id(), form).await {
        Ok(created) => Ok((StatusCode::CREATED, Json(created))),
        Err(crate::accounts::AccountError::Store(aurora_core::StoreError::Conflict(message))) => {
            Err(ApiError::conflict("email_taken", message))
        }
        Err(err) => Err(err.into()),
    }
}
