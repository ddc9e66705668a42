//! Ingest: deliveries of alerts into alerts, incidents, timelines and `investigate` jobs.
//!
//! **Group commit.** Every delivery goes through one queue per store, drained by one task: it
//! takes the deliveries waiting (up to [`MAX_BATCH_DELIVERIES`] deliveries or
//! [`MAX_BATCH_ALERTS`] alerts), applies them one after the other in one transaction, commits,
//! and only then answers each of them, so a delivery is acknowledged only once it is durable. If
//! the shared transaction fails, each delivery of the batch is applied again alone, so that one
//! delivery's failure is its own. A delivery whose source no longer exists gets
//! [`StoreError::NotFound`] without affecting the others.
//!
//! **Batched statements.** Within a batch the state that ingest decides on (the alerts of the
//! batch's fingerprints, their incidents, the open incident of a service) is read once, kept in
//! memory while the deliveries are applied in order, and written back with multi-row statements:
//! a delivery of N new alerts costs a handful of statements, not several per alert. Decisions see
//! the effects of the deliveries before them in the batch exactly as if each had committed alone.
//! On SQLite the closing writes of a batch go to the connection as one script (see [`Writes`]),
//! and the writer runs on a thread of its own (see [`IngestQueue::start`]): with 1-alert
//! deliveries from 64 senders, together with multi-row statements of anonymous parameters, this
//! took ingest from about 3,200 to about 5,200 deliveries a second on two cores.
//!
//! **Ordering.** The batch first updates each source's row (`last_delivery_at`). That write
//! serialises deliveries of one source across processes (a row lock on PostgreSQL; SQLite has a
//! single writer), so the retry check and the fingerprint lookups see every earlier delivery of
//! that source. Deliveries of different sources in different processes run concurrently on
//! PostgreSQL: two of them racing to open an incident for the same service may open two.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use aurora_core::StoreError;
use aurora_core::alert::{Alert, AlertStatus, Severity};
use aurora_core::grouping::GroupingRule;
use aurora_core::ids::{AlertId, DeliveryId, EventId, IncidentId, JobId, OrgId, SourceId};
use aurora_core::incident::{Actor, EventKind, IncidentStatus};
use aurora_core::job;
use aurora_core::source::{DeliveryMeta, IngestOutcome, IngestRules};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::signals::{alert_from_row, json_column, millis_of, opt_text, text, to_json};
use super::{Backend, db_error, parse_column, to_millis};

/// The most deliveries one transaction takes.
pub(super) const MAX_BATCH_DELIVERIES: usize = 256;
/// A batch stops taking more deliveries once it holds this many alerts.
pub(super) const MAX_BATCH_ALERTS: usize = 10_000;
/// Bound parameters per statement (anonymous on SQLite, see [`Writes`]). Multi-row `INSERT`s
/// take as many rows as fit.
const PARAMS_PER_STATEMENT: usize = 200;
/// Values per `IN (...)` list.
const VALUES_PER_LIST: usize = PARAMS_PER_STATEMENT;
/// Deliveries waiting for the writer before senders wait too.
const QUEUE_DEPTH: usize = 1024;

/// One delivery to ingest.
pub(super) struct Unit {
    pub org: OrgId,
    pub source: SourceId,
    pub alerts: Vec<Alert>,
    pub delivery: DeliveryMeta,
    pub rules: IngestRules,
}

/// A delivery's outcome, and the delivery itself: it goes back to be freed on the thread that
/// allocated it (see [`commit_batch`]).
type Reply = oneshot::Sender<(Result<IngestOutcome, StoreError>, Unit)>;

/// The queue in front of the ingest writer task.
#[derive(Debug)]
pub(crate) struct IngestQueue {
    sender: mpsc::Sender<(Unit, Reply)>,
}

impl IngestQueue {
    /// Starts the writer task; it ends when the queue is dropped.
    ///
    /// On SQLite the task runs on a thread of its own (a current-thread runtime). There every
    /// statement is a round trip to the connection's worker thread, and a task woken from
    /// outside the runtime's workers waits in its global queue behind the request handlers, a
    /// millisecond or more per round trip under load, which would bound ingest far below what
    /// the database can do. On its own thread the writer runs as soon as the database answers.
    /// On PostgreSQL the writer pool is the shared pool, whose connections must stay on the main
    /// runtime's reactor; the task is spawned there.
    pub(super) fn start(writer: AnyPool, backend: Backend) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        if backend == Backend::Sqlite {
            let started = std::thread::Builder::new()
                .name("aurora-ingest".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(drain(writer, receiver, backend)),
                        // The receiver is dropped: deliveries are answered "unavailable".
                        Err(err) => {
                            tracing::error!(error = %err, "cannot start the ingest writer's runtime");
                        }
                    }
                });
            if let Err(err) = started {
                tracing::error!(error = %err, "cannot start the ingest writer thread");
            }
        } else {
            tokio::spawn(drain(writer, receiver, backend));
        }
        Self { sender }
    }

    /// Ingests one delivery; answers once it is committed.
    pub(super) async fn submit(&self, unit: Unit) -> Result<IngestOutcome, StoreError> {
        let stopped = || StoreError::Unavailable("the ingest writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((unit, reply))
            .await
            .map_err(|_| stopped())?;
        let (outcome, _unit) = answer.await.map_err(|_| stopped())?;
        outcome
    }
}

