//! The job workers: take jobs from the [`JobQueue`], run them with the [`JobHandler`] registered
//! for their kind, and record the outcome. `aurora serve` runs `workers.concurrency` of them
//! in-process ([`Worker::start`]); tests call [`Worker::run_once`] to drain a queue
//! deterministically.
//!
//! A worker asks only for the kinds it has a handler for, so jobs of other kinds stay queued
//! (and are reported once in the log) until a build that handles them runs. While a job runs,
//! its lease is renewed every third of `workers.lease`; a worker that stops without a word
//! leaves a lease that runs out, and the job is taken again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::events::{DomainEvent, EventBus, EventSubscription};
use aurora_core::ids::OrgId;
use aurora_core::job::{Job, JobError, JobHandler, JobStatus, RetryPolicy};
use aurora_core::ports::JobQueue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How often the queue depth is measured and unhandled kinds are looked for.
const QUEUE_REPORT_INTERVAL: Duration = Duration::from_secs(15);

/// `[workers]`: the in-process workers of the job queue.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Jobs run at the same time by this process. 0 runs no workers here (a web-only replica
    /// beside others that do).
    pub concurrency: usize,
    /// How long an idle worker waits before it asks the queue again: the longest a new job
    /// waits when workers are idle.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How long a claimed job stays reserved to its worker without news. The worker renews it
    /// every third of this while the job runs; a job whose worker died is taken again after it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Longest one run may take; a run that takes longer is stopped and counts as a failed
    /// attempt that may be retried.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Runs a job gets before it is `failed` for good (an admin can retry it).
    pub max_attempts: u32,
    /// Wait before the second run; it doubles with each further attempt.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Longest wait between two runs.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(10 * 60),
            max_attempts: 5,
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30 * 60),
        }
    }
}

impl WorkersConfig {
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
        }
    }

    /// What is wrong with these settings, one line per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.poll_interval.is_zero() {
            problems.push("workers.poll_interval: must be longer than zero, e.g. \"1s\"".into());
        }
        if self.lease < Duration::from_secs(1) {
            problems.push("workers.lease: must be at least one second, e.g. \"60s\"".into());
        }
        if self.timeout.is_zero() {
            problems.push("workers.timeout: must be longer than zero, e.g. \"10m\"".into());
        }
        if self.max_attempts == 0 {
            problems.push("workers.max_attempts: must be at least 1".into());
        }
        if self.backoff_max < self.backoff_base {
            problems.push("workers.backoff_max: must be at least workers.backoff_base".into());
        }
        problems
    }
}

