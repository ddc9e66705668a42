//! Background jobs: durable units of work (such as investigating a new incident) that workers
//! take from a queue ([`JobQueue`](crate::ports::JobQueue)), run with a [`JobHandler`] of their
//! kind, and retry with exponential backoff ([`RetryPolicy`]) until they succeed or give up.
//!
//! A job is `queued` (due at `run_at`), `running` (leased to one worker until `locked_until`; an
//! expired lease makes it claimable again), `done`, or `failed` (dead: it gave up, or its error
//! was not retryable) until an admin retries it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{JobId, OrgId};

/// The job kind that runs an investigation. Ingest enqueues one per new incident with payload
/// `{"incident_id": "<id>"}` (the worker creates the investigation);
/// [`enqueue_investigation`](crate::ports::InvestigationStore::enqueue_investigation) enqueues one
/// with `{"investigation_id": "<id>", "incident_id": "<id>" | null}`.
pub const INVESTIGATE: &str = "investigate";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown job status {0:?}: use queued, running, done or failed")]
pub struct UnknownJobStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownJobStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownJobStatus(s.to_owned()))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    pub id: JobId,
    pub org_id: OrgId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    /// Runs started so far, counting the one in progress.
    pub attempts: u32,
    /// When a queued job is due.
    #[serde(with = "time::serde::rfc3339")]
    pub run_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Why the last run failed, if it did.
    pub last_error: Option<String>,
    /// The worker holding a running job's lease.
    pub locked_by: Option<String>,
    /// When a running job's lease ends unless its worker extends it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// When the job became `done` or `failed`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: OffsetDateTime,
}

/// Which jobs to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    /// At most this many; see [`JobFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl JobFilter {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    /// The page size actually used: the requested one within `1..=MAX_LIMIT`.
    pub fn page_size(&self) -> u32 {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit.min(Self::MAX_LIMIT)
        }
    }
}

/// How many jobs are in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

impl JobCounts {
    pub fn get(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Queued => self.queued,
            JobStatus::Running => self.running,
            JobStatus::Done => self.done,
            JobStatus::Failed => self.failed,
        }
    }

    pub fn add(&mut self, status: JobStatus, n: u64) {
        let slot = match status {
            JobStatus::Queued => &mut self.queued,
            JobStatus::Running => &mut self.running,
            JobStatus::Done => &mut self.done,
            JobStatus::Failed => &mut self.failed,
        };
        *slot += n;
    }
}

/// How many jobs of one kind are in one status, across organisations: the queue depth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobDepth {
    pub kind: String,
    pub status: JobStatus,
    pub count: u64,
}

/// When a failed run is tried again: after `backoff_base`, doubling with each attempt up to
/// `backoff_max`, until `max_attempts` runs have failed and the job is `failed` for good. No
/// jitter: retries are spread by when their jobs failed, and a fixed schedule is predictable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The wait after the `attempts`-th run failed: `backoff_base × 2^(attempts − 1)`, at most
    /// `backoff_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32
            .checked_pow(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }

    /// When to run again after the `attempts`-th run failed at `now`; `None` once the job has
    /// had `max_attempts` runs.
    pub fn next_run(&self, attempts: u32, now: OffsetDateTime) -> Option<OffsetDateTime> {
        (attempts < self.max_attempts).then(|| now + self.backoff(attempts))
    }
}

/// Why a run failed, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A passing problem (a peer timed out, the database was busy): retried with backoff.
    #[error("{0}")]
    Retryable(String),
    /// The job cannot succeed as it is (bad payload, its incident is gone): failed at once.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Retryable(_))
    }
}

/// Runs the jobs of one kind. The worker runtime claims a job, calls [`JobHandler::run`] under
/// a timeout, and records the outcome. A run may be repeated (a worker may stop after the work
/// but before recording it), so handlers must be safe to run twice.
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

#[cfg(test)]
mod tests;