async fn drain(writer: AnyPool, mut receiver: mpsc::Receiver<(Unit, Reply)>, backend: Backend) {
    while let Some(first) = receiver.recv().await {
        let mut alerts = first.0.alerts.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_DELIVERIES && alerts < MAX_BATCH_ALERTS {
            match receiver.try_recv() {
                Ok(next) => {
                    alerts += next.0.alerts.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let began = std::time::Instant::now();
        let deliveries = batch.len();
        commit_batch(&writer, batch, backend).await;
        tracing::debug!(
            deliveries,
            alerts,
            took_us = began.elapsed().as_micros() as u64,
            "ingest batch committed"
        );
    }
}

/// Applies a batch and answers each delivery. The deliveries are sent back with their outcomes:
/// freeing memory on a thread other than the one that allocated it is several times dearer than
/// a local free, and with 1-alert deliveries it was a sixth of the request threads' time.
async fn commit_batch(writer: &AnyPool, batch: Vec<(Unit, Reply)>, backend: Backend) {
    let (units, replies): (Vec<Unit>, Vec<Reply>) = batch.into_iter().unzip();
    let outcomes = match apply(writer, &units, backend).await {
        Ok(outcomes) => outcomes,
        Err(err) if units.len() == 1 => vec![Err(err)],
        Err(err) => {
            tracing::warn!(error = %err, deliveries = units.len(), "batched ingest failed; applying each delivery alone");
            let mut outcomes = Vec::with_capacity(units.len());
            for i in 0..units.len() {
                outcomes.push(match apply(writer, &units[i..=i], backend).await {
                    Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| {
                        Err(StoreError::Backend("ingest produced no outcome".into()))
                    }),
                    Err(err) => Err(err),
                });
            }
            outcomes
        }
    };
    for ((reply, unit), outcome) in replies.into_iter().zip(units).zip(outcomes) {
        let _ = reply.send((outcome, unit));
    }
}

/// Applies `units` in one transaction. The outer error fails them all (nothing committed);
/// an inner error is one delivery's own.
async fn apply(
    writer: &AnyPool,
    units: &[Unit],
    backend: Backend,
) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
    let mut tx = writer.begin().await.map_err(db_error)?;
    let mut batch = Batch {
        writes: Writes::new(backend),
        ..Batch::default()
    };
    batch.prepare(&mut tx, units).await?;
    let mut outcomes = Vec::with_capacity(units.len());
    for unit in units {
        outcomes.push(batch.unit(&mut tx, unit).await?);
    }
    batch.finish(&mut tx).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(outcomes)
}

/// How an alert's row differs from the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Clean,
    /// New: inserted at the next flush, with `repeats` as its repeat count.
    Insert,
    /// Changed (fields or incident): updated at the next flush, `repeats` added.
    Update,
    /// Only repeated: `repeats` added at the next flush.
    Repeat,
}

/// An alert as the batch knows it: borrowed from its delivery when the batch wrote it, owned
/// when read from the database.
struct AlertState<'a> {
    id: AlertId,
    alert: Cow<'a, Alert>,
    incident: Option<IncidentId>,
    first_seen: OffsetDateTime,
    last_seen: OffsetDateTime,
    write: Write,
    repeats: u64,
}

impl AlertState<'_> {
    fn mark_changed(&mut self) {
        if self.write != Write::Insert {
            self.write = Write::Update;
        }
    }
}

struct IncidentState {
    org: OrgId,
    status: IncidentStatus,
    severity: Severity,
    created_at: i64,
    /// Changed in this batch: `updated_at` and `severity` are written at the end.
    touched: Option<OffsetDateTime>,
}

struct EventRow {
    org: OrgId,
    incident: IncidentId,
    at: OffsetDateTime,
    actor: Actor,
    kind: EventKind,
    detail: serde_json::Value,
}

struct DeliveryRow {
    org: OrgId,
    source: SourceId,
    received_at: OffsetDateTime,
    alerts: usize,
    body_sha256: String,
    outcome: IngestOutcome,
}

type AlertKey = (OrgId, SourceId, String);

/// Everything one transaction knows and has yet to write.
#[derive(Default)]
struct Batch<'a> {
    /// Sources whose row exists (and is now locked by this transaction).
    sources: BTreeSet<(OrgId, SourceId)>,
    /// Accepted deliveries by `(org, source, body hash)`, for the retry check: newest first.
    earlier: HashMap<(OrgId, SourceId, String), Vec<(i64, IngestOutcome)>>,
    grouping_rules: HashMap<OrgId, Vec<GroupingRule>>,
    /// Every alert, in any source of the organisation, carrying a fingerprint of the batch.
    alerts: HashMap<AlertKey, AlertState<'a>>,
    /// The sources holding an alert of a fingerprint.
    fingerprint_sources: HashMap<(OrgId, String), Vec<SourceId>>,
    incidents: HashMap<IncidentId, IncidentState>,
    /// The newest open incident of a service and environment, as last looked up.
    by_service: HashMap<(OrgId, String, String), Option<IncidentId>>,
    /// Services whose open incidents were all loaded at the start of the batch.
    services_loaded: BTreeSet<(OrgId, String)>,
    events: Vec<EventRow>,
    deliveries: Vec<DeliveryRow>,
    /// Writes that nothing in the batch reads back before they are run.
    writes: Writes,
}

/// One delivery's counters and auto-resolve candidates while it is applied.
struct UnitRun<'a> {
    unit: &'a Unit,
    now: OffsetDateTime,
    outcome: IngestOutcome,
    resolved_in: BTreeSet<IncidentId>,
}

