-- Dashboard reads: recent calls of a project and of a payment key (newest first, keyset paging on
-- (created_ms, id)), per-owner statistics, and a call's settle line.
CREATE INDEX calls_by_project ON calls (project_id, created_ms, id);
CREATE INDEX calls_by_key ON calls (key_owner, key_nonce, created_ms, id);
CREATE INDEX ledger_call ON ledger (call_id);
