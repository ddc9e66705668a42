//! The errors of this crate: one for reading a delivery, one for authenticating it. Each variant
//! has a stable snake_case [`code`](ParseError::code) for the API and a message that says what
//! is wrong and where (a JSON path such as `alerts[3].labels`).

use thiserror::Error;

/// Why a delivery body could not be read into alerts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("missing required field `{path}`")]
    MissingField { path: String },
    #[error("field `{path}` has the wrong type: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `{path}` has an invalid value: {message}")]
    InvalidValue { path: String, message: String },
    #[error("unsupported payload: {message}")]
    UnsupportedPayload { message: String },
    #[error(
        "delivery has {count} alerts, more than the limit of {limit}: split it into smaller deliveries"
    )]
    TooManyAlerts { count: usize, limit: usize },
}

impl ParseError {
    /// A stable identifier for the kind of error, for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::MalformedJson { .. } => "malformed_json",
            ParseError::MissingField { .. } => "missing_field",
            ParseError::WrongType { .. } => "wrong_type",
            ParseError::InvalidValue { .. } => "invalid_value",
            ParseError::UnsupportedPayload { .. } => "unsupported_payload",
            ParseError::TooManyAlerts { .. } => "too_many_alerts",
        }
    }

    /// The JSON path of the offending field, where there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ParseError::MissingField { path }
            | ParseError::WrongType { path, .. }
            | ParseError::InvalidValue { path, .. } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn malformed(err: &serde_json::Error) -> Self {
        // serde_json's message repeats the position; keep only the description.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(at) => full[..at].to_owned(),
            None => full,
        };
        ParseError::MalformedJson {
            line: err.line(),
            column: err.column(),
            message,
        }
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        ParseError::UnsupportedPayload {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError::InvalidValue {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Why a delivery was not accepted as coming from the configured source.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("no secret is configured for this source: set one before sending deliveries")]
    NoSecretConfigured,
    #[error("missing header `{header}`")]
    MissingHeader { header: &'static str },
    #[error("header `{header}` is malformed: {message}")]
    MalformedHeader {
        header: &'static str,
        message: String,
    },
    #[error("signature does not match the body with any current secret")]
    InvalidSignature,
    #[error("credentials do not match any current secret")]
    InvalidCredentials,
    #[error("SNS signing certificate URL {url:?} is not trusted: {reason}")]
    UntrustedCertificateUrl { url: String, reason: &'static str },
    #[error("unsupported SNS SignatureVersion {0:?}: expected 1 or 2")]
    UnsupportedSignatureVersion(String),
    #[error("signing certificate cannot be used: {0}")]
    InvalidCertificate(String),
    #[error("SNS message cannot be verified: {0}")]
    InvalidMessage(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::NoSecretConfigured => "no_secret_configured",
            AuthError::MissingHeader { .. } => "missing_signature",
            AuthError::MalformedHeader { .. } => "malformed_signature",
            AuthError::InvalidSignature => "invalid_signature",
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::UntrustedCertificateUrl { .. } => "untrusted_certificate_url",
            AuthError::UnsupportedSignatureVersion(_) => "unsupported_signature_version",
            AuthError::InvalidCertificate(_) => "invalid_certificate",
            AuthError::InvalidMessage(_) => "invalid_sns_message",
        }
    }
}
