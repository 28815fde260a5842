-- One row per stored key. Keys are BLOBs holding UTF-8 text so that ordering is bytewise
-- (BLOB comparison is memcmp) and any UTF-8 key, NUL included, round-trips.
CREATE TABLE IF NOT EXISTS storage_entries (
    namespace TEXT    NOT NULL,
    owner     TEXT    NOT NULL,
    key       BLOB    NOT NULL,
    value     BLOB    NOT NULL,
    public    INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    PRIMARY KEY (namespace, owner, key)
) WITHOUT ROWID;
