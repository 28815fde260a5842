-- Retention (issue 13): the collector finds finished calls by settle time, workers still named by
-- a call, and ledger lines by age without scanning whole tables.
CREATE INDEX calls_finished ON calls (completed_ms) WHERE status IN ('completed', 'failed');
CREATE INDEX calls_worker ON calls (worker_id);
CREATE INDEX ledger_created ON ledger (created_ms);
