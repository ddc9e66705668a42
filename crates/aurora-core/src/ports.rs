//! Ports: the traits through which the rest of Aurora reaches the outside world. Implementations
//! live in other crates and are chosen by the binary; callers hold `Arc<dyn Port>`.
//!
//! Every method that reads or writes tenant data takes an [`OrgId`]. The only lookups without one
//! resolve a credential (a session id hash, an API token hash, a sign-in e-mail, the source id of
//! a webhook URL) into the user, source and organisation it belongs to, and the workers' side of
//! the [`JobQueue`], which serves every organisation and acts only on jobs it has claimed.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::alert::Alert;
use crate::chat::ChatStore;
use crate::error::StoreError;
use crate::grouping::{GroupingRule, NewGroupingRule};
use crate::ids::{
    ApprovalId, ConnectorId, GroupingRuleId, IncidentId, InvestigationId, JobId, OrgId, SourceId,
    TokenId, UserId,
};
use crate::incident::{
    Actor, AlertFilter, AlertPage, EventFilter, EventPage, Incident, IncidentChange,
    IncidentDetail, IncidentEvent, IncidentFilter, IncidentPage,
};
use crate::investigation::{
    Approval, AuditEntry, Connector, ConnectorCheck, Investigation, InvestigationStatus,
    LlmSettings, NewConnector, NewStep, Report, Step, UsageSummary,
};
use crate::job::{Job, JobCounts, JobDepth, JobFilter, NewJob, RetryPolicy};
use crate::knowledge::KnowledgeStore;
use crate::model::{ApiToken, Email, Org, Role, Session, User, UserCredentials};
use crate::secrets::SecretRef;
use crate::source::{
    AlertSource, DeliveryMeta, DeliveryRecord, IngestOutcome, IngestRules, NewAlertSource,
};

/// A user to create; the password is already hashed.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// An API token to record; only the hash of its value is given.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub user_id: UserId,
    pub name: String,
    pub token_hash: String,
    pub prefix: String,
    pub expires_at: Option<OffsetDateTime>,
}