impl<'a> Batch<'a> {
    /// Locks the sources, loads the retry candidates, the grouping rules and the alerts of the
    /// batch's fingerprints with their incidents.
    async fn prepare(
        &mut self,
        conn: &mut AnyConnection,
        units: &[Unit],
    ) -> Result<(), StoreError> {
        let mut newest: BTreeMap<(OrgId, SourceId), OffsetDateTime> = BTreeMap::new();
        for unit in units {
            let at = newest
                .entry((unit.org, unit.source))
                .or_insert(unit.delivery.received_at);
            *at = (*at).max(unit.delivery.received_at);
        }
        for (&(org, source), &at) in &newest {
            let touched = sqlx::query(
                "UPDATE alert_sources SET last_delivery_at = $1 WHERE org_id = $2 AND id = $3",
            )
            .bind(to_millis(at))
            .bind(org.to_string())
            .bind(source.to_string())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            if touched.rows_affected() > 0 {
                self.sources.insert((org, source));
            }
        }

        let mut hashes: BTreeMap<(OrgId, SourceId), (i64, BTreeSet<&str>)> = BTreeMap::new();
        for unit in units
            .iter()
            .filter(|u| self.sources.contains(&(u.org, u.source)))
        {
            let since = to_millis(unit.delivery.received_at)
                .saturating_sub(millis_of(unit.rules.idempotency_window));
            let entry = hashes
                .entry((unit.org, unit.source))
                .or_insert((since, BTreeSet::new()));
            entry.0 = entry.0.min(since);
            entry.1.insert(&unit.delivery.body_sha256);
        }
        for ((org, source), (since, hashes)) in hashes {
            let hashes: Vec<&str> = hashes.into_iter().collect();
            for chunk in hashes.chunks(VALUES_PER_LIST) {
                // The window is applied here, not in SQL: with a range on `received_at` SQLite's
                // planner prefers the (org, source, received_at) index and scans the window.
                let mut select = self.writes.statement(
                    "SELECT body_sha256, received_at, result FROM deliveries WHERE org_id = ",
                );
                select.bind(Val::Text(org.to_string()));
                select.sql(" AND source_id = ");
                select.bind(Val::Text(source.to_string()));
                select.sql(" AND body_sha256 IN (");
                select.list(chunk.iter().map(|hash| Val::Text((*hash).to_owned())));
                select.sql(") AND outcome = 'accepted'");
                for row in select.fetch_all(conn).await? {
                    let key = (org, source, text(&row, "body_sha256")?);
                    let at: i64 = row.try_get("received_at").map_err(db_error)?;
                    if at >= since {
                        let outcome: IngestOutcome = json_column(&row, "result")?;
                        self.earlier.entry(key).or_default().push((at, outcome));
                    }
                }
            }
        }
        for earlier in self.earlier.values_mut() {
            earlier.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        }

        let mut fingerprints: BTreeMap<OrgId, BTreeSet<&str>> = BTreeMap::new();
        let mut services: BTreeMap<OrgId, (i64, BTreeSet<&str>)> = BTreeMap::new();
        for unit in units
            .iter()
            .filter(|u| self.sources.contains(&(u.org, u.source)))
        {
            let set = fingerprints.entry(unit.org).or_default();
            set.extend(unit.alerts.iter().map(|a| a.fingerprint.as_str()));
            let since = to_millis(unit.delivery.received_at)
                .saturating_sub(millis_of(unit.rules.grouping_window));
            let (oldest, set) = services.entry(unit.org).or_insert((since, BTreeSet::new()));
            *oldest = (*oldest).min(since);
            set.extend(
                unit.alerts
                    .iter()
                    .filter(|a| a.status == AlertStatus::Firing)
                    .filter_map(|a| a.service.as_deref()),
            );
        }
        for (org, fingerprints) in fingerprints {
            self.grouping_rules
                .insert(org, super::grouping::list(conn, org).await?);
            let fingerprints: Vec<&str> = fingerprints.into_iter().collect();
            for chunk in fingerprints.chunks(VALUES_PER_LIST) {
                self.load_alerts(conn, org, chunk).await?;
            }
        }
        for (org, (since, services)) in services {
            let services: Vec<&str> = services.into_iter().collect();
            for chunk in services.chunks(VALUES_PER_LIST) {
                self.load_open_incidents(conn, org, since, chunk).await?;
            }
        }
        Ok(())
    }

    /// Learns the newest open incident of each service (and environment) opened since `since`.
    /// A service without one is remembered as such, so the batch asks no further.
    async fn load_open_incidents(
        &mut self,
        conn: &mut AnyConnection,
        org: OrgId,
        since: i64,
        services: &[&str],
    ) -> Result<(), StoreError> {
        // No `ORDER BY`: with it SQLite's planner walks the organisation's incidents by creation
        // time instead of seeking the services; the newest is picked here.
        let mut select = self.writes.statement(
            "SELECT id, service, environment, status, severity, created_at FROM incidents \
             WHERE org_id = ",
        );
        select.bind(Val::Text(org.to_string()));
        select.sql(" AND service IN (");
        select.list(
            services
                .iter()
                .map(|service| Val::Text((*service).to_owned())),
        );
        select.sql(") AND status <> 'resolved' AND created_at >= ");
        select.bind(Val::Int(since));
        let mut newest: HashMap<(OrgId, String, String), (i64, IncidentId)> = HashMap::new();
        for row in select.fetch_all(conn).await? {
            let id: IncidentId = parse_column(&text(&row, "id")?, "incident id")?;
            let state = incident_state(org, &row)?;
            let key = (
                org,
                text(&row, "service")?,
                opt_text(&row, "environment")?.unwrap_or_default(),
            );
            let candidate = (state.created_at, id);
            newest
                .entry(key)
                .and_modify(|best| *best = (*best).max(candidate))
                .or_insert(candidate);
            self.incidents.entry(id).or_insert(state);
        }
        for (key, (_, id)) in newest {
            self.by_service.insert(key, Some(id));
        }
        // Services seen with no open incident: remembered for every environment the batch may
        // ask about, by the lookup falling back to the database only for keys never loaded.
        for service in services {
            self.services_loaded.insert((org, (*service).to_owned()));
        }
        Ok(())
    }

