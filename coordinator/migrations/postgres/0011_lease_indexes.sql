-- The queue, split by what a lease looks for (issue 16). `calls_pending` held every queued and
-- leased call in creation order, so a lease walked past every call still running (and, on
-- PostgreSQL, every entry of a call settled since the last vacuum) before reaching a queued one.
-- Now queued calls are found by age and expired leases by their expiry, each from its own index.
CREATE INDEX calls_queued ON calls (created_ms) WHERE status = 'queued';
CREATE INDEX calls_leased ON calls (lease_expires_ms) WHERE status = 'leased';
DROP INDEX calls_pending;
