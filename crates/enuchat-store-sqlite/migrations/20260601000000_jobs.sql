-- Issue 6: the durable job queue, knowledge entries, hand-off and the
-- visitor's current language. Keep in step with the PostgreSQL schema.

-- When humans took the conversation over; the AI stays silent from then on.
ALTER TABLE conversations ADD COLUMN handed_off_at INTEGER;

-- Background work, written in the same transaction as the message causing it.
CREATE TABLE jobs (
    id              BLOB    NOT NULL PRIMARY KEY,
    tenant_id       BLOB    NOT NULL REFERENCES tenants (id),
    conversation_id BLOB    NOT NULL REFERENCES conversations (id),
    message_id      BLOB    NOT NULL REFERENCES messages (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('translate', 'ai_reply')),
    -- A JSON document.
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    run_at          INTEGER NOT NULL,
    -- Set while running: who holds the job, and until when.
    lease           BLOB,
    locked_until    INTEGER,
    last_error      TEXT,
    note            TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- A message's job of a kind can only be enqueued once.
    UNIQUE (message_id, kind)
) STRICT;
-- The claim reads due jobs from these two small partial indexes (queued by
-- due time, running by lease end); done jobs, the bulk, are in neither.
CREATE INDEX jobs_queued_due ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_running_lease ON jobs (locked_until) WHERE status = 'running';
-- job_counts: a covering index of the jobs that are not done.
CREATE INDEX jobs_open_kind_status ON jobs (kind, status) WHERE status <> 'done';
-- prune_jobs.
CREATE INDEX jobs_done_updated ON jobs (updated_at) WHERE status = 'done';
-- list_jobs, with and without a status.
CREATE INDEX jobs_tenant_recent ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_tenant_status_recent ON jobs (tenant_id, status, created_at DESC, id DESC);

CREATE TABLE knowledge_entries (
    id         BLOB    NOT NULL PRIMARY KEY,
    tenant_id  BLOB    NOT NULL REFERENCES tenants (id),
    widget_id  BLOB    NOT NULL REFERENCES widgets (id),
    question   TEXT    NOT NULL,
    answer     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX knowledge_entries_widget ON knowledge_entries (tenant_id, widget_id, created_at, id);