    async fn load_alerts(
        &mut self,
        conn: &mut AnyConnection,
        org: OrgId,
        fingerprints: &[&str],
    ) -> Result<(), StoreError> {
        let mut select = self.writes.statement(concat!(
            "SELECT ",
            alert_columns!(),
            ", i.status AS incident_status, i.severity AS incident_severity, \
             i.created_at AS incident_created_at \
             FROM alerts a JOIN alert_sources s ON s.id = a.source_id AND s.org_id = a.org_id \
             LEFT JOIN incidents i ON i.id = a.incident_id AND i.org_id = a.org_id \
             WHERE a.org_id = "
        ));
        select.bind(Val::Text(org.to_string()));
        select.sql(" AND a.fingerprint IN (");
        select.list(fingerprints.iter().map(|f| Val::Text((*f).to_owned())));
        select.sql(")");
        for row in select.fetch_all(conn).await? {
            let stored = alert_from_row(&row)?;
            if let Some(incident) = stored.incident_id {
                let status: Option<String> = row.try_get("incident_status").map_err(db_error)?;
                if let Some(status) = status {
                    self.incidents.entry(incident).or_insert(IncidentState {
                        org,
                        status: parse_column(&status, "incident status")?,
                        severity: parse_column(&text(&row, "incident_severity")?, "severity")?,
                        created_at: time_ms(&row, "incident_created_at")?,
                        touched: None,
                    });
                }
            }
            let fingerprint = stored.alert.fingerprint.as_str().to_owned();
            self.fingerprint_sources
                .entry((org, fingerprint.clone()))
                .or_default()
                .push(stored.source_id);
            self.alerts.insert(
                (org, stored.source_id, fingerprint),
                AlertState {
                    id: stored.id,
                    alert: Cow::Owned(stored.alert),
                    incident: stored.incident_id,
                    first_seen: stored.first_seen_at,
                    last_seen: stored.last_seen_at,
                    write: Write::Clean,
                    repeats: 0,
                },
            );
        }
        Ok(())
    }

    /// Applies one delivery.
    async fn unit(
        &mut self,
        conn: &mut AnyConnection,
        unit: &'a Unit,
    ) -> Result<Result<IngestOutcome, StoreError>, StoreError> {
        if !self.sources.contains(&(unit.org, unit.source)) {
            return Ok(Err(StoreError::NotFound("alert source")));
        }
        let now = unit.delivery.received_at;
        let key = (unit.org, unit.source, unit.delivery.body_sha256.clone());
        let since = to_millis(now).saturating_sub(millis_of(unit.rules.idempotency_window));
        if let Some((_, earlier)) = self
            .earlier
            .get(&key)
            .and_then(|list| list.iter().find(|(at, _)| *at >= since))
        {
            let mut outcome = earlier.clone();
            outcome.replayed = true;
            return Ok(Ok(outcome));
        }

        let mut run = UnitRun {
            unit,
            now,
            outcome: IngestOutcome {
                delivery_id: Some(DeliveryId::new()),
                alerts: unit.alerts.len() as u64,
                ..IngestOutcome::default()
            },
            resolved_in: BTreeSet::new(),
        };
        for alert in &unit.alerts {
            self.one(conn, &mut run, alert).await?;
        }
        if unit.rules.auto_resolve && !run.resolved_in.is_empty() {
            self.auto_resolve(conn, &mut run).await?;
        }
        let outcome = run.outcome;
        self.earlier
            .entry(key)
            .or_default()
            .insert(0, (to_millis(now), outcome.clone()));
        self.deliveries.push(DeliveryRow {
            org: unit.org,
            source: unit.source,
            received_at: now,
            alerts: unit.alerts.len(),
            body_sha256: unit.delivery.body_sha256.clone(),
            outcome: outcome.clone(),
        });
        Ok(Ok(outcome))
    }

    async fn one(
        &mut self,
        conn: &mut AnyConnection,
        run: &mut UnitRun<'_>,
        alert: &'a Alert,
    ) -> Result<(), StoreError> {
        let (org, source, now) = (run.unit.org, run.unit.source, run.now);
        let key = (org, source, alert.fingerprint.as_str().to_owned());
        let Some(state) = self.alerts.get_mut(&key) else {
            self.fingerprint_sources
                .entry((org, key.2.clone()))
                .or_default()
                .push(source);
            self.alerts.insert(
                key.clone(),
                AlertState {
                    id: AlertId::new(),
                    alert: Cow::Borrowed(alert),
                    incident: None,
                    first_seen: now,
                    last_seen: now,
                    write: Write::Insert,
                    repeats: 0,
                },
            );
            run.outcome.new_alerts += 1;
            // A resolve for an alert never seen is kept for the record but opens nothing.
            if alert.status == AlertStatus::Firing {
                self.attach(conn, run, &key, alert).await?;
            }
            return Ok(());
        };

        let before = comparable(&state.alert);
        let after = comparable(alert);
        state.last_seen = now;
        if before == after {
            state.repeats += 1;
            if state.write == Write::Clean {
                state.write = Write::Repeat;
            }
            run.outcome.repeats += 1;
            return Ok(());
        }
        let changed: Vec<&str> = after
            .iter()
            .filter(|(name, value)| before.get(*name) != Some(*value))
            .map(|(name, _)| *name)
            .collect();
        let (alert_id, was, incident) = (state.id, state.alert.status, state.incident);
        state.alert = Cow::Borrowed(alert);
        state.mark_changed();
        run.outcome.updated += 1;

        let active_incident = match incident {
            Some(incident) => self
                .incident(conn, org, incident)
                .await?
                .status
                .is_active()
                .then_some(incident),
            None => None,
        };
        match (was, alert.status, active_incident) {
            (AlertStatus::Firing, AlertStatus::Resolved, Some(incident)) => {
                let detail = json!({
                    "alert_id": alert_id,
                    "fingerprint": alert.fingerprint,
                    "title": alert.title,
                });
                self.event(run, incident, EventKind::AlertResolved, detail);
                run.resolved_in.insert(incident);
            }
            // Firing again after it resolved, or still firing with no open incident to show it.
            (_, AlertStatus::Firing, None) => self.attach(conn, run, &key, alert).await?,
            (_, _, Some(incident)) => {
                let detail = json!({
                    "alert_id": alert_id,
                    "fingerprint": alert.fingerprint,
                    "changed": changed,
                });
                self.event(run, incident, EventKind::AlertUpdated, detail);
                if alert.status == AlertStatus::Firing {
                    self.raise_severity(run, incident, alert);
                }
            }
            (_, AlertStatus::Resolved, None) => {}
        }
        Ok(())
    }

