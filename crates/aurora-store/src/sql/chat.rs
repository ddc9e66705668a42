//! [`ChatStore`] on the SQL store. A session row points at the investigation whose step log
//! holds its messages; its usage, cost and last `seq` are read from that investigation, which
//! the step appends keep up to date. Deleting the investigation deletes the session (and its
//! steps and approvals) by cascade.

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::chat::{ChatSession, ChatSessionUpdate, ChatStore, NewChatSession};
use aurora_core::ids::{ChatSessionId, InvestigationId, OrgId};
use aurora_core::investigation::TRIGGER_CHAT;
use aurora_core::llm::Usage;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::investigations::insert_investigation;
use super::signals::{count, opt_parse, stored, text, time_at};
use super::{SqlStore, db_error, parse_column, to_millis};

/// The most sessions one list returns.
const MAX_LIST: u32 = 200;

macro_rules! session_select {
    () => {
        "SELECT c.id, c.org_id, c.investigation_id, c.title, c.mode, c.incident_id, \
         c.created_by, c.created_at, c.updated_at, i.input_tokens, i.output_tokens, \
         i.cost_usd, i.last_seq \
         FROM chat_sessions c JOIN investigations i ON i.id = c.investigation_id "
    };
}

fn session_from_row(row: &AnyRow) -> Result<ChatSession, StoreError> {
    Ok(ChatSession {
        id: parse_column(&text(row, "id")?, "chat session id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        title: text(row, "title")?,
        mode: parse_column(&text(row, "mode")?, "chat mode")?,
        incident_id: opt_parse(row, "incident_id", "incident id")?,
        investigation_id: parse_column(&text(row, "investigation_id")?, "investigation id")?,
        created_by: opt_parse(row, "created_by", "user id")?,
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
        usage: Usage {
            input_tokens: count(row, "input_tokens")?,
            output_tokens: count(row, "output_tokens")?,
        },
        cost_usd: row.try_get::<f64, _>("cost_usd").map_err(db_error)?,
        last_seq: u32::try_from(count(row, "last_seq")?)
            .map_err(|_| StoreError::Corrupt("chat session last_seq".into()))?,
    })
}

#[async_trait]
impl ChatStore for SqlStore {
    async fn create_chat_session(
        &self,
        org: OrgId,
        session: NewChatSession,
        now: OffsetDateTime,
    ) -> Result<ChatSession, StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        if let Some(incident) = session.incident {
            sqlx::query("SELECT id FROM incidents WHERE org_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(incident.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound("incident"))?;
        }
        // The log's investigation names no incident, so that it is never listed among the
        // incident's investigations; the session keeps the incident.
        let investigation =
            insert_investigation(&mut tx, org, None, TRIGGER_CHAT, session.created_by, now).await?;
        sqlx::query(
            "UPDATE investigations SET status = 'running', started_at = $1 \
             WHERE org_id = $2 AND id = $3",
        )
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(investigation.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let id = ChatSessionId::new();
        sqlx::query(
            "INSERT INTO chat_sessions (id, org_id, investigation_id, title, mode, incident_id, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(investigation.id.to_string())
        .bind(session.title.clone())
        .bind(session.mode.as_str())
        .bind(session.incident.map(|i| i.to_string()))
        .bind(session.created_by.map(|u| u.to_string()))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(ChatSession {
            id,
            org_id: org,
            title: session.title,
            mode: session.mode,
            incident_id: session.incident,
            investigation_id: investigation.id,
            created_by: session.created_by,
            created_at: stored(now),
            updated_at: stored(now),
            usage: Usage::default(),
            cost_usd: 0.0,
            last_seq: 0,
        })
    }

    async fn get_chat_session(
        &self,
        org: OrgId,
        id: ChatSessionId,
    ) -> Result<ChatSession, StoreError> {
        sqlx::query(concat!(
            session_select!(),
            "WHERE c.org_id = $1 AND c.id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(session_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("chat session"))
    }

    async fn chat_session_for_investigation(
        &self,
        org: OrgId,
        investigation: InvestigationId,
    ) -> Result<Option<ChatSession>, StoreError> {
        sqlx::query(concat!(
            session_select!(),
            "WHERE c.org_id = $1 AND c.investigation_id = $2"
        ))
        .bind(org.to_string())
        .bind(investigation.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn list_chat_sessions(
        &self,
        org: OrgId,
        limit: u32,
    ) -> Result<Vec<ChatSession>, StoreError> {
        sqlx::query(concat!(
            session_select!(),
            "WHERE c.org_id = $1 ORDER BY c.updated_at DESC, c.id DESC LIMIT $2"
        ))
        .bind(org.to_string())
        .bind(i64::from(limit.clamp(1, MAX_LIST)))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(session_from_row)
        .collect()
    }

    async fn update_chat_session(
        &self,
        org: OrgId,
        id: ChatSessionId,
        update: &ChatSessionUpdate,
        now: OffsetDateTime,
    ) -> Result<ChatSession, StoreError> {
        let done = sqlx::query(
            "UPDATE chat_sessions SET title = COALESCE($1, title), mode = COALESCE($2, mode), \
             updated_at = $3 WHERE org_id = $4 AND id = $5",
        )
        .bind(update.title.clone())
        .bind(update.mode.map(|m| m.as_str()))
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("chat session"));
        }
        self.get_chat_session(org, id).await
    }

    async fn delete_chat_session(
        &self,
        org: OrgId,
        id: ChatSessionId,
    ) -> Result<ChatSession, StoreError> {
        let session = self.get_chat_session(org, id).await?;
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // Approvals reference their steps; delete them first where the database does not
        // cascade in that order.
        for statement in [
            "DELETE FROM approvals WHERE org_id = $1 AND investigation_id = $2",
            "DELETE FROM investigation_steps WHERE org_id = $1 AND investigation_id = $2",
            "DELETE FROM chat_sessions WHERE org_id = $1 AND investigation_id = $2",
            "DELETE FROM investigations WHERE org_id = $1 AND id = $2",
        ] {
            sqlx::query(statement)
                .bind(org.to_string())
                .bind(session.investigation_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(session)
    }
}
