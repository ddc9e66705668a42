//! [`InvestigationStore`] on the SQL store: investigations and their step logs, approvals of
//! mutating tool calls, connectors (in [`connectors`]), and the organisations' LLM settings and
//! usage.
//!
//! An append numbers its step by incrementing the investigation's `last_seq` in the transaction
//! that inserts the step and adds its usage to the totals. That update locks the investigation's
//! row on PostgreSQL and takes the write lock on SQLite, so concurrent appends to one
//! investigation run one after the other and get consecutive seqs; the primary key
//! (investigation_id, seq) backs the rule.

mod connectors;

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::ids::{
    ApprovalId, AuditId, ConnectorId, IncidentId, InvestigationId, JobId, OrgId, UserId,
};
use aurora_core::investigation::{
    Approval, ApprovalStatus, AuditEntry, Connector, ConnectorCheck, Investigation,
    InvestigationStatus, LlmSettings, NewConnector, NewStep, Report, Step, UsageSummary,
};
use aurora_core::job;
use aurora_core::llm::Usage;
use aurora_core::ports::InvestigationStore;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::signals::{
    count, json_column, opt_parse, opt_text, opt_time, stored, text, time_at, to_json,
};
use super::{SqlStore, conflict_or, db_error, parse_column, to_millis};

macro_rules! investigation_columns {
    () => {
        "id, org_id, incident_id, status, trigger_kind, requested_by, model, created_at, \
         started_at, finished_at, error, input_tokens, output_tokens, cost_usd, report, \
         cancel_requested"
    };
}

macro_rules! step_columns {
    () => {
        "investigation_id, seq, kind, payload, created_at, duration_ms, input_tokens, \
         output_tokens, cost_usd"
    };
}

macro_rules! approval_columns {
    () => {
        "id, org_id, investigation_id, step_seq, tool, arguments, status, requested_at, \
         decided_by, decided_at, reason"
    };
}

/// The most investigations one list returns.
const MAX_LIST: u32 = 200;

/// A count or size as the databases store it.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn real(row: &AnyRow, col: &str) -> Result<f64, StoreError> {
    row.try_get::<f64, _>(col).map_err(db_error)
}

fn seq_at(row: &AnyRow, col: &str) -> Result<u32, StoreError> {
    let seq: i64 = row.try_get(col).map_err(db_error)?;
    u32::try_from(seq).map_err(|_| StoreError::Corrupt(format!("step seq {seq}")))
}

fn usage_at(row: &AnyRow) -> Result<Usage, StoreError> {
    Ok(Usage {
        input_tokens: count(row, "input_tokens")?,
        output_tokens: count(row, "output_tokens")?,
    })
}

