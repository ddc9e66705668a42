//! Label-based grouping rules: an organisation's own ways of putting alerts into one incident,
//! beyond the same fingerprint and the same service and environment. A rule names label keys
//! and a window: a firing alert that carries every one of the labels joins an open incident,
//! opened at most the window ago, that holds an alert with the same values of those labels.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::{GroupingRuleId, OrgId};

/// Most labels one rule may name.
pub const MAX_RULE_LABELS: usize = 16;
/// Longest label name, in bytes.
pub const MAX_LABEL_NAME_LEN: usize = 128;
/// Longest rule name, in bytes.
pub const MAX_RULE_NAME_LEN: usize = 200;
/// Longest window: incidents older than a week are not grouped into.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most rules an organisation may have: each one is evaluated for every new firing alert.
pub const MAX_RULES_PER_ORG: usize = 50;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidGroupingRule(String);

/// A rule to create, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGroupingRule {
    name: String,
    labels: Vec<String>,
    window: Duration,
}

impl NewGroupingRule {
    /// Checks the name (1 to [`MAX_RULE_NAME_LEN`] bytes), the labels (1 to
    /// [`MAX_RULE_LABELS`] distinct, non-empty names of at most [`MAX_LABEL_NAME_LEN`] bytes;
    /// their order does not matter) and the window (1 second to [`MAX_WINDOW`]).
    pub fn parse(
        name: &str,
        labels: &[String],
        window: Duration,
    ) -> Result<Self, InvalidGroupingRule> {
        let invalid = |message: String| Err(InvalidGroupingRule(message));
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_RULE_NAME_LEN {
            return invalid(format!("name must be 1 to {MAX_RULE_NAME_LEN} bytes"));
        }
        if labels.is_empty() || labels.len() > MAX_RULE_LABELS {
            return invalid(format!(
                "labels must name 1 to {MAX_RULE_LABELS} label keys, e.g. [\"cluster\", \"alertname\"]"
            ));
        }
        let mut sorted: Vec<String> = Vec::with_capacity(labels.len());
        for label in labels {
            let label = label.trim();
            if label.is_empty() || label.len() > MAX_LABEL_NAME_LEN {
                return invalid(format!(
                    "each label name must be 1 to {MAX_LABEL_NAME_LEN} bytes"
                ));
            }
            sorted.push(label.to_owned());
        }
        sorted.sort();
        sorted.dedup();
        if sorted.len() != labels.len() {
            return invalid("labels must not repeat a label name".to_owned());
        }
        if window < Duration::from_secs(1) || window > MAX_WINDOW {
            return invalid(format!(
                "window_seconds must be 1 to {}",
                MAX_WINDOW.as_secs()
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            labels: sorted,
            window,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The label names, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupingRule {
    pub id: GroupingRuleId,
    pub org_id: OrgId,
    pub name: String,
    /// The label names whose values must be equal, sorted.
    pub labels: Vec<String>,
    #[serde(rename = "window_seconds", serialize_with = "seconds")]
    pub window: Duration,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn seconds<S: serde::Serializer>(window: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(window.as_secs())
}

impl GroupingRule {
    /// The group an alert with these labels belongs to under this rule: a hex SHA-256 of the
    /// rule's label values, so that long values keep the key short. `None` when the alert lacks
    /// one of the labels (the rule does not apply to it).
    pub fn group_key(&self, labels: &BTreeMap<String, String>) -> Option<String> {
        let mut hasher = Sha256::new();
        for name in &self.labels {
            let value = labels.get(name)?;
            // Length prefixes keep ("a", "bc") and ("ab", "c") apart.
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(value.as_bytes());
        }
        Some(hex::encode(hasher.finalize()))
    }
}

#[cfg(test)]
mod tests;
