//! Connectors on the SQL store: one row per configured connection, its secrets as `secret://`
//! references and its last health check as JSON.

use aurora_core::StoreError;
use aurora_core::ids::{ConnectorId, OrgId};
use aurora_core::investigation::{Connector, ConnectorCheck, NewConnector};
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::super::signals::{json_column, opt_text, stored, text, time_at, to_json};
use super::super::{SqlStore, conflict_or, db_error, parse_column, to_millis};

macro_rules! connector_columns {
    () => {
        "id, org_id, kind, name, config, secret_refs, created_at, updated_at, last_check"
    };
}

fn connector_from_row(row: &AnyRow) -> Result<Connector, StoreError> {
    let last_check = opt_text(row, "last_check")?
        .map(|check| serde_json::from_str::<ConnectorCheck>(&check))
        .transpose()
        .map_err(|err| StoreError::Corrupt(format!("column last_check: {err}")))?;
    Ok(Connector {
        id: parse_column(&text(row, "id")?, "connector id")?,
        org_id: parse_column(&text(row, "org_id")?, "org id")?,
        kind: text(row, "kind")?,
        name: text(row, "name")?,
        config: json_column(row, "config")?,
        secret_refs: json_column(row, "secret_refs")?,
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
        last_check,
    })
}

pub(super) async fn create(
    store: &SqlStore,
    org: OrgId,
    connector: NewConnector,
) -> Result<Connector, StoreError> {
    let now = OffsetDateTime::now_utc();
    let created = Connector {
        id: connector.id,
        org_id: org,
        kind: connector.kind,
        name: connector.name,
        config: connector.config,
        secret_refs: connector.secret_refs,
        created_at: stored(now),
        updated_at: stored(now),
        last_check: None,
    };
    sqlx::query(
        "INSERT INTO connectors (id, org_id, kind, name, config, secret_refs, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(created.id.to_string())
    .bind(org.to_string())
    .bind(created.kind.clone())
    .bind(created.name.clone())
    .bind(to_json(&created.config)?)
    .bind(to_json(&created.secret_refs)?)
    .bind(to_millis(now))
    .execute(store.writer())
    .await
    .map_err(|err| {
        conflict_or(err, || {
            format!(
                "a connector named {:?} already exists: choose another name or change that \
                 connector",
                created.name
            )
        })
    })?;
    Ok(created)
}

pub(super) async fn list(store: &SqlStore, org: OrgId) -> Result<Vec<Connector>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors WHERE org_id = $1 ORDER BY name, id"
    ))
    .bind(org.to_string())
    .fetch_all(store.pool())
    .await
    .map_err(db_error)?
    .iter()
    .map(connector_from_row)
    .collect()
}

pub(super) async fn get(
    store: &SqlStore,
    org: OrgId,
    id: ConnectorId,
) -> Result<Connector, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        connector_columns!(),
        " FROM connectors WHERE org_id = $1 AND id = $2"
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(store.pool())
    .await
    .map_err(db_error)?
    .as_ref()
    .map(connector_from_row)
    .transpose()?
    .ok_or(StoreError::NotFound("connector"))
}

pub(super) async fn update_check(
    store: &SqlStore,
    org: OrgId,
    id: ConnectorId,
    check: &ConnectorCheck,
) -> Result<Connector, StoreError> {
    sqlx::query(concat!(
        "UPDATE connectors SET last_check = $1 WHERE org_id = $2 AND id = $3 RETURNING ",
        connector_columns!()
    ))
    .bind(to_json(check)?)
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await
    .map_err(db_error)?
    .as_ref()
    .map(connector_from_row)
    .transpose()?
    .ok_or(StoreError::NotFound("connector"))
}

pub(super) async fn delete(
    store: &SqlStore,
    org: OrgId,
    id: ConnectorId,
) -> Result<Connector, StoreError> {
    sqlx::query(concat!(
        "DELETE FROM connectors WHERE org_id = $1 AND id = $2 RETURNING ",
        connector_columns!()
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await
    .map_err(db_error)?
    .as_ref()
    .map(connector_from_row)
    .transpose()?
    .ok_or(StoreError::NotFound("connector"))
}
