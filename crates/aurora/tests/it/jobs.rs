//! The job queue end to end: a webhook's new incident queues an investigation, workers with
//! test handlers drain it, failures back off and land in `failed`, admins retry them, and
//! `/api/v1/jobs` shows all of it to the organisation's editors and admins only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aurora::worker::{Clock, Worker, WorkersConfig};
use aurora_core::job::{Job, JobError, JobHandler, NewJob};
use aurora_core::model::{Role, User};
use aurora_core::ports::JobQueue;
use aurora_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

const FIRING: &str =
    include_str!("../../../aurora-signals/tests/fixtures/alertmanager/firing_group.json");

/// Records the payloads it runs.
#[derive(Default)]
struct Record(Mutex<Vec<Value>>);

#[async_trait]
impl JobHandler for Record {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        self.0.lock().unwrap().push(job.payload.clone());
        Ok(())
    }
}

/// Fails every run.
struct Fail {
    retryable: bool,
}

#[async_trait]
impl JobHandler for Fail {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        if self.retryable {
            Err(JobError::Retryable("connection refused".into()))
        } else {
            Err(JobError::Permanent("the payload names no incident".into()))
        }
    }
}

/// A clock the test moves.
#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(OffsetDateTime::now_utc())))
    }

    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    fn clock(&self) -> Clock {
        let now = self.0.clone();
        Arc::new(move || *now.lock().unwrap())
    }
}

