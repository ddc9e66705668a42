//! Alert sources: one parser per vendor that reads a delivery body into
//! [`aurora_core::alert::Alert`]s, and the checks that authenticate a delivery. Everything here
//! is pure (bytes in, values out): the HTTP endpoints, storage, and the SNS certificate fetch
//! live elsewhere.
//!
//! ```text
//! body bytes ──auth::verify_*──▶ parse(kind, body, options) ──▶ Delivery::Alerts(Vec<Alert>)
//!                                                              ├▶ SnsSubscriptionConfirmation
//!                                                              └▶ Ignored
//! ```
//!
//! # Sources
//!
//! | kind | module | payload | identity (fingerprint) | authentication |
//! |---|---|---|---|---|
//! | `alertmanager` | [`alertmanager`] | webhook v4 group, many alerts | the alert's `fingerprint` (else hash of its labels) | bearer or basic |
//! | `grafana` | [`grafana`] | unified alerting webhook, many alerts | the alert's `fingerprint` (else hash of its labels) | bearer or basic |
//! | `datadog` | [`datadog`] | monitor webhook template, one alert | `alert_id` + sorted `alert_scope` | bearer or basic (custom header) |
//! | `pagerduty` | [`pagerduty`] | v3 webhook event, one incident | `incident_key`, else incident `id` | `X-PagerDuty-Signature` |
//! | `opsgenie` | [`opsgenie`] | webhook alert action, one alert | `alias`, else `alertId` | bearer (custom header) |
//! | `cloudwatch` | [`cloudwatch`] | SNS message with alarm JSON, one alarm | `AlarmArn` | SNS signature ([`sns`]) |
//! | `generic` | [`generic`] | Aurora's format (below), many alerts | `fingerprint`, else hash of title + labels | `X-Aurora-Signature` |
//!
//! Every source can override the identity with a list of label names
//! ([`ParseOptions::fingerprint_labels`]): the fingerprint is then a hash of those labels'
//! values, for alerts that carry at least one of them.
//!
//! # Severity
//!
//! One scale: `critical` > `high` > `warning` > `low` > `info`
//! ([`aurora_core::alert::Severity`]). Each vendor maps onto it:
//!
//! | source | critical | high | warning | low | info | when nothing says |
//! |---|---|---|---|---|---|---|
//! | Alertmanager, Grafana (`severity` label, else `priority` label) | critical, crit, fatal, emergency, emerg, alert, page, disaster, sev0, sev1, p0, p1 | high, error, err, major, severe, sev2, p2 | warning, warn, medium, moderate, average, sev3, p3 | low, minor, notice, sev4, p4 | info, informational, information, debug, none, ok, sev5, p5 | warning |
//! | Datadog (`alert_priority`, else `alert_type`, else transition) | P1 | P2; type `error` | P3; type `warning`; `Warn`, `No Data` transitions | P4 | P5; type `info`, `success` | high |
//! | PagerDuty (incident `priority.summary`, else `urgency`) | P1 | P2; urgency `high` | P3 | P4; urgency `low` | P5 | warning |
//! | Opsgenie (`priority`) | P1 | P2 | P3 | P4 | P5 | warning |
//! | CloudWatch (`NewStateValue`) | | `ALARM` (and `OK`, which resolves) | | | `INSUFFICIENT_DATA` | — |
//! | generic (`severity`) | critical | high | warning, medium | low | info | warning |
//!
//! Label words are matched case-insensitively; a generic delivery with any other severity is
//! rejected (`invalid_value`), other sources fall back to the last column.
//!
//! # Status
//!
//! Alertmanager, Grafana and generic carry `firing`/`resolved`. Datadog: `Recovered` resolves,
//! every other transition fires. PagerDuty: `incident.resolved` (or an incident whose status is
//! `resolved`) resolves; other incident events fire. Opsgenie: `Close` and `Delete` resolve,
//! other actions fire. CloudWatch: `OK` resolves, `ALARM` and `INSUFFICIENT_DATA` fire.
//! `ends_at` is set on resolved alerts only.
//!
//! # Generic format
//!
//! `POST` a JSON body, signed with `X-Aurora-Signature: sha256=<hex HMAC-SHA256 of the body
//! with the source's secret>` ([`auth::sign_hmac_sha256`]). The body is one alert object, or
//! `{"alerts": [alert, …]}` for several (at most [`ParseOptions::max_alerts`]).
//!
//! | field | type | required | meaning |
//! |---|---|---|---|
//! | `title` | string | yes | one line saying what is wrong |
//! | `status` | `"firing"` \| `"resolved"` | no, `firing` | whether the condition holds |
//! | `severity` | `critical` \| `high` \| `warning` \| `medium` \| `low` \| `info` | no, `warning` | how bad it is |
//! | `description` | string | no | longer text |
//! | `fingerprint` | string | no, hash of `title` + `labels` | identity: a repeat with the same fingerprint updates the same alert |
//! | `labels` | object of strings | no | identifying dimensions (`service`, `env`, `instance`, …) |
//! | `annotations` | object of strings | no | descriptive extras (`runbook_url`, …) |
//! | `service` | string | no, from labels | the affected service |
//! | `environment` | string | no, from labels | the affected environment |
//! | `starts_at` | RFC 3339 time | no, time received | when it started |
//! | `ends_at` | RFC 3339 time | no, time received | when it ended (resolved alerts) |
//! | `link` | `http(s)` URL | no | where to see it in the sending tool |
//!
//! Label and annotation values that are numbers or booleans are taken as their text.
//!
//! ```json
//! {"alerts": [{
//!   "title": "Checkout error rate above 5%",
//!   "status": "firing",
//!   "severity": "high",
//!   "fingerprint": "checkout-error-rate",
//!   "labels": {"service": "checkout", "env": "prod", "region": "eu-west-1"},
//!   "annotations": {"runbook_url": "https://runbooks.example/checkout"},
//!   "starts_at": "2026-05-04T10:00:00Z",
//!   "link": "https://ci.example/jobs/42"
//! }]}
//! ```
//!
//! # Bounds
//!
//! A delivery may carry up to [`ParseOptions::max_alerts`] alerts (10,000 by default), read in
//! one pass; each alert keeps only its own part of the delivery as `raw`. Titles, descriptions,
//! labels and annotations are bounded by [`aurora_core::alert::AlertLimits`]: over-long values
//! are cut with a visible `…[truncated N bytes]` marker and surplus entries are replaced by an
//! `aurora.dropped` entry saying how many were dropped. Nothing is rejected for being large.
//!
//! # Errors
//!
//! [`ParseError`] and [`AuthError`] each have a stable `code()` (`malformed_json`,
//! `missing_field`, `wrong_type`, `invalid_value`, `unsupported_payload`, `too_many_alerts`;
//! `missing_signature`, `malformed_signature`, `invalid_signature`, `invalid_credentials`,
//! `no_secret_configured`, `untrusted_certificate_url`, `unsupported_signature_version`,
//! `invalid_certificate`, `invalid_sns_message`) and a message naming the field path.

pub mod alertmanager;
pub mod auth;
pub mod cloudwatch;
pub mod datadog;
pub mod delivery;
pub mod error;
pub mod generic;
pub mod grafana;
mod json;
pub mod opsgenie;
pub mod pagerduty;
pub mod sns;

use aurora_core::alert::SourceKind;

pub use delivery::{Delivery, ParseOptions, SnsConfirmation, severity_from_label};
pub use error::{AuthError, ParseError};

/// Reads one delivery from a source of `kind`. Authenticate the request first.
pub fn parse(
    kind: SourceKind,
    body: &[u8],
    options: &ParseOptions,
) -> Result<Delivery, ParseError> {
    match kind {
        SourceKind::Alertmanager => alertmanager::parse(body, options),
        SourceKind::Grafana => grafana::parse(body, options),
        SourceKind::Datadog => datadog::parse(body, options),
        SourceKind::Pagerduty => pagerduty::parse(body, options),
        SourceKind::Opsgenie => opsgenie::parse(body, options),
        SourceKind::Cloudwatch => cloudwatch::parse(body, options),
        SourceKind::Generic => generic::parse(body, options),
    }
}
