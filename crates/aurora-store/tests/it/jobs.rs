use std::collections::BTreeSet;
use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::ids::{JobId, OrgId};
use aurora_core::job::{JobFilter, JobStatus, NewJob, RetryPolicy};
use aurora_core::ports::{AccountStore, JobQueue};
use aurora_store::SqlStore;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::harness::each_backend;

const T0: OffsetDateTime = datetime!(2026-05-04 10:00 UTC);
const LEASE: Duration = Duration::from_secs(30);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn enqueue(store: &SqlStore, org: OrgId, kind: &str, run_at: OffsetDateTime) -> JobId {
    store
        .enqueue(
            org,
            NewJob {
                kind: kind.into(),
                payload: json!({"n": 1}),
                run_at,
            },
        )
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn claims_take_due_jobs_of_the_given_kinds_oldest_first() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let first = enqueue(&store, org, "investigate", T0).await;
        let second = enqueue(&store, org, "investigate", T0 + secs(1)).await;
        enqueue(&store, org, "other", T0).await;
        enqueue(&store, org, "investigate", T0 + secs(3600)).await;

        let now = T0 + secs(5);
        let job = store
            .claim("w1", &["investigate"], now, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.id, first);
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.locked_by.as_deref(), Some("w1"));
        assert_eq!(job.locked_until, Some(now + LEASE));
        assert_eq!(job.payload, json!({"n": 1}));
        let next = store.claim("w1", &["investigate"], now, LEASE).await;
        assert_eq!(next.unwrap().unwrap().id, second);
        // The other kind is not asked for, the last job is not due.
        assert!(
            store
                .claim("w1", &["investigate"], now, LEASE)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.claim("w1", &[], now, LEASE).await.unwrap().is_none());
        let other = store.claim("w1", &["other", "x"], now, LEASE).await;
        assert_eq!(other.unwrap().unwrap().kind, "other");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_job() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let mut enqueued = BTreeSet::new();
        for _ in 0..40 {
            enqueued.insert(enqueue(&store, org, "investigate", T0).await);
        }
        let mut claimers = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let store = store.clone();
            claimers.spawn(async move {
                let name = format!("w{worker}");
                let mut mine = Vec::new();
                while let Some(job) = store
                    .claim(&name, &["investigate"], T0, LEASE)
                    .await
                    .unwrap()
                {
                    mine.push(job.id);
                    tokio::task::yield_now().await;
                }
                mine
            });
        }
        let mut claimed = Vec::new();
        while let Some(mine) = claimers.join_next().await {
            claimed.extend(mine.unwrap());
        }
        let unique: BTreeSet<JobId> = claimed.iter().copied().collect();
        assert_eq!(claimed.len(), unique.len(), "a job was claimed twice");
        assert_eq!(unique, enqueued);
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_makes_the_job_claimable_again_and_fences_its_old_holder() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        enqueue(&store, org, "investigate", T0).await;
        let kinds = ["investigate"];
        let held = store.claim("w1", &kinds, T0, LEASE).await.unwrap().unwrap();
        assert!(
            store
                .claim("w2", &kinds, T0 + secs(10), LEASE)
                .await
                .unwrap()
                .is_none()
        );
        // A heartbeat extends the lease.
        store.heartbeat(&held, "w1", T0 + secs(60)).await.unwrap();
        assert!(
            store
                .claim("w2", &kinds, T0 + secs(40), LEASE)
                .await
                .unwrap()
                .is_none()
        );

        // w1 stops without a word; after its lease w2 takes the job over.
        let taken = store
            .claim("w2", &kinds, T0 + secs(61), LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.id, held.id);
        assert_eq!(taken.attempts, 2);
        assert_eq!(taken.locked_by.as_deref(), Some("w2"));
        assert!(
            taken
                .last_error
                .as_deref()
                .unwrap()
                .contains("lease expired")
        );

        let late = store.complete(&held, "w1", T0 + secs(62)).await;
        assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
        let late = store.heartbeat(&held, "w1", T0 + secs(90)).await;
        assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");

        store.complete(&taken, "w2", T0 + secs(63)).await.unwrap();
        let jobs = store.list_jobs(org, &JobFilter::default()).await.unwrap();
        assert_eq!(jobs[0].status, JobStatus::Done);
        assert_eq!(jobs[0].finished_at, Some(T0 + secs(63)));
        assert_eq!(jobs[0].locked_by, None);
        assert!(
            store
                .claim("w3", &kinds, T0 + secs(3600), LEASE)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn failures_back_off_exponentially_then_the_job_is_dead() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let policy = RetryPolicy {
            max_attempts: 3,
            backoff_base: secs(10),
            backoff_max: secs(3600),
        };
        let id = enqueue(&store, org, "investigate", T0).await;
        let kinds = ["investigate"];

        let job = store.claim("w", &kinds, T0, LEASE).await.unwrap().unwrap();
        let after = store
            .fail(&job, "w", "peer timed out", Some(&policy), T0)
            .await
            .unwrap();
        assert_eq!(after.status, JobStatus::Queued);
        assert_eq!(after.run_at, T0 + secs(10));
        assert_eq!(after.last_error.as_deref(), Some("peer timed out"));
        assert_eq!(after.locked_by, None);
        assert!(
            store
                .claim("w", &kinds, T0 + secs(9), LEASE)
                .await
                .unwrap()
                .is_none()
        );

        let at = T0 + secs(10);
        let job = store.claim("w", &kinds, at, LEASE).await.unwrap().unwrap();
        assert_eq!(job.attempts, 2);
        let after = store
            .fail(&job, "w", "again", Some(&policy), at)
            .await
            .unwrap();
        assert_eq!(after.run_at, at + secs(20));

        let at = at + secs(20);
        let job = store.claim("w", &kinds, at, LEASE).await.unwrap().unwrap();
        assert_eq!(job.attempts, 3);
        let dead = store
            .fail(&job, "w", "still failing", Some(&policy), at)
            .await
            .unwrap();
        assert_eq!(dead.status, JobStatus::Failed);
        assert_eq!(dead.finished_at, Some(at));
        assert_eq!(dead.last_error.as_deref(), Some("still failing"));
        assert!(
            store
                .claim("w", &kinds, at + secs(86400), LEASE)
                .await
                .unwrap()
                .is_none()
        );

        // Only the owning organisation can retry it, and only while it is failed.
        let theirs = store.retry_job(other, id, at).await;
        assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");
        let retried = store.retry_job(org, id, at + secs(1)).await.unwrap();
        assert_eq!(
            (retried.status, retried.attempts, retried.run_at),
            (JobStatus::Queued, 0, at + secs(1))
        );
        assert_eq!(retried.finished_at, None);
        let twice = store.retry_job(org, id, at + secs(1)).await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");

        // An error that retrying cannot fix fails the job at once.
        let job = store
            .claim("w", &kinds, at + secs(1), LEASE)
            .await
            .unwrap()
            .unwrap();
        let dead = store
            .fail(&job, "w", "bad payload", None, at + secs(2))
            .await
            .unwrap();
        assert_eq!((dead.status, dead.attempts), (JobStatus::Failed, 1));
    })
    .await;
}

