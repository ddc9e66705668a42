//! [`JobQueue`] on the SQL store.
//!
//! A claim is one `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING …` statement. On PostgreSQL
//! the inner select takes the row with `FOR UPDATE SKIP LOCKED`, so concurrent claimers pass
//! over each other's rows instead of queueing behind them. On SQLite a writing statement takes
//! the database's write lock before it reads, so the select and the update see no other writer.
//!
//! The lease holder is named by `locked_by` and fenced by `attempts`: a worker whose lease ran
//! out and whose job was claimed again (which counts an attempt) can no longer record anything.

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::ids::{JobId, OrgId};
use aurora_core::job::{Job, JobCounts, JobDepth, JobFilter, JobStatus, NewJob, RetryPolicy};
use aurora_core::ports::JobQueue;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::signals::{
    count, json_column, millis_of, opt_text, opt_time, stored, text, time_at, to_json,
};
use super::{Backend, SqlStore, db_error, parse_column, to_millis};

macro_rules! job_columns {
    () => {
        "id, org_id, kind, payload, status, attempts, run_at, created_at, last_error, locked_by, \
         locked_until, finished_at"
    };
}

/// Longest error text kept for a failed run; longer ones are cut at a character boundary.
const MAX_ERROR_BYTES: usize = 4096;

/// What a claim records when it takes over a job whose lease ran out.
const LEASE_EXPIRED: &str =
    "the previous run's lease expired: its worker stopped, or lost the database, before finishing";

fn job_from_row(row: &AnyRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: parse_column(&text(row, "id")?, "job id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        kind: text(row, "kind")?,
        payload: json_column(row, "payload")?,
        status: parse_column(&text(row, "status")?, "job status")?,
        attempts: u32::try_from(count(row, "attempts")?).unwrap_or(u32::MAX),
        run_at: time_at(row, "run_at")?,
        created_at: time_at(row, "created_at")?,
        last_error: opt_text(row, "last_error")?,
        locked_by: opt_text(row, "locked_by")?,
        locked_until: opt_time(row, "locked_until")?,
        finished_at: opt_time(row, "finished_at")?,
    })
}

