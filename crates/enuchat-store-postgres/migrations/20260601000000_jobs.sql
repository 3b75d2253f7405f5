-- Issue 6: the durable job queue, knowledge entries, hand-off and the
-- visitor's current language. Keep in step with the SQLite schema.

-- When humans took the conversation over; the AI stays silent from then on.
ALTER TABLE conversations ADD COLUMN handed_off_at timestamptz;

-- Background work, written in the same statement as the message causing it.
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    message_id      uuid NOT NULL REFERENCES messages (id),
    kind            text NOT NULL CHECK (kind IN ('translate', 'ai_reply')),
    payload         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    run_at          timestamptz NOT NULL,
    -- Set while running: who holds the job, and until when.
    lease           uuid,
    locked_until    timestamptz,
    last_error      text,
    note            text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- A message's job of a kind can only be enqueued once.
    UNIQUE (message_id, kind)
);
-- The claim reads due jobs from these two small partial indexes (queued by
-- due time, running by lease end); done jobs, the bulk, are in neither.
CREATE INDEX jobs_queued_due_idx ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_running_lease_idx ON jobs (locked_until) WHERE status = 'running';
-- job_counts: a small index of the jobs that are not done.
CREATE INDEX jobs_open_kind_status_idx ON jobs (kind, status) WHERE status <> 'done';
-- prune_jobs.
CREATE INDEX jobs_done_updated_idx ON jobs (updated_at) WHERE status = 'done';
-- list_jobs, with and without a status.
CREATE INDEX jobs_tenant_recent_idx ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_tenant_status_recent_idx
    ON jobs (tenant_id, status, created_at DESC, id DESC);

CREATE TABLE knowledge_entries (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    widget_id  uuid NOT NULL REFERENCES widgets (id),
    question   text NOT NULL,
    answer     text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX knowledge_entries_widget_idx
    ON knowledge_entries (tenant_id, widget_id, created_at, id);
