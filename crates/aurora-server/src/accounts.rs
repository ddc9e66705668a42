//! Accounts as a service: first-run setup, users, sign-in, sessions and API tokens.
//!
//! Password hashing runs on the blocking pool so that a sign-in never stalls the async workers.
//! Verified API tokens are cached for `auth.token_cache_ttl`, so an authenticated API call costs
//! no database round trip, and `last_used_at` is written at most once a minute per token.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::credentials::{self, NewPassword, PasswordError};
use aurora_core::ids::{OrgId, TokenId};
use aurora_core::model::{ApiToken, AuthMethod, Email, Principal, Role, Session, User};
use aurora_core::ports::{NewApiToken, NewUser, Store};
use moka::sync::Cache;
use secrecy::SecretString;
use time::OffsetDateTime;

/// How often `last_used_at` of a token in steady use is written.
const TOUCH_INTERVAL_SECS: i64 = 60;
/// Most tokens held in the verification cache.
const TOKEN_CACHE_CAPACITY: u64 = 10_000;
pub const MAX_NAME_LEN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("the API token is invalid, expired or revoked")]
    InvalidToken,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl From<PasswordError> for AccountError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Hash(message) => Self::Hashing(message),
            policy => Self::Invalid(policy.to_string()),
        }
    }
}

struct CachedToken {
    principal: Principal,
    expires_at: Option<OffsetDateTime>,
    last_touched: AtomicI64,
}

/// A user to create, as typed by a person.
pub struct UserForm {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: SecretString,
}