fn investigation_from_row(row: &AnyRow) -> Result<Investigation, StoreError> {
    let report = opt_text(row, "report")?
        .map(|report| serde_json::from_str::<Report>(&report))
        .transpose()
        .map_err(|err| StoreError::Corrupt(format!("column report: {err}")))?;
    Ok(Investigation {
        id: parse_column(&text(row, "id")?, "investigation id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        incident_id: opt_parse(row, "incident_id", "incident id")?,
        status: parse_column(&text(row, "status")?, "investigation status")?,
        trigger: text(row, "trigger_kind")?,
        requested_by: opt_parse(row, "requested_by", "user id")?,
        model: opt_text(row, "model")?,
        created_at: time_at(row, "created_at")?,
        started_at: opt_time(row, "started_at")?,
        finished_at: opt_time(row, "finished_at")?,
        error: opt_text(row, "error")?,
        usage: usage_at(row)?,
        cost_usd: real(row, "cost_usd")?,
        report,
        cancel_requested: count(row, "cancel_requested")? != 0,
    })
}

fn step_from_row(row: &AnyRow) -> Result<Step, StoreError> {
    Ok(Step {
        investigation_id: parse_column(&text(row, "investigation_id")?, "investigation id")?,
        seq: seq_at(row, "seq")?,
        kind: parse_column(&text(row, "kind")?, "step kind")?,
        payload: json_column(row, "payload")?,
        created_at: time_at(row, "created_at")?,
        duration_ms: row
            .try_get::<Option<i64>, _>("duration_ms")
            .map_err(db_error)?
            .map(|ms| u64::try_from(ms).unwrap_or(0)),
        usage: usage_at(row)?,
        cost_usd: real(row, "cost_usd")?,
    })
}

fn approval_from_row(row: &AnyRow) -> Result<Approval, StoreError> {
    Ok(Approval {
        id: parse_column(&text(row, "id")?, "approval id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        investigation_id: parse_column(&text(row, "investigation_id")?, "investigation id")?,
        step_seq: seq_at(row, "step_seq")?,
        tool: text(row, "tool")?,
        arguments: json_column(row, "arguments")?,
        status: parse_column(&text(row, "status")?, "approval status")?,
        requested_at: time_at(row, "requested_at")?,
        decided_by: opt_parse(row, "decided_by", "user id")?,
        decided_at: opt_time(row, "decided_at")?,
        reason: opt_text(row, "reason")?,
    })
}

fn settings_from_row(row: &AnyRow) -> Result<LlmSettings, StoreError> {
    Ok(LlmSettings {
        provider: text(row, "provider")?,
        model: text(row, "model")?,
        base_url: opt_text(row, "base_url")?,
        api_key_ref: opt_parse(row, "api_key_ref", "secret reference")?,
        max_steps: u32::try_from(count(row, "max_steps")?).unwrap_or(u32::MAX),
        max_tokens_per_investigation: count(row, "max_tokens_per_investigation")?,
        max_cost_per_investigation_usd: real(row, "max_cost_per_investigation_usd")?,
        max_cost_per_day_usd: real(row, "max_cost_per_day_usd")?,
        updated_at: time_at(row, "updated_at")?,
    })
}

/// [`StoreError::NotFound`] unless the incident is the organisation's.
async fn ensure_incident(
    conn: &mut AnyConnection,
    org: OrgId,
    incident: IncidentId,
) -> Result<(), StoreError> {
    sqlx::query("SELECT id FROM incidents WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(incident.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .map(|_| ())
        .ok_or(StoreError::NotFound("incident"))
}

/// [`StoreError::NotFound`] unless the user is the organisation's.
async fn ensure_user(conn: &mut AnyConnection, org: OrgId, user: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT id FROM users WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .map(|_| ())
        .ok_or(StoreError::NotFound("user"))
}

/// Inserts a queued investigation after checking that its incident and user are the
/// organisation's. The checks read before the transaction writes, which on SQLite is safe
/// because every write goes through the one writer connection that runs this transaction.
pub(super) async fn insert_investigation(
    conn: &mut AnyConnection,
    org: OrgId,
    incident: Option<IncidentId>,
    trigger: &str,
    requested_by: Option<UserId>,
    now: OffsetDateTime,
) -> Result<Investigation, StoreError> {
    if let Some(incident) = incident {
        ensure_incident(conn, org, incident).await?;
    }
    if let Some(user) = requested_by {
        ensure_user(conn, org, user).await?;
    }
    let created = Investigation {
        id: InvestigationId::new(),
        org_id: org,
        incident_id: incident,
        status: InvestigationStatus::Queued,
        trigger: trigger.to_owned(),
        requested_by,
        model: None,
        created_at: stored(now),
        started_at: None,
        finished_at: None,
        error: None,
        usage: Usage::default(),
        cost_usd: 0.0,
        report: None,
        cancel_requested: false,
    };
    sqlx::query(
        "INSERT INTO investigations (id, org_id, incident_id, status, trigger_kind, requested_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(created.id.to_string())
    .bind(org.to_string())
    .bind(incident.map(|id| id.to_string()))
    .bind(created.status.as_str())
    .bind(trigger.to_owned())
    .bind(requested_by.map(|id| id.to_string()))
    .bind(to_millis(now))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(created)
}

impl SqlStore {
    /// The investigation as it is, read through the writer so that it sees the writes just
    /// made: for telling "not found" from "not in that state" after a guarded update.
    async fn current_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<Investigation, StoreError> {
        self.read_investigation(self.writer(), org, id).await
    }

    async fn read_investigation(
        &self,
        pool: &sqlx::AnyPool,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<Investigation, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            investigation_columns!(),
            " FROM investigations WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(investigation_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("investigation"))
    }
}

#[async_trait]
impl InvestigationStore for SqlStore {
    async fn create_investigation(
        &self,
        org: OrgId,
        incident: Option<IncidentId>,
        trigger: &str,
        requested_by: Option<UserId>,
    ) -> Result<Investigation, StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let now = OffsetDateTime::now_utc();
        let created =
            insert_investigation(&mut tx, org, incident, trigger, requested_by, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn enqueue_investigation(
        &self,
        org: OrgId,
        incident: Option<IncidentId>,
        trigger: &str,
        requested_by: Option<UserId>,
    ) -> Result<(Investigation, JobId), StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let now = OffsetDateTime::now_utc();
        let created =
            insert_investigation(&mut tx, org, incident, trigger, requested_by, now).await?;
        let job_id = JobId::new();
        let payload = json!({
            "investigation_id": created.id,
            "incident_id": incident,
        });
        sqlx::query(
            "INSERT INTO jobs (id, org_id, kind, payload, status, attempts, run_at, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5)",
        )
        .bind(job_id.to_string())
        .bind(org.to_string())
        .bind(job::INVESTIGATE)
        .bind(to_json(&payload)?)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok((created, job_id))
    }

    async fn get_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<Investigation, StoreError> {
        self.read_investigation(self.pool(), org, id).await
    }

    async fn list_investigations(
        &self,
        org: OrgId,
        incident: Option<IncidentId>,
        limit: u32,
    ) -> Result<Vec<Investigation>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_LIST));
        let rows = match incident {
            Some(incident) => {
                sqlx::query(concat!(
                    "SELECT ",
                    investigation_columns!(),
                    " FROM investigations WHERE org_id = $1 AND incident_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(org.to_string())
                .bind(incident.to_string())
                .bind(limit)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    investigation_columns!(),
                    " FROM investigations WHERE org_id = $1 AND trigger_kind <> 'chat' \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(org.to_string())
                .bind(limit)
                .fetch_all(self.pool())
                .await
            }
        }
        .map_err(db_error)?;
        rows.iter().map(investigation_from_row).collect()
    }

    async fn latest_for_incident(
        &self,
        org: OrgId,
        incident: IncidentId,
    ) -> Result<Option<Investigation>, StoreError> {
        Ok(self
            .list_investigations(org, Some(incident), 1)
            .await?
            .into_iter()
            .next())
    }

    async fn start_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
        model: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Investigation, StoreError> {
        let started = sqlx::query(concat!(
            "UPDATE investigations SET status = 'running', started_at = COALESCE(started_at, $1), \
             model = COALESCE($2, model) \
             WHERE org_id = $3 AND id = $4 AND status IN ('queued', 'running') RETURNING ",
            investigation_columns!()
        ))
        .bind(to_millis(now))
        .bind(model)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?;
        match started {
            Some(row) => investigation_from_row(&row),
            None => {
                let current = self.current_investigation(org, id).await?;
                Err(StoreError::Conflict(format!(
                    "the investigation is {}: it cannot start again; start a new one",
                    current.status
                )))
            }
        }
    }

    async fn finish_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
        status: InvestigationStatus,
        report: Option<&Report>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Investigation, StoreError> {
        if !status.is_final() {
            return Err(StoreError::Conflict(format!(
                "an investigation cannot finish as {status}: use completed, failed or cancelled"
            )));
        }
        let report = report.map(to_json).transpose()?;
        let finished = sqlx::query(concat!(
            "UPDATE investigations SET status = $1, report = $2, error = $3, finished_at = $4 \
             WHERE org_id = $5 AND id = $6 AND status IN ('queued', 'running') RETURNING ",
            investigation_columns!()
        ))
        .bind(status.as_str())
        .bind(report)
        .bind(error.map(str::to_owned))
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?;
        match finished {
            Some(row) => investigation_from_row(&row),
            None => {
                let current = self.current_investigation(org, id).await?;
                Err(StoreError::Conflict(format!(
                    "the investigation already ended: it is {}",
                    current.status
                )))
            }
        }
    }

    async fn request_cancel(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<Investigation, StoreError> {
        // Every expression of an UPDATE sees the row as it was, so both CASEs test the old
        // status.
        let cancelled = sqlx::query(concat!(
            "UPDATE investigations SET cancel_requested = 1, \
             status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
             finished_at = CASE WHEN status = 'queued' THEN $1 ELSE finished_at END \
             WHERE org_id = $2 AND id = $3 AND status IN ('queued', 'running') RETURNING ",
            investigation_columns!()
        ))
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?;
        match cancelled {
            Some(row) => investigation_from_row(&row),
            None => self.current_investigation(org, id).await,
        }
    }

    async fn is_cancel_requested(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT cancel_requested FROM investigations WHERE org_id = $1 AND id = $2",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound("investigation"))?;
        Ok(count(&row, "cancel_requested")? != 0)
    }

    async fn append_step(
        &self,
        org: OrgId,
        id: InvestigationId,
        step: NewStep,
        now: OffsetDateTime,
    ) -> Result<Step, StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let row = sqlx::query(
            "UPDATE investigations SET last_seq = last_seq + 1, \
             input_tokens = input_tokens + $1, output_tokens = output_tokens + $2, \
             cost_usd = cost_usd + $3 WHERE org_id = $4 AND id = $5 RETURNING last_seq",
        )
        .bind(int(step.usage.input_tokens))
        .bind(int(step.usage.output_tokens))
        .bind(step.cost_usd)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound("investigation"))?;
        let seq = seq_at(&row, "last_seq")?;
        sqlx::query(
            "INSERT INTO investigation_steps (investigation_id, seq, org_id, kind, payload, \
             created_at, duration_ms, input_tokens, output_tokens, cost_usd) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.to_string())
        .bind(i64::from(seq))
        .bind(org.to_string())
        .bind(step.kind.as_str())
        .bind(to_json(&step.payload)?)
        .bind(to_millis(now))
        .bind(step.duration_ms.map(int))
        .bind(int(step.usage.input_tokens))
        .bind(int(step.usage.output_tokens))
        .bind(step.cost_usd)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Step {
            investigation_id: id,
            seq,
            kind: step.kind,
            payload: step.payload,
            created_at: stored(now),
            duration_ms: step.duration_ms,
            usage: step.usage,
            cost_usd: step.cost_usd,
        })
    }

    async fn list_steps(
        &self,
        org: OrgId,
        id: InvestigationId,
        after_seq: Option<u32>,
    ) -> Result<Vec<Step>, StoreError> {
        let steps = sqlx::query(concat!(
            "SELECT ",
            step_columns!(),
            " FROM investigation_steps WHERE org_id = $1 AND investigation_id = $2 AND seq > $3 \
             ORDER BY seq"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(i64::from(after_seq.unwrap_or(0)))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(step_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            // No steps, or no such investigation.
            self.get_investigation(org, id).await?;
        }
        Ok(steps)
    }

    async fn create_approval(
        &self,
        org: OrgId,
        investigation: InvestigationId,
        step_seq: u32,
        tool: &str,
        arguments: &serde_json::Value,
    ) -> Result<Approval, StoreError> {
        let now = OffsetDateTime::now_utc();
        let created = Approval {
            id: ApprovalId::new(),
            org_id: org,
            investigation_id: investigation,
            step_seq,
            tool: tool.to_owned(),
            arguments: arguments.clone(),
            status: ApprovalStatus::Pending,
            requested_at: stored(now),
            decided_by: None,
            decided_at: None,
            reason: None,
        };
        // Selecting the step scopes the insert to the organisation's tool calls.
        let done = sqlx::query(
            "INSERT INTO approvals (id, org_id, investigation_id, step_seq, tool, arguments, \
             status, requested_at) \
             SELECT $1, org_id, investigation_id, seq, $2, $3, 'pending', $4 \
             FROM investigation_steps \
             WHERE org_id = $5 AND investigation_id = $6 AND seq = $7 AND kind = 'tool_call'",
        )
        .bind(created.id.to_string())
        .bind(tool.to_owned())
        .bind(to_json(arguments)?)
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(investigation.to_string())
        .bind(i64::from(step_seq))
        .execute(self.writer())
        .await
        .map_err(|err| {
            conflict_or(err, || {
                format!("step {step_seq} already has an approval: decide that one")
            })
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tool call step"));
        }
        Ok(created)
    }

    async fn get_approval(&self, org: OrgId, id: ApprovalId) -> Result<Approval, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(approval_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("approval"))
    }

    async fn list_pending_approvals(&self, org: OrgId) -> Result<Vec<Approval>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE org_id = $1 AND status = 'pending' ORDER BY requested_at, id"
        ))
        .bind(org.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(approval_from_row)
        .collect()
    }

    async fn decide_approval(
        &self,
        org: OrgId,
        id: ApprovalId,
        approve: bool,
        user: UserId,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Approval, StoreError> {
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // Read before the write: safe on SQLite, whose writes all go through this connection.
        let actor = sqlx::query("SELECT name FROM users WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .ok_or(StoreError::NotFound("user"))?;
        let actor_name = text(&actor, "name")?;
        let decided = sqlx::query(concat!(
            "UPDATE approvals SET status = $1, decided_by = $2, decided_at = $3, reason = $4 \
             WHERE org_id = $5 AND id = $6 AND status = 'pending' RETURNING ",
            approval_columns!()
        ))
        .bind(status.as_str())
        .bind(user.to_string())
        .bind(to_millis(now))
        .bind(reason.map(str::to_owned))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = decided else {
            let current = sqlx::query("SELECT status FROM approvals WHERE org_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound("approval"))?;
            return Err(StoreError::Conflict(format!(
                "the approval was already decided: it is {}",
                text(&current, "status")?
            )));
        };
        let approval = approval_from_row(&row)?;
        let details = json!({
            "investigation_id": approval.investigation_id,
            "step_seq": approval.step_seq,
            "tool": approval.tool,
            "arguments": approval.arguments,
            "reason": approval.reason,
        });
        sqlx::query(
            "INSERT INTO audit_log (id, org_id, at, actor_id, actor_name, action, target, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(AuditId::new().to_string())
        .bind(org.to_string())
        .bind(to_millis(now))
        .bind(user.to_string())
        .bind(actor_name)
        .bind(format!("approval.{}", status.as_str()))
        .bind(format!("approval:{id}"))
        .bind(to_json(&details)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(approval)
    }

    async fn approval_for_step(
        &self,
        org: OrgId,
        investigation: InvestigationId,
        step_seq: u32,
    ) -> Result<Option<Approval>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE org_id = $1 AND investigation_id = $2 AND step_seq = $3"
        ))
        .bind(org.to_string())
        .bind(investigation.to_string())
        .bind(i64::from(step_seq))
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(approval_from_row)
        .transpose()
    }

    async fn list_audit(&self, org: OrgId, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query(
            "SELECT id, at, actor_id, actor_name, action, target, details FROM audit_log \
             WHERE org_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(org.to_string())
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                id: parse_column(&text(row, "id")?, "audit id")?,
                at: time_at(row, "at")?,
                actor_id: opt_parse(row, "actor_id", "user id")?,
                actor_name: text(row, "actor_name")?,
                action: text(row, "action")?,
                target: text(row, "target")?,
                details: json_column(row, "details")?,
            })
        })
        .collect()
    }

    async fn create_connector(
        &self,
        org: OrgId,
        connector: NewConnector,
    ) -> Result<Connector, StoreError> {
        connectors::create(self, org, connector).await
    }

    async fn list_connectors(&self, org: OrgId) -> Result<Vec<Connector>, StoreError> {
        connectors::list(self, org).await
    }

    async fn get_connector(&self, org: OrgId, id: ConnectorId) -> Result<Connector, StoreError> {
        connectors::get(self, org, id).await
    }

    async fn update_connector_check(
        &self,
        org: OrgId,
        id: ConnectorId,
        check: &ConnectorCheck,
    ) -> Result<Connector, StoreError> {
        connectors::update_check(self, org, id, check).await
    }

    async fn delete_connector(&self, org: OrgId, id: ConnectorId) -> Result<Connector, StoreError> {
        connectors::delete(self, org, id).await
    }

    async fn get_llm_settings(&self, org: OrgId) -> Result<Option<LlmSettings>, StoreError> {
        sqlx::query(
            "SELECT provider, model, base_url, api_key_ref, max_steps, \
             max_tokens_per_investigation, max_cost_per_investigation_usd, max_cost_per_day_usd, \
             updated_at FROM llm_settings WHERE org_id = $1",
        )
        .bind(org.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(settings_from_row)
        .transpose()
    }

    async fn put_llm_settings(&self, org: OrgId, settings: &LlmSettings) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO llm_settings (org_id, provider, model, base_url, api_key_ref, max_steps, \
             max_tokens_per_investigation, max_cost_per_investigation_usd, max_cost_per_day_usd, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (org_id) DO UPDATE SET provider = excluded.provider, \
             model = excluded.model, base_url = excluded.base_url, \
             api_key_ref = excluded.api_key_ref, max_steps = excluded.max_steps, \
             max_tokens_per_investigation = excluded.max_tokens_per_investigation, \
             max_cost_per_investigation_usd = excluded.max_cost_per_investigation_usd, \
             max_cost_per_day_usd = excluded.max_cost_per_day_usd, \
             updated_at = excluded.updated_at",
        )
        .bind(org.to_string())
        .bind(settings.provider.clone())
        .bind(settings.model.clone())
        .bind(settings.base_url.clone())
        .bind(settings.api_key_ref.as_ref().map(ToString::to_string))
        .bind(i64::from(settings.max_steps))
        .bind(int(settings.max_tokens_per_investigation))
        .bind(settings.max_cost_per_investigation_usd)
        .bind(settings.max_cost_per_day_usd)
        .bind(to_millis(settings.updated_at))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn usage_since(
        &self,
        org: OrgId,
        since: OffsetDateTime,
    ) -> Result<UsageSummary, StoreError> {
        // The casts keep the sums' types portable: PostgreSQL sums BIGINT into NUMERIC, and
        // SQLite's SUM of no rows is NULL.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
             CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
             CAST(COALESCE(SUM(cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd \
             FROM investigations WHERE org_id = $1 AND created_at >= $2",
        )
        .bind(org.to_string())
        .bind(to_millis(since))
        .fetch_one(self.pool())
        .await
        .map_err(db_error)?;
        Ok(UsageSummary {
            investigations: count(&row, "n")?,
            usage: usage_at(&row)?,
            cost_usd: real(&row, "cost_usd")?,
        })
    }
}
