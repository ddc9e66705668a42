-- The retry check looks a delivery up by its source and body hash. With the source's
-- (org, source, received_at) index also matching, the planner scanned every delivery of the
-- source within the retry window; leading with all three equality columns makes it a seek.
DROP INDEX deliveries_body;
CREATE INDEX deliveries_body ON deliveries (org_id, source_id, body_sha256, received_at);
