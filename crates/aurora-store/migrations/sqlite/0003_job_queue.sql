-- The job queue's leases and outcomes. A running job is leased to one worker (locked_by) until
-- locked_until; an expired lease makes it claimable again. Times are unix milliseconds.

ALTER TABLE jobs ADD COLUMN locked_by TEXT;
ALTER TABLE jobs ADD COLUMN locked_until INTEGER;
ALTER TABLE jobs ADD COLUMN last_error TEXT;
ALTER TABLE jobs ADD COLUMN finished_at INTEGER;

-- Claims look for due queued jobs (jobs_due) and for expired leases.
CREATE INDEX jobs_lease ON jobs (status, locked_until);
CREATE INDEX jobs_org_status ON jobs (org_id, status, created_at);
