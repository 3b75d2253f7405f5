-- The dashboard's admin screens: removing an operator ends their sessions
-- (found by operator), and the API key list is read newest first with ids
-- breaking ties, straight from an index.

CREATE INDEX sessions_operator ON sessions (operator_id);

CREATE INDEX api_keys_tenant_recent ON api_keys (tenant_id, created_at DESC, id DESC);
DROP INDEX api_keys_tenant_created;