pub struct Accounts {
    store: Arc<dyn Store>,
    session_ttl: Duration,
    tokens: Cache<String, Arc<CachedToken>>,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, session_ttl: Duration, token_cache_ttl: Duration) -> Self {
        Self {
            store,
            session_ttl,
            tokens: Cache::builder()
                .max_capacity(TOKEN_CACHE_CAPACITY)
                .time_to_live(token_cache_ttl)
                .build(),
        }
    }

    pub async fn is_set_up(&self) -> Result<bool, AccountError> {
        Ok(self.store.is_set_up().await?)
    }

    /// First run: creates the organisation and its admin. Fails once Aurora is set up.
    pub async fn set_up(&self, org_name: &str, admin: UserForm) -> Result<User, AccountError> {
        let org_name = validate_name(org_name, "organisation name")?;
        let user = self
            .new_user(UserForm {
                role: Role::Admin,
                ..admin
            })
            .await?;
        let (_, user) = self.store.create_first_admin(&org_name, user).await?;
        Ok(user)
    }

    pub async fn create_user(&self, org: OrgId, form: UserForm) -> Result<User, AccountError> {
        let user = self.new_user(form).await?;
        Ok(self.store.create_user(org, user).await?)
    }

    async fn new_user(&self, form: UserForm) -> Result<NewUser, AccountError> {
        let email =
            Email::parse(&form.email).map_err(|err| AccountError::Invalid(err.to_string()))?;
        let name = validate_name(&form.name, "name")?;
        let password = NewPassword::parse(form.password)?;
        let password_hash = blocking(move || password.hash()).await??;
        Ok(NewUser {
            email,
            name,
            role: form.role,
            password_hash,
        })
    }

    /// Checks an e-mail and password. Every failure is the same [`AccountError::InvalidCredentials`],
    /// and an unknown e-mail costs as much time as a wrong password.
    pub async fn verify_login(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<User, AccountError> {
        let Ok(email) = Email::parse(email) else {
            return Err(AccountError::InvalidCredentials);
        };
        let found = self.store.find_credentials(&email).await?;
        let hash = found.as_ref().map_or_else(
            || credentials::dummy_password_hash().to_owned(),
            |c| c.password_hash.clone(),
        );
        let matches = blocking(move || credentials::verify_password(&password, &hash)).await?;
        match found {
            Some(creds) if matches => Ok(creds.user),
            _ => Err(AccountError::InvalidCredentials),
        }
    }

    /// Opens a session; returns the cookie value (shown to the browser only) and the session.
    pub async fn start_session(
        &self,
        user: &User,
    ) -> Result<(SecretString, Session), AccountError> {
        let value = credentials::random_token();
        let now = OffsetDateTime::now_utc();
        let session = Session {
            id_hash: credentials::hash_token(&value),
            org_id: user.org_id,
            user_id: user.id,
            csrf_token: credentials::random_token(),
            created_at: now,
            expires_at: now + self.session_ttl,
        };
        self.store.create_session(&session).await?;
        Ok((SecretString::from(value), session))
    }

    /// The principal of a session cookie, if the session exists and has not expired.
    pub async fn session_principal(
        &self,
        cookie_value: &str,
    ) -> Result<Option<Principal>, AccountError> {
        let found = self
            .store
            .find_session(
                &credentials::hash_token(cookie_value),
                OffsetDateTime::now_utc(),
            )
            .await?;
        Ok(found.map(|(session, user)| Principal {
            user,
            via: AuthMethod::Session {
                csrf_token: session.csrf_token,
            },
        }))
    }

    pub async fn end_session(&self, cookie_value: &str) -> Result<(), AccountError> {
        Ok(self
            .store
            .delete_session(&credentials::hash_token(cookie_value))
            .await?)
    }

    /// Issues an API token for `user`; the value is returned once and never stored.
    pub async fn create_token(
        &self,
        user: &User,
        name: &str,
        expires_in: Option<Duration>,
    ) -> Result<(ApiToken, SecretString), AccountError> {
        let name = validate_name(name, "token name")?;
        let issued = credentials::issue_api_token();
        let token = self
            .store
            .create_api_token(
                user.org_id,
                NewApiToken {
                    user_id: user.id,
                    name,
                    token_hash: issued.hash,
                    prefix: issued.prefix,
                    expires_at: expires_in.map(|ttl| OffsetDateTime::now_utc() + ttl),
                },
            )
            .await?;
        Ok((token, issued.value))
    }

    pub async fn list_tokens(&self, user: &User) -> Result<Vec<ApiToken>, AccountError> {
        Ok(self.store.list_api_tokens(user.org_id, user.id).await?)
    }

    pub async fn revoke_token(&self, user: &User, id: TokenId) -> Result<ApiToken, AccountError> {
        let revoked = self
            .store
            .revoke_api_token(user.org_id, user.id, id, OffsetDateTime::now_utc())
            .await?;
        // The cache is keyed by hash, which is not kept; revocations are rare, so start afresh.
        self.tokens.invalidate_all();
        Ok(revoked)
    }

    /// The principal of an API token value.
    pub async fn token_principal(&self, value: &str) -> Result<Principal, AccountError> {
        if !value.starts_with(credentials::API_TOKEN_PREFIX) {
            return Err(AccountError::InvalidToken);
        }
        let hash = credentials::hash_token(value);
        let now = OffsetDateTime::now_utc();
        let cached = match self.tokens.get(&hash) {
            Some(cached) => cached,
            None => {
                let (token, user) = self
                    .store
                    .find_api_token(&hash)
                    .await?
                    .ok_or(AccountError::InvalidToken)?;
                if !token.is_active(now) {
                    return Err(AccountError::InvalidToken);
                }
                let cached = Arc::new(CachedToken {
                    principal: Principal {
                        user,
                        via: AuthMethod::ApiToken { token_id: token.id },
                    },
                    expires_at: token.expires_at,
                    last_touched: AtomicI64::new(0),
                });
                self.tokens.insert(hash, cached.clone());
                cached
            }
        };
        if cached.expires_at.is_some_and(|at| at <= now) {
            return Err(AccountError::InvalidToken);
        }
        self.touch(&cached, now);
        Ok(cached.principal.clone())
    }

    /// Records use of a token in the background, at most once per [`TOUCH_INTERVAL_SECS`].
    fn touch(&self, cached: &CachedToken, now: OffsetDateTime) {
        let now_secs = now.unix_timestamp();
        let last = cached.last_touched.load(Ordering::Relaxed);
        if now_secs - last < TOUCH_INTERVAL_SECS
            || cached
                .last_touched
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let AuthMethod::ApiToken { token_id } = cached.principal.via else {
            return;
        };
        let org = cached.principal.org_id();
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(err) = store.touch_api_token(org, token_id, now).await {
                tracing::warn!(error = %err, %token_id, "could not record API token use");
            }
        });
    }

    /// Removes expired sessions; run periodically.
    pub async fn sweep_sessions(&self) -> Result<u64, AccountError> {
        Ok(self
            .store
            .delete_expired_sessions(OffsetDateTime::now_utc())
            .await?)
    }
}

fn validate_name(raw: &str, what: &str) -> Result<String, AccountError> {
    let name = raw.trim();
    if name.is_empty() {
        Err(AccountError::Invalid(format!("{what} is required")))
    } else if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        Err(AccountError::Invalid(format!(
            "{what} must be at most {MAX_NAME_LEN} printable characters"
        )))
    } else {
        Ok(name.to_owned())
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| AccountError::Hashing(err.to_string()))
}
