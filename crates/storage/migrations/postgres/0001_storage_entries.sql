-- One row per stored key. Keys are BYTEA holding UTF-8 text so that ordering is bytewise
-- (independent of the database collation) and any UTF-8 key, NUL included, round-trips.
CREATE TABLE IF NOT EXISTS storage_entries (
    namespace TEXT COLLATE "C" NOT NULL,
    owner     TEXT COLLATE "C" NOT NULL,
    key       BYTEA   NOT NULL,
    value     BYTEA   NOT NULL,
    public    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (namespace, owner, key)
);
