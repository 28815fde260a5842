-- Builds from source (issue 15): a git repository at a commit, built by a builder that leases
-- the row like a worker leases a call. project_id is NULL for builds asked for by the chain path
-- (POST /builds); a successful project build adds its wasm as a version of the project.
-- Booleans are 0/1 integers so both backends share one decoding.
CREATE TABLE builds (
    id TEXT PRIMARY KEY,
    project_id TEXT,
    project_owner TEXT,
    project_name TEXT,
    git TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    path TEXT,
    build_target TEXT NOT NULL,
    force_rebuild BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    lease_expires_ms BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    wasm_sha256 TEXT,
    toolchain TEXT,
    cache_hit BIGINT NOT NULL DEFAULT 0,
    reproducible BIGINT,
    previous_sha256 TEXT,
    error_code TEXT,
    error_message TEXT,
    log TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT,
    created_ms BIGINT NOT NULL,
    finished_ms BIGINT
);
CREATE INDEX builds_queue ON builds (status, created_ms);
