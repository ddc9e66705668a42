-- Investigations with their step logs, approvals of mutating tool calls, connectors, and each
-- organisation's LLM settings. Times are unix milliseconds (UTC); ids are UUID text; JSON is
-- stored as text; costs are US dollars; flags are 0 or 1.

CREATE TABLE investigations (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    incident_id      TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    -- incident_opened, manual or cli.
    trigger_kind     TEXT NOT NULL,
    requested_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    model            TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    error            TEXT,
    -- Totals over the steps, kept by the append that adds each step.
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL NOT NULL DEFAULT 0,
    -- The seq of the last step; an append increments it, which serialises appends.
    last_seq         INTEGER NOT NULL DEFAULT 0,
    report           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1))
);
CREATE INDEX investigations_org_created ON investigations (org_id, created_at, id);
CREATE INDEX investigations_incident ON investigations (org_id, incident_id, created_at);

CREATE TABLE investigation_steps (
    investigation_id TEXT NOT NULL REFERENCES investigations (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL CHECK (seq > 0),
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    duration_ms      INTEGER,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (investigation_id, seq)
);
CREATE INDEX investigation_steps_org ON investigation_steps (org_id, investigation_id, seq);

-- One approval per tool-call step, asked before the call runs.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    investigation_id TEXT NOT NULL,
    step_seq         INTEGER NOT NULL,
    tool             TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_at     INTEGER NOT NULL,
    decided_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    decided_at       INTEGER,
    reason           TEXT,
    UNIQUE (investigation_id, step_seq),
    FOREIGN KEY (investigation_id, step_seq)
        REFERENCES investigation_steps (investigation_id, seq) ON DELETE CASCADE
);
CREATE INDEX approvals_org_status ON approvals (org_id, status, requested_at);

CREATE TABLE connectors (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- Settings without secrets; the secrets are secret:// references (a JSON object by purpose).
    config      TEXT NOT NULL,
    secret_refs TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- The last health check as JSON: {"at", "ok", "message"}.
    last_check  TEXT,
    UNIQUE (org_id, name)
);

CREATE TABLE llm_settings (
    org_id                         TEXT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    provider                       TEXT NOT NULL,
    model                          TEXT NOT NULL,
    base_url                       TEXT,
    -- A secret:// reference; the key lives in the secret store.
    api_key_ref                    TEXT,
    max_steps                      INTEGER NOT NULL,
    max_tokens_per_investigation   INTEGER NOT NULL,
    max_cost_per_investigation_usd REAL NOT NULL,
    max_cost_per_day_usd           REAL NOT NULL,
    updated_at                     INTEGER NOT NULL
);
