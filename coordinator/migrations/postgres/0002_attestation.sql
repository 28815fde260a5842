-- Attested workers (issue 9). Workers registered before this migration never proved anything:
-- they are removed and must register again with evidence. Their leases expire and are re-leased.
DELETE FROM workers;
ALTER TABLE workers ADD COLUMN tee TEXT NOT NULL DEFAULT 'dev';
ALTER TABLE workers ADD COLUMN attestation_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN verified TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workers ADD COLUMN challenge TEXT NOT NULL DEFAULT '{}';
-- `attestation` (from 0001) now holds the evidence JSON exactly as verified.

-- Challenges issued by POST /workers/challenge, deleted when used (single use) or expired.
CREATE TABLE worker_challenges (
    nonce       TEXT PRIMARY KEY,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- The hard end of a lease: leased time + the job's wall-time limit + grace. Heartbeats never
-- extend a lease past it.
ALTER TABLE calls ADD COLUMN lease_deadline_ms BIGINT;
