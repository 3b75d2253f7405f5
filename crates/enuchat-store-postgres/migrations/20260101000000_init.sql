-- The enuchat schema for PostgreSQL. The SQLite backend keeps the same tables,
-- columns and meaning; keep the two in step.
--
-- Timestamps the store stamps itself come from the database clock
-- (clock_timestamp()), so several enuchat instances agree on one clock. There
-- are deliberately no DEFAULTs for them: every INSERT names its timestamps.

CREATE TABLE tenants (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    plan                text NOT NULL,
    operator_language   text NOT NULL,
    credit_balance      bigint NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    total_credits_added bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL
);

CREATE TABLE operators (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    -- Unique across tenants: an email is how an operator signs in. The domain
    -- lowercases it before it gets here.
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    role          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX operators_tenant_idx ON operators (tenant_id);

CREATE TABLE widgets (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    name                text NOT NULL,
    is_active           boolean NOT NULL,
    ai_enabled          boolean NOT NULL,
    translation_enabled boolean NOT NULL,
    primary_color       text NOT NULL,
    position            text NOT NULL,
    greeting            text,
    -- Not used yet; here so that adding origin checks needs no migration.
    allowed_origins     jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL
);
CREATE INDEX widgets_tenant_created_idx ON widgets (tenant_id, created_at);

CREATE TABLE visitors (
    id         text PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    widget_id  uuid NOT NULL REFERENCES widgets (id),
    name       text,
    email      text,
    language   text,
    -- Not used yet (visitor tokens).
    token_hash bytea,
    created_at timestamptz NOT NULL
);
CREATE INDEX visitors_tenant_idx ON visitors (tenant_id);

CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    widget_id        uuid NOT NULL REFERENCES widgets (id),
    visitor_id       text NOT NULL REFERENCES visitors (id),
    status           text NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    assigned_to      uuid REFERENCES operators (id),
    visitor_language text,
    -- The seq of the newest message. Bumping it under the row lock is what
    -- makes message seqs gapless and ordered (see append_message).
    last_seq         bigint NOT NULL DEFAULT 0,
    last_message_at  timestamptz NOT NULL,
    started_at       timestamptz NOT NULL
);
-- One index per list_conversations filter combination, each ending in the
-- list order, so every page is read in order from an index and never sorted.
CREATE INDEX conversations_tenant_recent_idx
    ON conversations (tenant_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_tenant_status_recent_idx
    ON conversations (tenant_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_tenant_widget_recent_idx
    ON conversations (tenant_id, widget_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_tenant_widget_status_recent_idx
    ON conversations (tenant_id, widget_id, status, last_message_at DESC, id DESC);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL,
    conversation_id     uuid NOT NULL REFERENCES conversations (id),
    seq                 bigint NOT NULL,
    role                text NOT NULL CHECK (role IN ('visitor', 'operator', 'system', 'ai')),
    content             text NOT NULL,
    content_language    text,
    translated_content  text,
    translated_language text,
    is_auto_reply       boolean NOT NULL,
    author_id           uuid,
    created_at          timestamptz NOT NULL,
    -- Also the index that serves recent_messages (newest by seq).
    UNIQUE (conversation_id, seq)
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    prefix       text NOT NULL,
    -- SHA-256 of the whole key; the unique index is the authentication look-up.
    key_hash     bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at);

CREATE TABLE credit_ledger (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    amount        bigint NOT NULL,
    balance_after bigint NOT NULL,
    reason        text NOT NULL,
    message_id    uuid,
    created_at    timestamptz NOT NULL
);
CREATE INDEX credit_ledger_tenant_recent_idx
    ON credit_ledger (tenant_id, created_at DESC, id DESC);

-- GCRA state per rate-limit bucket: the "theoretical arrival time" in
-- microseconds since the Unix epoch, on the database clock.
--
-- UNLOGGED: this is disposable state that is rewritten on nearly every API
-- request. Skipping the WAL makes those writes much cheaper; the price is that
-- the table is emptied after a crash (and not replicated), which only means
-- every key briefly gets a full bucket again.
CREATE UNLOGGED TABLE rate_limits (
    bucket  text PRIMARY KEY,
    tat_us  bigint NOT NULL,
    -- The outcome of the last decision, returned by the same statement.
    allowed boolean NOT NULL
);
