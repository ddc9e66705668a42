use std::time::Duration;

use time::macros::datetime;

use super::*;

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(60),
    }
}

#[test]
fn backoff_doubles_from_the_base_up_to_the_cap() {
    let policy = policy();
    let waits: Vec<u64> = (1..=6).map(|n| policy.backoff(n).as_secs()).collect();
    assert_eq!(waits, [10, 20, 40, 60, 60, 60]);
    assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(60));
}

#[test]
fn no_run_follows_the_last_attempt() {
    let now = datetime!(2026-05-04 10:00 UTC);
    let policy = policy();
    assert_eq!(policy.next_run(1, now), Some(now + Duration::from_secs(10)));
    assert_eq!(policy.next_run(3, now), Some(now + Duration::from_secs(40)));
    assert_eq!(policy.next_run(4, now), None);
}

#[test]
fn statuses_parse_from_their_names_only() {
    for status in JobStatus::ALL {
        assert_eq!(status.as_str().parse::<JobStatus>().unwrap(), status);
    }
    let err = "dead".parse::<JobStatus>().unwrap_err().to_string();
    assert!(err.contains("queued, running, done or failed"), "{err}");
}

#[test]
fn counts_add_up_per_status() {
    let mut counts = JobCounts::default();
    counts.add(JobStatus::Failed, 2);
    counts.add(JobStatus::Failed, 1);
    assert_eq!(counts.get(JobStatus::Failed), 3);
    assert_eq!(counts.get(JobStatus::Queued), 0);
}
