-- Chat sessions, whose messages live in the step log of an investigation of their own
-- (trigger 'chat'), and the audit log of decisions people made. Times are unix milliseconds
-- (UTC); ids are UUID text; JSON is stored as text.

CREATE TABLE chat_sessions (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    investigation_id TEXT NOT NULL UNIQUE REFERENCES investigations (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    mode             TEXT NOT NULL CHECK (mode IN ('ask', 'agent')),
    incident_id      TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    created_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX chat_sessions_org_updated ON chat_sessions (org_id, updated_at, id);

-- Who decided what, and when: kept when the user or the thing decided on is deleted.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    -- e.g. approval.approved, approval.rejected.
    action     TEXT NOT NULL,
    -- e.g. approval:<id>.
    target     TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX audit_log_org_at ON audit_log (org_id, at, id);
