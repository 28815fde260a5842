-- What each scope holds, kept in the same transaction as every write to storage_entries so that
-- quotas are checked atomically with the write. Filled from the existing entries once.
CREATE TABLE storage_usage (
    namespace TEXT    NOT NULL,
    owner     TEXT    NOT NULL,
    keys      INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    PRIMARY KEY (namespace, owner)
) WITHOUT ROWID;

INSERT INTO storage_usage (namespace, owner, keys, bytes)
SELECT namespace, owner, COUNT(*), SUM(LENGTH(key) + LENGTH(value))
FROM storage_entries
GROUP BY namespace, owner;
