-- One project registry (issue 12): where a project comes from. 'chain' = synced from the
-- OutLayer contract (the chain is the record: versions, active version, grants and the http
-- allowlist are the contract's; the HTTPS API refuses to change them), 'dev' = created over
-- HTTPS (off-chain only).
ALTER TABLE projects ADD COLUMN origin TEXT NOT NULL DEFAULT 'dev';
-- Where a chain version's wasm was fetched from (the contract's source_url); NULL for uploads
-- and builds.
ALTER TABLE versions ADD COLUMN source_url TEXT;
