-- A tenant's list version is now the sum of a few counters (stripes) rather
-- than one counter. With one row, every change to a tenant's lists waited
-- for the previous change's commit (its WAL flush) to take that row's lock,
-- so two appends of one tenant could never share a flush (bench/profiles/
-- README.md, session 28). A change now moves on the stripe of the
-- connection that makes it (`pg_backend_pid() % 8`, see
-- `bump_list_versions_sql!` in list_anchors.rs), and readers sum the
-- stripes (`list_version_sql!` in deep_pages.rs).
--
-- The sum serves as the version because every change adds at least one to
-- it in its own transaction, and the committed changes one snapshot sees are
-- all of those another snapshot sees or none more: the same sum in two
-- snapshots means the same changes.
--
-- The rows there are become stripe 0 with their counts, so every tenant's
-- version is unchanged by this migration.
ALTER TABLE conversation_list_versions
    ADD COLUMN stripe smallint NOT NULL DEFAULT 0;
ALTER TABLE conversation_list_versions
    DROP CONSTRAINT conversation_list_versions_pkey;
ALTER TABLE conversation_list_versions
    ADD PRIMARY KEY (tenant_id, stripe);
ALTER TABLE conversation_list_versions
    ALTER COLUMN stripe DROP DEFAULT;
