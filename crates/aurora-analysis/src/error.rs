//! The crate's error type: everything that can go wrong while loading a case or ranking it.

use std::path::PathBuf;

/// Why a case could not be loaded or analysed. Every variant names the file or the reason, so
/// `eval` can list it beside the case and a person can fix the input.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}; check that the file exists and is readable")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A CSV file could not be parsed at all (a ragged row is skipped, not fatal).
    #[error("cannot parse CSV {path}: {source}")]
    Csv {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
    /// A JSON file could not be parsed.
    #[error("cannot parse JSON {path}: {source}")]
    Json {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The directory holds none of the known layouts.
    #[error(
        "{0}: no known case layout here (expected data.csv, simple_metrics.csv or metrics.json with inject_time.txt; metrics.csv with target.json; or a *fault_list.json)"
    )]
    UnknownLayout(PathBuf),
    /// The files were found but their content is unusable.
    #[error("{path}: {reason}")]
    BadInput {
        /// The file or case directory at fault.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The frame holds nothing to rank (no series, logs or spans in the windows).
    #[error("no telemetry to rank: {0}")]
    NoData(String),
}

impl AnalysisError {
    /// Shorthand for [`AnalysisError::BadInput`].
    pub(crate) fn bad(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        AnalysisError::BadInput {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`AnalysisError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AnalysisError::Io {
            path: path.into(),
            source,
        }
    }
}
