//! [`SignalStore`] on the SQL store: alert sources, ingest (through the group-committing
//! writer of [`super::ingest`]), and incident reads and changes.

use async_trait::async_trait;
use aurora_core::StoreError;
use aurora_core::alert::{Alert, Fingerprint, Severity};
use aurora_core::grouping::{GroupingRule, NewGroupingRule};
use aurora_core::ids::{DeliveryId, EventId, GroupingRuleId, IncidentId, OrgId, SourceId};
use aurora_core::incident::{
    Actor, AlertCursor, AlertFilter, AlertPage, Cursor, DETAIL_ALERTS, DETAIL_EVENTS, EventCursor,
    EventFilter, EventKind, EventPage, Incident, IncidentChange, IncidentCursor, IncidentDetail,
    IncidentEvent, IncidentFilter, IncidentPage, IncidentStatus, StoredAlert,
};
use aurora_core::ports::SignalStore;
use aurora_core::secrets::SecretRef;
use aurora_core::source::{
    AlertSource, DeliveryMeta, DeliveryOutcome, DeliveryRecord, IngestOutcome, IngestRules,
    NewAlertSource,
};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::ingest::Unit;
use super::{SqlStore, db_error, from_millis, parse_column, to_millis};

macro_rules! source_columns {
    () => {
        "id, org_id, kind, name, secret_ref, previous_secret_ref, previous_secret_expires_at, \
         options, created_at, last_delivery_at"
    };
}

macro_rules! incident_columns {
    () => {
        "id, org_id, title, status, severity, service, environment, assignee, created_at, \
         updated_at, resolved_at, merged_into"
    };
}

macro_rules! alert_columns {
    () => {
        "a.id, a.source_id, s.kind, a.fingerprint, a.status, a.severity, a.title, \
         a.description, a.labels, a.annotations, a.service, a.environment, a.starts_at, \
         a.ends_at, a.link, a.raw, a.first_seen_at, a.last_seen_at, a.repeat_count, \
         a.incident_id"
    };
}

pub(super) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col).map_err(db_error)
}

pub(super) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col).map_err(db_error)
}

/// A nullable text column parsed into `T`; `what` names it in the error.
pub(super) fn opt_parse<T: std::str::FromStr>(
    row: &AnyRow,
    col: &str,
    what: &str,
) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    opt_text(row, col)?
        .map(|value| parse_column(&value, what))
        .transpose()
}

pub(super) fn time_at(row: &AnyRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    from_millis(row.try_get(col).map_err(db_error)?)
}

pub(super) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(db_error)?
        .map(from_millis)
        .transpose()
}

pub(super) fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    col: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(&text(row, col)?)
        .map_err(|err| StoreError::Corrupt(format!("column {col}: {err}")))
}

pub(super) fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

pub(super) fn count(row: &AnyRow, col: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(row.try_get::<i64, _>(col).map_err(db_error)?).unwrap_or(0))
}

fn source_from_row(row: &AnyRow) -> Result<AlertSource, StoreError> {
    Ok(AlertSource {
        id: parse_column(&text(row, "id")?, "source id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        kind: parse_column(&text(row, "kind")?, "source kind")?,
        name: text(row, "name")?,
        secret: parse_column(&text(row, "secret_ref")?, "secret reference")?,
        previous_secret: opt_parse(row, "previous_secret_ref", "secret reference")?,
        previous_secret_expires_at: opt_time(row, "previous_secret_expires_at")?,
        options: json_column(row, "options")?,
        created_at: time_at(row, "created_at")?,
        last_delivery_at: opt_time(row, "last_delivery_at")?,
    })
}

fn incident_from_row(row: &AnyRow) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: parse_column(&text(row, "id")?, "incident id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        title: text(row, "title")?,
        status: parse_column(&text(row, "status")?, "incident status")?,
        severity: parse_column(&text(row, "severity")?, "severity")?,
        service: opt_text(row, "service")?,
        environment: opt_text(row, "environment")?,
        assignee: opt_parse(row, "assignee", "user id")?,
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
        resolved_at: opt_time(row, "resolved_at")?,
        merged_into: opt_parse(row, "merged_into", "incident id")?,
    })
}