    /// Puts a firing alert into an incident: an open one with the same fingerprint, else one
    /// found by the organisation's label-based grouping rules (oldest rule first), else an
    /// open one of the same service and environment within the grouping window, else a new one.
    /// The incident then holds the alert's groups under every rule that applies to it.
    async fn attach(
        &mut self,
        conn: &mut AnyConnection,
        run: &mut UnitRun<'_>,
        key: &AlertKey,
        alert: &Alert,
    ) -> Result<(), StoreError> {
        let (org, now) = (run.unit.org, run.now);
        let Some(alert_id) = self.alerts.get(key).map(|state| state.id) else {
            return Err(StoreError::Backend("ingest lost track of an alert".into()));
        };

        let mut found = self
            .open_incident_of_fingerprint(org, key, alert_id)
            .map(|incident| (incident, "same fingerprint".to_owned()));
        let rules = self.grouping_rules.get(&org).cloned().unwrap_or_default();
        let groups: Vec<(&GroupingRule, String)> = rules
            .iter()
            .filter_map(|rule| rule.group_key(&alert.labels).map(|key| (rule, key)))
            .collect();
        if found.is_none() {
            for (rule, group) in &groups {
                if let Some(incident) =
                    super::grouping::find_incident(conn, org, rule, group, now).await?
                {
                    found = Some((incident, format!("grouping rule {:?}", rule.name)));
                    break;
                }
            }
        }
        if found.is_none()
            && let Some(service) = alert.service.as_deref()
        {
            found = self
                .open_incident_of_service(conn, run, service, alert.environment.as_deref())
                .await?
                .map(|incident| (incident, "same service and environment".to_owned()));
        }
        let (incident, reason) = match found {
            Some(found) => found,
            None => (
                self.open_incident(conn, run, alert).await?,
                "opened the incident".to_owned(),
            ),
        };
        for (rule, group) in &groups {
            super::grouping::remember(conn, org, rule, group, incident).await?;
        }
        if let Some(state) = self.alerts.get_mut(key) {
            state.incident = Some(incident);
            state.mark_changed();
        }
        let detail = json!({
            "alert_id": alert_id,
            "fingerprint": alert.fingerprint,
            "title": alert.title,
            "severity": alert.severity,
            "reason": reason,
        });
        self.event(run, incident, EventKind::AlertAttached, detail);
        self.raise_severity(run, incident, alert);
        Ok(())
    }

    /// The newest open incident holding another alert of this fingerprint, in any source.
    fn open_incident_of_fingerprint(
        &self,
        org: OrgId,
        key: &AlertKey,
        except: AlertId,
    ) -> Option<IncidentId> {
        let sources = self.fingerprint_sources.get(&(org, key.2.clone()))?;
        sources
            .iter()
            .filter_map(|source| self.alerts.get(&(org, *source, key.2.clone())))
            .filter(|state| state.id != except)
            .filter_map(|state| state.incident)
            .filter_map(|incident| {
                let found = self.incidents.get(&incident)?;
                found
                    .status
                    .is_active()
                    .then_some((found.created_at, incident))
            })
            .max()
            .map(|(_, incident)| incident)
    }

    /// The newest open incident of the service and environment opened within the grouping
    /// window.
    async fn open_incident_of_service(
        &mut self,
        conn: &mut AnyConnection,
        run: &UnitRun<'_>,
        service: &str,
        environment: Option<&str>,
    ) -> Result<Option<IncidentId>, StoreError> {
        let org = run.unit.org;
        let since = to_millis(run.now).saturating_sub(millis_of(run.unit.rules.grouping_window));
        let key = (
            org,
            service.to_owned(),
            environment.unwrap_or_default().to_owned(),
        );
        let loaded = self.services_loaded.contains(&(org, key.1.clone()));
        let cached = match self.by_service.get(&key) {
            Some(Some(incident)) => self
                .incidents
                .get(incident)
                .filter(|state| state.status.is_active())
                .map(|state| (state.created_at >= since).then_some(*incident)),
            Some(None) => Some(None),
            None if loaded => Some(None),
            None => None,
        };
        if let Some(cached) = cached {
            return Ok(cached);
        }
        // The newest is picked here: with `ORDER BY created_at` SQLite's planner walks the
        // organisation's incidents by creation time instead of seeking the service.
        let rows = sqlx::query(
            "SELECT id, status, severity, created_at FROM incidents WHERE org_id = $1 \
             AND service = $2 AND status <> 'resolved' AND COALESCE(environment, '') = $3 \
             AND created_at >= $4",
        )
        .bind(org.to_string())
        .bind(service)
        .bind(&key.2)
        .bind(since)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let mut found = None;
        for row in rows {
            let id: IncidentId = parse_column(&text(&row, "id")?, "incident id")?;
            let state = incident_state(org, &row)?;
            if found.is_none_or(|(at, newest)| (state.created_at, id) > (at, newest)) {
                found = Some((state.created_at, id));
            }
            self.incidents.entry(id).or_insert(state);
        }
        let found = found.map(|(_, id)| id);
        self.by_service.insert(key, found);
        Ok(found)
    }

    async fn open_incident(
        &mut self,
        conn: &mut AnyConnection,
        run: &mut UnitRun<'_>,
        alert: &Alert,
    ) -> Result<IncidentId, StoreError> {
        let org = run.unit.org;
        let id = IncidentId::new();
        let now = to_millis(run.now);
        sqlx::query(
            "INSERT INTO incidents (id, org_id, title, status, severity, service, environment, \
             created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $7)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&alert.title)
        .bind(alert.severity.as_str())
        .bind(alert.service.clone())
        .bind(alert.environment.clone())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO jobs (id, org_id, kind, payload, status, attempts, run_at, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5)",
        )
        .bind(JobId::new().to_string())
        .bind(org.to_string())
        .bind(job::INVESTIGATE)
        .bind(to_json(&json!({"incident_id": id}))?)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        self.incidents.insert(
            id,
            IncidentState {
                org,
                status: IncidentStatus::Open,
                severity: alert.severity,
                created_at: now,
                touched: None,
            },
        );
        if let Some(service) = &alert.service {
            let environment = alert.environment.clone().unwrap_or_default();
            self.by_service
                .insert((org, service.clone(), environment), Some(id));
        }
        let detail = json!({"title": alert.title, "severity": alert.severity});
        self.event(run, id, EventKind::Opened, detail);
        run.outcome.new_incidents.push(id);
        Ok(id)
    }

