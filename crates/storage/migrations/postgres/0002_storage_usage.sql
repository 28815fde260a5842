-- What each scope holds, kept in the same transaction as every write to storage_entries so that
-- quotas are checked atomically with the write. Every writer locks its scope's row first, so
-- writers of one scope take turns. Filled from the existing entries once.
CREATE TABLE storage_usage (
    namespace TEXT COLLATE "C" NOT NULL,
    owner     TEXT COLLATE "C" NOT NULL,
    keys      BIGINT NOT NULL,
    bytes     BIGINT NOT NULL,
    PRIMARY KEY (namespace, owner)
);

INSERT INTO storage_usage (namespace, owner, keys, bytes)
SELECT namespace, owner, COUNT(*), SUM(octet_length(key) + octet_length(value))
FROM storage_entries
GROUP BY namespace, owner;