pub(super) fn alert_from_row(row: &AnyRow) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: parse_column(&text(row, "id")?, "alert id")?,
        source_id: parse_column(&text(row, "source_id")?, "source id")?,
        incident_id: opt_parse(row, "incident_id", "incident id")?,
        alert: Alert {
            source_kind: parse_column(&text(row, "kind")?, "source kind")?,
            fingerprint: Fingerprint::parse(&text(row, "fingerprint")?)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?,
            status: parse_column(&text(row, "status")?, "alert status")?,
            severity: parse_column(&text(row, "severity")?, "severity")?,
            title: text(row, "title")?,
            description: text(row, "description")?,
            labels: json_column(row, "labels")?,
            annotations: json_column(row, "annotations")?,
            service: opt_text(row, "service")?,
            environment: opt_text(row, "environment")?,
            starts_at: time_at(row, "starts_at")?,
            ends_at: opt_time(row, "ends_at")?,
            link: opt_text(row, "link")?,
            raw: json_column(row, "raw")?,
        },
        first_seen_at: time_at(row, "first_seen_at")?,
        last_seen_at: time_at(row, "last_seen_at")?,
        repeat_count: count(row, "repeat_count")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<IncidentEvent, StoreError> {
    Ok(IncidentEvent {
        id: parse_column(&text(row, "id")?, "event id")?,
        incident_id: parse_column(&text(row, "incident_id")?, "incident id")?,
        at: time_at(row, "at")?,
        actor: parse_column(&text(row, "actor")?, "actor")?,
        kind: parse_column(&text(row, "kind")?, "event kind")?,
        detail: json_column(row, "detail")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let outcome = match text(row, "outcome")?.as_str() {
        "accepted" => DeliveryOutcome::Accepted,
        "rejected" => DeliveryOutcome::Rejected,
        other => {
            return Err(StoreError::Corrupt(format!("delivery outcome {other:?}")));
        }
    };
    Ok(DeliveryRecord {
        id: parse_column(&text(row, "id")?, "delivery id")?,
        source_id: parse_column(&text(row, "source_id")?, "source id")?,
        received_at: time_at(row, "received_at")?,
        outcome,
        error_code: opt_text(row, "error_code")?,
        alert_count: count(row, "alert_count")?,
        body_sha256: text(row, "body_sha256")?,
    })
}

pub(super) fn millis_of(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Times as they read back from the database (millisecond precision).
pub(super) fn stored(at: OffsetDateTime) -> OffsetDateTime {
    from_millis(to_millis(at)).unwrap_or(at)
}

#[async_trait]
impl SignalStore for SqlStore {
    async fn create_source(
        &self,
        org: OrgId,
        source: NewAlertSource,
    ) -> Result<AlertSource, StoreError> {
        let created = AlertSource {
            id: source.id,
            org_id: org,
            kind: source.kind,
            name: source.name,
            secret: source.secret,
            previous_secret: None,
            previous_secret_expires_at: None,
            options: source.options,
            created_at: stored(OffsetDateTime::now_utc()),
            last_delivery_at: None,
        };
        sqlx::query(
            "INSERT INTO alert_sources (id, org_id, kind, name, secret_ref, options, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(created.id.to_string())
        .bind(org.to_string())
        .bind(created.kind.as_str())
        .bind(&created.name)
        .bind(created.secret.to_string())
        .bind(to_json(&created.options)?)
        .bind(to_millis(created.created_at))
        .execute(self.writer())
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound("organisation")
            }
            _ => super::conflict_or(err, || "an alert source with this id exists".into()),
        })?;
        Ok(created)
    }

    async fn list_sources(&self, org: OrgId) -> Result<Vec<AlertSource>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            source_columns!(),
            " FROM alert_sources WHERE org_id = $1 ORDER BY name, id"
        ))
        .bind(org.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(source_from_row)
        .collect()
    }

    async fn get_source(&self, org: OrgId, id: SourceId) -> Result<AlertSource, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            source_columns!(),
            " FROM alert_sources WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .ok_or(StoreError::NotFound("alert source"))?;
        source_from_row(&row)
    }

    async fn find_source(&self, id: SourceId) -> Result<Option<AlertSource>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            source_columns!(),
            " FROM alert_sources WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(source_from_row)
        .transpose()
    }

    async fn rotate_source_secret(
        &self,
        org: OrgId,
        id: SourceId,
        secret: SecretRef,
        previous_expires_at: OffsetDateTime,
    ) -> Result<(AlertSource, Option<SecretRef>), StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // A write first: it holds the row (and SQLite's write lock) for the read that follows.
        let locked =
            sqlx::query("UPDATE alert_sources SET name = name WHERE org_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        if locked.rows_affected() == 0 {
            return Err(StoreError::NotFound("alert source"));
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            source_columns!(),
            " FROM alert_sources WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let before = source_from_row(&row)?;
        sqlx::query(
            "UPDATE alert_sources SET previous_secret_ref = secret_ref, secret_ref = $1, \
             previous_secret_expires_at = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(secret.to_string())
        .bind(to_millis(previous_expires_at))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let after = AlertSource {
            secret,
            previous_secret: Some(before.secret.clone()),
            previous_secret_expires_at: Some(stored(previous_expires_at)),
            ..before.clone()
        };
        Ok((after, before.previous_secret))
    }

    async fn ingest(
        &self,
        org: OrgId,
        source: SourceId,
        alerts: &[Alert],
        delivery: &DeliveryMeta,
        rules: &IngestRules,
    ) -> Result<IngestOutcome, StoreError> {
        self.ingest_queue()
            .submit(Unit {
                org,
                source,
                alerts: alerts.to_vec(),
                delivery: delivery.clone(),
                rules: rules.clone(),
            })
            .await
    }

    async fn record_rejected_delivery(
        &self,
        org: OrgId,
        source: SourceId,
        delivery: &DeliveryMeta,
        error_code: &str,
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO deliveries (id, org_id, source_id, received_at, outcome, error_code, \
             alert_count, body_sha256) SELECT $1, $2, $3, $4, 'rejected', $5, 0, $6 \
             WHERE EXISTS (SELECT 1 FROM alert_sources WHERE org_id = $2 AND id = $3)",
        )
        .bind(DeliveryId::new().to_string())
        .bind(org.to_string())
        .bind(source.to_string())
        .bind(to_millis(delivery.received_at))
        .bind(error_code)
        .bind(&delivery.body_sha256)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound("alert source"));
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        org: OrgId,
        source: SourceId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        sqlx::query(
            "SELECT id, source_id, received_at, outcome, error_code, alert_count, body_sha256 \
             FROM deliveries WHERE org_id = $1 AND source_id = $2 \
             ORDER BY received_at DESC, id DESC LIMIT $3",
        )
        .bind(org.to_string())
        .bind(source.to_string())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db_error)?
        .iter()
        .map(delivery_from_row)
        .collect()
    }

    async fn list_incidents(
        &self,
        org: OrgId,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        let mut query = Filtered::new(
            concat!(
                "SELECT ",
                incident_columns!(),
                " FROM incidents WHERE org_id = $1"
            ),
            org,
        );
        if let Some(status) = filter.status {
            query.and(" AND status = $?", Bind::Text(status.as_str().into()));
        }
        if let Some(severity) = filter.severity {
            query.and(" AND severity = $?", Bind::Text(severity.as_str().into()));
        }
        if let Some(service) = filter.service.as_deref().filter(|s| !s.is_empty()) {
            query.and(" AND service = $?", Bind::Text(service.into()));
        }
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            query.and(" AND LOWER(title) LIKE $? ESCAPE '\\'", Bind::Text(pattern));
        }
        let size = filter.page_size();
        query.page("created_at", "id", filter.after.as_ref(), size);
        let rows = query.fetch(self).await?;
        let incidents = rows
            .iter()
            .map(incident_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (incidents, next) = split_page(incidents, size, |last| IncidentCursor {
            at_ms: to_millis(last.created_at),
            id: last.id,
        });
        Ok(IncidentPage { incidents, next })
    }

    async fn get_incident(&self, org: OrgId, id: IncidentId) -> Result<IncidentDetail, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        let incident = load_incident(&mut conn, org, id).await?;
        let alerts = sqlx::query(concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts a JOIN alert_sources s ON s.id = a.source_id AND s.org_id = a.org_id \
             WHERE a.org_id = $1 AND a.incident_id = $2 ORDER BY a.first_seen_at, a.id LIMIT $3"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(DETAIL_ALERTS as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(alert_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let mut timeline = sqlx::query(
            "SELECT id, incident_id, at, actor, kind, detail FROM incident_events \
             WHERE org_id = $1 AND incident_id = $2 ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(DETAIL_EVENTS as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        timeline.reverse();
        let alerts_total = total(
            &mut conn,
            alerts.len(),
            DETAIL_ALERTS,
            "SELECT count(*) AS n FROM alerts WHERE org_id = $1 AND incident_id = $2",
            (org, id),
        )
        .await?;
        let timeline_total = total(
            &mut conn,
            timeline.len(),
            DETAIL_EVENTS,
            "SELECT count(*) AS n FROM incident_events WHERE org_id = $1 AND incident_id = $2",
            (org, id),
        )
        .await?;
        Ok(IncidentDetail {
            incident,
            alerts,
            alerts_total,
            timeline,
            timeline_total,
        })
    }

    async fn update_incident(
        &self,
        org: OrgId,
        id: IncidentId,
        actor: Actor,
        change: &IncidentChange,
        now: OffsetDateTime,
    ) -> Result<Incident, StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // Touching the row first locks it (PostgreSQL) or takes the write lock (SQLite).
        lock_incident(&mut tx, org, id, now).await?;
        let before = load_incident(&mut tx, org, id).await?;
        if let Some(status) = change.status.filter(|s| *s != before.status) {
            sqlx::query(
                "UPDATE incidents SET status = $1, resolved_at = $2 WHERE org_id = $3 AND id = $4",
            )
            .bind(status.as_str())
            .bind((status == IncidentStatus::Resolved).then(|| to_millis(now)))
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            let detail = json!({"from": before.status, "to": status});
            add_event(
                &mut tx,
                org,
                id,
                now,
                actor,
                EventKind::StatusChanged,
                &detail,
            )
            .await?;
        }
        if let Some(severity) = change.severity.filter(|s| *s != before.severity) {
            set_severity(&mut tx, org, id, severity).await?;
            let detail = json!({"from": before.severity, "to": severity});
            add_event(
                &mut tx,
                org,
                id,
                now,
                actor,
                EventKind::SeverityChanged,
                &detail,
            )
            .await?;
        }
        if let Some(assignee) = change.assignee.filter(|a| *a != before.assignee) {
            if let Some(user) = assignee {
                let exists =
                    sqlx::query("SELECT 1 AS one FROM users WHERE org_id = $1 AND id = $2")
                        .bind(org.to_string())
                        .bind(user.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                if exists.is_none() {
                    return Err(StoreError::NotFound("user"));
                }
            }
            sqlx::query("UPDATE incidents SET assignee = $1 WHERE org_id = $2 AND id = $3")
                .bind(assignee.map(|u| u.to_string()))
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let detail = json!({"from": before.assignee, "to": assignee});
            add_event(
                &mut tx,
                org,
                id,
                now,
                actor,
                EventKind::AssigneeChanged,
                &detail,
            )
            .await?;
        }
        let after = load_incident(&mut tx, org, id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(after)
    }

    async fn add_comment(
        &self,
        org: OrgId,
        id: IncidentId,
        actor: Actor,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<IncidentEvent, StoreError> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        lock_incident(&mut tx, org, id, now).await?;
        let event = add_event(
            &mut tx,
            org,
            id,
            now,
            actor,
            EventKind::Comment,
            &json!({"text": text}),
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(event)
    }

    async fn list_alerts(&self, org: OrgId, filter: &AlertFilter) -> Result<AlertPage, StoreError> {
        let mut query = Filtered::new(
            concat!(
                "SELECT ",
                alert_columns!(),
                " FROM alerts a JOIN alert_sources s ON s.id = a.source_id AND s.org_id = a.org_id \
             WHERE a.org_id = $1"
            ),
            org,
        );
        if let Some(status) = filter.status {
            query.and(" AND a.status = $?", Bind::Text(status.as_str().into()));
        }
        if let Some(severity) = filter.severity {
            query.and(" AND a.severity = $?", Bind::Text(severity.as_str().into()));
        }
        if let Some(service) = filter.service.as_deref().filter(|s| !s.is_empty()) {
            query.and(" AND a.service = $?", Bind::Text(service.into()));
        }
        if let Some(source) = filter.source {
            query.and(" AND a.source_id = $?", Bind::Text(source.to_string()));
        }
        if let Some(incident) = filter.incident {
            query.and(" AND a.incident_id = $?", Bind::Text(incident.to_string()));
        }
        let size = filter.page_size();
        query.page("a.first_seen_at", "a.id", filter.after.as_ref(), size);
        let rows = query.fetch(self).await?;
        let alerts = rows
            .iter()
            .map(alert_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (alerts, next) = split_page(alerts, size, |last| AlertCursor {
            at_ms: to_millis(last.first_seen_at),
            id: last.id,
        });
        Ok(AlertPage { alerts, next })
    }

    async fn list_events(
        &self,
        org: OrgId,
        incident: IncidentId,
        filter: &EventFilter,
    ) -> Result<EventPage, StoreError> {
        {
            let mut conn = self.pool().acquire().await.map_err(db_error)?;
            load_incident(&mut conn, org, incident).await?;
        }
        let mut query = Filtered::new(
            "SELECT id, incident_id, at, actor, kind, detail FROM incident_events \
             WHERE org_id = $1",
            org,
        );
        query.and(" AND incident_id = $?", Bind::Text(incident.to_string()));
        let size = filter.page_size();
        query.page("at", "id", filter.after.as_ref(), size);
        let events = query
            .fetch(self)
            .await?
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (events, next) = split_page(events, size, |last| EventCursor {
            at_ms: to_millis(last.at),
            id: last.id,
        });
        Ok(EventPage { events, next })
    }

    async fn merge_incidents(
        &self,
        org: OrgId,
        from: IncidentId,
        into: IncidentId,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<(Incident, Incident), StoreError> {
        if from == into {
            return Err(StoreError::Conflict(
                "an incident cannot be merged into itself: choose another one".to_owned(),
            ));
        }
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        // Both rows are written first: locked on PostgreSQL, the write lock on SQLite.
        lock_incident(&mut tx, org, from, now).await?;
        lock_incident(&mut tx, org, into, now).await?;
        let source = load_incident(&mut tx, org, from).await?;
        let target = load_incident(&mut tx, org, into).await?;
        if let Some(other) = source.merged_into {
            return Err(StoreError::Conflict(format!(
                "incident {from} was already merged into {other}"
            )));
        }
        if let Some(other) = target.merged_into {
            return Err(StoreError::Conflict(format!(
                "incident {into} was merged into {other}: merge into that one instead"
            )));
        }
        let moved = sqlx::query(
            "UPDATE alerts SET incident_id = $1 WHERE org_id = $2 AND incident_id = $3",
        )
        .bind(into.to_string())
        .bind(org.to_string())
        .bind(from.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        sqlx::query(
            "UPDATE incident_events SET incident_id = $1 WHERE org_id = $2 AND incident_id = $3",
        )
        .bind(into.to_string())
        .bind(org.to_string())
        .bind(from.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        // The target takes over the merged incident's label groups, so that later alerts of
        // those groups join it.
        sqlx::query(
            "INSERT INTO incident_groups (org_id, rule_id, group_key, incident_id, \
             incident_created_at) SELECT org_id, rule_id, group_key, $1, $2 FROM incident_groups \
             WHERE org_id = $3 AND incident_id = $4 ON CONFLICT DO NOTHING",
        )
        .bind(into.to_string())
        .bind(to_millis(target.created_at))
        .bind(org.to_string())
        .bind(from.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if source.severity > target.severity {
            set_severity(&mut tx, org, into, source.severity).await?;
            let detail = json!({
                "from": target.severity,
                "to": source.severity,
                "reason": format!("merged incident {from}"),
            });
            add_event(
                &mut tx,
                org,
                into,
                now,
                actor,
                EventKind::SeverityChanged,
                &detail,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE incidents SET status = 'resolved', resolved_at = COALESCE(resolved_at, $1), \
             merged_into = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(to_millis(now))
        .bind(into.to_string())
        .bind(org.to_string())
        .bind(from.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let detail = json!({"from": from, "into": into, "alerts": moved});
        add_event(&mut tx, org, from, now, actor, EventKind::Merged, &detail).await?;
        add_event(&mut tx, org, into, now, actor, EventKind::Merged, &detail).await?;
        let merged = load_incident(&mut tx, org, from).await?;
        let target = load_incident(&mut tx, org, into).await?;
        tx.commit().await.map_err(db_error)?;
        Ok((merged, target))
    }

    async fn create_grouping_rule(
        &self,
        org: OrgId,
        rule: &NewGroupingRule,
        now: OffsetDateTime,
    ) -> Result<GroupingRule, StoreError> {
        super::grouping::create(self, org, rule, now).await
    }

    async fn list_grouping_rules(&self, org: OrgId) -> Result<Vec<GroupingRule>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(db_error)?;
        super::grouping::list(&mut conn, org).await
    }

    async fn delete_grouping_rule(&self, org: OrgId, id: GroupingRuleId) -> Result<(), StoreError> {
        super::grouping::delete(self, org, id).await
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

/// A query whose conditions depend on a filter, with numbered placeholders (`$n`) that both
/// backends accept.
struct Filtered {
    sql: String,
    binds: Vec<Bind>,
}

impl Filtered {
    /// `base` selects the organisation's rows with `$1`.
    fn new(base: &str, org: OrgId) -> Self {
        Self {
            sql: base.to_owned(),
            binds: vec![Bind::Text(org.to_string())],
        }
    }

    /// Appends `clause`, whose one `$?` stands for `value`.
    fn and(&mut self, clause: &str, value: Bind) {
        self.binds.push(value);
        self.sql
            .push_str(&clause.replace("$?", &format!("${}", self.binds.len())));
    }

    /// Rows after `after` in `(time, id)` order, newest first: one more than `size`, so that
    /// [`split_page`] can tell whether another page follows.
    fn page<Id: std::fmt::Display>(
        &mut self,
        time: &str,
        id: &str,
        after: Option<&Cursor<Id>>,
        size: u32,
    ) {
        if let Some(after) = after {
            self.and(&format!(" AND ({time} < $?"), Bind::Int(after.at_ms));
            self.and(&format!(" OR ({time} = $?"), Bind::Int(after.at_ms));
            self.and(
                &format!(" AND {id} < $?))"),
                Bind::Text(after.id.to_string()),
            );
        }
        self.and(
            &format!(" ORDER BY {time} DESC, {id} DESC LIMIT $?"),
            Bind::Int(i64::from(size) + 1),
        );
    }

    async fn fetch(self, store: &SqlStore) -> Result<Vec<AnyRow>, StoreError> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql));
        for bind in self.binds {
            query = match bind {
                Bind::Text(value) => query.bind(value),
                Bind::Int(value) => query.bind(value),
            };
        }
        query.fetch_all(store.pool()).await.map_err(db_error)
    }
}

/// Keeps the first `size` items and, when there were more, the cursor after the last kept.
fn split_page<T, Id>(
    mut items: Vec<T>,
    size: u32,
    cursor: impl Fn(&T) -> Cursor<Id>,
) -> (Vec<T>, Option<Cursor<Id>>) {
    if items.len() > size as usize {
        items.truncate(size as usize);
        let next = items.last().map(cursor);
        (items, next)
    } else {
        (items, None)
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How many rows a list of one incident has in all: `shown` when fewer than `limit` were read
/// (the list is whole), else the `n` of `count_sql` for the (organisation, incident).
async fn total(
    conn: &mut AnyConnection,
    shown: usize,
    limit: usize,
    count_sql: &'static str,
    (org, id): (OrgId, IncidentId),
) -> Result<u64, StoreError> {
    if shown < limit {
        return Ok(shown as u64);
    }
    let row = sqlx::query(count_sql)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    count(&row, "n")
}

async fn load_incident(
    conn: &mut AnyConnection,
    org: OrgId,
    id: IncidentId,
) -> Result<Incident, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        incident_columns!(),
        " FROM incidents WHERE org_id = $1 AND id = $2"
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .ok_or(StoreError::NotFound("incident"))?;
    incident_from_row(&row)
}

/// Marks the incident changed now; [`StoreError::NotFound`] if it is not the organisation's.
async fn lock_incident(
    conn: &mut AnyConnection,
    org: OrgId,
    id: IncidentId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE incidents SET updated_at = $1 WHERE org_id = $2 AND id = $3")
        .bind(to_millis(now))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound("incident"))
    } else {
        Ok(())
    }
}

async fn set_severity(
    conn: &mut AnyConnection,
    org: OrgId,
    id: IncidentId,
    severity: Severity,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE incidents SET severity = $1 WHERE org_id = $2 AND id = $3")
        .bind(severity.as_str())
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn add_event(
    conn: &mut AnyConnection,
    org: OrgId,
    incident: IncidentId,
    at: OffsetDateTime,
    actor: Actor,
    kind: EventKind,
    detail: &serde_json::Value,
) -> Result<IncidentEvent, StoreError> {
    let event = IncidentEvent {
        id: EventId::new(),
        incident_id: incident,
        at: stored(at),
        actor,
        kind,
        detail: detail.clone(),
    };
    sqlx::query(
        "INSERT INTO incident_events (id, org_id, incident_id, at, actor, kind, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.id.to_string())
    .bind(org.to_string())
    .bind(incident.to_string())
    .bind(to_millis(at))
    .bind(actor.to_string())
    .bind(kind.as_str())
    .bind(to_json(detail)?)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(event)
}