/// Organisations, users, sessions and API tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the first organisation and its admin in one step. Fails with
    /// [`StoreError::Conflict`] once Aurora has been set up, so that two racing first visits
    /// cannot both become admin.
    async fn create_first_admin(
        &self,
        org_name: &str,
        user: NewUser,
    ) -> Result<(Org, User), StoreError>;

    /// Whether the first admin has been created.
    async fn is_set_up(&self) -> Result<bool, StoreError>;

    async fn create_org(&self, name: &str) -> Result<Org, StoreError>;
    async fn list_orgs(&self) -> Result<Vec<Org>, StoreError>;
    async fn get_org(&self, org: OrgId) -> Result<Org, StoreError>;

    /// Fails with [`StoreError::Conflict`] when the e-mail is taken.
    async fn create_user(&self, org: OrgId, user: NewUser) -> Result<User, StoreError>;
    async fn get_user(&self, org: OrgId, id: UserId) -> Result<User, StoreError>;
    async fn list_users(&self, org: OrgId) -> Result<Vec<User>, StoreError>;
    /// Credential lookup for sign-in.
    async fn find_credentials(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError>;

    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// Credential lookup: the unexpired session with this id hash, and its user.
    async fn find_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Session, User)>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    async fn create_api_token(
        &self,
        org: OrgId,
        token: NewApiToken,
    ) -> Result<ApiToken, StoreError>;
    /// The tokens of one user, newest first, revoked ones included.
    async fn list_api_tokens(&self, org: OrgId, user: UserId) -> Result<Vec<ApiToken>, StoreError>;
    /// Revokes one of the user's tokens; [`StoreError::NotFound`] if it is not theirs or is
    /// already revoked.
    async fn revoke_api_token(
        &self,
        org: OrgId,
        user: UserId,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<ApiToken, StoreError>;
    /// Credential lookup: the token with this hash (active or not) and its user.
    async fn find_api_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ApiToken, User)>, StoreError>;
    async fn touch_api_token(
        &self,
        org: OrgId,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Alert sources, the alerts they deliver, incidents and their timelines. New incidents feed
/// the [`JobQueue`].
#[async_trait]
pub trait SignalStore: Send + Sync {
    async fn create_source(
        &self,
        org: OrgId,
        source: NewAlertSource,
    ) -> Result<AlertSource, StoreError>;
    /// The organisation's sources, by name.
    async fn list_sources(&self, org: OrgId) -> Result<Vec<AlertSource>, StoreError>;
    async fn get_source(&self, org: OrgId, id: SourceId) -> Result<AlertSource, StoreError>;
    /// Credential lookup for the webhook path, which names only the source id.
    async fn find_source(&self, id: SourceId) -> Result<Option<AlertSource>, StoreError>;
    /// Makes `secret` the current secret; the current one becomes the previous one, accepted
    /// until `previous_expires_at`. Returns the source as it is now and the secret that is no
    /// longer referenced (the previous one before this rotation), for the caller to delete.
    async fn rotate_source_secret(
        &self,
        org: OrgId,
        id: SourceId,
        secret: SecretRef,
        previous_expires_at: OffsetDateTime,
    ) -> Result<(AlertSource, Option<SecretRef>), StoreError>;

    /// Records an authenticated delivery and its alerts in one transaction: dedup by
    /// fingerprint, grouping into incidents, timeline events, `investigate` jobs for new
    /// incidents, and auto-resolve (see [`IngestRules`]). A retry of a delivery accepted within
    /// `rules.idempotency_window` returns the earlier outcome with `replayed` set and stores
    /// nothing. [`StoreError::NotFound`] when the source is not the organisation's.
    async fn ingest(
        &self,
        org: OrgId,
        source: SourceId,
        alerts: &[Alert],
        delivery: &DeliveryMeta,
        rules: &IngestRules,
    ) -> Result<IngestOutcome, StoreError>;
    /// Records an authenticated delivery that could not be read (`error_code` says why).
    async fn record_rejected_delivery(
        &self,
        org: OrgId,
        source: SourceId,
        delivery: &DeliveryMeta,
        error_code: &str,
    ) -> Result<(), StoreError>;
    /// The source's most recent deliveries, newest first.
    async fn list_deliveries(
        &self,
        org: OrgId,
        source: SourceId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    async fn list_incidents(
        &self,
        org: OrgId,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError>;
    /// One incident with its alerts and timeline.
    async fn get_incident(&self, org: OrgId, id: IncidentId) -> Result<IncidentDetail, StoreError>;
    /// Applies `change`, writing one timeline event per field that changed, in `actor`'s name.
    /// An assignee must be a user of the organisation ([`StoreError::NotFound`] otherwise).
    async fn update_incident(
        &self,
        org: OrgId,
        id: IncidentId,
        actor: Actor,
        change: &IncidentChange,
        now: OffsetDateTime,
    ) -> Result<Incident, StoreError>;
    async fn add_comment(
        &self,
        org: OrgId,
        id: IncidentId,
        actor: Actor,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<IncidentEvent, StoreError>;

    /// The organisation's alerts, newest first (by when Aurora first saw them).
    async fn list_alerts(&self, org: OrgId, filter: &AlertFilter) -> Result<AlertPage, StoreError>;

    /// An incident's timeline, newest first; [`StoreError::NotFound`] when the incident is not
    /// the organisation's.
    async fn list_events(
        &self,
        org: OrgId,
        incident: IncidentId,
        filter: &EventFilter,
    ) -> Result<EventPage, StoreError>;

    /// Merges incident `from` into `into`, in `actor`'s name: moves its alerts and timeline,
    /// raises `into`'s severity to the higher of the two, and resolves `from` with `merged_into`
    /// set; a `merged` timeline event on both. Returns (`from`, `into`) as they are now.
    /// [`StoreError::NotFound`] when either is not the organisation's; [`StoreError::Conflict`]
    /// when they are the same incident or either was already merged.
    async fn merge_incidents(
        &self,
        org: OrgId,
        from: IncidentId,
        into: IncidentId,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<(Incident, Incident), StoreError>;

    /// Adds a label-based grouping rule; [`StoreError::Conflict`] when the organisation already
    /// has [`MAX_RULES_PER_ORG`](crate::grouping::MAX_RULES_PER_ORG) rules. Ingest evaluates
    /// the rules, oldest first, after the same-fingerprint match and before the service and
    /// environment rule.
    async fn create_grouping_rule(
        &self,
        org: OrgId,
        rule: &NewGroupingRule,
        now: OffsetDateTime,
    ) -> Result<GroupingRule, StoreError>;
    /// The organisation's grouping rules, oldest first.
    async fn list_grouping_rules(&self, org: OrgId) -> Result<Vec<GroupingRule>, StoreError>;
    /// [`StoreError::NotFound`] when the rule is not the organisation's.
    async fn delete_grouping_rule(&self, org: OrgId, id: GroupingRuleId) -> Result<(), StoreError>;
}

/// The durable job queue. Workers of any number of processes [`claim`](JobQueue::claim) due
/// jobs under a lease; the lease holder, named by its worker id and identified by the job's
/// `attempts` at claim time, records the outcome. A lease that runs out (the worker stopped or
/// lost the database) makes the job claimable again, so a job runs at least once.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, org: OrgId, job: NewJob) -> Result<Job, StoreError>;

    /// Takes the job of one of `kinds` that has waited longest (queued and due at `now`, or
    /// running with an expired lease) and leases it to `worker` until `now + lease`, counting an
    /// attempt. No two callers get the same job while its lease holds. `None` when nothing is
    /// due.
    async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        now: OffsetDateTime,
        lease: std::time::Duration,
    ) -> Result<Option<Job>, StoreError>;
    /// Extends the lease of a job `worker` holds to `until`. [`StoreError::Conflict`] when the
    /// lease was lost (it expired and another worker claimed the job).
    async fn heartbeat(
        &self,
        job: &Job,
        worker: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Marks a job `worker` holds done. [`StoreError::Conflict`] when the lease was lost.
    async fn complete(
        &self,
        job: &Job,
        worker: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Records a failed run of a job `worker` holds. With a `retry` policy that allows another
    /// attempt the job is queued again after its backoff; otherwise it is `failed`. Returns the
    /// job as it is now. [`StoreError::Conflict`] when the lease was lost.
    async fn fail(
        &self,
        job: &Job,
        worker: &str,
        error: &str,
        retry: Option<&RetryPolicy>,
        now: OffsetDateTime,
    ) -> Result<Job, StoreError>;

    /// The organisation's jobs, newest first.
    async fn list_jobs(&self, org: OrgId, filter: &JobFilter) -> Result<Vec<Job>, StoreError>;
    async fn count_jobs(&self, org: OrgId) -> Result<JobCounts, StoreError>;
    /// Queues a `failed` job of the organisation again, due now, with its attempts reset.
    /// [`StoreError::NotFound`] when it is not the organisation's, [`StoreError::Conflict`] when
    /// it is not failed.
    async fn retry_job(
        &self,
        org: OrgId,
        id: JobId,
        now: OffsetDateTime,
    ) -> Result<Job, StoreError>;
    /// Jobs per kind and status across organisations, for the queue-depth metric and for
    /// noticing kinds no worker handles.
    async fn job_depths(&self) -> Result<Vec<JobDepth>, StoreError>;
}

/// Investigations and their step logs, approvals of mutating tool calls, connectors, and the
/// organisation's LLM settings and usage.
///
/// An investigation is `queued`, then `running` (it stays so when a restarted worker resumes
/// it), then `completed`, `failed` or `cancelled`. Its steps are numbered 1, 2, 3, … without
/// gaps in the order they were appended, and their usage and cost add up to the
/// investigation's.
#[async_trait]
pub trait InvestigationStore: Send + Sync {
    /// Creates a `queued` investigation. [`StoreError::NotFound`] when the incident or the user
    /// is not the organisation's.
    async fn create_investigation(
        &self,
        org: OrgId,
        incident: Option<IncidentId>,
        trigger: &str,
        requested_by: Option<UserId>,
    ) -> Result<Investigation, StoreError>;
    /// Creates a `queued` investigation and the [`INVESTIGATE`](crate::job::INVESTIGATE) job
    /// that runs it, in one transaction. The job's payload is
    /// `{"investigation_id": "<id>", "incident_id": "<id>" | null}`.
    async fn enqueue_investigation(
        &self,
        org: OrgId,
        incident: Option<IncidentId>,
        trigger: &str,
        requested_by: Option<UserId>,
    ) -> Result<(Investigation, JobId), StoreError>;
    async fn get_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<Investigation, StoreError>;
    /// The organisation's investigations (of one incident, if given), newest first; at most
    /// `limit` (1 to 200).
    async fn list_investigations(
        &self,
        org: OrgId,
        incident: Option<IncidentId>,
        limit: u32,
    ) -> Result<Vec<Investigation>, StoreError>;
    /// The incident's newest investigation.
    async fn latest_for_incident(
        &self,
        org: OrgId,
        incident: IncidentId,
    ) -> Result<Option<Investigation>, StoreError>;

    /// Marks a `queued` investigation `running` from `now` with `model`; a `running` one stays
    /// running (a resume) and takes `model` if given. [`StoreError::Conflict`] when it is
    /// already final.
    async fn start_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
        model: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Investigation, StoreError>;
    /// Ends a `queued` or `running` investigation with a final `status`, its report and error.
    /// [`StoreError::Conflict`] when `status` is not final or the investigation already ended.
    async fn finish_investigation(
        &self,
        org: OrgId,
        id: InvestigationId,
        status: InvestigationStatus,
        report: Option<&Report>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Investigation, StoreError>;
    /// Asks a running investigation to stop at its next step; a queued one is `cancelled` at
    /// once. A final one is returned as it is.
    async fn request_cancel(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<Investigation, StoreError>;
    async fn is_cancel_requested(
        &self,
        org: OrgId,
        id: InvestigationId,
    ) -> Result<bool, StoreError>;

    /// Appends a step with the next seq and adds its usage and cost to the investigation's, in
    /// one transaction: concurrent appends get distinct, consecutive seqs.
    async fn append_step(
        &self,
        org: OrgId,
        id: InvestigationId,
        step: NewStep,
        now: OffsetDateTime,
    ) -> Result<Step, StoreError>;
    /// The investigation's steps after `after_seq` (all when `None`), in seq order.
    async fn list_steps(
        &self,
        org: OrgId,
        id: InvestigationId,
        after_seq: Option<u32>,
    ) -> Result<Vec<Step>, StoreError>;

    /// Asks for a person's approval of the tool call recorded as step `step_seq`.
    /// [`StoreError::NotFound`] when the step is not the organisation's;
    /// [`StoreError::Conflict`] when the step already has an approval.
    async fn create_approval(
        &self,
        org: OrgId,
        investigation: InvestigationId,
        step_seq: u32,
        tool: &str,
        arguments: &serde_json::Value,
    ) -> Result<Approval, StoreError>;
    async fn get_approval(&self, org: OrgId, id: ApprovalId) -> Result<Approval, StoreError>;
    /// The organisation's approvals waiting for a decision, oldest first.
    async fn list_pending_approvals(&self, org: OrgId) -> Result<Vec<Approval>, StoreError>;
    /// Records `user`'s decision on a pending approval. [`StoreError::NotFound`] when the
    /// approval or the user is not the organisation's; [`StoreError::Conflict`] when it was
    /// already decided.
    async fn decide_approval(
        &self,
        org: OrgId,
        id: ApprovalId,
        approve: bool,
        user: UserId,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Approval, StoreError>;
    /// The organisation's audit log, newest first; at most `limit` (1 to 500). Every decided
    /// approval is in it, written by [`decide_approval`](Self::decide_approval).
    async fn list_audit(&self, org: OrgId, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// The approval asked for step `step_seq` of the investigation, if any.
    async fn approval_for_step(
        &self,
        org: OrgId,
        investigation: InvestigationId,
        step_seq: u32,
    ) -> Result<Option<Approval>, StoreError>;

    /// [`StoreError::Conflict`] when the organisation has a connector of that name.
    async fn create_connector(
        &self,
        org: OrgId,
        connector: NewConnector,
    ) -> Result<Connector, StoreError>;
    /// The organisation's connectors, by name.
    async fn list_connectors(&self, org: OrgId) -> Result<Vec<Connector>, StoreError>;
    async fn get_connector(&self, org: OrgId, id: ConnectorId) -> Result<Connector, StoreError>;
    /// Records the outcome of a health check.
    async fn update_connector_check(
        &self,
        org: OrgId,
        id: ConnectorId,
        check: &ConnectorCheck,
    ) -> Result<Connector, StoreError>;
    /// Deletes the connector and returns it, so that the caller can delete its secrets.
    async fn delete_connector(&self, org: OrgId, id: ConnectorId) -> Result<Connector, StoreError>;

    /// The organisation's LLM settings, if someone saved them.
    async fn get_llm_settings(&self, org: OrgId) -> Result<Option<LlmSettings>, StoreError>;
    /// Creates or replaces the organisation's LLM settings.
    async fn put_llm_settings(&self, org: OrgId, settings: &LlmSettings) -> Result<(), StoreError>;
    /// What the investigations created at or after `since` used, together.
    async fn usage_since(
        &self,
        org: OrgId,
        since: OffsetDateTime,
    ) -> Result<UsageSummary, StoreError>;
}

/// The primary store. Later capabilities add their own sub-traits here.
#[async_trait]
pub trait Store:
    AccountStore
    + SignalStore
    + JobQueue
    + InvestigationStore
    + KnowledgeStore
    + ChatStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// The database answers and every migration this build knows is applied.
    async fn ready(&self) -> Result<(), StoreError>;
}
