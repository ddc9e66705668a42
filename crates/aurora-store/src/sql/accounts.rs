//! [`AccountStore`] on the SQL store.

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::ids::{OrgId, TokenId, UserId};
use aurora_core::model::{ApiToken, Email, Org, Session, User, UserCredentials};
use aurora_core::ports::{AccountStore, NewApiToken, NewUser};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{SqlStore, conflict_or, db_error, from_millis, parse_column, to_millis};

macro_rules! user_columns {
    () => {
        "u.id, u.org_id, u.email, u.name, u.role, u.created_at"
    };
}

macro_rules! token_columns {
    () => {
        "id, org_id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at"
    };
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(db_error);
    Ok(User {
        id: parse_column(&get("id")?, "user id")?,
        org_id: parse_column(&get("org_id")?, "org id")?,
        email: Email::parse(&get("email")?).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        name: get("name")?,
        role: parse_column(&get("role")?, "role")?,
        created_at: from_millis(row.try_get("created_at").map_err(db_error)?)?,
    })
}

/// Reads a token whose columns come after the user's, prefixed `t_` where names clash.
fn token_from_row(row: &AnyRow, prefix: &str) -> Result<ApiToken, StoreError> {
    let col = |name: &str| format!("{prefix}{name}");
    let text = |name: &str| {
        row.try_get::<String, _>(col(name).as_str())
            .map_err(db_error)
    };
    let time = |name: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        row.try_get::<Option<i64>, _>(col(name).as_str())
            .map_err(db_error)?
            .map(from_millis)
            .transpose()
    };
    Ok(ApiToken {
        id: parse_column(&text("id")?, "token id")?,
        org_id: parse_column(&text("org_id")?, "org id")?,
        user_id: parse_column(&text("user_id")?, "user id")?,
        name: text("name")?,
        prefix: text("prefix")?,
        created_at: time("created_at")?
            .ok_or(StoreError::Corrupt("token without creation time".into()))?,
        last_used_at: time("last_used_at")?,
        expires_at: time("expires_at")?,
        revoked_at: time("revoked_at")?,
    })
}

fn org_from_row(row: &AnyRow) -> Result<Org, StoreError> {
    Ok(Org {
        id: parse_column(&row.try_get::<String, _>("id").map_err(db_error)?, "org id")?,
        name: row.try_get("name").map_err(db_error)?,
        created_at: from_millis(row.try_get("created_at").map_err(db_error)?)?,
    })
}