/// An app with an admin and their token, and one delivered alert group: one new incident.
async fn with_incident() -> (TestApp, User, String, String) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    let source: Value = app
        .client
        .post(app.url("/api/v1/sources"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "prod"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcome: Value = app
        .client
        .post(app.url(&format!(
            "/api/v1/webhooks/{}",
            source["id"].as_str().unwrap()
        )))
        .bearer_auth(source["secret"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(FIRING)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let incident = outcome["new_incidents"][0].as_str().unwrap().to_owned();
    (app, admin, token, incident)
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn post(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn worker(app: &TestApp, config: WorkersConfig) -> Worker {
    Worker::new(app.store.clone(), config)
}

#[tokio::test]
async fn a_new_incidents_investigation_is_queued_until_a_worker_drains_it() {
    let (app, _, token, incident) = with_incident().await;

    let (status, list) = get_json(&app, &token, "/api/v1/jobs?status=queued").await;
    assert_eq!(status, StatusCode::OK);
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{list}");
    assert_eq!(jobs[0]["kind"], "investigate");
    assert_eq!(jobs[0]["status"], "queued");
    assert_eq!(jobs[0]["attempts"], 0);
    assert_eq!(jobs[0]["payload"]["incident_id"], incident.as_str());
    assert!(jobs[0]["run_at"].is_string());
    assert!(jobs[0]["last_error"].is_null());
    assert_eq!(list["counts"]["queued"], 1);

    // This build has no investigate handler: the job is reported and stays queued.
    let bare = worker(&app, WorkersConfig::default());
    assert!(!bare.run_once().await.unwrap());
    assert_eq!(bare.report_queue().await.unwrap(), ["investigate"]);
    assert!(
        bare.report_queue().await.unwrap().is_empty(),
        "reported once"
    );

    let seen = Arc::new(Record::default());
    let mut drainer = worker(&app, WorkersConfig::default());
    drainer.register("investigate", seen.clone());
    assert!(drainer.run_once().await.unwrap());
    assert!(!drainer.run_once().await.unwrap());
    assert_eq!(
        seen.0.lock().unwrap().as_slice(),
        [json!({"incident_id": incident})]
    );

    let (_, list) = get_json(&app, &token, "/api/v1/jobs?status=done").await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(list["jobs"][0]["attempts"], 1);
    assert!(list["jobs"][0]["finished_at"].is_string());
    assert_eq!(
        (
            list["counts"]["queued"].as_u64(),
            list["counts"]["done"].as_u64()
        ),
        (Some(0), Some(1))
    );

    drainer.report_queue().await.unwrap();
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("aurora_jobs_total{") && l.contains("outcome=\"done\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("aurora_job_queue_depth{status=\"done\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failing_job_backs_off_then_fails_and_an_admin_requeues_it() {
    let (app, admin, token, _) = with_incident().await;
    let editor = app
        .create_user(&admin, "editor@example.com", Role::Editor)
        .await;
    let editor_token = app.token_for(&editor).await;
    let config = WorkersConfig {
        max_attempts: 2,
        backoff_base: Duration::from_secs(60),
        ..WorkersConfig::default()
    };
    let time = TestClock::new();
    let mut failing = worker(&app, config.clone()).with_clock(time.clock());
    failing.register("investigate", Arc::new(Fail { retryable: true }));

    assert!(failing.run_once().await.unwrap());
    let (_, list) = get_json(&app, &editor_token, "/api/v1/jobs?status=queued").await;
    let job = &list["jobs"][0];
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["last_error"], "connection refused");
    let run_at = OffsetDateTime::parse(
        job["run_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = run_at - *time.0.lock().unwrap();
    assert!(
        (59.0..=60.0).contains(&wait.as_seconds_f64()),
        "retried after {wait}"
    );

    // Not before its backoff.
    time.advance(Duration::from_secs(30));
    assert!(!failing.run_once().await.unwrap());
    time.advance(Duration::from_secs(31));
    assert!(failing.run_once().await.unwrap());

    let (_, list) = get_json(&app, &editor_token, "/api/v1/jobs?status=failed").await;
    let job = &list["jobs"][0];
    assert_eq!(job["status"], "failed", "{list}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["last_error"], "connection refused");
    let id = job["id"].as_str().unwrap().to_owned();
    time.advance(Duration::from_secs(86400));
    assert!(
        !failing.run_once().await.unwrap(),
        "a failed job stays failed"
    );

    // Retrying is for admins.
    let retry = format!("/api/v1/jobs/{id}/retry");
    let (status, body) = post(&app, &editor_token, &retry).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = post(&app, &token, &retry).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_u64()),
        (Some("queued"), Some(0))
    );
    let (status, body) = post(&app, &token, &retry).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "job_not_failed");

    let mut fixed = worker(&app, config);
    fixed.register("investigate", Arc::new(Record::default()));
    assert!(fixed.run_once().await.unwrap());
    let (_, list) = get_json(&app, &token, "/api/v1/jobs").await;
    assert_eq!(list["jobs"][0]["status"], "done");
}

#[tokio::test]
async fn an_error_that_retrying_cannot_fix_fails_the_job_at_once() {
    let (app, _, token, _) = with_incident().await;
    let mut worker = worker(&app, WorkersConfig::default());
    worker.register("investigate", Arc::new(Fail { retryable: false }));
    assert!(worker.run_once().await.unwrap());
    let (_, list) = get_json(&app, &token, "/api/v1/jobs?status=failed").await;
    assert_eq!(list["jobs"][0]["attempts"], 1);
    assert_eq!(
        list["jobs"][0]["last_error"],
        "the payload names no incident"
    );
}

#[tokio::test]
async fn viewers_are_refused_and_other_orgs_see_nothing() {
    let (app, admin, token, _) = with_incident().await;
    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let (status, body) = get_json(&app, &viewer_token, "/api/v1/jobs").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");

    let (_, ours) = get_json(&app, &token, "/api/v1/jobs").await;
    let id = ours["jobs"][0]["id"].as_str().unwrap().to_owned();
    let outsider = app.create_org_admin("Globex", "admin@globex.example").await;
    let outsider_token = app.token_for(&outsider).await;
    let (status, theirs) = get_json(&app, &outsider_token, "/api/v1/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["jobs"], json!([]));
    assert_eq!(theirs["counts"]["queued"], 0);
    let (status, body) = post(&app, &outsider_token, &format!("/api/v1/jobs/{id}/retry")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "job_not_found");

    let (status, body) = get_json(&app, &token, "/api/v1/jobs?status=dead").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queued")
    );
}

#[tokio::test]
async fn the_worker_pool_drains_the_queue_concurrently_and_stops_on_request() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    for n in 0..6 {
        app.store
            .enqueue(
                admin.org_id,
                NewJob {
                    kind: "test".into(),
                    payload: json!({"n": n}),
                    run_at: OffsetDateTime::now_utc(),
                },
            )
            .await
            .unwrap();
    }
    let seen = Arc::new(Record::default());
    let mut pool = worker(
        &app,
        WorkersConfig {
            concurrency: 3,
            poll_interval: Duration::from_millis(20),
            ..WorkersConfig::default()
        },
    );
    pool.register("test", seen.clone());
    let pool = pool.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.0.lock().unwrap().len() < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pool did not drain the queue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.shutdown(Duration::from_secs(5)).await;
    let counts = app.store.count_jobs(admin.org_id).await.unwrap();
    assert_eq!((counts.done, counts.queued, counts.running), (6, 0, 0));
}

#[tokio::test]
async fn a_stopped_workers_job_is_taken_again_after_its_lease_but_not_for_ever() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let time = TestClock::new();
    let now = || *time.0.lock().unwrap();
    let lease = Duration::from_secs(60);
    let enqueue = |n: u32| {
        app.store.enqueue(
            admin.org_id,
            NewJob {
                kind: "test".into(),
                payload: json!({"n": n}),
                run_at: now(),
            },
        )
    };
    let seen = Arc::new(Record::default());
    let mut worker = worker(
        &app,
        WorkersConfig {
            max_attempts: 2,
            ..WorkersConfig::default()
        },
    )
    .with_clock(time.clock());
    worker.register("test", seen.clone());

    // A worker claims the job and is never heard of again.
    enqueue(1).await.unwrap();
    let lost = app.store.claim("gone", &["test"], now(), lease).await;
    assert!(lost.unwrap().is_some());
    assert!(!worker.run_once().await.unwrap(), "the lease still holds");
    time.advance(lease + Duration::from_secs(1));
    assert!(worker.run_once().await.unwrap());
    assert_eq!(seen.0.lock().unwrap().as_slice(), [json!({"n": 1})]);

    // A job whose workers keep stopping gives up after max_attempts runs.
    let id = enqueue(2).await.unwrap().id;
    for gone in ["gone-1", "gone-2"] {
        let lost = app.store.claim(gone, &["test"], now(), lease).await;
        assert_eq!(lost.unwrap().unwrap().id, id);
        time.advance(lease + Duration::from_secs(1));
    }
    assert!(worker.run_once().await.unwrap());
    assert_eq!(seen.0.lock().unwrap().len(), 1, "not run a third time");
    let failed = app
        .store
        .list_jobs(
            admin.org_id,
            &aurora_core::job::JobFilter {
                status: Some(aurora_core::job::JobStatus::Failed),
                limit: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let error = failed[0].last_error.as_deref().unwrap();
    assert!(
        error.starts_with("gave up after 2 attempts") && error.contains("lease expired"),
        "{error}"
    );
}

/// Sleeps for a minute, or panics.
struct Misbehave {
    panic: bool,
}

#[async_trait]
impl JobHandler for Misbehave {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        if self.panic {
            panic!("handler bug");
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_run_that_overruns_its_timeout_is_retried_and_a_panic_fails_the_job() {
    let (app, _, token, _) = with_incident().await;
    let config = WorkersConfig {
        timeout: Duration::from_millis(50),
        ..WorkersConfig::default()
    };
    let mut slow = worker(&app, config);
    slow.register("investigate", Arc::new(Misbehave { panic: false }));
    assert!(slow.run_once().await.unwrap());
    let (_, list) = get_json(&app, &token, "/api/v1/jobs?status=queued").await;
    assert_eq!(list["jobs"][0]["last_error"], "timed out after 50ms");

    let time = TestClock::new();
    time.advance(Duration::from_secs(3600));
    let mut buggy = worker(&app, WorkersConfig::default()).with_clock(time.clock());
    buggy.register("investigate", Arc::new(Misbehave { panic: true }));
    assert!(buggy.run_once().await.unwrap());
    let (_, list) = get_json(&app, &token, "/api/v1/jobs?status=failed").await;
    assert_eq!(list["jobs"][0]["last_error"], "the job's handler panicked");
}
