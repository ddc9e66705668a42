-- Label-based grouping rules per organisation, and the groups each incident holds under them.
-- Times are unix milliseconds (UTC); ids are UUID text; JSON is stored as text.

CREATE TABLE grouping_rules (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    -- JSON array of label names, sorted.
    labels     TEXT NOT NULL,
    window_ms  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX grouping_rules_org ON grouping_rules (org_id, created_at, id);

-- One row per incident and group it was opened or joined under: the hex SHA-256 of the rule's
-- label values (see aurora_core::grouping). The incident's creation time is copied so that the
-- lookup is a range over the rule's window.
CREATE TABLE incident_groups (
    org_id              TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    rule_id             TEXT NOT NULL REFERENCES grouping_rules (id) ON DELETE CASCADE,
    group_key           TEXT NOT NULL,
    incident_id         TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    incident_created_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, group_key, incident_id)
);
CREATE INDEX incident_groups_lookup ON incident_groups (org_id, rule_id, group_key, incident_created_at);
CREATE INDEX incident_groups_incident ON incident_groups (incident_id);
