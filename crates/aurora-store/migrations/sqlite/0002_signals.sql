-- Alert sources, their deliveries and alerts, incidents with their timelines, and the job queue.
-- Times are unix milliseconds (UTC); ids are UUID text; JSON is stored as text.

CREATE TABLE alert_sources (
    id                         TEXT PRIMARY KEY,
    org_id                     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind                       TEXT NOT NULL,
    name                       TEXT NOT NULL,
    -- secret:// references; the values live in the secret store.
    secret_ref                 TEXT NOT NULL,
    previous_secret_ref        TEXT,
    previous_secret_expires_at INTEGER,
    options                    TEXT NOT NULL,
    created_at                 INTEGER NOT NULL,
    last_delivery_at           INTEGER
);
CREATE INDEX alert_sources_org ON alert_sources (org_id, name);

CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    source_id   TEXT NOT NULL REFERENCES alert_sources (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    error_code  TEXT,
    alert_count INTEGER NOT NULL,
    body_sha256 TEXT NOT NULL,
    -- The ingest outcome as JSON, returned again to a retry of the same delivery.
    result      TEXT
);
CREATE INDEX deliveries_source ON deliveries (org_id, source_id, received_at);
CREATE INDEX deliveries_body ON deliveries (source_id, body_sha256, received_at);

CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'investigating', 'mitigated', 'resolved')),
    severity    TEXT NOT NULL,
    service     TEXT,
    environment TEXT,
    assignee    TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE INDEX incidents_org_created ON incidents (org_id, created_at, id);
CREATE INDEX incidents_org_group ON incidents (org_id, service, environment, created_at);

CREATE TABLE alerts (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    source_id     TEXT NOT NULL REFERENCES alert_sources (id) ON DELETE CASCADE,
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    severity      TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    service       TEXT,
    environment   TEXT,
    starts_at     INTEGER NOT NULL,
    ends_at       INTEGER,
    link          TEXT,
    raw           TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    repeat_count  INTEGER NOT NULL DEFAULT 0,
    incident_id   TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    UNIQUE (org_id, source_id, fingerprint)
);
CREATE INDEX alerts_fingerprint ON alerts (org_id, fingerprint);
CREATE INDEX alerts_incident ON alerts (incident_id, status);

CREATE TABLE incident_events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    -- user:<id>, source:<id> or system
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at, id);

CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    run_at     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE INDEX jobs_org ON jobs (org_id, created_at);
