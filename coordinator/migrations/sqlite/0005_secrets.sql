-- Sealed secrets of HTTPS projects (opaque to the coordinator: only the keystore opens them),
-- and the secrets_ref each call was accepted with.
CREATE TABLE project_secrets (
    project_id    TEXT    NOT NULL,
    profile       TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    access        TEXT    NOT NULL,
    sealed_sha256 TEXT    NOT NULL,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (project_id, profile)
);
ALTER TABLE calls ADD COLUMN secrets_ref TEXT;
