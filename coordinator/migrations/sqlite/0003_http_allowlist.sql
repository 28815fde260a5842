-- Outbound HTTP (issue 11): a project's http allowlist (JSON array of entries such as
-- "api.example.com", "*.example.org:8443", "http://plain.example"; validated by the API with
-- outlayer_protocol::http). It only has an effect when the project is granted `http`.
ALTER TABLE projects ADD COLUMN http_allowlist TEXT NOT NULL DEFAULT '[]';
-- The allowlist a call was accepted with (snapshot, like `grants`): a job leased later, or leased
-- again after a lost lease, carries exactly this list, whatever the project says by then.
ALTER TABLE calls ADD COLUMN http_allowlist TEXT NOT NULL DEFAULT '[]';
