-- Money has a source (issue 12). A payment key's balance grows only by a verified on-chain
-- deposit, an admin grant, or (with --dev-owners only) the owner's own dev credit.
--
-- Every credit is a `top_up` ledger line (so balance = sum of top_up lines still holds, and the
-- retention compaction keeps working) that names its source: `deposit` (source_ref = the NEAR
-- receipt id), `admin_grant` (source_ref = the admin's reason), `dev_credit`. Lines written
-- before this migration are `legacy`; a compacted summary line has none.
ALTER TABLE ledger ADD COLUMN source TEXT;
ALTER TABLE ledger ADD COLUMN source_ref TEXT;
UPDATE ledger SET source = 'legacy' WHERE kind = 'top_up';

-- Deposits seen on the `outlayer` contract (payment_key_topped_up events), one row per event:
-- (receipt_id, event_index) is unique, so a deposit seen twice (a replayed block, a restarted
-- watcher, two replicas) is inserted, and credited, once. status: credited | pending (no such
-- payment key yet: credited when the key is created) | unpriced (the contract had no payment
-- rate) | over_limit (the credit would pass the largest balance).
CREATE TABLE deposits (
    receipt_id    TEXT NOT NULL,
    event_index   BIGINT NOT NULL,
    owner         TEXT NOT NULL,
    nonce         BIGINT NOT NULL,
    amount_yocto  TEXT NOT NULL,
    rate          TEXT NOT NULL,
    micro_usd     BIGINT NOT NULL,
    payer         TEXT NOT NULL,
    block_height  BIGINT NOT NULL,
    status        TEXT NOT NULL,
    seen_ms       BIGINT NOT NULL,
    credited_ms   BIGINT,
    PRIMARY KEY (receipt_id, event_index)
);
CREATE INDEX deposits_key ON deposits (owner, nonce, status);

-- Where chain watchers are: the last block height fully processed, by watcher name.
CREATE TABLE chain_cursors (
    name    TEXT PRIMARY KEY,
    height  BIGINT NOT NULL
);

-- Owners' withdrawals of their earnings: requested by the owner (the amount leaves the available
-- earnings at once), then settled (tx_hash of the operator's payment) or rejected (the amount
-- returns) by the operator. status: pending | settled | rejected.
CREATE TABLE withdrawals (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    to_account    TEXT NOT NULL,
    status        TEXT NOT NULL,
    tx_hash       TEXT,
    note          TEXT,
    requested_ms  BIGINT NOT NULL,
    finished_ms   BIGINT,
    CHECK (amount > 0)
);
CREATE INDEX withdrawals_owner ON withdrawals (owner, requested_ms);
