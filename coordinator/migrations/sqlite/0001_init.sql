-- OutLayer coordinator schema (SQLite). Amounts are micro-USD in BIGINT; times are unix ms.
CREATE TABLE owners (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    owner           TEXT NOT NULL REFERENCES owners(name),
    name            TEXT NOT NULL,
    active_version  TEXT,
    grants          TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE wasm_blobs (
    sha256      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    bytes       BLOB NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE versions (
    project_id   TEXT NOT NULL REFERENCES projects(id),
    wasm_sha256  TEXT NOT NULL REFERENCES wasm_blobs(sha256),
    size         BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (project_id, wasm_sha256)
);

CREATE TABLE payment_keys (
    owner             TEXT NOT NULL REFERENCES owners(name),
    nonce             BIGINT NOT NULL,
    secret_hash       TEXT NOT NULL,
    balance           BIGINT NOT NULL,
    spent             BIGINT NOT NULL DEFAULT 0,
    reserved          BIGINT NOT NULL DEFAULT 0,
    allowed_projects  TEXT NOT NULL,
    max_per_call      BIGINT,
    revoked           BIGINT NOT NULL DEFAULT 0,
    created_ms        BIGINT NOT NULL,
    PRIMARY KEY (owner, nonce),
    CHECK (spent >= 0 AND reserved >= 0 AND spent + reserved <= balance)
);

CREATE TABLE ledger (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner       TEXT NOT NULL,
    nonce       BIGINT NOT NULL,
    call_id     TEXT,
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX ledger_key ON ledger (owner, nonce, id);

CREATE TABLE calls (
    id                     TEXT PRIMARY KEY,
    request_id             TEXT NOT NULL,
    project_id             TEXT NOT NULL,
    project_owner          TEXT NOT NULL,
    project_name           TEXT NOT NULL,
    wasm_sha256            TEXT NOT NULL,
    key_owner              TEXT NOT NULL,
    key_nonce              BIGINT NOT NULL,
    input                  TEXT NOT NULL,
    max_instructions       BIGINT NOT NULL,
    max_memory_mb          BIGINT NOT NULL,
    max_execution_seconds  BIGINT NOT NULL,
    grants                 TEXT NOT NULL,
    attached_deposit       BIGINT NOT NULL,
    compute_limit          BIGINT NOT NULL,
    reserved               BIGINT NOT NULL,
    status                 TEXT NOT NULL,
    lease_id               TEXT,
    worker_id              TEXT,
    lease_expires_ms       BIGINT,
    attempts               BIGINT NOT NULL DEFAULT 0,
    created_ms             BIGINT NOT NULL,
    completed_ms           BIGINT,
    result                 TEXT
);
CREATE INDEX calls_pending ON calls (created_ms) WHERE status IN ('queued', 'leased');

CREATE TABLE workers (
    id                 TEXT PRIMARY KEY,
    public_key         TEXT NOT NULL,
    token_hash         TEXT NOT NULL UNIQUE,
    attestation        TEXT NOT NULL,
    created_ms         BIGINT NOT NULL,
    last_heartbeat_ms  BIGINT NOT NULL
);

CREATE TABLE earnings (
    owner       TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    calls       BIGINT NOT NULL,
    PRIMARY KEY (owner, project_id)
);