    /// The incident's state, read once per batch.
    async fn incident(
        &mut self,
        conn: &mut AnyConnection,
        org: OrgId,
        id: IncidentId,
    ) -> Result<&IncidentState, StoreError> {
        match self.incidents.entry(id) {
            Entry::Occupied(known) => Ok(known.into_mut()),
            Entry::Vacant(unknown) => {
                let row = sqlx::query(
                    "SELECT status, severity, created_at FROM incidents \
                     WHERE org_id = $1 AND id = $2",
                )
                .bind(org.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound("incident"))?;
                Ok(unknown.insert(incident_state(org, &row)?))
            }
        }
    }

    /// An incident's severity follows its most severe alert upwards; lowering it is a person's
    /// decision.
    fn raise_severity(&mut self, run: &UnitRun<'_>, incident: IncidentId, alert: &Alert) {
        let Some(state) = self.incidents.get_mut(&incident) else {
            return;
        };
        if alert.severity > state.severity {
            let detail = json!({
                "from": state.severity,
                "to": alert.severity,
                "reason": format!("alert {}", alert.fingerprint),
            });
            state.severity = alert.severity;
            self.event(run, incident, EventKind::SeverityChanged, detail);
        }
    }

    fn event(
        &mut self,
        run: &UnitRun<'_>,
        incident: IncidentId,
        kind: EventKind,
        detail: serde_json::Value,
    ) {
        self.push_event(run, incident, Actor::Source(run.unit.source), kind, detail);
    }

    fn push_event(
        &mut self,
        run: &UnitRun<'_>,
        incident: IncidentId,
        actor: Actor,
        kind: EventKind,
        detail: serde_json::Value,
    ) {
        if let Some(state) = self.incidents.get_mut(&incident) {
            state.touched = Some(run.now);
        }
        self.events.push(EventRow {
            org: run.unit.org,
            incident,
            at: run.now,
            actor,
            kind,
            detail,
        });
    }

    /// Resolves the incidents whose last firing alert resolved in this delivery.
    async fn auto_resolve(
        &mut self,
        conn: &mut AnyConnection,
        run: &mut UnitRun<'_>,
    ) -> Result<(), StoreError> {
        let org = run.unit.org;
        self.flush_alerts(conn).await?;
        // The query below reads the alerts back.
        self.writes.run(conn).await?;
        let mut candidates = Vec::new();
        for incident in std::mem::take(&mut run.resolved_in) {
            let status = self.incident(conn, org, incident).await?.status;
            if status.is_active() {
                candidates.push((incident, status));
            }
        }
        let mut firing = BTreeSet::new();
        for chunk in candidates.chunks(VALUES_PER_LIST) {
            let mut select = self
                .writes
                .statement("SELECT DISTINCT incident_id FROM alerts WHERE org_id = ");
            select.bind(Val::Text(org.to_string()));
            select.sql(" AND status = 'firing' AND incident_id IN (");
            select.list(
                chunk
                    .iter()
                    .map(|(incident, _)| Val::Text(incident.to_string())),
            );
            select.sql(")");
            for row in select.fetch_all(conn).await? {
                firing.insert(parse_column::<IncidentId>(
                    &text(&row, "incident_id")?,
                    "incident id",
                )?);
            }
        }
        for (incident, status) in candidates {
            if firing.contains(&incident) {
                continue;
            }
            sqlx::query(
                "UPDATE incidents SET status = 'resolved', resolved_at = $1, updated_at = $1 \
                 WHERE org_id = $2 AND id = $3",
            )
            .bind(to_millis(run.now))
            .bind(org.to_string())
            .bind(incident.to_string())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            if let Some(state) = self.incidents.get_mut(&incident) {
                state.status = IncidentStatus::Resolved;
            }
            // An older open incident of the service may remain: the next lookup asks the database.
            let services_loaded = &mut self.services_loaded;
            self.by_service.retain(|(org, service, _), open| {
                let keep = *open != Some(incident);
                if !keep {
                    services_loaded.remove(&(*org, service.clone()));
                }
                keep
            });
            let detail = json!({
                "from": status,
                "to": IncidentStatus::Resolved,
                "reason": "all alerts resolved",
            });
            self.push_event(
                run,
                incident,
                Actor::System,
                EventKind::StatusChanged,
                detail,
            );
            run.outcome.resolved_incidents.push(incident);
        }
        Ok(())
    }

    /// Queues the writes of the alerts changed since the last flush.
    async fn flush_alerts(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let mut inserts = Vec::new();
        let mut repeats: BTreeMap<(OrgId, i64, u64), Vec<String>> = BTreeMap::new();
        for ((org, source, _), state) in &mut self.alerts {
            match state.write {
                Write::Clean => continue,
                Write::Insert => inserts.push(alert_row(*org, *source, state)?),
                Write::Update => {
                    let update = update_alert(self.writes.statement(""), *org, state)?;
                    self.writes.add(conn, update).await?;
                }
                Write::Repeat => repeats
                    .entry((*org, to_millis(state.last_seen), state.repeats))
                    .or_default()
                    .push(state.id.to_string()),
            }
            state.write = Write::Clean;
            state.repeats = 0;
        }
        self.writes
            .insert_rows(
                conn,
                "INSERT INTO alerts (id, org_id, source_id, fingerprint, status, severity, \
                 title, description, labels, annotations, service, environment, starts_at, \
                 ends_at, link, raw, first_seen_at, last_seen_at, repeat_count, incident_id)",
                inserts,
            )
            .await?;
        for ((org, last_seen, n), ids) in repeats {
            for chunk in ids.chunks(VALUES_PER_LIST) {
                let mut update = self
                    .writes
                    .statement("UPDATE alerts SET repeat_count = repeat_count + ");
                update.bind(Val::Int(i64::try_from(n).unwrap_or(i64::MAX)));
                update.sql(", last_seen_at = ");
                update.bind(Val::Int(last_seen));
                update.sql(" WHERE org_id = ");
                update.bind(Val::Text(org.to_string()));
                update.sql(" AND id IN (");
                update.list(chunk.iter().map(|id| Val::Text(id.clone())));
                update.sql(")");
                self.writes.add(conn, update).await?;
            }
        }
        Ok(())
    }