fn email_taken(email: &Email) -> impl FnOnce() -> String + '_ {
    move || format!("a user with e-mail {email} already exists")
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_first_admin(
        &self,
        org_name: &str,
        user: NewUser,
    ) -> Result<(Org, User), StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        sqlx::query("INSERT INTO installation (id, created_at) VALUES (1, $1)")
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(|err| {
                conflict_or(err, || "aurora is already set up: sign in instead".into())
            })?;
        let org = Org {
            id: OrgId::new(),
            name: org_name.to_owned(),
            created_at: now,
        };
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let user = insert_user(&mut tx, org.id, user, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok((from_stored_org(org), user))
    }

    async fn is_set_up(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM installation")
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        Ok(row.try_get::<i64, _>("n").map_err(db_error)? > 0)
    }

    async fn create_org(&self, name: &str) -> Result<Org, StoreError> {
        let org = Org {
            id: OrgId::new(),
            name: name.to_owned(),
            created_at: OffsetDateTime::now_utc(),
        };
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .bind(to_millis(org.created_at))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(from_stored_org(org))
    }

    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM orgs ORDER BY created_at, id")
            .fetch_all(self.pool())
            .await
            .map_err(db_error)?
            .iter()
            .map(org_from_row)
            .collect()
    }

    async fn get_org(&self, org: OrgId) -> Result<Org, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM orgs WHERE id = $1")
            .bind(org.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db_error)?
            .ok_or(StoreError::NotFound("organisation"))?;
        org_from_row(&row)
    }

    async fn create_user(&self, org: OrgId, user: NewUser) -> Result<User, StoreError> {
        let mut conn = self.writer().acquire().await.map_err(db_error)?;
        insert_user(&mut conn, org, user, OffsetDateTime::now_utc()).await
    }

    async fn get_user(&self, org: OrgId, id: UserId) -> Result<User, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.org_id = $1 AND u.id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    async fn list_users(&self, org: OrgId) -> Result<Vec<User>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.org_id = $1 ORDER BY u.email"
        ))
        .bind(org.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(user_from_row)
        .collect()
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", u.password_hash FROM users u WHERE u.email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?;
        row.map(|row| {
            Ok(UserCredentials {
                user: user_from_row(&row)?,
                password_hash: row.try_get("password_hash").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, org_id, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(session.org_id.to_string())
        .bind(session.user_id.to_string())
        .bind(&session.csrf_token)
        .bind(to_millis(session.created_at))
        .bind(to_millis(session.expires_at))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn find_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", s.id_hash, s.csrf_token, s.created_at AS s_created_at, s.expires_at AS s_expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.org_id = s.org_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2"
        ))
        .bind(id_hash)
        .bind(to_millis(now))
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let session = Session {
            id_hash: row.try_get("id_hash").map_err(db_error)?,
            org_id: user.org_id,
            user_id: user.id,
            csrf_token: row.try_get("csrf_token").map_err(db_error)?,
            created_at: from_millis(row.try_get("s_created_at").map_err(db_error)?)?,
            expires_at: from_millis(row.try_get("s_expires_at").map_err(db_error)?)?,
        };
        Ok(Some((session, user)))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(to_millis(now))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(
        &self,
        org: OrgId,
        token: NewApiToken,
    ) -> Result<ApiToken, StoreError> {
        let created = ApiToken {
            id: TokenId::new(),
            org_id: org,
            user_id: token.user_id,
            name: token.name,
            prefix: token.prefix,
            created_at: from_millis(to_millis(OffsetDateTime::now_utc()))?,
            last_used_at: None,
            expires_at: token
                .expires_at
                .map(to_millis)
                .map(from_millis)
                .transpose()?,
            revoked_at: None,
        };
        // The owner must belong to the org: a token can never bridge two tenants.
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (id, org_id, user_id, name, token_hash, prefix, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM users WHERE id = $3 AND org_id = $2)",
        )
        .bind(created.id.to_string())
        .bind(org.to_string())
        .bind(created.user_id.to_string())
        .bind(&created.name)
        .bind(&token.token_hash)
        .bind(&created.prefix)
        .bind(to_millis(created.created_at))
        .bind(created.expires_at.map(to_millis))
        .execute(self.writer())
        .await
        .map_err(|err| conflict_or(err, || "token hash collision".into()))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(created)
    }

    async fn list_api_tokens(&self, org: OrgId, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE org_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC"
        ))
        .bind(org.to_string())
        .bind(user.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| token_from_row(row, ""))
        .collect()
    }

    async fn revoke_api_token(
        &self,
        org: OrgId,
        user: UserId,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE org_id = $2 AND user_id = $3 AND id = $4 AND revoked_at IS NULL RETURNING ",
            token_columns!()
        ))
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(user.to_string())
        .bind(id.to_string())
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound("api token"))?;
        token_from_row(&row, "")
    }

    async fn find_api_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ApiToken, User)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", t.id AS t_id, t.org_id AS t_org_id, t.user_id AS t_user_id, t.name AS t_name, \
             t.prefix AS t_prefix, t.created_at AS t_created_at, t.last_used_at AS t_last_used_at, \
             t.expires_at AS t_expires_at, t.revoked_at AS t_revoked_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id AND u.org_id = t.org_id \
             WHERE t.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?;
        row.map(|row| Ok((token_from_row(&row, "t_")?, user_from_row(&row)?)))
            .transpose()
    }

    async fn touch_api_token(
        &self,
        org: OrgId,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE org_id = $2 AND id = $3")
            .bind(to_millis(now))
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

async fn insert_user(
    conn: &mut sqlx::AnyConnection,
    org: OrgId,
    user: NewUser,
    now: OffsetDateTime,
) -> Result<User, StoreError> {
    let created = User {
        id: UserId::new(),
        org_id: org,
        email: user.email,
        name: user.name,
        role: user.role,
        created_at: from_millis(to_millis(now))?,
    };
    sqlx::query(
        "INSERT INTO users (id, org_id, email, name, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(created.id.to_string())
    .bind(org.to_string())
    .bind(created.email.as_str())
    .bind(&created.name)
    .bind(&user.password_hash)
    .bind(created.role.as_str())
    .bind(to_millis(now))
    .execute(&mut *conn)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound("organisation")
        }
        _ => conflict_or(err, email_taken(&created.email)),
    })?;
    Ok(created)
}

/// The org as it reads back: times at the stored (millisecond) precision.
fn from_stored_org(org: Org) -> Org {
    Org {
        created_at: from_millis(to_millis(org.created_at)).unwrap_or(org.created_at),
        ..org
    }
}
