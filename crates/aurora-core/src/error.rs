//! Errors of the ports. Implementations map their backend errors into these so that callers
//! never see a driver type.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database migrations are not applied: {0}")]
    NotMigrated(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("invalid secret reference {0:?}: expected secret://<org-id>/<name>")]
    InvalidRef(String),
    #[error(
        "invalid secret name {0:?}: use 1-128 characters from a-z, A-Z, 0-9, '.', '_', '-', '/'"
    )]
    InvalidName(String),
    #[error("secret {0} belongs to another organisation")]
    WrongOrg(String),
    #[error("secret store key: {0}")]
    Key(String),
    #[error("secret {0} cannot be decrypted: wrong key or tampered data")]
    Decrypt(String),
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
}