fn truncated(error: &str) -> &str {
    if error.len() <= MAX_ERROR_BYTES {
        return error;
    }
    let mut end = MAX_ERROR_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

fn lease_lost() -> StoreError {
    StoreError::Conflict(
        "the job's lease was lost: it expired and another worker claimed the job".into(),
    )
}

/// The guard of every write by the lease holder.
const HELD: &str = "id = $a AND status = 'running' AND locked_by = $b AND attempts = $c";

/// `HELD` with its placeholders numbered from `first`.
fn held(first: usize) -> String {
    HELD.replace("$a", &format!("${first}"))
        .replace("$b", &format!("${}", first + 1))
        .replace("$c", &format!("${}", first + 2))
}

#[async_trait]
impl JobQueue for SqlStore {
    async fn enqueue(&self, org: OrgId, job: NewJob) -> Result<Job, StoreError> {
        let id = JobId::new();
        let now = OffsetDateTime::now_utc();
        sqlx::query(
            "INSERT INTO jobs (id, org_id, kind, payload, status, attempts, run_at, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&job.kind)
        .bind(to_json(&job.payload)?)
        .bind(to_millis(job.run_at))
        .bind(to_millis(now))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(Job {
            id,
            org_id: org,
            kind: job.kind,
            payload: job.payload,
            status: JobStatus::Queued,
            attempts: 0,
            run_at: stored(job.run_at),
            created_at: stored(now),
            last_error: None,
            locked_by: None,
            locked_until: None,
            finished_at: None,
        })
    }

    async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        now: OffsetDateTime,
        lease: std::time::Duration,
    ) -> Result<Option<Job>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 5)).collect();
        let lock = match self.kind() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, last_error = CASE WHEN status = 'running' THEN $4 \
             ELSE last_error END \
             WHERE id = (SELECT id FROM jobs WHERE kind IN ({}) AND \
             ((status = 'queued' AND run_at <= $3) OR (status = 'running' AND locked_until <= $3)) \
             ORDER BY run_at, id LIMIT 1{lock}) RETURNING {}",
            placeholders.join(", "),
            job_columns!()
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker.to_owned())
            .bind(to_millis(now).saturating_add(millis_of(lease)))
            .bind(to_millis(now))
            .bind(LEASE_EXPIRED);
        for kind in kinds {
            query = query.bind(kind.to_string());
        }
        query
            .fetch_optional(self.writer())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn heartbeat(
        &self,
        job: &Job,
        worker: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = format!("UPDATE jobs SET locked_until = $1 WHERE {}", held(2));
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_millis(until))
            .bind(job.id.to_string())
            .bind(worker.to_owned())
            .bind(i64::from(job.attempts))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(lease_lost());
        }
        Ok(())
    }

    async fn complete(
        &self,
        job: &Job,
        worker: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, \
             finished_at = $1 WHERE {}",
            held(2)
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_millis(now))
            .bind(job.id.to_string())
            .bind(worker.to_owned())
            .bind(i64::from(job.attempts))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(lease_lost());
        }
        Ok(())
    }

    async fn fail(
        &self,
        job: &Job,
        worker: &str,
        error: &str,
        retry: Option<&RetryPolicy>,
        now: OffsetDateTime,
    ) -> Result<Job, StoreError> {
        let next = retry.and_then(|policy| policy.next_run(job.attempts, now));
        let (status, run_at, finished_at) = match next {
            Some(at) => (JobStatus::Queued, to_millis(at), None),
            None => (
                JobStatus::Failed,
                to_millis(job.run_at),
                Some(to_millis(now)),
            ),
        };
        let sql = format!(
            "UPDATE jobs SET status = $1, run_at = $2, finished_at = $3, last_error = $4, \
             locked_by = NULL, locked_until = NULL WHERE {} RETURNING {}",
            held(5),
            job_columns!()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(run_at)
            .bind(finished_at)
            .bind(truncated(error).to_owned())
            .bind(job.id.to_string())
            .bind(worker.to_owned())
            .bind(i64::from(job.attempts))
            .fetch_optional(self.writer())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()?
            .ok_or_else(lease_lost)
    }

    async fn list_jobs(&self, org: OrgId, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let limit = i64::from(filter.page_size());
        let rows = match filter.status {
            Some(status) => {
                sqlx::query(concat!(
                    "SELECT ",
                    job_columns!(),
                    " FROM jobs WHERE org_id = $1 AND status = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(org.to_string())
                .bind(status.as_str())
                .bind(limit)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    job_columns!(),
                    " FROM jobs WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(org.to_string())
                .bind(limit)
                .fetch_all(self.pool())
                .await
            }
        }
        .map_err(db_error)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn count_jobs(&self, org: OrgId) -> Result<JobCounts, StoreError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM jobs WHERE org_id = $1 GROUP BY status")
                .bind(org.to_string())
                .fetch_all(self.pool())
                .await
                .map_err(db_error)?;
        let mut counts = JobCounts::default();
        for row in &rows {
            counts.add(
                parse_column(&text(row, "status")?, "job status")?,
                count(row, "n")?,
            );
        }
        Ok(counts)
    }

    async fn retry_job(
        &self,
        org: OrgId,
        id: JobId,
        now: OffsetDateTime,
    ) -> Result<Job, StoreError> {
        let requeued = sqlx::query(concat!(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, finished_at = NULL, \
             locked_by = NULL, locked_until = NULL \
             WHERE org_id = $2 AND id = $3 AND status = 'failed' RETURNING ",
            job_columns!()
        ))
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?;
        if let Some(row) = requeued {
            return job_from_row(&row);
        }
        let current = sqlx::query("SELECT status FROM jobs WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(self.writer())
            .await
            .map_err(db_error)?
            .ok_or(StoreError::NotFound("job"))?;
        Err(StoreError::Conflict(format!(
            "the job is {}: only failed jobs can be retried",
            text(&current, "status")?
        )))
    }

    async fn job_depths(&self) -> Result<Vec<JobDepth>, StoreError> {
        sqlx::query(
            "SELECT kind, status, COUNT(*) AS n FROM jobs GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| {
            Ok(JobDepth {
                kind: text(row, "kind")?,
                status: parse_column(&text(row, "status")?, "job status")?,
                count: count(row, "n")?,
            })
        })
        .collect()
    }
}