/// Where a worker reads the time; tests move it forward to reach a retry's backoff.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How a claimed job's run ended, as `aurora_jobs_total{outcome}` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Failed, queued again after its backoff.
    Retried,
    /// Failed for good.
    Failed,
    /// Its lease ran out and another worker took it; nothing was recorded.
    LeaseLost,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// Runs jobs with the handlers registered per kind.
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    handlers: BTreeMap<String, Arc<dyn JobHandler>>,
    config: WorkersConfig,
    /// This process's prefix of lease-holder names.
    name: String,
    clock: Clock,
    /// Kinds already reported as queued with no handler.
    reported: Mutex<BTreeSet<String>>,
    /// Wakes an idle worker loop before its poll interval ends (see [`JobWakingEvents`]).
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(queue: Arc<dyn JobQueue>, config: WorkersConfig) -> Self {
        let started = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self {
            queue,
            handlers: BTreeMap::new(),
            config,
            name: format!("pid{}-{:x}", std::process::id(), started % (1 << 40)),
            clock: Arc::new(OffsetDateTime::now_utc),
            reported: Mutex::new(BTreeSet::new()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Lets `wake` end an idle loop's wait: a job enqueued in this process starts at once
    /// instead of after up to `workers.poll_interval`.
    pub fn with_waker(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs the jobs of `kind` with `handler` (replacing an earlier one for that kind).
    pub fn register(&mut self, kind: &str, handler: Arc<dyn JobHandler>) -> &mut Self {
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    pub fn kinds(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }

    /// Claims one due job, runs it and records the outcome. `Ok(false)` when no job of a
    /// registered kind was due.
    pub async fn run_once(&self) -> Result<bool, StoreError> {
        Ok(self.process(&format!("{}/0", self.name)).await?.is_some())
    }

    async fn process(&self, worker: &str) -> Result<Option<Outcome>, StoreError> {
        let kinds = self.kinds();
        let Some(job) = self
            .queue
            .claim(worker, &kinds, (self.clock)(), self.config.lease)
            .await?
        else {
            return Ok(None);
        };
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
        let outcome = tracing::Instrument::instrument(self.execute(worker, &job), span).await?;
        metrics::counter!(
            "aurora_jobs_total",
            "kind" => job.kind.clone(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
        Ok(Some(outcome))
    }

    async fn execute(&self, worker: &str, job: &Job) -> Result<Outcome, StoreError> {
        let result = if job.attempts > self.config.max_attempts {
            // Taken over after a lease ran out once too often: a job that stops its worker
            // every time must not loop for ever.
            Err(JobError::Permanent(format!(
                "gave up after {} attempts; the last: {}",
                job.attempts - 1,
                job.last_error.as_deref().unwrap_or("no error recorded")
            )))
        } else {
            match self.handlers.get(&job.kind) {
                Some(handler) => match self.run_leased(worker, job, handler.clone()).await {
                    Some(result) => result,
                    None => {
                        tracing::warn!("lease lost while the job ran; another worker has it");
                        return Ok(Outcome::LeaseLost);
                    }
                },
                None => Err(JobError::Permanent(format!(
                    "no handler for jobs of kind {:?}",
                    job.kind
                ))),
            }
        };
        let now = (self.clock)();
        let recorded = match result {
            Ok(()) => self
                .queue
                .complete(job, worker, now)
                .await
                .map(|()| Outcome::Done),
            Err(err) => {
                let policy = self.config.retry_policy();
                let retry = err.is_retryable().then_some(&policy);
                let after = self
                    .queue
                    .fail(job, worker, &err.to_string(), retry, now)
                    .await;
                after.map(|after| {
                    if after.status == JobStatus::Queued {
                        tracing::warn!(error = %err, run_at = %after.run_at, "job failed; it will be retried");
                        Outcome::Retried
                    } else {
                        tracing::warn!(error = %err, "job failed for good");
                        Outcome::Failed
                    }
                })
            }
        };
        match recorded {
            Err(StoreError::Conflict(_)) => {
                tracing::warn!("lease lost before the outcome was recorded; another worker has it");
                Ok(Outcome::LeaseLost)
            }
            other => other,
        }
    }

    /// Runs `job` under the timeout while renewing its lease. `None` when the lease was lost.
    async fn run_leased(
        &self,
        worker: &str,
        job: &Job,
        handler: Arc<dyn JobHandler>,
    ) -> Option<Result<(), JobError>> {
        // Its own task, so that a panicking handler fails its job instead of the worker.
        let owned = job.clone();
        let mut task = tokio::spawn(async move { handler.run(&owned).await });
        let _abort = AbortOnDrop(task.abort_handle());
        let timeout = tokio::time::sleep(self.config.timeout);
        tokio::pin!(timeout);
        let mut renew =
            tokio::time::interval((self.config.lease / 3).max(Duration::from_millis(10)));
        renew.tick().await;
        loop {
            tokio::select! {
                joined = &mut task => {
                    return Some(joined.unwrap_or_else(|err| {
                        Err(JobError::Permanent(if err.is_panic() {
                            "the job's handler panicked".to_owned()
                        } else {
                            format!("the job's handler stopped: {err}")
                        }))
                    }));
                }
                () = &mut timeout => {
                    return Some(Err(JobError::Retryable(format!(
                        "timed out after {:?}",
                        self.config.timeout
                    ))));
                }
                _ = renew.tick() => {
                    let until = (self.clock)() + self.config.lease;
                    match self.queue.heartbeat(job, worker, until).await {
                        Ok(()) => {}
                        Err(StoreError::Conflict(_)) => return None,
                        Err(err) => tracing::warn!(error = %err, "cannot renew the job's lease"),
                    }
                }
            }
        }
    }

    /// Sets the queue-depth gauges and reports, once per kind, queued jobs that no handler of
    /// this process runs. Returns the kinds reported this time.
    pub async fn report_queue(&self) -> Result<Vec<String>, StoreError> {
        let depths = self.queue.job_depths().await?;
        for status in JobStatus::ALL {
            let total: u64 = depths
                .iter()
                .filter(|d| d.status == status)
                .map(|d| d.count)
                .sum();
            metrics::gauge!("aurora_job_queue_depth", "status" => status.as_str())
                .set(total as f64);
        }
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut new = Vec::new();
        for depth in depths.iter().filter(|d| d.status == JobStatus::Queued) {
            if !self.handlers.contains_key(&depth.kind) && reported.insert(depth.kind.clone()) {
                new.push(depth.kind.clone());
                tracing::warn!(
                    kind = %depth.kind,
                    queued = depth.count,
                    "jobs of this kind are queued but this build has no handler for them; they stay queued"
                );
            }
        }
        Ok(new)
    }

    /// Starts `workers.concurrency` worker loops and the queue report.
    pub fn start(self) -> WorkerPool {
        let worker = Arc::new(self);
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let loops = if worker.handlers.is_empty() {
            tracing::info!("no job handlers registered: this process runs no jobs");
            0
        } else {
            worker.config.concurrency
        };
        for slot in 0..loops {
            let worker = worker.clone();
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("{}/{slot}", worker.name);
                while !*stopped.borrow() {
                    match worker.process(&name).await {
                        // Something was due: look again at once, to drain a backlog.
                        Ok(Some(_)) => continue,
                        Ok(None) => {}
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot take a job from the queue")
                        }
                    }
                    tokio::select! {
                        () = tokio::time::sleep(worker.config.poll_interval) => {}
                        () = worker.wake.notified() => {}
                        _ = stopped.changed() => {}
                    }
                }
            }));
        }
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(QUEUE_REPORT_INTERVAL);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        if let Err(err) = worker.report_queue().await {
                            tracing::warn!(error = %err, "cannot measure the job queue");
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        }));
        WorkerPool {
            stop: Arc::new(stop),
            tasks,
        }
    }
}