    /// Writes everything left: alerts, timeline events, incident changes, delivery records.
    async fn finish(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        self.flush_alerts(conn).await?;
        let events = std::mem::take(&mut self.events)
            .into_iter()
            .map(|e| {
                Ok(vec![
                    Val::Text(EventId::new().to_string()),
                    Val::Text(e.org.to_string()),
                    Val::Text(e.incident.to_string()),
                    Val::Int(to_millis(e.at)),
                    Val::Text(e.actor.to_string()),
                    Val::Text(e.kind.as_str().to_owned()),
                    Val::Text(to_json(&e.detail)?),
                ])
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.writes
            .insert_rows(
                conn,
                "INSERT INTO incident_events (id, org_id, incident_id, at, actor, kind, detail)",
                events,
            )
            .await?;
        let mut touched: BTreeMap<OrgId, Vec<(IncidentId, i64, Severity)>> = BTreeMap::new();
        for (id, state) in &self.incidents {
            if let Some(at) = state.touched {
                touched
                    .entry(state.org)
                    .or_default()
                    .push((*id, to_millis(at), state.severity));
            }
        }
        for (org, incidents) in touched {
            // Four parameters per incident, and the organisation.
            for chunk in incidents.chunks(PARAMS_PER_STATEMENT / 4) {
                let update = update_incidents(self.writes.statement(""), org, chunk);
                self.writes.add(conn, update).await?;
            }
        }
        let deliveries = std::mem::take(&mut self.deliveries)
            .into_iter()
            .map(|d| {
                let id = d
                    .outcome
                    .delivery_id
                    .ok_or_else(|| StoreError::Backend("delivery without an id".into()))?;
                Ok(vec![
                    Val::Text(id.to_string()),
                    Val::Text(d.org.to_string()),
                    Val::Text(d.source.to_string()),
                    Val::Int(to_millis(d.received_at)),
                    Val::Text("accepted".into()),
                    Val::Int(i64::try_from(d.alerts).unwrap_or(i64::MAX)),
                    Val::Text(d.body_sha256),
                    Val::Text(to_json(&d.outcome)?),
                ])
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.writes
            .insert_rows(
                conn,
                "INSERT INTO deliveries (id, org_id, source_id, received_at, outcome, \
                 alert_count, body_sha256, result)",
                deliveries,
            )
            .await?;
        self.writes.run(conn).await
    }
}

/// The stored fields of an alert that a repeat may change; `raw` is not compared (a sender may
/// vary envelope details), but it is kept up to date when something else changes.
fn comparable(alert: &Alert) -> BTreeMap<&'static str, serde_json::Value> {
    BTreeMap::from([
        ("status", json!(alert.status)),
        ("severity", json!(alert.severity)),
        ("title", json!(alert.title)),
        ("description", json!(alert.description)),
        ("labels", json!(alert.labels)),
        ("annotations", json!(alert.annotations)),
        ("service", json!(alert.service)),
        ("environment", json!(alert.environment)),
        ("starts_at", json!(to_millis(alert.starts_at))),
        ("ends_at", json!(alert.ends_at.map(to_millis))),
        ("link", json!(alert.link)),
    ])
}

fn incident_state(org: OrgId, row: &sqlx::any::AnyRow) -> Result<IncidentState, StoreError> {
    Ok(IncidentState {
        org,
        status: parse_column(&text(row, "status")?, "incident status")?,
        severity: parse_column(&text(row, "severity")?, "severity")?,
        created_at: time_ms(row, "created_at")?,
        touched: None,
    })
}

/// A time column as stored: unix milliseconds.
fn time_ms(row: &sqlx::any::AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get(col).map_err(db_error)
}

fn alert_row(org: OrgId, source: SourceId, state: &AlertState) -> Result<Vec<Val>, StoreError> {
    let a = &state.alert;
    Ok(vec![
        Val::Text(state.id.to_string()),
        Val::Text(org.to_string()),
        Val::Text(source.to_string()),
        Val::Text(a.fingerprint.as_str().to_owned()),
        Val::Text(a.status.as_str().to_owned()),
        Val::Text(a.severity.as_str().to_owned()),
        Val::Text(a.title.clone()),
        Val::Text(a.description.clone()),
        Val::Text(to_json(&a.labels)?),
        Val::Text(to_json(&a.annotations)?),
        Val::OptText(a.service.clone()),
        Val::OptText(a.environment.clone()),
        Val::Int(to_millis(a.starts_at)),
        Val::OptInt(a.ends_at.map(to_millis)),
        Val::OptText(a.link.clone()),
        Val::Text(to_json(&a.raw)?),
        Val::Int(to_millis(state.first_seen)),
        Val::Int(to_millis(state.last_seen)),
        Val::Int(i64::try_from(state.repeats).unwrap_or(i64::MAX)),
        Val::OptText(state.incident.map(|i| i.to_string())),
    ])
}

/// The update of a changed alert, written into `update`.
fn update_alert(
    mut update: Statement,
    org: OrgId,
    state: &AlertState,
) -> Result<Statement, StoreError> {
    let a = &state.alert;
    let set = [
        ("status", Val::Text(a.status.as_str().to_owned())),
        ("severity", Val::Text(a.severity.as_str().to_owned())),
        ("title", Val::Text(a.title.clone())),
        ("description", Val::Text(a.description.clone())),
        ("labels", Val::Text(to_json(&a.labels)?)),
        ("annotations", Val::Text(to_json(&a.annotations)?)),
        ("service", Val::OptText(a.service.clone())),
        ("environment", Val::OptText(a.environment.clone())),
        ("starts_at", Val::Int(to_millis(a.starts_at))),
        ("ends_at", Val::OptInt(a.ends_at.map(to_millis))),
        ("link", Val::OptText(a.link.clone())),
        ("raw", Val::Text(to_json(&a.raw)?)),
        ("last_seen_at", Val::Int(to_millis(state.last_seen))),
        (
            "incident_id",
            Val::OptText(state.incident.map(|i| i.to_string())),
        ),
    ];
    update.sql("UPDATE alerts SET ");
    for (column, value) in set {
        update.sql(column);
        update.sql(" = ");
        update.bind(value);
        update.sql(", ");
    }
    update.sql("repeat_count = repeat_count + ");
    update.bind(Val::Int(i64::try_from(state.repeats).unwrap_or(i64::MAX)));
    update.sql(" WHERE org_id = ");
    update.bind(Val::Text(org.to_string()));
    update.sql(" AND id = ");
    update.bind(Val::Text(state.id.to_string()));
    Ok(update)
}

/// Sets `updated_at` and `severity` of several incidents in one statement, written into
/// `update`.
fn update_incidents(
    mut update: Statement,
    org: OrgId,
    incidents: &[(IncidentId, i64, Severity)],
) -> Statement {
    update.sql("UPDATE incidents SET updated_at = CASE id");
    for (id, at, _) in incidents {
        update.sql(" WHEN ");
        update.bind(Val::Text(id.to_string()));
        update.sql(" THEN ");
        update.bind(Val::Int(*at));
    }
    update.sql(" END, severity = CASE id");
    for (id, _, severity) in incidents {
        update.sql(" WHEN ");
        update.bind(Val::Text(id.to_string()));
        update.sql(" THEN ");
        update.bind(Val::Text(severity.as_str().to_owned()));
    }
    update.sql(" END WHERE org_id = ");
    update.bind(Val::Text(org.to_string()));
    update.sql(" AND id IN (");
    update.list(incidents.iter().map(|(id, _, _)| Val::Text(id.to_string())));
    update.sql(")");
    update
}

/// A value bound into a statement.
enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// One statement, its parameters written in the order they are bound: `$1, $2, …` on
/// PostgreSQL, anonymous `?` on SQLite (see [`Writes`]).
struct Statement {
    sql: String,
    values: Vec<Val>,
    numbered: bool,
}

impl Statement {
    fn sql(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    fn bind(&mut self, value: Val) {
        self.values.push(value);
        if self.numbered {
            self.sql.push('$');
            self.sql.push_str(&self.values.len().to_string());
        } else {
            self.sql.push('?');
        }
    }

    /// Runs the statement, a query, and returns its rows.
    async fn fetch_all(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, StoreError> {
        query(self.sql, self.values, true)
            .fetch_all(conn)
            .await
            .map_err(db_error)
    }

    /// Binds `values` separated by commas.
    fn list(&mut self, values: impl IntoIterator<Item = Val>) {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(value);
        }
    }
}

/// The batch's writes that nothing reads back before the batch ends (or before [`Writes::run`]
/// is called). On SQLite they are held and sent to the connection as one script when run: one
/// round trip to the connection's thread instead of one per statement, and anonymous `?`
/// parameters, which SQLite binds without looking a name up (a lookup that scans the
/// statement's parameter list, costing the square of the parameter count). PostgreSQL takes one
/// statement per parameterised query: there each is run as it is added.
#[derive(Default)]
struct Writes {
    /// Holds the statements for one script (SQLite).
    script: bool,
    sql: String,
    values: Vec<Val>,
}

impl Writes {
    fn new(backend: Backend) -> Self {
        Self {
            script: backend == Backend::Sqlite,
            ..Self::default()
        }
    }

    /// A statement (a write, or a read of the batch) for this backend, starting with `head`.
    fn statement(&self, head: &str) -> Statement {
        Statement {
            sql: head.to_owned(),
            values: Vec::new(),
            numbered: !self.script,
        }
    }

    async fn add(
        &mut self,
        conn: &mut AnyConnection,
        statement: Statement,
    ) -> Result<(), StoreError> {
        if self.script {
            self.sql.push_str(&statement.sql);
            self.sql.push_str(";\n");
            self.values.extend(statement.values);
            Ok(())
        } else {
            execute(conn, query(statement.sql, statement.values, true)).await
        }
    }

    /// Adds `INSERT`s of `rows` (all of one width) into `head` (`INSERT INTO t (columns)`):
    /// multi-row `VALUES` of as many rows as [`PARAMS_PER_STATEMENT`] allows.
    async fn insert_rows(
        &mut self,
        conn: &mut AnyConnection,
        head: &str,
        rows: Vec<Vec<Val>>,
    ) -> Result<(), StoreError> {
        let Some(width) = rows.first().map(Vec::len) else {
            return Ok(());
        };
        let per_statement = (PARAMS_PER_STATEMENT / width).max(1);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = self.statement(head);
            for (i, row) in rows.by_ref().take(per_statement).enumerate() {
                insert.sql(if i == 0 { " VALUES (" } else { ", (" });
                insert.list(row);
                insert.sql(")");
            }
            self.add(conn, insert).await?;
        }
        Ok(())
    }

    /// Runs what is held.
    async fn run(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.sql.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.sql);
        let values = std::mem::take(&mut self.values);
        execute(conn, query(sql, values, false)).await
    }
}

/// `sql` with `values` bound in order; `persistent` keeps it in the connection's statement cache
/// (not worth it for a script, whose text is seldom the same twice).
fn query(sql: String, values: Vec<Val>, persistent: bool) -> AnyQuery {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(persistent);
    for value in values {
        query = match value {
            Val::Text(v) => query.bind(v),
            Val::OptText(v) => query.bind(v),
            Val::Int(v) => query.bind(v),
            Val::OptInt(v) => query.bind(v),
        };
    }
    query
}

type AnyQuery = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

async fn execute(conn: &mut AnyConnection, query: AnyQuery) -> Result<(), StoreError> {
    query.execute(conn).await.map_err(db_error)?;
    Ok(())
}
