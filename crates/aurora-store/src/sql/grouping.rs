//! Label-based grouping rules: their rows, and the groups each incident holds under them, which
//! ingest looks up (see [`aurora_core::grouping`]).

use std::time::Duration;

use aurora_core::StoreError;
use aurora_core::grouping::{GroupingRule, MAX_RULES_PER_ORG, NewGroupingRule};
use aurora_core::ids::{GroupingRuleId, IncidentId, OrgId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::signals::{json_column, millis_of, text, time_at, to_json};
use super::{SqlStore, db_error, parse_column, to_millis};

fn rule_from_row(row: &AnyRow) -> Result<GroupingRule, StoreError> {
    let window_ms: i64 = sqlx::Row::try_get(row, "window_ms").map_err(db_error)?;
    Ok(GroupingRule {
        id: parse_column(&text(row, "id")?, "grouping rule id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        name: text(row, "name")?,
        labels: json_column(row, "labels")?,
        window: Duration::from_millis(u64::try_from(window_ms).unwrap_or(0)),
        created_at: time_at(row, "created_at")?,
    })
}

/// The organisation's rules, oldest first.
pub(super) async fn list(
    conn: &mut AnyConnection,
    org: OrgId,
) -> Result<Vec<GroupingRule>, StoreError> {
    sqlx::query(
        "SELECT id, org_id, name, labels, window_ms, created_at FROM grouping_rules \
         WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(org.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?
    .iter()
    .map(rule_from_row)
    .collect()
}

pub(super) async fn create(
    store: &SqlStore,
    org: OrgId,
    rule: &NewGroupingRule,
    now: OffsetDateTime,
) -> Result<GroupingRule, StoreError> {
    let mut tx = store.writer().begin().await.map_err(db_error)?;
    // Writing first takes SQLite's write lock before the count is read.
    let created = GroupingRule {
        id: GroupingRuleId::new(),
        org_id: org,
        name: rule.name().to_owned(),
        labels: rule.labels().to_vec(),
        window: rule.window(),
        created_at: super::signals::stored(now),
    };
    sqlx::query(
        "INSERT INTO grouping_rules (id, org_id, name, labels, window_ms, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(created.id.to_string())
    .bind(org.to_string())
    .bind(&created.name)
    .bind(to_json(&created.labels)?)
    .bind(millis_of(created.window))
    .bind(to_millis(now))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    if list(&mut tx, org).await?.len() > MAX_RULES_PER_ORG {
        tx.rollback().await.map_err(db_error)?;
        return Err(StoreError::Conflict(format!(
            "an organisation has at most {MAX_RULES_PER_ORG} grouping rules: delete one first"
        )));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(created)
}

pub(super) async fn delete(
    store: &SqlStore,
    org: OrgId,
    id: GroupingRuleId,
) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM grouping_rules WHERE org_id = $1 AND id = $2")
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(store.writer())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("grouping rule"));
    }
    Ok(())
}

/// The newest open incident opened at or after `since` that holds group `key` of `rule`.
pub(super) async fn find_incident(
    conn: &mut AnyConnection,
    org: OrgId,
    rule: &GroupingRule,
    key: &str,
    now: OffsetDateTime,
) -> Result<Option<IncidentId>, StoreError> {
    let since = to_millis(now).saturating_sub(millis_of(rule.window));
    sqlx::query(
        "SELECT g.incident_id FROM incident_groups g \
         JOIN incidents i ON i.id = g.incident_id AND i.org_id = g.org_id \
         WHERE g.org_id = $1 AND g.rule_id = $2 AND g.group_key = $3 \
         AND g.incident_created_at >= $4 AND i.status <> 'resolved' \
         ORDER BY g.incident_created_at DESC, g.incident_id DESC LIMIT 1",
    )
    .bind(org.to_string())
    .bind(rule.id.to_string())
    .bind(key)
    .bind(since)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .map(|row| parse_column(&text(&row, "incident_id")?, "incident id"))
    .transpose()
}

/// Records that `incident` holds group `key` of `rule` (once).
pub(super) async fn remember(
    conn: &mut AnyConnection,
    org: OrgId,
    rule: &GroupingRule,
    key: &str,
    incident: IncidentId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO incident_groups (org_id, rule_id, group_key, incident_id, incident_created_at) \
         SELECT $1, $2, $3, id, created_at FROM incidents WHERE org_id = $1 AND id = $4 \
         ON CONFLICT DO NOTHING",
    )
    .bind(org.to_string())
    .bind(rule.id.to_string())
    .bind(key)
    .bind(incident.to_string())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
