-- An incident merged into another points at it; it is then resolved, its alerts and timeline
-- moved to the other. The alert list pages newest first through the organisation's alerts.

ALTER TABLE incidents ADD COLUMN merged_into TEXT REFERENCES incidents (id) ON DELETE SET NULL;
CREATE INDEX alerts_org_seen ON alerts (org_id, first_seen_at, id);
