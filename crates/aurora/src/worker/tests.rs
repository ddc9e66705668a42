use super::*;

#[test]
fn the_retry_policy_follows_the_settings() {
    let config = WorkersConfig {
        max_attempts: 3,
        backoff_base: Duration::from_secs(5),
        backoff_max: Duration::from_secs(15),
        ..WorkersConfig::default()
    };
    let policy = config.retry_policy();
    assert_eq!(policy.max_attempts, 3);
    assert_eq!(policy.backoff(3), Duration::from_secs(15));
}

#[test]
fn nonsense_settings_are_named() {
    assert!(WorkersConfig::default().problems().is_empty());
    let config = WorkersConfig {
        poll_interval: Duration::ZERO,
        lease: Duration::from_millis(10),
        max_attempts: 0,
        backoff_base: Duration::from_secs(60),
        backoff_max: Duration::from_secs(1),
        ..WorkersConfig::default()
    };
    let problems = config.problems().join("\n");
    for key in [
        "workers.poll_interval",
        "workers.lease",
        "workers.max_attempts",
        "workers.backoff_max",
    ] {
        assert!(problems.contains(key), "{problems}");
    }
}
