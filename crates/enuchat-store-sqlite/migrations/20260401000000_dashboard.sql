-- The operator dashboard: sign-in sessions, read markers, and the inbox's
-- "assigned to" filter.

-- Only the SHA-256 of a session id is stored; the id is the browser's cookie.
CREATE TABLE sessions (
    id_hash      BLOB    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
    tenant_id    BLOB    NOT NULL REFERENCES tenants (id),
    operator_id  BLOB    NOT NULL REFERENCES operators (id),
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
-- For pruning ended sessions.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- What each operator has read of each conversation, up to a message seq.
CREATE TABLE conversation_reads (
    operator_id     BLOB    NOT NULL REFERENCES operators (id),
    conversation_id BLOB    NOT NULL REFERENCES conversations (id),
    tenant_id       BLOB    NOT NULL,
    last_read_seq   INTEGER NOT NULL,
    PRIMARY KEY (operator_id, conversation_id)
) STRICT, WITHOUT ROWID;

-- The inbox filtered by assignee ("mine", "unassigned"), with and without a
-- status, read in list order.
CREATE INDEX conversations_assignee_recent
    ON conversations (tenant_id, assigned_to, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_status_recent
    ON conversations (tenant_id, assigned_to, status, last_message_at DESC, id DESC);
