//! Grafana unified alerting, webhook contact point: the Alertmanager group shape plus `orgId`,
//! per-alert `silenceURL`, `dashboardURL`, `panelURL` and `values`/`valueString`, and Grafana's
//! own per-alert `fingerprint`.
//!
//! Follows Grafana's "Configure the webhook notifier for Alerting" page (webhook JSON payload):
//! <https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/>.

use aurora_core::alert::SourceKind;

use crate::alertmanager::parse_group;
use crate::delivery::{Delivery, ParseOptions};
use crate::error::ParseError;

/// Reads a Grafana webhook delivery.
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    parse_group(body, opts, SourceKind::Grafana)
}
