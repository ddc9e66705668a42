//! Integration tests of aurora-signals: every vendor's documented payloads, fingerprints,
//! severities, signatures and bad input. No network.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod alertmanager;
mod auth;
mod bad_input;
mod cloudwatch;
mod datadog;
mod generic;
mod grafana;
mod opsgenie;
mod pagerduty;
mod sns;

use aurora_core::alert::{Alert, SourceKind};
use aurora_signals::{Delivery, ParseOptions};
use time::OffsetDateTime;
use time::macros::datetime;

pub const RECEIVED_AT: OffsetDateTime = datetime!(2026-05-04 12:00 UTC);

pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|err| panic!("{full}: {err}"))
}

pub fn options() -> ParseOptions {
    ParseOptions::new(RECEIVED_AT)
}

pub fn parse(kind: SourceKind, body: &[u8]) -> Delivery {
    aurora_signals::parse(kind, body, &options()).unwrap_or_else(|err| panic!("{err}"))
}

pub fn alerts(kind: SourceKind, path: &str) -> Vec<Alert> {
    match parse(kind, &fixture(path)) {
        Delivery::Alerts(alerts) => alerts,
        other => panic!("expected alerts from {path}, got {other:?}"),
    }
}

/// Every source's alerts satisfy the model's bounds and keep their raw part.
pub fn assert_well_formed(alert: &Alert) {
    assert!(!alert.title.is_empty());
    assert!(!alert.fingerprint.as_str().is_empty());
    assert!(!alert.raw.is_null(), "raw payload kept");
    match alert.status {
        aurora_core::alert::AlertStatus::Firing => assert!(alert.ends_at.is_none()),
        aurora_core::alert::AlertStatus::Resolved => assert!(alert.ends_at.is_some()),
    }
}
