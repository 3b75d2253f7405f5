-- The operator dashboard: sign-in sessions, read markers, and the inbox's
-- "assigned to" filter. Keep in step with the SQLite schema.

-- Only the SHA-256 of a session id is stored; the id is the browser's cookie.
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    operator_id  uuid NOT NULL REFERENCES operators (id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
-- For pruning ended sessions.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_last_seen_idx ON sessions (last_seen_at);

-- What each operator has read of each conversation, up to a message seq.
CREATE TABLE conversation_reads (
    operator_id     uuid NOT NULL REFERENCES operators (id),
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    tenant_id       uuid NOT NULL,
    last_read_seq   bigint NOT NULL,
    PRIMARY KEY (operator_id, conversation_id)
);

-- The inbox filtered by assignee ("mine", "unassigned"), with and without a
-- status, read in list order.
CREATE INDEX conversations_tenant_assignee_recent_idx
    ON conversations (tenant_id, assigned_to, last_message_at DESC, id DESC);
CREATE INDEX conversations_tenant_assignee_status_recent_idx
    ON conversations (tenant_id, assigned_to, status, last_message_at DESC, id DESC);
