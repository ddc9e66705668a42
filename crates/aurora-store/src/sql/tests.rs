use super::*;

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(
        redact_url("postgres://aurora:s3cret@db:5432/aurora"),
        "postgres://aurora:***@db:5432/aurora"
    );
    assert_eq!(redact_url("postgres://db/aurora"), "postgres://db/aurora");
    assert_eq!(
        redact_url("sqlite://./aurora-data/aurora.db"),
        "sqlite://./aurora-data/aurora.db"
    );
}

#[test]
fn backends_are_recognised_by_scheme() {
    assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
    assert_eq!(
        Backend::from_url("postgresql://h/db"),
        Some(Backend::Postgres)
    );
    assert_eq!(Backend::from_url("mysql://h/db"), None);
}
