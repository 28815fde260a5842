-- One row per applied write set (an execution's storage writes), written in the same transaction
-- as the writes: a second commit under the same id finds it and applies nothing. `record` is what
-- the committer stored with it (the coordinator: the verified result it settles).
CREATE TABLE storage_commits (
    id         TEXT PRIMARY KEY NOT NULL,
    record     BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX storage_commits_created ON storage_commits (created_ms);
