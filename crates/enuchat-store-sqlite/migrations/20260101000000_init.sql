-- The enuchat schema for SQLite. The PostgreSQL backend keeps the same tables,
-- columns and meaning; only the column types differ:
--   ids          16-byte BLOB (UUID) except visitors.id, a short TEXT
--   timestamps   INTEGER microseconds since the Unix epoch, UTC
--   booleans     INTEGER 0/1
-- STRICT makes SQLite refuse a value of the wrong type instead of storing it.

CREATE TABLE tenants (
    id                  BLOB    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    plan                TEXT    NOT NULL,
    operator_language   TEXT    NOT NULL,
    credit_balance      INTEGER NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    total_credits_added INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE operators (
    id            BLOB    NOT NULL PRIMARY KEY,
    tenant_id     BLOB    NOT NULL REFERENCES tenants (id),
    -- Unique across tenants: an email logs in to exactly one tenant.
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX operators_tenant ON operators (tenant_id);

CREATE TABLE widgets (
    id                  BLOB    NOT NULL PRIMARY KEY,
    tenant_id           BLOB    NOT NULL REFERENCES tenants (id),
    name                TEXT    NOT NULL,
    is_active           INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    ai_enabled          INTEGER NOT NULL CHECK (ai_enabled IN (0, 1)),
    translation_enabled INTEGER NOT NULL CHECK (translation_enabled IN (0, 1)),
    primary_color       TEXT    NOT NULL,
    position            TEXT    NOT NULL,
    greeting            TEXT,
    -- JSON array of origins allowed to embed the widget (not enforced yet).
    allowed_origins     TEXT    NOT NULL DEFAULT '[]',
    created_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX widgets_tenant_created ON widgets (tenant_id, created_at);

CREATE TABLE visitors (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  BLOB    NOT NULL REFERENCES tenants (id),
    widget_id  BLOB    NOT NULL REFERENCES widgets (id),
    name       TEXT,
    email      TEXT,
    language   TEXT,
    -- SHA-256 of the visitor's session token (not used yet).
    token_hash BLOB,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX visitors_tenant ON visitors (tenant_id);

CREATE TABLE conversations (
    id               BLOB    NOT NULL PRIMARY KEY,
    tenant_id        BLOB    NOT NULL REFERENCES tenants (id),
    widget_id        BLOB    NOT NULL REFERENCES widgets (id),
    visitor_id       TEXT    NOT NULL REFERENCES visitors (id),
    status           TEXT    NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    assigned_to      BLOB    REFERENCES operators (id),
    visitor_language TEXT,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_message_at  INTEGER NOT NULL,
    started_at       INTEGER NOT NULL
) STRICT;
-- One index per shape of list query (with or without status / widget
-- filters), each ending in the sort order so a page is read without sorting.
CREATE INDEX conversations_recent
    ON conversations (tenant_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_status_recent
    ON conversations (tenant_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_widget_recent
    ON conversations (tenant_id, widget_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_widget_status_recent
    ON conversations (tenant_id, widget_id, status, last_message_at DESC, id DESC);

CREATE TABLE messages (
    id                  BLOB    NOT NULL PRIMARY KEY,
    tenant_id           BLOB    NOT NULL,
    conversation_id     BLOB    NOT NULL REFERENCES conversations (id),
    seq                 INTEGER NOT NULL,
    role                TEXT    NOT NULL CHECK (role IN ('visitor', 'operator', 'system', 'ai')),
    content             TEXT    NOT NULL,
    content_language    TEXT,
    translated_content  TEXT,
    translated_language TEXT,
    is_auto_reply       INTEGER NOT NULL CHECK (is_auto_reply IN (0, 1)),
    author_id           BLOB,
    created_at          INTEGER NOT NULL,
    -- Also the index that reads a conversation's newest messages.
    UNIQUE (conversation_id, seq)
) STRICT;

CREATE TABLE api_keys (
    id           BLOB    NOT NULL PRIMARY KEY,
    tenant_id    BLOB    NOT NULL REFERENCES tenants (id),
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    key_hash     BLOB    NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, created_at);

CREATE TABLE credit_ledger (
    id            BLOB    NOT NULL PRIMARY KEY,
    tenant_id     BLOB    NOT NULL REFERENCES tenants (id),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    message_id    BLOB,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX credit_ledger_tenant_recent ON credit_ledger (tenant_id, created_at DESC, id DESC);

-- GCRA state: one "theoretical arrival time" per bucket, in microseconds.
CREATE TABLE rate_limits (
    bucket TEXT    NOT NULL PRIMARY KEY,
    tat_us INTEGER NOT NULL
) STRICT;