#[tokio::test]
async fn listings_and_counts_are_scoped_to_their_org() {
    each_backend(|store: SqlStore| async move {
        let a = store.create_org("A").await.unwrap().id;
        let b = store.create_org("B").await.unwrap().id;
        for _ in 0..3 {
            enqueue(&store, a, "investigate", T0).await;
        }
        enqueue(&store, b, "investigate", T0).await;
        let job = store
            .claim("w", &["investigate"], T0, LEASE)
            .await
            .unwrap()
            .unwrap();
        store.complete(&job, "w", T0).await.unwrap();

        let all_a = store.list_jobs(a, &JobFilter::default()).await.unwrap();
        assert_eq!(all_a.len(), 3);
        assert!(all_a.iter().all(|j| j.org_id == a));
        let queued_b = JobFilter {
            status: Some(JobStatus::Queued),
            limit: 0,
        };
        assert_eq!(store.list_jobs(b, &queued_b).await.unwrap().len(), 1);
        let done = JobFilter {
            status: Some(JobStatus::Done),
            limit: 0,
        };
        assert_eq!(store.list_jobs(b, &done).await.unwrap(), vec![]);
        let one = JobFilter {
            status: None,
            limit: 1,
        };
        assert_eq!(store.list_jobs(a, &one).await.unwrap().len(), 1);

        let counts_a = store.count_jobs(a).await.unwrap();
        assert_eq!((counts_a.queued, counts_a.done), (2, 1));
        let counts_b = store.count_jobs(b).await.unwrap();
        assert_eq!((counts_b.queued, counts_b.done), (1, 0));

        let depths = store.job_depths().await.unwrap();
        let queued: u64 = depths
            .iter()
            .filter(|d| d.kind == "investigate" && d.status == JobStatus::Queued)
            .map(|d| d.count)
            .sum();
        assert_eq!(queued, 3);
    })
    .await;
}