/// The event bus, also waking the job workers when an event means a job was probably just
/// enqueued in this process: an incident opened (its `investigate` job) or an investigation
/// changed (a re-investigation). A wake with nothing due costs one look at the queue.
pub struct JobWakingEvents {
    inner: Arc<dyn EventBus>,
    wake: Arc<Notify>,
}

impl JobWakingEvents {
    pub fn new(inner: Arc<dyn EventBus>, wake: Arc<Notify>) -> Self {
        Self { inner, wake }
    }
}

#[async_trait]
impl EventBus for JobWakingEvents {
    async fn publish(&self, org: OrgId, event: DomainEvent) {
        self.inner.publish(org, event).await;
        if matches!(
            event,
            DomainEvent::IncidentOpened { .. }
                | DomainEvent::InvestigationUpdated { .. }
                | DomainEvent::DocumentUpdated { .. }
        ) {
            self.wake.notify_one();
        }
    }

    fn subscribe(&self, org: OrgId) -> Box<dyn EventSubscription> {
        self.inner.subscribe(org)
    }

    fn close(&self) {
        self.inner.close();
    }
}

/// Running worker loops.
pub struct WorkerPool {
    stop: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Tells the loops to take no further jobs; jobs in progress continue.
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let stop = self.stop.clone();
        move || {
            let _ = stop.send(true);
        }
    }

    /// Stops taking jobs and waits up to `grace` for the ones in progress; those still running
    /// then are abandoned, and their leases run out so that another worker takes them again.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let aborts: Vec<_> = self.tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_join(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                ?grace,
                "jobs still running after the shutdown grace period; abandoning them"
            );
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

/// Stops a handler's task when its worker stops waiting for it (timeout, lost lease, shutdown).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests;
